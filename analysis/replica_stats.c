#include "analysis/replica_stats.h"

#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_sort.h>
#include <gsl/gsl_statistics_double.h>

#include "analysis/column.h"

/* The columns of one replica, in the order of the table. */
static const char *const cols[] = { "replica", "requests_completed",
    "requests_rejected", "preemptions", "prompt_tokens", "output_tokens",
    "throughput_tok_s", "ttft_ms_p50", "ttft_ms_p99", "tpot_ms_p50",
    "tpot_ms_p99", "e2e_ms_p50", "e2e_ms_p99", "iterations", "busy_frac",
    "kv_util_mean", "queue_len_mean", NULL };

struct rep {
    struct column ttft, tpot, e2e;
    int64_t ok, rejected, preemptions, in_tokens, out_tokens, iterations;
    double busy_ns, kv_ns, queue_ns;
};

static void quantile(cJSON *o, const char *name, struct column *c, double q)
{
    if (c->n == 0) {
        cJSON_AddNullToObject(o, name);
        return;
    }
    gsl_sort(c->v, 1, c->n);
    cJSON_AddNumberToObject(o, name,
                            gsl_stats_quantile_from_sorted_data(c->v, 1,
                                                                c->n, q));
}

static int sql_err(sqlite3 *db, struct llm_diag *d)
{
    return diag_set(d, LLM_EIO, "results: %s", sqlite3_errmsg(db));
}

/* Requests, one replica at a time; *t0, *t1 the run's span. */
static int read_requests(sqlite3 *db, struct rep *reps, int32_t n,
                         int64_t *t0, int64_t *t1, struct llm_diag *d)
{
    sqlite3_stmt *st;
    int rc = LLM_OK;

    if (sqlite3_prepare_v2(db, "SELECT replica, arrival_ns, first_token_ns,"
            " finish_ns, prompt_tokens, output_tokens, preemptions, status "
            "FROM requests", -1, &st, NULL) != SQLITE_OK)
        return sql_err(db, d);
    *t0 = INT64_MAX;
    *t1 = INT64_MIN;
    while (rc == LLM_OK && sqlite3_step(st) == SQLITE_ROW) {
        int32_t i = sqlite3_column_int(st, 0);
        int64_t arr = sqlite3_column_int64(st, 1);
        int64_t ft = sqlite3_column_int64(st, 2);
        int64_t fin = sqlite3_column_int64(st, 3);
        int64_t out = sqlite3_column_int64(st, 5);
        struct rep *r;
        if (i < 0 || i >= n) {
            rc = diag_set(d, LLM_EINVAL, "results: request of replica %d "
                          "in a run of %d replicas", i, n);
            break;
        }
        r = &reps[i];
        *t0 = arr < *t0 ? arr : *t0;
        if (strcmp((const char *)sqlite3_column_text(st, 7), "ok") != 0) {
            r->rejected++;
            continue;
        }
        *t1 = fin > *t1 ? fin : *t1;
        r->ok++;
        r->in_tokens += sqlite3_column_int64(st, 4);
        r->out_tokens += out;
        r->preemptions += sqlite3_column_int64(st, 6);
        rc = column_push(&r->ttft, (double)(ft - arr) / 1e6) |
             column_push(&r->e2e, (double)(fin - arr) / 1e6);
        if (rc == LLM_OK && out > 1)
            rc = column_push(&r->tpot, (double)(fin - ft) / 1e6 / (double)(out - 1));
        if (rc != LLM_OK)
            rc = diag_set(d, LLM_ENOMEM, "out of memory");
    }
    sqlite3_finalize(st);
    return rc;
}

/* Time-weighted sums over the iterations (an empty table adds nothing). */
static int read_iterations(sqlite3 *db, struct rep *reps, int32_t n,
                           struct llm_diag *d)
{
    sqlite3_stmt *st;

    if (sqlite3_prepare_v2(db, "SELECT replica, end_ns - start_ns, "
            "kv_blocks_used, waiting FROM iterations", -1, &st, NULL) !=
        SQLITE_OK)
        return sql_err(db, d);
    while (sqlite3_step(st) == SQLITE_ROW) {
        int32_t i = sqlite3_column_int(st, 0);
        double dt = (double)sqlite3_column_int64(st, 1);
        if (i < 0 || i >= n)
            continue;
        reps[i].iterations++;
        reps[i].busy_ns += dt;
        reps[i].kv_ns += dt * (double)sqlite3_column_int64(st, 2);
        reps[i].queue_ns += dt * (double)sqlite3_column_int64(st, 3);
    }
    sqlite3_finalize(st);
    return LLM_OK;
}

static cJSON *row(int32_t i, struct rep *r, double dur_ns, int64_t kv_cap)
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
    quantile(o, "ttft_ms_p50", &r->ttft, 0.50);
    quantile(o, "ttft_ms_p99", &r->ttft, 0.99);
    quantile(o, "tpot_ms_p50", &r->tpot, 0.50);
    quantile(o, "tpot_ms_p99", &r->tpot, 0.99);
    quantile(o, "e2e_ms_p50", &r->e2e, 0.50);
    quantile(o, "e2e_ms_p99", &r->e2e, 0.99);
    cJSON_AddNumberToObject(o, "iterations", (double)r->iterations);
    cJSON_AddNumberToObject(o, "busy_frac", dur_ns > 0 ?
                            r->busy_ns / dur_ns : 0);
    cJSON_AddNumberToObject(o, "kv_util_mean", r->busy_ns > 0 && kv_cap > 0 ?
                            r->kv_ns / r->busy_ns / (double)kv_cap : 0);
    cJSON_AddNumberToObject(o, "queue_len_mean", r->busy_ns > 0 ?
                            r->queue_ns / r->busy_ns : 0);
    return o;
}

int replica_stats_build(sqlite3 *db, int32_t n_replicas,
                        int64_t kv_capacity_blocks, cJSON **out,
                        struct llm_diag *d)
{
    struct rep *reps = calloc((size_t)(n_replicas > 0 ? n_replicas : 1),
                              sizeof(*reps));
    cJSON *arr = cJSON_CreateArray();
    int64_t t0 = 0, t1 = 0;
    int32_t i;
    int rc = reps && arr ? LLM_OK : diag_set(d, LLM_ENOMEM, "out of memory");

    if (rc == LLM_OK)
        rc = read_requests(db, reps, n_replicas, &t0, &t1, d);
    if (rc == LLM_OK)
        rc = read_iterations(db, reps, n_replicas, d);
    for (i = 0; rc == LLM_OK && i < n_replicas; i++) {
        cJSON *o = row(i, &reps[i], t1 > t0 ? (double)(t1 - t0) : 0,
                       kv_capacity_blocks);
        if (o == NULL)
            rc = diag_set(d, LLM_ENOMEM, "out of memory");
        else
            cJSON_AddItemToArray(arr, o);
    }
    for (i = 0; reps && i < n_replicas; i++) {
        free(reps[i].ttft.v);
        free(reps[i].tpot.v);
        free(reps[i].e2e.v);
    }
    free(reps);
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

int replica_stats_add(sqlite3 *db, int32_t n_replicas,
                      int64_t kv_capacity_blocks, cJSON *summary,
                      struct llm_diag *d)
{
    cJSON *arr = NULL;
    int rc = replica_stats_build(db, n_replicas, kv_capacity_blocks, &arr,
                                 d);

    if (rc == LLM_OK)
        rc = replica_stats_write(db, arr, d);
    if (rc == LLM_OK)
        cJSON_AddItemToObject(summary, "replicas", arr);
    else
        cJSON_Delete(arr);
    return rc;
}
