"""Kernels of the llmsim reference engine, shared by llama_ref.py and ops_bench.py.

Every operator the reference engine launches is defined here once, so the per-operator
tables (ops_bench.py) time exactly the kernels the whole-model forward (llama_ref.py) runs:

  rmsnorm       Triton, one kernel: y = x * rsqrt(mean(x^2) + eps) * w        (fp32 math)
  rope_         Triton, one kernel, in place on the q and k parts of the fused QKV output
                (NeoX / Llama "rotate half" layout, cos/sin from a position-indexed table)
  kv_write      Triton, one kernel: scatters the new tokens' k and v into the KV cache slots
  silu_mul      Triton, one kernel: y = silu(gate) * up, gate/up = the halves of [T, 2F]
  residual_add  torch.Tensor.add_ (one elementwise kernel)
  embedding     torch.index_select on the embedding table (one gather kernel)
  sampling      torch.argmax over the vocabulary (greedy)
  linear        torch.mm(x, W.t()) through cuBLASLt (x @ W.T, bf16, fp32 accumulate), with a
                32 MiB workspace (CUBLASLT_WORKSPACE_SIZE=32768; PyTorch's own default is 1 MiB)
  flash_varlen  torch.ops.aten._flash_attention_forward: PyTorch's bundled FlashAttention-2
                varlen forward, the kernel torch.nn.attention.varlen.varlen_attn calls
"""
import datetime
import json
import math
import os
import subprocess
import sys

import torch
import triton
import triton.language as tl

# ----------------------------------------------------------------------------- Triton
@triton.jit
def _rmsnorm_kernel(x_ptr, w_ptr, y_ptr, x_stride, y_stride, eps,
                    N: tl.constexpr, BLOCK: tl.constexpr):
    row = tl.program_id(0).to(tl.int64)
    offs = tl.arange(0, BLOCK)
    mask = offs < N
    x = tl.load(x_ptr + row * x_stride + offs, mask=mask, other=0.0).to(tl.float32)
    var = tl.sum(x * x, axis=0) / N
    r = 1.0 / tl.sqrt(var + eps)
    w = tl.load(w_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    tl.store(y_ptr + row * y_stride + offs, (x * r * w).to(tl.bfloat16), mask=mask)


@triton.jit
def _rope_kernel(qkv_ptr, pos_ptr, cos_ptr, sin_ptr, row_stride,
                 NH: tl.constexpr, HD: tl.constexpr, HB: tl.constexpr):
    t = tl.program_id(0).to(tl.int64)
    hb = tl.program_id(1)
    HALF: tl.constexpr = HD // 2
    pos = tl.load(pos_ptr + t).to(tl.int64)
    h = hb * HB + tl.arange(0, HB)[:, None]
    i = tl.arange(0, HALF)[None, :]
    mask = (h < NH) & (i < HALF)
    base = qkv_ptr + t * row_stride + h * HD + i
    x1 = tl.load(base, mask=mask, other=0.0).to(tl.float32)
    x2 = tl.load(base + HALF, mask=mask, other=0.0).to(tl.float32)
    c = tl.load(cos_ptr + pos * HALF + i)
    s = tl.load(sin_ptr + pos * HALF + i)
    tl.store(base, (x1 * c - x2 * s).to(tl.bfloat16), mask=mask)
    tl.store(base + HALF, (x2 * c + x1 * s).to(tl.bfloat16), mask=mask)


@triton.jit
def _kv_write_kernel(qkv_ptr, slot_ptr, k_ptr, v_ptr, row_stride, k_off, v_off,
                     W: tl.constexpr, BLOCK: tl.constexpr):
    t = tl.program_id(0).to(tl.int64)
    offs = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < W
    slot = tl.load(slot_ptr + t).to(tl.int64)
    k = tl.load(qkv_ptr + t * row_stride + k_off + offs, mask=mask)
    v = tl.load(qkv_ptr + t * row_stride + v_off + offs, mask=mask)
    tl.store(k_ptr + slot * W + offs, k, mask=mask)
    tl.store(v_ptr + slot * W + offs, v, mask=mask)


@triton.jit
def _silu_mul_kernel(gu_ptr, y_ptr, gu_stride, y_stride, F: tl.constexpr, BLOCK: tl.constexpr):
    t = tl.program_id(0).to(tl.int64)
    offs = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < F
    g = tl.load(gu_ptr + t * gu_stride + offs, mask=mask, other=0.0).to(tl.float32)
    u = tl.load(gu_ptr + t * gu_stride + F + offs, mask=mask, other=0.0).to(tl.float32)
    y = g / (1.0 + tl.exp(-g)) * u
    tl.store(y_ptr + t * y_stride + offs, y.to(tl.bfloat16), mask=mask)


def rmsnorm(x, w, eps=1e-5, out=None):
    T, N = x.shape
    if out is None:
        out = torch.empty_like(x)
    if T == 0:
        return out
    BLOCK = triton.next_power_of_2(N)
    _rmsnorm_kernel[(T,)](x, w, out, x.stride(0), out.stride(0), eps, N=N, BLOCK=BLOCK,
                          num_warps=8 if BLOCK <= 4096 else 16)
    return out


def rope_(qkv, pos, cos, sin, n_rot_heads, head_dim):
    """In place on the first n_rot_heads heads (q heads then k heads) of each qkv row."""
    T = qkv.shape[0]
    HB = 8
    _rope_kernel[(T, triton.cdiv(n_rot_heads, HB))](qkv, pos, cos, sin, qkv.stride(0),
                                                     NH=n_rot_heads, HD=head_dim, HB=HB,
                                                     num_warps=4)
    return qkv


def kv_write(qkv, slots, k_cache, v_cache, q_heads, kv_heads, head_dim):
    """k_cache/v_cache: [slots, kv_heads, head_dim] (contiguous); slots: int64 [T]."""
    T = qkv.shape[0]
    W = kv_heads * head_dim
    BLOCK = 1024
    _kv_write_kernel[(T, triton.cdiv(W, BLOCK))](qkv, slots, k_cache, v_cache, qkv.stride(0),
                                                 q_heads * head_dim, (q_heads + kv_heads) * head_dim,
                                                 W=W, BLOCK=BLOCK, num_warps=4)


def silu_mul(gu, out=None):
    T, F2 = gu.shape
    F = F2 // 2
    if out is None:
        out = torch.empty((T, F), dtype=gu.dtype, device=gu.device)
    BLOCK = 1024
    _silu_mul_kernel[(T, triton.cdiv(F, BLOCK))](gu, out, gu.stride(0), out.stride(0), F=F,
                                                 BLOCK=BLOCK, num_warps=4)
    return out


def residual_add(h, x):
    return h.add_(x)


def embedding(ids, table, out=None):
    return torch.index_select(table, 0, ids, out=out) if out is not None else torch.index_select(table, 0, ids)


def sampling(logits):
    return torch.argmax(logits, dim=-1)


def linear(x, w):
    """x [M, K] @ w[N, K].T -> [M, N] (cuBLASLt when setup_torch() ran)."""
    return torch.mm(x, w.t())


ATTENTION_KERNEL = ("torch.ops.aten._flash_attention_forward (PyTorch-bundled FlashAttention-2 "
                    "varlen forward, the op torch.nn.attention.varlen.varlen_attn wraps); "
                    "causal masks are bottom-right aligned")


def flash_varlen(q, k, v, cu_q, cu_k, max_q, max_k, causal, scale):
    """q [Tq, H, hd] (last dim contiguous, may be a strided view), k/v [Tk, KVH, hd];
    cu_q/cu_k int32 [B+1]. Returns [Tq, H, hd]."""
    r = torch.ops.aten._flash_attention_forward(q, k, v, cu_q, cu_k, max_q, max_k, 0.0, causal,
                                                False, scale=scale)
    return r[0]


def rope_tables(max_pos, head_dim, theta=10000.0, device="cuda"):
    half = head_dim // 2
    inv = 1.0 / (theta ** (torch.arange(0, half, dtype=torch.float64) / half))
    ang = torch.arange(max_pos, dtype=torch.float64)[:, None] * inv[None, :]
    return (torch.cos(ang).float().contiguous().to(device), torch.sin(ang).float().contiguous().to(device))


# PyTorch's cuBLASLt path gets a 1 MiB workspace unless CUBLASLT_WORKSPACE_SIZE (KiB) says
# otherwise (the 32 MiB Hopper default is the plain cuBLAS workspace). With 1 MiB, torch.mm
# measured 10-20% slower than gemm_bench's 32 MiB heuristic top-1 for M >= 256 on H200, so
# the engine asks for 32 MiB: its GEMMs are then the calls gemm_bench times.
LT_WORKSPACE_KIB = "32768"


def blas_config():
    return {"blas_backend": os.environ.get("LLMSIM_BLAS", "cublaslt"),
            "CUBLASLT_WORKSPACE_SIZE_KiB": os.environ.get("CUBLASLT_WORKSPACE_SIZE", "")}


def setup_torch():
    """Call before any CUDA matmul. LLMSIM_BLAS=cublas keeps torch's default (cuBLAS) backend."""
    os.environ.setdefault("CUBLASLT_WORKSPACE_SIZE", LT_WORKSPACE_KIB)
    torch.backends.cuda.matmul.allow_tf32 = False
    if os.environ.get("LLMSIM_BLAS", "cublaslt") == "cublaslt":
        try:
            torch.backends.cuda.preferred_blas_library("cublaslt")
        except Exception as e:  # pragma: no cover
            print(f"warning: preferred_blas_library(cublaslt) failed: {e}", file=sys.stderr)
    torch.manual_seed(0)


# ----------------------------------------------------------------------------- timing
_side = None


def _capture(fn):
    global _side
    if _side is None:
        _side = torch.cuda.Stream()
    g = torch.cuda.CUDAGraph()
    _side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(_side):
        g.capture_begin()
        try:
            fn()
        finally:
            g.capture_end()
    torch.cuda.current_stream().wait_stream(_side)
    return g


def _time_replays(g, n):
    ev = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)) for _ in range(n)]
    for a, b in ev:
        a.record()
        g.replay()
        b.record()
    torch.cuda.synchronize()
    return [a.elapsed_time(b) * 1000.0 for a, b in ev]


def bench_calls(calls, target_us=None, trials=5, max_calls=2000):
    """Median time (us) of one call, from CUDA-graph replays of back-to-back calls.
    target_us defaults to $LLMSIM_TARGET_US, else 1000: long replays (tens of ms) time a
    kernel at the clock the GPU sustains under its power cap, as in a serving loop.
    calls: list of zero-argument callables (rotating buffer sets); each is run eagerly once
    first (Triton compiles, cuBLAS picks), then a graph of R calls (R a multiple of
    len(calls), about target_us of work) is replayed trials times."""
    if target_us is None:
        target_us = float(os.environ.get("LLMSIM_TARGET_US", "1000"))
    n = len(calls)
    for c in calls:
        c()
    torch.cuda.synchronize()

    def body(R):
        def f():
            for r in range(R):
                calls[r % n]()
        return f
    g = _capture(body(n))
    g.replay()
    est = min(_time_replays(g, 2)) / n
    R = max(2, int(math.ceil(target_us / max(est, 0.5))))
    R = ((R + n - 1) // n) * n
    R = min(R, max(max_calls // n, 1) * n)
    if R != n:
        del g
        g = _capture(body(R))
        g.replay()
    t = _time_replays(g, trials)
    del g
    t.sort()
    return t[len(t) // 2] / R, R


# ----------------------------------------------------------------------------- provenance
def device_slug(name=None):
    name = name or torch.cuda.get_device_name()
    u = name.upper()
    if "H200" in u:
        return "h200-sxm-141gb"
    if "H100" in u and "PCIE" not in u:
        return "h100-sxm-80gb"
    return "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-")


def driver_version():
    d = os.environ.get("LLMSIM_DRIVER")
    if d:
        return d
    try:
        return subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                              capture_output=True, text=True, timeout=20).stdout.strip().splitlines()[0]
    except Exception:
        return "unknown"


def provenance(program, extra=None):
    p = {
        "gpu": torch.cuda.get_device_name(),
        "driver": driver_version(),
        "cuda": f"torch.version.cuda {torch.version.cuda}",
        "torch": torch.__version__,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "command": " ".join(["python3"] + sys.argv),
        "source": f"measured by hw/calib/{program} on the llmsim GPU machine",
    }
    p.update(blas_config())
    if extra:
        p.update(extra)
    return p


def csv_header(prov):
    return "".join(f"# {k}: {v}\n" for k, v in prov.items())


# ----------------------------------------------------------------------------- checks
def naive_attention(q, k, v, cu_q, cu_k, causal, scale):
    """fp32 reference: per sequence, GQA by repeating kv heads, bottom-right causal mask."""
    H, KVH = q.shape[1], k.shape[1]
    outs = []
    cq, ck = cu_q.tolist(), cu_k.tolist()
    for i in range(len(cq) - 1):
        qi = q[cq[i]:cq[i + 1]].float()
        ki = k[ck[i]:ck[i + 1]].float().repeat_interleave(H // KVH, dim=1)
        vi = v[ck[i]:ck[i + 1]].float().repeat_interleave(H // KVH, dim=1)
        s = torch.einsum("qhd,khd->hqk", qi, ki) * scale
        nq, nk = qi.shape[0], ki.shape[0]
        if causal:
            r = torch.arange(nq, device=q.device)[:, None]
            c = torch.arange(nk, device=q.device)[None, :]
            s = s.masked_fill(c > (nk - nq) + r, float("-inf"))
        outs.append(torch.einsum("hqk,khd->qhd", torch.softmax(s, dim=-1), vi))
    return torch.cat(outs, 0)


def rel_err(a, b):
    a, b = a.double(), b.double()
    return ((a - b).norm() / b.norm().clamp_min(1e-30)).item()


def selftest(verbose=True):
    """Checks every kernel above against plain PyTorch on fresh random data, and the
    attention path against naive_attention on tiny prefill (with prior context), decode
    and GQA cases. Raises AssertionError on failure; returns a dict of relative errors."""
    dev = "cuda"
    res = {}
    torch.manual_seed(1234)
    T, Hq, Hk, hd, hid, F = 37, 8, 2, 128, 1024, 1536
    bf = torch.bfloat16
    x = torch.randn(T, hid, device=dev, dtype=bf)
    w = torch.randn(hid, device=dev, dtype=bf)
    y = rmsnorm(x, w, 1e-5)
    xf = x.float()
    ref = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + 1e-5) * w.float()
    res["rmsnorm"] = rel_err(y, ref)
    # rope
    W = (Hq + 2 * Hk) * hd
    qkv = torch.randn(T, W, device=dev, dtype=bf)
    pos = torch.randint(0, 4000, (T,), device=dev, dtype=torch.int32)
    cos, sin = rope_tables(4096, hd)
    q0 = qkv.clone().float()
    rope_(qkv, pos, cos, sin, Hq + Hk, hd)
    xr = q0[:, :(Hq + Hk) * hd].view(T, Hq + Hk, hd)
    c = cos[pos.long()][:, None, :]
    s = sin[pos.long()][:, None, :]
    x1, x2 = xr[..., :hd // 2], xr[..., hd // 2:]
    rref = torch.cat([x1 * c - x2 * s, x2 * c + x1 * s], -1).reshape(T, -1)
    res["rope"] = rel_err(qkv[:, :(Hq + Hk) * hd], rref)
    res["rope_untouched_v"] = rel_err(qkv[:, (Hq + Hk) * hd:], q0[:, (Hq + Hk) * hd:])
    # kv write
    kc = torch.full((100, Hk, hd), float("nan"), device=dev, dtype=bf)
    vc = torch.full((100, Hk, hd), float("nan"), device=dev, dtype=bf)
    slots = torch.randperm(100, device=dev)[:T].long()
    kv_write(qkv, slots, kc, vc, Hq, Hk, hd)
    res["kv_write_k"] = rel_err(kc[slots].reshape(T, -1), qkv[:, Hq * hd:(Hq + Hk) * hd])
    res["kv_write_v"] = rel_err(vc[slots].reshape(T, -1), qkv[:, (Hq + Hk) * hd:])
    # silu_mul
    gu = torch.randn(T, 2 * F, device=dev, dtype=bf)
    sm = silu_mul(gu)
    res["silu_mul"] = rel_err(sm, torch.nn.functional.silu(gu[:, :F].float()) * gu[:, F:].float())
    # attention: two prefills (one with prior context) and GQA decode
    scale = hd ** -0.5
    for (H, KH) in [(Hq, Hk), (4, 4)]:
        plens = [(5, 3), (7, 0), (33, 70)]  # (new tokens, prior)
        nq = sum(a for a, _ in plens)
        nk = sum(a + b for a, b in plens)
        q = torch.randn(nq, H, hd, device=dev, dtype=bf)
        k = torch.randn(nk, KH, hd, device=dev, dtype=bf)
        v = torch.randn(nk, KH, hd, device=dev, dtype=bf)
        cu_q = torch.tensor([0] + list(_cumsum([a for a, _ in plens])), device=dev, dtype=torch.int32)
        cu_k = torch.tensor([0] + list(_cumsum([a + b for a, b in plens])), device=dev, dtype=torch.int32)
        o = flash_varlen(q, k, v, cu_q, cu_k, max(a for a, _ in plens), max(a + b for a, b in plens), True, scale)
        res[f"attn_prefill_H{H}_KV{KH}"] = rel_err(o, naive_attention(q, k, v, cu_q, cu_k, True, scale))
        # decode: 3 sequences, one query each; q is a strided view like the engine's
        ctx = [9, 130, 1]
        qkv2 = torch.randn(3, (H + 2 * KH) * hd, device=dev, dtype=bf)
        qd = qkv2[:, :H * hd].view(3, H, hd)
        nk = sum(c + 1 for c in ctx)
        k = torch.randn(nk, KH, hd, device=dev, dtype=bf)
        v = torch.randn(nk, KH, hd, device=dev, dtype=bf)
        cu_q = torch.arange(4, device=dev, dtype=torch.int32)
        cu_k = torch.tensor([0] + list(_cumsum([c + 1 for c in ctx])), device=dev, dtype=torch.int32)
        o = flash_varlen(qd, k, v, cu_q, cu_k, 1, max(ctx) + 1, False, scale)
        res[f"attn_decode_H{H}_KV{KH}"] = rel_err(o, naive_attention(qd.contiguous(), k, v, cu_q, cu_k, False, scale))
    torch.cuda.synchronize()
    if verbose:
        for kk, vv in res.items():
            print(f"selftest {kk}: rel err {vv:.2e}")
    bad = {kk: vv for kk, vv in res.items() if not (vv < 2e-2)}
    assert not bad, f"selftest failed: {bad}"
    return res


def _cumsum(xs):
    s = 0
    for x in xs:
        s += x
        yield s


def env_report():
    """What attention paths this torch build offers (printed into the logs)."""
    out = {"torch": torch.__version__, "cuda": torch.version.cuda,
           "device": torch.cuda.get_device_name()}
    try:
        import torch.nn.attention.varlen as vl
        import inspect
        out["varlen_attn"] = str(inspect.signature(vl.varlen_attn))
        src = inspect.getsource(vl)
        out["varlen_attn_calls_flash_attention_forward"] = "_flash_attention_forward" in src
    except Exception as e:
        out["varlen_attn"] = f"unavailable: {e!r}"
    try:
        out["aten_flash_schema"] = str(torch.ops.aten._flash_attention_forward.default._schema)
    except Exception as e:
        out["aten_flash_schema"] = f"unavailable: {e!r}"
    try:
        import flash_attn  # noqa: F401
        out["flash_attn_package"] = getattr(flash_attn, "__version__", "present")
    except Exception:
        out["flash_attn_package"] = "absent"
    try:
        out["blas_backend"] = str(torch.backends.cuda.preferred_blas_library())
    except Exception as e:
        out["blas_backend"] = repr(e)
    out["flash_sdp_enabled"] = torch.backends.cuda.flash_sdp_enabled()
    out.update(blas_config())
    return out


if __name__ == "__main__":
    setup_torch()
    print(json.dumps(env_report(), indent=1))
    selftest()
