/* analysis/sweep.h: a sweep file and the points it expands to.
 *
 * A sweep is a base scenario, fixed overrides ("set"), a list of values per
 * config key path ("params") and a list of seeds; its points are the
 * cartesian product of the values, each run once per seed.  A point is a
 * list of "key.path=value" overrides (run/scenario.h's --set form, values
 * as JSON text) plus "seed=N", and it is identified by its canonical
 * parameters: a JSON object of its key paths in byte order with the
 * values as cJSON prints them (so 2 and 2.0 are one point), with the
 * seed kept beside it.  docs/analysis.md documents every key.
 *
 * The plan file (analysis/plan.h) shares base, set, seeds and the value
 * lists (there called "candidates"), so both read them through
 * sweep_spec_read.  Errors name the file and the key path.  A spec owns
 * its parsed JSON and every string in it; a point list owns its strings.
 * No state; not thread-safe only in that a spec is not shared. */
#ifndef LLM_SWEEP_H
#define LLM_SWEEP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "base/diag.h"

struct sweep_param {
    const char *key;             /* borrowed from the spec's JSON */
    char **values;               /* unformatted JSON texts, owned */
    size_t n_values;
};

struct sweep_spec {
    cJSON *root;                 /* the parsed file */
    const char *path;            /* borrowed: the file */
    char name[128];
    char base_path[1024];        /* the base scenario file */
    const cJSON *base_inline;    /* "base" given as an object, or NULL */
    char **fixed;                /* "key=value" from "set", NULL-terminated */
    struct sweep_param *params;
    size_t n_params;
    uint64_t *seeds;
    size_t n_seeds;
    char load_axis[128];         /* plots' x grouping key */
    double confidence;           /* level of the intervals, e.g. 0.95 */
    char out_dir[512];
    bool keep_runs;
    int64_t jobs;
};

struct sweep_point {
    char *params;                /* canonical JSON object */
    char **sets;                 /* overrides then "seed=N", NULL-ended */
    uint64_t seed;
    int64_t id;                  /* database row; 0 until registered */
    int status;                  /* enum sweepdb_status once registered */
};

/* Reads SWEEP.json: keys name, base, set, params, seeds, load_axis,
 * confidence, out, keep_runs, jobs.  On error nothing is left to free. */
int sweep_load(const char *path, struct sweep_spec *sp, struct llm_diag *d);
/* Adds "key=value" (value a JSON string) to sp->fixed, as if the file's
 * "set" held it (it joins the sweep's identity): the command line's
 * --engine. */
int sweep_add_fixed(struct sweep_spec *sp, const char *key,
                    const char *value, struct llm_diag *d);

/* The keys both files share, read from an already parsed root into sp
 * (which takes root): values_key is "params" or "candidates".  Callers
 * check unknown keys themselves.  sp->path must be set. */
int sweep_spec_read(cJSON *root, const char *values_key,
                    struct sweep_spec *sp, struct llm_diag *d);
void sweep_spec_free(struct sweep_spec *sp);

/* Writes an inline base to DIR/base.json (once, through a temporary name)
 * and points base_path at it; a no-op when the base is a file. */
int sweep_base_materialize(struct sweep_spec *sp, const char *dir,
                           struct llm_diag *d);

/* The identity of the base a sweep database was made from: the base
 * file's JSON, unformatted, then each fixed override on its own line.
 * Caller frees. */
int sweep_base_identity(const struct sweep_spec *sp, char **out,
                        struct llm_diag *d);

/* The cartesian product of the params (first key outermost), each point
 * once per seed (innermost).  Caller frees with sweep_points_free. */
int sweep_expand(const struct sweep_spec *sp, struct sweep_point **out,
                 size_t *n, struct llm_diag *d);

/* The number of combinations of the params (without seeds), and the key
 * paths and value texts of combination c (borrowed from sp; arrays of
 * sp->n_params). */
size_t sweep_combinations(const struct sweep_spec *sp);
void sweep_combination(const struct sweep_spec *sp, size_t c,
                       const char **keys, const char **values);

/* One point from n key paths and their JSON value texts. */
int sweep_point_make(const char *const *keys, const char *const *values,
                     size_t n, uint64_t seed, struct sweep_point *out);
void sweep_point_clear(struct sweep_point *p);
void sweep_points_free(struct sweep_point *p, size_t n);

/* "k=v, k=v" of a canonical params object, for tables and legends;
 * keys listed in skip (NULL-terminated, may be NULL) are left out. */
void sweep_params_label(const char *params_json, const char *const *skip,
                        char *buf, size_t len);

#endif
