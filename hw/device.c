#include "hw/device.h"

#include <stdio.h>
#include <string.h>

#include "sim/jcfg.h"

static int load_named(const char *root, const char *sub, const char *id,
                      char *path, int len, cJSON **out, struct llm_diag *d)
{
    FILE *f;

    snprintf(path, (size_t)len, "%s/hw/catalog/%s/%s.json", root, sub, id);
    f = fopen(path, "r");
    if (f == NULL)
        return diag_set(d, LLM_ENOTFOUND, "%s \"%s\": no catalog entry %s",
                        sub[0] == 'd' ? "device" : "link", id, path);
    fclose(f);
    d->file = path;
    return jcfg_load(path, out, d);
}

static const char *const link_keys[] = { "id", "name", "kind",
    "bandwidth_gbs", "latency_us", "source", NULL };

static int parse_link(const cJSON *o, struct link *l, struct llm_diag *d)
{
    const char *id = NULL, *kind = NULL, *src = NULL;
    double bw = 0, lat = 0;
    int rc = jcfg_known(o, "", link_keys, d);

    if (!rc) rc = jcfg_str(o, "", "id", true, &id, d);
    if (!rc) rc = jcfg_str(o, "", "kind", true, &kind, d);
    if (!rc) rc = jcfg_num(o, "", "bandwidth_gbs", true, 1e-6, 1e9, &bw, d);
    if (!rc) rc = jcfg_num(o, "", "latency_us", true, 0, 1e9, &lat, d);
    if (!rc) rc = jcfg_str(o, "", "source", true, &src, d);
    if (rc)
        return rc;
    snprintf(l->id, sizeof(l->id), "%s", id);
    snprintf(l->kind, sizeof(l->kind), "%s", kind);
    l->bw_bytes_s = bw * 1e9;
    l->latency_s = lat * 1e-6;
    return LLM_OK;
}

int link_find(const char *root, const char *id, struct link *l,
              struct llm_diag *d)
{
    char path[1024];
    const char *saved = d->file;
    cJSON *o = NULL;
    int rc = load_named(root, "links", id, path, sizeof(path), &o, d);

    if (rc == LLM_OK)
        rc = parse_link(o, l, d);
    cJSON_Delete(o);
    if (rc == LLM_OK)
        d->file = saved;
    return rc;
}

static const char *const device_keys[] = { "id", "name", "kind",
    "memory_bytes", "memory_bw_gbs", "peak_tflops", "l2_bytes", "sm_count",
    "boost_clock_mhz", "host_link", "peer_link", "tdp_w", "idle_w",
    "price_per_hour_usd", "calibration", "sources", NULL };

static int parse_peaks(const cJSON *o, struct device *dev, struct llm_diag *d)
{
    const cJSON *pk = NULL, *it;
    enum dtype t;
    int rc = jcfg_obj(o, "", "peak_tflops", true, &pk, d);

    if (rc)
        return rc;
    cJSON_ArrayForEach(it, pk) {
        if (!dtype_parse(it->string, &t))
            return diag_set(d, LLM_EINVAL, "peak_tflops.%s: unknown data "
                            "type (known: fp32, tf32, bf16, fp16, fp8, int8, "
                            "int4, int2)", it->string);
        rc = jcfg_num(pk, "peak_tflops", it->string, true, 1e-9, 1e9,
                      &dev->peak_flops[t], d);
        if (rc)
            return rc;
        dev->peak_flops[t] *= 1e12;
    }
    if (dev->peak_flops[DT_BF16] <= 0 && dev->peak_flops[DT_FP16] <= 0 &&
        dev->peak_flops[DT_INT8] <= 0)
        return diag_set(d, LLM_EINVAL, "peak_tflops: needs bf16, fp16 or "
                        "int8");
    return LLM_OK;
}

static int parse_device(const char *root, const cJSON *o, struct device *dev,
                        struct llm_diag *d)
{
    const char *id = NULL, *name = NULL, *kind = NULL, *hl = NULL, *pl = NULL;
    const char *cal = NULL;
    double bw = 0, sms = 0;
    const cJSON *calv;
    int rc = jcfg_known(o, "", device_keys, d);

    memset(dev, 0, sizeof(*dev));
    if (!rc) rc = jcfg_str(o, "", "id", true, &id, d);
    if (!rc) rc = jcfg_str(o, "", "name", true, &name, d);
    if (!rc) rc = jcfg_str(o, "", "kind", true, &kind, d);
    if (!rc) rc = jcfg_num(o, "", "memory_bytes", true, 1, 1e18,
                           &dev->mem_bytes, d);
    if (!rc) rc = jcfg_num(o, "", "memory_bw_gbs", true, 1e-6, 1e9, &bw, d);
    if (!rc) rc = parse_peaks(o, dev, d);
    if (!rc) rc = jcfg_num(o, "", "l2_bytes", false, 0, 1e12,
                           &dev->l2_bytes, d);
    if (!rc) rc = jcfg_num(o, "", "sm_count", false, 0, 1e6, &sms, d);
    if (!rc) rc = jcfg_num(o, "", "boost_clock_mhz", false, 0, 1e6,
                           &dev->clock_mhz, d);
    if (!rc) rc = jcfg_num(o, "", "tdp_w", true, 0, 1e6, &dev->tdp_w, d);
    if (!rc) rc = jcfg_num(o, "", "idle_w", false, 0, 1e6, &dev->idle_w, d);
    if (!rc) rc = jcfg_num(o, "", "price_per_hour_usd", false, 0, 1e6,
                           &dev->price_per_hour, d);
    if (!rc) rc = jcfg_str(o, "", "host_link", true, &hl, d);
    if (!rc) rc = jcfg_str(o, "", "peer_link", false, &pl, d);
    calv = cJSON_GetObjectItemCaseSensitive(o, "calibration");
    if (!rc && calv != NULL && !cJSON_IsNull(calv))
        rc = jcfg_str(o, "", "calibration", true, &cal, d);
    if (rc)
        return rc;
    snprintf(dev->id, sizeof(dev->id), "%s", id);
    snprintf(dev->name, sizeof(dev->name), "%s", name);
    snprintf(dev->kind, sizeof(dev->kind), "%s", kind);
    snprintf(dev->calib_dir, sizeof(dev->calib_dir), "%s", cal ? cal : "");
    dev->mem_bw_bytes_s = bw * 1e9;
    dev->sm_count = (int32_t)sms;
    rc = link_find(root, hl, &dev->host_link, d);
    if (!rc && pl != NULL)
        rc = link_find(root, pl, &dev->peer_link, d);
    return rc;
}

int device_find(const char *root, const char *id, struct device *dev,
                struct llm_diag *d)
{
    char path[1024];
    const char *saved = d->file;
    cJSON *o = NULL;
    int rc = load_named(root, "devices", id, path, sizeof(path), &o, d);

    if (rc == LLM_OK)
        rc = parse_device(root, o, dev, d);
    cJSON_Delete(o);
    if (rc == LLM_OK)
        d->file = saved;
    return rc;
}
