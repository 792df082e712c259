/* tests/fuzz/fuzz_engine.c: an engine profile file through jcfg_load and
 * engine_from_json, as `--engine FILE` loads it (hw/engine.c). */
#include "hw/engine.h"
#include "base/jcfg.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fz_file("e.json", data, size);
    struct engine e;
    struct llm_diag d = { 0 };
    cJSON *o = NULL;

    if (jcfg_load(path, &o, &d) == LLM_OK &&
        engine_from_json(o, path, "h100-sxm-80gb", &e, &d) == LLM_OK) {
        cJSON *back = engine_to_json(&e);
        cJSON_Delete(back);
    } else if (d.msg[0] == '\0') {
        fz_fail("an error (%d) without a message", d.code);
    }
    cJSON_Delete(o);
    return 0;
}
