/* tests/check_flexllm.c: FlexLLM co-serving (issue 21; the "flexllm"
 * scheduler): the hybrid token scheduler fills an iteration with the
 * most finetuning tokens the iteration budget allows, priced by the cost
 * function; a sequence's forward then backward phases (backward_ratio
 * times the work) and their crediting at the iteration's end;
 * temporal sharing only in idle iterations; errors naming the key; and a
 * run where co-serving trains while temporal sharing cannot. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "run/run.h"
#include "policies/registry.h"
#include "tests/fixture.h"

/* 1 ms + 10 us per token of the batch (padding included): linear, so
 * the budget's answer is computable by hand. */
static int lin_cost(void *ctx, const struct batch *b, int64_t *ns)
{
    (void)ctx;
    *ns = 1000000 + 10000 * batch_tokens(b);
    return LLM_OK;
}

static int keep(void *ctx, struct request *q)
{
    (void)ctx;
    (void)q;
    return LLM_OK;
}

struct rig {
    struct replica_core r;
    cJSON *p;
};

static void rig_init(struct rig *g, const char *js)
{
    struct llm_diag d = { 0 };
    struct replica_config rc = { .kv_capacity_blocks = 10000,
        .block_tokens = 16, .max_model_len = 8192, .sched = &sched_flexllm,
        .sched_path = "scheduler", .kv = &kv_paged, .kv_path = "kv_cache",
        .cost = lin_cost };

    g->p = cJSON_Parse(js);
    ck_assert_ptr_nonnull(g->p);
    rc.sched_params = g->p;
    ck_assert_msg(replica_init(&g->r, &rc, &d) == LLM_OK, "%s", d.msg);
}

static void rig_fini(struct rig *g)
{
    replica_fini(&g->r);
    cJSON_Delete(g->p);
}

/* One iteration at now_ns; returns its duration (-1: nothing planned). */
static int64_t step(struct rig *g, int64_t now_ns)
{
    struct iter_record rec;
    int64_t dur;

    ck_assert_int_eq(replica_begin(&g->r, now_ns, &dur), LLM_OK);
    if (dur >= 0)
        ck_assert_int_eq(replica_end(&g->r, now_ns + dur, keep, NULL, &rec),
                         LLM_OK);
    return dur;
}

static double report(const struct rig *g, const char *key)
{
    cJSON *s = cJSON_CreateObject();
    double v;

    g->r.sched->report(g->r.sched_p.st, s);
    v = cJSON_GetObjectItem(cJSON_GetObjectItem(s, "finetune"), key)
        ->valuedouble;
    cJSON_Delete(s);
    return v;
}

/* A 100-token prompt planned beside finetuning, budget 5 ms: 1 ms + 10 us
 * x (100 + f) <= 5 ms gives f <= 300, already a multiple of 16 plus 12,
 * so f = 288 (multiples of 16), and the iteration lasts 4.88 ms.
 * Nothing is trained before the iteration ends. */
START_TEST(test_fill_to_budget)
{
    struct rig g;
    struct request q = { .id = 0, .prompt_tokens = 100, .output_tokens = 50,
                         .first_sched_ns = -1, .first_token_ns = -1,
                         .finish_ns = -1 };

    rig_init(&g, "{\"name\": \"flexllm\", \"finetune\": {\"sequence_tokens\":"
             " 4096, \"iteration_slo_ms\": 5}}");
    replica_enqueue(&g.r, &q);
    ck_assert_int_eq(step(&g, 0), 1000000 + 10000 * (100 + 288));
    ck_assert_int_eq(g.r.n_pad, 1);
    ck_assert_int_eq(g.r.pub.batch.prefill_tokens, 100 + 288);
    /* Next iteration: 1 decode, f <= 399 -> 384; the first 288 credited. */
    ck_assert_int_eq(step(&g, 10000000), 1000000 + 10000 * (1 + 384));
    ck_assert_double_eq(report(&g, "forward_tokens"), 288);
    ck_assert_double_eq(report(&g, "trained_tokens"), 0);
    ck_assert_double_eq(report(&g, "coserved_iterations"), 2);
    rig_fini(&g);
}
END_TEST

/* Finetuning alone, sequences of 100 tokens, backward twice the forward's
 * work, 64 tokens an iteration: the forward runs 64 tokens, then 36 and
 * the backward's first 28 in one iteration, then 64 and 8 backward
 * tokens, each priced as 2x.  Then 100 forward and 100 trained tokens. */
START_TEST(test_phases_and_credit)
{
    struct rig g;
    int64_t t = 0, dur;
    int i;

    rig_init(&g, "{\"name\": \"flexllm\", \"finetune\": {\"sequences\": 1, "
             "\"sequence_tokens\": 100, \"max_tokens\": 64, "
             "\"backward_ratio\": 2, \"iteration_slo_ms\": 1000}}");
    /* iteration 1: forward 64 */
    dur = step(&g, t);
    ck_assert_int_eq(dur, 1000000 + 10000 * 64);
    t += dur;
    /* iteration 2: forward 36 then backward of 28 tokens at 2x = 56 */
    dur = step(&g, t);
    ck_assert_int_eq(dur, 1000000 + 10000 * (36 + 56));
    t += dur;
    ck_assert_double_eq(report(&g, "forward_tokens"), 64);
    /* iteration 3: backward of 64 of the 72 tokens left, at 2x */
    dur = step(&g, t);
    ck_assert_int_eq(dur, 1000000 + 10000 * 128);
    t += dur;
    ck_assert_double_eq(report(&g, "trained_tokens"), 28);
    /* iteration 4: the last 8, at 2x */
    dur = step(&g, t);
    ck_assert_int_eq(dur, 1000000 + 10000 * 16);
    t += dur;
    /* the job is done: nothing more to plan */
    ck_assert_int_eq(step(&g, t), -1);
    ck_assert_double_eq(report(&g, "forward_tokens"), 100);
    ck_assert_double_eq(report(&g, "trained_tokens"), 100);
    ck_assert_double_eq(report(&g, "sequences"), 1);
    ck_assert_double_eq(report(&g, "throughput_tok_s"),
                        100 / (t * 1e-9));
    for (i = 0; i < 2; i++)
        ck_assert_int_eq(step(&g, t + i), -1);
    rig_fini(&g);
}
END_TEST

/* Temporal sharing finetunes only in iterations without inference work;
 * "off" never does. */
START_TEST(test_idle_and_off)
{
    static const char *const cfg[] = {
        "{\"name\": \"flexllm\", \"mode\": \"idle\", \"finetune\": "
        "{\"max_tokens\": 32, \"iteration_slo_ms\": 1000}}",
        "{\"name\": \"flexllm\", \"mode\": \"off\"}" };
    struct rig g;
    struct request q = { .id = 0, .prompt_tokens = 10, .output_tokens = 3,
                         .first_sched_ns = -1, .first_token_ns = -1,
                         .finish_ns = -1 };

    rig_init(&g, cfg[_i]);
    replica_enqueue(&g.r, &q);
    ck_assert_int_eq(step(&g, 0), 1000000 + 10000 * 10);  /* prefill */
    ck_assert_int_eq(step(&g, 2000000), 1000000 + 10000);  /* decode */
    ck_assert_int_eq(step(&g, 4000000), 1000000 + 10000);  /* last */
    ck_assert_int_eq(q.state, REQ_DONE);
    ck_assert_int_eq(step(&g, 6000000), _i == 0 ? 1000000 + 10000 * 32
                                                : -1);
    rig_fini(&g);
}
END_TEST

static const char *const bad_cfg[][2] = {
    { "{\"name\": \"flexllm\", \"mode\": \"both\"}",
      "scheduler.mode: expected one of \"coserve\", \"idle\", \"off\", got "
      "\"both\"" },
    { "{\"name\": \"flexllm\", \"finetune\": {\"iteration_slo_ms\": 0}}",
      "scheduler.finetune.iteration_slo_ms: expected a number in [0.001, "
      "1e+06], got 0" },
    { "{\"name\": \"flexllm\", \"finetune\": {\"lora_rank\": 8}}",
      "scheduler.finetune.lora_rank: unknown key (known: sequences, "
      "sequence_tokens, max_tokens, backward_ratio, iteration_slo_ms, "
      "until_s)" },
};

START_TEST(test_bad_config)
{
    struct llm_diag d = { 0 };
    cJSON *p = cJSON_Parse(bad_cfg[_i][0]);
    void *st = calloc(1, sched_flexllm.state_size);

    ck_assert_int_eq(sched_flexllm.init(st, p, "scheduler", &d),
                     LLM_EINVAL);
    ck_assert_str_eq(d.msg, bad_cfg[_i][1]);
    cJSON_Delete(p);
    free(st);
}
END_TEST

/* Llama-3.1-8B on an H100 under steady inference: co-serving trains
 * while keeping every iteration (so TPOT) within the budget; temporal
 * sharing trains nothing because the GPU is never idle; the summary and
 * the metrics table carry "finetune". */
START_TEST(test_run_coserve)
{
    static const char *const mode[] = { "coserve", "idle" };
    double trained[2], tpot99[2];
    int k;

    for (k = 0; k < 2; k++) {
        static char buf[2048];
        struct llm_diag d = { 0 };
        struct scenario sc;
        struct run_opts o = { .out_dir = fx_path("out"), .quiet = 1 };
        cJSON *summary = NULL, *f;

        snprintf(buf, sizeof(buf), "{\"name\": \"co\", \"seed\": 1, "
            "\"model\": \"llama-3.1-8b\", \"hardware\": {\"device\": "
            "\"h100-sxm-80gb\"}, \"scheduler\": {\"name\": \"flexllm\", "
            "\"mode\": \"%s\", \"finetune\": {\"iteration_slo_ms\": 40, "
            "\"until_s\": 30}}, \"workload\": {\"type\": \"poisson\", "
            "\"rate\": 10, \"duration_s\": 30, \"prompt\": {\"dist\": "
            "\"fixed\", \"value\": 200}, \"output\": {\"dist\": \"fixed\", "
            "\"value\": 300}}, \"output\": {\"dir\": \"%s/out\"}}", mode[k],
            fx_tmpdir);
        ck_assert_msg(scenario_load(fx_put("c.json", buf), NULL, &sc, &d) ==
                      LLM_OK, "%s", d.msg);
        ck_assert_msg(run_scenario(&sc, &o, &summary, NULL, &d) == LLM_OK,
                      "%s", d.msg);
        f = cJSON_GetObjectItem(summary, "finetune");
        ck_assert_ptr_nonnull(f);
        trained[k] = cJSON_GetObjectItem(f, "trained_tokens")->valuedouble;
        tpot99[k] = cJSON_GetObjectItem(cJSON_GetObjectItem(summary,
                                        "tpot_ms"), "p99")->valuedouble;
        scenario_free(&sc);
        cJSON_Delete(summary);
    }
    ck_assert_double_gt(trained[0], 100000);
    ck_assert_double_eq(trained[1], 0);
    ck_assert_double_le(tpot99[0], 41);
    ck_assert_double_lt(tpot99[1], tpot99[0]);
}
END_TEST

Suite *flexllm_suite(void)
{
    Suite *s = suite_create("flexllm");
    TCase *t = tcase_create("core");

    tcase_add_checked_fixture(t, fx_setup, fx_teardown);
    tcase_set_timeout(t, 60);
    tcase_add_test(t, test_fill_to_budget);
    tcase_add_test(t, test_phases_and_credit);
    tcase_add_loop_test(t, test_idle_and_off, 0, 2);
    tcase_add_loop_test(t, test_bad_config, 0,
                        (int)(sizeof(bad_cfg) / sizeof(bad_cfg[0])));
    tcase_add_test(t, test_run_coserve);
    suite_add_tcase(s, t);
    return s;
}
