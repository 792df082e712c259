/* tests/fuzz/fuzz_trace_azure2023.c: the Azure 2023 reader (naive times, CRLF)
 * (tests/fuzz/trace_body.h). */
#define FZ_FILE "t.csv"
#define FZ_WORKLOAD \
    "{\"type\": \"azure\", \"path\": \"%s\"}"
#include "tests/fuzz/trace_body.h"
