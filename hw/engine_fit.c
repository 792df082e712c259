#include "hw/engine_fit.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_blas.h>
#include <gsl/gsl_matrix.h>
#include <gsl/gsl_multifit_nlinear.h>
#include <gsl/gsl_vector.h>

/* Priors (centre, width).  The scales are log-normal: GEMMs are cuBLAS
 * through PyTorch in every engine we know, so they differ by the kernel
 * choice (the reference's torch.mm against cuBLASLt's best: 8-19%,
 * docs/cost-model.md): width 0.15; prefill attention kernels differ by up
 * to 2x between backends on one GPU (FlashAttention-3 against -2 on
 * Hopper): 0.5; element-wise kernels are priced from the tables of the
 * kind the structure names (the reference's fused Triton kernels, or
 * PyTorch's own for an unfused engine), so what remains is their spread:
 * 0.3.  comm: the tables are NCCL in CUDA graphs; an engine's own
 * all-reduce (vLLM's custom all-reduce over NVLink) differs by up to ~2x
 * on small messages: log width 0.5.  Decode attention's prior depends
 * on the backend, because it says how fast that backend runs relative to
 * the tables it is priced from (decode_prior).  layer_us: a layer launches
 * ~10-40 kernels whose in-graph gaps (~1 us each, hw/calib/README.md) the
 * tables already hold; what remains is a few microseconds either way:
 * 20 us.  iter_us: host work per iteration of a graphed engine, 0 to a
 * few hundred microseconds: 500 us. */
static const double prior_centre[FIT_FREE] = { 1, 1, 1, 1, 1, 0, 0 };
static const double prior_width[FIT_FREE] = { 0.15, 0.5, 0.3, 0.3, 0.5, 20,
                                              500 };

/* Decode attention: a backend with tables of its own (FA2 itself, vLLM's
 * and SGLang's Triton kernels) runs as its tables say, within the spread
 * of one kernel on two machines and builds: centre 1, width 0.15.
 * split_kv stands for the production split-KV kernels, priced as the KV
 * streamed at the fastest read membw.csv measured (~92% of the datasheet
 * bandwidth on H100 and H200, hw/calib/README.md); FlashAttention-3,
 * FlashInfer and the engines' Triton kernels reach 80-90% of it (issue
 * 16's measurements), so centre 0.92 / 0.85 = 1.08, width 0.2.  sdpa is FA2's non-varlen kernel per group: centre 1, width 0.3.
 * flashdecoding_pp already carries its published gain: centre 1, 0.2. */
static void decode_prior(enum engine_attn k, double *centre, double *width)
{
    *centre = k == ENG_ATTN_SPLIT_KV ? 1.08 : 1;
    *width = k == ENG_ATTN_SPLIT_KV || k == ENG_ATTN_FDPP ? 0.2 :
             k == ENG_ATTN_SDPA ? 0.3 : 0.15;
}

/* The data's own width: a measured iteration reproduces within ~1.5% on
 * another machine and the tables compose the reference engine within
 * ~3.5% MAPE (docs/validation.md), so one line's log error is worth one
 * prior width at 3%. */
#define LINE_WIDTH 0.03

#define ITER_UNIT_US 100.0     /* iter_us = ITER_UNIT_US x softplus(u) */

void engine_fit_prior(int i, enum engine_attn decode, double *centre,
                      double *width)
{
    *centre = i >= 0 && i < FIT_FREE ? prior_centre[i] : 0;
    *width = i >= 0 && i < FIT_FREE ? prior_width[i] : 0;
    if (i == 2)
        decode_prior(decode, centre, width);
}

/* The lines' parts under one candidate structure, flattened. */
struct fit_data {
    struct cost_part *p;
    size_t cap;                /* of p */
    size_t *first;             /* line i: parts [first[i], first[i + 1]) */
    const struct fit_line *lines;
    size_t n;
    int32_t layers;
    double graph_s;
    bool async;
    double centre[FIT_FREE], width[FIT_FREE];   /* the candidate's priors */
};

static double softplus(double u)
{
    return u > 30 ? u : log1p(exp(u));
}

static void params_of(const gsl_vector *u, struct engine_params *p)
{
    p->gemm = exp(gsl_vector_get(u, 0));
    p->attn_prefill = exp(gsl_vector_get(u, 1));
    p->attn_decode = exp(gsl_vector_get(u, 2));
    p->elementwise = exp(gsl_vector_get(u, 3));
    p->comm = exp(gsl_vector_get(u, 4));
    p->layer_us = gsl_vector_get(u, 5);
    p->iter_us = ITER_UNIT_US * softplus(gsl_vector_get(u, 6));
}

/* The cost model's price of line i (hw/cost_calib.c: parts, then the
 * graph replay, the layers' fixed time and the host's). */
static double line_s(const struct fit_data *fd, size_t i,
                     const struct engine_params *p)
{
    double gpu = 0, s = fd->graph_s + fd->layers * p->layer_us * 1e-6;

    for (size_t k = fd->first[i]; k < fd->first[i + 1]; k++)
        gpu += fd->p[k].repeat * cost_part_s(p, &fd->p[k]);
    return gpu + s + cost_host_s(p, fd->async, gpu + s);
}

static int resid(const gsl_vector *u, void *ctx, gsl_vector *f)
{
    const struct fit_data *fd = ctx;
    struct engine_params p = { 0 };
    size_t i;

    params_of(u, &p);
    for (i = 0; i < fd->n; i++) {
        double t = line_s(fd, i, &p);
        t = t > 1e-9 ? t : 1e-9;
        gsl_vector_set(f, i, log(t * 1e3 / fd->lines[i].ms) / LINE_WIDTH);
    }
    for (int k = 0; k < 5; k++)
        gsl_vector_set(f, fd->n + k, (gsl_vector_get(u, k) -
                                      log(fd->centre[k])) / fd->width[k]);
    gsl_vector_set(f, fd->n + 5, (p.layer_us - fd->centre[5]) /
                                 fd->width[5]);
    gsl_vector_set(f, fd->n + 6, (p.iter_us - fd->centre[6]) /
                                 fd->width[6]);
    return GSL_SUCCESS;
}

static int collect(struct cost_model *cm, const struct fit_line *lines,
                   size_t n, struct fit_data *fd, struct cost_parts *cp,
                   int32_t *extrap, struct llm_diag *d)
{
    size_t i, total = 0;

    for (i = 0; i < n; i++) {
        cp->n = 0;
        if (cost_parts(cm, &lines[i].b, cp) != LLM_OK)
            return diag_set(d, LLM_ENOMEM, "out of memory");
        *extrap += cp->extrapolated;
        if (total + cp->n > fd->cap) {
            size_t cap = (total + cp->n) * 2 + 64;
            struct cost_part *np = realloc(fd->p, cap * sizeof(*np));
            if (np == NULL)
                return diag_set(d, LLM_ENOMEM, "out of memory");
            fd->p = np;
            fd->cap = cap;
        }
        fd->first[i] = total;
        memcpy(fd->p + total, cp->p, cp->n * sizeof(*cp->p));
        total += cp->n;
    }
    fd->first[n] = total;
    fd->layers = cp->layers;
    fd->graph_s = cp->graph_s;
    return LLM_OK;
}

/* Fits the parameters of one candidate; cost and sigma out. */
static int fit_one(struct fit_data *fd, struct engine_params *p,
                   double *cost, double *rms, double sigma[FIT_FREE])
{
    const size_t n = fd->n + FIT_FREE;
    gsl_multifit_nlinear_parameters fp =
        gsl_multifit_nlinear_default_parameters();
    gsl_multifit_nlinear_workspace *w =
        gsl_multifit_nlinear_alloc(gsl_multifit_nlinear_trust, &fp, n,
                                   FIT_FREE);
    gsl_multifit_nlinear_fdf fdf = { .f = resid, .n = n, .p = FIT_FREE,
                                     .params = fd };
    gsl_matrix *cov = gsl_matrix_alloc(FIT_FREE, FIT_FREE);
    double x0[FIT_FREE] = { 0, 0, log(fd->centre[2]), 0, 0, 0, -3 }, chi2;
    double ss = 0;
    gsl_vector_view x = gsl_vector_view_array(x0, FIT_FREE);
    int info, k;

    if (w == NULL || cov == NULL) {
        gsl_multifit_nlinear_free(w);
        gsl_matrix_free(cov);
        return LLM_ENOMEM;
    }
    gsl_multifit_nlinear_init(&x.vector, &fdf, w);
    gsl_multifit_nlinear_driver(200, 1e-10, 1e-10, 1e-12, NULL, NULL, &info,
                                w);
    params_of(w->x, p);
    gsl_blas_ddot(w->f, w->f, &chi2);
    for (size_t i = 0; i < fd->n; i++)
        ss += gsl_vector_get(w->f, i) * gsl_vector_get(w->f, i) *
              LINE_WIDTH * LINE_WIDTH;
    *cost = chi2;
    *rms = sqrt(ss / (double)fd->n);
    gsl_multifit_nlinear_covar(gsl_multifit_nlinear_jac(w), 0.0, cov);
    for (k = 0; k < FIT_FREE; k++) {
        double su = sqrt(gsl_matrix_get(cov, k, k) * chi2 /
                         (double)(n > FIT_FREE ? n - FIT_FREE : 1));
        double uk = gsl_vector_get(w->x, k);
        /* natural units (delta method) */
        sigma[k] = k < 5 ? exp(uk) * su : k == 5 ? su :
                   ITER_UNIT_US * su / (1 + exp(-uk));
    }
    gsl_multifit_nlinear_free(w);
    gsl_matrix_free(cov);
    return LLM_OK;
}

/* A backend with tables of its own that the device lacks is no
 * candidate: it would only repeat FlashAttention-2's. */
static bool has_tables(const struct cost_env *env, const struct engine *e)
{
    return engine_attn_available(env->root, env->dev->calib_dir, e->prefill,
                                 false) &&
           engine_attn_available(env->root, env->dev->calib_dir, e->decode,
                                 true);
}

/* Each structural choice that differs from the base's costs ln(lines) in
 * the fit's cost, as the Bayesian information criterion charges one more
 * parameter: a structure must be bought by the batches, not by the
 * priors.  Without it a backend whose prior is merely wider (sdpa's decode
 * against FA2's) wins on batches that cannot tell them apart -- one call
 * per group equals one call for a uniform batch -- and then prices a
 * ragged batch as one call per sequence. */
static double structure_penalty(const struct engine *a,
                                const struct engine *base, size_t lines)
{
    int k = (a->elem != base->elem) +
            (a->qkv_separate != base->qkv_separate ||
             a->gate_up_separate != base->gate_up_separate) +
            (a->prefill != base->prefill) + (a->decode != base->decode);

    return k * log((double)lines);
}

/* The candidate structures, base first. */
static int candidates(const struct cost_env *env, const struct engine *base,
                      enum fit_scope scope, struct engine *out)
{
    int n = 0, el, pj, pre, dec;

    bool enumerate = scope == FIT_ALL;

    out[n++] = *base;
    if (scope == FIT_BASE)
        return n;
    for (el = 0; el < (enumerate ? ENG_ELEM_COUNT : 1); el++)
        for (pj = 0; pj < (enumerate ? 2 : 1); pj++)
            for (pre = 0; pre < ENG_ATTN_COUNT; pre++)
                for (dec = 0; dec < ENG_ATTN_COUNT; dec++) {
                    struct engine e = *base;
                    if (enumerate) {
                        e.elem = (enum engine_elem)el;
                        e.qkv_separate = e.gate_up_separate = pj == 1;
                    }
                    /* the prefill backends: varlen FA2, SDPA, and the
                     * ones with their own prefill kernels; FlashDecoding++
                     * is FA2 times its published gain, which the scales
                     * already span: a profile names it, a fit does not */
                    if (pre == ENG_ATTN_SPLIT_KV || pre == ENG_ATTN_FDPP ||
                        dec == ENG_ATTN_FDPP)
                        continue;
                    e.prefill = (enum engine_attn)pre;
                    e.decode = (enum engine_attn)dec;
                    if (memcmp(&e, base, sizeof(e)) == 0 ||
                        n >= FIT_MAX_CANDIDATES || !has_tables(env, &e))
                        continue;
                    out[n++] = e;
                }
    return n;
}

int engine_fit(const struct cost_env *env, const struct engine *base,
               enum fit_scope scope, const struct fit_line *lines, size_t n,
               struct fit_result *out, struct llm_diag *d)
{
    struct cost_env ce = *env;
    struct engine e = *base, *cand;
    struct cost_model *cm = NULL;
    struct cost_parts cp = { 0 };
    struct fit_data fd = { .lines = lines, .n = n, .async = base->async };
    double best = INFINITY;
    int nc, i, rc;

    memset(out, 0, sizeof(*out));
    if (n < FIT_MIN_LINES)
        return diag_set(d, LLM_EINVAL, "%zu measured lines: at least %d "
                        "are needed to fit an engine", n, FIT_MIN_LINES);
    cand = calloc(FIT_MAX_CANDIDATES, sizeof(*cand));
    fd.first = calloc(n + 1, sizeof(*fd.first));
    out->pred_ms = calloc(n, sizeof(double));
    if (cand == NULL || fd.first == NULL || out->pred_ms == NULL) {
        rc = diag_set(d, LLM_ENOMEM, "out of memory");
        goto out_free;
    }
    ce.engine = &e;
    rc = cost_create(&ce, NULL, "cost_model", &cm, d);
    if (rc)
        goto out_free;
    nc = candidates(env, base, scope, cand);
    for (i = 0; i < nc && rc == LLM_OK; i++) {
        struct fit_candidate *fc = &out->cand[out->n_cand];
        struct engine_params p = base->p;
        double sig[FIT_FREE];
        int32_t x = 0;
        e = cand[i];
        for (int k = 0; k < FIT_FREE; k++)
            engine_fit_prior(k, e.decode, &fd.centre[k], &fd.width[k]);
        rc = cost_set_engine(cm, &e);
        if (!rc) rc = collect(cm, lines, n, &fd, &cp, &x, d);
        if (!rc) rc = fit_one(&fd, &p, &fc->cost, &fc->rms_log, sig);
        if (rc)
            break;
        fc->cost += structure_penalty(&e, base, n);
        fc->e = cand[i];
        fc->e.p = p;
        out->n_cand++;
        /* a later candidate must beat the earlier ones by 1% of cost: what
         * the batches cannot tell apart keeps the base's structure */
        if (fc->cost < best * 0.99) {
            best = fc->cost;
            out->e = fc->e;
            out->cost = fc->cost;
            out->rms_log = fc->rms_log;
            out->extrapolated = x;
            memcpy(out->sigma, sig, sizeof(sig));
        }
    }
    if (rc == LLM_OK)
        rc = engine_predict(env, &out->e, lines, n, out->pred_ms, d);
    for (size_t k = 0; rc == LLM_OK && k < n; k++) {
        double ape = fabs(out->pred_ms[k] / lines[k].ms - 1) * 100;
        out->mape += ape / (double)n;
        out->max_ape = ape > out->max_ape ? ape : out->max_ape;
    }
    out->n = n;
out_free:
    cost_destroy(cm);
    cost_parts_free(&cp);
    free(fd.p);
    free(fd.first);
    free(cand);
    return rc;
}

int engine_predict(const struct cost_env *env, const struct engine *e,
                   const struct fit_line *lines, size_t n, double *ms,
                   struct llm_diag *d)
{
    struct cost_env ce = *env;
    struct cost_model *cm = NULL;
    int rc;

    ce.engine = e;
    rc = cost_create(&ce, NULL, "cost_model", &cm, d);
    for (size_t i = 0; rc == LLM_OK && i < n; i++) {
        struct cost_breakdown bd;
        rc = cost_price(cm, &lines[i].b, &bd);
        if (rc)
            rc = diag_set(d, rc, "line %ld: cannot price the batch",
                          lines[i].lineno);
        ms[i] = (double)bd.total_ns / 1e6;
    }
    cost_destroy(cm);
    return rc;
}

void fit_result_free(struct fit_result *r)
{
    free(r->pred_ms);
    r->pred_ms = NULL;
}
