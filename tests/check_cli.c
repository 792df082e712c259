/* tests/check_cli.c: the command line's contract, one table row per
 * case (issue 18): `llmsim COMMAND --help` prints that command's usage on
 * stdout and exits 0 for every command; a file named on the command line
 * that does not exist, an unknown flag or a missing argument is bad input
 * (exit 2, one line on stderr).  Runs the binary LLMSIM_BIN names. */
#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "tests/fixture.h"
#include "tests/suites.h"

#define NOFILE "no-such-dir/x.json"

static const struct {
    const char *args;         /* after "llmsim " */
    int status;
    bool on_stdout;           /* where text must appear */
    const char *text;
} cases[] = {
    { "", 2, false, "usage: llmsim COMMAND" },
    { "--help", 0, true, "usage: llmsim COMMAND" },
    { "nosuch", 2, false, "unknown command \"nosuch\"" },
    { "version", 0, true, "llmsim " },
    /* run */
    { "run --help", 0, true, "usage: llmsim run CONFIG" },
    { "run -h", 0, true, "usage: llmsim run CONFIG" },
    { "run " NOFILE, 2, false, "llmsim run: " NOFILE ": cannot open:" },
    { "run", 2, false, "usage: llmsim run" },
    { "run configs/default.json --bogus", 2, false, "usage: llmsim run" },
    { "run configs/default.json --seed x", 2, false, "--seed: expected" },
    /* step */
    { "step --help", 0, true, "usage: llmsim step --model ID --hw ID" },
    { "step --model llama-3-8b", 2, false, "usage: llmsim step" },
    { "step --model nosuch --hw h100-sxm-80gb", 2, false,
      "model \"nosuch\": no catalog entry" },
    /* memory */
    { "memory --help", 0, true, "usage: llmsim memory --model ID --hw ID" },
    { "memory --model llama-3-8b --hw h100-sxm-80gb --help", 0, true,
      "usage: llmsim memory" },
    { "memory --model llama-3-8b --hw h100-sxm-80gb", 0, true, "KV" },
    { "memory --bogus", 2, false, "unknown option" },
    { "memory --import-hf " NOFILE " --id x", 2, false,
      "llmsim memory: " NOFILE ": cannot open:" },
    /* trace */
    { "trace --help", 0, true, "usage: llmsim trace stats FILE" },
    { "trace stats --help", 0, true, "usage: llmsim trace stats FILE" },
    { "trace gen --help", 0, true, "llmsim trace gen CONFIG --out FILE" },
    { "trace stats " NOFILE, 2, false, "llmsim trace: " NOFILE
      ": cannot open:" },
    { "trace gen " NOFILE " --out x.csv", 2, false, "llmsim trace: " NOFILE
      ": cannot open:" },
    { "trace stats tests/data/traces/azure2023_crlf.csv", 0, true, "rows" },
    { "trace nosuch", 2, false, "unknown subcommand" },
    /* validate */
    { "validate --help", 0, true, "usage: llmsim validate" },
    { "validate --bogus", 2, false, "usage: llmsim validate" },
    { "validate extra", 2, false, "usage: llmsim validate" },
    /* validate-e2e */
    { "validate-e2e --help", 0, true, "usage: llmsim validate-e2e" },
    { "validate-e2e no-such-dir", 2, false,
      "llmsim validate-e2e: no-such-dir: cannot open:" },
    { "validate-e2e --bogus", 2, false, "usage: llmsim validate-e2e" },
    /* plot */
    { "plot --help", 0, true, "usage: llmsim plot DB" },
    { "plot", 2, false, "usage: llmsim plot" },
    { "plot " NOFILE, 2, false, "llmsim plot: " NOFILE ": cannot open:" },
    /* sweep */
    { "sweep --help", 0, true, "usage: llmsim sweep SWEEP.json" },
    { "sweep", 2, false, "usage: llmsim sweep" },
    { "sweep " NOFILE, 2, false, "llmsim sweep: " NOFILE ": cannot open:" },
    /* plan */
    { "plan --help", 0, true, "usage: llmsim plan PLAN.json" },
    { "plan", 2, false, "usage: llmsim plan" },
    { "plan " NOFILE, 2, false, "llmsim plan: " NOFILE ": cannot open:" },
    /* disagg-search */
    { "disagg-search --help", 0, true, "usage: llmsim disagg-search CONFIG" },
    { "disagg-search", 2, false, "usage: llmsim disagg-search" },
    { "disagg-search " NOFILE, 2, false, "llmsim disagg-search: " NOFILE
      ": cannot open:" },
    /* calibrate (engine profiles) */
    { "calibrate --help", 0, true, "usage: llmsim calibrate --model ID" },
    { "calibrate", 2, false, "usage: llmsim calibrate" },
    { "calibrate --bogus", 2, false, "usage: llmsim calibrate" },
    { "calibrate --model llama-3-8b --hw h100-sxm-80gb --engine " NOFILE, 2,
      false, "llmsim calibrate: --engine: " NOFILE ": cannot open:" },
    /* validate-engines */
    { "validate-engines --help", 0, true, "usage: llmsim validate-engines" },
    { "validate-engines no-such-dir", 2, false,
      "llmsim validate-engines: no-such-dir: cannot open:" },
    { "validate-engines --bogus", 2, false, "usage: llmsim validate-engines" },
    { "validate-engines a b", 2, false, "usage: llmsim validate-engines" },
    /* --engine on run and step: an unknown profile is bad input */
    { "run configs/default.json --quiet --engine nosuch", 2, false,
      "engine: unknown engine \"nosuch\"" },
    { "step --model llama-3-8b --hw h100-sxm-80gb --engine nosuch", 2, false,
      "--engine: unknown engine \"nosuch\"" },
    /* memory --context-sweep */
    { "memory --model llama-3-8b --hw h100-sxm-80gb --context-sweep abc", 2,
      false, "--context-sweep: expected" },
    /* bench */
    { "bench --help", 0, true, "usage: llmsim bench [CONFIG]" },
    { "bench " NOFILE, 2, false, "llmsim bench: " NOFILE ": cannot open:" },
    { "bench a b", 2, false, "usage: llmsim bench" },
    { "bench --bogus", 2, false, "usage: llmsim bench" },
};

static bool file_has(const char *path, const char *text)
{
    static char buf[65536];
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;

    if (f)
        fclose(f);
    buf[n] = '\0';
    return strstr(buf, text) != NULL;
}

START_TEST(test_exit_contract)
{
    const char *bin = getenv("LLMSIM_BIN");
    char cmd[2048];
    int rc;

    if (bin == NULL) {
        fx_skip("cli: exit_contract", "LLMSIM_BIN unset (make test sets it)");
        return;
    }
    snprintf(cmd, sizeof(cmd), "ASAN_OPTIONS=detect_leaks=0 %s %s "
             "</dev/null >%s 2>%s", bin, cases[_i].args, fx_path("out"),
             fx_path("err"));
    rc = system(cmd);
    rc = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
    ck_assert_msg(rc == cases[_i].status, "llmsim %s: exit %d, expected %d",
                  cases[_i].args, rc, cases[_i].status);
    ck_assert_msg(file_has(fx_path(cases[_i].on_stdout ? "out" : "err"),
                           cases[_i].text), "llmsim %s: no \"%s\" on %s",
                  cases[_i].args, cases[_i].text,
                  cases[_i].on_stdout ? "stdout" : "stderr");
}
END_TEST

Suite *cli_suite(void)
{
    Suite *s = suite_create("cli");
    TCase *t = tcase_create("exit");

    tcase_add_checked_fixture(t, fx_setup, fx_teardown);
    tcase_add_loop_test(t, test_exit_contract, 0,
                        (int)(sizeof(cases) / sizeof(cases[0])));
    suite_add_tcase(s, t);
    return s;
}
