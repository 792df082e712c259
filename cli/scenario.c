#include "cli/scenario.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "hw/cost.h"
#include "policies/registry.h"
#include "sim/jcfg.h"
#include "sim/paths.h"
#include "traces/source.h"

static const char *const top_keys[] = { "name", "seed", "model", "hardware",
    "scheduler", "kv_cache", "router", "cost_model", "workload", "slo",
    "output", NULL };

static int parse_model(struct scenario *sc, struct llm_diag *d)
{
    static const char *const keys[] = { "id", "max_model_len", NULL };
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(sc->root, "model");
    const char *id = NULL;
    int64_t mml = 0;
    int rc;

    if (m == NULL)
        return diag_set(d, LLM_EINVAL, "model: missing (expected a catalog "
                        "id such as \"llama-3-8b\")");
    if (cJSON_IsString(m)) {
        id = m->valuestring;
    } else if (cJSON_IsObject(m)) {
        rc = jcfg_known(m, "model", keys, d);
        if (!rc) rc = jcfg_str(m, "model", "id", true, &id, d);
        if (!rc) rc = jcfg_int(m, "model", "max_model_len", false, 2,
                               1 << 24, &mml, d);
        if (rc)
            return rc;
    } else {
        return jcfg_str(sc->root, "", "model", true, &id, d);
    }
    rc = model_find(llm_root(), id, &sc->model, d);
    if (rc)
        return rc;
    sc->max_model_len = mml ? (int32_t)mml : sc->model.max_context;
    return LLM_OK;
}

static int parse_hardware(struct scenario *sc, struct llm_diag *d)
{
    static const char *const keys[] = { "device", "num_gpus", "tp", "dtype",
        "kv_dtype", "gpu_memory_utilization", "reserve_gib", "kv_blocks",
        NULL };
    const cJSON *h = NULL;
    const char *dev = NULL, *dt = "bf16", *kvdt = NULL;
    int64_t tp = 1, gpus = 0;
    enum dtype w, kv;
    int rc = jcfg_obj(sc->root, "", "hardware", true, &h, d);

    sc->mem_util = 0.9;
    sc->reserve_gib = 1.0;
    if (!rc) rc = jcfg_known(h, "hardware", keys, d);
    if (!rc) rc = jcfg_str(h, "hardware", "device", true, &dev, d);
    if (!rc) rc = jcfg_int(h, "hardware", "tp", false, 1, 1024, &tp, d);
    if (!rc) rc = jcfg_int(h, "hardware", "num_gpus", false, 1, 1 << 20,
                           &gpus, d);
    if (!rc) rc = jcfg_str(h, "hardware", "dtype", false, &dt, d);
    if (!rc) rc = jcfg_str(h, "hardware", "kv_dtype", false, &kvdt, d);
    if (!rc) rc = jcfg_num(h, "hardware", "gpu_memory_utilization", false,
                           0.05, 1.0, &sc->mem_util, d);
    if (!rc) rc = jcfg_num(h, "hardware", "reserve_gib", false, 0, 1e6,
                           &sc->reserve_gib, d);
    if (!rc) rc = jcfg_int(h, "hardware", "kv_blocks", false, 1, INT64_MAX,
                           &sc->kv_blocks_override, d);
    if (rc)
        return rc;
    if (!dtype_parse(dt, &w) || !dtype_parse(kvdt ? kvdt : dt, &kv))
        return diag_set(d, LLM_EINVAL, "hardware.%s: expected one of fp32, "
                        "bf16, fp16, fp8, int8, int4, int2, got \"%s\"",
                        dtype_parse(dt, &w) ? "kv_dtype" : "dtype",
                        dtype_parse(dt, &w) ? kvdt : dt);
    if (gpus == 0)
        gpus = tp;
    if (gpus % tp != 0)
        return diag_set(d, LLM_EINVAL, "hardware.num_gpus: %lld is not a "
                        "multiple of hardware.tp %lld", (long long)gpus,
                        (long long)tp);
    sc->num_gpus = (int32_t)gpus;
    sc->replicas = (int32_t)(gpus / tp);
    sc->shard = (struct shard){ .tp = (int32_t)tp, .w_bytes = dtype_bytes(w),
                                .a_bytes = 2, .kv_bytes = dtype_bytes(kv) };
    rc = device_find(llm_root(), dev, &sc->dev, d);
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
    return rc;
}

static int parse_rest(struct scenario *sc, struct llm_diag *d)
{
    static const char *const slo_keys[] = { "ttft_ms", "tpot_ms", NULL };
    static const char *const out_keys[] = { "dir", "iterations", NULL };
    const cJSON *slo = NULL, *out = NULL;
    const char *name = NULL, *dir = NULL;
    int64_t seed = 0;
    bool iters = true;
    int rc = jcfg_str(sc->root, "", "name", false, &name, d);

    if (!rc) rc = jcfg_int(sc->root, "", "seed", false, 0, INT64_MAX, &seed,
                           d);
    if (!rc) rc = jcfg_obj(sc->root, "", "workload", true, &sc->workload, d);
    if (!rc) rc = jcfg_obj(sc->root, "", "slo", false, &slo, d);
    sc->slo_ttft_ms = 2000;
    sc->slo_tpot_ms = 100;
    if (!rc && slo) rc = jcfg_known(slo, "slo", slo_keys, d);
    if (!rc && slo) rc = jcfg_num(slo, "slo", "ttft_ms", false, 0, INFINITY,
                                  &sc->slo_ttft_ms, d);
    if (!rc && slo) rc = jcfg_num(slo, "slo", "tpot_ms", false, 0, INFINITY,
                                  &sc->slo_tpot_ms, d);
    if (!rc) rc = jcfg_obj(sc->root, "", "output", false, &out, d);
    if (!rc && out) rc = jcfg_known(out, "output", out_keys, d);
    if (!rc && out) rc = jcfg_str(out, "output", "dir", false, &dir, d);
    if (!rc && out) rc = jcfg_bool(out, "output", "iterations", false,
                                   &iters, d);
    if (rc)
        return rc;
    sc->seed = (uint64_t)seed;
    sc->write_iterations = iters;
    if (name == NULL) {
        const char *base = strrchr(sc->path, '/');
        const char *dot;
        base = base ? base + 1 : sc->path;
        dot = strrchr(base, '.');
        snprintf(sc->name, sizeof(sc->name), "%.*s",
                 (int)(dot ? dot - base : (long)strlen(base)), base);
    } else {
        snprintf(sc->name, sizeof(sc->name), "%s", name);
    }
    if (dir)
        snprintf(sc->out_dir, sizeof(sc->out_dir), "%s", dir);
    else
        snprintf(sc->out_dir, sizeof(sc->out_dir), "out/%s", sc->name);
    return LLM_OK;
}

/* The scheduler's batch limits size the activation reserve. */
static void sched_limits(const struct scenario *sc, int64_t *tokens,
                         int64_t *seqs)
{
    *tokens = 0;
    *seqs = 256;
    if (sc->sched_params) {
        jcfg_int(sc->sched_params, "scheduler", "max_num_batched_tokens",
                 false, 1, 1 << 30, tokens, NULL);
        jcfg_int(sc->sched_params, "scheduler", "max_num_seqs", false, 1,
                 1 << 20, seqs, NULL);
    }
    if (*tokens == 0)
        *tokens = sc->max_model_len > 2048 ? sc->max_model_len : 2048;
}

int scenario_plan_memory(struct scenario *sc, int64_t token_budget,
                         int64_t max_seqs, struct llm_diag *d)
{
    const struct model *m = &sc->model;
    const struct shard *s = &sc->shard;
    struct mem_plan *p = &sc->mem;
    int64_t kvh = m->num_kv_heads >= s->tp ? m->num_kv_heads / s->tp : 1;
    double per_tok;

    memset(p, 0, sizeof(*p));
    p->gpu_bytes = sc->dev.mem_bytes * sc->mem_util;
    p->weight_bytes = (double)model_params(m) * s->w_bytes / s->tp;
    /* Peak activations of a forward over token_budget tokens: residual,
     * QKV, attention output, gate/up and the SiLU product alive at once,
     * plus fp32 logits for max_seqs rows (what vLLM's profiling run sees). */
    per_tok = (2.0 * m->hidden + (double)(m->num_heads / s->tp + 2 * kvh) *
               m->head_dim + 3.0 * m->ffn / s->tp) * s->a_bytes;
    p->activation_bytes = (double)token_budget * per_tok +
                          (double)max_seqs * m->vocab / s->tp * 4.0;
    p->reserve_bytes = sc->reserve_gib * 1073741824.0;
    p->block_bytes = 2.0 * m->num_layers * kvh * m->head_dim * s->kv_bytes *
                     sc->block_tokens;
    p->kv_bytes = p->gpu_bytes - p->weight_bytes - p->activation_bytes -
                  p->reserve_bytes;
    p->kv_blocks = p->kv_bytes > 0 ? (int64_t)(p->kv_bytes / p->block_bytes)
                                   : 0;
    if (sc->kv_blocks_override > 0)
        p->kv_blocks = sc->kv_blocks_override;
    if (p->kv_blocks < 1)
        return diag_set(d, LLM_ERANGE, "hardware: %s does not fit on %s with "
                        "tp %d: weights %.1f GiB + activations %.1f GiB + "
                        "reserve %.1f GiB exceed %.1f GiB usable (%.0f%% of "
                        "%.1f GiB); raise hardware.tp or use a larger device",
                        m->id, sc->dev.id, s->tp, p->weight_bytes / 1073741824.0,
                        p->activation_bytes / 1073741824.0,
                        p->reserve_bytes / 1073741824.0,
                        p->gpu_bytes / 1073741824.0, sc->mem_util * 100,
                        sc->dev.mem_bytes / 1073741824.0);
    return LLM_OK;
}

/* Instantiates every plug-in once and drops it, so that each reads and
 * checks its own parameters now: a run never fails on configuration. */
static int validate_plugins(struct scenario *sc, struct llm_diag *d)
{
    void *a = calloc(1, sc->sched->state_size + 1);
    void *b = calloc(1, sc->kv->state_size + 1);
    void *c = calloc(1, sc->router->state_size + 1);
    struct cost_env env = { .model = &sc->model, .dev = &sc->dev,
                            .shard = sc->shard, .root = llm_root() };
    struct cost_model *cm = NULL;
    struct req_source *src = NULL;
    int rc = (a && b && c) ? LLM_OK : diag_set(d, LLM_ENOMEM, "out of memory");

    if (!rc) rc = sc->sched->init(a, sc->sched_params, "scheduler", d);
    if (!rc && sc->sched->fini) sc->sched->fini(a);
    if (!rc) rc = sc->kv->init(b, sc->mem.kv_blocks, sc->block_tokens,
                               sc->kv_params, "kv_cache", d);
    if (!rc && sc->kv->fini) sc->kv->fini(b);
    if (!rc) rc = sc->router->init(c, sc->replicas, sc->seed,
                                   sc->router_params, "router", d);
    if (!rc && sc->router->fini) sc->router->fini(c);
    free(a);
    free(b);
    free(c);
    if (!rc) rc = cost_create(&env, sc->cost_params, "cost_model", &cm, d);
    cost_destroy(cm);
    if (!rc) rc = source_open(sc->workload, "workload", sc->seed, &src, d);
    source_close(src);
    return rc;
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
    if (!rc) {
        sched_limits(sc, &tokens, &seqs);
        rc = scenario_plan_memory(sc, tokens, seqs, d);
    }
    if (!rc) rc = validate_plugins(sc, d);
    return rc;
}

void scenario_free(struct scenario *sc)
{
    cJSON_Delete(sc->root);
    sc->root = NULL;
}
