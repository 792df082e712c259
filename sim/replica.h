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
 * every request is in exactly one of waiting, running or done; a running
 * request's KV holds at least its computed tokens; KV used never exceeds
 * capacity.  The replica owns its arrays and plug-in states, not the
 * requests (the run does).  Not thread-safe. */
#ifndef LLM_REPLICA_H
#define LLM_REPLICA_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "sim/batch.h"
#include "sim/diag.h"
#include "sim/kv.h"
#include "sim/request.h"

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
};

typedef int replica_done_fn(void *ctx, struct request *req);

/* Prices a batch; the replica's only view of the hardware. */
typedef int replica_cost_fn(void *ctx, const struct batch *b, int64_t *ns);

struct plan_item {
    struct request *req;
    int32_t tokens;            /* prefill tokens, or 1 for a decode */
    bool prefill;
};

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
    struct batch batch;        /* the plan as the cost model sees it */
    bool batch_stale;          /* a planned item was preempted */

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
 * *rec.  done's non-zero return aborts and is returned. */
int replica_end(struct replica *r, int64_t now_ns, replica_done_fn *done,
                void *ctx, struct iter_record *rec);

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
/* Adds q to this iteration: a prefill chunk of tokens, or one decode. */
int replica_plan(struct replica *r, struct request *q, int32_t tokens,
                 bool prefill);
bool replica_in_plan(const struct replica *r, const struct request *q);
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

#endif
