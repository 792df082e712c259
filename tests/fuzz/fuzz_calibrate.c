/* tests/fuzz/fuzz_calibrate.c: `llmsim calibrate` input, every line read
 * by calibrate_read (calibrate_parse_line each) as the command reads its
 * standard input. */
#include <stdio.h>

#include "cli/calibrate.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FILE *f = fmemopen((void *)data, size, "r");
    struct fit_line *lines = NULL;
    struct llm_diag d = { 0 };
    size_t n = 0;

    if (size == 0 || f == NULL) {   /* fmemopen refuses a size of 0 */
        if (f != NULL)
            fclose(f);
        return 0;
    }
    if (calibrate_read(f, "stdin", &lines, &n, &d) == LLM_OK) {
        for (size_t i = 0; i < n; i++)
            if (!(lines[i].ms > 0))
                fz_fail("line %ld: a time of %g ms", lines[i].lineno,
                        lines[i].ms);
    } else if (d.msg[0] == '\0') {
        fz_fail("an error (%d) without a message", d.code);
    }
    calibrate_free(lines, n);
    fclose(f);
    return 0;
}
