/* sim/record.h: what the simulator reports of a run as it goes, the
 * records the run layer stores and the analysis reads (analysis/store.h):
 * one per iteration of a replica, with its inter-token gaps and the
 * occupancy of the KV manager's lower tiers.  Plain data; no behaviour. */
#ifndef LLM_RECORD_H
#define LLM_RECORD_H

#include <stdint.h>

/* One lower tier of a tiered manager (issue 9): occupancy now and
 * traffic so far, in KV blocks and bytes.  bytes_in: written into the
 * tier (write-back, demotion); bytes_out: read out of it (prefetch,
 * demotion to the tier below). */
#define KV_MAX_TIERS 2
struct kv_tier_stats {
    const char *name;                  /* "host", "ssd"; static */
    int64_t capacity_blocks, used_blocks;
    int64_t hits, hit_blocks;          /* prefetches and their blocks */
    double bytes_in, bytes_out;
};

/* count tokens came gap_ns after their sequence's previous token. */
struct itl_pair {
    int64_t gap_ns;
    int64_t count;
};

/* Per-iteration facts handed to the caller by replica_end; the itl array
 * belongs to the replica and is valid until its next iteration.  A record
 * covers `iters` iterations (more than one only for a fast-forwarded span
 * of steady decodes, docs/architecture.md), alike but for their times,
 * KV and queue: iteration j (from 0) lasts iter0_ns + iter_delta_ns x j /
 * iter_den and ends at iter_record_end(rec, j) (end_ns: the last's end);
 * its KV blocks go linearly from kv_blocks_used0 to kv_blocks_used, and
 * its n_waiting is 0 if it ended before wait_from_ns (when the first
 * request still waiting arrived; nothing waited when a span began). */
struct iter_record {
    int32_t replica;
    int64_t start_ns, end_ns;
    int32_t iters;
    int64_t iter0_ns, iter_delta_ns;
    int32_t iter_den;
    int64_t kv_blocks_used0, wait_from_ns;
    int64_t prefill_tokens;
    int32_t prefill_seqs, decode_seqs;
    int64_t kv_blocks_used;
    int64_t n_waiting, n_running;
    int32_t preemptions;       /* during this iteration's planning */
    const struct itl_pair *itl;  /* inter-token gaps of this iteration */
    int32_t n_itl;
    int64_t n_swapped;
    int64_t swap_out_blocks, swap_in_blocks;  /* during this one */
    int64_t stall_ns;          /* of the iteration, waiting for swaps */
    int32_t backlog;           /* 1: requests the engine had seen were left
                                  waiting when it was planned (async
                                  scheduling: arrivals before the cutoff) */
    int64_t pad_tokens;        /* CUDA-graph padding it ran */
    /* Lower KV tiers after the iteration (issue 9; 0: none) */
    struct kv_tier_stats tiers[KV_MAX_TIERS];
    int32_t n_tiers;
};

/* The end of iteration j in [0, iters) of a span starting at start_ns
 * whose iteration i lasts d0 + delta x i / den (den >= 1): the cumulative
 * sum in integers, so that every caller gets the same nanosecond. */
static inline int64_t span_iter_end(int64_t start_ns, int64_t d0,
                                    int64_t delta, int32_t den, int32_t j)
{
    return start_ns + (int64_t)(j + 1) * d0 +
           delta * (int64_t)j * (j + 1) / (2 * (int64_t)den);
}

static inline int64_t iter_record_end(const struct iter_record *rec,
                                      int32_t j)
{
    return span_iter_end(rec->start_ns, rec->iter0_ns, rec->iter_delta_ns,
                         rec->iter_den, j);
}

/* Makes one (a copy of rec) iteration j in [0, iters) of rec, by the rules
 * above: its times, KV blocks and waiting count; iters 1.  A record of
 * one iteration is left as it is. */
static inline void iter_record_nth(const struct iter_record *rec, int32_t j,
                                   struct iter_record *one)
{
    if (rec->iters <= 1)
        return;
    one->iters = 1;
    one->start_ns = j > 0 ? iter_record_end(rec, j - 1) : rec->start_ns;
    one->end_ns = iter_record_end(rec, j);
    one->kv_blocks_used = rec->kv_blocks_used0 +
        (rec->kv_blocks_used - rec->kv_blocks_used0) * j / (rec->iters - 1);
    one->n_waiting = one->end_ns >= rec->wait_from_ns ? rec->n_waiting : 0;
}

#endif
