/* policies/sched_flexllm.c: FlexLLM's co-serving of inference and
 * parameter-efficient finetuning (issue 21; Oliaro et al., "FlexLLM: A
 * System for Co-Serving Large Language Model Inference and Parameter-
 * Efficient Finetuning", arXiv 2402.18789).
 *
 * Inference is planned as Sarathi-Serve / vLLM V1 plan it (sched_sarathi:
 * decodes, then prefill chunks, then admissions, within
 * max_num_batched_tokens).  Then the hybrid token scheduler fills the
 * iteration with finetuning tokens: the most tokens (in steps of 16) of
 * the current finetuning sequence whose iteration, priced by the cost
 * model with them, stays within iteration_slo_ms (FlexLLM's per-iteration
 * latency budget derived from the inference SLO), at most max_tokens.
 * Token-level finetuning: a sequence of sequence_tokens runs its forward
 * pass in chunks (a chunk of f tokens at position p is a prefill chunk of
 * f tokens over p prior ones), then its backward pass in chunks from the
 * end (a chunk is priced as a prefill chunk of backward_ratio x f tokens
 * over the same prior: the base weights are frozen, so backward computes
 * the activation gradients only, dX = dY W^T, as many FLOPs as the
 * forward; the LoRA adapters' path costs 2x its forward (dX and dW) but is
 * rank x (in + out) / (in x out), under 1% of a linear's FLOPs at rank 16
 * on a 4096-wide model, so the default ratio 1.0 leaves it out; full
 * finetuning would be 2.0).  One iteration's tokens may finish a phase
 * and go on with the next (a sequence's backward, the next sequence).  A
 * token is trained when its backward chunk has run.  The finetuning work is padding to the replica (priced,
 * producing no request's token) and is credited when its iteration ends.
 *
 * "mode": "coserve" (FlexLLM), "idle" (temporal sharing, the baseline
 * FlexLLM compares with: finetuning only in iterations without inference
 * work, then with the whole max_tokens), "off" (inference only).
 *
 * Not modelled: the finetuning sequences' activation and KV memory (the
 * paper's graph pruning and rematerialisation shrink it; here it takes no
 * KV blocks), the loss's full-vocabulary logits of every finetuning token
 * (the LM head is priced for one row per chunk), attention backward's
 * extra work (priced as one more forward), the optimizer step. */
#include <math.h>
#include <string.h>

#include "policies/common.h"
#include "policies/registry.h"
#include "base/jcfg.h"

enum ft_mode { FT_COSERVE, FT_IDLE, FT_OFF };

/* Where the finetuning job stands. */
struct ft_pos {
    int64_t seq;               /* sequences finished */
    int64_t pos;               /* forward: tokens done; backward: left */
    bool backward;
};

struct flexllm {
    struct pol_limits lim;
    int mode;
    int64_t sequences, seq_tokens, max_tokens;
    double backward_ratio;
    int64_t slo_ns, until_ns;
    struct ft_pos at;          /* progress */
    int64_t planned;           /* finetuning tokens of the running
                                  iteration, credited at its end */
    int64_t fwd_tokens, trained, iterations, coserved;
    int64_t first_ns, last_ns; /* first finetuning start, last credit */
    struct batch probe;
};

static int ft_read(struct flexllm *s, const cJSON *params, const char *path,
                   struct llm_diag *d)
{
    static const char *const keys[] = { "sequences", "sequence_tokens",
        "max_tokens", "backward_ratio", "iteration_slo_ms", "until_s",
        NULL };
    const cJSON *f = NULL;
    double slo_ms = 50, until = -1;
    char fp[256];
    int rc = jcfg_obj(params, path, "finetune", false, &f, d);

    if (rc || f == NULL)
        return rc;
    jcfg_keypath(fp, sizeof(fp), path, "finetune");
    rc = jcfg_known(f, fp, keys, d);
    if (!rc) rc = jcfg_int(f, fp, "sequences", false, 0, INT64_MAX / 2,
                           &s->sequences, d);
    if (!rc) rc = jcfg_int(f, fp, "sequence_tokens", false, 1, 1 << 24,
                           &s->seq_tokens, d);
    if (!rc) rc = jcfg_int(f, fp, "max_tokens", false, 16, 1 << 24,
                           &s->max_tokens, d);
    if (!rc) rc = jcfg_num(f, fp, "backward_ratio", false, 0, 16,
                           &s->backward_ratio, d);
    if (!rc) rc = jcfg_num(f, fp, "iteration_slo_ms", false, 0.001, 1e6,
                           &slo_ms, d);
    if (!rc) rc = jcfg_num(f, fp, "until_s", false, 0, 9.2e9, &until, d);
    s->slo_ns = llround(slo_ms * 1e6);
    if (until >= 0)
        s->until_ns = llround(until * 1e9);
    return rc;
}

static int flexllm_init(void *st, const cJSON *params, const char *path,
                        struct llm_diag *d)
{
    static const char *const keys[] = { "name", "max_num_seqs",
        "max_num_batched_tokens", "watermark", "mode", "finetune", NULL };
    static const char *const modes[] = { "coserve", "idle", "off", NULL };
    struct flexllm *s = st;
    int rc;

    s->lim = (struct pol_limits){ .max_seqs = 256, .max_tokens = 2048,
                                  .watermark = 0.01 };
    s->sequences = 1000000;
    s->seq_tokens = 1024;
    s->backward_ratio = 1.0;
    s->slo_ns = 50000000;
    s->until_ns = INT64_MAX;
    s->first_ns = -1;
    batch_init(&s->probe);
    if (params == NULL) {
        s->max_tokens = s->lim.max_tokens;
        return LLM_OK;
    }
    rc = jcfg_known(params, path, keys, d);
    if (!rc) rc = pol_read_limits(params, path, &s->lim, d);
    if (!rc) rc = pol_read_enum(params, path, "mode", modes, &s->mode, d);
    if (!rc) rc = ft_read(s, params, path, d);
    if (!rc && s->max_tokens == 0)
        s->max_tokens = s->lim.max_tokens;
    if (rc)
        batch_free(&s->probe);
    return rc;
}

static void flexllm_fini(void *st)
{
    batch_free(&((struct flexllm *)st)->probe);
}

/* Walks f finetuning tokens from s->at, phase after phase (the rest of
 * a forward pass, its backward, the next sequence's forward ...): adds
 * each phase's chunk to b and/or plans it on r (either may be NULL) and
 * leaves the position after them in *end, the forward and trained
 * tokens in *fwd and *trained. */
static int ft_walk(const struct flexllm *s, int64_t f, struct batch *b,
                   struct replica *r, struct ft_pos *end, int64_t *fwd,
                   int64_t *trained)
{
    struct ft_pos p = s->at;
    int rc = LLM_OK;

    *fwd = *trained = 0;
    while (f > 0 && p.seq < s->sequences && rc == LLM_OK) {
        int64_t left = p.backward ? p.pos : s->seq_tokens - p.pos;
        int64_t t = f < left ? f : left;
        int64_t prior = p.backward ? p.pos - t : p.pos;
        int64_t work = p.backward ? llround((double)t * s->backward_ratio)
                                  : t;
        if (work > 0 && b != NULL)
            rc = batch_add_prefill(b, (int32_t)work, (int32_t)prior, 0);
        if (work > 0 && r != NULL && rc == LLM_OK)
            rc = replica_plan_pad(r, (int32_t)work, (int32_t)prior, true);
        if (p.backward) {
            p.pos -= t;
            *trained += t;
            if (p.pos == 0) {
                p.backward = false;
                p.seq++;
            }
        } else {
            p.pos += t;
            *fwd += t;
            p.backward = p.pos == s->seq_tokens;
        }
        f -= t;
    }
    *end = p;
    return rc;
}

/* The iteration that just ended ran s->planned finetuning tokens. */
static void credit(struct flexllm *s, int64_t now_ns)
{
    int64_t fwd, trained;

    if (s->planned == 0)
        return;
    ft_walk(s, s->planned, NULL, NULL, &s->at, &fwd, &trained);
    s->fwd_tokens += fwd;
    s->trained += trained;
    s->planned = 0;
    s->last_ns = now_ns;
}

/* The iteration's price with f finetuning tokens added. */
static int price_with(struct flexllm *s, struct replica *r, int64_t f,
                      int64_t *ns)
{
    const struct batch *b = &r->batch;
    size_t i;
    int rc = LLM_OK;

    batch_clear(&s->probe);
    for (i = 0; i < b->n_prefill && rc == LLM_OK; i++)
        rc = batch_add_prefill(&s->probe, b->prefill[i].tokens,
                               b->prefill[i].prior, b->prefill[i].last);
    for (i = 0; i < b->n_decode && rc == LLM_OK; i++)
        rc = batch_add_decode(&s->probe, b->decode[i].count,
                              b->decode[i].ctx);
    if (rc == LLM_OK) {
        struct ft_pos e;
        int64_t fwd, trained;
        rc = ft_walk(s, f, &s->probe, NULL, &e, &fwd, &trained);
    }
    return rc == LLM_OK ? replica_price(r, &s->probe, ns) : rc;
}

/* The most finetuning tokens (a multiple of 16, or all that is left of
 * the phase) within the iteration budget; prices are monotone in f. */
static int fill(struct flexllm *s, struct replica *r, int64_t hi,
                int64_t *out)
{
    int64_t lo = 0, ns;
    int rc = price_with(s, r, hi, &ns);

    *out = 0;
    if (rc != LLM_OK || ns <= s->slo_ns) {
        *out = rc == LLM_OK ? hi : 0;
        return rc;
    }
    /* price(lo) fits (or lo is 0), price(hi) does not */
    while (hi - lo > 16 && rc == LLM_OK) {
        int64_t mid = (lo + (hi - lo) / 2) / 16 * 16;
        if (mid <= lo)
            mid = lo + 16;
        rc = price_with(s, r, mid, &ns);
        if (ns <= s->slo_ns)
            lo = mid;
        else
            hi = mid;
    }
    *out = lo;
    return rc;
}

static int plan_ft(struct flexllm *s, struct replica *r, int64_t now_ns)
{
    bool idle = batch_tokens(&r->batch) == 0;
    int64_t hi = s->max_tokens, f = 0, fwd, trained;
    struct ft_pos e;
    int rc = LLM_OK;

    if (s->mode == FT_OFF || s->at.seq >= s->sequences ||
        now_ns >= s->until_ns || r->batch_stale)
        return LLM_OK;
    if (s->mode == FT_IDLE)
        f = idle ? hi : 0;
    else
        rc = fill(s, r, hi, &f);
    if (rc != LLM_OK || f <= 0)
        return rc;
    if (s->first_ns < 0)
        s->first_ns = now_ns;
    s->planned = f;
    s->iterations++;
    s->coserved += !idle;
    return ft_walk(s, f, NULL, r, &e, &fwd, &trained);
}

static int flexllm_schedule(void *st, struct replica *r, int64_t now_ns)
{
    struct flexllm *s = st;
    struct pol_pass p = { .now_ns = now_ns, .budget = s->lim.max_tokens };
    int rc;

    credit(s, now_ns);
    rc = pol_plan_running(r, &p, POL_DECODES);
    if (rc == LLM_OK)
        rc = pol_plan_running(r, &p, POL_PREFILLS);
    if (rc == LLM_OK && p.evictions == 0)
        rc = pol_admit(r, &p, &s->lim, pol_pick_fifo, NULL, true);
    if (rc == LLM_OK && p.evictions == 0)
        rc = plan_ft(s, r, now_ns);
    return rc;
}

static void add_num(cJSON *o, const char *key, double v)
{
    cJSON *x = cJSON_GetObjectItemCaseSensitive(o, key);

    if (cJSON_IsNumber(x))
        cJSON_SetNumberValue(x, x->valuedouble + v);
    else
        cJSON_AddNumberToObject(o, key, v);
}

/* "finetune" of the summary, summed over replicas: trained tokens (their
 * backward done), forward tokens, whole sequences, iterations with
 * finetuning work (and of those, the ones shared with inference), and
 * trained tokens per second from the first finetuning iteration to the
 * last one's end. */
static void flexllm_report(const void *st, cJSON *summary)
{
    const struct flexllm *s = st;
    cJSON *o = cJSON_GetObjectItemCaseSensitive(summary, "finetune");
    double span = s->first_ns >= 0 ? (double)(s->last_ns - s->first_ns)
                                   : 0;

    if (o == NULL && (o = cJSON_AddObjectToObject(summary, "finetune")) ==
        NULL)
        return;
    add_num(o, "trained_tokens", (double)s->trained);
    add_num(o, "forward_tokens", (double)s->fwd_tokens);
    add_num(o, "sequences", (double)s->at.seq);
    add_num(o, "iterations", (double)s->iterations);
    add_num(o, "coserved_iterations", (double)s->coserved);
    add_num(o, "throughput_tok_s", span > 0 ? (double)s->trained /
                                              (span * 1e-9) : 0);
}

const struct sched_ops sched_flexllm = {
    .name = "flexllm",
    .state_size = sizeof(struct flexllm),
    .init = flexllm_init,
    .schedule = flexllm_schedule,
    .fini = flexllm_fini,
    .report = flexllm_report,
};
