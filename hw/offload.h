/* hw/offload.h: attention offloading (issue 9; InstInfer, Lamina).
 *
 * With "hardware.attention_offload" set, decode attention and the whole KV
 * cache live on a second device (a computational SSD, a memory-rich
 * accelerator or a CPU/DRAM box); the GPU keeps every linear layer, norm,
 * the LM head and prefill attention.  Per decode iteration and per layer:
 *
 *   link   latency + (queries + attention outputs at the shard's
 *          activation size + each new token's K and V at the KV element
 *          size) / bandwidth: the queries go down, the outputs come back,
 *          the new K/V are appended on the device.  One link time per
 *          layer (the transfers of a layer are one message each way).
 *   device max(attention FLOPs / (peak x compute_eff), KV bytes read /
 *          (memory bandwidth x mem_eff)); for a "csd" device mem_eff
 *          defaults to its accel.storage_eff (internal flash bandwidth).
 *
 * A prefill chunk's attention runs on the GPU (priced by the run's cost
 * model) and its new K/V cross the link once per layer.  Everything is
 * sequential per layer: the GPU waits for the layer's attention outputs
 * (InstInfer's abstract describes no overlap; Lamina's rotational
 * staggered pipelining, which hides the transfers behind a second
 * micro-batch, is not modelled, so Lamina figures here are a lower bound).
 *
 * The KV capacity becomes the offload device's: memory_bytes x
 * memory_utilization / KV block bytes (one device per GPU of the shard).
 *
 * devices (default 1): a GPU's attention spread over that many devices of
 * the kind, each with its own link (Lamina's "collection of cheap,
 * memory-optimized devices"): capacity, memory bandwidth, FLOP/s and link
 * bandwidth all scale by it, the link latency does not.
 * kv_read_fraction (default 1): the share of the KV a decode step reads
 * and computes on, for sparse attention that skips most of it (InstInfer's
 * flash-aware SparF attention reads about 1/8; docs/kv.md).
 * Pure data; not thread-safe; errors name "hardware.attention_offload.KEY". */
#ifndef LLM_OFFLOAD_H
#define LLM_OFFLOAD_H

#include <stdbool.h>

#include <cjson/cJSON.h>

#include "hw/cost.h"
#include "hw/device.h"
#include "models/ops.h"
#include "base/diag.h"

struct attn_offload {
    bool on;                   /* false: no offloading (the zero value) */
    struct device dev;         /* holds the KV, runs decode attention */
    struct link link;          /* GPU <-> dev, per direction */
    double mem_eff;            /* achieved / peak bandwidth of dev */
    double compute_eff;        /* achieved / peak FLOP/s of dev */
    double mem_util;           /* fraction of dev's memory for KV */
    double kv_read_fraction;   /* share of the KV a decode step reads */
    int64_t devices;           /* devices of the kind per GPU */
};

/* Reads obj ("hardware.attention_offload"; NULL: off, o zeroed) with the
 * catalogs under root.  LLM_EINVAL naming the key. */
int attn_offload_parse(const cJSON *obj, const char *path, const char *root,
                       struct attn_offload *o, struct llm_diag *d);

/* KV blocks of block_bytes (per GPU) the offload device holds. */
int64_t attn_offload_kv_blocks(const struct attn_offload *o,
                               double block_bytes);

/* Seconds of one layer of one operator: the device's decode attention
 * and the link time (*link_s) an attention operator adds. */
double attn_offload_decode_s(const struct attn_offload *o,
                             const struct shard *s, const struct op *op);
double attn_offload_link_s(const struct attn_offload *o,
                           const struct shard *s, const struct op *op);

/* Splits an attention operator list: decode attention is priced here
 * (device time in class_ns[OPC_ATTN], link time in class_ns[OPC_COMM]),
 * and the operators the GPU keeps are copied to gpu (cleared first) for
 * the run's cost model.  LLM_ENOMEM only. */
int attn_offload_price(const struct attn_offload *o, const struct shard *s,
                       const struct op_list *attn, struct op_list *gpu,
                       struct cost_breakdown *out);

#endif
