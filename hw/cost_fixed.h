/* hw/cost_fixed.h: a cost model that ignores the hardware.
 *
 * "fixed" prices every non-empty iteration at iteration_us plus
 * per_token_us for each token row it runs (prefill tokens + decodes +
 * the CUDA-graph padding of sim/batch.h, so that sched.py's padding rule
 * is checked against the scheduler's too).
 * It exists to test scheduling apart from pricing: a trace replayed with
 * it through llmsim and through hw/calib/reference/sched.py must give the
 * same times to the nanosecond (issue 8).  Both keys default to 0; an
 * iteration that prices at 0 ns is allowed but makes times degenerate. */
#ifndef LLM_COST_FIXED_H
#define LLM_COST_FIXED_H

#include "hw/cost.h"

extern const struct cost_ops cost_fixed;

#endif
