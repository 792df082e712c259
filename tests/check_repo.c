/* tests/check_repo.c: the repository is self-contained (issue 18): no
 * tracked file names an absolute path of a machine; and its folders keep
 * the dependency rules of docs/architecture.md (issue 22), checked by
 * scripts/check_includes.sh over the #include lines.
 *
 * The rule (repo_machine_path): a path that starts at a word boundary
 * with a machine's own top folder (work, root, home, Users, mnt or
 * scratch, right under the root) is wrong in every tracked text file: it
 * exists on one machine only.  The tmp folder exists everywhere, and docs
 * and scripts may use it for scratch output that a person chooses; but a
 * config or test data file (.json) must not read or write there, and C
 * code may name it only as a mkdtemp/mkstemp template (".../name-XXXXXX"),
 * never as a fixed file that two runs would share.  Compressed (.gz) and
 * binary files are skipped: git ls-files lists the files, its NUL test
 * finds binaries. */
#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "base/paths.h"
#include "tests/fixture.h"
#include "tests/suites.h"

/* Written without the root's '/', so that this file passes its own
 * test. */
static const char *const machine_roots[] = {
    "work/", "root/", "home/", "Users/", "mnt/", "scratch/", NULL
};

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);

    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Whether an absolute path may start at p (start of line, or after a
 * blank, quote, bracket or separator; "traces/data/" has none). */
static bool path_start(const char *line, const char *p)
{
    return p == line || strchr(" \t\"'`(=:,[{<>|;", p[-1]) != NULL;
}

/* Whether the path token at p is a mkdtemp/mkstemp template. */
static bool is_template(const char *p)
{
    size_t n = strcspn(p, " \t\"'`),;");
    const char *x = strstr(p, "XXXXXX");

    return x != NULL && x < p + n;
}

static const char *root_at(const char *line, const char *p)
{
    int i;

    if (!path_start(line, p))
        return NULL;
    for (i = 0; machine_roots[i] != NULL; i++)
        if (strncmp(p + 1, machine_roots[i], strlen(machine_roots[i])) == 0)
            return p;
    return NULL;
}

/* The first absolute path of a machine in line (a line of the tracked
 * file path), or NULL. */
static const char *repo_machine_path(const char *path, const char *line)
{
    bool tmp_rule = ends_with(path, ".json") || ends_with(path, ".c") ||
                    ends_with(path, ".h");
    const char *p;

    for (p = strchr(line, '/'); p != NULL; p = strchr(p + 1, '/')) {
        if (root_at(line, p))
            return p;
        if (tmp_rule && path_start(line, p) && strncmp(p + 1, "tmp/", 4) == 0 &&
            (ends_with(path, ".json") || !is_template(p)))
            return p;
    }
    return NULL;
}

/* The rule on single lines: what it must catch and what it must let be.
 * R is the root '/', kept apart so that this file holds no such path. */
#define R "/"
static const struct { const char *path, *line; bool bad; } rule_cases[] = {
    { "configs/x.json", "  \"path\": \"" R "work/shared/traces/a.csv\",", true },
    { "tests/check_x.c", "#define T \"" R "work/shared/traces/x.jsonl\"", true },
    { "docs/x.md", "read from `" R "home/alice/traces`", true },
    { "scripts/x.sh", "OUT=" R "root/out", true },
    { "hw/calib/data/x.csv", "# command: python3 " R "work/main/a.py", true },
    { "configs/x.json", "\"output\": {\"dir\": \"" R "tmp/run1\"}", true },
    { "tests/check_x.c", "    f = fopen(\"" R "tmp/check_x.log\", \"w\");", true },
    { "configs/x.json", "\"path\": \"traces/data/conv.csv.gz\"", false },
    { "README.md", "`traces/data/` carries the traces; /usr/local/bin", false },
    { "tests/fixture.c", "snprintf(d, n, \"" R "tmp/llmsim-test-XXXXXX\");",
      false },
    { "docs/cost-model.md", "ops_bench.py --outdir " R "tmp/tp8", false },
    { "hw/calib/campaign.sh", "OUT=\"${OUT:-" R "tmp/calib-out}\"", false },
    { "docs/x.md", "see hw/calib/data/h100/ and models" R "work/", false },
    { "README.md", "make install PREFIX=$HOME/.local", false },
};

START_TEST(test_rule)
{
    const char *hit = repo_machine_path(rule_cases[_i].path,
                                        rule_cases[_i].line);

    ck_assert_msg((hit != NULL) == rule_cases[_i].bad, "%s: \"%s\": %s",
                  rule_cases[_i].path, rule_cases[_i].line,
                  hit ? hit : "no hit");
}
END_TEST

/* Whole file text, or NULL if unreadable; *n its length. */
static char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long len;

    if (f == NULL)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) >= 0 &&
        fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)len + 1))) {
        *n = fread(buf, 1, (size_t)len, f);
        buf[*n] = '\0';
    }
    fclose(f);
    return buf;
}

/* Appends "path:line: text" of every offending line of path to out. */
static int scan_file(const char *path, char *out, size_t cap)
{
    size_t n = 0, used;
    char *text = slurp(path, &n), *line, *next;
    int lineno = 0, hits = 0;

    if (text == NULL || memchr(text, '\0', n < 8000 ? n : 8000) != NULL) {
        free(text);                  /* binary, as git's own test says */
        return 0;
    }
    for (line = text; line != NULL && *line; line = next) {
        next = strchr(line, '\n');
        if (next != NULL)
            *next++ = '\0';
        lineno++;
        if (repo_machine_path(path, line) == NULL)
            continue;
        hits++;
        used = strlen(out);
        snprintf(out + used, cap - used, "%s:%d: %.100s\n", path, lineno,
                 line);
    }
    free(text);
    return hits;
}

START_TEST(test_no_machine_paths)
{
    FILE *ls = popen("git ls-files -z 2>/dev/null", "r");
    static char found[8192];
    char path[1024];
    int c, k = 0, files = 0, hits = 0;

    ck_assert_ptr_nonnull(ls);
    found[0] = '\0';
    while ((c = fgetc(ls)) != EOF) {
        if (c != '\0') {
            if (k < (int)sizeof(path) - 1)
                path[k++] = (char)c;
            continue;
        }
        path[k] = '\0';
        k = 0;
        files++;
        if (!ends_with(path, ".gz"))
            hits += scan_file(path, found, sizeof(found));
    }
    if (pclose(ls) != 0 || files == 0) {
        fx_skip("repo: no_machine_paths", "not a git checkout "
                "(git ls-files failed)");
        return;
    }
    ck_assert_msg(hits == 0, "%d line%s an absolute path of a machine "
                  "(use a path relative to the repository):\n%s", hits,
                  hits == 1 ? " names" : "s name", found);
}
END_TEST

/* Runs scripts/check_includes.sh on root; its exit status, and its
 * output in out. */
static int check_includes(const char *root, char *out, size_t cap)
{
    char cmd[2048];
    FILE *p;
    size_t n;

    snprintf(cmd, sizeof(cmd), "bash '%s/scripts/check_includes.sh' '%s' "
             "2>&1", llm_root(), root);
    p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    n = fread(out, 1, cap - 1, p);
    out[n] = '\0';
    return WEXITSTATUS(pclose(p));
}

/* The tree keeps the rules: no arrow the table forbids. */
START_TEST(test_include_rules)
{
    static char out[16384];

    ck_assert_msg(check_includes(llm_root(), out, sizeof(out)) == 0,
                  "forbidden includes (docs/architecture.md):\n%s", out);
}
END_TEST

/* And the script sees a forbidden arrow: sim/ reaching policies/,
 * analysis/ reading the simulator's replica, base/ including sim/. */
START_TEST(test_include_rules_catch)
{
    static char out[4096];
    static const char *const dirs[] = { "sim", "analysis", "base" };
    size_t i;

    for (i = 0; i < 3; i++)
        ck_assert_int_eq(mkdir(fx_path(dirs[i]), 0755), 0);
    fx_put("sim/x.c", "#include <stdio.h>\n#include \"base/diag.h\"\n"
           "#include \"sim/batch.h\"\n#include \"policies/registry.h\"\n");
    fx_put("analysis/y.h", "#include \"sim/record.h\"\n"
           "#include \"sim/replica.h\"\n");
    fx_put("base/z.c", "#include \"base/diag.h\"\n");
    ck_assert_int_eq(check_includes(fx_tmpdir, out, sizeof(out)), 1);
    ck_assert_ptr_nonnull(strstr(out, "sim/x.c:4: includes "
                                      "policies/registry.h"));
    ck_assert_ptr_nonnull(strstr(out, "analysis/y.h:2: includes "
                                      "sim/replica.h"));
    ck_assert_ptr_null(strstr(out, "base/z.c"));
    ck_assert_ptr_null(strstr(out, "includes sim/record.h"));
    fx_put("base/z.c", "#include \"sim/request.h\"\n");
    ck_assert_int_eq(check_includes(fx_tmpdir, out, sizeof(out)), 1);
    ck_assert_ptr_nonnull(strstr(out, "base/z.c:1: includes sim/request.h"));
}
END_TEST

Suite *repo_suite(void)
{
    Suite *s = suite_create("repo");
    TCase *t = tcase_create("paths");

    tcase_set_timeout(t, 60);
    tcase_add_loop_test(t, test_rule, 0,
                        (int)(sizeof(rule_cases) / sizeof(rule_cases[0])));
    tcase_add_test(t, test_no_machine_paths);
    suite_add_tcase(s, t);
    t = tcase_create("includes");
    tcase_set_timeout(t, 60);
    tcase_add_checked_fixture(t, fx_setup, fx_teardown);
    tcase_add_test(t, test_include_rules);
    tcase_add_test(t, test_include_rules_catch);
    suite_add_tcase(s, t);
    return s;
}
