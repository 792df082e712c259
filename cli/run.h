/* cli/run.h: `llmsim run`: one scenario, end to end.
 *
 * run_scenario wires a loaded scenario together (source, cost model,
 * replicas, router, recorder), runs it, and writes DIR/results.sqlite and
 * DIR/summary.json, each complete or not at all.  The summary object is
 * returned to the caller (cJSON_Delete).  cmd_run is the command line. */
#ifndef LLM_RUN_H
#define LLM_RUN_H

#include <cjson/cJSON.h>

#include "cli/scenario.h"
#include "sim/diag.h"
#include "sim/sim.h"

struct run_opts {
    const char *out_dir;        /* NULL: the scenario's */
    int quiet;
    /* The simulation alone: no results database, no summary (*summary
     * stays NULL); what `llmsim bench` compares a full run with. */
    int no_output;
};

int run_scenario(struct scenario *sc, const struct run_opts *o,
                 cJSON **summary, struct sim_stats *stats,
                 struct llm_diag *d);
void run_print_summary(const cJSON *summary, const struct scenario *sc);

int cmd_run(int argc, char **argv);

#endif
