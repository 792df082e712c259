/* models/hf.h: Hugging Face config.json -> llmsim catalog entry.
 *
 * hf_to_model maps the keys a transformers config.json of a supported
 * model_type carries (num_hidden_layers, num_key_value_heads,
 * intermediate_size, num_local_experts, n_routed_experts, kv_lora_rank,
 * ...) onto struct model, so a user adds a model without a code change:
 * `llmsim memory --import-hf config.json --id NAME` writes the catalog
 * file.  Keys that only matter to training (dropout, initializer_range)
 * are ignored; a layout llmsim cannot represent (MoE on every other
 * layer, a null required key) is an error naming the key.  Pure: reads
 * the cJSON tree, allocates nothing. */
#ifndef LLM_HF_H
#define LLM_HF_H

#include <cjson/cJSON.h>

#include "models/model.h"
#include "base/diag.h"

/* Supported model_type values, comma-separated (for messages). */
#define HF_MODEL_TYPES "llama, mistral, mixtral, qwen2, qwen2_moe, phi3, " \
                       "deepseek_v2, deepseek_v3"

/* Fills m from the config object hf, with id (and name) id.  LLM_EINVAL
 * names the offending key: "model_type: unsupported \"gpt2\" (supported:
 * ...)", "num_hidden_layers: missing (expected a positive integer)". */
int hf_to_model(const cJSON *hf, const char *id, struct model *m,
                struct llm_diag *d);

#endif
