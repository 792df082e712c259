#include "analysis/sweepdb.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/version.h"

struct sweepdb {
    sqlite3 *db;
    double confidence;
    char path[1024];
};

static const char *const status_names[] = { "pending", "done", "failed",
                                            "infeasible" };

static const char schema[] =
    "CREATE TABLE sweep (key TEXT PRIMARY KEY, value TEXT);"
    "CREATE TABLE configs (id INTEGER PRIMARY KEY, params TEXT NOT NULL"
    " UNIQUE);"
    "CREATE TABLE points (id INTEGER PRIMARY KEY, config INTEGER NOT NULL"
    " REFERENCES configs(id), seed INTEGER NOT NULL, params TEXT NOT NULL,"
    " status TEXT NOT NULL DEFAULT 'pending', error TEXT,"
    " attempts INTEGER NOT NULL DEFAULT 0, finished TEXT, wall_s REAL,"
    " rank INTEGER, UNIQUE (config, seed));"
    "CREATE TABLE metrics (point INTEGER NOT NULL REFERENCES points(id),"
    " name TEXT NOT NULL, value REAL, PRIMARY KEY (point, name));"
    "CREATE TABLE aggregates (config INTEGER NOT NULL REFERENCES"
    " configs(id), name TEXT NOT NULL, n INTEGER, mean REAL, sd REAL,"
    " ci_lo REAL, ci_hi REAL, PRIMARY KEY (config, name));";

static int sql_fail(sqlite3 *db, const char *path, const char *what,
                    struct llm_diag *d)
{
    return diag_set(d, LLM_EIO, "%s: %s: %s", path, what,
                    db ? sqlite3_errmsg(db) : "cannot open");
}

static int exec(struct sweepdb *s, const char *sql, struct llm_diag *d)
{
    return sqlite3_exec(s->db, sql, NULL, NULL, NULL) == SQLITE_OK
        ? LLM_OK : sql_fail(s->db, s->path, sql, d);
}

static int put_meta(sqlite3 *db, const char *key, const char *value)
{
    sqlite3_stmt *st;
    int ok;

    if (sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO sweep VALUES (?,?)",
                           -1, &st, NULL) != SQLITE_OK)
        return LLM_EIO;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, value, -1, SQLITE_TRANSIENT);
    ok = sqlite3_step(st) == SQLITE_DONE;
    sqlite3_finalize(st);
    return ok ? LLM_OK : LLM_EIO;
}

/* A value of the sweep table into buf ("" when absent); false on error. */
static bool get_meta(sqlite3 *db, const char *key, char **out)
{
    sqlite3_stmt *st;
    const unsigned char *v;

    *out = NULL;
    if (sqlite3_prepare_v2(db, "SELECT value FROM sweep WHERE key = ?", -1,
                           &st, NULL) != SQLITE_OK)
        return false;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW &&
        (v = sqlite3_column_text(st, 0)) != NULL) {
        size_t n = strlen((const char *)v) + 1;
        *out = malloc(n);
        if (*out != NULL)
            memcpy(*out, v, n);
    }
    sqlite3_finalize(st);
    return true;
}

static int write_meta(sqlite3 *db, const struct sweepdb_meta *m)
{
    char conf[32];

    snprintf(conf, sizeof(conf), "%g", m->confidence);
    return put_meta(db, "name", m->name) | put_meta(db, "kind", m->kind) |
           put_meta(db, "version", LLMSIM_VERSION) |
           put_meta(db, "base", m->base) |
           put_meta(db, "load_axis", m->load_axis) |
           put_meta(db, "confidence", conf);
}

/* The empty database, made under path.tmp and renamed into place. */
static int create(const char *path, const struct sweepdb_meta *m,
                  struct llm_diag *d)
{
    char tmp[1100];
    sqlite3 *db = NULL;
    int rc = LLM_OK;

    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    remove(tmp);
    if (sqlite3_open(tmp, &db) != SQLITE_OK)
        rc = sql_fail(db, tmp, "open", d);
    else if (sqlite3_exec(db, schema, NULL, NULL, NULL) != SQLITE_OK)
        rc = sql_fail(db, tmp, "schema", d);
    else if (write_meta(db, m) != LLM_OK)
        rc = sql_fail(db, tmp, "sweep table", d);
    sqlite3_close(db);
    if (rc == LLM_OK && rename(tmp, path) != 0)
        rc = diag_set(d, LLM_EIO, "cannot rename %s to %s: %s", tmp, path,
                      strerror(errno));
    if (rc != LLM_OK)
        remove(tmp);
    return rc;
}

/* An existing file must be a database of this kind made from this base. */
static int check_existing(struct sweepdb *s, const struct sweepdb_meta *m,
                          struct llm_diag *d)
{
    char *kind = NULL, *base = NULL;
    int rc = LLM_OK;

    if (!get_meta(s->db, "kind", &kind) || kind == NULL ||
        strcmp(kind, m->kind) != 0)
        rc = diag_set(d, LLM_EINVAL, "%s: not a %s database (choose another "
                      "output directory)", s->path, m->kind);
    else if (!get_meta(s->db, "base", &base) || base == NULL ||
             strcmp(base, m->base) != 0)
        rc = diag_set(d, LLM_EINVAL, "%s: made from a different base config "
                      "or \"set\"; its points would not be comparable "
                      "(delete it or choose another output directory)",
                      s->path);
    free(kind);
    free(base);
    if (rc == LLM_OK && write_meta(s->db, m) != LLM_OK)
        rc = sql_fail(s->db, s->path, "sweep table", d);
    return rc;
}

int sweepdb_open(const char *path, const struct sweepdb_meta *m,
                 struct sweepdb **out, struct llm_diag *d)
{
    struct sweepdb *s = calloc(1, sizeof(*s));
    FILE *f = fopen(path, "rb");
    bool existed = f != NULL;
    int rc = LLM_OK;

    if (f)
        fclose(f);
    if (s == NULL)
        return diag_set(d, LLM_ENOMEM, "out of memory");
    snprintf(s->path, sizeof(s->path), "%s", path);
    s->confidence = m->confidence;
    if (!existed)
        rc = create(path, m, d);
    if (!rc && sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE, NULL))
        rc = sql_fail(s->db, path, "open", d);
    if (!rc)
        sqlite3_busy_timeout(s->db, 10000);
    if (!rc && existed)
        rc = check_existing(s, m, d);
    if (rc) {
        sweepdb_close(s);
        return rc;
    }
    *out = s;
    return LLM_OK;
}

void sweepdb_close(struct sweepdb *s)
{
    if (s == NULL)
        return;
    sqlite3_close(s->db);
    free(s);
}

sqlite3 *sweepdb_handle(struct sweepdb *s)
{
    return s->db;
}

static int status_of(const char *name)
{
    int i;

    for (i = 0; i < 4; i++)
        if (name != NULL && strcmp(name, status_names[i]) == 0)
            return i;
    return SWEEPDB_PENDING;
}

/* The config row of params, inserted when new. */
static int config_id(struct sweepdb *s, const char *params, int64_t *id)
{
    sqlite3_stmt *st;
    int rc = LLM_EIO;

    if (sqlite3_prepare_v2(s->db, "INSERT INTO configs (params) VALUES (?) "
            "ON CONFLICT (params) DO UPDATE SET params = excluded.params "
            "RETURNING id", -1, &st, NULL) != SQLITE_OK)
        return LLM_EIO;
    sqlite3_bind_text(st, 1, params, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) {
        *id = sqlite3_column_int64(st, 0);
        rc = LLM_OK;
    }
    sqlite3_finalize(st);
    return rc;
}

static int register_one(struct sweepdb *s, struct sweep_point *p)
{
    sqlite3_stmt *st;
    int64_t cfg;
    int rc = config_id(s, p->params, &cfg);

    if (rc)
        return rc;
    if (sqlite3_prepare_v2(s->db, "INSERT INTO points (config, seed, params)"
            " VALUES (?,?,?) ON CONFLICT (config, seed) DO UPDATE SET"
            " seed = excluded.seed RETURNING id, status", -1, &st, NULL))
        return LLM_EIO;
    sqlite3_bind_int64(st, 1, cfg);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)p->seed);
    sqlite3_bind_text(st, 3, p->params, -1, SQLITE_STATIC);
    rc = LLM_EIO;
    if (sqlite3_step(st) == SQLITE_ROW) {
        p->id = sqlite3_column_int64(st, 0);
        p->status = status_of((const char *)sqlite3_column_text(st, 1));
        rc = LLM_OK;
    }
    sqlite3_finalize(st);
    return rc;
}

int sweepdb_register(struct sweepdb *s, struct sweep_point *pts, size_t n,
                     struct llm_diag *d)
{
    size_t i;
    int rc = exec(s, "BEGIN", d);

    for (i = 0; rc == LLM_OK && i < n; i++)
        if (register_one(s, &pts[i]) != LLM_OK)
            rc = sql_fail(s->db, s->path, "register point", d);
    if (rc == LLM_OK)
        return exec(s, "COMMIT", d);
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

static void now_utc(char *buf, size_t len)
{
    time_t now = time(NULL);
    struct tm tm;

    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
}

int sweepdb_fail(struct sweepdb *s, int64_t id, int status,
                 const char *error, struct llm_diag *d)
{
    sqlite3_stmt *st;
    char when[32];
    int ok;

    now_utc(when, sizeof(when));
    if (sqlite3_prepare_v2(s->db, "UPDATE points SET status = ?, error = ?,"
            " finished = ?, attempts = attempts + (? = 'failed') WHERE id = ?",
            -1, &st, NULL) != SQLITE_OK)
        return sql_fail(s->db, s->path, "points", d);
    sqlite3_bind_text(st, 1, status_names[status], -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, error, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, when, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 4, status_names[status], -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, id);
    ok = sqlite3_step(st) == SQLITE_DONE;
    sqlite3_finalize(st);
    return ok ? LLM_OK : sql_fail(s->db, s->path, "points", d);
}

static int insert_metrics(struct sweepdb *s, int64_t id, const cJSON *m)
{
    sqlite3_stmt *st;
    const cJSON *it;
    int rc = LLM_OK;

    if (sqlite3_prepare_v2(s->db, "INSERT OR REPLACE INTO metrics VALUES "
                           "(?,?,?)", -1, &st, NULL) != SQLITE_OK)
        return LLM_EIO;
    cJSON_ArrayForEach(it, m) {
        if (!cJSON_IsNumber(it))
            continue;
        sqlite3_bind_int64(st, 1, id);
        sqlite3_bind_text(st, 2, it->string, -1, SQLITE_STATIC);
        sqlite3_bind_double(st, 3, it->valuedouble);
        if (sqlite3_step(st) != SQLITE_DONE)
            rc = LLM_EIO;
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    return rc;
}

static int mark_done(struct sweepdb *s, int64_t id, double wall_s, int rank)
{
    sqlite3_stmt *st;
    char when[32];
    int ok;

    now_utc(when, sizeof(when));
    if (sqlite3_prepare_v2(s->db, "UPDATE points SET status = 'done', "
            "error = NULL, attempts = attempts + 1, finished = ?, wall_s = ?,"
            " rank = ? WHERE id = ?", -1, &st, NULL) != SQLITE_OK)
        return LLM_EIO;
    sqlite3_bind_text(st, 1, when, -1, SQLITE_TRANSIENT);
    sqlite3_bind_double(st, 2, wall_s);
    sqlite3_bind_int(st, 3, rank);
    sqlite3_bind_int64(st, 4, id);
    ok = sqlite3_step(st) == SQLITE_DONE;
    sqlite3_finalize(st);
    return ok ? LLM_OK : LLM_EIO;
}

int sweepdb_record(struct sweepdb *s, int64_t id, const cJSON *metrics,
                   double wall_s, int rank, struct llm_diag *d)
{
    int rc = exec(s, "BEGIN", d);

    if (rc)
        return rc;
    if (insert_metrics(s, id, metrics) != LLM_OK ||
        mark_done(s, id, wall_s, rank) != LLM_OK) {
        rc = sql_fail(s->db, s->path, "record point", d);
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        return rc;
    }
    return exec(s, "COMMIT", d);
}

static void bind_num(sqlite3_stmt *st, int i, double v)
{
    if (isfinite(v))
        sqlite3_bind_double(st, i, v);
    else
        sqlite3_bind_null(st, i);
}

static int put_aggregate(sqlite3_stmt *ins, int64_t cfg, const char *name,
                         const double *v, size_t n, double level)
{
    struct ci c;

    ci_mean(v, n, level, &c);
    sqlite3_bind_int64(ins, 1, cfg);
    sqlite3_bind_text(ins, 2, name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(ins, 3, (sqlite3_int64)n);
    bind_num(ins, 4, c.mean);
    bind_num(ins, 5, c.sd);
    bind_num(ins, 6, c.lo);
    bind_num(ins, 7, c.hi);
    if (sqlite3_step(ins) != SQLITE_DONE)
        return LLM_EIO;
    sqlite3_reset(ins);
    return LLM_OK;
}

/* Streams (config, name, value) in group order; one aggregate per group. */
static int aggregate_rows(struct sweepdb *s, sqlite3_stmt *sel,
                          sqlite3_stmt *ins)
{
    double *v = NULL, *nv;
    size_t n = 0, cap = 0;
    int64_t cfg = -1;
    char name[256] = "";
    int rc = LLM_OK, step = SQLITE_DONE;

    while (rc == LLM_OK && (step = sqlite3_step(sel)) == SQLITE_ROW) {
        int64_t c = sqlite3_column_int64(sel, 0);
        const char *nm = (const char *)sqlite3_column_text(sel, 1);
        if (n > 0 && (c != cfg || strcmp(nm, name) != 0)) {
            rc = put_aggregate(ins, cfg, name, v, n, s->confidence);
            n = 0;
        }
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            nv = realloc(v, cap * sizeof(*v));
            if (nv == NULL) {
                rc = LLM_ENOMEM;
                break;
            }
            v = nv;
        }
        cfg = c;
        snprintf(name, sizeof(name), "%s", nm);
        v[n++] = sqlite3_column_double(sel, 2);
    }
    if (rc == LLM_OK && step != SQLITE_DONE)
        rc = LLM_EIO;            /* the read stopped early */
    if (rc == LLM_OK && n > 0)
        rc = put_aggregate(ins, cfg, name, v, n, s->confidence);
    free(v);
    return rc;
}

int sweepdb_aggregate(struct sweepdb *s, struct llm_diag *d)
{
    sqlite3_stmt *sel = NULL, *ins = NULL;
    int rc = exec(s, "BEGIN; DELETE FROM aggregates", d);

    if (rc)
        return rc;
    if (sqlite3_prepare_v2(s->db, "SELECT p.config, m.name, m.value FROM "
            "metrics m JOIN points p ON p.id = m.point WHERE p.status = "
            "'done' AND m.value IS NOT NULL ORDER BY p.config, m.name, "
            "p.seed", -1, &sel, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db, "INSERT INTO aggregates VALUES "
            "(?,?,?,?,?,?,?)", -1, &ins, NULL) != SQLITE_OK ||
        aggregate_rows(s, sel, ins) != LLM_OK)
        rc = sql_fail(s->db, s->path, "aggregates", d);
    sqlite3_finalize(sel);
    sqlite3_finalize(ins);
    if (rc == LLM_OK)
        return exec(s, "COMMIT", d);
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

int sweepdb_config_metric(struct sweepdb *s, const char *params,
                          const char *name, struct ci *c,
                          struct llm_diag *d)
{
    sqlite3_stmt *st;
    double v[256];
    size_t n = 0;
    int step = SQLITE_DONE;

    if (sqlite3_prepare_v2(s->db, "SELECT m.value FROM metrics m JOIN "
            "points p ON p.id = m.point JOIN configs c ON c.id = p.config "
            "WHERE c.params = ? AND m.name = ? AND p.status = 'done' AND "
            "m.value IS NOT NULL ORDER BY p.seed", -1, &st, NULL))
        return sql_fail(s->db, s->path, "metrics", d);
    sqlite3_bind_text(st, 1, params, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    while (n < sizeof(v) / sizeof(v[0]) &&
           (step = sqlite3_step(st)) == SQLITE_ROW)
        v[n++] = sqlite3_column_double(st, 0);
    sqlite3_finalize(st);
    if (step != SQLITE_ROW && step != SQLITE_DONE)
        return diag_set(d, LLM_EIO, "%s: metrics: %s", s->path,
                        sqlite3_errstr(step));
    ci_mean(v, n, s->confidence, c);
    return LLM_OK;
}

int sweepdb_counts(struct sweepdb *s, int64_t counts[4], struct llm_diag *d)
{
    sqlite3_stmt *st;
    int step;

    memset(counts, 0, 4 * sizeof(*counts));
    if (sqlite3_prepare_v2(s->db, "SELECT status, COUNT(*) FROM points "
                           "GROUP BY status", -1, &st, NULL) != SQLITE_OK)
        return sql_fail(s->db, s->path, "points", d);
    while ((step = sqlite3_step(st)) == SQLITE_ROW)
        counts[status_of((const char *)sqlite3_column_text(st, 0))] +=
            sqlite3_column_int64(st, 1);
    sqlite3_finalize(st);
    return step == SQLITE_DONE ? LLM_OK
        : diag_set(d, LLM_EIO, "%s: points: %s", s->path,
                   sqlite3_errstr(step));
}

static int read_offered(sqlite3 *db, cJSON *out)
{
    sqlite3_stmt *st;
    double rate = 0;

    if (sqlite3_prepare_v2(db, "SELECT COUNT(*), MIN(arrival_ns), "
            "MAX(arrival_ns) FROM requests", -1, &st, NULL) != SQLITE_OK)
        return LLM_EIO;
    if (sqlite3_step(st) != SQLITE_ROW) {   /* an aggregate has a row */
        sqlite3_finalize(st);
        return LLM_EIO;
    }
    double n = (double)sqlite3_column_int64(st, 0);
    double span = (double)(sqlite3_column_int64(st, 2) -
                           sqlite3_column_int64(st, 1)) / 1e9;
    rate = n > 1 && span > 0 ? (n - 1) / span : 0;
    sqlite3_finalize(st);
    cJSON_AddNumberToObject(out, "offered_req_s", rate);
    return LLM_OK;
}

int sweepdb_run_metrics(const char *results_path, cJSON **out,
                        struct llm_diag *d)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    cJSON *o = cJSON_CreateObject();
    int rc = o ? LLM_OK : diag_set(d, LLM_ENOMEM, "out of memory");
    int step = SQLITE_DONE;

    if (!rc && sqlite3_open_v2(results_path, &db, SQLITE_OPEN_READONLY,
                               NULL) != SQLITE_OK)
        rc = sql_fail(db, results_path, "open", d);
    if (!rc && sqlite3_prepare_v2(db, "SELECT name, value FROM metrics "
                                  "ORDER BY name", -1, &st, NULL))
        rc = sql_fail(db, results_path, "metrics", d);
    while (!rc && (step = sqlite3_step(st)) == SQLITE_ROW)
        if (sqlite3_column_type(st, 1) != SQLITE_NULL)
            cJSON_AddNumberToObject(o,
                (const char *)sqlite3_column_text(st, 0),
                sqlite3_column_double(st, 1));
    /* a read that stops early would record the point done with some of
     * its metrics (issue 19) */
    if (!rc && step != SQLITE_DONE)
        rc = diag_set(d, LLM_EIO, "%s: metrics: %s", results_path,
                      sqlite3_errstr(step));
    sqlite3_finalize(st);
    if (!rc && read_offered(db, o) != LLM_OK)
        rc = sql_fail(db, results_path, "requests", d);
    sqlite3_close(db);
    if (rc) {
        cJSON_Delete(o);
        return rc;
    }
    *out = o;
    return LLM_OK;
}
