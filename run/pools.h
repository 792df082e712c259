/* run/pools.h: the replicas of a scenario as a list of pools, each with
 * its own device, parallelism, replica count, scheduler and memory plan.
 * A colocated scenario is one pool that takes both phases (its
 * "hardware" section; pools_colocated); the "cluster" section gives
 * prefill, decode, mixed and semi-PD pools with KV hand-offs between them
 * (issue 10; docs/disagg.md).
 *
 * pools_parse reads and checks the "cluster" section and plans each
 * pool's memory; pools_start builds one engine and cost model per pool
 * and the sim's replica configs (laid out as sim/cluster.h wants:
 * prefill, semi-PD prefill halves, mixed, semi-PD decode halves, decode)
 * and, for a cluster, its cluster config.  Every iteration of every
 * replica is priced by the one price function here (its pool's cost
 * model; a semi-PD half's share of the SMs, hw/smsplit.h; a power cap the
 * run sets, hw/powercap.h), and metered by pools_iteration on its pool's
 * device: one pricing path and one energy path.  pools_summary adds a
 * cluster's cost, energy, per-GPU goodput and KV hand-off figures.
 * struct pools is a value inside the scenario; its runtime part (cost
 * models, replica configs) is owned by it between pools_start and
 * pools_stop.  Errors name "cluster.pools[i].KEY". */
#ifndef LLM_POOLS_H
#define LLM_POOLS_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "hw/cost.h"
#include "hw/engine.h"
#include "hw/device.h"
#include "hw/energy.h"
#include "hw/offload.h"
#include "hw/smsplit.h"
#include "hw/woffload.h"
#include "models/memplan.h"
#include "models/model.h"
#include "models/ops.h"
#include "sim/cluster.h"
#include "base/diag.h"
#include "sim/replica.h"
#include "sim/router.h"
#include "sim/sim.h"

#define POOLS_MAX 8


enum pool_role { POOL_PREFILL, POOL_DECODE, POOL_MIXED, POOL_SEMI_PD };

/* Prices an iteration of replica (the run's index) whose cost model
 * gave bd, under a power cap: sets *ns (hw/powercap.h). */
typedef int pool_cap_fn(void *ctx, int32_t replica, const struct batch *b,
                        const struct cost_breakdown *bd, int64_t *ns);

struct pool {
    char name[32];
    enum pool_role role;
    struct device dev;
    struct shard shard;
    int32_t replicas;
    const struct sched_ops *sched;
    const cJSON *sched_params;
    char sched_path[48];
    struct mem_plan mem;
    /* semi-PD: the SMs' split and its SLO-aware adjustment
     * (prefill_sm_fraction, sm_shared, sm_adjust; hw/smsplit.h) */
    struct sm_split split;
    /* The colocated pool's hardware.attention_offload and weight_offload
     * (.on false: none, and always in a cluster). */
    struct attn_offload offload;
    struct weight_offload woffload;
    /* runtime (pools_start .. pools_stop) */
    struct engine engine;         /* the config's engine on this device */
    struct cost_env env;          /* the cost model keeps a pointer */
    struct cost_model *cost;
    struct energy_power power;
    bool has_power;
    struct energy_meter energy[2];  /* [0] all or semi-PD prefill, [1] its
                                       decode half */
    double ridge_tokens;          /* roofline ridge for the SM split */
    int64_t extrapolated;
    int64_t extrap_ns, priced_ns; /* extrapolated and all priced time */
    pool_cap_fn *cap;             /* set by the run; NULL: no power cap */
    void *cap_ctx;
};

/* One replica's runtime context: its pool and, for semi-PD, its half. */
struct pool_slot {
    struct pool *pool;
    int half;                   /* 0, or 1: semi-PD decode half */
    int32_t replica;            /* the sim's index */
    struct sm_split *split;     /* semi-PD: the pool's; else NULL */
    int32_t gpus;               /* the pool's GPUs per replica */
};

struct pools {
    int32_t n;                  /* >= 1 once the scenario is loaded */
    /* The config's "cluster" section: KV hand-offs between the pools
     * (sim/cluster.h) and the summary's "cluster" figures.  false: one
     * colocated pool. */
    bool cluster;
    bool adjusting;             /* a pool adjusts its SM split */
    struct pool p[POOLS_MAX];
    const struct router_ops *decode_router;
    const cJSON *decode_router_params;
    struct link link;
    bool layerwise;
    const cJSON *engine_spec;     /* the config's "engine" value, or NULL */
    struct cluster_config cc;
    struct replica_config *rcs;   /* runtime */
    struct pool_slot *slots;
    int32_t n_replicas, gpus;
};

/* Parses root's "cluster" (absent: pools->n = 0).  base: the scenario's
 * hardware section as parsed (dtypes, network, gpus per node), the
 * defaults of every pool; sched: the scenario's scheduler. */
int pools_parse(const cJSON *root, const struct model *m,
                const struct shard *base, const struct sched_ops *sched,
                const cJSON *sched_params, double mem_util,
                int32_t block_tokens, int32_t max_model_len,
                struct pools *ps, struct llm_diag *d);

/* The colocated scenario's one pool: p (its role, name and split are
 * set here).  LLM_OK. */
int pools_colocated(struct pools *ps, const struct pool *p);

/* Starts every pool (engine on its device, cost model, power states)
 * and builds the sim's replica configs (and, for a cluster, the cluster
 * config): tmpl gives what all replicas share (KV
 * manager, block size, max length, shared prefix, speculation), each
 * pool what is its own. */
int pools_start(struct pools *ps, const struct model *m,
                const cJSON *cost_params, const struct replica_config *tmpl,
                struct llm_diag *d);
/* The replicas pools_start built (and the cluster's hand-offs) into the
 * sim's config, each priced by the plain price or, for a capped pool or
 * a semi-PD half, the shared one: call it after the cap is set. */
void pools_sim_config(const struct pools *ps, struct sim_config *cfg);
void pools_stop(struct pools *ps);
/* Meters one ended iteration of the sim these pools built (rec->replica
 * is one of its replicas) on its pool's device: energy, when the device
 * has power states.  Inline: it runs once an iteration. */
static inline void pools_iteration(struct pools *ps,
                                   const struct iter_record *rec)
{
    const struct pool_slot *s;

    if (ps->slots == NULL)
        return;
    s = &ps->slots[rec->replica];
    if (s->pool->has_power)
        energy_meter_add(&s->pool->energy[s->half], &s->pool->power,
                         rec->prefill_tokens, rec->decode_seqs, 0,
                         rec->end_ns - rec->start_ns, s->gpus);
}
/* A completed request q (first token and finish set; not rejected), for
 * semi-PD's SLO-aware split: counts whether it met ttft_ms and tpot_ms. */
void pools_observe(struct pools *ps, const struct request *q,
                   double ttft_ms, double tpot_ms);
int64_t pools_extrapolated(const struct pools *ps);
/* Sums every pool's extrapolated and priced nanoseconds into *x_ns and
 * *tot_ns (added to what they hold); returns the cost model of the pool
 * with the most extrapolated time (NULL: none), for its description. */
const struct cost_model *pools_extrap(const struct pools *ps, int64_t *x_ns,
                                      int64_t *tot_ns);
/* Pool p's joules over a run of span_ns: its iterations, and its idle
 * time at idle power (metered here, so call it once); a semi-PD half
 * draws its share of the device.  NAN when the device's power is
 * unknown. */
double pool_joules(struct pool *p, int64_t span_ns);
/* GPUs of one replica of p (tp x pp). */
int32_t pool_gpus(const struct pool *p);
/* Catalog links by id under llm_root() (sim/kv.h kv_find_link_fn; ctx
 * unused): what the run gives a KV manager's lower tiers. */
int pools_find_link(void *ctx, const char *id, double *bw_bytes_s,
                    double *latency_s, struct llm_diag *d);
/* Adds the "cluster" object to summary. */
void pools_summary(struct pools *ps, const struct sim_stats *st,
                   const struct cluster_stats *cs, cJSON *summary);

#endif
