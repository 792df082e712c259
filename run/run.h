/* run/run.h: one scenario, end to end (what `llmsim run` runs).
 *
 * run_scenario wires a loaded scenario together (source, cost model,
 * replicas, router, recorder), runs it, and writes DIR/results.sqlite and
 * DIR/summary.json (and DIR/vllm.json when asked) as a set: all are
 * complete under temporary names before any is renamed into place: a
 * failure before the renames leaves the previous set (or none) as it was,
 * one during them removes the new files, so a new file never sits beside
 * an old one; errors name the path.  A run without vllm removes a
 * vllm.json an earlier run left.  The summary object is
 * returned to the caller (cJSON_Delete).  cli/cmd_run.h is the command
 * line and prints the summary. */
#ifndef LLM_RUN_H
#define LLM_RUN_H

#include <stdio.h>

#include <cjson/cJSON.h>

#include "run/scenario.h"
#include "base/diag.h"
#include "sim/sim.h"

struct run_opts {
    const char *out_dir;        /* NULL: the scenario's */
    int quiet;
    /* The simulation alone: no results database, no summary (*summary
     * stays NULL); what `llmsim bench` compares a full run with. */
    int no_output;
    int vllm;                   /* also DIR/vllm.json (analysis/vllm.h) */
    int progress;               /* a progress line on stderr (progress.h) */
    int no_warn;                /* no extrapolation warning (a rerun's) */
    /* Opens the summary's (and vllm.json's) temporary file for writing;
     * NULL: fopen.  A test hook (a full disk is fopen of /dev/full), per
     * run, no global. */
    FILE *(*open_file)(const char *path, const char *mode);
    /* --sensitivity: the TTFT p90 of the same run with every iteration
     * sens_scale times as long, added to the summary (0: none;
     * run_sensitivity fills both). */
    double sens_scale;
    double sens_ttft_p90_ms;
};

int run_scenario(struct scenario *sc, const struct run_opts *o,
                 cJSON **summary, struct sim_stats *stats,
                 struct llm_diag *d);
/* Runs sc with o (its out_dir replaced) into a fresh folder under /tmp,
 * calls look(dir, summary, arg) while the run's files are there (look may
 * be NULL), then removes them and the folder.  Returns the run's error,
 * else look's. */
int run_scratch(struct scenario *sc, struct run_opts o,
                int (*look)(const char *dir, const cJSON *summary,
                            void *arg),
                void *arg, struct llm_diag *d);
/* --sensitivity: loads config with sets (n of them; sets has room for
 * one more and stays NULL-terminated) and runs it quietly into a
 * temporary folder with every iteration 3% longer (its
 * cost_model.time_scale x 1.03), then sets o->sens_scale and
 * o->sens_ttft_p90_ms for the run that follows.  The folder is removed;
 * errors are the scenario's or the run's. */
int run_sensitivity(const char *config, const char **sets, int n,
                    struct run_opts *o, struct llm_diag *d);

#endif
