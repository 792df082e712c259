/* cli/validate_engines.h: `llmsim validate-engines` -- leave-one-engine-out
 * validation of engine profiles (issue 16, item 4).
 *
 *   llmsim validate-engines [DIR] [--markdown FILE] [--quiet]
 *
 * DIR (default hw/calib/data) holds <device>/engines/<engine>/<model>.jsonl
 * (and <model>_tp<N>.jsonl): iteration times an engine took on batches,
 * one measured-file line each ({"batch": {...}, "ms": ...}; the first line
 * may be a provenance header).  For every engine, device and model the
 * profile is calibrated (llmsim calibrate, every structure a candidate, no
 * knowledge of the engine) from exactly the twelve shapes of
 * VALIDATE_ENGINES_CALIB and every other batch is predicted; then the
 * profile calibrated on llama-3-8b at tp 1 predicts every other file of
 * that engine on that device (other models, other tp).  Targets: MAPE <= 5%
 * and no batch over 15% per engine, device and model; <= 8% MAPE for the
 * transfers.  Prints one row per case; exit 0 when every target is met, 1
 * when one is missed, 2 on bad input (naming file and line). */
#ifndef LLM_VALIDATE_ENGINES_H
#define LLM_VALIDATE_ENGINES_H

#include <stdbool.h>

#include "sim/batch.h"

#define VALIDATE_ENGINES_NCALIB 12

/* The twelve calibration shapes as step lines (issue 16, item 4). */
extern const char *const validate_engines_calib[VALIDATE_ENGINES_NCALIB];

/* Whether b is one of the twelve (the same chunks and decode groups). */
bool validate_engines_is_calib(const struct batch *b);

int cmd_validate_engines(int argc, char **argv);

#endif
