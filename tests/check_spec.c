/* Tests of speculative decoding (sim/spec.h, run/spec_wire.h): the
 * config's errors, the acceptance models (geometric, per position,
 * histogram, RSD's tree), the draws' statistics and determinism, the
 * step's price for each method against hand computations, the replica's
 * tokens, inter-token gaps and KV slots with fixed costs, and end-to-end
 * runs: alpha 0 loses, alpha 1 emits k + 1 tokens a step, the speedup
 * falls with the batch and goes below 1 on a compute-bound batch. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "run/run.h"
#include "run/scenario.h"
#include "policies/registry.h"
#include "base/jcfg.h"
#include "sim/sim.h"
#include "sim/spec.h"
#include "tests/fixture.h"
#include "tests/suites.h"

static int parse(const char *text, struct spec_config *c,
                 struct llm_diag *d)
{
    struct spec_names nm;
    cJSON *o = cJSON_Parse(text);
    int rc;

    ck_assert_ptr_nonnull(o);
    rc = spec_parse(o, "speculative", c, &nm, d);
    cJSON_Delete(o);
    return rc;
}

static const struct { const char *json, *msg; } bad[] = {
    { "{\"method\": \"medusa\", \"k\": 2, \"acceptance\": 0.5}",
      "speculative.method: expected one of \"draft\", \"eagle\", \"rsd\", "
      "\"mirror\", got \"medusa\"" },
    { "{\"method\": \"draft\", \"draft_model\": \"m\", \"acceptance\": 0.5}",
      "speculative.k: missing (expected an integer in [1, 16])" },
    { "{\"method\": \"draft\", \"draft_model\": \"m\", \"k\": 2, "
      "\"acceptance\": [0.5, 0.6]}",
      "speculative.acceptance: expected 2 per-position rates in [0, 1], "
      "each at most the one before" },
    { "{\"method\": \"draft\", \"draft_model\": \"m\", \"k\": 2, "
      "\"acceptance\": [0.5]}",
      "speculative.acceptance: expected 2 per-position rates in [0, 1], "
      "each at most the one before" },
    { "{\"method\": \"draft\", \"draft_model\": \"m\", \"k\": 2, "
      "\"acceptance\": {\"histogram\": [0.5, 0.4, 0.2]}}",
      "speculative.acceptance.histogram: expected 3 probabilities >= 0 of "
      "0 to 2 accepted drafts, summing to 1" },
    { "{\"method\": \"draft\", \"draft_model\": \"m\", \"k\": 2, "
      "\"acceptance\": 1.5}",
      "speculative.acceptance: expected a number in [0, 1], got 1.5" },
    { "{\"method\": \"rsd\", \"draft_model\": \"m\", \"k\": 2, "
      "\"tree\": [2], \"acceptance\": 0.5}",
      "speculative.k: not with method \"rsd\" (the tree's levels are its "
      "depth)" },
    { "{\"method\": \"rsd\", \"draft_model\": \"m\", \"tree\": [2, 0], "
      "\"acceptance\": 0.5}",
      "speculative.tree: expected 1 to 16 branching factors, integers in "
      "[1, 64]" },
    { "{\"method\": \"draft\", \"draft_model\": \"m\", \"k\": 2, "
      "\"acceptance\": 0.5, \"early_exit\": 0.5}",
      "speculative.early_exit: only with method \"mirror\"" },
    { "{\"method\": \"eagle\", \"draft_model\": \"m\", \"k\": 2, "
      "\"acceptance\": 0.5}",
      "speculative.draft_model: not with method \"eagle\" (its drafter is "
      "one layer of the target and the target's LM head)" },
    { "{\"method\": \"mirror\", \"draft_model\": \"m\", \"k\": 2, "
      "\"acceptance\": 0.5, \"draft_device\": \"x\", \"early_exit\": 0.5}",
      "speculative.reuse: missing (expected a number in [0, 1])" },
    { "{\"method\": \"draft\", \"draft_model\": \"m\", \"k\": 2, "
      "\"acceptance\": 0.5, \"alpha\": 0.5}",
      "speculative.alpha: unknown key (known: method, draft_model, k, tree, "
      "acceptance, draft_tp, draft_cost_model, draft_device, link, "
      "early_exit, branches, stream, reuse, token_bytes)" },
};

START_TEST(test_parse_errors)
{
    struct spec_config c;
    struct llm_diag d = { 0 };

    ck_assert_int_eq(parse(bad[_i].json, &c, &d), LLM_EINVAL);
    ck_assert_str_eq(d.msg, bad[_i].msg);
}
END_TEST

START_TEST(test_acceptance_models)
{
    struct spec_config c;
    struct llm_diag d = { 0 };

    /* Leviathan et al.: P(A >= i) = alpha^i; E = sum = 0.8 + .64 + .512 */
    ck_assert_int_eq(parse("{\"method\": \"draft\", \"draft_model\": \"m\", "
                           "\"k\": 3, \"acceptance\": 0.8}", &c, &d), 0);
    ck_assert_int_eq(c.nodes, 3);
    ck_assert_double_eq_tol(c.p_ge[3], 0.512, 1e-12);
    ck_assert_double_eq_tol(spec_expected_accepted(&c), 1.952, 1e-12);
    /* vLLM's per-position rates are P(A >= i) themselves. */
    ck_assert_int_eq(parse("{\"method\": \"eagle\", \"k\": 3, "
                           "\"acceptance\": [0.9, 0.6, 0.6]}", &c, &d), 0);
    ck_assert_double_eq_tol(spec_expected_accepted(&c), 2.1, 1e-12);
    /* A histogram of 0..2 accepted: P(A >= 1) = .3 + .5, P(A >= 2) = .5 */
    ck_assert_int_eq(parse("{\"method\": \"draft\", \"draft_model\": \"m\", "
                           "\"k\": 2, \"acceptance\": {\"histogram\": "
                           "[0.2, 0.3, 0.5]}}", &c, &d), 0);
    ck_assert_double_eq_tol(c.p_ge[1], 0.8, 1e-12);
    ck_assert_double_eq_tol(c.p_ge[2], 0.5, 1e-12);
}
END_TEST

/* RSD's tree (2, 1) over a chain of alpha 0.5: level 1 of two distinct
 * siblings is accepted with 1 - 0.5^2 = 0.75, level 2 then with 0.5; the
 * verify holds 2 + 2 x 1 = 4 drafts. */
START_TEST(test_rsd_tree)
{
    struct spec_config c;
    struct llm_diag d = { 0 };

    ck_assert_int_eq(parse("{\"method\": \"rsd\", \"draft_model\": \"m\", "
                           "\"tree\": [2, 1], \"acceptance\": 0.5}", &c, &d),
                     0);
    ck_assert_int_eq(c.depth, 2);
    ck_assert_int_eq(c.nodes, 4);
    ck_assert_double_eq_tol(c.p_ge[1], 0.75, 1e-12);
    ck_assert_double_eq_tol(c.p_ge[2], 0.375, 1e-12);
    /* More accepted than the chain of the same depth (0.5 + 0.25). */
    ck_assert(spec_expected_accepted(&c) > 0.75);
}
END_TEST

static struct spec_config chain(int32_t k, double alpha)
{
    struct spec_config c = { .method = SPEC_DRAFT, .depth = k, .nodes = k,
                             .seed = 42 };
    int32_t i;

    c.p_ge[0] = 1;
    for (i = 1; i <= k; i++)
        c.p_ge[i] = c.p_ge[i - 1] * alpha;
    return c;
}

/* The draws follow the model: alpha 1 accepts all, 0 none, and the mean
 * of 200,000 draws is within 1% of sum alpha^i. */
START_TEST(test_accept_draws)
{
    struct spec_config c1 = chain(4, 1), c0 = chain(4, 0), c = chain(4, 0.7);
    struct spec *s1 = spec_create(&c1, 0), *s0 = spec_create(&c0, 0);
    struct spec *s = spec_create(&c, 0);
    double sum = 0;
    int i;

    for (i = 0; i < 1000; i++) {
        ck_assert_int_eq(spec_accept(s1, 4), 4);
        ck_assert_int_eq(spec_accept(s0, 4), 0);
        ck_assert_int_le(spec_accept(s1, 2), 2);
    }
    for (i = 0; i < 200000; i++)
        sum += spec_accept(s, 4);
    ck_assert_double_eq_tol(sum / 200000, spec_expected_accepted(&c),
                            0.01 * spec_expected_accepted(&c));
    ck_assert_int_eq(spec_stats_of(s)->verifies, 200000);
    ck_assert_int_eq(spec_stats_of(s)->drafted, 800000);
    spec_destroy(s1);
    spec_destroy(s0);
    spec_destroy(s);
}
END_TEST

/* Same seed and replica: the same draws; another replica: its own. */
START_TEST(test_accept_deterministic)
{
    struct spec_config c = chain(8, 0.6);
    struct spec *a = spec_create(&c, 0), *b = spec_create(&c, 0);
    struct spec *x = spec_create(&c, 1);
    int i, same = 0;

    for (i = 0; i < 1000; i++) {
        int32_t va = spec_accept(a, 8);
        ck_assert_int_eq(va, spec_accept(b, 8));
        same += va == spec_accept(x, 8);
    }
    ck_assert_int_lt(same, 1000);
    spec_destroy(a);
    spec_destroy(b);
    spec_destroy(x);
}
END_TEST

/* A drafter pass costs 10 us plus 1 us a token. */
static int fake_draft(void *ctx, const struct batch *b, int64_t *ns)
{
    (void)ctx;
    *ns = 10000 + 1000 * batch_tokens(b);
    return LLM_OK;
}

/* Three sequences verifying 3 drafts each (4 tokens at context 100). */
static void three_verifies(struct batch *b)
{
    int i;

    batch_init(b);
    for (i = 0; i < 3; i++)
        ck_assert_int_eq(batch_add_verify(b, 4, 100), LLM_OK);
    ck_assert_int_eq(b->verify_seqs, 3);
    ck_assert_int_eq(batch_logit_rows(b), 12);
}

/* Draft model, k 3: the first pass takes the batch's 12 tokens (22 us),
 * then 2 passes of 3 single tokens (13 us each), after the target. */
START_TEST(test_price_serial)
{
    struct spec_config c = chain(3, 0.5);
    struct batch b;
    struct spec *s;
    int64_t ns = 0;

    c.draft_cost = fake_draft;
    s = spec_create(&c, 0);
    three_verifies(&b);
    ck_assert_int_eq(spec_price_step(s, &b, 200000, &ns), LLM_OK);
    ck_assert_int_eq(ns, 200000 + 22000 + 2 * 13000);
    ck_assert_int_eq(spec_stats_of(s)->draft_ns, 48000);
    ck_assert_int_eq(spec_stats_of(s)->exposed_ns, 48000);
    spec_destroy(s);
    batch_free(&b);
}
END_TEST

/* RSD tree (2, 2): the second pass takes level 1's two nodes per
 * sequence as one chunk: 10 us + 6 tokens. */
START_TEST(test_price_tree)
{
    struct spec_config c = chain(2, 0.5);
    struct batch b;
    struct spec *s;
    int64_t ns = 0;

    c.method = SPEC_RSD;
    c.width[0] = c.width[1] = 2;
    c.nodes = 6;
    c.draft_cost = fake_draft;
    s = spec_create(&c, 0);
    three_verifies(&b);
    ck_assert_int_eq(spec_price_step(s, &b, 200000, &ns), LLM_OK);
    ck_assert_int_eq(ns, 200000 + 22000 + 16000);
    spec_destroy(s);
    batch_free(&b);
}
END_TEST

/* Mirror-SD, k 3, 2 branches: the drafter (22 us + 2 passes of 6
 * branch tokens, 16 us each) starts at the target's early exit (half its
 * time) after a link crossing (5 us + 3 x 2 x 4 tokens x 4 bytes at
 * 1 GB/s = 5,096 ns) and crosses back; the step is the longer of the
 * two sides.  With reuse 0 every sequence drafts again after the verify
 * (3 passes of 3 tokens, 13 us each) and crosses once more. */
START_TEST(test_price_mirror)
{
    struct spec_config c = chain(3, 0.5);
    struct batch b;
    struct spec *s;
    int64_t ns = 0;

    c.method = SPEC_MIRROR;
    c.branches = 2;
    c.stream = 1;
    c.early_exit = 0.5;
    c.reuse = 1;
    c.link_bw_bytes_s = 1e9;
    c.link_latency_ns = 5000;
    c.token_bytes = 4;
    c.draft_cost = fake_draft;
    s = spec_create(&c, 0);
    three_verifies(&b);
    ck_assert_int_eq(spec_price_step(s, &b, 200000, &ns), LLM_OK);
    ck_assert_int_eq(ns, 200000);                 /* drafter hidden */
    ck_assert_int_eq(spec_price_step(s, &b, 100000, &ns), LLM_OK);
    ck_assert_int_eq(ns, 50000 + 2 * 5096 + 22000 + 2 * 16000);
    c.reuse = 0;
    ck_assert_int_eq(spec_price_step(s, &b, 200000, &ns), LLM_OK);
    ck_assert_int_eq(ns, 200000 + 3 * 13000 + 5096);
    ck_assert_int_eq(spec_stats_of(s)->misses, 3);
    /* Speculative streaming: 3 drafts at 3 a pass is the first pass only. */
    c.reuse = 1;
    c.stream = 3;
    ck_assert_int_eq(spec_price_step(s, &b, 10000, &ns), LLM_OK);
    ck_assert_int_eq(ns, 5000 + 2 * 5096 + 22000);
    spec_destroy(s);
    batch_free(&b);
}
END_TEST

/* ---- the replica, with fixed costs ---------------------------------- */

struct fixture {
    struct fx_trace tr;
    struct request done[8];
    int n_done;
    int64_t iterations, kv_max, itl_gaps;
};

static int on_req(void *ctx, const struct request *q)
{
    struct fixture *f = ctx;

    ck_assert_int_lt(f->n_done, 8);
    f->done[f->n_done++] = *q;
    return LLM_OK;
}

static int on_iter(void *ctx, const struct iter_record *r)
{
    struct fixture *f = ctx;
    int32_t i;

    f->iterations++;
    if (r->kv_blocks_used > f->kv_max)
        f->kv_max = r->kv_blocks_used;
    for (i = 0; i < r->n_itl; i++)
        f->itl_gaps += r->itl[i].count;
    return LLM_OK;
}

/* A drafter pass costs 1 ms. */
static int ms_draft(void *ctx, const struct batch *b, int64_t *ns)
{
    (void)ctx;
    (void)b;
    *ns = 1000000;
    return LLM_OK;
}

/* One request at t = 0 on one replica (sarathi), 10 ms an iteration. */
static void run_one(struct fixture *f, const struct req_spec *rq,
                    const struct spec_config *c)
{
    struct replica_config rc = { .index = 0, .kv_capacity_blocks = 1000,
        .block_tokens = 16, .max_model_len = 4096, .sched = &sched_sarathi,
        .sched_path = "scheduler", .kv = &kv_paged, .kv_path = "kv_cache",
        .cost = fx_trace_cost, .cost_ctx = &f->tr, .spec = c };
    struct sim_config cfg = { .n_replicas = 1, .replicas = &rc,
        .router = &router_round_robin, .router_path = "router",
        .source = fx_trace_next, .source_ctx = &f->tr,
        .rec = { f, on_req, on_iter } };
    struct llm_diag d = { 0 };
    struct sim *s = NULL;

    f->tr.specs = rq;
    f->tr.n = 1;
    f->tr.cost_ns = 10000000;
    ck_assert_int_eq(sim_create(&cfg, &s, &d), LLM_OK);
    ck_assert_msg(sim_run(s, &d) == LLM_OK, "%s", d.msg);
    ck_assert_int_eq(sim_replica(s, 0)->kv->used_blocks(
                         sim_replica(s, 0)->kv_p.st), 0);
    sim_destroy(s);
    ck_assert_int_eq(f->n_done, 1);
}

/* alpha 1, k 3: the prefill iteration (10 ms + 3 drafter passes) gives
 * the first token at 13 ms, then each 13 ms step gives 4 tokens
 * together: 12 more tokens in 3 steps, 3 inter-token gaps (one per
 * streamed chunk, as vllm bench serve counts them), TPOT 39 / 12 ms. */
START_TEST(test_replica_alpha_one)
{
    static const struct req_spec rq = { .prompt_tokens = 100,
                                        .output_tokens = 13 };
    struct spec_config c = chain(3, 1);
    struct fixture f = { 0 };

    c.draft_cost = ms_draft;
    run_one(&f, &rq, &c);
    ck_assert_int_eq(f.done[0].first_token_ns, 13000000);
    ck_assert_int_eq(f.done[0].finish_ns, 52000000);
    ck_assert_int_eq(f.done[0].generated, 13);
    ck_assert_int_eq(f.iterations, 4);
    ck_assert_int_eq(f.itl_gaps, 3);
}
END_TEST

/* alpha 0: one token a step, each step dearer than a decode: slower
 * than no speculation (10 + 12 x 10 ms). */
START_TEST(test_replica_alpha_zero)
{
    static const struct req_spec rq = { .prompt_tokens = 100,
                                        .output_tokens = 13 };
    struct spec_config c = chain(3, 0);
    struct fixture f = { 0 }, g = { 0 };

    c.draft_cost = ms_draft;
    run_one(&f, &rq, &c);
    run_one(&g, &rq, NULL);
    ck_assert_int_eq(f.done[0].finish_ns, 13000000 + 12 * 13000000);
    ck_assert_int_eq(g.done[0].finish_ns, 10000000 + 12 * 10000000);
    ck_assert_int_eq(f.itl_gaps, 12);
    ck_assert_int_eq(g.itl_gaps, 12);
}
END_TEST

/* The verify holds KV slots for its k + 1 tokens: a 90-token prompt with
 * k 7 needs ceil(98 / 16) = 7 blocks, where a plain decode needs
 * ceil(92 / 16) = 6; rejected slots are kept and reused, all released at
 * the end (run_one checks the pool is empty). */
START_TEST(test_replica_kv_slots)
{
    static const struct req_spec rq = { .prompt_tokens = 90,
                                        .output_tokens = 3 };
    struct spec_config c = chain(7, 0);
    struct fixture f = { 0 }, g = { 0 };

    c.draft_cost = ms_draft;
    run_one(&f, &rq, &c);
    run_one(&g, &rq, NULL);
    ck_assert_int_eq(f.kv_max, 7);
    ck_assert_int_eq(g.kv_max, 6);
}
END_TEST

/* ---- end to end --------------------------------------------------------- */

static const char *scenario_text(int users, const char *spec)
{
    static char text[2048];

    snprintf(text, sizeof(text),
        "{\"name\": \"s\", \"seed\": 3, \"model\": \"llama-3.1-8b\","
        " \"hardware\": {\"device\": \"h100-sxm-80gb\"},"
        " \"scheduler\": {\"name\": \"sarathi\", \"max_num_seqs\": 512,"
        " \"max_num_batched_tokens\": 8192},"
        " \"workload\": {\"type\": \"closed_loop\", \"users\": %d,"
        " \"num_requests\": %d, \"think_s\": 0,"
        " \"prompt\": {\"dist\": \"fixed\", \"value\": 512},"
        " \"output\": {\"dist\": \"fixed\", \"value\": 201}},"
        " \"output\": {\"dir\": \"%s/out\", \"iterations\": false}%s%s}",
        users, 2 * users, fx_tmpdir, spec ? ", \"speculative\": " : "",
        spec ? spec : "");
    return text;
}

static cJSON *run_text(const char *text)
{
    struct llm_diag d = { 0 };
    struct run_opts o = { .quiet = 1 };
    struct scenario sc;
    cJSON *summary = NULL;
    int rc = scenario_load(fx_put("s.json", text), NULL, &sc, &d);

    ck_assert_msg(rc == LLM_OK, "%s", d.msg);
    rc = run_scenario(&sc, &o, &summary, NULL, &d);
    ck_assert_msg(rc == LLM_OK, "%s", d.msg);
    scenario_free(&sc);
    return summary;
}

static double get(const cJSON *s, const char *a, const char *b)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(s, a);

    if (b != NULL)
        v = cJSON_GetObjectItemCaseSensitive(v, b);
    ck_assert_msg(cJSON_IsNumber(v), "%s.%s", a, b ? b : "");
    return v->valuedouble;
}

#define DRAFT(alpha) "{\"method\": \"draft\", \"draft_model\": " \
                     "\"llama-3.2-1b\", \"k\": 4, \"acceptance\": " alpha "}"

/* Output tok/s with speculation over without, at `users` concurrent
 * users. */
static double speedup(int users, const char *spec)
{
    cJSON *a = run_text(scenario_text(users, spec));
    cJSON *b = run_text(scenario_text(users, NULL));
    double x = get(a, "throughput_out_tok_s", NULL) /
               get(b, "throughput_out_tok_s", NULL);

    cJSON_Delete(a);
    cJSON_Delete(b);
    return x;
}

/* alpha 1: every verify accepts its 4 drafts (200 decode tokens in 40
 * steps of 5); alpha 0: slower than plain decoding. */
START_TEST(test_run_alpha_bounds)
{
    cJSON *s = run_text(scenario_text(1, DRAFT("1")));

    ck_assert_double_eq(get(s, "speculative", "accepted_per_verify"), 4);
    ck_assert_double_eq(get(s, "speculative", "acceptance_rate"), 1);
    ck_assert_double_eq(get(s, "speculative", "verifies"), 2 * 40);
    cJSON_Delete(s);
    ck_assert(speedup(1, DRAFT("0")) < 1);
    ck_assert(speedup(1, DRAFT("1")) > 2);
}
END_TEST

/* scenario_text on the default scheduler, vLLM V1's (its async scheduling
 * and CUDA-graph padding on): "vllm" padded to the width of "sarathi". */
static cJSON *run_v1(const char *spec)
{
    char text[2048];

    snprintf(text, sizeof(text), "%s", scenario_text(1, spec));
    memcpy(strstr(text, "\"sarathi\""), "\"vllm\"   ", 9);
    return run_text(text);
}

/* vLLM V1's scheduler plans decodes through pol_plan_running, so a
 * verify is charged its k + 1 tokens and produces what it accepts: alpha
 * 1 gives the same 40 verifies of 5 tokens as above and beats plain
 * decoding. */
START_TEST(test_run_vllm_v1)
{
    cJSON *s = run_v1(DRAFT("1")), *b = run_v1(NULL);

    ck_assert_double_eq(get(s, "speculative", "accepted_per_verify"), 4);
    ck_assert_double_eq(get(s, "speculative", "verifies"), 2 * 40);
    ck_assert_double_eq(get(s, "output_tokens", NULL),
                        get(b, "output_tokens", NULL));
    ck_assert_double_gt(get(s, "throughput_out_tok_s", NULL),
                        2 * get(b, "throughput_out_tok_s", NULL));
    cJSON_Delete(s);
    cJSON_Delete(b);
}
END_TEST

/* The result users need: on one H100, a 1B drafter speeds up an 8B
 * target at low concurrency, less and less as the batch grows, and
 * slows it once the verify's k + 1 tokens a sequence make the batch
 * compute-bound (256 users: 1,280 tokens a verify). */
START_TEST(test_run_batch_crossing)
{
    static const int users[] = { 1, 16, 64, 256 };
    double prev = INFINITY;
    size_t i;

    for (i = 0; i < sizeof(users) / sizeof(users[0]); i++) {
        double x = speedup(users[i], DRAFT("0.7"));
        ck_assert_msg(x < prev, "%d users: %.3f, not below %.3f", users[i],
                      x, prev);
        prev = x;
        if (i == 0)
            ck_assert_msg(x > 1.2, "1 user: %.3f", x);
    }
    ck_assert_msg(prev < 1, "256 users: %.3f", prev);
}
END_TEST

/* Same config and seed: the same summary, byte for byte; another seed
 * draws other acceptances. */
START_TEST(test_run_deterministic)
{
    char *a, *b;
    cJSON *x = run_text(scenario_text(8, DRAFT("0.6")));
    cJSON *y = run_text(scenario_text(8, DRAFT("0.6")));
    cJSON *z;
    char text[2048];

    a = cJSON_PrintUnformatted(x);
    b = cJSON_PrintUnformatted(y);
    ck_assert_str_eq(a, b);
    snprintf(text, sizeof(text), "%s", scenario_text(8, DRAFT("0.6")));
    memcpy(strstr(text, "\"seed\": 3"), "\"seed\": 4", 9);
    z = run_text(text);
    ck_assert(get(z, "speculative", "accepted") !=
              get(x, "speculative", "accepted"));
    free(a);
    free(b);
    cJSON_Delete(x);
    cJSON_Delete(y);
    cJSON_Delete(z);
}
END_TEST

/* The drafter's weights and KV come out of the target's KV pool. */
START_TEST(test_run_memory)
{
    struct llm_diag d = { 0 };
    struct scenario a, b;

    ck_assert_int_eq(scenario_load(fx_put("a.json", scenario_text(1,
                     DRAFT("0.5"))), NULL, &a, &d), LLM_OK);
    ck_assert_int_eq(scenario_load(fx_put("b.json", scenario_text(1, NULL)),
                                   NULL, &b, &d), LLM_OK);
    ck_assert_int_lt(a.mem.kv_blocks, b.mem.kv_blocks);
    ck_assert_double_gt(a.mem.block_bytes, b.mem.block_bytes);
    scenario_free(&a);
    scenario_free(&b);
}
END_TEST

/* Each method runs end to end; EAGLE's head, RSD's wider verify and
 * Mirror-SD's NPU drafter all beat plain decoding at one user. */
START_TEST(test_run_methods)
{
    static const char *const specs[] = {
        "{\"method\": \"eagle\", \"k\": 4, \"acceptance\": 0.7}",
        "{\"method\": \"rsd\", \"draft_model\": \"llama-3.2-1b\", "
        "\"tree\": [2, 2, 1], \"acceptance\": 0.7}",
        "{\"method\": \"mirror\", \"draft_model\": \"llama-3.2-1b\", "
        "\"k\": 4, \"acceptance\": 0.7, \"draft_device\": \"ascend-910b\", "
        "\"draft_cost_model\": {\"name\": \"accel\"}, \"link\": "
        "\"pcie4-x16\", \"early_exit\": 0.5, \"reuse\": 0.9}",
    };
    size_t i;

    for (i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
        double x = speedup(1, specs[i]);
        ck_assert_msg(x > 1, "%s: %.3f", specs[i], x);
    }
}
END_TEST

START_TEST(test_run_errors)
{
    struct llm_diag d = { 0 };
    struct scenario sc;
    char text[2048];

    snprintf(text, sizeof(text), "%s", scenario_text(1,
             "{\"method\": \"draft\", \"draft_model\": \"nope\", \"k\": 2, "
             "\"acceptance\": 0.5}"));
    ck_assert_int_ne(scenario_load(fx_put("e.json", text), NULL, &sc, &d),
                     LLM_OK);
    ck_assert(strstr(d.msg, "nope") != NULL);
    scenario_free(&sc);
    snprintf(text, sizeof(text), "%s", scenario_text(1, DRAFT("0.5")));
    memcpy(strstr(text, "\"sarathi\""), "\"fastgen\"", 9);
    d = (struct llm_diag){ 0 };
    ck_assert_int_eq(scenario_load(fx_put("e.json", text), NULL, &sc, &d),
                     LLM_EINVAL);
    ck_assert_str_eq(d.msg, "speculative: not with \"cluster\" pools, "
                     "hardware.attention_offload or scheduler \"fastgen\"");
    scenario_free(&sc);
}
END_TEST

Suite *spec_suite(void)
{
    Suite *s = suite_create("spec");
    TCase *tc = tcase_create("core");
    TCase *te = tcase_create("run");

    tcase_add_loop_test(tc, test_parse_errors, 0,
                        (int)(sizeof(bad) / sizeof(bad[0])));
    tcase_add_test(tc, test_acceptance_models);
    tcase_add_test(tc, test_rsd_tree);
    tcase_add_test(tc, test_accept_draws);
    tcase_add_test(tc, test_accept_deterministic);
    tcase_add_test(tc, test_price_serial);
    tcase_add_test(tc, test_price_tree);
    tcase_add_test(tc, test_price_mirror);
    tcase_add_test(tc, test_replica_alpha_one);
    tcase_add_test(tc, test_replica_alpha_zero);
    tcase_add_test(tc, test_replica_kv_slots);
    suite_add_tcase(s, tc);
    tcase_add_checked_fixture(te, fx_setup, fx_teardown);
    tcase_set_timeout(te, 300);
    tcase_add_test(te, test_run_alpha_bounds);
    tcase_add_test(te, test_run_vllm_v1);
    tcase_add_test(te, test_run_batch_crossing);
    tcase_add_test(te, test_run_deterministic);
    tcase_add_test(te, test_run_memory);
    tcase_add_test(te, test_run_methods);
    tcase_add_test(te, test_run_errors);
    suite_add_tcase(s, te);
    return s;
}
