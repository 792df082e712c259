/* cli/cmd_sweep.h: `llmsim sweep SWEEP.json [-j N] [--out DIR]
 * [--engine ID|FILE] [--quiet]`: the arguments, the sweep (run/sweep.h,
 * run/sweep_mpi.h under mpirun) and its table of configs with confidence
 * intervals over seeds.  docs/analysis.md describes the command. */
#ifndef LLM_CMD_SWEEP_H
#define LLM_CMD_SWEEP_H

int cmd_sweep(int argc, char **argv);

#endif
