#include "analysis/plot.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <gsl/gsl_sort.h>
#include <sqlite3.h>

#include "analysis/iterlog.h"
#include "analysis/store.h"
#include "analysis/sweep.h"

/* Points per CDF line and bins per timeline: enough for a smooth curve
 * at the figure's resolution, small enough that the files stay tiny. */
#define CDF_POINTS 2000
#define TIMELINE_BINS 500

/* ---- text buffer and the job ----------------------------------------- */

struct sbuf {
    char *s;
    size_t n, cap;
    bool oom;
};

static void sb_printf(struct sbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
    va_list ap;
    int k;

    for (;;) {
        if (b->oom)
            return;
        va_start(ap, fmt);
        k = vsnprintf(b->s ? b->s + b->n : NULL, b->s ? b->cap - b->n : 0,
                      fmt, ap);
        va_end(ap);
        if (k >= 0 && b->s && b->n + (size_t)k < b->cap) {
            b->n += (size_t)k;
            return;
        }
        size_t ncap = (b->cap + (size_t)k + 1) * 2;
        char *ns = realloc(b->s, ncap);
        if (k < 0 || ns == NULL) {
            b->oom = true;
            return;
        }
        b->s = ns;
        b->cap = ncap;
    }
}

struct job {
    char out[1024], stage[1100];
    struct sbuf script;
    char (*files)[80];           /* staged names, renamed into out */
    size_t n_files, cap_files;
    struct plot_list *made;
};

static int job_note(struct job *j, const char *name, struct llm_diag *d)
{
    if (j->n_files == j->cap_files) {
        size_t ncap = j->cap_files ? 2 * j->cap_files : 64;
        char (*nf)[80] = realloc(j->files, ncap * sizeof(*nf));
        if (nf == NULL)
            return diag_set(d, LLM_ENOMEM, "out of memory");
        j->files = nf;
        j->cap_files = ncap;
    }
    snprintf(j->files[j->n_files++], sizeof(j->files[0]), "%s", name);
    return LLM_OK;
}

/* A staged file for writing, noted for the final rename. */
static FILE *job_open(struct job *j, const char *name, struct llm_diag *d)
{
    char path[1200];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", j->stage, name);
    f = fopen(path, "w");
    if (f == NULL) {
        diag_set(d, LLM_EIO, "cannot write %s: %s", path, strerror(errno));
        return NULL;
    }
    if (job_note(j, name, d) != LLM_OK) {
        fclose(f);
        return NULL;
    }
    return f;
}

static int job_close(FILE *f, const char *name, struct llm_diag *d)
{
    bool ok = !ferror(f);

    ok = fclose(f) == 0 && ok;
    return ok ? LLM_OK : diag_set(d, LLM_EIO, "cannot write %s", name);
}

/* U+2019, the typographic apostrophe, in UTF-8. */
#define GP_APOSTROPHE "\xe2\x80\x99"

const char *plot_gp_str(const char *s, char *buf, size_t len)
{
    size_t o = 0, k, w;
    unsigned char c;

    buf[o++] = '\'';
    for (; *s; s += k) {
        c = (unsigned char)*s;
        /* a whole UTF-8 character (lead byte, then continuations) */
        for (k = 1; c >= 0xc0 && (s[k] & 0xc0) == 0x80 && k < 4; k++)
            ;
        w = c == '\'' ? 3 : k;
        if (o + w + 2 > len)
            break;               /* room for the closing quote and NUL */
        if (c == '\'')
            memcpy(buf + o, GP_APOSTROPHE, 3);
        else if (c < 0x20 || c == 0x7f)
            buf[o] = ' ';        /* a single byte: w is 1 */
        else
            memcpy(buf + o, s, k);
        o += w;
    }
    buf[o++] = '\'';
    buf[o] = '\0';
    return buf;
}

/* ---- labels from what differs (issue 18) ------------------------------ */

#define LABEL_MAX_KEYS 256

/* A config flattened to its leaves: "scheduler.name" -> "\"vllm\"". */
struct flat {
    char *key[LABEL_MAX_KEYS], *val[LABEL_MAX_KEYS];
    size_t n;
};

static void flat_add(struct flat *f, const char *prefix, const cJSON *o)
{
    const cJSON *it;
    char key[256];

    cJSON_ArrayForEach(it, o) {
        snprintf(key, sizeof(key), "%s%s%s", prefix, *prefix ? "." : "",
                 it->string ? it->string : "");
        if (cJSON_IsObject(it)) {
            flat_add(f, key, it);
        } else if (f->n < LABEL_MAX_KEYS) {
            f->key[f->n] = strdup(key);
            f->val[f->n] = cJSON_IsString(it) ? strdup(it->valuestring)
                                              : cJSON_PrintUnformatted(it);
            if (f->key[f->n] && f->val[f->n])
                f->n++;
        }
    }
}

/* Parses a JSON object's text into f ("output" is where a run wrote,
 * never what it was: left out). */
static void flat_parse(struct flat *f, const char *json)
{
    cJSON *o = json ? cJSON_Parse(json) : NULL;

    memset(f, 0, sizeof(*f));
    cJSON_DeleteItemFromObjectCaseSensitive(o, "output");
    if (o != NULL)
        flat_add(f, "", o);
    cJSON_Delete(o);
}

static void flat_free(struct flat *f)
{
    size_t i;

    for (i = 0; i < f->n; i++) {
        free(f->key[i]);
        free(f->val[i]);
    }
    f->n = 0;
}

static const char *flat_get(const struct flat *f, const char *key)
{
    size_t i;

    for (i = 0; i < f->n; i++)
        if (strcmp(f->key[i], key) == 0)
            return f->val[i];
    return NULL;
}

/* Whether key has another value (or none) in one of the n configs. */
static bool key_differs(const struct flat *fs, size_t n, const char *key)
{
    const char *v0 = flat_get(&fs[0], key), *v;
    size_t i;

    for (i = 1; i < n; i++) {
        v = flat_get(&fs[i], key);
        if ((v == NULL) != (v0 == NULL) || (v && strcmp(v, v0) != 0))
            return true;
    }
    return false;
}

/* key shortened to its last part ("hardware.tp" -> "tp") unless another
 * differing key ends the same way. */
static const char *short_key(const char *key, char *const *keys, size_t n)
{
    const char *dot = strrchr(key, '.'), *tail = dot ? dot + 1 : key;
    size_t i;

    for (i = 0; i < n; i++) {
        const char *d2 = strrchr(keys[i], '.');
        if (strcmp(keys[i], key) != 0 &&
            strcmp(d2 ? d2 + 1 : keys[i], tail) == 0)
            return key;
    }
    return tail;
}

/* Labels of n configs (JSON texts): the keys whose values differ, short,
 * "k=v, k=v"; fallback[i] where nothing differs; "#i" makes any label
 * that still repeats unique.  Writes out[i] (len bytes each). */
static void diff_labels(const char *const *json, size_t n,
                        const char *const *fallback, char (*out)[128])
{
    struct flat *fs = calloc(n + 1, sizeof(*fs));
    char *keys[LABEL_MAX_KEYS];
    size_t nk = 0, i, k, o;

    for (i = 0; fs && i < n; i++)
        flat_parse(&fs[i], json[i]);
    for (i = 0; fs && i < n; i++)       /* every key of any config */
        for (k = 0; k < fs[i].n && nk < LABEL_MAX_KEYS; k++) {
            size_t h;
            for (h = 0; h < nk && strcmp(keys[h], fs[i].key[k]); h++)
                ;
            if (h == nk && key_differs(fs, n, fs[i].key[k]))
                keys[nk++] = fs[i].key[k];
        }
    for (i = 0; i < n; i++) {
        const char *v;
        for (k = o = 0, out[i][0] = '\0'; fs && k < nk && o < 120; k++)
            o += (size_t)snprintf(out[i] + o, 128 - o, "%s%s=%s",
                                  o ? ", " : "", short_key(keys[k], keys, nk),
                                  (v = flat_get(&fs[i], keys[k])) ? v : "-");
        if (o == 0)
            snprintf(out[i], 128, "%s", fallback[i]);
    }
    for (i = 0; i < n; i++)
        for (k = i + 1; k < n; k++)
            if (strcmp(out[i], out[k]) == 0) {
                o = strlen(out[k]);
                snprintf(out[k] + (o < 118 ? o : 118), 128 - (o < 118 ? o : 118),
                         " #%zu", k);
            }
    for (i = 0; fs && i < n; i++)
        flat_free(&fs[i]);
    free(fs);
}

/* ---- figures ---------------------------------------------------------- */

struct fig {
    char name[64], title[160];
    int width, height;
    struct sbuf body;
};

static void fig_init(struct fig *f, const char *name, const char *title,
                     int w, int h)
{
    memset(f, 0, sizeof(*f));
    snprintf(f->name, sizeof(f->name), "%s", name);
    snprintf(f->title, sizeof(f->title), "%s", title);
    f->width = w;
    f->height = h;
}

/* The figure's body once per terminal; the images join the staged set. */
static int fig_emit(struct job *j, struct fig *f, struct llm_diag *d)
{
    static const struct { const char *term, *ext; } terms[] = {
        { "pngcairo", "png" }, { "svg", "svg" },
    };
    char file[96], qf[200], qt[400];
    size_t t;
    int rc = LLM_OK;

    if (f->body.oom || j->made->n >= PLOT_MAX_FIGURES) {
        free(f->body.s);
        return diag_set(d, f->body.oom ? LLM_ENOMEM : LLM_ERANGE,
                        "plot: too many figures (at most %d)",
                        PLOT_MAX_FIGURES);
    }
    for (t = 0; t < 2 && rc == LLM_OK; t++) {
        snprintf(file, sizeof(file), "%s.%s", f->name, terms[t].ext);
        sb_printf(&j->script, "\n# figure %s: %s\nreset\n"
                  "set terminal %s noenhanced size %d,%d font 'Sans,%d'\n"
                  "set output %s\n%sunset output\n", f->name,
                  plot_gp_str(f->title, qt, sizeof(qt)), terms[t].term,
                  f->width, f->height, t == 0 ? 10 : 12,
                  plot_gp_str(file, qf, sizeof(qf)),
                  f->body.s ? f->body.s : "");
        rc = job_note(j, file, d);
    }
    snprintf(j->made->name[j->made->n], sizeof(j->made->name[0]), "%s",
             f->name);
    snprintf(j->made->title[j->made->n++], sizeof(j->made->title[0]), "%s",
             f->title);
    free(f->body.s);
    return rc;
}

/* A panel's "plot" with no series: gnuplot refuses an empty plot. */
static void panel_empty(struct sbuf *b)
{
    sb_printf(b, "set label 1 'no data' at graph 0.5,0.5 center\n"
              "set xrange [0:1]\nset yrange [0:1]\nplot NaN notitle\n"
              "unset label 1\nset autoscale\n");
}

/* ---- run databases: CDFs and timelines -------------------------------- */

struct run_db {
    const char *path;
    sqlite3 *db;
    char *config;                /* the runs row's config (JSON text) */
    char label[128];
    size_t k;                    /* argument index */
    bool multi;                  /* several run databases given */
    double kv_blocks;
    int replicas;                /* with a timeline (iterations rows) */
    double bin_s;                /* its bin width */
};

static const struct {
    const char *key, *title, *axis, *sql;
} cdf_kinds[] = {
    { "ttft", "TTFT", "time to first token (ms)",
      "SELECT (first_token_ns - arrival_ns) / 1e6 FROM requests WHERE "
      "status = 'ok'" },
    { "tpot", "TPOT", "time per output token (ms)",
      "SELECT (finish_ns - first_token_ns) / 1e6 / (output_tokens - 1) "
      "FROM requests WHERE status = 'ok' AND output_tokens > 1" },
    { "e2e", "E2E latency", "end-to-end latency (ms)",
      "SELECT (finish_ns - arrival_ns) / 1e6 FROM requests WHERE "
      "status = 'ok'" },
};

static int read_column(sqlite3 *db, const char *sql, double **v, size_t *n)
{
    sqlite3_stmt *st;
    size_t cap = 0;
    double *nv;
    int rc = LLM_OK, srow = SQLITE_DONE;

    *v = NULL;
    *n = 0;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return LLM_EIO;
    while (rc == LLM_OK && (srow = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? 2 * cap : 1024;
            nv = realloc(*v, cap * sizeof(*nv));
            if (nv == NULL) {
                rc = LLM_ENOMEM;
                break;
            }
            *v = nv;
        }
        (*v)[(*n)++] = sqlite3_column_double(st, 0);
    }
    sqlite3_finalize(st);
    if (rc == LLM_OK && srow != SQLITE_DONE)
        rc = LLM_EIO;
    return rc;
}

/* The empirical CDF at up to CDF_POINTS order statistics: "value cdf". */
static int write_cdf(struct job *j, const struct run_db *r, size_t kind,
                     const char *name, size_t *n_out, struct llm_diag *d)
{
    double *v;
    size_t n, i, k, pts;
    FILE *f;
    char q[300];
    int rc = read_column(r->db, cdf_kinds[kind].sql, &v, &n);

    *n_out = n;
    if (rc != LLM_OK || n == 0) {
        free(v);
        return rc ? diag_set(d, rc, "%s: cannot read requests: %s",
                             r->path, sqlite3_errmsg(r->db)) : LLM_OK;
    }
    gsl_sort(v, 1, n);
    f = job_open(j, name, d);
    if (f == NULL) {
        free(v);
        return d->code;
    }
    fprintf(f, "# %s CDF of %s: value_ms fraction_of_requests (%zu "
            "requests)\n", cdf_kinds[kind].title,
            plot_gp_str(r->label, q, sizeof(q)), n);
    pts = n < CDF_POINTS ? n : CDF_POINTS;
    for (k = 0; k < pts; k++) {
        i = pts > 1 ? k * (n - 1) / (pts - 1) : 0;
        fprintf(f, "%.6g %.6g\n", v[i], (double)(i + 1) / (double)n);
    }
    free(v);
    return job_close(f, name, d);
}

/* The ITL CDF from the itl table's (gap, count) rows: the gap at up to
 * CDF_POINTS evenly spaced ranks of the pooled gaps, and the last. */
static int write_itl_cdf(struct job *j, const struct run_db *r,
                         const char *name, size_t *n_out, struct llm_diag *d)
{
    sqlite3_stmt *st;
    double total = 0, cum = 0, next = 0, step;
    char q[300];
    FILE *f;
    int srow;

    *n_out = 0;
    if (sqlite3_prepare_v2(r->db, "SELECT SUM(count) FROM itl", -1, &st,
                           NULL) != SQLITE_OK)
        return diag_set(d, LLM_EIO, "%s: cannot read itl: %s", r->path,
                        sqlite3_errmsg(r->db));
    srow = sqlite3_step(st);
    if (srow == SQLITE_ROW)
        total = sqlite3_column_double(st, 0);
    sqlite3_finalize(st);
    if (srow != SQLITE_ROW)
        return diag_set(d, LLM_EIO, "%s: cannot read itl: %s", r->path,
                        sqlite3_errmsg(r->db));
    if (!(total > 0))
        return LLM_OK;
    f = job_open(j, name, d);
    if (f == NULL)
        return d->code;
    if (sqlite3_prepare_v2(r->db, "SELECT gap_ns / 1e6, SUM(count) FROM itl "
            "GROUP BY gap_ns ORDER BY gap_ns", -1, &st, NULL) != SQLITE_OK) {
        fclose(f);
        return diag_set(d, LLM_EIO, "%s: %s", r->path, sqlite3_errmsg(r->db));
    }
    fprintf(f, "# ITL CDF of %s: value_ms fraction_of_gaps (%.0f gaps)\n",
            plot_gp_str(r->label, q, sizeof(q)), total);
    step = total / CDF_POINTS;
    while ((srow = sqlite3_step(st)) == SQLITE_ROW) {
        cum += sqlite3_column_double(st, 1);
        if (cum >= next || cum >= total) {
            fprintf(f, "%.6g %.6g\n", sqlite3_column_double(st, 0),
                    cum / total);
            next = cum + step;
            (*n_out)++;
        }
    }
    sqlite3_finalize(st);
    if (srow != SQLITE_DONE) {
        fclose(f);
        return diag_set(d, LLM_EIO, "%s: cannot read itl: %s", r->path,
                        sqlite3_errmsg(r->db));
    }
    return job_close(f, name, d);
}

/* One CDF panel: a line per run database with data. */
static int cdf_panel(struct job *j, struct fig *f, const struct run_db *runs,
                     size_t nr, size_t kind, struct llm_diag *d)
{
    char file[80], qf[200], q[300];
    size_t r, n, series = 0;
    int rc = LLM_OK;

    for (r = 0; r < nr && rc == LLM_OK; r++) {
        snprintf(file, sizeof(file), "cdf_%s_%zu.dat",
                 kind < 3 ? cdf_kinds[kind].key : "itl", runs[r].k);
        rc = kind < 3 ? write_cdf(j, &runs[r], kind, file, &n, d)
                      : write_itl_cdf(j, &runs[r], file, &n, d);
        if (rc || n == 0)
            continue;
        sb_printf(&f->body, "%s%s using 1:2 with lines lw 2 title %s",
                  series++ ? ", \\\n     " : "plot \\\n     ",
                  plot_gp_str(file, qf, sizeof(qf)),
                  plot_gp_str(runs[r].label, q, sizeof(q)));
    }
    if (rc == LLM_OK && series == 0)
        panel_empty(&f->body);
    else if (rc == LLM_OK)
        sb_printf(&f->body, "\n");
    return rc;
}

static int cdf_figure(struct job *j, const struct run_db *runs, size_t nr,
                      struct llm_diag *d)
{
    static const char *const titles[] = { "TTFT", "TPOT", "E2E latency",
                                          "ITL" };
    static const char *const axes[] = { "time to first token (ms)",
        "time per output token (ms)", "end-to-end latency (ms)",
        "inter-token latency (ms)" };
    static const size_t order[] = { 0, 1, 3, 2 };   /* ITL beside TPOT */
    struct fig f;
    char q[300];
    size_t p, kind;
    int rc = LLM_OK;

    fig_init(&f, "latency_cdf", "Latency CDFs: TTFT, TPOT, ITL and "
             "end-to-end", 1400, 1000);
    sb_printf(&f.body, "set multiplot layout 2,2 title %s\n",
              plot_gp_str(f.title, q, sizeof(q)));
    for (p = 0; p < 4 && rc == LLM_OK; p++) {
        kind = order[p];
        sb_printf(&f.body, "set title %s\n",
                  plot_gp_str(titles[kind], q, sizeof(q)));
        sb_printf(&f.body, "set xlabel %s\n"
                  "set ylabel 'fraction of %s'\nset logscale x\n"
                  "set yrange [0:1]\nset grid\nset key below\n",
                  plot_gp_str(axes[kind], q, sizeof(q)),
                  kind == 3 ? "token gaps" : "requests");
        rc = cdf_panel(j, &f, runs, nr, kind, d);
        sb_printf(&f.body, "unset logscale x\nset autoscale\n");
    }
    sb_printf(&f.body, "unset multiplot\n");
    if (rc) {
        free(f.body.s);
        return rc;
    }
    return fig_emit(j, &f, d);
}

static int has_table(sqlite3 *db, const char *name);

/* Values per bin: tokens, running, waiting, kv blocks, busy (1 while an
 * iteration runs); the first four also as maxima (issue 18). */
#define BIN_V 5
#define BIN_MAX 4

struct bins {
    double *acc;                 /* [replica][bin][BIN_V], each x seconds */
    double *max;                 /* [replica][bin][BIN_MAX] */
    int64_t t0_ns, width_ns;
    int replicas;
};

static size_t bin_at(int rep, int64_t k)
{
    return (size_t)rep * TIMELINE_BINS + (size_t)k;
}

/* Spreads one iteration's values over the bins it overlaps. */
static void bin_add(struct bins *b, int rep, int64_t s, int64_t e,
                    const double v[BIN_V])
{
    int64_t k = (s - b->t0_ns) / b->width_ns;
    double *a, *m;
    int i;

    for (; k < TIMELINE_BINS && b->t0_ns + k * b->width_ns < e; k++) {
        int64_t lo = b->t0_ns + k * b->width_ns, hi = lo + b->width_ns;
        double w = (double)((e < hi ? e : hi) - (s > lo ? s : lo)) / 1e9;
        if (k < 0 || w <= 0)
            continue;
        a = &b->acc[bin_at(rep, k) * BIN_V];
        m = &b->max[bin_at(rep, k) * BIN_MAX];
        for (i = 0; i < BIN_V; i++)
            a[i] += v[i] * w;
        for (i = 0; i < BIN_MAX; i++)
            m[i] = v[i] > m[i] ? v[i] : m[i];
    }
}

/* The time span and replicas of the iterations (first pass). */
static int span_row(void *ctx, const struct iterlog_row *row)
{
    int64_t *a = ctx;              /* t0, t1, replicas, any */

    a[0] = a[3] && a[0] <= row->v[IL_START] ? a[0] : row->v[IL_START];
    a[1] = a[3] && a[1] >= row->v[IL_END] ? a[1] : row->v[IL_END];
    a[2] = a[3] && a[2] > row->v[IL_REPLICA] + 1 ? a[2]
                                                 : row->v[IL_REPLICA] + 1;
    a[3] = 1;
    return LLM_OK;
}

static int bin_row(void *ctx, const struct iterlog_row *row)
{
    struct bins *b = ctx;
    int64_t rep = row->v[IL_REPLICA];
    double v[BIN_V] = { (double)(row->v[IL_PREFILL_TOKENS] +
                                 row->v[IL_DECODE_SEQS]),
                        (double)row->v[IL_RUNNING],
                        (double)row->v[IL_WAITING],
                        (double)row->v[IL_KV_BLOCKS], 1 /* busy */ };

    if (rep >= 0 && rep < b->replicas)
        bin_add(b, (int)rep, row->v[IL_START], row->v[IL_END], v);
    return LLM_OK;
}

/* Two passes of iterlog_read: the stored text is parsed directly, far
 * faster than the iterations view (analysis/iterlog.h). */
static int read_bins(const struct run_db *r, struct bins *b,
                     struct llm_diag *d)
{
    int64_t span[4] = { 0, 0, 0, 0 };
    struct llm_diag e = { 0 };
    int rc = iterlog_read(r->db, span_row, span, &e);

    if (rc != LLM_OK)
        return diag_set(d, rc, "%s: %s", r->path, e.msg);
    b->replicas = !span[3] || span[2] <= 0 ? 0 : span[2] > 4096 ? 4097
                                                              : (int)span[2];
    b->t0_ns = span[0];
    if (b->replicas <= 0 || b->replicas > 4096)
        return LLM_OK;
    b->width_ns = (span[1] - b->t0_ns) / TIMELINE_BINS + 1;
    b->acc = calloc((size_t)b->replicas * TIMELINE_BINS * BIN_V,
                    sizeof(double));
    b->max = calloc((size_t)b->replicas * TIMELINE_BINS * BIN_MAX,
                    sizeof(double));
    if (b->acc == NULL || b->max == NULL)
        return diag_set(d, LLM_ENOMEM, "out of memory");
    rc = iterlog_read(r->db, bin_row, b, &e);
    return rc == LLM_OK ? LLM_OK : diag_set(d, rc, "%s: %s", r->path, e.msg);
}

static int write_timeline(struct job *j, const struct run_db *r,
                          const struct bins *b, int rep, const char *name,
                          struct llm_diag *d)
{
    double w = (double)b->width_ns / 1e9, kv = r->kv_blocks;
    const double *a, *m;
    FILE *f = job_open(j, name, d);
    char q[300];
    int k;

    if (f == NULL)
        return d->code;
    fprintf(f, "# %s replica %d, %d bins of %.6g s: time_s batch_tokens "
            "running waiting kv_used_pct (time-weighted means) busy_pct "
            "(share of the bin an iteration ran) batch_tokens_max "
            "running_max waiting_max kv_used_pct_max (of the iterations "
            "in the bin)\n", plot_gp_str(r->label, q, sizeof(q)), rep,
            TIMELINE_BINS, w);
    for (k = 0; k < TIMELINE_BINS; k++) {
        a = &b->acc[bin_at(rep, k) * BIN_V];
        m = &b->max[bin_at(rep, k) * BIN_MAX];
        fprintf(f, "%.6g %.6g %.6g %.6g %.6g %.6g %.6g %.6g %.6g %.6g\n",
                (k + 0.5) * w, a[0] / w, a[1] / w, a[2] / w,
                kv > 0 ? 100 * a[3] / w / kv : 0.0, 100 * a[4] / w, m[0],
                m[1], m[2], kv > 0 ? 100 * m[3] / kv : 0.0);
    }
    return job_close(f, name, d);
}

/* One series of a timeline panel: the mean (thick) or the maximum (thin,
 * dashed, the same colour) of column col. */
static void timeline_series(struct fig *f, const char *file, int col,
                            int color, const char *title, bool max, bool more)
{
    char t[96], qt[200], qf[200];

    snprintf(t, sizeof(t), "%s (%s)", title, max ? "max" : "mean");
    sb_printf(&f->body, "     %s using 1:%d with lines lc %d lw %s title "
              "%s%s\n", plot_gp_str(file, qf, sizeof(qf)), col, color,
              max ? "1 dt 2" : "2", plot_gp_str(t, qt, sizeof(qt)),
              more ? ", \\" : "");
}

/* Means and maxima per bin (issue 18: a mean over a bin hides a burst);
 * the title says how wide a bin is. */
static void timeline_body(struct fig *f, const char *file, double width_s)
{
    char sub[320], q[400];

    snprintf(sub, sizeof(sub), "%s (%d bins of %.3g s; thick: time-weighted "
             "mean, dashed: maximum per bin)", f->title, TIMELINE_BINS,
             width_s);
    sb_printf(&f->body, "set multiplot layout 3,1 title %s",
              plot_gp_str(sub, q, sizeof(q)));
    sb_printf(&f->body, "\nset grid\nset key outside right\n"
              "set xlabel 'simulated time (s)'\n"
              "set ylabel 'tokens in the batch'\nset title 'batch tokens'\n"
              "plot \\\n");
    timeline_series(f, file, 2, 1, "batch tokens", false, true);
    timeline_series(f, file, 7, 1, "batch tokens", true, false);
    sb_printf(&f->body, "set ylabel 'requests'\n"
              "set title 'running and waiting requests'\nplot \\\n");
    timeline_series(f, file, 3, 1, "running", false, true);
    timeline_series(f, file, 8, 1, "running", true, true);
    timeline_series(f, file, 4, 2, "waiting", false, true);
    timeline_series(f, file, 9, 2, "waiting", true, false);
    sb_printf(&f->body, "set ylabel 'KV cache used (%%)'\n"
              "set title 'KV-cache utilization'\nset yrange [0:*]\n"
              "plot \\\n");
    timeline_series(f, file, 5, 1, "KV used", false, true);
    timeline_series(f, file, 10, 1, "KV used", true, false);
    sb_printf(&f->body, "unset multiplot\n");
}

static int timeline_figures(struct job *j, struct run_db *r,
                            struct llm_diag *d)
{
    struct bins b = { 0 };
    struct fig f;
    char name[64], file[80], title[160];
    int rep, rc = read_bins(r, &b, d);

    for (rep = 0; rc == LLM_OK && rep < b.replicas; rep++) {
        if (r->multi)
            snprintf(name, sizeof(name), "timeline_%zu_r%d", r->k, rep);
        else
            snprintf(name, sizeof(name), "timeline_r%d", rep);
        snprintf(file, sizeof(file), "%s.dat", name);
        snprintf(title, sizeof(title), "%.100s: replica %d over time",
                 r->label, rep);
        rc = write_timeline(j, r, &b, rep, file, d);
        if (rc)
            break;
        fig_init(&f, name, title, 1200, 950);
        timeline_body(&f, file, (double)b.width_ns / 1e9);
        rc = fig_emit(j, &f, d);
    }
    r->replicas = rc == LLM_OK ? b.replicas : 0;
    r->bin_s = (double)b.width_ns / 1e9;
    free(b.acc);
    free(b.max);
    return rc;
}

#define REPLICA_LINES 32         /* lines per panel before it is a blur */

/* The "plot" of one column of every replica's timeline file, of every run
 * database (issue 18): utilization or KV occupancy side by side. */
static int replicas_panel(struct fig *f, const struct run_db *runs,
                          size_t nr, int col)
{
    char file[80], label[200], qf[200], q[300];
    size_t r;
    int rep, n = 0;

    for (r = 0; r < nr; r++)
        for (rep = 0; rep < runs[r].replicas && n < REPLICA_LINES; rep++) {
            if (runs[r].multi)
                snprintf(file, sizeof(file), "timeline_%zu_r%d.dat",
                         runs[r].k, rep);
            else
                snprintf(file, sizeof(file), "timeline_r%d.dat", rep);
            if (nr > 1)
                snprintf(label, sizeof(label), "%.150s, replica %d",
                         runs[r].label, rep);
            else
                snprintf(label, sizeof(label), "replica %d", rep);
            sb_printf(&f->body, "%s%s using 1:%d with lines lw 1.5 title %s",
                      n++ ? ", \\\n     " : "plot \\\n     ",
                      plot_gp_str(file, qf, sizeof(qf)), col,
                      plot_gp_str(label, q, sizeof(q)));
        }
    sb_printf(&f->body, "\n");
    return n;
}

/* Per-replica utilization and KV occupancy over time, every replica of
 * every run database in one figure; only with two or more lines. */
static int replicas_figure(struct job *j, const struct run_db *runs,
                           size_t nr, struct llm_diag *d)
{
    char title[160], q[400];
    struct fig f;
    size_t r;
    int lines = 0;

    for (r = 0; r < nr; r++)
        lines += runs[r].replicas;
    if (lines < 2)
        return LLM_OK;
    if (nr == 1)
        snprintf(title, sizeof(title), "%.80s: replicas over time (bins of "
                 "%.3g s)%s", runs[0].label, runs[0].bin_s,
                 lines > REPLICA_LINES ? ", the first 32" : "");
    else
        snprintf(title, sizeof(title), "Replicas of %zu runs over time "
                 "(%d bins of each run's span)%s", nr, TIMELINE_BINS,
                 lines > REPLICA_LINES ? ", the first 32" : "");
    fig_init(&f, "replicas", title, 1300, 800);
    sb_printf(&f.body, "set multiplot layout 2,1 title %s",
              plot_gp_str(title, q, sizeof(q)));
    sb_printf(&f.body, "\nset grid\nset key outside right\n"
              "set xlabel 'simulated time (s)'\nset yrange [0:*]\n"
              "set title 'utilization (share of each bin an iteration "
              "ran)'\nset ylabel 'busy (%%)'\n");
    replicas_panel(&f, runs, nr, 6);
    sb_printf(&f.body, "set title 'KV-cache occupancy (time-weighted mean)'\n"
              "set ylabel 'KV cache used (%%)'\n");
    replicas_panel(&f, runs, nr, 5);
    sb_printf(&f.body, "unset multiplot\n");
    return fig_emit(j, &f, d);
}

/* ---- run databases: KV tiers (kv_tiers table) ------------------------- */

#define TIER_MAX 8

struct tier_set {
    char name[TIER_MAX][32];     /* as stored, for the SQL */
    char file[TIER_MAX][96];
    int n;
};

/* Replicas with tier rows, ascending; at most max. */
static int tier_replicas(sqlite3 *db, int *rep, int max)
{
    sqlite3_stmt *st;
    int n = 0, srow = SQLITE_DONE;

    if (sqlite3_prepare_v2(db, "SELECT DISTINCT replica FROM kv_tiers "
                           "ORDER BY replica", -1, &st, NULL) != SQLITE_OK)
        return -1;
    while (n < max && (srow = sqlite3_step(st)) == SQLITE_ROW)
        rep[n++] = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return srow == SQLITE_ROW || srow == SQLITE_DONE ? n : -1;
}

static int tier_names(sqlite3 *db, int rep, struct tier_set *t)
{
    sqlite3_stmt *st;
    const unsigned char *s;
    int srow = SQLITE_DONE;

    t->n = 0;
    if (sqlite3_prepare_v2(db, "SELECT DISTINCT tier FROM kv_tiers WHERE "
                           "replica = ? ORDER BY tier", -1, &st, NULL) !=
        SQLITE_OK)
        return LLM_EIO;
    sqlite3_bind_int(st, 1, rep);
    while (t->n < TIER_MAX && (srow = sqlite3_step(st)) == SQLITE_ROW) {
        s = sqlite3_column_text(st, 0);
        snprintf(t->name[t->n++], sizeof(t->name[0]), "%s",
                 s ? (const char *)s : "");
    }
    sqlite3_finalize(st);
    return srow == SQLITE_ROW || srow == SQLITE_DONE ? LLM_OK : LLM_EIO;
}

/* One tier's series: the state at the end of each of TIMELINE_BINS bins
 * (SQLite gives a bare column the row of the MAX): time_s, used as a
 * share of the tier, GiB moved in and out so far. */
static int write_tier(struct job *j, const struct run_db *r, int rep,
                      const char *tier, int64_t width_ns, const char *file,
                      struct llm_diag *d)
{
    sqlite3_stmt *st;
    FILE *f;
    double cap;
    int srow;
    char q[300], qt[100];

    if (sqlite3_prepare_v2(r->db, "SELECT MAX(t_ns), used_blocks, "
            "capacity_blocks, bytes_in + bytes_out FROM kv_tiers WHERE "
            "replica = ? AND tier = ? GROUP BY t_ns / ? ORDER BY 1", -1, &st,
            NULL) != SQLITE_OK)
        return diag_set(d, LLM_EIO, "%s: kv_tiers: %s", r->path,
                        sqlite3_errmsg(r->db));
    sqlite3_bind_int(st, 1, rep);
    sqlite3_bind_text(st, 2, tier, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, width_ns);
    f = job_open(j, file, d);
    if (f == NULL) {
        sqlite3_finalize(st);
        return d->code;
    }
    fprintf(f, "# %s replica %d tier %s: time_s used_pct traffic_gib "
            "(in + out so far)\n", plot_gp_str(r->label, q, sizeof(q)), rep,
            plot_gp_str(tier, qt, sizeof(qt)));
    while ((srow = sqlite3_step(st)) == SQLITE_ROW) {
        cap = sqlite3_column_double(st, 2);
        fprintf(f, "%.6g %.6g %.6g\n", sqlite3_column_int64(st, 0) / 1e9,
                cap > 0 ? 100 * sqlite3_column_double(st, 1) / cap : 0.0,
                sqlite3_column_double(st, 3) / 1073741824.0);
    }
    sqlite3_finalize(st);
    if (srow != SQLITE_DONE) {
        fclose(f);
        return diag_set(d, LLM_EIO, "%s: cannot read kv_tiers: %s", r->path,
                        sqlite3_errmsg(r->db));
    }
    return job_close(f, file, d);
}

static void tier_panel(struct fig *f, const struct tier_set *t, int col)
{
    char title[80], file[200];
    int i;

    sb_printf(&f->body, "plot \\\n");
    for (i = 0; i < t->n; i++) {
        sb_printf(&f->body, "     %s using 1:%d with lines lw 1.5 "
                  "title %s%s\n", plot_gp_str(t->file[i], file, sizeof(file)),
                  col, plot_gp_str(t->name[i], title, sizeof(title)),
                  i + 1 < t->n ? ", \\" : "");
    }
}

/* The bin width of the tier series; -1 when it cannot be read. */
static int64_t tier_width(sqlite3 *db)
{
    sqlite3_stmt *st;
    int64_t t1 = 0;
    int srow = SQLITE_ERROR;

    if (sqlite3_prepare_v2(db, "SELECT MAX(t_ns) FROM kv_tiers", -1, &st,
                           NULL) == SQLITE_OK &&
        (srow = sqlite3_step(st)) == SQLITE_ROW)
        t1 = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return srow == SQLITE_ROW ? t1 / TIMELINE_BINS + 1 : -1;
}

/* Per replica with tier rows: occupancy and traffic of every lower KV
 * tier over time, one line per tier. */
static int tier_figures(struct job *j, const struct run_db *r,
                        struct llm_diag *d)
{
    struct tier_set t;
    struct fig f;
    char name[64], title[160], qt[400];
    int reps[64], nrep, k, i, rc = LLM_OK;
    int64_t width;

    k = has_table(r->db, "kv_tiers");
    if (k == 0)
        return LLM_OK;
    nrep = k < 0 ? -1 : tier_replicas(r->db, reps, 64);
    width = nrep < 0 ? -1 : tier_width(r->db);
    if (width < 0)
        return diag_set(d, LLM_EIO, "%s: kv_tiers: %s", r->path,
                        sqlite3_errmsg(r->db));
    for (k = 0; rc == LLM_OK && k < nrep; k++) {
        if (r->multi)
            snprintf(name, sizeof(name), "kv_tiers_%zu_r%d", r->k, reps[k]);
        else
            snprintf(name, sizeof(name), "kv_tiers_r%d", reps[k]);
        if (tier_names(r->db, reps[k], &t) != LLM_OK)
            return diag_set(d, LLM_EIO, "%s: kv_tiers: %s", r->path,
                            sqlite3_errmsg(r->db));
        for (i = 0; rc == LLM_OK && i < t.n; i++) {
            snprintf(t.file[i], sizeof(t.file[0]), "%s_t%d.dat", name, i);
            rc = write_tier(j, r, reps[k], t.name[i], width, t.file[i], d);
        }
        if (rc)
            break;
        snprintf(title, sizeof(title), "%.100s: replica %d KV tiers",
                 r->label, reps[k]);
        fig_init(&f, name, title, 1100, 700);
        sb_printf(&f.body, "set multiplot layout 2,1 title %s\nset grid\n"
                  "set xlabel 'simulated time (s)'\nset key outside right\n"
                  "set ylabel 'used (%% of the tier)'\n"
                  "set title 'occupancy'\nset yrange [0:*]\n",
                  plot_gp_str(f.title, qt, sizeof(qt)));
        tier_panel(&f, &t, 2);
        sb_printf(&f.body, "set ylabel 'GiB (in + out, cumulative)'\n"
                  "set title 'traffic'\n");
        tier_panel(&f, &t, 3);
        sb_printf(&f.body, "unset multiplot\n");
        rc = fig_emit(j, &f, d);
    }
    return rc;
}

/* ---- sweep databases: figures against the offered load --------------- */

static const char *const sw_names[] = { "offered_req_s",
    "ttft_ms.p50", "ttft_ms.p90", "ttft_ms.p99",
    "tpot_ms.p50", "tpot_ms.p90", "tpot_ms.p99",
    "e2e_ms.p50", "e2e_ms.p90", "e2e_ms.p99",
    "goodput_req_s", "throughput_out_tok_s", "usd_per_mtok_out",
    "energy_j_per_output_token", NULL };
#define SW_N 14
#define SW_TPUT 11               /* indices of issue 18's figures */
#define SW_USD 12
#define SW_JOULE 13

/* A run with pools ("cluster") reports its cost and energy there; the
 * top-level name wins where both exist. */
static const char *const sw_alias[SW_N] = { [SW_USD] =
    "cluster.usd_per_mtok_out", [SW_JOULE] =
    "cluster.energy_j_per_output_token" };

struct sw_cfg {
    int64_t id;
    char *group;                 /* params without the load axis */
    double v[SW_N][3];           /* mean, ci_lo, ci_hi */
};

struct sweep_db {
    const char *path;
    sqlite3 *db;
    size_t k;
    bool multi;
    char axis[128], name[128];
    struct sw_cfg *cfg;
    size_t n_cfg;
    char **groups;               /* distinct group keys, first-seen order */
    size_t n_groups;
    char (*labels)[128];         /* legends of the groups */
};

/* One key of the sweep table into buf ("" when absent); LLM_EIO when the
 * read fails, so a plot never goes out with a silently missing axis or
 * name. */
static int meta(sqlite3 *db, const char *key, char *buf, size_t len)
{
    sqlite3_stmt *st;
    int rc;

    buf[0] = '\0';
    if (sqlite3_prepare_v2(db, "SELECT value FROM sweep WHERE key = ?", -1,
                           &st, NULL) != SQLITE_OK)
        return LLM_EIO;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && sqlite3_column_text(st, 0))
        snprintf(buf, len, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? LLM_OK : LLM_EIO;
}

static char *group_of(const char *params, const char *axis)
{
    cJSON *o = cJSON_Parse(params);
    char *g;

    cJSON_DeleteItemFromObjectCaseSensitive(o, axis);
    g = o ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    return g;
}

static int add_group(struct sweep_db *s, const char *g)
{
    size_t i;

    for (i = 0; i < s->n_groups; i++)
        if (strcmp(s->groups[i], g) == 0)
            return LLM_OK;
    s->groups[s->n_groups] = malloc(strlen(g) + 1);
    if (s->groups[s->n_groups] == NULL)
        return LLM_ENOMEM;
    strcpy(s->groups[s->n_groups++], g);
    return LLM_OK;
}

static int read_configs(struct sweep_db *s)
{
    sqlite3_stmt *st;
    int64_t n = 0;
    int rc = LLM_OK, srow;

    if (sqlite3_prepare_v2(s->db, "SELECT COUNT(*) FROM configs", -1, &st,
                           NULL) != SQLITE_OK)
        return LLM_EIO;
    srow = sqlite3_step(st);
    if (srow == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    if (srow != SQLITE_ROW)
        return LLM_EIO;
    s->cfg = calloc((size_t)n + 1, sizeof(*s->cfg));
    s->groups = calloc((size_t)n + 1, sizeof(*s->groups));
    if (s->cfg == NULL || s->groups == NULL ||
        sqlite3_prepare_v2(s->db, "SELECT id, params FROM configs ORDER BY "
                           "id", -1, &st, NULL) != SQLITE_OK)
        return LLM_ENOMEM;
    while (rc == LLM_OK && s->n_cfg < (size_t)n &&
           (srow = sqlite3_step(st)) == SQLITE_ROW) {
        struct sw_cfg *c = &s->cfg[s->n_cfg++];
        c->id = sqlite3_column_int64(st, 0);
        c->group = group_of((const char *)sqlite3_column_text(st, 1),
                            s->axis);
        for (int m = 0; m < SW_N; m++)
            c->v[m][0] = c->v[m][1] = c->v[m][2] = NAN;
        rc = c->group ? add_group(s, c->group) : LLM_ENOMEM;
    }
    sqlite3_finalize(st);
    if (rc == LLM_OK && srow != SQLITE_ROW && srow != SQLITE_DONE)
        rc = LLM_EIO;
    return rc;
}

static struct sw_cfg *cfg_by_id(struct sweep_db *s, int64_t id)
{
    size_t i;

    for (i = 0; i < s->n_cfg; i++)
        if (s->cfg[i].id == id)
            return &s->cfg[i];
    return NULL;
}

static double col_or(sqlite3_stmt *st, int i, double dflt)
{
    return sqlite3_column_type(st, i) == SQLITE_NULL
        ? dflt : sqlite3_column_double(st, i);
}

static int read_aggregates(struct sweep_db *s)
{
    sqlite3_stmt *st;
    struct sw_cfg *c;
    int m, srow;

    if (sqlite3_prepare_v2(s->db, "SELECT config, name, mean, ci_lo, ci_hi "
                           "FROM aggregates", -1, &st, NULL) != SQLITE_OK)
        return LLM_EIO;
    while ((srow = sqlite3_step(st)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 1);
        c = cfg_by_id(s, sqlite3_column_int64(st, 0));
        for (m = 0; c != NULL && sw_names[m] != NULL; m++) {
            bool alias = sw_alias[m] && strcmp(name, sw_alias[m]) == 0;
            if (strcmp(name, sw_names[m]) != 0 &&
                !(alias && isnan(c->v[m][0])))
                continue;
            c->v[m][0] = col_or(st, 2, NAN);
            c->v[m][1] = col_or(st, 3, c->v[m][0]);
            c->v[m][2] = col_or(st, 4, c->v[m][0]);
        }
    }
    sqlite3_finalize(st);
    return srow == SQLITE_DONE ? LLM_OK : LLM_EIO;
}

static void sweep_db_free(struct sweep_db *s)
{
    size_t i;

    for (i = 0; i < s->n_cfg; i++)
        free(s->cfg[i].group);
    for (i = 0; i < s->n_groups; i++)
        free(s->groups[i]);
    free(s->cfg);
    free(s->groups);
    free(s->labels);
}

static int cmp_x(const void *a, const void *b)
{
    double x = (*(const struct sw_cfg *const *)a)->v[0][0];
    double y = (*(const struct sw_cfg *const *)b)->v[0][0];

    return (x > y) - (x < y);
}

/* Group g's configs by offered load: x, then mean lo hi per metric. */
static int write_group(struct job *j, struct sweep_db *s, size_t g,
                       const char *name, size_t *rows, struct llm_diag *d)
{
    struct sw_cfg **v = calloc(s->n_cfg + 1, sizeof(*v));
    size_t i, n = 0;
    FILE *f;
    int m;

    if (v == NULL)
        return diag_set(d, LLM_ENOMEM, "out of memory");
    for (i = 0; i < s->n_cfg; i++)
        if (strcmp(s->cfg[i].group, s->groups[g]) == 0 &&
            isfinite(s->cfg[i].v[0][0]))
            v[n++] = &s->cfg[i];
    qsort(v, n, sizeof(*v), cmp_x);
    *rows = n;
    f = n ? job_open(j, name, d) : NULL;
    if (n && f == NULL) {
        free(v);
        return d->code;
    }
    for (m = 0; f && sw_names[m]; m++)
        fprintf(f, m ? " %s(mean lo hi)" : "# %s", sw_names[m]);
    for (i = 0; f && i < n; i++) {
        fprintf(f, "\n%.6g", v[i]->v[0][0]);
        for (m = 1; m < SW_N; m++)
            fprintf(f, " %.6g %.6g %.6g", v[i]->v[m][0], v[i]->v[m][1],
                    v[i]->v[m][2]);
    }
    free(v);
    if (f)
        fputc('\n', f);
    return f ? job_close(f, name, d) : LLM_OK;
}

/* Legends of the groups (issue 18): the swept keys whose values differ
 * between groups, shortened ("hardware.tp" -> "tp"); the sweep's name
 * when there is one group. */
static int group_labels(struct sweep_db *s)
{
    const char **fb = calloc(s->n_groups + 1, sizeof(*fb));
    size_t g;

    s->labels = calloc(s->n_groups + 1, sizeof(*s->labels));
    if (fb == NULL || s->labels == NULL) {
        free(fb);
        return LLM_ENOMEM;
    }
    for (g = 0; g < s->n_groups; g++)
        fb[g] = s->name[0] ? s->name : "sweep";
    diff_labels((const char *const *)s->groups, s->n_groups, fb, s->labels);
    free(fb);
    return LLM_OK;
}

/* Column of metric m's mean in a group file (lo, hi follow). */
static int sw_col(int m)
{
    return 2 + 3 * (m - 1);
}

/* Whether group g has a point with metric m and an x (gnuplot refuses a
 * line whose every point is undefined: no TPOT when every output is 1
 * token). */
static bool group_has(const struct sweep_db *s, size_t g, int m, int mx)
{
    size_t i;

    for (i = 0; i < s->n_cfg; i++)
        if (strcmp(s->cfg[i].group, s->groups[g]) == 0 &&
            isfinite(s->cfg[i].v[0][0]) && isfinite(s->cfg[i].v[m][0]) &&
            isfinite(s->cfg[i].v[mx][0]))
            return true;
    return false;
}

/* The smallest positive and the largest value of metric m (means and
 * interval ends) over the groups drawn; *lo = INFINITY when none. */
static void metric_range(const struct sweep_db *s, int m, const bool *has,
                         double *lo, double *hi)
{
    size_t i, g, k;

    *lo = INFINITY;
    *hi = 0;
    for (g = 0; g < s->n_groups; g++)
        for (i = 0; has[g] && i < s->n_cfg; i++) {
            if (strcmp(s->cfg[i].group, s->groups[g]) != 0)
                continue;
            for (k = 0; k < 3; k++) {
                double v = s->cfg[i].v[m][k];
                if (isfinite(v) && v > 0 && v < *lo)
                    *lo = v;
                if (isfinite(v) && v > *hi)
                    *hi = v;
            }
        }
}

/* The "plot" of metric m against metric mx (0: the offered load) over
 * every group, one line each, mean with the interval as error bars
 * (issue 18): a log y axis when the values span two decades, and the
 * bars cut at the axis' floor (a t interval over few seeds reaches below
 * 0; a latency, cost or rate cannot). */
static void load_series(struct fig *f, const struct sweep_db *s, int m,
                        int mx, const bool *has)
{
    char file[80], qf[200], q[400];
    double lo, hi, floor;
    int xc = mx ? sw_col(mx) : 1, yc = sw_col(m);
    size_t g, series = 0;

    metric_range(s, m, has, &lo, &hi);
    floor = isfinite(lo) && hi >= 100 * lo ? lo / 2 : 0;
    sb_printf(&f->body, floor > 0 ? "set logscale y\n" : "unset logscale "
              "y\n");
    for (g = 0; g < s->n_groups; g++) {
        if (!has[g] || !group_has(s, g, m, mx))
            continue;
        snprintf(file, sizeof(file), "load_%zu_g%zu.dat", s->k, g);
        sb_printf(&f->body, "%s%s using %d:%d:($%d > %.6g ? $%d : %.6g):%d "
                  "with yerrorlines lw 2 title %s",
                  series++ ? ", \\\n     " : "plot \\\n     ",
                  plot_gp_str(file, qf, sizeof(qf)), xc, yc, yc + 1, floor,
                  yc + 1, floor, yc + 2,
                  plot_gp_str(s->labels[g], q, sizeof(q)));
    }
    if (series == 0)
        panel_empty(&f->body);
    else
        sb_printf(&f->body, "\n");
    sb_printf(&f->body, "unset logscale y\n");
}

/* One figure of a sweep: panels of metrics m[0..panels) against mx (0:
 * the offered load). */
struct load_fig {
    const char *key, *title;     /* file name part, figure title */
    int mx, panels, m[6];
    const char *panel[6], *ylabel[6], *xlabel;
};

static int load_figure(struct job *j, const struct sweep_db *s,
                       const struct load_fig *lf, const bool *has,
                       struct llm_diag *d)
{
    struct fig f;
    char name[64], title[160], q[400];
    int p, cols = lf->panels > 3 ? 3 : lf->panels;

    if (s->multi)
        snprintf(name, sizeof(name), "s%zu_%s", s->k, lf->key);
    else
        snprintf(name, sizeof(name), "%s", lf->key);
    snprintf(title, sizeof(title), "%.60s: %s", s->name[0] ? s->name
             : "sweep", lf->title);
    fig_init(&f, name, title, cols > 1 ? 1500 : 800,
             lf->panels > 3 ? 1000 : 560);
    sb_printf(&f.body, "set multiplot layout %d,%d title %s\n",
              (lf->panels + cols - 1) / cols, cols,
              plot_gp_str(title, q, sizeof(q)));
    sb_printf(&f.body, "set grid\nset key below\nset xlabel %s\n",
              plot_gp_str(lf->xlabel, q, sizeof(q)));
    for (p = 0; p < lf->panels; p++) {
        sb_printf(&f.body, "set title %s\n",
                  plot_gp_str(lf->panel[p], q, sizeof(q)));
        sb_printf(&f.body, "set ylabel %s\n",
                  plot_gp_str(lf->ylabel[p], q, sizeof(q)));
        load_series(&f, s, lf->m[p], lf->mx, has);
    }
    sb_printf(&f.body, "unset multiplot\n");
    return fig_emit(j, &f, d);
}

#define LOAD_X "offered load (req/s)"
#define TPUT_X "output throughput (tokens/s)"

static const struct load_fig load_figs[] = {
    { "load_ttft", "TTFT against offered load", 0, 3, { 1, 2, 3 },
      { "TTFT p50", "TTFT p90", "TTFT p99" },
      { "TTFT p50 (ms)", "TTFT p90 (ms)", "TTFT p99 (ms)" }, LOAD_X },
    { "load_tpot", "TPOT against offered load", 0, 3, { 4, 5, 6 },
      { "TPOT p50", "TPOT p90", "TPOT p99" },
      { "TPOT p50 (ms)", "TPOT p90 (ms)", "TPOT p99 (ms)" }, LOAD_X },
    { "load_e2e", "E2E latency against offered load", 0, 3, { 7, 8, 9 },
      { "E2E latency p50", "E2E latency p90", "E2E latency p99" },
      { "E2E latency p50 (ms)", "E2E latency p90 (ms)",
        "E2E latency p99 (ms)" }, LOAD_X },
    { "load_goodput", "goodput against offered load", 0, 1, { 10 },
      { "goodput" }, { "goodput (req/s)" }, LOAD_X },
    { "tput_latency", "latency against output throughput", SW_TPUT, 6,
      { 1, 2, 3, 4, 5, 6 },
      { "TTFT p50", "TTFT p90", "TTFT p99", "TPOT p50", "TPOT p90",
        "TPOT p99" },
      { "TTFT p50 (ms)", "TTFT p90 (ms)", "TTFT p99 (ms)", "TPOT p50 (ms)",
        "TPOT p90 (ms)", "TPOT p99 (ms)" }, TPUT_X },
    { "load_cost", "cost and energy against offered load", 0, 2,
      { SW_USD, SW_JOULE },
      { "cost per million output tokens", "energy per output token" },
      { "USD per 1M output tokens", "J per output token" }, LOAD_X },
};

static int sweep_figures(struct job *j, struct sweep_db *s,
                         struct llm_diag *d)
{
    bool *has = calloc(s->n_groups + 1, sizeof(*has));
    char file[80];
    size_t g, rows = 0, k;
    int rc = has ? LLM_OK : diag_set(d, LLM_ENOMEM, "out of memory");

    for (g = 0; rc == LLM_OK && g < s->n_groups; g++) {
        snprintf(file, sizeof(file), "load_%zu_g%zu.dat", s->k, g);
        rc = write_group(j, s, g, file, &rows, d);
        has[g] = rows > 0;
    }
    for (k = 0; rc == LLM_OK && k < sizeof(load_figs) / sizeof(load_figs[0]);
         k++)
        rc = load_figure(j, s, &load_figs[k], has, d);
    free(has);
    return rc;
}

/* ---- the driver -------------------------------------------------------- */

/* 1 when the database has the table or view, 0 when not, -1 when its
 * schema could not be read. */
static int has_table(sqlite3 *db, const char *name)
{
    sqlite3_stmt *st;
    int srow;

    /* iterations is a view (analysis/store.h) */
    if (sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_master WHERE type IN "
                           "('table', 'view') AND name = ?", -1, &st, NULL)
        != SQLITE_OK)
        return -1;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    srow = sqlite3_step(st);
    sqlite3_finalize(st);
    return srow == SQLITE_ROW ? 1 : srow == SQLITE_DONE ? 0 : -1;
}

/* The run's label, seed, KV blocks and config from its runs row; LLM_EIO
 * when the row cannot be read. */
static int run_label(struct run_db *r)
{
    sqlite3_stmt *st;
    int srow;

    snprintf(r->label, sizeof(r->label), "%s", r->path);
    if (sqlite3_prepare_v2(r->db, "SELECT name, seed, kv_blocks, config "
                           "FROM runs LIMIT 1", -1, &st, NULL) != SQLITE_OK)
        return LLM_EIO;
    srow = sqlite3_step(st);
    if (srow == SQLITE_ROW) {
        if (sqlite3_column_text(st, 0))
            snprintf(r->label, sizeof(r->label), "%.100s (seed %lld)",
                     (const char *)sqlite3_column_text(st, 0),
                     (long long)sqlite3_column_int64(st, 1));
        r->kv_blocks = sqlite3_column_double(st, 2);
        if (sqlite3_column_text(st, 3))
            r->config = strdup((const char *)sqlite3_column_text(st, 3));
    }
    sqlite3_finalize(st);
    return srow == SQLITE_ROW || srow == SQLITE_DONE ? LLM_OK : LLM_EIO;
}

/* With several run databases, each is labelled by the config keys whose
 * values differ between them (issue 18), else by its name and seed. */
static void run_labels(struct run_db *runs, size_t nr)
{
    const char **json = calloc(nr + 1, sizeof(*json));
    const char **fb = calloc(nr + 1, sizeof(*fb));
    char (*out)[128] = calloc(nr + 1, sizeof(*out));
    size_t i;

    for (i = 0; json && fb && out && i < nr; i++) {
        json[i] = runs[i].config;
        fb[i] = runs[i].label;
    }
    if (json && fb && out && nr > 1) {
        diff_labels(json, nr, fb, out);
        for (i = 0; i < nr; i++)
            snprintf(runs[i].label, sizeof(runs[i].label), "%s", out[i]);
    }
    free(json);
    free(fb);
    free(out);
}

/* What a database holds, from one read of its schema: a sweep (points
 * and aggregates), a run (requests and the iterations view), neither,
 * or DB_ERROR when the schema of a database could not be read (an I/O
 * failure, not bad input). */
enum db_kind { DB_ERROR, DB_NEITHER, DB_SWEEP, DB_RUN };

static enum db_kind db_kind(sqlite3 *db)
{
    static const char *const names[] = { "points", "aggregates",
                                         "requests", "iterations" };
    sqlite3_stmt *st;
    unsigned seen = 0;
    int rc;

    /* iterations is a view (analysis/store.h) */
    if (sqlite3_prepare_v2(db, "SELECT name FROM sqlite_master WHERE type "
                           "IN ('table', 'view')", -1, &st, NULL)
        != SQLITE_OK)   /* a file that is not SQLite is bad input */
        return sqlite3_errcode(db) == SQLITE_NOTADB ? DB_NEITHER : DB_ERROR;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 0);

        for (unsigned k = 0; name != NULL && k < 4; k++)
            if (strcmp(name, names[k]) == 0)
                seen |= 1u << k;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return DB_ERROR;
    if ((seen & 3u) == 3u)
        return DB_SWEEP;
    return (seen & 12u) == 12u ? DB_RUN : DB_NEITHER;
}

/* Opens every database and sorts it into runs or sweeps. */
static int open_dbs(const char *const *dbs, size_t n, struct run_db *runs,
                    size_t *nr, struct sweep_db *sw, size_t *ns,
                    struct llm_diag *d)
{
    sqlite3 *db;
    size_t i;
    enum db_kind kind;

    for (i = 0; i < n; i++) {
        int rc;

        db = NULL;
        rc = sqlite3_open_v2(dbs[i], &db, SQLITE_OPEN_READONLY, NULL);
        if (rc != SQLITE_OK) {
            sqlite3_close(db);
            /* A database argument that is missing or not a database is bad
             * input; a read error on one that is there (a sweep or plan
             * plotting the database it just wrote) is an I/O failure. */
            return diag_set(d, rc == SQLITE_CANTOPEN || rc == SQLITE_NOTADB
                            ? LLM_EINVAL : LLM_EIO, "%s: cannot open: %s",
                            dbs[i], sqlite3_errstr(rc));
        }
        kind = db_kind(db);
        if (kind == DB_SWEEP) {
            sw[*ns] = (struct sweep_db){ .path = dbs[i], .db = db,
                                         .k = *ns };
            (*ns)++;
        } else if (kind == DB_RUN) {
            runs[*nr] = (struct run_db){ .path = dbs[i], .db = db, .k = *nr };
            /* counted first: the caller closes every database it holds */
            if (run_label(&runs[(*nr)++]) != LLM_OK)
                return diag_set(d, LLM_EIO, "%s: cannot read runs: %s",
                                dbs[i], sqlite3_errmsg(db));
        } else {
            int err = kind == DB_ERROR
                ? diag_set(d, LLM_EIO, "%s: cannot read its schema: %s",
                           dbs[i], sqlite3_errmsg(db))
                : diag_set(d, LLM_EINVAL, "%s: not an llmsim results or "
                           "sweep database (no requests or points table)",
                           dbs[i]);

            sqlite3_close(db);
            return err;
        }
    }
    return LLM_OK;
}

static int load_sweep(struct sweep_db *s, struct llm_diag *d)
{
    if (meta(s->db, "load_axis", s->axis, sizeof(s->axis)) != LLM_OK ||
        meta(s->db, "name", s->name, sizeof(s->name)) != LLM_OK ||
        read_configs(s) != LLM_OK || read_aggregates(s) != LLM_OK)
        return diag_set(d, LLM_EIO, "%s: cannot read the sweep: %s",
                        s->path, sqlite3_errmsg(s->db));
    return group_labels(s) == LLM_OK ? LLM_OK
           : diag_set(d, LLM_ENOMEM, "out of memory");
}

/* Runs gnuplot on plots.gp in the staging directory. */
static int run_gnuplot(const struct job *j, struct llm_diag *d)
{
    char log[1200], line[300] = "";
    int status;
    FILE *f;
    pid_t pid;

    fflush(NULL);
    pid = fork();
    if (pid < 0)
        return diag_set(d, LLM_EIO, "fork: %s", strerror(errno));
    if (pid == 0) {
        if (chdir(j->stage) != 0 ||
            freopen("gnuplot.log", "w", stderr) == NULL ||
            freopen("/dev/null", "w", stdout) == NULL)
            _exit(126);
        execlp("gnuplot", "gnuplot", "plots.gp", (char *)NULL);
        _exit(127);
    }
    if (waitpid(pid, &status, 0) < 0)
        return diag_set(d, LLM_EIO, "waitpid: %s", strerror(errno));
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return LLM_OK;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
        return diag_set(d, LLM_EIO, "gnuplot not found (install gnuplot-nox, "
                        "or run make, which installs it)");
    snprintf(log, sizeof(log), "%s/gnuplot.log", j->stage);
    f = fopen(log, "r");
    /* gnuplot echoes the command, marks the column, then says
     * "plots.gp" line N: what; keep that line. */
    while (f && fgets(line, sizeof(line), f) &&
           strncmp(line, "\"plots.gp\" line", 15) != 0)
        ;
    if (f)
        fclose(f);
    line[strcspn(line, "\n")] = '\0';
    return diag_set(d, LLM_EIO, "%s/plots.gp: gnuplot failed: %s", j->out,
                    line);
}

static int write_script(struct job *j, size_t n_dbs, const char *const *dbs,
                        struct llm_diag *d)
{
    FILE *f;
    size_t i;
    char q[1100];

    if (j->script.oom)
        return diag_set(d, LLM_ENOMEM, "out of memory");
    f = job_open(j, "plots.gp", d);
    if (f == NULL)
        return d->code;
    fprintf(f, "# llmsim plot: figures of");
    for (i = 0; i < n_dbs; i++)
        fprintf(f, " %s", plot_gp_str(dbs[i], q, sizeof(q)));
    fprintf(f, "\n# Redraw with: gnuplot plots.gp (in this directory).\n"
            "# Every figure is drawn twice: PNG (pngcairo), then SVG.\n%s",
            j->script.s ? j->script.s : "");
    return job_close(f, "plots.gp", d);
}

/* Moves the staged files into place and removes the staging directory. */
static int publish(struct job *j, struct llm_diag *d)
{
    char from[1200], to[1200];
    size_t i;
    int rc = LLM_OK;

    for (i = 0; i < j->n_files; i++) {
        snprintf(from, sizeof(from), "%s/%s", j->stage, j->files[i]);
        snprintf(to, sizeof(to), "%s/%s", j->out, j->files[i]);
        if (rc == LLM_OK && rename(from, to) != 0)
            rc = diag_set(d, LLM_EIO, "cannot rename %s to %s: %s", from, to,
                          strerror(errno));
    }
    return rc;
}

static void unstage(struct job *j)
{
    char path[1200];
    size_t i;

    for (i = 0; i < j->n_files; i++) {
        snprintf(path, sizeof(path), "%s/%s", j->stage, j->files[i]);
        remove(path);
    }
    snprintf(path, sizeof(path), "%s/gnuplot.log", j->stage);
    remove(path);
    rmdir(j->stage);
}

static int draw(struct job *j, struct run_db *runs, size_t nr,
                struct sweep_db *sw, size_t ns, struct llm_diag *d)
{
    size_t i;
    int rc;

    run_labels(runs, nr);
    rc = nr ? cdf_figure(j, runs, nr, d) : LLM_OK;

    for (i = 0; rc == LLM_OK && i < nr; i++) {
        runs[i].multi = nr > 1;
        rc = timeline_figures(j, &runs[i], d);
        if (!rc)
            rc = tier_figures(j, &runs[i], d);
    }
    if (rc == LLM_OK)
        rc = replicas_figure(j, runs, nr, d);
    for (i = 0; rc == LLM_OK && i < ns; i++) {
        sw[i].multi = ns > 1;
        rc = load_sweep(&sw[i], d);
        if (!rc)
            rc = sweep_figures(j, &sw[i], d);
    }
    return rc;
}

/* plot_make, or plot_script when images is false. */
static int plot_job(const char *const *dbs, size_t n_dbs, const char *out_dir,
                    bool images, struct plot_list *made, struct llm_diag *d)
{
    struct run_db *runs = calloc(n_dbs + 1, sizeof(*runs));
    struct sweep_db *sw = calloc(n_dbs + 1, sizeof(*sw));
    struct job j = { .made = made };
    size_t nr = 0, ns = 0, i;
    int rc = runs && sw ? LLM_OK : diag_set(d, LLM_ENOMEM, "out of memory");

    made->n = 0;
    snprintf(j.out, sizeof(j.out), "%s", out_dir);
    snprintf(j.stage, sizeof(j.stage), "%s/.plot-tmp-%ld", out_dir,
             (long)getpid());
    if (!rc) rc = open_dbs(dbs, n_dbs, runs, &nr, sw, &ns, d);
    if (!rc) rc = store_mkdirs(j.stage, d);
    if (!rc) rc = draw(&j, runs, nr, sw, ns, d);
    if (!rc) rc = write_script(&j, n_dbs, dbs, d);
    if (!rc && images) rc = run_gnuplot(&j, d);
    if (!rc) rc = publish(&j, d);
    unstage(&j);
    for (i = 0; runs && i < nr; i++) {
        free(runs[i].config);
        sqlite3_close(runs[i].db);
    }
    for (i = 0; sw && i < ns; i++) {
        sweep_db_free(&sw[i]);
        sqlite3_close(sw[i].db);
    }
    free(runs);
    free(sw);
    free(j.files);
    free(j.script.s);
    return rc;
}

int plot_make(const char *const *dbs, size_t n_dbs, const char *out_dir,
              struct plot_list *made, struct llm_diag *d)
{
    return plot_job(dbs, n_dbs, out_dir, true, made, d);
}

int plot_script(const char *const *dbs, size_t n_dbs, const char *out_dir,
                struct plot_list *made, struct llm_diag *d)
{
    return plot_job(dbs, n_dbs, out_dir, false, made, d);
}
