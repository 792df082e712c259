#include "run/scenario.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hw/cost.h"
#include "models/memplan.h"
#include "policies/registry.h"
#include "base/jcfg.h"
#include "base/paths.h"
#include "base/plugin.h"
#include "traces/source.h"

#define GIB 1073741824.0

static const char *const top_keys[] = { "name", "seed", "model", "hardware",
    "scheduler", "kv_cache", "router", "cost_model", "workload", "slo",
    "output", "cluster", "engine", "speculative", "power", "fast_forward",
    NULL };

/* The model key names a catalog entry or a model file, nothing else. */
static int check_model_id(const cJSON *v, const char *key,
                          struct llm_diag *d)
{
    char *s;
    int rc;

    if (model_id_ok(v->valuestring))
        return LLM_OK;
    s = cJSON_PrintUnformatted(v);
    rc = diag_set(d, LLM_EINVAL, "%s: expected " MODEL_ID_WHAT ", got %.60s",
                  key, s ? s : "?");
    free(s);
    return rc;
}

/* A model file named by a relative path is read from the config file's
 * folder (issue 18); an id or an absolute path is left as it is. */
static const char *model_path(const struct scenario *sc, const char *id,
                              char *buf, size_t n)
{
    const char *slash = sc->path ? strrchr(sc->path, '/') : NULL;

    if (!model_id_is_path(id) || id[0] == '/' || slash == NULL)
        return id;
    snprintf(buf, n, "%.*s/%s", (int)(slash - sc->path), sc->path, id);
    return buf;
}

static int parse_model(struct scenario *sc, struct llm_diag *d)
{
    static const char *const keys[] = { "id", "max_model_len", NULL };
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(sc->root, "model");
    char file[1024];
    const char *id = NULL;
    int64_t mml = 0;
    int rc;

    if (m == NULL)
        return diag_set(d, LLM_EINVAL, "model: missing (expected a catalog "
                        "id such as \"llama-3-8b\")");
    if (cJSON_IsString(m)) {
        id = m->valuestring;
        rc = check_model_id(m, "model", d);
    } else if (cJSON_IsObject(m)) {
        rc = jcfg_known(m, "model", keys, d);
        if (!rc) rc = jcfg_str(m, "model", "id", true, &id, d);
        if (!rc) rc = check_model_id(cJSON_GetObjectItemCaseSensitive(m,
                                     "id"), "model.id", d);
        if (!rc) rc = jcfg_int(m, "model", "max_model_len", false, 2,
                               1 << 24, &mml, d);
    } else {
        return jcfg_str(sc->root, "", "model", true, &id, d);
    }
    if (!rc) rc = model_find(llm_root(), model_path(sc, id, file,
                                                    sizeof(file)),
                             &sc->model, d);
    if (rc)
        return rc;
    sc->max_model_len = mml ? (int32_t)mml : sc->model.max_context;
    return LLM_OK;
}

static const char *const hw_keys[] = { "device", "num_gpus", "tp", "pp",
    "ep", "ep_alltoall", "moe_skew", "gpus_per_node", "network_link",
    "dtype", "kv_dtype", "gpu_memory_utilization", "reserve_gib",
    "cuda_graph_gib", "kv_blocks", "attention_offload",
    "weight_offload", NULL };

/* The parallel layout: tp, pp, ep and how many GPUs in all. */
static int parse_layout(const cJSON *h, struct scenario *sc,
                        struct llm_diag *d)
{
    int64_t tp = 1, pp = 1, ep = 1, gpus = 0, node = 8;
    bool a2a = false;
    int rc = jcfg_int(h, "hardware", "tp", false, 1, 1024, &tp, d);

    if (!rc) rc = jcfg_int(h, "hardware", "pp", false, 1, 1024, &pp, d);
    if (!rc) rc = jcfg_int(h, "hardware", "ep", false, 1, 1024, &ep, d);
    if (!rc) rc = jcfg_bool(h, "hardware", "ep_alltoall", false, &a2a, d);
    if (!rc) rc = jcfg_num(h, "hardware", "moe_skew", false, 0, 4,
                           &sc->shard.moe_skew, d);
    if (!rc) rc = jcfg_int(h, "hardware", "gpus_per_node", false, 1, 1024,
                           &node, d);
    if (!rc) rc = jcfg_int(h, "hardware", "num_gpus", false, 1, 1 << 20,
                           &gpus, d);
    if (rc)
        return rc;
    if (gpus == 0)
        gpus = tp * pp;
    if (gpus % (tp * pp) != 0)
        return diag_set(d, LLM_EINVAL, "hardware.num_gpus: %lld is not a "
                        "multiple of hardware.tp x hardware.pp = %lld",
                        (long long)gpus, (long long)(tp * pp));
    sc->num_gpus = (int32_t)gpus;
    sc->replicas = (int32_t)(gpus / (tp * pp));
    sc->shard.tp = (int32_t)tp;
    sc->shard.pp = (int32_t)pp;
    sc->shard.ep = (int32_t)ep;
    sc->shard.ep_alltoall = a2a;
    sc->shard.gpus_per_node = (int32_t)node;
    sc->shard.stage = OPS_ALL_STAGES;
    return LLM_OK;
}

static int parse_dtypes(const cJSON *h, struct scenario *sc,
                        struct llm_diag *d)
{
    const char *dt = "bf16", *kvdt = NULL;
    enum dtype w, kv;
    int rc = jcfg_str(h, "hardware", "dtype", false, &dt, d);

    if (!rc) rc = jcfg_str(h, "hardware", "kv_dtype", false, &kvdt, d);
    if (rc)
        return rc;
    if (!dtype_parse(dt, &w) || w == DT_FP32 || w == DT_TF32)
        return diag_set(d, LLM_EINVAL, "hardware.dtype: expected one of bf16, "
                        "fp16, fp8, int8, int4, got \"%s\"", dt);
    if (!dtype_parse(kvdt ? kvdt : dt, &kv) || kv == DT_FP32 ||
        kv == DT_TF32)
        return diag_set(d, LLM_EINVAL, "hardware.kv_dtype: expected one of "
                        "bf16, fp16, fp8, int8, int4, int2, got \"%s\"",
                        kvdt ? kvdt : dt);
    sc->shard.w_dtype = w;
    sc->shard.kv_dtype = kv;
    sc->shard.w_bytes = dtype_bytes(w);
    sc->shard.kv_bytes = dtype_bytes(kv);
    sc->shard.a_bytes = 2;
    return LLM_OK;
}

/* The link between nodes, for groups wider than gpus_per_node. */
static int parse_network(const cJSON *h, struct scenario *sc,
                         struct llm_diag *d)
{
    const char *id = "ib-ndr-400";
    struct link ln;
    int rc = jcfg_name(h, "hardware", "network_link", false,
                       "a catalog id", &id, d);

    if (!rc) rc = link_find(llm_root(), id, &ln, d);
    if (rc)
        return rc;
    d->file = sc->path;
    sc->shard.net_bw_bytes_s = ln.bw_bytes_s;
    sc->shard.net_latency_s = ln.latency_s;
    return LLM_OK;
}

/* hardware.weight_offload: one layer loop per iteration is priced, so
 * only pp 1 (every layer on each GPU of the replica). */
static int parse_woffload(const cJSON *h, struct scenario *sc,
                          struct llm_diag *d)
{
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(h, "weight_offload");
    int rc = woffload_parse(w, "hardware.weight_offload", llm_root(),
                            &sc->woffload, d);

    if (!rc && sc->woffload.on && sc->shard.pp > 1)
        return diag_set(d, LLM_EINVAL, "hardware.weight_offload: needs "
                        "hardware.pp 1 (got %d)", (int)sc->shard.pp);
    return rc;
}

static int parse_hardware(struct scenario *sc, struct llm_diag *d)
{
    const cJSON *h = NULL, *off = NULL;
    const char *dev = NULL;
    int rc = jcfg_obj(sc->root, "", "hardware", true, &h, d);

    sc->mem_util = 0.9;
    sc->reserve_gib = -1;
    memset(&sc->shard, 0, sizeof(sc->shard));
    if (!rc) rc = jcfg_known(h, "hardware", hw_keys, d);
    if (!rc) rc = jcfg_name(h, "hardware", "device", true, "a catalog id",
                           &dev, d);
    if (!rc) rc = parse_layout(h, sc, d);
    if (!rc) rc = parse_dtypes(h, sc, d);
    if (!rc) rc = jcfg_num(h, "hardware", "gpu_memory_utilization", false,
                           0.05, 1.0, &sc->mem_util, d);
    if (!rc) rc = jcfg_num(h, "hardware", "reserve_gib", false, 0, 1e6,
                           &sc->reserve_gib, d);
    if (!rc) rc = jcfg_num(h, "hardware", "cuda_graph_gib", false, 0, 1e6,
                           &sc->cuda_graph_gib, d);
    /* 2^30 blocks: 8 x 141 GB of KV at 1 kB a token in 16-token blocks
     * is 7e7; the bound keeps blocks x block_tokens inside int64. */
    if (!rc) rc = jcfg_int(h, "hardware", "kv_blocks", false, 1, 1 << 30,
                           &sc->kv_blocks_override, d);
    if (!rc) rc = parse_network(h, sc, d);
    if (!rc) rc = device_find(llm_root(), dev, &sc->dev, d);
    if (!rc) rc = jcfg_obj(h, "hardware", "attention_offload", false, &off,
                           d);
    if (!rc) rc = attn_offload_parse(off, "hardware.attention_offload",
                                     llm_root(), &sc->offload, d);
    if (!rc) rc = parse_woffload(h, sc, d);
    if (rc)
        return rc;
    d->file = sc->path;
    return ops_check_shard(&sc->model, &sc->shard, d);
}

/* A plug-in section: {"name": ...} with the plug-in's own keys. */
static int plugin(struct scenario *sc, const char *key, const char *def,
                  const cJSON **params, const char **name,
                  struct llm_diag *d)
{
    int rc = jcfg_obj(sc->root, "", key, false, params, d);

    *name = def;
    if (!rc && *params)
        rc = jcfg_str(*params, key, "name", false, name, d);
    return rc;
}

static int parse_policies(struct scenario *sc, struct llm_diag *d)
{
    const char *name;
    int64_t bt = 16;
    int rc = plugin(sc, "scheduler", "vllm", &sc->sched_params, &name, d);

    if (!rc && (sc->sched = registry_sched(name, "scheduler", d)) == NULL)
        rc = LLM_EINVAL;
    if (!rc) rc = plugin(sc, "kv_cache", "paged", &sc->kv_params, &name, d);
    if (!rc && (sc->kv = registry_kv(name, "kv_cache", d)) == NULL)
        rc = LLM_EINVAL;
    if (!rc && sc->kv_params)
        rc = jcfg_int(sc->kv_params, "kv_cache", "block_tokens", false, 1,
                      1 << 16, &bt, d);
    sc->block_tokens = (int32_t)bt;
    if (!rc) rc = plugin(sc, "router", "round_robin", &sc->router_params,
                         &name, d);
    if (!rc && (sc->router = registry_router(name, "router", d)) == NULL)
        rc = LLM_EINVAL;
    if (!rc) rc = jcfg_obj(sc->root, "", "cost_model", false,
                           &sc->cost_params, d);
    if (!rc) rc = engine_resolve(llm_root(), cJSON_GetObjectItemCaseSensitive(
                                     sc->root, "engine"), sc->dev.id,
                                 sc->dev.calib_dir, "engine", &sc->engine, d);
    return rc;
}

/* The default run name comes from the file name: it must be a name too,
 * since out/<name>/ is where the results go. */
static int name_from_file(const char *base, struct llm_diag *d)
{
    char e[200];

    return diag_set(d, LLM_EINVAL, "name: missing, and the file name \"%s\" "
                    "is not a run name (" JCFG_NAME_RULE "): set \"name\"",
                    diag_escape(base, e, sizeof(e)));
}

/* "slo" (NULL: the defaults); analysis/summary.h says what each means. */
static int parse_slo(struct scenario *sc, const cJSON *slo,
                     struct llm_diag *d)
{
    static const char *const keys[] = { "ttft_ms", "tpot_ms", "e2e_ms",
        "ttft_ms_per_prompt_token", "tbt_ema_ms", NULL };
    int rc;

    sc->slo_ttft_ms = 2000;
    sc->slo_tpot_ms = 100;
    sc->slo_e2e_ms = -1;         /* none unless set (issue 18) */
    if (slo == NULL)
        return LLM_OK;
    rc = jcfg_known(slo, "slo", keys, d);
    if (!rc) rc = jcfg_num(slo, "slo", "ttft_ms", false, 0, INFINITY,
                           &sc->slo_ttft_ms, d);
    if (!rc) rc = jcfg_num(slo, "slo", "tpot_ms", false, 0, INFINITY,
                           &sc->slo_tpot_ms, d);
    if (!rc) rc = jcfg_num(slo, "slo", "e2e_ms", false, 0, INFINITY,
                           &sc->slo_e2e_ms, d);
    if (!rc) rc = jcfg_num(slo, "slo", "ttft_ms_per_prompt_token", false, 0,
                           INFINITY, &sc->slo_ttft_ms_per_prompt_token, d);
    if (!rc) rc = jcfg_num(slo, "slo", "tbt_ema_ms", false, 0, INFINITY,
                           &sc->slo_tbt_ema_ms, d);
    return rc;
}

static int parse_rest(struct scenario *sc, struct llm_diag *d)
{
    static const char *const out_keys[] = { "dir", "iterations", NULL };
    const cJSON *slo = NULL, *out = NULL;
    const char *name = NULL, *dir = NULL;
    int64_t seed = 0, ff = 0;
    bool iters = true;
    int rc = jcfg_name(sc->root, "", "name", false, "a run name", &name, d);

    if (!rc) rc = jcfg_int(sc->root, "", "seed", false, 0, INT64_MAX, &seed,
                           d);
    if (!rc) rc = jcfg_obj(sc->root, "", "workload", true, &sc->workload, d);
    if (!rc) rc = jcfg_obj(sc->root, "", "slo", false, &slo, d);
    if (!rc) rc = parse_slo(sc, slo, d);
    if (!rc) rc = jcfg_obj(sc->root, "", "output", false, &out, d);
    if (!rc && out) rc = jcfg_known(out, "output", out_keys, d);
    if (!rc && out) rc = jcfg_str(out, "output", "dir", false, &dir, d);
    if (!rc && out) rc = jcfg_bool(out, "output", "iterations", false,
                                   &iters, d);
    if (!rc) rc = jcfg_int(sc->root, "", "fast_forward", false, 0,
                           FAST_FORWARD_MAX, &ff, d);
    if (rc)
        return rc;
    sc->fast_forward = (int32_t)ff;
    sc->seed = (uint64_t)seed;
    sc->write_iterations = iters;
    if (name == NULL) {
        const char *base = strrchr(sc->path, '/');
        const char *dot;
        base = base ? base + 1 : sc->path;
        dot = strrchr(base, '.');
        snprintf(sc->name, sizeof(sc->name), "%.*s",
                 (int)(dot ? dot - base : (long)strlen(base)), base);
        if (!jcfg_name_ok(sc->name))
            return name_from_file(sc->name, d);
    } else {
        snprintf(sc->name, sizeof(sc->name), "%s", name);
    }
    if (dir)
        snprintf(sc->out_dir, sizeof(sc->out_dir), "%s", dir);
    else
        snprintf(sc->out_dir, sizeof(sc->out_dir), "out/%s", sc->name);
    return LLM_OK;
}

/* The scheduler's batch limits size the activation reserve: the budgets
 * it actually runs with, its own defaults where a key is absent (the same
 * figures `llmsim memory --scheduler` and the pools use). */
static int sched_limits(const struct scenario *sc, int64_t *tokens,
                        int64_t *seqs, struct llm_diag *d)
{
    return registry_sched_limits(sc->sched, sc->sched_params, "scheduler",
                                 sc->max_model_len, sc->dev.mem_bytes,
                                 sc->dev.name, tokens, seqs, d);
}

/* With attention offloading the KV lives on the offload device: the GPU
 * must hold weights, activations and reserve; the device bounds the KV. */
static int plan_offloaded(struct scenario *sc, const struct mem_limits *lim,
                          struct llm_diag *d)
{
    struct mem_plan *p = &sc->mem;

    memplan_build(&sc->model, &sc->shard, lim, p);
    if (p->kv_bytes < 0)
        return diag_set(d, LLM_ERANGE, "hardware: %s weights, activations "
                        "and reserve (%.2f GiB) exceed %s's usable %.2f GiB",
                        sc->model.id, (p->gpu_bytes - p->kv_bytes) / GIB,
                        sc->dev.id, p->gpu_bytes / GIB);
    p->kv_bytes = sc->offload.dev.mem_bytes * sc->offload.mem_util;
    p->kv_blocks = attn_offload_kv_blocks(&sc->offload, p->block_bytes);
    p->kv_tokens = p->kv_blocks * sc->block_tokens;
    if (sc->max_model_len > 0 && p->kv_tokens < sc->max_model_len)
        return diag_set(d, LLM_ERANGE, "hardware.attention_offload.device: "
                        "%s holds %lld KV tokens, fewer than "
                        "model.max_model_len %d", sc->offload.dev.id,
                        (long long)p->kv_tokens, (int)sc->max_model_len);
    return LLM_OK;
}

/* Share of one GPU's weight bytes not in its memory: the non-resident
 * weights, less the neuron cache the window keeps (hw/woffload.h). */
static double weight_off_share(const struct scenario *sc)
{
    struct mem_weights w;
    struct woffload_bytes nr;
    double total;

    if (!sc->woffload.on)
        return 0;
    memplan_stage_weights(&sc->model, &sc->shard, 0, &w);
    woffload_split(&sc->woffload, &w, &nr);
    total = memplan_weights_total(&w);
    return total > 0 ? (nr.dense + nr.ffn -
                        woffload_cache_bytes(&sc->woffload, &nr)) / total
                     : 0;
}

int scenario_plan_memory(struct scenario *sc, int64_t token_budget,
                         int64_t max_seqs, struct llm_diag *d)
{
    struct mem_limits lim = {
        .total_bytes = sc->dev.mem_bytes, .util = sc->mem_util,
        .token_budget = token_budget, .max_seqs = max_seqs,
        .block_tokens = sc->block_tokens,
        .reserve_bytes = sc->reserve_gib >= 0 ? sc->reserve_gib * GIB : -1,
        .cuda_graph_bytes = sc->cuda_graph_gib * GIB,
        .weight_off_share = weight_off_share(sc) };

    if (sc->kv_blocks_override > 0) {
        memplan_build(&sc->model, &sc->shard, &lim, &sc->mem);
        sc->mem.kv_blocks = sc->kv_blocks_override;
        sc->mem.kv_tokens = sc->kv_blocks_override * sc->block_tokens;
        return LLM_OK;
    }
    if (sc->offload.on)
        return plan_offloaded(sc, &lim, d);
    return memplan_check(&sc->model, &sc->shard, &lim, sc->max_model_len,
                         sc->dev.id, &sc->mem, d);
}

/* A scheduler, KV manager and router instantiated once and dropped
 * (base/plugin.h): each reads and checks its parameters, the KV manager
 * also what the device offers it (its catalog links). */
static int try_plugins(const struct scenario *sc, struct llm_diag *d)
{
    struct kv_env env = { sc->mem.block_bytes, sc->dev.host_link.bw_bytes_s,
        (int64_t)(sc->dev.host_link.latency_s * 1e9), pools_find_link,
        NULL };
    struct plugin a = { 0 }, b = { 0 }, c = { 0 };
    int rc = plugin_alloc(&a, sc->sched->state_size, d);

    if (!rc) rc = plugin_started(&a, sc->sched->init(a.st, sc->sched_params,
                                                     "scheduler", d),
                                 sc->sched->fini);
    if (!rc) rc = plugin_alloc(&b, sc->kv->state_size, d);
    if (!rc) rc = plugin_started(&b, sc->kv->init(b.st, sc->mem.kv_blocks,
                                                  sc->block_tokens,
                                                  sc->kv_params, "kv_cache",
                                                  d),
                                 sc->kv->fini);
    if (!rc && sc->kv->attach)
        rc = sc->kv->attach(b.st, &env, "kv_cache", d);
    if (!rc) rc = plugin_alloc(&c, sc->router->state_size, d);
    if (!rc) rc = plugin_started(&c, sc->router->init(c.st, sc->replicas,
                                                      sc->seed,
                                                      sc->router_params,
                                                      "router", d),
                                 sc->router->fini);
    plugin_stop(&a);
    plugin_stop(&b);
    plugin_stop(&c);
    return rc;
}

/* Instantiates every plug-in once and drops it, so that each reads and
 * checks its own parameters now: a run never fails on configuration. */
static int validate_plugins(struct scenario *sc, struct llm_diag *d)
{
    struct cost_env env = { .model = &sc->model, .dev = &sc->dev,
                            .shard = sc->shard, .root = llm_root(),
                            .offload = sc->offload.on ? &sc->offload
                                                      : NULL,
                            .woffload = sc->woffload.on ? &sc->woffload
                                                        : NULL,
                            .engine = &sc->engine };
    struct cost_model *cm = NULL;
    struct req_source *src = NULL;
    int rc = try_plugins(sc, d);

    if (!rc) rc = cost_create(&env, sc->cost_params, "cost_model", &cm, d);
    cost_destroy(cm);
    if (!rc) rc = source_open(sc->workload, "workload", sc->seed, &src, d);
    source_close(src);
    return rc;
}

/* "speculative" (run/spec_wire.h): the drafter and its memory.  Not with
 * pools, attention offloading, or a scheduler that plans decodes its own
 * way (fastgen's fixed passes). */
static int load_spec(struct scenario *sc, struct llm_diag *d)
{
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(sc->root,
                                                     "speculative");
    int rc = LLM_OK;

    /* null: off (so that --set speculative=null gives the baseline) */
    if (cJSON_IsNull(o))
        o = NULL;
    else
        rc = jcfg_obj(sc->root, "", "speculative", false, &o, d);

    if (!rc) rc = spec_setup_load(o, &sc->model, &sc->dev, &sc->shard,
                                  sc->cost_params, sc->seed, &sc->spec, d);
    if (rc || !sc->spec.on)
        return rc;
    if (cJSON_GetObjectItemCaseSensitive(sc->root, "cluster") != NULL ||
        sc->offload.on || strcmp(sc->sched->name, "fastgen") == 0)
        return diag_set(d, LLM_EINVAL, "speculative: not with \"cluster\" "
                        "pools, hardware.attention_offload or scheduler "
                        "\"fastgen\"");
    if (sc->kv_blocks_override > 0)
        return LLM_OK;
    return spec_setup_memory(&sc->spec, sc->block_tokens, &sc->mem, d);
}

/* "fast_forward" steps steady decodes of one replica at a time: not
 * with what couples an iteration to others (pools and their hand-offs,
 * a power budget's clocks) or prices it its own way (speculation). */
static int check_fast_forward(const struct scenario *sc, struct llm_diag *d)
{
    if (sc->fast_forward <= 1)
        return LLM_OK;
    if (cJSON_GetObjectItemCaseSensitive(sc->root, "cluster") != NULL ||
        cJSON_GetObjectItemCaseSensitive(sc->root, "power") != NULL ||
        sc->spec.on)
        return diag_set(d, LLM_EINVAL, "fast_forward: not with \"cluster\" "
                        "pools, \"power\" or \"speculative\"");
    return LLM_OK;
}

/* The replicas as a list of pools: the "cluster" section's, whose totals
 * are what the run reports, or one colocated pool of the "hardware"
 * section (its final memory plan, speculation's included). */
static int load_pools(struct scenario *sc, struct llm_diag *d)
{
    struct pool one = { .dev = sc->dev, .shard = sc->shard,
        .replicas = sc->replicas, .sched = sc->sched,
        .sched_params = sc->sched_params, .mem = sc->mem,
        .offload = sc->offload, .woffload = sc->woffload };
    int32_t i;
    int rc = pools_parse(sc->root, &sc->model, &sc->shard, sc->sched,
                         sc->sched_params, sc->mem_util, sc->block_tokens,
                         sc->max_model_len, &sc->pools, d);

    if (rc == LLM_OK && !sc->pools.cluster) {
        snprintf(one.sched_path, sizeof(one.sched_path), "scheduler");
        rc = pools_colocated(&sc->pools, &one);
    }
    sc->pools.engine_spec = cJSON_GetObjectItemCaseSensitive(sc->root,
                                                             "engine");
    if (rc || !sc->pools.cluster)
        return rc;
    if (sc->woffload.on)
        return diag_set(d, LLM_EINVAL, "hardware.weight_offload: not "
                        "supported with \"cluster\" pools (each pool has "
                        "its own hardware)");
    if (sc->offload.on)
        return diag_set(d, LLM_EINVAL, "hardware.attention_offload: not "
                        "supported with \"cluster\" pools (each pool has "
                        "its own hardware)");
    sc->replicas = sc->num_gpus = 0;
    for (i = 0; i < sc->pools.n; i++) {
        const struct pool *p = &sc->pools.p[i];
        sc->replicas += p->replicas * (p->role == POOL_SEMI_PD ? 2 : 1);
        sc->num_gpus += p->replicas * pool_gpus(p);
    }
    return LLM_OK;
}

int scenario_load(const char *path, const char *const *sets,
                  struct scenario *sc, struct llm_diag *d)
{
    int64_t tokens, seqs;
    int rc;

    memset(sc, 0, sizeof(*sc));
    sc->path = path;
    d->file = path;
    rc = jcfg_load(path, &sc->root, d);
    for (; rc == LLM_OK && sets && *sets; sets++)
        rc = jcfg_set(sc->root, *sets, d);
    if (!rc) rc = jcfg_known(sc->root, "", top_keys, d);
    if (!rc) rc = parse_model(sc, d);
    if (!rc) { d->file = path; rc = parse_hardware(sc, d); }
    if (!rc) rc = parse_policies(sc, d);
    if (!rc) rc = parse_rest(sc, d);
    if (!rc) rc = sched_limits(sc, &tokens, &seqs, d);
    if (!rc) rc = scenario_plan_memory(sc, tokens, seqs, d);
    if (!rc) rc = load_spec(sc, d);
    if (!rc) rc = check_fast_forward(sc, d);
    if (!rc) rc = validate_plugins(sc, d);
    if (!rc) rc = load_pools(sc, d);
    return rc;
}

void scenario_free(struct scenario *sc)
{
    cJSON_Delete(sc->root);
    sc->root = NULL;
}

double scenario_time_scale(const struct scenario *sc)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(sc->cost_params,
                                                      "time_scale");

    return cJSON_IsNumber(v) ? v->valuedouble : 1;
}
