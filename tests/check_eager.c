/* hw/eager: the dispatch/GPU pipeline of an eager forward, on cases
 * worked by hand. */
#include <check.h>

#include "hw/eager.h"
#include "tests/suites.h"

#define EPS 1e-12

/* Host-bound: the GPU waits for every dispatch, so the forward is all
 * the dispatch plus the last kernel. */
START_TEST(test_host_bound)
{
    struct eager_op l[] = { { 3, 1 }, { 3, 1 } };

    /* dispatch ends at 12; the last kernel starts then and takes 1 */
    ck_assert_double_eq_tol(eager_pipeline_s(NULL, 0, l, 2, 2, NULL, 0),
                            13, EPS);
}
END_TEST

/* GPU-bound: after the first dispatch the GPU never waits. */
START_TEST(test_gpu_bound)
{
    struct eager_op l[] = { { 1, 5 }, { 1, 5 } };

    ck_assert_double_eq_tol(eager_pipeline_s(NULL, 0, l, 2, 3, NULL, 0),
                            1 + 6 * 5, EPS);
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

    /* pro: cpu 2, gpu 2.  layer 1: op a: cpu 3, gpu max(3,2)+6 = 9;
     * op b: cpu 10, gpu max(10,9)+2 = 12.  layer 2: a: cpu 11, gpu 18;
     * b: cpu 18, gpu 20.  epi: cpu 19, gpu max(19,20)+3 = 23. */
    ck_assert_double_eq_tol(eager_pipeline_s(pro, 1, l, 2, 2, epi, 1), 23,
                            EPS);
    ck_assert_double_eq_tol(eager_pipeline_s(pro, 1, l, 2, 0, epi, 1), 6,
                            EPS);
}
END_TEST

Suite *eager_suite(void)
{
    Suite *s = suite_create("eager");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_host_bound);
    tcase_add_test(tc, test_gpu_bound);
    tcase_add_test(tc, test_interleaved);
    suite_add_tcase(s, tc);
    return s;
}
