/* policies/kv_tiered.c: the "tiered" KV manager: vLLM-style prefix
 * caching (the "prefix" manager, wrapped) whose evicted blocks are
 * written back to host DRAM and from there to an SSD, and prefetched
 * back on a later hit (issue 9; LMCache's CPU and disk backends).
 *
 * The lower tiers hold prompt hash blocks (the workload's prefix-block
 * hashes; each identifies its whole prefix), in LRU order per tier, each
 * tier exclusive of the ones above.  Which blocks the GPU cache evicts is
 * private to the prefix manager, so this manager keeps a mirror of the
 * GPU-cached hash blocks in LRU order (entered when a request releases its
 * computed prompt, touched by every hit) and, for every n blocks the
 * prefix manager reports evicted, writes back the n least recently used
 * of the mirror: exact for "lru" eviction when hash blocks are KV blocks,
 * an approximation of the victims' identity otherwise (the byte counts
 * are exact).  A request's first allocation looks up the hash blocks
 * after its GPU hit in the lower tiers; the consecutive ones found are
 * prefetched (they leave their tier for the GPU) and count as cached, and
 * the iteration that plans the request waits for the prefetch (sync, as
 * LMCache's blocking retrieve before the forward pass).  Transfers run
 * on sim/link.h links: host reads and writes over the device's host link
 * (full duplex: one link per direction), SSD reads and writes over the
 * catalog's NVMe link (SSD to GPU directly, GPUDirect Storage style;
 * host to SSD demotion over its write link).  Write-backs are
 * asynchronous: only the link's occupancy sees them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/jcfg.h"
#include "base/keymap.h"
#include "base/plugin.h"
#include "policies/registry.h"
#include "sim/link.h"

enum { T_GPU = 0, T_HOST, T_SSD, T_N };

struct tk_entry {
    uint64_t key;
    int64_t blocks;            /* KV blocks of the hash block */
    int32_t prev, next;        /* LRU list of its tier; -1 ends */
    int8_t tier;               /* -1: free */
};

struct tk_list {
    int32_t head, tail;        /* head: least recently used */
};

struct tk_tier {
    struct tk_list lru;
    int64_t cap, used;         /* blocks */
    struct sim_link rd, wr;
    double pend_rd, pend_wr;   /* bytes asked for since the last sync */
    struct kv_tier_stats st;
};

struct kv_tiered {
    struct plugin inner;       /* the prefix manager (base/plugin.h) */
    struct tk_entry *e;
    int32_t n_e, cap_e, free_e;
    struct keymap map;         /* hash to entry */
    int32_t live;
    struct tk_tier t[T_N];
    int64_t evicted_seen;      /* prefix manager's evicted count */
    int64_t owed;              /* evicted blocks not yet written back */
    int32_t block_tokens;
    double block_bytes;
    int64_t xfer_id;
    double host_gib, ssd_gib;
    char ssd_link[JCFG_NAME_MAX + 1]; /* catalog id; "" : no SSD tier */
};

/* --- entries: a map from hash to entry, LRU lists per tier --- */

static void list_unlink(struct kv_tiered *k, int32_t x)
{
    struct tk_entry *e = &k->e[x];
    struct tk_list *l = &k->t[e->tier].lru;

    if (e->prev >= 0) k->e[e->prev].next = e->next; else l->head = e->next;
    if (e->next >= 0) k->e[e->next].prev = e->prev; else l->tail = e->prev;
    e->prev = e->next = -1;
}

static void list_push(struct kv_tiered *k, int32_t x, int8_t tier)
{
    struct tk_entry *e = &k->e[x];
    struct tk_list *l = &k->t[tier].lru;

    e->tier = tier;
    e->next = -1;
    e->prev = l->tail;
    if (l->tail >= 0) k->e[l->tail].next = x; else l->head = x;
    l->tail = x;
}

static void entry_drop(struct kv_tiered *k, int32_t x)
{
    list_unlink(k, x);
    keymap_del(&k->map, k->e[x].key);
    k->e[x].tier = -1;
    k->e[x].next = k->free_e;
    k->free_e = x;
    k->live--;
}

static int32_t entry_new(struct kv_tiered *k, uint64_t key, int64_t blocks)
{
    int32_t x;

    if (keymap_reserve(&k->map) != LLM_OK)
        return -1;
    if (k->free_e >= 0) {
        x = k->free_e;
        k->free_e = k->e[x].next;
    } else {
        if (k->n_e == k->cap_e) {
            int32_t nc = k->cap_e ? k->cap_e * 2 : 1024;
            struct tk_entry *n = realloc(k->e, (size_t)nc * sizeof(*n));
            if (n == NULL)
                return -1;
            k->e = n;
            k->cap_e = nc;
        }
        x = k->n_e++;
    }
    k->e[x] = (struct tk_entry){ .key = key, .blocks = blocks, .prev = -1,
                                .next = -1 };
    keymap_put(&k->map, key, x);    /* reserved: cannot fail */
    k->live++;
    list_push(k, x, T_GPU);
    return x;
}

/* --- moving hash blocks between tiers --- */

static int64_t hb_blocks(const struct kv_tiered *k, int32_t hash_tokens)
{
    return (hash_tokens + k->block_tokens - 1) / k->block_tokens;
}

/* Moves entry x (in tier `from`) one tier down, or drops it past the
 * last tier; the tier below makes room by demoting its own LRU. */
static void demote(struct kv_tiered *k, int32_t x)
{
    int64_t blocks = k->e[x].blocks;
    int8_t from = k->e[x].tier, to = (int8_t)(from + 1);
    double bytes = (double)blocks * k->block_bytes;
    struct tk_tier *t;

    if (from > T_GPU) {
        k->t[from].used -= blocks;
        k->t[from].st.bytes_out += bytes;
    }
    while (to < T_N && k->t[to].cap < blocks)
        to++;                  /* a tier too small (or absent) is skipped */
    if (to >= T_N) {
        entry_drop(k, x);
        return;
    }
    t = &k->t[to];
    list_unlink(k, x);
    list_push(k, x, to);
    t->used += blocks;
    t->st.bytes_in += bytes;
    t->pend_wr += bytes;
    while (t->used > t->cap)
        demote(k, t->lru.head);
}

/* The prefix manager evicted blocks since the last look: write back as
 * many of the mirror's least recently used hash blocks. */
static void write_back(struct kv_tiered *k)
{
    struct kv_stats s;

    kv_prefix.stats(k->inner.st, &s);
    k->owed += s.evicted - k->evicted_seen;
    k->evicted_seen = s.evicted;
    while (k->owed > 0 && k->t[T_GPU].lru.head >= 0) {
        k->owed -= k->e[k->t[T_GPU].lru.head].blocks;
        demote(k, k->t[T_GPU].lru.head);
    }
    if (k->t[T_GPU].lru.head < 0)
        k->owed = 0;
}

/* Hash blocks [from, n) of q found in lower tiers, consecutively from
 * the first, move to the GPU; returns how many. */
static int32_t prefetch(struct kv_tiered *k, const struct request *q,
                        int32_t from, int32_t n)
{
    int32_t i;

    for (i = from; i < n; i++) {
        int32_t x = keymap_get(&k->map, q->prefix_hashes[i]);
        struct tk_tier *t;
        if (x < 0 || k->e[x].tier == T_GPU)
            break;
        t = &k->t[k->e[x].tier];
        t->used -= k->e[x].blocks;
        t->st.bytes_out += (double)k->e[x].blocks * k->block_bytes;
        t->st.hits++;
        t->st.hit_blocks += k->e[x].blocks;
        t->pend_rd += (double)k->e[x].blocks * k->block_bytes;
        list_unlink(k, x);
        list_push(k, x, T_GPU);
    }
    return i - from;
}

static void touch(struct kv_tiered *k, const struct request *q, int32_t n)
{
    int32_t i;

    for (i = 0; i < n; i++) {
        int32_t x = keymap_get(&k->map, q->prefix_hashes[i]);
        if (x >= 0 && k->e[x].tier == T_GPU) {
            list_unlink(k, x);
            list_push(k, x, T_GPU);
        }
    }
}

/* A first allocation: extends the GPU hit with lower-tier hash blocks,
 * never past the tokens being allocated. */
static void lookup_lower(struct kv_tiered *k, struct request *q,
                         int64_t tokens)
{
    int32_t h = q->prefix_block_tokens, n = q->n_prefix_hashes, g, got;
    int64_t to;

    if (h <= 0 || q->prefix_hashes == NULL || k->block_bytes <= 0)
        return;
    g = q->kv_hit_to / h;
    touch(k, q, g < n ? g : n);
    if ((int64_t)g * h >= tokens)
        return;
    got = prefetch(k, q, g, n);
    to = (int64_t)(g + got) * h;
    if (to > tokens) to = tokens;
    if (to > q->prompt_tokens) to = q->prompt_tokens;
    if (got > 0 && to > q->kv_hit_to)
        q->kv_hit_to = (int32_t)to;
}

/* --- kv_ops --- */

static int parse_tier(const cJSON *params, const char *path,
                      const char *key, double def_gib, double *gib,
                      const char **link, struct llm_diag *d)
{
    static const char *const keys[] = { "capacity_gib", "link", NULL };
    const cJSON *o = NULL;
    char kp[128];
    int rc = jcfg_obj(params, path, key, false, &o, d);

    *gib = def_gib;
    if (rc != LLM_OK || o == NULL)
        return rc;
    jcfg_keypath(kp, sizeof(kp), path, key);
    rc = jcfg_known(o, kp, keys, d);
    if (rc == LLM_OK)
        rc = jcfg_num(o, kp, "capacity_gib", false, 0, 1e9, gib, d);
    if (rc == LLM_OK && link != NULL)
        rc = jcfg_name(o, kp, "link", false, "a catalog id", link, d);
    return rc;
}

static int tiered_init(void *st, int64_t capacity_blocks,
                       int32_t block_tokens, const cJSON *params,
                       const char *path, struct llm_diag *d)
{
    struct kv_tiered *k = st;
    const char *ssd_link = "nvme-gen4-ssd";
    cJSON *inner = params ? cJSON_Duplicate(params, 1) : NULL;
    int rc, i;

    k->free_e = -1;
    for (i = 0; i < T_N; i++)
        k->t[i].lru.head = k->t[i].lru.tail = -1;
    k->block_tokens = block_tokens;
    /* 64 GiB of host DRAM per GPU by default: a quarter of a DGX H100's
     * share (2 TB of system memory for 8 GPUs, NVIDIA DGX H100 data
     * sheet), leaving the rest to the OS, pinned staging and the engine;
     * a config sets its own. */
    rc = parse_tier(params, path, "host", 64, &k->host_gib, NULL, d);
    if (rc == LLM_OK)
        rc = parse_tier(params, path, "ssd", 0, &k->ssd_gib, &ssd_link, d);
    if (rc == LLM_OK && k->ssd_gib > 0)    /* a valid name: it fits */
        snprintf(k->ssd_link, sizeof(k->ssd_link), "%s", ssd_link);
    if (rc == LLM_OK && params != NULL && inner == NULL)
        rc = diag_set(d, LLM_ENOMEM, "out of memory");
    cJSON_DeleteItemFromObjectCaseSensitive(inner, "host");
    cJSON_DeleteItemFromObjectCaseSensitive(inner, "ssd");
    if (rc == LLM_OK)
        rc = plugin_alloc(&k->inner, kv_prefix.state_size, d);
    if (rc == LLM_OK)
        rc = plugin_started(&k->inner,
                            kv_prefix.init(k->inner.st, capacity_blocks,
                                           block_tokens, inner, path, d),
                            kv_prefix.fini);
    cJSON_Delete(inner);
    return rc;
}

/* The SSD tier's link, found through the replica (sim/kv.h kv_env); a
 * manager without an SSD tier needs none. */
static int ssd_link(const struct kv_tiered *k, const struct kv_env *env,
                    double *bw, int64_t *lat_ns, struct llm_diag *d)
{
    double lat_s = 0;
    int rc = LLM_OK;

    *bw = 0;
    if (k->ssd_link[0] != '\0' && env->find_link == NULL)
        return diag_set(d, LLM_EINVAL, "no catalog links to find \"%s\" in",
                        k->ssd_link);
    if (k->ssd_link[0] != '\0')
        rc = env->find_link(env->find_link_ctx, k->ssd_link, bw, &lat_s, d);
    *lat_ns = (int64_t)(lat_s * 1e9 + 0.5);
    if (*bw <= 0)
        *bw = 1;
    return rc;
}

static int tiered_attach(void *st, const struct kv_env *env,
                         const char *path, struct llm_diag *d)
{
    struct kv_tiered *k = st;
    double block_bytes = env->block_bytes, host_bw = env->host_bw_bytes_s;
    int64_t host_lat_ns = env->host_latency_ns, ssd_lat = 0;
    double ssd_bw = 1;
    int rc = ssd_link(k, env, &ssd_bw, &ssd_lat, d);

    if (rc != LLM_OK)
        return rc;
    if (block_bytes <= 0 || host_bw <= 0)
        return diag_set(d, LLM_EINVAL, "%s.name: \"tiered\" needs the "
                        "device's host link and a KV block size", path);
    k->block_bytes = block_bytes;
    k->t[T_GPU].cap = INT64_MAX;
    k->t[T_HOST].cap = (int64_t)(k->host_gib * 1073741824.0 / block_bytes);
    k->t[T_SSD].cap = (int64_t)(k->ssd_gib * 1073741824.0 / block_bytes);
    k->t[T_HOST].st.name = "host";
    k->t[T_SSD].st.name = "ssd";
    link_init(&k->t[T_HOST].rd, host_bw, host_lat_ns);
    link_init(&k->t[T_HOST].wr, host_bw, host_lat_ns);
    link_init(&k->t[T_SSD].rd, ssd_bw, ssd_lat);
    link_init(&k->t[T_SSD].wr, ssd_bw, ssd_lat);
    return LLM_OK;
}

static int64_t tiered_needed(const void *st, const struct request *r,
                             int64_t tokens)
{
    return kv_prefix.blocks_needed(((const struct kv_tiered *)st)->inner.st, r,
                                   tokens);
}

static bool tiered_grow(void *st, struct request *q, int64_t tokens)
{
    struct kv_tiered *k = st;
    bool fresh = q->kv_slot == 0;

    if (!kv_prefix.grow(k->inner.st, q, tokens))
        return false;
    write_back(k);
    if (fresh && q->computed == 0)
        lookup_lower(k, q, tokens);
    return true;
}

/* The computed whole hash blocks of q's prompt are now cached on the
 * GPU: enter them in the mirror. */
static void tiered_release(void *st, struct request *q)
{
    struct kv_tiered *k = st;
    int32_t h = q->prefix_block_tokens, i, n;
    int32_t done = q->computed < q->prompt_tokens ? q->computed
                                                  : q->prompt_tokens;

    n = h > 0 && q->prefix_hashes ? done / h : 0;
    if (n > q->n_prefix_hashes)
        n = q->n_prefix_hashes;
    for (i = 0; i < n; i++) {
        int32_t x = keymap_get(&k->map, q->prefix_hashes[i]);
        if (x >= 0 && k->e[x].tier == T_GPU) {
            list_unlink(k, x);
            list_push(k, x, T_GPU);
        } else if (x < 0) {
            /* no memory: not mirrored */
            entry_new(k, q->prefix_hashes[i], hb_blocks(k, h));
        }
    }
    kv_prefix.release(k->inner.st, q);
}

static int64_t tiered_free(const void *st)
{
    return kv_prefix.free_blocks(((const struct kv_tiered *)st)->inner.st);
}

static int64_t tiered_used(const void *st)
{
    return kv_prefix.used_blocks(((const struct kv_tiered *)st)->inner.st);
}

static int64_t tiered_cached(const void *st, const uint64_t *h, int32_t n)
{
    return kv_prefix.cached_prefix(((const struct kv_tiered *)st)->inner.st, h,
                                   n);
}

static int64_t tiered_shared(const void *st, const struct request *r,
                             uint64_t *key)
{
    return kv_prefix.shared_prefix(((const struct kv_tiered *)st)->inner.st, r,
                                   key);
}

static void tiered_stats(const void *st, struct kv_stats *out)
{
    kv_prefix.stats(((const struct kv_tiered *)st)->inner.st, out);
}

static int tiered_sync(void *st, int64_t now_ns, int64_t *ready_ns)
{
    struct kv_tiered *k = st;
    int64_t end;
    int i, rc = LLM_OK;

    *ready_ns = now_ns;
    for (i = T_HOST; i < T_N && rc == LLM_OK; i++) {
        rc = link_flush(&k->t[i].wr, now_ns, &k->t[i].pend_wr,
                        &k->xfer_id, &end);
        if (rc == LLM_OK)
            rc = link_flush(&k->t[i].rd, now_ns, &k->t[i].pend_rd,
                            &k->xfer_id, &end);
        if (end > *ready_ns)
            *ready_ns = end;
    }
    return rc;
}

static int32_t tiered_tiers(const void *st, struct kv_tier_stats *out,
                            int32_t max)
{
    const struct kv_tiered *k = st;
    int32_t n = 0, i;

    for (i = T_HOST; i < T_N && n < max; i++) {
        if (k->t[i].cap <= 0)
            continue;
        out[n] = k->t[i].st;
        out[n].capacity_blocks = k->t[i].cap;
        out[n].used_blocks = k->t[i].used;
        n++;
    }
    return n;
}

static void tiered_fini(void *st)
{
    struct kv_tiered *k = st;
    int i;

    plugin_stop(&k->inner);
    for (i = T_HOST; i < T_N; i++) {
        link_fini(&k->t[i].rd);
        link_fini(&k->t[i].wr);
    }
    free(k->e);
    keymap_free(&k->map);
}

const struct kv_ops kv_tiered = {
    .name = "tiered",
    .state_size = sizeof(struct kv_tiered),
    .init = tiered_init,
    .blocks_needed = tiered_needed,
    .grow = tiered_grow,
    .release = tiered_release,
    .free_blocks = tiered_free,
    .used_blocks = tiered_used,
    .fini = tiered_fini,
    .cached_prefix = tiered_cached,
    .stats = tiered_stats,
    .attach = tiered_attach,
    .sync = tiered_sync,
    .tiers = tiered_tiers,
    .shared_prefix = tiered_shared,
};
