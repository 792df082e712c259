/* cli/validate_e2e.h: `llmsim validate-e2e [DIR] [--plots DIR]` (issue 8).
 *
 * Reads every measured run DIR/NAME.jsonl and DIR/SUB/NAME.jsonl (default
 * hw/calib/data/e2e), written by hw/calib/reference/serve.py on a GPU: a
 * "run" line naming the llmsim scenario and its --set overrides, then
 * "request" and "iteration" lines with integer ns times.  For each run:
 *   1. llmsim runs the same scenario with the same overrides, and the
 *      p50, p90 and p99 of TTFT, TPOT and end-to-end latency and the
 *      output-token throughput are compared with the measured ones
 *      (scheduling and pricing together);
 *   2. every measured iteration's batch is priced by the scenario's cost
 *      model alone (cost_price) and compared with its measured duration
 *      (pricing alone), so the two errors are reported apart.
 * Prints one table per run; with --plots writes NAME.dat (CDF blocks) and
 * NAME.gp (gnuplot: measured vs simulated CDFs) per run.  Exit 0 when
 * every run meets the targets (p50 and p90 within 5%, p99 within 10%,
 * throughput within 3%) or when no measured run exists yet (said so), 1
 * when one misses them, 2 on bad input (the file and line are named). */
#ifndef LLM_VALIDATE_E2E_H
#define LLM_VALIDATE_E2E_H

int cmd_validate_e2e(int argc, char **argv);

#endif
