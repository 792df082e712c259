/* tests/check_main.c: runs every suite named in tests/suites.h, then
 * prints how many checks skipped their assertions and why (the registry
 * of tests/fixture.h, fx_skip).  CK_RUN_SUITE=name runs only one (Check's
 * own variable).  With LLMSIM_TEST_STRICT=1 (`make test`, hence CI) a
 * skip for any reason but FX_SKIP_NO_GPU fails the run: `make test`
 * installs everything else a check needs. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/fixture.h"
#include "tests/suites.h"

#define LLM_ADD_SUITE(name) srunner_add_suite(sr, name##_suite());

/* One reason and the checks that gave it, in the order first seen. */
struct skip_reason {
    char text[256];
    char checks[512];
    int n;
};

#define SKIP_REASONS_MAX 32

/* Adds one "reason\tcheck" line of the log to r[0..*n). */
static void skip_add(struct skip_reason *r, int *n, char *line)
{
    char *tab = strchr(line, '\t');
    const char *check = tab ? tab + 1 : "?";
    int i;

    line[strcspn(line, "\n")] = '\0';
    if (tab)
        *tab = '\0';
    for (i = 0; i < *n && strncmp(r[i].text, line, 200) != 0; i++)
        ;
    if (i == *n) {
        if (*n == SKIP_REASONS_MAX)
            i--;                   /* more reasons than that: lump them */
        else
            snprintf(r[(*n)++].text, sizeof(r[i].text), "%.200s", line);
    }
    if (r[i].n < 8)
        snprintf(r[i].checks + strlen(r[i].checks),
                 sizeof(r[i].checks) - strlen(r[i].checks), "%s%s",
                 r[i].n ? ", " : "", check);
    r[i].n++;
}

/* Prints the summary; returns how many skips were not "no GPU". */
static int skip_report(const char *log)
{
    static struct skip_reason r[SKIP_REASONS_MAX];
    char line[1024];
    int n = 0, total = 0, bad = 0, i;
    FILE *f = fopen(log, "r");

    while (f != NULL && fgets(line, sizeof(line), f) != NULL)
        skip_add(r, &n, line);
    if (f != NULL)
        fclose(f);
    for (i = 0; i < n; i++) {
        total += r[i].n;
        if (strncmp(r[i].text, FX_SKIP_NO_GPU, strlen(FX_SKIP_NO_GPU)) != 0)
            bad += r[i].n;
    }
    printf("skipped: %d check%s\n", total, total == 1 ? "" : "s");
    for (i = 0; i < n; i++)
        printf("  %3d  %s (%s%s)\n", r[i].n, r[i].text, r[i].checks,
               r[i].n > 8 ? ", ..." : "");
    return bad;
}

int main(void)
{
    char log[] = "/tmp/llmsim-skips-XXXXXX";
    int fd = mkstemp(log), failed, bad;
    const char *strict = getenv("LLMSIM_TEST_STRICT");
    SRunner *sr;

    if (fd < 0 || setenv("LLMSIM_SKIP_LOG", log, 1) != 0) {
        perror("check_llmsim: skip log");
        return EXIT_FAILURE;
    }
    close(fd);
    sr = srunner_create(NULL);
    LLM_SUITES(LLM_ADD_SUITE)
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    bad = skip_report(log);
    unlink(log);
    if (bad > 0 && strict != NULL && strcmp(strict, "1") == 0) {
        printf("check_llmsim: %d check%s skipped for a reason other than "
               "\"" FX_SKIP_NO_GPU "\" (LLMSIM_TEST_STRICT=1)\n", bad,
               bad == 1 ? "" : "s");
        return EXIT_FAILURE;
    }
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
