/* sim/evq.h: the event queue of one simulation run.
 *
 * A 4-ary min-heap of events ordered by (t_ns, seq).  seq is a per-queue
 * push counter, so events at equal times fire in the order they were pushed
 * and a run depends only on its config and seed, never on pointer values.
 * The queue owns its array, not the payloads.  One per run; not
 * thread-safe; two queues are fully independent. */
#ifndef LLM_EVQ_H
#define LLM_EVQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct evq;
struct sim_event;

typedef int sim_handler_fn(void *ctx, const struct sim_event *ev);

struct sim_event {
    int64_t t_ns;
    uint64_t seq;
    sim_handler_fn *fn;
    void *payload;
    int64_t arg;        /* a small integer the handler may use (an id) */
};

struct evq *evq_create(size_t capacity_hint);   /* NULL: no memory */
void evq_destroy(struct evq *q);                /* NULL ok */

/* Pushes an event.  LLM_EINVAL if t_ns is before the time of the last
 * popped event (the past), LLM_ENOMEM if the heap cannot grow. */
int evq_push(struct evq *q, int64_t t_ns, sim_handler_fn *fn, void *payload,
             int64_t arg);

/* Pops the earliest event into *out; false when empty.  Advances now. */
bool evq_pop(struct evq *q, struct sim_event *out);

size_t evq_size(const struct evq *q);
int64_t evq_now(const struct evq *q);          /* time of last pop, 0 first */
uint64_t evq_pushed(const struct evq *q);      /* events pushed so far */

#endif
