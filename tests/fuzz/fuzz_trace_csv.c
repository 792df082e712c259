/* tests/fuzz/fuzz_trace_csv.c: the generic CSV reader
 * (tests/fuzz/trace_body.h). */
#define FZ_FILE "t.csv"
#define FZ_WORKLOAD \
    "{\"type\": \"generic\", \"path\": \"%s\", " \
    "\"columns\": {\"arrival\": \"t\", \"prompt\": \"in\", " \
    "\"output\": \"out\", \"tenant\": \"who\"}}"
#include "tests/fuzz/trace_body.h"
