#include "cli/calibrate.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/store.h"
#include "cli/step.h"
#include "hw/cost.h"
#include "hw/device.h"
#include "models/model.h"
#include "models/ops.h"
#include "base/jcfg.h"
#include "base/paths.h"

/* The measured time of a line: a positive finite number of ms. */
static int read_ms(const cJSON *o, double *ms, struct llm_diag *d)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "ms");

    if (v == NULL)
        return diag_set(d, LLM_EINVAL, "missing \"ms\" (the measured "
                        "iteration time in milliseconds)");
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) ||
        v->valuedouble <= 0 || v->valuedouble > 1e7)
        return diag_set(d, LLM_EINVAL, "\"ms\": expected a positive number "
                        "of milliseconds");
    *ms = v->valuedouble;
    return LLM_OK;
}

int calibrate_parse_line(const char *text, struct fit_line *out,
                         struct llm_diag *d)
{
    cJSON *o = NULL, *batch;
    int rc;

    if (strspn(text, " \t\r\n") == strlen(text))
        return 1;
    o = cJSON_Parse(text);
    if (o == NULL || !cJSON_IsObject(o)) {
        cJSON_Delete(o);
        return diag_set(d, LLM_EINVAL, "expected a JSON object");
    }
    /* a key given twice is refused, as in every JSON llmsim reads */
    if (jcfg_check_dups(o, "", d) != LLM_OK) {
        cJSON_Delete(o);
        return d->code;
    }
    if (cJSON_GetArraySize(o) == 1 &&
        cJSON_GetObjectItemCaseSensitive(o, "provenance") != NULL) {
        cJSON_Delete(o);
        return 1;
    }
    rc = read_ms(o, &out->ms, d);
    batch = cJSON_GetObjectItemCaseSensitive(o, "batch");
    if (!rc && batch == NULL) {
        /* a step line plus "ms": the rest must be a batch */
        cJSON_DeleteItemFromObjectCaseSensitive(o, "ms");
        batch = o;
    }
    if (!rc)
        rc = step_parse_batch(batch, &out->b, d);
    if (!rc && batch_tokens(&out->b) == 0)
        rc = diag_set(d, LLM_EINVAL, "an empty batch has no time to fit");
    cJSON_Delete(o);
    return rc;
}

void calibrate_free(struct fit_line *lines, size_t n)
{
    for (size_t i = 0; i < n; i++)
        batch_free(&lines[i].b);
    free(lines);
}

int calibrate_read(FILE *f, const char *name, struct fit_line **lines,
                   size_t *n, struct llm_diag *d)
{
    char *text = NULL;
    size_t cap = 0, have = 0;
    long lineno = 0;
    int rc = LLM_OK;

    *lines = NULL;
    *n = 0;
    while (rc == LLM_OK && getline(&text, &cap, f) != -1) {
        struct llm_diag ld = { 0 };
        lineno++;
        if (*n == have) {
            size_t nh = have ? 2 * have : 64;
            struct fit_line *p = realloc(*lines, nh * sizeof(*p));
            if (p == NULL) {
                rc = diag_set(d, LLM_ENOMEM, "out of memory");
                break;
            }
            *lines = p;
            have = nh;
        }
        batch_init(&(*lines)[*n].b);
        (*lines)[*n].lineno = lineno;
        rc = calibrate_parse_line(text, &(*lines)[*n], &ld);
        if (rc == 1) {
            batch_free(&(*lines)[*n].b);
            rc = LLM_OK;
            continue;
        }
        if (rc) {
            batch_free(&(*lines)[*n].b);
            rc = diag_set(d, rc, "%s:%ld: %s", name, lineno, ld.msg);
            break;
        }
        (*n)++;
    }
    free(text);
    return rc;
}

static const char *const part_names[FIT_FREE] = {
    "gemm", "attn_prefill", "attn_decode", "elementwise", "comm",
    "layer_us", "iter_us" };

cJSON *calibrate_profile_json(const struct fit_result *r, const char *model,
                              const char *device, int tp)
{
    cJSON *o = engine_to_json(&r->e), *c, *sd;

    if (o == NULL || (c = cJSON_AddObjectToObject(o, "calibration")) == NULL)
        return o;
    cJSON_AddStringToObject(c, "by", "llmsim calibrate (hw/engine_fit.c)");
    cJSON_AddStringToObject(c, "model", model);
    cJSON_AddStringToObject(c, "device", device);
    cJSON_AddNumberToObject(c, "tp", tp);
    cJSON_AddNumberToObject(c, "lines", (double)r->n);
    cJSON_AddNumberToObject(c, "candidates", r->n_cand);
    cJSON_AddNumberToObject(c, "rms_log_error", r->rms_log);
    cJSON_AddNumberToObject(c, "mape_pct", r->mape);
    cJSON_AddNumberToObject(c, "max_error_pct", r->max_ape);
    sd = cJSON_AddObjectToObject(c, "sigma");
    for (int i = 0; sd != NULL && i < FIT_FREE; i++)
        cJSON_AddNumberToObject(sd, part_names[i], r->sigma[i]);
    return o;
}

struct cal_opts {
    const char *model, *hw, *dtype, *engine, *out;
    int tp;
    bool quiet, fixed;
};

/* On stdout for --help (exit 0), on stderr for bad arguments (exit 2). */
static int usage(FILE *f)
{
    fprintf(f, "usage: llmsim calibrate --model ID --hw ID [--tp N] "
            "[--dtype bf16|fp8] [--engine BASE [--fixed-structure]] "
            "[--out FILE] [--quiet] < measured.jsonl\n");
    return 2;
}

static int parse_args(int argc, char **argv, struct cal_opts *o)
{
    static const struct option longopts[] = {
        { "model", required_argument, NULL, 'm' },
        { "hw", required_argument, NULL, 'w' },
        { "tp", required_argument, NULL, 't' },
        { "dtype", required_argument, NULL, 'd' },
        { "engine", required_argument, NULL, 'e' },
        { "out", required_argument, NULL, 'o' },
        { "quiet", no_argument, NULL, 'q' },
        { "fixed-structure", no_argument, NULL, 'f' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    char *end;
    int ch;

    *o = (struct cal_opts){ .dtype = "bf16", .tp = 1 };
    optind = 1;
    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (ch) {
        case 'm': o->model = optarg; break;
        case 'w': o->hw = optarg; break;
        case 'd': o->dtype = optarg; break;
        case 'e': o->engine = optarg; break;
        case 'o': o->out = optarg; break;
        case 'q': o->quiet = true; break;
        case 'f': o->fixed = true; break;
        case 'h': usage(stdout); return -1;
        case 't':
            o->tp = (int)strtol(optarg, &end, 10);
            if (*end || o->tp < 1 || o->tp > 1024) {
                fprintf(stderr, "llmsim calibrate: --tp: expected an "
                        "integer in [1, 1024], got \"%s\"\n", optarg);
                return 2;
            }
            break;
        default: return usage(stderr);
        }
    }
    if (o->model == NULL || o->hw == NULL || optind != argc)
        return usage(stderr);
    return 0;
}

static void print_fit(const struct cal_opts *o, const struct fit_result *r,
                      const struct fit_line *lines)
{
    const struct engine *e = &r->e;

    printf("calibrate: %s on %s, tp %d, %zu lines, %d candidate "
           "structures\n", o->model, o->hw, o->tp, r->n, r->n_cand);
    printf("structure: elementwise %s, qkv %s, gate_up %s, prefill %s, "
           "decode %s, execution %s%s\n", engine_elem_name(e->elem),
           e->qkv_separate ? "separate" : "fused",
           e->gate_up_separate ? "separate" : "fused",
           engine_attn_name(e->prefill), engine_attn_name(e->decode),
           engine_exec_name(e->exec), e->async ? " (async)" : "");
    printf("parameters (one standard deviation):\n");
    for (int i = 0; i < FIT_FREE; i++)
        printf("  %-13s %10.4f +- %.4f\n", part_names[i],
               *engine_param((struct engine_params *)&e->p, i),
               r->sigma[i]);
    printf("fit: rms log error %.2f%%, MAPE %.2f%%, max %.2f%%%s\n",
           100 * r->rms_log, r->mape, r->max_ape,
           r->extrapolated ? " (some operators outside the tables)" : "");
    if (o->quiet)
        return;
    printf("  line  measured_ms  predicted_ms    error\n");
    for (size_t i = 0; i < r->n; i++)
        printf("  %4ld %12.3f %13.3f %+7.2f%%\n", lines[i].lineno,
               lines[i].ms, r->pred_ms[i],
               100 * (r->pred_ms[i] / lines[i].ms - 1));
}

/* Writes the profile atomically (store_write_file: temp, then rename). */
static int write_profile(const struct cal_opts *o,
                         const struct fit_result *r, struct llm_diag *d)
{
    cJSON *j = calibrate_profile_json(r, o->model, o->hw, o->tp);
    char *text = j ? cJSON_Print(j) : NULL, dir[1024];
    const char *slash = strrchr(o->out, '/');
    int rc;

    if (text == NULL) {
        cJSON_Delete(j);
        return diag_set(d, LLM_ENOMEM, "out of memory");
    }
    snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - o->out) : 1,
             slash ? o->out : ".");
    rc = store_write_file(slash == o->out ? "/" : dir,
                          slash ? slash + 1 : o->out, text, d);
    free(text);
    cJSON_Delete(j);
    return rc;
}

/* The model, device and base engine of the options. */
static int setup(const struct cal_opts *o, struct model *m,
                 struct device *dev, struct cost_env *env, struct engine *base,
                 struct llm_diag *d)
{
    enum dtype w;
    cJSON *spec = NULL;
    int rc;

    if (!dtype_parse(o->dtype, &w))
        return diag_set(d, LLM_EINVAL, "--dtype: unknown \"%s\"", o->dtype);
    rc = model_find(llm_root(), o->model, m, d);
    if (!rc) rc = device_find(llm_root(), o->hw, dev, d);
    *env = (struct cost_env){ .model = m, .dev = dev, .root = llm_root(),
        .shard = { .tp = o->tp, .w_bytes = dtype_bytes(w), .a_bytes = 2,
                   .kv_bytes = 2 } };
    if (!rc) rc = ops_check_shard(m, &env->shard, d);
    if (!rc && o->engine && (spec = cJSON_CreateString(o->engine)) == NULL)
        rc = diag_set(d, LLM_ENOMEM, "out of memory");
    if (!rc && spec)
        rc = engine_resolve(llm_root(), spec, dev->id, dev->calib_dir,
                            "--engine", base, d);
    else if (!rc)
        engine_reference(base);
    cJSON_Delete(spec);
    return rc;
}

int cmd_calibrate(int argc, char **argv)
{
    struct cal_opts o;
    struct model m;
    struct device dev;
    struct cost_env env;
    struct engine base;
    struct fit_line *lines = NULL;
    struct fit_result r = { 0 };
    struct llm_diag d = { 0 };
    size_t n = 0;
    char msg[1200];
    int rc = parse_args(argc, argv, &o);

    if (rc)
        return rc < 0 ? 0 : rc;
    rc = setup(&o, &m, &dev, &env, &base, &d);
    if (!rc) rc = calibrate_read(stdin, "stdin", &lines, &n, &d);
    /* without a base, every structure is a candidate */
    if (!rc) rc = engine_fit(&env, &base, o.fixed ? FIT_BASE : o.engine ?
                             FIT_ATTN : FIT_ALL, lines, n, &r, &d);
    if (!rc) {
        snprintf(r.e.id, sizeof(r.e.id), "calibrated");
        snprintf(r.e.stands_for, sizeof(r.e.stands_for), "an engine "
                 "calibrated on %zu measured iterations of %s on %s", n,
                 o.model, o.hw);
        print_fit(&o, &r, lines);
    }
    if (!rc && o.out)
        rc = write_profile(&o, &r, &d);
    if (rc) {
        diag_format(&d, msg, sizeof(msg));
        fprintf(stderr, "llmsim calibrate: %s\n", msg);
    }
    fit_result_free(&r);
    calibrate_free(lines, n);
    return rc ? diag_exit_status(rc) : 0;
}
