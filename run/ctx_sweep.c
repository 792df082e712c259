#include "run/ctx_sweep.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include "hw/cost.h"
#include "base/paths.h"

#define GIB 1073741824.0

int ctx_sweep_parse(const char *list, int64_t *ctx, int32_t *n,
                    struct llm_diag *d)
{
    const char *p = list;

    *n = 0;
    while (*p != '\0') {
        char *end;
        long long v;
        errno = 0;
        v = strtoll(p, &end, 10);
        if (errno || end == p || v < 1 || v > (1LL << 30) ||
            (*end != ',' && *end != '\0') || *n == CTX_SWEEP_MAX)
            return diag_set(d, LLM_EINVAL, "--context-sweep: expected up "
                            "to %d context lengths in [1, 2^30] separated "
                            "by commas, got \"%s\"", CTX_SWEEP_MAX, list);
        ctx[(*n)++] = v;
        p = *end == ',' ? end + 1 : end;
        if (*end == ',' && *p == '\0')
            return diag_set(d, LLM_EINVAL, "--context-sweep: a context "
                            "length after the last comma, got \"%s\"", list);
    }
    if (*n == 0)
        return diag_set(d, LLM_EINVAL, "--context-sweep: expected context "
                        "lengths such as 4096,50000, got \"%s\"", list);
    return LLM_OK;
}

/* Seconds of one batch on model c. */
static int price_s(struct cost_model *c, const struct batch *b, double *s,
                   int32_t *extrap)
{
    struct cost_breakdown bd;
    int rc = cost_price(c, b, &bd);

    *s = (double)bd.total_ns / 1e9;
    if (extrap)
        *extrap += bd.extrapolated;
    return rc;
}

/* Prices the prompt and the decode step of one user on c. */
static int price_user(struct cost_model *c, int64_t n, double *prefill_s,
                      double *decode_s, int32_t *extrap)
{
    struct batch b;
    int rc;

    batch_init(&b);
    rc = batch_add_prefill(&b, (int32_t)n, 0, 1);
    if (!rc) rc = price_s(c, &b, prefill_s, extrap);
    batch_clear(&b);
    if (!rc) rc = batch_add_decode(&b, 1, (int32_t)n);
    if (!rc) rc = price_s(c, &b, decode_s, extrap);
    batch_free(&b);
    return rc;
}

static void count_users(const struct model *m, const struct device *dev,
                        const struct shard *s, const struct mem_plan *plan,
                        struct ctx_row *r)
{
    int32_t first, layers;
    double free_bytes = dev->mem_bytes - plan->weight_bytes;

    ops_stage_layers(m->num_layers, s->pp > 1 ? s->pp : 1, plan->stage,
                     &first, &layers);
    r->kv_bytes = (double)r->context *
                  memplan_kv_bytes_per_token(m, s, layers);
    r->users_hbm = free_bytes > 0 && r->kv_bytes > 0 ?
                   (int64_t)floor(free_bytes / r->kv_bytes) : 0;
    r->users_plan = plan->kv_tokens > 0 ? plan->kv_tokens / r->context : 0;
}

int ctx_sweep_row(const struct model *m, const struct device *dev,
                  const struct shard *s, const struct mem_plan *plan,
                  int64_t context, struct ctx_row *out,
                  const char **cost_id, struct llm_diag *d)
{
    struct cost_env env = { .model = m, .dev = dev, .shard = *s,
                            .root = llm_root() };
    cJSON *roof = cJSON_CreateObject();
    struct cost_model *cr = NULL, *cd = NULL;
    double ps = 0, ds = 0;
    int rc = LLM_OK;

    *out = (struct ctx_row){ .context = context };
    if (roof == NULL || !cJSON_AddStringToObject(roof, "name", "roofline"))
        rc = diag_set(d, LLM_ENOMEM, "out of memory");
    if (!rc) rc = cost_create(&env, roof, "cost_model", &cr, d);
    if (!rc) rc = cost_create(&env, NULL, "cost_model", &cd, d);
    if (!rc) rc = price_user(cr, context, &ps, &ds, NULL);
    out->prefill_roof_s = ps;
    out->decode_roof_ms = ds * 1e3;
    if (!rc) rc = price_user(cd, context, &ps, &ds, &out->extrapolated);
    out->prefill_cost_s = ps;
    out->decode_cost_ms = ds * 1e3;
    if (!rc)
        *cost_id = cost_name(cd);
    count_users(m, dev, s, plan, out);
    cost_destroy(cr);
    cost_destroy(cd);
    cJSON_Delete(roof);
    return rc;
}

static void print_json_row(FILE *out, const struct model *m,
                           const struct device *dev, const char *cost,
                           const struct ctx_row *r)
{
    cJSON *o = cJSON_CreateObject();
    char *text;

    cJSON_AddStringToObject(o, "model", m->id);
    cJSON_AddStringToObject(o, "device", dev->id);
    cJSON_AddNumberToObject(o, "context", (double)r->context);
    cJSON_AddNumberToObject(o, "prefill_s_roofline", r->prefill_roof_s);
    cJSON_AddNumberToObject(o, "prefill_s", r->prefill_cost_s);
    cJSON_AddNumberToObject(o, "decode_ms_roofline", r->decode_roof_ms);
    cJSON_AddNumberToObject(o, "decode_ms", r->decode_cost_ms);
    cJSON_AddStringToObject(o, "cost_model", cost);
    cJSON_AddNumberToObject(o, "cost_extrapolated_ops", r->extrapolated);
    cJSON_AddNumberToObject(o, "kv_gib_per_user", r->kv_bytes / GIB);
    cJSON_AddNumberToObject(o, "users_hbm", (double)r->users_hbm);
    cJSON_AddNumberToObject(o, "users_vllm", (double)r->users_plan);
    text = cJSON_PrintUnformatted(o);
    if (text != NULL)
        fprintf(out, "%s\n", text);
    free(text);
    cJSON_Delete(o);
}

static void print_head(FILE *out, const struct model *m,
                       const struct device *dev, const struct shard *s,
                       const struct mem_plan *plan, const char *cost)
{
    fprintf(out, "%s on %s (tp %d): long-context peak analysis "
            "(arXiv 2405.08944)\n", m->id, dev->id, (int)s->tp);
    fprintf(out, "weights %.2f GiB of %.2f GiB per GPU; vLLM's plan leaves "
            "%lld KV tokens; default cost model: %s\n",
            plan->weight_bytes / GIB, dev->mem_bytes / GIB,
            (long long)(plan->kv_tokens > 0 ? plan->kv_tokens : 0), cost);
    fprintf(out, "%9s %10s %10s %10s %10s %8s %9s %9s\n", "context",
            "prefill_s", "prefill_s", "decode_ms", "decode_ms", "KV_GiB",
            "users", "users");
    fprintf(out, "%9s %10s %10s %10s %10s %8s %9s %9s\n", "", "roofline",
            cost, "roofline", cost, "per_user", "HBM-wts", "vLLM");
}

int ctx_sweep_print(const struct model *m, const struct device *dev,
                    const struct shard *s, const struct mem_plan *plan,
                    const int64_t *ctx, int32_t n, bool json, FILE *out,
                    struct llm_diag *d)
{
    const char *cost = "?";
    struct ctx_row r;
    int32_t i;
    int rc = LLM_OK;

    for (i = 0; i < n && rc == LLM_OK; i++) {
        rc = ctx_sweep_row(m, dev, s, plan, ctx[i], &r, &cost, d);
        if (rc)
            break;
        if (json) {
            print_json_row(out, m, dev, cost, &r);
            continue;
        }
        if (i == 0)
            print_head(out, m, dev, s, plan, cost);
        fprintf(out, "%9lld %10.3f %10.3f %10.2f %10.2f %8.2f %9lld "
                "%9lld%s\n", (long long)r.context, r.prefill_roof_s,
                r.prefill_cost_s, r.decode_roof_ms, r.decode_cost_ms,
                r.kv_bytes / GIB, (long long)r.users_hbm,
                (long long)r.users_plan,
                r.extrapolated ? "  (cost model extrapolated)" : "");
    }
    return rc;
}
