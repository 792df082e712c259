/* tests/fuzz/fuzz_plot.c: the plot script writer on crafted databases
 * (issue 19 item 6).  A run database and a sweep database are built from
 * the input, then plot_script (plot_make without running gnuplot) writes
 * plots.gp and the data files into a folder "out".  Invariants: every
 * gnuplot string closes on its own line, nothing outside a string or a
 * comment calls system or a backquote, no comment continues onto the next
 * line (as tests/check_security.c's test_plot_injection checks), and
 * nothing is written outside "out".
 *
 * Input: fields separated by NUL bytes, in order: the run name, two KV
 * tier names, the sweep name, the sweep's load axis, two configs' params
 * (any text: a crafted database need not hold JSON), an aggregate's
 * metric name, the run database's file name, then SQL run on the sweep
 * database and on the run database after they are built (a crafted file
 * may hold any schema and values). */
#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "analysis/plot.h"
#include "analysis/sweepdb.h"
#include "tests/fuzz/fuzz.h"

enum { F_RUN, F_TIER_A, F_TIER_B, F_SWEEP, F_AXIS, F_PARAMS_A, F_PARAMS_B,
       F_METRIC, F_DBNAME, F_SQL_SWEEP, F_SQL_RUN, F_N };

static const char run_schema[] =
    "CREATE TABLE runs (name TEXT, config TEXT, seed INTEGER, version TEXT,"
    " start_time TEXT, cost_model TEXT, model TEXT, device TEXT,"
    " kv_blocks INTEGER, block_tokens INTEGER, replicas INTEGER, tp INTEGER);"
    "CREATE TABLE requests (id INTEGER PRIMARY KEY, arrival_ns INTEGER,"
    " first_sched_ns INTEGER, first_token_ns INTEGER, finish_ns INTEGER,"
    " prompt_tokens INTEGER, output_tokens INTEGER, replica INTEGER,"
    " preemptions INTEGER, tenant INTEGER, status TEXT);"
    "CREATE TABLE iterations (replica INTEGER, start_ns INTEGER,"
    " end_ns INTEGER, prefill_tokens INTEGER, prefill_seqs INTEGER,"
    " decode_seqs INTEGER, kv_blocks_used INTEGER, waiting INTEGER,"
    " running INTEGER, preemptions INTEGER);"
    "CREATE TABLE kv_tiers (replica INTEGER, t_ns INTEGER, tier TEXT,"
    " capacity_blocks INTEGER, used_blocks INTEGER, hits INTEGER,"
    " hit_blocks INTEGER, bytes_in REAL, bytes_out REAL);"
    "INSERT INTO requests VALUES (1, 0, 0, 5000000, 9000000, 10, 5, 0, 0, 0,"
    " 'ok'), (2, 1000000, 1000000, 7000000, 20000000, 20, 9, 1, 0, 0, 'ok');"
    "INSERT INTO iterations VALUES (0, 0, 4000000, 10, 1, 0, 2, 0, 1, 0),"
    " (1, 1000000, 6000000, 20, 1, 1, 3, 1, 2, 0);";

static void sql(sqlite3 *db, const char *text)
{
    if (sqlite3_exec(db, text, NULL, NULL, NULL) != SQLITE_OK)
        fz_fail("harness SQL: %s", sqlite3_errmsg(db));
}

static void bind_exec(sqlite3 *db, const char *text, const char *a,
                      const char *b)
{
    sqlite3_stmt *st;

    if (sqlite3_prepare_v2(db, text, -1, &st, NULL) != SQLITE_OK)
        fz_fail("harness SQL: %s", sqlite3_errmsg(db));
    sqlite3_bind_text(st, 1, a, -1, SQLITE_TRANSIENT);
    if (b != NULL)
        sqlite3_bind_text(st, 2, b, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) != SQLITE_DONE)
        fz_fail("harness SQL: %s", sqlite3_errmsg(db));
    sqlite3_finalize(st);
}

static void make_run(const char *path, const char *const *f)
{
    sqlite3 *db;

    if (sqlite3_open(path, &db) != SQLITE_OK)
        fz_fail("cannot make %s", path);
    sql(db, run_schema);
    bind_exec(db, "INSERT INTO runs (name, seed, kv_blocks) VALUES (?, 1, "
              "100)", f[F_RUN], NULL);
    bind_exec(db, "INSERT INTO kv_tiers VALUES (0, 1000, ?, 10, 5, 0, 0, "
              "1e6, 0), (0, 2000, ?, 20, 5, 0, 0, 0, 1e6)", f[F_TIER_A],
              f[F_TIER_B]);
    /* a crafted file's own statements; failing ones are just ignored */
    sqlite3_exec(db, f[F_SQL_RUN], NULL, NULL, NULL);
    sqlite3_close(db);
}

static void make_sweep(const char *path, const char *const *f)
{
    struct sweepdb_meta m = { .name = f[F_SWEEP], .kind = "sweep",
        .base = "{}", .load_axis = f[F_AXIS], .confidence = 0.95 };
    struct sweepdb *s;
    struct llm_diag d = { 0 };
    sqlite3 *db;

    if (sweepdb_open(path, &m, &s, &d) != LLM_OK)
        fz_fail("cannot make %s: %s", path, d.msg);
    db = sweepdb_handle(s);
    bind_exec(db, "INSERT OR IGNORE INTO configs (id, params) VALUES "
              "(1, ?), (2, ? || ' ')", f[F_PARAMS_A], f[F_PARAMS_B]);
    sql(db, "INSERT INTO points (config, seed, params, status) VALUES "
        "(1, 1, '{}', 'done'), (2, 1, '{}', 'done')");
    /* OR REPLACE: the input's metric name may be one of these */
    bind_exec(db, "INSERT OR REPLACE INTO aggregates (config, name, n, "
              "mean, ci_lo, ci_hi) VALUES (1, 'offered_req_s', 1, 1, 1, 1), "
              "(2, 'offered_req_s', 1, 2, 2, 2), "
              "(1, 'ttft_ms.p50', 1, 3, 2, 4), (2, ?, 1, 5, 4, 6)",
              f[F_METRIC], NULL);
    sqlite3_exec(db, f[F_SQL_SWEEP], NULL, NULL, NULL);
    sweepdb_close(s);
}

/* Mirrors assert_gp_safe of tests/check_security.c. */
static void check_script(const char *script)
{
    const char *p = script;
    int line = 1;

    while (*p) {
        const char *open = NULL;
        char q = 0;
        for (; *p && *p != '\n'; p++) {
            if (q == '\'' && *p == '\'' && p[1] == '\'' && p[-1] != '\'' &&
                p - 1 != open) {
                p++;
            } else if (q == '\'' && *p == '\'') {
                q = 0;
            } else if (q == '"' && *p == '\\' && p[1] && p[1] != '\n') {
                p++;
            } else if (q == '"' && *p == '"') {
                q = 0;
            } else if (q == 0 && (*p == '\'' || *p == '"')) {
                q = *p;
                open = p;
            } else if (q == 0 && *p == '#') {
                const char *nl = strchr(p, '\n');
                if (nl != NULL && nl[-1] == '\\')
                    fz_fail("plots.gp line %d: a comment continues", line);
                p = nl ? nl : p + strlen(p);
                break;
            } else if (q == 0 && (*p == '`' ||
                                  strncmp(p, "system", 6) == 0)) {
                fz_fail("plots.gp line %d: a command outside a string",
                        line);
            } else if (q != 0 && (unsigned char)*p < 0x20) {
                fz_fail("plots.gp line %d: a control byte in a string",
                        line);
            }
        }
        if (q != 0)
            fz_fail("plots.gp line %d: a string runs into the next", line);
        if (*p == '\n')
            p++;
        line++;
    }
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *s;
    long n;

    if (f == NULL)
        return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    rewind(f);
    s = malloc((size_t)n + 1);
    if (s == NULL || fread(s, 1, (size_t)n, f) != (size_t)n)
        fz_fail("cannot read %s", path);
    s[n] = '\0';
    fclose(f);
    return s;
}

/* Removes dir's entries (no subfolders expected) and, if rm_self, dir;
 * returns how many entries were not the names in keep (NULL: any name)
 * or could not be removed. */
static int sweep_dir(const char *dir, const char *const *keep, int rm_self)
{
    DIR *dp = opendir(dir);
    struct dirent *e;
    char path[1400];
    int strange = 0;

    if (dp == NULL)
        return 0;
    while ((e = readdir(dp)) != NULL) {
        bool kept = false;
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        for (size_t i = 0; keep != NULL && keep[i] != NULL; i++)
            kept = kept || strcmp(e->d_name, keep[i]) == 0;
        if (keep != NULL && !kept) {
            fprintf(stderr, "fuzz_plot: unexpected %s/%s\n", dir, e->d_name);
            strange++;
        }
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        if (remove(path) != 0 && rmdir(path) != 0)
            strange++;
    }
    closedir(dp);
    if (rm_self)
        rmdir(dir);
    return strange;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fz_str(data, size);   /* NUL-split below */
    const char *f[F_N];
    char run[1200], sweep[1200], out[1200], gp[1300], name[256];
    const char *keep[4];
    struct plot_list *made = calloc(1, sizeof(*made));
    struct llm_diag d = { 0 };
    const char *dbs[2];
    size_t at = 0;

    for (int i = 0; i < F_N; i++) {
        f[i] = at <= size ? text + at : "";
        at += at <= size ? strlen(text + at) + 1 : 0;
    }
    /* the database's file name: one component, as a shell passes it */
    snprintf(name, sizeof(name), "%s", f[F_DBNAME]);
    if (name[0] == '\0' || strchr(name, '/') != NULL ||
        strcmp(name, ".") == 0 || strcmp(name, "..") == 0 ||
        strcmp(name, "out") == 0 || strcmp(name, "s.sqlite") == 0)
        snprintf(name, sizeof(name), "r.sqlite");
    snprintf(run, sizeof(run), "%s/%s", fz_dir(), name);
    snprintf(sweep, sizeof(sweep), "%s/s.sqlite", fz_dir());
    snprintf(out, sizeof(out), "%s/out", fz_dir());
    make_run(run, f);
    make_sweep(sweep, f);
    dbs[0] = run;
    dbs[1] = sweep;
    if (plot_script(dbs, 2, out, made, &d) == LLM_OK) {
        char *script;
        snprintf(gp, sizeof(gp), "%s/plots.gp", out);
        script = slurp(gp);
        if (script == NULL)
            fz_fail("plot_script succeeded without %s", gp);
        check_script(script);
        free(script);
    } else if (d.msg[0] == '\0') {
        fz_fail("an error (%d) without a message", d.code);
    }
    keep[0] = name;
    keep[1] = "s.sqlite";
    keep[2] = "out";
    keep[3] = NULL;
    if (sweep_dir(out, NULL, 1) != 0)
        fz_fail("a subfolder or an unremovable file in out");
    if (sweep_dir(fz_dir(), keep, 0) != 0)
        fz_fail("a file written outside out");
    free(made);
    free(text);
    return 0;
}
