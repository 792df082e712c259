/* cli/run.h: `llmsim run`: one scenario, end to end.
 *
 * run_scenario wires a loaded scenario together (source, cost model,
 * replicas, router, recorder), runs it, and writes DIR/results.sqlite and
 * DIR/summary.json as a pair: both are complete under temporary names
 * before either is renamed into place, and a failure leaves the previous
 * pair (or none) as it was; errors name the path.  The summary object is
 * returned to the caller (cJSON_Delete).  cmd_run is the command line. */
#ifndef LLM_RUN_H
#define LLM_RUN_H

#include <stdio.h>

#include <cjson/cJSON.h>

#include "cli/scenario.h"
#include "sim/diag.h"
#include "sim/sim.h"

struct run_opts {
    const char *out_dir;        /* NULL: the scenario's */
    int quiet;
    /* Opens the summary's temporary file for writing; NULL: fopen.  A
     * test hook (a full disk is fopen of /dev/full), per run, no global. */
    FILE *(*open_file)(const char *path, const char *mode);
};

int run_scenario(struct scenario *sc, const struct run_opts *o,
                 cJSON **summary, struct sim_stats *stats,
                 struct llm_diag *d);
void run_print_summary(const cJSON *summary, const struct scenario *sc);

int cmd_run(int argc, char **argv);

#endif
