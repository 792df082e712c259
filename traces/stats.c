#include "traces/stats.h"

#include <math.h>
#include <stdlib.h>

#include <gsl/gsl_sort.h>

struct ivec {
    int *v;
    size_t n, cap;
};

/* Running moments of the gaps (Welford), in seconds. */
struct gaps {
    int64_t first_ns, last_ns;
    double mean, m2;
    int64_t n;
};

static int ivec_push(struct ivec *a, int x, struct llm_diag *d)
{
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 4096;
        int *nv = realloc(a->v, cap * sizeof(*nv));
        if (nv == NULL)
            return diag_set(d, LLM_ENOMEM, "out of memory for %zu lengths",
                            cap);
        a->v = nv;
        a->cap = cap;
    }
    a->v[a->n++] = x;
    return LLM_OK;
}

static void gaps_add(struct gaps *g, int64_t t_ns, int64_t rows)
{
    double x, delta;

    if (rows == 0) {
        g->first_ns = g->last_ns = t_ns;
        return;
    }
    x = (double)(t_ns - g->last_ns) / 1e9;
    g->last_ns = t_ns;
    g->n++;
    delta = x - g->mean;
    g->mean += delta / (double)g->n;
    g->m2 += delta * (x - g->mean);
}

/* trace_stats.py: sorted[max(0, min(n - 1, ceil(p / 100.0 * n) - 1))],
 * computed in the same double arithmetic so the ranks agree. */
static int32_t nearest_rank(const int *sorted, size_t n, double p)
{
    double k = ceil(p / 100.0 * (double)n) - 1;

    if (k < 0)
        k = 0;
    if (k > (double)(n - 1))
        k = (double)(n - 1);
    return sorted[(size_t)k];
}

static void summarize(struct ivec *a, struct len_summary *s)
{
    int64_t sum = 0;

    gsl_sort_int(a->v, 1, a->n);
    for (size_t i = 0; i < a->n; i++)
        sum += a->v[i];
    s->mean = (double)sum / (double)a->n;
    s->p50 = nearest_rank(a->v, a->n, 50);
    s->p90 = nearest_rank(a->v, a->n, 90);
    s->p99 = nearest_rank(a->v, a->n, 99);
    s->min = a->v[0];
    s->max = a->v[a->n - 1];
}

static int collect(struct req_source *s, struct ivec *p, struct ivec *o,
                   struct gaps *g, struct llm_diag *d)
{
    struct req_spec r;
    bool eof = false;

    while (source_next(s, &r, &eof, d) == LLM_OK && !eof) {
        gaps_add(g, r.arrival_ns, (int64_t)p->n);
        if (ivec_push(p, r.prompt_tokens, d) != LLM_OK ||
            ivec_push(o, r.output_tokens, d) != LLM_OK)
            break;
    }
    if (d->code == LLM_OK && p->n == 0)
        return diag_set(d, LLM_EINVAL, "no requests to summarize");
    return d->code;
}

int stats_compute(struct req_source *s, struct trace_stats *out,
                  struct llm_diag *d)
{
    struct ivec p = { 0 }, o = { 0 };
    struct gaps g = { 0 };

    if (collect(s, &p, &o, &g, d) == LLM_OK) {
        *out = (struct trace_stats){ .rows = (int64_t)p.n };
        out->span_s = (double)(g.last_ns - g.first_ns) / 1e9;
        out->rate_rps = out->span_s > 0 ? (double)g.n / out->span_s : NAN;
        out->gap_mean_s = g.n > 0 ? g.mean : NAN;
        out->gap_cv = g.n > 0 && g.mean > 0 ?
                      sqrt(g.m2 / (double)g.n) / g.mean : NAN;
        summarize(&p, &out->prompt);
        summarize(&o, &out->output);
        source_get_counts(s, &out->counts);
    }
    free(p.v);
    free(o.v);
    return d->code;
}

static void print_len(FILE *f, const char *what, const struct len_summary *s)
{
    fprintf(f, "%-14s mean %.1f, p50 %d, p90 %d, p99 %d, min %d, max %d\n",
            what, s->mean, s->p50, s->p90, s->p99, s->min, s->max);
}

void stats_print(const struct trace_stats *st, FILE *f)
{
    const struct source_counts *c = &st->counts;

    fprintf(f, "%-14s %lld\n", "rows", (long long)st->rows);
    fprintf(f, "%-14s %.3f s (%.1f min)\n", "span", st->span_s,
            st->span_s / 60);
    fprintf(f, "%-14s %.2f req/s\n", "mean rate", st->rate_rps);
    fprintf(f, "%-14s mean %.4f s, CV %.2f\n", "inter-arrival",
            st->gap_mean_s, st->gap_cv);
    print_len(f, "prompt tokens", &st->prompt);
    print_len(f, "output tokens", &st->output);
    if (c->output_zero > 0)
        fprintf(f, "%-14s %lld rows had output 0, read as 1\n", "note",
                (long long)c->output_zero);
    if (c->skipped > 0)
        fprintf(f, "%-14s %lld rows skipped by the kind's filters\n", "note",
                (long long)c->skipped);
}
