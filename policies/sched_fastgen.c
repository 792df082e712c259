/* policies/sched_fastgen.c: DeepSpeed-FastGen's Dynamic SplitFuse.
 *
 * Every forward pass has the same size: a token budget
 * (max_num_batched_tokens, MII's max_ragged_batch_size, default 768) and
 * at most max_num_seqs sequences (max_ragged_sequence_count, 512).  The
 * pass is filled in MII's order: first one token for every running
 * request whose prompt is done (a request whose next KV block is not free
 * sits this pass out; nothing is preempted), then prompts: those already
 * split continue first, then new ones in FCFS order.  A prompt takes
 * what is left of the budget (long prompts are split over passes, short
 * ones are packed together), but only while the free KV blocks could hold
 * the whole rest of that prompt; the first prompt that could not stops
 * the pass.  If a pass would be empty while work waits, MII resets: every
 * running request is recomputed from scratch ("Deadlock detected").
 * Differences from Sarathi-Serve: no preemption, KV admission gated on
 * the whole remaining prompt, and the budget is not shared by priority
 * between continued and new prompts beyond that order.
 * Reference: mii/batching/ragged_batching.py (schedule_requests,
 * _do_schedule_requests) in DeepSpeed-MII 0.2; defaults from
 * deepspeed/inference/v2/ragged/manager_configs.py (DSStateManagerConfig). */
#include "policies/common.h"
#include "policies/registry.h"
#include "base/jcfg.h"

struct fastgen {
    struct pol_limits lim;
};

static int fastgen_init(void *st, const cJSON *params, const char *path,
                        struct llm_diag *d)
{
    static const char *const keys[] = { "name", "max_num_seqs",
        "max_num_batched_tokens", NULL };
    struct fastgen *f = st;
    int rc;

    f->lim = (struct pol_limits){ .max_seqs = 512, .max_tokens = 768 };
    if (params == NULL)
        return LLM_OK;
    rc = jcfg_known(params, path, keys, d);
    return rc ? rc : pol_read_limits(params, path, &f->lim, d);
}

static bool pass_full(const struct fastgen *f, const struct replica *r)
{
    return replica_plan_tokens(r) >= f->lim.max_tokens ||
           r->n_plan >= f->lim.max_seqs;
}

/* One token for each running request whose prompt is done. */
static int plan_decodes(const struct fastgen *f, struct replica *r)
{
    int32_t i;
    int rc;

    for (i = 0; i < r->n_running && !pass_full(f, r); i++) {
        struct request *q = r->running[i];
        if (q->state != REQ_DECODE)
            continue;
        if ((int64_t)q->kv_blocks * r->block_tokens < q->computed + 1 &&
            !replica_kv_grow(r, q, q->computed + 1))
            continue;
        rc = replica_plan(r, q, 1, false);
        if (rc != LLM_OK)
            return rc;
    }
    return LLM_OK;
}

/* The next chunk of q's prompt, if the rest of it fits in the free KV. */
static int plan_prompt(const struct fastgen *f, struct replica *r,
                       struct request *q, bool *stop)
{
    int64_t rest = replica_prefill_target(q) - q->computed;
    int64_t n = f->lim.max_tokens - replica_plan_tokens(r);

    *stop = replica_kv_needed(r, q, q->computed + rest) >
            replica_kv_free(r);
    if (*stop)
        return LLM_OK;
    if (n > rest)
        n = rest;
    if (!replica_kv_grow(r, q, q->computed + n))
        return LLM_ERANGE;              /* checked above: cannot happen */
    return replica_plan(r, q, (int32_t)n, true);
}

static int plan_prompts(const struct fastgen *f, struct replica *r)
{
    struct request *q;
    int32_t i;
    bool stop = false, gone;
    int rc = LLM_OK;

    for (i = 0; i < r->n_running && !stop && !pass_full(f, r); i++)
        if (r->running[i]->state == REQ_PREFILL)
            rc = plan_prompt(f, r, r->running[i], &stop);
    while (rc == LLM_OK && !stop && !pass_full(f, r) &&
           (q = r->wait_head) != NULL) {
        rc = pol_reject_never(r, q, 0, 0, false, &gone);
        if (rc != LLM_OK || gone)
            continue;
        stop = replica_kv_needed(r, q, replica_prefill_target(q)) >
               replica_kv_free(r);
        if (stop)
            break;
        replica_wait_pop(r);
        rc = replica_admit(r, q);
        if (rc == LLM_OK)
            rc = plan_prompt(f, r, q, &stop);
    }
    return rc;
}

/* MII's reset when nothing can be scheduled: recompute everything. */
static void reset(struct replica *r)
{
    while (r->n_running > 0)
        replica_preempt(r, r->running[r->n_running - 1]);
}

static int fastgen_schedule(void *st, struct replica *r, int64_t now_ns)
{
    const struct fastgen *f = st;
    int rc = plan_decodes(f, r);

    (void)now_ns;
    if (rc == LLM_OK)
        rc = plan_prompts(f, r);
    if (rc == LLM_OK && r->n_plan == 0 && r->n_running > 0) {
        reset(r);
        rc = plan_prompts(f, r);
    }
    return rc;
}

/* The budgets after init (sched_ops.limits: they size the memory plan). */
static void fastgen_limits(const void *st, int32_t max_model_len, int64_t *tokens,
                           int64_t *seqs)
{
    pol_report_limits(&((const struct fastgen *)st)->lim, max_model_len, tokens,
                      seqs);
}

const struct sched_ops sched_fastgen = {
    .name = "fastgen",
    .state_size = sizeof(struct fastgen),
    .init = fastgen_init,
    .schedule = fastgen_schedule,
    .limits = fastgen_limits,
};
