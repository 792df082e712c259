/* Tests of what a run writes (docs/output.md): NULL for times that never
 * came (issue 17), iteration statistics whatever is stored (issue 17),
 * and the iterations as SQL reads them (issue 24). */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "cli/run.h"
#include "cli/scenario.h"
#include "tests/fixture.h"
#include "tests/suites.h"

/* 120 requests over 12 s; request 5 has a prompt over Llama-3-8B's
 * 8,192-token context, so it is rejected at arrival. */
static void write_trace(void)
{
    char *buf = malloc(120 * 64 + 64);
    size_t off = 0;
    int i;

    off += (size_t)sprintf(buf, "TIMESTAMP,ContextTokens,GeneratedTokens\n");
    for (i = 0; i < 120; i++) {
        int ms = i * 100 + (i * 37) % 90;
        off += (size_t)sprintf(buf + off, "2023-11-16 18:00:%02d.%03d0000,"
                               "%d,%d\n", ms / 1000, ms % 1000,
                               i == 5 ? 9000 : 64 + (i * 97) % 900,
                               1 + (i * 31) % 120);
    }
    fx_put("trace.csv", buf);
    free(buf);
}

/* A scenario over that trace; extra: more top-level keys. */
static const char *config(const char *extra)
{
    char text[2048];

    snprintf(text, sizeof(text),
        "{\"name\": \"t\", \"seed\": 7, \"model\": \"llama-3-8b\","
        " \"hardware\": {\"device\": \"h100-sxm-80gb\", \"kv_blocks\": 200},"
        " \"scheduler\": {\"name\": \"vllm\", \"max_num_seqs\": 32},"
        " \"workload\": {\"type\": \"azure\", \"path\": \"%s/trace.csv\"},"
        " \"output\": {\"dir\": \"%s/out\"}%s}",
        fx_tmpdir, fx_tmpdir, extra ? extra : "");
    return fx_put("c.json", text);
}

/* Runs cfg into fx_tmpdir/out_name; returns the summary. */
static cJSON *run(const char *cfg, const char *out_name, const char *set)
{
    struct llm_diag d = { 0 };
    struct scenario sc;
    struct run_opts o = { .out_dir = fx_path(out_name), .quiet = 1 };
    const char *sets[] = { set, NULL };
    cJSON *summary = NULL;

    ck_assert_int_eq(scenario_load(cfg, set ? sets : NULL, &sc, &d), LLM_OK);
    ck_assert_msg(run_scenario(&sc, &o, &summary, NULL, &d) == LLM_OK, "%s",
                  d.msg);
    scenario_free(&sc);
    return summary;
}

static sqlite3 *open_db(const char *out_name)
{
    char path[512];
    sqlite3 *db;

    snprintf(path, sizeof(path), "%s/%s/results.sqlite", fx_tmpdir,
             out_name);
    ck_assert_int_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL),
                     SQLITE_OK);
    return db;
}

/* The first column of the first row of sql (a number). */
static double q_num(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st;
    double v;

    ck_assert_msg(sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK,
                  "%s: %s", sql, sqlite3_errmsg(db));
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    v = sqlite3_column_double(st, 0);
    sqlite3_finalize(st);
    return v;
}

static double get(const cJSON *s, const char *a, const char *b)
{
    const cJSON *v = cJSON_GetObjectItem(s, a);

    if (b != NULL)
        v = cJSON_GetObjectItem(v, b);
    ck_assert_msg(cJSON_IsNumber(v), "%s.%s is not a number", a,
                  b ? b : "");
    return v->valuedouble;
}

/* A rejected request's times are NULL, never -1, so SQL's averages of
 * the served requests' latencies need no filter (issue 17, item 8). */
START_TEST(test_rejected_times_null)
{
    cJSON *s;
    sqlite3 *db;

    write_trace();
    s = run(config(NULL), "out", NULL);
    db = open_db("out");
    ck_assert_double_eq(q_num(db, "SELECT COUNT(*) FROM requests WHERE "
        "status = 'rejected' AND first_sched_ns IS NULL AND first_token_ns "
        "IS NULL AND finish_ns IS NULL"), 1);
    ck_assert_double_eq(q_num(db, "SELECT COUNT(*) FROM requests WHERE "
        "first_sched_ns < 0 OR first_token_ns < 0 OR finish_ns < 0"), 0);
    ck_assert_double_eq(q_num(db, "SELECT COUNT(*) FROM requests WHERE "
        "status = 'ok' AND (first_sched_ns IS NULL OR first_token_ns IS NULL "
        "OR finish_ns IS NULL)"), 0);
    /* AVG over every row is the mean TTFT of the served ones. */
    ck_assert_double_eq_tol(q_num(db, "SELECT AVG(first_token_ns - "
        "arrival_ns) / 1e6 FROM requests"), get(s, "ttft_ms", "mean"),
        1e-9 * get(s, "ttft_ms", "mean"));
    sqlite3_close(db);
    cJSON_Delete(s);
}
END_TEST

/* KV use, queue length and batch size are the same whether or not the
 * iteration rows are stored, in the summary and in the metrics and
 * replicas tables, and they are not 0 (issue 17, item 7). */
START_TEST(test_iteration_stats_without_rows)
{
    static const char *const keys[] = { "iterations", "kv_util_mean",
        "kv_util_max", "queue_len_mean", "queue_len_max",
        "batch_size_mean", NULL };
    cJSON *on, *off;
    sqlite3 *db;
    int i;

    write_trace();
    on = run(config(NULL), "on", NULL);
    off = run(config(NULL), "off", "output.iterations=false");
    for (i = 0; keys[i] != NULL; i++) {
        ck_assert_double_gt(get(on, keys[i], NULL), 0);
        ck_assert_double_eq(get(off, keys[i], NULL), get(on, keys[i], NULL));
    }
    ck_assert_double_eq(get(cJSON_GetArrayItem(cJSON_GetObjectItem(off,
        "replicas"), 0), "kv_util_mean", NULL), get(cJSON_GetArrayItem(
        cJSON_GetObjectItem(on, "replicas"), 0), "kv_util_mean", NULL));
    db = open_db("off");
    ck_assert_double_eq(q_num(db, "SELECT COUNT(*) FROM iterations"), 0);
    ck_assert_double_eq(q_num(db, "SELECT value FROM metrics WHERE name = "
                              "'kv_util_mean'"), get(on, "kv_util_mean", NULL));
    ck_assert_double_eq(q_num(db, "SELECT queue_len_mean FROM replicas"),
                        get(on, "queue_len_mean", NULL));
    sqlite3_close(db);
    cJSON_Delete(on);
    cJSON_Delete(off);
}
END_TEST

Suite *output_suite(void)
{
    Suite *s = suite_create("output");
    TCase *tc = tcase_create("output");

    tcase_add_checked_fixture(tc, fx_setup, fx_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_rejected_times_null);
    tcase_add_test(tc, test_iteration_stats_without_rows);
    suite_add_tcase(s, tc);
    return s;
}
