/* hw/cost_fit.c: an engine's fitted latency model (hw/cost_fit.h). */
#include <math.h>
#include <stdio.h>

#include "hw/cost_fit.h"
#include "base/jcfg.h"

struct fit {
    double prefill[3], small[3], large[3], overhead[2];
    int64_t large_batch;
};

/* Reads a numeric array of n into out, naming "path.key". */
static int coeffs(const cJSON *o, const char *path, const char *key,
                  int n, double *out, struct llm_diag *d)
{
    const cJSON *a = NULL, *e;
    char kp[256];
    int i = 0, rc = jcfg_arr(o, path, key, true, &a, d);

    if (rc)
        return rc;
    jcfg_keypath(kp, sizeof(kp), path, key);
    if (cJSON_GetArraySize(a) != n)
        return diag_set(d, LLM_EINVAL, "%s: expected %d numbers", kp, n);
    cJSON_ArrayForEach(e, a) {
        if (!cJSON_IsNumber(e) || !isfinite(e->valuedouble))
            return diag_set(d, LLM_EINVAL, "%s: expected %d numbers", kp, n);
        out[i++] = e->valuedouble;
    }
    return LLM_OK;
}

/* The entry of fits for tp. */
static int read_entry(struct fit *f, const cJSON *fits, const char *path,
                      int32_t tp, struct llm_diag *d)
{
    static const char *const keys[] = { "prefill", "decode_small",
        "decode_large", "large_batch", NULL };
    const cJSON *e = NULL;
    char key[16], fp[256], kp[300];
    int rc;

    snprintf(key, sizeof(key), "%d", (int)tp);
    jcfg_keypath(fp, sizeof(fp), path, "fits");
    rc = jcfg_obj(fits, fp, key, false, &e, d);
    if (rc)
        return rc;
    if (e == NULL)
        return diag_set(d, LLM_EINVAL, "%s: no entry for tp %d", fp, (int)tp);
    jcfg_keypath(kp, sizeof(kp), fp, key);
    rc = jcfg_known(e, kp, keys, d);
    if (!rc) rc = coeffs(e, kp, "prefill", 3, f->prefill, d);
    if (!rc) rc = coeffs(e, kp, "decode_small", 3, f->small, d);
    if (!rc) rc = coeffs(e, kp, "decode_large", 3, f->large, d);
    if (!rc) rc = jcfg_int(e, kp, "large_batch", true, 1, BATCH_MAX_SEQS,
                           &f->large_batch, d);
    return rc;
}

static int fit_init(void *st, const struct cost_env *env,
                    const cJSON *params, const char *path,
                    struct llm_diag *d)
{
    static const char *const keys[] = { "name", "fits", "overhead_ms",
                                        "source", NULL };
    struct fit *f = st;
    const cJSON *fits = NULL;
    const char *src = NULL;
    int rc = params ? jcfg_known(params, path, keys, d) : LLM_OK;

    if (!rc) rc = jcfg_obj(params, path, "fits", true, &fits, d);
    if (!rc) rc = jcfg_str(params, path, "source", false, &src, d);
    if (!rc && cJSON_GetObjectItemCaseSensitive(params, "overhead_ms"))
        rc = coeffs(params, path, "overhead_ms", 2, f->overhead, d);
    if (!rc && env->shard.pp > 1)
        rc = diag_set(d, LLM_EINVAL, "%s.name: \"fit\" prices one pipeline "
                      "stage only (pp %d)", path, (int)env->shard.pp);
    return rc ? rc : read_entry(f, fits, path, env->shard.tp, d);
}

static int fit_price(void *st, const struct batch *b,
                     const struct op_list *ops, struct cost_breakdown *out)
{
    (void)st;
    (void)b;
    (void)ops;
    (void)out;
    return LLM_OK;
}

static double prefill_ms(const struct fit *f, const struct batch *b)
{
    double sum = 0, sq = 0;
    size_t i;

    for (i = 0; i < b->n_prefill; i++) {
        double t = b->prefill[i].tokens;
        sum += t;
        sq += t * t;
    }
    return f->prefill[0] + f->prefill[1] * sum + f->prefill[2] * sq;
}

/* Without its intercept: the per-sequence and per-token terms. */
static double decode_var_ms(const struct fit *f, const struct batch *b,
                            const double **c)
{
    double n = (double)b->decode_seqs;

    *c = b->decode_seqs < f->large_batch ? f->small : f->large;
    return (*c)[1] * ((double)b->decode_ctx_sum + n) + (*c)[2] * n;
}

static int64_t fit_total_ns(void *st, const struct batch *b, int64_t gpu_ns)
{
    const struct fit *f = st;
    const double *c = f->small;
    double ms = 0, ctx = 0;
    size_t i;

    (void)gpu_ns;
    if (batch_tokens(b) == 0)
        return 0;
    if (b->decode_seqs > 0)
        ms += decode_var_ms(f, b, &c);
    ms += b->n_prefill > 0 ? prefill_ms(f, b) : c[0];
    for (i = 0; i < b->n_prefill; i++)
        ctx += (double)b->prefill[i].tokens + b->prefill[i].prior;
    ctx += (double)b->decode_ctx_sum;
    ms += f->overhead[0] + f->overhead[1] * ctx;
    return cost_ns_of(ms > 0 ? ms * 1e-3 : 0);
}

const struct cost_ops cost_fit = {
    .name = "fit",
    .state_size = sizeof(struct fit),
    .init = fit_init,
    .price = fit_price,
    .fixed_ns = fit_total_ns,
};
