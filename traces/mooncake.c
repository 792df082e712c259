/* "mooncake": Mooncake/Kimi FAST'25 JSONL traces, one object a line:
 * timestamp (ms from the start), input_length, output_length and hash_ids
 * (one remapped hash per block_tokens-token prefix block).
 *
 * The conversation trace quantizes timestamps into about 3 s buckets
 * (traces/README.md), so many requests share one.  spread "uniform" moves
 * each request of a group sharing a timestamp t to t + U[0, w), where w
 * is bucket_ms capped by the gap to the next distinct timestamp (so groups
 * never overlap); the drawn offsets are sorted, so file order is kept.
 * Memory is the largest group, not the file. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_sort.h>

#include "base/jcfg.h"
#include "traces/kinds.h"
#include "traces/rows.h"

struct mc_row {
    int64_t t_ns;
    int32_t in, out;
    uint64_t *hashes;        /* owned; reused from row to row */
    int32_t n, cap;
};

struct mooncake {
    struct rows *rows;
    int64_t block_tokens;
    int64_t bucket_ns;
    gsl_rng *rng;            /* NULL unless spread is "uniform" */
    struct mc_row *group;    /* rows of the current timestamp group */
    double *offsets;         /* their spread, in [0, 1) sorted */
    size_t ngroup, capgroup, pos;
    struct mc_row ahead;     /* the first row of the next group */
    bool have_ahead;
    int64_t width_ns;        /* the current group's spread width */
    int64_t prev_ns;
    int64_t output_zero;
};

static int read_spread(struct mooncake *m, const cJSON *cfg, const char *path,
                       uint64_t seed, struct llm_diag *d)
{
    const char *spread = "none";
    double bucket_ms = 3000;
    char kp[256];

    /* At most 10^4 s (the FAST'25 buckets are 3 s): a timestamp below
     * 9e18 ns plus a spread below 1e13 ns stays inside int64 ns. */
    if (jcfg_str(cfg, path, "spread", false, &spread, d) != LLM_OK ||
        jcfg_num(cfg, path, "bucket_ms", false, 0, 1e7, &bucket_ms, d) ||
        source_pos_num(cfg, path, "bucket_ms", false, &bucket_ms, d) != LLM_OK)
        return d->code;
    m->bucket_ns = llround(bucket_ms * 1e6);
    if (strcmp(spread, "none") == 0)
        return LLM_OK;
    if (strcmp(spread, "uniform") == 0)
        return (m->rng = source_rng(seed, 1, d)) ? LLM_OK : d->code;
    jcfg_keypath(kp, sizeof(kp), path, "spread");
    return diag_set(d, LLM_EINVAL, "%s: expected \"none\" or \"uniform\", "
                    "got \"%s\"", kp, spread);
}

static int mc_open(void *st, const cJSON *cfg, const char *path,
                   uint64_t seed, struct llm_diag *d)
{
    static const char *const keys[] = { "path", "spread", "bucket_ms",
                                         "block_tokens", NULL };
    struct mooncake *m = st;
    const char *file = NULL;

    m->block_tokens = 512;   /* the block size of the FAST'25 traces */
    if (source_check_keys(cfg, path, keys, d) != LLM_OK ||
        jcfg_str(cfg, path, "path", true, &file, d) != LLM_OK ||
        jcfg_int(cfg, path, "block_tokens", false, 1, INT32_MAX,
                 &m->block_tokens, d) != LLM_OK ||
        read_spread(m, cfg, path, seed, d) != LLM_OK)
        return d->code;
    return source_open_rows(file, path, &m->rows, d);
}

static int grow_hashes(struct mc_row *r, int32_t n, struct llm_diag *d)
{
    uint64_t *nh;

    if (n <= r->cap)
        return LLM_OK;
    nh = realloc(r->hashes, (size_t)n * sizeof(*nh));
    if (nh == NULL)
        return diag_set(d, LLM_ENOMEM, "out of memory for %d hash ids", n);
    r->hashes = nh;
    r->cap = n;
    return LLM_OK;
}

static int read_hashes(struct mooncake *m, const cJSON *o, struct mc_row *r,
                       struct llm_diag *d)
{
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(o, "hash_ids"), *h;
    int64_t want = (r->in + m->block_tokens - 1) / m->block_tokens;
    int n;
    char col[32];

    r->n = 0;
    if (arr == NULL)
        return LLM_OK;
    if (!cJSON_IsArray(arr))
        return rows_bad_json(m->rows, "hash_ids", "an array of integers", arr,
                             d);
    n = cJSON_GetArraySize(arr);
    if (n != want)
        return rows_fail(m->rows, d, "hash_ids: expected %lld ids (one per "
                         "%lld-token block of input_length %d), got %d",
                         (long long)want, (long long)m->block_tokens, r->in, n);
    if (grow_hashes(r, n, d) != LLM_OK)
        return d->code;
    cJSON_ArrayForEach(h, arr) {
        snprintf(col, sizeof(col), "hash_ids[%d]", r->n);
        if (!cJSON_IsNumber(h) || h->valuedouble < 0 ||
            h->valuedouble != floor(h->valuedouble) || h->valuedouble > 9e15)
            return rows_bad_json(m->rows, col, "a non-negative integer", h,
                                 d);
        r->hashes[r->n++] = (uint64_t)h->valuedouble;
    }
    return LLM_OK;
}

static int read_row(struct mooncake *m, struct mc_row *r, bool *eof,
                    struct llm_diag *d)
{
    const cJSON *o = NULL;
    int64_t t, in, out;
    int rc = rows_json_next(m->rows, &o, eof, d);

    if (rc != LLM_OK || *eof)
        return rc;
    if (rows_json_time(m->rows, o, "timestamp", 1000000, &t, d) ||
        rows_json_int(m->rows, o, "input_length", true, 1, INT32_MAX, &in,
                      d) ||
        rows_json_int(m->rows, o, "output_length", true, 0, INT32_MAX, &out,
                      d))
        return d->code;
    if (t < m->prev_ns)
        return rows_bad_json(m->rows, "timestamp",
                             "a time at or after the previous row's",
                             cJSON_GetObjectItemCaseSensitive(o, "timestamp"),
                             d);
    m->prev_ns = t;
    r->t_ns = t;
    r->in = (int32_t)in;
    r->out = rows_output_tokens(out, &m->output_zero);
    return read_hashes(m, o, r, d);
}

/* Moves the look-ahead row to the end of the group (swapping buffers). */
static int push_ahead(struct mooncake *m, struct llm_diag *d)
{
    struct mc_row tmp;
    size_t cap = m->capgroup ? m->capgroup * 2 : 16;

    if (m->ngroup == m->capgroup) {
        struct mc_row *ng = realloc(m->group, cap * sizeof(*ng));
        double *no = ng ? realloc(m->offsets, cap * sizeof(*no)) : NULL;
        if (ng != NULL)
            m->group = ng;
        if (no == NULL)
            return diag_set(d, LLM_ENOMEM, "out of memory for a group of "
                            "%zu rows", m->ngroup);
        m->offsets = no;
        memset(m->group + m->capgroup, 0, (cap - m->capgroup) * sizeof(*ng));
        m->capgroup = cap;
    }
    tmp = m->group[m->ngroup];
    m->group[m->ngroup++] = m->ahead;
    m->ahead = tmp;
    m->have_ahead = false;
    return LLM_OK;
}

/* Reads the next group: one row, or with spreading every row that shares
 * its timestamp, plus the first row after them. */
static int fill_group(struct mooncake *m, struct llm_diag *d)
{
    bool eof = false;
    int rc = LLM_OK;

    m->ngroup = m->pos = 0;
    if (!m->have_ahead && (rc = read_row(m, &m->ahead, &eof, d)) != LLM_OK)
        return rc;
    while (!eof && (m->ngroup == 0 || m->ahead.t_ns == m->group[0].t_ns)) {
        if ((rc = push_ahead(m, d)) != LLM_OK || m->rng == NULL)
            return rc;
        rc = read_row(m, &m->ahead, &eof, d);
        if (rc != LLM_OK)
            return rc;
        m->have_ahead = !eof;
    }
    m->width_ns = m->bucket_ns;
    if (m->have_ahead && m->ahead.t_ns - m->group[0].t_ns < m->width_ns)
        m->width_ns = m->ahead.t_ns - m->group[0].t_ns;
    for (size_t i = 0; i < m->ngroup; i++)
        m->offsets[i] = gsl_rng_uniform(m->rng);
    gsl_sort(m->offsets, 1, m->ngroup);
    return LLM_OK;
}

static int mc_next(void *st, struct req_spec *out, bool *eof,
                   struct llm_diag *d)
{
    struct mooncake *m = st;
    const struct mc_row *r;
    int rc;

    *eof = false;
    if (m->pos == m->ngroup && (rc = fill_group(m, d)) != LLM_OK)
        return rc;
    if (m->ngroup == 0) {
        *eof = true;
        return LLM_OK;
    }
    r = &m->group[m->pos];
    *out = (struct req_spec){
        .arrival_ns = r->t_ns,
        .prompt_tokens = r->in,
        .output_tokens = r->out,
        .session = -1,
        .block_hashes = r->n ? r->hashes : NULL,
        .n_block_hashes = r->n,
        .hash_block_tokens = (int32_t)m->block_tokens,
    };
    if (m->rng != NULL)
        out->arrival_ns += (int64_t)(m->offsets[m->pos] *
                                     (double)m->width_ns);
    m->pos++;
    return LLM_OK;
}

static void mc_close(void *st)
{
    struct mooncake *m = st;

    rows_close(m->rows);
    gsl_rng_free(m->rng);
    for (size_t i = 0; i < m->capgroup; i++)
        free(m->group[i].hashes);
    free(m->group);
    free(m->offsets);
    free(m->ahead.hashes);
}

static void mc_counts(const void *st, struct source_counts *c)
{
    const struct mooncake *m = st;

    c->output_zero += m->output_zero;
}

static bool mc_sniff(const char *line)
{
    return line[0] == '{' && strstr(line, "\"input_length\"") != NULL;
}

const struct source_ops source_mooncake = {
    .name = "mooncake",
    .state_size = sizeof(struct mooncake),
    .open = mc_open,
    .next = mc_next,
    .close = mc_close,
    .counts = mc_counts,
    .sniff = mc_sniff,
};
