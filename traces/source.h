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
 * are valid until the next source_next call.  Not thread-safe.
 * Every kind, key and unit is described in traces/README.md. */
#ifndef LLM_SOURCE_H
#define LLM_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "base/diag.h"
#include "sim/request.h"

/* What a source read, dropped and changed, for reports (trace stats). */
struct source_counts {
    int64_t rows;            /* requests the kind produced */
    int64_t emitted;         /* requests source_next returned */
    int64_t dropped_window;  /* before start_s */
    int64_t dropped_sample;  /* not drawn by "sample" */
    int64_t capped_prompt;   /* shortened to max_prompt_tokens */
    int64_t capped_output;   /* shortened to max_output_tokens */
    int64_t skipped;         /* rows the kind's own filters dropped */
    int64_t output_zero;     /* rows whose output of 0 was read as 1 */
};

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
    /* Frees what open allocated.  Also called after a failed open, on the
     * zeroed state and whatever open had set by then. */
    void (*close)(void *st);
    /* Optional (NULL: nothing to add): adds the kind's own counts
     * (skipped, output_zero; a merge adds its children's) to *c. */
    void (*counts)(const void *st, struct source_counts *c);
    /* Optional: whether a file whose first line is this is of the kind
     * (source_guess_type). */
    bool (*sniff)(const char *first_line);
    /* Optional (closed-loop kinds): a request of session finished at
     * finish_ns; fills *out with that session's next request and sets
     * *has, or leaves *has false.  out->arrival_ns >= finish_ns. */
    int (*feedback)(void *st, int64_t session, int64_t finish_ns,
                    struct req_spec *out, bool *has, struct llm_diag *d);
};

struct req_source;

/* Opens the source described by cfg (a "workload" object); path is its
 * key path for messages ("workload").  The names of the known kinds are
 * listed in the error for an unknown "type".  Borrows cfg until
 * source_close, and a diag that names a trace file (d->file) points into
 * cfg: report it before deleting cfg. */
int source_open(const cJSON *cfg, const char *path, uint64_t seed,
                struct req_source **out, struct llm_diag *d);
int source_next(struct req_source *s, struct req_spec *out, bool *eof,
                struct llm_diag *d);
void source_close(struct req_source *s);   /* NULL ok */

/* Closed-loop feedback (see source_ops.feedback): *has false for kinds
 * without it.  Follow-up requests count against "limit" but bypass the
 * other transforms (they are generated at simulated time, not read). */
int source_feedback(struct req_source *s, int64_t session, int64_t finish_ns,
                    struct req_spec *out, bool *has, struct llm_diag *d);

/* The kind of a trace file, for a command line without --type: the first
 * kind whose sniff accepts the file's first line, else "generic".  *type
 * is a static string.  LLM_EIO if the file cannot be read. */
int source_guess_type(const char *path, const char **type,
                      struct llm_diag *d);

/* The counts so far (complete once source_next has reported eof). */
void source_get_counts(const struct req_source *s, struct source_counts *out);

#endif
