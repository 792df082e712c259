/* hw/device.h: the device and link catalog.
 *
 * One JSON file per device under hw/catalog/devices/<id>.json and per link
 * under hw/catalog/links/<id>.json; every figure carries its source in the
 * file's "sources" object (docs/hardware.md lists the keys).  Loaded into
 * plain structs (no pointers), SI units: bytes, bytes/s, FLOP/s, seconds.
 * Errors name the file and the key. */
#ifndef LLM_DEVICE_H
#define LLM_DEVICE_H

#include <stdint.h>

#include "hw/dtype.h"
#include "sim/diag.h"

struct link {
    char id[64];
    char kind[16];             /* pcie | nvlink | network */
    double bw_bytes_s;         /* per direction */
    double latency_s;
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
};

int device_find(const char *root, const char *id, struct device *dev,
                struct llm_diag *d);
int link_find(const char *root, const char *id, struct link *l,
              struct llm_diag *d);

#endif
