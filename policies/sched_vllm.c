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
 *    one runs; sim/replica.h (async_lag) models what that changes.
 *
 * Departures: vLLM's running list is in admission order (a resumed
 * request goes to its back), llmsim's in arrival order, so after a
 * preemption the victims can differ; with async scheduling vLLM may
 * preempt a request whose last token is in flight, llmsim holds such a
 * request apart.  Both matter only when the KV pool runs out. */
#include <stdlib.h>

#include "policies/common.h"
#include "policies/registry.h"
#include "sim/jcfg.h"

#define V1_MAX_SIZES 128

enum v1_graphs { V1_FULL_AND_PIECEWISE, V1_PIECEWISE, V1_FULL_DECODE_ONLY,
                 V1_NONE };

struct vllm {
    struct pol_limits lim;
    bool tokens_set, seqs_set;     /* given in the config */
    bool async;                    /* async_scheduling */
    int graphs;                    /* enum v1_graphs */
    int32_t sizes[V1_MAX_SIZES];   /* capture sizes, ascending */
    int32_t n_sizes;
    bool sizes_set;                /* cudagraph_capture_sizes given */
};

/* cudagraph_capture_sizes: a non-empty array of positive integers. */
static int read_sizes(const cJSON *p, const char *path, struct vllm *v,
                      struct llm_diag *d)
{
    const cJSON *a = NULL, *it;
    int rc = jcfg_arr(p, path, "cudagraph_capture_sizes", false, &a, d);

    if (rc || a == NULL)
        return rc;
    v->n_sizes = 0;
    cJSON_ArrayForEach(it, a) {
        if (!cJSON_IsNumber(it) || it->valuedouble < 1 ||
            it->valuedouble > 1 << 20 ||
            it->valuedouble != (double)(int32_t)it->valuedouble ||
            v->n_sizes == V1_MAX_SIZES)
            return diag_set(d, LLM_EINVAL, "%s.cudagraph_capture_sizes: "
                            "expected at most %d integers in [1, 1048576]",
                            path, V1_MAX_SIZES);
        v->sizes[v->n_sizes++] = (int32_t)it->valueint;
    }
    if (v->n_sizes == 0)
        return diag_set(d, LLM_EINVAL, "%s.cudagraph_capture_sizes: "
                        "expected at least one size", path);
    v->sizes_set = true;
    return LLM_OK;
}

static int vllm_init(void *st, const cJSON *params, const char *path,
                     struct llm_diag *d)
{
    static const char *const keys[] = { "name", "max_num_seqs",
        "max_num_batched_tokens", "async_scheduling", "cudagraph_mode",
        "cudagraph_capture_sizes", NULL };
    static const char *const modes[] = { "full_and_piecewise", "piecewise",
        "full_decode_only", "none", NULL };
    struct vllm *v = st;
    int rc;

    /* Until attach knows the device: V1 has no watermark. */
    v->lim = (struct pol_limits){ .max_seqs = 0, .max_tokens = 0,
                                  .watermark = 0 };
    v->async = true;
    v->graphs = V1_FULL_AND_PIECEWISE;
    if (params == NULL)
        return LLM_OK;
    rc = jcfg_known(params, path, keys, d);
    if (!rc) rc = pol_read_limits(params, path, &v->lim, d);
    if (!rc) rc = jcfg_bool(params, path, "async_scheduling", false,
                            &v->async, d);
    if (!rc) rc = pol_read_enum(params, path, "cudagraph_mode", modes,
                                &v->graphs, d);
    if (!rc) rc = read_sizes(params, path, v, d);
    v->tokens_set = v->lim.max_tokens > 0;
    v->seqs_set = v->lim.max_seqs > 0;
    return rc;
}

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;

    return (x > y) - (x < y);
}

/* VllmConfig._set_cudagraph_sizes for a dense model without speculative
 * decoding on a GPU that is not a data-centre Blackwell (ceiling 512). */
static void default_sizes(struct vllm *v)
{
    int64_t cap = 2 * v->lim.max_seqs < 512 ? 2 * v->lim.max_seqs : 512;
    int32_t s, n = 0;

    if (cap > v->lim.max_tokens)
        cap = v->lim.max_tokens;
    for (s = 1; s <= 4 && s <= cap; s *= 2)
        v->sizes[n++] = s;
    for (s = 8; s < 256 && s <= cap; s += 8)
        v->sizes[n++] = s;
    for (s = 256; s <= cap; s += 16)
        v->sizes[n++] = s;
    if (v->lim.max_tokens <= cap &&
        v->sizes[n - 1] != (int32_t)v->lim.max_tokens)
        v->sizes[n++] = (int32_t)v->lim.max_tokens;
    v->n_sizes = n;
}

/* Given sizes: de-duplicated, sorted, those above the token budget
 * dropped (as _set_cudagraph_sizes does with a user's list). */
static void clean_sizes(struct vllm *v)
{
    int32_t i, n = 0;

    qsort(v->sizes, (size_t)v->n_sizes, sizeof(v->sizes[0]), cmp_i32);
    for (i = 0; i < v->n_sizes; i++)
        if (v->sizes[i] <= v->lim.max_tokens &&
            (n == 0 || v->sizes[n - 1] != v->sizes[i]))
            v->sizes[n++] = v->sizes[i];
    v->n_sizes = n;
}

static int vllm_attach(void *st, const struct replica *r, const char *path,
                       struct llm_diag *d)
{
    struct vllm *v = st;

    if (!v->tokens_set)
        v->lim.max_tokens = pol_v1_default_tokens(r->dev_mem_bytes,
                                                  r->dev_name);
    if (!v->seqs_set)
        v->lim.max_seqs = pol_v1_default_seqs(r->dev_mem_bytes, r->dev_name,
                                              v->lim.max_tokens);
    if (v->graphs == V1_NONE)
        v->n_sizes = 0;
    else if (v->sizes_set)
        clean_sizes(v);
    else
        default_sizes(v);
    if (v->graphs != V1_NONE && v->n_sizes == 0)
        return diag_set(d, LLM_EINVAL, "%s.cudagraph_capture_sizes: every "
                        "size exceeds max_num_batched_tokens %lld", path,
                        (long long)v->lim.max_tokens);
    return LLM_OK;
}

/* The smallest capture size >= tokens; 0: none (eager). */
static int32_t capture_size(const struct vllm *v, int64_t tokens)
{
    int32_t lo = 0, hi = v->n_sizes;

    while (lo < hi) {
        int32_t mid = lo + (hi - lo) / 2;
        if (v->sizes[mid] < tokens)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < v->n_sizes ? v->sizes[lo] : 0;
}

/* CudagraphDispatcher.dispatch: the graph (and padding) of the plan. */
static void launch(const struct vllm *v, struct replica *r)
{
    int64_t t = replica_plan_tokens(r);
    bool decode = r->plan_prefill_tokens == 0;
    int32_t size = t > 0 ? capture_size(v, t) : 0;

    if (size == 0 || (v->graphs == V1_FULL_DECODE_ONLY && !decode)) {
        replica_set_graph(r, 0, BATCH_GRAPH_NONE);
        return;
    }
    /* Full decode graphs exist for sizes up to max_num_seqs only. */
    replica_set_graph(r, size - t, decode && v->graphs != V1_PIECEWISE &&
                      size <= v->lim.max_seqs ? BATCH_GRAPH_FULL :
                      BATCH_GRAPH_PIECEWISE);
}

static int vllm_schedule(void *st, struct replica *r, int64_t now_ns)
{
    const struct vllm *v = st;
    struct pol_pass p = { .now_ns = now_ns, .budget = v->lim.max_tokens };
    int rc = pol_plan_running(r, &p, POL_DECODES | POL_PREFILLS);

    if (rc == LLM_OK && p.evictions == 0)
        rc = pol_admit(r, &p, &v->lim, pol_pick_fifo, NULL, true);
    if (rc == LLM_OK)
        launch(v, r);
    return rc;
}

static bool vllm_async(const void *st)
{
    return ((const struct vllm *)st)->async;
}

const struct sched_ops sched_vllm = {
    .name = "vllm",
    .state_size = sizeof(struct vllm),
    .init = vllm_init,
    .schedule = vllm_schedule,
    .attach = vllm_attach,
    .async_lag = vllm_async,
};
