#include "hw/cost.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hw/accel.h"
#include "hw/comm.h"
#include "hw/cost_fit.h"
#include "hw/cost_fixed.h"
#include "hw/offload.h"
#include "hw/woffload.h"
#include "base/jcfg.h"
#include "base/names.h"

static const struct cost_ops *const cost_models[] = {
    &cost_roofline,
    &cost_calibrated,
    &cost_accel,
    &cost_fixed,
    &cost_fit,
    NULL
};

/* Direct-mapped cache of dense-part prices: a serving run sees the same
 * token counts over and over (a decode batch of n sequences is n tokens).
 * A prefill iteration's (tokens, rows) pair ranges over prompt sizes times
 * batch sizes; 4096 entries thrashed on a long trace (issue 24).  16384
 * (1 MiB, touched only where used) keep more of them.  65536 was no faster
 * on a tenth of a day of the week bench, within the noise, and its pages,
 * touched as a run meets new shapes, grew test_soak_small's 200 k-request
 * run past its 64 bytes a request. */
#define COST_MEMO 16384

struct memo_entry {
    int64_t tokens, rows;          /* tokens 0: empty slot */
    int64_t class_ns[OPC_COUNT];
    int32_t extrapolated;
    int64_t extrap_ns;
};

struct cost_model {
    const struct cost_ops *ops;
    const struct cost_env *env;
    struct op_list list;
    struct op_list gpu;            /* attention the GPU keeps (offload) */
    struct memo_entry *memo;
    struct woffload_bytes wnr;     /* non-resident weights (woffload) */
    double time_scale;             /* cost_model.time_scale */
    cJSON *params;                 /* params less time_scale, for ops */
    void *st;
};

static const char *cost_model_at(const void *t, size_t i)
{
    const struct cost_ops *const *x = t;

    return x[i] ? x[i]->name : NULL;
}

static const struct cost_ops *find(const char *name, const char *path,
                                   struct llm_diag *d)
{
    char known[256];
    long i = names_find(cost_models, cost_model_at, name, known,
                        sizeof(known));

    if (i >= 0)
        return cost_models[i];
    diag_set(d, LLM_EINVAL, "%s.name: unknown cost model \"%s\" (known: %s)",
             path, name, known);
    return NULL;
}

/* The default: calibrated where the device's tables exist, or where a
 * GPU without them can borrow a donor's (never a GPU at its peak). */
static const char *default_model(const struct cost_env *env)
{
    char probe[1200];
    struct device donor;
    struct llm_diag quiet = { 0 };
    FILE *f;

    if (env->dev->calib_dir[0] == '\0')
        return device_calib_donor(env->root, env->dev, &donor, &quiet)
                   == LLM_OK ? "calibrated" : "roofline";
    snprintf(probe, sizeof(probe), "%s/%s/gemm_bf16.csv", env->root,
             env->dev->calib_dir);
    f = fopen(probe, "r");
    if (f == NULL)
        return "roofline";
    fclose(f);
    return "calibrated";
}

/* Frees what cost_create allocated, before or after the model's init. */
static void cost_destroy_parts(struct cost_model *c)
{
    cJSON_Delete(c->params);
    free(c->memo);
    free(c->st);
    free(c);
}

int cost_create(const struct cost_env *env, const cJSON *params,
                const char *path, struct cost_model **out,
                struct llm_diag *d)
{
    const char *name = default_model(env);
    const struct cost_ops *ops;
    struct cost_model *c;
    double scale = 1;
    int rc;

    if (params != NULL && jcfg_str(params, path, "name", false, &name, d))
        return LLM_EINVAL;
    if (params != NULL && jcfg_num(params, path, "time_scale", false, 0.01,
                                   100, &scale, d))
        return LLM_EINVAL;
    ops = find(name, path, d);
    if (ops == NULL)
        return LLM_EINVAL;
    c = calloc(1, sizeof(*c));
    if (c == NULL || (c->st = calloc(1, ops->state_size ? ops->state_size
                                                         : 1)) == NULL ||
        (c->memo = calloc(COST_MEMO, sizeof(*c->memo))) == NULL) {
        if (c)
            free(c->st);
        free(c);
        return diag_set(d, LLM_ENOMEM, "out of memory");
    }
    c->ops = ops;
    c->env = env;
    c->time_scale = scale;
    /* time_scale is the wrapper's: each model sees its own keys only. */
    if (cJSON_GetObjectItemCaseSensitive(params, "time_scale") != NULL) {
        c->params = cJSON_Duplicate(params, 1);
        cJSON_DeleteItemFromObjectCaseSensitive(c->params, "time_scale");
        params = c->params;
        if (params == NULL) {
            cost_destroy_parts(c);
            return diag_set(d, LLM_ENOMEM, "out of memory");
        }
    }
    if (env->woffload != NULL) {
        struct mem_weights w;
        memplan_stage_weights(env->model, &env->shard, 0, &w);
        woffload_split(env->woffload, &w, &c->wnr);
    }
    rc = ops->init(c->st, env, params, path, d);
    if (rc) {
        cost_destroy_parts(c);
        return rc;
    }
    *out = c;
    return LLM_OK;
}

void cost_destroy(struct cost_model *c)
{
    if (c == NULL)
        return;
    if (c->ops->fini)
        c->ops->fini(c->st);
    ops_free(&c->list);
    ops_free(&c->gpu);
    cost_destroy_parts(c);
}

const char *cost_name(const struct cost_model *c)
{
    return c->ops->name;
}

const char *cost_tables(const struct cost_model *c)
{
    return c->ops->tables ? c->ops->tables(c->st) : "";
}

void cost_extrap_describe(const struct cost_model *c, char *buf, size_t len)
{
    if (len == 0)
        return;
    buf[0] = '\0';
    if (c->ops->describe_extrap)
        c->ops->describe_extrap(c->st, buf, len);
}

void cost_warn_extrap(const struct cost_model *c, int64_t extrap_ns,
                      int64_t total_ns)
{
    char why[512];
    double pct;

    if (extrap_ns <= 0 || total_ns <= 0)
        return;
    pct = 100.0 * (double)extrap_ns / (double)total_ns;
    cost_extrap_describe(c, why, sizeof(why));
    /* two significant digits below 0.1%, so a small share never reads 0 */
    fprintf(stderr, "llmsim: warning: %.*f%% of GPU time priced outside "
            "the measured tables (%s)\n", pct >= 0.1 ? 1 :
            (int)fmin(12, 1 - floor(log10(pct))), pct,
            why[0] ? why : "see docs/cost-model.md");
}

bool cost_shared_prefix(const cJSON *params)
{
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(params,
                        "shared_prefix_attention"));
}

static int price_part(struct cost_model *c, const struct batch *b,
                      enum ops_part part, struct cost_breakdown *out)
{
    int rc = ops_build_part(c->env->model, &c->env->shard, b, part,
                            &c->list);

    return rc ? rc : c->ops->price(c->st, b, &c->list, out);
}

/* Attention with hardware.attention_offload: decode attention and the
 * link priced by hw/offload.h, the GPU's share by the model. */
static int price_offloaded(struct cost_model *c, const struct batch *b,
                           struct cost_breakdown *out)
{
    int rc = ops_build_part(c->env->model, &c->env->shard, b, OPS_ATTN,
                            &c->list);

    if (!rc) rc = attn_offload_price(c->env->offload, &c->env->shard,
                                     &c->list, &c->gpu, out);
    if (!rc && c->gpu.n > 0)
        rc = c->ops->price(c->st, b, &c->gpu, out);
    return rc;
}

static int price_dense(struct cost_model *c, const struct batch *b,
                       struct cost_breakdown *out)
{
    int64_t t = batch_rows(b), rows = batch_logit_rows(b);
    struct memo_entry *e = &c->memo[(uint64_t)(t * 31 + rows) % COST_MEMO];
    int rc;

    if (e->tokens != t || e->rows != rows) {
        struct cost_breakdown part = { 0 };
        rc = price_part(c, b, OPS_DENSE, &part);
        if (rc)
            return rc;
        e->tokens = t;
        e->rows = rows;
        memcpy(e->class_ns, part.class_ns, sizeof(e->class_ns));
        e->extrapolated = part.extrapolated;
        e->extrap_ns = part.extrap_ns;
    }
    memcpy(out->class_ns, e->class_ns, sizeof(out->class_ns));
    out->extrapolated = e->extrapolated;
    out->extrap_ns = e->extrap_ns;
    return LLM_OK;
}

/* llround(x), inline: called a few times per iteration, where the
 * library call costs as much as the rest of the rounding (issue 24).
 * For |x| < 2^52, x - trunc(x) is exact, so rounding half away from zero
 * on it gives llround's result; larger x go to llround itself. */
static int64_t round_i64(double x)
{
    int64_t t;
    double f;

    if (!(fabs(x) < 4503599627370496.0))
        return llround(x);
    t = (int64_t)x;
    f = x - (double)t;
    return t + (f >= 0.5) - (f <= -0.5);
}

int64_t cost_ns_of(double s)
{
    double ns = s * 1e9;

    if (ns >= -(double)COST_MAX_NS && ns <= (double)COST_MAX_NS)
        return round_i64(ns);
    return ns < 0 ? -(COST_MAX_NS + 1) : COST_MAX_NS + 1;
}

static bool ns_in_range(int64_t ns)
{
    return ns >= -COST_MAX_NS && ns <= COST_MAX_NS;
}

int cost_price(struct cost_model *c, const struct batch *b,
               struct cost_breakdown *out)
{
    int rc;
    int i;

    memset(out, 0, sizeof(*out));
    rc = batch_tokens(b) ? price_dense(c, b, out) : LLM_OK;
    if (rc == LLM_OK && batch_tokens(b))
        rc = c->env->offload != NULL ? price_offloaded(c, b, out)
                                     : price_part(c, b, OPS_ATTN, out);
    if (rc)
        return rc;
    if (c->env->woffload != NULL && batch_tokens(b))
        out->class_ns[OPC_COMM] += cost_ns_of(woffload_iter_s(
            c->env->woffload, &c->wnr, c->env->model->num_layers,
            c->env->model->hidden, &c->env->shard, batch_tokens(b)));
    rc = LLM_OK;
    out->total_ns = 0;
    for (i = 0; i < OPC_COUNT; i++) {
        if (!ns_in_range(out->class_ns[i]))
            rc = LLM_ERANGE;
        out->total_ns += out->class_ns[i];   /* 5 x 2^60 fits */
    }
    out->fixed_ns = c->ops->fixed_ns ? c->ops->fixed_ns(c->st, b,
                                                        out->total_ns) : 0;
    if (!ns_in_range(out->fixed_ns))
        rc = LLM_ERANGE;
    out->total_ns += out->fixed_ns;
    /* within range before scaling, so the product stays finite; past
     * COST_MAX_NS it becomes a value the check below refuses */
    if (rc == LLM_OK && c->time_scale != 1 && ns_in_range(out->total_ns)) {
        double ns = (double)out->total_ns * c->time_scale;
        out->total_ns = fabs(ns) <= (double)COST_MAX_NS ? llround(ns)
                                                        : COST_MAX_NS + 1;
    }
    return rc == LLM_OK && ns_in_range(out->total_ns) ? LLM_OK : LLM_ERANGE;
}

int cost_parts(struct cost_model *c, const struct batch *b,
               struct cost_parts *out)
{
    int rc;

    out->n = 0;
    out->extrapolated = 0;
    if (c->ops->parts == NULL)
        return LLM_EINVAL;
    if (batch_tokens(b) == 0)
        return LLM_OK;
    rc = ops_build(c->env->model, &c->env->shard, b, &c->list);
    return rc ? rc : c->ops->parts(c->st, b, &c->list, out);
}

int cost_set_engine(struct cost_model *c, const struct engine *e)
{
    if (c->ops->set_engine == NULL)
        return LLM_EINVAL;
    memset(c->memo, 0, COST_MEMO * sizeof(*c->memo));
    return c->ops->set_engine(c->st, e);
}

void cost_parts_free(struct cost_parts *p)
{
    free(p->p);
    *p = (struct cost_parts){ 0 };
}

const struct engine *cost_engine(const struct cost_model *c)
{
    return c->ops == &cost_calibrated ? c->env->engine : NULL;
}

/* Which link a collective crosses: the peer link (NVLink) inside a node,
 * the shard's network link when the group spans nodes. */
static double comm_roofline_s(const struct device *dev,
                              const struct shard *s, const struct op *o)
{
    static const enum comm_op kinds[] = {
        [OP_ALLREDUCE] = COMM_ALLREDUCE, [OP_ALLGATHER] = COMM_ALLGATHER,
        [OP_REDUCE_SCATTER] = COMM_REDUCE_SCATTER,
        [OP_ALLTOALL] = COMM_ALLTOALL, [OP_SENDRECV] = COMM_SENDRECV,
    };
    struct link ln = dev->peer_link;
    int32_t ranks = o->ranks ? o->ranks : s->tp;

    if (o->inter_node && s->net_bw_bytes_s > 0) {
        ln.bw_bytes_s = s->net_bw_bytes_s;
        ln.latency_s = s->net_latency_s;
    }
    if (ln.bw_bytes_s <= 0)
        return 0;
    return comm_time_s(kinds[o->kind], COMM_AUTO, ranks, o->bytes, &ln);
}

double cost_roofline_s(const struct device *dev, const struct shard *s,
                       const struct op *o)
{
    double peak = dev->peak_flops[o->math];
    double t_c, t_m;

    if (op_class_of(o->kind) == OPC_COMM)
        return comm_roofline_s(dev, s, o);
    /* A device without the op's math type (fp8 on A100) runs it at its
     * bf16 rate: vLLM falls back to weight-only kernels there; bf16 on a
     * device without it (V100) at its fp16 rate (device_peak16_flops). */
    if (peak <= 0)
        peak = device_peak16_flops(dev);
    t_c = o->flops / peak;
    t_m = o->bytes / dev->mem_bw_bytes_s;
    return t_c > t_m ? t_c : t_m;
}
