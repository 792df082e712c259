/* policies/router_rr.c: round robin, the default router. */
#include "policies/registry.h"
#include "base/jcfg.h"

struct rr {
    int32_t next;
};

static int rr_init(void *st, int32_t n_replicas, uint64_t seed,
                   const cJSON *params, const char *path, struct llm_diag *d)
{
    static const char *const keys[] = { "name", NULL };

    (void)st;
    (void)n_replicas;
    (void)seed;
    return params ? jcfg_known(params, path, keys, d) : LLM_OK;
}

static int32_t rr_route(void *st, const struct request *q,
                        const struct replica *const *reps, int32_t n)
{
    struct rr *r = st;
    int32_t i = r->next;

    (void)q;
    (void)reps;
    r->next = (r->next + 1) % n;
    return i;
}

const struct router_ops router_round_robin = {
    .name = "round_robin",
    .state_size = sizeof(struct rr),
    .init = rr_init,
    .route = rr_route,
};
