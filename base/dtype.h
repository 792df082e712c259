/* base/dtype.h: numeric data types of weights, activations and KV cache. */
#ifndef LLM_DTYPE_H
#define LLM_DTYPE_H

#include <stdbool.h>

enum dtype { DT_FP32, DT_TF32, DT_BF16, DT_FP16, DT_FP8, DT_INT8, DT_INT4,
             DT_INT2, DT_COUNT };

/* Storage bytes per element (0.5 for int4, 0.25 for 2-bit). */
double dtype_bytes(enum dtype t);
const char *dtype_name(enum dtype t);
/* false when name is not a known dtype */
bool dtype_parse(const char *name, enum dtype *out);

#endif
