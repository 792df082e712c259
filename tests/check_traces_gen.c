/* tests/check_traces_gen.c: the generator kinds (part of the suite
 * "traces", see tests/check_traces.c).  Distributions are checked with a
 * one-sample Kolmogorov-Smirnov test against GSL's CDF at the 1% level,
 * with a control that the same statistic rejects a wrong law, so the
 * test is known to have the power to fail. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_cdf.h>
#include <gsl/gsl_sort.h>

#include "traces/source.h"

cJSON *tr_cfg(const char *text);          /* tests/check_traces.c */

#define N_DRAWS 20000
/* Asymptotic KS critical value at 1%: K(0.99) = 1.6276 / sqrt(n). */
#define KS_CRIT(n) (1.6276 / sqrt((double)(n)))

typedef double cdf_fn(double x, const double *p);

/* D = sup |F_n - F|.  half > 0 for values rounded to a grid of step
 * 2 * half: a value x stands for (x - half, x + half], so the empirical
 * step at x is compared with F there (a conservative D). */
static double ks_stat(double *x, size_t n, cdf_fn *cdf, const double *p,
                      double half)
{
    double dmax = 0;

    gsl_sort(x, 1, n);
    for (size_t i = 0; i < n; i++) {
        double hi = (double)(i + 1) / (double)n - cdf(x[i] + half, p);
        double lo = cdf(x[i] - half, p) - (double)i / (double)n;
        dmax = fmax(dmax, fmax(hi, lo));
    }
    return dmax;
}

static double cdf_exp(double x, const double *p)
{
    return gsl_cdf_exponential_P(x, p[0]);
}

static double cdf_gamma(double x, const double *p)
{
    return gsl_cdf_gamma_P(x, p[0], p[1]);
}

static double cdf_lognormal(double x, const double *p)
{
    return gsl_cdf_lognormal_P(x, p[0], p[1]);
}

static double cdf_ramp(double x, const double *p)   /* t^2 / T^2 on [0,T] */
{
    return x <= 0 ? 0 : x >= p[0] ? 1 : x * x / (p[0] * p[0]);
}

static struct req_source *open_gen(const char *json, uint64_t seed,
                                   cJSON **cfg)
{
    struct llm_diag d = { 0 };
    struct req_source *s = NULL;

    *cfg = tr_cfg(json);
    ck_assert_msg(source_open(*cfg, "workload", seed, &s, &d) == LLM_OK,
                  "%s", d.msg);
    return s;
}

/* Up to max requests; each is passed to fn (if any) and its field
 * selected by `what` stored in x: 'g' gap (s), 't' arrival (s),
 * 'p' prompt, 'o' output. */
static size_t draw(const char *json, uint64_t seed, char what, double *x,
                   size_t max)
{
    cJSON *cfg;
    struct req_source *s = open_gen(json, seed, &cfg);
    struct llm_diag d = { 0 };
    struct req_spec r;
    bool eof = false;
    int64_t prev = 0;
    size_t n = 0;

    while (n < max && source_next(s, &r, &eof, &d) == LLM_OK && !eof) {
        ck_assert_int_ge(r.arrival_ns, prev);
        x[n++] = what == 'g' ? (double)(r.arrival_ns - prev) / 1e9 :
                 what == 't' ? (double)r.arrival_ns / 1e9 :
                 what == 'p' ? r.prompt_tokens : r.output_tokens;
        prev = r.arrival_ns;
    }
    ck_assert_int_eq(d.code, LLM_OK);
    source_close(s);
    cJSON_Delete(cfg);
    return n;
}

static void moments(const double *x, size_t n, double *mean, double *cv)
{
    double s = 0, ss = 0;

    for (size_t i = 0; i < n; i++)
        s += x[i];
    *mean = s / (double)n;
    for (size_t i = 0; i < n; i++)
        ss += (x[i] - *mean) * (x[i] - *mean);
    *cv = sqrt(ss / (double)n) / *mean;
}

#define FIXED1 "'prompt': {'dist': 'fixed', 'value': 1}, " \
               "'output': {'dist': 'fixed', 'value': 1}"

START_TEST(test_poisson_ks)
{
    double *x = malloc(N_DRAWS * sizeof(*x)), mean, cv;
    const double right[] = { 1.0 / 50 }, wrong[] = { 1.0 / 45 };
    size_t n = draw("{'type': 'poisson', 'rate': 50, 'num_requests': 20000, "
                    FIXED1 "}", 11, 'g', x, N_DRAWS);

    ck_assert_uint_eq(n, N_DRAWS);
    moments(x, n, &mean, &cv);
    ck_assert_double_eq_tol(mean, 0.02, 0.02 * 0.03);
    ck_assert_double_eq_tol(cv, 1.0, 0.03);
    ck_assert_double_lt(ks_stat(x, n, cdf_exp, right, 0.5e-9), KS_CRIT(n));
    ck_assert_double_gt(ks_stat(x, n, cdf_exp, wrong, 0.5e-9), KS_CRIT(n));
    free(x);
}
END_TEST

START_TEST(test_gamma_ks)
{
    /* rate 10, cv 2: shape 1/4, scale cv^2/rate = 0.4 */
    double *x = malloc(N_DRAWS * sizeof(*x)), mean, cv;
    const double right[] = { 0.25, 0.4 }, poisson[] = { 0.1 };
    size_t n = draw("{'type': 'gamma', 'rate': 10, 'cv': 2, 'duration_s': "
                    "1e6, 'num_requests': 20000, " FIXED1 "}", 12, 'g', x,
                    N_DRAWS);

    ck_assert_uint_eq(n, N_DRAWS);
    moments(x, n, &mean, &cv);
    ck_assert_double_eq_tol(mean, 0.1, 0.1 * 0.05);
    ck_assert_double_eq_tol(cv, 2.0, 2.0 * 0.08);
    ck_assert_double_lt(ks_stat(x, n, cdf_gamma, right, 0.5e-9), KS_CRIT(n));
    ck_assert_double_gt(ks_stat(x, n, cdf_exp, poisson, 0.5e-9), KS_CRIT(n));
    free(x);
}
END_TEST

START_TEST(test_lognormal_ks)
{
    /* mean 1000, cv 0.8: sigma^2 = ln 1.64, mu = ln 1000 - sigma^2 / 2 */
    double *x = malloc(N_DRAWS * sizeof(*x)), mean, cv;
    double *y = malloc(N_DRAWS * sizeof(*y));
    double s2 = log(1.64), p[2] = { log(1000) - s2 / 2, sqrt(s2) };
    double q[2] = { p[0] + 0.05, p[1] };
    char json[512];
    size_t n = draw("{'type': 'poisson', 'rate': 5, 'num_requests': 20000, "
                    "'prompt': {'dist': 'lognormal', 'mean': 1000, 'cv': "
                    "0.8}, 'output': {'dist': 'fixed', 'value': 1}}", 13, 'p',
                    x, N_DRAWS);

    ck_assert_uint_eq(n, N_DRAWS);
    moments(x, n, &mean, &cv);
    ck_assert_double_eq_tol(mean, 1000, 1000 * 0.03);
    ck_assert_double_eq_tol(cv, 0.8, 0.8 * 0.1);
    ck_assert_double_lt(ks_stat(x, n, cdf_lognormal, p, 0.5), KS_CRIT(n));
    ck_assert_double_gt(ks_stat(x, n, cdf_lognormal, q, 0.5), KS_CRIT(n));
    /* mu/sigma give the same law: the same draws from the same seed. */
    snprintf(json, sizeof(json), "{'type': 'poisson', 'rate': 5, "
             "'num_requests': 20000, 'prompt': {'dist': 'lognormal', 'mu': "
             "%.17g, 'sigma': %.17g}, 'output': {'dist': 'fixed', 'value': "
             "1}}", p[0], p[1]);
    ck_assert_uint_eq(draw(json, 13, 'p', y, N_DRAWS), n);
    gsl_sort(y, 1, n);                  /* x was sorted by ks_stat */
    for (size_t i = 0; i < n; i += 97)
        ck_assert_double_eq_tol(y[i], x[i], 1.0);
    free(x);
    free(y);
}
END_TEST

/* A ramp 0 -> 20 req/s over 100 s: given the count, arrival times have
 * density proportional to t, so CDF t^2 / 100^2; expected count 1000. */
START_TEST(test_rate_curve_ks)
{
    double *x = malloc(5000 * sizeof(*x));
    const double p[] = { 100 }, late[] = { 90 };
    size_t n = draw("{'type': 'rate_curve', 'curve': [[0, 0], [100, 20]], "
                    "'duration_s': 100, " FIXED1 "}", 14, 't', x, 5000);

    ck_assert_uint_gt(n, 1000 - 5 * 32);
    ck_assert_uint_lt(n, 1000 + 5 * 32);
    ck_assert_double_lt(x[n - 1], 100);
    ck_assert_double_lt(ks_stat(x, n, cdf_ramp, p, 0.5e-9), KS_CRIT(n));
    ck_assert_double_gt(ks_stat(x, n, cdf_ramp, late, 0.5e-9), KS_CRIT(n));
    free(x);
}
END_TEST

/* A repeating triangle 10 -> 0 -> 10 req/s of period 20 s: a quarter of
 * the arrivals fall in the middle half of each period (5 to 15 s). */
START_TEST(test_rate_curve_repeat)
{
    double *x = malloc(20000 * sizeof(*x));
    size_t n = draw("{'type': 'rate_curve', 'curve': [[0, 10], [10, 0], "
                    "[20, 10]], 'repeat': true, 'duration_s': 2000, " FIXED1
                    "}", 15, 't', x, 20000), mid = 0;

    /* 100 periods of 100 expected arrivals each */
    ck_assert_uint_gt(n, 10000 - 5 * 100);
    ck_assert_uint_lt(n, 10000 + 5 * 100);
    for (size_t i = 0; i < n; i++) {
        double ph = fmod(x[i], 20);
        mid += ph >= 5 && ph < 15;
    }
    /* binomial sd sqrt(n * 0.25 * 0.75) is about 43 */
    ck_assert_double_eq_tol((double)mid, 0.25 * (double)n, 5 * 44);
    free(x);
}
END_TEST

START_TEST(test_zipf_uniform_fixed)
{
    double *x = malloc(N_DRAWS * sizeof(*x)), h = 0;
    size_t n, ones = 0, c[3] = { 0 };

    for (int k = 1; k <= 50; k++)
        h += pow(k, -1.1);
    n = draw("{'type': 'poisson', 'rate': 5, 'num_requests': 20000, "
             "'prompt': {'dist': 'zipf', 's': 1.1, 'max': 50}, 'output': "
             "{'dist': 'uniform', 'min': 10, 'max': 12}}", 16, 'p', x,
             N_DRAWS);
    for (size_t i = 0; i < n; i++) {
        ck_assert(x[i] >= 1 && x[i] <= 50);
        ones += x[i] == 1;
    }
    /* P(1) = 1/H(50, 1.1) = 0.2248; sd of the count about 59 */
    ck_assert_double_eq_tol((double)ones, (double)n / h, 5 * 59);
    n = draw("{'type': 'poisson', 'rate': 5, 'num_requests': 20000, "
             "'prompt': {'dist': 'zipf', 's': 1.1, 'max': 50}, 'output': "
             "{'dist': 'uniform', 'min': 10, 'max': 12}}", 16, 'o', x,
             N_DRAWS);
    for (size_t i = 0; i < n; i++) {
        ck_assert(x[i] >= 10 && x[i] <= 12);
        c[(int)x[i] - 10]++;
    }
    for (int k = 0; k < 3; k++)       /* sd about 67 */
        ck_assert_double_eq_tol((double)c[k], (double)n / 3, 5 * 67);
    n = draw("{'type': 'poisson', 'rate': 5, 'num_requests': 100, "
             "'prompt': {'dist': 'fixed', 'value': 77}, 'output': "
             "{'dist': 'fixed', 'value': 1}}", 16, 'p', x, 100);
    ck_assert_uint_eq(n, 100);
    for (size_t i = 0; i < n; i++)
        ck_assert_double_eq(x[i], 77);
    free(x);
}
END_TEST

/* empirical: every draw is one of the trace's values, each about 1/6. */
START_TEST(test_empirical)
{
    static const double vals[] = { 2, 91, 374, 396, 879, 1200 };
    double *x = malloc(6000 * sizeof(*x));
    size_t n, c[6] = { 0 };

    n = draw("{'type': 'poisson', 'rate': 5, 'num_requests': 6000, "
             "'prompt': {'dist': 'empirical', 'type': 'azure', 'column': "
             "'prompt', 'path': 'tests/data/traces/azure2023_crlf.csv'}, "
             "'output': {'dist': 'fixed', 'value': 1}}", 17, 'p', x, 6000);
    ck_assert_uint_eq(n, 6000);
    for (size_t i = 0; i < n; i++) {
        size_t k = 0;
        while (k < 6 && vals[k] != x[i])
            k++;
        ck_assert_uint_lt(k, 6);
        c[k]++;
    }
    for (int k = 0; k < 6; k++)       /* sd about 29 */
        ck_assert_double_eq_tol((double)c[k], 1000, 5 * 29);
    free(x);
}
END_TEST

START_TEST(test_tenants)
{
    cJSON *cfg;
    struct req_source *s = open_gen("{'type': 'poisson', 'rate': 10, "
        "'num_requests': 20000, 'output': {'dist': 'fixed', 'value': 2}, "
        "'tenants': [{'weight': 3, 'prompt': {'dist': 'fixed', 'value': "
        "100}}, {'weight': 1, 'priority': 5, 'prompt': {'dist': 'fixed', "
        "'value': 200}, 'output': {'dist': 'fixed', 'value': 9}}]}", 18,
        &cfg);
    struct llm_diag d = { 0 };
    size_t n = 0, first = 0;
    struct req_spec r;
    bool eof = false;

    while (source_next(s, &r, &eof, &d) == LLM_OK && !eof) {
        ck_assert(r.tenant == 0 || r.tenant == 1);
        ck_assert_int_eq(r.prompt_tokens, r.tenant ? 200 : 100);
        ck_assert_int_eq(r.output_tokens, r.tenant ? 9 : 2);
        ck_assert_int_eq(r.priority, r.tenant ? 5 : 0);
        first += r.tenant == 0;
        n++;
    }
    ck_assert_uint_eq(n, 20000);
    /* binomial(20000, 0.75): sd 61 */
    ck_assert_double_eq_tol((double)first, 15000, 5 * 61);
    source_close(s);
    cJSON_Delete(cfg);
}
END_TEST

/* What a session's previous turn left behind. */
struct last_turn {
    int32_t prompt, output, turns;
    uint64_t hashes[128];
    int32_t n;
};

static void check_turn(struct last_turn *l, const struct req_spec *r)
{
    int32_t full = l->prompt / 16;

    ck_assert_int_eq(r->prompt_tokens, l->prompt + l->output + 100);
    ck_assert_mem_eq(r->block_hashes, l->hashes, (size_t)full * 8);
    if (full < l->n)      /* the partial block filled: a new hash */
        ck_assert_uint_ne(r->block_hashes[full], l->hashes[full]);
}

/* Turn k+1's prompt is turn k's prompt + output + 100 user tokens, and
 * its full prefix blocks hash as before. */
START_TEST(test_multi_turn)
{
    static struct last_turn last[400];
    cJSON *cfg;
    struct req_source *s = open_gen("{'type': 'poisson', 'rate': 1, "
        "'duration_s': 200, 'prompt': {'dist': 'fixed', 'value': 1000}, "
        "'output': {'dist': 'uniform', 'min': 20, 'max': 60}, 'multi_turn': "
        "{'turns': {'dist': 'fixed', 'value': 3}, 'think_s': 5, 'user': "
        "{'dist': 'fixed', 'value': 100}}}", 19, &cfg);
    struct llm_diag d = { 0 };
    struct req_spec r;
    bool eof = false;
    size_t followups = 0;

    memset(last, 0, sizeof(last));
    while (source_next(s, &r, &eof, &d) == LLM_OK && !eof) {
        struct last_turn *l = &last[r.session];
        ck_assert_int_lt(r.session, 400);
        ck_assert_int_eq(r.hash_block_tokens, 16);
        ck_assert_int_eq(r.n_block_hashes, (r.prompt_tokens + 15) / 16);
        if (l->turns == 0) {
            ck_assert_int_eq(r.prompt_tokens, 1000);
            if (r.session > 0)   /* sessions share no prefix */
                ck_assert_uint_ne(r.block_hashes[0], last[0].hashes[0]);
        } else {
            check_turn(l, &r);
            followups++;
        }
        l->turns++;
        ck_assert_int_le(l->turns, 3);
        l->prompt = r.prompt_tokens;
        l->output = r.output_tokens;
        l->n = r.n_block_hashes;
        memcpy(l->hashes, r.block_hashes, (size_t)l->n * 8);
    }
    ck_assert_int_eq(d.code, LLM_OK);
    ck_assert_uint_gt(followups, 250);    /* about 200 sessions x 2 */
    source_close(s);
    cJSON_Delete(cfg);
}
END_TEST

/* Same seed, same stream; other lengths, same arrivals; other seed,
 * other arrivals. */
START_TEST(test_streams)
{
    double a[500], b[500], c[500], e[500];

    draw("{'type': 'gamma', 'rate': 5, 'cv': 3, 'num_requests': 500, "
         FIXED1 "}", 21, 't', a, 500);
    draw("{'type': 'gamma', 'rate': 5, 'cv': 3, 'num_requests': 500, "
         FIXED1 "}", 21, 't', b, 500);
    draw("{'type': 'gamma', 'rate': 5, 'cv': 3, 'num_requests': 500, "
         "'prompt': {'dist': 'zipf', 's': 2, 'max': 9}, 'output': {'dist': "
         "'uniform', 'min': 1, 'max': 9}}", 21, 't', c, 500);
    draw("{'type': 'gamma', 'rate': 5, 'cv': 3, 'num_requests': 500, "
         FIXED1 "}", 22, 't', e, 500);
    ck_assert_mem_eq(a, b, sizeof(a));
    ck_assert_mem_eq(a, c, sizeof(a));
    ck_assert(memcmp(a, e, sizeof(a)) != 0);
}
END_TEST

static const struct {
    const char *cfg;
    const char *msg;
} bad_gens[] = {
    { "{'type': 'poisson', 'rate': 1, " FIXED1 "}",
      "workload: expected num_requests or duration_s (a generator needs an "
      "end)" },
    { "{'type': 'poisson', 'rate': 0, 'num_requests': 5, " FIXED1 "}",
      "workload.rate: expected a positive number, got 0" },
    { "{'type': 'poisson', 'rate': 1, 'cv': 2, 'num_requests': 5, " FIXED1
      "}", "workload.cv: unknown key (known: num_requests, duration_s, "
      "prompt, output, tenants, multi_turn, rate, type, limit, start_s, "
      "end_s, rate_scale, sample, max_prompt_tokens, max_output_tokens, "
      "tenant, priority)" },
    { "{'type': 'poisson', 'rate': 1, 'num_requests': 5, 'prompt': {'dist': "
      "'normal'}, 'output': {'dist': 'fixed', 'value': 1}}",
      "workload.prompt.dist: unknown \"normal\" (known: empirical, fixed, "
      "lognormal, uniform, zipf)" },
    { "{'type': 'poisson', 'rate': 1, 'num_requests': 5, 'prompt': {'dist': "
      "'lognormal', 'mean': 5, 'cv': 1, 'sigma': 1}, 'output': {'dist': "
      "'fixed', 'value': 1}}", "workload.prompt: expected mean and cv, or "
      "mu and sigma, not both" },
    { "{'type': 'poisson', 'rate': 1, 'num_requests': 5, 'prompt': {'dist': "
      "'uniform', 'min': 10, 'max': 5}, 'output': {'dist': 'fixed', "
      "'value': 1}}", "workload.prompt.max: expected an integer >= min (10), "
      "got 5" },
    { "{'type': 'poisson', 'rate': 1, 'num_requests': 5, 'output': {'dist': "
      "'fixed', 'value': 1}}",
      "workload.prompt: missing (expected an object)" },
    { "{'type': 'poisson', 'rate': 1, 'num_requests': 5, 'output': {'dist': "
      "'fixed', 'value': 1}, 'tenants': [{'weight': 1}]}",
      "workload.tenants[0].prompt: missing (expected an object)" },
    { "{'type': 'poisson', 'rate': 1, 'num_requests': 5, " FIXED1 ", "
      "'tenants': [{'weight': 0}]}",
      "workload.tenants[0].weight: expected a positive number, got 0" },
    { "{'type': 'rate_curve', 'curve': [[0, 1], [5, 2], [5, 3]], "
      "'duration_s': 9, " FIXED1 "}", "workload.curve[2]: expected [t_s, "
      "rate] with t_s > 5 and rate >= 0, got [5,3]" },
    { "{'type': 'rate_curve', 'curve': [[1, 1]], 'duration_s': 9, " FIXED1
      "}", "workload.curve[0]: expected [t_s, rate] with t_s = 0 and rate "
      ">= 0, got [1,1]" },
    { "{'type': 'rate_curve', 'curve': [[0, 0], [5, 0]], 'duration_s': 9, "
      FIXED1 "}", "workload.curve: expected a positive rate somewhere, got "
      "only 0" },
    { "{'type': 'gamma', 'rate': 1, 'num_requests': 5, " FIXED1 "}",
      "workload.cv: missing (expected a non-negative number)" },
    { "{'type': 'poisson', 'rate': 1, 'num_requests': 5, " FIXED1 ", "
      "'multi_turn': {'turns': {'dist': 'fixed', 'value': 2}}}",
      "workload.multi_turn.think_s: missing (expected a non-negative "
      "number)" },
    { "{'type': 'poisson', 'rate': 1, 'num_requests': 5, 'prompt': {'dist': "
      "'empirical', 'type': 'azure', 'column': 'input', 'path': 'x'}, "
      "'output': {'dist': 'fixed', 'value': 1}}", "workload.prompt.column: "
      "expected \"prompt\" or \"output\", got \"input\"" },
};

START_TEST(test_bad_gen)
{
    cJSON *cfg = tr_cfg(bad_gens[_i].cfg);
    struct req_source *s = NULL;
    struct llm_diag d = { 0 };

    ck_assert_int_eq(source_open(cfg, "workload", 1, &s, &d), LLM_EINVAL);
    ck_assert_ptr_null(s);
    ck_assert_str_eq(d.msg, bad_gens[_i].msg);
    cJSON_Delete(cfg);
}
END_TEST

TCase *traces_gen_tcase(void)
{
    TCase *tc = tcase_create("generators");

    tcase_add_test(tc, test_poisson_ks);
    tcase_add_test(tc, test_gamma_ks);
    tcase_add_test(tc, test_lognormal_ks);
    tcase_add_test(tc, test_rate_curve_ks);
    tcase_add_test(tc, test_rate_curve_repeat);
    tcase_add_test(tc, test_zipf_uniform_fixed);
    tcase_add_test(tc, test_empirical);
    tcase_add_test(tc, test_tenants);
    tcase_add_test(tc, test_multi_turn);
    tcase_add_test(tc, test_streams);
    tcase_add_loop_test(tc, test_bad_gen, 0,
                        sizeof(bad_gens) / sizeof(bad_gens[0]));
    tcase_set_timeout(tc, 60);
    return tc;
}
