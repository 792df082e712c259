/* sim/cluster.h: prefill and decode pools and the KV hand-off between them
 * (issue 10: DistServe, Splitwise, semi-PD).
 *
 * The sim's replicas are laid out pool by pool so that each router sees a
 * contiguous range: arrivals are routed over [0, n_entry) (prefill and
 * mixed replicas), hand-offs over [first_decode, n) (mixed and decode
 * replicas), each by its own router.  A REPLICA_PREFILL replica hands a
 * request off when its prefill produces the first token
 * (replica_take_handoffs); the cluster picks a decode replica, reserves
 * the request's KV blocks there, and moves the KV over the source
 * replica's egress link (a struct sim_link: concurrent transfers out of
 * one replica share its bandwidth).  When the transfer lands, the source
 * releases its blocks and the request joins the decode replica's running
 * set.  A request whose decode replica has no room waits, holding its
 * blocks on the prefill replica, in a FIFO retried whenever a decode
 * replica ends an iteration (DistServe's pull: the decode instance fetches
 * when it has memory).
 *
 * Transfer size: prompt tokens x kv_bytes_per_token (every layer's K and
 * V of every KV head of the replica: cluster_kv_bytes).  Whole mode moves
 * it all after the prefill ends.  Layer mode streams each layer's KV as
 * its layer finishes: of the L layers, the first L - 1 overlap the
 * prefill iteration (as much of them as the link, shared with the
 * transfers in flight, carries during that iteration), and the rest,
 * at least the last layer's share, moves after the prefill ends.  Either
 * way a transfer starts at the prefill's end or later and lands strictly
 * after it (never overlapping its own prefill end).
 *
 * Unified storage (semi-PD): a prefill replica whose decode partner
 * shares its KV manager (replica_share_kv) hands off to that partner
 * with no transfer and no change of blocks.
 *
 * The cluster owns its links, its router state and the waiting FIFO's
 * array, not the requests or replicas.  Not thread-safe; times int64 ns. */
#ifndef LLM_CLUSTER_H
#define LLM_CLUSTER_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "base/diag.h"
#include "sim/link.h"
#include "sim/replica.h"
#include "sim/request.h"
#include "sim/router.h"

struct cluster_config {
    int32_t n_entry;           /* replicas [0, n_entry) take arrivals */
    int32_t first_decode;      /* replicas [first_decode, n) take decodes */
    const struct router_ops *decode_router;
    const cJSON *decode_router_params;
    const char *decode_router_path;
    double kv_bytes_per_token; /* one token's KV, all layers, whole replica */
    int32_t layers;            /* for layer-wise streaming */
    bool layerwise;
    double link_bw_bytes_s;    /* each prefill replica's egress */
    int64_t link_latency_ns;
    /* semi-PD: replica i < n_entry hands off to i + partner_offset with
     * unified KV storage (0: no partners, use the decode router). */
    int32_t partner_offset;
};

struct cluster_stats {
    int64_t transfers;         /* hand-offs over a link */
    int64_t local_handoffs;    /* unified-storage hand-offs */
    double bytes;              /* KV bytes handed off over links */
    double bytes_overlapped;   /* of which streamed during the prefill */
    double xfer_ns_sum;        /* prefill end to KV landed, summed */
    int64_t xfer_ns_max;
    int64_t waits;             /* hand-offs that waited for decode KV room */
    int64_t link_busy_ns;      /* summed over links */
};

struct cluster;

/* Bytes of one request's KV: tokens x per-token bytes. */
double cluster_kv_bytes(double kv_bytes_per_token, int64_t tokens);

/* n_replicas: all of the sim's; views: them as routers see them
 * (&reps[i].pub), kept for the cluster's life.  Errors name the decode
 * router's path. */
int cluster_create(const struct cluster_config *cfg,
                   const struct replica *const *views, int32_t n_replicas,
                   uint64_t seed, struct cluster **out, struct llm_diag *d);
void cluster_destroy(struct cluster *c);        /* NULL ok */

/* Takes q, just handed off by replica src after a prefill iteration of
 * prefill_ns ending at now_ns.  On LLM_OK, *landed is q when it landed at
 * once (unified storage: already accepted by its decode replica), else
 * NULL (a transfer started or q waits for room). */
int cluster_handoff(struct cluster *c, struct replica_core *reps, int32_t n,
                    struct request *q, int64_t now_ns, int64_t prefill_ns,
                    struct request **landed);
/* Retries the waiting hand-offs in order (after decode KV was freed);
 * stops at the first that still finds no room. */
int cluster_retry(struct cluster *c, struct replica_core *reps, int32_t n,
                  int64_t now_ns);
/* Earliest landing on link i, -1 when idle. */
int64_t cluster_link_next(const struct cluster *c, int32_t i);
/* Accepts one transfer on link i landed by now_ns into its decode
 * replica (*out; NULL when none landed); the source's blocks are freed. */
int cluster_link_pop(struct cluster *c, struct replica_core *reps, int32_t i,
                     int64_t now_ns, struct request **out);
int64_t cluster_waiting(const struct cluster *c);
int64_t cluster_in_flight(const struct cluster *c);
/* After a failed run: frees the requests waiting or in flight here. */
void cluster_free_requests(struct cluster *c);
/* Link busy times summed into the stats. */
const struct cluster_stats *cluster_get_stats(struct cluster *c);

#endif
