/* hw/lut.c: table-lookup matmul counts and time (hw/lut.h). */
#include "hw/lut.h"

#include <math.h>

void lut_gemm(const struct lut_engine *e, double rows, int64_t n, int64_t k,
              double passes, struct lut_count *out)
{
    double step = (double)e->group * e->tables;
    double per_row = ceil((double)k / step);
    double build = passes * step / e->build_per_cycle;
    double look = ceil((double)n / e->lanes) * e->planes;
    double groups = ceil((double)k / e->group);

    out->steps = rows * per_row;
    out->build_cycles = out->steps * build;
    out->lookup_cycles = out->steps * look;
    out->cycles = e->overlap ? out->steps * (build > look ? build : look)
                             : out->build_cycles + out->lookup_cycles;
    out->lookups = rows * (double)n * groups * e->planes;
    out->tables_built = rows * passes * groups;
    out->entries_built = out->tables_built * e->entries;
    out->step_table_bytes = (double)e->tables * e->entries * e->entry_bytes;
    out->seconds = out->cycles / e->clock_hz;
}

void lut_datapath_compare(const struct lut_datapath *p,
                          struct lut_datapath_ratio *out)
{
    double per_op = (1 + p->select_frac) * p->bits / (double)p->group;

    out->mac_per_op.area_um2 = p->mul.area_um2 + p->add.area_um2;
    out->mac_per_op.energy_pj = p->mul.energy_pj + p->add.energy_pj;
    out->lut_per_op.area_um2 = p->acc.area_um2 * per_op;
    out->lut_per_op.energy_pj = p->acc.energy_pj * per_op;
    out->density_x = out->mac_per_op.area_um2 / out->lut_per_op.area_um2;
    out->energy_x = out->mac_per_op.energy_pj / out->lut_per_op.energy_pj;
}
