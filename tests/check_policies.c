/* Tests of the scheduling and routing policies: a scenario small enough
 * to compute by hand for each scheduler (a fixed iteration cost, as
 * tests/check_sim.c), the invariants every scheduler keeps, swap
 * accounting on the host link, fairness, priorities, the routers, and
 * the configuration errors. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "policies/common.h"
#include "policies/registry.h"
#include "sim/sim.h"
#include "tests/suites.h"

#define MS 1000000LL
#define MAX_DONE 256
#define MAX_ITERS 8192

struct iter_row {
    int64_t start_ns, end_ns, prefill_tokens, decode_seqs, stall_ns;
};

struct fixture {
    const struct req_spec *specs;
    size_t n, next;
    int64_t cost_ns;            /* per iteration */
    int64_t per_token_ns;       /* plus this per batch token */
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

static int src(void *ctx, struct req_spec *out, bool *eof,
               struct llm_diag *d)
{
    struct fixture *f = ctx;

    (void)d;
    if (f->next == f->n) {
        *eof = true;
        return LLM_OK;
    }
    *out = f->specs[f->next++];
    return LLM_OK;
}

static int cost(void *ctx, const struct batch *b, int64_t *ns)
{
    const struct fixture *f = ctx;

    *ns = f->cost_ns + f->per_token_ns * batch_tokens(b);
    return LLM_OK;
}

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
        .kv = &kv_paged, .kv_path = "kv_cache", .cost = cost,
        .cost_ctx = f };

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
        .source = src, .source_ctx = f, .rec = { f, on_req, on_iter } };
    struct llm_diag d = { 0 };
    const struct replica *r;
    struct sim_stats st;
    struct sim *s = NULL;

    ck_assert_msg(u->params == NULL || sp != NULL, "bad test JSON");
    f->kv_cap = rc.kv_capacity_blocks;
    ck_assert_msg(sim_create(&cfg, &s, &d) == LLM_OK, "%s", d.msg);
    ck_assert_msg(sim_run(s, &d) == LLM_OK, "%s", d.msg);
    st = *sim_get_stats(s);
    r = sim_replica(s, 0);
    ck_assert_int_eq(replica_kv_used(r), 0);
    ck_assert_int_eq(r->load_tokens, 0);
    ck_assert_int_eq(r->wait_tokens, 0);
    ck_assert_int_eq(r->host_blocks, 0);
    ck_assert_int_eq(st.completed + st.rejected, (int64_t)f->n);
    ck_assert_uint_eq(f->n_done, f->n);
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
    struct fixture f = { .specs = spec, .n = 2, .cost_ns = MS };
    struct setup u = { .sched = &sched_vllm, .kv_blocks = 8,
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
    struct fixture f = { .specs = spec, .n = 2, .cost_ns = MS };
    struct setup u = { .sched = &sched_vllm, .kv_blocks = 8,
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
    struct fixture f = { .specs = spec, .n = 2, .cost_ns = MS };
    /* 3 MB of host space: B's 4 blocks of 1 MB do not fit. */
    struct setup u = { .sched = &sched_vllm, .kv_blocks = 8,
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
    struct fixture f = { .specs = spec, .n = 2, .cost_ns = MS,
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
    struct fixture f = { .specs = spec, .n = 2, .cost_ns = MS,
                         .per_token_ns = 20000, .budget = 256 };
    struct fixture g = { .specs = spec, .n = 2, .cost_ns = MS,
                         .per_token_ns = 20000 };
    struct setup u = { .sched = &sched_sarathi,
                       .params = "{\"max_num_batched_tokens\": 256}" };
    struct setup v = { .sched = &sched_vllm };
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
    struct fixture f = { .specs = spec, .n = 2, .cost_ns = MS,
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
    struct fixture f = { .specs = spec, .n = 2, .cost_ns = MS,
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
    struct fixture f = { .specs = spec, .n = 3, .cost_ns = MS,
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
    struct fixture f = { .specs = spec, .n = 2, .cost_ns = MS };
    struct fixture g = f;
    struct setup u = { .sched = &sched_orca,
                       .params = "{\"reserve\": \"oracle\"}" };
    struct setup v = { .sched = &sched_vllm };

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
    struct fixture f = { .specs = spec, .n = 2, .cost_ns = MS };
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
    struct fixture f = { .specs = spec, .n = 3, .cost_ns = MS,
                         .per_token_ns = 1000 };
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
    struct fixture f = { .specs = spec, .n = 4, .cost_ns = MS,
                         .per_token_ns = 1000 };
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
    struct fixture f = { .specs = spec, .n = 2, .cost_ns = MS,
                         .per_token_ns = 1000 };
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
    struct fixture f = { .specs = spec, .n = 2, .cost_ns = MS,
                         .per_token_ns = 1000 };
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
    struct fixture f = { .specs = spec, .cost_ns = MS };
    struct fixture g;
    struct setup u = { .sched = &sched_fair, .host_link = true,
        .params = "{\"max_num_seqs\": 2, \"preempt\": false}" };
    struct setup v = { .sched = &sched_sarathi,
                       .params = "{\"max_num_seqs\": 2}" };
    int64_t fair_t1 = 0, fcfs_t1 = 0;
    size_t i;

    two_tenants(spec, &f.n);
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
    struct fixture f = { .specs = spec, .n = 3, .cost_ns = MS };
    struct setup u = { .sched = &sched_fair, .host_link = true,
        .params = "{\"max_num_seqs\": 2, \"quantum_iters\": 1}" };
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
    struct fixture f = { .specs = spec, .n = 3, .cost_ns = MS };
    struct fixture g = f, h = f;
    struct setup u = { .sched = &sched_fair, .host_link = true,
        .params = "{\"max_num_seqs\": 2, \"quantum_iters\": 1, "
                  "\"swap_group_blocks\": 8}" };
    struct setup v = { .sched = &sched_fair, .host_link = true,
        .params = "{\"max_num_seqs\": 2, \"quantum_iters\": 1, "
                  "\"swap_overlap\": true}" };
    struct setup w = { .sched = &sched_fair, .host_link = true,
        .params = "{\"max_num_seqs\": 2, \"quantum_iters\": 1}" };
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
    suite_add_tcase(s, tc);
    return s;
}
