/* run/sweep_mpi.h: a sweep shared among the ranks of mpirun (the
 * LLMSIM_MPI build, build/llmsim-mpi; the plain build compiles this file
 * without MPI, and sweep_mpi_built says so).
 *
 * Rank 0 registers and validates the points, then broadcasts which to run
 * (index into the expansion, database id).  Ranks take them round robin;
 * rank r > 0 sends each result to rank 0 as one text message, numbers in
 * %.17g so they arrive bit for bit:
 *   "ok INDEX WALL_S\n" then "NAME VALUE\n" per metric, or
 *   "err INDEX CODE\n" then the message.
 * Rank 0 runs its own share, drains messages between its points, then
 * waits for the rest, and alone writes the database. */
#ifndef LLM_RUN_SWEEP_MPI_H
#define LLM_RUN_SWEEP_MPI_H

#include <stdbool.h>
#include <stdint.h>

#include "base/diag.h"
#include "run/sweep.h"

/* Whether mpirun started this process: with MPI, any launcher's rank
 * variables; without, more than one rank (which this build cannot
 * serve: every rank would run the whole sweep into one file). */
bool sweep_mpi_launched(void);
/* Whether this build shares sweeps among MPI ranks. */
bool sweep_mpi_built(void);

/* What the command line does at the two points where only it may print. */
struct sweep_mpi_hooks {
    void *ctx;
    /* Rank 0, after every point ran: the table and the closing line. */
    void (*done)(void *ctx, const struct sweep_job *j,
                 const struct sweep_tally *t, const int64_t counts[4]);
    /* The one error line, just before MPI_Abort ends the whole job
     * (ranks may be blocked sending to rank 0). */
    void (*fatal)(void *ctx, int rc, const struct llm_diag *d);
};

/* Initialises MPI, runs the sweep of a on every rank, finalizes MPI.
 * *rank: this process's rank.  Rank 0 returns the sweep's code (d says
 * why); other ranks their own (their messages went to rank 0).  In the
 * plain build: LLM_EINVAL without starting anything. */
int sweep_mpi_run(const struct sweep_args *a,
                  const struct sweep_mpi_hooks *h, int *rank,
                  struct llm_diag *d);

#endif
