/* Tests of the event core and the vLLM-style replica with a fixed
 * iteration cost, so every time is computable by hand. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "policies/registry.h"
#include "sim/sim.h"
#include "tests/fixture.h"
#include "tests/suites.h"

struct fixture {
    struct fx_trace tr;          /* requests and iteration cost */
    struct request done[64];
    size_t n_done;
    int64_t kv_cap, kv_max_seen;
    int64_t iterations;
};

static int on_req(void *ctx, const struct request *q)
{
    struct fixture *f = ctx;

    ck_assert_uint_lt(f->n_done, 64);
    f->done[f->n_done++] = *q;
    return LLM_OK;
}

static int on_iter(void *ctx, const struct iter_record *r)
{
    struct fixture *f = ctx;

    ck_assert_int_ge(r->kv_blocks_used, 0);
    ck_assert_int_le(r->kv_blocks_used, f->kv_cap);
    if (r->kv_blocks_used > f->kv_max_seen)
        f->kv_max_seen = r->kv_blocks_used;
    ck_assert_int_gt(r->end_ns, r->start_ns);
    f->iterations++;
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

/* Runs the fixture on one replica with the vllm-v0 scheduler (the
 * hand-computed cases below are vLLM V0's). */
static struct sim_stats run(struct fixture *f, int64_t kv_blocks,
                            int32_t max_model_len, const char *sched_json)
{
    cJSON *sp = sched_json ? cJSON_Parse(sched_json) : NULL;
    struct replica_config rc = { .index = 0, .kv_capacity_blocks = kv_blocks,
        .block_tokens = 16, .max_model_len = max_model_len,
        .sched = &sched_vllm_v0, .sched_params = sp,
        .sched_path = "scheduler",
        .kv = &kv_paged, .kv_path = "kv_cache", .cost = fx_trace_cost,
        .cost_ctx = &f->tr };
    struct sim_config cfg = { .n_replicas = 1, .replicas = &rc,
        .router = &router_round_robin, .router_path = "router",
        .source = fx_trace_next, .source_ctx = &f->tr,
        .rec = { f, on_req, on_iter } };
    struct llm_diag d = { 0 };
    struct sim_stats st;
    struct sim *s = NULL;

    f->kv_cap = kv_blocks;
    ck_assert_int_eq(sim_create(&cfg, &s, &d), LLM_OK);
    ck_assert_msg(sim_run(s, &d) == LLM_OK, "%s", d.msg);
    st = *sim_get_stats(s);
    ck_assert_int_eq(sim_replica(s, 0)->kv->used_blocks(
                         sim_replica(s, 0)->kv_p.st), 0);
    sim_destroy(s);
    cJSON_Delete(sp);
    return st;
}

/* One request, 10 ms per iteration: the prefill iteration yields the first
 * token at arrival + 10 ms, each of the 4 remaining tokens one decode
 * iteration later. */
START_TEST(test_hand_computed_single)
{
    static const struct req_spec spec[] = {
        { .arrival_ns = 1000000, .prompt_tokens = 100, .output_tokens = 5 },
    };
    struct fixture f = { .tr.specs = spec, .tr.n = 1, .tr.cost_ns = 10000000 };
    struct sim_stats st = run(&f, 1000, 4096, NULL);
    const struct request *q = find(&f, 0);

    ck_assert_int_eq(st.completed, 1);
    ck_assert_int_eq(q->first_token_ns, 11000000);
    ck_assert_int_eq(q->finish_ns, 51000000);
    ck_assert_int_eq(q->generated, 5);
    ck_assert_int_eq(f.iterations, 5);
    ck_assert_int_eq(f.kv_max_seen, 7);  /* ceil(104 / 16): last decode */
}
END_TEST

/* Two requests: B arrives while A's prefill runs; vLLM prefills first, so
 * B's prefill runs alone next, delaying A's first decode. */
START_TEST(test_prefill_first)
{
    static const struct req_spec spec[] = {
        { .arrival_ns = 0, .prompt_tokens = 32, .output_tokens = 3 },
        { .arrival_ns = 5000000, .prompt_tokens = 32, .output_tokens = 2 },
    };
    struct fixture f = { .tr.specs = spec, .tr.n = 2, .tr.cost_ns = 10000000 };
    const struct request *a, *b;

    run(&f, 1000, 4096, NULL);
    a = find(&f, 0);
    b = find(&f, 1);
    ck_assert_int_eq(a->first_token_ns, 10000000);   /* [0,10] A prefill */
    ck_assert_int_eq(b->first_token_ns, 20000000);   /* [10,20] B prefill */
    ck_assert_int_eq(b->finish_ns, 30000000);        /* [20,30] A,B decode */
    ck_assert_int_eq(a->finish_ns, 40000000);        /* [30,40] A decode */
}
END_TEST

/* The token budget splits simultaneous prefills over iterations. */
START_TEST(test_token_budget)
{
    static const struct req_spec spec[] = {
        { .arrival_ns = 0, .prompt_tokens = 600, .output_tokens = 1 },
        { .arrival_ns = 0, .prompt_tokens = 600, .output_tokens = 1 },
        { .arrival_ns = 0, .prompt_tokens = 600, .output_tokens = 1 },
    };
    struct fixture f = { .tr.specs = spec, .tr.n = 3, .tr.cost_ns = 1000000 };

    run(&f, 1000, 4096, "{\"max_num_batched_tokens\": 1300}");
    ck_assert_int_eq(find(&f, 0)->finish_ns, 1000000);
    ck_assert_int_eq(find(&f, 1)->finish_ns, 1000000);
    ck_assert_int_eq(find(&f, 2)->finish_ns, 2000000);
}
END_TEST

/* A pool of 8 blocks cannot hold two requests growing to 5 blocks each:
 * the newer is preempted (recompute), resumes, and both finish with all
 * their tokens; the pool never overflows and ends empty. */
START_TEST(test_preemption)
{
    static const struct req_spec spec[] = {
        { .arrival_ns = 0, .prompt_tokens = 48, .output_tokens = 30 },
        { .arrival_ns = 0, .prompt_tokens = 48, .output_tokens = 30 },
    };
    struct fixture f = { .tr.specs = spec, .tr.n = 2, .tr.cost_ns = 1000000 };
    struct sim_stats st = run(&f, 8, 4096, "{\"watermark\": 0}");
    const struct request *a = find(&f, 0), *b = find(&f, 1);

    ck_assert_int_eq(st.completed, 2);
    ck_assert_int_ge(st.preemptions, 1);
    ck_assert_int_eq(a->preemptions, 0);
    ck_assert_int_ge(b->preemptions, 1);
    ck_assert_int_eq(a->generated, 30);
    ck_assert_int_eq(b->generated, 30);
    ck_assert_int_lt(a->finish_ns, b->finish_ns);
    ck_assert_int_le(f.kv_max_seen, 8);
}
END_TEST

/* Prompts at or over max_model_len are rejected; longer outputs are cut. */
START_TEST(test_reject_and_truncate)
{
    static const struct req_spec spec[] = {
        { .arrival_ns = 0, .prompt_tokens = 100, .output_tokens = 5 },
        { .arrival_ns = 1, .prompt_tokens = 90, .output_tokens = 50 },
    };
    struct fixture f = { .tr.specs = spec, .tr.n = 2, .tr.cost_ns = 1000 };
    struct sim_stats st = run(&f, 100, 100, NULL);

    ck_assert_int_eq(st.rejected, 1);
    ck_assert_int_eq(st.completed, 1);
    ck_assert_int_eq(st.truncated, 1);
    ck_assert(find(&f, 0)->rejected);
    ck_assert_int_eq(find(&f, 1)->generated, 10);
}
END_TEST

/* Little's law holds exactly on the simulator's own accounting: the
 * integral of requests in the system equals the sum of their latencies. */
START_TEST(test_in_system_integral)
{
    struct req_spec spec[40];
    struct fixture f = { .tr.specs = spec, .tr.n = 40, .tr.cost_ns = 2000000,
                         .tr.per_token_ns = 1000 };
    struct sim_stats st;
    double sum = 0;
    size_t i;

    for (i = 0; i < 40; i++)
        spec[i] = (struct req_spec){ .arrival_ns = (int64_t)i * 3000000,
            .prompt_tokens = 50 + (int32_t)(i * 37 % 200),
            .output_tokens = 1 + (int32_t)(i * 13 % 40) };
    st = run(&f, 40, 4096, NULL);
    for (i = 0; i < f.n_done; i++)
        sum += (double)(f.done[i].finish_ns - f.done[i].arrival_ns);
    ck_assert_int_eq(st.completed, 40);
    ck_assert_double_eq_tol(st.in_system_integral_ns, sum, 1.0);
}
END_TEST

/* The steady repeat (sched_ops.steady, issue 24): vLLM V1's scheduler on
 * a tight KV pool (block grows refused, preemptions) with arrivals during
 * long decodes, priced by a cost that reads every decode group's context,
 * gives the same iterations and requests with the repeat as without it
 * (the scheduler planning every iteration), and the repeat fires. */
struct steady_log {
    int64_t iter[4096][6];
    size_t n_iter;
    struct request done[64];
    size_t n_done;
};

static int steady_cost(void *ctx, const struct batch *b, int64_t *ns)
{
    int64_t t = 1000000 + 1000 * b->prefill_tokens + 7 * b->pad_tokens;
    size_t i;

    (void)ctx;
    for (i = 0; i < b->n_decode; i++)
        t += (int64_t)b->decode[i].count * (3 * b->decode[i].ctx +
                                            (b->decode[i].ctx % 13) * 101);
    t += 11 * (int64_t)b->n_decode + b->decode_ctx_sum % 17;
    *ns = t;
    return LLM_OK;
}

static int steady_iter(void *ctx, const struct iter_record *r)
{
    struct steady_log *l = ctx;

    ck_assert_uint_lt(l->n_iter, 4096);
    memcpy(l->iter[l->n_iter++], (int64_t[6]){ r->start_ns, r->end_ns,
           r->decode_seqs, r->prefill_tokens, r->kv_blocks_used,
           r->preemptions }, sizeof(l->iter[0]));
    return LLM_OK;
}

static int steady_req(void *ctx, const struct request *q)
{
    struct steady_log *l = ctx;

    ck_assert_uint_lt(l->n_done, 64);
    l->done[l->n_done++] = *q;
    return LLM_OK;
}

/* The arrivals of the steady and fast-forward cases: long decodes with
 * requests arriving while they run; the last one, only in the second,
 * arrives during a span and is over in two tokens. */
static const struct req_spec steady_spec[] = {
    { .arrival_ns = 0, .prompt_tokens = 40, .output_tokens = 300 },
    { .arrival_ns = 0, .prompt_tokens = 70, .output_tokens = 250 },
    { .arrival_ns = 1000, .prompt_tokens = 30, .output_tokens = 200 },
    { .arrival_ns = 50000000, .prompt_tokens = 90, .output_tokens = 120 },
    { .arrival_ns = 90000000, .prompt_tokens = 20, .output_tokens = 260 },
    { .arrival_ns = 400000000, .prompt_tokens = 60, .output_tokens = 90 },
    { .arrival_ns = 401000000, .prompt_tokens = 10, .output_tokens = 2 },
};

/* Runs the first n of steady_spec on the one replica rc (its scheduler
 * parameters parsed from sched_json) into l, recording iterations with
 * it; returns the replica's plans repeated and spans. */
static void run_logged(struct replica_config *rc, const char *sched_json,
                       size_t n, int (*it)(void *, const struct iter_record *),
                       struct steady_log *l, int64_t *repeats, int64_t *spans)
{
    cJSON *sp = cJSON_Parse(sched_json);
    struct fx_trace tr = { .specs = steady_spec, .n = n };
    struct sim_config cfg = { .n_replicas = 1, .replicas = rc,
        .router = &router_round_robin, .router_path = "router",
        .source = fx_trace_next, .source_ctx = &tr,
        .rec = { l, steady_req, it } };
    struct llm_diag d = { 0 };
    struct sim *s = NULL;

    rc->sched_params = sp;
    memset(l, 0, sizeof(*l));
    ck_assert_int_eq(sim_create(&cfg, &s, &d), LLM_OK);
    ck_assert_msg(sim_run(s, &d) == LLM_OK, "%s", d.msg);
    ck_assert_int_eq(sim_get_stats(s)->iterations, (int64_t)l->n_iter);
    *repeats = sim_replica(s, 0)->steady_repeats;
    *spans = sim_replica(s, 0)->spans;
    sim_destroy(s);
    cJSON_Delete(sp);
}

/* Runs the steady case with sched; returns the plans repeated. */
static int64_t run_steady(const struct sched_ops *sched,
                          struct steady_log *l)
{
    /* 60 blocks of 16: the six sequences' 1,720 tokens do not fit */
    struct replica_config rc = { .index = 0, .kv_capacity_blocks = 60,
        .block_tokens = 16, .max_model_len = 4096, .sched = sched,
        .sched_path = "scheduler", .kv = &kv_paged,
        .kv_path = "kv_cache", .cost = steady_cost };
    int64_t repeats, spans;

    run_logged(&rc, "{\"max_num_batched_tokens\": 64, \"max_num_seqs\": 8}",
               6, steady_iter, l, &repeats, &spans);
    return repeats;
}

START_TEST(test_steady_repeat)
{
    static struct steady_log a, b;
    struct sched_ops plain = sched_vllm;
    int64_t preempted = 0;
    size_t i;

    plain.steady = NULL;
    ck_assert_int_gt(run_steady(&sched_vllm, &a), 100);
    ck_assert_int_eq(run_steady(&plain, &b), 0);
    ck_assert_uint_eq(a.n_iter, b.n_iter);
    ck_assert_uint_eq(a.n_done, 6);
    ck_assert_uint_eq(b.n_done, 6);
    for (i = 0; i < a.n_iter; i++) {
        ck_assert_msg(memcmp(a.iter[i], b.iter[i], sizeof(a.iter[i])) == 0,
                      "iteration %zu differs", i);
        preempted += a.iter[i][5];
    }
    ck_assert_int_gt(preempted, 0);    /* the pool ran out */
    for (i = 0; i < a.n_done; i++) {
        ck_assert_int_eq(a.done[i].id, b.done[i].id);
        ck_assert_int_eq(a.done[i].first_token_ns, b.done[i].first_token_ns);
        ck_assert_int_eq(a.done[i].finish_ns, b.done[i].finish_ns);
        ck_assert_int_eq(a.done[i].preemptions, b.done[i].preemptions);
        ck_assert_int_eq(a.done[i].gap_ema_max_ns, b.done[i].gap_ema_max_ns);
    }
}
END_TEST

/* Fast-forward (replica_config.fast_forward): a span of steady decodes is
 * priced at its first and last iteration and linear between, so with a
 * cost linear in the batch's contexts it must give the very iterations
 * and requests of the plain run: the same times, batches and finishes,
 * with arrivals cutting spans short (with and without async lag, which
 * moves the cut one iteration on). */
static int linear_cost(void *ctx, const struct batch *b, int64_t *ns)
{
    (void)ctx;
    *ns = 2000000 + 1000 * b->prefill_tokens + 5000 * b->decode_seqs +
          30 * b->decode_ctx_sum;
    return LLM_OK;
}

static int ff_iter(void *ctx, const struct iter_record *r)
{
    struct steady_log *l = ctx;
    struct iter_record one = *r;
    int32_t j, n = r->iters > 1 ? r->iters : 1;

    for (j = 0; j < n; j++) {
        iter_record_nth(r, j, &one);
        ck_assert_uint_lt(l->n_iter, 4096);
        memcpy(l->iter[l->n_iter++], (int64_t[6]){ one.start_ns,
               one.end_ns, one.decode_seqs, one.prefill_tokens,
               one.n_running, one.preemptions }, sizeof(l->iter[0]));
    }
    return LLM_OK;
}

/* Runs the linear case, fast-forwarded by ff; returns the spans. */
static int64_t run_ff(int32_t ff, bool lag, struct steady_log *l)
{
    struct replica_config rc = { .index = 0, .kv_capacity_blocks = 4000,
        .block_tokens = 16, .max_model_len = 4096, .sched = &sched_vllm,
        .sched_path = "scheduler", .kv = &kv_paged,
        .kv_path = "kv_cache", .cost = linear_cost, .fast_forward = ff };
    int64_t repeats, spans;

    run_logged(&rc, lag ? "{\"max_num_seqs\": 8}" :
               "{\"max_num_seqs\": 8, \"async_scheduling\": false}", 7,
               ff_iter, l, &repeats, &spans);
    return spans;
}

START_TEST(test_fast_forward_linear)
{
    static struct steady_log a, b;
    bool lag = _i == 1;
    size_t i;

    ck_assert_int_eq(run_ff(0, lag, &b), 0);
    ck_assert_int_ge(run_ff(64, lag, &a), 10);
    ck_assert_uint_eq(a.n_iter, b.n_iter);
    ck_assert_uint_eq(a.n_done, 7);
    ck_assert_uint_eq(b.n_done, 7);
    for (i = 0; i < a.n_iter; i++)
        ck_assert_msg(memcmp(a.iter[i], b.iter[i], sizeof(a.iter[i])) == 0,
                      "iteration %zu differs: %lld-%lld against %lld-%lld",
                      i, (long long)a.iter[i][0], (long long)a.iter[i][1],
                      (long long)b.iter[i][0], (long long)b.iter[i][1]);
    for (i = 0; i < a.n_done; i++) {
        ck_assert_int_eq(a.done[i].id, b.done[i].id);
        ck_assert_int_eq(a.done[i].first_token_ns, b.done[i].first_token_ns);
        ck_assert_int_eq(a.done[i].finish_ns, b.done[i].finish_ns);
        ck_assert_int_eq(a.done[i].generated, b.done[i].generated);
        /* the span's EMA is one affine step: the same up to rounding */
        ck_assert_int_le(llabs(a.done[i].gap_ema_max_ns -
                               b.done[i].gap_ema_max_ns), 2);
    }
}
END_TEST

Suite *sim_suite(void)
{
    Suite *s = suite_create("sim");
    TCase *tc = tcase_create("replica");

    tcase_add_test(tc, test_hand_computed_single);
    tcase_add_test(tc, test_prefill_first);
    tcase_add_test(tc, test_token_budget);
    tcase_add_test(tc, test_preemption);
    tcase_add_test(tc, test_reject_and_truncate);
    tcase_add_test(tc, test_in_system_integral);
    tcase_add_test(tc, test_steady_repeat);
    tcase_add_loop_test(tc, test_fast_forward_linear, 0, 2);
    suite_add_tcase(s, tc);
    return s;
}
