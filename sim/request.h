/* sim/request.h: what a workload produces and what a replica serves.
 *
 * struct req_spec is one row of a trace or one draw of a generator: plain
 * data, produced by traces/ and copied into a struct request by the run.
 * struct request is the simulator's record of one request in flight; it is
 * owned by the run from arrival to completion and freed (or recycled) once
 * its row is written.  Times are int64 nanoseconds of simulated time. */
#ifndef LLM_REQUEST_H
#define LLM_REQUEST_H

#include <stdint.h>

/* One reusable text segment of a prompt (a RAG chunk, issue 21): the
 * next `tokens` prompt tokens hold the text `id` (0: text no other
 * request repeats, e.g. the question).  The same id means the same
 * text, whatever its position in the prompt. */
struct req_seg {
    uint64_t id;
    int32_t tokens;            /* >= 1 */
};

struct req_spec {
    int64_t arrival_ns;        /* relative to the start of the workload */
    int32_t prompt_tokens;     /* >= 1 */
    int32_t output_tokens;     /* >= 1: the first token comes from prefill */
    int32_t tenant;            /* request class / tenant index, 0 if none */
    int32_t priority;          /* larger is more urgent, 0 if none */
    int64_t session;           /* conversation id for multi-turn, -1 none */
    /* Prefix-block hashes (Mooncake hash_ids): block i covers prompt tokens
     * [i*hash_block_tokens, (i+1)*hash_block_tokens).  Borrowed from the
     * source and valid only until its next call; NULL when absent. */
    const uint64_t *block_hashes;
    int32_t n_block_hashes;
    int32_t hash_block_tokens;
    /* The prompt's segments in order, covering its first tokens (issue
     * 21; CacheBlend's chunk reuse).  Borrowed like block_hashes; NULL
     * when the workload has none. */
    const struct req_seg *segs;
    int32_t n_segs;
};

enum req_state {
    REQ_WAITING = 0,           /* queued, nothing computed (or preempted) */
    REQ_PREFILL,               /* part of the prompt computed (chunked) */
    REQ_DECODE,                /* prompt done, producing tokens */
    REQ_DONE,
    REQ_SWAPPED                /* KV in host memory, progress kept */
};

struct request {
    int64_t id;                /* arrival order, from 0 */
    int64_t arrival_ns;
    int32_t prompt_tokens;
    int32_t output_tokens;
    int32_t tenant;
    int32_t priority;

    enum req_state state;
    int32_t generated;         /* output tokens produced so far */
    int32_t computed;          /* tokens whose KV is in the cache */
    int32_t kv_blocks;         /* blocks held in the replica's KV pool */
    int32_t preemptions;
    int32_t replica;
    int32_t rejected;          /* 1: never servable (too long for limits) */
    int32_t follow_up;         /* 1: a closed-loop user's next request */
    int64_t first_sched_ns;    /* -1 until first scheduled */
    int64_t first_token_ns;    /* -1 until the prefill completes */
    int64_t last_token_ns;
    int64_t finish_ns;         /* -1 until done */

    int32_t host_blocks;       /* blocks held in host memory (swapped) */
    int32_t swap_state;        /* enum req_state before the swap-out */
    int32_t swaps;             /* swap-outs so far */
    int64_t session;           /* conversation id, -1 none */
    /* Not before this time may the request run: an overlapped swap-in
     * lands then (0: no constraint). */
    int64_t ready_ns;
    int64_t deadline_ns;       /* -1 until a policy sets one */
    /* Scratch ordering key of the replica's scheduler (a virtual time,
     * a slack); meaningless to anyone else. */
    int64_t sched_key;
    /* The prompt's prefix-block hashes (req_spec), borrowed from the
     * source: valid only while the router runs, NULL afterwards. */
    const uint64_t *block_hashes;
    int32_t n_block_hashes;
    int32_t hash_block_tokens;

    /* Disaggregation (sim/cluster.h): the replica that ran the prefill
     * (-1: none yet), the KV blocks still held there while the KV moves
     * to the decode replica, and the transfer's start and landing
     * (-1: no transfer). */
    int32_t prefill_replica;
    int32_t kv_src_blocks;
    int32_t kv_src_slot;       /* the source manager's kv_slot */
    int64_t kv_xfer_start_ns, kv_xfer_end_ns;

    /* Prefix caching (issue 9).  The prompt's block hashes copied at
     * arrival, owned by the request (sim.c frees them at completion);
     * NULL when the workload has none. */
    uint64_t *prefix_hashes;
    int32_t n_prefix_hashes;
    int32_t prefix_block_tokens;
    /* Set by a caching KV manager's grow(): the request's KV already
     * holds tokens [computed, kv_hit_to) from the cache, so its next
     * prefill chunk skips them (replica_plan). */
    int32_t kv_hit_to;
    int32_t prefix_hit_tokens;   /* prefill tokens saved so far */
    int32_t kv_slot;             /* manager's record + 1; 0: none */
    /* The prompt's segments (req_spec.segs) copied at arrival into the
     * request's own allocation, as the prefix hashes; NULL: none. */
    struct req_seg *segs;
    int32_t n_segs;

    /* The exponential moving average of the request's inter-token gaps
     * (span REQ_GAP_EMA_SPAN, pandas' ewm(adjust=True): sum of w^i x_{t-i}
     * over sum of w^i): numerator and denominator so far, and the largest
     * value it took (0 before the second token).  DeepSpeed-FastGen's
     * generation SLA holds when every value stays below 1 / rate. */
    double gap_ema_num, gap_ema_den;
    int64_t gap_ema_max_ns;

    /* intrusive links: the scheduler's queues own the ordering */
    struct request *prev, *next;
    int32_t plan_idx;          /* index in the replica's plan, -1 if none */
};

/* DeepSpeed-MII's benchmark (DeepSpeedExamples benchmarks/inference/mii,
 * plot_effective_throughput.py: EMA_SPAN = 16): the span of the gap EMA. */
#define REQ_GAP_EMA_SPAN 16
/* The weight of the EMA's past: 1 - alpha, alpha = 2 / (span + 1). */
#define REQ_GAP_EMA_W (1.0 - 2.0 / (REQ_GAP_EMA_SPAN + 1))

/* Adds one inter-token gap to r's EMA. */
static inline void req_note_gap_ema(struct request *r, int64_t gap_ns)
{
    const double w = REQ_GAP_EMA_W;

    r->gap_ema_num = (double)gap_ns + w * r->gap_ema_num;
    r->gap_ema_den = 1.0 + w * r->gap_ema_den;
    /* num / den > max, without a division on every token (den > 0) */
    if (r->gap_ema_num > (double)r->gap_ema_max_ns * r->gap_ema_den)
        r->gap_ema_max_ns = (int64_t)(r->gap_ema_num / r->gap_ema_den + 0.5);
}

/* Tokens that must be in the KV cache before the next step of r can run:
 * the prompt plus every generated token except the newest, whose KV is
 * written by the step that consumes it.  A recompute-preempted request
 * re-prefills all of these. */
static inline int32_t req_context_tokens(const struct request *r)
{
    return r->prompt_tokens + (r->generated > 0 ? r->generated - 1 : 0);
}

#endif
