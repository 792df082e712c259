/* cli/cmd_plot.h: `llmsim plot DB... [--out DIR]`: the figures of
 * analysis/plot.h.  DIR defaults to the first database's directory plus
 * "/plots".  Exit status 0, 2 for bad arguments or a file that is not an
 * llmsim database, 1 when gnuplot or a write fails. */
#ifndef LLM_CMD_PLOT_H
#define LLM_CMD_PLOT_H
int cmd_plot(int argc, char **argv);
#endif
