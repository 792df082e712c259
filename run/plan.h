/* run/plan.h: the capacity planner's executor: `llmsim plan PLAN.json`.
 *
 * Runs analysis/plan.h's search for every candidate through the sweep's
 * point runner (run/sweep.h: jobs > 1 runs the seeds of a rate in
 * parallel processes), keeping every run in OUT/plan.sqlite (a sweep
 * database of kind "plan", so a rerun reuses every finished run), then
 * ranks the candidates and writes OUT/report.md and OUT/plots/.  Each
 * rate tried is one progress line on the log; nothing else is printed
 * (the ranked table is analysis/plan.h's plan_print_table). */
#ifndef LLM_RUN_PLAN_H
#define LLM_RUN_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "analysis/plan.h"
#include "base/diag.h"
#include "run/sweep.h"

/* Searches candidate c of p (its combination number) and fills *r.  x
 * runs the points (its fixed sets must include plan_fixed_sets).  A
 * candidate that does not fit is PLAN_INFEASIBLE (LLM_OK); other config
 * errors are returned.  log: a line per rate tried (NULL: none). */
int plan_search_candidate(const struct plan_spec *p,
                          const struct sweep_exec *x, size_t c, FILE *log,
                          struct plan_result *r, struct llm_diag *d);

/* A plan file's whole run; owns what it holds (plan_job_free). */
struct plan_job {
    struct plan_spec p;
    char **slo_sets;
    const char **fixed;          /* the file's set, then slo_sets */
    struct sweepdb *db;
    struct sweep_exec x;
    struct plan_result *res;     /* ranked once plan_job_run returns */
    size_t n_res;
    char out[512], db_path[1100], runs[1100], plots[1100];
};

/* Searches every candidate of file, ranks them, writes OUT/report.md and
 * OUT/plots/.  out NULL: the plan's; engine: every point on this engine
 * (an id or profile file; NULL: the config's); jobs 0: the plan's; log:
 * progress lines (NULL: none).  Refused under mpirun (the rates depend on
 * each other). */
int plan_job_run(struct plan_job *j, const char *file, const char *out,
                 const char *engine, int64_t jobs, FILE *log,
                 struct llm_diag *d);
void plan_job_free(struct plan_job *j);

/* plan_job_run on the config's engine, keeping only the ranked results
 * (*res: the caller frees; *n) on LLM_OK. */
int plan_run(const char *file, const char *out, int64_t jobs, FILE *log,
             struct plan_result **res, size_t *n, struct llm_diag *d);

#endif
