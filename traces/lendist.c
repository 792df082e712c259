#include "traces/lendist.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_randist.h>

#include "base/jcfg.h"
#include "base/names.h"
#include "traces/kinds.h"
#include "traces/source.h"

/* zipf keeps a table of max entries: 10^7 is 160 MB of alias table. */
#define ZIPF_MAX_N 10000000

struct lendist_ops {
    const char *name;
    size_t state_size;
    int (*open)(void *st, const cJSON *cfg, const char *path, uint64_t seed,
                struct llm_diag *d);
    int32_t (*draw)(const void *st, gsl_rng *r);
    void (*close)(void *st);         /* optional */
};

struct lendist {
    const struct lendist_ops *ops;
    void *st;
};

static int32_t to_tokens(double x)
{
    if (!(x >= 1.5))                  /* NaN too */
        return 1;
    if (x >= (double)INT32_MAX)
        return INT32_MAX;
    return (int32_t)llround(x);
}

/* fixed */
struct ld_fixed { int64_t value; };

static int fixed_open(void *st, const cJSON *cfg, const char *path,
                      uint64_t seed, struct llm_diag *d)
{
    static const char *const keys[] = { "dist", "value", NULL };
    struct ld_fixed *f = st;

    (void)seed;
    if (jcfg_known(cfg, path, keys, d) != LLM_OK)
        return d->code;
    return jcfg_int(cfg, path, "value", true, 1, INT32_MAX, &f->value, d);
}

static int32_t fixed_draw(const void *st, gsl_rng *r)
{
    (void)r;
    return (int32_t)((const struct ld_fixed *)st)->value;
}

/* uniform */
struct ld_uniform { int64_t min, max; };

static int uniform_open(void *st, const cJSON *cfg, const char *path,
                        uint64_t seed, struct llm_diag *d)
{
    static const char *const keys[] = { "dist", "min", "max", NULL };
    struct ld_uniform *u = st;
    char kp[256];

    (void)seed;
    if (jcfg_known(cfg, path, keys, d) != LLM_OK ||
        jcfg_int(cfg, path, "min", true, 1, INT32_MAX, &u->min, d) ||
        jcfg_int(cfg, path, "max", true, 1, INT32_MAX, &u->max, d))
        return d->code;
    if (u->max >= u->min)
        return LLM_OK;
    jcfg_keypath(kp, sizeof(kp), path, "max");
    return diag_set(d, LLM_EINVAL, "%s: expected an integer >= min (%lld), "
                    "got %lld", kp, (long long)u->min, (long long)u->max);
}

static int32_t uniform_draw(const void *st, gsl_rng *r)
{
    const struct ld_uniform *u = st;

    return (int32_t)(u->min + (int64_t)gsl_rng_uniform_int(
                         r, (unsigned long)(u->max - u->min + 1)));
}

/* lognormal: mean m and cv c give sigma^2 = ln(1 + c^2) and
 * mu = ln m - sigma^2 / 2 (the moments of the lognormal law). */
struct ld_lognormal { double mu, sigma; };

static int lognormal_open(void *st, const cJSON *cfg, const char *path,
                          uint64_t seed, struct llm_diag *d)
{
    static const char *const keys[] = { "dist", "mean", "cv", "mu", "sigma",
                                        NULL };
    struct ld_lognormal *l = st;
    bool by_moments = cJSON_GetObjectItemCaseSensitive(cfg, "mu") == NULL &&
                      cJSON_GetObjectItemCaseSensitive(cfg, "sigma") == NULL;
    double mean = 0, cv = 0;

    (void)seed;
    if (jcfg_known(cfg, path, keys, d) != LLM_OK)
        return d->code;
    if (!by_moments) {
        if (cJSON_GetObjectItemCaseSensitive(cfg, "mean") ||
            cJSON_GetObjectItemCaseSensitive(cfg, "cv"))
            return diag_set(d, LLM_EINVAL, "%s: expected mean and cv, or mu "
                            "and sigma, not both", path);
        if (jcfg_num(cfg, path, "mu", true, -INFINITY, INFINITY, &l->mu, d) ||
            jcfg_num(cfg, path, "sigma", true, 0, INFINITY, &l->sigma, d))
            return d->code;
        return LLM_OK;
    }
    if (source_pos_num(cfg, path, "mean", true, &mean, d) ||
        jcfg_num(cfg, path, "cv", true, 0, INFINITY, &cv, d))
        return d->code;
    l->sigma = sqrt(log1p(cv * cv));
    l->mu = log(mean) - l->sigma * l->sigma / 2;
    return LLM_OK;
}

static int32_t lognormal_draw(const void *st, gsl_rng *r)
{
    const struct ld_lognormal *l = st;

    return to_tokens(gsl_ran_lognormal(r, l->mu, l->sigma));
}

/* zipf: Walker's alias table over 1..max (gsl_ran_discrete). */
struct ld_zipf { gsl_ran_discrete_t *table; };

static int zipf_open(void *st, const cJSON *cfg, const char *path,
                     uint64_t seed, struct llm_diag *d)
{
    static const char *const keys[] = { "dist", "s", "max", NULL };
    struct ld_zipf *z = st;
    double s = 0, *w;
    int64_t n = 0;

    (void)seed;
    if (jcfg_known(cfg, path, keys, d) != LLM_OK ||
        source_pos_num(cfg, path, "s", true, &s, d) ||
        jcfg_int(cfg, path, "max", true, 1, ZIPF_MAX_N, &n, d))
        return d->code;
    w = malloc((size_t)n * sizeof(*w));
    if (w == NULL)
        return diag_set(d, LLM_ENOMEM, "%s: out of memory for %lld weights",
                        path, (long long)n);
    for (int64_t k = 0; k < n; k++)
        w[k] = pow((double)(k + 1), -s);
    z->table = gsl_ran_discrete_preproc((size_t)n, w);
    free(w);
    if (z->table == NULL)
        return diag_set(d, LLM_ENOMEM, "%s: out of memory for the table",
                        path);
    return LLM_OK;
}

static int32_t zipf_draw(const void *st, gsl_rng *r)
{
    return (int32_t)gsl_ran_discrete(r, ((const struct ld_zipf *)st)->table)
           + 1;
}

static void zipf_close(void *st)
{
    gsl_ran_discrete_free(((struct ld_zipf *)st)->table);
}

/* empirical: every value of one column of a trace, drawn uniformly. */
struct ld_empirical { int32_t *v; size_t n, cap; };

static int emp_push(struct ld_empirical *e, int32_t x, struct llm_diag *d)
{
    if (e->n == e->cap) {
        size_t cap = e->cap ? e->cap * 2 : 1024;
        int32_t *nv = realloc(e->v, cap * sizeof(*nv));
        if (nv == NULL)
            return diag_set(d, LLM_ENOMEM, "out of memory for %zu lengths",
                            cap);
        e->v = nv;
        e->cap = cap;
    }
    e->v[e->n++] = x;
    return LLM_OK;
}

static int emp_read(struct ld_empirical *e, struct req_source *src,
                    bool prompt, struct llm_diag *d)
{
    struct req_spec r;
    bool eof = false;

    while (source_next(src, &r, &eof, d) == LLM_OK && !eof)
        if (emp_push(e, prompt ? r.prompt_tokens : r.output_tokens, d))
            return d->code;
    return d->code;
}

/* The trace's own config: cfg without "dist" and "column", by reference,
 * so strings (the path a diag names) stay those of cfg. */
static cJSON *emp_source_cfg(const cJSON *cfg)
{
    cJSON *o = cJSON_CreateObject();
    const cJSON *it;

    cJSON_ArrayForEach(it, cfg) {
        if (o == NULL || strcmp(it->string, "dist") == 0 ||
            strcmp(it->string, "column") == 0)
            continue;
        if (!cJSON_AddItemReferenceToObject(o, it->string, (cJSON *)it)) {
            cJSON_Delete(o);
            return NULL;
        }
    }
    return o;
}

static int emp_open(void *st, const cJSON *cfg, const char *path,
                    uint64_t seed, struct llm_diag *d)
{
    struct ld_empirical *e = st;
    struct req_source *src = NULL;
    const char *col = NULL;
    cJSON *scfg;
    char kp[256];

    jcfg_keypath(kp, sizeof(kp), path, "column");
    if (jcfg_str(cfg, path, "column", true, &col, d) != LLM_OK)
        return d->code;
    if (strcmp(col, "prompt") != 0 && strcmp(col, "output") != 0)
        return diag_set(d, LLM_EINVAL, "%s: expected \"prompt\" or "
                        "\"output\", got \"%s\"", kp, col);
    if ((scfg = emp_source_cfg(cfg)) == NULL)
        return diag_set(d, LLM_ENOMEM, "%s: out of memory", path);
    if (source_open(scfg, path, seed, &src, d) == LLM_OK)
        emp_read(e, src, col[0] == 'p', d);
    source_close(src);
    cJSON_Delete(scfg);
    if (d->code == LLM_OK && e->n == 0)
        return diag_set(d, LLM_EINVAL, "%s: the trace has no rows to draw "
                        "from", path);
    return d->code;
}

static int32_t emp_draw(const void *st, gsl_rng *r)
{
    const struct ld_empirical *e = st;

    return e->v[gsl_rng_uniform_int(r, (unsigned long)e->n)];
}

static void emp_close(void *st)
{
    free(((struct ld_empirical *)st)->v);
}

static const struct lendist_ops ld_fixed = {
    .name = "fixed", .state_size = sizeof(struct ld_fixed),
    .open = fixed_open, .draw = fixed_draw,
};
static const struct lendist_ops ld_uniform = {
    .name = "uniform", .state_size = sizeof(struct ld_uniform),
    .open = uniform_open, .draw = uniform_draw,
};
static const struct lendist_ops ld_lognormal = {
    .name = "lognormal", .state_size = sizeof(struct ld_lognormal),
    .open = lognormal_open, .draw = lognormal_draw,
};
static const struct lendist_ops ld_zipf = {
    .name = "zipf", .state_size = sizeof(struct ld_zipf),
    .open = zipf_open, .draw = zipf_draw, .close = zipf_close,
};
static const struct lendist_ops ld_empirical = {
    .name = "empirical", .state_size = sizeof(struct ld_empirical),
    .open = emp_open, .draw = emp_draw, .close = emp_close,
};

static const struct lendist_ops *const dists[] = {
    &ld_empirical, &ld_fixed, &ld_lognormal, &ld_uniform, &ld_zipf, NULL
};

static const char *dist_at(const void *t, size_t i)
{
    const struct lendist_ops *const *x = t;

    return x[i] ? x[i]->name : NULL;
}

static int find_dist(const cJSON *cfg, const char *path,
                     const struct lendist_ops **out, struct llm_diag *d)
{
    const char *name = NULL;
    char kp[256], list[128];
    long i;

    if (!cJSON_IsObject(cfg))
        return diag_set(d, LLM_EINVAL, "%s: expected an object", path);
    if (jcfg_str(cfg, path, "dist", true, &name, d) != LLM_OK)
        return d->code;
    i = names_find(dists, dist_at, name, list, sizeof(list));
    if (i >= 0) {
        *out = dists[i];
        return LLM_OK;
    }
    jcfg_keypath(kp, sizeof(kp), path, "dist");
    return diag_set(d, LLM_EINVAL, "%s: unknown \"%s\" (known: %s)", kp, name,
                    list);
}

int lendist_open(const cJSON *cfg, const char *path, uint64_t seed,
                 struct lendist **out, struct llm_diag *d)
{
    const struct lendist_ops *ops = NULL;
    struct lendist *l;

    *out = NULL;
    if (find_dist(cfg, path, &ops, d) != LLM_OK)
        return d->code;
    l = calloc(1, sizeof(*l));
    if (l == NULL || (l->st = calloc(1, ops->state_size)) == NULL) {
        free(l);
        return diag_set(d, LLM_ENOMEM, "%s: out of memory", path);
    }
    l->ops = ops;
    if (ops->open(l->st, cfg, path, seed, d) != LLM_OK) {
        lendist_close(l);
        return d->code;
    }
    *out = l;
    return LLM_OK;
}

int32_t lendist_draw(const struct lendist *l, gsl_rng *r)
{
    return l->ops->draw(l->st, r);
}

void lendist_close(struct lendist *l)
{
    if (l == NULL)
        return;
    if (l->ops->close != NULL)
        l->ops->close(l->st);
    free(l->st);
    free(l);
}
