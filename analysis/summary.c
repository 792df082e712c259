#include "analysis/summary.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_sort.h>
#include <gsl/gsl_statistics_double.h>

#include "analysis/column.h"

/* {"mean", "p50", "p90", "p95", "p99", "max"} of a column (sorted here). */
static cJSON *dist(struct column *c)
{
    static const struct { const char *name; double q; } qs[] = {
        { "p50", 0.50 }, { "p90", 0.90 }, { "p95", 0.95 }, { "p99", 0.99 },
    };
    cJSON *o = cJSON_CreateObject();
    size_t i;

    if (o == NULL)
        return NULL;
    if (c->n == 0) {
        cJSON_AddNullToObject(o, "mean");
        return o;
    }
    gsl_sort(c->v, 1, c->n);
    cJSON_AddNumberToObject(o, "mean", gsl_stats_mean(c->v, 1, c->n));
    for (i = 0; i < sizeof(qs) / sizeof(qs[0]); i++)
        cJSON_AddNumberToObject(o, qs[i].name,
            gsl_stats_quantile_from_sorted_data(c->v, 1, c->n, qs[i].q));
    cJSON_AddNumberToObject(o, "max", c->v[c->n - 1]);
    return o;
}

struct req_cols {
    struct column ttft, tpot, e2e, norm;
    int64_t ok, rejected, good, out_tokens, in_tokens, preemptions;
    int64_t t0, t1;
};

static int read_requests(sqlite3 *db, const struct summary_slo *slo,
                         struct req_cols *c, struct llm_diag *d)
{
    sqlite3_stmt *st;
    int rc = LLM_OK, s;

    if (sqlite3_prepare_v2(db, "SELECT arrival_ns, first_token_ns, "
            "finish_ns, prompt_tokens, output_tokens, preemptions, status "
            "FROM requests ORDER BY id", -1, &st, NULL) != SQLITE_OK)
        return diag_set(d, LLM_EIO, "results: %s", sqlite3_errmsg(db));
    c->t0 = INT64_MAX;
    c->t1 = INT64_MIN;
    while (rc == LLM_OK && (s = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t arr = sqlite3_column_int64(st, 0);
        int64_t ft = sqlite3_column_int64(st, 1);
        int64_t fin = sqlite3_column_int64(st, 2);
        int64_t out = sqlite3_column_int64(st, 4);
        double ttft, e2e, tpot = 0;
        if (arr < c->t0)
            c->t0 = arr;
        if (strcmp((const char *)sqlite3_column_text(st, 6), "ok") != 0) {
            c->rejected++;
            continue;
        }
        if (fin > c->t1)
            c->t1 = fin;
        ttft = (double)(ft - arr) / 1e6;
        e2e = (double)(fin - arr) / 1e6;
        c->ok++;
        c->in_tokens += sqlite3_column_int64(st, 3);
        c->out_tokens += out;
        c->preemptions += sqlite3_column_int64(st, 5);
        rc = column_push(&c->ttft, ttft) | column_push(&c->e2e, e2e) |
             column_push(&c->norm, e2e / (double)out);
        if (out > 1) {
            tpot = (e2e - ttft) / (double)(out - 1);
            rc |= column_push(&c->tpot, tpot);
        }
        if (ttft <= slo->ttft_ms && tpot <= slo->tpot_ms)
            c->good++;
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

int summary_build(sqlite3 *db, const struct summary_slo *slo,
                  int64_t kv_capacity_blocks, cJSON **out,
                  struct llm_diag *d)
{
    struct req_cols c = { 0 };
    cJSON *o = cJSON_CreateObject();
    double dur;
    int rc = o ? read_requests(db, slo, &c, d)
               : diag_set(d, LLM_ENOMEM, "out of memory");

    if (rc == LLM_OK) {
        dur = c.ok > 0 && c.t1 > c.t0 ? (double)(c.t1 - c.t0) / 1e9 : 0;
        cJSON_AddNumberToObject(o, "requests_completed", (double)c.ok);
        cJSON_AddNumberToObject(o, "requests_rejected", (double)c.rejected);
        cJSON_AddNumberToObject(o, "duration_s", dur);
        cJSON_AddNumberToObject(o, "prompt_tokens", (double)c.in_tokens);
        cJSON_AddNumberToObject(o, "output_tokens", (double)c.out_tokens);
        cJSON_AddNumberToObject(o, "throughput_req_s", dur ? c.ok / dur : 0);
        cJSON_AddNumberToObject(o, "throughput_out_tok_s",
                                dur ? c.out_tokens / dur : 0);
        cJSON_AddNumberToObject(o, "throughput_tok_s",
                                dur ? (c.in_tokens + c.out_tokens) / dur : 0);
        cJSON_AddNumberToObject(o, "goodput_req_s", dur ? c.good / dur : 0);
        cJSON_AddNumberToObject(o, "slo_attainment",
                                c.ok ? (double)c.good / c.ok : 0);
        cJSON_AddNumberToObject(o, "preemptions", (double)c.preemptions);
        cJSON_AddItemToObject(o, "ttft_ms", dist(&c.ttft));
        cJSON_AddItemToObject(o, "tpot_ms", dist(&c.tpot));
        cJSON_AddItemToObject(o, "itl_ms", itl_dist(db));
        cJSON_AddItemToObject(o, "e2e_ms", dist(&c.e2e));
        cJSON_AddItemToObject(o, "norm_latency_ms_per_tok", dist(&c.norm));
        iter_stats(db, kv_capacity_blocks, o);
        *out = o;
    } else {
        cJSON_Delete(o);
    }
    free(c.ttft.v);
    free(c.tpot.v);
    free(c.e2e.v);
    free(c.norm.v);
    return rc;
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
