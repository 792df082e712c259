#include "analysis/qsketch.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/diag.h"

int qsketch_init(struct qsketch *s, double alpha, double min_value)
{
    memset(s, 0, sizeof(*s));
    if (!(alpha > 0 && alpha < 0.5) || !(min_value > 0) ||
        !isfinite(min_value))
        return LLM_EINVAL;
    s->alpha = alpha;
    s->gamma = (1 + alpha) / (1 - alpha);
    s->log_gamma = log(s->gamma);
    s->min_value = min_value;
    return LLM_OK;
}

void qsketch_free(struct qsketch *s)
{
    free(s->bins);
    s->bins = NULL;
    s->n_bins = 0;
    s->count = s->zero = 0;
}

int64_t qsketch_key(const struct qsketch *s, double x)
{
    if (!(x >= s->min_value))
        return INT64_MIN;
    return (int64_t)ceil(log(x) / s->log_gamma);
}

/* Bins covering key, the others kept in place; grows by at least half
 * of what it holds, so a stream that widens its range slowly reallocates
 * O(log) times. */
static int cover(struct qsketch *s, int64_t key)
{
    int64_t lo = s->key0, hi = s->key0 + s->n_bins, n, slack;
    int64_t *nb;

    if (s->n_bins == 0) {
        lo = key;
        hi = key + 1;
    } else if (key < lo) {
        lo = key;
    } else {
        hi = key + 1;
    }
    slack = s->n_bins / 2;
    if (s->n_bins > 0 && key < s->key0)
        lo -= slack;
    else if (s->n_bins > 0)
        hi += slack;
    n = hi - lo;
    nb = calloc((size_t)n, sizeof(*nb));
    if (nb == NULL)
        return LLM_ENOMEM;
    if (s->n_bins > 0)
        memcpy(nb + (s->key0 - lo), s->bins,
               (size_t)s->n_bins * sizeof(*nb));
    free(s->bins);
    s->bins = nb;
    s->key0 = lo;
    s->n_bins = n;
    return LLM_OK;
}

int qsketch_add_key(struct qsketch *s, int64_t key)
{
    if (key == INT64_MIN) {
        s->zero++;
        s->count++;
        return LLM_OK;
    }
    if ((key < s->key0 || key >= s->key0 + s->n_bins || s->n_bins == 0) &&
        cover(s, key) != LLM_OK)
        return LLM_ENOMEM;
    s->bins[key - s->key0]++;
    s->count++;
    return LLM_OK;
}

int qsketch_add(struct qsketch *s, double x)
{
    if (!(x >= 0) || !isfinite(x))
        return LLM_EINVAL;
    return qsketch_add_key(s, qsketch_key(s, x));
}

/* The representative of the k-th smallest value (0-based). */
static double order_stat(const struct qsketch *s, int64_t k)
{
    int64_t i, seen = s->zero;

    if (k < seen)
        return 0;
    for (i = 0; i < s->n_bins; i++) {
        seen += s->bins[i];
        if (k < seen)
            break;
    }
    if (i == s->n_bins)
        i = s->n_bins - 1;
    return 2 * pow(s->gamma, (double)(s->key0 + i)) / (s->gamma + 1);
}

double qsketch_quantile(const struct qsketch *s, double q)
{
    double r, f, lo;

    if (s->count == 0 || !(q >= 0 && q <= 1))
        return NAN;
    r = q * (double)(s->count - 1);
    f = r - floor(r);
    lo = order_stat(s, (int64_t)floor(r));
    if (f == 0 || (int64_t)floor(r) + 1 >= s->count)
        return lo;
    return lo + (order_stat(s, (int64_t)floor(r) + 1) - lo) * f;
}
