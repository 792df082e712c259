/* hw/accel.h: the cost model of devices without calibration tables
 * (issue 11): mobile and datacenter NPUs, FPGAs, computational SSDs.
 *
 * It prices the operator list of models/ops.h, operator by operator,
 * with the device's own data formats and the efficiencies its paper
 * reports, all read from the catalog entry's "accel" object (hw/device.h,
 * struct device_accel; every key in docs/devices.md):
 *
 *   linear layer   max(weight bytes at accel.weight_bits + activation
 *                  bytes / (memory_bw x mem_eff),  compute time)
 *                  Activations that fit the on-chip SRAM (onchip_bytes)
 *                  cost no off-chip traffic (FlightLLM's always-on-chip
 *                  decode).  Compute time is FLOPs x density / (peak of
 *                  matmul_dtype x compute_eff), or for a table-lookup
 *                  engine (accel.lut) m x ceil(k / (group x tables)) x
 *                  (group x tables + ceil(n / lanes)) cycles at
 *                  boost_clock_mhz: the table is built one activation per
 *                  cycle, then lanes outputs look up tables entries per
 *                  cycle (TeLLMe's TLMM loop nest).
 *   attention      on the device: max(FLOPs / (peak x compute_eff), KV
 *                  bytes at accel.kv_bytes / (bw x mem_eff)); on the host
 *                  CPU: the same with host_gflops and host_bw_gbs; in
 *                  storage: KV bytes / (memory_bw x storage_eff) against
 *                  FLOPs / the device's peak, plus the query, output and
 *                  new K/V crossing the host link once per layer.  With
 *                  kv_link the KV of every decode streams over that link
 *                  (host offloading) while the device computes.
 *   element-wise   free when fuse_elementwise (streamed through the linear
 *                  engines); else bytes / bandwidth on its site.  Quantise
 *                  and dequantise kernels are free: the device runs its
 *                  stored format natively.
 *   collectives    hw/cost.h's cost_roofline_s.
 *
 * A companion device (accel.companion, e.g. the GPU next to a CSD) runs
 * the linear layers, element-wise work and LM head by plain roofline; the
 * accelerator keeps attention.  With overlap_host the host CPU's work
 * runs alongside the device's (mllm-NPU's out-of-order CPU/NPU
 * scheduling): an iteration costs max(device dense work, host work) plus
 * the device's attention.  Because hw/cost.c prices the dense part and
 * the attention part in two calls (and caches the dense one), the model
 * reports only device-site dense work in the dense call and the host's
 * excess in the attention call, rebuilding the dense operator list there.
 *
 * What it leaves out: on-chip buffer capacity limits other than the
 * activation rule, instruction and pipeline bubbles between layers
 * (folded into the paper efficiencies), DVFS and thermal throttling,
 * the host runtime's per-token software overhead unless fixed_us gives
 * it. */
#ifndef LLM_ACCEL_H
#define LLM_ACCEL_H

#include "hw/cost.h"

extern const struct cost_ops cost_accel;

#endif
