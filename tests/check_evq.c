#include <check.h>
#include <stdint.h>

#include "base/diag.h"
#include "sim/evq.h"
#include "tests/suites.h"

static int noop(void *ctx, const struct sim_event *ev)
{
    (void)ctx;
    (void)ev;
    return 0;
}

START_TEST(test_time_order)
{
    struct evq *q = evq_create(0);
    struct sim_event e;
    int64_t times[] = { 50, 10, 40, 30, 20, 60, 5 };
    int64_t last = -1;
    size_t i;

    for (i = 0; i < sizeof(times) / sizeof(times[0]); i++)
        ck_assert_int_eq(evq_push(q, times[i], noop, NULL, (int64_t)i), 0);
    for (i = 0; evq_pop(q, &e); i++) {
        ck_assert_int_ge(e.t_ns, last);
        last = e.t_ns;
    }
    ck_assert_uint_eq(i, 7);
    evq_destroy(q);
}
END_TEST

/* Equal times fire in push order, across heap growth. */
START_TEST(test_ties_fifo)
{
    struct evq *q = evq_create(1);
    struct sim_event e;
    int64_t i, expect = 0;

    for (i = 0; i < 1000; i++)
        ck_assert_int_eq(evq_push(q, i % 2 ? 7 : 3, noop, NULL, i), 0);
    while (evq_pop(q, &e)) {
        if (expect < 500)
            ck_assert_int_eq(e.t_ns, 3);
        expect++;
    }
    evq_destroy(q);
    q = evq_create(0);
    for (i = 0; i < 100; i++)
        evq_push(q, 42, noop, NULL, i);
    for (i = 0; evq_pop(q, &e); i++)
        ck_assert_int_eq(e.arg, i);
    evq_destroy(q);
}
END_TEST

START_TEST(test_past_rejected)
{
    struct evq *q = evq_create(0);
    struct sim_event e;

    evq_push(q, 100, noop, NULL, 0);
    ck_assert(evq_pop(q, &e));
    ck_assert_int_eq(evq_now(q), 100);
    ck_assert_int_eq(evq_push(q, 99, noop, NULL, 0), LLM_EINVAL);
    ck_assert_int_eq(evq_push(q, 100, noop, NULL, 0), LLM_OK);
    ck_assert(!evq_pop(q, &e) == 0);
    ck_assert(!evq_pop(q, &e));
    evq_destroy(q);
}
END_TEST

Suite *evq_suite(void)
{
    Suite *s = suite_create("evq");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_time_order);
    tcase_add_test(tc, test_ties_fifo);
    tcase_add_test(tc, test_past_rejected);
    suite_add_tcase(s, tc);
    return s;
}
