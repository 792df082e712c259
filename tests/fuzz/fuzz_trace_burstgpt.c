/* tests/fuzz/fuzz_trace_burstgpt.c: the BurstGPT reader
 * (tests/fuzz/trace_body.h). */
#define FZ_FILE "t.csv"
#define FZ_WORKLOAD \
    "{\"type\": \"burstgpt\", \"path\": \"%s\"}"
#include "tests/fuzz/trace_body.h"
