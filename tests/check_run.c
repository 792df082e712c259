/* End-to-end tests of `llmsim run`: config errors, outputs, determinism,
 * metrics checked against an independent computation, Little's law. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "cli/cmd_run.h"
#include "run/recpipe.h"
#include "policies/registry.h"
#include "run/run.h"
#include "run/scenario.h"
#include "tests/fixture.h"
#include "tests/suites.h"

/* A small Azure-format trace: 200 requests over about 20 s, bursty enough
 * that queues form on a tiny KV cache. */
static const char *write_trace(int bad_line)
{
    char *buf = malloc(200 * 64 + 64);
    size_t off = 0;
    int i;

    off += (size_t)sprintf(buf, "TIMESTAMP,ContextTokens,GeneratedTokens\r\n");
    for (i = 0; i < 200; i++) {
        int ms = i * 100 + (i * 37) % 90;
        if (i + 2 == bad_line)
            off += (size_t)sprintf(buf + off, "2023-11-16 18:00:%02d.%03d0000,"
                                   "x12,5\r\n", ms / 1000, ms % 1000);
        else
            off += (size_t)sprintf(buf + off, "2023-11-16 18:00:%02d.%03d0000,"
                                   "%d,%d\r\n", ms / 1000, ms % 1000,
                                   64 + (i * 97) % 900, 1 + (i * 31) % 120);
    }
    buf[off - 2] = '\0';   /* no final newline, as the real files */
    fx_put("trace.csv", buf);
    free(buf);
    return "trace.csv";
}

static const char *config(const char *extra, int kv_blocks)
{
    static char text[4096];
    char trace[512];

    snprintf(trace, sizeof(trace), "%s/trace.csv", fx_tmpdir);
    snprintf(text, sizeof(text),
        "{\"name\": \"t\", \"seed\": 7, \"model\": \"llama-3-8b\","
        " \"hardware\": {\"device\": \"h100-sxm-80gb\", \"kv_blocks\": %d},"
        " \"scheduler\": {\"name\": \"vllm\", \"max_num_seqs\": 32},"
        " \"workload\": {\"type\": \"azure\", \"path\": \"%s\"},"
        " \"slo\": {\"ttft_ms\": 500, \"tpot_ms\": 30},"
        " \"output\": {\"dir\": \"%s/out\"}%s}",
        kv_blocks, trace, fx_tmpdir, extra ? extra : "");
    return fx_put("c.json", text);
}

static int load_err(const char *text, char *msg, size_t len)
{
    struct llm_diag d = { 0 };
    struct scenario sc;
    const char *p = fx_put("bad.json", text);
    int rc = scenario_load(p, NULL, &sc, &d);

    snprintf(msg, len, "%s", d.msg);
    ck_assert_str_eq(d.file, p);
    scenario_free(&sc);
    return rc;
}

#define BASE "\"model\": \"llama-3-8b\", \"workload\": {\"type\": \"poisson\"," \
             " \"rate\": 1, \"num_requests\": 3}"

/* An unknown scheduler's message lists the known ones: exactly the
 * registered schedulers, in the registry's order, each resolving by its
 * name.  A property, not the list: adding a scheduler (one file and one
 * table line, docs/extending.md) changes no test. */
static void known_list_is_registry(const char *m)
{
    static const char head[] = "scheduler.name: unknown scheduler \"orca2\" "
                               "(known: ";
    char list[512], *name, *save = NULL;
    struct llm_diag d = { 0 };
    size_t i = 0, n;

    ck_assert_msg(strncmp(m, head, sizeof(head) - 1) == 0, "%s", m);
    n = strlen(m + sizeof(head) - 1);
    ck_assert(n > 1 && n < sizeof(list) && m[strlen(m) - 1] == ')');
    memcpy(list, m + sizeof(head) - 1, n - 1);
    list[n - 1] = '\0';
    for (name = strtok_r(list, ", ", &save); name != NULL;
         name = strtok_r(NULL, ", ", &save), i++) {
        ck_assert_ptr_nonnull(registry_sched_nth(i));
        ck_assert_str_eq(name, registry_sched_nth(i)->name);
        ck_assert_ptr_eq(registry_sched(name, "scheduler", &d),
                         registry_sched_nth(i));
    }
    ck_assert_uint_gt(i, 0);
    ck_assert_ptr_null(registry_sched_nth(i));   /* none left out */
}

START_TEST(test_config_errors)
{
    char m[600];

    ck_assert_int_eq(load_err("{" BASE ", \"hardware\": {\"device\": "
        "\"h100-sxm-80gb\"}, \"scheduler\": {\"max_num_seqs\": \"abc\"}}",
        m, sizeof(m)), LLM_EINVAL);
    ck_assert_str_eq(m, "scheduler.max_num_seqs: expected an integer in "
                     "[1, 1048576], got \"abc\"");
    ck_assert_int_eq(load_err("{" BASE ", \"hardware\": {\"device\": "
        "\"h100-sxm-80gb\"}, \"schedular\": {}}", m, sizeof(m)), LLM_EINVAL);
    ck_assert(strncmp(m, "schedular: unknown key (known: name, seed", 41) == 0);
    ck_assert_int_eq(load_err("{" BASE ", \"hardware\": {\"device\": "
        "\"h100-sxm-80gb\"}, \"scheduler\": {\"name\": \"orca2\"}}", m,
        sizeof(m)), LLM_EINVAL);
    known_list_is_registry(m);
    ck_assert_int_eq(load_err("{" BASE ", \"hardware\": {\"device\": "
        "\"h100-sxm-80gb\", \"tp\": 3}}", m, sizeof(m)), LLM_EINVAL);
    ck_assert(strstr(m, "hardware.tp: 3 does not divide") == m);
    ck_assert_int_eq(load_err("{" BASE ", \"hardware\": {\"device\": "
        "\"h100-sxm-80gb\", \"gpu_memory_utilization\": 0.1}}", m,
        sizeof(m)), LLM_ERANGE);
    ck_assert(strstr(m, "does not fit on h100-sxm-80gb") != NULL);
    ck_assert_int_eq(load_err("{\"model\": \"llama-3-8b\", \"hardware\": "
        "{\"device\": \"h100-sxm-80gb\"}}", m, sizeof(m)), LLM_EINVAL);
    ck_assert_str_eq(m, "workload: missing (expected an object)");
    ck_assert_int_eq(load_err("{\"model\": 12}", m, sizeof(m)), LLM_EINVAL);
    ck_assert_str_eq(m, "model: expected a non-empty string, got 12");
    ck_assert_int_eq(load_err("{\"model\": \"gpt-9\"}", m, sizeof(m)),
                     LLM_ENOTFOUND);
    ck_assert_int_eq(load_err("{\"model\": \"llama-3-8b\",", m, sizeof(m)),
                     LLM_EINVAL);
    ck_assert(strncmp(m, "line 1 column", 13) == 0);
}
END_TEST

static cJSON *run_ok(const char *cfg_path, const char *out, const char *seed)
{
    struct llm_diag d = { 0 };
    struct scenario sc;
    struct run_opts o = { .out_dir = out, .quiet = 1 };
    const char *sets[] = { seed, NULL };
    cJSON *summary = NULL;

    ck_assert_int_eq(scenario_load(cfg_path, seed ? sets : NULL, &sc, &d),
                     LLM_OK);
    ck_assert_msg(run_scenario(&sc, &o, &summary, NULL, &d) == LLM_OK, "%s",
                  d.msg);
    scenario_free(&sc);
    return summary;
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

/* Every row of the requests table, as text, in id order. */
static char *dump_requests(const char *db_path)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    size_t cap = 1 << 20, off = 0;
    char *out = calloc(1, cap);
    int i;

    ck_assert_int_eq(sqlite3_open(db_path, &db), SQLITE_OK);
    ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT * FROM requests ORDER BY "
                                        "id", -1, &st, NULL), SQLITE_OK);
    while (sqlite3_step(st) == SQLITE_ROW)
        for (i = 0; i < sqlite3_column_count(st) && off + 64 < cap; i++)
            off += (size_t)snprintf(out + off, cap - off, "%s%c",
                (const char *)sqlite3_column_text(st, i),
                i + 1 == sqlite3_column_count(st) ? '\n' : ',');
    sqlite3_finalize(st);
    sqlite3_close(db);
    return out;
}

START_TEST(test_deterministic)
{
    char a[300], b[300];
    char *sa, *sb, *ra, *rb;

    write_trace(0);
    cJSON_Delete(run_ok(config(NULL, 300), NULL, NULL));
    snprintf(a, sizeof(a), "%s/out/summary.json", fx_tmpdir);
    sa = slurp(a);
    snprintf(a, sizeof(a), "%s/out/results.sqlite", fx_tmpdir);
    ra = dump_requests(a);
    snprintf(b, sizeof(b), "%s/again", fx_tmpdir);
    cJSON_Delete(run_ok(config(NULL, 300), b, NULL));
    snprintf(b, sizeof(b), "%s/again/summary.json", fx_tmpdir);
    sb = slurp(b);
    snprintf(b, sizeof(b), "%s/again/results.sqlite", fx_tmpdir);
    rb = dump_requests(b);
    ck_assert_str_eq(sa, sb);
    ck_assert_str_eq(ra, rb);
    ck_assert(strlen(ra) > 1000);
    free(sa);
    free(sb);
    free(ra);
    free(rb);
}
END_TEST

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

/* numpy's default percentile: linear between order statistics. */
static double pct(const double *v, int n, double q)
{
    double r = q * (n - 1);
    int lo = (int)floor(r);

    return lo + 1 < n ? v[lo] + (v[lo + 1] - v[lo]) * (r - lo) : v[lo];
}

static double get(const cJSON *s, const char *a, const char *b)
{
    const cJSON *v = cJSON_GetObjectItem(s, a);

    return (b ? cJSON_GetObjectItem(v, b) : v)->valuedouble;
}

/* The summary's figures recomputed here from the requests table alone. */
START_TEST(test_metrics_independent)
{
    char path[300];
    cJSON *s;
    sqlite3 *db;
    sqlite3_stmt *st;
    double ttft[256], e2e[256], tpot[256], t0 = 1e300, t1 = 0, out = 0;
    int n = 0, nt = 0, good = 0;

    write_trace(0);
    s = run_ok(config(NULL, 120), NULL, NULL);
    snprintf(path, sizeof(path), "%s/out/results.sqlite", fx_tmpdir);
    ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
    ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT arrival_ns, "
        "first_token_ns, finish_ns, output_tokens FROM requests WHERE "
        "status = 'ok'", -1, &st, NULL), SQLITE_OK);
    while (sqlite3_step(st) == SQLITE_ROW) {
        double a = sqlite3_column_double(st, 0) / 1e6;
        double f = sqlite3_column_double(st, 1) / 1e6;
        double e = sqlite3_column_double(st, 2) / 1e6;
        int o = sqlite3_column_int(st, 3);
        ttft[n] = f - a;
        e2e[n] = e - a;
        if (o > 1)
            tpot[nt++] = (e - f) / (o - 1);
        if (f - a <= 500 && (o == 1 || (e - f) / (o - 1) <= 30))
            good++;
        t0 = a < t0 ? a : t0;
        t1 = e > t1 ? e : t1;
        out += o;
        n++;
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    ck_assert_int_eq(n, 200);
    qsort(ttft, (size_t)n, sizeof(double), cmp_double);
    qsort(e2e, (size_t)n, sizeof(double), cmp_double);
    qsort(tpot, (size_t)nt, sizeof(double), cmp_double);
    ck_assert_double_eq_tol(get(s, "ttft_ms", "p50"), pct(ttft, n, .5), 1e-6);
    ck_assert_double_eq_tol(get(s, "ttft_ms", "p99"), pct(ttft, n, .99), 1e-6);
    ck_assert_double_eq_tol(get(s, "e2e_ms", "p90"), pct(e2e, n, .9), 1e-6);
    ck_assert_double_eq_tol(get(s, "tpot_ms", "p95"), pct(tpot, nt, .95),
                            1e-6);
    ck_assert_double_eq_tol(get(s, "throughput_out_tok_s", NULL),
                            out / ((t1 - t0) / 1e3), 1e-6);
    ck_assert_double_eq_tol(get(s, "goodput_req_s", NULL),
                            good / ((t1 - t0) / 1e3), 1e-6);
    /* the tiny KV cache makes queues: the check is not vacuous */
    ck_assert_double_gt(get(s, "queue_len_max", NULL), 0);
    cJSON_Delete(s);
}
END_TEST

/* L = lambda W over the run: the time-average number in the system (the
 * simulator's own integral) against throughput times mean latency. */
START_TEST(test_littles_law)
{
    cJSON *s;
    double l, lw;

    write_trace(0);
    s = run_ok(config(NULL, 200), NULL, NULL);
    l = get(s, "mean_in_system", NULL);
    lw = get(s, "throughput_req_s", NULL) * get(s, "e2e_ms", "mean") / 1e3;
    ck_assert_double_gt(l, 1.0);
    ck_assert_double_eq_tol(l, lw, 0.02 * lw);
    cJSON_Delete(s);
}
END_TEST

/* Utilization is the share of time requests waited behind the engine's
 * limits: low when the trace is slowed down, high when it is sped up
 * past the engine, and never more than the busy fraction. */
START_TEST(test_load_summary)
{
    cJSON *lo, *hi;
    char out[300];

    write_trace(0);
    snprintf(out, sizeof(out), "%s/lo", fx_tmpdir);
    lo = run_ok(config(NULL, 2000), out, "workload.rate_scale=0.2");
    snprintf(out, sizeof(out), "%s/hi", fx_tmpdir);
    hi = run_ok(config(NULL, 2000), out, "workload.rate_scale=20");
    ck_assert_double_lt(get(lo, "utilization", NULL), RUN_UTILIZATION_WARN);
    ck_assert_double_gt(get(hi, "utilization", NULL), RUN_UTILIZATION_WARN);
    ck_assert_double_lt(get(lo, "busy_fraction", NULL), 0.9);
    ck_assert_double_le(get(lo, "utilization", NULL),
                        get(lo, "busy_fraction", NULL));
    ck_assert_double_le(get(hi, "utilization", NULL),
                        get(hi, "busy_fraction", NULL));
    ck_assert_ptr_null(cJSON_GetObjectItem(hi, "sensitivity"));
    cJSON_Delete(lo);
    cJSON_Delete(hi);
}
END_TEST

/* `llmsim run --sensitivity` prints and records the TTFT p90 of the run
 * with iterations 3% longer; a saturated run gets the warning line, a
 * light one does not. */
START_TEST(test_sensitivity_flag)
{
    const char *bin = getenv("LLMSIM_BIN");
    char cmd[1200], path[300];
    char *text, *sum;
    cJSON *s;
    double p90, sens;

    if (bin == NULL) {
        fprintf(stderr, "check_run: LLMSIM_BIN unset, CLI test skipped\n");
        return;
    }
    write_trace(0);
    snprintf(cmd, sizeof(cmd), "ASAN_OPTIONS=detect_leaks=0 %s run %s --out "
             "%s/hi --set workload.rate_scale=20 --sensitivity > %s/hi.txt",
             bin, config(NULL, 2000), fx_tmpdir, fx_tmpdir);
    ck_assert_int_eq(system(cmd), 0);
    snprintf(path, sizeof(path), "%s/hi.txt", fx_tmpdir);
    text = slurp(path);
    ck_assert(strstr(text, "\nsensitivity TTFT p90 ") != NULL);
    ck_assert(strstr(text, " with every iteration +3% longer\n") != NULL);
    ck_assert(strstr(text, "\nwarning    utilization over 1%: requests "
                     "queue") != NULL);
    snprintf(path, sizeof(path), "%s/hi/summary.json", fx_tmpdir);
    sum = slurp(path);
    s = cJSON_Parse(sum);
    p90 = get(s, "ttft_ms", "p90");
    sens = get(s, "sensitivity", "ttft_ms_p90");
    ck_assert_double_eq_tol(get(s, "sensitivity", "time_scale"), 1.03, 1e-12);
    ck_assert_double_gt(sens, p90);
    ck_assert_double_eq_tol(get(s, "sensitivity", "ttft_p90_change"),
                            sens / p90 - 1, 1e-12);
    cJSON_Delete(s);
    free(sum);
    free(text);
    snprintf(cmd, sizeof(cmd), "ASAN_OPTIONS=detect_leaks=0 %s run %s --out "
             "%s/lo --set workload.rate_scale=0.2 > %s/lo.txt", bin,
             config(NULL, 2000), fx_tmpdir, fx_tmpdir);
    ck_assert_int_eq(system(cmd), 0);
    snprintf(path, sizeof(path), "%s/lo.txt", fx_tmpdir);
    text = slurp(path);
    ck_assert(strstr(text, "\nload       utilization ") != NULL);
    ck_assert(strstr(text, "warning") == NULL);
    ck_assert(strstr(text, "sensitivity") == NULL);
    free(text);
}
END_TEST

/* A bad row fails the run with the file and line, and leaves no output. */
START_TEST(test_bad_trace_no_output)
{
    struct llm_diag d = { 0 };
    struct scenario sc;
    struct run_opts o = { .quiet = 1 };
    cJSON *summary = NULL;
    char path[300];
    struct stat sb;
    int rc;

    write_trace(150);
    rc = scenario_load(config(NULL, 300), NULL, &sc, &d);
    ck_assert_int_eq(rc, LLM_OK);
    rc = run_scenario(&sc, &o, &summary, NULL, &d);
    ck_assert_int_eq(rc, LLM_EINVAL);
    ck_assert_ptr_null(summary);
    ck_assert(strstr(d.file, "trace.csv") != NULL);
    ck_assert(strncmp(d.msg, "line 150: ContextTokens", 23) == 0);
    snprintf(path, sizeof(path), "%s/out/results.sqlite", fx_tmpdir);
    ck_assert_int_ne(stat(path, &sb), 0);
    snprintf(path, sizeof(path), "%s/out/results.sqlite.tmp", fx_tmpdir);
    ck_assert_int_ne(stat(path, &sb), 0);
    snprintf(path, sizeof(path), "%s/out/summary.json", fx_tmpdir);
    ck_assert_int_ne(stat(path, &sb), 0);
    scenario_free(&sc);
}
END_TEST

/* Fast-forward's error, measured on the default scenario (a day-long
 * Azure conversation trace on one H100, vLLM V1's scheduler): every
 * latency figure and the throughput within the bounds docs/config.md
 * states against the same run with every iteration priced, with the
 * spans firing.  A config that couples iterations (a power budget) is
 * refused. */
START_TEST(test_fast_forward_bound)
{
    static const char *const lat[] = { "ttft_ms", "tpot_ms", "itl_ms",
                                       "e2e_ms" };
    static const char *const stat[] = { "mean", "p50", "p90", "p99" };
    const char *ff[] = { "fast_forward=64", NULL };
    char a[300], b[300], m[600];
    struct llm_diag d = { 0 };
    struct sim_stats st;
    struct scenario sc;
    struct run_opts o = { .quiet = 1 };
    cJSON *exact, *fast = NULL;
    size_t i, j;

    snprintf(a, sizeof(a), "%s/exact", fx_tmpdir);
    snprintf(b, sizeof(b), "%s/fast", fx_tmpdir);
    exact = run_ok("configs/default.json", a, NULL);
    o.out_dir = b;
    ck_assert_int_eq(scenario_load("configs/default.json", ff, &sc, &d),
                     LLM_OK);
    ck_assert_msg(run_scenario(&sc, &o, &fast, &st, &d) == LLM_OK, "%s",
                  d.msg);
    scenario_free(&sc);
    /* most iterations were stepped in spans: far fewer events */
    ck_assert_int_lt(st.events, st.iterations / 2);
    for (i = 0; i < 4; i++)
        for (j = 0; j < 4; j++) {
            double x = get(exact, lat[i], stat[j]);
            double y = get(fast, lat[i], stat[j]);
            ck_assert_msg(fabs(y - x) <= (j == 0 ? 0.002 : 0.01) * x,
                          "%s %s: %g against %g", lat[i], stat[j], y, x);
        }
    ck_assert_double_eq_tol(get(fast, "throughput_out_tok_s", NULL),
                            get(exact, "throughput_out_tok_s", NULL),
                            1e-3 * get(exact, "throughput_out_tok_s", NULL));
    ck_assert_double_eq_tol(get(fast, "iterations", NULL),
                            get(exact, "iterations", NULL),
                            1e-3 * get(exact, "iterations", NULL));
    cJSON_Delete(exact);
    cJSON_Delete(fast);
    ck_assert_int_eq(load_err("{" BASE ", \"hardware\": {\"device\": "
        "\"h100-sxm-80gb\"}, \"fast_forward\": 8, \"power\": "
        "{\"budget_w\": 5000}}", m, sizeof(m)), LLM_EINVAL);
    ck_assert_str_eq(m, "fast_forward: not with \"cluster\" pools, "
                     "\"power\" or \"speculative\"");
    ck_assert_int_eq(load_err("{" BASE ", \"hardware\": {\"device\": "
        "\"h100-sxm-80gb\"}, \"fast_forward\": -1}", m, sizeof(m)),
        LLM_EINVAL);
    ck_assert_str_eq(m, "fast_forward: expected an integer in [0, 4096], "
                     "got -1");
}
END_TEST

/* run/recpipe.h: records made on one thread reach the wrapped recorder
 * on another in the order they were made, with their gaps, across many
 * chunks (the producer blocking on a full queue); a failing call stops
 * the wrapped calls, the producer learns of it, and finish reports it
 * with its record's time. */
struct pipe_log {
    int64_t n, sum, order_ok, fail_at, gaps;
};

static int log_req(void *ctx, const struct request *q)
{
    struct pipe_log *l = ctx;

    l->order_ok += q->id == l->n;
    l->sum += q->finish_ns;
    return ++l->n == l->fail_at ? LLM_EIO : LLM_OK;
}

static int log_iter(void *ctx, const struct iter_record *r)
{
    struct pipe_log *l = ctx;
    int32_t i;

    l->order_ok += r->start_ns == l->n;
    for (i = 0; i < r->n_itl; i++)
        l->gaps += r->itl[i].gap_ns * r->itl[i].count;
    l->sum += r->end_ns;
    return ++l->n == l->fail_at ? LLM_EIO : LLM_OK;
}

/* Sends n records, alternating requests and iterations (iteration i with
 * i % 7 gaps); returns the first error a producer call saw. */
static int pipe_send(struct recpipe *p, int64_t n)
{
    struct sim_recorder r = recpipe_recorder(p);
    struct itl_pair gaps[7];
    int64_t i;
    int rc = LLM_OK;

    for (i = 0; i < 7; i++)
        gaps[i] = (struct itl_pair){ 10 + i, 2 };
    for (i = 0; i < n && rc == LLM_OK; i++) {
        if (i % 2 == 0) {
            struct request q = { .id = i, .finish_ns = 3 * i };
            rc = r.request_done(r.ctx, &q);
        } else {
            struct iter_record it = { .start_ns = i, .end_ns = 3 * i,
                                      .itl = gaps, .n_itl = (int32_t)(i % 7) };
            rc = r.iteration(r.ctx, &it);
        }
    }
    return rc;
}

START_TEST(test_recpipe)
{
    const int64_t n = 20 * RECPIPE_CHUNK + 17;
    struct pipe_log l = { 0 };
    struct sim_recorder inner = { &l, log_req, log_iter };
    struct recpipe *p;
    int64_t i, sum = 0, gaps = 0, fail_ns = -1;

    ck_assert_int_eq(recpipe_start(&inner, &p), LLM_OK);
    ck_assert_int_eq(pipe_send(p, n), LLM_OK);
    ck_assert_int_eq(recpipe_finish(p, &fail_ns), LLM_OK);
    for (i = 0; i < n; i++) {
        sum += 3 * i;
        if (i % 2)
            for (int64_t k = 0; k < i % 7; k++)
                gaps += 2 * (10 + k);
    }
    ck_assert_int_eq(l.n, n);
    ck_assert_int_eq(l.order_ok, n);
    ck_assert_int_eq(l.sum, sum);
    ck_assert_int_eq(l.gaps, gaps);
    ck_assert_int_eq(fail_ns, -1);

    /* the 5,000th call fails: nothing after it is called, the producer
     * sees the error within a queue's worth of chunks, and finish names
     * that record's time (an iteration's end, 3 x 4,999) */
    memset(&l, 0, sizeof(l));
    l.fail_at = 5000;
    ck_assert_int_eq(recpipe_start(&inner, &p), LLM_OK);
    ck_assert_int_eq(pipe_send(p, n), LLM_EIO);
    ck_assert_int_eq(recpipe_finish(p, &fail_ns), LLM_EIO);
    ck_assert_int_eq(l.n, 5000);
    ck_assert_int_eq(fail_ns, 3 * 4999);
    ck_assert_int_eq(recpipe_finish(NULL, NULL), LLM_OK);
}
END_TEST

Suite *run_suite(void)
{
    Suite *s = suite_create("run");
    TCase *tc = tcase_create("run");

    tcase_add_checked_fixture(tc, fx_setup, fx_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_config_errors);
    tcase_add_test(tc, test_deterministic);
    tcase_add_test(tc, test_metrics_independent);
    tcase_add_test(tc, test_littles_law);
    tcase_add_test(tc, test_bad_trace_no_output);
    tcase_add_test(tc, test_load_summary);
    tcase_add_test(tc, test_sensitivity_flag);
    tcase_add_test(tc, test_fast_forward_bound);
    tcase_add_test(tc, test_recpipe);
    suite_add_tcase(s, tc);
    return s;
}
