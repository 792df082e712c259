#include "cli/cmd_sweep.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "analysis/store.h"
#include "cli/args.h"
#include "run/run.h"
#include "run/scenario.h"

#ifdef LLMSIM_MPI
#include <mpi.h>
#endif

/* ---- running one point ------------------------------------------------ */

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* fixed, then the point's own sets: a point's value wins. */
static const char **point_sets(const struct sweep_exec *x,
                               const struct sweep_point *p)
{
    size_t nf = 0, np = 0, i;
    const char **v;

    while (x->fixed && x->fixed[nf])
        nf++;
    while (p->sets[np])
        np++;
    v = calloc(nf + np + 1, sizeof(*v));
    for (i = 0; v != NULL && i < nf; i++)
        v[i] = x->fixed[i];
    for (i = 0; v != NULL && i < np; i++)
        v[nf + i] = p->sets[i];
    return v;
}

static int load_point(const struct sweep_exec *x, const struct sweep_point *p,
                      struct scenario *sc, struct llm_diag *d)
{
    const char **sets = point_sets(x, p);
    int rc;

    memset(sc, 0, sizeof(*sc));
    if (sets == NULL)
        return diag_set(d, LLM_ENOMEM, "out of memory");
    rc = scenario_load(x->base_path, sets, sc, d);
    free(sets);
    return rc;
}

static void point_dir(const struct sweep_exec *x, const struct sweep_point *p,
                      char *buf, size_t len)
{
    snprintf(buf, len, "%s/p%" PRId64, x->runs_dir, p->id);
}

/* Runs p into dir; on failure msg gets "file: message", formatted while
 * the scenario (which the diag's file may point into) is alive. */
static int run_point(const struct sweep_exec *x, const struct sweep_point *p,
                     const char *dir, char *msg, size_t len)
{
    /* no_warn: a line per point would bury the progress; each point's
     * share priced outside the tables is its cost_extrapolated_share */
    struct run_opts o = { .out_dir = dir, .quiet = 1, .no_warn = 1 };
    struct llm_diag d = { 0 };
    struct scenario sc;
    cJSON *summary = NULL;
    int rc = load_point(x, p, &sc, &d);

    if (!rc)
        rc = run_scenario(&sc, &o, &summary, NULL, &d);
    if (rc)
        diag_format(&d, msg, (int)len);
    cJSON_Delete(summary);
    scenario_free(&sc);
    return rc;
}

static void remove_in(const char *dir, const char *name)
{
    char path[1200];

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    remove(path);
}

static void cleanup_dir(const struct sweep_exec *x, const char *dir)
{
    if (x->keep_runs)
        return;
    remove_in(dir, "results.sqlite");
    remove_in(dir, "summary.json");
    remove_in(dir, "error.txt");
    rmdir(dir);
}

/* The point's figures, from its run directory, as a metrics object. */
static int point_metrics(const char *dir, cJSON **m, struct llm_diag *d)
{
    char path[1200];

    snprintf(path, sizeof(path), "%s/results.sqlite", dir);
    return sweepdb_run_metrics(path, m, d);
}

static void progress(const struct sweep_exec *x, const struct sweep_point *p,
                     size_t total, const struct sweep_tally *t, double wall,
                     const char *err)
{
    char label[512];

    if (x->quiet)
        return;
    sweep_params_label(p->params, NULL, label, sizeof(label));
    if (err)
        printf("[%zu/%zu] %s, seed %" PRIu64 ": FAILED: %s\n", t->ran, total,
               label, p->seed, err);
    else
        printf("[%zu/%zu] %s, seed %" PRIu64 ": %.2f s\n", t->ran, total,
               label, p->seed, wall);
    fflush(stdout);
}

/* Records a failed point and counts it; the first message is kept. */
static int note_failure(const struct sweep_exec *x, struct sweep_point *p,
                        const char *msg, int code, struct sweep_tally *t,
                        struct llm_diag *d)
{
    p->status = SWEEPDB_FAILED;
    if (t->failed++ == 0) {
        t->first_code = code ? code : LLM_EIO;
        snprintf(t->first_error, sizeof(t->first_error),
                 "%s (point %s, seed %" PRIu64 ")", msg, p->params, p->seed);
    }
    return sweepdb_fail(x->db, p->id, SWEEPDB_FAILED, msg, d);
}

/* Reads the finished run of p from dir into the database. */
static int record(const struct sweep_exec *x, struct sweep_point *p,
                  const char *dir, double wall, int rank,
                  struct sweep_tally *t, struct llm_diag *d)
{
    struct llm_diag ld = { 0 };
    cJSON *m = NULL;
    char msg[1200];
    int rc = point_metrics(dir, &m, &ld);

    if (rc) {
        diag_format(&ld, msg, sizeof(msg));
        return note_failure(x, p, msg, rc, t, d);
    }
    rc = sweepdb_record(x->db, p->id, m, wall, rank, d);
    cJSON_Delete(m);
    if (rc == LLM_OK) {
        p->status = SWEEPDB_DONE;
        cleanup_dir(x, dir);
    }
    return rc;
}

static bool runnable(const struct sweep_point *p)
{
    return p->status == SWEEPDB_PENDING || p->status == SWEEPDB_FAILED;
}

/* ---- validation -------------------------------------------------------- */

static int validate_config(const struct sweep_exec *x, struct sweep_point *pts,
                           size_t i, size_t n, struct llm_diag *d)
{
    struct llm_diag ld = { 0 };
    struct scenario sc;
    char msg[1200];
    int rc = load_point(x, &pts[i], &sc, &ld);
    size_t j;

    diag_format(&ld, msg, sizeof(msg));
    scenario_free(&sc);     /* whatever load_point returned */
    if (rc == LLM_OK) {
        for (j = i; j < n && strcmp(pts[j].params, pts[i].params) == 0; j++)
            if (pts[j].status == SWEEPDB_INFEASIBLE)
                pts[j].status = SWEEPDB_PENDING;
        return LLM_OK;
    }
    if (rc != LLM_ERANGE)
        return diag_set(d, rc, "%s (point %s)", msg, pts[i].params);
    for (j = i; rc == LLM_ERANGE && j < n &&
                strcmp(pts[j].params, pts[i].params) == 0; j++) {
        if (pts[j].status == SWEEPDB_DONE)
            continue;
        pts[j].status = SWEEPDB_INFEASIBLE;
        if (sweepdb_fail(x->db, pts[j].id, SWEEPDB_INFEASIBLE, msg, d))
            return d->code;
    }
    return LLM_OK;
}

/* Whether the config starting at i has a point still to run. */
static bool config_open(const struct sweep_point *pts, size_t i, size_t n)
{
    size_t j;

    for (j = i; j < n && strcmp(pts[j].params, pts[i].params) == 0; j++)
        if (pts[j].status != SWEEPDB_DONE)
            return true;
    return false;
}

int sweep_exec_validate(const struct sweep_exec *x, struct sweep_point *pts,
                        size_t n, struct llm_diag *d)
{
    size_t i;
    int rc = LLM_OK;

    /* The seeds of one config are adjacent: one load checks them all. */
    for (i = 0; rc == LLM_OK && i < n; i++)
        if ((i == 0 || strcmp(pts[i].params, pts[i - 1].params) != 0) &&
            config_open(pts, i, n))
            rc = validate_config(x, pts, i, n, d);
    return rc;
}

/* ---- in process and forked --------------------------------------------- */

static int run_inline(const struct sweep_exec *x, struct sweep_point *p,
                      int rank, size_t total, struct sweep_tally *t,
                      struct llm_diag *d)
{
    char dir[1100], msg[1200];
    double t0 = now_s();
    int rc;

    point_dir(x, p, dir, sizeof(dir));
    rc = run_point(x, p, dir, msg, sizeof(msg));
    t->ran++;
    if (rc) {
        cleanup_dir(x, dir);
        progress(x, p, total, t, 0, msg);
        return note_failure(x, p, msg, rc, t, d);
    }
    rc = record(x, p, dir, now_s() - t0, rank, t, d);
    progress(x, p, total, t, now_s() - t0,
             p->status == SWEEPDB_DONE ? NULL : "no results");
    return rc;
}

/* The child: runs the point, leaves error.txt when it fails. */
static void child_main(const struct sweep_exec *x, const struct sweep_point *p,
                       const char *dir)
{
    char msg[1200];
    int rc = run_point(x, p, dir, msg, sizeof(msg));

    if (rc) {
        store_mkdirs(dir, NULL);
        store_write_file(dir, "error.txt", msg, NULL);
    }
    _exit(diag_exit_status(rc));
}

struct slot {
    pid_t pid;
    size_t idx;
    double t0;
};

static int spawn(const struct sweep_exec *x, struct sweep_point *pts,
                 size_t i, struct slot *s, struct llm_diag *d)
{
    char dir[1100];
    pid_t pid;

    point_dir(x, &pts[i], dir, sizeof(dir));
    fflush(NULL);
    pid = fork();
    if (pid < 0)
        return diag_set(d, LLM_EIO, "fork: %s", strerror(errno));
    if (pid == 0)
        child_main(x, &pts[i], dir);
    *s = (struct slot){ .pid = pid, .idx = i, .t0 = now_s() };
    return LLM_OK;
}

static void read_error(const char *dir, char *msg, size_t len)
{
    char path[1200];
    FILE *f;

    snprintf(path, sizeof(path), "%s/error.txt", dir);
    snprintf(msg, len, "the run process died");
    f = fopen(path, "r");
    if (f == NULL)
        return;
    if (fgets(msg, (int)len, f) == NULL)
        snprintf(msg, len, "the run failed");
    fclose(f);
}

/* Waits for one of our children; its slot index, or -1 when none is left
 * to wait for. */
static long wait_slot(const struct slot *slots, size_t busy, int *status)
{
    size_t k;
    pid_t pid;

    while ((pid = wait(status)) >= 0) {
        for (k = 0; k < busy; k++)
            if (slots[k].pid == pid)
                return (long)k;
    }
    return -1;
}

/* Records the point of a child that ended with status. */
static int finish_child(const struct sweep_exec *x, struct sweep_point *p,
                        double t0, int status, size_t total,
                        struct sweep_tally *t, struct llm_diag *d)
{
    char dir[1100], msg[1200];
    int rc;

    point_dir(x, p, dir, sizeof(dir));
    t->ran++;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        rc = record(x, p, dir, now_s() - t0, 0, t, d);
        progress(x, p, total, t, now_s() - t0,
                 p->status == SWEEPDB_DONE ? NULL : "no results");
        return rc;
    }
    read_error(dir, msg, sizeof(msg));
    cleanup_dir(x, dir);
    progress(x, p, total, t, 0, msg);
    return note_failure(x, p, msg, WIFEXITED(status) &&
                        WEXITSTATUS(status) == 2 ? LLM_EINVAL : LLM_EIO,
                        t, d);
}

static int run_forked(const struct sweep_exec *x, struct sweep_point *pts,
                      size_t n, size_t total, struct sweep_tally *t,
                      struct llm_diag *d)
{
    struct slot *slots = calloc((size_t)x->jobs, sizeof(*slots));
    size_t i = 0, busy = 0;
    int rc = slots ? LLM_OK : diag_set(d, LLM_ENOMEM, "out of memory");
    int status, r;
    long k;

    while (i < n || busy > 0) {
        while (rc == LLM_OK && i < n && busy < (size_t)x->jobs) {
            if (runnable(&pts[i]))
                rc = spawn(x, pts, i, &slots[busy++], d);
            i++;
        }
        if (rc != LLM_OK)
            i = n;              /* start nothing more; wait for the rest */
        if (busy == 0 || (k = wait_slot(slots, busy, &status)) < 0)
            break;
        r = finish_child(x, &pts[slots[k].idx], slots[k].t0, status, total,
                         t, d);
        rc = rc ? rc : r;
        slots[k] = slots[--busy];
    }
    free(slots);
    return rc;
}

int sweep_exec_run(const struct sweep_exec *x, struct sweep_point *pts,
                   size_t n, struct sweep_tally *t, struct llm_diag *d)
{
    size_t i, total = 0;
    int rc;

    memset(t, 0, sizeof(*t));
    for (i = 0; i < n; i++)
        total += runnable(&pts[i]);
    if (total == 0)
        return LLM_OK;
    rc = store_mkdirs(x->runs_dir, d);
    if (rc)
        return rc;
    if (x->jobs > 1)
        rc = run_forked(x, pts, n, total, t, d);
    for (i = 0; x->jobs <= 1 && rc == LLM_OK && i < n; i++)
        if (runnable(&pts[i]))
            rc = run_inline(x, &pts[i], 0, total, t, d);
    rmdir(x->runs_dir);     /* only when empty */
    return rc;
}

/* ---- the command ------------------------------------------------------- */

struct sweep_cli {
    const char *file, *out, *engine;
    int64_t jobs;               /* 0: the file's */
    bool quiet;
};

struct sweep_ctx {
    struct sweep_spec sp;
    struct sweep_point *pts;
    size_t n;
    struct sweepdb *db;
    char out[512], db_path[1100], runs[1100];
    struct sweep_exec x;
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

/* The spec and its points: what every MPI rank needs. */
static int prepare_spec(struct sweep_ctx *c, const struct sweep_cli *cli,
                        struct llm_diag *d)
{
    int rc = sweep_load(cli->file, &c->sp, d);

    if (!rc && cli->engine)
        rc = sweep_add_fixed(&c->sp, "engine", cli->engine, d);
    if (rc)
        return rc;
    d->file = NULL;
    snprintf(c->out, sizeof(c->out), "%s", cli->out ? cli->out
                                                     : c->sp.out_dir);
    snprintf(c->db_path, sizeof(c->db_path), "%s/sweep.sqlite", c->out);
    snprintf(c->runs, sizeof(c->runs), "%s/runs", c->out);
    rc = sweep_expand(&c->sp, &c->pts, &c->n, d);
    c->x = (struct sweep_exec){ .base_path = c->sp.base_path,
        .fixed = (const char *const *)c->sp.fixed, .runs_dir = c->runs,
        .jobs = cli->jobs ? cli->jobs : c->sp.jobs,
        .keep_runs = c->sp.keep_runs, .quiet = cli->quiet };
    return rc;
}

/* The database with every point registered and validated (rank 0). */
static int prepare_db(struct sweep_ctx *c, struct llm_diag *d)
{
    struct sweepdb_meta m = { .name = c->sp.name, .kind = "sweep",
        .load_axis = c->sp.load_axis, .confidence = c->sp.confidence };
    char *base = NULL;
    int rc = store_mkdirs(c->out, d);

    if (!rc) rc = sweep_base_materialize(&c->sp, c->out, d);
    if (!rc) rc = sweep_base_identity(&c->sp, &base, d);
    m.base = base;
    if (!rc) rc = sweepdb_open(c->db_path, &m, &c->db, d);
    free(base);
    c->x.db = c->db;
    if (!rc) rc = sweepdb_register(c->db, c->pts, c->n, d);
    if (!rc) rc = sweep_exec_validate(&c->x, c->pts, c->n, d);
    return rc;
}

static void ctx_free(struct sweep_ctx *c)
{
    sweepdb_close(c->db);
    sweep_points_free(c->pts, c->n);
    sweep_spec_free(&c->sp);
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
static void print_table(struct sweep_ctx *c)
{
    sqlite3_stmt *st;
    char label[512];
    size_t w = 6, rows = 0;

    if (sqlite3_prepare_v2(sweepdb_handle(c->db), "SELECT c.params, "
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

/* Aggregates, the table and the closing line; the exit code. */
static int finish(struct sweep_ctx *c, const struct sweep_tally *t,
                  struct llm_diag *d)
{
    int64_t counts[4];
    int rc = sweepdb_aggregate(c->db, d);

    if (!rc) rc = sweepdb_counts(c->db, counts, d);
    if (rc)
        return rc;
    if (!c->x.quiet) {
        print_table(c);
        printf("\nsweep %s: %" PRId64 " points done (%zu run now), %"
               PRId64 " infeasible, %" PRId64 " failed; database %s\n",
               c->sp.name, counts[SWEEPDB_DONE], t->ran,
               counts[SWEEPDB_INFEASIBLE], counts[SWEEPDB_FAILED],
               c->db_path);
    }
    if (t->failed == 0)
        return LLM_OK;
    return diag_set(d, t->first_code, "%zu point%s failed; the first: %s",
                    t->failed, t->failed == 1 ? "" : "s", t->first_error);
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

#ifdef LLMSIM_MPI
static int sweep_mpi(struct sweep_ctx *c, const struct sweep_cli *cli);

static bool under_mpirun(void)
{
    return getenv("OMPI_COMM_WORLD_SIZE") != NULL ||
           getenv("PMIX_RANK") != NULL || getenv("PMI_RANK") != NULL;
}
#else
/* Without MPI every rank would run the whole sweep into one file. */
static bool under_mpirun(void)
{
    const char *s = getenv("OMPI_COMM_WORLD_SIZE");

    return s != NULL && atoi(s) > 1;
}
#endif

int cmd_sweep(int argc, char **argv)
{
    struct sweep_cli cli;
    struct sweep_ctx c = { 0 };
    struct sweep_tally t = { 0 };
    struct llm_diag d = { 0 };
    int rc = parse_args(argc, argv, &cli);

    if (rc)
        return rc == 1 ? 0 : 2;
    if (under_mpirun()) {
#ifdef LLMSIM_MPI
        return sweep_mpi(&c, &cli);
#else
        fprintf(stderr, "llmsim sweep: started by mpirun, but this llmsim "
                "was built without MPI: run build/llmsim-mpi instead\n");
        return 2;
#endif
    }
    rc = prepare_spec(&c, &cli, &d);
    if (!rc) rc = prepare_db(&c, &d);
    if (!rc) rc = sweep_exec_run(&c.x, c.pts, c.n, &t, &d);
    if (!rc) rc = finish(&c, &t, &d);
    ctx_free(&c);
    return report(rc, &d);
}

#ifdef LLMSIM_MPI
/* ---- under mpirun -------------------------------------------------------
 * Rank 0 registers and validates the points, then broadcasts which to run
 * (index into the expansion, database id).  Ranks take them round robin;
 * rank r > 0 sends each result to rank 0 as one text message, numbers in
 * %.17g so they arrive bit for bit:
 *   "ok INDEX WALL_S\n" then "NAME VALUE\n" per metric, or
 *   "err INDEX CODE\n" then the message.
 * Rank 0 runs its own share, drains messages between its points, then
 * waits for the rest, and alone writes the database. */

enum { TAG_RESULT = 7 };

static char *result_message(size_t idx, double wall, const cJSON *metrics,
                            int code, const char *err)
{
    const cJSON *it;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);

    if (f == NULL)
        return NULL;
    if (metrics != NULL) {
        fprintf(f, "ok %zu %.17g\n", idx, wall);
        cJSON_ArrayForEach(it, metrics)
            if (cJSON_IsNumber(it))
                fprintf(f, "%s %.17g\n", it->string, it->valuedouble);
    } else {
        fprintf(f, "err %zu %d\n%s", idx, code, err);
    }
    if (fclose(f) != 0) {
        free(text);
        return NULL;
    }
    return text;
}

/* A worker rank: runs point idx and sends rank 0 what happened. */
static void mpi_work(struct sweep_ctx *c, size_t idx)
{
    struct llm_diag ld = { 0 };
    struct sweep_point *p = &c->pts[idx];
    cJSON *m = NULL;
    char dir[1100], msg[1200] = "";
    double t0 = now_s();
    char *text;
    int rc;

    point_dir(&c->x, p, dir, sizeof(dir));
    rc = run_point(&c->x, p, dir, msg, sizeof(msg));
    if (!rc && (rc = point_metrics(dir, &m, &ld)) != LLM_OK)
        diag_format(&ld, msg, sizeof(msg));
    cleanup_dir(&c->x, dir);
    text = result_message(idx, now_s() - t0, m, rc, msg);
    cJSON_Delete(m);
    if (text != NULL)
        MPI_Send(text, (int)strlen(text) + 1, MPI_CHAR, 0, TAG_RESULT,
                 MPI_COMM_WORLD);
    free(text);
}

/* The metric lines after an "ok" header into an object. */
static cJSON *parse_metrics(char *lines)
{
    cJSON *m = cJSON_CreateObject();
    char *line, *save = NULL, *sp;

    for (line = strtok_r(lines, "\n", &save); m && line;
         line = strtok_r(NULL, "\n", &save)) {
        sp = strchr(line, ' ');
        if (sp == NULL)
            continue;
        *sp = '\0';
        cJSON_AddNumberToObject(m, line, strtod(sp + 1, NULL));
    }
    return m;
}

/* Rank 0: one result message into the database. */
static int mpi_apply(struct sweep_ctx *c, char *buf, int from, size_t total,
                     struct sweep_tally *t, struct llm_diag *d)
{
    char kind[4] = "", *body = strchr(buf, '\n');
    size_t idx = SIZE_MAX;
    double wall = 0;
    int code = 0, rc;
    cJSON *m;

    if (body == NULL || sscanf(buf, "%3s %zu", kind, &idx) != 2 ||
        idx >= c->n)
        return diag_set(d, LLM_EIO, "rank %d sent a malformed result", from);
    *body++ = '\0';
    t->ran++;
    if (strcmp(kind, "ok") != 0) {
        sscanf(buf, "%*s %*u %d", &code);
        progress(&c->x, &c->pts[idx], total, t, 0, body);
        return note_failure(&c->x, &c->pts[idx], body, code, t, d);
    }
    sscanf(buf, "%*s %*u %lf", &wall);
    m = parse_metrics(body);
    if (m == NULL)
        return diag_set(d, LLM_ENOMEM, "out of memory");
    rc = sweepdb_record(c->db, c->pts[idx].id, m, wall, from, d);
    cJSON_Delete(m);
    c->pts[idx].status = SWEEPDB_DONE;
    progress(&c->x, &c->pts[idx], total, t, wall, NULL);
    return rc;
}

static int mpi_take(struct sweep_ctx *c, size_t total, struct sweep_tally *t,
                    struct llm_diag *d)
{
    MPI_Status ms;
    char *buf;
    int len, rc;

    MPI_Probe(MPI_ANY_SOURCE, TAG_RESULT, MPI_COMM_WORLD, &ms);
    MPI_Get_count(&ms, MPI_CHAR, &len);
    buf = malloc((size_t)len + 1);
    if (buf == NULL)
        return diag_set(d, LLM_ENOMEM, "out of memory");
    MPI_Recv(buf, len, MPI_CHAR, ms.MPI_SOURCE, TAG_RESULT, MPI_COMM_WORLD,
             MPI_STATUS_IGNORE);
    buf[len] = '\0';
    rc = mpi_apply(c, buf, ms.MPI_SOURCE, total, t, d);
    free(buf);
    return rc;
}

static int mpi_drain(struct sweep_ctx *c, size_t total, size_t *left,
                     bool block, struct sweep_tally *t, struct llm_diag *d)
{
    int flag = 1, rc = LLM_OK;

    while (*left > 0 && rc == LLM_OK) {
        if (!block)
            MPI_Iprobe(MPI_ANY_SOURCE, TAG_RESULT, MPI_COMM_WORLD, &flag,
                       MPI_STATUS_IGNORE);
        if (!flag)
            break;
        rc = mpi_take(c, total, t, d);
        (*left)--;
    }
    return rc;
}

/* Rank 0's list of (index, id) to run, broadcast to every rank. */
static int64_t *mpi_share_list(struct sweep_ctx *c, int rank, int *rc_all,
                               int64_t *count)
{
    int64_t *list = NULL;
    size_t i;

    *count = 0;
    if (rank == 0 && *rc_all == LLM_OK) {
        list = calloc(2 * c->n + 2, sizeof(*list));
        for (i = 0; list != NULL && i < c->n; i++)
            if (runnable(&c->pts[i])) {
                list[2 * *count] = (int64_t)i;
                list[2 * (*count)++ + 1] = c->pts[i].id;
            }
        if (list == NULL)
            *rc_all = LLM_ENOMEM;
    }
    MPI_Bcast(rc_all, 1, MPI_INT, 0, MPI_COMM_WORLD);
    MPI_Bcast(count, 1, MPI_INT64_T, 0, MPI_COMM_WORLD);
    if (*rc_all != LLM_OK)
        return list;
    if (rank != 0)
        list = calloc(2 * (size_t)*count + 2, sizeof(*list));
    MPI_Bcast(list, 2 * (int)*count, MPI_INT64_T, 0, MPI_COMM_WORLD);
    return list;
}

static int mpi_rank0(struct sweep_ctx *c, const int64_t *list, int64_t count,
                     int size, struct llm_diag *d)
{
    struct sweep_tally t = { 0 };
    size_t left = 0, total = (size_t)count;
    int64_t k;
    int rc = LLM_OK;

    for (k = 0; k < count; k++)
        left += k % size != 0;
    for (k = 0; k < count && rc == LLM_OK; k += size) {
        rc = run_inline(&c->x, &c->pts[list[2 * k]], 0, total, &t, d);
        if (!rc)
            rc = mpi_drain(c, total, &left, false, &t, d);
    }
    if (!rc)
        rc = mpi_drain(c, total, &left, true, &t, d);
    if (rc) {
        /* Workers may be blocked sending to us: end the whole job. */
        report(rc, d);
        MPI_Abort(MPI_COMM_WORLD, diag_exit_status(rc));
    }
    rmdir(c->x.runs_dir);
    return finish(c, &t, d);
}

/* A worker's copy of a base given inline: rank 0 writes DIR/base.json on
 * its own machine, which other machines do not see (issue 24: a sweep
 * file runs on a cluster unchanged), so each worker writes its own in
 * RUNS/rank<r>/; *dir gets that folder ("" when the base is a file). */
static int mpi_worker_base(struct sweep_ctx *c, int rank, char *dir,
                           size_t len, struct llm_diag *d)
{
    dir[0] = '\0';
    if (c->sp.base_inline == NULL)
        return LLM_OK;
    snprintf(dir, len, "%s/rank%d", c->runs, rank);
    return sweep_base_materialize(&c->sp, dir, d);
}

static int sweep_mpi(struct sweep_ctx *c, const struct sweep_cli *cli)
{
    struct llm_diag d = { 0 };
    char base_dir[1200];
    int rank, size, rc;
    int64_t count, k, *list;

    MPI_Init(NULL, NULL);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    rc = prepare_spec(c, cli, &d);
    if (!rc && cli->jobs > 1)
        rc = diag_set(&d, LLM_EINVAL, "-j: under mpirun each rank runs one "
                      "point at a time; use mpirun -np N instead");
    c->x.jobs = 1;
    if (rank == 0 && !rc)
        rc = prepare_db(c, &d);
    if (rank == 0 && !rc)
        rc = store_mkdirs(c->runs, &d);
    list = mpi_share_list(c, rank, &rc, &count);
    if (rc == LLM_OK && rank != 0 &&
        (rc = mpi_worker_base(c, rank, base_dir, sizeof(base_dir), &d))) {
        /* rank 0 waits for this rank's points: end the whole job */
        report(rc, &d);
        MPI_Abort(MPI_COMM_WORLD, diag_exit_status(rc));
    }
    if (rc == LLM_OK && rank == 0)
        rc = mpi_rank0(c, list, count, size, &d);
    for (k = rank; rc == LLM_OK && rank != 0 && k < count; k += size) {
        c->pts[list[2 * k]].id = list[2 * k + 1];
        mpi_work(c, (size_t)list[2 * k]);
    }
    if (rank != 0 && rc == LLM_OK && base_dir[0] != '\0') {
        remove_in(base_dir, "base.json");
        rmdir(base_dir);
    }
    free(list);
    ctx_free(c);
    rc = rank == 0 ? report(rc, &d) : diag_exit_status(rc);
    MPI_Finalize();
    return rc;
}
#endif
