#include "models/memplan.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define GIB 1073741824.0

/* The profiling forward's torch peak over the tensors fwd_elems_per_token
 * lists: vLLM 0.19 on H100 reports 1.10 GiB for Llama-3.1-8B's pp-2 rank 0
 * (no sampler there) at 8192 tokens, where the list gives 0.781 GiB
 * (llm-d-incubation/llm-d-planner accuracy/results/v0.19.0/
 * accuracy_report.md, "Sensitivity: Pipeline Parallelism"). */
static const double FWD_FACTOR = 1.41;

/* The sampler warm-up peaks at this many copies of the [max_num_seqs,
 * vocab] fp32 logits: the same report's torch peaks, 1.89 GiB for
 * Llama-3.1-8B (vocab 128256) and 2.21 GiB for Qwen2.5-7B (152064) at
 * max_num_seqs 1024, are 3.86 and 3.81 copies; the same at tp 2 and 4,
 * since vLLM gathers the full vocabulary before sampling. */
static const double SAMPLER_COPIES = 3.84;

/* Non-torch memory, same report ("Non-torch Constants"): 0.24-0.27 GiB on
 * one GPU, 2.06-2.17 GiB per GPU at tp 2 and 4 (NCCL and custom
 * all-reduce buffers). */
static const double RESERVE_TP1_GIB = 0.25;
static const double RESERVE_TP_GIB = 2.1;

static int32_t degree(int32_t v)
{
    return v > 1 ? v : 1;
}

double memplan_default_reserve(const struct shard *s)
{
    return (degree(s->tp) > 1 ? RESERVE_TP_GIB : RESERVE_TP1_GIB) * GIB;
}

double memplan_weights_total(const struct mem_weights *w)
{
    return w->embed + w->attn + w->mlp + w->experts + w->norms + w->lm_head;
}

/* One layer's attention weights on one GPU. */
static double attn_bytes(const struct model *m, const struct shard *s)
{
    const struct model_mla *a = &m->mla;
    int32_t tp = degree(s->tp);
    double wq = ops_weight_elem_bytes(s), h = m->hidden;
    double qh = (double)m->num_heads / tp, kvh = ops_kv_heads_per_gpu(m, tp);
    double qk = a->qk_nope_head_dim + a->qk_rope_head_dim;
    double lat = a->kv_lora_rank + a->qk_rope_head_dim;

    if (!model_is_mla(m))
        return (h * (qh + 2 * kvh) * m->head_dim + qh * m->head_dim * h) * wq +
               (m->qkv_bias ? (qh + 2 * kvh) * m->head_dim * 2 : 0);
    /* q_a and kv_a are replicated on every GPU; the rest is by heads. */
    return (h * (a->q_lora_rank + lat) +
            (a->q_lora_rank ? a->q_lora_rank : h) * qh * qk +
            a->kv_lora_rank * qh * (a->qk_nope_head_dim + a->v_head_dim) +
            qh * a->v_head_dim * h) * wq +
           (a->q_lora_rank + a->kv_lora_rank) * 2.0;
}

/* One MoE layer's router, routed and shared experts on one GPU. */
static double experts_bytes(const struct model *m, const struct shard *s)
{
    const struct model_moe *e = &m->moe;
    int32_t tp = degree(s->tp);
    double wq = ops_weight_elem_bytes(s), h = m->hidden;
    double routed = s->ep > 1
        ? (double)e->num_experts / s->ep * 3 * h * e->expert_ffn
        : (double)e->num_experts * 3 * h * ((double)e->expert_ffn / tp);
    double shared = 3 * h * e->num_shared * (double)e->shared_ffn / tp;

    return h * e->num_experts * 2 + (routed + shared) * wq;
}

void memplan_stage_weights(const struct model *m, const struct shard *s,
                           int32_t stage, struct mem_weights *w)
{
    int32_t tp = degree(s->tp), pp = degree(s->pp);
    int32_t first, count, dense, moe;
    double h = m->hidden, vocab = (double)ops_vocab_per_gpu(m, tp) * h * 2;

    memset(w, 0, sizeof(*w));
    ops_stage_layers(m->num_layers, pp, stage, &first, &count);
    model_layer_kinds(m, first, count, &dense, &moe);
    if (stage == 0)
        w->embed = vocab;
    /* A tied LM head is the embedding, unless another stage holds it. */
    if (stage == pp - 1 && (!m->tied_embeddings || pp > 1))
        w->lm_head = vocab;
    w->attn = count * attn_bytes(m, s);
    w->mlp = dense * 3 * h * ((double)m->ffn / tp) * ops_weight_elem_bytes(s);
    w->experts = moe * experts_bytes(m, s);
    w->norms = (2.0 * count + (stage == pp - 1)) * h * 2;
}

/* Activation elements per token alive at the peak of one layer: the
 * residual and its normed copy plus the attention or MLP intermediates. */
static double fwd_elems_per_token(const struct model *m, const struct shard *s)
{
    const struct model_mla *a = &m->mla;
    const struct model_moe *e = &m->moe;
    int32_t tp = degree(s->tp);
    double h2 = 2.0 * m->hidden, qh = (double)m->num_heads / tp;
    double kvh = ops_kv_heads_per_gpu(m, tp), attn, mlp, ef;

    attn = h2 + (qh + 2 * kvh) * m->head_dim + qh * m->head_dim;
    if (model_is_mla(m))
        attn = h2 + a->q_lora_rank + a->kv_lora_rank + a->qk_rope_head_dim +
               qh * m->head_dim + qh * (a->qk_nope_head_dim + a->v_head_dim) +
               qh * a->v_head_dim;
    mlp = h2 + 3.0 * m->ffn / tp;
    if (model_is_moe(m)) {
        ef = s->ep > 1 ? e->expert_ffn : (double)e->expert_ffn / tp;
        /* fused_moe's three caches, fp32 router logits, shared experts */
        ef = h2 + 2.0 * e->num_experts + e->top_k * (3 * ef + m->hidden) +
             3.0 * e->num_shared * e->shared_ffn / tp;
        mlp = ef > mlp ? ef : mlp;
    }
    return attn > mlp ? attn : mlp;
}

double memplan_activation_bytes(const struct model *m,
                                const struct shard *s, int32_t stage,
                                const struct mem_limits *lim)
{
    double fwd = FWD_FACTOR * (double)lim->token_budget *
                 fwd_elems_per_token(m, s) * s->a_bytes;
    double smp = SAMPLER_COPIES * (double)lim->max_seqs * m->vocab * 4.0;

    if (stage != degree(s->pp) - 1 || smp < fwd)
        return fwd;
    return smp;
}

double memplan_kv_bytes_per_token(const struct model *m,
                                  const struct shard *s, int32_t layers)
{
    double per_layer = model_is_mla(m)
        ? (double)model_kv_elems_per_token_layer(m)
        : 2.0 * ops_kv_heads_per_gpu(m, degree(s->tp)) * m->head_dim;

    return layers * per_layer * ops_kv_elem_bytes(s);
}

static void plan_stage(const struct model *m, const struct shard *s,
                       const struct mem_limits *lim, int32_t stage,
                       struct mem_plan *p)
{
    int32_t first, count;

    memset(p, 0, sizeof(*p));
    ops_stage_layers(m->num_layers, degree(s->pp), stage, &first, &count);
    p->stage = stage;
    p->gpu_bytes = lim->total_bytes * lim->util;
    memplan_stage_weights(m, s, stage, &p->w);
    p->weight_bytes = memplan_weights_total(&p->w) *
                      (1 - lim->weight_off_share);
    p->activation_bytes = memplan_activation_bytes(m, s, stage, lim);
    p->reserve_bytes = lim->reserve_bytes >= 0 ? lim->reserve_bytes
                                               : memplan_default_reserve(s);
    p->cuda_graph_bytes = lim->cuda_graph_bytes;
    p->block_bytes = memplan_kv_bytes_per_token(m, s, count) *
                     lim->block_tokens;
    p->kv_bytes = p->gpu_bytes - p->weight_bytes - p->activation_bytes -
                  p->reserve_bytes - p->cuda_graph_bytes;
    if (p->kv_bytes > 0 && p->block_bytes > 0)
        p->kv_blocks = (int64_t)floor(p->kv_bytes / p->block_bytes);
    p->kv_tokens = p->kv_blocks * lim->block_tokens;
}

void memplan_build(const struct model *m, const struct shard *s,
                   const struct mem_limits *lim, struct mem_plan *p)
{
    struct mem_plan q;
    int32_t st;

    plan_stage(m, s, lim, 0, p);
    for (st = 1; st < degree(s->pp); st++) {
        plan_stage(m, s, lim, st, &q);
        if (q.kv_blocks < p->kv_blocks ||
            (q.kv_blocks == p->kv_blocks && q.kv_bytes < p->kv_bytes))
            *p = q;
    }
}

static bool fits(const struct model *m, const struct shard *s,
                 const struct mem_limits *lim, int64_t max_model_len)
{
    struct mem_plan p;

    if (ops_check_shard(m, s, NULL) != LLM_OK)
        return false;
    memplan_build(m, s, lim, &p);
    return p.kv_blocks >= 1 && p.kv_tokens >= max_model_len;
}

/* The fewest GPUs (tp x pp, pp as small as possible) that fit. */
static void suggest(const struct model *m, const struct shard *s,
                    const struct mem_limits *lim, int64_t max_model_len,
                    char *buf, size_t len)
{
    struct shard t = *s;
    int32_t gpus, pp;

    for (gpus = 1; gpus <= 64; gpus *= 2) {
        for (pp = 1; pp <= gpus && pp <= m->num_layers; pp *= 2) {
            t.tp = gpus / pp;
            t.pp = pp;
            t.ep = s->ep > 1 ? t.tp : s->ep;
            t.ep_alltoall = t.ep > 1 ? s->ep_alltoall : 0;
            if (!fits(m, &t, lim, max_model_len))
                continue;
            if (pp == 1)
                snprintf(buf, len, "smallest that fits: tp %d", t.tp);
            else
                snprintf(buf, len, "smallest that fits: tp %d x pp %d",
                         t.tp, pp);
            return;
        }
    }
    snprintf(buf, len, "nothing up to 64 GPUs fits; try fp8 or int4 "
             "weights (hardware.dtype)");
}

static int misfit(const struct model *m, const struct shard *s,
                  const struct mem_limits *lim, int64_t max_model_len,
                  const char *dev_id, const struct mem_plan *p,
                  struct llm_diag *d)
{
    char hint[96];
    double need = p->weight_bytes + p->activation_bytes + p->reserve_bytes +
                  p->cuda_graph_bytes;

    suggest(m, s, lim, max_model_len, hint, sizeof(hint));
    return diag_set(d, LLM_ERANGE, "hardware: %s does not fit on %s with tp "
                    "%d, pp %d: weights %.1f GiB + activations %.1f GiB + "
                    "reserve %.1f GiB = %.1f GiB of %.1f GiB usable (%.0f%% "
                    "of %.1f GiB), %.2f GiB short of one KV block; %s",
                    m->id, dev_id, degree(s->tp), degree(s->pp),
                    p->weight_bytes / GIB, p->activation_bytes / GIB,
                    (p->reserve_bytes + p->cuda_graph_bytes) / GIB,
                    need / GIB, p->gpu_bytes / GIB, lim->util * 100,
                    lim->total_bytes / GIB,
                    (need - p->gpu_bytes + p->block_bytes) / GIB, hint);
}

static int too_long(const struct model *m, const struct shard *s,
                    const struct mem_limits *lim, int64_t max_model_len,
                    const struct mem_plan *p, struct llm_diag *d)
{
    char hint[96];
    double per_tok = p->block_bytes / lim->block_tokens;

    suggest(m, s, lim, max_model_len, hint, sizeof(hint));
    return diag_set(d, LLM_ERANGE, "model.max_model_len: one sequence of "
                    "%lld tokens needs %.2f GiB of KV cache per GPU, more "
                    "than the %.2f GiB left (%lld tokens); lower "
                    "max_model_len to %lld or add GPUs (%s)",
                    (long long)max_model_len, per_tok * max_model_len / GIB,
                    p->kv_bytes / GIB, (long long)p->kv_tokens,
                    (long long)p->kv_tokens, hint);
}

int memplan_check(const struct model *m, const struct shard *s,
                  const struct mem_limits *lim, int64_t max_model_len,
                  const char *dev_id, struct mem_plan *p,
                  struct llm_diag *d)
{
    memplan_build(m, s, lim, p);
    if (p->kv_blocks < 1)
        return misfit(m, s, lim, max_model_len, dev_id, p, d);
    if (max_model_len > 0 && p->kv_tokens < max_model_len)
        return too_long(m, s, lim, max_model_len, p, d);
    return LLM_OK;
}
