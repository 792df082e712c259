/* run/ctx_sweep.h: `llmsim memory --context-sweep`, the long-context peak
 * analysis of Fu, "Challenges in Deploying Long-Context Transformers: A
 * Theoretical Peak Performance Analysis" (arXiv 2405.08944), for any
 * catalog model on any device.
 *
 * For each context length n it prices, on one GPU of the replica (the
 * shard's tp), one user's prompt of n tokens as a single prefill chunk
 * and one decode step of one user at context n, twice: with the roofline
 * cost model (datasheet peaks: the paper's method) and with the device's
 * default cost model (calibrated tables where the device has them); and it
 * counts the users whose KV fits, twice: the paper's way, (device memory
 * - weights) / (n x KV bytes per token), and vLLM's, the memory plan's KV
 * tokens / n (models/memplan.h: utilization, activations, non-torch
 * memory subtracted).  Pure but for the cost models it creates and frees.
 * Errors name the flag. */
#ifndef LLM_CTX_SWEEP_H
#define LLM_CTX_SWEEP_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "hw/device.h"
#include "models/memplan.h"
#include "models/model.h"
#include "models/ops.h"
#include "base/diag.h"

#define CTX_SWEEP_MAX 64

struct ctx_row {
    int64_t context;               /* tokens of one user */
    double prefill_roof_s;         /* one prompt of context tokens */
    double prefill_cost_s;         /* the same, device's default model */
    double decode_roof_ms;         /* one decode step, one user */
    double decode_cost_ms;
    double kv_bytes;               /* one user's KV on one GPU */
    int64_t users_hbm;             /* (memory - weights) / kv_bytes */
    int64_t users_plan;            /* plan's KV tokens / context */
    int32_t extrapolated;          /* default model's ops off its tables */
};

/* Parses "4096,50000" into ctx[] (at most CTX_SWEEP_MAX positive
 * integers); LLM_EINVAL naming --context-sweep otherwise. */
int ctx_sweep_parse(const char *list, int64_t *ctx, int32_t *n,
                    struct llm_diag *d);

/* One row: plan is the memory plan of the same shard (its kv_tokens may
 * be <= 0 when nothing fits: users_plan is then 0).  *cost_id gets the
 * default model's name (static).  LLM_ENOMEM or a cost model's error. */
int ctx_sweep_row(const struct model *m, const struct device *dev,
                  const struct shard *s, const struct mem_plan *plan,
                  int64_t context, struct ctx_row *out,
                  const char **cost_id, struct llm_diag *d);

/* Prints every row as a table (or, json, one object per line). */
int ctx_sweep_print(const struct model *m, const struct device *dev,
                    const struct shard *s, const struct mem_plan *plan,
                    const int64_t *ctx, int32_t n, bool json, FILE *out,
                    struct llm_diag *d);

#endif
