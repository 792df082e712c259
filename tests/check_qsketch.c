/* Tests of the quantile sketch (analysis/qsketch.h) against exact
 * percentiles (GSL), and of the summaries once they sketch (issue 24). */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <gsl/gsl_sort.h>
#include <gsl/gsl_statistics_double.h>

#include "analysis/qsketch.h"
#include "analysis/replica_stats.h"
#include "analysis/summary.h"
#include "analysis/vllm.h"
#include "tests/fixture.h"
#include "tests/suites.h"

#define ALPHA 0.001
#define MIN_V 1e-6

static const double qs[] = { 0, 0.01, 0.25, 0.5, 0.9, 0.95, 0.99, 0.999, 1 };

/* |est - exact| <= alpha exact + min_value, with 1e-9 for rounding. */
static void check_bound(double est, double exact, double alpha, double minv,
                        const char *what, double q)
{
    double tol = alpha * fabs(exact) * (1 + 1e-9) + minv;

    ck_assert_msg(fabs(est - exact) <= tol, "%s q=%g: sketch %.17g exact "
                  "%.17g (allowed %.3g)", what, q, est, exact, tol);
}

/* Draws n values of distribution k (seeded), into v. */
static void draw(gsl_rng *g, int k, double *v, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        switch (k) {
        case 0: v[i] = gsl_ran_lognormal(g, 3, 1.5); break;  /* latencies */
        case 1: v[i] = gsl_rng_uniform(g) < 0.3 ? 0        /* zeros */
                       : gsl_ran_exponential(g, 40); break;
        case 2: v[i] = gsl_ran_pareto(g, 1.1, 5); break;     /* heavy tail */
        default: v[i] = 1 + (double)(i % 7); break;          /* few values */
        }
    }
}

/* Every quantile of several distributions and sizes is within the
 * documented bound of GSL's exact quantile. */
START_TEST(test_sketch_bound)
{
    static const size_t sizes[] = { 1, 2, 3, 10, 101, 5000, 200000 };
    gsl_rng *g = gsl_rng_alloc(gsl_rng_mt19937);
    double *v = malloc(200000 * sizeof(*v));
    char what[64];
    int k;

    for (k = 0; k < 4; k++) {
        for (size_t z = 0; z < sizeof(sizes) / sizeof(sizes[0]); z++) {
            struct qsketch s;
            size_t i, n = sizes[z];
            ck_assert_int_eq(qsketch_init(&s, ALPHA, MIN_V), LLM_OK);
            draw(g, k, v, n);
            for (i = 0; i < n; i++)
                ck_assert_int_eq(qsketch_add(&s, v[i]), LLM_OK);
            gsl_sort(v, 1, n);
            snprintf(what, sizeof(what), "dist %d n %zu", k, n);
            for (i = 0; i < sizeof(qs) / sizeof(qs[0]); i++)
                check_bound(qsketch_quantile(&s, qs[i]),
                            gsl_stats_quantile_from_sorted_data(v, 1, n,
                                                                qs[i]),
                            ALPHA, MIN_V, what, qs[i]);
            qsketch_free(&s);
        }
    }
    free(v);
    gsl_rng_free(g);
}
END_TEST

/* The estimate is not the exact value (the test above is not vacuous),
 * memory is the bins between the extremes whatever the count, and bad
 * input is refused. */
START_TEST(test_sketch_memory_and_input)
{
    struct qsketch s;
    int64_t i, bound;

    ck_assert_int_eq(qsketch_init(&s, ALPHA, MIN_V), LLM_OK);
    ck_assert(isnan(qsketch_quantile(&s, 0.5)));
    for (i = 0; i < 2000000; i++)
        ck_assert_int_eq(qsketch_add(&s, 10 + (double)(i % 99991) / 10),
                         LLM_OK);
    /* values in [10, 10009.1]: three decades */
    bound = (int64_t)ceil(log(10009.1 / 10) / s.log_gamma) + 1;
    ck_assert_int_le(s.n_bins, 2 * bound);
    ck_assert_int_ge(s.n_bins, bound - 1);
    ck_assert_int_eq(s.count, 2000000);
    ck_assert_double_ne(qsketch_quantile(&s, 0.5), 10 + 4999.5);
    check_bound(qsketch_quantile(&s, 0.5), 10 + 4999.5, ALPHA, MIN_V,
                "uniform", 0.5);
    ck_assert_int_eq(qsketch_add(&s, -1), LLM_EINVAL);
    ck_assert_int_eq(qsketch_add(&s, NAN), LLM_EINVAL);
    ck_assert_int_eq(qsketch_add(&s, INFINITY), LLM_EINVAL);
    ck_assert_int_eq(s.count, 2000000);
    ck_assert(isnan(qsketch_quantile(&s, 1.5)));
    qsketch_free(&s);
    ck_assert_int_eq(qsketch_init(&s, 0.5, 1), LLM_EINVAL);
    ck_assert_int_eq(qsketch_init(&s, 0.01, 0), LLM_EINVAL);
}
END_TEST

/* Requests of three replicas with lognormal latencies (seeded). */
static void fill(struct summary_reqs *a, size_t n)
{
    gsl_rng *g = gsl_rng_alloc(gsl_rng_mt19937);
    size_t i;

    for (i = 0; i < n; i++) {
        int64_t arr = (int64_t)i * 100000000;
        int64_t ttft = (int64_t)(gsl_ran_lognormal(g, 17, 1) + 1);
        int32_t out = 1 + (int32_t)(gsl_rng_uniform_int(g, 400));
        int64_t fin = arr + ttft + out * (int64_t)(gsl_ran_lognormal(g, 16,
                                                                     0.3));
        struct store_row r = { .id = (int64_t)i, .arrival_ns = arr,
            .first_sched_ns = arr, .first_token_ns = arr + ttft,
            .finish_ns = fin, .prompt_tokens = 100, .output_tokens = out,
            .replica = (int32_t)(i % 3), .rejected = i % 97 == 5 };
        ck_assert_int_eq(summary_reqs_add(a, &r), LLM_OK);
    }
    gsl_rng_free(g);
}

static double num(const cJSON *o, const char *a, const char *b)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, a);

    if (b != NULL)
        v = cJSON_GetObjectItemCaseSensitive(v, b);
    ck_assert_msg(cJSON_IsNumber(v), "%s.%s", a, b ? b : "");
    return v->valuedouble;
}

/* A summary whose requests passed the exact threshold: every
 * percentile within the bound of the exact summary's, means and maxima
 * equal to rounding, counts and goodput equal, per replica too; the
 * summary says it sketched; the kept requests were freed. */
START_TEST(test_summary_sketched)
{
    static const char *const figs[] = { "ttft_ms", "tpot_ms", "e2e_ms",
                                         "norm_latency_ms_per_tok" };
    static const char *const ps[] = { "p50", "p90", "p95", "p99" };
    static const char *const rep_keys[] = { "ttft_ms_p50", "ttft_ms_p99",
        "tpot_ms_p50", "tpot_ms_p99", "e2e_ms_p50", "e2e_ms_p99" };
    struct summary_slo slo = { .ttft_ms = 40, .tpot_ms = 10 };
    struct summary_reqs ex, sk;
    struct summary_iters it;
    struct llm_diag d = { 0 };
    cJSON *se = NULL, *ss = NULL;
    sqlite3 *db;
    size_t f, p;

    ck_assert_int_eq(sqlite3_open(":memory:", &db), SQLITE_OK);
    ck_assert_int_eq(sqlite3_exec(db, "CREATE TABLE itl (gap_ns, count)",
                                  NULL, NULL, NULL), SQLITE_OK);
    summary_iters_init(&it);
    summary_reqs_init(&ex, &slo);
    summary_reqs_init(&sk, &slo);
    sk.exact_max = 1000;
    fill(&ex, 30000);
    fill(&sk, 30000);
    ck_assert(!ex.sketched);
    ck_assert(sk.sketched);
    ck_assert_ptr_null(sk.ok);
    ck_assert_int_eq(sk.n_ok, ex.n_ok);
    ck_assert_int_eq(summary_build_reqs(db, &ex, &it, 100, &se, &d), LLM_OK);
    ck_assert_int_eq(summary_build_reqs(db, &sk, &it, 100, &ss, &d), LLM_OK);
    ck_assert_ptr_null(cJSON_GetObjectItem(se, "percentile_sketch_alpha"));
    ck_assert_double_eq(num(ss, "percentile_sketch_alpha", NULL),
                        SUMMARY_SKETCH_ALPHA);
    ck_assert_double_eq(num(ss, "goodput_req_s", NULL),
                        num(se, "goodput_req_s", NULL));
    ck_assert_double_gt(num(se, "slo_attainment", NULL), 0.1);
    ck_assert_double_lt(num(se, "slo_attainment", NULL), 0.9);
    ck_assert_double_eq(num(ss, "requests_rejected", NULL),
                        num(se, "requests_rejected", NULL));
    for (f = 0; f < 4; f++) {
        ck_assert_double_eq_tol(num(ss, figs[f], "mean"),
                                num(se, figs[f], "mean"),
                                1e-9 * num(se, figs[f], "mean"));
        ck_assert_double_eq(num(ss, figs[f], "max"), num(se, figs[f], "max"));
        for (p = 0; p < 4; p++)
            check_bound(num(ss, figs[f], ps[p]), num(se, figs[f], ps[p]),
                        SUMMARY_SKETCH_ALPHA, SUMMARY_SKETCH_MIN_MS, figs[f],
                        (double)p);
    }
    cJSON_Delete(se);
    cJSON_Delete(ss);
    ck_assert_int_eq(replica_stats_build_reqs(db, &ex, &it, 3, 100, &se, &d),
                     LLM_OK);
    ck_assert_int_eq(replica_stats_build_reqs(db, &sk, &it, 3, 100, &ss, &d),
                     LLM_OK);
    for (f = 0; f < 3; f++) {
        const cJSON *a = cJSON_GetArrayItem(se, (int)f);
        const cJSON *b = cJSON_GetArrayItem(ss, (int)f);
        ck_assert_double_eq(num(b, "requests_completed", NULL),
                            num(a, "requests_completed", NULL));
        for (p = 0; p < 6; p++)
            check_bound(num(b, rep_keys[p], NULL), num(a, rep_keys[p], NULL),
                        SUMMARY_SKETCH_ALPHA, SUMMARY_SKETCH_MIN_MS,
                        rep_keys[p], (double)f);
    }
    cJSON_Delete(se);
    cJSON_Delete(ss);
    /* a replica the run does not have is still an error */
    ck_assert_int_eq(replica_stats_build_reqs(db, &sk, &it, 2, 100, &se, &d),
                     LLM_EINVAL);
    ck_assert_str_eq(d.msg, "results: request of replica 2 in a run of 2 "
                     "replicas");
    ck_assert_ptr_null(se);
    summary_reqs_free(&ex);
    summary_reqs_free(&sk);
    sqlite3_close(db);
}
END_TEST

/* vllm.json of a run past the exact threshold: its standard deviations
 * come from the running statistics (no kept requests to read), equal to
 * the exact ones to rounding; goodput is the count the run made. */
START_TEST(test_vllm_sketched)
{
    static const char *const sds[] = { "std_ttft_ms", "std_tpot_ms",
                                       "std_e2el_ms" };
    struct summary_slo slo = { .ttft_ms = 40, .tpot_ms = 10 };
    struct vllm_slo vs = { 40, -1, -1 };
    struct summary_reqs ex, sk;
    struct summary_iters it;
    struct llm_diag d = { 0 };
    cJSON *se = NULL, *ve = NULL, *vk = NULL;
    int64_t good = 0;
    sqlite3 *db;
    size_t i;

    ck_assert_int_eq(sqlite3_open(":memory:", &db), SQLITE_OK);
    ck_assert_int_eq(sqlite3_exec(db, "CREATE TABLE itl (gap_ns, count);"
                                  "CREATE TABLE requests (arrival_ns, "
                                  "finish_ns, status)", NULL, NULL, NULL),
                     SQLITE_OK);
    summary_iters_init(&it);
    summary_reqs_init(&ex, &slo);
    summary_reqs_init(&sk, &slo);
    sk.exact_max = 1000;
    fill(&ex, 30000);
    fill(&sk, 30000);
    ck_assert(sk.sketched);
    for (i = 0; i < ex.n_ok; i++)
        good += vllm_meets(&ex.ok[i], &vs);
    ck_assert_int_gt(good, 0);
    ck_assert_int_lt(good, (int64_t)ex.n_ok);
    ck_assert_int_eq(summary_build_reqs(db, &ex, &it, 100, &se, &d), LLM_OK);
    ck_assert_int_eq(vllm_result(db, &ex, good, se, &vs, "m", "t", &ve, &d),
                     LLM_OK);
    ck_assert_int_eq(vllm_result(db, &sk, good, se, &vs, "m", "t", &vk, &d),
                     LLM_OK);
    for (i = 0; i < 3; i++) {
        ck_assert_double_gt(num(ve, sds[i], NULL), 0);
        ck_assert_double_eq_tol(num(vk, sds[i], NULL), num(ve, sds[i], NULL),
                                1e-9 * num(ve, sds[i], NULL));
    }
    ck_assert_double_eq(num(vk, "request_goodput", NULL),
                        num(ve, "request_goodput", NULL));
    ck_assert_double_gt(num(ve, "request_goodput", NULL), 0);
    cJSON_Delete(se);
    cJSON_Delete(ve);
    cJSON_Delete(vk);
    summary_reqs_free(&ex);
    summary_reqs_free(&sk);
    sqlite3_close(db);
}
END_TEST

Suite *qsketch_suite(void)
{
    Suite *s = suite_create("qsketch");
    TCase *tc = tcase_create("qsketch");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_sketch_bound);
    tcase_add_test(tc, test_sketch_memory_and_input);
    tcase_add_test(tc, test_summary_sketched);
    tcase_add_test(tc, test_vllm_sketched);
    suite_add_tcase(s, tc);
    return s;
}
