/* tests/fuzz/fuzz_config.c: a scenario config with --set overrides,
 * through scenario_load as `llmsim run CONFIG --set K=V ...` loads it.
 *
 * Input: up to eight leading lines "@set KEY=VALUE" (the overrides, in
 * order), then the config file's text. */
#include <stdlib.h>
#include <string.h>

#include "run/scenario.h"
#include "tests/fuzz/fuzz.h"

#define FZ_MAX_SETS 8

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fz_str(data, size), *p = text, *nl;
    const char *sets[FZ_MAX_SETS + 1];
    const char *path;
    size_t n = 0;
    struct scenario sc;
    struct llm_diag d = { 0 };

    while (n < FZ_MAX_SETS && strncmp(p, "@set ", 5) == 0 &&
           (nl = strchr(p, '\n')) != NULL) {
        *nl = '\0';
        sets[n++] = p + 5;
        p = nl + 1;
    }
    sets[n] = NULL;
    path = fz_file("c.json", (const uint8_t *)p, strlen(p));
    if (scenario_load(path, sets, &sc, &d) != LLM_OK && d.msg[0] == '\0')
        fz_fail("an error (%d) without a message", d.code);
    if (strchr(d.msg, '\n') != NULL)
        fz_fail("a message of two lines: %s", d.msg);
    scenario_free(&sc);
    free(text);
    return 0;
}
