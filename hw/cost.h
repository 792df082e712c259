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
#include "hw/engine.h"
#include "models/model.h"
#include "models/ops.h"
#include "sim/batch.h"
#include "base/diag.h"

struct cost_breakdown {
    int64_t total_ns;
    int64_t class_ns[OPC_COUNT];   /* gemm, attention, communication, other */
    int64_t fixed_ns;              /* launch/graph replay, CPU, sampling */
    int32_t extrapolated;          /* operators priced outside the tables */
    int64_t extrap_ns;             /* of total_ns, their time (issue 17) */
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
    /* The serving engine's profile (hw/engine.h); NULL: the reference
     * engine (the tables as measured). */
    const struct engine *engine;
};

/* What a calibrated iteration is made of, for fitting an engine's
 * parameters (llmsim calibrate): one part per operator (all prefill
 * chunks: one part), its unscaled table time and its roofline floor; the
 * price is sum(repeat x cost_part_s) + the fixed times. */
enum cost_part_kind { CP_GEMM, CP_PREFILL, CP_DECODE, CP_ELEM, CP_COMM,
                      CP_COUNT };

struct cost_part {
    enum cost_part_kind kind;
    double t_s, floor_s;       /* table time (scale 1), roofline */
    int32_t repeat, kernels;   /* times per iteration; launches each */
    int32_t op;                /* index in the op list; -1: prefill call */
};

struct cost_parts {
    struct cost_part *p;       /* owned; cost_parts_free */
    size_t n, cap;
    int32_t layers;            /* layers of the stage(s) priced */
    double graph_s;            /* graph replay per iteration */
    int32_t extrapolated;
};

/* A part's time under parameters e: scale x table time, never below the
 * roofline floor. */
double cost_part_s(const struct engine_params *e, const struct cost_part *p);
/* Host time an iteration adds beyond the GPU's gpu_s: iter_us, or with
 * async (scheduling overlapped with the GPU) only what exceeds gpu_s. */
double cost_host_s(const struct engine_params *e, bool async, double gpu_s);

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
    /* Fixed time of an iteration of this batch (launch, CPU, sampling);
     * gpu_ns: what price() summed for it. */
    int64_t (*fixed_ns)(void *st, const struct batch *b, int64_t gpu_ns);
    /* Optional (calibrated): prices with engine e from now on. */
    int (*set_engine)(void *st, const struct engine *e);
    /* Optional (calibrated): appends the parts of ops to out. */
    int (*parts)(void *st, const struct batch *b, const struct op_list *ops,
                 struct cost_parts *out);
    void (*fini)(void *st);
    /* Optional: the id of the device whose tables price this one. */
    const char *(*tables)(void *st);
    /* Optional: which table dimensions the prices so far ran out of. */
    void (*describe_extrap)(void *st, char *buf, size_t len);
};

struct cost_model;

/* Creates the model named by params' "name" (default: "calibrated" when
 * the device has calibration tables or is a GPU that can borrow a
 * donor's, else "roofline").  Borrows env's pointees for its lifetime.
 * Every model also takes "time_scale" (a number in [0.01, 100], default
 * 1) that multiplies each iteration's total: how far the run's latencies
 * move when iteration times are off by a few percent (issue 20's
 * sensitivity). */
int cost_create(const struct cost_env *env, const cJSON *params,
                const char *path, struct cost_model **out,
                struct llm_diag *d);
void cost_destroy(struct cost_model *c);
const char *cost_name(const struct cost_model *c);
/* The device whose measured tables price this model ("" for a model
 * without tables: roofline, accel, fixed).  Differs from the env's device
 * when its tables are borrowed (hw/calib.h calib_borrow). */
const char *cost_tables(const struct cost_model *c);
/* One line naming the table dimensions that ran out in every price so
 * far ("" when none): "gemm: n=28672 k=8192 beyond ...; collectives at 8
 * ranks: ...". */
void cost_extrap_describe(const struct cost_model *c, char *buf,
                          size_t len);
/* The stderr warning of a run or a step session, or nothing when
 * extrap_ns is 0: "llmsim: warning: 12.4% of GPU time priced outside the
 * measured tables (...)", with share = extrap_ns / total_ns. */
void cost_warn_extrap(const struct cost_model *c, int64_t extrap_ns,
                      int64_t total_ns);
/* Whether params (a cost_model object, may be NULL) turn on
 * shared_prefix_attention, so the replicas must fill batch.shared. */
bool cost_shared_prefix(const cJSON *params);

/* The longest an iteration may take: 2^60 ns, 36.5 years.  Beyond it a
 * price is no time a GPU spends but absurd input (issue 23: a prefill of
 * 2^31 tokens printed a negative time), and cost_price says LLM_ERANGE. */
#define COST_MAX_NS (INT64_C(1) << 60)
/* Seconds to ns for a price part: llround(s x 1e9) within +-COST_MAX_NS,
 * else (and for NaN) +-(COST_MAX_NS + 1), a value cost_price refuses; a
 * few such values still sum inside int64, so no addition overflows. */
int64_t cost_ns_of(double s);

/* Prices batch b (an empty batch costs only the fixed overhead).  The
 * dense part's price is cached by (token rows, sampled rows).  total_ns
 * includes time_scale; the class breakdown does not.  LLM_ERANGE when a
 * part or the total passes COST_MAX_NS. */
int cost_price(struct cost_model *c, const struct batch *b,
               struct cost_breakdown *out);

/* The parts of batch b (cleared first), for models that have them:
 * LLM_EINVAL when the model has none.  Bypasses the dense-part cache. */
int cost_parts(struct cost_model *c, const struct batch *b,
               struct cost_parts *out);
void cost_parts_free(struct cost_parts *p);
/* Replaces the engine (LLM_EINVAL for models without one); cached prices
 * are dropped.  e is copied. */
int cost_set_engine(struct cost_model *c, const struct engine *e);
/* The engine profile the model prices (NULL for models without one). */
const struct engine *cost_engine(const struct cost_model *c);

/* Roofline time of one operator on dev: max(flops / peak of the op's
 * math type, bytes / memory bandwidth) for compute operators; collectives
 * by hw/comm.h over the peer link, or the shard's network link when the
 * group spans nodes. */
double cost_roofline_s(const struct device *dev, const struct shard *s,
                       const struct op *o);

extern const struct cost_ops cost_roofline;
extern const struct cost_ops cost_calibrated;

#endif
