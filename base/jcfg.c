#include "base/jcfg.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/names.h"

void jcfg_keypath(char *buf, int len, const char *path, const char *key)
{
    char k[200];

    diag_escape(key, k, sizeof(k));
    if (path == NULL || path[0] == '\0')
        snprintf(buf, (size_t)len, "%s", k);
    else
        snprintf(buf, (size_t)len, "%s.%s", path, k);
}

/* A short rendering of the offending value for messages (cJSON prints
 * null for a number that is not finite, as 1e999 parses). */
static void describe(const cJSON *v, char *buf, int len)
{
    char *s;

    if (cJSON_IsNumber(v) && !isfinite(v->valuedouble)) {
        snprintf(buf, (size_t)len, "%s", isnan(v->valuedouble) ? "nan"
                 : v->valuedouble > 0 ? "inf" : "-inf");
        return;
    }
    s = cJSON_PrintUnformatted(v);
    if (s == NULL) {
        snprintf(buf, (size_t)len, "?");
        return;
    }
    if ((int)strlen(s) > 60)
        snprintf(buf, (size_t)len, "%.57s...", s);
    else
        snprintf(buf, (size_t)len, "%s", s);
    free(s);
}

static int bad(const cJSON *v, const char *path, const char *key,
               const char *what, struct llm_diag *d)
{
    char kp[256], got[80];

    jcfg_keypath(kp, sizeof(kp), path, key);
    describe(v, got, sizeof(got));
    return diag_set(d, LLM_EINVAL, "%s: expected %s, got %s", kp, what, got);
}

static int missing(const char *path, const char *key, const char *what,
                   struct llm_diag *d)
{
    char kp[256];

    jcfg_keypath(kp, sizeof(kp), path, key);
    return diag_set(d, LLM_EINVAL, "%s: missing (expected %s)", kp, what);
}

static void pos_of(const char *text, const char *at, int *line, int *col)
{
    const char *p;

    *line = 1;
    *col = 1;
    for (p = text; p < at && *p; p++) {
        if (*p == '\n') {
            (*line)++;
            *col = 1;
        } else {
            (*col)++;
        }
    }
}

/* Appends ".key" (or "key" at the root) or "[i]" to the path in buf
 * (len bytes, n used); returns the new length, cut to fit. */
static size_t path_push(char *buf, size_t len, size_t n, const cJSON *it,
                        int i)
{
    char k[128];
    int w;

    if (it->string != NULL)
        w = snprintf(buf + n, len - n, "%s%s", n ? "." : "",
                     diag_escape(it->string, k, sizeof(k)));
    else
        w = snprintf(buf + n, len - n, "[%d]", i);
    return w < 0 || n + (size_t)w >= len ? len - 1 : n + (size_t)w;
}

static int by_key(const void *a, const void *b)
{
    return strcmp((*(const cJSON *const *)a)->string,
                  (*(const cJSON *const *)b)->string);
}

/* The first member of obj whose key an earlier member has: pairwise for a
 * small object, sorted (then the least such key) for a large one. */
static const cJSON *first_dup(const cJSON *obj, bool *oom)
{
    const cJSON *a, *b, **v, *dup = NULL;
    int n = cJSON_GetArraySize(obj), i = 0;

    if (n <= 64) {
        for (a = obj->child; a != NULL; a = a->next)
            for (b = obj->child; b != a; b = b->next)
                if (strcmp(a->string, b->string) == 0)
                    return a;
        return NULL;
    }
    v = malloc((size_t)n * sizeof(*v));
    if (v == NULL) {
        *oom = true;
        return NULL;
    }
    for (a = obj->child; a != NULL; a = a->next)
        v[i++] = a;
    qsort(v, (size_t)n, sizeof(*v), by_key);
    for (i = 1; i < n && dup == NULL; i++)
        if (strcmp(v[i - 1]->string, v[i]->string) == 0)
            dup = v[i];
    free(v);
    return dup;
}

static int dups_in(const cJSON *v, char *buf, size_t len, size_t n,
                   struct llm_diag *d)
{
    const cJSON *it, *dup;
    bool oom = false;
    int i = 0, rc = LLM_OK;

    if (cJSON_IsObject(v) && (dup = first_dup(v, &oom)) != NULL) {
        path_push(buf, len, n, dup, 0);
        return diag_set(d, LLM_EINVAL, "%s: duplicated key (each key may "
                        "appear once)", buf);
    }
    if (oom)
        return diag_set(d, LLM_ENOMEM, "out of memory");
    for (it = v->child; it != NULL && rc == LLM_OK; it = it->next, i++) {
        if (!cJSON_IsObject(it) && !cJSON_IsArray(it))
            continue;
        rc = dups_in(it, buf, len, path_push(buf, len, n, it, i), d);
        buf[n] = '\0';
    }
    return rc;
}

int jcfg_check_dups(const cJSON *root, const char *path, struct llm_diag *d)
{
    char buf[512];
    size_t n;

    snprintf(buf, sizeof(buf), "%s", path ? path : "");
    n = strlen(buf);
    if (root == NULL || (!cJSON_IsObject(root) && !cJSON_IsArray(root)))
        return LLM_OK;
    return dups_in(root, buf, sizeof(buf), n, d);
}

int jcfg_parse(const char *text, cJSON **out, struct llm_diag *d)
{
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithOpts(text, &end, 1);
    if (root == NULL) {
        int line, col;
        pos_of(text, end ? end : text, &line, &col);
        return diag_set(d, LLM_EINVAL, "line %d column %d: invalid JSON",
                        line, col);
    }
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return diag_set(d, LLM_EINVAL, "expected a JSON object at the top");
    }
    if (jcfg_check_dups(root, "", d) != LLM_OK) {
        cJSON_Delete(root);
        return d->code;
    }
    *out = root;
    return LLM_OK;
}

int jcfg_load_named(const char *path, const char *key, cJSON **out,
                    struct llm_diag *d)
{
    const char *file = d->file;
    char p[256];
    FILE *f = fopen(path, "rb");
    int e = errno, rc;

    if (f == NULL)
        return diag_set(d, LLM_EINVAL, "%s: cannot open \"%s\": %s", key,
                        diag_escape(path, p, sizeof(p)), strerror(e));
    fclose(f);
    d->file = path;
    rc = jcfg_load(path, out, d);
    if (rc == LLM_OK)
        d->file = file;
    return rc;
}

int jcfg_load(const char *path, cJSON **out, struct llm_diag *d)
{
    FILE *f = fopen(path, "rb");
    struct stat st;
    char *text;
    long n;
    int rc;

    /* A file that cannot be opened, or a folder, is bad input like a
     * malformed one (exit 2, issue 19); a failing read stays LLM_EIO. */
    if (f == NULL)
        return diag_set(d, LLM_EINVAL, "cannot open: %s", strerror(errno));
    if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
        fclose(f);
        return diag_set(d, LLM_EINVAL, "expected a JSON file, got a folder");
    }
    if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 ||
        fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return diag_set(d, LLM_EIO, "cannot read: %s", strerror(errno));
    }
    text = malloc((size_t)n + 1);
    if (text == NULL) {
        fclose(f);
        return diag_set(d, LLM_ENOMEM, "out of memory reading %ld bytes", n);
    }
    if (fread(text, 1, (size_t)n, f) != (size_t)n) {
        free(text);
        fclose(f);
        return diag_set(d, LLM_EIO, "short read");
    }
    fclose(f);
    text[n] = '\0';
    rc = jcfg_parse(text, out, d);
    free(text);
    return rc;
}

static const cJSON *member(const cJSON *obj, const char *key)
{
    return obj ? cJSON_GetObjectItemCaseSensitive(obj, key) : NULL;
}

bool jcfg_name_ok(const char *s)
{
    size_t i;

    if (s == NULL || s[0] == '\0' || s[0] == '.')
        return false;
    for (i = 0; s[i]; i++)
        if (i >= JCFG_NAME_MAX ||
            (!(s[i] >= 'a' && s[i] <= 'z') && !(s[i] >= '0' && s[i] <= '9')
             && strchr("._-", s[i]) == NULL))
            return false;
    return true;
}

int jcfg_name(const cJSON *obj, const char *path, const char *key,
              bool required, const char *what, const char **out,
              struct llm_diag *d)
{
    const cJSON *v = member(obj, key);
    char w[200];

    snprintf(w, sizeof(w), "%s (%s)", what, JCFG_NAME_RULE);
    if (v == NULL)
        return required ? missing(path, key, w, d) : LLM_OK;
    if (!cJSON_IsString(v) || !jcfg_name_ok(v->valuestring))
        return bad(v, path, key, w, d);
    *out = v->valuestring;
    return LLM_OK;
}

int jcfg_int(const cJSON *obj, const char *path, const char *key,
             bool required, int64_t min, int64_t max, int64_t *out,
             struct llm_diag *d)
{
    const cJSON *v = member(obj, key);
    char what[96];
    double x;

    if (min == 1 && max == INT64_MAX)
        snprintf(what, sizeof(what), "a positive integer");
    else if (min == 0 && max == INT64_MAX)
        snprintf(what, sizeof(what), "a non-negative integer");
    else
        snprintf(what, sizeof(what), "an integer in [%lld, %lld]",
                 (long long)min, (long long)max);
    if (v == NULL)
        return required ? missing(path, key, what, d) : LLM_OK;
    if (!cJSON_IsNumber(v))
        return bad(v, path, key, what, d);
    x = v->valuedouble;
    if (x != floor(x) || x < (double)min || x > (double)max || x > 9.0e18)
        return bad(v, path, key, what, d);
    *out = (int64_t)x;
    return LLM_OK;
}

int jcfg_num(const cJSON *obj, const char *path, const char *key,
             bool required, double min, double max, double *out,
             struct llm_diag *d)
{
    const cJSON *v = member(obj, key);
    char what[96];

    if (min == 0 && isinf(max))
        snprintf(what, sizeof(what), "a non-negative number");
    else if (isinf(max))
        snprintf(what, sizeof(what), "a number >= %g", min);
    else
        snprintf(what, sizeof(what), "a number in [%g, %g]", min, max);
    if (v == NULL)
        return required ? missing(path, key, what, d) : LLM_OK;
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) ||
        v->valuedouble < min || v->valuedouble > max)
        return bad(v, path, key, what, d);
    *out = v->valuedouble;
    return LLM_OK;
}

int jcfg_bool(const cJSON *obj, const char *path, const char *key,
              bool required, bool *out, struct llm_diag *d)
{
    const cJSON *v = member(obj, key);

    if (v == NULL)
        return required ? missing(path, key, "true or false", d) : LLM_OK;
    if (!cJSON_IsBool(v))
        return bad(v, path, key, "true or false", d);
    *out = cJSON_IsTrue(v);
    return LLM_OK;
}

int jcfg_str(const cJSON *obj, const char *path, const char *key,
             bool required, const char **out, struct llm_diag *d)
{
    const cJSON *v = member(obj, key);

    if (v == NULL)
        return required ? missing(path, key, "a string", d) : LLM_OK;
    if (!cJSON_IsString(v) || v->valuestring[0] == '\0')
        return bad(v, path, key, "a non-empty string", d);
    *out = v->valuestring;
    return LLM_OK;
}

int jcfg_obj(const cJSON *obj, const char *path, const char *key,
             bool required, const cJSON **out, struct llm_diag *d)
{
    const cJSON *v = member(obj, key);

    *out = NULL;
    if (v == NULL)
        return required ? missing(path, key, "an object", d) : LLM_OK;
    if (!cJSON_IsObject(v))
        return bad(v, path, key, "an object", d);
    *out = v;
    return LLM_OK;
}

int jcfg_arr(const cJSON *obj, const char *path, const char *key,
             bool required, const cJSON **out, struct llm_diag *d)
{
    const cJSON *v = member(obj, key);

    *out = NULL;
    if (v == NULL)
        return required ? missing(path, key, "an array", d) : LLM_OK;
    if (!cJSON_IsArray(v))
        return bad(v, path, key, "an array", d);
    *out = v;
    return LLM_OK;
}

int jcfg_known(const cJSON *obj, const char *path, const char *const *known,
               struct llm_diag *d)
{
    const cJSON *it;
    char kp[256], list[320];

    cJSON_ArrayForEach(it, obj) {
        if (names_find(known, names_of_strings, it->string, list,
                       sizeof(list)) >= 0)
            continue;
        jcfg_keypath(kp, sizeof(kp), path, it->string);
        return diag_set(d, LLM_EINVAL, "%s: unknown key (known: %s)", kp,
                        list);
    }
    return LLM_OK;
}

int jcfg_set(cJSON *root, const char *assignment, struct llm_diag *d)
{
    char path[256];
    const char *eq = strchr(assignment, '=');
    char *seg, *dot;
    cJSON *obj = root, *val, *child;
    size_t n;

    if (eq == NULL || eq == assignment)
        return diag_set(d, LLM_EINVAL, "--set %s: expected key.path=value",
                        assignment);
    n = (size_t)(eq - assignment);
    if (n >= sizeof(path))
        return diag_set(d, LLM_EINVAL, "--set: key path too long");
    memcpy(path, assignment, n);
    path[n] = '\0';
    val = cJSON_Parse(eq + 1);
    if (val != NULL && jcfg_check_dups(val, path, d) != LLM_OK) {
        cJSON_Delete(val);
        return d->code;
    }
    if (val == NULL)
        val = cJSON_CreateString(eq + 1);
    if (val == NULL)
        return diag_set(d, LLM_ENOMEM, "out of memory");
    for (seg = path; (dot = strchr(seg, '.')) != NULL; seg = dot + 1) {
        *dot = '\0';
        if (*seg == '\0')
            break;
        child = cJSON_GetObjectItemCaseSensitive(obj, seg);
        if (child == NULL) {
            child = cJSON_AddObjectToObject(obj, seg);
        } else if (!cJSON_IsObject(child)) {
            cJSON_Delete(val);
            return diag_set(d, LLM_EINVAL, "--set %s: %s is not an object",
                            assignment, seg);
        }
        obj = child;
    }
    if (*seg == '\0' || obj == NULL) {
        cJSON_Delete(val);
        return diag_set(d, LLM_EINVAL, "--set %s: empty key in path",
                        assignment);
    }
    if (cJSON_GetObjectItemCaseSensitive(obj, seg) != NULL)
        cJSON_ReplaceItemInObjectCaseSensitive(obj, seg, val);
    else
        cJSON_AddItemToObject(obj, seg, val);
    return LLM_OK;
}
