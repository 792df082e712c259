/* policies/kv_prefix.c: KV managers that reuse cached prompt prefixes
 * across requests (issue 9).
 *
 * "prefix": vLLM's automatic prefix caching.  A full KV block of a prompt
 * is identified by the prefix it ends (the workload's block hashes,
 * request.prefix_hashes); when a request is allocated its leading blocks
 * that are cached (and computed) are shared, reference-counted, and its
 * prefill skips them.  Its own prompt blocks are cached as it allocates
 * them and become shareable once computed.  A block no request holds
 * stays cached (counted free) until a new allocation needs the room; the
 * "eviction" order (policies/evict.h, default lru as vLLM's evictor)
 * picks which, leaves first so every cached block's prefix stays cached.
 * Reference: vllm/core/block/prefix_caching_block.py (vLLM 0.6).
 *
 * "radix": SGLang's radix cache.  The same, but memory is counted in
 * tokens (page size 1, SGLang's default) and a tree node is one hash
 * block of the workload, partial last block included, so a hit is
 * token-granular: the longest cached prefix, not rounded to KV blocks.
 * The scheduler still sees blocks (free_blocks rounds down, kv_blocks up).
 * Reference: sglang/srt/mem_cache/radix_cache.py (SGLang 0.4).
 *
 * Limits: only prompt tokens are cached (the workload hashes nothing
 * else), and a chain of cached blocks stops at the first block a request
 * holds privately (e.g. one a chunk boundary splits, for radix).
 *
 * The cached blocks form a forest (each entry's parent is the block
 * before it); entries live in an array with a free list, found by key in
 * an open-addressing table, and evictable leaves wait in a binary heap
 * with lazy deletion (a generation number voids stale items). */
#include <stdlib.h>
#include <string.h>

#include "policies/evict.h"
#include "policies/registry.h"
#include "base/jcfg.h"

struct pc_entry {
    uint64_t key;
    int32_t parent;            /* -1: root; next free slot when !live */
    int32_t children, refs, units;
    int32_t start, end;        /* prompt tokens it covers */
    uint32_t gen;              /* bumped whenever heap items go stale */
    bool live, ready;          /* ready: computed, shareable */
    int64_t last_use, uses, born, last_alloc;
};

struct pc_rec {                /* one request's allocation */
    int32_t *ent;
    int32_t n_ent, cap_ent;
    int32_t n_ready;           /* ent[0, n_ready) are ready */
    int64_t held, priv;        /* units held, units held privately */
    bool broken;               /* no more caching for this request */
    bool counting;             /* a prefill lookup: counts hits */
    int32_t next_free;         /* free list of records */
};

struct pc_item {
    struct evict_key key;
    int32_t idx;
    uint32_t gen;
};

struct pc_seg {
    int64_t start, end;
    uint64_t key;
};

struct kv_prefix {
    int64_t cap, used, evictable;  /* units */
    int32_t block_tokens, unit;    /* tokens per block, per unit */
    int32_t hash_tokens;           /* the workload's hash block size */
    bool radix;
    enum evict_policy policy;
    struct pc_entry *e;
    int32_t n_e, cap_e, free_e;
    int32_t *map;                  /* -1 empty, -2 deleted, else entry */
    int64_t map_cap, map_fill, live;
    struct pc_item *heap;
    int64_t n_heap, cap_heap;
    struct pc_rec *rec;
    int32_t n_rec, cap_rec, free_rec;
    int64_t tick, allocs;
    struct kv_stats st;
};

/* ---- key table ---- */

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static int64_t map_find(const struct kv_prefix *k, uint64_t key)
{
    int64_t i, mask = k->map_cap - 1;

    if (k->map_cap == 0)
        return -1;
    for (i = (int64_t)(mix64(key) & (uint64_t)mask);; i = (i + 1) & mask) {
        int32_t v = k->map[i];
        if (v == -1)
            return -1;
        if (v >= 0 && k->e[v].key == key)
            return v;
    }
}

static void map_put_raw(struct kv_prefix *k, uint64_t key, int32_t idx)
{
    int64_t i, mask = k->map_cap - 1;

    for (i = (int64_t)(mix64(key) & (uint64_t)mask); k->map[i] >= 0;
         i = (i + 1) & mask)
        ;
    if (k->map[i] == -1)
        k->map_fill++;
    k->map[i] = idx;
}

/* Rebuilds the table at twice the live entries' need (drops tombstones). */
static bool map_rehash(struct kv_prefix *k)
{
    int64_t cap = 64, i;
    int32_t *n;

    while (cap < 4 * (k->live + 1))
        cap *= 2;
    n = malloc((size_t)cap * sizeof(*n));
    if (n == NULL)
        return false;
    free(k->map);
    k->map = n;
    k->map_cap = cap;
    k->map_fill = 0;
    for (i = 0; i < cap; i++)
        n[i] = -1;
    for (i = 0; i < k->n_e; i++)
        if (k->e[i].live)
            map_put_raw(k, k->e[i].key, (int32_t)i);
    return true;
}

static bool map_put(struct kv_prefix *k, uint64_t key, int32_t idx)
{
    if (2 * (k->map_fill + 1) > k->map_cap && !map_rehash(k))
        return false;
    map_put_raw(k, key, idx);
    return true;
}

static void map_del(struct kv_prefix *k, uint64_t key)
{
    int64_t i, mask = k->map_cap - 1;

    for (i = (int64_t)(mix64(key) & (uint64_t)mask); k->map[i] != -1;
         i = (i + 1) & mask) {
        if (k->map[i] >= 0 && k->e[k->map[i]].key == key) {
            k->map[i] = -2;
            return;
        }
    }
}

/* ---- eviction heap ---- */

static struct evict_key entry_key(const struct kv_prefix *k, int32_t idx)
{
    const struct pc_entry *x = &k->e[idx];
    /* Attention work of recomputing the block: its tokens times the
     * context they attend (the linear layers cost the same for every
     * block of one size, so position orders blocks by cost). */
    struct evict_facts f = { .last_use = x->last_use, .uses = x->uses,
        .born = x->born, .id = idx,
        .cost = (double)(x->end - x->start) *
                (1.0 + 0.5 * (double)(x->start + x->end)) };

    return evict_key(k->policy, &f);
}

static void heap_swap(struct pc_item *h, int64_t a, int64_t b)
{
    struct pc_item t = h[a];

    h[a] = h[b];
    h[b] = t;
}

static bool heap_push(struct kv_prefix *k, int32_t idx)
{
    int64_t i;

    if (k->n_heap == k->cap_heap) {
        int64_t cap = k->cap_heap ? 2 * k->cap_heap : 256;
        struct pc_item *n = realloc(k->heap, (size_t)cap * sizeof(*n));
        if (n == NULL)
            return false;
        k->heap = n;
        k->cap_heap = cap;
    }
    i = k->n_heap++;
    k->heap[i] = (struct pc_item){ entry_key(k, idx), idx, k->e[idx].gen };
    while (i > 0 && evict_before(&k->heap[i].key, &k->heap[(i - 1) / 2].key)) {
        heap_swap(k->heap, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
    return true;
}

static struct pc_item heap_pop(struct kv_prefix *k)
{
    struct pc_item top = k->heap[0];
    int64_t i = 0;

    k->heap[0] = k->heap[--k->n_heap];
    for (;;) {
        int64_t l = 2 * i + 1, m = i;
        if (l < k->n_heap && evict_before(&k->heap[l].key, &k->heap[m].key))
            m = l;
        if (l + 1 < k->n_heap &&
            evict_before(&k->heap[l + 1].key, &k->heap[m].key))
            m = l + 1;
        if (m == i)
            return top;
        heap_swap(k->heap, i, m);
        i = m;
    }
}

static bool evictable_leaf(const struct pc_entry *x)
{
    return x->live && x->ready && x->refs == 0 && x->children == 0;
}

/* ---- entries ---- */

static void entry_free(struct kv_prefix *k, int32_t idx)
{
    struct pc_entry *x = &k->e[idx];

    map_del(k, x->key);
    if (x->parent >= 0)
        k->e[x->parent].children--;
    x->live = false;
    x->gen++;
    x->parent = k->free_e;
    k->free_e = idx;
    k->live--;
    k->used -= x->units;
}

static int32_t entry_new(struct kv_prefix *k)
{
    int32_t idx;

    if (k->free_e >= 0) {
        idx = k->free_e;
        k->free_e = k->e[idx].parent;
        return idx;
    }
    if (k->n_e == k->cap_e) {
        int32_t cap = k->cap_e ? 2 * k->cap_e : 256;
        struct pc_entry *n = realloc(k->e, (size_t)cap * sizeof(*n));
        if (n == NULL)
            return -1;
        k->e = n;
        k->cap_e = cap;
    }
    k->e[k->n_e].gen = 0;
    return k->n_e++;
}

/* Drops evictable leaves in the policy's order until `units` are free.
 * The caller checked that free units (evictable included) suffice. */
static bool evict_units(struct kv_prefix *k, int64_t units)
{
    while (k->cap - k->used < units && k->n_heap > 0) {
        struct pc_item it = heap_pop(k);
        struct pc_entry *x = &k->e[it.idx];
        int32_t parent = x->parent;

        if (x->gen != it.gen || !evictable_leaf(x))
            continue;
        k->evictable -= x->units;
        k->st.evicted++;
        entry_free(k, it.idx);
        if (parent >= 0 && evictable_leaf(&k->e[parent]) &&
            !heap_push(k, parent))
            return false;
    }
    return k->cap - k->used >= units;
}

/* ---- segments of a request's prompt ---- */

/* Segment s of q's prompt (a KV block for prefix, a hash block for
 * radix); false when q has no such cacheable segment.  Its key is the
 * hash of the hash block holding its last token and that token's offset
 * in it: the workload's hashes identify whole prefixes. */
static bool segment(const struct kv_prefix *k, const struct request *q,
                    int64_t s, struct pc_seg *out)
{
    int64_t h = q->prefix_block_tokens, last, i;

    if (q->prefix_hashes == NULL || h <= 0)
        return false;
    if (k->radix) {
        out->start = s * h;
        out->end = out->start + h < q->prompt_tokens ? out->start + h
                                                     : q->prompt_tokens;
    } else {
        out->start = s * k->block_tokens;
        out->end = out->start + k->block_tokens;
    }
    last = out->end - 1;
    i = last / h;
    if (out->start >= out->end || out->end > q->prompt_tokens ||
        i >= q->n_prefix_hashes)
        return false;
    out->key = mix64(q->prefix_hashes[i] ^ mix64((uint64_t)(last % h) + 1));
    return true;
}

static int64_t seg_units(const struct kv_prefix *k, const struct pc_seg *g)
{
    return (g->end - g->start) / k->unit;
}

/* ---- per-request records ---- */

static struct pc_rec *rec_of(const struct kv_prefix *k,
                             const struct request *q)
{
    return q->kv_slot > 0 ? &k->rec[q->kv_slot - 1] : NULL;
}

static struct pc_rec *rec_get(struct kv_prefix *k, struct request *q)
{
    int32_t i;

    if (q->kv_slot > 0)
        return &k->rec[q->kv_slot - 1];
    if (k->free_rec >= 0) {
        i = k->free_rec;
        k->free_rec = k->rec[i].next_free;
    } else {
        if (k->n_rec == k->cap_rec) {
            int32_t cap = k->cap_rec ? 2 * k->cap_rec : 64;
            struct pc_rec *n = realloc(k->rec, (size_t)cap * sizeof(*n));
            if (n == NULL)
                return NULL;
            memset(n + k->n_rec, 0, (size_t)(cap - k->n_rec) * sizeof(*n));
            k->rec = n;
            k->cap_rec = cap;
        }
        i = k->n_rec++;
    }
    k->rec[i].n_ent = k->rec[i].n_ready = 0;
    k->rec[i].held = k->rec[i].priv = 0;
    k->rec[i].broken = false;
    k->rec[i].counting = q->computed == 0;
    q->kv_slot = i + 1;
    return &k->rec[i];
}

static bool rec_push(struct pc_rec *c, int32_t idx)
{
    if (c->n_ent == c->cap_ent) {
        int32_t cap = c->cap_ent ? 2 * c->cap_ent : 16;
        int32_t *n = realloc(c->ent, (size_t)cap * sizeof(*n));
        if (n == NULL)
            return false;
        c->ent = n;
        c->cap_ent = cap;
    }
    c->ent[c->n_ent++] = idx;
    return true;
}

/* Entries q created become shareable once its computed tokens cover
 * them (vLLM caches a block only after the pass that fills it). */
static void rec_mark_ready(struct kv_prefix *k, struct pc_rec *c,
                           const struct request *q)
{
    while (c->n_ready < c->n_ent &&
           k->e[c->ent[c->n_ready]].end <= q->computed)
        k->e[c->ent[c->n_ready++]].ready = true;
}

/* ---- the manager ---- */

static int64_t units_of_tokens(const struct kv_prefix *k, int64_t tokens)
{
    return (tokens + k->unit - 1) / k->unit;
}

static int64_t free_units(const struct kv_prefix *k)
{
    return k->cap - k->used + k->evictable;
}

/* Walks the cached segments q would share from its allocation's end:
 * *units of them in total, *evictable of those now unreferenced (they
 * leave the free pool when shared). */
static void scan_hits(const struct kv_prefix *k, const struct request *q,
                      const struct pc_rec *c, int64_t tokens,
                      int64_t *units, int64_t *evictable)
{
    int64_t held = c ? c->held : 0, s = c ? c->n_ent : 0, idx;
    struct pc_seg g;

    *units = *evictable = 0;
    if ((c && c->broken) || held * k->unit != q->computed ||
        (c && c->priv > 0))
        return;
    while (segment(k, q, s, &g) && g.start == (held + *units) * k->unit &&
           g.end <= tokens && (idx = map_find(k, g.key)) >= 0 &&
           k->e[idx].ready) {
        *units += k->e[idx].units;
        if (k->e[idx].refs == 0)
            *evictable += k->e[idx].units;
        s++;
    }
}

static int64_t prefix_needed_units(const struct kv_prefix *k,
                                   const struct request *q, int64_t tokens)
{
    const struct pc_rec *c = rec_of(k, q);
    int64_t want = units_of_tokens(k, tokens), held = c ? c->held : 0;
    int64_t hit, hit_free;

    if (want <= held)
        return 0;
    scan_hits(k, q, c, tokens, &hit, &hit_free);
    return want - held - hit + hit_free;
}

static int64_t prefix_needed(const void *st, const struct request *r,
                             int64_t tokens)
{
    const struct kv_prefix *k = st;
    int64_t u = prefix_needed_units(k, r, tokens);

    return (u * k->unit + k->block_tokens - 1) / k->block_tokens;
}

/* Shares the cached segments from c's end; returns the tokens they
 * cover past q->computed. */
static int64_t share_hits(struct kv_prefix *k, struct request *q,
                          struct pc_rec *c, int64_t tokens)
{
    int64_t hit = 0, idx;
    struct pc_seg g;

    if (c->broken || c->held * k->unit != q->computed || c->priv > 0)
        return 0;
    while (segment(k, q, c->n_ent, &g) && g.start == c->held * k->unit &&
           g.end <= tokens && (idx = map_find(k, g.key)) >= 0 &&
           k->e[idx].ready) {
        struct pc_entry *x = &k->e[idx];
        if (!rec_push(c, (int32_t)idx))
            break;
        if (x->refs++ == 0) {
            k->evictable -= x->units;
            x->gen++;
        }
        x->uses++;
        x->last_use = k->tick;
        c->n_ready = c->n_ent;
        c->held += x->units;
        hit += g.end - g.start;
        if (c->counting) {
            int64_t dist = k->allocs - x->last_alloc;
            k->st.hits++;
            k->st.hit_tokens += g.end - g.start;
            k->st.reuse_sum += dist;
            k->st.reuse_n++;
            if (dist > k->st.reuse_max)
                k->st.reuse_max = dist;
        }
        x->last_alloc = k->allocs;
    }
    return hit;
}

/* Caches q's own next prompt segments as it allocates them. */
static bool insert_own(struct kv_prefix *k, struct request *q,
                       struct pc_rec *c, int64_t want)
{
    struct pc_seg g;
    int32_t idx;

    while (!c->broken && c->priv == 0 && segment(k, q, c->n_ent, &g) &&
           g.start == c->held * k->unit && c->held + seg_units(k, &g) <= want) {
        if (map_find(k, g.key) >= 0) {
            c->broken = true;      /* someone else is computing it */
            break;
        }
        if (!evict_units(k, seg_units(k, &g)) ||
            (idx = entry_new(k)) < 0)
            return false;
        k->e[idx] = (struct pc_entry){ .key = g.key, .refs = 1,
            .parent = c->n_ent > 0 ? c->ent[c->n_ent - 1] : -1,
            .units = (int32_t)seg_units(k, &g), .start = (int32_t)g.start,
            .end = (int32_t)g.end, .gen = k->e[idx].gen + 1, .live = true,
            .last_use = k->tick, .uses = 1, .born = k->tick,
            .last_alloc = k->allocs };
        if (!map_put(k, g.key, idx) || !rec_push(c, idx)) {
            k->e[idx].live = false;
            k->e[idx].parent = k->free_e;
            k->free_e = idx;
            return false;
        }
        if (k->e[idx].parent >= 0)
            k->e[k->e[idx].parent].children++;
        k->live++;
        k->used += k->e[idx].units;
        c->held += k->e[idx].units;
        k->st.inserted++;
    }
    return true;
}

/* A new prefill allocation: every cacheable segment is one lookup. */
static void count_lookups(struct kv_prefix *k, const struct request *q)
{
    struct pc_seg g;
    int64_t s;

    k->allocs++;
    for (s = 0; segment(k, q, s, &g); s++) {
        k->st.lookups++;
        k->st.lookup_tokens += g.end - g.start;
    }
}

static bool prefix_grow(void *st, struct request *q, int64_t tokens)
{
    struct kv_prefix *k = st;
    int64_t want = units_of_tokens(k, tokens), hit;
    bool fresh = q->kv_slot == 0;
    struct pc_rec *c;

    if (prefix_needed_units(k, q, tokens) > free_units(k))
        return false;
    if ((c = rec_get(k, q)) == NULL)
        return false;
    if (q->prefix_block_tokens > 0)
        k->hash_tokens = q->prefix_block_tokens;
    k->tick++;
    if (fresh && c->counting)
        count_lookups(k, q);
    rec_mark_ready(k, c, q);
    hit = share_hits(k, q, c, tokens);
    q->kv_hit_to = hit > 0 ? q->computed + (int32_t)hit : 0;
    if (c->held < want && !insert_own(k, q, c, want))
        return false;
    if (c->held < want) {
        if (!evict_units(k, want - c->held))
            return false;
        k->used += want - c->held;
        c->priv += want - c->held;
        c->held = want;
    }
    q->kv_blocks = (int32_t)((c->held * k->unit + k->block_tokens - 1) /
                             k->block_tokens);
    return true;
}

/* Gives back one entry q held, last first (children before parents). */
static void release_entry(struct kv_prefix *k, int32_t idx)
{
    struct pc_entry *x = &k->e[idx];

    x->refs--;
    if (!x->ready) {
        /* Never computed: nothing to keep (only its creator held it). */
        entry_free(k, idx);
        return;
    }
    if (x->refs > 0)
        return;
    x->last_use = k->tick;
    k->evictable += x->units;
    if (x->children == 0)
        heap_push(k, idx);
}

static void prefix_release(void *st, struct request *q)
{
    struct kv_prefix *k = st;
    struct pc_rec *c = rec_of(k, q);
    int32_t i;

    if (c != NULL) {
        k->tick++;
        rec_mark_ready(k, c, q);
        for (i = c->n_ent - 1; i >= 0; i--)
            release_entry(k, c->ent[i]);
        k->used -= c->priv;
        c->next_free = k->free_rec;
        k->free_rec = q->kv_slot - 1;
    }
    q->kv_slot = 0;
    q->kv_blocks = 0;
    q->kv_hit_to = 0;
}

static int64_t prefix_free(const void *st)
{
    const struct kv_prefix *k = st;

    return free_units(k) * k->unit / k->block_tokens;
}

static int64_t prefix_used(const void *st)
{
    const struct kv_prefix *k = st;

    return (k->used * k->unit + k->block_tokens - 1) / k->block_tokens;
}

static int64_t prefix_cached(const void *st, const uint64_t *hashes,
                             int32_t n)
{
    const struct kv_prefix *k = st;
    struct request q = { .prefix_hashes = (uint64_t *)hashes,
                         .n_prefix_hashes = n,
                         .prefix_block_tokens = k->hash_tokens };
    struct pc_seg g;
    int64_t s, idx, tokens = 0;

    if (k->hash_tokens <= 0)
        return 0;
    q.prompt_tokens = (int32_t)((int64_t)n * k->hash_tokens);
    for (s = 0; segment(k, &q, s, &g) && (idx = map_find(k, g.key)) >= 0 &&
                k->e[idx].ready; s++)
        tokens = g.end;
    return tokens / k->hash_tokens;
}

/* The chain of r's leading computed entries that other requests hold
 * too: a block with refs > 1 is read by every holder. */
static int64_t prefix_shared(const void *st, const struct request *q,
                             uint64_t *key)
{
    const struct kv_prefix *k = st;
    const struct pc_rec *c = rec_of(k, q);
    int32_t i, last = -1;

    for (i = 0; c != NULL && i < c->n_ent; i++) {
        const struct pc_entry *x = &k->e[c->ent[i]];
        if (!x->ready || x->refs < 2)
            break;
        last = c->ent[i];
    }
    if (last < 0)
        return 0;
    *key = k->e[last].key;
    return k->e[last].end;
}

static void prefix_stats(const void *st, struct kv_stats *out)
{
    const struct kv_prefix *k = st;

    *out = k->st;
    out->cached_blocks = k->evictable * k->unit / k->block_tokens;
}

static void prefix_fini(void *st)
{
    struct kv_prefix *k = st;
    int32_t i;

    for (i = 0; i < k->n_rec; i++)
        free(k->rec[i].ent);
    free(k->rec);
    free(k->e);
    free(k->map);
    free(k->heap);
}

static int common_init(struct kv_prefix *k, int64_t capacity_blocks,
                       int32_t block_tokens, const cJSON *params,
                       const char *path, struct llm_diag *d)
{
    static const char *const keys[] = { "name", "block_tokens",
        "gpu_memory_utilization", "eviction", NULL };
    int rc;

    k->block_tokens = block_tokens;
    k->unit = k->radix ? 1 : block_tokens;
    k->cap = capacity_blocks * block_tokens / k->unit;
    k->free_e = k->free_rec = -1;
    k->policy = EVICT_LRU;
    if (params == NULL)
        return LLM_OK;
    rc = jcfg_known(params, path, keys, d);
    if (!rc)
        rc = evict_read(params, path, "eviction", &k->policy, d);
    return rc;
}

static int prefix_init(void *st, int64_t capacity_blocks,
                       int32_t block_tokens, const cJSON *params,
                       const char *path, struct llm_diag *d)
{
    return common_init(st, capacity_blocks, block_tokens, params, path, d);
}

static int radix_init(void *st, int64_t capacity_blocks,
                      int32_t block_tokens, const cJSON *params,
                      const char *path, struct llm_diag *d)
{
    ((struct kv_prefix *)st)->radix = true;
    return common_init(st, capacity_blocks, block_tokens, params, path, d);
}

const struct kv_ops kv_prefix = {
    .name = "prefix",
    .state_size = sizeof(struct kv_prefix),
    .init = prefix_init,
    .blocks_needed = prefix_needed,
    .grow = prefix_grow,
    .release = prefix_release,
    .free_blocks = prefix_free,
    .used_blocks = prefix_used,
    .fini = prefix_fini,
    .cached_prefix = prefix_cached,
    .stats = prefix_stats,
    .shared_prefix = prefix_shared,
};

const struct kv_ops kv_radix = {
    .name = "radix",
    .state_size = sizeof(struct kv_prefix),
    .init = radix_init,
    .blocks_needed = prefix_needed,
    .grow = prefix_grow,
    .release = prefix_release,
    .free_blocks = prefix_free,
    .used_blocks = prefix_used,
    .fini = prefix_fini,
    .cached_prefix = prefix_cached,
    .stats = prefix_stats,
    .shared_prefix = prefix_shared,
};
