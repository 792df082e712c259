#include "hw/smsplit.h"

#include <math.h>

int64_t smsplit_ns(int64_t full_ns, int64_t tokens, double ridge_tokens,
                   double fraction)
{
    double t = (double)tokens, full, part;

    if (fraction >= 1 || ridge_tokens <= 0)
        return full_ns;
    full = fmax(t / ridge_tokens, 1);
    part = fmax(t / (fraction * ridge_tokens), 1);
    return (int64_t)llround((double)full_ns * part / full);
}

double smsplit_ridge_tokens(const struct device *dev, const struct shard *s)
{
    double peak = dev->peak_flops[s->w_dtype];

    if (peak <= 0)
        peak = device_peak16_flops(dev);
    return peak * s->w_bytes / (2 * dev->mem_bw_bytes_s);
}

void smsplit_start(struct sm_split *s)
{
    s->frac = s->init;
    s->n = s->ttft_ok = s->tpot_ok = s->adjustments = 0;
}

double smsplit_share(const struct sm_split *s, int half)
{
    if (s->shared)
        return 1;
    return half ? 1 - s->frac : s->frac;
}

/* One window of Algorithm 1: TTFT first, then TPOT. */
static void adjust(struct sm_split *s)
{
    double n = (double)s->n;
    bool ttft = s->ttft_ok >= s->attain * n;
    bool tpot = s->tpot_ok >= s->attain * n;
    double f = s->frac;

    if (!ttft && tpot)
        f = fmin(s->hi, f + s->step);
    else if (ttft && !tpot)
        f = fmax(s->lo, f - s->step);
    if (f != s->frac)
        s->adjustments++;
    s->frac = f;
    s->n = s->ttft_ok = s->tpot_ok = 0;
}

void smsplit_observe(struct sm_split *s, bool ttft_ok, bool tpot_ok)
{
    if (s->window == 0)
        return;
    s->n++;
    s->ttft_ok += ttft_ok;
    s->tpot_ok += tpot_ok;
    if (s->n >= s->window)
        adjust(s);
}
