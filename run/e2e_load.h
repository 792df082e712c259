/* run/e2e_load.h: the load of a serving run over time, for validate-e2e
 * (issue 20: saturation explained, not hidden).
 *
 * A series holds one side of a run (measured by serve.py, or simulated by
 * llmsim): its iterations (start, end, and whether requests the engine had
 * seen were left waiting when it was planned) and its served requests
 * (arrival, first token).  From it: the utilization (the share of the run
 * spent in iterations that left requests waiting, as llmsim's run summary
 * defines it), the busy share, the requests awaiting their first token
 * (mean and maximum over time), and gnuplot files that draw both sides
 * over time.  Times are int64 ns from the run's start.  A series owns its
 * arrays; not thread-safe. */
#ifndef LLM_E2E_LOAD_H
#define LLM_E2E_LOAD_H

#include <stddef.h>
#include <stdint.h>

#include "base/diag.h"

struct e2e_series {
    int64_t *it_start_ns, *it_end_ns;
    int8_t *it_wait;           /* 1 waiting left, 0 none, -1 not recorded */
    size_t n_it, cap_it;
    int64_t *arr_ns, *first_ns;
    size_t n_req, cap_req;
};

/* Appends an iteration (wait: 1, 0, or -1 when the run did not record
 * it) or a served request.  LLM_OK or LLM_ENOMEM. */
int e2e_series_iter(struct e2e_series *s, int64_t start_ns, int64_t end_ns,
                    int wait);
int e2e_series_req(struct e2e_series *s, int64_t arrival_ns,
                   int64_t first_token_ns);
void e2e_series_free(struct e2e_series *s);

/* Share of [first arrival, last iteration end] spent in iterations that
 * left requests waiting; NAN when an iteration did not record it. */
double e2e_series_util(const struct e2e_series *s);
/* Share of the same span spent in iterations. */
double e2e_series_busy(const struct e2e_series *s);
/* Time-average and maximum of the requests that had arrived and not yet
 * received their first token. */
void e2e_series_queue(const struct e2e_series *s, double *mean, double *max);

/* Writes DIR/NAME_load.dat (per second: measured and simulated busy share
 * and mean requests awaiting a first token) and DIR/NAME_load.gp (gnuplot:
 * NAME_load.png), each under a temporary name then renamed. */
int e2e_load_plot(const char *dir, const char *name,
                  const struct e2e_series *meas, const struct e2e_series *sim,
                  struct llm_diag *d);

/* Writes DIR/sensitivity.dat and DIR/sensitivity.gp: for each run, the
 * relative change of its simulated TTFT p90 when every iteration is
 * scale[k] times as long (k < n_scales), one line per run. */
int e2e_sensitivity_plot(const char *dir, char *const *names,
                         const double *change, size_t n_runs,
                         const double *scale, size_t n_scales,
                         struct llm_diag *d);

#endif
