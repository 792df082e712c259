#include "run/plan.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/plot.h"
#include "analysis/store.h"
#include "base/jcfg.h"
#include "run/scenario.h"

/* The key paths the planner adds to a candidate's own. */
#define PLAN_GPUS_KEY "hardware.num_gpus"
#define PLAN_RATE_KEY "workload.rate_scale"

/* A candidate: its combination plus num_gpus and the rate being tried. */
struct cand {
    const char **keys, **values;
    size_t n;                    /* combination keys + 2 */
    char gpus[24], rate[40];
};

static int cand_init(struct cand *k, const struct plan_spec *p, size_t c)
{
    k->n = p->sw.n_params + 2;
    k->keys = calloc(k->n, sizeof(*k->keys));
    k->values = calloc(k->n, sizeof(*k->values));
    if (k->keys == NULL || k->values == NULL)
        return LLM_ENOMEM;
    sweep_combination(&p->sw, c, k->keys, k->values);
    k->keys[k->n - 2] = PLAN_GPUS_KEY;
    k->values[k->n - 2] = k->gpus;
    k->keys[k->n - 1] = PLAN_RATE_KEY;
    k->values[k->n - 1] = k->rate;
    return LLM_OK;
}

static void cand_free(struct cand *k)
{
    free(k->keys);
    free(k->values);
}

static void set_rate(struct cand *k, double scale)
{
    cJSON *v = cJSON_CreateNumber(scale);
    char *t = v ? cJSON_PrintUnformatted(v) : NULL;

    snprintf(k->rate, sizeof(k->rate), "%s", t ? t : "1");
    free(t);
    cJSON_Delete(v);
}

static double num_at(const cJSON *root, const char *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(root, obj), key);

    return cJSON_IsNumber(v) && v->valuedouble >= 1 ? v->valuedouble : 1;
}

/* GPUs of one replica: tp x pp of the resolved config (pp where the
 * config has it), so that num_gpus makes exactly one replica. */
static int replica_gpus(const struct plan_spec *p, const struct sweep_exec *x,
                        struct cand *k, struct llm_diag *d)
{
    cJSON *root = NULL;
    char *set;
    size_t i;
    int rc = jcfg_load(p->sw.base_path, &root, d);

    for (i = 0; rc == LLM_OK && x->fixed[i] != NULL; i++)
        rc = jcfg_set(root, x->fixed[i], d);
    for (i = 0; rc == LLM_OK && i + 2 < k->n; i++) {
        set = malloc(strlen(k->keys[i]) + strlen(k->values[i]) + 2);
        if (set == NULL)
            rc = diag_set(d, LLM_ENOMEM, "out of memory");
        else
            sprintf(set, "%s=%s", k->keys[i], k->values[i]);
        if (set != NULL)
            rc = jcfg_set(root, set, d);
        free(set);
    }
    if (rc == LLM_OK)
        snprintf(k->gpus, sizeof(k->gpus), "%.0f",
                 num_at(root, "hardware", "tp") *
                 num_at(root, "hardware", "pp"));
    cJSON_Delete(root);
    return rc;
}

/* Loads the candidate once: device, price, GPUs per replica, or why it
 * does not fit. */
static int check_candidate(const struct plan_spec *p,
                           const struct sweep_exec *x, struct cand *k,
                           struct plan_result *r, struct llm_diag *d)
{
    struct sweep_point pt;
    struct scenario sc;
    struct llm_diag ld = { 0 };
    const char **sets;
    char msg[1200];
    size_t nf = 0, i;
    int rc;

    set_rate(k, p->search.start);
    if (sweep_point_make(k->keys, k->values, k->n, p->sw.seeds[0], &pt))
        return diag_set(d, LLM_ENOMEM, "out of memory");
    while (x->fixed[nf] != NULL)
        nf++;
    sets = calloc(nf + k->n + 2, sizeof(*sets));
    for (i = 0; sets != NULL && i < nf; i++)
        sets[i] = x->fixed[i];
    for (i = 0; sets != NULL && pt.sets[i] != NULL; i++)
        sets[nf + i] = pt.sets[i];
    memset(&sc, 0, sizeof(sc));
    rc = sets ? scenario_load(p->sw.base_path, sets, &sc, &ld) : LLM_ENOMEM;
    free(sets);
    diag_format(&ld, msg, sizeof(msg));
    if (rc == LLM_OK) {
        snprintf(r->device, sizeof(r->device), "%s", sc.dev.id);
        r->gpus_per_replica = sc.num_gpus / sc.replicas;
        r->price_gpu_h = plan_price(p, sc.dev.id, sc.dev.price_per_hour);
        if (sc.replicas != 1)
            rc = diag_set(d, LLM_EINVAL, "candidate %s: %d replicas, "
                          "expected one", pt.params, sc.replicas);
    } else if (rc == LLM_ERANGE) {
        r->status = PLAN_INFEASIBLE;
        snprintf(r->note, sizeof(r->note), "%.500s", msg);
        rc = LLM_OK;
    } else {
        rc = diag_set(d, rc, "%s (candidate %s)", msg, pt.params);
    }
    scenario_free(&sc);     /* whatever scenario_load returned */
    sweep_point_clear(&pt);
    return rc;
}

/* Runs the candidate at one rate on every seed and judges it. */
static int evaluate(const struct plan_spec *p, const struct sweep_exec *x,
                    struct cand *k, double scale, struct plan_eval *e,
                    struct llm_diag *d)
{
    size_t ns = p->sw.n_seeds, i, made = 0;
    struct sweep_point *pts = calloc(ns, sizeof(*pts));
    struct sweep_tally t;
    char ttft[32], tpot[32];
    int rc = pts ? LLM_OK : diag_set(d, LLM_ENOMEM, "out of memory");

    set_rate(k, scale);
    for (i = 0; rc == LLM_OK && i < ns; i++, made++)
        if (sweep_point_make(k->keys, k->values, k->n, p->sw.seeds[i],
                             &pts[i]))
            rc = diag_set(d, LLM_ENOMEM, "out of memory");
    if (!rc) rc = sweepdb_register(x->db, pts, ns, d);
    if (!rc) rc = sweep_exec_run(x, pts, ns, &t, d);
    if (!rc && t.failed > 0)
        rc = diag_set(d, t.first_code, "%s", t.first_error);
    plan_metric_names(p, ttft, tpot, sizeof(ttft));
    *e = (struct plan_eval){ .scale = scale };
    if (!rc) rc = sweepdb_config_metric(x->db, pts[0].params,
                                        "offered_req_s", &e->offered, d);
    if (!rc) rc = sweepdb_config_metric(x->db, pts[0].params, ttft,
                                        &e->ttft, d);
    if (!rc) rc = sweepdb_config_metric(x->db, pts[0].params, tpot,
                                        &e->tpot, d);
    if (!rc) rc = sweepdb_config_metric(x->db, pts[0].params,
                                        "slo_attainment", &e->attain, d);
    if (!rc)
        plan_judge(p, e);
    sweep_points_free(pts, made);
    return rc;
}

static void step_line(FILE *log, const struct plan_result *r,
                      const struct plan_eval *e)
{
    char label[512];
    static const char *const skip[] = { PLAN_GPUS_KEY, NULL };

    sweep_params_label(r->params, skip, label, sizeof(label));
    fprintf(log, "  %s: rate_scale %-10g %8.3f req/s  %s%s\n", label,
            e->scale, e->offered.mean, e->pass ? "meets the SLOs" : "fails: ",
            e->pass ? "" : e->why);
    fflush(log);
}

/* Records the bracket's ends as the search moves. */
static void take(struct plan_result *r, const struct plan_eval *e)
{
    if (e->pass) {
        r->best = *e;
    } else if (r->fail_scale == 0 || e->scale < r->fail_scale) {
        r->fail_scale = e->scale;
        snprintf(r->note, sizeof(r->note), "%s", e->why);
    }
}

static int search(const struct plan_spec *p, const struct sweep_exec *x,
                  struct cand *k, FILE *log, struct plan_result *r,
                  struct llm_diag *d)
{
    struct plan_bisect b;
    struct plan_eval e;
    int rc = LLM_OK;

    plan_bisect_start(&b, &p->search);
    while (rc == LLM_OK && !b.done) {
        rc = evaluate(p, x, k, b.next, &e, d);
        if (rc)
            break;
        if (log != NULL)
            step_line(log, r, &e);
        take(r, &e);
        plan_bisect_feed(&b, &p->search, e.pass);
    }
    r->steps = b.steps;
    if (b.lo == 0)
        r->status = PLAN_NONE;
    else if (b.hi == 0)
        r->status = PLAN_UNBOUNDED;
    else
        r->status = PLAN_OK;
    return rc;
}

int plan_search_candidate(const struct plan_spec *p,
                          const struct sweep_exec *x, size_t c, FILE *log,
                          struct plan_result *r, struct llm_diag *d)
{
    struct cand k = { 0 };
    struct sweep_point pt;
    int rc = cand_init(&k, p, c);

    memset(r, 0, sizeof(*r));
    if (rc)
        return diag_set(d, rc, "out of memory");
    rc = replica_gpus(p, x, &k, d);
    /* The label: the candidate's params without the rate. */
    if (!rc && sweep_point_make(k.keys, k.values, k.n - 1, 0, &pt) == 0) {
        snprintf(r->params, sizeof(r->params), "%s", pt.params);
        sweep_point_clear(&pt);
    }
    if (!rc) rc = check_candidate(p, x, &k, r, d);
    if (!rc && r->status != PLAN_INFEASIBLE)
        rc = search(p, x, &k, log, r, d);
    if (!rc)
        plan_size(p, r);
    cand_free(&k);
    return rc;
}

static int fixed_list(struct plan_job *c, struct llm_diag *d)
{
    size_t nf = 0, i;

    c->slo_sets = plan_fixed_sets(&c->p);
    while (c->p.sw.fixed[nf] != NULL)
        nf++;
    c->fixed = calloc(nf + 3, sizeof(*c->fixed));
    if (c->slo_sets == NULL || c->fixed == NULL)
        return diag_set(d, LLM_ENOMEM, "out of memory");
    for (i = 0; i < nf; i++)
        c->fixed[i] = c->p.sw.fixed[i];
    c->fixed[nf] = c->slo_sets[0];
    c->fixed[nf + 1] = c->slo_sets[1];
    return LLM_OK;
}

static int open_db(struct plan_job *c, struct llm_diag *d)
{
    struct sweepdb_meta m = { .name = c->p.sw.name, .kind = "plan",
        .load_axis = PLAN_RATE_KEY, .confidence = c->p.sw.confidence };
    char *base = NULL, *full;
    int rc = sweep_base_identity(&c->p.sw, &base, d);

    if (rc)
        return rc;
    full = malloc(strlen(base) + strlen(c->slo_sets[0]) +
                  strlen(c->slo_sets[1]) + 3);
    if (full == NULL) {
        free(base);
        return diag_set(d, LLM_ENOMEM, "out of memory");
    }
    sprintf(full, "%s\n%s\n%s", base, c->slo_sets[0], c->slo_sets[1]);
    m.base = full;
    rc = sweepdb_open(c->db_path, &m, &c->db, d);
    free(base);
    free(full);
    return rc;
}

static int prepare(struct plan_job *c, const char *file, const char *out,
                   const char *engine, int64_t jobs, struct llm_diag *d)
{
    int rc = plan_load(file, &c->p, d);

    if (!rc && engine)
        rc = sweep_add_fixed(&c->p.sw, "engine", engine, d);
    if (rc)
        return rc;
    d->file = NULL;
    snprintf(c->out, sizeof(c->out), "%s", out ? out : c->p.sw.out_dir);
    snprintf(c->db_path, sizeof(c->db_path), "%s/plan.sqlite", c->out);
    snprintf(c->runs, sizeof(c->runs), "%s/runs", c->out);
    snprintf(c->plots, sizeof(c->plots), "%s/plots", c->out);
    rc = store_mkdirs(c->out, d);
    if (!rc) rc = sweep_base_materialize(&c->p.sw, c->out, d);
    if (!rc) rc = fixed_list(c, d);
    if (!rc) rc = open_db(c, d);
    c->x = (struct sweep_exec){ .base_path = c->p.sw.base_path,
        .fixed = c->fixed, .runs_dir = c->runs, .db = c->db,
        .jobs = jobs ? jobs : c->p.sw.jobs, .keep_runs = c->p.sw.keep_runs,
        .log = NULL };
    c->n_res = sweep_combinations(&c->p.sw);
    c->res = rc ? NULL : calloc(c->n_res, sizeof(*c->res));
    if (!rc && c->res == NULL)
        rc = diag_set(d, LLM_ENOMEM, "out of memory");
    return rc;
}

static int search_all(struct plan_job *c, FILE *log, struct llm_diag *d)
{
    size_t i;
    int rc = LLM_OK;

    for (i = 0; rc == LLM_OK && i < c->n_res; i++)
        rc = plan_search_candidate(&c->p, &c->x, i, log, &c->res[i], d);
    return rc;
}

static int report_all(struct plan_job *c, struct llm_diag *d)
{
    const char *dbs[1] = { c->db_path };
    struct plot_list *plots = calloc(1, sizeof(*plots));
    int rc = plots ? sweepdb_aggregate(c->db, d)
                   : diag_set(d, LLM_ENOMEM, "out of memory");

    plan_rank(c->res, c->n_res);
    if (!rc) rc = store_mkdirs(c->plots, d);
    if (!rc) rc = plot_make(dbs, 1, c->plots, plots, d);
    if (!rc) rc = plan_write_report(&c->p, c->res, c->n_res, c->out, "plots",
                                    plots, d);
    free(plots);
    return rc;
}

void plan_job_free(struct plan_job *c)
{
    sweepdb_close(c->db);
    free(c->res);
    free(c->fixed);
    if (c->slo_sets) {
        free(c->slo_sets[0]);
        free(c->slo_sets[1]);
        free(c->slo_sets);
    }
    plan_free(&c->p);
}

int plan_job_run(struct plan_job *c, const char *file, const char *out,
                 const char *engine, int64_t jobs, FILE *log,
                 struct llm_diag *d)
{
    const char *np = getenv("OMPI_COMM_WORLD_SIZE");
    int rc = LLM_OK;

    if (np != NULL && atoi(np) > 1)
        rc = diag_set(d, LLM_EINVAL, "plan runs on one machine (its rates "
                      "depend on each other): use -j N, not mpirun");
    if (!rc) rc = prepare(c, file, out, engine, jobs, d);
    if (!rc) rc = search_all(c, log, d);
    if (!rc) rc = report_all(c, d);
    return rc;
}

int plan_run(const char *file, const char *out, int64_t jobs, FILE *log,
             struct plan_result **res, size_t *n, struct llm_diag *d)
{
    struct plan_job c = { 0 };
    int rc = plan_job_run(&c, file, out, NULL, jobs, log, d);

    if (!rc) {
        *res = c.res;
        *n = c.n_res;
        c.res = NULL;
    }
    plan_job_free(&c);
    return rc;
}
