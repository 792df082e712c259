/* analysis/summary.h: the summary figures of a run, from its database.
 *
 * Reads only the results tables (requests, iterations, itl, runs), so a
 * summary can be rebuilt from any results.sqlite; a run hands over the
 * requests rows it kept as it wrote them (struct summary_reqs) instead of
 * reading a million rows back, with the same figures.  Definitions follow
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

#include "analysis/store.h"
#include "sim/diag.h"

/* A completed request meets the SLOs when TTFT <= ttft_ms +
 * ttft_ms_per_prompt_token x its prompt tokens, TPOT <= tpot_ms and, when
 * tbt_ema_ms > 0, every value of its gap EMA (sim/request.h) stays below
 * tbt_ema_ms (DeepSpeed-FastGen's SLA: ttft_ms 0, 1000 / 512 ms a prompt
 * token, tbt_ema_ms 1000 / 4). */
struct summary_slo {
    double ttft_ms, tpot_ms;
    double ttft_ms_per_prompt_token;   /* 0: none */
    double tbt_ema_ms;                 /* 0: not constrained */
};

/* One completed request (a requests row with status "ok"). */
struct summary_req {
    int64_t ttft_ns;           /* first_token_ns - arrival_ns */
    int64_t e2e_ns;            /* finish_ns - arrival_ns */
    int32_t output_tokens, prompt_tokens, preemptions, replica;
    int64_t gap_ema_max_ns;    /* gap_ema_max_ns of the row */
};

/* A rejected request: its replica, and how many completed ones came
 * before it (its place among the rows). */
struct summary_rejected {
    size_t after_ok;
    int32_t replica;
};

/* The requests table as the summaries read it: gathered while a run
 * writes its rows (summary_reqs_add), so that the run need not read
 * them back, or read from a database (summary_reqs_read).  Both give
 * the same figures.  Owns its arrays; summary_reqs_free. */
struct summary_reqs {
    struct summary_req *ok;    /* in the order added */
    size_t n_ok, cap_ok;
    struct summary_rejected *rejected;
    size_t n_rejected, cap_rejected;
    int64_t t0;                /* first arrival of any row (INT64_MAX) */
    int64_t t1;                /* last finish of a completed (INT64_MIN) */
};

void summary_reqs_init(struct summary_reqs *a);
void summary_reqs_free(struct summary_reqs *a);
/* Appends one row; LLM_ENOMEM (and no change) when out of memory. */
int summary_reqs_add(struct summary_reqs *a, const struct store_row *r);
/* Appends every row of db's requests table, in id order. */
int summary_reqs_read(sqlite3 *db, struct summary_reqs *a,
                      struct llm_diag *d);

/* Builds the summary object (caller deletes) from db. */
int summary_build(sqlite3 *db, const struct summary_slo *slo,
                  int64_t kv_capacity_blocks, cJSON **out,
                  struct llm_diag *d);
/* The same from reqs for the requests table and db for the others. */
int summary_build_reqs(sqlite3 *db, const struct summary_reqs *reqs,
                       const struct summary_slo *slo,
                       int64_t kv_capacity_blocks, cJSON **out,
                       struct llm_diag *d);
/* Sorts v ascending: the order gsl_sort leaves (equal doubles are the
 * same bits; no NaN), in time linear in n. */
void summary_sort(double *v, size_t n);
/* Inserts every number of the summary as a metrics row. */
int summary_to_metrics(sqlite3 *db, const cJSON *summary,
                       struct llm_diag *d);

#endif
