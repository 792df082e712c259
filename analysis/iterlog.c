#include "analysis/iterlog.h"

#include <stdbool.h>
#include <string.h>

/* "00".."99": two digits per division by 100 halve the divisions of a
 * digit-by-digit conversion, the cost of writing an iteration's row. */
static const char digit_pairs[] =
    "00010203040506070809101112131415161718192021222324252627282930313233"
    "34353637383940414243444546474849505152535455565758596061626364656667"
    "6869707172737475767778798081828384858687888990919293949596979899";

/* Digits of u (1 for 0): times have 10 to 15, counts 1 to 5. */
static int digits(uint64_t u)
{
    static const uint64_t p10[20] = { 1, 10, 100, 1000, 10000, 100000,
        1000000, 10000000, 100000000, 1000000000, 10000000000ull,
        100000000000ull, 1000000000000ull, 10000000000000ull,
        100000000000000ull, 1000000000000000ull, 10000000000000000ull,
        100000000000000000ull, 1000000000000000000ull,
        10000000000000000000ull };
    int n = u >= p10[10] ? 11 : 1;

    while (n < 20 && u >= p10[n])
        n++;
    return n;
}

/* Written from the last digit back, straight into place. */
static char *put_int(char *p, int64_t v)
{
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    char *e;

    if (v < 0)
        *p++ = '-';
    e = p + digits(u);
    p = e;
    while (u >= 100) {
        unsigned k = (unsigned)(u % 100) * 2;
        u /= 100;
        *--p = digit_pairs[k + 1];
        *--p = digit_pairs[k];
    }
    if (u >= 10) {
        *--p = digit_pairs[u * 2 + 1];
        *--p = digit_pairs[u * 2];
    } else {
        *--p = (char)('0' + u);
    }
    return e;
}

char *iterlog_put(char *p, const struct iterlog_row *row)
{
    int i;

    *p++ = '[';
    for (i = 0; i < ITERLOG_COLS; i++) {
        if (i > 0)
            *p++ = ',';
        p = put_int(p, row->v[i]);
    }
    *p++ = ']';
    return p;
}

/* ---- reading ------------------------------------------------------------ */

struct cursor {
    const char *p, *end;
};

static void skip_space(struct cursor *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\n' ||
                             *c->p == '\t' || *c->p == '\r'))
        c->p++;
}

static bool eat(struct cursor *c, char ch)
{
    skip_space(c);
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return true;
    }
    return false;
}

/* A decimal integer that fits int64_t. */
static bool get_int(struct cursor *c, int64_t *out)
{
    uint64_t v = 0, lim;
    bool neg;
    int n = 0;

    skip_space(c);
    neg = c->p < c->end && *c->p == '-';
    if (neg)
        c->p++;
    lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
        unsigned dg = (unsigned)(*c->p++ - '0');
        if (v > (lim - dg) / 10)
            return false;
        v = v * 10 + dg;
        n++;
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return n > 0;
}

/* One "[a,...,j]" into row. */
static bool get_row(struct cursor *c, struct iterlog_row *row)
{
    int i;

    if (!eat(c, '['))
        return false;
    for (i = 0; i < ITERLOG_COLS; i++)
        if ((i > 0 && !eat(c, ',')) || !get_int(c, &row->v[i]))
            return false;
    return eat(c, ']');
}

/* Every row of one iteration_log text; the chunk number is for errors. */
static int read_chunk(const char *text, size_t n, int64_t chunk,
                      iterlog_fn *fn, void *ctx, struct llm_diag *d)
{
    struct cursor c = { text, text + n };
    struct iterlog_row row;
    int64_t k = 0;
    int rc;

    if (!eat(&c, '['))
        goto bad;
    if (eat(&c, ']'))
        goto end;
    do {
        if (!get_row(&c, &row))
            goto bad;
        rc = fn(ctx, &row);
        if (rc != LLM_OK)
            return rc;
        k++;
    } while (eat(&c, ','));
    if (!eat(&c, ']'))
        goto bad;
end:
    skip_space(&c);
    if (c.p == c.end)
        return LLM_OK;
bad:
    return diag_set(d, LLM_EINVAL, "results: iteration_log row %lld: "
                    "iteration %lld: expected [%d integers] in a JSON array",
                    (long long)chunk, (long long)k, ITERLOG_COLS);
}

/* 1: db has an object of that type and name; 0: not; -1: the query
 * failed (a failed read is not "no iterations", issue 19). */
static int has(sqlite3 *db, const char *type, const char *name)
{
    sqlite3_stmt *st;
    int step;

    if (sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_master WHERE type = ? "
                           "AND name = ?", -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text(st, 1, type, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    step = sqlite3_step(st);
    sqlite3_finalize(st);
    return step == SQLITE_ROW ? 1 : step == SQLITE_DONE ? 0 : -1;
}

/* A read that stops before SQLITE_DONE is an error, not fewer
 * iterations (issue 19: the summary and the replica statistics once
 * took a failed read for the end of the table). */
static int read_end(int step, struct llm_diag *d)
{
    return step == SQLITE_DONE ? LLM_OK
        : diag_set(d, LLM_EIO, "results: iterations: %s",
                   sqlite3_errstr(step));
}

static int read_log(sqlite3 *db, iterlog_fn *fn, void *ctx,
                    struct llm_diag *d)
{
    sqlite3_stmt *st;
    int rc = LLM_OK, step = SQLITE_DONE;

    if (sqlite3_prepare_v2(db, "SELECT rowid, rows FROM iteration_log ORDER "
                           "BY rowid", -1, &st, NULL) != SQLITE_OK)
        return diag_set(d, LLM_EIO, "results: %s", sqlite3_errmsg(db));
    while (rc == LLM_OK && (step = sqlite3_step(st)) == SQLITE_ROW) {
        const char *t = (const char *)sqlite3_column_text(st, 1);
        rc = read_chunk(t ? t : "", t ? (size_t)sqlite3_column_bytes(st, 1)
                                      : 0,
                        sqlite3_column_int64(st, 0), fn, ctx, d);
    }
    sqlite3_finalize(st);
    return rc != LLM_OK ? rc : read_end(step, d);
}

/* A table of one row per iteration (databases before issue 24). */
static int read_table(sqlite3 *db, iterlog_fn *fn, void *ctx,
                      struct llm_diag *d)
{
    sqlite3_stmt *st;
    struct iterlog_row row;
    int i, rc = LLM_OK, step = SQLITE_DONE;

    if (sqlite3_prepare_v2(db, "SELECT replica, start_ns, end_ns, "
            "prefill_tokens, prefill_seqs, decode_seqs, kv_blocks_used, "
            "waiting, running, preemptions FROM iterations", -1, &st, NULL)
        != SQLITE_OK)
        return diag_set(d, LLM_EIO, "results: %s", sqlite3_errmsg(db));
    while (rc == LLM_OK && (step = sqlite3_step(st)) == SQLITE_ROW) {
        for (i = 0; i < ITERLOG_COLS; i++)
            row.v[i] = sqlite3_column_int64(st, i);
        rc = fn(ctx, &row);
    }
    sqlite3_finalize(st);
    return rc != LLM_OK ? rc : read_end(step, d);
}

int iterlog_read(sqlite3 *db, iterlog_fn *fn, void *ctx, struct llm_diag *d)
{
    int log = has(db, "table", "iteration_log");
    int table = log == 0 ? has(db, "table", "iterations") : 0;

    if (log < 0 || table < 0)
        return diag_set(d, LLM_EIO, "results: cannot read the schema: %s",
                        sqlite3_errmsg(db));
    if (log)
        return read_log(db, fn, ctx, d);
    if (table)
        return read_table(db, fn, ctx, d);
    return LLM_OK;
}
