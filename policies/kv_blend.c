/* policies/kv_blend.c: the "blend" KV manager, CacheBlend's reuse of
 * precomputed chunk KV at any position with selective recomputation
 * (issue 21; Yao et al., EuroSys'25, arXiv 2405.16444).
 *
 * Requests hold private paged blocks for every token, as "paged" (a
 * blended chunk's KV differs from its stored copy in the recomputed
 * tokens and the re-rotated keys, so it cannot be shared by reference).
 * Beside the pool sits a chunk store in host DRAM ("store": "host") or on
 * an SSD ("ssd"): the KV of whole prompt segments (struct req_seg, the
 * RAG generator's chunks), found by text id, least recently used evicted
 * (CacheBlend §5.1: one storage level, LRU).  A request's first
 * allocation looks its segments up:
 *   - a stored segment at position 0 (the system prompt) is exact and
 *     reused whole;
 *   - a stored segment elsewhere is reused but for ceil(recompute_ratio x
 *     its tokens), recomputed to restore the cross-attention to the text
 *     before it (§4; default 15%, the paper's minimal ratio r*, §5.1);
 *   - every stored segment's KV is loaded over the store's link.
 * The reused tokens become request.kv_hit_to, so the prefill computes the
 * rest (recomputed tokens, missed segments, the question) as one chunk
 * with the reused tokens as prior context: its linear layers are exact,
 * its attention slightly over-priced (a recomputed token attends only to
 * the tokens before it, not to all reused ones).  The load is pipelined
 * with the recompute layer by layer (§5, the fusor), so the iteration
 * lasts the longer of the two (sim/kv.h sync_overlaps).  Segments a
 * request computed are written to the store when it leaves (its prefill
 * done), asynchronously over the link's write direction.
 *
 * Not modelled: the first layer's full recomputation that selects the
 * high-deviation tokens (1/layers of a full prefill; fold it into the
 * ratio), the ratio's gradual filtering per layer (r1 > r > r2 ...), the
 * loading controller that raises the ratio until recompute matches the
 * load (set recompute_ratio instead), the first layer's load before
 * compute starts, positional re-encoding (RoPE) of loaded keys. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/jcfg.h"
#include "base/keymap.h"
#include "policies/registry.h"
#include "sim/link.h"

struct bl_entry {
    uint64_t id;
    int64_t tokens;
    int32_t prev, next;        /* LRU list, head least recent; -1 ends */
    bool live;
};

struct kv_blend {
    int64_t cap, used;         /* the request pool, blocks */
    int32_t block_tokens;
    double ratio;              /* recompute_ratio */
    bool ssd;
    double cap_gib;
    char *ssd_link;            /* the SSD store's catalog link id (owned) */
    double tok_bytes;          /* KV bytes of one token (per GPU) */
    int64_t store_cap, store_used;   /* tokens */
    struct bl_entry *e;
    int32_t n_e, cap_e, free_e;
    struct keymap map;         /* text id to entry */
    int32_t live;
    int32_t head, tail;
    struct sim_link rd, wr;
    double pend_rd, pend_wr;
    int64_t xfer_id;
    struct kv_stats st;
    struct kv_tier_stats tier;
};

/* ---- the store: a map from text id to entry, LRU order ---- */

static void bl_unlink(struct kv_blend *k, int32_t x)
{
    struct bl_entry *e = &k->e[x];

    if (e->prev >= 0) k->e[e->prev].next = e->next; else k->head = e->next;
    if (e->next >= 0) k->e[e->next].prev = e->prev; else k->tail = e->prev;
    e->prev = e->next = -1;
}

static void bl_push(struct kv_blend *k, int32_t x)
{
    struct bl_entry *e = &k->e[x];

    e->next = -1;
    e->prev = k->tail;
    if (k->tail >= 0) k->e[k->tail].next = x; else k->head = x;
    k->tail = x;
}


/* Drops the least recently used entry. */
static void bl_evict(struct kv_blend *k)
{
    int32_t x = k->head;

    keymap_del(&k->map, k->e[x].id);
    bl_unlink(k, x);
    k->e[x].live = false;
    k->e[x].next = k->free_e;
    k->free_e = x;
    k->live--;
    k->store_used -= k->e[x].tokens;
    k->st.evicted++;
}

static int bl_insert(struct kv_blend *k, uint64_t id, int64_t tokens)
{
    int32_t x;

    if (tokens > k->store_cap)
        return LLM_OK;                 /* never fits: not stored */
    while (k->store_used + tokens > k->store_cap)
        bl_evict(k);
    if (keymap_reserve(&k->map) != LLM_OK)
        return LLM_ENOMEM;
    if (k->free_e >= 0) {
        x = k->free_e;
        k->free_e = k->e[x].next;
    } else {
        if (k->n_e == k->cap_e) {
            int32_t nc = k->cap_e ? 2 * k->cap_e : 1024;
            struct bl_entry *n = realloc(k->e, (size_t)nc * sizeof(*n));
            if (n == NULL)
                return LLM_ENOMEM;
            k->e = n;
            k->cap_e = nc;
        }
        x = k->n_e++;
    }
    k->e[x] = (struct bl_entry){ .id = id, .tokens = tokens, .prev = -1,
                                 .next = -1, .live = true };
    keymap_put(&k->map, id, x);     /* reserved: cannot fail */
    bl_push(k, x);
    k->live++;
    k->store_used += tokens;
    k->st.inserted++;
    k->pend_wr += (double)tokens * k->tok_bytes;
    k->tier.bytes_in += (double)tokens * k->tok_bytes;
    return LLM_OK;
}

/* ---- kv_ops ---- */

static int blend_init(void *st, int64_t capacity_blocks, int32_t block_tokens,
                      const cJSON *params, const char *path,
                      struct llm_diag *d)
{
    static const char *const keys[] = { "name", "block_tokens",
        "gpu_memory_utilization", "recompute_ratio", "store",
        "capacity_gib", "link", NULL };
    static const char *const stores[] = { "host", "ssd", NULL };
    struct kv_blend *k = st;
    const char *store = "host", *link = "nvme-gen4-ssd";
    char kp[128];
    int rc = LLM_OK;

    k->cap = capacity_blocks;
    k->block_tokens = block_tokens;
    k->ratio = 0.15;           /* CacheBlend §5.1: r* = 15% */
    /* 64 GiB of host DRAM per GPU, as the tiered manager (docs/kv.md) */
    k->cap_gib = 64;
    k->free_e = k->head = k->tail = -1;
    if (params != NULL) {
        rc = jcfg_known(params, path, keys, d);
        if (!rc) rc = jcfg_num(params, path, "recompute_ratio", false, 0, 1,
                               &k->ratio, d);
        if (!rc) rc = jcfg_str(params, path, "store", false, &store, d);
        if (!rc) rc = jcfg_num(params, path, "capacity_gib", false, 0, 1e9,
                               &k->cap_gib, d);
        if (!rc) rc = jcfg_str(params, path, "link", false, &link, d);
    }
    if (rc)
        return rc;
    if (strcmp(store, stores[0]) != 0 && strcmp(store, stores[1]) != 0) {
        jcfg_keypath(kp, sizeof(kp), path, "store");
        return diag_set(d, LLM_EINVAL, "%s: expected one of \"host\", "
                        "\"ssd\", got \"%s\"", kp, store);
    }
    k->ssd = strcmp(store, "ssd") == 0;
    k->tier.name = k->ssd ? "ssd" : "host";
    if (k->ssd && (k->ssd_link = strdup(link)) == NULL)
        return diag_set(d, LLM_ENOMEM, "out of memory");
    return LLM_OK;
}

/* The store's link: the SSD's, found through the replica (sim/kv.h
 * kv_env), or the device's host link. */
static int store_link(const struct kv_blend *k, const struct kv_env *env,
                      double *bw, int64_t *lat_ns, struct llm_diag *d)
{
    double lat_s = 0;
    int rc;

    *bw = env->host_bw_bytes_s;
    *lat_ns = env->host_latency_ns;
    if (!k->ssd)
        return LLM_OK;
    if (env->find_link == NULL)
        return diag_set(d, LLM_EINVAL, "no catalog links to find \"%s\" in",
                        k->ssd_link);
    rc = env->find_link(env->find_link_ctx, k->ssd_link, bw, &lat_s, d);
    *lat_ns = (int64_t)(lat_s * 1e9 + 0.5);
    return rc;
}

static int blend_attach(void *st, const struct kv_env *env, const char *path,
                        struct llm_diag *d)
{
    struct kv_blend *k = st;
    double block_bytes = env->block_bytes, bw;
    int64_t lat;
    int rc = store_link(k, env, &bw, &lat, d);

    if (rc != LLM_OK)
        return rc;
    if (block_bytes <= 0 || bw <= 0)
        return diag_set(d, LLM_EINVAL, "%s.name: \"blend\" needs a KV "
                        "block size and the store's link (the device's "
                        "host link for \"host\")", path);
    k->tok_bytes = block_bytes / k->block_tokens;
    k->store_cap = (int64_t)(k->cap_gib * 1073741824.0 / k->tok_bytes);
    link_init(&k->rd, bw, lat);
    link_init(&k->wr, bw, lat);
    return LLM_OK;
}

static int64_t blend_needed(const void *st, const struct request *r,
                            int64_t tokens)
{
    const struct kv_blend *k = st;
    int64_t want = (tokens + k->block_tokens - 1) / k->block_tokens;

    return want > r->kv_blocks ? want - r->kv_blocks : 0;
}

/* The tokens of stored segment g at prompt position pos that need no
 * recomputation. */
static int64_t reused_tokens(const struct kv_blend *k,
                             const struct req_seg *g, int64_t pos)
{
    if (pos == 0)
        return g->tokens;      /* a prefix: its stored KV is exact */
    return g->tokens - (int64_t)ceil(k->ratio * (double)g->tokens);
}

/* A first allocation of `tokens`: the stored segments it covers are
 * loaded and (but for the recomputed share) skipped. */
static void lookup(struct kv_blend *k, struct request *q, int64_t tokens)
{
    int64_t pos = 0, reuse = 0, load = 0;
    int32_t i;

    for (i = 0; i < q->n_segs && pos + q->segs[i].tokens <= tokens; i++) {
        const struct req_seg *g = &q->segs[i];
        int32_t x = g->id ? keymap_get(&k->map, g->id) : -1;
        if (g->id) {
            k->st.lookups++;
            k->st.lookup_tokens += g->tokens;
        }
        if (x >= 0) {
            bl_unlink(k, x);
            bl_push(k, x);
            k->st.hits++;
            k->st.hit_tokens += g->tokens;
            k->tier.hits++;
            load += g->tokens;
            reuse += reused_tokens(k, g, pos);
        }
        pos += g->tokens;
    }
    k->tier.hit_blocks += (load + k->block_tokens - 1) / k->block_tokens;
    k->tier.bytes_out += (double)load * k->tok_bytes;
    k->pend_rd += (double)load * k->tok_bytes;
    if (reuse > 0)
        q->kv_hit_to = q->computed + (int32_t)reuse;
}

static bool blend_grow(void *st, struct request *q, int64_t tokens)
{
    struct kv_blend *k = st;
    int64_t need = blend_needed(st, q, tokens);

    if (need > k->cap - k->used)
        return false;
    if (q->kv_blocks == 0 && q->computed == 0 && q->segs != NULL &&
        k->tok_bytes > 0)
        lookup(k, q, tokens);
    k->used += need;
    q->kv_blocks += (int32_t)need;
    return true;
}

/* A request whose prefill is done stores the segments it computed (and
 * refreshes those it loaded).  An insert that runs out of memory leaves
 * the segment unstored. */
static void blend_release(void *st, struct request *q)
{
    struct kv_blend *k = st;
    int32_t i;

    k->used -= q->kv_blocks;
    q->kv_blocks = 0;
    q->kv_hit_to = 0;
    if (q->computed < q->prompt_tokens || k->tok_bytes <= 0)
        return;
    for (i = 0; i < q->n_segs; i++) {
        int32_t x = q->segs[i].id ? keymap_get(&k->map, q->segs[i].id) : -1;
        if (x >= 0) {
            bl_unlink(k, x);
            bl_push(k, x);
        } else if (q->segs[i].id &&
                   bl_insert(k, q->segs[i].id, q->segs[i].tokens) != LLM_OK) {
            break;
        }
    }
}

static int64_t blend_free(const void *st)
{
    const struct kv_blend *k = st;

    return k->cap - k->used;
}

static int64_t blend_used(const void *st)
{
    return ((const struct kv_blend *)st)->used;
}

static void blend_stats(const void *st, struct kv_stats *out)
{
    *out = ((const struct kv_blend *)st)->st;
}

static int blend_sync(void *st, int64_t now_ns, int64_t *ready_ns)
{
    struct kv_blend *k = st;
    int64_t end;
    int rc = link_flush(&k->wr, now_ns, &k->pend_wr, &k->xfer_id, &end);

    *ready_ns = now_ns;
    if (rc == LLM_OK)
        rc = link_flush(&k->rd, now_ns, &k->pend_rd, &k->xfer_id, &end);
    if (end > *ready_ns)
        *ready_ns = end;
    return rc;
}

static int32_t blend_tiers(const void *st, struct kv_tier_stats *out,
                           int32_t max)
{
    const struct kv_blend *k = st;

    if (max < 1 || k->tok_bytes <= 0)
        return 0;
    out[0] = k->tier;
    out[0].capacity_blocks = k->store_cap / k->block_tokens;
    out[0].used_blocks = (k->store_used + k->block_tokens - 1) /
                         k->block_tokens;
    return 1;
}

static void blend_fini(void *st)
{
    struct kv_blend *k = st;

    link_fini(&k->rd);
    link_fini(&k->wr);
    free(k->ssd_link);
    free(k->e);
    keymap_free(&k->map);
}

const struct kv_ops kv_blend = {
    .name = "blend",
    .state_size = sizeof(struct kv_blend),
    .init = blend_init,
    .blocks_needed = blend_needed,
    .grow = blend_grow,
    .release = blend_release,
    .free_blocks = blend_free,
    .used_blocks = blend_used,
    .fini = blend_fini,
    .stats = blend_stats,
    .attach = blend_attach,
    .sync = blend_sync,
    .tiers = blend_tiers,
    .sync_overlaps = true,
};
