#include "cli/validate.h"

#include <dirent.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/step.h"
#include "hw/cost.h"
#include "base/jcfg.h"
#include "base/paths.h"

#define MAPE_TARGET 5.0
#define MAX_TARGET 15.0

enum { CLS_PREFILL, CLS_DECODE, CLS_MIXED, CLS_N };
static const char *const cls_names[CLS_N] = { "prefill", "decode", "mixed" };

struct tally {
    double sum_ape[CLS_N], max_ape;
    int n[CLS_N];
};

struct vctx {
    const char *cost;          /* cost model name */
    FILE *md;                  /* markdown output or NULL */
    int verbose;
    int failed;
};

static int class_of(const char *s)
{
    int i;

    for (i = 0; i < CLS_N; i++)
        if (s && strcmp(s, cls_names[i]) == 0)
            return i;
    return CLS_MIXED;
}

/* Prices every measured batch of one file; fills t. */
static int validate_file(struct vctx *v, const char *path,
                         struct cost_model *cm, struct tally *t)
{
    FILE *f = fopen(path, "r");
    char *line = NULL;
    size_t cap = 0;
    long lineno = 0;
    struct batch b;
    int rc = 0;

    if (f == NULL) {
        fprintf(stderr, "llmsim validate: cannot open %s\n", path);
        return 2;
    }
    batch_init(&b);
    while (getline(&line, &cap, f) != -1) {
        struct llm_diag d = { 0 };
        struct cost_breakdown bd;
        cJSON *o = cJSON_Parse(line), *ms, *cls, *bj;
        double pred, err;
        char *bs;
        lineno++;
        if (o == NULL || cJSON_GetObjectItem(o, "provenance")) {
            cJSON_Delete(o);
            continue;
        }
        ms = cJSON_GetObjectItem(o, "ms");
        cls = cJSON_GetObjectItem(o, "class");
        bj = cJSON_GetObjectItem(o, "batch");
        if (!cJSON_IsNumber(ms) || jcfg_check_dups(o, "", &d) != LLM_OK ||
            step_parse_batch(bj, &b, &d) != LLM_OK) {
            fprintf(stderr, "llmsim validate: %s:%ld: %s\n", path, lineno,
                    d.code ? d.msg : "expected \"ms\" and \"batch\"");
            cJSON_Delete(o);
            rc = 2;
            continue;
        }
        cost_price(cm, &b, &bd);
        pred = (double)bd.total_ns / 1e6;
        err = 100.0 * (pred - ms->valuedouble) / ms->valuedouble;
        t->sum_ape[class_of(cJSON_GetStringValue(cls))] += fabs(err);
        t->n[class_of(cJSON_GetStringValue(cls))]++;
        t->max_ape = fmax(t->max_ape, fabs(err));
        bs = cJSON_PrintUnformatted(bj);
        if (v->verbose)
            printf("  %-8s %9.3f %9.3f %+7.2f%%  %s\n",
                   cJSON_GetStringValue(cls) ? cJSON_GetStringValue(cls) : "?",
                   ms->valuedouble, pred, err, bs);
        free(bs);
        cJSON_Delete(o);
    }
    free(line);
    batch_free(&b);
    fclose(f);
    return rc;
}

static void report(struct vctx *v, const char *dev, const char *model,
                   const struct tally *t)
{
    double all = 0;
    int n = 0, i;
    bool ok;

    for (i = 0; i < CLS_N; i++) {
        all += t->sum_ape[i];
        n += t->n[i];
    }
    all = n ? all / n : 0;
    ok = all <= MAPE_TARGET && t->max_ape <= MAX_TARGET;
    v->failed |= !ok;
    printf("%s %s: %d batches, MAPE %.2f%% (", dev, model, n, all);
    for (i = 0; i < CLS_N; i++)
        printf("%s%s %.2f%% of %d", i ? ", " : "", cls_names[i],
               t->n[i] ? t->sum_ape[i] / t->n[i] : 0, t->n[i]);
    printf("), max %.2f%%: %s\n", t->max_ape, ok ? "meets the targets"
                                                 : "MISSES the targets");
    if (v->md)
        fprintf(v->md, "| %s | %s | %d | %.2f | %.2f | %.2f | %.2f | %.2f |\n",
                dev, model, n, all,
                t->n[0] ? t->sum_ape[0] / t->n[0] : 0,
                t->n[1] ? t->sum_ape[1] / t->n[1] : 0,
                t->n[2] ? t->sum_ape[2] / t->n[2] : 0, t->max_ape);
}

/* Every ref_<model>.jsonl of one folder (a device's, or one of its
 * heldout-* folders: measurements taken on another machine of the same
 * kind, priced with this device's tables). */
static int validate_dir(struct vctx *v, const char *root, const char *dev,
                        const char *dir, const char *label)
{
    char path[1500], model[256], *us, mlabel[300];
    struct dirent **ents = NULL;
    int n = -1, i, rc = 0, tp;

    n = scandir(dir, &ents, NULL, alphasort);
    for (i = 0; i < n; i++) {
        const char *e = ents[i]->d_name;
        size_t len = strlen(e);
        struct llm_diag d = { 0 };
        struct model m;
        struct device hw;
        struct cost_model *cm = NULL;
        struct cost_env env;
        struct tally t = { 0 };
        cJSON *params;
        if (strncmp(e, "ref_", 4) != 0 || len < 11 ||
            strcmp(e + len - 6, ".jsonl") != 0)
            continue;
        snprintf(model, sizeof(model), "%.*s", (int)(len - 10), e + 4);
        snprintf(path, sizeof(path), "%s/%s", dir, e);
        tp = 1;
        /* ref_<model>_tp<N>.jsonl: a tensor-parallel reference run */
        us = strrchr(model, '_');
        if (us && strncmp(us, "_tp", 3) == 0 && atoi(us + 3) > 0) {
            tp = atoi(us + 3);
            *us = '\0';
        }
        if (model_find(root, model, &m, &d) || device_find(root, dev, &hw, &d)) {
            fprintf(stderr, "llmsim validate: %s: %s\n", path, d.msg);
            rc = 2;
            continue;
        }
        env = (struct cost_env){ .model = &m, .dev = &hw, .root = root,
            .shard = { .tp = tp, .w_bytes = 2, .a_bytes = 2, .kv_bytes = 2 } };
        params = cJSON_CreateObject();
        cJSON_AddStringToObject(params, "name", v->cost);
        if (cost_create(&env, params, "cost_model", &cm, &d) == LLM_OK) {
            if (v->verbose)
                printf("%s %s (%s cost model): class, measured ms, "
                       "predicted ms, error, batch\n", dev, model, v->cost);
            rc |= validate_file(v, path, cm, &t);
            snprintf(mlabel, sizeof(mlabel), tp > 1 ? "%s tp%d" : "%s", model,
                     tp);
            report(v, label, mlabel, &t);
        } else {
            fprintf(stderr, "llmsim validate: %s\n", d.msg);
            rc = 2;
        }
        cost_destroy(cm);
        cJSON_Delete(params);
    }
    for (i = 0; i < n; i++)
        free(ents[i]);
    free(ents);
    return rc;
}

static int validate_device(struct vctx *v, const char *root, const char *dev)
{
    char dir[1200], sub[1500], label[600];
    struct dirent **ents = NULL;
    int n, i, rc;

    snprintf(dir, sizeof(dir), "%s/hw/calib/data/%s", root, dev);
    rc = validate_dir(v, root, dev, dir, dev);
    n = scandir(dir, &ents, NULL, alphasort);
    for (i = 0; i < n; i++) {
        if (strncmp(ents[i]->d_name, "heldout-", 8) == 0 ||
            (strncmp(ents[i]->d_name, "tp", 2) == 0 &&
             atoi(ents[i]->d_name + 2) > 1)) {
            snprintf(sub, sizeof(sub), "%s/%s", dir, ents[i]->d_name);
            snprintf(label, sizeof(label), "%s/%s", dev, ents[i]->d_name);
            rc |= validate_dir(v, root, dev, sub, label);
        }
        free(ents[i]);
    }
    free(ents);
    return rc;
}

static void validate_usage(FILE *f)
{
    fprintf(f, "usage: llmsim validate [--cost NAME] [--markdown FILE] "
            "[--quiet]\n"
            "  prices every measured GPU iteration of hw/calib/data and "
            "prints the error;\n"
            "  exit 1 when a device misses MAPE <= %.0f%% or max <= %.0f%%\n",
            MAPE_TARGET, MAX_TARGET);
}

int cmd_validate(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "markdown", required_argument, NULL, 'm' },
        { "cost", required_argument, NULL, 'c' },
        { "quiet", no_argument, NULL, 'q' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    struct vctx v = { .cost = "calibrated", .verbose = 1 };
    const char *root = llm_root(), *md = NULL;
    char dir[1200];
    struct dirent **ents = NULL;
    int n, i, ch, rc = 0;

    optind = 1;
    while ((ch = getopt_long(argc, argv, "m:c:qh", longopts, NULL)) != -1) {
        if (ch == 'm') md = optarg;
        else if (ch == 'c') v.cost = optarg;
        else if (ch == 'q') v.verbose = 0;
        else if (ch == 'h') { validate_usage(stdout); return 0; }
        else { validate_usage(stderr); return 2; }
    }
    if (optind != argc) {
        validate_usage(stderr);
        return 2;
    }
    if (md && (v.md = fopen(md, "w")) == NULL) {
        fprintf(stderr, "llmsim validate: cannot write %s\n", md);
        return 1;
    }
    if (v.md)
        fprintf(v.md, "| device | model | batches | MAPE %% | prefill %% | "
                "decode %% | mixed %% | max %% |\n|---|---|---:|---:|---:|"
                "---:|---:|---:|\n");
    snprintf(dir, sizeof(dir), "%s/hw/calib/data", root);
    n = scandir(dir, &ents, NULL, alphasort);
    for (i = 0; i < n; i++) {
        if (ents[i]->d_name[0] != '.')
            rc |= validate_device(&v, root, ents[i]->d_name);
        free(ents[i]);
    }
    free(ents);
    if (v.md)
        fclose(v.md);
    if (n < 0) {
        fprintf(stderr, "llmsim validate: no measurements in %s\n", dir);
        return 2;
    }
    return rc ? rc : v.failed;
}
