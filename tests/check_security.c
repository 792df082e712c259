/* tests/check_security.c: regression tests of issue 23 (defects found by
 * fuzzing): gnuplot command injection through names, paths from configs,
 * a trace time overflow that aborted, size overflows that printed wrong
 * answers, silently accepted input (duplicated keys and columns, rates
 * that simulate nothing, keys echoed raw, missing files as exit 1), and
 * the results pair written as a set.  docs/reliability.md lists each
 * defect with the test that guards it. */
#include <check.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <sqlite3.h>

#include "analysis/plot.h"
#include "analysis/sweep.h"
#include "analysis/sweepdb.h"
#include "run/run.h"
#include "run/scenario.h"
#include "cli/step.h"
#include "hw/cost.h"
#include "models/hf.h"
#include "models/model.h"
#include "sim/batch.h"
#include "base/jcfg.h"
#include "base/paths.h"
#include "tests/fixture.h"
#include "tests/suites.h"
#include "traces/source.h"

/* ---- helpers ------------------------------------------------------------ */

/* The file's bytes (NUL-terminated too) and their count in *len. */
static char *slurp_n(const char *path, long *len)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;

    ck_assert_msg(f != NULL, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = calloc(1, (size_t)n + 1);
    ck_assert_int_eq(fread(buf, 1, (size_t)n, f), n);
    fclose(f);
    if (len != NULL)
        *len = n;
    return buf;
}

static char *slurp(const char *path)
{
    return slurp_n(path, NULL);
}

static bool exists(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0;
}

/* A small valid scenario; extra is spliced into the top-level object and
 * wl replaces the workload when not NULL. */
static const char *scenario_text(const char *extra, const char *wl)
{
    static char text[4096];

    snprintf(text, sizeof(text),
        "{\"model\": \"llama-3-8b\", \"hardware\": {\"device\": "
        "\"h100-sxm-80gb\", \"num_gpus\": 1}, \"cost_model\": {\"name\": "
        "\"roofline\"}, \"workload\": %s, \"output\": {\"dir\": \"%s/out\"}"
        "%s}",
        wl ? wl : "{\"type\": \"poisson\", \"rate\": 20, \"num_requests\": "
                  "12, \"prompt\": {\"dist\": \"uniform\", \"min\": 16, "
                  "\"max\": 200}, \"output\": {\"dist\": \"uniform\", "
                  "\"min\": 2, \"max\": 20}}",
        fx_tmpdir, extra ? extra : "");
    return text;
}

/* scenario_load of text written to c.json: the code, the message in msg. */
static int load(const char *text, char *msg, size_t len)
{
    struct llm_diag d = { 0 };
    struct scenario sc;
    int rc = scenario_load(fx_put("c.json", text), NULL, &sc, &d);

    snprintf(msg, len, "%s", d.msg);
    scenario_free(&sc);
    return rc;
}

/* Runs the CLI (LLMSIM_BIN) with stdin from in; the exit status, and
 * stderr's first line in err.  -1 when LLMSIM_BIN is unset. */
static int cli(const char *args, const char *in, char *err, size_t len)
{
    const char *bin = getenv("LLMSIM_BIN");
    char cmd[2048];
    const char *errf = fx_path("cli.err");
    FILE *f;
    int st;

    err[0] = '\0';
    if (bin == NULL) {
        fx_skip("security: cli", "LLMSIM_BIN unset (make test sets it)");
        return -1;
    }
    snprintf(cmd, sizeof(cmd), "%s %s < %s > %s 2> %s", bin, args,
             in ? in : "/dev/null", fx_path("cli.out"), errf);
    st = system(cmd);
    f = fopen(errf, "r");
    if (f != NULL) {
        if (fgets(err, (int)len, f) == NULL)
            err[0] = '\0';
        fclose(f);
    }
    err[strcspn(err, "\n")] = '\0';
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* ---- 1. gnuplot command injection --------------------------------------- */

/* Names that tried to leave a gnuplot string: a quote, a newline, a
 * backslash before the quote, a double-quoted backquote, a comment. */
static const char *const hostile[] = {
    "x'; system('touch %s'); print '",
    "x\nsystem('touch %s')\n#",
    "x\\'; system('touch %s') #\\",
    "x\"`touch %s`\"'\"`touch %s`\"",
    "x\r\\\nsystem('touch %s') # '' ''' \\",
};

/* Whether every gnuplot string of the script closes on its own line and
 * nothing outside a string or comment calls system or a backquote, nor a
 * comment continues past its line (gnuplot joins a line ending in '\'). */
static void assert_gp_safe(const char *script)
{
    const char *p = script;
    int line = 1;

    while (*p) {
        const char *open = NULL;
        char q = 0;
        for (; *p && *p != '\n'; p++) {
            /* gnuplot 5.4 reads '' as a quote only after a character
             * that is not a quote (measured; see plot_gp_str) */
            if (q == '\'' && *p == '\'' && p[1] == '\'' && p[-1] != '\'' &&
                p - 1 != open) {
                p++;
            } else if (q == '\'' && *p == '\'') {
                q = 0;
            } else if (q == '"' && *p == '\\' && p[1] && p[1] != '\n') {
                p++;
            } else if (q == '"' && *p == '"') {
                q = 0;
            } else if (q == 0 && (*p == '\'' || *p == '"')) {
                q = *p;
                open = p;
            } else if (q == 0 && *p == '#') {
                const char *nl = strchr(p, '\n');
                ck_assert_msg(nl == NULL || nl[-1] != '\\', "plots.gp line "
                              "%d: a comment continued onto the next", line);
                p = nl ? nl : p + strlen(p);
                break;
            } else if (q == 0) {
                ck_assert_msg(*p != '`' && strncmp(p, "system", 6) != 0,
                              "plots.gp line %d: a command outside a string",
                              line);
            }
        }
        ck_assert_msg(q == 0, "plots.gp line %d: a string runs into the next "
                      "line", line);
        if (*p == '\n')
            p++;
        line++;
    }
}

/* plot_gp_str: one literal, closed, no quote or control byte inside, cut
 * whole; gnuplot (where installed) reads it back as the text shown. */
START_TEST(test_gp_str)
{
    static const struct { const char *in, *out; } cases[] = {
        { "plain", "'plain'" },
        { "", "''" },
        { "it's", "'it\xe2\x80\x99s'" },
        { "''", "'\xe2\x80\x99\xe2\x80\x99'" },
        { "a\nb\r\tc\x7f", "'a b  c '" },
        { "back\\slash\\", "'back\\slash\\'" },
        { "\"`id`\" @x #", "'\"`id`\" @x #'" },
        { "system('id')", "'system(\xe2\x80\x99id\xe2\x80\x99)'" },
    };
    char buf[64], cmd[1200], want[80];
    const char *in, *gp = fx_path("s.gp"), *out = fx_path("s.out");
    FILE *f;
    size_t i;
    char *got;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        ck_assert_str_eq(plot_gp_str(cases[i].in, buf, sizeof(buf)),
                         cases[i].out);
    /* cut: never a partial UTF-8 character, always closed */
    ck_assert_str_eq(plot_gp_str("abc\xc3\xa9", buf, 7), "'abc'");
    ck_assert_str_eq(plot_gp_str("ab'cd", buf, 6), "'ab'");
    ck_assert_str_eq(plot_gp_str("x", buf, 3), "''");
    if (system("command -v gnuplot >/dev/null 2>&1") != 0) {
        fx_skip("security: gp_str read-back", "no gnuplot (apt-get "
                "install gnuplot-nox)");
        return;
    }
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        in = cases[i].out;
        f = fopen(gp, "w");
        ck_assert_ptr_nonnull(f);
        fprintf(f, "set print %s\nprint %s\n",
                plot_gp_str(out, cmd, sizeof(cmd)), in);
        fclose(f);
        snprintf(cmd, sizeof(cmd), "gnuplot %s 2>/dev/null", gp);
        ck_assert_int_eq(system(cmd), 0);
        got = slurp(out);
        snprintf(want, sizeof(want), "%.*s\n", (int)strlen(in) - 2, in + 1);
        ck_assert_str_eq(got, want);
        free(got);
    }
}
END_TEST

/* A run whose results.sqlite carries name: the run itself is a plain one,
 * the runs table then rewritten as a crafted file would be. */
static const char *hostile_run(const char *name)
{
    const char *dir = fx_path("run");
    struct run_opts o = { .out_dir = dir, .quiet = 1 };
    struct llm_diag d = { 0 };
    struct scenario sc;
    cJSON *summary = NULL;
    sqlite3 *db;
    sqlite3_stmt *st;
    static char path[600];

    ck_assert_int_eq(scenario_load(fx_put("c.json", scenario_text(NULL,
                                   NULL)), NULL, &sc, &d), LLM_OK);
    ck_assert_msg(run_scenario(&sc, &o, &summary, NULL, &d) == LLM_OK, "%s",
                  d.msg);
    cJSON_Delete(summary);
    scenario_free(&sc);
    snprintf(path, sizeof(path), "%s/results.sqlite", dir);
    ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
    ck_assert_int_eq(sqlite3_prepare_v2(db, "UPDATE runs SET name = ?", -1,
                                        &st, NULL), SQLITE_OK);
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return path;
}

/* A sweep database named name: one configuration, two loads. */
static const char *hostile_sweep(const char *name)
{
    struct sweepdb_meta m = { .name = name, .kind = "sweep", .base = "{}",
        .load_axis = "workload.rate_scale", .confidence = 0.95 };
    const char *keys[] = { "scheduler.name", "workload.rate_scale" };
    static const char *const rate[] = { "1", "2" };
    const char *path = fx_path("sweep.sqlite");
    struct sweep_point pt;
    struct sweepdb *db;
    struct llm_diag d = { 0 };
    int r;

    ck_assert_int_eq(sweepdb_open(path, &m, &db, &d), LLM_OK);
    for (r = 0; r < 2; r++) {
        const char *vals[] = { "\"vllm\"", rate[r] };
        cJSON *met = cJSON_CreateObject();
        ck_assert_int_eq(sweep_point_make(keys, vals, 2, 1, &pt), 0);
        ck_assert_int_eq(sweepdb_register(db, &pt, 1, &d), LLM_OK);
        cJSON_AddNumberToObject(met, "offered_req_s", r + 1);
        cJSON_AddNumberToObject(met, "ttft_ms.p50", 10 + r);
        cJSON_AddNumberToObject(met, "goodput_req_s", r + 0.5);
        ck_assert_int_eq(sweepdb_record(db, pt.id, met, 0.1, 0, &d), LLM_OK);
        cJSON_Delete(met);
        sweep_point_clear(&pt);
    }
    ck_assert_int_eq(sweepdb_aggregate(db, &d), LLM_OK);
    sweepdb_close(db);
    return path;
}

/* llmsim plot of a crafted run database and sweep database: the script
 * keeps every name inside its string, and gnuplot runs no command. */
START_TEST(test_plot_injection)
{
    char name[600], mark[400], gp[600];
    const char *dbs[2];
    struct plot_list *made = calloc(1, sizeof(*made));
    struct llm_diag d = { 0 };
    char *script;

    snprintf(mark, sizeof(mark), "%s/PWNED", fx_tmpdir);
    snprintf(name, sizeof(name), hostile[_i], mark, mark);
    dbs[0] = hostile_run(name);
    dbs[1] = hostile_sweep(name);
    ck_assert_msg(plot_make(dbs, 2, fx_path("plots"), made, &d) == LLM_OK,
                  "%s", d.msg);
    ck_assert_msg(!exists(mark), "gnuplot ran a command from a name");
    snprintf(gp, sizeof(gp), "%s/plots/plots.gp", fx_tmpdir);
    script = slurp(gp);
    assert_gp_safe(script);
    free(script);
    free(made);
}
END_TEST

/* ---- 2. paths from configs ---------------------------------------------- */

static const struct { const char *extra, *model, *device, *msg; }
bad_paths[] = {
    { ", \"name\": \"../../x\"", NULL, NULL, "name: expected a run name" },
    { ", \"name\": \"a/b\"", NULL, NULL, "name: expected a run name" },
    { NULL, "\"../../../../etc/passwd\"", NULL,
      "model: expected a catalog id" },
    { NULL, "{\"id\": \"../llama-3-8b\"}", NULL,
      "model.id: expected a catalog id" },
    { NULL, NULL, "\"../devices/h100-sxm-80gb\"",
      "hardware.device: expected a catalog id" },
    { ", \"cluster\": {\"pools\": [{\"role\": \"mixed\", \"device\": "
      "\"../devices/h100-sxm-80gb\"}]}", NULL, NULL,
      "cluster.pools[0].device: expected a catalog id" },
};

/* Replaces the value after key (up to the next ',' or '}') with v. */
static void splice(char *text, size_t len, const char *key, const char *v)
{
    char *at = strstr(text, key), tail[4096];

    ck_assert_ptr_nonnull(at);
    at += strlen(key);
    snprintf(tail, sizeof(tail), "%s", at + strcspn(at, ",}"));
    snprintf(at, len - (size_t)(at - text), "%s%s", v, tail);
}

START_TEST(test_config_paths)
{
    char text[4096], msg[512];

    snprintf(text, sizeof(text), "%s",
             scenario_text(bad_paths[_i].extra, NULL));
    if (bad_paths[_i].model)
        splice(text, sizeof(text), "\"model\": ", bad_paths[_i].model);
    if (bad_paths[_i].device)
        splice(text, sizeof(text), "\"device\": ", bad_paths[_i].device);
    ck_assert_int_eq(load(text, msg, sizeof(msg)), LLM_EINVAL);
    ck_assert_msg(strncmp(msg, bad_paths[_i].msg,
                          strlen(bad_paths[_i].msg)) == 0,
                  "got \"%s\"", msg);
}
END_TEST

/* ---- 3. trace times past int64 nanoseconds ------------------------------ */

START_TEST(test_azure_292_years)
{
    char msg[512], args[700];
    const char *t = fx_put("t.csv", "TIMESTAMP,ContextTokens,"
                           "GeneratedTokens\n1900-01-01 00:00:00,10,10\n"
                           "2192-04-12 00:00:00,10,10\n");
    int st;

    snprintf(args, sizeof(args), "trace stats %s --type azure", t);
    st = cli(args, NULL, msg, sizeof(msg));
    if (st < 0)
        return;
    ck_assert_int_eq(st, 2);
    ck_assert_msg(strstr(msg, ": line 3: TIMESTAMP: expected a time within "
                         "292 years of the first row's") != NULL, "got \"%s\"",
                  msg);
}
END_TEST

/* Mooncake's spread adds up to bucket_ms to a timestamp near the end of
 * int64 ns: the sum must stay inside or be refused. */
START_TEST(test_mooncake_spread_overflow)
{
    char cfg[700];
    const char *t = fx_put("m.jsonl", "{\"timestamp\": 8000000000000, "
                           "\"input_length\": 5, \"output_length\": 5, "
                           "\"hash_ids\": [1]}\n");
    struct llm_diag d = { 0 };
    struct req_source *s = NULL;
    struct req_spec r;
    bool eof = false;
    cJSON *c;
    int rc;

    snprintf(cfg, sizeof(cfg), "{\"type\": \"mooncake\", \"path\": \"%s\", "
             "\"spread\": \"uniform\", \"bucket_ms\": 1e300}", t);
    c = cJSON_Parse(cfg);
    rc = source_open(c, "workload", 1, &s, &d);
    if (rc == LLM_OK)
        rc = source_next(s, &r, &eof, &d);
    if (rc == LLM_OK)
        ck_assert_msg(r.arrival_ns >= 0, "arrival %lld",
                      (long long)r.arrival_ns);
    ck_assert_int_eq(rc, LLM_EINVAL);
    ck_assert_str_eq(d.msg, "workload.bucket_ms: expected a number in "
                     "[0, 1e+07], got 1e+300");
    source_close(s);
    cJSON_Delete(c);
}
END_TEST

/* ---- 4. overflows that printed a wrong answer --------------------------- */

static const struct { const char *line, *msg; } bad_steps[] = {
    { "{\"prefill\": [[2147483647, 2147483647]]}",
      "prefill[0]: expected [tokens >= 1, prior >= 0] with tokens + prior "
      "<= 16777216" },
    { "{\"prefill\": [[1e300, 0]]}",
      "prefill[0]: expected [tokens >= 1, prior >= 0] with tokens + prior "
      "<= 16777216" },
    { "{\"decode\": [[2000000000, 4], [2000000000, 4]]}",
      "decode[0]: expected [count >= 1, context >= 0] with count <= 1048576 "
      "and context < 16777216" },
    { "{\"decode\": [[600000, 4], [600000, 4]]}",
      "decode[1]: the batch has more than 1048576 sequences" },
    { "{\"decode_ctx\": [1e300]}",
      "decode_ctx[0]: expected an integer in [0, 16777215]" },
};

START_TEST(test_step_bounds)
{
    struct llm_diag d = { 0 };
    struct batch b;
    cJSON *o = cJSON_Parse(bad_steps[_i].line);

    batch_init(&b);
    ck_assert_ptr_nonnull(o);
    ck_assert_int_eq(step_parse_batch(o, &b, &d), LLM_EINVAL);
    ck_assert_str_eq(d.msg, bad_steps[_i].msg);
    cJSON_Delete(o);
    batch_free(&b);
}
END_TEST

/* Two decode groups of 2e9 sequences each: the merged count wrapped. */
START_TEST(test_batch_decode_merge)
{
    struct batch b;
    int64_t seqs = 0;
    size_t i;

    batch_init(&b);
    ck_assert_int_eq(batch_add_decode(&b, 2000000000, 4), LLM_OK);
    ck_assert_int_eq(batch_add_decode(&b, 2000000000, 4), LLM_OK);
    for (i = 0; i < b.n_decode; i++) {
        ck_assert_int_gt(b.decode[i].count, 0);
        seqs += b.decode[i].count;
    }
    ck_assert_int_eq(seqs, 4000000000LL);
    ck_assert_int_eq(b.decode_seqs, 4000000000LL);
    batch_free(&b);
}
END_TEST

/* A price past int64 ns is an error, never a negative or wrapped time. */
START_TEST(test_cost_overflow)
{
    struct model m;
    struct device dev;
    struct llm_diag d = { 0 };
    struct cost_model *cm = NULL;
    struct cost_breakdown bd;
    struct batch b;
    cJSON *p = cJSON_Parse("{\"name\": \"fixed\", \"per_token_us\": 1e9}");
    struct cost_env env = { .model = &m, .dev = &dev, .root = llm_root(),
        .shard = { .tp = 1, .w_bytes = 2, .a_bytes = 2, .kv_bytes = 2 } };
    int i;

    ck_assert_int_eq(model_find(llm_root(), "llama-3-8b", &m, &d), LLM_OK);
    ck_assert_int_eq(device_find(llm_root(), "h100-sxm-80gb", &dev, &d),
                     LLM_OK);
    ck_assert_msg(cost_create(&env, p, "cost_model", &cm, &d) == LLM_OK, "%s",
                  d.msg);
    batch_init(&b);
    for (i = 0; i < 1024; i++)
        ck_assert_int_eq(batch_add_prefill(&b, 1 << 14, 0, 1), LLM_OK);
    ck_assert_int_eq(cost_price(cm, &b, &bd), LLM_ERANGE);
    batch_free(&b);
    cost_destroy(cm);
    cJSON_Delete(p);
}
END_TEST

START_TEST(test_kv_blocks_bound)
{
    char msg[512];

    ck_assert_int_eq(load(scenario_text(NULL, NULL), msg, sizeof(msg)),
                     LLM_OK);
    {
        char text[4096];
        snprintf(text, sizeof(text), "%s", scenario_text(NULL, NULL));
        splice(text, sizeof(text), "\"num_gpus\": ", "1, \"kv_blocks\": "
               "9e18");
        ck_assert_int_eq(load(text, msg, sizeof(msg)), LLM_EINVAL);
        ck_assert_str_eq(msg, "hardware.kv_blocks: expected an integer in "
                         "[1, 1073741824], got 9e+18");
    }
}
END_TEST

#define HF_BASE "\"num_hidden_layers\": 32, " \
    "\"num_attention_heads\": 32, \"num_key_value_heads\": 8, " \
    "\"intermediate_size\": 14336, \"vocab_size\": 128256, " \
    "\"max_position_embeddings\": 8192"

static const struct { const char *json, *msg; } bad_hf[] = {
    { "{" HF_BASE ", \"model_type\": \"llama\", \"hidden_size\": 433E6}",
      "hidden_size: expected an integer in [1, 131072], got 433000000" },
    { "{" HF_BASE ", \"hidden_size\": 4096, \"model_type\": \"mixtral\", "
      "\"num_local_experts\": 2147483000, \"num_experts_per_tok\": 2}",
      "num_local_experts: expected an integer in [1, 4096], got 2147483000" },
};

START_TEST(test_hf_sizes)
{
    struct llm_diag d = { 0 };
    struct model m;
    cJSON *hf = NULL;

    ck_assert_int_eq(jcfg_parse(bad_hf[_i].json, &hf, &d), LLM_OK);
    ck_assert_int_eq(hf_to_model(hf, "big", &m, &d), LLM_EINVAL);
    ck_assert_str_eq(d.msg, bad_hf[_i].msg);
    cJSON_Delete(hf);
}
END_TEST

/* ---- 5. silently accepted input ----------------------------------------- */

START_TEST(test_duplicate_keys)
{
    char text[4096], msg[512];

    snprintf(text, sizeof(text), "%s", scenario_text(", \"seed\": 1, "
             "\"seed\": 2", NULL));
    ck_assert_int_eq(load(text, msg, sizeof(msg)), LLM_EINVAL);
    ck_assert_str_eq(msg, "seed: duplicated key (each key may appear once)");
    snprintf(text, sizeof(text), "%s", scenario_text(NULL, NULL));
    splice(text, sizeof(text), "\"num_gpus\": ", "1, \"tp\": 1, \"tp\": 2");
    ck_assert_int_eq(load(text, msg, sizeof(msg)), LLM_EINVAL);
    ck_assert_str_eq(msg, "hardware.tp: duplicated key (each key may appear "
                     "once)");
}
END_TEST

START_TEST(test_step_duplicate_key)
{
    char msg[512];
    const char *in = fx_put("in.jsonl", "{\"prefill\": [[8, 0]], "
                            "\"prefill\": [[9000, 0]]}\n");
    int st = cli("step --model llama-3-8b --hw h100-sxm-80gb", in, msg,
                 sizeof(msg));

    if (st < 0)
        return;
    ck_assert_int_eq(st, 2);
    ck_assert_str_eq(msg, "llmsim step: stdin:1: prefill: duplicated key "
                     "(each key may appear once)");
}
END_TEST

START_TEST(test_trace_duplicates)
{
    char cfg[700];
    const char *csv = fx_put("g.csv", "arrival_s,prompt_tokens,output_tokens,"
                             "prompt_tokens\n0,5,5,9\n");
    const char *jl = fx_put("m.jsonl", "{\"timestamp\": 0, \"input_length\": "
                            "5, \"output_length\": 5, \"input_length\": 7}\n");
    struct llm_diag d = { 0 };
    struct req_source *s = NULL;
    struct req_spec r;
    bool eof = false;
    cJSON *c;
    int rc;

    snprintf(cfg, sizeof(cfg), "{\"type\": \"generic\", \"path\": \"%s\"}",
             csv);
    c = cJSON_Parse(cfg);
    rc = source_open(c, "workload", 1, &s, &d);
    if (rc == LLM_OK)
        rc = source_next(s, &r, &eof, &d);
    ck_assert_int_eq(rc, LLM_EINVAL);
    ck_assert_str_eq(d.msg, "line 1: column \"prompt_tokens\" appears twice "
                     "in the header");
    source_close(s);
    cJSON_Delete(c);
    s = NULL;
    memset(&d, 0, sizeof(d));
    snprintf(cfg, sizeof(cfg), "{\"type\": \"mooncake\", \"path\": \"%s\"}",
             jl);
    c = cJSON_Parse(cfg);
    rc = source_open(c, "workload", 1, &s, &d);
    if (rc == LLM_OK)
        rc = source_next(s, &r, &eof, &d);
    ck_assert_int_eq(rc, LLM_EINVAL);
    ck_assert_str_eq(d.msg, "line 1: input_length: duplicated key (each key "
                     "may appear once)");
    source_close(s);
    cJSON_Delete(c);
}
END_TEST

START_TEST(test_rate_simulates_nothing)
{
    char msg[512];
    const char *wl = "{\"type\": \"poisson\", \"rate\": 1e-300, "
        "\"num_requests\": 12, \"prompt\": {\"dist\": \"fixed\", \"value\": "
        "16}, \"output\": {\"dist\": \"fixed\", \"value\": 4}}";

    ck_assert_int_eq(load(scenario_text(NULL, wl), msg, sizeof(msg)),
                     LLM_EINVAL);
    ck_assert_str_eq(msg, "workload.rate: expected a rate of at least 1e-06 "
                     "req/s (one request in 11.6 days; slower arrivals pass "
                     "the int64-nanosecond clock), got 1e-300");
}
END_TEST

START_TEST(test_inf_reported)
{
    struct llm_diag d = { 0 };
    cJSON *o = NULL;
    int64_t v = 0;
    double x = 0;

    ck_assert_int_eq(jcfg_parse("{\"a\": 1e999, \"b\": -1e999}", &o, &d),
                     LLM_OK);
    ck_assert_int_eq(jcfg_int(o, "s", "a", false, 1, 10, &v, &d),
                     LLM_EINVAL);
    ck_assert_str_eq(d.msg, "s.a: expected an integer in [1, 10], got inf");
    memset(&d, 0, sizeof(d));
    ck_assert_int_eq(jcfg_num(o, "", "b", false, 0, 1, &x, &d), LLM_EINVAL);
    ck_assert_str_eq(d.msg, "b: expected a number in [0, 1], got -inf");
    cJSON_Delete(o);
}
END_TEST

/* A key holding a newline would forge a second message line. */
START_TEST(test_key_escaped)
{
    static const char *const known[] = { "name", NULL };
    struct llm_diag d = { 0 };
    cJSON *o = NULL;

    ck_assert_int_eq(jcfg_parse("{\"x\\nllmsim: all good\\u001b[0m\": 1}", &o,
                                &d), LLM_OK);
    ck_assert_int_eq(jcfg_known(o, "scheduler", known, &d), LLM_EINVAL);
    ck_assert_str_eq(d.msg, "scheduler.x\\nllmsim: all good\\x1b[0m: unknown "
                     "key (known: name)");
    cJSON_Delete(o);
}
END_TEST

/* A value holding a newline, quoted raw by a message, is escaped too. */
START_TEST(test_value_escaped)
{
    char text[4096], msg[512];

    snprintf(text, sizeof(text), "%s", scenario_text(", \"scheduler\": "
             "{\"name\": \"v\\nllmsim: all good\"}", NULL));
    ck_assert_int_eq(load(text, msg, sizeof(msg)), LLM_EINVAL);
    ck_assert_ptr_null(strchr(msg, '\n'));
    ck_assert_msg(strncmp(msg, "scheduler.name: unknown scheduler \"v\\n"
                          "llmsim: all good\"", 50) == 0, "got \"%s\"", msg);
}
END_TEST

START_TEST(test_missing_files)
{
    char msg[512], text[2048];
    const char *wl = "{\"type\": \"azure\", \"path\": \"no/such.csv\"}";
    struct sweep_spec sp;
    struct llm_diag d = { 0 };
    char *id = NULL;

    ck_assert_int_eq(load(scenario_text(NULL, wl), msg, sizeof(msg)),
                     LLM_EINVAL);
    ck_assert_str_eq(msg, "workload.path: cannot open \"no/such.csv\": No "
                     "such file or directory");
    snprintf(text, sizeof(text), "{\"base\": \"no/base.json\", \"seeds\": "
             "[1], \"params\": {\"workload.rate_scale\": [1, 2]}}");
    ck_assert_int_eq(sweep_load(fx_put("s.json", text), &sp, &d), LLM_OK);
    ck_assert_int_eq(sweep_base_identity(&sp, &id, &d), LLM_EINVAL);
    ck_assert_str_eq(d.msg, "base: cannot open \"no/base.json\": No such file "
                     "or directory");
    ck_assert_str_eq(d.file, fx_path("s.json"));
    free(id);
    sweep_spec_free(&sp);
}
END_TEST

/* ---- 6. the output pair as a set -------------------------------------- */

/* A disk that is full: every write to the file fails with ENOSPC. */
static FILE *open_full(const char *path, const char *mode)
{
    (void)path;
    return fopen("/dev/full", mode);
}

static int run_into(const char *dir, const char *seed,
                    FILE *(*open_file)(const char *, const char *),
                    struct llm_diag *d)
{
    const char *sets[] = { seed, NULL };
    struct run_opts o = { .out_dir = dir, .quiet = 1,
                          .open_file = open_file };
    struct scenario sc;
    cJSON *summary = NULL;
    int rc = scenario_load(fx_put("c.json", scenario_text(NULL, NULL)), sets,
                           &sc, d);

    if (rc == LLM_OK)
        rc = run_scenario(&sc, &o, &summary, NULL, d);
    cJSON_Delete(summary);
    scenario_free(&sc);
    return rc;
}

/* A summary that cannot be written leaves the previous pair as it was:
 * never a new database beside an old summary. */
START_TEST(test_output_pair)
{
    const char *dir = fx_path("out2");
    char db[600], js[600], want[800];
    char *db0, *js0, *db1, *js1;
    long n0, n1;
    struct llm_diag d = { 0 };

    snprintf(db, sizeof(db), "%s/results.sqlite", dir);
    snprintf(js, sizeof(js), "%s/summary.json", dir);
    ck_assert_msg(run_into(dir, "seed=1", NULL, &d) == LLM_OK, "%s", d.msg);
    db0 = slurp_n(db, &n0);
    js0 = slurp(js);
    memset(&d, 0, sizeof(d));
    ck_assert_int_eq(run_into(dir, "seed=2", open_full, &d), LLM_EIO);
    snprintf(want, sizeof(want), "cannot write %s/summary.json.tmp: No space "
             "left on device", dir);
    ck_assert_str_eq(d.msg, want);
    db1 = slurp_n(db, &n1);
    js1 = slurp(js);
    ck_assert_msg(n0 == n1 && memcmp(db0, db1, (size_t)n0) == 0,
                  "a new results.sqlite beside the old summary.json");
    ck_assert_str_eq(js0, js1);
    ck_assert(!exists(fx_path("out2/results.sqlite.tmp")));
    ck_assert(!exists(fx_path("out2/summary.json.tmp")));
    free(db0);
    free(js0);
    free(db1);
    free(js1);
}
END_TEST

Suite *security_suite(void)
{
    Suite *s = suite_create("security");
    TCase *tc = tcase_create("issue23");

    tcase_add_checked_fixture(tc, fx_setup, fx_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_gp_str);
    tcase_add_loop_test(tc, test_plot_injection, 0,
                        sizeof(hostile) / sizeof(hostile[0]));
    tcase_add_loop_test(tc, test_config_paths, 0,
                        sizeof(bad_paths) / sizeof(bad_paths[0]));
    tcase_add_test(tc, test_azure_292_years);
    tcase_add_test(tc, test_mooncake_spread_overflow);
    tcase_add_loop_test(tc, test_step_bounds, 0,
                        sizeof(bad_steps) / sizeof(bad_steps[0]));
    tcase_add_test(tc, test_batch_decode_merge);
    tcase_add_test(tc, test_cost_overflow);
    tcase_add_test(tc, test_kv_blocks_bound);
    tcase_add_loop_test(tc, test_hf_sizes, 0,
                        sizeof(bad_hf) / sizeof(bad_hf[0]));
    tcase_add_test(tc, test_duplicate_keys);
    tcase_add_test(tc, test_step_duplicate_key);
    tcase_add_test(tc, test_trace_duplicates);
    tcase_add_test(tc, test_rate_simulates_nothing);
    tcase_add_test(tc, test_inf_reported);
    tcase_add_test(tc, test_key_escaped);
    tcase_add_test(tc, test_value_escaped);
    tcase_add_test(tc, test_missing_files);
    tcase_add_test(tc, test_output_pair);
    suite_add_tcase(s, tc);
    return s;
}
