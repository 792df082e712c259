/* base/paths.h: where llmsim finds its catalogs and calibration data.
 *
 * The data root is $LLMSIM_ROOT when set, else the folder compiled into
 * base/paths.c (LLMSIM_SRCDIR, set by the Makefile): the source tree the
 * binary was built from, so a build works from any directory, or, for the
 * binary `make install PREFIX=...` installs, PREFIX/share/llmsim, where
 * the install puts the data (only base/paths.c is compiled again for it).
 *
 * The user's model catalog is where `llmsim memory --import-hf` writes
 * and where a model id missing from the data root's catalog is looked up
 * (issue 18): $LLMSIM_CATALOG, else $XDG_DATA_HOME/llmsim/models, else
 * $HOME/.local/share/llmsim/models.  Both read the environment only; no
 * state. */
#ifndef LLM_PATHS_H
#define LLM_PATHS_H

#include <stddef.h>
/* Kept from when these were inline: files that include this header use
 * them without including them. */
#include <stdio.h>
#include <stdlib.h>

/* The data root (a static string or the environment's). */
const char *llm_root(void);

/* The user catalog folder, written into buf (n bytes); NULL when the
 * environment names none (no LLMSIM_CATALOG, XDG_DATA_HOME or HOME). */
const char *llm_user_catalog(char *buf, size_t n);

#endif
