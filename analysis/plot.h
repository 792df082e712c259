/* analysis/plot.h: gnuplot figures from results databases.
 *
 * plot_make reads each database (SQLite only; nothing from the simulator)
 * and writes into DIR the data files (*.dat, whitespace columns, a '#'
 * header naming them), one gnuplot script plots.gp that draws every
 * figure as PNG (pngcairo) and SVG, and the images, by running gnuplot on
 * the script.  `gnuplot plots.gp` in DIR redraws them.
 *
 * A run database (results.sqlite: a requests table) gives
 *   latency_cdf        CDFs of TTFT, TPOT, ITL (itl table) and E2E
 *                      latency, one panel each, one line per run database
 *                      given;
 *   timeline_r<R>      per replica: batch tokens, running and waiting
 *                      requests, KV-cache use over time (time-weighted
 *                      means over 500 bins, idle time counting as 0, and
 *                      the maxima of the iterations in each bin; the
 *                      title gives the bin width), from the iterations
 *                      table ("timeline_<K>_r<R>" when several run
 *                      databases are given, K the argument's index);
 *   replicas           utilization and KV occupancy of every replica of
 *                      every run database, overlaid (two or more);
 *   kv_tiers_r<R>      per replica with rows in the kv_tiers table (tiered
 *                      KV managers): occupancy (% of each tier) and
 *                      traffic (GiB in + out so far) over time, one panel
 *                      each, one line per tier ("kv_tiers_<K>_r<R>" when
 *                      several run databases are given).
 * A sweep or plan database (analysis/sweepdb.h: a points table) gives,
 * against the offered load (req/s), one line per configuration (the
 * parameters other than the sweep's load axis), mean over seeds with the
 * confidence interval as error bars:
 *   load_ttft, load_tpot, load_e2e   p50, p90 and p99 panels
 *   load_goodput                     goodput (req/s meeting every SLO)
 *   tput_latency                     TTFT and TPOT p50/p90/p99 against
 *                                    the output throughput (tokens/s)
 *   load_cost                        USD per 1M output tokens and J per
 *                                    output token
 * ("s<K>_..." when several sweep databases are given).  Legends name
 * what differs between the lines (config keys, shortened); a panel whose
 * values span two decades has a log y axis; error bars stop at 0 (at half
 * the smallest value on a log axis).
 *
 * Every file is made in DIR/.plot-tmp-<pid>/ and renamed into DIR once
 * gnuplot succeeded, so DIR never holds half a set.  Errors name the
 * database or the script (with gnuplot's first message line).  Single
 * threaded: it forks gnuplot and waits for it. */
#ifndef LLM_PLOT_H
#define LLM_PLOT_H

#include <stddef.h>

#include "base/diag.h"

#define PLOT_MAX_FIGURES 128

/* The figures made: base names (NAME.png and NAME.svg) and titles. */
struct plot_list {
    size_t n;
    char name[PLOT_MAX_FIGURES][64];
    char title[PLOT_MAX_FIGURES][160];
};

int plot_make(const char *const *dbs, size_t n_dbs, const char *out_dir,
              struct plot_list *made, struct llm_diag *d);

/* plot_make without gnuplot: the data files and plots.gp only (no
 * images), published into DIR the same way.  The fuzz harness of the
 * script writer (tests/fuzz/fuzz_plot.c) runs it on crafted databases. */
int plot_script(const char *const *dbs, size_t n_dbs, const char *out_dir,
                struct plot_list *made, struct llm_diag *d);

/* The one way a string reaches a gnuplot script (issue 23: a run name
 * once ran commands through a title).  Writes into buf (len >= 3) a
 * gnuplot single-quoted string literal of s, quotes included.  Inside
 * single quotes gnuplot takes backslashes, backquotes, '@' and '#' as
 * plain text; what could end the literal is a quote or a line break, so
 * a quote becomes U+2019 (gnuplot 5.4 misreads its own '' escape after
 * another quote or right after the opening one) and every control byte
 * or DEL becomes a space (gnuplot ends a command at a newline).  A string
 * that does not fit is cut at a UTF-8 character boundary and still
 * closed.  Returns buf.  Use it for every title, label, legend and file
 * name, and for comments that echo input (a comment ending in a backslash
 * would swallow the next line). */
const char *plot_gp_str(const char *s, char *buf, size_t len);

#endif
