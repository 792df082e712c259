/* tests/check_blend.c: CacheBlend's chunk reuse (issue 21; the "blend"
 * KV manager and the "rag" workload kind): what a stored chunk saves at
 * the prefix and elsewhere, the load it costs and its overlap with the
 * compute, LRU eviction of the store, the generator's segments and
 * chained hashes, errors naming the key, and a run where blending beats
 * full prefill and prefix caching. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "run/run.h"
#include "policies/registry.h"
#include "tests/fixture.h"
#include "traces/source.h"

#define MIB 1048576.0
#define TOK_BYTES 1024.0            /* KV bytes of one token */

struct mgr {
    const struct kv_ops *ops;
    void *st;
};

/* cap blocks of 16 tokens at 1 KiB a token; host link of 1 MiB per ms
 * (bytes / bw exact in ns) and 10 us latency. */
static struct mgr mgr_new(const char *js, int64_t cap)
{
    struct llm_diag d = { 0 };
    cJSON *p = cJSON_Parse(js);
    struct mgr m = { registry_kv("blend", "kv_cache", &d), NULL };

    ck_assert_ptr_nonnull(m.ops);
    m.st = calloc(1, m.ops->state_size);
    ck_assert_msg(m.ops->init(m.st, cap, 16, p, "kv_cache", &d) == LLM_OK,
                  "%s", d.msg);
    struct kv_env env = { 16 * TOK_BYTES, MIB * 1000, 10000,
                          pools_find_link, NULL };

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

static struct request req(struct req_seg *g, int32_t n)
{
    struct request q = { .output_tokens = 2, .segs = g, .n_segs = n };
    int32_t i;

    for (i = 0; i < n; i++)
        q.prompt_tokens += g[i].tokens;
    return q;
}

static void serve(struct mgr *m, struct request *q)
{
    ck_assert(m->ops->grow(m->st, q, q->prompt_tokens));
    q->computed = q->prompt_tokens;
    m->ops->release(m->st, q);
}

static struct kv_tier_stats tier(const struct mgr *m)
{
    struct kv_tier_stats t[KV_MAX_TIERS];

    ck_assert_int_eq(m->ops->tiers(m->st, t, KV_MAX_TIERS), 1);
    return t[0];
}

/* A stores its system prompt (S) and chunks 1, 2.  B = S, 2, 3, question:
 * S at position 0 is reused whole (32), chunk 2 (now second, not first
 * after S... at position 32) all but ceil(0.15 x 512) = 77 tokens (435),
 * chunk 3 and the question are computed.  Both stored segments are
 * loaded: (32 + 512) KiB, on an idle link 10 us + 544 KiB / (1 MiB/ms). */
START_TEST(test_reuse_and_recompute)
{
    struct mgr m = mgr_new("{\"name\": \"blend\"}", 1000);
    struct req_seg ga[] = { { 7, 32 }, { 1, 512 }, { 2, 512 }, { 0, 20 } };
    struct req_seg gb[] = { { 7, 32 }, { 2, 512 }, { 3, 512 }, { 0, 20 } };
    struct request a = req(ga, 4), b = req(gb, 4);
    struct kv_tier_stats t;
    struct kv_stats s;
    int64_t ready;

    ck_assert(m.ops->sync_overlaps);
    ck_assert(m.ops->grow(m.st, &a, a.prompt_tokens));
    ck_assert_int_eq(a.kv_hit_to, 0);         /* an empty store */
    ck_assert_int_eq(a.kv_blocks, (1076 + 15) / 16);
    a.computed = a.prompt_tokens;
    m.ops->release(m.st, &a);
    t = tier(&m);
    ck_assert_str_eq(t.name, "host");
    ck_assert_double_eq(t.bytes_in, 1056 * TOK_BYTES);
    ck_assert_int_eq(m.ops->used_blocks(m.st), 0);
    ck_assert_int_eq(m.ops->sync(m.st, 5000, &ready), LLM_OK);
    ck_assert_int_eq(ready, 5000);            /* writes: no wait */
    ck_assert(m.ops->grow(m.st, &b, b.prompt_tokens));
    ck_assert_int_eq(b.kv_hit_to, 32 + 512 - 77);
    ck_assert_int_eq(b.kv_blocks, (1076 + 15) / 16);  /* private blocks */
    t = tier(&m);
    ck_assert_int_eq(t.hits, 2);
    ck_assert_double_eq(t.bytes_out, 544 * TOK_BYTES);
    ck_assert_int_eq(m.ops->sync(m.st, 3000000, &ready), LLM_OK);
    ck_assert_int_eq(ready, 3000000 + 10000 + 544 * 1000000 / 1024);
    m.ops->stats(m.st, &s);
    ck_assert_int_eq(s.lookups, 6);           /* S, 1, 2, then S, 2, 3 */
    ck_assert_int_eq(s.hits, 2);
    ck_assert_int_eq(s.hit_tokens, 544);
    ck_assert_int_le(s.hits, s.lookups);
    b.computed = b.prompt_tokens;
    m.ops->release(m.st, &b);
    mgr_free(&m);
}
END_TEST

/* The ratio's two ends: 0 reuses every stored token (full KV reuse,
 * PromptCache), 1 only the exact prefix. */
START_TEST(test_ratio_extremes)
{
    static const char *const cfg[] = {
        "{\"name\": \"blend\", \"recompute_ratio\": 0}",
        "{\"name\": \"blend\", \"recompute_ratio\": 1}" };
    static const int32_t want[] = { 32 + 512 + 512, 32 };
    struct req_seg ga[] = { { 7, 32 }, { 1, 512 }, { 2, 512 }, { 0, 20 } };
    struct req_seg gb[] = { { 7, 32 }, { 2, 512 }, { 1, 512 }, { 0, 9 } };
    struct mgr m = mgr_new(cfg[_i], 1000);
    struct request a = req(ga, 4), b = req(gb, 4);

    serve(&m, &a);
    ck_assert(m.ops->grow(m.st, &b, b.prompt_tokens));
    ck_assert_int_eq(b.kv_hit_to, want[_i]);
    m.ops->release(m.st, &b);
    mgr_free(&m);
}
END_TEST

/* A store of 1 MiB holds two 512-token chunks: a third evicts the least
 * recently used (chunk 1, since chunk 2 was read after it), which then
 * misses. */
START_TEST(test_lru_eviction)
{
    struct mgr m = mgr_new("{\"name\": \"blend\", \"capacity_gib\": "
                           "0.0009765625}", 1000);
    struct req_seg g1[] = { { 1, 512 }, { 0, 4 } };
    struct req_seg g2[] = { { 2, 512 }, { 0, 4 } };
    struct req_seg g3[] = { { 3, 512 }, { 0, 4 } };
    struct request a = req(g1, 2), b = req(g2, 2), b2 = req(g2, 2);
    struct request c = req(g3, 2), a2 = req(g1, 2);
    struct kv_stats s;

    serve(&m, &a);
    serve(&m, &b);
    serve(&m, &b2);               /* a hit: chunk 2 is now most recent */
    ck_assert_int_eq(b2.kv_hit_to, 0);        /* released */
    ck_assert_int_eq(tier(&m).capacity_blocks, 64);
    serve(&m, &c);
    m.ops->stats(m.st, &s);
    ck_assert_int_eq(s.evicted, 1);
    ck_assert_int_eq(tier(&m).used_blocks, 64);
    ck_assert(m.ops->grow(m.st, &a2, a2.prompt_tokens));
    ck_assert_int_eq(a2.kv_hit_to, 0);        /* chunk 1 was evicted */
    m.ops->release(m.st, &a2);
    m.ops->stats(m.st, &s);
    ck_assert_int_eq(s.hits, 1);
    mgr_free(&m);
}
END_TEST

static int fixed_cost(void *ctx, const struct batch *b, int64_t *ns)
{
    (void)b;
    *ns = *(const int64_t *)ctx;
    return LLM_OK;
}

static int keep_done(void *ctx, struct request *q)
{
    (void)ctx;
    (void)q;
    return LLM_OK;
}

static int64_t replica_serve(struct replica_core *r, struct request *q,
                             int64_t now_ns)
{
    struct iter_record rec;
    int64_t dur;

    q->plan_idx = -1;
    q->first_sched_ns = q->first_token_ns = q->finish_ns = -1;
    q->output_tokens = 1;
    replica_enqueue(r, q);
    ck_assert_int_eq(replica_begin(r, now_ns, &dur), LLM_OK);
    ck_assert_int_eq(replica_end(r, now_ns + dur, keep_done, NULL, &rec),
                     LLM_OK);
    ck_assert_int_eq(q->state, REQ_DONE);
    return dur;
}

/* Through a replica: the load (10 us + 512 KiB at 1 MiB/ms = 510 us)
 * overlaps the compute, so the iteration lasts the longer of the two,
 * never their sum; the recomputed share is what the prefill computes. */
START_TEST(test_pipelined_iteration)
{
    cJSON *p = cJSON_Parse("{\"name\": \"blend\"}");
    int64_t cost = 2000000;
    struct replica_config rc = { .kv_capacity_blocks = 1000,
        .block_tokens = 16, .max_model_len = 8192, .sched = &sched_vllm,
        .sched_path = "scheduler", .kv = &kv_blend, .kv_params = p,
        .kv_path = "kv_cache", .cost = fixed_cost, .cost_ctx = &cost,
        .kv_block_bytes = 16 * TOK_BYTES, .host_bw_bytes_s = MIB * 1000,
        .host_latency_ns = 10000 };
    struct llm_diag d = { 0 };
    struct replica_core r;
    struct req_seg g0[] = { { 1, 512 }, { 0, 10 } };
    struct req_seg g1[] = { { 0, 4 }, { 1, 512 }, { 0, 10 } };
    struct request a = req(g0, 2), b = req(g1, 3), c = req(g1, 3);

    b.id = 1;
    c.id = 2;
    ck_assert_msg(replica_init(&r, &rc, &d) == LLM_OK, "%s", d.msg);
    ck_assert_int_eq(replica_serve(&r, &a, 0), 2000000);
    ck_assert_int_eq(replica_serve(&r, &b, 10000000), 2000000);
    ck_assert_int_eq(b.prefix_hit_tokens, 512 - 77);
    cost = 100000;                /* compute shorter than the load */
    ck_assert_int_eq(replica_serve(&r, &c, 20000000), 10000 + 500000);
    replica_fini(&r);
    cJSON_Delete(p);
}
END_TEST

static const char *const bad_cfg[][2] = {
    { "{\"name\": \"blend\", \"store\": \"disk\"}",
      "kv_cache.store: expected one of \"host\", \"ssd\", got \"disk\"" },
    { "{\"name\": \"blend\", \"recompute_ratio\": 1.5}",
      "kv_cache.recompute_ratio: expected a number in [0, 1], got 1.5" },
    { "{\"name\": \"blend\", \"ratio\": 0.2}",
      "kv_cache.ratio: unknown key (known: name, block_tokens, "
      "gpu_memory_utilization, recompute_ratio, store, capacity_gib, "
      "link)" },
};

START_TEST(test_bad_config)
{
    struct llm_diag d = { 0 };
    const struct kv_ops *ops = registry_kv("blend", "kv_cache", &d);
    cJSON *p = cJSON_Parse(bad_cfg[_i][0]);
    void *st = calloc(1, ops->state_size);

    ck_assert_int_eq(ops->init(st, 8, 16, p, "kv_cache", &d), LLM_EINVAL);
    ck_assert_str_eq(d.msg, bad_cfg[_i][1]);
    cJSON_Delete(p);
    free(st);
}
END_TEST

/* The "rag" kind: segments cover the prompt (system, k distinct chunks,
 * question), a chunk has one length wherever it appears, hashes are
 * chained (the block after the system prompt is equal exactly when the
 * first chunk is), and Zipf popularity concentrates the draws. */
START_TEST(test_rag_generator)
{
    cJSON *w = cJSON_Parse("{\"type\": \"rag\", \"rate\": 5, "
        "\"num_requests\": 400, \"system_tokens\": 48, \"chunks\": 4, "
        "\"corpus\": 50, \"zipf\": 1.2, \"chunk_tokens\": {\"dist\": "
        "\"uniform\", \"min\": 100, \"max\": 300}, \"question\": {\"dist\": "
        "\"fixed\", \"value\": 8}, \"output\": {\"dist\": \"fixed\", "
        "\"value\": 3}}");
    struct llm_diag d = { 0 };
    struct req_source *src = NULL;
    struct req_spec r;
    uint64_t first_hash[400], first_chunk[400], sys_hash = 0, ids[64];
    int32_t lens[64], count[64], nids = 0, n = 0, i, j, top = 0;
    bool eof = false;

    ck_assert_msg(source_open(w, "workload", 5, &src, &d) == LLM_OK, "%s",
                  d.msg);
    while (source_next(src, &r, &eof, &d) == LLM_OK && !eof) {
        int64_t sum = 0;
        ck_assert_int_eq(r.n_segs, 6);
        ck_assert_int_eq(r.segs[0].tokens, 48);
        ck_assert_int_eq(r.segs[5].id, 0);
        for (i = 0; i < r.n_segs; i++)
            sum += r.segs[i].tokens;
        ck_assert_int_eq(sum, r.prompt_tokens);
        for (i = 1; i < 5; i++) {
            for (j = i + 1; j < 5; j++)
                ck_assert(r.segs[i].id != r.segs[j].id);
            for (j = 0; j < nids && ids[j] != r.segs[i].id; j++)
                ;
            ck_assert_int_lt(j, 64);
            if (j == nids) {
                ids[nids] = r.segs[i].id;
                count[nids] = 0;
                lens[nids++] = r.segs[i].tokens;
            }
            ck_assert_int_eq(lens[j], r.segs[i].tokens);
            count[j]++;
        }
        ck_assert_int_eq(r.hash_block_tokens, 16);
        ck_assert_int_eq(r.n_block_hashes, (r.prompt_tokens + 15) / 16);
        if (n == 0)
            sys_hash = r.block_hashes[2];
        ck_assert(r.block_hashes[2] == sys_hash);   /* the system prompt */
        first_chunk[n] = r.segs[1].id;
        first_hash[n++] = r.block_hashes[3];  /* the first chunk's start */
    }
    ck_assert_int_eq(n, 400);
    for (i = 1; i < n; i++)
        ck_assert((first_chunk[i] == first_chunk[0]) ==
                  (first_hash[i] == first_hash[0]));
    ck_assert_int_le(nids, 50);
    for (j = 0; j < nids; j++)
        top = count[j] > top ? count[j] : top;
    /* Uniform draws would give each chunk 400 x 4 / 50 = 32. */
    ck_assert_int_gt(top, 4 * 32);
    source_close(src);
    cJSON_Delete(w);
}
END_TEST

/* Mistral-7B RAG prompts at low load over a corpus the store holds:
 * blending's mean TTFT is below prefix caching's, which is below full
 * prefill's, and blending saves more prefill tokens than prefix caching. */
START_TEST(test_run_beats_baselines)
{
    static const char *const kv[] = { "{\"name\": \"paged\"}",
        "{\"name\": \"prefix\"}", "{\"name\": \"blend\"}" };
    double ttft[3], saved[3];
    int k;

    for (k = 0; k < 3; k++) {
        static char buf[2048];
        struct llm_diag d = { 0 };
        struct scenario sc;
        struct run_opts o = { .out_dir = fx_path("out"), .quiet = 1 };
        cJSON *summary = NULL, *pc;

        snprintf(buf, sizeof(buf), "{\"name\": \"rag\", \"seed\": 1, "
            "\"model\": \"mistral-7b\", \"hardware\": {\"device\": "
            "\"rtx-a6000-48gb\"}, \"scheduler\": {\"name\": \"vllm-v0\"}, "
            "\"kv_cache\": %s, \"workload\": {\"type\": \"rag\", "
            "\"rate\": 0.5, \"num_requests\": 150, \"system_tokens\": 32, "
            "\"corpus\": 20, \"question\": {\"dist\": \"fixed\", "
            "\"value\": 30}, \"output\": {\"dist\": \"fixed\", "
            "\"value\": 4}}, \"output\": {\"dir\": \"%s/out\"}}", kv[k],
            fx_tmpdir);
        ck_assert_msg(scenario_load(fx_put("c.json", buf), NULL, &sc, &d) ==
                      LLM_OK, "%s", d.msg);
        ck_assert_msg(run_scenario(&sc, &o, &summary, NULL, &d) == LLM_OK,
                      "%s", d.msg);
        ttft[k] = cJSON_GetObjectItem(cJSON_GetObjectItem(summary,
                                      "ttft_ms"), "mean")->valuedouble;
        pc = cJSON_GetObjectItem(summary, "prefix_cache");
        saved[k] = pc ? cJSON_GetObjectItem(pc, "saved_prefill_tokens")
                        ->valuedouble : 0;
        scenario_free(&sc);
        cJSON_Delete(summary);
    }
    ck_assert_double_lt(ttft[1], ttft[0]);
    ck_assert_double_lt(ttft[2], 0.5 * ttft[1]);
    ck_assert_double_gt(saved[2], 2 * saved[1]);
}
END_TEST

Suite *blend_suite(void)
{
    Suite *s = suite_create("blend");
    TCase *t = tcase_create("core");

    tcase_add_checked_fixture(t, fx_setup, fx_teardown);
    tcase_set_timeout(t, 60);
    tcase_add_test(t, test_reuse_and_recompute);
    tcase_add_loop_test(t, test_ratio_extremes, 0, 2);
    tcase_add_test(t, test_lru_eviction);
    tcase_add_test(t, test_pipelined_iteration);
    tcase_add_loop_test(t, test_bad_config, 0,
                        (int)(sizeof(bad_cfg) / sizeof(bad_cfg[0])));
    tcase_add_test(t, test_rag_generator);
    tcase_add_test(t, test_run_beats_baselines);
    suite_add_tcase(s, t);
    return s;
}
