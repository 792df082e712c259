/* hw/cost_calib.c: the calibrated cost model.
 *
 * Prices each operator of an iteration from the device's measured tables
 * (hw/calib.h): GEMMs by (m, n, k), attention by heads and shape, the
 * element-wise kernels by tokens and width, each as measured inside a CUDA
 * graph, so the per-kernel launch gap of a graphed forward is part of every
 * operator.  Added once per iteration: the graph replay, and the serving
 * engine's CPU time (cpu_overhead_us, 0 by default: the reference engine
 * replays a captured graph and has none).  Mechanisms, not fitted
 * constants: a varlen attention call over several prefill chunks is one
 * kernel, so the chunks share one kernel floor; decode attention over
 * ragged contexts is the uniform table's time at the mean context, scaled
 * by how FlashAttention-2 schedules that ragged launch against the uniform
 * one (decode_sched_us; root-mean-square context where the device has no
 * attn_decode_sched.csv).  With
 * shared_prefix_attention (Hydragen) decode attention is a prefill-shaped
 * kernel per shared prefix (its sequences' queries batched over its KV)
 * plus the decode kernel over each sequence's own suffix.
 *
 * Execution "eager" (cost_model.execution) prices an engine that runs its
 * forward op by op from Python instead of replaying a graph (serve.py,
 * vLLM's enforce_eager): the CPU dispatches each kernel while the GPU runs
 * the earlier ones (hw/eager.h plays that pipeline kernel by kernel), a
 * layer's kernels costing dispatch_layer seconds of host time (eager.csv,
 * by batch class) and each kernel its table time on the GPU; the slower
 * side paces the forward, and short kernels after long ones spend the
 * host's lead.  Before it, the host builds the batch's inputs and copies
 * them to the GPU (prep_base + per sequence + per token).  The
 * excess over the GPU time is reported as fixed time. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hw/calib.h"
#include "hw/eager.h"
#include "hw/cost.h"
#include "sim/jcfg.h"

struct eager_host {
    double fwd_s[3], layer_s[3];   /* by class: decode, prefill, mixed */
    double prep_s, prep_seq_s, prep_tok_s;
};

/* attn_decode_sched.csv (hw/calib/fit_decode_sched.py), microseconds */
struct decode_sched {
    bool on;
    double key_alone, key_bw;  /* per key: one CTA alone; all CTAs share */
    double cta, launch, comb;  /* per CTA, per call, split-KV combine */
};

/* CTAs by length: n[j] CTAs of 64 j keys plus the fixed per-CTA work
 * (every CTA length of the model is a multiple of 64 keys), bins [0, top)
 * possibly non-zero, the rest zero. */
struct cta_hist {
    double *n;
    int64_t cap, top;
};

/* decode_sched_us depends on a launch's groups only through their counts
 * and 64-key bins (plain_bin; the split-KV blocks and the longest
 * sequence follow from those), which change every 64 tokens of a
 * sequence while its context grows every iteration: so its result is
 * remembered per signature (heads, and (count, bin) of each group in
 * order), and an iteration whose signature was seen reuses it (same
 * inputs, same arithmetic: the same bits).  Direct-mapped, SCHED_MEMO
 * entries: a run's replicas each keep two live signatures (their ragged
 * batch and its uniform reference). */
#define SCHED_MEMO 256

struct sched_memo {
    uint64_t hash;
    int32_t qh, kvh, n;        /* n groups; 0: empty */
    int32_t cap;
    int32_t *sig;              /* 2n: count, bin of each group */
    double us;
};

/* fa2_splits_of, remembered: it walks up to 128 candidate splits, and a
 * run asks for few (batch x KV heads, blocks) pairs.  Direct-mapped by
 * the pair; splits are at most 128, so an int16 holds them. */
#define SPLITS_MEMO 4096

struct splits_memo {
    int32_t bh, nb;            /* bh 0: empty */
    int16_t splits;
};

struct calibrated {
    const struct cost_env *env;
    struct calib *tab;
    enum dtype wdt;
    int64_t fixed_ns;
    bool shared_prefix;
    bool eager;
    struct eager_host host;
    struct op_list list;           /* eager: the whole iteration's ops */
    struct eager_op *eager_ops;    /* eager: scratch, then per-op times */
    size_t eager_cap;
    struct decode_sched ds;
    struct cta_hist hist;          /* decode_sched_us scratch */
    struct sched_memo *memo;       /* SCHED_MEMO entries, or NULL */
    struct splits_memo *splits;    /* SPLITS_MEMO entries, or NULL */
    int32_t *sig;                  /* scratch signature */
    int32_t cap_sig;
};

static int load_eager(struct calibrated *c, const char *dir,
                      const char *path, struct llm_diag *d)
{
    static const char *const cls[] = { "decode", "prefill", "mixed" };
    struct eager_host *h = &c->host;
    char what[48];
    int i;

    if (!calib_has_eager(c->tab))
        return diag_set(d, LLM_EINVAL, "%s.execution: \"eager\" needs the "
                        "host costs %s/eager.csv (hw/calib/fit_eager.py)",
                        path, dir);
    for (i = 0; i < 3; i++) {
        snprintf(what, sizeof(what), "dispatch_forward_%s", cls[i]);
        h->fwd_s[i] = calib_eager_s(c->tab, what);
        snprintf(what, sizeof(what), "dispatch_layer_%s", cls[i]);
        h->layer_s[i] = calib_eager_s(c->tab, what);
        if (h->fwd_s[i] < 0 || h->layer_s[i] < 0)
            return diag_set(d, LLM_EINVAL, "%s/eager.csv: expected rows "
                            "dispatch_forward_%s and dispatch_layer_%s",
                            dir, cls[i], cls[i]);
    }
    h->prep_s = calib_eager_s(c->tab, "prep_base");
    h->prep_seq_s = calib_eager_s(c->tab, "prep_per_seq");
    h->prep_tok_s = calib_eager_s(c->tab, "prep_per_token");
    if (h->prep_s < 0 || h->prep_seq_s < 0 || h->prep_tok_s < 0)
        return diag_set(d, LLM_EINVAL, "%s/eager.csv: expected rows "
                        "prep_base, prep_per_seq and prep_per_token", dir);
    return LLM_OK;
}

static void load_decode_sched(struct calibrated *c)
{
    struct decode_sched *s = &c->ds;

    s->key_alone = calib_decode_sched_s(c->tab, "key_alone_us") * 1e6;
    s->key_bw = calib_decode_sched_s(c->tab, "key_bw_us") * 1e6;
    s->cta = calib_decode_sched_s(c->tab, "cta_us") * 1e6;
    s->launch = calib_decode_sched_s(c->tab, "launch_us") * 1e6;
    s->comb = calib_decode_sched_s(c->tab, "combine_us") * 1e6;
    s->on = s->key_alone > 0 && s->key_bw > 0 && s->cta >= 0 &&
            s->launch >= 0 && s->comb >= 0;
}

static int cal_init(void *st, const struct cost_env *env,
                    const cJSON *params, const char *path,
                    struct llm_diag *d)
{
    static const char *const keys[] = { "name", "cpu_overhead_us",
                                        "shared_prefix_attention",
                                        "execution", NULL };
    struct calibrated *c = st;
    char dir[1200];
    double cpu_us = 0;
    const char *mode = "graph";
    char kp[160];
    int rc = params ? jcfg_known(params, path, keys, d) : LLM_OK;

    if (!rc && params)
        rc = jcfg_num(params, path, "cpu_overhead_us", false, 0, 1e9,
                      &cpu_us, d);
    if (!rc && params)
        rc = jcfg_bool(params, path, "shared_prefix_attention", false,
                       &c->shared_prefix, d);
    if (!rc && params)
        rc = jcfg_str(params, path, "execution", false, &mode, d);
    if (!rc && strcmp(mode, "graph") != 0 && strcmp(mode, "eager") != 0) {
        jcfg_keypath(kp, sizeof(kp), path, "execution");
        rc = diag_set(d, LLM_EINVAL, "%s: expected \"graph\" or \"eager\", "
                      "got \"%s\"", kp, mode);
    }
    if (rc)
        return rc;
    if (env->dev->calib_dir[0] == '\0')
        return diag_set(d, LLM_EINVAL, "%s.name: device %s has no "
                        "calibration tables (use \"roofline\")", path,
                        env->dev->id);
    snprintf(dir, sizeof(dir), "%s/%s", env->root, env->dev->calib_dir);
    rc = calib_load(dir, env->dev, &c->tab, d);
    if (rc)
        return rc;
    c->env = env;
    c->wdt = env->shard.w_bytes <= 1.0 ? DT_FP8 : DT_BF16;
    load_decode_sched(c);
    /* without it every launch is scheduled afresh (same figures) */
    c->memo = calloc(SCHED_MEMO, sizeof(*c->memo));
    c->splits = calloc(SPLITS_MEMO, sizeof(*c->splits));
    c->eager = strcmp(mode, "eager") == 0;
    if (c->eager && (rc = load_eager(c, dir, path, d)) != LLM_OK) {
        calib_free(c->tab);
        return rc;
    }
    /* eager: no graph to replay; the host model replaces it */
    c->fixed_ns = (int64_t)llround(((c->eager ? 0 : calib_launch_s(c->tab,
                      "graph_replay_empty")) + cpu_us * 1e-6) * 1e9);
    return LLM_OK;
}

/* llround(x), inline: called a few times per iteration, where the
 * library call costs as much as the rest of the rounding.  For
 * |x| < 2^52, x - trunc(x) is exact, so rounding half away from zero on
 * it gives llround's result; larger or NaN x go to llround itself. */
static int64_t round_i64(double x)
{
    int64_t t;
    double f;

    if (!(fabs(x) < 4503599627370496.0))
        return llround(x);
    t = (int64_t)x;
    f = x - (double)t;
    return t + (f >= 0.5) - (f <= -0.5);
}

static const char *elem_table_name(const char *op)
{
    return strcmp(op, "rmsnorm_final") == 0 ? "rmsnorm" : op;
}

#define FA2_SMS 132     /* H100 SXM and H200, the devices with tables */
#define FA2_SLOTS (2 * FA2_SMS)

/* One varlen kernel runs every prefill chunk, its floor (launch and setup)
 * paid once.  Each chunk's table time beyond the floor was measured with
 * the chunk alone, its ceil(q / 128) x heads CTAs filling a fraction f of
 * the GPU's FA2_SLOTS; in one launch the chunks' CTAs run side by side,
 * so a chunk occupies the GPU for f of its time (all of it once f >= 1),
 * and the launch lasts the larger of that summed occupancy and its longest
 * chunk.  Large chunks (f >= 1) sum as before; many small ones overlap. */
static double prefill_attn_s(const struct calibrated *c,
                             const struct op_list *ops, int32_t *extrap)
{
    double area = 0, longest = 0, floor_s = 0;
    size_t i;
    int n = 0;

    for (i = 0; i < ops->n; i++) {
        const struct op *o = &ops->ops[i];
        bool x = false, unused = false;
        double t, f;
        if (o->kind != OP_ATTN_PREFILL)
            continue;
        if (n == 0)
            floor_s = calib_attn_prefill_s(c->tab, o->q_heads, o->kv_heads,
                                           o->head_dim, 1, 0, &unused);
        t = calib_attn_prefill_s(c->tab, o->q_heads, o->kv_heads,
                                 o->head_dim, o->q_tokens, o->prior, &x) -
            floor_s;
        t = t > 0 ? t : 0;
        f = (double)((o->q_tokens + 127) / 128 * o->q_heads) / FA2_SLOTS;
        area += t * (f < 1 ? f : 1);
        longest = t > longest ? t : longest;
        *extrap += x;
        n++;
    }
    return floor_s + (area > longest ? area : longest);
}

static bool shared_on(const struct calibrated *c, const struct op *o)
{
    return c->shared_prefix && o->kind == OP_ATTN_DECODE &&
           o->shared_bytes > 0;
}

/* Hydragen's decomposition: each shared prefix once, its sequences'
 * queries batched as the rows of one attention over its KV (the prefill
 * kernel's shape: count queries after `tokens` cached keys), then the
 * decode kernel over every sequence's suffix, at their RMS context
 * (sq: the sum of squared full contexts; a sharing sequence's suffix is
 * ctx - tokens).  The softmax merge of the two parts is not priced. */
static double shared_attn_s(const struct calibrated *c, const struct op *o,
                            const struct batch *b, double sq,
                            int32_t *extrap)
{
    double t = 0, p;
    size_t i;
    bool x = false;

    for (i = 0; i < b->n_shared; i++) {
        const struct shared_prefix *g = &b->shared[i];
        p = g->tokens;
        sq -= 2.0 * p * (double)g->ctx_sum - g->count * p * p;
        t += calib_attn_prefill_s(c->tab, o->q_heads, o->kv_heads,
                                  o->head_dim, g->count, g->tokens, &x);
        *extrap += x;
        x = false;
    }
    t += calib_attn_decode_s(c->tab, o->q_heads, o->kv_heads, o->head_dim,
                             o->count, sqrt(sq > 0 ? sq / o->count : 0),
                             &x);
    *extrap += x;
    return t;
}

/* ------------------------------------------------ ragged decode attention
 *
 * The engine's decode attention is one FlashAttention-2 varlen call with
 * max_seqlen_q = 1 (torch.ops.aten._flash_attention_forward; PyTorch 2.11
 * aten/src/ATen/native/transformers/cuda/flash_attn/flash_api.cpp,
 * mha_varlen_fwd).  How its thread blocks (CTAs) split the work:
 * - MHA (q heads == KV heads): the plain forward kernel (kBlockN 64),
 *   grid (1, batch, heads); each CTA walks its sequence's whole KV.  Many
 *   CTAs of every length interleave: the launch is balanced.
 * - GQA: "seqlenq_ngroups_swapped" moves the query groups into the
 *   sequence dimension (grid over KV heads), and only then
 *   set_params_splitkv picks num_splits = num_splits_heuristic(batch x
 *   kv_heads, 2 x SMs, n_blocks, 128), n_blocks = ceil(max_seqlen_k / 128)
 *   from the LONGEST sequence.  One split: the plain kernel, grid (1,
 *   batch, kv_heads), few CTAs each walking a whole sequence, so the
 *   longest sequence's CTAs run alone at the end.  Several: the split-KV
 *   kernel (kBlockN 128), grid (1, splits, batch x kv_heads); split s of a
 *   sequence takes KV blocks [s, s+1) x ceil(n_blocks / splits) of its own
 *   (flash_fwd_kernel.h, compute_attn_1rowblock_splitkv), so a short
 *   sequence leaves most of its splits empty, then the combine kernel.
 * The CTAs are list-scheduled in launch order onto 2 slots per SM (the
 * 2 x SMs the heuristic assumes); every running CTA streams keys at
 * min(1 / key_alone, 1 / (running x key_bw)): alone it is latency-bound,
 * together they share the memory system.  decode_sched_us evaluates that
 * schedule in O(groups + max context / 64) (CTA lengths binned by 64
 * keys, no sort): the CTAs before the last wave keep all
 * slots busy (total work / slots), and the last SLOTS CTAs in launch order
 * start together and drain, the longest last.  Its constants are fitted on
 * the uniform table alone (fit_decode_sched.py); the price is the uniform
 * table at the mean context times (schedule of the ragged launch) /
 * (schedule of the uniform launch at that mean), so uniform batches keep
 * their measured times exactly. */


/* num_splits_heuristic of flash_api.cpp (max_splits 128) */
static int64_t fa2_splits_of(int64_t bh, int64_t n_blocks)
{
    double eff[129], best = 0;
    int64_t max_s = n_blocks < 128 ? n_blocks : 128, s;

    if ((float)bh >= 0.8f * FA2_SLOTS)
        return 1;
    for (s = 1; s <= max_s; s++) {
        double w = (double)(bh * s) / FA2_SLOTS;
        bool elig = s == 1 || (n_blocks + s - 1) / s !=
                              (n_blocks + s - 2) / (s - 1);
        eff[s] = elig ? w / ceil(w) : 0;
        best = eff[s] > best ? eff[s] : best;
    }
    for (s = 1; s <= max_s; s++)
        if (eff[s] > 0 && eff[s] >= 0.85 * best)
            return s;
    return 1;
}

static int64_t fa2_splits(struct splits_memo *memo, int64_t bh,
                          int64_t n_blocks)
{
    struct splits_memo *e;
    int64_t v;

    if ((float)bh >= 0.8f * FA2_SLOTS || memo == NULL || bh > INT32_MAX ||
        n_blocks > INT32_MAX)
        return fa2_splits_of(bh, n_blocks);
    e = &memo[(uint64_t)(bh * 2654435761u + n_blocks) % SPLITS_MEMO];
    if (e->bh == bh && e->nb == n_blocks)
        return e->splits;
    v = fa2_splits_of(bh, n_blocks);
    *e = (struct splits_memo){ (int32_t)bh, (int32_t)n_blocks, (int16_t)v };
    return v;
}

/* A plain-kernel CTA walks its whole sequence in 64-key blocks: its bin. */
static int64_t plain_bin(int64_t ctx)
{
    return (ctx + 64) / 64;
}

/* Keys of work of a CTA in bin j, the fixed per-CTA work included. */
static double bin_keys(int64_t j, double ov)
{
    return (double)(j * 64) + ov;
}

/* CTAs that start together and drain, longest last: between consecutive
 * lengths the k CTAs still running stream at max(alone, shared) per key.
 * Empties the histogram. */
static double drain_us(const struct decode_sched *s, struct cta_hist *h,
                       double ov)
{
    double t = 0, running = 0, w = 0, k = 0;
    int64_t j = h->top;
    bool any = false;

    /* each length's step is taken when the next shorter length is found,
     * with the CTAs running down to it: the same terms in the same order
     * as walking a sorted run list */
    while (--j >= 0) {
        double wj;
        if (h->n[j] == 0)
            continue;
        wj = bin_keys(j, ov);
        if (any)
            t += (w - wj) * (k > s->key_alone ? k : s->key_alone);
        running += h->n[j];
        k = running * s->key_bw;
        w = wj;
        any = true;
        h->n[j] = 0;
    }
    if (any)
        t += (w - 0) * (k > s->key_alone ? k : s->key_alone);
    h->top = 0;
    return t;
}

/* cnt CTAs of 64 j keys (+ ov) into the histogram; *tail, when not NULL,
 * sums their work in the order they are added. */
static void add_ctas(struct cta_hist *h, double *tail, double cnt, int64_t j,
                     double ov)
{
    if (cnt > 0) {
        h->n[j] += cnt;
        h->top = j + 1 > h->top ? j + 1 : h->top;
        if (tail)
            *tail += cnt * bin_keys(j, ov);
    }
}

/* One sequence group's CTAs (cnt of its sequences): their total work,
 * added to h when h is not NULL. */
static double group_ctas(double ov, double cnt, int64_t ctx, int64_t heads,
                         int64_t split, int64_t per, struct cta_hist *h,
                         double *tail)
{
    double hc = cnt * (double)heads;
    int64_t kb, full, part;

    if (split <= 1) {
        int64_t j = plain_bin(ctx);
        if (h)
            add_ctas(h, tail, hc, j, ov);
        return hc * bin_keys(j, ov);
    }
    kb = (ctx + 128) / 128;
    full = kb / per < split ? kb / per : split;
    part = full < split ? kb - full * per : 0;
    if (h) {
        add_ctas(h, tail, hc * (double)full, 2 * per, ov);
        add_ctas(h, tail, part > 0 ? hc : 0, 2 * part, ov);
        add_ctas(h, tail, hc * (double)(split - full - (part > 0)), 0, ov);
    }
    return hc * ((double)(full * per * 128 + part * 128) +
                 (double)split * ov);
}

/* The last FA2_SLOTS CTAs in launch order after whole passes: `left`
 * sequences from the end, into h (their work summed into *tail), each with
 * heads x split CTAs (split-KV: a sequence's CTAs launch together) or one
 * (plain kernel: the last pass over the sequences is one head's). */
static void wave_tail(double ov, const struct decode_group *g, size_t ng,
                      double left, int64_t heads, int64_t split,
                      int64_t per, struct cta_hist *h, double *tail)
{
    for (size_t i = ng; i-- > 0 && left > 0;) {
        double take = g[i].count < left ? g[i].count : left;
        left -= take;
        group_ctas(ov, take, g[i].ctx, split <= 1 ? 1 : heads, split, per,
                   h, tail);
    }
}

/* More CTAs than SMs, all resident: the block scheduler gives each SM one
 * CTA in launch order, then a second to the first ctas - SMS of them, so
 * CTA id shares its SM with CTA id + SMS (plain kernel: id = sequence +
 * seqs x head).  Two CTAs on one SM each stream at the rate of a fully
 * loaded GPU until the shorter ends, then the longer at its latency-bound
 * rate alone: on a ragged batch two long sequences paired on one SM keep
 * it busy to the end though most SMs idle.  The latest SM to finish bounds
 * the launch; for equal CTAs the bound is the drain's own time. */
static double sm_pairs_us(const struct decode_sched *s,
                          const struct decode_group *g, size_t ng,
                          int64_t seqs, int64_t ctas, double ov)
{
    double w[FA2_SLOTS], pair = (double)ctas * s->key_bw, t = 0;
    int64_t b = 0, id, b1 = 0, b2 = FA2_SMS % seqs;
    size_t i;

    pair = pair > s->key_alone ? pair : s->key_alone;
    for (i = 0; i < ng; i++) {
        double wi = bin_keys(plain_bin(g[i].ctx), ov);
        for (int32_t k = 0; k < g[i].count && b < FA2_SLOTS; k++)
            w[b++] = wi;
    }
    for (id = 0; id + FA2_SMS < ctas; id++) {
        double a = w[b1], z = w[b2];
        double lo = a < z ? a : z, hi = a < z ? z : a;
        double u = lo * pair + (hi - lo) * s->key_alone;
        t = u > t ? u : t;
        b1 = b1 + 1 == seqs ? 0 : b1 + 1;
        b2 = b2 + 1 == seqs ? 0 : b2 + 1;
    }
    return t;
}

/* Microseconds of one decode launch over groups g (the model above).  The
 * histogram must hold bins up to max context / 64 + 3 (grow_hist). */
static double decode_sched_us(struct calibrated *c, int32_t qh, int32_t kvh,
                              const struct decode_group *g, size_t ng)
{
    const struct decode_sched *s = &c->ds;
    int64_t seqs = 0, max_ctx = 0, heads = qh > kvh ? kvh : qh, split = 1;
    int64_t per = 1;
    double work = 0, ctas, t, ov = s->cta / s->key_alone;
    size_t i;

    for (i = 0; i < ng; i++) {
        seqs += g[i].count;
        max_ctx = g[i].ctx > max_ctx ? g[i].ctx : max_ctx;
    }
    if (qh > kvh) {
        int64_t nb = (max_ctx + 128) / 128;
        split = fa2_splits(c->splits, seqs * kvh, nb);
        per = (nb + split - 1) / split;
    }
    ctas = (double)(seqs * heads * split);
    if (ctas <= FA2_SLOTS) {
        /* every CTA runs at once (work only feeds the larger launch) */
        for (i = 0; i < ng; i++)
            group_ctas(ov, g[i].count, g[i].ctx, heads, split, per,
                       &c->hist, NULL);
        t = drain_us(s, &c->hist, ov);
        /* one group: every pair is the drain's own time */
        if (split <= 1 && ctas > FA2_SMS && ng > 1)
            t = fmax(t, sm_pairs_us(s, g, ng, seqs, (int64_t)ctas, ov));
    } else {
        double tail = 0, busy;
        int64_t copies = split <= 1 ? FA2_SLOTS / seqs : 0;
        if (copies > 0) {
            /* the common large batch: whole passes of the plain kernel
             * over the sequences, summed in one pass with the total work
             * (the same sums in the same order), then a partial pass */
            for (i = 0; i < ng; i++) {
                int64_t j = plain_bin(g[i].ctx);
                work += g[i].count * (double)heads * bin_keys(j, ov);
                add_ctas(&c->hist, &tail, (double)g[i].count *
                         (double)copies, j, ov);
            }
            wave_tail(ov, g, ng, (double)(FA2_SLOTS % seqs), 1, 1, per,
                      &c->hist, &tail);
        } else {
            for (i = 0; i < ng; i++)
                work += group_ctas(ov, g[i].count, g[i].ctx, heads, split,
                                   per, NULL, NULL);
            wave_tail(ov, g, ng, split <= 1 ? (double)(FA2_SLOTS % seqs) :
                      FA2_SLOTS / (double)(heads * split), heads, split, per,
                      &c->hist, &tail);
        }
        busy = FA2_SLOTS * s->key_bw;
        t = (work - tail) / FA2_SLOTS *
                (busy > s->key_alone ? busy : s->key_alone) +
            drain_us(s, &c->hist, ov);
    }
    return s->launch + t + (split > 1 ? s->comb : 0);
}

/* The signature of groups g into c->sig (2 ng ints) and its hash;
 * false: no memory. */
static bool sched_sig(struct calibrated *c, int32_t qh, int32_t kvh,
                      const struct decode_group *g, size_t ng, uint64_t *h)
{
    uint64_t x = ((uint64_t)(uint32_t)qh << 32 | (uint32_t)kvh) ^ ng;
    size_t i;

    if ((int64_t)ng * 2 > c->cap_sig) {
        int32_t *n = realloc(c->sig, ng * 2 * sizeof(*n));
        if (n == NULL)
            return false;
        c->sig = n;
        c->cap_sig = (int32_t)(ng * 2);
    }
    for (i = 0; i < ng; i++) {
        int32_t bin = (int32_t)plain_bin(g[i].ctx);
        c->sig[2 * i] = g[i].count;
        c->sig[2 * i + 1] = bin;
        x = (x ^ ((uint64_t)(uint32_t)g[i].count << 32 | (uint32_t)bin)) *
            0x9E3779B97F4A7C15ull;
        x ^= x >> 29;
    }
    *h = x;
    return true;
}

/* decode_sched_us through the memo (see SCHED_MEMO). */
static double sched_cached(struct calibrated *c, int32_t qh, int32_t kvh,
                           const struct decode_group *g, size_t ng)
{
    struct sched_memo *e;
    uint64_t h;
    size_t bytes = ng * 2 * sizeof(int32_t);

    if (ng > INT32_MAX / 2 || c->memo == NULL || !sched_sig(c, qh, kvh, g, ng,
                                                            &h))
        return decode_sched_us(c, qh, kvh, g, ng);
    e = &c->memo[h % SCHED_MEMO];
    if (e->n == (int32_t)ng && e->hash == h && e->qh == qh && e->kvh == kvh &&
        memcmp(e->sig, c->sig, bytes) == 0)
        return e->us;
    if ((int32_t)(ng * 2) > e->cap) {
        int32_t *n = realloc(e->sig, bytes);
        if (n == NULL)
            return decode_sched_us(c, qh, kvh, g, ng);
        e->sig = n;
        e->cap = (int32_t)(ng * 2);
    }
    memcpy(e->sig, c->sig, bytes);
    e->hash = h;
    e->qh = qh;
    e->kvh = kvh;
    e->n = (int32_t)ng;
    e->us = decode_sched_us(c, qh, kvh, g, ng);
    return e->us;
}

/* Bins for CTAs of up to max_ctx + 128 keys (a split's share rounds up). */
static bool grow_hist(struct calibrated *c, int64_t max_ctx)
{
    int64_t need = max_ctx / 64 + 4;
    double *n;

    if (need <= c->hist.cap)
        return true;
    n = realloc(c->hist.n, (size_t)need * sizeof(*n));
    if (n == NULL)
        return false;
    memset(n + c->hist.cap, 0, (size_t)(need - c->hist.cap) * sizeof(*n));
    c->hist.n = n;
    c->hist.cap = need;
    return true;
}

/* Decode attention: the table's uniform batch at the mean context, times
 * the schedule's ragged / uniform ratio; without a schedule (or memory for
 * it) the root-mean-square context, which weights each sequence by its own
 * length (the imbalance to first order). */
static double decode_attn_s(struct calibrated *c, const struct op *o,
                            const struct batch *b, int32_t *extrap)
{
    double sq = 0, sum = 0, t, mean;
    int64_t max_ctx = 0;
    size_t i;
    bool x = false, ragged = false, shared = shared_on(c, o), sched;

    for (i = 0; i < b->n_decode; i++) {
        sum += (double)b->decode[i].count * b->decode[i].ctx;
        ragged |= b->decode[i].ctx != b->decode[0].ctx;
        max_ctx = b->decode[i].ctx > max_ctx ? b->decode[i].ctx : max_ctx;
    }
    sched = !shared && ragged && c->ds.on && grow_hist(c, max_ctx);
    /* the sum of squared contexts only where the RMS context is used */
    if (shared || (ragged && !sched))
        for (i = 0; i < b->n_decode; i++)
            sq += (double)b->decode[i].count * b->decode[i].ctx *
                  (double)b->decode[i].ctx;
    if (shared)
        return shared_attn_s(c, o, b, sq, extrap);
    mean = sum / (double)o->count;
    if (!sched) {
        t = calib_attn_decode_s(c->tab, o->q_heads, o->kv_heads,
                                o->head_dim, o->count,
                                ragged ? sqrt(sq / (double)o->count) : mean,
                                &x);
    } else {
        struct decode_group u = { .count = o->count,
                                  .ctx = (int32_t)round_i64(mean) };
        t = calib_attn_decode_s(c->tab, o->q_heads, o->kv_heads,
                                o->head_dim, o->count, mean, &x) *
            sched_cached(c, o->q_heads, o->kv_heads, b->decode,
                         b->n_decode) /
            sched_cached(c, o->q_heads, o->kv_heads, &u, 1);
    }
    *extrap += x;
    return t;
}

static double comm_s(const struct calibrated *c, const struct op *o,
                     bool *x)
{
    const char *name = o->kind == OP_ALLREDUCE ? "allreduce" :
                       o->kind == OP_ALLGATHER ? "allgather" :
                       o->kind == OP_REDUCE_SCATTER ? "reducescatter" :
                       o->kind == OP_ALLTOALL ? "alltoall" : NULL;
    int32_t ranks = o->ranks > 0 ? o->ranks : c->env->shard.tp;
    double t = name ? calib_comm_s(c->tab, name, ranks, o->bytes, x) : -1;

    if (t >= 0)
        return t;
    if (o->kind != OP_SENDRECV)
        *x = true;
    return cost_roofline_s(c->env->dev, &c->env->shard, o);
}

static double op_s(struct calibrated *c, const struct op *o,
                   const struct batch *b, int32_t *extrap)
{
    bool x = false;
    double t;

    switch (o->kind) {
    case OP_GEMM:
        t = calib_gemm_s(c->tab, c->wdt, o->m, o->n, o->k, &x);
        break;
    case OP_ATTN_DECODE:
        return decode_attn_s(c, o, b, extrap);
    case OP_ELEMWISE:
        t = o->m > 0 ? calib_elem_s(c->tab, elem_table_name(o->name), o->m,
                                    o->n, &x) : 0;
        break;
    default:
        /* collectives: NCCL's measured times where the tables hold this
         * collective and rank count, else the link model (flagged) */
        t = comm_s(c, o, &x);
        break;
    }
    *extrap += x;
    return t;
}

/* Prices ops into cls (seconds per class) and, when per_op is not NULL,
 * each operator's own time into per_op (-1: no kernel of its own). */
static void price_ops(struct calibrated *c, const struct batch *b,
                      const struct op_list *ops, double cls[OPC_COUNT],
                      int32_t *extrap, double *per_op)
{
    double pre_floor = 0, t;
    int32_t pre_layers = 0;
    size_t i, first_pre = ops->n;

    for (i = 0; i < ops->n; i++) {
        const struct op *o = &ops->ops[i];
        struct op fo = *o;
        double floor_s;
        if (shared_on(c, o))
            fo.bytes -= o->shared_bytes;   /* the prefix read once */
        floor_s = cost_roofline_s(c->env->dev, &c->env->shard, &fo);
        if (per_op != NULL)
            per_op[i] = -1;        /* no kernel of its own */
        if (o->kind == OP_ATTN_PREFILL) {
            pre_layers = o->repeat;
            pre_floor += floor_s;
            if (first_pre == ops->n)
                first_pre = i;
            continue;
        }
        /* Never below the operator's own roofline (its FLOPs and bytes as
         * models/ops.c counts them). */
        t = op_s(c, o, b, extrap);
        t = t > floor_s ? t : floor_s;
        if (per_op != NULL)
            per_op[i] = t;
        cls[op_class_of(o->kind)] += o->repeat * t;
    }
    if (pre_layers > 0) {
        t = prefill_attn_s(c, ops, extrap);
        t = t > pre_floor ? t : pre_floor;
        cls[OPC_ATTN] += pre_layers * t;
        if (per_op != NULL)        /* one varlen kernel for every chunk */
            per_op[first_pre] = t;
    }
}

static int cal_price(void *st, const struct batch *b,
                     const struct op_list *ops, struct cost_breakdown *out)
{
    struct calibrated *c = st;
    double cls[OPC_COUNT] = { 0 };
    int k;

    price_ops(c, b, ops, cls, &out->extrapolated, NULL);
    for (k = 0; k < OPC_COUNT; k++)
        out->class_ns[k] += round_i64(cls[k] * 1e9);
    return LLM_OK;
}

/* The eager engine's host time beyond the GPU's (see the top comment):
 * the op list played through hw/eager.h.  The operators that repeat form
 * the layer: an operator with repeat r in a layer block of L layers (L the
 * block's smallest repeat: RMSNorm and the residual add run twice a layer)
 * launches r / L kernels per layer, and the class's dispatch_layer time
 * is spread evenly over the layer's kernels; the per-forward dispatch goes
 * on the first kernel. */
static double eager_excess_s(struct calibrated *c, const struct batch *b)
{
    const struct eager_host *h = &c->host;
    const struct op_list *l = &c->list;
    double cls[OPC_COUNT] = { 0 }, g = 0, fwd, prep, *per;
    struct eager_clock clk = { 0, 0 };
    struct eager_op *eo;
    int32_t unused = 0;
    int k = b->n_prefill == 0 ? 0 : b->decode_seqs == 0 ? 1 : 2;
    size_t i, j, q, n, need;

    if (batch_tokens(b) == 0 || ops_build(c->env->model, &c->env->shard, b,
                                          &c->list) != LLM_OK)
        return 0;
    need = 8 * l->n;               /* kernels (repeats up to 8 a layer) */
    if (need > c->eager_cap) {
        void *p = realloc(c->eager_ops, need * sizeof(*eo) +
                          l->n * sizeof(double));
        if (p == NULL)
            return 0;
        c->eager_ops = p;
        c->eager_cap = need;
    }
    eo = c->eager_ops;
    per = (double *)(eo + c->eager_cap);
    price_ops(c, b, l, cls, &unused, per);
    for (i = 0; i < OPC_COUNT; i++)
        g += cls[i];
    for (i = 0; i < l->n; i = j) {
        bool layer = l->ops[i].repeat > 1;
        int32_t rep = l->ops[i].repeat;
        for (j = i; j < l->n && (l->ops[j].repeat > 1) == layer; j++)
            if (l->ops[j].repeat < rep)
                rep = l->ops[j].repeat;
        for (q = i, n = 0; q < j; q++) {
            int32_t copies = layer ? (l->ops[q].repeat + rep / 2) / rep : 1;
            for (; per[q] >= 0 && copies > 0 && n < need; copies--)
                eo[n++] = (struct eager_op){ 0, per[q] };
        }
        for (q = 0; q < n; q++)
            eo[q].cpu_s = layer ? h->layer_s[k] / (double)n : 0;
        if (i == 0 && n > 0)
            eo[0].cpu_s += h->fwd_s[k];
        eager_play(eo, n, layer ? rep : 1, &clk);
    }
    fwd = clk.gpu_s;
    prep = h->prep_s + h->prep_seq_s * (double)(b->n_prefill +
           b->decode_seqs) + h->prep_tok_s * (double)batch_tokens(b);
    return prep + (fwd > g ? fwd - g : 0);
}

static int64_t cal_fixed(void *st, const struct batch *b)
{
    struct calibrated *c = st;

    if (!c->eager)
        return c->fixed_ns;
    return c->fixed_ns + (int64_t)llround(eager_excess_s(c, b) * 1e9);
}

static void cal_fini(void *st)
{
    struct calibrated *c = st;

    ops_free(&c->list);
    free(c->eager_ops);
    free(c->hist.n);
    for (int i = 0; c->memo != NULL && i < SCHED_MEMO; i++)
        free(c->memo[i].sig);
    free(c->memo);
    free(c->splits);
    free(c->sig);
    calib_free(c->tab);
}

const struct cost_ops cost_calibrated = {
    .name = "calibrated",
    .state_size = sizeof(struct calibrated),
    .init = cal_init,
    .price = cal_price,
    .fixed_ns = cal_fixed,
    .fini = cal_fini,
};
