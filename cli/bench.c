/* cli/bench.c: `llmsim bench [CONFIG]`: speed and memory of a whole run.
 *
 * Runs a scenario (default configs/bench.json: 1,000,000 synthetic
 * requests) end to end, results database included, and prints simulated
 * requests and events per wall-clock second and the peak resident set.
 * It prints figures; it never passes or fails on them.  On a terminal
 * it shows the run's progress on stderr (cli/progress.h) unless --quiet. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "cli/args.h"
#include "cli/bench.h"
#include "cli/run.h"
#include "sim/paths.h"

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void bench_usage(FILE *f)
{
    fprintf(f, "usage: llmsim bench [CONFIG] [--quiet]\n"
            "  runs CONFIG (default configs/bench.json: 1,000,000 requests, "
            "results\n  database included) and prints simulated requests "
            "and events per second\n  and the peak resident set; a "
            "progress line on stderr when that is a\n  terminal, unless "
            "--quiet\n");
}

/* The config (NULL: the default) and --quiet; 0, 1 (--help) or 2. */
static int bench_args(int argc, char **argv, const char **path,
                      bool *quiet)
{
    int i;

    *path = NULL;
    *quiet = false;
    if (args_want_help(argc, argv)) {
        bench_usage(stdout);
        return 1;
    }
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quiet") == 0) {
            *quiet = true;
        } else if (argv[i][0] == '-' || *path != NULL) {
            bench_usage(stderr);
            return 2;
        } else {
            *path = argv[i];
        }
    }
    return 0;
}

int cmd_bench(int argc, char **argv)
{
    char def[1024], msg[1200];
    const char *path;
    struct run_opts o = { .out_dir = "out/bench", .quiet = 1 };
    struct llm_diag d = { 0 };
    struct sim_stats st;
    struct scenario sc;
    struct rusage ru;
    cJSON *summary = NULL;
    double t0, wall;
    bool quiet;
    int rc = bench_args(argc, argv, &path, &quiet);

    if (rc)
        return rc == 1 ? 0 : 2;
    o.progress = !quiet && isatty(STDERR_FILENO);
    if (path == NULL)
        path = def;
    snprintf(def, sizeof(def), "%s/configs/bench.json", llm_root());
    if (args_need_path(stderr, "bench", path))
        return 2;
    rc = scenario_load(path, NULL, &sc, &d);
    t0 = now_s();
    if (rc == LLM_OK)
        rc = run_scenario(&sc, &o, &summary, &st, &d);
    wall = now_s() - t0;
    if (rc != LLM_OK) {
        diag_format(&d, msg, sizeof(msg));
        fprintf(stderr, "llmsim bench: %s\n", msg);
        scenario_free(&sc);
        return diag_exit_status(rc);
    }
    getrusage(RUSAGE_SELF, &ru);
    printf("bench %s: %lld requests, %lld iterations, %lld events in %.2f s "
           "wall (results database included)\n", path,
           (long long)(st.completed + st.rejected), (long long)st.iterations,
           (long long)st.events, wall);
    printf("  simulated requests per second  %12.0f\n",
           (double)(st.completed + st.rejected) / wall);
    printf("  events per second              %12.0f\n",
           (double)st.events / wall);
    printf("  iterations per second          %12.0f\n",
           (double)st.iterations / wall);
    printf("  peak RSS                       %12.1f MB\n",
           (double)ru.ru_maxrss / 1024.0);
    printf("  simulated time                 %12.1f s\n",
           (double)(st.last_event_ns - st.first_arrival_ns) / 1e9);
    cJSON_Delete(summary);
    scenario_free(&sc);
    return 0;
}
