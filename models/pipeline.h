/* models/pipeline.h: the iteration time of a pipelined replica.
 *
 * A replica of pp stages runs a batch cut into M micro-batches (GPipe
 * schedule: every micro-batch goes through stage 0, then 1, ...; a stage
 * starts micro-batch j as soon as it finished j - 1 and stage s - 1
 * finished j).  With tau_s the time of one micro-batch on stage s
 * (its ops_build list priced with shard.stage = s, the pp_send included):
 *
 *     T = sum_s tau_s + (M - 1) x max_s tau_s
 *
 * The first micro-batch fills the pipeline (sum), the other M - 1 leave at
 * the pace of the slowest stage.  For P equal stages T = (M + P - 1) tau,
 * the bubble (idle share of each GPU) is (P - 1) / (M + P - 1) (Huang et
 * al., "GPipe", NeurIPS 2019, section 2.2).  M = 1 is the latency of one
 * batch, what pricing an OPS_ALL_STAGES list gives.  vLLM keeps pp
 * batches in flight (one per virtual engine), so in steady state a
 * replica finishes one batch per max_s tau_s while each batch still takes
 * the sum: a simulator that models that overlap should charge each
 * iteration pipeline_iteration_ns(stages, pp, 1) of latency but start the
 * next one after pipeline_period_ns.  Pure functions. */
#ifndef LLM_PIPELINE_H
#define LLM_PIPELINE_H

#include <stdint.h>

/* T above, in ns; stage_ns[pp] are per-micro-batch stage times, M >= 1
 * (smaller M counts as 1). */
int64_t pipeline_iteration_ns(const int64_t *stage_ns, int32_t pp,
                              int32_t micro_batches);

/* max_s tau_s: the interval between batches leaving a full pipeline. */
int64_t pipeline_period_ns(const int64_t *stage_ns, int32_t pp);

/* The bubble fraction of T: 1 - M x mean_s tau_s / T (0 when pp == 1
 * and the stages are equal). */
double pipeline_bubble(const int64_t *stage_ns, int32_t pp,
                       int32_t micro_batches);

#endif
