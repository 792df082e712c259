#include "hw/device.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/jcfg.h"

static int load_named(const char *root, const char *sub, const char *id,
                      char *path, int len, cJSON **out, struct llm_diag *d)
{
    FILE *f;
    char e[100];

    if (!jcfg_name_ok(id))
        return diag_set(d, LLM_EINVAL, "%s \"%s\": expected a catalog id "
                        "(%s)", sub[0] == 'd' ? "device" : "link",
                        diag_escape(id, e, sizeof(e)), JCFG_NAME_RULE);
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

/* A link entry into out (struct link *); root unused (find_entry). */
static int parse_link(const char *root, const cJSON *o, void *out,
                      struct llm_diag *d)
{
    struct link *l = out;
    const char *id = NULL, *kind = NULL, *src = NULL;
    double bw = 0, lat = 0;
    int rc = jcfg_known(o, "", link_keys, d);

    (void)root;
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

/* A parse error names the catalog file, but path lives on the finder's
 * stack: fold it into the message so the diag outlives the call (printed
 * as before: "PATH: message"). */
static void own_path(struct llm_diag *d, const char *path, const char *saved)
{
    char msg[sizeof(d->msg)];

    if (d->file != path ||
        snprintf(msg, sizeof(msg), "%s: %s", path, d->msg) < 0)
        return;
    memcpy(d->msg, msg, sizeof(d->msg));
    d->file = saved;
}

/* Catalog entry id of folder dir (load_named), parsed by parse into
 * out; an error keeps the entry's path in its message (own_path). */
static int find_entry(const char *root, const char *dir, const char *id,
                      int (*parse)(const char *root, const cJSON *o,
                                   void *out, struct llm_diag *d),
                      void *out, struct llm_diag *d)
{
    char path[1024];
    const char *saved = d->file;
    cJSON *o = NULL;
    int rc = load_named(root, dir, id, path, sizeof(path), &o, d);

    if (rc == LLM_OK)
        rc = parse(root, o, out, d);
    cJSON_Delete(o);
    if (rc == LLM_OK)
        d->file = saved;
    else
        own_path(d, path, saved);
    return rc;
}

int link_find(const char *root, const char *id, struct link *l,
              struct llm_diag *d)
{
    return find_entry(root, "links", id, parse_link, l, d);
}

static const char *const device_keys[] = { "id", "name", "kind",
    "memory_bytes", "memory_bw_gbs", "peak_tflops", "l2_bytes", "sm_count",
    "boost_clock_mhz", "host_link", "peer_link", "tdp_w", "idle_w",
    "price_per_hour_usd", "calibration", "sources",
    /* issue 11, all optional */
    "compute_units", "onchip_bytes", "power_w", "accel",
    /* issue 17, optional */
    "arch", "calibration_donor", "published_efficiency",
    /* engine profiles (issue 16), optional */
    "comm_donor", NULL };

/* "published_efficiency": {"gemm", "attention", "memory"}, each 0-1. */
static int parse_eff(const cJSON *o, struct device_eff *e, struct llm_diag *d)
{
    static const char *const keys[] = { "gemm", "attention", "memory", NULL };
    static const char *const p = "published_efficiency";
    const cJSON *pe = NULL;
    int rc = jcfg_obj(o, "", p, false, &pe, d);

    if (rc || pe == NULL)
        return rc;
    rc = jcfg_known(pe, p, keys, d);
    if (!rc) rc = jcfg_num(pe, p, "gemm", false, 0.01, 1, &e->gemm, d);
    if (!rc) rc = jcfg_num(pe, p, "attention", false, 0.01, 1,
                           &e->attention, d);
    if (!rc) rc = jcfg_num(pe, p, "memory", false, 0.01, 1, &e->memory, d);
    return rc;
}

/* The issue-17 keys: how a GPU without tables borrows a donor's. */
static int parse_borrow(const cJSON *o, struct device *dev,
                        struct llm_diag *d)
{
    const char *arch = NULL, *donor = NULL;
    int rc = jcfg_str(o, "", "arch", false, &arch, d);

    const char *comm = NULL;

    if (!rc) rc = jcfg_str(o, "", "calibration_donor", false, &donor, d);
    if (!rc) rc = jcfg_str(o, "", "comm_donor", false, &comm, d);
    if (!rc && comm != NULL && !jcfg_name_ok(comm))
        rc = diag_set(d, LLM_EINVAL, "comm_donor: expected a device id");
    if (!rc) rc = parse_eff(o, &dev->published_eff, d);
    if (rc)
        return rc;
    snprintf(dev->comm_donor, sizeof(dev->comm_donor), "%s",
             comm ? comm : "");
    snprintf(dev->arch, sizeof(dev->arch), "%s", arch ? arch : "");
    snprintf(dev->donor, sizeof(dev->donor), "%s", donor ? donor : "");
    return LLM_OK;
}

static int parse_power(const cJSON *o, struct device_power *p,
                       struct llm_diag *d)
{
    static const char *const keys[] = { "idle", "prefill", "decode", NULL };
    const cJSON *pw = NULL;
    int rc = jcfg_obj(o, "", "power_w", false, &pw, d);

    if (rc || pw == NULL)
        return rc;
    rc = jcfg_known(pw, "power_w", keys, d);
    if (!rc) rc = jcfg_num(pw, "power_w", "idle", true, 0, 1e6, &p->idle_w, d);
    if (!rc) rc = jcfg_num(pw, "power_w", "prefill", true, 1e-3, 1e6,
                           &p->prefill_w, d);
    if (!rc) rc = jcfg_num(pw, "power_w", "decode", true, 1e-3, 1e6,
                           &p->decode_w, d);
    if (!rc && (p->idle_w > p->prefill_w || p->idle_w > p->decode_w))
        rc = diag_set(d, LLM_EINVAL, "power_w.idle: %g W exceeds a busy "
                      "state's power", p->idle_w);
    return rc;
}

static int parse_site(const cJSON *a, const char *key, enum accel_site *out,
                      struct llm_diag *d)
{
    static const char *const names[] = { "device", "host", "storage" };
    const char *v = NULL;
    int rc = jcfg_str(a, "accel", key, false, &v, d);
    int i;

    if (rc || v == NULL)
        return rc;
    for (i = 0; i < 3; i++)
        if (strcmp(v, names[i]) == 0) {
            *out = (enum accel_site)i;
            return LLM_OK;
        }
    return diag_set(d, LLM_EINVAL, "accel.%s: expected \"device\", \"host\" "
                    "or \"storage\", got \"%s\"", key, v);
}

static int parse_lut(const cJSON *a, struct device_accel *x,
                     struct llm_diag *d)
{
    static const char *const keys[] = { "group", "tables", "lanes",
        "planes", "build_per_cycle", "overlap", "entries", "bit_serial",
        NULL };
    const cJSON *l = NULL;
    int64_t g = 0, t = 0, p = 1, e = 0;
    double b = 1, n = 0;
    int rc = jcfg_obj(a, "accel", "lut", false, &l, d);

    if (rc || l == NULL)
        return rc;
    rc = jcfg_known(l, "accel.lut", keys, d);
    if (!rc) rc = jcfg_int(l, "accel.lut", "group", true, 1, 16, &g, d);
    if (!rc) rc = jcfg_int(l, "accel.lut", "tables", true, 1, 1 << 20, &t, d);
    if (!rc) rc = jcfg_num(l, "accel.lut", "lanes", true, 1e-3, 1 << 20, &n,
                           d);
    if (!rc) rc = jcfg_int(l, "accel.lut", "planes", false, 1, 8, &p, d);
    if (!rc) rc = jcfg_num(l, "accel.lut", "build_per_cycle", false, 1e-3,
                           1e6, &b, d);
    if (!rc) rc = jcfg_bool(l, "accel.lut", "overlap", false,
                            &x->lut_overlap, d);
    if (!rc) rc = jcfg_int(l, "accel.lut", "entries", false, 1, 1 << 24, &e,
                           d);
    if (!rc) rc = jcfg_bool(l, "accel.lut", "bit_serial", false,
                            &x->lut_bit_serial, d);
    x->lut_group = (int32_t)g;
    x->lut_tables = (int32_t)t;
    x->lut_lanes = n;
    x->lut_planes = (int32_t)p;
    x->lut_build = b;
    /* Default: a direct index over ternary weights, TeLLMe's 3^g. */
    x->lut_entries = (int32_t)e;
    for (p = 0; e == 0 && p < g; p++)
        x->lut_entries = p == 0 ? 3 : 3 * x->lut_entries;
    return rc;
}

static int parse_accel_nums(const cJSON *a, struct device_accel *x,
                            struct llm_diag *d)
{
    double hf = 0, hb = 0, fx = 0;
    int rc = jcfg_num(a, "accel", "mem_eff", false, 1e-3, 1, &x->mem_eff, d);

    if (!rc) rc = jcfg_num(a, "accel", "compute_eff", false, 1e-4, 1,
                           &x->compute_eff, d);
    if (!rc) rc = jcfg_num(a, "accel", "weight_bits", false, 0.1, 32,
                           &x->weight_bits, d);
    if (!rc) rc = jcfg_num(a, "accel", "lm_head_bits", false, 0.1, 32,
                           &x->lm_head_bits, d);
    if (!rc) rc = jcfg_num(a, "accel", "kv_bytes", false, 0.01, 4,
                           &x->kv_bytes, d);
    if (!rc) rc = jcfg_num(a, "accel", "act_bytes", false, 0.01, 4,
                           &x->act_bytes, d);
    if (!rc) rc = jcfg_num(a, "accel", "density", false, 1e-3, 1,
                           &x->density, d);
    if (!rc) rc = jcfg_num(a, "accel", "storage_eff", false, 1e-3, 1,
                           &x->storage_eff, d);
    if (!rc) rc = jcfg_num(a, "accel", "host_gflops", false, 1e-3, 1e9,
                           &hf, d);
    if (!rc) rc = jcfg_num(a, "accel", "host_bw_gbs", false, 1e-3, 1e9,
                           &hb, d);
    if (!rc) rc = jcfg_num(a, "accel", "fixed_us", false, 0, 1e9, &fx, d);
    x->host_flops = hf * 1e9;
    x->host_bw_bytes_s = hb * 1e9;
    x->fixed_s = fx * 1e-6;
    return rc;
}

static int parse_accel_sites(const cJSON *a, struct device_accel *x,
                             struct llm_diag *d)
{
    int rc = parse_site(a, "attention", &x->attention, d);

    if (!rc) rc = parse_site(a, "elementwise", &x->elementwise, d);
    if (!rc) rc = parse_site(a, "lm_head", &x->lm_head, d);
    if (!rc) rc = jcfg_bool(a, "accel", "fuse_elementwise", false,
                            &x->fuse_elementwise, d);
    if (!rc) rc = jcfg_bool(a, "accel", "overlap_host", false,
                            &x->overlap_host, d);
    if (!rc) rc = jcfg_bool(a, "accel", "serial_weight_load", false,
                            &x->serial_weight_load, d);
    if (rc)
        return rc;
    if ((x->attention == ACCEL_SITE_HOST || x->elementwise == ACCEL_SITE_HOST ||
         x->lm_head == ACCEL_SITE_HOST) &&
        (x->host_flops <= 0 || x->host_bw_bytes_s <= 0))
        return diag_set(d, LLM_EINVAL, "accel: host_gflops and host_bw_gbs "
                        "are required when an operator runs on the host");
    if (x->elementwise == ACCEL_SITE_STORAGE || x->lm_head == ACCEL_SITE_STORAGE)
        return diag_set(d, LLM_EINVAL, "accel: only \"attention\" can run in "
                        "storage");
    return LLM_OK;
}

static const char *const accel_keys[] = { "models", "omits",
    "matmul_dtype", "mem_eff", "compute_eff", "weight_bits", "lm_head_bits",
    "kv_bytes", "act_bytes", "density", "fuse_elementwise",
    "serial_weight_load", "lut",
    "attention", "elementwise", "lm_head", "host_gflops", "host_bw_gbs",
    "overlap_host", "storage_eff", "companion", "kv_link", "fixed_us", NULL };

/* The optional "accel" object (hw/device.h, struct device_accel). */
static int parse_accel(const char *root, const cJSON *o,
                       struct device_accel *x, struct llm_diag *d)
{
    const cJSON *a = NULL;
    const char *s = NULL, *comp = NULL, *kl = NULL;
    int rc = jcfg_obj(o, "", "accel", false, &a, d);

    if (rc || a == NULL)
        return rc;
    *x = (struct device_accel){ .present = true, .mem_eff = 1,
                                .compute_eff = 1, .act_bytes = 2,
                                .density = 1, .storage_eff = 1 };
    rc = jcfg_known(a, "accel", accel_keys, d);
    if (!rc) rc = jcfg_str(a, "accel", "models", true, &s, d);
    if (!rc) rc = jcfg_str(a, "accel", "omits", true, &s, d);
    if (!rc) rc = jcfg_str(a, "accel", "matmul_dtype", true, &s, d);
    if (!rc && !dtype_parse(s, &x->matmul))
        rc = diag_set(d, LLM_EINVAL, "accel.matmul_dtype: unknown data type "
                      "\"%s\"", s);
    if (!rc) rc = parse_accel_nums(a, x, d);
    if (!rc) rc = parse_lut(a, x, d);
    if (!rc) rc = parse_accel_sites(a, x, d);
    if (!rc) rc = jcfg_str(a, "accel", "companion", false, &comp, d);
    if (!rc) rc = jcfg_str(a, "accel", "kv_link", false, &kl, d);
    if (rc)
        return rc;
    if (comp != NULL)
        snprintf(x->companion, sizeof(x->companion), "%s", comp);
    return kl != NULL ? link_find(root, kl, &x->kv_link, d) : LLM_OK;
}

/* The issue-11 keys: all optional, so existing entries load unchanged. */
static int parse_extras(const char *root, const cJSON *o, struct device *dev,
                        struct llm_diag *d)
{
    double cu = 0;
    int rc = jcfg_num(o, "", "compute_units", false, 0, 1e9, &cu, d);

    if (!rc) rc = jcfg_num(o, "", "onchip_bytes", false, 0, 1e12,
                           &dev->onchip_bytes, d);
    if (!rc) rc = parse_power(o, &dev->power, d);
    if (!rc) rc = parse_accel(root, o, &dev->accel, d);
    if (!rc) rc = parse_borrow(o, dev, d);
    dev->compute_units = (int32_t)cu;
    if (!rc && dev->accel.present &&
        dev->peak_flops[dev->accel.matmul] <= 0)
        rc = diag_set(d, LLM_EINVAL, "accel.matmul_dtype: peak_tflops has no "
                      "\"%s\" entry", dtype_name(dev->accel.matmul));
    return rc;
}

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

/* A device entry into out (struct device *). */
static int parse_device(const char *root, const cJSON *o, void *out,
                        struct llm_diag *d)
{
    struct device *dev = out;
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
    return rc ? rc : parse_extras(root, o, dev, d);
}

int device_find(const char *root, const char *id, struct device *dev,
                struct llm_diag *d)
{
    return find_entry(root, "devices", id, parse_device, dev, d);
}

/* ------------------------------------------------ calibration donors */

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The catalog's device ids, sorted (so the choice never depends on the
 * directory's order); *n 0 when the folder cannot be read. */
static char **catalog_ids(const char *root, size_t *n)
{
    char path[1024], **ids = NULL, **g;
    size_t cap = 0;
    struct dirent *e;
    DIR *dir;

    *n = 0;
    snprintf(path, sizeof(path), "%s/hw/catalog/devices", root);
    if ((dir = opendir(path)) == NULL)
        return NULL;
    while ((e = readdir(dir)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len < 6 || strcmp(e->d_name + len - 5, ".json") != 0)
            continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            if ((g = realloc(ids, cap * sizeof(*ids))) == NULL)
                break;
            ids = g;
        }
        if ((ids[*n] = strndup(e->d_name, len - 5)) != NULL)
            (*n)++;
    }
    closedir(dir);
    if (ids != NULL)
        qsort(ids, *n, sizeof(*ids), cmp_names);
    return ids;
}

double device_peak16_flops(const struct device *dev)
{
    return dev->peak_flops[DT_BF16] > 0 ? dev->peak_flops[DT_BF16]
                                         : dev->peak_flops[DT_FP16];
}

static double ridge(const struct device *dev)
{
    return device_peak16_flops(dev) / dev->mem_bw_bytes_s;
}

/* How far candidate c is from dev as a donor: same arch first (0), else
 * 1 + the |log| ratio of their ridge points; INFINITY if c cannot lend. */
static double donor_distance(const struct device *dev,
                             const struct device *c)
{
    if (strcmp(c->kind, "gpu") != 0 || c->calib_dir[0] == '\0' ||
        strcmp(c->id, dev->id) == 0 || device_peak16_flops(c) <= 0)
        return INFINITY;
    if (dev->arch[0] != '\0' && strcmp(dev->arch, c->arch) == 0)
        return 0;
    return 1 + fabs(log(ridge(dev) / ridge(c)));
}

int device_calib_donor(const char *root, const struct device *dev,
                       struct device *donor, struct llm_diag *d)
{
    struct llm_diag quiet = { 0 };
    struct device c;
    double best = INFINITY, dist;
    size_t n, i;
    char **ids;

    if (strcmp(dev->kind, "gpu") != 0 || device_peak16_flops(dev) <= 0)
        return diag_set(d, LLM_ENOTFOUND, "device %s: not a GPU with a "
                        "16-bit peak; no calibration to borrow", dev->id);
    if (dev->donor[0] != '\0')
        return device_find(root, dev->donor, donor, d);
    ids = catalog_ids(root, &n);
    for (i = 0; i < n; i++) {
        if (best > 0 && device_find(root, ids[i], &c, &quiet) == LLM_OK &&
            (dist = donor_distance(dev, &c)) < best) {
            best = dist;
            *donor = c;
        }
        free(ids[i]);
    }
    free(ids);
    if (best == INFINITY)
        return diag_set(d, LLM_ENOTFOUND, "device %s: no GPU in the catalog "
                        "has calibration tables to borrow", dev->id);
    return LLM_OK;
}
