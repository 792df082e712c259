/* tests/fuzz/fuzz_trace_jsonl.c: the generic JSONL reader
 * (tests/fuzz/trace_body.h). */
#define FZ_FILE "t.jsonl"
#define FZ_WORKLOAD \
    "{\"type\": \"generic\", \"path\": \"%s\", " \
    "\"time_unit\": \"ms\", " \
    "\"columns\": {\"arrival\": \"t\", \"prompt\": \"in\", " \
    "\"output\": \"out\"}}"
#include "tests/fuzz/trace_body.h"
