/* analysis/vllm.h: a run's summary under the JSON keys of `vllm bench
 * serve`'s result file (issue 18), so that dashboards and scripts that
 * read vLLM's results read llmsim's too (`llmsim run --format vllm`
 * writes it as vllm.json).
 *
 * Keys and definitions are those of vllm-project/vllm,
 * vllm/benchmarks/serve.py (commit 009e6d4a1cd6: BenchmarkMetrics,
 * calculate_metrics, the result dict of benchmark() and its
 * process_one_metric), as `vllm bench serve --percentile-metrics
 * ttft,tpot,itl,e2el --metric-percentiles 50,90,95,99` writes them:
 * duration, completed, failed, total_input_tokens, total_output_tokens,
 * request_throughput, request_goodput, output_throughput,
 * total_token_throughput, max_concurrent_requests, and for each of ttft,
 * tpot, itl, e2el: mean_X_ms, median_X_ms, std_X_ms (population standard
 * deviation, numpy's default), p50_X_ms, p90_X_ms, p95_X_ms, p99_X_ms
 * (linear interpolation, numpy's default, as llmsim's summary).  The
 * means and percentiles are the summary's own figures; "failed" is
 * llmsim's rejected requests (vLLM's server refuses them with an error).
 * request_goodput is null unless the config sets an SLO, as vLLM writes
 * null without --goodput; it counts requests meeting every SLO that is
 * set (ttft, tpot, e2el; a one-token request has TPOT 0, as in vLLM).
 * A figure with no sample is 0, as numpy gives vLLM for an empty list.
 * Not written: max_output_tokens_per_s (llmsim keeps no per-token times)
 * and the per-request lists of --save-detailed.  Reads only the results
 * tables (analysis/ never sees the simulator). */
#ifndef LLM_VLLM_H
#define LLM_VLLM_H

#include <stdbool.h>
#include <stdint.h>

#include <sqlite3.h>

#include <cjson/cJSON.h>

#include "analysis/summary.h"
#include "base/diag.h"

/* SLOs in ms as vLLM's --goodput takes them (ttft, tpot, e2el); < 0:
 * not set. */
struct vllm_slo {
    double ttft_ms, tpot_ms, e2e_ms;
};

/* Whether completed request q meets every SLO slo sets.  A run counts
 * its requests as they complete (the kept ones are poured into sketches
 * past SUMMARY_EXACT_MAX, analysis/summary.h). */
bool vllm_meets(const struct summary_req *q, const struct vllm_slo *slo);

/* The result object (caller deletes): figures from summary (the run's
 * summary object), standard deviations from a (its kept requests, or its
 * running statistics once sketched) and db's itl table, the concurrency
 * peak from db's requests table; good: the completed requests that meet
 * slo (vllm_meets).  model_id and label name the run. */
int vllm_result(sqlite3 *db, const struct summary_reqs *a, int64_t good,
                const cJSON *summary, const struct vllm_slo *slo,
                const char *model_id, const char *label, cJSON **out,
                struct llm_diag *d);

#endif
