/* tests/check_lut.c: table-lookup low-bit matmul (issue 21; hw/lut.h):
 * the engine's counts worked by hand (TeLLMe's loop nest, overlap,
 * bit-serial planes), the accel model's bit-serial planes from the
 * weights' type, T-MAC's measured decode on two CPUs (derived and
 * validated figures).  Errors of the catalog's accel.lut keys are in
 * tests/check_devices.c with the other catalog errors. */
#include <check.h>
#include <math.h>
#include <stdlib.h>

#include "hw/cost.h"
#include "hw/lut.h"
#include "base/paths.h"

/* TeLLMe's engine (group 3, 28 tables, 16 lanes, one activation a cycle)
 * on the fused qkv of a 1536-wide model: 19 steps of 84 activations,
 * each 3 x 84 build cycles then 1536 / 16 = 96 lookup cycles (6,612);
 * with the builder overlapped, 19 x 252; 1536 x 512 groups lookups, one
 * 27-entry table per group per pass. */
START_TEST(test_counts_by_hand)
{
    struct lut_engine e = { .group = 3, .tables = 28, .lanes = 16,
        .planes = 1, .build_per_cycle = 1, .entries = 27, .entry_bytes = 2,
        .clock_hz = 250e6 };
    struct lut_count c;

    lut_gemm(&e, 1, 1536, 1536, 3, &c);
    ck_assert_double_eq(c.steps, 19);
    ck_assert_double_eq(c.build_cycles, 19 * 252);
    ck_assert_double_eq(c.lookup_cycles, 19 * 96);
    ck_assert_double_eq(c.cycles, 19 * (252 + 96));
    ck_assert_double_eq(c.lookups, 1536.0 * 512);
    ck_assert_double_eq(c.tables_built, 3 * 512);
    ck_assert_double_eq(c.entries_built, 3 * 512 * 27);
    ck_assert_double_eq(c.step_table_bytes, 28 * 27 * 2);
    ck_assert_double_eq_tol(c.seconds, 19.0 * 348 / 250e6, 1e-15);
    e.overlap = true;
    lut_gemm(&e, 1, 1536, 1536, 3, &c);
    ck_assert_double_eq(c.cycles, 19 * 252);
    /* 4 rows: 4x everything */
    lut_gemm(&e, 4, 1536, 1536, 3, &c);
    ck_assert_double_eq(c.cycles, 4 * 19 * 252);
}
END_TEST

/* Bit-serial: one lookup per weight bit, so 4-bit weights take twice the
 * lookup cycles of 2-bit ones; the build does not depend on the bits. */
START_TEST(test_bit_serial)
{
    struct lut_engine e = { .group = 4, .tables = 1, .lanes = 8,
        .planes = 2, .build_per_cycle = 1, .entries = 16, .entry_bytes = 1,
        .clock_hz = 1e9 };
    struct lut_count c2, c4;

    lut_gemm(&e, 1, 4096, 4096, 1, &c2);
    e.planes = 4;
    lut_gemm(&e, 1, 4096, 4096, 1, &c4);
    ck_assert_double_eq(c4.lookup_cycles, 2 * c2.lookup_cycles);
    ck_assert_double_eq(c4.build_cycles, c2.build_cycles);
    ck_assert_double_eq(c4.lookups, 4096.0 * 1024 * 4);
}
END_TEST

/* One decode step's GEMM time on a T-MAC CPU entry through the accel cost
 * model: int4 weights take about twice int2's (the build and the
 * non-GEMM work do not double). */
static double gemm_s(const char *dev_id, enum dtype w)
{
    struct llm_diag d = { 0 };
    struct model m;
    struct device dev;
    struct cost_env env;
    struct cost_model *cm = NULL;
    struct cost_breakdown bd;
    struct batch b;
    cJSON *p = cJSON_Parse("{\"name\": \"accel\"}");

    ck_assert_int_eq(model_find(llm_root(), "llama-2-7b", &m, &d), LLM_OK);
    ck_assert_msg(device_find(llm_root(), dev_id, &dev, &d) == LLM_OK, "%s",
                  d.msg);
    env = (struct cost_env){ .model = &m, .dev = &dev, .root = llm_root(),
        .shard = { .tp = 1, .w_bytes = dtype_bytes(w), .a_bytes = 2,
                   .kv_bytes = 2, .w_dtype = w } };
    ck_assert_msg(cost_create(&env, p, "cost_model", &cm, &d) == LLM_OK,
                  "%s", d.msg);
    batch_init(&b);
    ck_assert_int_eq(batch_add_decode(&b, 1, 64), LLM_OK);
    ck_assert_int_eq(cost_price(cm, &b, &bd), LLM_OK);
    batch_free(&b);
    cost_destroy(cm);
    cJSON_Delete(p);
    return bd.class_ns[OPC_GEMM] * 1e-9;
}

START_TEST(test_accel_planes_from_dtype)
{
    double r = gemm_s("rpi5-a76-1t", DT_INT4) / gemm_s("rpi5-a76-1t",
                                                      DT_INT2);

    ck_assert_double_gt(r, 1.9);
    ck_assert_double_le(r, 2.0);
}
END_TEST

/* T-MAC's measured one-thread Llama-2-7B decode (docs/profiling_data.md),
 * 128 tokens from an empty context: W2 is what each entry's lookup rate
 * was derived from (within 1%), W4 an independent check (within 10%). */
static double tok_s(const char *dev_id, enum dtype w)
{
    struct llm_diag d = { 0 };
    struct model m;
    struct device dev;
    struct cost_env env;
    struct cost_model *cm = NULL;
    struct cost_breakdown bd;
    struct batch b;
    cJSON *p = cJSON_Parse("{\"name\": \"accel\"}");
    double s = 0;
    int32_t i;

    ck_assert_int_eq(model_find(llm_root(), "llama-2-7b", &m, &d), LLM_OK);
    ck_assert_int_eq(device_find(llm_root(), dev_id, &dev, &d), LLM_OK);
    env = (struct cost_env){ .model = &m, .dev = &dev, .root = llm_root(),
        .shard = { .tp = 1, .w_bytes = dtype_bytes(w), .a_bytes = 2,
                   .kv_bytes = 2, .w_dtype = w } };
    ck_assert_int_eq(cost_create(&env, p, "cost_model", &cm, &d), LLM_OK);
    batch_init(&b);
    for (i = 1; i <= 128; i++) {
        batch_clear(&b);
        ck_assert_int_eq(batch_add_decode(&b, 1, i), LLM_OK);
        ck_assert_int_eq(cost_price(cm, &b, &bd), LLM_OK);
        s += bd.total_ns * 1e-9;
    }
    batch_free(&b);
    cost_destroy(cm);
    cJSON_Delete(p);
    return 128 / s;
}

static const struct { const char *dev; double w2, w4; } tmac[] = {
    { "rpi5-a76-1t", 4.40, 2.42 },
    { "m2-ultra-pcore-1t", 16.68, 8.97 },
};

START_TEST(test_tmac_decode)
{
    double w2 = tok_s(tmac[_i].dev, DT_INT2), w4 = tok_s(tmac[_i].dev,
                                                         DT_INT4);

    ck_assert_msg(fabs(w2 / tmac[_i].w2 - 1) < 0.01, "%s W2 %.3f tok/s",
                  tmac[_i].dev, w2);
    ck_assert_msg(fabs(w4 / tmac[_i].w4 - 1) < 0.10, "%s W4 %.3f tok/s",
                  tmac[_i].dev, w4);
    /* the bit-serial direction: 4-bit weights a bit under half as fast */
    ck_assert_double_lt(w4 / w2, 0.56);
    ck_assert_double_gt(w4 / w2, 0.45);
}
END_TEST

Suite *lut_suite(void)
{
    Suite *s = suite_create("lut");
    TCase *t = tcase_create("core");

    tcase_set_timeout(t, 60);
    tcase_add_test(t, test_counts_by_hand);
    tcase_add_test(t, test_bit_serial);
    tcase_add_test(t, test_accel_planes_from_dtype);
    tcase_add_loop_test(t, test_tmac_decode, 0,
                        (int)(sizeof(tmac) / sizeof(tmac[0])));
    suite_add_tcase(s, t);
    return s;
}
