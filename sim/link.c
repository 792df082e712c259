#include "sim/link.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/diag.h"

/* Below this many bytes a transfer counts as done: rounding of the fluid
 * model must not leave a transfer that never finishes. */
#define LINK_EPS_BYTES 1e-3

void link_init(struct sim_link *l, double bw_bytes_s, int64_t latency_ns)
{
    memset(l, 0, sizeof(*l));
    l->bw_bytes_s = bw_bytes_s;
    l->latency_ns = latency_ns;
}

void link_fini(struct sim_link *l)
{
    free(l->x);
    memset(l, 0, sizeof(*l));
}

static size_t moving(const struct sim_link *l, int64_t t)
{
    size_t i, n = 0;

    for (i = 0; i < l->n; i++)
        if (l->x[i].ready_ns <= t && l->x[i].remaining > LINK_EPS_BYTES)
            n++;
    return n;
}

/* Advances in steps between the instants where the set of moving
 * transfers changes (a transfer leaving its latency, or finishing). */
void link_advance(struct sim_link *l, int64_t now_ns)
{
    while (l->now_ns < now_ns) {
        int64_t t = l->now_ns, next = now_ns;
        size_t i, n = moving(l, t);
        double rate, dt;
        for (i = 0; i < l->n; i++) {
            const struct link_xfer *x = &l->x[i];
            if (x->ready_ns > t && x->ready_ns < next)
                next = x->ready_ns;
            if (n > 0 && x->ready_ns <= t && x->remaining > LINK_EPS_BYTES) {
                int64_t fin = t + (int64_t)ceil(x->remaining * (double)n /
                                                l->bw_bytes_s * 1e9);
                if (fin < next)
                    next = fin > t ? fin : t + 1;
            }
        }
        if (n > 0) {
            rate = l->bw_bytes_s / (double)n;
            dt = (double)(next - t) / 1e9;
            for (i = 0; i < l->n; i++) {
                struct link_xfer *x = &l->x[i];
                if (x->ready_ns <= t && x->remaining > LINK_EPS_BYTES) {
                    double moved = fmin(x->remaining, rate * dt);
                    x->remaining -= moved;
                    l->bytes_total += moved;
                }
            }
            l->busy_ns += next - t;
        }
        l->now_ns = next;
    }
}

int link_start(struct sim_link *l, int64_t now_ns, int64_t id, double bytes)
{
    link_advance(l, now_ns);
    if (l->n == l->cap) {
        size_t ncap = l->cap ? l->cap * 2 : 8;
        struct link_xfer *n = realloc(l->x, ncap * sizeof(*n));
        if (n == NULL)
            return LLM_ENOMEM;
        l->x = n;
        l->cap = ncap;
    }
    l->x[l->n++] = (struct link_xfer){ .id = id, .remaining = bytes,
        .ready_ns = now_ns + l->latency_ns, .start_ns = now_ns };
    return LLM_OK;
}

int64_t link_next_done(const struct sim_link *l)
{
    struct sim_link copy = *l;
    size_t i;
    int64_t best = -1;

    if (l->n == 0)
        return -1;
    /* The earliest completion under the current sharing: simulate the
     * fluid model forward on a copy of the remaining counts. */
    copy.x = malloc(l->n * sizeof(*copy.x));
    if (copy.x == NULL)
        return l->now_ns;
    memcpy(copy.x, l->x, l->n * sizeof(*copy.x));
    copy.cap = l->n;
    for (;;) {
        int64_t t = copy.now_ns, next = INT64_MAX;
        size_t n = moving(&copy, t);
        for (i = 0; i < copy.n; i++) {
            const struct link_xfer *x = &copy.x[i];
            if (x->ready_ns <= t && x->remaining <= LINK_EPS_BYTES) {
                best = t;
                break;
            }
            if (x->ready_ns > t && x->ready_ns < next)
                next = x->ready_ns;
            if (n > 0 && x->ready_ns <= t) {
                int64_t fin = t + (int64_t)ceil(x->remaining * (double)n /
                                                copy.bw_bytes_s * 1e9);
                next = fin < next ? (fin > t ? fin : t + 1) : next;
            }
        }
        if (best >= 0 || next == INT64_MAX)
            break;
        link_advance(&copy, next);
    }
    free(copy.x);
    return best;
}

bool link_pop_done(struct sim_link *l, int64_t now_ns, int64_t *id)
{
    size_t i;

    for (i = 0; i < l->n; i++) {
        if (l->x[i].ready_ns <= now_ns &&
            l->x[i].remaining <= LINK_EPS_BYTES) {
            *id = l->x[i].id;
            memmove(&l->x[i], &l->x[i + 1], (l->n - i - 1) * sizeof(*l->x));
            l->n--;
            return true;
        }
    }
    return false;
}

size_t link_active(const struct sim_link *l)
{
    return l->n;
}

int link_flush(struct sim_link *l, int64_t now_ns, double *pend,
               int64_t *next_id, int64_t *end)
{
    int64_t id;
    int rc = LLM_OK;

    link_advance(l, now_ns);
    while (link_pop_done(l, now_ns, &id))
        ;
    *end = -1;
    if (*pend > 0) {
        rc = link_start(l, now_ns, ++*next_id, *pend);
        *pend = 0;
        *end = link_next_done(l);
    }
    return rc;
}
