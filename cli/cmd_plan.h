/* cli/cmd_plan.h: `llmsim plan PLAN.json [-j N] [--out DIR] [--quiet]`.
 *
 * Runs analysis/plan.h's search for every candidate through the sweep's
 * point runner (cli/cmd_sweep.h: -j N runs the seeds of a rate in
 * parallel processes), keeping every run in DIR/plan.sqlite (a sweep
 * database of kind "plan", so a rerun reuses every finished run), then
 * prints the ranked table and writes DIR/report.md and DIR/plots/. */
#ifndef LLM_CMD_PLAN_H
#define LLM_CMD_PLAN_H

#include "analysis/plan.h"
#include "cli/cmd_sweep.h"

/* Searches candidate c of p (its combination number) and fills *r.  x
 * runs the points (its fixed sets must include plan_fixed_sets).  A
 * candidate that does not fit is PLAN_INFEASIBLE (LLM_OK); other config
 * errors are returned. */
int plan_search_candidate(const struct plan_spec *p,
                          const struct sweep_exec *x, size_t c,
                          bool quiet, struct plan_result *r,
                          struct llm_diag *d);

/* The whole plan: searches every candidate, ranks them, prints the
 * table (unless quiet), writes OUT/report.md and OUT/plots/.  out NULL:
 * the plan's; jobs 0: the plan's.  *res (ranked, caller frees) and *n
 * are set on LLM_OK. */
/* plan_run_engine with every point on engine (an id or profile file;
 * NULL: the config's). */
int plan_run_engine(const char *file, const char *out, const char *engine,
                    int64_t jobs, bool quiet, struct plan_result **res,
                    size_t *n, struct llm_diag *d);
int plan_run(const char *file, const char *out, int64_t jobs, bool quiet,
             struct plan_result **res, size_t *n, struct llm_diag *d);

int cmd_plan(int argc, char **argv);

#endif
