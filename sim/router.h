/* sim/router.h: the router interface: which replica takes a new request.
 *
 * A router is a plug-in (const struct router_ops, registered by name in
 * policies/registry.c).  route() sees the request and every replica's
 * public state and returns an index in [0, n).  Routers must be
 * deterministic given their state (randomised ones seed a GSL RNG from the
 * run seed in init).  What a replica offers a router: n_waiting,
 * n_running, n_swapped, load_tokens (forward tokens still to run),
 * wait_tokens, replica_kv_used/free, replica_kv_cached_prefix (what its
 * KV manager holds of q->block_hashes, which are valid during route()
 * only) and weight (its relative speed, for unequal hardware). */
#ifndef LLM_ROUTER_H
#define LLM_ROUTER_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "base/diag.h"
#include "sim/replica_view.h"
#include "sim/request.h"

struct router_ops {
    const char *name;
    size_t state_size;
    int (*init)(void *st, int32_t n_replicas, uint64_t seed,
                const cJSON *params, const char *path, struct llm_diag *d);
    /* reps[i], i in [0, n): the replicas this router chooses among, as
     * policies see them (sim/replica_view.h). */
    int32_t (*route)(void *st, const struct request *q,
                     const struct replica *const *reps, int32_t n);
    void (*fini)(void *st);
};

#endif
