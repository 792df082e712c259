/* "burstgpt": HPMLL/BurstGPT CSV, Timestamp (s since 0:00 of day 1, kept
 * as is), Model, Request tokens, Response tokens, Total tokens, Log Type.
 * Columns are found by name, so the newer files' extra columns are
 * ignored.  Failed requests have 0 response tokens: drop_failed drops them
 * (the upstream _without_fails files), otherwise the common output rule
 * (rows_output_tokens) reads them as 1. */
#include <string.h>

#include "base/jcfg.h"
#include "traces/kinds.h"
#include "traces/rows.h"

enum { BG_TIME, BG_MODEL, BG_REQ, BG_RESP, BG_LOG, BG_NCOLS };

static const char *const bg_names[BG_NCOLS] = {
    "Timestamp", "Model", "Request tokens", "Response tokens", "Log Type"
};

struct burstgpt {
    struct rows *rows;
    int col[BG_NCOLS];
    const char *model;       /* borrowed from cfg; NULL: every model */
    const char *log_type;    /* borrowed from cfg; NULL: every log type */
    bool drop_failed;
    int64_t prev_ns;
    int64_t skipped, output_zero;
};

static int bg_open(void *st, const cJSON *cfg, const char *path,
                   uint64_t seed, struct llm_diag *d)
{
    static const char *const keys[] = { "path", "model", "log_type",
                                        "drop_failed", NULL };
    struct burstgpt *b = st;
    const char *file = NULL;

    (void)seed;
    if (source_check_keys(cfg, path, keys, d) != LLM_OK ||
        jcfg_str(cfg, path, "path", true, &file, d) != LLM_OK ||
        jcfg_str(cfg, path, "model", false, &b->model, d) != LLM_OK ||
        jcfg_str(cfg, path, "log_type", false, &b->log_type, d) != LLM_OK ||
        jcfg_bool(cfg, path, "drop_failed", false, &b->drop_failed, d) ||
        source_open_rows(file, path, &b->rows, d) != LLM_OK ||
        rows_csv_header(b->rows, d) != LLM_OK)
        return d->code;
    for (int i = 0; i < BG_NCOLS; i++)
        if (rows_csv_need(b->rows, bg_names[i], NULL, &b->col[i], d))
            return d->code;
    return LLM_OK;
}

/* Whether the model, log-type and failure filters keep a valid row. */
static bool bg_keep(const struct burstgpt *b, char **f, int64_t resp)
{
    if (b->model != NULL && strcmp(f[b->col[BG_MODEL]], b->model) != 0)
        return false;
    if (b->log_type != NULL && strcmp(f[b->col[BG_LOG]], b->log_type) != 0)
        return false;
    return !(b->drop_failed && resp == 0);
}

static int bg_row(struct burstgpt *b, char **f, struct req_spec *out,
                  bool *keep, struct llm_diag *d)
{
    const char *ts = f[b->col[BG_TIME]];
    int64_t t, req, resp;

    if (rows_time(b->rows, bg_names[BG_TIME], ts, 1000000000, &t, d))
        return d->code;
    if (t < b->prev_ns)
        return rows_bad(b->rows, bg_names[BG_TIME],
                        "a time at or after the previous row's", ts, d);
    b->prev_ns = t;
    if (rows_int(b->rows, bg_names[BG_REQ], f[b->col[BG_REQ]], 1, INT32_MAX,
                 &req, d) ||
        rows_int(b->rows, bg_names[BG_RESP], f[b->col[BG_RESP]], 0,
                 INT32_MAX, &resp, d))
        return d->code;
    *keep = bg_keep(b, f, resp);
    if (!*keep)
        return LLM_OK;
    *out = (struct req_spec){
        .arrival_ns = t,
        .prompt_tokens = (int32_t)req,
        .output_tokens = rows_output_tokens(resp, &b->output_zero),
        .session = -1,
    };
    return LLM_OK;
}

static int bg_next(void *st, struct req_spec *out, bool *eof,
                   struct llm_diag *d)
{
    struct burstgpt *b = st;
    char **f;
    bool keep = false;
    int rc;

    do {
        rc = rows_csv_next(b->rows, &f, eof, d);
        if (rc != LLM_OK || *eof)
            return rc;
        if ((rc = bg_row(b, f, out, &keep, d)) != LLM_OK)
            return rc;
        b->skipped += !keep;
    } while (!keep);
    return LLM_OK;
}

static void bg_close(void *st)
{
    struct burstgpt *b = st;

    rows_close(b->rows);
}

static void bg_counts(const void *st, struct source_counts *c)
{
    const struct burstgpt *b = st;

    c->skipped += b->skipped;
    c->output_zero += b->output_zero;
}

static bool bg_sniff(const char *line)
{
    return strncmp(line, "Timestamp,Model,", 16) == 0;
}

const struct source_ops source_burstgpt = {
    .name = "burstgpt",
    .state_size = sizeof(struct burstgpt),
    .open = bg_open,
    .next = bg_next,
    .close = bg_close,
    .counts = bg_counts,
    .sniff = bg_sniff,
};
