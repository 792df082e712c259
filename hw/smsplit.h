/* hw/smsplit.h: one GPU's SMs split between a prefill and a decode
 * instance (semi-PD, Hong et al., arXiv 2504.19867): the time of a batch
 * on a share of the SMs, and the SLO-aware split that moves SMs between
 * the two halves as requests complete.
 *
 * Timing: memory bandwidth is shared, not split; compute is.  The
 * roofline of a dense layer over T tokens is max(T / R, 1) in units of
 * its weight-streaming time, with R the ridge (tokens at which its FLOPs
 * take as long as streaming its weights); on a share f of the SMs it is
 * max(T / (f R), 1).  A batch priced at full_ns on the whole device takes
 * full_ns x max(T / (f R), 1) / max(T / R, 1) on the share.
 *
 * The split (struct sm_split, a value owned by its pool): the prefill
 * half's share starts at `init`; with a window, every `window` completed
 * requests one step of the paper's Algorithm 1 (section 5): a TTFT
 * attainment below `attain` moves `step` of the SMs to the prefill half,
 * else a TPOT attainment below it moves `step` to the decode half, within
 * [lo, hi]; a window where both hold, or both fail, keeps the split.
 * "shared" (semi-PD's (100, 100)): no partition, both halves see the
 * whole device.  Pure; not thread-safe. */
#ifndef LLM_SMSPLIT_H
#define LLM_SMSPLIT_H

#include <stdbool.h>
#include <stdint.h>

#include "hw/device.h"
#include "models/ops.h"

/* full_ns on the whole device -> on share fraction of its SMs, for a
 * batch of tokens; fraction >= 1 or no ridge: full_ns. */
int64_t smsplit_ns(int64_t full_ns, int64_t tokens, double ridge_tokens,
                   double fraction);
/* The ridge R of the shard's dense layers on dev: peak FLOP/s (at the
 * weights' dtype, else bf16's) x weight bytes per parameter / (2 x memory
 * bandwidth). */
double smsplit_ridge_tokens(const struct device *dev, const struct shard *s);

struct sm_split {
    double init;                 /* the prefill half's share at the start */
    bool shared;                 /* no partition */
    int64_t window;              /* requests per adjustment; 0: fixed */
    double step, lo, hi, attain;
    /* runtime (smsplit_start) */
    double frac;                 /* the prefill half's share now */
    int64_t n, ttft_ok, tpot_ok; /* this window's requests */
    int64_t adjustments;         /* windows that moved the split */
};

/* Resets the runtime part: the share back to init, no window counted. */
void smsplit_start(struct sm_split *s);
/* The share of the SMs half (0: prefill, 1: decode) runs on now. */
double smsplit_share(const struct sm_split *s, int half);
/* One completed request, and whether it met the TTFT and TPOT SLOs. */
void smsplit_observe(struct sm_split *s, bool ttft_ok, bool tpot_ok);

#endif
