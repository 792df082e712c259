#include "hw/eager.h"

static void play(const struct eager_op *ops, size_t n, double *cpu,
                 double *gpu)
{
    for (size_t i = 0; i < n; i++) {
        *cpu += ops[i].cpu_s;
        *gpu = (*cpu > *gpu ? *cpu : *gpu) + ops[i].gpu_s;
    }
}

/* Every repeat is played: a few hundred steps per forward, and eager mode
 * prices thousands of iterations, not millions. */
void eager_play(const struct eager_op *ops, size_t n, int32_t repeat,
                struct eager_clock *clk)
{
    for (int32_t r = 0; r < repeat; r++)
        play(ops, n, &clk->cpu_s, &clk->gpu_s);
}

double eager_pipeline_s(const struct eager_op *pro, size_t n_pro,
                        const struct eager_op *layer, size_t n_layer,
                        int32_t layers, const struct eager_op *epi,
                        size_t n_epi)
{
    struct eager_clock clk = { 0, 0 };

    eager_play(pro, n_pro, 1, &clk);
    eager_play(layer, n_layer, layers, &clk);
    eager_play(epi, n_epi, 1, &clk);
    return clk.gpu_s;
}
