/* sim/batch.h: the work of one iteration, as the cost model sees it.
 *
 * A batch is a list of prefill chunks (new tokens, prior context already in
 * the cache) and a list of decoding sequences (context length each; each
 * attends over ctx cached tokens plus its new token).  Decodes are stored
 * run-length encoded as (count, ctx) pairs so that `llmsim step` input and
 * simulator batches share one type.  A decoding sequence that verifies
 * speculated tokens (sim/spec.h) is a prefill chunk of its newest token
 * and the drafts over its context, every position sampled, as vLLM's V1
 * engine runs it; batch_add_verify counts those apart.  The batch owns
 * its arrays. */
#ifndef LLM_BATCH_H
#define LLM_BATCH_H

#include <stddef.h>
#include <stdint.h>

/* Bounds of one batch, generous but physical (docs/config.md, "Limits"):
 * a sequence holds at most BATCH_MAX_SEQ_TOKENS tokens (2^24, 16.8 M; the
 * longest published context windows are 10 M), and a batch runs at most
 * BATCH_MAX_SEQS sequences (2^20, scheduler.max_num_seqs's bound).  Input
 * is checked against them where it is read (`llmsim step`); within them
 * every count and sum below fits its type. */
#define BATCH_MAX_SEQ_TOKENS (1 << 24)
#define BATCH_MAX_SEQS (1 << 20)

struct prefill_chunk {
    int32_t tokens;        /* new tokens computed this iteration, >= 1 */
    int32_t prior;         /* tokens of this sequence already cached */
    int32_t last;          /* rows sampled (logits needed): 1 if this chunk
                            * ends the prompt, tokens for a speculative
                            * verify chunk, else 0 */
};

struct decode_group {
    int32_t count;         /* sequences in this group, >= 1 */
    int32_t ctx;           /* cached tokens each attends over (plus its new) */
};

/* Decoding sequences of the batch that share a cached prompt prefix (the
 * same KV blocks in a prefix-caching manager, sim/kv.h shared_prefix).
 * A shared-prefix attention kernel (Hydragen, BatchLLM; cost_model
 * shared_prefix_attention) reads those tokens' KV once for all of them.
 * Their decode groups still count the full context; ctx_sum lets a cost
 * model recover the suffixes' spread without linking sequences to groups. */
struct shared_prefix {
    int32_t count;         /* decoding sequences sharing it, >= 2 */
    int32_t tokens;        /* leading cached tokens they share, >= 1 */
    int64_t ctx_sum;       /* their decode contexts summed */
};

/* How the engine launches the batch (vLLM V1's CUDA-graph dispatch,
 * vllm/v1/cudagraph_dispatcher.py): a cost model that prices execution
 * modes reads it; BATCH_GRAPH_UNSET leaves the choice to the cost model. */
enum batch_graph {
    BATCH_GRAPH_UNSET = 0,
    BATCH_GRAPH_FULL,          /* one graph replay: decode-only batches */
    BATCH_GRAPH_PIECEWISE,     /* graphs between layers' attention calls,
                                  attention run eagerly between them */
    BATCH_GRAPH_NONE           /* eager: over the largest capture size */
};

struct batch {
    struct prefill_chunk *prefill;
    size_t n_prefill, cap_prefill;
    struct decode_group *decode;
    size_t n_decode, cap_decode;
    struct shared_prefix *shared;    /* empty unless the KV manager shares */
    size_t n_shared, cap_shared;
    /* aggregates kept by batch_add_* so pricing is O(groups) */
    int64_t prefill_tokens;
    int64_t decode_seqs;
    int64_t decode_ctx_sum;
    int64_t shared_keys;   /* sum of (count - 1) x tokens over shared */
    /* Token rows the engine runs beyond the batch's tokens, as a CUDA
     * graph captured at a larger size runs them (issue 20): they pass
     * through every GEMM and element-wise kernel but not attention or the
     * LM head.  Set by the scheduler; 0 for engines that do not pad. */
    int64_t pad_tokens;
    enum batch_graph graph;
    int64_t verify_seqs;   /* of the prefill chunks, speculative verifies */
    int64_t verify_tokens; /* and their tokens */
};

void batch_init(struct batch *b);
void batch_free(struct batch *b);
void batch_clear(struct batch *b);           /* keeps the arrays */
int  batch_add_prefill(struct batch *b, int32_t tokens, int32_t prior,
                       int32_t last);        /* LLM_OK or LLM_ENOMEM */
int  batch_add_decode(struct batch *b, int32_t count, int32_t ctx);
/* A speculative verify of a decoding sequence with ctx cached tokens:
 * its newest token and tokens - 1 drafts, one chunk, every row sampled
 * (batch_add_prefill(b, tokens, ctx, tokens), counted in verify_*). */
int  batch_add_verify(struct batch *b, int32_t tokens, int32_t ctx);
/* batch_add_decode(b, 1, ctx[i]) for i in [0, n), in one call. */
int  batch_add_decodes(struct batch *b, const int32_t *ctx, size_t n);
/* Records that count decoding sequences (already added with their full
 * contexts, summing to ctx_sum) share a tokens-long prefix; count < 2 or
 * tokens < 1 records nothing.  LLM_OK or LLM_ENOMEM. */
int  batch_add_shared(struct batch *b, int32_t count, int32_t tokens,
                      int64_t ctx_sum);
int64_t batch_tokens(const struct batch *b); /* prefill tokens + decodes */
/* batch_tokens plus pad_tokens: the rows of the dense kernels. */
int64_t batch_rows(const struct batch *b);
int64_t batch_logit_rows(const struct batch *b); /* sequences sampled */

#endif
