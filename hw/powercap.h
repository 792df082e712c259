/* hw/powercap.h: power oversubscription of a row of servers with
 * POLCA's frequency capping (issue 21; Patel et al., "POLCA: Power
 * Oversubscription in LLM Cloud Providers", arXiv 2308.12908).
 *
 * A row is the run's replicas (each a server of `gpus` GPUs) under one
 * power budget.  A GPU draws idle power between iterations and, during
 * one, the blend of its prefill and decode powers by the batch's token
 * mix (hw/energy.h), lowered by its frequency cap: with the SM clock at a
 * fraction s of its maximum, P = idle + (P_mix - idle) x s^k (k:
 * `power_exponent`).  A capped iteration's time: each operator of the
 * batch (models/ops.h) keeps its memory time and stretches its compute
 * time by 1/s, so the roofline time max(flops / peak, bytes / bw) becomes
 * max(flops / (peak s), bytes / bw); the cost model's price (fixed CPU
 * time excepted) is scaled by the batch's ratio of the two sums, and
 * collectives are not scaled.  Compute-bound prefill slows by about 1/s,
 * memory-bound decode barely (Splitwise's capped H100: prompt 1.30x
 * slower, token time unchanged, PAPERS.md 4).
 *
 * The controller (POLCA's two thresholds, §6): every `interval_s` it
 * reads the row's mean power over the interval just ended.  At or above
 * t1 x budget it caps the low-priority servers (the first
 * low_priority_fraction of the replicas) to f_low; at or above t2 x
 * budget every server to f_all (low-priority ones to the lower of the
 * two); above the budget itself the power brake takes every server to
 * f_brake.  A level is left when the power the row would draw uncapped
 * (its iterations at full clock) falls below the level's threshold by
 * `hysteresis` x budget: judged on the measured power, a cap that works
 * would be lifted at once and the row would oscillate.  The controller runs when any server prices an
 * iteration (the run's cost callback): its clock is the simulation's.
 *
 * Pure state over plain arrays; owned by the run; not thread-safe. */
#ifndef LLM_POWERCAP_H
#define LLM_POWERCAP_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "hw/device.h"
#include "hw/energy.h"
#include "models/model.h"
#include "models/ops.h"
#include "sim/batch.h"
#include "base/diag.h"

enum powercap_level { PC_NONE, PC_LOW, PC_ALL, PC_BRAKE, PC_LEVELS };

struct powercap_cfg {
    double budget_w;           /* row budget, watts of GPU power */
    double t1, t2;             /* thresholds, fractions of the budget */
    double hysteresis;
    double f_low, f_all, f_brake;  /* clock fractions of each level */
    double low_fraction;       /* servers that are low priority */
    double interval_s;
    double exponent;           /* dynamic power ~ s^exponent */
    struct energy_power power; /* per GPU */
};

struct powercap;

/* Reads the "power" object (errors name "power.KEY"): budget_w, or
 * budget_servers (the budget = that many servers at the device's
 * tdp_w), thresholds, clocks, power states (power_w, default the
 * device's, hw/energy.h).  Prices capped batches of model on dev with
 * shard.  LLM_EINVAL / LLM_ENOMEM. */
int powercap_create(const cJSON *params, const struct model *m,
                    const struct device *dev, const struct shard *shard,
                    int32_t servers, int32_t gpus, struct powercap **out,
                    struct llm_diag *d);
void powercap_destroy(struct powercap *p);          /* NULL ok */
const struct powercap_cfg *powercap_config(const struct powercap *p);

/* Whether an interval has passed since the controller last ran. */
bool powercap_due(const struct powercap *p, int64_t now_ns);
/* Runs the controller at now_ns if an interval has passed; busy[i] and
 * start_ns[i] say whether server i is in an iteration and since when,
 * mix[i] its batch (prefill tokens, decode sequences).  Call with
 * non-decreasing times. */
void powercap_tick(struct powercap *p, int64_t now_ns, const bool *busy,
                   const int64_t *start_ns, const struct batch *const *mix);
/* Server i's clock fraction now (1: uncapped). */
double powercap_clock(const struct powercap *p, int32_t i);
/* The time of batch b at clock fraction s: base_ns is the cost model's
 * price at full clock, of which fixed_ns is CPU time (not scaled).
 * LLM_ENOMEM only. */
int powercap_scale(struct powercap *p, const struct batch *b, double s,
                   int64_t base_ns, int64_t fixed_ns, int64_t *out_ns);
/* powercap_scale at server i's clock now, which its next iteration (the
 * last batch priced for it) runs at. */
int powercap_price(struct powercap *p, int32_t i, const struct batch *b,
                   int64_t base_ns, int64_t fixed_ns, int64_t *out_ns);
/* The clock server i's current (last priced) iteration runs at. */
double powercap_running_clock(const struct powercap *p, int32_t i);
/* Watts one GPU draws running a batch of this mix at clock s. */
double powercap_gpu_w(const struct powercap *p, int64_t prefill_tokens,
                       int64_t decode_seqs, double s);
/* Server i ran an iteration [start, end) of this mix at clock s. */
void powercap_iteration(struct powercap *p, int32_t i, int64_t start_ns,
                        int64_t end_ns, int64_t prefill_tokens,
                        int64_t decode_seqs, double s);

/* What the run reports ("power" in the summary): the budget, servers,
 * row power peak and mean (over the controller's intervals), energy,
 * time at each level, level changes, brake engagements. */
void powercap_report(const struct powercap *p, int64_t end_ns,
                     cJSON *summary);

#endif
