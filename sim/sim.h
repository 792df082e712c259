/* sim/sim.h: one simulation run: arrivals, router, replicas, events.
 *
 * A struct sim is a value: everything a run needs is in it, and two sims
 * in one process are independent.  Arrivals are pulled lazily from the
 * source callback (one pending arrival in the queue at a time), routed to
 * a replica, and served by iteration events until the source is exhausted
 * and every request has finished or been rejected.  Each finished request
 * and each iteration is handed to the recorder as soon as it happens, so
 * memory grows with the requests in flight, not with the trace.
 *
 * Requests longer than max_model_len are handled as vLLM does: a prompt
 * of max_model_len tokens or more is rejected at arrival; the output of
 * the others is capped so that prompt + output <= max_model_len.
 *
 * Ownership: the sim borrows the config's pointees (plug-in params,
 * source and recorder contexts) for its lifetime and owns its replicas,
 * router state and requests. */
#ifndef LLM_SIM_H
#define LLM_SIM_H

#include <stdbool.h>
#include <stdint.h>

#include "sim/cluster.h"
#include "base/diag.h"
#include "sim/kv.h"
#include "sim/replica.h"
#include "sim/request.h"
#include "sim/router.h"

typedef int sim_source_fn(void *ctx, struct req_spec *out, bool *eof,
                          struct llm_diag *d);

/* Closed-loop users: when a request of a session finishes (or is
 * rejected), the source may answer with that session's next request,
 * which arrives at out->arrival_ns (>= now_ns). */
typedef int sim_feedback_fn(void *ctx, int64_t session, int64_t now_ns,
                            struct req_spec *out, bool *has,
                            struct llm_diag *d);

struct sim_recorder {
    void *ctx;
    int (*request_done)(void *ctx, const struct request *q);
    int (*iteration)(void *ctx, const struct iter_record *rec);
};

struct sim_config {
    int32_t n_replicas;
    const struct replica_config *replicas;   /* n_replicas entries */
    const struct router_ops *router;
    const cJSON *router_params;
    const char *router_path;
    uint64_t seed;
    sim_source_fn *source;
    void *source_ctx;
    sim_feedback_fn *feedback;       /* optional; called with source_ctx */
    struct sim_recorder rec;
    /* Prefill/decode pools (sim/cluster.h); NULL: every replica serves
     * both phases.  Arrivals then go to the router over the entry range
     * only. */
    const struct cluster_config *cluster;
};

struct sim_stats {
    int64_t arrived, completed, rejected, truncated;
    int64_t events, iterations, preemptions;
    int64_t first_arrival_ns, last_event_ns;
    double in_system_integral_ns;   /* integral of requests in system dt */
    int64_t max_in_system;
    /* KV swapping over host links, summed over replicas at the end */
    int64_t swap_out_blocks, swap_in_blocks;
    double swap_out_bytes, swap_in_bytes;
    int64_t link_busy_ns;
    /* Prefix caching (issue 9), summed over replicas at the end */
    struct kv_stats kv;
    int64_t prefix_saved_tokens;
};

struct sim;

int sim_create(const struct sim_config *cfg, struct sim **out,
               struct llm_diag *d);
void sim_destroy(struct sim *s);               /* NULL ok */
/* Runs to completion.  LLM_ERANGE if a replica stalls with work left. */
int sim_run(struct sim *s, struct llm_diag *d);
const struct sim_stats *sim_get_stats(const struct sim *s);
/* The KV hand-off figures; NULL when the run has no pools. */
const struct cluster_stats *sim_cluster_stats(const struct sim *s);
/* The replicas, for inspection after (or during) a run. */
const struct replica_core *sim_replica(const struct sim *s, int32_t i);

#endif
