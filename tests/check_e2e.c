/* Tests of issue 8's end-to-end fidelity tools.
 *
 * sched.py (hw/calib/reference/, the serving loop's scheduler) against
 * llmsim: the same trace with the "fixed" cost model must give every
 * request the same first-token and finish times, to the nanosecond, with
 * vLLM's and Sarathi's rules, with and without preemption.  Needs python3
 * (the Makefile installs it; skipped and counted where it is missing). */
#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "tests/fixture.h"
#include "tests/suites.h"

static const char *llmsim_bin(void)
{
    const char *b = getenv("LLMSIM_BIN");

    return b ? b : "./build/llmsim";
}

static bool have_python(const char *check)
{
    if (system("command -v python3 >/dev/null 2>&1") == 0)
        return true;
    fx_skip(check, "no python3 (apt-get install python3)");
    return false;
}

/* rc of `sched.py crosscheck CONFIG --set SET` (its output to a log in
 * the check's folder). */
static int crosscheck(const char *config, const char *set)
{
    char cmd[1024];
    int rc;

    snprintf(cmd, sizeof(cmd), "ASAN_OPTIONS=detect_leaks=0 python3 "
             "hw/calib/reference/sched.py crosscheck %s --set %s "
             "--llmsim %s >%s 2>&1", config, set, llmsim_bin(),
             fx_path("crosscheck.log"));
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
    if (!have_python("e2e: crosscheck_vllm"))
        return;
    ck_assert_int_eq(crosscheck("tests/data/e2e/fixed_vllm.json",
                                xcheck_sets[_i]), 0);
}
END_TEST

START_TEST(test_crosscheck_sarathi)
{
    if (!have_python("e2e: crosscheck_sarathi"))
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
    if (!have_python("e2e: crosscheck_bad_config"))
        return;
    ck_assert_int_eq(crosscheck("tests/data/e2e/fixed_vllm.json",
                                "scheduler.name=orca"), 2);
    ck_assert_int_eq(crosscheck("tests/data/e2e/fixed_vllm.json",
                                "cost_model.name=roofline"), 2);
}
END_TEST

/* rc of a shell command, its output in cmd.log of the check's folder. */
static int sh(const char *fmt, const char *a, const char *b)
{
    char cmd[2048], body[1024];
    int rc;

    snprintf(body, sizeof(body), fmt, a, b);
    snprintf(cmd, sizeof(cmd), "ASAN_OPTIONS=detect_leaks=0 %s "
             ">%s 2>&1", body, fx_path("cmd.log"));
    rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static bool file_has(const char *path, const char *text)
{
    char buf[8192];
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;

    if (f)
        fclose(f);
    buf[n] = '\0';
    return strstr(buf, text) != NULL;
}

static bool log_has(const char *text)
{
    return file_has(fx_path("cmd.log"), text);
}

/* A "measured" run made by sched.py with the fixed cost is llmsim's own
 * answer: every error is 0.0% and validate-e2e exits 0, and it writes the
 * CDF overlay files. */
START_TEST(test_validate_e2e_exact)
{
    char args[600];

    if (!have_python("e2e: validate_e2e_exact"))
        return;
    ck_assert_int_eq(sh("mkdir -p %s/m && python3 hw/calib/reference/"
                        "sched.py measure tests/data/e2e/fixed_vllm.json "
                        "--set workload.rate_scale=4 --out %s/m/ok.jsonl",
                        fx_tmpdir, fx_tmpdir), 0);
    snprintf(args, sizeof(args), "%s/m --plots %s/p", fx_tmpdir, fx_tmpdir);
    ck_assert_int_eq(sh("%s validate-e2e %s", llmsim_bin(), args), 0);
    ck_assert(log_has("TTFT          3474.07    3474.07    +0.0%"));
    ck_assert(log_has("1411.4 simulated (+0.0%)"));
    ck_assert(log_has("median iteration error +0.0%"));
    ck_assert_int_eq(access(fx_path("p/ok.dat"), R_OK), 0);
    ck_assert_int_eq(access(fx_path("p/ok.gp"), R_OK), 0);
    /* the same run gzip-compressed (how the measured runs are committed),
     * and the markdown summary row */
    ck_assert_int_eq(sh("cd %s && mkdir -p g && gzip -k m/ok.jsonl && "
                        "mv m/ok.jsonl.gz g/", fx_tmpdir, ""), 0);
    snprintf(args, sizeof(args), "%s/g --plots %s/q", fx_tmpdir, fx_tmpdir);
    ck_assert_int_eq(sh("%s validate-e2e %s", llmsim_bin(), args), 0);
    ck_assert(log_has("ok.jsonl.gz"));
    ck_assert(file_has(fx_path("q/summary.md"), "| ok | +0.0 / +0.0 / "
                       "+0.0 | +0.0 / +0.0 / +0.0 | +0.0 / +0.0 / +0.0 | "
                       "+0.0 | +0.0 |"));
}
END_TEST

/* Every iteration 10% longer than the fixed cost says: the cost model
 * alone is off by -9.1%, the latencies by more, and the exit is 1. */
START_TEST(test_validate_e2e_perturbed)
{
    if (!have_python("e2e: validate_e2e_perturbed"))
        return;
    ck_assert_int_eq(sh("python3 hw/calib/reference/sched.py measure "
                        "tests/data/e2e/fixed_sarathi.json --stretch 1.1 "
                        "--out %s/bad.jsonl%s", fx_tmpdir, ""), 0);
    ck_assert_int_eq(sh("%s validate-e2e %s", llmsim_bin(), fx_tmpdir), 1);
    ck_assert(log_has("-49.4%*"));
    ck_assert(log_has("(-9.1%), median iteration error -9.1%"));
    ck_assert(log_has("targets missed"));
}
END_TEST

static const char *const bad_lines[][2] = {
    { "{\"type\": \"request\"}\n",
      "x.jsonl: line 1: the run line must come first, once" },
    { "{\"type\": \"run\", \"config\": 3, \"set\": []}\n",
      "x.jsonl: line 1: a run line needs \"config\" (string)" },
    { "{\"type\": \"run\", \"config\": \"tests/data/e2e/fixed_vllm.json\","
      " \"set\": []}\n{\"type\": \"request\", \"arrival_ns\": 5}\n",
      "x.jsonl: line 2: a request needs integer arrival_ns" },
    { "{\"type\": \"run\", \"config\": \"tests/data/e2e/fixed_vllm.json\","
      " \"set\": []}\n{\"type\": \"iteration\", \"start_ns\": 5, "
      "\"end_ns\": 9, \"batch\": {\"decode\": [[0, 1]]}}\n",
      "x.jsonl: line 2: batch: expected {\"prefill\"" },
    { "{\"type\": \"run\", \"config\": \"tests/data/e2e/fixed_vllm.json\","
      " \"set\": [\"scheduler.max_num_seqs=0\"]}\n",
      "x.jsonl: line 1: tests/data/e2e/fixed_vllm.json: scheduler.max_num_seqs" },
    { "not json\n", "x.jsonl: line 1: expected a JSON object" },
};

START_TEST(test_validate_e2e_bad_input)
{
    const char *f;

    ck_assert_int_eq(sh("mkdir -p %s/b%s", fx_tmpdir, ""), 0);
    fx_put("b/x.jsonl", bad_lines[_i][0]);
    f = fx_path("b");
    ck_assert_int_eq(sh("%s validate-e2e %s", llmsim_bin(), f), 2);
    ck_assert_msg(log_has(bad_lines[_i][1]), "expected \"%s\"",
                  bad_lines[_i][1]);
}
END_TEST

/* An empty folder: nothing measured yet (exit 0); a folder that does
 * not exist is a bad argument (exit 2). */
START_TEST(test_validate_e2e_nothing_yet)
{
    ck_assert_int_eq(mkdir(fx_path("none"), 0755), 0);
    ck_assert_int_eq(sh("%s validate-e2e %s", llmsim_bin(), fx_path("none")),
                     0);
    ck_assert(log_has("no measured runs in"));
    ck_assert_int_eq(sh("%s validate-e2e %s/absent", llmsim_bin(), fx_tmpdir),
                     2);
    ck_assert(log_has("/absent: cannot open"));
}
END_TEST

Suite *e2e_suite(void)
{
    Suite *s = suite_create("e2e");
    TCase *t = tcase_create("sched_py");

    tcase_set_timeout(t, 120);
    tcase_add_checked_fixture(t, fx_setup, fx_teardown);
    tcase_add_loop_test(t, test_crosscheck_vllm, 0, 3);
    tcase_add_loop_test(t, test_crosscheck_sarathi, 0, 3);
    tcase_add_test(t, test_crosscheck_bad_config);
    suite_add_tcase(s, t);
    t = tcase_create("validate_e2e");
    tcase_set_timeout(t, 120);
    tcase_add_checked_fixture(t, fx_setup, fx_teardown);
    tcase_add_test(t, test_validate_e2e_exact);
    tcase_add_test(t, test_validate_e2e_perturbed);
    tcase_add_loop_test(t, test_validate_e2e_bad_input, 0,
                        (int)(sizeof(bad_lines) / sizeof(bad_lines[0])));
    tcase_add_test(t, test_validate_e2e_nothing_yet);
    suite_add_tcase(s, t);
    return s;
}
