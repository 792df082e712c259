/* cli/cmd_memory.h: `llmsim memory`, the per-GPU memory plan.
 *
 *   llmsim memory --model ID --hw ID [--tp N] [--pp N] [--ep N]
 *                 [--ep-alltoall] [--dtype T] [--kv-dtype T]
 *                 [--gpu-memory-utilization F] [--max-num-batched-tokens N]
 *                 [--max-num-seqs N] [--max-model-len N] [--block-tokens N]
 *                 [--reserve-gib F] [--cuda-graph-gib F]
 *                 [--gpu-memory-gib F] [--json]
 *       prints weights, peak activations, reserve, KV bytes, blocks and
 *       tokens per GPU (models/memplan.h).  Defaults follow vLLM's
 *       online server: utilization 0.9, 8192 batched tokens, 256
 *       sequences, block 16, max_model_len the model's context.
 *       --gpu-memory-gib replaces the device's memory (e.g. 79.19, what
 *       torch reports on an H100 80GB, to compare with vLLM's logs).
 *   llmsim memory --model ID --hw ID [...] --context-sweep N,N,... [--json]
 *       the long-context peak analysis (run/ctx_sweep.h) for each context
 *       length instead of the plan; a context whose KV does not fit shows
 *       0 users rather than failing.
 *   llmsim memory --import-hf CONFIG.json --id NAME [--out FILE] [--force]
 *       converts a Hugging Face config.json into a catalog entry, written
 *       to FILE or models/catalog/NAME.json (an existing file only with
 *       --force), through a temporary file renamed on success.
 *
 * Exit status: 0 ok; 2 bad input, including a model that does not fit
 * (the message says by how much and what would fit); 1 other errors.
 * The one error line goes to err. */
#ifndef LLM_CMD_MEMORY_H
#define LLM_CMD_MEMORY_H

#include <stdio.h>

/* argv[0] is "memory"; prints to stdout and stderr. */
int cmd_memory(int argc, char **argv);

/* The same, printing to out and err (for tests). */
int cmd_memory_io(int argc, char **argv, FILE *out, FILE *err);

#endif
