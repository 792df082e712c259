/* Tests of `llmsim plan`: the planner finds the sustainable rate of a
 * scenario whose answer is computed by hand (below), sizes and ranks the
 * candidates by cost, reports infeasible ones, sets one replica's GPUs,
 * steps its search as documented, and names the key of a bad plan. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "analysis/plan.h"
#include "run/plan.h"
#include "run/run.h"
#include "run/scenario.h"
#include "tests/fixture.h"
#include "tests/suites.h"

/* ---- the analytic scenario ----------------------------------------------
 * One replica with max_num_seqs = 1 serves one request per iteration.
 * Every request has a 16-token prompt and 1 output token, so it is one
 * prefill iteration of fixed cost T: iteration_overhead_us plus the
 * roofline time of 16 tokens through a 1-layer, 64-wide model (well under
 * a microsecond; the test reads T from the iterations table rather than
 * assume it).  The trace has N = 200 requests one second apart, so
 * rate_scale r makes the gap p = 1/r and the offered load r req/s.
 *
 * For p >= T the replica is idle at every arrival: TTFT = T.  For p < T it
 * is busy from the first arrival on: request i (from 0) starts at i T and
 * ends at (i + 1) T, so TTFT_i = T + i (T - p), increasing in i.
 *
 * SLO: TTFT <= S = 20 ms for at least a = 99% of the requests.  Requests
 * 0..k meet it, k = floor((S - T) / (T - p)); 99% of 200 is 198 requests,
 * so k >= 197:  p >= T - (S - T) / 197,  r <= r* = 1 / (T - (S - T) / 197).
 * The plan's p90 TTFT <= S is weaker: p90 interpolates at rank
 * 0.9 (N - 1) = 179.1, T + 179.1 (T - p) <= S.  So r* is the answer:
 *   T = 10 ms:  r* = 1 / (10 - 10/197) ms  = 100.510 req/s
 *   T =  5 ms:  r* = 1 / (5 - 15/197) ms   = 203.093 req/s
 * For 1000 req/s at 2 USD per GPU-hour: ceil(1000 / 100.51) = 10 replicas,
 * 20 USD/h; ceil(1000 / 203.09) = 5 replicas, 10 USD/h, ranked first. */

#define N_REQ 200
#define SLO_MS 20.0

static void write_analytic(void)
{
    char text[1024], *trace = malloc(N_REQ * 16 + 64);
    size_t off;
    int i;

    fx_put("tiny.json", "{\"id\": \"tiny\", \"name\": \"test model\", "
        "\"source\": \"made up for check_plan\", \"arch\": \"llama\", "
        "\"num_layers\": 1, \"hidden_size\": 64, \"num_heads\": 1, "
        "\"num_kv_heads\": 1, \"head_dim\": 64, \"ffn_size\": 128, "
        "\"vocab_size\": 256, \"tied_embeddings\": true, \"max_context\": "
        "4096, \"params_published\": 1}");
    off = (size_t)sprintf(trace, "arrival_s,prompt_tokens,output_tokens\n");
    for (i = 0; i < N_REQ; i++)
        off += (size_t)sprintf(trace + off, "%d,16,1\n", i);
    fx_put("trace.csv", trace);
    free(trace);
    snprintf(text, sizeof(text),
        "{\"name\": \"analytic\", \"seed\": 1, \"model\": \"%s/tiny.json\","
        " \"hardware\": {\"device\": \"h100-sxm-80gb\", \"kv_blocks\": 1000},"
        " \"scheduler\": {\"name\": \"vllm\", \"max_num_seqs\": 1},"
        " \"cost_model\": {\"name\": \"roofline\","
        "  \"iteration_overhead_us\": 10000},"
        " \"workload\": {\"type\": \"generic\", \"path\": \"%s/trace.csv\"}}",
        fx_tmpdir, fx_tmpdir);
    fx_put("base.json", text);
    snprintf(text, sizeof(text),
        "{\"name\": \"analytic\", \"base\": \"%s/base.json\","
        " \"candidates\": {\"cost_model.iteration_overhead_us\": "
        "[10000, 5000]},"
        " \"seeds\": [1, 2],"
        " \"slo\": {\"ttft_ms\": %g, \"percentile\": 90, \"attainment\": 0.99},"
        " \"target_req_s\": 1000,"
        " \"search\": {\"start\": 64, \"rel_tol\": 0.001},"
        " \"prices\": {\"h100-sxm-80gb\": 2.0},"
        " \"out\": \"%s/plan\"}", fx_tmpdir, SLO_MS, fx_tmpdir);
    fx_put("plan.json", text);
}

/* T: the duration of the scenario's iterations (all equal), in ms. */
static double iteration_ms(const char *overhead)
{
    char base[400], out[400], set[64];
    const char *sets[] = { set, NULL };
    struct run_opts o = { .out_dir = out, .quiet = 1 };
    struct llm_diag d = { 0 };
    struct scenario sc;
    cJSON *summary = NULL;
    sqlite3 *db;
    sqlite3_stmt *st;
    double t = 0;

    snprintf(set, sizeof(set), "cost_model.iteration_overhead_us=%s",
             overhead);
    snprintf(base, sizeof(base), "%s/base.json", fx_tmpdir);
    snprintf(out, sizeof(out), "%s/t%s", fx_tmpdir, overhead);
    ck_assert_int_eq(scenario_load(base, sets, &sc, &d), LLM_OK);
    ck_assert_int_eq(run_scenario(&sc, &o, &summary, NULL, &d), LLM_OK);
    cJSON_Delete(summary);
    scenario_free(&sc);
    snprintf(out, sizeof(out), "%s/t%s/results.sqlite", fx_tmpdir, overhead);
    ck_assert_int_eq(sqlite3_open(out, &db), SQLITE_OK);
    ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT MIN(end_ns - start_ns),"
        " MAX(end_ns - start_ns), COUNT(*) FROM iterations", -1, &st, NULL),
        SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    ck_assert_int_eq(sqlite3_column_int64(st, 0),
                     sqlite3_column_int64(st, 1));
    ck_assert_int_eq(sqlite3_column_int(st, 2), N_REQ);
    t = sqlite3_column_double(st, 0) / 1e6;
    sqlite3_finalize(st);
    sqlite3_close(db);
    return t;
}

/* r* of the comment above, req/s, from T in ms. */
static double r_star(double t_ms)
{
    return 1e3 / (t_ms - (SLO_MS - t_ms) / 197.0);
}

static const struct plan_result *find(const struct plan_result *r, size_t n,
                                      const char *overhead)
{
    char want[80];
    size_t i;

    snprintf(want, sizeof(want), "\"cost_model.iteration_overhead_us\":%s",
             overhead);
    for (i = 0; i < n; i++)
        if (strstr(r[i].params, want) != NULL)
            return &r[i];
    ck_abort_msg("no result for %s", overhead);
    return NULL;
}

static void check_answer(const struct plan_result *r, double t_ms,
                         int64_t replicas)
{
    double rs = r_star(t_ms);

    ck_assert_int_eq(r->status, PLAN_OK);
    ck_assert_msg(r->best.scale <= rs && rs < r->fail_scale,
                  "r* = %.4f outside the bracket [%g, %g]", rs,
                  r->best.scale, r->fail_scale);
    ck_assert_double_le((r->fail_scale - r->best.scale) / r->best.scale,
                        0.001);
    ck_assert_double_eq_tol(r->rate_req_s, r->best.scale,
                            1e-6 * r->best.scale);
    ck_assert_double_ge(r->best.attain.mean, 0.99);
    ck_assert_double_le(r->best.ttft.mean, SLO_MS);
    ck_assert_int_eq(r->gpus_per_replica, 1);
    ck_assert_int_eq(r->replicas, replicas);
    ck_assert_double_eq_tol(r->cost_h, 2.0 * (double)replicas, 1e-9);
    ck_assert_str_eq(r->device, "h100-sxm-80gb");
}

START_TEST(test_analytic)
{
    struct plan_result *res = NULL;
    struct llm_diag d = { 0 };
    char path[400];
    size_t n = 0;
    double t10, t5;
    sqlite3 *db;
    sqlite3_stmt *st;
    int runs;

    write_analytic();
    t10 = iteration_ms("10000");
    t5 = iteration_ms("5000");
    /* the roofline part is a fraction of a microsecond */
    ck_assert_double_eq_tol(t10, 10.0, 1e-3);
    ck_assert_double_eq_tol(t5, 5.0, 1e-3);
    ck_assert_double_eq_tol(r_star(t10), 100.510, 0.01);
    ck_assert_double_eq_tol(r_star(t5), 203.093, 0.05);
    snprintf(path, sizeof(path), "%s/plan.json", fx_tmpdir);
    ck_assert_msg(plan_run(path, NULL, 2, NULL, &res, &n, &d) == LLM_OK,
                  "%s", d.msg);
    ck_assert_uint_eq(n, 2);
    check_answer(find(res, n, "10000"), t10, 10);
    check_answer(find(res, n, "5000"), t5, 5);
    ck_assert_ptr_nonnull(strstr(res[0].params, ":5000"));   /* cheaper */
    free(res);

    /* the report and its figures exist; a rerun runs nothing again */
    snprintf(path, sizeof(path), "%s/plan/report.md", fx_tmpdir);
    ck_assert_int_eq(access(path, R_OK), 0);
    snprintf(path, sizeof(path), "%s/plan/plots/load_ttft.png", fx_tmpdir);
    ck_assert_int_eq(access(path, R_OK), 0);
    snprintf(path, sizeof(path), "%s/plan.json", fx_tmpdir);
    ck_assert_int_eq(plan_run(path, NULL, 1, NULL, &res, &n, &d), LLM_OK);
    free(res);
    snprintf(path, sizeof(path), "%s/plan/plan.sqlite", fx_tmpdir);
    ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
    ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT COUNT(*), SUM(attempts)"
                     " FROM points", -1, &st, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    runs = sqlite3_column_int(st, 0);
    ck_assert_int_gt(runs, 10);
    ck_assert_int_eq(sqlite3_column_int(st, 1), runs);
    sqlite3_finalize(st);
    sqlite3_close(db);
}
END_TEST

/* The search doubles to a failure, then bisects to rel_tol; a predicate
 * that always passes stops at max_scale, one that always fails at
 * min_scale. */
START_TEST(test_bisect)
{
    struct plan_search s = { .start = 1, .min_scale = 0.25,
                             .max_scale = 100, .rel_tol = 0.01,
                             .max_steps = 40 };
    const double want[] = { 1, 2, 4, 8, 16, 32, 64, 48, 40, 36, 38, 37 };
    struct plan_bisect b;
    size_t i = 0;

    plan_bisect_start(&b, &s);
    while (!b.done) {
        if (i < sizeof(want) / sizeof(want[0]))
            ck_assert_double_eq(b.next, want[i]);
        i++;
        plan_bisect_feed(&b, &s, b.next <= 37.3);
    }
    ck_assert_double_le(b.lo, 37.3);
    ck_assert_double_gt(b.hi, 37.3);
    ck_assert_double_le((b.hi - b.lo) / b.lo, 0.01);
    plan_bisect_start(&b, &s);
    while (!b.done)
        plan_bisect_feed(&b, &s, true);
    ck_assert_double_eq(b.lo, 100);
    ck_assert_double_eq(b.hi, 0);
    ck_assert_int_eq(b.steps, 8);         /* 1, 2, ..., 64, 100 */
    plan_bisect_start(&b, &s);
    while (!b.done)
        plan_bisect_feed(&b, &s, false);
    ck_assert_double_eq(b.hi, 0.25);
    ck_assert_double_eq(b.lo, 0);
}
END_TEST

/* The verdict uses one-sided bounds over seeds, and says which SLO
 * failed. */
START_TEST(test_judge)
{
    struct plan_spec p = { .sw.confidence = 0.95,
        .slo = { .ttft_ms = 500, .tpot_ms = 50, .percentile = 90,
                 .attainment = 0.99 } };
    const double ttft[] = { 480, 490, 470 }, tpot[] = { 30, 31, 29 };
    const double ok[] = { 0.995, 0.996, 0.994 }, one[] = { 1 };
    struct plan_eval e = { 0 };

    ci_mean(one, 1, 0.95, &e.offered);
    ci_mean(ttft, 3, 0.95, &e.ttft);     /* upper bound 480 + 16.9 */
    ci_mean(tpot, 3, 0.95, &e.tpot);
    ci_mean(ok, 3, 0.95, &e.attain);
    plan_judge(&p, &e);
    ck_assert_msg(e.pass, "%s", e.why);
    p.slo.ttft_ms = 490;                 /* mean 480 passes, bound fails */
    plan_judge(&p, &e);
    ck_assert(!e.pass);
    ck_assert_str_eq(e.why, "p90 TTFT 496.9 ms > 490 ms");
    p.slo.attainment = 0.995;
    plan_judge(&p, &e);
    ck_assert_str_eq(e.why, "p90 TTFT 496.9 ms > 490 ms; attainment 99.33% "
                     "< 99.5%");
}
END_TEST

/* Candidates that do not fit are infeasible, not errors; a tp 2
 * candidate gets num_gpus 2 (one replica). */
START_TEST(test_infeasible_and_gpus)
{
    struct plan_result *res = NULL;
    struct llm_diag d = { 0 };
    char text[1200];
    size_t n = 0;

    fx_put("base.json", "{\"model\": \"llama-2-13b\", \"hardware\": {\"device\":"
        " \"h100-sxm-80gb\", \"gpu_memory_utilization\": 0.25},"
        " \"cost_model\": {\"name\": \"roofline\"},"
        " \"workload\": {\"type\": \"poisson\", \"rate\": 2,"
        " \"num_requests\": 20, \"prompt\": {\"dist\": \"fixed\","
        " \"value\": 64}, \"output\": {\"dist\": \"fixed\", \"value\": 4}}}");
    snprintf(text, sizeof(text), "{\"base\": \"%s/base.json\","
             " \"candidates\": {\"hardware.tp\": [1, 2]},"
             " \"slo\": {\"ttft_ms\": 1000}, \"target_req_s\": 10,"
             " \"search\": {\"max_steps\": 2}, \"out\": \"%s/p\"}",
             fx_tmpdir, fx_tmpdir);
    ck_assert_msg(plan_run(fx_put("p.json", text), NULL, 1, NULL, &res, &n, &d)
                  == LLM_OK, "%s", d.msg);
    ck_assert_uint_eq(n, 2);
    ck_assert_int_eq(res[1].status, PLAN_INFEASIBLE);
    ck_assert_ptr_nonnull(strstr(res[1].note, "does not fit on "
                                 "h100-sxm-80gb with tp 1"));
    ck_assert_ptr_nonnull(strstr(res[0].params, "\"hardware.num_gpus\":2"));
    ck_assert_int_eq(res[0].gpus_per_replica, 2);
    ck_assert_double_eq_tol(res[0].price_gpu_h, 2.99, 1e-9);  /* catalog */
    ck_assert_int_eq(res[0].steps, 2);
    free(res);
}
END_TEST

static const struct {
    const char *text, *msg;
} bad_plans[] = {
    { "{\"base\": \"b.json\", \"candidates\": {\"workload.rate_scale\": [1]},"
      " \"slo\": {\"ttft_ms\": 1}, \"target_req_s\": 1}",
      "candidates.workload.rate_scale: set by the planner (it searches the "
      "rate of one replica)" },
    { "{\"base\": \"b.json\", \"candidates\": {}, \"target_req_s\": 1}",
      "slo: missing (expected an object)" },
    { "{\"base\": \"b.json\", \"candidates\": {}, \"slo\": {\"ttft_ms\": 1,"
      " \"percentile\": 80}, \"target_req_s\": 1}",
      "slo.percentile: expected 50, 90, 95 or 99 (the percentiles a run "
      "records), got 80" },
    { "{\"base\": \"b.json\", \"candidates\": {}, \"slo\": "
      "{\"attainment\": 0.9}, \"target_req_s\": 1}",
      "slo: expected ttft_ms or tpot_ms (a positive number of ms)" },
    { "{\"base\": \"b.json\", \"candidates\": {}, \"slo\": {\"ttft_ms\": 1},"
      " \"target_req_s\": 1, \"search\": {\"start\": 0.01, \"min_scale\":"
      " 0.1}}", "search: expected min_scale <= start <= max_scale, got "
      "0.1, 0.01, 1024" },
    { "{\"base\": \"b.json\", \"candidates\": {}, \"slo\": {\"ttft_ms\": 1}}",
      "target_req_s: missing (expected a number in [1e-09, 1e+12])" },
    { "{\"base\": \"b.json\", \"candidates\": {}, \"slo\": {\"ttft_ms\": 1},"
      " \"target_req_s\": 1, \"prices\": {\"h100\": \"cheap\"}}",
      "prices.h100: expected a number in [0, 1e+06], got \"cheap\"" },
    { "{\"base\": \"b.json\", \"params\": {}}",
      "params: unknown key (known: name, base, set, candidates, seeds, "
      "confidence, out, jobs, keep_runs, slo, target_req_s, search, "
      "prices)" },
};

START_TEST(test_plan_errors)
{
    struct plan_spec p;
    struct llm_diag d = { 0 };
    const char *f = fx_put("bad.json", bad_plans[_i].text);

    ck_assert_int_eq(plan_load(f, &p, &d), LLM_EINVAL);
    ck_assert_str_eq(d.file, f);
    ck_assert_str_eq(d.msg, bad_plans[_i].msg);
}
END_TEST

Suite *plan_suite(void)
{
    Suite *s = suite_create("plan");
    TCase *tc = tcase_create("plan");

    tcase_add_checked_fixture(tc, fx_setup, fx_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_analytic);
    tcase_add_test(tc, test_bisect);
    tcase_add_test(tc, test_judge);
    tcase_add_test(tc, test_infeasible_and_gpus);
    tcase_add_loop_test(tc, test_plan_errors, 0,
                        sizeof(bad_plans) / sizeof(bad_plans[0]));
    suite_add_tcase(s, tc);
    return s;
}
