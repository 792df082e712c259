/* tests/check_report.c: what a run reports (issue 18): the console
 * table's units and n/a, `run --format vllm` (vllm.json under `vllm
 * bench serve`'s keys, its figures recomputed here from the results
 * tables alone), and the E2E-latency SLO. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "cli/cmd_run.h"
#include "run/progress.h"
#include "run/run.h"
#include "run/scenario.h"
#include "tests/fixture.h"
#include "tests/suites.h"

/* ---- the console table ------------------------------------------------ */

static char *print_summary(const char *json, double e2e_slo_ms)
{
    static const struct sched_ops vllm = { .name = "vllm" };
    struct scenario sc = { .num_gpus = 1, .replicas = 1,
                           .shard = { .tp = 1, .pp = 1 }, .sched = &vllm,
                           .slo_ttft_ms = 2000, .slo_tpot_ms = 100,
                           .slo_e2e_ms = e2e_slo_ms, .block_tokens = 16 };
    cJSON *s = cJSON_Parse(json);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);

    ck_assert_ptr_nonnull(s);
    snprintf(sc.name, sizeof(sc.name), "t");
    snprintf(sc.model.id, sizeof(sc.model.id), "m");
    snprintf(sc.dev.id, sizeof(sc.dev.id), "d");
    cmd_run_print_summary(f, s, &sc);
    fclose(f);
    cJSON_Delete(s);
    return text;
}

/* A saturated run: latencies of 1e6 ms and more read in minutes, each in
 * its own column; TPOT in ms beside them. */
START_TEST(test_table_units)
{
    char *t = print_summary("{\"requests_completed\": 10, \"cost_model\": "
        "\"calibrated\", \"slo_attainment\": 0.25, "
        "\"ttft_ms\": {\"mean\": 1952098.7021, \"p50\": 2091790.8, "
        "\"p90\": 3e6, \"p95\": 3.1e6, \"p99\": 3.2e6}, "
        "\"tpot_ms\": {\"mean\": 9.21, \"p50\": 8.68, \"p90\": 11.49, "
        "\"p95\": 12.82, \"p99\": 16.85}, "
        "\"itl_ms\": {\"mean\": 1500, \"p50\": 20, \"p90\": 30, "
        "\"p95\": 40, \"p99\": 12000}, "
        "\"e2e_ms\": {\"mean\": null}}", -1);

    ck_assert_msg(strstr(t, "TTFT (min)                      32.53     "
                         "34.86     50.00     51.67     53.33\n") != NULL,
                  "%s", t);
    ck_assert(strstr(t, "TPOT (ms)                        9.21      8.68     "
                     "11.49     12.82     16.85\n") != NULL);
    ck_assert(strstr(t, "ITL (s)                          1.50      0.02      "
                     "0.03      0.04     12.00\n") != NULL);
    ck_assert(strstr(t, "E2E latency (ms)                  n/a       n/a       "
                     "n/a       n/a       n/a\n") != NULL);
    ck_assert(strstr(t, "TPOT <= 100 ms: 25.0% of requests)") != NULL);
    ck_assert(strstr(t, "mean use n/a, max n/a") != NULL);
    ck_assert(strstr(t, "1952098.70") == NULL);
    free(t);
}
END_TEST

/* Nothing completed: n/a rather than a 0% attainment; an E2E SLO is
 * named beside the others. */
START_TEST(test_table_nothing)
{
    char *t = print_summary("{\"requests_completed\": 0, \"slo_attainment\": "
                            "0, \"kv_util_mean\": 0, \"kv_util_max\": 0}",
                            3000);

    ck_assert_msg(strstr(t, "(SLO TTFT <= 2000 ms, TPOT <= 100 ms, E2E <= "
                         "3000 ms: n/a of requests)") != NULL, "%s", t);
    ck_assert(strstr(t, "mean use 0.0%, max 0.0%") != NULL);
    free(t);
}
END_TEST

/* ---- vllm.json -------------------------------------------------------- */

/* 200 requests over 20 s in Azure format on a small KV cache, so that
 * queues form (as tests/check_run.c). */
static const char *config(const char *slo)
{
    char *buf = malloc(200 * 64 + 64), trace[300];
    static char text[2048];
    size_t off = 0;
    int i;

    off += (size_t)sprintf(buf, "TIMESTAMP,ContextTokens,GeneratedTokens\n");
    for (i = 0; i < 200; i++) {
        int ms = i * 100 + (i * 37) % 90;
        off += (size_t)sprintf(buf + off, "2023-11-16 18:00:%02d.%03d0000,"
                               "%d,%d\n", ms / 1000, ms % 1000,
                               64 + (i * 97) % 900, 1 + (i * 31) % 120);
    }
    snprintf(trace, sizeof(trace), "%s", fx_put("trace.csv", buf));
    free(buf);
    snprintf(text, sizeof(text),
        "{\"name\": \"t\", \"seed\": 7, \"model\": \"llama-3-8b\","
        " \"hardware\": {\"device\": \"h100-sxm-80gb\", \"kv_blocks\": 150},"
        " \"scheduler\": {\"name\": \"vllm\", \"max_num_seqs\": 32},"
        " \"workload\": {\"type\": \"azure\", \"path\": \"%s\"}%s%s,"
        " \"output\": {\"dir\": \"%s/out\"}}", trace, slo ? ", " : "",
        slo ? slo : "", fx_tmpdir);
    return fx_put("c.json", text);
}

/* Runs cfg with --format vllm; returns vllm.json parsed, *summary too. */
static cJSON *run_vllm(const char *cfg, cJSON **summary)
{
    struct run_opts o = { .quiet = 1, .vllm = 1 };
    struct llm_diag d = { 0 };
    struct scenario sc;
    char path[400];
    cJSON *v;
    FILE *f;
    char *text;
    long n;

    ck_assert_int_eq(scenario_load(cfg, NULL, &sc, &d), LLM_OK);
    ck_assert_msg(run_scenario(&sc, &o, summary, NULL, &d) == LLM_OK, "%s",
                  d.msg);
    scenario_free(&sc);
    snprintf(path, sizeof(path), "%s/out/vllm.json", fx_tmpdir);
    f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    rewind(f);
    text = calloc((size_t)n + 1, 1);
    ck_assert_uint_eq(fread(text, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    v = cJSON_Parse(text);
    free(text);
    ck_assert_ptr_nonnull(v);
    return v;
}

static double key(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

    ck_assert_msg(cJSON_IsNumber(v), "no number \"%s\"", k);
    return v->valuedouble;
}

/* Figures of the completed requests, read from the database alone. */
struct reqs {
    double ttft[256], tpot[256], e2e[256], arr[256], fin[256];
    int n, nt;
};

static void read_reqs(struct reqs *r)
{
    char path[400];
    sqlite3 *db;
    sqlite3_stmt *st;

    snprintf(path, sizeof(path), "%s/out/results.sqlite", fx_tmpdir);
    ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
    ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT arrival_ns, "
        "first_token_ns, finish_ns, output_tokens FROM requests WHERE "
        "status = 'ok'", -1, &st, NULL), SQLITE_OK);
    r->n = r->nt = 0;
    while (sqlite3_step(st) == SQLITE_ROW && r->n < 256) {
        double a = sqlite3_column_double(st, 0) / 1e6;
        double f = sqlite3_column_double(st, 1) / 1e6;
        double e = sqlite3_column_double(st, 2) / 1e6;
        int o = sqlite3_column_int(st, 3);
        r->arr[r->n] = a;
        r->fin[r->n] = e;
        r->ttft[r->n] = f - a;
        r->e2e[r->n++] = e - a;
        if (o > 1)
            r->tpot[r->nt++] = (e - f) / (o - 1);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
}

/* numpy's np.std: the population standard deviation. */
static double pstd(const double *v, int n)
{
    double m = 0, s = 0;
    int i;

    for (i = 0; i < n; i++)
        m += v[i] / n;
    for (i = 0; i < n; i++)
        s += (v[i] - m) * (v[i] - m) / n;
    return sqrt(s);
}

/* The most requests in flight at once: at each arrival, those that
 * arrived by then and had not finished ([arrival, finish) intervals). */
static int peak(const struct reqs *r)
{
    int best = 0, i, j;

    for (i = 0; i < r->n; i++) {
        int c = 0;
        for (j = 0; j < r->n; j++)
            c += r->arr[j] <= r->arr[i] && r->arr[i] < r->fin[j];
        best = c > best ? c : best;
    }
    return best;
}

START_TEST(test_vllm_keys)
{
    cJSON *s, *v = run_vllm(config("\"slo\": {\"ttft_ms\": 500, "
                                   "\"tpot_ms\": 30, \"e2e_ms\": 600}"), &s);
    struct reqs r;

    read_reqs(&r);
    ck_assert_int_eq(r.n, 200);
    ck_assert_double_eq(key(v, "completed"), 200);
    ck_assert_double_eq(key(v, "failed"), 0);
    ck_assert_double_eq(key(v, "mean_ttft_ms"), key(cJSON_GetObjectItem(s,
                        "ttft_ms"), "mean"));
    ck_assert_double_eq(key(v, "median_tpot_ms"), key(cJSON_GetObjectItem(s,
                        "tpot_ms"), "p50"));
    ck_assert_double_eq(key(v, "p99_e2el_ms"), key(cJSON_GetObjectItem(s,
                        "e2e_ms"), "p99"));
    ck_assert_double_eq(key(v, "p90_itl_ms"), key(cJSON_GetObjectItem(s,
                        "itl_ms"), "p90"));
    ck_assert_double_eq_tol(key(v, "std_ttft_ms"), pstd(r.ttft, r.n), 1e-6);
    ck_assert_double_eq_tol(key(v, "std_tpot_ms"), pstd(r.tpot, r.nt), 1e-6);
    ck_assert_double_eq_tol(key(v, "std_e2el_ms"), pstd(r.e2e, r.n), 1e-6);
    ck_assert_double_gt(key(v, "std_itl_ms"), 0);
    ck_assert_double_eq(key(v, "max_concurrent_requests"), peak(&r));
    ck_assert_double_gt(key(v, "max_concurrent_requests"), 2);
    /* vllm.json went through a file: cJSON 1.7.15 prints 15 digits when
     * they read back within DBL_EPSILON (print_number), so the last bit
     * may differ from the summary's own double. */
    ck_assert_double_eq_tol(key(v, "request_throughput"),
                            key(s, "throughput_req_s"), 1e-12);
    ck_assert_double_eq_tol(key(v, "output_throughput"),
                            key(s, "throughput_out_tok_s"), 1e-9);
    ck_assert_double_eq_tol(key(v, "total_token_throughput"),
                            key(s, "throughput_tok_s"), 1e-9);
    cJSON_Delete(v);
    cJSON_Delete(s);
}
END_TEST

/* Goodput counts every SLO the config sets, the E2E one included, in
 * vllm.json and in llmsim's own summary; without "slo" vLLM's
 * request_goodput is null. */
START_TEST(test_vllm_goodput)
{
    cJSON *s, *v = run_vllm(config("\"slo\": {\"ttft_ms\": 500, "
                                   "\"tpot_ms\": 30, \"e2e_ms\": 600}"), &s);
    struct reqs r;
    double dur;
    int good = 0, i, k = 0;
    char path[400];
    sqlite3 *db;
    sqlite3_stmt *st;

    read_reqs(&r);
    snprintf(path, sizeof(path), "%s/out/results.sqlite", fx_tmpdir);
    ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
    ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT output_tokens FROM "
        "requests WHERE status = 'ok'", -1, &st, NULL), SQLITE_OK);
    for (i = 0; sqlite3_step(st) == SQLITE_ROW; i++) {
        int o = sqlite3_column_int(st, 0);
        double tpot = o > 1 ? r.tpot[k++] : 0;
        good += r.ttft[i] <= 500 && tpot <= 30 && r.e2e[i] <= 600;
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    dur = key(s, "duration_s");
    ck_assert_int_gt(good, 0);
    ck_assert_int_lt(good, 200);       /* the E2E SLO bites */
    ck_assert_double_eq_tol(key(v, "request_goodput"), good / dur, 1e-9);
    ck_assert_double_eq_tol(key(s, "goodput_req_s"), good / dur, 1e-9);
    ck_assert_double_eq_tol(key(s, "slo_attainment"), good / 200.0, 1e-12);
    cJSON_Delete(v);
    cJSON_Delete(s);
    v = run_vllm(config(NULL), &s);
    ck_assert(cJSON_IsNull(cJSON_GetObjectItem(v, "request_goodput")));
    cJSON_Delete(v);
    cJSON_Delete(s);
}
END_TEST

/* A disk that fills while vllm.json is written: every other file opens
 * as usual. */
static FILE *open_vllm_full(const char *path, const char *mode)
{
    size_t n = strlen(path);

    if (n >= 13 && strcmp(path + n - 13, "vllm.json.tmp") == 0)
        return fopen("/dev/full", mode);
    return fopen(path, mode);
}

static char *slurp_out(const char *name, long *len)
{
    char path[400];
    FILE *f;
    char *text;
    long n;

    snprintf(path, sizeof(path), "%s/out/%s", fx_tmpdir, name);
    f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    rewind(f);
    text = calloc((size_t)n + 1, 1);
    ck_assert_uint_eq(fread(text, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = n;
    return text;
}

static int run_set(const char *cfg, const char *seed, int vllm,
                   FILE *(*open_file)(const char *, const char *),
                   struct llm_diag *d)
{
    const char *sets[] = { seed, NULL };
    struct run_opts o = { .quiet = 1, .vllm = vllm, .open_file = open_file };
    struct scenario sc;
    cJSON *summary = NULL;
    int rc = scenario_load(cfg, sets, &sc, d);

    if (rc == LLM_OK)
        rc = run_scenario(&sc, &o, &summary, NULL, d);
    cJSON_Delete(summary);
    scenario_free(&sc);
    return rc;
}

/* vllm.json is one of the run's set (issue 23's pair): a vllm.json that
 * cannot be written leaves the previous results.sqlite, summary.json and
 * vllm.json as they were, with no temporary file; a later run without
 * --format vllm takes the old vllm.json away with it. */
START_TEST(test_vllm_in_set)
{
    static const char *const names[] = { "results.sqlite", "summary.json",
                                         "vllm.json" };
    const char *cfg = config("\"slo\": {\"ttft_ms\": 500}");
    struct llm_diag d = { 0 };
    char *before[3], *after, want[600], tmp[400];
    long n0[3], n1;
    int i;

    ck_assert_msg(run_set(cfg, "seed=1", 1, NULL, &d) == LLM_OK, "%s",
                  d.msg);
    for (i = 0; i < 3; i++) {
        before[i] = slurp_out(names[i], &n0[i]);
        ck_assert_ptr_nonnull(before[i]);
    }
    ck_assert_int_eq(run_set(cfg, "seed=2", 1, open_vllm_full, &d), LLM_EIO);
    snprintf(want, sizeof(want), "cannot write %s/out/vllm.json.tmp: No "
             "space left on device", fx_tmpdir);
    ck_assert_str_eq(d.msg, want);
    for (i = 0; i < 3; i++) {
        after = slurp_out(names[i], &n1);
        ck_assert_msg(after != NULL && n1 == n0[i] &&
                      memcmp(after, before[i], (size_t)n1) == 0,
                      "%s changed by a run that failed", names[i]);
        free(after);
        snprintf(tmp, sizeof(tmp), "%s.tmp", names[i]);
        ck_assert_msg(slurp_out(tmp, &n1) == NULL, "%s left behind", tmp);
    }
    ck_assert_int_eq(run_set(cfg, "seed=3", 0, NULL, &d), LLM_OK);
    ck_assert_ptr_null(slurp_out("vllm.json", &n1));
    after = slurp_out("results.sqlite", &n1);  /* the new seed's */
    ck_assert_ptr_nonnull(after);
    ck_assert(n1 != n0[0] || memcmp(after, before[0], (size_t)n1) != 0);
    free(after);
    for (i = 0; i < 3; i++)
        free(before[i]);
}
END_TEST

/* ---- the progress line ----------------------------------------------- */

/* The line names the simulated time, the requests done of how many, the
 * rate and the time left; the clock is read only every PROGRESS_EVERY
 * ticks; the end clears the line. */
START_TEST(test_progress_line)
{
    struct progress p;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    int i;

    progress_start(&p, f, 5000);
    for (i = 0; i < PROGRESS_EVERY - 1; i++)
        progress_tick(&p, 1500000000, true);
    p.last_s -= 10;               /* as if a while had passed */
    fflush(f);
    ck_assert_uint_eq(len, 0);    /* no look at the clock yet */
    progress_tick(&p, 2500000000, false);
    fflush(f);
    ck_assert_msg(strncmp(text, "\r2.5 s simulated, 1023 of 5000 requests, ",
                          41) == 0, "%s", text);
    ck_assert(strstr(text, " req/s, ") != NULL);
    ck_assert(strstr(text, " left") != NULL);
    progress_poll(&p, false);     /* too soon after the last line */
    fflush(f);
    ck_assert_uint_eq(strlen(text), (size_t)p.width + 1);
    progress_end(&p);             /* "\r", spaces over the line, "\r" */
    fclose(f);
    ck_assert_uint_eq(strlen(text), 2 * (size_t)p.width + 3);
    ck_assert_int_eq(text[strlen(text) - 1], '\r');
    ck_assert_uint_eq(strspn(text + p.width + 2, " "), (size_t)p.width);
    free(text);
}
END_TEST

START_TEST(test_progress_total)
{
    cJSON *w = cJSON_Parse("{\"type\": \"poisson\", \"num_requests\": 77}");

    ck_assert_int_eq(progress_total(w), 77);
    cJSON_Delete(w);
    w = cJSON_Parse("{\"type\": \"azure\", \"path\": "
                    "\"traces/data/AzureLLMInferenceTrace_conv.csv.gz\"}");
    ck_assert_int_eq(progress_total(w), 19366);
    cJSON_AddNumberToObject(w, "limit", 100);
    ck_assert_int_eq(progress_total(w), 100);
    cJSON_AddNumberToObject(w, "start_s", 10);
    ck_assert_int_eq(progress_total(w), 100);
    cJSON_DeleteItemFromObject(w, "limit");
    ck_assert_int_eq(progress_total(w), 0);      /* a window: unknown */
    cJSON_Delete(w);
    w = cJSON_Parse("{\"type\": \"mooncake\", \"path\": "
                    "\"traces/data/synthetic_trace.jsonl.gz\"}");
    ck_assert_int_eq(progress_total(w), 3993);   /* no header line */
    cJSON_Delete(w);
}
END_TEST

/* Not on a terminal (here stderr is a file): no progress line at all. */
START_TEST(test_progress_not_tty)
{
    const char *bin = getenv("LLMSIM_BIN");
    char cmd[1024];
    FILE *f;

    if (bin == NULL) {
        fx_skip("report: progress_not_tty", "LLMSIM_BIN unset (make test "
                "sets it)");
        return;
    }
    snprintf(cmd, sizeof(cmd), "%s run %s --out %s/o >/dev/null 2>%s", bin,
             config(NULL), fx_tmpdir, fx_path("err"));
    ck_assert_int_eq(system(cmd), 0);
    f = fopen(fx_path("err"), "r");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fgetc(f), EOF);
    fclose(f);
}
END_TEST

Suite *report_suite(void)
{
    Suite *s = suite_create("report");
    TCase *t = tcase_create("console");

    tcase_add_test(t, test_table_units);
    tcase_add_test(t, test_table_nothing);
    suite_add_tcase(s, t);
    t = tcase_create("vllm");
    tcase_add_checked_fixture(t, fx_setup, fx_teardown);
    tcase_set_timeout(t, 60);
    tcase_add_test(t, test_vllm_keys);
    tcase_add_test(t, test_vllm_goodput);
    tcase_add_test(t, test_vllm_in_set);
    tcase_add_test(t, test_progress_not_tty);
    suite_add_tcase(s, t);
    t = tcase_create("progress");
    tcase_add_test(t, test_progress_line);
    tcase_add_test(t, test_progress_total);
    suite_add_tcase(s, t);
    return s;
}
