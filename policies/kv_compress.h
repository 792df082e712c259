/* policies/kv_compress.h: KV-cache compression as memory and attention
 * formulas (issue 9).
 *
 * A compression method decides how many of a sequence's ctx tokens keep
 * their KV (token eviction: StreamingLLM, H2O, SnapKV; head-wise:
 * DuoAttention / RazorAttention) and a KV dtype decides the bytes each
 * kept token takes (fp16, fp8, int4, KIVI 2-bit with an fp16 residual).
 * Two pure functions give what the simulator needs: the tokens attention
 * reads (the context the cost model prices) and the KV memory in
 * fp16-token equivalents (what the blocks must hold).  Accuracy effects
 * are out of scope: llmsim models time and memory only.  The "compressed"
 * KV manager (policies/kv_compress.c) applies them to a paged pool. */
#ifndef LLM_KV_COMPRESS_H
#define LLM_KV_COMPRESS_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "base/diag.h"

enum kvc_method {
    KVC_NONE = 0,
    KVC_STREAMING,     /* StreamingLLM: sinks + sliding window */
    KVC_H2O,           /* heavy hitters (a share of ctx) + recent window */
    KVC_SNAPKV,        /* prompt KV cut to budget after prefill */
    KVC_DUO            /* DuoAttention / RazorAttention: retrieval heads */
};

struct kvc_params {
    enum kvc_method method;
    int64_t sinks, window;     /* StreamingLLM, and Duo's streaming heads */
    double heavy_ratio;        /* H2O: heavy hitters kept, share of ctx */
    int64_t recent;            /* H2O: most recent tokens kept */
    int64_t budget;            /* SnapKV: prompt tokens kept */
    double retrieval_frac;     /* Duo: share of heads keeping full KV */
    int32_t bits;              /* KV dtype: 16, 8, 4 or 2 */
    int64_t residual;          /* KIVI: newest tokens kept in fp16 */
};

/* Reads params (the kv_cache object) into *p; defaults: no method, fp16.
 * Errors name path and the key. */
int kvc_parse(const cJSON *params, const char *path, struct kvc_params *p,
              struct llm_diag *d);

/* Tokens whose KV attention reads for a sequence with ctx tokens cached,
 * of which `prompt` are its prompt: min(ctx, sinks + window) for
 * StreamingLLM; min(ctx, recent + ceil(heavy_ratio * ctx)) for H2O; ctx
 * below the prompt, else min(prompt, budget) + (ctx - prompt) for SnapKV;
 * ceil(frac * ctx + (1 - frac) * min(ctx, sinks + window)) for Duo
 * (head-weighted).  The dtype does not change it. */
int64_t kvc_attn_tokens(const struct kvc_params *p, int64_t ctx,
                        int64_t prompt);

/* KV memory in fp16-token equivalents for ctx tokens: the kept tokens
 * (kvc_attn_tokens; for SnapKV the whole prompt while `prefilling`, as the
 * selection runs at the end of the prefill) scaled by bits / 16, KIVI's
 * last `residual` tokens at 16 bits; rounded up. */
int64_t kvc_mem_tokens(const struct kvc_params *p, int64_t ctx,
                       int64_t prompt, bool prefilling);

#endif
