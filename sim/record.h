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
 * belongs to the replica and is valid until its next iteration. */
struct iter_record {
    int32_t replica;
    int64_t start_ns, end_ns;
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

#endif
