/* models/model.h: the model catalog.
 *
 * One JSON file per model under models/catalog/<id>.json (see
 * models/README.md for every key).  model_load parses one file into a
 * plain struct model (no pointers; copy freely).  model_find looks an id up
 * in the catalog folder of an llmsim root (see base/paths.h).  Errors name
 * the file and the key.  Figures are architecture facts, never tuned.
 *
 * Architectures: decoder-only transformers with RMSNorm, rotary positions
 * and a gated (SwiGLU) MLP.  Attention is MHA, GQA or MQA (num_kv_heads),
 * optionally with QKV bias (Qwen2) and a sliding window (Mistral v0.1,
 * Phi-3), or multi-head latent attention (DeepSeek-V2/V3: the "mla"
 * object).  The MLP of a layer is dense (ffn) or a mixture of experts
 * (the "moe" object: routed experts, top-k, shared experts, leading dense
 * layers). */
#ifndef LLM_MODEL_H
#define LLM_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "base/diag.h"
#include "base/jcfg.h"

/* Mixture of experts; num_experts 0 means a dense model. */
struct model_moe {
    int32_t num_experts;       /* routed experts per MoE layer */
    int32_t top_k;             /* routed experts each token goes to */
    int32_t expert_ffn;        /* intermediate size of one routed expert */
    int32_t num_shared;        /* shared experts, every token, every layer */
    int32_t shared_ffn;        /* intermediate size of one shared expert */
    int32_t first_dense;       /* leading layers with a dense MLP (ffn) */
};

/* Multi-head latent attention; kv_lora_rank 0 means standard attention.
 * The KV cache holds kv_lora_rank + qk_rope_head_dim values per token per
 * layer, shared by all heads (DeepSeek-V2 paper, section 2.1). */
struct model_mla {
    int32_t q_lora_rank;       /* 0: queries projected directly */
    int32_t kv_lora_rank;
    int32_t qk_nope_head_dim;
    int32_t qk_rope_head_dim;
    int32_t v_head_dim;
};

struct model {
    char id[64];
    char name[128];
    char arch[32];             /* llama, mistral, mixtral, qwen2, qwen2_moe,
                                * phi3, deepseek_v2, deepseek_v3 */
    int32_t num_layers;
    int32_t hidden;
    int32_t num_heads;         /* query heads */
    int32_t num_kv_heads;      /* == num_heads: MHA, 1: MQA, else GQA */
    int32_t head_dim;          /* MLA: qk_nope + qk_rope (expanded form) */
    int32_t ffn;               /* intermediate size of the dense MLP */
    int32_t vocab;
    bool tied_embeddings;
    bool qkv_bias;             /* biases on the Q, K and V projections */
    int32_t sliding_window;    /* tokens each query sees; 0: all */
    int32_t max_context;
    double rope_theta;         /* 0 when absent (reference engine input) */
    double rms_norm_eps;       /* 0 when absent */
    double params_published;   /* the model card's figure, for checks */
    double params_active_published;   /* MoE: active per token; 0: none */
    struct model_moe moe;
    struct model_mla mla;
};

int model_load(const char *path, struct model *m, struct llm_diag *d);
/* Whether a model value names a file rather than a catalog id: it has a
 * '/' and ends in ".json" (issue 18; the rule of issue 23). */
bool model_id_is_path(const char *id);
/* root: the llmsim data root; id: a catalog id such as "llama-3-8b"
 * (jcfg_name_ok), looked up in root/models/catalog/, then in the user
 * catalog (base/paths.h, llm_user_catalog); or the path of a model file
 * (model_id_is_path), read as given (relative to the working directory).
 * Anything else is LLM_EINVAL (issue 23: "../../etc/passwd" was opened as
 * a catalog file); LLM_ENOTFOUND names the id when no catalog file
 * exists. */
bool model_id_ok(const char *id);
#define MODEL_ID_WHAT "a catalog id (" JCFG_NAME_RULE ") or the path of a " \
                      "model file (with a '/', ending in .json)"
int model_find(const char *root, const char *id, struct model *m,
               struct llm_diag *d);

/* The largest value a shape key may take, by catalog or Hugging Face key
 * name (INT32_MAX for any other): layers 1024, hidden 2^17, heads and
 * head dims 4096, FFN sizes 2^20, vocabulary and context 2^24 tokens,
 * experts 4096, MLA ranks 2^16.  Generous but physical (the largest in
 * the catalog: llama-3.1-405b's 126 layers, hidden 16384 and FFN 53248;
 * deepseek-v3's 256 experts and q_lora_rank 1536), and within them every
 * parameter and byte count below fits int64 (at most 3.5e18): a hidden
 * size of 433e6 wrapped the count (issue 23).  docs/config.md "Limits". */
int32_t model_dim_max(const char *key);

/* Parses a catalog object (what model_load reads from the file). */
int model_parse(const cJSON *o, struct model *m, struct llm_diag *d);

/* A new catalog object for m (caller deletes); NULL: no memory. */
cJSON *model_to_json(const struct model *m, const char *source);

static inline bool model_is_moe(const struct model *m)
{
    return m->moe.num_experts > 0;
}

static inline bool model_is_mla(const struct model *m)
{
    return m->mla.kv_lora_rank > 0;
}

/* Layers [first, first + count) split into dense-MLP and MoE layers. */
void model_layer_kinds(const struct model *m, int32_t first, int32_t count,
                       int32_t *dense, int32_t *moe);

/* Parameters of one layer's attention block (projections, biases, the
 * MLA norms; not the layer norms). */
int64_t model_attn_params(const struct model *m);
/* Parameters of one dense MLP and of one MoE block (router, all routed
 * experts, shared experts). */
int64_t model_mlp_params(const struct model *m);
int64_t model_moe_params(const struct model *m);

/* Parameter count from the architecture (embeddings, attention, MLP or
 * experts, norms, LM head unless tied). */
int64_t model_params(const struct model *m);

/* Parameters a token passes through: attention, the dense MLP or the
 * router + top_k routed + shared experts, norms and the LM head; not the
 * input embedding table (a lookup, no arithmetic).  Equals model_params
 * minus the embedding for dense models. */
int64_t model_active_params(const struct model *m);

/* KV-cache elements of one token in one layer, before sharding:
 * 2 x kv_heads x head_dim, or kv_lora_rank + qk_rope_head_dim for MLA. */
int64_t model_kv_elems_per_token_layer(const struct model *m);

/* Bytes of K and V for one token across all layers, before sharding. */
int64_t model_kv_bytes_per_token(const struct model *m, double kv_bytes);

#endif
