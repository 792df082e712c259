#include "sim/cluster.h"

#include <stdlib.h>
#include <string.h>

#include "base/plugin.h"

/* A transfer in flight: the request and where its KV goes. */
struct xfer_slot {
    struct request *q;
    int32_t dst;
};

struct cluster {
    struct cluster_config cfg;
    struct sim_link *links;    /* one per replica: its egress */
    int32_t n_links;
    struct plugin router_p;    /* the decode router (base/plugin.h) */
    const struct replica *const *views; /* the sim's, for the router */
    struct xfer_slot *slots;   /* indexed by link transfer id */
    int32_t *free_slots;
    int32_t n_slots, cap_slots, n_free;
    struct request **wait;     /* hand-offs waiting for decode room */
    int64_t wait_head, n_wait, cap_wait;
    struct cluster_stats st;
};

double cluster_kv_bytes(double kv_bytes_per_token, int64_t tokens)
{
    return kv_bytes_per_token * (double)tokens;
}

int cluster_create(const struct cluster_config *cfg,
                   const struct replica *const *views, int32_t n_replicas,
                   uint64_t seed, struct cluster **out, struct llm_diag *d)
{
    const struct router_ops *ro = cfg->decode_router;
    struct cluster *c = calloc(1, sizeof(*c));
    int32_t i;
    int rc;

    if (c == NULL)
        return diag_set(d, LLM_ENOMEM, "out of memory");
    c->cfg = *cfg;
    c->views = views;
    c->links = calloc((size_t)n_replicas, sizeof(*c->links));
    if (c->links == NULL) {
        cluster_destroy(c);
        return diag_set(d, LLM_ENOMEM, "out of memory");
    }
    c->n_links = n_replicas;
    for (i = 0; i < n_replicas; i++)
        link_init(&c->links[i], cfg->link_bw_bytes_s, cfg->link_latency_ns);
    rc = plugin_alloc(&c->router_p, ro->state_size, d);
    if (rc == LLM_OK)
        rc = plugin_started(&c->router_p,
                            ro->init(c->router_p.st,
                                     n_replicas - cfg->first_decode, seed,
                                     cfg->decode_router_params,
                                     cfg->decode_router_path, d),
                            ro->fini);
    if (rc != LLM_OK) {
        cluster_destroy(c);
        return rc;
    }
    *out = c;
    return LLM_OK;
}

void cluster_destroy(struct cluster *c)
{
    int32_t i;

    if (c == NULL)
        return;
    plugin_stop(&c->router_p);
    for (i = 0; c->links && i < c->n_links; i++)
        link_fini(&c->links[i]);
    free(c->links);
    free(c->slots);
    free(c->free_slots);
    free(c->wait);
    free(c);
}

static int slot_take(struct cluster *c, int32_t *slot)
{
    if (c->n_free > 0) {
        *slot = c->free_slots[--c->n_free];
        return LLM_OK;
    }
    if (c->n_slots == c->cap_slots) {
        int32_t ncap = c->cap_slots ? c->cap_slots * 2 : 16;
        struct xfer_slot *s = realloc(c->slots, (size_t)ncap * sizeof(*s));
        int32_t *f;
        if (s == NULL)
            return LLM_ENOMEM;
        c->slots = s;
        f = realloc(c->free_slots, (size_t)ncap * sizeof(*f));
        if (f == NULL)
            return LLM_ENOMEM;
        c->free_slots = f;
        c->cap_slots = ncap;
    }
    *slot = c->n_slots++;
    return LLM_OK;
}

/* Reserves q's computed tokens on decode replica dst; q->kv_blocks then
 * counts dst's blocks and q->kv_src_blocks the source's.  False (nothing
 * changed) when dst has no room. */
static bool reserve(struct replica_core *dst, struct request *q)
{
    int32_t src = q->kv_blocks, slot = q->kv_slot;

    /* The destination's manager starts a fresh record for q. */
    q->kv_blocks = 0;
    q->kv_slot = 0;
    if (replica_kv_grow(&dst->pub, q, q->computed)) {
        q->kv_src_blocks = src;
        q->kv_src_slot = slot;
        return true;
    }
    q->kv_blocks = src;
    q->kv_slot = slot;
    return false;
}

/* The decode router's choice, or the first other decode replica with
 * room; -1 when none has room. */
static int32_t pick_decode(struct cluster *c, struct replica_core *reps,
                           int32_t n, struct request *q)
{
    int32_t base = c->cfg.first_decode, nd = n - base, i, k;

    i = c->cfg.decode_router->route(c->router_p.st, q, c->views + base, nd);
    if (i < 0 || i >= nd)
        i = 0;
    for (k = 0; k < nd; k++) {
        int32_t j = base + (i + k) % nd;
        if (reserve(&reps[j], q))
            return j;
    }
    return -1;
}

/* Bytes of a layer-wise transfer already streamed when the prefill
 * ends: the first L - 1 layers, as far as the link's share carried them
 * during the prefill iteration. */
static double overlapped_bytes(const struct cluster *c,
                               const struct sim_link *l, double bytes,
                               int64_t prefill_ns)
{
    double early, carried;
    int32_t L = c->cfg.layers;

    if (!c->cfg.layerwise || L <= 1 || prefill_ns <= 0)
        return 0;
    early = bytes * (double)(L - 1) / L;
    carried = l->bw_bytes_s / (double)(link_active(l) + 1) *
              (double)prefill_ns * 1e-9 * (double)(L - 1) / L;
    return carried < early ? carried : early;
}

/* Starts q's transfer (*started) unless no decode replica has room. */
static int try_start(struct cluster *c, struct replica_core *reps, int32_t n,
                     struct request *q, int64_t now_ns, int64_t prefill_ns,
                     bool *started)
{
    int32_t src = q->prefill_replica, dst, slot;
    struct sim_link *l = &c->links[src];
    double bytes, early;
    int rc;

    *started = false;
    dst = pick_decode(c, reps, n, q);
    if (dst < 0)
        return LLM_OK;
    rc = slot_take(c, &slot);
    if (rc != LLM_OK)
        return rc;
    bytes = cluster_kv_bytes(c->cfg.kv_bytes_per_token, q->computed);
    early = overlapped_bytes(c, l, bytes, prefill_ns);
    rc = link_start(l, now_ns, slot, bytes - early);
    if (rc != LLM_OK)
        return rc;
    c->slots[slot] = (struct xfer_slot){ q, dst };
    q->kv_xfer_start_ns = now_ns;
    c->st.transfers++;
    c->st.bytes += bytes;
    c->st.bytes_overlapped += early;
    *started = true;
    return LLM_OK;
}

static int wait_push(struct cluster *c, struct request *q)
{
    if (c->wait_head + c->n_wait == c->cap_wait) {
        int64_t ncap = c->cap_wait ? c->cap_wait * 2 : 16;
        struct request **w;
        if (c->wait_head > 0) {     /* compact before growing */
            memmove(c->wait, c->wait + c->wait_head,
                    (size_t)c->n_wait * sizeof(*w));
            c->wait_head = 0;
            return wait_push(c, q);
        }
        w = realloc(c->wait, (size_t)ncap * sizeof(*w));
        if (w == NULL)
            return LLM_ENOMEM;
        c->wait = w;
        c->cap_wait = ncap;
    }
    c->wait[c->wait_head + c->n_wait++] = q;
    return LLM_OK;
}

int cluster_handoff(struct cluster *c, struct replica_core *reps, int32_t n,
                    struct request *q, int64_t now_ns, int64_t prefill_ns,
                    struct request **landed)
{
    bool started = false;
    int rc = LLM_OK;

    *landed = NULL;
    if (c->cfg.partner_offset > 0) {
        /* Unified storage: the partner reads the same KV pool. */
        struct replica_core *dst = &reps[q->prefill_replica +
                                    c->cfg.partner_offset];
        q->kv_xfer_start_ns = q->kv_xfer_end_ns = now_ns;
        c->st.local_handoffs++;
        *landed = q;
        return replica_accept_decode(dst, q);
    }
    if (c->n_wait == 0)        /* FIFO: nobody overtakes a waiting one */
        rc = try_start(c, reps, n, q, now_ns, prefill_ns, &started);
    if (rc == LLM_OK && !started) {
        c->st.waits++;
        rc = wait_push(c, q);
    }
    return rc;
}

int cluster_retry(struct cluster *c, struct replica_core *reps, int32_t n,
                  int64_t now_ns)
{
    bool started = true;
    int rc = LLM_OK;

    while (c->n_wait > 0 && started && rc == LLM_OK) {
        rc = try_start(c, reps, n, c->wait[c->wait_head], now_ns, 0,
                       &started);
        if (rc == LLM_OK && started) {
            c->wait_head++;
            c->n_wait--;
        }
    }
    if (c->n_wait == 0)
        c->wait_head = 0;
    return rc;
}

int64_t cluster_link_next(const struct cluster *c, int32_t i)
{
    return link_next_done(&c->links[i]);
}

int cluster_link_pop(struct cluster *c, struct replica_core *reps, int32_t i,
                     int64_t now_ns, struct request **out)
{
    int64_t id, ns;
    struct xfer_slot sl;

    *out = NULL;
    link_advance(&c->links[i], now_ns);
    if (!link_pop_done(&c->links[i], now_ns, &id))
        return LLM_OK;
    sl = c->slots[id];
    c->free_slots[c->n_free++] = (int32_t)id;
    replica_kv_drop(&reps[sl.q->prefill_replica], sl.q, sl.q->kv_src_blocks);
    sl.q->kv_src_blocks = 0;
    sl.q->kv_xfer_end_ns = now_ns;
    ns = now_ns - sl.q->last_token_ns;
    c->st.xfer_ns_sum += (double)ns;
    if (ns > c->st.xfer_ns_max)
        c->st.xfer_ns_max = ns;
    *out = sl.q;
    return replica_accept_decode(&reps[sl.dst], sl.q);
}

int64_t cluster_waiting(const struct cluster *c)
{
    return c->n_wait;
}

int64_t cluster_in_flight(const struct cluster *c)
{
    return c->n_slots - c->n_free;
}

const struct cluster_stats *cluster_get_stats(struct cluster *c)
{
    int32_t i;

    c->st.link_busy_ns = 0;
    for (i = 0; i < c->n_links; i++)
        c->st.link_busy_ns += c->links[i].busy_ns;
    return &c->st;
}

void cluster_free_requests(struct cluster *c)
{
    int32_t i;
    int64_t k;
    bool *idle;

    if (c == NULL)
        return;
    for (k = 0; k < c->n_wait; k++)
        free(c->wait[c->wait_head + k]);
    c->n_wait = 0;
    idle = calloc((size_t)c->n_slots + 1, sizeof(*idle));
    for (i = 0; idle && i < c->n_free; i++)
        idle[c->free_slots[i]] = true;
    for (i = 0; idle && i < c->n_slots; i++)
        if (!idle[i])
            free(c->slots[i].q);
    free(idle);
    c->n_free = c->n_slots = 0;
}
