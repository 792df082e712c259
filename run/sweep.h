/* run/sweep.h: the sweep executor: runs a sweep's points, and the point
 * runner the planner shares (run/plan.h).
 *
 * A point is run as `llmsim run` would run it: the base scenario loaded
 * with the fixed overrides, then the point's (its params and seed), into
 * its own scratch directory RUNS/p<id>/; its figures are read back from
 * that results.sqlite (sweepdb_run_metrics) and recorded in the sweep
 * database, one transaction per point, by this process only.  With
 * jobs > 1 the points run in forked child processes, at most jobs at a
 * time; the parent alone touches the database.  Under mpirun the ranks
 * share the points (run/sweep_mpi.h).  Progress lines ("[i/n] params,
 * seed s: 0.12 s") go to the executor's log, nothing else is printed.
 * docs/analysis.md describes the command and the files. */
#ifndef LLM_RUN_SWEEP_H
#define LLM_RUN_SWEEP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cjson/cJSON.h>

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
    FILE *log;                      /* progress lines; NULL: none */
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
/* LLM_OK when no point failed; else the first failure's code, and d
 * says how many failed and the first message. */
int sweep_tally_error(const struct sweep_tally *t, struct llm_diag *d);

/* ---- a sweep file's whole run (`llmsim sweep`) ------------------------ */

struct sweep_args {
    const char *file;               /* SWEEP.json */
    const char *out;                /* NULL: the file's out_dir */
    const char *engine;             /* a fixed "engine" override; NULL */
    int64_t jobs;                   /* 0: the file's */
    FILE *log;                      /* progress lines; NULL: none */
};

/* The spec, its points, the database OUT/sweep.sqlite and the executor
 * over them; the job owns all of them (sweep_job_free). */
struct sweep_job {
    struct sweep_spec sp;
    struct sweep_point *pts;
    size_t n;
    struct sweepdb *db;
    char out[512], db_path[1100], runs[1100];
    struct sweep_exec x;
};

/* Loads a->file and expands its points (no file is written yet); errors
 * name the sweep file. */
int sweep_job_load(struct sweep_job *j, const struct sweep_args *a,
                   struct llm_diag *d);
/* Creates OUT, opens the database (reusing a previous run's finished
 * points), registers and validates every point. */
int sweep_job_open(struct sweep_job *j, struct llm_diag *d);
/* After the points: the aggregates over seeds, and counts[SWEEPDB_*] of
 * points by status. */
int sweep_job_summarize(struct sweep_job *j, int64_t counts[4],
                        struct llm_diag *d);
void sweep_job_free(struct sweep_job *j);

/* ---- one point, for the MPI transport (run/sweep_mpi.c) --------------- */

/* Seconds of a monotonic clock (a point's wall time). */
double sweep_now_s(void);
bool sweep_point_runnable(const struct sweep_point *p);  /* pending/failed */
/* p's scratch folder RUNS/p<id>. */
void sweep_exec_point_dir(const struct sweep_exec *x,
                          const struct sweep_point *p, char *buf, size_t len);
/* Runs p into dir; on failure msg gets "file: message". */
int sweep_exec_point(const struct sweep_exec *x, const struct sweep_point *p,
                     const char *dir, char *msg, size_t len);
/* The figures of p's finished run in dir, as a metrics object. */
int sweep_exec_metrics(const char *dir, cJSON **m, struct llm_diag *d);
/* Removes dir's files unless the sweep keeps its runs. */
void sweep_exec_cleanup(const struct sweep_exec *x, const char *dir);
/* Records p as failed with msg and counts it in *t (the first kept). */
int sweep_exec_failed(const struct sweep_exec *x, struct sweep_point *p,
                      const char *msg, int code, struct sweep_tally *t,
                      struct llm_diag *d);
/* Runs p in this process and records it (as rank). */
int sweep_exec_inline(const struct sweep_exec *x, struct sweep_point *p,
                      int rank, size_t total, struct sweep_tally *t,
                      struct llm_diag *d);
/* The progress line of p, the t->ran-th of total (err: its failure). */
void sweep_exec_progress(const struct sweep_exec *x,
                         const struct sweep_point *p, size_t total,
                         const struct sweep_tally *t, double wall,
                         const char *err);

#endif
