#include "hw/cost.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/jcfg.h"

static const struct cost_ops *const cost_models[] = {
    &cost_roofline,
    NULL
};

struct cost_model {
    const struct cost_ops *ops;
    const struct cost_env *env;
    struct op_list list;
    void *st;
};

static const struct cost_ops *find(const char *name, const char *path,
                                   struct llm_diag *d)
{
    char known[256] = "";
    size_t i, off = 0;

    for (i = 0; cost_models[i] != NULL; i++)
        if (strcmp(cost_models[i]->name, name) == 0)
            return cost_models[i];
    for (i = 0; cost_models[i] != NULL; i++)
        off += (size_t)snprintf(known + off, sizeof(known) - off, "%s%s",
                                i ? ", " : "", cost_models[i]->name);
    diag_set(d, LLM_EINVAL, "%s.name: unknown cost model \"%s\" (known: %s)",
             path, name, known);
    return NULL;
}

int cost_create(const struct cost_env *env, const cJSON *params,
                const char *path, struct cost_model **out,
                struct llm_diag *d)
{
    const char *name = env->dev->calib_dir[0] ? "calibrated" : "roofline";
    const struct cost_ops *ops;
    struct cost_model *c;
    int rc;

    if (params != NULL && jcfg_str(params, path, "name", false, &name, d))
        return LLM_EINVAL;
    if (strcmp(name, "calibrated") == 0 && find(name, path, NULL) == NULL)
        name = "roofline";   /* until the calibrated model is registered */
    ops = find(name, path, d);
    if (ops == NULL)
        return LLM_EINVAL;
    c = calloc(1, sizeof(*c));
    if (c == NULL || (c->st = calloc(1, ops->state_size ? ops->state_size
                                                         : 1)) == NULL) {
        free(c);
        return diag_set(d, LLM_ENOMEM, "out of memory");
    }
    c->ops = ops;
    c->env = env;
    rc = ops->init(c->st, env, params, path, d);
    if (rc) {
        free(c->st);
        free(c);
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
    free(c->st);
    free(c);
}

const char *cost_name(const struct cost_model *c)
{
    return c->ops->name;
}

int cost_price(struct cost_model *c, const struct batch *b,
               struct cost_breakdown *out)
{
    int rc = ops_build(c->env->model, &c->env->shard, b, &c->list);

    memset(out, 0, sizeof(*out));
    if (rc)
        return rc;
    return c->ops->price(c->st, b, &c->list, out);
}

double cost_roofline_s(const struct device *dev, const struct shard *s,
                       const struct op *o)
{
    double peak = dev->peak_flops[DT_BF16];
    double t_c, t_m;

    if (o->kind == OP_ALLREDUCE) {
        const struct link *ln = &dev->peer_link;
        double p = (double)s->tp;
        if (ln->bw_bytes_s <= 0)
            return 0;
        /* Ring all-reduce: 2(p-1) steps, each moving bytes/p per GPU. */
        return 2.0 * (p - 1) * (ln->latency_s + o->bytes / p / ln->bw_bytes_s);
    }
    if (o->kind == OP_GEMM && s->w_bytes <= 1.0 && dev->peak_flops[DT_FP8] > 0)
        peak = dev->peak_flops[DT_FP8];
    t_c = o->flops / peak;
    t_m = o->bytes / dev->mem_bw_bytes_s;
    return t_c > t_m ? t_c : t_m;
}
