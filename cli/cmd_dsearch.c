#include "cli/cmd_dsearch.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "run/dsearch.h"

static const char *status_name(enum plan_status s)
{
    return s == PLAN_OK ? "ok" : s == PLAN_UNBOUNDED ? ">= (max rate)" :
           s == PLAN_NONE ? "fails at min rate" : "infeasible";
}

static void print_row(const char *what, const struct dsearch_result *r)
{
    printf("%-24s %4d %10.6g %10.6g %12.4g  %s\n", what, r->c.gpus,
           r->rate_req_s, r->fail_req_s, r->per_gpu, status_name(r->status));
}

static int parse_tps(const char *s, struct dsearch_grid *g)
{
    char *end;

    g->n_tps = 0;
    while (*s && g->n_tps < DSEARCH_MAX_TPS) {
        long v = strtol(s, &end, 10);

        if (end == s || v < 1 || v > 64 || (*end && *end != ','))
            return -1;
        g->tps[g->n_tps++] = (int32_t)v;
        s = *end ? end + 1 : end;
    }
    return *s ? -1 : 0;
}

static int usage_to(FILE *f, int status)
{
    fprintf(f, "usage: llmsim disagg-search CONFIG [--max-gpus N] "
            "[--tp 1,2,4] [--max-replicas N] [--start R] [--min-rate R] "
            "[--max-rate R] [--rel-tol X] [--attain X] [--baseline] "
            "[--out DIR] [--set key.path=value]...\n");
    return status;
}

static int usage(void)
{
    return usage_to(stderr, 2);
}

static int search(struct dsearch_ctx *x, const struct dsearch_grid *g,
                  const struct plan_search *s, bool baseline,
                  struct llm_diag *d)
{
    struct dsearch_result r[256];
    size_t n = 0, best = 0, i;
    char what[64];
    int rc;

    printf("%-24s %4s %10s %10s %12s  %s\n", "placement (tp x n)", "gpus",
           "pass req/s", "fail req/s", "req/s/GPU", "status");
    if (baseline) {
        rc = dsearch_baseline(x, s, &r[0], d);
        if (rc == LLM_OK)
            print_row("as configured", &r[0]);
        return rc;
    }
    rc = dsearch_run(g, s, dsearch_eval_scenario, x, r, 256, &n, &best, d);
    for (i = 0; rc == LLM_OK && i < n; i++) {
        snprintf(what, sizeof(what), "P %dx%d + D %dx%d", r[i].c.prefill_tp,
                 r[i].c.prefill_n, r[i].c.decode_tp, r[i].c.decode_n);
        print_row(what, &r[i]);
    }
    if (rc == LLM_OK && best < n)
        printf("best: prefill tp%d x %d, decode tp%d x %d: %.4g req/s on %d "
               "GPUs = %.4g req/s per GPU\n", r[best].c.prefill_tp,
               r[best].c.prefill_n, r[best].c.decode_tp, r[best].c.decode_n,
               r[best].rate_req_s, r[best].c.gpus, r[best].per_gpu);
    else if (rc == LLM_OK)
        printf("best: none passes at the minimum rate\n");
    return rc;
}

int cmd_dsearch(int argc, char **argv)
{
    static const struct option opts[] = {
        { "max-gpus", required_argument, NULL, 'g' },
        { "tp", required_argument, NULL, 't' },
        { "max-replicas", required_argument, NULL, 'r' },
        { "start", required_argument, NULL, 's' },
        { "min-rate", required_argument, NULL, 'm' },
        { "max-rate", required_argument, NULL, 'M' },
        { "rel-tol", required_argument, NULL, 'e' },
        { "attain", required_argument, NULL, 'a' },
        { "baseline", no_argument, NULL, 'b' },
        { "out", required_argument, NULL, 'o' },
        { "set", required_argument, NULL, 'S' },
        { NULL, 0, NULL, 0 } };
    struct dsearch_grid g = { .max_gpus = 4, .max_replicas = 4,
                              .tps = { 1, 2 }, .n_tps = 2 };
    struct plan_search s = { .start = 1, .min_scale = 0.05,
                             .max_scale = 64, .rel_tol = 0.02,
                             .max_steps = 24 };
    struct dsearch_ctx x = { .out_dir = "out/disagg-search/run",
                             .attain = 0.9 };
    struct llm_diag d = { 0 };
    const char **sets = calloc((size_t)argc + 1, sizeof(*sets));
    char msg[1200];
    bool baseline = false;
    int c, ns = 0, rc;

    if (sets == NULL)
        return 1;
    if (args_want_help(argc, argv)) {
        free(sets);
        return usage_to(stdout, 0);
    }
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'g': g.max_gpus = atoi(optarg); break;
        case 't': if (parse_tps(optarg, &g)) { free(sets); return usage(); }
                  break;
        case 'r': g.max_replicas = atoi(optarg); break;
        case 's': s.start = atof(optarg); break;
        case 'm': s.min_scale = atof(optarg); break;
        case 'M': s.max_scale = atof(optarg); break;
        case 'e': s.rel_tol = atof(optarg); break;
        case 'a': x.attain = atof(optarg); break;
        case 'b': baseline = true; break;
        case 'o': x.out_dir = optarg; break;
        case 'S': sets[ns++] = optarg; break;
        default: free(sets); return usage();
        }
    }
    if (optind != argc - 1 || g.max_gpus < 2 || g.max_replicas < 1 ||
        s.start <= 0 || s.min_scale <= 0 || s.max_scale < s.start ||
        s.rel_tol <= 0 || x.attain <= 0 || x.attain > 1) {
        free(sets);
        return usage();
    }
    x.config = argv[optind];
    if (args_need_file(stderr, "disagg-search", x.config)) {
        free(sets);
        return 2;
    }
    x.sets = sets;
    d.file = x.config;
    rc = dsearch_ctx_init(&x, !baseline, &d);
    if (rc == LLM_OK)
        rc = search(&x, &g, &s, baseline, &d);
    dsearch_ctx_free(&x);
    free(sets);
    if (rc != LLM_OK) {
        diag_format(&d, msg, sizeof(msg));
        fprintf(stderr, "llmsim: %s\n", msg);
        return diag_exit_status(rc);
    }
    return 0;
}
