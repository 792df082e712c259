/* tests/fuzz/fuzz_hf.c: a Hugging Face config.json through jcfg_load and
 * hf_to_model, as `llmsim memory --import-hf FILE --id NAME` imports it. */
#include "models/hf.h"
#include "base/jcfg.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fz_file("config.json", data, size);
    struct model m;
    struct llm_diag d = { 0 };
    cJSON *o = NULL;

    if (jcfg_load(path, &o, &d) == LLM_OK &&
        hf_to_model(o, "fuzzed", &m, &d) == LLM_OK) {
        if (m.num_layers <= 0)
            fz_fail("a model of %d layers", (int)m.num_layers);
    } else if (d.msg[0] == '\0') {
        fz_fail("an error (%d) without a message", d.code);
    }
    cJSON_Delete(o);
    return 0;
}
