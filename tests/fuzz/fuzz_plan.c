/* tests/fuzz/fuzz_plan.c: a plan file through plan_load and the
 * candidates' expansion, as `llmsim plan PLAN.json` reads it. */
#include <stdlib.h>

#include "analysis/plan.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fz_file("p.json", data, size);
    struct plan_spec p;
    struct sweep_point *pts = NULL;
    struct llm_diag d = { 0 };
    size_t n = 0;
    char **fixed;

    if (plan_load(path, &p, &d) != LLM_OK) {
        if (d.msg[0] == '\0')
            fz_fail("an error (%d) without a message", d.code);
        return 0;
    }
    if (sweep_expand(&p.sw, &pts, &n, &d) == LLM_OK)
        sweep_points_free(pts, n);
    fixed = plan_fixed_sets(&p);
    for (size_t i = 0; fixed != NULL && fixed[i] != NULL; i++)
        free(fixed[i]);
    free(fixed);
    plan_free(&p);
    return 0;
}
