/* Tests of `llmsim sweep`: the sweep file's errors, the expansion and its
 * canonical keys, the confidence intervals, resuming (nothing finished is
 * run again; a point lost to a kill is), the base check, infeasible
 * points, and the MPI path on two and three local ranks. */
#include <check.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "analysis/ci.h"
#include "analysis/sweep.h"
#include "analysis/sweepdb.h"
#include "cli/cmd_sweep.h"
#include "tests/fixture.h"
#include "tests/suites.h"

/* A small, quick scenario: llama-3-8b, roofline costs, 60 Poisson
 * requests (the seed changes the arrivals, so seeds differ). */
static const char *base_config(void)
{
    return fx_put("base.json",
        "{\"name\": \"b\", \"seed\": 1, \"model\": \"llama-3-8b\","
        " \"hardware\": {\"device\": \"h100-sxm-80gb\"},"
        " \"cost_model\": {\"name\": \"roofline\"},"
        " \"workload\": {\"type\": \"poisson\", \"rate\": 20,"
        "  \"num_requests\": 60,"
        "  \"prompt\": {\"dist\": \"uniform\", \"min\": 32, \"max\": 512},"
        "  \"output\": {\"dist\": \"uniform\", \"min\": 2, \"max\": 40}},"
        " \"output\": {\"iterations\": false}}");
}

/* The sweep file: 2 x 2 configs x 2 seeds = 8 points. */
static const char *sweep_file(const char *set_extra, const char *rates)
{
    char text[2048];

    snprintf(text, sizeof(text),
        "{\"name\": \"t\", \"base\": \"%s/base.json\","
        " \"set\": {\"slo.ttft_ms\": 200%s},"
        " \"params\": {\"scheduler.max_num_seqs\": [4, 32],"
        "  \"workload.rate_scale\": %s},"
        " \"seeds\": [1, 2], \"out\": \"%s/sw\"}",
        fx_tmpdir, set_extra ? set_extra : "", rates ? rates : "[1, 2]",
        fx_tmpdir);
    return fx_put("sweep.json", text);
}

static int sweep(const char *file, const char *jobs)
{
    char *argv[] = { "sweep", (char *)file, "--quiet", "-j", (char *)jobs,
                     NULL };

    return cmd_sweep(5, argv);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;

    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = calloc(1, (size_t)n + 1);
    ck_assert_int_eq(fread(buf, 1, (size_t)n, f), n);
    fclose(f);
    return buf;
}

static sqlite3 *open_db(const char *name)
{
    char path[400];
    sqlite3 *db;

    snprintf(path, sizeof(path), "%s/%s", fx_tmpdir, name);
    ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
    return db;
}

static int64_t q_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st;
    int64_t v = -1;

    ck_assert_int_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static double q_num(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st;
    double v = NAN;

    ck_assert_int_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_double(st, 0);
    sqlite3_finalize(st);
    return v;
}

static const struct {
    const char *text, *msg;
} bad_files[] = {
    { "{\"params\": {\"a.b\": [1]}}",
      "base: missing (expected the path of a scenario config, or a "
      "scenario object)" },
    { "{\"base\": \"x.json\"}", "params: missing (expected an object)" },
    { "{\"base\": \"x.json\", \"params\": {\"a.b\": []}}",
      "params.a.b: expected a non-empty array of values" },
    { "{\"base\": \"x.json\", \"params\": {\"a.b\": [1, 1.0]}}",
      "params.a.b: value 1 is listed twice" },
    { "{\"base\": \"x.json\", \"params\": {\"seed\": [1, 2]}}",
      "params.seed: list seeds under \"seeds\" instead" },
    { "{\"base\": \"x.json\", \"params\": {\"a..b\": [1]}}",
      "params: \"a..b\": expected a config key path such as "
      "\"scheduler.name\"" },
    { "{\"base\": \"x.json\", \"params\": {}, \"seeds\": [1, -2]}",
      "seeds[1]: expected a non-negative integer" },
    { "{\"base\": \"x.json\", \"params\": {}, \"seeds\": [3, 3]}",
      "seeds[1]: seed 3 is listed twice" },
    { "{\"base\": \"x.json\", \"params\": {}, \"jobz\": 2}",
      "jobz: unknown key (known: name, base, set, params, seeds, "
      "load_axis, confidence, out, keep_runs, jobs)" },
    { "{\"base\": \"x.json\", \"params\": {}, \"confidence\": 1.5}",
      "confidence: expected a number in [0.5, 0.999], got 1.5" },
};

START_TEST(test_spec_errors)
{
    struct sweep_spec sp;
    struct llm_diag d = { 0 };
    const char *p = fx_put("bad.json", bad_files[_i].text);

    ck_assert_int_eq(sweep_load(p, &sp, &d), LLM_EINVAL);
    ck_assert_str_eq(d.file, p);
    ck_assert_str_eq(d.msg, bad_files[_i].msg);
}
END_TEST

/* First key outermost, seeds innermost; canonical params sorted by key,
 * numbers as cJSON prints them (2.0 and 2 are one value). */
START_TEST(test_expand)
{
    struct sweep_spec sp;
    struct sweep_point *pts;
    struct llm_diag d = { 0 };
    size_t n;
    const char *p = fx_put("s.json", "{\"base\": \"b.json\", \"params\": "
        "{\"z.k\": [2.0, \"x\"], \"a.k\": [{\"n\": 1}]}, \"seeds\": [5, 6]}");

    ck_assert_int_eq(sweep_load(p, &sp, &d), LLM_OK);
    ck_assert_int_eq(sweep_expand(&sp, &pts, &n, &d), LLM_OK);
    ck_assert_uint_eq(n, 4);
    ck_assert_str_eq(pts[0].params, "{\"a.k\":{\"n\":1},\"z.k\":2}");
    ck_assert_uint_eq(pts[0].seed, 5);
    ck_assert_uint_eq(pts[1].seed, 6);
    ck_assert_str_eq(pts[1].params, pts[0].params);
    ck_assert_str_eq(pts[2].params, "{\"a.k\":{\"n\":1},\"z.k\":\"x\"}");
    ck_assert_str_eq(pts[2].sets[0], "z.k=\"x\"");
    ck_assert_str_eq(pts[2].sets[1], "a.k={\"n\":1}");
    ck_assert_str_eq(pts[2].sets[2], "seed=5");
    ck_assert_ptr_null(pts[2].sets[3]);
    ck_assert_str_eq(sp.load_axis, "workload.rate_scale");
    ck_assert_str_eq(sp.out_dir, "out/s");
    sweep_points_free(pts, n);
    sweep_spec_free(&sp);
}
END_TEST

/* Student t intervals against R: qt(0.975, 4) = 2.776445,
 * qt(0.95, 4) = 2.131847; x = 1..5 has mean 3, sd sqrt(2.5). */
START_TEST(test_ci)
{
    const double x[] = { 1, 2, 3, 4, 5 };
    struct ci c;

    ci_mean(x, 5, 0.95, &c);
    ck_assert_double_eq_tol(c.mean, 3, 1e-12);
    ck_assert_double_eq_tol(c.sd, sqrt(2.5), 1e-12);
    ck_assert_double_eq_tol(c.hi - c.mean, 2.776445 * sqrt(2.5 / 5), 1e-6);
    ck_assert_double_eq_tol(ci_bound(&c, 0.95, true),
                            3 + 2.131847 * sqrt(0.5), 1e-6);
    ck_assert_double_eq_tol(ci_bound(&c, 0.95, false),
                            3 - 2.131847 * sqrt(0.5), 1e-6);
    ci_mean(x, 1, 0.95, &c);
    ck_assert(isnan(c.lo) && isnan(c.hi));
    ck_assert_double_eq(ci_bound(&c, 0.95, true), 1);
}
END_TEST

/* Run with -j 2, rerun: nothing runs twice.  Then lose two points as a
 * kill between runs would (status back to pending, no metrics): the next
 * run runs exactly those, with the same figures. */
START_TEST(test_resume)
{
    sqlite3 *db;
    double p90;
    const char *f;

    base_config();
    f = sweep_file(NULL, NULL);
    ck_assert_int_eq(sweep(f, "2"), 0);
    db = open_db("sw/sweep.sqlite");
    ck_assert_int_eq(q_int(db, "SELECT COUNT(*) FROM points WHERE status = "
                           "'done' AND attempts = 1"), 8);
    ck_assert_int_eq(q_int(db, "SELECT COUNT(*) FROM configs"), 4);
    ck_assert_int_eq(q_int(db, "SELECT COUNT(DISTINCT point) FROM metrics"),
                     8);
    /* seeds differ, so the intervals are real ones */
    ck_assert_int_eq(q_int(db, "SELECT COUNT(*) FROM aggregates WHERE name "
        "= 'ttft_ms.p90' AND n = 2 AND ci_hi > ci_lo"), 4);
    p90 = q_num(db, "SELECT value FROM metrics WHERE point = 3 AND name = "
                "'ttft_ms.p90'");
    sqlite3_close(db);

    ck_assert_int_eq(sweep(f, "2"), 0);
    db = open_db("sw/sweep.sqlite");
    ck_assert_int_eq(q_int(db, "SELECT SUM(attempts) FROM points"), 8);
    ck_assert_int_eq(q_int(db, "SELECT COUNT(*) FROM metrics WHERE point = "
                           "3"), q_int(db, "SELECT COUNT(*) FROM metrics "
                           "WHERE point = 1"));
    ck_assert_int_eq(sqlite3_exec(db, "UPDATE points SET status = "
        "'pending' WHERE id IN (3, 6); DELETE FROM metrics WHERE point IN "
        "(3, 6)", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);

    ck_assert_int_eq(sweep(f, "1"), 0);
    db = open_db("sw/sweep.sqlite");
    ck_assert_int_eq(q_int(db, "SELECT COUNT(*) FROM points WHERE attempts "
                           "= 2"), 2);
    ck_assert_int_eq(q_int(db, "SELECT SUM(id) FROM points WHERE attempts "
                           "= 2"), 9);
    ck_assert_int_eq(q_int(db, "SELECT COUNT(*) FROM points WHERE status = "
                           "'done'"), 8);
    ck_assert_double_eq(q_num(db, "SELECT value FROM metrics WHERE point = 3"
                              " AND name = 'ttft_ms.p90'"), p90);
    sqlite3_close(db);

    /* a new value adds points; the old ones stay done */
    f = sweep_file(NULL, "[1, 2, 3]");
    ck_assert_int_eq(sweep(f, "2"), 0);
    db = open_db("sw/sweep.sqlite");
    ck_assert_int_eq(q_int(db, "SELECT COUNT(*) FROM points WHERE status = "
                           "'done'"), 12);
    ck_assert_int_eq(q_int(db, "SELECT SUM(attempts) FROM points"), 14);
    sqlite3_close(db);
}
END_TEST

/* A sweep database made from another base is refused, not mixed. */
START_TEST(test_base_changed)
{
    struct sweepdb_meta m = { .name = "t", .kind = "sweep",
        .base = "{}\nother", .load_axis = "x", .confidence = 0.95 };
    struct sweepdb *db = NULL;
    struct llm_diag d = { 0 };
    char path[600], *err;
    int saved, fd, rc;

    base_config();
    ck_assert_int_eq(sweep(sweep_file(NULL, "[1]"), "1"), 0);
    /* the command's one line on stderr, caught in a file */
    snprintf(path, sizeof(path), "%s/stderr.txt", fx_tmpdir);
    fflush(stderr);
    saved = dup(2);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ck_assert_int_ge(fd, 0);
    dup2(fd, 2);
    close(fd);
    rc = sweep(sweep_file(", \"slo.tpot_ms\": 50", "[1]"), "1");
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    ck_assert_int_eq(rc, 2);
    err = slurp(path);
    snprintf(path, sizeof(path), "llmsim: %s/sw/sweep.sqlite: made from a "
             "different base config or \"set\"; its points would not be "
             "comparable (delete it or choose another output directory)\n",
             fx_tmpdir);
    ck_assert_str_eq(err, path);
    free(err);
    snprintf(path, sizeof(path), "%s/sw/sweep.sqlite", fx_tmpdir);
    ck_assert_int_eq(sweepdb_open(path, &m, &db, &d), LLM_EINVAL);
    ck_assert_ptr_null(db);
    ck_assert(strstr(d.msg, "sweep.sqlite: made from a different base "
                     "config or \"set\"") != NULL);
}
END_TEST

/* A point that does not fit its GPU is recorded infeasible and not run;
 * the others run. */
START_TEST(test_infeasible)
{
    char text[1024];
    sqlite3 *db;

    base_config();
    snprintf(text, sizeof(text), "{\"base\": \"%s/base.json\", \"params\": "
             "{\"model\": [\"llama-2-13b\"], "
             "\"hardware.gpu_memory_utilization\": [0.2, 0.9]}, "
             "\"out\": \"%s/sw\"}", fx_tmpdir, fx_tmpdir);
    ck_assert_int_eq(sweep(fx_put("inf.json", text), "1"), 0);
    db = open_db("sw/sweep.sqlite");
    ck_assert_int_eq(q_int(db, "SELECT COUNT(*) FROM points WHERE status = "
        "'infeasible' AND attempts = 0 AND error LIKE '%does not fit on "
        "h100-sxm-80gb%' AND params LIKE '%0.2%'"), 1);
    ck_assert_int_eq(q_int(db, "SELECT COUNT(*) FROM points WHERE status = "
                           "'done'"), 1);
    sqlite3_close(db);
}
END_TEST

/* mpirun -np 2 llmsim-mpi sweep: both ranks run points, rank 0 writes
 * one database, and its figures equal an in-process sweep's bit for bit
 * (results travel as %.17g text). */
START_TEST(test_mpi_two_ranks)
{
    const char *bin = getenv("LLMSIM_BIN");
    char mpi[512], cmd[2048];
    const char *f;
    sqlite3 *db;

    snprintf(mpi, sizeof(mpi), "%s-mpi", bin ? bin : "./build/llmsim");
    if (system("command -v mpirun >/dev/null 2>&1") != 0 ||
        access(mpi, X_OK) != 0) {
        fx_skip("sweep: mpi_two_ranks", "no mpirun or no build/llmsim-mpi "
                "(apt-get install libopenmpi-dev openmpi-bin; make)");
        return;
    }
    base_config();
    f = sweep_file(NULL, NULL);
    /* ASan's leak check would report Open MPI's own allocations. */
    snprintf(cmd, sizeof(cmd), "ASAN_OPTIONS=detect_leaks=0 mpirun "
             "--allow-run-as-root --oversubscribe -np 2 %s sweep %s --quiet "
             "--out %s/mpi >%s/mpi.log 2>&1", mpi, f, fx_tmpdir, fx_tmpdir);
    ck_assert_msg(system(cmd) == 0, "%s failed; see the log", cmd);
    ck_assert_int_eq(sweep(f, "1"), 0);
    db = open_db("mpi/sweep.sqlite");
    ck_assert_int_eq(q_int(db, "SELECT COUNT(*) FROM points WHERE status = "
                           "'done' AND attempts = 1"), 8);
    ck_assert_int_eq(q_int(db, "SELECT COUNT(DISTINCT rank) FROM points"), 2);
    ck_assert_int_eq(q_int(db, "SELECT COUNT(*) FROM points WHERE rank = 1"),
                     4);
    snprintf(cmd, sizeof(cmd), "ATTACH '%s/sw/sweep.sqlite' AS o", fx_tmpdir);
    ck_assert_int_eq(sqlite3_exec(db, cmd, NULL, NULL, NULL), SQLITE_OK);
    ck_assert_int_gt(q_int(db, "SELECT COUNT(*) FROM metrics m JOIN "
        "o.metrics n ON m.point = n.point AND m.name = n.name"), 8 * 40);
    ck_assert_int_eq(q_int(db, "SELECT COUNT(*) FROM metrics m JOIN "
        "o.metrics n ON m.point = n.point AND m.name = n.name WHERE m.value "
        "IS NOT n.value"), 0);
    sqlite3_close(db);
}
END_TEST

/* mpirun -np 3 on one machine, as on a cluster (a hostfile spreads the
 * same ranks over machines): a sweep whose base is given inline (each
 * worker writes its own copy, as a machine of its own would need) runs
 * every point once over three ranks, rank 0 writes the database, and the
 * figures equal an in-process sweep's bit for bit (issue 24). */
START_TEST(test_mpi_three_ranks)
{
    const char *bin = getenv("LLMSIM_BIN");
    char mpi[512], cmd[2048], text[2048];
    const char *f;
    sqlite3 *db;

    snprintf(mpi, sizeof(mpi), "%s-mpi", bin ? bin : "./build/llmsim");
    if (system("command -v mpirun >/dev/null 2>&1") != 0 ||
        access(mpi, X_OK) != 0) {
        fprintf(stderr, "check_sweep: MPI test (3 ranks) skipped: no mpirun "
                "or no %s (apt-get install libopenmpi-dev openmpi-bin; "
                "make)\n", mpi);
        return;
    }
    snprintf(text, sizeof(text),
        "{\"name\": \"t3\", \"base\": {\"name\": \"b\", \"seed\": 1,"
        " \"model\": \"llama-3-8b\", \"hardware\": {\"device\":"
        " \"h100-sxm-80gb\"}, \"cost_model\": {\"name\": \"roofline\"},"
        " \"workload\": {\"type\": \"poisson\", \"rate\": 20,"
        " \"num_requests\": 40, \"prompt\": {\"dist\": \"uniform\","
        " \"min\": 32, \"max\": 512}, \"output\": {\"dist\": \"uniform\","
        " \"min\": 2, \"max\": 40}}, \"output\": {\"iterations\": false}},"
        " \"params\": {\"scheduler.max_num_seqs\": [4, 32],"
        " \"workload.rate_scale\": [1, 2, 3]}, \"seeds\": [1, 2]}");
    f = fx_put("inline.json", text);
    snprintf(cmd, sizeof(cmd), "ASAN_OPTIONS=detect_leaks=0 mpirun "
             "--allow-run-as-root --oversubscribe -np 3 %s sweep %s --quiet "
             "--out %s/mpi3 >%s/mpi3.log 2>&1", mpi, f, fx_tmpdir,
             fx_tmpdir);
    ck_assert_msg(system(cmd) == 0, "%s failed; see the log", cmd);
    {
        char *argv[] = { "sweep", (char *)f, "--quiet", "--out",
                         (char *)fx_path("one"), NULL };
        ck_assert_int_eq(cmd_sweep(5, argv), 0);
    }
    db = open_db("mpi3/sweep.sqlite");
    ck_assert_int_eq(q_int(db, "SELECT COUNT(*) FROM points WHERE status = "
                           "'done' AND attempts = 1"), 12);
    ck_assert_int_eq(q_int(db, "SELECT COUNT(DISTINCT rank) FROM points"), 3);
    ck_assert_int_eq(q_int(db, "SELECT COUNT(*) FROM points WHERE rank = 2"),
                     4);
    snprintf(cmd, sizeof(cmd), "ATTACH '%s/one/sweep.sqlite' AS o",
             fx_tmpdir);
    ck_assert_int_eq(sqlite3_exec(db, cmd, NULL, NULL, NULL), SQLITE_OK);
    ck_assert_int_gt(q_int(db, "SELECT COUNT(*) FROM metrics m JOIN "
        "o.metrics n ON m.point = n.point AND m.name = n.name"), 12 * 40);
    ck_assert_int_eq(q_int(db, "SELECT COUNT(*) FROM metrics m JOIN "
        "o.metrics n ON m.point = n.point AND m.name = n.name WHERE m.value "
        "IS NOT n.value"), 0);
    sqlite3_close(db);
    snprintf(cmd, sizeof(cmd), "%s/mpi3/runs", fx_tmpdir);
    ck_assert_int_ne(access(cmd, F_OK), 0);    /* scratch cleaned up */
}
END_TEST

Suite *sweep_suite(void)
{
    Suite *s = suite_create("sweep");
    TCase *tc = tcase_create("sweep");

    tcase_add_checked_fixture(tc, fx_setup, fx_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_spec_errors, 0,
                        sizeof(bad_files) / sizeof(bad_files[0]));
    tcase_add_test(tc, test_expand);
    tcase_add_test(tc, test_ci);
    tcase_add_test(tc, test_resume);
    tcase_add_test(tc, test_base_changed);
    tcase_add_test(tc, test_infeasible);
    tcase_add_test(tc, test_mpi_two_ranks);
    tcase_add_test(tc, test_mpi_three_ranks);
    suite_add_tcase(s, tc);
    return s;
}
