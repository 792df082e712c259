#include "cli/cmd_trace.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>

#include "cli/args.h"
#include "base/diag.h"
#include "base/jcfg.h"
#include "traces/source.h"
#include "traces/stats.h"

#define USAGE \
    "usage: llmsim trace stats FILE [--type azure|burstgpt|generic|mooncake]\n" \
    "       llmsim trace gen CONFIG --out FILE [--seed N]\n"

/* Prints the diag once and turns its code into the exit status. */
static int report(FILE *err, const struct llm_diag *d)
{
    char buf[1024];

    if (d->code == LLM_OK)
        return 0;
    diag_format(d, buf, sizeof(buf));
    fprintf(err, "llmsim trace: %s\n", buf);
    return diag_exit_status(d->code);
}

static int usage_error(FILE *err, const char *what, const char *arg)
{
    fprintf(err, "llmsim trace: %s%s%s\n" USAGE, what, arg ? " " : "",
            arg ? arg : "");
    return 2;
}

/* The value of "--flag V" or "--flag=V" at argv[*i], advancing *i. */
static const char *flag_value(int argc, char **argv, int *i,
                              const char *flag)
{
    size_t n = strlen(flag);

    if (strncmp(argv[*i], flag, n) == 0 && argv[*i][n] == '=')
        return argv[*i] + n + 1;
    if (strcmp(argv[*i], flag) != 0)
        return NULL;
    return ++*i < argc ? argv[*i] : "";
}

/* A trace named on the command line that cannot be opened is bad input
 * (exit 2), as one a config names is. */
static bool readable(const char *file, struct llm_diag *d)
{
    FILE *f = fopen(file, "rb");

    if (f != NULL) {
        fclose(f);
        return true;
    }
    d->file = file;
    diag_set(d, LLM_EINVAL, "cannot open: %s", strerror(errno));
    return false;
}

static int run_stats(const char *file, const char *type, FILE *out,
                     struct llm_diag *d)
{
    cJSON *cfg = cJSON_CreateObject();
    struct req_source *s = NULL;
    struct trace_stats st;

    if (cfg == NULL)
        return diag_set(d, LLM_ENOMEM, "out of memory");
    if (!readable(file, d)) {
        cJSON_Delete(cfg);
        return d->code;
    }
    if (type == NULL && source_guess_type(file, &type, d) != LLM_OK) {
        cJSON_Delete(cfg);
        return d->code;
    }
    /* References: d->file may name the path after cfg is gone. */
    cJSON_AddItemToObject(cfg, "type", cJSON_CreateStringReference(type));
    cJSON_AddItemToObject(cfg, "path", cJSON_CreateStringReference(file));
    if (source_open(cfg, "", 0, &s, d) == LLM_OK &&
        stats_compute(s, &st, d) == LLM_OK) {
        fprintf(out, "%-14s %s\n%-14s %s\n", "file", file, "type", type);
        stats_print(&st, out);
    }
    if (d->code != LLM_OK && d->file == NULL)
        d->file = file;
    source_close(s);
    cJSON_Delete(cfg);
    return d->code;
}

static int stats_main(int argc, char **argv, FILE *out, FILE *err)
{
    const char *file = NULL, *type = NULL, *v;
    struct llm_diag d = { 0 };

    if (args_want_help(argc, argv)) {
        fputs(USAGE, out);
        return 0;
    }
    for (int i = 1; i < argc; i++) {
        if ((v = flag_value(argc, argv, &i, "--type")) != NULL)
            type = v;
        else if (argv[i][0] == '-' || file != NULL)
            return usage_error(err, "stats: unexpected argument", argv[i]);
        else
            file = argv[i];
    }
    if (file == NULL || (type != NULL && type[0] == '\0'))
        return usage_error(err, "stats: expected FILE [--type TYPE]", NULL);
    if (args_need_file(err, "trace", file))
        return 2;
    run_stats(file, type, out, &d);
    return report(err, &d);
}

/* Where gen writes: a plain file, or gzip when the name ends in ".gz"
 * (level 1: a week of requests is a gigabyte of text, and the readers
 * take either, traces/README.md). */
struct sink {
    FILE *f;
    gzFile gz;
    bool failed;
};

static void sink_put(struct sink *k, const char *buf, size_t n)
{
    if (k->gz != NULL)
        k->failed |= gzwrite(k->gz, buf, (unsigned)n) != (int)n;
    else
        k->failed |= fwrite(buf, 1, n, k->f) != n;
}

static void write_row(struct sink *k, const struct req_spec *r, bool extra)
{
    char buf[160];
    int n = snprintf(buf, sizeof(buf), "%lld.%09lld,%d,%d",
                     (long long)(r->arrival_ns / 1000000000),
                     (long long)(r->arrival_ns % 1000000000),
                     r->prompt_tokens, r->output_tokens);

    if (extra)
        n += snprintf(buf + n, sizeof(buf) - (size_t)n, ",%d,%lld",
                      r->tenant, (long long)r->session);
    buf[n++] = '\n';
    sink_put(k, buf, (size_t)n);
}

/* One pass over the workload: with k NULL it only finds whether any
 * request has a tenant or a session (the optional columns). */
static int gen_pass(const cJSON *w, uint64_t seed, struct sink *k,
                    bool *extra, struct llm_diag *d)
{
    static const char head[] = "arrival_s,prompt_tokens,output_tokens";
    struct req_source *s = NULL;
    struct req_spec r;
    bool eof = false;

    if (source_open(w, "workload", seed, &s, d) != LLM_OK)
        return d->code;
    if (k != NULL) {
        sink_put(k, head, sizeof(head) - 1);
        if (*extra)
            sink_put(k, ",tenant,session", 15);
        sink_put(k, "\n", 1);
    }
    while (source_next(s, &r, &eof, d) == LLM_OK && !eof) {
        if (k != NULL)
            write_row(k, &r, *extra);
        else
            *extra = *extra || r.tenant != 0 || r.session >= 0;
    }
    source_close(s);
    return d->code;
}

static int io_fail(struct llm_diag *d, const char *file, const char *what)
{
    int e = errno;

    if (d->code == LLM_OK)
        d->file = file;
    return diag_set(d, LLM_EIO, "%s: %s", what, e ? strerror(e)
                                                    : "write failed");
}

static bool ends_with(const char *s, const char *tail)
{
    size_t n = strlen(s), m = strlen(tail);

    return n >= m && strcmp(s + n - m, tail) == 0;
}

/* Opens the sink on fd (taking it). */
static bool sink_open(struct sink *k, int fd, bool gz)
{
    if (gz)
        k->gz = gzdopen(fd, "wb1");
    else
        k->f = fdopen(fd, "w");
    if (k->gz == NULL && k->f == NULL) {
        close(fd);
        return false;
    }
    return true;
}

static bool sink_close(struct sink *k)
{
    bool ok = !k->failed;

    if (k->gz != NULL)
        ok = gzclose(k->gz) == Z_OK && ok;
    else if (k->f != NULL)
        ok = !ferror(k->f) && fclose(k->f) == 0 && ok;
    return ok;
}

/* Writes the CSV (gzip when out_path ends in ".gz") to a temporary name
 * beside out_path, then renames it, so a failed run leaves no partial
 * output. */
static int write_atomic(const char *out_path, const cJSON *w, uint64_t seed,
                        bool extra, struct llm_diag *d)
{
    char tmp[PATH_MAX];
    struct sink k = { 0 };
    int fd;

    if (snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", out_path) >=
        (int)sizeof(tmp))
        return diag_set(d, LLM_EINVAL, "--out: path too long");
    if ((fd = mkstemp(tmp)) < 0)
        return io_fail(d, out_path, "cannot create a temporary file");
    errno = 0;
    if (fchmod(fd, 0644) != 0) {
        io_fail(d, out_path, "cannot write");
        close(fd);
    } else if (!sink_open(&k, fd, ends_with(out_path, ".gz"))) {
        io_fail(d, out_path, "cannot write");
    } else {
        gen_pass(w, seed, &k, &extra, d);
        if (!sink_close(&k))
            io_fail(d, out_path, "cannot write");
    }
    if (d->code == LLM_OK && rename(tmp, out_path) != 0)
        io_fail(d, out_path, "cannot rename the temporary file");
    if (d->code != LLM_OK)
        unlink(tmp);
    return d->code;
}

static int run_gen(const char *cfg_path, const char *out_path, bool has_seed,
                   uint64_t seed, FILE *err)
{
    struct llm_diag d = { .file = cfg_path };
    cJSON *root = NULL;
    const cJSON *w = NULL;
    int64_t cfg_seed = 0;
    bool extra = false;
    int status;

    if (jcfg_load(cfg_path, &root, &d) == LLM_OK &&
        jcfg_obj(root, "", "workload", true, &w, &d) == LLM_OK &&
        jcfg_int(root, "", "seed", false, 0, INT64_MAX, &cfg_seed, &d) ==
            LLM_OK) {
        seed = has_seed ? seed : (uint64_t)cfg_seed;
        if (gen_pass(w, seed, NULL, &extra, &d) == LLM_OK)
            write_atomic(out_path, w, seed, extra, &d);
    }
    status = report(err, &d);   /* before root goes: d may point into it */
    cJSON_Delete(root);
    return status;
}

static bool parse_seed(const char *s, uint64_t *out)
{
    char *end;

    if (s[0] < '0' || s[0] > '9')
        return false;
    errno = 0;
    *out = strtoull(s, &end, 10);
    return errno == 0 && *end == '\0';
}

static int gen_main(int argc, char **argv, FILE *err)
{
    const char *cfg = NULL, *out = NULL, *v;
    uint64_t seed = 0;
    bool has_seed = false;

    if (args_want_help(argc, argv)) {
        fputs(USAGE, stdout);
        return 0;
    }
    for (int i = 1; i < argc; i++) {
        if ((v = flag_value(argc, argv, &i, "--out")) != NULL) {
            out = v;
        } else if ((v = flag_value(argc, argv, &i, "--seed")) != NULL) {
            if (!(has_seed = parse_seed(v, &seed)))
                return usage_error(err, "gen: --seed: expected a "
                                   "non-negative integer, got", v);
        } else if (argv[i][0] == '-' || cfg != NULL) {
            return usage_error(err, "gen: unexpected argument", argv[i]);
        } else {
            cfg = argv[i];
        }
    }
    if (cfg == NULL || out == NULL || out[0] == '\0')
        return usage_error(err, "gen: expected CONFIG --out FILE", NULL);
    if (args_need_file(err, "trace", cfg))
        return 2;
    return run_gen(cfg, out, has_seed, seed, err);
}

int cmd_trace_io(int argc, char **argv, FILE *out, FILE *err)
{
    if (argc < 2)
        return usage_error(err, "expected a subcommand", NULL);
    if (strcmp(argv[1], "stats") == 0)
        return stats_main(argc - 1, argv + 1, out, err);
    if (strcmp(argv[1], "gen") == 0)
        return gen_main(argc - 1, argv + 1, err);
    if (args_is_help(argv[1]) || strcmp(argv[1], "help") == 0) {
        fputs(USAGE, out);
        return 0;
    }
    return usage_error(err, "unknown subcommand", argv[1]);
}

int cmd_trace(int argc, char **argv)
{
    return cmd_trace_io(argc, argv, stdout, stderr);
}
