#include "tests/fixture.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>

char fx_tmpdir[256];

void fx_setup(void)
{
    snprintf(fx_tmpdir, sizeof(fx_tmpdir), "/tmp/llmsim-test-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(fx_tmpdir));
}

void fx_teardown(void)
{
    char cmd[300];

    snprintf(cmd, sizeof(cmd), "rm -rf %s", fx_tmpdir);
    ck_assert_int_eq(system(cmd), 0);
}

void fx_skip(const char *check, const char *reason)
{
    const char *log = getenv("LLMSIM_SKIP_LOG");
    FILE *f = log != NULL ? fopen(log, "a") : NULL;

    fprintf(stderr, "%s: skipped: %s\n", check, reason);
    if (f == NULL)
        return;
    fprintf(f, "%s\t%s\n", reason, check);
    fclose(f);
}

const char *fx_path(const char *name)
{
    static char path[8][512];
    static int k;

    k = (k + 1) % 8;
    snprintf(path[k], sizeof(path[k]), "%s/%s", fx_tmpdir, name);
    return path[k];
}

const char *fx_put(const char *name, const char *text)
{
    const char *p = fx_path(name);
    FILE *f = fopen(p, "w");

    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
    return p;
}

int fx_trace_next(void *ctx, struct req_spec *out, bool *eof,
                  struct llm_diag *d)
{
    struct fx_trace *t = ctx;

    (void)d;
    if (t->next == t->n) {
        *eof = true;
        return LLM_OK;
    }
    *out = t->specs[t->next++];
    return LLM_OK;
}

int fx_trace_cost(void *ctx, const struct batch *b, int64_t *ns)
{
    const struct fx_trace *t = ctx;

    *ns = t->cost_ns + t->per_token_ns * batch_tokens(b);
    return LLM_OK;
}
