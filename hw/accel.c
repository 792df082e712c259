/* hw/accel.c: roofline with each device's own formats and its papers'
 * efficiencies (hw/accel.h says what is priced and how). */
#include "hw/accel.h"

#include <math.h>
#include <string.h>

#include "hw/lut.h"
#include "base/jcfg.h"

struct accel {
    const struct cost_env *env;
    const struct device *dev;
    const struct device_accel *x;
    struct device comp;        /* the companion, when x->companion is set */
    bool has_comp;
    struct op_list dense;      /* overlap_host: this batch's dense part */
    int64_t fixed_ns;
    /* The catalog's, or the cost_model object's overrides (sweeps of
     * what a paper does not publish). */
    double mem_eff, compute_eff;
    struct link kv_link;
};

/* Seconds of one operator, split by where it runs. */
struct split {
    double dev[OPC_COUNT];
    double host[OPC_COUNT];
};

/* The cost_model object's keys: a fixed time per iteration, and
 * overrides of the catalog's mem_eff, compute_eff and kv_link. */
static int accel_params(struct accel *a, const cJSON *params,
                        const char *path, double *us, struct llm_diag *d)
{
    static const char *const keys[] = { "name", "iteration_overhead_us",
        "mem_eff", "compute_eff", "kv_link", NULL };
    const char *kl = NULL;
    char kp[256];
    int rc = params ? jcfg_known(params, path, keys, d) : LLM_OK;

    a->mem_eff = a->x->mem_eff;
    a->compute_eff = a->x->compute_eff;
    a->kv_link = a->x->kv_link;
    if (rc || params == NULL)
        return rc;
    rc = jcfg_num(params, path, "iteration_overhead_us", false, 0, 1e9, us,
                  d);
    if (!rc) rc = jcfg_num(params, path, "mem_eff", false, 1e-3, 1,
                           &a->mem_eff, d);
    if (!rc) rc = jcfg_num(params, path, "compute_eff", false, 1e-3, 1,
                           &a->compute_eff, d);
    if (!rc) rc = jcfg_name(params, path, "kv_link", false, "a catalog id",
                            &kl, d);
    if (rc || kl == NULL)
        return rc;
    if (a->x->kv_link.id[0] == '\0')
        return diag_set(d, LLM_EINVAL, "%s.kv_link: %s streams no KV over a "
                        "link (its accel entry has no kv_link)", path,
                        a->dev->id);
    if (link_find(a->env->root, kl, &a->kv_link, d) == LLM_OK)
        return LLM_OK;
    /* The lookup's message, prefixed with the key that named it. */
    jcfg_keypath(kp, sizeof(kp), path, "kv_link");
    return diag_prefix(d, kp);
}

static int accel_init(void *st, const struct cost_env *env,
                      const cJSON *params, const char *path,
                      struct llm_diag *d)
{
    struct accel *a = st;
    double us = 0;
    int rc;

    a->env = env;
    a->dev = env->dev;
    a->x = &env->dev->accel;
    if (!a->x->present)
        return diag_set(d, LLM_EINVAL, "%s.name: \"accel\" prices devices "
                        "whose catalog entry has an \"accel\" object; %s has "
                        "none (use \"roofline\")", path, env->dev->id);
    rc = accel_params(a, params, path, &us, d);
    if (rc)
        return rc;
    if (a->x->lut_group > 0 && a->dev->clock_mhz <= 0)
        return diag_set(d, LLM_EINVAL, "%s: %s: accel.lut needs "
                        "boost_clock_mhz", path, env->dev->id);
    a->fixed_ns = (int64_t)llround((us * 1e-6 + a->x->fixed_s) * 1e9);
    if (a->x->companion[0] == '\0')
        return LLM_OK;
    a->has_comp = true;
    return device_find(env->root, a->x->companion, &a->comp, d);
}

static void accel_fini(void *st)
{
    ops_free(&((struct accel *)st)->dense);
}

static bool named(const struct op *o, const char *name)
{
    return o->name != NULL && strcmp(o->name, name) == 0;
}

static double max2(double a, double b)
{
    return a > b ? a : b;
}

/* ---- linear layers ------------------------------------------------------ */

/* Rows through the layer, all groups together (flops = 2 rows n k). */
static double gemm_rows(const struct op *o)
{
    return o->flops / (2.0 * (double)o->n * (double)o->k);
}

static double weight_bits(const struct accel *a, const struct op *o)
{
    if (named(o, "lm_head") && a->x->lm_head_bits > 0)
        return a->x->lm_head_bits;
    return a->x->weight_bits > 0 ? a->x->weight_bits : o->w_bytes * 8;
}

static double weight_bytes(const struct accel *a, const struct op *o)
{
    double groups = o->kind == OP_GROUPED_GEMM && o->groups > 0 ? o->groups
                                                                : 1;

    return groups * (double)o->n * (double)o->k * weight_bits(a, o) / 8;
}

/* Activations that fit on chip never leave it. */
static double act_bytes(const struct accel *a, const struct op *o)
{
    double b = gemm_rows(o) * (double)(o->k + o->n) * a->x->act_bytes;

    return b <= a->dev->onchip_bytes ? 0 : b;
}

/* Linears of the original model that ops.c fuses into one operator: the
 * engine runs (and rebuilds its table for) each one separately. */
static double lut_passes(const struct op *o)
{
    if (named(o, "qkv"))
        return 3;
    if (named(o, "gate_up") || named(o, "shared_gate_up") ||
        named(o, "moe_gate_up"))
        return 2;
    return 1;
}

/* The table-lookup engine of the catalog's accel.lut (hw/lut.h; TeLLMe's
 * TLMM loop nest: per row, per linear and per K step of group x tables
 * activations, a table build then n / lanes cycles of lookups). */
static double lut_s(const struct accel *a, const struct op *o)
{
    const struct device_accel *x = a->x;
    struct lut_engine e = { .group = x->lut_group, .tables = x->lut_tables,
        .lanes = x->lut_lanes, .planes = x->lut_planes,
        .build_per_cycle = x->lut_build, .overlap = x->lut_overlap,
        .entries = x->lut_entries, .entry_bytes = x->act_bytes,
        .clock_hz = a->dev->clock_mhz * 1e6 };
    struct lut_count c;

    /* Bit-serial engines read one table entry per weight bit. */
    if (x->lut_bit_serial)
        e.planes = (int32_t)(dtype_bytes(ops_weight_dtype(&a->env->shard)) *
                             8 + 0.5);
    lut_gemm(&e, gemm_rows(o), o->n, o->k, lut_passes(o), &c);
    /* compute_eff: the catalog's (1 for every lookup engine: the cycle
     * count is the price) or a cost_model override, the sustained share
     * of the HLS cycle rate a sweep assumes (docs/devices.md). */
    return c.seconds / a->compute_eff;
}

static double compute_s(const struct accel *a, double flops, enum dtype t)
{
    return flops * a->x->density /
           (a->dev->peak_flops[t] * a->compute_eff);
}

static double mem_s(const struct accel *a, double bytes)
{
    return bytes / (a->dev->mem_bw_bytes_s * a->mem_eff);
}

static double gemm_s(const struct accel *a, const struct op *o)
{
    double t_c = a->x->lut_group > 0 ? lut_s(a, o)
                                     : compute_s(a, o->flops, a->x->matmul);
    double t_m = mem_s(a, weight_bytes(a, o) + act_bytes(a, o));

    return a->x->serial_weight_load ? t_c + t_m : max2(t_c, t_m);
}

static double host_s(const struct accel *a, double flops, double bytes)
{
    return max2(flops / a->x->host_flops, bytes / a->x->host_bw_bytes_s);
}

/* ---- attention ---------------------------------------------------------- */

static double tokens_of(const struct op *o)
{
    return o->kind == OP_ATTN_DECODE ? o->count : o->q_tokens;
}

/* The query part of ops.c's attention bytes (q_tok per token). */
static double query_bytes(const struct accel *a, const struct op *o)
{
    return tokens_of(o) * 2.0 * o->q_heads * o->head_dim *
           a->env->shard.a_bytes;
}

/* KV bytes read, rescaled from the shard's element size to the device's. */
static double kv_read_bytes(const struct accel *a, const struct op *o)
{
    double kv = max2(o->bytes - query_bytes(a, o), 0);
    double shard = ops_kv_elem_bytes(&a->env->shard);

    return a->x->kv_bytes > 0 && shard > 0 ? kv * a->x->kv_bytes / shard : kv;
}

static double kv_elem(const struct accel *a)
{
    return a->x->kv_bytes > 0 ? a->x->kv_bytes
                              : ops_kv_elem_bytes(&a->env->shard);
}

/* Bytes one layer sends over the host link: queries and outputs of
 * in-storage decodes, and every new token's K and V. */
static double link_bytes(const struct accel *a, const struct op *o)
{
    double kv = tokens_of(o) * o->kv_heads * (o->head_dim + o->v_head_dim) *
                kv_elem(a);
    double qo = tokens_of(o) * o->q_heads * (o->head_dim + o->v_head_dim) *
                a->env->shard.a_bytes;

    return o->kind == OP_ATTN_DECODE ? kv + qo : kv;
}

static enum dtype attn_dtype(const struct device *d, enum dtype matmul)
{
    return d->peak_flops[DT_FP16] > 0 ? DT_FP16 : matmul;
}

static double dev_attn_s(const struct accel *a, const struct op *o)
{
    return max2(compute_s(a, o->flops, attn_dtype(a->dev, a->x->matmul)),
                mem_s(a, kv_read_bytes(a, o)));
}

static double link_s(const struct link *l, double bytes)
{
    return bytes / l->bw_bytes_s + l->latency_s;
}

/* In storage: decodes read KV at the internal flash bandwidth; prefill
 * attention runs on the companion and writes its K and V down. */
static double storage_attn_s(const struct accel *a, const struct op *o)
{
    const struct link *l = &a->dev->host_link;
    double t;

    if (o->kind == OP_ATTN_PREFILL) {
        t = a->has_comp ? cost_roofline_s(&a->comp, &a->env->shard, o)
                        : dev_attn_s(a, o);
        return t + link_s(l, link_bytes(a, o));
    }
    t = max2(kv_read_bytes(a, o) /
             (a->dev->mem_bw_bytes_s * a->x->storage_eff),
             compute_s(a, o->flops, attn_dtype(a->dev, a->x->matmul)));
    return t + link_s(l, link_bytes(a, o));
}

/* Host offloading: the KV streams over kv_link while the device computes;
 * new K and V go back down the same link. */
static double offload_attn_s(const struct accel *a, const struct op *o)
{
    const struct link *l = &a->kv_link;
    double io = o->kind == OP_ATTN_DECODE ? kv_read_bytes(a, o) : 0;

    return max2(dev_attn_s(a, o), link_s(l, io + link_bytes(a, o)));
}

/* ---- one operator ------------------------------------------------------- */

static bool free_kernel(const struct op *o)
{
    return named(o, "act_quant");
}

static void add(struct split *s, enum op_class c, bool host, double sec)
{
    if (host)
        s->host[c] += sec;
    else
        s->dev[c] += sec;
}

static void price_linear(const struct accel *a, const struct op *o,
                         struct split *s)
{
    double r = o->repeat;

    if (named(o, "lm_head") && a->x->lm_head == ACCEL_SITE_HOST)
        add(s, OPC_GEMM, true, r * host_s(a, o->flops, weight_bytes(a, o)));
    else if (a->has_comp)
        add(s, OPC_GEMM, false,
            r * cost_roofline_s(&a->comp, &a->env->shard, o));
    else
        add(s, OPC_GEMM, false, r * gemm_s(a, o));
}

static void price_attention(const struct accel *a, const struct op *o,
                            struct split *s)
{
    double r = o->repeat;

    switch (a->x->attention) {
    case ACCEL_SITE_HOST:
        add(s, OPC_ATTN, true, r * host_s(a, o->flops, kv_read_bytes(a, o)));
        break;
    case ACCEL_SITE_STORAGE:
        add(s, OPC_ATTN, false, r * storage_attn_s(a, o));
        break;
    default:
        add(s, OPC_ATTN, false, r * (a->kv_link.id[0] != '\0'
                                     ? offload_attn_s(a, o)
                                     : dev_attn_s(a, o)));
    }
}

static void price_elementwise(const struct accel *a, const struct op *o,
                              struct split *s)
{
    double r = o->repeat;

    if (free_kernel(o))
        return;
    if (a->has_comp)
        add(s, OPC_OTHER, false,
            r * cost_roofline_s(&a->comp, &a->env->shard, o));
    else if (a->x->elementwise == ACCEL_SITE_HOST)
        add(s, OPC_OTHER, true, r * o->bytes / a->x->host_bw_bytes_s);
    else if (!a->x->fuse_elementwise)
        add(s, OPC_OTHER, false, r * mem_s(a, o->bytes));
}

static void price_op(const struct accel *a, const struct op *o,
                     struct split *s)
{
    const struct device *d = a->has_comp ? &a->comp : a->dev;

    switch (op_class_of(o->kind)) {
    case OPC_GEMM:
        price_linear(a, o, s);
        break;
    case OPC_ATTN:
        price_attention(a, o, s);
        break;
    case OPC_COMM:
        add(s, OPC_COMM, false,
            o->repeat * cost_roofline_s(d, &a->env->shard, o));
        break;
    default:
        price_elementwise(a, o, s);
    }
}

static void accumulate(const struct accel *a, const struct op_list *l,
                       struct split *s)
{
    size_t i;

    for (i = 0; i < l->n; i++)
        price_op(a, &l->ops[i], s);
}

/* ---- overlap of host and device work ------------------------------------ */

static double total(const double v[OPC_COUNT])
{
    double t = 0;
    int c;

    for (c = 0; c < OPC_COUNT; c++)
        t += v[c];
    return t;
}

static bool has_op(const struct op_list *l, bool attention, const char *name)
{
    size_t i;

    for (i = 0; i < l->n; i++) {
        if (attention && op_class_of(l->ops[i].kind) == OPC_ATTN)
            return true;
        if (name != NULL && named(&l->ops[i], name))
            return true;
    }
    return false;
}

static void emit(struct cost_breakdown *out, const double v[OPC_COUNT])
{
    int c;

    for (c = 0; c < OPC_COUNT; c++)
        out->class_ns[c] += cost_ns_of(v[c]);
}

/* The host work beyond dense_dev, spread over the host's classes. */
static void emit_excess(struct cost_breakdown *out, const double host[],
                        double dense_dev)
{
    double h = total(host), v[OPC_COUNT] = { 0 };
    int c;

    if (h <= dense_dev)
        return;
    for (c = 0; c < OPC_COUNT; c++)
        v[c] = host[c] * (h - dense_dev) / h;
    emit(out, v);
}

/* The attention call: the dense part's device time and host work come
 * from a rebuilt dense list (hw/cost.c caches the dense call's price). */
static int overlap_attention(struct accel *a, const struct batch *b,
                             const struct split *s,
                             struct cost_breakdown *out)
{
    struct split dn = { { 0 }, { 0 } };
    double host[OPC_COUNT];
    int c, rc = ops_build_part(a->env->model, &a->env->shard, b, OPS_DENSE,
                               &a->dense);

    if (rc)
        return rc;
    accumulate(a, &a->dense, &dn);
    for (c = 0; c < OPC_COUNT; c++)
        host[c] = dn.host[c] + s->host[c];
    emit(out, s->dev);
    emit_excess(out, host, total(dn.dev));
    return LLM_OK;
}

static int accel_price(void *st, const struct batch *b,
                       const struct op_list *ops, struct cost_breakdown *out)
{
    struct accel *a = st;
    struct split s = { { 0 }, { 0 } };
    bool attn = has_op(ops, true, NULL), dense = has_op(ops, false, "rmsnorm");

    accumulate(a, ops, &s);
    if (!a->x->overlap_host) {
        emit(out, s.dev);
        emit(out, s.host);
        return LLM_OK;
    }
    if (attn && !dense)
        return overlap_attention(a, b, &s, out);
    emit(out, s.dev);
    if (attn)       /* a whole-batch list: overlap within it */
        emit_excess(out, s.host, total(s.dev));
    return LLM_OK;
}

static int64_t accel_fixed(void *st, const struct batch *b,
                           int64_t gpu_ns)
{
    (void)gpu_ns;
    (void)b;
    return ((const struct accel *)st)->fixed_ns;
}

const struct cost_ops cost_accel = {
    .name = "accel",
    .state_size = sizeof(struct accel),
    .init = accel_init,
    .price = accel_price,
    .fixed_ns = accel_fixed,
    .fini = accel_fini,
};
