#include "base/dtype.h"

#include <string.h>

static const struct {
    const char *name;
    double bytes;
} dtypes[DT_COUNT] = {
    [DT_FP32] = { "fp32", 4 },   [DT_TF32] = { "tf32", 4 },
    [DT_BF16] = { "bf16", 2 },   [DT_FP16] = { "fp16", 2 },
    [DT_FP8] = { "fp8", 1 },     [DT_INT8] = { "int8", 1 },
    [DT_INT4] = { "int4", 0.5 }, [DT_INT2] = { "int2", 0.25 },
};

double dtype_bytes(enum dtype t) { return dtypes[t].bytes; }
const char *dtype_name(enum dtype t) { return dtypes[t].name; }

bool dtype_parse(const char *name, enum dtype *out)
{
    int i;

    for (i = 0; i < DT_COUNT; i++) {
        if (strcmp(name, dtypes[i].name) == 0) {
            *out = (enum dtype)i;
            return true;
        }
    }
    return false;
}
