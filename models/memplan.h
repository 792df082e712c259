/* models/memplan.h: the memory plan of one GPU of a replica.
 *
 * What vLLM does at start-up (vllm/v1/worker/gpu_worker.py
 * determine_available_memory), per GPU:
 *
 *   KV bytes = total x gpu_memory_utilization
 *              - weights - peak activations - non-torch memory
 *              [- CUDA graph memory, from vLLM 0.21 on]
 *   KV blocks = floor(KV bytes / block bytes), the minimum over workers
 *
 * weights: this GPU's shard (memplan_stage_weights); the embedding and LM
 * head are vocabulary-parallel, linear layers in the weight dtype with
 * their scales, embedding / LM head / norms / router in bf16, MoE experts
 * TP-sliced or (ep > 1) whole.  Peak activations: the larger of the
 * profiling forward over max_num_batched_tokens tokens and, on the last
 * stage, the sampler's warm-up over max_num_seqs rows of full-vocabulary
 * fp32 logits; both are closed forms scaled by factors fitted to vLLM
 * 0.19's own figures (memplan.c and models/README.md cite them).
 * Non-torch memory (NCCL and custom all-reduce buffers, cuBLAS
 * workspaces): 0.25 GiB at tp 1, 2.1 GiB at tp >= 2 unless the caller
 * gives one.  Each pipeline stage is planned separately and the smallest
 * KV capacity wins, as vLLM takes the minimum over workers.  Pure
 * functions of their inputs; no allocation. */
#ifndef LLM_MEMPLAN_H
#define LLM_MEMPLAN_H

#include <stdint.h>

#include "models/model.h"
#include "models/ops.h"
#include "base/diag.h"

struct mem_limits {
    double total_bytes;          /* device memory as the engine sees it */
    double util;                 /* gpu_memory_utilization */
    int64_t token_budget;        /* max_num_batched_tokens */
    int64_t max_seqs;            /* max_num_seqs */
    int32_t block_tokens;        /* tokens per KV block */
    double reserve_bytes;        /* non-torch memory; < 0: the default */
    double cuda_graph_bytes;     /* subtracted as well (vLLM >= 0.21) */
    /* Share of the weight bytes not held in GPU memory
     * (hardware.weight_offload, hw/woffload.h); 0: all resident. */
    double weight_off_share;
};

/* One GPU's weights by part, bytes. */
struct mem_weights {
    double embed, attn, mlp, experts, norms, lm_head;
};

struct mem_plan {
    double gpu_bytes;            /* usable: memory x utilization */
    double weight_bytes;         /* per GPU held in its memory (the
                                  * limiting stage's); w stays whole */
    double activation_bytes;     /* peak activations of the profiling run */
    double reserve_bytes;        /* non-torch: NCCL, workspaces */
    double cuda_graph_bytes;     /* as given in mem_limits */
    double kv_bytes;             /* what is left for the KV cache */
    double block_bytes;          /* one block, all of the stage's layers */
    int64_t kv_blocks;           /* per replica: the minimum over stages */
    int64_t kv_tokens;           /* kv_blocks x block tokens */
    int32_t stage;               /* the stage with the fewest blocks */
    struct mem_weights w;        /* its weights by part */
};

/* Non-torch memory vLLM 0.19 reports on H100 (see memplan.c). */
double memplan_default_reserve(const struct shard *s);

/* Weights of one GPU of stage `stage` (0-based; pp from s). */
void memplan_stage_weights(const struct model *m, const struct shard *s,
                           int32_t stage, struct mem_weights *w);
double memplan_weights_total(const struct mem_weights *w);

/* Peak activation bytes of one GPU of stage `stage`. */
double memplan_activation_bytes(const struct model *m,
                                const struct shard *s, int32_t stage,
                                const struct mem_limits *lim);

/* KV-cache bytes of one token on one GPU of a stage of `layers` layers. */
double memplan_kv_bytes_per_token(const struct model *m,
                                  const struct shard *s, int32_t layers);

/* Fills p; p->kv_blocks <= 0 means the model does not fit. */
void memplan_build(const struct model *m, const struct shard *s,
                   const struct mem_limits *lim, struct mem_plan *p);

/* memplan_build, then LLM_ERANGE when nothing is left for the KV cache
 * ("hardware: ... does not fit on DEV ...: ... exceed ... by X GiB;
 * smallest that fits: tp N") or when one sequence of max_model_len tokens
 * does not fit ("model.max_model_len: ...", as vLLM refuses to start).
 * max_model_len 0 skips that check; dev_id names the device. */
int memplan_check(const struct model *m, const struct shard *s,
                  const struct mem_limits *lim, int64_t max_model_len,
                  const char *dev_id, struct mem_plan *p,
                  struct llm_diag *d);

#endif
