/* hw/attn_sched.c: decode-attention launch models (hw/attn_sched.h).
 *
 * FlashAttention-2 (PyTorch 2.11 aten/src/ATen/native/transformers/cuda/
 * flash_attn/flash_api.cpp, mha_varlen_fwd, max_seqlen_q = 1):
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
 * vLLM's Triton unified attention (vllm-project/vllm at 001ceb3e,
 * vllm/attention/ops/triton_unified_attention.py, unified_attention):
 *   BLOCK_M = 16 (or the next power of two of the query heads per KV
 *   head), BLOCK_Q = BLOCK_M / (q heads per KV head), total_num_q_blocks
 *   = tokens / BLOCK_Q + sequences.  With a prefill in the batch, or
 *   total_num_q_blocks x KV heads > 128, kernel_unified_attention_2d runs
 *   grid (q blocks, KV heads): per decode sequence one CTA per KV head
 *   walking its whole KV (the plain kernel's shape).  Otherwise
 *   kernel_unified_attention_3d runs grid (q blocks, KV heads, 16
 *   segments): segment s of a sequence of L keys takes tiles [s, s+1) x
 *   ceil(L / (16 x 16)) of 16 keys (TILE_SIZE_DECODE), then
 *   reduce_segments combines them.
 * The CTAs are list-scheduled in launch order onto 2 slots per SM (the
 * 2 x SMs FA2's heuristic assumes; the Triton kernels' occupancy is taken
 * the same); every running CTA streams keys at min(1 / key_alone,
 * 1 / (running x key_bw)): alone it is latency-bound, together they share
 * the memory system.  The schedule is evaluated in O(groups + max context
 * / 64) (CTA lengths binned by 64 keys, no sort): the CTAs before the last
 * wave keep all slots busy (total work / slots), and the last SLOTS CTAs
 * in launch order start together and drain, the longest last. */
#include "hw/attn_sched.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define N_SMS 132       /* H100 SXM and H200, the devices with tables */
#define SLOTS (2 * N_SMS)
#define VLLM_SEGMENTS 16       /* NUM_SEGMENTS of unified_attention */
#define VLLM_TILE 16           /* TILE_SIZE_DECODE for 2-byte queries */
#define VLLM_3D_MAX 128        /* q blocks x KV heads of the 3D kernel */

/* A launch's schedule, remembered (issue 24): a decode batch's contexts
 * grow every iteration, but a launch depends on its groups only through
 * their counts and keys of each (see sig_key), which change every 64
 * tokens of a sequence (128 for FA2's split-KV kernel), so an iteration
 * mostly asks again for a launch asked before.  Direct-mapped, SCHED_MEMO entries per struct attn_sched
 * (one per cost model): each replica keeps two live launches (its ragged
 * batch and the uniform reference).  A hit returns the bits the same
 * inputs computed before. */
#define SCHED_MEMO 256

struct sched_memo {
    uint64_t hash;
    int32_t qh, kvh, n;        /* n groups; 0: empty */
    int32_t cap;
    int k;                     /* enum engine_attn */
    int kind;                  /* enum sig_kind of the keys */
    bool with_prefill;
    int32_t *sig;              /* 2n: count, key of each group */
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

/* CTAs by length: n[j] CTAs of 64 j keys plus the fixed per-CTA work
 * (every CTA length of the model is a multiple of 64 keys), bins [0, top)
 * possibly non-zero, the rest zero.  memo and splits (NULL: every launch
 * scheduled afresh, the same figures) remember results for the constants
 * in consts. */
struct attn_sched {
    double *n;
    int64_t cap, top;
    struct sched_memo *memo;
    struct splits_memo *splits;
    struct attn_sched_consts consts;
    int32_t *sig;              /* scratch signature */
    int32_t cap_sig;
};

struct attn_sched *attn_sched_create(void)
{
    struct attn_sched *s = calloc(1, sizeof(struct attn_sched));

    if (s != NULL) {
        s->memo = calloc(SCHED_MEMO, sizeof(*s->memo));
        s->splits = calloc(SPLITS_MEMO, sizeof(*s->splits));
    }
    return s;
}

void attn_sched_destroy(struct attn_sched *s)
{
    if (s == NULL)
        return;
    for (int i = 0; s->memo != NULL && i < SCHED_MEMO; i++)
        free(s->memo[i].sig);
    free(s->memo);
    free(s->splits);
    free(s->sig);
    free(s->n);
    free(s);
}

/* num_splits_heuristic of flash_api.cpp (max_splits 128) */
static int64_t fa2_splits_of(int64_t bh, int64_t n_blocks)
{
    double eff[129], best = 0;
    int64_t max_s = n_blocks < 128 ? n_blocks : 128, s;

    if ((float)bh >= 0.8f * SLOTS)
        return 1;
    for (s = 1; s <= max_s; s++) {
        double w = (double)(bh * s) / SLOTS;
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

static int64_t fa2_splits(struct attn_sched *h, int64_t bh, int64_t n_blocks)
{
    struct splits_memo *e;
    int64_t v;

    if ((float)bh >= 0.8f * SLOTS || h->splits == NULL || bh > INT32_MAX ||
        n_blocks > INT32_MAX)
        return fa2_splits_of(bh, n_blocks);
    e = &h->splits[(uint64_t)(bh * 2654435761u + n_blocks) % SPLITS_MEMO];
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
static double drain_us(const struct attn_sched_consts *s,
                       struct attn_sched *h, double ov)
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
static void add_ctas(struct attn_sched *h, double *tail, double cnt,
                     int64_t j, double ov)
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
                         int64_t split, int64_t per, struct attn_sched *h,
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

/* The last SLOTS CTAs in launch order after whole passes: `left`
 * sequences from the end, into h (their work summed into *tail), each with
 * heads x split CTAs (split-KV: a sequence's CTAs launch together) or one
 * (plain kernel: the last pass over the sequences is one head's). */
static void wave_tail(double ov, const struct decode_group *g, size_t ng,
                      double left, int64_t heads, int64_t split,
                      int64_t per, struct attn_sched *h, double *tail)
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
static double sm_pairs_us(const struct attn_sched_consts *s,
                          const struct decode_group *g, size_t ng,
                          int64_t seqs, int64_t ctas, double ov)
{
    double w[SLOTS], pair = (double)ctas * s->key_bw, t = 0;
    int64_t b = 0, id, b1 = 0, b2 = N_SMS % seqs;
    size_t i;

    pair = pair > s->key_alone ? pair : s->key_alone;
    for (i = 0; i < ng; i++) {
        double wi = bin_keys(plain_bin(g[i].ctx), ov);
        for (int32_t k = 0; k < g[i].count && b < SLOTS; k++)
            w[b++] = wi;
    }
    for (id = 0; id + N_SMS < ctas; id++) {
        double a = w[b1], z = w[b2];
        double lo = a < z ? a : z, hi = a < z ? z : a;
        double u = lo * pair + (hi - lo) * s->key_alone;
        t = u > t ? u : t;
        b1 = b1 + 1 == seqs ? 0 : b1 + 1;
        b2 = b2 + 1 == seqs ? 0 : b2 + 1;
    }
    return t;
}

/* The launch of `heads` CTAs per sequence (x split for the split-KV
 * kernel, per blocks of 128 keys each), in microseconds without the
 * launch and combine constants. */
static double launch_us(struct attn_sched *h,
                        const struct attn_sched_consts *s,
                        const struct decode_group *g, size_t ng,
                        int64_t seqs, int64_t heads, int64_t split,
                        int64_t per)
{
    double work = 0, ctas = (double)(seqs * heads * split), t;
    double ov = s->cta / s->key_alone, tail = 0, busy;
    int64_t copies;
    size_t i;

    if (ctas <= SLOTS) {
        /* every CTA runs at once (work only feeds the larger launch) */
        for (i = 0; i < ng; i++)
            group_ctas(ov, g[i].count, g[i].ctx, heads, split, per, h,
                       NULL);
        t = drain_us(s, h, ov);
        /* one group: every pair is the drain's own time */
        if (split <= 1 && ctas > N_SMS && ng > 1)
            t = fmax(t, sm_pairs_us(s, g, ng, seqs, (int64_t)ctas, ov));
        return t;
    }
    copies = split <= 1 ? SLOTS / seqs : 0;
    if (copies > 0) {
        /* the common large batch: whole passes of the plain kernel over
         * the sequences, summed in one pass with the total work (the same
         * sums in the same order), then a partial pass */
        for (i = 0; i < ng; i++) {
            int64_t j = plain_bin(g[i].ctx);
            work += g[i].count * (double)heads * bin_keys(j, ov);
            add_ctas(h, &tail, (double)g[i].count * (double)copies, j, ov);
        }
        wave_tail(ov, g, ng, (double)(SLOTS % seqs), 1, 1, per, h, &tail);
    } else {
        for (i = 0; i < ng; i++)
            work += group_ctas(ov, g[i].count, g[i].ctx, heads, split, per,
                               NULL, NULL);
        wave_tail(ov, g, ng, split <= 1 ? (double)(SLOTS % seqs) :
                  SLOTS / (double)(heads * split), heads, split, per, h,
                  &tail);
    }
    busy = SLOTS * s->key_bw;
    return (work - tail) / SLOTS * (busy > s->key_alone ? busy
                                                        : s->key_alone) +
           drain_us(s, h, ov);
}

static double fa2_us(struct attn_sched *h, const struct attn_sched_consts *s,
                     int32_t qh, int32_t kvh, const struct decode_group *g,
                     size_t ng, int64_t seqs, int64_t max_ctx)
{
    int64_t heads = qh > kvh ? kvh : qh, split = 1, per = 1;

    if (qh > kvh) {
        int64_t nb = (max_ctx + 128) / 128;
        split = fa2_splits(h, seqs * kvh, nb);
        per = (nb + split - 1) / split;
    }
    return s->launch + launch_us(h, s, g, ng, seqs, heads, split, per) +
           (split > 1 ? s->comb : 0);
}

/* Bin of a CTA of `keys` keys. */
static int64_t keys_bin(int64_t keys)
{
    return (keys + 63) / 64;
}

/* vLLM's 3D kernel: segment `seg` of every sequence of g, for `heads` KV
 * heads, into h; its work summed into *work. */
static void seg_ctas(struct attn_sched *h, const struct decode_group *g,
                     size_t ng, int64_t heads, int32_t seg, double ov,
                     double *work)
{
    for (size_t i = 0; i < ng; i++) {
        int64_t len = (int64_t)g[i].ctx + 1;
        int64_t tile = ((len + VLLM_SEGMENTS * VLLM_TILE - 1) /
                        (VLLM_SEGMENTS * VLLM_TILE)) * VLLM_TILE;
        int64_t lo = seg * tile, keys = len - lo;
        int64_t j = keys <= 0 ? 0 : keys_bin(keys < tile ? keys : tile);
        double cnt = (double)g[i].count * (double)heads;
        add_ctas(h, NULL, cnt, j, ov);
        *work += cnt * bin_keys(j, ov);
    }
}

/* The 3D grid launches segment-major (program_id(2) slowest): the last
 * wave holds the highest segments, mostly the long sequences' shares. */
static double vllm_3d_us(struct attn_sched *h,
                         const struct attn_sched_consts *s,
                         const struct decode_group *g, size_t ng,
                         int64_t seqs, int64_t heads)
{
    double ov = s->cta / s->key_alone, work = 0, tail = 0, busy;
    double per_seg = (double)(seqs * heads);
    int32_t seg, last;

    if (per_seg * VLLM_SEGMENTS <= SLOTS) {
        for (seg = 0; seg < VLLM_SEGMENTS; seg++)
            seg_ctas(h, g, ng, heads, seg, ov, &work);
        return drain_us(s, h, ov);
    }
    /* whole segments in the last wave; the earlier ones keep every slot
     * busy */
    last = VLLM_SEGMENTS - (int32_t)(SLOTS / per_seg);
    last = last < 1 ? 1 : last;
    for (seg = 0; seg < last; seg++)
        seg_ctas(h, g, ng, heads, seg, ov, &work);
    memset(h->n, 0, (size_t)h->top * sizeof(*h->n));
    h->top = 0;
    for (seg = last; seg < VLLM_SEGMENTS; seg++)
        seg_ctas(h, g, ng, heads, seg, ov, &tail);
    busy = SLOTS * s->key_bw;
    return work / SLOTS * (busy > s->key_alone ? busy : s->key_alone) +
           drain_us(s, h, ov);
}

/* Whether vLLM runs kernel_unified_attention_3d on seqs decode
 * sequences. */
static bool vllm_is_3d(int32_t qh, int32_t kvh, int64_t seqs,
                       bool with_prefill)
{
    int64_t qpk = qh >= kvh && kvh > 0 ? qh / kvh : 1, bm = 16, blocks;

    while (bm < qpk)
        bm *= 2;
    blocks = seqs / (bm / qpk) + seqs;
    return !with_prefill && blocks * kvh <= VLLM_3D_MAX;
}

static double vllm_us(struct attn_sched *h, const struct attn_sched_consts *s,
                      int32_t qh, int32_t kvh, const struct decode_group *g,
                      size_t ng, int64_t seqs, bool with_prefill)
{
    if (!vllm_is_3d(qh, kvh, seqs, with_prefill))
        return s->launch + launch_us(h, s, g, ng, seqs, kvh, 1, 1);
    return s->launch + vllm_3d_us(h, s, g, ng, seqs, kvh) + s->comb;
}

/* Bins for CTAs of up to max_ctx + 128 keys (a split's share rounds up). */
static bool grow(struct attn_sched *h, int64_t max_ctx)
{
    int64_t need = max_ctx / 64 + 4;
    double *n;

    if (need <= h->cap)
        return true;
    n = realloc(h->n, (size_t)need * sizeof(*n));
    if (n == NULL)
        return false;
    memset(n + h->cap, 0, (size_t)(need - h->cap) * sizeof(*n));
    h->n = n;
    h->cap = need;
    return true;
}

/* The launch computed afresh (h's scratch grown for max_ctx). */
static double decode_us(struct attn_sched *s,
                        const struct attn_sched_consts *c,
                        enum engine_attn k, int32_t qh, int32_t kvh,
                        const struct decode_group *g, size_t ng,
                        int64_t seqs, int64_t max_ctx, bool with_prefill)
{
    if (!grow(s, max_ctx))
        return -1;
    if (k == ENG_ATTN_FA2)
        return fa2_us(s, c, qh, kvh, g, ng, seqs, max_ctx);
    return vllm_us(s, c, qh, kvh, g, ng, seqs, with_prefill);
}

/* What a group's launch depends on besides its count: FA2's kernels and
 * vLLM's 2D kernel see a sequence only through its 64-key bin (the plain
 * kernel's CTA length; FA2's split-KV blocks of 128 keys and its longest
 * sequence follow from the bins); once FA2 splits (fa2_us with split > 1)
 * only through its 128-key blocks, (ctx + 128) / 128 (group_ctas,
 * wave_tail and the longest sequence's n_blocks read nothing else);
 * vLLM's 3D kernel cuts each sequence into 16 segments of its exact
 * length. */
enum sig_kind { SIG_BIN64, SIG_BIN128, SIG_EXACT };

static inline __attribute__((always_inline))
int32_t sig_key(int32_t ctx, enum sig_kind kind)
{
    return kind == SIG_EXACT ? ctx : kind == SIG_BIN128 ? (ctx + 128) / 128
                                                        : (int32_t)plain_bin(ctx);
}

static enum sig_kind sig_kind_of(struct attn_sched *s, enum engine_attn k,
                                 int32_t qh, int32_t kvh, int64_t seqs,
                                 int64_t max_ctx, bool with_prefill)
{
    if (k == ENG_ATTN_VLLM)
        return vllm_is_3d(qh, kvh, seqs, with_prefill) ? SIG_EXACT
                                                       : SIG_BIN64;
    /* fa2_us's split, as it computes it */
    if (qh > kvh && fa2_splits(s, seqs * kvh, (max_ctx + 128) / 128) > 1)
        return SIG_BIN128;
    return SIG_BIN64;
}

/* The keys of g into sig (count, key of each group), hashed into *x;
 * inlined with a constant kind, so each kind's loop divides by its own
 * constant. */
static inline __attribute__((always_inline))
void sig_fill(int32_t *sig, const struct decode_group *g, size_t ng,
              enum sig_kind kind, uint64_t *x)
{
    uint64_t h = *x;

    for (size_t i = 0; i < ng; i++) {
        int32_t key = sig_key(g[i].ctx, kind);
        sig[2 * i] = g[i].count;
        sig[2 * i + 1] = key;
        h = (h ^ ((uint64_t)(uint32_t)g[i].count << 32 | (uint32_t)key)) *
            0x9E3779B97F4A7C15ull;
        h ^= h >> 29;
    }
    *x = h;
}

/* The signature of a launch into s->sig (2 ng ints) and its hash; false:
 * no memory. */
static bool launch_sig(struct attn_sched *s, enum engine_attn k, int32_t qh,
                       int32_t kvh, const struct decode_group *g, size_t ng,
                       enum sig_kind kind, bool with_prefill, uint64_t *h)
{
    uint64_t x = ((uint64_t)(uint32_t)qh << 32 | (uint32_t)kvh) ^ ng ^
                 ((uint64_t)k << 40) ^ ((uint64_t)with_prefill << 48) ^
                 ((uint64_t)kind << 52);

    if ((int64_t)ng * 2 > s->cap_sig) {
        int32_t *n = realloc(s->sig, ng * 2 * sizeof(*n));
        if (n == NULL)
            return false;
        s->sig = n;
        s->cap_sig = (int32_t)(ng * 2);
    }
    if (kind == SIG_BIN64)
        sig_fill(s->sig, g, ng, SIG_BIN64, &x);
    else if (kind == SIG_BIN128)
        sig_fill(s->sig, g, ng, SIG_BIN128, &x);
    else
        sig_fill(s->sig, g, ng, SIG_EXACT, &x);
    *h = x;
    return true;
}

static bool same_consts(const struct attn_sched_consts *a,
                        const struct attn_sched_consts *b)
{
    return a->on == b->on && a->key_alone == b->key_alone &&
           a->key_bw == b->key_bw && a->cta == b->cta &&
           a->launch == b->launch && a->comb == b->comb;
}

/* Forgets every remembered launch (other constants). */
static void memo_clear(struct attn_sched *s, const struct attn_sched_consts *c)
{
    for (int i = 0; i < SCHED_MEMO; i++)
        s->memo[i].n = 0;
    s->consts = *c;
}

double attn_sched_decode_us(struct attn_sched *s,
                            const struct attn_sched_consts *c,
                            enum engine_attn k, int32_t qh, int32_t kvh,
                            const struct decode_group *g, size_t ng,
                            bool with_prefill)
{
    int64_t seqs = 0, max_ctx = 0;
    struct sched_memo *e;
    uint64_t h;
    size_t bytes = ng * 2 * sizeof(int32_t);
    enum sig_kind kind;

    if (!c->on || (k != ENG_ATTN_FA2 && k != ENG_ATTN_VLLM) || ng == 0)
        return -1;
    for (size_t i = 0; i < ng; i++) {
        seqs += g[i].count;
        max_ctx = g[i].ctx > max_ctx ? g[i].ctx : max_ctx;
    }
    kind = sig_kind_of(s, k, qh, kvh, seqs, max_ctx, with_prefill);
    if (s->memo == NULL || ng > INT32_MAX / 2 ||
        !launch_sig(s, k, qh, kvh, g, ng, kind, with_prefill, &h))
        return decode_us(s, c, k, qh, kvh, g, ng, seqs, max_ctx,
                         with_prefill);
    if (!same_consts(&s->consts, c))
        memo_clear(s, c);
    e = &s->memo[h % SCHED_MEMO];
    if (e->n == (int32_t)ng && e->hash == h && e->qh == qh && e->kvh == kvh &&
        e->k == (int)k && e->kind == (int)kind &&
        e->with_prefill == with_prefill && memcmp(e->sig, s->sig, bytes) == 0)
        return e->us;
    if ((int32_t)(ng * 2) > e->cap) {
        int32_t *n = realloc(e->sig, bytes);
        if (n == NULL)
            return decode_us(s, c, k, qh, kvh, g, ng, seqs, max_ctx,
                             with_prefill);
        e->sig = n;
        e->cap = (int32_t)(ng * 2);
    }
    e->us = decode_us(s, c, k, qh, kvh, g, ng, seqs, max_ctx, with_prefill);
    if (e->us < 0) {               /* out of memory: nothing to remember */
        e->n = 0;
        return e->us;
    }
    memcpy(e->sig, s->sig, bytes);
    e->hash = h;
    e->qh = qh;
    e->kvh = kvh;
    e->k = (int)k;
    e->kind = (int)kind;
    e->with_prefill = with_prefill;
    e->n = (int32_t)ng;
    return e->us;
}
