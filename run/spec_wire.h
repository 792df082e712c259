/* run/spec_wire.h: the scenario's "speculative" section (docs/config.md,
 * docs/speculative.md), resolved for a run.
 *
 * spec_setup_load parses the section with sim/spec.h, resolves the
 * drafter (a catalog model, or for EAGLE one decoder layer of the target's
 * shape with the target's LM head), its device (the target's, or for
 * Mirror-SD another catalog device), its sharding and, for Mirror-SD, the
 * link between the two devices; it checks that a drafter's cost model can
 * be built.  spec_setup_memory charges a drafter on the target's GPUs to
 * the memory plan as vLLM does: its weights come out of the KV budget and
 * its layers' KV goes into every block (vLLM's KV cache holds the draft
 * layers beside the target's).  Errors name speculative.KEY.  The setup
 * borrows the parsed JSON. */
#ifndef LLM_SPEC_WIRE_H
#define LLM_SPEC_WIRE_H

#include <stdbool.h>

#include <cjson/cJSON.h>

#include "hw/device.h"
#include "models/memplan.h"
#include "models/model.h"
#include "models/ops.h"
#include "base/diag.h"
#include "sim/spec.h"

struct spec_setup {
    bool on;
    struct spec_config cfg;
    struct spec_names names;
    struct model draft;            /* the drafter's model */
    struct device dev;             /* the device it runs on */
    struct shard shard;            /* its sharding there */
    const cJSON *cost_params;      /* its cost model's (may be NULL) */
    bool same_device;              /* on the target's GPUs */
};

/* o: the "speculative" object (NULL: off, *out zeroed).  target_cost:
 * the scenario's cost_model object, the drafter's default on the same
 * device. */
int spec_setup_load(const cJSON *o, const struct model *target,
                    const struct device *dev, const struct shard *s,
                    const cJSON *target_cost, uint64_t seed,
                    struct spec_setup *out, struct llm_diag *d);

/* Takes a same-device drafter's weights and KV out of plan (block_tokens
 * tokens a block); LLM_ERANGE naming speculative.draft_model when no
 * block is left.  Nothing to do for a drafter elsewhere. */
int spec_setup_memory(const struct spec_setup *sp, int32_t block_tokens,
                      struct mem_plan *plan, struct llm_diag *d);

/* The drafter's weight bytes per GPU. */
double spec_setup_draft_weights(const struct spec_setup *sp);

#endif
