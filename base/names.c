#include "base/names.h"

#include <stdio.h>
#include <string.h>

long names_find(const void *table, names_at_fn *at, const char *name,
                char *known, size_t size)
{
    const char *n;
    size_t i;

    for (i = 0; (n = at(table, i)) != NULL; i++)
        if (strcmp(n, name) == 0)
            return (long)i;
    names_list(table, at, known, size);
    return -1;
}

void names_list(const void *table, names_at_fn *at, char *known,
                size_t size)
{
    const char *n;
    size_t i, off = 0;

    if (size == 0)
        return;
    known[0] = '\0';
    /* snprintf counts what it would have written: once off reaches size
     * the list is full (and cut), and nothing more is written. */
    for (i = 0; off < size && (n = at(table, i)) != NULL; i++)
        off += (size_t)snprintf(known + off, size - off, "%s%s",
                                i ? ", " : "", n);
}

const char *names_of_strings(const void *table, size_t i)
{
    return ((const char *const *)table)[i];
}
