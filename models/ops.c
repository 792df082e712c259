#include "models/ops.h"

#include <stdlib.h>

enum op_class op_class_of(enum op_kind k)
{
    switch (k) {
    case OP_GEMM: return OPC_GEMM;
    case OP_ATTN_PREFILL:
    case OP_ATTN_DECODE: return OPC_ATTN;
    case OP_ALLREDUCE: return OPC_COMM;
    default: return OPC_OTHER;
    }
}

int ops_check_shard(const struct model *m, const struct shard *s,
                    struct llm_diag *d)
{
    if (s->tp < 1)
        return diag_set(d, LLM_EINVAL, "hardware.tp: expected a positive "
                        "integer, got %d", s->tp);
    if (m->num_heads % s->tp || m->ffn % s->tp || m->vocab % s->tp)
        return diag_set(d, LLM_EINVAL, "hardware.tp: %d does not divide "
                        "%s's %d attention heads, FFN size %d and vocabulary "
                        "%d", s->tp, m->id, m->num_heads, m->ffn, m->vocab);
    if (m->num_kv_heads % s->tp && s->tp % m->num_kv_heads)
        return diag_set(d, LLM_EINVAL, "hardware.tp: %d and %s's %d KV heads "
                        "do not divide one another", s->tp, m->id,
                        m->num_kv_heads);
    return LLM_OK;
}

static struct op *push(struct op_list *l)
{
    if (l->n == l->cap) {
        size_t ncap = l->cap ? l->cap * 2 : 32;
        struct op *n = realloc(l->ops, ncap * sizeof(*n));
        if (n == NULL)
            return NULL;
        l->ops = n;
        l->cap = ncap;
    }
    l->ops[l->n] = (struct op){ 0 };
    return &l->ops[l->n++];
}

static int gemm(struct op_list *l, const char *name, int32_t repeat,
                int64_t m, int64_t n, int64_t k, const struct shard *s)
{
    struct op *o = push(l);

    if (o == NULL)
        return LLM_ENOMEM;
    *o = (struct op){ .kind = OP_GEMM, .name = name, .repeat = repeat,
                      .m = m, .n = n, .k = k };
    o->flops = 2.0 * m * n * k;
    o->bytes = (double)n * k * s->w_bytes + (double)(m * k + m * n) * s->a_bytes;
    return LLM_OK;
}

/* Element-wise kernels read rd and write wr elements per token-width. */
static int elem(struct op_list *l, const char *name, int32_t repeat,
                int64_t tokens, int64_t width, double rd, double wr,
                double elem_bytes)
{
    struct op *o = push(l);

    if (o == NULL)
        return LLM_ENOMEM;
    *o = (struct op){ .kind = OP_ELEMWISE, .name = name, .repeat = repeat,
                      .m = tokens, .n = width };
    o->bytes = (double)tokens * width * (rd + wr) * elem_bytes;
    o->flops = (double)tokens * width * 4;
    return LLM_OK;
}

static int attention(struct op_list *l, const struct model *m,
                     const struct shard *s, const struct batch *b)
{
    int32_t qh = m->num_heads / s->tp, hd = m->head_dim;
    int32_t kvh = m->num_kv_heads >= s->tp ? m->num_kv_heads / s->tp : 1;
    double kv_tok = 2.0 * kvh * hd * s->kv_bytes, q_tok = 2.0 * qh * hd * s->a_bytes;
    size_t i;

    for (i = 0; i < b->n_prefill; i++) {
        const struct prefill_chunk *c = &b->prefill[i];
        double pairs = (double)c->tokens * c->prior +
                       (double)c->tokens * (c->tokens + 1) / 2.0;
        struct op *o = push(l);
        if (o == NULL)
            return LLM_ENOMEM;
        *o = (struct op){ .kind = OP_ATTN_PREFILL, .name = "attn_prefill",
                          .repeat = m->num_layers, .q_heads = qh,
                          .kv_heads = kvh, .head_dim = hd,
                          .q_tokens = c->tokens, .prior = c->prior };
        o->flops = 4.0 * qh * hd * pairs;
        o->bytes = (double)(c->prior + c->tokens) * kv_tok + c->tokens * q_tok;
    }
    if (b->decode_seqs > 0) {
        /* One operator for all decodes: FLOPs and bytes are exact sums over
         * the groups; a cost model that needs the context distribution
         * reads the batch's groups. */
        double keys = (double)b->decode_ctx_sum + (double)b->decode_seqs;
        struct op *o = push(l);
        if (o == NULL)
            return LLM_ENOMEM;
        *o = (struct op){ .kind = OP_ATTN_DECODE, .name = "attn_decode",
                          .repeat = m->num_layers, .q_heads = qh,
                          .kv_heads = kvh, .head_dim = hd,
                          .count = (int32_t)b->decode_seqs,
                          .ctx = (int32_t)(b->decode_ctx_sum / b->decode_seqs) };
        o->flops = 4.0 * qh * hd * keys;
        o->bytes = keys * kv_tok + (double)b->decode_seqs * q_tok;
    }
    return LLM_OK;
}

static int allreduce(struct op_list *l, const char *name, int32_t repeat,
                     int64_t tokens, int64_t width, const struct shard *s)
{
    struct op *o;

    if (s->tp == 1)
        return LLM_OK;
    o = push(l);
    if (o == NULL)
        return LLM_ENOMEM;
    *o = (struct op){ .kind = OP_ALLREDUCE, .name = name, .repeat = repeat,
                      .m = tokens, .n = width, .k = s->tp };
    o->bytes = (double)tokens * width * s->a_bytes;
    return LLM_OK;
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
    int64_t t = batch_tokens(b), rows = batch_logit_rows(b);
    int64_t h = m->hidden, hd = m->head_dim, tp = s->tp, L = m->num_layers;
    int64_t qh = m->num_heads / tp;
    int64_t kvh = m->num_kv_heads >= tp ? m->num_kv_heads / tp : 1;
    int64_t ffn = m->ffn / tp;
    double a = s->a_bytes;
    int rc = LLM_OK;

    l->n = 0;
    if (t == 0)
        return LLM_OK;
    if (part == OPS_ATTN)
        return attention(l, m, s, b);
    rc |= elem(l, "embedding", 1, t, h, 1, 1, a);
    rc |= elem(l, "rmsnorm", (int32_t)(2 * L), t, h, 1, 1, a);
    rc |= gemm(l, "qkv", (int32_t)L, t, (qh + 2 * kvh) * hd, h, s);
    rc |= elem(l, "rope", (int32_t)L, t, (qh + kvh) * hd, 1, 1, a);
    rc |= elem(l, "kv_write", (int32_t)L, t, 2 * kvh * hd, 1, 1, s->kv_bytes);
    if (rc == LLM_OK && part == OPS_ALL)
        rc = attention(l, m, s, b);
    rc |= gemm(l, "o_proj", (int32_t)L, t, h, qh * hd, s);
    rc |= allreduce(l, "allreduce", (int32_t)(2 * L), t, h, s);
    rc |= elem(l, "residual_add", (int32_t)(2 * L), t, h, 2, 1, a);
    rc |= gemm(l, "gate_up", (int32_t)L, t, 2 * ffn, h, s);
    rc |= elem(l, "silu_mul", (int32_t)L, t, ffn, 2, 1, a);
    rc |= gemm(l, "down", (int32_t)L, t, h, ffn, s);
    rc |= elem(l, "rmsnorm_final", 1, rows, h, 1, 1, a);
    if (rows > 0) {
        rc |= gemm(l, "lm_head", 1, rows, m->vocab / tp, h, s);
        rc |= elem(l, "sampling", 1, rows, m->vocab / tp, 1, 0, 4);
    }
    return rc ? LLM_ENOMEM : LLM_OK;
}

void ops_free(struct op_list *l)
{
    free(l->ops);
    l->ops = NULL;
    l->n = l->cap = 0;
}
