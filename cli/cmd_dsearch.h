/* cli/cmd_dsearch.h: `llmsim disagg-search CONFIG [--max-gpus N] [--tp
 * 1,2,4] ... [--baseline]`: the arguments, the search (run/dsearch.h) and
 * its table of placements.  docs/disagg.md. */
#ifndef LLM_CMD_DSEARCH_H
#define LLM_CMD_DSEARCH_H

int cmd_dsearch(int argc, char **argv);

#endif
