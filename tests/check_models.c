/* Tests of the model catalog, the operator lists (TP/PP/EP sharding, MLA,
 * MoE, data types), the communication model and the Hugging Face import. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "hw/comm.h"
#include "hw/cost.h"
#include "models/hf.h"
#include "models/model.h"
#include "models/ops.h"
#include "models/pipeline.h"
#include "sim/batch.h"
#include "base/jcfg.h"
#include "base/paths.h"
#include "tests/suites.h"

static const char *const catalog[] = {
    "llama-2-7b", "llama-2-13b", "llama-2-70b", "llama-3-8b", "llama-3.1-8b",
    "llama-3.1-70b", "llama-3.1-405b", "mistral-7b", "mixtral-8x7b",
    "mixtral-8x22b", "qwen2.5-7b", "qwen2.5-14b", "qwen2.5-72b",
    "deepseek-v2-lite", "deepseek-v3", "phi-3-mini", "yi-34b",
    "llama-3.2-1b", "qwen2.5-0.5b"
};
#define N_CATALOG ((int)(sizeof(catalog) / sizeof(catalog[0])))

static struct model load(const char *id)
{
    struct model m;
    struct llm_diag d = { 0 };

    ck_assert_msg(model_find(llm_root(), id, &m, &d) == LLM_OK, "%s: %s",
                  id, d.msg);
    return m;
}

static struct shard bf16(int32_t tp)
{
    return (struct shard){ .tp = tp, .w_bytes = 2, .a_bytes = 2,
                           .kv_bytes = 2 };
}

static const struct op *find(const struct op_list *l, const char *name)
{
    size_t i;

    for (i = 0; i < l->n; i++)
        if (strcmp(l->ops[i].name, name) == 0)
            return &l->ops[i];
    return NULL;
}

static double gemm_flops(const struct op_list *l)
{
    double f = 0;
    size_t i;

    for (i = 0; i < l->n; i++)
        if (op_class_of(l->ops[i].kind) == OPC_GEMM)
            f += l->ops[i].flops * l->ops[i].repeat;
    return f;
}

/* Every entry within 0.5% of the figure its params_source cites. */
START_TEST(test_catalog_params)
{
    struct model m = load(catalog[_i]);
    double p = (double)model_params(&m);

    ck_assert_msg(m.params_published > 0, "%s: no params_published", m.id);
    ck_assert_msg(fabs(p / m.params_published - 1) <= 0.005,
                  "%s: %.4fB vs published %.4fB", m.id, p / 1e9,
                  m.params_published / 1e9);
}
END_TEST

/* MoE active parameters.  Vendors round to 2-3 digits and count
 * differently (Mistral's 12.9B includes the input embedding, DeepSeek's
 * 2.4B and 37B do not), so 2.5%; model_active_params leaves the input
 * embedding out (a lookup, no FLOPs). */
START_TEST(test_moe_active)
{
    static const char *const moe[] = { "mixtral-8x7b", "mixtral-8x22b",
                                       "deepseek-v2-lite", "deepseek-v3" };
    struct model m = load(moe[_i]);
    double a = (double)model_active_params(&m);

    ck_assert(model_is_moe(&m));
    ck_assert_msg(fabs(a / m.params_active_published - 1) <= 0.025,
                  "%s: %.3fB active vs %.3fB", m.id, a / 1e9,
                  m.params_active_published / 1e9);
    ck_assert_double_lt(a, 0.35 * (double)model_params(&m));
}
END_TEST

/* One token, no context: GEMM FLOPs are 2 x the parameters it passes
 * (within 0.5%: the norms and biases are parameters without GEMM work). */
START_TEST(test_flops_per_token)
{
    struct model m = load(catalog[_i]);
    struct shard s = bf16(1);
    struct op_list l = { 0 };
    struct batch b;
    double f;

    batch_init(&b);
    ck_assert_int_eq(batch_add_prefill(&b, 1, 0, 1), LLM_OK);
    ck_assert_int_eq(ops_build(&m, &s, &b, &l), LLM_OK);
    f = gemm_flops(&l);
    ck_assert_msg(fabs(f / (2.0 * (double)model_active_params(&m)) - 1) <
                  0.005, "%s: %.4g FLOPs vs 2 x %.4g params", m.id, f,
                  (double)model_active_params(&m));
    ops_free(&l);
    batch_free(&b);
}
END_TEST

/* A 2048-token prompt: 2 x params per token (the LM head once) plus
 * causal attention 4 L H hd t(t+1)/2, within 1%. */
START_TEST(test_flops_prefill)
{
    struct model m = load("llama-3.1-8b");
    struct shard s = bf16(1);
    struct op_list l = { 0 };
    struct batch b;
    double t = 2048, lm = (double)m.vocab * m.hidden, all = 0, attn;
    size_t i;

    batch_init(&b);
    batch_add_prefill(&b, 2048, 0, 1);
    ck_assert_int_eq(ops_build(&m, &s, &b, &l), LLM_OK);
    for (i = 0; i < l.n; i++)
        if (l.ops[i].kind != OP_ELEMWISE)
            all += l.ops[i].flops * l.ops[i].repeat;
    attn = 4.0 * m.num_layers * m.num_heads * m.head_dim * t * (t + 1) / 2;
    ck_assert_double_eq_tol(find(&l, "attn_prefill")->flops * m.num_layers,
                            attn, 1);
    ck_assert_double_eq_tol(all / (2 * ((double)model_active_params(&m) - lm)
                                   * t + 2 * lm + attn), 1.0, 0.01);
    ops_free(&l);
    batch_free(&b);
}
END_TEST

/* Llama-3.1-70B at tp 4: column-parallel QKV and gate/up, row-parallel
 * o and down, vocabulary-parallel LM head, an all-reduce after each
 * row-parallel GEMM and after the embedding, logits gathered. */
START_TEST(test_tp_shapes)
{
    struct model m = load("llama-3.1-70b");
    struct shard s = bf16(4);
    struct op_list l = { 0 };
    struct batch b;
    const struct op *o;

    batch_init(&b);
    batch_add_prefill(&b, 100, 0, 1);
    batch_add_decode(&b, 3, 50);
    ck_assert_int_eq(ops_build(&m, &s, &b, &l), LLM_OK);
    o = find(&l, "qkv");
    ck_assert_int_eq(o->m, 103);
    ck_assert_int_eq(o->n, (16 + 2 * 2) * 128);
    ck_assert_int_eq(o->k, 8192);
    ck_assert_int_eq(o->repeat, 80);
    o = find(&l, "o_proj");
    ck_assert_int_eq(o->n, 8192);
    ck_assert_int_eq(o->k, 16 * 128);
    ck_assert_int_eq(find(&l, "gate_up")->n, 2 * 7168);
    ck_assert_int_eq(find(&l, "down")->k, 7168);
    o = find(&l, "lm_head");
    ck_assert_int_eq(o->m, 4);
    ck_assert_int_eq(o->n, 128256 / 4);
    o = find(&l, "allreduce");
    ck_assert_int_eq(o->repeat, 160);
    ck_assert_int_eq(o->ranks, 4);
    ck_assert_double_eq(o->bytes, 103.0 * 8192 * 2);
    ck_assert_ptr_nonnull(find(&l, "embed_allreduce"));
    o = find(&l, "logits_gather");
    ck_assert_int_eq(o->kind, OP_ALLGATHER);
    ck_assert_double_eq(o->bytes, 4.0 * 128256 * 2);
    o = find(&l, "attn_decode");
    ck_assert_int_eq(o->q_heads, 16);
    ck_assert_int_eq(o->kv_heads, 2);
    ck_assert_int_eq(o->count, 3);
    ck_assert_int_eq(o->ctx, 50);
    ops_free(&l);
    batch_free(&b);
}
END_TEST

/* More GPUs than KV heads: each holds one replicated KV head (vLLM). */
START_TEST(test_kv_replication)
{
    struct model m = load("llama-3.1-70b");
    struct shard s = bf16(16);
    struct op_list l = { 0 };
    struct batch b;

    batch_init(&b);
    batch_add_decode(&b, 1, 10);
    ck_assert_int_eq(ops_build(&m, &s, &b, &l), LLM_OK);
    ck_assert_int_eq(find(&l, "qkv")->n, (4 + 2) * 128);
    ck_assert_int_eq(find(&l, "attn_decode")->kv_heads, 1);
    ops_free(&l);
    batch_free(&b);
}
END_TEST

/* DeepSeek-V3 at tp 8: absorbed MLA for decode, expanded for prefill. */
START_TEST(test_mla_shapes)
{
    struct model m = load("deepseek-v3");
    struct shard s = bf16(8);
    struct op_list l = { 0 };
    struct batch b;
    const struct op *o;

    batch_init(&b);
    batch_add_prefill(&b, 64, 1000, 1);
    batch_add_decode(&b, 10, 2000);
    ck_assert_int_eq(ops_build(&m, &s, &b, &l), LLM_OK);
    o = find(&l, "qkv_a");
    ck_assert_int_eq(o->n, 1536 + 512 + 64);
    ck_assert_int_eq(o->k, 7168);
    ck_assert_int_eq(find(&l, "q_b")->n, 16 * 192);
    o = find(&l, "mla_kv_up");
    ck_assert_int_eq(o->m, 1064);
    ck_assert_int_eq(o->n, 16 * (128 + 128));
    ck_assert_int_eq(o->k, 512);
    o = find(&l, "attn_prefill");
    ck_assert_int_eq(o->head_dim, 192);
    ck_assert_int_eq(o->v_head_dim, 128);
    o = find(&l, "mla_q_absorb");
    ck_assert_int_eq(o->kind, OP_GROUPED_GEMM);
    ck_assert_int_eq(o->groups, 16);
    ck_assert_int_eq(o->m, 10);
    ck_assert_int_eq(o->n, 512);
    ck_assert_int_eq(o->k, 128);
    o = find(&l, "attn_decode");
    ck_assert_int_eq(o->kv_heads, 1);
    ck_assert_int_eq(o->head_dim, 576);
    ck_assert_int_eq(o->v_head_dim, 512);
    /* keys x 576 bf16 latent bytes dominate; every head shares them */
    ck_assert_double_ge(o->bytes, 10.0 * 2001 * 576 * 2);
    ck_assert_int_eq(find(&l, "mla_v_up")->n, 128);
    ck_assert_int_eq(find(&l, "o_proj")->k, 16 * 128);
    ck_assert_int_eq(find(&l, "gate_up")->repeat, 3);
    ck_assert_int_eq(find(&l, "moe_gate_up")->repeat, 58);
    ck_assert_int_eq(find(&l, "shared_down")->k, 2048 / 8);
    ops_free(&l);
    batch_free(&b);
}
END_TEST

/* Expected expert load: exact for one token, all experts busy for many,
 * skew concentrates tokens without changing the total. */
START_TEST(test_moe_load)
{
    struct model m = load("mixtral-8x7b");
    struct shard s = bf16(1);
    struct moe_load ld, sk;

    ops_moe_load(&m, &s, 1, &ld);
    ck_assert_double_eq_tol(ld.assign, 2, 1e-12);
    ck_assert_double_eq_tol(ld.groups, 2, 1e-12);
    ops_moe_load(&m, &s, 1000, &ld);
    ck_assert_double_eq_tol(ld.assign, 2000, 1e-9);
    ck_assert_double_eq_tol(ld.groups, 8, 1e-9);
    ck_assert_double_eq_tol(ld.m_max, 250, 1e-9);
    s.moe_skew = 1.0;
    ops_moe_load(&m, &s, 1000, &sk);
    ck_assert_double_eq_tol(sk.assign, 2000, 1e-9);
    ck_assert_double_gt(sk.m_max, 500);
    m = load("deepseek-v3");
    s = bf16(8);
    s.ep = 8;
    ops_moe_load(&m, &s, 4096, &ld);
    ck_assert_double_eq_tol(ld.assign, 4096.0 * 8 / 8, 1e-6);
    ck_assert_double_le(ld.groups, 32);
    ck_assert_double_gt(ld.groups, 31.9);
}
END_TEST

/* Mixtral at tp 2: experts TP-sliced, one grouped GEMM per projection
 * whose FLOPs are exactly 2 x (token, expert) pairs x n x k. */
START_TEST(test_moe_ops)
{
    struct model m = load("mixtral-8x7b");
    struct shard s = bf16(2);
    struct op_list l = { 0 };
    struct batch b;
    const struct op *o;

    batch_init(&b);
    batch_add_decode(&b, 4, 100);
    ck_assert_int_eq(ops_build(&m, &s, &b, &l), LLM_OK);
    o = find(&l, "router");
    ck_assert_int_eq(o->n, 8);
    ck_assert_int_eq(o->k, 4096);
    o = find(&l, "moe_gate_up");
    ck_assert_int_eq(o->kind, OP_GROUPED_GEMM);
    ck_assert_int_eq(o->n, 2 * 7168);
    ck_assert_int_eq(o->k, 4096);
    ck_assert_int_eq(o->groups, (int)llround(8 * (1 - pow(0.75, 4))));
    ck_assert_double_eq_tol(o->flops, 2.0 * 8 * 2 * 7168 * 4096, 1);
    ck_assert_ptr_null(find(&l, "gate_up"));
    ops_free(&l);
    s.ep = 2;
    s.ep_alltoall = 1;
    ck_assert_int_eq(ops_build(&m, &s, &b, &l), LLM_OK);
    ck_assert_int_eq(find(&l, "moe_gate_up")->n, 2 * 14336);
    ck_assert_int_eq(find(&l, "moe_dispatch")->kind, OP_ALLTOALL);
    ck_assert_int_eq(find(&l, "moe_reduce_scatter")->kind, OP_REDUCE_SCATTER);
    ck_assert_int_eq(find(&l, "moe_allgather")->kind, OP_ALLGATHER);
    ck_assert_ptr_null(find(&l, "allreduce"));
    ops_free(&l);
    batch_free(&b);
}
END_TEST

/* vLLM's get_pp_indices: the remainder goes to the stages before the
 * last, from the second-to-last backwards. */
START_TEST(test_stage_layers)
{
    int32_t f, c;

    ops_stage_layers(61, 4, 2, &f, &c);
    ck_assert_int_eq(f, 30);
    ck_assert_int_eq(c, 16);
    ops_stage_layers(61, 4, 3, &f, &c);
    ck_assert_int_eq(f, 46);
    ck_assert_int_eq(c, 15);
    ops_stage_layers(80, 3, 0, &f, &c);
    ck_assert_int_eq(c, 27);
    ops_stage_layers(80, 3, 2, &f, &c);
    ck_assert_int_eq(f, 54);
    ck_assert_int_eq(c, 26);
    ops_stage_layers(32, 1, 0, &f, &c);
    ck_assert_int_eq(f, 0);
    ck_assert_int_eq(c, 32);
}
END_TEST

START_TEST(test_pp_ops)
{
    struct model m = load("llama-3.1-8b");
    struct shard s = bf16(2);
    struct op_list l = { 0 };
    struct batch b;
    const struct op *o;
    size_t i;
    int32_t qkv = 0;

    s.pp = 2;
    batch_init(&b);
    batch_add_prefill(&b, 500, 0, 1);
    ck_assert_int_eq(ops_build(&m, &s, &b, &l), LLM_OK);
    ck_assert_ptr_nonnull(find(&l, "embedding"));
    ck_assert_ptr_null(find(&l, "lm_head"));
    ck_assert_int_eq(find(&l, "qkv")->repeat, 16);
    o = find(&l, "pp_send");
    ck_assert_int_eq(o->kind, OP_SENDRECV);
    ck_assert_double_eq(o->bytes, 2.0 * 500 * 4096 * 2 / 2);
    s.stage = 1;
    ck_assert_int_eq(ops_build(&m, &s, &b, &l), LLM_OK);
    ck_assert_ptr_null(find(&l, "embedding"));
    ck_assert_ptr_null(find(&l, "pp_send"));
    ck_assert_ptr_nonnull(find(&l, "lm_head"));
    ck_assert_int_eq(find(&l, "pp_allgather")->kind, OP_ALLGATHER);
    s.stage = OPS_ALL_STAGES;
    ck_assert_int_eq(ops_build(&m, &s, &b, &l), LLM_OK);
    for (i = 0; i < l.n; i++)
        if (strcmp(l.ops[i].name, "qkv") == 0)
            qkv += l.ops[i].repeat;
    ck_assert_int_eq(qkv, 32);
    ops_free(&l);
    batch_free(&b);
}
END_TEST

START_TEST(test_pipeline_time)
{
    int64_t st[] = { 10, 20, 10 }, eq[] = { 7, 7, 7, 7 };

    ck_assert_int_eq(pipeline_iteration_ns(st, 3, 1), 40);
    ck_assert_int_eq(pipeline_iteration_ns(st, 3, 4), 40 + 3 * 20);
    ck_assert_int_eq(pipeline_period_ns(st, 3), 20);
    ck_assert_int_eq(pipeline_iteration_ns(eq, 4, 8), (8 + 4 - 1) * 7);
    ck_assert_double_eq_tol(pipeline_bubble(eq, 4, 8), 3.0 / 11, 1e-12);
    ck_assert_double_eq_tol(pipeline_bubble(eq, 1, 8), 0, 1e-12);
}
END_TEST

/* fp8: per-token activation quantisation before each linear GEMM, fp8
 * math; int4: in-register dequantisation per 64-row tile, bf16 math. */
START_TEST(test_weight_dtypes)
{
    struct model m = load("llama-3-8b");
    struct shard s = bf16(1);
    struct op_list l = { 0 };
    struct batch b;
    const struct op *o;

    batch_init(&b);
    batch_add_prefill(&b, 130, 0, 1);
    s.w_dtype = DT_FP8;
    s.w_bytes = 1;
    ck_assert_int_eq(ops_build(&m, &s, &b, &l), LLM_OK);
    o = find(&l, "qkv");
    ck_assert_int_eq(o->math, DT_FP8);
    ck_assert_double_eq(o->w_bytes, 1);
    ck_assert_int_eq((o - 1)->kind, OP_ELEMWISE);
    ck_assert_str_eq((o - 1)->name, "act_quant");
    ck_assert_int_eq(find(&l, "lm_head")->math, DT_BF16);
    s.w_dtype = DT_FP32;     /* unset: derived from w_bytes */
    s.w_bytes = 0.5;
    ck_assert_int_eq(ops_build(&m, &s, &b, &l), LLM_OK);
    o = find(&l, "qkv");
    ck_assert_int_eq(o->math, DT_BF16);
    /* one fused W4A16 kernel: packed weights with their group scales
     * (AWQ: fp16 scale + 4-bit zero per 128), no separate dequant pass */
    ck_assert_double_eq_tol(o->w_bytes, 0.5 + 2.5 / 128, 1e-12);
    ck_assert_double_eq_tol(o->bytes, 6144.0 * 4096 * (0.5 + 2.5 / 128) +
                            130.0 * (4096 + 6144) * 2, 1e-3);
    ck_assert_ptr_null(find(&l, "dequant_w4"));
    ops_free(&l);
    batch_free(&b);
}
END_TEST

START_TEST(test_kv_dtypes)
{
    struct shard s = bf16(1);
    struct model m = load("llama-3-8b");
    struct op_list l = { 0 };
    struct batch b;

    ck_assert_double_eq(ops_kv_elem_bytes(&s), 2);
    s.kv_bytes = 1;
    ck_assert_double_eq(ops_kv_elem_bytes(&s), 1);
    s.kv_dtype = DT_INT4;
    s.kv_bytes = 0.5;
    ck_assert_double_eq(ops_kv_elem_bytes(&s), 0.625);
    s.kv_dtype = DT_INT2;
    s.kv_bytes = 0.25;
    ck_assert_double_eq(ops_kv_elem_bytes(&s), 0.375);
    batch_init(&b);
    batch_add_decode(&b, 2, 99);
    ck_assert_int_eq(ops_build(&m, &s, &b, &l), LLM_OK);
    ck_assert_double_eq(find(&l, "attn_decode")->bytes,
                        200.0 * 2 * 8 * 128 * 0.375 + 2.0 * 2 * 32 * 128 * 2);
    ops_free(&l);
    batch_free(&b);
}
END_TEST

/* Mistral's 4096-token window caps the keys a query reads. */
START_TEST(test_sliding_window)
{
    struct model m = load("mistral-7b");
    struct shard s = bf16(1);
    struct op_list l = { 0 };
    struct batch b;
    const struct op *o;

    batch_init(&b);
    batch_add_decode(&b, 2, 8000);
    batch_add_decode(&b, 1, 100);
    batch_add_prefill(&b, 10, 4090, 1);
    ck_assert_int_eq(ops_build(&m, &s, &b, &l), LLM_OK);
    o = find(&l, "attn_decode");
    ck_assert_double_eq(o->flops, 2.0 * 32 * (2 * 4096 + 101) * 256);
    o = find(&l, "attn_prefill");
    /* queries at positions 4090..4099 see 4091..4096 keys, then 4096 */
    ck_assert_double_eq(o->flops, 2.0 * 32 * 256 *
                        (4091 + 4092 + 4093 + 4094 + 4095 + 5 * 4096.0));
    ops_free(&l);
    batch_free(&b);
}
END_TEST

static int shard_err(const char *id, struct shard s, char *msg, size_t len)
{
    struct model m = load(id);
    struct llm_diag d = { 0 };
    int rc = ops_check_shard(&m, &s, &d);

    snprintf(msg, len, "%s", d.msg);
    return rc;
}

START_TEST(test_shard_errors)
{
    struct shard s = bf16(3);
    char msg[512];

    ck_assert_int_eq(shard_err("llama-3-8b", s, msg, sizeof(msg)),
                     LLM_EINVAL);
    ck_assert_str_eq(msg, "hardware.tp: 3 does not divide llama-3-8b's 32 "
                     "attention heads, 8 KV heads, FFN 14336 and padded "
                     "vocabulary 128256 (tp that do: 1, 2, 4, 8, 16, 32)");
    s = bf16(1);
    s.pp = 33;
    ck_assert_int_eq(shard_err("llama-3-8b", s, msg, sizeof(msg)),
                     LLM_EINVAL);
    ck_assert_str_eq(msg, "hardware.pp: 33 exceeds llama-3-8b's 32 layers "
                     "(each stage needs at least one)");
    s = bf16(4);
    s.ep = 2;
    ck_assert_int_eq(shard_err("mixtral-8x7b", s, msg, sizeof(msg)),
                     LLM_EINVAL);
    ck_assert(strncmp(msg, "hardware.ep: 2 must equal hardware.tp 4", 39)
              == 0);
    s.ep = 4;
    ck_assert_int_eq(shard_err("llama-3-8b", s, msg, sizeof(msg)),
                     LLM_EINVAL);
    ck_assert_str_eq(msg, "hardware.ep: llama-3-8b has no experts");
    s = bf16(8);
    ck_assert_int_eq(shard_err("qwen2.5-7b", s, msg, sizeof(msg)),
                     LLM_EINVAL);
    ck_assert(strstr(msg, "(tp that do: 1, 2, 4)") != NULL);
    s = bf16(8);
    s.ep = 8;
    ck_assert_int_eq(shard_err("deepseek-v3", s, msg, sizeof(msg)), LLM_OK);
}
END_TEST

/* ---- communication --------------------------------------------------- */

START_TEST(test_comm)
{
    struct link nv = { .bw_bytes_s = 450e9, .latency_s = 2e-6 };
    double n = 64e6;

    ck_assert_double_eq_tol(comm_time_s(COMM_ALLREDUCE, COMM_RING, 8, n, &nv),
                            14 * 2e-6 + 2.0 * 7 / 8 * n / 450e9, 1e-15);
    ck_assert_double_eq_tol(comm_time_s(COMM_ALLREDUCE, COMM_TREE, 8, n, &nv),
                            6 * 2e-6 + 2.0 * n / 450e9, 1e-15);
    /* large messages: ring; small ones: the tree's log latency wins */
    ck_assert_double_eq(comm_time_s(COMM_ALLREDUCE, COMM_AUTO, 8, n, &nv),
                        comm_time_s(COMM_ALLREDUCE, COMM_RING, 8, n, &nv));
    ck_assert_double_eq(comm_time_s(COMM_ALLREDUCE, COMM_AUTO, 8, 8192, &nv),
                        comm_time_s(COMM_ALLREDUCE, COMM_TREE, 8, 8192, &nv));
    ck_assert_double_eq_tol(comm_time_s(COMM_ALLGATHER, COMM_AUTO, 4, n, &nv),
                            3 * 2e-6 + 0.75 * n / 450e9, 1e-15);
    ck_assert_double_eq_tol(comm_time_s(COMM_ALLTOALL, COMM_AUTO, 4, n, &nv),
                            3 * 2e-6 + 0.75 * n / 450e9, 1e-15);
    ck_assert_double_eq_tol(comm_time_s(COMM_SENDRECV, COMM_AUTO, 2, n, &nv),
                            2e-6 + n / 450e9, 1e-15);
    ck_assert_double_eq(comm_time_s(COMM_ALLREDUCE, COMM_AUTO, 1, n, &nv), 0);
    ck_assert_double_eq(comm_busbw_factor(COMM_ALLREDUCE, 4), 1.5);
    ck_assert_double_eq(comm_busbw_factor(COMM_ALLGATHER, 4), 0.75);
    ck_assert_double_eq(comm_busbw_factor(COMM_SENDRECV, 2), 1);
}
END_TEST

START_TEST(test_comm_names)
{
    enum comm_op op;

    ck_assert(comm_op_parse("reducescatter", &op));
    ck_assert_int_eq(op, COMM_REDUCE_SCATTER);
    ck_assert_str_eq(comm_op_name(COMM_ALLTOALL), "alltoall");
    ck_assert(!comm_op_parse("broadcast", &op));
}
END_TEST

/* A group wider than a node runs at the network link's speed. */
START_TEST(test_roofline_links)
{
    struct device dev = { .peer_link = { .bw_bytes_s = 450e9,
                                         .latency_s = 2e-6 } };
    struct shard s = bf16(16);
    struct op o = { .kind = OP_ALLREDUCE, .ranks = 16, .bytes = 1e8 };
    double intra, inter;

    s.net_bw_bytes_s = 50e9;
    s.net_latency_s = 5e-6;
    intra = cost_roofline_s(&dev, &s, &o);
    o.inter_node = 1;
    inter = cost_roofline_s(&dev, &s, &o);
    ck_assert_double_eq(intra, comm_time_s(COMM_ALLREDUCE, COMM_AUTO, 16,
                                           1e8, &dev.peer_link));
    ck_assert_double_gt(inter, 5 * intra);
}
END_TEST

/* ---- catalog and Hugging Face import ------------------------------- */

static int parse_err(const char *json, char *msg, size_t len)
{
    struct llm_diag d = { 0 };
    struct model m;
    cJSON *o = NULL;
    int rc = jcfg_parse(json, &o, &d);

    if (!rc) rc = model_parse(o, &m, &d);
    cJSON_Delete(o);
    snprintf(msg, len, "%s", d.msg);
    return rc;
}

#define BASE_ENTRY "\"id\": \"x\", \"arch\": \"llama\", \"num_layers\": 4, " \
    "\"hidden_size\": 256, \"num_heads\": 4, \"num_kv_heads\": 2, " \
    "\"head_dim\": 64, \"ffn_size\": 512, \"vocab_size\": 1000, " \
    "\"max_context\": 2048"

START_TEST(test_catalog_errors)
{
    char m[512];

    ck_assert_int_eq(parse_err("{" BASE_ENTRY "}", m, sizeof(m)), LLM_OK);
    ck_assert_int_eq(parse_err("{" BASE_ENTRY ", \"num_expert\": 8}", m,
                               sizeof(m)), LLM_EINVAL);
    ck_assert(strncmp(m, "num_expert: unknown key", 23) == 0);
    ck_assert_int_eq(parse_err("{" BASE_ENTRY ", \"moe\": {\"num_experts\": 4,"
                               " \"top_k\": 6, \"expert_ffn_size\": 64}}", m,
                               sizeof(m)), LLM_EINVAL);
    ck_assert_str_eq(m, "moe.top_k: 6 exceeds moe.num_experts 4");
    ck_assert_int_eq(parse_err("{" BASE_ENTRY ", \"moe\": {\"num_experts\": 4,"
                               " \"topk\": 2}}", m, sizeof(m)), LLM_EINVAL);
    ck_assert(strncmp(m, "moe.topk: unknown key", 21) == 0);
    ck_assert_int_eq(parse_err("{" BASE_ENTRY ", \"mla\": {\"kv_lora_rank\": "
                               "64, \"qk_nope_head_dim\": 32, "
                               "\"qk_rope_head_dim\": 16, \"v_head_dim\": 32}}",
                               m, sizeof(m)), LLM_EINVAL);
    ck_assert_str_eq(m, "head_dim: expected qk_nope_head_dim + "
                     "qk_rope_head_dim = 48 for MLA, got 64");
    ck_assert_int_eq(parse_err("{\"id\": \"x\", \"arch\": \"gpt2\"}", m,
                               sizeof(m)), LLM_EINVAL);
    ck_assert(strncmp(m, "arch: unknown \"gpt2\" (known: llama,", 35) == 0);
}
END_TEST

/* A DeepSeek-V3 config.json (keys as on the Hub) imports to exactly the
 * catalog entry's architecture, and the written entry reads back equal. */
static const char V3_HF[] = "{\"architectures\": [\"DeepseekV3ForCausalLM\"],"
    " \"model_type\": \"deepseek_v3\", \"hidden_size\": 7168, "
    "\"intermediate_size\": 18432, \"kv_lora_rank\": 512, "
    "\"max_position_embeddings\": 163840, \"moe_intermediate_size\": 2048, "
    "\"moe_layer_freq\": 1, \"n_group\": 8, \"n_routed_experts\": 256, "
    "\"n_shared_experts\": 1, \"first_k_dense_replace\": 3, "
    "\"num_attention_heads\": 128, \"num_experts_per_tok\": 8, "
    "\"num_hidden_layers\": 61, \"num_key_value_heads\": 128, "
    "\"num_nextn_predict_layers\": 1, \"q_lora_rank\": 1536, "
    "\"qk_nope_head_dim\": 128, \"qk_rope_head_dim\": 64, "
    "\"rms_norm_eps\": 1e-06, \"rope_theta\": 10000, "
    "\"tie_word_embeddings\": false, \"v_head_dim\": 128, "
    "\"vocab_size\": 129280, \"quantization_config\": {\"fmt\": \"e4m3\"}}";

static void same_arch(const struct model *a, const struct model *b)
{
    ck_assert_int_eq(a->num_layers, b->num_layers);
    ck_assert_int_eq(a->hidden, b->hidden);
    ck_assert_int_eq(a->num_heads, b->num_heads);
    ck_assert_int_eq(a->num_kv_heads, b->num_kv_heads);
    ck_assert_int_eq(a->head_dim, b->head_dim);
    ck_assert_int_eq(a->ffn, b->ffn);
    ck_assert_int_eq(a->vocab, b->vocab);
    ck_assert_int_eq(a->max_context, b->max_context);
    ck_assert_int_eq(a->tied_embeddings, b->tied_embeddings);
    ck_assert_int_eq(a->qkv_bias, b->qkv_bias);
    ck_assert_int_eq(a->sliding_window, b->sliding_window);
    ck_assert_mem_eq(&a->moe, &b->moe, sizeof(a->moe));
    ck_assert_mem_eq(&a->mla, &b->mla, sizeof(a->mla));
    ck_assert_str_eq(a->arch, b->arch);
}

START_TEST(test_hf_roundtrip)
{
    struct llm_diag d = { 0 };
    struct model hf, back, cat = load("deepseek-v3");
    cJSON *o = NULL, *j;

    ck_assert_int_eq(jcfg_parse(V3_HF, &o, &d), LLM_OK);
    ck_assert_int_eq(hf_to_model(o, "my-v3", &hf, &d), LLM_OK);
    cJSON_Delete(o);
    same_arch(&hf, &cat);
    ck_assert_str_eq(hf.id, "my-v3");
    ck_assert_int_eq(model_params(&hf), model_params(&cat));
    j = model_to_json(&hf, "test");
    ck_assert_ptr_nonnull(j);
    ck_assert_int_eq(model_parse(j, &back, &d), LLM_OK);
    cJSON_Delete(j);
    same_arch(&back, &hf);
    ck_assert_double_eq(back.rope_theta, 10000);
    ck_assert_double_eq(back.rms_norm_eps, 1e-6);
}
END_TEST

static int hf_err(const char *json, struct model *m, char *msg, size_t len)
{
    struct llm_diag d = { 0 };
    cJSON *o = NULL;
    int rc = jcfg_parse(json, &o, &d);

    if (!rc) rc = hf_to_model(o, "t", m, &d);
    cJSON_Delete(o);
    snprintf(msg, len, "%s", d.msg);
    return rc;
}

#define HF_LLAMA "\"hidden_size\": 4096, \"intermediate_size\": 14336, " \
    "\"num_attention_heads\": 32, \"num_key_value_heads\": 8, " \
    "\"num_hidden_layers\": 32, \"vocab_size\": 32000, " \
    "\"max_position_embeddings\": 32768"

START_TEST(test_hf_variants)
{
    struct model m;
    char msg[512];

    ck_assert_int_eq(hf_err("{\"model_type\": \"mixtral\", " HF_LLAMA
                            ", \"num_local_experts\": 8, "
                            "\"num_experts_per_tok\": 2, "
                            "\"sliding_window\": null}", &m, msg,
                            sizeof(msg)), LLM_OK);
    ck_assert_int_eq(m.moe.num_experts, 8);
    ck_assert_int_eq(m.moe.expert_ffn, 14336);
    ck_assert_int_eq(m.sliding_window, 0);
    ck_assert_int_eq(m.head_dim, 128);
    ck_assert_int_eq(hf_err("{\"model_type\": \"qwen2\", " HF_LLAMA
                            ", \"sliding_window\": 131072, "
                            "\"use_sliding_window\": false}", &m, msg,
                            sizeof(msg)), LLM_OK);
    ck_assert(m.qkv_bias);
    ck_assert_int_eq(m.sliding_window, 0);
    ck_assert_int_eq(hf_err("{\"model_type\": \"mistral\", " HF_LLAMA
                            ", \"sliding_window\": 4096}", &m, msg,
                            sizeof(msg)), LLM_OK);
    ck_assert_int_eq(m.sliding_window, 4096);
    ck_assert(!m.qkv_bias);
}
END_TEST

START_TEST(test_hf_errors)
{
    struct model m;
    char msg[512];

    ck_assert_int_eq(hf_err("{\"model_type\": \"gpt2\"}", &m, msg,
                            sizeof(msg)), LLM_EINVAL);
    ck_assert(strncmp(msg, "model_type: unsupported \"gpt2\" (supported: "
                      "llama, mistral,", 58) == 0);
    ck_assert_int_eq(hf_err("{\"model_type\": \"llama\", \"hidden_size\": 8}",
                            &m, msg, sizeof(msg)), LLM_EINVAL);
    ck_assert_str_eq(msg, "num_hidden_layers: missing (expected an integer "
                     "in [1, 1024])");
    ck_assert_int_eq(hf_err("{\"model_type\": \"deepseek_v2\", " HF_LLAMA
                            ", \"kv_lora_rank\": null}", &m, msg,
                            sizeof(msg)), LLM_EINVAL);
    ck_assert_str_eq(msg, "kv_lora_rank: expected an integer in [1, "
                     "65536], got null");
    ck_assert_int_eq(hf_err("{\"model_type\": \"deepseek_v3\", " HF_LLAMA
                            ", \"kv_lora_rank\": 512, \"qk_nope_head_dim\": "
                            "128, \"qk_rope_head_dim\": 64, \"v_head_dim\": "
                            "128, \"n_routed_experts\": 64, "
                            "\"num_experts_per_tok\": 6, "
                            "\"moe_intermediate_size\": 1408, "
                            "\"moe_layer_freq\": 2}", &m, msg, sizeof(msg)),
                     LLM_EINVAL);
    ck_assert(strncmp(msg, "moe_layer_freq: 2 is not supported", 34) == 0);
}
END_TEST

Suite *models_suite(void)
{
    Suite *s = suite_create("models");
    TCase *tc = tcase_create("core");

    tcase_add_loop_test(tc, test_catalog_params, 0, N_CATALOG);
    tcase_add_loop_test(tc, test_moe_active, 0, 4);
    tcase_add_loop_test(tc, test_flops_per_token, 0, N_CATALOG);
    tcase_add_test(tc, test_flops_prefill);
    tcase_add_test(tc, test_tp_shapes);
    tcase_add_test(tc, test_kv_replication);
    tcase_add_test(tc, test_mla_shapes);
    tcase_add_test(tc, test_moe_load);
    tcase_add_test(tc, test_moe_ops);
    tcase_add_test(tc, test_stage_layers);
    tcase_add_test(tc, test_pp_ops);
    tcase_add_test(tc, test_pipeline_time);
    tcase_add_test(tc, test_weight_dtypes);
    tcase_add_test(tc, test_kv_dtypes);
    tcase_add_test(tc, test_sliding_window);
    tcase_add_test(tc, test_shard_errors);
    tcase_add_test(tc, test_comm);
    tcase_add_test(tc, test_comm_names);
    tcase_add_test(tc, test_roofline_links);
    tcase_add_test(tc, test_catalog_errors);
    tcase_add_test(tc, test_hf_roundtrip);
    tcase_add_test(tc, test_hf_variants);
    tcase_add_test(tc, test_hf_errors);
    suite_add_tcase(s, tc);
    return s;
}
