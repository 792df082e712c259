/* hw/cost_calib.c: the calibrated cost model.
 *
 * Prices each kernel an engine launches (its profile, hw/engine.h) from the
 * device's measured tables (hw/calib.h): GEMMs by (m, n, k), attention by
 * heads and shape from the profile's backend's tables, element-wise
 * kernels by tokens and width, each as measured inside a CUDA graph, so
 * the per-kernel launch gap of a graphed forward is part of every kernel.
 * The profile's scales multiply each class's table time (never below the
 * kernel's own roofline), and its fixed times are added: the graph replay
 * (graph and piecewise execution), layer_us per layer, and iter_us of host
 * work per iteration (hidden behind the GPU's time when the engine
 * schedules asynchronously).  Under the reference profile (every scale 1,
 * no fixed time, FlashAttention-2 tables, fused kernels) the price is
 * exactly the tables' composition of issue 3.
 *
 * Mechanisms, not fitted constants: a varlen attention call over several
 * prefill chunks is one kernel, so the chunks share one kernel floor; an
 * SDPA engine makes one call per chunk and per group of equal decode
 * contexts, each with its own floor; decode attention over ragged contexts
 * is the uniform table's time at the mean context, scaled by how the
 * backend schedules that ragged launch against the uniform one
 * (hw/attn_sched.h; root-mean-square context where the device has no
 * attn_decode_sched.csv).  With shared_prefix_attention (Hydragen) decode
 * attention is a prefill-shaped kernel per shared prefix (its sequences'
 * queries batched over its KV) plus the decode kernel over each sequence's
 * own suffix.
 *
 * Execution "eager" prices an engine that runs its forward op by op from
 * Python instead of replaying a graph (serve.py, vLLM's enforce_eager):
 * the CPU dispatches each kernel while the GPU runs the earlier ones
 * (hw/eager.h plays that pipeline kernel by kernel), each kernel costing
 * its host dispatch (the reference engine's eager.csv by batch class, or
 * the profile's dispatch_us) and its table time on the GPU; the slower
 * side paces the forward, and short kernels after long ones spend the
 * host's lead.  Before it, the host builds the batch's inputs and copies
 * them to the GPU (eager.csv's prep_base + per sequence + per token).
 * Execution "piecewise" (vLLM V1) replays a graph per piece between
 * attention calls and launches attention from the host: two launches a
 * layer of dispatch_us each, pipelined the same way.  The excess over the
 * GPU time is reported as fixed time. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hw/attn_sched.h"
#include "hw/calib.h"
#include "hw/cost.h"
#include "hw/eager.h"
#include "base/jcfg.h"

struct eager_host {
    double fwd_s[3], layer_s[3];   /* by class: decode, prefill, mixed */
    double prep_s, prep_seq_s, prep_tok_s;
};

/* What the run priced outside the tables (issue 17): seconds per class
 * and the dimension that ran out, for cost_extrap_describe. */
struct xnote {
    double s[OPC_COUNT];
    int64_t gemm_n, gemm_k;    /* largest (n, k) the tables lack; 0: none */
    int64_t gemm_m;            /* largest M beyond a measured shape's grid */
    int32_t qh, kvh, hd;       /* attention heads the tables lack */
    bool attn_grid;            /* batch, tokens or context beyond the grid */
    int32_t ranks;             /* most ranks of a collective without table */
    bool grouped;              /* grouped GEMMs (MoE): no table */
    bool elem;                 /* an element-wise op or width not measured */
};

struct calibrated {
    const struct cost_env *env;
    struct calib *tab;
    char tables[64];           /* the device whose tables price this one */
    double x_s;                /* extrapolated seconds of the last price */
    struct xnote xn;
    struct engine eng;
    enum dtype wdt;
    int pre_set, dec_set;          /* attention tables (calib_attn_set) */
    int32_t layers, qh, kvh, hd;   /* per GPU, the stage(s) priced */
    double graph_s;                /* one graph replay */
    bool shared_prefix;
    bool host_loaded;              /* host holds eager.csv */
    struct eager_host host;
    struct op_list list;           /* host model: the iteration's ops */
    struct eager_op *eager_ops;    /* host model: scratch */
    size_t eager_cap;
    struct cost_part *parts;       /* price_ops' scratch */
    size_t parts_cap;
    struct attn_sched_consts ds;
    struct attn_sched *sched;
};

static int load_eager(struct calibrated *c, const char *dir,
                      const char *path, struct llm_diag *d)
{
    static const char *const cls[] = { "decode", "prefill", "mixed" };
    struct eager_host *h = &c->host;
    char what[48];
    int i;

    if (!calib_has_eager(c->tab))
        return diag_set(d, LLM_EINVAL, "%s.execution: \"eager\" needs the "
                        "host costs %s/eager.csv (hw/calib/fit_eager.py)",
                        path, dir);
    for (i = 0; i < 3; i++) {
        snprintf(what, sizeof(what), "dispatch_forward_%s", cls[i]);
        h->fwd_s[i] = calib_eager_s(c->tab, what);
        snprintf(what, sizeof(what), "dispatch_layer_%s", cls[i]);
        h->layer_s[i] = calib_eager_s(c->tab, what);
        if (h->fwd_s[i] < 0 || h->layer_s[i] < 0)
            return diag_set(d, LLM_EINVAL, "%s/eager.csv: expected rows "
                            "dispatch_forward_%s and dispatch_layer_%s",
                            dir, cls[i], cls[i]);
    }
    h->prep_s = calib_eager_s(c->tab, "prep_base");
    h->prep_seq_s = calib_eager_s(c->tab, "prep_per_seq");
    h->prep_tok_s = calib_eager_s(c->tab, "prep_per_token");
    if (h->prep_s < 0 || h->prep_seq_s < 0 || h->prep_tok_s < 0)
        return diag_set(d, LLM_EINVAL, "%s/eager.csv: expected rows "
                        "prep_base, prep_per_seq and prep_per_token", dir);
    return LLM_OK;
}

static void load_decode_sched(struct calibrated *c)
{
    struct attn_sched_consts *s = &c->ds;

    s->key_alone = calib_decode_sched_s(c->tab, "key_alone_us") * 1e6;
    s->key_bw = calib_decode_sched_s(c->tab, "key_bw_us") * 1e6;
    s->cta = calib_decode_sched_s(c->tab, "cta_us") * 1e6;
    s->launch = calib_decode_sched_s(c->tab, "launch_us") * 1e6;
    s->comb = calib_decode_sched_s(c->tab, "combine_us") * 1e6;
    s->on = s->key_alone > 0 && s->key_bw > 0 && s->cta >= 0 &&
            s->launch >= 0 && s->comb >= 0;
}

/* The cost_model keys that adjust the engine: cpu_overhead_us adds host
 * time per iteration, execution overrides the profile's. */
static int read_keys(struct calibrated *c, const cJSON *params,
                     const char *path, struct llm_diag *d)
{
    static const char *const keys[] = { "name", "cpu_overhead_us",
                                        "shared_prefix_attention",
                                        "execution", NULL };
    const char *mode = NULL;
    double cpu_us = 0;
    char kp[160];
    int rc = params ? jcfg_known(params, path, keys, d) : LLM_OK;

    if (!rc && params)
        rc = jcfg_num(params, path, "cpu_overhead_us", false, 0, 1e9,
                      &cpu_us, d);
    if (!rc && params)
        rc = jcfg_bool(params, path, "shared_prefix_attention", false,
                       &c->shared_prefix, d);
    if (!rc && params)
        rc = jcfg_str(params, path, "execution", false, &mode, d);
    if (rc || mode == NULL) {
        c->eng.p.iter_us += cpu_us;
        return rc;
    }
    if (strcmp(mode, "graph") != 0 && strcmp(mode, "eager") != 0) {
        jcfg_keypath(kp, sizeof(kp), path, "execution");
        return diag_set(d, LLM_EINVAL, "%s: expected \"graph\" or "
                        "\"eager\", got \"%s\"", kp, mode);
    }
    c->eng.p.iter_us += cpu_us;
    c->eng.exec = mode[0] == 'e' ? ENG_EXEC_EAGER : ENG_EXEC_GRAPH;
    /* the key predates profiles: it means the reference engine's host */
    if (c->eng.exec == ENG_EXEC_EAGER)
        c->eng.eager_table = true;
    return LLM_OK;
}

/* A device without measured collectives whose catalog entry names a
 * comm_donor with the same peer link (H100 SXM: the H200's, both NVLink 4
 * through NVSwitch) prices them from the donor's nccl_*.csv: a collective
 * of a few kilobytes is link latency and a large one link bandwidth,
 * which the two share; the alpha-beta model put a 2-rank all-reduce of a
 * decode batch at a third of the H200's measured time. */
static int borrow_comm(struct calibrated *c, const struct cost_env *env,
                       struct llm_diag *d)
{
    struct device donor;
    char dir[1200];
    int rc;

    if (env->dev->comm_donor[0] == '\0')
        return LLM_OK;
    rc = device_find(env->root, env->dev->comm_donor, &donor, d);
    if (!rc && (strcmp(donor.peer_link.id, env->dev->peer_link.id) != 0 ||
                donor.calib_dir[0] == '\0'))
        rc = diag_set(d, LLM_EINVAL, "%s: comm_donor %s has another peer "
                      "link or no tables", env->dev->id, donor.id);
    if (!rc) {
        snprintf(dir, sizeof(dir), "%s/%s", env->root, donor.calib_dir);
        rc = calib_borrow_comm(c->tab, dir, d);
    }
    return rc;
}

/* The device's own tables, or for a GPU without any a donor's carried to
 * it (hw/calib.h calib_borrow; the donor by hw/device.h's rule). */
static int open_tables(struct calibrated *c, const struct cost_env *env,
                       char *dir, size_t len, const char *path,
                       struct llm_diag *d)
{
    struct device donor;
    int rc;

    if (env->dev->calib_dir[0] != '\0') {
        snprintf(dir, len, "%s/%s", env->root, env->dev->calib_dir);
        snprintf(c->tables, sizeof(c->tables), "%s", env->dev->id);
        rc = calib_load(dir, env->dev, &c->tab, d);
        return rc ? rc : borrow_comm(c, env, d);
    }
    if (device_calib_donor(env->root, env->dev, &donor, d) != LLM_OK)
        return diag_set(d, LLM_EINVAL, "%s.name: device %s has no "
                        "calibration tables and none to borrow (use "
                        "\"roofline\")", path, env->dev->id);
    snprintf(dir, len, "%s/%s", env->root, donor.calib_dir);
    rc = calib_load(dir, &donor, &c->tab, d);
    if (rc == LLM_OK) {
        calib_borrow(c->tab, env->dev);
        snprintf(c->tables, sizeof(c->tables), "%s", donor.id);
    }
    return rc;
}

/* The profile's attention backends' table sets; a backend the device has
 * no tables for runs on FlashAttention-2's (its scale carries the rest). */
static void pick_sets(struct calibrated *c)
{
    c->pre_set = calib_attn_set(c->tab, engine_attn_tables(c->eng.prefill));
    c->dec_set = calib_attn_set(c->tab, engine_attn_tables(c->eng.decode));
    c->pre_set = c->pre_set < 0 ? 0 : c->pre_set;
    c->dec_set = c->dec_set < 0 ? 0 : c->dec_set;
}

static void shape(struct calibrated *c)
{
    const struct model *m = c->env->model;
    const struct shard *s = &c->env->shard;
    int32_t tp = s->tp > 1 ? s->tp : 1, first;

    c->qh = m->num_heads / tp;
    c->kvh = ops_kv_heads_per_gpu(m, tp);
    c->hd = m->head_dim;
    if (s->stage == OPS_ALL_STAGES)
        c->layers = m->num_layers;
    else
        ops_stage_layers(m->num_layers, s->pp, s->stage, &first,
                         &c->layers);
}

static int cal_init(void *st, const struct cost_env *env,
                    const cJSON *params, const char *path,
                    struct llm_diag *d)
{
    struct calibrated *c = st;
    char dir[1200];
    int rc;

    if (env->engine != NULL)
        c->eng = *env->engine;
    else
        engine_reference(&c->eng);
    rc = read_keys(c, params, path, d);
    if (rc)
        return rc;
    rc = open_tables(c, env, dir, sizeof(dir), path, d);
    if (rc)
        return rc;
    c->env = env;
    c->wdt = env->shard.w_bytes == 1.0 ? DT_FP8 : DT_BF16;
    calib_set_kv_bytes(c->tab, ops_kv_elem_bytes(&env->shard));
    load_decode_sched(c);
    pick_sets(c);
    shape(c);
    if ((c->sched = attn_sched_create()) == NULL)
        rc = diag_set(d, LLM_ENOMEM, "out of memory");
    if (!rc && c->eng.exec == ENG_EXEC_EAGER && c->eng.eager_table) {
        rc = load_eager(c, dir, path, d);
        c->host_loaded = rc == LLM_OK;
    }
    if (rc) {
        attn_sched_destroy(c->sched);
        calib_free(c->tab);
        return rc;
    }
    /* an eager engine replays no graph: its host model replaces it */
    c->graph_s = c->eng.exec == ENG_EXEC_EAGER ? 0 :
                 calib_launch_s(c->tab, "graph_replay_empty");
    return LLM_OK;
}

/* ----------------------------------------------------- element-wise kernels
 *
 * How an unfused (plain PyTorch) engine runs each fused kernel of the
 * reference engine, from Hugging Face transformers' Llama
 * (models/llama/modeling_llama.py: LlamaRMSNorm.forward,
 * apply_rotary_pos_emb / rotate_half, LlamaMLP.forward) with a static KV
 * cache written by slice assignment (hw/calib/engines/engine_unfused.py is
 * that engine): each entry is one torch kernel, a row of
 * elementwise_torch.csv (hw/calib/engines/elem_bench.py names them) over
 * tokens x width. */
enum lw_width { LW_OP, LW_ONE, LW_Q, LW_KV, LW_HALF_Q, LW_HALF_KV };

struct lowering {
    const char *op;            /* "torch.<op>" row of elementwise_torch.csv */
    enum lw_width width;
    double bytes;              /* bytes moved per element (fallback) */
};

/* variance = x.float().pow(2).mean(-1); x * rsqrt(variance + eps);
 * weight * x.to(bf16) */
static const struct lowering lw_rmsnorm[] = {
    { "torch.to_fp32", LW_OP, 6 }, { "torch.pow2_fp32", LW_OP, 8 },
    { "torch.mean_lastdim_fp32", LW_OP, 4 },
    { "torch.add_eps_fp32", LW_ONE, 8 }, { "torch.rsqrt_fp32", LW_ONE, 8 },
    { "torch.mul_rowscale_fp32", LW_OP, 8 }, { "torch.to_bf16", LW_OP, 6 },
    { "torch.mul_weight_bf16", LW_OP, 6 }, { NULL, LW_OP, 0 } };
/* q * cos + rotate_half(q) * sin, then the same for k */
static const struct lowering lw_rope[] = {
    { "torch.rope_mul_cos_bf16", LW_Q, 6 },
    { "torch.neg_half_bf16", LW_HALF_Q, 4 },
    { "torch.cat_rotate_half_bf16", LW_Q, 4 },
    { "torch.rope_mul_cos_bf16", LW_Q, 6 }, { "torch.add_bf16", LW_Q, 6 },
    { "torch.rope_mul_cos_bf16", LW_KV, 6 },
    { "torch.neg_half_bf16", LW_HALF_KV, 4 },
    { "torch.cat_rotate_half_bf16", LW_KV, 4 },
    { "torch.rope_mul_cos_bf16", LW_KV, 6 }, { "torch.add_bf16", LW_KV, 6 },
    { NULL, LW_OP, 0 } };
static const struct lowering lw_silu_mul[] = {
    { "torch.silu_bf16", LW_OP, 4 }, { "torch.mul_bf16", LW_OP, 6 },
    { NULL, LW_OP, 0 } };
static const struct lowering lw_residual[] = {
    { "torch.add_bf16", LW_OP, 6 }, { NULL, LW_OP, 0 } };
/* K and V slice-assigned into the cache and the attention output copied
 * back token-major, here as one call over every token; an SDPA engine
 * makes them per call instead (sdpa_glue_s) */
static const struct lowering lw_kv_write[] = {
    { "torch.copy_kv_chunk", LW_KV, 4 }, { "torch.copy_kv_chunk", LW_KV, 4 },
    { "torch.copy_attn_out_chunk", LW_Q, 4 }, { NULL, LW_OP, 0 } };

static const struct lowering *unfused_of(const char *name)
{
    if (strcmp(name, "rmsnorm") == 0 || strcmp(name, "rmsnorm_final") == 0)
        return lw_rmsnorm;
    if (strcmp(name, "rope") == 0)
        return lw_rope;
    if (strcmp(name, "silu_mul") == 0)
        return lw_silu_mul;
    if (strcmp(name, "residual_add") == 0)
        return lw_residual;
    if (strcmp(name, "kv_write") == 0)
        return lw_kv_write;
    return NULL;
}

static int64_t lw_width_of(const struct calibrated *c, const struct op *o,
                           enum lw_width w)
{
    switch (w) {
    case LW_ONE: return 1;
    case LW_Q: return (int64_t)c->qh * c->hd;
    case LW_KV: return (int64_t)c->kvh * c->hd;
    case LW_HALF_Q: return (int64_t)c->qh * c->hd / 2;
    case LW_HALF_KV: return (int64_t)c->kvh * c->hd / 2;
    default: return o->n;
    }
}

/* One torch kernel: its row of elementwise_torch.csv, else the reference
 * residual add (3 bf16 elements moved per width) at the same traffic. */
static double torch_kernel_s(const struct calibrated *c, const char *op,
                             int64_t tokens, int64_t width, double bytes,
                             bool *x)
{
    int64_t w;

    if (calib_has_elem(c->tab, op))
        return calib_elem_s(c->tab, op, tokens, width, x);
    *x = true;
    w = (int64_t)ceil((double)width * bytes / 6.0);
    return calib_elem_s(c->tab, "residual_add", tokens, w > 0 ? w : 1, x);
}

/* An unfused engine with SDPA attention writes K and V and copies the
 * output once per attention call (engine_unfused.py): per prefill chunk
 * and per group of equal decode contexts. */
static bool sdpa_glue_on(const struct calibrated *c)
{
    return c->eng.elem == ENG_ELEM_UNFUSED &&
           (c->eng.prefill == ENG_ATTN_SDPA || c->eng.decode == ENG_ATTN_SDPA);
}

/* One call's K, V and output copies over t tokens (group: decode rows). */
static double glue_call_s(const struct calibrated *c, int64_t t, bool group,
                          bool *x)
{
    int64_t kv = (int64_t)c->kvh * c->hd, q = (int64_t)c->qh * c->hd;

    return 2 * torch_kernel_s(c, group ? "torch.copy_kv_group" :
                              "torch.copy_kv_chunk", t, kv, 4, x) +
           torch_kernel_s(c, group ? "torch.copy_attn_out_group" :
                          "torch.copy_attn_out_chunk", t, q, 4, x);
}

/* Seconds of one layer's copies; *calls the attention calls. */
static double sdpa_glue_s(const struct calibrated *c, const struct batch *b,
                          int32_t *calls, bool *x)
{
    double t = 0;
    size_t i;

    *calls = 0;
    if (c->eng.prefill == ENG_ATTN_SDPA) {
        for (i = 0; i < b->n_prefill; i++, (*calls)++)
            t += glue_call_s(c, b->prefill[i].tokens, false, x);
    } else if (b->n_prefill > 0) {
        t += glue_call_s(c, b->prefill_tokens, false, x);
        (*calls)++;
    }
    if (c->eng.decode == ENG_ATTN_SDPA) {
        for (i = 0; i < b->n_decode; i++, (*calls)++)
            t += glue_call_s(c, b->decode[i].count, true, x);
    } else if (b->decode_seqs > 0) {
        t += glue_call_s(c, b->decode_seqs, true, x);
        (*calls)++;
    }
    return t;
}

/* An element-wise operator as the profile runs it; *kernels its launches. */
static double elem_s(const struct calibrated *c, const struct op *o,
                     int32_t *kernels, bool *x)
{
    const struct lowering *lw;
    double t = 0;

    *kernels = 1;
    if (o->m <= 0)
        return 0;
    if (c->eng.elem == ENG_ELEM_FUSED_ADD) {
        /* vLLM's fused_add_rms_norm: the add inside the norm, which then
         * moves twice the traffic (x and the residual, read and written):
         * the norm's own table at twice the tokens */
        if (strcmp(o->name, "residual_add") == 0) {
            *kernels = 0;
            return 0;
        }
        if (strcmp(o->name, "rmsnorm") == 0)
            return calib_elem_s(c->tab, "rmsnorm", 2 * o->m, o->n, x);
    }
    if (sdpa_glue_on(c) && strcmp(o->name, "kv_write") == 0) {
        *kernels = 0;          /* per attention call: sdpa_glue_s */
        return 0;
    }
    if (c->eng.elem != ENG_ELEM_UNFUSED || (lw = unfused_of(o->name)) == NULL)
        return calib_elem_s(c->tab, strcmp(o->name, "rmsnorm_final") == 0 ?
                            "rmsnorm" : o->name, o->m, o->n, x);
    for (*kernels = 0; lw->op != NULL; lw++, (*kernels)++)
        t += torch_kernel_s(c, lw->op, o->m, lw_width_of(c, o, lw->width),
                            lw->bytes, x);
    return t;
}

/* --------------------------------------------------------------- GEMMs */

/* FlashDecoding++ (Hong et al., MLSys'24, abstract): cuBLAS and CUTLASS
 * pad a flat GEMM's M to their 64-row tile, losing over 50%; its flat
 * GEMM pads to 8 with double buffering, "up to 52% speedup".  Below 64
 * rows: the table's time / 1.52 at best, and never faster than streaming
 * the weights at the fastest read membw.csv measured. */
#define FLAT_M 64
#define FLAT_GAIN 1.52

static double flat_gemm_s(const struct calibrated *c, const struct op *o,
                          int64_t n, double t)
{
    double rd = calib_read_peak(c->tab), w, f;

    if (!c->eng.flat_gemm || o->m >= FLAT_M || rd <= 0)
        return t;
    w = (double)n * (double)o->k * o->w_bytes +
        (double)o->m * (double)(n + o->k) * c->env->shard.a_bytes;
    f = w / (c->env->dev->mem_bw_bytes_s * rd);
    t /= FLAT_GAIN;
    return t > f ? t : f;
}

/* One linear layer of n outputs: W4A16 (sub-byte weights, bf16 math)
 * runs fused. */
static double linear_s(const struct calibrated *c, const struct op *o,
                       int64_t n, bool *x)
{
    if (o->w_bytes < 1.0 && o->math == DT_BF16)
        return calib_gemm_w4a16_s(c->tab, o->m, n, o->k, x);
    return flat_gemm_s(c, o, n, calib_gemm_s(c->tab, c->wdt, o->m, n, o->k,
                                             x));
}

/* A GEMM as the profile runs it: the fused QKV or gate/up projection as
 * one GEMM or one per projection (Hugging Face's q_proj, k_proj, v_proj;
 * gate_proj, up_proj). */
static double gemm_s(const struct calibrated *c, const struct op *o,
                     int32_t *kernels, bool *x)
{
    *kernels = 1;
    if (c->eng.qkv_separate && strcmp(o->name, "qkv") == 0 &&
        o->n == (int64_t)(c->qh + 2 * c->kvh) * c->hd) {
        *kernels = 3;
        return linear_s(c, o, (int64_t)c->qh * c->hd, x) +
               2 * linear_s(c, o, (int64_t)c->kvh * c->hd, x);
    }
    if (c->eng.gate_up_separate && strcmp(o->name, "gate_up") == 0) {
        *kernels = 2;
        return 2 * linear_s(c, o, o->n / 2, x);
    }
    return linear_s(c, o, o->n, x);
}

/* ------------------------------------------------------------ attention */

#define FA2_SLOTS 264          /* 2 x 132 SMs (H100 SXM, H200) */

/* One varlen kernel runs every prefill chunk, its floor (launch and setup)
 * paid once.  Each chunk's table time beyond the floor was measured with
 * the chunk alone, its ceil(q / 128) x heads CTAs filling a fraction f of
 * the GPU's FA2_SLOTS; in one launch the chunks' CTAs run side by side,
 * so a chunk occupies the GPU for f of its time (all of it once f >= 1),
 * and the launch lasts the larger of that summed occupancy and its longest
 * chunk.  Large chunks (f >= 1) sum as before; many small ones overlap.
 * SDPA: one call per chunk, each with its own floor, one after another. */
/* FlashDecoding++'s asynchronized softmax (Hong et al., MLSys'24,
 * abstract): the synchronized update of the partial softmax results costs
 * ~20% of the attention computation, which a unified max value removes
 * (1.05x and 1.14x for the prefill and decode stages as the paper
 * measures them end to end). */
#define FDPP_ATTN 0.80

static double prefill_attn_s(const struct calibrated *c,
                             const struct op_list *ops, int32_t *extrap)
{
    double area = 0, longest = 0, floor_s = 0, sum = 0;
    bool per_call = c->eng.prefill == ENG_ATTN_SDPA;
    size_t i;
    int n = 0;

    for (i = 0; i < ops->n; i++) {
        const struct op *o = &ops->ops[i];
        bool x = false, unused = false;
        double t, f;
        if (o->kind != OP_ATTN_PREFILL)
            continue;
        if (n == 0)
            floor_s = calib_attn_prefill_set_s(c->tab, c->pre_set,
                                               o->q_heads, o->kv_heads,
                                               o->head_dim, 1, 0, &unused);
        t = calib_attn_prefill_set_s(c->tab, c->pre_set, o->q_heads,
                                     o->kv_heads, o->head_dim, o->q_tokens,
                                     o->prior, &x);
        sum += t;
        t = t - floor_s > 0 ? t - floor_s : 0;
        f = (double)((o->q_tokens + 127) / 128 * o->q_heads) / FA2_SLOTS;
        area += t * (f < 1 ? f : 1);
        longest = t > longest ? t : longest;
        *extrap += x;
        n++;
    }
    if (per_call)
        return sum;
    return (floor_s + (area > longest ? area : longest)) *
           (c->eng.prefill == ENG_ATTN_FDPP ? FDPP_ATTN : 1);
}

static bool shared_on(const struct calibrated *c, const struct op *o)
{
    return c->shared_prefix && o->kind == OP_ATTN_DECODE &&
           o->shared_bytes > 0;
}

static double dec_table_s(const struct calibrated *c, const struct op *o,
                          int64_t count, double ctx, bool *x)
{
    return calib_attn_decode_set_s(c->tab, c->dec_set, o->q_heads,
                                   o->kv_heads, o->head_dim, count, ctx, x);
}

/* A balanced split-KV decode (FlashAttention-3's scheduler, FlashInfer's
 * plan): every sequence's keys are split so that the launch fills the GPU
 * whatever the batch, so it streams the batch's KV at the memory system's
 * rate: the kernel floor (the FA2 table's one-sequence, 16-key launch)
 * plus its bytes at the fastest read membw.csv measured.  Unlike FA2's
 * own table it does not inherit FA2's MHA launch without splits, which
 * leaves most SMs idle at small batch.  Without membw.csv: FA2's table at
 * the mean context. */
static double split_kv_s(const struct calibrated *c, const struct op *o,
                         double mean, bool *x)
{
    double rd = calib_read_peak(c->tab), floor_s;
    bool unused = false;

    if (rd <= 0)
        return dec_table_s(c, o, o->count, mean, x);
    floor_s = dec_table_s(c, o, 1, 16, &unused);
    return floor_s + o->bytes / (c->env->dev->mem_bw_bytes_s * rd);
}

/* Hydragen's decomposition: each shared prefix once, its sequences'
 * queries batched as the rows of one attention over its KV (the prefill
 * kernel's shape: count queries after `tokens` cached keys), then the
 * decode kernel over every sequence's suffix, at their RMS context
 * (sq: the sum of squared full contexts; a sharing sequence's suffix is
 * ctx - tokens).  The softmax merge of the two parts is not priced. */
static double shared_attn_s(const struct calibrated *c, const struct op *o,
                            const struct batch *b, double sq,
                            int32_t *extrap)
{
    double t = 0, p;
    size_t i;
    bool x = false;

    for (i = 0; i < b->n_shared; i++) {
        const struct shared_prefix *g = &b->shared[i];
        p = g->tokens;
        sq -= 2.0 * p * (double)g->ctx_sum - g->count * p * p;
        t += calib_attn_prefill_set_s(c->tab, c->pre_set, o->q_heads,
                                      o->kv_heads, o->head_dim, g->count,
                                      g->tokens, &x);
        *extrap += x;
        x = false;
    }
    t += dec_table_s(c, o, o->count, sqrt(sq > 0 ? sq / o->count : 0), &x);
    *extrap += x;
    return t;
}

/* SDPA: one call per group of equal contexts, each a uniform batch. */
static double per_group_s(const struct calibrated *c, const struct op *o,
                          const struct batch *b, int32_t *extrap)
{
    double t = 0;

    for (size_t i = 0; i < b->n_decode; i++) {
        bool x = false;
        t += dec_table_s(c, o, b->decode[i].count, b->decode[i].ctx, &x);
        *extrap += x;
    }
    return t;
}

/* Decode attention: the table's uniform batch at the mean context, times
 * the backend's ragged / uniform schedule ratio; without a schedule (or
 * memory for it) the root-mean-square context, which weights each
 * sequence by its own length (the imbalance to first order).  A balanced
 * backend costs its mean context. */
static double decode_attn_s(struct calibrated *c, const struct op *o,
                            const struct batch *b, int32_t *extrap)
{
    enum engine_attn k = c->eng.decode;
    double sq = 0, sum = 0, t, mean, r = -1, u;
    bool x = false, ragged = false, shared = shared_on(c, o);
    bool with_pre = b->n_prefill > 0 && k == ENG_ATTN_VLLM;
    size_t i;

    if (k == ENG_ATTN_SDPA && !shared)
        return per_group_s(c, o, b, extrap);
    for (i = 0; i < b->n_decode; i++) {
        sum += (double)b->decode[i].count * b->decode[i].ctx;
        ragged |= b->decode[i].ctx != b->decode[0].ctx;
    }
    mean = sum / (double)o->count;
    if (!shared && (ragged || with_pre))
        r = attn_sched_decode_us(c->sched, &c->ds, k, o->q_heads,
                                 o->kv_heads, b->decode, b->n_decode,
                                 with_pre);
    /* the sum of squared contexts only where the RMS context is used */
    if (shared || (ragged && r < 0 && (k == ENG_ATTN_FA2 ||
                                       k == ENG_ATTN_VLLM)))
        for (i = 0; i < b->n_decode; i++)
            sq += (double)b->decode[i].count * b->decode[i].ctx *
                  (double)b->decode[i].ctx;
    if (shared)
        return shared_attn_s(c, o, b, sq, extrap);
    if (sq > 0)
        mean = sqrt(sq / (double)o->count);
    t = k == ENG_ATTN_SPLIT_KV ? split_kv_s(c, o, mean, &x)
                               : dec_table_s(c, o, o->count, mean, &x);
    if (r > 0) {
        struct decode_group g = { .count = o->count,
                                  .ctx = (int32_t)llround(mean) };
        u = attn_sched_decode_us(c->sched, &c->ds, k, o->q_heads,
                                 o->kv_heads, &g, 1, false);
        t = u > 0 ? t * r / u : t;
    }
    *extrap += x;
    return k == ENG_ATTN_FDPP ? t * FDPP_ATTN : t;
}

static double comm_s(const struct calibrated *c, const struct op *o,
                     bool *x)
{
    const char *name = o->kind == OP_ALLREDUCE ? "allreduce" :
                       o->kind == OP_ALLGATHER ? "allgather" :
                       o->kind == OP_REDUCE_SCATTER ? "reducescatter" :
                       o->kind == OP_ALLTOALL ? "alltoall" : NULL;
    int32_t ranks = o->ranks > 0 ? o->ranks : c->env->shard.tp;
    double t = name ? calib_comm_s(c->tab, name, ranks, o->bytes, x) : -1;

    if (t >= 0)
        return t;
    if (o->kind != OP_SENDRECV)
        *x = true;
    return cost_roofline_s(c->env->dev, &c->env->shard, o);
}

/* ------------------------------------------------------------- pricing */

/* One operator's unscaled table time, its part, and its kernels. */
static double op_s(struct calibrated *c, const struct op *o,
                   const struct batch *b, enum cost_part_kind *kind,
                   int32_t *kernels, int32_t *extrap)
{
    bool x = false;
    double t;

    *kernels = 1;
    switch (o->kind) {
    case OP_GEMM:
        *kind = CP_GEMM;
        t = gemm_s(c, o, kernels, &x);
        break;
    case OP_ATTN_DECODE:
        *kind = CP_DECODE;
        return decode_attn_s(c, o, b, extrap);
    case OP_ELEMWISE:
        *kind = CP_ELEM;
        t = elem_s(c, o, kernels, &x);
        break;
    case OP_GROUPED_GEMM:
        /* no table of its own: the collectives' fallback prices it */
        *kind = CP_GEMM;
        t = cost_roofline_s(c->env->dev, &c->env->shard, o);
        x = true;
        break;
    default:
        /* collectives: NCCL's measured times where the tables hold this
         * collective and rank count, else the link model (flagged) */
        *kind = CP_COMM;
        t = comm_s(c, o, &x);
        break;
    }
    *extrap += x;
    return t;
}

/* Records operator o, priced outside the tables for t seconds: its time
 * and which dimension of which table ran out. */
static void note_extrap(struct calibrated *c, const struct op *o, double t)
{
    struct xnote *n = &c->xn;

    c->x_s += t;
    n->s[op_class_of(o->kind)] += t;
    switch (o->kind) {
    case OP_GEMM:
        if (!calib_gemm_has_shape(c->tab, o->n, o->k)) {
            if ((double)o->n * o->k > (double)n->gemm_n * n->gemm_k) {
                n->gemm_n = o->n;
                n->gemm_k = o->k;
            }
        } else if (o->m > n->gemm_m) {
            n->gemm_m = o->m;
        }
        break;
    case OP_GROUPED_GEMM:
        n->grouped = true;
        break;
    case OP_ATTN_PREFILL:
    case OP_ATTN_DECODE:
        if (!calib_attn_has_heads(c->tab, o->q_heads, o->kv_heads,
                                  o->head_dim)) {
            n->qh = o->q_heads;
            n->kvh = o->kv_heads;
            n->hd = o->head_dim;
        } else {
            n->attn_grid = true;
        }
        break;
    case OP_ELEMWISE:
        n->elem = true;
        break;
    default:
        n->ranks = o->ranks > n->ranks ? o->ranks : n->ranks;
        if (o->ranks == 0 && c->env->shard.tp > n->ranks)
            n->ranks = c->env->shard.tp;
        break;
    }
}

/* Appends "; " (unless first) and the formatted text, within len. */
static void xn_add(char *buf, size_t len, size_t *off, const char *fmt, ...)
{
    va_list ap;

    if (*off > 0 && *off + 2 < len) {
        memcpy(buf + *off, "; ", 3);
        *off += 2;
    }
    if (*off >= len)
        return;
    va_start(ap, fmt);
    *off += (size_t)vsnprintf(buf + *off, len - *off, fmt, ap);
    va_end(ap);
}

/* "gemm: n=28672 k=8192 beyond the measured (n, k) shapes; ..." */
static void cal_describe(void *st, char *buf, size_t len)
{
    const struct xnote *n = &((struct calibrated *)st)->xn;
    size_t off = 0;

    buf[0] = '\0';
    if (n->gemm_n > 0)
        xn_add(buf, len, &off, "gemm: n=%lld k=%lld beyond the measured "
               "(n, k) shapes", (long long)n->gemm_n, (long long)n->gemm_k);
    if (n->gemm_m > 0)
        xn_add(buf, len, &off, "gemm: m=%lld beyond the M grid",
               (long long)n->gemm_m);
    if (n->grouped)
        xn_add(buf, len, &off, "grouped GEMMs (MoE experts, MLA): no "
               "table, roofline");
    if (n->qh > 0)
        xn_add(buf, len, &off, "attention: %d q / %d kv heads of %d not "
               "measured", (int)n->qh, (int)n->kvh, (int)n->hd);
    if (n->attn_grid)
        xn_add(buf, len, &off, "attention: batch, tokens or context beyond "
               "the grid");
    if (n->ranks > 0)
        xn_add(buf, len, &off, "collectives at %d ranks: no table%s",
               (int)n->ranks, n->ranks >= 8 ? " (needs an 8-GPU machine, "
               "not lent)" : "");
    if (n->elem)
        xn_add(buf, len, &off, "element-wise: op or width not measured");
}

static const char *cal_tables(void *st)
{
    return ((struct calibrated *)st)->tables;
}

static bool parts_room(struct calibrated *c, size_t n)
{
    struct cost_part *p;

    if (n <= c->parts_cap)
        return true;
    p = realloc(c->parts, n * sizeof(*p));
    if (p == NULL)
        return false;
    c->parts = p;
    c->parts_cap = n;
    return true;
}

/* The operators of ops as parts (unscaled time, floor, repeat, kernels),
 * one part per operator and one for all prefill chunks (one call).
 * Returns the parts written, or -1 without memory. */
/* The first attention operator of ops (ops->n: none). */
static size_t first_attn(const struct op_list *ops)
{
    size_t i;

    for (i = 0; i < ops->n; i++)
        if (op_class_of(ops->ops[i].kind) == OPC_ATTN)
            break;
    return i;
}

static long price_parts(struct calibrated *c, const struct batch *b,
                        const struct op_list *ops, struct cost_part *out,
                        int32_t *extrap)
{
    double pre_floor = 0;
    int32_t pre_layers = 0, pre_calls = 0, n_x;
    size_t i, n = 0, first_pre = ops->n;

    for (i = 0; i < ops->n; i++) {
        const struct op *o = &ops->ops[i];
        struct op fo = *o;
        struct cost_part *p = &out[n];
        if (shared_on(c, o))
            fo.bytes -= o->shared_bytes;   /* the prefix read once */
        if (o->kind == OP_ATTN_PREFILL) {
            first_pre = first_pre < i ? first_pre : i;
            pre_layers = o->repeat;
            pre_floor += cost_roofline_s(c->env->dev, &c->env->shard, &fo);
            pre_calls++;
            continue;
        }
        /* Never below the operator's own roofline (its FLOPs and bytes as
         * models/ops.c counts them). */
        p->floor_s = cost_roofline_s(c->env->dev, &c->env->shard, &fo);
        n_x = *extrap;
        p->t_s = op_s(c, o, b, &p->kind, &p->kernels, extrap);
        if (*extrap > n_x)
            note_extrap(c, o, o->repeat * (p->t_s > p->floor_s ? p->t_s
                                                               : p->floor_s));
        p->repeat = o->repeat;
        p->op = (int32_t)i;
        n++;
    }
    if (pre_layers > 0) {
        struct cost_part *p = &out[n++];
        p->kind = CP_PREFILL;
        n_x = *extrap;
        p->t_s = prefill_attn_s(c, ops, extrap);
        if (*extrap > n_x)
            note_extrap(c, &ops->ops[first_pre], pre_layers *
                        (p->t_s > pre_floor ? p->t_s : pre_floor));
        p->floor_s = pre_floor;
        p->repeat = pre_layers;
        p->kernels = c->eng.prefill == ENG_ATTN_SDPA ? pre_calls : 1;
        p->op = -1;
    }
    if (sdpa_glue_on(c) && (pre_layers > 0 || b->decode_seqs > 0) &&
        (i = first_attn(ops)) < ops->n) {
        struct cost_part *p = &out[n++];
        bool x = false;
        p->kind = CP_ELEM;
        p->t_s = sdpa_glue_s(c, b, &p->kernels, &x);
        p->kernels *= 3;
        p->floor_s = 0;
        p->repeat = ops->ops[i].repeat;
        p->op = -2;
        *extrap += x;
    }
    return (long)n;
}

double cost_part_s(const struct engine_params *e, const struct cost_part *p)
{
    const double scale[CP_COUNT] = { e->gemm, e->attn_prefill,
                                     e->attn_decode, e->elementwise,
                                     e->comm };
    double t = p->t_s * scale[p->kind];

    return t > p->floor_s ? t : p->floor_s;
}

static const enum op_class part_class[CP_COUNT] = {
    OPC_GEMM, OPC_ATTN, OPC_ATTN, OPC_OTHER, OPC_COMM };

/* Prices ops into cls (seconds per class); per_op, when not NULL, gets
 * each operator's time (-1: no kernel of its own; the prefill call on the
 * first prefill operator) and kern its kernels. */
static int price_ops(struct calibrated *c, const struct batch *b,
                     const struct op_list *ops, double cls[OPC_COUNT],
                     int32_t *extrap, double *per_op, int32_t *kern)
{
    long n, i;
    size_t j;

    if (!parts_room(c, ops->n + 2))
        return LLM_ENOMEM;
    n = price_parts(c, b, ops, c->parts, extrap);
    if (per_op != NULL)
        for (j = 0; j < ops->n; j++) {
            per_op[j] = -1;
            kern[j] = 0;
        }
    for (i = 0; i < n; i++) {
        const struct cost_part *p = &c->parts[i];
        double t = cost_part_s(&c->eng.p, p);
        cls[part_class[p->kind]] += p->repeat * t;
        if (per_op == NULL)
            continue;
        if (p->op == -2) {     /* SDPA's copies: with the first call */
            j = first_attn(ops);
            if (j < ops->n && per_op[j] >= 0) {
                per_op[j] += t;
                kern[j] += p->kernels;
            }
            continue;
        }
        j = p->op >= 0 ? (size_t)p->op : 0;
        if (p->op < 0)         /* one varlen kernel for every chunk */
            while (j < ops->n && ops->ops[j].kind != OP_ATTN_PREFILL)
                j++;
        if (j < ops->n) {
            per_op[j] = p->kernels > 0 ? t : -1;
            kern[j] = p->kernels;
        }
    }
    return LLM_OK;
}

static int cal_price(void *st, const struct batch *b,
                     const struct op_list *ops, struct cost_breakdown *out)
{
    struct calibrated *c = st;
    double cls[OPC_COUNT] = { 0 };
    int k, rc;

    c->x_s = 0;
    rc = price_ops(c, b, ops, cls, &out->extrapolated, NULL, NULL);
    for (k = 0; k < OPC_COUNT; k++)
        out->class_ns[k] += cost_ns_of(cls[k]);
    out->extrap_ns += cost_ns_of(c->x_s);
    return rc;
}

static int cal_parts(void *st, const struct batch *b,
                     const struct op_list *ops, struct cost_parts *out)
{
    struct calibrated *c = st;
    long n;

    if (!parts_room(c, ops->n + 2))
        return LLM_ENOMEM;
    n = price_parts(c, b, ops, c->parts, &out->extrapolated);
    if (out->n + (size_t)n > out->cap) {
        size_t cap = out->n + (size_t)n + 32;
        struct cost_part *p = realloc(out->p, cap * sizeof(*p));
        if (p == NULL)
            return LLM_ENOMEM;
        out->p = p;
        out->cap = cap;
    }
    memcpy(out->p + out->n, c->parts, (size_t)n * sizeof(*c->parts));
    out->n += (size_t)n;
    out->layers = c->layers;
    out->graph_s = c->graph_s;
    return LLM_OK;
}

/* ----------------------------------------------------------- host time */

/* The kernels of the iteration's layer blocks in launch order, played
 * through hw/eager.h: an operator with repeat r in a layer block of L
 * layers (L the block's smallest repeat: RMSNorm and the residual add run
 * twice a layer) launches r / L kernels per layer.  Eager: every kernel
 * costs its dispatch (eager.csv: the class's dispatch_layer spread evenly
 * over the layer's kernels and dispatch_forward on the first; else
 * dispatch_us each).  Piecewise: per layer one graph piece (everything
 * but attention) and the attention call, dispatch_us each. */
static int build_eager(struct calibrated *c, const struct batch *b,
                       double *gpu_s, struct eager_clock *clk)
{
    const struct op_list *l = &c->list;
    double cls[OPC_COUNT] = { 0 }, *per;
    int32_t unused = 0, *kern;
    int k = b->n_prefill == 0 ? 0 : b->decode_seqs == 0 ? 1 : 2;
    bool piece = c->eng.exec == ENG_EXEC_PIECEWISE;
    double disp = c->eng.p.dispatch_us * 1e-6;
    size_t i, j, q, n, need = 8 * l->n;
    struct eager_op *eo;

    if (need > c->eager_cap) {
        void *p = realloc(c->eager_ops, need * sizeof(*eo) +
                          l->n * (sizeof(double) + sizeof(int32_t)));
        if (p == NULL)
            return LLM_ENOMEM;
        c->eager_ops = p;
        c->eager_cap = need;
    }
    eo = c->eager_ops;
    per = (double *)(eo + c->eager_cap);
    kern = (int32_t *)(per + l->n);
    if (price_ops(c, b, l, cls, &unused, per, kern) != LLM_OK)
        return LLM_ENOMEM;
    for (i = 0; i < OPC_COUNT; i++)
        *gpu_s += cls[i];
    for (i = 0; i < l->n; i = j) {
        bool layer = l->ops[i].repeat > 1;
        int32_t rep = l->ops[i].repeat;
        for (j = i; j < l->n && (l->ops[j].repeat > 1) == layer; j++)
            if (l->ops[j].repeat < rep)
                rep = l->ops[j].repeat;
        for (q = i, n = 0; q < j; q++) {
            int32_t copies = layer ? (l->ops[q].repeat + rep / 2) / rep : 1;
            bool attn = op_class_of(l->ops[q].kind) == OPC_ATTN;
            for (; per[q] >= 0 && copies > 0 && n < need; copies--) {
                if (piece && n > 0 && !attn &&
                    op_class_of(l->ops[q - 1].kind) != OPC_ATTN) {
                    eo[n - 1].gpu_s += per[q];   /* same graph piece */
                    continue;
                }
                eo[n++] = (struct eager_op){
                    piece || !c->eng.eager_table ? disp *
                        (piece ? 1 : kern[q]) : 0, per[q] };
            }
        }
        if (c->eng.exec == ENG_EXEC_EAGER && c->eng.eager_table) {
            for (q = 0; q < n; q++)
                eo[q].cpu_s = layer ? c->host.layer_s[k] / (double)n : 0;
            if (i == 0 && n > 0)
                eo[0].cpu_s += c->host.fwd_s[k];
        }
        eager_play(eo, n, layer ? rep : 1, clk);
    }
    return LLM_OK;
}

/* The host's time beyond the GPU's in an eager or piecewise forward. */
static double host_excess_s(struct calibrated *c, const struct batch *b)
{
    struct eager_clock clk = { 0, 0 };
    double g = 0, prep = 0;

    if (batch_tokens(b) == 0 || ops_build(c->env->model, &c->env->shard, b,
                                          &c->list) != LLM_OK ||
        build_eager(c, b, &g, &clk) != LLM_OK)
        return 0;
    if (c->eng.exec == ENG_EXEC_EAGER && c->eng.eager_table)
        prep = c->host.prep_s + c->host.prep_seq_s * (double)(b->n_prefill +
               b->decode_seqs) + c->host.prep_tok_s *
               (double)batch_tokens(b);
    return prep + (clk.gpu_s > g ? clk.gpu_s - g : 0);
}

double cost_host_s(const struct engine_params *e, bool async, double gpu_s)
{
    double h = e->iter_us * 1e-6;

    if (async)                 /* scheduled while the GPU runs the last */
        return h > gpu_s ? h - gpu_s : 0;
    return h;
}

/* The graph replay, the layers' fixed time and the host's per-iteration
 * time, rounded once (as before profiles: graph replay + cpu_overhead_us),
 * then the eager or piecewise host excess. */
static int64_t cal_fixed(void *st, const struct batch *b, int64_t gpu_ns)
{
    struct calibrated *c = st;
    double s = c->graph_s + c->layers * c->eng.p.layer_us * 1e-6, x = 0;

    if (c->eng.exec != ENG_EXEC_GRAPH)
        x = host_excess_s(c, b);
    s += cost_host_s(&c->eng.p, c->eng.async,
                     (double)gpu_ns * 1e-9 + s + x);
    return cost_ns_of(s) + cost_ns_of(x);
}

static int cal_set_engine(void *st, const struct engine *e)
{
    struct calibrated *c = st;

    if (e->exec == ENG_EXEC_EAGER && e->eager_table && !c->host_loaded)
        return LLM_EINVAL;         /* created without eager.csv */
    c->eng = *e;
    pick_sets(c);
    c->graph_s = c->eng.exec == ENG_EXEC_EAGER ? 0 :
                 calib_launch_s(c->tab, "graph_replay_empty");
    return LLM_OK;
}

static void cal_fini(void *st)
{
    struct calibrated *c = st;

    ops_free(&c->list);
    free(c->eager_ops);
    free(c->parts);
    attn_sched_destroy(c->sched);
    calib_free(c->tab);
}

const struct cost_ops cost_calibrated = {
    .name = "calibrated",
    .state_size = sizeof(struct calibrated),
    .init = cal_init,
    .price = cal_price,
    .fixed_ns = cal_fixed,
    .parts = cal_parts,
    .set_engine = cal_set_engine,
    .fini = cal_fini,
    .tables = cal_tables,
    .describe_extrap = cal_describe,
};
