/* The cost models: table interpolation at and between known points, the
 * monotonicity and roofline floor of calibrated prices, the fixed cost of
 * an empty batch, the eager engine's host model, and `llmsim step`'s
 * handling of bad lines. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_rng.h>

#include "hw/calib.h"
#include "hw/cost.h"
#include "base/paths.h"
#include "tests/fixture.h"
#include "tests/suites.h"

#define HDR "# source: test fixture\n"

/* A tiny table set whose values the tests know. */
static void write_tables(void)
{
    fx_put("gemm_bf16.csv", HDR "m,n,k,time_us\n1,4096,4096,20\n"
           "8,4096,4096,25\n16,4096,4096,21\n256,4096,4096,30\n"
           "448,4096,4096,60\n512,4096,4096,40\n4096,4096,4096,250\n");
    fx_put("gemm_fp8.csv", HDR "m,n,k,time_us\n1,4096,4096,12\n"
           "4096,4096,4096,140\n");
    fx_put("attn_prefill.csv", HDR "num_q_heads,num_kv_heads,head_dim,"
           "q_tokens,prior_ctx,time_us\n32,8,128,16,0,6\n32,8,128,16,1024,9\n"
           "32,8,128,256,0,20\n32,8,128,256,1024,40\n");
    fx_put("attn_decode.csv", HDR "num_q_heads,num_kv_heads,head_dim,batch,"
           "ctx,time_us\n32,8,128,1,128,8\n32,8,128,1,1024,12\n"
           "32,8,128,8,128,14\n32,8,128,8,1024,30\n");
    fx_put("elementwise.csv", HDR "op,tokens,width,time_us\n"
           "rmsnorm,1,4096,3\nrmsnorm,1024,4096,9\n");
    fx_put("launch.csv", HDR "what,time_us\ngraph_replay_empty,2.0\n");
}

static struct device h100(void)
{
    struct llm_diag d = { 0 };
    struct device dev;

    ck_assert_int_eq(device_find(llm_root(), "h100-sxm-80gb", &dev, &d), 0);
    return dev;
}

START_TEST(test_known_points)
{
    struct device dev = h100();
    struct llm_diag d = { 0 };
    struct calib *c = NULL;
    bool x = false;
    double mid;

    write_tables();
    ck_assert_msg(calib_load(fx_tmpdir, &dev, &c, &d) == 0, "%s", d.msg);
    /* at measured points: the measured time, not flagged */
    ck_assert_double_eq_tol(calib_gemm_s(c, DT_BF16, 16, 4096, 4096, &x),
                            21e-6, 1e-12);
    ck_assert_double_eq_tol(calib_gemm_s(c, DT_BF16, 256, 4096, 4096, &x),
                            30e-6, 1e-12);
    ck_assert_double_eq_tol(calib_attn_prefill_s(c, 32, 8, 128, 256, 1024,
                                                 &x), 40e-6, 1e-12);
    ck_assert_double_eq_tol(calib_attn_decode_s(c, 32, 8, 128, 8, 128, &x),
                            14e-6, 1e-12);
    ck_assert_double_eq_tol(calib_elem_s(c, "rmsnorm", 1024, 4096, &x),
                            9e-6, 1e-12);
    ck_assert(!x);
    /* between points: log time linear in log m, here at m = 64, a third
     * of the way from 16 to 256 in log space... exactly half: log2 64 is
     * halfway between log2 16 and log2 256 */
    mid = exp(0.5 * (log(21e-6) + log(30e-6)));
    ck_assert_double_eq_tol(calib_gemm_s(c, DT_BF16, 64, 4096, 4096, &x),
                            mid, 1e-12);
    ck_assert(!x);
    /* outside the table: flagged, never invented silently */
    calib_gemm_s(c, DT_BF16, 8192, 4096, 4096, &x);
    ck_assert(x);
    x = false;
    calib_gemm_s(c, DT_BF16, 64, 5120, 4096, &x);   /* unmeasured shape */
    ck_assert(x);
    ck_assert_double_eq_tol(calib_launch_s(c, "graph_replay_empty"), 2e-6,
                            1e-15);
    calib_free(c);
}
END_TEST

/* GEMMs are priced as measured where compute-bound (the engine calls
 * torch.mm at the batch's own M: M=448 may cost more than M=512), and
 * enveloped where memory-bound (a slower small M is the benchmark's). */
START_TEST(test_gemm_as_measured)
{
    struct device dev = h100();
    struct llm_diag d = { 0 };
    struct calib *c = NULL;
    bool x = false;

    write_tables();
    ck_assert_msg(calib_load(fx_tmpdir, &dev, &c, &d) == 0, "%s", d.msg);
    ck_assert_double_eq_tol(calib_gemm_s(c, DT_BF16, 448, 4096, 4096, &x),
                            60e-6, 1e-12);
    ck_assert_double_eq_tol(calib_gemm_s(c, DT_BF16, 512, 4096, 4096, &x),
                            40e-6, 1e-12);
    ck_assert_double_eq_tol(calib_gemm_s(c, DT_BF16, 8, 4096, 4096, &x),
                            21e-6, 1e-12);
    ck_assert(!x);
    calib_free(c);
}
END_TEST

/* A malformed table names its file and line. */
START_TEST(test_bad_table)
{
    struct device dev = h100();
    struct llm_diag d = { 0 };
    struct calib *c = NULL;

    write_tables();
    fx_put("gemm_fp8.csv", HDR "m,n,k,time_us\n1,4096,4096,12\n"
           "4096,4096,x,140\n");
    ck_assert_int_eq(calib_load(fx_tmpdir, &dev, &c, &d), LLM_EINVAL);
    ck_assert_ptr_null(c);
    ck_assert(strstr(d.msg, "gemm_fp8.csv: line 4: k: expected a "
                     "non-negative number, got \"x\"") != NULL);
}
END_TEST

struct priced {
    struct model m;
    struct device dev;
    struct cost_env env;
    struct cost_model *cal, *roof;
};

static void open_models(struct priced *p)
{
    struct llm_diag d = { 0 };
    cJSON *roof = cJSON_Parse("{\"name\": \"roofline\"}");

    ck_assert_int_eq(model_find(llm_root(), "llama-3-8b", &p->m, &d), 0);
    p->dev = h100();
    p->env = (struct cost_env){ .model = &p->m, .dev = &p->dev,
        .root = llm_root(),
        .shard = { .tp = 1, .w_bytes = 2, .a_bytes = 2, .kv_bytes = 2 } };
    ck_assert_msg(cost_create(&p->env, NULL, "cost_model", &p->cal, &d) == 0,
                  "%s", d.msg);
    ck_assert_str_eq(cost_name(p->cal), "calibrated");
    ck_assert_int_eq(cost_create(&p->env, roof, "cost_model", &p->roof, &d),
                     0);
    cJSON_Delete(roof);
}

static void close_models(struct priced *p)
{
    cost_destroy(p->cal);
    cost_destroy(p->roof);
}

static int64_t price(struct cost_model *c, struct batch *b)
{
    struct cost_breakdown bd;

    ck_assert_int_eq(cost_price(c, b, &bd), 0);
    return bd.total_ns;
}

/* More context never costs less; more tokens or sequences never cost less
 * while the GEMMs are memory-bound (test_gemm_as_measured: above, as measured). */
START_TEST(test_monotone)
{
    struct priced p;
    struct batch b;
    int64_t last = 0, t;
    int32_t n;

    open_models(&p);
    batch_init(&b);
    /* tokens: up to 256, where every GEMM of the model is memory-bound
     * (above, a measured M may cost more than a larger one) */
    for (n = 1; n <= 256; n += 13) {
        batch_clear(&b);
        batch_add_prefill(&b, n, 0, 1);
        t = price(p.cal, &b);
        ck_assert_msg(t >= last, "prefill %d tokens: %lld < %lld", n,
                      (long long)t, (long long)last);
        last = t;
    }
    for (last = 0, n = 0; n <= 7600; n += 97) {
        batch_clear(&b);
        batch_add_prefill(&b, 512, n, 1);
        t = price(p.cal, &b);
        ck_assert_msg(t >= last, "prior %d: %lld < %lld", n, (long long)t,
                      (long long)last);
        last = t;
    }
    for (last = 0, n = 1; n <= 256; n += 3) {
        batch_clear(&b);
        batch_add_decode(&b, n, 1000);
        t = price(p.cal, &b);
        ck_assert_msg(t >= last, "decode %d seqs: %lld < %lld", n,
                      (long long)t, (long long)last);
        last = t;
    }
    for (last = 0, n = 0; n <= 32000; n += 131) {
        batch_clear(&b);
        batch_add_decode(&b, 64, n);
        t = price(p.cal, &b);
        ck_assert_msg(t >= last, "decode ctx %d: %lld < %lld", n,
                      (long long)t, (long long)last);
        last = t;
    }
    batch_free(&b);
    close_models(&p);
}
END_TEST

/* Ragged decode attention (FA2's schedule, hw/cost_calib.c): groups of
 * equal context price as one group; a GQA batch whose longest sequence
 * runs alone costs more than the uniform batch of the same total context
 * (its KV heads' CTAs walk 8000 keys while the others are done). */
START_TEST(test_ragged_decode)
{
    struct priced p;
    struct batch b;
    int64_t one, two, ragged, uniform;

    open_models(&p);
    batch_init(&b);
    batch_add_decode(&b, 32, 1000);
    one = price(p.cal, &b);
    batch_clear(&b);
    batch_add_decode(&b, 20, 1000);
    batch_add_decode(&b, 12, 1000);
    two = price(p.cal, &b);
    ck_assert_int_eq(one, two);
    batch_clear(&b);
    batch_add_decode(&b, 31, 100);
    batch_add_decode(&b, 1, 8000);
    ragged = price(p.cal, &b);
    batch_clear(&b);
    batch_add_decode(&b, 32, (100 * 31 + 8000) / 32);
    uniform = price(p.cal, &b);
    ck_assert_msg(ragged > uniform * 1.05, "ragged %lld, uniform %lld",
                  (long long)ragged, (long long)uniform);
    batch_free(&b);
    close_models(&p);
}
END_TEST

/* One varlen prefill launch: chunks too small to fill the GPU run side by
 * side (eight 64-token chunks of Llama-3-8B are 8 x 32 = 256 CTAs, under
 * the 264 slots, so they take as long as one), chunks that fill it alone
 * add up (two 4096-token chunks, 32 x 32 CTAs each). */
START_TEST(test_prefill_launch_overlap)
{
    struct priced p;
    struct batch b;
    struct cost_breakdown one, many;
    int i;

    open_models(&p);
    batch_init(&b);
    batch_add_prefill(&b, 64, 0, 1);
    ck_assert_int_eq(cost_price(p.cal, &b, &one), 0);
    batch_clear(&b);
    for (i = 0; i < 8; i++)
        batch_add_prefill(&b, 64, 0, 1);
    ck_assert_int_eq(cost_price(p.cal, &b, &many), 0);
    ck_assert_int_eq(many.class_ns[OPC_ATTN], one.class_ns[OPC_ATTN]);
    batch_clear(&b);
    batch_add_prefill(&b, 4096, 0, 1);
    ck_assert_int_eq(cost_price(p.cal, &b, &one), 0);
    batch_add_prefill(&b, 4096, 0, 1);
    ck_assert_int_eq(cost_price(p.cal, &b, &many), 0);
    ck_assert_msg(many.class_ns[OPC_ATTN] > 1.9 * one.class_ns[OPC_ATTN],
                  "two large chunks %lld, one %lld",
                  (long long)many.class_ns[OPC_ATTN],
                  (long long)one.class_ns[OPC_ATTN]);
    batch_free(&b);
    close_models(&p);
}
END_TEST

/* 32 Llama-3-8B decodes launch 256 CTAs (8 KV heads) on 132 SMs: CTA id
 * shares an SM with id + 132, i.e. sequence s (head h) with sequence
 * s + 4 (head h + 4).  Two long sequences 4 apart keep their SMs busy
 * with two long CTAs each; 1 apart they never meet on an SM, and the
 * launch drains sooner.  Same contexts, different order. */
START_TEST(test_decode_sm_pairs)
{
    struct priced p;
    struct batch b;
    int64_t paired, apart;
    int i;

    open_models(&p);
    batch_init(&b);
    for (i = 0; i < 32; i++)
        batch_add_decode(&b, 1, i == 0 || i == 4 ? 8000 : 300);
    paired = price(p.cal, &b);
    batch_clear(&b);
    for (i = 0; i < 32; i++)
        batch_add_decode(&b, 1, i == 0 || i == 1 ? 8000 : 300);
    apart = price(p.cal, &b);
    ck_assert_msg(paired > apart, "paired %lld, apart %lld",
                  (long long)paired, (long long)apart);
    batch_free(&b);
    close_models(&p);
}
END_TEST

/* Random batches: the calibrated price is never below the roofline. */
START_TEST(test_roofline_floor)
{
    struct priced p;
    struct batch b;
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    int i, j;

    open_models(&p);
    batch_init(&b);
    gsl_rng_set(rng, 7);
    for (i = 0; i < 300; i++) {
        batch_clear(&b);
        for (j = (int)gsl_rng_uniform_int(rng, 4); j > 0; j--)
            batch_add_prefill(&b, 1 + (int32_t)gsl_rng_uniform_int(rng, 4000),
                              (int32_t)gsl_rng_uniform_int(rng, 4000), 1);
        for (j = (int)gsl_rng_uniform_int(rng, 40); j > 0; j--)
            batch_add_decode(&b, 1 + (int32_t)gsl_rng_uniform_int(rng, 16),
                             (int32_t)gsl_rng_uniform_int(rng, 8000));
        if (batch_tokens(&b) == 0)
            continue;
        ck_assert_int_ge(price(p.cal, &b), price(p.roof, &b));
    }
    gsl_rng_free(rng);
    batch_free(&b);
    close_models(&p);
}
END_TEST

START_TEST(test_empty_batch)
{
    struct priced p;
    struct batch b;
    struct cost_breakdown bd;
    int k;

    open_models(&p);
    batch_init(&b);
    ck_assert_int_eq(cost_price(p.cal, &b, &bd), 0);
    ck_assert_int_gt(bd.fixed_ns, 0);
    ck_assert_int_eq(bd.total_ns, bd.fixed_ns);
    for (k = 0; k < OPC_COUNT; k++)
        ck_assert_int_eq(bd.class_ns[k], 0);
    batch_free(&b);
    close_models(&p);
}
END_TEST

/* CUDA-graph padding (sim/batch.h pad_tokens) runs the dense kernels and
 * nothing else: 3 decodes padded by 1 price their GEMMs as 3 decodes and
 * a 1-token chunk that samples nothing (the LM head sees 3 rows in both)
 * and their attention as 3 decodes. */
START_TEST(test_pad_rows)
{
    struct priced p;
    struct batch b3, b4;
    struct cost_breakdown x3, x4, xp;

    open_models(&p);
    batch_init(&b3);
    batch_init(&b4);
    ck_assert_int_eq(batch_add_decode(&b3, 3, 700), 0);
    ck_assert_int_eq(batch_add_decode(&b4, 3, 700), 0);
    ck_assert_int_eq(batch_add_prefill(&b4, 1, 0, 0), 0);
    ck_assert_int_eq(cost_price(p.roof, &b3, &x3), 0);
    ck_assert_int_eq(cost_price(p.roof, &b4, &x4), 0);
    b3.pad_tokens = 1;
    ck_assert_int_eq(batch_rows(&b3), 4);
    ck_assert_int_eq(cost_price(p.roof, &b3, &xp), 0);
    ck_assert_int_gt(x4.class_ns[OPC_GEMM], x3.class_ns[OPC_GEMM]);
    ck_assert_int_eq(xp.class_ns[OPC_GEMM], x4.class_ns[OPC_GEMM]);
    ck_assert_int_eq(xp.class_ns[OPC_ATTN], x3.class_ns[OPC_ATTN]);
    ck_assert_int_gt(xp.total_ns, x3.total_ns);
    batch_free(&b3);
    batch_free(&b4);
    close_models(&p);
}
END_TEST

/* cost_model.time_scale multiplies the total, for every model, and is
 * not one of the model's own keys. */
START_TEST(test_time_scale)
{
    struct priced p;
    struct llm_diag d = { 0 };
    struct cost_model *c = NULL;
    struct batch b;
    struct cost_breakdown x, y;
    cJSON *on = cJSON_Parse("{\"name\": \"roofline\", \"time_scale\": 1.03}");
    cJSON *bad = cJSON_Parse("{\"time_scale\": 0}");
    cJSON *typo = cJSON_Parse("{\"time_scale\": 2, \"timescale\": 2}");

    open_models(&p);
    batch_init(&b);
    ck_assert_int_eq(batch_add_prefill(&b, 512, 0, 1), 0);
    ck_assert_msg(cost_create(&p.env, on, "cost_model", &c, &d) == 0, "%s",
                  d.msg);
    ck_assert_int_eq(cost_price(p.roof, &b, &x), 0);
    ck_assert_int_eq(cost_price(c, &b, &y), 0);
    ck_assert_int_eq(y.total_ns, llround((double)x.total_ns * 1.03));
    ck_assert_int_eq(y.class_ns[OPC_GEMM], x.class_ns[OPC_GEMM]);
    cost_destroy(c);
    c = NULL;
    ck_assert_int_ne(cost_create(&p.env, bad, "cost_model", &c, &d), 0);
    ck_assert_str_eq(d.msg, "cost_model.time_scale: expected a number in "
                     "[0.01, 100], got 0");
    d = (struct llm_diag){ 0 };
    ck_assert_int_ne(cost_create(&p.env, typo, "cost_model", &c, &d), 0);
    ck_assert_msg(strncmp(d.msg, "cost_model.timescale: unknown key (known: "
                          "name, cpu_overhead_us", 63) == 0, "%s", d.msg);
    batch_free(&b);
    cJSON_Delete(on);
    cJSON_Delete(bad);
    cJSON_Delete(typo);
    close_models(&p);
}
END_TEST

/* Eager execution (hw/cost_calib.c): a host-bound batch takes the host's
 * dispatch time, a GPU-bound one the GPU's plus one layer's dispatch and
 * the input prep; a bad mode names the key. */
START_TEST(test_eager)
{
    struct priced p;
    struct llm_diag d = { 0 };
    struct cost_model *eager = NULL;
    struct calib *tab = NULL;
    struct batch b;
    struct cost_breakdown g, e;
    cJSON *on = cJSON_Parse("{\"execution\": \"eager\"}");
    cJSON *bad = cJSON_Parse("{\"execution\": \"fast\"}");
    char dir[1200];
    double cl, cp, prep, excess;
    int64_t gsum;
    int k;

    open_models(&p);
    snprintf(dir, sizeof(dir), "%s/%s", llm_root(), p.dev.calib_dir);
    ck_assert_int_eq(calib_load(dir, &p.dev, &tab, &d), 0);
    ck_assert(calib_has_eager(tab));
    cl = calib_eager_s(tab, "dispatch_layer_decode") * 1e9;
    cp = calib_eager_s(tab, "dispatch_layer_prefill") * 1e9;
    ck_assert_msg(cost_create(&p.env, on, "cost_model", &eager, &d) == 0,
                  "%s", d.msg);
    batch_init(&b);
    /* one decode: ~6 ms of GPU, over 10 ms of Python dispatch */
    ck_assert_int_eq(batch_add_decode(&b, 1, 512), 0);
    ck_assert_int_eq(cost_price(p.cal, &b, &g), 0);
    ck_assert_int_eq(cost_price(eager, &b, &e), 0);
    prep = (calib_eager_s(tab, "prep_base") + calib_eager_s(tab,
            "prep_per_seq") + calib_eager_s(tab, "prep_per_token")) * 1e9;
    ck_assert_msg(32 * cl > g.total_ns, "dispatch %.0f vs gpu %lld",
                  32 * cl, (long long)g.total_ns);
    ck_assert(e.total_ns >= 32 * cl + prep - 1);
    ck_assert(e.total_ns <= 32 * cl + prep + g.total_ns);
    for (k = 0; k < OPC_COUNT; k++)   /* the GPU's own times unchanged */
        ck_assert_int_eq(e.class_ns[k], g.class_ns[k]);
    /* an 8192-token prefill: GPU-bound; the host adds its prep and at
     * most one layer's dispatch (only the kernels dispatched before the
     * GPU has work are not hidden) */
    batch_clear(&b);
    ck_assert_int_eq(batch_add_prefill(&b, 8192, 0, 1), 0);
    ck_assert_int_eq(cost_price(p.cal, &b, &g), 0);
    ck_assert_int_eq(cost_price(eager, &b, &e), 0);
    prep = (calib_eager_s(tab, "prep_base") + calib_eager_s(tab,
            "prep_per_seq") + 8192 * calib_eager_s(tab, "prep_per_token")) *
           1e9;
    for (gsum = 0, k = 0; k < OPC_COUNT; k++)
        gsum += g.class_ns[k];
    excess = (double)(e.total_ns - gsum);
    ck_assert_msg(excess >= prep - 1 && excess <= prep + cp + 1,
                  "excess %.0f ns, expected prep %.0f + at most %.0f", excess,
                  prep, cp);
    cost_destroy(eager);
    eager = NULL;
    ck_assert_int_ne(cost_create(&p.env, bad, "cost_model", &eager, &d), 0);
    ck_assert_str_eq(d.msg, "cost_model.execution: expected \"graph\" or "
                     "\"eager\", got \"fast\"");
    batch_free(&b);
    calib_free(tab);
    cJSON_Delete(on);
    cJSON_Delete(bad);
    close_models(&p);
}
END_TEST

/* A bad stdin line gets one message with its number; the others are
 * answered, and the exit status is 2. */
START_TEST(test_step_errors)
{
    const char *bin = getenv("LLMSIM_BIN");
    char cmd[2048], line[512];
    const char *in, *out, *err;
    FILE *f;
    int answers = 0, status;

    if (bin == NULL) {
        fx_skip("cost: step_errors", "LLMSIM_BIN unset (make test sets it)");
        return;
    }
    in = fx_put("in.jsonl", "{\"prefill\": [[128, 0]]}\nnot json\n"
                "{\"prefill\": [[0, 5]]}\n{\"decode\": [[4, 100]], \"x\": 1}\n"
                "{\"decode\": [[8, 512]]}\n"
                "{\"decode\": [[3, 512]], \"pad\": 1, \"graph\": \"full\"}\n"
                "{\"decode\": [[3, 512]], \"graph\": \"fast\"}\n");
    out = fx_path("out.jsonl");
    err = fx_path("err.txt");
    snprintf(cmd, sizeof(cmd), "%s step --model llama-3-8b --hw "
             "h100-sxm-80gb < %s > %s 2> %s", bin, in, out, err);
    status = system(cmd);
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 2);
    f = fopen(out, "r");
    while (fgets(line, sizeof(line), f))
        answers += strstr(line, "\"ms\":") != NULL;
    fclose(f);
    ck_assert_int_eq(answers, 3);
    f = fopen(err, "r");
    ck_assert_ptr_nonnull(fgets(line, sizeof(line), f));
    ck_assert_str_eq(line, "llmsim step: stdin:2: not valid JSON\n");
    ck_assert_ptr_nonnull(fgets(line, sizeof(line), f));
    ck_assert_str_eq(line, "llmsim step: stdin:3: prefill[0]: expected "
                     "[tokens >= 1, prior >= 0] with tokens + prior <= "
                     "16777216\n");
    ck_assert_ptr_nonnull(fgets(line, sizeof(line), f));
    ck_assert_str_eq(line, "llmsim step: stdin:4: x: unknown key (known: "
                     "prefill, decode, decode_ctx, pad, graph)\n");
    ck_assert_ptr_nonnull(fgets(line, sizeof(line), f));
    ck_assert_str_eq(line, "llmsim step: stdin:7: graph: expected \"full\", "
                     "\"piecewise\" or \"none\", got \"fast\"\n");
    fclose(f);
}
END_TEST

Suite *cost_suite(void)
{
    Suite *s = suite_create("cost");
    TCase *tc = tcase_create("core");

    tcase_add_checked_fixture(tc, fx_setup, fx_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_known_points);
    tcase_add_test(tc, test_bad_table);
    tcase_add_test(tc, test_monotone);
    tcase_add_test(tc, test_gemm_as_measured);
    tcase_add_test(tc, test_ragged_decode);
    tcase_add_test(tc, test_decode_sm_pairs);
    tcase_add_test(tc, test_prefill_launch_overlap);
    tcase_add_test(tc, test_roofline_floor);
    tcase_add_test(tc, test_empty_batch);
    tcase_add_test(tc, test_eager);
    tcase_add_test(tc, test_pad_rows);
    tcase_add_test(tc, test_time_scale);
    tcase_add_test(tc, test_step_errors);
    suite_add_tcase(s, tc);
    return s;
}
