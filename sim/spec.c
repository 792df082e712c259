#include "sim/spec.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>

#include "base/jcfg.h"

/* A tree of more nodes than this is no longer a verify chunk anyone runs
 * (vLLM's tree attention backend takes a few dozen). */
#define SPEC_MAX_NODES 256

struct spec {
    const struct spec_config *cfg;
    gsl_rng *rng;
    struct batch draft;            /* scratch: one drafter pass */
    int32_t *ctx;                  /* scratch: proposers' contexts */
    size_t cap_ctx;
    struct spec_stats st;
};

/* ---- parsing ----------------------------------------------------------- */

static const char *const methods[] = { "draft", "eagle", "rsd", "mirror",
                                       NULL };
static const char *const mirror_keys[] = { "draft_device", "link",
    "early_exit", "branches", "stream", "reuse", "token_bytes", NULL };

static int parse_method(const cJSON *o, const char *path,
                        struct spec_config *c, struct llm_diag *d)
{
    const char *m = NULL;
    int i, rc = jcfg_str(o, path, "method", true, &m, d);

    if (rc)
        return rc;
    for (i = 0; methods[i] != NULL; i++) {
        if (strcmp(m, methods[i]) == 0) {
            c->method = (enum spec_method)i;
            return LLM_OK;
        }
    }
    return diag_set(d, LLM_EINVAL, "%s.method: expected one of \"draft\", "
                    "\"eagle\", \"rsd\", \"mirror\", got \"%s\"", path, m);
}

/* Keys that only one method takes. */
static int check_method_keys(const cJSON *o, const char *path,
                             const struct spec_config *c, struct llm_diag *d)
{
    int i;

    for (i = 0; c->method != SPEC_MIRROR && mirror_keys[i] != NULL; i++)
        if (cJSON_GetObjectItemCaseSensitive(o, mirror_keys[i]) != NULL)
            return diag_set(d, LLM_EINVAL, "%s.%s: only with method "
                            "\"mirror\"", path, mirror_keys[i]);
    if (c->method != SPEC_RSD &&
        cJSON_GetObjectItemCaseSensitive(o, "tree") != NULL)
        return diag_set(d, LLM_EINVAL, "%s.tree: only with method \"rsd\"",
                        path);
    if (c->method == SPEC_RSD &&
        cJSON_GetObjectItemCaseSensitive(o, "k") != NULL)
        return diag_set(d, LLM_EINVAL, "%s.k: not with method \"rsd\" (the "
                        "tree's levels are its depth)", path);
    if (c->method == SPEC_EAGLE &&
        cJSON_GetObjectItemCaseSensitive(o, "draft_model") != NULL)
        return diag_set(d, LLM_EINVAL, "%s.draft_model: not with method "
                        "\"eagle\" (its drafter is one layer of the target "
                        "and the target's LM head)", path);
    return LLM_OK;
}

/* "tree": [b_1, ..., b_L]: siblings per level. */
static int parse_tree(const cJSON *o, const char *path, struct spec_config *c,
                      struct llm_diag *d)
{
    const cJSON *t = NULL, *v;
    int32_t level = 1, n = 0;
    int rc = jcfg_arr(o, path, "tree", true, &t, d);

    if (rc)
        return rc;
    c->nodes = 0;
    cJSON_ArrayForEach(v, t) {
        if (n == SPEC_MAX_DEPTH || !cJSON_IsNumber(v) ||
            v->valuedouble != floor(v->valuedouble) ||
            v->valuedouble < 1 || v->valuedouble > 64)
            return diag_set(d, LLM_EINVAL, "%s.tree: expected 1 to %d "
                            "branching factors, integers in [1, 64]", path,
                            SPEC_MAX_DEPTH);
        c->width[n++] = (int32_t)v->valuedouble;
        level *= c->width[n - 1];
        c->nodes += level;
        if (c->nodes > SPEC_MAX_NODES)
            return diag_set(d, LLM_EINVAL, "%s.tree: %d nodes or more, over "
                            "the %d a verify may hold", path, c->nodes,
                            SPEC_MAX_NODES);
    }
    if (n == 0)
        return diag_set(d, LLM_EINVAL, "%s.tree: expected 1 to %d branching "
                        "factors, integers in [1, 64]", path,
                        SPEC_MAX_DEPTH);
    c->depth = n;
    return LLM_OK;
}

static int parse_shape(const cJSON *o, const char *path,
                       struct spec_config *c, struct llm_diag *d)
{
    int64_t k = 0;
    int32_t i;
    int rc;

    if (c->method == SPEC_RSD)
        return parse_tree(o, path, c, d);
    rc = jcfg_int(o, path, "k", true, 1, SPEC_MAX_DEPTH, &k, d);
    if (rc)
        return rc;
    c->depth = c->nodes = (int32_t)k;
    for (i = 0; i < c->depth; i++)
        c->width[i] = 1;
    return LLM_OK;
}

/* A list of per-position rates: P(A >= i), non-increasing. */
static int parse_rates(const cJSON *a, const char *path,
                       struct spec_config *c, struct llm_diag *d)
{
    const cJSON *v;
    int32_t n = 0;

    cJSON_ArrayForEach(v, a) {
        if (n == c->depth || !cJSON_IsNumber(v) || !(v->valuedouble >= 0) ||
            v->valuedouble > c->p_ge[n])
            return diag_set(d, LLM_EINVAL, "%s.acceptance: expected %d "
                            "per-position rates in [0, 1], each at most the "
                            "one before", path, c->depth);
        c->p_ge[n + 1] = v->valuedouble;
        n++;
    }
    if (n != c->depth)
        return diag_set(d, LLM_EINVAL, "%s.acceptance: expected %d "
                        "per-position rates in [0, 1], each at most the one "
                        "before", path, c->depth);
    return LLM_OK;
}

/* {"histogram": [p_0, ..., p_depth]}: accepted drafts per verify. */
static int parse_hist(const cJSON *h, const char *path,
                      struct spec_config *c, struct llm_diag *d)
{
    static const char *const keys[] = { "histogram", NULL };
    char kp[160];
    double p[SPEC_MAX_DEPTH + 1], sum = 0;
    const cJSON *a = NULL, *v;
    int32_t n = 0, i;
    int rc;

    snprintf(kp, sizeof(kp), "%s.acceptance", path);
    rc = jcfg_known(h, kp, keys, d);
    if (!rc) rc = jcfg_arr(h, kp, "histogram", true, &a, d);
    if (rc)
        return rc;
    cJSON_ArrayForEach(v, a) {
        if (n > c->depth || !cJSON_IsNumber(v) || !(v->valuedouble >= 0))
            break;
        sum += p[n++] = v->valuedouble;
    }
    if (n != c->depth + 1 || v != NULL || fabs(sum - 1) > 1e-6)
        return diag_set(d, LLM_EINVAL, "%s.histogram: expected %d "
                        "probabilities >= 0 of 0 to %d accepted drafts, "
                        "summing to 1", kp, c->depth + 1, c->depth);
    for (i = c->depth; i >= 1; i--)
        c->p_ge[i] = (i < c->depth ? c->p_ge[i + 1] : 0) + p[i];
    return LLM_OK;
}

/* A chain's rates on a tree: level l of b siblings accepted with
 * 1 - (1 - c_l)^b, c_l the chain's conditional rate at position l. */
static void chain_to_tree(struct spec_config *c)
{
    double prev = 1, out = 1;
    int32_t l;

    for (l = 1; l <= c->depth; l++) {
        double cond = prev > 0 ? c->p_ge[l] / prev : 0;
        prev = c->p_ge[l];
        out *= 1 - pow(1 - cond, c->width[l - 1]);
        c->p_ge[l] = out;
    }
}

static int parse_acceptance(const cJSON *o, const char *path,
                            struct spec_config *c, struct llm_diag *d)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, "acceptance");
    int32_t i;
    int rc;

    c->p_ge[0] = 1;
    if (cJSON_IsObject(a))
        return parse_hist(a, path, c, d);
    if (cJSON_IsArray(a)) {
        rc = parse_rates(a, path, c, d);
    } else {
        double alpha = 0;
        rc = jcfg_num(o, path, "acceptance", true, 0, 1, &alpha, d);
        for (i = 1; rc == LLM_OK && i <= c->depth; i++)
            c->p_ge[i] = c->p_ge[i - 1] * alpha;
    }
    if (rc == LLM_OK && c->method == SPEC_RSD)
        chain_to_tree(c);
    return rc;
}

static int parse_mirror(const cJSON *o, const char *path,
                        struct spec_config *c, struct spec_names *nm,
                        struct llm_diag *d)
{
    int64_t br = 1, st = 1;
    int rc = jcfg_str(o, path, "draft_device", true, &nm->draft_device, d);

    c->token_bytes = 4;          /* an int32 token id, as vLLM's */
    if (!rc) rc = jcfg_str(o, path, "link", false, &nm->link, d);
    if (!rc) rc = jcfg_num(o, path, "early_exit", true, 0.01, 1,
                           &c->early_exit, d);
    if (!rc) rc = jcfg_int(o, path, "branches", false, 1, 64, &br, d);
    if (!rc) rc = jcfg_int(o, path, "stream", false, 1, SPEC_MAX_DEPTH, &st,
                           d);
    if (!rc) rc = jcfg_num(o, path, "reuse", true, 0, 1, &c->reuse, d);
    if (!rc) rc = jcfg_num(o, path, "token_bytes", false, 1, 1 << 20,
                           &c->token_bytes, d);
    c->branches = (int32_t)br;
    c->stream = (int32_t)st;
    return rc;
}

int spec_parse(const cJSON *o, const char *path, struct spec_config *c,
               struct spec_names *nm, struct llm_diag *d)
{
    static const char *const keys[] = { "method", "draft_model", "k",
        "tree", "acceptance", "draft_tp", "draft_cost_model",
        "draft_device", "link", "early_exit", "branches", "stream", "reuse",
        "token_bytes", NULL };
    int rc;

    memset(c, 0, sizeof(*c));
    memset(nm, 0, sizeof(*nm));
    c->branches = c->stream = 1;
    c->reuse = 1;
    rc = jcfg_known(o, path, keys, d);
    if (!rc) rc = parse_method(o, path, c, d);
    if (!rc) rc = check_method_keys(o, path, c, d);
    if (!rc) rc = parse_shape(o, path, c, d);
    if (!rc) rc = parse_acceptance(o, path, c, d);
    if (!rc && c->method != SPEC_EAGLE)
        rc = jcfg_str(o, path, "draft_model", true, &nm->draft_model, d);
    if (!rc) rc = jcfg_int(o, path, "draft_tp", false, 1, 1024,
                           &nm->draft_tp, d);
    if (!rc) rc = jcfg_obj(o, path, "draft_cost_model", false,
                           &nm->draft_cost_model, d);
    if (!rc && c->method == SPEC_MIRROR)
        rc = parse_mirror(o, path, c, nm, d);
    return rc;
}

double spec_expected_accepted(const struct spec_config *c)
{
    double e = 0;
    int32_t i;

    for (i = 1; i <= c->depth; i++)
        e += c->p_ge[i];
    return e;
}

/* ---- one replica's state ------------------------------------------------ */

struct spec *spec_create(const struct spec_config *c, int32_t replica)
{
    struct spec *s = calloc(1, sizeof(*s));

    if (s == NULL)
        return NULL;
    s->cfg = c;
    s->rng = gsl_rng_alloc(gsl_rng_mt19937);
    if (s->rng == NULL) {
        free(s);
        return NULL;
    }
    /* One stream per (run seed, replica): the same config and seed give
     * the same draws, whatever the other replicas do. */
    gsl_rng_set(s->rng, (unsigned long)(c->seed * 2654435761u +
                                        (uint64_t)replica * 40503u + 1));
    batch_init(&s->draft);
    return s;
}

void spec_destroy(struct spec *s)
{
    if (s == NULL)
        return;
    gsl_rng_free(s->rng);
    batch_free(&s->draft);
    free(s->ctx);
    free(s);
}

const struct spec_config *spec_config_of(const struct spec *s)
{
    return s->cfg;
}

const struct spec_stats *spec_stats_of(const struct spec *s)
{
    return &s->st;
}

int32_t spec_accept(struct spec *s, int32_t drafted)
{
    const struct spec_config *c = s->cfg;
    double u = gsl_rng_uniform(s->rng);
    int32_t a = 0;

    /* P(A >= i) = P(u < p_ge[i]): p_ge never increases. */
    while (a < c->depth && u < c->p_ge[a + 1])
        a++;
    if (a > drafted)
        a = drafted;
    s->st.verifies++;
    s->st.drafted += drafted;
    s->st.accepted += a;
    return a;
}

/* ---- pricing ------------------------------------------------------------- */

/* The contexts of the sequences that draft after this step: verifies and
 * prompts completed (every chunk with sampled rows).  Returns how many. */
static int32_t proposers(struct spec *s, const struct batch *b)
{
    size_t i;
    int32_t n = 0;

    if (b->n_prefill > s->cap_ctx) {
        int32_t *p = realloc(s->ctx, b->n_prefill * sizeof(*p));
        if (p == NULL)
            return -1;
        s->ctx = p;
        s->cap_ctx = b->n_prefill;
    }
    for (i = 0; i < b->n_prefill; i++)
        if (b->prefill[i].last > 0)
            s->ctx[n++] = b->prefill[i].prior + b->prefill[i].tokens;
    return n;
}

/* One drafter pass over n proposers, each `seqs` sequences of `width`
 * tokens (a chunk when width > 1: tree attention, or a speculative
 * streaming pass) at context ctx + step. */
static int draft_pass(struct spec *s, int32_t n, int32_t seqs, int32_t width,
                      int32_t step, int64_t *ns)
{
    int32_t i, j;
    int rc = LLM_OK;

    batch_clear(&s->draft);
    for (i = 0; i < n && rc == LLM_OK; i++)
        for (j = 0; j < seqs && rc == LLM_OK; j++)
            rc = width > 1 ? batch_add_prefill(&s->draft, width,
                                               s->ctx[i] + step, width)
                           : batch_add_decode(&s->draft, 1,
                                              s->ctx[i] + step);
    if (rc == LLM_OK)
        rc = s->cfg->draft_cost(s->cfg->draft_ctx, &s->draft, ns);
    return rc;
}

/* The drafter's passes after its first, for n proposers: chains k - 1
 * single tokens; a tree level l the nodes of level l - 1; mirror
 * ceil(k / stream) - 1 passes of `stream` tokens for each branch. */
static int later_passes(struct spec *s, int32_t n, int32_t branches,
                        int64_t *ns)
{
    const struct spec_config *c = s->cfg;
    int32_t l, w = 1, passes = c->depth;
    int64_t t;
    int rc = LLM_OK;

    *ns = 0;
    if (c->method == SPEC_MIRROR)
        passes = (c->depth + c->stream - 1) / c->stream;
    for (l = 1; l < passes && rc == LLM_OK && n > 0; l++) {
        if (c->method == SPEC_RSD)
            w *= c->width[l - 1];
        rc = draft_pass(s, n, branches,
                        c->method == SPEC_MIRROR ? c->stream : w, l, &t);
        *ns += t;
    }
    return rc;
}

/* Mirror: tokens crossing the link one way, for n proposers. */
static int64_t link_ns(const struct spec_config *c, int32_t n)
{
    double bytes = (double)n * c->branches * (c->depth + 1) * c->token_bytes;

    return c->link_latency_ns + (c->link_bw_bytes_s > 0 ?
           (int64_t)llround(bytes / c->link_bw_bytes_s * 1e9) : 0);
}

static int mirror_step(struct spec *s, int32_t n, int64_t target_ns,
                       int64_t draft_ns, int64_t *ns)
{
    const struct spec_config *c = s->cfg;
    int64_t x = link_ns(c, n), par, redo = 0;
    unsigned int miss = 0;
    int rc = LLM_OK;

    par = (int64_t)llround(c->early_exit * (double)target_ns) + 2 * x +
          draft_ns;
    *ns = par > target_ns ? par : target_ns;
    if (c->reuse < 1 && n > 0)
        miss = gsl_ran_binomial(s->rng, 1 - c->reuse, (unsigned int)n);
    if (miss > 0) {
        /* The target's correction matched no precomputed branch: those
         * sequences draft again after the verify, one branch each. */
        rc = draft_pass(s, (int32_t)miss, 1, c->stream, 0, &redo);
        if (rc == LLM_OK) {
            int64_t more = 0;
            rc = later_passes(s, (int32_t)miss, 1, &more);
            redo += more;
        }
        *ns += redo + link_ns(c, (int32_t)miss);
        s->st.misses += miss;
        s->st.draft_ns += redo;
    }
    return rc;
}

int spec_price_step(struct spec *s, const struct batch *b, int64_t target_ns,
                    int64_t *ns)
{
    const struct spec_config *c = s->cfg;
    int32_t n = proposers(s, b);
    int64_t first = 0, rest = 0, draft;
    int rc;

    *ns = target_ns;
    if (n < 0)
        return LLM_ENOMEM;
    if (batch_tokens(b) == 0)
        return LLM_OK;
    /* The first pass takes the batch's new tokens: the drafter keeps its
     * own KV of prompts and accepted tokens. */
    rc = c->draft_cost(c->draft_ctx, b, &first);
    if (rc == LLM_OK)
        rc = later_passes(s, n, c->method == SPEC_MIRROR ? c->branches : 1,
                          &rest);
    if (rc != LLM_OK)
        return rc;
    draft = first + rest;
    s->st.steps += b->verify_seqs > 0;
    s->st.draft_ns += draft;
    if (c->method == SPEC_MIRROR)
        rc = mirror_step(s, n, target_ns, draft, ns);
    else
        *ns = target_ns + draft;
    s->st.exposed_ns += *ns - target_ns;
    return rc;
}
