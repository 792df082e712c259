#!/usr/bin/env python3
"""w4a16_bench: fused W4A16 GEMMs against torch.mm bf16 (issue 17; GPU).

gemm_w4a16.csv (m,n,k,time_us,bf16_time_us,kernel,split_k,rel_err): y = x @ W for the
llama-3-8b and llama-2-13b layer shapes at tp 1 (fused QKV, O, fused gate/up, down), M in
1..8192, weights 4-bit with group size 128, weights cold (rotating sets over >= 2.5 x L2), each
call in a CUDA graph of back-to-back calls (reference/kernels.py bench_calls). Kernels:

  awq_triton_vllm   vLLM's Triton AWQ GEMM (vendored quantization/awq_triton.py,
                    awq_gemm_triton): fp16 activations (AWQ's dtype), int4 packed in AWQ order
                    [K, N/8] int32, fp16 scales, packed int4 zeros, split_k 8 (what vLLM's
                    awq_gemm passes: pack_factor), 32x32x32 tiles; the time includes the
                    split-k partials' sum, as the function returns it
  awq_dequant_mm    vLLM's path for M >= 256 (awq.py): awq_dequantize_triton then torch.mm
                    (fp16), both timed together
  w4a16_own         our own Triton kernel: bf16 activations, int4 packed along K [K/8, N]
                    int32, bf16 group scales and zeros (group 128), dequantized in registers,
                    bf16 MMA with fp32 accumulation, split-K for small M
bf16_time_us is torch.mm(x, W.t()) in bf16 (reference/kernels.linear) on the same shape.
rel_err: the kernel's output against x @ (dequantized W) in fp32, checked on the first
point of each shape (checks are in smoke too).

usage: w4a16_bench.py --outdir DIR [--quick] [--kernels awq_triton_vllm,awq_dequant_mm,w4a16_own]
"""
import argparse
import math
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import torch  # noqa: E402
import triton  # noqa: E402
import triton.language as tl  # noqa: E402

import common  # noqa: E402
import kernels as K  # noqa: E402
import vendored  # noqa: E402

M_GRID = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192]
GROUP = 128
AWQ_ORDER = [0, 4, 1, 5, 2, 6, 3, 7]   # column j of a pack of 8 holds nibble AWQ_ORDER[j]
L2_MULT = 2.5


def layer_shapes():
    """(n, k) of the tp-1 layer GEMMs of llama-3-8b and llama-2-13b (models/catalog)."""
    out = []
    for m in ("llama-3-8b", "llama-2-13b"):
        c = common.load_cfg(m)
        H, KVH, hd, hid, F = c["num_heads"], c["num_kv_heads"], c["head_dim"], c["hidden_size"], c["ffn_size"]
        out += [((H + 2 * KVH) * hd, hid), (hid, H * hd), (2 * F, hid), (hid, F)]
    return sorted(set(out))


# ----------------------------------------------------------------------------- AWQ format
def awq_unpack(packed, rows, cols):
    """[rows, cols/8] int32 in AWQ order -> [rows, cols] int (0..15)."""
    out = torch.empty(rows, cols, dtype=torch.int32, device=packed.device)
    for j in range(8):
        out[:, j::8] = (packed >> (4 * AWQ_ORDER[j])) & 0xF
    return out


def awq_weights(n, k, g):
    qweight = torch.randint(-2**31, 2**31 - 1, (k, n // 8), dtype=torch.int32, device="cuda", generator=g)
    qzeros = torch.randint(-2**31, 2**31 - 1, (k // GROUP, n // 8), dtype=torch.int32, device="cuda", generator=g)
    scales = (torch.rand(k // GROUP, n, device="cuda", generator=g) * 0.01 + 0.002).to(torch.float16)
    return qweight, scales, qzeros


def awq_dequant_ref(qweight, scales, qzeros):
    k, n8 = qweight.shape
    n = n8 * 8
    w = awq_unpack(qweight, k, n).float()
    z = awq_unpack(qzeros, k // GROUP, n).float().repeat_interleave(GROUP, 0)
    s = scales.float().repeat_interleave(GROUP, 0)
    return (w - z) * s            # [k, n]


# ----------------------------------------------------------------------------- own kernel
@triton.jit
def _w4a16_kernel(x_ptr, q_ptr, s_ptr, z_ptr, y_ptr, M, N, K,
                  stride_xm, stride_qk, stride_sg, stride_ym, stride_ys,
                  GROUP: tl.constexpr, BM: tl.constexpr, BN: tl.constexpr, BK: tl.constexpr,
                  SPLIT_K: tl.constexpr):
    pid_m = tl.program_id(0)
    pid_n = tl.program_id(1)
    pid_k = tl.program_id(2)
    offs_m = pid_m * BM + tl.arange(0, BM)
    offs_n = pid_n * BN + tl.arange(0, BN)
    offs_k = tl.arange(0, BK)
    acc = tl.zeros((BM, BN), dtype=tl.float32)
    k_per = tl.cdiv(K, SPLIT_K * BK) * BK
    k_lo = pid_k * k_per
    for k0 in range(k_lo, tl.minimum(k_lo + k_per, K), BK):
        kk = k0 + offs_k
        a = tl.load(x_ptr + offs_m[:, None] * stride_xm + kk[None, :],
                    mask=(offs_m[:, None] < M) & (kk[None, :] < K), other=0.0)
        packed = tl.load(q_ptr + (kk[:, None] // 8) * stride_qk + offs_n[None, :],
                         mask=(kk[:, None] < K) & (offs_n[None, :] < N), other=0)
        nib = (packed >> ((kk[:, None] % 8) * 4)) & 0xF
        g = k0 // GROUP
        s = tl.load(s_ptr + g * stride_sg + offs_n, mask=offs_n < N, other=0.0).to(tl.float32)
        z = tl.load(z_ptr + g * stride_sg + offs_n, mask=offs_n < N, other=0.0).to(tl.float32)
        w = ((nib.to(tl.float32) - z[None, :]) * s[None, :]).to(tl.bfloat16)
        acc = tl.dot(a, w, acc)
    y = y_ptr + pid_k * stride_ys + offs_m[:, None] * stride_ym + offs_n[None, :]
    tl.store(y, acc, mask=(offs_m[:, None] < M) & (offs_n[None, :] < N))


def own_config(M, N, sms):
    if M <= 16:
        bm, bn, bk, warps, stages = 16, 64, 128, 4, 4
    elif M <= 64:
        bm, bn, bk, warps, stages = 64, 64, 128, 4, 4
    else:
        bm, bn, bk, warps, stages = 128, 128, 64, 8, 3
    tiles = triton.cdiv(M, bm) * triton.cdiv(N, bn)
    split = 1
    while split < 8 and tiles * split * 2 <= 2 * sms:
        split *= 2
    return bm, bn, bk, warps, stages, split


def own_weights(n, k, g):
    q = torch.randint(-2**31, 2**31 - 1, (k // 8, n), dtype=torch.int32, device="cuda", generator=g)
    s = (torch.rand(k // GROUP, n, device="cuda", generator=g) * 0.01 + 0.002).to(torch.bfloat16)
    z = torch.randint(0, 16, (k // GROUP, n), device="cuda", generator=g).to(torch.bfloat16)
    return q, s, z


def own_dequant_ref(q, s, z):
    k8, n = q.shape
    k = k8 * 8
    w = torch.empty(k, n, dtype=torch.float32, device=q.device)
    for j in range(8):
        w[j::8] = ((q >> (4 * j)) & 0xF).float()
    return (w - z.float().repeat_interleave(GROUP, 0)) * s.float().repeat_interleave(GROUP, 0)


def own_gemm(x, q, s, z, sms, out=None, part=None):
    M, Kd = x.shape
    N = q.shape[1]
    bm, bn, bk, warps, stages, split = own_config(M, N, sms)
    if part is None:
        part = torch.empty(split, M, N, dtype=torch.float32, device=x.device)
    grid = (triton.cdiv(M, bm), triton.cdiv(N, bn), split)
    _w4a16_kernel[grid](x, q, s, z, part, M, N, Kd, x.stride(0), q.stride(0), s.stride(0),
                        part.stride(1), part.stride(0), GROUP=GROUP, BM=bm, BN=bn, BK=bk,
                        SPLIT_K=split, num_warps=warps, num_stages=stages)
    return part.sum(0).to(torch.bfloat16) if split > 1 else part[0].to(torch.bfloat16)


# ----------------------------------------------------------------------------- bench
def nsets(bytes_each, l2):
    return max(1, min(8, math.ceil(L2_MULT * l2 / max(bytes_each, 1))))


def check(name, y, ref):
    err = K.rel_err(y.float(), ref)
    tol = 5e-2 if name.startswith("awq") else 2e-2
    return err, err < tol


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--outdir", required=True)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--kernels", default="awq_triton_vllm,awq_dequant_mm,w4a16_own")
    a = ap.parse_args(argv)
    os.makedirs(a.outdir, exist_ok=True)
    K.setup_torch()
    dl = common.Deadline()
    l2, sms = common.l2_bytes(), common.sm_count()
    kernels = a.kernels.split(",")
    awq = None
    if "awq_triton_vllm" in kernels or "awq_dequant_mm" in kernels:
        try:
            awq = vendored.load("vllm_awq_triton")
        except Exception as e:
            print(f"vendored AWQ unavailable: {type(e).__name__}: {e}", flush=True)
    prov = common.provenance("w4a16_bench.py", {
        "timing": "CUDA graph of back-to-back calls (~1000 us per replay), median of 5; weights cold",
        "format": f"int4 weights, group {GROUP}; awq_*: fp16 activations and scales (AWQ), w4a16_own: bf16"})
    shapes = layer_shapes() if not a.quick else [(1024, 512)]
    ms = M_GRID if not a.quick else [16, 300]
    g = torch.Generator(device="cuda").manual_seed(17)
    path = os.path.join(a.outdir, "gemm_w4a16.csv")
    t0, n = time.time(), 0
    with open(path, "w") as f:
        f.write(K.csv_header(prov))
        f.write("m,n,k,time_us,bf16_time_us,kernel,split_k,rel_err\n")
        for (N, Kd) in shapes:
            if not dl.ok(4.0):
                print("deadline: stopping", flush=True)
                break
            s_w = nsets(N * Kd // 2, l2)
            s_b = nsets(N * Kd * 2, l2)
            Wb = [torch.randn(N, Kd, device="cuda", dtype=torch.bfloat16) * 0.02 for _ in range(s_b)]
            aw = [awq_weights(N, Kd, g) for _ in range(s_w)] if awq else []
            ow = [own_weights(N, Kd, g) for _ in range(s_w)] if "w4a16_own" in kernels else []
            checked = set()
            for M in ms:
                x16 = torch.randn(M, Kd, device="cuda", dtype=torch.float16)
                xb = torch.randn(M, Kd, device="cuda", dtype=torch.bfloat16)
                try:
                    tb, _ = K.bench_calls([(lambda i=i: K.linear(xb, Wb[i])) for i in range(s_b)])
                except Exception as e:
                    if common.cuda_fatal(e):
                        sys.exit(3)
                    print(f"bf16 mm M={M} N={N} K={Kd}: {e}", flush=True)
                    tb = float("nan")
                for kern in kernels:
                    if kern.startswith("awq") and not awq:
                        continue
                    if kern == "awq_dequant_mm" and M < 256:
                        continue
                    try:
                        err, ok, split = "", True, 1
                        if kern == "awq_triton_vllm":
                            calls = [(lambda w=w: awq.awq_gemm_triton(x16, w[0], w[1], w[2], 8)) for w in aw]
                            split = 8
                            if kern not in checked:
                                ref = x16.float() @ awq_dequant_ref(*aw[0])
                                err, ok = check(kern, calls[0](), ref)
                                checked.add(kern)
                        elif kern == "awq_dequant_mm":
                            calls = [(lambda w=w: torch.mm(x16, awq.awq_dequantize_triton(w[0], w[1], w[2])))
                                     for w in aw]
                            if kern not in checked:
                                ref = x16.float() @ awq_dequant_ref(*aw[0])
                                err, ok = check(kern, calls[0](), ref)
                                checked.add(kern)
                        else:
                            split = own_config(M, N, sms)[5]
                            calls = [(lambda w=w: own_gemm(xb, w[0], w[1], w[2], sms)) for w in ow]
                            if kern not in checked:
                                ref = xb.float() @ own_dequant_ref(*ow[0])
                                err, ok = check(kern, calls[0](), ref)
                                checked.add(kern)
                        if err != "" and not ok:
                            print(f"NUMERICS {kern} M={M} N={N} K={Kd}: rel err {err:.3e}", flush=True)
                        t, _ = K.bench_calls(calls, target_us=1500.0, trials=5 if M < 2048 else 3)
                    except Exception as e:
                        if common.cuda_fatal(e):
                            sys.exit(3)
                        print(f"{kern} M={M} N={N} K={Kd}: {type(e).__name__}: {e}", flush=True)
                        continue
                    es = f"{err:.2e}" if err != "" else ""
                    f.write(f"{M},{N},{Kd},{t:.3f},{tb:.3f},{kern},{split},{es}\n")
                    n += 1
                f.flush()
            Wb = aw = ow = None
            torch.cuda.empty_cache()
            print(f"w4a16 N={N} K={Kd}: done ({time.time() - t0:.1f} s)", flush=True)
    print(f"gemm_w4a16: {n} rows in {time.time() - t0:.1f} s -> {path}", flush=True)


if __name__ == "__main__":
    main()
