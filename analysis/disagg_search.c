#include "analysis/disagg_search.h"

size_t dsearch_candidates(const struct dsearch_grid *g,
                          struct dsearch_cand *out, size_t cap)
{
    size_t n = 0;
    int a, b;
    int32_t pn, dn;

    for (a = 0; a < g->n_tps; a++)
        for (pn = 1; pn <= g->max_replicas; pn++)
            for (b = 0; b < g->n_tps; b++)
                for (dn = 1; dn <= g->max_replicas; dn++) {
                    int32_t gpus = g->tps[a] * pn + g->tps[b] * dn;

                    if (gpus > g->max_gpus)
                        continue;
                    if (n < cap)
                        out[n] = (struct dsearch_cand){
                            .prefill_tp = g->tps[a], .prefill_n = pn,
                            .decode_tp = g->tps[b], .decode_n = dn,
                            .gpus = gpus };
                    n++;
                }
    return n;
}

int dsearch_goodput(const struct plan_search *s, dsearch_eval_fn *fn,
                    void *ctx, const struct dsearch_cand *c,
                    struct dsearch_result *r, struct llm_diag *d)
{
    struct plan_bisect b;
    int rc = LLM_OK;

    if (c != NULL)
        r->c = *c;
    plan_bisect_start(&b, s);
    while (!b.done) {
        bool pass = false;

        rc = fn(ctx, c, b.next, &pass, d);
        if (rc != LLM_OK)
            return rc;
        plan_bisect_feed(&b, s, pass);
    }
    r->rate_req_s = b.lo;
    r->fail_req_s = b.hi;
    r->steps = b.steps;
    r->status = b.lo == 0 ? PLAN_NONE : b.hi == 0 ? PLAN_UNBOUNDED : PLAN_OK;
    r->per_gpu = r->c.gpus > 0 ? b.lo / r->c.gpus : 0;
    return LLM_OK;
}

/* Is a better than b?  Rate per GPU, then fewer GPUs. */
static bool better(const struct dsearch_result *a,
                   const struct dsearch_result *b)
{
    if (a->per_gpu != b->per_gpu)
        return a->per_gpu > b->per_gpu;
    return a->c.gpus < b->c.gpus;
}

int dsearch_run(const struct dsearch_grid *g, const struct plan_search *s,
                dsearch_eval_fn *fn, void *ctx, struct dsearch_result *out,
                size_t cap, size_t *n, size_t *best, struct llm_diag *d)
{
    struct dsearch_cand c[256];
    size_t i, nc = dsearch_candidates(g, c, 256);

    if (nc > 256 || nc > cap)
        return diag_set(d, LLM_ERANGE, "%zu candidates: more than %zu; "
                        "lower the GPU budget or the tp list", nc,
                        nc > cap ? cap : (size_t)256);
    *n = nc;
    *best = nc;
    for (i = 0; i < nc; i++) {
        int rc = dsearch_goodput(s, fn, ctx, &c[i], &out[i], d);

        if (rc != LLM_OK)
            return rc;
        if (out[i].rate_req_s > 0 && (*best == nc || better(&out[i], &out[*best])))
            *best = i;
    }
    return LLM_OK;
}
