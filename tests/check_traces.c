/* tests/check_traces.c: the trace readers, their error messages, the
 * common transforms, merge, `trace stats` and `trace gen`.  The
 * generators are tested in tests/check_traces_gen.c; both files make up
 * the suite "traces".  Paths are relative to the repository root, where
 * `make test` runs. */
#include <check.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>

#include "cli/cmd_trace.h"
#include "base/jcfg.h"
#include "tests/suites.h"
#include "traces/rows.h"
#include "traces/source.h"
#include "traces/stats.h"

#define DATA "tests/data/traces/"
#define SHIPPED "traces/data/AzureLLMInferenceTrace_conv.csv.gz"
#define CARRIED "traces/data/"

/* Helpers */

/* Config text written with ' for " (readable in C), parsed; shared with
 * tests/check_traces_gen.c.  The caller deletes it. */
cJSON *tr_cfg(const char *text)
{
    char *s = strdup(text);
    struct llm_diag d = { 0 };
    cJSON *root = NULL;

    ck_assert_ptr_nonnull(s);
    for (char *p = s; *p; p++)
        if (*p == '\'')
            *p = '"';
    ck_assert_msg(jcfg_parse(s, &root, &d) == LLM_OK, "%s: %s", s, d.msg);
    free(s);
    return root;
}

/* A whole stream in memory, block hashes copied. */
struct reqs {
    struct req_spec *v;
    uint64_t **hashes;
    size_t n, cap;
    struct source_counts counts;
};

static void reqs_push(struct reqs *r, const struct req_spec *x)
{
    size_t bytes = (size_t)x->n_block_hashes * sizeof(uint64_t);

    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 256;
        r->v = realloc(r->v, r->cap * sizeof(*r->v));
        r->hashes = realloc(r->hashes, r->cap * sizeof(*r->hashes));
        ck_assert(r->v != NULL && r->hashes != NULL);
    }
    r->v[r->n] = *x;
    r->hashes[r->n] = NULL;
    if (x->block_hashes != NULL) {
        r->hashes[r->n] = malloc(bytes);
        memcpy(r->hashes[r->n], x->block_hashes, bytes);
    }
    r->v[r->n].block_hashes = r->hashes[r->n];
    r->n++;
}

static void tr_free(struct reqs *r)
{
    for (size_t i = 0; i < r->n; i++)
        free(r->hashes[i]);
    free(r->hashes);
    free(r->v);
}

/* Reads a workload to its end (out NULL: only the outcome).  d->file
 * points into the config, which is deleted here: it is copied to file
 * (when given) and cleared. */
static int tr_read(const char *json, uint64_t seed, struct reqs *out,
                   struct llm_diag *d, char file[256])
{
    cJSON *cfg = tr_cfg(json);
    struct req_source *s = NULL;
    struct reqs r = { 0 };
    struct req_spec x;
    bool eof = false;

    if (source_open(cfg, "workload", seed, &s, d) == LLM_OK)
        while (source_next(s, &x, &eof, d) == LLM_OK && !eof)
            reqs_push(&r, &x);
    if (s != NULL)
        source_get_counts(s, &r.counts);
    source_close(s);
    if (file != NULL)
        snprintf(file, 256, "%s", d->file ? d->file : "");
    d->file = NULL;
    cJSON_Delete(cfg);
    if (out != NULL)
        *out = r;
    else
        tr_free(&r);
    return d->code;
}

static void tr_read_ok(const char *json, uint64_t seed, struct reqs *out)
{
    struct llm_diag d = { 0 };
    char file[256];

    ck_assert_msg(tr_read(json, seed, out, &d, file) == LLM_OK, "%s: %s",
                  file, d.msg);
}

static void tr_assert_same(const struct reqs *a, const struct reqs *b)
{
    ck_assert_uint_eq(a->n, b->n);
    for (size_t i = 0; i < a->n; i++) {
        const struct req_spec *x = &a->v[i], *y = &b->v[i];
        ck_assert_int_eq(x->arrival_ns, y->arrival_ns);
        ck_assert_int_eq(x->prompt_tokens, y->prompt_tokens);
        ck_assert_int_eq(x->output_tokens, y->output_tokens);
        ck_assert_int_eq(x->tenant, y->tenant);
        ck_assert_int_eq(x->priority, y->priority);
        ck_assert_int_eq(x->session, y->session);
        ck_assert_int_eq(x->n_block_hashes, y->n_block_hashes);
        if (x->n_block_hashes > 0)
            ck_assert_mem_eq(x->block_hashes, y->block_hashes,
                             (size_t)x->n_block_hashes * sizeof(uint64_t));
    }
}

static int tr_stats(const char *json, struct trace_stats *st)
{
    cJSON *cfg = tr_cfg(json);
    struct req_source *s = NULL;
    struct llm_diag d = { 0 };

    if (source_open(cfg, "workload", 1, &s, &d) == LLM_OK)
        stats_compute(s, st, &d);
    source_close(s);
    cJSON_Delete(cfg);
    ck_assert_msg(d.code == LLM_OK, "%s", d.msg);
    return d.code;
}

static void tr_tmpdir(char dir[64])
{
    snprintf(dir, 64, "/tmp/llmsim-traces-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void tr_rmdir(const char *dir)
{
    DIR *dp = opendir(dir);
    struct dirent *e;
    char path[512];

    while (dp != NULL && (e = readdir(dp)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        unlink(path);
    }
    if (dp != NULL)
        closedir(dp);
    rmdir(dir);
}

/* Readers */

START_TEST(test_azure_2023_crlf)
{
    static const int64_t t[] = { 0, 4314579000, 4314579000, 4710427000,
                                 20653319409900, 20653319410100 };
    static const int32_t in[] = { 374, 396, 879, 91, 1200, 2 };
    static const int32_t out[] = { 44, 109, 55, 16, 1, 7 };
    struct reqs r;

    tr_read_ok("{'type': 'azure', 'path': '" DATA "azure2023_crlf.csv'}", 1,
               &r);
    ck_assert_uint_eq(r.n, 6);
    for (size_t i = 0; i < r.n; i++) {
        ck_assert_int_eq(r.v[i].arrival_ns, t[i]);
        ck_assert_int_eq(r.v[i].prompt_tokens, in[i]);
        ck_assert_int_eq(r.v[i].output_tokens, out[i]);
        ck_assert_int_eq(r.v[i].session, -1);
        ck_assert_int_eq(r.v[i].n_block_hashes, 0);
    }
    ck_assert_int_eq(r.counts.output_zero, 1);     /* row 5: 0 read as 1 */
    ck_assert_int_eq(r.counts.rows, 6);
    tr_free(&r);
}
END_TEST

/* The same file gzip-compressed reads the same. */
START_TEST(test_azure_gzip)
{
    char dir[64], gz[128], cfg[256], buf[512];
    struct reqs plain, packed;
    FILE *f = fopen(DATA "azure2023_crlf.csv", "rb");
    gzFile g;
    size_t n;

    tr_tmpdir(dir);
    snprintf(gz, sizeof(gz), "%s/azure.csv.gz", dir);
    ck_assert_ptr_nonnull(f);
    g = gzopen(gz, "wb");
    ck_assert_ptr_nonnull(g);
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
        ck_assert_int_eq(gzwrite(g, buf, (unsigned)n), (int)n);
    fclose(f);
    ck_assert_int_eq(gzclose(g), Z_OK);
    snprintf(cfg, sizeof(cfg), "{'type': 'azure', 'path': '%s'}", gz);
    tr_read_ok(cfg, 1, &packed);
    tr_read_ok("{'type': 'azure', 'path': '" DATA "azure2023_crlf.csv'}", 1,
               &plain);
    ck_assert_uint_eq(packed.n, 6);
    tr_assert_same(&plain, &packed);
    tr_free(&plain);
    tr_free(&packed);
    tr_rmdir(dir);
}
END_TEST

START_TEST(test_azure_2024)
{
    /* From 2024-02-28 23:59:59.5 UTC, across the leap day; "+02:00" and
     * "Z" offsets; rows with and without a fraction. */
    static const int64_t t[] = { 0, 500000000, 86400499999000,
                                 86400509930000, 86400750000000,
                                 86401500000000 };
    struct reqs r;

    tr_read_ok("{'type': 'azure', 'path': '" DATA "azure2024.csv'}", 1, &r);
    ck_assert_uint_eq(r.n, 6);
    for (size_t i = 0; i < r.n; i++)
        ck_assert_int_eq(r.v[i].arrival_ns, t[i]);
    ck_assert_int_eq(r.v[3].prompt_tokens, 4000);
    ck_assert_int_eq(r.v[3].output_tokens, 250);
    tr_free(&r);
}
END_TEST

static const struct {
    const char *text;
    int64_t ns;              /* -1: must be rejected */
} datetimes[] = {
    { "1970-01-01 00:00:00", 0 },
    { "2000-03-01 00:00:00", 951868800000000000 },
    { "2023-11-16 18:15:46.6805900", 1700158546680590000 },
    { "2024-05-10 00:00:00.009930+00:00", 1715299200009930000 },
    { "2024-05-10T00:00:00Z", 1715299200000000000 },
    { "2024-05-10 02:00:00+02:00", 1715299200000000000 },
    { "2024-05-09 19:00:00.5-0500", 1715299200500000000 },
    { "2024-02-29 12:00:00.123456789", 1709208000123456789 },
    { "2023-02-29 00:00:00", -1 },
    { "2024-13-01 00:00:00", -1 },
    { "2024-04-31 00:00:00", -1 },
    { "2024-01-01 24:00:00", -1 },
    { "2024-01-01 00:60:00", -1 },
    { "2024-01-01 00:00:60", -1 },
    { "2024-01-01 00:00:00.", -1 },
    { "2024-01-01 00:00:00.1234567890", -1 },
    { "2024-01-01 00:00:00+0", -1 },
    { "2024-01-01 00:00:00+25:00", -1 },
    { "2024-1-01 00:00:00", -1 },
    { "2024-01-01 00:00:00 ", -1 },
    { "2024-01-01", -1 },
    { "", -1 },
    { "1899-12-31 23:59:59", -1 },
};

START_TEST(test_datetime)
{
    int64_t ns = -7;
    bool ok = rows_parse_datetime(datetimes[_i].text, &ns);

    ck_assert_msg(ok == (datetimes[_i].ns >= 0), "\"%s\": ok=%d",
                  datetimes[_i].text, ok);
    if (ok)
        ck_assert_int_eq(ns, datetimes[_i].ns);
}
END_TEST

START_TEST(test_mooncake)
{
    static const int64_t t[] = { 0, 0, 0, 3000000000, 6001000000,
                                 6001000000 };
    static const int32_t in[] = { 1000, 1025, 512, 10, 600, 513 };
    static const int32_t out[] = { 10, 1, 1, 5, 7, 8 };
    static const uint64_t h1[] = { 0, 1, 2 };
    struct reqs r;

    tr_read_ok("{'type': 'mooncake', 'path': '" DATA "mooncake.jsonl'}", 1,
               &r);
    ck_assert_uint_eq(r.n, 6);
    for (size_t i = 0; i < r.n; i++) {
        ck_assert_int_eq(r.v[i].arrival_ns, t[i]);
        ck_assert_int_eq(r.v[i].prompt_tokens, in[i]);
        ck_assert_int_eq(r.v[i].output_tokens, out[i]);
        ck_assert_int_eq(r.v[i].hash_block_tokens, 512);
        ck_assert_int_eq(r.v[i].n_block_hashes, (in[i] + 511) / 512);
    }
    ck_assert_mem_eq(r.hashes[1], h1, sizeof(h1));
    ck_assert_uint_eq(r.hashes[5][1], 6);
    ck_assert_int_eq(r.counts.output_zero, 1);   /* row 2's output 0 */
    tr_free(&r);
}
END_TEST

/* Each group sharing a timestamp is spread over [t, t + w) in file order,
 * w = min(bucket_ms, gap to the next timestamp). */
START_TEST(test_mooncake_spread)
{
    static const int64_t lo[] = { 0, 0, 0, 3000, 6001, 6001 };
    struct reqs a, b, c;

    tr_read_ok("{'type': 'mooncake', 'path': '" DATA "mooncake.jsonl', "
               "'spread': 'uniform', 'bucket_ms': 1000}", 5, &a);
    tr_read_ok("{'type': 'mooncake', 'path': '" DATA "mooncake.jsonl', "
               "'spread': 'uniform', 'bucket_ms': 1000}", 5, &b);
    tr_read_ok("{'type': 'mooncake', 'path': '" DATA "mooncake.jsonl', "
               "'spread': 'uniform'}", 6, &c);
    ck_assert_uint_eq(a.n, 6);
    for (size_t i = 0; i < a.n; i++) {
        ck_assert_int_ge(a.v[i].arrival_ns, lo[i] * 1000000);
        ck_assert_int_lt(a.v[i].arrival_ns, (lo[i] + 1000) * 1000000);
        ck_assert_int_ge(c.v[i].arrival_ns, lo[i] * 1000000);
        /* bucket 3000 ms, but group 2 may not reach group 3 at 6001 */
        ck_assert_int_lt(c.v[i].arrival_ns, (lo[i] + 3000) * 1000000);
        if (i > 0)
            ck_assert_int_ge(a.v[i].arrival_ns, a.v[i - 1].arrival_ns);
        ck_assert_int_eq(a.v[i].prompt_tokens, c.v[i].prompt_tokens);
    }
    ck_assert_int_ne(a.v[0].arrival_ns, a.v[1].arrival_ns);
    tr_assert_same(&a, &b);                        /* same seed */
    ck_assert_int_ne(a.v[0].arrival_ns, c.v[0].arrival_ns);
    tr_free(&a);
    tr_free(&b);
    tr_free(&c);
}
END_TEST

START_TEST(test_burstgpt)
{
    struct reqs all, ok, gpt4, api;

    tr_read_ok("{'type': 'burstgpt', 'path': '" DATA "burstgpt.csv'}", 1,
               &all);
    ck_assert_uint_eq(all.n, 6);
    ck_assert_int_eq(all.v[0].arrival_ns, 5000000000);
    ck_assert_int_eq(all.v[4].arrival_ns, 120500000000);
    ck_assert_int_eq(all.v[2].output_tokens, 1);   /* failed: 0 read as 1 */
    ck_assert_int_eq(all.v[5].prompt_tokens, 31);  /* quoted fields */
    ck_assert_int_eq(all.counts.output_zero, 2);
    tr_read_ok("{'type': 'burstgpt', 'path': '" DATA "burstgpt.csv', "
               "'drop_failed': true}", 1, &ok);
    ck_assert_uint_eq(ok.n, 4);
    ck_assert_int_eq(ok.counts.skipped, 2);
    ck_assert_int_eq(ok.counts.output_zero, 0);
    tr_read_ok("{'type': 'burstgpt', 'path': '" DATA "burstgpt.csv', "
               "'model': 'GPT-4'}", 1, &gpt4);
    ck_assert_uint_eq(gpt4.n, 2);
    ck_assert_int_eq(gpt4.v[1].prompt_tokens, 417);
    tr_read_ok("{'type': 'burstgpt', 'path': '" DATA "burstgpt.csv', "
               "'log_type': 'API log', 'drop_failed': false}", 1, &api);
    ck_assert_uint_eq(api.n, 2);
    ck_assert_int_eq(api.v[1].arrival_ns, 120500000000);
    tr_free(&all);
    tr_free(&ok);
    tr_free(&gpt4);
    tr_free(&api);
}
END_TEST

START_TEST(test_generic_csv)
{
    static const int64_t t[] = { 500000000, 1250000000, 1250000000,
                                 4000000000 };
    static const int32_t tenant[] = { 3, 1, 0, 2 };
    struct reqs r;

    tr_read_ok("{'type': 'generic', 'path': '" DATA "generic.csv', "
               "'columns': {'arrival': 't', 'prompt': 'in', 'output': 'out',"
               " 'tenant': 'who'}}", 1, &r);
    ck_assert_uint_eq(r.n, 4);
    for (size_t i = 0; i < r.n; i++) {
        ck_assert_int_eq(r.v[i].arrival_ns, t[i]);
        ck_assert_int_eq(r.v[i].prompt_tokens, 100 * (int)(i + 1));
        ck_assert_int_eq(r.v[i].output_tokens, 10 * (int)(i + 1));
        ck_assert_int_eq(r.v[i].tenant, tenant[i]);
        ck_assert_int_eq(r.v[i].session, -1);
    }
    tr_free(&r);
}
END_TEST

START_TEST(test_generic_jsonl)
{
    struct reqs r, rb;

    tr_read_ok("{'type': 'generic', 'path': '" DATA "generic.jsonl', "
               "'time_unit': 'ms', 'columns': {'arrival': 't', 'prompt': "
               "'in', 'output': 'out'}}", 1, &r);
    ck_assert_uint_eq(r.n, 3);
    ck_assert_int_eq(r.v[0].arrival_ns, 500000000);
    ck_assert_int_eq(r.v[2].arrival_ns, 1250500000);
    ck_assert_int_eq(r.v[0].session, 7);          /* present by default */
    ck_assert_int_eq(r.v[1].session, -1);
    ck_assert_int_eq(r.v[2].prompt_tokens, 300);
    tr_read_ok("{'type': 'generic', 'path': '" DATA "generic.jsonl', "
               "'time_unit': 'ms', 'rebase': true, 'format': 'jsonl', "
               "'columns': {'arrival': 't', 'prompt': 'in', 'output': "
               "'out'}}", 1, &rb);
    ck_assert_int_eq(rb.v[0].arrival_ns, 0);
    ck_assert_int_eq(rb.v[2].arrival_ns, 750500000);
    tr_free(&r);
    tr_free(&rb);
}
END_TEST

/* Decimal times convert exactly; digits below 1 ns round half up. */
START_TEST(test_generic_time_digits)
{
    static const int64_t t[] = { 1, 2, 2000000000, 3000000000, 3000123457 };
    char dir[64], path[128], cfg[256];
    struct reqs r;
    FILE *f;

    tr_tmpdir(dir);
    snprintf(path, sizeof(path), "%s/t.csv", dir);
    f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("arrival_s,prompt_tokens,output_tokens\n0.0000000014,1,1\n"
          "0.0000000015,1,1\n1.9999999995,1,1\n3,1,1\n"
          "3.00012345650,1,1\n", f);
    fclose(f);
    snprintf(cfg, sizeof(cfg), "{'type': 'generic', 'path': '%s'}", path);
    tr_read_ok(cfg, 1, &r);
    ck_assert_uint_eq(r.n, 5);
    for (size_t i = 0; i < r.n; i++)
        ck_assert_int_eq(r.v[i].arrival_ns, t[i]);
    tr_free(&r);
    tr_rmdir(dir);
}
END_TEST

/* Malformed rows: the exact message, with the line number, and the file. */
static const struct {
    const char *cfg;         /* %s: the file's path */
    const char *text;
    int code;
    const char *msg;
} bad_rows[] = {
#define AZ "{'type': 'azure', 'path': '%s'}"
#define AZH "TIMESTAMP,ContextTokens,GeneratedTokens\r\n"
#define AZ1 "2023-11-16 18:15:46.6805900,"
    { AZ, AZH AZ1 "374\r\n", LLM_EINVAL, "line 2: expected 3 columns "
      "(TIMESTAMP,ContextTokens,GeneratedTokens), got 2" },
    { AZ, AZH AZ1 "374,44\r\n2023-02-29 10:00:00,1,1", LLM_EINVAL,
      "line 3: TIMESTAMP: expected a timestamp YYYY-MM-DD "
      "HH:MM:SS[.fffffff][+HH:MM], got \"2023-02-29 10:00:00\"" },
    { AZ, AZH AZ1 "374,44\r\n2023-11-16 18:15:46.6705900,1,1\r\n",
      LLM_EINVAL, "line 3: TIMESTAMP: expected a time at or after the "
      "previous row's, got \"2023-11-16 18:15:46.6705900\"" },
    { AZ, AZH AZ1 "0,44", LLM_EINVAL,
      "line 2: ContextTokens: expected a positive integer, got \"0\"" },
    { AZ, AZH AZ1 "12a,44", LLM_EINVAL,
      "line 2: ContextTokens: expected a positive integer, got \"12a\"" },
    { AZ, AZH AZ1 "99999999999,44", LLM_EINVAL, "line 2: ContextTokens: "
      "expected an integer in [1, 2147483647], got \"99999999999\"" },
    { AZ, AZH AZ1 "5,-3\r\n", LLM_EINVAL, "line 2: GeneratedTokens: "
      "expected a non-negative integer, got \"-3\"" },
    { AZ, "time,in,out\n1,2,3\n", LLM_EINVAL, "line 1: expected the header "
      "TIMESTAMP,ContextTokens,GeneratedTokens, got \"time,in,out\"" },
    { AZ, "", LLM_EINVAL, "line 1: expected a CSV header, got an empty "
      "file" },
#define MC "{'type': 'mooncake', 'path': '%s'}"
    { MC, "{\"timestamp\": 0, \"input_length\": 5\n", LLM_EINVAL,
      "line 1: expected a JSON object, got \"{\"timestamp\": 0, "
      "\"input_length\": 5\"" },
    { MC, "{\"timestamp\": 0, \"output_length\": 5}", LLM_EINVAL,
      "line 1: input_length: missing (expected a positive integer)" },
    { MC, "\n{\"timestamp\": 0, \"input_length\": 2.5, \"output_length\": 5}",
      LLM_EINVAL, "line 2: input_length: expected a positive integer, got "
      "2.5" },
    { MC, "{\"timestamp\": \"0\", \"input_length\": 2, \"output_length\": 5}",
      LLM_EINVAL, "line 1: timestamp: expected a non-negative number of "
      "milliseconds, got \"0\"" },
    { MC, "{\"timestamp\": 0, \"input_length\": 2, \"output_length\": -1}",
      LLM_EINVAL, "line 1: output_length: expected a non-negative integer, "
      "got -1" },
    { MC, "{\"timestamp\": 0, \"input_length\": 513, \"output_length\": 1, "
      "\"hash_ids\": [1]}", LLM_EINVAL, "line 1: hash_ids: expected 2 ids "
      "(one per 512-token block of input_length 513), got 1" },
    { MC, "{\"timestamp\": 0, \"input_length\": 1000, \"output_length\": 1, "
      "\"hash_ids\": [1, -2]}", LLM_EINVAL, "line 1: hash_ids[1]: expected "
      "a non-negative integer, got -2" },
    { MC, "{\"timestamp\": 10, \"input_length\": 1, \"output_length\": 1}\n"
      "{\"timestamp\": 5, \"input_length\": 1, \"output_length\": 1}\n",
      LLM_EINVAL, "line 2: timestamp: expected a time at or after the "
      "previous row's, got 5" },
#define BG "{'type': 'burstgpt', 'path': '%s'}"
#define BGH "Timestamp,Model,Request tokens,Response tokens,Total tokens," \
            "Log Type\n"
    { BG, BGH "5,ChatGPT,472,x,490,Conversation log\n", LLM_EINVAL,
      "line 2: Response tokens: expected a non-negative integer, got \"x\"" },
    { BG, BGH "-5,ChatGPT,472,18,490,Conversation log\n", LLM_EINVAL,
      "line 2: Timestamp: expected a non-negative number of seconds, got "
      "\"-5\"" },
    { BG, "Timestamp,Model,Request tokens,Response tokens,Total tokens\n",
      LLM_EINVAL, "line 1: expected a column \"Log Type\", got the header "
      "\"Timestamp,Model,Request tokens,Response tokens,Total tokens\"" },
#define GC "{'type': 'generic', 'path': '%s', 'format': 'csv', " \
           "'columns': {'arrival': 't', 'prompt': 'in', 'output': 'out'}}"
    { GC, "a,in,out\n1,2,3\n", LLM_EINVAL, "line 1: expected a column \"t\" "
      "(workload.columns.arrival), got the header \"a,in,out\"" },
    { GC, "t,in,out\n1,2,3\n1.2.3,2,3\n", LLM_EINVAL, "line 3: t: expected "
      "a non-negative number of seconds, got \"1.2.3\"" },
    { GC, "t,in,out\n1,\"abc,2\n", LLM_EINVAL,
      "line 2: unterminated quoted field" },
    { GC, "t,in,out\n1,2,3\n2,2,3,4\n", LLM_EINVAL,
      "line 3: expected 3 columns (t,in,out), got 4" },
    { GC, "t,in,out\r\n1,2,3\r\n2,0,3", LLM_EINVAL,
      "line 3: in: expected a positive integer, got \"0\"" },
    { "{'type': 'generic', 'path': '%s', 'format': 'jsonl', 'time_unit': "
      "'ms', 'columns': {'arrival': 't', 'prompt': 'in', 'output': 'out', "
      "'tenant': 'k'}}", "{\"t\": 5, \"in\": 1, \"out\": 1}", LLM_EINVAL,
      "line 1: k: missing (expected a non-negative integer)" },
    { "{'type': 'generic', 'path': '%s', 'format': 'jsonl', 'time_unit': "
      "'ms', 'columns': {'arrival': 't', 'prompt': 'in', 'output': 'out'}}",
      "{\"t\": \"5\", \"in\": 1, \"out\": 1}", LLM_EINVAL,
      "line 1: t: expected a non-negative number of milliseconds, got "
      "\"5\"" },
};

START_TEST(test_bad_row)
{
    char dir[64], path[128], cfg[512], file[256];
    struct llm_diag d = { 0 };
    FILE *f;

    tr_tmpdir(dir);
    snprintf(path, sizeof(path), "%s/trace.txt", dir);
    f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    fputs(bad_rows[_i].text, f);
    fclose(f);
    snprintf(cfg, sizeof(cfg), bad_rows[_i].cfg, path);
    ck_assert_int_eq(tr_read(cfg, 1, NULL, &d, file), bad_rows[_i].code);
    ck_assert_str_eq(d.msg, bad_rows[_i].msg);
    ck_assert_str_eq(file, path);
    tr_rmdir(dir);
}
END_TEST

START_TEST(test_missing_file)
{
    struct llm_diag d = { 0 };
    char file[256];

    ck_assert_int_eq(tr_read("{'type': 'azure', 'path': 'no/such.csv'}", 1,
                             NULL, &d, file), LLM_EINVAL);
    ck_assert_str_eq(file, "");
    ck_assert_str_eq(d.msg, "workload.path: cannot open \"no/such.csv\": No "
                     "such file or directory");
}
END_TEST

/* A line far longer than the first buffer (4 kB) is read whole. */
START_TEST(test_long_line)
{
    char dir[64], path[128], cfg[256];
    struct reqs r;
    FILE *f;

    tr_tmpdir(dir);
    snprintf(path, sizeof(path), "%s/long.jsonl", dir);
    f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "{\"timestamp\": 7, \"input_length\": %d, \"output_length\": "
            "3, \"hash_ids\": [", 512 * 5000);
    for (int i = 0; i < 5000; i++)
        fprintf(f, "%s%d", i ? ", " : "", 1000000 + i);
    fprintf(f, "]}");
    fclose(f);
    snprintf(cfg, sizeof(cfg), "{'type': 'mooncake', 'path': '%s'}", path);
    tr_read_ok(cfg, 1, &r);
    ck_assert_uint_eq(r.n, 1);
    ck_assert_int_eq(r.v[0].n_block_hashes, 5000);
    ck_assert_uint_eq(r.hashes[0][4999], 1004999);
    ck_assert_int_eq(r.v[0].arrival_ns, 7000000);
    tr_free(&r);
    tr_rmdir(dir);
}
END_TEST

/* Config errors of the registry and the readers. */
static const struct {
    const char *cfg;
    const char *msg;
} bad_cfgs[] = {
    { "{'type': 'azur'}", "workload.type: unknown \"azur\" (known: azure, "
      "burstgpt, gamma, generic, merge, mooncake, poisson, rate_curve, closed_loop, "
      "rag)" },
    { "{'path': 'x'}", "workload.type: missing (expected a string)" },
    { "{'type': 'mooncake', 'path': 'x', 'spred': 'uniform'}",
      "workload.spred: unknown key (known: path, spread, bucket_ms, "
      "block_tokens, type, limit, start_s, end_s, rate_scale, sample, "
      "max_prompt_tokens, max_output_tokens, tenant, priority)" },
    { "{'type': 'mooncake', 'path': 'x', 'spread': 'gauss'}",
      "workload.spread: expected \"none\" or \"uniform\", got \"gauss\"" },
    { "{'type': 'azure', 'path': 'x', 'rate_scale': 0}",
      "workload.rate_scale: expected a positive number, got 0" },
    { "{'type': 'azure', 'path': 'x', 'rate_scale': 'x'}",
      "workload.rate_scale: expected a non-negative number, got \"x\"" },
    { "{'type': 'azure', 'path': 'x', 'sample': 1.5}",
      "workload.sample: expected a number in [0, 1], got 1.5" },
    { "{'type': 'azure', 'path': 'x', 'sample': 0}",
      "workload.sample: expected a number in (0, 1], got 0" },
    { "{'type': 'azure', 'path': 'x', 'start_s': 10, 'end_s': 5}",
      "workload.end_s: expected a time after start_s (10 s), got 5" },
    { "{'type': 'azure', 'path': 'x', 'limit': 0}",
      "workload.limit: expected a positive integer, got 0" },
    { "{'type': 'generic', 'path': 'x.txt'}", "workload.format: missing "
      "(expected \"csv\" or \"jsonl\"; the file name does not tell)" },
    { "{'type': 'generic', 'path': 'x.csv', 'time_unit': 'min'}",
      "workload.time_unit: expected \"s\", \"ms\", \"us\" or \"ns\", got "
      "\"min\"" },
    { "{'type': 'generic', 'path': 'x.csv', 'columns': {'arival': 't'}}",
      "workload.columns.arival: unknown key (known: arrival, prompt, "
      "output, tenant, session, priority)" },
    { "{'type': 'merge', 'sources': []}",
      "workload.sources: expected a non-empty array, got []" },
    { "{'type': 'merge', 'sources': [{'type': 'azure', 'path': 'x', "
      "'limit': -1}]}", "workload.sources[0].limit: expected a positive "
      "integer, got -1" },
};

START_TEST(test_bad_cfg)
{
    struct llm_diag d = { 0 };

    ck_assert_int_eq(tr_read(bad_cfgs[_i].cfg, 1, NULL, &d, NULL),
                     LLM_EINVAL);
    ck_assert_str_eq(d.msg, bad_cfgs[_i].msg);
}
END_TEST

/* Transforms, on the shipped trace (every timestamp a multiple of 100 ns,
 * so halving is exact). */

START_TEST(test_window)
{
    struct reqs raw, w;
    size_t j = 0, before = 0;

    tr_read_ok("{'type': 'azure', 'path': '" SHIPPED "'}", 1, &raw);
    tr_read_ok("{'type': 'azure', 'path': '" SHIPPED "', 'start_s': 600, "
               "'end_s': 1200}", 1, &w);
    for (size_t i = 0; i < raw.n; i++) {
        int64_t t = raw.v[i].arrival_ns;
        before += t < 600000000000;
        if (t < 600000000000 || t >= 1200000000000)
            continue;
        ck_assert_uint_lt(j, w.n);
        ck_assert_int_eq(w.v[j].arrival_ns, t - 600000000000);
        ck_assert_int_eq(w.v[j].prompt_tokens, raw.v[i].prompt_tokens);
        j++;
    }
    ck_assert_uint_eq(j, w.n);
    ck_assert_uint_gt(w.n, 1000);
    ck_assert_int_eq(w.counts.dropped_window, (int64_t)before);
    tr_free(&raw);
    tr_free(&w);
}
END_TEST

START_TEST(test_rate_scale)
{
    struct reqs raw, fast, slow;

    tr_read_ok("{'type': 'azure', 'path': '" SHIPPED "'}", 1, &raw);
    tr_read_ok("{'type': 'azure', 'path': '" SHIPPED "', 'rate_scale': 2}",
               1, &fast);
    tr_read_ok("{'type': 'azure', 'path': '" SHIPPED "', 'rate_scale': "
               "0.5}", 1, &slow);
    ck_assert_uint_eq(fast.n, raw.n);
    for (size_t i = 1; i < raw.n; i++) {
        int64_t gap = raw.v[i].arrival_ns - raw.v[i - 1].arrival_ns;
        ck_assert_int_eq(gap % 2, 0);
        ck_assert_int_eq(fast.v[i].arrival_ns - fast.v[i - 1].arrival_ns,
                         gap / 2);
        ck_assert_int_eq(slow.v[i].arrival_ns, 2 * raw.v[i].arrival_ns);
    }
    tr_free(&raw);
    tr_free(&fast);
    tr_free(&slow);
}
END_TEST

START_TEST(test_sample)
{
    struct reqs raw, a, b, c;
    size_t j = 0;

    tr_read_ok("{'type': 'azure', 'path': '" SHIPPED "'}", 1, &raw);
    tr_read_ok("{'type': 'azure', 'path': '" SHIPPED "', 'sample': 0.25}",
               1, &a);
    tr_read_ok("{'type': 'azure', 'path': '" SHIPPED "', 'sample': 0.25}",
               1, &b);
    tr_read_ok("{'type': 'azure', 'path': '" SHIPPED "', 'sample': 0.25}",
               2, &c);
    /* Binomial(19366, 0.25): mean 4841.5, sd 60.3; 5 sd either side. */
    ck_assert_uint_gt(a.n, 4540);
    ck_assert_uint_lt(a.n, 5143);
    ck_assert_int_eq(a.counts.dropped_sample + (int64_t)a.n, 19366);
    tr_assert_same(&a, &b);
    ck_assert(a.n != c.n || a.v[0].arrival_ns != c.v[0].arrival_ns ||
              a.v[1].arrival_ns != c.v[1].arrival_ns);
    for (size_t i = 0; i < raw.n && j < a.n; i++)    /* a subsequence */
        j += raw.v[i].arrival_ns == a.v[j].arrival_ns;
    ck_assert_uint_eq(j, a.n);
    tr_free(&raw);
    tr_free(&a);
    tr_free(&b);
    tr_free(&c);
}
END_TEST

START_TEST(test_caps_and_limit)
{
    struct reqs raw, cap, lim;
    int64_t over_p = 0, over_o = 0;

    tr_read_ok("{'type': 'azure', 'path': '" SHIPPED "'}", 1, &raw);
    tr_read_ok("{'type': 'azure', 'path': '" SHIPPED "', "
               "'max_prompt_tokens': 1000, 'max_output_tokens': 100}", 1,
               &cap);
    tr_read_ok("{'type': 'azure', 'path': '" SHIPPED "', 'limit': 100}", 1,
               &lim);
    ck_assert_uint_eq(cap.n, raw.n);
    for (size_t i = 0; i < raw.n; i++) {
        int32_t p = raw.v[i].prompt_tokens, o = raw.v[i].output_tokens;
        over_p += p > 1000;
        over_o += o > 100;
        ck_assert_int_eq(cap.v[i].prompt_tokens, p > 1000 ? 1000 : p);
        ck_assert_int_eq(cap.v[i].output_tokens, o > 100 ? 100 : o);
    }
    ck_assert_int_gt(over_p, 0);
    ck_assert_int_eq(cap.counts.capped_prompt, over_p);
    ck_assert_int_eq(cap.counts.capped_output, over_o);
    ck_assert_uint_eq(lim.n, 100);
    ck_assert_int_eq(lim.v[99].arrival_ns, raw.v[99].arrival_ns);
    tr_free(&raw);
    tr_free(&cap);
    tr_free(&lim);
}
END_TEST

/* A capped prompt keeps only the hash blocks it still fills. */
START_TEST(test_cap_hashes)
{
    static const int32_t n[] = { 1, 1, 1, 1, 2, 2 };    /* 600, 513: kept */
    struct reqs r;

    tr_read_ok("{'type': 'mooncake', 'path': '" DATA "mooncake.jsonl', "
               "'max_prompt_tokens': 600}", 1, &r);
    for (size_t i = 0; i < r.n; i++) {
        ck_assert_int_le(r.v[i].prompt_tokens, 600);
        ck_assert_int_eq(r.v[i].n_block_hashes, n[i]);
    }
    ck_assert_int_eq(r.v[3].prompt_tokens, 10);   /* not capped: 1 block */
    ck_assert_int_eq(r.counts.capped_prompt, 2);
    tr_free(&r);
}
END_TEST

/* Ties in arrival time come in source order; sessions are renumbered and
 * hashes kept apart per source; the common keys apply per child. */
START_TEST(test_merge)
{
    static const int32_t order[] = { 100, 1, 200, 300, 2, 3, 400 };
    static const int64_t session[] = { -1, 1, -1, -1, 1, 11, -1 };
    struct reqs m, mc;

    tr_read_ok("{'type': 'merge', 'sources': [{'type': 'generic', 'path': '"
               DATA "generic.csv', 'columns': {'arrival': 't', 'prompt': "
               "'in', 'output': 'out'}}, {'type': 'generic', 'path': '"
               DATA "merge_b.csv', 'tenant': 9, 'priority': 2}]}", 1, &m);
    ck_assert_uint_eq(m.n, 7);
    for (size_t i = 0; i < m.n; i++) {
        ck_assert_int_eq(m.v[i].prompt_tokens, order[i]);
        ck_assert_int_eq(m.v[i].session, session[i]);
        ck_assert_int_eq(m.v[i].tenant, order[i] < 100 ? 9 : 0);
        ck_assert_int_eq(m.v[i].priority, order[i] < 100 ? 2 : 0);
        if (i > 0)
            ck_assert_int_ge(m.v[i].arrival_ns, m.v[i - 1].arrival_ns);
    }
    /* Source 1's three requests at t = 0, then source 2's. */
    tr_read_ok("{'type': 'merge', 'limit': 4, 'sources': [{'type': "
               "'mooncake', 'path': '" DATA "mooncake.jsonl'}, {'type': "
               "'mooncake', 'path': '" DATA "mooncake.jsonl'}]}", 1, &mc);
    ck_assert_uint_eq(mc.n, 4);
    ck_assert_int_eq(mc.v[2].prompt_tokens, 512);
    ck_assert_int_eq(mc.v[3].prompt_tokens, 1000);
    ck_assert_int_eq(mc.v[3].arrival_ns, 0);
    ck_assert_uint_eq(mc.hashes[0][0], mc.hashes[1][0]);  /* both id 0 */
    ck_assert_uint_ne(mc.hashes[0][0], mc.hashes[3][0]);  /* other trace */
    tr_free(&m);
    tr_free(&mc);
}
END_TEST

/* trace stats */

START_TEST(test_stats_small)
{
    struct trace_stats st;

    ck_assert_int_eq(tr_stats("{'type': 'azure', 'path': '" DATA
                              "azure2023_crlf.csv'}", &st), LLM_OK);
    ck_assert_int_eq(st.rows, 6);
    ck_assert_double_eq_tol(st.span_s, 20653.3194101, 1e-9);
    /* sorted 2 91 374 396 879 1200: ranks ceil(p/100 * 6) */
    ck_assert_double_eq_tol(st.prompt.mean, 2942.0 / 6, 1e-9);
    ck_assert_int_eq(st.prompt.p50, 374);
    ck_assert_int_eq(st.prompt.p90, 1200);
    ck_assert_int_eq(st.prompt.min, 2);
    ck_assert_int_eq(st.output.p50, 16);
    ck_assert_int_eq(st.counts.output_zero, 1);
}
END_TEST

/* The figures traces/README.md gives for the conversation trace. */
START_TEST(test_stats_shipped)
{
    static const char want[] =
        "rows           19366\n"
        "span           3501.722 s (58.4 min)\n"
        "mean rate      5.53 req/s\n"
        "inter-arrival  mean 0.1808 s, CV 1.09\n"
        "prompt tokens  mean 1154.7, p50 1020, p90 2735, p99 4142, min 2, "
        "max 14050\n"
        "output tokens  mean 211.1, p50 129, p90 424, p99 601, min 7, "
        "max 1000\n";
    struct trace_stats st;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);

    ck_assert_int_eq(tr_stats("{'type': 'azure', 'path': '" SHIPPED "'}",
                              &st), LLM_OK);
    stats_print(&st, f);
    fclose(f);
    ck_assert_str_eq(text, want);
    ck_assert_int_eq(st.prompt.p99, 4142);
    ck_assert_int_eq(st.output.p50, 129);
    free(text);
}
END_TEST

/* The other traces the repository carries (traces/data/, gzip) against
 * the figures traces/README.md gives for them. */
START_TEST(test_stats_carried)
{
    struct trace_stats st;

    ck_assert_int_eq(tr_stats("{'type': 'mooncake', 'path': '" CARRIED
                              "conversation_trace.jsonl.gz'}", &st), LLM_OK);
    ck_assert_int_eq(st.rows, 12031);
    ck_assert_double_eq_tol(st.span_s, 3536.999, 1e-9);  /* "59.0 min" */
    ck_assert_double_eq_tol(st.rate_rps, 3.40, 0.005);
    ck_assert_double_eq_tol(st.prompt.mean, 12035.1, 0.05);
    ck_assert_int_eq(st.prompt.p50, 6909);
    ck_assert_int_eq(st.prompt.p99, 85401);
    ck_assert_double_eq_tol(st.output.mean, 342.6, 0.05);
    ck_assert_int_eq(st.output.p50, 350);
    ck_assert_int_eq(st.output.p99, 1120);
    ck_assert_int_eq(tr_stats("{'type': 'mooncake', 'path': '" CARRIED
                              "synthetic_trace.jsonl.gz'}", &st), LLM_OK);
    ck_assert_int_eq(st.rows, 3993);
    ck_assert_double_eq_tol(st.rate_rps, 3.91, 0.005);
    ck_assert_int_eq(st.prompt.p50, 11587);
    ck_assert_int_eq(st.output.p99, 769);
    ck_assert_int_eq(tr_stats("{'type': 'azure', 'path': '" CARRIED
                              "AzureLLMInferenceTrace_code.csv.gz'}", &st),
                     LLM_OK);
    ck_assert_int_eq(st.rows, 8819);
    ck_assert_double_eq_tol(st.gap_cv, 13.2, 0.05);
    ck_assert_int_eq(st.prompt.p99, 7436);
}
END_TEST

/* Spreading the quantized conversation trace: same rows in file order,
 * each moved within its 3 s bucket, and far fewer equal arrivals. */
START_TEST(test_spread_carried)
{
    struct reqs raw, sp;
    size_t distinct = 1;

    tr_read_ok("{'type': 'mooncake', 'path': '" CARRIED
               "conversation_trace.jsonl.gz'}", 1, &raw);
    tr_read_ok("{'type': 'mooncake', 'path': '" CARRIED
               "conversation_trace.jsonl.gz', 'spread': 'uniform'}", 1, &sp);
    ck_assert_uint_eq(sp.n, raw.n);
    for (size_t i = 0; i < sp.n; i++) {
        ck_assert_int_eq(sp.v[i].prompt_tokens, raw.v[i].prompt_tokens);
        ck_assert_int_ge(sp.v[i].arrival_ns, raw.v[i].arrival_ns);
        ck_assert_int_lt(sp.v[i].arrival_ns, raw.v[i].arrival_ns +
                         3000000000);
        if (i > 0) {
            ck_assert_int_ge(sp.v[i].arrival_ns, sp.v[i - 1].arrival_ns);
            distinct += sp.v[i].arrival_ns != sp.v[i - 1].arrival_ns;
        }
    }
    ck_assert_uint_gt(distinct, 12000);    /* 1,180 before spreading */
    tr_free(&raw);
    tr_free(&sp);
}
END_TEST

/* The command line, in process. */

static int run_cli(const char *args, char **out, char **err)
{
    char buf[1024], *argv[16];
    int argc = 0, rc;
    size_t lo = 0, le = 0;
    FILE *fo = open_memstream(out, &lo), *fe = open_memstream(err, &le);

    snprintf(buf, sizeof(buf), "%s", args);
    for (char *t = strtok(buf, " "); t != NULL && argc < 15;
         t = strtok(NULL, " "))
        argv[argc++] = t;
    argv[argc] = NULL;
    rc = cmd_trace_io(argc, argv, fo, fe);
    fclose(fo);
    fclose(fe);
    return rc;
}

START_TEST(test_cli_stats)
{
    char *out, *err, args[256];

    ck_assert_int_eq(run_cli("trace stats " SHIPPED, &out, &err), 0);
    ck_assert_str_eq(err, "");
    ck_assert_ptr_nonnull(strstr(out, "type           azure\n"
                                      "rows           19366\n"));
    ck_assert_ptr_nonnull(strstr(out, "mean rate      5.53 req/s\n"));
    free(out);
    free(err);
    ck_assert_int_eq(run_cli("trace stats " DATA "generic.jsonl --type "
                             "mooncake", &out, &err), 2);
    ck_assert_str_eq(err, "llmsim trace: " DATA "generic.jsonl: line 1: "
                     "timestamp: missing (expected a non-negative number of "
                     "milliseconds)\n");
    free(out);
    free(err);
    ck_assert_int_eq(run_cli("trace stats nope.csv", &out, &err), 2);
    ck_assert_str_eq(err, "llmsim trace: nope.csv: cannot open: No such "
                     "file or directory\n");
    free(out);
    free(err);
    snprintf(args, sizeof(args), "trace stats %s --type=csv", SHIPPED);
    ck_assert_int_eq(run_cli(args, &out, &err), 2);
    ck_assert_ptr_nonnull(strstr(err, "type: unknown \"csv\" (known: "));
    free(out);
    free(err);
    ck_assert_int_eq(run_cli("trace frobnicate", &out, &err), 2);
    ck_assert_ptr_nonnull(strstr(err, "unknown subcommand frobnicate\n"
                                      "usage: llmsim trace stats"));
    free(out);
    free(err);
}
END_TEST

/* The type is guessed from the first line. */
START_TEST(test_guess_type)
{
    static const char *const files[][2] = {
        { SHIPPED, "azure" },
        { DATA "azure2024.csv", "azure" },
        { DATA "burstgpt.csv", "burstgpt" },
        { DATA "mooncake.jsonl", "mooncake" },
        { DATA "generic.csv", "generic" },
    };
    struct llm_diag d = { 0 };
    const char *type = NULL;

    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        ck_assert_int_eq(source_guess_type(files[i][0], &type, &d), LLM_OK);
        ck_assert_str_eq(type, files[i][1]);
    }
}
END_TEST

static int count_files(const char *dir)
{
    DIR *dp = opendir(dir);
    struct dirent *e;
    int n = 0;

    while (dp != NULL && (e = readdir(dp)) != NULL)
        n += e->d_name[0] != '.';
    if (dp != NULL)
        closedir(dp);
    return n;
}

/* trace gen writes exactly the stream the source yields, and reading the
 * file back (type guessed: generic) gives the same requests. */
START_TEST(test_cli_gen)
{
    static const char wl[] = "{'type': 'poisson', 'rate': 20, "
        "'num_requests': 300, 'prompt': {'dist': 'lognormal', 'mean': 500, "
        "'cv': 1}, 'output': {'dist': 'uniform', 'min': 1, 'max': 50}, "
        "'multi_turn': {'turns': {'dist': 'fixed', 'value': 2}, "
        "'think_s': 3}, 'tenants': [{'weight': 1}, {'weight': 2}]}";
    char dir[64], cfgp[128], outp[128], args[512], cfg[1024], back[256];
    char *out, *err;
    struct reqs want, got, other;
    FILE *f;

    tr_tmpdir(dir);
    snprintf(cfgp, sizeof(cfgp), "%s/c.json", dir);
    snprintf(outp, sizeof(outp), "%s/w.csv", dir);
    snprintf(cfg, sizeof(cfg), "{'seed': 3, 'model': 'ignored', "
             "'workload': %s}", wl);
    f = fopen(cfgp, "w");
    ck_assert_ptr_nonnull(f);
    for (const char *p = cfg; *p; p++)
        fputc(*p == '\'' ? '"' : *p, f);
    fclose(f);
    snprintf(args, sizeof(args), "trace gen %s --out %s", cfgp, outp);
    ck_assert_int_eq(run_cli(args, &out, &err), 0);
    ck_assert_str_eq(err, "");
    free(out);
    free(err);
    ck_assert_int_eq(count_files(dir), 2);       /* no temporary left */
    snprintf(back, sizeof(back), "{'type': 'generic', 'path': '%s'}", outp);
    tr_read_ok(back, 1, &got);
    tr_read_ok(wl, 3, &want);                      /* the config's seed */
    ck_assert_uint_eq(got.n, 300);
    for (size_t i = 0; i < got.n; i++) {
        ck_assert_int_eq(got.v[i].arrival_ns, want.v[i].arrival_ns);
        ck_assert_int_eq(got.v[i].prompt_tokens, want.v[i].prompt_tokens);
        ck_assert_int_eq(got.v[i].output_tokens, want.v[i].output_tokens);
        ck_assert_int_eq(got.v[i].tenant, want.v[i].tenant);
        ck_assert_int_eq(got.v[i].session, want.v[i].session);
    }
    /* FILE.gz is written through zlib and read back the same (issue 24:
     * the week-long bench trace) */
    snprintf(args, sizeof(args), "trace gen %s --out %s.gz", cfgp, outp);
    ck_assert_int_eq(run_cli(args, &out, &err), 0);
    free(out);
    free(err);
    snprintf(back, sizeof(back), "%s.gz", outp);
    f = fopen(back, "rb");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fgetc(f), 0x1f);
    ck_assert_int_eq(fgetc(f), 0x8b);
    fclose(f);
    snprintf(back, sizeof(back), "{'type': 'generic', 'path': '%s.gz'}",
             outp);
    tr_read_ok(back, 1, &other);
    ck_assert_uint_eq(other.n, got.n);
    ck_assert_mem_eq(other.v, got.v, got.n * sizeof(*got.v));
    tr_free(&other);
    snprintf(back, sizeof(back), "{'type': 'generic', 'path': '%s'}", outp);
    snprintf(args, sizeof(args), "trace gen %s --out %s --seed 4", cfgp,
             outp);
    ck_assert_int_eq(run_cli(args, &out, &err), 0);
    free(out);
    free(err);
    tr_read_ok(back, 1, &other);
    ck_assert_int_ne(other.v[0].arrival_ns, got.v[0].arrival_ns);
    tr_free(&want);
    tr_free(&got);
    tr_free(&other);
    tr_rmdir(dir);
}
END_TEST

/* A bad workload fails with status 2 and leaves no file behind. */
START_TEST(test_cli_gen_bad)
{
    char dir[64], cfgp[128], outp[128], args[512];
    char *out, *err, want[256];
    FILE *f;

    tr_tmpdir(dir);
    snprintf(cfgp, sizeof(cfgp), "%s/c.json", dir);
    snprintf(outp, sizeof(outp), "%s/w.csv", dir);
    f = fopen(cfgp, "w");
    ck_assert_ptr_nonnull(f);
    fputs("{\"workload\": {\"type\": \"poisson\", \"rate\": 0, "
          "\"num_requests\": 5, \"prompt\": {\"dist\": \"fixed\", "
          "\"value\": 1}, \"output\": {\"dist\": \"fixed\", \"value\": 1}}}",
          f);
    fclose(f);
    snprintf(args, sizeof(args), "trace gen %s --out %s", cfgp, outp);
    ck_assert_int_eq(run_cli(args, &out, &err), 2);
    snprintf(want, sizeof(want), "llmsim trace: %s: workload.rate: expected "
             "a positive number, got 0\n", cfgp);
    ck_assert_str_eq(err, want);
    ck_assert_int_eq(count_files(dir), 1);
    free(out);
    free(err);
    ck_assert_int_eq(run_cli("trace gen x.json --seed -1 --out y", &out,
                             &err), 2);
    ck_assert_ptr_nonnull(strstr(err, "--seed: expected a non-negative "
                                      "integer, got -1"));
    free(out);
    free(err);
    ck_assert_int_eq(run_cli("trace gen x.json", &out, &err), 2);
    free(out);
    free(err);
    tr_rmdir(dir);
}
END_TEST

TCase *traces_gen_tcase(void);

Suite *traces_suite(void)
{
    Suite *s = suite_create("traces");
    TCase *rd = tcase_create("readers");
    TCase *xf = tcase_create("transforms");
    TCase *cli = tcase_create("stats_cli");

    tcase_add_test(rd, test_azure_2023_crlf);
    tcase_add_test(rd, test_azure_gzip);
    tcase_add_test(rd, test_azure_2024);
    tcase_add_loop_test(rd, test_datetime, 0,
                        sizeof(datetimes) / sizeof(datetimes[0]));
    tcase_add_test(rd, test_mooncake);
    tcase_add_test(rd, test_mooncake_spread);
    tcase_add_test(rd, test_burstgpt);
    tcase_add_test(rd, test_generic_csv);
    tcase_add_test(rd, test_generic_jsonl);
    tcase_add_test(rd, test_generic_time_digits);
    tcase_add_loop_test(rd, test_bad_row, 0,
                        sizeof(bad_rows) / sizeof(bad_rows[0]));
    tcase_add_test(rd, test_missing_file);
    tcase_add_test(rd, test_long_line);
    tcase_add_loop_test(rd, test_bad_cfg, 0,
                        sizeof(bad_cfgs) / sizeof(bad_cfgs[0]));
    tcase_add_test(xf, test_window);
    tcase_add_test(xf, test_rate_scale);
    tcase_add_test(xf, test_sample);
    tcase_add_test(xf, test_caps_and_limit);
    tcase_add_test(xf, test_cap_hashes);
    tcase_add_test(xf, test_merge);
    tcase_add_test(cli, test_stats_small);
    tcase_add_test(cli, test_stats_shipped);
    tcase_add_test(cli, test_stats_carried);
    tcase_add_test(cli, test_spread_carried);
    tcase_add_test(cli, test_cli_stats);
    tcase_add_test(cli, test_guess_type);
    tcase_add_test(cli, test_cli_gen);
    tcase_add_test(cli, test_cli_gen_bad);
    /* Generous for SAN=1 builds; the whole suite takes a few seconds. */
    tcase_set_timeout(xf, 60);
    tcase_set_timeout(cli, 60);
    suite_add_tcase(s, rd);
    suite_add_tcase(s, xf);
    suite_add_tcase(s, cli);
    suite_add_tcase(s, traces_gen_tcase());
    return s;
}
