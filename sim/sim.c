#include "sim/sim.h"

#include <stdlib.h>
#include <string.h>

#include "base/plugin.h"
#include "sim/evq.h"

/* The simulator's own wake bookkeeping of one replica: kept here, out of
 * the replica that policies see. */
struct sim_wake {
    bool pending;              /* a wake event is queued */
    bool deferred;             /* woken after this instant's last arrival */
    int64_t timer_ns;          /* the pending timed wake, -1 none */
    int64_t end_ns;            /* the running iteration's end event; an
                                  end event at another time is stale (a
                                  fast-forwarded span cut short) */
};

struct sim {
    struct sim_config cfg;
    struct evq *q;
    struct replica_core *reps;
    const struct replica **views;   /* &reps[i].pub, for the router */
    struct sim_wake *wake;          /* per replica */
    int32_t n_reps;
    struct plugin router_p;
    struct request *free_list;      /* recycled request records */
    int64_t next_id, in_system, last_change_ns;
    struct sim_stats st;
    struct llm_diag *d;             /* the running sim_run's diag */
    int64_t next_arrival_ns;        /* the queued arrival's time, -1 none */
    int32_t n_deferred;             /* replicas with a wake deferred */
    struct cluster *cl;             /* pools; NULL: colocated */
    int64_t *link_ev_ns;            /* per replica egress: queued event */
};

static int on_arrival(void *ctx, const struct sim_event *ev);
static int follow_up(struct sim *s, const struct request *done);
static int on_iter_done(void *ctx, const struct sim_event *ev);
static int on_wake(void *ctx, const struct sim_event *ev);
static int on_timer(void *ctx, const struct sim_event *ev);
static int on_link(void *ctx, const struct sim_event *ev);

/* Pools: the hand-off machinery and one queued event per egress link. */
static int create_cluster(struct sim *s, const struct sim_config *cfg,
                          struct llm_diag *d)
{
    int32_t i;

    if (cfg->cluster == NULL)
        return LLM_OK;
    s->link_ev_ns = calloc((size_t)cfg->n_replicas, sizeof(*s->link_ev_ns));
    if (s->link_ev_ns == NULL)
        return diag_set(d, LLM_ENOMEM, "out of memory");
    for (i = 0; i < cfg->n_replicas; i++)
        s->link_ev_ns[i] = -1;
    if (cfg->cluster->partner_offset > 0)
        for (i = 0; i < cfg->cluster->n_entry; i++)
            replica_share_kv(&s->reps[i + cfg->cluster->partner_offset],
                             &s->reps[i]);
    return cluster_create(cfg->cluster, s->views, cfg->n_replicas, cfg->seed,
                          &s->cl, d);
}

/* The router's state and init (base/plugin.h). */
static int start_router(struct sim *s, const struct sim_config *cfg,
                        struct llm_diag *d)
{
    const struct router_ops *ro = cfg->router;
    int rc = plugin_alloc(&s->router_p, ro->state_size, d);

    if (rc != LLM_OK)
        return rc;
    return plugin_started(&s->router_p,
                          ro->init(s->router_p.st,
                                   cfg->cluster ? cfg->cluster->n_entry
                                                : cfg->n_replicas,
                                   cfg->seed, cfg->router_params,
                                   cfg->router_path, d),
                          ro->fini);
}

int sim_create(const struct sim_config *cfg, struct sim **out,
               struct llm_diag *d)
{
    struct sim *s = calloc(1, sizeof(*s));
    int32_t i;
    int rc = LLM_OK;

    if (s == NULL)
        return diag_set(d, LLM_ENOMEM, "out of memory");
    s->cfg = *cfg;
    s->q = evq_create(64);
    s->reps = calloc((size_t)cfg->n_replicas, sizeof(*s->reps));
    s->views = calloc((size_t)cfg->n_replicas, sizeof(*s->views));
    s->wake = calloc((size_t)cfg->n_replicas, sizeof(*s->wake));
    if (s->q == NULL || s->reps == NULL || s->views == NULL ||
        s->wake == NULL) {
        sim_destroy(s);
        return diag_set(d, LLM_ENOMEM, "out of memory");
    }
    for (i = 0; i < cfg->n_replicas && rc == LLM_OK; i++) {
        rc = replica_init(&s->reps[i], &cfg->replicas[i], d);
        s->views[i] = &s->reps[i].pub;
        s->wake[i].timer_ns = s->wake[i].end_ns = -1;
        if (rc == LLM_OK)
            s->n_reps++;
    }
    if (rc == LLM_OK)
        rc = start_router(s, cfg, d);
    if (rc == LLM_OK)
        rc = create_cluster(s, cfg, d);
    if (rc != LLM_OK) {
        sim_destroy(s);
        return rc;
    }
    s->st.first_arrival_ns = -1;
    *out = s;
    return LLM_OK;
}

/* After a failed run, requests may still be queued, running or pending as
 * the next arrival: free them with the rest. */
static void free_in_flight(struct sim *s)
{
    struct sim_event ev;
    struct request *q, *n;
    int32_t i, j;

    while (s->q && evq_pop(s->q, &ev))
        if (ev.fn == on_arrival)
            free(ev.payload);
    for (i = 0; i < s->n_reps; i++) {
        for (q = s->reps[i].pub.wait_head; q != NULL; q = n) {
            n = q->next;
            free(q);
        }
        for (q = s->reps[i].pub.swap_head; q != NULL; q = n) {
            n = q->next;
            free(q);
        }
        for (j = 0; j < s->reps[i].pub.n_running; j++)
            free(s->reps[i].pub.running[j]);
        for (j = 0; j < s->reps[i].n_handoff; j++)
            free(s->reps[i].handoff[j]);
        s->reps[i].n_handoff = 0;
    }
    cluster_free_requests(s->cl);
}

void sim_destroy(struct sim *s)
{
    int32_t i;
    struct request *q;

    if (s == NULL)
        return;
    free_in_flight(s);
    for (i = 0; i < s->n_reps; i++)
        replica_fini(&s->reps[i]);
    plugin_stop(&s->router_p);
    while ((q = s->free_list) != NULL) {
        s->free_list = q->next;
        free(q);
    }
    cluster_destroy(s->cl);
    free(s->link_ev_ns);
    free(s->reps);
    free(s->views);
    free(s->wake);
    evq_destroy(s->q);
    free(s);
}

static struct request *req_alloc(struct sim *s)
{
    struct request *q = s->free_list;

    if (q != NULL)
        s->free_list = q->next;
    else
        q = malloc(sizeof(*q));
    return q;
}

static void req_free(struct sim *s, struct request *q)
{
    /* A request with prefix hashes carries them in its own allocation
     * (req_with_hashes): too big for the recycled records. */
    if (q->prefix_hashes != NULL || q->segs != NULL) {
        free(q);
        return;
    }
    q->next = s->free_list;
    s->free_list = q;
}

/* Little's law bookkeeping: the integral of requests in the system. */
static void count_change(struct sim *s, int64_t now_ns, int delta)
{
    s->st.in_system_integral_ns += (double)s->in_system *
                                   (double)(now_ns - s->last_change_ns);
    s->last_change_ns = now_ns;
    s->in_system += delta;
    if (s->in_system > s->st.max_in_system)
        s->st.max_in_system = s->in_system;
}

static int on_done(void *ctx, struct request *q)
{
    struct sim *s = ctx;
    int rc;

    if (q->rejected)
        s->st.rejected++;
    else
        s->st.completed++;
    count_change(s, evq_now(s->q), -1);
    rc = s->cfg.rec.request_done ? s->cfg.rec.request_done(s->cfg.rec.ctx, q)
                                 : LLM_OK;
    if (rc == LLM_OK)
        rc = follow_up(s, q);
    req_free(s, q);
    return rc;
}

/* Starts an iteration on an idle replica if its scheduler finds work. */
static int kick(struct sim *s, struct replica_core *r)
{
    int64_t dur;
    int rc;

    if (r->busy)
        return LLM_OK;
    rc = replica_begin(r, evq_now(s->q), &dur);
    if (rc == LLM_OK)
        rc = replica_take_rejected(r, on_done, s);
    if (rc == LLM_OK && dur < 0 && r->wake_at_ns > evq_now(s->q) &&
        r->wake_at_ns != s->wake[r->pub.index].timer_ns) {
        /* The scheduler waits for something timed (a swap-in landing). */
        s->wake[r->pub.index].timer_ns = r->wake_at_ns;
        return evq_push(s->q, r->wake_at_ns, on_timer, NULL, r->pub.index);
    }
    if (rc != LLM_OK || dur < 0)
        return rc;
    s->wake[r->pub.index].end_ns = evq_now(s->q) + dur;
    return evq_push(s->q, evq_now(s->q) + dur, on_iter_done, NULL,
                    r->pub.index);
}

static bool has_hashes(const struct req_spec *spec)
{
    return spec->block_hashes != NULL && spec->n_block_hashes > 0;
}

static bool has_segs(const struct req_spec *spec)
{
    return spec->segs != NULL && spec->n_segs > 0;
}

/* A request record followed by its prefix hashes and segments, one
 * allocation: a plain free() anywhere releases them all (issues 9, 21). */
static struct request *req_with_hashes(const struct req_spec *spec)
{
    size_t h = has_hashes(spec) ? (size_t)spec->n_block_hashes : 0;
    size_t g = has_segs(spec) ? (size_t)spec->n_segs : 0;

    return malloc(sizeof(struct request) + h * sizeof(uint64_t) +
                  g * sizeof(struct req_seg));
}

/* Clears q and, when it came from req_with_hashes, copies the hashes the
 * source lends into q's tail: a caching KV manager reads them after the
 * source has moved on. */
static void keep_hashes(struct request *q, const struct req_spec *spec)
{
    uint64_t *tail = (uint64_t *)(q + 1);

    memset(q, 0, sizeof(*q));
    if (has_hashes(spec)) {
        q->prefix_hashes = tail;
        memcpy(q->prefix_hashes, spec->block_hashes,
               (size_t)spec->n_block_hashes * sizeof(uint64_t));
        q->n_prefix_hashes = spec->n_block_hashes;
        q->prefix_block_tokens = spec->hash_block_tokens;
        tail += spec->n_block_hashes;
    }
    if (has_segs(spec)) {
        q->segs = (struct req_seg *)tail;
        memcpy(q->segs, spec->segs, (size_t)spec->n_segs * sizeof(*q->segs));
        q->n_segs = spec->n_segs;
    }
}

/* A request record for spec (borrowing the source's hashes only for
 * routing, copying them for a caching KV manager); NULL: no memory. */
static struct request *new_request(struct sim *s, const struct req_spec *spec)
{
    struct request *q = has_hashes(spec) || has_segs(spec) ?
                        req_with_hashes(spec) : req_alloc(s);

    if (q == NULL)
        return NULL;
    keep_hashes(q, spec);
    q->id = s->next_id++;
    q->arrival_ns = spec->arrival_ns;
    q->prompt_tokens = spec->prompt_tokens;
    q->output_tokens = spec->output_tokens;
    q->tenant = spec->tenant;
    q->priority = spec->priority;
    q->session = spec->session;
    q->deadline_ns = -1;
    /* Borrowed for the router only: the source keeps them valid until
     * its next call, which comes after this request is routed. */
    q->block_hashes = spec->block_hashes;
    q->n_block_hashes = spec->block_hashes ? spec->n_block_hashes : 0;
    q->hash_block_tokens = spec->hash_block_tokens;
    q->first_sched_ns = q->first_token_ns = q->finish_ns = -1;
    q->plan_idx = -1;
    q->prefill_replica = -1;
    q->kv_xfer_start_ns = q->kv_xfer_end_ns = -1;
    return q;
}

static int pull_arrival(struct sim *s)
{
    struct req_spec spec;
    struct request *q;
    bool eof = false;
    int rc = s->cfg.source(s->cfg.source_ctx, &spec, &eof, s->d);

    s->next_arrival_ns = -1;
    if (rc != LLM_OK || eof)
        return rc;
    q = new_request(s, &spec);
    if (q == NULL)
        return diag_set(s->d, LLM_ENOMEM, "out of memory");
    if (spec.arrival_ns < evq_now(s->q)) {
        req_free(s, q);
        return diag_set(s->d, LLM_EINVAL, "request %lld arrives at %lld ns, "
                        "before the previous one", (long long)q->id,
                        (long long)spec.arrival_ns);
    }
    s->next_arrival_ns = spec.arrival_ns;
    return evq_push(s->q, spec.arrival_ns, on_arrival, q, 0);
}

/* A closed-loop user's next request after one of theirs ended. */
static int follow_up(struct sim *s, const struct request *done)
{
    struct req_spec spec;
    struct request *q;
    bool has = false;
    int64_t now = evq_now(s->q);
    int rc;

    if (s->cfg.feedback == NULL || done->session < 0)
        return LLM_OK;
    rc = s->cfg.feedback(s->cfg.source_ctx, done->session, now, &spec, &has,
                         s->d);
    if (rc != LLM_OK || !has)
        return rc;
    spec.block_hashes = NULL;      /* nothing borrowed outlives this call */
    spec.segs = NULL;
    q = new_request(s, &spec);
    if (q == NULL)
        return diag_set(s->d, LLM_ENOMEM, "out of memory");
    q->follow_up = 1;
    return evq_push(s->q, spec.arrival_ns > now ? spec.arrival_ns : now,
                    on_arrival, q, 0);
}

/* Wakes every idle replica that got requests at this instant, once the
 * instant's last arrival is queued: a scheduler sees all equal-time
 * arrivals together. */
static int flush_wakes(struct sim *s, int64_t now_ns)
{
    int32_t i;
    int rc = LLM_OK;

    for (i = 0; i < s->n_reps && s->n_deferred > 0 && rc == LLM_OK; i++) {
        struct sim_wake *w = &s->wake[i];
        if (!w->deferred)
            continue;
        w->deferred = false;
        s->n_deferred--;
        if (s->reps[i].busy || w->pending)
            continue;
        w->pending = true;
        rc = evq_push(s->q, now_ns, on_wake, NULL, i);
    }
    return rc;
}

static int on_arrival(void *ctx, const struct sim_event *ev)
{
    struct sim *s = ctx;
    struct request *q = ev->payload;
    /* A closed-loop follow-up is not the source's pending arrival: the
     * next one is already queued. */
    bool pull = !q->follow_up;
    struct replica_core *r;
    int32_t i, limit;
    int64_t cut;
    int rc;

    if (s->st.first_arrival_ns < 0)
        s->st.first_arrival_ns = ev->t_ns;
    s->st.arrived++;
    count_change(s, ev->t_ns, +1);
    limit = s->cl ? s->cfg.cluster->n_entry : s->n_reps;
    i = s->cfg.router->route(s->router_p.st, q, s->views, limit);
    i = i < 0 || i >= limit ? 0 : i;
    r = &s->reps[i];
    q->block_hashes = NULL;
    q->n_block_hashes = 0;
    q->replica = r->pub.index;
    limit = r->pub.max_model_len;
    if (q->prompt_tokens >= limit) {
        q->rejected = 1;
        q->state = REQ_DONE;
        rc = on_done(s, q);
    } else {
        /* in 64 bits: a trace's output may be up to INT32_MAX */
        if ((int64_t)q->prompt_tokens + q->output_tokens > limit) {
            q->output_tokens = limit - q->prompt_tokens;
            s->st.truncated++;
        }
        replica_enqueue(r, q);
        rc = LLM_OK;
        if (r->busy && (cut = replica_truncate(r, ev->t_ns)) >= 0) {
            s->wake[i].end_ns = cut;
            rc = evq_push(s->q, cut, on_iter_done, NULL, i);
        }
        if (!r->busy && !s->wake[i].pending && !s->wake[i].deferred) {
            s->wake[i].deferred = true;
            s->n_deferred++;
        }
    }
    if (rc == LLM_OK && pull)
        rc = pull_arrival(s);
    /* The wake is pushed after the instant's last arrival is queued. */
    if (rc == LLM_OK && s->next_arrival_ns != ev->t_ns)
        rc = flush_wakes(s, ev->t_ns);
    return rc;
}

static int on_wake(void *ctx, const struct sim_event *ev)
{
    struct sim *s = ctx;
    s->wake[ev->arg].pending = false;
    return kick(s, &s->reps[ev->arg]);
}

static int on_timer(void *ctx, const struct sim_event *ev)
{
    struct sim *s = ctx;
    if (s->wake[ev->arg].timer_ns == ev->t_ns)
        s->wake[ev->arg].timer_ns = -1;
    return kick(s, &s->reps[ev->arg]);
}

/* Queues link i's next landing unless that event is already queued. */
static int sched_link(struct sim *s, int32_t i)
{
    int64_t t = cluster_link_next(s->cl, i);

    if (t < 0 || t == s->link_ev_ns[i])
        return LLM_OK;
    s->link_ev_ns[i] = t;
    return evq_push(s->q, t, on_link, NULL, i);
}

static int sched_links(struct sim *s)
{
    int32_t i;
    int rc = LLM_OK;

    for (i = 0; i < s->cfg.cluster->n_entry && rc == LLM_OK; i++)
        rc = sched_link(s, i);
    return rc;
}

static int wake_idle(struct sim *s, struct replica_core *r)
{
    struct sim_wake *w = &s->wake[r->pub.index];

    if (r->busy || w->pending)
        return LLM_OK;
    w->pending = true;
    return evq_push(s->q, evq_now(s->q), on_wake, NULL, r->pub.index);
}

/* A request's KV landed on (or was handed within unified storage to)
 * its decode replica: wake that replica if it idles, and the prefill
 * replica too: the landing freed its copy of the KV, and a prefill
 * replica whose KV was all held by hand-offs idles with arrivals waiting
 * that nothing else would wake (it stalled the run at high load). */
static int landed(struct sim *s, struct request *q)
{
    int rc = wake_idle(s, &s->reps[q->replica]);

    if (rc == LLM_OK && q->prefill_replica >= 0 &&
        q->prefill_replica < s->n_reps && q->prefill_replica != q->replica)
        rc = wake_idle(s, &s->reps[q->prefill_replica]);
    return rc;
}

struct handoff_ctx {
    struct sim *s;
    int64_t prefill_ns;
};

static int on_handoff(void *ctx, struct request *q)
{
    struct handoff_ctx *h = ctx;
    struct sim *s = h->s;
    struct request *now = NULL;
    int rc = cluster_handoff(s->cl, s->reps, s->n_reps, q, evq_now(s->q),
                             h->prefill_ns, &now);

    if (rc == LLM_OK && now != NULL)
        rc = landed(s, now);
    return rc == LLM_OK ? sched_link(s, q->prefill_replica) : rc;
}

static int on_link(void *ctx, const struct sim_event *ev)
{
    struct sim *s = ctx;
    struct request *q = NULL;
    int rc;

    if (s->link_ev_ns[ev->arg] != ev->t_ns)
        return LLM_OK;         /* superseded by a later landing time */
    s->link_ev_ns[ev->arg] = -1;
    do {
        rc = cluster_link_pop(s->cl, s->reps, (int32_t)ev->arg, ev->t_ns,
                              &q);
        if (rc == LLM_OK && q != NULL)
            rc = landed(s, q);
    } while (rc == LLM_OK && q != NULL);
    return rc == LLM_OK ? sched_link(s, (int32_t)ev->arg) : rc;
}

/* Pools: a decode replica that freed KV may have room for waiting
 * hand-offs, and a semi-PD prefill half may wait for the KV it shares. */
static int cluster_freed(struct sim *s, struct replica_core *r)
{
    int32_t off = s->cfg.cluster->partner_offset, p = r->pub.index - off;
    int rc = LLM_OK;

    if (r->role != REPLICA_PREFILL && cluster_waiting(s->cl) > 0) {
        rc = cluster_retry(s->cl, s->reps, s->n_reps, evq_now(s->q));
        if (rc == LLM_OK)
            rc = sched_links(s);
    }
    /* semi-PD: a decode half's iteration may have freed the KV its
     * prefill half shares, and that half may idle waiting for it. */
    if (rc == LLM_OK && off > 0 && p >= 0 && p < s->cfg.cluster->n_entry)
        rc = wake_idle(s, &s->reps[p]);
    return rc;
}

/* Pools: hand off what the prefill replica finished; a decode replica's
 * ended iteration may have freed room for waiting hand-offs. */
static int cluster_after(struct sim *s, struct replica_core *r,
                         const struct iter_record *rec)
{
    struct handoff_ctx h = { s, rec->end_ns - rec->start_ns };
    int rc = replica_take_handoffs(r, on_handoff, &h);

    return rc == LLM_OK ? cluster_freed(s, r) : rc;
}

static int on_iter_done(void *ctx, const struct sim_event *ev)
{
    struct sim *s = ctx;

    struct replica_core *r = &s->reps[ev->arg];
    struct iter_record rec;
    int rc;

    if (ev->t_ns != s->wake[ev->arg].end_ns)
        return LLM_OK;
    s->wake[ev->arg].end_ns = -1;
    rc = replica_end(r, ev->t_ns, on_done, s, &rec);
    s->st.iterations += rec.iters;
    s->st.preemptions += rec.preemptions;
    if (rc == LLM_OK && s->cfg.rec.iteration)
        rc = s->cfg.rec.iteration(s->cfg.rec.ctx, &rec);
    if (rc == LLM_OK && s->cl)
        rc = cluster_after(s, r, &rec);
    if (rc == LLM_OK)
        rc = kick(s, r);
    /* Async scheduling held the finished requests through the planning
     * of the next iteration (sim/replica.h async_lag); their KV is free
     * only now, which waiting hand-offs may need. */
    if (rc == LLM_OK)
        rc = replica_take_held(r, on_done, s);
    if (rc == LLM_OK && r->lag && s->cl)
        rc = cluster_freed(s, r);
    return rc;
}

/* Prefix-cache counters, summed over replicas (issue 9). */
static void add_kv_stats(struct sim_stats *st, const struct replica_core *r)
{
    struct kv_stats k = { 0 };

    if (r->kv && r->kv->stats)
        r->kv->stats(r->kv_p.st, &k);
    st->kv.lookups += k.lookups;
    st->kv.hits += k.hits;
    st->kv.lookup_tokens += k.lookup_tokens;
    st->kv.hit_tokens += k.hit_tokens;
    st->kv.inserted += k.inserted;
    st->kv.evicted += k.evicted;
    st->kv.reuse_sum += k.reuse_sum;
    st->kv.reuse_n += k.reuse_n;
    if (k.reuse_max > st->kv.reuse_max)
        st->kv.reuse_max = k.reuse_max;
    st->kv.cached_blocks += k.cached_blocks;
    st->prefix_saved_tokens += r->prefix_saved_tokens;
}

int sim_run(struct sim *s, struct llm_diag *d)
{
    struct sim_event ev;
    int32_t i;
    int rc;

    s->d = d;
    rc = pull_arrival(s);
    while (rc == LLM_OK && evq_pop(s->q, &ev)) {
        s->st.events++;
        rc = ev.fn(s, &ev);
        if (rc != LLM_OK && d->code == LLM_OK)
            diag_set(d, rc, "event at %lld ns failed", (long long)ev.t_ns);
    }
    s->st.last_event_ns = evq_now(s->q);
    count_change(s, s->st.last_event_ns, 0);
    for (i = 0; i < s->n_reps; i++) {
        const struct replica_core *r = &s->reps[i];
        const struct replica *v = &r->pub;
        s->st.swap_out_blocks += r->swap_out_blocks;
        s->st.swap_in_blocks += r->swap_in_blocks;
        s->st.swap_out_bytes += r->swap_out_bytes;
        s->st.swap_in_bytes += r->swap_in_bytes;
        s->st.link_busy_ns += r->link_busy_ns;
        add_kv_stats(&s->st, r);
        if (rc == LLM_OK && (v->n_waiting || v->n_running || v->n_swapped))
            rc = diag_set(d, LLM_ERANGE, "replica %d stalled with %lld "
                          "waiting, %d running and %lld swapped requests",
                          i, (long long)v->n_waiting, v->n_running,
                          (long long)v->n_swapped);
    }
    if (rc == LLM_OK && s->cl && (cluster_waiting(s->cl) ||
                                  cluster_in_flight(s->cl)))
        rc = diag_set(d, LLM_ERANGE, "%lld requests wait for decode KV "
                      "room and %lld KV transfers never landed",
                      (long long)cluster_waiting(s->cl),
                      (long long)cluster_in_flight(s->cl));
    s->d = NULL;
    return rc;
}

const struct cluster_stats *sim_cluster_stats(const struct sim *s)
{
    return s->cl ? cluster_get_stats(s->cl) : NULL;
}

const struct sim_stats *sim_get_stats(const struct sim *s)
{
    return &s->st;
}

const struct replica_core *sim_replica(const struct sim *s, int32_t i)
{
    return &s->reps[i];
}
