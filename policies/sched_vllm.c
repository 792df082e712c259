/* policies/sched_vllm.c: vLLM's default scheduler (V0, chunked prefill off).
 *
 * Each iteration is either all prefills or all decodes:
 *  1. Prefills first: take waiting requests in FCFS order while the whole
 *     prompt fits the token budget (max_num_batched_tokens), the sequence
 *     budget (max_num_seqs) and the free KV blocks above the watermark.
 *     The first request that does not fit stops admission (no skipping),
 *     as vLLM does.  If any prefill was planned, the iteration is those.
 *     A prompt larger than the token budget or the whole pool is refused.
 *  2. Otherwise every running request decodes one token, oldest first.
 *     When the KV pool cannot give a request its next block, the newest
 *     running request is preempted (recompute: its blocks are freed and it
 *     re-prefills later); if the newest is the request itself, it is the
 *     one preempted.
 * Reference: vllm/core/scheduler.py (_schedule_default, _schedule_prefills,
 * _schedule_running, _preempt) in vLLM 0.6. */
#include "policies/registry.h"
#include "sim/jcfg.h"

struct vllm {
    int64_t max_num_seqs;
    int64_t max_num_batched_tokens;   /* 0: max(max_model_len, 2048) */
    double watermark;
};

static int vllm_init(void *st, const cJSON *params, const char *path,
                     struct llm_diag *d)
{
    static const char *const keys[] = { "name", "max_num_seqs",
        "max_num_batched_tokens", "watermark", NULL };
    struct vllm *v = st;
    int rc = LLM_OK;

    v->max_num_seqs = 256;
    v->max_num_batched_tokens = 0;
    v->watermark = 0.01;
    if (params == NULL)
        return LLM_OK;
    rc = jcfg_known(params, path, keys, d);
    if (!rc) rc = jcfg_int(params, path, "max_num_seqs", false, 1, 1 << 20,
                           &v->max_num_seqs, d);
    if (!rc) rc = jcfg_int(params, path, "max_num_batched_tokens", false, 1,
                           1 << 30, &v->max_num_batched_tokens, d);
    if (!rc) rc = jcfg_num(params, path, "watermark", false, 0, 0.5,
                           &v->watermark, d);
    return rc;
}

static int64_t token_budget(const struct vllm *v, const struct replica *r)
{
    int64_t b = v->max_num_batched_tokens;

    if (b == 0)
        b = r->max_model_len > 2048 ? r->max_model_len : 2048;
    return b;
}

static int plan_prefills(const struct vllm *v, struct replica *r)
{
    int64_t budget = token_budget(v, r);
    int64_t watermark = (int64_t)(v->watermark * (double)r->kv_capacity);
    struct request *q;
    int rc;

    while ((q = r->wait_head) != NULL) {
        int32_t n = replica_prefill_target(q) - q->computed;
        int64_t need = replica_kv_needed(r, q, q->computed + n);
        if (n > budget || need > r->kv_capacity - watermark) {
            /* Can never fit: vLLM ignores such a prompt with an error. */
            rc = replica_reject(r, replica_wait_pop(r));
            if (rc != LLM_OK)
                return rc;
            continue;
        }
        if (r->plan_prefill_tokens + n > budget ||
            r->n_running + 1 > v->max_num_seqs ||
            replica_kv_free(r) - need < watermark)
            break;
        replica_wait_pop(r);
        if (!replica_kv_grow(r, q, q->computed + n))
            return LLM_ERANGE;          /* checked above: cannot happen */
        rc = replica_admit(r, q);
        if (rc == LLM_OK)
            rc = replica_plan(r, q, n, true);
        if (rc != LLM_OK)
            return rc;
    }
    return LLM_OK;
}

static int plan_decodes(struct replica *r)
{
    int32_t i;
    int rc;

    for (i = 0; i < r->n_running; i++) {
        struct request *q = r->running[i];
        bool self_preempted = false;
        /* Most steps stay inside the last block: no manager call. */
        while ((int64_t)q->kv_blocks * r->block_tokens < q->computed + 1 &&
               !replica_kv_grow(r, q, q->computed + 1)) {
            struct request *victim = r->running[r->n_running - 1];
            replica_preempt(r, victim);
            if (victim == q) {
                self_preempted = true;
                break;
            }
        }
        if (self_preempted)
            break;             /* q was the newest: nothing after it */
        rc = replica_plan(r, q, 1, false);
        if (rc != LLM_OK)
            return rc;
    }
    return LLM_OK;
}

static int vllm_schedule(void *st, struct replica *r, int64_t now_ns)
{
    const struct vllm *v = st;
    int rc;

    (void)now_ns;
    rc = plan_prefills(v, r);
    if (rc != LLM_OK || r->n_plan > 0)
        return rc;
    return plan_decodes(r);
}

const struct sched_ops sched_vllm = {
    .name = "vllm",
    .state_size = sizeof(struct vllm),
    .init = vllm_init,
    .schedule = vllm_schedule,
};
