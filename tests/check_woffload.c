/* tests/check_woffload.c: hardware.weight_offload (hw/woffload.h). */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "run/run.h"
#include "run/scenario.h"
#include "hw/cost.h"
#include "hw/woffload.h"
#include "models/memplan.h"
#include "models/model.h"
#include "base/paths.h"
#include "tests/fixture.h"

/* Little's law, capped: 32 reads of 8 KiB in flight, each 45 us +
 * 8192 / 7e9 s, on the catalog NVMe; 64 KiB reads reach the cap. */
START_TEST(test_read_bw)
{
    struct link ln = { .bw_bytes_s = 7e9, .latency_s = 45e-6 };

    ck_assert_double_eq_tol(woffload_read_bw(&ln, 32, 8192),
                            32 * 8192 / (45e-6 + 8192 / 7e9), 1);
    ck_assert_double_eq_tol(woffload_read_bw(&ln, 32, 8192), 5.677e9, 1e6);
    ck_assert_double_eq(woffload_read_bw(&ln, 32, 65536), 7e9);
    ck_assert_double_lt(woffload_read_bw(&ln, 1, 4096), 0.1e9);
}
END_TEST

/* Non-FFN weights are kept first: 50% of 10 GB keeps all 4 GB of
 * non-FFN and 1 of the 6 GB of FFN. */
START_TEST(test_split)
{
    struct weight_offload o = { .on = true, .resident = 0.5 };
    struct mem_weights w = { .embed = 1e9, .attn = 3e9, .mlp = 6e9 };
    struct woffload_bytes nr;

    woffload_split(&o, &w, &nr);
    ck_assert_double_eq_tol(nr.dense, 0, 1);
    ck_assert_double_eq_tol(nr.ffn, 5e9, 1);
    o.resident = 0.25;
    woffload_split(&o, &w, &nr);
    ck_assert_double_eq_tol(nr.dense, 1.5e9, 1);
    ck_assert_double_eq_tol(nr.ffn, 6e9, 1);
}
END_TEST

/* One decode token, by hand: link 1 GB/s and 10 us, 0.1 GB non-FFN and
 * 1 GB FFN off the GPU, s 0.1, window 2, bundled rows of 4096 x 2 x 2
 * bytes, one read in flight, 32 layers:
 *   FFN bytes   1e9 x 0.1 x 0.9^2 = 8.1e7
 *   read bw     16384 / (1e-5 + 16384 / 1e9) = 6.2098e8 B/s
 *   time        0.1 + 8.1e7 / 6.2098e8 + 32 x 1e-5 = 0.230758 s
 * The window's cache holds (1 - 0.81) x 1e9 bytes. */
START_TEST(test_iteration_by_hand)
{
    struct weight_offload o = { .on = true, .sparsity = 0.1, .window = 2,
        .bundle = true, .queue_depth = 1,
        .link = { .bw_bytes_s = 1e9, .latency_s = 1e-5 } };
    struct woffload_bytes nr = { .dense = 1e8, .ffn = 1e9 };
    struct shard s = { .tp = 1, .w_bytes = 2, .a_bytes = 2, .kv_bytes = 2 };
    double bw = 16384 / (1e-5 + 16384 / 1e9);

    ck_assert_double_eq_tol(woffload_iter_s(&o, &nr, 32, 4096, &s, 1),
                            0.1 + 8.1e7 / bw + 32e-5, 1e-9);
    ck_assert_double_eq_tol(woffload_iter_s(&o, &nr, 32, 4096, &s, 1),
                            0.230758, 1e-6);
    ck_assert_double_eq_tol(woffload_cache_bytes(&o, &nr), 1.9e8, 1);
    /* A batch of 2 tokens activates 1 - 0.9^2 = 19% of neurons. */
    ck_assert_double_eq_tol(woffload_iter_s(&o, &nr, 32, 4096, &s, 2),
                            0.1 + 1e9 * 0.19 * 0.81 / bw + 32e-5, 1e-9);
    /* Dense (naive): everything, whole, at 1 GB/s. */
    o = (struct weight_offload){ .on = true, .sparsity = 1, .queue_depth = 1,
        .link = o.link };
    ck_assert_double_eq_tol(woffload_iter_s(&o, &nr, 32, 4096, &s, 1),
                            1.1 + 32e-5, 1e-9);
}
END_TEST

static const char *config(const char *woff)
{
    static char buf[2048];

    snprintf(buf, sizeof(buf), "{\"name\": \"woff\", \"seed\": 1, "
        "\"model\": \"llama-2-70b\", \"hardware\": {\"device\": "
        "\"h100-sxm-80gb\"%s%s}, \"scheduler\": {\"name\": \"vllm\"}, "
        "\"cost_model\": {\"name\": \"roofline\"}, "
        "\"workload\": {\"type\": \"poisson\", \"rate\": 50, "
        "\"num_requests\": 4, \"prompt\": {\"dist\": \"fixed\", \"value\": "
        "200}, \"output\": {\"dist\": \"fixed\", \"value\": 4}}, "
        "\"output\": {\"dir\": \"%s/out\"}}", woff ? ", "
        "\"weight_offload\": " : "", woff ? woff : "", fx_tmpdir);
    return fx_put("c.json", buf);
}

/* llama-2-70b (about 138 GB in bf16) does not fit one H100; with 20% of
 * its weights resident the plan counts only those and has KV left. */
START_TEST(test_memory_plan)
{
    struct llm_diag d = { 0 };
    struct scenario sc;
    double total;

    ck_assert_int_eq(scenario_load(config(NULL), NULL, &sc, &d),
                     LLM_ERANGE);
    scenario_free(&sc);
    d = (struct llm_diag){ 0 };
    ck_assert_msg(scenario_load(config("{\"resident_fraction\": 0.2}"),
                                NULL, &sc, &d) == LLM_OK, "%s", d.msg);
    total = memplan_weights_total(&sc.mem.w);
    ck_assert_double_gt(total, 120e9);
    ck_assert_double_eq_tol(sc.mem.weight_bytes, 0.2 * total, 1e3);
    ck_assert_int_gt(sc.mem.kv_blocks, 0);
    scenario_free(&sc);
    /* A window caches (1 - 0.9^4) of the non-resident FFN on the GPU. */
    ck_assert_msg(scenario_load(config("{\"resident_fraction\": 0.2, "
                                       "\"ffn_sparsity\": 0.1, \"window\": "
                                       "4}"), NULL, &sc, &d) == LLM_OK,
                  "%s", d.msg);
    ck_assert_double_eq_tol(sc.mem.weight_bytes, 0.2 * total +
                            (1 - pow(0.9, 4)) * (0.8 * total), 1e3);
    scenario_free(&sc);
}
END_TEST

/* A run pays the transfer: its decode steps are slower than the link's
 * dense reads alone (0.8 x 138 GB / 7 GB/s, about 15.8 s per step). */
START_TEST(test_run)
{
    struct llm_diag d = { 0 };
    struct scenario sc;
    struct run_opts o = { .out_dir = fx_path("out"), .quiet = 1 };
    cJSON *summary = NULL, *n;

    ck_assert_msg(scenario_load(config("{\"resident_fraction\": 0.2}"),
                                NULL, &sc, &d) == LLM_OK, "%s", d.msg);
    ck_assert_msg(run_scenario(&sc, &o, &summary, NULL, &d) == LLM_OK, "%s",
                  d.msg);
    n = cJSON_GetObjectItemCaseSensitive(summary, "requests_completed");
    ck_assert_ptr_nonnull(n);
    ck_assert_int_eq((int)n->valuedouble, 4);
    scenario_free(&sc);
    cJSON_Delete(summary);
}
END_TEST

/* cost_price adds exactly woffload_iter_s to the communication class. */
START_TEST(test_cost_adds)
{
    struct llm_diag d = { 0 };
    struct model m;
    struct device gpu;
    struct weight_offload o;
    struct mem_weights w;
    struct woffload_bytes nr;
    struct cost_env env;
    struct cost_model *a, *b;
    struct cost_breakdown x, y;
    struct batch bt;
    cJSON *p = cJSON_Parse("{\"name\": \"roofline\"}");
    cJSON *j = cJSON_Parse("{\"resident_fraction\": 0.5, \"ffn_sparsity\":"
                           " 0.05, \"window\": 5, \"bundle\": true}");

    ck_assert_int_eq(model_find(llm_root(), "llama-2-7b", &m, &d), LLM_OK);
    ck_assert_int_eq(device_find(llm_root(), "h100-sxm-80gb", &gpu, &d),
                     LLM_OK);
    ck_assert_int_eq(woffload_parse(j, "w", llm_root(), &o, &d), LLM_OK);
    ck_assert_str_eq(o.link.id, "nvme-gen4-ssd");
    env = (struct cost_env){ .model = &m, .dev = &gpu, .root = llm_root(),
        .shard = { .tp = 1, .w_bytes = 2, .a_bytes = 2, .kv_bytes = 2 } };
    ck_assert_int_eq(cost_create(&env, p, "c", &a, &d), LLM_OK);
    env.woffload = &o;
    ck_assert_int_eq(cost_create(&env, p, "c", &b, &d), LLM_OK);
    batch_init(&bt);
    ck_assert_int_eq(batch_add_decode(&bt, 1, 100), LLM_OK);
    ck_assert_int_eq(cost_price(a, &bt, &x), LLM_OK);
    ck_assert_int_eq(cost_price(b, &bt, &y), LLM_OK);
    memplan_stage_weights(&m, &env.shard, 0, &w);
    woffload_split(&o, &w, &nr);
    ck_assert_int_eq(y.total_ns - x.total_ns,
                     llround(1e9 * woffload_iter_s(&o, &nr, m.num_layers,
                                                   m.hidden, &env.shard,
                                                   1)));
    ck_assert_int_gt(y.total_ns - x.total_ns, 0);
    batch_free(&bt);
    cost_destroy(a);
    cost_destroy(b);
    cJSON_Delete(p);
    cJSON_Delete(j);
}
END_TEST

static const struct {
    const char *json, *key;
} bad[] = {
    { "{\"resident\": 0.5}", "hardware.weight_offload.resident" },
    { "{\"resident_fraction\": 1.5}",
      "hardware.weight_offload.resident_fraction" },
    { "{\"ffn_sparsity\": 0}", "hardware.weight_offload.ffn_sparsity" },
    { "{\"window\": -1}", "hardware.weight_offload.window" },
    { "{\"bundle\": 2}", "hardware.weight_offload.bundle" },
    { "{\"link\": \"no-such\"}", "hardware.weight_offload.link" },
    { "{\"queue_depth\": 0}", "hardware.weight_offload.queue_depth" },
    { "3", "hardware.weight_offload" },
};

START_TEST(test_bad_config)
{
    struct llm_diag d = { 0 };
    struct scenario sc;

    ck_assert_int_ne(scenario_load(config(bad[_i].json), NULL, &sc, &d),
                     LLM_OK);
    ck_assert_msg(strstr(d.msg, bad[_i].key) != NULL, "%s", d.msg);
    scenario_free(&sc);
}
END_TEST

Suite *woffload_suite(void)
{
    Suite *s = suite_create("woffload");
    TCase *t = tcase_create("core");

    tcase_add_test(t, test_read_bw);
    tcase_add_test(t, test_split);
    tcase_add_test(t, test_iteration_by_hand);
    tcase_add_test(t, test_cost_adds);
    suite_add_tcase(s, t);
    t = tcase_create("scenarios");
    tcase_add_checked_fixture(t, fx_setup, fx_teardown);
    tcase_add_test(t, test_memory_plan);
    tcase_add_test(t, test_run);
    tcase_add_loop_test(t, test_bad_config, 0,
                        (int)(sizeof(bad) / sizeof(bad[0])));
    tcase_set_timeout(t, 60);
    suite_add_tcase(s, t);
    return s;
}
