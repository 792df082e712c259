#!/usr/bin/env python3
"""elem_bench: the unfused engine's own PyTorch elementwise kernels (issue 16; GPU).

elementwise_torch.csv (op,tokens,width,time_us): every elementwise operator engine_unfused.py
launches, by tokens and the row width it works on (elements per token), for llama-3-8b and
llama-2-13b shapes, each in a CUDA graph of back-to-back calls (reference/kernels.py
bench_calls), activations L2-warm as ops_bench.py's elementwise.csv:

  RMSNorm (width = hidden):   to_fp32 (bf16 -> fp32), pow2_fp32, mean_lastdim_fp32,
                              add_eps_fp32 (width 1: the [T, 1] variance + eps), rsqrt_fp32
                              (width 1), mul_rowscale_fp32 ([T, W] x [T, 1]), to_bf16,
                              mul_weight_bf16 ([W] x [T, W])
  RoPE (width = heads x 128): rope_mul_cos_bf16 ([T, heads, 128] x [T, 1, 128]),
                              neg_half_bf16 (width = heads x 64: -x[..., 64:]),
                              cat_rotate_half_bf16, add_bf16 (also the residual adds, width
                              hidden)
  KV and attention copies:    copy_kv_chunk (a prefill chunk's K into the static cache,
                              [kvh, T, 128] strided), copy_kv_group (T decode rows' K at one
                              position), copy_attn_out_chunk ([1, H, T, 128] SDPA output into
                              the token-major buffer), copy_attn_out_group ([T, H, 1, 128])
  MLP (width = ffn):          silu_bf16, mul_bf16
  rotary_tables (width 128):  the per-forward LlamaRotaryEmbedding (matmul, cat, cos, sin,
                              scaling, casts: several kernels, one row)

usage: elem_bench.py --outdir DIR [--quick]
"""
import argparse
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import common  # noqa: E402
import kernels as K  # noqa: E402

TOKENS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384]
HD = 128
# (hidden, q heads, kv heads, ffn) of llama-3-8b and llama-2-13b (models/catalog)
SHAPES = [(4096, 32, 8, 14336), (5120, 40, 40, 13824)]
BF, F32 = torch.bfloat16, torch.float32


def ops_for(hid, H, KVH, ffn):
    """[(op, width, builder)]; builder(T) -> zero-argument call."""
    dev = "cuda"

    def rnd(*s, dt=BF):
        return torch.randn(*s, device=dev, dtype=dt)
    out = []

    def norm(W):
        def mk(name):
            def b(T):
                x = rnd(T, W)
                x32 = rnd(T, W, dt=F32)
                r = rnd(T, 1, dt=F32).abs() + 0.5
                w = rnd(W)
                return {"to_fp32": lambda: x.to(F32), "pow2_fp32": lambda: x32.pow(2),
                        "mean_lastdim_fp32": lambda: x32.mean(-1, keepdim=True),
                        "mul_rowscale_fp32": lambda: x32 * r, "to_bf16": lambda: x32.to(BF),
                        "mul_weight_bf16": lambda: w * x}[name]
            return b
        for n in ("to_fp32", "pow2_fp32", "mean_lastdim_fp32", "mul_rowscale_fp32", "to_bf16", "mul_weight_bf16"):
            out.append((n, W, mk(n)))

    def narrow_ops():
        def b_add(T):
            v = rnd(T, 1, dt=F32).abs()
            return lambda: v + 1e-5

        def b_rsqrt(T):
            v = rnd(T, 1, dt=F32).abs() + 1e-3
            return lambda: torch.rsqrt(v)
        out.append(("add_eps_fp32", 1, b_add))
        out.append(("rsqrt_fp32", 1, b_rsqrt))

    def rope(nh):
        def b_mul(T):
            x, c = rnd(T, nh, HD), rnd(T, 1, HD)
            return lambda: x * c

        def b_neg(T):
            x = rnd(T, nh, HD)
            return lambda: -x[..., HD // 2:]

        def b_cat(T):
            a, b = rnd(T, nh, HD // 2), rnd(T, nh, HD // 2)
            return lambda: torch.cat((a, b), dim=-1)
        out.append(("rope_mul_cos_bf16", nh * HD, b_mul))
        out.append(("neg_half_bf16", nh * HD // 2, b_neg))
        out.append(("cat_rotate_half_bf16", nh * HD, b_cat))

    def add(W):
        def b(T):
            x, y = rnd(T, W), rnd(T, W)
            return lambda: x + y
        out.append(("add_bf16", W, b))

    def copies():
        def b_chunk(T):
            cache = rnd(1, KVH, T + 64, HD)
            k = rnd(T, KVH, HD)
            return lambda: cache[0, :, 32:32 + T].copy_(k.transpose(0, 1))

        def b_group(T):
            cache = rnd(T, KVH, 80, HD)
            k = rnd(T, KVH, HD)
            return lambda: cache[:, :, 40].copy_(k)

        def b_out_chunk(T):
            o = rnd(1, H, T, HD)
            buf = rnd(T, H, HD)
            return lambda: buf.copy_(o[0].transpose(0, 1))

        def b_out_group(T):
            o = rnd(T, H, 1, HD)
            buf = rnd(T, H, HD)
            return lambda: buf.copy_(o[:, :, 0])
        out.append(("copy_kv_chunk", KVH * HD, b_chunk))
        out.append(("copy_kv_group", KVH * HD, b_group))
        out.append(("copy_attn_out_chunk", H * HD, b_out_chunk))
        out.append(("copy_attn_out_group", H * HD, b_out_group))

    def mlp(W):
        def b_silu(T):
            x = rnd(T, W)
            return lambda: F.silu(x)

        def b_mul(T):
            x, y = rnd(T, W), rnd(T, W)
            return lambda: x * y
        out.append(("silu_bf16", W, b_silu))
        out.append(("mul_bf16", W, b_mul))

    norm(hid)
    narrow_ops()
    rope(H)
    if KVH != H:
        rope(KVH)
    add(hid)
    if KVH * HD != hid:
        add(KVH * HD)
    copies()
    mlp(ffn)
    return out


def rotary_op():
    import engine_unfused
    inv = (1.0 / (500000.0 ** (torch.arange(0, HD, 2, dtype=torch.int64).float() / HD))).to("cuda")
    eng = engine_unfused.UnfusedEngine.__new__(engine_unfused.UnfusedEngine)
    eng.inv_freq = inv

    def b(T):
        pos = torch.arange(T, device="cuda", dtype=torch.int64)
        return lambda: eng.rotary(pos)
    return ("rotary_tables", HD, b)


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--outdir", required=True)
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args(argv)
    os.makedirs(a.outdir, exist_ok=True)
    K.setup_torch()
    dl = common.Deadline()
    prov = common.provenance("elem_bench.py", {
        "timing": "CUDA graph of back-to-back calls (~1000 us per replay), median of 5 replays / calls; "
                  "activations L2-warm",
        "note": "the unfused engine's (engine_unfused.py) PyTorch elementwise kernels; width = elements per token"})
    toks = TOKENS if not a.quick else [1, 256]
    ops, seen = [], set()
    for shp in SHAPES:
        for op, w, b in ops_for(*shp):
            if (op, w) not in seen:
                seen.add((op, w))
                ops.append((op, w, b))
    ops.append(rotary_op())
    if a.quick:
        ops = ops[:6] + ops[-1:]
    path = os.path.join(a.outdir, "elementwise_torch.csv")
    t0, n = time.time(), 0
    with open(path, "w") as f:
        f.write(K.csv_header(prov))
        f.write("op,tokens,width,time_us\n")
        for op, w, b in ops:
            if not dl.ok(3.0):
                print("deadline: stopping", flush=True)
                break
            for T in toks:
                try:
                    call = b(T)
                    t, _ = K.bench_calls([call])
                except Exception as e:
                    if common.cuda_fatal(e):
                        sys.exit(3)
                    print(f"{op} T={T} W={w}: {type(e).__name__}: {e}", flush=True)
                    continue
                f.write(f"{op},{T},{w},{t:.3f}\n")
                n += 1
            f.flush()
            torch.cuda.empty_cache()
    print(f"elementwise_torch: {n} points in {time.time() - t0:.1f} s -> {path}", flush=True)


if __name__ == "__main__":
    main()
