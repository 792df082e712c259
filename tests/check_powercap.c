/* tests/check_powercap.c: POLCA power oversubscription (issue 21;
 * hw/powercap.h): a capped clock stretches compute-bound work by about
 * 1/s and leaves memory-bound decode nearly alone, the power model meets
 * Splitwise's capped-H100 point, the controller's two thresholds, brake
 * and hysteresis (on the uncapped-equivalent power, so a working cap is
 * not lifted at once), errors naming the key, and a run over budget. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "run/run.h"
#include "hw/powercap.h"
#include "base/paths.h"
#include "tests/fixture.h"

struct rig {
    struct model m;
    struct device dev;
    struct shard sh;
    struct powercap *pc;
};

static void rig_init(struct rig *g, const char *js, int32_t servers)
{
    struct llm_diag d = { 0 };
    cJSON *p = cJSON_Parse(js);

    ck_assert_ptr_nonnull(p);
    ck_assert_msg(model_find(llm_root(), "llama-2-70b", &g->m, &d) ==
                  LLM_OK, "%s", d.msg);
    ck_assert_msg(device_find(llm_root(), "a100-sxm-80gb", &g->dev, &d) ==
                  LLM_OK, "%s", d.msg);
    g->sh = (struct shard){ .tp = 8, .w_bytes = 2, .a_bytes = 2,
                            .kv_bytes = 2 };
    ck_assert_msg(powercap_create(p, &g->m, &g->dev, &g->sh, servers, 8,
                                  &g->pc, &d) == LLM_OK, "%s", d.msg);
    cJSON_Delete(p);
}

static double ratio(struct rig *g, const struct batch *b, double s)
{
    int64_t out;

    ck_assert_int_eq(powercap_scale(g->pc, b, s, 1000000000, 0, &out),
                     LLM_OK);
    return (double)out / 1e9;
}

/* At half the clock a 4096-token prefill (compute-bound GEMMs) takes
 * well over 1.6x as long; 16 decodes (weight and KV reads) barely longer;
 * the fixed CPU time is not scaled; an uncapped clock changes nothing. */
START_TEST(test_scale_compute_vs_memory)
{
    struct rig g;
    struct batch pre, dec;
    int64_t out;

    rig_init(&g, "{}", 1);
    batch_init(&pre);
    batch_init(&dec);
    ck_assert_int_eq(batch_add_prefill(&pre, 4096, 0, 1), LLM_OK);
    ck_assert_int_eq(batch_add_decode(&dec, 16, 1000), LLM_OK);
    /* 1.70: its GEMMs and attention double, its norms and activations
     * (memory-bound, a sixth of its roofline time at TP 8) do not */
    ck_assert_double_gt(ratio(&g, &pre, 0.5), 1.6);
    ck_assert_double_le(ratio(&g, &pre, 0.5), 2.0);
    ck_assert_double_ge(ratio(&g, &dec, 0.5), 1.0);
    ck_assert_double_lt(ratio(&g, &dec, 0.5), 1.05);
    ck_assert_double_eq(ratio(&g, &pre, 1), 1.0);
    ck_assert_int_eq(powercap_scale(g.pc, &pre, 0.5, 3000000, 1000000,
                                    &out), LLM_OK);
    ck_assert_int_gt(out, 1000000 + 2000000 * 1.6);
    ck_assert_int_le(out, 1000000 + 2 * 2000000);
    batch_free(&pre);
    batch_free(&dec);
    powercap_destroy(g.pc);
}
END_TEST

/* P = idle + (P_busy - idle) s^1.55: an H100 (idle 70, busy 700 W) at
 * the clock that slows its prompts 1.30x (s = 77.9 / 101.3) draws 70% of
 * its power, Splitwise's capped H100 (PAPERS.md 4). */
START_TEST(test_power_model)
{
    struct rig g;

    rig_init(&g, "{\"power_w\": {\"idle\": 70, \"prefill\": 700, "
             "\"decode\": 700}}", 1);
    ck_assert_double_eq_tol(powercap_gpu_w(g.pc, 100, 0, 77.9 / 101.3),
                            490, 2);
    ck_assert_double_eq(powercap_gpu_w(g.pc, 100, 0, 1), 700);
    ck_assert_double_eq(powercap_gpu_w(g.pc, 0, 0, 0.5), 70);
    powercap_destroy(g.pc);
}
END_TEST

/* Feeds the controller n servers all running one kind of batch (or
 * idle) for one second at the clocks they were last priced at, ticks,
 * then prices their next iterations. */
static void second(struct rig *g, int32_t n, int64_t *t, int64_t pre,
                   int64_t dec)
{
    bool busy[4] = { false };
    int64_t start[4] = { 0 };
    const struct batch *mix[4] = { NULL };
    struct batch b;
    int32_t i;

    batch_init(&b);
    if (pre > 0)
        ck_assert_int_eq(batch_add_prefill(&b, (int32_t)pre, 0, 1), LLM_OK);
    if (dec > 0)
        ck_assert_int_eq(batch_add_decode(&b, (int32_t)dec, 100), LLM_OK);
    for (i = 0; i < n && pre + dec > 0; i++)
        powercap_iteration(g->pc, i, *t, *t + 1000000000, pre, dec,
                           powercap_running_clock(g->pc, i));
    *t += 1000000000;
    powercap_tick(g->pc, *t, busy, start, mix);
    /* as a run does: the next iterations are priced after the tick */
    for (i = 0; i < n; i++) {
        int64_t out;
        ck_assert_int_eq(powercap_price(g->pc, i, &b, 1000, 0, &out),
                         LLM_OK);
    }
    batch_free(&b);
}

/* 4 servers of 8 GPUs (idle 50, prefill 400, decode 310 W), budget
 * 12,000 W: decoding draws 9,920 W (0.83): uncapped; prefilling 12,800 W
 * (> budget): the brake; then decoding at the brake's clock draws only
 * 4,430 W, but uncapped it would draw 0.83 of the budget, so the level
 * steps down only to "low" (0.83 is not below t1 - h = 0.80): the
 * low-priority servers 0 and 1 at f_low; idle, every cap goes. */
START_TEST(test_controller)
{
    struct rig g;
    int64_t t = 0;

    rig_init(&g, "{\"budget_w\": 12000, \"t1\": 0.85, \"t2\": 0.95, "
             "\"hysteresis\": 0.05, \"f_low\": 0.7, \"f_all\": 0.8, "
             "\"f_brake\": 0.5, \"power_w\": {\"idle\": 50, \"prefill\": 400,"
             " \"decode\": 310}}", 4);
    second(&g, 4, &t, 0, 16);
    ck_assert_double_eq(powercap_clock(g.pc, 0), 1);
    second(&g, 4, &t, 2048, 0);
    ck_assert_double_eq(powercap_clock(g.pc, 0), 0.5);
    ck_assert_double_eq(powercap_clock(g.pc, 3), 0.5);
    second(&g, 4, &t, 0, 16);  /* measured 0.37, uncapped 0.83 */
    ck_assert_double_eq(powercap_clock(g.pc, 0), 0.7);
    ck_assert_double_eq(powercap_clock(g.pc, 1), 0.7);
    ck_assert_double_eq(powercap_clock(g.pc, 2), 1);
    second(&g, 4, &t, 0, 0);   /* idle: 1,600 W */
    ck_assert_double_eq(powercap_clock(g.pc, 0), 1);
    ck_assert_double_eq(powercap_clock(g.pc, 3), 1);
    powercap_destroy(g.pc);
}
END_TEST

/* Between t2 and the budget every server is capped, low-priority ones to
 * the lower of f_low and f_all. */
START_TEST(test_t2_caps_all)
{
    struct rig g;
    int64_t t = 0;

    rig_init(&g, "{\"budget_w\": 10000, \"t1\": 0.8, \"t2\": 0.9, "
             "\"f_low\": 0.6, \"f_all\": 0.8, \"power_w\": {\"idle\": 50, "
             "\"prefill\": 400, \"decode\": 300}}", 4);
    second(&g, 4, &t, 0, 16);  /* 9,600 W = 0.96 of the budget */
    ck_assert_double_eq(powercap_clock(g.pc, 0), 0.6);
    ck_assert_double_eq(powercap_clock(g.pc, 1), 0.6);
    ck_assert_double_eq(powercap_clock(g.pc, 2), 0.8);
    ck_assert_double_eq(powercap_clock(g.pc, 3), 0.8);
    powercap_destroy(g.pc);
}
END_TEST

static const char *const bad_cfg[][2] = {
    { "{\"t1\": 0.9, \"t2\": 0.8}",
      "power.t2: expected at least t1 (0.9), got 0.8" },
    { "{\"budget_w\": 1000, \"budget_servers\": 2}",
      "power.budget_servers: give either budget_w or budget_servers, not "
      "both" },
    { "{\"thresholds\": [1]}",
      "power.thresholds: unknown key (known: budget_w, budget_servers, t1, "
      "t2, hysteresis, f_low, f_all, f_brake, low_priority_fraction, "
      "interval_s, power_exponent, power_w)" },
    { "{\"power_w\": {\"idle\": 50}}",
      "power.power_w.prefill: missing (expected a number in [0, 100000])" },
};

START_TEST(test_bad_config)
{
    struct llm_diag d = { 0 };
    struct model m;
    struct device dev;
    struct shard sh = { .tp = 1, .w_bytes = 2, .a_bytes = 2, .kv_bytes = 2 };
    struct powercap *pc = NULL;
    cJSON *p = cJSON_Parse(bad_cfg[_i][0]);

    ck_assert_int_eq(model_find(llm_root(), "llama-3-8b", &m, &d), LLM_OK);
    ck_assert_int_eq(device_find(llm_root(), "h100-sxm-80gb", &dev, &d),
                     LLM_OK);
    ck_assert_int_eq(powercap_create(p, &m, &dev, &sh, 2, 1, &pc, &d),
                     LLM_EINVAL);
    ck_assert_ptr_null(pc);
    ck_assert_str_eq(d.msg, bad_cfg[_i][1]);
    cJSON_Delete(p);
}
END_TEST

static cJSON *run_row(const char *power)
{
    static char buf[2048];
    struct llm_diag d = { 0 };
    struct scenario sc;
    struct run_opts o = { .out_dir = fx_path("out"), .quiet = 1 };
    cJSON *summary = NULL;

    snprintf(buf, sizeof(buf), "{\"name\": \"row\", \"seed\": 2, "
        "\"model\": \"llama-3-8b\", \"hardware\": {\"device\": "
        "\"h100-sxm-80gb\", \"num_gpus\": 3}, \"scheduler\": {\"name\": "
        "\"vllm\"}, \"workload\": {\"type\": \"poisson\", \"rate\": 30, "
        "\"duration_s\": 60, \"prompt\": {\"dist\": \"fixed\", \"value\": "
        "2000}, \"output\": {\"dist\": \"fixed\", \"value\": 50}}%s%s, "
        "\"output\": {\"dir\": \"%s/out\"}}", power ? ", \"power\": " : "",
        power ? power : "", fx_tmpdir);
    ck_assert_msg(scenario_load(fx_put("c.json", buf), NULL, &sc, &d) ==
                  LLM_OK, "%s", d.msg);
    ck_assert_msg(run_scenario(&sc, &o, &summary, NULL, &d) == LLM_OK, "%s",
                  d.msg);
    scenario_free(&sc);
    return summary;
}

static double num(const cJSON *s, const char *a, const char *b)
{
    return cJSON_GetObjectItem(cJSON_GetObjectItem(s, a), b)->valuedouble;
}

/* Three prefill-heavy H100 servers under a budget of two at TDP: the
 * controller caps (time at a capped level > 0), the row's peak interval
 * power stays near the budget, and prefill-bound TTFT grows against the
 * same row without a budget; without "power" the summary has none. */
START_TEST(test_run_over_budget)
{
    cJSON *free_run = run_row(NULL);
    cJSON *capped = run_row("{\"budget_servers\": 2}");
    cJSON *loose = run_row("{\"budget_servers\": 100}");
    double capped_s = num(capped, "power", "low_capped_s") +
                      num(capped, "power", "all_capped_s") +
                      num(capped, "power", "brake_s");

    ck_assert_ptr_null(cJSON_GetObjectItem(free_run, "power"));
    ck_assert_double_eq(num(capped, "power", "budget_w"), 2 * 700);
    ck_assert_double_gt(capped_s, 10);
    ck_assert_double_gt(num(loose, "power", "peak_over_budget"), 0);
    ck_assert_double_eq(num(loose, "power", "low_capped_s") +
                        num(loose, "power", "brake_s"), 0);
    ck_assert_double_eq(num(loose, "ttft_ms", "mean"),
                        num(free_run, "ttft_ms", "mean"));
    ck_assert_double_gt(num(capped, "ttft_ms", "mean"),
                        num(free_run, "ttft_ms", "mean"));
    cJSON_Delete(free_run);
    cJSON_Delete(capped);
    cJSON_Delete(loose);
}
END_TEST

Suite *powercap_suite(void)
{
    Suite *s = suite_create("powercap");
    TCase *t = tcase_create("core");

    tcase_add_checked_fixture(t, fx_setup, fx_teardown);
    tcase_set_timeout(t, 60);
    tcase_add_test(t, test_scale_compute_vs_memory);
    tcase_add_test(t, test_power_model);
    tcase_add_test(t, test_controller);
    tcase_add_test(t, test_t2_caps_all);
    tcase_add_loop_test(t, test_bad_config, 0,
                        (int)(sizeof(bad_cfg) / sizeof(bad_cfg[0])));
    tcase_add_test(t, test_run_over_budget);
    suite_add_tcase(s, t);
    return s;
}
