#include "analysis/replica_stats.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_statistics_double.h>


/* The columns of one replica, in the order of the table. */
static const char *const cols[] = { "replica", "requests_completed",
    "requests_rejected", "preemptions", "prompt_tokens", "output_tokens",
    "throughput_tok_s", "ttft_ms_p50", "ttft_ms_p99", "tpot_ms_p50",
    "tpot_ms_p99", "e2e_ms_p50", "e2e_ms_p99", "iterations", "busy_frac",
    "kv_util_mean", "queue_len_mean", NULL };

struct rep {
    int64_t ok, rejected, preemptions, in_tokens, out_tokens;
    struct summary_iter it;
};

enum rep_fig { FIG_TTFT, FIG_TPOT, FIG_E2E };

/* p50 and p99 (null when empty) of one figure of replica k's completed
 * requests (TPOT: of those with more than one output token): exactly, in
 * the column col (room for every completed request), or from the
 * replica's sketch once the run's requests are sketched. */
static void quantiles(cJSON *o, const char *p50, const char *p99,
                      const struct summary_reqs *a, int32_t k,
                      enum rep_fig f, double *col)
{
    size_t i, n = 0;

    if (a->sketched) {
        const struct qsketch *s = k < a->n_rep ? &a->rep[k].fig[f] : NULL;
        if (s == NULL || s->count == 0) {
            cJSON_AddNullToObject(o, p50);
            cJSON_AddNullToObject(o, p99);
        } else {
            cJSON_AddNumberToObject(o, p50, qsketch_quantile(s, 0.50));
            cJSON_AddNumberToObject(o, p99, qsketch_quantile(s, 0.99));
        }
        return;
    }
    for (i = 0; i < a->n_ok; i++) {
        const struct summary_req *q = &a->ok[i];
        if (q->replica != k)
            continue;
        if (f == FIG_TTFT)
            col[n++] = (double)q->ttft_ns / 1e6;
        else if (f == FIG_E2E)
            col[n++] = (double)q->e2e_ns / 1e6;
        else if (q->output_tokens > 1)
            col[n++] = (double)(q->e2e_ns - q->ttft_ns) / 1e6 /
                       (double)(q->output_tokens - 1);
    }
    if (n == 0) {
        cJSON_AddNullToObject(o, p50);
        cJSON_AddNullToObject(o, p99);
        return;
    }
    summary_sort(col, n);
    cJSON_AddNumberToObject(o, p50,
                            gsl_stats_quantile_from_sorted_data(col, 1, n,
                                                                0.50));
    cJSON_AddNumberToObject(o, p99,
                            gsl_stats_quantile_from_sorted_data(col, 1, n,
                                                                0.99));
}

static int sql_err(sqlite3 *db, struct llm_diag *d)
{
    return diag_set(d, LLM_EIO, "results: %s", sqlite3_errmsg(db));
}

/* Counts of each replica's requests; a request of a replica the run
 * does not have is an error naming the first such row. */
static int tally(const struct summary_reqs *a, struct rep *reps, int32_t n,
                 struct llm_diag *d)
{
    int64_t first = a->bad_row;
    int32_t k, bad = a->bad_replica;

    for (k = n > 0 ? n : 0; k < a->n_rep; k++) {
        int64_t f = a->rep[k].first_row;
        if (f >= 0 && (first < 0 || f < first)) {
            first = f;
            bad = k;
        }
    }
    if (first >= 0)
        return diag_set(d, LLM_EINVAL, "results: request of replica %d in a "
                        "run of %d replicas", bad, n);
    for (k = 0; k < n && k < a->n_rep; k++) {
        const struct summary_rep *r = &a->rep[k];
        reps[k] = (struct rep){ .ok = r->ok, .rejected = r->rejected,
            .preemptions = r->preemptions, .in_tokens = r->in_tokens,
            .out_tokens = r->out_tokens };
    }
    return LLM_OK;
}

/* Time-weighted sums over replica i's iterations (zeros: none). */
static struct summary_iter iters_of(const struct summary_iters *t,
                                    int32_t i)
{
    return i < t->n_rep ? t->rep[i] : (struct summary_iter){ 0 };
}

static cJSON *row(int32_t i, const struct rep *r,
                  const struct summary_reqs *a, double *col, double dur_ns,
                  int64_t kv_cap)
{
    cJSON *o = cJSON_CreateObject();

    if (o == NULL)
        return NULL;
    cJSON_AddNumberToObject(o, "replica", i);
    cJSON_AddNumberToObject(o, "requests_completed", (double)r->ok);
    cJSON_AddNumberToObject(o, "requests_rejected", (double)r->rejected);
    cJSON_AddNumberToObject(o, "preemptions", (double)r->preemptions);
    cJSON_AddNumberToObject(o, "prompt_tokens", (double)r->in_tokens);
    cJSON_AddNumberToObject(o, "output_tokens", (double)r->out_tokens);
    cJSON_AddNumberToObject(o, "throughput_tok_s", dur_ns > 0 ?
        (double)(r->in_tokens + r->out_tokens) / dur_ns * 1e9 : 0);
    quantiles(o, "ttft_ms_p50", "ttft_ms_p99", a, i, FIG_TTFT, col);
    quantiles(o, "tpot_ms_p50", "tpot_ms_p99", a, i, FIG_TPOT, col);
    quantiles(o, "e2e_ms_p50", "e2e_ms_p99", a, i, FIG_E2E, col);
    cJSON_AddNumberToObject(o, "iterations", (double)r->it.n);
    cJSON_AddNumberToObject(o, "busy_frac", dur_ns > 0 ?
                            r->it.busy_ns / dur_ns : 0);
    cJSON_AddNumberToObject(o, "kv_util_mean",
                            r->it.busy_ns > 0 && kv_cap > 0 ?
                            r->it.kv_ns / r->it.busy_ns / (double)kv_cap : 0);
    cJSON_AddNumberToObject(o, "queue_len_mean", r->it.busy_ns > 0 ?
                            r->it.queue_ns / r->it.busy_ns : 0);
    return o;
}

int replica_stats_build(sqlite3 *db, int32_t n_replicas,
                        int64_t kv_capacity_blocks, cJSON **out,
                        struct llm_diag *d)
{
    struct summary_reqs a;
    int rc;

    summary_reqs_init(&a, NULL);
    *out = NULL;
    rc = summary_reqs_read(db, &a, d);
    if (rc == LLM_OK)
        rc = replica_stats_build_reqs(db, &a, NULL, n_replicas,
                                      kv_capacity_blocks, out, d);
    summary_reqs_free(&a);
    return rc;
}

int replica_stats_build_reqs(sqlite3 *db, const struct summary_reqs *a,
                             const struct summary_iters *iters,
                             int32_t n_replicas, int64_t kv_capacity_blocks,
                             cJSON **out, struct llm_diag *d)
{
    struct summary_iters own;
    struct rep *reps = calloc((size_t)(n_replicas > 0 ? n_replicas : 1),
                              sizeof(*reps));
    double *col = malloc((a->sketched || a->n_ok == 0 ? 1 : a->n_ok) *
                         sizeof(*col));
    cJSON *arr = cJSON_CreateArray();
    double dur = a->t1 > a->t0 ? (double)(a->t1 - a->t0) : 0;
    int32_t i;
    int rc = reps && col && arr ? LLM_OK
                                : diag_set(d, LLM_ENOMEM, "out of memory");

    summary_iters_init(&own);
    if (rc == LLM_OK)
        rc = tally(a, reps, n_replicas, d);
    if (rc == LLM_OK && iters == NULL) {
        rc = summary_iters_read(db, &own, d);
        iters = &own;
    }
    for (i = 0; rc == LLM_OK && i < n_replicas; i++)
        reps[i].it = iters_of(iters, i);
    summary_iters_free(&own);
    for (i = 0; rc == LLM_OK && i < n_replicas; i++) {
        cJSON *o = row(i, &reps[i], a, col, dur, kv_capacity_blocks);
        if (o == NULL)
            rc = diag_set(d, LLM_ENOMEM, "out of memory");
        else
            cJSON_AddItemToArray(arr, o);
    }
    free(reps);
    free(col);
    if (rc != LLM_OK) {
        cJSON_Delete(arr);
        arr = NULL;
    }
    *out = arr;
    return rc;
}

static int insert(sqlite3_stmt *st, const cJSON *o)
{
    int k;

    for (k = 0; cols[k] != NULL; k++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, cols[k]);
        if (cJSON_IsNumber(v))
            sqlite3_bind_double(st, k + 1, v->valuedouble);
        else
            sqlite3_bind_null(st, k + 1);
    }
    if (sqlite3_step(st) != SQLITE_DONE)
        return LLM_EIO;
    sqlite3_reset(st);
    return LLM_OK;
}

int replica_stats_write(sqlite3 *db, const cJSON *arr, struct llm_diag *d)
{
    char create[1024] = "CREATE TABLE replicas (", ins[512] =
        "INSERT INTO replicas VALUES (";
    sqlite3_stmt *st = NULL;
    const cJSON *o;
    size_t a = strlen(create), b = strlen(ins);
    int k, rc = LLM_OK;

    for (k = 0; cols[k] != NULL; k++) {
        a += (size_t)snprintf(create + a, sizeof(create) - a, "%s%s %s",
                              k ? ", " : "", cols[k],
                              k == 0 ? "INTEGER" : "REAL");
        b += (size_t)snprintf(ins + b, sizeof(ins) - b, "%s?", k ? "," : "");
    }
    snprintf(create + a, sizeof(create) - a, ")");
    snprintf(ins + b, sizeof(ins) - b, ")");
    if (sqlite3_exec(db, create, NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, ins, -1, &st, NULL) != SQLITE_OK)
        rc = sql_err(db, d);
    cJSON_ArrayForEach(o, arr) {
        if (rc == LLM_OK && insert(st, o) != LLM_OK)
            rc = sql_err(db, d);
    }
    sqlite3_finalize(st);
    return rc;
}

/* Writes arr and adds it to summary (takes arr either way). */
static int add(sqlite3 *db, cJSON *arr, cJSON *summary, struct llm_diag *d)
{
    int rc = replica_stats_write(db, arr, d);

    if (rc == LLM_OK)
        cJSON_AddItemToObject(summary, "replicas", arr);
    else
        cJSON_Delete(arr);
    return rc;
}

int replica_stats_add(sqlite3 *db, int32_t n_replicas,
                      int64_t kv_capacity_blocks, cJSON *summary,
                      struct llm_diag *d)
{
    cJSON *arr = NULL;
    int rc = replica_stats_build(db, n_replicas, kv_capacity_blocks, &arr,
                                 d);

    return rc == LLM_OK ? add(db, arr, summary, d) : rc;
}

int replica_stats_add_reqs(sqlite3 *db, const struct summary_reqs *reqs,
                           const struct summary_iters *iters,
                           int32_t n_replicas, int64_t kv_capacity_blocks,
                           cJSON *summary, struct llm_diag *d)
{
    cJSON *arr = NULL;
    int rc = replica_stats_build_reqs(db, reqs, iters, n_replicas,
                                      kv_capacity_blocks, &arr, d);

    return rc == LLM_OK ? add(db, arr, summary, d) : rc;
}
