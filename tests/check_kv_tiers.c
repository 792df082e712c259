/* tests/check_kv_tiers.c: the tiered prefix cache (issue 9): write-back
 * of evicted blocks to host, a host hit prefetched back and the exact
 * wait it costs on an idle link, demotion to the SSD tier, per-tier block
 * accounting under random traffic, and a run's kv_tiers table. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_rng.h>
#include <sqlite3.h>

#include "run/run.h"
#include "policies/registry.h"
#include "tests/fixture.h"

#define MIB 1048576.0

struct mgr {
    const struct kv_ops *ops;
    void *st;
};

/* cap GPU blocks of 16 tokens, 1 MiB each; host link of 1 MiB per ms
 * (bytes / bw exact in ns) and 10 us latency. */
static struct mgr mgr_new(const char *js, int64_t cap)
{
    struct llm_diag d = { 0 };
    cJSON *p = cJSON_Parse(js);
    struct mgr m = { registry_kv("tiered", "kv_cache", &d), NULL };

    ck_assert_ptr_nonnull(m.ops);
    m.st = calloc(1, m.ops->state_size);
    ck_assert_msg(m.ops->init(m.st, cap, 16, p, "kv_cache", &d) == LLM_OK,
                  "%s", d.msg);
    struct kv_env env = { MIB, MIB * 1000, 10000, pools_find_link, NULL };

    ck_assert_msg(m.ops->attach(m.st, &env, "kv_cache", &d) == LLM_OK,
                  "%s", d.msg);
    cJSON_Delete(p);
    return m;
}

static void mgr_free(struct mgr *m)
{
    m->ops->fini(m->st);
    free(m->st);
}

static struct request req(uint64_t *hs, int32_t n)
{
    return (struct request){ .prompt_tokens = 16 * n, .output_tokens = 2,
        .prefix_hashes = hs, .n_prefix_hashes = n,
        .prefix_block_tokens = 16 };
}

static void serve(struct mgr *m, struct request *q)
{
    ck_assert(m->ops->grow(m->st, q, q->prompt_tokens));
    q->computed = q->prompt_tokens;
    m->ops->release(m->st, q);
}

static struct kv_tier_stats tier(const struct mgr *m, int32_t i)
{
    struct kv_tier_stats t[KV_MAX_TIERS];

    ck_assert_int_gt(m->ops->tiers(m->st, t, KV_MAX_TIERS), i);
    return t[i];
}

/* 4 GPU blocks.  A (hashes 1 2) is cached, B (3 4 5 6) evicts it to the
 * host (2 MiB written), C (1 2) finds it there: C's KV counts as cached,
 * the blocks leave the host (2 MiB read) and the iteration waits exactly
 * 10 us + 2 MiB / (1 MiB/ms) = 2,010,000 ns on the idle link. */
START_TEST(test_host_hit_delay)
{
    struct mgr m = mgr_new("{\"name\": \"tiered\", \"host\": "
                           "{\"capacity_gib\": 0.00390625}}", 4);
    uint64_t ha[] = { 1, 2 }, hb[] = { 3, 4, 5, 6 };
    struct request a = req(ha, 2), b = req(hb, 4), c = req(ha, 2);
    struct kv_tier_stats h;
    int64_t ready;

    serve(&m, &a);
    serve(&m, &b);
    h = tier(&m, 0);
    ck_assert_str_eq(h.name, "host");
    ck_assert_int_eq(h.capacity_blocks, 4);
    ck_assert_int_eq(h.used_blocks, 2);
    ck_assert_double_eq(h.bytes_in, 2 * MIB);
    ck_assert_int_eq(m.ops->sync(m.st, 5000, &ready), LLM_OK);
    ck_assert_int_eq(ready, 5000);          /* write-back: no wait */
    ck_assert(m.ops->grow(m.st, &c, 32));
    ck_assert_int_eq(c.kv_hit_to, 32);
    h = tier(&m, 0);
    ck_assert_int_eq(h.hits, 2);
    ck_assert_int_eq(h.hit_blocks, 2);
    ck_assert_double_eq(h.bytes_out, 2 * MIB);
    /* B's two LRU blocks were evicted for C and written back. */
    ck_assert_int_eq(h.used_blocks, 2);
    ck_assert_int_eq(m.ops->sync(m.st, 3000000, &ready), LLM_OK);
    ck_assert_int_eq(ready, 3000000 + 10000 + 2000000);
    m.ops->release(m.st, &c);
    mgr_free(&m);
}
END_TEST

/* Host of 2 blocks, SSD behind it: a third evicted hash block pushes the
 * host's least recent one down to the SSD; a hit there waits for the
 * NVMe link (catalog nvme-gen4-ssd: 45 us, 7 GB/s). */
START_TEST(test_ssd_demotion)
{
    struct mgr m = mgr_new("{\"name\": \"tiered\", \"host\": "
        "{\"capacity_gib\": 0.001953125}, \"ssd\": {\"capacity_gib\": 1}}",
        2);
    uint64_t ha[] = { 1, 2 }, hb[] = { 3, 4 }, hc[] = { 1 };
    struct request a = req(ha, 2), b = req(hb, 2), c = req(hc, 1);
    struct kv_tier_stats h, s;
    int64_t ready;

    serve(&m, &a);
    serve(&m, &b);                /* evicts 1 2 to the host (full) */
    ck_assert(m.ops->grow(m.st, &c, 16));   /* evicts 3: 1 goes down */
    h = tier(&m, 0);
    s = tier(&m, 1);
    ck_assert_str_eq(s.name, "ssd");
    ck_assert_int_eq(s.capacity_blocks, 1024);
    ck_assert_int_eq(h.used_blocks, 2);
    ck_assert_int_eq(s.hits, 1);  /* C's block 1 came back from the SSD */
    ck_assert_int_eq(s.used_blocks, 0);
    ck_assert_double_eq(s.bytes_in, MIB);
    ck_assert_double_eq(s.bytes_out, MIB);
    ck_assert_double_eq(h.bytes_out, MIB);
    ck_assert_int_eq(m.ops->sync(m.st, 0, &ready), LLM_OK);
    ck_assert_int_eq(ready, 45000 + 149797);  /* ceil(1 MiB / 7 GB/s) */
    m.ops->release(m.st, &c);
    mgr_free(&m);
}
END_TEST

static int fixed_cost(void *ctx, const struct batch *b, int64_t *ns)
{
    (void)ctx;
    (void)b;
    *ns = 1000;
    return LLM_OK;
}

static int keep_done(void *ctx, struct request *q)
{
    (void)ctx;
    (void)q;
    return LLM_OK;
}

/* Serves q alone on r from now_ns; returns the iteration's duration. */
static int64_t replica_serve(struct replica_core *r, struct request *q,
                             int64_t now_ns)
{
    struct iter_record rec;
    int64_t dur;

    q->plan_idx = -1;
    q->first_sched_ns = q->first_token_ns = q->finish_ns = -1;
    replica_enqueue(r, q);
    ck_assert_int_eq(replica_begin(r, now_ns, &dur), LLM_OK);
    ck_assert_int_gt(dur, 0);
    ck_assert_int_eq(replica_end(r, now_ns + dur, keep_done, NULL, &rec),
                     LLM_OK);
    ck_assert_int_eq(q->state, REQ_DONE);
    return dur;
}

/* Through a replica (vLLM scheduler, every batch priced 1 us): C's host
 * hit makes its iteration last 1 us of compute + 10 us + 2 MiB / (1
 * MiB/ms), and the iteration's record carries the host tier. */
START_TEST(test_replica_waits_for_prefetch)
{
    cJSON *p = cJSON_Parse("{\"name\": \"tiered\", \"host\": "
                           "{\"capacity_gib\": 0.00390625}}");
    struct replica_config rc = { .kv_capacity_blocks = 4,
        .block_tokens = 16, .max_model_len = 4096, .sched = &sched_vllm_v0,
        .sched_path = "scheduler", .kv = &kv_tiered, .kv_params = p,
        .kv_path = "kv_cache", .cost = fixed_cost, .kv_block_bytes = MIB,
        .host_bw_bytes_s = MIB * 1000, .host_latency_ns = 10000 };
    struct llm_diag d = { 0 };
    struct replica_core r;
    uint64_t ha[] = { 1, 2 }, hb[] = { 3, 4, 5, 6 };
    struct request a = req(ha, 2), b = req(hb, 4), c = req(ha, 2);

    a.output_tokens = b.output_tokens = c.output_tokens = 1;
    b.id = 1;
    c.id = 2;
    ck_assert_msg(replica_init(&r, &rc, &d) == LLM_OK, "%s", d.msg);
    ck_assert_int_eq(replica_serve(&r, &a, 0), 1000);
    ck_assert_int_eq(replica_serve(&r, &b, 10000), 1000);
    ck_assert_int_eq(replica_serve(&r, &c, 20000), 1000 + 10000 + 2000000);
    ck_assert_int_eq(c.prefix_hit_tokens, 31);
    replica_fini(&r);
    cJSON_Delete(p);
}
END_TEST

/* Random prompts over a few shared prefixes: every tier's used blocks
 * stay within [0, capacity] after each step. */
START_TEST(test_random_accounting)
{
    struct mgr m = mgr_new("{\"name\": \"tiered\", \"host\": "
        "{\"capacity_gib\": 0.01}, \"ssd\": {\"capacity_gib\": 0.02}}", 24);
    gsl_rng *g = gsl_rng_alloc(gsl_rng_mt19937);
    uint64_t hs[8];
    int64_t ready;
    int i, j, n, t;

    gsl_rng_set(g, 17 + (unsigned long)_i);
    for (i = 0; i < 400; i++) {
        struct request q;
        uint64_t root = gsl_rng_uniform_int(g, 12);
        n = 1 + (int)gsl_rng_uniform_int(g, 8);
        for (j = 0; j < n; j++)
            hs[j] = root * 100 + (j < 3 ? (uint64_t)j
                                        : gsl_rng_uniform_int(g, 50) + 10);
        q = req(hs, n);
        if (!m.ops->grow(m.st, &q, q.prompt_tokens))
            continue;
        q.computed = q.prompt_tokens;
        m.ops->release(m.st, &q);
        ck_assert_int_eq(m.ops->sync(m.st, i * 1000000LL, &ready), LLM_OK);
        for (t = 0; t < 2; t++) {
            struct kv_tier_stats s = tier(&m, t);
            ck_assert_int_ge(s.used_blocks, 0);
            ck_assert_int_le(s.used_blocks, s.capacity_blocks);
            /* what leaves a tier entered it first */
            ck_assert_double_ge(s.bytes_in, s.bytes_out);
        }
    }
    ck_assert_int_gt(tier(&m, 0).hits + tier(&m, 1).hits, 0);
    gsl_rng_free(g);
    mgr_free(&m);
}
END_TEST

START_TEST(test_bad_config)
{
    struct llm_diag d = { 0 };
    const struct kv_ops *ops = registry_kv("tiered", "kv_cache", &d);
    cJSON *p = cJSON_Parse("{\"name\": \"tiered\", \"host\": "
                           "{\"capacity\": 4}}");
    void *st = calloc(1, ops->state_size);

    ck_assert_int_eq(ops->init(st, 8, 16, p, "kv_cache", &d), LLM_EINVAL);
    ck_assert_str_eq(d.msg, "kv_cache.host.capacity: unknown key (known: "
                     "capacity_gib, link)");
    cJSON_Delete(p);
    free(st);
}
END_TEST

/* A multi-turn run with a small GPU cache: later turns find their
 * earlier prompt on the host, and results.sqlite has kv_tiers rows
 * whose occupancy stays within capacity. */
START_TEST(test_run_table)
{
    static char buf[2048];
    struct llm_diag d = { 0 };
    struct scenario sc;
    struct run_opts o = { .out_dir = fx_path("out"), .quiet = 1 };
    cJSON *summary = NULL;
    sqlite3 *db;
    sqlite3_stmt *st;
    char path[512];

    snprintf(buf, sizeof(buf), "{\"name\": \"tiers\", \"seed\": 3, "
        "\"model\": \"llama-3.1-8b\", \"hardware\": {\"device\": "
        "\"h100-sxm-80gb\", \"kv_blocks\": 400}, \"scheduler\": {\"name\": "
        "\"vllm\"}, \"kv_cache\": {\"name\": \"tiered\", \"host\": "
        "{\"capacity_gib\": 4}}, \"workload\": {\"type\": \"poisson\", "
        "\"rate\": 4, \"num_requests\": 200, \"prompt\": {\"dist\": "
        "\"uniform\", \"min\": 200, \"max\": 600}, \"output\": {\"dist\": "
        "\"uniform\", \"min\": 10, \"max\": 40}, \"multi_turn\": {\"turns\": "
        "{\"dist\": \"uniform\", \"min\": 2, \"max\": 4}, \"think_s\": 5}}, "
        "\"output\": {\"dir\": \"%s/out\"}}", fx_tmpdir);
    ck_assert_msg(scenario_load(fx_put("c.json", buf), NULL, &sc, &d) ==
                  LLM_OK, "%s", d.msg);
    ck_assert_msg(run_scenario(&sc, &o, &summary, NULL, &d) == LLM_OK, "%s",
                  d.msg);
    scenario_free(&sc);
    cJSON_Delete(summary);
    snprintf(path, sizeof(path), "%s/out/results.sqlite", fx_tmpdir);
    ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
    ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT count(*), "
        "sum(used_blocks < 0 OR used_blocks > capacity_blocks), max(hits), "
        "max(bytes_in) FROM kv_tiers WHERE tier = 'host'", -1, &st, NULL),
        SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    ck_assert_int_gt(sqlite3_column_int64(st, 0), 0);
    ck_assert_int_eq(sqlite3_column_int64(st, 1), 0);
    ck_assert_int_gt(sqlite3_column_int64(st, 2), 0);
    ck_assert_double_gt(sqlite3_column_double(st, 3), 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
}
END_TEST

Suite *kv_tiers_suite(void)
{
    Suite *s = suite_create("kv_tiers");
    TCase *t = tcase_create("core");

    tcase_add_test(t, test_host_hit_delay);
    tcase_add_test(t, test_ssd_demotion);
    tcase_add_test(t, test_replica_waits_for_prefetch);
    tcase_add_loop_test(t, test_random_accounting, 0, 4);
    tcase_add_test(t, test_bad_config);
    suite_add_tcase(s, t);
    t = tcase_create("runs");
    tcase_add_checked_fixture(t, fx_setup, fx_teardown);
    tcase_add_test(t, test_run_table);
    tcase_set_timeout(t, 60);
    suite_add_tcase(s, t);
    return s;
}
