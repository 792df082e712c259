#include "run/pools.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/metrics.h"
#include "hw/cost.h"
#include "hw/smsplit.h"
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

    p->split.window = 0;
    if (rc || a == NULL)
        return rc;
    jcfg_keypath(kp, sizeof(kp), path, "sm_adjust");
    if (p->role != POOL_SEMI_PD)
        return diag_set(d, LLM_EINVAL, "%s: only a semi_pd pool adjusts "
                        "its SM split", kp);
    p->split.window = 32;
    p->split.step = 0.05;
    p->split.lo = 0.05;
    p->split.hi = 0.95;
    p->split.attain = 0.9;
    rc = jcfg_known(a, kp, keys, d);
    if (!rc) rc = jcfg_int(a, kp, "window", false, 1, 1000000,
                           &p->split.window, d);
    if (!rc) rc = jcfg_num(a, kp, "step", false, 0.001, 0.9,
                           &p->split.step, d);
    if (!rc) rc = jcfg_num(a, kp, "min", false, 0.05, 0.95, &p->split.lo,
                           d);
    if (!rc) rc = jcfg_num(a, kp, "max", false, 0.05, 0.95, &p->split.hi,
                           d);
    if (!rc) rc = jcfg_num(a, kp, "attain", false, 0, 1, &p->split.attain,
                           d);
    if (!rc && p->split.lo > p->split.hi)
        rc = diag_set(d, LLM_EINVAL, "%s.min: expected at most max (%g), "
                      "got %g", kp, p->split.hi, p->split.lo);
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
    p->split.init = 0.5;
    if (!rc) rc = jcfg_num(o, path, "prefill_sm_fraction", false, 0.05,
                           0.95, &p->split.init, d);
    if (!rc) rc = parse_adjust(o, path, p, d);
    p->split.shared = false;
    if (!rc) rc = jcfg_bool(o, path, "sm_shared", false, &p->split.shared,
                            d);
    if (!rc && p->split.shared && p->role != POOL_SEMI_PD)
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
    ps->cluster = true;
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
        ps->adjusting |= p->split.window > 0;
        ps->n++;
    }
    if (!rc) rc = check_roles(ps, d);
    if (!rc) rc = parse_transfer(c, ps, d);
    return rc;
}

/* One pool that takes both phases: the scenario's "hardware" section
 * (all fields set by the caller but the runtime ones). */
int pools_colocated(struct pools *ps, const struct pool *p)
{
    memset(ps, 0, sizeof(*ps));
    ps->n = 1;
    ps->p[0] = *p;
    ps->p[0].role = POOL_MIXED;
    ps->p[0].split = (struct sm_split){ .init = 1 };
    snprintf(ps->p[0].name, sizeof(ps->p[0].name), "%s", "colocated");
    return LLM_OK;
}

/* The one price of an iteration, every pool's: the pool's cost model,
 * then a semi-PD half's share of the SMs (hw/smsplit.h), or the row's
 * power cap (hw/powercap.h) where the run set one. */
/* The price of a capped pool or of an SM-split GPU's half. */
static int price_shared(void *ctx, const struct batch *b, int64_t *ns)
{
    struct pool_slot *s = ctx;
    struct pool *p = s->pool;
    struct cost_breakdown bd;
    int rc = cost_price(p->cost, b, &bd);

    p->extrapolated += bd.extrapolated;
    if (p->cap != NULL)
        /* A capped iteration's time is the controller's; its priced and
         * extrapolated nanoseconds are not counted (as before issue 22:
         * cost_extrapolated_share stays 0 under a cap). */
        return rc != LLM_OK ? rc : p->cap(p->cap_ctx, s->replica, b, &bd,
                                          ns);
    p->extrap_ns += bd.extrap_ns;
    p->priced_ns += bd.total_ns;
    *ns = s->split == NULL ? bd.total_ns :
          smsplit_ns(bd.total_ns, batch_tokens(b), p->ridge_tokens,
                     smsplit_share(s->split, s->half));
    return rc;
}

/* The price of every other replica's iterations (and estimates): the
 * pool's cost model, nothing more, as it runs 400 k times a replay;
 * pools_sim_config picks one of the two. */
static int price(void *ctx, const struct batch *b, int64_t *ns)
{
    struct pool *p = ((struct pool_slot *)ctx)->pool;
    struct cost_breakdown bd;
    int rc = cost_price(p->cost, b, &bd);

    *ns = bd.total_ns;
    p->extrapolated += bd.extrapolated;
    p->extrap_ns += bd.extrap_ns;
    p->priced_ns += bd.total_ns;
    return rc;
}

int32_t pool_gpus(const struct pool *p)
{
    return p->shard.tp * (p->shard.pp > 0 ? p->shard.pp : 1);
}

/* The run layer, not the policy, reads the catalog. */
int pools_find_link(void *ctx, const char *id, double *bw_bytes_s,
                    double *latency_s, struct llm_diag *d)
{
    struct link l;
    int rc = link_find(llm_root(), id, &l, d);

    (void)ctx;
    *bw_bytes_s = rc == LLM_OK ? l.bw_bytes_s : 0;
    *latency_s = rc == LLM_OK ? l.latency_s : 0;
    return rc;
}

/* A replica of pool p as sim/replica.h wants it (its index and role set
 * by the caller): the pool's memory, scheduler, device and host link. */
static void replica_of(const struct pool *p, const struct model *m,
                       struct pool_slot *s, struct replica_config *rc)
{
    int32_t pp = p->shard.pp > 0 ? p->shard.pp : 1;

    rc->kv_capacity_blocks = p->mem.kv_blocks;
    rc->sched = p->sched;
    rc->sched_params = p->sched_params;
    rc->sched_path = p->sched_path;
    rc->cost = price;
    rc->cost_ctx = s;
    /* swap preemption and lower KV tiers move blocks over the host link;
     * each block is its layers' K and V, copied separately */
    rc->kv_block_bytes = p->mem.block_bytes;
    rc->kv_block_segments = 2 * ((m->num_layers + pp - 1) / pp);
    rc->host_bw_bytes_s = p->dev.host_link.bw_bytes_s;
    rc->host_latency_ns = (int64_t)(p->dev.host_link.latency_s * 1e9);
    rc->find_link = pools_find_link;
    rc->dev_mem_bytes = p->dev.mem_bytes;
    rc->dev_name = p->dev.name;
}

/* The sim's order: prefill, semi-PD prefill halves, mixed, semi-PD
 * decode halves, decode; each group keeps the pools' order. */
static const int order[][2] = { { POOL_PREFILL, 0 }, { POOL_SEMI_PD, 0 },
    { POOL_MIXED, 0 }, { POOL_SEMI_PD, 1 }, { POOL_DECODE, 0 } };

static void lay_out(struct pools *ps, const struct model *m,
                    const struct replica_config *tmpl)
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
                ps->slots[n] = (struct pool_slot){ p, order[g][1], n,
                    p->role == POOL_SEMI_PD ? &p->split : NULL,
                    pool_gpus(p) };
                ps->rcs[n] = *tmpl;
                ps->rcs[n].index = n;
                replica_of(p, m, &ps->slots[n], &ps->rcs[n]);
                ps->rcs[n].role = g == 0 || g == 1 ? REPLICA_PREFILL :
                                  g == 2 ? REPLICA_BOTH : REPLICA_DECODE;
            }
        }
    }
    if (ps->p[0].role == POOL_SEMI_PD)
        ps->cc.partner_offset = ps->p[0].replicas;
}

/* Each pool's engine on its device, cost model and power states. */
static int start_pool(struct pools *ps, struct pool *p, const struct model *m,
                      const cJSON *cost_params, struct llm_diag *d)
{
    int rc = engine_resolve(llm_root(), ps->engine_spec, p->dev.id,
                            p->dev.calib_dir, "engine", &p->engine, d);

    p->has_power = energy_power_of(&p->dev, &p->power,
                                   &(struct llm_diag){ 0 }) == LLM_OK;
    p->ridge_tokens = smsplit_ridge_tokens(&p->dev, &p->shard);
    smsplit_start(&p->split);
    p->env = (struct cost_env){ .model = m, .dev = &p->dev,
                                .shard = p->shard, .root = llm_root(),
                                .offload = p->offload.on ? &p->offload
                                                         : NULL,
                                .woffload = p->woffload.on ? &p->woffload
                                                           : NULL,
                                .engine = &p->engine };
    if (!rc) rc = cost_create(&p->env, cost_params, "cost_model", &p->cost,
                              d);
    return rc;
}

/* The KV hand-off between pools (sim/cluster.h).  Each GPU of the
 * prefill replica sends its own KV shard over its own link (DistServe
 * and Splitwise pair GPUs), so the replica's egress is the link's
 * bandwidth times its GPUs. */
static void wire_cluster(struct pools *ps, const struct model *m,
                         int32_t gpus_src)
{
    ps->cc.decode_router = ps->decode_router;
    ps->cc.decode_router_params = ps->decode_router_params;
    ps->cc.decode_router_path = "cluster.decode_router";
    ps->cc.kv_bytes_per_token = (double)model_kv_bytes_per_token(
        m, ps->p[0].shard.kv_bytes);
    ps->cc.layers = m->num_layers;
    ps->cc.layerwise = ps->layerwise;
    ps->cc.link_bw_bytes_s = ps->link.bw_bytes_s * gpus_src;
    ps->cc.link_latency_ns = (int64_t)llround(ps->link.latency_s * 1e9);
}

int pools_start(struct pools *ps, const struct model *m,
                const cJSON *cost_params, const struct replica_config *tmpl,
                struct llm_diag *d)
{
    int32_t i, n = 0, gpus_src = 1;
    int rc = LLM_OK;

    for (i = 0; i < ps->n; i++) {
        struct pool *p = &ps->p[i];
        n += p->replicas * (p->role == POOL_SEMI_PD ? 2 : 1);
        ps->gpus += p->replicas * pool_gpus(p);
        p->extrapolated = p->extrap_ns = p->priced_ns = 0;
        if (p->role == POOL_PREFILL)
            gpus_src = pool_gpus(p);
        if (!rc) rc = start_pool(ps, p, m, cost_params, d);
    }
    ps->rcs = calloc((size_t)n, sizeof(*ps->rcs));
    ps->slots = calloc((size_t)n, sizeof(*ps->slots));
    if (!rc && (ps->rcs == NULL || ps->slots == NULL))
        rc = diag_set(d, LLM_ENOMEM, "out of memory");
    if (rc)
        return rc;
    ps->n_replicas = n;
    lay_out(ps, m, tmpl);
    if (ps->cluster)
        wire_cluster(ps, m, gpus_src);
    return LLM_OK;
}

void pools_sim_config(const struct pools *ps, struct sim_config *cfg)
{
    int32_t i;

    for (i = 0; i < ps->n_replicas; i++)
        ps->rcs[i].cost = ps->slots[i].split || ps->slots[i].pool->cap ?
                          price_shared : price;
    cfg->n_replicas = ps->n_replicas;
    cfg->replicas = ps->rcs;
    cfg->cluster = ps->cluster ? &ps->cc : NULL;
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

double pool_joules(struct pool *p, int64_t span_ns)
{
    double j = 0;
    int h;

    if (!p->has_power)
        return NAN;
    for (h = 0; h < (p->role == POOL_SEMI_PD ? 2 : 1); h++) {
        /* a semi-PD half draws its static share of the device */
        double share = p->role != POOL_SEMI_PD ? 1 : h ?
                       1 - p->split.init : p->split.init;
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
            cJSON_AddNumberToObject(o, "prefill_sm_fraction_end",
                                    p->split.frac);
            cJSON_AddNumberToObject(o, "sm_adjustments",
                                    (double)p->split.adjustments);
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

void pools_observe(struct pools *ps, const struct request *q,
                   double ttft_ms, double tpot_ms)
{
    double ttft = (double)(q->first_token_ns - q->arrival_ns) / 1e6;
    double tpot = 0;           /* one output token: none to miss */
    int32_t i;

    if (!ps->adjusting)
        return;
    metric_tpot_ms(q->first_token_ns - q->arrival_ns,
                   q->finish_ns - q->arrival_ns, q->generated, &tpot);
    for (i = 0; i < ps->n; i++)
        smsplit_observe(&ps->p[i].split, ttft <= ttft_ms, tpot <= tpot_ms);
}
