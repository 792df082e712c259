/* traces/arrivals.h: the arrival processes behind the generator kinds.
 *
 * Each process reads its own keys from the workload object and yields
 * the next arrival after a given time, drawing from the gsl_rng the
 * caller passes (so the process holds no random state):
 *   poisson     rate (req/s): exponential gaps of mean 1/rate.
 *   gamma       rate, cv: gamma gaps of mean 1/rate and coefficient of
 *               variation cv (shape 1/cv^2): cv 1 is Poisson, above 1
 *               burstier, below 1 smoother.
 *   rate_curve  curve [[t_s, rate], ...]: a rate (req/s) linear between
 *               points, t_s from 0 and increasing; after the last point the
 *               last rate holds, or with repeat true the curve repeats with
 *               the last t_s as its period (a day for a diurnal curve).  A
 *               non-homogeneous Poisson process, drawn by thinning (Lewis
 *               and Shedler 1979): candidates at the peak rate, each kept
 *               with probability rate(t) / peak.
 * Times are int64 ns; INT64_MAX means no further arrival (past the int64
 * range, or a curve that ends at rate 0).  Not thread-safe. */
#ifndef LLM_ARRIVALS_H
#define LLM_ARRIVALS_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <gsl/gsl_rng.h>

#include "base/diag.h"

struct arrival_ops {
    const char *name;
    size_t state_size;                 /* zeroed by the caller */
    const char *const *keys;           /* what open reads; NULL-ended */
    int (*open)(void *st, const cJSON *cfg, const char *path,
                struct llm_diag *d);
    /* The first arrival after now_ns (> now_ns except for a zero gap). */
    int64_t (*next_ns)(const void *st, gsl_rng *r, int64_t now_ns);
    void (*close)(void *st);           /* optional; also after failed open */
};

extern const struct arrival_ops arrival_poisson;
extern const struct arrival_ops arrival_gamma;
extern const struct arrival_ops arrival_rate_curve;

#endif
