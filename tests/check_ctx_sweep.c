/* Tests of `llmsim memory --context-sweep` (run/ctx_sweep.h): the
 * long-context peak analysis of arXiv 2405.08944 for Yi-34B on an
 * A100-80GB, its concurrency counted by hand below, and its flag's
 * errors. */
#include <check.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cmd_memory.h"
#include "run/ctx_sweep.h"
#include "hw/device.h"
#include "models/memplan.h"
#include "base/paths.h"
#include "tests/suites.h"

struct setup {
    struct model m;
    struct device dev;
    struct shard s;
    struct mem_plan plan;
};

static struct setup yi_a100(void)
{
    struct setup x;
    struct llm_diag d = { 0 };
    struct mem_limits lim = { .util = 0.9, .token_budget = 8192,
                              .max_seqs = 256, .block_tokens = 16,
                              .reserve_bytes = -1 };

    ck_assert_int_eq(model_find(llm_root(), "yi-34b", &x.m, &d), 0);
    ck_assert_int_eq(device_find(llm_root(), "a100-sxm-80gb", &x.dev, &d),
                     0);
    x.s = (struct shard){ .tp = 1, .pp = 1, .w_bytes = 2, .a_bytes = 2,
                          .kv_bytes = 2, .w_dtype = DT_BF16,
                          .kv_dtype = DT_BF16, .stage = OPS_ALL_STAGES };
    lim.total_bytes = x.dev.mem_bytes;
    memplan_build(&x.m, &x.s, &lim, &x.plan);
    return x;
}

static struct ctx_row row(const struct setup *x, int64_t n)
{
    struct ctx_row r;
    struct llm_diag d = { 0 };
    const char *cost = NULL;

    ck_assert_msg(ctx_sweep_row(&x->m, &x->dev, &x->s, &x->plan, n, &r,
                                &cost, &d) == LLM_OK, "%s", d.msg);
    ck_assert_ptr_nonnull(cost);
    return r;
}

/* The paper's concurrency: what is left of the 80 GiB after the bf16
 * weights (2 bytes x 34.39e9 parameters), over one user's KV, 2 (K, V) x
 * 60 layers x 8 KV heads x 128 x 2 bytes = 245,760 bytes a token. */
START_TEST(test_yi34b_users)
{
    struct setup x = yi_a100();
    double free_b = 80.0 * 1073741824.0 - 2.0 * model_params(&x.m);
    struct ctx_row r4 = row(&x, 4096), r50 = row(&x, 50000);

    ck_assert_double_eq_tol(r4.kv_bytes, 4096.0 * 245760, 1);
    ck_assert_double_eq_tol(r50.kv_bytes, 50000.0 * 245760, 1);
    ck_assert_int_eq(r4.users_hbm, (int64_t)floor(free_b / r4.kv_bytes));
    ck_assert_int_eq(r50.users_hbm, (int64_t)floor(free_b / r50.kv_bytes));
    /* The paper: about 20 users at 4K, 1 at 50K. */
    ck_assert_int_eq(r4.users_hbm, 17);
    ck_assert_int_eq(r50.users_hbm, 1);
    /* vLLM at utilization 0.9 keeps less: fewer users, none at 50K. */
    ck_assert_int_lt(r4.users_plan, r4.users_hbm);
    ck_assert_int_eq(r50.users_plan, 0);
}
END_TEST

/* Roofline prefill never beats the linear layers' 2 x params x tokens
 * FLOPs at the A100's 312 TFLOPS (the paper's 0.89 s at 4K), and the
 * attention's n^2 term makes 50K cost more than 50000/4096 times 4K. */
START_TEST(test_yi34b_prefill)
{
    struct setup x = yi_a100();
    struct ctx_row r4 = row(&x, 4096), r50 = row(&x, 50000);
    double lin4 = 2.0 * model_params(&x.m) * 4096 / 312e12;

    ck_assert(r4.prefill_roof_s >= 0.95 * lin4);
    ck_assert(r4.prefill_roof_s <= 1.15 * lin4);
    ck_assert(r50.prefill_roof_s > r4.prefill_roof_s * 50000.0 / 4096);
    /* Decode reads the weights and the KV: more KV, slower step. */
    ck_assert(r50.decode_roof_ms > r4.decode_roof_ms);
    ck_assert(r4.decode_roof_ms * 1e-3 >=
              2.0 * model_params(&x.m) / x.dev.mem_bw_bytes_s);
}
END_TEST

static const char *const bad_lists[] = { "", "4096,", "x", "4096,,8",
                                         "0", "-5", "4096;8192" };

START_TEST(test_parse_errors)
{
    int64_t ctx[CTX_SWEEP_MAX];
    int32_t n = 0;
    struct llm_diag d = { 0 };

    ck_assert_int_eq(ctx_sweep_parse(bad_lists[_i], ctx, &n, &d),
                     LLM_EINVAL);
    ck_assert(strncmp(d.msg, "--context-sweep: ", 17) == 0);
}
END_TEST

START_TEST(test_parse_ok)
{
    int64_t ctx[CTX_SWEEP_MAX];
    int32_t n = 0;
    struct llm_diag d = { 0 };

    ck_assert_int_eq(ctx_sweep_parse("4096,50000", ctx, &n, &d), LLM_OK);
    ck_assert_int_eq(n, 2);
    ck_assert_int_eq(ctx[0], 4096);
    ck_assert_int_eq(ctx[1], 50000);
    ck_assert_int_eq(ctx_sweep_parse("4096,8", ctx, &n, &d), LLM_OK);
    ck_assert_int_eq(ctx_sweep_parse("4096,50000,", ctx, &n, &d),
                     LLM_EINVAL);
    ck_assert_str_eq(d.msg, "--context-sweep: a context length after the "
                     "last comma, got \"4096,50000,\"");
}
END_TEST

static int run(char *out, size_t olen, char *err, size_t elen, ...)
{
    char *argv[20];
    int argc = 0, rc;
    va_list ap;
    char *obuf = NULL, *ebuf = NULL;
    size_t on = 0, en = 0;
    FILE *o = open_memstream(&obuf, &on), *e = open_memstream(&ebuf, &en);

    va_start(ap, elen);
    argv[argc++] = "memory";
    while ((argv[argc] = va_arg(ap, char *)) != NULL)
        argc++;
    va_end(ap);
    rc = cmd_memory_io(argc, argv, o, e);
    fclose(o);
    fclose(e);
    snprintf(out, olen, "%s", obuf);
    snprintf(err, elen, "%s", ebuf);
    free(obuf);
    free(ebuf);
    return rc;
}

/* The command runs although one 200K sequence does not fit (the plain
 * plan refuses), and prints a row per context. */
START_TEST(test_cli)
{
    char out[4096], err[512];

    ck_assert_int_eq(run(out, sizeof(out), err, sizeof(err), "--model",
                         "yi-34b", "--hw", "a100-sxm-80gb", "--json",
                         "--context-sweep", "4096,50000", NULL), 0);
    ck_assert_str_eq(err, "");
    ck_assert(strstr(out, "\"context\":4096,") != NULL);
    ck_assert(strstr(out, "\"users_hbm\":17,") != NULL);
    ck_assert(strstr(out, "\"context\":50000,") != NULL);
    ck_assert(strstr(out, "\"users_hbm\":1,") != NULL);
    ck_assert_int_eq(run(out, sizeof(out), err, sizeof(err), "--model",
                         "yi-34b", "--hw", "a100-sxm-80gb",
                         "--context-sweep", "4096,x", NULL), 2);
    ck_assert_str_eq(err, "llmsim memory: --context-sweep: expected up to "
                     "64 context lengths in [1, 2^30] separated by commas, "
                     "got \"4096,x\"\n");
    ck_assert_int_eq(run(out, sizeof(out), err, sizeof(err), "--model",
                         "yi-34b", "--hw", "a100-sxm-80gb", NULL), 2);
}
END_TEST

Suite *ctx_sweep_suite(void)
{
    Suite *s = suite_create("ctx_sweep");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_yi34b_users);
    tcase_add_test(tc, test_yi34b_prefill);
    tcase_add_loop_test(tc, test_parse_errors, 0,
                        (int)(sizeof(bad_lists) / sizeof(bad_lists[0])));
    tcase_add_test(tc, test_parse_ok);
    tcase_add_test(tc, test_cli);
    suite_add_tcase(s, tc);
    return s;
}
