/* Tests of issues 8 and 20's end-to-end fidelity tools.
 *
 * sched.py (hw/calib/reference/, the serving loop's scheduler) against
 * llmsim: the same trace with the "fixed" cost model must give every
 * request the same first-token and finish times, to the nanosecond, with
 * vLLM V1's (async scheduling on and off; the fixed cost counts the CUDA-
 * graph padding, so the padding rules are compared too), vLLM V0's and
 * Sarathi's rules, with and without preemption.  Needs python3 (the
 * Makefile installs it; skipped and counted where it is missing). */
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

static bool file_has(const char *path, const char *text);

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

START_TEST(test_crosscheck_vllm_v0)
{
    if (!have_python("e2e: crosscheck_vllm_v0"))
        return;
    ck_assert_int_eq(crosscheck("tests/data/e2e/fixed_vllm.json",
                                xcheck_sets[_i]), 0);
}
END_TEST

/* vLLM V1 with async scheduling (its default): sched.py replays the two-
 * phase loop serve.py runs, llmsim its own formulation. */
START_TEST(test_crosscheck_v1)
{
    if (!have_python("e2e: crosscheck_v1"))
        return;
    ck_assert_int_eq(crosscheck("tests/data/e2e/fixed_v1.json",
                                xcheck_sets[_i]), 0);
    ck_assert(file_has(fx_path("crosscheck.log"), "0 differences"));
}
END_TEST

START_TEST(test_crosscheck_v1_sync)
{
    char set[256];

    if (!have_python("e2e: crosscheck_v1_sync"))
        return;
    snprintf(set, sizeof(set), "%s --set scheduler.async_scheduling=false",
             xcheck_sets[_i]);
    ck_assert_int_eq(crosscheck("tests/data/e2e/fixed_v1.json", set), 0);
}
END_TEST

/* Sarathi's policy on a V1 engine (graphs and async scheduling), as the
 * issue-20 campaign runs it, and the campaign's own scenarios with the
 * fixed cost. */
START_TEST(test_crosscheck_sarathi_v1_engine)
{
    char set[256];

    if (!have_python("e2e: crosscheck_sarathi_v1_engine"))
        return;
    snprintf(set, sizeof(set), "%s --set scheduler.cudagraph_mode="
             "full_and_piecewise --set scheduler.async_scheduling=true",
             xcheck_sets[_i]);
    ck_assert_int_eq(crosscheck("tests/data/e2e/fixed_sarathi.json", set), 0);
    ck_assert_int_eq(crosscheck(_i == 0 ? "configs/e2e/v1/conv_vllm.json" :
                                _i == 1 ? "configs/e2e/v1/code_vllm.json" :
                                "configs/e2e/v1/conv_sarathi.json",
                                "cost_model.name=fixed --set "
                                "cost_model.iteration_us=3000 --set "
                                "cost_model.per_token_us=2 --set "
                                "workload.rate_scale=3"), 0);
}
END_TEST

/* serve_v1.py's serving loop (the one the GPU campaign runs) against a
 * fake GPU with no host time: it must give sched.py's replay, hence
 * llmsim's, times for every request; async scheduling on and off. */
START_TEST(test_serve_v1_loop)
{
    static const char *const cfg[] = { "tests/data/e2e/fixed_v1.json",
        "tests/data/e2e/fixed_sarathi.json", "tests/data/e2e/fixed_vllm.json" };
    char cmd[1024];
    int rc;

    if (!have_python("e2e: serve_v1_loop"))
        return;
    snprintf(cmd, sizeof(cmd), "python3 hw/calib/reference/serve_v1_check.py "
             "%s --set workload.rate_scale=4 >%s 2>&1", cfg[_i],
             fx_path("loop.log"));
    rc = system(cmd);
    ck_assert(WIFEXITED(rc) && WEXITSTATUS(rc) == 0);
    ck_assert(file_has(fx_path("loop.log"), " 0 differences, 0 bad "));
    if (_i == 0)    /* the async loop did overlap planning with the GPU */
        ck_assert(!file_has(fx_path("loop.log"), "(0 planned while"));
}
END_TEST

/* The capture sizes bound the padding: with graphs off nothing is padded,
 * and the two sides still agree (on times that differ from the padded
 * run's). */
START_TEST(test_crosscheck_v1_eager)
{
    if (!have_python("e2e: crosscheck_v1_eager"))
        return;
    ck_assert_int_eq(crosscheck("tests/data/e2e/fixed_v1.json",
                                "scheduler.cudagraph_mode=none"), 0);
    ck_assert_int_eq(crosscheck("tests/data/e2e/fixed_v1.json",
                                "scheduler.cudagraph_capture_sizes=[3,5]"),
                     0);
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
    static char buf[1 << 16];
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
    /* sched.py's replay and llmsim agree on the load, computed apart */
    ck_assert(log_has("load: utilization (time with requests waiting after "
                      "planning) 80.7% measured, 80.7% simulated; busy "
                      "100.0% / 100.0%; awaiting a first token: mean 18.31 "
                      "/ 18.31, max 31 / 31"));
    ck_assert(log_has("sensitivity: llmsim's TTFT p90 +"));
    ck_assert(log_has("validate-e2e: m (1 run): TTFT p50 1/1,"));
    ck_assert_int_eq(access(fx_path("p/ok.dat"), R_OK), 0);
    ck_assert_int_eq(access(fx_path("p/ok.gp"), R_OK), 0);
    ck_assert_int_eq(access(fx_path("p/ok_load.dat"), R_OK), 0);
    ck_assert_int_eq(access(fx_path("p/ok_load.gp"), R_OK), 0);
    ck_assert(file_has(fx_path("p/sensitivity.dat"), "ok ttft_p90_change_pct"
                       "\n0 0\n1 "));
    ck_assert_int_eq(access(fx_path("p/sensitivity.gp"), R_OK), 0);
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

/* vLLM V1 with async scheduling: sched.py's two-phase replay is
 * llmsim's answer too, padding and load included. */
START_TEST(test_validate_e2e_exact_v1)
{
    if (!have_python("e2e: validate_e2e_exact_v1"))
        return;
    ck_assert_int_eq(sh("mkdir -p %s/v && python3 hw/calib/reference/"
                        "sched.py measure tests/data/e2e/fixed_v1.json "
                        "--set workload.rate_scale=4 --out %s/v/v1.jsonl",
                        fx_tmpdir, fx_tmpdir), 0);
    ck_assert_int_eq(sh("%s validate-e2e %s/v", llmsim_bin(), fx_tmpdir), 0);
    ck_assert(log_has("TTFT          4372.73    4372.73    +0.0%"));
    ck_assert(log_has("median iteration error +0.0%"));
    ck_assert(log_has("82.9% measured, 82.9% simulated"));
    ck_assert(log_has("every target met"));
}
END_TEST

/* The targets are a folder's: p50 and p90 within 5% in at least 80% of
 * its runs.  Iterations 2.5% slower (light load) miss TTFT p50 by 5.5%
 * and nothing else: one such run of five is allowed, two are not. */
START_TEST(test_validate_e2e_80_percent)
{
    static const char *const names[] = { "a", "b", "c", "d", "e" };
    char args[600];
    int i;

    if (!have_python("e2e: validate_e2e_80_percent"))
        return;
    ck_assert_int_eq(sh("mkdir -p %s/r/g %s/r/h", fx_tmpdir, fx_tmpdir), 0);
    for (i = 0; i < 5; i++) {
        snprintf(args, sizeof(args), "--stretch %s --out %s/r/g/%s.jsonl",
                 i == 4 ? "1.025" : "1", fx_tmpdir, names[i]);
        ck_assert_int_eq(sh("python3 hw/calib/reference/sched.py measure "
                            "tests/data/e2e/fixed_sarathi.json --set "
                            "workload.rate_scale=0.5 %s%s", args, ""), 0);
        snprintf(args, sizeof(args), "--stretch %s --out %s/r/h/%s.jsonl",
                 i >= 3 ? "1.025" : "1", fx_tmpdir, names[i]);
        ck_assert_int_eq(sh("python3 hw/calib/reference/sched.py measure "
                            "tests/data/e2e/fixed_sarathi.json --set "
                            "workload.rate_scale=0.5 %s%s", args, ""), 0);
    }
    ck_assert_int_eq(sh("%s validate-e2e %s/r", llmsim_bin(), fx_tmpdir), 1);
    ck_assert(log_has("validate-e2e: g (5 runs): TTFT p50 4/5, TTFT p90 5/5,"
                      " TTFT p99 5/5;"));
    ck_assert(log_has("throughput 5/5 -> targets met\n"));
    ck_assert(log_has("validate-e2e: h (5 runs): TTFT p50 3/5*,"));
    ck_assert(log_has("throughput 5/5 -> targets missed\n"));
    ck_assert_int_eq(sh("%s validate-e2e %s/r/g", llmsim_bin(), fx_tmpdir),
                     0);
    ck_assert(log_has("every target met"));
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
    tcase_add_loop_test(t, test_crosscheck_vllm_v0, 0, 3);
    tcase_add_loop_test(t, test_crosscheck_v1, 0, 3);
    tcase_add_loop_test(t, test_crosscheck_v1_sync, 0, 3);
    tcase_add_test(t, test_crosscheck_v1_eager);
    tcase_add_loop_test(t, test_crosscheck_sarathi_v1_engine, 0, 3);
    tcase_add_loop_test(t, test_serve_v1_loop, 0, 3);
    tcase_add_loop_test(t, test_crosscheck_sarathi, 0, 3);
    tcase_add_test(t, test_crosscheck_bad_config);
    suite_add_tcase(s, t);
    t = tcase_create("validate_e2e");
    tcase_set_timeout(t, 120);
    tcase_add_checked_fixture(t, fx_setup, fx_teardown);
    tcase_add_test(t, test_validate_e2e_exact);
    tcase_add_test(t, test_validate_e2e_exact_v1);
    tcase_add_test(t, test_validate_e2e_80_percent);
    tcase_add_test(t, test_validate_e2e_perturbed);
    tcase_add_loop_test(t, test_validate_e2e_bad_input, 0,
                        (int)(sizeof(bad_lines) / sizeof(bad_lines[0])));
    tcase_add_test(t, test_validate_e2e_nothing_yet);
    suite_add_tcase(s, t);
    return s;
}
