/* analysis/summary.h: the summary figures of a run, from its database.
 *
 * Reads only the results tables (requests, iterations, itl, runs), so a
 * summary can be rebuilt from any results.sqlite.  Definitions follow
 * `vllm bench serve` (README "Metrics"): TTFT = first token - arrival;
 * TPOT = (E2E - TTFT) / (output tokens - 1) per request with more than one
 * output token; ITL = every gap between consecutive tokens; E2E = finish -
 * arrival; normalized latency = E2E / output tokens; percentiles by linear
 * interpolation between order statistics (GSL, as numpy's default);
 * duration = last finish - first arrival; goodput = requests meeting both
 * SLOs per second.  The JSON uses stable names: "ttft_ms": {"mean",
 * "p50", "p90", "p95", "p99", "max"}, "throughput_tok_s", ... and each is
 * also a metrics row named "ttft_ms.p50". */
#ifndef LLM_SUMMARY_H
#define LLM_SUMMARY_H

#include <stdint.h>

#include <sqlite3.h>

#include <cjson/cJSON.h>

#include "sim/diag.h"

struct summary_slo {
    double ttft_ms, tpot_ms;
};

/* Builds the summary object (caller deletes) from db. */
int summary_build(sqlite3 *db, const struct summary_slo *slo,
                  int64_t kv_capacity_blocks, cJSON **out,
                  struct llm_diag *d);
/* Inserts every number of the summary as a metrics row. */
int summary_to_metrics(sqlite3 *db, const cJSON *summary,
                       struct llm_diag *d);

#endif
