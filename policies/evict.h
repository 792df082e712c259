/* policies/evict.h: eviction orders by name (issue 9).
 *
 * One vocabulary for two choices: which unreferenced cached KV block a
 * prefix cache drops first (policies/kv_prefix.c) and which running
 * request a scheduler preempts first (evict_victim, a pol_victim_fn).
 *   "lru"  least recently used first
 *   "lfu"  least frequently used first (ties: least recently used)
 *   "fifo" first cached (or first admitted) first
 *   "cost" the cheapest to recompute first, so that what is costliest to
 *          recompute stays longest: a block's attention work grows with
 *          its position in the prompt, a request's with its context.
 * Every order ends in a unique tie-break, so runs are deterministic.
 * Stateless; not thread-safe only in what the caller passes. */
#ifndef LLM_EVICT_H
#define LLM_EVICT_H

#include <stdint.h>

#include <cjson/cJSON.h>

#include "base/diag.h"
#include "sim/replica_view.h"

enum evict_policy { EVICT_LRU = 0, EVICT_LFU, EVICT_FIFO, EVICT_COST };

/* Reads PATH.KEY, one of "lru", "lfu", "fifo", "cost"; *out unchanged
 * when absent.  Unknown names: LLM_EINVAL naming the key and the list. */
int evict_read(const cJSON *p, const char *path, const char *key,
               enum evict_policy *out, struct llm_diag *d);
const char *evict_name(enum evict_policy e);

/* What an order may look at; the smallest key goes first. */
struct evict_facts {
    int64_t last_use;          /* logical time of the last use */
    int64_t uses;
    int64_t born;              /* logical time it was cached / admitted */
    double cost;               /* recompute cost, any monotone unit */
    int64_t id;                /* unique tie-break */
};
struct evict_key {
    double k1;
    int64_t k2, k3;
};
struct evict_key evict_key(enum evict_policy e, const struct evict_facts *f);
/* a before b (a goes first). */
int evict_before(const struct evict_key *a, const struct evict_key *b);

/* A pol_victim_fn (policies/common.h): ctx points to an enum
 * evict_policy.  Picks among running requests: lru the one whose last
 * token is oldest, lfu the one with the fewest generated tokens, fifo
 * the earliest admitted, cost the one with the least computed context
 * (recomputing it costs least).  NULL when nothing runs. */
struct request *evict_victim(void *ctx, struct replica *r,
                             const struct request *q);

#endif
