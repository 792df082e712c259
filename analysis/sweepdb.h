/* analysis/sweepdb.h: the database of a sweep (and of a plan's search).
 *
 * One SQLite file holds every point of a sweep, its parameters and its
 * summary figures (docs/analysis.md gives every column):
 *   sweep      (key, value): name, version, base config identity,
 *              load axis, confidence level
 *   configs    (id, params): one row per parameter combination
 *   points     (id, config, seed, params, status, error, attempts,
 *              finished, wall_s, rank): one row per combination and seed
 *   metrics    (point, name, value): every number of the point's run
 *              summary (analysis/summary.h names) plus offered_req_s
 *   aggregates (config, name, n, mean, sd, ci_lo, ci_hi): each metric's
 *              mean over the seeds with its Student t interval
 *
 * Durability: a sweep is resumable, so the file is written in place with
 * one transaction per finished point (SQLite's rollback journal): a killed
 * sweep keeps every point committed before the kill, and a rerun finds
 * them done.  A temporary name and a rename at the end would lose all of
 * that, so only the empty schema is created through a temporary name.
 * Reopening checks that the base config is the one the file was made from.
 *
 * Ownership: the handle owns its connection.  One writer per file (the
 * sweep's parent process, or MPI rank 0); not thread-safe. */
#ifndef LLM_SWEEPDB_H
#define LLM_SWEEPDB_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <sqlite3.h>

#include "analysis/ci.h"
#include "analysis/sweep.h"
#include "base/diag.h"

enum sweepdb_status {
    SWEEPDB_PENDING = 0,
    SWEEPDB_DONE,
    SWEEPDB_FAILED,          /* the run failed; retried on the next run */
    SWEEPDB_INFEASIBLE       /* the config cannot run (does not fit) */
};

struct sweepdb_meta {
    const char *name;
    const char *kind;        /* "sweep" or "plan" */
    const char *base;        /* sweep_base_identity */
    const char *load_axis;
    double confidence;
};

struct sweepdb;

/* Creates path (schema through path.tmp and a rename) or opens it; an
 * existing file made from another base, or not a sweep database, is
 * LLM_EINVAL naming the file. */
int sweepdb_open(const char *path, const struct sweepdb_meta *m,
                 struct sweepdb **out, struct llm_diag *d);
void sweepdb_close(struct sweepdb *db);          /* NULL ok */
sqlite3 *sweepdb_handle(struct sweepdb *db);

/* Finds or inserts each point (params, seed) and its config, in one
 * transaction; sets each point's id and status (new points are pending). */
int sweepdb_register(struct sweepdb *db, struct sweep_point *pts, size_t n,
                     struct llm_diag *d);
/* Records a point's failure (or infeasibility) and its message; a
 * failure counts as an attempt. */
int sweepdb_fail(struct sweepdb *db, int64_t id, int status,
                 const char *error, struct llm_diag *d);
/* Records a finished point: its metrics object ({"name": number, ...}),
 * wall time and the rank that ran it, all in one transaction; attempts
 * counts every run of the point (so a test can see that a resumed sweep
 * ran nothing twice). */
int sweepdb_record(struct sweepdb *db, int64_t id, const cJSON *metrics,
                   double wall_s, int rank, struct llm_diag *d);

/* Recomputes the aggregates table from the done points. */
int sweepdb_aggregate(struct sweepdb *db, struct llm_diag *d);

/* A metric of one config over its done seeds (ci at the file's level).
 * c->n is 0 when no done point has it. */
int sweepdb_config_metric(struct sweepdb *db, const char *params,
                          const char *name, struct ci *c,
                          struct llm_diag *d);

/* Counts of the points by status. */
int sweepdb_counts(struct sweepdb *db, int64_t counts[4],
                   struct llm_diag *d);

/* The figures of one finished run, read from its results.sqlite: every
 * metrics row, plus offered_req_s = (requests - 1) / (last arrival - first
 * arrival), the load the workload offered.  Caller deletes *out. */
int sweepdb_run_metrics(const char *results_path, cJSON **out,
                        struct llm_diag *d);

#endif
