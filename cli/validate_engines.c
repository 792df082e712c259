#include "cli/validate_engines.h"

#include <dirent.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/calibrate.h"
#include "cli/step.h"
#include "hw/device.h"
#include "hw/engine_fit.h"
#include "models/model.h"
#include "models/ops.h"
#include "base/paths.h"

#define OWN_MAPE 5.0
#define OWN_MAX 15.0
#define TRANSFER_MAPE 8.0

const char *const validate_engines_calib[VALIDATE_ENGINES_NCALIB] = {
    "{\"prefill\":[[128,0]]}",
    "{\"prefill\":[[512,0]]}",
    "{\"prefill\":[[2048,0]]}",
    "{\"prefill\":[[8192,0]]}",
    "{\"prefill\":[[1024,0],[1024,0],[1024,0],[1024,0]]}",
    "{\"decode\":[[1,1024]]}",
    "{\"decode\":[[32,512]]}",
    "{\"decode\":[[128,2048]]}",
    "{\"decode\":[[256,1024]]}",
    "{\"prefill\":[[512,0]],\"decode\":[[64,512]]}",
    "{\"prefill\":[[256,3840]],\"decode\":[[64,1024]]}",
    "{\"prefill\":[[2048,0]],\"decode\":[[128,512]]}",
};

/* Sequences of b at context ctx. */
static int64_t count_at(const struct batch *b, int32_t ctx)
{
    int64_t n = 0;

    for (size_t i = 0; i < b->n_decode; i++)
        n += b->decode[i].ctx == ctx ? b->decode[i].count : 0;
    return n;
}

static bool same_batch(const struct batch *a, const struct batch *b)
{
    size_t i;

    if (a->n_prefill != b->n_prefill || a->decode_seqs != b->decode_seqs ||
        a->decode_ctx_sum != b->decode_ctx_sum)
        return false;
    for (i = 0; i < a->n_prefill; i++)
        if (a->prefill[i].tokens != b->prefill[i].tokens ||
            a->prefill[i].prior != b->prefill[i].prior)
            return false;
    for (i = 0; i < a->n_decode; i++)
        if (count_at(a, a->decode[i].ctx) != count_at(b, a->decode[i].ctx))
            return false;
    return true;
}

bool validate_engines_is_calib(const struct batch *b)
{
    struct batch c;
    bool hit = false;

    batch_init(&c);
    for (int i = 0; i < VALIDATE_ENGINES_NCALIB && !hit; i++) {
        struct llm_diag d = { 0 };
        cJSON *o = cJSON_Parse(validate_engines_calib[i]);
        hit = step_parse_batch(o, &c, &d) == LLM_OK && same_batch(&c, b);
        cJSON_Delete(o);
    }
    batch_free(&c);
    return hit;
}

/* One measured file: its lines, model and tp (from the name). */
struct mfile {
    char path[1400], model[64];
    int tp;
    struct fit_line *lines;
    size_t n;
};

static int name_model(const char *file, char *model, size_t len, int *tp)
{
    const char *dot = strrchr(file, '.'), *t;
    size_t n;

    if (dot == NULL || strcmp(dot, ".jsonl") != 0)
        return -1;
    n = (size_t)(dot - file);
    *tp = 1;
    t = strstr(file, "_tp");
    if (t != NULL && t < dot) {
        *tp = atoi(t + 3);
        n = (size_t)(t - file);
    }
    if (n == 0 || n >= len || *tp < 1)
        return -1;
    snprintf(model, len, "%.*s", (int)n, file);
    return 0;
}

struct vctx {
    const char *root;
    FILE *md;
    bool quiet;
    int missed, cases, partial;
};

static int open_file(struct mfile *f, struct llm_diag *d)
{
    FILE *in = fopen(f->path, "r");
    int rc;

    if (in == NULL)
        return diag_set(d, LLM_EINVAL, "%s: cannot open", f->path);
    rc = calibrate_read(in, f->path, &f->lines, &f->n, d);
    fclose(in);
    return rc;
}

static int env_for(const struct mfile *f, const char *device,
                   struct model *m, struct device *dev, struct cost_env *env,
                   struct llm_diag *d)
{
    int rc = model_find(llm_root(), f->model, m, d);

    if (!rc) rc = device_find(llm_root(), device, dev, d);
    *env = (struct cost_env){ .model = m, .dev = dev, .root = llm_root(),
        .shard = { .tp = f->tp, .w_bytes = 2, .a_bytes = 2, .kv_bytes = 2 } };
    if (!rc) rc = ops_check_shard(m, &env->shard, d);
    return rc;
}

/* Lines split into the twelve and the rest (copies of the structs; the
 * batches stay owned by f). */
static size_t split(const struct mfile *f, struct fit_line *cal,
                    struct fit_line *rest, size_t *n_rest)
{
    size_t nc = 0;

    *n_rest = 0;
    for (size_t i = 0; i < f->n; i++) {
        if (validate_engines_is_calib(&f->lines[i].b))
            cal[nc++] = f->lines[i];
        else
            rest[(*n_rest)++] = f->lines[i];
    }
    return nc;
}

static void errors(const struct fit_line *l, const double *ms, size_t n,
                   double *mape, double *max)
{
    *mape = *max = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs(ms[i] / l[i].ms - 1) * 100;
        *mape += e / (double)n;
        *max = e > *max ? e : *max;
    }
}

/* One case; partial: calibrated from fewer than the twelve shapes (a
 * result, but not the protocol's: never counted as met). */
static void row(struct vctx *v, const char *dev, const char *eng,
                const char *what, size_t n, double mape, double max,
                bool ok, bool partial, const struct engine *e)
{
    const char *verdict = partial ? "part" : ok ? "ok" : "MISS";
    char st[160];

    snprintf(st, sizeof(st), "%s/%s/%s/%s", engine_elem_name(e->elem),
             e->qkv_separate ? "sep" : "fused", engine_attn_name(e->prefill),
             engine_attn_name(e->decode));
    printf("%-15s %-14s %-34s %4zu  %6.2f%% %7.2f%%  %-4s %s\n", dev, eng,
           what, n, mape, max, verdict, st);
    if (v->md)
        fprintf(v->md, "| %s | %s | %s | %zu | %.2f%% | %.2f%% | %s | %s |\n",
                dev, eng, what, n, mape, max, partial ? "not the protocol "
                "(fewer shapes)" : ok ? "met" : "**missed**", st);
    v->cases++;
    v->missed += !ok && !partial;
    v->partial += partial;
}

/* Calibrate on f's twelve shapes; predict f's rest; *fit out. */
static int own(struct vctx *v, const char *device, const char *eng,
               struct mfile *f, struct fit_result *fit, struct llm_diag *d)
{
    struct fit_line *cal = calloc(f->n + 1, sizeof(*cal));
    struct fit_line *rest = calloc(f->n + 1, sizeof(*rest));
    struct model m;
    struct device dev;
    struct cost_env env;
    struct engine base;
    double *ms = calloc(f->n + 1, sizeof(double)), mape, max;
    size_t nc, nr;
    char what[96];
    int rc = cal && rest && ms ? LLM_OK : diag_set(d, LLM_ENOMEM, "out of "
                                                   "memory");

    engine_reference(&base);
    if (!rc) rc = env_for(f, device, &m, &dev, &env, d);
    nc = rc ? 0 : split(f, cal, rest, &nr);
    if (!rc && nc < FIT_MIN_LINES) {
        printf("%-15s %-14s %-34s holds %zu of the %d shapes: too few to "
               "calibrate\n", device, eng, f->model, nc,
               VALIDATE_ENGINES_NCALIB);
        v->partial++;
        goto out;
    }
    if (!rc) rc = engine_fit(&env, &base, FIT_ALL, cal, nc, fit, d);
    if (!rc) rc = engine_predict(&env, &fit->e, rest, nr, ms, d);
    if (!rc) {
        bool part = nc < VALIDATE_ENGINES_NCALIB;
        errors(rest, ms, nr, &mape, &max);
        snprintf(what, sizeof(what), part ? "%s tp%d (%zu of 12 shapes)" :
                 "%s tp%d", f->model, f->tp, nc);
        row(v, device, eng, what, nr, mape, max,
            mape <= OWN_MAPE && max <= OWN_MAX, part, &fit->e);
    }
out:
    free(cal);
    free(rest);
    free(ms);
    return rc;
}

/* The llama-3-8b tp 1 profile e on every line of f. */
static int transfer(struct vctx *v, const char *device, const char *eng,
                    const struct engine *e, bool part, struct mfile *f,
                    struct llm_diag *d)
{
    struct model m;
    struct device dev;
    struct cost_env env;
    double *ms = calloc(f->n + 1, sizeof(double)), mape, max;
    char what[96];
    int rc = ms ? env_for(f, device, &m, &dev, &env, d)
                : diag_set(d, LLM_ENOMEM, "out of memory");

    if (!rc) rc = engine_predict(&env, e, f->lines, f->n, ms, d);
    if (!rc) {
        errors(f->lines, ms, f->n, &mape, &max);
        snprintf(what, sizeof(what), "8b tp1 -> %s tp%d", f->model, f->tp);
        row(v, device, eng, what, f->n, mape, max, mape <= TRANSFER_MAPE,
            part, e);
    }
    free(ms);
    return rc;
}

static int engine_dir(struct vctx *v, const char *device, const char *eng,
                      const char *dir, struct llm_diag *d)
{
    struct dirent **list = NULL;
    struct mfile *files;
    struct fit_result base = { 0 };
    int n = scandir(dir, &list, NULL, alphasort), nf = 0, i, rc = LLM_OK;
    int src = -1;

    files = calloc(n > 0 ? (size_t)n : 1, sizeof(*files));
    for (i = 0; i < n; i++) {
        struct mfile *f = &files[nf];
        if (files && name_model(list[i]->d_name, f->model, sizeof(f->model),
                                &f->tp) == 0) {
            snprintf(f->path, sizeof(f->path), "%s/%s", dir,
                     list[i]->d_name);
            nf++;
        }
        free(list[i]);
    }
    free(list);
    for (i = 0; files && rc == LLM_OK && i < nf; i++)
        rc = open_file(&files[i], d);
    for (i = 0; files && rc == LLM_OK && i < nf; i++) {
        struct fit_result fit = { 0 };
        if (files[i].tp != 1)
            continue;
        rc = own(v, device, eng, &files[i], &fit, d);
        if (rc == LLM_OK && strcmp(files[i].model, "llama-3-8b") == 0) {
            base = fit;
            src = i;
        } else {
            fit_result_free(&fit);
        }
    }
    for (i = 0; files && rc == LLM_OK && src >= 0 && i < nf; i++)
        if (i != src)
            rc = transfer(v, device, eng, &base.e,
                          base.n < VALIDATE_ENGINES_NCALIB, &files[i], d);
    fit_result_free(&base);
    for (i = 0; files && i < nf; i++)
        calibrate_free(files[i].lines, files[i].n);
    free(files);
    return rc;
}

/* Every <device>/engines/<engine>/ under root. */
static int walk(struct vctx *v, struct llm_diag *d)
{
    struct dirent **devs = NULL;
    int nd = scandir(v->root, &devs, NULL, alphasort), rc = LLM_OK;

    for (int i = 0; i < nd; i++) {
        char edir[1600];
        struct dirent **engs = NULL;
        int ne;
        snprintf(edir, sizeof(edir), "%s/%s/engines", v->root,
                 devs[i]->d_name);
        ne = devs[i]->d_name[0] == '.' ? -1 :
             scandir(edir, &engs, NULL, alphasort);
        for (int j = 0; j < ne; j++) {
            char dir[2000];
            snprintf(dir, sizeof(dir), "%s/%s", edir, engs[j]->d_name);
            if (rc == LLM_OK && engs[j]->d_name[0] != '.')
                rc = engine_dir(v, devs[i]->d_name, engs[j]->d_name, dir, d);
            free(engs[j]);
        }
        free(engs);
        free(devs[i]);
    }
    free(devs);
    return rc;
}

int cmd_validate_engines(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "markdown", required_argument, NULL, 'm' },
        { "quiet", no_argument, NULL, 'q' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    char def[1200], msg[1200];
    const char *md = NULL;
    struct vctx v = { 0 };
    struct llm_diag d = { 0 };
    int ch, rc;

    optind = 1;
    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        if (ch == 'm')
            md = optarg;
        else if (ch == 'q')
            v.quiet = true;
        else {
            fprintf(ch == 'h' ? stdout : stderr, "usage: llmsim "
                    "validate-engines [DIR] [--markdown FILE] [--quiet]\n");
            return ch == 'h' ? 0 : 2;
        }
    }
    if (argc - optind > 1) {
        fprintf(stderr, "usage: llmsim validate-engines [DIR] "
                "[--markdown FILE] [--quiet]\n");
        return 2;
    }
    /* a folder named that cannot be read is bad input (cli/args.h) */
    if (optind < argc && args_need_path(stderr, "validate-engines",
                                        argv[optind]))
        return 2;
    snprintf(def, sizeof(def), "%s/hw/calib/data", llm_root());
    v.root = optind < argc ? argv[optind] : def;
    if (md && (v.md = fopen(md, "w")) == NULL) {
        fprintf(stderr, "llmsim validate-engines: cannot write %s\n", md);
        return 1;
    }
    if (v.md)
        fprintf(v.md, "| device | engine | calibrated -> predicted | "
                "batches | MAPE | max | targets | structure fitted |\n"
                "|---|---|---|---|---|---|---|---|\n");
    printf("%-15s %-14s %-34s %4s  %7s %8s\n", "device", "engine", "case",
           "n", "MAPE", "max");
    rc = walk(&v, &d);
    if (v.md)
        fclose(v.md);
    if (rc) {
        diag_format(&d, msg, sizeof(msg));
        fprintf(stderr, "llmsim validate-engines: %s\n", msg);
        return diag_exit_status(rc);
    }
    printf("%d cases, %d miss a target (own model: MAPE <= %.0f%%, max <= "
           "%.0f%%; transfer: MAPE <= %.0f%%), %d not the protocol (fewer "
           "than the 12 calibration shapes measured)\n", v.cases, v.missed,
           OWN_MAPE, OWN_MAX, TRANSFER_MAPE, v.partial);
    return v.missed || v.partial || v.cases == 0 ? 1 : 0;
}
