/* analysis/column.h: a growable column of doubles read from a results
 * table, for sorting and percentiles.  The caller owns v (free). */
#ifndef LLM_COLUMN_H
#define LLM_COLUMN_H

#include <stddef.h>

struct column {
    double *v;
    size_t n, cap;
};

/* Appends x; LLM_ENOMEM (and no change) when the column cannot grow. */
int column_push(struct column *c, double x);

#endif
