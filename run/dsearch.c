#include "run/dsearch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "run/run.h"
#include "run/scenario.h"

static const cJSON *first_pool(const cJSON *pools, const char *role)
{
    const cJSON *p;

    cJSON_ArrayForEach(p, pools) {
        const cJSON *r = cJSON_GetObjectItemCaseSensitive(p, "role");

        if (cJSON_IsString(r) && strcmp(r->valuestring, role) == 0)
            return p;
    }
    return NULL;
}

int dsearch_ctx_init(struct dsearch_ctx *x, bool cluster,
                     struct llm_diag *d)
{
    struct scenario sc;
    const cJSON *pools, *p, *q;
    int rc;

    memset(&sc, 0, sizeof(sc));
    rc = scenario_load(x->config, x->sets, &sc, d);
    if (rc == LLM_OK && cluster) {
        pools = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(sc.root, "cluster"), "pools");
        p = first_pool(pools, "prefill");
        q = first_pool(pools, "decode");
        if (p == NULL || q == NULL)
            rc = diag_set(d, LLM_EINVAL, "cluster.pools: the search needs a "
                          "prefill pool and a decode pool as templates");
        else if ((x->prefill = cJSON_Duplicate(p, true)) == NULL ||
                 (x->decode = cJSON_Duplicate(q, true)) == NULL)
            rc = diag_set(d, LLM_ENOMEM, "out of memory");
    }
    scenario_free(&sc);
    return rc;
}

void dsearch_ctx_free(struct dsearch_ctx *x)
{
    cJSON_Delete(x->prefill);
    cJSON_Delete(x->decode);
    x->prefill = x->decode = NULL;
}

static cJSON *pool_copy(const cJSON *tmpl, int32_t tp, int32_t n)
{
    cJSON *p = cJSON_Duplicate(tmpl, true);

    if (p == NULL)
        return NULL;
    cJSON_DeleteItemFromObjectCaseSensitive(p, "tp");
    cJSON_DeleteItemFromObjectCaseSensitive(p, "replicas");
    cJSON_AddNumberToObject(p, "tp", tp);
    cJSON_AddNumberToObject(p, "replicas", n);
    return p;
}

/* "cluster.pools=[...]" for c; caller frees. */
static char *pools_set(const struct dsearch_ctx *x,
                       const struct dsearch_cand *c)
{
    cJSON *a = cJSON_CreateArray();
    char *t = NULL, *s = NULL;

    if (a != NULL) {
        cJSON_AddItemToArray(a, pool_copy(x->prefill, c->prefill_tp,
                                          c->prefill_n));
        cJSON_AddItemToArray(a, pool_copy(x->decode, c->decode_tp,
                                          c->decode_n));
        if (cJSON_GetArraySize(a) == 2)
            t = cJSON_PrintUnformatted(a);
    }
    if (t != NULL && (s = malloc(strlen(t) + 16)) != NULL)
        sprintf(s, "cluster.pools=%s", t);
    free(t);
    cJSON_Delete(a);
    return s;
}

int dsearch_eval_scenario(void *ctx, const struct dsearch_cand *c,
                          double rate_req_s, bool *pass,
                          struct llm_diag *d)
{
    const struct dsearch_ctx *x = ctx;
    struct run_opts o = { .out_dir = x->out_dir, .quiet = 1 };
    struct scenario sc;
    cJSON *summary = NULL;
    const cJSON *att;
    const char **sets;
    char rate[64], *pools = NULL;
    size_t n = 0, i = 0;
    int rc;

    while (x->sets && x->sets[n])
        n++;
    sets = calloc(n + 3, sizeof(*sets));
    if (c != NULL && x->prefill != NULL)
        pools = pools_set(x, c);
    if (sets == NULL || (c != NULL && pools == NULL)) {
        free(sets);
        free(pools);
        return diag_set(d, LLM_ENOMEM, "out of memory");
    }
    for (i = 0; i < n; i++)
        sets[i] = x->sets[i];
    snprintf(rate, sizeof(rate), "workload.rate=%.6g", rate_req_s);
    sets[n++] = rate;
    if (pools)
        sets[n++] = pools;
    memset(&sc, 0, sizeof(sc));
    rc = scenario_load(x->config, sets, &sc, d);
    if (rc == LLM_OK)
        rc = run_scenario(&sc, &o, &summary, NULL, d);
    if (rc == LLM_OK) {
        att = cJSON_GetObjectItemCaseSensitive(summary, "slo_attainment");
        *pass = cJSON_IsNumber(att) && att->valuedouble >= x->attain;
    }
    cJSON_Delete(summary);
    scenario_free(&sc);
    free(sets);
    free(pools);
    return rc;
}

int dsearch_baseline(struct dsearch_ctx *x, const struct plan_search *s,
                     struct dsearch_result *r, struct llm_diag *d)
{
    struct scenario sc;
    int rc;

    memset(&sc, 0, sizeof(sc));
    memset(r, 0, sizeof(*r));
    rc = scenario_load(x->config, x->sets, &sc, d);
    r->c.gpus = sc.num_gpus;
    scenario_free(&sc);
    if (rc == LLM_OK)
        rc = dsearch_goodput(s, dsearch_eval_scenario, x, NULL, r, d);
    return rc;
}
