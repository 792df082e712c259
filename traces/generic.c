/* "generic": a CSV (with a header) or JSONL trace whose column names and
 * time unit come from the config.  The defaults read what `llmsim trace
 * gen` writes: arrival_s, prompt_tokens, output_tokens in seconds, plus
 * tenant, session and priority where present. */
#include <string.h>

#include "base/jcfg.h"
#include "traces/kinds.h"
#include "traces/rows.h"

enum { G_ARRIVAL, G_PROMPT, G_OUTPUT, G_TENANT, G_SESSION, G_PRIORITY, G_N };

static const char *const g_keys[G_N + 1] = {
    "arrival", "prompt", "output", "tenant", "session", "priority", NULL
};
static const char *const g_defaults[G_N] = {
    "arrival_s", "prompt_tokens", "output_tokens", "tenant", "session",
    "priority"
};

struct generic {
    struct rows *rows;
    bool jsonl, rebase;
    int64_t unit_ns;
    const char *name[G_N];   /* column or key names, borrowed from cfg */
    bool need[G_N];          /* configured (or core): required per row */
    int col[G_N];            /* CSV: index, -1 when absent */
    int64_t first_ns, prev_ns;
    bool started;
    int64_t output_zero;
};

/* One row's values before they become a req_spec. */
struct g_vals {
    int64_t v[G_N];
};

static int read_unit(const cJSON *cfg, const char *path, int64_t *unit_ns,
                     struct llm_diag *d)
{
    static const char *const units[] = { "s", "ms", "us", "ns" };
    static const int64_t ns[] = { 1000000000, 1000000, 1000, 1 };
    const char *u = "s";
    char kp[256];

    if (jcfg_str(cfg, path, "time_unit", false, &u, d) != LLM_OK)
        return d->code;
    for (int i = 0; i < 4; i++)
        if (strcmp(u, units[i]) == 0) {
            *unit_ns = ns[i];
            return LLM_OK;
        }
    jcfg_keypath(kp, sizeof(kp), path, "time_unit");
    return diag_set(d, LLM_EINVAL, "%s: expected \"s\", \"ms\", \"us\" or "
                    "\"ns\", got \"%s\"", kp, u);
}

static bool ends_with(const char *s, const char *tail)
{
    size_t n = strlen(s), m = strlen(tail);

    return n >= m && strcmp(s + n - m, tail) == 0;
}

static int read_format(const cJSON *cfg, const char *path, const char *file,
                       bool *jsonl, struct llm_diag *d)
{
    const char *f = NULL;
    char kp[256];

    if (jcfg_str(cfg, path, "format", false, &f, d) != LLM_OK)
        return d->code;
    if (f == NULL && (ends_with(file, ".csv") || ends_with(file, ".csv.gz")))
        f = "csv";
    if (f == NULL && (ends_with(file, ".jsonl") ||
                      ends_with(file, ".jsonl.gz")))
        f = "jsonl";
    jcfg_keypath(kp, sizeof(kp), path, "format");
    if (f == NULL)
        return diag_set(d, LLM_EINVAL, "%s: missing (expected \"csv\" or "
                        "\"jsonl\"; the file name does not tell)", kp);
    *jsonl = strcmp(f, "jsonl") == 0;
    if (*jsonl || strcmp(f, "csv") == 0)
        return LLM_OK;
    return diag_set(d, LLM_EINVAL, "%s: expected \"csv\" or \"jsonl\", got "
                    "\"%s\"", kp, f);
}

static int read_columns(struct generic *g, const cJSON *cfg,
                        const char *path, struct llm_diag *d)
{
    const cJSON *cols = NULL;
    char cp[256];

    jcfg_keypath(cp, sizeof(cp), path, "columns");
    if (jcfg_obj(cfg, path, "columns", false, &cols, d) != LLM_OK ||
        (cols != NULL && jcfg_known(cols, cp, g_keys, d) != LLM_OK))
        return d->code;
    for (int i = 0; i < G_N; i++) {
        g->name[i] = g_defaults[i];
        g->need[i] = i <= G_OUTPUT ||
                     cJSON_GetObjectItemCaseSensitive(cols, g_keys[i]);
        if (jcfg_str(cols, cp, g_keys[i], false, &g->name[i], d) != LLM_OK)
            return d->code;
    }
    return LLM_OK;
}

static int find_csv_cols(struct generic *g, const char *path,
                         struct llm_diag *d)
{
    char why[256], cp[200];

    jcfg_keypath(cp, sizeof(cp), path, "columns");
    for (int i = 0; i < G_N; i++) {
        jcfg_keypath(why, sizeof(why), cp, g_keys[i]);
        g->col[i] = rows_csv_col(g->rows, g->name[i]);
        if (g->need[i] &&
            rows_csv_need(g->rows, g->name[i], why, &g->col[i], d))
            return d->code;
    }
    return LLM_OK;
}

static int g_open(void *st, const cJSON *cfg, const char *path,
                  uint64_t seed, struct llm_diag *d)
{
    static const char *const keys[] = { "path", "format", "columns",
                                        "time_unit", "rebase", NULL };
    struct generic *g = st;
    const char *file = NULL;

    (void)seed;
    if (source_check_keys(cfg, path, keys, d) != LLM_OK ||
        jcfg_str(cfg, path, "path", true, &file, d) != LLM_OK ||
        read_format(cfg, path, file, &g->jsonl, d) != LLM_OK ||
        read_unit(cfg, path, &g->unit_ns, d) != LLM_OK ||
        jcfg_bool(cfg, path, "rebase", false, &g->rebase, d) != LLM_OK ||
        read_columns(g, cfg, path, d) != LLM_OK ||
        source_open_rows(file, path, &g->rows, d) != LLM_OK)
        return d->code;
    if (g->jsonl)
        return LLM_OK;
    if (rows_csv_header(g->rows, d) != LLM_OK)
        return d->code;
    return find_csv_cols(g, path, d);
}

/* Integer bounds of each column; the arrival is a time instead. */
static const int64_t g_min[G_N] = { 0, 1, 0, 0, -1, INT32_MIN };
static const int64_t g_max[G_N] = { 0, INT32_MAX, INT32_MAX, INT32_MAX,
                                    INT64_MAX, INT32_MAX };

static int csv_vals(struct generic *g, char **f, struct g_vals *x,
                    struct llm_diag *d)
{
    const char *ts = f[g->col[G_ARRIVAL]];

    if (rows_time(g->rows, g->name[G_ARRIVAL], ts, g->unit_ns,
                  &x->v[G_ARRIVAL], d))
        return d->code;
    if (x->v[G_ARRIVAL] < g->prev_ns)
        return rows_bad(g->rows, g->name[G_ARRIVAL],
                        "a time at or after the previous row's", ts, d);
    for (int i = G_PROMPT; i < G_N; i++)
        if (g->col[i] >= 0 && rows_int(g->rows, g->name[i], f[g->col[i]],
                                       g_min[i], g_max[i], &x->v[i], d))
            return d->code;
    return LLM_OK;
}

static int json_vals(struct generic *g, const cJSON *o, struct g_vals *x,
                     struct llm_diag *d)
{
    const char *tk = g->name[G_ARRIVAL];

    if (rows_json_time(g->rows, o, tk, g->unit_ns, &x->v[G_ARRIVAL], d))
        return d->code;
    if (x->v[G_ARRIVAL] < g->prev_ns)
        return rows_bad_json(g->rows, tk,
                             "a time at or after the previous row's",
                             cJSON_GetObjectItemCaseSensitive(o, tk), d);
    for (int i = G_PROMPT; i < G_N; i++)
        if (rows_json_int(g->rows, o, g->name[i], g->need[i], g_min[i],
                          g_max[i], &x->v[i], d))
            return d->code;
    return LLM_OK;
}

static int g_read(struct generic *g, struct g_vals *x, bool *eof,
                  struct llm_diag *d)
{
    const cJSON *o;
    char **f;
    int rc;

    if (g->jsonl) {
        rc = rows_json_next(g->rows, &o, eof, d);
        return rc != LLM_OK || *eof ? rc : json_vals(g, o, x, d);
    }
    rc = rows_csv_next(g->rows, &f, eof, d);
    return rc != LLM_OK || *eof ? rc : csv_vals(g, f, x, d);
}

static int g_next(void *st, struct req_spec *out, bool *eof,
                  struct llm_diag *d)
{
    struct generic *g = st;
    struct g_vals x = { .v = { [G_SESSION] = -1 } };
    int rc = g_read(g, &x, eof, d);

    if (rc != LLM_OK || *eof)
        return rc;
    if (!g->started)
        g->first_ns = g->rebase ? x.v[G_ARRIVAL] : 0;
    g->started = true;
    g->prev_ns = x.v[G_ARRIVAL];
    *out = (struct req_spec){
        .arrival_ns = x.v[G_ARRIVAL] - g->first_ns,
        .prompt_tokens = (int32_t)x.v[G_PROMPT],
        .output_tokens = rows_output_tokens(x.v[G_OUTPUT], &g->output_zero),
        .tenant = (int32_t)x.v[G_TENANT],
        .priority = (int32_t)x.v[G_PRIORITY],
        .session = x.v[G_SESSION],
    };
    return LLM_OK;
}

static void g_close(void *st)
{
    struct generic *g = st;

    rows_close(g->rows);
}

static void g_counts(const void *st, struct source_counts *c)
{
    const struct generic *g = st;

    c->output_zero += g->output_zero;
}

const struct source_ops source_generic = {
    .name = "generic",
    .state_size = sizeof(struct generic),
    .open = g_open,
    .next = g_next,
    .close = g_close,
    .counts = g_counts,
};
