/* tests/fixture.h: a temporary folder for each test, and files in it.
 *
 * fx_setup/fx_teardown are Check fixtures (tcase_add_checked_fixture):
 * the first makes /tmp/llmsim-test-XXXXXX, the second deletes it.
 * fx_put writes text to a file in the folder and returns its path, which
 * stays valid for the next seven calls (a ring of buffers).  Test-only
 * code: the folder name is process state, one test at a time.
 *
 * struct fx_trace is a simulation input whose times are computable by
 * hand: fx_trace_next, a request source (sim/sim.h) over an array, and
 * fx_trace_cost, an iteration cost of cost_ns + per_token_ns x the batch's
 * tokens; both take the struct fx_trace as their context. */
#ifndef LLM_TEST_FIXTURE_H
#define LLM_TEST_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sim/batch.h"
#include "base/diag.h"
#include "sim/request.h"

struct fx_trace {
    const struct req_spec *specs;
    size_t n, next;              /* specs given; the next to hand out */
    int64_t cost_ns;             /* per iteration */
    int64_t per_token_ns;        /* plus this per batch token */
};

int fx_trace_next(void *ctx, struct req_spec *out, bool *eof,
                  struct llm_diag *d);
int fx_trace_cost(void *ctx, const struct batch *b, int64_t *ns);

/* Records that a check skipped its assertions, and why (the skip
 * registry).  Prints "check: skipped: reason" to stderr and appends a
 * line to the file $LLMSIM_SKIP_LOG names (tests/check_main.c makes it;
 * a forked check's record survives its process that way), so that the
 * run ends with the number of skipped checks by reason.  A reason that
 * starts with FX_SKIP_NO_GPU is the only one `make test` accepts
 * (LLMSIM_TEST_STRICT=1): any other fails the run.  Call it, then
 * return from the check. */
#define FX_SKIP_NO_GPU "no GPU"
void fx_skip(const char *check, const char *reason);

extern char fx_tmpdir[256];

void fx_setup(void);
void fx_teardown(void);
/* The path of name inside the folder (ring of eight buffers). */
const char *fx_path(const char *name);
const char *fx_put(const char *name, const char *text);

#endif
