/* hw/lut.h: table-lookup matrix multiplication at 1-4 bits (issue 21):
 * one model for TeLLMe's FPGA engine (hw/catalog kria-kv260), T-MAC's CPU
 * kernels, LUT Tensor Core and SAIL.
 *
 * y = x W with activations x (rows x k) and low-bit weights W (k x n).
 * The k activations of a row are cut into groups of `group`; for each
 * group a table of every signed sum of its activations is precomputed
 * (`entries` of them: 2^g for one-bit weight planes, half that with
 * table symmetry, 3^g for ternary weights indexed directly); then each
 * output reads one entry per group per weight plane (bit-serial: `planes`
 * = b for b-bit weights, shifted and added; 1 for a direct index) and
 * accumulates.  The engine runs in steps of group x tables activations
 * (a row's tables for that K slice):
 *
 *   build   passes x group x tables / build_per_cycle cycles
 *           (passes: separately built linears fused in one operator)
 *   lookup  ceil(n / lanes) x planes cycles, each reading `tables`
 *           entries for each of `lanes` outputs
 *   a step  build + lookup, or max(build, lookup) when the builder runs
 *           alongside the lookups (overlap)
 *   a GEMM  rows x ceil(k / (group x tables)) steps, at clock_hz
 *
 * The counts beside the time: lookups (rows x n x ceil(k / group) x
 * planes), tables built and their entries, and one step's table bytes
 * (tables x entries x entry_bytes: what must sit in the engine's local
 * memory; reported, not priced).  This is TeLLMe's HLS loop nest
 * (src/linear.hpp: READ_A then LUT_HIDDEN_LOOP) written for any engine;
 * its parameters for kria-kv260 give the same cycles as before.
 * Pure functions over plain structs. */
#ifndef LLM_LUT_H
#define LLM_LUT_H

#include <stdbool.h>
#include <stdint.h>

struct lut_engine {
    int32_t group;             /* activations per table */
    int32_t tables;            /* tables a lane reads per cycle */
    double lanes;              /* outputs per cycle (may be an average) */
    int32_t planes;            /* lookups per group per output */
    double build_per_cycle;    /* activations the builder takes a cycle */
    bool overlap;              /* builder alongside the lookups */
    int32_t entries;           /* per table */
    double entry_bytes;
    double clock_hz;
};

struct lut_count {
    double steps;              /* group x tables activation slices, all rows */
    double build_cycles, lookup_cycles, cycles;
    double lookups;            /* table reads */
    double tables_built, entries_built;
    double step_table_bytes;   /* one step's tables */
    double seconds;
};

/* rows rows of activations times a k x n weight matrix, built `passes`
 * times (linears fused into one operator rebuild their tables). */
void lut_gemm(const struct lut_engine *e, double rows, int64_t n, int64_t k,
              double passes, struct lut_count *out);

/* ---- the datapath's area and energy per operation (LUT Tensor Core) ----
 *
 * LUT Tensor Core's claim (PAPERS.md 26: "more than 10x compute density and
 * energy efficiency") compares silicon, not cycles.  Per multiply-accumulate
 * a cycle, per output lane:
 *
 *   MAC datapath   one multiplier and one adder per MAC (weights dequantized
 *                  to the activations' type): mul + add
 *   LUT datapath   one lane selects one of its group's precomputed sums and
 *                  accumulates it (acc), plus the select itself (the
 *                  multiplexer, the symmetric table's negation and the
 *                  lane's share of the table registers) as select_frac x
 *                  acc; it covers `group` MACs per weight bit, so per MAC:
 *                  acc x (1 + select_frac) x bits / group
 *
 * compute density (MACs a cycle per area) and energy efficiency (MACs per
 * joule) of the LUT datapath over the MAC one are the ratios of those
 * per-MAC figures.  The table precompute is left out as the paper moves it
 * into the preceding operator (its "operator fusion"); the component costs
 * come from a cited table (configs/papers/lut/datapath.json). */
struct lut_op_cost {
    double area_um2;
    double energy_pj;
};

struct lut_datapath {
    struct lut_op_cost mul, add;   /* the MAC datapath's multiplier, adder */
    struct lut_op_cost acc;        /* the LUT lane's accumulator */
    double select_frac;            /* the lane's select over acc (>= 0) */
    int32_t group;                 /* activations per table (K) */
    int32_t bits;                  /* weight bits: cycles per lookup */
};

struct lut_datapath_ratio {
    struct lut_op_cost mac_per_op, lut_per_op;
    double density_x;              /* MAC area per op / LUT area per op */
    double energy_x;               /* MAC energy per op / LUT energy per op */
};

void lut_datapath_compare(const struct lut_datapath *p,
                          struct lut_datapath_ratio *out);

#endif
