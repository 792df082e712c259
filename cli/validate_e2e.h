/* cli/validate_e2e.h: `llmsim validate-e2e [DIR] [--plots DIR]` (issues 8
 * and 20).
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
 *      (pricing alone), so the two errors are reported apart;
 *   3. the load, measured and simulated: utilization (run/e2e_load.h;
 *      measured when the iterations record "waiting"), busy share and
 *      requests awaiting a first token; and llmsim's TTFT p90 change with
 *      every iteration 1%, 3% and 5% longer (cost_model.time_scale).
 * Prints one table per run and the targets per folder (SUB, or DIR for
 * runs directly in it): p50 and p90 within 5% in at least 80% of its runs,
 * p99 within 10% and throughput within 3% in every run.  With --plots
 * writes NAME.dat and NAME.gp (measured vs simulated CDFs),
 * NAME_load.dat and NAME_load.gp (load over time), sensitivity.dat and
 * sensitivity.gp (every run) and summary.md.  Exit 0 when every folder
 * meets the targets or when no measured run exists yet (said so), 1 when
 * one misses them, 2 on bad input (the file and line are named). */
#ifndef LLM_VALIDATE_E2E_H
#define LLM_VALIDATE_E2E_H

int cmd_validate_e2e(int argc, char **argv);

#endif
