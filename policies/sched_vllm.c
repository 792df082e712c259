/* policies/sched_vllm.c: "vllm", vLLM V1's scheduler and how its engine
 * launches each batch (issue 20).  vLLM V0's is "vllm-v0".
 *
 * Sources (vLLM's main branch as stored for this work, one commit per
 * file; docs/policies.md lists them):
 *  - vllm/v1/core/sched/scheduler.py (b4622cf9), Scheduler.schedule: one
 *    token budget per step (max_num_batched_tokens); the running requests
 *    first, in order, each its next chunk or decode (min(remaining,
 *    budget)); when allocate_slots cannot grow one, the last running
 *    request is preempted by recomputation (_preempt_request: its blocks
 *    freed, computed tokens 0, back to the front of the waiting queue),
 *    repeatedly, until it fits or the request itself is preempted; then,
 *    only if nothing was preempted, waiting requests in FCFS order while
 *    the budget lasts and len(running) < max_num_seqs, the last one
 *    chunked to what is left.  Chunked prefill is always on.
 *  - vllm/v1/core/kv_cache_manager.py (ace980e6), allocate_slots: a
 *    request fits when its new blocks do not exceed the free blocks; V1
 *    keeps no watermark.
 *  - vllm/engine/arg_utils.py (99d7eb5d), EngineArgs._set_default_args:
 *    for the OpenAI API server, a GPU with at least 70 GiB whose name
 *    does not contain "a100" gets max_num_batched_tokens 8192 and
 *    max_num_seqs 1024, any other 2048 and 256; max_num_seqs is at most
 *    max_num_batched_tokens.
 *  - vllm/config/vllm.py (000fc94b), VllmConfig._set_cudagraph_sizes:
 *    the capture sizes are 1, 2, 4, then multiples of 8 below 256, then
 *    multiples of 16 up to min(2 x max_num_seqs, 512), capped at
 *    max_num_batched_tokens, which is added when it lies below the cap;
 *    __post_init__ turns async scheduling on unless something forbids it.
 *  - vllm/config/compilation.py (002284db), CompilationConfig.cudagraph_mode:
 *    FULL_AND_PIECEWISE by default (VllmConfig's -O2).
 *  - vllm/v1/cudagraph_dispatcher.py (ae2e8e62), CudagraphDispatcher:
 *    a batch of at most the largest capture size runs the graph of the
 *    next capture size (its tokens padded to it): a decode-only batch
 *    the full graph (whose sizes stop at max_num_seqs), any other the
 *    piecewise graphs (attention outside); a larger batch runs eagerly,
 *    unpadded (gpu_model_runner.py _get_num_input_tokens, 4e179065).
 *  - vllm/v1/engine/core.py (ac3cb2e2), EngineCore.step_with_batch_queue:
 *    with async scheduling the next step is scheduled while the current
 *    one runs; sim/replica_view.h (async_lag) models what that changes.
 *
 * Departures: vLLM's running list is in admission order (a resumed
 * request goes to its back), llmsim's in arrival order, so after a
 * preemption the victims can differ; with async scheduling vLLM may
 * preempt a request whose last token is in flight, llmsim holds such a
 * request apart.  Both matter only when the KV pool runs out. */
#include <stdlib.h>

#include "policies/common.h"
#include "policies/registry.h"
#include "base/jcfg.h"

struct vllm {
    struct pol_limits lim;
    bool tokens_set, seqs_set;     /* given in the config */
    struct pol_graphs graphs;
};

static int vllm_init(void *st, const cJSON *params, const char *path,
                     struct llm_diag *d)
{
    static const char *const keys[] = { "name", "max_num_seqs",
        "max_num_batched_tokens", "async_scheduling", "cudagraph_mode",
        "cudagraph_capture_sizes", NULL };
    struct vllm *v = st;
    int rc;

    /* Until attach knows the device: V1 has no watermark. */
    v->lim = (struct pol_limits){ .max_seqs = 0, .max_tokens = 0,
                                  .watermark = 0 };
    v->graphs = (struct pol_graphs){ .on = true, .async = true,
                                     .mode = POL_GRAPHS_FULL_AND_PIECEWISE };
    if (params == NULL)
        return LLM_OK;
    rc = jcfg_known(params, path, keys, d);
    if (!rc) rc = pol_read_limits(params, path, &v->lim, d);
    if (!rc) rc = pol_read_graphs(params, path, &v->graphs, d);
    v->tokens_set = v->lim.max_tokens > 0;
    v->seqs_set = v->lim.max_seqs > 0;
    return rc;
}

/* The budgets vLLM picks for the device where the config left them. */
static void vllm_set_device(void *st, double dev_mem_bytes,
                            const char *dev_name)
{
    struct vllm *v = st;

    if (!v->tokens_set)
        v->lim.max_tokens = pol_v1_default_tokens(dev_mem_bytes, dev_name);
    if (!v->seqs_set)
        v->lim.max_seqs = pol_v1_default_seqs(dev_mem_bytes, dev_name,
                                              v->lim.max_tokens);
}

static int vllm_attach(void *st, const struct replica *r, const char *path,
                       struct llm_diag *d)
{
    struct vllm *v = st;

    (void)r;
    return pol_attach_graphs(&v->graphs, &v->lim, path, d);
}

/* The budgets after set_device (sched_ops.limits: they size the memory
 * plan). */
static void vllm_limits(const void *st, int32_t max_model_len,
                        int64_t *tokens, int64_t *seqs)
{
    pol_report_limits(&((const struct vllm *)st)->lim, max_model_len, tokens,
                      seqs);
}

static int vllm_schedule(void *st, struct replica *r, int64_t now_ns)
{
    const struct vllm *v = st;
    struct pol_pass p = { .now_ns = now_ns, .budget = v->lim.max_tokens };
    int rc = pol_plan_running(r, &p, POL_DECODES | POL_PREFILLS);

    if (rc == LLM_OK && p.evictions == 0)
        rc = pol_admit(r, &p, &v->lim, pol_pick_fifo, NULL, true);
    if (rc == LLM_OK)
        pol_launch(&v->graphs, &v->lim, r);
    return rc;
}

/* With nothing waiting, no preemption (every step has its block) and
 * room in the token budget, a pass is pol_plan_running's bulk decode of
 * every running request and pol_admit finds no one; pol_launch's graph is
 * a function of the plan's tokens and kind (sched_ops.steady). */
static bool vllm_steady(const void *st, const struct replica *r)
{
    return r->n_running <= ((const struct vllm *)st)->lim.max_tokens;
}

static bool vllm_async(const void *st)
{
    return ((const struct vllm *)st)->graphs.async;
}

const struct sched_ops sched_vllm = {
    .name = "vllm",
    .state_size = sizeof(struct vllm),
    .init = vllm_init,
    .schedule = vllm_schedule,
    .attach = vllm_attach,
    .async_lag = vllm_async,
    .set_device = vllm_set_device,
    .limits = vllm_limits,
    .steady = vllm_steady,
};
