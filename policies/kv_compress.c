/* policies/kv_compress.c: the "compressed" KV manager: a paged pool whose
 * requests hold blocks for their compressed KV (kv_compress.h).
 *
 * A request holds ceil(mem_tokens / block_tokens) blocks, mem_tokens
 * from kvc_mem_tokens; a grow that needs fewer blocks than held (SnapKV
 * after its prompt-time selection) returns the surplus to the pool.  The
 * attn_tokens hook tells the replica the context attention reads, so the
 * cost model prices the compressed context. */
#include "policies/kv_compress.h"

#include <math.h>
#include <string.h>

#include "policies/registry.h"
#include "base/jcfg.h"

static const struct {
    const char *name;
    enum kvc_method method;
} methods[] = {
    { "none", KVC_NONE }, { "streaming_llm", KVC_STREAMING },
    { "h2o", KVC_H2O }, { "snapkv", KVC_SNAPKV },
    { "duo_attention", KVC_DUO }, { "razor_attention", KVC_DUO },
};

/* KIVI quantizes all but the newest R tokens, R = 128 in its experiments
 * (Liu et al., "KIVI: A Tuning-Free Asymmetric 2bit Quantization for KV
 * Cache", ICML 2024, sec. 4: residual length R = 128). */
static const struct {
    const char *name;
    int32_t bits;
    int64_t residual;
} dtypes[] = {
    { "fp16", 16, 0 }, { "bf16", 16, 0 }, { "fp8", 8, 0 }, { "int8", 8, 0 },
    { "int4", 4, 0 }, { "kivi2", 2, 128 }, { "kivi4", 4, 128 },
};

#define N_OF(a) ((int)(sizeof(a) / sizeof((a)[0])))

static int parse_method(const cJSON *params, const char *path,
                        struct kvc_params *p, struct llm_diag *d)
{
    const char *s = "none";
    char kp[128];
    int i, rc = jcfg_str(params, path, "method", false, &s, d);

    if (rc != LLM_OK)
        return rc;
    for (i = 0; i < N_OF(methods); i++)
        if (strcmp(s, methods[i].name) == 0) {
            p->method = methods[i].method;
            return LLM_OK;
        }
    jcfg_keypath(kp, sizeof(kp), path, "method");
    return diag_set(d, LLM_EINVAL, "%s: expected one of \"none\", "
                    "\"streaming_llm\", \"h2o\", \"snapkv\", "
                    "\"duo_attention\", \"razor_attention\", got \"%s\"",
                    kp, s);
}

static int parse_dtype(const cJSON *params, const char *path,
                       struct kvc_params *p, struct llm_diag *d)
{
    const char *s = "fp16";
    char kp[128];
    int i, rc = jcfg_str(params, path, "dtype", false, &s, d);

    if (rc != LLM_OK)
        return rc;
    for (i = 0; i < N_OF(dtypes); i++)
        if (strcmp(s, dtypes[i].name) == 0) {
            p->bits = dtypes[i].bits;
            p->residual = dtypes[i].residual;
            return jcfg_int(params, path, "residual", false, 0, INT32_MAX,
                            &p->residual, d);
        }
    jcfg_keypath(kp, sizeof(kp), path, "dtype");
    return diag_set(d, LLM_EINVAL, "%s: expected one of \"fp16\", \"bf16\", "
                    "\"fp8\", \"int8\", \"int4\", \"kivi2\", \"kivi4\", "
                    "got \"%s\"", kp, s);
}

/* The method's own numbers; each is required only by its method. */
static int parse_numbers(const cJSON *params, const char *path,
                         struct kvc_params *p, struct llm_diag *d)
{
    enum kvc_method m = p->method;
    bool win = m == KVC_STREAMING || m == KVC_DUO;
    int rc;

    p->sinks = 4;    /* StreamingLLM's 4 attention sinks (Xiao et al.,
                        ICLR 2024, sec. 3.2) */
    rc = jcfg_int(params, path, "sinks", false, 0, INT32_MAX, &p->sinks, d);
    if (rc == LLM_OK)
        rc = jcfg_int(params, path, "window", win, 1, INT32_MAX,
                      &p->window, d);
    if (rc == LLM_OK)
        rc = jcfg_num(params, path, "heavy_ratio", m == KVC_H2O, 0, 1,
                      &p->heavy_ratio, d);
    if (rc == LLM_OK)
        rc = jcfg_int(params, path, "recent", m == KVC_H2O, 0, INT32_MAX,
                      &p->recent, d);
    if (rc == LLM_OK)
        rc = jcfg_int(params, path, "budget", m == KVC_SNAPKV, 1, INT32_MAX,
                      &p->budget, d);
    if (rc == LLM_OK)
        rc = jcfg_num(params, path, "retrieval_head_frac", m == KVC_DUO, 0,
                      1, &p->retrieval_frac, d);
    return rc;
}

int kvc_parse(const cJSON *params, const char *path, struct kvc_params *p,
              struct llm_diag *d)
{
    int rc;

    memset(p, 0, sizeof(*p));
    p->bits = 16;
    if (params == NULL)
        return LLM_OK;
    rc = parse_method(params, path, p, d);
    if (rc == LLM_OK)
        rc = parse_dtype(params, path, p, d);
    if (rc == LLM_OK)
        rc = parse_numbers(params, path, p, d);
    return rc;
}

static int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

int64_t kvc_attn_tokens(const struct kvc_params *p, int64_t ctx,
                        int64_t prompt)
{
    int64_t stream = min64(ctx, p->sinks + p->window);

    switch (p->method) {
    case KVC_STREAMING:
        return stream;
    case KVC_H2O:
        return min64(ctx, p->recent +
                     (int64_t)ceil(p->heavy_ratio * (double)ctx));
    case KVC_SNAPKV:
        return ctx < prompt ? ctx : min64(prompt, p->budget) + ctx - prompt;
    case KVC_DUO:
        return (int64_t)ceil(p->retrieval_frac * (double)ctx +
                             (1 - p->retrieval_frac) * (double)stream);
    case KVC_NONE:
    default:
        return ctx;
    }
}

int64_t kvc_mem_tokens(const struct kvc_params *p, int64_t ctx,
                       int64_t prompt, bool prefilling)
{
    int64_t kept = p->method == KVC_SNAPKV && prefilling ? ctx
                   : kvc_attn_tokens(p, ctx, prompt);
    int64_t full = min64(kept, p->residual);

    /* bits / 16 of a token's fp16 bytes; the KIVI residual at fp16.
     * Integer arithmetic keeps the result exact for the tests. */
    return full + ((kept - full) * p->bits + 15) / 16;
}

/* --- the KV manager --- */

struct kv_compress {
    int64_t capacity, used;
    int32_t block_tokens;
    struct kvc_params p;
};

static int comp_init(void *st, int64_t capacity_blocks, int32_t block_tokens,
                     const cJSON *params, const char *path,
                     struct llm_diag *d)
{
    static const char *const keys[] = { "name", "block_tokens",
        "gpu_memory_utilization", "method", "sinks", "window",
        "heavy_ratio", "recent", "budget", "retrieval_head_frac", "dtype",
        "residual", NULL };
    struct kv_compress *k = st;
    int rc = params ? jcfg_known(params, path, keys, d) : LLM_OK;

    k->capacity = capacity_blocks;
    k->block_tokens = block_tokens;
    return rc == LLM_OK ? kvc_parse(params, path, &k->p, d) : rc;
}

/* Blocks r holds at `tokens` tokens; a request not yet decoding is
 * prefilling (its prompt, or a recomputation). */
static int64_t comp_want(const struct kv_compress *k, const struct request *r,
                         int64_t tokens)
{
    int64_t mem = kvc_mem_tokens(&k->p, tokens, r->prompt_tokens,
                                 r->state != REQ_DECODE);

    return (mem + k->block_tokens - 1) / k->block_tokens;
}

static int64_t comp_needed(const void *st, const struct request *r,
                           int64_t tokens)
{
    int64_t want = comp_want(st, r, tokens);

    return want > r->kv_blocks ? want - r->kv_blocks : 0;
}

static bool comp_grow(void *st, struct request *r, int64_t tokens)
{
    struct kv_compress *k = st;
    int64_t want = comp_want(k, r, tokens);

    if (want - r->kv_blocks > k->capacity - k->used)
        return false;
    k->used += want - r->kv_blocks;
    r->kv_blocks = (int32_t)want;
    return true;
}

static void comp_release(void *st, struct request *r)
{
    struct kv_compress *k = st;

    k->used -= r->kv_blocks;
    r->kv_blocks = 0;
}

static int64_t comp_free(const void *st)
{
    const struct kv_compress *k = st;

    return k->capacity - k->used;
}

static int64_t comp_used(const void *st)
{
    return ((const struct kv_compress *)st)->used;
}

static int64_t comp_attn(const void *st, const struct request *r,
                         int64_t ctx)
{
    const struct kv_compress *k = st;

    return kvc_attn_tokens(&k->p, ctx, r->prompt_tokens);
}

const struct kv_ops kv_compressed = {
    .name = "compressed",
    .state_size = sizeof(struct kv_compress),
    .init = comp_init,
    .blocks_needed = comp_needed,
    .grow = comp_grow,
    .release = comp_release,
    .free_blocks = comp_free,
    .used_blocks = comp_used,
    .attn_tokens = comp_attn,
};
