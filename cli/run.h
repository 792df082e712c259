/* cli/run.h: `llmsim run`: one scenario, end to end.
 *
 * run_scenario wires a loaded scenario together (source, cost model,
 * replicas, router, recorder), runs it, and writes DIR/results.sqlite and
 * DIR/summary.json (and DIR/vllm.json when asked) as a set: all are
 * complete under temporary names before any is renamed into place: a
 * failure before the renames leaves the previous set (or none) as it was,
 * one during them removes the new files, so a new file never sits beside
 * an old one; errors name the path.  A run without vllm removes a
 * vllm.json an earlier run left.  The summary object is
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
    /* The simulation alone: no results database, no summary (*summary
     * stays NULL); what `llmsim bench` compares a full run with. */
    int no_output;
    int vllm;                   /* also DIR/vllm.json (analysis/vllm.h) */
    int progress;               /* a progress line on stderr (progress.h) */
    /* Opens the summary's (and vllm.json's) temporary file for writing;
     * NULL: fopen.  A test hook (a full disk is fopen of /dev/full), per
     * run, no global. */
    FILE *(*open_file)(const char *path, const char *mode);
};

int run_scenario(struct scenario *sc, const struct run_opts *o,
                 cJSON **summary, struct sim_stats *stats,
                 struct llm_diag *d);
/* The console summary: the scenario, counts, throughput, goodput, KV,
 * energy, then a latency table whose rows are in ms, s or min, picked per
 * row from its largest printed value, "n/a" where there is no figure. */
void run_print_summary(const cJSON *summary, const struct scenario *sc);
void run_fprint_summary(FILE *f, const cJSON *summary,
                        const struct scenario *sc);

int cmd_run(int argc, char **argv);

#endif
