#include "analysis/summary.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_sort.h>
#include <gsl/gsl_statistics_double.h>

#include "analysis/column.h"

/* Radix sort of doubles: 6 passes of 11 bits over keys that order as
 * the doubles do (IEEE-754 bits, negatives flipped, positives with the
 * sign bit set).  The passes go back and forth between a scratch array
 * and v's own storage, which holds keys in between (copied as bytes:
 * memcpy).  Short columns go to gsl_sort, as does any column when the
 * scratch cannot be had: the sorted array is the same either way. */
#define SORT_BITS 11
#define SORT_BUCKETS (1 << SORT_BITS)
#define SORT_PASSES 6
#define SORT_MIN 256

static uint64_t sort_key(double x)
{
    uint64_t u;

    memcpy(&u, &x, sizeof(u));
    return u >> 63 ? ~u : u | UINT64_C(1) << 63;
}

static double key_value(uint64_t k)
{
    uint64_t u = k >> 63 ? k & ~(UINT64_C(1) << 63) : ~k;
    double x;

    memcpy(&x, &u, sizeof(x));
    return x;
}

/* Histogram counts to bucket offsets. */
static void offsets(size_t *cnt)
{
    size_t i, sum = 0, c;

    for (i = 0; i < SORT_BUCKETS; i++) {
        c = cnt[i];
        cnt[i] = sum;
        sum += c;
    }
}

/* One stable pass by the digit at shift: from the scratch into v's
 * storage (to_v), or back. */
static void sort_pass(uint64_t *tmp, double *v, size_t n, size_t *cnt,
                      unsigned shift, bool to_v)
{
    size_t i;
    uint64_t k;

    offsets(cnt);
    for (i = 0; i < n; i++) {
        if (to_v) {
            k = tmp[i];
            memcpy(&v[cnt[(k >> shift) & (SORT_BUCKETS - 1)]++], &k,
                   sizeof(k));
        } else {
            memcpy(&k, &v[i], sizeof(k));
            tmp[cnt[(k >> shift) & (SORT_BUCKETS - 1)]++] = k;
        }
    }
}

void summary_sort(double *v, size_t n)
{
    size_t (*cnt)[SORT_BUCKETS] = NULL, i;
    uint64_t *tmp = NULL, k;
    bool in_tmp = true;
    int p;

    if (n >= SORT_MIN) {
        tmp = malloc(n * sizeof(*tmp));
        cnt = calloc(SORT_PASSES, sizeof(*cnt));
    }
    if (tmp == NULL || cnt == NULL) {
        free(tmp);
        free(cnt);
        gsl_sort(v, 1, n);
        return;
    }
    for (i = 0; i < n; i++) {
        tmp[i] = k = sort_key(v[i]);
        for (p = 0; p < SORT_PASSES; p++)
            cnt[p][(k >> (p * SORT_BITS)) & (SORT_BUCKETS - 1)]++;
    }
    for (p = 0; p < SORT_PASSES; p++) {
        unsigned shift = (unsigned)(p * SORT_BITS);
        /* A digit every key shares moves nothing. */
        if (cnt[p][(tmp[0] >> shift) & (SORT_BUCKETS - 1)] == n)
            continue;
        sort_pass(tmp, v, n, cnt[p], shift, in_tmp);
        in_tmp = !in_tmp;
    }
    for (i = 0; i < n; i++) {
        if (in_tmp)
            k = tmp[i];
        else
            memcpy(&k, &v[i], sizeof(k));
        v[i] = key_value(k);
    }
    free(tmp);
    free(cnt);
}

/* {"mean", "p50", "p90", "p95", "p99", "max"} of v (sorted here). */
static cJSON *dist(double *v, size_t n)
{
    static const struct { const char *name; double q; } qs[] = {
        { "p50", 0.50 }, { "p90", 0.90 }, { "p95", 0.95 }, { "p99", 0.99 },
    };
    cJSON *o = cJSON_CreateObject();
    size_t i;

    if (o == NULL)
        return NULL;
    if (n == 0) {
        cJSON_AddNullToObject(o, "mean");
        return o;
    }
    summary_sort(v, n);
    cJSON_AddNumberToObject(o, "mean", gsl_stats_mean(v, 1, n));
    for (i = 0; i < sizeof(qs) / sizeof(qs[0]); i++)
        cJSON_AddNumberToObject(o, qs[i].name,
            gsl_stats_quantile_from_sorted_data(v, 1, n, qs[i].q));
    cJSON_AddNumberToObject(o, "max", v[n - 1]);
    return o;
}

void summary_reqs_init(struct summary_reqs *a)
{
    memset(a, 0, sizeof(*a));
    a->t0 = INT64_MAX;
    a->t1 = INT64_MIN;
}

void summary_reqs_free(struct summary_reqs *a)
{
    free(a->ok);
    free(a->rejected);
    summary_reqs_init(a);
}

static int grow(void **arr, size_t *cap, size_t n, size_t elem)
{
    size_t ncap = *cap ? *cap * 2 : 1024;
    void *nv;

    if (n < *cap)
        return LLM_OK;
    nv = realloc(*arr, ncap * elem);
    if (nv == NULL)
        return LLM_ENOMEM;
    *arr = nv;
    *cap = ncap;
    return LLM_OK;
}

int summary_reqs_add(struct summary_reqs *a, const struct store_row *r)
{
    if (r->rejected) {
        if (grow((void **)&a->rejected, &a->cap_rejected, a->n_rejected,
                 sizeof(*a->rejected)) != LLM_OK)
            return LLM_ENOMEM;
        a->rejected[a->n_rejected++] = (struct summary_rejected){
            a->n_ok, r->replica };
    } else {
        if (grow((void **)&a->ok, &a->cap_ok, a->n_ok, sizeof(*a->ok)) !=
            LLM_OK)
            return LLM_ENOMEM;
        a->ok[a->n_ok++] = (struct summary_req){
            .ttft_ns = r->first_token_ns - r->arrival_ns,
            .e2e_ns = r->finish_ns - r->arrival_ns,
            .output_tokens = r->output_tokens,
            .prompt_tokens = r->prompt_tokens,
            .preemptions = r->preemptions, .replica = r->replica,
            .gap_ema_max_ns = r->gap_ema_max_ns };
        if (r->finish_ns > a->t1)
            a->t1 = r->finish_ns;
    }
    if (r->arrival_ns < a->t0)
        a->t0 = r->arrival_ns;
    return LLM_OK;
}

int summary_reqs_read(sqlite3 *db, struct summary_reqs *a,
                      struct llm_diag *d)
{
    sqlite3_stmt *st;
    int rc = LLM_OK;

    if (sqlite3_prepare_v2(db, "SELECT arrival_ns, first_token_ns, "
            "finish_ns, prompt_tokens, output_tokens, preemptions, replica, "
            "status, gap_ema_max_ns FROM requests ORDER BY id", -1, &st,
            NULL) != SQLITE_OK)
        return diag_set(d, LLM_EIO, "results: %s", sqlite3_errmsg(db));
    while (rc == LLM_OK && sqlite3_step(st) == SQLITE_ROW) {
        const char *status = (const char *)sqlite3_column_text(st, 7);
        struct store_row r = {
            .arrival_ns = sqlite3_column_int64(st, 0),
            .first_token_ns = sqlite3_column_int64(st, 1),
            .finish_ns = sqlite3_column_int64(st, 2),
            .prompt_tokens = (int32_t)sqlite3_column_int64(st, 3),
            .output_tokens = (int32_t)sqlite3_column_int64(st, 4),
            .preemptions = (int32_t)sqlite3_column_int64(st, 5),
            .replica = sqlite3_column_int(st, 6),
            .rejected = status == NULL || strcmp(status, "ok") != 0,
            .gap_ema_max_ns = sqlite3_column_int64(st, 8) };
        rc = summary_reqs_add(a, &r);
    }
    sqlite3_finalize(st);
    return rc ? diag_set(d, LLM_ENOMEM, "out of memory") : LLM_OK;
}

/* The k-th (0-based) order statistic of run-length encoded sorted data:
 * the first value whose cumulative count exceeds k. */
static double order_stat(const struct column *val, const struct column *cum,
                         double k)
{
    size_t i;

    for (i = 0; i + 1 < val->n && cum->v[i] <= k; i++)
        ;
    return val->v[i];
}

/* ITL percentiles over the weighted (gap, count) rows, interpolated
 * between order statistics exactly as for the per-request columns. */
static cJSON *itl_dist(sqlite3 *db)
{
    static const struct { const char *name; double q; } qs[] = {
        { "p50", 0.50 }, { "p90", 0.90 }, { "p95", 0.95 }, { "p99", 0.99 },
    };
    sqlite3_stmt *st;
    struct column gap = { 0 }, cum = { 0 };
    double total = 0, sum = 0;
    cJSON *o = cJSON_CreateObject();
    size_t i;

    if (o == NULL || sqlite3_prepare_v2(db, "SELECT gap_ns, SUM(count) FROM "
            "itl GROUP BY gap_ns ORDER BY gap_ns", -1, &st, NULL))
        return o;
    while (sqlite3_step(st) == SQLITE_ROW) {
        double g = (double)sqlite3_column_int64(st, 0) / 1e6;
        double n = (double)sqlite3_column_int64(st, 1);
        total += n;
        sum += g * n;
        if (column_push(&gap, g) || column_push(&cum, total))
            break;
    }
    sqlite3_finalize(st);
    if (gap.n == 0) {
        cJSON_AddNullToObject(o, "mean");
    } else {
        cJSON_AddNumberToObject(o, "mean", sum / total);
        for (i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
            double rank = qs[i].q * (total - 1);
            double lo = order_stat(&gap, &cum, floor(rank));
            double hi = order_stat(&gap, &cum, floor(rank) + 1);
            cJSON_AddNumberToObject(o, qs[i].name,
                                    lo + (hi - lo) * (rank - floor(rank)));
        }
        cJSON_AddNumberToObject(o, "max", gap.v[gap.n - 1]);
    }
    free(gap.v);
    free(cum.v);
    return o;
}

/* Time-weighted means and maxima over iterations. */
static void iter_stats(sqlite3 *db, int64_t kv_cap, cJSON *o)
{
    sqlite3_stmt *st;
    double w = 0, kv = 0, q = 0, kvmax = 0, qmax = 0, run = 0;
    int64_t n = 0;

    if (sqlite3_prepare_v2(db, "SELECT end_ns - start_ns, kv_blocks_used, "
            "waiting, running FROM iterations", -1, &st, NULL))
        return;
    while (sqlite3_step(st) == SQLITE_ROW) {
        double dt = (double)sqlite3_column_int64(st, 0);
        double k = (double)sqlite3_column_int64(st, 1);
        double wq = (double)sqlite3_column_int64(st, 2);
        w += dt;
        kv += dt * k;
        q += dt * wq;
        run += dt * (double)sqlite3_column_int64(st, 3);
        kvmax = k > kvmax ? k : kvmax;
        qmax = wq > qmax ? wq : qmax;
        n++;
    }
    sqlite3_finalize(st);
    cJSON_AddNumberToObject(o, "iterations", (double)n);
    cJSON_AddNumberToObject(o, "kv_util_mean",
                            w > 0 && kv_cap > 0 ? kv / w / kv_cap : 0);
    cJSON_AddNumberToObject(o, "kv_util_max", kv_cap > 0 ? kvmax / kv_cap : 0);
    cJSON_AddNumberToObject(o, "queue_len_mean", w > 0 ? q / w : 0);
    cJSON_AddNumberToObject(o, "queue_len_max", qmax);
    cJSON_AddNumberToObject(o, "batch_size_mean", w > 0 ? run / w : 0);
}

/* Totals of the completed requests, and how many met both SLOs. */
struct req_totals {
    int64_t in_tokens, out_tokens, preemptions, good;
};

/* Whether q meets every SLO (struct summary_slo). */
static bool meets_slo(const struct summary_req *q,
                      const struct summary_slo *slo)
{
    double ttft = (double)q->ttft_ns / 1e6, tpot = 0;

    if (q->output_tokens > 1)
        tpot = ((double)q->e2e_ns / 1e6 - ttft) /
               (double)(q->output_tokens - 1);
    if (ttft > slo->ttft_ms + slo->ttft_ms_per_prompt_token *
                              (double)q->prompt_tokens || tpot > slo->tpot_ms)
        return false;
    return slo->tbt_ema_ms <= 0 || q->output_tokens <= 1 ||
           (double)q->gap_ema_max_ns / 1e6 < slo->tbt_ema_ms;
}

static void totals(const struct summary_reqs *a, const struct summary_slo *slo,
                   struct req_totals *t)
{
    size_t i;

    for (i = 0; i < a->n_ok; i++) {
        const struct summary_req *q = &a->ok[i];
        t->in_tokens += q->prompt_tokens;
        t->out_tokens += q->output_tokens;
        t->preemptions += q->preemptions;
        if (meets_slo(q, slo))
            t->good++;
    }
}

enum req_fig { FIG_TTFT, FIG_TPOT, FIG_E2E, FIG_NORM };

/* One figure of every completed request (TPOT: of those with more than
 * one output token) into v; returns how many. */
static size_t figure(const struct summary_reqs *a, enum req_fig f, double *v)
{
    size_t i, n = 0;

    for (i = 0; i < a->n_ok; i++) {
        const struct summary_req *q = &a->ok[i];
        double ttft = (double)q->ttft_ns / 1e6;
        double e2e = (double)q->e2e_ns / 1e6;
        switch (f) {
        case FIG_TTFT: v[n++] = ttft; break;
        case FIG_E2E: v[n++] = e2e; break;
        case FIG_NORM: v[n++] = e2e / (double)q->output_tokens; break;
        case FIG_TPOT:
            if (q->output_tokens > 1)
                v[n++] = (e2e - ttft) / (double)(q->output_tokens - 1);
            break;
        }
    }
    return n;
}

/* dist() of one figure, in a column of its own (scratch: n_ok doubles). */
static cJSON *fig_dist(const struct summary_reqs *a, enum req_fig f,
                       double *scratch)
{
    return dist(scratch, figure(a, f, scratch));
}

int summary_build(sqlite3 *db, const struct summary_slo *slo,
                  int64_t kv_capacity_blocks, cJSON **out,
                  struct llm_diag *d)
{
    struct summary_reqs a;
    int rc;

    summary_reqs_init(&a);
    rc = summary_reqs_read(db, &a, d);
    if (rc == LLM_OK)
        rc = summary_build_reqs(db, &a, slo, kv_capacity_blocks, out, d);
    summary_reqs_free(&a);
    return rc;
}

int summary_build_reqs(sqlite3 *db, const struct summary_reqs *a,
                       const struct summary_slo *slo,
                       int64_t kv_capacity_blocks, cJSON **out,
                       struct llm_diag *d)
{
    struct req_totals t = { 0 };
    int64_t ok = (int64_t)a->n_ok;
    double *col = malloc((a->n_ok ? a->n_ok : 1) * sizeof(*col));
    cJSON *o = cJSON_CreateObject();
    double dur;

    if (o == NULL || col == NULL) {
        cJSON_Delete(o);
        free(col);
        return diag_set(d, LLM_ENOMEM, "out of memory");
    }
    totals(a, slo, &t);
    dur = ok > 0 && a->t1 > a->t0 ? (double)(a->t1 - a->t0) / 1e9 : 0;
    cJSON_AddNumberToObject(o, "requests_completed", (double)ok);
    cJSON_AddNumberToObject(o, "requests_rejected", (double)a->n_rejected);
    cJSON_AddNumberToObject(o, "duration_s", dur);
    cJSON_AddNumberToObject(o, "prompt_tokens", (double)t.in_tokens);
    cJSON_AddNumberToObject(o, "output_tokens", (double)t.out_tokens);
    cJSON_AddNumberToObject(o, "throughput_req_s", dur ? ok / dur : 0);
    cJSON_AddNumberToObject(o, "throughput_out_tok_s",
                            dur ? t.out_tokens / dur : 0);
    cJSON_AddNumberToObject(o, "throughput_tok_s",
                            dur ? (t.in_tokens + t.out_tokens) / dur : 0);
    cJSON_AddNumberToObject(o, "goodput_req_s", dur ? t.good / dur : 0);
    cJSON_AddNumberToObject(o, "slo_attainment",
                            ok ? (double)t.good / ok : 0);
    cJSON_AddNumberToObject(o, "preemptions", (double)t.preemptions);
    cJSON_AddItemToObject(o, "ttft_ms", fig_dist(a, FIG_TTFT, col));
    cJSON_AddItemToObject(o, "tpot_ms", fig_dist(a, FIG_TPOT, col));
    cJSON_AddItemToObject(o, "itl_ms", itl_dist(db));
    cJSON_AddItemToObject(o, "e2e_ms", fig_dist(a, FIG_E2E, col));
    cJSON_AddItemToObject(o, "norm_latency_ms_per_tok",
                          fig_dist(a, FIG_NORM, col));
    iter_stats(db, kv_capacity_blocks, o);
    free(col);
    *out = o;
    return LLM_OK;
}

static int put(sqlite3_stmt *st, const char *name, double v)
{
    sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_double(st, 2, v);
    if (sqlite3_step(st) != SQLITE_DONE)
        return LLM_EIO;
    sqlite3_reset(st);
    return LLM_OK;
}

int summary_to_metrics(sqlite3 *db, const cJSON *summary, struct llm_diag *d)
{
    sqlite3_stmt *st;
    const cJSON *it, *sub;
    char name[128];
    int rc = LLM_OK;

    if (sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO metrics VALUES (?,?)",
                           -1, &st, NULL) != SQLITE_OK)
        return diag_set(d, LLM_EIO, "results: %s", sqlite3_errmsg(db));
    cJSON_ArrayForEach(it, summary) {
        if (cJSON_IsNumber(it))
            rc |= put(st, it->string, it->valuedouble);
        if (!cJSON_IsObject(it))
            continue;
        cJSON_ArrayForEach(sub, it) {
            if (!cJSON_IsNumber(sub))
                continue;
            snprintf(name, sizeof(name), "%s.%s", it->string, sub->string);
            rc |= put(st, name, sub->valuedouble);
        }
    }
    sqlite3_finalize(st);
    return rc ? diag_set(d, LLM_EIO, "results: cannot write metrics") : 0;
}
