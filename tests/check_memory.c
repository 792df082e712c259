/* Tests of the memory planner (models/memplan.h), `llmsim memory` and
 * the hardware keys a scenario adds for it.  Two plans are checked
 * against hand computations written out below. */
#include <check.h>
#include <stdarg.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cmd_memory.h"
#include "run/scenario.h"
#include "hw/device.h"
#include "models/memplan.h"
#include "models/model.h"
#include "base/paths.h"
#include "tests/suites.h"

#define GIB 1073741824.0

static char tmpdir[256];

static void setup(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/llmsim-mem-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void teardown(void)
{
    char cmd[300];

    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
    ck_assert_int_eq(system(cmd), 0);
}

static struct model load(const char *id)
{
    struct model m;
    struct llm_diag d = { 0 };

    ck_assert_msg(model_find(llm_root(), id, &m, &d) == LLM_OK, "%s", d.msg);
    return m;
}

static double h100_bytes(void)
{
    struct device dev;
    struct llm_diag d = { 0 };

    ck_assert_int_eq(device_find(llm_root(), "h100-sxm-80gb", &dev, &d), 0);
    return dev.mem_bytes;
}

static struct mem_limits vllm_defaults(double total)
{
    return (struct mem_limits){ .total_bytes = total, .util = 0.9,
                                .token_budget = 8192, .max_seqs = 256,
                                .block_tokens = 16, .reserve_bytes = -1 };
}

/* Llama-3-8B, one H100 (85520809984 bytes in the catalog), bf16, vLLM's
 * defaults (0.9, 8192 batched tokens, 256 sequences, block 16):
 *   usable      0.9 x 85520809984                          = 76968728985.6
 *   weights     embedding + LM head 2 x 128256 x 4096 x 2  =  2101346304
 *               attention 32 x (4096 x 48 x 128 + 4096 x 4096) x 2
 *                                                          =  2684354560
 *               MLP 32 x 3 x 4096 x 14336 x 2              = 11274289152
 *               norms (2 x 32 + 1) x 4096 x 2              =      532480
 *               total (= 2 x 8030261248 parameters)        = 16060522496
 *   activations forward: max(attention 2x4096 + 48x128 + 4096 = 18432,
 *               MLP 2x4096 + 3x14336 = 51200) x 2 B x 8192 tokens x 1.41
 *               = 1182793728; sampler 3.84 x 256 x 128256 x 4 =
 *               504323112.96; the larger                   =  1182793728
 *   non-torch   0.25 GiB                                   =   268435456
 *   KV          76968728985.6 - 16060522496 - 1182793728 - 268435456
 *                                                          = 59456977305.6
 *   block       32 layers x 2 x 8 heads x 128 x 2 B x 16   =     2097152
 *   blocks      floor(59456977305.6 / 2097152)             =       28351 */
START_TEST(test_plan_llama3_8b)
{
    struct model m = load("llama-3-8b");
    struct shard s = { .tp = 1, .w_bytes = 2, .a_bytes = 2, .kv_bytes = 2 };
    struct mem_limits lim = vllm_defaults(h100_bytes());
    struct mem_plan p;

    ck_assert_double_eq(lim.total_bytes, 85520809984.0);
    memplan_build(&m, &s, &lim, &p);
    ck_assert_double_eq_tol(p.weight_bytes, 16060522496.0, 0.5);
    ck_assert_double_eq_tol(p.activation_bytes, 1182793728.0, 1);
    ck_assert_double_eq(p.reserve_bytes, 268435456.0);
    ck_assert_double_eq_tol(p.kv_bytes, 59456977305.6, 2);
    ck_assert_double_eq(p.block_bytes, 2097152.0);
    ck_assert_int_eq(p.kv_blocks, 28351);
    ck_assert_int_eq(p.kv_tokens, 28351 * 16);
}
END_TEST

/* Mixtral-8x7B on two H100s (tp 2), bf16, the same defaults:
 *   usable      76968728985.6
 *   weights     embedding + LM head 2 x 16000 x 4096 x 2   =   262144000
 *               attention 32 x (4096 x (16 + 2x4) x 128 + 16 x 128 x 4096)
 *                         x 2                              =  1342177280
 *               experts 32 x (router 4096 x 8 x 2
 *                         + 8 x 3 x 4096 x 7168 x 2)       = 45099253760
 *               norms 65 x 4096 x 2                        =      532480
 *               total                                      = 46704107520
 *   activations forward: MoE 2x4096 + 2x8 + 2 x (3x7168 + 4096) = 59408
 *               elements x 2 B x 8192 x 1.41               = 1372410347.52
 *               (> sampler 3.84 x 256 x 32000 x 4 = 125829120)
 *   non-torch   2.1 GiB at tp 2                            = 2254857830.4
 *   KV          76968728985.6 - 46704107520 - 1372410347.52
 *               - 2254857830.4                             = 26637353287.68
 *   block       32 x 2 x 4 heads x 128 x 2 B x 16          =     1048576
 *   blocks      floor(26637353287.68 / 1048576)            =       25403 */
START_TEST(test_plan_mixtral_tp2)
{
    struct model m = load("mixtral-8x7b");
    struct shard s = { .tp = 2, .w_bytes = 2, .a_bytes = 2, .kv_bytes = 2 };
    struct mem_limits lim = vllm_defaults(h100_bytes());
    struct mem_plan p;

    memplan_build(&m, &s, &lim, &p);
    ck_assert_double_eq_tol(p.w.experts, 45099253760.0, 0.5);
    ck_assert_double_eq_tol(p.weight_bytes, 46704107520.0, 0.5);
    ck_assert_double_eq_tol(p.activation_bytes, 1372410347.52, 1);
    ck_assert_double_eq_tol(p.reserve_bytes, 2254857830.4, 0.5);
    ck_assert_double_eq(p.block_bytes, 1048576.0);
    ck_assert_int_eq(p.kv_blocks, 25403);
}
END_TEST

/* Pipeline stages are planned apart; the smallest KV capacity wins. */
START_TEST(test_plan_pp)
{
    struct model m = load("llama-3.1-405b");
    struct shard s = { .tp = 8, .pp = 2, .w_bytes = 1, .a_bytes = 2,
                       .kv_bytes = 1, .w_dtype = DT_FP8,
                       .kv_dtype = DT_FP8 };
    struct mem_limits lim = vllm_defaults(h100_bytes());
    struct mem_weights w0, w1;
    struct mem_plan p;

    memplan_stage_weights(&m, &s, 0, &w0);
    memplan_stage_weights(&m, &s, 1, &w1);
    ck_assert_double_gt(w0.embed, 0);
    ck_assert_double_eq(w0.lm_head, 0);
    ck_assert_double_eq(w1.embed, 0);
    ck_assert_double_eq(w1.lm_head, w0.embed);
    memplan_build(&m, &s, &lim, &p);
    ck_assert_int_eq(p.stage, 1);
    ck_assert_double_eq(p.block_bytes, 63.0 * 2 * 1 * 128 * 1 * 16);
    ck_assert_int_gt(p.kv_blocks, 100000);
}
END_TEST

START_TEST(test_plan_dtypes)
{
    struct model m = load("llama-3-8b");
    struct shard s = { .tp = 1, .w_bytes = 2, .a_bytes = 2, .kv_bytes = 1,
                       .kv_dtype = DT_FP8 };
    struct mem_limits lim = vllm_defaults(h100_bytes());
    struct mem_plan p;

    memplan_build(&m, &s, &lim, &p);
    ck_assert_double_eq(p.block_bytes, 2097152.0 / 2);
    ck_assert_int_eq(p.kv_blocks, 2 * 28351);
    s.kv_dtype = DT_INT2;
    s.kv_bytes = 0.25;
    memplan_build(&m, &s, &lim, &p);
    ck_assert_double_eq(p.block_bytes, 2097152.0 * 0.375 / 2);
    s.w_dtype = DT_INT4;
    s.w_bytes = 0.5;
    memplan_build(&m, &s, &lim, &p);
    /* linear layers at 0.5 + 2.5/128 bytes, embedding and head bf16 */
    ck_assert_double_eq_tol(p.w.mlp, 11274289152.0 / 2 * (0.5 + 2.5 / 128),
                            1);
    ck_assert_double_eq(p.w.embed, 128256.0 * 4096 * 2);
}
END_TEST

/* MLA caches kv_lora_rank + rope values per token per layer, the same on
 * every TP rank. */
START_TEST(test_plan_mla)
{
    struct model m = load("deepseek-v2-lite");
    struct shard s = { .tp = 1, .w_bytes = 2, .a_bytes = 2, .kv_bytes = 2 };
    struct mem_limits lim = vllm_defaults(h100_bytes());
    struct mem_plan p, p2;

    memplan_build(&m, &s, &lim, &p);
    ck_assert_double_eq(p.block_bytes, 27.0 * 576 * 2 * 16);
    s.tp = 2;
    memplan_build(&m, &s, &lim, &p2);
    ck_assert_double_eq(p2.block_bytes, p.block_bytes);
    ck_assert_double_lt(p2.w.attn, p.w.attn);
}
END_TEST

static int check_err(const char *id, struct shard s, double util,
                     char *msg, size_t len)
{
    struct model m = load(id);
    struct mem_limits lim = vllm_defaults(h100_bytes());
    struct llm_diag d = { 0 };
    struct mem_plan p;
    int rc;

    lim.util = util;
    rc = memplan_check(&m, &s, &lim, m.max_context, "h100-sxm-80gb", &p, &d);
    snprintf(msg, len, "%s", d.msg);
    return rc;
}

START_TEST(test_misfit)
{
    struct shard s = { .tp = 1, .w_bytes = 2, .a_bytes = 2, .kv_bytes = 2 };
    char msg[512];

    ck_assert_int_eq(check_err("llama-3.1-70b", s, 0.9, msg, sizeof(msg)),
                     LLM_ERANGE);
    ck_assert(strncmp(msg, "hardware: llama-3.1-70b does not fit on "
                      "h100-sxm-80gb with tp 1, pp 1: weights 131.4 GiB + ",
                      91) == 0);
    /* tp 2 holds the weights but not one 131072-token sequence */
    ck_assert(strstr(msg, "short of one KV block; smallest that fits: tp 4")
              != NULL);
    ck_assert_int_eq(check_err("llama-3.1-8b", s, 0.3, msg, sizeof(msg)),
                     LLM_ERANGE);
    ck_assert(strncmp(msg, "model.max_model_len: one sequence of 131072 "
                      "tokens needs 16.00 GiB of KV cache per GPU, more than "
                      "the ", 102) == 0);
    ck_assert(strstr(msg, "smallest that fits: tp 2") != NULL);
    ck_assert_int_eq(check_err("llama-3.1-8b", s, 0.9, msg, sizeof(msg)),
                     LLM_OK);
}
END_TEST

/* ---- llmsim memory ----------------------------------------------------- */

static int run(char *out, size_t olen, char *err, size_t elen, ...)
{
    char *argv[40];
    int argc = 0, rc;
    va_list ap;
    char *obuf = NULL, *ebuf = NULL;
    size_t on = 0, en = 0;
    FILE *o = open_memstream(&obuf, &on), *e = open_memstream(&ebuf, &en);

    va_start(ap, elen);
    argv[argc++] = "memory";
    while ((argv[argc] = va_arg(ap, char *)) != NULL)
        argc++;
    va_end(ap);
    rc = cmd_memory_io(argc, argv, o, e);
    fclose(o);
    fclose(e);
    snprintf(out, olen, "%s", obuf);
    snprintf(err, elen, "%s", ebuf);
    free(obuf);
    free(ebuf);
    return rc;
}

START_TEST(test_cli_plan)
{
    char out[4096], err[1024];

    ck_assert_int_eq(run(out, sizeof(out), err, sizeof(err), "--model",
                         "llama-3-8b", "--hw", "h100-sxm-80gb", NULL), 0);
    ck_assert_str_eq(err, "");
    /* the default scheduler, vLLM V1, takes 8192 tokens and 1024
     * sequences on an H100 (policies/sched_vllm.c), as `llmsim run` does */
    ck_assert(strstr(out, "KV cache         54.60 GiB = 27953 blocks x 16 "
                     "tokens = 447248 tokens (128.0 KiB per token per GPU)")
              != NULL);
    ck_assert_int_eq(run(out, sizeof(out), err, sizeof(err), "--model",
                         "llama-3-8b", "--hw", "h100-sxm-80gb", "--scheduler",
                         "vllm-v0", NULL), 0);
    ck_assert(strstr(out, "KV cache         55.37 GiB = 28351 blocks x 16 "
                     "tokens = 453616 tokens (128.0 KiB per token per GPU)")
              != NULL);
    ck_assert_int_eq(run(out, sizeof(out), err, sizeof(err), "--model",
                         "llama-3-8b", "--hw", "h100-sxm-80gb", "--kv-dtype",
                         "fp8", "--json", NULL), 0);
    ck_assert(strstr(out, "\"kv_blocks\":55906,") != NULL);
}
END_TEST

START_TEST(test_cli_errors)
{
    char out[4096], err[1024];

    ck_assert_int_eq(run(out, sizeof(out), err, sizeof(err), "--model",
                         "llama-3-8b", "--hw", "h100-sxm-80gb", "--tp", "x",
                         NULL), 2);
    ck_assert_str_eq(err, "llmsim memory: --tp: expected a positive integer, "
                     "got \"x\"\n");
    ck_assert_int_eq(run(out, sizeof(out), err, sizeof(err), "--model",
                         "llama-3-8b", "--hw", "h100-sxm-80gb", "--tp", "3",
                         NULL), 2);
    ck_assert(strncmp(err, "llmsim memory: hardware.tp: 3 does not divide",
                      45) == 0);
    ck_assert_int_eq(run(out, sizeof(out), err, sizeof(err), "--model",
                         "llama-3.1-70b", "--hw", "h100-sxm-80gb", NULL), 2);
    ck_assert(strstr(err, "does not fit on h100-sxm-80gb") != NULL);
    ck_assert_str_eq(out, "");
    ck_assert_int_eq(run(out, sizeof(out), err, sizeof(err), "--model",
                         "gpt-9", "--hw", "h100-sxm-80gb", NULL), 2);
    ck_assert_int_eq(run(out, sizeof(out), err, sizeof(err), "--model",
                         "llama-3-8b", "--hw", "h100-sxm-80gb", "--dtype",
                         "fp4", NULL), 2);
    ck_assert_str_eq(err, "llmsim memory: --dtype: expected one of bf16, "
                     "fp16, fp8, int8, int4, got \"fp4\"\n");
    ck_assert_int_eq(run(out, sizeof(out), err, sizeof(err), "--modle", "x",
                         NULL), 2);
    ck_assert_int_eq(run(out, sizeof(out), err, sizeof(err), "--model",
                         "llama-3-8b", NULL), 2);
    ck_assert(strncmp(err, "usage: llmsim memory", 20) == 0);
}
END_TEST

static const char QWEN_HF[] = "{\"architectures\": [\"Qwen2ForCausalLM\"], "
    "\"model_type\": \"qwen2\", \"hidden_size\": 3584, "
    "\"intermediate_size\": 18944, \"max_position_embeddings\": 32768, "
    "\"num_attention_heads\": 28, \"num_hidden_layers\": 28, "
    "\"num_key_value_heads\": 4, \"rms_norm_eps\": 1e-06, "
    "\"rope_theta\": 1000000.0, \"sliding_window\": 131072, "
    "\"tie_word_embeddings\": false, \"use_sliding_window\": false, "
    "\"vocab_size\": 152064}\n";

START_TEST(test_cli_import)
{
    char cfg[300], dst[300], out[4096], err[1024];
    struct model a, b = load("qwen2.5-7b");
    struct llm_diag d = { 0 };
    FILE *f;

    snprintf(cfg, sizeof(cfg), "%s/config.json", tmpdir);
    snprintf(dst, sizeof(dst), "%s/q7.json", tmpdir);
    f = fopen(cfg, "w");
    fputs(QWEN_HF, f);
    fclose(f);
    ck_assert_int_eq(run(out, sizeof(out), err, sizeof(err), "--import-hf",
                         cfg, "--id", "q7", "--out", dst, NULL), 0);
    ck_assert(strstr(out, ": q7, 7.62B parameters") != NULL);
    ck_assert_int_eq(model_load(dst, &a, &d), LLM_OK);
    ck_assert_int_eq(model_params(&a), model_params(&b));
    ck_assert(a.qkv_bias);
    ck_assert_int_eq(a.sliding_window, 0);
    ck_assert_int_eq(run(out, sizeof(out), err, sizeof(err), "--import-hf",
                         cfg, "--id", "q7", "--out", dst, NULL), 2);
    ck_assert(strstr(err, "q7.json exists (--force replaces it)") != NULL);
    ck_assert_int_eq(run(out, sizeof(out), err, sizeof(err), "--import-hf",
                         cfg, "--id", "q7", "--out", dst, "--force", NULL), 0);
    ck_assert_int_eq(run(out, sizeof(out), err, sizeof(err), "--model", dst,
                         "--hw", "h100-sxm-80gb", NULL), 0);
    ck_assert_int_eq(run(out, sizeof(out), err, sizeof(err), "--import-hf",
                         cfg, "--id", "../x", NULL), 2);
    ck_assert_int_eq(access(dst, F_OK), 0);
}
END_TEST

/* ---- scenario keys --------------------------------------------------- */

static int scenario_err(const char *model, const char *hw, char *msg,
                        size_t len)
{
    char path[300], text[2048];
    struct llm_diag d = { 0 };
    struct scenario sc;
    FILE *f;
    int rc;

    snprintf(path, sizeof(path), "%s/s.json", tmpdir);
    snprintf(text, sizeof(text), "{\"model\": %s, \"hardware\": {\"device\": "
             "\"h100-sxm-80gb\"%s}, \"scheduler\": "
             "{\"max_num_batched_tokens\": 8192}, \"workload\": "
             "{\"type\": \"poisson\", \"rate\": 1, \"num_requests\": 3, "
             "\"prompt\": {\"dist\": \"fixed\", \"value\": 100}, "
             "\"output\": {\"dist\": \"fixed\", \"value\": 10}}}", model, hw);
    f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    rc = scenario_load(path, NULL, &sc, &d);
    snprintf(msg, len, "%s", d.msg);
    scenario_free(&sc);     /* whatever scenario_load returned */
    return rc;
}

START_TEST(test_scenario_keys)
{
    char m[600];

    ck_assert_int_eq(scenario_err("\"llama-3-8b\"", ", \"pp\": 2, "
                                  "\"num_gpus\": 3", m, sizeof(m)),
                     LLM_EINVAL);
    ck_assert_str_eq(m, "hardware.num_gpus: 3 is not a multiple of "
                     "hardware.tp x hardware.pp = 2");
    ck_assert_int_eq(scenario_err("\"llama-3-8b\"", ", \"pp\": 40", m,
                                  sizeof(m)), LLM_EINVAL);
    ck_assert_str_eq(m, "hardware.pp: 40 exceeds llama-3-8b's 32 layers "
                     "(each stage needs at least one)");
    ck_assert_int_eq(scenario_err("\"llama-3-8b\"", ", \"ep\": 1, "
                                  "\"ep_alltoall\": true", m, sizeof(m)),
                     LLM_EINVAL);
    ck_assert_str_eq(m, "hardware.ep_alltoall: needs hardware.ep > 1");
    ck_assert_int_eq(scenario_err("\"llama-3-8b\"", ", \"kv_dtype\": "
                                  "\"int3\"", m, sizeof(m)), LLM_EINVAL);
    ck_assert_str_eq(m, "hardware.kv_dtype: expected one of bf16, fp16, fp8, "
                     "int8, int4, int2, got \"int3\"");
    ck_assert_int_eq(scenario_err("\"llama-3-8b\"", ", \"network_link\": "
                                  "\"ib-xdr\"", m, sizeof(m)), LLM_ENOTFOUND);
    ck_assert_int_eq(scenario_err("\"llama-3.1-8b\"", ", "
                                  "\"gpu_memory_utilization\": 0.3", m,
                                  sizeof(m)), LLM_ERANGE);
    ck_assert(strncmp(m, "model.max_model_len: one sequence of 131072", 43)
              == 0);
    ck_assert_int_eq(scenario_err("{\"id\": \"llama-3.1-8b\", "
                                  "\"max_model_len\": 8192}", ", "
                                  "\"gpu_memory_utilization\": 0.3, "
                                  "\"pp\": 2, \"kv_dtype\": \"fp8\"", m,
                                  sizeof(m)), LLM_OK);
}
END_TEST

/* Import writes to the user catalog, never the repository's own (issue
 * 18): --catalog DIR, else $LLMSIM_CATALOG, else under $HOME; an id is
 * then found there, and a config names the file relative to itself. */
START_TEST(test_cli_import_user_catalog)
{
    char cfg[300], cat[300], path[400], out[4096], err[1024], m[600];
    FILE *f;

    snprintf(cfg, sizeof(cfg), "%s/config.json", tmpdir);
    f = fopen(cfg, "w");
    fputs(QWEN_HF, f);
    fclose(f);
    snprintf(cat, sizeof(cat), "%s/user/cat", tmpdir);
    ck_assert_int_eq(setenv("LLMSIM_CATALOG", cat, 1), 0);
    ck_assert_int_eq(run(out, sizeof(out), err, sizeof(err), "--import-hf",
                         cfg, "--id", "q7-user", NULL), 0);
    snprintf(path, sizeof(path), "%s/q7-user.json", cat);
    ck_assert_int_eq(access(path, R_OK), 0);
    snprintf(path, sizeof(path), "%s/models/catalog/q7-user.json",
             llm_root());
    ck_assert_int_ne(access(path, F_OK), 0);
    ck_assert_int_eq(run(out, sizeof(out), err, sizeof(err), "--model",
                         "q7-user", "--hw", "h100-sxm-80gb", NULL), 0);
    ck_assert_int_eq(scenario_err("\"user/cat/q7-user.json\"", "", m,
                                  sizeof(m)), LLM_OK);
    ck_assert_int_eq(scenario_err("\"q7-user\"", "", m, sizeof(m)), LLM_OK);
    /* relative to the config, not the catalog: not there, which is bad
     * input like any missing input file (issue 19: exit 2) */
    ck_assert_int_eq(scenario_err("\"cat/q7-user.json\"", "", m, sizeof(m)),
                     LLM_EINVAL);
    ck_assert_int_eq(run(out, sizeof(out), err, sizeof(err), "--import-hf",
                         cfg, "--id", "q7", "--catalog", cat, "--out", "x",
                         NULL), 2);
    snprintf(cat, sizeof(cat), "%s/c2", tmpdir);
    ck_assert_int_eq(run(out, sizeof(out), err, sizeof(err), "--import-hf",
                         cfg, "--id", "q7", "--catalog", cat, NULL), 0);
    snprintf(path, sizeof(path), "%s/q7.json", cat);
    ck_assert_int_eq(access(path, R_OK), 0);
    ck_assert_int_eq(unsetenv("LLMSIM_CATALOG"), 0);
    ck_assert_int_eq(unsetenv("XDG_DATA_HOME"), 0);
    ck_assert_int_eq(setenv("HOME", tmpdir, 1), 0);
    ck_assert_int_eq(run(out, sizeof(out), err, sizeof(err), "--import-hf",
                         cfg, "--id", "q7", NULL), 0);
    snprintf(path, sizeof(path), "%s/.local/share/llmsim/models/q7.json",
             tmpdir);
    ck_assert_int_eq(access(path, R_OK), 0);
}
END_TEST

Suite *memory_suite(void)
{
    Suite *s = suite_create("memory");
    TCase *tc = tcase_create("core");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_plan_llama3_8b);
    tcase_add_test(tc, test_plan_mixtral_tp2);
    tcase_add_test(tc, test_plan_pp);
    tcase_add_test(tc, test_plan_dtypes);
    tcase_add_test(tc, test_plan_mla);
    tcase_add_test(tc, test_misfit);
    tcase_add_test(tc, test_cli_plan);
    tcase_add_test(tc, test_cli_errors);
    tcase_add_test(tc, test_cli_import);
    tcase_add_test(tc, test_cli_import_user_catalog);
    tcase_add_test(tc, test_scenario_keys);
    suite_add_tcase(s, tc);
    return s;
}
