/* base/jcfg.h: typed reads of a cJSON config object with key-path errors.
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

#include "base/diag.h"

/* Reads and parses a JSON file.  LLM_EINVAL if it cannot be opened (a
 * missing or unreadable input file is bad input) or is a folder, or with
 * the line and column if it is not JSON or not an object; LLM_EIO if a
 * read fails. */
int jcfg_load(const char *path, cJSON **out, struct llm_diag *d);

/* jcfg_load of a file that a config key names: a file that cannot be
 * opened is bad input (LLM_EINVAL), "KEY: cannot open "PATH": why", said
 * about the config (d->file left as the caller set it); the file's own
 * errors name it (d->file = path, borrowed); on success d->file is
 * unchanged. */
int jcfg_load_named(const char *path, const char *key, cJSON **out,
                    struct llm_diag *d);

/* Parses JSON text held in memory; errors name line and column.  A
 * duplicated key anywhere is an error (jcfg_check_dups). */
int jcfg_parse(const char *text, cJSON **out, struct llm_diag *d);

/* LLM_EINVAL "PATH.KEY: duplicated key (each key may appear once)" for
 * the first object in root (depth first, members in order) that names a
 * key twice: cJSON keeps both and its lookups return the first, so a
 * second value would be silently ignored.  path prefixes the key path
 * ("" at the root); array elements appear as "[i]".  Every JSON document
 * llmsim reads from input goes through it. */
int jcfg_check_dups(const cJSON *root, const char *path, struct llm_diag *d);

/* Names that become file or directory names (run, sweep and plan names,
 * catalog ids, `--import-hf --id`): 1 to JCFG_NAME_MAX characters of
 * a-z, 0-9, '.', '_' and '-', not starting with '.', so a name can never
 * be a path, "..", or a hidden file. */
#define JCFG_NAME_MAX 63
#define JCFG_NAME_RULE "1-63 characters of a-z, 0-9, '.', '_', '-', not " \
                       "starting with '.'"
bool jcfg_name_ok(const char *s);
/* A string key holding such a name: "PATH.KEY: expected WHAT (RULE), got
 * VALUE" otherwise; *out borrows the string inside obj. */
int jcfg_name(const cJSON *obj, const char *path, const char *key,
              bool required, const char *what, const char **out,
              struct llm_diag *d);

/* Writes "PATH.KEY" (or "KEY" when PATH is empty) into buf, KEY escaped
 * (diag_escape: a key from input never breaks a message line). */
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
