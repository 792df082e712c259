/* base/paths.c: the data root and the user catalog (base/paths.h).  Keep
 * this file to these two functions: `make install` compiles it again
 * with the installed data folder and links it ahead of libllmsim.a. */
#include "base/paths.h"

#include <stdio.h>
#include <stdlib.h>

#ifndef LLMSIM_SRCDIR
#define LLMSIM_SRCDIR "."
#endif

const char *llm_root(void)
{
    const char *r = getenv("LLMSIM_ROOT");

    return (r != NULL && r[0] != '\0') ? r : LLMSIM_SRCDIR;
}

const char *llm_user_catalog(char *buf, size_t n)
{
    const char *c = getenv("LLMSIM_CATALOG");
    const char *x = getenv("XDG_DATA_HOME");
    const char *h = getenv("HOME");

    if (c != NULL && c[0] != '\0')
        snprintf(buf, n, "%s", c);
    else if (x != NULL && x[0] == '/')    /* the XDG spec: absolute only */
        snprintf(buf, n, "%s/llmsim/models", x);
    else if (h != NULL && h[0] != '\0')
        snprintf(buf, n, "%s/.local/share/llmsim/models", h);
    else
        return NULL;
    return buf;
}
