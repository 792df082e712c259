#!/usr/bin/env python3
"""attn_bench: kernel tables of the production attention backends (issue 16, item 2; GPU).

Times the vendored production kernels exactly as backends.py drives them in engine_prod.py,
each launch in a CUDA graph of back-to-back calls (reference/kernels.py bench_calls, ~1 ms
per replay, median of 5), KV cold (layouts rotate over >= 2.5 x L2 in a random arena, up to
256 sets, as ops_bench.py does). Formats as ops_bench.py's tables, file names by backend:

  attn_decode_<b>.csv          num_q_heads,num_kv_heads,head_dim,batch,ctx,time_us
                               batch sequences, one query each, each over ctx cached keys + its
                               own (ctx+1 keys); points whose K (or V) exceeds 2 GiB are skipped
  attn_prefill_<b>.csv         num_q_heads,num_kv_heads,head_dim,q_tokens,prior_ctx,time_us
                               one sequence: q_tokens new tokens, causal over prior_ctx + itself
  attn_decode_ragged_<b>.jsonl {"num_q_heads","num_kv_heads","head_dim","ctx":[...],"time_us",
                               "path", (sglang) "num_kv_splits"}: seeded lognormal contexts with
                               long outliers
  attn_decode_vllm_triton_fp8kv.csv   the decode table with an fp8 (e4m3) KV cache (vLLM)

  <b> = vllm_triton: one unified_attention launch (2D, or 3D + reduce_segments for small
        decode batches: batch <= 128 // kv_heads), paged KV, block 16
        sglang_triton: decode_attention_fwd (stage 1 + stage 2, dynamic num_kv_splits) for
        decodes; extend_attention_fwd for prefill, including the two .contiguous() copies of
        the new tokens' K and V that SGLang's backend makes before it
The KV write (reshape_and_cache / index assignment) is not in these tables (the engines time it).

usage: attn_bench.py --outdir DIR [--backends vllm,sglang] [--tables decode,prefill,ragged,fp8]
                     [--heads 32:8,16:4,8:2,40:40,20:20,10:10] [--quick] [--precompile]
--precompile: run every point once with tiny contexts (same kernel specializations), untimed:
Triton compiles everything into its cache (campaign.sh runs it in parallel with smoke).
"""
import argparse
import json
import math
import os
import random
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import torch  # noqa: E402

import common  # noqa: E402
import kernels as K  # noqa: E402
import backends  # noqa: E402

HEADS = [(32, 8), (16, 4), (8, 2), (40, 40), (20, 20), (10, 10)]
HD = 128
DEC_B = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512]
DEC_CTX = [128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768]
PRE_Q = [16, 64, 256, 1024, 2048, 4096, 8192, 16384]
PRE_P = [0, 1024, 4096, 16384]
MAX_TOTAL = 32768
KV_CAP_BYTES = 2 << 30
L2_MULT = 2.5
RAGGED_PER_SHAPE = 17
RAGGED_SIZES = [2, 4, 8, 16, 32, 64, 128, 256, 384]


def ragged_lists(n, seed):
    """Seeded lognormal decode contexts (median 256..2048, sigma 1, 16..32767), every third
    list with one sequence at 16384 and every third+1 with two at 32767 and 8192."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        b = RAGGED_SIZES[i % len(RAGGED_SIZES)]
        mu = math.log(rng.choice([256, 512, 1024, 2048]))
        ctx = [int(min(32767, max(16, round(rng.lognormvariate(mu, 1.0))))) for _ in range(b)]
        if i % 3 == 1:
            ctx[0] = 16384
        elif i % 3 == 2 and b >= 2:
            ctx[0], ctx[1] = 32767, 8192
        out.append(ctx)
    return out


class Arena:
    """Random KV bytes (bf16 normal, or e4m3 values of normal / 2 for fp8) and rotating views."""

    def __init__(self, nbytes, fp8=False):
        n = nbytes // 2
        step = 1 << 26
        if not fp8:
            self.buf = torch.empty(n, dtype=torch.bfloat16, device="cuda")
            for o in range(0, n, step):
                self.buf[o:o + step].normal_()
        else:
            self.buf = torch.empty(2 * n, dtype=torch.uint8, device="cuda")
            for o in range(0, 2 * n, step):
                m = min(step, 2 * n - o)
                x = (torch.randn(m, device="cuda") * 0.5).to(torch.float8_e4m3fn)
                self.buf[o:o + m] = x.view(torch.uint8)
            self.buf = self.buf.view(torch.bfloat16)
        self.nbytes = self.buf.numel() * 2

    def regions(self, region_bytes, touched_bytes, l2):
        rb = ((region_bytes + (1 << 20) - 1) >> 20) << 20
        if rb > self.nbytes:
            raise ValueError(f"point needs {rb >> 20} MiB of KV, arena has {self.nbytes >> 20} MiB")
        n = max(1, min(256, math.ceil(L2_MULT * l2 / max(touched_bytes, 1))))
        n = max(1, min(n, self.nbytes // rb))
        e = rb // 2
        return [self.buf[i * e:(i + 1) * e] for i in range(n)]


class Bench:
    def __init__(self, a, prov):
        self.a = a
        self.prov = prov
        self.l2 = common.l2_bytes()
        self.sm = common.sm_count()
        self.dl = common.Deadline()
        self.quick = a.quick          # tiny grids; --precompile keeps the full grids, tiny contexts
        small = a.quick or a.precompile
        self.arena = Arena((256 << 20) if small else (KV_CAP_BYTES * 2 + (512 << 20)))
        self.arena8 = None
        self.n = 0

    def writer(self, name, cols):
        if self.a.precompile:
            return None
        w = open(os.path.join(self.a.outdir, name), "w")
        if cols:
            w.write(K.csv_header(self.prov))
            w.write(cols + "\n")
        else:
            w.write(json.dumps({"provenance": self.prov}) + "\n")
        w.flush()
        return w

    def shrink(self, seqs):
        """precompile: the same structure with tiny contexts."""
        return [(min(q, 24), min(kv, 24 + min(q, 24)) if q > 1 else min(kv, 40)) for q, kv in seqs]

    def run(self, be, H, KVH, seqs, arena):
        """Median us of one attention launch of seqs (backend order) on cold KV."""
        if self.a.precompile:
            seqs = self.shrink(seqs)
        T = sum(q for q, _ in seqs)
        meta = be.plan(seqs)
        rb, tb = be.region_bytes(seqs), be.touched_bytes(seqs)
        regs = arena.regions(rb, tb, self.l2) if not self.a.precompile else arena.regions(rb, 1 << 40, self.l2)
        qkv = torch.randn(T, (H + 2 * KVH) * HD, device="cuda", dtype=torch.bfloat16)
        q = qkv[:, :H * HD].view(T, H, HD)
        k = qkv[:, H * HD:(H + KVH) * HD].view(T, KVH, HD)
        v = qkv[:, (H + KVH) * HD:].view(T, KVH, HD)
        out = torch.empty(T, H, HD, device="cuda", dtype=torch.bfloat16)
        calls = []
        for r in regs:
            kc, vc = be.views(r, meta)
            calls.append(lambda kc=kc, vc=vc: be.attend(q, k, v, kc, vc, out, meta))
        if self.a.precompile:
            calls[0]()
            torch.cuda.synchronize()
            return 0.0, meta
        t, _ = K.bench_calls(calls)
        self.n += 1
        return t, meta

    def point(self, be, H, KVH, seqs, arena):
        """run() with per-point failures logged and skipped (a dead CUDA context exits 3)."""
        try:
            return self.run(be, H, KVH, seqs, arena)
        except Exception as e:
            if common.cuda_fatal(e):
                print(f"FATAL CUDA error, {be.name} H={H} KVH={KVH} {seqs[:3]}...: {e!r}", flush=True)
                sys.exit(3)
            print(f"{be.name} H={H} KVH={KVH} point {len(seqs)} seqs, kv {seqs[0][1]}: {type(e).__name__}: {e}",
                  flush=True)
            return None, None

    def fits(self, seqs, KVH, elem=2):
        return sum(kv for _, kv in seqs) * KVH * HD * elem <= KV_CAP_BYTES

    def decode(self, be, H, KVH, w, arena, elem=2):
        bs = DEC_B if not self.quick else [3, 67]   # quick: the 3D and 2D-decode paths of 8:2
        cs = DEC_CTX if not self.quick else [128, 2048]
        for B in bs:
            for c in cs:
                seqs = [(1, c + 1)] * B
                if not self.fits(seqs, KVH, elem):
                    continue
                if not self.dl.ok(2.0):
                    return False
                t, _ = self.point(be, H, KVH, seqs, arena)
                if w and t is not None:
                    w.write(f"{H},{KVH},{HD},{B},{c},{t:.3f}\n")
                    w.flush()
        return True

    def prefill(self, be, H, KVH, w):
        qs = PRE_Q if not self.quick else [64, 1024]
        ps = PRE_P if not self.quick else [0, 1024]
        for q in qs:
            for p in ps:
                if q + p > MAX_TOTAL:
                    continue
                if not self.dl.ok(3.0):
                    return False
                t, _ = self.point(be, H, KVH, [(q, p + q)], self.arena)
                if w and t is not None:
                    w.write(f"{H},{KVH},{HD},{q},{p},{t:.3f}\n")
                    w.flush()
        return True

    def ragged(self, be, H, KVH, w, lists):
        for ctx in lists:
            seqs = [(1, c + 1) for c in ctx]
            if not self.fits(seqs, KVH):
                continue
            if not self.dl.ok(2.0):
                return False
            t, meta = self.point(be, H, KVH, seqs, self.arena)
            if w and t is not None:
                r = {"num_q_heads": H, "num_kv_heads": KVH, "head_dim": HD, "ctx": ctx,
                     "time_us": round(t, 3), "path": be.kernel_path(meta)}
                if hasattr(meta, "num_kv_splits_host"):
                    r["num_kv_splits"] = meta.num_kv_splits_host
                w.write(json.dumps(r) + "\n")
                w.flush()
        return True


def parse_heads(s):
    return [tuple(int(x) for x in h.split(":")) for h in s.split(",") if h]


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--outdir", required=True)
    ap.add_argument("--backends", default="vllm,sglang")
    ap.add_argument("--tables", default="decode,prefill,ragged,fp8")
    ap.add_argument("--heads", default=",".join(f"{h}:{k}" for h, k in HEADS))
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--precompile", action="store_true")
    a = ap.parse_args(argv)
    os.makedirs(a.outdir, exist_ok=True)
    K.setup_torch()
    heads = parse_heads(a.heads)
    tables = set(a.tables.split(","))
    prov = common.provenance("attn_bench.py", {
        "timing": "CUDA graph of back-to-back launches (~1000 us per replay), median of 5 replays / launches; "
                  "KV cold (rotating sets >= 2.5 x L2)",
        "kernels": "backends.py: vllm_triton = vendored unified_attention (+ reduce_segments); sglang_triton = "
                   "vendored decode_attention_fwd (decode) / extend_attention_fwd (prefill, with the K/V "
                   ".contiguous() copies of SGLang's forward_extend)"})
    bench = Bench(a, prov)
    t0 = time.time()
    lists = ragged_lists(RAGGED_PER_SHAPE if not bench.quick else 2, 20261126)
    for bname in a.backends.split(","):
        label = {"vllm": "vllm_triton", "sglang": "sglang_triton"}[bname]
        wd = bench.writer(f"attn_decode_{label}.csv", "num_q_heads,num_kv_heads,head_dim,batch,ctx,time_us") \
            if "decode" in tables else None
        wp = bench.writer(f"attn_prefill_{label}.csv", "num_q_heads,num_kv_heads,head_dim,q_tokens,prior_ctx,time_us") \
            if "prefill" in tables else None
        wr = bench.writer(f"attn_decode_ragged_{label}.jsonl", None) if "ragged" in tables else None
        w8 = None
        if bname == "vllm" and "fp8" in tables:
            w8 = bench.writer("attn_decode_vllm_triton_fp8kv.csv", "num_q_heads,num_kv_heads,head_dim,batch,ctx,time_us")
        for (H, KVH) in heads:
            ts = time.time()
            n0 = bench.n
            try:
                be = backends.make(bname, H, KVH, HD, bench.sm)
                ok = True
                if "decode" in tables:
                    ok = bench.decode(be, H, KVH, wd, bench.arena)
                if ok and "ragged" in tables:
                    ok = bench.ragged(be, H, KVH, wr, lists)
                if ok and "prefill" in tables:
                    ok = bench.prefill(be, H, KVH, wp)
                if ok and (w8 is not None or (a.precompile and bname == "vllm" and "fp8" in tables)):
                    if bench.arena8 is None:
                        bench.arena8 = Arena(bench.arena.nbytes, fp8=True)
                    be8 = backends.VllmTriton(H, KVH, HD, kv_dtype="fp8_e4m3")
                    ok = bench.decode(be8, H, KVH, w8, bench.arena8, elem=1)
            except Exception as e:
                if common.cuda_fatal(e):
                    print(f"FATAL CUDA error, {label} H={H} KVH={KVH}: {e!r}", flush=True)
                    sys.exit(3)
                print(f"{label} H={H} KVH={KVH}: {type(e).__name__}: {e}", flush=True)
                import traceback
                traceback.print_exc()
                ok = True
            print(f"{label} H={H} KVH={KVH}: {bench.n - n0} points in {time.time() - ts:.1f} s", flush=True)
            if not ok:
                print("deadline: stopping", flush=True)
                break
        for w in (wd, wp, wr, w8):
            if w:
                w.close()
    print(f"attn_bench: {bench.n} points in {time.time() - t0:.1f} s", flush=True)


if __name__ == "__main__":
    main()
