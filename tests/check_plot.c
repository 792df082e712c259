/* Tests of `llmsim plot`: from two run databases and one sweep database,
 * the figures exist as PNG and SVG, and plots.gp draws the expected
 * number of series in every panel (counted from the script); the data
 * files hold what the databases hold; bad inputs are named. */
#include <check.h>
#include <dirent.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <sqlite3.h>

#include "analysis/plot.h"
#include "analysis/sweep.h"
#include "analysis/sweepdb.h"
#include "run/run.h"
#include "run/scenario.h"
#include "tests/fixture.h"
#include "tests/suites.h"

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;

    ck_assert_msg(f != NULL, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = calloc(1, (size_t)n + 1);
    ck_assert_int_eq(fread(buf, 1, (size_t)n, f), n);
    fclose(f);
    return buf;
}

/* Two replicas, 60 Poisson requests, iterations recorded: seed 1 and 2. */
static void make_run(const char *name, const char *seed)
{
    char cfg[1024];
    const char *sets[] = { seed, NULL };
    struct run_opts o = { .out_dir = fx_path(name), .quiet = 1 };
    struct llm_diag d = { 0 };
    struct scenario sc;
    cJSON *summary = NULL;
    FILE *f;

    snprintf(cfg, sizeof(cfg), "%s/run.json", fx_tmpdir);
    f = fopen(cfg, "w");
    ck_assert_ptr_nonnull(f);
    fputs("{\"name\": \"p\", \"model\": \"llama-3-8b\", \"hardware\": "
          "{\"device\": \"h100-sxm-80gb\", \"num_gpus\": 2}, "
          "\"cost_model\": {\"name\": \"roofline\"}, \"workload\": "
          "{\"type\": \"poisson\", \"rate\": 30, \"num_requests\": 60, "
          "\"prompt\": {\"dist\": \"uniform\", \"min\": 32, \"max\": 800}, "
          "\"output\": {\"dist\": \"uniform\", \"min\": 1, \"max\": 60}}}", f);
    fclose(f);
    ck_assert_int_eq(scenario_load(cfg, sets, &sc, &d), LLM_OK);
    ck_assert_msg(run_scenario(&sc, &o, &summary, NULL, &d) == LLM_OK, "%s",
                  d.msg);
    cJSON_Delete(summary);
    scenario_free(&sc);
}

/* A sweep database with made-up figures: 3 schedulers x 3 rates x 2
 * seeds; scheduler "c" has no TPOT (as when every output is 1 token). */
static void make_sweep(void)
{
    static const char *const sched[] = { "\"a\"", "\"b\"", "\"c\"" };
    static const char *const rate[] = { "1", "2", "4" };
    struct sweepdb_meta m = { .name = "fake", .kind = "sweep", .base = "{}",
        .load_axis = "workload.rate_scale", .confidence = 0.95 };
    const char *keys[] = { "scheduler.name", "workload.rate_scale" };
    struct sweep_point pt;
    struct sweepdb *db;
    struct llm_diag d = { 0 };
    int s, r, seed;

    ck_assert_int_eq(sweepdb_open(fx_path("sweep.sqlite"), &m, &db, &d),
                     LLM_OK);
    for (s = 0; s < 3; s++)
        for (r = 2; r >= 0; r--)            /* x order is the plot's job */
            for (seed = 1; seed <= 2; seed++) {
                const char *vals[] = { sched[s], rate[r] };
                cJSON *met = cJSON_CreateObject();
                double x = atof(rate[r]) * 10 + seed * 0.1;
                ck_assert_int_eq(sweep_point_make(keys, vals, 2,
                                                  (uint64_t)seed, &pt), 0);
                ck_assert_int_eq(sweepdb_register(db, &pt, 1, &d), LLM_OK);
                cJSON_AddNumberToObject(met, "offered_req_s", x);
                cJSON_AddNumberToObject(met, "ttft_ms.p50", x * 2 + s);
                cJSON_AddNumberToObject(met, "ttft_ms.p90", x * 3 + s);
                cJSON_AddNumberToObject(met, "ttft_ms.p99", x * 4 + s);
                if (s != 2) {
                    cJSON_AddNumberToObject(met, "tpot_ms.p50", 4 + s);
                    cJSON_AddNumberToObject(met, "tpot_ms.p90", 5 + s);
                    cJSON_AddNumberToObject(met, "tpot_ms.p99", 6 + s);
                }
                cJSON_AddNumberToObject(met, "goodput_req_s", x * 0.9);
                cJSON_AddNumberToObject(met, "throughput_out_tok_s", x * 50);
                /* cost over three decades: a log axis; energy only under
                 * "cluster" (a run with pools) */
                cJSON_AddNumberToObject(met, "usd_per_mtok_out",
                                        0.01 * pow(10, r) * (1 + s));
                cJSON_AddNumberToObject(met, "cluster.energy_j_per_output_"
                                        "token", 0.5 + s);
                ck_assert_int_eq(sweepdb_record(db, pt.id, met, 0.1, 0, &d),
                                 LLM_OK);
                cJSON_Delete(met);
                sweep_point_clear(&pt);
            }
    ck_assert_int_eq(sweepdb_aggregate(db, &d), LLM_OK);
    sweepdb_close(db);
}

/* Series per "plot" statement of the figure drawn into file: the script
 * writes "plot \" and then one series per continued line ("plot NaN
 * notitle" is an empty panel: 0). */
static int series_of(const char *script, const char *file, int *out, int max)
{
    char marker[128];
    const char *p, *end, *nl;
    bool in = false, cont;
    int n = 0;

    snprintf(marker, sizeof(marker), "set output '%s'\n", file);
    p = strstr(script, marker);
    ck_assert_msg(p != NULL, "no figure %s in plots.gp", file);
    end = strstr(p, "unset output");
    ck_assert_ptr_nonnull(end);
    for (; p < end; p = nl + 1) {
        nl = strchr(p, '\n');
        cont = nl > p && nl[-1] == '\\';
        if (in) {
            out[n - 1]++;
            in = cont;
        } else if (strncmp(p, "plot", 4) == 0 && n < max) {
            out[n++] = 0;
            in = cont;
        }
    }
    return n;
}

static void expect_series(const char *script, const char *name,
                          const int *want, int n)
{
    static const char *const ext[] = { "png", "svg" };
    char file[96];
    int got[8], k, i;

    for (k = 0; k < 2; k++) {
        snprintf(file, sizeof(file), "%s.%s", name, ext[k]);
        ck_assert_int_eq(series_of(script, file, got, 8), n);
        for (i = 0; i < n; i++)
            ck_assert_msg(got[i] == want[i], "%s panel %d: %d series, "
                          "expected %d", file, i, got[i], want[i]);
    }
}

static void expect_images(const char *name)
{
    char *png, *svg;
    char p[600];

    snprintf(p, sizeof(p), "%s/plots/%s.png", fx_tmpdir, name);
    png = slurp(p);
    snprintf(p, sizeof(p), "%s/plots/%s.svg", fx_tmpdir, name);
    svg = slurp(p);
    ck_assert_mem_eq(png, "\x89PNG", 4);
    ck_assert_ptr_nonnull(strstr(svg, "<svg"));
    free(png);
    free(svg);
}

static int count_lines(const char *text, char skip)
{
    int n = 0;

    for (; *text; text = strchr(text, '\n') + 1) {
        n += *text != skip;
        if (strchr(text, '\n') == NULL)
            break;
    }
    return n;
}

/* Two runs (seeds 1 and 2) and a sweep, plotted together into
 * DIR/plots. */
static void plot_two_runs_and_sweep(const char *dbs[3],
                                    struct plot_list *made,
                                    struct llm_diag *d)
{
    make_run("r1", "seed=1");
    make_run("r2", "seed=2");
    make_sweep();
    dbs[0] = fx_path("r1/results.sqlite");
    dbs[1] = fx_path("r2/results.sqlite");
    dbs[2] = fx_path("sweep.sqlite");
    ck_assert_msg(plot_make(dbs, 3, fx_path("plots"), made, d) == LLM_OK,
                  "%s", d->msg);
}

START_TEST(test_figures)
{
    const char *dbs[3];
    struct plot_list made;
    struct llm_diag d = { 0 };
    char *gp, *dat, *last;
    const int cdf[] = { 2, 2, 2, 2 }, timeline[] = { 2, 4, 2 };
    const int three[] = { 3, 3, 3 }, tpot[] = { 2, 2, 2 }, one[] = { 3 };
    const int reps[] = { 4, 4 }, tput[] = { 3, 3, 3, 2, 2, 2 };
    const int cost[] = { 3, 3 };
    DIR *dir;
    struct dirent *e;

    plot_two_runs_and_sweep(dbs, &made, &d);
    /* CDF, 2 x 2 timelines, the replicas overlay, 6 sweep figures */
    ck_assert_uint_eq(made.n, 12);
    gp = slurp(fx_path("plots/plots.gp"));
    expect_series(gp, "latency_cdf", cdf, 4);
    expect_series(gp, "timeline_0_r0", timeline, 3);
    expect_series(gp, "timeline_1_r1", timeline, 3);
    expect_series(gp, "replicas", reps, 2);
    expect_series(gp, "load_ttft", three, 3);
    expect_series(gp, "load_tpot", tpot, 3);
    expect_series(gp, "load_goodput", one, 1);
    expect_series(gp, "tput_latency", tput, 6);
    expect_series(gp, "load_cost", cost, 2);
    expect_images("latency_cdf");
    expect_images("timeline_0_r1");
    expect_images("replicas");
    expect_images("load_ttft");
    expect_images("tput_latency");
    expect_images("load_cost");
    /* every request is in the CDF; it ends at 1 */
    dat = slurp(fx_path("plots/cdf_ttft_0.dat"));
    ck_assert_int_eq(count_lines(dat, '#'), 60);
    last = strrchr(dat, ' ');
    ck_assert_double_eq(atof(last + 1), 1.0);
    free(dat);
    /* one row per rate, sorted by the offered load: 10.15, 20.15, 40.15 */
    dat = slurp(fx_path("plots/load_0_g1.dat"));
    ck_assert_int_eq(count_lines(dat, '#'), 3);
    ck_assert_ptr_nonnull(strstr(dat, "\n10.15 "));
    ck_assert(strstr(dat, "\n10.15 ") < strstr(dat, "\n40.15 "));
    free(dat);
    free(gp);
    dir = opendir(fx_path("plots"));
    while ((e = readdir(dir)) != NULL)
        ck_assert_msg(strncmp(e->d_name, ".plot-tmp", 9) != 0,
                      "staging directory left behind");
    closedir(dir);
}
END_TEST

/* A run database whose kv_tiers table holds replica 0's host and SSD
 * tiers and replica 1's host tier: one figure per replica, one line per
 * tier in each panel (occupancy, traffic). */
START_TEST(test_kv_tiers)
{
    static const char *const rows =
        "INSERT INTO kv_tiers VALUES (0, 1000000000, 'host', 100, 50, 0, 0,"
        " 1073741824, 0);"
        "INSERT INTO kv_tiers VALUES (0, 2000000000, 'host', 100, 25, 1, 4,"
        " 1073741824, 1073741824);"
        "INSERT INTO kv_tiers VALUES (0, 2000000000, 'ssd', 400, 100, 0, 0,"
        " 0, 0);"
        "INSERT INTO kv_tiers VALUES (1, 1500000000, 'host', 100, 10, 0, 0,"
        " 0, 0);";
    const char *dbs[1];
    const int two[] = { 2, 2 }, one[] = { 1, 1 };
    struct plot_list made;
    struct llm_diag d = { 0 };
    sqlite3 *db;
    char *gp, *dat;

    make_run("t", "seed=1");
    dbs[0] = fx_path("t/results.sqlite");
    ck_assert_int_eq(sqlite3_open(dbs[0], &db), SQLITE_OK);
    ck_assert_int_eq(sqlite3_exec(db, rows, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    ck_assert_msg(plot_make(dbs, 1, fx_path("plots"), &made, &d) == LLM_OK,
                  "%s", d.msg);
    /* CDF, 2 timelines, the replicas overlay, 2 tier figures */
    ck_assert_uint_eq(made.n, 6);
    gp = slurp(fx_path("plots/plots.gp"));
    expect_series(gp, "kv_tiers_r0", two, 2);
    expect_series(gp, "kv_tiers_r1", one, 2);
    expect_images("kv_tiers_r0");
    /* host of replica 0: 50% then 25% used, 1 then 2 GiB moved */
    dat = slurp(fx_path("plots/kv_tiers_r0_t0.dat"));
    ck_assert_ptr_nonnull(strstr(dat, "\n1 50 1\n2 25 2\n"));
    free(dat);
    dat = slurp(fx_path("plots/kv_tiers_r0_t1.dat"));
    ck_assert_ptr_nonnull(strstr(dat, "tier 'ssd'"));
    ck_assert_ptr_nonnull(strstr(dat, "\n2 25 0\n"));
    free(dat);
    free(gp);
}
END_TEST

START_TEST(test_bad_inputs)
{
    struct plot_list made;
    struct llm_diag d = { 0 };
    const char *dbs[1];
    char msg[700];
    FILE *f;

    dbs[0] = fx_path("missing.sqlite");
    /* a database argument that cannot be opened is bad input (issue 19) */
    ck_assert_int_eq(plot_make(dbs, 1, fx_path("o"), &made, &d), LLM_EINVAL);
    snprintf(msg, sizeof(msg), "%s: cannot open: unable to open database "
             "file", dbs[0]);
    ck_assert_str_eq(d.msg, msg);
    dbs[0] = fx_path("empty.sqlite");
    f = fopen(dbs[0], "w");
    fclose(f);
    d = (struct llm_diag){ 0 };
    ck_assert_int_eq(plot_make(dbs, 1, fx_path("o"), &made, &d), LLM_EINVAL);
    snprintf(msg, sizeof(msg), "%s: not an llmsim results or sweep database "
             "(no requests or points table)", dbs[0]);
    ck_assert_str_eq(d.msg, msg);
    ck_assert_int_ne(access(fx_path("o/plots.gp"), F_OK), 0);
}
END_TEST

/* Issue 18's rules for the figures: labels from what differs between the
 * runs (the two runs differ in their seed only; the sweep's groups in
 * scheduler.name, shortened), never the same label twice, legends below
 * the data, error bars cut at 0 or, on a log axis, under the smallest
 * value, a log axis where values span decades, the timeline's bin width
 * and maxima, and the ITL CDF. */
START_TEST(test_planner_rules)
{
    const char *dbs[3];
    struct plot_list made;
    struct llm_diag d = { 0 };
    char *gp, *dat, *cost;

    plot_two_runs_and_sweep(dbs, &made, &d);
    gp = slurp(fx_path("plots/plots.gp"));
    ck_assert_ptr_nonnull(strstr(gp, "title 'seed=1'"));
    ck_assert_ptr_nonnull(strstr(gp, "title 'seed=2'"));
    ck_assert_ptr_null(strstr(gp, "title 'p (seed"));
    ck_assert_ptr_nonnull(strstr(gp, "title 'seed=2, replica 1'"));
    ck_assert_ptr_nonnull(strstr(gp, "title 'name=a'"));
    ck_assert_ptr_nonnull(strstr(gp, "title 'name=c'"));
    ck_assert_ptr_null(strstr(gp, "scheduler.name="));
    ck_assert_ptr_null(strstr(gp, "set key top left"));
    ck_assert_ptr_nonnull(strstr(gp, "set key below"));
    /* TTFT p50 of the sweep: mean in column 2, bars cut at 0 */
    ck_assert_ptr_nonnull(strstr(gp, "using 1:2:($3 > 0 ? $3 : 0):4 with "
                                 "yerrorlines"));
    /* cost spans three decades: a log axis, bars cut under its minimum */
    cost = strstr(gp, "set title 'cost per million output tokens'");
    ck_assert_ptr_nonnull(cost);
    ck_assert_ptr_nonnull(strstr(cost, "set logscale y"));
    ck_assert(strstr(cost, "set logscale y") < strstr(cost, "plot"));
    ck_assert_ptr_nonnull(strstr(cost, "? $36 : 0.005):37"));
    ck_assert_ptr_nonnull(strstr(gp, "500 bins of "));
    ck_assert_ptr_nonnull(strstr(gp, "title 'batch tokens (max)'"));
    /* energy read from "cluster", as a run with pools reports it */
    dat = slurp(fx_path("plots/load_0_g0.dat"));
    ck_assert_ptr_nonnull(strstr(dat, " 0.5 0.5 0.5\n"));
    free(dat);
    /* the ITL CDF ends at every gap */
    dat = slurp(fx_path("plots/cdf_itl_1.dat"));
    ck_assert_double_eq(atof(strrchr(dat, ' ') + 1), 1.0);
    free(dat);
    free(gp);
}
END_TEST

/* Text from a database reaches the script only as a quoted string: a
 * run named with a quote plots, the quote written as U+2019 (plot_gp_str,
 * issue 23). */
START_TEST(test_quoted_text)
{
    const char *dbs[1];
    struct plot_list made;
    struct llm_diag d = { 0 };
    sqlite3 *db;
    char *gp;

    make_run("q", "seed=1");
    dbs[0] = fx_path("q/results.sqlite");
    ck_assert_int_eq(sqlite3_open(dbs[0], &db), SQLITE_OK);
    ck_assert_int_eq(sqlite3_exec(db, "UPDATE runs SET name = 'it''s'",
                                  NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    ck_assert_msg(plot_make(dbs, 1, fx_path("plots"), &made, &d) == LLM_OK,
                  "%s", d.msg);
    gp = slurp(fx_path("plots/plots.gp"));
    ck_assert_ptr_nonnull(strstr(gp, "title 'it\xe2\x80\x99s (seed 1)'"));
    free(gp);
}
END_TEST

Suite *plot_suite(void)
{
    Suite *s = suite_create("plot");
    TCase *tc = tcase_create("plot");

    tcase_add_checked_fixture(tc, fx_setup, fx_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_figures);
    tcase_add_test(tc, test_kv_tiers);
    tcase_add_test(tc, test_planner_rules);
    tcase_add_test(tc, test_quoted_text);
    tcase_add_test(tc, test_bad_inputs);
    suite_add_tcase(s, tc);
    return s;
}
