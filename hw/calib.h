/* hw/calib.h: the measured tables of one device, and lookups into them.
 *
 * calib_load reads hw/calib/data/<device>/ (CSV with "# key: value"
 * provenance lines, a header row, comma-separated; formats in
 * hw/calib/README.md): GEMM times by (m, n, k) per data type, attention
 * prefill by (heads, q tokens, prior context), attention decode by (heads,
 * batch, context), element-wise kernels by (op, tokens, width), graph
 * launch costs, and (eager.csv) the host costs of an eager engine.  Every
 * kernel table is turned into utilization = speed-of-light time / measured
 * time, and lookups interpolate utilization (GSL linear
 * interpolation, in log space of the shape dimensions) and return
 * speed-of-light / utilization.  Outside a table the nearest measured
 * utilization is used and *extrap is set: never a silent extrapolation.
 * The tables are read-only after load; lookups are thread-compatible.
 *
 * Optional tables of low-bit kernels: gemm_w4a16.csv (m, n, k, time_us of
 * a fused W4A16 GEMM: 4-bit weights with group scales, bf16 MMA) and
 * attn_decode_fp8kv.csv (attn_decode.csv's format, over an fp8 KV
 * cache); without them those kernels are priced from the bf16 tables'
 * utilization at their own (smaller) byte counts.
 *
 * Borrowing (calib_borrow): a GPU without tables of its own is priced
 * from a donor's (hw/device.h device_calib_donor): every lookup carries
 * the donor's utilization at that shape to the target's speed of light,
 * scaled in each regime by the donor's measured peak over the target's
 * published efficiency (device.published_eff), so no GPU is priced at its
 * datasheet peak.  Launch and host costs carry as times. */
#ifndef LLM_CALIB_H
#define LLM_CALIB_H

#include <stdbool.h>
#include <stdint.h>

#include "hw/device.h"
#include "base/dtype.h"
#include "base/diag.h"

struct calib;

/* dir: the device's table folder.  LLM_EIO names a missing file,
 * LLM_EINVAL names file:line and column of a malformed row. */
int calib_load(const char *dir, const struct device *dev, struct calib **out,
               struct llm_diag *d);
void calib_free(struct calib *c);

/* Speed-of-light (roofline) times used to define utilization. */
double calib_sol_gemm_s(const struct device *dev, double w_bytes, double m,
                        double n, double k);
double calib_sol_attn_s(const struct device *dev, double flops,
                        double bytes);

/* Seconds of one kernel of that shape, as measured in a CUDA graph
 * (per-kernel launch gap included). */
double calib_gemm_s(const struct calib *c, enum dtype t, int64_t m,
                    int64_t n, int64_t k, bool *extrap);
/* A fused W4A16 GEMM (Marlin, Machete, AWQ kernels): gemm_w4a16.csv where
 * the tables have it, else the bf16 tables' utilization at the speed of
 * light of 4-bit weights (docs/cost-model.md cites the figures). */
double calib_gemm_w4a16_s(const struct calib *c, int64_t m, int64_t n,
                          int64_t k, bool *extrap);
/* Whether the bf16 tables measured this (n, k) (any M). */
bool calib_gemm_has_shape(const struct calib *c, int64_t n, int64_t k);
double calib_attn_prefill_s(const struct calib *c, int32_t qh, int32_t kvh,
                            int32_t hd, int64_t q_tokens, int64_t prior,
                            bool *extrap);
double calib_attn_decode_s(const struct calib *c, int32_t qh, int32_t kvh,
                           int32_t hd, int64_t batch, double ctx,
                           bool *extrap);
/* Attention tables of other backends (attn_prefill_<name>.csv,
 * attn_decode_<name>.csv, any that the folder holds; engine profiles name
 * them, hw/engine.h): the index of set `name`, 0 for "" (FlashAttention-2's
 * attn_prefill.csv and attn_decode.csv), -1 when the folder has neither of
 * its files.  A set lacking one of the two falls back to FA2's for it;
 * calib_attn_set_has says whether it has its own. */
int calib_attn_set(const struct calib *c, const char *name);
bool calib_attn_set_has(const struct calib *c, int set, bool decode);
double calib_attn_prefill_set_s(const struct calib *c, int set, int32_t qh,
                                int32_t kvh, int32_t hd, int64_t q_tokens,
                                int64_t prior, bool *extrap);
double calib_attn_decode_set_s(const struct calib *c, int set, int32_t qh,
                               int32_t kvh, int32_t hd, int64_t batch,
                               double ctx, bool *extrap);
/* Whether both attention tables measured these heads. */
bool calib_attn_has_heads(const struct calib *c, int32_t qh, int32_t kvh,
                          int32_t hd);
/* Bytes per KV element of the priced cache (default 2, bf16): attention
 * lookups carry the tables' utilization to that byte count (decode with
 * exactly 1 byte uses attn_decode_fp8kv.csv when present). */
void calib_set_kv_bytes(struct calib *c, double kv_bytes);
/* Prices queries on target (a GPU without tables) from these tables,
 * which were loaded with the donor's device; see above. */
void calib_borrow(struct calib *c, const struct device *target);
/* op: rmsnorm, rope, silu_mul, residual_add, kv_write, embedding,
 * sampling (elementwise.csv: the reference engine's kernels), or
 * "torch.<op>" for a row of elementwise_torch.csv (PyTorch's own kernels,
 * for unfused engines).  Utilization is taken against a nominal traffic of
 * tokens x width bf16 elements, so a width missing from the table
 * borrows the nearest measured width's utilization. */
double calib_elem_s(const struct calib *c, const char *op, int64_t tokens,
                    int64_t width, bool *extrap);
bool calib_has_elem(const struct calib *c, const char *op);
/* The fastest HBM read membw.csv measured, as a fraction of the datasheet
 * bandwidth; 0 without membw.csv. */
double calib_read_peak(const struct calib *c);
/* A collective of `bytes` (nccl-tests convention) over `ranks` GPUs, from
 * nccl_<name>.csv (name: allreduce, allgather, reducescatter, alltoall);
 * a negative value when no table holds that collective and rank count. */
double calib_comm_s(const struct calib *c, const char *name, int32_t ranks,
                    double bytes, bool *extrap);

/* Loads dir's nccl_*.csv into c when c has no collective table of its
 * own (a device without its own NCCL measurements and the same peer link
 * as dir's device); nothing when it has one. */
int calib_borrow_comm(struct calib *c, const char *dir, struct llm_diag *d);

/* what: a row of launch.csv (graph_replay_empty, graph_per_node, ...);
 * 0 when absent. */
double calib_launch_s(const struct calib *c, const char *what);

/* eager.csv (optional; hw/calib/fit_eager.py): the host (CPU) costs of a
 * serving engine that runs its forward eagerly, not as a graph replay --
 * dispatch_forward_<class>, dispatch_layer_<class> (class: decode, prefill,
 * mixed), prep_base, prep_per_seq, prep_per_token.  calib_eager_s is -1
 * for a row the file lacks. */
bool calib_has_eager(const struct calib *c);
double calib_eager_s(const struct calib *c, const char *what);

/* attn_decode_sched.csv (optional; hw/calib/fit_decode_sched.py): the
 * constants of the decode-attention scheduling model (key_alone_us,
 * key_bw_us, cta_us, launch_us, combine_us; docs/cost-model.md), in
 * seconds; -1 for a row the file lacks or when there is no file. */
double calib_decode_sched_s(const struct calib *c, const char *what);

#endif
