/* hw/woffload.c: weight offloading, flash-aware (hw/woffload.h). */
#include "hw/woffload.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/jcfg.h"

static int parse_knobs(const cJSON *obj, const char *path,
                       struct weight_offload *o, struct llm_diag *d)
{
    int64_t w = 0, q = 32;
    int rc = jcfg_num(obj, path, "resident_fraction", false, 0, 1,
                      &o->resident, d);

    if (!rc) rc = jcfg_num(obj, path, "ffn_sparsity", false, 1e-6, 1,
                           &o->sparsity, d);
    if (!rc) rc = jcfg_int(obj, path, "window", false, 0, 1 << 20, &w, d);
    if (!rc) rc = jcfg_bool(obj, path, "bundle", false, &o->bundle, d);
    if (!rc) rc = jcfg_int(obj, path, "queue_depth", false, 1, 65536, &q,
                           d);
    o->window = (int32_t)w;
    o->queue_depth = (int32_t)q;
    return rc;
}

int woffload_parse(const cJSON *obj, const char *path, const char *root,
                   struct weight_offload *o, struct llm_diag *d)
{
    static const char *const keys[] = { "link", "resident_fraction",
        "ffn_sparsity", "window", "bundle", "queue_depth", NULL };
    const char *link = "nvme-gen4-ssd";
    char kp[256];
    int rc;

    memset(o, 0, sizeof(*o));
    if (obj == NULL)
        return LLM_OK;
    o->sparsity = 1;
    rc = cJSON_IsObject(obj) ? LLM_OK
         : diag_set(d, LLM_EINVAL, "%s: expected an object", path);
    if (!rc) rc = jcfg_known(obj, path, keys, d);
    if (!rc) rc = jcfg_name(obj, path, "link", false, "a catalog id", &link,
                           d);
    if (!rc) rc = parse_knobs(obj, path, o, d);
    if (rc)
        return rc;
    snprintf(kp, sizeof(kp), "%s.link", path);
    if (link_find(root, link, &o->link, d))
        return diag_prefix(d, kp);
    if (o->link.bw_bytes_s <= 0)
        return diag_set(d, LLM_EINVAL, "%s: %s has no bandwidth", kp,
                        o->link.id);
    o->on = true;
    return LLM_OK;
}

double woffload_read_bw(const struct link *ln, int32_t queue_depth,
                        double read_bytes)
{
    double b = ln->bw_bytes_s;
    double per = ln->latency_s + read_bytes / b;
    double bw = per > 0 ? queue_depth * read_bytes / per : b;

    return bw < b ? bw : b;
}

void woffload_split(const struct weight_offload *o,
                    const struct mem_weights *w, struct woffload_bytes *out)
{
    double ffn = w->mlp, dense = memplan_weights_total(w) - ffn;
    double keep = o->resident * (dense + ffn);

    /* Non-FFN weights are kept first: they are read whole each token. */
    out->dense = keep >= dense ? 0 : dense - keep;
    keep = keep >= dense ? keep - dense : 0;
    out->ffn = keep >= ffn ? 0 : ffn - keep;
}

/* Share of FFN neurons a token finds cached by the window. */
static double miss_share(const struct weight_offload *o)
{
    return pow(1 - o->sparsity, o->window);
}

double woffload_cache_bytes(const struct weight_offload *o,
                            const struct woffload_bytes *nr)
{
    return o->window > 0 ? (1 - miss_share(o)) * nr->ffn : 0;
}

double woffload_iter_s(const struct weight_offload *o,
                       const struct woffload_bytes *nr, int32_t layers,
                       int32_t hidden, const struct shard *s,
                       int64_t tokens)
{
    double active = 1 - pow(1 - o->sparsity, (double)tokens);
    double ffn = nr->ffn * active * miss_share(o);
    double chunk = hidden * ops_weight_elem_bytes(s) * (o->bundle ? 2 : 1);
    double t = nr->dense / o->link.bw_bytes_s;

    if (nr->dense <= 0 && ffn <= 0)
        return 0;
    /* Dense FFN reads are whole matrices: sequential, full bandwidth. */
    t += ffn / (o->sparsity >= 1 ? o->link.bw_bytes_s
                : woffload_read_bw(&o->link, o->queue_depth, chunk));
    return t + layers * o->link.latency_s;
}
