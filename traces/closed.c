/* traces/closed.c: closed-loop users ("closed_loop").
 *
 * `users` users each send a request, wait for its last token, think for an
 * exponentially distributed time (mean think_s) and send the next, until
 * num_requests requests were sent in all: the load follows the system's
 * latency, as benchmark clients with a fixed concurrency do.  next() yields
 * each user's first request (at 0, or spread uniformly over
 * start_spread_s); every later one comes from feedback(), which the
 * simulator calls when a request of that user (its session) finishes. */
#include <math.h>
#include <stdlib.h>

#include <gsl/gsl_randist.h>

#include "base/jcfg.h"
#include "traces/kinds.h"
#include "traces/lendist.h"

struct closed {
    gsl_rng *rng;
    struct lendist *prompt, *output;
    int64_t users, total, sent;
    double think_s;
    int64_t *start_ns;           /* first arrival of each user, sorted */
};

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return (x > y) - (x < y);
}

static int closed_open(void *st, const cJSON *cfg, const char *path,
                       uint64_t seed, struct llm_diag *d)
{
    static const char *const own[] = { "users", "num_requests", "think_s",
        "start_spread_s", "prompt", "output", NULL };
    struct closed *c = st;
    char kp[256];
    double spread = 0;
    int64_t i;
    int rc = source_check_keys(cfg, path, own, d);

    c->think_s = 1.0;
    if (!rc) rc = jcfg_int(cfg, path, "users", true, 1, 1 << 24, &c->users,
                           d);
    if (!rc) rc = jcfg_int(cfg, path, "num_requests", true, 1, INT64_MAX,
                           &c->total, d);
    if (!rc) rc = jcfg_num(cfg, path, "think_s", false, 0, 1e9, &c->think_s,
                           d);
    if (!rc) rc = jcfg_num(cfg, path, "start_spread_s", false, 0, 1e9,
                           &spread, d);
    if (rc)
        return rc;
    jcfg_keypath(kp, sizeof(kp), path, "prompt");
    rc = lendist_open(cJSON_GetObjectItemCaseSensitive(cfg, "prompt"), kp,
                      seed, &c->prompt, d);
    jcfg_keypath(kp, sizeof(kp), path, "output");
    if (!rc) rc = lendist_open(cJSON_GetObjectItemCaseSensitive(cfg,
                               "output"), kp, seed, &c->output, d);
    if (rc)
        return rc;
    c->rng = gsl_rng_alloc(gsl_rng_mt19937);
    c->start_ns = calloc((size_t)c->users, sizeof(*c->start_ns));
    if (c->rng == NULL || c->start_ns == NULL)
        return diag_set(d, LLM_ENOMEM, "out of memory");
    gsl_rng_set(c->rng, source_mix64(seed ^ 0xC105EDull));
    for (i = 0; i < c->users; i++)
        c->start_ns[i] = (int64_t)llround(gsl_rng_uniform(c->rng) * spread *
                                          1e9);
    qsort(c->start_ns, (size_t)c->users, sizeof(*c->start_ns), cmp_i64);
    return LLM_OK;
}

static void draw(struct closed *c, int64_t user, int64_t at_ns,
                 struct req_spec *out)
{
    *out = (struct req_spec){ .arrival_ns = at_ns,
        .prompt_tokens = lendist_draw(c->prompt, c->rng),
        .output_tokens = lendist_draw(c->output, c->rng),
        .session = user };
    c->sent++;
}

static int closed_next(void *st, struct req_spec *out, bool *eof,
                       struct llm_diag *d)
{
    struct closed *c = st;

    (void)d;
    if (c->sent >= c->users || c->sent >= c->total) {
        *eof = true;
        return LLM_OK;
    }
    draw(c, c->sent, c->start_ns[c->sent], out);
    return LLM_OK;
}

static int closed_feedback(void *st, int64_t session, int64_t finish_ns,
                           struct req_spec *out, bool *has,
                           struct llm_diag *d)
{
    struct closed *c = st;
    double think = c->think_s > 0 ? gsl_ran_exponential(c->rng, c->think_s)
                                  : 0;

    (void)d;
    /* A think time past the int64-ns clock never ends (as in gen.c). */
    *has = session >= 0 && session < c->users && c->sent >= c->users &&
           c->sent < c->total && think * 1e9 < 9.0e18 - (double)finish_ns;
    if (*has)
        draw(c, session, finish_ns + (int64_t)llround(think * 1e9), out);
    return LLM_OK;
}

static void closed_close(void *st)
{
    struct closed *c = st;

    gsl_rng_free(c->rng);
    lendist_close(c->prompt);
    lendist_close(c->output);
    free(c->start_ns);
}

const struct source_ops source_closed_loop = {
    .name = "closed_loop",
    .state_size = sizeof(struct closed),
    .open = closed_open,
    .next = closed_next,
    .close = closed_close,
    .feedback = closed_feedback,
};
