#include "cli/step.h"

#include <getopt.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "hw/cost.h"
#include "hw/energy.h"
#include "models/ops.h"
#include "base/jcfg.h"
#include "base/paths.h"

/* A JSON integer in [lo, hi], checked before any conversion (a cast of
 * 1e300 to int is undefined). */
static bool int_in(const cJSON *v, int64_t lo, int64_t hi, int64_t *out)
{
    double x = cJSON_IsNumber(v) ? v->valuedouble : NAN;

    if (!(x >= (double)lo && x <= (double)hi) || x != floor(x))
        return false;
    *out = (int64_t)x;
    return true;
}

/* [a, b] with a in [lo_a, hi_a] and b in [lo_b, hi_b]. */
static bool pair_in(const cJSON *it, int64_t lo_a, int64_t hi_a,
                    int64_t lo_b, int64_t hi_b, int64_t v[2])
{
    return cJSON_IsArray(it) && cJSON_GetArraySize(it) == 2 &&
           int_in(cJSON_GetArrayItem(it, 0), lo_a, hi_a, &v[0]) &&
           int_in(cJSON_GetArrayItem(it, 1), lo_b, hi_b, &v[1]);
}

/* Sequences so far: at most BATCH_MAX_SEQS (sim/batch.h). */
static int add_seqs(int64_t *seqs, int64_t n, const char *key, int idx,
                    struct llm_diag *d)
{
    *seqs += n;
    if (*seqs <= BATCH_MAX_SEQS)
        return LLM_OK;
    return diag_set(d, LLM_EINVAL, "%s[%d]: the batch has more than %d "
                    "sequences", key, idx, BATCH_MAX_SEQS);
}

static int read_prefill(const cJSON *it, int i, int64_t *seqs,
                        struct batch *b, struct llm_diag *d)
{
    int64_t v[2];

    if (!pair_in(it, 1, BATCH_MAX_SEQ_TOKENS, 0, BATCH_MAX_SEQ_TOKENS, v) ||
        v[0] + v[1] > BATCH_MAX_SEQ_TOKENS)
        return diag_set(d, LLM_EINVAL, "prefill[%d]: expected [tokens >= 1, "
                        "prior >= 0] with tokens + prior <= %d", i,
                        BATCH_MAX_SEQ_TOKENS);
    if (add_seqs(seqs, 1, "prefill", i, d))
        return d->code;
    return batch_add_prefill(b, (int32_t)v[0], (int32_t)v[1], 1);
}

static int read_decode(const cJSON *it, int i, int64_t *seqs,
                       struct batch *b, struct llm_diag *d)
{
    int64_t v[2];

    if (!pair_in(it, 1, BATCH_MAX_SEQS, 0, BATCH_MAX_SEQ_TOKENS - 1, v))
        return diag_set(d, LLM_EINVAL, "decode[%d]: expected [count >= 1, "
                        "context >= 0] with count <= %d and context < %d",
                        i, BATCH_MAX_SEQS, BATCH_MAX_SEQ_TOKENS);
    if (add_seqs(seqs, v[0], "decode", i, d))
        return d->code;
    return batch_add_decode(b, (int32_t)v[0], (int32_t)v[1]);
}

static int read_decode_ctx(const cJSON *it, int i, int64_t *seqs,
                           struct batch *b, struct llm_diag *d)
{
    int64_t c;

    if (!int_in(it, 0, BATCH_MAX_SEQ_TOKENS - 1, &c))
        return diag_set(d, LLM_EINVAL, "decode_ctx[%d]: expected an integer "
                        "in [0, %d]", i, BATCH_MAX_SEQ_TOKENS - 1);
    if (add_seqs(seqs, 1, "decode_ctx", i, d))
        return d->code;
    return batch_add_decode(b, 1, (int32_t)c);
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
    int64_t seqs = 0;
    int i = 0, rc;

    batch_clear(b);
    if (!cJSON_IsObject(o))
        return diag_set(d, LLM_EINVAL, "expected a JSON object");
    rc = jcfg_known(o, "", keys, d);
    if (!rc) rc = jcfg_arr(o, "", "prefill", false, &pf, d);
    if (!rc) rc = jcfg_arr(o, "", "decode", false, &dc, d);
    if (!rc) rc = jcfg_arr(o, "", "decode_ctx", false, &dx, d);
    cJSON_ArrayForEach(it, pf)
        if (!rc) rc = read_prefill(it, i++, &seqs, b, d);
    i = 0;
    cJSON_ArrayForEach(it, dc)
        if (!rc) rc = read_decode(it, i++, &seqs, b, d);
    i = 0;
    cJSON_ArrayForEach(it, dx)
        if (!rc) rc = read_decode_ctx(it, i++, &seqs, b, d);
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

/* borrowed: the device whose tables priced it, when not --hw's own. */
static cJSON *answer(const struct cost_breakdown *bd, const char *borrowed)
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
    if (borrowed != NULL)
        cJSON_AddStringToObject(o, "tables_from", borrowed);
    return o;
}

struct step_opts {
    const char *model, *hw, *dtype, *kv_dtype, *cost, *engine;
    int tp;
    bool eager;                /* cost_model.execution "eager" */
};

static void step_usage(FILE *f)
{
    fprintf(f, "usage: llmsim step --model ID --hw ID [--tp N] "
            "[--dtype T] [--kv-dtype T] [--cost NAME|JSON] [--eager] "
            "[--engine ID|FILE] < batches.jsonl\n"
            "  prices one JSON batch per stdin line, e.g. "
            "{\"prefill\": [[512, 0]], \"decode\": [[32, 2000]]};\n"
            "  one JSON answer per stdout line (ms and its parts)\n");
}

/* 0: go on; 1: --help printed; 2: bad arguments (message printed). */
static int step_parse_args(int argc, char **argv, struct step_opts *o)
{
    static const struct option longopts[] = {
        { "model", required_argument, NULL, 'm' },
        { "hw", required_argument, NULL, 'w' },
        { "tp", required_argument, NULL, 't' },
        { "dtype", required_argument, NULL, 'd' },
        { "kv-dtype", required_argument, NULL, 'k' },
        { "cost", required_argument, NULL, 'c' },
        { "eager", no_argument, NULL, 'e' },
        { "engine", required_argument, NULL, 'E' },
        { NULL, 0, NULL, 0 }
    };
    char *end;
    long tp;
    int ch;

    *o = (struct step_opts){ .dtype = "bf16", .tp = 1 };
    if (args_want_help(argc, argv)) {
        step_usage(stdout);
        return 1;
    }
    optind = 1;
    while ((ch = getopt_long(argc, argv, "m:w:t:d:k:c:e", longopts, NULL)) != -1) {
        switch (ch) {
        case 'm': o->model = optarg; break;
        case 'w': o->hw = optarg; break;
        case 'd': o->dtype = optarg; break;
        case 'k': o->kv_dtype = optarg; break;
        case 'c': o->cost = optarg; break;
        case 'e': o->eager = true; break;
        case 'E': o->engine = optarg; break;
        case 't':
            tp = strtol(optarg, &end, 10);
            if (*end || *optarg == '\0' || tp < 1 || tp > 1024) {
                fprintf(stderr, "llmsim step: --tp: expected an integer in "
                        "[1, 1024] (hardware.tp's range), got \"%s\"\n",
                        optarg);
                return 2;
            }
            o->tp = (int)tp;
            break;
        default: return 2;
        }
    }
    if (o->model == NULL || o->hw == NULL || optind != argc) {
        step_usage(stderr);
        return 2;
    }
    return 0;
}

/* Reads stdin line by line; one answer or one error per line.  pw NULL:
 * the device's energy is unknown. */
static int step_loop(struct cost_model *cm, const struct energy_power *pw,
                     int tp, const char *borrowed)
{
    char *line = NULL;
    size_t cap = 0;
    long lineno = 0;
    int status = 0;
    int64_t x_ns = 0, tot_ns = 0;
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
        else if (jcfg_check_dups(o, "", &d) == LLM_OK &&
                 step_parse_batch(o, &b, &d) == LLM_OK &&
                 cost_price(cm, &b, &bd) != LLM_OK)
            diag_set(&d, LLM_EINVAL, "the batch takes more than 2^60 ns "
                     "(36.5 years) to price: not a batch any device runs");
        cJSON_Delete(o);
        if (d.code != LLM_OK) {
            fprintf(stderr, "llmsim step: stdin:%ld: %s\n", lineno, d.msg);
            status = 2;
            continue;
        }
        x_ns += bd.extrap_ns;
        tot_ns += bd.total_ns;
        ans = answer(&bd, borrowed);
        add_energy(ans, pw, &b, bd.total_ns, tp);
        text = cJSON_PrintUnformatted(ans);
        printf("%s\n", text);
        fflush(stdout);
        free(text);
        cJSON_Delete(ans);
    }
    free(line);
    batch_free(&b);
    cost_warn_extrap(cm, x_ns, tot_ns);   /* one line for the session */
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
    struct engine eng;
    cJSON *params = NULL, *spec = NULL;
    enum dtype w, kv;
    const char *tab;
    char msg[1200];
    int rc = step_parse_args(argc, argv, &o);

    if (rc)
        return rc == 1 ? 0 : rc;
    if (!dtype_parse(o.dtype, &w)) {
        fprintf(stderr, "llmsim step: --dtype: unknown \"%s\"\n", o.dtype);
        return 2;
    }
    if (!dtype_parse(o.kv_dtype ? o.kv_dtype : "bf16", &kv)) {
        fprintf(stderr, "llmsim step: --kv-dtype: unknown \"%s\"\n",
                o.kv_dtype);
        return 2;
    }
    rc = model_find(llm_root(), o.model, &m, &d);
    if (!rc) rc = device_find(llm_root(), o.hw, &dev, &d);
    env = (struct cost_env){ .model = &m, .dev = &dev, .root = llm_root(),
        .shard = { .tp = o.tp, .w_bytes = dtype_bytes(w), .a_bytes = 2,
                   .kv_bytes = dtype_bytes(kv), .w_dtype = w,
                   .kv_dtype = kv } };
    if (!rc) { d.file = "--tp"; rc = ops_check_shard(&m, &env.shard, &d); }
    if (!rc && o.engine && (spec = cJSON_CreateString(o.engine)) == NULL)
        rc = diag_set(&d, LLM_ENOMEM, "out of memory");
    if (!rc) {
        d.file = NULL;
        rc = engine_resolve(llm_root(), spec, dev.id, dev.calib_dir,
                            "--engine", &eng, &d);
        env.engine = &eng;
    }
    cJSON_Delete(spec);
    if (!rc && o.cost && o.cost[0] == '{') {
        /* A whole cost_model object (its keys: docs/config.md). */
        params = cJSON_Parse(o.cost);
        if (params == NULL || !cJSON_IsObject(params))
            rc = diag_set(&d, LLM_EINVAL, "--cost: expected a cost model "
                          "name or a JSON object, got \"%s\"", o.cost);
        if (!rc)               /* issue 23: each key once */
            rc = jcfg_check_dups(params, "--cost", &d);
        if (!rc && o.eager)
            cJSON_AddStringToObject(params, "execution", "eager");
    } else if (!rc && (o.cost || o.eager)) {
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
    tab = cost_tables(cm);
    rc = step_loop(cm, energy_power_of(&dev, &pw, &d) ? NULL : &pw, o.tp,
                   tab[0] != '\0' && strcmp(tab, dev.id) != 0 ? tab : NULL);
    cost_destroy(cm);
    cJSON_Delete(params);
    return rc;
}
