/* hw/cost_fit.h: a serving engine's own fitted latency model (issue 21).
 *
 * "fit" prices an iteration from per-tensor-parallel-degree coefficients
 * that an engine's authors fitted to their measured iterations, as
 * DistServe's simulator does (github.com/LLMServe/DistServe,
 * simdistserve/estimators/time_estimator.py), in milliseconds:
 *
 *   prefill  a + b x sum(chunk tokens) + c x sum(chunk tokens^2)
 *   decode   a + b x sum(context + 1) + c x sequences, with the
 *            "decode_small" coefficients below "large_batch" sequences
 *            and "decode_large" from there on
 *   overhead o0 + o1 x the batch's context tokens (the simulator's
 *            per-iteration Ray overhead), added to either
 *
 * A batch with prefill chunks and decodes (which neither DistServe nor
 * vLLM V0 runs) costs the prefill formula plus the decode formula
 * without its intercept, an extension of the fitted model.  Prior
 * context of a chunk is not in the fitted model and is ignored.
 *
 * Keys of the cost_model object: "fits" (required): {"<tp>": {"prefill":
 * [a, b, c], "decode_small": [a, b, c], "decode_large": [a, b, c],
 * "large_batch": n}, ...}; "overhead_ms" ([o0, o1], default [0, 0]);
 * "source" (a string, the coefficients' provenance).  A shard whose tp has
 * no entry is an error naming "fits"; pipeline parallelism is refused.
 * The whole price is the breakdown's fixed part. */
#ifndef LLM_COST_FIT_H
#define LLM_COST_FIT_H

#include "hw/cost.h"

extern const struct cost_ops cost_fit;

#endif
