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

#include "analysis/metrics.h"
#include "analysis/plot.h"
#include "analysis/store.h"
#include "analysis/summary.h"
#include "cli/args.h"
#include "run/e2e_load.h"
#include "run/run.h"
#include "run/scenario.h"
#include "cli/step.h"
#include "hw/cost.h"
#include "base/jcfg.h"
#include "base/paths.h"
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

/* Iteration time scales of the sensitivity re-runs (issue 20). */
static const double sens_scales[] = { 1.01, 1.03, 1.05 };
#define E2E_N_SCALES 3

/* One measured file: its scenario and what the cost model made of its
 * iterations. */
struct e2e_run {
    const char *file;
    char config[512];
    char *sets[E2E_MAX_SETS + 2];
    int n_sets;
    struct scenario sc;
    bool sc_loaded;
    struct cost_model *cost;
    struct cost_env env;
    struct lat meas;
    struct e2e_series meas_load;
    double iter_meas_s, iter_priced_s;
    double *iter_err;          /* per iteration (priced - measured) / measured */
    size_t n_iter, cap_iter;
};

/* The simulated side of a run. */
struct e2e_sim {
    struct lat lat;
    struct e2e_series load;
    double util;               /* the run summary's utilization */
    double sens[E2E_N_SCALES]; /* TTFT p90 change at sens_scales */
};

/* What one run contributes to its group's targets: the nine percentile
 * errors (TTFT, TPOT, E2E x p50, p90, p99) and throughput's. */
struct e2e_result {
    char name[256], group[256];
    double err[10];
    double sens[E2E_N_SCALES];
    bool ok;                   /* validated (no bad input) */
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
    if (metric_tpot_ms(first - arr, fin - arr, out, &l->tpot[l->n_tpot]))
        l->n_tpot++;
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
                                    .root = llm_root(),
                                    .engine = &r->sc.engine };
        sd.file = r->config;
        rc = cost_create(&r->env, r->sc.cost_params, "cost_model", &r->cost,
                         &sd);
    }
    if (rc == LLM_OK)
        return LLM_OK;
    diag_format(&sd, msg, sizeof(msg));
    return diag_set(d, rc, "line 1: %s", msg);
}

/* "waiting": requests left waiting after the iteration was planned
 * (serve.py, sched.py measure); -1 when the run did not record it. */
static int waiting_flag(const cJSON *o)
{
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(o, "waiting");

    return cJSON_IsNumber(w) ? w->valuedouble > 0 : -1;
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
    rc = e2e_series_iter(&r->meas_load, s, e, waiting_flag(o));
    if (rc)
        return diag_set(d, rc, "out of memory");
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
    return lat_push(&r->meas, a, f, e, out) ||
           e2e_series_req(&r->meas_load, a, f) ?
           diag_set(d, LLM_ENOMEM, "out of memory") : LLM_OK;
}

static int read_line(struct e2e_run *r, const char *text, long line,
                     struct llm_diag *d)
{
    cJSON *o = cJSON_Parse(text);
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "type");
    struct llm_diag dup = { 0 };
    int rc;

    if (!cJSON_IsObject(o) || !cJSON_IsString(t)) {
        cJSON_Delete(o);
        return diag_set(d, LLM_EINVAL, "line %ld: expected a JSON object "
                        "with a \"type\"", line);
    }
    if (jcfg_check_dups(o, "", &dup) != LLM_OK) {
        cJSON_Delete(o);
        return diag_set(d, LLM_EINVAL, "line %ld: %s", line, dup.msg);
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

static int read_sim(const char *dir, struct e2e_sim *sim,
                    struct llm_diag *d)
{
    char path[1200];
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL, *it = NULL;
    int rc = LLM_OK;

    snprintf(path, sizeof(path), "%s/results.sqlite", dir);
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "SELECT arrival_ns, first_token_ns, "
                           "finish_ns, output_tokens FROM requests WHERE "
                           "status = 'ok' ORDER BY id", -1, &st, NULL) !=
            SQLITE_OK ||
        sqlite3_prepare_v2(db, "SELECT start_ns, end_ns FROM iterations "
                           "ORDER BY rowid", -1, &it, NULL) != SQLITE_OK)
        rc = diag_set(d, LLM_EIO, "%s: %s", path, sqlite3_errmsg(db));
    while (rc == LLM_OK && sqlite3_step(st) == SQLITE_ROW)
        rc = lat_push(&sim->lat, sqlite3_column_int64(st, 0),
                      sqlite3_column_int64(st, 1),
                      sqlite3_column_int64(st, 2),
                      sqlite3_column_int64(st, 3)) ||
             e2e_series_req(&sim->load, sqlite3_column_int64(st, 0),
                            sqlite3_column_int64(st, 1));
    while (rc == LLM_OK && sqlite3_step(it) == SQLITE_ROW)
        rc = e2e_series_iter(&sim->load, sqlite3_column_int64(it, 0),
                             sqlite3_column_int64(it, 1), -1);
    if (rc == LLM_ENOMEM)
        rc = diag_set(d, rc, "out of memory");
    sqlite3_finalize(st);
    sqlite3_finalize(it);
    sqlite3_close(db);
    return rc;
}

struct temp_look {
    struct e2e_sim *sim;         /* NULL: not read back */
    double *p90;                 /* NULL: not wanted */
    struct llm_diag *d;
};

static int look_temp(const char *dir, const cJSON *summary, void *arg)
{
    struct temp_look *t = arg;
    int rc = LLM_OK;

    if (t->sim != NULL) {
        t->sim->util = summary_num(summary, "utilization", NULL);
        rc = read_sim(dir, t->sim, t->d);
    }
    if (rc == LLM_OK && t->p90 != NULL)
        *t->p90 = summary_num(summary, "ttft_ms", "p90");
    return rc;
}

/* Runs sc into a temporary directory (run/run.h run_scratch); with sim,
 * reads the requests and iterations back; with p90, the TTFT p90 of the
 * summary. */
static int run_temp(struct scenario *sc, struct e2e_sim *sim, double *p90,
                    struct llm_diag *d)
{
    const struct run_opts o = { .quiet = 1 };
    struct temp_look t = { .sim = sim, .p90 = p90, .d = d };

    return run_scratch(sc, o, look_temp, &t, d);
}

/* The TTFT p90 of the run's scenario with every iteration `scale` times
 * as long (cost_model.time_scale, after the run's own overrides). */
static int scaled_p90(struct e2e_run *r, double scale, double *p90,
                      struct llm_diag *d)
{
    char set[64];
    struct scenario sc;
    int rc;

    snprintf(set, sizeof(set), "cost_model.time_scale=%g", scale);
    r->sets[r->n_sets] = set;
    rc = scenario_load(r->config, (const char *const *)r->sets, &sc, d);
    r->sets[r->n_sets] = NULL;
    if (rc == LLM_OK)
        rc = run_temp(&sc, NULL, p90, d);
    scenario_free(&sc);
    return rc;
}

static int simulate(struct e2e_run *r, struct e2e_sim *sim,
                    struct llm_diag *d)
{
    double base = 0, p90;
    int rc = run_temp(&r->sc, sim, &base, d);
    int k;

    for (k = 0; k < E2E_N_SCALES && rc == LLM_OK; k++) {
        rc = scaled_p90(r, sens_scales[k], &p90, d);
        sim->sens[k] = base > 0 ? p90 / base - 1 : 0;
    }
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

/* One markdown row: the run's errors, a * where a target is missed, the
 * cost model alone, the utilization measured and simulated, and the TTFT
 * p90 change at each sensitivity scale. */
static void md_row(FILE *md, const char *name, const double err[9],
                   double thr, double alone, double um, double us,
                   const double *sens)
{
    static const double tol[] = { .05, .05, .10 };
    int i;

    fprintf(md, "| %s |", name);
    for (i = 0; i < 9; i++)
        fprintf(md, "%s%+.1f%s", i % 3 ? " / " : i ? " | " : " ",
                100 * err[i], fabs(err[i]) <= tol[i % 3] + 1e-12 ? "" : "*");
    fprintf(md, " | %+.1f%s | %+.1f |", 100 * thr,
            fabs(thr) <= 0.03 + 1e-12 ? "" : "*", 100 * alone);
    if (isnan(um))
        fprintf(md, " - / %.0f |", 100 * us);
    else
        fprintf(md, " %.0f / %.0f |", 100 * um, 100 * us);
    for (i = 0; i < E2E_N_SCALES; i++)
        fprintf(md, "%s%+.1f", i ? " / " : " ", 100 * sens[i]);
    fprintf(md, " |\n");
}

/* The run's load, measured and simulated (issue 20). */
static void report_load(const struct e2e_run *r, const struct e2e_sim *sim)
{
    double um = e2e_series_util(&r->meas_load), qm, xm, qs, xs;
    int k;

    e2e_series_queue(&r->meas_load, &qm, &xm);
    e2e_series_queue(&sim->load, &qs, &xs);
    printf("  load: utilization (time with requests waiting after "
           "planning) ");
    if (isnan(um))
        printf("not recorded");
    else
        printf("%.1f%% measured", 100 * um);
    printf(", %.1f%% simulated; busy %.1f%% / %.1f%%; awaiting a first "
           "token: mean %.2f / %.2f, max %.0f / %.0f\n", 100 * sim->util,
           100 * e2e_series_busy(&r->meas_load),
           100 * e2e_series_busy(&sim->load), qm, qs, xm, xs);
    printf("  sensitivity: llmsim's TTFT p90");
    for (k = 0; k < E2E_N_SCALES; k++)
        printf("%s%+.1f%%", k ? " / " : " ", 100 * sim->sens[k]);
    printf(" with every iteration");
    for (k = 0; k < E2E_N_SCALES; k++)
        printf("%s+%.0f%%", k ? " / " : " ", 100 * (sens_scales[k] - 1));
    printf(" longer\n");
}

static int report(const struct e2e_run *r, struct e2e_sim *ss, FILE *md,
                  struct e2e_result *res)
{
    struct lat *m = (struct lat *)&r->meas, *sim = &ss->lat;
    double tm = lat_throughput(m), ts = lat_throughput(sim);
    double e = rel_err(ts, tm), med;
    double *err = res->err;
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
    err[9] = e;
    printf("  throughput %.1f output tok/s measured, %.1f simulated "
           "(%+.1f%%%s); requests %zu measured, %zu simulated\n", tm, ts,
           100 * e, fabs(e) <= 0.03 + 1e-12 ? "" : "*", m->n, sim->n);
    med = quantile(r->iter_err, r->n_iter, 0.5);
    printf("  cost model alone on the %zu measured batches: %.3f s priced "
           "vs %.3f s measured (%+.1f%%), median iteration error %+.1f%%\n",
           r->n_iter, r->iter_priced_s, r->iter_meas_s,
           100 * rel_err(r->iter_priced_s, r->iter_meas_s), 100 * med);
    report_load(r, ss);
    memcpy(res->sens, ss->sens, sizeof(res->sens));
    if (md != NULL)
        md_row(md, res->name, err, e, rel_err(r->iter_priced_s,
               r->iter_meas_s), e2e_series_util(&r->meas_load), ss->util,
               ss->sens);
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
    char fname[512], path[1200], tmp[1300], q[600], qf[600];
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
        /* name comes from a measured file's name: plot_gp_str quotes it */
        snprintf(fname, sizeof(fname), "%s.gp", name);
        fprintf(f, "# gnuplot %s: measured vs simulated latency CDFs\n",
                plot_gp_str(fname, q, sizeof(q)));
        snprintf(fname, sizeof(fname), "%s.png", name);
        fprintf(f, "set terminal pngcairo size 1500,450 noenhanced\n"
                "set output %s\n", plot_gp_str(fname, qf, sizeof(qf)));
        fprintf(f, "set multiplot layout 1,3 title %s\nset key bottom "
                "right\nset ylabel 'CDF'\n", plot_gp_str(name, q, sizeof(q)));
        snprintf(fname, sizeof(fname), "%s.dat", name);
        plot_gp_str(fname, qf, sizeof(qf));
        for (int i = 0; i < 3; i++)
            fprintf(f, "set xlabel %s\nplot %s index %d "
                    "with lines title 'measured', '' index %d with lines "
                    "dashtype 2 title 'llmsim'\n",
                    i == 0 ? "'TTFT (ms)'" : i == 1 ? "'TPOT (ms)'"
                    : "'E2E latency (ms)'", qf, 2 * i, 2 * i + 1);
        fprintf(f, "unset multiplot\n");
    }
    if (fclose(f) != 0 || rename(tmp, path) != 0)
        return diag_set(d, LLM_EIO, "%s: cannot write", path);
    return LLM_OK;
}

static int write_plots(const char *dir, const struct e2e_run *r,
                       const struct e2e_sim *sim, const char *name,
                       struct llm_diag *d)
{
    int rc = store_mkdirs(dir, d);

    if (!rc) rc = write_text(dir, name, "dat", &r->meas, &sim->lat, d);
    if (!rc) rc = write_text(dir, name, "gp", &r->meas, &sim->lat, d);
    if (!rc) rc = e2e_load_plot(dir, name, &r->meas_load, &sim->load, d);
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
    e2e_series_free(&r->meas_load);
    free(r->iter_err);
    free((char *)r->file);
}

/* The run's name (its file's, less .jsonl[.gz]) and group (its folder
 * under dir; dir's own name for a run directly in dir). */
static void name_run(const char *file, const char *dir,
                     struct e2e_result *res)
{
    const char *base = strrchr(file, '/'), *rel = file;
    size_t n = strlen(dir);
    char *dot;

    snprintf(res->name, sizeof(res->name), "%s", base ? base + 1 : file);
    if ((dot = strstr(res->name, ".jsonl")) != NULL)
        *dot = '\0';
    if (strncmp(file, dir, n) == 0 && file[n] == '/')
        rel = file + n + 1;
    base = strrchr(rel, '/');
    if (base != NULL) {
        snprintf(res->group, sizeof(res->group), "%.*s", (int)(base - rel),
                 rel);
        return;
    }
    /* a run directly in dir: dir's own name */
    while (n > 1 && dir[n - 1] == '/')
        n--;
    for (base = dir + n; base > dir && base[-1] != '/'; base--)
        ;
    snprintf(res->group, sizeof(res->group), "%.*s",
             (int)(dir + n - base), base);
}

/* Validates one file: 0 met, 1 missed, 2 bad input. */
static int validate_one(const char *file, const char *plots, FILE *md,
                        struct e2e_result *res)
{
    struct e2e_run r = { .file = strdup(file) };
    struct e2e_sim sim = { 0 };
    struct llm_diag d = { 0 };
    int missed = 0, rc = r.file ? read_run(&r, &d) : LLM_ENOMEM;

    if (rc == LLM_OK) {
        d.file = NULL;
        rc = simulate(&r, &sim, &d);
    }
    if (rc == LLM_OK && sim.lat.n == 0)
        rc = diag_set(&d, LLM_EINVAL, "%s: llmsim finished no request",
                      file);
    if (rc == LLM_OK) {
        missed = report(&r, &sim, md, res);
        res->ok = true;
        if (plots)
            rc = write_plots(plots, &r, &sim, res->name, &d);
    }
    if (rc != LLM_OK) {
        char msg[1200];
        diag_format(&d, msg, sizeof(msg));
        fprintf(stderr, "llmsim validate-e2e: %s\n", msg);
    }
    lat_free(&sim.lat);
    e2e_series_free(&sim.load);
    run_free(&r);
    if (rc != LLM_OK)
        return diag_exit_status(rc);
    return missed ? 1 : 0;
}

/* Issue 20's targets over a group of runs: p50 and p90 of TTFT, TPOT and
 * E2E within 5% in at least 80% of the runs, p99 within 10% and output
 * throughput within 3% in every run.  Prints the counts; true when met. */
static bool group_targets(const struct e2e_result *res, size_t n,
                          const char *group, FILE *md)
{
    static const char *const metric[] = { "TTFT", "TPOT", "E2E" };
    static const double tol[] = { .05, .05, .10 };
    size_t hit[10] = { 0 }, runs = 0, i;
    int k;
    bool met = true;

    for (i = 0; i < n; i++) {
        if (!res[i].ok || strcmp(res[i].group, group) != 0)
            continue;
        runs++;
        for (k = 0; k < 10; k++)
            hit[k] += fabs(res[i].err[k]) <= (k < 9 ? tol[k % 3] : .03) +
                      1e-12;
    }
    if (runs == 0)
        return true;
    printf("validate-e2e: %s (%zu run%s):", group, runs, runs == 1 ? "" :
           "s");
    if (md != NULL)
        fprintf(md, "| %s | %zu |", group, runs);
    for (k = 0; k < 10; k++) {
        bool ok = k % 3 == 2 || k == 9 ? hit[k] == runs :
                  (double)hit[k] >= 0.8 * (double)runs - 1e-9;
        met = met && ok;
        if (k < 9)
            printf("%s %s p%d %zu/%zu%s", k % 3 ? "," : k ? ";" : "",
                   metric[k / 3], k % 3 == 0 ? 50 : k % 3 == 1 ? 90 : 99,
                   hit[k], runs, ok ? "" : "*");
        else
            printf("; throughput %zu/%zu%s", hit[k], runs, ok ? "" : "*");
        if (md != NULL)
            fprintf(md, " %zu/%zu%s |", hit[k], runs, ok ? "" : "*");
    }
    printf(" -> %s\n", met ? "targets met" : "targets missed");
    if (md != NULL)
        fprintf(md, " %s |\n", met ? "met" : "missed");
    return met;
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

static FILE *open_md(const char *plots, char *md_path, size_t np,
                     char *md_tmp, size_t nt)
{
    struct llm_diag d = { 0 };
    FILE *md = NULL;

    if (store_mkdirs(plots, &d) == LLM_OK) {
        snprintf(md_path, np, "%s/summary.md", plots);
        snprintf(md_tmp, nt, "%s.tmp", md_path);
        md = fopen(md_tmp, "w");
    }
    if (md == NULL)
        return NULL;
    fprintf(md, "| run | TTFT p50 / p90 / p99 %% | TPOT p50 / p90 / p99 %% "
            "| E2E p50 / p90 / p99 %% | throughput %% | cost model alone "
            "%% | utilization %% meas / sim | TTFT p90 %% at iterations "
            "+1 / +3 / +5 %% |\n|---|---|---|---|---:|---:|---:|---|\n");
    return md;
}

/* The per-group targets (a table in md after the runs'); true when every
 * group meets them. */
static bool all_groups(const struct e2e_result *res, size_t n, FILE *md)
{
    bool met = true;
    size_t i, j;

    if (md != NULL)
        fprintf(md, "\nTargets per folder (p50 and p90 within 5%% in at "
                "least 80%% of runs, p99 within 10%% and throughput within "
                "3%% in every run; counts of runs within):\n\n| folder | "
                "runs | TTFT p50 | p90 | p99 | TPOT p50 | p90 | p99 | E2E "
                "p50 | p90 | p99 | throughput | targets |\n|---|---:|---:|"
                "---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n");
    for (i = 0; i < n; i++) {
        for (j = 0; j < i; j++)
            if (strcmp(res[j].group, res[i].group) == 0)
                break;
        if (j == i)
            met = group_targets(res, n, res[i].group, md) && met;
    }
    return met;
}

static int sensitivity_figure(const char *plots, const struct e2e_result *res,
                              size_t n)
{
    char *names[E2E_MAX_RUNS];
    double chg[E2E_MAX_RUNS * E2E_N_SCALES];
    struct llm_diag d = { 0 };
    size_t i, m = 0;
    int rc;

    for (i = 0; i < n; i++) {
        if (!res[i].ok)
            continue;
        names[m] = (char *)res[i].name;
        memcpy(chg + m * E2E_N_SCALES, res[i].sens, sizeof(res[i].sens));
        m++;
    }
    rc = e2e_sensitivity_plot(plots, names, chg, m, sens_scales,
                              E2E_N_SCALES, &d);
    if (rc != LLM_OK)
        fprintf(stderr, "llmsim validate-e2e: %s\n", d.msg);
    return rc;
}

static void e2e_usage(FILE *f)
{
    fprintf(f, "usage: llmsim validate-e2e [DIR] [--plots DIR]\n"
            "  simulates every measured serving run in DIR (default "
            "hw/calib/data/e2e)\n"
            "  and compares latency percentiles; exit 0 every target met, "
            "1 a target\n  missed, 2 bad input\n");
}

int cmd_validate_e2e(int argc, char **argv)
{
    const char *dir = NULL, *plots = NULL;
    char *runs[E2E_MAX_RUNS], md_path[1200], md_tmp[1300], def[1100];
    struct e2e_result *res;
    FILE *md = NULL;
    size_t n, i;
    int worst = 0, st, a;

    if (args_want_help(argc, argv)) {
        e2e_usage(stdout);
        return 0;
    }
    for (a = 1; a < argc; a++) {
        if (strcmp(argv[a], "--plots") == 0 && a + 1 < argc) {
            plots = argv[++a];
        } else if (argv[a][0] == '-' || dir != NULL) {
            e2e_usage(stderr);
            return 2;
        } else {
            dir = argv[a];
        }
    }
    if (dir == NULL) {           /* the measured runs the data root holds */
        snprintf(def, sizeof(def), "%s/hw/calib/data/e2e", llm_root());
        dir = def;
    }
    if (args_need_path(stderr, "validate-e2e", dir))
        return 2;
    n = find_runs(dir, 0, runs, 0);
    if (n == 0) {
        printf("validate-e2e: no measured runs in %s yet: run "
               "hw/calib/reference/e2e_campaign_v1.sh on the GPU machine "
               "(issues 8, 20)\n", dir);
        return 0;
    }
    qsort(runs, n, sizeof(*runs), cmp_str);
    res = calloc(n, sizeof(*res));
    /* --plots DIR also gets summary.md: one table row per run, written
     * to a temporary name and renamed when complete */
    if (plots != NULL && res != NULL &&
        (md = open_md(plots, md_path, sizeof(md_path), md_tmp,
                      sizeof(md_tmp))) == NULL) {
        fprintf(stderr, "llmsim validate-e2e: %s: cannot write\n", plots);
        worst = 2;
    }
    for (i = 0; i < n; i++) {
        if (res != NULL && worst < 2 && runs[i] != NULL) {
            name_run(runs[i], dir, &res[i]);
            st = validate_one(runs[i], plots, md, &res[i]);
            worst = st > worst ? st : worst;
        } else {
            worst = 2;
        }
        free(runs[i]);
    }
    /* the verdict is the targets' over each folder of runs */
    if (worst < 2)
        worst = all_groups(res, n, md) ? 0 : 1;
    if (md != NULL && (fclose(md) != 0 || rename(md_tmp, md_path) != 0)) {
        fprintf(stderr, "llmsim validate-e2e: %s: cannot write\n", md_path);
        worst = 2;
    }
    if (plots != NULL && worst < 2 && sensitivity_figure(plots, res, n))
        worst = 2;
    free(res);
    printf("validate-e2e: %zu run%s, %s (targets per folder: p50 and p90 "
           "within 5%% in at least 80%% of runs, p99 within 10%% and "
           "throughput within 3%% in every run; * marks a miss)\n", n,
           n == 1 ? "" : "s", worst == 0 ? "every target met" :
           worst == 1 ? "targets missed" : "bad input");
    return worst;
}
