/* hw/engine.h: engine profiles -- how a serving engine runs one iteration.
 *
 * Two engines on the same GPU with the same weights and batch can differ by
 * -30% to +30% per iteration (issue 16): one fuses its norms and launches
 * one kernel where another launches eight, one's decode attention reaches
 * 60% of HBM bandwidth where another's reaches 85% and balances a ragged
 * batch over every SM.  A profile names those choices (the structure) and
 * the few efficiencies and fixed times that remain (the parameters); the
 * calibrated cost model (hw/cost_calib.c) prices each kernel the profile
 * says the engine launches from the device's measured tables.
 *
 * Structure:
 *   elementwise  "fused"     one kernel each for RMSNorm, RoPE, SiLU x up,
 *                            residual add, KV write (the reference engine's
 *                            Triton kernels: elementwise.csv)
 *                "fused_add" as fused, with each residual add inside the
 *                            following RMSNorm (vLLM's fused_add_rms_norm)
 *                "unfused"   plain PyTorch: every one of those is its
 *                            separate torch kernels (Hugging Face's Llama:
 *                            casts, pow, mean, rsqrt, muls; rotate_half;
 *                            silu then mul; slice-assigned KV), priced from
 *                            elementwise_torch.csv (hw/cost_calib.c lists
 *                            the lowering)
 *   qkv, gate_up "fused" one GEMM, or "separate" GEMMs per projection
 *   gemm         "cublas" the tables' GEMMs, or "flat": FlashDecoding++'s
 *                flat GEMM for M < 64 (no padding to cuBLAS's 64-row tile)
 *   prefill_attention, decode_attention: the backend (attn_sched.h):
 *                "fa2_varlen"    FlashAttention-2 varlen, one call per
 *                                batch (PyTorch's bundled kernel)
 *                "vllm_triton"   vLLM's Triton unified attention
 *                "sglang_triton" SGLang's Triton kernels (split-KV with
 *                                per-sequence splits: balanced)
 *                "split_kv"      any balanced split-KV scheduler
 *                                (FlashAttention-3's, FlashInfer's) on the
 *                                FA2 tables
 *                "sdpa"          one scaled_dot_product_attention call per
 *                                prefill chunk and per group of equal
 *                                decode contexts
 *                "flashdecoding_pp"  FlashDecoding++'s asynchronized softmax
 *                                (Hong et al., MLSys'24): split-KV decode and
 *                                varlen prefill on FA2's tables without the
 *                                synchronized partial-softmax update
 *   execution    "graph"     the forward is one CUDA-graph replay
 *                "piecewise" graphs between attention calls, attention
 *                            launched from the host (vLLM V1's default)
 *                "eager"     every kernel launched from the host
 *   eager_host   "table": an eager engine's host costs are the reference
 *                engine's measured eager.csv; "dispatch": dispatch_us per
 *                launch
 *   async        the host's per-iteration work overlaps the GPU's (vLLM
 *                V1 async scheduling): the iteration is the longer of the
 *                two, not their sum
 *
 * Parameters (llmsim calibrate fits them; each has a physical meaning, so
 * one calibration carries to other models and tensor-parallel degrees):
 *   gemm, attn_prefill, attn_decode, elementwise, comm
 *                time of that kernel class relative to the device's table
 *                (1: as measured; 0.8: the engine's kernels take 80%); comm
 *                the collectives (NCCL as measured, or an engine's own
 *                all-reduce)
 *   layer_us     fixed time per layer the tables do not hold (launch gaps
 *                of kernels the tables time back to back, syncs)
 *   iter_us      host time per iteration (scheduling, input building)
 *   dispatch_us  host time per launch outside a graph (piecewise: per
 *                graph piece and attention call; eager: per kernel)
 *
 * Profiles live in hw/engines/<id>.json; a profile may give per-device
 * parameters ("devices": {"<device id>": {"params": {...}}}) that override
 * its top-level ones.  Every struct here is plain data (no pointers). */
#ifndef LLM_ENGINE_H
#define LLM_ENGINE_H

#include <stdbool.h>

#include <cjson/cJSON.h>

#include "base/diag.h"

enum engine_elem { ENG_ELEM_FUSED, ENG_ELEM_FUSED_ADD, ENG_ELEM_UNFUSED,
                   ENG_ELEM_COUNT };
enum engine_exec { ENG_EXEC_GRAPH, ENG_EXEC_PIECEWISE, ENG_EXEC_EAGER,
                   ENG_EXEC_COUNT };

/* Attention backends (hw/attn_sched.h gives each one's launch model). */
enum engine_attn { ENG_ATTN_FA2, ENG_ATTN_VLLM, ENG_ATTN_SGLANG,
                   ENG_ATTN_SPLIT_KV, ENG_ATTN_SDPA, ENG_ATTN_FDPP,
                   ENG_ATTN_COUNT };

struct engine_params {
    double gemm, attn_prefill, attn_decode, elementwise, comm;  /* scales */
    double layer_us, iter_us, dispatch_us;
};

#define ENGINE_N_PARAMS 8

struct engine {
    char id[64];
    char stands_for[256];      /* the engine it models, in words */
    enum engine_elem elem;
    bool qkv_separate, gate_up_separate;
    bool flat_gemm;            /* FlashDecoding++'s flat GEMM below M 64 */
    enum engine_attn prefill, decode;
    enum engine_exec exec;
    bool eager_table;          /* eager host costs from eager.csv */
    bool async;
    struct engine_params p;
};

/* The reference engine (hw/calib/reference/): fused, fa2_varlen, graph,
 * every scale 1, no fixed time beyond the tables: exactly the tables. */
void engine_reference(struct engine *e);

/* Name <-> enum; NULL / -1 for unknown.  The names are the JSON values
 * listed above. */
const char *engine_elem_name(enum engine_elem k);
const char *engine_attn_name(enum engine_attn k);
const char *engine_exec_name(enum engine_exec k);
int engine_attn_find(const char *name);
/* The table suffix of a backend's measured attention tables on a device
 * (attn_decode_<suffix>.csv), "" for the FlashAttention-2 tables. */
const char *engine_attn_tables(enum engine_attn k);

/* Parameter i (0 <= i < ENGINE_N_PARAMS): its JSON name and its value. */
const char *engine_param_name(int i);
double *engine_param(struct engine_params *p, int i);

/* Reads a profile object; path names it in messages ("engine", or the
 * file).  device: the device whose "devices" entry applies (NULL: none).
 * Unknown keys and values are LLM_EINVAL naming the key. */
int engine_from_json(const cJSON *o, const char *path, const char *device,
                     struct engine *e, struct llm_diag *d);

/* spec: a profile id (a file hw/engines/<id>.json under root; ids are
 * letters, digits, '.', '_' and '-') or a path to a JSON file (anything
 * holding a '/' or ending in ".json"; relative to the working directory).
 * key names the config key or flag in messages. */
int engine_load(const char *root, const char *spec, const char *device,
                const char *key, struct engine *e, struct llm_diag *d);

/* Whether backend k has its own tables on the device (decode or prefill);
 * true for the backends that run on FlashAttention-2's. */
bool engine_attn_available(const char *root, const char *calib_dir,
                           enum engine_attn k, bool decode);

/* The engine a device runs when the config names none: "vllm-triton"
 * where the device's calibration has vLLM's attention tables, else
 * "reference".  calib_dir: the device's table folder under root ("" for
 * none). */
const char *engine_default_id(const char *root, const char *calib_dir);

/* The engine of a config: v is its "engine" value -- a string (an id or
 * file, as engine_load), an object (a profile written inline), or NULL
 * (engine_default_id for the device).  key names the value in messages. */
int engine_resolve(const char *root, const cJSON *v, const char *device,
                   const char *calib_dir, const char *key, struct engine *e,
                   struct llm_diag *d);

/* A new JSON object of e (structure and parameters), or NULL (no memory). */
cJSON *engine_to_json(const struct engine *e);

#endif
