/* policies/kv_paged.c: vLLM's paged KV cache without prefix reuse.
 *
 * Blocks are interchangeable, so the pool is a count: a request holds
 * ceil(tokens / block_tokens) blocks and returns them all on release. */
#include "policies/registry.h"
#include "base/jcfg.h"

struct kv_paged {
    int64_t capacity, used;
    int32_t block_tokens;
};

static int paged_init(void *st, int64_t capacity_blocks, int32_t block_tokens,
                      const cJSON *params, const char *path,
                      struct llm_diag *d)
{
    static const char *const keys[] = { "name", "block_tokens",
                                        "gpu_memory_utilization", NULL };
    struct kv_paged *k = st;

    k->capacity = capacity_blocks;
    k->block_tokens = block_tokens;
    return params ? jcfg_known(params, path, keys, d) : LLM_OK;
}

static int64_t paged_needed(const void *st, const struct request *r,
                            int64_t tokens)
{
    const struct kv_paged *k = st;
    int64_t want = (tokens + k->block_tokens - 1) / k->block_tokens;

    return want > r->kv_blocks ? want - r->kv_blocks : 0;
}

static bool paged_grow(void *st, struct request *r, int64_t tokens)
{
    struct kv_paged *k = st;
    int64_t need = paged_needed(st, r, tokens);

    if (need > k->capacity - k->used)
        return false;
    k->used += need;
    r->kv_blocks += (int32_t)need;
    return true;
}

static void paged_release(void *st, struct request *r)
{
    struct kv_paged *k = st;

    k->used -= r->kv_blocks;
    r->kv_blocks = 0;
}

static int64_t paged_free(const void *st)
{
    const struct kv_paged *k = st;

    return k->capacity - k->used;
}

static int64_t paged_used(const void *st)
{
    return ((const struct kv_paged *)st)->used;
}

const struct kv_ops kv_paged = {
    .name = "paged",
    .state_size = sizeof(struct kv_paged),
    .init = paged_init,
    .blocks_needed = paged_needed,
    .grow = paged_grow,
    .release = paged_release,
    .free_blocks = paged_free,
    .used_blocks = paged_used,
};
