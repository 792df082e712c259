/* "azure": the Azure LLM inference traces, TIMESTAMP,ContextTokens,
 * GeneratedTokens.  The 2023 files are naive wall clock with 7 fractional
 * digits, CRLF and no final newline; the 2024 week-long files carry
 * "+00:00" and 6 digits, and some rows have no fraction.  Arrivals are
 * relative to the first row. */
#include <string.h>

#include "base/jcfg.h"
#include "traces/kinds.h"
#include "traces/rows.h"

#define AZURE_HEADER "TIMESTAMP,ContextTokens,GeneratedTokens"
#define AZURE_TS_WHAT "a timestamp YYYY-MM-DD HH:MM:SS[.fffffff][+HH:MM]"

struct azure {
    struct rows *rows;
    int64_t first_ns;        /* absolute ns of row 1: arrivals start at 0 */
    int64_t prev_ns;
    bool started;
    int64_t output_zero;
};

static int azure_open(void *st, const cJSON *cfg, const char *path,
                      uint64_t seed, struct llm_diag *d)
{
    static const char *const keys[] = { "path", NULL };
    struct azure *a = st;
    const char *file = NULL;

    (void)seed;
    if (source_check_keys(cfg, path, keys, d) != LLM_OK ||
        jcfg_str(cfg, path, "path", true, &file, d) != LLM_OK ||
        source_open_rows(file, path, &a->rows, d) != LLM_OK ||
        rows_csv_header(a->rows, d) != LLM_OK)
        return d->code;
    if (strcmp(rows_csv_header_text(a->rows), AZURE_HEADER) != 0)
        return rows_bad(a->rows, NULL, "the header " AZURE_HEADER,
                        rows_csv_header_text(a->rows), d);
    return LLM_OK;
}

static int azure_next(void *st, struct req_spec *out, bool *eof,
                      struct llm_diag *d)
{
    struct azure *a = st;
    char **f;
    int64_t t, in, gen, rel;
    int rc = rows_csv_next(a->rows, &f, eof, d);

    if (rc != LLM_OK || *eof)
        return rc;
    if (!rows_parse_datetime(f[0], &t))
        return rows_bad(a->rows, "TIMESTAMP", AZURE_TS_WHAT, f[0], d);
    if (!a->started) {
        a->first_ns = a->prev_ns = t;
        a->started = true;
    }
    if (t < a->prev_ns)
        return rows_bad(a->rows, "TIMESTAMP",
                        "a time at or after the previous row's", f[0], d);
    /* Arrivals are int64 ns after the first row: 292 years at most (two
     * rows of 1900 and 2192 overflowed, issue 23). */
    if (__builtin_sub_overflow(t, a->first_ns, &rel))
        return rows_bad(a->rows, "TIMESTAMP", "a time within 292 years of "
                        "the first row's (int64 nanoseconds)", f[0], d);
    if (rows_int(a->rows, "ContextTokens", f[1], 1, INT32_MAX, &in, d) ||
        rows_int(a->rows, "GeneratedTokens", f[2], 0, INT32_MAX, &gen, d))
        return d->code;
    a->prev_ns = t;
    *out = (struct req_spec){
        .arrival_ns = rel,
        .prompt_tokens = (int32_t)in,
        .output_tokens = rows_output_tokens(gen, &a->output_zero),
        .session = -1,
    };
    return LLM_OK;
}

static void azure_close(void *st)
{
    struct azure *a = st;

    rows_close(a->rows);
}

static void azure_counts(const void *st, struct source_counts *c)
{
    const struct azure *a = st;

    c->output_zero += a->output_zero;
}

static bool azure_sniff(const char *line)
{
    return strcmp(line, AZURE_HEADER) == 0;
}

const struct source_ops source_azure = {
    .name = "azure",
    .state_size = sizeof(struct azure),
    .open = azure_open,
    .next = azure_next,
    .close = azure_close,
    .counts = azure_counts,
    .sniff = azure_sniff,
};
