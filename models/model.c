#include "models/model.h"

#include <stdio.h>
#include <string.h>

#include "sim/jcfg.h"

static const char *const model_keys[] = {
    "id", "name", "source", "arch", "num_layers", "hidden_size", "num_heads",
    "num_kv_heads", "head_dim", "ffn_size", "vocab_size", "tied_embeddings",
    "max_context", "params_published", NULL
};

static int get_i32(const cJSON *o, const char *key, int32_t *out,
                   struct llm_diag *d)
{
    int64_t v = 0;
    int rc = jcfg_int(o, "", key, true, 1, INT32_MAX, &v, d);

    *out = (int32_t)v;
    return rc;
}

static int parse_model(const cJSON *o, struct model *m, struct llm_diag *d)
{
    const char *id = NULL, *name = NULL, *arch = NULL;
    int rc = jcfg_known(o, "", model_keys, d);

    memset(m, 0, sizeof(*m));
    if (!rc) rc = jcfg_str(o, "", "id", true, &id, d);
    if (!rc) rc = jcfg_str(o, "", "name", false, &name, d);
    if (!rc) rc = jcfg_str(o, "", "arch", true, &arch, d);
    if (!rc) rc = get_i32(o, "num_layers", &m->num_layers, d);
    if (!rc) rc = get_i32(o, "hidden_size", &m->hidden, d);
    if (!rc) rc = get_i32(o, "num_heads", &m->num_heads, d);
    if (!rc) rc = get_i32(o, "num_kv_heads", &m->num_kv_heads, d);
    if (!rc) rc = get_i32(o, "head_dim", &m->head_dim, d);
    if (!rc) rc = get_i32(o, "ffn_size", &m->ffn, d);
    if (!rc) rc = get_i32(o, "vocab_size", &m->vocab, d);
    if (!rc) rc = get_i32(o, "max_context", &m->max_context, d);
    if (!rc) rc = jcfg_bool(o, "", "tied_embeddings", false,
                            &m->tied_embeddings, d);
    if (!rc) rc = jcfg_num(o, "", "params_published", false, 0, 1e15,
                           &m->params_published, d);
    if (rc)
        return rc;
    if (strcmp(arch, "llama") != 0)
        return diag_set(d, LLM_EINVAL, "arch: unknown \"%s\" (known: llama)",
                        arch);
    if (m->num_heads % m->num_kv_heads != 0)
        return diag_set(d, LLM_EINVAL, "num_kv_heads: %d does not divide "
                        "num_heads %d", m->num_kv_heads, m->num_heads);
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
        rc = parse_model(root, m, d);
    cJSON_Delete(root);
    if (rc == LLM_OK)
        d->file = saved;
    return rc;
}

int model_find(const char *root, const char *id, struct model *m,
               struct llm_diag *d)
{
    char path[1024];
    FILE *f;

    if (strchr(id, '/') != NULL)
        return model_load(id, m, d);
    snprintf(path, sizeof(path), "%s/models/catalog/%s.json", root, id);
    f = fopen(path, "r");
    if (f == NULL)
        return diag_set(d, LLM_ENOTFOUND, "model \"%s\": no catalog entry "
                        "%s (add a JSON file there, or give a path)", id,
                        path);
    fclose(f);
    return model_load(path, m, d);
}

int64_t model_params(const struct model *m)
{
    int64_t h = m->hidden, hd = m->head_dim;
    int64_t attn = h * (m->num_heads * hd) * 2 + h * (m->num_kv_heads * hd) * 2;
    int64_t mlp = 3 * h * (int64_t)m->ffn;
    int64_t layer = attn + mlp + 2 * h;
    int64_t emb = (int64_t)m->vocab * h;

    return m->num_layers * layer + emb + (m->tied_embeddings ? 0 : emb) + h;
}

int64_t model_kv_bytes_per_token(const struct model *m, double kv_bytes)
{
    return (int64_t)(2.0 * m->num_layers * m->num_kv_heads * m->head_dim *
                     kv_bytes);
}
