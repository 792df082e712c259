#include "cli/cmd_sweep.h"

#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "cli/args.h"
#include "run/sweep.h"
#include "run/sweep_mpi.h"

struct sweep_cli {
    const char *file, *out, *engine;
    int64_t jobs;               /* 0: the file's */
    bool quiet;
};

static void sweep_usage(FILE *f)
{
    fprintf(f, "usage: llmsim sweep SWEEP.json [-j N] [--out DIR] "
               "[--engine ID|FILE] [--quiet]\n");
}

/* 0: go on; 1: --help done; 2: bad arguments (message printed). */
static int parse_args(int argc, char **argv, struct sweep_cli *c)
{
    static const struct option longopts[] = {
        { "jobs", required_argument, NULL, 'j' },
        { "out", required_argument, NULL, 'o' },
        { "engine", required_argument, NULL, 'E' },
        { "quiet", no_argument, NULL, 'q' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    char *end;
    int ch;

    memset(c, 0, sizeof(*c));
    optind = 1;
    while ((ch = getopt_long(argc, argv, "j:o:qh", longopts, NULL)) != -1) {
        switch (ch) {
        case 'j':
            c->jobs = strtoll(optarg, &end, 10);
            if (*end != '\0' || c->jobs < 1 || c->jobs > 1024) {
                fprintf(stderr, "llmsim %s: -j: expected an integer in "
                        "[1, 1024], got \"%s\"\n", argv[0], optarg);
                return 2;
            }
            break;
        case 'o': c->out = optarg; break;
        case 'E': c->engine = optarg; break;
        case 'q': c->quiet = true; break;
        case 'h': sweep_usage(stdout); return 1;
        default: sweep_usage(stderr); return 2;
        }
    }
    if (optind != argc - 1) {
        sweep_usage(stderr);
        return 2;
    }
    c->file = argv[optind];
    return args_need_file(stderr, "sweep", c->file);
}

static void print_ci(double mean, double half, const char *fmt)
{
    char buf[64];

    if (isnan(mean))
        snprintf(buf, sizeof(buf), "-");
    else if (isnan(half))
        snprintf(buf, sizeof(buf), fmt, mean);
    else {
        int n = snprintf(buf, sizeof(buf), fmt, mean);
        snprintf(buf + n, sizeof(buf) - (size_t)n, " +- ");
        n = (int)strlen(buf);
        snprintf(buf + n, sizeof(buf) - (size_t)n, fmt, half);
    }
    printf("  %-18s", buf);
}

static double col(sqlite3_stmt *st, int i)
{
    return sqlite3_column_type(st, i) == SQLITE_NULL
        ? NAN : sqlite3_column_double(st, i);
}

#define AGG(m) \
    "MAX(CASE WHEN a.name = '" m "' THEN a.mean END), " \
    "MAX(CASE WHEN a.name = '" m "' THEN a.ci_hi - a.mean END)"

/* One line per config: offered load, p90 TTFT and TPOT, goodput, each a
 * mean over seeds with the half-width of its interval. */
static void print_table(const struct sweep_job *j)
{
    sqlite3_stmt *st;
    char label[512];
    size_t w = 6, rows = 0;

    if (sqlite3_prepare_v2(sweepdb_handle(j->db), "SELECT c.params, "
            "MAX(a.n), " AGG("offered_req_s") ", " AGG("ttft_ms.p90") ", "
            AGG("tpot_ms.p90") ", " AGG("goodput_req_s") " FROM configs c "
            "JOIN aggregates a ON a.config = c.id GROUP BY c.id ORDER BY "
            "c.id", -1, &st, NULL) != SQLITE_OK)
        return;
    while (sqlite3_step(st) == SQLITE_ROW) {
        sweep_params_label((const char *)sqlite3_column_text(st, 0), NULL,
                           label, sizeof(label));
        w = strlen(label) > w ? strlen(label) : w;
        rows++;
    }
    sqlite3_reset(st);
    if (rows == 0) {
        sqlite3_finalize(st);
        return;
    }
    printf("\n%-*s %5s  %-18s  %-18s  %-18s  %-18s\n", (int)w, "config",
           "seeds", "offered req/s", "TTFT p90 ms", "TPOT p90 ms",
           "goodput req/s");
    while (sqlite3_step(st) == SQLITE_ROW) {
        sweep_params_label((const char *)sqlite3_column_text(st, 0), NULL,
                           label, sizeof(label));
        printf("%-*s %5d", (int)w, label, sqlite3_column_int(st, 1));
        print_ci(col(st, 2), col(st, 3), "%.2f");
        print_ci(col(st, 4), col(st, 5), "%.1f");
        print_ci(col(st, 6), col(st, 7), "%.2f");
        print_ci(col(st, 8), col(st, 9), "%.2f");
        printf("\n");
    }
    sqlite3_finalize(st);
}

/* The table and the closing line (unless quiet). */
static void print_done(void *ctx, const struct sweep_job *j,
                       const struct sweep_tally *t, const int64_t counts[4])
{
    const struct sweep_cli *c = ctx;

    if (c->quiet)
        return;
    print_table(j);
    printf("\nsweep %s: %" PRId64 " points done (%zu run now), %"
           PRId64 " infeasible, %" PRId64 " failed; database %s\n",
           j->sp.name, counts[SWEEPDB_DONE], t->ran,
           counts[SWEEPDB_INFEASIBLE], counts[SWEEPDB_FAILED], j->db_path);
}

static int report(int rc, struct llm_diag *d)
{
    char msg[1400];

    if (rc != LLM_OK) {
        diag_format(d, msg, sizeof(msg));
        fprintf(stderr, "llmsim: %s\n", msg);
    }
    return diag_exit_status(rc);
}

static void print_fatal(void *ctx, int rc, const struct llm_diag *d)
{
    struct llm_diag copy = *d;

    (void)ctx;
    report(rc, &copy);
}

/* Under mpirun: the ranks share the points (run/sweep_mpi.h). */
static int sweep_mpi(struct sweep_cli *c, const struct sweep_args *a)
{
    struct sweep_mpi_hooks h = { c, print_done, print_fatal };
    struct llm_diag d = { 0 };
    int rank = 0, rc;

    if (!sweep_mpi_built()) {
        fprintf(stderr, "llmsim sweep: started by mpirun, but this llmsim "
                "was built without MPI: run build/llmsim-mpi instead\n");
        return 2;
    }
    rc = sweep_mpi_run(a, &h, &rank, &d);
    return rank == 0 ? report(rc, &d) : diag_exit_status(rc);
}

int cmd_sweep(int argc, char **argv)
{
    struct sweep_cli cli;
    struct sweep_job j = { 0 };
    struct sweep_tally t = { 0 };
    struct sweep_args a;
    struct llm_diag d = { 0 };
    int64_t counts[4];
    int rc = parse_args(argc, argv, &cli);

    if (rc)
        return rc == 1 ? 0 : 2;
    a = (struct sweep_args){ cli.file, cli.out, cli.engine, cli.jobs,
                             cli.quiet ? NULL : stdout };
    if (sweep_mpi_launched())
        return sweep_mpi(&cli, &a);
    rc = sweep_job_load(&j, &a, &d);
    if (!rc) rc = sweep_job_open(&j, &d);
    if (!rc) rc = sweep_exec_run(&j.x, j.pts, j.n, &t, &d);
    if (!rc) rc = sweep_job_summarize(&j, counts, &d);
    if (!rc) {
        print_done(&cli, &j, &t, counts);
        rc = sweep_tally_error(&t, &d);
    }
    sweep_job_free(&j);
    return report(rc, &d);
}
