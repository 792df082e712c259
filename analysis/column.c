#include "analysis/column.h"

#include <stdlib.h>

#include "base/diag.h"

int column_push(struct column *c, double x)
{
    if (c->n == c->cap) {
        size_t ncap = c->cap ? c->cap * 2 : 1024;
        double *nv = realloc(c->v, ncap * sizeof(*nv));
        if (nv == NULL)
            return LLM_ENOMEM;
        c->v = nv;
        c->cap = ncap;
    }
    c->v[c->n++] = x;
    return LLM_OK;
}
