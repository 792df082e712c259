/* analysis/qsketch.h: quantiles of a stream in bounded memory, with a
 * relative error bound (issue 24).
 *
 * A relative-error sketch in the manner of DDSketch (Masson, Rim and Lee,
 * "DDSketch: a fast and fully-mergeable quantile sketch with relative-
 * error guarantees", VLDB 2019): a value x > 0 is counted in bin
 * k = ceil(log(x) / log(gamma)), gamma = (1 + alpha) / (1 - alpha), and
 * every value of bin k is represented by 2 gamma^k / (gamma + 1), which
 * is within a relative alpha of any x in (gamma^(k-1), gamma^k].  Values
 * below min_value (0 included) share one bin represented by 0.  GSL has
 * no streaming quantile sketch with a bound (gsl_rstat has the P^2
 * estimate of one quantile, without one), so this one is our own.
 *
 * Contract.  Let v_0 <= ... <= v_{n-1} be the values added, and the
 * exact quantile be GSL's (gsl_stats_quantile_from_sorted_data, numpy's
 * default): r = q (n - 1), lo = floor(r), f = r - lo,
 * Q = (1 - f) v_lo + f v_{lo+1}.  qsketch_quantile returns
 * (1 - f) e_lo + f e_{lo+1} with e_k the representative of v_k's bin, so
 *     |estimate - Q| <= alpha * Q + min_value
 * (plus the rounding of a log and a pow: a relative 1e-12).  Memory: one
 * int64 count per bin between the smallest and the largest bin seen,
 * at most ln(max / max(min, min_value)) / ln(gamma) + 1 bins (about
 * 4,600 for four decades at alpha = 0.001), whatever the count of values.
 * The sketch owns its bins (qsketch_free).  Not thread-safe. */
#ifndef LLM_QSKETCH_H
#define LLM_QSKETCH_H

#include <stdint.h>

struct qsketch {
    double alpha, gamma, log_gamma, min_value;
    int64_t key0;              /* bin key of bins[0] */
    int64_t *bins;
    int64_t n_bins;            /* bins held: keys [key0, key0 + n_bins) */
    int64_t zero;              /* values below min_value */
    int64_t count;             /* all values */
};

/* alpha in (0, 0.5), min_value > 0; LLM_EINVAL otherwise. */
int qsketch_init(struct qsketch *s, double alpha, double min_value);
void qsketch_free(struct qsketch *s);
/* The bin of x (x >= min_value; INT64_MIN: the zero bin, x below it).
 * Sketches with the same alpha and min_value share keys, so a value's
 * key can be computed once and added to several. */
int64_t qsketch_key(const struct qsketch *s, double x);
/* Counts a value by its key; LLM_ENOMEM (nothing counted). */
int qsketch_add_key(struct qsketch *s, int64_t key);
/* qsketch_add_key(s, qsketch_key(s, x)); LLM_EINVAL for x < 0 or NaN. */
int qsketch_add(struct qsketch *s, double x);
/* The q-quantile (q in [0, 1]) as described above; NaN when empty. */
double qsketch_quantile(const struct qsketch *s, double q);

#endif
