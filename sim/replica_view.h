/* sim/replica_view.h: a replica as policies see it: what a scheduler or
 * router may read, and the calls through which a scheduler changes it.
 *
 * A replica runs iteration-level continuous batching: a waiting queue
 * (FIFO, preempted requests go back to its front), a running set kept in
 * arrival order, a KV manager, a batch scheduler and a cost function.
 * Each iteration the simulator asks the scheduler (struct sched_ops) to
 * plan it: the scheduler reads the fields of struct replica below and
 * plans with the replica_* calls declared here, which keep the
 * invariants: every request is in exactly one of waiting, running,
 * swapped or done; a running request's KV holds at least its computed
 * tokens; KV used never exceeds capacity; a swapped request holds no
 * device blocks and host_blocks host blocks.  Routers (sim/router.h)
 * read the same fields and the replica_kv_* queries.
 *
 * Policies never write a field of struct replica: the simulator does
 * (sim/replica.c), and keeps the rest of a replica, its own bookkeeping,
 * out of this header (struct replica_core in sim/replica.h, which no
 * policy includes).  The replica owns its arrays, not the requests (the
 * run does).  Not thread-safe.
 *
 * Swapping (replica_swap_out/in) moves a request's KV over the host link:
 * a transfer of n blocks costs segments * ceil(n / group) copies of
 * latency each plus bytes / bandwidth, and transfers are serialized on
 * the link.  A synchronous transfer delays the compute of the iteration
 * being planned, as vLLM's swaps issued before the forward pass do; an
 * overlapped one only makes the request wait for it (ready_ns). */
#ifndef LLM_REPLICA_VIEW_H
#define LLM_REPLICA_VIEW_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "base/diag.h"
#include "sim/batch.h"
#include "sim/request.h"

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

/* What policies may read of a replica (and nothing else of it). */
struct replica {
    int32_t index;             /* in the run, from 0 */
    int32_t block_tokens;      /* tokens per KV block */
    int32_t max_model_len;     /* prompt + output limit, as vLLM's */
    int64_t kv_capacity;       /* KV blocks */

    struct request *wait_head; /* the waiting queue, next links */
    int64_t n_waiting;
    struct request **running;  /* sorted by id (arrival order) */
    int32_t n_running;
    struct request *swap_head; /* swapped requests, in swap-out order */
    int64_t n_swapped;
    int64_t host_blocks;       /* blocks of swapped requests on the host */

    /* The iteration being planned: its items, the tokens they take and
     * the batch the cost model will price (batch_stale: a planned item
     * was preempted, and the batch is rebuilt before pricing). */
    struct plan_item *plan;
    int32_t n_plan;
    int64_t plan_prefill_tokens;
    int64_t plan_decodes;      /* decodes in the plan (not padding) */
    int64_t plan_spec_tokens;  /* speculated draft tokens in the plan */
    struct batch batch;
    bool batch_stale;

    /* The host link swapping uses (0 bandwidth: none; sizes per GPU). */
    double kv_block_bytes;     /* one block, all layers */
    double host_bw_bytes_s;

    /* Load for routers, kept incrementally: forward tokens still to run
     * (prompt chunks, recomputation and decodes) of every request here,
     * prefill tokens of the waiting queue, and the replica's relative
     * speed (1 unless the run says otherwise). */
    int64_t load_tokens;
    int64_t wait_tokens;
    double weight;

    /* Speculative decoding (sim/spec.h): a decode step is a verify of
     * decode_tokens = 1 + drafts tokens (1: off); draft tokens count
     * against token budgets. */
    int32_t decode_tokens;
    /* Async scheduling (sched_ops.async_lag): the first n_holding
     * requests the last iteration finished still hold their KV blocks
     * and sequence slots while this one is planned, and waiting requests
     * that arrived after admit_cutoff_ns are not visible to the plan
     * (INT64_MAX: no cutoff). */
    int32_t n_holding;
    int64_t admit_cutoff_ns;
};

/* A batch scheduler (registered by name in policies/registry.c). */
struct sched_ops {
    const char *name;
    size_t state_size;
    int (*init)(void *st, const cJSON *params, const char *path,
                struct llm_diag *d);
    /* Plans one iteration with replica_admit/preempt/plan_*.  Planning
     * nothing means the replica idles until the next arrival. */
    int (*schedule)(void *st, struct replica *r, int64_t now_ns);
    void (*fini)(void *st);
    /* Optional: a new request joined the waiting queue (per-tenant
     * accounting, deadlines).  Not called for preempted requests. */
    void (*enqueue)(void *st, struct replica *r, struct request *q);
    /* Optional: called once when the replica is built, after init, with
     * the replica's limits and links, to check or size what depends on
     * them (e.g. swapping needs a host link).  Errors name path. */
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
    /* Optional: the device of one GPU (its memory bytes and catalog
     * name), for a scheduler whose defaults depend on it, as vLLM V1's
     * max_num_batched_tokens and max_num_seqs do.  Called after init,
     * before attach and limits (registry_sched_limits calls it too, so
     * the memory plan sees the same budgets as the run). */
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
    /* Optional (issue 24): true when, this iteration, schedule() would
     * plan exactly one decode of each running request in running order
     * (replica_plan_decodes from running[0]) and the same launch
     * (replica_set_graph) as for the same plan before, changing nothing
     * else, PROVIDED nothing waits or is swapped and every running
     * request decodes, is ready and has KV room for its step (the
     * replica checks those).  The replica then repeats its last plan, the
     * contexts one token on, without calling schedule().  NULL: never. */
    bool (*steady)(const void *st, const struct replica *r);
};

/* --- what a scheduler may call --- */
/* Tokens the request must compute before its next token: the prompt plus
 * every token generated so far (a recomputed request re-prefills them). */
static inline int32_t replica_prefill_target(const struct request *q)
{
    return q->prompt_tokens + q->generated;
}
struct request *replica_wait_pop(struct replica *r);        /* front */
void replica_wait_push_front(struct replica *r, struct request *q);
/* Unlinks q from anywhere in the waiting queue (schedulers that do not
 * serve in FIFO order). */
void replica_wait_remove(struct replica *r, struct request *q);
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
 * replica's limits (vLLM's "ignored" requests); the simulator collects
 * it after the plan. */
int replica_reject(struct replica *r, struct request *q);
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
 * its computed tokens, the transfer, and admission to running.  Not
 * sync: q->ready_ns is set to the transfer's end and the scheduler must
 * not plan q before.  LLM_ERANGE (nothing changed) when the blocks do
 * not fit. */
int replica_swap_in(struct replica *r, struct request *q, int32_t group,
                    bool sync);

/* Layered prefill: q's prefill of `tokens` advances by one layer group
 * (group in [0, groups)); priced as the iteration without it plus the
 * share 1/groups of what the full prefill adds; counted as computed
 * after the last group.  Every layered item of an iteration must have
 * the same groups. */
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
