/* cli/args.h: what the commands' argument parsing shares (issue 18).
 *
 * The contract every command keeps: `llmsim COMMAND --help` (or -h)
 * prints the command's usage on stdout and exits 0; a file or folder
 * named on the command line that cannot be read is bad input (exit 2)
 * with one line "llmsim COMMAND: PATH: cannot open: REASON", and so is a
 * folder where a file goes ("llmsim COMMAND: PATH: expected a file, got
 * a folder"; issue 19).  No state. */
#ifndef LLM_ARGS_H
#define LLM_ARGS_H

#include <stdbool.h>
#include <stdio.h>

/* Whether s asks for help ("--help" or "-h"). */
bool args_is_help(const char *s);

/* Whether any of argv[1..argc) asks for help, before a "--". */
bool args_want_help(int argc, char **argv);

/* 0 when path can be read; else prints the one line above for cmd
 * ("run", "trace", ...) to err and returns 2. */
int args_need_path(FILE *err, const char *cmd, const char *path);

/* args_need_path of a file: a folder is refused too (the line above). */
int args_need_file(FILE *err, const char *cmd, const char *path);

#endif
