#include "sim/replica.h"

#include <stdlib.h>
#include <string.h>

static int push_item(struct replica_core *r, const struct plan_item *it);
static int32_t attn_ctx(const struct replica_core *r, const struct request *q,
                        int32_t ctx);

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

/* The configuration's fixed facts, before any plug-in exists. */
static void set_config(struct replica_core *r,
                       const struct replica_config *cfg)
{
    memset(r, 0, sizeof(*r));
    r->pub.index = cfg->index;
    r->pub.block_tokens = cfg->block_tokens;
    r->pub.max_model_len = cfg->max_model_len;
    r->pub.kv_capacity = cfg->kv_capacity_blocks;
    r->sched = cfg->sched;
    r->kv = cfg->kv;
    r->cost = cfg->cost;
    r->shared_prefix = cfg->shared_prefix;
    r->cost_ctx = cfg->cost_ctx;
    r->pub.kv_block_bytes = cfg->kv_block_bytes;
    r->kv_block_segments = cfg->kv_block_segments > 0 ?
                           cfg->kv_block_segments : 1;
    r->pub.host_bw_bytes_s = cfg->host_bw_bytes_s;
    r->host_latency_ns = cfg->host_latency_ns;
    r->pub.weight = cfg->weight > 0 ? cfg->weight : 1.0;
    r->role = cfg->role;
    r->wake_at_ns = -1;
    r->last_start_ns = r->last_end_ns = -1;
    r->pub.admit_cutoff_ns = INT64_MAX;
    r->pub.decode_tokens = cfg->spec ? 1 + cfg->spec->nodes : 1;
    r->ff_max = cfg->spec ? 1 : cfg->fast_forward;
    r->span_iters = r->span_den = 1;
    batch_init(&r->pub.batch);
    batch_init(&r->layer_base);
}

/* The KV manager: its state and init, then what the hardware offers it
 * (sim/kv.h kv_env). */
static int start_kv(struct replica_core *r, const struct replica_config *cfg,
                    struct llm_diag *d)
{
    const struct kv_ops *kv = cfg->kv;
    struct kv_env env = { cfg->kv_block_bytes, cfg->host_bw_bytes_s,
                          cfg->host_latency_ns, cfg->find_link,
                          cfg->find_link_ctx };
    int rc = plugin_alloc(&r->kv_p, kv->state_size, d);

    if (rc == LLM_OK)
        rc = plugin_started(&r->kv_p,
                            kv->init(r->kv_p.st, cfg->kv_capacity_blocks,
                                     cfg->block_tokens, cfg->kv_params,
                                     cfg->kv_path, d),
                            kv->fini);
    if (rc == LLM_OK && kv->attach)
        rc = kv->attach(r->kv_p.st, &env, cfg->kv_path, d);
    return rc;
}

int replica_init(struct replica_core *r, const struct replica_config *cfg,
                 struct llm_diag *d)
{
    const struct sched_ops *sc = cfg->sched;
    int rc;

    set_config(r, cfg);
    if (cfg->spec && (r->spec = spec_create(cfg->spec, cfg->index)) == NULL) {
        rc = diag_set(d, LLM_ENOMEM, "out of memory");
        goto fail;
    }
    rc = plugin_alloc(&r->sched_p, sc->state_size, d);
    if (rc == LLM_OK)
        rc = plugin_started(&r->sched_p,
                            sc->init(r->sched_p.st, cfg->sched_params,
                                     cfg->sched_path, d),
                            sc->fini);
    if (rc != LLM_OK)
        goto fail;
    if (sc->set_device)
        sc->set_device(r->sched_p.st, cfg->dev_mem_bytes, cfg->dev_name);
    rc = start_kv(r, cfg, d);
    if (rc != LLM_OK)
        goto fail;
    if (sc->attach) {
        rc = sc->attach(r->sched_p.st, &r->pub, cfg->sched_path, d);
        if (rc != LLM_OK)
            goto fail;
    }
    if (sc->async_lag)
        r->lag = sc->async_lag(r->sched_p.st);
    return LLM_OK;
fail:
    replica_fini(r);           /* stops whatever was started */
    return rc;
}

void replica_fini(struct replica_core *r)
{
    plugin_stop(&r->sched_p);
    if (!r->kv_shared)
        plugin_stop(&r->kv_p);
    free(r->handoff);
    free(r->pub.running);
    free(r->pub.plan);
    free(r->rejected);
    free(r->itl);
    free(r->finished);
    free(r->held);
    free(r->shr);
    free(r->dctx);
    spec_destroy(r->spec);
    batch_free(&r->pub.batch);
    batch_free(&r->layer_base);
    memset(r, 0, sizeof(*r));
}

/* Forward tokens q still needs: its prompt, every decode but the one
 * the prefill replaces, less what is computed (sim/replica_view.h, load). */
static int64_t remaining_tokens(const struct request *q)
{
    return (int64_t)q->prompt_tokens + q->output_tokens - 1 - q->computed;
}

static int64_t wait_need(const struct request *q)
{
    return replica_prefill_target(q) - q->computed;
}

void replica_enqueue(struct replica_core *r, struct request *q)
{
    r->pub.load_tokens += remaining_tokens(q);
    r->pub.wait_tokens += wait_need(q);
    q->state = REQ_WAITING;
    q->replica = r->pub.index;
    q->plan_idx = -1;
    q->next = NULL;
    q->prev = r->wait_tail;
    if (r->wait_tail)
        r->wait_tail->next = q;
    else
        r->pub.wait_head = q;
    r->wait_tail = q;
    r->pub.n_waiting++;
    if (r->sched->enqueue)
        r->sched->enqueue(r->sched_p.st, &r->pub, q);
}

struct request *replica_wait_pop(struct replica *rv)
{
    struct replica_core *r = replica_core(rv);
    struct request *q = r->pub.wait_head;

    if (q == NULL)
        return NULL;
    r->pub.wait_head = q->next;
    if (r->pub.wait_head)
        r->pub.wait_head->prev = NULL;
    else
        r->wait_tail = NULL;
    q->next = q->prev = NULL;
    r->pub.n_waiting--;
    r->pub.wait_tokens -= wait_need(q);
    return q;
}

void replica_wait_remove(struct replica *rv, struct request *q)
{
    struct replica_core *r = replica_core(rv);
    if (q->prev)
        q->prev->next = q->next;
    else
        r->pub.wait_head = q->next;
    if (q->next)
        q->next->prev = q->prev;
    else
        r->wait_tail = q->prev;
    q->next = q->prev = NULL;
    r->pub.n_waiting--;
    r->pub.wait_tokens -= wait_need(q);
}

void replica_wait_push_front(struct replica *rv, struct request *q)
{
    struct replica_core *r = replica_core(rv);
    q->prev = NULL;
    q->next = r->pub.wait_head;
    if (r->pub.wait_head)
        r->pub.wait_head->prev = q;
    else
        r->wait_tail = q;
    r->pub.wait_head = q;
    r->pub.n_waiting++;
    r->pub.wait_tokens += wait_need(q);
}

int replica_admit(struct replica *rv, struct request *q)
{
    struct replica_core *r = replica_core(rv);
    struct request **n;
    int32_t i;

    n = grow_array(r->pub.running, &r->cap_running, r->pub.n_running + 1,
                   sizeof(*n));
    if (n == NULL)
        return LLM_ENOMEM;
    r->pub.running = n;
    /* Keep arrival order: a re-admitted preempted request is older than
     * the ones admitted after it. */
    i = r->pub.n_running;
    while (i > 0 && r->pub.running[i - 1]->id > q->id) {
        r->pub.running[i] = r->pub.running[i - 1];
        i--;
    }
    r->pub.running[i] = q;
    r->pub.n_running++;
    q->state = q->computed < replica_prefill_target(q) ? REQ_PREFILL
                                                       : REQ_DECODE;
    return LLM_OK;
}

static void running_remove(struct replica_core *r, const struct request *q)
{
    int32_t i;

    for (i = r->pub.n_running - 1; i >= 0; i--) {
        if (r->pub.running[i] == q) {
            memmove(&r->pub.running[i], &r->pub.running[i + 1],
                    (size_t)(r->pub.n_running - i - 1) *
                    sizeof(*r->pub.running));
            r->pub.n_running--;
            return;
        }
    }
}

/* Drops q's item from this iteration's plan. */
static void unplan(struct replica_core *r, struct request *q)
{
    struct plan_item *it;

    if (q->plan_idx < 0)
        return;
    it = &r->pub.plan[q->plan_idx];
    if (it->prefill) {
        r->pub.plan_prefill_tokens -= it->tokens;
    } else {
        r->pub.plan_decodes--;
        r->pub.plan_spec_tokens -= it->tokens - 1;
    }
    it->req = NULL;
    it->tokens = 0;
    q->plan_idx = -1;
    r->pub.batch_stale = true;
}

void replica_preempt(struct replica *rv, struct request *q)
{
    struct replica_core *r = replica_core(rv);
    unplan(r, q);
    running_remove(r, q);
    r->kv->release(r->kv_p.st, q);
    r->pub.load_tokens += q->computed;     /* to be recomputed */
    q->computed = 0;
    q->state = REQ_WAITING;
    q->preemptions++;
    r->preemptions++;
    replica_wait_push_front(&r->pub, q);
}

/* A caching KV manager's grow() found tokens [computed, kv_hit_to) of q
 * in its cache: the prefill skips them and runs the rest as a chunk with
 * that prior context (issue 9).  The chunk keeps at least one token, the
 * one whose logits are sampled, as vLLM recomputes the last block. */
static void take_cached_prefix(struct replica_core *r, struct request *q,
                               int32_t *tokens)
{
    int32_t hit = q->kv_hit_to - q->computed;

    if (hit > *tokens - 1)
        hit = *tokens - 1;
    if (hit <= 0)
        return;
    q->computed += hit;
    *tokens -= hit;
    q->prefix_hit_tokens += hit;
    r->pub.load_tokens -= hit;
    r->prefix_saved_tokens += hit;
}

/* Room for n more plan items and their contexts, so that a loop adding
 * them need not test. */
static int reserve_decodes(struct replica_core *r, int32_t n)
{
    struct plan_item *it;
    int32_t *c;

    if (r->pub.n_plan + n > r->cap_plan) {
        it = grow_array(r->pub.plan, &r->cap_plan, r->pub.n_plan + n,
                        sizeof(*it));
        if (it == NULL)
            return LLM_ENOMEM;
        r->pub.plan = it;
    }
    c = grow_array(r->dctx, &r->cap_dctx, n, sizeof(*c));
    if (c == NULL)
        return LLM_ENOMEM;
    r->dctx = c;
    return LLM_OK;
}

/* The decodes just planned with speculation: verifies of decode_tokens
 * each (replica_plan_decodes). */
static int add_verifies(struct replica_core *r, const int32_t *ctx, int32_t n)
{
    int32_t i;
    int rc = LLM_OK;

    r->pub.plan_spec_tokens += (int64_t)n * (r->pub.decode_tokens - 1);
    for (i = 0; i < n && rc == LLM_OK; i++)
        rc = batch_add_verify(&r->pub.batch, r->pub.decode_tokens, ctx[i]);
    return rc;
}

/* replica_plan_decodes' loop over running[i, end) for steps of `step`
 * tokens; returns where it stopped and sets *count to the decodes
 * planned.  Inlined twice, so that a plain decode's constant step 1 keeps
 * the loop as tight as it was before speculation. */
static inline int32_t decode_loop(struct replica_core *r, int64_t now_ns,
                                  int32_t i, int32_t end, int32_t step,
                                  int32_t *count, bool *refused)
{
    int32_t np = r->pub.n_plan, n = 0;
    int64_t bt = r->pub.block_tokens;
    bool hook = r->kv->attn_tokens != NULL;
    /* Locals, not r's fields: the stores to the requests could alias. */
    struct plan_item *plan = r->pub.plan;
    int32_t *ctx = r->dctx;

    for (; i < end; i++) {
        struct request *q = r->pub.running[i];
        int64_t next = (int64_t)q->computed + step;
        if (q->plan_idx >= 0 || q->state != REQ_DECODE ||
            q->ready_ns > now_ns)
            break;
        /* One step in sixteen needs a block: a grow that fails changes
         * nothing, and what to evict is the caller's call. */
        if ((int64_t)q->kv_blocks * bt < next &&
            !r->kv->grow(r->kv_p.st, q, next)) {
            *refused = true;
            break;
        }
        ctx[n++] = hook ? attn_ctx(r, q, q->computed) : q->computed;
        q->plan_idx = np;
        plan[np++] = (struct plan_item){ .req = q, .tokens = step };
        if (q->first_sched_ns < 0)
            q->first_sched_ns = r->iter_start_ns;
    }
    r->pub.n_plan = np;
    *count = n;
    return i;
}

int replica_plan_decodes(struct replica *rv, int64_t now_ns, int64_t max,
                         int32_t *from, bool *refused)
{
    struct replica_core *r = replica_core(rv);
    int32_t i = *from, end = r->pub.n_running, n = 0;
    int32_t step = r->pub.decode_tokens;
    int rc;

    *refused = false;
    if (step > 1)
        max /= step;           /* each verify costs step tokens */
    if (max < end - i)
        end = i + (int32_t)max;
    rc = reserve_decodes(r, end - i);
    if (rc != LLM_OK)
        return rc;
    if (step == 1)
        *from = decode_loop(r, now_ns, i, end, 1, &n, refused);
    else
        *from = decode_loop(r, now_ns, i, end, step, &n, refused);
    r->pub.plan_decodes += n;
    if (step > 1)
        return add_verifies(r, r->dctx, n);
    return batch_add_decodes(&r->pub.batch, r->dctx, (size_t)n);
}

int replica_plan(struct replica *rv, struct request *q, int32_t tokens,
                 bool prefill)
{
    struct replica_core *r = replica_core(rv);
    struct plan_item it = { .req = q, .tokens = tokens, .prefill = prefill };

    if (prefill && q->kv_hit_to > q->computed)
        take_cached_prefix(r, q, &it.tokens);
    /* The batch grows with the plan; a preempted planned item makes it
     * stale and replica_begin rebuilds it. */
    return push_item(r, &it);
}

int64_t replica_link_ns(const struct replica *rv, int64_t blocks,
                        int32_t group)
{
    const struct replica_core *r = replica_core_const(rv);
    int64_t copies;

    if (blocks <= 0)
        return 0;
    if (group < 1)
        group = 1;
    copies = (int64_t)r->kv_block_segments * ((blocks + group - 1) / group);
    return copies * r->host_latency_ns +
           (int64_t)((double)blocks * r->pub.kv_block_bytes /
                     r->pub.host_bw_bytes_s * 1e9 + 0.5);
}

/* Puts a transfer on the link after what is already there; returns its
 * end.  A synchronous one holds this iteration's compute back. */
static int64_t link_transfer(struct replica_core *r, int64_t blocks,
                             int32_t group, bool sync)
{
    int64_t start = r->link_busy_until_ns > r->iter_start_ns ?
                    r->link_busy_until_ns : r->iter_start_ns;
    int64_t ns = replica_link_ns(&r->pub, blocks, group);

    r->link_busy_until_ns = start + ns;
    r->link_busy_ns += ns;
    if (sync && r->link_busy_until_ns > r->iter_stall_until_ns)
        r->iter_stall_until_ns = r->link_busy_until_ns;
    return r->link_busy_until_ns;
}

int replica_swap_out(struct replica *rv, struct request *q, int32_t group,
                     bool sync)
{
    struct replica_core *r = replica_core(rv);
    int64_t blocks = replica_swap_blocks(&r->pub, q);

    if (r->pub.host_bw_bytes_s <= 0 || r->pub.kv_block_bytes <= 0)
        return LLM_EINVAL;
    unplan(r, q);
    running_remove(r, q);
    r->kv->release(r->kv_p.st, q);
    q->host_blocks = (int32_t)blocks;
    r->pub.host_blocks += blocks;
    r->swap_out_blocks += blocks;
    r->iter_swap_out_blocks += blocks;
    r->swap_out_bytes += (double)blocks * r->pub.kv_block_bytes;
    r->swaps_out++;
    q->swaps++;
    q->preemptions++;
    r->preemptions++;
    q->ready_ns = link_transfer(r, blocks, group, sync);
    q->swap_state = q->state;
    q->state = REQ_SWAPPED;
    q->next = NULL;
    q->prev = r->swap_tail;
    if (r->swap_tail)
        r->swap_tail->next = q;
    else
        r->pub.swap_head = q;
    r->swap_tail = q;
    r->pub.n_swapped++;
    return LLM_OK;
}

void replica_swapped_remove(struct replica *rv, struct request *q)
{
    struct replica_core *r = replica_core(rv);
    if (q->prev)
        q->prev->next = q->next;
    else
        r->pub.swap_head = q->next;
    if (q->next)
        q->next->prev = q->prev;
    else
        r->swap_tail = q->prev;
    q->next = q->prev = NULL;
    r->pub.n_swapped--;
}

struct request *replica_swapped_pop(struct replica *rv)
{
    struct replica_core *r = replica_core(rv);
    struct request *q = r->pub.swap_head;

    if (q != NULL)
        replica_swapped_remove(&r->pub, q);
    return q;
}

int replica_swap_in(struct replica *rv, struct request *q, int32_t group,
                    bool sync)
{
    struct replica_core *r = replica_core(rv);
    int64_t blocks = q->host_blocks;
    int rc;

    if (r->pub.host_bw_bytes_s <= 0 || r->pub.kv_block_bytes <= 0)
        return LLM_EINVAL;
    if (!replica_kv_grow(&r->pub, q, q->computed))
        return LLM_ERANGE;
    rc = replica_admit(&r->pub, q);
    if (rc != LLM_OK) {
        r->kv->release(r->kv_p.st, q);
        return rc;
    }
    q->state = (enum req_state)q->swap_state;  /* admit cannot tell */
    r->pub.host_blocks -= blocks;
    q->host_blocks = 0;
    r->swap_in_blocks += blocks;
    r->iter_swap_in_blocks += blocks;
    r->swap_in_bytes += (double)blocks * r->pub.kv_block_bytes;
    r->swaps_in++;
    q->ready_ns = link_transfer(r, blocks, group, sync);
    if (sync)
        q->ready_ns = 0;
    return LLM_OK;
}

int replica_reject(struct replica *rv, struct request *q)
{
    struct replica_core *r = replica_core(rv);
    struct request **n = grow_array(r->rejected, &r->cap_rejected,
                                    r->n_rejected + 1, sizeof(*n));

    if (n == NULL)
        return LLM_ENOMEM;
    r->rejected = n;
    r->pub.load_tokens -= remaining_tokens(q);
    q->rejected = 1;
    q->state = REQ_DONE;
    r->rejected[r->n_rejected++] = q;
    return LLM_OK;
}

int replica_take_rejected(struct replica_core *r, replica_done_fn *done,
                          void *ctx)
{
    int32_t i;
    int rc = LLM_OK;

    for (i = 0; i < r->n_rejected && rc == LLM_OK; i++)
        rc = done(ctx, r->rejected[i]);
    r->n_rejected = 0;
    return rc;
}

bool replica_in_plan(const struct replica *rv, const struct request *q)
{
    const struct replica_core *r = replica_core_const(rv);
    (void)r;
    return q->plan_idx >= 0;
}

int64_t replica_kv_needed(const struct replica *rv, const struct request *q,
                          int64_t tokens)
{
    const struct replica_core *r = replica_core_const(rv);
    return r->kv->blocks_needed(r->kv_p.st, q, tokens);
}

bool replica_kv_grow(struct replica *rv, struct request *q, int64_t tokens)
{
    struct replica_core *r = replica_core(rv);
    return r->kv->grow(r->kv_p.st, q, tokens);
}

int64_t replica_kv_free(const struct replica *rv)
{
    const struct replica_core *r = replica_core_const(rv);
    return r->kv->free_blocks(r->kv_p.st);
}

int64_t replica_kv_used(const struct replica *rv)
{
    const struct replica_core *r = replica_core_const(rv);
    return r->kv->used_blocks(r->kv_p.st);
}

int64_t replica_kv_cached_prefix(const struct replica *rv,
                                 const uint64_t *hashes, int32_t n)
{
    const struct replica_core *r = replica_core_const(rv);
    if (r->kv->cached_prefix == NULL || hashes == NULL || n <= 0)
        return 0;
    return r->kv->cached_prefix(r->kv_p.st, hashes, n);
}

int replica_price(struct replica *rv, const struct batch *b, int64_t *ns)
{
    struct replica_core *r = replica_core(rv);
    return r->cost(r->cost_ctx, b, ns);
}

void replica_wake_at(struct replica *rv, int64_t t_ns)
{
    struct replica_core *r = replica_core(rv);
    if (r->wake_at_ns < 0 || t_ns < r->wake_at_ns)
        r->wake_at_ns = t_ns;
}

/* The context q's attention reads with ctx tokens cached: all of them
 * unless the KV manager compresses (sim/kv.h attn_tokens). */
static int32_t attn_ctx(const struct replica_core *r, const struct request *q,
                        int32_t ctx)
{
    if (r->kv == NULL || r->kv->attn_tokens == NULL)
        return ctx;
    return (int32_t)r->kv->attn_tokens(r->kv_p.st, q, ctx);
}

/* Adds one plan item to b as the cost model sees it. */
static int add_item(const struct replica_core *r, struct batch *b,
                    const struct plan_item *it)
{
    const struct request *q = it->req;
    bool final;

    if (it->pad)
        return it->prefill ? batch_add_prefill(b, it->tokens, it->pad_prior,
                                               0)
                           : batch_add_decode(b, it->tokens, it->pad_prior);
    if (q == NULL)
        return LLM_OK;
    if (!it->prefill && it->tokens > 1)
        return batch_add_verify(b, it->tokens, attn_ctx(r, q, q->computed));
    if (!it->prefill)
        return batch_add_decode(b, 1, attn_ctx(r, q, q->computed));
    /* Logits are sampled only by the chunk (or layer group) that ends the
     * prompt. */
    final = it->groups == 0 || it->group == it->groups - 1;
    return batch_add_prefill(b, it->tokens, attn_ctx(r, q, q->computed),
                             final &&
                             q->computed + it->tokens >=
                             replica_prefill_target(q));
}

/* One planned decode that holds shared prefix blocks. */
struct replica_shared {
    int64_t tokens;
    uint64_t key;
    int32_t ctx;
};

static int shared_cmp(const void *a, const void *b)
{
    const struct replica_shared *x = a, *y = b;

    if (x->tokens != y->tokens)
        return x->tokens < y->tokens ? -1 : 1;
    return x->key < y->key ? -1 : x->key > y->key;
}

/* Tells the cost model which planned decodes read the same cached prefix
 * (sim/batch.h shared_prefix): the KV manager names each decode's shared
 * chain, and decodes naming the same one form a group.  A decode whose
 * partners are not decoding this iteration forms a group of one, which
 * batch_add_shared drops. */
static int fill_shared(struct replica_core *r, struct batch *b)
{
    struct replica_shared *s;
    int32_t i, j, n = 0;
    int rc = LLM_OK;

    if (!r->shared_prefix || r->kv == NULL || r->kv->shared_prefix == NULL)
        return LLM_OK;
    s = grow_array(r->shr, &r->cap_shr, r->pub.n_plan, sizeof(*s));
    if (s == NULL)
        return LLM_ENOMEM;
    r->shr = s;
    for (i = 0; i < r->pub.n_plan; i++) {
        const struct plan_item *it = &r->pub.plan[i];
        struct replica_shared x = { 0, 0, 0 };
        if (it->pad || it->prefill || it->req == NULL || it->tokens > 1)
            continue;
        x.tokens = r->kv->shared_prefix(r->kv_p.st, it->req, &x.key);
        x.ctx = attn_ctx(r, it->req, it->req->computed);
        if (x.tokens > x.ctx)
            x.tokens = x.ctx;
        if (x.tokens > 0)
            s[n++] = x;
    }
    qsort(s, (size_t)n, sizeof(*s), shared_cmp);
    for (i = 0; i < n && rc == LLM_OK; i = j) {
        int64_t sum = 0;
        for (j = i; j < n && shared_cmp(&s[i], &s[j]) == 0; j++)
            sum += s[j].ctx;
        rc = batch_add_shared(b, j - i, (int32_t)s[i].tokens, sum);
    }
    return rc;
}

static int build_batch(struct replica_core *r)
{
    int32_t i;
    int rc = LLM_OK;

    batch_clear(&r->pub.batch);
    for (i = 0; i < r->pub.n_plan && rc == LLM_OK; i++)
        rc = add_item(r, &r->pub.batch, &r->pub.plan[i]);
    return rc;
}

static int push_item(struct replica_core *r, const struct plan_item *it)
{
    struct plan_item *n = grow_array(r->pub.plan, &r->cap_plan,
                                     r->pub.n_plan + 1, sizeof(*n));

    if (n == NULL)
        return LLM_ENOMEM;
    r->pub.plan = n;
    if (it->req)
        it->req->plan_idx = r->pub.n_plan;
    r->pub.plan[r->pub.n_plan++] = *it;
    if (it->prefill && !it->pad)
        r->pub.plan_prefill_tokens += it->tokens;
    if (!it->prefill && !it->pad) {
        r->pub.plan_decodes++;
        r->pub.plan_spec_tokens += it->tokens - 1;
    }
    if (it->req && it->req->first_sched_ns < 0)
        it->req->first_sched_ns = r->iter_start_ns;
    return add_item(r, &r->pub.batch, it);
}

int replica_plan_layers(struct replica *rv, struct request *q,
                        int32_t tokens, int32_t group, int32_t groups)
{
    struct replica_core *r = replica_core(rv);
    struct plan_item it = { .req = q, .tokens = tokens, .prefill = true,
                            .group = (int16_t)group,
                            .groups = (int16_t)groups };

    r->has_layers = true;
    return push_item(r, &it);
}

int replica_plan_pad(struct replica *rv, int32_t tokens, int32_t prior,
                     bool prefill)
{
    struct replica_core *r = replica_core(rv);
    struct plan_item it = { .tokens = tokens, .prefill = prefill,
                            .pad = true, .pad_prior = prior };

    if (tokens <= 0)
        return LLM_OK;
    r->n_pad++;
    return push_item(r, &it);
}

/* A layered iteration costs what it costs without its layered items (B)
 * plus the share 1/groups of what they add to it (A - B): the decodes
 * and other work run every layer, the layered prefill only one group. */
static int price_layers(struct replica_core *r, int64_t *dur_ns)
{
    int32_t i, groups = 1;
    int64_t base_ns;
    int rc = LLM_OK;

    batch_clear(&r->layer_base);
    for (i = 0; i < r->pub.n_plan && rc == LLM_OK; i++) {
        if (r->pub.plan[i].groups > 0 && r->pub.plan[i].req != NULL)
            groups = r->pub.plan[i].groups;
        else
            rc = add_item(r, &r->layer_base, &r->pub.plan[i]);
    }
    if (rc == LLM_OK)
        rc = r->cost(r->cost_ctx, &r->layer_base, &base_ns);
    if (rc == LLM_OK && *dur_ns > base_ns)
        *dur_ns = base_ns + (*dur_ns - base_ns) / groups;
    return rc;
}

/* A tiered KV manager starts the transfers this plan's allocations asked
 * for; the compute waits for the prefetches (sim/kv.h sync). */
static int kv_sync(struct replica_core *r, int64_t now_ns)
{
    int64_t ready_ns;
    int rc;

    if (r->kv->sync == NULL)
        return LLM_OK;
    rc = r->kv->sync(r->kv_p.st, now_ns, &ready_ns);
    if (rc == LLM_OK && r->kv->sync_overlaps)
        r->iter_load_until_ns = ready_ns;
    else if (rc == LLM_OK && ready_ns > r->iter_stall_until_ns)
        r->iter_stall_until_ns = ready_ns;
    return rc;
}

/* Whether the plan just made is one plain decode of each running
 * request in running order and nothing else, with nothing the next
 * planning would redo (swaps, padding, layers, a wake, speculation). */
static bool plan_is_steady(const struct replica_core *r)
{
    int32_t i, n = r->pub.n_plan;

    if (n == 0 || n != r->pub.n_running || r->pub.plan_decodes != n ||
        r->pub.plan_prefill_tokens != 0 || r->pub.plan_spec_tokens != 0 ||
        r->n_pad != 0 || r->has_layers || r->pub.batch_stale ||
        r->spec != NULL || r->wake_at_ns >= 0 || r->n_rejected != 0 ||
        r->iter_swap_out_blocks != 0 || r->iter_swap_in_blocks != 0 ||
        r->pub.batch.n_prefill != 0 || r->pub.batch.n_shared != 0)
        return false;
    for (i = 0; i < n; i++)
        if (r->pub.plan[i].req != r->pub.running[i] ||
            r->pub.plan[i].tokens != 1 || r->pub.plan[i].prefill)
            return false;
    return true;
}

/* The replica's side of a repeat: the last plan was steady, nothing
 * waits, is swapped or holds KV, the KV manager needs no per-iteration
 * pass, and the scheduler says its pass would change nothing. */
static bool repeat_possible(struct replica_core *r)
{
    return r->steady && r->steady_n == r->pub.n_running &&
           r->pub.wait_head == NULL && r->pub.swap_head == NULL &&
           r->pub.n_holding == 0 && !r->shared_prefix &&
           r->kv->sync == NULL && r->kv->attn_tokens == NULL &&
           r->sched->steady != NULL &&
           r->sched->steady(r->sched_p.st, &r->pub);
}

/* The batch's decode contexts moved by delta tokens. */
static void shift_decodes(struct replica_core *r, int32_t delta)
{
    size_t g;

    for (g = 0; g < r->pub.batch.n_decode; g++)
        r->pub.batch.decode[g].ctx += delta;
    r->pub.batch.decode_ctx_sum += r->pub.batch.decode_seqs * delta;
}

/* The steady repeat (sched_ops.steady, issue 24): when the last plan was
 * one decode of each running request and the same requests still run,
 * all decoding and ready, nothing waits and nothing is swapped, the
 * scheduler would plan the same decodes again; each needs a block when
 * its step crosses one, grown in running order as replica_plan_decodes
 * grows them.  The batch is the last one with every context one token
 * on: consecutive equal contexts stay equal, so the groups keep their
 * counts.  Returns false, having changed nothing but KV grows the
 * scheduler's own pass makes first in the same order (a refused grow
 * changes nothing, sim/kv.h), when any condition fails. */
static bool steady_repeat(struct replica_core *r, int64_t now_ns)
{
    struct request **run = r->pub.running;
    struct plan_item *plan = r->pub.plan;
    int32_t i, n = r->steady_n;
    int64_t bt = r->pub.block_tokens;

    if (!repeat_possible(r))
        return false;
    for (i = 0; i < n; i++) {
        struct request *q = run[i];
        int64_t next = (int64_t)q->computed + 1;
        /* replica_plan_decodes' own tests and grows, in its order: what
         * fails here fails there at the same request */
        if (plan[i].req != q || q->plan_idx >= 0 ||
            q->state != REQ_DECODE || q->ready_ns > now_ns ||
            ((int64_t)q->kv_blocks * bt < next &&
             !r->kv->grow(r->kv_p.st, q, next)))
            break;
        q->plan_idx = i;
    }
    if (i < n) {
        while (i-- > 0)
            run[i]->plan_idx = -1;
        return false;
    }
    r->pub.n_plan = n;
    r->pub.plan_decodes = n;
    r->wake_at_ns = -1;
    shift_decodes(r, 1);
    r->steady_repeats++;
    return true;
}

/* One planning pass over an empty plan. */
static int plan_once(struct replica_core *r, int64_t now_ns)
{
    int rc;

    if (steady_repeat(r, now_ns))
        return LLM_OK;

    r->pub.n_plan = 0;
    r->n_pad = 0;
    r->has_layers = false;
    r->pub.plan_prefill_tokens = 0;
    r->pub.plan_decodes = 0;
    r->plan_pad_tokens = 0;
    r->plan_graph = BATCH_GRAPH_UNSET;
    r->pub.plan_spec_tokens = 0;
    r->wake_at_ns = -1;
    r->pub.batch_stale = false;
    batch_clear(&r->pub.batch);
    rc = r->sched->schedule(r->sched_p.st, &r->pub, now_ns);
    if (rc == LLM_OK)
        rc = kv_sync(r, now_ns);
    if (rc == LLM_OK && r->pub.batch_stale)
        rc = build_batch(r);
    r->steady = rc == LLM_OK && plan_is_steady(r);
    r->steady_n = r->pub.n_plan;
    return rc;
}

/* The engine has processed the last iteration's output: the requests it
 * finished give back their KV blocks and slots (done() comes with
 * replica_take_held). */
static void release_held(struct replica_core *r)
{
    int32_t i;

    for (i = 0; i < r->pub.n_holding; i++)
        r->kv->release(r->kv_p.st, r->held[i]);
    r->pub.n_holding = 0;
}

/* Plans the iteration starting at now: with async lag, as the engine
 * planned it while the last one ran (sim/replica_view.h async_lag). */
static int plan(struct replica_core *r, int64_t now_ns)
{
    bool lag = r->lag && r->last_end_ns == now_ns;
    int rc;

    r->pub.admit_cutoff_ns = lag ? r->last_start_ns : INT64_MAX;
    if (!lag)
        release_held(r);
    rc = plan_once(r, now_ns);
    release_held(r);
    if (rc == LLM_OK && lag && batch_tokens(&r->pub.batch) == 0) {
        /* Nothing was launched: the engine waits for the last output,
         * then plans with everything it has by then. */
        r->pub.admit_cutoff_ns = INT64_MAX;
        rc = plan_once(r, now_ns);
    }
    /* The queue is in arrival order (preempted requests, older, at its
     * front): its head is the first the engine could have seen. */
    r->plan_backlog = r->pub.wait_head != NULL &&
                      r->pub.wait_head->arrival_ns <= r->pub.admit_cutoff_ns;
    r->pub.admit_cutoff_ns = INT64_MAX;
    r->pub.batch.pad_tokens = r->plan_pad_tokens;
    r->pub.batch.graph = r->plan_graph;
    return rc;
}

/* Fast-forward (replica_config.fast_forward): the plan just priced at
 * *dur_ns is steady and the next ones would repeat it, so up to ff_max
 * of them run as one span, as long as no request finishes before its
 * last and the KV manager grows every request for all of them (in
 * running order, as replica_plan_decodes would; a refused grow ends the
 * span where the blocks run out).  The span's last iteration is priced
 * too and the ones between are taken as linear between the two: the
 * batch is left as the last one's.  *dur_ns becomes the span's. */
static int span_plan(struct replica_core *r, int64_t *dur_ns)
{
    struct request **run = r->pub.running;
    int32_t i, n = r->pub.n_plan;
    int64_t k = r->ff_max, bt = r->pub.block_tokens, last_ns;
    int rc;

    if (k <= 1 || r->has_layers || r->iter_stall_until_ns != r->iter_start_ns
        || r->iter_load_until_ns != r->iter_start_ns || r->n_pad != 0 ||
        r->steady_n != n || !repeat_possible(r))
        return LLM_OK;
    for (i = 0; i < n && k > 1; i++)
        if (run[i]->output_tokens - run[i]->generated < k)
            k = run[i]->output_tokens - run[i]->generated;
    r->span_kv0 = replica_kv_used(&r->pub);
    for (i = 0; i < n && k > 1; i++) {
        struct request *q = run[i];
        if ((int64_t)q->kv_blocks * bt < q->computed + k &&
            !r->kv->grow(r->kv_p.st, q, q->computed + k))
            k = (int64_t)q->kv_blocks * bt - q->computed;
    }
    if (k <= 1)
        return LLM_OK;
    shift_decodes(r, (int32_t)k - 1);
    rc = r->cost(r->cost_ctx, &r->pub.batch, &last_ns);
    if (rc != LLM_OK)
        return rc;
    r->span_iters = (int32_t)k;
    r->span_den = (int32_t)k - 1;
    r->span_d0 = *dur_ns;
    r->span_delta = last_ns - *dur_ns;
    r->spans++;
    *dur_ns = span_iter_end(0, r->span_d0, r->span_delta, r->span_den,
                            r->span_iters - 1);
    return LLM_OK;
}

int64_t replica_truncate(struct replica_core *r, int64_t now_ns)
{
    int32_t j;

    if (!r->busy || r->span_iters <= 1)
        return -1;
    for (j = 0; j < r->span_iters - 1; j++)
        if (span_iter_end(r->iter_start_ns, r->span_d0, r->span_delta,
                          r->span_den, j) >= now_ns)
            break;
    /* Async lag: the iteration after j was planned while j ran. */
    if (r->lag && j < r->span_iters - 1)
        j++;
    if (j == r->span_iters - 1)
        return -1;
    shift_decodes(r, j + 1 - r->span_iters);
    r->span_iters = j + 1;
    return span_iter_end(r->iter_start_ns, r->span_d0, r->span_delta,
                         r->span_den, j);
}

int replica_begin(struct replica_core *r, int64_t now_ns, int64_t *dur_ns)
{
    int64_t preempted = r->preemptions;
    int rc;

    r->iter_start_ns = now_ns;
    r->iter_stall_until_ns = r->iter_load_until_ns = now_ns;
    r->iter_swap_out_blocks = r->iter_swap_in_blocks = 0;
    r->iter_stall_ns = 0;
    *dur_ns = -1;
    rc = plan(r, now_ns);
    if (rc != LLM_OK)
        return rc;
    r->iter_preempted = r->preemptions - preempted;
    if (batch_tokens(&r->pub.batch) == 0)
        return LLM_OK;
    rc = fill_shared(r, &r->pub.batch);
    if (rc == LLM_OK)
        rc = r->cost(r->cost_ctx, &r->pub.batch, dur_ns);
    if (rc == LLM_OK && r->has_layers)
        rc = price_layers(r, dur_ns);
    if (rc == LLM_OK && r->spec != NULL)
        rc = spec_price_step(r->spec, &r->pub.batch, *dur_ns, dur_ns);
    if (rc == LLM_OK && r->ff_max > 1)
        rc = span_plan(r, dur_ns);
    /* Overlapped loads (kv sync_overlaps): the longer of the two. */
    if (rc == LLM_OK && r->iter_load_until_ns - now_ns > *dur_ns)
        *dur_ns = r->iter_load_until_ns - now_ns;
    if (rc == LLM_OK) {
        /* Synchronous swaps run before the forward pass (vLLM issues
         * them ahead of the model on the same stream). */
        r->iter_stall_ns = r->iter_stall_until_ns - now_ns;
        *dur_ns += r->iter_stall_ns;
        r->busy = true;
        r->iterations++;
    }
    return rc;
}

void replica_set_graph(struct replica *rv, int64_t pad_tokens,
                       enum batch_graph graph)
{
    struct replica_core *r = replica_core(rv);
    r->plan_pad_tokens = pad_tokens;
    r->plan_graph = graph;
}

/* Counts one inter-token gap; consecutive equal gaps share a pair (the
 * decodes of one iteration mostly last produced a token together). */
static inline __attribute__((always_inline))
int note_gaps(struct replica_core *r, int64_t gap_ns, int64_t count)
{
    struct itl_pair *n;

    if (r->n_itl > 0 && r->itl[r->n_itl - 1].gap_ns == gap_ns) {
        r->itl[r->n_itl - 1].count += count;
        return LLM_OK;
    }
    n = grow_array(r->itl, &r->cap_itl, r->n_itl + 1, sizeof(*n));
    if (n == NULL)
        return LLM_ENOMEM;
    r->itl = n;
    r->itl[r->n_itl++] = (struct itl_pair){ gap_ns, count };
    return LLM_OK;
}

/* Remembers a request that ended, so that only an iteration where some
 * request ended pays for compacting the running set. */
static int note_finished(struct replica_core *r, struct request *q)
{
    struct request **n = grow_array(r->finished, &r->cap_finished,
                                    r->n_finished + 1, sizeof(*n));

    if (n == NULL)
        return LLM_ENOMEM;
    r->finished = n;
    r->finished[r->n_finished++] = q;
    return LLM_OK;
}

/* A verify's end: how many tokens it produces, the accepted drafts and
 * the target's own token, which come out together (one inter-token gap:
 * they reach the client in one streamed chunk, which is what vllm bench
 * serve times); tokens past the request's output are dropped, as vLLM
 * stops at max_tokens.  The KV keeps the slots of the rejected drafts,
 * which the next verify overwrites (vLLM rolls back num_computed_tokens
 * only); all of it is released when the request ends. */
static int32_t verified_tokens(struct replica_core *r, const struct request *q,
                               int32_t tokens)
{
    int32_t n = spec_accept(r->spec, tokens - 1) + 1;

    return n < q->output_tokens - q->generated ? n :
           q->output_tokens - q->generated;
}

/* q produced its last token at now (rc: the caller's status so far). */
static int finish(struct replica_core *r, struct request *q, int64_t now_ns,
                  int rc)
{
    q->state = REQ_DONE;
    q->finish_ns = now_ns;
    /* Async lag: the engine learns of the finish after planning the next
     * iteration; replica_begin releases the KV then. */
    if (!r->lag)
        r->kv->release(r->kv_p.st, q);
    if (rc == LLM_OK)
        rc = note_finished(r, q);
    return rc;
}

/* Applies one plan item at the iteration's end; spec: the replica
 * speculates (a constant at each of the two calls, so that without
 * speculation the test disappears: hence always inlined). */
static inline __attribute__((always_inline))
int advance(struct replica_core *r, const struct plan_item *it, int64_t now_ns,
            bool spec)
{
    struct request *q = it->req;
    int32_t n = it->tokens, out = 1;
    int rc = LLM_OK;

    q->plan_idx = -1;
    if (it->groups > 0 && it->group < it->groups - 1)
        return LLM_OK;         /* a layer group before the last */
    if (spec && n > 1 && !it->prefill)
        n = out = verified_tokens(r, q, n);
    q->computed += n;
    r->pub.load_tokens -= n;
    if (it->prefill && q->computed < replica_prefill_target(q))
        return LLM_OK;         /* a chunk in the middle of the prompt */
    if (q->generated > 0) {
        rc = note_gaps(r, now_ns - q->last_token_ns, 1);
        req_note_gap_ema(q, now_ns - q->last_token_ns);
    }
    q->generated += out;
    if (q->first_token_ns < 0)
        q->first_token_ns = now_ns;
    q->last_token_ns = now_ns;
    q->state = REQ_DECODE;
    if (q->generated < q->output_tokens)
        return rc;
    return finish(r, q, now_ns, rc);
}

/* Ends a fast-forwarded span of k steady decodes (span_plan) at now: each
 * request moves k tokens on.  Its first gap is its own; the other k - 1
 * are the span's iteration times, the same for every request, so its gap
 * EMA takes them as one affine step (w^(k-1) x + s, s summed once), and
 * its maximum is checked at the span's first and last token. */
static int span_advance(struct replica_core *r, int64_t now_ns)
{
    const double w = REQ_GAP_EMA_W;
    int32_t i, j, k = r->span_iters;
    int64_t start = r->iter_start_ns, prev, end;
    int64_t end0 = span_iter_end(start, r->span_d0, r->span_delta,
                                 r->span_den, 0);
    double wk = 1, s_num = 0, s_den = 0;
    int rc = LLM_OK;

    for (j = 1, prev = end0; j < k; j++, prev = end) {
        end = span_iter_end(start, r->span_d0, r->span_delta, r->span_den,
                            j);
        s_num = (double)(end - prev) + w * s_num;
        s_den = 1.0 + w * s_den;
        wk *= w;
    }
    for (i = 0; i < r->pub.n_plan && rc == LLM_OK; i++) {
        struct request *q = r->pub.plan[i].req;
        q->plan_idx = -1;
        q->computed += k;
        r->pub.load_tokens -= k;
        rc = note_gaps(r, end0 - q->last_token_ns, 1);
        req_note_gap_ema(q, end0 - q->last_token_ns);
        q->gap_ema_num = wk * q->gap_ema_num + s_num;
        q->gap_ema_den = wk * q->gap_ema_den + s_den;
        if (q->gap_ema_num > (double)q->gap_ema_max_ns * q->gap_ema_den)
            q->gap_ema_max_ns = (int64_t)(q->gap_ema_num / q->gap_ema_den +
                                          0.5);
        q->generated += k;
        q->last_token_ns = now_ns;
        if (rc == LLM_OK && q->generated >= q->output_tokens)
            rc = finish(r, q, now_ns, rc);
    }
    for (j = 1, prev = end0; j < k && rc == LLM_OK; j++, prev = end) {
        end = span_iter_end(start, r->span_d0, r->span_delta, r->span_den,
                            j);
        rc = note_gaps(r, end - prev, r->pub.n_plan);
    }
    r->iterations += k - 1;
    return rc;
}

/* Async lag: this iteration's finished requests wait, KV held, for the
 * next planning (release_held) and replica_take_held.  Any left from
 * before (a caller that skipped replica_take_held) have released theirs
 * and move behind the new ones, so that held[0, n_holding) hold KV. */
static int hold_finished(struct replica_core *r)
{
    struct request **n;

    release_held(r);
    if (r->n_finished == 0)
        return LLM_OK;
    n = grow_array(r->held, &r->cap_held, r->n_held + r->n_finished,
                   sizeof(*n));
    if (n == NULL)
        return LLM_ENOMEM;
    r->held = n;
    memmove(n + r->n_finished, n, (size_t)r->n_held * sizeof(*n));
    memcpy(n, r->finished, (size_t)r->n_finished * sizeof(*n));
    r->n_held += r->n_finished;
    r->pub.n_holding = r->n_finished;
    return LLM_OK;
}

/* Marks a running request that is being handed off (sim/cluster.h):
 * never a valid plan index. */
#define PLAN_HANDOFF (-2)

/* A prefill replica's requests that just produced their first token and
 * still decode leave for a decode replica, keeping their KV here until
 * the transfer lands. */
static int collect_handoffs(struct replica_core *r)
{
    int32_t i;

    for (i = 0; i < r->pub.n_plan; i++) {
        struct request *q = r->pub.plan[i].req;
        struct request **n;
        if (q == NULL || q->state != REQ_DECODE || q->generated != 1 ||
            q->plan_idx == PLAN_HANDOFF)
            continue;
        n = grow_array(r->handoff, &r->cap_handoff, r->n_handoff + 1,
                       sizeof(*n));
        if (n == NULL)
            return LLM_ENOMEM;
        r->handoff = n;
        r->pub.load_tokens -= remaining_tokens(q);
        q->plan_idx = PLAN_HANDOFF;
        q->prefill_replica = r->pub.index;
        r->handoff[r->n_handoff++] = q;
    }
    return LLM_OK;
}

int replica_take_handoffs(struct replica_core *r, replica_done_fn *fn,
                          void *ctx)
{
    int32_t i;
    int rc = LLM_OK;

    for (i = 0; i < r->n_handoff; i++) {
        r->handoff[i]->plan_idx = -1;
        if (rc == LLM_OK)
            rc = fn(ctx, r->handoff[i]);
    }
    r->n_handoff = 0;
    return rc;
}

int replica_accept_decode(struct replica_core *r, struct request *q)
{
    int rc = replica_admit(&r->pub, q);

    if (rc != LLM_OK)
        return rc;
    q->state = REQ_DECODE;     /* admit reads computed < target as prefill */
    q->replica = r->pub.index;
    q->plan_idx = -1;
    r->pub.load_tokens += remaining_tokens(q);
    return LLM_OK;
}

void replica_kv_drop(struct replica_core *r, const struct request *q,
                     int32_t blocks)
{
    /* The manager releases what the request record says it holds; a
     * copy carries the source's count and record. */
    struct request tmp = *q;

    tmp.kv_blocks = blocks;
    tmp.kv_slot = q->kv_src_slot;
    r->kv->release(r->kv_p.st, &tmp);
}

void replica_share_kv(struct replica_core *r, const struct replica_core *owner)
{
    if (!r->kv_shared)
        plugin_stop(&r->kv_p);
    r->kv = owner->kv;
    r->kv_p = (struct plugin){ owner->kv_p.st, NULL };  /* owner's fini */
    r->pub.kv_capacity = owner->pub.kv_capacity;
    r->kv_shared = true;
}

int replica_end(struct replica_core *r, int64_t now_ns, replica_done_fn *done,
                void *ctx, struct iter_record *rec)
{
    int32_t i, j, handoffs;
    int rc = LLM_OK;

    *rec = (struct iter_record){ .replica = r->pub.index,
        .start_ns = r->iter_start_ns, .end_ns = now_ns,
        .iters = r->span_iters,
        .iter0_ns = r->span_iters > 1 ? r->span_d0 : now_ns - r->iter_start_ns,
        .wait_from_ns = r->pub.wait_head ? r->pub.wait_head->arrival_ns
                                         : INT64_MAX,
        .iter_delta_ns = r->span_delta, .iter_den = r->span_den,
        .prefill_tokens = r->pub.batch.prefill_tokens -
                          r->pub.batch.verify_tokens,
        .prefill_seqs = (int32_t)(r->pub.batch.n_prefill -
                                  r->pub.batch.verify_seqs),
        .decode_seqs = (int32_t)(r->pub.batch.decode_seqs +
                                 r->pub.batch.verify_seqs),
        .kv_blocks_used = replica_kv_used(&r->pub),
        .n_waiting = r->pub.n_waiting, .n_running = r->pub.n_running,
        .preemptions = (int32_t)r->iter_preempted,
        .n_swapped = r->pub.n_swapped,
        .swap_out_blocks = r->iter_swap_out_blocks,
        .swap_in_blocks = r->iter_swap_in_blocks,
        .stall_ns = r->iter_stall_ns, .backlog = r->plan_backlog,
        .pad_tokens = r->pub.batch.pad_tokens };
    rec->kv_blocks_used0 = r->span_iters > 1 ? r->span_kv0
                                             : rec->kv_blocks_used;
    if (r->kv->tiers)
        rec->n_tiers = r->kv->tiers(r->kv_p.st, rec->tiers, KV_MAX_TIERS);
    r->busy = false;
    r->n_itl = 0;
    r->n_finished = 0;
    if (r->span_iters > 1) {
        rc = span_advance(r, now_ns);
    } else if (r->spec != NULL) {
        for (i = 0; i < r->pub.n_plan && rc == LLM_OK; i++)
            if (r->pub.plan[i].req != NULL)
                rc = advance(r, &r->pub.plan[i], now_ns, true);
    } else {
        for (i = 0; i < r->pub.n_plan && rc == LLM_OK; i++)
            if (r->pub.plan[i].req != NULL)
                rc = advance(r, &r->pub.plan[i], now_ns, false);
    }
    rec->itl = r->itl;
    rec->n_itl = r->n_itl;
    r->busy_ns += now_ns - r->iter_start_ns;
    handoffs = r->n_handoff;
    if (rc == LLM_OK && r->role == REPLICA_PREFILL)
        rc = collect_handoffs(r);
    /* Drop finished (and handed-off) requests from running, keeping the
     * order; most iterations end none and skip this. */
    if (r->n_finished > 0 || r->n_handoff != handoffs) {
        for (i = j = 0; i < r->pub.n_running; i++)
            if (r->pub.running[i]->state != REQ_DONE &&
                r->pub.running[i]->plan_idx != PLAN_HANDOFF)
                r->pub.running[j++] = r->pub.running[i];
        r->pub.n_running = j;
    }
    /* The last iteration's start: async lag's admission cutoff. */
    r->last_start_ns = r->span_iters > 1 ?
        span_iter_end(r->iter_start_ns, r->span_d0, r->span_delta,
                      r->span_den, r->span_iters - 2) : r->iter_start_ns;
    r->last_end_ns = now_ns;
    r->span_iters = r->span_den = 1;
    r->span_delta = 0;
    if (rc == LLM_OK && r->lag)
        rc = hold_finished(r);
    /* In plan order, as the requests ended. */
    for (i = 0; i < r->n_finished && rc == LLM_OK && !r->lag; i++)
        rc = done(ctx, r->finished[i]);
    r->n_finished = 0;
    r->pub.n_plan = 0;
    return rc;
}

int replica_take_held(struct replica_core *r, replica_done_fn *done, void *ctx)
{
    int32_t i;
    int rc = LLM_OK;

    release_held(r);
    for (i = 0; i < r->n_held && rc == LLM_OK; i++)
        rc = done(ctx, r->held[i]);
    r->n_held = 0;
    return rc;
}
