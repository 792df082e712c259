/* policies/sched_static.c: request-level (static) batching.
 *
 * A batch is formed only when the replica is empty: waiting requests in
 * FCFS order while the batch stays within max_num_seqs, its prefill within
 * max_num_batched_tokens (the first request always goes) and the KV pool
 * can reserve each one's whole length ("reserve", as for orca).  The
 * batch's prompts are prefilled in one iteration, then the batch decodes
 * until its last request finishes; requests arriving meanwhile wait.
 * With "pad" (the default, as Hugging Face generate or FasterTransformer
 * batches run) every prompt is padded to the batch's longest, and a
 * request that has finished keeps its slot, decoding padding, until the
 * batch ends: padded prompt positions are priced as prefill chunks after
 * each prompt, finished slots as decodes over the longest prompt plus
 * the steps taken (the real sequences are priced over their own context,
 * an approximation of the padded attention).  Nothing is preempted.
 * Reference: Yu et al., OSDI'22 (Orca), section 2.3, request-level
 * scheduling as the baseline of iteration-level scheduling. */
#include "policies/common.h"
#include "policies/registry.h"
#include "base/jcfg.h"

struct static_batch {
    struct pol_limits lim;
    enum pol_reserve reserve;
    bool pad;
    int32_t size;              /* requests in the current batch */
    int32_t longest;           /* its longest prompt */
    int32_t steps;             /* decode iterations run */
};

static int static_init(void *st, const cJSON *params, const char *path,
                       struct llm_diag *d)
{
    static const char *const keys[] = { "name", "max_num_seqs",
        "max_num_batched_tokens", "reserve", "pad", NULL };
    struct static_batch *s = st;
    int rc;

    s->lim = (struct pol_limits){ .max_seqs = 256 };
    s->reserve = POL_RESERVE_MAX;
    s->pad = true;
    if (params == NULL)
        return LLM_OK;
    rc = jcfg_known(params, path, keys, d);
    if (!rc) rc = pol_read_limits(params, path, &s->lim, d);
    if (!rc) rc = pol_read_reserve(params, path, &s->reserve, d);
    if (!rc) rc = jcfg_bool(params, path, "pad", false, &s->pad, d);
    return rc;
}

/* The batch's prefill tokens if q joins it. */
static int64_t batch_tokens_with(const struct static_batch *s,
                                 const struct replica *r, int32_t n)
{
    int32_t longest = n > s->longest ? n : s->longest;

    return s->pad ? (int64_t)(s->size + 1) * longest
                  : r->plan_prefill_tokens + n;
}

static bool joins(struct static_batch *s, struct replica *r,
                  struct request *q, int64_t budget)
{
    int32_t n = replica_prefill_target(q) - q->computed;
    int64_t res = pol_reserve_tokens(s->reserve, r, q);

    if (s->size >= s->lim.max_seqs ||
        replica_kv_needed(r, q, res) > replica_kv_free(r))
        return false;
    return s->size == 0 || batch_tokens_with(s, r, n) <= budget;
}

static int form_batch(struct static_batch *s, struct replica *r)
{
    int64_t budget = pol_token_budget(&s->lim, r);
    struct request *q;
    int32_t i;
    int rc = LLM_OK;

    s->size = s->longest = s->steps = 0;
    while (rc == LLM_OK && (q = r->wait_head) != NULL) {
        int32_t n = replica_prefill_target(q) - q->computed;
        if (replica_kv_needed(r, q, pol_reserve_tokens(s->reserve, r, q)) >
            r->kv_capacity) {
            rc = replica_reject(r, replica_wait_pop(r));
            continue;
        }
        if (!joins(s, r, q, budget))
            break;
        replica_wait_pop(r);
        if (!replica_kv_grow(r, q, pol_reserve_tokens(s->reserve, r, q)))
            return LLM_ERANGE;          /* checked above: cannot happen */
        rc = replica_admit(r, q);
        if (rc == LLM_OK)
            rc = replica_plan(r, q, n, true);
        if (n > s->longest)
            s->longest = n;
        s->size++;
    }
    for (i = 0; s->pad && rc == LLM_OK && i < r->n_running; i++) {
        int32_t n = replica_prefill_target(r->running[i]);
        rc = replica_plan_pad(r, s->longest - n, n, true);
    }
    return rc;
}

static int static_schedule(void *st, struct replica *r, int64_t now_ns)
{
    struct static_batch *s = st;
    struct pol_pass p = { .now_ns = now_ns, .budget = INT64_MAX };
    int rc;

    if (r->n_running == 0)
        return form_batch(s, r);
    rc = pol_plan_running(r, &p, POL_DECODES);
    if (rc == LLM_OK && s->pad)
        rc = replica_plan_pad(r, s->size - r->n_running,
                              s->longest + s->steps, false);
    s->steps++;
    return rc;
}

/* The budgets after init (sched_ops.limits: they size the memory plan). */
static void static_limits(const void *st, int32_t max_model_len, int64_t *tokens,
                          int64_t *seqs)
{
    pol_report_limits(&((const struct static_batch *)st)->lim, max_model_len,
                      tokens, seqs);
}

const struct sched_ops sched_static = {
    .name = "static",
    .state_size = sizeof(struct static_batch),
    .init = static_init,
    .schedule = static_schedule,
    .limits = static_limits,
};
