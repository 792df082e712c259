/* analysis/metrics.h: the one definition of the per-request latency
 * figures that need more than a subtraction, as `vllm bench serve`
 * defines them (shared/DESIGN.md "Metrics", README): TPOT, time per
 * output token after the first, is (E2E - TTFT) / (output tokens - 1),
 * and a request of one output token has none.
 *
 * The run summary (analysis/summary.c), vllm.json (analysis/vllm.c) and
 * semi-PD's SLO feedback (run/pools.c) compute their TPOT here.  Pure;
 * times in int64 ns, the result in ms. */
#ifndef LLM_METRICS_H
#define LLM_METRICS_H

#include <stdbool.h>
#include <stdint.h>

/* Sets *ms and returns true when the request has a TPOT (two or more
 * output tokens); leaves *ms alone otherwise.  The two latencies are
 * converted to ms before they are subtracted, as the summary always has
 * (its figures are in ms). */
static inline bool metric_tpot_ms(int64_t ttft_ns, int64_t e2e_ns,
                                  int64_t output_tokens, double *ms)
{
    if (output_tokens < 2)
        return false;
    *ms = ((double)e2e_ns / 1e6 - (double)ttft_ns / 1e6) /
          (double)(output_tokens - 1);
    return true;
}

#endif
