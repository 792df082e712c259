#include "hw/eager.h"

/* Every repeat is played: a few hundred steps per forward, and eager mode
 * prices thousands of iterations, not millions. */
void eager_play(const struct eager_op *ops, size_t n, int32_t repeat,
                struct eager_clock *clk)
{
    for (int32_t r = 0; r < repeat; r++)
        for (size_t i = 0; i < n; i++) {
            clk->cpu_s += ops[i].cpu_s;
            clk->gpu_s = (clk->cpu_s > clk->gpu_s ? clk->cpu_s : clk->gpu_s) +
                         ops[i].gpu_s;
        }
}
