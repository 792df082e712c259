/* policies/sched_slo.c: SLO-aware scheduling, earliest deadline first or
 * least slack first.
 *
 * Iterations are built as Sarathi-Serve's (decodes, then continued
 * prompt chunks, then new requests, within max_num_batched_tokens), but
 * new requests are taken in urgency order instead of arrival order:
 * first by priority (larger first: strict classes), then by deadline
 * ("order": "edf") or by slack ("lsf").  A request's deadline is its
 * arrival plus ttft_ms (its first-token target) unless a policy or trace
 * set one.  Its slack is deadline - now - its prefill time alone, the
 * cost model pricing its prompt in an otherwise empty iteration; "now"
 * is common to all, so the order is by deadline - prefill time, computed
 * once on arrival.  When the KV pool runs out, the victim is the least
 * urgent running request (lowest priority, then latest deadline) rather
 * than the newest, recomputed.  With "preempt" (the default), a waiting
 * request of strictly higher priority than some running request that
 * does not fit evicts such requests, least urgent first, as vLLM's
 * priority policy does (_schedule_priority_preemption).
 * Reference: Liu and Layland (1973) for EDF; vllm/core/scheduler.py
 * (policy "priority") in vLLM 0.6 for priority preemption. */
#include <stdlib.h>

#include "policies/common.h"
#include "policies/registry.h"
#include "base/jcfg.h"

struct slo {
    struct pol_limits lim;
    int order;                 /* 0 edf, 1 lsf */
    double ttft_ms;
    bool preempt;
    struct batch one;          /* a lone prefill, for slack estimates */
    int err;                   /* first pricing error, reported later */
};

static int slo_init(void *st, const cJSON *params, const char *path,
                    struct llm_diag *d)
{
    static const char *const keys[] = { "name", "max_num_seqs",
        "max_num_batched_tokens", "watermark", "order", "ttft_ms",
        "preempt", NULL };
    static const char *const orders[] = { "edf", "lsf", NULL };
    struct slo *s = st;
    int rc;

    s->lim = (struct pol_limits){ .max_seqs = 256, .max_tokens = 2048,
                                  .watermark = 0.01 };
    s->ttft_ms = 2000;
    s->preempt = true;
    batch_init(&s->one);
    if (params == NULL)
        return LLM_OK;
    rc = jcfg_known(params, path, keys, d);
    if (!rc) rc = pol_read_limits(params, path, &s->lim, d);
    if (!rc) rc = pol_read_enum(params, path, "order", orders, &s->order, d);
    if (!rc) rc = jcfg_num(params, path, "ttft_ms", false, 0, 1e9,
                           &s->ttft_ms, d);
    if (!rc) rc = jcfg_bool(params, path, "preempt", false, &s->preempt, d);
    return rc;
}

static void slo_fini(void *st)
{
    batch_free(&((struct slo *)st)->one);
}

static void slo_enqueue(void *st, struct replica *r, struct request *q)
{
    struct slo *s = st;
    int64_t est = 0;
    int rc;

    if (q->deadline_ns < 0)
        q->deadline_ns = q->arrival_ns + (int64_t)(s->ttft_ms * 1e6);
    q->sched_key = q->deadline_ns;
    if (s->order != 1)
        return;
    batch_clear(&s->one);
    rc = batch_add_prefill(&s->one, q->prompt_tokens, 0, 1);
    if (rc == LLM_OK)
        rc = replica_price(r, &s->one, &est);
    if (rc != LLM_OK && s->err == LLM_OK)
        s->err = rc;           /* enqueue cannot fail: schedule reports */
    q->sched_key -= est;
}

/* Urgency order: larger priority, then smaller key, then earlier. */
static bool more_urgent(const struct request *a, const struct request *b)
{
    if (a->priority != b->priority)
        return a->priority > b->priority;
    if (a->sched_key != b->sched_key)
        return a->sched_key < b->sched_key;
    return a->id < b->id;
}

static struct request *pick_urgent(void *ctx, struct replica *r)
{
    struct request *q, *best = r->wait_head;

    (void)ctx;
    for (q = r->wait_head; q != NULL; q = q->next)
        if (more_urgent(q, best))
            best = q;
    return best;
}

static struct request *least_urgent(void *ctx, struct replica *r,
                                    const struct request *q)
{
    struct request *worst = NULL;
    int32_t i;

    (void)ctx;
    (void)q;
    for (i = 0; i < r->n_running; i++)
        if (worst == NULL || more_urgent(worst, r->running[i]))
            worst = r->running[i];
    return worst;
}

/* Evicts lower-priority running requests while the most urgent waiting
 * one (of strictly higher priority) cannot start its first chunk. */
static void preempt_for(const struct slo *s, struct replica *r,
                        const struct pol_pass *p)
{
    struct request *q = pick_urgent(NULL, r), *v;
    int64_t wm = pol_watermark_blocks(&s->lim, r), n;

    if (q == NULL)
        return;
    n = replica_prefill_target(q) - q->computed;
    while ((v = least_urgent(NULL, r, q)) != NULL &&
           v->priority < q->priority &&
           (r->n_running + 1 > s->lim.max_seqs ||
            replica_kv_free(r) - replica_kv_needed(r, q, q->computed +
                (n < pol_tokens_left(p, r) ? n : pol_tokens_left(p, r)))
            < wm))
        replica_preempt(r, v);
}

static int slo_schedule(void *st, struct replica *r, int64_t now_ns)
{
    struct slo *s = st;
    struct pol_pass p = { .now_ns = now_ns, .budget = s->lim.max_tokens,
                          .victim = least_urgent };
    int rc = s->err;

    if (rc == LLM_OK)
        rc = pol_plan_running(r, &p, POL_DECODES);
    if (rc == LLM_OK)
        rc = pol_plan_running(r, &p, POL_PREFILLS);
    if (rc != LLM_OK || p.evictions > 0)
        return rc;
    if (s->preempt)
        preempt_for(s, r, &p);
    return pol_admit(r, &p, &s->lim, pick_urgent, NULL, true);
}

/* The budgets after init (sched_ops.limits: they size the memory plan). */
static void slo_limits(const void *st, int32_t max_model_len, int64_t *tokens,
                       int64_t *seqs)
{
    pol_report_limits(&((const struct slo *)st)->lim, max_model_len, tokens,
                      seqs);
}

const struct sched_ops sched_slo = {
    .name = "slo",
    .state_size = sizeof(struct slo),
    .init = slo_init,
    .schedule = slo_schedule,
    .fini = slo_fini,
    .enqueue = slo_enqueue,
    .limits = slo_limits,
};
