/* tests/fuzz/fuzz_sweep.c: a sweep file through sweep_load and
 * sweep_expand, as `llmsim sweep SWEEP.json` reads and expands it. */
#include "analysis/sweep.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fz_file("s.json", data, size);
    struct sweep_spec sp;
    struct sweep_point *pts = NULL;
    struct llm_diag d = { 0 };
    size_t n = 0;

    if (sweep_load(path, &sp, &d) != LLM_OK) {
        if (d.msg[0] == '\0')
            fz_fail("an error (%d) without a message", d.code);
        return 0;
    }
    if (sweep_expand(&sp, &pts, &n, &d) == LLM_OK)
        sweep_points_free(pts, n);
    sweep_spec_free(&sp);
    return 0;
}
