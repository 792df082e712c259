#include "hw/calib.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_interp.h>

/* ---------------------------------------------------------------- curves */

/* Measured time t(x) on a sorted grid x (the log of a shape dimension),
 * for the table's own shape.  At build the points are raised to the
 * roofline (t >= speed of light: a measurement cannot beat the hardware).
 * Attention, element-wise and collective curves are then lowered to the
 * cheapest larger shape (t(x_i) <= t(x_j) for j > i: more context or
 * bytes never cost less), so those lookups are monotone.  GEMM curves
 * keep their compute-bound points as measured: the engine calls torch.mm
 * at the batch's own M without padding, and cuBLASLt's choice at some M is
 * slower than at a larger one (N=28672, K=4096: 312 us at M=448, 160 us at
 * M=512 on H100, 305 / 165 us on H200; docs/cost-model.md); only their
 * memory-bound points are enveloped (make_gemm).  Between points
 * log t is interpolated linearly in x (GSL); outside, the edge point's
 * utilization (speed of light / time) carries to the query's shape. */
struct curve {
    int n;
    double *x, *lt;            /* log time */
    double u_lo, u_hi;         /* utilization at the first and last point */
    double s_lo, s_hi;         /* speed of light there */
    gsl_interp *it;            /* NULL for a single point */
    double x_env;              /* the min-envelope applies up to this x */
};

struct row_curve {             /* a grid of curves: row r (log), t(r, y) */
    int n;
    double *r;
    struct curve *rows;
};

/* Speed of light of the table's own shape at grid coordinates (r, y). */
typedef double sol_fn(const void *ctx, double r, double y);

static void curve_free(struct curve *c)
{
    if (c->it)
        gsl_interp_free(c->it);
    free(c->x);
    free(c->lt);
}

/* Seconds at x; sol: speed of light at x (used outside the grid). */
static double curve_time(const struct curve *c, double x, double sol,
                         bool *extrap)
{
    if (x < c->x[0] - 1e-9 || x > c->x[c->n - 1] + 1e-9)
        *extrap = true;
    if (x < c->x[0])
        return sol / c->u_lo;
    if (x > c->x[c->n - 1])
        return sol / c->u_hi;
    if (c->n == 1 || x <= c->x[0])
        return exp(c->lt[0]);
    if (x >= c->x[c->n - 1])
        return exp(c->lt[c->n - 1]);
    return exp(gsl_interp_eval(c->it, c->x, c->lt, x, NULL));
}

/* A row's time at y; the speed of light is computed only when y is
 * outside the row (it costs exponentials). */
static double row_time(const struct curve *c, double r, double y, sol_fn *sol,
                       const void *ctx, bool *extrap)
{
    bool inside = y >= c->x[0] && y <= c->x[c->n - 1];

    return curve_time(c, y, inside ? 0 : sol(ctx, r, y), extrap);
}

/* Bracket r between two rows and interpolate log time linearly between
 * their times at y (each row may cover a different y range). */
static double grid_time(const struct row_curve *g, double r, double y,
                        sol_fn *sol, const void *ctx, bool *extrap)
{
    int i = 0;
    double a, b, w;

    if (r < g->r[0] - 1e-9 || r > g->r[g->n - 1] + 1e-9)
        *extrap = true;
    if (g->n == 1 || r <= g->r[0] || r >= g->r[g->n - 1]) {
        int k = (g->n == 1 || r <= g->r[0]) ? 0 : g->n - 1;
        double t = row_time(&g->rows[k], g->r[k], y, sol, ctx, extrap);
        if (fabs(r - g->r[k]) < 1e-12)
            return t;
        /* beyond the last row: that row's utilization at this r */
        return t * sol(ctx, r, y) / sol(ctx, g->r[k], y);
    }
    while (i + 2 < g->n && g->r[i + 1] < r)
        i++;
    a = log(row_time(&g->rows[i], g->r[i], y, sol, ctx, extrap));
    b = log(row_time(&g->rows[i + 1], g->r[i + 1], y, sol, ctx, extrap));
    w = (r - g->r[i]) / (g->r[i + 1] - g->r[i]);
    return exp(a + (b - a) * w);
}

/* ---------------------------------------------------------------- tables */

struct gemm_key {
    int64_t n, k;
    struct curve c;            /* over log m */
};

struct attn_key {
    int32_t qh, kvh, hd;
    double kvb;                /* bytes per KV element it was measured at */
    double l_qh, l_ratio, l_hd;  /* logs of heads, GQA ratio, head size */
    struct row_curve g;        /* rows: log q (prefill) or log batch */
};

struct elem_key {
    char op[40];
    int64_t width;
    struct curve c;            /* over log tokens */
};

struct comm_key {
    char name[16];
    int32_t ranks;
    struct curve c;            /* over log bytes; u = bytes / bw_peer / t */
};

struct launch_row {
    char what[40];
    double s;
};

/* The attention tables of one backend other than FlashAttention-2
 * (attn_prefill_<name>.csv, attn_decode_<name>.csv); either may be
 * missing. */
struct attn_set {
    char name[40];
    struct attn_key *pre, *dec;
    int n_pre, n_dec;
};

#define CALIB_MAX_SETS 8

/* A device priced from another's tables (calib_borrow): each lookup
 * carries the donor's utilization to the target's speed of light, times
 * a regime factor (donor's measured peak / target's published efficiency;
 * 1 where the target publishes none). */
struct borrow {
    bool on;
    double gemm_c, attn_c, mem;    /* time factors */
};

struct calib {
    struct device dev;         /* the tables' device (speed of light of a
                                * measured point) */
    struct device qdev;        /* the priced device (of a query) */
    struct borrow br;
    double kv_bytes;           /* KV element bytes of queries (2: bf16) */
    /* the donor's own measured peaks, for calib_borrow */
    double peak_gemm_c, peak_attn_c, peak_read;
    struct gemm_key *gemm[DT_COUNT];
    int n_gemm[DT_COUNT];
    struct gemm_key *lin;      /* the engine's own bf16 GEMMs (torch.mm) */
    int n_lin;
    struct gemm_key *w4;       /* gemm_w4a16.csv: fused W4A16 GEMMs */
    int n_w4;
    struct attn_key *pre, *dec;
    int n_pre, n_dec;
    struct attn_key *dec8;     /* attn_decode_fp8kv.csv: fp8 KV decode */
    int n_dec8;
    struct elem_key *el;
    int n_el;
    struct elem_key *el_torch; /* elementwise_torch.csv: PyTorch's kernels */
    int n_el_torch;
    struct attn_set sets[CALIB_MAX_SETS];   /* sets[0] unused: pre, dec */
    int n_sets;
    struct launch_row *ln;
    int n_ln;
    struct launch_row *eg;     /* eager.csv: host costs of an eager engine */
    int n_eg;
    struct launch_row *ds;     /* attn_decode_sched.csv: decode schedule */
    int n_ds;
    struct comm_key comm[16];
    int n_comm;
};

/* ------------------------------------------------------------ CSV reading */

#define CSV_MAXCOL 8

struct csv_row {
    double v[CSV_MAXCOL];      /* numeric columns, in the order asked */
    char s[40];                /* the string column, when one is asked */
    long line;
};

struct csv_rows {
    struct csv_row *r;
    size_t n, cap;
};

static int push_row(struct csv_rows *rs, const struct csv_row *r)
{
    if (rs->n == rs->cap) {
        size_t ncap = rs->cap ? rs->cap * 2 : 256;
        struct csv_row *n = realloc(rs->r, ncap * sizeof(*n));
        if (n == NULL)
            return LLM_ENOMEM;
        rs->r = n;
        rs->cap = ncap;
    }
    rs->r[rs->n++] = *r;
    return LLM_OK;
}

/* Splits line in place at commas; returns the field count. */
static int split(char *line, char **f, int max)
{
    int n = 0;
    char *p = line;

    line[strcspn(line, "\r\n")] = '\0';
    while (n < max) {
        f[n++] = p;
        p = strchr(p, ',');
        if (p == NULL)
            break;
        *p++ = '\0';
    }
    return n;
}

/* Reads the named columns; str (may be NULL) is the one string column. */
static int csv_read(const char *path, const char *str, const char *const *num,
                    int nnum, struct csv_rows *out, struct llm_diag *d)
{
    FILE *fp = fopen(path, "r");
    char *line = NULL, *f[32];
    size_t cap = 0;
    int idx[CSV_MAXCOL], sidx = -1, nf, i, rc = LLM_OK, have_header = 0;
    long lineno = 0;

    if (fp == NULL)
        return diag_set(d, LLM_EIO, "%s: cannot open: %s", path,
                        strerror(errno));
    while (rc == LLM_OK && getline(&line, &cap, fp) != -1) {
        struct csv_row row = { .line = ++lineno };
        if (line[0] == '#' || line[strspn(line, " \r\n")] == '\0')
            continue;
        nf = split(line, f, 32);
        if (!have_header) {
            have_header = 1;
            for (i = 0; i < nnum; i++) {
                int j;
                for (j = 0; j < nf && strcmp(f[j], num[i]); j++)
                    ;
                if (j == nf)
                    rc = diag_set(d, LLM_EINVAL, "%s: line %ld: header has "
                                  "no column %s", path, lineno, num[i]);
                idx[i] = j;
            }
            for (i = 0; str && i < nf; i++)
                if (strcmp(f[i], str) == 0)
                    sidx = i;
            if (str && sidx < 0 && rc == LLM_OK)
                rc = diag_set(d, LLM_EINVAL, "%s: line %ld: header has no "
                              "column %s", path, lineno, str);
            continue;
        }
        for (i = 0; i < nnum && rc == LLM_OK; i++) {
            char *end;
            if (idx[i] >= nf) {
                rc = diag_set(d, LLM_EINVAL, "%s: line %ld: expected %d "
                              "columns, got %d", path, lineno, idx[i] + 1, nf);
                break;
            }
            row.v[i] = strtod(f[idx[i]], &end);
            if (end == f[idx[i]] || *end != '\0' || !isfinite(row.v[i]) ||
                row.v[i] < 0)
                rc = diag_set(d, LLM_EINVAL, "%s: line %ld: %s: expected a "
                              "non-negative number, got \"%s\"", path,
                              lineno, num[i], f[idx[i]]);
        }
        if (rc == LLM_OK && sidx >= 0)
            snprintf(row.s, sizeof(row.s), "%s", sidx < nf ? f[sidx] : "");
        if (rc == LLM_OK)
            rc = push_row(out, &row);
    }
    free(line);
    fclose(fp);
    if (rc == LLM_OK && out->n == 0)
        rc = diag_set(d, LLM_EINVAL, "%s: no data rows", path);
    return rc;
}

/* ------------------------------------------------------- speed of light */

/* Bytes per weight of a W4A16 GEMM: 4-bit values plus an fp16 scale and
 * a 4-bit zero point per group of 128 (AWQ's q_group_size 128; the same
 * figure as models/ops.h ops_weight_elem_bytes for int4). */
#define W4A16_W_BYTES (0.5 + 2.5 / 128)

/* A GEMM's compute and memory times at a given math peak. */
static void gemm_times(const struct device *dev, double peak, double w_bytes,
                       double m, double n, double k, double *tc, double *tm)
{
    *tc = 2.0 * m * n * k / peak;
    *tm = ((m * k + n * k) * w_bytes + m * n * 2.0) / dev->mem_bw_bytes_s;
}

/* W8A8 (w_bytes 1) runs on the fp8 tensor cores where the device has
 * them; everything else, W4A16 included, on bf16 ones. */
static double gemm_peak(const struct device *dev, double w_bytes)
{
    return w_bytes == 1.0 && dev->peak_flops[DT_FP8] > 0
               ? dev->peak_flops[DT_FP8] : device_peak16_flops(dev);
}

double calib_sol_gemm_s(const struct device *dev, double w_bytes, double m,
                        double n, double k)
{
    double tc, tm;

    gemm_times(dev, gemm_peak(dev, w_bytes), w_bytes, m, n, k, &tc, &tm);
    return tc > tm ? tc : tm;
}

static bool gemm_memory_bound(const struct device *dev, double w_bytes,
                              double m, double n, double k)
{
    double tc, tm;

    gemm_times(dev, gemm_peak(dev, w_bytes), w_bytes, m, n, k, &tc, &tm);
    return tm >= tc;
}

double calib_sol_attn_s(const struct device *dev, double flops, double bytes)
{
    double tc = flops / device_peak16_flops(dev);
    double tm = bytes / dev->mem_bw_bytes_s;

    return tc > tm ? tc : tm;
}

/* Attention's speed of light with KV elements of kvb bytes (the query
 * and output rows stay bf16). */
static double sol_prefill(const struct device *dev, double qh, double kvh,
                          double hd, double q, double prior, double kvb)
{
    double flops = 4.0 * qh * hd * (q * prior + q * (q + 1) / 2.0);
    double bytes = (prior + q) * 2.0 * kvh * hd * kvb + q * qh * hd * 4.0;

    return calib_sol_attn_s(dev, flops, bytes);
}

static double sol_decode(const struct device *dev, double qh, double kvh,
                         double hd, double batch, double ctx, double kvb)
{
    double flops = 4.0 * qh * hd * (ctx + 1) * batch;
    double bytes = batch * ((ctx + 1) * 2.0 * kvh * hd * kvb + qh * hd * 4.0);

    return calib_sol_attn_s(dev, flops, bytes);
}

/* Whether attention of flops and bytes is compute-bound on dev. */
static bool attn_compute_bound(const struct device *dev, double flops,
                               double bytes)
{
    return flops / device_peak16_flops(dev) > bytes / dev->mem_bw_bytes_s;
}

static double sol_elem(const struct device *dev, double tokens, double width)
{
    return tokens * width * 2.0 / dev->mem_bw_bytes_s;
}

/* -------------------------------------------------------------- building */

/* Rebuilds the interpolation after the points changed. */
static int curve_refit(struct curve *c)
{
    int i;

    for (i = c->n - 2; i >= 0; i--)          /* the envelope */
        if (c->x[i] <= c->x_env && c->lt[i] > c->lt[i + 1])
            c->lt[i] = c->lt[i + 1];
    if (c->it) {
        gsl_interp_free(c->it);
        c->it = NULL;
    }
    if (c->n >= 2) {
        c->it = gsl_interp_alloc(gsl_interp_linear, (size_t)c->n);
        if (c->it == NULL || gsl_interp_init(c->it, c->x, c->lt, (size_t)c->n))
            return LLM_ENOMEM;
    }
    c->u_lo = c->s_lo / exp(c->lt[0]);
    c->u_hi = c->s_hi / exp(c->lt[c->n - 1]);
    return LLM_OK;
}

/* Builds a curve from n points sorted by x: seconds t and speed of light
 * sol at each; equal x are averaged.  The min-envelope applies to the
 * points at x <= x_env (INFINITY: all). */
static int curve_build(struct curve *c, const double *x, const double *t,
                       const double *sol, int n, double x_env)
{
    int i, j = 0, cnt = 0;
    double s_first = 0, s_last = 0;

    memset(c, 0, sizeof(*c));
    c->x_env = x_env;
    c->x = malloc((size_t)n * sizeof(double));
    c->lt = malloc((size_t)n * sizeof(double));
    if (c->x == NULL || c->lt == NULL)
        return LLM_ENOMEM;
    for (i = 0; i < n; i++) {
        double ti = log(t[i] > sol[i] ? t[i] : sol[i]);
        if (j > 0 && fabs(c->x[j - 1] - x[i]) < 1e-12) {
            c->lt[j - 1] = (c->lt[j - 1] * cnt + ti) / (cnt + 1);
            cnt++;
            s_last = sol[i];
            continue;
        }
        if (j == 0)
            s_first = sol[i];
        s_last = sol[i];
        c->x[j] = x[i];
        c->lt[j++] = ti;
        cnt = 1;
    }
    c->n = j;
    c->s_lo = s_first;
    c->s_hi = s_last;
    return curve_refit(c);
}

/* Rows are sorted by their grouping key and then by x; group_of returns
 * whether rows a and b belong to the same group.  Calls make() once per
 * group with its first row index and size. */
typedef int group_fn(void *ctx, size_t first, size_t n);

static int for_groups(const struct csv_rows *rs,
                      bool (*same)(const struct csv_row *,
                                   const struct csv_row *),
                      group_fn *make, void *ctx)
{
    size_t i = 0, j;
    int rc = LLM_OK;

    while (i < rs->n && rc == LLM_OK) {
        for (j = i + 1; j < rs->n && same(&rs->r[i], &rs->r[j]); j++)
            ;
        rc = make(ctx, i, j - i);
        i = j;
    }
    return rc;
}

/* Sort order for the tables: the string column, then the numeric columns
 * in the order they were read (keys first, then x, then y). */
static int cmp_rows(const void *pa, const void *pb)
{
    const struct csv_row *a = pa, *b = pb;
    int c = strcmp(a->s, b->s), i;

    if (c)
        return c;
    for (i = 0; i < CSV_MAXCOL; i++)
        if (a->v[i] != b->v[i])
            return a->v[i] < b->v[i] ? -1 : 1;
    return 0;
}

struct build {
    struct calib *c;
    const struct csv_rows *rs;
    enum dtype dt;             /* DT_COUNT: linear_torch, DT_INT4: W4A16 */
    double w_bytes;
    double kv_bytes;           /* attention tables: KV element bytes */
    double *x, *t, *sol;       /* scratch, rs->n long */
    struct attn_set *set;      /* attention rows go here when not NULL */
    bool torch;                /* elementwise rows go to el_torch */
};

static bool same2(const struct csv_row *a, const struct csv_row *b)
{
    return a->v[0] == b->v[0] && a->v[1] == b->v[1];
}

static bool same3(const struct csv_row *a, const struct csv_row *b)
{
    return same2(a, b) && a->v[2] == b->v[2];
}

static bool same4(const struct csv_row *a, const struct csv_row *b)
{
    return same3(a, b) && a->v[3] == b->v[3];
}

static bool same_elem(const struct csv_row *a, const struct csv_row *b)
{
    return strcmp(a->s, b->s) == 0 && a->v[0] == b->v[0];
}

/* gemm rows: n, k, m, time_us.  The envelope covers only the M at which
 * the shape is memory-bound (streaming the weight, whatever M): there a
 * slower smaller M is the benchmark's, not the engine's (linear_torch.csv
 * has M=1..4 up to 15% over M=8 where gemm_bf16.csv and the reference
 * engine's decodes show none).  Compute-bound points stay as measured. */
static int make_gemm(void *ctx, size_t first, size_t n)
{
    struct build *b = ctx;
    struct calib *c = b->c;
    struct gemm_key *g = b->dt == DT_COUNT ? &c->lin[c->n_lin++] :
                         b->dt == DT_INT4 ? &c->w4[c->n_w4++]
                                          : &c->gemm[b->dt][c->n_gemm[b->dt]++];
    double x_env = -INFINITY;
    size_t i;

    g->n = (int64_t)b->rs->r[first].v[0];
    g->k = (int64_t)b->rs->r[first].v[1];
    for (i = 0; i < n; i++) {
        const double *v = b->rs->r[first + i].v;
        b->x[i] = log(v[2]);
        b->t[i] = v[3] * 1e-6;
        b->sol[i] = calib_sol_gemm_s(&c->dev, b->w_bytes, v[2], v[0], v[1]);
        if (gemm_memory_bound(&c->dev, b->w_bytes, v[2], v[0], v[1]))
            x_env = b->x[i];
        else if ((b->dt == DT_BF16 || b->dt == DT_COUNT) &&
                 b->sol[i] / b->t[i] > c->peak_gemm_c)
            c->peak_gemm_c = b->sol[i] / b->t[i];
    }
    return curve_build(&g->c, b->x, b->t, b->sol, (int)n, x_env);
}

/* One row of an attention grid: rows of (qh, kvh, hd, r, y, time_us)
 * sharing r. */
static int make_attn_row(struct build *b, struct row_curve *g, size_t first,
                         size_t n, bool prefill)
{
    const double *v0 = b->rs->r[first].v;
    size_t i;

    g->r[g->n] = log(v0[3]);
    for (i = 0; i < n; i++) {
        const double *v = b->rs->r[first + i].v;
        double sol = prefill ? sol_prefill(&b->c->dev, v[0], v[1], v[2],
                                           v[3], v[4], b->kv_bytes)
                             : sol_decode(&b->c->dev, v[0], v[1], v[2],
                                          v[3], v[4], b->kv_bytes);
        b->x[i] = prefill ? log1p(v[4]) : log(v[4]);
        b->t[i] = v[5] * 1e-6;
        b->sol[i] = sol;
        if (prefill && sol / b->t[i] > b->c->peak_attn_c)
            b->c->peak_attn_c = sol / b->t[i];
    }
    return curve_build(&g->rows[g->n++], b->x, b->t, b->sol, (int)n,
                       INFINITY);
}

/* Monotone across rows too: a row's time at y is at most the next (larger
 * batch or token count) row's time at the same y, where that row was
 * measured at y. */
static int rows_envelope(struct row_curve *g)
{
    int i, j;
    bool unused = false;

    for (i = g->n - 2; i >= 0; i--) {
        const struct curve *nx = &g->rows[i + 1];
        struct curve *cu = &g->rows[i];
        for (j = 0; j < cu->n; j++) {
            double y = cu->x[j], lt;
            if (y < nx->x[0] - 1e-9 || y > nx->x[nx->n - 1] + 1e-9)
                continue;
            lt = log(curve_time(nx, y, 0, &unused));
            if (cu->lt[j] > lt)
                cu->lt[j] = lt;
        }
        if (curve_refit(cu) != LLM_OK)
            return LLM_ENOMEM;
    }
    return LLM_OK;
}

static int make_attn(struct build *b, struct attn_key *a, size_t first,
                     size_t n, bool prefill)
{
    size_t i = first, j;
    int rc = LLM_OK;

    a->qh = (int32_t)b->rs->r[first].v[0];
    a->kvh = (int32_t)b->rs->r[first].v[1];
    a->hd = (int32_t)b->rs->r[first].v[2];
    a->kvb = b->kv_bytes;
    a->l_qh = log((double)a->qh);
    a->l_ratio = log((double)a->qh / a->kvh);
    a->l_hd = log((double)a->hd);
    a->g.r = calloc(n, sizeof(double));
    a->g.rows = calloc(n, sizeof(struct curve));
    if (a->g.r == NULL || a->g.rows == NULL)
        return LLM_ENOMEM;
    while (i < first + n && rc == LLM_OK) {
        for (j = i + 1; j < first + n && same4(&b->rs->r[i], &b->rs->r[j]);
             j++)
            ;
        rc = make_attn_row(b, &a->g, i, j - i, prefill);
        i = j;
    }
    return rc ? rc : rows_envelope(&a->g);
}

static int make_pre(void *ctx, size_t first, size_t n)
{
    struct build *b = ctx;

    if (b->set != NULL)
        return make_attn(b, &b->set->pre[b->set->n_pre++], first, n, true);
    return make_attn(b, &b->c->pre[b->c->n_pre++], first, n, true);
}

static int make_dec(void *ctx, size_t first, size_t n)
{
    struct build *b = ctx;

    if (b->set != NULL)
        return make_attn(b, &b->set->dec[b->set->n_dec++], first, n, false);
    return make_attn(b, &b->c->dec[b->c->n_dec++], first, n, false);
}

static int make_dec8(void *ctx, size_t first, size_t n)
{
    struct build *b = ctx;

    return make_attn(b, &b->c->dec8[b->c->n_dec8++], first, n, false);
}

/* elementwise rows: op | width, tokens, time_us */
static int make_elem(void *ctx, size_t first, size_t n)
{
    struct build *b = ctx;
    struct elem_key *e = b->torch ? &b->c->el_torch[b->c->n_el_torch++]
                                  : &b->c->el[b->c->n_el++];
    size_t i;

    snprintf(e->op, sizeof(e->op), "%s", b->rs->r[first].s);
    e->width = (int64_t)b->rs->r[first].v[0];
    for (i = 0; i < n; i++) {
        const double *v = b->rs->r[first + i].v;
        b->x[i] = log(v[1]);
        b->t[i] = v[2] * 1e-6;
        b->sol[i] = sol_elem(&b->c->dev, v[1], v[0]);
    }
    return curve_build(&e->c, b->x, b->t, b->sol, (int)n, INFINITY);
}

/* Reads one table file and builds its groups. */
static int load_table(struct build *b, const char *dir, const char *file,
                      const char *str, const char *const *cols, int ncols,
                      bool (*same)(const struct csv_row *,
                                   const struct csv_row *),
                      group_fn *make, void **keys, size_t key_size,
                      struct llm_diag *d)
{
    char path[1200];
    struct csv_rows rs = { 0 };
    int rc;

    snprintf(path, sizeof(path), "%s/%s", dir, file);
    rc = csv_read(path, str, cols, ncols, &rs, d);
    if (rc == LLM_OK) {
        qsort(rs.r, rs.n, sizeof(*rs.r), cmp_rows);
        b->rs = &rs;
        b->x = malloc(rs.n * sizeof(double));
        b->t = malloc(rs.n * sizeof(double));
        b->sol = malloc(rs.n * sizeof(double));
        *keys = calloc(rs.n, key_size);
        if (b->x == NULL || b->t == NULL || b->sol == NULL || *keys == NULL)
            rc = diag_set(d, LLM_ENOMEM, "out of memory");
        else if (for_groups(&rs, same, make, b) != LLM_OK)
            rc = diag_set(d, LLM_ENOMEM, "out of memory");
        free(b->x);
        free(b->t);
        free(b->sol);
    }
    free(rs.r);
    return rc;
}

/* nccl_<name>.csv: rows of ranks, bytes, time_us (optional file). */
static int load_comm(struct calib *c, const char *dir, const char *name,
                     struct llm_diag *d)
{
    static const char *const cols[] = { "ranks", "bytes", "time_us" };
    char file[64], path[1200];
    struct csv_rows rs = { 0 };
    double bw = c->dev.peer_link.bw_bytes_s > 0 ? c->dev.peer_link.bw_bytes_s
                                                : 1e11;
    double *x = NULL, *t = NULL, *sl = NULL;
    size_t i = 0, j, k;
    FILE *f;
    int rc;

    snprintf(file, sizeof(file), "nccl_%s.csv", name);
    snprintf(path, sizeof(path), "%s/%s", dir, file);
    if ((f = fopen(path, "r")) == NULL)
        return LLM_OK;
    fclose(f);
    rc = csv_read(path, NULL, cols, 3, &rs, d);
    if (rc == LLM_OK) {
        qsort(rs.r, rs.n, sizeof(*rs.r), cmp_rows);
        x = malloc(rs.n * sizeof(double));
        t = malloc(rs.n * sizeof(double));
        sl = malloc(rs.n * sizeof(double));
        if (x == NULL || t == NULL || sl == NULL)
            rc = diag_set(d, LLM_ENOMEM, "out of memory");
    }
    while (rc == LLM_OK && i < rs.n && c->n_comm < 16) {
        struct comm_key *ck = &c->comm[c->n_comm++];
        for (j = i; j < rs.n && rs.r[j].v[0] == rs.r[i].v[0]; j++) {
            k = j - i;
            x[k] = log(rs.r[j].v[1] > 1 ? rs.r[j].v[1] : 1);
            t[k] = rs.r[j].v[2] * 1e-6;
            sl[k] = rs.r[j].v[1] / bw;
        }
        snprintf(ck->name, sizeof(ck->name), "%s", name);
        ck->ranks = (int32_t)rs.r[i].v[0];
        if (curve_build(&ck->c, x, t, sl, (int)(j - i), INFINITY) != LLM_OK)
            rc = diag_set(d, LLM_ENOMEM, "out of memory");
        i = j;
    }
    free(x);
    free(t);
    free(sl);
    free(rs.r);
    return rc;
}

/* A what,time_us table (launch.csv, eager.csv) into rows of seconds. */
static int load_keyed(const char *dir, const char *file,
                      struct launch_row **out, int *n, struct llm_diag *d)
{
    static const char *const cols[] = { "time_us" };
    char path[1200];
    struct csv_rows rs = { 0 };
    size_t i;
    int rc;

    snprintf(path, sizeof(path), "%s/%s", dir, file);
    rc = csv_read(path, "what", cols, 1, &rs, d);
    if (rc == LLM_OK && (*out = calloc(rs.n + 1, sizeof(**out))) == NULL)
        rc = diag_set(d, LLM_ENOMEM, "out of memory");
    for (i = 0; rc == LLM_OK && i < rs.n; i++) {
        snprintf((*out)[i].what, sizeof((*out)[i].what), "%s", rs.r[i].s);
        (*out)[i].s = rs.r[i].v[0] * 1e-6;
        (*n)++;
    }
    free(rs.r);
    return rc;
}

/* The suffix of an attention table of another backend: "vllm_triton" of
 * attn_decode_vllm_triton.csv; NULL for anything else (the FA2 tables,
 * attn_decode_sched.csv, the ragged check). */
static const char *backend_of(const char *file, bool *decode)
{
    static const char *const heads[] = { "attn_decode_", "attn_prefill_" };
    size_t n = strlen(file);

    /* fp8-KV tables are FA2's (attn_decode_fp8kv.csv, loaded with the
     * KV bytes they were measured at); another backend's fp8 cache is its
     * bf16 table carried to one byte per element */
    if (n < 5 || strcmp(file + n - 4, ".csv") != 0 ||
        strcmp(file, "attn_decode_sched.csv") == 0 ||
        (n >= 10 && strcmp(file + n - 10, "_fp8kv.csv") == 0))
        return NULL;
    for (int i = 0; i < 2; i++) {
        size_t h = strlen(heads[i]);
        if (strncmp(file, heads[i], h) == 0 && n > h + 4) {
            *decode = i == 0;
            return file + h;
        }
    }
    return NULL;
}

static struct attn_set *set_for(struct calib *c, const char *name, size_t n)
{
    int i;

    for (i = 1; i < c->n_sets; i++)
        if (strlen(c->sets[i].name) == n &&
            strncmp(c->sets[i].name, name, n) == 0)
            return &c->sets[i];
    if (c->n_sets == 0)
        c->n_sets = 1;         /* sets[0] is the FA2 tables (pre, dec) */
    if (c->n_sets >= CALIB_MAX_SETS || n >= sizeof(c->sets[0].name))
        return NULL;
    snprintf(c->sets[c->n_sets].name, sizeof(c->sets[0].name), "%.*s",
             (int)n, name);
    return &c->sets[c->n_sets++];
}

/* Every attn_{prefill,decode}_<backend>.csv of dir, in name order (the
 * order files are read in does not change a lookup, but a deterministic
 * load is easier to reason about). */
static int load_sets(struct build *b, const char *dir,
                     const char *const *pre_cols, const char *const *dec_cols,
                     struct llm_diag *d)
{
    struct dirent **list = NULL;
    int n = scandir(dir, &list, NULL, alphasort), rc = LLM_OK;

    for (int i = 0; i < n; i++) {
        bool dec = false;
        const char *f = list[i]->d_name, *name = backend_of(f, &dec);
        struct attn_set *set = NULL;
        if (rc == LLM_OK && name != NULL &&
            (set = set_for(b->c, name, strlen(name) - 4)) != NULL) {
            b->set = set;
            rc = dec ? load_table(b, dir, f, NULL, dec_cols, 6, same3,
                                  make_dec, (void **)&set->dec,
                                  sizeof(struct attn_key), d)
                     : load_table(b, dir, f, NULL, pre_cols, 6, same3,
                                  make_pre, (void **)&set->pre,
                                  sizeof(struct attn_key), d);
            b->set = NULL;
        }
        free(list[i]);
    }
    free(list);
    return rc;
}

static bool file_exists(const char *dir, const char *name)
{
    char path[1200];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "r");
    if (f != NULL)
        fclose(f);
    return f != NULL;
}

/* membw.csv (optional): the fastest read, as a fraction of the datasheet
 * bandwidth (the donor's side of calib_borrow's memory factor). */
static int load_read_peak(struct calib *c, const char *dir,
                          struct llm_diag *d)
{
    static const char *const cols[] = { "gb_s" };
    char path[1200];
    struct csv_rows rs = { 0 };
    size_t i;
    int rc;

    if (!file_exists(dir, "membw.csv"))
        return LLM_OK;
    snprintf(path, sizeof(path), "%s/membw.csv", dir);
    rc = csv_read(path, "op", cols, 1, &rs, d);
    for (i = 0; rc == LLM_OK && i < rs.n; i++)
        if (strcmp(rs.r[i].s, "read") == 0 &&
            rs.r[i].v[0] * 1e9 / c->dev.mem_bw_bytes_s > c->peak_read)
            c->peak_read = rs.r[i].v[0] * 1e9 / c->dev.mem_bw_bytes_s;
    free(rs.r);
    return rc;
}

/* The optional tables of low-bit kernels: gemm_w4a16.csv (a fused W4A16
 * GEMM, hw/calib/README.md) and attn_decode_fp8kv.csv (decode attention
 * over an fp8 KV cache). */
static int load_lowbit(struct build *b, const char *dir,
                       const char *const *gemm_cols,
                       const char *const *dec_cols, struct llm_diag *d)
{
    int rc = LLM_OK;

    b->dt = DT_INT4;
    b->w_bytes = W4A16_W_BYTES;
    if (file_exists(dir, "gemm_w4a16.csv"))
        rc = load_table(b, dir, "gemm_w4a16.csv", NULL, gemm_cols, 4, same2,
                        make_gemm, (void **)&b->c->w4,
                        sizeof(struct gemm_key), d);
    b->kv_bytes = 1;
    if (!rc && file_exists(dir, "attn_decode_fp8kv.csv"))
        rc = load_table(b, dir, "attn_decode_fp8kv.csv", NULL, dec_cols, 6,
                        same3, make_dec8, (void **)&b->c->dec8,
                        sizeof(struct attn_key), d);
    b->kv_bytes = 2;
    return rc;
}

int calib_load(const char *dir, const struct device *dev, struct calib **out,
               struct llm_diag *d)
{
    static const char *const gemm_cols[] = { "n", "k", "m", "time_us" };
    static const char *const pre_cols[] = { "num_q_heads", "num_kv_heads",
        "head_dim", "q_tokens", "prior_ctx", "time_us" };
    static const char *const dec_cols[] = { "num_q_heads", "num_kv_heads",
        "head_dim", "batch", "ctx", "time_us" };
    static const char *const el_cols[] = { "width", "tokens", "time_us" };
    struct calib *c = calloc(1, sizeof(*c));
    struct build b = { .c = c };
    int rc;

    if (c == NULL)
        return diag_set(d, LLM_ENOMEM, "out of memory");
    c->dev = *dev;
    c->qdev = *dev;
    c->kv_bytes = 2;
    b.dt = DT_BF16;
    b.w_bytes = 2;
    b.kv_bytes = 2;
    rc = load_table(&b, dir, "gemm_bf16.csv", NULL, gemm_cols, 4, same2,
                    make_gemm, (void **)&c->gemm[DT_BF16],
                    sizeof(struct gemm_key), d);
    b.dt = DT_FP8;
    b.w_bytes = 1;
    if (!rc) rc = load_table(&b, dir, "gemm_fp8.csv", NULL, gemm_cols, 4,
                             same2, make_gemm, (void **)&c->gemm[DT_FP8],
                             sizeof(struct gemm_key), d);
    /* linear_torch.csv: GEMMs timed through torch.mm, the call the
     * serving engine makes; it runs a different (slower) algorithm than
     * cuBLASLt's top heuristic for many shapes, so it is the primary bf16
     * table where it exists. */
    b.dt = DT_COUNT;
    b.w_bytes = 2;
    if (!rc && file_exists(dir, "linear_torch.csv"))
        rc = load_table(&b, dir, "linear_torch.csv", NULL, gemm_cols, 4,
                        same2, make_gemm, (void **)&c->lin,
                        sizeof(struct gemm_key), d);
    if (!rc) rc = load_table(&b, dir, "attn_prefill.csv", NULL, pre_cols, 6,
                             same3, make_pre, (void **)&c->pre,
                             sizeof(struct attn_key), d);
    if (!rc) rc = load_table(&b, dir, "attn_decode.csv", NULL, dec_cols, 6,
                             same3, make_dec, (void **)&c->dec,
                             sizeof(struct attn_key), d);
    if (!rc) rc = load_table(&b, dir, "elementwise.csv", "op", el_cols, 3,
                             same_elem, make_elem, (void **)&c->el,
                             sizeof(struct elem_key), d);
    b.torch = true;
    if (!rc && file_exists(dir, "elementwise_torch.csv"))
        rc = load_table(&b, dir, "elementwise_torch.csv", "op", el_cols, 3,
                        same_elem, make_elem, (void **)&c->el_torch,
                        sizeof(struct elem_key), d);
    b.torch = false;
    if (!rc) rc = load_sets(&b, dir, pre_cols, dec_cols, d);
    if (!rc) rc = load_keyed(dir, "launch.csv", &c->ln, &c->n_ln, d);
    if (!rc && file_exists(dir, "eager.csv"))
        rc = load_keyed(dir, "eager.csv", &c->eg, &c->n_eg, d);
    if (!rc && file_exists(dir, "attn_decode_sched.csv"))
        rc = load_keyed(dir, "attn_decode_sched.csv", &c->ds, &c->n_ds, d);
    if (!rc) rc = load_comm(c, dir, "allreduce", d);
    if (!rc) rc = load_comm(c, dir, "allgather", d);
    if (!rc) rc = load_comm(c, dir, "reducescatter", d);
    if (!rc) rc = load_comm(c, dir, "alltoall", d);
    if (!rc) rc = load_lowbit(&b, dir, gemm_cols, dec_cols, d);
    if (!rc) rc = load_read_peak(c, dir, d);
    if (rc) {
        calib_free(c);
        return rc;
    }
    *out = c;
    return LLM_OK;
}

static void attn_free(struct attn_key *a, int n)
{
    int i, j;

    for (i = 0; a && i < n; i++) {
        for (j = 0; j < a[i].g.n; j++)
            curve_free(&a[i].g.rows[j]);
        free(a[i].g.rows);
        free(a[i].g.r);
    }
    free(a);
}

void calib_free(struct calib *c)
{
    int i, t;

    if (c == NULL)
        return;
    for (t = 0; t < DT_COUNT; t++) {
        for (i = 0; i < c->n_gemm[t]; i++)
            curve_free(&c->gemm[t][i].c);
        free(c->gemm[t]);
    }
    for (i = 0; i < c->n_lin; i++)
        curve_free(&c->lin[i].c);
    free(c->lin);
    for (i = 0; i < c->n_w4; i++)
        curve_free(&c->w4[i].c);
    free(c->w4);
    attn_free(c->pre, c->n_pre);
    attn_free(c->dec, c->n_dec);
    attn_free(c->dec8, c->n_dec8);
    for (i = 0; i < c->n_el; i++)
        curve_free(&c->el[i].c);
    free(c->el);
    for (i = 0; i < c->n_el_torch; i++)
        curve_free(&c->el_torch[i].c);
    free(c->el_torch);
    for (i = 1; i < c->n_sets; i++) {
        attn_free(c->sets[i].pre, c->sets[i].n_pre);
        attn_free(c->sets[i].dec, c->sets[i].n_dec);
    }
    free(c->ln);
    free(c->eg);
    free(c->ds);
    for (i = 0; i < c->n_comm; i++)
        curve_free(&c->comm[i].c);
    free(c);
}

/* --------------------------------------------------------------- lookups */

/* The time factor of a borrowed table for a query in the compute-bound
 * (f_compute) or memory-bound regime of the priced device; 1 for a
 * device's own tables. */
static double br_factor(const struct calib *c, bool compute, double f_compute)
{
    if (!c->br.on)
        return 1;
    return compute ? f_compute : c->br.mem;
}

/* The (n, k) of a table nearest to the query, by log distance. */
static const struct gemm_key *gemm_nearest(const struct gemm_key *g, int n,
                                           int64_t qn, int64_t qk,
                                           double *dist)
{
    const struct gemm_key *best = NULL;
    int i;

    /* The first exact shape is what the scan below returns for it (its
     * distance is 0, every other is positive), without two logarithms a
     * key: a run's dense-part misses price the same shapes (issue 24). */
    for (i = 0; i < n; i++)
        if (g[i].n == qn && g[i].k == qk) {
            *dist = 0;
            return &g[i];
        }
    *dist = INFINITY;
    for (i = 0; i < n; i++) {
        double dd = fabs(log((double)g[i].n / qn)) +
                    fabs(log((double)g[i].k / qk));
        if (dd < *dist) {
            *dist = dd;
            best = &g[i];
        }
    }
    return best;
}

/* The time of table g (measured with w_bytes weights) at (m, g->n, g->k),
 * carried at the same utilization to the query (m, n, k) with qw_bytes
 * weights on the priced device: identity when the shapes, weights and
 * device match.  Never below the query's speed of light. */
static double gemm_carry(const struct calib *c, const struct gemm_key *g,
                         double w_bytes, int64_t m, int64_t n, int64_t k,
                         double qw_bytes, bool *extrap)
{
    double sol_t = calib_sol_gemm_s(&c->dev, w_bytes, (double)m,
                                    (double)g->n, (double)g->k);
    double tc, tm, sol_q, t;

    gemm_times(&c->qdev, gemm_peak(&c->qdev, qw_bytes), qw_bytes, (double)m,
               (double)n, (double)k, &tc, &tm);
    sol_q = tc > tm ? tc : tm;
    t = curve_time(&g->c, log((double)m), sol_t, extrap) * sol_q / sol_t *
        br_factor(c, tc > tm, c->br.gemm_c);
    return t > sol_q ? t : sol_q;
}

/* The nearest measured (n, k) for weights of table type tab: bf16 looks
 * at the engine's own GEMMs first, then cuBLASLt's table. */
static const struct gemm_key *gemm_best(const struct calib *c, enum dtype tab,
                                        int64_t n, int64_t k, double *best_d)
{
    const struct gemm_key *best = NULL, *g;
    double dist;

    *best_d = INFINITY;
    if (tab == DT_BF16 && c->n_lin > 0)
        best = gemm_nearest(c->lin, c->n_lin, n, k, best_d);
    if (*best_d > 1e-9) {
        g = gemm_nearest(c->gemm[tab], c->n_gemm[tab], n, k, &dist);
        if (g != NULL && dist + 1e-9 < *best_d) {
            best = g;
            *best_d = dist;
        }
    }
    return best;
}

/* A table lookup carried to query weights of qw_bytes. */
static double gemm_lookup(const struct calib *c, enum dtype tab, int64_t m,
                          int64_t n, int64_t k, double qw_bytes, bool *extrap)
{
    double best_d, w_bytes = tab == DT_FP8 ? 1.0 : 2.0;
    const struct gemm_key *best = gemm_best(c, tab, n, k, &best_d);

    if (best == NULL) {
        *extrap = true;
        return calib_sol_gemm_s(&c->qdev, qw_bytes, (double)m, (double)n,
                                (double)k);
    }
    if (best_d > 1e-9)
        *extrap = true;        /* a shape the tables do not hold */
    return gemm_carry(c, best, w_bytes, m, n, k, qw_bytes, extrap);
}

double calib_gemm_s(const struct calib *c, enum dtype dt, int64_t m,
                    int64_t n, int64_t k, bool *extrap)
{
    enum dtype tab = dt == DT_FP8 && c->n_gemm[DT_FP8] ? DT_FP8 : DT_BF16;

    if (tab != dt && dt != DT_FP16)
        *extrap = true;        /* int8 priced from bf16 utilization */
    return gemm_lookup(c, tab, m, n, k, dt == DT_FP8 ? 1.0 : 2.0, extrap);
}

bool calib_gemm_has_shape(const struct calib *c, int64_t n, int64_t k)
{
    double d;

    return gemm_best(c, DT_BF16, n, k, &d) != NULL && d <= 1e-9;
}

double calib_gemm_w4a16_s(const struct calib *c, int64_t m, int64_t n,
                          int64_t k, bool *extrap)
{
    double d, t, dq;
    const struct gemm_key *g;

    if (c->n_w4 > 0) {         /* measured: gemm_w4a16.csv */
        g = gemm_nearest(c->w4, c->n_w4, n, k, &d);
        if (d > 1e-9)
            *extrap = true;
        return gemm_carry(c, g, W4A16_W_BYTES, m, n, k, W4A16_W_BYTES,
                          extrap);
    }
    /* Published (Marlin, Frantar et al. 2024, arXiv:2408.11743 and its
     * README: "essentially ideal" speedups over fp16 at every batch size,
     * ideal = the roofline of 4-bit weights with group scales; Machete
     * matches fp16 when compute-bound): the bf16 table's utilization at
     * the W4A16 speed of light.  Dequantization runs on the CUDA cores
     * beside the MMAs (2 operations per weight per 64-row M tile), so it
     * costs time only where it is the longer of the two. */
    t = gemm_lookup(c, DT_BF16, m, n, k, W4A16_W_BYTES, extrap);
    dq = 2.0 * (double)n * (double)k * (double)((m + 63) / 64) /
         c->qdev.peak_flops[DT_FP32];
    return t > dq ? t : dq;
}

/* The measured head configuration nearest to (qh, kvh, hd): same GQA
 * ratio and head size first, then the closest number of heads. */
static const struct attn_key *attn_nearest(const struct attn_key *a, int n,
                                           int32_t qh, int32_t kvh,
                                           int32_t hd, bool *extrap)
{
    const struct attn_key *best = NULL;
    double best_d = INFINITY, l_qh, l_ratio, l_hd;
    int i;

    for (i = 0; i < n; i++)       /* an exact match needs no logarithms */
        if (a[i].qh == qh && a[i].kvh == kvh && a[i].hd == hd)
            return &a[i];
    l_qh = log((double)qh);
    l_ratio = log((double)qh / kvh);
    l_hd = log((double)hd);
    for (i = 0; i < n; i++) {
        double dist = 4 * fabs(a[i].l_ratio - l_ratio) +
                      4 * fabs(a[i].l_hd - l_hd) + fabs(a[i].l_qh - l_qh);
        if (dist < best_d) {
            best_d = dist;
            best = &a[i];
        }
    }
    if (best_d > 1e-9)
        *extrap = true;
    return best;
}

/* Speed of light of a measured head configuration at grid coordinates:
 * prefill (r = log q tokens, y = log(1 + prior)), decode (r = log batch,
 * y = log context), on the tables' device at the table's KV bytes. */
struct attn_sol_ctx {
    const struct device *dev;
    const struct attn_key *a;
};

static double pre_sol(const void *ctx, double r, double y)
{
    const struct attn_sol_ctx *s = ctx;

    return sol_prefill(s->dev, s->a->qh, s->a->kvh, s->a->hd, exp(r),
                       expm1(y), s->a->kvb);
}

static double dec_sol(const void *ctx, double r, double y)
{
    const struct attn_sol_ctx *s = ctx;

    return sol_decode(s->dev, s->a->qh, s->a->kvh, s->a->hd, exp(r), exp(y),
                      s->a->kvb);
}

/* The table's time at its own heads, carried to the query (heads, KV
 * bytes, device) at the same utilization times the borrowed regime factor
 * f, and never below the query's speed of light. */
static double attn_time(const struct calib *c, const struct attn_key *a,
                        bool exact, sol_fn *sol, double r, double y,
                        double sol_q, double f, bool *extrap)
{
    struct attn_sol_ctx ctx = { &c->dev, a };
    double t;

    if (a == NULL) {
        *extrap = true;
        return sol_q;
    }
    t = grid_time(&a->g, r, y, sol, &ctx, extrap);
    if (!exact)                /* carry to the query */
        t *= sol_q / sol(&ctx, r, y);
    t *= f;
    return t > sol_q ? t : sol_q;
}

int calib_attn_set(const struct calib *c, const char *name)
{
    if (name == NULL || name[0] == '\0')
        return 0;
    for (int i = 1; i < c->n_sets; i++)
        if (strcmp(c->sets[i].name, name) == 0)
            return i;
    return -1;
}

bool calib_attn_set_has(const struct calib *c, int set, bool decode)
{
    if (set <= 0 || set >= c->n_sets)
        return set == 0;
    return decode ? c->sets[set].n_dec > 0 : c->sets[set].n_pre > 0;
}

/* Whether key a is the query's own: same heads, KV bytes and device. */
static bool attn_exact(const struct calib *c, const struct attn_key *a,
                       int32_t qh, int32_t kvh, int32_t hd)
{
    return a && a->qh == qh && a->kvh == kvh && a->hd == hd &&
           a->kvb == c->kv_bytes && !c->br.on;
}

bool calib_attn_has_heads(const struct calib *c, int32_t qh, int32_t kvh,
                          int32_t hd)
{
    bool x = false;

    attn_nearest(c->pre, c->n_pre, qh, kvh, hd, &x);
    attn_nearest(c->dec, c->n_dec, qh, kvh, hd, &x);
    return !x;
}

double calib_attn_prefill_set_s(const struct calib *c, int set, int32_t qh,
                                int32_t kvh, int32_t hd, int64_t q_tokens,
                                int64_t prior, bool *extrap)
{
    bool own = calib_attn_set_has(c, set, false) && set > 0;
    const struct attn_key *a = attn_nearest(own ? c->sets[set].pre : c->pre,
                                            own ? c->sets[set].n_pre
                                                : c->n_pre,
                                            qh, kvh, hd, extrap);
    double q = (double)q_tokens, p = (double)prior;
    double flops = 4.0 * qh * hd * (q * p + q * (q + 1) / 2.0);
    double bytes = (p + q) * 2.0 * kvh * hd * c->kv_bytes + q * qh * hd * 4.0;

    return attn_time(c, a, attn_exact(c, a, qh, kvh, hd), pre_sol, log(q),
                     log1p(p), calib_sol_attn_s(&c->qdev, flops, bytes),
                     br_factor(c, attn_compute_bound(&c->qdev, flops, bytes),
                               c->br.attn_c), extrap);
}

double calib_attn_prefill_s(const struct calib *c, int32_t qh, int32_t kvh,
                            int32_t hd, int64_t q_tokens, int64_t prior,
                            bool *extrap)
{
    return calib_attn_prefill_set_s(c, 0, qh, kvh, hd, q_tokens, prior,
                                    extrap);
}

double calib_attn_decode_set_s(const struct calib *c, int set, int32_t qh,
                               int32_t kvh, int32_t hd, int64_t batch,
                               double ctx, bool *extrap)
{
    double cx = ctx > 1 ? ctx : 1, bt = (double)batch;
    bool own = calib_attn_set_has(c, set, true) && set > 0;
    bool fp8 = c->kv_bytes == 1.0 && c->n_dec8 > 0 && !own;
    const struct attn_key *a = attn_nearest(fp8 ? c->dec8 : own ?
                                            c->sets[set].dec : c->dec,
                                            fp8 ? c->n_dec8 : own ?
                                            c->sets[set].n_dec : c->n_dec,
                                            qh, kvh, hd, extrap);
    double flops = 4.0 * qh * hd * (cx + 1) * bt;
    double bytes = bt * ((cx + 1) * 2.0 * kvh * hd * c->kv_bytes +
                         qh * hd * 4.0);

    return attn_time(c, a, attn_exact(c, a, qh, kvh, hd), dec_sol,
                     log(bt), log(cx),
                     calib_sol_attn_s(&c->qdev, flops, bytes),
                     br_factor(c, attn_compute_bound(&c->qdev, flops, bytes),
                               c->br.attn_c), extrap);
}

double calib_attn_decode_s(const struct calib *c, int32_t qh, int32_t kvh,
                           int32_t hd, int64_t batch, double ctx,
                           bool *extrap)
{
    return calib_attn_decode_set_s(c, 0, qh, kvh, hd, batch, ctx, extrap);
}

bool calib_has_elem(const struct calib *c, const char *op)
{
    bool torch = strncmp(op, "torch.", 6) == 0;
    const struct elem_key *el = torch ? c->el_torch : c->el;
    int n = torch ? c->n_el_torch : c->n_el;

    for (int i = 0; i < n; i++)
        if (strcmp(el[i].op, op + (torch ? 6 : 0)) == 0)
            return true;
    return false;
}

double calib_elem_s(const struct calib *c, const char *op, int64_t tokens,
                    int64_t width, bool *extrap)
{
    bool torch = strncmp(op, "torch.", 6) == 0;
    const struct elem_key *el = torch ? c->el_torch : c->el;
    int n_el = torch ? c->n_el_torch : c->n_el;
    const struct elem_key *best = NULL;
    double best_d = INFINITY, sol_t, sol_q, t;
    int i;

    if (torch)
        op += 6;
    for (i = 0; i < n_el; i++) {
        double dist;
        if (el[i].op[0] != op[0] || strcmp(el[i].op, op) != 0)
            continue;
        dist = fabs(log((double)el[i].width / width));
        if (dist < best_d) {
            best_d = dist;
            best = &el[i];
        }
    }
    sol_q = sol_elem(&c->qdev, (double)tokens, (double)width);
    if (best == NULL) {
        *extrap = true;
        return sol_q;
    }
    if (best_d > 1e-9)
        *extrap = true;
    sol_t = sol_elem(&c->dev, (double)tokens, (double)best->width);
    t = curve_time(&best->c, log((double)tokens), sol_t, extrap) * sol_q /
        sol_t * br_factor(c, false, 1);
    return t > sol_q ? t : sol_q;
}

/* The value of row `what` of a what,time_us table, or `missing`. */
static double keyed_s(const struct launch_row *rows, int n, const char *what,
                      double missing)
{
    for (int i = 0; i < n; i++)
        if (strcmp(rows[i].what, what) == 0)
            return rows[i].s;
    return missing;
}

double calib_launch_s(const struct calib *c, const char *what)
{
    return keyed_s(c->ln, c->n_ln, what, 0);
}

bool calib_has_eager(const struct calib *c)
{
    return c->n_eg > 0;
}

double calib_eager_s(const struct calib *c, const char *what)
{
    return keyed_s(c->eg, c->n_eg, what, -1);
}

double calib_decode_sched_s(const struct calib *c, const char *what)
{
    return keyed_s(c->ds, c->n_ds, what, -1);
}

/* A device's peer-link bandwidth (1e11 where the catalog gives none). */
static double peer_bw(const struct device *dev)
{
    return dev->peer_link.bw_bytes_s > 0 ? dev->peer_link.bw_bytes_s : 1e11;
}

double calib_comm_s(const struct calib *c, const char *name, int32_t ranks,
                    double bytes, bool *extrap)
{
    double bw = peer_bw(&c->dev);
    int i;

    if (bytes <= 0)
        return 0;
    /* borrowed: the same bus-bandwidth utilization on the target's link */
    for (i = 0; i < c->n_comm; i++)
        if (c->comm[i].ranks == ranks && strcmp(c->comm[i].name, name) == 0)
            return curve_time(&c->comm[i].c, log(bytes), bytes / bw, extrap) *
                   bw / peer_bw(&c->qdev);
    return -1;
}

/* Published efficiency over the donor's measured one, as a time factor;
 * 1 where either is unknown. */
static double eff_factor(double donor_peak, double published)
{
    if (donor_peak <= 0 || published <= 0)
        return 1;
    return (donor_peak < 1 ? donor_peak : 1) / published;
}

void calib_borrow(struct calib *c, const struct device *target)
{
    const struct device_eff *e = &target->published_eff;

    c->qdev = *target;
    c->br.on = true;
    c->br.gemm_c = eff_factor(c->peak_gemm_c, e->gemm);
    c->br.attn_c = eff_factor(c->peak_attn_c, e->attention);
    c->br.mem = eff_factor(c->peak_read, e->memory);
}

void calib_set_kv_bytes(struct calib *c, double kv_bytes)
{
    c->kv_bytes = kv_bytes > 0 ? kv_bytes : 2;
}

double calib_read_peak(const struct calib *c)
{
    return c->peak_read;
}

int calib_borrow_comm(struct calib *c, const char *dir, struct llm_diag *d)
{
    static const char *const names[] = { "allreduce", "allgather",
                                         "reducescatter", "alltoall" };
    int rc = LLM_OK;

    if (c->n_comm > 0)
        return LLM_OK;
    for (size_t i = 0; rc == LLM_OK && i < sizeof(names) / sizeof(*names);
         i++)
        rc = load_comm(c, dir, names[i], d);
    return rc;
}
