/* The generator kinds "poisson", "gamma" and "rate_curve": an arrival
 * process (traces/arrivals.h) with token lengths (traces/lendist.h),
 * optional tenants and optional open-loop multi-turn sessions.
 *
 * Three GSL streams of the seed keep the parts independent: arrivals,
 * lengths, and session structure (tenant choice, turn counts, think
 * times).  So changing the length distributions leaves the arrival times
 * as they were.
 *
 * multi_turn: each arrival of the process starts a session of `turns`
 * turns.  Turn k+1 arrives an exponential think time (mean think_s) after
 * turn k *arrived*: open loop, since the generator does not know when a
 * turn finishes (traces/README.md says how closed loop would work).  Its
 * prompt is turn k's prompt + turn k's output + `user` new tokens, so the
 * sessions' prompts share a growing prefix.  Block i of a session's prompt
 * hashes (session, i, tokens in the block): a full block keeps its hash
 * in later turns; a partial one changes as it fills. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_randist.h>

#include "base/jcfg.h"
#include "traces/arrivals.h"
#include "traces/kinds.h"
#include "traces/lendist.h"

enum { RNG_ARRIVALS = 1, RNG_LENGTHS, RNG_SESSIONS };

struct tenant {
    int64_t priority;
    struct lendist *prompt, *output;   /* owned; NULL: the workload's */
};

struct turn {                /* a session's next turn, waiting */
    int64_t t_ns;
    uint64_t seq;            /* push order: equal times stay FIFO */
    int64_t session;
    int32_t tenant;
    int32_t turns_left;      /* this one included */
    int64_t context;         /* the previous prompt + its output */
};

struct rag;                  /* the "rag" kind's corpus, below */

struct gen {
    const struct arrival_ops *arr;
    void *arr_st;
    gsl_rng *rng_arr, *rng_len, *rng_ses;
    int64_t num_requests, emitted, end_ns;
    int64_t next_ns;         /* the next new request (or session) */
    struct lendist *prompt, *output;
    struct tenant *tenants;
    int ntenants;
    gsl_ran_discrete_t *pick;          /* NULL with one tenant */
    bool multi;
    struct lendist *turns, *user;
    double think_s;
    int64_t block_tokens;
    struct turn *heap;
    size_t nheap, capheap;
    uint64_t seq;
    int64_t next_session;
    uint64_t *hashes;
    int64_t hcap;
    char path[128];          /* for messages after open */
    struct rag *rag;         /* kind "rag" only; NULL otherwise */
};

/* A length distribution under obj.key; absent and optional: *out NULL. */
static int open_len(const cJSON *obj, const char *path, const char *key,
                    bool required, uint64_t seed, struct lendist **out,
                    struct llm_diag *d)
{
    const cJSON *o = NULL;
    char kp[256];

    if (jcfg_obj(obj, path, key, required, &o, d) != LLM_OK || o == NULL)
        return d->code;
    jcfg_keypath(kp, sizeof(kp), path, key);
    return lendist_open(o, kp, seed, out, d);
}

static int open_tenant(struct gen *g, struct tenant *t, const cJSON *o,
                       const char *tp, uint64_t seed, double *weight,
                       struct llm_diag *d)
{
    static const char *const keys[] = { "weight", "priority", "prompt",
                                        "output", NULL };

    *weight = 1;
    if (!cJSON_IsObject(o))
        return diag_set(d, LLM_EINVAL, "%s: expected an object", tp);
    if (jcfg_known(o, tp, keys, d) ||
        source_pos_num(o, tp, "weight", false, weight, d) ||
        jcfg_int(o, tp, "priority", false, INT32_MIN, INT32_MAX,
                 &t->priority, d) ||
        open_len(o, tp, "prompt", g->prompt == NULL, seed, &t->prompt, d) ||
        open_len(o, tp, "output", g->output == NULL, seed, &t->output, d))
        return d->code;
    return LLM_OK;
}

static int open_tenants(struct gen *g, const cJSON *cfg, const char *path,
                        uint64_t seed, struct llm_diag *d)
{
    const cJSON *arr = NULL, *o;
    double *w;
    char tp[256];
    int rc = LLM_OK;

    if (jcfg_arr(cfg, path, "tenants", false, &arr, d) != LLM_OK)
        return d->code;
    g->ntenants = arr ? cJSON_GetArraySize(arr) : 1;
    jcfg_keypath(tp, sizeof(tp), path, "tenants");
    if (g->ntenants == 0)
        return diag_set(d, LLM_EINVAL, "%s: expected a non-empty array, got "
                        "[]", tp);
    g->tenants = calloc((size_t)g->ntenants, sizeof(*g->tenants));
    w = calloc((size_t)g->ntenants, sizeof(*w));
    if (g->tenants == NULL || w == NULL)
        rc = diag_set(d, LLM_ENOMEM, "%s: out of memory", tp);
    for (int i = 0; rc == LLM_OK && arr != NULL && i < g->ntenants; i++) {
        o = cJSON_GetArrayItem(arr, i);
        jcfg_keypath(tp, sizeof(tp), path, "tenants");
        snprintf(tp + strlen(tp), sizeof(tp) - strlen(tp), "[%d]", i);
        rc = open_tenant(g, &g->tenants[i], o, tp, seed, &w[i], d);
    }
    if (rc == LLM_OK && arr != NULL &&
        (g->pick = gsl_ran_discrete_preproc((size_t)g->ntenants, w)) == NULL)
        rc = diag_set(d, LLM_ENOMEM, "%s: out of memory", tp);
    free(w);
    return rc;
}

static int open_multi(struct gen *g, const cJSON *cfg, const char *path,
                      uint64_t seed, struct llm_diag *d)
{
    static const char *const keys[] = { "turns", "think_s", "user",
                                        "block_tokens", NULL };
    const cJSON *m = NULL;
    char mp[256];

    if (jcfg_obj(cfg, path, "multi_turn", false, &m, d) != LLM_OK ||
        m == NULL)
        return d->code;
    jcfg_keypath(mp, sizeof(mp), path, "multi_turn");
    g->multi = true;
    g->block_tokens = 16;    /* vLLM's default KV block size */
    if (jcfg_known(m, mp, keys, d) ||
        open_len(m, mp, "turns", true, seed, &g->turns, d) ||
        jcfg_num(m, mp, "think_s", true, 0, INFINITY, &g->think_s, d) ||
        open_len(m, mp, "user", false, seed, &g->user, d) ||
        jcfg_int(m, mp, "block_tokens", false, 1, INT32_MAX,
                 &g->block_tokens, d))
        return d->code;
    return LLM_OK;
}

static int read_end(struct gen *g, const cJSON *cfg, const char *path,
                    struct llm_diag *d)
{
    double dur = -1;

    g->num_requests = INT64_MAX;
    g->end_ns = INT64_MAX;
    if (jcfg_int(cfg, path, "num_requests", false, 1, INT64_MAX,
                 &g->num_requests, d) ||
        jcfg_num(cfg, path, "duration_s", false, 0, 9.2e9, &dur, d))
        return d->code;
    if (dur >= 0)
        g->end_ns = llround(dur * 1e9);
    if (g->num_requests < INT64_MAX || g->end_ns < INT64_MAX)
        return LLM_OK;
    return diag_set(d, LLM_EINVAL, "%s: expected num_requests or duration_s "
                    "(a generator needs an end)", path[0] ? path : "workload");
}

/* The generator's own keys and its arrival process's, checked together:
 * an unknown key names the file and lists the known ones. */
static int keys_with_arrival(const char *const *own, size_t n_own,
                             const struct arrival_ops *arr, const cJSON *cfg,
                             const char *path, struct llm_diag *d)
{
    const char *keys[24];
    size_t n = 0;

    for (size_t i = 0; i < n_own && n < 23; i++)
        keys[n++] = own[i];
    for (size_t i = 0; arr->keys[i] != NULL && n < 23; i++)
        keys[n++] = arr->keys[i];
    keys[n] = NULL;
    return source_check_keys(cfg, path, keys, d);
}

static int check_keys(const struct arrival_ops *arr, const cJSON *cfg,
                      const char *path, struct llm_diag *d)
{
    static const char *const own[] = { "num_requests", "duration_s",
                                       "prompt", "output", "tenants",
                                       "multi_turn" };

    return keys_with_arrival(own, sizeof(own) / sizeof(own[0]), arr, cfg,
                             path, d);
}

static int open_rngs(struct gen *g, uint64_t seed, struct llm_diag *d)
{
    if ((g->rng_arr = source_rng(seed, RNG_ARRIVALS, d)) == NULL ||
        (g->rng_len = source_rng(seed, RNG_LENGTHS, d)) == NULL ||
        (g->rng_ses = source_rng(seed, RNG_SESSIONS, d)) == NULL)
        return d->code;
    return LLM_OK;
}

static int gen_open(void *st, const cJSON *cfg, const char *path,
                    uint64_t seed, const struct arrival_ops *arr,
                    struct llm_diag *d)
{
    struct gen *g = st;
    bool tenants = cJSON_GetObjectItemCaseSensitive(cfg, "tenants") != NULL;

    g->arr = arr;
    snprintf(g->path, sizeof(g->path), "%s", path[0] ? path : "workload");
    if (check_keys(arr, cfg, path, d) || read_end(g, cfg, path, d))
        return d->code;
    if ((g->arr_st = calloc(1, arr->state_size)) == NULL)
        return diag_set(d, LLM_ENOMEM, "%s: out of memory", g->path);
    if (arr->open(g->arr_st, cfg, path, d) ||
        open_len(cfg, path, "prompt", !tenants, seed, &g->prompt, d) ||
        open_len(cfg, path, "output", !tenants, seed, &g->output, d) ||
        open_tenants(g, cfg, path, seed, d) ||
        open_multi(g, cfg, path, seed, d) || open_rngs(g, seed, d))
        return d->code;
    g->next_ns = arr->next_ns(g->arr_st, g->rng_arr, 0);
    return LLM_OK;
}

static bool turn_before(const struct turn *a, const struct turn *b)
{
    return a->t_ns != b->t_ns ? a->t_ns < b->t_ns : a->seq < b->seq;
}

static int heap_push(struct gen *g, struct turn t, struct llm_diag *d)
{
    size_t i = g->nheap, up;

    if (g->nheap == g->capheap) {
        size_t cap = g->capheap ? g->capheap * 2 : 64;
        struct turn *nh = realloc(g->heap, cap * sizeof(*nh));
        if (nh == NULL)
            return diag_set(d, LLM_ENOMEM, "out of memory for %zu sessions",
                            cap);
        g->heap = nh;
        g->capheap = cap;
    }
    t.seq = g->seq++;
    for (; i > 0 && turn_before(&t, &g->heap[up = (i - 1) / 2]); i = up)
        g->heap[i] = g->heap[up];
    g->heap[i] = t;
    g->nheap++;
    return LLM_OK;
}

static struct turn heap_pop(struct gen *g)
{
    struct turn top = g->heap[0], last = g->heap[--g->nheap];
    size_t i = 0, c;

    while ((c = 2 * i + 1) < g->nheap) {
        if (c + 1 < g->nheap && turn_before(&g->heap[c + 1], &g->heap[c]))
            c++;
        if (!turn_before(&g->heap[c], &last))
            break;
        g->heap[i] = g->heap[c];
        i = c;
    }
    g->heap[i] = last;
    return top;
}

static int32_t draw_len(const struct gen *g, const struct lendist *own,
                        const struct lendist *dflt)
{
    return lendist_draw(own ? own : dflt, g->rng_len);
}

/* Hash of block i holding `fill` tokens of a session's prompt. */
static uint64_t block_hash(int64_t session, int64_t i, int64_t fill)
{
    uint64_t h = source_mix64((uint64_t)session) + (uint64_t)i;

    return source_mix64(source_mix64(h) ^ (uint64_t)fill);
}

static int session_hashes(struct gen *g, struct req_spec *r,
                          struct llm_diag *d)
{
    int64_t n = (r->prompt_tokens + g->block_tokens - 1) / g->block_tokens;

    if (n > g->hcap) {
        uint64_t *nh = realloc(g->hashes, (size_t)n * sizeof(*nh));
        if (nh == NULL)
            return diag_set(d, LLM_ENOMEM, "out of memory for %lld hashes",
                            (long long)n);
        g->hashes = nh;
        g->hcap = n;
    }
    for (int64_t i = 0; i < n; i++)
        g->hashes[i] = block_hash(r->session, i,
            i < n - 1 ? g->block_tokens
                      : r->prompt_tokens - i * g->block_tokens);
    r->block_hashes = g->hashes;
    r->n_block_hashes = (int32_t)n;
    r->hash_block_tokens = (int32_t)g->block_tokens;
    return LLM_OK;
}

/* Queues the session's next turn after r, if it has one before the end. */
static int follow_up(struct gen *g, const struct req_spec *r, int32_t left,
                     struct llm_diag *d)
{
    double think_ns;
    struct turn t = {
        .session = r->session, .tenant = r->tenant, .turns_left = left,
        .context = (int64_t)r->prompt_tokens + r->output_tokens,
    };

    if (left < 1)
        return LLM_OK;
    think_ns = g->think_s > 0 ?
               gsl_ran_exponential(g->rng_ses, g->think_s) * 1e9 : 0;
    if (!(think_ns < 9.0e18 - (double)r->arrival_ns))
        return LLM_OK;       /* past the int64 range: never comes */
    t.t_ns = r->arrival_ns + llround(think_ns);
    return t.t_ns < g->end_ns ? heap_push(g, t, d) : LLM_OK;
}

static int emit_new(struct gen *g, struct req_spec *out, struct llm_diag *d)
{
    int32_t k = g->pick ? (int32_t)gsl_ran_discrete(g->rng_ses, g->pick) : 0;
    const struct tenant *t = &g->tenants[k];

    *out = (struct req_spec){
        .arrival_ns = g->next_ns, .tenant = k,
        .priority = (int32_t)t->priority, .session = -1,
    };
    out->prompt_tokens = draw_len(g, t->prompt, g->prompt);
    out->output_tokens = draw_len(g, t->output, g->output);
    g->next_ns = g->arr->next_ns(g->arr_st, g->rng_arr, g->next_ns);
    if (!g->multi)
        return LLM_OK;
    out->session = g->next_session++;
    if (follow_up(g, out, lendist_draw(g->turns, g->rng_ses) - 1, d))
        return d->code;
    return session_hashes(g, out, d);
}

static int emit_turn(struct gen *g, struct req_spec *out, struct llm_diag *d)
{
    struct turn t = heap_pop(g);
    const struct tenant *tn = &g->tenants[t.tenant];
    int64_t user = draw_len(g, g->user ? g->user : tn->prompt, g->prompt);

    if (t.context + user > INT32_MAX)
        return diag_set(d, LLM_ERANGE, "%s.multi_turn: session %lld grew "
                        "past %d prompt tokens; lower turns or lengths",
                        g->path, (long long)t.session, INT32_MAX);
    *out = (struct req_spec){
        .arrival_ns = t.t_ns, .tenant = t.tenant,
        .priority = (int32_t)tn->priority, .session = t.session,
        .prompt_tokens = (int32_t)(t.context + user),
    };
    out->output_tokens = draw_len(g, tn->output, g->output);
    if (follow_up(g, out, t.turns_left - 1, d))
        return d->code;
    return session_hashes(g, out, d);
}

static int rag_emit(struct gen *g, struct req_spec *out, struct llm_diag *d);

static int gen_next(void *st, struct req_spec *out, bool *eof,
                    struct llm_diag *d)
{
    struct gen *g = st;
    bool turn = g->nheap > 0 && g->heap[0].t_ns <= g->next_ns;
    int64_t t = turn ? g->heap[0].t_ns : g->next_ns;
    int rc;

    *eof = g->emitted >= g->num_requests || t >= g->end_ns ||
           t == INT64_MAX;
    if (*eof)
        return LLM_OK;
    rc = g->rag ? rag_emit(g, out, d) :
         turn ? emit_turn(g, out, d) : emit_new(g, out, d);
    g->emitted += rc == LLM_OK;
    return rc;
}

static void rag_free(struct rag *r);

static void gen_close(void *st)
{
    struct gen *g = st;

    if (g->arr != NULL && g->arr->close != NULL && g->arr_st != NULL)
        g->arr->close(g->arr_st);
    free(g->arr_st);
    gsl_rng_free(g->rng_arr);
    gsl_rng_free(g->rng_len);
    gsl_rng_free(g->rng_ses);
    lendist_close(g->prompt);
    lendist_close(g->output);
    for (int i = 0; g->tenants != NULL && i < g->ntenants; i++) {
        lendist_close(g->tenants[i].prompt);
        lendist_close(g->tenants[i].output);
    }
    free(g->tenants);
    if (g->pick != NULL)
        gsl_ran_discrete_free(g->pick);
    lendist_close(g->turns);
    lendist_close(g->user);
    free(g->heap);
    free(g->hashes);
    rag_free(g->rag);
}

static int poisson_open(void *st, const cJSON *cfg, const char *path,
                        uint64_t seed, struct llm_diag *d)
{
    return gen_open(st, cfg, path, seed, &arrival_poisson, d);
}

static int gamma_open(void *st, const cJSON *cfg, const char *path,
                      uint64_t seed, struct llm_diag *d)
{
    return gen_open(st, cfg, path, seed, &arrival_gamma, d);
}

static int curve_open(void *st, const cJSON *cfg, const char *path,
                      uint64_t seed, struct llm_diag *d)
{
    return gen_open(st, cfg, path, seed, &arrival_rate_curve, d);
}

/* ---- kind "rag": retrieval-augmented prompts (issue 21) ----
 *
 * A request is a system prompt (system_tokens, one text for all), `chunks`
 * distinct passages retrieved from a corpus of `corpus` chunks, and a
 * question of its own (lengths from "question"); its output from
 * "output".  A chunk's popularity rank r (1..corpus) is drawn with
 * P(r) proportional to r^-zipf (0: uniform), the request's chunks in draw
 * order (CacheBlend retrieves its top chunks "in a random order", §7.1).
 * Chunk lengths are drawn once per chunk at open (chunk_tokens; default
 * 512, CacheBlend's 512-token chunks), so a chunk is the same text of the
 * same length wherever it appears.  The request carries its segments
 * (struct req_seg: the system prompt, each chunk by id, the question as
 * id 0) and prefix-block hashes over block_tokens-token blocks, each
 * chained to every block before it: prefix caching reuses the system
 * prompt and a first chunk another request began with, and nothing after
 * the first chunk that differs.  Streams: RNG_SESSIONS draws the chunks,
 * RNG_LENGTHS the question and output lengths, RNG_CORPUS the chunk
 * lengths. */

enum { RNG_CORPUS = RNG_SESSIONS + 1 };

struct rag {
    int64_t corpus, system, k;         /* k: chunks per request */
    double zipf;
    int32_t *len;                      /* tokens of the chunk of rank r */
    uint8_t *used;                     /* drawn for this request */
    int64_t *drawn;
    gsl_ran_discrete_t *pick;          /* NULL: uniform */
    struct lendist *question;
    struct req_seg *segs;              /* this request's, k + 2 */
    uint64_t nonce;                    /* one question text per request */
};

static void rag_free(struct rag *r)
{
    if (r == NULL)
        return;
    free(r->len);
    free(r->used);
    free(r->drawn);
    free(r->segs);
    if (r->pick != NULL)
        gsl_ran_discrete_free(r->pick);
    lendist_close(r->question);
    free(r);
}

/* Text ids: a chunk's from its rank, the system prompt's a constant;
 * never 0, which means "text of this request only". */
static uint64_t rag_chunk_id(int64_t rank)
{
    uint64_t x = source_mix64(0x9E3779B97F4A7C15ull ^ (uint64_t)rank);

    return x ? x : 1;
}

#define RAG_SYSTEM_ID 0x5359535445ull  /* "SYSTE" */

/* The popularity weights and every chunk's length. */
static int rag_corpus(struct rag *r, const cJSON *cfg, const char *path,
                      uint64_t seed, struct llm_diag *d)
{
    struct lendist *cl = NULL;
    gsl_rng *rng = NULL;
    double *w;
    int rc = open_len(cfg, path, "chunk_tokens", false, seed, &cl, d);

    r->len = calloc((size_t)r->corpus, sizeof(*r->len));
    r->used = calloc((size_t)r->corpus, sizeof(*r->used));
    r->drawn = calloc((size_t)r->k, sizeof(*r->drawn));
    r->segs = calloc((size_t)r->k + 2, sizeof(*r->segs));
    w = calloc((size_t)r->corpus, sizeof(*w));
    if (rc == LLM_OK && (r->len == NULL || r->used == NULL ||
                         r->drawn == NULL || r->segs == NULL || w == NULL))
        rc = diag_set(d, LLM_ENOMEM, "%s: out of memory for a corpus of "
                      "%lld chunks", path, (long long)r->corpus);
    if (rc == LLM_OK && cl != NULL &&
        (rng = source_rng(seed, RNG_CORPUS, d)) == NULL)
        rc = d->code;
    for (int64_t i = 0; rc == LLM_OK && i < r->corpus; i++) {
        r->len[i] = cl ? lendist_draw(cl, rng) : 512;
        w[i] = pow((double)(i + 1), -r->zipf);
    }
    if (rc == LLM_OK && r->zipf > 0 &&
        (r->pick = gsl_ran_discrete_preproc((size_t)r->corpus, w)) == NULL)
        rc = diag_set(d, LLM_ENOMEM, "%s: out of memory", path);
    free(w);
    gsl_rng_free(rng);
    lendist_close(cl);
    return rc;
}

static int rag_keys(const struct arrival_ops *arr, const cJSON *cfg,
                    const char *path, struct llm_diag *d)
{
    static const char *const own[] = { "arrival", "num_requests",
        "duration_s", "output", "question", "system_tokens", "chunks",
        "corpus", "zipf", "chunk_tokens", "block_tokens" };

    return keys_with_arrival(own, sizeof(own) / sizeof(own[0]), arr, cfg,
                             path, d);
}

static int rag_arrival(const cJSON *cfg, const char *path,
                       const struct arrival_ops **out, struct llm_diag *d)
{
    static const struct arrival_ops *const arrs[] = { &arrival_poisson,
        &arrival_gamma, &arrival_rate_curve };
    const char *name = "poisson";
    char kp[256];

    if (jcfg_str(cfg, path, "arrival", false, &name, d) != LLM_OK)
        return d->code;
    for (size_t i = 0; i < sizeof(arrs) / sizeof(arrs[0]); i++) {
        if (strcmp(arrs[i]->name, name) == 0) {
            *out = arrs[i];
            return LLM_OK;
        }
    }
    jcfg_keypath(kp, sizeof(kp), path, "arrival");
    return diag_set(d, LLM_EINVAL, "%s: expected one of \"poisson\", "
                    "\"gamma\", \"rate_curve\", got \"%s\"", kp, name);
}

static int rag_read(struct rag *r, const cJSON *cfg, const char *path,
                    struct llm_diag *d)
{
    char kp[256];

    r->k = 6;                /* CacheBlend §7.1: the top-6 chunks */
    r->corpus = 6000;
    r->zipf = 1;
    if (jcfg_int(cfg, path, "system_tokens", false, 0, INT32_MAX,
                 &r->system, d) ||
        jcfg_int(cfg, path, "chunks", false, 1, 4096, &r->k, d) ||
        jcfg_int(cfg, path, "corpus", false, 1, 1 << 24, &r->corpus, d) ||
        jcfg_num(cfg, path, "zipf", false, 0, 16, &r->zipf, d))
        return d->code;
    if (r->k <= r->corpus)
        return LLM_OK;
    jcfg_keypath(kp, sizeof(kp), path, "chunks");
    return diag_set(d, LLM_EINVAL, "%s: expected at most corpus (%lld) "
                    "chunks, got %lld", kp, (long long)r->corpus,
                    (long long)r->k);
}

static int rag_open(void *st, const cJSON *cfg, const char *path,
                    uint64_t seed, struct llm_diag *d)
{
    struct gen *g = st;
    const struct arrival_ops *arr = NULL;

    snprintf(g->path, sizeof(g->path), "%s", path[0] ? path : "workload");
    g->block_tokens = 16;    /* vLLM's default KV block size */
    if (rag_arrival(cfg, path, &arr, d) || rag_keys(arr, cfg, path, d) ||
        read_end(g, cfg, path, d))
        return d->code;
    g->arr = arr;
    g->ntenants = 1;
    if ((g->rag = calloc(1, sizeof(*g->rag))) == NULL ||
        (g->tenants = calloc(1, sizeof(*g->tenants))) == NULL ||
        (g->arr_st = calloc(1, arr->state_size)) == NULL)
        return diag_set(d, LLM_ENOMEM, "%s: out of memory", g->path);
    if (arr->open(g->arr_st, cfg, path, d) ||
        rag_read(g->rag, cfg, path, d) ||
        jcfg_int(cfg, path, "block_tokens", false, 1, INT32_MAX,
                 &g->block_tokens, d) ||
        open_len(cfg, path, "output", true, seed, &g->output, d) ||
        open_len(cfg, path, "question", true, seed, &g->rag->question, d) ||
        rag_corpus(g->rag, cfg, path, seed, d) || open_rngs(g, seed, d))
        return d->code;
    g->next_ns = arr->next_ns(g->arr_st, g->rng_arr, 0);
    return LLM_OK;
}

/* k distinct ranks by popularity; a rank already taken is drawn again
 * (a bounded number of times, then the next free rank is taken). */
static void rag_draw(struct gen *g)
{
    struct rag *r = g->rag;

    for (int64_t i = 0; i < r->k; i++) {
        int64_t x = 0;
        for (int tries = 0; tries < 64; tries++) {
            x = r->pick ? (int64_t)gsl_ran_discrete(g->rng_ses, r->pick)
                        : (int64_t)gsl_rng_uniform_int(g->rng_ses,
                                              (unsigned long)r->corpus);
            if (!r->used[x])
                break;
        }
        while (r->used[x])
            x = (x + 1) % r->corpus;
        r->used[x] = 1;
        r->drawn[i] = x;
    }
    for (int64_t i = 0; i < r->k; i++)
        r->used[r->drawn[i]] = 0;
}

/* The chained hash of every block: each folds in the hash of the block
 * before and the (text, offset, length) pieces it holds. */
static int rag_hashes(struct gen *g, struct req_spec *out,
                      struct llm_diag *d)
{
    int64_t bt = g->block_tokens, n = (out->prompt_tokens + bt - 1) / bt;
    int64_t seg = 0, off = 0;
    uint64_t acc = 0;

    if (n > g->hcap) {
        uint64_t *nh = realloc(g->hashes, (size_t)n * sizeof(*nh));
        if (nh == NULL)
            return diag_set(d, LLM_ENOMEM, "out of memory for %lld hashes",
                            (long long)n);
        g->hashes = nh;
        g->hcap = n;
    }
    for (int64_t b = 0; b < n; b++) {
        int64_t fill = 0;
        while (fill < bt && seg < out->n_segs) {
            const struct req_seg *x = &out->segs[seg];
            int64_t take = x->tokens - off < bt - fill ? x->tokens - off
                                                       : bt - fill;
            uint64_t id = x->id ? x->id : source_mix64(~g->rag->nonce);
            acc = source_mix64(acc ^ source_mix64(id) ^
                               source_mix64((uint64_t)off << 32 ^
                                            (uint64_t)take));
            fill += take;
            off += take;
            if (off == x->tokens) {
                seg++;
                off = 0;
            }
        }
        acc = source_mix64(acc ^ (uint64_t)fill);
        g->hashes[b] = acc;
    }
    out->block_hashes = g->hashes;
    out->n_block_hashes = (int32_t)n;
    out->hash_block_tokens = (int32_t)bt;
    return LLM_OK;
}

static int rag_emit(struct gen *g, struct req_spec *out, struct llm_diag *d)
{
    struct rag *r = g->rag;
    int64_t prompt = r->system, q;
    int32_t n = 0;

    *out = (struct req_spec){ .arrival_ns = g->next_ns, .session = -1 };
    if (r->system > 0)
        r->segs[n++] = (struct req_seg){ RAG_SYSTEM_ID, (int32_t)r->system };
    rag_draw(g);
    for (int64_t i = 0; i < r->k; i++) {
        r->segs[n++] = (struct req_seg){ rag_chunk_id(r->drawn[i] + 1),
                                         r->len[r->drawn[i]] };
        prompt += r->len[r->drawn[i]];
    }
    q = lendist_draw(r->question, g->rng_len);
    r->segs[n++] = (struct req_seg){ 0, (int32_t)q };
    prompt += q;
    if (prompt > INT32_MAX)
        return diag_set(d, LLM_ERANGE, "%s: a prompt of %lld tokens; lower "
                        "chunks, chunk_tokens or system_tokens", g->path,
                        (long long)prompt);
    out->prompt_tokens = (int32_t)prompt;
    out->output_tokens = draw_len(g, NULL, g->output);
    out->segs = r->segs;
    out->n_segs = n;
    r->nonce++;
    g->next_ns = g->arr->next_ns(g->arr_st, g->rng_arr, g->next_ns);
    return rag_hashes(g, out, d);
}

const struct source_ops source_rag = {
    .name = "rag", .state_size = sizeof(struct gen),
    .open = rag_open, .next = gen_next, .close = gen_close,
};

const struct source_ops source_poisson = {
    .name = "poisson", .state_size = sizeof(struct gen),
    .open = poisson_open, .next = gen_next, .close = gen_close,
};
const struct source_ops source_gamma = {
    .name = "gamma", .state_size = sizeof(struct gen),
    .open = gamma_open, .next = gen_next, .close = gen_close,
};
const struct source_ops source_rate_curve = {
    .name = "rate_curve", .state_size = sizeof(struct gen),
    .open = curve_open, .next = gen_next, .close = gen_close,
};
