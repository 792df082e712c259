#include "cli/cmd_memory.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "analysis/store.h"
#include "cli/args.h"
#include "run/ctx_sweep.h"
#include "hw/device.h"
#include "models/hf.h"
#include "models/memplan.h"
#include "models/model.h"
#include "models/ops.h"
#include "policies/registry.h"
#include "base/jcfg.h"
#include "base/paths.h"

#define GIB 1073741824.0

static const char USAGE[] =
    "usage: llmsim memory --model ID --hw ID [--tp N] [--pp N] [--ep N]\n"
    "                     [--ep-alltoall] [--dtype T] [--kv-dtype T]\n"
    "                     [--gpu-memory-utilization F]\n"
    "                     [--scheduler NAME] [--max-num-batched-tokens N]\n"
    "                     [--max-num-seqs N]\n"
    "                     [--max-model-len N] [--block-tokens N]\n"
    "                     [--reserve-gib F] [--cuda-graph-gib F]\n"
    "                     [--gpu-memory-gib F] [--json]\n"
    "                     [--context-sweep N,N,...]\n"
    "       llmsim memory --import-hf CONFIG.json --id NAME "
    "[--catalog DIR | --out FILE]\n"
    "                     [--force]\n"
    "  --import-hf writes NAME.json to the user catalog: --catalog DIR, "
    "else\n  $LLMSIM_CATALOG, else $XDG_DATA_HOME/llmsim/models, else\n"
    "  ~/.local/share/llmsim/models; runs then find \"model\": \"NAME\"\n";

struct mem_opts {
    const char *model, *hw, *dtype, *kv_dtype, *import, *id, *out, *sched;
    const char *catalog;         /* --catalog; NULL: the user catalog */
    const char *sweep;           /* --context-sweep; NULL: none */
    int64_t tp, pp, ep, tokens, seqs, max_len, block;
    double util, reserve_gib, graph_gib, mem_gib;
    bool a2a, json, force;
};

static int fail(FILE *err, int code, const char *msg)
{
    fprintf(err, "llmsim memory: %s\n", msg);
    return code;
}

static int bad_value(FILE *err, const char *flag, const char *what,
                     const char *v)
{
    fprintf(err, "llmsim memory: --%s: expected %s, got \"%s\"\n", flag,
            what, v);
    return 2;
}

static bool parse_int(const char *s, int64_t lo, int64_t *out)
{
    char *end;
    long long v;

    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < lo)
        return false;
    *out = v;
    return true;
}

static bool parse_num(const char *s, double lo, double hi, double *out)
{
    char *end;
    double v;

    errno = 0;
    v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi))
        return false;
    *out = v;
    return true;
}

static const struct option longopts[] = {
    { "model", required_argument, NULL, 'm' },
    { "hw", required_argument, NULL, 'w' },
    { "tp", required_argument, NULL, 't' },
    { "pp", required_argument, NULL, 'p' },
    { "ep", required_argument, NULL, 'e' },
    { "ep-alltoall", no_argument, NULL, 'A' },
    { "dtype", required_argument, NULL, 'd' },
    { "kv-dtype", required_argument, NULL, 'k' },
    { "gpu-memory-utilization", required_argument, NULL, 'u' },
    { "max-num-batched-tokens", required_argument, NULL, 'b' },
    { "max-num-seqs", required_argument, NULL, 's' },
    { "scheduler", required_argument, NULL, 'S' },
    { "max-model-len", required_argument, NULL, 'l' },
    { "block-tokens", required_argument, NULL, 'B' },
    { "reserve-gib", required_argument, NULL, 'r' },
    { "cuda-graph-gib", required_argument, NULL, 'g' },
    { "gpu-memory-gib", required_argument, NULL, 'G' },
    { "json", no_argument, NULL, 'j' },
    { "import-hf", required_argument, NULL, 'i' },
    { "id", required_argument, NULL, 'I' },
    { "out", required_argument, NULL, 'o' },
    { "force", no_argument, NULL, 'f' },
    { "context-sweep", required_argument, NULL, 'C' },
    { "catalog", required_argument, NULL, 'c' },
    { NULL, 0, NULL, 0 }
};

static const char *flag_name(int ch)
{
    int i;

    for (i = 0; longopts[i].name != NULL; i++)
        if (longopts[i].val == ch)
            return longopts[i].name;
    return "?";
}

/* Integer flags: which field and its lower bound. */
static int set_int(struct mem_opts *o, int ch, const char *v, FILE *err)
{
    int64_t *dst = ch == 't' ? &o->tp : ch == 'p' ? &o->pp :
                   ch == 'e' ? &o->ep : ch == 'b' ? &o->tokens :
                   ch == 's' ? &o->seqs : ch == 'l' ? &o->max_len : &o->block;

    if (!parse_int(v, 1, dst) || *dst > (1 << 30))
        return bad_value(err, flag_name(ch), "a positive integer", v);
    return 0;
}

static int set_num(struct mem_opts *o, int ch, const char *v, FILE *err)
{
    if (ch == 'u' && !parse_num(v, 0.05, 1.0, &o->util))
        return bad_value(err, "gpu-memory-utilization", "a number in "
                         "[0.05, 1]", v);
    if (ch == 'r' && !parse_num(v, 0, 1e6, &o->reserve_gib))
        return bad_value(err, "reserve-gib", "a number >= 0", v);
    if (ch == 'g' && !parse_num(v, 0, 1e6, &o->graph_gib))
        return bad_value(err, "cuda-graph-gib", "a number >= 0", v);
    if (ch == 'G' && !parse_num(v, 0.001, 1e6, &o->mem_gib))
        return bad_value(err, "gpu-memory-gib", "a positive number", v);
    return 0;
}

static int set_opt(struct mem_opts *o, int ch, const char *v, FILE *err)
{
    switch (ch) {
    case 'm': o->model = v; return 0;
    case 'w': o->hw = v; return 0;
    case 'd': o->dtype = v; return 0;
    case 'k': o->kv_dtype = v; return 0;
    case 'S': o->sched = v; return 0;
    case 'i': o->import = v; return 0;
    case 'I': o->id = v; return 0;
    case 'o': o->out = v; return 0;
    case 'C': o->sweep = v; return 0;
    case 'c': o->catalog = v; return 0;
    case 'A': o->a2a = true; return 0;
    case 'j': o->json = true; return 0;
    case 'f': o->force = true; return 0;
    case 'u': case 'r': case 'g': case 'G': return set_num(o, ch, v, err);
    case 't': case 'p': case 'e': case 'b': case 's': case 'l': case 'B':
        return set_int(o, ch, v, err);
    default:
        fputs(USAGE, err);
        return 2;
    }
}

static int parse_args(int argc, char **argv, struct mem_opts *o, FILE *err)
{
    int ch, rc = 0;

    *o = (struct mem_opts){ .dtype = "bf16", .tp = 1, .pp = 1, .ep = 1,
                            .sched = "vllm", .block = 16,
                            .util = 0.9, .reserve_gib = -1 };
    optind = 0;
    opterr = 0;
    while (rc == 0 && (ch = getopt_long(argc, argv, ":", longopts,
                                        NULL)) != -1) {
        if (ch == '?' || ch == ':')
            return fail(err, 2, ch == ':' ? "an option needs a value (see "
                        "llmsim memory --help)" : "unknown option (see "
                        "llmsim memory --help)");
        rc = set_opt(o, ch, optarg, err);
    }
    if (rc == 0 && optind != argc)
        return fail(err, 2, "unexpected argument (see llmsim memory --help)");
    return rc;
}

/* ---- --import-hf ----------------------------------------------------- */

/* Writes text to path through path.tmp, renamed on success. */
static int write_atomic(const char *path, const char *text,
                        struct llm_diag *d)
{
    char tmp[1200];
    FILE *f;
    bool ok;

    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    f = fopen(tmp, "w");
    if (f == NULL)
        return diag_set(d, LLM_EIO, "%s: cannot write: %s", tmp,
                        strerror(errno));
    ok = fputs(text, f) >= 0 && fputc('\n', f) != EOF;
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        remove(tmp);
        return diag_set(d, LLM_EIO, "%s: cannot write: %s", path,
                        strerror(errno));
    }
    return LLM_OK;
}

static int save_entry(const struct model *m, const struct mem_opts *o,
                      const char *path, struct llm_diag *d)
{
    char src[1200];
    cJSON *j;
    char *text;
    int rc;

    snprintf(src, sizeof(src), "Hugging Face config %s, imported by llmsim "
             "memory --import-hf", o->import);
    j = model_to_json(m, src);
    text = j ? cJSON_Print(j) : NULL;
    cJSON_Delete(j);
    if (text == NULL)
        return diag_set(d, LLM_ENOMEM, "out of memory");
    rc = write_atomic(path, text, d);
    free(text);
    return rc;
}

/* Where the entry goes: --out FILE, else DIR/ID.json for --catalog DIR
 * or the user catalog (created if missing); never the data root's own
 * catalog unless --catalog names it (issue 18). */
static int import_dest(const struct mem_opts *o, char *path, size_t n,
                       FILE *err)
{
    char user[1024];
    const char *dir = o->catalog ? o->catalog
                                 : llm_user_catalog(user, sizeof(user));
    struct llm_diag d = { 0 };

    if (o->out) {
        snprintf(path, n, "%s", o->out);
        return 0;
    }
    if (dir == NULL)
        return fail(err, 2, "--import-hf: no user catalog (set "
                    "LLMSIM_CATALOG or HOME, or give --catalog DIR or "
                    "--out FILE)");
    if (store_mkdirs(dir, &d) != LLM_OK) {
        fprintf(err, "llmsim memory: %s: cannot create: %s\n", dir, d.msg);
        return 1;
    }
    snprintf(path, n, "%s/%s.json", dir, o->id);
    return 0;
}

static int do_import(const struct mem_opts *o, FILE *out, FILE *err)
{
    struct llm_diag d = { .file = o->import };
    char path[1100], msg[1200];
    struct model m;
    cJSON *hf = NULL;
    int rc;

    if (!jcfg_name_ok(o->id))
        return fail(err, 2, "--id: expected a catalog id (" JCFG_NAME_RULE
                    "; the catalog file name)");
    if (o->out && o->catalog)
        return fail(err, 2, "--out FILE and --catalog DIR: give one");
    if (args_need_file(err, "memory", o->import))
        return 2;
    rc = jcfg_load(o->import, &hf, &d);
    if (!rc) rc = hf_to_model(hf, o->id, &m, &d);
    cJSON_Delete(hf);
    if (rc) {                    /* before any folder is made */
        diag_format(&d, msg, sizeof(msg));
        return fail(err, diag_exit_status(rc), msg);
    }
    rc = import_dest(o, path, sizeof(path), err);
    if (rc)
        return rc;
    if (!rc && !o->force && access(path, F_OK) == 0)
        rc = diag_set(&d, LLM_EINVAL, "%s exists (--force replaces it)", path);
    if (!rc) { d.file = NULL; rc = save_entry(&m, o, path, &d); }
    if (rc) {
        diag_format(&d, msg, sizeof(msg));
        return fail(err, diag_exit_status(rc), msg);
    }
    fprintf(out, "wrote %s: %s, %.2fB parameters (%.2fB per token)\n", path,
            m.id, model_params(&m) / 1e9, model_active_params(&m) / 1e9);
    return 0;
}

/* ---- the plan -------------------------------------------------------- */

static int shard_of(const struct mem_opts *o, struct shard *s, FILE *err)
{
    enum dtype w, kv;

    if (!dtype_parse(o->dtype, &w) || w == DT_FP32 || w == DT_TF32)
        return bad_value(err, "dtype", "one of bf16, fp16, fp8, int8, int4",
                         o->dtype);
    if (!dtype_parse(o->kv_dtype ? o->kv_dtype : o->dtype, &kv) ||
        kv == DT_FP32 || kv == DT_TF32)
        return bad_value(err, "kv-dtype", "one of bf16, fp16, fp8, int8, "
                         "int4, int2", o->kv_dtype ? o->kv_dtype : o->dtype);
    *s = (struct shard){ .tp = (int32_t)o->tp, .pp = (int32_t)o->pp,
                         .ep = (int32_t)o->ep, .ep_alltoall = o->a2a,
                         .w_dtype = w, .kv_dtype = kv,
                         .w_bytes = dtype_bytes(w), .a_bytes = 2,
                         .kv_bytes = dtype_bytes(kv),
                         .stage = OPS_ALL_STAGES };
    return 0;
}

static void print_json(FILE *out, const struct model *m,
                       const struct mem_plan *p, int64_t max_len)
{
    const struct { const char *key; double v; } f[] = {
        { "gpu_gib", p->gpu_bytes / GIB },
        { "weights_gib", p->weight_bytes / GIB },
        { "embedding_gib", p->w.embed / GIB },
        { "attention_gib", p->w.attn / GIB },
        { "mlp_gib", p->w.mlp / GIB }, { "experts_gib", p->w.experts / GIB },
        { "norms_gib", p->w.norms / GIB },
        { "lm_head_gib", p->w.lm_head / GIB },
        { "activations_gib", p->activation_bytes / GIB },
        { "reserve_gib", p->reserve_bytes / GIB },
        { "cuda_graph_gib", p->cuda_graph_bytes / GIB },
        { "kv_gib", p->kv_bytes / GIB }, { "block_bytes", p->block_bytes },
        { "kv_blocks", (double)p->kv_blocks },
        { "kv_tokens", (double)p->kv_tokens },
        { "max_model_len", (double)max_len }, { "limiting_stage", p->stage },
    };
    cJSON *o = cJSON_CreateObject();
    char *text;
    size_t i;

    cJSON_AddStringToObject(o, "model", m->id);
    for (i = 0; i < sizeof(f) / sizeof(f[0]); i++)
        cJSON_AddNumberToObject(o, f[i].key, f[i].v);
    text = cJSON_PrintUnformatted(o);
    if (text != NULL)
        fprintf(out, "%s\n", text);
    free(text);
    cJSON_Delete(o);
}

static void print_text(FILE *out, const struct mem_opts *o,
                       const struct model *m, const struct mem_limits *lim,
                       const struct mem_plan *p, int64_t max_len)
{
    fprintf(out, "%s on %s: tp %lld, pp %lld, ep %lld, weights %s, KV cache "
            "%s\n", m->id, o->hw, (long long)o->tp, (long long)o->pp,
            (long long)o->ep, o->dtype, o->kv_dtype ? o->kv_dtype : o->dtype);
    fprintf(out, "memory        %8.2f GiB x %.2f = %.2f GiB usable per GPU\n",
            lim->total_bytes / GIB, lim->util, p->gpu_bytes / GIB);
    fprintf(out, "weights       %8.2f GiB  (embedding %.2f, attention %.2f, "
            "MLP %.2f, experts %.2f, norms %.2f, LM head %.2f)\n",
            p->weight_bytes / GIB, p->w.embed / GIB, p->w.attn / GIB,
            p->w.mlp / GIB, p->w.experts / GIB, p->w.norms / GIB,
            p->w.lm_head / GIB);
    fprintf(out, "activations   %8.2f GiB  (profiling forward of %lld "
            "tokens; sampler of %lld rows)\n", p->activation_bytes / GIB,
            (long long)lim->token_budget, (long long)lim->max_seqs);
    fprintf(out, "non-torch     %8.2f GiB  (NCCL buffers, workspaces)\n",
            p->reserve_bytes / GIB);
    fprintf(out, "CUDA graphs   %8.2f GiB  (%s)\n", p->cuda_graph_bytes / GIB,
            p->cuda_graph_bytes > 0 ? "subtracted, as vLLM >= 0.21 does"
            : "outside the budget, as vLLM <= 0.20; --cuda-graph-gib");
    fprintf(out, "KV cache      %8.2f GiB = %lld blocks x %d tokens = %lld "
            "tokens (%.1f KiB per token per GPU)\n", p->kv_bytes / GIB,
            (long long)p->kv_blocks, lim->block_tokens,
            (long long)p->kv_tokens,
            p->block_bytes / lim->block_tokens / 1024.0);
    fprintf(out, "concurrency   %8.2f sequences of max_model_len %lld\n",
            (double)p->kv_tokens / (double)max_len, (long long)max_len);
    if (o->pp > 1)
        fprintf(out, "limiting stage %d of %lld\n", p->stage,
                (long long)o->pp);
}

static int load_inputs(const struct mem_opts *o, struct model *m,
                       struct device *dev, FILE *err)
{
    struct llm_diag d = { 0 };
    char msg[1200];
    int rc = model_find(llm_root(), o->model, m, &d);

    if (!rc) rc = device_find(llm_root(), o->hw, dev, &d);
    if (!rc)
        return 0;
    diag_format(&d, msg, sizeof(msg));
    return fail(err, diag_exit_status(rc), msg);
}

/* The token and sequence budgets: the flags where given, else those the
 * scheduler runs with by default on dev (registry_sched_limits), as
 * `llmsim run` sizes them. */
static int budgets(const struct mem_opts *o, const struct device *dev,
                   int64_t max_len, int64_t *tokens, int64_t *seqs, FILE *err)
{
    struct llm_diag d = { .file = "--scheduler" };
    const struct sched_ops *ops = registry_sched(o->sched, "scheduler", &d);
    int rc = ops ? registry_sched_limits(ops, NULL, "scheduler",
                                         (int32_t)max_len, dev->mem_bytes,
                                         dev->name, tokens, seqs, &d)
                 : LLM_EINVAL;

    if (rc) {
        char msg[1200];
        diag_format(&d, msg, sizeof(msg));
        return fail(err, diag_exit_status(rc), msg);
    }
    if (o->tokens > 0)
        *tokens = o->tokens;
    if (o->seqs > 0)
        *seqs = o->seqs;
    return 0;
}

/* --context-sweep: the plan without its max_model_len check (a context
 * that does not fit shows as 0 users), then run/ctx_sweep.h's table. */
static int do_sweep(const struct mem_opts *o, const struct model *m,
                    const struct device *dev, const struct shard *s,
                    const struct mem_limits *lim, FILE *out, FILE *err)
{
    int64_t ctx[CTX_SWEEP_MAX];
    int32_t n = 0;
    struct llm_diag d = { 0 };
    struct mem_plan p;
    int rc = ctx_sweep_parse(o->sweep, ctx, &n, &d);

    if (!rc) {
        memplan_build(m, s, lim, &p);
        rc = ctx_sweep_print(m, dev, s, &p, ctx, n, o->json, out, &d);
    }
    return rc ? fail(err, diag_exit_status(rc), d.msg) : 0;
}

static int do_plan(const struct mem_opts *o, FILE *out, FILE *err)
{
    struct llm_diag d = { 0 };
    struct model m;
    struct device dev;
    struct shard s;
    struct mem_plan p;
    struct mem_limits lim;
    int64_t tok = 0, seqs = 0;
    int rc = load_inputs(o, &m, &dev, err);

    if (!rc) rc = shard_of(o, &s, err);
    if (!rc) rc = budgets(o, &dev, o->max_len ? o->max_len : m.max_context,
                          &tok, &seqs, err);
    if (rc)
        return rc;
    lim = (struct mem_limits){
        .total_bytes = o->mem_gib > 0 ? o->mem_gib * GIB : dev.mem_bytes,
        .util = o->util, .token_budget = tok, .max_seqs = seqs,
        .block_tokens = (int32_t)o->block,
        .reserve_bytes = o->reserve_gib >= 0 ? o->reserve_gib * GIB : -1,
        .cuda_graph_bytes = o->graph_gib * GIB };
    rc = ops_check_shard(&m, &s, &d);
    if (!rc && o->sweep)
        return do_sweep(o, &m, &dev, &s, &lim, out, err);
    if (!rc) rc = memplan_check(&m, &s, &lim, o->max_len ? o->max_len
                                : m.max_context, dev.id, &p, &d);
    if (rc)
        return fail(err, diag_exit_status(rc), d.msg);
    if (o->json)
        print_json(out, &m, &p, o->max_len ? o->max_len : m.max_context);
    else
        print_text(out, o, &m, &lim, &p,
                   o->max_len ? o->max_len : m.max_context);
    return 0;
}

int cmd_memory_io(int argc, char **argv, FILE *out, FILE *err)
{
    struct mem_opts o;
    int rc;

    if (args_want_help(argc, argv) ||
        (argc == 2 && strcmp(argv[1], "help") == 0)) {
        fputs(USAGE, out);
        return 0;
    }
    rc = parse_args(argc, argv, &o, err);
    if (rc)
        return rc;
    if (o.import != NULL || o.id != NULL) {
        if (o.import == NULL || o.model != NULL || o.hw != NULL)
            return fail(err, 2, "--import-hf CONFIG.json --id NAME goes "
                        "without --model and --hw");
        return do_import(&o, out, err);
    }
    if (o.model == NULL || o.hw == NULL) {
        fputs(USAGE, err);
        return 2;
    }
    return do_plan(&o, out, err);
}

int cmd_memory(int argc, char **argv)
{
    return cmd_memory_io(argc, argv, stdout, stderr);
}
