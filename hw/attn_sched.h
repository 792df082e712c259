/* hw/attn_sched.h: how a decode-attention launch spreads its work over the
 * GPU, per attention backend.
 *
 * A decode batch's attention is priced from a table measured on UNIFORM
 * batches (every sequence at one context).  A ragged batch costs what its
 * kernel's thread blocks (CTAs) make of it: a backend that gives each
 * sequence one CTA per head leaves the longest sequence's CTAs streaming
 * alone at the end; one that splits every sequence's keys to fill the GPU
 * does not.  attn_sched_decode_us rebuilds a backend's launch from its
 * source and list-schedules the CTAs onto the SMs; the cost model prices a
 * ragged batch as the uniform table at the mean context times (schedule of
 * the ragged launch) / (schedule of the uniform launch at that mean), so
 * uniform batches keep their measured times and the schedule carries only
 * the imbalance (docs/cost-model.md, "Ragged decode attention").
 *
 * Launch models:
 *   ENG_ATTN_FA2     PyTorch's bundled FlashAttention-2 varlen
 *                    (flash_api.cpp mha_varlen_fwd): MHA one CTA per
 *                    (sequence, head); GQA grid over KV heads with
 *                    num_splits_heuristic from the LONGEST sequence.
 *   ENG_ATTN_VLLM    vLLM's Triton unified attention
 *                    (vllm/attention/ops/triton_unified_attention.py,
 *                    unified_attention): a 2D grid of (query block, KV
 *                    head), each CTA walking its sequence's whole KV,
 *                    unless the batch is decode-only and small (query
 *                    blocks x KV heads <= 128), then a 3D grid splitting
 *                    each sequence into 16 segments plus a reduction.
 *   ENG_ATTN_SGLANG, ENG_ATTN_SPLIT_KV: balanced (per-sequence splits
 *                    sized to fill the GPU): a ragged batch costs its mean
 *                    context; attn_sched_decode_us returns a negative value.
 *   ENG_ATTN_SDPA    one call per group of equal contexts: priced by the
 *                    cost model as a sum of uniform calls; negative here.
 *
 * Every running CTA streams keys at min(1 / key_alone, 1 / (running x
 * key_bw)) per microsecond; each CTA has fixed work cta, each call launch,
 * and a split call a combine.  The constants are fitted on the FA2 uniform
 * table (hw/calib/fit_decode_sched.py) and describe the memory system, so
 * the other launch models use them too: only the split rule differs.
 * State: a scratch histogram and a bounded memo of launches and FA2 split
 * counts already computed (a hit returns the same bits; issue 24), per
 * struct attn_sched, i.e. per cost model; not thread-safe. */
#ifndef LLM_ATTN_SCHED_H
#define LLM_ATTN_SCHED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hw/engine.h"
#include "sim/batch.h"

struct attn_sched_consts {
    bool on;
    double key_alone, key_bw;  /* us per key: one CTA alone; all share */
    double cta, launch, comb;  /* us per CTA, per call, split combine */
};

struct attn_sched;

struct attn_sched *attn_sched_create(void);   /* NULL: no memory */
void attn_sched_destroy(struct attn_sched *s);

/* Microseconds of one decode launch of backend k over the groups g (with
 * a prefill in the same launch for vLLM when with_prefill), or a negative
 * value when k's launch is balanced (no imbalance to model), when the
 * constants are off, or when memory for the scratch ran out. */
double attn_sched_decode_us(struct attn_sched *s,
                            const struct attn_sched_consts *c,
                            enum engine_attn k, int32_t qh, int32_t kvh,
                            const struct decode_group *g, size_t ng,
                            bool with_prefill);

#endif
