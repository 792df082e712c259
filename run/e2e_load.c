#include "run/e2e_load.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/plot.h"

/* Doubles *cap until need fits; each array is grown to *cap elements. */
static int grow2(void **a, void **b, size_t ea, size_t eb, size_t *cap,
                 size_t need)
{
    size_t c = *cap ? *cap : 256;
    void *x, *y;

    if (need <= *cap)
        return LLM_OK;
    while (c < need)
        c *= 2;
    x = realloc(*a, c * ea);
    if (x == NULL)
        return LLM_ENOMEM;
    *a = x;
    y = realloc(*b, c * eb);
    if (y == NULL)
        return LLM_ENOMEM;
    *b = y;
    *cap = c;
    return LLM_OK;
}

int e2e_series_iter(struct e2e_series *s, int64_t start_ns, int64_t end_ns,
                    int wait)
{
    size_t cap = s->cap_it;
    int8_t *w;

    if (grow2((void **)&s->it_start_ns, (void **)&s->it_end_ns,
              sizeof(int64_t), sizeof(int64_t), &cap, s->n_it + 1))
        return LLM_ENOMEM;
    if (cap != s->cap_it) {
        w = realloc(s->it_wait, cap);
        if (w == NULL)
            return LLM_ENOMEM;
        s->it_wait = w;
        s->cap_it = cap;
    }
    s->it_start_ns[s->n_it] = start_ns;
    s->it_end_ns[s->n_it] = end_ns;
    s->it_wait[s->n_it++] = (int8_t)(wait < 0 ? -1 : wait > 0);
    return LLM_OK;
}

int e2e_series_req(struct e2e_series *s, int64_t arrival_ns,
                   int64_t first_token_ns)
{
    if (grow2((void **)&s->arr_ns, (void **)&s->first_ns, sizeof(int64_t),
              sizeof(int64_t), &s->cap_req, s->n_req + 1))
        return LLM_ENOMEM;
    s->arr_ns[s->n_req] = arrival_ns;
    s->first_ns[s->n_req++] = first_token_ns;
    return LLM_OK;
}

void e2e_series_free(struct e2e_series *s)
{
    free(s->it_start_ns);
    free(s->it_end_ns);
    free(s->it_wait);
    free(s->arr_ns);
    free(s->first_ns);
    memset(s, 0, sizeof(*s));
}

/* [first arrival, last iteration end]; false when empty. */
static bool span(const struct e2e_series *s, int64_t *t0, int64_t *t1)
{
    size_t i;

    if (s->n_req == 0 || s->n_it == 0)
        return false;
    *t0 = s->arr_ns[0];
    *t1 = s->it_end_ns[0];
    for (i = 1; i < s->n_req; i++)
        if (s->arr_ns[i] < *t0)
            *t0 = s->arr_ns[i];
    for (i = 1; i < s->n_it; i++)
        if (s->it_end_ns[i] > *t1)
            *t1 = s->it_end_ns[i];
    return *t1 > *t0;
}

/* Iteration time in [t0, t1]; only_wait: of iterations that left
 * requests waiting (-1 when one did not record it). */
static double iter_time(const struct e2e_series *s, int64_t t0, int64_t t1,
                        bool only_wait)
{
    double sum = 0;
    size_t i;

    for (i = 0; i < s->n_it; i++) {
        int64_t a = s->it_start_ns[i] > t0 ? s->it_start_ns[i] : t0;
        int64_t b = s->it_end_ns[i] < t1 ? s->it_end_ns[i] : t1;
        if (only_wait && s->it_wait[i] < 0)
            return -1;
        if (b > a && (!only_wait || s->it_wait[i] > 0))
            sum += (double)(b - a);
    }
    return sum;
}

double e2e_series_util(const struct e2e_series *s)
{
    int64_t t0, t1;
    double w;

    if (!span(s, &t0, &t1))
        return NAN;
    w = iter_time(s, t0, t1, true);
    return w < 0 ? NAN : w / (double)(t1 - t0);
}

double e2e_series_busy(const struct e2e_series *s)
{
    int64_t t0, t1;

    return span(s, &t0, &t1) ? iter_time(s, t0, t1, false) /
                               (double)(t1 - t0) : NAN;
}

/* One change of the count of requests awaiting a first token. */
struct qev {
    int64_t t;
    int d;
};

static int qev_cmp(const void *a, const void *b)
{
    const struct qev *x = a, *y = b;

    if (x->t != y->t)
        return x->t < y->t ? -1 : 1;
    return x->d - y->d;          /* first tokens before arrivals */
}

/* The count's events in time order (caller frees); NULL: no memory. */
static struct qev *queue_events(const struct e2e_series *s)
{
    struct qev *e = malloc((2 * s->n_req + 1) * sizeof(*e));
    size_t i;

    if (e == NULL)
        return NULL;
    for (i = 0; i < s->n_req; i++) {
        e[2 * i] = (struct qev){ s->arr_ns[i], 1 };
        e[2 * i + 1] = (struct qev){ s->first_ns[i], -1 };
    }
    qsort(e, 2 * s->n_req, sizeof(*e), qev_cmp);
    return e;
}

void e2e_series_queue(const struct e2e_series *s, double *mean, double *max)
{
    struct qev *e = queue_events(s);
    double area = 0;
    int64_t q = 0;
    size_t i, n = 2 * s->n_req;

    *mean = *max = 0;
    if (e == NULL || n == 0) {
        free(e);
        return;
    }
    for (i = 0; i + 1 < n; i++) {
        q += e[i].d;
        area += (double)q * (double)(e[i + 1].t - e[i].t);
        if (q > *max)
            *max = (double)q;
    }
    if (e[n - 1].t > e[0].t)
        *mean = area / (double)(e[n - 1].t - e[0].t);
    free(e);
}

/* Per window of win ns from 0: busy share and mean queue, into b and q
 * (n windows each). */
static void windows(const struct e2e_series *s, int64_t win, size_t n,
                    double *b, double *q)
{
    struct qev *e = queue_events(s);
    size_t i, k, m = 2 * s->n_req;
    int64_t cnt = 0, t = 0;

    for (k = 0; k < n; k++) {
        b[k] = iter_time(s, (int64_t)k * win, (int64_t)(k + 1) * win,
                         false) / (double)win;
        q[k] = 0;
    }
    /* the queue count is piecewise constant between events */
    for (i = 0; e != NULL && i <= m; i++) {
        int64_t next = i < m ? e[i].t : (int64_t)n * win;
        while (t < next && (size_t)(t / win) < n) {
            int64_t end = ((t / win) + 1) * win;
            int64_t stop = next < end ? next : end;
            q[t / win] += (double)cnt * (double)(stop - t) / (double)win;
            t = stop;
        }
        if (i < m)
            cnt += e[i].d;
    }
    free(e);
}

static int commit(FILE *f, const char *tmp, const char *path,
                  struct llm_diag *d)
{
    if (fclose(f) != 0 || rename(tmp, path) != 0)
        return diag_set(d, LLM_EIO, "%s: cannot write", path);
    return LLM_OK;
}

static int write_load_dat(const char *path, const struct e2e_series *m,
                          const struct e2e_series *s, struct llm_diag *d)
{
    const int64_t win = 1000000000;
    int64_t a, b, end = 0;
    double *v;
    size_t n, k;
    char tmp[1300];
    FILE *f;
    int rc;

    if (span(m, &a, &b))
        end = b;
    if (span(s, &a, &b) && b > end)
        end = b;
    n = (size_t)(end / win) + 1;
    v = calloc(4 * n, sizeof(*v));
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    if (v == NULL || (f = fopen(tmp, "w")) == NULL) {
        free(v);
        return diag_set(d, v ? LLM_EIO : LLM_ENOMEM, "%s: cannot write",
                        tmp);
    }
    windows(m, win, n, v, v + n);
    windows(s, win, n, v + 2 * n, v + 3 * n);
    fprintf(f, "# t_s busy_meas queue_meas busy_sim queue_sim (busy: share "
            "of the second in iterations; queue: requests awaiting their "
            "first token, mean over the second)\n");
    for (k = 0; k < n; k++)
        fprintf(f, "%zu %.4f %.3f %.4f %.3f\n", k, v[k], v[n + k],
                v[2 * n + k], v[3 * n + k]);
    free(v);
    rc = commit(f, tmp, path, d);
    return rc;
}

int e2e_load_plot(const char *dir, const char *name,
                  const struct e2e_series *meas, const struct e2e_series *sim,
                  struct llm_diag *d)
{
    char path[1200], tmp[1300], fname[600], q[700], qd[700];
    FILE *f;
    int rc;

    snprintf(path, sizeof(path), "%s/%s_load.dat", dir, name);
    rc = write_load_dat(path, meas, sim, d);
    if (rc)
        return rc;
    snprintf(path, sizeof(path), "%s/%s_load.gp", dir, name);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    if ((f = fopen(tmp, "w")) == NULL)
        return diag_set(d, LLM_EIO, "%s: cannot write", tmp);
    /* name comes from a measured run's path: every use goes through
     * plot_gp_str (issue 23) */
    snprintf(fname, sizeof(fname), "%s_load.gp", name);
    fprintf(f, "# gnuplot %s: load over time, measured vs llmsim\n",
            plot_gp_str(fname, q, sizeof(q)));
    snprintf(fname, sizeof(fname), "%s_load.png", name);
    fprintf(f, "set terminal pngcairo size 1200,700 noenhanced\n"
            "set output %s\n", plot_gp_str(fname, q, sizeof(q)));
    snprintf(fname, sizeof(fname), "%s: load over time", name);
    fprintf(f, "set multiplot layout 2,1 title %s\n",
            plot_gp_str(fname, q, sizeof(q)));
    snprintf(fname, sizeof(fname), "%s_load.dat", name);
    plot_gp_str(fname, qd, sizeof(qd));
    fprintf(f, "set key top right\nset xlabel 'time (s)'\n"
            "set ylabel 'share of the second in iterations'\n"
            "set yrange [0:1.05]\n"
            "plot %s using 1:2 with steps title 'measured', "
            "'' using 1:4 with steps dashtype 2 title 'llmsim'\n"
            "set ylabel 'requests awaiting a first token'\n"
            "set yrange [0:*]\n"
            "plot %s using 1:3 with steps title 'measured', "
            "'' using 1:5 with steps dashtype 2 title 'llmsim'\n"
            "unset multiplot\n", qd, qd);
    return commit(f, tmp, path, d);
}

/* s as one word of a gnuplot data file (columnheader reads the key's
 * title from it): blanks, control bytes and quotes become '_'. */
static const char *one_token(const char *s, char *buf, size_t len)
{
    size_t i;

    for (i = 0; s[i] != '\0' && i + 1 < len; i++)
        buf[i] = (unsigned char)s[i] <= ' ' || s[i] == 0x7f || s[i] == '"' ||
                 s[i] == '\'' ? '_' : s[i];
    buf[i] = '\0';
    return buf;
}

int e2e_sensitivity_plot(const char *dir, char *const *names,
                         const double *change, size_t n_runs,
                         const double *scale, size_t n_scales,
                         struct llm_diag *d)
{
    char path[1200], tmp[1300], tok[512];
    size_t i, k;
    FILE *f;
    int rc;

    snprintf(path, sizeof(path), "%s/sensitivity.dat", dir);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    if ((f = fopen(tmp, "w")) == NULL)
        return diag_set(d, LLM_EIO, "%s: cannot write", tmp);
    /* one block per run (gnuplot index i), its name first (the key's
     * title): iteration time change in %, TTFT p90 change in % */
    for (i = 0; i < n_runs; i++) {
        fprintf(f, "%s ttft_p90_change_pct\n0 0\n",
                one_token(names[i], tok, sizeof(tok)));
        for (k = 0; k < n_scales; k++)
            fprintf(f, "%g %.3f\n", 100 * (scale[k] - 1),
                    100 * change[i * n_scales + k]);
        fprintf(f, "\n\n");
    }
    rc = commit(f, tmp, path, d);
    if (rc)
        return rc;
    snprintf(path, sizeof(path), "%s/sensitivity.gp", dir);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    if ((f = fopen(tmp, "w")) == NULL)
        return diag_set(d, LLM_EIO, "%s: cannot write", tmp);
    fprintf(f, "# gnuplot sensitivity.gp: llmsim's TTFT p90 against "
            "iteration time, per run\n"
            "set terminal pngcairo size 1100,750 noenhanced\n"
            "set output 'sensitivity.png'\n"
            "set title 'TTFT p90 change when every iteration takes longer'\n"
            "set xlabel 'iteration time change (%%)'\n"
            "set ylabel 'TTFT p90 change (%%)'\n"
            "set key outside right font ',8'\nset grid\n"
            "plot for [i=0:%zu] 'sensitivity.dat' index i with linespoints "
            "title columnheader(1), x title 'proportional' dashtype 2 "
            "lc rgb 'black'\n", n_runs ? n_runs - 1 : 0);
    return commit(f, tmp, path, d);
}
