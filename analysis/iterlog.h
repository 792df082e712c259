/* analysis/iterlog.h: the iterations of a run, as results.sqlite stores
 * them (issue 24).
 *
 * One table row per iteration took half of the default run's time, so
 * the rows are kept as text: each row of the table iteration_log holds
 * up to ITERLOG_CHUNK iterations as one JSON array of arrays,
 * [[replica,start_ns,end_ns,prefill_tokens,prefill_seqs,decode_seqs,
 * kv_blocks_used,waiting,running,preemptions],...], integers only, in
 * the order the iterations ended.  The view iterations (ITERLOG_SCHEMA)
 * turns them back into one row per iteration with those ten columns,
 * for SQL (SQLite's json_each; about 1.5 us a row).  Code that reads
 * every iteration uses iterlog_read, which parses the text directly
 * (about 0.1 us a row) and reads a plain iterations table where the
 * database has one (files written before issue 24).  docs/output.md
 * documents both.  Functions are pure or use only their arguments. */
#ifndef LLM_ITERLOG_H
#define LLM_ITERLOG_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "base/diag.h"

#define ITERLOG_CHUNK 4096
/* The longest text of one row (ten 20-character integers, punctuation). */
#define ITERLOG_ROW_MAX 240

/* The table and the view, for the schema of a new database. */
#define ITERLOG_SCHEMA \
    "CREATE TABLE iteration_log (rows TEXT);" \
    "CREATE VIEW iterations (replica, start_ns, end_ns, prefill_tokens," \
    " prefill_seqs, decode_seqs, kv_blocks_used, waiting, running," \
    " preemptions) AS SELECT json_extract(j.value, '$[0]')," \
    " json_extract(j.value, '$[1]'), json_extract(j.value, '$[2]')," \
    " json_extract(j.value, '$[3]'), json_extract(j.value, '$[4]')," \
    " json_extract(j.value, '$[5]'), json_extract(j.value, '$[6]')," \
    " json_extract(j.value, '$[7]'), json_extract(j.value, '$[8]')," \
    " json_extract(j.value, '$[9]')" \
    " FROM iteration_log AS c, json_each(c.rows) AS j;"

/* One iteration: the view's ten columns, in order. */
#define ITERLOG_COLS 10
struct iterlog_row {
    int64_t v[ITERLOG_COLS];
};
enum iterlog_col {
    IL_REPLICA, IL_START, IL_END, IL_PREFILL_TOKENS, IL_PREFILL_SEQS,
    IL_DECODE_SEQS, IL_KV_BLOCKS, IL_WAITING, IL_RUNNING, IL_PREEMPTIONS
};

/* Appends row's text to p ("[a,b,...]", at most ITERLOG_ROW_MAX bytes,
 * no terminator); returns the end. */
char *iterlog_put(char *p, const struct iterlog_row *row);

typedef int iterlog_fn(void *ctx, const struct iterlog_row *row);

/* Calls fn for every iteration of db in table order; fn's non-zero
 * return stops the read and is returned.  A malformed iteration_log row
 * is LLM_EINVAL naming the row; a read that fails before the end is
 * LLM_EIO (never fewer iterations); a database without iterations is
 * fine (no call). */
int iterlog_read(sqlite3 *db, iterlog_fn *fn, void *ctx,
                 struct llm_diag *d);

#endif
