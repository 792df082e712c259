/* traces/kinds.h: what the source kinds share with the registry.
 *
 * Internal to traces/.  Each kind's const struct source_ops is defined in
 * its own file and listed once in the table in traces/source.c; the
 * helpers below are defined in source.c.  A kind may keep pointers into
 * cfg, which outlives the source (source.h), and does: a trace path that
 * d->file names points into cfg.  It copies path if it needs it later. */
#ifndef LLM_KINDS_H
#define LLM_KINDS_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <gsl/gsl_rng.h>

#include "base/diag.h"
#include "traces/rows.h"
#include "traces/source.h"

extern const struct source_ops source_azure;       /* traces/azure.c */
extern const struct source_ops source_burstgpt;    /* traces/burstgpt.c */
extern const struct source_ops source_generic;     /* traces/generic.c */
extern const struct source_ops source_mooncake;    /* traces/mooncake.c */
extern const struct source_ops source_merge;       /* traces/merge.c */
extern const struct source_ops source_poisson;     /* traces/gen.c */
extern const struct source_ops source_gamma;       /* traces/gen.c */
extern const struct source_ops source_rate_curve;  /* traces/gen.c */
extern const struct source_ops source_closed_loop; /* traces/closed.c */
extern const struct source_ops source_rag;         /* traces/gen.c */

/* jcfg_known over the kind's own keys (NULL-terminated) plus the keys
 * source.c reads for every kind ("type", "limit", "start_s", ...). */
int source_check_keys(const cJSON *cfg, const char *path,
                      const char *const *own, struct llm_diag *d);

/* A number > 0: jcfg_num's checks, then "PATH.KEY: expected a positive
 * number, got 0" for zero.  Absent and not required: *out unchanged. */
int source_pos_num(const cJSON *obj, const char *path, const char *key,
                   bool required, double *out, struct llm_diag *d);

/* rows_open of file, the value of PATH.path: a file that cannot be
 * opened is bad input the config named, LLM_EINVAL "PATH.path: cannot
 * open "FILE": why" (issue 23: it exited 1). */
int source_open_rows(const char *file, const char *path, struct rows **out,
                     struct llm_diag *d);

/* splitmix64's finalizer: a bijective 64-bit mix. */
uint64_t source_mix64(uint64_t x);

/* A gsl_rng_mt19937 for sub-stream `stream` of a seed; distinct streams
 * of one seed are unrelated generators.  NULL: out of memory (message
 * set).  GSL's own error handler runs first on that path, and it aborts
 * unless the program turned it off. */
gsl_rng *source_rng(uint64_t seed, uint64_t stream, struct llm_diag *d);

#endif
