#include "analysis/vllm.h"

#include "analysis/metrics.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <gsl/gsl_statistics_double.h>

enum vllm_fig { VF_TTFT, VF_TPOT, VF_E2E };

/* One figure of a completed request in ms; false when it has none (TPOT
 * of a one-token request). */
static bool fig_of(const struct summary_req *q, enum vllm_fig f, double *ms)
{
    double ttft = (double)q->ttft_ns / 1e6, e2e = (double)q->e2e_ns / 1e6;

    switch (f) {
    case VF_TTFT: *ms = ttft; return true;
    case VF_E2E: *ms = e2e; return true;
    default:
        return metric_tpot_ms(q->ttft_ns, q->e2e_ns, q->output_tokens, ms);
    }
}

bool vllm_meets(const struct summary_req *q, const struct vllm_slo *slo)
{
    double ttft, e2e, tpot = 0;        /* vLLM: one token, TPOT 0 */

    fig_of(q, VF_TTFT, &ttft);
    fig_of(q, VF_E2E, &e2e);
    fig_of(q, VF_TPOT, &tpot);
    return (slo->ttft_ms < 0 || ttft <= slo->ttft_ms) &&
           (slo->tpot_ms < 0 || tpot <= slo->tpot_ms) &&
           (slo->e2e_ms < 0 || e2e <= slo->e2e_ms);
}

/* np.std from GSL's running statistics of a sketched run (sample
 * standard deviation rescaled to the population's). */
static double rstat_std(const struct summary_reqs *a, enum vllm_fig f)
{
    static const int fig[] = { SUMMARY_TTFT, SUMMARY_TPOT, SUMMARY_E2E };
    gsl_rstat_workspace *w = a->rstat[fig[f]];
    double n = w ? (double)gsl_rstat_n(w) : 0;

    return n > 1 ? gsl_rstat_sd(w) * sqrt((n - 1) / n) : 0;
}

/* Population standard deviation of one figure (numpy's np.std); 0 with
 * no sample.  -1: out of memory. */
static double fig_std(const struct summary_reqs *a, enum vllm_fig f)
{
    double *v, sd = 0;
    size_t i, n = 0;

    if (a->sketched)
        return rstat_std(a, f);
    v = malloc((a->n_ok ? a->n_ok : 1) * sizeof(*v));
    if (v == NULL)
        return -1;
    for (i = 0; i < a->n_ok; i++)
        n += fig_of(&a->ok[i], f, &v[n]);
    if (n > 0)
        sd = gsl_stats_sd_with_fixed_mean(v, 1, n, gsl_stats_mean(v, 1, n));
    free(v);
    return sd;
}

/* np.std over the pooled inter-token gaps of the itl table (counts per
 * gap, the same table the summary's ITL percentiles come from), in *sd;
 * a read that fails before the end is LLM_EIO (issue 19), not a smaller
 * figure. */
static int itl_std(sqlite3 *db, double *sd, struct llm_diag *d)
{
    double n = 0, s1 = 0, s2 = 0, mean;
    sqlite3_stmt *st;
    int step;

    *sd = 0;
    if (sqlite3_prepare_v2(db, "SELECT gap_ns, SUM(count) FROM itl GROUP BY "
                           "gap_ns", -1, &st, NULL) != SQLITE_OK)
        return diag_set(d, LLM_EIO, "results: %s", sqlite3_errmsg(db));
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        double g = (double)sqlite3_column_int64(st, 0) / 1e6;
        double c = (double)sqlite3_column_int64(st, 1);
        n += c;
        s1 += c * g;
        s2 += c * g * g;
    }
    sqlite3_finalize(st);
    if (step != SQLITE_DONE)
        return diag_set(d, LLM_EIO, "results: itl: %s", sqlite3_errstr(step));
    if (n == 0)
        return LLM_OK;
    mean = s1 / n;
    *sd = sqrt(fmax(s2 / n - mean * mean, 0));
    return LLM_OK;
}

static int cmp_i64(const void *x, const void *y)
{
    int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;

    return (a > b) - (a < b);
}

/* vLLM's peak concurrency: a sweep over the completed requests' half-open
 * [arrival, finish) intervals, departures first at equal times. */
static int max_concurrency(sqlite3 *db, int64_t *peak, struct llm_diag *d)
{
    int64_t *arr = NULL, *fin = NULL, cur = 0, cap = 0, n = 0, i = 0, j = 0;
    sqlite3_stmt *st;
    int rc = LLM_OK, step = SQLITE_DONE;

    *peak = 0;
    if (sqlite3_prepare_v2(db, "SELECT arrival_ns, finish_ns FROM requests "
                           "WHERE status = 'ok'", -1, &st, NULL) != SQLITE_OK)
        return diag_set(d, LLM_EIO, "results: %s", sqlite3_errmsg(db));
    while (rc == LLM_OK && (step = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == cap) {
            int64_t *a2, *f2;
            cap = cap ? 2 * cap : 1024;
            a2 = realloc(arr, (size_t)cap * sizeof(*arr));
            f2 = a2 ? realloc(fin, (size_t)cap * sizeof(*fin)) : NULL;
            arr = a2 ? a2 : arr;
            fin = f2 ? f2 : fin;
            if (f2 == NULL)
                rc = diag_set(d, LLM_ENOMEM, "out of memory");
        }
        if (rc == LLM_OK) {
            arr[n] = sqlite3_column_int64(st, 0);
            fin[n++] = sqlite3_column_int64(st, 1);
        }
    }
    sqlite3_finalize(st);
    /* a read that stops early is an error, not a lower peak (issue 19) */
    if (rc == LLM_OK && step != SQLITE_DONE)
        rc = diag_set(d, LLM_EIO, "results: requests: %s",
                      sqlite3_errstr(step));
    if (rc == LLM_OK && n > 0) {
        qsort(arr, (size_t)n, sizeof(*arr), cmp_i64);
        qsort(fin, (size_t)n, sizeof(*fin), cmp_i64);
        while (i < n) {
            if (j < n && fin[j] <= arr[i]) {
                cur--, j++;
            } else {
                cur++, i++;
                *peak = cur > *peak ? cur : *peak;
            }
        }
    }
    free(arr);
    free(fin);
    return rc;
}

static double num(const cJSON *o, const char *a, const char *b)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, a);

    if (b != NULL)
        v = cJSON_GetObjectItemCaseSensitive(v, b);
    return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

/* mean_, median_, std_ and pNN_ of one metric, from the summary's key. */
static void add_metric(cJSON *o, const cJSON *s, const char *key,
                       const char *name, double sd)
{
    static const char *const ps[] = { "p50", "p90", "p95", "p99" };
    char k[64];
    size_t i;

    snprintf(k, sizeof(k), "mean_%s_ms", name);
    cJSON_AddNumberToObject(o, k, num(s, key, "mean"));
    snprintf(k, sizeof(k), "median_%s_ms", name);
    cJSON_AddNumberToObject(o, k, num(s, key, "p50"));
    snprintf(k, sizeof(k), "std_%s_ms", name);
    cJSON_AddNumberToObject(o, k, sd);
    for (i = 0; i < sizeof(ps) / sizeof(ps[0]); i++) {
        snprintf(k, sizeof(k), "%s_%s_ms", ps[i], name);
        cJSON_AddNumberToObject(o, k, num(s, key, ps[i]));
    }
}

/* The counts and rates of the result dict. */
static void add_totals(cJSON *o, const cJSON *s, int64_t good,
                       const struct vllm_slo *slo)
{
    double dur = num(s, "duration_s", NULL);
    bool any_slo = slo->ttft_ms >= 0 || slo->tpot_ms >= 0 ||
                   slo->e2e_ms >= 0;

    cJSON_AddNumberToObject(o, "duration", dur);
    cJSON_AddNumberToObject(o, "completed", num(s, "requests_completed",
                                                NULL));
    cJSON_AddNumberToObject(o, "failed", num(s, "requests_rejected", NULL));
    cJSON_AddNumberToObject(o, "total_input_tokens",
                            num(s, "prompt_tokens", NULL));
    cJSON_AddNumberToObject(o, "total_output_tokens",
                            num(s, "output_tokens", NULL));
    cJSON_AddNumberToObject(o, "request_throughput",
                            num(s, "throughput_req_s", NULL));
    if (any_slo)
        cJSON_AddNumberToObject(o, "request_goodput", dur > 0 ?
                                (double)good / dur : 0);
    else
        cJSON_AddNullToObject(o, "request_goodput");
    cJSON_AddNumberToObject(o, "output_throughput",
                            num(s, "throughput_out_tok_s", NULL));
    cJSON_AddNumberToObject(o, "total_token_throughput",
                            num(s, "throughput_tok_s", NULL));
}

int vllm_result(sqlite3 *db, const struct summary_reqs *a, int64_t good,
                const cJSON *summary, const struct vllm_slo *slo,
                const char *model_id, const char *label, cJSON **out,
                struct llm_diag *d)
{
    double sd_ttft = fig_std(a, VF_TTFT), sd_tpot = fig_std(a, VF_TPOT);
    double sd_e2e = fig_std(a, VF_E2E);
    cJSON *o = cJSON_CreateObject();
    double sd_itl = 0;
    int64_t peak = 0;
    int rc = o == NULL || sd_ttft < 0 || sd_tpot < 0 || sd_e2e < 0 ?
             diag_set(d, LLM_ENOMEM, "out of memory") :
             max_concurrency(db, &peak, d);

    if (rc == LLM_OK)
        rc = itl_std(db, &sd_itl, d);

    *out = NULL;
    if (rc != LLM_OK) {
        cJSON_Delete(o);
        return rc;
    }
    cJSON_AddStringToObject(o, "backend", "llmsim");
    cJSON_AddStringToObject(o, "label", label);
    cJSON_AddStringToObject(o, "model_id", model_id);
    cJSON_AddNumberToObject(o, "num_prompts",
                            num(summary, "requests_completed", NULL) +
                            num(summary, "requests_rejected", NULL));
    add_totals(o, summary, good, slo);
    cJSON_AddNumberToObject(o, "max_concurrent_requests", (double)peak);
    add_metric(o, summary, "ttft_ms", "ttft", sd_ttft);
    add_metric(o, summary, "tpot_ms", "tpot", sd_tpot);
    add_metric(o, summary, "itl_ms", "itl", sd_itl);
    add_metric(o, summary, "e2e_ms", "e2el", sd_e2e);
    *out = o;
    return LLM_OK;
}
