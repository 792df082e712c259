/* sim/paths.h: where llmsim finds its catalogs and calibration data.
 *
 * The data root is $LLMSIM_ROOT when set, else the source tree the binary
 * was built from (LLMSIM_SRCDIR, set by the Makefile), so a build works
 * from any directory.  Reads the environment only; no state. */
#ifndef LLM_PATHS_H
#define LLM_PATHS_H

#include <stdlib.h>

#ifndef LLMSIM_SRCDIR
#define LLMSIM_SRCDIR "."
#endif

static inline const char *llm_root(void)
{
    const char *r = getenv("LLMSIM_ROOT");

    return (r != NULL && r[0] != '\0') ? r : LLMSIM_SRCDIR;
}

#endif
