/* Closed-loop users (traces/closed.c through the simulator's feedback). */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "run/run.h"
#include "run/scenario.h"
#include "tests/fixture.h"
#include "tests/suites.h"

static const char *config(int users, int requests, double think)
{
    char text[1024];

    snprintf(text, sizeof(text),
        "{\"name\": \"c\", \"seed\": 3, \"model\": \"llama-3-8b\","
        " \"hardware\": {\"device\": \"h100-sxm-80gb\"},"
        " \"cost_model\": {\"name\": \"roofline\"},"
        " \"workload\": {\"type\": \"closed_loop\", \"users\": %d,"
        " \"num_requests\": %d, \"think_s\": %g,"
        " \"prompt\": {\"dist\": \"uniform\", \"min\": 100, \"max\": 900},"
        " \"output\": {\"dist\": \"uniform\", \"min\": 10, \"max\": 200}},"
        " \"output\": {\"dir\": \"%s/out\", \"iterations\": false}}",
        users, requests, think, fx_tmpdir);
    return fx_put("c.json", text);
}

static double num(const cJSON *s, const char *a, const char *b)
{
    const cJSON *v = cJSON_GetObjectItem(s, a);

    return (b ? cJSON_GetObjectItem(v, b) : v)->valuedouble;
}

/* The interactive response-time law: throughput X = N / (R + Z) for N
 * users, mean response time R and mean think time Z; and never more than
 * N requests in the system. */
START_TEST(test_response_time_law)
{
    struct llm_diag d = { 0 };
    struct scenario sc;
    struct run_opts o = { .quiet = 1 };
    cJSON *s = NULL;
    double x, r, law;

    ck_assert_int_eq(scenario_load(config(16, 3000, 0.8), NULL, &sc, &d), 0);
    ck_assert_msg(run_scenario(&sc, &o, &s, NULL, &d) == 0, "%s", d.msg);
    ck_assert_double_eq(num(s, "requests_completed", NULL), 3000);
    x = num(s, "throughput_req_s", NULL);
    r = num(s, "e2e_ms", "mean") / 1e3;
    law = 16.0 / (r + 0.8);
    ck_assert_double_eq_tol(x, law, 0.03 * law);
    ck_assert_double_le(num(s, "mean_in_system", NULL), 16.0);
    ck_assert_double_gt(num(s, "mean_in_system", NULL), 1.0);
    cJSON_Delete(s);
    scenario_free(&sc);
}
END_TEST

/* More users, more load: throughput grows and so does latency. */
START_TEST(test_more_users_more_load)
{
    struct llm_diag d = { 0 };
    struct scenario sc;
    struct run_opts o = { .quiet = 1 };
    cJSON *a = NULL, *b = NULL;

    ck_assert_int_eq(scenario_load(config(2, 400, 0.1), NULL, &sc, &d), 0);
    ck_assert_int_eq(run_scenario(&sc, &o, &a, NULL, &d), 0);
    scenario_free(&sc);
    ck_assert_int_eq(scenario_load(config(64, 400, 0.1), NULL, &sc, &d), 0);
    ck_assert_int_eq(run_scenario(&sc, &o, &b, NULL, &d), 0);
    scenario_free(&sc);
    ck_assert_double_gt(num(b, "throughput_req_s", NULL),
                        2 * num(a, "throughput_req_s", NULL));
    ck_assert_double_gt(num(b, "e2e_ms", "mean"), num(a, "e2e_ms", "mean"));
    cJSON_Delete(a);
    cJSON_Delete(b);
}
END_TEST

START_TEST(test_missing_users)
{
    struct llm_diag d = { 0 };
    struct scenario sc;
    const char *p = fx_put("bad.json", "{\"model\": \"llama-3-8b\", "
        "\"hardware\": {\"device\": \"h100-sxm-80gb\"}, \"workload\": "
        "{\"type\": \"closed_loop\", \"num_requests\": 5, \"prompt\": "
        "{\"dist\": \"fixed\", \"value\": 8}, \"output\": {\"dist\": "
        "\"fixed\", \"value\": 8}}}");

    ck_assert_int_eq(scenario_load(p, NULL, &sc, &d), LLM_EINVAL);
    ck_assert_str_eq(d.msg, "workload.users: missing (expected an integer "
                     "in [1, 16777216])");
    scenario_free(&sc);
}
END_TEST

Suite *closed_suite(void)
{
    Suite *s = suite_create("closed");
    TCase *tc = tcase_create("core");

    tcase_add_checked_fixture(tc, fx_setup, fx_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_response_time_law);
    tcase_add_test(tc, test_more_users_more_load);
    tcase_add_test(tc, test_missing_users);
    suite_add_tcase(s, tc);
    return s;
}
