/* policies/router_power_of_two.c: power of two choices.
 *
 * Two distinct replicas are drawn uniformly (GSL Mersenne Twister seeded
 * from the run seed) and the request goes to the less loaded of the two
 * ("load": "requests", the default, "tokens" or "kv", as the least_*
 * routers; ties to the first drawn).  Mitzenmacher, "The Power of Two
 * Choices in Randomized Load Balancing" (IEEE TPDS 2001). */
#include <gsl/gsl_rng.h>

#include "policies/common.h"
#include "policies/registry.h"
#include "base/jcfg.h"

struct p2c {
    gsl_rng *rng;
    enum pol_load load;
};

static int p2c_init(void *st, int32_t n_replicas, uint64_t seed,
                    const cJSON *params, const char *path,
                    struct llm_diag *d)
{
    static const char *const keys[] = { "name", "load", NULL };
    struct p2c *x = st;
    int rc = LLM_OK;

    (void)n_replicas;
    x->load = POL_LOAD_REQUESTS;
    if (params != NULL) {
        rc = jcfg_known(params, path, keys, d);
        if (!rc) rc = pol_read_load(params, path, "load", &x->load, d);
    }
    if (rc != LLM_OK)
        return rc;
    x->rng = gsl_rng_alloc(gsl_rng_mt19937);
    if (x->rng == NULL)
        return diag_set(d, LLM_ENOMEM, "out of memory");
    gsl_rng_set(x->rng, (unsigned long)(seed ^ 0x70326372ULL));
    return LLM_OK;
}

static int32_t p2c_route(void *st, const struct request *q,
                         const struct replica *const *reps, int32_t n)
{
    struct p2c *x = st;
    int32_t a, b;

    (void)q;
    if (n < 2)
        return 0;
    a = (int32_t)gsl_rng_uniform_int(x->rng, (unsigned long)n);
    /* The second is drawn from the other n - 1. */
    b = (int32_t)gsl_rng_uniform_int(x->rng, (unsigned long)n - 1);
    if (b >= a)
        b++;
    return pol_load(x->load, reps[b]) < pol_load(x->load, reps[a]) ? b
                                                                      : a;
}

static void p2c_fini(void *st)
{
    gsl_rng_free(((struct p2c *)st)->rng);
}

const struct router_ops router_power_of_two = {
    .name = "power_of_two",
    .state_size = sizeof(struct p2c),
    .init = p2c_init,
    .route = p2c_route,
    .fini = p2c_fini,
};
