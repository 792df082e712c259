/* hw/eager.h: the forward pass of an eager serving engine as a two-stage
 * pipeline of host dispatch and GPU execution.
 *
 * An engine that does not replay a CUDA graph dispatches every kernel from
 * the host (PyTorch's dispatcher, Triton's launcher: tens of microseconds
 * each); the GPU runs each kernel once it is dispatched and the previous
 * one is done.  The CPU runs ahead while kernels are long, and the GPU
 * idles while they are shorter than their dispatch.  eager_pipeline_s
 * plays that queue kernel by kernel:
 *
 *     dispatched_i = dispatched_{i-1} + cpu_i
 *     done_i       = max(dispatched_i, done_{i-1}) + gpu_i
 *
 * over the prologue, `layers` repeats of the layer's operators, and the
 * epilogue, and returns the last done time.  The launch queue is taken as
 * unbounded (CUDA's holds about a thousand launches, more than a Llama
 * forward's).  Pure: no state, no allocation. */
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

/* Seconds from the first dispatch to the GPU's last kernel.  Any of the
 * three parts may be empty (n 0, array NULL); layers < 1 skips the layer
 * part. */
double eager_pipeline_s(const struct eager_op *pro, size_t n_pro,
                        const struct eager_op *layer, size_t n_layer,
                        int32_t layers, const struct eager_op *epi,
                        size_t n_epi);

#endif
