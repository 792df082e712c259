/* hw/comm.h: the time of collective and point-to-point communication.
 *
 * A latency-bandwidth (alpha-beta) model of NCCL's algorithms over one
 * link: alpha = the link's latency per step, beta = its bandwidth per
 * direction (hw/catalog/links/).  Each GPU of an NVSwitch node (HGX) has
 * the full NVLink bandwidth to every peer; a group that spans nodes is
 * limited by the network link of each GPU (one NIC per GPU, as on HGX
 * H100 systems), so the caller passes that link instead.  Sizes are the
 * buffers NCCL's API takes (see comm_time_s).  Pure functions; no state.
 *
 * Formulas (p ranks, n bytes, alpha latency, beta bytes/s):
 *   all-reduce, ring     2(p-1) alpha + 2 (p-1)/p n / beta
 *   all-reduce, tree     2 ceil(log2 p) alpha + 2 n / beta   (NCCL's double
 *                        binary tree: each rank sends and receives 2n)
 *   all-gather, ring     (p-1) alpha + (p-1)/p n / beta    n: the output
 *   reduce-scatter, ring (p-1) alpha + (p-1)/p n / beta    n: the input
 *   all-to-all           (p-1) alpha + (p-1)/p n / beta    n: each rank's
 *                        send buffer, 1/p of it to each peer at once
 *   send/recv            alpha + n / beta
 * COMM_AUTO takes the faster algorithm, as NCCL's tuner does; only
 * all-reduce has a tree.  Sources: Thakur, Rabenseifner and Gropp,
 * "Optimization of collective communication operations in MPICH" (IJHPCA
 * 2005); NCCL's docs (nccl-tests PERFORMANCE.md: bus bandwidth) and the
 * NVIDIA blog "Massively scale your deep learning training with NCCL 2.4"
 * (double binary trees). */
#ifndef LLM_COMM_H
#define LLM_COMM_H

#include <stdbool.h>
#include <stdint.h>

#include "hw/device.h"

enum comm_op { COMM_ALLREDUCE, COMM_ALLGATHER, COMM_REDUCE_SCATTER,
               COMM_ALLTOALL, COMM_SENDRECV, COMM_OP_COUNT };
enum comm_algo { COMM_AUTO, COMM_RING, COMM_TREE };

/* Seconds for op over ranks ranks of n bytes on link ln.  0 when ranks
 * < 2 (send/recv: always one hop) or n <= 0; a link without bandwidth
 * costs its latency terms only.  COMM_TREE for anything but all-reduce
 * is priced as a ring. */
double comm_time_s(enum comm_op op, enum comm_algo algo, int32_t ranks,
                   double bytes, const struct link *ln);

/* nccl-tests' bus-bandwidth factor: busbw = algbw x factor, algbw =
 * bytes / time.  All-reduce 2(p-1)/p; all-gather, reduce-scatter and
 * all-to-all (p-1)/p; send/recv 1.  It makes measurements on different
 * rank counts comparable with the link bandwidth. */
double comm_busbw_factor(enum comm_op op, int32_t ranks);

/* "allreduce", "allgather", "reducescatter", "alltoall", "sendrecv";
 * comm_op_parse accepts the same names (false when unknown). */
const char *comm_op_name(enum comm_op op);
bool comm_op_parse(const char *name, enum comm_op *out);

#endif
