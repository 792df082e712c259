/* tests/fuzz/trace_body.h: the body of every trace reader harness.
 *
 * The including file defines FZ_FILE (the trace's file name: its suffix
 * picks plain or gzip and, for generic, CSV or JSONL) and FZ_WORKLOAD
 * (the workload object, with "%s" where the path goes).  The input is
 * the whole trace file, read through source_open/source_next as `llmsim
 * run` and `llmsim trace` read it; arrivals must never decrease and
 * every length must be positive (traces/source.h). */
#include <stdio.h>
#include <stdlib.h>

#include <cjson/cJSON.h>

#include "tests/fuzz/fuzz.h"
#include "traces/source.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fz_file(FZ_FILE, data, size);
    char text[1024];
    cJSON *cfg;
    struct req_source *s = NULL;
    struct req_spec r;
    struct llm_diag d = { 0 };
    const char *type;
    bool eof = false;
    int64_t prev = 0;

    snprintf(text, sizeof(text), FZ_WORKLOAD, path);
    cfg = cJSON_Parse(text);
    if (cfg == NULL)
        fz_fail("bad harness workload %s", text);
    /* the sniffing of `llmsim trace` without --type reads the first line */
    (void)source_guess_type(path, &type, &d);
    d = (struct llm_diag){ 0 };
    if (source_open(cfg, "workload", 1, &s, &d) == LLM_OK) {
        while (source_next(s, &r, &eof, &d) == LLM_OK && !eof) {
            if (r.arrival_ns < prev)
                fz_fail("arrival %lld before %lld", (long long)r.arrival_ns,
                        (long long)prev);
            if (r.prompt_tokens < 1 || r.output_tokens < 1)
                fz_fail("lengths %d, %d", r.prompt_tokens, r.output_tokens);
            prev = r.arrival_ns;
        }
    }
    if (d.code != LLM_OK && d.msg[0] == '\0')
        fz_fail("an error (%d) without a message", d.code);
    source_close(s);
    cJSON_Delete(cfg);
    return 0;
}
