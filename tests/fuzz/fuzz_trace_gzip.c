/* tests/fuzz/fuzz_trace_gzip.c: gzip input (any bytes, read through
 * zlib as the Azure reader; tests/fuzz/trace_body.h). */
#define FZ_FILE "t.csv.gz"
#define FZ_WORKLOAD \
    "{\"type\": \"azure\", \"path\": \"%s\"}"
#include "tests/fuzz/trace_body.h"
