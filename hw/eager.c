#include "hw/eager.h"

static void play(const struct eager_op *ops, size_t n, double *cpu,
                 double *gpu)
{
    for (size_t i = 0; i < n; i++) {
        *cpu += ops[i].cpu_s;
        *gpu = (*cpu > *gpu ? *cpu : *gpu) + ops[i].gpu_s;
    }
}

/* Every layer is played: a few hundred steps per forward, and eager mode
 * prices thousands of iterations, not millions. */
double eager_pipeline_s(const struct eager_op *pro, size_t n_pro,
                        const struct eager_op *layer, size_t n_layer,
                        int32_t layers, const struct eager_op *epi,
                        size_t n_epi)
{
    double cpu = 0, gpu = 0;

    play(pro, n_pro, &cpu, &gpu);
    for (int32_t l = 0; l < layers; l++)
        play(layer, n_layer, &cpu, &gpu);
    play(epi, n_epi, &cpu, &gpu);
    return gpu;
}
