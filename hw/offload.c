/* hw/offload.c: decode attention on a second device (hw/offload.h). */
#include "hw/offload.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/jcfg.h"

static int parse_effs(const cJSON *obj, const char *path,
                      struct attn_offload *o, struct llm_diag *d)
{
    int rc = jcfg_num(obj, path, "mem_eff", false, 1e-3, 1, &o->mem_eff, d);

    if (!rc) rc = jcfg_num(obj, path, "compute_eff", false, 1e-3, 1,
                           &o->compute_eff, d);
    if (!rc) rc = jcfg_num(obj, path, "memory_utilization", false, 0.01, 1,
                           &o->mem_util, d);
    if (!rc) rc = jcfg_num(obj, path, "kv_read_fraction", false, 1e-3, 1,
                           &o->kv_read_fraction, d);
    if (!rc) rc = jcfg_int(obj, path, "devices", false, 1, 64, &o->devices,
                           d);
    return rc;
}

int attn_offload_parse(const cJSON *obj, const char *path, const char *root,
                       struct attn_offload *o, struct llm_diag *d)
{
    static const char *const keys[] = { "device", "link", "mem_eff",
        "compute_eff", "memory_utilization", "kv_read_fraction", "devices",
        NULL };
    const char *dev = NULL, *link = NULL;
    char kp[256];
    int rc;

    memset(o, 0, sizeof(*o));
    if (obj == NULL)
        return LLM_OK;
    rc = jcfg_known(obj, path, keys, d);
    if (!rc) rc = jcfg_name(obj, path, "device", true, "a catalog id", &dev,
                           d);
    if (!rc) rc = jcfg_name(obj, path, "link", false, "a catalog id", &link,
                           d);
    if (rc)
        return rc;
    snprintf(kp, sizeof(kp), "%s.device", path);
    if (device_find(root, dev, &o->dev, d))
        return diag_prefix(d, kp);
    /* A CSD reaches its internal flash bandwidth at storage_eff; any
     * other device at its catalog peak unless mem_eff says otherwise. */
    o->mem_eff = o->dev.accel.storage_eff > 0 ? o->dev.accel.storage_eff : 1;
    o->compute_eff = 1;
    o->mem_util = 1;
    o->kv_read_fraction = 1;
    o->devices = 1;
    o->link = o->dev.host_link;
    snprintf(kp, sizeof(kp), "%s.link", path);
    if (link != NULL && link_find(root, link, &o->link, d))
        return diag_prefix(d, kp);
    if (o->link.bw_bytes_s <= 0)
        return diag_set(d, LLM_EINVAL, "%s: %s has no host link; name one "
                        "(a catalog link id)", kp, o->dev.id);
    rc = parse_effs(obj, path, o, d);
    if (rc)
        return rc;
    if (o->dev.mem_bw_bytes_s <= 0 || o->dev.mem_bytes <= 0)
        return diag_set(d, LLM_EINVAL, "%s.device: %s has no memory size "
                        "or bandwidth", path, o->dev.id);
    o->on = true;
    return LLM_OK;
}

int64_t attn_offload_kv_blocks(const struct attn_offload *o,
                               double block_bytes)
{
    double n = floor(o->dev.mem_bytes * o->mem_util * (double)o->devices /
                     block_bytes);

    return n > (double)INT64_MAX / 2 ? INT64_MAX / 2 : (int64_t)n;
}

/* Query sequences (decode) or tokens (prefill chunk) of an operator. */
static double tokens_of(const struct op *op)
{
    return op->kind == OP_ATTN_DECODE ? op->count : op->q_tokens;
}

static double qo_bytes(const struct shard *s, const struct op *op)
{
    return tokens_of(op) * op->q_heads *
           (double)(op->head_dim + op->v_head_dim) * s->a_bytes;
}

static double peak_flops(const struct device *dev)
{
    if (dev->peak_flops[DT_FP16] > 0)
        return dev->peak_flops[DT_FP16];
    if (dev->peak_flops[DT_BF16] > 0)
        return dev->peak_flops[DT_BF16];
    return dev->peak_flops[DT_FP32];
}

double attn_offload_decode_s(const struct attn_offload *o,
                             const struct shard *s, const struct op *op)
{
    double f = o->kv_read_fraction, n = (double)o->devices;
    double kv = (op->bytes - qo_bytes(s, op)) * f;
    double t_m = (kv > 0 ? kv : 0) /
                 (o->dev.mem_bw_bytes_s * o->mem_eff * n);
    double peak = peak_flops(&o->dev) * o->compute_eff * n;
    double t_c = peak > 0 ? op->flops * f / peak : 0;

    return t_c > t_m ? t_c : t_m;
}

double attn_offload_link_s(const struct attn_offload *o,
                           const struct shard *s, const struct op *op)
{
    double kv = tokens_of(op) * op->kv_heads *
                (double)(op->head_dim + op->v_head_dim) *
                ops_kv_elem_bytes(s);
    double bytes = kv + (op->kind == OP_ATTN_DECODE ? qo_bytes(s, op) : 0);

    return o->link.latency_s + bytes / (o->link.bw_bytes_s * (double)o->devices);
}

static int keep(struct op_list *l, const struct op *op)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 16;
        struct op *p = realloc(l->ops, cap * sizeof(*p));
        if (p == NULL)
            return LLM_ENOMEM;
        l->ops = p;
        l->cap = cap;
    }
    l->ops[l->n++] = *op;
    return LLM_OK;
}

int attn_offload_price(const struct attn_offload *o, const struct shard *s,
                       const struct op_list *attn, struct op_list *gpu,
                       struct cost_breakdown *out)
{
    size_t i;

    gpu->n = 0;
    for (i = 0; i < attn->n; i++) {
        const struct op *op = &attn->ops[i];
        double r = op->repeat;

        if (op->kind == OP_ATTN_DECODE)
            out->class_ns[OPC_ATTN] +=
                cost_ns_of(r * attn_offload_decode_s(o, s, op));
        if (op->kind == OP_ATTN_DECODE || op->kind == OP_ATTN_PREFILL)
            out->class_ns[OPC_COMM] +=
                cost_ns_of(r * attn_offload_link_s(o, s, op));
        if (op->kind != OP_ATTN_DECODE && keep(gpu, op))
            return LLM_ENOMEM;
    }
    return LLM_OK;
}
