/* hw/energy.c: joules from power states and iteration times. */
#include "hw/energy.h"

int energy_power_of(const struct device *dev, struct energy_power *out,
                    struct llm_diag *d)
{
    const struct device_power *p = &dev->power;

    if (p->prefill_w > 0 && p->decode_w > 0) {
        *out = (struct energy_power){ .idle_w = p->idle_w,
            .prefill_w = p->prefill_w, .decode_w = p->decode_w,
            .source = "power_w" };
        return LLM_OK;
    }
    if (dev->tdp_w > 0) {
        *out = (struct energy_power){ .idle_w = dev->idle_w,
            .prefill_w = dev->tdp_w, .decode_w = dev->tdp_w,
            .source = "tdp_w" };
        return LLM_OK;
    }
    *out = (struct energy_power){ .source = "none" };
    return diag_set(d, LLM_ENOTFOUND, "device \"%s\": no busy power in its "
                    "catalog entry (power_w or tdp_w); energy unknown",
                    dev->id);
}

double energy_mix_w(const struct energy_power *p, int64_t prefill_tokens,
                    int64_t decode_seqs)
{
    double pf = (double)prefill_tokens, dc = (double)decode_seqs;

    if (pf + dc <= 0)
        return p->idle_w;
    /* Token-weighted: a prefill token and a decode token pass the same
     * weights; the mix sets how compute- or memory-bound the pass is. */
    return (pf * p->prefill_w + dc * p->decode_w) / (pf + dc);
}

double energy_batch_w(const struct energy_power *p, const struct batch *b)
{
    return energy_mix_w(p, b->prefill_tokens, b->decode_seqs);
}

static double joules(double watts, int64_t dur_ns, int32_t devices)
{
    return watts * (double)dur_ns * 1e-9 * (devices > 0 ? devices : 1);
}

double energy_iteration_j(const struct energy_power *p,
                          const struct batch *b, int64_t dur_ns,
                          int32_t devices)
{
    return joules(energy_batch_w(p, b), dur_ns, devices);
}

static int64_t tokens_out(const struct batch *b)
{
    int64_t n = b->decode_seqs;
    size_t i;

    for (i = 0; i < b->n_prefill; i++)
        n += b->prefill[i].last ? 1 : 0;
    return n;
}

void energy_meter_add(struct energy_meter *m, const struct energy_power *p,
                      int64_t prefill_tokens, int64_t decode_seqs,
                      int64_t tokens_out, int64_t dur_ns, int32_t devices)
{
    m->joules += joules(energy_mix_w(p, prefill_tokens, decode_seqs), dur_ns,
                        devices);
    m->busy_ns += dur_ns;
    m->tokens_out += tokens_out;
}

void energy_meter_iteration(struct energy_meter *m,
                            const struct energy_power *p,
                            const struct batch *b, int64_t dur_ns,
                            int32_t devices)
{
    energy_meter_add(m, p, b->prefill_tokens, b->decode_seqs, tokens_out(b),
                     dur_ns, devices);
}

void energy_meter_idle(struct energy_meter *m, const struct energy_power *p,
                       int64_t idle_ns, int32_t devices)
{
    m->idle_ns += idle_ns;
    if (p->idle_w <= 0)
        m->idle_unpriced_ns += idle_ns;
    m->joules += joules(p->idle_w, idle_ns, devices);
}

double energy_j_per_token(const struct energy_meter *m)
{
    return m->tokens_out > 0 ? m->joules / (double)m->tokens_out : 0;
}
