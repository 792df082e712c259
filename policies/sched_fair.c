/* policies/sched_fair.c: fairness across tenants, after the Virtual Token
 * Counter (VTC) and FastSwitch.
 *
 * Each tenant (request.tenant) has a counter of the service it received:
 * input_weight per prefill token and output_weight per decoded token,
 * divided by the tenant's weight (tenant_weights[t], default 1).  When a
 * tenant with nothing queued sends a request, its counter is lifted to
 * the least counter of the tenants with queued work (or, if none, of the
 * last tenant whose queue emptied), so idle time earns no credit (VTC).
 * Iterations are built as Sarathi-Serve's within max_num_batched_tokens
 * (decodes, continued prompt chunks, then new work), but new work is
 * taken from the tenant with the least counter, its earliest request,
 * swapped-out ones included (swapped in when their blocks fit above the
 * watermark); the first that does not fit stops admission.
 * Priority preemption (FastSwitch): every quantum_iters iterations, when
 * that request does not fit, running requests of the tenant with the
 * largest counter are evicted (newest first) while that counter exceeds
 * the candidate's by more than preempt_margin tokens.  The same victim
 * rule applies when a running request cannot grow.  Evicted requests are
 * swapped to host memory by default ("preemption"; recompute when the
 * host is full): the context-switch cost is the host-link time of
 * 2 x layers x ceil(blocks / swap_group_blocks) copies plus the bytes,
 * so swap_group_blocks 1 is vLLM's block-by-block copy and larger groups
 * are FastSwitch's block groups; swap_overlap lets transfers run beside
 * compute (FastSwitch's asynchronous swapping) instead of stalling it.
 * References: Sheng et al., "Fairness in Serving Large Language Models",
 * OSDI'24, Algorithm 2 (weights 1 and 2 from its section 5); Shen et al.,
 * "FastSwitch" (arXiv 2411.18424). */
#include <stdlib.h>

#include "policies/common.h"
#include "policies/registry.h"
#include "base/jcfg.h"

#define FAIR_MAX_TENANTS (1 << 20)

struct tenant {
    double vtc;                /* virtual tokens served / weight */
    double weight;
    int64_t queued;            /* waiting or swapped requests */
};

struct fair {
    struct pol_limits lim;
    struct pol_evict ev;
    double w_in, w_out, margin;
    double *weights;           /* from the config, n_weights of them */
    int32_t n_weights;
    struct tenant *t;
    int32_t n_t;
    bool preempt;
    int64_t quantum, iter;
    double last_left;          /* counter of the last tenant to empty */
    int err;                   /* from enqueue, reported by schedule */
};

static void fair_fini(void *st)
{
    struct fair *f = st;

    free(f->weights);
    free(f->t);
    f->weights = NULL;
    f->t = NULL;
}

static int read_weights(struct fair *f, const cJSON *params,
                        const char *path, struct llm_diag *d)
{
    const cJSON *arr = NULL, *it;
    int32_t i = 0;
    int rc = jcfg_arr(params, path, "tenant_weights", false, &arr, d);

    if (rc || arr == NULL)
        return rc;
    f->n_weights = cJSON_GetArraySize(arr);
    f->weights = calloc((size_t)f->n_weights + 1, sizeof(*f->weights));
    if (f->weights == NULL)
        return diag_set(d, LLM_ENOMEM, "out of memory");
    cJSON_ArrayForEach(it, arr) {
        if (!cJSON_IsNumber(it) || !(it->valuedouble > 0))
            return diag_set(d, LLM_EINVAL, "%s.tenant_weights[%d]: expected "
                            "a number > 0", path, i);
        f->weights[i++] = it->valuedouble;
    }
    return LLM_OK;
}

/* preempt_margin's default: the most service one iteration can add to a
 * tenant's counter, max(input_weight x token budget, output_weight x
 * sequences).  VTC alone keeps backlogged tenants within a bound of that
 * order (Sheng et al. OSDI'24, Theorem 4.4: 2 max(w_p L_input, w_q M))
 * by admission order, with no context switch; FastSwitch preempts only
 * across a priority margin.  A smaller gap is closed by admission order,
 * so evicting for it only swaps the same requests back and forth (issue
 * 17: at margin 0, 27.5 preemptions per light-tenant request). */
static int default_margin(struct fair *f)
{
    double a = f->w_in * (double)f->lim.max_tokens;
    double b = f->w_out * (double)f->lim.max_seqs;

    if (f->margin < 0)
        f->margin = a > b ? a : b;
    return LLM_OK;
}

static int fair_init(void *st, const cJSON *params, const char *path,
                     struct llm_diag *d)
{
    static const char *const keys[] = { "name", "max_num_seqs",
        "max_num_batched_tokens", "watermark", "input_weight",
        "output_weight", "tenant_weights", "preempt", "quantum_iters",
        "preempt_margin", "preemption", "swap_space_gib",
        "swap_group_blocks", "swap_overlap", NULL };
    struct fair *f = st;
    int rc;

    f->lim = (struct pol_limits){ .max_seqs = 256, .max_tokens = 2048,
                                  .watermark = 0.01 };
    f->ev = (struct pol_evict){ .swap = true, .swap_space_gib = 4,
                                .group_blocks = 1, .sync = true };
    f->w_in = 1;
    f->w_out = 2;
    f->preempt = true;
    f->quantum = 10;
    f->margin = -1;                /* default: default_margin() */
    if (params == NULL)
        return default_margin(f);
    rc = jcfg_known(params, path, keys, d);
    if (!rc) rc = pol_read_limits(params, path, &f->lim, d);
    if (!rc) rc = pol_read_evict(params, path, &f->ev, d);
    if (!rc) rc = jcfg_num(params, path, "input_weight", false, 0, 1e6,
                           &f->w_in, d);
    if (!rc) rc = jcfg_num(params, path, "output_weight", false, 0, 1e6,
                           &f->w_out, d);
    if (!rc) rc = jcfg_bool(params, path, "preempt", false, &f->preempt, d);
    if (!rc) rc = jcfg_int(params, path, "quantum_iters", false, 1, 1 << 30,
                           &f->quantum, d);
    if (!rc) rc = jcfg_num(params, path, "preempt_margin", false, 0, 1e15,
                           &f->margin, d);
    if (!rc) rc = read_weights(f, params, path, d);
    if (rc)
        fair_fini(f);
    return rc ? rc : default_margin(f);
}

static int fair_attach(void *st, const struct replica *r, const char *path,
                       struct llm_diag *d)
{
    return pol_attach_evict(&((struct fair *)st)->ev, r, path, d);
}

/* The tenant record of q, created on first sight; NULL: out of range or
 * out of memory (f->err says which). */
static struct tenant *tenant_of(struct fair *f, const struct request *q)
{
    int32_t id = q->tenant, i;
    struct tenant *n;

    if (id < 0 || id >= FAIR_MAX_TENANTS) {
        f->err = f->err ? f->err : LLM_ERANGE;
        return NULL;
    }
    if (id >= f->n_t) {
        n = realloc(f->t, (size_t)(id + 1) * sizeof(*n));
        if (n == NULL) {
            f->err = f->err ? f->err : LLM_ENOMEM;
            return NULL;
        }
        for (i = f->n_t; i <= id; i++)
            n[i] = (struct tenant){ .weight = i < f->n_weights ?
                                    f->weights[i] : 1.0 };
        f->t = n;
        f->n_t = id + 1;
    }
    return &f->t[id];
}

/* VTC's counter lift for a tenant that joins the queue. */
static void fair_enqueue(void *st, struct replica *r, struct request *q)
{
    struct fair *f = st;
    struct tenant *t = tenant_of(f, q);
    double lift = f->last_left;
    bool any = false;
    int32_t i;

    (void)r;
    if (t == NULL)
        return;
    if (t->queued == 0) {
        for (i = 0; i < f->n_t; i++) {
            if (f->t[i].queued > 0 && (!any || f->t[i].vtc < lift)) {
                lift = f->t[i].vtc;
                any = true;
            }
        }
        if (lift > t->vtc)
            t->vtc = lift;
    }
    t->queued++;
}

static void left_queue(struct fair *f, struct tenant *t)
{
    if (--t->queued == 0)
        f->last_left = t->vtc;
}

/* The tenant with queued work and the least counter (lowest id on ties);
 * its earliest waiting or swapped request. */
static struct request *fair_pick(struct fair *f, struct replica *r)
{
    struct request *q, *best = NULL;
    int32_t i, k = -1;

    for (i = 0; i < f->n_t; i++)
        if (f->t[i].queued > 0 && (k < 0 || f->t[i].vtc < f->t[k].vtc))
            k = i;
    if (k < 0)
        return NULL;
    for (q = r->wait_head; q != NULL && best == NULL; q = q->next)
        if (q->tenant == k)
            best = q;
    for (q = r->swap_head; q != NULL; q = q->next)
        if (q->tenant == k && (best == NULL || q->id < best->id))
            best = q;
    return best;
}

/* The newest running request of the tenant with the largest counter,
 * if that counter is above `above`; NULL: none.  Counted as queued
 * again, since the caller evicts it. */
static struct request *victim_above(struct fair *f, struct replica *r,
                                    double above)
{
    struct request *v = NULL;
    int32_t i;

    for (i = 0; i < r->n_running; i++) {
        struct request *q = r->running[i];
        if (v == NULL || f->t[q->tenant].vtc >= f->t[v->tenant].vtc)
            v = q;
    }
    if (v == NULL || !(f->t[v->tenant].vtc > above))
        return NULL;
    f->t[v->tenant].queued++;
    return v;
}

/* pol_victim_fn for a request that cannot grow: the most served tenant's
 * newest request when that tenant leads q's by more than the margin, else
 * q's own tenant's newest (possibly q itself): a tenant just ahead of
 * q's is not evicted for it, so two tenants whose counters cross do not
 * take turns evicting each other. */
static struct request *fair_victim(void *ctx, struct replica *r,
                                   const struct request *q)
{
    struct fair *f = ctx;
    struct request *v = victim_above(f, r, f->t[q->tenant].vtc + f->margin);
    int32_t i;

    if (v != NULL)
        return v;
    for (i = r->n_running; i-- > 0;)
        if (r->running[i]->tenant == q->tenant) {
            f->t[q->tenant].queued++;
            return r->running[i];
        }
    return victim_above(f, r, -1);
}

/* Whether q's next step fits: a swap-in's blocks, or a first chunk. */
static bool fits(const struct fair *f, struct replica *r,
                 const struct request *q, const struct pol_pass *p)
{
    int64_t n = q->state == REQ_SWAPPED ? 1 :
                replica_prefill_target(q) - q->computed;

    if (n > pol_tokens_left(p, r))
        n = pol_tokens_left(p, r);
    return n > 0 && r->n_running + 1 <= f->lim.max_seqs &&
           replica_kv_free(r) - replica_kv_needed(r, q, q->computed + n) >=
           pol_watermark_blocks(&f->lim, r);
}

/* Starts q: swapped in, or admitted with its first chunk. */
static int start(struct fair *f, struct replica *r, struct request *q,
                 const struct pol_pass *p)
{
    int64_t n = replica_prefill_target(q) - q->computed;
    int rc;

    left_queue(f, &f->t[q->tenant]);
    if (q->state == REQ_SWAPPED) {
        replica_swapped_remove(r, q);
        return replica_swap_in(r, q, f->ev.group_blocks, f->ev.sync);
    }
    if (n > pol_tokens_left(p, r))
        n = pol_tokens_left(p, r);
    replica_wait_remove(r, q);
    if (!replica_kv_grow(r, q, q->computed + n))
        return LLM_ERANGE;              /* checked by fits() */
    rc = replica_admit(r, q);
    return rc ? rc : replica_plan(r, q, (int32_t)n, true);
}

static int admit(struct fair *f, struct replica *r, struct pol_pass *p,
                 bool tick)
{
    int64_t wm = pol_watermark_blocks(&f->lim, r);
    struct request *q, *v;
    bool gone = false;
    int rc = LLM_OK;

    while (rc == LLM_OK && (q = fair_pick(f, r)) != NULL) {
        if (q->state != REQ_SWAPPED) {
            rc = pol_reject_never(r, q, p->budget, wm, false, &gone);
            if (rc == LLM_OK && gone)
                left_queue(f, &f->t[q->tenant]);
            if (rc != LLM_OK || gone)
                continue;
        }
        if (fits(f, r, q, p)) {
            rc = start(f, r, q, p);
            continue;
        }
        v = tick && f->preempt ?
            victim_above(f, r, f->t[q->tenant].vtc + f->margin) : NULL;
        if (v == NULL)
            break;
        rc = pol_evict(r, v, &f->ev);
    }
    return rc;
}

/* Charges every planned item to its tenant. */
static void charge(struct fair *f, const struct replica *r)
{
    int32_t i;

    for (i = 0; i < r->n_plan; i++) {
        const struct plan_item *it = &r->plan[i];
        struct tenant *t;
        if (it->req == NULL)
            continue;
        t = &f->t[it->req->tenant];
        t->vtc += (it->prefill ? f->w_in : f->w_out) * it->tokens /
                  t->weight;
    }
}

static int fair_schedule(void *st, struct replica *r, int64_t now_ns)
{
    struct fair *f = st;
    struct pol_pass p = { .now_ns = now_ns, .budget = f->lim.max_tokens,
                          .victim = fair_victim, .victim_ctx = f,
                          .evict = &f->ev };
    bool tick = f->iter++ % f->quantum == 0;
    int rc = f->err;

    if (rc == LLM_OK)
        rc = pol_plan_running(r, &p, POL_DECODES);
    if (rc == LLM_OK)
        rc = pol_plan_running(r, &p, POL_PREFILLS);
    if (rc == LLM_OK && p.evictions == 0)
        rc = admit(f, r, &p, tick);
    /* Swapped-in requests decode now when their copy was synchronous. */
    if (rc == LLM_OK)
        rc = pol_plan_running(r, &p, POL_DECODES | POL_PREFILLS);
    if (rc == LLM_OK)
        charge(f, r);
    return rc;
}

/* The budgets after init (sched_ops.limits: they size the memory plan). */
static void fair_limits(const void *st, int32_t max_model_len, int64_t *tokens,
                        int64_t *seqs)
{
    pol_report_limits(&((const struct fair *)st)->lim, max_model_len, tokens,
                      seqs);
}

const struct sched_ops sched_fair = {
    .name = "fair",
    .state_size = sizeof(struct fair),
    .init = fair_init,
    .schedule = fair_schedule,
    .fini = fair_fini,
    .enqueue = fair_enqueue,
    .attach = fair_attach,
    .limits = fair_limits,
};
