/* policies/router_weighted.c: routing for replicas of unequal speed.
 *
 * Each replica has a weight: "weights" in the config (one number > 0 per
 * replica), else the replica's own weight (replica_config.weight, which
 * the run may derive from the device; 1 when unset).  "policy":
 * "round_robin" (the default) is smooth weighted round robin (nginx's:
 * every replica gains its weight, the richest takes the request and pays
 * the total), so replica i gets weight_i / sum of the requests, evenly
 * interleaved; "least_load" sends each request to the replica with the
 * least load per weight ("load" as the least_* routers, "tokens" by
 * default; ties to the lowest index).
 * Reference: nginx src/http/ngx_http_upstream_round_robin.c
 * (ngx_http_upstream_get_peer). */
#include <stdlib.h>

#include "policies/common.h"
#include "policies/registry.h"
#include "base/jcfg.h"

struct weighted {
    double *w;                 /* config weights, NULL: the replicas' */
    double *cur;               /* smooth WRR credit */
    int32_t n;
    int policy;                /* 0 round robin, 1 least load */
    enum pol_load load;
};

static void weighted_fini(void *st)
{
    struct weighted *x = st;

    free(x->w);
    free(x->cur);
    x->w = x->cur = NULL;
}

static int read_weights(struct weighted *x, const cJSON *params,
                        const char *path, struct llm_diag *d)
{
    const cJSON *arr = NULL, *it;
    int32_t i = 0;
    int rc = jcfg_arr(params, path, "weights", false, &arr, d);

    if (rc || arr == NULL)
        return rc;
    if (cJSON_GetArraySize(arr) != x->n)
        return diag_set(d, LLM_EINVAL, "%s.weights: expected %d numbers "
                        "(one per replica), got %d", path, x->n,
                        cJSON_GetArraySize(arr));
    x->w = calloc((size_t)x->n, sizeof(*x->w));
    if (x->w == NULL)
        return diag_set(d, LLM_ENOMEM, "out of memory");
    cJSON_ArrayForEach(it, arr) {
        if (!cJSON_IsNumber(it) || !(it->valuedouble > 0))
            return diag_set(d, LLM_EINVAL, "%s.weights[%d]: expected a "
                            "number > 0", path, i);
        x->w[i++] = it->valuedouble;
    }
    return LLM_OK;
}

static int weighted_init(void *st, int32_t n_replicas, uint64_t seed,
                         const cJSON *params, const char *path,
                         struct llm_diag *d)
{
    static const char *const keys[] = { "name", "weights", "policy", "load",
                                        NULL };
    static const char *const policies[] = { "round_robin", "least_load",
                                            NULL };
    struct weighted *x = st;
    int rc = LLM_OK;

    (void)seed;
    x->n = n_replicas;
    x->load = POL_LOAD_TOKENS;
    if (params != NULL) {
        rc = jcfg_known(params, path, keys, d);
        if (!rc) rc = pol_read_enum(params, path, "policy", policies,
                                    &x->policy, d);
        if (!rc) rc = pol_read_load(params, path, "load", &x->load, d);
        if (!rc) rc = read_weights(x, params, path, d);
    }
    if (!rc && (x->cur = calloc((size_t)n_replicas, sizeof(*x->cur))) ==
        NULL)
        rc = diag_set(d, LLM_ENOMEM, "out of memory");
    if (rc)
        weighted_fini(x);
    return rc;
}

static double weight(const struct weighted *x,
                     const struct replica *const *reps,
                     int32_t i)
{
    return x->w ? x->w[i] : reps[i]->weight;
}

static int32_t weighted_route(void *st, const struct request *q,
                              const struct replica *const *reps, int32_t n)
{
    struct weighted *x = st;
    double total = 0, best = 0;
    int32_t i, pick = 0;

    (void)q;
    for (i = 0; i < n; i++) {
        double v;
        if (x->policy == 1) {
            v = -pol_load(x->load, reps[i]) / weight(x, reps, i);
        } else {
            x->cur[i] += weight(x, reps, i);
            total += weight(x, reps, i);
            v = x->cur[i];
        }
        if (i == 0 || v > best) {
            best = v;
            pick = i;
        }
    }
    if (x->policy == 0)
        x->cur[pick] -= total;
    return pick;
}

const struct router_ops router_weighted = {
    .name = "weighted",
    .state_size = sizeof(struct weighted),
    .init = weighted_init,
    .route = weighted_route,
    .fini = weighted_fini,
};
