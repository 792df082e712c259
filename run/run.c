#include "run/run.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "analysis/replica_stats.h"
#include "analysis/store.h"
#include "analysis/summary.h"
#include "analysis/vllm.h"
#include "run/progress.h"
#include "run/recpipe.h"
#include "hw/cost.h"
#include "hw/energy.h"
#include "hw/powercap.h"
#include "base/paths.h"
#include "base/version.h"
#include "traces/source.h"

struct run_ctx {
    struct scenario *sc;
    /* The cost model the summary names (cost_model, cost_tables): the
     * colocated pool's, or for a cluster one of the "hardware" section's
     * device, owned here (own) and never pricing. */
    const struct cost_model *cost;
    struct cost_model *own;
    struct cost_env env;
    struct req_source *src;
    struct store *store;
    /* The requests rows as the summaries read them, kept as they are
     * written: reading a million rows back costs more than keeping them. */
    struct summary_reqs reqs;
    /* The sums over iterations, kept whether or not rows are stored
     * (issue 17): KV use, queue and batch size never read 0 for want of
     * an iterations table. */
    struct summary_iters iters;
    int64_t extrapolated;         /* the drafter's (the pools count theirs) */
    struct cluster_stats cstats;  /* pools (issue 10): KV hand-offs */
    bool has_cstats;
    /* Per replica: time in iterations, and in iterations that left
     * requests waiting when they were planned (the summary's
     * busy_fraction and utilization). */
    int64_t *busy_ns, *backlog_ns;
    int32_t n_reps;
    bool vllm;                    /* write vllm.json too */
    struct progress prog;         /* off unless run_opts.progress */
    cJSON *vllm_json;             /* built before the database closes */
    /* Goodput counted as requests complete (the kept requests become
     * sketches past SUMMARY_EXACT_MAX): every SLO with slo.e2e_ms, and
     * those vllm.json counts (vllm_slo_of). */
    struct vllm_slo slo_all, slo_vllm;
    int64_t good_all, good_vllm;
    struct cost_model *draft_cost;  /* speculative decoding's drafter */
    struct cost_env draft_env;
    struct spec_stats spec;         /* summed over replicas */
    cJSON *sched_report;         /* schedulers' own figures (report) */
    /* Power oversubscription (issue 21; NULL: off): the row controller,
     * the running sim it reads, scratch. */
    struct powercap *pc;
    const struct sim *sim;
    bool *busy;
    int64_t *start;
    const struct batch **mix;
};

/* The drafter's passes (sim/spec.h), on its own device. */
static int price_draft(void *ctx, const struct batch *b, int64_t *ns)
{
    struct run_ctx *c = ctx;
    struct cost_breakdown bd;
    int rc = cost_price(c->draft_cost, b, &bd);

    *ns = bd.total_ns;
    c->extrapolated += bd.extrapolated;
    return rc;
}

static int open_draft(struct run_ctx *c, struct llm_diag *d)
{
    struct spec_setup *sp = &c->sc->spec;
    int rc;

    if (!sp->on)
        return LLM_OK;
    /* a drafter on the target's GPUs runs in the target's engine */
    c->draft_env = (struct cost_env){ .model = &sp->draft, .dev = &sp->dev,
                                      .shard = sp->shard,
                                      .root = llm_root(),
                                      .engine = strcmp(sp->dev.id,
                                                       c->sc->dev.id) == 0 ?
                                                &c->sc->engine : NULL };
    rc = cost_create(&c->draft_env, sp->cost_params,
                     "speculative.draft_cost_model", &c->draft_cost, d);
    sp->cfg.draft_cost = price_draft;
    sp->cfg.draft_ctx = c;
    return rc;
}

/* Sums the replicas' speculation counters (sim/spec.h). */
static void collect_spec(struct run_ctx *c, const struct sim *s)
{
    int32_t i;

    for (i = 0; c->sc->spec.on && i < c->sc->replicas; i++) {
        const struct replica_core *r = sim_replica(s, i);
        const struct spec_stats *x = r->spec ? spec_stats_of(r->spec) : NULL;
        if (x == NULL)
            continue;
        c->spec.steps += x->steps;
        c->spec.verifies += x->verifies;
        c->spec.drafted += x->drafted;
        c->spec.accepted += x->accepted;
        c->spec.draft_ns += x->draft_ns;
        c->spec.exposed_ns += x->exposed_ns;
        c->spec.misses += x->misses;
    }
}

/* "speculative" of the summary (docs/speculative.md). */
static void add_spec(const struct run_ctx *c, cJSON *summary)
{
    static const char *const names[] = { "draft", "eagle", "rsd", "mirror" };
    const struct spec_setup *sp = &c->sc->spec;
    const struct spec_stats *x = &c->spec;
    cJSON *o;

    if (!sp->on || (o = cJSON_AddObjectToObject(summary, "speculative")) ==
        NULL)
        return;
    cJSON_AddStringToObject(o, "method", names[sp->cfg.method]);
    cJSON_AddStringToObject(o, "drafter", sp->draft.id);
    cJSON_AddStringToObject(o, "draft_device", sp->dev.id);
    cJSON_AddNumberToObject(o, "depth", sp->cfg.depth);
    cJSON_AddNumberToObject(o, "drafts_per_verify", sp->cfg.nodes);
    cJSON_AddNumberToObject(o, "expected_accepted",
                            spec_expected_accepted(&sp->cfg));
    cJSON_AddNumberToObject(o, "steps", (double)x->steps);
    cJSON_AddNumberToObject(o, "verifies", (double)x->verifies);
    cJSON_AddNumberToObject(o, "drafted", (double)x->drafted);
    cJSON_AddNumberToObject(o, "accepted", (double)x->accepted);
    cJSON_AddNumberToObject(o, "acceptance_rate", x->drafted ?
                            (double)x->accepted / (double)x->drafted : 0);
    cJSON_AddNumberToObject(o, "accepted_per_verify", x->verifies ?
                            (double)x->accepted / (double)x->verifies : 0);
    cJSON_AddNumberToObject(o, "draft_s", (double)x->draft_ns / 1e9);
    cJSON_AddNumberToObject(o, "draft_exposed_s",
                            (double)x->exposed_ns / 1e9);
    cJSON_AddNumberToObject(o, "mirror_misses", (double)x->misses);
}

/* The GPUs one replica runs on (tp x pp, as the scenario counts them). */
static int32_t gpus_per_replica(const struct scenario *sc)
{
    return sc->num_gpus / sc->replicas;
}

/* Runs the row's power controller at now_ns, from every replica's
 * state (hw/powercap.h). */
static void cap_tick(struct run_ctx *c, int64_t now_ns)
{
    int32_t j;

    if (!powercap_due(c->pc, now_ns))
        return;
    for (j = 0; j < c->sc->replicas; j++) {
        const struct replica_core *r = sim_replica(c->sim, j);
        c->busy[j] = r->busy;
        c->start[j] = r->iter_start_ns;
        c->mix[j] = &r->pub.batch;
    }
    powercap_tick(c->pc, now_ns, c->busy, c->start, c->mix);
}

/* The pool's price under the replica's clock cap (run/pools.h
 * pool_cap_fn): the controller runs first, at the time the replica
 * prices its iteration. */
static int cap_price(void *ctx, int32_t i, const struct batch *b,
                     const struct cost_breakdown *bd, int64_t *ns)
{
    struct run_ctx *c = ctx;

    cap_tick(c, sim_replica(c->sim, i)->iter_start_ns);
    return powercap_price(c->pc, i, b, bd->total_ns, bd->fixed_ns, ns);
}

static int next_request(void *ctx, struct req_spec *out, bool *eof,
                        struct llm_diag *d)
{
    return source_next(((struct run_ctx *)ctx)->src, out, eof, d);
}

static int next_follow_up(void *ctx, int64_t session, int64_t now_ns,
                          struct req_spec *out, bool *has,
                          struct llm_diag *d)
{
    return source_feedback(((struct run_ctx *)ctx)->src, session, now_ns,
                           out, has, d);
}

/* The goodput counts of a completed request's row. */
static void count_good(struct run_ctx *c, const struct store_row *r)
{
    struct summary_req q = { .ttft_ns = r->first_token_ns - r->arrival_ns,
        .e2e_ns = r->finish_ns - r->arrival_ns,
        .output_tokens = r->output_tokens, .replica = r->replica };

    if (c->sc->slo_e2e_ms >= 0)
        c->good_all += summary_meets(&c->reqs.slo, r) &&
                       vllm_meets(&q, &c->slo_all);
    if (c->vllm)
        c->good_vllm += vllm_meets(&q, &c->slo_vllm);
}

static int on_request(void *ctx, const struct request *q)
{
    struct run_ctx *c = ctx;
    struct store_row row;
    int rc = store_request(c->store, q);

    store_row_of(q, &row);
    progress_tick(&c->prog, row.finish_ns > row.arrival_ns ? row.finish_ns
                                                           : row.arrival_ns,
                  true);
    if (!row.rejected) {
        count_good(c, &row);
        pools_observe(&c->sc->pools, q, c->sc->slo_ttft_ms,
                      c->sc->slo_tpot_ms);
    }
    return rc == LLM_OK ? summary_reqs_add(&c->reqs, &row) : rc;
}

/* The row's power controller meters every iteration: its caps change
 * the simulation, so it runs without outputs too (run_opts.no_output). */
static void cap_iteration(struct run_ctx *c, const struct iter_record *rec)
{
    if (c->pc)
        powercap_iteration(c->pc, rec->replica, rec->start_ns, rec->end_ns,
                           rec->prefill_tokens, rec->decode_seqs,
                           powercap_running_clock(c->pc, rec->replica));
}

/* Adds the iteration to its replica's busy and backlogged time. */
static int count_load(struct run_ctx *c, const struct iter_record *rec)
{
    int64_t dur = rec->end_ns - rec->start_ns;

    if (rec->replica >= c->n_reps) {
        int32_t n = rec->replica + 1;
        int64_t *b = realloc(c->busy_ns, (size_t)n * sizeof(*b));
        int64_t *g = b ? realloc(c->backlog_ns, (size_t)n * sizeof(*g))
                       : NULL;
        if (b)
            c->busy_ns = b;
        if (g == NULL)
            return LLM_ENOMEM;
        c->backlog_ns = g;
        memset(b + c->n_reps, 0, (size_t)(n - c->n_reps) * sizeof(*b));
        memset(g + c->n_reps, 0, (size_t)(n - c->n_reps) * sizeof(*g));
        c->n_reps = n;
    }
    c->busy_ns[rec->replica] += dur;
    if (rec->backlog)
        c->backlog_ns[rec->replica] += dur;
    return LLM_OK;
}

/* One iteration's row of the iterations table and its summary sums. */
static int add_row(struct run_ctx *c, const struct iter_record *rec)
{
    int rc = c->sc->write_iterations ? store_iteration(c->store, rec)
                                     : LLM_OK;

    if (rc == LLM_OK)
        rc = summary_iters_add(&c->iters, rec->replica, rec->start_ns,
                               rec->end_ns, rec->kv_blocks_used,
                               rec->n_waiting, rec->n_running);
    return rc;
}

/* A row for each iteration a record covers (a fast-forwarded span has
 * several, alike but for their times, sim/record.h), so that the summary
 * read back from the table is the one the run printed. */
static int each_iteration(struct run_ctx *c, const struct iter_record *rec)
{
    struct iter_record one;
    int32_t j;
    int rc = LLM_OK;

    if (rec->iters <= 1)
        return add_row(c, rec);
    one = *rec;
    for (j = 0; j < rec->iters && rc == LLM_OK; j++) {
        iter_record_nth(rec, j, &one);
        rc = add_row(c, &one);
    }
    return rc;
}

static int on_iteration(void *ctx, const struct iter_record *rec)
{
    struct run_ctx *c = ctx;
    int32_t i;
    int rc;

    if (c->store == NULL) {      /* run_opts.no_output */
        cap_iteration(c, rec);
        return LLM_OK;
    }
    rc = each_iteration(c, rec);
    progress_tick(&c->prog, rec->end_ns, false);
    if (rc == LLM_OK && rec->n_tiers > 0)
        rc = store_kv_tiers(c->store, rec);
    pools_iteration(&c->sc->pools, rec);   /* its pool's device's energy */

    for (i = 0; rc == LLM_OK && i < rec->n_itl; i++)
        rc = store_itl(c->store, rec->itl[i].gap_ns, rec->itl[i].count);
    if (rc == LLM_OK)
        rc = count_load(c, rec);
    cap_iteration(c, rec);
    return rc;
}

/* The "power" section (hw/powercap.h): a row of the run's replicas,
 * which caps the colocated pool's prices. */
static int open_powercap(struct run_ctx *c, struct llm_diag *d)
{
    struct scenario *sc = c->sc;
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(sc->root, "power");
    size_t n = (size_t)sc->replicas;
    int rc;

    if (p == NULL)
        return LLM_OK;
    if (sc->pools.cluster)
        return diag_set(d, LLM_EINVAL, "power: not supported with "
                        "\"cluster\" pools");
    rc = powercap_create(p, &sc->model, &sc->dev, &sc->shard,
                         sc->replicas, gpus_per_replica(sc), &c->pc, d);
    if (rc)
        return rc;
    c->busy = calloc(n, sizeof(*c->busy));
    c->start = calloc(n, sizeof(*c->start));
    c->mix = calloc(n, sizeof(*c->mix));
    if (!c->busy || !c->start || !c->mix)
        return diag_set(d, LLM_ENOMEM, "out of memory");
    sc->pools.p[0].cap = cap_price;
    sc->pools.p[0].cap_ctx = c;
    return LLM_OK;
}

static void close_powercap(struct run_ctx *c)
{
    c->sc->pools.p[0].cap = NULL;
    c->sc->pools.p[0].cap_ctx = NULL;
    powercap_destroy(c->pc);
    free(c->busy);
    free(c->start);
    free(c->mix);
}

/* Every pool's cost model and replicas (run/pools.h), and the cost model
 * the summary names. */
static int start_pools(struct run_ctx *c, struct llm_diag *d)
{
    struct scenario *sc = c->sc;
    struct replica_config tmpl = { .block_tokens = sc->block_tokens,
        .max_model_len = sc->max_model_len, .kv = sc->kv,
        .kv_params = sc->kv_params, .kv_path = "kv_cache",
        .shared_prefix = cost_shared_prefix(sc->cost_params),
        .fast_forward = sc->fast_forward,
        .spec = sc->spec.on ? &sc->spec.cfg : NULL };
    int rc = pools_start(&sc->pools, &sc->model, sc->cost_params, &tmpl, d);

    if (rc || !sc->pools.cluster) {
        c->cost = sc->pools.p[0].cost;
        return rc;
    }
    c->env = (struct cost_env){ .model = &sc->model, .dev = &sc->dev,
                                .shard = sc->shard, .root = llm_root(),
                                .engine = &sc->engine };
    rc = cost_create(&c->env, sc->cost_params, "cost_model", &c->own, d);
    c->cost = c->own;
    return rc;
}

static int open_parts(struct run_ctx *c, const char *dir, struct llm_diag *d)
{
    struct scenario *sc = c->sc;
    char *json = cJSON_PrintUnformatted(sc->root);
    struct run_info info = { .name = sc->name, .config_json = json,
        .seed = sc->seed, .version = LLMSIM_VERSION, .model = sc->model.id,
        .device = sc->dev.id, .kv_blocks = sc->mem.kv_blocks,
        .block_tokens = sc->block_tokens, .replicas = sc->replicas,
        .tp = sc->shard.tp };
    int rc;

    d->file = sc->path;
    rc = start_pools(c, d);
    if (!rc) rc = open_draft(c, d);
    if (!rc) {
        info.cost_model = cost_name(c->cost);
        rc = source_open(sc->workload, "workload", sc->seed, &c->src, d);
    }
    if (!rc)
        rc = open_powercap(c, d);
    if (!rc && dir != NULL) {
        d->file = NULL;
        rc = store_open(dir, &info, &c->store, d);
    }
    free(json);
    return rc;
}

/* What schedulers with a report hook say about the run (sim/replica_view.h),
 * kept until the summary exists. */
static void collect_reports(struct run_ctx *c, const struct sim *s,
                            int32_t n)
{
    int32_t i;

    for (i = 0; i < n; i++) {
        const struct replica_core *r = sim_replica(s, i);
        if (r->sched->report == NULL)
            continue;
        if (c->sched_report == NULL &&
            (c->sched_report = cJSON_CreateObject()) == NULL)
            return;
        r->sched->report(r->sched_p.st, c->sched_report);
    }
}

/* Moves the schedulers' figures into the summary. */
static void add_reports(struct run_ctx *c, cJSON *summary)
{
    cJSON *x;

    while (c->sched_report != NULL &&
           (x = c->sched_report->child) != NULL) {
        cJSON_DetachItemViaPointer(c->sched_report, x);
        cJSON_AddItemToObject(summary, x->string, x);
    }
}

static int simulate(struct run_ctx *c, struct sim_stats *stats,
                    struct llm_diag *d)
{
    struct scenario *sc = c->sc;
    struct sim_config cfg = { .router = sc->router,
        .router_params = sc->router_params, .router_path = "router",
        .seed = sc->seed, .source = next_request, .source_ctx = c,
        .feedback = next_follow_up,
        .rec = { c, c->store ? on_request : NULL,
                 c->store || c->pc ? on_iteration : NULL } };
    struct sim *s = NULL;
    struct recpipe *pipe = NULL;
    int64_t fail_ns = 0;
    int rc, prc;

    /* The outputs on a second thread (run/recpipe.h), unless the power
     * controller or semi-PD's split reads them back into the run. */
    if (c->store != NULL && c->pc == NULL && !sc->pools.cluster &&
        recpipe_start(&cfg.rec, &pipe) == LLM_OK)
        cfg.rec = recpipe_recorder(pipe);
    pools_sim_config(&sc->pools, &cfg);
    d->file = sc->path;
    rc = sim_create(&cfg, &s, d);
    if (rc == LLM_OK) {
        d->file = NULL;
        c->sim = s;
        rc = sim_run(s, d);
    }
    prc = recpipe_finish(pipe, &fail_ns);
    if (rc == LLM_OK && prc != LLM_OK)
        rc = diag_set(d, prc, "event at %lld ns failed", (long long)fail_ns);
    if (s != NULL) {
        *stats = *sim_get_stats(s);
        collect_spec(c, s);
        c->has_cstats = sim_cluster_stats(s) != NULL;
        if (c->has_cstats)
            c->cstats = *sim_cluster_stats(s);
        collect_reports(c, s, sc->replicas);
    }
    c->sim = NULL;
    sim_destroy(s);
    return rc;
}

/* The colocated pool's joules: its iterations at their token mix, and
 * its idle time between them at idle power (a cluster's are under
 * "cluster", pools_summary). */
static void add_energy(struct run_ctx *c, const struct sim_stats *st,
                       cJSON *summary)
{
    struct pool *p = &c->sc->pools.p[0];
    const cJSON *out = cJSON_GetObjectItemCaseSensitive(summary,
                                                        "output_tokens");
    double j;

    if (c->sc->pools.cluster || !p->has_power)
        return;
    j = pool_joules(p, st->last_event_ns - st->first_arrival_ns);
    cJSON_AddNumberToObject(summary, "energy_j", j);
    cJSON_AddNumberToObject(summary, "energy_j_per_output_token",
                            cJSON_IsNumber(out) && out->valuedouble > 0 ?
                            j / out->valuedouble : 0);
    cJSON_AddStringToObject(summary, "power_source", p->power.source);
}

/* What the GPUs cost over the run at the device's catalog price
 * (price_per_hour_usd) and per million output tokens, for the cost
 * figures of a sweep (issue 18).  Runs with pools report theirs under
 * "cluster"; a device without a price adds nothing. */
static void add_cost(const struct run_ctx *c, const struct sim_stats *st,
                     cJSON *summary)
{
    const struct scenario *sc = c->sc;
    double span_h = (double)(st->last_event_ns - st->first_arrival_ns) /
                    3.6e12;
    double usd = sc->dev.price_per_hour * sc->num_gpus * span_h;
    double out = cJSON_GetNumberValue(cJSON_GetObjectItem(summary,
                                                          "output_tokens"));

    if (sc->pools.cluster || !(sc->dev.price_per_hour > 0) || !(span_h > 0))
        return;
    cJSON_AddNumberToObject(summary, "cost_usd", usd);
    cJSON_AddNumberToObject(summary, "usd_per_mtok_out",
                            out > 0 ? usd / out * 1e6 : 0);
}

/* "prefix_cache" of the summary (issue 9; docs/kv.md): lookups and hits
 * in cached segments, their rates, the prefill tokens hits saved and the
 * mean reuse distance (allocations between a block's uses). */
static void add_prefix_cache(cJSON *summary, const struct sim_stats *st)
{
    const struct kv_stats *k = &st->kv;
    cJSON *o = cJSON_AddObjectToObject(summary, "prefix_cache");

    if (o == NULL)
        return;
    cJSON_AddNumberToObject(o, "lookups", (double)k->lookups);
    cJSON_AddNumberToObject(o, "hits", (double)k->hits);
    cJSON_AddNumberToObject(o, "hit_rate", k->lookups ?
                            (double)k->hits / (double)k->lookups : 0);
    cJSON_AddNumberToObject(o, "token_hit_rate", k->lookup_tokens ?
                            (double)k->hit_tokens /
                            (double)k->lookup_tokens : 0);
    cJSON_AddNumberToObject(o, "saved_prefill_tokens",
                            (double)st->prefix_saved_tokens);
    cJSON_AddNumberToObject(o, "reuse_distance_mean", k->reuse_n ?
                            (double)k->reuse_sum / (double)k->reuse_n : 0);
    cJSON_AddNumberToObject(o, "reuse_distance_max", (double)k->reuse_max);
    cJSON_AddNumberToObject(o, "inserted", (double)k->inserted);
    cJSON_AddNumberToObject(o, "evicted", (double)k->evicted);
}

/* "utilization" and "busy_fraction" of the summary (the busiest
 * replica's), and "sensitivity" when --sensitivity gave one. */
static void add_load(struct run_ctx *c, const struct sim_stats *st,
                     const struct run_opts *o, cJSON *summary)
{
    double span = (double)(st->last_event_ns - st->first_arrival_ns);
    double util = 0, busy = 0, p90;
    cJSON *s;
    int32_t i;

    for (i = 0; i < c->n_reps && span > 0; i++) {
        if ((double)c->backlog_ns[i] / span > util)
            util = (double)c->backlog_ns[i] / span;
        if ((double)c->busy_ns[i] / span > busy)
            busy = (double)c->busy_ns[i] / span;
    }
    cJSON_AddNumberToObject(summary, "utilization", util);
    cJSON_AddNumberToObject(summary, "busy_fraction", busy);
    if (o == NULL || o->sens_scale <= 0)
        return;
    p90 = cJSON_GetNumberValue(cJSON_GetObjectItem(
              cJSON_GetObjectItem(summary, "ttft_ms"), "p90"));
    s = cJSON_AddObjectToObject(summary, "sensitivity");
    cJSON_AddNumberToObject(s, "time_scale", o->sens_scale);
    cJSON_AddNumberToObject(s, "ttft_ms_p90", o->sens_ttft_p90_ms);
    cJSON_AddNumberToObject(s, "ttft_p90_change", p90 > 0 ?
                            o->sens_ttft_p90_ms / p90 - 1 : 0);
}

/* With slo.e2e_ms, goodput and attainment count the requests that meet
 * it too (the summary's own figures know TTFT and TPOT only). */
static void add_e2e_slo(const struct run_ctx *c, cJSON *summary)
{
    const struct scenario *sc = c->sc;
    double dur = cJSON_GetNumberValue(cJSON_GetObjectItem(summary,
                                                          "duration_s"));
    double good = (double)c->good_all;

    if (sc->slo_e2e_ms < 0)
        return;
    cJSON_ReplaceItemInObject(summary, "goodput_req_s",
                              cJSON_CreateNumber(dur > 0 ? good / dur : 0));
    cJSON_ReplaceItemInObject(summary, "slo_attainment", cJSON_CreateNumber(
        c->reqs.n_ok ? good / (double)c->reqs.n_ok : 0));
}

/* vLLM counts goodput only for the SLOs given (--goodput): those the
 * config's "slo" object sets, defaults aside; -1: not set. */
static struct vllm_slo vllm_slo_of(const struct scenario *sc)
{
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(sc->root, "slo");

    return (struct vllm_slo){
        cJSON_GetObjectItem(o, "ttft_ms") ? sc->slo_ttft_ms : -1,
        cJSON_GetObjectItem(o, "tpot_ms") ? sc->slo_tpot_ms : -1,
        cJSON_GetObjectItem(o, "e2e_ms") ? sc->slo_e2e_ms : -1 };
}

/* Writes text to path whole, through o's open_file; errors name path. */
static int write_text(const struct run_opts *o, const char *path,
                      const char *text, struct llm_diag *d)
{
    FILE *f = o && o->open_file ? o->open_file(path, "wb")
                                : fopen(path, "wb");
    size_t n = strlen(text);
    int e = errno;
    bool ok;

    if (f == NULL)
        return diag_set(d, LLM_EIO, "cannot write %s: %s", path, strerror(e));
    ok = fwrite(text, 1, n, f) == n && fflush(f) == 0;
    e = errno;
    if (fclose(f) != 0 && ok) {
        ok = false;
        e = errno;
    }
    if (ok)
        return LLM_OK;
    remove(path);
    return diag_set(d, LLM_EIO, "cannot write %s: %s", path, strerror(e));
}

/* With --format vllm, DIR/vllm.json.tmp complete beside the summary's
 * (through the same write_text), before anything is renamed. */
static int write_vllm_tmp(const struct run_ctx *c, const struct run_opts *o,
                          const char *dir, struct llm_diag *d)
{
    char tmp[1100], *text;
    int rc;

    if (!c->vllm)
        return LLM_OK;
    text = c->vllm_json ? cJSON_Print(c->vllm_json) : NULL;
    if (text == NULL)
        return diag_set(d, LLM_ENOMEM, "out of memory");
    snprintf(tmp, sizeof(tmp), "%s/vllm.json.tmp", dir);
    rc = write_text(o, tmp, text, d);
    free(text);
    return rc;
}

/* Removes DIR/NAME (best effort: a cleanup after an error). */
static void remove_in(const char *dir, const char *name)
{
    char path[1100];

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    remove(path);
}

/* Renames DIR/NAME.tmp to DIR/NAME; errors name both. */
static int rename_in(const char *dir, const char *name, struct llm_diag *d)
{
    char tmp[1100], final[1100];
    int e;

    snprintf(tmp, sizeof(tmp), "%s/%s.tmp", dir, name);
    snprintf(final, sizeof(final), "%s/%s", dir, name);
    if (rename(tmp, final) == 0)
        return LLM_OK;
    e = errno;
    return diag_set(d, LLM_EIO, "cannot rename %s to %s: %s (the previous "
                    "results kept)", tmp, final, strerror(e));
}

/* The previous run's results.sqlite and vllm.json are set aside as
 * NAME.prev while the new set is renamed into place (the database, then
 * vllm.json, then summary.json last: the old summary stays until one
 * rename replaces it), and put back if anything fails, so a failure
 * leaves the previous set whole (issue 19: a failed summary rename once
 * left the old summary.json with no database). */
static const char *const aside_names[] = { "results.sqlite", "vllm.json" };
#define N_ASIDE 2

/* ok: drops the first n files set aside; else puts each back over what
 * the failed run left under its name, and removes the new file where
 * there was none before. */
static void put_back(const char *dir, const bool had[N_ASIDE], int n,
                     bool ok)
{
    char cur[1100], prev[1110];
    int i;

    for (i = 0; i < n; i++) {
        snprintf(cur, sizeof(cur), "%s/%s", dir, aside_names[i]);
        snprintf(prev, sizeof(prev), "%s.prev", cur);
        if (ok && had[i])
            remove(prev);
        else if (!ok && had[i])
            rename(prev, cur);
        else if (!ok)
            remove(cur);
    }
}

/* Moves each of aside_names that DIR has to NAME.prev; had[i]: whether
 * it was there.  LLM_EIO naming the path if one cannot be moved (those
 * already moved are put back: nothing has changed then). */
static int set_aside(const char *dir, bool had[N_ASIDE], struct llm_diag *d)
{
    char cur[1100], prev[1110];
    int i, e;

    for (i = 0; i < N_ASIDE; i++) {
        snprintf(cur, sizeof(cur), "%s/%s", dir, aside_names[i]);
        snprintf(prev, sizeof(prev), "%s.prev", cur);
        had[i] = rename(cur, prev) == 0;
        if (had[i] || errno == ENOENT)
            continue;
        e = errno;
        put_back(dir, had, i, false);
        return diag_set(d, LLM_EIO, "cannot rename %s to %s: %s", cur, prev,
                        strerror(e));
    }
    return LLM_OK;
}

/* After the database: vllm.json (with vllm), then the summary. */
static int publish(const char *dir, bool vllm, struct llm_diag *d)
{
    int rc = vllm ? rename_in(dir, "vllm.json", d) : LLM_OK;

    return rc ? rc : rename_in(dir, "summary.json", d);
}

/* Of all priced time (the replicas' and the pools'), the share priced
 * outside the measured tables; *model, when not NULL, gets the cost model
 * whose description names the dimensions that ran out. */
static double extrap_totals(const struct run_ctx *c, int64_t *x_ns,
                            int64_t *tot_ns, const struct cost_model **model)
{
    const struct cost_model *pm;

    *x_ns = *tot_ns = 0;
    pm = pools_extrap(&c->sc->pools, x_ns, tot_ns);
    if (model)
        *model = pm != NULL ? pm : c->cost;
    return *tot_ns > 0 ? (double)*x_ns / (double)*tot_ns : 0;
}

static double extrap_share(const struct run_ctx *c)
{
    int64_t x, t;

    return extrap_totals(c, &x, &t, NULL);
}

/* The run's one warning line (hw/cost.h cost_warn_extrap). */
static void warn_extrap(const struct run_ctx *c)
{
    const struct cost_model *m;
    int64_t x, t;

    extrap_totals(c, &x, &t, &m);
    if (m != NULL)
        cost_warn_extrap(m, x, t);
}

static int finish(struct run_ctx *c, const struct run_opts *o,
                  const char *dir,
                  const struct sim_stats *st, cJSON **summary,
                  struct llm_diag *d)
{
    double dur = (double)(st->last_event_ns - st->first_arrival_ns);
    char *text, tmp[1100];
    bool had[N_ASIDE] = { false, false };
    int rc = summary_build_reqs(store_db(c->store), &c->reqs, &c->iters,
                                c->sc->mem.kv_blocks, summary, d);

    if (rc)
        return rc;
    add_e2e_slo(c, *summary);
    cJSON_AddNumberToObject(*summary, "mean_in_system",
                            dur > 0 ? st->in_system_integral_ns / dur : 0);
    cJSON_AddNumberToObject(*summary, "requests_truncated",
                            (double)st->truncated);
    cJSON_AddNumberToObject(*summary, "cost_extrapolated_ops",
                            (double)(c->extrapolated +
                                     pools_extrapolated(&c->sc->pools)));
    cJSON_AddNumberToObject(*summary, "cost_extrapolated_share",
                            extrap_share(c));
    cJSON_AddNumberToObject(*summary, "kv_blocks", (double)c->sc->mem.kv_blocks);
    if (c->sc->kv->stats)
        add_prefix_cache(*summary, st);
    cJSON_AddStringToObject(*summary, "cost_model", cost_name(c->cost));
    cJSON_AddStringToObject(*summary, "cost_tables", cost_tables(c->cost));
    cJSON_AddNumberToObject(*summary, "swap_out_bytes", st->swap_out_bytes);
    cJSON_AddNumberToObject(*summary, "swap_in_bytes", st->swap_in_bytes);
    cJSON_AddNumberToObject(*summary, "host_link_busy_s",
                            (double)st->link_busy_ns / 1e9);
    add_load(c, st, o, *summary);
    add_energy(c, st, *summary);
    add_cost(c, st, *summary);
    add_spec(c, *summary);
    add_reports(c, *summary);
    if (c->pc)
        powercap_report(c->pc, st->last_event_ns, *summary);
    if (c->sc->pools.cluster)
        pools_summary(&c->sc->pools, st, c->has_cstats ? &c->cstats : NULL,
                      *summary);
    rc = replica_stats_add_reqs(store_db(c->store), &c->reqs, &c->iters,
                                c->sc->replicas, c->sc->mem.kv_blocks,
                                *summary, d);
    if (rc)
        return rc;
    rc = summary_to_metrics(store_db(c->store), *summary, d);
    if (rc == LLM_OK && c->vllm) {
        rc = vllm_result(store_db(c->store), &c->reqs, c->good_vllm,
                         *summary, &c->slo_vllm,
                         c->sc->model.id, c->sc->name, &c->vllm_json, d);
    }
    if (rc)
        return rc;
    /* Both files complete under temporary names before either is
     * renamed: a summary that fails leaves the previous pair whole. */
    text = cJSON_Print(*summary);
    if (text == NULL)
        return diag_set(d, LLM_ENOMEM, "out of memory");
    snprintf(tmp, sizeof(tmp), "%s/summary.json.tmp", dir);
    rc = write_text(o, tmp, text, d);
    free(text);
    if (rc)
        return rc;               /* run_scenario aborts the store */
    rc = write_vllm_tmp(c, o, dir, d);
    if (rc == LLM_OK)
        rc = set_aside(dir, had, d);
    if (rc) {
        remove(tmp);
        remove_in(dir, "vllm.json.tmp");
        return rc;               /* run_scenario aborts the store */
    }
    rc = store_commit(c->store, d);
    c->store = NULL;
    if (rc == LLM_OK)
        rc = publish(dir, c->vllm, d);
    if (rc) {
        remove(tmp);
        remove_in(dir, "vllm.json.tmp");
    }
    put_back(dir, had, N_ASIDE, rc == LLM_OK);
    return rc;
}

int run_scenario(struct scenario *sc, const struct run_opts *o,
                 cJSON **summary, struct sim_stats *stats,
                 struct llm_diag *d)
{
    struct run_ctx c = { .sc = sc, .vllm = o && o->vllm };
    const char *dir = o && o->out_dir ? o->out_dir : sc->out_dir;
    struct sim_stats st = { 0 };
    int rc;

    summary_reqs_init(&c.reqs, &(struct summary_slo){ sc->slo_ttft_ms,
        sc->slo_tpot_ms, sc->slo_ttft_ms_per_prompt_token,
        sc->slo_tbt_ema_ms });
    summary_iters_init(&c.iters);
    /* E2E alone: count_good asks summary_meets for the others. */
    c.slo_all = (struct vllm_slo){ -1, -1, sc->slo_e2e_ms };
    c.slo_vllm = vllm_slo_of(sc);
    rc = open_parts(&c, o && o->no_output ? NULL : dir, d);

    *summary = NULL;
    progress_start(&c.prog, !rc && o && o->progress ? stderr : NULL,
                   !rc && o && o->progress ? progress_total(sc->workload)
                                           : 0);
    if (!rc)
        rc = simulate(&c, &st, d);
    progress_end(&c.prog);
    if (!rc && c.store)
        rc = finish(&c, o, dir, &st, summary, d);
    if (!rc && !(o && o->no_warn))
        warn_extrap(&c);
    if (rc) {
        cJSON_Delete(*summary);
        *summary = NULL;
    }
    if (stats)
        *stats = st;
    store_abort(c.store);
    cJSON_Delete(c.vllm_json);
    cJSON_Delete(c.sched_report);
    close_powercap(&c);
    summary_reqs_free(&c.reqs);
    summary_iters_free(&c.iters);
    free(c.busy_ns);
    free(c.backlog_ns);
    pools_stop(&sc->pools);
    source_close(c.src);
    cost_destroy(c.own);
    cost_destroy(c.draft_cost);
    return rc;
}

int run_scratch(struct scenario *sc, struct run_opts o,
                int (*look)(const char *dir, const cJSON *summary,
                            void *arg),
                void *arg, struct llm_diag *d)
{
    char dir[] = "/tmp/llmsim-run-XXXXXX", path[64];
    cJSON *sum = NULL;
    int rc;

    if (mkdtemp(dir) == NULL)
        return diag_set(d, LLM_EIO, "cannot make a temporary directory");
    o.out_dir = dir;
    rc = run_scenario(sc, &o, &sum, NULL, d);
    if (rc == LLM_OK && look != NULL)
        rc = look(dir, sum, arg);
    cJSON_Delete(sum);
    snprintf(path, sizeof(path), "%s/results.sqlite", dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/summary.json", dir);
    unlink(path);
    rmdir(dir);
    return rc;
}

static int take_ttft_p90(const char *dir, const cJSON *summary, void *arg)
{
    (void)dir;
    *(double *)arg = summary_num(summary, "ttft_ms", "p90");
    return LLM_OK;
}

/* --sensitivity: runs the scenario again, quietly and into a temporary
 * directory, with every iteration 3% longer (cost_model.time_scale), and
 * leaves its TTFT p90 in o. */
int run_sensitivity(const char *config, const char **sets, int n,
                    struct run_opts *o, struct llm_diag *d)
{
    const struct run_opts so = { .quiet = 1, .no_warn = 1 };
    char set[64];
    struct scenario sc;
    int rc = scenario_load(config, sets, &sc, d);

    if (rc != LLM_OK)
        return rc;
    o->sens_scale = 1.03 * scenario_time_scale(&sc);
    scenario_free(&sc);
    snprintf(set, sizeof(set), "cost_model.time_scale=%.17g", o->sens_scale);
    sets[n] = set;
    rc = scenario_load(config, sets, &sc, d);
    sets[n] = NULL;
    if (rc != LLM_OK)
        return rc;
    rc = run_scratch(&sc, so, take_ttft_p90, &o->sens_ttft_p90_ms, d);
    scenario_free(&sc);
    return rc;
}
