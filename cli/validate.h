/* cli/validate.h: `llmsim validate`: the cost model against measured
 * iteration times (hw/calib/data/<device>/ref_<model>.jsonl, written by
 * the reference engine on a real GPU).  Prints predicted versus measured
 * for every batch and the mean absolute percentage error per device, model
 * and batch class; --markdown FILE also writes the tables.  Exit 0 when
 * every (device, model) meets the targets (MAPE <= 5%, no batch off by
 * more than 15%), 1 when one misses them, 2 on bad input. */
#ifndef LLM_VALIDATE_H
#define LLM_VALIDATE_H
int cmd_validate(int argc, char **argv);
#endif
