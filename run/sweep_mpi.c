#include "run/sweep_mpi.h"

#include <stdlib.h>
#include <string.h>

#ifdef LLMSIM_MPI
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

#include <mpi.h>

#include "analysis/store.h"

bool sweep_mpi_launched(void)
{
    return getenv("OMPI_COMM_WORLD_SIZE") != NULL ||
           getenv("PMIX_RANK") != NULL || getenv("PMI_RANK") != NULL;
}

bool sweep_mpi_built(void)
{
    return true;
}

/* A worker's own base.json (mpi_worker_base), removed after its points. */
static void remove_base(const char *dir)
{
    char path[1300];

    snprintf(path, sizeof(path), "%s/base.json", dir);
    remove(path);
}

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
static void mpi_work(struct sweep_job *j, size_t idx)
{
    struct llm_diag ld = { 0 };
    struct sweep_point *p = &j->pts[idx];
    cJSON *m = NULL;
    char dir[1100], msg[1200] = "";
    double t0 = sweep_now_s();
    char *text;
    int rc;

    sweep_exec_point_dir(&j->x, p, dir, sizeof(dir));
    rc = sweep_exec_point(&j->x, p, dir, msg, sizeof(msg));
    if (!rc && (rc = sweep_exec_metrics(dir, &m, &ld)) != LLM_OK)
        diag_format(&ld, msg, sizeof(msg));
    sweep_exec_cleanup(&j->x, dir);
    text = result_message(idx, sweep_now_s() - t0, m, rc, msg);
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
static int mpi_apply(struct sweep_job *j, char *buf, int from, size_t total,
                     struct sweep_tally *t, struct llm_diag *d)
{
    char kind[4] = "", *body = strchr(buf, '\n');
    size_t idx = SIZE_MAX;
    double wall = 0;
    int code = 0, rc;
    cJSON *m;

    if (body == NULL || sscanf(buf, "%3s %zu", kind, &idx) != 2 ||
        idx >= j->n)
        return diag_set(d, LLM_EIO, "rank %d sent a malformed result", from);
    *body++ = '\0';
    t->ran++;
    if (strcmp(kind, "ok") != 0) {
        sscanf(buf, "%*s %*u %d", &code);
        sweep_exec_progress(&j->x, &j->pts[idx], total, t, 0, body);
        return sweep_exec_failed(&j->x, &j->pts[idx], body, code, t, d);
    }
    sscanf(buf, "%*s %*u %lf", &wall);
    m = parse_metrics(body);
    if (m == NULL)
        return diag_set(d, LLM_ENOMEM, "out of memory");
    rc = sweepdb_record(j->db, j->pts[idx].id, m, wall, from, d);
    cJSON_Delete(m);
    j->pts[idx].status = SWEEPDB_DONE;
    sweep_exec_progress(&j->x, &j->pts[idx], total, t, wall, NULL);
    return rc;
}

static int mpi_take(struct sweep_job *j, size_t total, struct sweep_tally *t,
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
    rc = mpi_apply(j, buf, ms.MPI_SOURCE, total, t, d);
    free(buf);
    return rc;
}

static int mpi_drain(struct sweep_job *j, size_t total, size_t *left,
                     bool block, struct sweep_tally *t, struct llm_diag *d)
{
    int flag = 1, rc = LLM_OK;

    while (*left > 0 && rc == LLM_OK) {
        if (!block)
            MPI_Iprobe(MPI_ANY_SOURCE, TAG_RESULT, MPI_COMM_WORLD, &flag,
                       MPI_STATUS_IGNORE);
        if (!flag)
            break;
        rc = mpi_take(j, total, t, d);
        (*left)--;
    }
    return rc;
}

/* Rank 0's list of (index, id) to run, broadcast to every rank. */
static int64_t *mpi_share_list(struct sweep_job *j, int rank, int *rc_all,
                               int64_t *count)
{
    int64_t *list = NULL;
    size_t i;

    *count = 0;
    if (rank == 0 && *rc_all == LLM_OK) {
        list = calloc(2 * j->n + 2, sizeof(*list));
        for (i = 0; list != NULL && i < j->n; i++)
            if (sweep_point_runnable(&j->pts[i])) {
                list[2 * *count] = (int64_t)i;
                list[2 * (*count)++ + 1] = j->pts[i].id;
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

static int mpi_rank0(struct sweep_job *j, const int64_t *list, int64_t count,
                     int size, const struct sweep_mpi_hooks *h,
                     struct llm_diag *d)
{
    struct sweep_tally t = { 0 };
    int64_t counts[4];
    size_t left = 0, total = (size_t)count;
    int64_t k;
    int rc = LLM_OK;

    for (k = 0; k < count; k++)
        left += k % size != 0;
    for (k = 0; k < count && rc == LLM_OK; k += size) {
        rc = sweep_exec_inline(&j->x, &j->pts[list[2 * k]], 0, total, &t, d);
        if (!rc)
            rc = mpi_drain(j, total, &left, false, &t, d);
    }
    if (!rc)
        rc = mpi_drain(j, total, &left, true, &t, d);
    if (rc) {
        /* Workers may be blocked sending to us: end the whole job. */
        h->fatal(h->ctx, rc, d);
        MPI_Abort(MPI_COMM_WORLD, diag_exit_status(rc));
    }
    rmdir(j->x.runs_dir);
    rc = sweep_job_summarize(j, counts, d);
    if (rc)
        return rc;
    h->done(h->ctx, j, &t, counts);
    return sweep_tally_error(&t, d);
}

/* A worker's copy of a base given inline: rank 0 writes DIR/base.json on
 * its own machine, which other machines do not see (issue 24: a sweep
 * file runs on a cluster unchanged), so each worker writes its own in
 * RUNS/rank<r>/; *dir gets that folder ("" when the base is a file). */
static int mpi_worker_base(struct sweep_job *j, int rank, char *dir,
                           size_t len, struct llm_diag *d)
{
    dir[0] = '\0';
    if (j->sp.base_inline == NULL)
        return LLM_OK;
    snprintf(dir, len, "%s/rank%d", j->runs, rank);
    return sweep_base_materialize(&j->sp, dir, d);
}

int sweep_mpi_run(const struct sweep_args *a,
                  const struct sweep_mpi_hooks *h, int *rank,
                  struct llm_diag *d)
{
    struct sweep_job job = { 0 }, *j = &job;
    char base_dir[1200];
    int size, rc;
    int64_t count, k, *list;

    MPI_Init(NULL, NULL);
    MPI_Comm_rank(MPI_COMM_WORLD, rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    rc = sweep_job_load(j, a, d);
    if (!rc && a->jobs > 1)
        rc = diag_set(d, LLM_EINVAL, "-j: under mpirun each rank runs one "
                      "point at a time; use mpirun -np N instead");
    j->x.jobs = 1;
    if (*rank == 0 && !rc)
        rc = sweep_job_open(j, d);
    if (*rank == 0 && !rc)
        rc = store_mkdirs(j->runs, d);
    list = mpi_share_list(j, *rank, &rc, &count);
    if (rc == LLM_OK && *rank != 0 &&
        (rc = mpi_worker_base(j, *rank, base_dir, sizeof(base_dir), d))) {
        /* rank 0 waits for this rank's points: end the whole job */
        h->fatal(h->ctx, rc, d);
        MPI_Abort(MPI_COMM_WORLD, diag_exit_status(rc));
    }
    if (rc == LLM_OK && *rank == 0)
        rc = mpi_rank0(j, list, count, size, h, d);
    for (k = *rank; rc == LLM_OK && *rank != 0 && k < count; k += size) {
        j->pts[list[2 * k]].id = list[2 * k + 1];
        mpi_work(j, (size_t)list[2 * k]);
    }
    if (*rank != 0 && rc == LLM_OK && base_dir[0] != '\0') {
        remove_base(base_dir);
        rmdir(base_dir);
    }
    free(list);
    sweep_job_free(j);
    MPI_Finalize();
    return rc;
}

#else

bool sweep_mpi_launched(void)
{
    const char *s = getenv("OMPI_COMM_WORLD_SIZE");

    return s != NULL && atoi(s) > 1;
}

bool sweep_mpi_built(void)
{
    return false;
}

int sweep_mpi_run(const struct sweep_args *a,
                  const struct sweep_mpi_hooks *h, int *rank,
                  struct llm_diag *d)
{
    (void)a;
    (void)h;
    *rank = 0;
    return diag_set(d, LLM_EINVAL, "started by mpirun, but this llmsim was "
                    "built without MPI: run build/llmsim-mpi instead");
}

#endif
