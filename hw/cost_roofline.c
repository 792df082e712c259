/* hw/cost_roofline.c: the speed-of-light cost model.
 *
 * Every operator costs max(FLOPs / peak, bytes / bandwidth) with datasheet
 * peaks, collectives a ring over the peer link, plus one fixed overhead
 * per iteration.  It is the floor every calibrated estimate must respect,
 * and the model for devices without calibration tables.  With
 * shared_prefix_attention (Hydragen, BatchLLM) decode attention reads the
 * batch's shared prefixes' KV once: the same FLOPs, fewer bytes. */
#include <math.h>

#include "hw/cost.h"
#include "base/jcfg.h"

struct roofline {
    const struct cost_env *env;
    int64_t fixed_ns;
    bool shared_prefix;
};

static int roof_init(void *st, const struct cost_env *env,
                     const cJSON *params, const char *path,
                     struct llm_diag *d)
{
    static const char *const keys[] = { "name", "iteration_overhead_us",
                                        "shared_prefix_attention", NULL };
    struct roofline *r = st;
    double us = 0;
    int rc = params ? jcfg_known(params, path, keys, d) : LLM_OK;

    if (!rc && params)
        rc = jcfg_num(params, path, "iteration_overhead_us", false, 0, 1e9,
                      &us, d);
    if (!rc && params)
        rc = jcfg_bool(params, path, "shared_prefix_attention", false,
                       &r->shared_prefix, d);
    r->env = env;
    r->fixed_ns = (int64_t)llround(us * 1e3);
    return rc;
}

static int roof_price(void *st, const struct batch *b,
                      const struct op_list *ops, struct cost_breakdown *out)
{
    const struct roofline *r = st;
    double cls[OPC_COUNT] = { 0 };
    size_t i;
    int c;

    (void)b;
    for (i = 0; i < ops->n; i++) {
        struct op o = ops->ops[i];
        if (r->shared_prefix && o.kind == OP_ATTN_DECODE)
            o.bytes -= o.shared_bytes;
        cls[op_class_of(o.kind)] += o.repeat *
            cost_roofline_s(r->env->dev, &r->env->shard, &o);
    }
    for (c = 0; c < OPC_COUNT; c++)
        out->class_ns[c] += cost_ns_of(cls[c]);
    return LLM_OK;
}

static int64_t roof_fixed(void *st, const struct batch *b,
                          int64_t gpu_ns)
{
    (void)gpu_ns;
    (void)b;
    return ((const struct roofline *)st)->fixed_ns;
}

const struct cost_ops cost_roofline = {
    .name = "roofline",
    .state_size = sizeof(struct roofline),
    .init = roof_init,
    .price = roof_price,
    .fixed_ns = roof_fixed,
};
