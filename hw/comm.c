#include "hw/comm.h"

#include <math.h>
#include <string.h>

static const char *const op_names[COMM_OP_COUNT] = {
    [COMM_ALLREDUCE] = "allreduce", [COMM_ALLGATHER] = "allgather",
    [COMM_REDUCE_SCATTER] = "reducescatter", [COMM_ALLTOALL] = "alltoall",
    [COMM_SENDRECV] = "sendrecv",
};

static double transfer_s(double bytes, const struct link *ln)
{
    return ln->bw_bytes_s > 0 ? bytes / ln->bw_bytes_s : 0;
}

static double allreduce_ring_s(double p, double n, const struct link *ln)
{
    return 2.0 * (p - 1) * ln->latency_s +
           transfer_s(2.0 * (p - 1) / p * n, ln);
}

static double allreduce_tree_s(double p, double n, const struct link *ln)
{
    return 2.0 * ceil(log2(p)) * ln->latency_s + transfer_s(2.0 * n, ln);
}

double comm_time_s(enum comm_op op, enum comm_algo algo, int32_t ranks,
                   double bytes, const struct link *ln)
{
    double p = ranks, ring, tree;

    if (bytes <= 0)
        return 0;
    if (op == COMM_SENDRECV)
        return ln->latency_s + transfer_s(bytes, ln);
    if (ranks < 2)
        return 0;
    if (op != COMM_ALLREDUCE)
        return (p - 1) * ln->latency_s + transfer_s((p - 1) / p * bytes, ln);
    ring = allreduce_ring_s(p, bytes, ln);
    tree = allreduce_tree_s(p, bytes, ln);
    if (algo == COMM_RING)
        return ring;
    if (algo == COMM_TREE)
        return tree;
    return ring < tree ? ring : tree;
}

double comm_busbw_factor(enum comm_op op, int32_t ranks)
{
    double p = ranks;

    if (op == COMM_SENDRECV || ranks < 2)
        return 1;
    if (op == COMM_ALLREDUCE)
        return 2.0 * (p - 1) / p;
    return (p - 1) / p;
}

const char *comm_op_name(enum comm_op op)
{
    return (op >= 0 && op < COMM_OP_COUNT) ? op_names[op] : "?";
}

bool comm_op_parse(const char *name, enum comm_op *out)
{
    int i;

    for (i = 0; i < COMM_OP_COUNT; i++) {
        if (strcmp(op_names[i], name) == 0) {
            *out = (enum comm_op)i;
            return true;
        }
    }
    return false;
}
