/* run/scenario.h: a scenario config file, parsed and resolved.
 *
 * scenario_load reads the JSON (docs/config.md documents every key),
 * applies --set overrides, resolves the model and device from the
 * catalogs and the policies from the registry, plans memory (KV blocks per
 * replica) and checks everything a run needs, so that a run never fails
 * on configuration.  Errors name the config file and the key path.  The
 * scenario owns the parsed JSON; plug-in parameter objects point into it,
 * and so may the diag's file name after an error (a trace path): call
 * scenario_free after reporting the error, whatever scenario_load
 * returned. */
#ifndef LLM_SCENARIO_H
#define LLM_SCENARIO_H

#include <stdint.h>

#include <cjson/cJSON.h>

#include "run/pools.h"
#include "run/spec_wire.h"
#include "hw/device.h"
#include "hw/engine.h"
#include "hw/offload.h"
#include "hw/woffload.h"
#include "models/memplan.h"
#include "models/model.h"
#include "models/ops.h"
#include "base/diag.h"
#include "sim/kv.h"
#include "sim/replica.h"
#include "sim/router.h"

struct scenario {
    cJSON *root;
    const char *path;            /* borrowed: the config file */
    char name[128];
    uint64_t seed;
    struct model model;
    struct device dev;
    struct shard shard;
    int32_t num_gpus, replicas;
    int32_t max_model_len;
    int32_t block_tokens;
    double mem_util;
    double reserve_gib;          /* < 0: models/memplan.h's default */
    double cuda_graph_gib;
    int64_t kv_blocks_override;  /* > 0 replaces the planned capacity */
    struct mem_plan mem;
    struct attn_offload offload; /* hardware.attention_offload; .on */
    struct weight_offload woffload; /* hardware.weight_offload; .on */
    const struct sched_ops *sched;
    const cJSON *sched_params;
    const struct kv_ops *kv;
    const cJSON *kv_params;
    const struct router_ops *router;
    const cJSON *router_params;
    const cJSON *cost_params;
    struct engine engine;        /* "engine" (hw/engine.h), resolved */
    const cJSON *workload;
    double slo_ttft_ms, slo_tpot_ms;
    double slo_ttft_ms_per_prompt_token, slo_tbt_ema_ms;  /* 0: none */
    double slo_e2e_ms;           /* slo.e2e_ms; < 0: not set */
    char out_dir[512];
    int write_iterations;
    int32_t fast_forward;        /* "fast_forward"; <= 1: off */
    /* The replicas: the "cluster" section's pools (issue 10), or one
     * colocated pool of the fields above (run/pools.h). */
    struct pools pools;
    struct spec_setup spec;      /* "speculative"; spec.on false: none */
};

/* The largest "fast_forward": steady decodes one event may cover. */
#define FAST_FORWARD_MAX 4096

/* sets: NULL-terminated list of "key.path=value" overrides. */
int scenario_load(const char *path, const char *const *sets,
                  struct scenario *sc, struct llm_diag *d);
void scenario_free(struct scenario *sc);
/* The scenario's own cost_model.time_scale (1 when absent). */
double scenario_time_scale(const struct scenario *sc);

/* The memory plan of one GPU of a replica (also `llmsim memory`). */
int scenario_plan_memory(struct scenario *sc, int64_t token_budget,
                         int64_t max_seqs, struct llm_diag *d);

#endif
