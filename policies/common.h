/* policies/common.h: what the batch schedulers and routers share.
 *
 * Parameter readers for keys several schedulers take (documented once in
 * docs/config.md), eviction by recomputation or by swapping, the passes
 * over the running set (decodes, continued prefill chunks) with eviction
 * when the KV pool runs out, swap-in, admission of waiting requests in an
 * order the caller picks, KV reservation for a request's whole length,
 * and the load figures routers compare.  Stateless: every function works
 * on the replica (or parameters) it is given.  Not thread-safe. */
#ifndef LLM_POL_COMMON_H
#define LLM_POL_COMMON_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "base/diag.h"
#include "sim/replica_view.h"

/* max_num_seqs, max_num_batched_tokens, watermark. */
struct pol_limits {
    int64_t max_seqs;
    int64_t max_tokens;        /* 0: max(max_model_len, 2048), vLLM V0's */
    double watermark;          /* fraction of KV blocks kept free when
                                  admitting or swapping in */
};

/* Reads the three keys where present; the caller sets the defaults and
 * lists the keys it accepts (jcfg_known). */
int pol_read_limits(const cJSON *p, const char *path, struct pol_limits *l,
                    struct llm_diag *d);
int64_t pol_token_budget(const struct pol_limits *l, const struct replica *r);
/* sched_ops.limits for a scheduler whose budgets are l (max_tokens 0:
 * max(max_model_len, 2048), as pol_token_budget). */
void pol_report_limits(const struct pol_limits *l, int32_t max_model_len,
                       int64_t *tokens, int64_t *seqs);
int64_t pol_watermark_blocks(const struct pol_limits *l,
                             const struct replica *r);

/* vLLM V1's defaults for the OpenAI API server (vllm/engine/arg_utils.py
 * EngineArgs._set_default_args): max_num_batched_tokens 8192 on a GPU of
 * at least 70 GiB whose name lacks "a100", else 2048; max_num_seqs 1024
 * or 256, at most max_tokens.  A NULL name counts as not an A100. */
int64_t pol_v1_default_tokens(double dev_mem_bytes, const char *dev_name);
int64_t pol_v1_default_seqs(double dev_mem_bytes, const char *dev_name,
                            int64_t max_tokens);

/* How the engine launches each iteration (vLLM V1's CUDA graphs, issue
 * 20): "cudagraph_mode" ("full_and_piecewise", "piecewise",
 * "full_decode_only", "none"), "cudagraph_capture_sizes" (an array of
 * token counts; default vLLM's, from the limits) and "async_scheduling"
 * (sim/replica_view.h async_lag).  Rules and sources: policies/sched_vllm.c. */
enum pol_graph_mode { POL_GRAPHS_FULL_AND_PIECEWISE, POL_GRAPHS_PIECEWISE,
                      POL_GRAPHS_FULL_DECODE_ONLY, POL_GRAPHS_NONE };
#define POL_MAX_CAPTURE_SIZES 128
struct pol_graphs {
    bool on;                   /* pol_launch sets a graph mode (else the
                                  batch's stays BATCH_GRAPH_UNSET) */
    int mode;                  /* enum pol_graph_mode */
    bool async;
    bool sizes_set;            /* cudagraph_capture_sizes given */
    int32_t n_sizes;
    int32_t sizes[POL_MAX_CAPTURE_SIZES];   /* ascending after attach */
};
/* Reads the three keys where present (the caller sets the defaults and
 * lists them in its jcfg_known keys); either graph key turns `on`. */
int pol_read_graphs(const cJSON *p, const char *path, struct pol_graphs *g,
                    struct llm_diag *d);
/* Settles the capture sizes once the limits are final: vLLM's default
 * list, or the given one sorted, de-duplicated and cut at the token
 * budget; an error naming PATH.cudagraph_capture_sizes when none is left
 * and graphs are on. */
int pol_attach_graphs(struct pol_graphs *g, const struct pol_limits *l,
                      const char *path, struct llm_diag *d);
/* Sets the planned iteration's padding and graph mode (replica_set_graph)
 * from its tokens, as vLLM's CudagraphDispatcher.dispatch does. */
void pol_launch(const struct pol_graphs *g, const struct pol_limits *l,
                struct replica *r);

/* How a running request is evicted when the KV pool runs out. */
struct pol_evict {
    bool swap;                 /* "preemption": "swap"; else "recompute" */
    double swap_space_gib;     /* host memory for swapped KV, per GPU */
    int32_t group_blocks;      /* blocks per host-link copy */
    bool sync;                 /* swaps delay the iteration (vLLM) */
    int64_t host_cap_blocks;   /* set by pol_attach_evict */
};

/* Reads preemption, swap_space_gib, swap_group_blocks and swap_overlap
 * where present (defaults: recompute, 4 GiB as vLLM's --swap-space, 1
 * block per copy as vLLM's swap_blocks, synchronous). */
int pol_read_evict(const cJSON *p, const char *path, struct pol_evict *e,
                   struct llm_diag *d);
/* Sizes the host space in blocks; a swapping scheduler on a replica with
 * no host link is an error naming PATH.preemption. */
int pol_attach_evict(struct pol_evict *e, const struct replica *r,
                     const char *path, struct llm_diag *d);
/* Swaps v out when e says swap and the host has room for it, else
 * recomputes it (replica_preempt). */
int pol_evict(struct replica *r, struct request *v, const struct pol_evict *e);

/* Picks the request to evict so that q can grow (may be q itself; NULL:
 * none). */
typedef struct request *pol_victim_fn(void *ctx, struct replica *r,
                                      const struct request *q);
/* vLLM's choice: the newest running request. */
struct request *pol_victim_newest(void *ctx, struct replica *r,
                                  const struct request *q);

/* One iteration's planning state. */
struct pol_pass {
    int64_t now_ns;
    int64_t budget;            /* token budget; INT64_MAX: none */
    pol_victim_fn *victim;     /* NULL: pol_victim_newest */
    void *victim_ctx;
    const struct pol_evict *evict;  /* NULL: recompute */
    int32_t evictions;         /* during this pass */
    int32_t layer_groups;      /* > 0: pol_admit plans layer group 0 of
                                  this many (layered prefill) */
};

static inline int64_t pol_tokens_left(const struct pol_pass *p,
                                      const struct replica *r)
{
    return p->budget - replica_plan_tokens(r);
}

/* Grows q to hold `tokens` tokens, evicting victims until it fits.
 * *self: q itself was evicted (then nothing more is done for it). */
int pol_make_room(struct replica *r, struct pol_pass *p, struct request *q,
                  int64_t tokens, bool *self);

enum { POL_DECODES = 1, POL_PREFILLS = 2 };
/* One pass over the running set, oldest first, planning what `kinds`
 * selects: a decode for a request whose prompt is done, the next chunk
 * (at most the tokens left) for one whose prompt is not.  Requests
 * already planned, or not ready (an overlapped swap-in), are skipped;
 * the pass stops when the budget is spent. */
int pol_plan_running(struct replica *r, struct pol_pass *p, int kinds);

/* vLLM's swap-in: from the front of the swapped queue while the blocks
 * for the request's next token fit above the watermark and the running
 * set stays within max_seqs; each swapped-in request decodes this
 * iteration when its transfer is synchronous. */
int pol_swap_in(struct replica *r, struct pol_pass *p,
                const struct pol_limits *l);

/* The next waiting request to consider (not removed from the queue);
 * NULL: none. */
typedef struct request *pol_pick_fn(void *ctx, struct replica *r);
/* The waiting queue's front. */
struct request *pol_pick_fifo(void *ctx, struct replica *r);
/* The waiting request with the least sched_key, earliest on ties. */
struct request *pol_pick_min_key(void *ctx, struct replica *r);

/* Refuses q (a waiting request, picked but not removed) if it could never
 * be served: its whole sequence needs more blocks than the pool has above
 * the watermark, or (whole_prompt) its prompt exceeds the token budget.
 * *gone: it was refused. */
int pol_reject_never(struct replica *r, struct request *q, int64_t budget,
                     int64_t watermark_blocks, bool whole_prompt,
                     bool *gone);

/* Admits waiting requests in pick order, each with a first chunk of at
 * most the tokens left (whole prompts only, when chunk is false), while
 * the chunk's KV fits above the watermark and the running set (with the
 * requests async scheduling holds, replica.n_holding) stays within
 * max_seqs; stops at the first that does not fit (no skipping), or that
 * arrived after replica.admit_cutoff_ns. */
int pol_admit(struct replica *r, struct pol_pass *p,
              const struct pol_limits *l, pol_pick_fn *pick, void *ctx,
              bool chunk);

/* KV reserved at admission for a request's whole length (Orca, static
 * batching): "max" max_model_len tokens, "oracle" prompt + output,
 * "pow2" prompt + the output rounded up to a power of two (the vLLM
 * paper's three Orca variants). */
enum pol_reserve { POL_RESERVE_MAX, POL_RESERVE_ORACLE, POL_RESERVE_POW2 };
int pol_read_reserve(const cJSON *p, const char *path, enum pol_reserve *out,
                     struct llm_diag *d);
int64_t pol_reserve_tokens(enum pol_reserve how, const struct replica *r,
                           const struct request *q);

/* Load of a replica for routers: "requests" in it (waiting, running and
 * swapped), "tokens" of work left (replica.load_tokens), or "kv": the
 * fraction of its KV pool used plus what its waiting prompts need. */
enum pol_load { POL_LOAD_REQUESTS, POL_LOAD_TOKENS, POL_LOAD_KV };
int pol_read_load(const cJSON *p, const char *path, const char *key,
                  enum pol_load *out, struct llm_diag *d);
double pol_load(enum pol_load how, const struct replica *r);
/* The index of the least loaded replica (lowest index on ties). */
int32_t pol_least_loaded(enum pol_load how, const struct replica *const *reps,
                         int32_t n);

/* Reads a string key that must be one of names[] (NULL-terminated);
 * *out is its index, unchanged when the key is absent. */
int pol_read_enum(const cJSON *p, const char *path, const char *key,
                  const char *const *names, int *out, struct llm_diag *d);

#endif
