/* sim/kv.h: the KV-cache manager interface of a replica.
 *
 * The cache is a pool of fixed-size blocks (block_tokens tokens each, all
 * layers).  A manager is a plug-in (const struct kv_ops, registered in
 * policies/registry.c); the replica owns its state.  A request's
 * allocation is tracked in request.kv_blocks; grow() never changes anything
 * when it fails; release() returns every block of the request.  Managers
 * that cache prefixes may hold blocks no request owns (used counts them).
 * Invariants a test checks: 0 <= used <= capacity at all times, and used
 * == 0 once every request is released (for managers without a cache). */
#ifndef LLM_KV_H
#define LLM_KV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "base/diag.h"
#include "sim/record.h"
#include "sim/request.h"

/* Prefix-cache counters of a manager (all zero for managers without a
 * cache).  Lookups and hits count prompt segments (blocks for "prefix",
 * hash blocks for "radix") and their tokens; hits <= lookups always. */
struct kv_stats {
    int64_t lookups, hits;             /* segments looked up / found */
    int64_t lookup_tokens, hit_tokens;
    int64_t inserted, evicted;         /* segments cached / dropped */
    int64_t reuse_sum, reuse_n;        /* reuse distance of the hits, in
                                          allocations since last use */
    int64_t reuse_max;
    int64_t cached_blocks;             /* blocks held by no request */
};

/* Finds the catalog link id: its bandwidth (bytes/s) and latency (s).
 * Errors name the catalog entry. */
typedef int kv_find_link_fn(void *ctx, const char *id, double *bw_bytes_s,
                            double *latency_s, struct llm_diag *d);

/* What a KV manager may move blocks over, given to attach by the replica
 * as the run layer configured it: a manager never reads a catalog
 * itself. */
struct kv_env {
    double block_bytes;        /* one block, all layers, per GPU */
    double host_bw_bytes_s;    /* the device's host link; 0: none */
    int64_t host_latency_ns;   /* per copy */
    kv_find_link_fn *find_link;  /* links by id (an SSD); NULL: none */
    void *find_link_ctx;
};

struct kv_ops {
    const char *name;
    size_t state_size;
    int (*init)(void *st, int64_t capacity_blocks, int32_t block_tokens,
                const cJSON *params, const char *path, struct llm_diag *d);
    /* Blocks r must gain to hold `tokens` tokens in total. */
    int64_t (*blocks_needed)(const void *st, const struct request *r,
                             int64_t tokens);
    /* Grows r to hold `tokens` tokens; false (and no change) if no room. */
    bool (*grow)(void *st, struct request *r, int64_t tokens);
    void (*release)(void *st, struct request *r);
    int64_t (*free_blocks)(const void *st);
    int64_t (*used_blocks)(const void *st);
    void (*fini)(void *st);
    /* Optional (NULL: holds no prefixes): how many leading blocks of the
     * prefix-hash list are cached here, for cache-aware routing. */
    int64_t (*cached_prefix)(const void *st, const uint64_t *hashes,
                             int32_t n);
    /* Optional (NULL: zeros): the prefix-cache counters so far. */
    void (*stats)(const void *st, struct kv_stats *out);
    /* Optional (NULL: ctx): how many of r's ctx cached tokens attention
     * reads, for managers that compress the KV (policies/kv_compress.h);
     * the replica gives the cost model this context. */
    int64_t (*attn_tokens)(const void *st, const struct request *r,
                           int64_t ctx);
    /* Optional, for managers that move KV to other tiers: called once
     * after init with what the replica's hardware offers (struct
     * kv_env); errors name path. */
    int (*attach)(void *st, const struct kv_env *env, const char *path,
                  struct llm_diag *d);
    /* Optional: starts the transfers the grows since the last call asked
     * for, at now_ns, and sets *ready_ns to when the data the iteration
     * needs has landed (<= now_ns: nothing to wait for).  LLM_ENOMEM. */
    int (*sync)(void *st, int64_t now_ns, int64_t *ready_ns);
    /* Optional (NULL: none): fills up to max lower tiers' counters,
     * returns how many. */
    int32_t (*tiers)(const void *st, struct kv_tier_stats *out,
                     int32_t max);
    /* Optional (NULL: shares nothing): how many leading tokens of r's KV
     * sit in cached blocks another request also holds, and in *key an id
     * of the last such block; requests returning the same (tokens, key)
     * read the same KV (shared-prefix attention, sim/batch.h). */
    int64_t (*shared_prefix)(const void *st, const struct request *r,
                             uint64_t *key);
    /* The transfers sync starts run layer by layer alongside the
     * iteration's compute (CacheBlend's pipelined loading, issue 21):
     * the iteration lasts max(compute, transfers) instead of their sum.
     * false (the default): the compute waits for them. */
    bool sync_overlaps;
};

#endif
