/* sim/link.h: a data link shared by concurrent transfers.
 *
 * A link (PCIe to host memory, NVLink, a network port, an SSD channel)
 * has a bandwidth and a latency.  Transfers on it share the bandwidth
 * equally (processor sharing, the fluid model of fair DMA/NCCL sharing):
 * with n transfers in flight each moves at bw / n, and every start or
 * finish re-divides it.  A transfer of B bytes alone takes latency + B /
 * bw.  The link is driven by the caller's clock: link_start/link_advance
 * take the current time, and link_next_done tells when the earliest
 * transfer completes, so the simulator schedules one event per link.
 * Transfers are identified by a caller-chosen 64-bit id.  The link owns
 * its array; not thread-safe; all times int64 ns. */
#ifndef LLM_LINK_H
#define LLM_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct link_xfer {
    int64_t id;
    double remaining;          /* bytes still to move */
    int64_t ready_ns;          /* start + latency: no bytes move before */
    int64_t start_ns;
};

struct sim_link {
    double bw_bytes_s;
    int64_t latency_ns;
    int64_t now_ns;            /* time the remaining counts refer to */
    struct link_xfer *x;
    size_t n, cap;
    double bytes_total;        /* bytes completed over the link's life */
    int64_t busy_ns;           /* time with at least one transfer moving */
};

void link_init(struct sim_link *l, double bw_bytes_s, int64_t latency_ns);
void link_fini(struct sim_link *l);

/* Moves every transfer forward to now_ns (never backwards). */
void link_advance(struct sim_link *l, int64_t now_ns);
/* Starts a transfer of bytes at now_ns.  LLM_ENOMEM or LLM_OK. */
int link_start(struct sim_link *l, int64_t now_ns, int64_t id, double bytes);
/* Time the earliest in-flight transfer completes if nothing else starts;
 * -1 when idle. */
int64_t link_next_done(const struct sim_link *l);
/* Removes and returns (in *id) one transfer finished by now_ns; false when
 * none is.  Call link_advance(now) first. */
bool link_pop_done(struct sim_link *l, int64_t now_ns, int64_t *id);
size_t link_active(const struct sim_link *l);
/* A KV manager's batched traffic on one direction of a link: drains the
 * transfers finished by now_ns, then starts *pend bytes (if any) as one
 * transfer with the id ++*next_id and zeroes *pend.  *end: when that
 * transfer lands if nothing else starts, -1 when none started.
 * LLM_ENOMEM or LLM_OK. */
int link_flush(struct sim_link *l, int64_t now_ns, double *pend,
               int64_t *next_id, int64_t *end);

#endif
