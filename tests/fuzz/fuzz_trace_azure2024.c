/* tests/fuzz/fuzz_trace_azure2024.c: the Azure 2024 reader (+00:00 times)
 * (tests/fuzz/trace_body.h). */
#define FZ_FILE "t.csv"
#define FZ_WORKLOAD \
    "{\"type\": \"azure\", \"path\": \"%s\"}"
#include "tests/fuzz/trace_body.h"
