/* Tests of prefill/decode disaggregation (sim/cluster.h, issue 10): KV
 * bytes from the model, transfers priced on an idle and a shared link,
 * hand-offs that wait for decode KV room, unified storage, and a run
 * computed by hand with a fixed iteration cost. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "run/pools.h"
#include "models/model.h"
#include "policies/registry.h"
#include "base/paths.h"
#include "sim/sim.h"
#include "tests/fixture.h"
#include "tests/suites.h"

#define MS 1000000LL
#define US 1000LL

struct fixture {
    struct fx_trace tr;          /* requests and iteration cost */
    struct request done[32];
    size_t n_done;
    int64_t cap[4];             /* per replica KV capacity */
};

static int on_req(void *ctx, const struct request *q)
{
    struct fixture *f = ctx;

    ck_assert_uint_lt(f->n_done, 32);
    f->done[f->n_done++] = *q;
    return LLM_OK;
}

/* Pools never exceed capacity: every iteration's record is checked. */
static int on_iter(void *ctx, const struct iter_record *r)
{
    const struct fixture *f = ctx;

    ck_assert_int_ge(r->kv_blocks_used, 0);
    ck_assert_int_le(r->kv_blocks_used, f->cap[r->replica]);
    return LLM_OK;
}

static const struct request *find(const struct fixture *f, int64_t id)
{
    size_t i;

    for (i = 0; i < f->n_done; i++)
        if (f->done[i].id == id)
            return &f->done[i];
    ck_abort_msg("request %lld not finished", (long long)id);
    return NULL;
}

/* Replica 0 prefills, replica 1 decodes; 1 GB/s link with 5 us latency,
 * 1000 KV bytes per token.  partner: semi-PD unified storage. */
static struct cluster_stats run2(struct fixture *f, bool layerwise,
                                 bool partner)
{
    struct replica_config rc[2];
    struct cluster_config cc = { .n_entry = 1, .first_decode = 1,
        .decode_router = &router_round_robin,
        .decode_router_path = "cluster.decode_router",
        .kv_bytes_per_token = 1000, .layers = 4, .layerwise = layerwise,
        .link_bw_bytes_s = 1e9, .link_latency_ns = 5 * US,
        .partner_offset = partner ? 1 : 0 };
    struct sim_config cfg = { .n_replicas = 2, .replicas = rc,
        .router = &router_round_robin, .router_path = "router",
        .source = fx_trace_next, .source_ctx = &f->tr,
        .rec = { f, on_req, on_iter },
        .cluster = &cc };
    struct llm_diag d = { 0 };
    struct cluster_stats st;
    struct sim *s = NULL;
    int32_t i;

    for (i = 0; i < 2; i++)
        rc[i] = (struct replica_config){ .index = i,
            .kv_capacity_blocks = f->cap[i], .block_tokens = 16,
            .max_model_len = 4096, .sched = &sched_vllm,
            .sched_path = "scheduler", .kv = &kv_paged,
            .kv_path = "kv_cache", .cost = fx_trace_cost, .cost_ctx = &f->tr,
            .role = i == 0 ? REPLICA_PREFILL : REPLICA_DECODE };
    ck_assert_int_eq(sim_create(&cfg, &s, &d), LLM_OK);
    ck_assert_msg(sim_run(s, &d) == LLM_OK, "%s", d.msg);
    st = *sim_cluster_stats(s);
    for (i = 0; i < 2; i++)
        ck_assert_int_eq(replica_kv_used(&sim_replica(s, i)->pub), 0);
    sim_destroy(s);
    return st;
}

START_TEST(test_kv_bytes_from_model)
{
    struct model m;
    struct llm_diag d = { 0 };

    ck_assert_int_eq(model_find(llm_root(), "llama-3-8b", &m, &d), LLM_OK);
    /* 32 layers x 8 KV heads x 128 dims x (K and V) x 2 bytes (bf16) */
    ck_assert_int_eq(m.num_layers, 32);
    ck_assert_int_eq(m.num_kv_heads, 8);
    ck_assert_int_eq(model_kv_bytes_per_token(&m, 2), 32 * 8 * 128 * 2 * 2);
    ck_assert_int_eq(model_kv_bytes_per_token(&m, 1), 32 * 8 * 128 * 2);
    ck_assert_double_eq(cluster_kv_bytes(131072, 1000), 131072000.0);
    ck_assert_int_eq(model_find(llm_root(), "llama-2-13b", &m, &d), LLM_OK);
    /* MHA: 40 layers x 40 heads x 128 x 2 x 2 */
    ck_assert_int_eq(model_kv_bytes_per_token(&m, 2), 40 * 40 * 128 * 4);
}
END_TEST

/* Prefill of 100 tokens ends at 11 ms (first token); 100 kB whole on an
 * idle 1 GB/s link: 5 us + 100 us; four decodes of 10 ms each follow. */
START_TEST(test_hand_computed_whole)
{
    static const struct req_spec spec[] = {
        { .arrival_ns = 1 * MS, .prompt_tokens = 100, .output_tokens = 5 },
    };
    struct fixture f = { .tr.specs = spec, .tr.n = 1, .tr.cost_ns = 10 * MS,
                         .cap = { 100, 100 } };
    struct cluster_stats st = run2(&f, false, false);
    const struct request *q = find(&f, 0);

    ck_assert_int_eq(q->first_token_ns, 11 * MS);
    ck_assert_int_eq(q->kv_xfer_start_ns, 11 * MS);
    ck_assert_int_eq(q->kv_xfer_end_ns, 11 * MS + 105 * US);
    ck_assert_int_eq(q->finish_ns, 11 * MS + 105 * US + 40 * MS);
    ck_assert_int_eq(q->prefill_replica, 0);
    ck_assert_int_eq(q->replica, 1);
    ck_assert_int_eq(st.transfers, 1);
    ck_assert_double_eq(st.bytes, 100000.0);
    ck_assert_int_eq(st.link_busy_ns, 100 * US);
}
END_TEST

/* Layer mode: 3 of 4 layers stream during the 10 ms prefill; the last
 * 25 kB moves after it: 5 us + 25 us, still after the prefill's end. */
START_TEST(test_layerwise_after_prefill_end)
{
    static const struct req_spec spec[] = {
        { .arrival_ns = 1 * MS, .prompt_tokens = 100, .output_tokens = 3 },
    };
    struct fixture f = { .tr.specs = spec, .tr.n = 1, .tr.cost_ns = 10 * MS,
                         .cap = { 100, 100 } };
    struct cluster_stats st = run2(&f, true, false);
    const struct request *q = find(&f, 0);

    ck_assert_int_eq(q->kv_xfer_end_ns, 11 * MS + 30 * US);
    ck_assert_int_gt(q->kv_xfer_end_ns, q->first_token_ns);
    ck_assert_double_eq(st.bytes_overlapped, 75000.0);
}
END_TEST

/* Two prompts prefilled together share the link: 200 kB at 1 GB/s. */
START_TEST(test_shared_link)
{
    static const struct req_spec spec[] = {
        { .arrival_ns = 1 * MS, .prompt_tokens = 100, .output_tokens = 2 },
        { .arrival_ns = 1 * MS, .prompt_tokens = 100, .output_tokens = 2 },
    };
    struct fixture f = { .tr.specs = spec, .tr.n = 2, .tr.cost_ns = 10 * MS,
                         .cap = { 100, 100 } };
    size_t i;

    run2(&f, false, false);
    for (i = 0; i < 2; i++) {
        const struct request *q = find(&f, (int64_t)i);
        ck_assert_int_eq(q->first_token_ns, 11 * MS);
        ck_assert_int_eq(q->kv_xfer_end_ns, 11 * MS + 205 * US);
    }
}
END_TEST

/* The decode replica holds 8 blocks: one 100-token request (7 blocks)
 * at a time.  The second hand-off waits, holding its prefill KV, until
 * the first request finishes; no transfer starts before its prefill
 * ends. */
START_TEST(test_waits_for_decode_room)
{
    static const struct req_spec spec[] = {
        { .arrival_ns = 1 * MS, .prompt_tokens = 100, .output_tokens = 3 },
        { .arrival_ns = 1 * MS, .prompt_tokens = 100, .output_tokens = 3 },
    };
    struct fixture f = { .tr.specs = spec, .tr.n = 2, .tr.cost_ns = 10 * MS,
                         .cap = { 100, 8 } };
    struct cluster_stats st = run2(&f, false, false);
    const struct request *a = find(&f, 0), *b = find(&f, 1);

    ck_assert_int_eq(st.waits, 1);
    ck_assert_int_eq(a->kv_xfer_end_ns, 11 * MS + 105 * US);
    ck_assert_int_eq(a->finish_ns, 11 * MS + 105 * US + 20 * MS);
    ck_assert_int_eq(b->kv_xfer_start_ns, a->finish_ns);
    ck_assert_int_ge(b->kv_xfer_start_ns, b->first_token_ns);
    ck_assert_int_eq(b->kv_xfer_end_ns, a->finish_ns + 105 * US);
}
END_TEST

/* semi-PD: unified KV storage hands off at the prefill's end, no bytes. */
START_TEST(test_unified_storage)
{
    static const struct req_spec spec[] = {
        { .arrival_ns = 1 * MS, .prompt_tokens = 100, .output_tokens = 3 },
    };
    struct fixture f = { .tr.specs = spec, .tr.n = 1, .tr.cost_ns = 10 * MS,
                         .cap = { 100, 100 } };
    struct cluster_stats st = run2(&f, false, true);
    const struct request *q = find(&f, 0);

    ck_assert_int_eq(st.transfers, 0);
    ck_assert_int_eq(st.local_handoffs, 1);
    ck_assert_int_eq(q->kv_xfer_end_ns, 11 * MS);
    ck_assert_int_eq(q->finish_ns, 31 * MS);
    ck_assert_int_eq(q->replica, 1);
}
END_TEST

/* semi-PD: a batch above the ridge slows by 1/f, one far below it not
 * at all, one between by the part above f R. */
START_TEST(test_sm_fraction)
{
    ck_assert_int_eq(smsplit_ns(1000, 2000, 100, 0.5), 2000);
    ck_assert_int_eq(smsplit_ns(1000, 10, 100, 0.5), 1000);
    ck_assert_int_eq(smsplit_ns(1000, 80, 100, 0.5), 1600);
    ck_assert_int_eq(smsplit_ns(1000, 80, 100, 1.0), 1000);
}
END_TEST

Suite *disagg_suite(void)
{
    Suite *s = suite_create("disagg");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_kv_bytes_from_model);
    tcase_add_test(tc, test_hand_computed_whole);
    tcase_add_test(tc, test_layerwise_after_prefill_end);
    tcase_add_test(tc, test_shared_link);
    tcase_add_test(tc, test_waits_for_decode_room);
    tcase_add_test(tc, test_unified_storage);
    tcase_add_test(tc, test_sm_fraction);
    suite_add_tcase(s, tc);
    return s;
}
