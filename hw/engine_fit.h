/* hw/engine_fit.h: fitting an engine profile to measured iteration times
 * (llmsim calibrate; issue 16).
 *
 * Given iteration times an engine took on known batches (one model, one
 * device, one tensor-parallel degree), engine_fit finds the profile
 * (hw/engine.h) that prices them best: for each candidate structure it
 * fits the six parameters (gemm, attn_prefill, attn_decode, elementwise
 * scales; layer_us; iter_us) by nonlinear least squares (GSL's
 * gsl_multifit_nlinear, trust region) on the log of predicted / measured
 * time, each parameter pulled towards a prior (a scale of 1, no fixed time)
 * with a stated width, so that what the batches cannot tell apart stays at
 * its physical default rather than wandering; then it keeps the candidate
 * of least cost, each structural choice that differs from the base's
 * charged ln(lines) (the Bayesian information criterion's price of one
 * more parameter).  Candidates: the base profile's structure with every
 * attention backend the device has tables for (prefill x decode); with
 * FIT_ALL, also every element-wise style (fused, fused_add, unfused) and
 * fused or separate projections.  Execution is the base's (graph or
 * piecewise or eager: only graph and async graph engines are fitted here;
 * dispatch_us keeps the base's value).
 *
 * The price of a line under parameters is exactly the cost model's
 * (cost_part_s over the parts, plus the graph replay, layer_us per layer
 * and the host time), so `llmsim step --engine FILE` reproduces the fit's
 * predictions.  Not thread-safe; allocates per call. */
#ifndef LLM_ENGINE_FIT_H
#define LLM_ENGINE_FIT_H

#include <stdbool.h>
#include <stddef.h>

#include "hw/cost.h"
#include "hw/engine.h"
#include "sim/batch.h"
#include "base/diag.h"

/* Which structures are candidates: the base's only, the base's with every
 * attention backend, or every structure. */
enum fit_scope { FIT_BASE, FIT_ATTN, FIT_ALL };

struct fit_line {
    struct batch b;            /* owned by the caller */
    double ms;                 /* measured */
    long lineno;               /* for messages */
};

#define FIT_FREE 7             /* parameters fitted: engine_param 0..6 */
/* Fewest lines a fit takes: the priors hold what the lines leave open, but
 * fewer than six batches cannot separate GEMM, attention and fixed time. */
#define FIT_MIN_LINES 6
#define FIT_MAX_CANDIDATES 160

struct fit_candidate {
    struct engine e;           /* structure and fitted parameters */
    double cost;               /* sum of squared residuals, priors and the
                                * structure's penalty included */
    double rms_log;            /* of the lines alone */
};

struct fit_result {
    struct engine e;           /* the best candidate */
    double cost, rms_log, mape, max_ape;
    double sigma[FIT_FREE];    /* one standard deviation, natural units */
    double *pred_ms;           /* per line; owned (fit_result_free) */
    size_t n;
    struct fit_candidate cand[FIT_MAX_CANDIDATES];
    int n_cand;                /* tried, in the order tried */
    int32_t extrapolated;      /* operators outside the tables, all lines */
};

/* The prior of parameter i for a candidate whose decode backend is
 * decode: its centre (natural units) and width (log units for scales,
 * microseconds for times). */
void engine_fit_prior(int i, enum engine_attn decode, double *centre,
                      double *width);

/* env: the model, device and sharding (env->engine is ignored); base: the
 * structure to start from.  LLM_EINVAL names the line when a batch cannot
 * be priced, and says so when there are fewer than FIT_MIN_LINES. */
int engine_fit(const struct cost_env *env, const struct engine *base,
               enum fit_scope scope, const struct fit_line *lines, size_t n,
               struct fit_result *out, struct llm_diag *d);
void fit_result_free(struct fit_result *r);

/* The price (ms) of every line under e (the cost model itself), for
 * predictions from a profile. */
int engine_predict(const struct cost_env *env, const struct engine *e,
                   const struct fit_line *lines, size_t n, double *ms,
                   struct llm_diag *d);

#endif
