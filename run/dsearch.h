/* run/dsearch.h: DistServe's placement search
 * (analysis/disagg_search.h) over real runs of a cluster scenario.
 *
 * The scenario's first prefill pool and first decode pool are templates
 * (device, scheduler, ...); each candidate replaces "cluster.pools" with
 * copies whose tp and replicas are the candidate's, and each rate sets
 * "workload.rate".  A rate passes when the run's slo_attainment (the
 * scenario's "slo") is at least the target.  With no candidate (c NULL)
 * the scenario runs as given: the colocated baseline.  docs/disagg.md. */
#ifndef LLM_RUN_DSEARCH_H
#define LLM_RUN_DSEARCH_H

#include <stdbool.h>

#include <cjson/cJSON.h>

#include "analysis/disagg_search.h"
#include "base/diag.h"

struct dsearch_ctx {
    const char *config;              /* borrowed */
    const char *const *sets;         /* borrowed, NULL-terminated; may be NULL */
    const char *out_dir;             /* borrowed: each run's output */
    double attain;                   /* e.g. 0.9 */
    cJSON *prefill, *decode;         /* owned templates (NULL: baseline) */
};

/* Reads the templates (cluster: true) or checks the config loads. */
int dsearch_ctx_init(struct dsearch_ctx *x, bool cluster,
                     struct llm_diag *d);
void dsearch_ctx_free(struct dsearch_ctx *x);

/* dsearch_eval_fn over scenario runs; ctx is a struct dsearch_ctx. */
int dsearch_eval_scenario(void *ctx, const struct dsearch_cand *c,
                          double rate_req_s, bool *pass,
                          struct llm_diag *d);

/* The scenario as configured (no candidate): its goodput under s, with
 * r->c.gpus its GPU count (the colocated baseline). */
int dsearch_baseline(struct dsearch_ctx *x, const struct plan_search *s,
                     struct dsearch_result *r, struct llm_diag *d);

#endif
