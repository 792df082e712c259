/* policies/router_prefix_affinity.c: cache-aware routing.
 *
 * Requests that share a prompt prefix should meet on the replica that
 * already holds its KV blocks.  In the manner of SGLang's cache-aware
 * router: when the load is unbalanced (the most loaded replica has more
 * than balance_abs_threshold more than the least, and more than
 * balance_rel_threshold times it; "load" as the least_* routers,
 * "requests" by default) the request goes to the least loaded replica.
 * Otherwise each replica's KV manager is asked how many leading blocks of
 * the request's prefix hashes it holds (replica_kv_cached_prefix); if the
 * best holds more than cache_threshold of them, it takes the request
 * (ties to the less loaded).  Failing that (no manager caches prefixes
 * yet, or the prefix is new) the request is pinned by a hash of its first
 * prefix block, so that requests of one prefix meet on one replica; a
 * request without prefix hashes is pinned by its session (conversation)
 * id, and one with neither goes to the least loaded replica.
 * Reference: sgl-model-gateway/src/policies/cache_aware.rs and the
 * defaults of CacheAwareConfig (0.5, 32, 1.1) in SGLang 0.4. */
#include "policies/common.h"
#include "policies/registry.h"
#include "base/jcfg.h"

struct affinity {
    enum pol_load load;
    double abs_thr, rel_thr, cache_thr;
};

static int affinity_init(void *st, int32_t n_replicas, uint64_t seed,
                         const cJSON *params, const char *path,
                         struct llm_diag *d)
{
    static const char *const keys[] = { "name", "load",
        "balance_abs_threshold", "balance_rel_threshold", "cache_threshold",
        NULL };
    struct affinity *a = st;
    int rc;

    (void)n_replicas;
    (void)seed;
    *a = (struct affinity){ .load = POL_LOAD_REQUESTS, .abs_thr = 32,
                            .rel_thr = 1.1, .cache_thr = 0.5 };
    if (params == NULL)
        return LLM_OK;
    rc = jcfg_known(params, path, keys, d);
    if (!rc) rc = pol_read_load(params, path, "load", &a->load, d);
    if (!rc) rc = jcfg_num(params, path, "balance_abs_threshold", false, 0,
                           1e15, &a->abs_thr, d);
    if (!rc) rc = jcfg_num(params, path, "balance_rel_threshold", false, 1,
                           1e6, &a->rel_thr, d);
    if (!rc) rc = jcfg_num(params, path, "cache_threshold", false, 0, 1,
                           &a->cache_thr, d);
    return rc;
}

/* splitmix64's finalizer: spreads any hash over the replicas. */
static uint64_t mix(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static bool unbalanced(const struct affinity *a,
                       const struct replica *const *reps,
                       int32_t n)
{
    double lo = pol_load(a->load, reps[0]), hi = lo;
    int32_t i;

    for (i = 1; i < n; i++) {
        double l = pol_load(a->load, reps[i]);
        lo = l < lo ? l : lo;
        hi = l > hi ? l : hi;
    }
    return hi - lo > a->abs_thr && hi > a->rel_thr * lo;
}

/* The replica caching most of q's prefix, if above the threshold. */
static int32_t best_cached(const struct affinity *a, const struct request *q,
                           const struct replica *const *reps, int32_t n)
{
    int64_t best = 0;
    int32_t i, pick = -1;

    for (i = 0; i < n; i++) {
        int64_t m = replica_kv_cached_prefix(reps[i], q->block_hashes,
                                             q->n_block_hashes);
        if (m > best || (m == best && pick >= 0 && m > 0 &&
                         pol_load(a->load, reps[i]) <
                         pol_load(a->load, reps[pick]))) {
            best = m;
            pick = i;
        }
    }
    if (pick >= 0 && (double)best > a->cache_thr * q->n_block_hashes)
        return pick;
    return -1;
}

static int32_t affinity_route(void *st, const struct request *q,
                              const struct replica *const *reps, int32_t n)
{
    const struct affinity *a = st;
    int32_t i;

    if (n < 2)
        return 0;
    if (unbalanced(a, reps, n))
        return pol_least_loaded(a->load, reps, n);
    if (q->n_block_hashes > 0) {
        i = best_cached(a, q, reps, n);
        return i >= 0 ? i : (int32_t)(mix(q->block_hashes[0]) %
                                      (uint64_t)n);
    }
    if (q->session >= 0)
        return (int32_t)(mix((uint64_t)q->session) % (uint64_t)n);
    return pol_least_loaded(a->load, reps, n);
}

const struct router_ops router_prefix_affinity = {
    .name = "prefix_affinity",
    .state_size = sizeof(struct affinity),
    .init = affinity_init,
    .route = affinity_route,
};
