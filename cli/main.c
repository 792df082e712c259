/* cli/main.c: the llmsim command line; the one place that wires the
 * modules together.  Exit status: 0 success, 2 bad input, 1 other. */
#include <stdio.h>
#include <string.h>

#include "cli/cmd_run.h"
#include "cli/bench.h"
#include "cli/calibrate.h"
#include "cli/cmd_dsearch.h"
#include "cli/cmd_memory.h"
#include "cli/cmd_plan.h"
#include "cli/cmd_plot.h"
#include "cli/cmd_sweep.h"
#include "cli/cmd_trace.h"
#include "cli/step.h"
#include "cli/validate.h"
#include "cli/validate_e2e.h"
#include "cli/validate_engines.h"
#include "base/version.h"

static void usage(FILE *f)
{
    fprintf(f,
        "llmsim %s: trace-driven simulator of LLM serving hardware\n\n"
        "usage: llmsim COMMAND [ARGS]\n\n"
        "commands:\n"
        "  run CONFIG [--out DIR] [--seed N] [--engine ID|FILE] "
        "[--set key.path=value]...\n"
        "      [--format vllm] [--sensitivity]\n"
        "                 replay a scenario; writes results.sqlite and "
        "summary.json\n"
        "  step --model ID --hw ID [--tp N] [--dtype T] [--kv-dtype T] [--cost NAME|JSON]\n"
        "       [--engine ID|FILE]\n"
        "                 price JSON batches from stdin, one answer per line\n"
        "  calibrate --model ID --hw ID [--tp N] [--engine BASE] "
        "[--out FILE] < measured.jsonl\n"
        "                 fit an engine profile to measured iteration "
        "times\n"
        "  memory --model ID --hw ID [--tp N] [--pp N] [--dtype T] "
        "[--kv-dtype T] ...\n"
        "                 per-GPU memory plan: weights, activations, KV "
        "blocks\n"
        "  memory --model ID --hw ID ... --context-sweep N,N,...\n"
        "                 long-context peak: time, KV and users per "
        "context length\n"
        "  memory --import-hf CONFIG.json --id NAME [--catalog DIR]\n"
        "                 add a Hugging Face model to your catalog\n"
        "  trace stats FILE [--type azure|mooncake|burstgpt|generic]\n"
        "                 rows, span, rate, burstiness and length percentiles\n"
        "  trace gen CONFIG --out FILE [--seed N]\n"
        "                 write a config's workload as a generic CSV trace\n"
        "  validate [--cost NAME] [--markdown FILE] [--quiet]\n"
        "                 cost model against measured GPU iterations\n"
        "  validate-engines [DIR] [--markdown FILE]\n"
        "                 engine profiles calibrated on 12 batches against "
        "the rest\n"
        "  validate-e2e [DIR] [--plots DIR]\n"
        "                 latency percentiles against measured serving runs\n"
        "  plot DB... [--out DIR]\n"
        "                 gnuplot figures (PNG, SVG) of run or sweep databases\n"
        "  sweep SWEEP.json [-j N] [--out DIR] [--engine ID|FILE] [--quiet]\n"
        "                 cartesian sweep over config values and seeds "
        "(resumable)\n"
        "  plan PLAN.json [-j N] [--out DIR] [--engine ID|FILE] [--quiet]\n"
        "                 cheapest hardware and policy that meets SLOs at a "
        "load\n"
        "  disagg-search CONFIG [--max-gpus N] [--tp 1,2] [--baseline] "
        "[--set k=v]...\n"
        "                 prefill/decode pool sizes and tp with the most "
        "goodput per GPU\n"
        "  bench [CONFIG] speed and peak memory of whole runs (the default "
        "replay with and\n"
        "                 without outputs, configs/bench.json; or CONFIG)\n"
        "  version        print the version\n"
        "  help           this text\n"
        "  COMMAND --help that command's usage\n\n"
        "See README.md and docs/config.md.\n", LLMSIM_VERSION);
}

int main(int argc, char **argv)
{
    const char *cmd = argc > 1 ? argv[1] : NULL;

    if (cmd == NULL) {
        usage(stderr);
        return 2;
    }
    if (strcmp(cmd, "run") == 0)
        return cmd_run(argc - 1, argv + 1);
    if (strcmp(cmd, "step") == 0)
        return cmd_step(argc - 1, argv + 1);
    if (strcmp(cmd, "calibrate") == 0)
        return cmd_calibrate(argc - 1, argv + 1);
    if (strcmp(cmd, "memory") == 0)
        return cmd_memory(argc - 1, argv + 1);
    if (strcmp(cmd, "trace") == 0)
        return cmd_trace(argc - 1, argv + 1);
    if (strcmp(cmd, "validate") == 0)
        return cmd_validate(argc - 1, argv + 1);
    if (strcmp(cmd, "validate-engines") == 0)
        return cmd_validate_engines(argc - 1, argv + 1);
    if (strcmp(cmd, "validate-e2e") == 0)
        return cmd_validate_e2e(argc - 1, argv + 1);
    if (strcmp(cmd, "bench") == 0)
        return cmd_bench(argc - 1, argv + 1);
    if (strcmp(cmd, "plot") == 0)
        return cmd_plot(argc - 1, argv + 1);
    if (strcmp(cmd, "sweep") == 0)
        return cmd_sweep(argc - 1, argv + 1);
    if (strcmp(cmd, "plan") == 0)
        return cmd_plan(argc - 1, argv + 1);
    if (strcmp(cmd, "disagg-search") == 0)
        return cmd_dsearch(argc - 1, argv + 1);
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        printf("llmsim %s\n", LLMSIM_VERSION);
        return 0;
    }
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 ||
        strcmp(cmd, "-h") == 0) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "llmsim: unknown command \"%s\" (try llmsim --help)\n",
            cmd);
    return 2;
}
