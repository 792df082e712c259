#include "run/sweep.h"

#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "analysis/store.h"
#include "run/run.h"
#include "run/scenario.h"

/* ---- running one point ------------------------------------------------ */
/* ---- running one point ------------------------------------------------ */

double sweep_now_s(void)
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

void sweep_exec_point_dir(const struct sweep_exec *x,
                          const struct sweep_point *p, char *buf, size_t len)
{
    snprintf(buf, len, "%s/p%" PRId64, x->runs_dir, p->id);
}

/* Runs p into dir; on failure msg gets "file: message", formatted while
 * the scenario (which the diag's file may point into) is alive. */
int sweep_exec_point(const struct sweep_exec *x, const struct sweep_point *p,
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

void sweep_exec_cleanup(const struct sweep_exec *x, const char *dir)
{
    if (x->keep_runs)
        return;
    remove_in(dir, "results.sqlite");
    remove_in(dir, "summary.json");
    remove_in(dir, "error.txt");
    rmdir(dir);
}

/* The point's figures, from its run directory, as a metrics object. */
int sweep_exec_metrics(const char *dir, cJSON **m, struct llm_diag *d)
{
    char path[1200];

    snprintf(path, sizeof(path), "%s/results.sqlite", dir);
    return sweepdb_run_metrics(path, m, d);
}

void sweep_exec_progress(const struct sweep_exec *x,
                         const struct sweep_point *p, size_t total,
                         const struct sweep_tally *t, double wall,
                         const char *err)
{
    char label[512];

    if (x->log == NULL)
        return;
    sweep_params_label(p->params, NULL, label, sizeof(label));
    if (err)
        fprintf(x->log, "[%zu/%zu] %s, seed %" PRIu64 ": FAILED: %s\n",
                t->ran, total, label, p->seed, err);
    else
        fprintf(x->log, "[%zu/%zu] %s, seed %" PRIu64 ": %.2f s\n", t->ran,
                total, label, p->seed, wall);
    fflush(x->log);
}

/* Records a failed point and counts it; the first message is kept. */
int sweep_exec_failed(const struct sweep_exec *x, struct sweep_point *p,
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
    int rc = sweep_exec_metrics(dir, &m, &ld);

    if (rc) {
        diag_format(&ld, msg, sizeof(msg));
        return sweep_exec_failed(x, p, msg, rc, t, d);
    }
    rc = sweepdb_record(x->db, p->id, m, wall, rank, d);
    cJSON_Delete(m);
    if (rc == LLM_OK) {
        p->status = SWEEPDB_DONE;
        sweep_exec_cleanup(x, dir);
    }
    return rc;
}

bool sweep_point_runnable(const struct sweep_point *p)
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

int sweep_exec_inline(const struct sweep_exec *x, struct sweep_point *p,
                      int rank, size_t total, struct sweep_tally *t,
                      struct llm_diag *d)
{
    char dir[1100], msg[1200];
    double t0 = sweep_now_s();
    int rc;

    sweep_exec_point_dir(x, p, dir, sizeof(dir));
    rc = sweep_exec_point(x, p, dir, msg, sizeof(msg));
    t->ran++;
    if (rc) {
        sweep_exec_cleanup(x, dir);
        sweep_exec_progress(x, p, total, t, 0, msg);
        return sweep_exec_failed(x, p, msg, rc, t, d);
    }
    rc = record(x, p, dir, sweep_now_s() - t0, rank, t, d);
    sweep_exec_progress(x, p, total, t, sweep_now_s() - t0,
             p->status == SWEEPDB_DONE ? NULL : "no results");
    return rc;
}

/* The child: runs the point, leaves error.txt when it fails. */
static void child_main(const struct sweep_exec *x, const struct sweep_point *p,
                       const char *dir)
{
    char msg[1200];
    int rc = sweep_exec_point(x, p, dir, msg, sizeof(msg));

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

    sweep_exec_point_dir(x, &pts[i], dir, sizeof(dir));
    fflush(NULL);
    pid = fork();
    if (pid < 0)
        return diag_set(d, LLM_EIO, "fork: %s", strerror(errno));
    if (pid == 0)
        child_main(x, &pts[i], dir);
    *s = (struct slot){ .pid = pid, .idx = i, .t0 = sweep_now_s() };
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

    sweep_exec_point_dir(x, p, dir, sizeof(dir));
    t->ran++;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        rc = record(x, p, dir, sweep_now_s() - t0, 0, t, d);
        sweep_exec_progress(x, p, total, t, sweep_now_s() - t0,
                 p->status == SWEEPDB_DONE ? NULL : "no results");
        return rc;
    }
    read_error(dir, msg, sizeof(msg));
    sweep_exec_cleanup(x, dir);
    sweep_exec_progress(x, p, total, t, 0, msg);
    return sweep_exec_failed(x, p, msg, WIFEXITED(status) &&
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
            if (sweep_point_runnable(&pts[i]))
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
        total += sweep_point_runnable(&pts[i]);
    if (total == 0)
        return LLM_OK;
    rc = store_mkdirs(x->runs_dir, d);
    if (rc)
        return rc;
    if (x->jobs > 1)
        rc = run_forked(x, pts, n, total, t, d);
    for (i = 0; x->jobs <= 1 && rc == LLM_OK && i < n; i++)
        if (sweep_point_runnable(&pts[i]))
            rc = sweep_exec_inline(x, &pts[i], 0, total, t, d);
    rmdir(x->runs_dir);     /* only when empty */
    return rc;
}

/* ---- a sweep file's whole run ------------------------------------------ */

int sweep_job_load(struct sweep_job *j, const struct sweep_args *a,
                   struct llm_diag *d)
{
    int rc = sweep_load(a->file, &j->sp, d);

    if (!rc && a->engine)
        rc = sweep_add_fixed(&j->sp, "engine", a->engine, d);
    if (rc)
        return rc;
    d->file = NULL;
    snprintf(j->out, sizeof(j->out), "%s", a->out ? a->out : j->sp.out_dir);
    snprintf(j->db_path, sizeof(j->db_path), "%s/sweep.sqlite", j->out);
    snprintf(j->runs, sizeof(j->runs), "%s/runs", j->out);
    rc = sweep_expand(&j->sp, &j->pts, &j->n, d);
    j->x = (struct sweep_exec){ .base_path = j->sp.base_path,
        .fixed = (const char *const *)j->sp.fixed, .runs_dir = j->runs,
        .jobs = a->jobs ? a->jobs : j->sp.jobs,
        .keep_runs = j->sp.keep_runs, .log = a->log };
    return rc;
}

int sweep_job_open(struct sweep_job *j, struct llm_diag *d)
{
    struct sweepdb_meta m = { .name = j->sp.name, .kind = "sweep",
        .load_axis = j->sp.load_axis, .confidence = j->sp.confidence };
    char *base = NULL;
    int rc = store_mkdirs(j->out, d);

    if (!rc) rc = sweep_base_materialize(&j->sp, j->out, d);
    if (!rc) rc = sweep_base_identity(&j->sp, &base, d);
    m.base = base;
    if (!rc) rc = sweepdb_open(j->db_path, &m, &j->db, d);
    free(base);
    j->x.db = j->db;
    if (!rc) rc = sweepdb_register(j->db, j->pts, j->n, d);
    if (!rc) rc = sweep_exec_validate(&j->x, j->pts, j->n, d);
    return rc;
}

int sweep_job_summarize(struct sweep_job *j, int64_t counts[4],
                        struct llm_diag *d)
{
    int rc = sweepdb_aggregate(j->db, d);

    return rc ? rc : sweepdb_counts(j->db, counts, d);
}

int sweep_tally_error(const struct sweep_tally *t, struct llm_diag *d)
{
    if (t->failed == 0)
        return LLM_OK;
    return diag_set(d, t->first_code, "%zu point%s failed; the first: %s",
                    t->failed, t->failed == 1 ? "" : "s", t->first_error);
}

void sweep_job_free(struct sweep_job *j)
{
    sweepdb_close(j->db);
    sweep_points_free(j->pts, j->n);
    sweep_spec_free(&j->sp);
}
