/* Shared-prefix attention (cost_model.shared_prefix_attention, Hydragen /
 * BatchLLM): the decode attention op's shared bytes for a hand-computed
 * batch, the roofline saving exactly those bytes, the calibrated model
 * pricing less with the option, nothing changing without sharing, and
 * the prefix managers naming which requests share blocks, and a whole run
 * where the replica groups the decodes. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "run/run.h"
#include "run/scenario.h"
#include "hw/cost.h"
#include "models/ops.h"
#include "policies/registry.h"
#include "base/paths.h"
#include "tests/fixture.h"
#include "tests/suites.h"

struct two {
    struct model m;
    struct device dev;
    struct cost_env env;
    struct cost_model *off, *on;
};

static void open_pair(struct two *p, const char *name)
{
    struct llm_diag d = { 0 };
    char off[128], on[128];
    cJSON *a, *b;

    snprintf(off, sizeof(off), "{\"name\": \"%s\"}", name);
    snprintf(on, sizeof(on), "{\"name\": \"%s\", "
             "\"shared_prefix_attention\": true}", name);
    a = cJSON_Parse(off);
    b = cJSON_Parse(on);
    ck_assert_int_eq(model_find(llm_root(), "llama-3-8b", &p->m, &d), 0);
    ck_assert_int_eq(device_find(llm_root(), "h100-sxm-80gb", &p->dev, &d),
                     0);
    p->env = (struct cost_env){ .model = &p->m, .dev = &p->dev,
        .root = llm_root(),
        .shard = { .tp = 1, .w_bytes = 2, .a_bytes = 2, .kv_bytes = 2 } };
    ck_assert_msg(cost_create(&p->env, a, "cost_model", &p->off, &d) == 0,
                  "%s", d.msg);
    ck_assert_msg(cost_create(&p->env, b, "cost_model", &p->on, &d) == 0,
                  "%s", d.msg);
    cJSON_Delete(a);
    cJSON_Delete(b);
}

static void close_pair(struct two *p)
{
    cost_destroy(p->off);
    cost_destroy(p->on);
}

static struct cost_breakdown price(struct cost_model *c,
                                   const struct batch *b)
{
    struct cost_breakdown bd = { 0 };

    ck_assert_int_eq(cost_price(c, b, &bd), 0);
    return bd;
}

/* 4 sequences at context 2047 sharing a 1024-token prefix, plus one
 * unrelated sequence at 500: 3 x 1024 keys are repeat reads. */
static void shared_batch(struct batch *b, bool share)
{
    batch_init(b);
    ck_assert_int_eq(batch_add_decode(b, 4, 2047), 0);
    ck_assert_int_eq(batch_add_decode(b, 1, 500), 0);
    if (share)
        ck_assert_int_eq(batch_add_shared(b, 4, 1024, 4 * 2047), 0);
}

START_TEST(test_op_bytes)
{
    struct two p;
    struct batch b;
    struct op_list l = { 0 };
    /* llama-3-8b: 8 KV heads x 128 dims x (K, V) x 2 bytes a token */
    const double kv_tok = 8.0 * 128 * 2 * 2;
    size_t i;
    int found = 0;

    open_pair(&p, "roofline");
    shared_batch(&b, true);
    ck_assert_int_eq(b.shared_keys, 3 * 1024);
    ck_assert_int_eq(ops_build(&p.m, &p.env.shard, &b, &l), 0);
    for (i = 0; i < l.n; i++) {
        if (l.ops[i].kind != OP_ATTN_DECODE)
            continue;
        found++;
        ck_assert_double_eq_tol(l.ops[i].shared_bytes, 3072 * kv_tok, 1e-6);
        /* keys: 4 x 2048 + 501, each read once per sequence */
        ck_assert_double_eq_tol(l.ops[i].bytes - 5 * 2.0 * 32 * 128 * 2,
                                (4 * 2048 + 501) * kv_tok, 1e-6);
    }
    ck_assert_int_eq(found, 1);
    ops_free(&l);
    batch_free(&b);
    close_pair(&p);
}
END_TEST

/* Memory-bound decode attention: the option saves exactly the repeat
 * reads over HBM, in every layer. */
START_TEST(test_roofline_saving)
{
    struct two p;
    struct batch b;
    struct cost_breakdown off, on;
    double want_ns;

    open_pair(&p, "roofline");
    shared_batch(&b, true);
    off = price(p.off, &b);
    on = price(p.on, &b);
    want_ns = p.m.num_layers * 3072.0 * (8 * 128 * 2 * 2) /
              p.dev.mem_bw_bytes_s * 1e9;
    ck_assert_double_eq_tol((double)(off.class_ns[OPC_ATTN] -
                                     on.class_ns[OPC_ATTN]), want_ns, 2.0);
    ck_assert_int_eq(off.class_ns[OPC_GEMM], on.class_ns[OPC_GEMM]);
    batch_free(&b);
    close_pair(&p);
}
END_TEST

static void same_without_sharing(const char *name)
{
    struct two p;
    struct batch b;

    open_pair(&p, name);
    shared_batch(&b, false);
    ck_assert_int_eq(price(p.off, &b).total_ns, price(p.on, &b).total_ns);
    /* a "group" of one sequence shares nothing */
    ck_assert_int_eq(batch_add_shared(&b, 1, 1024, 2047), 0);
    ck_assert_int_eq(b.n_shared, 0);
    ck_assert_int_eq(price(p.off, &b).total_ns, price(p.on, &b).total_ns);
    batch_free(&b);
    close_pair(&p);
}

START_TEST(test_no_sharing_no_change)
{
    same_without_sharing("roofline");
    same_without_sharing("calibrated");
}
END_TEST

/* Calibrated: a long prefix shared by many sequences costs less read
 * once; the option off ignores the sharing entirely. */
START_TEST(test_calibrated_saving)
{
    struct two p;
    struct batch b, plain;
    int64_t off, on, base;

    open_pair(&p, "calibrated");
    batch_init(&b);
    batch_init(&plain);
    ck_assert_int_eq(batch_add_decode(&b, 64, 8192 + 200), 0);
    ck_assert_int_eq(batch_add_decode(&plain, 64, 8192 + 200), 0);
    ck_assert_int_eq(batch_add_shared(&b, 64, 8192, 64 * 8392LL), 0);
    off = price(p.off, &b).class_ns[OPC_ATTN];
    on = price(p.on, &b).class_ns[OPC_ATTN];
    base = price(p.off, &plain).class_ns[OPC_ATTN];
    ck_assert_int_eq(off, base);
    ck_assert_msg(on < off / 2, "on %lld off %lld", (long long)on,
                  (long long)off);
    batch_free(&b);
    batch_free(&plain);
    close_pair(&p);
}
END_TEST

/* prefix manager, 10 blocks of 4 tokens, hash blocks of 4: A and B share
 * block 0 (hash 1) once A's prefill computed it; block 1 differs. */
static void hook_case(const char *name)
{
    struct llm_diag d = { 0 };
    const struct kv_ops *ops = registry_kv(name, "kv_cache", &d);
    void *st;
    uint64_t ha[] = { 1, 2 }, hb[] = { 1, 3 }, ka = 0, kb = 0;
    struct request a = { .prompt_tokens = 8, .output_tokens = 4,
        .prefix_hashes = ha, .n_prefix_hashes = 2, .prefix_block_tokens = 4 };
    struct request b = a;

    b.prefix_hashes = hb;
    ck_assert_ptr_nonnull(ops);
    ck_assert_ptr_nonnull(ops->shared_prefix);
    st = calloc(1, ops->state_size);
    ck_assert_int_eq(ops->init(st, 10, 4, NULL, "kv_cache", &d), LLM_OK);
    ck_assert(ops->grow(st, &a, 8));
    a.computed = 8;
    ck_assert(ops->grow(st, &a, 9));        /* its first decode */
    ck_assert_int_eq(ops->shared_prefix(st, &a, &ka), 0);  /* alone */
    ck_assert(ops->grow(st, &b, 8));
    ck_assert_int_eq(b.kv_hit_to, 4);
    ck_assert_int_eq(ops->shared_prefix(st, &a, &ka), 4);
    ck_assert_int_eq(ops->shared_prefix(st, &b, &kb), 4);
    ck_assert(ka == kb);
    ops->release(st, &b);
    ck_assert_int_eq(ops->shared_prefix(st, &a, &ka), 0);
    ops->release(st, &a);
    ops->fini(st);
    free(st);
}

START_TEST(test_kv_hook)
{
    hook_case("prefix");
    hook_case("radix");
    /* a manager without a cache shares nothing */
    {
        struct llm_diag d = { 0 };
        ck_assert_ptr_null(registry_kv("paged", "kv_cache", &d)
                           ->shared_prefix);
    }
}
END_TEST

/* One request caches a 2048-token prefix; 16 more (prefix + 64 tokens,
 * 32 generated) arrive at 1 s and decode together over it.  Returns the
 * run's duration. */
static double run_once(const char *on)
{
    char set[64], line[256], cfg[640], *trace;
    const char *sets[] = { set, NULL };
    struct run_opts o = { .out_dir = fx_path(on), .quiet = 1 };
    struct llm_diag d = { 0 };
    struct scenario sc;
    cJSON *summary = NULL;
    size_t len = 0, cap = 8192;
    double dur;
    int i;

    trace = calloc(1, cap);
    ck_assert_ptr_nonnull(trace);
    len += (size_t)snprintf(trace, cap, "{\"timestamp\": 0, \"input_length\""
                            ": 2048, \"output_length\": 1, \"hash_ids\": "
                            "[1, 2, 3, 4]}\n");
    for (i = 0; i < 16; i++) {
        snprintf(line, sizeof(line), "{\"timestamp\": 1000, \"input_length"
                 "\": 2112, \"output_length\": 32, \"hash_ids\": [1, 2, 3, "
                 "4, %d]}\n", 100 + i);
        ck_assert_uint_lt(len + strlen(line), cap);
        memcpy(trace + len, line, strlen(line) + 1);
        len += strlen(line);
    }
    fx_put("shared.jsonl", trace);
    free(trace);
    snprintf(cfg, sizeof(cfg), "{\"name\": \"sp\", \"model\": "
             "\"llama-3-8b\", \"hardware\": {\"device\": \"h100-sxm-80gb\"}, "
             "\"kv_cache\": {\"name\": \"prefix\"}, \"cost_model\": "
             "{\"name\": \"roofline\"}, \"workload\": {\"type\": "
             "\"mooncake\", \"path\": \"%s/shared.jsonl\"}}", fx_tmpdir);
    fx_put("sp.json", cfg);
    snprintf(set, sizeof(set), "cost_model.shared_prefix_attention=%s", on);
    ck_assert_int_eq(scenario_load(fx_path("sp.json"), sets, &sc, &d),
                     LLM_OK);
    ck_assert_msg(run_scenario(&sc, &o, &summary, NULL, &d) == LLM_OK, "%s",
                  d.msg);
    ck_assert_int_eq(cJSON_GetObjectItem(summary, "requests_completed")
                     ->valueint, 17);
    dur = cJSON_GetObjectItem(summary, "duration_s")->valuedouble;
    cJSON_Delete(summary);
    scenario_free(&sc);
    return dur;
}

START_TEST(test_run_groups_decodes)
{
    double off = run_once("false"), on = run_once("true");

    ck_assert_msg(on < off, "on %.6f s, off %.6f s", on, off);
}
END_TEST

Suite *shared_prefix_suite(void)
{
    Suite *s = suite_create("shared_prefix");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_op_bytes);
    tcase_add_test(tc, test_roofline_saving);
    tcase_add_test(tc, test_no_sharing_no_change);
    tcase_add_test(tc, test_calibrated_saving);
    tcase_add_test(tc, test_kv_hook);
    suite_add_tcase(s, tc);
    tc = tcase_create("run");
    tcase_add_checked_fixture(tc, fx_setup, fx_teardown);
    tcase_add_test(tc, test_run_groups_decodes);
    suite_add_tcase(s, tc);
    return s;
}
