/* Tests of the scheduling and routing policies: a scenario small enough
 * to compute by hand for each scheduler (a fixed iteration cost, as
 * tests/check_sim.c), the invariants every scheduler keeps, swap
 * accounting on the host link, fairness, priorities, the routers, and
 * the configuration errors. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policies/common.h"
#include "policies/registry.h"
#include "sim/sim.h"
#include "tests/fixture.h"
#include "tests/suites.h"

#define MS 1000000LL
#define MAX_DONE 256
#define MAX_ITERS 8192

struct iter_row {
    int64_t start_ns, end_ns, prefill_tokens, decode_seqs, stall_ns;
};

struct fixture {
    struct fx_trace tr;          /* requests and iteration cost */
    int64_t budget;             /* > 0: no iteration may exceed it */
    struct request done[MAX_DONE];
    size_t n_done;
    int64_t kv_cap;
    struct iter_row iters[MAX_ITERS];
    int64_t iterations, stall_ns, max_tokens;
    int64_t swap_out_blocks, swap_in_blocks;
};

/* What a test may change from the defaults of run(). */
struct setup {
    const struct sched_ops *sched;
    const char *params;          /* scheduler JSON, may be NULL */
    int64_t kv_blocks;           /* default 1000 */
    int32_t max_model_len;       /* default 4096 */
    bool host_link;              /* 1 MB blocks, 2 copies each, 1 GB/s,
                                    1 us per copy */
};

static int on_req(void *ctx, const struct request *q)
{
    struct fixture *f = ctx;

    ck_assert_uint_lt(f->n_done, MAX_DONE);
    f->done[f->n_done++] = *q;
    return LLM_OK;
}

static int on_iter(void *ctx, const struct iter_record *r)
{
    struct fixture *f = ctx;
    int64_t tokens = r->prefill_tokens + r->decode_seqs;

    ck_assert_int_ge(r->kv_blocks_used, 0);
    ck_assert_int_le(r->kv_blocks_used, f->kv_cap);
    ck_assert_int_gt(r->end_ns, r->start_ns);
    if (f->budget > 0)
        ck_assert_msg(tokens <= f->budget, "iteration at %lld ns: %lld "
                      "tokens over the budget %lld", (long long)r->start_ns,
                      (long long)tokens, (long long)f->budget);
    if (tokens > f->max_tokens)
        f->max_tokens = tokens;
    if (f->iterations < MAX_ITERS)
        f->iters[f->iterations] = (struct iter_row){ r->start_ns, r->end_ns,
            r->prefill_tokens, r->decode_seqs, r->stall_ns };
    f->iterations++;
    f->stall_ns += r->stall_ns;
    f->swap_out_blocks += r->swap_out_blocks;
    f->swap_in_blocks += r->swap_in_blocks;
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

static struct replica_config replica_cfg(const struct setup *u,
                                         struct fixture *f, const cJSON *sp)
{
    struct replica_config rc = { .index = 0,
        .kv_capacity_blocks = u->kv_blocks ? u->kv_blocks : 1000,
        .block_tokens = 16,
        .max_model_len = u->max_model_len ? u->max_model_len : 4096,
        .sched = u->sched, .sched_params = sp, .sched_path = "scheduler",
        .kv = &kv_paged, .kv_path = "kv_cache", .cost = fx_trace_cost,
        .cost_ctx = &f->tr };

    if (u->host_link) {
        rc.kv_block_bytes = 1e6;
        rc.kv_block_segments = 2;
        rc.host_bw_bytes_s = 1e9;
        rc.host_latency_ns = 1000;
    }
    return rc;
}

/* Runs the fixture on one replica and checks what every scheduler must
 * keep: everything finishes or is refused, the pools end empty, and the
 * replica's load counters return to zero. */
static struct sim_stats run(struct fixture *f, const struct setup *u)
{
    cJSON *sp = u->params ? cJSON_Parse(u->params) : NULL;
    struct replica_config rc = replica_cfg(u, f, sp);
    struct sim_config cfg = { .n_replicas = 1, .replicas = &rc,
        .router = &router_round_robin, .router_path = "router",
        .source = fx_trace_next, .source_ctx = &f->tr,
        .rec = { f, on_req, on_iter } };
    struct llm_diag d = { 0 };
    const struct replica *r;
    struct sim_stats st;
    struct sim *s = NULL;

    ck_assert_msg(u->params == NULL || sp != NULL, "bad test JSON");
    f->kv_cap = rc.kv_capacity_blocks;
    ck_assert_msg(sim_create(&cfg, &s, &d) == LLM_OK, "%s", d.msg);
    ck_assert_msg(sim_run(s, &d) == LLM_OK, "%s", d.msg);
    st = *sim_get_stats(s);
    r = &sim_replica(s, 0)->pub;
    ck_assert_int_eq(replica_kv_used(r), 0);
    ck_assert_int_eq(r->load_tokens, 0);
    ck_assert_int_eq(r->wait_tokens, 0);
    ck_assert_int_eq(r->host_blocks, 0);
    ck_assert_int_eq(st.completed + st.rejected, (int64_t)f->tr.n);
    ck_assert_uint_eq(f->n_done, f->tr.n);
    sim_destroy(s);
    cJSON_Delete(sp);
    return st;
}

/* The largest gap between consecutive tokens of one request: its TPOT
 * bound, from the iterations it was in (every decode iteration produces
 * one token for each running request here). */
static double tpot_ms(const struct request *q)
{
    return (double)(q->finish_ns - q->first_token_ns) /
           (double)(q->output_tokens - 1) / 1e6;
}

/* --- vllm: swap preemption ------------------------------------------- */

/* 8 blocks of 16 tokens, two 48-token prompts of 30 outputs, 1 ms per
 * iteration.  Both prefill at [0,1]; the decodes fill block 4 each; the
 * 17th decode (at 17 ms) needs A's 5th block: B, the newest, is swapped
 * out: 4 blocks = 8 copies x 1 us + 4 MB / 1 GB/s = 4.008 ms, which the
 * iteration waits for: [17, 22.008].  A decodes alone (B's 5 blocks do
 * not fit in the 3 free) and ends after its 29th decode at 34.008 ms;
 * then B is swapped in (4.008 ms) and decodes at [34.008, 39.016], then
 * 12 more: 51.016 ms. */
START_TEST(test_vllm_swap_hand)
{
    static const struct req_spec spec[] = {
        { .arrival_ns = 0, .prompt_tokens = 48, .output_tokens = 30 },
        { .arrival_ns = 0, .prompt_tokens = 48, .output_tokens = 30 },
    };
    struct fixture f = { .tr.specs = spec, .tr.n = 2, .tr.cost_ns = MS };
    struct setup u = { .sched = &sched_vllm_v0, .kv_blocks = 8,
        .params = "{\"watermark\": 0, \"preemption\": \"swap\"}",
        .host_link = true };
    struct sim_stats st = run(&f, &u);
    const struct request *a = find(&f, 0), *b = find(&f, 1);

    ck_assert_int_eq(a->finish_ns, 34008000);
    ck_assert_int_eq(b->finish_ns, 51016000);
    ck_assert_int_eq(a->preemptions, 0);
    ck_assert_int_eq(b->preemptions, 1);
    ck_assert_int_eq(b->swaps, 1);
    ck_assert_int_eq(b->generated, 30);
    ck_assert_int_eq(st.swap_out_blocks, 4);
    ck_assert_int_eq(st.swap_in_blocks, 4);
    ck_assert_double_eq(st.swap_out_bytes, 4e6);
    ck_assert_double_eq(st.swap_in_bytes, 4e6);
    ck_assert_int_eq(st.link_busy_ns, 2 * 4008000);
    ck_assert_int_eq(f.stall_ns, 2 * 4008000);
    ck_assert_int_eq(f.swap_out_blocks, 4);
    ck_assert_int_eq(f.swap_in_blocks, 4);
}
END_TEST

/* The same with recomputation: B re-prefills its 48 + 17 tokens instead,
 * no bytes move and nothing stalls. */
START_TEST(test_vllm_recompute_moves_nothing)
{
    static const struct req_spec spec[] = {
        { .arrival_ns = 0, .prompt_tokens = 48, .output_tokens = 30 },
        { .arrival_ns = 0, .prompt_tokens = 48, .output_tokens = 30 },
    };
    struct fixture f = { .tr.specs = spec, .tr.n = 2, .tr.cost_ns = MS };
    struct setup u = { .sched = &sched_vllm_v0, .kv_blocks = 8,
        .params = "{\"watermark\": 0}", .host_link = true };
    struct sim_stats st = run(&f, &u);

    ck_assert_int_eq(find(&f, 1)->preemptions, 1);
    ck_assert_int_eq(find(&f, 1)->swaps, 0);
    ck_assert_int_eq(st.swap_out_blocks, 0);
    ck_assert_int_eq(st.link_busy_ns, 0);
    ck_assert_int_eq(f.stall_ns, 0);
    /* A alone to its end at 30 ms, then B's recompute [30,31] and 12
     * decodes. */
    ck_assert_int_eq(find(&f, 0)->finish_ns, 30 * MS);
    ck_assert_int_eq(find(&f, 1)->finish_ns, 43 * MS);
}
END_TEST

/* With too little host space the victim is recomputed instead. */
START_TEST(test_vllm_swap_space_full_recomputes)
{
    static const struct req_spec spec[] = {
        { .arrival_ns = 0, .prompt_tokens = 48, .output_tokens = 30 },
        { .arrival_ns = 0, .prompt_tokens = 48, .output_tokens = 30 },
    };
    struct fixture f = { .tr.specs = spec, .tr.n = 2, .tr.cost_ns = MS };
    /* 3 MB of host space: B's 4 blocks of 1 MB do not fit. */
    struct setup u = { .sched = &sched_vllm_v0, .kv_blocks = 8,
        .params = "{\"watermark\": 0, \"preemption\": \"swap\", "
                  "\"swap_space_gib\": 0.0028}", .host_link = true };
    struct sim_stats st = run(&f, &u);

    ck_assert_int_eq(find(&f, 1)->preemptions, 1);
    ck_assert_int_eq(st.swap_out_blocks, 0);
    ck_assert_int_eq(find(&f, 1)->finish_ns, 43 * MS);
}
END_TEST

/* --- sarathi ---------------------------------------------------------- */

/* Budget 64, A (100 tokens) and B (20) at 0, 1 ms per iteration:
 * [0,1] A's first 64; [1,2] A's last 36 and B's 20 (both first tokens
 * at 2 ms); [2,3] both decode (B done); [3,4] A's last token. */
START_TEST(test_sarathi_hand)
{
    static const struct req_spec spec[] = {
        { .arrival_ns = 0, .prompt_tokens = 100, .output_tokens = 3 },
        { .arrival_ns = 0, .prompt_tokens = 20, .output_tokens = 2 },
    };
    struct fixture f = { .tr.specs = spec, .tr.n = 2, .tr.cost_ns = MS,
                         .budget = 64 };
    struct setup u = { .sched = &sched_sarathi,
                       .params = "{\"max_num_batched_tokens\": 64}" };

    run(&f, &u);
    ck_assert_int_eq(find(&f, 0)->first_token_ns, 2 * MS);
    ck_assert_int_eq(find(&f, 1)->first_token_ns, 2 * MS);
    ck_assert_int_eq(find(&f, 1)->finish_ns, 3 * MS);
    ck_assert_int_eq(find(&f, 0)->finish_ns, 4 * MS);
    ck_assert_int_eq(f.iters[0].prefill_tokens, 64);
    ck_assert_int_eq(f.iters[1].prefill_tokens, 56);
    ck_assert_int_eq(f.max_tokens, 64);
}
END_TEST

/* Stall-free: a 2000-token prompt arriving while A decodes.  vllm runs it
 * alone (1 ms + 20 us x 2000 = 41 ms between two of A's tokens); sarathi
 * splits it into 256-token chunks beside A's decodes, so A's tokens stay
 * at most 1 ms + 257 x 20 us = 6.14 ms apart. */
START_TEST(test_sarathi_stall_free)
{
    static const struct req_spec spec[] = {
        { .arrival_ns = 0, .prompt_tokens = 16, .output_tokens = 20 },
        { .arrival_ns = 3500000, .prompt_tokens = 2000, .output_tokens = 2 },
    };
    struct fixture f = { .tr.specs = spec, .tr.n = 2, .tr.cost_ns = MS,
                         .tr.per_token_ns = 20000, .budget = 256 };
    struct fixture g = { .tr.specs = spec, .tr.n = 2, .tr.cost_ns = MS,
                         .tr.per_token_ns = 20000 };
    struct setup u = { .sched = &sched_sarathi,
                       .params = "{\"max_num_batched_tokens\": 256}" };
    struct setup v = { .sched = &sched_vllm_v0 };
    int64_t i, worst = 0;

    run(&f, &u);
    run(&g, &v);
    for (i = 0; i < f.iterations; i++)
        if (f.iters[i].end_ns - f.iters[i].start_ns > worst)
            worst = f.iters[i].end_ns - f.iters[i].start_ns;
    ck_assert_int_le(worst, MS + 257 * 20000);
    ck_assert_double_lt(tpot_ms(find(&f, 0)), 6.14);
    ck_assert_double_gt(tpot_ms(find(&g, 0)), 41.0 / 19);
    /* The long prompt's first token comes later under sarathi. */
    ck_assert_int_gt(find(&f, 1)->first_token_ns,
                     find(&g, 1)->first_token_ns);
}
END_TEST

/* vLLM V1's order ("arrival"): an older request's chunk is planned before
 * a newer request's decode, so decodes can wait for the budget. */
START_TEST(test_sarathi_arrival_order)
{
    static const struct req_spec spec[] = {
        { .arrival_ns = 0, .prompt_tokens = 300, .output_tokens = 2 },
        { .arrival_ns = 0, .prompt_tokens = 10, .output_tokens = 3 },
    };
    struct fixture f = { .tr.specs = spec, .tr.n = 2, .tr.cost_ns = MS,
                         .budget = 128 };
    struct fixture g = f;
    struct setup u = { .sched = &sched_sarathi, .params =
        "{\"max_num_batched_tokens\": 128, \"order\": \"arrival\"}" };
    struct setup v = { .sched = &sched_sarathi,
                       .params = "{\"max_num_batched_tokens\": 128}" };

    /* [0,1] A 128; [1,2] A 128 (arrival) or B... B is admitted only when
     * budget is left: [2,3] A 44 + B 10: B's first token at 3 ms; then
     * B decodes [3,4] in both orders, A's decode too. */
    run(&f, &u);
    run(&g, &v);
    ck_assert_int_eq(find(&f, 1)->first_token_ns, 3 * MS);
    ck_assert_int_eq(find(&g, 1)->first_token_ns, 3 * MS);
    ck_assert_int_eq(find(&f, 1)->finish_ns, 5 * MS);
    ck_assert_int_eq(find(&g, 1)->finish_ns, 5 * MS);
}
END_TEST

/* --- vllm (V1) --------------------------------------------------------- */

/* Async scheduling (sim/replica.h async_lag), 1 ms iterations: A and C
 * (32-token prompts) start at 0, B waits (max_num_seqs 2).  A's second
 * and last token comes at 2 ms; V1 plans [2,3] while [1,2] runs, A still
 * holding its slot, so B starts only in [3,4] (first token at 4 ms).
 * Synchronous scheduling admits B at 2 ms (first token at 3 ms). */
START_TEST(test_v1_async_holds_slots)
{
    static const struct req_spec spec[] = {
        { .arrival_ns = 0, .prompt_tokens = 32, .output_tokens = 2 },
        { .arrival_ns = 0, .prompt_tokens = 32, .output_tokens = 10 },
        { .arrival_ns = 0, .prompt_tokens = 32, .output_tokens = 2 },
    };
    struct fixture f = { .tr.specs = spec, .tr.n = 3, .tr.cost_ns = MS };
    struct fixture g = f;
    struct setup u = { .sched = &sched_vllm, .params =
        "{\"max_num_batched_tokens\": 256, \"max_num_seqs\": 2}" };
    struct setup v = { .sched = &sched_vllm, .params =
        "{\"max_num_batched_tokens\": 256, \"max_num_seqs\": 2, "
        "\"async_scheduling\": false}" };

    run(&f, &u);
    run(&g, &v);
    ck_assert_int_eq(find(&f, 0)->finish_ns, 2 * MS);
    ck_assert_int_eq(find(&f, 2)->first_token_ns, 4 * MS);
    ck_assert_int_eq(find(&g, 2)->first_token_ns, 3 * MS);
}
END_TEST

/* An arrival while an iteration runs is invisible to the plan made when
 * it started: A (32 tokens, 3 outputs) at 0, B at 0.5 ms.  Async: [1,2]
 * is A's decode alone, B's prefill joins [2,3] (first token at 3 ms);
 * synchronous: [1,2] has B's prefill (first token at 2 ms). */
START_TEST(test_v1_async_cutoff)
{
    static const struct req_spec spec[] = {
        { .arrival_ns = 0, .prompt_tokens = 32, .output_tokens = 3 },
        { .arrival_ns = MS / 2, .prompt_tokens = 32, .output_tokens = 2 },
    };
    struct fixture f = { .tr.specs = spec, .tr.n = 2, .tr.cost_ns = MS };
    struct fixture g = f;
    struct setup u = { .sched = &sched_vllm };
    struct setup v = { .sched = &sched_vllm,
                       .params = "{\"async_scheduling\": false}" };

    run(&f, &u);
    run(&g, &v);
    ck_assert_int_eq(find(&f, 1)->first_token_ns, 3 * MS);
    ck_assert_int_eq(find(&g, 1)->first_token_ns, 2 * MS);
    ck_assert_int_eq(find(&f, 0)->finish_ns, 3 * MS);
    ck_assert_int_eq(find(&g, 0)->finish_ns, 3 * MS);
}
END_TEST

/* What the cost model is handed: each batch's padding and graph mode. */
struct launches {
    struct fx_trace tr;
    int64_t tokens[16], pad[16];
    enum batch_graph graph[16];
    int n;
};

static int record_launch(void *ctx, const struct batch *b, int64_t *ns)
{
    struct launches *l = ctx;

    if (l->n < 16) {
        l->tokens[l->n] = batch_tokens(b);
        l->pad[l->n] = b->pad_tokens;
        l->graph[l->n++] = b->graph;
    }
    *ns = MS;
    return LLM_OK;
}

static void run_launches(struct launches *l, const char *params)
{
    cJSON *sp = cJSON_Parse(params);
    struct replica_config rc = { .index = 0, .kv_capacity_blocks = 1000,
        .block_tokens = 16, .max_model_len = 4096, .sched = &sched_vllm,
        .sched_params = sp, .sched_path = "scheduler", .kv = &kv_paged,
        .kv_path = "kv_cache", .cost = record_launch, .cost_ctx = l };
    struct sim_config cfg = { .n_replicas = 1, .replicas = &rc,
        .router = &router_round_robin, .router_path = "router",
        .source = fx_trace_next, .source_ctx = &l->tr };
    struct llm_diag d = { 0 };
    struct sim *s = NULL;

    ck_assert_msg(sim_create(&cfg, &s, &d) == LLM_OK, "%s", d.msg);
    ck_assert_msg(sim_run(s, &d) == LLM_OK, "%s", d.msg);
    sim_destroy(s);
    cJSON_Delete(sp);
}

/* vLLM's capture sizes for max_num_seqs 256 and 8192 tokens (1, 2, 4, 8,
 * ..., 248, 256, 272, ..., 512): three 33-token prompts (99 tokens) run
 * the piecewise graph of 104, their three decodes the full graph of 4;
 * a 600-token prompt runs eagerly, unpadded; with cudagraph_mode
 * "piecewise" the decodes pad the same but run piecewise. */
START_TEST(test_v1_cudagraph_padding)
{
    static const struct req_spec spec[] = {
        { .arrival_ns = 0, .prompt_tokens = 33, .output_tokens = 2 },
        { .arrival_ns = 0, .prompt_tokens = 33, .output_tokens = 2 },
        { .arrival_ns = 0, .prompt_tokens = 33, .output_tokens = 2 },
        { .arrival_ns = 10 * MS, .prompt_tokens = 600, .output_tokens = 1 },
    };
    struct launches l = { .tr.specs = spec, .tr.n = 4 };
    struct launches m = l;

    run_launches(&l, "{\"max_num_seqs\": 256, "
                 "\"max_num_batched_tokens\": 8192}");
    ck_assert_int_eq(l.n, 3);
    ck_assert_int_eq(l.tokens[0], 99);
    ck_assert_int_eq(l.pad[0], 5);
    ck_assert_int_eq(l.graph[0], BATCH_GRAPH_PIECEWISE);
    ck_assert_int_eq(l.tokens[1], 3);
    ck_assert_int_eq(l.pad[1], 1);
    ck_assert_int_eq(l.graph[1], BATCH_GRAPH_FULL);
    ck_assert_int_eq(l.tokens[2], 600);
    ck_assert_int_eq(l.pad[2], 0);
    ck_assert_int_eq(l.graph[2], BATCH_GRAPH_NONE);
    run_launches(&m, "{\"max_num_batched_tokens\": 8192, "
                 "\"cudagraph_mode\": \"piecewise\", "
                 "\"cudagraph_capture_sizes\": [2, 1024, 6, 6]}");
    ck_assert_int_eq(m.pad[0], 1024 - 99);
    ck_assert_int_eq(m.pad[1], 3);
    ck_assert_int_eq(m.graph[1], BATCH_GRAPH_PIECEWISE);
    ck_assert_int_eq(m.pad[2], 1024 - 600);
}
END_TEST

/* vllm/engine/arg_utils.py _set_default_args for the API server. */
START_TEST(test_v1_device_defaults)
{
    double gib = 1073741824.0;

    ck_assert_int_eq(pol_v1_default_tokens(79.6 * gib,
                                           "NVIDIA H100 80GB HBM3"), 8192);
    ck_assert_int_eq(pol_v1_default_seqs(79.6 * gib,
                                         "NVIDIA H100 80GB HBM3", 8192), 1024);
    ck_assert_int_eq(pol_v1_default_tokens(80 * gib, "NVIDIA A100 SXM4 80GB"),
                     2048);
    ck_assert_int_eq(pol_v1_default_seqs(80 * gib, "NVIDIA A100 SXM4 80GB",
                                         2048), 256);
    ck_assert_int_eq(pol_v1_default_tokens(48 * gib, "NVIDIA RTX A6000"),
                     2048);
    ck_assert_int_eq(pol_v1_default_tokens(140 * gib, NULL), 8192);
    ck_assert_int_eq(pol_v1_default_seqs(140 * gib, NULL, 100), 100);
}
END_TEST

/* --- fastgen ---------------------------------------------------------- */

/* 10 blocks, budget 128: A (100 tokens, 7 blocks, 40 outputs) takes the
 * first pass; B (80 tokens) would need 5 blocks for its whole prompt and
 * only 3 are free, so fastgen does not start it until A ends (40 ms):
 * [40,41] B's prompt, [41,42] its decode; nothing is preempted.  sarathi
 * starts B's first chunk in the leftover 28 tokens and must preempt it. */
START_TEST(test_fastgen_hand)
{
    static const struct req_spec spec[] = {
        { .arrival_ns = 0, .prompt_tokens = 100, .output_tokens = 40 },
        { .arrival_ns = 0, .prompt_tokens = 80, .output_tokens = 2 },
    };
    struct fixture f = { .tr.specs = spec, .tr.n = 2, .tr.cost_ns = MS,
                         .budget = 128 };
    struct fixture g = f;
    struct setup u = { .sched = &sched_fastgen, .kv_blocks = 10,
                       .params = "{\"max_num_batched_tokens\": 128}" };
    struct setup v = { .sched = &sched_sarathi, .kv_blocks = 10, .params =
        "{\"max_num_batched_tokens\": 128, \"watermark\": 0}" };
    struct sim_stats st = run(&f, &u), st2;

    ck_assert_int_eq(st.preemptions, 0);
    ck_assert_int_eq(find(&f, 0)->first_token_ns, 1 * MS);
    ck_assert_int_eq(find(&f, 0)->finish_ns, 40 * MS);
    ck_assert_int_eq(find(&f, 1)->first_token_ns, 41 * MS);
    ck_assert_int_eq(find(&f, 1)->finish_ns, 42 * MS);
    st2 = run(&g, &v);
    ck_assert_int_ge(st2.preemptions, 1);
}
END_TEST

/* Short prompts are packed into one fixed-size pass, a long one split. */
START_TEST(test_fastgen_split_and_pack)
{
    static const struct req_spec spec[] = {
        { .arrival_ns = 0, .prompt_tokens = 300, .output_tokens = 1 },
        { .arrival_ns = 0, .prompt_tokens = 40, .output_tokens = 1 },
        { .arrival_ns = 0, .prompt_tokens = 30, .output_tokens = 1 },
    };
    struct fixture f = { .tr.specs = spec, .tr.n = 3, .tr.cost_ns = MS,
                         .budget = 128 };
    struct setup u = { .sched = &sched_fastgen,
                       .params = "{\"max_num_batched_tokens\": 128}" };

    /* [0,1] A 128; [1,2] A 128; [2,3] A 44 + B 40 + C 30 = 114. */
    run(&f, &u);
    ck_assert_int_eq(f.iters[0].prefill_tokens, 128);
    ck_assert_int_eq(f.iters[1].prefill_tokens, 128);
    ck_assert_int_eq(f.iters[2].prefill_tokens, 114);
    ck_assert_int_eq(find(&f, 2)->finish_ns, 3 * MS);
}
END_TEST

/* --- orca ------------------------------------------------------------- */

/* B arrives at 2.5 ms while A decodes: at 3 ms B's prefill joins A's last
 * decode in one iteration (vllm would run it alone first). */
START_TEST(test_orca_hand)
{
    static const struct req_spec spec[] = {
        { .arrival_ns = 0, .prompt_tokens = 32, .output_tokens = 4 },
        { .arrival_ns = 2500000, .prompt_tokens = 32, .output_tokens = 4 },
    };
    struct fixture f = { .tr.specs = spec, .tr.n = 2, .tr.cost_ns = MS };
    struct fixture g = f;
    struct setup u = { .sched = &sched_orca,
                       .params = "{\"reserve\": \"oracle\"}" };
    struct setup v = { .sched = &sched_vllm_v0 };

    run(&f, &u);
    ck_assert_int_eq(find(&f, 0)->finish_ns, 4 * MS);
    ck_assert_int_eq(find(&f, 1)->first_token_ns, 4 * MS);
    ck_assert_int_eq(find(&f, 1)->finish_ns, 7 * MS);
    run(&g, &v);
    ck_assert_int_eq(find(&g, 0)->finish_ns, 5 * MS);
}
END_TEST

/* Reserving max_model_len (64 tokens = 4 blocks) leaves room for one
 * request in 6 blocks; reserving the true length (20 tokens = 2 blocks)
 * for both. */
START_TEST(test_orca_reservation)
{
    static const struct req_spec spec[] = {
        { .arrival_ns = 0, .prompt_tokens = 16, .output_tokens = 4 },
        { .arrival_ns = 0, .prompt_tokens = 16, .output_tokens = 4 },
    };
    struct fixture f = { .tr.specs = spec, .tr.n = 2, .tr.cost_ns = MS };
    struct fixture g = f;
    struct setup u = { .sched = &sched_orca, .kv_blocks = 6,
                       .max_model_len = 64 };
    struct setup v = { .sched = &sched_orca, .kv_blocks = 6,
                       .max_model_len = 64,
                       .params = "{\"reserve\": \"oracle\"}" };
    struct sim_stats st = run(&f, &u);

    ck_assert_int_eq(st.preemptions, 0);
    ck_assert_int_eq(find(&f, 0)->finish_ns, 4 * MS);
    ck_assert_int_eq(find(&f, 1)->first_token_ns, 5 * MS);
    ck_assert_int_eq(find(&f, 1)->finish_ns, 8 * MS);
    run(&g, &v);
    ck_assert_int_eq(find(&g, 1)->finish_ns, 4 * MS);
}
END_TEST

/* --- static ----------------------------------------------------------- */

/* 1 ms + 1 us per token.  A (10 tokens, 2 outputs) and B (30, 4) form a
 * batch; C arrives at 0.5 ms and waits for the batch to end.  Prefill
 * padded to 2 x 30 = 60 tokens: [0, 1.06]; decodes of A and B:
 * [1.06, 2.062] (A done); B plus A's padding slot: [2.062, 3.064],
 * [3.064, 4.066] (B done); then C alone: 1.005 ms. */
START_TEST(test_static_hand)
{
    static const struct req_spec spec[] = {
        { .arrival_ns = 0, .prompt_tokens = 10, .output_tokens = 2 },
        { .arrival_ns = 0, .prompt_tokens = 30, .output_tokens = 4 },
        { .arrival_ns = 500000, .prompt_tokens = 5, .output_tokens = 1 },
    };
    struct fixture f = { .tr.specs = spec, .tr.n = 3, .tr.cost_ns = MS,
                         .tr.per_token_ns = 1000 };
    struct fixture g = f;
    struct setup u = { .sched = &sched_static };
    struct setup v = { .sched = &sched_static, .params = "{\"pad\": false}" };

    run(&f, &u);
    ck_assert_int_eq(find(&f, 0)->first_token_ns, 1060000);
    ck_assert_int_eq(find(&f, 0)->finish_ns, 2062000);
    ck_assert_int_eq(find(&f, 1)->finish_ns, 4066000);
    ck_assert_int_eq(find(&f, 2)->first_sched_ns, 4066000);
    ck_assert_int_eq(find(&f, 2)->finish_ns, 5071000);
    ck_assert_int_eq(f.iters[2].decode_seqs, 2);   /* B and a pad slot */
    /* Without padding: [0, 1.04], [1.04, 2.042], [2.042, 3.043],
     * [3.043, 4.044], C [4.044, 5.049]. */
    run(&g, &v);
    ck_assert_int_eq(find(&g, 1)->finish_ns, 4044000);
    ck_assert_int_eq(find(&g, 2)->finish_ns, 5049000);
}
END_TEST

/* --- prepack ---------------------------------------------------------- */

/* Budget 120, rows as long as the longest candidate (50).  The front A
 * (30) opens row 0; then longest first: B (50) opens row 1, C (20) fills
 * row 0; D (10) fits no row and a third would pass the budget: it waits
 * for the next prefill batch, although it is within the budget by
 * count. */
START_TEST(test_prepack_hand)
{
    static const struct req_spec spec[] = {
        { .arrival_ns = 0, .prompt_tokens = 30, .output_tokens = 1 },
        { .arrival_ns = 0, .prompt_tokens = 50, .output_tokens = 1 },
        { .arrival_ns = 0, .prompt_tokens = 20, .output_tokens = 1 },
        { .arrival_ns = 0, .prompt_tokens = 10, .output_tokens = 1 },
    };
    struct fixture f = { .tr.specs = spec, .tr.n = 4, .tr.cost_ns = MS,
                         .tr.per_token_ns = 1000 };
    struct setup u = { .sched = &sched_prepack,
                       .params = "{\"max_num_batched_tokens\": 120}" };

    run(&f, &u);
    ck_assert_int_eq(f.iters[0].prefill_tokens, 100);
    ck_assert_int_eq(find(&f, 0)->finish_ns, 1100000);
    ck_assert_int_eq(find(&f, 1)->finish_ns, 1100000);
    ck_assert_int_eq(find(&f, 2)->finish_ns, 1100000);
    ck_assert_int_eq(find(&f, 3)->finish_ns, 1100000 + 1010000);
}
END_TEST

/* A row's unused tail is padding: A (30) and B (45) in two rows of 45
 * cost 90 tokens. */
START_TEST(test_prepack_padding)
{
    static const struct req_spec spec[] = {
        { .arrival_ns = 0, .prompt_tokens = 30, .output_tokens = 1 },
        { .arrival_ns = 0, .prompt_tokens = 45, .output_tokens = 1 },
    };
    struct fixture f = { .tr.specs = spec, .tr.n = 2, .tr.cost_ns = MS,
                         .tr.per_token_ns = 1000 };
    struct setup u = { .sched = &sched_prepack,
                       .params = "{\"max_num_batched_tokens\": 100}" };

    run(&f, &u);
    ck_assert_int_eq(f.iterations, 1);
    ck_assert_int_eq(f.iters[0].prefill_tokens, 90);
    ck_assert_int_eq(find(&f, 1)->finish_ns, 1090000);
}
END_TEST

/* --- layered ---------------------------------------------------------- */

/* 4 layer groups, 1 ms + 1 us per token.  A's 16-token prefill alone:
 * each group costs the empty iteration plus a quarter of what the prefill
 * adds, 1 + 0.016 / 4 = 1.004 ms: first token at 4.016 ms.  B (400)
 * arrived at 2.5 ms starts then, beside A's decodes: 1.001 ms + 0.4 / 4
 * = 1.101 ms a group; its first token at 4.016 + 4 x 1.101 = 8.42 ms,
 * A's decodes one per group; [8.42, 9.422] both decode. */
START_TEST(test_layered_hand)
{
    static const struct req_spec spec[] = {
        { .arrival_ns = 0, .prompt_tokens = 16, .output_tokens = 6 },
        { .arrival_ns = 2500000, .prompt_tokens = 400, .output_tokens = 2 },
    };
    struct fixture f = { .tr.specs = spec, .tr.n = 2, .tr.cost_ns = MS,
                         .tr.per_token_ns = 1000 };
    struct setup u = { .sched = &sched_layered,
                       .params = "{\"layer_groups\": 4}" };

    run(&f, &u);
    ck_assert_int_eq(find(&f, 0)->first_token_ns, 4016000);
    ck_assert_int_eq(f.iters[4].end_ns - f.iters[4].start_ns, 1101000);
    ck_assert_int_eq(find(&f, 1)->first_token_ns, 8420000);
    ck_assert_int_eq(find(&f, 0)->finish_ns, 9422000);
    ck_assert_int_eq(find(&f, 1)->finish_ns, 9422000);
}
END_TEST

/* --- fair ------------------------------------------------------------- */

/* Tenant 0 queues 12 requests at once, tenant 1 three just after; two
 * sequences at a time.  FCFS (sarathi) serves tenant 1 last; VTC gives it
 * the next free slot, since its counter (lifted to tenant 0's least)
 * stays below tenant 0's. */
static void two_tenants(struct req_spec *spec, size_t *n)
{
    size_t i;

    for (i = 0; i < 12; i++)
        spec[i] = (struct req_spec){ .arrival_ns = 0, .prompt_tokens = 64,
                                     .output_tokens = 16, .tenant = 0 };
    for (i = 12; i < 15; i++)
        spec[i] = (struct req_spec){ .arrival_ns = 100, .prompt_tokens = 64,
                                     .output_tokens = 16, .tenant = 1 };
    *n = 15;
}

START_TEST(test_fair_no_starvation)
{
    struct req_spec spec[15];
    struct fixture f = { .tr.specs = spec, .tr.cost_ns = MS };
    struct fixture g;
    struct setup u = { .sched = &sched_fair, .host_link = true,
        .params = "{\"max_num_seqs\": 2, \"preempt\": false}" };
    struct setup v = { .sched = &sched_sarathi,
                       .params = "{\"max_num_seqs\": 2}" };
    int64_t fair_t1 = 0, fcfs_t1 = 0;
    size_t i;

    two_tenants(spec, &f.tr.n);
    g = f;
    run(&f, &u);
    run(&g, &v);
    for (i = 12; i < 15; i++) {
        fair_t1 = find(&f, (int64_t)i)->first_sched_ns > fair_t1 ?
                  find(&f, (int64_t)i)->first_sched_ns : fair_t1;
        fcfs_t1 = find(&g, (int64_t)i)->first_sched_ns > fcfs_t1 ?
                  find(&g, (int64_t)i)->first_sched_ns : fcfs_t1;
    }
    /* Under VTC tenant 1's three start within the first four slots'
     * worth of service; under FCFS after all 12 of tenant 0. */
    ck_assert_int_lt(fair_t1, find(&f, 11)->first_sched_ns);
    ck_assert_int_gt(fcfs_t1, find(&g, 11)->first_sched_ns - 1);
    ck_assert_int_lt(fair_t1, fcfs_t1 / 2);
}
END_TEST

/* Priority preemption: tenant 0 holds both slots with long outputs when
 * tenant 1 arrives; at the next quantum its request evicts tenant 0's
 * newest, by swapping (its counter, lifted to where tenant 0's stood when
 * its queue emptied, is below tenant 0's).  Every swapped request comes back and finishes,
 * and the bytes on the link match the blocks moved. */
START_TEST(test_fair_preempts_and_swaps)
{
    static const struct req_spec spec[] = {
        { .arrival_ns = 0, .prompt_tokens = 64, .output_tokens = 60 },
        { .arrival_ns = 0, .prompt_tokens = 64, .output_tokens = 60 },
        { .arrival_ns = 5 * MS, .prompt_tokens = 32, .output_tokens = 4,
          .tenant = 1 },
    };
    struct fixture f = { .tr.specs = spec, .tr.n = 3, .tr.cost_ns = MS };
    struct setup u = { .sched = &sched_fair, .host_link = true,
        .params = "{\"max_num_seqs\": 2, \"preempt_margin\": 0, \"quantum_iters\": 1}" };
    struct sim_stats st = run(&f, &u);
    const struct request *v = find(&f, 1), *c = find(&f, 2);

    ck_assert_int_ge(v->swaps, 1);
    ck_assert_int_eq(find(&f, 0)->swaps, 0);
    ck_assert_int_eq(v->generated, 60);
    ck_assert_int_lt(c->finish_ns, v->finish_ns);
    /* At 5 ms B (64 + 4 tokens: 5 blocks) is swapped out, 5 x (2 us +
     * 1 ms) = 5.01 ms, before the iteration with C's prefill: 11.01 ms. */
    ck_assert_int_eq(c->first_token_ns, 11010000);
    ck_assert_int_gt(st.swap_out_blocks, 0);
    ck_assert_int_eq(st.swap_out_blocks, st.swap_in_blocks);
    ck_assert_double_eq(st.swap_out_bytes, 1e6 * (double)st.swap_out_blocks);
    ck_assert_double_eq(st.swap_in_bytes, st.swap_out_bytes);
    /* 2 copies of 1 us per block plus 1 ms per MB, synchronous. */
    ck_assert_int_eq(st.link_busy_ns, (st.swap_out_blocks +
                     st.swap_in_blocks) * (2 * 1000 + MS));
    ck_assert_int_eq(f.stall_ns, st.link_busy_ns);
}
END_TEST

static int64_t total_swaps(const struct fixture *f)
{
    int64_t n = 0;
    size_t i;

    for (i = 0; i < f->n_done; i++)
        n += f->done[i].swaps;
    return n;
}

/* Larger swap groups need fewer copies: with groups of 8 blocks (no
 * request here holds more than 8) every transfer is 2 copies, against 2
 * per block; with overlap the iterations never wait for the link, and
 * the swapped-in request waits for its copy instead. */
START_TEST(test_fair_swap_granularity_and_overlap)
{
    static const struct req_spec spec[] = {
        { .arrival_ns = 0, .prompt_tokens = 64, .output_tokens = 60 },
        { .arrival_ns = 0, .prompt_tokens = 64, .output_tokens = 60 },
        { .arrival_ns = 5 * MS, .prompt_tokens = 32, .output_tokens = 4,
          .tenant = 1 },
    };
    struct fixture f = { .tr.specs = spec, .tr.n = 3, .tr.cost_ns = MS };
    struct fixture g = f, h = f;
    struct setup u = { .sched = &sched_fair, .host_link = true,
        .params = "{\"max_num_seqs\": 2, \"preempt_margin\": 0, \"quantum_iters\": 1, "
                  "\"swap_group_blocks\": 8}" };
    struct setup v = { .sched = &sched_fair, .host_link = true,
        .params = "{\"max_num_seqs\": 2, \"preempt_margin\": 0, \"quantum_iters\": 1, "
                  "\"swap_overlap\": true}" };
    struct setup w = { .sched = &sched_fair, .host_link = true,
        .params = "{\"max_num_seqs\": 2, \"preempt_margin\": 0, \"quantum_iters\": 1}" };
    struct sim_stats big = run(&f, &u), ovl = run(&g, &v), one = run(&h, &w);
    int64_t moved = big.swap_out_blocks + big.swap_in_blocks;

    ck_assert_int_gt(total_swaps(&f), 0);
    ck_assert_int_eq(big.link_busy_ns, 2 * total_swaps(&f) * 2 * 1000 +
                     moved * MS);
    moved = one.swap_out_blocks + one.swap_in_blocks;
    ck_assert_int_eq(one.link_busy_ns, moved * (2 * 1000 + MS));
    ck_assert_int_lt(big.link_busy_ns / (big.swap_out_blocks +
                     big.swap_in_blocks), one.link_busy_ns / moved);
    ck_assert_int_gt(ovl.swap_out_blocks, 0);
    ck_assert_int_eq(g.stall_ns, 0);
    ck_assert_int_gt(h.stall_ns, 0);
}
END_TEST

/* Overlapped swaps and the timed wake: max_num_seqs 1.  A (tenant 0)
 * decodes when B (tenant 1) arrives; at 3 ms A (66 tokens, 5 blocks) is
 * swapped out beside B's prefill (the link is busy [3, 8.01]); B is done
 * at 5 ms; A's swap-in queues behind its swap-out on the link, [8.01,
 * 13.02], and the idle replica sleeps until then: A's 7 remaining
 * decodes run [13.02, 20.02].  No iteration waited for the link. */
START_TEST(test_fair_overlap_timed_wake)
{
    static const struct req_spec spec[] = {
        { .arrival_ns = 0, .prompt_tokens = 64, .output_tokens = 10 },
        { .arrival_ns = 2500000, .prompt_tokens = 16, .output_tokens = 2,
          .tenant = 1 },
    };
    struct fixture f = { .tr.specs = spec, .tr.n = 2, .tr.cost_ns = MS };
    struct setup u = { .sched = &sched_fair, .host_link = true,
        .params = "{\"max_num_seqs\": 1, \"preempt_margin\": 0, \"quantum_iters\": 1, "
                  "\"swap_overlap\": true}" };
    struct sim_stats st = run(&f, &u);

    ck_assert_int_eq(find(&f, 1)->finish_ns, 5 * MS);
    ck_assert_int_eq(find(&f, 0)->swaps, 1);
    ck_assert_int_eq(find(&f, 0)->finish_ns, 20020000);
    ck_assert_int_eq(f.stall_ns, 0);
    ck_assert_int_eq(st.link_busy_ns, 2 * 5010000);
}
END_TEST

/* --- slo -------------------------------------------------------------- */

/* One sequence at a time: priorities 0, 5 and 2 arriving together are
 * served 5, 2, 0 (two 1 ms iterations each). */
START_TEST(test_slo_priorities)
{
    static const struct req_spec spec[] = {
        { .arrival_ns = 0, .prompt_tokens = 16, .output_tokens = 2 },
        { .arrival_ns = 0, .prompt_tokens = 16, .output_tokens = 2,
          .priority = 5 },
        { .arrival_ns = 0, .prompt_tokens = 16, .output_tokens = 2,
          .priority = 2 },
    };
    struct fixture f = { .tr.specs = spec, .tr.n = 3, .tr.cost_ns = MS };
    struct setup u = { .sched = &sched_slo,
                       .params = "{\"max_num_seqs\": 1}" };

    run(&f, &u);
    ck_assert_int_eq(find(&f, 1)->finish_ns, 2 * MS);
    ck_assert_int_eq(find(&f, 2)->finish_ns, 4 * MS);
    ck_assert_int_eq(find(&f, 0)->finish_ns, 6 * MS);
}
END_TEST

/* Equal deadlines: EDF keeps arrival order (the short B first); least
 * slack first serves the long A first, its prefill leaving it less
 * slack.  1 ms + 1 us per token. */
START_TEST(test_slo_edf_vs_lsf)
{
    static const struct req_spec spec[] = {
        { .arrival_ns = 0, .prompt_tokens = 10, .output_tokens = 2 },
        { .arrival_ns = 0, .prompt_tokens = 1000, .output_tokens = 2 },
    };
    struct fixture f = { .tr.specs = spec, .tr.n = 2, .tr.cost_ns = MS,
                         .tr.per_token_ns = 1000 };
    struct fixture g = f;
    struct setup u = { .sched = &sched_slo,
                       .params = "{\"max_num_seqs\": 1}" };
    struct setup v = { .sched = &sched_slo,
                       .params = "{\"max_num_seqs\": 1, \"order\": \"lsf\"}" };

    run(&f, &u);
    run(&g, &v);
    ck_assert_int_eq(find(&f, 0)->first_token_ns, 1010000);
    ck_assert_int_eq(find(&f, 1)->first_token_ns, 1010000 + 1001000 +
                     2000000);
    ck_assert_int_eq(find(&g, 1)->first_token_ns, 2000000);
    ck_assert_int_lt(find(&g, 1)->finish_ns, find(&g, 0)->first_token_ns);
}
END_TEST

/* A high-priority arrival evicts the low-priority request holding the
 * only slot: L decodes [0..4], is recomputed; H runs [4,6]; L re-prefills
 * its 16 + 4 tokens [6,7] and decodes 15 more: 22 ms.  Without
 * preemption H waits for L (20 ms). */
START_TEST(test_slo_priority_preemption)
{
    static const struct req_spec spec[] = {
        { .arrival_ns = 0, .prompt_tokens = 16, .output_tokens = 20 },
        { .arrival_ns = 3500000, .prompt_tokens = 16, .output_tokens = 2,
          .priority = 1 },
    };
    struct fixture f = { .tr.specs = spec, .tr.n = 2, .tr.cost_ns = MS };
    struct fixture g = f;
    struct setup u = { .sched = &sched_slo,
                       .params = "{\"max_num_seqs\": 1}" };
    struct setup v = { .sched = &sched_slo,
                       .params = "{\"max_num_seqs\": 1, \"preempt\": false}" };

    run(&f, &u);
    ck_assert_int_eq(find(&f, 1)->finish_ns, 6 * MS);
    ck_assert_int_eq(find(&f, 0)->preemptions, 1);
    ck_assert_int_eq(find(&f, 0)->generated, 20);
    ck_assert_int_eq(find(&f, 0)->finish_ns, 22 * MS);
    run(&g, &v);
    ck_assert_int_eq(find(&g, 1)->first_token_ns, 21 * MS);
}
END_TEST

/* --- invariants of every scheduler ------------------------------------ */

static const struct {
    const struct sched_ops *ops;
    const char *params;
    bool budgeted;             /* iterations stay within 256 tokens */
} every[] = {
    { &sched_vllm_v0, "{\"max_num_batched_tokens\": 256, \"max_num_seqs\": 32,"
      " \"preemption\": \"swap\", \"swap_space_gib\": 0.03}", true },
    { &sched_vllm_v0, "{\"max_num_batched_tokens\": 256, \"max_num_seqs\": 32}",
      true },
    { &sched_vllm, "{\"max_num_batched_tokens\": 256, \"max_num_seqs\": 32}",
      true },
    { &sched_vllm, "{\"max_num_batched_tokens\": 256, \"async_scheduling\": "
      "false, \"cudagraph_mode\": \"none\"}", true },
    { &sched_static, "{\"max_num_seqs\": 8, \"reserve\": \"oracle\"}",
      false },
    { &sched_orca, "{\"max_num_batched_tokens\": 256, \"max_num_seqs\": 32, "
      "\"reserve\": \"pow2\"}", true },
    { &sched_sarathi, "{\"max_num_batched_tokens\": 256, \"max_num_seqs\": "
      "32}", true },
    { &sched_sarathi, "{\"max_num_batched_tokens\": 256, \"order\": "
      "\"arrival\"}", true },
    { &sched_fastgen, "{\"max_num_batched_tokens\": 256}", true },
    { &sched_prepack, "{\"max_num_batched_tokens\": 256, \"max_num_seqs\": "
      "32}", true },
    { &sched_layered, "{\"max_num_batched_tokens\": 256, \"layer_groups\": "
      "3}", false },
    { &sched_fair, "{\"max_num_batched_tokens\": 256, \"max_num_seqs\": 8, "
      "\"quantum_iters\": 2, \"swap_group_blocks\": 4}", true },
    { &sched_fair, "{\"max_num_batched_tokens\": 256, \"swap_overlap\": "
      "true, \"preemption\": \"recompute\"}", true },
    { &sched_slo, "{\"max_num_batched_tokens\": 256, \"order\": \"lsf\"}",
      true },
};

/* 80 requests of 3 tenants and 3 priorities, prompts 10..250 tokens,
 * outputs 1..120, arriving every 0..3 ms, on a pool of 40 blocks (640
 * tokens): preemption is certain for those that preempt. */
START_TEST(test_invariants)
{
    struct req_spec spec[80];
    struct fixture *f = calloc(1, sizeof(*f));
    struct setup u = { .sched = every[_i].ops, .params = every[_i].params,
                       .kv_blocks = 40, .max_model_len = 512,
                       .host_link = true };
    struct sim_stats st;
    int64_t t = 0;
    size_t i;

    for (i = 0; i < 80; i++) {
        t += (int64_t)(i * 7919 % 4) * MS;
        spec[i] = (struct req_spec){ .arrival_ns = t,
            .prompt_tokens = 10 + (int32_t)(i * 37 % 241),
            .output_tokens = 1 + (int32_t)(i * 53 % 120),
            .tenant = (int32_t)(i % 3), .priority = (int32_t)(i * 5 % 3) };
    }
    *f = (struct fixture){ .tr.specs = spec, .tr.n = 80, .tr.cost_ns = MS,
                           .tr.per_token_ns = 2000,
                           .budget = every[_i].budgeted ? 256 : 0 };
    st = run(f, &u);
    ck_assert_int_gt(st.completed, 70);
    for (i = 0; i < f->n_done; i++) {
        const struct request *q = &f->done[i];
        if (q->rejected)
            continue;
        ck_assert_int_eq(q->generated, q->output_tokens);
        ck_assert_int_eq(q->host_blocks, 0);
        ck_assert_int_ge(q->first_token_ns, q->arrival_ns);
        ck_assert_int_ge(q->finish_ns, q->first_token_ns);
    }
    ck_assert_int_eq(st.swap_out_blocks, st.swap_in_blocks);
    ck_assert_double_eq(st.swap_out_bytes, 1e6 * (double)st.swap_out_blocks);
    free(f);
}
END_TEST

/* Those that preempt do preempt on this workload, so the resume paths
 * above were exercised. */
START_TEST(test_invariants_preempt)
{
    struct req_spec spec[80];
    struct fixture *f = calloc(1, sizeof(*f));
    struct setup u = { .sched = &sched_vllm_v0, .params = every[0].params,
                       .kv_blocks = 40, .max_model_len = 512,
                       .host_link = true };
    struct sim_stats st;
    int64_t t = 0;
    size_t i;

    for (i = 0; i < 80; i++) {
        t += (int64_t)(i * 7919 % 4) * MS;
        spec[i] = (struct req_spec){ .arrival_ns = t,
            .prompt_tokens = 10 + (int32_t)(i * 37 % 241),
            .output_tokens = 1 + (int32_t)(i * 53 % 120) };
    }
    *f = (struct fixture){ .tr.specs = spec, .tr.n = 80, .tr.cost_ns = MS,
                           .tr.per_token_ns = 2000 };
    st = run(f, &u);
    ck_assert_int_gt(st.swap_out_blocks, 0);
    ck_assert_int_gt(st.preemptions, 0);
    free(f);
}
END_TEST

/* --- routers ---------------------------------------------------------- */

static int null_cost(void *ctx, const struct batch *b, int64_t *ns)
{
    (void)ctx;
    (void)b;
    *ns = 1;
    return LLM_OK;
}

static int64_t cached_none(const void *st, const uint64_t *h, int32_t n)
{
    (void)st;
    (void)h;
    (void)n;
    return 0;
}

static int64_t cached_all(const void *st, const uint64_t *h, int32_t n)
{
    (void)st;
    (void)h;
    return n;
}

struct cluster {
    struct replica_core reps[4];
    const struct replica *views[4];  /* &reps[i].pub, as routers see them */
    int32_t n;
    void *router_st;
    const struct router_ops *ops;
};

static void cluster_open(struct cluster *c, int32_t n,
                         const struct router_ops *ops, const char *params,
                         uint64_t seed)
{
    cJSON *p = params ? cJSON_Parse(params) : NULL;
    struct llm_diag d = { 0 };
    int32_t i;

    memset(c, 0, sizeof(*c));
    c->n = n;
    c->ops = ops;
    for (i = 0; i < n; i++) {
        struct replica_config rc = { .index = i, .kv_capacity_blocks = 100,
            .block_tokens = 16, .max_model_len = 4096, .sched = &sched_vllm_v0,
            .sched_path = "scheduler", .kv = &kv_paged,
            .kv_path = "kv_cache", .cost = null_cost };
        ck_assert_int_eq(replica_init(&c->reps[i], &rc, &d), LLM_OK);
        c->views[i] = &c->reps[i].pub;
    }
    c->router_st = calloc(1, ops->state_size + 1);
    ck_assert_msg(ops->init(c->router_st, n, seed, p, "router", &d) ==
                  LLM_OK, "%s", d.msg);
    cJSON_Delete(p);
}

static void cluster_close(struct cluster *c)
{
    int32_t i;

    if (c->ops->fini)
        c->ops->fini(c->router_st);
    free(c->router_st);
    for (i = 0; i < c->n; i++)
        replica_fini(&c->reps[i]);
}

static int32_t route(struct cluster *c, const struct request *q)
{
    static const struct request none = { .session = -1 };
    int32_t i = c->ops->route(c->router_st, q ? q : &none, c->views, c->n);

    ck_assert_int_ge(i, 0);
    ck_assert_int_lt(i, c->n);
    return i;
}

START_TEST(test_router_least)
{
    struct cluster c;

    cluster_open(&c, 3, &router_least_outstanding, NULL, 0);
    c.reps[0].pub.n_waiting = 3;
    c.reps[1].pub.n_running = 1;
    c.reps[2].pub.n_swapped = 2;
    ck_assert_int_eq(route(&c, NULL), 1);
    c.reps[1].pub.n_waiting = 1;
    ck_assert_int_eq(route(&c, NULL), 1);   /* 2 and 2: the lower index */
    c.reps[0].pub.n_waiting = c.reps[1].pub.n_waiting = 0;
    c.reps[1].pub.n_running = 0;
    c.reps[2].pub.n_swapped = 0;
    cluster_close(&c);
    cluster_open(&c, 3, &router_least_tokens, NULL, 0);
    c.reps[0].pub.load_tokens = 100;
    c.reps[1].pub.load_tokens = 50;
    c.reps[2].pub.load_tokens = 70;
    ck_assert_int_eq(route(&c, NULL), 1);
    c.reps[0].pub.load_tokens = c.reps[1].pub.load_tokens = 0;
    c.reps[2].pub.load_tokens = 0;
    cluster_close(&c);
    /* KV load: replica 0 holds 50 of its 100 blocks, replica 1 has 40
     * blocks of prompts waiting, replica 2 holds 60. */
    cluster_open(&c, 3, &router_least_tokens, "{\"load\": \"kv\"}", 0);
    {
        struct request a = { 0 }, b = { 0 };
        ck_assert(replica_kv_grow(&c.reps[0].pub, &a, 50 * 16));
        ck_assert(replica_kv_grow(&c.reps[2].pub, &b, 60 * 16));
        c.reps[1].pub.wait_tokens = 40 * 16 - 3;
        ck_assert_int_eq(route(&c, NULL), 1);
        c.reps[1].pub.wait_tokens = 55 * 16;
        ck_assert_int_eq(route(&c, NULL), 0);
        c.reps[1].pub.wait_tokens = 0;
        c.reps[0].kv->release(c.reps[0].kv_p.st, &a);
        c.reps[2].kv->release(c.reps[2].kv_p.st, &b);
    }
    cluster_close(&c);
}
END_TEST

/* Uniform and reproducible: the same seed gives the same sequence. */
START_TEST(test_router_random)
{
    struct cluster c, e;
    int32_t counts[3] = { 0 }, i, same = 0;

    cluster_open(&c, 3, &router_random, NULL, 42);
    cluster_open(&e, 3, &router_random, NULL, 42);
    for (i = 0; i < 3000; i++) {
        int32_t k = route(&c, NULL);
        counts[k]++;
        same += k == route(&e, NULL);
    }
    ck_assert_int_eq(same, 3000);
    for (i = 0; i < 3; i++) {
        ck_assert_int_gt(counts[i], 900);
        ck_assert_int_lt(counts[i], 1100);
    }
    cluster_close(&e);
    cluster_open(&e, 3, &router_random, NULL, 43);
    for (i = same = 0; i < 100; i++)
        same += route(&c, NULL) == route(&e, NULL);
    ck_assert_int_lt(same, 60);
    cluster_close(&c);
    cluster_close(&e);
}
END_TEST

/* Of two distinct draws the less loaded wins, so the most loaded of four
 * replicas is never chosen, and the least loaded is chosen whenever
 * drawn (half the time). */
START_TEST(test_router_power_of_two)
{
    struct cluster c;
    int32_t i, counts[4] = { 0 };

    cluster_open(&c, 4, &router_power_of_two, NULL, 7);
    c.reps[0].pub.n_waiting = 5;
    c.reps[1].pub.n_waiting = 9;
    c.reps[2].pub.n_waiting = 2;
    c.reps[3].pub.n_waiting = 7;
    for (i = 0; i < 2000; i++)
        counts[route(&c, NULL)]++;
    ck_assert_int_eq(counts[1], 0);
    ck_assert_int_gt(counts[2], 900);
    ck_assert_int_lt(counts[2], 1100);
    for (i = 0; i < 4; i++)
        c.reps[i].pub.n_waiting = 0;
    cluster_close(&c);
}
END_TEST

/* Smooth weighted round robin with weights 1, 2, 1: the sequence 1, 0,
 * 2, 1 repeats; the replicas' own weights when the config has none; the
 * least load per weight. */
START_TEST(test_router_weighted)
{
    static const int32_t seq[] = { 1, 0, 2, 1, 1, 0, 2, 1 };
    struct cluster c;
    int32_t i, counts[3] = { 0 };

    cluster_open(&c, 3, &router_weighted, "{\"weights\": [1, 2, 1]}", 0);
    for (i = 0; i < 8; i++)
        ck_assert_int_eq(route(&c, NULL), seq[i]);
    cluster_close(&c);
    cluster_open(&c, 3, &router_weighted, NULL, 0);
    c.reps[0].pub.weight = 3;
    for (i = 0; i < 500; i++)
        counts[route(&c, NULL)]++;
    ck_assert_int_eq(counts[0], 300);
    ck_assert_int_eq(counts[1], 100);
    ck_assert_int_eq(counts[2], 100);
    cluster_close(&c);
    cluster_open(&c, 3, &router_weighted,
                 "{\"policy\": \"least_load\", \"weights\": [4, 1, 1]}", 0);
    c.reps[0].pub.load_tokens = 300;    /* 75 per weight */
    c.reps[1].pub.load_tokens = 100;
    c.reps[2].pub.load_tokens = 80;
    ck_assert_int_eq(route(&c, NULL), 0);
    c.reps[0].pub.load_tokens = 400;    /* 100 */
    ck_assert_int_eq(route(&c, NULL), 2);
    for (i = 0; i < 3; i++)
        c.reps[i].pub.load_tokens = 0;
    cluster_close(&c);
}
END_TEST

/* Same first prefix block, same replica; a KV manager that reports the
 * prefix wins; an unbalanced cluster goes to the least loaded; without
 * hashes the session pins. */
START_TEST(test_router_prefix_affinity)
{
    static const uint64_t h1[] = { 11, 12, 13, 14 }, h2[] = { 21, 22 },
                          h3[] = { 11, 99 };
    struct kv_ops none = kv_paged, all = kv_paged;
    struct request q = { .session = -1, .block_hashes = h1,
                         .n_block_hashes = 4 };
    struct request r2 = { .session = -1, .block_hashes = h2,
                          .n_block_hashes = 2 };
    struct request r3 = { .session = -1, .block_hashes = h3,
                          .n_block_hashes = 2 };
    struct request s1 = { .session = 77 }, s2 = { .session = 77 };
    struct cluster c;
    int32_t a, i, seen[4] = { 0 };

    cluster_open(&c, 4, &router_prefix_affinity, NULL, 0);
    a = route(&c, &q);
    ck_assert_int_eq(route(&c, &r3), a);
    ck_assert_int_eq(route(&c, &s1), route(&c, &s2));
    for (i = 0; i < 64; i++) {
        uint64_t h = (uint64_t)i * 1000003u;
        struct request x = { .session = -1, .block_hashes = &h,
                             .n_block_hashes = 1 };
        seen[route(&c, &x)]++;
    }
    for (i = 0; i < 4; i++)
        ck_assert_int_gt(seen[i], 4);
    (void)r2;
    none.cached_prefix = cached_none;
    all.cached_prefix = cached_all;
    for (i = 0; i < 4; i++)
        c.reps[i].kv = &none;
    c.reps[(a + 1) % 4].kv = &all;
    ck_assert_int_eq(route(&c, &q), (a + 1) % 4);
    c.reps[(a + 1) % 4].pub.n_waiting = 40;     /* 40 - 0 > 32, 40 > 1.1 x 0 */
    ck_assert_int_eq(route(&c, &q), a == 0 ? 1 : 0);
    c.reps[(a + 1) % 4].pub.n_waiting = 0;
    for (i = 0; i < 4; i++)
        c.reps[i].kv = &kv_paged;
    cluster_close(&c);
}
END_TEST

/* --- configuration errors --------------------------------------------- */

static const char *init_err(const struct sched_ops *ops, const char *json)
{
    static char msg[512];
    cJSON *p = cJSON_Parse(json);
    void *st = calloc(1, ops->state_size + 1);
    struct llm_diag d = { 0 };

    ck_assert_ptr_nonnull(p);
    ck_assert_int_ne(ops->init(st, p, "scheduler", &d), LLM_OK);
    ck_assert_int_eq(d.code, LLM_EINVAL);
    snprintf(msg, sizeof(msg), "%s", d.msg);
    cJSON_Delete(p);
    free(st);
    return msg;
}

static const char *router_err(const struct router_ops *ops, const char *json)
{
    static char msg[512];
    cJSON *p = cJSON_Parse(json);
    void *st = calloc(1, ops->state_size + 1);
    struct llm_diag d = { 0 };

    ck_assert_ptr_nonnull(p);
    ck_assert_int_ne(ops->init(st, 3, 0, p, "router", &d), LLM_OK);
    snprintf(msg, sizeof(msg), "%s", d.msg);
    cJSON_Delete(p);
    free(st);
    return msg;
}

START_TEST(test_config_errors)
{
    ck_assert_str_eq(init_err(&sched_sarathi, "{\"order\": \"lifo\"}"),
        "scheduler.order: expected one of \"decodes_first\", \"arrival\", "
        "got \"lifo\"");
    ck_assert_str_eq(init_err(&sched_vllm_v0, "{\"preemption\": \"both\"}"),
        "scheduler.preemption: expected one of \"recompute\", \"swap\", "
        "got \"both\"");
    ck_assert_str_eq(init_err(&sched_orca, "{\"reserve\": \"all\"}"),
        "scheduler.reserve: expected one of \"max\", \"oracle\", \"pow2\", "
        "got \"all\"");
    ck_assert_str_eq(init_err(&sched_fair,
        "{\"tenant_weights\": [1, 0]}"),
        "scheduler.tenant_weights[1]: expected a number > 0");
    ck_assert_str_eq(init_err(&sched_layered, "{\"layer_groups\": 0}"),
        "scheduler.layer_groups: expected an integer in [1, 1024], got 0");
    ck_assert(strncmp(init_err(&sched_vllm_v0, "{\"swap_overlap\": true}"),
        "scheduler.swap_overlap: unknown key", 35) == 0);
    ck_assert(strncmp(init_err(&sched_vllm, "{\"watermark\": 0.01}"),
        "scheduler.watermark: unknown key (known: name, max_num_seqs", 59)
        == 0);
    ck_assert_str_eq(init_err(&sched_vllm,
        "{\"cudagraph_capture_sizes\": []}"),
        "scheduler.cudagraph_capture_sizes: expected at least one size");
    ck_assert_str_eq(init_err(&sched_vllm,
        "{\"cudagraph_capture_sizes\": [8, 0.5]}"),
        "scheduler.cudagraph_capture_sizes: expected at most 128 integers "
        "in [1, 1048576]");
    ck_assert_str_eq(init_err(&sched_vllm, "{\"cudagraph_mode\": \"full\"}"),
        "scheduler.cudagraph_mode: expected one of \"full_and_piecewise\", "
        "\"piecewise\", \"full_decode_only\", \"none\", got \"full\"");
    ck_assert_str_eq(router_err(&router_weighted, "{\"weights\": [1, 2]}"),
        "router.weights: expected 3 numbers (one per replica), got 2");
    ck_assert_str_eq(router_err(&router_weighted, "{\"weights\": [1, 2, -1]}"),
        "router.weights[2]: expected a number > 0");
    ck_assert_str_eq(router_err(&router_least_tokens, "{\"load\": \"x\"}"),
        "router.load: expected one of \"requests\", \"tokens\", \"kv\", "
        "got \"x\"");
    ck_assert_str_eq(router_err(&router_least_tokens,
        "{\"load\": \"requests\"}"), "router.load: expected \"tokens\" or "
        "\"kv\" (least_outstanding counts requests), got \"requests\"");
}
END_TEST

/* Errors that need the replica come from sim_create, naming the key. */
START_TEST(test_attach_errors)
{
    static const struct req_spec spec[] = {
        { .arrival_ns = 0, .prompt_tokens = 16, .output_tokens = 2 },
    };
    struct fixture f = { .tr.specs = spec, .tr.n = 1, .tr.cost_ns = MS };
    struct setup u = { .sched = &sched_fair };
    cJSON *sp = cJSON_Parse("{\"max_num_batched_tokens\": 100, "
                            "\"bin_tokens\": 200}");
    struct replica_config rc = replica_cfg(&u, &f, NULL);
    struct sim_config cfg = { .n_replicas = 1, .replicas = &rc,
        .router = &router_round_robin, .router_path = "router",
        .source = fx_trace_next, .source_ctx = &f.tr,
        .rec = { &f, on_req, on_iter } };
    struct llm_diag d = { 0 };
    struct sim *s = NULL;

    ck_assert_int_eq(sim_create(&cfg, &s, &d), LLM_EINVAL);
    ck_assert_str_eq(d.msg, "scheduler.preemption: \"swap\" needs the "
                     "device's host link and the KV block size, and replica "
                     "0 has none");
    memset(&d, 0, sizeof(d));
    rc.sched = &sched_prepack;
    rc.sched_params = sp;
    ck_assert_int_eq(sim_create(&cfg, &s, &d), LLM_EINVAL);
    ck_assert_str_eq(d.msg, "scheduler.bin_tokens: 200 exceeds the token "
                     "budget (max_num_batched_tokens) 100");
    cJSON_Delete(sp);
}
END_TEST

/* A scheduler whose state owns memory (as sched_fair's tenants do),
 * counting its live states: the test's only bookkeeping. */
static int owning_live;

struct owning {
    void *buf;
};

static int owning_init(void *st, const cJSON *params, const char *path,
                       struct llm_diag *d)
{
    struct owning *o = st;

    (void)params;
    (void)path;
    if ((o->buf = malloc(64)) == NULL)
        return diag_set(d, LLM_ENOMEM, "out of memory");
    owning_live++;
    return LLM_OK;
}

static int owning_schedule(void *st, struct replica *r, int64_t now_ns)
{
    (void)st;
    (void)r;
    (void)now_ns;
    return LLM_OK;
}

static void owning_fini(void *st)
{
    free(((struct owning *)st)->buf);
    owning_live--;
}

static const struct sched_ops sched_owning = {
    .name = "owning", .state_size = sizeof(struct owning),
    .init = owning_init, .schedule = owning_schedule, .fini = owning_fini,
};

/* replica_init stops what it started when a later step fails: the KV
 * manager's init (an unknown key), or its attach (tiers without a host
 * link), after the scheduler's init leaves no scheduler state alive (and
 * nothing for make SAN=1's leak check). */
START_TEST(test_replica_init_cleanup)
{
    cJSON *bad = cJSON_Parse("{\"bogus\": 1}");
    cJSON *tiered = cJSON_Parse("{\"name\": \"tiered\"}");
    struct replica_config rc = { .kv_capacity_blocks = 100,
        .block_tokens = 16, .max_model_len = 4096, .sched = &sched_owning,
        .sched_path = "scheduler", .kv = &kv_paged, .kv_params = bad,
        .kv_path = "kv_cache", .cost = null_cost };
    struct replica_core r;
    struct llm_diag d = { 0 };

    ck_assert_int_eq(replica_init(&r, &rc, &d), LLM_EINVAL);
    ck_assert_int_eq(owning_live, 0);
    memset(&d, 0, sizeof(d));
    rc.kv = &kv_tiered;
    rc.kv_params = tiered;
    ck_assert_int_eq(replica_init(&r, &rc, &d), LLM_EINVAL);
    ck_assert_ptr_nonnull(strstr(d.msg, "needs the device's host link"));
    ck_assert_int_eq(owning_live, 0);
    memset(&d, 0, sizeof(d));
    rc.kv = &kv_paged;
    rc.kv_params = NULL;
    ck_assert_msg(replica_init(&r, &rc, &d) == LLM_OK, "%s", d.msg);
    ck_assert_int_eq(owning_live, 1);
    replica_fini(&r);
    ck_assert_int_eq(owning_live, 0);
    cJSON_Delete(bad);
    cJSON_Delete(tiered);
}
END_TEST

Suite *policies_suite(void)
{
    Suite *s = suite_create("policies");
    TCase *tc = tcase_create("schedulers");

    tcase_add_test(tc, test_vllm_swap_hand);
    tcase_add_test(tc, test_vllm_recompute_moves_nothing);
    tcase_add_test(tc, test_vllm_swap_space_full_recomputes);
    tcase_add_test(tc, test_sarathi_hand);
    tcase_add_test(tc, test_sarathi_stall_free);
    tcase_add_test(tc, test_sarathi_arrival_order);
    tcase_add_test(tc, test_v1_async_holds_slots);
    tcase_add_test(tc, test_v1_async_cutoff);
    tcase_add_test(tc, test_v1_cudagraph_padding);
    tcase_add_test(tc, test_v1_device_defaults);
    tcase_add_test(tc, test_fastgen_hand);
    tcase_add_test(tc, test_fastgen_split_and_pack);
    tcase_add_test(tc, test_orca_hand);
    tcase_add_test(tc, test_orca_reservation);
    tcase_add_test(tc, test_static_hand);
    tcase_add_test(tc, test_prepack_hand);
    tcase_add_test(tc, test_prepack_padding);
    tcase_add_test(tc, test_layered_hand);
    tcase_add_test(tc, test_fair_no_starvation);
    tcase_add_test(tc, test_fair_preempts_and_swaps);
    tcase_add_test(tc, test_fair_swap_granularity_and_overlap);
    tcase_add_test(tc, test_fair_overlap_timed_wake);
    tcase_add_test(tc, test_slo_priorities);
    tcase_add_test(tc, test_slo_edf_vs_lsf);
    tcase_add_test(tc, test_slo_priority_preemption);
    tcase_add_loop_test(tc, test_invariants, 0,
                        (int)(sizeof(every) / sizeof(every[0])));
    tcase_add_test(tc, test_invariants_preempt);
    suite_add_tcase(s, tc);
    tc = tcase_create("routers");
    tcase_add_test(tc, test_router_least);
    tcase_add_test(tc, test_router_random);
    tcase_add_test(tc, test_router_power_of_two);
    tcase_add_test(tc, test_router_weighted);
    tcase_add_test(tc, test_router_prefix_affinity);
    suite_add_tcase(s, tc);
    tc = tcase_create("config");
    tcase_add_test(tc, test_config_errors);
    tcase_add_test(tc, test_attach_errors);
    tcase_add_test(tc, test_replica_init_cleanup);
    suite_add_tcase(s, tc);
    return s;
}
