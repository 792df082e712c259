/* hw/energy.h: energy of iterations from device power states (issue 11).
 *
 * A device draws one of three powers (struct energy_power): idle, busy on
 * prefill, busy on decode.  They come from the catalog entry's "power_w"
 * object; an entry without one falls back to idle_w for idle and tdp_w
 * for both busy states (a GPU serving an LLM runs near its board power
 * limit; the fallback is an upper bound, and says so in the output's
 * "power_source").  A busy power of 0 means the catalog knows none: such
 * a device's energy is unknown (energy_power_of returns LLM_ENOTFOUND)
 * and callers report no joules rather than zero.
 *
 * An iteration of duration d on n devices costs n x d x P, where P blends
 * the prefill and decode powers by the batch's token mix (a chunked-
 * prefill batch of 500 prefill and 12 decode tokens draws almost prefill
 * power).  Idle gaps between iterations cost the idle power.  A meter
 * sums a run; joules per output token = joules / tokens generated.
 *
 * Pure functions over plain structs; no allocation, no state. */
#ifndef LLM_ENERGY_H
#define LLM_ENERGY_H

#include <stdint.h>

#include "hw/device.h"
#include "sim/batch.h"
#include "base/diag.h"

struct energy_power {
    double idle_w, prefill_w, decode_w;
    const char *source;        /* static: "power_w" or "tdp_w" */
};

/* LLM_ENOTFOUND (message naming the device) when the catalog gives no
 * busy power; idle may be 0 (unknown idle is priced as 0 W and the
 * meter counts the idle time it could not price). */
int energy_power_of(const struct device *dev, struct energy_power *out,
                    struct llm_diag *d);

/* Watts drawn by one device at a token mix (idle_w when both are 0). */
double energy_mix_w(const struct energy_power *p, int64_t prefill_tokens,
                    int64_t decode_seqs);
/* The same for batch b. */
double energy_batch_w(const struct energy_power *p, const struct batch *b);

/* Joules of one iteration of dur_ns on `devices` devices. */
double energy_iteration_j(const struct energy_power *p,
                          const struct batch *b, int64_t dur_ns,
                          int32_t devices);

/* A run's running total; zero-initialise (struct energy_meter m = {0}). */
struct energy_meter {
    double joules;
    int64_t busy_ns, idle_ns;
    int64_t idle_unpriced_ns;  /* idle time of a device with idle_w 0 */
    int64_t tokens_out;        /* tokens generated (decodes + last chunks) */
};

/* Adds one iteration: its energy, busy time and generated tokens (one per
 * decoding sequence and one per prefill chunk that ends its prompt, the
 * token sampled at the end of prefill). */
void energy_meter_iteration(struct energy_meter *m,
                            const struct energy_power *p,
                            const struct batch *b, int64_t dur_ns,
                            int32_t devices);
/* Adds one iteration known by its token mix, as a replica's iteration
 * record (sim/replica.h, struct iter_record) has it; tokens_out may be 0
 * when the caller counts output tokens elsewhere. */
void energy_meter_add(struct energy_meter *m, const struct energy_power *p,
                      int64_t prefill_tokens, int64_t decode_seqs,
                      int64_t tokens_out, int64_t dur_ns, int32_t devices);
/* Adds idle time (a replica waiting for requests). */
void energy_meter_idle(struct energy_meter *m, const struct energy_power *p,
                       int64_t idle_ns, int32_t devices);
/* Joules per generated token; 0 when nothing was generated. */
double energy_j_per_token(const struct energy_meter *m);

#endif
