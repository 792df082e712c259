/* hw/cost_fixed.c: iteration_us + per_token_us x rows (hw/cost_fixed.h).
 * The whole price is the "fixed" part, so hw/cost.c's dense-part cache
 * and the operator lists are never consulted. */
#include <math.h>

#include "hw/cost_fixed.h"
#include "base/jcfg.h"

struct fixed {
    int64_t iter_ns, token_ns;
};

static int fixed_init(void *st, const struct cost_env *env,
                      const cJSON *params, const char *path,
                      struct llm_diag *d)
{
    static const char *const keys[] = { "name", "iteration_us",
                                        "per_token_us", NULL };
    struct fixed *f = st;
    double iter_us = 0, tok_us = 0;
    int rc = params ? jcfg_known(params, path, keys, d) : LLM_OK;

    (void)env;
    if (!rc && params)
        rc = jcfg_num(params, path, "iteration_us", false, 0, 1e9, &iter_us,
                      d);
    if (!rc && params)
        rc = jcfg_num(params, path, "per_token_us", false, 0, 1e9, &tok_us,
                      d);
    /* Integer ns, so that sched.py can repeat the arithmetic exactly. */
    f->iter_ns = (int64_t)llround(iter_us * 1e3);
    f->token_ns = (int64_t)llround(tok_us * 1e3);
    return rc;
}

static int fixed_price(void *st, const struct batch *b,
                       const struct op_list *ops, struct cost_breakdown *out)
{
    (void)st;
    (void)b;
    (void)ops;
    (void)out;
    return LLM_OK;
}

static int64_t fixed_total_ns(void *st, const struct batch *b,
                              int64_t gpu_ns)
{
    (void)gpu_ns;
    const struct fixed *f = st;
    int64_t ns;

    /* past the range: a value cost_price refuses (hw/cost.h) */
    if (__builtin_mul_overflow(f->token_ns, batch_rows(b), &ns) ||
        ns > COST_MAX_NS)
        return COST_MAX_NS + 1;
    return f->iter_ns + ns;
}

const struct cost_ops cost_fixed = {
    .name = "fixed",
    .state_size = sizeof(struct fixed),
    .init = fixed_init,
    .price = fixed_price,
    .fixed_ns = fixed_total_ns,
};
