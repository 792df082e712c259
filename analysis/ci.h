/* analysis/ci.h: the mean of a metric over seeds and its confidence
 * interval.
 *
 * Seeds are independent replications, so the mean's interval is Student
 * t with n - 1 degrees of freedom (GSL's gsl_cdf_tdist_Pinv):
 * mean +- t((1 + level) / 2, n - 1) * sd / sqrt(n), sd the sample standard
 * deviation (n - 1 in the denominator).  With one seed there is no
 * interval: lo and hi are NAN.  Pure functions; no state. */
#ifndef LLM_CI_H
#define LLM_CI_H

#include <stdbool.h>
#include <stddef.h>

struct ci {
    size_t n;
    double mean, sd;     /* sd is 0 when n < 2 */
    double lo, hi;       /* two-sided interval at the level asked; NAN if n < 2 */
};

/* level in (0, 1), e.g. 0.95.  x holds n >= 1 values. */
void ci_mean(const double *x, size_t n, double level, struct ci *out);

/* One-sided bound of the mean at level: mean + t(level, n - 1) sd / sqrt(n)
 * (upper) or mean - ... (lower).  With n < 2 it is the mean itself: one
 * replication gives no spread to bound (callers say so). */
double ci_bound(const struct ci *c, double level, bool upper);

#endif
