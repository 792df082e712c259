/* tests/check_offload.c: hardware.attention_offload (hw/offload.h). */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "run/run.h"
#include "run/scenario.h"
#include "hw/cost.h"
#include "hw/offload.h"
#include "models/model.h"
#include "base/paths.h"
#include "tests/fixture.h"

struct rig {
    struct model m;
    struct device gpu;
    struct attn_offload off;
    struct cost_env env;
    struct cost_model *cm;
    struct batch b;
};

static void rig_open(struct rig *r, const char *offload_json)
{
    struct llm_diag d = { 0 };
    cJSON *p = cJSON_Parse("{\"name\": \"roofline\"}");
    cJSON *o = offload_json ? cJSON_Parse(offload_json) : NULL;

    ck_assert_int_eq(model_find(llm_root(), "llama-2-13b", &r->m, &d),
                     LLM_OK);
    ck_assert_int_eq(device_find(llm_root(), "rtx-a6000-48gb", &r->gpu, &d),
                     LLM_OK);
    ck_assert_msg(attn_offload_parse(o, "hardware.attention_offload",
                                     llm_root(), &r->off, &d) == LLM_OK,
                  "%s", d.msg);
    r->env = (struct cost_env){ .model = &r->m, .dev = &r->gpu,
        .root = llm_root(), .offload = r->off.on ? &r->off : NULL,
        .shard = { .tp = 1, .w_bytes = 2, .a_bytes = 2, .kv_bytes = 2 } };
    ck_assert_msg(cost_create(&r->env, p, "cost_model", &r->cm, &d) ==
                  LLM_OK, "%s", d.msg);
    cJSON_Delete(p);
    cJSON_Delete(o);
    batch_init(&r->b);
}

static void rig_close(struct rig *r)
{
    cost_destroy(r->cm);
    batch_free(&r->b);
}

static struct cost_breakdown decode(struct rig *r, int32_t n, int32_t ctx)
{
    struct cost_breakdown bd;

    batch_clear(&r->b);
    ck_assert_int_eq(batch_add_decode(&r->b, n, ctx), LLM_OK);
    ck_assert_int_eq(cost_price(r->cm, &r->b, &bd), LLM_OK);
    return bd;
}

/* LLaMA-2-13B (40 layers, 40 MHA heads of 128, fp16), 16 decodes at
 * context 4000 with the KV on instinfer-csd (19.2 GB/s inside, 0.1
 * TFLOP/s) over PCIe 4.0 x4 (7 GB/s, 10 us): per layer the CSD reads
 * keys x 2 x 40 x 128 x 2 bytes, and 16 queries + 16 outputs + 16 new
 * K/V of 40 x 256 x 2 bytes each cross the link.  The GPU part is the
 * same batch's dense work on the A6000. */
START_TEST(test_iteration_by_hand)
{
    struct rig plain, off;
    struct cost_breakdown a, b;
    double keys = 16.0 * 4001, layers = 40;
    double dev_s = keys * 2 * 40 * 128 * 2 / 19.2e9;
    double link_s = 10e-6 + (16.0 * 40 * 256 * 2 * 2) / 7e9;
    double want_ns, gpu_ns;

    rig_open(&plain, NULL);
    rig_open(&off, "{\"device\": \"instinfer-csd\"}");
    a = decode(&plain, 16, 4000);
    b = decode(&off, 16, 4000);
    ck_assert_int_eq(b.class_ns[OPC_ATTN], llround(layers * dev_s * 1e9));
    ck_assert_int_eq(b.class_ns[OPC_COMM], llround(layers * link_s * 1e9));
    gpu_ns = (double)(a.total_ns - a.class_ns[OPC_ATTN] -
                      a.class_ns[OPC_COMM]);
    want_ns = gpu_ns + layers * (dev_s + link_s) * 1e9;
    ck_assert_msg(fabs((double)b.total_ns - want_ns) <= 2, "%lld vs %.0f",
                  (long long)b.total_ns, want_ns);
    /* The A6000 reads this KV at 768 GB/s: offloading to 19.2 GB/s
     * flash is slower per step (its gain is capacity, not speed). */
    ck_assert_int_gt(b.total_ns, a.total_ns);
    rig_close(&plain);
    rig_close(&off);
}
END_TEST

/* mem_eff and the link are the user's: a 4x slower device, a named link. */
START_TEST(test_overrides)
{
    struct rig r;
    struct cost_breakdown bd;
    double keys = 8.0 * 1001;

    rig_open(&r, "{\"device\": \"h200-sxm-141gb\", \"link\": "
             "\"pcie5-x16\", \"mem_eff\": 0.25}");
    bd = decode(&r, 8, 1000);
    ck_assert_int_eq(bd.class_ns[OPC_ATTN],
                     llround(40 * keys * 20480 / (r.off.dev.mem_bw_bytes_s *
                                                  0.25) * 1e9));
    ck_assert_int_eq(bd.class_ns[OPC_COMM],
                     llround(40 * (r.off.link.latency_s + 8.0 * 20480 * 2 /
                                   r.off.link.bw_bytes_s) * 1e9));
    ck_assert_str_eq(r.off.link.id, "pcie5-x16");
    rig_close(&r);
}
END_TEST

/* Sparse attention (InstInfer's SparF reads about 1/8 of the KV): a
 * KV-bound decode step's device time is exactly that share of the dense
 * one; the link carries the same queries, outputs and new K/V. */
START_TEST(test_kv_read_fraction)
{
    struct rig dense, sparse;
    struct cost_breakdown a, b;

    rig_open(&dense, "{\"device\": \"instinfer-csd\"}");
    rig_open(&sparse, "{\"device\": \"instinfer-csd\", "
             "\"kv_read_fraction\": 0.125}");
    a = decode(&dense, 16, 4000);
    b = decode(&sparse, 16, 4000);
    ck_assert_int_eq(b.class_ns[OPC_ATTN],
                     llround(40 * 16.0 * 4001 * 20480 / 19.2e9 * 0.125 *
                             1e9));
    ck_assert(llabs(8 * b.class_ns[OPC_ATTN] - a.class_ns[OPC_ATTN]) <= 8);
    ck_assert_int_eq(b.class_ns[OPC_COMM], a.class_ns[OPC_COMM]);
    rig_close(&dense);
    rig_close(&sparse);
}
END_TEST

/* Four attention devices per GPU (Lamina's collection of memory
 * devices): four times the bandwidth and link bandwidth, the same link
 * latency, four times the KV capacity. */
START_TEST(test_devices)
{
    struct rig one, four;
    struct cost_breakdown a, b;
    double link1, link4;

    rig_open(&one, "{\"device\": \"a100-sxm-80gb\", \"link\": "
             "\"ib-ndr-400\"}");
    rig_open(&four, "{\"device\": \"a100-sxm-80gb\", \"link\": "
             "\"ib-ndr-400\", \"devices\": 4}");
    a = decode(&one, 32, 3000);
    b = decode(&four, 32, 3000);
    ck_assert(llabs(4 * b.class_ns[OPC_ATTN] - a.class_ns[OPC_ATTN]) <= 4);
    link1 = 40 * (one.off.link.latency_s + 32.0 * 20480 * 2 /
                  one.off.link.bw_bytes_s);
    link4 = 40 * (one.off.link.latency_s + 32.0 * 20480 * 2 /
                  (4 * one.off.link.bw_bytes_s));
    ck_assert_int_eq(a.class_ns[OPC_COMM], llround(link1 * 1e9));
    ck_assert_int_eq(b.class_ns[OPC_COMM], llround(link4 * 1e9));
    ck_assert_int_eq(attn_offload_kv_blocks(&four.off, 13107200.0),
                     (int64_t)floor(4 * 85899345920.0 / 13107200.0));
    rig_close(&one);
    rig_close(&four);
}
END_TEST

static const char *config(const char *offload)
{
    static char buf[2048];

    snprintf(buf, sizeof(buf), "{\"name\": \"off\", \"seed\": 1, "
        "\"model\": \"llama-2-13b\", \"hardware\": {\"device\": "
        "\"rtx-a6000-48gb\"%s%s}, \"scheduler\": {\"name\": \"vllm\"}, "
        "\"cost_model\": {\"name\": \"roofline\"}, "
        "\"workload\": {\"type\": \"poisson\", \"rate\": 50, "
        "\"num_requests\": 40, \"prompt\": {\"dist\": \"fixed\", \"value\": "
        "3000}, \"output\": {\"dist\": \"fixed\", \"value\": 20}}, "
        "\"output\": {\"dir\": \"%s/out\"}}", offload ? ", "
        "\"attention_offload\": " : "", offload ? offload : "", fx_tmpdir);
    return fx_put("c.json", buf);
}

/* The KV capacity is the offload device's: 4 TB / (16 tokens x 40 layers
 * x 2 x 40 x 128 x 2 bytes) blocks, not what the A6000 has left. */
START_TEST(test_capacity)
{
    struct llm_diag d = { 0 };
    struct scenario sc;
    int64_t gpu_blocks;

    ck_assert_msg(scenario_load(config(NULL), NULL, &sc, &d) == LLM_OK,
                  "%s", d.msg);
    gpu_blocks = sc.mem.kv_blocks;
    scenario_free(&sc);
    ck_assert_msg(scenario_load(config("{\"device\": \"instinfer-csd\"}"),
                                NULL, &sc, &d) == LLM_OK, "%s", d.msg);
    ck_assert_int_eq(sc.block_tokens, 16);
    ck_assert_int_eq(sc.mem.kv_blocks, (int64_t)floor(4e12 / 13107200.0));
    ck_assert_int_gt(sc.mem.kv_blocks, 50 * gpu_blocks);
    scenario_free(&sc);
    ck_assert_msg(scenario_load(config("{\"device\": \"instinfer-csd\", "
                                       "\"memory_utilization\": 0.5}"),
                                NULL, &sc, &d) == LLM_OK, "%s", d.msg);
    ck_assert_int_eq(sc.mem.kv_blocks, (int64_t)floor(2e12 / 13107200.0));
    scenario_free(&sc);
}
END_TEST

/* A whole run with offloaded attention finishes every request. */
START_TEST(test_run)
{
    struct llm_diag d = { 0 };
    struct scenario sc;
    struct run_opts o = { .out_dir = fx_path("out"), .quiet = 1 };
    cJSON *summary = NULL, *n;

    ck_assert_msg(scenario_load(config("{\"device\": \"instinfer-csd\"}"),
                                NULL, &sc, &d) == LLM_OK, "%s", d.msg);
    ck_assert_msg(run_scenario(&sc, &o, &summary, NULL, &d) == LLM_OK, "%s",
                  d.msg);
    n = cJSON_GetObjectItemCaseSensitive(summary, "requests_completed");
    ck_assert_ptr_nonnull(n);
    ck_assert_int_eq((int)n->valuedouble, 40);
    scenario_free(&sc);
    cJSON_Delete(summary);
}
END_TEST

static const struct {
    const char *json, *key;
} bad[] = {
    { "{\"devic\": \"instinfer-csd\"}", "hardware.attention_offload.devic" },
    { "{}", "hardware.attention_offload.device" },
    { "{\"device\": \"no-such\"}", "hardware.attention_offload.device" },
    { "{\"device\": \"instinfer-csd\", \"link\": \"no-such\"}",
      "hardware.attention_offload.link" },
    { "{\"device\": \"instinfer-csd\", \"mem_eff\": 2}",
      "hardware.attention_offload.mem_eff" },
    { "{\"device\": \"instinfer-csd\", \"memory_utilization\": 0}",
      "hardware.attention_offload.memory_utilization" },
    { "{\"device\": \"instinfer-csd\", \"kv_read_fraction\": 0}",
      "hardware.attention_offload.kv_read_fraction" },
    { "{\"device\": \"instinfer-csd\", \"devices\": 0}",
      "hardware.attention_offload.devices" },
    { "3", "hardware.attention_offload" },
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

Suite *offload_suite(void)
{
    Suite *s = suite_create("offload");
    TCase *t = tcase_create("core");

    tcase_add_test(t, test_iteration_by_hand);
    tcase_add_test(t, test_overrides);
    tcase_add_test(t, test_kv_read_fraction);
    tcase_add_test(t, test_devices);
    suite_add_tcase(s, t);
    t = tcase_create("scenarios");
    tcase_add_checked_fixture(t, fx_setup, fx_teardown);
    tcase_add_test(t, test_capacity);
    tcase_add_test(t, test_run);
    tcase_add_loop_test(t, test_bad_config, 0,
                        (int)(sizeof(bad) / sizeof(bad[0])));
    tcase_set_timeout(t, 60);
    suite_add_tcase(s, t);
    return s;
}
