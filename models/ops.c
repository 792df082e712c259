#include "models/ops.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* Everything one stage's builders share; rc is sticky (first error). */
struct bctx {
    const struct model *m;
    const struct shard *s;
    const struct batch *b;
    struct op_list *l;
    enum ops_part part;
    int64_t t, rows;           /* tokens, sampled rows */
    int32_t layers, dense, moe; /* this stage's layers by MLP kind */
    int rc;
};

enum op_class op_class_of(enum op_kind k)
{
    switch (k) {
    case OP_GEMM:
    case OP_GROUPED_GEMM: return OPC_GEMM;
    case OP_ATTN_PREFILL:
    case OP_ATTN_DECODE: return OPC_ATTN;
    case OP_ALLREDUCE:
    case OP_ALLGATHER:
    case OP_REDUCE_SCATTER:
    case OP_ALLTOALL:
    case OP_SENDRECV: return OPC_COMM;
    default: return OPC_OTHER;
    }
}

/* ---- data types --------------------------------------------------------- */

static enum dtype from_bytes(double b)
{
    if (b >= 4) return DT_FP32;
    if (b >= 2) return DT_BF16;
    if (b >= 1) return DT_FP8;
    if (b >= 0.5) return DT_INT4;
    return DT_INT2;
}

enum dtype ops_weight_dtype(const struct shard *s)
{
    return s->w_dtype != DT_FP32 ? s->w_dtype : from_bytes(s->w_bytes);
}

enum dtype ops_kv_dtype(const struct shard *s)
{
    return s->kv_dtype != DT_FP32 ? s->kv_dtype : from_bytes(s->kv_bytes);
}

static bool sub_byte(enum dtype t)
{
    return t == DT_INT4 || t == DT_INT2;
}

double ops_kv_elem_bytes(const struct shard *s)
{
    /* fp16 scale + fp16 zero point per 32 values (KIVI's group size) */
    return s->kv_bytes + (sub_byte(ops_kv_dtype(s)) ? 4.0 / 32 : 0);
}

double ops_weight_elem_bytes(const struct shard *s)
{
    /* fp16 scale + 4-bit zero per 128 weights (AWQ, q_group_size 128) */
    return s->w_bytes + (sub_byte(ops_weight_dtype(s)) ? 2.5 / 128 : 0);
}

int64_t ops_vocab_per_gpu(const struct model *m, int32_t tp)
{
    int64_t padded = ((int64_t)m->vocab + 63) / 64 * 64;

    return padded / (tp > 0 ? tp : 1);
}

int32_t ops_kv_heads_per_gpu(const struct model *m, int32_t tp)
{
    return m->num_kv_heads >= tp ? m->num_kv_heads / tp : 1;
}

static int32_t degree(int32_t v)
{
    return v > 1 ? v : 1;
}

static bool expert_parallel(const struct shard *s)
{
    return s->ep > 1;
}

/* ---- checks ------------------------------------------------------------- */

/* Does tp shard every dimension the model splits over it? */
static bool tp_fits(const struct model *m, const struct shard *s, int32_t tp)
{
    int64_t padded = ((int64_t)m->vocab + 63) / 64 * 64;
    int32_t dense, moe;
    bool ok = m->num_heads % tp == 0 && padded % tp == 0;

    model_layer_kinds(m, 0, m->num_layers, &dense, &moe);
    if (dense > 0)
        ok = ok && m->ffn % tp == 0;
    if (!model_is_mla(m))
        ok = ok && (m->num_kv_heads % tp == 0 || tp % m->num_kv_heads == 0);
    if (moe > 0 && !expert_parallel(s))
        ok = ok && m->moe.expert_ffn % tp == 0;
    if (moe > 0)
        ok = ok && ((int64_t)m->moe.num_shared * m->moe.shared_ffn) % tp == 0;
    return ok;
}

static void valid_tps(const struct model *m, const struct shard *s,
                      char *buf, size_t len)
{
    size_t off = 0;
    int32_t tp;

    buf[0] = '\0';
    for (tp = 1; tp <= 64 && off < len; tp *= 2)
        if (tp_fits(m, s, tp))
            off += (size_t)snprintf(buf + off, len - off, "%s%d",
                                    off ? ", " : "", tp);
}

static int check_tp(const struct model *m, const struct shard *s,
                    struct llm_diag *d)
{
    char ok[64], moe[48] = "";

    if (s->tp < 1)
        return diag_set(d, LLM_EINVAL, "hardware.tp: expected a positive "
                        "integer, got %d", s->tp);
    if (tp_fits(m, s, s->tp))
        return LLM_OK;
    valid_tps(m, s, ok, sizeof(ok));
    if (model_is_moe(m))
        snprintf(moe, sizeof(moe), ", expert FFN %d", m->moe.expert_ffn);
    return diag_set(d, LLM_EINVAL, "hardware.tp: %d does not divide %s's "
                    "%d attention heads, %d KV heads, FFN %d%s and padded "
                    "vocabulary %lld (tp that do: %s)", s->tp, m->id,
                    m->num_heads, m->num_kv_heads, m->ffn, moe,
                    (long long)ops_vocab_per_gpu(m, 1), ok);
}

static int check_ep(const struct model *m, const struct shard *s,
                    struct llm_diag *d)
{
    if (s->ep <= 1)
        return s->ep_alltoall ? diag_set(d, LLM_EINVAL, "hardware."
                                         "ep_alltoall: needs hardware.ep > 1")
                              : LLM_OK;
    if (!model_is_moe(m))
        return diag_set(d, LLM_EINVAL, "hardware.ep: %s has no experts",
                        m->id);
    if (s->ep != s->tp)
        return diag_set(d, LLM_EINVAL, "hardware.ep: %d must equal "
                        "hardware.tp %d (experts spread over the tensor-"
                        "parallel group, as vLLM's --enable-expert-parallel "
                        "does)", s->ep, s->tp);
    if (m->moe.num_experts % s->ep)
        return diag_set(d, LLM_EINVAL, "hardware.ep: %d does not divide %s's "
                        "%d experts", s->ep, m->id, m->moe.num_experts);
    return LLM_OK;
}

int ops_check_shard(const struct model *m, const struct shard *s,
                    struct llm_diag *d)
{
    int rc = check_tp(m, s, d);

    if (!rc && (s->pp < 0 || s->pp > m->num_layers))
        rc = diag_set(d, LLM_EINVAL, "hardware.pp: %d exceeds %s's %d layers "
                      "(each stage needs at least one)", s->pp, m->id,
                      m->num_layers);
    if (!rc)
        rc = check_ep(m, s, d);
    if (!rc && (s->moe_skew < 0 || s->moe_skew > 4))
        rc = diag_set(d, LLM_EINVAL, "hardware.moe_skew: expected a number in "
                      "[0, 4], got %g", s->moe_skew);
    return rc;
}

/* ---- the list ----------------------------------------------------------- */

static struct op *push(struct bctx *c, enum op_kind kind, const char *name,
                       int32_t repeat)
{
    struct op_list *l = c->l;

    if (c->rc || repeat <= 0)
        return NULL;
    if (l->n == l->cap) {
        size_t ncap = l->cap ? l->cap * 2 : 32;
        struct op *n = realloc(l->ops, ncap * sizeof(*n));
        if (n == NULL) {
            c->rc = LLM_ENOMEM;
            return NULL;
        }
        l->ops = n;
        l->cap = ncap;
    }
    l->ops[l->n] = (struct op){ .kind = kind, .name = name, .repeat = repeat,
                                .math = DT_BF16 };
    return &l->ops[l->n++];
}

/* A GEMM with bf16 weights (embedding-adjacent, router, absorption). */
static void gemm16(struct bctx *c, const char *name, int32_t rep, int64_t m,
                   int64_t n, int64_t k)
{
    struct op *o = push(c, OP_GEMM, name, rep);

    if (o == NULL)
        return;
    o->m = m;
    o->n = n;
    o->k = k;
    o->w_bytes = 2;
    o->flops = 2.0 * m * n * k;
    o->bytes = (double)n * k * 2 + (double)(m * k + m * n) * c->s->a_bytes;
}

/* Element-wise kernels read rd and write wr elements per token-width. */
static void elem(struct bctx *c, const char *name, int32_t rep,
                 int64_t tokens, int64_t width, double rd, double wr,
                 double elem_bytes)
{
    struct op *o = push(c, OP_ELEMWISE, name, rep);

    if (o == NULL)
        return;
    o->m = tokens;
    o->n = width;
    o->math = DT_FP32;
    o->bytes = (double)tokens * width * (rd + wr) * elem_bytes;
    o->flops = (double)tokens * width * 4;
}

static enum dtype gemm_math(enum dtype w)
{
    if (w == DT_FP8 || w == DT_INT8 || w == DT_FP16)
        return w;
    return DT_BF16;
}

/* The extra kernel a W8A8 linear layer costs, before its GEMM.  W4A16
 * has none: the engines run it as one fused kernel (Marlin, Machete, the
 * AWQ/GPTQ kernels) that dequantizes in registers. */
static void quant_prologue(struct bctx *c, int32_t rep, int64_t m, int64_t k)
{
    enum dtype w = ops_weight_dtype(c->s);

    if (w == DT_FP8 || w == DT_INT8)
        elem(c, "act_quant", rep, m, k, c->s->a_bytes, 1, 1);
}

/* A linear layer with weights of the shard's type (sub-byte weights with
 * their group scales). */
static void qgemm(struct bctx *c, const char *name, int32_t rep, int64_t m,
                  int64_t n, int64_t k)
{
    struct op *o;

    quant_prologue(c, rep, m, k);
    o = push(c, OP_GEMM, name, rep);
    if (o == NULL)
        return;
    o->m = m;
    o->n = n;
    o->k = k;
    o->w_bytes = ops_weight_elem_bytes(c->s);
    o->math = gemm_math(ops_weight_dtype(c->s));
    o->flops = 2.0 * m * n * k;
    o->bytes = (double)n * k * o->w_bytes +
               (double)(m * k + m * n) * c->s->a_bytes;
}

/* groups GEMMs sharing n and k; rows = total rows over the group. */
static void grouped(struct bctx *c, const char *name, int32_t rep,
                    double groups, double rows, double m_max, int64_t n,
                    int64_t k, double w_bytes)
{
    struct op *o = push(c, OP_GROUPED_GEMM, name, rep);
    int32_t g = groups >= 1 ? (int32_t)llround(groups) : 1;

    if (o == NULL)
        return;
    o->groups = g;
    o->m = (int64_t)ceil(rows / g);
    o->m_max = (int64_t)ceil(m_max);
    o->n = n;
    o->k = k;
    o->w_bytes = w_bytes;
    o->math = w_bytes == 2 ? DT_BF16 : gemm_math(ops_weight_dtype(c->s));
    o->flops = 2.0 * rows * (double)n * (double)k;
    o->bytes = groups * (double)n * k * w_bytes +
               rows * (double)(n + k) * c->s->a_bytes;
}

/* Does the group of GPUs [first, first + count) span nodes? */
static int32_t spans_nodes(const struct shard *s, int32_t first,
                           int32_t count)
{
    int32_t g = s->gpus_per_node;

    return g > 0 && first / g != (first + count - 1) / g;
}

static void collective(struct bctx *c, enum op_kind kind, const char *name,
                       int32_t rep, int64_t tokens, int64_t width,
                       double bytes)
{
    struct op *o;
    int32_t tp = degree(c->s->tp);

    if (tp == 1)
        return;
    o = push(c, kind, name, rep);
    if (o == NULL)
        return;
    o->m = tokens;
    o->n = width;
    o->k = tp;
    o->ranks = tp;
    o->inter_node = spans_nodes(c->s, 0, tp);
    o->bytes = bytes;
}

static void allreduce(struct bctx *c, const char *name, int32_t rep,
                      int64_t tokens, int64_t width)
{
    collective(c, OP_ALLREDUCE, name, rep, tokens, width,
               (double)tokens * width * c->s->a_bytes);
}

/* ---- attention -------------------------------------------------------- */

/* Query-key pairs of a chunk of t queries after p cached tokens, each
 * query seeing at most w keys (w 0: all). */
static double chunk_pairs(double t, double p, double w)
{
    double n1;

    if (w <= 0 || p + t <= w)
        return t * p + t * (t + 1) / 2.0;
    n1 = w - p > 0 ? (w - p < t ? w - p : t) : 0;
    return n1 * (p + 1) + n1 * (n1 - 1) / 2.0 + (t - n1) * w;
}

static double decode_keys(const struct batch *b, int32_t w)
{
    double keys = 0;
    size_t i;

    if (w <= 0)
        return (double)b->decode_ctx_sum + (double)b->decode_seqs;
    for (i = 0; i < b->n_decode; i++) {
        double k = (double)b->decode[i].ctx + 1;
        keys += (double)b->decode[i].count * (k < w ? k : w);
    }
    return keys;
}

/* One attention op; flops 2 x q_heads x pairs x (qk_dim + v_dim). */
static struct op *attn_op(struct bctx *c, enum op_kind kind, const char *name,
                          int32_t qh, int32_t kvh, int32_t hd, int32_t vd,
                          double pairs)
{
    struct op *o = push(c, kind, name, c->layers);

    if (o == NULL)
        return NULL;
    o->q_heads = qh;
    o->kv_heads = kvh;
    o->head_dim = hd;
    o->v_head_dim = vd;
    o->flops = 2.0 * qh * pairs * (hd + vd);
    return o;
}

static void std_attention(struct bctx *c)
{
    const struct model *m = c->m;
    int32_t qh = m->num_heads / degree(c->s->tp), hd = m->head_dim;
    int32_t kvh = ops_kv_heads_per_gpu(m, degree(c->s->tp));
    int32_t w = m->sliding_window;
    double kv_tok = 2.0 * kvh * hd * ops_kv_elem_bytes(c->s);
    double q_tok = 2.0 * qh * hd * c->s->a_bytes;
    size_t i;

    for (i = 0; i < c->b->n_prefill; i++) {
        const struct prefill_chunk *p = &c->b->prefill[i];
        double keys = (double)p->prior + p->tokens;
        struct op *o = attn_op(c, OP_ATTN_PREFILL, "attn_prefill", qh, kvh,
                               hd, hd, chunk_pairs(p->tokens, p->prior, w));
        if (o == NULL)
            return;
        if (w > 0 && keys > w + p->tokens - 1)
            keys = w + p->tokens - 1;
        o->q_tokens = p->tokens;
        o->prior = p->prior;
        o->bytes = keys * kv_tok + p->tokens * q_tok;
    }
    if (c->b->decode_seqs > 0) {
        /* One operator for all decodes: FLOPs and bytes are exact sums over
         * the groups; a cost model that needs the context distribution
         * reads the batch's groups. */
        double keys = decode_keys(c->b, w);
        struct op *o = attn_op(c, OP_ATTN_DECODE, "attn_decode", qh, kvh, hd,
                               hd, keys);
        if (o == NULL)
            return;
        o->count = (int32_t)c->b->decode_seqs;
        o->ctx = (int32_t)(keys / (double)c->b->decode_seqs) - 1;
        o->bytes = keys * kv_tok + (double)c->b->decode_seqs * q_tok;
        /* windowed layers read a window, not the prefix: no sharing */
        o->shared_bytes = w > 0 ? 0 : (double)c->b->shared_keys * kv_tok;
    }
}

/* MLA prefill, expanded: latent -> per-head K, V for every key. */
static void mla_prefill(struct bctx *c, const struct prefill_chunk *p)
{
    const struct model_mla *a = &c->m->mla;
    int32_t qh = c->m->num_heads / degree(c->s->tp);
    int32_t qk = a->qk_nope_head_dim + a->qk_rope_head_dim;
    double keys = (double)p->prior + p->tokens;
    struct op *o;

    qgemm(c, "mla_kv_up", c->layers, (int64_t)keys,
          (int64_t)qh * (a->qk_nope_head_dim + a->v_head_dim),
          a->kv_lora_rank);
    o = attn_op(c, OP_ATTN_PREFILL, "attn_prefill", qh, qh, qk,
                a->v_head_dim, chunk_pairs(p->tokens, p->prior, 0));
    if (o == NULL)
        return;
    o->q_tokens = p->tokens;
    o->prior = p->prior;
    o->bytes = (keys * (qk + a->v_head_dim) + 2.0 * p->tokens * qk) * qh *
               c->s->a_bytes;
}

/* MLA decode, absorbed: an MQA over the cached latent. */
static void mla_decode(struct bctx *c)
{
    const struct model_mla *a = &c->m->mla;
    int32_t qh = c->m->num_heads / degree(c->s->tp);
    int32_t lat = a->kv_lora_rank + a->qk_rope_head_dim;
    double d = (double)c->b->decode_seqs, keys = decode_keys(c->b, 0);
    struct op *o;

    grouped(c, "mla_q_absorb", c->layers, qh, d * qh, d, a->kv_lora_rank,
            a->qk_nope_head_dim, 2);
    o = attn_op(c, OP_ATTN_DECODE, "attn_decode", qh, 1, lat,
                a->kv_lora_rank, keys);
    if (o != NULL) {
        o->count = (int32_t)d;
        o->ctx = (int32_t)(keys / d) - 1;
        o->bytes = keys * lat * ops_kv_elem_bytes(c->s) +
                   d * qh * (lat + a->kv_lora_rank) * c->s->a_bytes;
        o->shared_bytes = (double)c->b->shared_keys * lat *
                          ops_kv_elem_bytes(c->s);
    }
    grouped(c, "mla_v_up", c->layers, qh, d * qh, d, a->v_head_dim,
            a->kv_lora_rank, 2);
}

static void attention(struct bctx *c)
{
    size_t i;

    if (!model_is_mla(c->m)) {
        std_attention(c);
        return;
    }
    for (i = 0; i < c->b->n_prefill; i++)
        mla_prefill(c, &c->b->prefill[i]);
    if (c->b->decode_seqs > 0)
        mla_decode(c);
}

/* ---- the dense part of a layer --------------------------------------- */

static void std_qkv(struct bctx *c)
{
    const struct model *m = c->m;
    int32_t L = c->layers, tp = degree(c->s->tp);
    int64_t qh = m->num_heads / tp, hd = m->head_dim;
    int64_t kvh = ops_kv_heads_per_gpu(m, tp);

    qgemm(c, "qkv", L, c->t, (qh + 2 * kvh) * hd, m->hidden);
    elem(c, "rope", L, c->t, (qh + kvh) * hd, 1, 1, c->s->a_bytes);
    elem(c, "kv_write", L, c->t, 2 * kvh * hd, 1, 1, ops_kv_elem_bytes(c->s));
}

/* q_a and kv_a are replicated (vLLM's ReplicatedLinear); q_b, kv_b and
 * o are TP-sharded by heads. */
static void mla_qkv(struct bctx *c)
{
    const struct model_mla *a = &c->m->mla;
    int32_t L = c->layers;
    int64_t qh = c->m->num_heads / degree(c->s->tp), h = c->m->hidden;
    int64_t qk = a->qk_nope_head_dim + a->qk_rope_head_dim;
    int64_t lat = a->kv_lora_rank + a->qk_rope_head_dim;

    if (a->q_lora_rank > 0) {
        qgemm(c, "qkv_a", L, c->t, a->q_lora_rank + lat, h);
        elem(c, "q_a_norm", L, c->t, a->q_lora_rank, 1, 1, c->s->a_bytes);
        qgemm(c, "q_b", L, c->t, qh * qk, a->q_lora_rank);
    } else {
        qgemm(c, "q_proj", L, c->t, qh * qk, h);
        qgemm(c, "kv_a", L, c->t, lat, h);
    }
    elem(c, "kv_a_norm", L, c->t, a->kv_lora_rank, 1, 1, c->s->a_bytes);
    elem(c, "rope", L, c->t, (qh + 1) * a->qk_rope_head_dim, 1, 1,
         c->s->a_bytes);
    elem(c, "kv_write", L, c->t, lat, 1, 1, ops_kv_elem_bytes(c->s));
}

static int64_t attn_out_width(const struct model *m, int32_t tp)
{
    int64_t qh = m->num_heads / tp;

    return qh * (model_is_mla(m) ? m->mla.v_head_dim : m->head_dim);
}

static void dense_mlp(struct bctx *c)
{
    int64_t f = c->m->ffn / degree(c->s->tp);

    qgemm(c, "gate_up", c->dense, c->t, 2 * f, c->m->hidden);
    elem(c, "silu_mul", c->dense, c->t, f, 2, 1, c->s->a_bytes);
    qgemm(c, "down", c->dense, c->t, c->m->hidden, f);
}

static void shared_experts(struct bctx *c, int64_t tokens, int32_t split)
{
    const struct model_moe *e = &c->m->moe;
    int64_t f = (int64_t)e->num_shared * e->shared_ffn / split;

    if (f == 0)
        return;
    qgemm(c, "shared_gate_up", c->moe, tokens, 2 * f, c->m->hidden);
    elem(c, "shared_silu_mul", c->moe, tokens, f, 2, 1, c->s->a_bytes);
    qgemm(c, "shared_down", c->moe, tokens, c->m->hidden, f);
}

static void routed_experts(struct bctx *c, int64_t tokens)
{
    const struct model_moe *e = &c->m->moe;
    int64_t h = c->m->hidden;
    int64_t f = expert_parallel(c->s) ? e->expert_ffn
                                      : e->expert_ffn / degree(c->s->tp);
    double wb = c->s->w_bytes;
    struct moe_load ld;

    ops_moe_load(c->m, c->s, (double)c->t, &ld);
    if (ld.assign <= 0)
        return;
    grouped(c, "moe_gate_up", c->moe, ld.groups, ld.assign, ld.m_max, 2 * f,
            h, wb);
    elem(c, "moe_silu_mul", c->moe, (int64_t)ceil(ld.assign), f, 2, 1,
         c->s->a_bytes);
    grouped(c, "moe_down", c->moe, ld.groups, ld.assign, ld.m_max, h, f, wb);
    elem(c, "moe_combine", c->moe, tokens, h, e->top_k, 1, c->s->a_bytes);
}

/* EP by all-to-all: each GPU keeps tokens / ep of the (reduce-scattered)
 * tokens, sends each to its top_k experts' GPUs and gets the results
 * back, then all-gathers the tokens for the next attention. */
static void moe_alltoall(struct bctx *c, int64_t tl, bool before)
{
    int64_t h = c->m->hidden;
    double a = c->s->a_bytes;
    double send = (double)tl * c->m->moe.top_k * h * a;

    if (before) {
        collective(c, OP_REDUCE_SCATTER, "moe_reduce_scatter", c->moe, c->t,
                   h, (double)c->t * h * a);
        collective(c, OP_ALLTOALL, "moe_dispatch", c->moe, tl, h, send);
        return;
    }
    collective(c, OP_ALLTOALL, "moe_combine_a2a", c->moe, tl, h, send);
    collective(c, OP_ALLGATHER, "moe_allgather", c->moe, c->t, h,
               (double)c->t * h * a);
}

static void moe_mlp(struct bctx *c)
{
    const struct model_moe *e = &c->m->moe;
    bool a2a = c->s->ep_alltoall && expert_parallel(c->s);
    int64_t tl = a2a ? (c->t + c->s->ep - 1) / c->s->ep : c->t;

    if (c->moe <= 0)
        return;
    if (a2a)
        moe_alltoall(c, tl, true);
    gemm16(c, "router", c->moe, tl, e->num_experts, c->m->hidden);
    elem(c, "topk", c->moe, tl, e->num_experts, 1, 0, 4);
    shared_experts(c, tl, a2a ? 1 : degree(c->s->tp));
    routed_experts(c, tl);
    if (a2a)
        moe_alltoall(c, tl, false);
}

static void layers(struct bctx *c)
{
    const struct model *m = c->m;
    int32_t L = c->layers, tp = degree(c->s->tp);
    bool a2a = c->s->ep_alltoall && expert_parallel(c->s);

    if (c->part != OPS_ATTN) {
        elem(c, "rmsnorm", 2 * L, c->t, m->hidden, 1, 1, c->s->a_bytes);
        if (model_is_mla(m))
            mla_qkv(c);
        else
            std_qkv(c);
    }
    if (c->part != OPS_DENSE)
        attention(c);
    if (c->part == OPS_ATTN)
        return;
    qgemm(c, "o_proj", L, c->t, m->hidden, attn_out_width(m, tp));
    allreduce(c, "allreduce", 2 * c->dense + (a2a ? 0 : 2 * c->moe), c->t,
              m->hidden);
    elem(c, "residual_add", 2 * L, c->t, m->hidden, 2, 1, c->s->a_bytes);
    dense_mlp(c);
    moe_mlp(c);
}

/* ---- stages ------------------------------------------------------------- */

void ops_stage_layers(int32_t num_layers, int32_t pp, int32_t stage,
                      int32_t *first, int32_t *count)
{
    int32_t base, extra, i;

    pp = degree(pp);
    base = num_layers / pp;
    extra = num_layers % pp;
    *first = 0;
    for (i = 0; i <= stage && i < pp; i++) {
        /* vLLM: the remainder goes to partitions[-2], [-3], ... */
        int32_t n = base + (i >= pp - 1 - extra && i < pp - 1);
        if (i == stage) {
            *count = n;
            return;
        }
        *first += n;
    }
    *count = 0;
}

static void pipeline_edges(struct bctx *c, int32_t stage, bool head)
{
    const struct shard *s = c->s;
    int32_t tp = degree(s->tp), pp = degree(s->pp);
    double bytes = 2.0 * c->t * c->m->hidden * s->a_bytes;
    struct op *o;

    if (head) {
        if (stage > 0)
            collective(c, OP_ALLGATHER, "pp_allgather", 1, c->t,
                       2 * c->m->hidden, bytes);
        return;
    }
    if (stage >= pp - 1 || (o = push(c, OP_SENDRECV, "pp_send", 1)) == NULL)
        return;
    o->m = c->t;
    o->n = 2 * c->m->hidden;
    o->ranks = 2;
    o->inter_node = spans_nodes(s, stage * tp + tp - 1, 2);
    o->bytes = bytes / tp;
}

static void head(struct bctx *c)
{
    int32_t tp = degree(c->s->tp);
    int64_t vp = ops_vocab_per_gpu(c->m, tp);

    elem(c, "rmsnorm_final", 1, c->rows, c->m->hidden, 1, 1, c->s->a_bytes);
    if (c->rows <= 0)
        return;
    gemm16(c, "lm_head", 1, c->rows, vp, c->m->hidden);
    collective(c, OP_ALLGATHER, "logits_gather", 1, c->rows, vp * tp,
               (double)c->rows * vp * tp * c->s->a_bytes);
    elem(c, "sampling", 1, c->rows, c->m->vocab, 1, 0, 4);
}

static int build_stage(const struct model *m, const struct shard *s,
                       const struct batch *b, enum ops_part part,
                       int32_t stage, struct op_list *l)
{
    /* Padding rows (a CUDA graph's capture size, sim/batch.h) run the
     * dense kernels; attention and the LM head see the real ones only. */
    struct bctx c = { .m = m, .s = s, .b = b, .l = l, .part = part,
                      .t = batch_rows(b), .rows = batch_logit_rows(b) };
    int32_t first, pp = degree(s->pp);

    ops_stage_layers(m->num_layers, pp, stage, &first, &c.layers);
    model_layer_kinds(m, first, c.layers, &c.dense, &c.moe);
    if (part != OPS_ATTN) {
        pipeline_edges(&c, stage, true);
        if (stage == 0) {
            elem(&c, "embedding", 1, c.t, m->hidden, 1, 1, s->a_bytes);
            allreduce(&c, "embed_allreduce", 1, c.t, m->hidden);
        }
    }
    layers(&c);
    if (part != OPS_ATTN && stage == pp - 1)
        head(&c);
    if (part != OPS_ATTN)
        pipeline_edges(&c, stage, false);
    return c.rc;
}

int ops_build(const struct model *m, const struct shard *s,
              const struct batch *b, struct op_list *l)
{
    return ops_build_part(m, s, b, OPS_ALL, l);
}

int ops_build_part(const struct model *m, const struct shard *s,
                   const struct batch *b, enum ops_part part,
                   struct op_list *l)
{
    int32_t st, pp = degree(s->pp);
    int rc = LLM_OK;

    l->n = 0;
    if (batch_tokens(b) == 0)
        return LLM_OK;
    if (s->stage != OPS_ALL_STAGES)
        return build_stage(m, s, b, part, s->stage < pp ? s->stage : pp - 1,
                           l);
    for (st = 0; st < pp && rc == LLM_OK; st++)
        rc = build_stage(m, s, b, part, st, l);
    return rc;
}

void ops_free(struct op_list *l)
{
    free(l->ops);
    l->ops = NULL;
    l->n = l->cap = 0;
}

/* ---- expected expert load ------------------------------------------- */

void ops_moe_load(const struct model *m, const struct shard *s,
                  double tokens, struct moe_load *out)
{
    int32_t E = m->moe.num_experts, ep = degree(s->ep), i;
    double norm = 0, k = m->moe.top_k;

    *out = (struct moe_load){ 0 };
    if (E == 0 || tokens <= 0)
        return;
    for (i = 0; i < E; i++)
        norm += pow(i + 1.0, -s->moe_skew);
    /* Experts of popularity rank i with i % ep == 0 live on GPU 0. */
    for (i = 0; i < E; i += ep) {
        double q = k * pow(i + 1.0, -s->moe_skew) / norm;
        q = q < 1 ? q : 1;
        out->assign += tokens * q;
        out->groups += 1 - pow(1 - q, tokens);
        if (tokens * q > out->m_max)
            out->m_max = tokens * q;
    }
}
