/* run/progress.h: a progress line for long runs (issue 18).
 *
 * `llmsim run` and `bench` show, on stderr when it is a terminal and
 * --quiet is not given, the simulated time, the requests done (of how many,
 * when the workload says), the rate in requests per wall-clock second and
 * the time left, at most PROGRESS_HZ times a second, on one line that is
 * cleared at the end.  The run calls progress_tick once per finished
 * request or iteration: it adds to a counter and looks at the clock only
 * every PROGRESS_EVERY ticks, so the event loop pays one increment and
 * one test per tick.  Writes nothing but the line (no output file
 * changes).  One per run; not thread-safe. */
#ifndef LLM_PROGRESS_H
#define LLM_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <cjson/cJSON.h>

#define PROGRESS_EVERY 1024      /* ticks between looks at the clock */
#define PROGRESS_HZ 4            /* lines per second at most */

struct progress {
    FILE *f;                     /* NULL: off */
    int64_t total;               /* requests expected; 0: unknown */
    int64_t done;                /* requests finished or rejected */
    int64_t sim_ns;              /* latest simulated time seen */
    uint64_t ticks;
    double t0_s, last_s;         /* wall clock at start, at the last line */
    int width;                   /* of the last line, to clear it */
};

/* Starts p writing to f (NULL: off); total as progress_total gives it. */
void progress_start(struct progress *p, FILE *f, int64_t total);
/* Prints a line if 1/PROGRESS_HZ s passed since the last (or force). */
void progress_poll(struct progress *p, bool force);
/* Clears the line. */
void progress_end(struct progress *p);

/* One finished request (done) or iteration, at simulated time now_ns. */
static inline void progress_tick(struct progress *p, int64_t now_ns,
                                 bool request)
{
    if (p->f == NULL)
        return;
    p->done += request;
    p->sim_ns = now_ns > p->sim_ns ? now_ns : p->sim_ns;
    if (++p->ticks % PROGRESS_EVERY == 0)
        progress_poll(p, false);
}

/* How many requests a workload will send, when it says: its
 * "num_requests" or "limit"; for a trace file without a time window or
 * sampling, its lines (header aside; read once, so call it only when the
 * progress line is shown).  0: unknown. */
int64_t progress_total(const cJSON *workload);

#endif
