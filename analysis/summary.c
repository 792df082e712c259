#include "analysis/summary.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_rstat.h>
#include <gsl/gsl_sort.h>
#include <gsl/gsl_statistics_double.h>

#include "analysis/column.h"
#include "analysis/iterlog.h"
#include "analysis/metrics.h"

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

/* ---- the requests: kept while exact, then sketched ------------------- */

void summary_reqs_init(struct summary_reqs *a, const struct summary_slo *slo)
{
    memset(a, 0, sizeof(*a));
    if (slo != NULL) {
        a->slo = *slo;
        a->has_slo = true;
    }
    a->exact_max = SUMMARY_EXACT_MAX;
    a->bad_row = -1;
    a->t0 = INT64_MAX;
    a->t1 = INT64_MIN;
}

void summary_reqs_free(struct summary_reqs *a)
{
    int32_t i;
    int k;

    free(a->ok);
    for (k = 0; k < SUMMARY_FIGS; k++) {
        qsketch_free(&a->fig[k]);
        if (a->rstat[k] != NULL)
            gsl_rstat_free(a->rstat[k]);
    }
    for (i = 0; i < a->n_rep; i++)
        for (k = 0; k < 3; k++)
            qsketch_free(&a->rep[i].fig[k]);
    free(a->rep);
    summary_reqs_init(a, NULL);
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

static int sketch_init(struct qsketch *s)
{
    return qsketch_init(s, SUMMARY_SKETCH_ALPHA, SUMMARY_SKETCH_MIN_MS);
}

/* Replicas up to i (zeroed; with sketches once sketched). */
static int reps_reserve(struct summary_reqs *a, int32_t i)
{
    int32_t ncap = a->cap_rep ? a->cap_rep : 8, k;
    struct summary_rep *n;

    if (i >= a->cap_rep) {
        while (ncap <= i)
            ncap *= 2;
        n = realloc(a->rep, (size_t)ncap * sizeof(*n));
        if (n == NULL)
            return LLM_ENOMEM;
        a->rep = n;
        a->cap_rep = ncap;
    }
    for (; a->n_rep <= i; a->n_rep++) {
        struct summary_rep *r = &a->rep[a->n_rep];
        memset(r, 0, sizeof(*r));
        r->first_row = -1;
        for (k = 0; k < 3; k++)
            sketch_init(&r->fig[k]);
    }
    return LLM_OK;
}

/* The record of replica i (NULL for one that cannot be: the first such
 * row is remembered for the error the per-replica figures give). */
static int rep_of(struct summary_reqs *a, int32_t i, struct summary_rep **r)
{
    *r = NULL;
    if (i < 0 || i > SUMMARY_MAX_REPLICA) {
        if (a->bad_row < 0) {
            a->bad_row = a->rows;
            a->bad_replica = i;
        }
        return LLM_OK;
    }
    if (reps_reserve(a, i) != LLM_OK)
        return LLM_ENOMEM;
    *r = &a->rep[i];
    if ((*r)->first_row < 0)
        (*r)->first_row = a->rows;
    return LLM_OK;
}

/* The figures of q in ms; *tpot: it has one (more than one token). */
static void req_figs(const struct summary_req *q, double v[SUMMARY_FIGS],
                     bool *tpot)
{
    double ttft = (double)q->ttft_ns / 1e6, e2e = (double)q->e2e_ns / 1e6;

    v[SUMMARY_TTFT] = ttft;
    v[SUMMARY_E2E] = e2e;
    v[SUMMARY_NORM] = e2e / (double)q->output_tokens;
    v[SUMMARY_TPOT] = 0;
    *tpot = metric_tpot_ms(q->ttft_ns, q->e2e_ns, q->output_tokens,
                           &v[SUMMARY_TPOT]);
}

/* Counts q in the sketches: the run's four figures and its replica's
 * TTFT, TPOT and E2E (one key per value). */
static int sketch_add(struct summary_reqs *a, const struct summary_req *q)
{
    static const int rep_fig[SUMMARY_FIGS] = { 0, 1, 2, -1 };
    struct summary_rep *r = q->replica >= 0 && q->replica < a->n_rep ?
                            &a->rep[q->replica] : NULL;
    double v[SUMMARY_FIGS];
    bool tpot;
    int k, rc = LLM_OK;

    req_figs(q, v, &tpot);
    for (k = 0; k < SUMMARY_FIGS && rc == LLM_OK; k++) {
        int64_t key;
        if (k == SUMMARY_TPOT && !tpot)
            continue;
        key = qsketch_key(&a->fig[k], v[k]);
        gsl_rstat_add(v[k], a->rstat[k]);
        rc = qsketch_add_key(&a->fig[k], key);
        if (rc == LLM_OK && r != NULL && rep_fig[k] >= 0)
            rc = qsketch_add_key(&r->fig[rep_fig[k]], key);
    }
    return rc;
}

/* Past exact_max: every kept request into the sketches, then freed. */
static int to_sketches(struct summary_reqs *a)
{
    size_t i;
    int k, rc = LLM_OK;

    for (k = 0; k < SUMMARY_FIGS; k++) {
        sketch_init(&a->fig[k]);
        if ((a->rstat[k] = gsl_rstat_alloc()) == NULL)
            return LLM_ENOMEM;
    }
    for (i = 0; i < a->n_ok && rc == LLM_OK; i++)
        rc = sketch_add(a, &a->ok[i]);
    free(a->ok);
    a->ok = NULL;
    a->cap_ok = 0;
    a->sketched = true;
    return rc;
}

bool summary_meets(const struct summary_slo *slo, const struct store_row *r)
{
    struct summary_req q = { .ttft_ns = r->first_token_ns - r->arrival_ns,
        .e2e_ns = r->finish_ns - r->arrival_ns,
        .output_tokens = r->output_tokens, .replica = r->replica };
    double v[SUMMARY_FIGS];
    bool tpot;

    req_figs(&q, v, &tpot);
    if (v[SUMMARY_TTFT] > slo->ttft_ms + slo->ttft_ms_per_prompt_token *
                                         (double)r->prompt_tokens ||
        v[SUMMARY_TPOT] > slo->tpot_ms)
        return false;
    /* A request of one token has no gap, hence no EMA (NULL). */
    return slo->tbt_ema_ms <= 0 || r->output_tokens <= 1 ||
           (double)r->gap_ema_max_ns / 1e6 < slo->tbt_ema_ms;
}

/* A completed request: kept while exact, else sketched. */
static int add_ok(struct summary_reqs *a, const struct summary_req *q)
{
    int rc;

    if (!a->sketched && a->n_ok < a->exact_max) {
        if (grow((void **)&a->ok, &a->cap_ok, a->n_ok, sizeof(*a->ok)) !=
            LLM_OK)
            return LLM_ENOMEM;
        a->ok[a->n_ok++] = *q;
        return LLM_OK;
    }
    rc = a->sketched ? LLM_OK : to_sketches(a);
    a->n_ok++;
    return rc == LLM_OK ? sketch_add(a, q) : rc;
}

int summary_reqs_add(struct summary_reqs *a, const struct store_row *r)
{
    struct summary_req q = { .ttft_ns = r->first_token_ns - r->arrival_ns,
        .e2e_ns = r->finish_ns - r->arrival_ns,
        .output_tokens = r->output_tokens, .replica = r->replica };
    struct summary_rep *rep;
    int rc = rep_of(a, r->replica, &rep);

    if (rc != LLM_OK)
        return rc;
    a->rows++;
    if (r->arrival_ns < a->t0)
        a->t0 = r->arrival_ns;
    if (r->rejected) {
        a->n_rejected++;
        if (rep != NULL)
            rep->rejected++;
        return LLM_OK;
    }
    a->in_tokens += r->prompt_tokens;
    a->out_tokens += r->output_tokens;
    a->preemptions += r->preemptions;
    if (rep != NULL) {
        rep->ok++;
        rep->in_tokens += r->prompt_tokens;
        rep->out_tokens += r->output_tokens;
        rep->preemptions += r->preemptions;
    }
    if (r->finish_ns > a->t1)
        a->t1 = r->finish_ns;
    if (a->has_slo && summary_meets(&a->slo, r))
        a->good++;
    return add_ok(a, &q);
}

int summary_reqs_read(sqlite3 *db, struct summary_reqs *a,
                      struct llm_diag *d)
{
    sqlite3_stmt *st;
    int rc = LLM_OK, step = SQLITE_DONE;

    /* Results written before gap_ema_max_ns have none: NULL (only for
     * that: another failure is an error, issue 19). */
    if (sqlite3_prepare_v2(db, "SELECT arrival_ns, first_token_ns, "
            "finish_ns, prompt_tokens, output_tokens, preemptions, replica, "
            "status, gap_ema_max_ns FROM requests ORDER BY id", -1, &st,
            NULL) != SQLITE_OK &&
        (strstr(sqlite3_errmsg(db), "no such column") == NULL ||
         sqlite3_prepare_v2(db, "SELECT arrival_ns, first_token_ns, "
            "finish_ns, prompt_tokens, output_tokens, preemptions, replica, "
            "status, NULL FROM requests ORDER BY id", -1, &st,
            NULL) != SQLITE_OK))
        return diag_set(d, LLM_EIO, "results: %s", sqlite3_errmsg(db));
    while (rc == LLM_OK && (step = sqlite3_step(st)) == SQLITE_ROW) {
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
            .gap_ema_max_ns = sqlite3_column_type(st, 8) == SQLITE_NULL ?
                              -1 : sqlite3_column_int64(st, 8) };
        rc = summary_reqs_add(a, &r);
    }
    sqlite3_finalize(st);
    if (rc)
        return diag_set(d, LLM_ENOMEM, "out of memory");
    /* a read that stops early is an error, not a shorter run (issue 19) */
    return step == SQLITE_DONE ? LLM_OK
        : diag_set(d, LLM_EIO, "results: %s", sqlite3_errstr(step));
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
static cJSON *itl_dist(sqlite3 *db, bool *bad)
{
    static const struct { const char *name; double q; } qs[] = {
        { "p50", 0.50 }, { "p90", 0.90 }, { "p95", 0.95 }, { "p99", 0.99 },
    };
    sqlite3_stmt *st;
    struct column gap = { 0 }, cum = { 0 };
    double total = 0, sum = 0;
    cJSON *o = cJSON_CreateObject();
    size_t i;
    int step = SQLITE_DONE;

    if (o == NULL || sqlite3_prepare_v2(db, "SELECT gap_ns, SUM(count) FROM "
            "itl GROUP BY gap_ns ORDER BY gap_ns", -1, &st, NULL)) {
        *bad = true;
        return o;
    }
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        double g = (double)sqlite3_column_int64(st, 0) / 1e6;
        double n = (double)sqlite3_column_int64(st, 1);
        total += n;
        sum += g * n;
        if (column_push(&gap, g) || column_push(&cum, total))
            break;
    }
    *bad = *bad || step != SQLITE_DONE;
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

/* A database's replica numbers are input: past this one a row counts in
 * the run's figures only (a run has far fewer replicas). */
#define ITERS_READ_REPLICAS (1 << 16)

void summary_iters_init(struct summary_iters *t)
{
    memset(t, 0, sizeof(*t));
}

void summary_iters_free(struct summary_iters *t)
{
    free(t->rep);
    summary_iters_init(t);
}

static void iter_add(struct summary_iter *s, double dt, double kv, double wq,
                     double run)
{
    s->n++;
    s->busy_ns += dt;
    s->kv_ns += dt * kv;
    s->queue_ns += dt * wq;
    s->run_ns += dt * run;
    s->kv_max = kv > s->kv_max ? kv : s->kv_max;
    s->queue_max = wq > s->queue_max ? wq : s->queue_max;
}

/* Room for replica i in t->rep (zeroed). */
static int iters_reserve(struct summary_iters *t, int32_t i)
{
    int32_t ncap = t->cap_rep ? t->cap_rep : 8;
    struct summary_iter *n;

    if (i < t->cap_rep)
        return LLM_OK;
    while (ncap <= i)
        ncap *= 2;
    n = realloc(t->rep, (size_t)ncap * sizeof(*n));
    if (n == NULL)
        return LLM_ENOMEM;
    memset(n + t->cap_rep, 0, (size_t)(ncap - t->cap_rep) * sizeof(*n));
    t->rep = n;
    t->cap_rep = ncap;
    return LLM_OK;
}

int summary_iters_add(struct summary_iters *t, int32_t replica,
                      int64_t start_ns, int64_t end_ns, int64_t kv_blocks,
                      int64_t waiting, int64_t running)
{
    double dt = (double)(end_ns - start_ns);

    if (replica >= 0 && iters_reserve(t, replica) != LLM_OK)
        return LLM_ENOMEM;
    iter_add(&t->all, dt, (double)kv_blocks, (double)waiting,
             (double)running);
    if (replica < 0)
        return LLM_OK;
    iter_add(&t->rep[replica], dt, (double)kv_blocks, (double)waiting,
             (double)running);
    if (replica >= t->n_rep)
        t->n_rep = replica + 1;
    return LLM_OK;
}

static int add_row(void *ctx, const struct iterlog_row *row)
{
    int64_t r = row->v[IL_REPLICA];

    return summary_iters_add(ctx, r >= 0 && r < ITERS_READ_REPLICAS ?
                             (int32_t)r : -1, row->v[IL_START],
                             row->v[IL_END], row->v[IL_KV_BLOCKS],
                             row->v[IL_WAITING], row->v[IL_RUNNING]);
}

int summary_iters_read(sqlite3 *db, struct summary_iters *t,
                       struct llm_diag *d)
{
    int rc = iterlog_read(db, add_row, t, d);

    return rc == LLM_ENOMEM ? diag_set(d, rc, "out of memory") : rc;
}

/* Time-weighted means and maxima over iterations. */
static void iter_stats(const struct summary_iter *s, int64_t kv_cap,
                       cJSON *o)
{
    double w = s->busy_ns;

    cJSON_AddNumberToObject(o, "iterations", (double)s->n);
    cJSON_AddNumberToObject(o, "kv_util_mean",
                            w > 0 && kv_cap > 0 ? s->kv_ns / w / kv_cap : 0);
    cJSON_AddNumberToObject(o, "kv_util_max",
                            kv_cap > 0 ? s->kv_max / kv_cap : 0);
    cJSON_AddNumberToObject(o, "queue_len_mean", w > 0 ? s->queue_ns / w : 0);
    cJSON_AddNumberToObject(o, "queue_len_max", s->queue_max);
    cJSON_AddNumberToObject(o, "batch_size_mean", w > 0 ? s->run_ns / w : 0);
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
            n += metric_tpot_ms(q->ttft_ns, q->e2e_ns, q->output_tokens,
                                &v[n]);
            break;
        }
    }
    return n;
}

/* dist() of one figure: exactly, in a column of its own (scratch: n_ok
 * doubles), or from its sketch, mean and max from GSL's running
 * statistics. */
static cJSON *fig_dist(const struct summary_reqs *a, enum req_fig f,
                       double *scratch)
{
    static const struct { const char *name; double q; } qs[] = {
        { "p50", 0.50 }, { "p90", 0.90 }, { "p95", 0.95 }, { "p99", 0.99 },
    };
    const struct qsketch *s = &a->fig[f];
    cJSON *o;
    size_t i;

    if (!a->sketched)
        return dist(scratch, figure(a, f, scratch));
    if ((o = cJSON_CreateObject()) == NULL)
        return NULL;
    if (s->count == 0) {
        cJSON_AddNullToObject(o, "mean");
        return o;
    }
    cJSON_AddNumberToObject(o, "mean", gsl_rstat_mean(a->rstat[f]));
    for (i = 0; i < sizeof(qs) / sizeof(qs[0]); i++)
        cJSON_AddNumberToObject(o, qs[i].name, qsketch_quantile(s, qs[i].q));
    cJSON_AddNumberToObject(o, "max", gsl_rstat_max(a->rstat[f]));
    return o;
}

int summary_build(sqlite3 *db, const struct summary_slo *slo,
                  int64_t kv_capacity_blocks, cJSON **out,
                  struct llm_diag *d)
{
    struct summary_reqs a;
    int rc;

    summary_reqs_init(&a, slo);
    rc = summary_reqs_read(db, &a, d);
    if (rc == LLM_OK)
        rc = summary_build_reqs(db, &a, NULL, kv_capacity_blocks, out, d);
    summary_reqs_free(&a);
    return rc;
}

static void add_totals(const struct summary_reqs *a, double dur, cJSON *o)
{
    int64_t ok = (int64_t)a->n_ok;

    cJSON_AddNumberToObject(o, "requests_completed", (double)ok);
    cJSON_AddNumberToObject(o, "requests_rejected", (double)a->n_rejected);
    cJSON_AddNumberToObject(o, "duration_s", dur);
    cJSON_AddNumberToObject(o, "prompt_tokens", (double)a->in_tokens);
    cJSON_AddNumberToObject(o, "output_tokens", (double)a->out_tokens);
    cJSON_AddNumberToObject(o, "throughput_req_s", dur ? ok / dur : 0);
    cJSON_AddNumberToObject(o, "throughput_out_tok_s",
                            dur ? a->out_tokens / dur : 0);
    cJSON_AddNumberToObject(o, "throughput_tok_s",
                            dur ? (a->in_tokens + a->out_tokens) / dur : 0);
    cJSON_AddNumberToObject(o, "goodput_req_s", dur ? a->good / dur : 0);
    cJSON_AddNumberToObject(o, "slo_attainment",
                            ok ? (double)a->good / ok : 0);
    cJSON_AddNumberToObject(o, "preemptions", (double)a->preemptions);
}

int summary_build_reqs(sqlite3 *db, const struct summary_reqs *a,
                       const struct summary_iters *iters,
                       int64_t kv_capacity_blocks, cJSON **out,
                       struct llm_diag *d)
{
    struct summary_iters own;
    size_t ncol = a->sketched || a->n_ok == 0 ? 1 : a->n_ok;
    double *col = malloc(ncol * sizeof(*col));
    cJSON *o = cJSON_CreateObject();
    double dur;
    bool bad = false;

    if (o == NULL || col == NULL) {
        cJSON_Delete(o);
        free(col);
        return diag_set(d, LLM_ENOMEM, "out of memory");
    }
    summary_iters_init(&own);
    if (iters == NULL && summary_iters_read(db, &own, d) != LLM_OK) {
        cJSON_Delete(o);
        free(col);
        return d->code;
    }
    dur = a->n_ok > 0 && a->t1 > a->t0 ? (double)(a->t1 - a->t0) / 1e9 : 0;
    add_totals(a, dur, o);
    cJSON_AddItemToObject(o, "ttft_ms", fig_dist(a, FIG_TTFT, col));
    cJSON_AddItemToObject(o, "tpot_ms", fig_dist(a, FIG_TPOT, col));
    cJSON_AddItemToObject(o, "itl_ms", itl_dist(db, &bad));
    cJSON_AddItemToObject(o, "e2e_ms", fig_dist(a, FIG_E2E, col));
    cJSON_AddItemToObject(o, "norm_latency_ms_per_tok",
                          fig_dist(a, FIG_NORM, col));
    if (a->sketched)
        cJSON_AddNumberToObject(o, "percentile_sketch_alpha",
                                SUMMARY_SKETCH_ALPHA);
    iter_stats(iters ? &iters->all : &own.all, kv_capacity_blocks, o);
    summary_iters_free(&own);
    free(col);
    if (bad) {      /* a failed read gave a wrong summary (issue 19) */
        cJSON_Delete(o);
        return diag_set(d, LLM_EIO, "results: cannot read the itl table: "
                        "%s", sqlite3_errmsg(db));
    }
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

double summary_num(const cJSON *summary, const char *a, const char *b)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(summary, a);

    if (b != NULL)
        v = cJSON_GetObjectItemCaseSensitive(v, b);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}
