/* cli/step.h: `llmsim step`: price batches from stdin with the cost model.
 *
 * Input: one JSON object per line, {"prefill": [[tokens, prior], ...],
 * "decode": [[count, context], ...]} (either key may be absent; a decode
 * entry is count sequences each attending over context cached tokens plus
 * its new one; "decode_ctx": [c1, c2, ...] lists single sequences;
 * "pad": token rows of CUDA-graph padding, run by the dense kernels only,
 * and "graph": "full", "piecewise" or "none", how the engine launches the
 * batch (sim/batch.h), both optional).  Output: one JSON line per input line with "ms" and the breakdown.  A bad
 * line gets one message on stderr naming the line number, and processing
 * continues; the exit status is then 2. */
#ifndef LLM_STEP_H
#define LLM_STEP_H

#include <cjson/cJSON.h>

#include "sim/batch.h"
#include "base/diag.h"

/* Parses one batch object into b (cleared first). */
int step_parse_batch(const cJSON *o, struct batch *b, struct llm_diag *d);

int cmd_step(int argc, char **argv);

#endif
