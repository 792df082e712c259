#include "sim/evq.h"

#include <stdlib.h>

#include "base/diag.h"

/* Four children per node: shallower than a binary heap, and the children
 * of a node share a cache line pair, which is what makes d-ary heaps the
 * usual choice for discrete-event queues. */
#define EVQ_ARITY 4

struct evq {
    struct sim_event *ev;
    size_t len, cap;
    uint64_t next_seq;
    int64_t now_ns;
};

static bool ev_before(const struct sim_event *a, const struct sim_event *b)
{
    if (a->t_ns != b->t_ns)
        return a->t_ns < b->t_ns;
    return a->seq < b->seq;
}

struct evq *evq_create(size_t capacity_hint)
{
    struct evq *q = calloc(1, sizeof(*q));

    if (q == NULL)
        return NULL;
    q->cap = capacity_hint > 16 ? capacity_hint : 16;
    q->ev = calloc(q->cap, sizeof(*q->ev));
    if (q->ev == NULL) {
        free(q);
        return NULL;
    }
    return q;
}

void evq_destroy(struct evq *q)
{
    if (q == NULL)
        return;
    free(q->ev);
    free(q);
}

static void sift_up(struct evq *q, size_t i)
{
    struct sim_event e = q->ev[i];

    while (i > 0) {
        size_t p = (i - 1) / EVQ_ARITY;
        if (!ev_before(&e, &q->ev[p]))
            break;
        q->ev[i] = q->ev[p];
        i = p;
    }
    q->ev[i] = e;
}

static void sift_down(struct evq *q, size_t i)
{
    struct sim_event e = q->ev[i];

    for (;;) {
        size_t first = i * EVQ_ARITY + 1, best = i, c;
        const struct sim_event *bv = &e;
        for (c = first; c < first + EVQ_ARITY && c < q->len; c++) {
            if (ev_before(&q->ev[c], bv)) {
                best = c;
                bv = &q->ev[c];
            }
        }
        if (best == i)
            break;
        q->ev[i] = q->ev[best];
        i = best;
    }
    q->ev[i] = e;
}

int evq_push(struct evq *q, int64_t t_ns, sim_handler_fn *fn, void *payload,
             int64_t arg)
{
    if (t_ns < q->now_ns)
        return LLM_EINVAL;
    if (q->len == q->cap) {
        size_t ncap = q->cap * 2;
        struct sim_event *n = realloc(q->ev, ncap * sizeof(*n));
        if (n == NULL)
            return LLM_ENOMEM;
        q->ev = n;
        q->cap = ncap;
    }
    q->ev[q->len] = (struct sim_event){ .t_ns = t_ns, .seq = q->next_seq++,
                                        .fn = fn, .payload = payload,
                                        .arg = arg };
    sift_up(q, q->len++);
    return LLM_OK;
}

bool evq_pop(struct evq *q, struct sim_event *out)
{
    if (q->len == 0)
        return false;
    *out = q->ev[0];
    q->now_ns = out->t_ns;
    q->ev[0] = q->ev[--q->len];
    if (q->len > 0)
        sift_down(q, 0);
    return true;
}

size_t evq_size(const struct evq *q) { return q->len; }
int64_t evq_now(const struct evq *q) { return q->now_ns; }
uint64_t evq_pushed(const struct evq *q) { return q->next_seq; }
