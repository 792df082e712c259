/* sim/spec.h: speculative decoding on a replica.
 *
 * A drafter proposes tokens for every decoding sequence; the target model
 * verifies them in one forward pass in which each sequence is a chunk of
 * its newest token plus its drafts over its cached context, every position
 * sampled (sim/batch.h batch_add_verify).  That is how vLLM's V1 engine
 * runs it: the scheduler gives a running request num_tokens_with_spec -
 * num_computed_tokens new tokens (1 + drafts), allocates their KV slots,
 * the attention backend runs them as a chunked prefill, the rejection
 * sampler accepts a prefix of the drafts plus one token of the target's
 * own, and update_from_output rolls back num_computed_tokens by the
 * rejected drafts (vllm/v1/core/sched/scheduler.py; vllm/v1/spec_decode/).
 *
 * Methods (spec_config.method):
 *   draft   a separate draft model on the same GPUs: per step one pass
 *           over the batch's new tokens (the drafter keeps its own KV of
 *           prompts and accepted tokens) and k - 1 single-token passes,
 *           as vLLM's SpecDecodeBaseProposer (eagle.py, draft_model.py)
 *           loops; drafter and target run one after the other.
 *   eagle   the same loop with EAGLE's draft head (one decoder layer of
 *           the target's shape plus its LM head) as the drafter.
 *   rsd     Recursive Speculative Decoding (Jeon et al., arXiv 2402.14160):
 *           a draft tree with branching factors b_1..b_L per level, the
 *           siblings of a node drawn without replacement; the verify chunk
 *           holds every tree node (1 + sum_l prod_{j<=l} b_j tokens, a tree
 *           attention mask), the drafter's pass l processes the previous
 *           level's nodes.
 *   mirror  Mirror Speculative Decoding (Bhendawade et al., arXiv
 *           2510.13161): the drafter runs on another device (an NPU or a
 *           second GPU) from the target's early-exit layer on, in parallel
 *           with the rest of the target's forward, emitting `stream`
 *           tokens per pass (speculative streaming) for `branches`
 *           candidate continuations; tokens cross a link both ways.
 *
 * Acceptance.  The accepted drafts of one verify are drawn from the
 * distribution P(A >= i), i = 1..depth, with the replica's GSL Mersenne
 * Twister (seeded from the run seed and the replica index): one uniform
 * per verifying sequence per step.  The configuration gives a chain's
 * per-position rates: one alpha (Leviathan et al., ICML 2023: each draft
 * accepted with probability alpha once the ones before it were, so
 * P(A >= i) = alpha^i and E[tokens per step] = (1 - alpha^(k+1)) /
 * (1 - alpha)), a list of per-position rates as vLLM's spec-decode metrics
 * report them (P(A >= i): the share of drafts whose position i was
 * accepted; non-increasing), or a histogram of accepted drafts per step
 * (measured on a dataset).  A tree level of b siblings, each accepted with
 * the chain's conditional rate c_l = P(A >= l) / P(A >= l - 1) and
 * distinct because drawn without replacement, is accepted with
 * 1 - (1 - c_l)^b (independent siblings: an approximation of recursive
 * rejection sampling, whose exact rate depends on the two models'
 * distributions).
 *
 * Pricing (spec_price_step).  draft, eagle, rsd: target + drafter, in
 * series.  mirror: max(target, early_exit x target + 2 x link + drafter),
 * plus, for the sequences whose precomputed branch does not match the
 * target's correction (each with probability 1 - reuse, drawn from the
 * same generator), a drafter pass for them and a link crossing after the
 * verify.  The drafter's passes are priced by draft_cost (the drafter's
 * model on its device).
 *
 * Ownership: a struct spec is one replica's (spec_create/spec_destroy);
 * it borrows its config.  Not thread-safe. */
#ifndef LLM_SPEC_H
#define LLM_SPEC_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "sim/batch.h"
#include "base/diag.h"

#define SPEC_MAX_DEPTH 16

enum spec_method { SPEC_DRAFT, SPEC_EAGLE, SPEC_RSD, SPEC_MIRROR };

/* Prices one batch of the drafter on its device (a replica_cost_fn). */
typedef int spec_cost_fn(void *ctx, const struct batch *b, int64_t *ns);

struct spec_config {
    enum spec_method method;
    int32_t depth;                 /* chain length k, or tree levels */
    int32_t width[SPEC_MAX_DEPTH]; /* siblings per level (chain: 1) */
    int32_t nodes;                 /* drafts verified per sequence */
    /* P(A >= i), i = 0..depth, of the configured method (p_ge[0] = 1). */
    double p_ge[SPEC_MAX_DEPTH + 1];
    /* mirror */
    double early_exit;             /* share of the target before its exit */
    int32_t branches;              /* candidate continuations drafted */
    int32_t stream;                /* drafts per drafter pass */
    double reuse;                  /* P(a precomputed branch matches) */
    double link_bw_bytes_s;        /* drafter <-> target link */
    int64_t link_latency_ns;
    double token_bytes;            /* bytes per token crossing it */
    uint64_t seed;                 /* the run's */
    spec_cost_fn *draft_cost;      /* set by the caller before a run */
    void *draft_ctx;
};

/* Where the drafter comes from, as the config names it (borrowed from
 * the parsed JSON); for the caller to resolve. */
struct spec_names {
    const char *draft_model;       /* catalog id; NULL for eagle */
    const char *draft_device;      /* device id; NULL: the target's */
    const char *link;              /* link id; NULL: the device's host link */
    const cJSON *draft_cost_model; /* cost_model object for the drafter */
    int64_t draft_tp;              /* 0: the target's tp (mirror: 1) */
};

/* Parses the "speculative" object o (keys in docs/config.md), errors
 * naming path.KEY.  Leaves draft_cost, link and seed to the caller. */
int spec_parse(const cJSON *o, const char *path, struct spec_config *c,
               struct spec_names *names, struct llm_diag *d);

/* Expected accepted drafts per verify: sum_i P(A >= i). */
double spec_expected_accepted(const struct spec_config *c);

struct spec_stats {
    int64_t steps;                 /* iterations with a verify */
    int64_t verifies;              /* sequence-steps verified */
    int64_t drafted;               /* drafts verified */
    int64_t accepted;              /* of them, accepted */
    int64_t draft_ns;              /* drafter time priced, all passes */
    int64_t exposed_ns;            /* of it, on the step's critical path */
    int64_t misses;                /* mirror: branches recomputed */
};

struct spec;

/* NULL: no memory.  replica picks the generator's stream. */
struct spec *spec_create(const struct spec_config *c, int32_t replica);
void spec_destroy(struct spec *s);        /* NULL ok */
const struct spec_config *spec_config_of(const struct spec *s);
const struct spec_stats *spec_stats_of(const struct spec *s);

/* Accepted drafts of one verify of `drafted` drafts (fewer than nodes
 * when a token budget cut the verify): a draw capped at drafted. */
int32_t spec_accept(struct spec *s, int32_t drafted);

/* The step's time from the target's price of b (target_ns): the drafter
 * added or overlapped as the method runs it.  LLM_ENOMEM or draft_cost's
 * error. */
int spec_price_step(struct spec *s, const struct batch *b, int64_t target_ns,
                    int64_t *ns);

#endif
