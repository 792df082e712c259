/* tests/check_engine.c: engine profiles (hw/engine.h), their pricing, and
 * llmsim calibrate (hw/engine_fit.h, cli/calibrate.h). */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "cli/calibrate.h"
#include "cli/step.h"
#include "cli/validate_engines.h"
#include "hw/cost.h"
#include "hw/engine.h"
#include "hw/engine_fit.h"
#include "base/paths.h"
#include "tests/fixture.h"
#include "tests/suites.h"

struct env8b {
    struct model m;
    struct device dev;
    struct cost_env env;
};

static void open_env(struct env8b *e, const char *model, const char *dev)
{
    struct llm_diag d = { 0 };

    ck_assert_int_eq(model_find(llm_root(), model, &e->m, &d), 0);
    ck_assert_int_eq(device_find(llm_root(), dev, &e->dev, &d), 0);
    e->env = (struct cost_env){ .model = &e->m, .dev = &e->dev,
        .root = llm_root(),
        .shard = { .tp = 1, .w_bytes = 2, .a_bytes = 2, .kv_bytes = 2 } };
}

static void add_batch(struct batch *b, const char *json)
{
    struct llm_diag d = { 0 };
    cJSON *o = cJSON_Parse(json);

    ck_assert_ptr_nonnull(o);
    ck_assert_msg(step_parse_batch(o, b, &d) == LLM_OK, "%s", d.msg);
    cJSON_Delete(o);
}

static int64_t price_ns(const struct cost_env *env, const struct engine *e,
                        const cJSON *params, const char *json)
{
    struct cost_env ce = *env;
    struct cost_model *cm = NULL;
    struct cost_breakdown bd;
    struct llm_diag d = { 0 };
    struct batch b;

    ce.engine = e;
    ck_assert_msg(cost_create(&ce, params, "cost_model", &cm, &d) == 0,
                  "%s", d.msg);
    batch_init(&b);
    add_batch(&b, json);
    ck_assert_int_eq(cost_price(cm, &b, &bd), LLM_OK);
    batch_free(&b);
    cost_destroy(cm);
    return bd.total_ns;
}

static const char *const shapes[] = {
    "{\"prefill\":[[512,0]]}",
    "{\"prefill\":[[128,0],[128,0],[128,0],[128,0]]}",
    "{\"decode\":[[64,1024]]}",
    "{\"decode_ctx\":[8191,100,200,300,400,500,600,700,800,900]}",
    "{\"prefill\":[[256,3840]],\"decode\":[[32,512]]}",
};

/* hw/engines/reference.json prices exactly as no profile (the tables). */
START_TEST(test_reference_unchanged)
{
    struct env8b e;
    struct engine ref;
    struct llm_diag d = { 0 };
    cJSON *eager = cJSON_Parse("{\"execution\": \"eager\"}");

    open_env(&e, "llama-3-8b", "h100-sxm-80gb");
    ck_assert_msg(engine_load(llm_root(), "reference", e.dev.id, "engine",
                              &ref, &d) == 0, "%s", d.msg);
    for (size_t i = 0; i < sizeof(shapes) / sizeof(*shapes); i++) {
        ck_assert_int_eq(price_ns(&e.env, NULL, NULL, shapes[i]),
                         price_ns(&e.env, &ref, NULL, shapes[i]));
        ck_assert_int_eq(price_ns(&e.env, NULL, eager, shapes[i]),
                         price_ns(&e.env, &ref, eager, shapes[i]));
    }
    cJSON_Delete(eager);
}
END_TEST

/* engine_to_json then engine_from_json gives back the same profile. */
START_TEST(test_round_trip)
{
    struct engine a, b;
    struct llm_diag d = { 0 };
    cJSON *j;

    engine_reference(&a);
    a.elem = ENG_ELEM_UNFUSED;
    a.qkv_separate = true;
    a.prefill = ENG_ATTN_SDPA;
    a.decode = ENG_ATTN_SPLIT_KV;
    a.exec = ENG_EXEC_PIECEWISE;
    a.async = true;
    a.eager_table = false;
    a.p = (struct engine_params){ 1.1, 0.9, 0.7, 1.4, 0.6, 12.5, 150, 22 };
    j = engine_to_json(&a);
    ck_assert_ptr_nonnull(j);
    ck_assert_int_eq(engine_from_json(j, "engine", NULL, &b, &d), LLM_OK);
    cJSON_Delete(j);
    ck_assert_int_eq(b.elem, a.elem);
    ck_assert(b.qkv_separate && !b.gate_up_separate);
    ck_assert_int_eq(b.prefill, a.prefill);
    ck_assert_int_eq(b.decode, a.decode);
    ck_assert_int_eq(b.exec, a.exec);
    ck_assert(b.async && !b.eager_table);
    for (int i = 0; i < ENGINE_N_PARAMS; i++)
        ck_assert_double_eq(*engine_param(&b.p, i), *engine_param(&a.p, i));
    ck_assert_str_eq(b.id, "reference");
}
END_TEST

/* Per-device parameters override the profile's own. */
START_TEST(test_device_params)
{
    struct engine e;
    struct llm_diag d = { 0 };
    cJSON *j = cJSON_Parse("{\"params\": {\"gemm\": 1.2}, \"devices\": "
                           "{\"h200-sxm-141gb\": {\"params\": {\"gemm\": "
                           "0.9}}}}");

    ck_assert_int_eq(engine_from_json(j, "engine", "h100-sxm-80gb", &e, &d),
                     0);
    ck_assert_double_eq(e.p.gemm, 1.2);
    ck_assert_int_eq(engine_from_json(j, "engine", "h200-sxm-141gb", &e, &d),
                     0);
    ck_assert_double_eq(e.p.gemm, 0.9);
    cJSON_Delete(j);
}
END_TEST

static void bad_profile(const char *json, const char *msg)
{
    struct engine e;
    struct llm_diag d = { 0 };
    cJSON *j = cJSON_Parse(json);

    ck_assert_ptr_nonnull(j);
    ck_assert_int_eq(engine_from_json(j, "engine", NULL, &e, &d),
                     LLM_EINVAL);
    ck_assert_str_eq(d.msg, msg);
    cJSON_Delete(j);
}

START_TEST(test_errors)
{
    struct engine e;
    struct llm_diag d = { 0 };

    bad_profile("{\"structure\": {\"decode_attention\": \"flash\"}}",
                "engine.structure.decode_attention: expected one of "
                "\"fa2_varlen\", \"vllm_triton\", \"sglang_triton\", "
                "\"split_kv\", \"sdpa\", \"flashdecoding_pp\"");
    bad_profile("{\"params\": {\"gemm\": 0}}",
                "engine.params.gemm: expected a number in [0.001, 100], "
                "got 0");
    bad_profile("{\"structure\": {\"fused\": true}}",
                "engine.structure.fused: unknown key (known: elementwise, "
                "qkv, gate_up, gemm, prefill_attention, decode_attention, "
                "execution, eager_host, async)");
    bad_profile("[1]", "engine: expected a profile object");
    ck_assert_int_eq(engine_load(llm_root(), "no-such", NULL, "--engine",
                                 &e, &d), LLM_EINVAL);
    ck_assert_str_eq(d.msg, "--engine: unknown engine \"no-such\" (no "
                     "hw/engines/no-such.json)");
    d = (struct llm_diag){ 0 };
    ck_assert_int_eq(engine_load(llm_root(), "..", NULL, "--engine", &e,
                                 &d), LLM_EINVAL);
    ck_assert(strstr(d.msg, "expected a profile id") != NULL);
    d = (struct llm_diag){ 0 };
    ck_assert_int_eq(engine_load(llm_root(), fx_path("missing.json"), NULL,
                                 "engine", &e, &d), LLM_EINVAL);
    ck_assert(strstr(d.msg, "missing.json") != NULL);
}
END_TEST

/* Each structural choice moves the price the way its mechanism says. */
START_TEST(test_mechanisms)
{
    struct env8b e;
    struct engine ref, x;
    const char *ragged = "{\"decode_ctx\":[16000,256,256,256,256,256,256,"
                         "256,256,256,256,256,256,256,256,256,256,256,256,"
                         "256,256,256,256,256,256,256,256,256,256,256,256,"
                         "256,256]}";

    open_env(&e, "llama-3-8b", "h100-sxm-80gb");
    engine_reference(&ref);
    /* unfused element-wise kernels: more launches, more traffic */
    x = ref;
    x.elem = ENG_ELEM_UNFUSED;
    ck_assert_int_gt(price_ns(&e.env, &x, NULL, shapes[0]),
                     price_ns(&e.env, &ref, NULL, shapes[0]));
    /* a balanced split-KV launch is cheaper on a batch with one long
     * sequence than FA2's plain kernel, which streams it alone */
    x = ref;
    x.decode = ENG_ATTN_SPLIT_KV;
    ck_assert_int_lt(price_ns(&e.env, &x, NULL, ragged),
                     price_ns(&e.env, &ref, NULL, ragged));
    /* and, streaming the KV at the measured read bandwidth, cheaper than
     * FA2's ~60% of it on a uniform batch too, but not below roofline */
    ck_assert_int_lt(price_ns(&e.env, &x, NULL, shapes[2]),
                     price_ns(&e.env, &ref, NULL, shapes[2]));
    /* SDPA per chunk pays each chunk's floor: dearer than one varlen call */
    x = ref;
    x.prefill = ENG_ATTN_SDPA;
    ck_assert_int_gt(price_ns(&e.env, &x, NULL, shapes[1]),
                     price_ns(&e.env, &ref, NULL, shapes[1]));
    /* async host time hides behind a long GPU iteration */
    x = ref;
    x.p.iter_us = 500;
    ck_assert_int_eq(price_ns(&e.env, &x, NULL, shapes[0]) -
                     price_ns(&e.env, &ref, NULL, shapes[0]), 500000);
    x.async = true;
    ck_assert_int_eq(price_ns(&e.env, &x, NULL, shapes[0]),
                     price_ns(&e.env, &ref, NULL, shapes[0]));
    /* scales multiply their class */
    x = ref;
    x.p.gemm = 2;
    ck_assert_int_gt(price_ns(&e.env, &x, NULL, shapes[0]),
                     price_ns(&e.env, &ref, NULL, shapes[0]) * 3 / 2);
}
END_TEST

/* FlashDecoding++: attention without the synchronized softmax update
 * (0.8 of FA2's price on a uniform batch), and flat GEMMs below 64 rows faster than
 * the table but never faster than streaming the weights. */
START_TEST(test_flashdecoding_pp)
{
    struct env8b e;
    struct engine fd, fdpp;
    struct cost_env ce;
    struct cost_model *cm = NULL;
    struct cost_breakdown a, b;
    struct llm_diag d = { 0 };
    struct batch bt;

    open_env(&e, "llama-3-8b", "h100-sxm-80gb");
    engine_reference(&fd);         /* FA2's kernels: the baseline */
    fdpp = fd;
    fdpp.prefill = fdpp.decode = ENG_ATTN_FDPP;
    ce = e.env;
    ce.engine = &fd;
    ck_assert_int_eq(cost_create(&ce, NULL, "c", &cm, &d), 0);
    batch_init(&bt);
    add_batch(&bt, "{\"decode\":[[16,4000]]}");
    ck_assert_int_eq(cost_price(cm, &bt, &a), 0);
    ck_assert_int_eq(cost_set_engine(cm, &fdpp), 0);
    ck_assert_int_eq(cost_price(cm, &bt, &b), 0);
    ck_assert(fabs((double)b.class_ns[OPC_ATTN] / a.class_ns[OPC_ATTN] - 0.8)
              < 1e-3);
    ck_assert_int_eq(b.class_ns[OPC_GEMM], a.class_ns[OPC_GEMM]);
    /* flat GEMM: faster at 16 rows, at most the published 1.52x, and
     * unchanged at 512 */
    fdpp.flat_gemm = true;
    ck_assert_int_eq(cost_set_engine(cm, &fdpp), 0);
    ck_assert_int_eq(cost_price(cm, &bt, &b), 0);
    ck_assert_int_lt(b.class_ns[OPC_GEMM], a.class_ns[OPC_GEMM]);
    ck_assert_int_ge(b.class_ns[OPC_GEMM] * 152 / 100,
                     a.class_ns[OPC_GEMM] - 1000);
    batch_clear(&bt);
    add_batch(&bt, "{\"prefill\":[[512,0]]}");
    ck_assert_int_eq(cost_price(cm, &bt, &b), 0);
    ck_assert_int_eq(cost_set_engine(cm, &fd), 0);
    ck_assert_int_eq(cost_price(cm, &bt, &a), 0);
    /* only the LM head (one row) is flat */
    ck_assert(a.class_ns[OPC_GEMM] - b.class_ns[OPC_GEMM] > 0);
    ck_assert(a.class_ns[OPC_GEMM] - b.class_ns[OPC_GEMM] <
              a.class_ns[OPC_GEMM] / 100);
    batch_free(&bt);
    cost_destroy(cm);
}
END_TEST

/* Iteration times made by a known profile are fitted back: the structure
 * and every parameter within its reported uncertainty (twice), and the
 * other batches predicted within 1%. */
START_TEST(test_calibrate_recovers)
{
    static const char *const more[] = {
        "{\"prefill\":[[1536,0]]}", "{\"decode\":[[8,2048]]}",
        "{\"decode\":[[96,1024]]}", "{\"prefill\":[[1024,2048]]}",
        "{\"prefill\":[[512,0]],\"decode\":[[16,4000]]}" };
    struct env8b e;
    struct engine truth;
    struct fit_line lines[VALIDATE_ENGINES_NCALIB + 5];
    struct fit_result r;
    struct llm_diag d = { 0 };
    size_t n = 0, i;

    open_env(&e, "llama-3-8b", "h100-sxm-80gb");
    engine_reference(&truth);
    truth.elem = ENG_ELEM_UNFUSED;
    truth.decode = ENG_ATTN_SPLIT_KV;
    truth.p = (struct engine_params){ 1.08, 0.8, 1.15, 1.2, 1, 12, 150, 0 };
    for (i = 0; i < VALIDATE_ENGINES_NCALIB + 5; i++, n++) {
        const char *s = i < VALIDATE_ENGINES_NCALIB ?
                        validate_engines_calib[i] :
                        more[i - VALIDATE_ENGINES_NCALIB];
        batch_init(&lines[n].b);
        add_batch(&lines[n].b, s);
        lines[n].ms = price_ns(&e.env, &truth, NULL, s) / 1e6;
        lines[n].lineno = (long)n + 1;
    }
    ck_assert_msg(engine_fit(&e.env, &truth, FIT_ATTN, lines,
                             VALIDATE_ENGINES_NCALIB, &r, &d) == 0, "%s",
                  d.msg);
    ck_assert_int_eq(r.e.elem, ENG_ELEM_UNFUSED);
    ck_assert_int_eq(r.e.decode, ENG_ATTN_SPLIT_KV);
    for (i = 0; i < 4; i++)
        ck_assert_msg(fabs(*engine_param(&r.e.p, (int)i) -
                           *engine_param(&truth.p, (int)i)) <=
                      2 * r.sigma[i] + 0.01, "param %zu: %g vs %g +- %g", i,
                      *engine_param(&r.e.p, (int)i),
                      *engine_param(&truth.p, (int)i), r.sigma[i]);
    ck_assert(r.max_ape < 1.0);
    fit_result_free(&r);
    ck_assert_int_eq(engine_fit(&e.env, &truth, FIT_ATTN, lines,
                                VALIDATE_ENGINES_NCALIB, &r, &d), 0);
    {
        double ms[5];
        ck_assert_int_eq(engine_predict(&e.env, &r.e, lines +
                                        VALIDATE_ENGINES_NCALIB, 5, ms, &d),
                         0);
        for (i = 0; i < 5; i++)
            ck_assert_msg(fabs(ms[i] / lines[VALIDATE_ENGINES_NCALIB + i].ms
                               - 1) < 0.01, "batch %s: %g vs %g", more[i],
                          ms[i], lines[VALIDATE_ENGINES_NCALIB + i].ms);
    }
    fit_result_free(&r);
    /* too few lines */
    d = (struct llm_diag){ 0 };
    ck_assert_int_eq(engine_fit(&e.env, &truth, FIT_ALL, lines, 3, &r, &d),
                     LLM_EINVAL);
    ck_assert_str_eq(d.msg, "3 measured lines: at least 6 are needed to fit "
                     "an engine");
    fit_result_free(&r);
    for (i = 0; i < n; i++)
        batch_free(&lines[i].b);
}
END_TEST

/* What the twelve uniform-decode shapes cannot tell apart stays the base's
 * (FA2's decode, not SDPA's per-group calls, whose prior is wider), and
 * the written profile is always one step accepts, a negative layer_us
 * included. */
START_TEST(test_calibrate_keeps_base)
{
    struct env8b e;
    struct engine truth, back;
    struct fit_line lines[VALIDATE_ENGINES_NCALIB];
    struct fit_result r;
    struct llm_diag d = { 0 };
    cJSON *j;
    size_t i;

    open_env(&e, "llama-3-8b", "h100-sxm-80gb");
    engine_reference(&truth);
    truth.p.attn_decode = 1.12;    /* within either backend's prior */
    truth.p.layer_us = -6;
    for (i = 0; i < VALIDATE_ENGINES_NCALIB; i++) {
        batch_init(&lines[i].b);
        add_batch(&lines[i].b, validate_engines_calib[i]);
        lines[i].ms = price_ns(&e.env, &truth, NULL,
                               validate_engines_calib[i]) / 1e6;
        lines[i].lineno = (long)i + 1;
    }
    engine_reference(&back);
    ck_assert_int_eq(engine_fit(&e.env, &back, FIT_ALL, lines,
                                VALIDATE_ENGINES_NCALIB, &r, &d), 0);
    ck_assert_int_eq(r.e.decode, ENG_ATTN_FA2);
    ck_assert_int_eq(r.e.prefill, ENG_ATTN_FA2);
    ck_assert_int_eq(r.e.elem, ENG_ELEM_FUSED);
    j = calibrate_profile_json(&r, "llama-3-8b", "h100-sxm-80gb", 1);
    ck_assert_ptr_nonnull(j);
    ck_assert_msg(engine_from_json(j, "engine", NULL, &back, &d) == LLM_OK,
                  "%s", d.msg);
    ck_assert_double_eq_tol(back.p.layer_us, r.e.p.layer_us, 1e-9);
    cJSON_Delete(j);
    fit_result_free(&r);
    for (i = 0; i < VALIDATE_ENGINES_NCALIB; i++)
        batch_free(&lines[i].b);
}
END_TEST

static void bad_line(const char *text, const char *msg)
{
    struct fit_line l;
    struct llm_diag d = { 0 };

    batch_init(&l.b);
    ck_assert_int_eq(calibrate_parse_line(text, &l, &d), LLM_EINVAL);
    ck_assert_str_eq(d.msg, msg);
    batch_free(&l.b);
}

START_TEST(test_calibrate_lines)
{
    struct fit_line l;
    struct llm_diag d = { 0 };

    batch_init(&l.b);
    ck_assert_int_eq(calibrate_parse_line("{\"decode\":[[4,100]],\"ms\":3}",
                                          &l, &d), LLM_OK);
    ck_assert_double_eq(l.ms, 3);
    ck_assert_int_eq(l.b.decode_seqs, 4);
    ck_assert_int_eq(calibrate_parse_line("{\"model\":\"x\",\"batch\":"
                     "{\"prefill\":[[64,0]]},\"ms\":2.5,\"reps\":20}", &l,
                     &d), LLM_OK);
    ck_assert_int_eq(l.b.prefill_tokens, 64);
    ck_assert_int_eq(calibrate_parse_line("{\"provenance\":{}}", &l, &d), 1);
    ck_assert_int_eq(calibrate_parse_line("  \n", &l, &d), 1);
    batch_free(&l.b);
    bad_line("{\"decode\":[[4,100]]}", "missing \"ms\" (the measured "
             "iteration time in milliseconds)");
    bad_line("{\"decode\":[[4,100]],\"ms\":-1}", "\"ms\": expected a "
             "positive number of milliseconds");
    bad_line("{\"decode\":[[4,100]],\"ms\":1,\"x\":2}", "x: unknown key "
             "(known: prefill, decode, decode_ctx, pad, graph)");
    bad_line("{\"ms\":1}", "an empty batch has no time to fit");
    bad_line("[1,2]", "expected a JSON object");
}
END_TEST

/* The command: a line without "ms" is exit 2 naming the line. */
START_TEST(test_calibrate_cli)
{
    const char *bin = getenv("LLMSIM_BIN");
    char cmd[2048], line[512];
    const char *in, *err;
    FILE *f;
    int status;

    if (bin == NULL) {
        fx_skip("engine: calibrate_cli", "LLMSIM_BIN unset (make test sets "
                "it)");
        return;
    }
    in = fx_put("m.jsonl", "{\"prefill\":[[128,0]],\"ms\":6}\n"
                "{\"decode\":[[8,512]]}\n");
    err = fx_path("err.txt");
    snprintf(cmd, sizeof(cmd), "%s calibrate --model llama-3-8b --hw "
             "h100-sxm-80gb < %s > /dev/null 2> %s", bin, in, err);
    status = system(cmd);
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 2);
    f = fopen(err, "r");
    ck_assert_ptr_nonnull(fgets(line, sizeof(line), f));
    fclose(f);
    ck_assert_str_eq(line, "llmsim calibrate: stdin:2: missing \"ms\" (the "
                     "measured iteration time in milliseconds)\n");
}
END_TEST

START_TEST(test_calib_shapes)
{
    struct batch b;

    batch_init(&b);
    add_batch(&b, "{\"decode_ctx\":[512,512,512,512,512,512,512,512,512,512,"
              "512,512,512,512,512,512,512,512,512,512,512,512,512,512,512,"
              "512,512,512,512,512,512,512]}");
    ck_assert(validate_engines_is_calib(&b));    /* 32 x 512 */
    batch_clear(&b);
    add_batch(&b, "{\"decode\":[[33,512]]}");
    ck_assert(!validate_engines_is_calib(&b));
    batch_clear(&b);
    add_batch(&b, "{\"prefill\":[[256,3840]],\"decode\":[[64,1024]]}");
    ck_assert(validate_engines_is_calib(&b));
    batch_free(&b);
}
END_TEST

Suite *engine_suite(void)
{
    Suite *s = suite_create("engine");
    TCase *tc = tcase_create("core");

    tcase_add_checked_fixture(tc, fx_setup, fx_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_reference_unchanged);
    tcase_add_test(tc, test_round_trip);
    tcase_add_test(tc, test_device_params);
    tcase_add_test(tc, test_errors);
    tcase_add_test(tc, test_mechanisms);
    tcase_add_test(tc, test_flashdecoding_pp);
    tcase_add_test(tc, test_calibrate_recovers);
    tcase_add_test(tc, test_calibrate_keeps_base);
    tcase_add_test(tc, test_calibrate_lines);
    tcase_add_test(tc, test_calibrate_cli);
    tcase_add_test(tc, test_calib_shapes);
    suite_add_tcase(s, tc);
    return s;
}
