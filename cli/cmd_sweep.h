/* cli/cmd_sweep.h: `llmsim sweep`, and the point runner the planner shares.
 *
 * A point is run as `llmsim run` would run it: the base scenario loaded
 * with the fixed overrides, then the point's (its params and seed), into
 * its own scratch directory RUNS/p<id>/; its figures are read back from
 * that results.sqlite (sweepdb_run_metrics) and recorded in the sweep
 * database, one transaction per point, by this process only.  With
 * jobs > 1 the points run in forked child processes, at most jobs at a
 * time; the parent alone touches the database.  Under mpirun (the
 * LLMSIM_MPI build, build/llmsim-mpi) the ranks share the points round
 * robin and send their figures to rank 0, which writes the one database.
 * docs/analysis.md describes the command and the files. */
#ifndef LLM_CMD_SWEEP_H
#define LLM_CMD_SWEEP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "analysis/sweep.h"
#include "analysis/sweepdb.h"
#include "base/diag.h"

struct sweep_exec {
    const char *base_path;          /* the base scenario file */
    const char *const *fixed;       /* overrides before each point's */
    const char *runs_dir;           /* scratch: one directory per point */
    struct sweepdb *db;
    int64_t jobs;                   /* processes at a time; 1: in process */
    bool keep_runs;                 /* keep each point's results.sqlite */
    bool quiet;                     /* no progress lines */
};

/* Loads each config of pts that is not done: one that does not fit its
 * hardware (LLM_ERANGE) is recorded infeasible, with the message, for
 * all its seeds; any other error is returned, naming the point. */
int sweep_exec_validate(const struct sweep_exec *x, struct sweep_point *pts,
                        size_t n, struct llm_diag *d);

/* What sweep_exec_run did: points run, points whose run failed (each
 * recorded as failed with its message) and the first failure. */
struct sweep_tally {
    size_t ran, failed;
    int first_code;                 /* enum llm_err of the first failure */
    char first_error[1200];
};

/* Runs every point of pts that is pending or failed and records it.  The
 * return code and d are for the sweep itself (database, fork): a point
 * that fails is counted in *t, and the sweep goes on. */
int sweep_exec_run(const struct sweep_exec *x, struct sweep_point *pts,
                   size_t n, struct sweep_tally *t, struct llm_diag *d);

int cmd_sweep(int argc, char **argv);

#endif
