/* policies/router_least_outstanding.c: the replica with the fewest
 * requests in it (waiting, running or swapped); ties go to the lowest
 * index.  No parameters. */
#include "policies/common.h"
#include "policies/registry.h"
#include "base/jcfg.h"

static int lo_init(void *st, int32_t n_replicas, uint64_t seed,
                   const cJSON *params, const char *path, struct llm_diag *d)
{
    static const char *const keys[] = { "name", NULL };

    (void)st;
    (void)n_replicas;
    (void)seed;
    return params ? jcfg_known(params, path, keys, d) : LLM_OK;
}

static int32_t lo_route(void *st, const struct request *q,
                        const struct replica *const *reps, int32_t n)
{
    (void)st;
    (void)q;
    return pol_least_loaded(POL_LOAD_REQUESTS, reps, n);
}

const struct router_ops router_least_outstanding = {
    .name = "least_outstanding",
    .init = lo_init,
    .route = lo_route,
};
