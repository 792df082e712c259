#include "cli/run.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/replica_stats.h"
#include "analysis/store.h"
#include "analysis/summary.h"
#include "hw/cost.h"
#include "hw/energy.h"
#include "sim/paths.h"
#include "sim/version.h"
#include "traces/source.h"

struct run_ctx {
    struct scenario *sc;
    struct cost_model *cost;
    struct cost_env env;
    struct req_source *src;
    struct store *store;
    /* The requests rows as the summaries read them, kept as they are
     * written: reading a million rows back costs more than keeping them. */
    struct summary_reqs reqs;
    int64_t extrapolated;
    int64_t extrap_ns, priced_ns;  /* issue 17: share priced off-table */
    struct energy_power power;   /* the device's power states */
    bool has_power;
    struct energy_meter energy;
    struct cluster_stats cstats;  /* pools (issue 10): KV hand-offs */
    bool has_cstats;
    struct cost_model *draft_cost;  /* speculative decoding's drafter */
    struct cost_env draft_env;
    struct spec_stats spec;         /* summed over replicas */
};

static int price(void *ctx, const struct batch *b, int64_t *ns)
{
    struct run_ctx *c = ctx;
    struct cost_breakdown bd;
    int rc = cost_price(c->cost, b, &bd);

    *ns = bd.total_ns;
    c->extrapolated += bd.extrapolated;
    c->extrap_ns += bd.extrap_ns;
    c->priced_ns += bd.total_ns;
    return rc;
}

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
        const struct replica *r = sim_replica(s, i);
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

static int on_request(void *ctx, const struct request *q)
{
    struct run_ctx *c = ctx;
    struct store_row row;
    int rc = store_request(c->store, q);

    store_row_of(q, &row);
    if (c->sc->pools.n > 0 && !q->rejected)
        pools_observe(&c->sc->pools, q, c->sc->slo_ttft_ms,
                      c->sc->slo_tpot_ms);
    return rc == LLM_OK ? summary_reqs_add(&c->reqs, &row) : rc;
}

static int on_iteration(void *ctx, const struct iter_record *rec)
{
    struct run_ctx *c = ctx;
    int32_t i;
    int rc = c->sc->write_iterations ? store_iteration(c->store, rec)
                                     : LLM_OK;

    if (rc == LLM_OK && rec->n_tiers > 0)
        rc = store_kv_tiers(c->store, rec);
    if (c->sc->pools.n > 0)      /* each pool meters its own device */
        pools_iteration(&c->sc->pools, rec);

    for (i = 0; rc == LLM_OK && i < rec->n_itl; i++)
        rc = store_itl(c->store, rec->itl[i].gap_ns, rec->itl[i].count);
    /* Metered here, not in price(): schedulers also price estimates. */
    if (c->has_power)
        energy_meter_add(&c->energy, &c->power, rec->prefill_tokens,
                         rec->decode_seqs, 0, rec->end_ns - rec->start_ns,
                         gpus_per_replica(c->sc));
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

    c->env = (struct cost_env){ .model = &sc->model, .dev = &sc->dev,
                                .shard = sc->shard, .root = llm_root(),
                                .offload = sc->offload.on ? &sc->offload
                                                          : NULL,
                                .woffload = sc->woffload.on ? &sc->woffload
                                                            : NULL,
                                .engine = &sc->engine };
    c->has_power = energy_power_of(&sc->dev, &c->power,
                                   &(struct llm_diag){ 0 }) == LLM_OK;
    if (sc->pools.n > 0)         /* pools meter energy per device */
        c->has_power = false;
    d->file = sc->path;
    rc = cost_create(&c->env, sc->cost_params, "cost_model", &c->cost, d);
    if (!rc) rc = open_draft(c, d);
    if (!rc) {
        info.cost_model = cost_name(c->cost);
        rc = source_open(sc->workload, "workload", sc->seed, &c->src, d);
    }
    if (!rc) {
        d->file = NULL;
        rc = store_open(dir, &info, &c->store, d);
    }
    free(json);
    return rc;
}

static int32_t layers_per_stage(const struct scenario *sc)
{
    int32_t pp = sc->shard.pp > 0 ? sc->shard.pp : 1;

    return (sc->model.num_layers + pp - 1) / pp;
}

static int simulate(struct run_ctx *c, struct sim_stats *stats,
                    struct llm_diag *d)
{
    struct scenario *sc = c->sc;
    struct replica_config *rc_ = calloc((size_t)sc->replicas,
                                        sizeof(*rc_));
    struct sim_config cfg = { .n_replicas = sc->replicas,
        .replicas = rc_, .router = sc->router,
        .router_params = sc->router_params, .router_path = "router",
        .seed = sc->seed, .source = next_request, .source_ctx = c,
        .feedback = next_follow_up,
        .rec = { c, on_request, on_iteration } };
    struct sim *s = NULL;
    int32_t i;
    int rc;

    if (rc_ == NULL)
        return diag_set(d, LLM_ENOMEM, "out of memory");
    for (i = 0; i < sc->replicas; i++)
        rc_[i] = (struct replica_config){ .index = i,
            .kv_capacity_blocks = sc->mem.kv_blocks,
            .block_tokens = sc->block_tokens,
            .max_model_len = sc->max_model_len, .sched = sc->sched,
            .sched_params = sc->sched_params, .sched_path = "scheduler",
            .kv = sc->kv, .kv_params = sc->kv_params, .kv_path = "kv_cache",
            .cost = price, .cost_ctx = c,
            .shared_prefix = cost_shared_prefix(sc->cost_params),
            /* swap preemption moves KV blocks over the host link */
            .kv_block_bytes = sc->mem.block_bytes,
            .kv_block_segments = 2 * layers_per_stage(sc),
            .host_bw_bytes_s = sc->dev.host_link.bw_bytes_s,
            .host_latency_ns = (int64_t)(sc->dev.host_link.latency_s * 1e9),
            .spec = sc->spec.on ? &sc->spec.cfg : NULL };
    d->file = sc->path;
    rc = sc->pools.n > 0 ? pools_start(&sc->pools, &sc->model,
                                       sc->cost_params, sc->kv,
                                       sc->kv_params, sc->block_tokens,
                                       sc->max_model_len, &cfg, d) : LLM_OK;
    if (rc == LLM_OK)
        rc = sim_create(&cfg, &s, d);
    if (rc == LLM_OK) {
        d->file = NULL;
        rc = sim_run(s, d);
        *stats = *sim_get_stats(s);
        collect_spec(c, s);
        c->has_cstats = sim_cluster_stats(s) != NULL;
        if (c->has_cstats)
            c->cstats = *sim_cluster_stats(s);
    }
    sim_destroy(s);
    free(rc_);
    return rc;
}

/* Joules of the run: each replica's iterations at their token mix, and
 * its idle time between them at idle power. */
static void add_energy(struct run_ctx *c, const struct sim_stats *st,
                       cJSON *summary)
{
    const struct scenario *sc = c->sc;
    int32_t gpus = gpus_per_replica(sc);
    int64_t span = st->last_event_ns - st->first_arrival_ns;
    int64_t idle = (int64_t)sc->replicas * span - c->energy.busy_ns;
    const cJSON *out = cJSON_GetObjectItemCaseSensitive(summary,
                                                        "output_tokens");

    if (!c->has_power)
        return;
    if (idle > 0)
        energy_meter_idle(&c->energy, &c->power, idle, gpus);
    cJSON_AddNumberToObject(summary, "energy_j", c->energy.joules);
    cJSON_AddNumberToObject(summary, "energy_j_per_output_token",
                            cJSON_IsNumber(out) && out->valuedouble > 0 ?
                            c->energy.joules / out->valuedouble : 0);
    cJSON_AddStringToObject(summary, "power_source", c->power.source);
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

/* Renames the summary next to the database just renamed into place; if
 * that fails, the new database goes too, so the pair stays a pair. */
static int publish_summary(const char *dir, const char *tmp,
                           struct llm_diag *d)
{
    char final[1100];
    int e;

    snprintf(final, sizeof(final), "%s/summary.json", dir);
    if (rename(tmp, final) == 0)
        return LLM_OK;
    e = errno;
    remove(tmp);
    snprintf(final, sizeof(final), "%s/results.sqlite", dir);
    remove(final);
    snprintf(final, sizeof(final), "%s/summary.json", dir);
    return diag_set(d, LLM_EIO, "cannot rename %s to %s: %s (results.sqlite "
                    "removed with it)", tmp, final, strerror(e));
}

/* Of all priced time (the replicas' and the pools'), the share priced
 * outside the measured tables; *model, when not NULL, gets the cost model
 * whose description names the dimensions that ran out. */
static double extrap_totals(const struct run_ctx *c, int64_t *x_ns,
                            int64_t *tot_ns, const struct cost_model **model)
{
    const struct cost_model *pm;

    *x_ns = c->extrap_ns;
    *tot_ns = c->priced_ns;
    pm = pools_extrap(&c->sc->pools, x_ns, tot_ns);
    if (model)
        *model = c->extrap_ns > 0 || pm == NULL ? c->cost : pm;
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
    struct summary_slo slo = { c->sc->slo_ttft_ms, c->sc->slo_tpot_ms,
        c->sc->slo_ttft_ms_per_prompt_token, c->sc->slo_tbt_ema_ms };
    double dur = (double)(st->last_event_ns - st->first_arrival_ns);
    char *text, tmp[1100];
    int rc = summary_build_reqs(store_db(c->store), &c->reqs, &slo,
                                c->sc->mem.kv_blocks, summary, d);

    if (rc)
        return rc;
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
    add_energy(c, st, *summary);
    add_spec(c, *summary);
    if (c->sc->pools.n > 0)
        pools_summary(&c->sc->pools, st, c->has_cstats ? &c->cstats : NULL,
                      *summary);
    rc = replica_stats_add_reqs(store_db(c->store), &c->reqs,
                                c->sc->replicas, c->sc->mem.kv_blocks,
                                *summary, d);
    if (rc)
        return rc;
    rc = summary_to_metrics(store_db(c->store), *summary, d);
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
    rc = store_commit(c->store, d);
    c->store = NULL;
    if (rc) {
        remove(tmp);
        return rc;
    }
    return publish_summary(dir, tmp, d);
}

int run_scenario(struct scenario *sc, const struct run_opts *o,
                 cJSON **summary, struct sim_stats *stats,
                 struct llm_diag *d)
{
    struct run_ctx c = { .sc = sc };
    const char *dir = o && o->out_dir ? o->out_dir : sc->out_dir;
    struct sim_stats st = { 0 };
    int rc;

    summary_reqs_init(&c.reqs);
    rc = open_parts(&c, dir, d);

    *summary = NULL;
    if (!rc)
        rc = simulate(&c, &st, d);
    if (!rc)
        rc = finish(&c, o, dir, &st, summary, d);
    if (!rc)
        warn_extrap(&c);
    if (rc) {
        cJSON_Delete(*summary);
        *summary = NULL;
    }
    if (stats)
        *stats = st;
    store_abort(c.store);
    summary_reqs_free(&c.reqs);
    pools_stop(&sc->pools);
    source_close(c.src);
    cost_destroy(c.cost);
    cost_destroy(c.draft_cost);
    return rc;
}

static double num(const cJSON *o, const char *a, const char *b)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, a);

    if (b != NULL)
        v = cJSON_GetObjectItemCaseSensitive(v, b);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

void run_print_summary(const cJSON *s, const struct scenario *sc)
{
    static const struct { const char *key, *label; } rows[] = {
        { "ttft_ms", "TTFT (ms)" }, { "tpot_ms", "TPOT (ms)" },
        { "itl_ms", "ITL (ms)" }, { "e2e_ms", "E2E latency (ms)" },
        { "norm_latency_ms_per_tok", "E2E per output token (ms)" },
    };
    static const char *const cols[] = { "mean", "p50", "p90", "p95", "p99" };
    size_t i, j;

    const char *tab = cJSON_GetStringValue(cJSON_GetObjectItem(s,
                                                               "cost_tables"));

    printf("%s: %s on %d x %s (tp %d, pp %d, %d replica%s), scheduler %s, "
           "cost model %s", sc->name, sc->model.id, sc->num_gpus,
           sc->dev.id, sc->shard.tp, sc->shard.pp > 0 ? sc->shard.pp : 1,
           sc->replicas, sc->replicas == 1 ? "" : "s", sc->sched->name,
           cJSON_GetStringValue(cJSON_GetObjectItem(s, "cost_model")));
    if (tab != NULL && tab[0] != '\0' && strcmp(tab, sc->dev.id) != 0)
        printf(" (tables borrowed from %s)", tab);
    printf("\n");
    printf("requests   %.0f completed, %.0f rejected, %.0f preemptions, "
           "%.1f s simulated\n", num(s, "requests_completed", NULL),
           num(s, "requests_rejected", NULL), num(s, "preemptions", NULL),
           num(s, "duration_s", NULL));
    printf("throughput %.2f req/s, %.0f output tok/s, %.0f tok/s\n",
           num(s, "throughput_req_s", NULL),
           num(s, "throughput_out_tok_s", NULL),
           num(s, "throughput_tok_s", NULL));
    printf("goodput    %.2f req/s (SLO TTFT <= %g ms, TPOT <= %g ms: "
           "%.1f%% of requests)\n", num(s, "goodput_req_s", NULL),
           sc->slo_ttft_ms, sc->slo_tpot_ms,
           100 * num(s, "slo_attainment", NULL));
    printf("KV cache   %.0f blocks of %d tokens, mean use %.1f%%, "
           "max %.1f%%; queue mean %.1f, max %.0f\n",
           num(s, "kv_blocks", NULL), sc->block_tokens,
           100 * num(s, "kv_util_mean", NULL),
           100 * num(s, "kv_util_max", NULL),
           num(s, "queue_len_mean", NULL), num(s, "queue_len_max", NULL));
    if (cJSON_GetObjectItem(s, "cluster"))
        printf("cluster    %.0f GPUs, $%.2f, $%.3f per 1M output tokens, "
               "%.3f J per output token, goodput %.3f req/s per GPU\n",
               num(s, "cluster", "gpus"), num(s, "cluster", "cost_usd"),
               num(s, "cluster", "usd_per_mtok_out"),
               num(s, "cluster", "energy_j_per_output_token"),
               num(s, "cluster", "goodput_req_s_per_gpu"));
    if (cJSON_GetObjectItem(s, "speculative"))
        printf("speculative %s, %.0f drafts per verify: acceptance %.1f%%, "
               "%.2f tokens per verify\n",
               cJSON_GetStringValue(cJSON_GetObjectItem(
                   cJSON_GetObjectItem(s, "speculative"), "method")),
               num(s, "speculative", "drafts_per_verify"),
               100 * num(s, "speculative", "acceptance_rate"),
               1 + num(s, "speculative", "accepted_per_verify"));
    if (cJSON_GetObjectItem(s, "energy_j"))
        printf("energy     %.0f kJ, %.3f J per output token (power: %s)\n",
               num(s, "energy_j", NULL) / 1e3,
               num(s, "energy_j_per_output_token", NULL),
               cJSON_GetStringValue(cJSON_GetObjectItem(s, "power_source")));
    printf("\n%-27s", "");
    for (j = 0; j < 5; j++)
        printf("%10s", cols[j]);
    printf("\n");
    for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        printf("%-27s", rows[i].label);
        for (j = 0; j < 5; j++)
            printf("%10.2f", num(s, rows[i].key, cols[j]));
        printf("\n");
    }
}

static void run_usage(FILE *f)
{
    fprintf(f, "usage: llmsim run CONFIG [--out DIR] [--seed N] "
               "[--engine ID|FILE] [--set key.path=value]... [--quiet]\n");
}

int cmd_run(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "out", required_argument, NULL, 'o' },
        { "seed", required_argument, NULL, 's' },
        { "set", required_argument, NULL, 'S' },
        { "engine", required_argument, NULL, 'E' },
        { "quiet", no_argument, NULL, 'q' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    const char **sets = calloc((size_t)argc + 2, sizeof(*sets));
    char seedset[64], engset[1100];
    struct run_opts o = { 0 };
    struct llm_diag d = { 0 };
    struct scenario sc;
    cJSON *summary = NULL;
    char *end;
    int ch, n = 0, rc;

    if (sets == NULL)
        return 1;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "o:s:S:qh", longopts, NULL)) != -1) {
        switch (ch) {
        case 'o': o.out_dir = optarg; break;
        case 'S': sets[n++] = optarg; break;
        case 'E':
            /* a JSON string, so that jcfg_set takes it as one */
            snprintf(engset, sizeof(engset), "engine=\"%.1000s\"", optarg);
            sets[n++] = engset;
            break;
        case 'q': o.quiet = 1; break;
        case 'h': run_usage(stdout); free(sets); return 0;
        case 's':
            strtoull(optarg, &end, 10);
            if (*optarg == '\0' || *end != '\0' || optarg[0] == '-') {
                fprintf(stderr, "llmsim run: --seed: expected a "
                        "non-negative integer, got \"%s\"\n", optarg);
                free(sets);
                return 2;
            }
            snprintf(seedset, sizeof(seedset), "seed=%s", optarg);
            sets[n++] = seedset;
            break;
        default: run_usage(stderr); free(sets); return 2;
        }
    }
    if (optind != argc - 1) {
        run_usage(stderr);
        free(sets);
        return 2;
    }
    rc = scenario_load(argv[optind], sets, &sc, &d);
    if (rc == LLM_OK)
        rc = run_scenario(&sc, &o, &summary, NULL, &d);
    if (rc == LLM_OK && !o.quiet) {
        run_print_summary(summary, &sc);
        printf("\nresults    %s/results.sqlite, %s/summary.json\n",
               o.out_dir ? o.out_dir : sc.out_dir,
               o.out_dir ? o.out_dir : sc.out_dir);
    }
    if (rc != LLM_OK) {
        char msg[1200];
        diag_format(&d, msg, sizeof(msg));
        fprintf(stderr, "llmsim: %s\n", msg);
    }
    cJSON_Delete(summary);
    scenario_free(&sc);
    free(sets);
    return diag_exit_status(rc);
}
