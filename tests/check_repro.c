/* tests/check_repro.c: the mechanisms issue 21 added to explain the
 * reproductions that missed (docs/validation.md): DeepSpeed-FastGen's
 * generation SLA on an EMA of the inter-token gaps. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cli/run.h"
#include "cli/scenario.h"
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

    ck_assert_double_eq(attainment("vllm", mean), 1.0);
    ck_assert_double_eq(attainment("vllm", ema), 0.5);
    ck_assert_double_eq(attainment("sarathi", ema), 1.0);
}
END_TEST

/* FastGen's prompt SLA scales with the prompt: TTFT <= prompt / 512 s.
 * Request 1's TTFT (its 410 ms prefill after request 0's step, about
 * 0.4 s) is under 4000 / 512 = 7.8 s; with 0.05 ms a token (200 ms) it
 * is not, and request 0 (10 tokens: 0.5 ms, TTFT 11 ms) fails too. */
START_TEST(test_ttft_per_prompt_token)
{
    ck_assert_double_eq(attainment("vllm", "{\"ttft_ms\": 0, "
        "\"ttft_ms_per_prompt_token\": 1.953125, \"tpot_ms\": 1e9}"), 1.0);
    ck_assert_double_eq(attainment("vllm", "{\"ttft_ms\": 0, "
        "\"ttft_ms_per_prompt_token\": 0.05, \"tpot_ms\": 1e9}"), 0.0);
}
END_TEST

Suite *repro_suite(void)
{
    Suite *s = suite_create("repro");
    TCase *t = tcase_create("ema");

    tcase_add_test(t, test_gap_ema_by_hand);
    suite_add_tcase(s, t);
    t = tcase_create("runs");
    tcase_add_checked_fixture(t, fx_setup, fx_teardown);
    tcase_add_test(t, test_prefill_stall_fails_ema_sla);
    tcase_add_test(t, test_ttft_per_prompt_token);
    tcase_set_timeout(t, 60);
    suite_add_tcase(s, t);
    return s;
}
