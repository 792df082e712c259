/* models/ops.h: the operators of one iteration on one GPU.
 *
 * ops_build turns a batch into the per-GPU operator list of a model
 * sharded as vLLM shards it: tensor parallel over tp GPUs (vocabulary-
 * parallel embedding and LM head, column-parallel QKV and gate/up,
 * row-parallel output and down projections each followed by an
 * all-reduce), pipeline parallel over pp stages (vLLM's layer split,
 * ops_stage_layers), experts tensor- or expert-parallel.  Operators come
 * in the order the engine runs them.  Per-layer operators carry repeat =
 * the stage's layers of that kind; attention appears once per prefill
 * chunk and once for all decodes.  Each operator has its shape (what
 * calibration tables are indexed by) and its FLOPs and bytes moved (what
 * roofline needs), both per repeat.  The list owns its array.
 *
 * Attention.  MHA/GQA/MQA: kv_heads per GPU = num_kv_heads / tp, or 1
 * replicated head when tp exceeds num_kv_heads (vLLM replicates).  A
 * sliding window caps the keys each query sees.  MLA (DeepSeek): decode
 * uses the absorbed form that vLLM's and SGLang's MLA backends use -- W_UK
 * folded into the query (mla_q_absorb, a batched GEMM per head) and W_UV
 * applied after (mla_v_up), so attention reads only the cached latent
 * (kv_lora_rank + qk_rope_head_dim per token, shared by every head: an MQA
 * shape with head_dim 576 and v_head_dim 512 for DeepSeek-V3).  Decode is
 * memory-bound, and this reads the 576-wide latent once instead of
 * expanding 128 heads x 256 values per cached token.  Prefill uses the
 * expanded form (mla_kv_up turns every key's latent into per-head K and
 * V, then ordinary attention with head_dim nope + rope, v_head_dim
 * v_head_dim): prefill is compute-bound and the absorbed form would do
 * (576 + 512) / (192 + 128) = 3.4x the attention FLOPs.  Source: vLLM
 * vllm/attention/backends/mla/common.py (MLACommonImpl: _forward_prefill
 * vs _forward_decode) and the DeepSeek-V2 paper, section 2.1.3.
 *
 * Mixture of experts.  router GEMM (replicated, bf16), topk, shared
 * experts as a dense MLP, then the routed experts as one grouped GEMM per
 * projection: groups = experts of this GPU that receive tokens (expected
 * value), m = mean tokens per such expert, m_max = the busiest one's.
 * Token-to-expert popularity is Zipf(moe_skew) over the experts (0:
 * uniform); a token picks expert i with probability min(1, top_k p_i),
 * tokens route independently.  With ep > 1 each GPU holds whole experts
 * (experts of popularity rank r on GPU r mod ep) and the op list is GPU
 * 0's, the busiest.
 *
 * Data types (shard.w_dtype).  bf16/fp16: plain GEMMs.  fp8 and int8:
 * W8A8, an act_quant elementwise op (per-token dynamic quantisation, what
 * vLLM's Fp8LinearMethod runs before each GEMM) then a GEMM whose math is
 * fp8/int8.  int4 (and int2): one fused W4A16 GEMM (Marlin, Machete,
 * the AWQ/GPTQ kernels) of bf16 math that reads the packed weights with
 * their group scales (ops_weight_elem_bytes: 0.52 byte for int4) and
 * dequantizes in registers; hw/calib.h prices it.  Embedding,
 * LM head, router and the MLA absorption BMMs stay bf16, as in vLLM.  KV
 * cache (shard.kv_dtype): bf16 2 bytes, fp8 1 (per-tensor scale), int4
 * and int2 0.5 and 0.25 plus an fp16 scale and zero point per group of 32
 * values (KIVI, Liu et al., ICML 2024): 0.625 and 0.375 bytes; the
 * attention kernel dequantises in registers (bytes change, FLOPs do not).
 *
 * Pipeline.  Stage 0 has the embedding, the last stage the final norm,
 * LM head and sampling; every stage but the last ends with pp_send (the
 * hidden states and the residual, 2 x tokens x hidden, each TP rank
 * sending its 1/tp slice as vLLM does) and every stage but the first
 * starts with pp_allgather of those slices when tp > 1.  How stage times
 * combine into an iteration: models/pipeline.h. */
#ifndef LLM_OPS_H
#define LLM_OPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/dtype.h"
#include "models/model.h"
#include "sim/batch.h"
#include "base/diag.h"

enum op_kind {
    OP_GEMM,            /* m x k activations times k x n weights */
    OP_ATTN_PREFILL,    /* one chunk: q_tokens over prior + q_tokens keys */
    OP_ATTN_DECODE,     /* all decodes: count sequences, one query each */
    OP_ELEMWISE,        /* m tokens x n width, memory-bound */
    OP_ALLREDUCE,       /* tensor-parallel all-reduce of bytes per GPU */
    /* added with issue 4 */
    OP_GROUPED_GEMM,    /* groups GEMMs of (m each, m_max the largest) x k
                         * times k x n: MoE experts, MLA per-head BMMs */
    OP_ALLGATHER,       /* bytes = the gathered output per GPU */
    OP_REDUCE_SCATTER,  /* bytes = the input per GPU */
    OP_ALLTOALL,        /* bytes = each GPU's send buffer */
    OP_SENDRECV         /* bytes from this stage to the next */
};

enum op_class { OPC_GEMM, OPC_ATTN, OPC_COMM, OPC_OTHER, OPC_COUNT };

struct op {
    enum op_kind kind;
    const char *name;          /* static: "qkv", "rmsnorm", "lm_head", ... */
    int32_t repeat;            /* times per iteration (layers) */
    int64_t m, n, k;           /* GEMM shape; elementwise: m tokens, n width;
                                * OP_ALLREDUCE: m tokens, n hidden, k tp */
    int32_t q_heads, kv_heads, head_dim;   /* attention, per GPU */
    int32_t q_tokens, prior;   /* prefill chunk */
    int32_t count, ctx;        /* decodes: sequences, mean keys - 1 */
    double flops;              /* per repeat */
    double bytes;              /* per repeat, HBM traffic (collectives: the
                                * buffer, see the kind) */
    /* added with issue 4; every builder sets them */
    int32_t v_head_dim;        /* attention: value head size (head_dim but
                                * for MLA) */
    int32_t groups;            /* OP_GROUPED_GEMM: GEMMs in the group */
    int64_t m_max;             /* OP_GROUPED_GEMM: rows of the largest */
    int32_t ranks;             /* collectives: GPUs in the group */
    int32_t inter_node;        /* collectives: 1 when the group spans nodes */
    double w_bytes;            /* GEMMs: bytes per weight element read */
    enum dtype math;           /* GEMMs: tensor-core input type (DT_BF16,
                                * DT_FP16, DT_FP8, DT_INT8); elementwise:
                                * DT_FP32 (CUDA cores); else DT_BF16 */
    double shared_bytes;       /* OP_ATTN_DECODE: of bytes, the KV of the
                                * batch's shared prefixes' repeat reads
                                * (batch.shared_keys; 0 with a sliding
                                * window), which a shared-prefix kernel
                                * skips */
};

struct op_list {
    struct op *ops;
    size_t n, cap;
};

/* ops_build's stage for "every stage, one after another" (the time of
 * one batch through an unoverlapped pipeline). */
#define OPS_ALL_STAGES (-1)

struct shard {
    int32_t tp;                /* tensor-parallel degree */
    double w_bytes;            /* bytes per weight element */
    double a_bytes;            /* bytes per activation element */
    double kv_bytes;           /* bytes per KV element (before scales) */
    /* added with issue 4: the zero value of each keeps the old meaning */
    int32_t pp;                /* pipeline stages; 0 or 1: none */
    int32_t stage;             /* stage to build (0-based) or OPS_ALL_STAGES */
    int32_t ep;                /* 0 or 1: experts TP-sharded; == tp: each GPU
                                * holds num_experts / ep whole experts */
    int32_t ep_alltoall;       /* 1: EP moves tokens by all-to-all (reduce-
                                * scatter, dispatch, combine, all-gather)
                                * instead of all-reduce */
    enum dtype w_dtype;        /* DT_FP32 (zero): from w_bytes */
    enum dtype kv_dtype;       /* DT_FP32 (zero): from kv_bytes */
    double moe_skew;           /* Zipf exponent of expert popularity */
    int32_t gpus_per_node;     /* 0: the replica fits one node */
    double net_bw_bytes_s;     /* per-GPU link between nodes; 0: none */
    double net_latency_s;
};

/* Expected routed-expert load of one GPU for tokens routed tokens. */
struct moe_load {
    double assign;             /* (token, expert) pairs on this GPU */
    double groups;             /* its experts with at least one token */
    double m_max;              /* tokens of its busiest expert */
};

enum op_class op_class_of(enum op_kind k);

/* LLM_EINVAL naming hardware.tp, hardware.pp or hardware.ep when a degree
 * does not divide what it must (heads, FFN, experts, padded vocabulary)
 * or exceeds the layers; the message lists the degrees that would. */
int ops_check_shard(const struct model *m, const struct shard *s,
                    struct llm_diag *d);

/* Which operators to build: the dense part (everything but attention)
 * depends only on the batch's token count and sampled rows, so cost models
 * can cache its price; attention (with the MLA absorption and expansion
 * GEMMs, which depend on the prefill/decode split) depends on every
 * sequence. */
enum ops_part { OPS_ALL, OPS_DENSE, OPS_ATTN };

/* Fills l (cleared first) for stage s->stage.  LLM_ENOMEM only. */
int ops_build(const struct model *m, const struct shard *s,
              const struct batch *b, struct op_list *l);
int ops_build_part(const struct model *m, const struct shard *s,
                   const struct batch *b, enum ops_part part,
                   struct op_list *l);
void ops_free(struct op_list *l);

/* Layers [*first, *first + *count) of stage `stage` of pp, as vLLM's
 * get_pp_indices assigns them: num_layers / pp each, the remainder one
 * more each to the stages just before the last. */
void ops_stage_layers(int32_t num_layers, int32_t pp, int32_t stage,
                      int32_t *first, int32_t *count);

/* The weight and KV types a shard means (resolving DT_FP32 = unset). */
enum dtype ops_weight_dtype(const struct shard *s);
enum dtype ops_kv_dtype(const struct shard *s);
/* Bytes per KV element including quantisation scales (see above). */
double ops_kv_elem_bytes(const struct shard *s);
/* Bytes per stored linear-layer weight element including scales: int4
 * and int2 add an fp16 scale and a 4-bit zero point per group of 128
 * (AWQ's default, q_group_size 128: 0.5195 and 0.2695 bytes). */
double ops_weight_elem_bytes(const struct shard *s);
/* Vocabulary rows per GPU: vocab padded to a multiple of 64, divided by
 * tp (vLLM's VocabParallelEmbedding, DEFAULT_VOCAB_PADDING_SIZE). */
int64_t ops_vocab_per_gpu(const struct model *m, int32_t tp);
/* KV heads per GPU (standard attention). */
int32_t ops_kv_heads_per_gpu(const struct model *m, int32_t tp);
void ops_moe_load(const struct model *m, const struct shard *s,
                  double tokens, struct moe_load *out);

#endif
