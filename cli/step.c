#include "cli/step.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hw/cost.h"
#include "hw/energy.h"
#include "models/ops.h"
#include "sim/jcfg.h"
#include "sim/paths.h"

static int pair(const cJSON *it, const char *key, int idx, int64_t lo0,
                int64_t lo1, int32_t v[2], struct llm_diag *d)
{
    const cJSON *a, *b;

    if (!cJSON_IsArray(it) || cJSON_GetArraySize(it) != 2)
        return diag_set(d, LLM_EINVAL, "%s[%d]: expected [integer, integer]",
                        key, idx);
    a = cJSON_GetArrayItem(it, 0);
    b = cJSON_GetArrayItem(it, 1);
    if (!cJSON_IsNumber(a) || !cJSON_IsNumber(b) ||
        a->valuedouble != (double)(int32_t)a->valuedouble ||
        b->valuedouble != (double)(int32_t)b->valuedouble ||
        a->valuedouble < (double)lo0 || b->valuedouble < (double)lo1)
        return diag_set(d, LLM_EINVAL, "%s[%d]: expected [integer >= %lld, "
                        "integer >= %lld]", key, idx, (long long)lo0,
                        (long long)lo1);
    v[0] = (int32_t)a->valuedouble;
    v[1] = (int32_t)b->valuedouble;
    return LLM_OK;
}

/* "pad": token rows of CUDA-graph padding; "graph": how the engine
 * launches the batch (sim/batch.h). */
static int parse_launch(const cJSON *o, struct batch *b, struct llm_diag *d)
{
    static const char *const graphs[] = { "full", "piecewise", "none",
                                          NULL };
    const char *g = NULL;
    int64_t pad = 0;
    int rc = jcfg_int(o, "", "pad", false, 0, 1 << 20, &pad, d);
    int i;

    if (!rc) rc = jcfg_str(o, "", "graph", false, &g, d);
    b->pad_tokens = pad;
    for (i = 0; !rc && g != NULL && graphs[i] != NULL; i++)
        if (strcmp(g, graphs[i]) == 0) {
            b->graph = (enum batch_graph)(BATCH_GRAPH_FULL + i);
            return LLM_OK;
        }
    if (!rc && g != NULL)
        rc = diag_set(d, LLM_EINVAL, "graph: expected \"full\", "
                      "\"piecewise\" or \"none\", got \"%s\"", g);
    return rc;
}

int step_parse_batch(const cJSON *o, struct batch *b, struct llm_diag *d)
{
    static const char *const keys[] = { "prefill", "decode", "decode_ctx",
                                        "pad", "graph", NULL };
    const cJSON *pf = NULL, *dc = NULL, *dx = NULL, *it;
    int32_t v[2];
    int i = 0, rc;

    batch_clear(b);
    if (!cJSON_IsObject(o))
        return diag_set(d, LLM_EINVAL, "expected a JSON object");
    rc = jcfg_known(o, "", keys, d);
    if (!rc) rc = jcfg_arr(o, "", "prefill", false, &pf, d);
    if (!rc) rc = jcfg_arr(o, "", "decode", false, &dc, d);
    if (!rc) rc = jcfg_arr(o, "", "decode_ctx", false, &dx, d);
    cJSON_ArrayForEach(it, pf) {
        if (!rc) rc = pair(it, "prefill", i++, 1, 0, v, d);
        if (!rc) rc = batch_add_prefill(b, v[0], v[1], 1);
    }
    i = 0;
    cJSON_ArrayForEach(it, dc) {
        if (!rc) rc = pair(it, "decode", i++, 1, 0, v, d);
        if (!rc) rc = batch_add_decode(b, v[0], v[1]);
    }
    i = 0;
    cJSON_ArrayForEach(it, dx) {
        if (!rc && (!cJSON_IsNumber(it) || it->valuedouble < 0 ||
                    it->valuedouble != (double)(int32_t)it->valuedouble))
            rc = diag_set(d, LLM_EINVAL, "decode_ctx[%d]: expected a "
                          "non-negative integer", i);
        if (!rc) rc = batch_add_decode(b, 1, (int32_t)it->valuedouble);
        i++;
    }
    return rc ? rc : parse_launch(o, b, d);
}

/* Energy of the iteration on tp devices (hw/energy.h); absent when the
 * catalog gives the device no power. */
static void add_energy(cJSON *o, const struct energy_power *pw,
                       const struct batch *b, int64_t ns, int tp)
{
    if (pw == NULL)
        return;
    cJSON_AddNumberToObject(o, "joules", energy_iteration_j(pw, b, ns, tp));
    cJSON_AddStringToObject(o, "power_source", pw->source);
}

static cJSON *answer(const struct cost_breakdown *bd)
{
    static const char *const names[OPC_COUNT] = { "gemm_ms", "attention_ms",
        "communication_ms", "other_ms" };
    cJSON *o = cJSON_CreateObject();
    int c;

    cJSON_AddNumberToObject(o, "ms", (double)bd->total_ns / 1e6);
    for (c = 0; c < OPC_COUNT; c++)
        cJSON_AddNumberToObject(o, names[c], (double)bd->class_ns[c] / 1e6);
    cJSON_AddNumberToObject(o, "fixed_ms", (double)bd->fixed_ns / 1e6);
    if (bd->extrapolated)
        cJSON_AddNumberToObject(o, "extrapolated_ops", bd->extrapolated);
    return o;
}

struct step_opts {
    const char *model, *hw, *dtype, *cost;
    int tp;
    bool eager;                /* cost_model.execution "eager" */
};

static int step_parse_args(int argc, char **argv, struct step_opts *o)
{
    static const struct option longopts[] = {
        { "model", required_argument, NULL, 'm' },
        { "hw", required_argument, NULL, 'w' },
        { "tp", required_argument, NULL, 't' },
        { "dtype", required_argument, NULL, 'd' },
        { "cost", required_argument, NULL, 'c' },
        { "eager", no_argument, NULL, 'e' },
        { NULL, 0, NULL, 0 }
    };
    char *end;
    int ch;

    *o = (struct step_opts){ .dtype = "bf16", .tp = 1 };
    optind = 1;
    while ((ch = getopt_long(argc, argv, "m:w:t:d:c:e", longopts, NULL)) != -1) {
        switch (ch) {
        case 'm': o->model = optarg; break;
        case 'w': o->hw = optarg; break;
        case 'd': o->dtype = optarg; break;
        case 'c': o->cost = optarg; break;
        case 'e': o->eager = true; break;
        case 't':
            o->tp = (int)strtol(optarg, &end, 10);
            if (*end || o->tp < 1) {
                fprintf(stderr, "llmsim step: --tp: expected a positive "
                        "integer, got \"%s\"\n", optarg);
                return 2;
            }
            break;
        default: return 2;
        }
    }
    if (o->model == NULL || o->hw == NULL || optind != argc) {
        fprintf(stderr, "usage: llmsim step --model ID --hw ID [--tp N] "
                "[--dtype bf16|fp8] [--cost NAME] [--eager] < batches.jsonl\n");
        return 2;
    }
    return 0;
}

/* Reads stdin line by line; one answer or one error per line.  pw NULL:
 * the device's energy is unknown. */
static int step_loop(struct cost_model *cm, const struct energy_power *pw,
                     int tp)
{
    char *line = NULL;
    size_t cap = 0;
    long lineno = 0;
    int status = 0;
    struct batch b;

    batch_init(&b);
    while (getline(&line, &cap, stdin) != -1) {
        struct llm_diag d = { 0 };
        struct cost_breakdown bd;
        cJSON *o, *ans;
        char *text;
        lineno++;
        if (strspn(line, " \t\r\n") == strlen(line))
            continue;
        o = cJSON_Parse(line);
        if (o == NULL)
            diag_set(&d, LLM_EINVAL, "not valid JSON");
        else if (step_parse_batch(o, &b, &d) == LLM_OK)
            cost_price(cm, &b, &bd);
        cJSON_Delete(o);
        if (d.code != LLM_OK) {
            fprintf(stderr, "llmsim step: stdin:%ld: %s\n", lineno, d.msg);
            status = 2;
            continue;
        }
        ans = answer(&bd);
        add_energy(ans, pw, &b, bd.total_ns, tp);
        text = cJSON_PrintUnformatted(ans);
        printf("%s\n", text);
        fflush(stdout);
        free(text);
        cJSON_Delete(ans);
    }
    free(line);
    batch_free(&b);
    return status;
}

int cmd_step(int argc, char **argv)
{
    struct step_opts o;
    struct model m;
    struct device dev;
    struct cost_model *cm = NULL;
    struct llm_diag d = { 0 };
    struct cost_env env;
    struct energy_power pw;
    cJSON *params = NULL;
    enum dtype w;
    char msg[1200];
    int rc = step_parse_args(argc, argv, &o);

    if (rc)
        return rc;
    if (!dtype_parse(o.dtype, &w)) {
        fprintf(stderr, "llmsim step: --dtype: unknown \"%s\"\n", o.dtype);
        return 2;
    }
    rc = model_find(llm_root(), o.model, &m, &d);
    if (!rc) rc = device_find(llm_root(), o.hw, &dev, &d);
    env = (struct cost_env){ .model = &m, .dev = &dev, .root = llm_root(),
        .shard = { .tp = o.tp, .w_bytes = dtype_bytes(w), .a_bytes = 2,
                   .kv_bytes = 2 } };
    if (!rc) { d.file = "--tp"; rc = ops_check_shard(&m, &env.shard, &d); }
    if (!rc && (o.cost || o.eager)) {
        params = cJSON_CreateObject();
        if (o.cost)
            cJSON_AddStringToObject(params, "name", o.cost);
        if (o.eager)
            cJSON_AddStringToObject(params, "execution", "eager");
    }
    if (!rc) { d.file = NULL; rc = cost_create(&env, params, "--cost", &cm, &d); }
    if (rc) {
        diag_format(&d, msg, sizeof(msg));
        fprintf(stderr, "llmsim step: %s\n", msg);
        cJSON_Delete(params);
        return diag_exit_status(rc);
    }
    d = (struct llm_diag){ 0 };
    rc = step_loop(cm, energy_power_of(&dev, &pw, &d) ? NULL : &pw, o.tp);
    cost_destroy(cm);
    cJSON_Delete(params);
    return rc;
}
