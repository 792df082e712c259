/* policies/sched_vllm_v0.c: "vllm-v0", vLLM V0's default scheduler
 * (chunked prefill off).  It was llmsim's "vllm" until issue 20 made
 * "vllm" vLLM V1's scheduler (policies/sched_vllm.c).  vLLM has since
 * removed V0; this one stays for the comparisons published with it.
 *
 * Each iteration is either all prefills or all decodes:
 *  1. Prefills first, unless requests are swapped out: take waiting
 *     requests in FCFS order while the whole prompt fits the token budget
 *     (max_num_batched_tokens), the sequence budget (max_num_seqs) and the
 *     free KV blocks above the watermark.  The first request that does not
 *     fit stops admission (no skipping), as vLLM does.  If any prefill was
 *     planned, the iteration is those.  A prompt larger than the token
 *     budget or the whole pool is refused.
 *  2. Otherwise every running request decodes one token, oldest first.
 *     When the KV pool cannot give a request its next block, the newest
 *     running request is preempted; if the newest is the request itself,
 *     it is the one preempted.  "preemption": "recompute" frees its
 *     blocks and it re-prefills later; "swap" copies its blocks to host
 *     memory over the device's host link (one copy per block and per
 *     layer's K and V, as vLLM's swap_blocks), and the iteration waits
 *     for the copy.
 *  3. If nothing was preempted in step 2, swapped requests come back in
 *     FCFS order while their blocks fit above the watermark, and decode
 *     in this same iteration after their copy.
 * Reference: vllm/core/scheduler.py (_schedule_default, _schedule_prefills,
 * _schedule_running, _schedule_swapped, _preempt) in vLLM 0.6. */
#include "policies/common.h"
#include "policies/registry.h"
#include "base/jcfg.h"

struct vllm_v0 {
    struct pol_limits lim;
    struct pol_evict ev;
};

static int v0_init(void *st, const cJSON *params, const char *path,
                     struct llm_diag *d)
{
    static const char *const keys[] = { "name", "max_num_seqs",
        "max_num_batched_tokens", "watermark", "preemption",
        "swap_space_gib", NULL };
    struct vllm_v0 *v = st;
    int rc;

    v->lim = (struct pol_limits){ .max_seqs = 256, .watermark = 0.01 };
    /* vLLM's --swap-space default: 4 GiB of host memory per GPU. */
    v->ev = (struct pol_evict){ .swap_space_gib = 4, .group_blocks = 1,
                                .sync = true };
    if (params == NULL)
        return LLM_OK;
    rc = jcfg_known(params, path, keys, d);
    if (!rc) rc = pol_read_limits(params, path, &v->lim, d);
    if (!rc) rc = pol_read_evict(params, path, &v->ev, d);
    return rc;
}

static int v0_attach(void *st, const struct replica *r, const char *path,
                       struct llm_diag *d)
{
    return pol_attach_evict(&((struct vllm_v0 *)st)->ev, r, path, d);
}

static int v0_schedule(void *st, struct replica *r, int64_t now_ns)
{
    const struct vllm_v0 *v = st;
    struct pol_pass p = { .now_ns = now_ns,
                          .budget = pol_token_budget(&v->lim, r),
                          .evict = &v->ev };
    int rc = LLM_OK;

    if (r->n_swapped == 0)
        rc = pol_admit(r, &p, &v->lim, pol_pick_fifo, NULL, false);
    if (rc != LLM_OK || r->n_plan > 0)
        return rc;
    /* Decodes are not held to the token budget in V0. */
    p.budget = INT64_MAX;
    rc = pol_plan_running(r, &p, POL_DECODES);
    if (rc != LLM_OK || p.evictions > 0 || r->n_swapped == 0)
        return rc;
    rc = pol_swap_in(r, &p, &v->lim);
    return rc ? rc : pol_plan_running(r, &p, POL_DECODES);
}

const struct sched_ops sched_vllm_v0 = {
    .name = "vllm-v0",
    .state_size = sizeof(struct vllm_v0),
    .init = v0_init,
    .schedule = v0_schedule,
    .attach = v0_attach,
};
