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

#endif
