/* policies/router_least_tokens.c: the replica with the least work left,
 * by "load": "tokens" (the default: forward tokens still to run over all
 * its requests, prompts, recomputations and decodes) or "kv" (the
 * fraction of its KV pool in use plus the blocks its waiting prompts
 * need, which compares replicas of different memory).  Ties go to the
 * lowest index. */
#include "policies/common.h"
#include "policies/registry.h"
#include "base/jcfg.h"

struct least_tokens {
    enum pol_load load;
};

static int lt_init(void *st, int32_t n_replicas, uint64_t seed,
                   const cJSON *params, const char *path, struct llm_diag *d)
{
    static const char *const keys[] = { "name", "load", NULL };
    struct least_tokens *l = st;
    int rc;

    (void)n_replicas;
    (void)seed;
    l->load = POL_LOAD_TOKENS;
    if (params == NULL)
        return LLM_OK;
    rc = jcfg_known(params, path, keys, d);
    if (!rc) rc = pol_read_load(params, path, "load", &l->load, d);
    if (!rc && l->load == POL_LOAD_REQUESTS)
        rc = diag_set(d, LLM_EINVAL, "%s.load: expected \"tokens\" or "
                      "\"kv\" (least_outstanding counts requests), got "
                      "\"requests\"", path);
    return rc;
}

static int32_t lt_route(void *st, const struct request *q,
                        const struct replica *const *reps, int32_t n)
{
    (void)q;
    return pol_least_loaded(((struct least_tokens *)st)->load, reps, n);
}

const struct router_ops router_least_tokens = {
    .name = "least_tokens",
    .state_size = sizeof(struct least_tokens),
    .init = lt_init,
    .route = lt_route,
};
