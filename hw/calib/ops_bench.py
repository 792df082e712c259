#!/usr/bin/env python3
"""ops_bench: per-operator timings of the llmsim reference engine's kernels (on the GPU).

Times exactly the kernels reference/llama_ref.py launches (they live in
reference/kernels.py), each captured in a CUDA graph of back-to-back calls so launch
overhead is excluded (the graph's per-kernel cost is included, as in the engine):

  elementwise.csv         op,tokens,width,time_us   (rmsnorm, rope, silu_mul, residual_add,
                          kv_write, embedding, sampling) for every width the catalog makes
                          at tp 1,2,4,8. Activations are L2-warm, as in a forward pass where
                          the producer just wrote them; embedding rows rotate over 64 id sets.
  attn_prefill.csv        num_q_heads,num_kv_heads,head_dim,q_tokens,prior_ctx,time_us
                          one sequence: q_tokens new tokens attend causally (bottom-right)
                          over prior_ctx cached tokens plus themselves (q_tokens+prior <= 32768)
  attn_decode.csv         num_q_heads,num_kv_heads,head_dim,batch,ctx,time_us
                          batch sequences, one query token each, each over ctx cached
                          tokens plus its own (ctx+1 keys), one varlen call
  attn_decode_ragged.jsonl {"num_q_heads","num_kv_heads","head_dim","ctx":[...],"time_us"}
                          same, with per-sequence contexts drawn from a seeded lognormal
Attention KV is cold: buffer sets rotate over >= 2.5 x L2 (up to 256 sets). Decode points
whose K (or V) would exceed 2 GiB for one layer are skipped (beyond any real engine's
per-layer cache on one GPU).

  linear_torch.csv        m,n,k,time_us  cross-check: torch.mm(x, W.t()) as the engine calls it,
                          tp=1 layer shapes of each model and the LM head, cold weights

usage: ops_bench.py --outdir DIR [--catalog models/catalog] [--only elementwise,linear,prefill,decode,ragged]
                    [--models a,b] [--quick]     (LLMSIM_FILL=uniform: linear operands U[-1,1))
"""
import argparse
import glob
import json
import math
import os
import random
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "reference"))

import torch  # noqa: E402
import kernels as K  # noqa: E402

TOKENS = [1, 2, 4, 8, 16, 24, 32, 48, 64, 96, 128, 160, 192, 256, 320, 384, 448, 512, 640, 768,
          1024, 1280, 1536, 2048, 3072, 4096, 6144, 8192, 12288, 16384]
PREFILL_Q = [16, 32, 64, 128, 256, 384, 512, 768, 1024, 1536, 2048, 3072, 4096, 6144, 8192, 12288, 16384]
PREFILL_PRIOR = [0, 128, 512, 1024, 2048, 4096, 8192, 16384]
DECODE_B = [1, 2, 4, 8, 16, 32, 64, 96, 128, 192, 256, 384, 512]
DECODE_CTX = [16, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768]
MAX_TOTAL = 32768
KV_CAP_BYTES = 2 << 30
# LLMSIM_TPS (e.g. "1,2") narrows the tensor-parallel degrees covered
TPS = [int(t) for t in os.environ.get("LLMSIM_TPS", "1,2,4,8").split(",")]
L2_MULT = 2.5


MODELS = None  # set from --models


def load_catalog(d):
    ms = []
    for p in sorted(glob.glob(os.path.join(d, "*.json"))):
        with open(p) as f:
            m = json.load(f)
        m.setdefault("id", os.path.splitext(os.path.basename(p))[0])
        if MODELS and m["id"] not in MODELS:
            continue
        ms.append(m)
    return ms


def head_configs(models):
    cfg = set()
    for m in models:
        for tp in TPS:
            if m["num_heads"] % tp == 0 and m["num_kv_heads"] % tp == 0:
                cfg.add((m["num_heads"] // tp, m["num_kv_heads"] // tp, m["head_dim"]))
    return sorted(cfg, key=lambda c: (-c[0], -c[1], c[2]))


def ragged_batches(n, seed=20251126):
    rng = random.Random(seed)
    out = []
    sizes = [2, 4, 8, 16, 32, 48, 64, 96, 128, 192, 256, 384]
    for i in range(n):
        b = sizes[i % len(sizes)]
        mu = math.log(rng.choice([256, 512, 1024, 2048, 4096]))
        ctx = [int(min(32767, max(16, round(rng.lognormvariate(mu, 1.0))))) for _ in range(b)]
        out.append(ctx)
    return out


class Writer:
    def __init__(self, path, header, cols):
        self.f = open(path, "w")
        self.f.write(header)
        self.f.write(cols + "\n")
        self.f.flush()

    def row(self, *vals):
        self.f.write(",".join(f"{v:.3f}" if isinstance(v, float) else str(v) for v in vals) + "\n")
        self.f.flush()


def bench_elementwise(models, out, quick, prov):
    w = Writer(os.path.join(out, "elementwise.csv"), K.csv_header(prov), "op,tokens,width,time_us")
    dev = "cuda"
    bf = torch.bfloat16
    toks = TOKENS if not quick else [1, 64, 1024]
    maxT = max(toks)
    cos, sin = K.rope_tables(maxT + 1, 128)
    done = set()
    t0 = time.time()
    n = 0
    for m in models:
        H, KVH, hd, hid, ffn, vocab = (m["num_heads"], m["num_kv_heads"], m["head_dim"],
                                        m["hidden_size"], m["ffn_size"], m["vocab_size"])
        if hd != 128:
            cos, sin = K.rope_tables(maxT + 1, hd)
        eps = float(m.get("rms_norm_eps", 1e-5))
        # ---- width = hidden: rmsnorm, residual_add, embedding
        if ("rmsnorm", hid) not in done:
            done.add(("rmsnorm", hid))
            wt = torch.randn(hid, device=dev, dtype=bf)
            x = torch.randn(maxT, hid, device=dev, dtype=bf)
            y = torch.empty_like(x)
            for T in toks:
                xs, ys = x[:T], y[:T]
                t, _ = K.bench_calls([lambda: K.rmsnorm(xs, wt, eps, out=ys)])
                w.row("rmsnorm", T, hid, t); n += 1
            a = torch.randn(maxT, hid, device=dev, dtype=bf)
            for T in toks:
                hs, os_ = x[:T], a[:T]
                t, _ = K.bench_calls([lambda: K.residual_add(hs, os_)])
                w.row("residual_add", T, hid, t); n += 1
            del x, y, a
        if ("embedding", hid) not in done:
            done.add(("embedding", hid))
            table = torch.randn(vocab, hid, device=dev, dtype=bf)
            g = torch.Generator(device="cpu").manual_seed(7)
            for T in toks:
                l2 = torch.cuda.get_device_properties(0).L2_cache_size
                nsets = max(1, min(64, math.ceil(L2_MULT * l2 / (T * hid * 2))))
                ids = [torch.randint(0, vocab, (T,), generator=g).to(dev) for _ in range(nsets)]
                outs = torch.empty(T, hid, device=dev, dtype=bf)
                calls = [(lambda i=i: K.embedding(ids[i], table, out=outs)) for i in range(nsets)]
                t, _ = K.bench_calls(calls)
                w.row("embedding", T, hid, t); n += 1
            del table
        for tp in TPS:
            if H % tp or KVH % tp or ffn % tp:
                continue
            h, kvh, F = H // tp, KVH // tp, ffn // tp
            qkvw = (h + 2 * kvh) * hd
            # ---- rope: width = (q_heads + kv_heads) * head_dim
            rw = (h + kvh) * hd
            if ("rope", rw) not in done:
                done.add(("rope", rw))
                qkv = torch.randn(maxT, qkvw, device=dev, dtype=bf)
                pos = (torch.arange(maxT, device=dev, dtype=torch.int32) * 7) % maxT
                for T in toks:
                    qs, ps = qkv[:T], pos[:T]
                    t, _ = K.bench_calls([lambda: K.rope_(qs, ps, cos, sin, h + kvh, hd)])
                    w.row("rope", T, rw, t); n += 1
                del qkv
            # ---- kv_write: width = 2 * kv_heads * head_dim
            kw = 2 * kvh * hd
            if ("kv_write", kw) not in done:
                done.add(("kv_write", kw))
                qkv = torch.randn(maxT, qkvw, device=dev, dtype=bf)
                nslots = 2 * maxT
                kc = torch.empty(nslots, kvh, hd, device=dev, dtype=bf)
                vc = torch.empty(nslots, kvh, hd, device=dev, dtype=bf)
                slots = torch.arange(maxT, device=dev, dtype=torch.int64) + 1000
                for T in toks:
                    qs, ss = qkv[:T], slots[:T]
                    t, _ = K.bench_calls([lambda: K.kv_write(qs, ss, kc, vc, h, kvh, hd)])
                    w.row("kv_write", T, kw, t); n += 1
                del qkv, kc, vc
            # ---- silu_mul: width = ffn / tp (input 2 * width)
            if ("silu_mul", F) not in done:
                done.add(("silu_mul", F))
                gu = torch.randn(maxT, 2 * F, device=dev, dtype=bf)
                y = torch.empty(maxT, F, device=dev, dtype=bf)
                for T in toks:
                    gs, ys = gu[:T], y[:T]
                    t, _ = K.bench_calls([lambda: K.silu_mul(gs, out=ys)])
                    w.row("silu_mul", T, F, t); n += 1
                del gu, y
            # ---- sampling: tokens = sequences, width = vocab / tp
            V = -(-vocab // tp)
            if ("sampling", V) not in done:
                done.add(("sampling", V))
                st = [T for T in toks if T <= 4096]
                lg = torch.randn(max(st), V, device=dev, dtype=bf)
                for T in st:
                    ls = lg[:T]
                    t, _ = K.bench_calls([lambda: K.sampling(ls)])
                    w.row("sampling", T, V, t); n += 1
                del lg
            torch.cuda.empty_cache()
    print(f"elementwise: {n} points in {time.time() - t0:.1f} s", flush=True)


class KVArena:
    """Random bf16 K and V regions; views at rotating offsets keep attention reads cold."""

    def __init__(self, bytes_each):
        self.n = bytes_each // 2
        self.k = torch.randn(self.n, device="cuda", dtype=torch.bfloat16)
        self.v = torch.randn(self.n, device="cuda", dtype=torch.bfloat16)

    def sets(self, total_k, kvh, hd, l2):
        per = total_k * kvh * hd
        assert per <= self.n, "KV set larger than arena"
        nsets = max(1, min(256, math.ceil(L2_MULT * l2 / (2 * per * 2))))
        nsets = max(1, min(nsets, self.n // per))
        out = []
        for i in range(nsets):
            o = i * per
            out.append((self.k[o:o + per].view(total_k, kvh, hd), self.v[o:o + per].view(total_k, kvh, hd)))
        return out


def bench_attention(models, out, quick, prov, which):
    dev = "cuda"
    bf = torch.bfloat16
    l2 = torch.cuda.get_device_properties(0).L2_cache_size
    cfgs = head_configs(models)
    if quick:
        cfgs = cfgs[:2]
    arena = KVArena((KV_CAP_BYTES + (512 << 20)) if not quick else (256 << 20))
    wp = wd = wr = None
    if "prefill" in which:
        wp = Writer(os.path.join(out, "attn_prefill.csv"), K.csv_header(prov),
                    "num_q_heads,num_kv_heads,head_dim,q_tokens,prior_ctx,time_us")
    if "decode" in which:
        wd = Writer(os.path.join(out, "attn_decode.csv"), K.csv_header(prov),
                    "num_q_heads,num_kv_heads,head_dim,batch,ctx,time_us")
    if "ragged" in which:
        wr = open(os.path.join(out, "attn_decode_ragged.jsonl"), "w")
        wr.write(json.dumps({"provenance": prov}) + "\n")
    pq = PREFILL_Q if not quick else [16, 512, 2048]
    pp = PREFILL_PRIOR if not quick else [0, 1024]
    db = DECODE_B if not quick else [1, 64]
    dc = DECODE_CTX if not quick else [128, 4096]
    rag = ragged_batches(40 if not quick else 3)
    for (H, KVH, hd) in cfgs:
        scale = hd ** -0.5
        qkvw = (H + 2 * KVH) * hd
        t0 = time.time()
        n = 0
        if wp:
            qkv = torch.randn(max(pq), qkvw, device=dev, dtype=bf)
            for q in pq:
                for p in pp:
                    if q + p > MAX_TOTAL:
                        continue
                    tk = q + p
                    if tk * KVH * hd * 2 > arena.n * 2:
                        continue
                    qv = qkv[:q, :H * hd].view(q, H, hd)
                    cu_q = torch.tensor([0, q], device=dev, dtype=torch.int32)
                    cu_k = torch.tensor([0, tk], device=dev, dtype=torch.int32)
                    sets = arena.sets(tk, KVH, hd, l2)
                    calls = [(lambda kv=kv: K.flash_varlen(qv, kv[0], kv[1], cu_q, cu_k, q, tk, True, scale))
                             for kv in sets]
                    t, _ = K.bench_calls(calls)
                    wp.row(H, KVH, hd, q, p, t); n += 1
            del qkv
        if wd or wr:
            maxb = max(max(db), max(len(c) for c in rag))
            qkv = torch.randn(maxb, qkvw, device=dev, dtype=bf)

            def dec(ctxs):
                B = len(ctxs)
                tk = sum(c + 1 for c in ctxs)
                qv = qkv[:B, :H * hd].view(B, H, hd)
                cu_q = torch.arange(B + 1, device=dev, dtype=torch.int32)
                cu_k = torch.tensor([0] + list(K._cumsum([c + 1 for c in ctxs])), device=dev, dtype=torch.int32)
                mk = max(ctxs) + 1
                sets = arena.sets(tk, KVH, hd, l2)
                calls = [(lambda kv=kv: K.flash_varlen(qv, kv[0], kv[1], cu_q, cu_k, 1, mk, False, scale))
                         for kv in sets]
                return K.bench_calls(calls)[0]
            if wd:
                for B in db:
                    for c in dc:
                        if B * (c + 1) * KVH * hd * 2 > min(KV_CAP_BYTES, arena.n * 2):
                            continue
                        wd.row(H, KVH, hd, B, c, dec([c] * B)); n += 1
            if wr:
                for ctxs in rag:
                    if sum(c + 1 for c in ctxs) * KVH * hd * 2 > min(KV_CAP_BYTES, arena.n * 2):
                        continue
                    t = dec(ctxs)
                    wr.write(json.dumps({"num_q_heads": H, "num_kv_heads": KVH, "head_dim": hd,
                                         "ctx": ctxs, "time_us": round(t, 3)}) + "\n")
                    wr.flush(); n += 1
            del qkv
        torch.cuda.empty_cache()
        print(f"attention H={H} KVH={KVH} hd={hd}: {n} points in {time.time() - t0:.1f} s", flush=True)
    if wr:
        wr.close()


LINEAR_M = [1, 8, 32, 64, 128, 256, 512, 544, 640, 1024, 2048, 4096, 8192]


# The dense M grid: decode batches take every size, and cuBLASLt's choice of tile (and so the
# number of waves) changes between neighbouring M, so the table steps where a coarse grid
# would interpolate across a jump.
DENSE_M = (list(range(1, 8)) + list(range(8, 256, 8)) + list(range(256, 1024, 32)) +
           list(range(1024, 4096, 128)) + list(range(4096, 16385, 512)))
LINEAR_TPS = [int(t) for t in os.environ.get("LLMSIM_LINEAR_TPS", "1").split(",")]


def bench_linear(models, out, quick, prov):
    """Cross-check for gemm_bench: torch.mm(x, W.t()) exactly as the reference engine calls
    it (K.linear, cuBLASLt backend), tp=1 layer shapes and the LM head, cold weights."""
    dev = "cuda"
    bf = torch.bfloat16
    l2 = torch.cuda.get_device_properties(0).L2_cache_size
    suffix = "" if K.blas_config()["blas_backend"] == "cublaslt" else "_" + K.blas_config()["blas_backend"]
    fill = os.environ.get("LLMSIM_FILL", "normal")  # normal: torch.randn; uniform: U[-1, 1)
    if fill != "normal":
        suffix += "_" + fill

    def rnd(*shape):
        if fill == "uniform":
            return torch.rand(*shape, device=dev, dtype=bf) * 2 - 1
        return torch.randn(*shape, device=dev, dtype=bf)
    w = Writer(os.path.join(out, f"linear_torch{suffix}.csv"), K.csv_header(dict(prov, note=(
        f"torch.mm(x, W.t()) as K.linear calls it (blas_backend above), operands {fill}; compare with gemm_bf16.csv"))),
        "m,n,k,time_us")
    ms = LINEAR_M if not quick else [1, 512]
    if os.environ.get("LLMSIM_LINEAR_M"):  # e.g. "dense": the grid the cost model interpolates
        ms = DENSE_M if os.environ["LLMSIM_LINEAR_M"] == "dense" else \
            [int(x) for x in os.environ["LLMSIM_LINEAR_M"].split(",")]
    t0 = time.time()
    n = 0
    for m in models:
        hid, H, KVH, hd, F, V = (m["hidden_size"], m["num_heads"], m["num_kv_heads"], m["head_dim"],
                                 m["ffn_size"], m["vocab_size"])
        shapes = []
        for tp in TPS:  # sharded as tensor parallelism shards them (LLMSIM_TPS, default tp 1 only here)
            if H % tp or KVH % tp or F % tp or (tp > 1 and tp not in LINEAR_TPS):
                continue
            shapes += [((H + 2 * KVH) * hd // tp, hid, 1 << 30), (hid, H * hd // tp, 1 << 30),
                       (2 * F // tp, hid, 1 << 30), (hid, F // tp, 1 << 30), (-(-V // tp), hid, 512)]
        for (N, Kd, mmax) in sorted(set(shapes)):
            nsets = max(1, min(8, math.ceil(L2_MULT * l2 / (N * Kd * 2))))
            Ws = [rnd(N, Kd) for _ in range(nsets)]
            for M in ms:
                if M > mmax:
                    continue
                xs = [rnd(M, Kd) for _ in range(nsets)]
                calls = [(lambda i=i: K.linear(xs[i], Ws[i])) for i in range(nsets)]
                t, _ = K.bench_calls(calls, target_us=1500.0, trials=7)
                w.row(M, N, Kd, t); n += 1
            del Ws
            torch.cuda.empty_cache()
    print(f"linear: {n} points in {time.time() - t0:.1f} s", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--outdir", required=True)
    ap.add_argument("--catalog", default=os.path.join(HERE, "..", "..", "models", "catalog"))
    ap.add_argument("--only", default="elementwise,linear,prefill,decode,ragged")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--models", default="", help="comma-separated catalog ids (default: all)")
    a = ap.parse_args()
    global MODELS
    MODELS = set(a.models.split(",")) if a.models else None
    os.makedirs(a.outdir, exist_ok=True)
    K.setup_torch()
    print(json.dumps(K.env_report()), flush=True)
    K.selftest()
    models = load_catalog(a.catalog)
    which = set(a.only.split(","))
    # warm the clocks
    x = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    t_end = time.time() + 0.5
    while time.time() < t_end:
        x @ x
    torch.cuda.synchronize()
    del x
    prov = K.provenance("ops_bench.py", {
        "attention_kernel": K.ATTENTION_KERNEL,
        "timing": "CUDA graph of back-to-back calls (~1000 us per replay), median of 5 replays / calls",
    })
    if "elementwise" in which:
        bench_elementwise(load_catalog(a.catalog), a.outdir, a.quick, prov)
    if "linear" in which:
        bench_linear(models, a.outdir, a.quick, prov)
    aw = which & {"prefill", "decode", "ragged"}
    if aw:
        bench_attention(models, a.outdir, a.quick, prov, aw)


if __name__ == "__main__":
    main()
