/* Tests of the per-replica summary: a database written by the store with
 * hand-made rows, figures checked by hand. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "analysis/replica_stats.h"
#include "analysis/store.h"
#include "tests/suites.h"

static struct request req(int64_t id, int32_t replica, int64_t arr_ms,
                          int64_t first_ms, int64_t fin_ms, int32_t out)
{
    return (struct request){ .id = id, .replica = replica,
        .arrival_ns = arr_ms * 1000000, .first_token_ns = first_ms * 1000000,
        .finish_ns = fin_ms * 1000000, .first_sched_ns = arr_ms * 1000000,
        .prompt_tokens = 100, .output_tokens = out, .generated = out };
}

static double num(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

    ck_assert_msg(cJSON_IsNumber(v), "%s is not a number", k);
    return v->valuedouble;
}

/* Replica 0: two requests (TTFT 10 and 30 ms; TPOT 10 ms and 5 ms), one
 * refused; replica 1: one request; replica 2: nothing.  The run spans
 * 0..1000 ms.  Replica 0 computed 400 ms of it, with 50 of 100 KV blocks
 * for 300 ms and 10 for 100 ms. */
START_TEST(test_replica_stats)
{
    char dir[] = "/tmp/llmsim-rs-XXXXXX", cmd[64];
    struct run_info info = { .name = "t", .config_json = "{}",
                             .version = "t", .cost_model = "t", .model = "m",
                             .device = "d", .replicas = 3, .tp = 1 };
    struct request q[4] = { req(0, 0, 0, 10, 110, 11),
                            req(1, 0, 100, 130, 1000, 175),
                            req(2, 1, 200, 220, 300, 2),
                            req(3, 0, 300, -1, -1, 0) };
    struct iter_record it[2] = {
        { .replica = 0, .start_ns = 0, .end_ns = 300000000,
          .kv_blocks_used = 50, .n_waiting = 2 },
        { .replica = 0, .start_ns = 300000000, .end_ns = 400000000,
          .kv_blocks_used = 10 } };
    struct llm_diag d = { 0 };
    struct store *s = NULL;
    const cJSON *r0, *r1, *r2;
    cJSON *sum = cJSON_CreateObject();
    sqlite3_stmt *st;
    int i;

    q[3].rejected = 1;
    ck_assert_ptr_nonnull(mkdtemp(dir));
    ck_assert_int_eq(store_open(dir, &info, &s, &d), LLM_OK);
    for (i = 0; i < 4; i++)
        ck_assert_int_eq(store_request(s, &q[i]), LLM_OK);
    for (i = 0; i < 2; i++)
        ck_assert_int_eq(store_iteration(s, &it[i]), LLM_OK);
    ck_assert_int_eq(replica_stats_add(store_db(s), 3, 100, sum, &d),
                     LLM_OK);
    r0 = cJSON_GetArrayItem(cJSON_GetObjectItem(sum, "replicas"), 0);
    r1 = cJSON_GetArrayItem(cJSON_GetObjectItem(sum, "replicas"), 1);
    r2 = cJSON_GetArrayItem(cJSON_GetObjectItem(sum, "replicas"), 2);
    ck_assert_double_eq(num(r0, "requests_completed"), 2);
    ck_assert_double_eq(num(r0, "requests_rejected"), 1);
    ck_assert_double_eq_tol(num(r0, "ttft_ms_p50"), 20, 1e-9);
    ck_assert_double_eq_tol(num(r0, "ttft_ms_p99"), 10 + 20 * 0.99, 1e-9);
    ck_assert_double_eq_tol(num(r0, "tpot_ms_p50"), 7.5, 1e-9);
    /* (200 + 186) tokens over the run's 1 s. */
    ck_assert_double_eq_tol(num(r0, "throughput_tok_s"), 386, 1e-9);
    ck_assert_double_eq_tol(num(r0, "busy_frac"), 0.4, 1e-12);
    ck_assert_double_eq_tol(num(r0, "kv_util_mean"),
                            (50.0 * 300 + 10.0 * 100) / 400 / 100, 1e-12);
    ck_assert_double_eq_tol(num(r0, "queue_len_mean"), 1.5, 1e-12);
    ck_assert_double_eq(num(r1, "requests_completed"), 1);
    ck_assert_double_eq_tol(num(r1, "ttft_ms_p99"), 20, 1e-9);
    ck_assert_double_eq(num(r2, "requests_completed"), 0);
    ck_assert(cJSON_IsNull(cJSON_GetObjectItem(r2, "ttft_ms_p50")));
    /* The table has the same figures. */
    ck_assert_int_eq(sqlite3_prepare_v2(store_db(s), "SELECT COUNT(*), "
        "SUM(requests_completed), MAX(busy_frac) FROM replicas", -1, &st,
        NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    ck_assert_int_eq(sqlite3_column_int(st, 0), 3);
    ck_assert_int_eq(sqlite3_column_int(st, 1), 3);
    ck_assert_double_eq_tol(sqlite3_column_double(st, 2), 0.4, 1e-12);
    sqlite3_finalize(st);
    store_abort(s);
    cJSON_Delete(sum);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

/* A request of a replica the run does not have is an error, not a
 * silent drop. */
START_TEST(test_replica_stats_bad_index)
{
    char dir[] = "/tmp/llmsim-rs-XXXXXX", cmd[64];
    struct run_info info = { .name = "t", .config_json = "{}",
                             .version = "t", .cost_model = "t", .model = "m",
                             .device = "d", .replicas = 1, .tp = 1 };
    struct request q = req(0, 4, 0, 10, 20, 2);
    struct llm_diag d = { 0 };
    struct store *s = NULL;
    cJSON *arr = NULL;

    ck_assert_ptr_nonnull(mkdtemp(dir));
    ck_assert_int_eq(store_open(dir, &info, &s, &d), LLM_OK);
    ck_assert_int_eq(store_request(s, &q), LLM_OK);
    ck_assert_int_eq(replica_stats_build(store_db(s), 2, 10, &arr, &d),
                     LLM_EINVAL);
    ck_assert_str_eq(d.msg, "results: request of replica 4 in a run of 2 "
                     "replicas");
    ck_assert_ptr_null(arr);
    store_abort(s);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

Suite *replica_stats_suite(void)
{
    Suite *s = suite_create("replica_stats");
    TCase *tc = tcase_create("replica_stats");

    tcase_add_test(tc, test_replica_stats);
    tcase_add_test(tc, test_replica_stats_bad_index);
    suite_add_tcase(s, tc);
    return s;
}
