#include "analysis/store.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "analysis/iterlog.h"

/* ITL gaps are counted in memory per whole microsecond and written once
 * at commit: a row per token (or per iteration) would dominate the run's
 * time, and 1 us is far below what the ms-scale ITL figures resolve. */
struct itl_slot {
    int64_t gap_us;            /* -1: empty */
    int64_t count;
};

/* Request rows are inserted 64 to a statement: one row per statement
 * spends most of its time in the statement's setup, not in the row. */
#define REQ_BATCH 64

/* Request rows go to the table in id order: SQLite appends a row whose
 * key is above every other at the end of the last page, where one in the
 * middle costs a seek from the root and page splits that move rows
 * around (a third of the store's time with rows in finish order).  A row
 * that comes before a lower id waits in a window indexed by id; rows
 * further than REQ_WINDOW_MAX ahead (an id that never comes) are written
 * as they come: the table is the same, only slower to build. */
#define REQ_WINDOW_MAX (1 << 16)

struct store {
    struct store_row rows[REQ_BATCH];
    int n_rows;
    struct store_row *win;     /* win[id & (win_cap - 1)]; id -1: empty */
    size_t win_cap, n_win;
    int64_t next_id;           /* the lowest id not written yet */
    sqlite3_stmt *req_many;        /* REQ_BATCH rows */
    sqlite3 *db;
    sqlite3_stmt *req, *iter, *itl, *metric, *tier;
    char *iter_text;           /* "[[...],[...]" of the pending chunk */
    size_t iter_len;
    int iter_rows;
    struct itl_slot *itl_tab;  /* open addressing, power-of-two size */
    size_t itl_cap, itl_used;
    char tmp[1024], final[1024];
    int flush_rc;              /* a failed flush in store_db, for commit */
};

static const char schema[] =
    "PRAGMA journal_mode=OFF;"
    "PRAGMA synchronous=OFF;"
    "CREATE TABLE runs (name TEXT, config TEXT, seed INTEGER, version TEXT,"
    " start_time TEXT, cost_model TEXT, model TEXT, device TEXT,"
    " kv_blocks INTEGER, block_tokens INTEGER, replicas INTEGER, tp INTEGER);"
    "CREATE TABLE requests (id INTEGER PRIMARY KEY, arrival_ns INTEGER,"
    " first_sched_ns INTEGER, first_token_ns INTEGER, finish_ns INTEGER,"
    " prompt_tokens INTEGER, output_tokens INTEGER, replica INTEGER,"
    " preemptions INTEGER, tenant INTEGER, status TEXT,"
    " gap_ema_max_ns INTEGER);"
    ITERLOG_SCHEMA
    "CREATE TABLE itl (gap_ns INTEGER, count INTEGER);"
    "CREATE TABLE metrics (name TEXT PRIMARY KEY, value REAL);"
    "CREATE TABLE kv_tiers (replica INTEGER, t_ns INTEGER, tier TEXT,"
    " capacity_blocks INTEGER, used_blocks INTEGER, hits INTEGER,"
    " hit_blocks INTEGER, bytes_in REAL, bytes_out REAL);"
    "BEGIN;";

int store_mkdirs(const char *dir, struct llm_diag *d)
{
    char buf[1024];
    size_t i, n = strlen(dir);

    if (n == 0 || n >= sizeof(buf))
        return diag_set(d, LLM_EINVAL, "output directory: bad path \"%s\"",
                        dir);
    memcpy(buf, dir, n + 1);
    for (i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != '\0')
            continue;
        buf[i] = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST)
            return diag_set(d, LLM_EIO, "cannot create %s: %s", buf,
                            strerror(errno));
        buf[i] = dir[i];
    }
    return LLM_OK;
}

static int sql_err(sqlite3 *db, const char *what, struct llm_diag *d)
{
    return diag_set(d, LLM_EIO, "results database: %s: %s", what,
                    db ? sqlite3_errmsg(db) : "cannot open");
}

/* "INSERT INTO requests VALUES (?,...,?),(...)" with REQ_BATCH rows. */
static int prepare_many(struct store *s)
{
    static const char row[] = "(?,?,?,?,?,?,?,?,?,?,?,?)";
    char sql[64 + REQ_BATCH * (sizeof(row) + 1)];
    size_t off = (size_t)snprintf(sql, sizeof(sql),
                                  "INSERT INTO requests VALUES ");
    int i;

    for (i = 0; i < REQ_BATCH; i++)
        off += (size_t)snprintf(sql + off, sizeof(sql) - off, "%s%s",
                                i ? "," : "", row);
    return sqlite3_prepare_v2(s->db, sql, -1, &s->req_many, NULL);
}

static int prepare(struct store *s, struct llm_diag *d)
{
    if (prepare_many(s) ||
        sqlite3_prepare_v2(s->db, "INSERT INTO requests VALUES "
            "(?,?,?,?,?,?,?,?,?,?,?,?)", -1, &s->req, NULL) ||
        sqlite3_prepare_v2(s->db, "INSERT INTO iteration_log VALUES (?)",
            -1, &s->iter, NULL) ||
        sqlite3_prepare_v2(s->db, "INSERT INTO itl VALUES (?,?)", -1,
            &s->itl, NULL) ||
        sqlite3_prepare_v2(s->db, "INSERT OR REPLACE INTO metrics VALUES "
            "(?,?)", -1, &s->metric, NULL) ||
        sqlite3_prepare_v2(s->db, "INSERT INTO kv_tiers VALUES "
            "(?,?,?,?,?,?,?,?,?)", -1, &s->tier, NULL))
        return sql_err(s->db, "prepare", d);
    return LLM_OK;
}

static int write_run(struct store *s, const struct run_info *in,
                     struct llm_diag *d)
{
    sqlite3_stmt *st = NULL;
    char when[32];
    time_t now = time(NULL);
    struct tm tm;
    int rc;

    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
    if (sqlite3_prepare_v2(s->db, "INSERT INTO runs VALUES "
                           "(?,?,?,?,?,?,?,?,?,?,?,?)", -1, &st, NULL))
        return sql_err(s->db, "prepare", d);
    sqlite3_bind_text(st, 1, in->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, in->config_json, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)in->seed);
    sqlite3_bind_text(st, 4, in->version, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, when, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 6, in->cost_model, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, in->model, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 8, in->device, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 9, in->kv_blocks);
    sqlite3_bind_int(st, 10, in->block_tokens);
    sqlite3_bind_int(st, 11, in->replicas);
    sqlite3_bind_int(st, 12, in->tp);
    rc = sqlite3_step(st) == SQLITE_DONE ? LLM_OK
                                         : sql_err(s->db, "runs", d);
    sqlite3_finalize(st);
    return rc;
}

int store_open(const char *dir, const struct run_info *info,
               struct store **out, struct llm_diag *d)
{
    struct store *s;
    char *err = NULL;
    int rc = store_mkdirs(dir, d);

    if (rc)
        return rc;
    s = calloc(1, sizeof(*s));
    if (s == NULL)
        return diag_set(d, LLM_ENOMEM, "out of memory");
    snprintf(s->final, sizeof(s->final), "%s/results.sqlite", dir);
    snprintf(s->tmp, sizeof(s->tmp), "%s/results.sqlite.tmp", dir);
    remove(s->tmp);
    /* One thread writes the file: no SQLite mutexes. */
    if (sqlite3_open_v2(s->tmp, &s->db, SQLITE_OPEN_READWRITE |
                        SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL)
        != SQLITE_OK) {
        rc = sql_err(s->db, s->tmp, d);
        store_abort(s);
        return rc;
    }
    if (sqlite3_exec(s->db, schema, NULL, NULL, &err) != SQLITE_OK) {
        rc = diag_set(d, LLM_EIO, "results database %s: %s", s->tmp, err);
        sqlite3_free(err);
        store_abort(s);
        return rc;
    }
    rc = prepare(s, d);
    if (!rc)
        rc = write_run(s, info, d);
    if (rc) {
        store_abort(s);
        return rc;
    }
    *out = s;
    return LLM_OK;
}

static int step(struct store *s, sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);

    sqlite3_reset(st);
    (void)s;
    return rc == SQLITE_DONE ? LLM_OK : LLM_EIO;
}

/* A time that never came (-1 in the request record: a rejected request
 * was never scheduled, produced no token and never finished) is NULL in
 * the table (issue 17), so that SQL aggregates skip it instead of
 * averaging -1 into a latency. */
static void bind_time(sqlite3_stmt *st, int i, int64_t t_ns)
{
    if (t_ns < 0)
        sqlite3_bind_null(st, i);
    else
        sqlite3_bind_int64(st, i, t_ns);
}

/* Binds row r at parameter offset off (12 parameters a row). */
static void bind_row(sqlite3_stmt *st, int off, const struct store_row *r)
{
    sqlite3_bind_int64(st, off + 1, r->id);
    sqlite3_bind_int64(st, off + 2, r->arrival_ns);
    bind_time(st, off + 3, r->first_sched_ns);
    bind_time(st, off + 4, r->first_token_ns);
    bind_time(st, off + 5, r->finish_ns);
    sqlite3_bind_int(st, off + 6, r->prompt_tokens);
    sqlite3_bind_int(st, off + 7, r->output_tokens);
    sqlite3_bind_int(st, off + 8, r->replica);
    sqlite3_bind_int(st, off + 9, r->preemptions);
    sqlite3_bind_int(st, off + 10, r->tenant);
    sqlite3_bind_text(st, off + 11, r->rejected ? "rejected" : "ok", -1,
                      SQLITE_STATIC);
    bind_time(st, off + 12, r->gap_ema_max_ns);
}

/* Writes the buffered request rows, in the order they came. */
static int flush_requests(struct store *s)
{
    int i, rc = LLM_OK;

    if (s->n_rows == REQ_BATCH) {
        for (i = 0; i < REQ_BATCH; i++)
            bind_row(s->req_many, 12 * i, &s->rows[i]);
        rc = step(s, s->req_many);
    } else {
        for (i = 0; i < s->n_rows && rc == LLM_OK; i++) {
            bind_row(s->req, 0, &s->rows[i]);
            rc = step(s, s->req);
        }
    }
    s->n_rows = 0;
    return rc;
}

void store_row_of(const struct request *q, struct store_row *out)
{
    *out = (struct store_row){ .id = q->id,
        .arrival_ns = q->arrival_ns, .first_sched_ns = q->first_sched_ns,
        .first_token_ns = q->first_token_ns, .finish_ns = q->finish_ns,
        .prompt_tokens = q->prompt_tokens,
        .output_tokens = q->rejected ? 0 : q->generated,
        .replica = q->replica, .preemptions = q->preemptions,
        .tenant = q->tenant, .rejected = q->rejected,
        /* NULL (-1) when no gap ever came: rejected, or one token */
        .gap_ema_max_ns = !q->rejected && q->gap_ema_den > 0 ?
                          q->gap_ema_max_ns : -1 };
}

/* Queues one row for the next statement. */
static int put_row(struct store *s, const struct store_row *r)
{
    s->rows[s->n_rows++] = *r;
    return s->n_rows == REQ_BATCH ? flush_requests(s) : LLM_OK;
}

/* A window that holds ids up to next_id + ahead. */
static int win_grow(struct store *s, int64_t ahead)
{
    size_t ncap = s->win_cap ? s->win_cap * 2 : 1024, i;
    struct store_row *n;

    while ((int64_t)ncap <= ahead)
        ncap *= 2;
    n = malloc(ncap * sizeof(*n));
    if (n == NULL)
        return LLM_ENOMEM;
    for (i = 0; i < ncap; i++)
        n[i].id = -1;
    for (i = 0; i < s->win_cap; i++)
        if (s->win[i].id >= 0)
            n[(size_t)s->win[i].id & (ncap - 1)] = s->win[i];
    free(s->win);
    s->win = n;
    s->win_cap = ncap;
    return LLM_OK;
}

/* Writes the window's rows from next_id on while there is no gap;
 * all: past the gaps too (every row the window holds). */
static int win_drain(struct store *s, bool all)
{
    int rc = LLM_OK;

    while (rc == LLM_OK && s->n_win > 0) {
        struct store_row *r = &s->win[(size_t)s->next_id & (s->win_cap - 1)];
        if (r->id == s->next_id) {
            rc = put_row(s, r);
            r->id = -1;
            s->n_win--;
        } else if (!all) {
            break;
        }
        s->next_id++;
    }
    return rc;
}

int store_request(struct store *s, const struct request *q)
{
    struct store_row r;
    int64_t ahead;

    store_row_of(q, &r);
    ahead = r.id - s->next_id;
    if (ahead < 0 || ahead >= REQ_WINDOW_MAX ||
        ((size_t)ahead >= s->win_cap && win_grow(s, ahead) != LLM_OK))
        return put_row(s, &r);
    s->win[(size_t)r.id & (s->win_cap - 1)] = r;
    s->n_win++;
    return win_drain(s, false);
}

/* Writes the pending chunk as one iteration_log row. */
static int iter_flush(struct store *s)
{
    int rc;

    if (s->iter_rows == 0)
        return LLM_OK;
    s->iter_text[s->iter_len++] = ']';
    sqlite3_bind_text(s->iter, 1, s->iter_text, (int)s->iter_len,
                      SQLITE_STATIC);
    rc = step(s, s->iter);
    sqlite3_clear_bindings(s->iter);
    s->iter_len = 0;
    s->iter_rows = 0;
    return rc;
}

int store_iteration(struct store *s, const struct iter_record *r)
{
    const struct iterlog_row row = { { r->replica, r->start_ns, r->end_ns,
        r->prefill_tokens, r->prefill_seqs, r->decode_seqs,
        r->kv_blocks_used, r->n_waiting, r->n_running, r->preemptions } };
    char *p;

    if (s->iter_text == NULL && (s->iter_text =
            malloc(ITERLOG_CHUNK * (ITERLOG_ROW_MAX + 1) + 2)) == NULL)
        return LLM_ENOMEM;
    p = s->iter_text + s->iter_len;
    *p++ = s->iter_rows == 0 ? '[' : ',';
    s->iter_len = (size_t)(iterlog_put(p, &row) - s->iter_text);
    return ++s->iter_rows == ITERLOG_CHUNK ? iter_flush(s) : LLM_OK;
}

int store_kv_tiers(struct store *s, const struct iter_record *r)
{
    sqlite3_stmt *st = s->tier;
    int32_t i;
    int rc = LLM_OK;

    for (i = 0; i < r->n_tiers && rc == LLM_OK; i++) {
        const struct kv_tier_stats *t = &r->tiers[i];
        sqlite3_bind_int(st, 1, r->replica);
        sqlite3_bind_int64(st, 2, r->end_ns);
        sqlite3_bind_text(st, 3, t->name, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, t->capacity_blocks);
        sqlite3_bind_int64(st, 5, t->used_blocks);
        sqlite3_bind_int64(st, 6, t->hits);
        sqlite3_bind_int64(st, 7, t->hit_blocks);
        sqlite3_bind_double(st, 8, t->bytes_in);
        sqlite3_bind_double(st, 9, t->bytes_out);
        rc = step(s, st);
    }
    return rc;
}

static size_t itl_hash(int64_t key, size_t cap)
{
    return (size_t)((uint64_t)key * 0x9E3779B97F4A7C15ull >> 17) & (cap - 1);
}

static struct itl_slot *itl_find(struct itl_slot *tab, size_t cap,
                                 int64_t key)
{
    size_t i = itl_hash(key, cap);

    while (tab[i].gap_us != -1 && tab[i].gap_us != key)
        i = (i + 1) & (cap - 1);
    return &tab[i];
}

static int itl_grow(struct store *s)
{
    size_t ncap = s->itl_cap ? s->itl_cap * 2 : 4096, i;
    struct itl_slot *n = malloc(ncap * sizeof(*n));

    if (n == NULL)
        return LLM_ENOMEM;
    for (i = 0; i < ncap; i++)
        n[i].gap_us = -1;
    for (i = 0; i < s->itl_cap; i++)
        if (s->itl_tab[i].gap_us != -1)
            *itl_find(n, ncap, s->itl_tab[i].gap_us) = s->itl_tab[i];
    free(s->itl_tab);
    s->itl_tab = n;
    s->itl_cap = ncap;
    return LLM_OK;
}

int store_itl(struct store *s, int64_t gap_ns, int64_t count)
{
    int64_t key = (gap_ns + 500) / 1000;
    struct itl_slot *slot;

    if ((s->itl_used + 1) * 2 > s->itl_cap && itl_grow(s) != LLM_OK)
        return LLM_ENOMEM;
    slot = itl_find(s->itl_tab, s->itl_cap, key);
    if (slot->gap_us == -1) {
        slot->gap_us = key;
        slot->count = 0;
        s->itl_used++;
    }
    slot->count += count;
    return LLM_OK;
}

static int cmp_slot(const void *a, const void *b)
{
    int64_t x = ((const struct itl_slot *)a)->gap_us;
    int64_t y = ((const struct itl_slot *)b)->gap_us;

    return (x > y) - (x < y);
}

/* Writes the ITL counts in gap order (deterministic file contents). */
static int itl_flush(struct store *s)
{
    size_t i, n = 0;
    int rc = LLM_OK;

    for (i = 0; i < s->itl_cap; i++)
        if (s->itl_tab[i].gap_us != -1)
            s->itl_tab[n++] = s->itl_tab[i];
    qsort(s->itl_tab, n, sizeof(*s->itl_tab), cmp_slot);
    for (i = 0; i < n && rc == LLM_OK; i++) {
        sqlite3_bind_int64(s->itl, 1, s->itl_tab[i].gap_us * 1000);
        sqlite3_bind_int64(s->itl, 2, s->itl_tab[i].count);
        rc = step(s, s->itl);
    }
    free(s->itl_tab);
    s->itl_tab = NULL;
    s->itl_cap = s->itl_used = 0;
    return rc;
}

int store_metric(struct store *s, const char *name, double value)
{
    sqlite3_bind_text(s->metric, 1, name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_double(s->metric, 2, value);
    return step(s, s->metric);
}

sqlite3 *store_db(struct store *s)
{
    /* a failed write here fails store_commit: the rows are not in the
     * file (issue 19: it was ignored and the run exited 0) */
    int rc = win_drain(s, true);

    if (rc == LLM_OK && s->n_rows > 0)
        rc = flush_requests(s);
    if (rc == LLM_OK)
        rc = iter_flush(s);
    if (rc == LLM_OK && s->itl_tab != NULL)
        rc = itl_flush(s);
    if (s->flush_rc == LLM_OK)
        s->flush_rc = rc;
    return s->db;
}

static void close_db(struct store *s)
{
    free(s->itl_tab);
    s->itl_tab = NULL;
    free(s->iter_text);
    s->iter_text = NULL;
    free(s->win);
    s->win = NULL;
    sqlite3_finalize(s->req);
    sqlite3_finalize(s->req_many);
    sqlite3_finalize(s->iter);
    sqlite3_finalize(s->itl);
    sqlite3_finalize(s->metric);
    sqlite3_finalize(s->tier);
    sqlite3_close(s->db);
    s->db = NULL;
}

int store_commit(struct store *s, struct llm_diag *d)
{
    int rc = s->flush_rc != LLM_OK ? s->flush_rc : win_drain(s, true);

    if (rc == LLM_OK && s->n_rows > 0)
        rc = flush_requests(s);
    if (rc == LLM_OK)
        rc = iter_flush(s);
    if (rc == LLM_OK && s->itl_tab)
        rc = itl_flush(s);

    /* named by path: a full disk shows here */
    if (rc != LLM_OK)
        rc = sql_err(s->db, s->tmp, d);
    else if (sqlite3_exec(s->db, "COMMIT;", NULL, NULL, NULL) != SQLITE_OK)
        rc = sql_err(s->db, s->tmp, d);
    close_db(s);
    if (rc == LLM_OK && rename(s->tmp, s->final) != 0)
        rc = diag_set(d, LLM_EIO, "cannot rename %s to %s: %s", s->tmp,
                      s->final, strerror(errno));
    if (rc != LLM_OK)
        remove(s->tmp);
    free(s);
    return rc;
}

void store_abort(struct store *s)
{
    if (s == NULL)
        return;
    if (s->db)
        close_db(s);
    remove(s->tmp);
    free(s);
}

int store_write_file(const char *dir, const char *name, const char *text,
                     struct llm_diag *d)
{
    char tmp[1024], final[1024];
    size_t n = strlen(text);
    FILE *f;
    int ok;

    snprintf(final, sizeof(final), "%s/%s", dir, name);
    snprintf(tmp, sizeof(tmp), "%s/%s.tmp", dir, name);
    f = fopen(tmp, "wb");
    if (f == NULL)
        return diag_set(d, LLM_EIO, "cannot write %s: %s", tmp,
                        strerror(errno));
    ok = fwrite(text, 1, n, f) == n;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, final) != 0) {
        remove(tmp);
        return diag_set(d, LLM_EIO, "cannot write %s: %s", final,
                        strerror(errno));
    }
    return LLM_OK;
}
