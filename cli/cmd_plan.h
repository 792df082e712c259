/* cli/cmd_plan.h: `llmsim plan PLAN.json [-j N] [--out DIR] [--engine
 * ID|FILE] [--quiet]`: the arguments, the plan (run/plan.h) and its
 * ranked table.  docs/analysis.md describes the command. */
#ifndef LLM_CMD_PLAN_H
#define LLM_CMD_PLAN_H

int cmd_plan(int argc, char **argv);

#endif
