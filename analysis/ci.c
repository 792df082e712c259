#include "analysis/ci.h"

#include <math.h>

#include <gsl/gsl_cdf.h>
#include <gsl/gsl_statistics_double.h>

void ci_mean(const double *x, size_t n, double level, struct ci *out)
{
    double half;

    *out = (struct ci){ .n = n, .mean = NAN, .lo = NAN, .hi = NAN };
    if (n == 0)
        return;
    out->mean = gsl_stats_mean(x, 1, n);
    if (n < 2)
        return;
    out->sd = gsl_stats_sd_m(x, 1, n, out->mean);
    half = gsl_cdf_tdist_Pinv(0.5 + level / 2, (double)(n - 1)) * out->sd /
           sqrt((double)n);
    out->lo = out->mean - half;
    out->hi = out->mean + half;
}

double ci_bound(const struct ci *c, double level, bool upper)
{
    double half;

    if (c->n < 2)
        return c->mean;
    half = gsl_cdf_tdist_Pinv(level, (double)(c->n - 1)) * c->sd /
           sqrt((double)c->n);
    return upper ? c->mean + half : c->mean - half;
}
