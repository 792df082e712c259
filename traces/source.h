/* traces/source.h: request sources (trace readers and generators).
 *
 * A source yields struct req_spec in non-decreasing arrival order, one at a
 * time, so memory does not grow with the trace.  Each kind is a const
 * struct source_ops registered by name in traces/source.c; the config's
 * "workload": {"type": NAME, ...} picks one and the source parses its own
 * keys (unknown keys are errors naming "workload.KEY").  Transforms common
 * to every source (time window, rate scaling, sampling, length caps,
 * request limit) are applied by source.c around the kind's next().
 *
 * Errors: a malformed row sets d->file to the trace path and the message
 * "line N: COLUMN: expected ..., got ..."; the source is then unusable.
 * Ownership: source_open returns a source owned by the caller
 * (source_close).  Spec fields that point into the source (block_hashes)
 * are valid until the next source_next call.  Not thread-safe. */
#ifndef LLM_SOURCE_H
#define LLM_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "sim/diag.h"
#include "sim/request.h"

struct source_ops {
    const char *name;
    size_t state_size;                 /* zeroed state allocated by core */
    /* cfg is the workload object, path its key path for messages; seed
     * seeds any GSL generator the kind uses. */
    int (*open)(void *st, const cJSON *cfg, const char *path, uint64_t seed,
                struct llm_diag *d);
    /* Fills *out, or sets *eof.  Arrival times never decrease. */
    int (*next)(void *st, struct req_spec *out, bool *eof,
                struct llm_diag *d);
    void (*close)(void *st);           /* frees what open allocated */
};

struct req_source;

/* Opens the source described by cfg (a "workload" object).  The names of
 * the known kinds are listed in the error for an unknown "type". */
int source_open(const cJSON *cfg, const char *path, uint64_t seed,
                struct req_source **out, struct llm_diag *d);
int source_next(struct req_source *s, struct req_spec *out, bool *eof,
                struct llm_diag *d);
void source_close(struct req_source *s);   /* NULL ok */

#endif
