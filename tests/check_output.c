/* Tests of what a run writes (docs/output.md): NULL for times that never
 * came (issue 17), iteration statistics whatever is stored (issue 17),
 * and the iterations as SQL reads them (issue 24). */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "analysis/iterlog.h"
#include "run/run.h"
#include "run/scenario.h"
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
                              "'kv_util_mean'"),
                        get(on, "kv_util_mean", NULL));
    ck_assert_double_eq(q_num(db, "SELECT queue_len_mean FROM replicas"),
                        get(on, "queue_len_mean", NULL));
    sqlite3_close(db);
    cJSON_Delete(on);
    cJSON_Delete(off);
}
END_TEST

struct sums {
    int64_t n, dur, kv, running;
};

static int sum_row(void *ctx, const struct iterlog_row *row)
{
    struct sums *s = ctx;

    s->n++;
    s->dur += row->v[IL_END] - row->v[IL_START];
    s->kv += row->v[IL_KV_BLOCKS];
    s->running += row->v[IL_RUNNING];
    return LLM_OK;
}

/* The view iterations and iterlog_read see the same rows as the run's
 * summary counted, as integers, in chunks of ITERLOG_CHUNK (issue 24). */
START_TEST(test_iterations_view)
{
    struct llm_diag d = { 0 };
    struct sums a = { 0 };
    cJSON *s;
    sqlite3 *db;
    double n;

    write_trace();
    s = run(config(NULL), "out", NULL);
    db = open_db("out");
    n = get(s, "iterations", NULL);
    ck_assert_double_gt(n, 500);
    ck_assert_double_eq(q_num(db, "SELECT COUNT(*) FROM iterations"), n);
    ck_assert_double_eq(q_num(db, "SELECT COUNT(*) FROM iterations WHERE "
        "typeof(replica) || typeof(start_ns) || typeof(end_ns) || "
        "typeof(prefill_tokens) || typeof(prefill_seqs) || "
        "typeof(decode_seqs) || typeof(kv_blocks_used) || typeof(waiting) "
        "|| typeof(running) || typeof(preemptions) = 'integerintegerinteger"
        "integerintegerintegerintegerintegerintegerinteger'"), n);
    ck_assert_double_eq(q_num(db, "SELECT COUNT(*) FROM iteration_log"),
                        ceil(n / ITERLOG_CHUNK));
    ck_assert_int_eq(iterlog_read(db, sum_row, &a, &d), LLM_OK);
    ck_assert_int_eq(a.n, (int64_t)n);
    ck_assert_double_eq(q_num(db, "SELECT SUM(end_ns - start_ns) FROM "
                              "iterations"), (double)a.dur);
    ck_assert_double_eq(q_num(db, "SELECT SUM(kv_blocks_used) FROM "
                              "iterations"), (double)a.kv);
    ck_assert_double_eq(q_num(db, "SELECT SUM(running) FROM iterations"),
                        (double)a.running);
    ck_assert_double_eq_tol((double)a.running / (double)a.n,
                            get(s, "batch_size_mean", NULL), 1.0);
    sqlite3_close(db);
    cJSON_Delete(s);
}
END_TEST

static int keep_row(void *ctx, const struct iterlog_row *row)
{
    *(struct iterlog_row *)ctx = *row;
    return LLM_OK;
}

/* iterlog_put and iterlog_read agree on every integer, extremes
 * included; a malformed log row is an error naming it; a database with
 * a plain iterations table (before issue 24) is read too. */
START_TEST(test_iterlog_text)
{
    static const struct { const char *text; int at; } bad[] = {
        { "[[1,2,3]]", 0 }, { "[[1,2,3,4,5,6,7,8,9,x]]", 0 }, { "[1,2]", 0 },
        { "[[1,2,3,4,5,6,7,8,9,10]", 1 }, { "[[0,0,0,0,0,0,0,0,0,0],[1]]", 1 },
        { "[[1,2,3,4,5,6,7,8,9,9223372036854775808]]", 0 } };
    char want[128];
    struct iterlog_row r = { { 0, -1, INT64_MAX, INT64_MIN, 9, 10, 99, 100,
                               1234567890123, -98765 } }, back;
    struct llm_diag d = { 0 };
    char text[ITERLOG_ROW_MAX + 4], sql[400];
    sqlite3 *db;
    size_t i;

    text[0] = '[';
    *iterlog_put(text + 1, &r) = '\0';
    strcat(text, "]");
    ck_assert_str_eq(text, "[[0,-1,9223372036854775807,-9223372036854775808,"
                     "9,10,99,100,1234567890123,-98765]]");
    ck_assert_int_eq(sqlite3_open(":memory:", &db), SQLITE_OK);
    ck_assert_int_eq(sqlite3_exec(db, ITERLOG_SCHEMA, NULL, NULL, NULL),
                     SQLITE_OK);
    snprintf(sql, sizeof(sql), "INSERT INTO iteration_log VALUES ('%s')",
             text);
    ck_assert_int_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    ck_assert_int_eq(iterlog_read(db, keep_row, &back, &d), LLM_OK);
    ck_assert_mem_eq(&back, &r, sizeof(r));
    ck_assert_double_eq(q_num(db, "SELECT end_ns FROM iterations"),
                        (double)INT64_MAX);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        d = (struct llm_diag){ 0 };
        snprintf(sql, sizeof(sql), "DELETE FROM iteration_log; INSERT INTO "
                 "iteration_log VALUES ('%s')", bad[i].text);
        ck_assert_int_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
        ck_assert_int_eq(iterlog_read(db, keep_row, &back, &d), LLM_EINVAL);
        snprintf(want, sizeof(want), "results: iteration_log row 1: "
                 "iteration %d: expected [10 integers] in a JSON array",
                 bad[i].at);
        ck_assert_str_eq(d.msg, want);
    }
    sqlite3_close(db);
    /* the table of earlier versions */
    ck_assert_int_eq(sqlite3_open(":memory:", &db), SQLITE_OK);
    ck_assert_int_eq(sqlite3_exec(db, "CREATE TABLE iterations (replica, "
        "start_ns, end_ns, prefill_tokens, prefill_seqs, decode_seqs, "
        "kv_blocks_used, waiting, running, preemptions); INSERT INTO "
        "iterations VALUES (3,10,20,30,1,2,40,5,6,7)", NULL, NULL, NULL),
        SQLITE_OK);
    d = (struct llm_diag){ 0 };
    ck_assert_int_eq(iterlog_read(db, keep_row, &back, &d), LLM_OK);
    ck_assert_int_eq(back.v[IL_REPLICA], 3);
    ck_assert_int_eq(back.v[IL_KV_BLOCKS], 40);
    ck_assert_int_eq(back.v[IL_PREEMPTIONS], 7);
    sqlite3_close(db);
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
    tcase_add_test(tc, test_iterations_view);
    tcase_add_test(tc, test_iterlog_text);
    suite_add_tcase(s, tc);
    return s;
}
