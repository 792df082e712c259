/* tests/check_repro.c: the mechanisms issue 21 added to explain the
 * reproductions that missed (docs/validation.md): DeepSpeed-FastGen's
 * generation SLA on an EMA of the inter-token gaps; an engine's own fitted
 * latency model (DistServe's simulator) and the prefill-decode
 * interference DistServe removes. */
#include <check.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <sqlite3.h>

#include "analysis/summary.h"
#include "run/run.h"
#include "run/scenario.h"
#include "hw/cost.h"
#include "models/model.h"
#include "base/paths.h"
#include "sim/request.h"
#include "tests/fixture.h"
#include "tests/suites.h"

/* pandas' ewm(span=16, adjust=True).mean() by hand: w = 1 - 2/17; the
 * first value is the first gap, the second (30 + w 400) / (1 + w). */
START_TEST(test_gap_ema_by_hand)
{
    struct request q;
    const double w = 15.0 / 17.0;
    int i;

    memset(&q, 0, sizeof(q));
    req_note_gap_ema(&q, 400000000);
    ck_assert_int_eq(q.gap_ema_max_ns, 400000000);
    req_note_gap_ema(&q, 30000000);
    ck_assert_int_eq(q.gap_ema_max_ns, 400000000);   /* the max so far */
    ck_assert_double_eq_tol(q.gap_ema_num / q.gap_ema_den,
                            (30e6 + w * 400e6) / (1 + w), 1e-3);
    /* A stall after 40 steady gaps: the weights then sum to
     * (1 - w^40) / (1 - w), so the stall moves the EMA by 370 ms over
     * 1 + w (1 - w^40) / (1 - w) (about alpha x 370 ms), far less than
     * the stall itself. */
    memset(&q, 0, sizeof(q));
    for (i = 0; i < 40; i++)
        req_note_gap_ema(&q, 30000000);
    req_note_gap_ema(&q, 400000000);
    ck_assert_double_eq_tol((double)q.gap_ema_max_ns, 30e6 + 370e6 /
                            (1 + w * (1 - pow(w, 40)) / (1 - w)), 1);
    ck_assert_int_lt(q.gap_ema_max_ns, 75000000);
}
END_TEST

/* Request 0 (10-token prompt, 40 tokens) is in its 11 ms prefill when
 * request 1 (a 4,000-token prompt) arrives, 5 ms in.  Under the fixed
 * cost model (10 ms + 0.1 ms a token) vLLM V0 then runs request 1's
 * prefill alone, 410 ms, which is request 0's first inter-token gap: its mean TPOT stays far
 * under 250 ms but the EMA of its gaps starts at 410 ms, so FastGen's
 * generation SLA (EMA below 250 ms) fails it.  Sarathi's 512-token chunks
 * keep every gap under 62 ms and it passes. */
static double attainment(const char *sched, const char *slo)
{
    char text[2048], trace[512];
    struct llm_diag d = { 0 };
    struct scenario sc;
    struct run_opts o = { .out_dir = fx_path("out"), .quiet = 1 };
    cJSON *summary = NULL, *a;
    double v;

    fx_put("two.csv", "arrival_s,prompt_tokens,output_tokens\n"
           "0,10,40\n0.005,4000,2\n");
    snprintf(trace, sizeof(trace), "%s/two.csv", fx_tmpdir);
    snprintf(text, sizeof(text), "{\"name\": \"ema\", \"seed\": 1, "
             "\"model\": \"llama-3-8b\", \"hardware\": {\"device\": "
             "\"h100-sxm-80gb\"}, \"scheduler\": {\"name\": \"%s\", "
             "\"max_num_batched_tokens\": %s}, \"cost_model\": {\"name\": "
             "\"fixed\", \"iteration_us\": 10000, \"per_token_us\": 100}, "
             "\"workload\": {\"type\": \"generic\", \"path\": \"%s\"}, "
             "\"slo\": %s, \"output\": {\"dir\": \"%s/out\"}}", sched,
             strcmp(sched, "sarathi") == 0 ? "512" : "8192", trace, slo,
             fx_tmpdir);
    ck_assert_msg(scenario_load(fx_put("c.json", text), NULL, &sc, &d) ==
                  LLM_OK, "%s", d.msg);
    ck_assert_msg(run_scenario(&sc, &o, &summary, NULL, &d) == LLM_OK, "%s",
                  d.msg);
    a = cJSON_GetObjectItemCaseSensitive(summary, "slo_attainment");
    ck_assert_ptr_nonnull(a);
    v = a->valuedouble;
    scenario_free(&sc);
    cJSON_Delete(summary);
    return v;
}

START_TEST(test_prefill_stall_fails_ema_sla)
{
    /* Request 1 always meets it (one gap of its own); request 0 decides. */
    const char *mean = "{\"ttft_ms\": 1000, \"tpot_ms\": 250}";
    const char *ema = "{\"ttft_ms\": 1000, \"tpot_ms\": 250, "
                      "\"tbt_ema_ms\": 250}";

    ck_assert_double_eq(attainment("vllm-v0", mean), 1.0);
    ck_assert_double_eq(attainment("vllm-v0", ema), 0.5);
    ck_assert_double_eq(attainment("sarathi", ema), 1.0);
    /* slo.e2e_ms (counted in run/run.c) keeps the EMA SLA */
    ck_assert_double_eq(attainment("vllm-v0", "{\"ttft_ms\": 1000, "
        "\"tpot_ms\": 250, \"tbt_ema_ms\": 250, \"e2e_ms\": 1e9}"), 0.5);
}
END_TEST

/* FastGen's prompt SLA scales with the prompt: TTFT <= prompt / 512 s.
 * Request 1's TTFT (its 410 ms prefill after request 0's step, about
 * 0.4 s) is under 4000 / 512 = 7.8 s; with 0.05 ms a token (200 ms) it
 * is not, and request 0 (10 tokens: 0.5 ms, TTFT 11 ms) fails too. */
START_TEST(test_ttft_per_prompt_token)
{
    ck_assert_double_eq(attainment("vllm-v0", "{\"ttft_ms\": 0, "
        "\"ttft_ms_per_prompt_token\": 1.953125, \"tpot_ms\": 1e9}"), 1.0);
    ck_assert_double_eq(attainment("vllm-v0", "{\"ttft_ms\": 0, "
        "\"ttft_ms_per_prompt_token\": 0.05, \"tpot_ms\": 1e9}"), 0.0);
}
END_TEST

/* The requests table of an attainment() run: request 0 (40 tokens) has a
 * gap EMA, request 1 (2 tokens) one gap; neither is NULL.  A one-token
 * request has no gap: its row says -1, which the table stores as NULL,
 * as a time that never came. */
START_TEST(test_gap_ema_column)
{
    char db_path[512];
    struct request q;
    struct store_row r;
    sqlite3 *db;
    sqlite3_stmt *st;

    attainment("vllm-v0", "{\"tbt_ema_ms\": 250}");
    snprintf(db_path, sizeof(db_path), "%s/out/results.sqlite", fx_tmpdir);
    ck_assert_int_eq(sqlite3_open(db_path, &db), SQLITE_OK);
    ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT gap_ema_max_ns FROM "
                     "requests ORDER BY id", -1, &st, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    /* request 0's first gap is request 1's 410 ms prefill */
    ck_assert_int_ge(sqlite3_column_int64(st, 0), 400000000);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    ck_assert_int_gt(sqlite3_column_int64(st, 0), 0);
    sqlite3_finalize(st);
    sqlite3_close(db);

    /* one token: no gap, -1 (bound as NULL) */
    memset(&q, 0, sizeof(q));
    q.generated = q.output_tokens = 1;
    store_row_of(&q, &r);
    ck_assert_int_eq(r.gap_ema_max_ns, -1);
    req_note_gap_ema(&q, 5);
    q.generated = 2;
    store_row_of(&q, &r);
    ck_assert_int_eq(r.gap_ema_max_ns, 5);
}
END_TEST

/* Goodput under the EMA and per-prompt-token SLOs is counted as rows
 * come (summary_meets), so a run past the exact threshold, whose kept
 * requests became sketches, counts the same: 5 of every 8 rows meet it
 * (two have a 300 ms EMA, over 250, one a TTFT over its bound; the
 * one-token rows have no EMA and pass). */
START_TEST(test_ema_goodput_streams)
{
    struct summary_slo slo = { .ttft_ms = 0, .tpot_ms = 1e9,
        .ttft_ms_per_prompt_token = 1, .tbt_ema_ms = 250 };
    struct summary_reqs ex, sk;
    int64_t i;

    summary_reqs_init(&ex, &slo);
    summary_reqs_init(&sk, &slo);
    sk.exact_max = 100;
    for (i = 0; i < 4000; i++) {
        /* prompt 100: TTFT 90 ms meets 100 ms; gap EMA 100 or 300 ms */
        struct store_row r = { .id = i, .arrival_ns = i * 1000000000LL,
            .prompt_tokens = 100, .output_tokens = i % 4 == 3 ? 1 : 10,
            .gap_ema_max_ns = i % 4 == 1 ? 300000000 : 100000000 };
        r.first_token_ns = r.arrival_ns + 90000000;
        r.finish_ns = r.first_token_ns + 900000000;
        if (i % 4 == 3)
            r.gap_ema_max_ns = -1;
        if (i % 8 == 2)    /* TTFT 110 ms > 100 ms */
            r.first_token_ns += 20000000;
        ck_assert(summary_meets(&slo, &r) == (i % 4 != 1 && i % 8 != 2));
        ck_assert_int_eq(summary_reqs_add(&ex, &r), LLM_OK);
        ck_assert_int_eq(summary_reqs_add(&sk, &r), LLM_OK);
    }
    ck_assert(sk.sketched);
    ck_assert(!ex.sketched);
    ck_assert_int_eq(ex.good, 2500);
    ck_assert_int_eq(sk.good, ex.good);
    summary_reqs_free(&ex);
    summary_reqs_free(&sk);
}
END_TEST

/* The paper-era vLLM's fit for OPT-13B on one A100 (DistServe's
 * simulator, profiler-a100-80g.vllm.json), with its Ray overhead. */
#define VLLM13_FIT "{\"1\": {\"prefill\": [22.052204789310185, " \
    "0.14050923870128956, 8.076584822611088e-06], \"decode_small\": " \
    "[23.475041008414784, 0.000592934466077393, 0.060726861260369455], " \
    "\"decode_large\": [20.206356173691958, 0.0004907727036234946, " \
    "0.1200031385587413], \"large_batch\": 95}}"

static struct cost_model *fit_model(struct model *m, struct device *dev,
                                    struct cost_env *env, int32_t tp,
                                    struct llm_diag *d)
{
    char text[1024];
    cJSON *p;
    struct cost_model *cm = NULL;

    ck_assert_int_eq(model_find(llm_root(), "llama-2-13b", m, d), LLM_OK);
    ck_assert_int_eq(device_find(llm_root(), "a100-sxm-80gb", dev, d),
                     LLM_OK);
    *env = (struct cost_env){ .model = m, .dev = dev, .root = llm_root(),
        .shard = { .tp = tp, .w_bytes = 2, .a_bytes = 2, .kv_bytes = 2 } };
    snprintf(text, sizeof(text), "{\"name\": \"fit\", \"fits\": %s, "
             "\"overhead_ms\": [2, 0.0001]}", VLLM13_FIT);
    p = cJSON_Parse(text);
    if (cost_create(env, p, "cost_model", &cm, d) != LLM_OK)
        cm = NULL;
    cJSON_Delete(p);
    return cm;
}

/* The formulas of hw/cost_fit.h by hand: a 1,024-token prefill costs
 * 22.05 + 0.1405 x 1024 + 8.08e-6 x 1024^2 ms plus the 2 ms + 0.0001 ms
 * a context token overhead; 32 decodes at context 999 cost 23.48 +
 * 0.000593 x 32 x 1000 + 0.0607 x 32 (+ overhead); together, the prefill
 * plus the decode formula without its intercept. */
START_TEST(test_fit_by_hand)
{
    struct model m;
    struct device dev;
    struct cost_env env;
    struct llm_diag d = { 0 };
    struct cost_breakdown bd;
    struct batch b;
    struct cost_model *cm = fit_model(&m, &dev, &env, 1, &d);
    double pre = 22.052204789310185 + 0.14050923870128956 * 1024 +
                 8.076584822611088e-06 * 1024 * 1024;
    double dec_var = 0.000592934466077393 * 32000 +
                     0.060726861260369455 * 32;

    ck_assert_msg(cm != NULL, "%s", d.msg);
    batch_init(&b);
    ck_assert_int_eq(batch_add_prefill(&b, 1024, 0, 1), LLM_OK);
    ck_assert_int_eq(cost_price(cm, &b, &bd), LLM_OK);
    ck_assert_int_eq(bd.total_ns, llround((pre + 2 + 0.1024) * 1e6));
    batch_clear(&b);
    ck_assert_int_eq(batch_add_decode(&b, 32, 999), LLM_OK);
    ck_assert_int_eq(cost_price(cm, &b, &bd), LLM_OK);
    ck_assert_int_eq(bd.total_ns, llround((23.475041008414784 + dec_var +
                                           2 + 0.0001 * 31968) * 1e6));
    ck_assert_int_eq(batch_add_prefill(&b, 1024, 0, 1), LLM_OK);
    ck_assert_int_eq(cost_price(cm, &b, &bd), LLM_OK);
    ck_assert_int_eq(bd.total_ns, llround((pre + dec_var + 2 +
                                           0.0001 * (31968 + 1024)) * 1e6));
    batch_free(&b);
    cost_destroy(cm);
    /* No coefficients for tp 2: the key is named. */
    ck_assert_ptr_null(fit_model(&m, &dev, &env, 2, &d));
    ck_assert_str_eq(d.msg, "cost_model.fits: no entry for tp 2");
}
END_TEST

/* The interference DistServe removes, with the paper's vLLM (V0, which
 * runs a whole prompt in one iteration) on its engine:
 * colocated, every arriving prompt's prefill iteration stalls the running
 * decodes, so TPOT grows with the prompts' length (128 -> 1,800 tokens
 * at 2 req/s); on a decode pool that never runs a prefill, TPOT grows
 * only through the longer contexts and the KV hand-off. */
static double tpot_p90(bool disagg, int prompt)
{
    char text[4096];
    struct llm_diag d = { 0 };
    struct scenario sc;
    struct run_opts o = { .out_dir = fx_path("out"), .quiet = 1 };
    cJSON *summary = NULL, *t;
    double v;

    snprintf(text, sizeof(text), "{\"name\": \"intf\", \"seed\": 1, "
        "\"model\": {\"id\": \"llama-2-13b\", \"max_model_len\": 2048}, "
        "\"hardware\": {\"device\": \"a100-sxm-80gb\", \"num_gpus\": 1}, "
        "\"scheduler\": {\"name\": \"vllm-v0\", \"max_num_seqs\": 1024, "
        "\"max_num_batched_tokens\": 16384}, \"cost_model\": {\"name\": "
        "\"fit\", \"fits\": %s}, %s\"workload\": {\"type\": \"poisson\", "
        "\"rate\": 2, \"num_requests\": 200, \"prompt\": {\"dist\": "
        "\"fixed\", \"value\": %d}, \"output\": {\"dist\": \"fixed\", "
        "\"value\": 128}}, \"output\": {\"dir\": \"%s/out\"}}", VLLM13_FIT,
        disagg ? "\"cluster\": {\"pools\": [{\"role\": \"prefill\", "
        "\"device\": \"a100-sxm-80gb\"}, {\"role\": \"decode\", "
        "\"device\": \"a100-sxm-80gb\"}], \"kv_link\": \"nvlink3\"}, " : "",
        prompt, fx_tmpdir);
    ck_assert_msg(scenario_load(fx_put("c.json", text), NULL, &sc, &d) ==
                  LLM_OK, "%s", d.msg);
    ck_assert_msg(run_scenario(&sc, &o, &summary, NULL, &d) == LLM_OK, "%s",
                  d.msg);
    t = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(summary, "tpot_ms"), "p90");
    ck_assert_ptr_nonnull(t);
    v = t->valuedouble;
    scenario_free(&sc);
    cJSON_Delete(summary);
    return v;
}

START_TEST(test_interference)
{
    double co_short = tpot_p90(false, 128), co_long = tpot_p90(false, 1800);
    double dis_short = tpot_p90(true, 128), dis_long = tpot_p90(true, 1800);

    /* Short prompts barely stall (a 128-token prefill is ~42 ms, rare):
     * colocated and split within 10 ms.  1,800-token prefills (~300 ms,
     * at 2 a second) add tens of ms to colocated TPOT that the split
     * avoids; the decode pool grows only through its longer contexts. */
    ck_assert_msg(co_short - dis_short < 10, "short: colocated %.1f, "
                  "decode pool %.1f ms", co_short, dis_short);
    ck_assert_msg(co_long - dis_long > 50, "long: colocated %.1f, decode "
                  "pool %.1f ms", co_long, dis_long);
    ck_assert_msg(co_long > 3 * co_short, "colocated %.1f -> %.1f ms",
                  co_short, co_long);
}
END_TEST

/* semi-PD's SLO-aware split (Algorithm 1 of arXiv 2504.19867): started
 * with 10% of the SMs on the prefill half (a 1,000-token prefill takes
 * about 0.6 s there, 1 req/s), short outputs and a 300 ms TTFT SLO
 * that the starved prefill half misses while TPOT holds, every window
 * moves a step of the SMs to prefill, so the run ends with a larger
 * prefill share and meets more TTFTs than the same split kept fixed. */
static cJSON *semi_run(const char *pool)
{
    char text[2048];
    struct llm_diag d = { 0 };
    struct scenario sc;
    struct run_opts o = { .out_dir = fx_path("out"), .quiet = 1 };
    cJSON *summary = NULL;

    snprintf(text, sizeof(text), "{\"name\": \"semi\", \"seed\": 1, "
        "\"model\": \"llama-3-8b\", \"hardware\": {\"device\": "
        "\"a100-sxm-80gb\"}, \"scheduler\": {\"name\": \"vllm\"}, "
        "\"cluster\": {\"pools\": [%s]}, \"workload\": {\"type\": "
        "\"poisson\", \"rate\": 1, \"num_requests\": 400, \"prompt\": "
        "{\"dist\": \"fixed\", \"value\": 1000}, \"output\": {\"dist\": "
        "\"fixed\", \"value\": 8}}, \"slo\": {\"ttft_ms\": 300, "
        "\"tpot_ms\": 500}, \"output\": {\"dir\": \"%s/out\"}}", pool,
        fx_tmpdir);
    ck_assert_msg(scenario_load(fx_put("c.json", text), NULL, &sc, &d) ==
                  LLM_OK, "%s", d.msg);
    ck_assert_msg(run_scenario(&sc, &o, &summary, NULL, &d) == LLM_OK, "%s",
                  d.msg);
    scenario_free(&sc);
    return summary;
}

static double num_at(const cJSON *o, const char *a, const char *b)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, a);

    if (b != NULL)
        v = cJSON_GetObjectItemCaseSensitive(
                cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(v,
                                   "pools"), 0), b);
    ck_assert_ptr_nonnull(v);
    return v->valuedouble;
}

START_TEST(test_semi_pd_adjusts_split)
{
    cJSON *fixed = semi_run("{\"role\": \"semi_pd\", \"device\": "
                            "\"a100-sxm-80gb\", \"prefill_sm_fraction\": 0.1}");
    cJSON *dyn = semi_run("{\"role\": \"semi_pd\", \"device\": "
                          "\"a100-sxm-80gb\", \"prefill_sm_fraction\": 0.1, "
                          "\"sm_adjust\": {\"window\": 20, \"step\": 0.1}}");

    ck_assert_double_eq(num_at(fixed, "cluster", "prefill_sm_fraction_end"),
                        0.1);
    ck_assert_double_eq(num_at(fixed, "cluster", "sm_adjustments"), 0);
    ck_assert(num_at(dyn, "cluster", "prefill_sm_fraction_end") > 0.1);
    ck_assert(num_at(dyn, "cluster", "sm_adjustments") >= 1);
    ck_assert_msg(num_at(dyn, "slo_attainment", NULL) >
                  num_at(fixed, "slo_attainment", NULL) + 0.1,
                  "attainment %.3f (fixed %.3f)",
                  num_at(dyn, "slo_attainment", NULL),
                  num_at(fixed, "slo_attainment", NULL));
    cJSON_Delete(fixed);
    cJSON_Delete(dyn);
}
END_TEST

Suite *repro_suite(void)
{
    Suite *s = suite_create("repro");
    TCase *t = tcase_create("ema");

    tcase_add_test(t, test_gap_ema_by_hand);
    tcase_add_test(t, test_fit_by_hand);
    tcase_add_test(t, test_ema_goodput_streams);
    suite_add_tcase(s, t);
    t = tcase_create("runs");
    tcase_add_checked_fixture(t, fx_setup, fx_teardown);
    tcase_add_test(t, test_prefill_stall_fails_ema_sla);
    tcase_add_test(t, test_ttft_per_prompt_token);
    tcase_add_test(t, test_gap_ema_column);
    tcase_add_test(t, test_interference);
    tcase_add_test(t, test_semi_pd_adjusts_split);
    tcase_set_timeout(t, 60);
    suite_add_tcase(s, t);
    return s;
}
