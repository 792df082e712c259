/* hw/cost.h: the cost model interface: batch -> nanoseconds.
 *
 * A cost model is a plug-in (const struct cost_ops, registered by name in
 * hw/cost.c).  It is created for one (model, device, sharding) and then
 * prices batches; pricing is pure (same batch, same answer) and does not
 * allocate after the first few calls.  The breakdown sums to total_ns.
 * Errors name the config key path ("cost_model.KEY") or the table file. */
#ifndef LLM_COST_H
#define LLM_COST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "hw/device.h"
#include "models/model.h"
#include "models/ops.h"
#include "sim/batch.h"
#include "sim/diag.h"

struct cost_breakdown {
    int64_t total_ns;
    int64_t class_ns[OPC_COUNT];   /* gemm, attention, communication, other */
    int64_t fixed_ns;              /* launch/graph replay, CPU, sampling */
    int32_t extrapolated;          /* operators priced outside the tables */
};

struct attn_offload;
struct weight_offload;

struct cost_env {
    const struct model *model;
    const struct device *dev;
    struct shard shard;
    const char *root;              /* llmsim data root (tables) */
    /* NULL: none.  Else decode attention runs on another device
     * (hw/offload.h) and the model prices the rest. */
    const struct attn_offload *offload;
    /* NULL: none.  Else non-resident weights cross a link each
     * iteration (hw/woffload.h), added to class_ns[OPC_COMM]. */
    const struct weight_offload *woffload;
};

struct cost_ops {
    const char *name;
    size_t state_size;
    int (*init)(void *st, const struct cost_env *env, const cJSON *params,
                const char *path, struct llm_diag *d);
    /* Prices an operator list built from the batch (all of it, or only
     * its dense or attention part): adds to out's class_ns and
     * extrapolated, never to total_ns or fixed_ns. */
    int (*price)(void *st, const struct batch *b, const struct op_list *ops,
                 struct cost_breakdown *out);
    /* Fixed time of an iteration of this batch (launch, CPU, sampling). */
    int64_t (*fixed_ns)(void *st, const struct batch *b);
    void (*fini)(void *st);
};

struct cost_model;

/* Creates the model named by params' "name" (default: "calibrated" when
 * the device has calibration tables, else "roofline").  Borrows env's
 * pointees for its lifetime.  Every model also takes "time_scale" (a
 * number in [0.01, 100], default 1) that multiplies each iteration's total:
 * how far the run's latencies move when iteration times are off by a few
 * percent (issue 20's sensitivity). */
int cost_create(const struct cost_env *env, const cJSON *params,
                const char *path, struct cost_model **out,
                struct llm_diag *d);
void cost_destroy(struct cost_model *c);
const char *cost_name(const struct cost_model *c);
/* Whether params (a cost_model object, may be NULL) turn on
 * shared_prefix_attention, so the replicas must fill batch.shared. */
bool cost_shared_prefix(const cJSON *params);

/* Prices batch b (an empty batch costs only the fixed overhead).  The
 * dense part's price is cached by (token rows, sampled rows).  total_ns
 * includes time_scale; the class breakdown does not. */
int cost_price(struct cost_model *c, const struct batch *b,
               struct cost_breakdown *out);

/* Roofline time of one operator on dev: max(flops / peak of the op's
 * math type, bytes / memory bandwidth) for compute operators; collectives
 * by hw/comm.h over the peer link, or the shard's network link when the
 * group spans nodes. */
double cost_roofline_s(const struct device *dev, const struct shard *s,
                       const struct op *o);

extern const struct cost_ops cost_roofline;
extern const struct cost_ops cost_calibrated;

#endif
