#include "traces/source.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/jcfg.h"
#include "base/names.h"
#include "traces/kinds.h"
#include "traces/rows.h"

/* Every kind, by name.  A new kind is one file and one line here. */
static const struct source_ops *const kinds[] = {
    &source_azure, &source_burstgpt, &source_gamma, &source_generic,
    &source_merge, &source_mooncake, &source_poisson, &source_rate_curve,
    &source_closed_loop, &source_rag,
    NULL
};

/* Keys read here for every kind: the transforms around its next(). */
static const char *const common_keys[] = {
    "type", "limit", "start_s", "end_s", "rate_scale", "sample",
    "max_prompt_tokens", "max_output_tokens", "tenant", "priority", NULL
};

/* Seconds in config become int64 ns: at most about 292 years. */
#define SOURCE_MAX_S 9.2e9

struct xform {
    int64_t limit;           /* INT64_MAX: none */
    int64_t start_ns;        /* window start, subtracted from arrivals */
    int64_t end_ns;          /* INT64_MAX: none */
    double rate_scale;       /* 1: unchanged */
    double sample;           /* 1: keep every request */
    int64_t max_prompt, max_output;
    int64_t tenant, priority;
    bool set_tenant, set_priority;
};

struct req_source {
    const struct source_ops *ops;
    void *st;                /* the kind's state, ops->state_size bytes */
    struct xform xf;
    gsl_rng *sample_rng;     /* NULL unless sample < 1 */
    struct source_counts counts;
    int64_t last_ns;         /* the kind's previous arrival */
    int err;                 /* first error; the source is dead after it */
    bool done;
};

enum xf_verdict { XF_KEEP, XF_DROP, XF_STOP };

uint64_t source_mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

gsl_rng *source_rng(uint64_t seed, uint64_t stream, struct llm_diag *d)
{
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    uint64_t x = source_mix64(seed + 0x9e3779b97f4a7c15ULL * (stream + 1));

    if (r == NULL) {
        diag_set(d, LLM_ENOMEM, "out of memory for a random generator");
        return NULL;
    }
    /* mt19937 takes 32 bits of seed: fold both halves in. */
    gsl_rng_set(r, (unsigned long)((x ^ (x >> 32)) & 0xffffffffULL));
    return r;
}

int source_check_keys(const cJSON *cfg, const char *path,
                      const char *const *own, struct llm_diag *d)
{
    const char *all[48];
    size_t n = 0;

    for (size_t i = 0; own[i] != NULL && n < 32; i++)
        all[n++] = own[i];
    for (size_t i = 0; common_keys[i] != NULL; i++)
        all[n++] = common_keys[i];
    all[n] = NULL;
    return jcfg_known(cfg, path, all, d);
}

int source_pos_num(const cJSON *obj, const char *path, const char *key,
                   bool required, double *out, struct llm_diag *d)
{
    double v = 1;
    char kp[256];

    if (cJSON_GetObjectItemCaseSensitive(obj, key) == NULL)
        return jcfg_num(obj, path, key, required, 0, INFINITY, out, d);
    if (jcfg_num(obj, path, key, true, 0, INFINITY, &v, d) != LLM_OK)
        return d->code;
    if (v == 0) {
        jcfg_keypath(kp, sizeof(kp), path, key);
        return diag_set(d, LLM_EINVAL, "%s: expected a positive number, "
                        "got 0", kp);
    }
    *out = v;
    return LLM_OK;
}

int source_open_rows(const char *file, const char *path, struct rows **out,
                     struct llm_diag *d)
{
    char kp[256], e[200];
    FILE *f = fopen(file, "rb");
    int err = errno;

    *out = NULL;
    if (f == NULL) {
        jcfg_keypath(kp, sizeof(kp), path, "path");
        return diag_set(d, LLM_EINVAL, "%s: cannot open \"%s\": %s", kp,
                        diag_escape(file, e, sizeof(e)), strerror(err));
    }
    fclose(f);
    return rows_open(file, out, d);
}

static const char *kind_at(const void *t, size_t i)
{
    const struct source_ops *const *x = t;

    return x[i] ? x[i]->name : NULL;
}

static int find_kind(const cJSON *cfg, const char *path,
                     const struct source_ops **out, struct llm_diag *d)
{
    const char *type = NULL;
    char kp[256], list[256];
    long i;

    if (jcfg_str(cfg, path, "type", true, &type, d) != LLM_OK)
        return d->code;
    i = names_find(kinds, kind_at, type, list, sizeof(list));
    if (i >= 0) {
        *out = kinds[i];
        return LLM_OK;
    }
    jcfg_keypath(kp, sizeof(kp), path, "type");
    return diag_set(d, LLM_EINVAL, "%s: unknown \"%s\" (known: %s)", kp, type,
                    list);
}

static int read_seconds(const cJSON *cfg, const char *path, const char *key,
                        int64_t *out_ns, struct llm_diag *d)
{
    double s = -1;

    if (jcfg_num(cfg, path, key, false, 0, SOURCE_MAX_S, &s, d) != LLM_OK)
        return d->code;
    if (s >= 0)
        *out_ns = llround(s * 1e9);
    return LLM_OK;
}

static int read_sample(const cJSON *cfg, const char *path, double *out,
                       struct llm_diag *d)
{
    char kp[256];

    if (jcfg_num(cfg, path, "sample", false, 0, 1, out, d) != LLM_OK)
        return d->code;
    if (*out > 0)
        return LLM_OK;
    jcfg_keypath(kp, sizeof(kp), path, "sample");
    return diag_set(d, LLM_EINVAL, "%s: expected a number in (0, 1], got 0",
                    kp);
}

static int read_window(const cJSON *cfg, const char *path, struct xform *x,
                       struct llm_diag *d)
{
    char kp[256];

    if (read_seconds(cfg, path, "start_s", &x->start_ns, d) != LLM_OK ||
        read_seconds(cfg, path, "end_s", &x->end_ns, d) != LLM_OK)
        return d->code;
    if (x->end_ns > x->start_ns)
        return LLM_OK;
    jcfg_keypath(kp, sizeof(kp), path, "end_s");
    return diag_set(d, LLM_EINVAL, "%s: expected a time after start_s "
                    "(%.9g s), got %.9g", kp, (double)x->start_ns / 1e9,
                    (double)x->end_ns / 1e9);
}

/* rate_scale below 1e-6 stretches arrivals past the int64-ns clock
 * (the stream would end there with nothing said; issue 23). */
static int read_rate_scale(const cJSON *cfg, const char *path, double *out,
                           struct llm_diag *d)
{
    char kp[256];

    if (source_pos_num(cfg, path, "rate_scale", false, out, d) != LLM_OK)
        return d->code;
    if (*out >= 1e-6)
        return LLM_OK;
    jcfg_keypath(kp, sizeof(kp), path, "rate_scale");
    return diag_set(d, LLM_EINVAL, "%s: expected a number of at least 1e-06 "
                    "(slower scaling moves arrivals past the "
                    "int64-nanosecond clock), got %g", kp, *out);
}

static int read_xform(const cJSON *cfg, const char *path, struct xform *x,
                      struct llm_diag *d)
{
    *x = (struct xform){ .limit = INT64_MAX, .end_ns = INT64_MAX,
                         .rate_scale = 1, .sample = 1,
                         .max_prompt = INT32_MAX, .max_output = INT32_MAX };
    x->set_tenant = cJSON_GetObjectItemCaseSensitive(cfg, "tenant") != NULL;
    x->set_priority = cJSON_GetObjectItemCaseSensitive(cfg, "priority") !=
                      NULL;
    if (jcfg_int(cfg, path, "limit", false, 1, INT64_MAX, &x->limit, d) ||
        read_window(cfg, path, x, d) ||
        read_rate_scale(cfg, path, &x->rate_scale, d) ||
        read_sample(cfg, path, &x->sample, d) ||
        jcfg_int(cfg, path, "max_prompt_tokens", false, 1, INT32_MAX,
                 &x->max_prompt, d) ||
        jcfg_int(cfg, path, "max_output_tokens", false, 1, INT32_MAX,
                 &x->max_output, d) ||
        jcfg_int(cfg, path, "tenant", false, 0, INT32_MAX, &x->tenant, d) ||
        jcfg_int(cfg, path, "priority", false, INT32_MIN, INT32_MAX,
                 &x->priority, d))
        return d->code;
    return LLM_OK;
}

static int alloc_source(const struct source_ops *ops, const struct xform *x,
                        uint64_t seed, struct req_source **out,
                        struct llm_diag *d)
{
    struct req_source *s = calloc(1, sizeof(*s));

    *out = s;
    if (s == NULL)
        return diag_set(d, LLM_ENOMEM, "out of memory opening a source");
    s->ops = ops;
    s->xf = *x;
    s->st = calloc(1, ops->state_size ? ops->state_size : 1);
    if (s->st == NULL)
        return diag_set(d, LLM_ENOMEM, "out of memory opening a source");
    /* Stream 0 of the seed is the sampler's; kinds use streams 1 and up. */
    if (x->sample < 1 && (s->sample_rng = source_rng(seed, 0, d)) == NULL)
        return d->code;
    return LLM_OK;
}

int source_open(const cJSON *cfg, const char *path, uint64_t seed,
                struct req_source **out, struct llm_diag *d)
{
    const struct source_ops *ops = NULL;
    struct req_source *s = NULL;
    struct xform x;

    *out = NULL;
    if (!cJSON_IsObject(cfg))
        return diag_set(d, LLM_EINVAL, "%s: expected an object",
                        path[0] ? path : "workload");
    if (find_kind(cfg, path, &ops, d) != LLM_OK ||
        read_xform(cfg, path, &x, d) != LLM_OK)
        return d->code;
    if (alloc_source(ops, &x, seed, &s, d) != LLM_OK ||
        ops->open(s->st, cfg, path, seed, d) != LLM_OK) {
        source_close(s);
        return d->code;
    }
    *out = s;
    return LLM_OK;
}

/* How many leading segments fit whole in `tokens` prompt tokens (a cut
 * segment no longer holds its text). */
static int32_t segs_within(const struct req_seg *g, int32_t n,
                           int64_t tokens)
{
    int32_t i;

    for (i = 0; g != NULL && i < n && g[i].tokens <= tokens; i++)
        tokens -= g[i].tokens;
    return g != NULL ? i : 0;
}

/* Shortens the prompt and keeps only the hash blocks and segments it
 * still fills: a partial block's hash would claim tokens the request no
 * longer has. */
static void cap_lengths(struct req_source *s, struct req_spec *r)
{
    if (r->prompt_tokens > s->xf.max_prompt) {
        r->prompt_tokens = (int32_t)s->xf.max_prompt;
        s->counts.capped_prompt++;
        if (r->block_hashes != NULL &&
            r->n_block_hashes > r->prompt_tokens / r->hash_block_tokens)
            r->n_block_hashes = r->prompt_tokens / r->hash_block_tokens;
        r->n_segs = segs_within(r->segs, r->n_segs, r->prompt_tokens);
    }
    if (r->output_tokens > s->xf.max_output) {
        r->output_tokens = (int32_t)s->xf.max_output;
        s->counts.capped_output++;
    }
}

/* Window, then sample, then rate scaling, caps and overrides. */
static enum xf_verdict xform_apply(struct req_source *s, struct req_spec *r)
{
    const struct xform *x = &s->xf;
    double t;

    if (r->arrival_ns < x->start_ns) {
        s->counts.dropped_window++;
        return XF_DROP;
    }
    if (r->arrival_ns >= x->end_ns)
        return XF_STOP;     /* arrivals never decrease: nothing follows */
    if (s->sample_rng != NULL && gsl_rng_uniform(s->sample_rng) >= x->sample) {
        s->counts.dropped_sample++;
        return XF_DROP;
    }
    r->arrival_ns -= x->start_ns;
    if (x->rate_scale != 1) {
        t = (double)r->arrival_ns / x->rate_scale;
        if (t >= 9.2e18)
            return XF_STOP; /* beyond int64 ns: the stream ends there */
        r->arrival_ns = llround(t);
    }
    cap_lengths(s, r);
    if (x->set_tenant)
        r->tenant = (int32_t)x->tenant;
    if (x->set_priority)
        r->priority = (int32_t)x->priority;
    return XF_KEEP;
}

int source_next(struct req_source *s, struct req_spec *out, bool *eof,
                struct llm_diag *d)
{
    bool kind_eof = false;
    enum xf_verdict v = XF_DROP;

    *eof = false;
    if (s->err != LLM_OK)
        return diag_set(d, s->err, "the request source failed earlier");
    while (!s->done && s->counts.emitted < s->xf.limit) {
        s->err = s->ops->next(s->st, out, &kind_eof, d);
        if (s->err != LLM_OK)
            return s->err;
        if (kind_eof)
            break;
        /* The kinds' contract (source.h), not input: they validate rows. */
        assert(out->arrival_ns >= s->last_ns);
        assert(out->prompt_tokens >= 1 && out->output_tokens >= 1);
        s->last_ns = out->arrival_ns;
        s->counts.rows++;
        v = xform_apply(s, out);
        if (v == XF_KEEP) {
            s->counts.emitted++;
            return LLM_OK;
        }
        s->done = v == XF_STOP;
    }
    s->done = true;
    *eof = true;
    return LLM_OK;
}

int source_guess_type(const char *path, const char **type,
                      struct llm_diag *d)
{
    struct rows *r = NULL;
    char *line = "";
    bool eof = false;

    *type = "generic";
    if (rows_open(path, &r, d) != LLM_OK ||
        rows_next(r, &line, &eof, d) != LLM_OK) {
        rows_close(r);
        return d->code;
    }
    for (size_t i = 0; !eof && kinds[i] != NULL; i++)
        if (kinds[i]->sniff != NULL && kinds[i]->sniff(line)) {
            *type = kinds[i]->name;
            break;
        }
    rows_close(r);
    return LLM_OK;
}

void source_get_counts(const struct req_source *s, struct source_counts *out)
{
    *out = s->counts;
    if (s->ops->counts != NULL)
        s->ops->counts(s->st, out);
}

void source_close(struct req_source *s)
{
    if (s == NULL)
        return;
    if (s->st != NULL)
        s->ops->close(s->st);
    gsl_rng_free(s->sample_rng);
    free(s->st);
    free(s);
}

int source_feedback(struct req_source *s, int64_t session, int64_t finish_ns,
                    struct req_spec *out, bool *has, struct llm_diag *d)
{
    *has = false;
    if (s->ops->feedback == NULL || s->err != LLM_OK ||
        s->counts.emitted >= s->xf.limit)
        return LLM_OK;
    s->err = s->ops->feedback(s->st, session, finish_ns, out, has, d);
    if (s->err == LLM_OK && *has)
        s->counts.emitted++;
    return s->err;
}
