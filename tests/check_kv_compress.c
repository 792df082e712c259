/* tests/check_kv_compress.c: KV compression (issue 9): each method's
 * memory and attention formula against hand values, the "compressed"
 * manager's block accounting (quantized capacity, SnapKV's shrink after
 * the prefill), config errors, and a run where a small StreamingLLM
 * window cuts decode time against the uncompressed cache. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "run/run.h"
#include "policies/kv_compress.h"
#include "policies/registry.h"
#include "tests/fixture.h"

static struct kvc_params parsed(const char *js)
{
    struct llm_diag d = { 0 };
    struct kvc_params p;
    cJSON *o = cJSON_Parse(js);

    ck_assert_ptr_nonnull(o);
    ck_assert_msg(kvc_parse(o, "kv_cache", &p, &d) == LLM_OK, "%s", d.msg);
    cJSON_Delete(o);
    return p;
}

START_TEST(test_streaming)
{
    struct kvc_params p = parsed("{\"method\": \"streaming_llm\", "
                                 "\"window\": 1020}");

    ck_assert_int_eq(p.sinks, 4);
    ck_assert_int_eq(kvc_attn_tokens(&p, 500, 100), 500);
    ck_assert_int_eq(kvc_attn_tokens(&p, 5000, 100), 1024);
    ck_assert_int_eq(kvc_mem_tokens(&p, 5000, 100, false), 1024);
    ck_assert_int_eq(kvc_mem_tokens(&p, 5000, 6000, true), 1024);
}
END_TEST

START_TEST(test_h2o)
{
    struct kvc_params p = parsed("{\"method\": \"h2o\", \"heavy_ratio\": "
                                 "0.1, \"recent\": 100}");

    ck_assert_int_eq(kvc_attn_tokens(&p, 1000, 10), 200);
    ck_assert_int_eq(kvc_attn_tokens(&p, 1001, 10), 201);  /* ceil 100.1 */
    ck_assert_int_eq(kvc_attn_tokens(&p, 50, 10), 50);
    ck_assert_int_eq(kvc_mem_tokens(&p, 1000, 10, false), 200);
}
END_TEST

START_TEST(test_snapkv)
{
    struct kvc_params p = parsed("{\"method\": \"snapkv\", \"budget\": "
                                 "256}");

    ck_assert_int_eq(kvc_attn_tokens(&p, 800, 1000), 800);  /* prefill */
    ck_assert_int_eq(kvc_attn_tokens(&p, 1000, 1000), 256);
    ck_assert_int_eq(kvc_attn_tokens(&p, 1010, 1000), 266);
    ck_assert_int_eq(kvc_attn_tokens(&p, 110, 100), 110);   /* short */
    ck_assert_int_eq(kvc_mem_tokens(&p, 1000, 1000, true), 1000);
    ck_assert_int_eq(kvc_mem_tokens(&p, 1001, 1000, false), 257);
}
END_TEST

START_TEST(test_duo)
{
    struct kvc_params p = parsed("{\"method\": \"duo_attention\", "
        "\"retrieval_head_frac\": 0.25, \"window\": 252}");

    /* 0.25 x 4000 + 0.75 x 256 = 1000 + 192 */
    ck_assert_int_eq(kvc_attn_tokens(&p, 4000, 10), 1192);
    ck_assert_int_eq(kvc_attn_tokens(&p, 100, 10), 100);
    ck_assert_int_eq(kvc_mem_tokens(&p, 4000, 10, false), 1192);
    p = parsed("{\"method\": \"razor_attention\", "
               "\"retrieval_head_frac\": 0.15, \"window\": 60}");
    /* 0.15 x 1000 + 0.85 x 64 = 150 + 54.4 -> 205 */
    ck_assert_int_eq(kvc_attn_tokens(&p, 1000, 10), 205);
}
END_TEST

START_TEST(test_quant)
{
    struct kvc_params p = parsed("{\"dtype\": \"fp8\"}");

    ck_assert_int_eq(kvc_mem_tokens(&p, 1000, 10, false), 500);
    ck_assert_int_eq(kvc_attn_tokens(&p, 1000, 10), 1000);
    p = parsed("{\"dtype\": \"int4\"}");
    ck_assert_int_eq(kvc_mem_tokens(&p, 1000, 10, false), 250);
    ck_assert_int_eq(kvc_mem_tokens(&p, 1001, 10, false), 251);
    p = parsed("{\"dtype\": \"kivi2\"}");
    ck_assert_int_eq(p.residual, 128);
    /* 128 at fp16 + 872 x 2 / 16 = 128 + 109 */
    ck_assert_int_eq(kvc_mem_tokens(&p, 1000, 10, false), 237);
    ck_assert_int_eq(kvc_mem_tokens(&p, 100, 10, false), 100);
    p = parsed("{\"dtype\": \"kivi2\", \"residual\": 32}");
    ck_assert_int_eq(kvc_mem_tokens(&p, 1000, 10, false), 32 + 121);
    p = parsed("{\"method\": \"streaming_llm\", \"window\": 1020, "
               "\"dtype\": \"fp8\"}");
    ck_assert_int_eq(kvc_mem_tokens(&p, 5000, 10, false), 512);
    ck_assert_int_eq(kvc_attn_tokens(&p, 5000, 10), 1024);
}
END_TEST

struct mgr {
    const struct kv_ops *ops;
    void *st;
};

static struct mgr mgr_new(const char *js, int64_t cap, int32_t bt)
{
    struct llm_diag d = { 0 };
    cJSON *p = cJSON_Parse(js);
    struct mgr m = { registry_kv("compressed", "kv_cache", &d), NULL };

    ck_assert_ptr_nonnull(m.ops);
    m.st = calloc(1, m.ops->state_size);
    ck_assert_msg(m.ops->init(m.st, cap, bt, p, "kv_cache", &d) == LLM_OK,
                  "%s", d.msg);
    cJSON_Delete(p);
    return m;
}

/* fp8 halves a token's bytes: 100 blocks of 16 tokens hold two requests
 * of 1600 tokens (50 blocks each), not one; a third does not fit. */
START_TEST(test_quant_capacity)
{
    struct mgr m = mgr_new("{\"name\": \"compressed\", \"dtype\": \"fp8\"}",
                           100, 16);
    struct request a = { .prompt_tokens = 1600, .state = REQ_PREFILL };
    struct request b = a, c = a;

    ck_assert_int_eq(m.ops->blocks_needed(m.st, &a, 1600), 50);
    ck_assert(m.ops->grow(m.st, &a, 1600));
    ck_assert(m.ops->grow(m.st, &b, 1600));
    ck_assert(!m.ops->grow(m.st, &c, 1600));
    ck_assert_int_eq(c.kv_blocks, 0);
    ck_assert_int_eq(m.ops->used_blocks(m.st), 100);
    ck_assert_int_eq(m.ops->free_blocks(m.st), 0);
    m.ops->release(m.st, &a);
    m.ops->release(m.st, &b);
    ck_assert_int_eq(m.ops->used_blocks(m.st), 0);
    free(m.st);
}
END_TEST

/* SnapKV holds the whole prompt while prefilling (63 blocks for 1000
 * tokens), then 257 tokens (17 blocks) from the first decode. */
START_TEST(test_snapkv_shrinks)
{
    struct mgr m = mgr_new("{\"name\": \"compressed\", \"method\": "
                           "\"snapkv\", \"budget\": 256}", 100, 16);
    struct request a = { .prompt_tokens = 1000, .state = REQ_PREFILL };

    ck_assert(m.ops->grow(m.st, &a, 1000));
    ck_assert_int_eq(a.kv_blocks, 63);
    a.state = REQ_DECODE;
    a.computed = 1000;
    ck_assert_int_eq(m.ops->blocks_needed(m.st, &a, 1001), 0);
    ck_assert(m.ops->grow(m.st, &a, 1001));
    ck_assert_int_eq(a.kv_blocks, 17);
    ck_assert_int_eq(m.ops->used_blocks(m.st), 17);
    ck_assert_int_eq(m.ops->attn_tokens(m.st, &a, 1000), 256);
    m.ops->release(m.st, &a);
    ck_assert_int_eq(m.ops->free_blocks(m.st), 100);
    free(m.st);
}
END_TEST

static const char *const bad_cfg[][2] = {
    { "{\"method\": \"quest\"}", "kv_cache.method: expected one of "
      "\"none\", \"streaming_llm\", \"h2o\", \"snapkv\", \"duo_attention\", "
      "\"razor_attention\", got \"quest\"" },
    { "{\"dtype\": \"fp4\"}", "kv_cache.dtype: expected one of \"fp16\", "
      "\"bf16\", \"fp8\", \"int8\", \"int4\", \"kivi2\", \"kivi4\", got "
      "\"fp4\"" },
    { "{\"method\": \"streaming_llm\"}", "kv_cache.window: " },
    { "{\"method\": \"duo_attention\", \"window\": 8}",
      "kv_cache.retrieval_head_frac: " },
    { "{\"method\": \"snapkv\"}", "kv_cache.budget: " },
    { "{\"method\": \"h2o\", \"heavy_ratio\": 1.5, \"recent\": 4}",
      "kv_cache.heavy_ratio: " },
};

START_TEST(test_bad_config)
{
    struct llm_diag d = { 0 };
    struct kvc_params p;
    cJSON *o = cJSON_Parse(bad_cfg[_i][0]);
    size_t n = strlen(bad_cfg[_i][1]);

    ck_assert_int_eq(kvc_parse(o, "kv_cache", &p, &d), LLM_EINVAL);
    ck_assert_msg(strncmp(d.msg, bad_cfg[_i][1], n) == 0, "%s", d.msg);
    cJSON_Delete(o);
}
END_TEST

static cJSON *run_kv(const char *kv)
{
    static char buf[2048];
    struct llm_diag d = { 0 };
    struct scenario sc;
    struct run_opts o = { .out_dir = fx_path("out"), .quiet = 1 };
    cJSON *summary = NULL;

    snprintf(buf, sizeof(buf), "{\"name\": \"kvc\", \"seed\": 3, "
        "\"model\": \"llama-3.1-8b\", \"hardware\": {\"device\": "
        "\"h100-sxm-80gb\"}, \"scheduler\": {\"name\": \"vllm\"}, "
        "\"kv_cache\": %s, \"workload\": {\"type\": \"poisson\", "
        "\"rate\": 0.05, \"num_requests\": 6, \"prompt\": {\"dist\": "
        "\"fixed\", \"value\": 16000}, \"output\": {\"dist\": \"fixed\", "
        "\"value\": 64}}, \"output\": {\"dir\": \"%s/out\"}}", kv,
        fx_tmpdir);
    ck_assert_msg(scenario_load(fx_put("c.json", buf), NULL, &sc, &d) ==
                  LLM_OK, "%s", d.msg);
    ck_assert_msg(run_scenario(&sc, &o, &summary, NULL, &d) == LLM_OK, "%s",
                  d.msg);
    scenario_free(&sc);
    return summary;
}

static double tpot_mean(const cJSON *s)
{
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(s, "tpot_ms");

    return cJSON_GetObjectItemCaseSensitive(t, "mean")->valuedouble;
}

/* Requests alone on the replica (one every 20 s on average): decodes
 * over 16k-token contexts attend over 64 tokens with a small StreamingLLM
 * window; the cost model sees the short context, so the time per output
 * token drops.  (Under load the tiny KV lets vLLM admit every 16k prefill
 * at once, and TPOT rises instead: capacity effects, not attention.) */
START_TEST(test_run_streaming_faster)
{
    cJSON *full = run_kv("{\"name\": \"paged\"}");
    cJSON *win = run_kv("{\"name\": \"compressed\", \"method\": "
                        "\"streaming_llm\", \"window\": 60}");

    ck_assert_double_lt(tpot_mean(win), tpot_mean(full));
    cJSON_Delete(full);
    cJSON_Delete(win);
}
END_TEST

Suite *kv_compress_suite(void)
{
    Suite *s = suite_create("kv_compress");
    TCase *t = tcase_create("core");

    tcase_add_test(t, test_streaming);
    tcase_add_test(t, test_h2o);
    tcase_add_test(t, test_snapkv);
    tcase_add_test(t, test_duo);
    tcase_add_test(t, test_quant);
    tcase_add_test(t, test_quant_capacity);
    tcase_add_test(t, test_snapkv_shrinks);
    tcase_add_loop_test(t, test_bad_config, 0,
                        (int)(sizeof(bad_cfg) / sizeof(bad_cfg[0])));
    suite_add_tcase(s, t);
    t = tcase_create("runs");
    tcase_add_checked_fixture(t, fx_setup, fx_teardown);
    tcase_add_test(t, test_run_streaming_faster);
    tcase_set_timeout(t, 60);
    suite_add_tcase(s, t);
    return s;
}
