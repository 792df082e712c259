/* traces/stats.h: summary figures of a request stream (`llmsim trace
 * stats`).
 *
 * The definitions are those of the script that produced the carried
 * traces' figures (traces/README.md, "Shipped traces"), so the figures
 * compare with them: span = last - first arrival;
 * mean rate = (rows - 1) / span; inter-arrival CV = population standard
 * deviation / mean of the gaps between consecutive arrivals; percentiles
 * are nearest-rank on the sorted values (ceil(p/100 * n)-th smallest).
 * Memory: two int arrays of the lengths (percentiles need them all). */
#ifndef LLM_STATS_H
#define LLM_STATS_H

#include <stdint.h>
#include <stdio.h>

#include "base/diag.h"
#include "traces/source.h"

struct len_summary {
    double mean;
    int32_t p50, p90, p99, min, max;
};

struct trace_stats {
    int64_t rows;
    double span_s;
    double rate_rps;         /* NAN when the span is 0 */
    double gap_mean_s;       /* NAN under 2 rows */
    double gap_cv;           /* NAN under 2 rows or a mean gap of 0 */
    struct len_summary prompt, output;
    struct source_counts counts;
};

/* Reads s to its end.  An empty stream is LLM_EINVAL ("no requests"). */
int stats_compute(struct req_source *s, struct trace_stats *out,
                  struct llm_diag *d);

/* The figures as text, one per line: "rows 19366", ... */
void stats_print(const struct trace_stats *st, FILE *out);

#endif
