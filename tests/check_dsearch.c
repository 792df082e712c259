/* Tests of DistServe's placement search (analysis/disagg_search.h,
 * cli/cmd_dsearch.h) and of the "cluster" section's error messages
 * (run/pools.h).  The search's answer is computed by hand from a capacity
 * table; the scenario evaluation is checked where one iteration's fixed
 * cost decides the verdict. */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "analysis/disagg_search.h"
#include "run/dsearch.h"
#include "run/run.h"
#include "run/scenario.h"
#include "base/paths.h"
#include "tests/fixture.h"
#include "tests/suites.h"

START_TEST(test_candidates_by_hand)
{
    struct dsearch_grid g = { .max_gpus = 4, .max_replicas = 4,
                              .tps = { 1, 2 }, .n_tps = 2 };
    struct dsearch_cand c[32];
    size_t n = dsearch_candidates(&g, c, 32), i;

    /* tp1 prefill x1: decode tp1 x1..3, tp2 x1 (4); x2: tp1 x1..2, tp2 x1
     * (3); x3: tp1 x1 (1); tp2 prefill x1: tp1 x1..2, tp2 x1 (3). */
    ck_assert_uint_eq(n, 11);
    for (i = 0; i < n; i++) {
        ck_assert_int_le(c[i].gpus, 4);
        ck_assert_int_eq(c[i].gpus, c[i].prefill_tp * c[i].prefill_n +
                         c[i].decode_tp * c[i].decode_n);
    }
    ck_assert_int_eq(c[0].prefill_tp, 1);
    ck_assert_int_eq(c[0].decode_n, 1);
    ck_assert_int_eq(c[10].prefill_tp, 2);
    ck_assert_int_eq(c[10].decode_tp, 2);
    ck_assert_uint_eq(dsearch_candidates(&g, c, 3), 11);   /* counts all */
}
END_TEST

/* Capacity per replica: prefill tp1 4 req/s, tp2 10; decode tp1 6, tp2 8.
 * A placement sustains min(prefill, decode) req/s.  By hand, per GPU:
 * P1x1+D1x1 4/2 = 2, P1x2+D1x1 6/3, P2x1+D1x1 6/3, P2x1+D2x1 8/4 ... and
 * P2x1+D1x2 min(10, 12)/4 = 2.5, the best. */
struct fake { int calls; };

static int fake_eval(void *ctx, const struct dsearch_cand *c, double rate,
                     bool *pass, struct llm_diag *d)
{
    double p = (c->prefill_tp == 1 ? 4 : 10) * c->prefill_n;
    double q = (c->decode_tp == 1 ? 6 : 8) * c->decode_n;

    (void)d;
    ((struct fake *)ctx)->calls++;
    *pass = rate <= (p < q ? p : q);
    return LLM_OK;
}

START_TEST(test_search_by_hand)
{
    struct dsearch_grid g = { .max_gpus = 4, .max_replicas = 4,
                              .tps = { 1, 2 }, .n_tps = 2 };
    struct plan_search s = { .start = 1, .min_scale = 0.1, .max_scale = 64,
                             .rel_tol = 0.001, .max_steps = 40 };
    struct dsearch_result r[16];
    struct fake f = { 0 };
    struct llm_diag d = { 0 };
    size_t n, best;

    ck_assert_int_eq(dsearch_run(&g, &s, fake_eval, &f, r, 16, &n, &best,
                                 &d), LLM_OK);
    ck_assert_uint_eq(n, 11);
    ck_assert_uint_lt(best, n);
    ck_assert_int_eq(r[best].c.prefill_tp, 2);
    ck_assert_int_eq(r[best].c.prefill_n, 1);
    ck_assert_int_eq(r[best].c.decode_tp, 1);
    ck_assert_int_eq(r[best].c.decode_n, 2);
    ck_assert_int_eq(r[best].status, PLAN_OK);
    ck_assert(r[best].rate_req_s <= 10 && r[best].rate_req_s >= 9.98);
    ck_assert(r[best].fail_req_s > 10 && r[best].fail_req_s <= 10.02);
    ck_assert_double_eq_tol(r[best].per_gpu, 2.5, 0.01);
    /* P1x1+D1x1: 4 req/s on 2 GPUs. */
    ck_assert_double_eq_tol(r[0].rate_req_s, 4, 0.01);
    ck_assert_double_eq_tol(r[0].per_gpu, 2, 0.01);
    ck_assert_int_gt(f.calls, 11 * 5);
}
END_TEST

/* Nothing passes: best is n, every status PLAN_NONE. */
static int never(void *ctx, const struct dsearch_cand *c, double rate,
                 bool *pass, struct llm_diag *d)
{
    (void)ctx; (void)c; (void)rate; (void)d;
    *pass = false;
    return LLM_OK;
}

START_TEST(test_search_none)
{
    struct dsearch_grid g = { .max_gpus = 2, .max_replicas = 1,
                              .tps = { 1 }, .n_tps = 1 };
    struct plan_search s = { .start = 1, .min_scale = 0.25, .max_scale = 8,
                             .rel_tol = 0.01, .max_steps = 20 };
    struct dsearch_result r[4];
    struct llm_diag d = { 0 };
    size_t n, best;

    ck_assert_int_eq(dsearch_run(&g, &s, never, NULL, r, 4, &n, &best, &d),
                     LLM_OK);
    ck_assert_uint_eq(n, 1);
    ck_assert_uint_eq(best, 1);
    ck_assert_int_eq(r[0].status, PLAN_NONE);
    ck_assert_int_eq(r[0].steps, 3);             /* 1, 0.5, 0.25 */
}
END_TEST

/* A cluster scenario on the fixed cost model: every iteration 20 ms. */
static const char *cluster_cfg(double ttft_ms, const char *pools)
{
    static char text[2048];

    snprintf(text, sizeof(text),
        "{\"name\": \"ds\", \"seed\": 3, \"model\": \"llama-2-13b\","
        " \"hardware\": {\"device\": \"a100-sxm-80gb\"},"
        " \"cost_model\": {\"name\": \"fixed\", \"iteration_us\": 20000,"
        " \"per_token_us\": 0},"
        " \"scheduler\": {\"name\": \"vllm\", \"max_num_seqs\": 64},"
        " \"cluster\": {\"pools\": %s, \"kv_link\": \"nvlink3\"},"
        " \"workload\": {\"type\": \"poisson\", \"rate\": 1,"
        " \"num_requests\": 40,"
        " \"prompt\": {\"dist\": \"lognormal\", \"mean\": 100, \"cv\": 0.5},"
        " \"output\": {\"dist\": \"lognormal\", \"mean\": 20, \"cv\": 0.5}},"
        " \"slo\": {\"ttft_ms\": %g, \"tpot_ms\": 1000},"
        " \"output\": {\"iterations\": false}}", pools ? pools :
        "[{\"role\": \"prefill\", \"device\": \"a100-sxm-80gb\"},"
        " {\"role\": \"decode\", \"device\": \"a100-sxm-80gb\"}]", ttft_ms);
    return fx_put("ds.json", text);
}

/* TTFT is at least one 20 ms prefill iteration: an SLO of 10 ms fails at
 * any rate, one of 5 s passes at 0.5 req/s (an iteration every 20 ms is
 * far from saturation); a candidate with tp 3 is refused by the pool's
 * key path, which shows the candidate replaced the pools. */
START_TEST(test_scenario_eval)
{
    struct dsearch_ctx x = { .attain = 0.9 };
    struct dsearch_cand c = { 1, 1, 1, 1, 2 };
    struct llm_diag d = { 0 };
    bool pass = true;

    x.out_dir = fx_path("run");
    x.config = cluster_cfg(10, NULL);
    ck_assert_int_eq(dsearch_ctx_init(&x, true, &d), LLM_OK);
    ck_assert_int_eq(dsearch_eval_scenario(&x, &c, 0.5, &pass, &d), LLM_OK);
    ck_assert(!pass);
    dsearch_ctx_free(&x);

    x.config = cluster_cfg(5000, NULL);
    ck_assert_int_eq(dsearch_ctx_init(&x, true, &d), LLM_OK);
    ck_assert_int_eq(dsearch_eval_scenario(&x, &c, 0.5, &pass, &d), LLM_OK);
    ck_assert(pass);
    c.prefill_tp = 3;
    ck_assert_int_eq(dsearch_eval_scenario(&x, &c, 0.5, &pass, &d),
                     LLM_EINVAL);
    ck_assert_msg(strstr(d.msg, "cluster.pools[0].tp: 3 does not divide"),
                  "%s", d.msg);
    dsearch_ctx_free(&x);

    /* No decode pool to use as a template. */
    d = (struct llm_diag){ 0 };
    x.config = cluster_cfg(5000, "[{\"role\": \"mixed\", \"device\":"
                           " \"a100-sxm-80gb\"}]");
    ck_assert_int_eq(dsearch_ctx_init(&x, true, &d), LLM_EINVAL);
    ck_assert_msg(strstr(d.msg, "needs a prefill pool and a decode pool"),
                  "%s", d.msg);
    dsearch_ctx_free(&x);
}
END_TEST

/* Runs configs/papers/disagg/NAME with sets; all 1000-or-fewer requests
 * end (completed or rejected as too long); returns the summary. */
static cJSON *run_paper(const char *name, const char *const *sets,
                        int n_requests)
{
    struct run_opts o = { .out_dir = fx_path("paper"), .quiet = 1 };
    struct llm_diag d = { 0 };
    struct scenario sc;
    cJSON *summary = NULL;
    char path[1024];
    const cJSON *n;
    double done;

    snprintf(path, sizeof(path), "%s/configs/papers/disagg/%s", llm_root(),
             name);
    memset(&sc, 0, sizeof(sc));
    ck_assert_int_eq(scenario_load(path, sets, &sc, &d), LLM_OK);
    ck_assert_msg(run_scenario(&sc, &o, &summary, NULL, &d) == LLM_OK, "%s",
                  d.msg);
    n = cJSON_GetObjectItemCaseSensitive(summary, "requests_completed");
    ck_assert(cJSON_IsNumber(n));
    done = n->valuedouble;
    n = cJSON_GetObjectItemCaseSensitive(summary, "requests_rejected");
    ck_assert(cJSON_IsNumber(n));
    ck_assert_int_eq((int)(done + n->valuedouble), n_requests);
    ck_assert_int_gt((int)done, n_requests * 9 / 10);
    scenario_free(&sc);
    return summary;
}

/* Regression: at 16 req/s the DistServe config's one prefill replica has
 * all its KV held by hand-offs waiting for decode room; a landing frees
 * it, and must wake the prefill replica (it used to idle with arrivals
 * waiting, and the run ended "replica 0 stalled"). */
START_TEST(test_prefill_woken_by_landing)
{
    const char *sets[] = { "workload.rate=16", "workload.num_requests=600",
                           "workload.output.mean=250", NULL };
    cJSON *summary = run_paper("distserve_llama2_13b_a100.json", sets, 600);
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(summary, "cluster"), "kv_waits");

    ck_assert(cJSON_IsNumber(n) && n->valuedouble > 0);   /* it did wait */
    cJSON_Delete(summary);
}
END_TEST

/* Regression: semi-PD with 85% of the SMs on prefill at 4 req/s fills the
 * shared KV; the decode half's iterations free it and must wake the
 * prefill half (it used to stall as above). */
START_TEST(test_semipd_prefill_half_woken)
{
    const char *sets[] = { "workload.rate=4", "cluster.pools=[{\"name\": "
        "\"semi\", \"role\": \"semi_pd\", \"device\": \"a100-sxm-80gb\","
        " \"prefill_sm_fraction\": 0.85}]", NULL };

    cJSON_Delete(run_paper("semipd_llama2_13b_a100.json", sets, 1000));
}
END_TEST

static int load_err(const char *pools, const char *extra, char *msg,
                    size_t len)
{
    char text[2048];
    struct llm_diag d = { 0 };
    struct scenario sc;
    const char *p;
    int rc;

    snprintf(text, sizeof(text),
        "{\"model\": \"llama-2-13b\", \"hardware\": {\"device\":"
        " \"a100-sxm-80gb\"}, \"workload\": {\"type\": \"poisson\","
        " \"rate\": 1, \"num_requests\": 3,"
        " \"prompt\": {\"dist\": \"lognormal\", \"mean\": 100, \"cv\": 1},"
        " \"output\": {\"dist\": \"lognormal\", \"mean\": 20, \"cv\": 1}},"
        " \"cluster\": {\"pools\": %s%s}}", pools, extra ? extra : "");
    p = fx_put("bad.json", text);
    memset(&sc, 0, sizeof(sc));
    rc = scenario_load(p, NULL, &sc, &d);
    snprintf(msg, len, "%s", d.msg);
    ck_assert_str_eq(d.file, p);
    scenario_free(&sc);
    return rc;
}

#define PD "[{\"role\": \"prefill\", \"device\": \"a100-sxm-80gb\"}," \
           " {\"role\": \"decode\", \"device\": \"a100-sxm-80gb\"}]"

START_TEST(test_cluster_config_errors)
{
    char m[600];

    ck_assert_int_eq(load_err(PD, ", \"kv_lnk\": \"nvlink3\"", m, sizeof(m)),
                     LLM_EINVAL);
    ck_assert_msg(strstr(m, "cluster.kv_lnk: unknown key (known: pools,"),
                  "%s", m);
    ck_assert_int_eq(load_err("[{\"role\": \"prefill\", \"device\":"
                              " \"a100-sxm-80gb\", \"tpp\": 2}]", NULL, m,
                              sizeof(m)), LLM_EINVAL);
    ck_assert_msg(strstr(m, "cluster.pools[0].tpp: unknown key"), "%s", m);
    ck_assert_int_eq(load_err("[{\"role\": \"prefil\", \"device\":"
                              " \"a100-sxm-80gb\"}]", NULL, m, sizeof(m)),
                     LLM_EINVAL);
    ck_assert_msg(strstr(m, "cluster.pools[0].role: expected one of "
                         "prefill, decode, mixed, semi_pd, got \"prefil\""),
                  "%s", m);
    ck_assert_int_eq(load_err("[{\"role\": \"prefill\", \"device\":"
                              " \"a100-sxm-80gb\"}, {\"role\": \"decode\","
                              " \"device\": \"a100-sxm-80gb\", \"tp\": 3}]",
                              NULL, m, sizeof(m)), LLM_EINVAL);
    ck_assert_msg(strstr(m, "cluster.pools[1].tp: 3 does not divide "
                         "llama-2-13b's 40 attention heads"), "%s", m);
    ck_assert_msg(strstr(m, "(tp that do: 1, 2, 4, 8)"), "%s", m);
    ck_assert_int_eq(load_err(PD, ", \"kv_transfer\": \"chunk\"", m,
                              sizeof(m)), LLM_EINVAL);
    ck_assert_msg(strstr(m, "cluster.kv_transfer: expected \"layer\" or "
                         "\"whole\", got \"chunk\""), "%s", m);
}
END_TEST

Suite *dsearch_suite(void)
{
    Suite *s = suite_create("dsearch");
    TCase *tc = tcase_create("core");

    tcase_add_checked_fixture(tc, fx_setup, fx_teardown);
    tcase_add_test(tc, test_candidates_by_hand);
    tcase_add_test(tc, test_search_by_hand);
    tcase_add_test(tc, test_search_none);
    tcase_add_test(tc, test_scenario_eval);
    tcase_add_test(tc, test_cluster_config_errors);
    tcase_add_test(tc, test_prefill_woken_by_landing);
    tcase_add_test(tc, test_semipd_prefill_half_woken);
    suite_add_tcase(s, tc);
    return s;
}
