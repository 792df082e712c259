/* hw/device.h: the device and link catalog.
 *
 * One JSON file per device under hw/catalog/devices/<id>.json and per link
 * under hw/catalog/links/<id>.json; every figure carries its source in the
 * file's "sources" object (docs/hardware.md lists the keys).  Loaded into
 * plain structs (no pointers), SI units: bytes, bytes/s, FLOP/s, seconds.
 * Errors name the file and the key. */
#ifndef LLM_DEVICE_H
#define LLM_DEVICE_H

#include <stdbool.h>
#include <stdint.h>

#include "base/dtype.h"
#include "base/diag.h"

struct link {
    char id[64];
    char kind[16];             /* pcie | nvlink | network */
    double bw_bytes_s;         /* per direction */
    double latency_s;
};

/* Power per device state (issue 11): "power_w" {"idle", "prefill",
 * "decode"} in the catalog.  0 where the catalog gives none; hw/energy.h
 * then falls back to idle_w and tdp_w. */
struct device_power {
    double idle_w, prefill_w, decode_w;
};

/* Where an operator class runs on a device priced by hw/accel.h. */
enum accel_site {
    ACCEL_SITE_DEVICE,         /* the accelerator itself */
    ACCEL_SITE_HOST,           /* the host CPU (mobile NPU's float ops) */
    ACCEL_SITE_STORAGE         /* in-storage engine (computational SSD) */
};

/* The optional "accel" object of a device without calibration tables
 * (NPU, FPGA, CSD; issue 11): the data formats its design stores and the
 * efficiencies its paper reports.  hw/accel.h prices with it and
 * docs/devices.md lists every key.  present is false and everything zero
 * when the catalog entry has no "accel" object. */
struct device_accel {
    bool present;
    enum dtype matmul;         /* matrix engine input type ("matmul_dtype") */
    double mem_eff;            /* achieved / peak off-chip bandwidth */
    double compute_eff;        /* achieved / peak matrix throughput */
    double weight_bits;        /* stored bits per linear weight, sparsity and
                                * metadata included; 0: the shard's */
    double lm_head_bits;       /* 0: weight_bits */
    double kv_bytes;           /* bytes per stored KV element; 0: shard's */
    double act_bytes;          /* bytes per activation element off chip */
    double density;            /* fraction of MACs executed (sparse); 1 */
    bool fuse_elementwise;     /* norms, RoPE, activations hidden in linears */
    bool serial_weight_load;   /* weights load, then compute (no overlap) */
    int32_t lut_group;         /* table-lookup matmul: activations per index */
    int32_t lut_tables;        /* tables looked up per cycle per output */
    double lut_lanes;          /* outputs computed per cycle (an average
                                  for a CPU's SIMD lookups) */
    int32_t lut_planes;        /* lookups per group per output (1) */
    double lut_build;          /* activations into the builder a cycle (1) */
    bool lut_overlap;          /* builder alongside the lookups */
    int32_t lut_entries;       /* entries per table (3^group) */
    bool lut_bit_serial;       /* planes = the weights' bits (T-MAC,
                                  LUT Tensor Core) */
    enum accel_site attention, elementwise, lm_head;
    double host_flops;         /* host CPU FLOP/s for host-site operators */
    double host_bw_bytes_s;    /* host memory bandwidth for them */
    bool overlap_host;         /* host work runs alongside the device's */
    double storage_eff;        /* achieved / internal flash bandwidth (CSD) */
    char companion[64];        /* device whose GPU runs the linears; "" */
    struct link kv_link;       /* link the KV streams over each decode
                                * step (host offloading); id "": none */
    double fixed_s;            /* fixed time per iteration */
};

/* Published efficiencies of a GPU without tables ("published_efficiency"
 * in the catalog, each with its source): achieved / peak of a large bf16
 * GEMM, of FlashAttention's forward, and of a streaming read of HBM.  0:
 * none published (the donor's utilization carries unchanged). */
struct device_eff {
    double gemm, attention, memory;
};

struct device {
    char id[64];
    char name[128];
    char kind[16];             /* gpu | npu | fpga | csd */
    double mem_bytes;
    double mem_bw_bytes_s;
    double peak_flops[DT_COUNT];  /* dense; 0 where the device lacks it */
    double l2_bytes;
    int32_t sm_count;
    double clock_mhz;
    double tdp_w, idle_w;
    double price_per_hour;
    char calib_dir[256];       /* relative to the root; "" when none */
    struct link host_link;     /* to host memory */
    struct link peer_link;     /* to the other GPUs of a node */
    /* added with issue 11; zero when the catalog entry omits them */
    int32_t compute_units;     /* DSP slices, AI cores, NPU cores */
    double onchip_bytes;       /* on-chip SRAM (BRAM + URAM, VTCM, L2) */
    struct device_power power;
    struct device_accel accel;
    /* added with issue 17; empty / zero when the entry omits them */
    char arch[32];             /* "arch": compute architecture (hopper) */
    char donor[64];            /* "calibration_donor": forced donor id */
    char comm_donor[64];       /* "comm_donor": the device whose measured
                                * collectives (nccl_*.csv) price this one's
                                * where it has none: same peer link */
    struct device_eff published_eff;
};

/* id: a catalog id (jcfg_name_ok); anything else, a path above all, is
 * LLM_EINVAL, so a lookup never leaves hw/catalog/ (issue 23). */
int device_find(const char *root, const char *id, struct device *dev,
                struct llm_diag *d);
int link_find(const char *root, const char *id, struct link *l,
              struct llm_diag *d);

/* The device's 16-bit tensor peak, FLOP/s, which the GPU cost models
 * price 16-bit math at: bf16's, or fp16's on a device without bf16
 * (Volta: v100-sxm2-32gb), where engines serve the model in fp16. */
double device_peak16_flops(const struct device *dev);

/* The device whose calibration tables price dev, a GPU without its own
 * (docs/cost-model.md, "GPUs without tables"): the entry's
 * "calibration_donor" when it names one; else, among the catalog's GPUs
 * with tables, one of the same "arch", else the one nearest in
 * compute/bandwidth ratio (device_peak16_flops over memory bandwidth,
 * the ridge point; by |log| distance, ties to the smaller id).
 * LLM_ENOTFOUND when dev is not a GPU or no GPU has tables. */
int device_calib_donor(const char *root, const struct device *dev,
                       struct device *donor, struct llm_diag *d);

#endif
