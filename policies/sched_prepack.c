/* policies/sched_prepack.c: Prepacking, prompts bin-packed into prefill
 * batches.
 *
 * Like vllm (prefill iterations first, then decode iterations with
 * recomputation of the newest request when KV runs out), but a prefill
 * batch is formed by packing whole prompts into rows ("bins") of
 * bin_tokens tokens, as Prepacking does to replace padding: the waiting
 * queue's front goes first (so it is never starved), then the other
 * prompts among the first `window` waiting requests, longest first
 * (first-fit decreasing), each into the first row with room, a new row
 * being opened while rows x bin_tokens stays within the token budget.
 * A prompt that fits no row, or whose blocks do not fit above the
 * watermark, is skipped, not waited for.  bin_tokens 0 (the default)
 * takes the longest candidate prompt, as the paper packs to the batch's
 * longest sequence.  The unused tail of each row is priced as padding
 * (a prefill of that many tokens); attention stays within each prompt
 * (the block-diagonal mask).  Against an engine with ragged prefill
 * (vllm) packing can only add padding; its gain is over padded static
 * batching.
 * Reference: Zhao et al., "Prepacking: A Simple Method for Fast
 * Prefilling and Increased Throughput in LLMs" (arXiv 2404.09529). */
#include <stdlib.h>

#include "policies/common.h"
#include "policies/registry.h"
#include "base/jcfg.h"

struct prepack {
    struct pol_limits lim;
    int64_t window, bin_tokens;
    struct request **cand;     /* window entries */
    int64_t *room;             /* free tokens of each row */
};

static void prepack_fini(void *st);

static int prepack_init(void *st, const cJSON *params, const char *path,
                        struct llm_diag *d)
{
    static const char *const keys[] = { "name", "max_num_seqs",
        "max_num_batched_tokens", "watermark", "window", "bin_tokens",
        NULL };
    struct prepack *p = st;
    int rc = LLM_OK;

    p->lim = (struct pol_limits){ .max_seqs = 256, .watermark = 0.01 };
    p->window = 64;
    if (params != NULL) {
        rc = jcfg_known(params, path, keys, d);
        if (!rc) rc = pol_read_limits(params, path, &p->lim, d);
        if (!rc) rc = jcfg_int(params, path, "window", false, 1, 1 << 16,
                               &p->window, d);
        if (!rc) rc = jcfg_int(params, path, "bin_tokens", false, 0,
                               1 << 30, &p->bin_tokens, d);
    }
    if (rc != LLM_OK)
        return rc;
    p->cand = calloc((size_t)p->window, sizeof(*p->cand));
    p->room = calloc((size_t)p->window, sizeof(*p->room));
    if (p->cand == NULL || p->room == NULL) {
        prepack_fini(p);
        return diag_set(d, LLM_ENOMEM, "out of memory");
    }
    return LLM_OK;
}

static int prepack_attach(void *st, const struct replica *r,
                          const char *path, struct llm_diag *d)
{
    const struct prepack *p = st;
    int64_t budget = pol_token_budget(&p->lim, r);

    if (p->bin_tokens > budget)
        return diag_set(d, LLM_EINVAL, "%s.bin_tokens: %lld exceeds the "
                        "token budget (max_num_batched_tokens) %lld", path,
                        (long long)p->bin_tokens, (long long)budget);
    return LLM_OK;
}

static void prepack_fini(void *st)
{
    struct prepack *p = st;

    free(p->cand);
    free(p->room);
}

static int32_t need_tokens(const struct request *q)
{
    return replica_prefill_target(q) - q->computed;
}

/* Longest first, then arrival order. */
static int by_length_desc(const void *a, const void *b)
{
    const struct request *x = *(struct request *const *)a;
    const struct request *y = *(struct request *const *)b;

    if (need_tokens(x) != need_tokens(y))
        return need_tokens(x) > need_tokens(y) ? -1 : 1;
    return x->id < y->id ? -1 : 1;
}

/* Gathers the window, refusing prompts that can never be served;
 * returns how many candidates there are (the front first). */
static int gather(struct prepack *p, struct replica *r, int64_t budget,
                  int32_t *n_out)
{
    int64_t wm = pol_watermark_blocks(&p->lim, r);
    struct request *q = r->wait_head, *next;
    int32_t n = 0;
    bool gone;
    int rc = LLM_OK;

    for (; q != NULL && n < p->window && rc == LLM_OK; q = next) {
        next = q->next;
        rc = pol_reject_never(r, q, budget, wm, true, &gone);
        if (rc == LLM_OK && !gone)
            p->cand[n++] = q;
    }
    if (n > 1)
        qsort(p->cand + 1, (size_t)(n - 1), sizeof(*p->cand),
              by_length_desc);
    *n_out = n;
    return rc;
}

/* The row q goes into (first fit), opening one if allowed; -1: none. */
static int32_t place(struct prepack *p, int32_t *rows, int64_t bin,
                     int64_t budget, int32_t len)
{
    int32_t i;

    for (i = 0; i < *rows; i++)
        if (p->room[i] >= len)
            return i;
    if ((int64_t)(*rows + 1) * bin > budget || *rows >= p->window)
        return -1;
    p->room[*rows] = bin;
    return (*rows)++;
}

static int pack(struct prepack *p, struct replica *r, int64_t budget)
{
    int64_t wm = pol_watermark_blocks(&p->lim, r), bin = p->bin_tokens;
    int32_t n, i, rows = 0;
    int rc = gather(p, r, budget, &n);

    for (i = 0; i < n; i++)
        if (need_tokens(p->cand[i]) > bin)
            bin = need_tokens(p->cand[i]);
    for (i = 0; i < n && rc == LLM_OK; i++) {
        struct request *q = p->cand[i];
        int32_t len = need_tokens(q), row;
        if (r->n_running + 1 > p->lim.max_seqs ||
            replica_kv_free(r) - replica_kv_needed(r, q, q->computed + len)
            < wm) {
            if (i == 0)
                break;          /* the front waits: keep FCFS fairness */
            continue;
        }
        row = place(p, &rows, bin, budget, len);
        if (row < 0)
            continue;
        p->room[row] -= len;
        replica_wait_remove(r, q);
        if (!replica_kv_grow(r, q, q->computed + len))
            return LLM_ERANGE;          /* checked above: cannot happen */
        rc = replica_admit(r, q);
        if (rc == LLM_OK)
            rc = replica_plan(r, q, len, true);
    }
    for (i = 0; i < rows && rc == LLM_OK; i++)
        rc = replica_plan_pad(r, (int32_t)p->room[i], 0, true);
    return rc;
}

static int prepack_schedule(void *st, struct replica *r, int64_t now_ns)
{
    struct prepack *p = st;
    struct pol_pass pass = { .now_ns = now_ns, .budget = INT64_MAX };
    int rc = pack(p, r, pol_token_budget(&p->lim, r));

    if (rc != LLM_OK || r->n_plan > 0)
        return rc;
    return pol_plan_running(r, &pass, POL_DECODES);
}

/* The budgets after init (sched_ops.limits: they size the memory plan). */
static void prepack_limits(const void *st, int32_t max_model_len, int64_t *tokens,
                           int64_t *seqs)
{
    pol_report_limits(&((const struct prepack *)st)->lim, max_model_len, tokens,
                      seqs);
}

const struct sched_ops sched_prepack = {
    .name = "prepack",
    .state_size = sizeof(struct prepack),
    .init = prepack_init,
    .schedule = prepack_schedule,
    .fini = prepack_fini,
    .attach = prepack_attach,
    .limits = prepack_limits,
};
