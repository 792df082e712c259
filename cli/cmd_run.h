/* cli/cmd_run.h: `llmsim run CONFIG [--out DIR] [--seed N] [--engine ID]
 * [--set key.path=value]... [--format vllm] [--quiet] [--sensitivity]`:
 * the arguments, the run (run/run.h) and its console summary. */
#ifndef LLM_CMD_RUN_H
#define LLM_CMD_RUN_H

#include <stdio.h>

#include <cjson/cJSON.h>

#include "run/scenario.h"

/* Above this utilization (the summary's "utilization": the share of the
 * run during which requests the engine had seen were left waiting after
 * it planned an iteration) small iteration-time errors grow into larger
 * TTFT errors, and the run summary warns.  From scripts/sensitivity_scan.sh
 * on the e2e slices (docs/validation.md, "Saturation"): below 1%, TTFT p90
 * moved 1.2x the iteration-time change (median of 14 runs, at most 2.6x);
 * from 1% to 10%, 2.1x (up to 31x, where a queue starts to build); above,
 * 1.6x-1.9x of a TTFT already in seconds. */
#define RUN_UTILIZATION_WARN 0.01

/* The console summary of sc's run to f: the scenario, counts,
 * throughput, goodput, KV, energy, then a latency table whose rows are in
 * ms, s or min, picked per row from its largest printed value, "n/a"
 * where there is no figure. */
void cmd_run_print_summary(FILE *f, const cJSON *summary,
                           const struct scenario *sc);

int cmd_run(int argc, char **argv);

#endif
