#include "cli/validate_e2e.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <gsl/gsl_sort.h>
#include <gsl/gsl_statistics_double.h>
#include <sqlite3.h>

#include "analysis/store.h"
#include "cli/run.h"
#include "cli/scenario.h"
#include "cli/step.h"
#include "hw/cost.h"
#include "sim/jcfg.h"
#include "sim/paths.h"
#include "traces/rows.h"

#define E2E_MAX_SETS 16
#define E2E_MAX_RUNS 256

/* Per-request latencies of one side (measured or simulated), in ms. */
struct lat {
    double *ttft, *tpot, *e2e;
    size_t n, n_tpot, cap;
    double out_tokens;
    int64_t t_first_ns, t_last_ns;
};

/* One measured file: its scenario and what the cost model made of its
 * iterations. */
struct e2e_run {
    const char *file;
    char config[512];
    char *sets[E2E_MAX_SETS + 1];
    int n_sets;
    struct scenario sc;
    bool sc_loaded;
    struct cost_model *cost;
    struct cost_env env;
    struct lat meas;
    double iter_meas_s, iter_priced_s;
    double *iter_err;          /* per iteration (priced - measured) / measured */
    size_t n_iter, cap_iter;
};

static int lat_push(struct lat *l, int64_t arr, int64_t first, int64_t fin,
                    int64_t out)
{
    if (l->n == l->cap) {
        size_t c = l->cap ? 2 * l->cap : 256;
        double *a = realloc(l->ttft, c * sizeof(double));
        double *b = a ? realloc(l->tpot, c * sizeof(double)) : NULL;
        double *e = b ? realloc(l->e2e, c * sizeof(double)) : NULL;
        if (a) l->ttft = a;
        if (b) l->tpot = b;
        if (e == NULL)
            return LLM_ENOMEM;
        l->e2e = e;
        l->cap = c;
    }
    l->ttft[l->n] = (double)(first - arr) / 1e6;
    l->e2e[l->n++] = (double)(fin - arr) / 1e6;
    /* TPOT as analysis/summary.c: requests with one output token have
     * none. */
    if (out > 1)
        l->tpot[l->n_tpot++] = (double)(fin - first) / 1e6 / (double)(out - 1);
    l->out_tokens += (double)out;
    if (l->n == 1 || arr < l->t_first_ns)
        l->t_first_ns = arr;
    if (fin > l->t_last_ns)
        l->t_last_ns = fin;
    return LLM_OK;
}

static void lat_free(struct lat *l)
{
    free(l->ttft);
    free(l->tpot);
    free(l->e2e);
    memset(l, 0, sizeof(*l));
}

static double lat_throughput(const struct lat *l)
{
    double span = (double)(l->t_last_ns - l->t_first_ns) / 1e9;

    return span > 0 ? l->out_tokens / span : 0;
}

static double quantile(double *v, size_t n, double q)
{
    if (n == 0)
        return 0;
    gsl_sort(v, 1, n);
    return gsl_stats_quantile_from_sorted_data(v, 1, n, q);
}

/* --- reading a measured file ------------------------------------------ */

static int64_t jint(const cJSON *o, const char *k, bool *ok)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble)) {
        *ok = false;
        return 0;
    }
    return (int64_t)v->valuedouble;
}

static int read_header(struct e2e_run *r, const cJSON *o, long line,
                       struct llm_diag *d)
{
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(o, "config");
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(o, "set"), *it;

    if (!cJSON_IsString(c) || !cJSON_IsArray(s) ||
        cJSON_GetArraySize(s) > E2E_MAX_SETS)
        return diag_set(d, LLM_EINVAL, "line %ld: a run line needs "
                        "\"config\" (string) and \"set\" (at most %d "
                        "strings)", line, E2E_MAX_SETS);
    snprintf(r->config, sizeof(r->config), "%s", c->valuestring);
    cJSON_ArrayForEach(it, s) {
        if (!cJSON_IsString(it))
            return diag_set(d, LLM_EINVAL, "line %ld: set: expected "
                            "strings", line);
        r->sets[r->n_sets] = strdup(it->valuestring);
        if (r->sets[r->n_sets++] == NULL)
            return diag_set(d, LLM_ENOMEM, "out of memory");
    }
    return LLM_OK;
}

/* Loads the scenario the header names and its cost model. */
static int open_scenario(struct e2e_run *r, struct llm_diag *d)
{
    struct llm_diag sd = { 0 };
    char msg[1024];
    int rc = scenario_load(r->config, (const char *const *)r->sets, &r->sc,
                           &sd);

    r->sc_loaded = true;
    if (rc == LLM_OK) {
        r->env = (struct cost_env){ .model = &r->sc.model, .dev = &r->sc.dev,
                                    .shard = r->sc.shard,
                                    .root = llm_root() };
        sd.file = r->config;
        rc = cost_create(&r->env, r->sc.cost_params, "cost_model", &r->cost,
                         &sd);
    }
    if (rc == LLM_OK)
        return LLM_OK;
    diag_format(&sd, msg, sizeof(msg));
    return diag_set(d, rc, "line 1: %s", msg);
}

/* Prices one measured iteration with the cost model alone. */
static int read_iteration(struct e2e_run *r, const cJSON *o, long line,
                          struct llm_diag *d)
{
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(o, "batch");
    bool ok = true;
    int64_t s = jint(o, "start_ns", &ok), e = jint(o, "end_ns", &ok);
    struct cost_breakdown bd;
    struct batch bt;
    int rc;

    if (!ok || e <= s || !cJSON_IsObject(b))
        return diag_set(d, LLM_EINVAL, "line %ld: an iteration needs "
                        "integer start_ns < end_ns and a batch object", line);
    batch_init(&bt);
    rc = step_parse_batch(b, &bt, &(struct llm_diag){ 0 });
    if (!rc && batch_tokens(&bt) == 0)
        rc = LLM_EINVAL;
    if (!rc)
        rc = cost_price(r->cost, &bt, &bd);
    batch_free(&bt);
    if (rc)
        return diag_set(d, rc, "line %ld: batch: expected {\"prefill\": "
                        "[[tokens, prior]...], \"decode\": [[count, ctx]"
                        "...], \"pad\": rows, \"graph\": mode} with at "
                        "least one token", line);
    if (r->n_iter == r->cap_iter) {
        size_t c = r->cap_iter ? 2 * r->cap_iter : 1024;
        double *n = realloc(r->iter_err, c * sizeof(*n));
        if (n == NULL)
            return diag_set(d, LLM_ENOMEM, "out of memory");
        r->iter_err = n;
        r->cap_iter = c;
    }
    r->iter_meas_s += (double)(e - s) / 1e9;
    r->iter_priced_s += (double)bd.total_ns / 1e9;
    r->iter_err[r->n_iter++] = (double)(bd.total_ns - (e - s)) /
                               (double)(e - s);
    return LLM_OK;
}

static int read_request(struct e2e_run *r, const cJSON *o, long line,
                        struct llm_diag *d)
{
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(o, "status");
    bool ok = true;
    int64_t a = jint(o, "arrival_ns", &ok), f = jint(o, "first_token_ns", &ok);
    int64_t e = jint(o, "finish_ns", &ok), out = jint(o, "output_tokens", &ok);

    if (!ok || !cJSON_IsString(st))
        return diag_set(d, LLM_EINVAL, "line %ld: a request needs integer "
                        "arrival_ns, first_token_ns, finish_ns, "
                        "output_tokens and a status", line);
    if (strcmp(st->valuestring, "ok") != 0)
        return LLM_OK;             /* rejected or unfinished: no latency */
    if (a < 0 || f < a || e < f || out < 1)
        return diag_set(d, LLM_EINVAL, "line %ld: expected arrival_ns <= "
                        "first_token_ns <= finish_ns and output_tokens >= 1",
                        line);
    return lat_push(&r->meas, a, f, e, out) ?
           diag_set(d, LLM_ENOMEM, "out of memory") : LLM_OK;
}

static int read_line(struct e2e_run *r, const char *text, long line,
                     struct llm_diag *d)
{
    cJSON *o = cJSON_Parse(text);
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "type");
    int rc;

    if (!cJSON_IsObject(o) || !cJSON_IsString(t)) {
        cJSON_Delete(o);
        return diag_set(d, LLM_EINVAL, "line %ld: expected a JSON object "
                        "with a \"type\"", line);
    }
    if (line == 1 && strcmp(t->valuestring, "run") == 0) {
        rc = read_header(r, o, line, d);
        if (rc == LLM_OK)
            rc = open_scenario(r, d);
    } else if (line == 1 || strcmp(t->valuestring, "run") == 0) {
        rc = diag_set(d, LLM_EINVAL, "line %ld: the run line must come "
                      "first, once", line);
    } else if (strcmp(t->valuestring, "request") == 0) {
        rc = read_request(r, o, line, d);
    } else if (strcmp(t->valuestring, "iteration") == 0) {
        rc = read_iteration(r, o, line, d);
    } else {
        rc = diag_set(d, LLM_EINVAL, "line %ld: type: expected \"run\", "
                      "\"request\" or \"iteration\", got \"%s\"", line,
                      t->valuestring);
    }
    cJSON_Delete(o);
    return rc;
}

/* The file is plain or gzip-compressed JSON lines (traces/rows.h reads
 * both), so the measured runs can be committed compressed. */
static int read_run(struct e2e_run *r, struct llm_diag *d)
{
    struct rows *rw = NULL;
    char *text;
    bool eof = false;
    long line = 0;
    int rc;

    d->file = r->file;
    rc = rows_open(r->file, &rw, d);
    while (rc == LLM_OK && (rc = rows_next(rw, &text, &eof, d)) == LLM_OK &&
           !eof) {
        line = rows_lineno(rw);
        rc = read_line(r, text, line, d);
    }
    rows_close(rw);
    if (rc == LLM_OK && (line == 0 || r->meas.n == 0))
        rc = diag_set(d, LLM_EINVAL, "no run line or no finished request");
    return rc;
}

/* --- the simulated side ----------------------------------------------- */

static int read_sim(const char *dir, struct lat *l, struct llm_diag *d)
{
    char path[1200];
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int rc = LLM_OK;

    snprintf(path, sizeof(path), "%s/results.sqlite", dir);
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "SELECT arrival_ns, first_token_ns, "
                           "finish_ns, output_tokens FROM requests WHERE "
                           "status = 'ok' ORDER BY id", -1, &st, NULL) !=
            SQLITE_OK)
        rc = diag_set(d, LLM_EIO, "%s: %s", path, sqlite3_errmsg(db));
    while (rc == LLM_OK && sqlite3_step(st) == SQLITE_ROW)
        rc = lat_push(l, sqlite3_column_int64(st, 0),
                      sqlite3_column_int64(st, 1),
                      sqlite3_column_int64(st, 2),
                      sqlite3_column_int64(st, 3));
    sqlite3_finalize(st);
    sqlite3_close(db);
    return rc;
}

static int simulate(struct e2e_run *r, struct lat *sim, struct llm_diag *d)
{
    char dir[] = "/tmp/llmsim-e2e-XXXXXX", path[64];
    struct run_opts o = { .out_dir = dir, .quiet = 1 };
    cJSON *summary = NULL;
    int rc;

    if (mkdtemp(dir) == NULL)
        return diag_set(d, LLM_EIO, "cannot make a temporary directory");
    rc = run_scenario(&r->sc, &o, &summary, NULL, d);
    cJSON_Delete(summary);
    if (rc == LLM_OK)
        rc = read_sim(dir, sim, d);
    snprintf(path, sizeof(path), "%s/results.sqlite", dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/summary.json", dir);
    unlink(path);
    rmdir(dir);
    return rc;
}

/* --- report ------------------------------------------------------------ */

static double rel_err(double sim, double meas)
{
    if (meas == 0)
        return sim == 0 ? 0 : INFINITY;
    return (sim - meas) / meas;
}

/* Prints one metric's row (and its errors into err[3]); returns the
 * targets missed. */
static int report_metric(const char *name, double *m, size_t nm, double *s,
                         size_t ns, double err[3])
{
    static const double qs[] = { 0.5, 0.9, 0.99 }, tol[] = { .05, .05, .10 };
    int i, missed = 0;

    printf("  %-10s", name);
    for (i = 0; i < 3; i++) {
        double a = quantile(m, nm, qs[i]), b = quantile(s, ns, qs[i]);
        double e = rel_err(b, a);
        bool bad = !(fabs(e) <= tol[i] + 1e-12);
        missed += bad;
        err[i] = e;
        printf(" %10.2f %10.2f %+7.1f%%%s", a, b, 100 * e, bad ? "*" : " ");
    }
    printf("\n");
    return missed;
}

/* One markdown row: the run's errors, a * where a target is missed. */
static void md_row(FILE *md, const char *file, const double err[9],
                   double thr, double alone)
{
    static const double tol[] = { .05, .05, .10 };
    const char *base = strrchr(file, '/');
    int i;

    fprintf(md, "| %.*s |", (int)strcspn(base ? base + 1 : file, "."),
            base ? base + 1 : file);
    for (i = 0; i < 9; i++)
        fprintf(md, "%s%+.1f%s", i % 3 ? " / " : i ? " | " : " ",
                100 * err[i], fabs(err[i]) <= tol[i % 3] + 1e-12 ? "" : "*");
    fprintf(md, " | %+.1f%s | %+.1f |\n", 100 * thr,
            fabs(thr) <= 0.03 + 1e-12 ? "" : "*", 100 * alone);
}

static int report(const struct e2e_run *r, struct lat *sim, FILE *md)
{
    struct lat *m = (struct lat *)&r->meas;
    double tm = lat_throughput(m), ts = lat_throughput(sim);
    double e = rel_err(ts, tm), med, err[9];
    int missed = 0;

    printf("%s (%s", r->file, r->config);
    for (int i = 0; i < r->n_sets; i++)
        printf(" --set %s", r->sets[i]);
    printf(")\n  %-10s %10s %10s %8s  %10s %10s %8s  %10s %10s %8s\n", "ms",
           "p50 meas", "p50 sim", "err", "p90 meas", "p90 sim", "err",
           "p99 meas", "p99 sim", "err");
    missed += report_metric("TTFT", m->ttft, m->n, sim->ttft, sim->n, err);
    missed += report_metric("TPOT", m->tpot, m->n_tpot, sim->tpot,
                            sim->n_tpot, err + 3);
    missed += report_metric("E2E", m->e2e, m->n, sim->e2e, sim->n, err + 6);
    missed += !(fabs(e) <= 0.03 + 1e-12);
    printf("  throughput %.1f output tok/s measured, %.1f simulated "
           "(%+.1f%%%s); requests %zu measured, %zu simulated\n", tm, ts,
           100 * e, fabs(e) <= 0.03 + 1e-12 ? "" : "*", m->n, sim->n);
    med = quantile(r->iter_err, r->n_iter, 0.5);
    printf("  cost model alone on the %zu measured batches: %.3f s priced "
           "vs %.3f s measured (%+.1f%%), median iteration error %+.1f%%\n",
           r->n_iter, r->iter_priced_s, r->iter_meas_s,
           100 * rel_err(r->iter_priced_s, r->iter_meas_s), 100 * med);
    if (md != NULL)
        md_row(md, r->file, err, e, rel_err(r->iter_priced_s,
                                            r->iter_meas_s));
    return missed;
}

/* --- plots ------------------------------------------------------------- */

static void cdf_block(FILE *f, const char *label, const double *v, size_t n)
{
    fprintf(f, "# %s: value_ms cdf\n", label);
    for (size_t i = 0; i < n; i++)
        fprintf(f, "%.6f %.6f\n", v[i], (double)(i + 1) / (double)n);
    fprintf(f, "\n\n");
}

static int write_text(const char *dir, const char *name, const char *ext,
                      const struct lat *m, const struct lat *s,
                      struct llm_diag *d)
{
    char fname[512], path[1200], tmp[1300];
    FILE *f;

    snprintf(fname, sizeof(fname), "%s.%s", name, ext);
    snprintf(path, sizeof(path), "%s/%s", dir, fname);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    if ((f = fopen(tmp, "w")) == NULL)
        return diag_set(d, LLM_EIO, "%s: cannot write", tmp);
    if (strcmp(ext, "dat") == 0) {
        /* Blocks (gnuplot index): measured then simulated TTFT, TPOT, E2E;
         * the arrays are sorted by the report's quantiles. */
        cdf_block(f, "measured TTFT", m->ttft, m->n);
        cdf_block(f, "simulated TTFT", s->ttft, s->n);
        cdf_block(f, "measured TPOT", m->tpot, m->n_tpot);
        cdf_block(f, "simulated TPOT", s->tpot, s->n_tpot);
        cdf_block(f, "measured E2E", m->e2e, m->n);
        cdf_block(f, "simulated E2E", s->e2e, s->n);
    } else {
        fprintf(f, "# gnuplot %s.gp: measured vs simulated latency CDFs\n"
                "set terminal pngcairo size 1500,450 noenhanced\n"
                "set output '%s.png'\n"
                "set multiplot layout 1,3 title '%s'\nset key bottom right\n"
                "set ylabel 'CDF'\n", name, name, name);
        for (int i = 0; i < 3; i++)
            fprintf(f, "set xlabel '%s (ms)'\nplot '%s.dat' index %d "
                    "with lines title 'measured', '' index %d with lines "
                    "dashtype 2 title 'llmsim'\n",
                    i == 0 ? "TTFT" : i == 1 ? "TPOT" : "E2E latency", name,
                    2 * i, 2 * i + 1);
        fprintf(f, "unset multiplot\n");
    }
    if (fclose(f) != 0 || rename(tmp, path) != 0)
        return diag_set(d, LLM_EIO, "%s: cannot write", path);
    return LLM_OK;
}

static int write_plots(const char *dir, const struct e2e_run *r,
                       const struct lat *sim, struct llm_diag *d)
{
    const char *base = strrchr(r->file, '/');
    char name[256];
    char *dot;
    int rc = store_mkdirs(dir, d);

    snprintf(name, sizeof(name), "%s", base ? base + 1 : r->file);
    if ((dot = strstr(name, ".jsonl")) != NULL)
        *dot = '\0';
    if (!rc) rc = write_text(dir, name, "dat", &r->meas, sim, d);
    if (!rc) rc = write_text(dir, name, "gp", &r->meas, sim, d);
    return rc;
}

/* --- the command -------------------------------------------------------- */

static void run_free(struct e2e_run *r)
{
    for (int i = 0; i < r->n_sets; i++)
        free(r->sets[i]);
    cost_destroy(r->cost);
    if (r->sc_loaded)
        scenario_free(&r->sc);
    lat_free(&r->meas);
    free(r->iter_err);
    free((char *)r->file);
}

/* Validates one file: 0 met, 1 missed, 2 bad input. */
static int validate_one(const char *file, const char *plots, FILE *md)
{
    struct e2e_run r = { .file = strdup(file) };
    struct lat sim = { 0 };
    struct llm_diag d = { 0 };
    int missed = 0, rc = r.file ? read_run(&r, &d) : LLM_ENOMEM;

    if (rc == LLM_OK) {
        d.file = NULL;
        rc = simulate(&r, &sim, &d);
    }
    if (rc == LLM_OK && sim.n == 0)
        rc = diag_set(&d, LLM_EINVAL, "%s: llmsim finished no request",
                      file);
    if (rc == LLM_OK) {
        missed = report(&r, &sim, md);
        if (plots)
            rc = write_plots(plots, &r, &sim, &d);
    }
    if (rc != LLM_OK) {
        char msg[1200];
        diag_format(&d, msg, sizeof(msg));
        fprintf(stderr, "llmsim validate-e2e: %s\n", msg);
    }
    lat_free(&sim);
    run_free(&r);
    if (rc != LLM_OK)
        return diag_exit_status(rc);
    return missed ? 1 : 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* DIR/NAME.jsonl[.gz] and DIR/SUB/NAME.jsonl[.gz], sorted. */
static size_t find_runs(const char *dir, int depth, char **out, size_t n)
{
    DIR *dp = opendir(dir);
    struct dirent *e;

    if (dp == NULL)
        return n;
    while ((e = readdir(dp)) != NULL && n < E2E_MAX_RUNS) {
        size_t len = strlen(e->d_name);
        char path[1024];
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        if ((len > 6 && strcmp(e->d_name + len - 6, ".jsonl") == 0) ||
            (len > 9 && strcmp(e->d_name + len - 9, ".jsonl.gz") == 0))
            out[n++] = strdup(path);
        else if (depth == 0)
            n = find_runs(path, 1, out, n);
    }
    closedir(dp);
    return n;
}

int cmd_validate_e2e(int argc, char **argv)
{
    const char *dir = "hw/calib/data/e2e", *plots = NULL;
    char *runs[E2E_MAX_RUNS], md_path[1200], md_tmp[1300];
    FILE *md = NULL;
    size_t n, i;
    int worst = 0, st, a;

    for (a = 1; a < argc; a++) {
        if (strcmp(argv[a], "--plots") == 0 && a + 1 < argc) {
            plots = argv[++a];
        } else if (argv[a][0] == '-') {
            fprintf(stderr, "usage: llmsim validate-e2e [DIR] "
                    "[--plots DIR]\n");
            return 2;
        } else {
            dir = argv[a];
        }
    }
    n = find_runs(dir, 0, runs, 0);
    if (n == 0) {
        printf("validate-e2e: no measured runs in %s yet: run "
               "hw/calib/reference/e2e_campaign.sh on the GPU machine "
               "(issue 8)\n", dir);
        return 0;
    }
    qsort(runs, n, sizeof(*runs), cmp_str);
    /* --plots DIR also gets summary.md: one table row per run, written
     * to a temporary name and renamed when complete */
    if (plots != NULL) {
        struct llm_diag d = { 0 };
        if (store_mkdirs(plots, &d) == LLM_OK) {
            snprintf(md_path, sizeof(md_path), "%s/summary.md", plots);
            snprintf(md_tmp, sizeof(md_tmp), "%s.tmp", md_path);
            md = fopen(md_tmp, "w");
        }
        if (md == NULL) {
            fprintf(stderr, "llmsim validate-e2e: %s: cannot write\n", plots);
            return 2;
        }
        fprintf(md, "| run | TTFT p50 / p90 / p99 %% | TPOT p50 / p90 / p99 %% "
                "| E2E p50 / p90 / p99 %% | throughput %% | cost model alone "
                "%% |\n|---|---|---|---|---:|---:|\n");
    }
    for (i = 0; i < n; i++) {
        st = runs[i] ? validate_one(runs[i], plots, md) : 2;
        worst = st > worst ? st : worst;
        free(runs[i]);
    }
    if (md != NULL && (fclose(md) != 0 || rename(md_tmp, md_path) != 0)) {
        fprintf(stderr, "llmsim validate-e2e: %s: cannot write\n", md_path);
        worst = 2;
    }
    printf("validate-e2e: %zu run%s, %s (targets: p50 and p90 within 5%%, "
           "p99 within 10%%, throughput within 3%%; * marks a miss)\n", n,
           n == 1 ? "" : "s", worst == 0 ? "every target met" :
           worst == 1 ? "targets missed" : "bad input");
    return worst;
}
