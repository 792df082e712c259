/* hw/eager.h: the forward pass of an eager serving engine as a two-stage
 * pipeline of host dispatch and GPU execution.
 *
 * An engine that does not replay a CUDA graph dispatches every kernel from
 * the host (PyTorch's dispatcher, Triton's launcher: tens of microseconds
 * each); the GPU runs each kernel once it is dispatched and the previous
 * one is done.  The CPU runs ahead while kernels are long, and the GPU
 * idles while they are shorter than their dispatch.  eager_play plays that
 * queue kernel by kernel:
 *
 *     dispatched_i = dispatched_{i-1} + cpu_i
 *     done_i       = max(dispatched_i, done_{i-1}) + gpu_i
 *
 * over a forward's blocks of operators in order (a block played as many
 * times as it repeats: the layers); the forward ends at the last done
 * time.  The launch queue is taken as unbounded (CUDA's holds about a
 * thousand launches, more than a Llama forward's).  No allocation; only
 * the clock changes. */
#ifndef LLM_EAGER_H
#define LLM_EAGER_H

#include <stddef.h>
#include <stdint.h>

struct eager_op {
    double cpu_s;              /* host time to dispatch it */
    double gpu_s;              /* device time to run it */
};

/* The two clocks of the pipeline, from the first dispatch (both 0). */
struct eager_clock {
    double cpu_s;              /* when the host has dispatched so far */
    double gpu_s;              /* when the GPU is done so far */
};

/* Plays n operators, `repeat` times over (a layer block), on clk. */
void eager_play(const struct eager_op *ops, size_t n, int32_t repeat,
                struct eager_clock *clk);

#endif
