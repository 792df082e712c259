#include "hw/engine.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/jcfg.h"

static const char *const elem_names[ENG_ELEM_COUNT] = {
    "fused", "fused_add", "unfused" };
static const char *const exec_names[ENG_EXEC_COUNT] = {
    "graph", "piecewise", "eager" };
static const char *const attn_names[ENG_ATTN_COUNT] = {
    "fa2_varlen", "vllm_triton", "sglang_triton", "split_kv", "sdpa",
    "flashdecoding_pp" };
/* sglang_triton and vllm_triton have tables of their own (measured by
 * hw/calib/engines/attn_bench.py); split_kv and sdpa run on FA2's. */
static const char *const attn_tables[ENG_ATTN_COUNT] = {
    "", "vllm_triton", "sglang_triton", "", "", "" };
/* NULL-terminated for jcfg_known: without the NULL an unknown key in
 * "params" read past the array (found by tests/fuzz/fuzz_engine.c). */
static const char *const param_names[ENGINE_N_PARAMS + 1] = {
    "gemm", "attn_prefill", "attn_decode", "elementwise", "comm",
    "layer_us", "iter_us", "dispatch_us", NULL };

void engine_reference(struct engine *e)
{
    *e = (struct engine){ .elem = ENG_ELEM_FUSED, .prefill = ENG_ATTN_FA2,
                          .decode = ENG_ATTN_FA2, .exec = ENG_EXEC_GRAPH,
                          .eager_table = true,
                          .p = { .gemm = 1, .attn_prefill = 1,
                                 .attn_decode = 1, .elementwise = 1,
                                 .comm = 1 } };
    snprintf(e->id, sizeof(e->id), "reference");
    snprintf(e->stands_for, sizeof(e->stands_for), "llmsim's reference "
             "engine (hw/calib/reference/llama_ref.py)");
}

const char *engine_elem_name(enum engine_elem k)
{
    return (unsigned)k < ENG_ELEM_COUNT ? elem_names[k] : NULL;
}

const char *engine_attn_name(enum engine_attn k)
{
    return (unsigned)k < ENG_ATTN_COUNT ? attn_names[k] : NULL;
}

const char *engine_exec_name(enum engine_exec k)
{
    return (unsigned)k < ENG_EXEC_COUNT ? exec_names[k] : NULL;
}

const char *engine_attn_tables(enum engine_attn k)
{
    return (unsigned)k < ENG_ATTN_COUNT ? attn_tables[k] : "";
}

static int find_name(const char *const *names, int n, const char *s)
{
    for (int i = 0; i < n; i++)
        if (strcmp(names[i], s) == 0)
            return i;
    return -1;
}

int engine_attn_find(const char *name)
{
    return find_name(attn_names, ENG_ATTN_COUNT, name);
}

const char *engine_param_name(int i)
{
    return i >= 0 && i < ENGINE_N_PARAMS ? param_names[i] : NULL;
}

double *engine_param(struct engine_params *p, int i)
{
    double *const v[ENGINE_N_PARAMS] = { &p->gemm, &p->attn_prefill,
        &p->attn_decode, &p->elementwise, &p->comm, &p->layer_us,
        &p->iter_us, &p->dispatch_us };

    return i >= 0 && i < ENGINE_N_PARAMS ? v[i] : NULL;
}

/* One of names[] at key, or LLM_EINVAL listing them. */
static int choice(const cJSON *o, const char *path, const char *key,
                  const char *const *names, int n, int *out,
                  struct llm_diag *d)
{
    const char *s = NULL;
    char list[160] = "", kp[160];
    size_t off = 0;
    int rc = jcfg_str(o, path, key, false, &s, d), k;

    if (rc || s == NULL)
        return rc;
    if ((k = find_name(names, n, s)) >= 0) {
        *out = k;
        return LLM_OK;
    }
    for (k = 0; k < n && off < sizeof(list); k++)
        off += (size_t)snprintf(list + off, sizeof(list) - off, "%s\"%s\"",
                                k ? ", " : "", names[k]);
    jcfg_keypath(kp, sizeof(kp), path, key);
    return diag_set(d, LLM_EINVAL, "%s: expected one of %s", kp, list);
}

static int fused_or_separate(const cJSON *o, const char *path,
                             const char *key, bool *separate,
                             struct llm_diag *d)
{
    static const char *const names[] = { "fused", "separate" };
    int k = *separate, rc = choice(o, path, key, names, 2, &k, d);

    *separate = k == 1;
    return rc;
}

static int read_structure(const cJSON *s, const char *path, struct engine *e,
                          struct llm_diag *d)
{
    static const char *const keys[] = { "elementwise", "qkv", "gate_up",
        "gemm", "prefill_attention", "decode_attention", "execution",
        "eager_host", "async", NULL };
    static const char *const gemms[] = { "cublas", "flat" };
    static const char *const host[] = { "dispatch", "table" };
    int el = e->elem, pre = e->prefill, dec = e->decode, ex = e->exec;
    int tab = e->eager_table, flat = e->flat_gemm;
    int rc = jcfg_known(s, path, keys, d);

    if (!rc) rc = choice(s, path, "elementwise", elem_names, ENG_ELEM_COUNT,
                         &el, d);
    if (!rc) rc = fused_or_separate(s, path, "qkv", &e->qkv_separate, d);
    if (!rc) rc = fused_or_separate(s, path, "gate_up", &e->gate_up_separate,
                                    d);
    if (!rc) rc = choice(s, path, "gemm", gemms, 2, &flat, d);
    if (!rc) rc = choice(s, path, "prefill_attention", attn_names,
                         ENG_ATTN_COUNT, &pre, d);
    if (!rc) rc = choice(s, path, "decode_attention", attn_names,
                         ENG_ATTN_COUNT, &dec, d);
    if (!rc) rc = choice(s, path, "execution", exec_names, ENG_EXEC_COUNT,
                         &ex, d);
    if (!rc) rc = choice(s, path, "eager_host", host, 2, &tab, d);
    if (!rc) rc = jcfg_bool(s, path, "async", false, &e->async, d);
    e->elem = (enum engine_elem)el;
    e->prefill = (enum engine_attn)pre;
    e->decode = (enum engine_attn)dec;
    e->exec = (enum engine_exec)ex;
    e->eager_table = tab == 1;
    e->flat_gemm = flat == 1;
    return rc;
}

/* Scales in [0.001, 100]; times in microseconds, [0, 1e6], but layer_us,
 * which may be negative: an engine whose kernels follow each other more
 * tightly than the tables' back-to-back timing (llmsim calibrate fits it
 * signed), down to -1e4. */
static int read_params(const cJSON *p, const char *path,
                       struct engine_params *out, struct llm_diag *d)
{
    int rc = jcfg_known(p, path, param_names, d);

    for (int i = 0; !rc && i < ENGINE_N_PARAMS; i++) {
        double lo = i < 5 ? 1e-3 : i == 5 ? -1e4 : 0;
        double hi = i < 5 ? 100 : 1e6;
        rc = jcfg_num(p, path, param_names[i], false, lo, hi,
                      engine_param(out, i), d);
    }
    return rc;
}

/* devices.<device>.params, when the profile has them. */
static int device_params(const cJSON *o, const char *path, const char *device,
                         struct engine *e, struct llm_diag *d)
{
    static const char *const keys[] = { "params", "calibration", NULL };
    const cJSON *devs = NULL, *one, *p = NULL;
    char kp[200];
    int rc = jcfg_obj(o, path, "devices", false, &devs, d);

    if (rc || devs == NULL || device == NULL)
        return rc;
    one = cJSON_GetObjectItemCaseSensitive(devs, device);
    if (one == NULL)
        return LLM_OK;
    snprintf(kp, sizeof(kp), "%s%sdevices.%s", path, path[0] ? "." : "",
             device);
    if (!cJSON_IsObject(one))
        return diag_set(d, LLM_EINVAL, "%s: expected an object", kp);
    rc = jcfg_known(one, kp, keys, d);
    if (!rc) rc = jcfg_obj(one, kp, "params", false, &p, d);
    if (!rc && p != NULL) {
        char pp[220];
        snprintf(pp, sizeof(pp), "%s.params", kp);
        rc = read_params(p, pp, &e->p, d);
    }
    return rc;
}

int engine_from_json(const cJSON *o, const char *path, const char *device,
                     struct engine *e, struct llm_diag *d)
{
    static const char *const keys[] = { "id", "stands_for", "provenance",
        "structure", "params", "devices", "calibration", "notes", NULL };
    const cJSON *s = NULL, *p = NULL;
    const char *id = "custom", *what = NULL;
    char kp[200];
    int rc;

    engine_reference(e);
    e->eager_table = false;
    e->stands_for[0] = '\0';
    if (!cJSON_IsObject(o))
        return diag_set(d, LLM_EINVAL, "%s: expected a profile object",
                        path);
    rc = jcfg_known(o, path, keys, d);
    if (!rc) rc = jcfg_str(o, path, "id", false, &id, d);
    if (!rc) rc = jcfg_str(o, path, "stands_for", false, &what, d);
    if (!rc) rc = jcfg_obj(o, path, "structure", false, &s, d);
    if (!rc && s != NULL) {
        jcfg_keypath(kp, sizeof(kp), path, "structure");
        rc = read_structure(s, kp, e, d);
    }
    if (!rc) rc = jcfg_obj(o, path, "params", false, &p, d);
    if (!rc && p != NULL) {
        jcfg_keypath(kp, sizeof(kp), path, "params");
        rc = read_params(p, kp, &e->p, d);
    }
    if (!rc)
        rc = device_params(o, path, device, e, d);
    snprintf(e->id, sizeof(e->id), "%s", id);
    if (what != NULL)
        snprintf(e->stands_for, sizeof(e->stands_for), "%s", what);
    return rc;
}

static bool is_path(const char *spec)
{
    size_t n = strlen(spec);

    return strchr(spec, '/') != NULL ||
           (n > 5 && strcmp(spec + n - 5, ".json") == 0);
}

static bool safe_id(const char *s)
{
    if (s[0] == '\0' || s[0] == '.' || strlen(s) >= 64)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
              (*s >= '0' && *s <= '9') || *s == '.' || *s == '_' ||
              *s == '-'))
            return false;
    return true;
}

int engine_load(const char *root, const char *spec, const char *device,
                const char *key, struct engine *e, struct llm_diag *d)
{
    char file[1200];
    cJSON *o = NULL;
    struct llm_diag fd = { 0 };
    int rc;

    if (is_path(spec)) {
        snprintf(file, sizeof(file), "%s", spec);
    } else if (!safe_id(spec)) {
        return diag_set(d, LLM_EINVAL, "%s: expected a profile id (letters, "
                        "digits, '.', '_', '-') or a .json file, got \"%.80s\"",
                        key, spec);
    } else {
        snprintf(file, sizeof(file), "%s/hw/engines/%s.json", root, spec);
        if (access(file, R_OK) != 0)
            return diag_set(d, LLM_EINVAL, "%s: unknown engine \"%s\" (no "
                            "hw/engines/%s.json)", key, spec, spec);
    }
    rc = jcfg_load(file, &o, &fd);
    if (rc)
        return diag_set(d, rc == LLM_EIO ? LLM_EINVAL : rc, "%s: %s: %s",
                        key, file, fd.msg);
    rc = engine_from_json(o, "", device, e, &fd);
    cJSON_Delete(o);
    if (rc)
        return diag_set(d, rc, "%s: %s: %s", key, file, fd.msg);
    return LLM_OK;
}

bool engine_attn_available(const char *root, const char *calib_dir,
                           enum engine_attn k, bool decode)
{
    char probe[1400];

    if (attn_tables[k][0] == '\0')
        return true;
    if (calib_dir == NULL || calib_dir[0] == '\0')
        return false;
    snprintf(probe, sizeof(probe), "%s/%s/attn_%s_%s.csv", root, calib_dir,
             decode ? "decode" : "prefill", attn_tables[k]);
    return access(probe, R_OK) == 0;
}

const char *engine_default_id(const char *root, const char *calib_dir)
{
    return engine_attn_available(root, calib_dir, ENG_ATTN_VLLM, true) &&
           calib_dir[0] ? "vllm-triton" : "reference";
}

int engine_resolve(const char *root, const cJSON *v, const char *device,
                   const char *calib_dir, const char *key, struct engine *e,
                   struct llm_diag *d)
{
    if (v == NULL)
        return engine_load(root, engine_default_id(root, calib_dir), device,
                           key, e, d);
    if (cJSON_IsString(v))
        return engine_load(root, v->valuestring, device, key, e, d);
    if (cJSON_IsObject(v))
        return engine_from_json(v, key, device, e, d);
    return diag_set(d, LLM_EINVAL, "%s: expected a profile id, a .json file "
                    "or a profile object", key);
}

cJSON *engine_to_json(const struct engine *e)
{
    cJSON *o = cJSON_CreateObject(), *s, *p;

    if (o == NULL)
        return NULL;
    cJSON_AddStringToObject(o, "id", e->id);
    if (e->stands_for[0])
        cJSON_AddStringToObject(o, "stands_for", e->stands_for);
    s = cJSON_AddObjectToObject(o, "structure");
    p = cJSON_AddObjectToObject(o, "params");
    if (s == NULL || p == NULL) {
        cJSON_Delete(o);
        return NULL;
    }
    cJSON_AddStringToObject(s, "elementwise", elem_names[e->elem]);
    cJSON_AddStringToObject(s, "qkv", e->qkv_separate ? "separate" : "fused");
    cJSON_AddStringToObject(s, "gate_up", e->gate_up_separate ? "separate"
                                                              : "fused");
    cJSON_AddStringToObject(s, "gemm", e->flat_gemm ? "flat" : "cublas");
    cJSON_AddStringToObject(s, "prefill_attention", attn_names[e->prefill]);
    cJSON_AddStringToObject(s, "decode_attention", attn_names[e->decode]);
    cJSON_AddStringToObject(s, "execution", exec_names[e->exec]);
    cJSON_AddStringToObject(s, "eager_host", e->eager_table ? "table"
                                                            : "dispatch");
    cJSON_AddBoolToObject(s, "async", e->async);
    for (int i = 0; i < ENGINE_N_PARAMS; i++)
        cJSON_AddNumberToObject(p, param_names[i],
                                *engine_param((struct engine_params *)&e->p,
                                              i));
    return o;
}
