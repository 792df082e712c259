#include "analysis/sweep.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/store.h"
#include "base/jcfg.h"

/* A sweep larger than this is a typo in a value list, not a plan. */
#define SWEEP_MAX_POINTS 1000000

static const char *const sweep_keys[] = { "name", "base", "set", "params",
    "seeds", "load_axis", "confidence", "out", "keep_runs", "jobs", NULL };

/* "key=<json>" for an override; NULL when out of memory. */
static char *assignment(const char *key, const char *json)
{
    size_t n = strlen(key) + strlen(json) + 2;
    char *s = malloc(n);

    if (s != NULL)
        snprintf(s, n, "%s=%s", key, json);
    return s;
}

static void free_strv(char **v)
{
    size_t i;

    for (i = 0; v != NULL && v[i] != NULL; i++)
        free(v[i]);
    free(v);
}

/* A config key path as the sweep may vary it: dotted, no '=' (it would
 * split the override), not "seed" (seeds are their own list). */
static int check_key(const char *path, const char *key, struct llm_diag *d)
{
    char e[200];

    if (key[0] == '\0' || key[0] == '.' || key[strlen(key) - 1] == '.' ||
        strstr(key, "..") != NULL || strchr(key, '=') != NULL)
        return diag_set(d, LLM_EINVAL, "%s: \"%s\": expected a config key "
                        "path such as \"scheduler.name\"", path,
                        diag_escape(key, e, sizeof(e)));
    if (strcmp(key, "seed") == 0)
        return diag_set(d, LLM_EINVAL, "%s.seed: list seeds under "
                        "\"seeds\" instead", path);
    return LLM_OK;
}

static int read_base(struct sweep_spec *sp, struct llm_diag *d)
{
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(sp->root, "base");

    if (cJSON_IsObject(b)) {
        sp->base_inline = b;
        return LLM_OK;
    }
    if (b == NULL || !cJSON_IsString(b) || b->valuestring[0] == '\0')
        return diag_set(d, LLM_EINVAL, "base: %s (expected the path of a "
                        "scenario config, or a scenario object)",
                        b ? "wrong type" : "missing");
    if (strlen(b->valuestring) >= sizeof(sp->base_path))
        return diag_set(d, LLM_EINVAL, "base: path too long");
    snprintf(sp->base_path, sizeof(sp->base_path), "%s", b->valuestring);
    return LLM_OK;
}

static int read_fixed(struct sweep_spec *sp, struct llm_diag *d)
{
    const cJSON *set = NULL, *it;
    size_t n = 0;
    char *json;
    int rc = jcfg_obj(sp->root, "", "set", false, &set, d);

    sp->fixed = calloc((size_t)cJSON_GetArraySize(set) + 1,
                       sizeof(*sp->fixed));
    if (rc || sp->fixed == NULL)
        return rc ? rc : diag_set(d, LLM_ENOMEM, "out of memory");
    cJSON_ArrayForEach(it, set) {
        rc = check_key("set", it->string, d);
        if (rc)
            return rc;
        json = cJSON_PrintUnformatted(it);
        sp->fixed[n] = json ? assignment(it->string, json) : NULL;
        free(json);
        if (sp->fixed[n++] == NULL)
            return diag_set(d, LLM_ENOMEM, "out of memory");
    }
    return LLM_OK;
}

int sweep_add_fixed(struct sweep_spec *sp, const char *key,
                    const char *value, struct llm_diag *d)
{
    cJSON *v = cJSON_CreateString(value);
    char *json = v ? cJSON_PrintUnformatted(v) : NULL, **f;
    size_t n = 0;

    cJSON_Delete(v);
    while (sp->fixed && sp->fixed[n])
        n++;
    f = json ? realloc(sp->fixed, (n + 2) * sizeof(*f)) : NULL;
    if (f == NULL) {
        free(json);
        return diag_set(d, LLM_ENOMEM, "out of memory");
    }
    sp->fixed = f;
    f[n] = assignment(key, json);
    f[n + 1] = NULL;
    free(json);
    return f[n] ? LLM_OK : diag_set(d, LLM_ENOMEM, "out of memory");
}

static int read_values(struct sweep_param *p, const cJSON *arr,
                       const char *vkey, struct llm_diag *d)
{
    const cJSON *it;
    size_t i, n = (size_t)cJSON_GetArraySize(arr);

    if (!cJSON_IsArray(arr) || n == 0)
        return diag_set(d, LLM_EINVAL, "%s.%s: expected a non-empty array "
                        "of values", vkey, p->key);
    p->values = calloc(n, sizeof(*p->values));
    if (p->values == NULL)
        return diag_set(d, LLM_ENOMEM, "out of memory");
    cJSON_ArrayForEach(it, arr) {
        p->values[p->n_values] = cJSON_PrintUnformatted(it);
        if (p->values[p->n_values] == NULL)
            return diag_set(d, LLM_ENOMEM, "out of memory");
        for (i = 0; i < p->n_values; i++)
            if (strcmp(p->values[i], p->values[p->n_values]) == 0)
                break;
        if (i < p->n_values++)  /* counted, so that it is freed */
            return diag_set(d, LLM_EINVAL, "%s.%s: value %s is listed "
                            "twice", vkey, p->key, p->values[i]);
    }
    return LLM_OK;
}

static int read_params(struct sweep_spec *sp, const char *vkey,
                       struct llm_diag *d)
{
    const cJSON *obj = NULL, *it;
    double total = 1;
    int rc = jcfg_obj(sp->root, "", vkey, true, &obj, d);

    if (rc)
        return rc;
    sp->params = calloc((size_t)cJSON_GetArraySize(obj) + 1,
                        sizeof(*sp->params));
    if (sp->params == NULL)
        return diag_set(d, LLM_ENOMEM, "out of memory");
    cJSON_ArrayForEach(it, obj) {
        struct sweep_param *p = &sp->params[sp->n_params++];
        p->key = it->string;
        rc = check_key(vkey, it->string, d);
        if (!rc)
            rc = read_values(p, it, vkey, d);
        if (rc)
            return rc;
        total *= (double)p->n_values;
    }
    if (total * (double)(sp->n_seeds ? sp->n_seeds : 1) > SWEEP_MAX_POINTS)
        return diag_set(d, LLM_EINVAL, "%s: %.0f points exceed the limit "
                        "of %d", vkey, total, SWEEP_MAX_POINTS);
    return LLM_OK;
}

static int read_seeds(struct sweep_spec *sp, struct llm_diag *d)
{
    const cJSON *arr = NULL, *it;
    size_t i;
    int rc = jcfg_arr(sp->root, "", "seeds", false, &arr, d);

    sp->seeds = calloc((size_t)cJSON_GetArraySize(arr) + 1,
                       sizeof(*sp->seeds));
    if (rc || sp->seeds == NULL)
        return rc ? rc : diag_set(d, LLM_ENOMEM, "out of memory");
    if (arr == NULL) {
        sp->seeds[sp->n_seeds++] = 1;   /* documented default: [1] */
        return LLM_OK;
    }
    cJSON_ArrayForEach(it, arr) {
        double x = it->valuedouble;
        if (!cJSON_IsNumber(it) || x != floor(x) || x < 0 || x > 9e15)
            return diag_set(d, LLM_EINVAL, "seeds[%zu]: expected a "
                            "non-negative integer", sp->n_seeds);
        for (i = 0; i < sp->n_seeds; i++)
            if (sp->seeds[i] == (uint64_t)x)
                return diag_set(d, LLM_EINVAL, "seeds[%zu]: seed %.0f is "
                                "listed twice", sp->n_seeds, x);
        sp->seeds[sp->n_seeds++] = (uint64_t)x;
    }
    if (sp->n_seeds == 0)
        return diag_set(d, LLM_EINVAL, "seeds: expected at least one seed");
    return LLM_OK;
}

/* name, out, confidence, keep_runs, jobs, load_axis. */
static int read_options(struct sweep_spec *sp, struct llm_diag *d)
{
    const char *name = NULL, *out = NULL, *axis = "workload.rate_scale";
    int rc = jcfg_name(sp->root, "", "name", false, "a name", &name, d);

    sp->confidence = 0.95;
    sp->jobs = 1;
    if (!rc) rc = jcfg_str(sp->root, "", "out", false, &out, d);
    if (!rc) rc = jcfg_str(sp->root, "", "load_axis", false, &axis, d);
    if (!rc) rc = jcfg_num(sp->root, "", "confidence", false, 0.5, 0.999,
                           &sp->confidence, d);
    if (!rc) rc = jcfg_bool(sp->root, "", "keep_runs", false, &sp->keep_runs,
                            d);
    if (!rc) rc = jcfg_int(sp->root, "", "jobs", false, 1, 1024, &sp->jobs,
                           d);
    if (rc)
        return rc;
    if (name == NULL) {
        const char *base = strrchr(sp->path, '/');
        const char *dot;
        base = base ? base + 1 : sp->path;
        dot = strrchr(base, '.');
        snprintf(sp->name, sizeof(sp->name), "%.*s",
                 (int)(dot && dot != base ? dot - base : (long)strlen(base)),
                 base);
        /* out/<name>/ holds the results: a name, never a path */
        if (!jcfg_name_ok(sp->name))
            return diag_set(d, LLM_EINVAL, "name: missing, and the file "
                            "name is not a name (" JCFG_NAME_RULE "): set "
                            "\"name\"");
    } else {
        snprintf(sp->name, sizeof(sp->name), "%s", name);
    }
    snprintf(sp->load_axis, sizeof(sp->load_axis), "%s", axis);
    if (out)
        snprintf(sp->out_dir, sizeof(sp->out_dir), "%s", out);
    else
        snprintf(sp->out_dir, sizeof(sp->out_dir), "out/%s", sp->name);
    return LLM_OK;
}

int sweep_spec_read(cJSON *root, const char *values_key,
                    struct sweep_spec *sp, struct llm_diag *d)
{
    const char *path = sp->path;
    int rc;

    memset(sp, 0, sizeof(*sp));
    sp->path = path;
    sp->root = root;
    rc = read_base(sp, d);
    if (!rc) rc = read_fixed(sp, d);
    if (!rc) rc = read_seeds(sp, d);
    if (!rc) rc = read_params(sp, values_key, d);
    if (!rc) rc = read_options(sp, d);
    if (rc)
        sweep_spec_free(sp);
    return rc;
}

int sweep_load(const char *path, struct sweep_spec *sp, struct llm_diag *d)
{
    cJSON *root = NULL;
    int rc;

    memset(sp, 0, sizeof(*sp));
    d->file = path;
    rc = jcfg_load(path, &root, d);
    if (!rc) rc = jcfg_known(root, "", sweep_keys, d);
    if (rc) {
        cJSON_Delete(root);
        return rc;
    }
    sp->path = path;
    return sweep_spec_read(root, "params", sp, d);
}

void sweep_spec_free(struct sweep_spec *sp)
{
    size_t i, j;

    for (i = 0; sp->params != NULL && i < sp->n_params; i++) {
        for (j = 0; j < sp->params[i].n_values; j++)
            free(sp->params[i].values[j]);
        free(sp->params[i].values);
    }
    free(sp->params);
    free_strv(sp->fixed);
    free(sp->seeds);
    cJSON_Delete(sp->root);
    sp->params = NULL;
    sp->fixed = NULL;
    sp->seeds = NULL;
    sp->root = NULL;
}

int sweep_base_materialize(struct sweep_spec *sp, const char *dir,
                           struct llm_diag *d)
{
    char *text;
    int rc;

    if (sp->base_inline == NULL)
        return LLM_OK;
    text = cJSON_Print(sp->base_inline);
    if (text == NULL)
        return diag_set(d, LLM_ENOMEM, "out of memory");
    rc = store_mkdirs(dir, d);
    if (!rc)
        rc = store_write_file(dir, "base.json", text, d);
    free(text);
    snprintf(sp->base_path, sizeof(sp->base_path), "%s/base.json", dir);
    return rc;
}

int sweep_base_identity(const struct sweep_spec *sp, char **out,
                        struct llm_diag *d)
{
    cJSON *base = NULL;
    char *json;
    size_t n, off, i;
    const char *file = d->file;
    int rc;

    rc = jcfg_load_named(sp->base_path, "base", &base, d);
    if (rc)
        return rc;
    d->file = file;
    json = cJSON_PrintUnformatted(base);
    cJSON_Delete(base);
    if (json == NULL)
        return diag_set(d, LLM_ENOMEM, "out of memory");
    n = strlen(json) + 1;
    for (i = 0; sp->fixed[i] != NULL; i++)
        n += strlen(sp->fixed[i]) + 1;
    *out = malloc(n);
    if (*out == NULL) {
        free(json);
        return diag_set(d, LLM_ENOMEM, "out of memory");
    }
    off = (size_t)snprintf(*out, n, "%s", json);
    for (i = 0; sp->fixed[i] != NULL; i++)
        off += (size_t)snprintf(*out + off, n - off, "\n%s", sp->fixed[i]);
    free(json);
    return LLM_OK;
}

static int cmp_key(const void *a, const void *b)
{
    return strcmp(**(const char *const *const *)a,
                  **(const char *const *const *)b);
}

/* The canonical params object: keys in byte order (order[i] points at
 * keys[i], so sorting order sorts the pairs' view, not the inputs). */
static char *canonical(const char *const *keys, const char *const *values,
                       size_t n)
{
    const char *const **order = calloc(n + 1, sizeof(*order));
    cJSON *obj = cJSON_CreateObject(), *v;
    char *text = NULL;
    size_t i, k;

    if (order == NULL || obj == NULL)
        goto out;
    for (i = 0; i < n; i++)
        order[i] = &keys[i];
    qsort(order, n, sizeof(*order), cmp_key);
    for (i = 0; i < n; i++) {
        k = (size_t)(order[i] - keys);
        v = cJSON_Parse(values[k]);
        if (v == NULL)
            goto out;
        cJSON_AddItemToObject(obj, keys[k], v);
    }
    text = cJSON_PrintUnformatted(obj);
out:
    cJSON_Delete(obj);
    free(order);
    return text;
}

int sweep_point_make(const char *const *keys, const char *const *values,
                     size_t n, uint64_t seed, struct sweep_point *out)
{
    char seedv[32];
    size_t i;

    memset(out, 0, sizeof(*out));
    out->seed = seed;
    out->params = canonical(keys, values, n);
    out->sets = calloc(n + 2, sizeof(*out->sets));
    if (out->params == NULL || out->sets == NULL)
        goto fail;
    for (i = 0; i < n; i++)
        if ((out->sets[i] = assignment(keys[i], values[i])) == NULL)
            goto fail;
    snprintf(seedv, sizeof(seedv), "%" PRIu64, seed);
    if ((out->sets[n] = assignment("seed", seedv)) == NULL)
        goto fail;
    return LLM_OK;
fail:
    sweep_point_clear(out);
    return LLM_ENOMEM;
}

void sweep_point_clear(struct sweep_point *p)
{
    free(p->params);
    free_strv(p->sets);
    p->params = NULL;
    p->sets = NULL;
}

void sweep_points_free(struct sweep_point *p, size_t n)
{
    size_t i;

    for (i = 0; p != NULL && i < n; i++)
        sweep_point_clear(&p[i]);
    free(p);
}

size_t sweep_combinations(const struct sweep_spec *sp)
{
    size_t i, n = 1;

    for (i = 0; i < sp->n_params; i++)
        n *= sp->params[i].n_values;
    return n;
}

/* Mixed radix, last param fastest, so the first key is outermost. */
void sweep_combination(const struct sweep_spec *sp, size_t c,
                       const char **keys, const char **values)
{
    size_t i = sp->n_params;

    while (i-- > 0) {
        const struct sweep_param *p = &sp->params[i];
        keys[i] = p->key;
        values[i] = p->values[c % p->n_values];
        c /= p->n_values;
    }
}

int sweep_expand(const struct sweep_spec *sp, struct sweep_point **out,
                 size_t *n, struct llm_diag *d)
{
    const char **keys = calloc(sp->n_params + 1, sizeof(*keys));
    const char **vals = calloc(sp->n_params + 1, sizeof(*vals));
    size_t combos = sweep_combinations(sp), c, s, k = 0;
    int rc = LLM_OK;

    *n = 0;
    *out = calloc(combos * sp->n_seeds + 1, sizeof(**out));
    if (keys == NULL || vals == NULL || *out == NULL)
        rc = LLM_ENOMEM;
    for (c = 0; rc == LLM_OK && c < combos; c++) {
        sweep_combination(sp, c, keys, vals);
        for (s = 0; rc == LLM_OK && s < sp->n_seeds; s++, k++)
            rc = sweep_point_make(keys, vals, sp->n_params, sp->seeds[s],
                                  &(*out)[k]);
    }
    free(keys);
    free(vals);
    if (rc) {
        sweep_points_free(*out, k);
        *out = NULL;
        return diag_set(d, LLM_ENOMEM, "out of memory");
    }
    *n = k;
    return LLM_OK;
}

static bool skipped(const char *key, const char *const *skip)
{
    for (; skip != NULL && *skip != NULL; skip++)
        if (strcmp(key, *skip) == 0)
            return true;
    return false;
}

void sweep_params_label(const char *params_json, const char *const *skip,
                        char *buf, size_t len)
{
    cJSON *obj = cJSON_Parse(params_json);
    const cJSON *it;
    size_t off = 0;
    char *v;

    buf[0] = '\0';
    cJSON_ArrayForEach(it, obj) {
        if (skipped(it->string, skip) || off + 1 >= len)
            continue;
        v = cJSON_IsString(it) ? NULL : cJSON_PrintUnformatted(it);
        off += (size_t)snprintf(buf + off, len - off, "%s%s=%s",
                                off ? ", " : "", it->string,
                                v ? v : it->valuestring);
        free(v);
    }
    if (off == 0)
        snprintf(buf, len, "base");
    cJSON_Delete(obj);
}
