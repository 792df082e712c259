/* cli/cmd_trace.h: `llmsim trace`, the request-trace tools.
 *
 *   llmsim trace stats FILE [--type azure|burstgpt|generic|mooncake]
 *       rows, time span, mean rate, inter-arrival CV and prompt/output
 *       mean, p50, p90, p99 (traces/stats.h); the type is guessed from the
 *       file's first line when --type is absent.
 *   llmsim trace gen CONFIG --out FILE [--seed N]
 *       writes CONFIG's "workload" as CSV arrival_s,prompt_tokens,
 *       output_tokens[,tenant,session] (a "generic" trace; gzip when
 *       FILE ends in ".gz"), through a temporary file renamed on
 *       success.  The seed is --seed, else the config's top-level
 *       "seed", else 0.
 *
 * Exit status: 0 ok, 2 bad input (arguments, config, trace rows), 1 any
 * other failure; the one error line goes to stderr. */
#ifndef LLM_CMD_TRACE_H
#define LLM_CMD_TRACE_H

#include <stdio.h>

/* argv[0] is "trace"; prints to stdout and stderr. */
int cmd_trace(int argc, char **argv);

/* The same, printing to out and err (for tests). */
int cmd_trace_io(int argc, char **argv, FILE *out, FILE *err);

#endif
