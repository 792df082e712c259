/* analysis/disagg_search.h: DistServe's placement search (issue 10).
 *
 * A candidate is a prefill pool and a decode pool (tensor parallelism and
 * replica count each) using at most grid.max_gpus GPUs.  For each, the
 * search finds the highest Poisson rate (req/s) the caller's evaluation
 * passes (DistServe: >= 90% of requests meet both TTFT and TPOT), with the
 * planner's doubling-then-bisection (analysis/plan.h, plan_bisect_*; the
 * plan_search "scale" is the rate in req/s here), and ranks candidates by
 * that rate per GPU.  Like the planner it assumes passing is monotone in
 * the rate.
 *
 * Pure: the runs are the caller's (dsearch_eval_fn; cli/cmd_dsearch.h runs
 * scenarios).  Not thread-safe only in that the callback's context is the
 * caller's. */
#ifndef LLM_DISAGG_SEARCH_H
#define LLM_DISAGG_SEARCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "analysis/plan.h"
#include "base/diag.h"

#define DSEARCH_MAX_TPS 4

struct dsearch_grid {
    int32_t max_gpus;              /* a candidate uses at most this many */
    int32_t max_replicas;          /* per pool */
    int32_t tps[DSEARCH_MAX_TPS];  /* tp values tried for each pool */
    int n_tps;
};

struct dsearch_cand {
    int32_t prefill_tp, prefill_n, decode_tp, decode_n;
    int32_t gpus;
};

/* The candidates in a fixed order (prefill tp, prefill n, decode tp,
 * decode n ascending); returns how many, writing at most cap. */
size_t dsearch_candidates(const struct dsearch_grid *g,
                          struct dsearch_cand *out, size_t cap);

/* Runs candidate c at rate_req_s; *pass: it meets the SLOs.  A code other
 * than LLM_OK stops the search (the callee has filled d). */
typedef int dsearch_eval_fn(void *ctx, const struct dsearch_cand *c,
                            double rate_req_s, bool *pass,
                            struct llm_diag *d);

struct dsearch_result {
    struct dsearch_cand c;
    enum plan_status status;       /* PLAN_OK, _UNBOUNDED or _NONE */
    double rate_req_s;             /* highest passing rate; 0: none */
    double fail_req_s;             /* lowest failing rate; 0: none */
    double per_gpu;                /* rate_req_s / gpus */
    int steps;
};

/* The highest passing rate of one candidate (c may be NULL for a
 * caller-defined baseline; then r->c.gpus must be set by the caller). */
int dsearch_goodput(const struct plan_search *s, dsearch_eval_fn *fn,
                    void *ctx, const struct dsearch_cand *c,
                    struct dsearch_result *r, struct llm_diag *d);

/* Every candidate of g; out[0..*n) in candidate order, *best the index of
 * the highest rate per GPU (ties: fewer GPUs, then earlier), or *n when
 * none passes at any rate. */
int dsearch_run(const struct dsearch_grid *g, const struct plan_search *s,
                dsearch_eval_fn *fn, void *ctx, struct dsearch_result *out,
                size_t cap, size_t *n, size_t *best, struct llm_diag *d);

#endif
