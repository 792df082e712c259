/* sim/jcfg.h: typed reads of a cJSON config object with key-path errors.
 *
 * Every reader takes the object, the dotted path of that object within
 * the file ("" for the root, "scheduler", "workload.prompt") and a key.
 * A missing optional key leaves *out at the default the caller put there.
 * A present key of the wrong type or out of range is LLM_EINVAL with the
 * message "PATH.KEY: expected WHAT, got VALUE".  jcfg_known rejects keys
 * the caller does not know (misspellings are errors, never defaults).
 * Nothing here allocates, except jcfg_load (caller frees with cJSON_Delete).
 */
#ifndef LLM_JCFG_H
#define LLM_JCFG_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "sim/diag.h"

/* Reads and parses a JSON file.  LLM_EIO if unreadable, LLM_EINVAL with
 * the line and column if it is not JSON or not an object. */
int jcfg_load(const char *path, cJSON **out, struct llm_diag *d);

/* Parses JSON text held in memory; errors name line and column. */
int jcfg_parse(const char *text, cJSON **out, struct llm_diag *d);

/* Writes "PATH.KEY" (or "KEY" when PATH is empty) into buf. */
void jcfg_keypath(char *buf, int len, const char *path, const char *key);

int jcfg_int(const cJSON *obj, const char *path, const char *key,
             bool required, int64_t min, int64_t max, int64_t *out,
             struct llm_diag *d);
int jcfg_num(const cJSON *obj, const char *path, const char *key,
             bool required, double min, double max, double *out,
             struct llm_diag *d);
int jcfg_bool(const cJSON *obj, const char *path, const char *key,
              bool required, bool *out, struct llm_diag *d);
/* *out borrows the string inside obj. */
int jcfg_str(const cJSON *obj, const char *path, const char *key,
             bool required, const char **out, struct llm_diag *d);
/* An object member; *out NULL when absent and not required. */
int jcfg_obj(const cJSON *obj, const char *path, const char *key,
             bool required, const cJSON **out, struct llm_diag *d);
/* An array member; *out NULL when absent and not required. */
int jcfg_arr(const cJSON *obj, const char *path, const char *key,
             bool required, const cJSON **out, struct llm_diag *d);

/* LLM_EINVAL naming the first key of obj not in the NULL-terminated list. */
int jcfg_known(const cJSON *obj, const char *path, const char *const *known,
               struct llm_diag *d);

/* Applies "a.b.c=value" to root: value is parsed as JSON when it is valid
 * JSON, else taken as a string; intermediate objects are created.  The
 * error names the assignment. */
int jcfg_set(cJSON *root, const char *assignment, struct llm_diag *d);

#endif
