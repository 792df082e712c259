/* policies/registry.h: every plug-in policy, found by name.
 *
 * Each policy is a const ops table defined in its own file and listed in
 * one table line in policies/registry.c.  Lookups return NULL and leave a
 * message "PATH.name: unknown KIND \"x\" (known: a, b)" for unknown names. */
#ifndef LLM_REGISTRY_H
#define LLM_REGISTRY_H

#include "base/diag.h"
#include "sim/kv.h"
#include "sim/replica_view.h"
#include "sim/router.h"

/* The plug-in registered as name; NULL with "PATH.name: unknown KIND
 * \"NAME\" (known: a, b, ...)" in d when none is (base/names.h). */
const struct sched_ops *registry_sched(const char *name, const char *path,
                                       struct llm_diag *d);
const struct kv_ops *registry_kv(const char *name, const char *path,
                                 struct llm_diag *d);
const struct router_ops *registry_router(const char *name, const char *path,
                                         struct llm_diag *d);
/* The i-th registered scheduler, in the table's order (the order of the
 * known list); NULL for i past the last. */
const struct sched_ops *registry_sched_nth(size_t i);

/* The budgets scheduler ops runs with for these params (may be NULL: its
 * defaults) on a device of dev_mem_bytes named dev_name (0 / NULL:
 * unknown; sched_ops.set_device), as its init resolves them
 * (sched_ops.limits; without one, vLLM V0's rule).  Errors are init's,
 * naming path. */
int registry_sched_limits(const struct sched_ops *ops, const cJSON *params,
                          const char *path, int32_t max_model_len,
                          double dev_mem_bytes, const char *dev_name,
                          int64_t *tokens, int64_t *seqs,
                          struct llm_diag *d);

extern const struct sched_ops sched_vllm;
extern const struct sched_ops sched_vllm_v0;
extern const struct sched_ops sched_static;
extern const struct sched_ops sched_orca;
extern const struct sched_ops sched_sarathi;
extern const struct sched_ops sched_fastgen;
extern const struct sched_ops sched_prepack;
extern const struct sched_ops sched_layered;
extern const struct sched_ops sched_fair;
extern const struct sched_ops sched_slo;
extern const struct sched_ops sched_flexllm;
extern const struct kv_ops kv_paged;
extern const struct kv_ops kv_prefix;
extern const struct kv_ops kv_radix;
extern const struct kv_ops kv_compressed;
extern const struct kv_ops kv_tiered;
extern const struct kv_ops kv_blend;
extern const struct router_ops router_round_robin;
extern const struct router_ops router_random;
extern const struct router_ops router_least_outstanding;
extern const struct router_ops router_least_tokens;
extern const struct router_ops router_power_of_two;
extern const struct router_ops router_prefix_affinity;
extern const struct router_ops router_weighted;

#endif
