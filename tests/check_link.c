#include <check.h>

#include "sim/link.h"
#include "tests/suites.h"

/* Alone: latency + bytes / bandwidth. */
START_TEST(test_idle_link)
{
    struct sim_link l;
    int64_t id = 0;

    link_init(&l, 1e9, 5000);               /* 1 GB/s, 5 us */
    ck_assert_int_eq(link_start(&l, 1000, 7, 1e6), 0);
    ck_assert_int_eq(link_next_done(&l), 1000 + 5000 + 1000000);
    link_advance(&l, 1005999);
    ck_assert(!link_pop_done(&l, 1005999, &id));
    link_advance(&l, 1006000);
    ck_assert(link_pop_done(&l, 1006000, &id));
    ck_assert_int_eq(id, 7);
    ck_assert_double_eq_tol(l.bytes_total, 1e6, 1e-3);
    link_fini(&l);
}
END_TEST

/* Two equal transfers started together share the bandwidth and both
 * finish at twice the solo time; a late one is slowed only while shared. */
START_TEST(test_sharing)
{
    struct sim_link l;
    int64_t id;

    link_init(&l, 1e9, 0);
    link_start(&l, 0, 1, 1e6);
    link_start(&l, 0, 2, 1e6);
    ck_assert_int_eq(link_next_done(&l), 2000000);
    link_advance(&l, 2000000);
    ck_assert(link_pop_done(&l, 2000000, &id));
    ck_assert(link_pop_done(&l, 2000000, &id));
    ck_assert_uint_eq(link_active(&l), 0);
    /* A: 1 MB at t=0; B: 1 MB at t=0.5 ms.  A has 0.5 MB left when B
     * starts, both then move at 0.5 GB/s: A ends at 1.5 ms, B alone after
     * that with 0.5 MB left: 2.0 ms. */
    link_start(&l, 2000000, 3, 1e6);
    link_start(&l, 2500000, 4, 1e6);
    ck_assert_int_eq(link_next_done(&l), 3500000);
    link_advance(&l, 3500000);
    ck_assert(link_pop_done(&l, 3500000, &id));
    ck_assert_int_eq(id, 3);
    ck_assert_int_eq(link_next_done(&l), 4000000);
    ck_assert_int_eq(l.busy_ns, 3500000);
    link_fini(&l);
}
END_TEST

Suite *link_suite(void)
{
    Suite *s = suite_create("link");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_idle_link);
    tcase_add_test(tc, test_sharing);
    suite_add_tcase(s, tc);
    return s;
}
