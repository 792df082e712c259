/* policies/router_random.c: uniformly random routing.
 *
 * Each request goes to a replica drawn uniformly from a GSL Mersenne
 * Twister seeded from the run seed, so a run depends only on (config,
 * seed).  No parameters. */
#include <gsl/gsl_rng.h>

#include "policies/common.h"
#include "policies/registry.h"
#include "base/jcfg.h"

struct rnd {
    gsl_rng *rng;
};

static int random_init(void *st, int32_t n_replicas, uint64_t seed,
                       const cJSON *params, const char *path,
                       struct llm_diag *d)
{
    static const char *const keys[] = { "name", NULL };
    struct rnd *x = st;
    int rc = params ? jcfg_known(params, path, keys, d) : LLM_OK;

    (void)n_replicas;
    if (rc != LLM_OK)
        return rc;
    x->rng = gsl_rng_alloc(gsl_rng_mt19937);
    if (x->rng == NULL)
        return diag_set(d, LLM_ENOMEM, "out of memory");
    /* A stream of its own: the generators of the workload use the seed
     * itself. */
    gsl_rng_set(x->rng, (unsigned long)(seed ^ 0x726f75746572ULL));
    return LLM_OK;
}

static int32_t random_route(void *st, const struct request *q,
                            const struct replica *const *reps, int32_t n)
{
    struct rnd *x = st;

    (void)q;
    (void)reps;
    return (int32_t)gsl_rng_uniform_int(x->rng, (unsigned long)n);
}

static void random_fini(void *st)
{
    gsl_rng_free(((struct rnd *)st)->rng);
}

const struct router_ops router_random = {
    .name = "random",
    .state_size = sizeof(struct rnd),
    .init = random_init,
    .route = random_route,
    .fini = random_fini,
};
