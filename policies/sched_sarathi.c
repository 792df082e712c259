/* policies/sched_sarathi.c: Sarathi-Serve's stall-free chunked prefills,
 * which are also vLLM V1's default scheduler.
 *
 * Every iteration fills one token budget (max_num_batched_tokens, the
 * "chunk size"): first a decode for every running request whose prompt is
 * done, then the next chunk of each running request still in its prompt,
 * then new requests from the waiting queue in FCFS order, the last one
 * taking whatever is left of the budget (its prompt continues in later
 * iterations).  Decodes never wait behind a prefill: that is what keeps
 * the time between tokens flat.  KV blocks are taken chunk by chunk; when
 * a running request cannot grow, the newest running request is preempted
 * by recomputation (the only mode V1 has), and no new request is admitted
 * in an iteration that preempted.  "order": "arrival" plans the running
 * set in arrival order instead (decodes and chunks interleaved), as
 * vLLM V1's scheduler loop does.
 * References: Agrawal et al., OSDI'24, Algorithm 2 (arXiv 2403.02310);
 * vllm/v1/core/sched/scheduler.py (schedule) in vLLM 0.8; defaults from
 * vllm/engine/arg_utils.py (2048 tokens and 256 sequences for the API
 * server on GPUs other than H100-class).
 * The engine keys of "vllm" (cudagraph_mode, cudagraph_capture_sizes,
 * async_scheduling; policies/common.h) are accepted too, off by default,
 * for Sarathi's policy on a vLLM V1 engine (issue 20's campaign). */
#include "policies/common.h"
#include "policies/registry.h"
#include "base/jcfg.h"

struct sarathi {
    struct pol_limits lim;
    int order;                 /* 0 decodes first, 1 arrival */
    struct pol_graphs graphs;  /* off unless configured */
};

static int sarathi_init(void *st, const cJSON *params, const char *path,
                        struct llm_diag *d)
{
    static const char *const keys[] = { "name", "max_num_seqs",
        "max_num_batched_tokens", "watermark", "order", "async_scheduling",
        "cudagraph_mode", "cudagraph_capture_sizes", NULL };
    static const char *const orders[] = { "decodes_first", "arrival",
                                          NULL };
    struct sarathi *s = st;
    int rc;

    s->lim = (struct pol_limits){ .max_seqs = 256, .max_tokens = 2048,
                                  .watermark = 0.01 };
    if (params == NULL)
        return LLM_OK;
    rc = jcfg_known(params, path, keys, d);
    if (!rc) rc = pol_read_limits(params, path, &s->lim, d);
    if (!rc) rc = pol_read_enum(params, path, "order", orders, &s->order, d);
    if (!rc) rc = pol_read_graphs(params, path, &s->graphs, d);
    return rc;
}

static int sarathi_attach(void *st, const struct replica *r,
                          const char *path, struct llm_diag *d)
{
    struct sarathi *s = st;

    (void)r;
    return pol_attach_graphs(&s->graphs, &s->lim, path, d);
}

static bool sarathi_async(const void *st)
{
    return ((const struct sarathi *)st)->graphs.async;
}

static int sarathi_schedule(void *st, struct replica *r, int64_t now_ns)
{
    const struct sarathi *s = st;
    struct pol_pass p = { .now_ns = now_ns, .budget = s->lim.max_tokens };
    int rc;

    if (s->order == 1) {
        rc = pol_plan_running(r, &p, POL_DECODES | POL_PREFILLS);
    } else {
        rc = pol_plan_running(r, &p, POL_DECODES);
        if (rc == LLM_OK)
            rc = pol_plan_running(r, &p, POL_PREFILLS);
    }
    if (rc == LLM_OK && p.evictions == 0)
        rc = pol_admit(r, &p, &s->lim, pol_pick_fifo, NULL, true);
    if (rc == LLM_OK)
        pol_launch(&s->graphs, &s->lim, r);
    return rc;
}

/* The budgets after init (sched_ops.limits: they size the memory plan). */
static void sarathi_limits(const void *st, int32_t max_model_len, int64_t *tokens,
                           int64_t *seqs)
{
    pol_report_limits(&((const struct sarathi *)st)->lim, max_model_len, tokens,
                      seqs);
}

const struct sched_ops sched_sarathi = {
    .name = "sarathi",
    .state_size = sizeof(struct sarathi),
    .init = sarathi_init,
    .schedule = sarathi_schedule,
    .attach = sarathi_attach,
    .async_lag = sarathi_async,
    .limits = sarathi_limits,
};
