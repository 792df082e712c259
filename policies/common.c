#include "policies/common.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/jcfg.h"

int pol_read_limits(const cJSON *p, const char *path, struct pol_limits *l,
                    struct llm_diag *d)
{
    int rc = jcfg_int(p, path, "max_num_seqs", false, 1, 1 << 20,
                      &l->max_seqs, d);

    if (!rc) rc = jcfg_int(p, path, "max_num_batched_tokens", false, 1,
                           1 << 30, &l->max_tokens, d);
    if (!rc) rc = jcfg_num(p, path, "watermark", false, 0, 0.5,
                           &l->watermark, d);
    return rc;
}

int64_t pol_token_budget(const struct pol_limits *l, const struct replica *r)
{
    if (l->max_tokens > 0)
        return l->max_tokens;
    return r->max_model_len > 2048 ? r->max_model_len : 2048;
}

void pol_report_limits(const struct pol_limits *l, int32_t max_model_len,
                       int64_t *tokens, int64_t *seqs)
{
    *tokens = l->max_tokens > 0 ? l->max_tokens
              : max_model_len > 2048 ? max_model_len : 2048;
    *seqs = l->max_seqs;
}

int64_t pol_watermark_blocks(const struct pol_limits *l,
                             const struct replica *r)
{
    return (int64_t)(l->watermark * (double)r->kv_capacity);
}

int pol_read_enum(const cJSON *p, const char *path, const char *key,
                  const char *const *names, int *out, struct llm_diag *d)
{
    char kp[256], list[256] = "";
    const char *v = NULL;
    size_t off = 0;
    int i, rc = jcfg_str(p, path, key, false, &v, d);

    if (rc || v == NULL)
        return rc;
    for (i = 0; names[i] != NULL; i++) {
        if (strcmp(v, names[i]) == 0) {
            *out = i;
            return LLM_OK;
        }
        off += (size_t)snprintf(list + off, sizeof(list) - off, "%s\"%s\"",
                                i ? ", " : "", names[i]);
        if (off >= sizeof(list))
            off = sizeof(list) - 1;
    }
    jcfg_keypath(kp, sizeof(kp), path, key);
    return diag_set(d, LLM_EINVAL, "%s: expected one of %s, got \"%s\"", kp,
                    list, v);
}

int pol_read_evict(const cJSON *p, const char *path, struct pol_evict *e,
                   struct llm_diag *d)
{
    static const char *const modes[] = { "recompute", "swap", NULL };
    int mode = e->swap ? 1 : 0;
    int64_t group = e->group_blocks;
    bool overlap = !e->sync;
    int rc = pol_read_enum(p, path, "preemption", modes, &mode, d);

    if (!rc) rc = jcfg_num(p, path, "swap_space_gib", false, 0, 1 << 20,
                           &e->swap_space_gib, d);
    if (!rc) rc = jcfg_int(p, path, "swap_group_blocks", false, 1, 1 << 20,
                           &group, d);
    if (!rc) rc = jcfg_bool(p, path, "swap_overlap", false, &overlap, d);
    e->swap = mode == 1;
    e->group_blocks = (int32_t)group;
    e->sync = !overlap;
    return rc;
}

int pol_attach_evict(struct pol_evict *e, const struct replica *r,
                     const char *path, struct llm_diag *d)
{
    if (!e->swap)
        return LLM_OK;
    if (r->host_bw_bytes_s <= 0 || r->kv_block_bytes <= 0)
        return diag_set(d, LLM_EINVAL, "%s.preemption: \"swap\" needs the "
                        "device's host link and the KV block size, and "
                        "replica %d has none", path, r->index);
    e->host_cap_blocks = (int64_t)(e->swap_space_gib * 1073741824.0 /
                                   r->kv_block_bytes);
    return LLM_OK;
}

int pol_evict(struct replica *r, struct request *v, const struct pol_evict *e)
{
    /* Without host room vLLM aborts the run ("Aborted due to the lack of
     * CPU swap space"); we recompute instead so that a run completes.  A
     * request with nothing computed has nothing to swap. */
    if (e != NULL && e->swap && v->computed > 0 &&
        r->host_blocks + replica_swap_blocks(r, v) <= e->host_cap_blocks)
        return replica_swap_out(r, v, e->group_blocks, e->sync);
    replica_preempt(r, v);
    return LLM_OK;
}

struct request *pol_victim_newest(void *ctx, struct replica *r,
                                  const struct request *q)
{
    (void)ctx;
    (void)q;
    return r->n_running > 0 ? r->running[r->n_running - 1] : NULL;
}

/* pol_make_room; refused: the KV manager has just refused q's grow to
 * tokens (replica_plan_decodes), so eviction comes first. */
static int make_room(struct replica *r, struct pol_pass *p, struct request *q,
                     int64_t tokens, bool refused, bool *self)
{
    pol_victim_fn *pick = p->victim ? p->victim : pol_victim_newest;

    *self = false;
    /* Most steps stay inside the last block: no manager call. */
    while ((int64_t)q->kv_blocks * r->block_tokens < tokens &&
           (refused || !replica_kv_grow(r, q, tokens))) {
        struct request *v = pick(p->victim_ctx, r, q);
        int rc;

        refused = false;
        if (v == NULL)
            v = q;
        rc = pol_evict(r, v, p->evict);
        if (rc != LLM_OK)
            return rc;
        p->evictions++;
        if (v == q) {
            *self = true;
            break;
        }
    }
    return LLM_OK;
}

int pol_make_room(struct replica *r, struct pol_pass *p, struct request *q,
                  int64_t tokens, bool *self)
{
    return make_room(r, p, q, tokens, false, self);
}

/* The index of the first running request with id >= id (running is kept
 * in id order). */
static int32_t running_lower_bound(const struct replica *r, int64_t id)
{
    int32_t lo = 0, hi = r->n_running;

    while (lo < hi) {
        int32_t mid = lo + (hi - lo) / 2;
        if (r->running[mid]->id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

int pol_plan_running(struct replica *r, struct pol_pass *p, int kinds)
{
    int32_t i = 0;

    while (i < r->n_running && pol_tokens_left(p, r) > 0) {
        struct request *q;
        bool decode, self, refused = false;
        int64_t n;
        int rc;

        /* Decodes that need nothing but their step (and maybe a block),
         * in bulk; the loop below sees the first request that needs
         * more. */
        if (kinds & POL_DECODES) {
            rc = replica_plan_decodes(r, p->now_ns, pol_tokens_left(p, r),
                                      &i, &refused);
            if (rc != LLM_OK)
                return rc;
            if (i >= r->n_running || pol_tokens_left(p, r) <= 0)
                break;
        }
        q = r->running[i];
        decode = q->state == REQ_DECODE;
        if (q->plan_idx >= 0 || !(kinds & (decode ? POL_DECODES
                                                  : POL_PREFILLS))) {
            i++;
            continue;
        }
        if (q->ready_ns > p->now_ns) {
            replica_wake_at(r, q->ready_ns);
            i++;
            continue;
        }
        /* A decode is one token (1 + drafts with speculation, cut to the
         * budget as vLLM V1 cuts num_new_tokens), and the loop has at
         * least one left. */
        n = decode ? r->decode_tokens : replica_prefill_target(q) -
                                        q->computed;
        if (n > pol_tokens_left(p, r))
            n = pol_tokens_left(p, r);
        /* Most steps stay inside the last block: nothing to make room
         * for, and nothing moves in the running array. */
        if ((int64_t)q->kv_blocks * r->block_tokens < q->computed + n) {
            rc = make_room(r, p, q, q->computed + n, refused, &self);
            if (rc != LLM_OK)
                return rc;
            /* Evictions shift the array: find q again, or the next. */
            i = running_lower_bound(r, q->id);
            if (self)
                continue;
        }
        rc = replica_plan(r, q, (int32_t)n, !decode);
        if (rc != LLM_OK)
            return rc;
        i++;
    }
    return LLM_OK;
}

int pol_swap_in(struct replica *r, struct pol_pass *p,
                const struct pol_limits *l)
{
    int64_t wm = pol_watermark_blocks(l, r);
    struct request *q;
    int rc;

    while ((q = r->swap_head) != NULL && r->n_running + 1 <= l->max_seqs) {
        int64_t need = replica_kv_needed(r, q, q->computed + 1);
        /* With nothing running nothing will free blocks: take the
         * watermark too rather than stall. */
        int64_t keep = r->n_running == 0 ? 0 : wm;

        if (replica_kv_free(r) - need < keep)
            break;
        replica_swapped_pop(r);
        rc = replica_swap_in(r, q, p->evict ? p->evict->group_blocks : 1,
                             p->evict ? p->evict->sync : true);
        if (rc != LLM_OK)
            return rc;
    }
    return LLM_OK;
}

struct request *pol_pick_fifo(void *ctx, struct replica *r)
{
    (void)ctx;
    return r->wait_head;
}

struct request *pol_pick_min_key(void *ctx, struct replica *r)
{
    struct request *q, *best = r->wait_head;

    (void)ctx;
    for (q = r->wait_head; q != NULL; q = q->next)
        if (q->sched_key < best->sched_key)
            best = q;
    return best;
}

int pol_reject_never(struct replica *r, struct request *q, int64_t budget,
                     int64_t watermark_blocks, bool whole_prompt,
                     bool *gone)
{
    int64_t n = replica_prefill_target(q) - q->computed;
    int64_t need = replica_kv_needed(r, q, replica_prefill_target(q));
    /* The last decode writes the KV of the token before the last (and a
     * verify the slots of its drafts after it). */
    int64_t whole = replica_kv_needed(r, q, (int64_t)q->prompt_tokens +
                                      q->output_tokens - 1 +
                                      r->decode_tokens - 1);

    *gone = (whole_prompt && n > budget) ||
            need > r->kv_capacity - watermark_blocks ||
            whole > r->kv_capacity;
    if (!*gone)
        return LLM_OK;
    /* vLLM ignores such a prompt with an error; a sequence that outgrows
     * the whole pool would preempt itself forever. */
    replica_wait_remove(r, q);
    return replica_reject(r, q);
}

int pol_admit(struct replica *r, struct pol_pass *p,
              const struct pol_limits *l, pol_pick_fn *pick, void *ctx,
              bool chunk)
{
    int64_t wm = pol_watermark_blocks(l, r);
    struct request *q;
    int rc;

    while ((q = pick(ctx, r)) != NULL) {
        int64_t left = pol_tokens_left(p, r), n, need;
        bool gone;

        /* Async scheduling: the engine has not seen it yet. */
        if (q->arrival_ns > r->admit_cutoff_ns)
            break;
        rc = pol_reject_never(r, q, p->budget, wm, !chunk, &gone);
        if (rc != LLM_OK)
            return rc;
        if (gone)
            continue;
        n = replica_prefill_target(q) - q->computed;
        if (chunk && n > left)
            n = left;
        /* Requests held by async scheduling still fill their slots. */
        if (n <= 0 || n > left ||
            r->n_running + r->n_holding + 1 > l->max_seqs)
            break;
        need = replica_kv_needed(r, q, q->computed + n);
        if (replica_kv_free(r) - need < wm)
            break;
        replica_wait_remove(r, q);
        if (!replica_kv_grow(r, q, q->computed + n))
            return LLM_ERANGE;          /* checked above: cannot happen */
        rc = replica_admit(r, q);
        if (rc == LLM_OK && p->layer_groups > 0)
            rc = replica_plan_layers(r, q, (int32_t)n, 0, p->layer_groups);
        else if (rc == LLM_OK)
            rc = replica_plan(r, q, (int32_t)n, true);
        if (rc != LLM_OK)
            return rc;
    }
    return LLM_OK;
}

int pol_read_reserve(const cJSON *p, const char *path, enum pol_reserve *out,
                     struct llm_diag *d)
{
    static const char *const names[] = { "max", "oracle", "pow2", NULL };
    int v = (int)*out;
    int rc = pol_read_enum(p, path, "reserve", names, &v, d);

    *out = (enum pol_reserve)v;
    return rc;
}

int64_t pol_reserve_tokens(enum pol_reserve how, const struct replica *r,
                           const struct request *q)
{
    int64_t out = 1, t;

    switch (how) {
    case POL_RESERVE_ORACLE:
        return (int64_t)q->prompt_tokens + q->output_tokens;
    case POL_RESERVE_POW2:
        while (out < q->output_tokens)
            out *= 2;
        /* No engine reserves past its length limit. */
        t = (int64_t)q->prompt_tokens + out;
        return t < r->max_model_len ? t : r->max_model_len;
    case POL_RESERVE_MAX:
    default:
        return r->max_model_len;
    }
}

int pol_read_load(const cJSON *p, const char *path, const char *key,
                  enum pol_load *out, struct llm_diag *d)
{
    static const char *const names[] = { "requests", "tokens", "kv", NULL };
    int v = (int)*out;
    int rc = pol_read_enum(p, path, key, names, &v, d);

    *out = (enum pol_load)v;
    return rc;
}

double pol_load(enum pol_load how, const struct replica *r)
{
    int64_t wait_blocks;

    switch (how) {
    case POL_LOAD_TOKENS:
        return (double)r->load_tokens;
    case POL_LOAD_KV:
        wait_blocks = (r->wait_tokens + r->block_tokens - 1) /
                      r->block_tokens;
        return r->kv_capacity > 0 ?
               (double)(replica_kv_used(r) + wait_blocks) /
               (double)r->kv_capacity : 0;
    case POL_LOAD_REQUESTS:
    default:
        return (double)(r->n_waiting + r->n_running + r->n_swapped);
    }
}

int32_t pol_least_loaded(enum pol_load how, const struct replica *const *reps,
                         int32_t n)
{
    int32_t i, best = 0;
    double bl = pol_load(how, reps[0]);

    for (i = 1; i < n; i++) {
        double l = pol_load(how, reps[i]);
        if (l < bl) {
            bl = l;
            best = i;
        }
    }
    return best;
}

/* Whether name contains "a100", in any case (vLLM lower-cases it). */
static bool names_a100(const char *name)
{
    size_t i;

    for (i = 0; name != NULL && name[i] != '\0'; i++)
        if (tolower((unsigned char)name[i]) == 'a' && name[i + 1] == '1' &&
            name[i + 2] == '0' && name[i + 3] == '0')
            return true;
    return false;
}

int64_t pol_v1_default_tokens(double dev_mem_bytes, const char *dev_name)
{
    /* arg_utils.py: device_memory >= 70 * GiB_bytes and "a100" not in
     * device_name */
    return dev_mem_bytes >= 70.0 * 1073741824.0 && !names_a100(dev_name) ?
           8192 : 2048;
}

int64_t pol_v1_default_seqs(double dev_mem_bytes, const char *dev_name,
                            int64_t max_tokens)
{
    int64_t seqs = pol_v1_default_tokens(dev_mem_bytes, dev_name) == 8192 ?
                   1024 : 256;

    return seqs < max_tokens ? seqs : max_tokens;
}

/* cudagraph_capture_sizes: a non-empty array of integers in [1, 2^20]. */
static int read_sizes(const cJSON *p, const char *path, struct pol_graphs *g,
                      struct llm_diag *d)
{
    const cJSON *a = NULL, *it;
    int rc = jcfg_arr(p, path, "cudagraph_capture_sizes", false, &a, d);

    if (rc || a == NULL)
        return rc;
    g->n_sizes = 0;
    cJSON_ArrayForEach(it, a) {
        if (!cJSON_IsNumber(it) || it->valuedouble < 1 ||
            it->valuedouble > 1 << 20 ||
            it->valuedouble != (double)(int32_t)it->valuedouble ||
            g->n_sizes == POL_MAX_CAPTURE_SIZES)
            return diag_set(d, LLM_EINVAL, "%s.cudagraph_capture_sizes: "
                            "expected at most %d integers in [1, 1048576]",
                            path, POL_MAX_CAPTURE_SIZES);
        g->sizes[g->n_sizes++] = (int32_t)it->valueint;
    }
    if (g->n_sizes == 0)
        return diag_set(d, LLM_EINVAL, "%s.cudagraph_capture_sizes: "
                        "expected at least one size", path);
    g->sizes_set = true;
    return LLM_OK;
}

int pol_read_graphs(const cJSON *p, const char *path, struct pol_graphs *g,
                    struct llm_diag *d)
{
    static const char *const modes[] = { "full_and_piecewise", "piecewise",
        "full_decode_only", "none", NULL };
    int rc = jcfg_bool(p, path, "async_scheduling", false, &g->async, d);

    if (!rc) rc = pol_read_enum(p, path, "cudagraph_mode", modes, &g->mode,
                                d);
    if (!rc) rc = read_sizes(p, path, g, d);
    if (cJSON_HasObjectItem(p, "cudagraph_mode") || g->sizes_set)
        g->on = true;
    return rc;
}

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;

    return (x > y) - (x < y);
}

/* VllmConfig._set_cudagraph_sizes (vllm/config/vllm.py) for a dense
 * model without speculative decoding on a GPU that is not a data-centre
 * Blackwell (ceiling 512): 1, 2, 4, multiples of 8 below 256, multiples
 * of 16 up to min(2 max_num_seqs, 512, max_num_batched_tokens), and
 * max_num_batched_tokens itself when it is below that ceiling. */
static void default_sizes(struct pol_graphs *g, const struct pol_limits *l)
{
    int64_t cap = 2 * l->max_seqs < 512 ? 2 * l->max_seqs : 512;
    int32_t s, n = 0;

    if (cap > l->max_tokens)
        cap = l->max_tokens;
    for (s = 1; s <= 4 && s <= cap; s *= 2)
        g->sizes[n++] = s;
    for (s = 8; s < 256 && s <= cap; s += 8)
        g->sizes[n++] = s;
    for (s = 256; s <= cap; s += 16)
        g->sizes[n++] = s;
    if (l->max_tokens <= cap && g->sizes[n - 1] != (int32_t)l->max_tokens)
        g->sizes[n++] = (int32_t)l->max_tokens;
    g->n_sizes = n;
}

int pol_attach_graphs(struct pol_graphs *g, const struct pol_limits *l,
                      const char *path, struct llm_diag *d)
{
    int32_t i, n = 0;

    if (g->mode == POL_GRAPHS_NONE) {
        g->n_sizes = 0;
        return LLM_OK;
    }
    if (!g->sizes_set) {
        default_sizes(g, l);
        return LLM_OK;
    }
    /* a given list: sorted, de-duplicated, those over the budget dropped,
     * as _set_cudagraph_sizes treats a user's list */
    qsort(g->sizes, (size_t)g->n_sizes, sizeof(g->sizes[0]), cmp_i32);
    for (i = 0; i < g->n_sizes; i++)
        if (g->sizes[i] <= l->max_tokens &&
            (n == 0 || g->sizes[n - 1] != g->sizes[i]))
            g->sizes[n++] = g->sizes[i];
    g->n_sizes = n;
    if (n == 0)
        return diag_set(d, LLM_EINVAL, "%s.cudagraph_capture_sizes: every "
                        "size exceeds max_num_batched_tokens %lld", path,
                        (long long)l->max_tokens);
    return LLM_OK;
}

/* The smallest capture size >= tokens; 0: none (eager). */
static int32_t capture_size(const struct pol_graphs *g, int64_t tokens)
{
    int32_t lo = 0, hi = g->n_sizes;

    while (lo < hi) {
        int32_t mid = lo + (hi - lo) / 2;
        if (g->sizes[mid] < tokens)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < g->n_sizes ? g->sizes[lo] : 0;
}

void pol_launch(const struct pol_graphs *g, const struct pol_limits *l,
                struct replica *r)
{
    int64_t t = replica_plan_tokens(r);
    bool decode = r->plan_prefill_tokens == 0;
    int32_t size = t > 0 ? capture_size(g, t) : 0;

    if (!g->on)
        return;                  /* the cost model's choice */
    if (size == 0 || g->mode == POL_GRAPHS_NONE || (g->mode == POL_GRAPHS_FULL_DECODE_ONLY && !decode)) {
        replica_set_graph(r, 0, BATCH_GRAPH_NONE);
        return;
    }
    /* Full decode graphs exist for sizes up to max_num_seqs only. */
    replica_set_graph(r, size - t, decode && g->mode != POL_GRAPHS_PIECEWISE &&
                      size <= l->max_seqs ? BATCH_GRAPH_FULL :
                      BATCH_GRAPH_PIECEWISE);
}
