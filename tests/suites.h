/* tests/suites.h: every Check suite of llmsim, one line each.
 * A module's tests live in tests/check_<module>.c and export
 * Suite *<module>_suite(void); add it here and to the list in
 * tests/check_main.c. */
#ifndef LLM_TEST_SUITES_H
#define LLM_TEST_SUITES_H

#include <check.h>

#define LLM_SUITES(X) \
    X(evq)            \
    X(jcfg)           \
    X(models)         \
    X(memory)         \
    X(traces)         \
    X(sim)            \
    X(link)           \
    X(cost)           \
    X(eager)          \
    X(closed)         \
    X(policies)       \
    X(replica_stats)  \
    X(run)            \
    X(sweep)          \
    X(plot)           \
    X(plan)           \
    X(devices)        \
    X(disagg)         \
    X(dsearch)        \
    X(kv)             \
    X(kv_compress)    \
    X(kv_tiers)       \
    X(offload)        \
    X(shared_prefix)  \
    X(woffload)       \
    X(e2e)            \
    X(security)       \
    X(engine)         \
    X(pricing)        \
    X(ctx_sweep)      \
    X(spec)           \
    X(repo)           \
    X(cli)            \
    X(report)         \
    X(blend)          \
    X(flexllm)        \
    X(powercap)       \
    X(lut)            \
    X(output)         \
    X(qsketch)        \
    X(repro)          \
    X(reliability)    \
    /* one suite a line, each ending in a backslash: adding one edits no
     * other line */

#define LLM_DECLARE_SUITE(name) Suite *name##_suite(void);
LLM_SUITES(LLM_DECLARE_SUITE)

#endif
