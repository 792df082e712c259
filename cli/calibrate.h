/* cli/calibrate.h: `llmsim calibrate` -- an engine profile from measured
 * iteration times (issue 16; hw/engine_fit.h does the fitting).
 *
 *   llmsim calibrate --model ID --hw ID [--tp N] [--dtype T]
 *                    [--engine BASE] [--out FILE] [--quiet] < measured.jsonl
 *
 * Each input line is a `step` batch plus its measured time,
 * {"prefill": [[tokens, prior], ...], "decode": [[count, context], ...],
 *  "decode_ctx": [...], "ms": 12.3}, or a measured-file line that wraps
 * the batch as {"batch": {...}, "ms": ...} (other keys of such a line are
 * ignored; a line holding only "provenance" is skipped).  Prints the fit
 * (structure, each parameter with one standard deviation, every line's
 * measured and predicted time) and writes the profile to FILE (temporary
 * name, then rename), which `--engine FILE` accepts.  Exit 2 on bad input,
 * naming the line. */
#ifndef LLM_CALIBRATE_H
#define LLM_CALIBRATE_H

#include <stddef.h>
#include <stdio.h>

#include <cjson/cJSON.h>

#include "hw/engine_fit.h"
#include "base/diag.h"

int cmd_calibrate(int argc, char **argv);

/* One input line into *out (its batch initialised here): LLM_OK,
 * LLM_EINVAL with the reason, or 1 for a line to skip (blank or a
 * provenance header). */
int calibrate_parse_line(const char *text, struct fit_line *out,
                         struct llm_diag *d);

/* Reads every line of f; *lines owned by the caller (calibrate_free). */
int calibrate_read(FILE *f, const char *name, struct fit_line **lines,
                   size_t *n, struct llm_diag *d);
void calibrate_free(struct fit_line *lines, size_t n);

/* The profile JSON of a fit: the engine plus a "calibration" record. */
cJSON *calibrate_profile_json(const struct fit_result *r, const char *model,
                              const char *device, int tp);

#endif
