#include "sim/replica.h"

#include <stdlib.h>
#include <string.h>

static void *grow_array(void *arr, int32_t *cap, int32_t need, size_t elem)
{
    int32_t ncap;
    void *n;

    if (need <= *cap)
        return arr;
    ncap = *cap ? *cap * 2 : 64;
    while (ncap < need)
        ncap *= 2;
    n = realloc(arr, (size_t)ncap * elem);
    if (n != NULL)
        *cap = ncap;
    return n;
}

int replica_init(struct replica *r, const struct replica_config *cfg,
                 struct llm_diag *d)
{
    int rc;

    memset(r, 0, sizeof(*r));
    r->index = cfg->index;
    r->block_tokens = cfg->block_tokens;
    r->max_model_len = cfg->max_model_len;
    r->kv_capacity = cfg->kv_capacity_blocks;
    r->sched = cfg->sched;
    r->kv = cfg->kv;
    r->cost = cfg->cost;
    r->cost_ctx = cfg->cost_ctx;
    batch_init(&r->batch);
    r->sched_st = calloc(1, cfg->sched->state_size ? cfg->sched->state_size
                                                   : 1);
    r->kv_st = calloc(1, cfg->kv->state_size ? cfg->kv->state_size : 1);
    if (r->sched_st == NULL || r->kv_st == NULL) {
        replica_fini(r);
        return diag_set(d, LLM_ENOMEM, "out of memory");
    }
    rc = cfg->sched->init(r->sched_st, cfg->sched_params, cfg->sched_path,
                          d);
    if (rc == LLM_OK)
        rc = cfg->kv->init(r->kv_st, cfg->kv_capacity_blocks,
                           cfg->block_tokens, cfg->kv_params, cfg->kv_path,
                           d);
    if (rc != LLM_OK) {
        r->sched = NULL;     /* init failed: no fini owed */
        r->kv = NULL;
        replica_fini(r);
    }
    return rc;
}

void replica_fini(struct replica *r)
{
    if (r->sched && r->sched->fini)
        r->sched->fini(r->sched_st);
    if (r->kv && r->kv->fini)
        r->kv->fini(r->kv_st);
    free(r->sched_st);
    free(r->kv_st);
    free(r->running);
    free(r->plan);
    free(r->rejected);
    free(r->itl);
    batch_free(&r->batch);
    memset(r, 0, sizeof(*r));
}

void replica_enqueue(struct replica *r, struct request *q)
{
    q->state = REQ_WAITING;
    q->replica = r->index;
    q->plan_idx = -1;
    q->next = NULL;
    q->prev = r->wait_tail;
    if (r->wait_tail)
        r->wait_tail->next = q;
    else
        r->wait_head = q;
    r->wait_tail = q;
    r->n_waiting++;
}

struct request *replica_wait_pop(struct replica *r)
{
    struct request *q = r->wait_head;

    if (q == NULL)
        return NULL;
    r->wait_head = q->next;
    if (r->wait_head)
        r->wait_head->prev = NULL;
    else
        r->wait_tail = NULL;
    q->next = q->prev = NULL;
    r->n_waiting--;
    return q;
}

void replica_wait_push_front(struct replica *r, struct request *q)
{
    q->prev = NULL;
    q->next = r->wait_head;
    if (r->wait_head)
        r->wait_head->prev = q;
    else
        r->wait_tail = q;
    r->wait_head = q;
    r->n_waiting++;
}

int replica_admit(struct replica *r, struct request *q)
{
    struct request **n;
    int32_t i;

    n = grow_array(r->running, &r->cap_running, r->n_running + 1,
                   sizeof(*n));
    if (n == NULL)
        return LLM_ENOMEM;
    r->running = n;
    /* Keep arrival order: a re-admitted preempted request is older than
     * the ones admitted after it. */
    i = r->n_running;
    while (i > 0 && r->running[i - 1]->id > q->id) {
        r->running[i] = r->running[i - 1];
        i--;
    }
    r->running[i] = q;
    r->n_running++;
    q->state = q->computed < replica_prefill_target(q) ? REQ_PREFILL
                                                       : REQ_DECODE;
    return LLM_OK;
}

static void running_remove(struct replica *r, const struct request *q)
{
    int32_t i;

    for (i = r->n_running - 1; i >= 0; i--) {
        if (r->running[i] == q) {
            memmove(&r->running[i], &r->running[i + 1],
                    (size_t)(r->n_running - i - 1) * sizeof(*r->running));
            r->n_running--;
            return;
        }
    }
}

void replica_preempt(struct replica *r, struct request *q)
{
    if (q->plan_idx >= 0) {
        struct plan_item *it = &r->plan[q->plan_idx];
        if (it->prefill)
            r->plan_prefill_tokens -= it->tokens;
        it->req = NULL;
        q->plan_idx = -1;
        r->batch_stale = true;
    }
    running_remove(r, q);
    r->kv->release(r->kv_st, q);
    q->computed = 0;
    q->state = REQ_WAITING;
    q->preemptions++;
    r->preemptions++;
    replica_wait_push_front(r, q);
}

int replica_plan(struct replica *r, struct request *q, int32_t tokens,
                 bool prefill)
{
    struct plan_item *n = grow_array(r->plan, &r->cap_plan, r->n_plan + 1,
                                     sizeof(*n));

    if (n == NULL)
        return LLM_ENOMEM;
    r->plan = n;
    q->plan_idx = r->n_plan;
    r->plan[r->n_plan++] = (struct plan_item){ q, tokens, prefill };
    if (prefill)
        r->plan_prefill_tokens += tokens;
    /* The batch grows with the plan; a preempted planned item makes it
     * stale and replica_begin rebuilds it. */
    if (prefill && batch_add_prefill(&r->batch, tokens, q->computed,
            q->computed + tokens >= replica_prefill_target(q)) != LLM_OK)
        return LLM_ENOMEM;
    if (!prefill && batch_add_decode(&r->batch, 1, q->computed) != LLM_OK)
        return LLM_ENOMEM;
    if (q->first_sched_ns < 0)
        q->first_sched_ns = r->iter_start_ns;
    return LLM_OK;
}

int replica_reject(struct replica *r, struct request *q)
{
    struct request **n = grow_array(r->rejected, &r->cap_rejected,
                                    r->n_rejected + 1, sizeof(*n));

    if (n == NULL)
        return LLM_ENOMEM;
    r->rejected = n;
    q->rejected = 1;
    q->state = REQ_DONE;
    r->rejected[r->n_rejected++] = q;
    return LLM_OK;
}

int replica_take_rejected(struct replica *r, replica_done_fn *done,
                          void *ctx)
{
    int32_t i;
    int rc = LLM_OK;

    for (i = 0; i < r->n_rejected && rc == LLM_OK; i++)
        rc = done(ctx, r->rejected[i]);
    r->n_rejected = 0;
    return rc;
}

bool replica_in_plan(const struct replica *r, const struct request *q)
{
    (void)r;
    return q->plan_idx >= 0;
}

int64_t replica_kv_needed(const struct replica *r, const struct request *q,
                          int64_t tokens)
{
    return r->kv->blocks_needed(r->kv_st, q, tokens);
}

bool replica_kv_grow(struct replica *r, struct request *q, int64_t tokens)
{
    return r->kv->grow(r->kv_st, q, tokens);
}

int64_t replica_kv_free(const struct replica *r)
{
    return r->kv->free_blocks(r->kv_st);
}

int64_t replica_kv_used(const struct replica *r)
{
    return r->kv->used_blocks(r->kv_st);
}

static int build_batch(struct replica *r)
{
    int32_t i;
    int rc = LLM_OK;

    batch_clear(&r->batch);
    for (i = 0; i < r->n_plan && rc == LLM_OK; i++) {
        const struct plan_item *it = &r->plan[i];
        const struct request *q = it->req;
        if (q == NULL)
            continue;
        if (it->prefill)
            rc = batch_add_prefill(&r->batch, it->tokens, q->computed,
                                   q->computed + it->tokens >=
                                   replica_prefill_target(q));
        else
            rc = batch_add_decode(&r->batch, 1, q->computed);
    }
    return rc;
}

int replica_begin(struct replica *r, int64_t now_ns, int64_t *dur_ns)
{
    int64_t preempted = r->preemptions;
    int rc;

    r->n_plan = 0;
    r->plan_prefill_tokens = 0;
    r->iter_start_ns = now_ns;
    r->batch_stale = false;
    batch_clear(&r->batch);
    *dur_ns = -1;
    rc = r->sched->schedule(r->sched_st, r, now_ns);
    if (rc == LLM_OK && r->batch_stale)
        rc = build_batch(r);
    if (rc != LLM_OK)
        return rc;
    r->iter_preempted = r->preemptions - preempted;
    if (batch_tokens(&r->batch) == 0)
        return LLM_OK;
    rc = r->cost(r->cost_ctx, &r->batch, dur_ns);
    if (rc == LLM_OK) {
        r->busy = true;
        r->iterations++;
    }
    return rc;
}

/* Counts one inter-token gap; consecutive equal gaps share a pair (the
 * decodes of one iteration mostly last produced a token together). */
static int note_gap(struct replica *r, int64_t gap_ns)
{
    struct itl_pair *n;

    if (r->n_itl > 0 && r->itl[r->n_itl - 1].gap_ns == gap_ns) {
        r->itl[r->n_itl - 1].count++;
        return LLM_OK;
    }
    n = grow_array(r->itl, &r->cap_itl, r->n_itl + 1, sizeof(*n));
    if (n == NULL)
        return LLM_ENOMEM;
    r->itl = n;
    r->itl[r->n_itl++] = (struct itl_pair){ gap_ns, 1 };
    return LLM_OK;
}

/* Applies one plan item at the iteration's end. */
static int advance(struct replica *r, const struct plan_item *it,
                   int64_t now_ns)
{
    struct request *q = it->req;
    int rc = LLM_OK;

    q->computed += it->tokens;
    q->plan_idx = -1;
    if (it->prefill && q->computed < replica_prefill_target(q))
        return LLM_OK;         /* a chunk in the middle of the prompt */
    if (q->generated > 0)
        rc = note_gap(r, now_ns - q->last_token_ns);
    q->generated++;
    if (q->first_token_ns < 0)
        q->first_token_ns = now_ns;
    q->last_token_ns = now_ns;
    q->state = REQ_DECODE;
    if (q->generated < q->output_tokens)
        return rc;
    q->state = REQ_DONE;
    q->finish_ns = now_ns;
    r->kv->release(r->kv_st, q);
    return rc;
}

int replica_end(struct replica *r, int64_t now_ns, replica_done_fn *done,
                void *ctx, struct iter_record *rec)
{
    int32_t i, j;
    int rc = LLM_OK;

    *rec = (struct iter_record){ .replica = r->index,
        .start_ns = r->iter_start_ns, .end_ns = now_ns,
        .prefill_tokens = r->batch.prefill_tokens,
        .prefill_seqs = (int32_t)r->batch.n_prefill,
        .decode_seqs = (int32_t)r->batch.decode_seqs,
        .kv_blocks_used = replica_kv_used(r),
        .n_waiting = r->n_waiting, .n_running = r->n_running,
        .preemptions = (int32_t)r->iter_preempted };
    r->busy = false;
    r->n_itl = 0;
    for (i = 0; i < r->n_plan && rc == LLM_OK; i++)
        if (r->plan[i].req != NULL)
            rc = advance(r, &r->plan[i], now_ns);
    rec->itl = r->itl;
    rec->n_itl = r->n_itl;
    /* Drop finished requests from running, keeping the order. */
    for (i = j = 0; i < r->n_running; i++)
        if (r->running[i]->state != REQ_DONE)
            r->running[j++] = r->running[i];
    r->n_running = j;
    for (i = 0; i < r->n_plan && rc == LLM_OK; i++)
        if (r->plan[i].req != NULL && r->plan[i].req->state == REQ_DONE)
            rc = done(ctx, r->plan[i].req);
    r->n_plan = 0;
    return rc;
}
