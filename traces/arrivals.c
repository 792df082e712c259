#include "traces/arrivals.h"

#include <math.h>
#include <stdlib.h>

#include <gsl/gsl_randist.h>

#include "base/jcfg.h"
#include "traces/kinds.h"

/* now + gap, or INT64_MAX once past what int64 ns can hold. */
static int64_t add_gap(int64_t now_ns, double gap_s)
{
    double g = gap_s * 1e9;

    if (!(g < 9.0e18 - (double)now_ns))
        return INT64_MAX;
    return now_ns + llround(g);
}

/* The slowest arrival rate, req/s: one request in 11.6 days.  Slower
 * draws pass the int64-ns clock (292 years) after a few requests, and a
 * rate of 1e-300 simulated none and exited 0 (issue 23). */
#define ARRIVAL_MIN_RATE 1e-6
#define ARRIVAL_RATE_WHY "req/s (one request in 11.6 days; slower " \
                         "arrivals pass the int64-nanosecond clock)"

static int read_rate(const cJSON *cfg, const char *path, double *out,
                     struct llm_diag *d)
{
    char kp[256];

    if (source_pos_num(cfg, path, "rate", true, out, d) != LLM_OK)
        return d->code;
    if (*out >= ARRIVAL_MIN_RATE)
        return LLM_OK;
    jcfg_keypath(kp, sizeof(kp), path, "rate");
    return diag_set(d, LLM_EINVAL, "%s: expected a rate of at least %g "
                    ARRIVAL_RATE_WHY ", got %g", kp, ARRIVAL_MIN_RATE, *out);
}

/* poisson */
struct ar_poisson { double rate; };

static const char *const poisson_keys[] = { "rate", NULL };

static int poisson_open(void *st, const cJSON *cfg, const char *path,
                        struct llm_diag *d)
{
    return read_rate(cfg, path, &((struct ar_poisson *)st)->rate, d);
}

static int64_t poisson_next(const void *st, gsl_rng *r, int64_t now_ns)
{
    const struct ar_poisson *p = st;

    return add_gap(now_ns, gsl_ran_exponential(r, 1.0 / p->rate));
}

const struct arrival_ops arrival_poisson = {
    .name = "poisson", .state_size = sizeof(struct ar_poisson),
    .keys = poisson_keys, .open = poisson_open, .next_ns = poisson_next,
};

/* gamma: mean 1/rate = k theta and cv = 1/sqrt(k). */
struct ar_gamma { double shape, scale; };

static const char *const gamma_keys[] = { "rate", "cv", NULL };

static int gamma_open(void *st, const cJSON *cfg, const char *path,
                      struct llm_diag *d)
{
    struct ar_gamma *g = st;
    double rate = 0, cv = 0;

    if (read_rate(cfg, path, &rate, d) != LLM_OK ||
        source_pos_num(cfg, path, "cv", true, &cv, d) != LLM_OK)
        return d->code;
    g->shape = 1.0 / (cv * cv);
    g->scale = cv * cv / rate;
    return LLM_OK;
}

static int64_t gamma_next(const void *st, gsl_rng *r, int64_t now_ns)
{
    const struct ar_gamma *g = st;

    return add_gap(now_ns, gsl_ran_gamma(r, g->shape, g->scale));
}

const struct arrival_ops arrival_gamma = {
    .name = "gamma", .state_size = sizeof(struct ar_gamma),
    .keys = gamma_keys, .open = gamma_open, .next_ns = gamma_next,
};

/* rate_curve */
struct ar_curve {
    double *t_s, *rate;
    int n;
    double peak;
    bool repeat;
};

static const char *const curve_keys[] = { "curve", "repeat", NULL };

static int bad_point(const cJSON *pt, const char *path, int i, double after,
                     struct llm_diag *d)
{
    char *s = cJSON_PrintUnformatted(pt);
    char what[64], kp[256];
    int rc;

    if (i == 0)
        snprintf(what, sizeof(what), "t_s = 0");
    else
        snprintf(what, sizeof(what), "t_s > %g", after);
    jcfg_keypath(kp, sizeof(kp), path, "curve");
    rc = diag_set(d, LLM_EINVAL, "%s[%d]: expected [t_s, rate] with %s and "
                  "rate >= 0, got %s", kp, i, what, s ? s : "?");
    free(s);
    return rc;
}

static int read_point(struct ar_curve *c, const cJSON *pt, const char *path,
                      struct llm_diag *d)
{
    const cJSON *t = cJSON_GetArrayItem(pt, 0), *v = cJSON_GetArrayItem(pt, 1);
    int i = c->n;
    double after = i ? c->t_s[i - 1] : 0;

    if (!cJSON_IsArray(pt) || cJSON_GetArraySize(pt) != 2 ||
        !cJSON_IsNumber(t) || !cJSON_IsNumber(v) ||
        !isfinite(t->valuedouble) || !isfinite(v->valuedouble) ||
        v->valuedouble < 0 || (i == 0 && t->valuedouble != 0) ||
        (i > 0 && t->valuedouble <= after) || t->valuedouble > 9.0e9)
        return bad_point(pt, path, i, after, d);
    c->t_s[i] = t->valuedouble;
    c->rate[i] = v->valuedouble;
    c->peak = fmax(c->peak, v->valuedouble);
    c->n++;
    return LLM_OK;
}

static int curve_open(void *st, const cJSON *cfg, const char *path,
                      struct llm_diag *d)
{
    struct ar_curve *c = st;
    const cJSON *arr = NULL, *pt;
    char kp[256];
    int n;

    if (jcfg_arr(cfg, path, "curve", true, &arr, d) != LLM_OK ||
        jcfg_bool(cfg, path, "repeat", false, &c->repeat, d) != LLM_OK)
        return d->code;
    jcfg_keypath(kp, sizeof(kp), path, "curve");
    n = cJSON_GetArraySize(arr);
    c->t_s = calloc((size_t)n + 1, sizeof(*c->t_s));
    c->rate = calloc((size_t)n + 1, sizeof(*c->rate));
    if (c->t_s == NULL || c->rate == NULL)
        return diag_set(d, LLM_ENOMEM, "%s: out of memory", kp);
    cJSON_ArrayForEach(pt, arr)
        if (read_point(c, pt, path, d) != LLM_OK)
            return d->code;
    if (c->peak <= 0)
        return diag_set(d, LLM_EINVAL, "%s: expected a positive rate "
                        "somewhere, got %s", kp, n ? "only 0" : "[]");
    if (c->peak < ARRIVAL_MIN_RATE)
        return diag_set(d, LLM_EINVAL, "%s: expected a peak rate of at least "
                        "%g " ARRIVAL_RATE_WHY ", got %g", kp,
                        ARRIVAL_MIN_RATE, c->peak);
    if (c->repeat && n < 2)
        return diag_set(d, LLM_EINVAL, "%s: expected at least 2 points to "
                        "repeat, got 1", kp);
    return LLM_OK;
}

/* The rate at t seconds: linear between the points around t. */
static double curve_rate(const struct ar_curve *c, double t)
{
    int lo = 0, hi = c->n - 1, mid;
    double f;

    if (c->repeat)
        t = fmod(t, c->t_s[c->n - 1]);
    if (t >= c->t_s[hi])
        return c->rate[hi];
    while (hi - lo > 1) {          /* t_s[lo] <= t < t_s[hi] */
        mid = (lo + hi) / 2;
        if (c->t_s[mid] <= t)
            lo = mid;
        else
            hi = mid;
    }
    f = (t - c->t_s[lo]) / (c->t_s[hi] - c->t_s[lo]);
    return c->rate[lo] + f * (c->rate[hi] - c->rate[lo]);
}

static int64_t curve_next(const void *st, gsl_rng *r, int64_t now_ns)
{
    const struct ar_curve *c = st;
    double end_s = c->t_s[c->n - 1];
    int64_t t = now_ns;

    for (;;) {
        t = add_gap(t, gsl_ran_exponential(r, 1.0 / c->peak));
        if (t == INT64_MAX ||
            (!c->repeat && c->rate[c->n - 1] == 0 && (double)t / 1e9 >= end_s))
            return INT64_MAX;
        if (gsl_rng_uniform(r) * c->peak < curve_rate(c, (double)t / 1e9))
            return t;
    }
}

static void curve_close(void *st)
{
    struct ar_curve *c = st;

    free(c->t_s);
    free(c->rate);
}

const struct arrival_ops arrival_rate_curve = {
    .name = "rate_curve", .state_size = sizeof(struct ar_curve),
    .keys = curve_keys, .open = curve_open, .next_ns = curve_next,
    .close = curve_close,
};
