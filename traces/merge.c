/* "merge": several sources, {"type": "merge", "sources": [{...}, ...]},
 * interleaved by arrival time.  Stable: equal arrivals come in the order
 * of "sources".  Each child is a full source (its own transforms, its own
 * seed stream); only each child's next request is held.
 *
 * Children are independent workloads, so their identities are kept apart:
 * session s of child i becomes s * n + i, and block hashes are mixed with
 * the child's index (two Mooncake traces both number their blocks from 0;
 * they share no prefix). */
#include <stdio.h>
#include <stdlib.h>

#include "base/jcfg.h"
#include "traces/kinds.h"

struct merge_src {
    struct req_source *src;
    struct req_spec head;    /* the child's next request, if have */
    bool have, done;
};

struct merge {
    struct merge_src *v;
    int n;
    uint64_t *hashes;        /* the last request's mixed block hashes */
    int32_t cap;
};

static int merge_open(void *st, const cJSON *cfg, const char *path,
                      uint64_t seed, struct llm_diag *d)
{
    static const char *const keys[] = { "sources", NULL };
    struct merge *m = st;
    const cJSON *arr = NULL, *child;
    char cp[256];

    if (source_check_keys(cfg, path, keys, d) != LLM_OK ||
        jcfg_arr(cfg, path, "sources", true, &arr, d) != LLM_OK)
        return d->code;
    jcfg_keypath(cp, sizeof(cp), path, "sources");
    if (cJSON_GetArraySize(arr) == 0)
        return diag_set(d, LLM_EINVAL, "%s: expected a non-empty array, got "
                        "[]", cp);
    m->v = calloc((size_t)cJSON_GetArraySize(arr), sizeof(*m->v));
    if (m->v == NULL)
        return diag_set(d, LLM_ENOMEM, "out of memory opening %s", cp);
    cJSON_ArrayForEach(child, arr) {
        snprintf(cp, sizeof(cp), "%s%ssources[%d]", path, path[0] ? "." : "",
                 m->n);
        if (source_open(child, cp, source_mix64(seed) + (uint64_t)m->n + 1,
                        &m->v[m->n].src, d) != LLM_OK)
            return d->code;
        m->n++;
    }
    return LLM_OK;
}

static int refill(struct merge *m, struct llm_diag *d)
{
    struct merge_src *c;
    bool eof;

    for (c = m->v; c < m->v + m->n; c++) {
        if (c->have || c->done)
            continue;
        if (source_next(c->src, &c->head, &eof, d) != LLM_OK)
            return d->code;
        c->have = !eof;
        c->done = eof;
    }
    return LLM_OK;
}

/* Copies the hashes of child i's request, mixed with i, into m. */
static int mix_hashes(struct merge *m, int i, struct req_spec *r,
                      struct llm_diag *d)
{
    uint64_t salt = source_mix64((uint64_t)i + 1);

    if (r->block_hashes == NULL)
        return LLM_OK;
    if (r->n_block_hashes > m->cap) {
        uint64_t *nh = realloc(m->hashes,
                               (size_t)r->n_block_hashes * sizeof(*nh));
        if (nh == NULL)
            return diag_set(d, LLM_ENOMEM, "out of memory for %d hashes",
                            r->n_block_hashes);
        m->hashes = nh;
        m->cap = r->n_block_hashes;
    }
    for (int32_t k = 0; k < r->n_block_hashes; k++)
        m->hashes[k] = source_mix64(r->block_hashes[k] ^ salt);
    r->block_hashes = m->hashes;
    return LLM_OK;
}

static int merge_next(void *st, struct req_spec *out, bool *eof,
                      struct llm_diag *d)
{
    struct merge *m = st;
    int best = -1;

    *eof = false;
    if (refill(m, d) != LLM_OK)
        return d->code;
    for (int i = 0; i < m->n; i++)
        if (m->v[i].have && (best < 0 || m->v[i].head.arrival_ns <
                                         m->v[best].head.arrival_ns))
            best = i;
    if (best < 0) {
        *eof = true;
        return LLM_OK;
    }
    *out = m->v[best].head;
    m->v[best].have = false;
    if (out->session >= 0 && out->session > (INT64_MAX - best) / m->n)
        return diag_set(d, LLM_ERANGE, "sources[%d]: session %lld too large "
                        "to renumber", best, (long long)out->session);
    if (out->session >= 0)
        out->session = out->session * m->n + best;
    return mix_hashes(m, best, out, d);
}

static void merge_close(void *st)
{
    struct merge *m = st;

    for (int i = 0; i < m->n; i++)   /* a failed child closed itself */
        source_close(m->v[i].src);
    free(m->v);
    free(m->hashes);
}

static void merge_counts(const void *st, struct source_counts *c)
{
    const struct merge *m = st;
    struct source_counts k;

    for (int i = 0; i < m->n; i++) {
        source_get_counts(m->v[i].src, &k);
        c->dropped_window += k.dropped_window;
        c->dropped_sample += k.dropped_sample;
        c->capped_prompt += k.capped_prompt;
        c->capped_output += k.capped_output;
        c->skipped += k.skipped;
        c->output_zero += k.output_zero;
    }
}

const struct source_ops source_merge = {
    .name = "merge",
    .state_size = sizeof(struct merge),
    .open = merge_open,
    .next = merge_next,
    .close = merge_close,
    .counts = merge_counts,
};
