/* Tests of issue 8's end-to-end fidelity tools.
 *
 * sched.py (hw/calib/reference/, the serving loop's scheduler) against
 * llmsim: the same trace with the "fixed" cost model must give every
 * request the same first-token and finish times, to the nanosecond, with
 * vLLM's and Sarathi's rules, with and without preemption.  Needs python3
 * (skipped with a message where it is missing). */
#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

#include "tests/suites.h"

static const char *llmsim_bin(void)
{
    const char *b = getenv("LLMSIM_BIN");

    return b ? b : "./build/llmsim";
}

static bool have_python(void)
{
    if (system("command -v python3 >/dev/null 2>&1") == 0)
        return true;
    fprintf(stderr, "check_e2e: sched.py tests skipped: no python3\n");
    return false;
}

/* rc of `sched.py crosscheck CONFIG --set SET` (its output to a log). */
static int crosscheck(const char *config, const char *set)
{
    char cmd[1024];
    int rc;

    snprintf(cmd, sizeof(cmd), "ASAN_OPTIONS=detect_leaks=0 python3 "
             "hw/calib/reference/sched.py crosscheck %s --set %s "
             "--llmsim %s >/tmp/check_e2e_crosscheck.log 2>&1", config, set,
             llmsim_bin());
    rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static const char *const xcheck_sets[] = {
    "workload.rate_scale=1",            /* light: few waits */
    "workload.rate_scale=4",            /* queues and preemptions */
    "hardware.kv_blocks=600",           /* no preemption */
};

START_TEST(test_crosscheck_vllm)
{
    if (!have_python())
        return;
    ck_assert_int_eq(crosscheck("tests/data/e2e/fixed_vllm.json",
                                xcheck_sets[_i]), 0);
}
END_TEST

START_TEST(test_crosscheck_sarathi)
{
    if (!have_python())
        return;
    ck_assert_int_eq(crosscheck("tests/data/e2e/fixed_sarathi.json",
                                xcheck_sets[_i]), 0);
}
END_TEST

/* The comparison can fail: a different cost on the llmsim side only is
 * not expressible through --set (both sides read it), so sched.py is
 * given a scheduler llmsim's config does not name. */
START_TEST(test_crosscheck_bad_config)
{
    if (!have_python())
        return;
    ck_assert_int_eq(crosscheck("tests/data/e2e/fixed_vllm.json",
                                "scheduler.name=orca"), 2);
    ck_assert_int_eq(crosscheck("tests/data/e2e/fixed_vllm.json",
                                "cost_model.name=roofline"), 2);
}
END_TEST

Suite *e2e_suite(void)
{
    Suite *s = suite_create("e2e");
    TCase *t = tcase_create("sched_py");

    tcase_set_timeout(t, 120);
    tcase_add_loop_test(t, test_crosscheck_vllm, 0, 3);
    tcase_add_loop_test(t, test_crosscheck_sarathi, 0, 3);
    tcase_add_test(t, test_crosscheck_bad_config);
    suite_add_tcase(s, t);
    return s;
}
