/* analysis/store.h: the results database of one run.
 *
 * store_open creates DIR/results.sqlite under a temporary name
 * (results.sqlite.tmp) with the tables runs, requests, itl, metrics and
 * kv_tiers, and the view iterations (docs/output.md gives every column):
 * the iteration rows are stored as JSON text, 4,096 to a row of the
 * table iteration_log, which the view reads with SQLite's json_each
 * (issue 24: one table row per iteration took half of a run's time).
 * Rows are added as the run
 * produces them inside one transaction; store_commit finishes the file and
 * renames it into place; store_abort deletes it.  So a failed or
 * interrupted run never leaves a partial results.sqlite.  The store owns
 * its connection.  Not thread-safe. */
#ifndef LLM_STORE_H
#define LLM_STORE_H

#include <stdint.h>

#include <sqlite3.h>

#include "base/diag.h"
#include "sim/record.h"
#include "sim/request.h"

struct store;

struct run_info {
    const char *name;
    const char *config_json;     /* the resolved config, after --set */
    uint64_t seed;
    const char *version;
    const char *cost_model;
    const char *model;
    const char *device;
    int64_t kv_blocks;
    int32_t block_tokens;
    int32_t replicas, tp;
};

/* One row of the requests table, as store_request writes it.  A time of
 * -1 never came (a rejected request's) and is written as NULL. */
struct store_row {
    int64_t id, arrival_ns, first_sched_ns, first_token_ns, finish_ns;
    int32_t prompt_tokens;
    int32_t output_tokens;       /* generated; 0 for a rejected request */
    int32_t replica, preemptions, tenant;
    int32_t rejected;            /* 1: status "rejected", else "ok" */
    int64_t gap_ema_max_ns;      /* largest EMA of its inter-token gaps;
                                    -1 (NULL): none (fewer than 2 tokens) */
};

/* The row store_request writes for q. */
void store_row_of(const struct request *q, struct store_row *out);

int store_open(const char *dir, const struct run_info *info,
               struct store **out, struct llm_diag *d);
int store_request(struct store *s, const struct request *q);
int store_iteration(struct store *s, const struct iter_record *rec);
/* One kv_tiers row per lower KV tier of rec (issue 9): the tier's
 * occupancy at the iteration's end and its traffic so far. */
int store_kv_tiers(struct store *s, const struct iter_record *rec);
/* gap_ns: time between two consecutive tokens of count sequences.
 * Counted in memory per microsecond; written to the itl table in gap
 * order when the database is read (store_db) or committed. */
int store_itl(struct store *s, int64_t gap_ns, int64_t count);
int store_metric(struct store *s, const char *name, double value);
/* The open connection, for the summary to read before commit (flushes
 * the ITL counts first; later store_itl calls are not allowed; a failed
 * flush makes store_commit fail). */
sqlite3 *store_db(struct store *s);
/* Ends the transaction and renames the file into place; frees s. */
int store_commit(struct store *s, struct llm_diag *d);
/* Deletes the temporary file; frees s.  NULL ok. */
void store_abort(struct store *s);

/* Writes text to DIR/NAME through NAME.tmp and a rename. */
int store_write_file(const char *dir, const char *name, const char *text,
                     struct llm_diag *d);
/* mkdir -p */
int store_mkdirs(const char *dir, struct llm_diag *d);

#endif
