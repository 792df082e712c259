/* base/names.h: "find by name, else list the known names", the one lookup
 * of every table of named things (plug-in registries, cost models, trace
 * sources, length distributions, a config object's known keys).
 *
 * A table is read through an accessor, at(table, i): the name of entry i,
 * NULL past the last one (tables end with NULL).  names_find returns the
 * index of the entry named name; when none is, it writes the table's
 * names into known as "a, b, c" and returns -1.  The list is cut where
 * known ends (size bytes, always NUL-terminated; never a byte past it),
 * however long the table and its names are.  No state; thread-safe. */
#ifndef LLM_NAMES_H
#define LLM_NAMES_H

#include <stddef.h>

typedef const char *names_at_fn(const void *table, size_t i);

/* Index of name in table, or -1 with known filled (size > 0). */
long names_find(const void *table, names_at_fn *at, const char *name,
                char *known, size_t size);
/* The list alone: table's names, ", " between them, cut to size bytes. */
void names_list(const void *table, names_at_fn *at, char *known,
                size_t size);
/* The accessor of a NULL-terminated array of strings (const char *[]). */
const char *names_of_strings(const void *table, size_t i);

#endif
