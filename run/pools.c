#include "run/pools.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hw/cost.h"
#include "policies/registry.h"
#include "base/jcfg.h"
#include "base/paths.h"

static const char *const role_names[] = { "prefill", "decode", "mixed",
                                          "semi_pd", NULL };

static int parse_role(const cJSON *o, const char *path, enum pool_role *out,
                      struct llm_diag *d)
{
    const char *s = NULL;
    int i, rc = jcfg_str(o, path, "role", true, &s, d);

    if (rc)
        return rc;
    for (i = 0; role_names[i]; i++)
        if (strcmp(role_names[i], s) == 0) {
            *out = (enum pool_role)i;
            return LLM_OK;
        }
    return diag_set(d, LLM_EINVAL, "%s.role: expected one of prefill, "
                    "decode, mixed, semi_pd, got \"%s\"", path, s);
}

static int parse_sched(const cJSON *o, const char *path, struct pool *p,
                       struct llm_diag *d)
{
    const cJSON *sp = NULL;
    const char *name = NULL;
    int rc = jcfg_obj(o, path, "scheduler", false, &sp, d);

    if (rc || sp == NULL)
        return rc;
    snprintf(p->sched_path, sizeof(p->sched_path), "%.36s.scheduler", path);
    rc = jcfg_str(sp, p->sched_path, "name", true, &name, d);
    if (!rc && (p->sched = registry_sched(name, p->sched_path, d)) == NULL)
        rc = LLM_EINVAL;
    p->sched_params = sp;
    return rc;
}

/* A pool's memory, its activations sized by the budgets its scheduler
 * runs with (policies/registry.h registry_sched_limits), as a run's. */
static int plan_pool(struct pool *p, const struct model *m, double util,
                     int32_t block_tokens, int32_t mml, struct llm_diag *d)
{
    struct mem_limits lim = { .total_bytes = p->dev.mem_bytes, .util = util,
        .block_tokens = block_tokens, .reserve_bytes = -1 };
    int rc = registry_sched_limits(p->sched, p->sched_params, p->sched_path,
                                   mml, p->dev.mem_bytes, p->dev.name,
                                   &lim.token_budget, &lim.max_seqs, d);

    return rc ? rc : memplan_check(m, &p->shard, &lim, mml, p->dev.id,
                                   &p->mem, d);
}

/* ops_check_shard names "hardware.tp" (the scenario's section); a pool's
 * degrees live at "cluster.pools[i].tp", so say that instead. */
static void repath_hardware(struct llm_diag *d, const char *path)
{
    static const char pre[] = "hardware.";
    char msg[sizeof(d->msg)];

    if (strncmp(d->msg, pre, sizeof(pre) - 1) != 0)
        return;
    snprintf(msg, sizeof(msg), "%s.%s", path, d->msg + sizeof(pre) - 1);
    memcpy(d->msg, msg, sizeof(msg));
}

/* semi-PD's "sm_adjust" {"window", "step", "min", "max", "attain"}:
 * Algorithm 1 of the paper (arXiv 2504.19867, section 5) as a plain
 * feedback step; its window size and step are not published, so the
 * defaults (32 requests, 0.05) are ours and scripts/reproduce_disagg.sh
 * sweeps them; attain 0.9 is the paper's p_SLO (90% of requests). */
static int parse_adjust(const cJSON *o, const char *path, struct pool *p,
                        struct llm_diag *d)
{
    static const char *const keys[] = { "window", "step", "min", "max",
                                        "attain", NULL };
    const cJSON *a = NULL;
    char kp[160];
    int rc = jcfg_obj(o, path, "sm_adjust", false, &a, d);

    p->adj_window = 0;
    if (rc || a == NULL)
        return rc;
    jcfg_keypath(kp, sizeof(kp), path, "sm_adjust");
    if (p->role != POOL_SEMI_PD)
        return diag_set(d, LLM_EINVAL, "%s: only a semi_pd pool adjusts "
                        "its SM split", kp);
    p->adj_window = 32;
    p->adj_step = 0.05;
    p->adj_lo = 0.05;
    p->adj_hi = 0.95;
    p->adj_attain = 0.9;
    rc = jcfg_known(a, kp, keys, d);
    if (!rc) rc = jcfg_int(a, kp, "window", false, 1, 1000000,
                           &p->adj_window, d);
    if (!rc) rc = jcfg_num(a, kp, "step", false, 0.001, 0.9, &p->adj_step,
                           d);
    if (!rc) rc = jcfg_num(a, kp, "min", false, 0.05, 0.95, &p->adj_lo, d);
    if (!rc) rc = jcfg_num(a, kp, "max", false, 0.05, 0.95, &p->adj_hi, d);
    if (!rc) rc = jcfg_num(a, kp, "attain", false, 0, 1, &p->adj_attain, d);
    if (!rc && p->adj_lo > p->adj_hi)
        rc = diag_set(d, LLM_EINVAL, "%s.min: expected at most max (%g), "
                      "got %g", kp, p->adj_hi, p->adj_lo);
    return rc;
}

static int parse_pool(const cJSON *o, const char *path, const struct model *m,
                      struct pool *p, struct llm_diag *d)
{
    static const char *const keys[] = { "name", "role", "device", "tp", "pp",
        "replicas", "scheduler", "prefill_sm_fraction", "sm_adjust",
        "sm_shared", NULL };
    const char *name = NULL, *dev = NULL;
    int64_t tp = 1, pp = 1, reps = 1;
    int rc = jcfg_known(o, path, keys, d);

    if (!rc) rc = parse_role(o, path, &p->role, d);
    if (!rc) rc = jcfg_str(o, path, "name", false, &name, d);
    if (!rc) rc = jcfg_name(o, path, "device", true, "a catalog id", &dev,
                           d);
    if (!rc) rc = jcfg_int(o, path, "tp", false, 1, 1024, &tp, d);
    if (!rc) rc = jcfg_int(o, path, "pp", false, 1, 1024, &pp, d);
    if (!rc) rc = jcfg_int(o, path, "replicas", false, 1, 4096, &reps, d);
    p->prefill_sm_fraction = 0.5;
    if (!rc) rc = jcfg_num(o, path, "prefill_sm_fraction", false, 0.05,
                           0.95, &p->prefill_sm_fraction, d);
    if (!rc) rc = parse_adjust(o, path, p, d);
    p->sm_shared = false;
    if (!rc) rc = jcfg_bool(o, path, "sm_shared", false, &p->sm_shared, d);
    if (!rc && p->sm_shared && p->role != POOL_SEMI_PD)
        rc = diag_set(d, LLM_EINVAL, "%s.sm_shared: only a semi_pd pool "
                      "shares its SMs", path);
    if (!rc) rc = parse_sched(o, path, p, d);
    if (rc)
        return rc;
    snprintf(p->name, sizeof(p->name), "%s", name ? name :
             role_names[p->role]);
    p->shard.tp = (int32_t)tp;
    p->shard.pp = (int32_t)pp;
    p->replicas = (int32_t)reps;
    rc = device_find(llm_root(), dev, &p->dev, d);
    if (!rc && (rc = ops_check_shard(m, &p->shard, d)) != LLM_OK)
        repath_hardware(d, path);
    return rc;
}

static int parse_transfer(const cJSON *c, struct pools *ps,
                          struct llm_diag *d)
{
    const char *link = "nvlink4", *mode = "layer", *rname = "round_robin";
    int rc = jcfg_name(c, "cluster", "kv_link", false, "a catalog id",
                       &link, d);

    if (!rc) rc = jcfg_str(c, "cluster", "kv_transfer", false, &mode, d);
    if (!rc && strcmp(mode, "layer") && strcmp(mode, "whole"))
        rc = diag_set(d, LLM_EINVAL, "cluster.kv_transfer: expected "
                      "\"layer\" or \"whole\", got \"%s\"", mode);
    if (!rc) rc = jcfg_obj(c, "cluster", "decode_router", false,
                           &ps->decode_router_params, d);
    if (!rc && ps->decode_router_params)
        rc = jcfg_str(ps->decode_router_params, "cluster.decode_router",
                      "name", false, &rname, d);
    if (!rc && (ps->decode_router = registry_router(
                    rname, "cluster.decode_router", d)) == NULL)
        rc = LLM_EINVAL;
    ps->layerwise = strcmp(mode, "layer") == 0;
    return rc ? rc : link_find(llm_root(), link, &ps->link, d);
}

/* Prefill work needs somewhere to go, and decodes too; semi-PD splits
 * each GPU itself and takes no other pool. */
static int check_roles(const struct pools *ps, struct llm_diag *d)
{
    int32_t i, n[4] = { 0 };

    for (i = 0; i < ps->n; i++)
        n[ps->p[i].role]++;
    if (n[POOL_SEMI_PD] > 0 && ps->n > 1)
        return diag_set(d, LLM_EINVAL, "cluster.pools: a semi_pd pool "
                        "must be the only pool");
    if (n[POOL_SEMI_PD] == 0 && (n[POOL_PREFILL] + n[POOL_MIXED] == 0 ||
                                 n[POOL_DECODE] + n[POOL_MIXED] == 0))
        return diag_set(d, LLM_EINVAL, "cluster.pools: expected a prefill "
                        "or mixed pool and a decode or mixed pool");
    return LLM_OK;
}

int pools_parse(const cJSON *root, const struct model *m,
                const struct shard *base, const struct sched_ops *sched,
                const cJSON *sched_params, double mem_util,
                int32_t block_tokens, int32_t max_model_len,
                struct pools *ps, struct llm_diag *d)
{
    static const char *const keys[] = { "pools", "kv_link", "kv_transfer",
                                        "decode_router", NULL };
    const cJSON *c = NULL, *arr = NULL, *o;
    char path[48];
    int rc = jcfg_obj(root, "", "cluster", false, &c, d);

    memset(ps, 0, sizeof(*ps));
    if (rc || c == NULL)
        return rc;
    rc = jcfg_known(c, "cluster", keys, d);
    if (!rc) rc = jcfg_arr(c, "cluster", "pools", true, &arr, d);
    if (!rc && (cJSON_GetArraySize(arr) < 1 ||
                cJSON_GetArraySize(arr) > POOLS_MAX))
        rc = diag_set(d, LLM_EINVAL, "cluster.pools: expected 1 to %d "
                      "pools, got %d", POOLS_MAX, cJSON_GetArraySize(arr));
    cJSON_ArrayForEach(o, arr) {
        struct pool *p = &ps->p[ps->n];
        if (rc)
            break;
        snprintf(path, sizeof(path), "cluster.pools[%d]", ps->n);
        p->shard = *base;
        p->sched = sched;
        p->sched_params = sched_params;
        snprintf(p->sched_path, sizeof(p->sched_path), "scheduler");
        rc = parse_pool(o, path, m, p, d);
        if (!rc) rc = plan_pool(p, m, mem_util, block_tokens, max_model_len,
                                d);
        ps->n++;
    }
    if (!rc) rc = check_roles(ps, d);
    if (!rc) rc = parse_transfer(c, ps, d);
    return rc;
}

int64_t pools_fraction_ns(int64_t full_ns, int64_t tokens,
                          double ridge_tokens, double fraction)
{
    double t = (double)tokens, full, part;

    if (fraction >= 1 || ridge_tokens <= 0)
        return full_ns;
    full = fmax(t / ridge_tokens, 1);
    part = fmax(t / (fraction * ridge_tokens), 1);
    return (int64_t)llround((double)full_ns * part / full);
}

static int price(void *ctx, const struct batch *b, int64_t *ns)
{
    struct pool_slot *s = ctx;
    struct cost_breakdown bd;
    int rc = cost_price(s->pool->cost, b, &bd);

    s->pool->extrapolated += bd.extrapolated;
    s->pool->extrap_ns += bd.extrap_ns;
    s->pool->priced_ns += bd.total_ns;
    double f = s->pool->role != POOL_SEMI_PD ? s->sm_fraction :
               s->pool->sm_shared ? 1 :
               s->half ? 1 - s->pool->sm_frac : s->pool->sm_frac;

    *ns = pools_fraction_ns(bd.total_ns, batch_tokens(b),
                            s->pool->ridge_tokens, f);
    return rc;
}

static int32_t pool_gpus(const struct pool *p)
{
    return p->shard.tp * (p->shard.pp > 0 ? p->shard.pp : 1);
}

/* Tokens at which a dense layer's FLOPs take as long as streaming its
 * weights: peak x weight bytes / (2 x bandwidth). */
static double ridge(const struct pool *p)
{
    double peak = p->dev.peak_flops[p->shard.w_dtype];

    if (peak <= 0)
        peak = p->dev.peak_flops[DT_BF16];
    return peak * p->shard.w_bytes / (2 * p->dev.mem_bw_bytes_s);
}

/* The sim's order: prefill, semi-PD prefill halves, mixed, semi-PD
 * decode halves, decode; each group keeps the pools' order. */
static const int order[][2] = { { POOL_PREFILL, 0 }, { POOL_SEMI_PD, 0 },
    { POOL_MIXED, 0 }, { POOL_SEMI_PD, 1 }, { POOL_DECODE, 0 } };

static void lay_out(struct pools *ps, struct replica_config *tmpl)
{
    int32_t g, i, k, n = 0;

    for (g = 0; g < 5; g++) {
        if (g == 2)
            ps->cc.first_decode = n;
        if (g == 3)
            ps->cc.n_entry = n;
        for (i = 0; i < ps->n; i++) {
            struct pool *p = &ps->p[i];
            if ((int)p->role != order[g][0])
                continue;
            for (k = 0; k < p->replicas; k++, n++) {
                struct pool_slot *s = &ps->slots[n];
                bool semi = p->role == POOL_SEMI_PD;
                *s = (struct pool_slot){ p, order[g][1], !semi ? 1 :
                    order[g][1] ? 1 - p->prefill_sm_fraction :
                    p->prefill_sm_fraction };
                ps->rcs[n] = *tmpl;
                ps->rcs[n].index = n;
                ps->rcs[n].kv_capacity_blocks = p->mem.kv_blocks;
                ps->rcs[n].sched = p->sched;
                ps->rcs[n].sched_params = p->sched_params;
                ps->rcs[n].sched_path = p->sched_path;
                ps->rcs[n].cost_ctx = s;
                ps->rcs[n].dev_mem_bytes = p->dev.mem_bytes;
                ps->rcs[n].dev_name = p->dev.name;
                ps->rcs[n].role = g == 0 || g == 1 ? REPLICA_PREFILL :
                                  g == 2 ? REPLICA_BOTH : REPLICA_DECODE;
            }
        }
    }
    if (ps->p[0].role == POOL_SEMI_PD)
        ps->cc.partner_offset = ps->p[0].replicas;
}

int pools_start(struct pools *ps, const struct model *m,
                const cJSON *cost_params, const struct kv_ops *kv,
                const cJSON *kv_params, int32_t block_tokens,
                int32_t max_model_len, struct sim_config *cfg,
                struct llm_diag *d)
{
    struct replica_config tmpl = { .block_tokens = block_tokens,
        .max_model_len = max_model_len, .kv = kv, .kv_params = kv_params,
        .kv_path = "kv_cache", .cost = price,
        .shared_prefix = cost_shared_prefix(cost_params) };
    int32_t i, n = 0, gpus_src = 1;
    int rc = LLM_OK;

    for (i = 0; i < ps->n; i++) {
        struct pool *p = &ps->p[i];
        n += p->replicas * (p->role == POOL_SEMI_PD ? 2 : 1);
        ps->gpus += p->replicas * pool_gpus(p);
        p->has_power = energy_power_of(&p->dev, &p->power,
                                       &(struct llm_diag){ 0 }) == LLM_OK;
        p->ridge_tokens = ridge(p);
        p->sm_frac = p->prefill_sm_fraction;
        p->adj_n = p->adj_ttft_ok = p->adj_tpot_ok = p->adjustments = 0;
        if (p->role == POOL_PREFILL)
            gpus_src = pool_gpus(p);
        p->env = (struct cost_env){ .model = m, .dev = &p->dev,
                                    .shard = p->shard, .root = llm_root(),
                                    .engine = &p->engine };
        if (!rc) rc = engine_resolve(llm_root(), ps->engine_spec, p->dev.id,
                                     p->dev.calib_dir, "engine", &p->engine,
                                     d);
        if (!rc) rc = cost_create(&p->env, cost_params, "cost_model",
                                  &p->cost, d);
    }
    ps->rcs = calloc((size_t)n, sizeof(*ps->rcs));
    ps->slots = calloc((size_t)n, sizeof(*ps->slots));
    if (!rc && (ps->rcs == NULL || ps->slots == NULL))
        rc = diag_set(d, LLM_ENOMEM, "out of memory");
    if (rc)
        return rc;
    ps->n_replicas = n;
    lay_out(ps, &tmpl);
    /* Each GPU of the prefill replica sends its own KV shard over its own
     * link (DistServe and Splitwise pair GPUs), so the replica's egress
     * is the link's bandwidth times its GPUs. */
    ps->cc.decode_router = ps->decode_router;
    ps->cc.decode_router_params = ps->decode_router_params;
    ps->cc.decode_router_path = "cluster.decode_router";
    ps->cc.kv_bytes_per_token = (double)model_kv_bytes_per_token(
        m, ps->p[0].shard.kv_bytes);
    ps->cc.layers = m->num_layers;
    ps->cc.layerwise = ps->layerwise;
    ps->cc.link_bw_bytes_s = ps->link.bw_bytes_s * gpus_src;
    ps->cc.link_latency_ns = (int64_t)llround(ps->link.latency_s * 1e9);
    cfg->n_replicas = n;
    cfg->replicas = ps->rcs;
    cfg->cluster = &ps->cc;
    return LLM_OK;
}

void pools_stop(struct pools *ps)
{
    int32_t i;

    for (i = 0; i < ps->n; i++) {
        cost_destroy(ps->p[i].cost);
        ps->p[i].cost = NULL;
    }
    free(ps->rcs);
    free(ps->slots);
    ps->rcs = NULL;
    ps->slots = NULL;
}

void pools_iteration(struct pools *ps, const struct iter_record *rec)
{
    struct pool_slot *s;

    if (ps->slots == NULL || rec->replica < 0 ||
        rec->replica >= ps->n_replicas)
        return;
    s = &ps->slots[rec->replica];
    if (s->pool->has_power)
        energy_meter_add(&s->pool->energy[s->half], &s->pool->power,
                         rec->prefill_tokens, rec->decode_seqs, 0,
                         rec->end_ns - rec->start_ns, pool_gpus(s->pool));
}

const struct cost_model *pools_extrap(const struct pools *ps, int64_t *x_ns,
                                      int64_t *tot_ns)
{
    const struct pool *most = NULL;
    int32_t i;

    for (i = 0; i < ps->n; i++) {
        *x_ns += ps->p[i].extrap_ns;
        *tot_ns += ps->p[i].priced_ns;
        if (ps->p[i].extrap_ns > 0 &&
            (most == NULL || ps->p[i].extrap_ns > most->extrap_ns))
            most = &ps->p[i];
    }
    return most ? most->cost : NULL;
}

int64_t pools_extrapolated(const struct pools *ps)
{
    int32_t i;
    int64_t n = 0;

    for (i = 0; i < ps->n; i++)
        n += ps->p[i].extrapolated;
    return n;
}

/* A pool's joules: its iterations, and idle time at idle power; a
 * semi-PD half draws its share of the device. */
static double pool_joules(struct pool *p, int64_t span_ns)
{
    double j = 0;
    int h;

    if (!p->has_power)
        return NAN;
    for (h = 0; h < (p->role == POOL_SEMI_PD ? 2 : 1); h++) {
        double share = p->role != POOL_SEMI_PD ? 1 : h ?
                       1 - p->prefill_sm_fraction : p->prefill_sm_fraction;
        int64_t idle = (int64_t)p->replicas * span_ns - p->energy[h].busy_ns;
        if (idle > 0)
            energy_meter_idle(&p->energy[h], &p->power, idle,
                              pool_gpus(p));
        j += share * p->energy[h].joules;
    }
    return j;
}

static double num_of(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

    return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

static void add_pools(struct pools *ps, int64_t span, cJSON *c,
                      double *usd, double *joules)
{
    cJSON *arr = cJSON_AddArrayToObject(c, "pools");
    int32_t i;

    for (i = 0; i < ps->n; i++) {
        struct pool *p = &ps->p[i];
        cJSON *o = cJSON_CreateObject();
        double j = pool_joules(p, span);
        double h = (double)span / 3.6e12;
        double cost = p->dev.price_per_hour * h * p->replicas * pool_gpus(p);
        cJSON_AddStringToObject(o, "name", p->name);
        cJSON_AddStringToObject(o, "role", role_names[p->role]);
        cJSON_AddStringToObject(o, "device", p->dev.id);
        cJSON_AddNumberToObject(o, "tp", p->shard.tp);
        cJSON_AddNumberToObject(o, "pp", p->shard.pp > 0 ? p->shard.pp : 1);
        cJSON_AddNumberToObject(o, "replicas", p->replicas);
        cJSON_AddNumberToObject(o, "kv_blocks", (double)p->mem.kv_blocks);
        if (p->role == POOL_SEMI_PD) {
            cJSON_AddNumberToObject(o, "prefill_sm_fraction_end", p->sm_frac);
            cJSON_AddNumberToObject(o, "sm_adjustments",
                                    (double)p->adjustments);
        }
        cJSON_AddNumberToObject(o, "cost_usd", cost);
        if (!isnan(j))
            cJSON_AddNumberToObject(o, "energy_j", j);
        cJSON_AddItemToArray(arr, o);
        *usd += cost;
        *joules += isnan(j) ? 0 : j;
    }
}

void pools_summary(struct pools *ps, const struct sim_stats *st,
                   const struct cluster_stats *cs, cJSON *summary)
{
    cJSON *c = cJSON_AddObjectToObject(summary, "cluster");
    int64_t span = st->last_event_ns - st->first_arrival_ns;
    double usd = 0, joules = 0;
    double out = num_of(summary, "output_tokens");

    if (c == NULL)
        return;
    cJSON_AddNumberToObject(c, "gpus", ps->gpus);
    add_pools(ps, span > 0 ? span : 0, c, &usd, &joules);
    cJSON_AddNumberToObject(c, "cost_usd", usd);
    cJSON_AddNumberToObject(c, "usd_per_mtok_out", out > 0 ?
                            usd / out * 1e6 : 0);
    cJSON_AddNumberToObject(c, "energy_j", joules);
    cJSON_AddNumberToObject(c, "energy_j_per_output_token", out > 0 ?
                            joules / out : 0);
    cJSON_AddNumberToObject(c, "goodput_req_s_per_gpu",
                            num_of(summary, "goodput_req_s") / ps->gpus);
    cJSON_AddNumberToObject(c, "throughput_out_tok_s_per_usd_hour",
                            usd > 0 && span > 0 ? out / (usd * 3.6e12 /
                            (double)span) / ((double)span / 1e9) : 0);
    if (cs == NULL)
        return;
    cJSON_AddNumberToObject(c, "kv_transfers", (double)cs->transfers);
    cJSON_AddNumberToObject(c, "kv_local_handoffs",
                            (double)cs->local_handoffs);
    cJSON_AddNumberToObject(c, "kv_bytes", cs->bytes);
    cJSON_AddNumberToObject(c, "kv_bytes_overlapped", cs->bytes_overlapped);
    cJSON_AddNumberToObject(c, "kv_handoff_ms_mean", cs->transfers > 0 ?
                            cs->xfer_ns_sum / (double)cs->transfers / 1e6 :
                            0);
    cJSON_AddNumberToObject(c, "kv_handoff_ms_max",
                            (double)cs->xfer_ns_max / 1e6);
    cJSON_AddNumberToObject(c, "kv_waits", (double)cs->waits);
    cJSON_AddNumberToObject(c, "kv_link_busy_s",
                            (double)cs->link_busy_ns / 1e9);
}

/* One window of Algorithm 1 (arXiv 2504.19867): TTFT first, then TPOT;
 * a window where both hold, or both fail, keeps the split. */
static void adjust(struct pool *p)
{
    double n = (double)p->adj_n;
    bool ttft = p->adj_ttft_ok >= p->adj_attain * n;
    bool tpot = p->adj_tpot_ok >= p->adj_attain * n;
    double f = p->sm_frac;

    if (!ttft && tpot)
        f = fmin(p->adj_hi, f + p->adj_step);
    else if (ttft && !tpot)
        f = fmax(p->adj_lo, f - p->adj_step);
    if (f != p->sm_frac)
        p->adjustments++;
    p->sm_frac = f;
    p->adj_n = p->adj_ttft_ok = p->adj_tpot_ok = 0;
}

void pools_observe(struct pools *ps, const struct request *q,
                   double ttft_ms, double tpot_ms)
{
    int32_t i;
    double ttft = (double)(q->first_token_ns - q->arrival_ns) / 1e6;
    double tpot = q->generated > 1 ?
        (double)(q->finish_ns - q->first_token_ns) / 1e6 /
        (double)(q->generated - 1) : 0;

    for (i = 0; i < ps->n; i++) {
        struct pool *p = &ps->p[i];
        if (p->adj_window == 0)
            continue;
        p->adj_n++;
        p->adj_ttft_ok += ttft <= ttft_ms;
        p->adj_tpot_ok += tpot <= tpot_ms;
        if (p->adj_n >= p->adj_window)
            adjust(p);
    }
}
