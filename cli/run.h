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
     * sens_scale times as long, added to the summary (0: none). */
    double sens_scale;
    double sens_ttft_p90_ms;
};

/* Above this utilization (the summary's "utilization": the share of the
 * run during which requests the engine had seen were left waiting after
 * it planned an iteration) small iteration-time errors grow into larger
 * TTFT errors, and the run summary warns.  From scripts/sensitivity_scan.sh
 * on the e2e slices (docs/validation.md, "Saturation"): below 1%, TTFT p90
 * moved 1.2x the iteration-time change (median of 14 runs, at most 2.6x);
 * from 1% to 10%, 2.1x (up to 31x, where a queue starts to build); above,
 * 1.6x-1.9x of a TTFT already in seconds. */
#define RUN_UTILIZATION_WARN 0.01

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
