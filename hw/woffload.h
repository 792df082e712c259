/* hw/woffload.h: weight offloading with flash-aware loading (issue 9;
 * "LLM in a flash", arXiv 2312.11514).
 *
 * With "hardware.weight_offload" set, a share of each GPU's weights lives
 * behind a link (default the catalog NVMe SSD) and crosses it every
 * iteration.  The resident share is filled with the non-FFN weights first
 * (embedding, attention, norms, LM head), then the dense FFN, as the paper
 * keeps embeddings and attention in DRAM and streams only FFN neurons.
 *
 * Per iteration of T tokens (per GPU):
 *   active  a = 1 - (1 - s)^T: share of FFN neurons some token of the
 *           batch activates (s = ffn_sparsity, tokens independent).
 *   window  the neurons active over the last w tokens stay cached on the
 *           GPU; a neuron active now was cached with probability
 *           1 - (1 - s)^w (independent tokens), so the share read is
 *           a x (1 - s)^w.  Real activations are correlated across
 *           tokens, so this is a lower bound on the paper's reuse.  The
 *           cache costs (1 - (1 - s)^w) x non-resident FFN bytes of GPU
 *           memory (woffload_cache_bytes; the memory plan counts it).
 *   bytes   non-resident non-FFN bytes (read whole) + non-resident FFN
 *           bytes x a x (1 - s)^w.
 *   time    layers x link latency + dense bytes / link bandwidth + FFN
 *           bytes / woffload_read_bw(chunk): sparse FFN reads are one
 *           neuron's row (hidden x weight bytes), twice that bundled
 *           (the up-projection row and down-projection column side by
 *           side); with s = 1 the FFN is read whole at full bandwidth.
 *   Sequential: the iteration waits for its weights (no overlap with
 *   compute is modelled), and the GPU's compute is priced as if dense.
 *
 * Read-size curve (woffload_read_bw): queue_depth reads in flight, each
 * taking latency + size / bandwidth (Little's law), capped at the link's
 * bandwidth: min(B, q x size / (L + size / B)).  With the catalog NVMe's
 * 45 us per command and 7 GB/s, 8 KiB reads reach 5.7 GB/s at q 32 and
 * 16 KiB reads the full 7 GB/s; the paper's Figure 2b shows the same
 * shape (random-read throughput rising with chunk size). Pure data; not
 * thread-safe; errors name "hardware.weight_offload.KEY". */
#ifndef LLM_WOFFLOAD_H
#define LLM_WOFFLOAD_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "hw/device.h"
#include "models/memplan.h"
#include "models/model.h"
#include "models/ops.h"
#include "base/diag.h"

struct weight_offload {
    bool on;                   /* false: every weight on the GPU */
    struct link link;          /* where the non-resident weights live */
    double resident;           /* share of weight bytes kept on the GPU */
    double sparsity;           /* share of FFN neurons active per token */
    int32_t window;            /* tokens whose active neurons stay cached */
    bool bundle;               /* row-column bundling: 2x read size */
    int32_t queue_depth;       /* reads in flight on the link */
};

/* One GPU's non-resident weight bytes by kind. */
struct woffload_bytes {
    double dense;              /* non-FFN, read whole every iteration */
    double ffn;                /* dense-MLP weights, read sparsely */
};

/* Reads obj ("hardware.weight_offload"; NULL: off, o zeroed) with the
 * link catalog under root.  LLM_EINVAL naming the key. */
int woffload_parse(const cJSON *obj, const char *path, const char *root,
                   struct weight_offload *o, struct llm_diag *d);

/* Achieved bandwidth of reads of read_bytes each (bytes/s). */
double woffload_read_bw(const struct link *ln, int32_t queue_depth,
                        double read_bytes);

/* Splits w into what stays off the GPU (resident share non-FFN first). */
void woffload_split(const struct weight_offload *o,
                    const struct mem_weights *w, struct woffload_bytes *out);

/* GPU bytes the window's neuron cache takes. */
double woffload_cache_bytes(const struct weight_offload *o,
                            const struct woffload_bytes *nr);

/* Seconds one iteration of `tokens` tokens waits for weights over `layers`
 * layers of a model of hidden size `hidden` (s: the shard). */
double woffload_iter_s(const struct weight_offload *o,
                       const struct woffload_bytes *nr, int32_t layers,
                       int32_t hidden, const struct shard *s,
                       int64_t tokens);

#endif
