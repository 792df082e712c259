/* policies/sched_layered.c: layered prefill.
 *
 * Instead of splitting a prompt into token chunks (Sarathi), the model's
 * layers are split into layer_groups groups and a prefill batch advances
 * one group per iteration, alongside the decodes of every running
 * request, which run all layers each iteration.  A prefill batch is
 * formed, when none is in flight, from waiting requests in FCFS order
 * with whole prompts within max_num_batched_tokens, max_num_seqs and the
 * free KV above the watermark (blocks for the whole prompt are taken at
 * once); its first tokens come at the end of its last group's iteration.
 * When a decode cannot grow, the newest running request is recomputed
 * (a request of the batch in flight included: it starts again).
 * Pricing: an iteration costs what it would cost without the layered
 * prefill (B) plus 1/layer_groups of what the whole prefill adds to it
 * (A - B, A being the price with the full prefill in the batch); the
 * group sizes are taken equal, and the prefill's logits (LM head) are
 * spread over the groups like the rest.
 * Reference: "From Tokens to Layers: Redefining Stall-Free Scheduling
 * for LLM Serving with Layered Prefill" (arXiv 2510.08055). */
#include "policies/common.h"
#include "policies/registry.h"
#include "base/jcfg.h"

struct layered {
    struct pol_limits lim;
    int64_t groups;
};

static int layered_init(void *st, const cJSON *params, const char *path,
                        struct llm_diag *d)
{
    static const char *const keys[] = { "name", "max_num_seqs",
        "max_num_batched_tokens", "watermark", "layer_groups", NULL };
    struct layered *l = st;
    int rc;

    l->lim = (struct pol_limits){ .max_seqs = 256, .watermark = 0.01 };
    l->groups = 4;
    if (params == NULL)
        return LLM_OK;
    rc = jcfg_known(params, path, keys, d);
    if (!rc) rc = pol_read_limits(params, path, &l->lim, d);
    if (!rc) rc = jcfg_int(params, path, "layer_groups", false, 1, 1024,
                           &l->groups, d);
    return rc;
}

/* The batch in flight: running requests still in their prompt, all at
 * the same group (sched_key), advanced by one group. */
static int continue_batch(const struct layered *l, struct replica *r,
                          bool *in_flight)
{
    int32_t i;
    int rc = LLM_OK;

    *in_flight = false;
    for (i = 0; i < r->n_running && rc == LLM_OK; i++) {
        struct request *q = r->running[i];
        if (q->state != REQ_PREFILL || q->plan_idx >= 0)
            continue;
        *in_flight = true;
        q->sched_key++;
        rc = replica_plan_layers(r, q, replica_prefill_target(q) -
                                 q->computed, (int32_t)q->sched_key,
                                 (int32_t)l->groups);
    }
    return rc;
}

static int layered_schedule(void *st, struct replica *r, int64_t now_ns)
{
    const struct layered *l = st;
    struct pol_pass p = { .now_ns = now_ns, .budget = INT64_MAX };
    int32_t first, i;
    bool in_flight;
    int rc = pol_plan_running(r, &p, POL_DECODES);

    if (rc == LLM_OK)
        rc = continue_batch(l, r, &in_flight);
    if (rc != LLM_OK || in_flight)
        return rc;
    /* Only the new prefills count against the budget. */
    p.budget = pol_token_budget(&l->lim, r) + r->plan_decodes;
    p.layer_groups = (int32_t)l->groups;
    first = r->n_plan;
    rc = pol_admit(r, &p, &l->lim, pol_pick_fifo, NULL, false);
    for (i = first; i < r->n_plan; i++)
        if (r->plan[i].req != NULL)
            r->plan[i].req->sched_key = 0;
    return rc;
}

/* The budgets after init (sched_ops.limits: they size the memory plan). */
static void layered_limits(const void *st, int32_t max_model_len, int64_t *tokens,
                           int64_t *seqs)
{
    pol_report_limits(&((const struct layered *)st)->lim, max_model_len, tokens,
                      seqs);
}

const struct sched_ops sched_layered = {
    .name = "layered",
    .state_size = sizeof(struct layered),
    .init = layered_init,
    .schedule = layered_schedule,
    .limits = layered_limits,
};
