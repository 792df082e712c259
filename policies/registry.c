#include "policies/registry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/jcfg.h"

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

/* The tables differ in type but all start with the name, which is all
 * a lookup reads; one helper per table keeps the casts out. */
#define REGISTRY_FIND(fn, type, table, kind)                                  \
const type *fn(const char *name, const char *path, struct llm_diag *d)       \
{                                                                             \
    char known[256] = "";                                                     \
    size_t i, off = 0;                                                        \
                                                                              \
    for (i = 0; table[i] != NULL; i++)                                        \
        if (strcmp(table[i]->name, name) == 0)                                \
            return table[i];                                                  \
    for (i = 0; table[i] != NULL && off < sizeof(known); i++)                 \
        off += (size_t)snprintf(known + off, sizeof(known) - off, "%s%s",     \
                                i ? ", " : "", table[i]->name);               \
    diag_set(d, LLM_EINVAL, "%s.name: unknown %s \"%s\" (known: %s)", path,   \
             kind, name, known);                                              \
    return NULL;                                                              \
}

REGISTRY_FIND(registry_sched, struct sched_ops, scheds, "scheduler")

int registry_sched_limits(const struct sched_ops *ops, const cJSON *params,
                          const char *path, int32_t max_model_len,
                          double dev_mem_bytes, const char *dev_name,
                          int64_t *tokens, int64_t *seqs,
                          struct llm_diag *d)
{
    void *st = calloc(1, ops->state_size + 1);
    int rc = st ? ops->init(st, params, path, d)
                : diag_set(d, LLM_ENOMEM, "out of memory");

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
    if (rc == LLM_OK && ops->fini)
        ops->fini(st);
    free(st);
    return rc;
}
REGISTRY_FIND(registry_kv, struct kv_ops, kvs, "KV manager")
REGISTRY_FIND(registry_router, struct router_ops, routers, "router")
