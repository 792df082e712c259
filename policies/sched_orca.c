/* policies/sched_orca.c: Orca's iteration-level scheduling.
 *
 * Every iteration runs one decode for each running request and admits
 * new requests from the waiting queue in FCFS order, whose whole prompts
 * are prefilled in that same iteration (Orca's selective batching mixes
 * prefills and decodes).  A request is admitted only while the running
 * set stays within max_num_seqs (Orca's max batch size) and the KV pool
 * can reserve its whole length at once ("reserve": "max" max_model_len
 * tokens, as Orca; "oracle" its true prompt + output; "pow2" the output
 * rounded up to a power of two: the vLLM paper's three Orca baselines).
 * With the length reserved nothing is ever preempted.  The first request
 * that does not fit stops admission.  max_num_batched_tokens, when given,
 * bounds the tokens of an iteration (Orca has no such bound).
 * References: Yu et al., OSDI'22, Algorithm 1; Kwon et al., SOSP'23
 * (vLLM), section 6.1 for the reservation variants. */
#include "policies/common.h"
#include "policies/registry.h"
#include "base/jcfg.h"

struct orca {
    struct pol_limits lim;
    enum pol_reserve reserve;
};

static int orca_init(void *st, const cJSON *params, const char *path,
                     struct llm_diag *d)
{
    static const char *const keys[] = { "name", "max_num_seqs",
        "max_num_batched_tokens", "reserve", NULL };
    struct orca *o = st;
    int rc;

    o->lim = (struct pol_limits){ .max_seqs = 256 };
    o->reserve = POL_RESERVE_MAX;
    if (params == NULL)
        return LLM_OK;
    rc = jcfg_known(params, path, keys, d);
    if (!rc) rc = pol_read_limits(params, path, &o->lim, d);
    if (!rc) rc = pol_read_reserve(params, path, &o->reserve, d);
    return rc;
}

/* Admits the waiting front while its reservation fits. */
static int admit(const struct orca *o, struct replica *r,
                 const struct pol_pass *p)
{
    struct request *q;
    bool gone;
    int rc;

    while ((q = r->wait_head) != NULL && r->n_running < o->lim.max_seqs) {
        int64_t res = pol_reserve_tokens(o->reserve, r, q);
        int64_t n = replica_prefill_target(q) - q->computed;

        rc = pol_reject_never(r, q, p->budget, 0, true, &gone);
        if (rc == LLM_OK && !gone &&
            replica_kv_needed(r, q, res) > r->kv_capacity) {
            replica_wait_pop(r);       /* its reservation never fits */
            rc = replica_reject(r, q);
            gone = true;
        }
        if (rc != LLM_OK)
            return rc;
        if (gone)
            continue;
        if (n > pol_tokens_left(p, r) ||
            replica_kv_needed(r, q, res) > replica_kv_free(r))
            break;
        replica_wait_pop(r);
        if (!replica_kv_grow(r, q, res))
            return LLM_ERANGE;          /* checked above: cannot happen */
        rc = replica_admit(r, q);
        if (rc == LLM_OK)
            rc = replica_plan(r, q, (int32_t)n, true);
        if (rc != LLM_OK)
            return rc;
    }
    return LLM_OK;
}

static int orca_schedule(void *st, struct replica *r, int64_t now_ns)
{
    const struct orca *o = st;
    struct pol_pass p = { .now_ns = now_ns, .budget = o->lim.max_tokens > 0
                          ? o->lim.max_tokens : INT64_MAX };
    int rc = pol_plan_running(r, &p, POL_DECODES);

    return rc ? rc : admit(o, r, &p);
}

/* The budgets after init (sched_ops.limits: they size the memory plan). */
static void orca_limits(const void *st, int32_t max_model_len, int64_t *tokens,
                        int64_t *seqs)
{
    pol_report_limits(&((const struct orca *)st)->lim, max_model_len, tokens,
                      seqs);
}

const struct sched_ops sched_orca = {
    .name = "orca",
    .state_size = sizeof(struct orca),
    .init = orca_init,
    .schedule = orca_schedule,
    .limits = orca_limits,
};
