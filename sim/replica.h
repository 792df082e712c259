/* sim/replica.h: one serving replica (one or more GPUs, one engine), as
 * the simulator builds and drives it.
 *
 * Policies see a replica through sim/replica_view.h (struct replica: the
 * fields they may read, and the calls a scheduler makes); this header is
 * the rest, for sim/ and the run layer: how a replica is configured and
 * built, its own bookkeeping (struct replica_core, whose first member is
 * the view), and the calls the simulator makes.  One iteration is:
 * replica_begin (the scheduler fills the plan, the cost function prices
 * the batch) ... the caller waits the returned duration ... replica_end
 * (tokens are produced at the iteration's end, finished requests are
 * handed to the caller and leave the replica).  The replica owns its
 * arrays and plug-in states, not the requests (the run does).  Not
 * thread-safe. */
#ifndef LLM_REPLICA_H
#define LLM_REPLICA_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "base/diag.h"
#include "sim/batch.h"
#include "sim/kv.h"
#include "base/plugin.h"
#include "sim/record.h"
#include "sim/replica_view.h"
#include "sim/request.h"
#include "sim/spec.h"

typedef int replica_done_fn(void *ctx, struct request *req);

/* Prices a batch; the replica's only view of the hardware. */
typedef int replica_cost_fn(void *ctx, const struct batch *b, int64_t *ns);

/* Disaggregation (sim/cluster.h): which phases a replica runs. */
enum replica_role {
    REPLICA_BOTH = 0,          /* colocated: prefill and decode */
    REPLICA_PREFILL,           /* hands each request off after its prefill */
    REPLICA_DECODE             /* takes requests whose KV has landed */
};

struct replica_shared;         /* sim/replica.c */

struct replica_config {
    int32_t index;
    int64_t kv_capacity_blocks;
    int32_t block_tokens;
    int32_t max_model_len;     /* prompt + output limit, as vLLM's */
    const struct sched_ops *sched;
    const cJSON *sched_params; /* may be NULL */
    const char *sched_path;    /* key path for messages, "scheduler" */
    const struct kv_ops *kv;
    const cJSON *kv_params;
    const char *kv_path;
    replica_cost_fn *cost;
    void *cost_ctx;
    /* Fast-forward (config "fast_forward"): the most steady decode
     * iterations one event may cover, priced at their first and last and
     * linear between (docs/architecture.md); <= 1: every iteration its
     * own event, priced exactly. */
    int32_t fast_forward;
    /* Fill batch.shared before pricing (cost_model shared_prefix_attention;
     * off, the per-iteration walk of every decode's shared blocks is
     * skipped). */
    bool shared_prefix;
    /* KV swapping over the device's host link; 0 bandwidth: no link,
     * replica_swap_* refuse.  Sizes are per GPU (each GPU of a tensor-
     * parallel replica moves its own shard over its own link). */
    double kv_block_bytes;     /* one block, all layers */
    int32_t kv_block_segments; /* separate copies per block (0: 1); vLLM's
                                  per-layer K and V tensors: 2 x layers */
    double host_bw_bytes_s;
    int64_t host_latency_ns;   /* per copy */
    /* Catalog links by id for a KV manager's lower tiers (sim/kv.h
     * kv_env.find_link); NULL: none. */
    kv_find_link_fn *find_link;
    void *find_link_ctx;
    double weight;             /* routing weight (0: 1); e.g. from the
                                  device's speed, for weighted routers */
    enum replica_role role;    /* 0: colocated */
    /* The device of one GPU, for schedulers whose defaults depend on it
     * (sched_ops.set_device); 0 / NULL: none.  dev_name is borrowed for
     * the replica's init. */
    double dev_mem_bytes;
    const char *dev_name;
    /* Speculative decoding (sim/spec.h); NULL: off.  Borrowed: must
     * outlive the replica. */
    const struct spec_config *spec;
};

/* A replica: the view policies read (pub, the first member, so that a
 * struct replica * a policy holds is this struct's address) and what
 * only sim/ touches. */
struct replica_core {
    struct replica pub;

    struct request *wait_tail;
    int32_t cap_running, cap_plan;
    struct batch layer_base;   /* the plan without its layered items */
    bool shared_prefix;        /* fill batch.shared (config) */
    struct replica_shared *shr; /* scratch: decodes' shared prefixes */
    int32_t cap_shr;
    int32_t *dctx;             /* scratch: replica_plan_decodes' contexts */
    int32_t cap_dctx;

    const struct sched_ops *sched;
    struct plugin sched_p;     /* the scheduler's state (base/plugin.h) */
    const struct kv_ops *kv;
    struct plugin kv_p;        /* the KV manager's, or another replica's
                                  (kv_shared: semi-PD) */
    replica_cost_fn *cost;
    void *cost_ctx;

    struct itl_pair *itl;      /* gaps of the iteration being ended */
    int32_t n_itl, cap_itl;
    struct request **rejected; /* requests the scheduler refused */
    int32_t n_rejected, cap_rejected;

    bool busy;                 /* an iteration runs */
    int64_t iter_start_ns;
    int64_t iter_preempted;    /* preemptions while planning this one */
    int64_t iterations, preemptions;

    /* swapped requests, in swap-out order (the head is in pub) */
    struct request *swap_tail;
    int32_t kv_block_segments;
    int64_t host_latency_ns;
    int64_t link_busy_until_ns;
    int64_t iter_stall_until_ns; /* this iteration's compute waits */
    int64_t iter_load_until_ns;  /* transfers overlapping its compute
                                    (kv sync_overlaps) land then */
    /* totals for reports and tests */
    int64_t swap_out_blocks, swap_in_blocks, swaps_out, swaps_in;
    double swap_out_bytes, swap_in_bytes;
    int64_t prefix_saved_tokens; /* prefill skipped on prefix-cache hits */
    int64_t link_busy_ns;      /* time the host link spent transferring */
    int64_t iter_swap_out_blocks, iter_swap_in_blocks;
    int64_t iter_stall_ns;     /* this iteration's delay for swaps */

    /* padding (static batching): work priced but producing nothing */
    int32_t n_pad;
    bool has_layers;           /* a layered item is planned */
    int64_t wake_at_ns;        /* < 0: none; else the scheduler asks to be
                                  woken then if it planned nothing */

    /* Disaggregation (sim/cluster.h) */
    enum replica_role role;
    struct request **finished; /* requests that ended this iteration */
    int32_t n_finished, cap_finished;
    struct request **handoff;  /* prefilled requests leaving, KV held */
    int32_t n_handoff, cap_handoff;
    bool kv_shared;            /* kv_p is another replica's (semi-PD) */
    int64_t busy_ns;           /* time spent in iterations */

    /* Async scheduling (sched_ops.async_lag): requests the last iteration
     * finished, not yet handed to done() (n_held), of which the first
     * pub.n_holding still hold their KV blocks and sequence slots; the
     * start and end of the last iteration. */
    bool lag;
    struct request **held;
    int32_t n_held, cap_held;
    int64_t last_start_ns, last_end_ns;
    /* CUDA-graph padding of the planned iteration (sim/batch.h), set by
     * the scheduler with replica_set_graph. */
    int64_t plan_pad_tokens;
    enum batch_graph plan_graph;
    bool plan_backlog;         /* requests the engine had seen were left
                                  waiting after planning */
    /* Speculative decoding (sim/spec.h); NULL: off */
    struct spec *spec;
    /* The last plan was one decode of each of running[0, steady_n), in
     * order, and nothing else (sched_ops.steady may let the next one
     * repeat it). */
    bool steady;
    int32_t steady_n;
    int64_t steady_repeats;    /* plans repeated so (tests, profiling) */
    /* Fast-forward: the iteration begun is span_iters steady decodes
     * (1: a plain iteration), iteration j lasting span_d0 + span_delta x
     * j / span_den (sim/record.h span_iter_end); ff_max: the config's
     * bound. */
    int32_t ff_max;
    int32_t span_iters, span_den;
    int64_t span_d0, span_delta;
    int64_t span_kv0;          /* KV blocks used by its first iteration */
    int64_t spans;             /* spans of more than one (tests, bench) */
};

/* The replica a policy's struct replica * is (its first member). */
static inline struct replica_core *replica_core(struct replica *r)
{
    return (struct replica_core *)(void *)r;
}

static inline const struct replica_core *
replica_core_const(const struct replica *r)
{
    return (const struct replica_core *)(const void *)r;
}

/* Builds r: the scheduler's and the KV manager's states (base/plugin.h:
 * init, then the KV manager's attach, the scheduler's set_device and
 * attach), the speculation state.  On error nothing is left to free and
 * d names the plug-in's key path. */
int replica_init(struct replica_core *r, const struct replica_config *cfg,
                 struct llm_diag *d);
void replica_fini(struct replica_core *r);

/* A new request joins the back of the waiting queue. */
void replica_enqueue(struct replica_core *r, struct request *req);

/* Plans and prices one iteration.  *dur_ns < 0 when nothing was planned
 * (the replica stays idle).  The scheduler's own error codes pass through. */
int replica_begin(struct replica_core *r, int64_t now_ns, int64_t *dur_ns);
/* An arrival at now joined r's waiting queue: if r runs a fast-forwarded
 * span (replica_config.fast_forward) with iterations left after the one
 * running at now (with async lag, the one after it, planned before the
 * arrival), the span ends with that one, where the scheduler would have
 * seen the arrival.  Returns the span's new end, or -1 when it
 * stays as it was. */
int64_t replica_truncate(struct replica_core *r, int64_t now_ns);
/* Ends the iteration begun at start: produces tokens, hands each finished
 * request to done(ctx, req) after removing it from the replica, and fills
 * *rec.  done's non-zero return aborts and is returned.  With async lag
 * (sched_ops.async_lag) the finished requests are held instead: the next
 * replica_begin releases their KV and replica_take_held hands them to
 * done. */
int replica_end(struct replica_core *r, int64_t now_ns,
                replica_done_fn *done, void *ctx, struct iter_record *rec);
/* Hands the requests held since the last replica_end to done(ctx, req)
 * (their KV already released by replica_begin) and forgets them.  The
 * caller calls it after replica_begin, at the same instant. */
int replica_take_held(struct replica_core *r, replica_done_fn *done,
                      void *ctx);
/* Hands every request the scheduler rejected (replica_reject) to
 * done(ctx, req) and forgets them. */
int replica_take_rejected(struct replica_core *r, replica_done_fn *done,
                          void *ctx);

/* --- disaggregation (sim/cluster.h) --- */
/* Hands every request a REPLICA_PREFILL replica finished prefilling in
 * its last iteration (and that still has tokens to decode) to
 * fn(ctx, req), and forgets them.  They have left running and the load
 * counts but still hold their KV blocks here (q->kv_blocks). */
int replica_take_handoffs(struct replica_core *r, replica_done_fn *fn,
                          void *ctx);
/* Admits q, whose KV blocks this replica's KV manager already holds
 * (q->kv_blocks), straight into running as a decoding request. */
int replica_accept_decode(struct replica_core *r, struct request *q);
/* Returns `blocks` blocks q held in r's KV manager while q->kv_blocks
 * counts its blocks elsewhere (the source of a finished KV transfer). */
void replica_kv_drop(struct replica_core *r, const struct request *q,
                     int32_t blocks);
/* Unified KV storage (semi-PD): r uses owner's KV manager from now on;
 * r's own must be empty.  Both must outlive the sharing. */
void replica_share_kv(struct replica_core *r,
                      const struct replica_core *owner);

#endif
