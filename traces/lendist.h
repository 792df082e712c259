/* traces/lendist.h: token-length distributions for the generators.
 *
 * An object {"dist": NAME, ...} picks one by name (unknown names are
 * errors listing the known ones):
 *   fixed     {"value": N}
 *   uniform   {"min": A, "max": B}       integers, both ends included
 *   lognormal {"mean": M, "cv": C}       or {"mu": MU, "sigma": S} (of ln x)
 *   zipf      {"s": S, "max": N}         P(k) proportional to k^-s, 1..N
 *   empirical {"path": F, "type": T, "column": "prompt"|"output", ...}
 *             draws uniformly from that column of a trace of kind T, read
 *             once at open; the other keys go to that source (its own and
 *             the common transforms).
 * Draws are whole tokens in [1, 2^31 - 1]: a continuous draw is rounded
 * to the nearest integer and kept in that range.  The caller owns the
 * distribution (lendist_close) and passes its gsl_rng to every draw, so
 * the distribution itself holds no random state.  Not thread-safe. */
#ifndef LLM_LENDIST_H
#define LLM_LENDIST_H

#include <stdint.h>

#include <cjson/cJSON.h>
#include <gsl/gsl_rng.h>

#include "base/diag.h"

struct lendist;

/* path is cfg's key path ("workload.prompt"); seed feeds an empirical
 * trace's own transforms (sample).  Borrows cfg like source_open. */
int lendist_open(const cJSON *cfg, const char *path, uint64_t seed,
                 struct lendist **out, struct llm_diag *d);
int32_t lendist_draw(const struct lendist *l, gsl_rng *r);
void lendist_close(struct lendist *l);      /* NULL ok */

#endif
