/* run/pools.h: the "cluster" section of a scenario: prefill, decode,
 * mixed and semi-PD pools, each with its own device, parallelism, replica
 * count and scheduler (issue 10; docs/disagg.md).
 *
 * pools_parse reads and checks the section and plans each pool's memory;
 * pools_start builds one cost model per pool and the sim's replica and
 * cluster configs (replicas laid out as sim/cluster.h wants: prefill,
 * semi-PD prefill halves, mixed, semi-PD decode halves, decode);
 * pools_iteration meters each iteration's energy on its pool's device;
 * pools_summary adds cost, energy, per-GPU goodput and the KV hand-off
 * figures.  struct pools is a value inside the scenario; its runtime part
 * (cost models, replica configs) is owned by it between pools_start and
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
    double prefill_sm_fraction;  /* semi-PD: the prefill half's share */
    /* semi-PD's SLO-aware split ("sm_adjust"; window 0: fixed): every
     * window completed requests, a TTFT attainment below attain moves
     * step of the SMs to the prefill half, else a TPOT attainment below
     * it moves step to the decode half, within [lo, hi]. */
    bool sm_shared;               /* semi-PD (100, 100): no partition */
    int64_t adj_window;
    double adj_step, adj_lo, adj_hi, adj_attain;
    double sm_frac;               /* runtime: the prefill half's share now */
    int64_t adj_n, adj_ttft_ok, adj_tpot_ok, adjustments;
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
};

/* One replica's runtime context: its pool and, for semi-PD, its half. */
struct pool_slot {
    struct pool *pool;
    int half;                   /* 0, or 1: semi-PD decode half */
    double sm_fraction;         /* 1: the whole device */
};

struct pools {
    int32_t n;                  /* 0: no "cluster" section */
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

/* Builds cost models and replica configs into cfg (replicas, cluster);
 * kv, block size and max length are shared by all pools. */
int pools_start(struct pools *ps, const struct model *m,
                const cJSON *cost_params, const struct kv_ops *kv,
                const cJSON *kv_params, int32_t block_tokens,
                int32_t max_model_len, struct sim_config *cfg,
                struct llm_diag *d);
void pools_stop(struct pools *ps);
void pools_iteration(struct pools *ps, const struct iter_record *rec);
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
/* Adds the "cluster" object to summary. */
void pools_summary(struct pools *ps, const struct sim_stats *st,
                   const struct cluster_stats *cs, cJSON *summary);

/* Time of a batch on a fraction of the device's SMs (semi-PD), from its
 * time on the whole device: the roofline of a dense layer is
 * max(T / (f R), 1) over max(T / R, 1) with T the batch's tokens and R
 * the ridge (tokens at which weight streaming and compute take equally
 * long); memory bandwidth is assumed shared, not split. */
int64_t pools_fraction_ns(int64_t full_ns, int64_t tokens,
                          double ridge_tokens, double fraction);

#endif
