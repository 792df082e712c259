/* models/model.h: the model catalog.
 *
 * One JSON file per model under models/catalog/<id>.json (see
 * models/README.md for every key).  model_load parses one file into a
 * plain struct model (no pointers; copy freely).  model_find looks an id up
 * in the catalog folder of an llmsim root (see hw/paths.h).  Errors name
 * the file and the key.  Figures are architecture facts, never tuned. */
#ifndef LLM_MODEL_H
#define LLM_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "sim/diag.h"

struct model {
    char id[64];
    char name[128];
    char arch[32];             /* "llama" (dense, GQA); more in models/ */
    int32_t num_layers;
    int32_t hidden;
    int32_t num_heads;         /* query heads */
    int32_t num_kv_heads;      /* == num_heads: MHA, 1: MQA, else GQA */
    int32_t head_dim;
    int32_t ffn;               /* intermediate size of the gated MLP */
    int32_t vocab;
    bool tied_embeddings;
    int32_t max_context;
    double params_published;   /* the model card's figure, for checks */
};

int model_load(const char *path, struct model *m, struct llm_diag *d);
/* root: the llmsim data root; id: e.g. "llama-3-8b".  LLM_ENOTFOUND
 * names the id when no catalog file exists. */
int model_find(const char *root, const char *id, struct model *m,
               struct llm_diag *d);

/* Parameter count from the architecture (embeddings, attention, MLP,
 * norms, LM head unless tied). */
int64_t model_params(const struct model *m);

/* Bytes of K and V for one token across all layers, before sharding. */
int64_t model_kv_bytes_per_token(const struct model *m, double kv_bytes);

#endif
