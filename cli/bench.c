/* cli/bench.c: `llmsim bench [CONFIG]`: speed and memory of a whole run.
 *
 * Runs a scenario (default configs/bench.json: 1,000,000 synthetic
 * requests) end to end, results database included, and prints simulated
 * requests and events per wall-clock second and the peak resident set.
 * It prints figures; it never passes or fails on them. */
#include <stdio.h>
#include <sys/resource.h>
#include <time.h>

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

int cmd_bench(int argc, char **argv)
{
    char def[1024], msg[1200];
    const char *path = argc > 1 ? argv[1] : def;
    struct run_opts o = { .out_dir = "out/bench", .quiet = 1 };
    struct llm_diag d = { 0 };
    struct sim_stats st;
    struct scenario sc;
    struct rusage ru;
    cJSON *summary = NULL;
    double t0, wall;
    int rc;

    if (args_want_help(argc, argv)) {
        printf("usage: llmsim bench [CONFIG]\n"
               "  runs CONFIG (default configs/bench.json: 1,000,000 "
               "requests, results\n  database included) and prints "
               "simulated requests and events per second\n"
               "  and the peak resident set\n");
        return 0;
    }
    if (argc > 2) {
        fprintf(stderr, "usage: llmsim bench [CONFIG]\n");
        return 2;
    }
    snprintf(def, sizeof(def), "%s/configs/bench.json", llm_root());
    if (args_need_path("bench", path))
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
