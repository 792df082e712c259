#include "cli/cmd_plan.h"

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli/args.h"
#include "run/plan.h"

static void plan_usage(FILE *f)
{
    fprintf(f, "usage: llmsim plan PLAN.json [-j N] [--out DIR] "
               "[--engine ID|FILE] [--quiet]\n");
}

/* The plan, then (unless quiet) its ranked table and closing line. */
static int run_plan(const char *file, const char *out, const char *engine,
                    int64_t jobs, bool quiet)
{
    struct plan_job j = { 0 };
    struct llm_diag d = { 0 };
    char msg[1400];
    int rc = plan_job_run(&j, file, out, engine, jobs, quiet ? NULL : stdout,
                          &d);

    if (!rc && !quiet) {
        printf("\n");
        plan_print_table(stdout, &j.p, j.res, j.n_res);
        printf("\nplan %s: target %g req/s; report %s/report.md, runs %s\n",
               j.p.sw.name, j.p.target_req_s, j.out, j.db_path);
    }
    if (rc) {
        diag_format(&d, msg, sizeof(msg));
        fprintf(stderr, "llmsim plan: %s\n", msg);
    }
    plan_job_free(&j);
    return diag_exit_status(rc);
}

int cmd_plan(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "jobs", required_argument, NULL, 'j' },
        { "out", required_argument, NULL, 'o' },
        { "engine", required_argument, NULL, 'E' },
        { "quiet", no_argument, NULL, 'q' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    const char *out = NULL, *engine = NULL;
    int64_t jobs = 0;
    bool quiet = false;
    char *end;
    int ch;

    optind = 1;
    while ((ch = getopt_long(argc, argv, "j:o:qh", longopts, NULL)) != -1) {
        switch (ch) {
        case 'j':
            jobs = strtoll(optarg, &end, 10);
            if (*end != '\0' || jobs < 1 || jobs > 1024) {
                fprintf(stderr, "llmsim plan: -j: expected an integer in "
                        "[1, 1024], got \"%s\"\n", optarg);
                return 2;
            }
            break;
        case 'o': out = optarg; break;
        case 'E': engine = optarg; break;
        case 'q': quiet = true; break;
        case 'h': plan_usage(stdout); return 0;
        default: plan_usage(stderr); return 2;
        }
    }
    if (optind != argc - 1) {
        plan_usage(stderr);
        return 2;
    }
    if (args_need_file(stderr, "plan", argv[optind]))
        return 2;
    return run_plan(argv[optind], out, engine, jobs, quiet);
}
