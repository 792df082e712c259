/* tests/fuzz/fuzz_trace_mooncake.c: the Mooncake JSONL reader (block hashes)
 * (tests/fuzz/trace_body.h). */
#define FZ_FILE "t.jsonl"
#define FZ_WORKLOAD \
    "{\"type\": \"mooncake\", \"path\": \"%s\"}"
#include "tests/fuzz/trace_body.h"
