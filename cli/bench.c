/* cli/bench.c: `llmsim bench [CONFIG [--set k=v]... [--no-output]]
 * [--runs N] [--quiet]`: speed and memory of whole runs.
 *
 * Without CONFIG: (1) configs/default.json (the Azure conversation hour,
 * iterations table on) run N times with every output and N times with
 * the outputs off (the simulation alone, run/run.h no_output),
 * alternating, printing the median and range of the wall time of each,
 * how many times real time they run and their ratio (issue 24); then
 * (2) configs/bench.json (1,000,000 synthetic requests) once.  With
 * CONFIG: that scenario once, every output on (--no-output: off, for a
 * profiler's view of the simulation alone).  Each case prints
 * simulated requests, iterations and events per wall-clock second and
 * the peak resident set of the process so far.  It prints figures; it
 * never passes or fails on them.  On a terminal each run shows its
 * progress on stderr (run/progress.h) unless --quiet. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <gsl/gsl_sort.h>
#include <gsl/gsl_statistics_double.h>

#include "cli/args.h"
#include "cli/bench.h"
#include "run/run.h"
#include "base/paths.h"

#define BENCH_MAX_RUNS 99

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double peak_mb(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0;
}

static double sim_s(const struct sim_stats *st)
{
    return (double)(st->last_event_ns - st->first_arrival_ns) / 1e9;
}

/* Loads path (with sets) and runs it once; *wall: its seconds. */
static int run_once(const char *path, const char *const *sets, int no_output,
                    int progress, struct sim_stats *st, double *wall,
                    struct llm_diag *d)
{
    /* no_warn: the extrapolation line would repeat for every run */
    struct run_opts o = { .out_dir = "out/bench", .quiet = 1, .no_warn = 1,
                          .no_output = no_output, .progress = progress };
    struct scenario sc;
    cJSON *summary = NULL;
    double t0;
    int rc = scenario_load(path, sets, &sc, d);

    t0 = now_s();
    if (rc == LLM_OK)
        rc = run_scenario(&sc, &o, &summary, st, d);
    *wall = now_s() - t0;
    cJSON_Delete(summary);
    scenario_free(&sc);
    return rc;
}

static void print_case(const char *path, const struct sim_stats *st,
                       double wall, int no_output)
{
    int64_t reqs = st->completed + st->rejected;

    printf("bench %s: %lld requests, %lld iterations, %lld events, %.1f s "
           "simulated, in %.2f s wall (%s)\n", path, (long long)reqs,
           (long long)st->iterations, (long long)st->events, sim_s(st), wall,
           no_output ? "outputs off" : "results database included");
    printf("  simulated requests per second  %12.0f\n", (double)reqs / wall);
    printf("  events per second              %12.0f\n",
           (double)st->events / wall);
    printf("  iterations per second          %12.0f\n",
           (double)st->iterations / wall);
    printf("  times real time                %12.0f\n", sim_s(st) / wall);
    printf("  peak RSS                       %12.1f MB\n", peak_mb());
}

/* "  LABEL  wall MEDIAN s (MIN-MAX)  Nx real time (Mx at the fastest)"
 * over n runs (sorts): on a shared machine the fastest run is the one
 * least slowed by other work. */
static double print_runs(const char *label, double *w, size_t n, double sim)
{
    double med;

    gsl_sort(w, 1, n);
    med = gsl_stats_median_from_sorted_data(w, 1, n);
    printf("  %-36s wall %.3f s (%.3f-%.3f)  %6.0fx real time (%.0fx at "
           "the fastest)\n", label, med, w[0], w[n - 1], sim / med,
           sim / w[0]);
    return med;
}

/* The 1-minute load average (Linux /proc/loadavg), NAN where absent:
 * printed because other work on the machine slows every figure. */
static double load_avg(void)
{
    FILE *f = fopen("/proc/loadavg", "r");
    double l = NAN;

    if (f != NULL) {
        if (fscanf(f, "%lf", &l) != 1)
            l = NAN;
        fclose(f);
    }
    return l;
}

/* The default scenario with every output and with none, alternating. */
static int bench_outputs(const char *path, int runs, int progress,
                         struct llm_diag *d)
{
    double on[BENCH_MAX_RUNS], off[BENCH_MAX_RUNS], m_on, m_off;
    struct sim_stats st = { 0 };
    int i, rc = LLM_OK;

    for (i = 0; rc == LLM_OK && i < runs; i++) {
        rc = run_once(path, NULL, 0, progress, &st, &on[i], d);
        if (rc == LLM_OK)
            rc = run_once(path, NULL, 1, progress, &st, &off[i], d);
    }
    if (rc != LLM_OK)
        return rc;
    printf("bench %s: %lld requests, %lld iterations, %.1f s simulated; "
           "%d runs of each, alternating (median, range); load average "
           "%.1f\n", path, (long long)(st.completed + st.rejected),
           (long long)st.iterations, sim_s(&st), runs, load_avg());
    m_on = print_runs("every output (iterations table on)", on,
                      (size_t)runs, sim_s(&st));
    m_off = print_runs("outputs off (the simulation alone)", off,
                       (size_t)runs, sim_s(&st));
    printf("  %-36s %.2f\n", "every output / outputs off", m_on / m_off);
    printf("  peak RSS                             %.1f MB\n", peak_mb());
    return LLM_OK;
}

static int bench_one(const char *path, const char *const *sets,
                     int no_output, int progress, struct llm_diag *d)
{
    struct sim_stats st = { 0 };
    double wall;
    int rc = run_once(path, sets, no_output, progress, &st, &wall, d);

    if (rc == LLM_OK)
        print_case(path, &st, wall, no_output);
    return rc;
}

static int usage(FILE *f, int status)
{
    fprintf(f, "usage: llmsim bench [CONFIG] [--set key.path=value]... "
               "[--no-output] [--runs N] [--quiet]\n"
               "  without CONFIG: configs/default.json N times (default 5) "
               "with every output\n  and N times with none, then "
               "configs/bench.json (1,000,000 requests);\n  with CONFIG: "
               "that scenario once (--set, --no-output: CONFIG only).\n"
               "  A progress line on stderr when that is a terminal, unless "
               "--quiet\n");
    return status;
}

int cmd_bench(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "set", required_argument, NULL, 'S' },
        { "runs", required_argument, NULL, 'r' },
        { "no-output", no_argument, NULL, 'n' },
        { "quiet", no_argument, NULL, 'q' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    const char **sets = calloc((size_t)argc + 1, sizeof(*sets));
    char def[1024], big[1024], msg[1200], *end;
    struct llm_diag d = { 0 };
    int ch, n = 0, runs = 5, no_output = 0, quiet = 0, progress, rc;

    if (sets == NULL)
        return 1;
    if (args_want_help(argc, argv)) {
        free(sets);
        return usage(stdout, 0);
    }
    optind = 1;
    while ((ch = getopt_long(argc, argv, "S:r:nqh", longopts, NULL)) != -1) {
        switch (ch) {
        case 'S': sets[n++] = optarg; break;
        case 'n': no_output = 1; break;
        case 'q': quiet = 1; break;
        case 'r':
            runs = (int)strtol(optarg, &end, 10);
            if (*optarg == '\0' || *end != '\0' || runs < 1 ||
                runs > BENCH_MAX_RUNS) {
                fprintf(stderr, "llmsim bench: --runs: expected an integer "
                        "in [1, %d], got \"%s\"\n", BENCH_MAX_RUNS, optarg);
                free(sets);
                return 2;
            }
            break;
        case 'h': free(sets); return usage(stdout, 0);
        default: free(sets); return usage(stderr, 2);
        }
    }
    if (optind < argc - 1 || (optind == argc && (n > 0 || no_output))) {
        free(sets);
        return usage(stderr, 2);
    }
    if (optind == argc - 1 && args_need_file(stderr, "bench", argv[optind])) {
        free(sets);
        return 2;
    }
    progress = !quiet && isatty(STDERR_FILENO);
    snprintf(def, sizeof(def), "%s/configs/default.json", llm_root());
    snprintf(big, sizeof(big), "%s/configs/bench.json", llm_root());
    if (optind == argc - 1) {
        rc = bench_one(argv[optind], sets, no_output, progress, &d);
    } else {
        rc = bench_outputs(def, runs, progress, &d);
        if (rc == LLM_OK)
            rc = bench_one(big, NULL, 0, progress, &d);
    }
    if (rc != LLM_OK) {
        diag_format(&d, msg, sizeof(msg));
        fprintf(stderr, "llmsim bench: %s\n", msg);
    }
    free(sets);
    return diag_exit_status(rc);
}
