/* hw/eager: the dispatch/GPU pipeline of an eager forward, on cases
 * worked by hand; `llmsim step --eager`. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hw/eager.h"
#include "tests/fixture.h"
#include "tests/suites.h"

#define EPS 1e-12

/* Host-bound: the GPU waits for every dispatch, so the forward is all
 * the dispatch plus the last kernel. */
START_TEST(test_host_bound)
{
    struct eager_op l[] = { { 3, 1 }, { 3, 1 } };
    struct eager_clock clk = { 0, 0 };

    /* dispatch ends at 12; the last kernel starts then and takes 1 */
    eager_play(l, 2, 2, &clk);
    ck_assert_double_eq_tol(clk.cpu_s, 12, EPS);
    ck_assert_double_eq_tol(clk.gpu_s, 13, EPS);
}
END_TEST

/* GPU-bound: after the first dispatch the GPU never waits. */
START_TEST(test_gpu_bound)
{
    struct eager_op l[] = { { 1, 5 }, { 1, 5 } };
    struct eager_clock clk = { 0, 0 };

    eager_play(l, 2, 3, &clk);
    ck_assert_double_eq_tol(clk.gpu_s, 1 + 6 * 5, EPS);
}
END_TEST

/* Balanced in sum but not per kernel: a long kernel lets the CPU run
 * ahead, a short one spends the lead, and the GPU still idles at the
 * start -- more than max(sum cpu, sum gpu) = 8 per layer. */
START_TEST(test_interleaved)
{
    struct eager_op pro[] = { { 2, 0 } };
    struct eager_op l[] = { { 1, 6 }, { 7, 2 } };
    struct eager_op epi[] = { { 1, 3 } };

    struct eager_clock clk = { 0, 0 }, none = { 0, 0 };

    /* pro: cpu 2, gpu 2.  layer 1: op a: cpu 3, gpu max(3,2)+6 = 9;
     * op b: cpu 10, gpu max(10,9)+2 = 12.  layer 2: a: cpu 11, gpu 18;
     * b: cpu 18, gpu 20.  epi: cpu 19, gpu max(19,20)+3 = 23. */
    eager_play(pro, 1, 1, &clk);
    eager_play(l, 2, 2, &clk);
    eager_play(epi, 1, 1, &clk);
    ck_assert_double_eq_tol(clk.gpu_s, 23, EPS);
    /* no layers: the prologue then the epilogue */
    eager_play(pro, 1, 1, &none);
    eager_play(l, 2, 0, &none);
    eager_play(epi, 1, 1, &none);
    ck_assert_double_eq_tol(none.gpu_s, 6, EPS);
}
END_TEST

/* `llmsim step --eager` prices a one-sequence decode as host-bound: the
 * same GPU times, and over a millisecond of host time on top. */
START_TEST(test_step_eager)
{
    const char *bin = getenv("LLMSIM_BIN");
    char cmd[2048], line[512];
    double ms[2], fixed[2], gemm[2];
    FILE *f;

    if (bin == NULL) {
        fx_skip("eager: step", "LLMSIM_BIN unset (make test sets it)");
        return;
    }
    fx_put("in.jsonl", "{\"decode\": [[1, 512]]}\n");
    for (int i = 0; i < 2; i++) {
        snprintf(cmd, sizeof(cmd), "%s step --model llama-3-8b --hw "
                 "h100-sxm-80gb %s < %s > %s", bin, i ? "--eager" : "",
                 fx_path("in.jsonl"), fx_path("out.jsonl"));
        ck_assert_int_eq(system(cmd), 0);
        ck_assert_ptr_nonnull(f = fopen(fx_path("out.jsonl"), "r"));
        ck_assert_ptr_nonnull(fgets(line, sizeof(line), f));
        fclose(f);
        ck_assert_int_eq(sscanf(line, "{\"ms\":%lf,\"gemm_ms\":%lf", &ms[i],
                                &gemm[i]), 2);
        ck_assert_ptr_nonnull(strstr(line, "\"fixed_ms\":"));
        fixed[i] = atof(strstr(line, "\"fixed_ms\":") + 11);
    }
    ck_assert_double_eq_tol(gemm[1], gemm[0], 1e-9);
    ck_assert(fixed[1] > fixed[0] + 1.0);
    ck_assert_double_eq_tol(ms[1] - ms[0], fixed[1] - fixed[0], 1e-5);
}
END_TEST

Suite *eager_suite(void)
{
    Suite *s = suite_create("eager");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_host_bound);
    tcase_add_test(tc, test_gpu_bound);
    tcase_add_test(tc, test_interleaved);
    tcase_add_checked_fixture(tc, fx_setup, fx_teardown);
    tcase_add_test(tc, test_step_eager);
    suite_add_tcase(s, tc);
    return s;
}
