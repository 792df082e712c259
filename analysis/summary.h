/* analysis/summary.h: the summary figures of a run, from its database.
 *
 * Reads only the results tables (requests, iterations, itl, runs), so a
 * summary can be rebuilt from any results.sqlite; a run hands over the
 * requests rows it kept as it wrote them (struct summary_reqs) and the
 * sums over its iterations (struct summary_iters) instead of reading
 * them back, with the same figures.  Definitions follow
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

#include <stdbool.h>
#include <stdint.h>

#include <sqlite3.h>

#include <cjson/cJSON.h>
#include <gsl/gsl_rstat.h>

#include "analysis/qsketch.h"
#include "analysis/store.h"
#include "base/diag.h"

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

/* Whether the completed request of row r meets every SLO of slo (TPOT 0
 * for a single token).  Reads the row alone, so that goodput is counted
 * as requests complete and nothing is kept for it (issue 24). */
bool summary_meets(const struct summary_slo *slo, const struct store_row *r);

/* Time-weighted sums over iterations: the busy time, and the time
 * integrals of KV blocks used, requests waiting and requests running. */
struct summary_iter {
    int64_t n;                 /* iterations */
    double busy_ns, kv_ns, queue_ns, run_ns;
    double kv_max, queue_max;  /* blocks, requests */
};

/* The iterations as the summaries read them: over the whole run and per
 * replica, each summed in the order the iterations ended, which is the
 * order of the iterations table, so that a run that stores no iteration
 * rows has the same figures as one that does (issue 17).  Gathered while
 * a run ends its iterations (summary_iters_add) or read from a database
 * (summary_iters_read).  Owns rep; summary_iters_free. */
struct summary_iters {
    struct summary_iter all;
    struct summary_iter *rep;  /* rep[i]: replica i, for i < n_rep */
    int32_t n_rep, cap_rep;
};

void summary_iters_init(struct summary_iters *t);
void summary_iters_free(struct summary_iters *t);
/* Adds one iteration of replica `replica` (< 0 counts in `all` only);
 * LLM_ENOMEM (and no change) when out of memory. */
int summary_iters_add(struct summary_iters *t, int32_t replica,
                      int64_t start_ns, int64_t end_ns, int64_t kv_blocks,
                      int64_t waiting, int64_t running);
/* Adds every row of db's iterations table, in table order. */
int summary_iters_read(sqlite3 *db, struct summary_iters *t,
                       struct llm_diag *d);

/* One completed request (a requests row with status "ok"), as kept for
 * exact percentiles. */
struct summary_req {
    int64_t ttft_ns;           /* first_token_ns - arrival_ns */
    int64_t e2e_ns;            /* finish_ns - arrival_ns */
    int32_t output_tokens, replica;
};

/* Percentiles are exact (every completed request kept, 24 bytes each)
 * up to SUMMARY_EXACT_MAX completed requests; past it the kept ones are
 * poured into quantile sketches (analysis/qsketch.h) of relative error
 * SUMMARY_SKETCH_ALPHA and freed, so memory stays flat however long the
 * run (issue 24).  Sketched figures are within SUMMARY_SKETCH_ALPHA x
 * the exact percentile + 1 ns; their mean and max are GSL's running
 * statistics (gsl_rstat); the summary then says
 * "percentile_sketch_alpha".  Runs below the threshold are unchanged. */
#define SUMMARY_EXACT_MAX ((size_t)1 << 20)
#define SUMMARY_SKETCH_ALPHA 0.001
#define SUMMARY_SKETCH_MIN_MS 1e-6

/* The per-request figures, in ms (norm: ms per output token). */
enum summary_fig { SUMMARY_TTFT, SUMMARY_TPOT, SUMMARY_E2E, SUMMARY_NORM,
                   SUMMARY_FIGS };

/* One replica's requests. */
struct summary_rep {
    int64_t ok, rejected, preemptions, in_tokens, out_tokens;
    int64_t first_row;         /* add order of its first row */
    struct qsketch fig[3];     /* TTFT, TPOT, E2E; once sketched */
};

/* The requests table as the summaries read it: gathered while a run
 * writes its rows (summary_reqs_add), so that the run need not read
 * them back, or read from a database (summary_reqs_read).  Both give
 * the same figures.  Owns its arrays and sketches; summary_reqs_free. */
struct summary_reqs {
    struct summary_slo slo;    /* for the goodput count (0 0: none) */
    bool has_slo;
    size_t exact_max;          /* SUMMARY_EXACT_MAX; tests lower it */
    struct summary_req *ok;    /* in the order added; NULL once sketched */
    size_t n_ok, cap_ok;       /* n_ok counts every completed request */
    size_t n_rejected;
    int64_t in_tokens, out_tokens, preemptions, good;
    bool sketched;
    struct qsketch fig[SUMMARY_FIGS];
    gsl_rstat_workspace *rstat[SUMMARY_FIGS];
    struct summary_rep *rep;   /* rep[i]: replica i, i < n_rep */
    int32_t n_rep, cap_rep;
    int64_t rows;              /* rows added */
    int64_t bad_row;           /* first row of a replica < 0 or past
                                  SUMMARY_MAX_REPLICA (-1: none) */
    int32_t bad_replica;
    int64_t t0;                /* first arrival of any row (INT64_MAX) */
    int64_t t1;                /* last finish of a completed (INT64_MIN) */
};
#define SUMMARY_MAX_REPLICA 65535

/* slo: the SLOs whose goodput the summary reports (NULL: none). */
void summary_reqs_init(struct summary_reqs *a, const struct summary_slo *slo);
void summary_reqs_free(struct summary_reqs *a);
/* Adds one row; LLM_ENOMEM when out of memory. */
int summary_reqs_add(struct summary_reqs *a, const struct store_row *r);
/* Appends every row of db's requests table, in id order. */
int summary_reqs_read(sqlite3 *db, struct summary_reqs *a,
                      struct llm_diag *d);

/* Builds the summary object (caller deletes) from db. */
int summary_build(sqlite3 *db, const struct summary_slo *slo,
                  int64_t kv_capacity_blocks, cJSON **out,
                  struct llm_diag *d);
/* The same from reqs for the requests table (and its SLOs), iters
 * (NULL: db's table) for the iterations and db for the others. */
int summary_build_reqs(sqlite3 *db, const struct summary_reqs *reqs,
                       const struct summary_iters *iters,
                       int64_t kv_capacity_blocks, cJSON **out,
                       struct llm_diag *d);
/* Sorts v ascending: the order gsl_sort leaves (equal doubles are the
 * same bits; no NaN), in time linear in n. */
void summary_sort(double *v, size_t n);
/* The number at summary[a] (or summary[a][b] when b is not NULL); NaN
 * when it is absent or not a number. */
double summary_num(const cJSON *summary, const char *a, const char *b);
/* Inserts every number of the summary as a metrics row. */
int summary_to_metrics(sqlite3 *db, const cJSON *summary,
                       struct llm_diag *d);

#endif
