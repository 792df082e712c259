/* analysis/replica_stats.h: per-replica figures of a run, from its
 * database.
 *
 * Reads only the results tables (requests, or the rows a run kept as
 * struct summary_reqs; iterations, or the sums a run kept as struct
 * summary_iters, so a run that writes no iteration rows keeps them), like
 * analysis/summary.c, and uses the same definitions (TTFT,
 * TPOT, E2E as `vllm bench serve`; percentiles by linear interpolation
 * between order statistics).  Per replica: requests completed and
 * refused, preemptions, prompt and output tokens, throughput over the
 * whole run's duration (first arrival to last finish), TTFT / TPOT / E2E
 * p50 and p99, and from the iterations: the count, the busy fraction of
 * the run's duration, the time-weighted KV use and waiting queue.  A
 * replica that served nothing still has its row (zeros; null
 * percentiles).  replica_stats_add writes them as the table `replicas`
 * (one row each; README, "Output") and as the summary's "replicas"
 * array. */
#ifndef LLM_REPLICA_STATS_H
#define LLM_REPLICA_STATS_H

#include <stdint.h>

#include <sqlite3.h>

#include <cjson/cJSON.h>

#include "analysis/summary.h"
#include "base/diag.h"

/* An array of n_replicas objects, replica order (caller deletes). */
int replica_stats_build(sqlite3 *db, int32_t n_replicas,
                        int64_t kv_capacity_blocks, cJSON **out,
                        struct llm_diag *d);
/* The same from reqs for the requests table (analysis/summary.h) and
 * iters for the iterations (NULL: db's iterations table). */
int replica_stats_build_reqs(sqlite3 *db, const struct summary_reqs *reqs,
                             const struct summary_iters *iters,
                             int32_t n_replicas, int64_t kv_capacity_blocks,
                             cJSON **out, struct llm_diag *d);
/* Creates the table replicas and inserts one row per array element. */
int replica_stats_write(sqlite3 *db, const cJSON *arr, struct llm_diag *d);
/* Both, and adds the array to summary as "replicas". */
int replica_stats_add(sqlite3 *db, int32_t n_replicas,
                      int64_t kv_capacity_blocks, cJSON *summary,
                      struct llm_diag *d);
/* replica_stats_add from reqs and iters (NULL: db's table). */
int replica_stats_add_reqs(sqlite3 *db, const struct summary_reqs *reqs,
                           const struct summary_iters *iters,
                           int32_t n_replicas, int64_t kv_capacity_blocks,
                           cJSON *summary, struct llm_diag *d);

#endif
