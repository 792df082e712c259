#include "models/model.h"

#include <stdio.h>
#include <string.h>

#include "base/jcfg.h"
#include "base/paths.h"

static const char *const model_keys[] = {
    "id", "name", "source", "params_source", "arch", "num_layers",
    "hidden_size", "num_heads", "num_kv_heads", "head_dim", "ffn_size",
    "vocab_size", "tied_embeddings", "qkv_bias", "sliding_window",
    "max_context", "rope_theta", "rms_norm_eps", "params_published",
    "params_active_published", "moe", "mla", NULL
};
static const char *const moe_keys[] = {
    "num_experts", "top_k", "expert_ffn_size", "shared_experts",
    "shared_ffn_size", "first_dense_layers", NULL
};
static const char *const mla_keys[] = {
    "q_lora_rank", "kv_lora_rank", "qk_nope_head_dim", "qk_rope_head_dim",
    "v_head_dim", NULL
};
static const char *const archs[] = {
    "llama", "mistral", "mixtral", "qwen2", "qwen2_moe", "phi3",
    "deepseek_v2", "deepseek_v3", NULL
};
#define ARCH_LIST "llama, mistral, mixtral, qwen2, qwen2_moe, phi3, " \
                  "deepseek_v2, deepseek_v3"

int32_t model_dim_max(const char *key)
{
    static const struct { const char *key; int32_t max; } dims[] = {
        { "num_layers", 1024 }, { "num_hidden_layers", 1024 },
        { "first_dense_layers", 1024 }, { "first_k_dense_replace", 1024 },
        { "hidden_size", 1 << 17 },
        { "num_heads", 4096 }, { "num_attention_heads", 4096 },
        { "num_kv_heads", 4096 }, { "num_key_value_heads", 4096 },
        { "head_dim", 4096 }, { "qk_nope_head_dim", 4096 },
        { "qk_rope_head_dim", 4096 }, { "v_head_dim", 4096 },
        { "ffn_size", 1 << 20 }, { "intermediate_size", 1 << 20 },
        { "expert_ffn_size", 1 << 20 }, { "moe_intermediate_size", 1 << 20 },
        { "shared_ffn_size", 1 << 20 },
        { "shared_expert_intermediate_size", 1 << 20 },
        { "vocab_size", 1 << 24 }, { "max_context", 1 << 24 },
        { "max_position_embeddings", 1 << 24 }, { "sliding_window", 1 << 24 },
        { "num_experts", 4096 }, { "n_routed_experts", 4096 },
        { "num_local_experts", 4096 }, { "top_k", 4096 },
        { "num_experts_per_tok", 4096 }, { "shared_experts", 4096 },
        { "n_shared_experts", 4096 },
        { "q_lora_rank", 1 << 16 }, { "kv_lora_rank", 1 << 16 },
    };
    size_t i;

    for (i = 0; i < sizeof(dims) / sizeof(dims[0]); i++)
        if (strcmp(dims[i].key, key) == 0)
            return dims[i].max;
    return INT32_MAX;
}

/* An integer in [lo, model_dim_max(key)]; a missing optional key keeps
 * *out. */
static int get_i32(const cJSON *o, const char *path, const char *key,
                   bool required, int64_t lo, int32_t *out,
                   struct llm_diag *d)
{
    int64_t v = *out;
    int rc = jcfg_int(o, path, key, required, lo, model_dim_max(key), &v, d);

    *out = (int32_t)v;
    return rc;
}

static bool arch_known(const char *arch)
{
    int i;

    for (i = 0; archs[i] != NULL; i++)
        if (strcmp(archs[i], arch) == 0)
            return true;
    return false;
}

static int parse_moe(const cJSON *o, struct model *m, struct llm_diag *d)
{
    const cJSON *x = NULL;
    struct model_moe *e = &m->moe;
    int rc = jcfg_obj(o, "", "moe", false, &x, d);

    if (rc || x == NULL)
        return rc;
    rc = jcfg_known(x, "moe", moe_keys, d);
    if (!rc) rc = get_i32(x, "moe", "num_experts", true, 1,
                          &e->num_experts, d);
    if (!rc) rc = get_i32(x, "moe", "top_k", true, 1, &e->top_k, d);
    if (!rc) rc = get_i32(x, "moe", "expert_ffn_size", true, 1,
                          &e->expert_ffn, d);
    if (!rc) rc = get_i32(x, "moe", "shared_experts", false, 0,
                          &e->num_shared, d);
    e->shared_ffn = e->num_shared ? e->expert_ffn : 0;
    if (!rc) rc = get_i32(x, "moe", "shared_ffn_size", false, 0,
                          &e->shared_ffn, d);
    if (!rc) rc = get_i32(x, "moe", "first_dense_layers", false, 0,
                          &e->first_dense, d);
    if (!rc && e->top_k > e->num_experts)
        rc = diag_set(d, LLM_EINVAL, "moe.top_k: %d exceeds moe.num_experts "
                      "%d", e->top_k, e->num_experts);
    if (!rc && e->first_dense > m->num_layers)
        rc = diag_set(d, LLM_EINVAL, "moe.first_dense_layers: %d exceeds "
                      "num_layers %d", e->first_dense, m->num_layers);
    return rc;
}

static int parse_mla(const cJSON *o, struct model *m, struct llm_diag *d)
{
    const cJSON *x = NULL;
    struct model_mla *a = &m->mla;
    int rc = jcfg_obj(o, "", "mla", false, &x, d);

    if (rc || x == NULL)
        return rc;
    rc = jcfg_known(x, "mla", mla_keys, d);
    if (!rc) rc = get_i32(x, "mla", "q_lora_rank", false, 0,
                          &a->q_lora_rank, d);
    if (!rc) rc = get_i32(x, "mla", "kv_lora_rank", true, 1,
                          &a->kv_lora_rank, d);
    if (!rc) rc = get_i32(x, "mla", "qk_nope_head_dim", true, 1,
                          &a->qk_nope_head_dim, d);
    if (!rc) rc = get_i32(x, "mla", "qk_rope_head_dim", true, 1,
                          &a->qk_rope_head_dim, d);
    if (!rc) rc = get_i32(x, "mla", "v_head_dim", true, 1, &a->v_head_dim, d);
    if (!rc && m->head_dim != a->qk_nope_head_dim + a->qk_rope_head_dim)
        rc = diag_set(d, LLM_EINVAL, "head_dim: expected qk_nope_head_dim + "
                      "qk_rope_head_dim = %d for MLA, got %d",
                      a->qk_nope_head_dim + a->qk_rope_head_dim, m->head_dim);
    return rc;
}

static int parse_shape(const cJSON *o, struct model *m, struct llm_diag *d)
{
    int rc = get_i32(o, "", "num_layers", true, 1, &m->num_layers, d);

    if (!rc) rc = get_i32(o, "", "hidden_size", true, 1, &m->hidden, d);
    if (!rc) rc = get_i32(o, "", "num_heads", true, 1, &m->num_heads, d);
    if (!rc) rc = get_i32(o, "", "num_kv_heads", true, 1, &m->num_kv_heads, d);
    if (!rc) rc = get_i32(o, "", "head_dim", true, 1, &m->head_dim, d);
    if (!rc) rc = get_i32(o, "", "ffn_size", true, 1, &m->ffn, d);
    if (!rc) rc = get_i32(o, "", "vocab_size", true, 1, &m->vocab, d);
    if (!rc) rc = get_i32(o, "", "max_context", true, 1, &m->max_context, d);
    if (!rc) rc = get_i32(o, "", "sliding_window", false, 0,
                          &m->sliding_window, d);
    if (!rc) rc = jcfg_bool(o, "", "tied_embeddings", false,
                            &m->tied_embeddings, d);
    if (!rc) rc = jcfg_bool(o, "", "qkv_bias", false, &m->qkv_bias, d);
    if (!rc) rc = jcfg_num(o, "", "rope_theta", false, 0, 1e12,
                           &m->rope_theta, d);
    if (!rc) rc = jcfg_num(o, "", "rms_norm_eps", false, 0, 1,
                           &m->rms_norm_eps, d);
    if (!rc) rc = jcfg_num(o, "", "params_published", false, 0, 1e15,
                           &m->params_published, d);
    if (!rc) rc = jcfg_num(o, "", "params_active_published", false, 0, 1e15,
                           &m->params_active_published, d);
    if (!rc && m->num_heads % m->num_kv_heads != 0)
        rc = diag_set(d, LLM_EINVAL, "num_kv_heads: %d does not divide "
                      "num_heads %d", m->num_kv_heads, m->num_heads);
    return rc;
}

int model_parse(const cJSON *o, struct model *m, struct llm_diag *d)
{
    const char *id = NULL, *name = NULL, *arch = NULL;
    int rc = jcfg_known(o, "", model_keys, d);

    memset(m, 0, sizeof(*m));
    if (!rc) rc = jcfg_str(o, "", "id", true, &id, d);
    if (!rc) rc = jcfg_str(o, "", "name", false, &name, d);
    if (!rc) rc = jcfg_str(o, "", "arch", true, &arch, d);
    if (!rc && !arch_known(arch))
        rc = diag_set(d, LLM_EINVAL, "arch: unknown \"%s\" (known: "
                      ARCH_LIST ")", arch);
    if (!rc) rc = parse_shape(o, m, d);
    if (!rc) rc = parse_moe(o, m, d);
    if (!rc) rc = parse_mla(o, m, d);
    if (rc)
        return rc;
    snprintf(m->id, sizeof(m->id), "%s", id);
    snprintf(m->name, sizeof(m->name), "%s", name ? name : id);
    snprintf(m->arch, sizeof(m->arch), "%s", arch);
    return LLM_OK;
}

int model_load(const char *path, struct model *m, struct llm_diag *d)
{
    cJSON *root = NULL;
    const char *saved = d->file;
    int rc;

    d->file = path;
    rc = jcfg_load(path, &root, d);
    if (rc == LLM_OK)
        rc = model_parse(root, m, d);
    cJSON_Delete(root);
    if (rc == LLM_OK)
        d->file = saved;
    return rc;
}

bool model_id_is_path(const char *id)
{
    size_t n = strlen(id);

    return strchr(id, '/') != NULL && n > 5 &&
           strcmp(id + n - 5, ".json") == 0;
}

static bool readable(const char *path)
{
    FILE *f = fopen(path, "r");

    if (f != NULL)
        fclose(f);
    return f != NULL;
}

bool model_id_ok(const char *id)
{
    return jcfg_name_ok(id) || model_id_is_path(id);
}

int model_find(const char *root, const char *id, struct model *m,
               struct llm_diag *d)
{
    char path[1024], user[1024], upath[1100], e[100];

    if (model_id_is_path(id))
        return model_load(id, m, d);
    if (!jcfg_name_ok(id))
        return diag_set(d, LLM_EINVAL, "model \"%s\": expected "
                        MODEL_ID_WHAT, diag_escape(id, e, sizeof(e)));
    snprintf(path, sizeof(path), "%s/models/catalog/%s.json", root, id);
    if (readable(path))
        return model_load(path, m, d);
    if (llm_user_catalog(user, sizeof(user)) != NULL) {
        snprintf(upath, sizeof(upath), "%s/%s.json", user, id);
        if (readable(upath))
            return model_load(upath, m, d);
        return diag_set(d, LLM_ENOTFOUND, "model \"%s\": no catalog entry "
                        "%s nor %s (llmsim memory --import-hf adds one to "
                        "the user catalog; or give a path to a model file)",
                        id, path, upath);
    }
    return diag_set(d, LLM_ENOTFOUND, "model \"%s\": no catalog entry "
                    "%s (add a JSON file there, or give a path)", id, path);
}

/* ---- serialisation ---------------------------------------------------- */

static bool add_num(cJSON *o, const char *key, double v)
{
    return cJSON_AddNumberToObject(o, key, v) != NULL;
}

static bool moe_to_json(const struct model_moe *e, cJSON *o)
{
    cJSON *x = cJSON_AddObjectToObject(o, "moe");

    return x && add_num(x, "num_experts", e->num_experts) &&
           add_num(x, "top_k", e->top_k) &&
           add_num(x, "expert_ffn_size", e->expert_ffn) &&
           add_num(x, "shared_experts", e->num_shared) &&
           add_num(x, "shared_ffn_size", e->shared_ffn) &&
           add_num(x, "first_dense_layers", e->first_dense);
}

static bool mla_to_json(const struct model_mla *a, cJSON *o)
{
    cJSON *x = cJSON_AddObjectToObject(o, "mla");

    return x && add_num(x, "q_lora_rank", a->q_lora_rank) &&
           add_num(x, "kv_lora_rank", a->kv_lora_rank) &&
           add_num(x, "qk_nope_head_dim", a->qk_nope_head_dim) &&
           add_num(x, "qk_rope_head_dim", a->qk_rope_head_dim) &&
           add_num(x, "v_head_dim", a->v_head_dim);
}

static bool shape_to_json(const struct model *m, cJSON *o)
{
    bool ok = add_num(o, "num_layers", m->num_layers) &&
              add_num(o, "hidden_size", m->hidden) &&
              add_num(o, "num_heads", m->num_heads) &&
              add_num(o, "num_kv_heads", m->num_kv_heads) &&
              add_num(o, "head_dim", m->head_dim) &&
              add_num(o, "ffn_size", m->ffn) &&
              add_num(o, "vocab_size", m->vocab) &&
              cJSON_AddBoolToObject(o, "tied_embeddings",
                                    m->tied_embeddings) &&
              cJSON_AddBoolToObject(o, "qkv_bias", m->qkv_bias) &&
              add_num(o, "sliding_window", m->sliding_window) &&
              add_num(o, "max_context", m->max_context);

    if (ok && m->rope_theta > 0)
        ok = add_num(o, "rope_theta", m->rope_theta);
    if (ok && m->rms_norm_eps > 0)
        ok = add_num(o, "rms_norm_eps", m->rms_norm_eps);
    if (ok && m->params_published > 0)
        ok = add_num(o, "params_published", m->params_published);
    if (ok && m->params_active_published > 0)
        ok = add_num(o, "params_active_published", m->params_active_published);
    return ok;
}

cJSON *model_to_json(const struct model *m, const char *source)
{
    cJSON *o = cJSON_CreateObject();
    bool ok = o && cJSON_AddStringToObject(o, "id", m->id) &&
              cJSON_AddStringToObject(o, "name", m->name) &&
              (source == NULL ||
               cJSON_AddStringToObject(o, "source", source)) &&
              cJSON_AddStringToObject(o, "arch", m->arch) &&
              shape_to_json(m, o);

    if (ok && model_is_moe(m))
        ok = moe_to_json(&m->moe, o);
    if (ok && model_is_mla(m))
        ok = mla_to_json(&m->mla, o);
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

/* ---- counts ----------------------------------------------------------- */

void model_layer_kinds(const struct model *m, int32_t first, int32_t count,
                       int32_t *dense, int32_t *moe)
{
    int32_t end = first + count;
    int32_t fd = model_is_moe(m) ? m->moe.first_dense : m->num_layers;
    int32_t d_end = end < fd ? end : fd;

    *dense = d_end > first ? d_end - first : 0;
    *moe = count - *dense;
}

static int64_t mla_attn_params(const struct model *m)
{
    const struct model_mla *a = &m->mla;
    int64_t h = m->hidden, H = m->num_heads;
    int64_t qk = a->qk_nope_head_dim + a->qk_rope_head_dim;
    int64_t q = a->q_lora_rank
        ? h * a->q_lora_rank + a->q_lora_rank + a->q_lora_rank * H * qk
        : h * H * qk;
    int64_t kv_a = h * (a->kv_lora_rank + a->qk_rope_head_dim) +
                   a->kv_lora_rank;
    int64_t kv_b = (int64_t)a->kv_lora_rank * H *
                   (a->qk_nope_head_dim + a->v_head_dim);

    return q + kv_a + kv_b + H * a->v_head_dim * h;
}

int64_t model_attn_params(const struct model *m)
{
    int64_t h = m->hidden, hd = m->head_dim;
    int64_t q = m->num_heads * hd, kv = m->num_kv_heads * hd;

    if (model_is_mla(m))
        return mla_attn_params(m);
    return 2 * h * q + 2 * h * kv + (m->qkv_bias ? q + 2 * kv : 0);
}

int64_t model_mlp_params(const struct model *m)
{
    return 3 * (int64_t)m->hidden * m->ffn;
}

int64_t model_moe_params(const struct model *m)
{
    const struct model_moe *e = &m->moe;
    int64_t h = m->hidden;

    return h * e->num_experts +
           3 * h * ((int64_t)e->num_experts * e->expert_ffn +
                    (int64_t)e->num_shared * e->shared_ffn);
}

/* Per-token MoE parameters: router, top_k routed and the shared experts. */
static int64_t moe_active_params(const struct model *m)
{
    const struct model_moe *e = &m->moe;
    int64_t h = m->hidden;

    return h * e->num_experts +
           3 * h * ((int64_t)e->top_k * e->expert_ffn +
                    (int64_t)e->num_shared * e->shared_ffn);
}

static int64_t layers_params(const struct model *m, int64_t moe_block)
{
    int32_t dense, moe;
    int64_t base = model_attn_params(m) + 2 * (int64_t)m->hidden;

    model_layer_kinds(m, 0, m->num_layers, &dense, &moe);
    return dense * (base + model_mlp_params(m)) + moe * (base + moe_block);
}

int64_t model_params(const struct model *m)
{
    int64_t emb = (int64_t)m->vocab * m->hidden;

    return layers_params(m, model_moe_params(m)) + emb +
           (m->tied_embeddings ? 0 : emb) + m->hidden;
}

int64_t model_active_params(const struct model *m)
{
    return layers_params(m, moe_active_params(m)) +
           (int64_t)m->vocab * m->hidden + m->hidden;
}

int64_t model_kv_elems_per_token_layer(const struct model *m)
{
    if (model_is_mla(m))
        return (int64_t)m->mla.kv_lora_rank + m->mla.qk_rope_head_dim;
    return 2 * (int64_t)m->num_kv_heads * m->head_dim;
}

int64_t model_kv_bytes_per_token(const struct model *m, double kv_bytes)
{
    return (int64_t)((double)m->num_layers *
                     (double)model_kv_elems_per_token_layer(m) * kv_bytes);
}
