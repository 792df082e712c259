#include "run/spec_wire.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "hw/cost.h"
#include "base/paths.h"

#define PATH "speculative"

/* EAGLE's draft head: one decoder layer of the target's shape, reading
 * the target's embedding and LM head (Li et al., EAGLE, ICML 2024;
 * vLLM's EagleProposer shares them with the target). */
static void eagle_head(const struct model *target, struct model *m)
{
    *m = *target;
    snprintf(m->id, sizeof(m->id), "eagle-head");
    m->num_layers = 1;
    if (m->moe.first_dense > 1)
        m->moe.first_dense = 1;
    m->params_published = 0;
}

static int load_drafter(const struct spec_setup *sp, const struct model *t,
                        struct model *m, struct llm_diag *d)
{
    if (sp->cfg.method == SPEC_EAGLE) {
        eagle_head(t, m);
        return LLM_OK;
    }
    return model_find(llm_root(), sp->names.draft_model, m, d);
}

/* The drafter's device and the link to it (Mirror-SD), else the
 * target's device. */
static int load_device(struct spec_setup *sp, const struct device *dev,
                       struct llm_diag *d)
{
    struct link ln;
    int rc;

    sp->same_device = sp->names.draft_device == NULL;
    if (sp->same_device) {
        sp->dev = *dev;
        return LLM_OK;
    }
    rc = device_find(llm_root(), sp->names.draft_device, &sp->dev, d);
    ln = sp->dev.host_link;
    if (!rc && sp->names.link)
        rc = link_find(llm_root(), sp->names.link, &ln, d);
    sp->cfg.link_bw_bytes_s = ln.bw_bytes_s;
    sp->cfg.link_latency_ns = (int64_t)llround(ln.latency_s * 1e9);
    return rc;
}

/* Same device: the target's tp (vLLM runs the drafter with the target's
 * tensor parallelism); another device: 1 unless draft_tp says. */
static int load_shard(struct spec_setup *sp, const struct shard *s,
                      struct llm_diag *d)
{
    int rc;

    sp->shard = *s;
    sp->shard.pp = 1;
    sp->shard.ep = 1;
    sp->shard.stage = OPS_ALL_STAGES;
    sp->shard.tp = sp->names.draft_tp > 0 ? (int32_t)sp->names.draft_tp :
                   sp->same_device ? s->tp : 1;
    rc = ops_check_shard(&sp->draft, &sp->shard, d);
    if (rc) {
        char why[512];
        snprintf(why, sizeof(why), "%s", d->msg);
        return diag_set(d, rc, "%s.draft_tp: the drafter %s at tp %d: %s",
                        PATH, sp->draft.id, (int)sp->shard.tp, why);
    }
    return LLM_OK;
}

/* Builds and drops the drafter's cost model, so that a run never fails
 * on it. */
static int check_cost(const struct spec_setup *sp, struct llm_diag *d)
{
    struct cost_env env = { .model = &sp->draft, .dev = &sp->dev,
                            .shard = sp->shard, .root = llm_root() };
    struct cost_model *c = NULL;
    int rc = cost_create(&env, sp->cost_params, PATH ".draft_cost_model",
                         &c, d);

    cost_destroy(c);
    return rc;
}

int spec_setup_load(const cJSON *o, const struct model *target,
                    const struct device *dev, const struct shard *s,
                    const cJSON *target_cost, uint64_t seed,
                    struct spec_setup *out, struct llm_diag *d)
{
    int rc;

    memset(out, 0, sizeof(*out));
    if (o == NULL)
        return LLM_OK;
    rc = spec_parse(o, PATH, &out->cfg, &out->names, d);
    if (!rc && s->pp > 1)
        rc = diag_set(d, LLM_EINVAL, "%s: needs hardware.pp 1 (got %d)",
                      PATH, (int)s->pp);
    if (!rc) rc = load_drafter(out, target, &out->draft, d);
    if (!rc) rc = load_device(out, dev, d);
    if (!rc) rc = load_shard(out, s, d);
    if (rc)
        return rc;
    out->cost_params = out->names.draft_cost_model ?
                       out->names.draft_cost_model :
                       out->same_device ? target_cost : NULL;
    out->cfg.seed = seed;
    if (!out->same_device &&
        spec_setup_draft_weights(out) > out->dev.mem_bytes)
        return diag_set(d, LLM_ERANGE, "%s.draft_model: %s's weights do "
                        "not fit %s's memory", PATH, out->draft.id,
                        out->dev.id);
    rc = check_cost(out, d);
    out->on = rc == LLM_OK;
    return rc;
}

double spec_setup_draft_weights(const struct spec_setup *sp)
{
    struct mem_weights w;

    memplan_stage_weights(&sp->draft, &sp->shard, 0, &w);
    if (sp->cfg.method == SPEC_EAGLE)
        w.embed = w.lm_head = 0;        /* the target's */
    return memplan_weights_total(&w);
}

int spec_setup_memory(const struct spec_setup *sp, int32_t block_tokens,
                      struct mem_plan *plan, struct llm_diag *d)
{
    double kv, block;

    if (!sp->on || !sp->same_device)
        return LLM_OK;
    kv = plan->kv_bytes - spec_setup_draft_weights(sp);
    block = plan->block_bytes + block_tokens *
            memplan_kv_bytes_per_token(&sp->draft, &sp->shard,
                                       sp->draft.num_layers);
    if (kv < block)
        return diag_set(d, LLM_ERANGE, "%s.draft_model: with the drafter "
                        "%s's weights and KV no KV block fits on %s", PATH,
                        sp->draft.id, sp->dev.id);
    plan->kv_bytes = kv;
    plan->block_bytes = block;
    plan->kv_blocks = (int64_t)floor(kv / block);
    plan->kv_tokens = plan->kv_blocks * block_tokens;
    return LLM_OK;
}
