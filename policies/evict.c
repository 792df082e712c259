#include "policies/evict.h"

#include "policies/common.h"

static const char *const evict_names[] = { "lru", "lfu", "fifo", "cost",
                                           NULL };

int evict_read(const cJSON *p, const char *path, const char *key,
               enum evict_policy *out, struct llm_diag *d)
{
    int v = (int)*out;
    int rc = pol_read_enum(p, path, key, evict_names, &v, d);

    *out = (enum evict_policy)v;
    return rc;
}

const char *evict_name(enum evict_policy e)
{
    return evict_names[e];
}

struct evict_key evict_key(enum evict_policy e, const struct evict_facts *f)
{
    switch (e) {
    case EVICT_LFU:
        return (struct evict_key){ (double)f->uses, f->last_use, f->id };
    case EVICT_FIFO:
        return (struct evict_key){ (double)f->born, f->id, 0 };
    case EVICT_COST:
        return (struct evict_key){ f->cost, f->last_use, f->id };
    case EVICT_LRU:
    default:
        return (struct evict_key){ (double)f->last_use, f->id, 0 };
    }
}

int evict_before(const struct evict_key *a, const struct evict_key *b)
{
    if (a->k1 != b->k1)
        return a->k1 < b->k1;
    if (a->k2 != b->k2)
        return a->k2 < b->k2;
    return a->k3 < b->k3;
}

/* A running request as an eviction candidate: its last token is its last
 * use, its tokens so far its uses, its first schedule its birth, and its
 * computed context what recomputing it would cost. */
static struct evict_facts victim_facts(const struct request *q)
{
    return (struct evict_facts){ .last_use = q->last_token_ns >= 0 ?
                                 q->last_token_ns : q->first_sched_ns,
        .uses = q->generated, .born = q->first_sched_ns,
        .cost = (double)q->computed, .id = -q->id };
}

struct request *evict_victim(void *ctx, struct replica *r,
                             const struct request *q)
{
    enum evict_policy e = ctx ? *(const enum evict_policy *)ctx : EVICT_LRU;
    struct request *best = NULL;
    struct evict_key bk = { 0 };
    int32_t i;

    (void)q;
    for (i = 0; i < r->n_running; i++) {
        struct evict_facts f = victim_facts(r->running[i]);
        struct evict_key k = evict_key(e, &f);
        if (best == NULL || evict_before(&k, &bk)) {
            best = r->running[i];
            bk = k;
        }
    }
    return best;
}
