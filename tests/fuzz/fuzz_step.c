/* tests/fuzz/fuzz_step.c: one `llmsim step` input line, handled as
 * cli/step.c's loop handles it (parse, duplicate keys, step_parse_batch,
 * cost_price) with the cost model of `llmsim step --model llama-3-8b --hw
 * h100-sxm-80gb`. */
#include <stdlib.h>
#include <string.h>

#include "cli/step.h"
#include "hw/cost.h"
#include "hw/device.h"
#include "base/dtype.h"
#include "hw/engine.h"
#include "models/model.h"
#include "models/ops.h"
#include "base/jcfg.h"
#include "base/paths.h"
#include "tests/fuzz/fuzz.h"

static struct model model;
static struct device dev;
static struct engine eng;
static struct cost_model *cm;

static void setup(void)
{
    struct llm_diag d = { 0 };
    static struct cost_env env;   /* the cost model borrows it */

    if (model_find(llm_root(), "llama-3-8b", &model, &d) != LLM_OK ||
        device_find(llm_root(), "h100-sxm-80gb", &dev, &d) != LLM_OK ||
        engine_resolve(llm_root(), NULL, dev.id, dev.calib_dir, "--engine",
                       &eng, &d) != LLM_OK)
        fz_fail("setup: %s", d.msg);
    env = (struct cost_env){ .model = &model, .dev = &dev, .root =
        llm_root(), .engine = &eng, .shard = { .tp = 1, .w_bytes = 2,
        .a_bytes = 2, .kv_bytes = 2, .w_dtype = DT_BF16,
        .kv_dtype = DT_BF16 } };
    if (cost_create(&env, NULL, "--cost", &cm, &d) != LLM_OK)
        fz_fail("setup: %s", d.msg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *line = fz_str(data, size);
    struct llm_diag d = { 0 };
    struct cost_breakdown bd;
    struct batch b;
    cJSON *o;

    if (cm == NULL)
        setup();
    batch_init(&b);
    o = cJSON_Parse(line);
    if (o != NULL && jcfg_check_dups(o, "", &d) == LLM_OK &&
        step_parse_batch(o, &b, &d) == LLM_OK &&
        cost_price(cm, &b, &bd) == LLM_OK && bd.total_ns < 0)
        fz_fail("a negative time %lld ns", (long long)bd.total_ns);
    cJSON_Delete(o);
    batch_free(&b);
    free(line);
    return 0;
}
