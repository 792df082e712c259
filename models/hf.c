#include "models/hf.h"

#include <stdio.h>
#include <string.h>

#include "base/jcfg.h"

static const char *const hf_types[] = {
    "llama", "mistral", "mixtral", "qwen2", "qwen2_moe", "phi3",
    "deepseek_v2", "deepseek_v3", NULL
};

/* An integer key that may be absent or null (then *out keeps its value);
 * a required key must be present and not null. */
static int hf_int(const cJSON *hf, const char *key, bool required,
                  int64_t lo, int32_t *out, struct llm_diag *d)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(hf, key);
    int64_t x = *out;
    int rc;

    if (v != NULL && cJSON_IsNull(v))
        return required ? diag_set(d, LLM_EINVAL, "%s: expected an integer "
                                   "in [%lld, %d], got null", key,
                                   (long long)lo, model_dim_max(key))
                        : LLM_OK;
    rc = jcfg_int(hf, "", key, required, lo, model_dim_max(key), &x, d);
    *out = (int32_t)x;
    return rc;
}

static bool hf_flag(const cJSON *hf, const char *key)
{
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(hf, key));
}

static bool is_type(const char *type, const char *prefix)
{
    return strncmp(type, prefix, strlen(prefix)) == 0;
}

static int hf_common(const cJSON *hf, struct model *m, struct llm_diag *d)
{
    int rc = hf_int(hf, "num_hidden_layers", true, 1, &m->num_layers, d);

    if (!rc) rc = hf_int(hf, "hidden_size", true, 1, &m->hidden, d);
    if (!rc) rc = hf_int(hf, "num_attention_heads", true, 1, &m->num_heads, d);
    m->num_kv_heads = m->num_heads;
    if (!rc) rc = hf_int(hf, "num_key_value_heads", false, 1,
                         &m->num_kv_heads, d);
    if (!rc) rc = hf_int(hf, "intermediate_size", true, 1, &m->ffn, d);
    if (!rc) rc = hf_int(hf, "vocab_size", true, 1, &m->vocab, d);
    if (!rc) rc = hf_int(hf, "max_position_embeddings", true, 1,
                         &m->max_context, d);
    if (!rc) rc = jcfg_bool(hf, "", "tie_word_embeddings", false,
                            &m->tied_embeddings, d);
    if (!rc) rc = jcfg_num(hf, "", "rope_theta", false, 0, 1e12,
                           &m->rope_theta, d);
    if (!rc) rc = jcfg_num(hf, "", "rms_norm_eps", false, 0, 1,
                           &m->rms_norm_eps, d);
    return rc;
}

static int hf_head_dim(const cJSON *hf, struct model *m, struct llm_diag *d)
{
    int rc = hf_int(hf, "head_dim", false, 1, &m->head_dim, d);

    if (rc || m->head_dim > 0)
        return rc;
    if (m->hidden % m->num_heads != 0)
        return diag_set(d, LLM_EINVAL, "head_dim: missing, and hidden_size "
                        "%d is not a multiple of num_attention_heads %d",
                        m->hidden, m->num_heads);
    m->head_dim = m->hidden / m->num_heads;
    return LLM_OK;
}

static int hf_mla(const cJSON *hf, struct model *m, struct llm_diag *d)
{
    struct model_mla *a = &m->mla;
    int rc = hf_int(hf, "q_lora_rank", false, 0, &a->q_lora_rank, d);

    if (!rc) rc = hf_int(hf, "kv_lora_rank", true, 1, &a->kv_lora_rank, d);
    if (!rc) rc = hf_int(hf, "qk_nope_head_dim", true, 1,
                         &a->qk_nope_head_dim, d);
    if (!rc) rc = hf_int(hf, "qk_rope_head_dim", true, 1,
                         &a->qk_rope_head_dim, d);
    if (!rc) rc = hf_int(hf, "v_head_dim", true, 1, &a->v_head_dim, d);
    /* The expanded (prefill) form attends with nope + rope per head. */
    m->head_dim = a->qk_nope_head_dim + a->qk_rope_head_dim;
    return rc;
}

/* Attention variants: QKV bias (Qwen2 always; Llama's attention_bias),
 * sliding windows, MLA. */
static int hf_attention(const cJSON *hf, const char *type, struct model *m,
                        struct llm_diag *d)
{
    bool window = !is_type(type, "qwen2") || hf_flag(hf, "use_sliding_window");
    int rc = LLM_OK;

    if (is_type(type, "deepseek"))
        return hf_mla(hf, m, d);
    m->qkv_bias = is_type(type, "qwen2") || hf_flag(hf, "attention_bias");
    if (window && strcmp(type, "llama") != 0)
        rc = hf_int(hf, "sliding_window", false, 0, &m->sliding_window, d);
    return rc ? rc : hf_head_dim(hf, m, d);
}

/* A layer pattern llmsim has no way to represent is an error, never an
 * approximation. */
static int hf_every_layer(const cJSON *hf, const char *key, int32_t want,
                          struct llm_diag *d)
{
    int32_t v = want;
    int rc = hf_int(hf, key, false, 0, &v, d);

    if (!rc && v != want)
        rc = diag_set(d, LLM_EINVAL, "%s: %d is not supported (llmsim models "
                      "MoE on every layer after the leading dense ones; "
                      "expected %d)", key, v, want);
    return rc;
}

static int hf_moe_deepseek(const cJSON *hf, struct model *m,
                           struct llm_diag *d)
{
    struct model_moe *e = &m->moe;
    int rc = hf_int(hf, "n_routed_experts", false, 0, &e->num_experts, d);

    if (rc || e->num_experts == 0)
        return rc;
    rc = hf_int(hf, "num_experts_per_tok", true, 1, &e->top_k, d);
    if (!rc) rc = hf_int(hf, "moe_intermediate_size", true, 1,
                         &e->expert_ffn, d);
    if (!rc) rc = hf_int(hf, "n_shared_experts", false, 0, &e->num_shared, d);
    e->shared_ffn = e->num_shared ? e->expert_ffn : 0;
    if (!rc) rc = hf_int(hf, "first_k_dense_replace", false, 0,
                         &e->first_dense, d);
    return rc ? rc : hf_every_layer(hf, "moe_layer_freq", 1, d);
}

static int hf_moe_qwen(const cJSON *hf, struct model *m, struct llm_diag *d)
{
    struct model_moe *e = &m->moe;
    const cJSON *only = cJSON_GetObjectItemCaseSensitive(hf, "mlp_only_layers");
    int rc = hf_int(hf, "num_experts", true, 1, &e->num_experts, d);

    if (!rc) rc = hf_int(hf, "num_experts_per_tok", true, 1, &e->top_k, d);
    if (!rc) rc = hf_int(hf, "moe_intermediate_size", true, 1,
                         &e->expert_ffn, d);
    if (!rc) rc = hf_int(hf, "shared_expert_intermediate_size", false, 0,
                         &e->shared_ffn, d);
    e->num_shared = e->shared_ffn > 0;
    if (!rc && cJSON_GetArraySize(only) > 0)
        rc = diag_set(d, LLM_EINVAL, "mlp_only_layers: not supported (llmsim "
                      "models MoE on every layer after the leading dense "
                      "ones; expected [])");
    return rc ? rc : hf_every_layer(hf, "decoder_sparse_step", 1, d);
}

static int hf_moe(const cJSON *hf, const char *type, struct model *m,
                  struct llm_diag *d)
{
    struct model_moe *e = &m->moe;
    int rc;

    if (is_type(type, "deepseek"))
        return hf_moe_deepseek(hf, m, d);
    if (strcmp(type, "qwen2_moe") == 0)
        return hf_moe_qwen(hf, m, d);
    if (strcmp(type, "mixtral") != 0)
        return LLM_OK;
    rc = hf_int(hf, "num_local_experts", true, 1, &e->num_experts, d);
    if (!rc) rc = hf_int(hf, "num_experts_per_tok", true, 1, &e->top_k, d);
    e->expert_ffn = m->ffn;
    return rc;
}

static int hf_type(const cJSON *hf, const char **type, struct llm_diag *d)
{
    int rc = jcfg_str(hf, "", "model_type", true, type, d);
    int i;

    for (i = 0; !rc && hf_types[i] != NULL; i++)
        if (strcmp(hf_types[i], *type) == 0)
            return LLM_OK;
    return rc ? rc : diag_set(d, LLM_EINVAL, "model_type: unsupported \"%s\" "
                              "(supported: " HF_MODEL_TYPES "; or write the "
                              "catalog JSON by hand, models/README.md)",
                              *type);
}

/* Re-parses m through the catalog reader so that an imported entry obeys
 * exactly the checks a hand-written one does. */
static int hf_validate(struct model *m, struct llm_diag *d)
{
    cJSON *o = model_to_json(m, NULL);
    int rc;

    if (o == NULL)
        return diag_set(d, LLM_ENOMEM, "out of memory");
    rc = model_parse(o, m, d);
    cJSON_Delete(o);
    return rc;
}

int hf_to_model(const cJSON *hf, const char *id, struct model *m,
                struct llm_diag *d)
{
    const char *type = NULL;
    int rc;

    memset(m, 0, sizeof(*m));
    rc = hf_type(hf, &type, d);
    if (!rc && snprintf(m->id, sizeof(m->id), "%s", id) >= (int)sizeof(m->id))
        rc = diag_set(d, LLM_EINVAL, "--id: longer than %d characters",
                      (int)sizeof(m->id) - 1);
    if (!rc) rc = hf_common(hf, m, d);
    if (!rc) rc = hf_attention(hf, type, m, d);
    if (!rc) rc = hf_moe(hf, type, m, d);
    if (rc)
        return rc;
    snprintf(m->name, sizeof(m->name), "%s", id);
    snprintf(m->arch, sizeof(m->arch), "%s", type);
    return hf_validate(m, d);
}
