#include "analysis/plan.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/store.h"
#include "base/jcfg.h"
#include "base/version.h"

static const char *const plan_keys[] = { "name", "base", "set",
    "candidates", "seeds", "confidence", "out", "jobs", "keep_runs", "slo",
    "target_req_s", "search", "prices", NULL };

/* A threshold the runs get when the plan leaves that SLO out: far above
 * any latency, so it never decides the attainment. */
#define PLAN_NO_LIMIT_MS 1e12

static int read_slo(struct plan_spec *p, struct llm_diag *d)
{
    static const char *const keys[] = { "ttft_ms", "tpot_ms", "percentile",
                                        "attainment", NULL };
    const cJSON *o = NULL;
    struct plan_slo *s = &p->slo;
    int64_t pct = 90;
    int rc = jcfg_obj(p->sw.root, "", "slo", true, &o, d);

    if (!rc) rc = jcfg_known(o, "slo", keys, d);
    if (!rc) rc = jcfg_num(o, "slo", "ttft_ms", false, 0, 1e9, &s->ttft_ms, d);
    if (!rc) rc = jcfg_num(o, "slo", "tpot_ms", false, 0, 1e9, &s->tpot_ms, d);
    if (!rc) rc = jcfg_int(o, "slo", "percentile", false, 50, 99, &pct, d);
    if (!rc) rc = jcfg_num(o, "slo", "attainment", false, 0, 1,
                           &s->attainment, d);
    if (rc)
        return rc;
    if (pct != 50 && pct != 90 && pct != 95 && pct != 99)
        return diag_set(d, LLM_EINVAL, "slo.percentile: expected 50, 90, 95 "
                        "or 99 (the percentiles a run records), got %lld",
                        (long long)pct);
    if (s->ttft_ms <= 0 && s->tpot_ms <= 0)
        return diag_set(d, LLM_EINVAL, "slo: expected ttft_ms or tpot_ms "
                        "(a positive number of ms)");
    s->percentile = (int)pct;
    return LLM_OK;
}

static int read_search(struct plan_spec *p, struct llm_diag *d)
{
    static const char *const keys[] = { "start", "min_scale", "max_scale",
                                        "rel_tol", "max_steps", NULL };
    struct plan_search *s = &p->search;
    const cJSON *o = NULL;
    int64_t steps = 30;
    int rc = jcfg_obj(p->sw.root, "", "search", false, &o, d);

    *s = (struct plan_search){ .start = 1, .min_scale = 1.0 / 1024,
                               .max_scale = 1024, .rel_tol = 0.02 };
    if (!rc && o) rc = jcfg_known(o, "search", keys, d);
    if (!rc && o) rc = jcfg_num(o, "search", "start", false, 1e-9, 1e9,
                                &s->start, d);
    if (!rc && o) rc = jcfg_num(o, "search", "min_scale", false, 1e-9, 1e9,
                                &s->min_scale, d);
    if (!rc && o) rc = jcfg_num(o, "search", "max_scale", false, 1e-9, 1e9,
                                &s->max_scale, d);
    if (!rc && o) rc = jcfg_num(o, "search", "rel_tol", false, 1e-4, 1,
                                &s->rel_tol, d);
    if (!rc && o) rc = jcfg_int(o, "search", "max_steps", false, 2, 200,
                                &steps, d);
    if (rc)
        return rc;
    s->max_steps = (int)steps;
    if (s->min_scale > s->start || s->start > s->max_scale)
        return diag_set(d, LLM_EINVAL, "search: expected min_scale <= start "
                        "<= max_scale, got %g, %g, %g", s->min_scale,
                        s->start, s->max_scale);
    return LLM_OK;
}

static int read_prices(struct plan_spec *p, struct llm_diag *d)
{
    const cJSON *it;
    char kp[160];
    int rc = jcfg_obj(p->sw.root, "", "prices", false, &p->prices, d);

    cJSON_ArrayForEach(it, p->prices) {
        if (rc)
            break;
        snprintf(kp, sizeof(kp), "prices");
        rc = jcfg_num(p->prices, kp, it->string, true, 0, 1e6,
                      &(double){ 0 }, d);
    }
    return rc;
}

/* The search owns these keys: a candidate list may not set them. */
static int check_candidates(const struct plan_spec *p, struct llm_diag *d)
{
    static const char *const owned[] = { "workload.rate_scale",
                                         "hardware.num_gpus", NULL };
    size_t i, k;

    for (i = 0; i < p->sw.n_params; i++)
        for (k = 0; owned[k] != NULL; k++)
            if (strcmp(p->sw.params[i].key, owned[k]) == 0)
                return diag_set(d, LLM_EINVAL, "candidates.%s: set by the "
                                "planner (it searches the rate of one "
                                "replica)", owned[k]);
    return LLM_OK;
}

int plan_load(const char *path, struct plan_spec *p, struct llm_diag *d)
{
    cJSON *root = NULL;
    int rc;

    memset(p, 0, sizeof(*p));
    d->file = path;
    rc = jcfg_load(path, &root, d);
    if (!rc) rc = jcfg_known(root, "", plan_keys, d);
    if (rc) {
        cJSON_Delete(root);
        return rc;
    }
    p->sw.path = path;
    rc = sweep_spec_read(root, "candidates", &p->sw, d);
    if (rc)
        return rc;
    rc = check_candidates(p, d);
    if (!rc) rc = read_slo(p, d);
    if (!rc) rc = read_search(p, d);
    if (!rc) rc = read_prices(p, d);
    if (!rc) rc = jcfg_num(p->sw.root, "", "target_req_s", true, 1e-9, 1e12,
                           &p->target_req_s, d);
    if (rc)
        plan_free(p);
    return rc;
}

void plan_free(struct plan_spec *p)
{
    sweep_spec_free(&p->sw);
}

char **plan_fixed_sets(const struct plan_spec *p)
{
    char **v = calloc(3, sizeof(*v));
    double lim[2] = { p->slo.ttft_ms > 0 ? p->slo.ttft_ms : PLAN_NO_LIMIT_MS,
                      p->slo.tpot_ms > 0 ? p->slo.tpot_ms : PLAN_NO_LIMIT_MS };
    static const char *const keys[] = { "slo.ttft_ms", "slo.tpot_ms" };
    int i;

    for (i = 0; v != NULL && i < 2; i++) {
        v[i] = malloc(64);
        if (v[i] == NULL) {
            free(v[0]);
            free(v);
            return NULL;
        }
        snprintf(v[i], 64, "%s=%.17g", keys[i], lim[i]);
    }
    return v;
}

double plan_price(const struct plan_spec *p, const char *device,
                  double catalog)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(p->prices, device);

    return cJSON_IsNumber(v) ? v->valuedouble : catalog;
}

void plan_metric_names(const struct plan_spec *p, char *ttft, char *tpot,
                       size_t len)
{
    snprintf(ttft, len, "ttft_ms.p%d", p->slo.percentile);
    snprintf(tpot, len, "tpot_ms.p%d", p->slo.percentile);
}

/* Appends one failed SLO to e->why. */
static void fail(struct plan_eval *e, const char *what, double bound,
                 const char *op, double limit, const char *unit)
{
    size_t n = strlen(e->why);

    snprintf(e->why + n, sizeof(e->why) - n, "%s%s %.4g%s %s %g%s",
             n ? "; " : "", what, bound, unit, op, limit, unit);
    e->pass = false;
}

void plan_judge(const struct plan_spec *p, struct plan_eval *e)
{
    double level = p->sw.confidence, b;
    char what[32];

    e->pass = true;
    e->why[0] = '\0';
    if (e->offered.n == 0) {
        e->pass = false;
        snprintf(e->why, sizeof(e->why), "no finished run");
        return;
    }
    b = ci_bound(&e->ttft, level, true);
    snprintf(what, sizeof(what), "p%d TTFT", p->slo.percentile);
    if (p->slo.ttft_ms > 0 && (e->ttft.n == 0 || b > p->slo.ttft_ms))
        fail(e, what, b, ">", p->slo.ttft_ms, " ms");
    /* No TPOT figure: every request had one output token, which meets
     * any TPOT SLO (analysis/summary.h). */
    b = ci_bound(&e->tpot, level, true);
    snprintf(what, sizeof(what), "p%d TPOT", p->slo.percentile);
    if (p->slo.tpot_ms > 0 && e->tpot.n > 0 && b > p->slo.tpot_ms)
        fail(e, what, b, ">", p->slo.tpot_ms, " ms");
    b = ci_bound(&e->attain, level, false);
    /* A t bound over few seeds can fall below 0; a fraction cannot, so
     * the text says 0 (the verdict is the same either way). */
    if (p->slo.attainment > 0 && (e->attain.n == 0 ||
                                  b < p->slo.attainment))
        fail(e, "attainment", 100 * fmax(b, 0), "<",
             100 * p->slo.attainment, "%");
}

/* Five significant digits: readable rates, and one key per rate. */
static double round_sig(double x)
{
    double mag = pow(10, floor(log10(x)) - 4);

    return round(x / mag) * mag;
}

void plan_bisect_start(struct plan_bisect *b, const struct plan_search *s)
{
    *b = (struct plan_bisect){ .next = s->start };
}

void plan_bisect_feed(struct plan_bisect *b, const struct plan_search *s,
                      bool pass)
{
    double mid;

    b->steps++;
    if (pass)
        b->lo = b->next;
    else
        b->hi = b->next;
    b->done = true;
    if (b->steps >= s->max_steps)
        return;
    if (b->hi == 0) {               /* no failure yet: double */
        if (b->lo < s->max_scale) {
            b->next = fmin(b->lo * 2, s->max_scale);
            b->done = false;
        }
        return;
    }
    if (b->lo == 0) {               /* no pass yet: halve */
        if (b->hi > s->min_scale) {
            b->next = fmax(b->hi / 2, s->min_scale);
            b->done = false;
        }
        return;
    }
    mid = round_sig((b->lo + b->hi) / 2);
    if ((b->hi - b->lo) / b->lo > s->rel_tol && mid > b->lo && mid < b->hi) {
        b->next = mid;
        b->done = false;
    }
}

void plan_size(const struct plan_spec *p, struct plan_result *r)
{
    r->replicas = r->gpus = 0;
    r->cost_h = 0;
    if (r->status != PLAN_OK && r->status != PLAN_UNBOUNDED)
        return;
    r->rate_req_s = r->best.offered.mean;
    if (!(r->rate_req_s > 0))
        return;
    /* The tolerance keeps an exact multiple from rounding up. */
    r->replicas = (int64_t)ceil(p->target_req_s / r->rate_req_s - 1e-9);
    if (r->replicas < 1)
        r->replicas = 1;
    r->gpus = r->replicas * r->gpus_per_replica;
    r->cost_h = (double)r->gpus * r->price_gpu_h;
}

static int rank_class(const struct plan_result *r)
{
    if (r->replicas > 0)
        return r->price_gpu_h > 0 ? 0 : 1;
    return r->status == PLAN_INFEASIBLE ? 3 : 2;
}

static int cmp_result(const void *pa, const void *pb)
{
    const struct plan_result *a = pa, *b = pb;
    int ca = rank_class(a), cb = rank_class(b);

    if (ca != cb)
        return ca - cb;
    if (ca == 0 && a->cost_h != b->cost_h)
        return a->cost_h < b->cost_h ? -1 : 1;
    if (a->gpus != b->gpus)
        return a->gpus < b->gpus ? -1 : 1;
    if (a->rate_req_s != b->rate_req_s)
        return a->rate_req_s > b->rate_req_s ? -1 : 1;
    return strcmp(a->params, b->params);
}

void plan_rank(struct plan_result *r, size_t n)
{
    qsort(r, n, sizeof(*r), cmp_result);
}

static const char *const label_skip[] = { "hardware.num_gpus", NULL };

/* "12.3 +- 0.4" or "12.3" (one seed); "-" when absent. */
static void fmt_ci(char *buf, size_t len, const struct ci *c, double scale,
                   const char *unit)
{
    if (c->n == 0)
        snprintf(buf, len, "-");
    else if (c->n < 2 || !isfinite(c->hi))
        snprintf(buf, len, "%.4g%s", c->mean * scale, unit);
    else
        snprintf(buf, len, "%.4g +- %.2g%s", c->mean * scale,
                 (c->hi - c->mean) * scale, unit);
}

static void fmt_status(char *buf, size_t len, const struct plan_result *r)
{
    switch (r->status) {
    case PLAN_OK:
        snprintf(buf, len, "%.4g", r->rate_req_s);
        break;
    case PLAN_UNBOUNDED:
        snprintf(buf, len, ">= %.4g", r->rate_req_s);
        break;
    case PLAN_NONE:
        snprintf(buf, len, "none");
        break;
    default:
        snprintf(buf, len, "infeasible");
    }
}

void plan_print_table(FILE *f, const struct plan_spec *p,
                      const struct plan_result *r, size_t n)
{
    char label[512], rate[64], ttft[64], tpot[64], att[64], cost[32];
    size_t i, w = 9;

    for (i = 0; i < n; i++) {
        sweep_params_label(r[i].params, label_skip, label, sizeof(label));
        w = strlen(label) > w ? strlen(label) : w;
    }
    snprintf(ttft, sizeof(ttft), "TTFT p%d ms", p->slo.percentile);
    snprintf(tpot, sizeof(tpot), "TPOT p%d ms", p->slo.percentile);
    fprintf(f, "%-4s  %-*s  %4s  %-12s  %-16s  %-16s  %-16s  %8s  %5s  %9s\n",
            "rank", (int)w, "candidate", "GPUs", "max req/s", ttft, tpot,
            "attainment %", "replicas", "GPUs", "USD/hour");
    for (i = 0; i < n; i++) {
        sweep_params_label(r[i].params, label_skip, label, sizeof(label));
        fmt_status(rate, sizeof(rate), &r[i]);
        fmt_ci(ttft, sizeof(ttft), &r[i].best.ttft, 1, "");
        fmt_ci(tpot, sizeof(tpot), &r[i].best.tpot, 1, "");
        fmt_ci(att, sizeof(att), &r[i].best.attain, 100, "");
        snprintf(cost, sizeof(cost), r[i].cost_h > 0 ? "%.2f" : "-",
                 r[i].cost_h);
        fprintf(f, "%-4zu  %-*s  %4d  %-12s  %-16s  %-16s  %-16s  %8lld  "
                "%5lld  %9s\n", i + 1, (int)w, label, r[i].gpus_per_replica,
                rate, ttft, tpot, att, (long long)r[i].replicas,
                (long long)r[i].gpus, cost);
    }
}

/* ---- the Markdown report ----------------------------------------------- */

static void md_question(FILE *f, const struct plan_spec *p)
{
    const struct plan_slo *s = &p->slo;
    size_t i, j;

    fprintf(f, "## Question\n\n- Workload: the base scenario `%s`",
            p->sw.base_inline ? "(inline in the plan)" : p->sw.base_path);
    for (i = 0; p->sw.fixed[i] != NULL; i++)
        fprintf(f, "%s`%s`", i ? ", " : " with ", p->sw.fixed[i]);
    fprintf(f, ".\n- SLOs:");
    if (s->ttft_ms > 0)
        fprintf(f, " p%d TTFT <= %g ms;", s->percentile, s->ttft_ms);
    if (s->tpot_ms > 0)
        fprintf(f, " p%d TPOT <= %g ms;", s->percentile, s->tpot_ms);
    if (s->attainment > 0)
        fprintf(f, " at least %g%% of requests meet every threshold",
                100 * s->attainment);
    fprintf(f, ".\n- Target load: %g req/s.\n- Seeds:", p->target_req_s);
    for (i = 0; i < p->sw.n_seeds; i++)
        fprintf(f, "%s %llu", i ? "," : "",
                (unsigned long long)p->sw.seeds[i]);
    fprintf(f, "; confidence %g%% (one-sided Student t bounds over the "
            "seeds).\n- Candidates: every combination of", 100 *
            p->sw.confidence);
    for (i = 0; i < p->sw.n_params; i++) {
        fprintf(f, "%s `%s` in {", i ? "," : "", p->sw.params[i].key);
        for (j = 0; j < p->sw.params[i].n_values; j++)
            fprintf(f, "%s%s", j ? ", " : "", p->sw.params[i].values[j]);
        fprintf(f, "}");
    }
    fprintf(f, ".\n\n");
}

static void md_row(FILE *f, const struct plan_result *r, size_t rank)
{
    char label[512], rate[64], ttft[64], tpot[64], att[64];

    sweep_params_label(r->params, label_skip, label, sizeof(label));
    fmt_status(rate, sizeof(rate), r);
    fmt_ci(ttft, sizeof(ttft), &r->best.ttft, 1, "");
    fmt_ci(tpot, sizeof(tpot), &r->best.tpot, 1, "");
    fmt_ci(att, sizeof(att), &r->best.attain, 100, "");
    fprintf(f, "| %zu | %s | %s | %d | %s | %s | %s | %s | ", rank, label,
            r->device, r->gpus_per_replica, rate, ttft, tpot, att);
    if (r->replicas > 0)
        fprintf(f, "%lld | %lld | ", (long long)r->replicas,
                (long long)r->gpus);
    else
        fprintf(f, "- | - | ");
    if (r->price_gpu_h > 0)
        fprintf(f, "%.2f | ", r->price_gpu_h);
    else
        fprintf(f, "unknown | ");
    if (r->replicas > 0 && r->price_gpu_h > 0)
        fprintf(f, "%.2f | ", r->cost_h);
    else
        fprintf(f, "- | ");
    fprintf(f, "%s |\n", r->note[0] ? r->note : "");
}

static void md_table(FILE *f, const struct plan_spec *p,
                     const struct plan_result *r, size_t n)
{
    size_t i;
    int pct = p->slo.percentile;

    fprintf(f, "## Ranking\n\nCheapest first.  \"max load\" is the highest "
            "offered load (req/s, mean over seeds) at which one replica met "
            "every SLO; the latency columns are at that load (mean +- the "
            "%g%% interval's half-width); \"next rate fails on\" is the SLO "
            "that failed at the lowest failing rate.\n\n"
            "| rank | candidate | device | GPUs per replica | max load "
            "(req/s) | TTFT p%d (ms) | TPOT p%d (ms) | attainment (%%) | "
            "replicas | GPUs | USD per GPU-hour | USD per hour | next rate "
            "fails on |\n|---|---|---|---|---|---|---|---|---|---|---|---|"
            "---|\n", 100 * p->sw.confidence, pct, pct);
    for (i = 0; i < n; i++)
        md_row(f, &r[i], i + 1);
    fprintf(f, "\n");
}

static void md_method(FILE *f, const struct plan_spec *p)
{
    fprintf(f, "## Method\n\nEach candidate is one replica (hardware.num_gpus "
        "= the GPUs of one replica).  The search runs the workload at "
        "`workload.rate_scale` = %g, doubles (or halves) it until the "
        "verdict changes (within [%g, %g]), then bisects until the bracket is "
        "within %g%% (at most %d rates).  A rate passes when, for every SLO, "
        "the one-sided %g%% Student t bound of the mean over the seeds meets "
        "it (upper bound for latency percentiles, lower bound for the "
        "attainment); with one seed the bound is the value itself.  "
        "Replicas = ceil(target / max load); cost = replicas x GPUs per "
        "replica x USD per GPU-hour (the device catalog's "
        "price_per_hour_usd unless the plan's \"prices\" overrides it).  "
        "The search assumes that meeting the SLOs is monotone in the load, "
        "and the load is what the trace offers (finite: a queue that would "
        "grow without bound shows only as far as the trace lasts).  Every "
        "run is in plan.sqlite (tables points, metrics, aggregates).\n\n",
        p->search.start, p->search.min_scale, p->search.max_scale,
        100 * p->search.rel_tol, p->search.max_steps,
        100 * p->sw.confidence);
}

int plan_write_report(const struct plan_spec *p, const struct plan_result *r,
                      size_t n, const char *dir, const char *plots_rel,
                      const struct plot_list *plots, struct llm_diag *d)
{
    char *text = NULL;
    size_t len = 0, i;
    FILE *f = open_memstream(&text, &len);
    int rc;

    if (f == NULL)
        return diag_set(d, LLM_ENOMEM, "out of memory");
    fprintf(f, "# Capacity plan: %s\n\nWritten by `llmsim plan %s` "
            "(llmsim %s).\n\n", p->sw.name, p->sw.path, LLMSIM_VERSION);
    md_question(f, p);
    md_table(f, p, r, n);
    md_method(f, p);
    if (plots != NULL && plots->n > 0)
        fprintf(f, "## Figures\n\nOne line per candidate, against the "
                "offered load of every rate the search ran.\n\n");
    for (i = 0; plots != NULL && i < plots->n; i++)
        fprintf(f, "![%s](%s/%s.png)\n\n", plots->title[i], plots_rel,
                plots->name[i]);
    if (fclose(f) != 0 || text == NULL) {
        free(text);
        return diag_set(d, LLM_ENOMEM, "out of memory");
    }
    rc = store_write_file(dir, "report.md", text, d);
    free(text);
    return rc;
}
