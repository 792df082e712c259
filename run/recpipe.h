/* run/recpipe.h: the run's outputs on a second thread.
 *
 * A run's recorder (sim/sim.h struct sim_recorder: a finished request, an
 * ended iteration) stores rows and sums what the summary needs; none of
 * that feeds back into the simulation.  A recpipe stands in for such a
 * recorder: its callbacks copy each record (the request, the iteration
 * and its inter-token gaps) into chunks of RECPIPE_CHUNK and a consumer
 * thread hands them, in the order they were made, to the recorder it
 * wraps.  Both threads then run at once and the outputs are the same,
 * byte for byte, as calling the recorder directly.
 *
 * Only for a recorder that never changes the simulation (not with a power
 * controller or semi-PD's SLO feedback, whose callbacks steer it).  The
 * producer side (recpipe_recorder's callbacks, recpipe_finish) runs on
 * the simulation's thread; the wrapped callbacks run on the consumer's
 * and must touch nothing the simulation touches.  A failing callback stops
 * the wrapped calls (later records are dropped); the next producer call
 * returns its code, and recpipe_finish its code and the time of the
 * record that failed.  At most RECPIPE_QUEUE chunks wait: a producer
 * ahead of its consumer blocks, so memory stays bounded. */
#ifndef LLM_RECPIPE_H
#define LLM_RECPIPE_H

#include <stdint.h>

#include "sim/sim.h"

#define RECPIPE_CHUNK 1024
#define RECPIPE_QUEUE 4

struct recpipe;

/* Starts the consumer thread over inner (copied).  LLM_ENOMEM when the
 * pipe or its thread cannot be made (then *out is NULL and the caller
 * can record directly). */
int recpipe_start(const struct sim_recorder *inner, struct recpipe **out);
/* The recorder the simulation calls instead of inner. */
struct sim_recorder recpipe_recorder(struct recpipe *p);
/* Hands over what is left, waits for the consumer to finish and frees
 * the pipe (NULL: nothing).  Returns the first error of a wrapped call
 * (LLM_OK if none) and, when there was one, the time of its record in
 * *fail_ns (a request's finish, else arrival; an iteration's end). */
int recpipe_finish(struct recpipe *p, int64_t *fail_ns);

#endif
