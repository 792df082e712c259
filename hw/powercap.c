/* hw/powercap.c: POLCA's row power controller and the frequency model
 * of capped iterations (hw/powercap.h says what is modelled). */
#include "hw/powercap.h"

#include <math.h>
#include <stdlib.h>

#include "hw/cost.h"
#include "base/jcfg.h"

struct powercap {
    struct powercap_cfg cfg;
    const struct model *m;
    const struct device *dev;
    struct shard shard;
    int32_t n, gpus, n_low;
    enum powercap_level level;
    double *e_done;            /* joules of server i up to last_end[i] */
    double *u_done;            /* the same had it run uncapped */
    int64_t *last_end;
    double *s_run;             /* clock of server i's current iteration */
    double e_row, u_row;       /* row joules at the last tick, and
                                  uncapped-equivalent joules */
    int64_t tick_ns, since_ns; /* last tick; current level since */
    struct op_list ops;
    /* what the summary reports */
    double peak_w, level_ns[PC_LEVELS];
    int64_t ticks, changes, brakes;
};

static int read_power_w(const cJSON *params, struct energy_power *pw,
                        struct llm_diag *d)
{
    static const char *const keys[] = { "idle", "prefill", "decode", NULL };
    const cJSON *o = NULL;
    int rc = jcfg_obj(params, "power", "power_w", false, &o, d);

    if (rc || o == NULL)
        return rc;
    rc = jcfg_known(o, "power.power_w", keys, d);
    if (!rc) rc = jcfg_num(o, "power.power_w", "idle", true, 0, 1e5,
                           &pw->idle_w, d);
    if (!rc) rc = jcfg_num(o, "power.power_w", "prefill", true, 0, 1e5,
                           &pw->prefill_w, d);
    if (!rc) rc = jcfg_num(o, "power.power_w", "decode", true, 0, 1e5,
                           &pw->decode_w, d);
    pw->source = "power.power_w";
    return rc;
}

static int read_clocks(const cJSON *p, struct powercap_cfg *c,
                       struct llm_diag *d)
{
    int rc = jcfg_num(p, "power", "t1", false, 0, 1, &c->t1, d);

    if (!rc) rc = jcfg_num(p, "power", "t2", false, 0, 1, &c->t2, d);
    if (!rc) rc = jcfg_num(p, "power", "hysteresis", false, 0, 1,
                           &c->hysteresis, d);
    if (!rc) rc = jcfg_num(p, "power", "f_low", false, 0.05, 1, &c->f_low, d);
    if (!rc) rc = jcfg_num(p, "power", "f_all", false, 0.05, 1, &c->f_all, d);
    if (!rc) rc = jcfg_num(p, "power", "f_brake", false, 0.05, 1,
                           &c->f_brake, d);
    if (!rc) rc = jcfg_num(p, "power", "low_priority_fraction", false, 0, 1,
                           &c->low_fraction, d);
    if (!rc) rc = jcfg_num(p, "power", "interval_s", false, 1e-6, 1e6,
                           &c->interval_s, d);
    if (!rc) rc = jcfg_num(p, "power", "power_exponent", false, 0, 8,
                           &c->exponent, d);
    if (!rc && c->t2 < c->t1)
        rc = diag_set(d, LLM_EINVAL, "power.t2: expected at least t1 (%g), "
                      "got %g", c->t1, c->t2);
    return rc;
}

/* The budget: budget_w, or budget_servers servers at the device's TDP. */
static int read_budget(const cJSON *p, const struct device *dev,
                       int32_t servers, int32_t gpus,
                       struct powercap_cfg *c, struct llm_diag *d)
{
    double bs = -1;
    int rc = jcfg_num(p, "power", "budget_w", false, 1, 1e12,
                      &c->budget_w, d);

    if (!rc) rc = jcfg_num(p, "power", "budget_servers", false, 0.01, 1e9,
                           &bs, d);
    if (rc)
        return rc;
    if (bs > 0 && c->budget_w > 0)
        return diag_set(d, LLM_EINVAL, "power.budget_servers: give either "
                        "budget_w or budget_servers, not both");
    if (bs > 0 && dev->tdp_w <= 0)
        return diag_set(d, LLM_EINVAL, "power.budget_servers: device \"%s\" "
                        "has no tdp_w; give budget_w", dev->id);
    if (bs > 0)
        c->budget_w = bs * gpus * dev->tdp_w;
    if (c->budget_w <= 0)           /* no oversubscription */
        c->budget_w = (double)servers * gpus * dev->tdp_w;
    if (c->budget_w > 0)
        return LLM_OK;
    return diag_set(d, LLM_EINVAL, "power.budget_w: missing (device \"%s\" "
                    "has no tdp_w to size the budget from)", dev->id);
}

static int read_cfg(const cJSON *p, const struct device *dev, int32_t servers,
                    int32_t gpus, struct powercap_cfg *c, struct llm_diag *d)
{
    static const char *const keys[] = { "budget_w", "budget_servers", "t1",
        "t2", "hysteresis", "f_low", "f_all", "f_brake",
        "low_priority_fraction", "interval_s", "power_exponent", "power_w",
        NULL };
    int rc;

    if (!cJSON_IsObject(p))
        return diag_set(d, LLM_EINVAL, "power: expected an object");
    rc = jcfg_known(p, "power", keys, d);
    if (!rc && energy_power_of(dev, &c->power, &(struct llm_diag){ 0 }) !=
               LLM_OK &&
        cJSON_GetObjectItemCaseSensitive(p, "power_w") == NULL)
        return diag_set(d, LLM_EINVAL, "power.power_w: missing (device "
                        "\"%s\" has no power figures)", dev->id);
    if (!rc) rc = read_power_w(p, &c->power, d);
    if (!rc) rc = read_clocks(p, c, d);
    if (!rc) rc = read_budget(p, dev, servers, gpus, c, d);
    return rc;
}

int powercap_create(const cJSON *params, const struct model *m,
                    const struct device *dev, const struct shard *shard,
                    int32_t servers, int32_t gpus, struct powercap **out,
                    struct llm_diag *d)
{
    struct powercap *p = calloc(1, sizeof(*p));
    int rc;

    *out = NULL;
    if (p == NULL)
        return diag_set(d, LLM_ENOMEM, "out of memory");
    /* Defaults: see docs/devices.md "Power oversubscription" for where
     * each comes from (POLCA's values where its text gives them,
     * assumptions otherwise). */
    p->cfg = (struct powercap_cfg){ .t1 = 0.85, .t2 = 0.95,
        .hysteresis = 0.05, .f_low = 0.75, .f_all = 0.75, .f_brake = 0.5,
        .low_fraction = 0.5, .interval_s = 1, .exponent = 1.55 };
    rc = read_cfg(params, dev, servers, gpus, &p->cfg, d);
    p->m = m;
    p->dev = dev;
    p->shard = *shard;
    p->n = servers;
    p->gpus = gpus > 0 ? gpus : 1;
    p->n_low = (int32_t)floor(p->cfg.low_fraction * servers + 0.5);
    p->e_done = calloc((size_t)servers, sizeof(*p->e_done));
    p->u_done = calloc((size_t)servers, sizeof(*p->u_done));
    p->last_end = calloc((size_t)servers, sizeof(*p->last_end));
    p->s_run = calloc((size_t)servers, sizeof(*p->s_run));
    if (rc == LLM_OK && (p->e_done == NULL || p->u_done == NULL ||
                         p->last_end == NULL || p->s_run == NULL))
        rc = diag_set(d, LLM_ENOMEM, "out of memory");
    if (rc != LLM_OK) {
        powercap_destroy(p);
        return rc;
    }
    for (int32_t i = 0; i < servers; i++)
        p->s_run[i] = 1;
    *out = p;
    return LLM_OK;
}

void powercap_destroy(struct powercap *p)
{
    if (p == NULL)
        return;
    ops_free(&p->ops);
    free(p->e_done);
    free(p->u_done);
    free(p->last_end);
    free(p->s_run);
    free(p);
}

const struct powercap_cfg *powercap_config(const struct powercap *p)
{
    return &p->cfg;
}

double powercap_gpu_w(const struct powercap *p, int64_t prefill_tokens,
                      int64_t decode_seqs, double s)
{
    const struct energy_power *pw = &p->cfg.power;
    double mix = energy_mix_w(pw, prefill_tokens, decode_seqs);

    if (prefill_tokens + decode_seqs <= 0)
        return pw->idle_w;
    return pw->idle_w + (mix - pw->idle_w) * pow(s, p->cfg.exponent);
}

double powercap_clock(const struct powercap *p, int32_t i)
{
    bool low = i < p->n_low;

    switch (p->level) {
    case PC_LOW:
        return low ? p->cfg.f_low : 1;
    case PC_ALL:
        return low && p->cfg.f_low < p->cfg.f_all ? p->cfg.f_low
                                                   : p->cfg.f_all;
    case PC_BRAKE:
        return p->cfg.f_brake;
    default:
        return 1;
    }
}

/* Joules server i has drawn by now_ns (all its GPUs), and in *u what it
 * would have drawn over the same iterations uncapped. */
static double energy_at(const struct powercap *p, int32_t i, int64_t now_ns,
                        bool busy, int64_t start_ns, const struct batch *b,
                        double *u)
{
    double idle = p->cfg.power.idle_w * p->gpus, e = p->e_done[i], dt;

    *u = p->u_done[i];
    if (!busy || start_ns < p->last_end[i]) {
        dt = idle * (double)(now_ns - p->last_end[i]) * 1e-9;
        *u += dt;
        return e + dt;
    }
    dt = idle * (double)(start_ns - p->last_end[i]) * 1e-9;
    *u += dt + p->gpus * powercap_gpu_w(p, b->prefill_tokens, b->decode_seqs,
                                        1) * (double)(now_ns - start_ns) *
               1e-9;
    return e + dt + p->gpus * powercap_gpu_w(p, b->prefill_tokens,
                                             b->decode_seqs, p->s_run[i]) *
                    (double)(now_ns - start_ns) * 1e-9;
}

static double threshold(const struct powercap *p, enum powercap_level l)
{
    static const double brake = 1.0;

    return l == PC_LOW ? p->cfg.t1 : l == PC_ALL ? p->cfg.t2 : brake;
}

static enum powercap_level level_of(const struct powercap *p, double w)
{
    double b = p->cfg.budget_w;

    return w > b ? PC_BRAKE : w >= p->cfg.t2 * b ? PC_ALL :
           w >= p->cfg.t1 * b ? PC_LOW : PC_NONE;
}

/* Up at once to the level the measured power calls for; down one level
 * at a time while the power the row would draw uncapped (unc_w) is below
 * that level's threshold by the hysteresis: judged on the measured power,
 * a cap that works would be lifted at once and the row would oscillate
 * between capped and over the threshold. */
static void decide(struct powercap *p, double row_w, double unc_w,
                   int64_t now_ns)
{
    double b = p->cfg.budget_w;
    enum powercap_level l = p->level, to = level_of(p, row_w);

    if (to > l)
        l = to;
    while (l > PC_NONE && l > to &&
           unc_w < (threshold(p, l) - p->cfg.hysteresis) * b)
        l--;
    if (l == p->level)
        return;
    p->level_ns[p->level] += (double)(now_ns - p->since_ns);
    p->since_ns = now_ns;
    p->changes++;
    p->brakes += l == PC_BRAKE;
    p->level = l;
}

bool powercap_due(const struct powercap *p, int64_t now_ns)
{
    return (double)(now_ns - p->tick_ns) >= p->cfg.interval_s * 1e9;
}

void powercap_tick(struct powercap *p, int64_t now_ns, const bool *busy,
                   const int64_t *start_ns, const struct batch *const *mix)
{
    double e = 0, u = 0, w, uw, dt;
    int32_t i;

    if (!powercap_due(p, now_ns))
        return;
    for (i = 0; i < p->n; i++) {
        double ui;
        e += energy_at(p, i, now_ns, busy[i], start_ns[i], mix[i], &ui);
        u += ui;
    }
    dt = (double)(now_ns - p->tick_ns) * 1e-9;
    w = (e - p->e_row) / dt;
    uw = (u - p->u_row) / dt;
    if (w > p->peak_w)
        p->peak_w = w;
    p->ticks++;
    p->e_row = e;
    p->u_row = u;
    p->tick_ns = now_ns;
    decide(p, w, uw, now_ns);
}

int powercap_scale(struct powercap *p, const struct batch *b, double s,
                   int64_t base_ns, int64_t fixed_ns, int64_t *out_ns)
{
    double t0 = 0, t1 = 0;
    size_t i;
    int rc;

    *out_ns = base_ns;
    if (s >= 1 || base_ns <= fixed_ns)
        return LLM_OK;
    rc = ops_build(p->m, &p->shard, b, &p->ops);
    if (rc != LLM_OK)
        return rc;
    for (i = 0; i < p->ops.n; i++) {
        const struct op *o = &p->ops.ops[i];
        double peak = p->dev->peak_flops[o->math], tc, tm;
        if (op_class_of(o->kind) == OPC_COMM) {
            tc = cost_roofline_s(p->dev, &p->shard, o);
            t0 += o->repeat * tc;
            t1 += o->repeat * tc;
            continue;
        }
        if (peak <= 0)
            peak = device_peak16_flops(p->dev);
        tc = peak > 0 ? o->flops / peak : 0;
        tm = o->bytes / p->dev->mem_bw_bytes_s;
        t0 += o->repeat * (tc > tm ? tc : tm);
        t1 += o->repeat * (tc / s > tm ? tc / s : tm);
    }
    if (t0 > 0)
        *out_ns = fixed_ns + (int64_t)llround((double)(base_ns - fixed_ns) *
                                              t1 / t0);
    return LLM_OK;
}

int powercap_price(struct powercap *p, int32_t i, const struct batch *b,
                   int64_t base_ns, int64_t fixed_ns, int64_t *out_ns)
{
    p->s_run[i] = powercap_clock(p, i);
    return powercap_scale(p, b, p->s_run[i], base_ns, fixed_ns, out_ns);
}

double powercap_running_clock(const struct powercap *p, int32_t i)
{
    return p->s_run[i];
}

void powercap_iteration(struct powercap *p, int32_t i, int64_t start_ns,
                        int64_t end_ns, int64_t prefill_tokens,
                        int64_t decode_seqs, double s)
{
    double idle = p->cfg.power.idle_w * p->gpus;

    double dt = (double)(end_ns - start_ns) * 1e-9, gap = 0;

    if (start_ns > p->last_end[i])
        gap = idle * (double)(start_ns - p->last_end[i]) * 1e-9;
    p->e_done[i] += gap + p->gpus * dt *
                          powercap_gpu_w(p, prefill_tokens, decode_seqs, s);
    p->u_done[i] += gap + p->gpus * dt *
                          powercap_gpu_w(p, prefill_tokens, decode_seqs, 1);
    p->last_end[i] = end_ns;
}

void powercap_report(const struct powercap *p, int64_t end_ns, cJSON *summary)
{
    static const char *const names[] = { "uncapped_s", "low_capped_s",
        "all_capped_s", "brake_s" };
    cJSON *o = cJSON_AddObjectToObject(summary, "power");
    double e = 0, span = (double)end_ns * 1e-9;
    int l;

    if (o == NULL)
        return;
    for (int32_t i = 0; i < p->n; i++)
        e += p->e_done[i] + p->cfg.power.idle_w * p->gpus *
                            (double)(end_ns - p->last_end[i]) * 1e-9;
    cJSON_AddNumberToObject(o, "budget_w", p->cfg.budget_w);
    cJSON_AddNumberToObject(o, "servers", p->n);
    cJSON_AddNumberToObject(o, "low_priority_servers", p->n_low);
    cJSON_AddNumberToObject(o, "peak_row_w", p->peak_w);
    cJSON_AddNumberToObject(o, "mean_row_w", span > 0 ? e / span : 0);
    cJSON_AddNumberToObject(o, "peak_over_budget", p->peak_w /
                                                   p->cfg.budget_w);
    cJSON_AddNumberToObject(o, "energy_j", e);
    for (l = 0; l < PC_LEVELS; l++)
        cJSON_AddNumberToObject(o, names[l], (p->level_ns[l] +
            (l == (int)p->level ? (double)(end_ns - p->since_ns) : 0)) *
            1e-9);
    cJSON_AddNumberToObject(o, "level_changes", (double)p->changes);
    cJSON_AddNumberToObject(o, "brakes", (double)p->brakes);
    cJSON_AddNumberToObject(o, "intervals", (double)p->ticks);
}
