#include "models/pipeline.h"

int64_t pipeline_period_ns(const int64_t *stage_ns, int32_t pp)
{
    int64_t mx = 0;
    int32_t s;

    for (s = 0; s < pp; s++)
        if (stage_ns[s] > mx)
            mx = stage_ns[s];
    return mx;
}

int64_t pipeline_iteration_ns(const int64_t *stage_ns, int32_t pp,
                              int32_t micro_batches)
{
    int64_t sum = 0;
    int32_t s, m = micro_batches > 1 ? micro_batches : 1;

    for (s = 0; s < pp; s++)
        sum += stage_ns[s];
    return sum + (int64_t)(m - 1) * pipeline_period_ns(stage_ns, pp);
}

double pipeline_bubble(const int64_t *stage_ns, int32_t pp,
                       int32_t micro_batches)
{
    int64_t t = pipeline_iteration_ns(stage_ns, pp, micro_batches);
    int64_t sum = 0;
    int32_t s, m = micro_batches > 1 ? micro_batches : 1;

    if (t <= 0 || pp < 1)
        return 0;
    for (s = 0; s < pp; s++)
        sum += stage_ns[s];
    return 1.0 - (double)m * ((double)sum / pp) / (double)t;
}
