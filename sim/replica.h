/* sim/replica.h: one serving replica (one or more GPUs, one engine).
 *
 * A replica runs iteration-level continuous batching: a waiting queue
 * (FIFO, preempted requests go back to its front), a running set kept in
 * arrival order, a KV manager, a batch scheduler and a cost function.  One
 * iteration is: replica_begin (the scheduler fills the plan, the cost
 * function prices the batch) ... the caller waits the returned duration
 * ... replica_end (tokens are produced at the iteration's end, finished
 * requests are handed to the caller and leave the replica).
 *
 * Schedulers are plug-ins (const struct sched_ops, registered by name in
 * policies/registry.c); they read the public fields below and change the
 * replica only through the replica_* helpers, which keep the invariants:
 * every request is in exactly one of waiting, running, swapped or done; a
 * running request's KV holds at least its computed tokens; KV used never
 * exceeds capacity; a swapped request holds no device blocks and
 * host_blocks host blocks.  The replica owns its arrays and plug-in
 * states, not the requests (the run does).  Not thread-safe.
 *
 * Swapping (replica_swap_out/in) moves a request's KV over the host link:
 * a transfer of n blocks costs segments * ceil(n / group) copies of
 * latency each plus bytes / bandwidth, and transfers are serialized on
 * the link (link_busy_until_ns).  A synchronous transfer delays the
 * compute of the iteration being planned, as vLLM's swaps issued before
 * the forward pass do; an overlapped one only makes the request wait for
 * it (ready_ns). */
#ifndef LLM_REPLICA_H
#define LLM_REPLICA_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "sim/batch.h"
#include "base/diag.h"
#include "sim/kv.h"
#include "sim/request.h"
#include "sim/spec.h"

struct replica;

struct sched_ops {
    const char *name;
    size_t state_size;
    int (*init)(void *st, const cJSON *params, const char *path,
                struct llm_diag *d);
    /* Plans one iteration with replica_admit/preempt/plan_*.  Planning
     * nothing means the replica idles until the next arrival. */
    int (*schedule)(void *st, struct replica *r, int64_t now_ns);
    void (*fini)(void *st);
    /* Optional: a new request was queued by replica_enqueue (per-tenant
     * accounting, deadlines).  Not called for preempted requests. */
    void (*enqueue)(void *st, struct replica *r, struct request *q);
    /* Optional: called once by replica_init after init, with the
     * replica's limits and links, to check or size what depends on them
     * (e.g. swapping needs a host link).  Errors name path. */
    int (*attach)(void *st, const struct replica *r, const char *path,
                  struct llm_diag *d);
    /* Optional: true when the scheduler plans each iteration while the
     * one before it still runs, as vLLM V1's async scheduling does
     * (vllm/v1/engine/core.py step_with_batch_queue).  The replica then
     * plans iteration k+1 at the end of k with what the engine knew when
     * k started: waiting requests that arrived after k started stay
     * invisible (admit_cutoff_ns), and the requests k finished keep
     * their KV blocks and sequence slots (n_holding) through that
     * planning.
     * If that plans nothing, the replica plans again at once with
     * everything, as the engine does once k's output is processed. */
    bool (*async_lag)(const void *st);
    /* Optional: the device of one GPU (replica_config's dev_mem_bytes and
     * dev_name), for a scheduler whose defaults depend on it, as vLLM
     * V1's max_num_batched_tokens and max_num_seqs do.  Called after
     * init, before attach and limits (registry_sched_limits calls it
     * too, so the memory plan sees the same budgets as the run). */
    void (*set_device)(void *st, double dev_mem_bytes, const char *dev_name);
    /* Optional (issue 17): the token and sequence budgets this scheduler
     * runs with after init (its own defaults where a key was absent), for
     * a model of max_model_len tokens; they size the memory plan's
     * activations.  Absent: vLLM V0's rule, max(max_model_len, 2048)
     * tokens and 256 sequences (registry_sched_limits). */
    void (*limits)(const void *st, int32_t max_model_len, int64_t *tokens,
                   int64_t *seqs);
    /* Optional: adds the policy's own figures to the run's summary
     * object after the run, once per replica (so it sums what another
     * replica's call put there), e.g. FlexLLM's finetuning progress. */
    void (*report)(const void *st, cJSON *summary);
};

typedef int replica_done_fn(void *ctx, struct request *req);

/* Prices a batch; the replica's only view of the hardware. */
typedef int replica_cost_fn(void *ctx, const struct batch *b, int64_t *ns);

struct plan_item {
    struct request *req;       /* NULL: preempted, or padding */
    int32_t tokens;            /* prefill tokens, or 1 for a decode */
    bool prefill;
    /* Layered prefill: this iteration runs layer group `group` of
     * `groups` (groups 0: all layers); tokens count as computed only
     * after the last group. */
    int16_t group, groups;
    bool pad;                  /* padding: req is NULL */
    int32_t pad_prior;         /* padding: context attended */
};

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

struct replica {
    int32_t index;
    int32_t block_tokens;
    int32_t max_model_len;
    int64_t kv_capacity;

    struct request *wait_head, *wait_tail;
    int64_t n_waiting;
    struct request **running;  /* sorted by id (arrival order) */
    int32_t n_running, cap_running;

    struct plan_item *plan;
    int32_t n_plan, cap_plan;
    int64_t plan_prefill_tokens;
    int64_t plan_decodes;      /* decodes in the plan (not padding) */
    struct batch batch;        /* the plan as the cost model sees it */
    struct batch layer_base;   /* the plan without its layered items */
    bool batch_stale;          /* a planned item was preempted */
    bool shared_prefix;        /* fill batch.shared (config) */
    struct replica_shared *shr; /* scratch: decodes' shared prefixes */
    int32_t cap_shr;
    int32_t *dctx;             /* scratch: replica_plan_decodes' contexts */
    int32_t cap_dctx;

    const struct sched_ops *sched;
    void *sched_st;
    const struct kv_ops *kv;
    void *kv_st;
    replica_cost_fn *cost;
    void *cost_ctx;

    struct itl_pair *itl;      /* gaps of the iteration being ended */
    int32_t n_itl, cap_itl;
    struct request **rejected; /* requests the scheduler refused */
    int32_t n_rejected, cap_rejected;

    bool busy;
    bool wake_pending;         /* the sim has a wake event queued */
    int64_t iter_start_ns;
    int64_t iter_preempted;    /* preemptions while planning this one */
    int64_t iterations, preemptions;

    /* swapped requests, in swap-out order */
    struct request *swap_head, *swap_tail;
    int64_t n_swapped;
    int64_t host_blocks;       /* blocks of swapped requests on the host */
    double kv_block_bytes;
    int32_t kv_block_segments;
    double host_bw_bytes_s;
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

    /* Load for routers, kept incrementally: forward tokens still to run
     * (prompt chunks, recomputation and decodes) of every request here,
     * and prefill tokens of the waiting queue. */
    int64_t load_tokens;
    int64_t wait_tokens;
    double weight;

    /* padding (static batching): work priced but producing nothing */
    int32_t n_pad;
    bool has_layers;           /* a layered item is planned */
    int64_t wake_at_ns;        /* < 0: none; else the scheduler asks to be
                                  woken then if it planned nothing */
    int64_t timer_ns;          /* the sim's pending timed wake, -1 none */
    bool wake_deferred;        /* the sim wakes it after this instant's
                                  last arrival */

    /* Disaggregation (sim/cluster.h) */
    enum replica_role role;
    struct request **finished; /* requests that ended this iteration */
    int32_t n_finished, cap_finished;
    struct request **handoff;  /* prefilled requests leaving, KV held */
    int32_t n_handoff, cap_handoff;
    bool kv_shared;            /* kv_st is another replica's (semi-PD) */
    int64_t busy_ns;           /* time spent in iterations */

    /* Async scheduling (sched_ops.async_lag): requests the last iteration
     * finished, not yet handed to done() (n_held), of which the first
     * n_holding still hold their KV blocks and sequence slots; the start
     * and end of the last iteration; arrivals after admit_cutoff_ns are
     * not admitted (INT64_MAX: no cutoff). */
    bool lag;
    struct request **held;
    int32_t n_held, cap_held, n_holding;
    int64_t last_start_ns, last_end_ns;
    int64_t admit_cutoff_ns;
    /* CUDA-graph padding of the planned iteration (sim/batch.h), set by
     * the scheduler with replica_set_graph. */
    int64_t plan_pad_tokens;
    enum batch_graph plan_graph;
    bool plan_backlog;         /* requests the engine had seen were left
                                  waiting after planning */
    /* Speculative decoding (sim/spec.h): a decode step is a verify of
     * decode_tokens = 1 + drafts tokens (1: off, spec NULL); the plan's
     * draft tokens count against token budgets. */
    struct spec *spec;
    int32_t decode_tokens;
    int64_t plan_spec_tokens;
};

/* count tokens came gap_ns after their sequence's previous token. */
struct itl_pair {
    int64_t gap_ns;
    int64_t count;
};

/* Per-iteration facts handed to the caller by replica_end; the itl array
 * belongs to the replica and is valid until its next iteration. */
struct iter_record {
    int32_t replica;
    int64_t start_ns, end_ns;
    int64_t prefill_tokens;
    int32_t prefill_seqs, decode_seqs;
    int64_t kv_blocks_used;
    int64_t n_waiting, n_running;
    int32_t preemptions;       /* during this iteration's planning */
    const struct itl_pair *itl;  /* inter-token gaps of this iteration */
    int32_t n_itl;
    int64_t n_swapped;
    int64_t swap_out_blocks, swap_in_blocks;  /* during this one */
    int64_t stall_ns;          /* of the iteration, waiting for swaps */
    int32_t backlog;           /* 1: requests the engine had seen were left
                                  waiting when it was planned (async
                                  scheduling: arrivals before the cutoff) */
    int64_t pad_tokens;        /* CUDA-graph padding it ran */
    /* Lower KV tiers after the iteration (issue 9; 0: none) */
    struct kv_tier_stats tiers[KV_MAX_TIERS];
    int32_t n_tiers;
};

int replica_init(struct replica *r, const struct replica_config *cfg,
                 struct llm_diag *d);
void replica_fini(struct replica *r);

/* A new request joins the back of the waiting queue. */
void replica_enqueue(struct replica *r, struct request *req);

/* Plans and prices one iteration.  *dur_ns < 0 when nothing was planned
 * (the replica stays idle).  The scheduler's own error codes pass through. */
int replica_begin(struct replica *r, int64_t now_ns, int64_t *dur_ns);
/* Ends the iteration begun at start: produces tokens, hands each finished
 * request to done(ctx, req) after removing it from the replica, and fills
 * *rec.  done's non-zero return aborts and is returned.  With async lag
 * (sched_ops.async_lag) the finished requests are held instead: the next
 * replica_begin releases their KV and replica_take_held hands them to
 * done. */
int replica_end(struct replica *r, int64_t now_ns, replica_done_fn *done,
                void *ctx, struct iter_record *rec);
/* Hands the requests held since the last replica_end to done(ctx, req)
 * (their KV already released by replica_begin) and forgets them.  The
 * caller calls it after replica_begin, at the same instant. */
int replica_take_held(struct replica *r, replica_done_fn *done, void *ctx);

/* --- helpers for schedulers --- */
/* Tokens the request must compute before its next token: the prompt plus
 * every token generated so far (a recomputed request re-prefills them). */
static inline int32_t replica_prefill_target(const struct request *q)
{
    return q->prompt_tokens + q->generated;
}
struct request *replica_wait_pop(struct replica *r);        /* front */
void replica_wait_push_front(struct replica *r, struct request *q);
/* Moves a request (already popped from waiting) into running. */
int replica_admit(struct replica *r, struct request *q);
/* Recompute preemption: frees q's KV and progress, moves it from running
 * to the front of waiting. */
void replica_preempt(struct replica *r, struct request *q);
/* Adds q to this iteration: a prefill chunk of tokens, or one decode
 * (tokens 1), or with speculation a verify of tokens - 1 drafts (at most
 * decode_tokens; its KV must hold computed + tokens). */
int replica_plan(struct replica *r, struct request *q, int32_t tokens,
                 bool prefill);
/* The common case of a decode pass, in bulk: from running[*from] on, in
 * order, plans one decode (as replica_plan(r, q, decode_tokens, false))
 * for each request that decodes, is not planned yet and is ready at
 * now_ns, as many as max tokens pay for, growing its KV (replica_kv_grow)
 * when its step's tokens need a block; stops at the first request that is
 * not such a one, or
 * whose grow the KV manager refused (*refused; nothing changed), and
 * leaves *from at it (n_running: none left).  The caller handles that
 * request its own way.  LLM_OK or LLM_ENOMEM. */
int replica_plan_decodes(struct replica *r, int64_t now_ns, int64_t max,
                         int32_t *from, bool *refused);
bool replica_in_plan(const struct replica *r, const struct request *q);
/* Tokens planned so far this iteration (prefill chunks, decodes and
 * their speculated drafts, padding excluded): what a token budget is
 * charged. */
static inline int64_t replica_plan_tokens(const struct replica *r)
{
    return r->plan_prefill_tokens + r->plan_decodes + r->plan_spec_tokens;
}
/* Refuses a popped waiting request that can never be served under the
 * replica's limits (vLLM's "ignored" requests); the caller of replica_begin
 * collects it with replica_take_rejected. */
int replica_reject(struct replica *r, struct request *q);
/* Hands every rejected request to done(ctx, req) and forgets them. */
int replica_take_rejected(struct replica *r, replica_done_fn *done,
                          void *ctx);
/* KV helpers through the manager. */
int64_t replica_kv_needed(const struct replica *r, const struct request *q,
                          int64_t tokens);
bool replica_kv_grow(struct replica *r, struct request *q, int64_t tokens);
int64_t replica_kv_free(const struct replica *r);
int64_t replica_kv_used(const struct replica *r);
/* Leading blocks of hashes the KV manager holds (0 when it keeps no
 * prefix cache).  For cache-aware routers. */
int64_t replica_kv_cached_prefix(const struct replica *r,
                                 const uint64_t *hashes, int32_t n);

/* Unlinks q from anywhere in the waiting queue (schedulers that do not
 * serve in FIFO order). */
void replica_wait_remove(struct replica *r, struct request *q);
/* Prices b on this replica's hardware without running it (estimates). */
int replica_price(struct replica *r, const struct batch *b, int64_t *ns);

/* The blocks a swap of q moves: those holding its computed tokens (a
 * block grown for a step that has not run holds nothing yet). */
static inline int64_t replica_swap_blocks(const struct replica *r,
                                          const struct request *q)
{
    int64_t b = ((int64_t)q->computed + r->block_tokens - 1) /
                r->block_tokens;

    return b < q->kv_blocks ? b : q->kv_blocks;
}
/* Time to move `blocks` KV blocks over the host link in copies of at
 * most `group` contiguous blocks (per segment). */
int64_t replica_link_ns(const struct replica *r, int64_t blocks,
                        int32_t group);
/* Swap-out: q (running) leaves the plan and running, its device blocks
 * are freed and counted on the host, it joins the back of the swapped
 * queue with its progress kept.  The transfer starts when the link is
 * free; sync: this iteration's compute waits for it.  LLM_EINVAL when
 * the replica has no host link. */
int replica_swap_out(struct replica *r, struct request *q, int32_t group,
                     bool sync);
/* Front of the swapped queue (NULL: empty), and removal of any member. */
struct request *replica_swapped_pop(struct replica *r);
void replica_swapped_remove(struct replica *r, struct request *q);
/* Swap-in of a request taken off the swapped queue: device blocks for
 * its computed tokens, the transfer, and admission to running.  Not sync: q->ready_ns is set to the transfer's
 * end and the scheduler must not plan q before.  LLM_ERANGE (nothing
 * changed) when the blocks do not fit. */
int replica_swap_in(struct replica *r, struct request *q, int32_t group,
                    bool sync);

/* --- disaggregation (sim/cluster.h) --- */
/* Hands every request a REPLICA_PREFILL replica finished prefilling in
 * its last iteration (and that still has tokens to decode) to
 * fn(ctx, req), and forgets them.  They have left running and the load
 * counts but still hold their KV blocks here (q->kv_blocks). */
int replica_take_handoffs(struct replica *r, replica_done_fn *fn, void *ctx);
/* Admits q, whose KV blocks this replica's KV manager already holds
 * (q->kv_blocks), straight into running as a decoding request. */
int replica_accept_decode(struct replica *r, struct request *q);
/* Returns `blocks` blocks q held in r's KV manager while q->kv_blocks
 * counts its blocks elsewhere (the source of a finished KV transfer). */
void replica_kv_drop(struct replica *r, const struct request *q,
                     int32_t blocks);
/* Unified KV storage (semi-PD): r uses owner's KV manager from now on;
 * r's own must be empty.  Both must outlive the sharing. */
void replica_share_kv(struct replica *r, const struct replica *owner);

/* Layered prefill: q's prefill of `tokens` advances by one layer group
 * (group in [0, groups)); priced as the iteration without it plus the
 * share 1/groups of what the full prefill adds (replica_begin); counted
 * as computed after the last group.  Every layered item of an iteration
 * must have the same groups. */
int replica_plan_layers(struct replica *r, struct request *q,
                        int32_t tokens, int32_t group, int32_t groups);
/* Padding: work the batch runs for no request (static batching's padded
 * prompt positions and finished sequences): a prefill of tokens over
 * prior cached positions, or `tokens` decodes over prior each. */
int replica_plan_pad(struct replica *r, int32_t tokens, int32_t prior,
                     bool prefill);
/* Asks for a wake-up at t_ns if this iteration plans nothing (e.g. an
 * overlapped swap-in lands then). */
void replica_wake_at(struct replica *r, int64_t t_ns);
/* How the engine launches the planned iteration: pad_tokens token rows
 * beyond the planned tokens (a CUDA graph's capture size) and the graph
 * mode; copied into the batch the cost model prices. */
void replica_set_graph(struct replica *r, int64_t pad_tokens,
                       enum batch_graph graph);

#endif
