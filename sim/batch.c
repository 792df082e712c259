#include "sim/batch.h"

#include <stdlib.h>
#include <string.h>

#include "base/diag.h"

void batch_init(struct batch *b)
{
    memset(b, 0, sizeof(*b));
}

void batch_free(struct batch *b)
{
    free(b->prefill);
    free(b->decode);
    free(b->shared);
    batch_init(b);
}

void batch_clear(struct batch *b)
{
    b->n_prefill = b->n_decode = b->n_shared = 0;
    b->prefill_tokens = b->decode_seqs = b->decode_ctx_sum = 0;
    b->shared_keys = 0;
    b->pad_tokens = 0;
    b->graph = BATCH_GRAPH_UNSET;
    b->verify_seqs = b->verify_tokens = 0;
}

static int grow(void **arr, size_t *cap, size_t need, size_t elem)
{
    size_t ncap;
    void *n;

    if (need <= *cap)
        return LLM_OK;
    ncap = *cap ? *cap * 2 : 16;
    while (ncap < need)
        ncap *= 2;
    n = realloc(*arr, ncap * elem);
    if (n == NULL)
        return LLM_ENOMEM;
    *arr = n;
    *cap = ncap;
    return LLM_OK;
}

int batch_add_prefill(struct batch *b, int32_t tokens, int32_t prior,
                      int32_t last)
{
    if (grow((void **)&b->prefill, &b->cap_prefill, b->n_prefill + 1,
             sizeof(*b->prefill)) != LLM_OK)
        return LLM_ENOMEM;
    b->prefill[b->n_prefill++] = (struct prefill_chunk){ tokens, prior, last };
    b->prefill_tokens += tokens;
    return LLM_OK;
}

int batch_add_verify(struct batch *b, int32_t tokens, int32_t ctx)
{
    int rc = batch_add_prefill(b, tokens, ctx, tokens);

    if (rc == LLM_OK) {
        b->verify_seqs++;
        b->verify_tokens += tokens;
    }
    return rc;
}

int batch_add_decode(struct batch *b, int32_t count, int32_t ctx)
{
    int32_t sum;

    /* Merged only while the group's count fits (2e9 + 2e9 wrapped). */
    if (b->n_decode > 0 && b->decode[b->n_decode - 1].ctx == ctx &&
        !__builtin_add_overflow(b->decode[b->n_decode - 1].count, count,
                                &sum)) {
        b->decode[b->n_decode - 1].count = sum;
    } else {
        if (grow((void **)&b->decode, &b->cap_decode, b->n_decode + 1,
                 sizeof(*b->decode)) != LLM_OK)
            return LLM_ENOMEM;
        b->decode[b->n_decode++] = (struct decode_group){ count, ctx };
    }
    b->decode_seqs += count;
    b->decode_ctx_sum += (int64_t)count * ctx;
    return LLM_OK;
}

int batch_add_decodes(struct batch *b, const int32_t *ctx, size_t n)
{
    struct decode_group *g;
    int64_t sum = 0;
    size_t i, nd = b->n_decode;

    if (grow((void **)&b->decode, &b->cap_decode, nd + n,
             sizeof(*b->decode)) != LLM_OK)
        return LLM_ENOMEM;
    g = b->decode;
    for (i = 0; i < n; i++) {
        int32_t c = ctx[i];    /* once: the stores to g could alias ctx */
        if (nd > 0 && g[nd - 1].ctx == c) {
            g[nd - 1].count++;
        } else {
            g[nd].count = 1;
            g[nd++].ctx = c;
        }
        sum += c;
    }
    b->n_decode = nd;
    b->decode_seqs += (int64_t)n;
    b->decode_ctx_sum += sum;
    return LLM_OK;
}

int batch_add_shared(struct batch *b, int32_t count, int32_t tokens,
                     int64_t ctx_sum)
{
    if (count < 2 || tokens < 1)
        return LLM_OK;
    if (grow((void **)&b->shared, &b->cap_shared, b->n_shared + 1,
             sizeof(*b->shared)) != LLM_OK)
        return LLM_ENOMEM;
    b->shared[b->n_shared++] = (struct shared_prefix){ count, tokens,
                                                        ctx_sum };
    b->shared_keys += (int64_t)(count - 1) * tokens;
    return LLM_OK;
}

int64_t batch_tokens(const struct batch *b)
{
    return b->prefill_tokens + b->decode_seqs;
}

int64_t batch_rows(const struct batch *b)
{
    return b->prefill_tokens + b->decode_seqs + b->pad_tokens;
}

int64_t batch_logit_rows(const struct batch *b)
{
    int64_t rows = b->decode_seqs;
    size_t i;

    for (i = 0; i < b->n_prefill; i++)
        rows += b->prefill[i].last;
    return rows;
}
