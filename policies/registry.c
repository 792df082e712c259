#include "policies/registry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/jcfg.h"
#include "base/names.h"
#include "base/plugin.h"

/* Adding a policy: define its ops in its own file and add one line here. */
static const struct sched_ops *const scheds[] = {
    &sched_vllm,
    &sched_vllm_v0,
    &sched_static,
    &sched_orca,
    &sched_sarathi,
    &sched_fastgen,
    &sched_prepack,
    &sched_layered,
    &sched_fair,
    &sched_slo,
    &sched_flexllm,
    NULL
};

static const struct kv_ops *const kvs[] = {
    &kv_paged,
    &kv_prefix,
    &kv_radix,
    &kv_compressed,
    &kv_tiered,
    &kv_blend,
    NULL
};

static const struct router_ops *const routers[] = {
    &router_round_robin,
    &router_random,
    &router_least_outstanding,
    &router_least_tokens,
    &router_power_of_two,
    &router_prefix_affinity,
    &router_weighted,
    NULL
};

/* The tables differ in type; each gets its accessor for base/names.h's
 * one lookup, which keeps the casts out. */
#define REGISTRY_FIND(fn, type, table, kind)                                  \
static const char *fn##_at(const void *t, size_t i)                           \
{                                                                             \
    const type *const *x = t;                                                 \
                                                                              \
    return x[i] ? x[i]->name : NULL;                                          \
}                                                                             \
                                                                              \
const type *fn(const char *name, const char *path, struct llm_diag *d)       \
{                                                                             \
    char known[256];                                                          \
    long i = names_find(table, fn##_at, name, known, sizeof(known));          \
                                                                              \
    if (i >= 0)                                                               \
        return table[i];                                                      \
    diag_set(d, LLM_EINVAL, "%s.name: unknown %s \"%s\" (known: %s)", path,   \
             kind, name, known);                                              \
    return NULL;                                                              \
}

REGISTRY_FIND(registry_sched, struct sched_ops, scheds, "scheduler")

const struct sched_ops *registry_sched_nth(size_t i)
{
    size_t n = 0;

    while (scheds[n] != NULL)
        n++;
    return i < n ? scheds[i] : NULL;
}

int registry_sched_limits(const struct sched_ops *ops, const cJSON *params,
                          const char *path, int32_t max_model_len,
                          double dev_mem_bytes, const char *dev_name,
                          int64_t *tokens, int64_t *seqs,
                          struct llm_diag *d)
{
    struct plugin p = { 0 };
    int rc = plugin_alloc(&p, ops->state_size, d);
    void *st;

    if (rc == LLM_OK)
        rc = plugin_started(&p, ops->init(p.st, params, path, d), ops->fini);
    st = p.st;

    *tokens = max_model_len > 2048 ? max_model_len : 2048;
    *seqs = 256;
    if (rc == LLM_OK && ops->set_device)
        ops->set_device(st, dev_mem_bytes, dev_name);
    if (rc == LLM_OK && ops->limits) {
        ops->limits(st, max_model_len, tokens, seqs);
    } else if (rc == LLM_OK && params != NULL) {
        /* no limits method: the keys as given (init has checked them) */
        jcfg_int(params, path, "max_num_batched_tokens", false, 1, 1 << 30,
                 tokens, NULL);
        jcfg_int(params, path, "max_num_seqs", false, 1, 1 << 20, seqs,
                 NULL);
    }
    plugin_stop(&p);
    return rc;
}
REGISTRY_FIND(registry_kv, struct kv_ops, kvs, "KV manager")
REGISTRY_FIND(registry_router, struct router_ops, routers, "router")
