/* models/ops.h: the operators of one iteration on one GPU.
 *
 * ops_build turns a batch into the per-GPU operator list of a model
 * sharded tensor-parallel over tp GPUs, in the order a serving engine
 * runs them.  Per-layer operators carry repeat = num_layers; attention
 * appears once per prefill chunk and once per decode group.  Each operator
 * has its shape (what calibration tables are indexed by) and its FLOPs and
 * bytes moved (what roofline needs).  All decodes form one attention
 * operator (count = sequences, ctx = mean context) whose FLOPs and bytes
 * are exact sums; the batch keeps the per-group contexts.  The list owns
 * its array. */
#ifndef LLM_OPS_H
#define LLM_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "models/model.h"
#include "sim/batch.h"
#include "sim/diag.h"

enum op_kind {
    OP_GEMM,            /* m x k activations times k x n weights */
    OP_ATTN_PREFILL,    /* one chunk: q_tokens over prior + q_tokens keys */
    OP_ATTN_DECODE,     /* all decodes: count sequences, one query each */
    OP_ELEMWISE,        /* m tokens x n width, memory-bound */
    OP_ALLREDUCE        /* tensor-parallel all-reduce of bytes per GPU */
};

enum op_class { OPC_GEMM, OPC_ATTN, OPC_COMM, OPC_OTHER, OPC_COUNT };

struct op {
    enum op_kind kind;
    const char *name;          /* static: "qkv", "rmsnorm", "lm_head", ... */
    int32_t repeat;            /* times per iteration (layers) */
    int64_t m, n, k;           /* GEMM shape; elementwise: m tokens, n width */
    int32_t q_heads, kv_heads, head_dim;   /* attention, per GPU */
    int32_t q_tokens, prior;   /* prefill chunk */
    int32_t count, ctx;        /* decodes: sequences, mean context */
    double flops;              /* per repeat */
    double bytes;              /* per repeat, HBM traffic */
};

struct op_list {
    struct op *ops;
    size_t n, cap;
};

struct shard {
    int32_t tp;                /* tensor-parallel degree */
    double w_bytes;            /* bytes per weight element */
    double a_bytes;            /* bytes per activation element */
    double kv_bytes;           /* bytes per KV element */
};

enum op_class op_class_of(enum op_kind k);

/* LLM_EINVAL if tp does not divide the heads or the FFN. */
int ops_check_shard(const struct model *m, const struct shard *s,
                    struct llm_diag *d);
/* Which operators to build: the dense part (everything but attention)
 * depends only on the batch's token count and sampled rows, so cost models
 * can cache its price; attention depends on every sequence. */
enum ops_part { OPS_ALL, OPS_DENSE, OPS_ATTN };

/* Fills l (cleared first).  LLM_ENOMEM only. */
int ops_build(const struct model *m, const struct shard *s,
              const struct batch *b, struct op_list *l);
int ops_build_part(const struct model *m, const struct shard *s,
                   const struct batch *b, enum ops_part part,
                   struct op_list *l);
void ops_free(struct op_list *l);

#endif
