#!/usr/bin/env python3
"""llama_ref: the llmsim reference engine -- a whole-model Llama forward on the GPU.

Random bf16 weights (shapes from models/catalog/<id>.json), one CUDA graph per batch,
timed by graph replay. One forward pass (one serving-engine iteration) launches, in order:

  embedding            index_select of the batch's token ids                    (1 kernel)
  per layer (x L):
    rmsnorm            input norm                                               (Triton)
    qkv                x @ Wqkv.T, fused QKV, N = (H + 2 KVH) hd                (cuBLASLt)
    rope               in place on q and k of the QKV output                    (Triton)
    kv_write           new tokens' k, v -> the KV cache slots                   (Triton)
    attn prefill       one FlashAttention-2 varlen call over all prefill chunks, causal,
                       bottom-right aligned, keys = prior context + the new tokens
    attn decode        one FlashAttention-2 varlen call over all decoding sequences,
                       one query each, keys = context + the new token (for GQA PyTorch's
                       FA2 swaps heads into the query dim and uses split-KV; this adds
                       small reshape/copy and combine kernels)
    [cat]              only when a batch has both prefill and decode tokens    (1 copy)
    o                  attn @ Wo.T                                              (cuBLASLt)
    residual_add       h += o
    rmsnorm            post-attention norm                                      (Triton)
    gate_up            x @ Wgu.T, fused, N = 2 ffn                              (cuBLASLt)
    silu_mul           silu(gate) * up                                          (Triton)
    down               a @ Wd.T                                                 (cuBLASLt)
    residual_add       h += down
  rmsnorm              final norm (all tokens)
  gather               index_select of each sequence's last token
  lm_head              last @ Wlm.T, M = number of sequences                   (cuBLASLt)
  sampling             argmax over the vocabulary (greedy)

The KV cache is a packed (non-paged) buffer per layer, [tokens, KVH, hd] for K and for V,
every layer distinct; each sequence owns a contiguous region (prior/context + new tokens),
and its cached part holds random data. Nothing but the graph replay is timed: no host work,
no input copies.

Batches (JSON): {"prefill": [[tokens, prior_context], ...], "decode": [[count, context], ...],
                 "decode_ctx": [c1, c2, ...]}   (decode_ctx: ragged decode contexts)
Output: ref_<model-id>.jsonl; first line {"provenance": {...}}, then one line per batch
{"model","device","class","batch","ms","ms_min","ms_max","reps"}.

usage: llama_ref.py --model llama-3-8b [--batches reference/batches.json] --out DIR
                    [--reps 20] [--check] [--layers N] [--limit N] [--profile]
                    [--kv-policy legacy|shared]

--kv-policy shared (issue 16; the default, legacy, is the behaviour above, unchanged): the KV
cache comes from engines/kvpolicy.py, the allocation policy every engine of hw/calib/engines
shares: one random arena of 85% of the memory free after the weights, and per batch either
every layer its own region or layers rotating over as many regions as fit (cold reads), so
batches whose every-layer KV exceeds the GPU (llama-2-13b 128 x 2048 decodes: ~215 GB) are
measured too; each output line then carries "kv_policy". Batches may carry "calib"/"tier"
marks (engines/batches_engines.json); they are ignored here.
"""
import argparse
import json
import math
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import torch  # noqa: E402
import kernels as K  # noqa: E402

BF = torch.bfloat16


def eager_times(m, b):
    """(dispatch, forward) seconds of one eager forward of batch b, the GPU idle at its start:
    when forward() returns, and when the GPU is done (eager_bench, eager_probe, eager_classes)."""
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    m.forward(b)
    t1 = time.perf_counter()
    torch.cuda.synchronize()
    return t1 - t0, time.perf_counter() - t0


class Batch:
    """Static tensors of one batch shape (the graph's inputs)."""

    def __init__(self, spec, vocab, dev="cuda", seed=0):
        self.spec = spec
        pre = [(int(t), int(p)) for t, p in spec.get("prefill", [])]
        dec = []
        for c, ctx in spec.get("decode", []):
            dec += [int(ctx)] * int(c)
        dec += [int(c) for c in spec.get("decode_ctx", [])]
        self.pre, self.dec = pre, dec
        self.np, self.nd = len(pre), len(dec)
        self.Tp = sum(t for t, _ in pre)
        self.Td = len(dec)
        self.T = self.Tp + self.Td
        self.Kp = sum(t + p for t, p in pre)
        self.Kd = sum(c + 1 for c in dec)
        self.total_k = self.Kp + self.Kd
        slots, pos, last = [], [], []
        ko, qo = 0, 0
        cu_qp, cu_kp = [0], [0]
        for t, p in pre:
            slots += range(ko + p, ko + p + t)
            pos += range(p, p + t)
            ko += p + t
            qo += t
            cu_qp.append(qo)
            cu_kp.append(ko)
            last.append(qo - 1)
        cu_kd = [0]
        for j, c in enumerate(dec):
            slots.append(ko + c)
            pos.append(c)
            ko += c + 1
            cu_kd.append(cu_kd[-1] + c + 1)
            last.append(self.Tp + j)
        g = torch.Generator().manual_seed(seed)
        i32 = dict(device=dev, dtype=torch.int32)
        self.ids = torch.randint(0, vocab, (self.T,), generator=g).to(dev)
        self.slots = torch.tensor(slots, device=dev, dtype=torch.int64)
        self.pos = torch.tensor(pos, **i32)
        self.last = torch.tensor(last, device=dev, dtype=torch.int64)
        self.cu_qp = torch.tensor(cu_qp, **i32)
        self.cu_kp = torch.tensor(cu_kp, **i32)
        self.max_qp = max([t for t, _ in pre], default=0)
        self.max_kp = max([t + p for t, p in pre], default=0)
        self.cu_qd = torch.arange(self.nd + 1, **i32)
        self.cu_kd = torch.tensor(cu_kd, **i32)
        self.max_kd = max([c + 1 for c in dec], default=0)
        self.max_pos = max(pos) if pos else 0

    def cls(self):
        if self.np and self.nd:
            return "mixed"
        return "prefill" if self.np else "decode"


class Llama:
    def __init__(self, cfg, kv_tokens, layers=None, dev="cuda", kv_distinct=None):
        self.cfg = cfg
        self.L = layers or cfg["num_layers"]
        self.H, self.KVH, self.hd = cfg["num_heads"], cfg["num_kv_heads"], cfg["head_dim"]
        self.hid, self.F, self.V = cfg["hidden_size"], cfg["ffn_size"], cfg["vocab_size"]
        self.eps = float(cfg.get("rms_norm_eps", 1e-5))
        self.scale = self.hd ** -0.5
        H, KVH, hd, hid, F, V = self.H, self.KVH, self.hd, self.hid, self.F, self.V

        def rnd(*shape, fan_in):
            return (torch.randn(*shape, device=dev, dtype=BF) * (fan_in ** -0.5)).to(BF)
        self.embed = torch.randn(V, hid, device=dev, dtype=BF)
        self.w_qkv = [rnd((H + 2 * KVH) * hd, hid, fan_in=hid) for _ in range(self.L)]
        self.w_o = [rnd(hid, H * hd, fan_in=H * hd) for _ in range(self.L)]
        self.w_gu = [rnd(2 * F, hid, fan_in=hid) for _ in range(self.L)]
        self.w_d = [rnd(hid, F, fan_in=F) for _ in range(self.L)]
        self.n_in = [(1 + 0.1 * torch.randn(hid, device=dev)).to(BF) for _ in range(self.L)]
        self.n_post = [(1 + 0.1 * torch.randn(hid, device=dev)).to(BF) for _ in range(self.L)]
        self.n_final = (1 + 0.1 * torch.randn(hid, device=dev)).to(BF)
        self.lm = rnd(V, hid, fan_in=hid)
        max_pos = max(int(cfg.get("max_context", 8192)), 32768) + 1
        self.cos, self.sin = K.rope_tables(max_pos, hd, float(cfg.get("rope_theta", 10000.0)))
        # KV cache: one [kv_tokens, KVH, hd] K and V buffer per layer (kv_distinct of them,
        # layer l uses buffer l % kv_distinct; the default is every layer its own)
        self.kv_tokens = kv_tokens
        self.kv_distinct = kv_distinct or self.L
        self.kc = [torch.randn(kv_tokens, KVH, hd, device=dev, dtype=BF) for _ in range(self.kv_distinct)]
        self.vc = [torch.randn(kv_tokens, KVH, hd, device=dev, dtype=BF) for _ in range(self.kv_distinct)]

    def forward(self, b, return_logits=False):
        H, KVH, hd = self.H, self.KVH, self.hd
        T = b.T
        h = K.embedding(b.ids, self.embed)
        for l in range(self.L):
            kc, vc = self.kc[l % self.kv_distinct], self.vc[l % self.kv_distinct]
            x = K.rmsnorm(h, self.n_in[l], self.eps)
            qkv = K.linear(x, self.w_qkv[l])
            K.rope_(qkv, b.pos, self.cos, self.sin, H + KVH, hd)
            K.kv_write(qkv, b.slots, kc, vc, H, KVH, hd)
            q = qkv[:, :H * hd].view(T, H, hd)
            parts = []
            if b.np:
                parts.append(K.flash_varlen(q[:b.Tp], kc[:b.Kp], vc[:b.Kp], b.cu_qp, b.cu_kp,
                                            b.max_qp, b.max_kp, True, self.scale))
            if b.nd:
                parts.append(K.flash_varlen(q[b.Tp:], kc[b.Kp:b.Kp + b.Kd], vc[b.Kp:b.Kp + b.Kd],
                                            b.cu_qd, b.cu_kd, 1, b.max_kd, False, self.scale))
            a = parts[0] if len(parts) == 1 else torch.cat(parts, 0)
            o = K.linear(a.reshape(T, H * hd), self.w_o[l])
            K.residual_add(h, o)
            x = K.rmsnorm(h, self.n_post[l], self.eps)
            gu = K.linear(x, self.w_gu[l])
            m = K.silu_mul(gu)
            d = K.linear(m, self.w_d[l])
            K.residual_add(h, d)
        x = K.rmsnorm(h, self.n_final, self.eps)
        last = torch.index_select(x, 0, b.last)
        logits = K.linear(last, self.lm)
        tok = K.sampling(logits)
        return (tok, logits) if return_logits else tok

    # --- plain fp32 PyTorch forward of the same batch, for the end-to-end check
    def naive_forward(self, b, kc0, vc0):
        H, KVH, hd = self.H, self.KVH, self.hd
        T = b.T

        def rms(x, w):
            return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * w.float()

        def rope(x, pos):  # x [T, n, hd]
            c = self.cos[pos.long()][:, None, :]
            s = self.sin[pos.long()][:, None, :]
            x1, x2 = x[..., :hd // 2], x[..., hd // 2:]
            return torch.cat([x1 * c - x2 * s, x2 * c + x1 * s], -1)
        h = self.embed.float()[b.ids]
        for l in range(self.L):
            kc, vc = kc0[l % self.kv_distinct], vc0[l % self.kv_distinct]
            x = rms(h, self.n_in[l])
            qkv = x @ self.w_qkv[l].float().t()
            q = rope(qkv[:, :H * hd].view(T, H, hd), b.pos)
            k = rope(qkv[:, H * hd:(H + KVH) * hd].view(T, KVH, hd), b.pos)
            v = qkv[:, (H + KVH) * hd:].view(T, KVH, hd)
            kc[b.slots] = k
            vc[b.slots] = v
            parts = []
            if b.np:
                parts.append(K.naive_attention(q[:b.Tp], kc[:b.Kp], vc[:b.Kp], b.cu_qp, b.cu_kp, True, self.scale))
            if b.nd:
                parts.append(K.naive_attention(q[b.Tp:], kc[b.Kp:b.Kp + b.Kd], vc[b.Kp:b.Kp + b.Kd],
                                               b.cu_qd, b.cu_kd, False, self.scale))
            a = torch.cat(parts, 0).reshape(T, H * hd)
            h = h + a @ self.w_o[l].float().t()
            x = rms(h, self.n_post[l])
            gu = x @ self.w_gu[l].float().t()
            h = h + (torch.nn.functional.silu(gu[:, :self.F]) * gu[:, self.F:]) @ self.w_d[l].float().t()
        x = rms(h, self.n_final)
        return x[b.last] @ self.lm.float().t()


def end_to_end_check():
    """Tiny 2-layer model, a mixed batch (prefills with and without prior context, ragged
    decodes): graph-replayed engine logits vs a plain fp32 PyTorch forward."""
    cfg = dict(num_layers=2, hidden_size=512, num_heads=8, num_kv_heads=2, head_dim=128,
               ffn_size=1024, vocab_size=1000, max_context=4096)
    res = {}
    for name, c in [("gqa", cfg), ("mha", dict(cfg, num_kv_heads=8))]:
        b = Batch({"prefill": [[37, 0], [20, 75]], "decode": [[2, 50]], "decode_ctx": [7, 300, 1]},
                  c["vocab_size"])
        m = Llama(c, kv_tokens=b.total_k + 16)
        kc0 = [k.float().clone() for k in m.kc]
        vc0 = [v.float().clone() for v in m.vc]
        tok_e, lg_e = m.forward(b, return_logits=True)
        ref = m.naive_forward(b, kc0, vc0)
        holder = {}
        g = K._capture(lambda: holder.update(out=m.forward(b, return_logits=True)))
        g.replay()
        torch.cuda.synchronize()
        tok_g, lg_g = holder["out"]
        res[f"{name}_eager_logits_rel_err"] = K.rel_err(lg_e, ref)
        res[f"{name}_graph_logits_rel_err"] = K.rel_err(lg_g, ref)
        res[f"{name}_graph_vs_eager"] = K.rel_err(lg_g, lg_e)
        res[f"{name}_argmax_agree"] = float((tok_g == ref.argmax(-1)).float().mean().item())
        del g, m
    for k_, v_ in res.items():
        print(f"end-to-end check {k_}: {v_:.3e}")
    bad = {k_: v_ for k_, v_ in res.items() if ("rel_err" in k_ or "vs_eager" in k_) and not v_ < 3e-2}
    assert not bad, f"end-to-end check failed: {bad}"
    return res


def profile_kernels(m, b, path):
    from torch.profiler import profile, ProfilerActivity
    m.forward(b)
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        m.forward(b)
        torch.cuda.synchronize()
    evs = [e for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA]
    evs.sort(key=lambda e: e.time_range.start)
    with open(path, "w") as f:
        f.write(f"# kernels of one eager forward, model layers={m.L}, batch={json.dumps(b.spec)}\n")
        for e in evs:
            f.write(f"{e.time_range.elapsed_us():10.1f} us  {e.name}\n")
    print(f"profile: {len(evs)} kernels ({len(evs) / max(m.L, 1):.1f} per layer incl. head/tail) -> {path}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--catalog", default=os.path.join(HERE, "..", "..", "..", "models", "catalog"))
    ap.add_argument("--batches", default=os.path.join(HERE, "batches.json"))
    ap.add_argument("--out", required=True)
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--layers", type=int, default=0, help="override num_layers (smoke tests only)")
    ap.add_argument("--limit", type=int, default=0, help="only the first N batches (smoke tests)")
    ap.add_argument("--check", action="store_true", help="kernel self-test + end-to-end check first")
    ap.add_argument("--profile", action="store_true", help="write the kernel list of one forward")
    ap.add_argument("--mem-margin-gib", type=float, default=6.0)
    ap.add_argument("--kv-policy", choices=["legacy", "shared"], default="legacy",
                    help="shared: engines/kvpolicy.py (arena, per-layer or rotating regions)")
    a = ap.parse_args()
    K.setup_torch()
    dev_slug = K.device_slug()
    print(json.dumps(K.env_report()), flush=True)
    if a.check:
        K.selftest()
        end_to_end_check()
    with open(os.path.join(a.catalog, a.model + ".json")) as f:
        cfg = json.load(f)
    with open(a.batches) as f:
        allb = json.load(f)
    specs = allb[a.model] if isinstance(allb, dict) else allb
    if a.limit:
        specs = specs[:a.limit]
    if a.kv_policy == "shared":
        specs = [{k: s[k] for k in ("prefill", "decode", "decode_ctx") if k in s} for s in specs]
        return run_shared(a, cfg, specs)
    batches = [Batch(s, cfg["vocab_size"], seed=i) for i, s in enumerate(specs)]
    L = a.layers or cfg["num_layers"]
    kv_tokens = max(b.total_k for b in batches) + 16
    # memory plan: weights + every layer's KV; fall back to fewer distinct KV buffers if short
    H, KVH, hd, hid, F, V = (cfg["num_heads"], cfg["num_kv_heads"], cfg["head_dim"], cfg["hidden_size"],
                             cfg["ffn_size"], cfg["vocab_size"])
    wbytes = 2 * (2 * V * hid + L * (((H + 2 * KVH) * hd + H * hd) * hid + 3 * F * hid))
    kv_layer = 2 * kv_tokens * KVH * hd * 2
    free, total = torch.cuda.mem_get_info()
    avail = free - wbytes - a.mem_margin_gib * 2 ** 30
    kv_distinct = max(1, min(L, int(avail // kv_layer)))
    print(f"model {a.model}: {L} layers, weights {wbytes / 2**30:.1f} GiB, KV {kv_tokens} tokens/layer "
          f"({kv_layer / 2**30:.2f} GiB/layer), distinct KV layers {kv_distinct}/{L}, free {free / 2**30:.1f} GiB",
          flush=True)
    t0 = time.time()
    m = Llama(cfg, kv_tokens, layers=L, kv_distinct=kv_distinct)
    torch.cuda.synchronize()
    print(f"weights + KV initialised in {time.time() - t0:.1f} s", flush=True)
    os.makedirs(a.out, exist_ok=True)
    if a.profile:
        pb = Batch({"prefill": [[512, 1024]], "decode": [[32, 1024]]}, cfg["vocab_size"])
        if pb.total_k <= kv_tokens:
            profile_kernels(m, pb, os.path.join(a.out, f"kernels_{a.model}.txt"))
    prov = K.provenance("reference/llama_ref.py", {"attention_kernel": K.ATTENTION_KERNEL})
    prov["model_layers"] = L
    prov["kv_distinct_layers"] = kv_distinct
    prov["timing"] = f"CUDA graph of one forward; 3 warm-up replays, then >= {a.reps} replays each timed with CUDA events"
    outp = os.path.join(a.out, f"ref_{a.model}.jsonl")
    with open(outp, "w") as f:
        f.write(json.dumps({"provenance": prov}) + "\n")
        for i, b in enumerate(batches):
            tb = time.time()
            m.forward(b)  # eager warm-up: Triton compiles, cuBLASLt heuristics
            torch.cuda.synchronize()
            g = K._capture(lambda: m.forward(b))
            for _ in range(3):
                g.replay()
            torch.cuda.synchronize()
            ts = K._time_replays(g, a.reps)
            ms = sorted(t / 1000.0 for t in ts)
            med = ms[len(ms) // 2] if len(ms) % 2 else 0.5 * (ms[len(ms) // 2 - 1] + ms[len(ms) // 2])
            rec = {"model": a.model, "device": dev_slug, "class": b.cls(), "batch": b.spec,
                   "ms": round(med, 4), "ms_min": round(ms[0], 4), "ms_max": round(ms[-1], 4), "reps": len(ms)}
            f.write(json.dumps(rec) + "\n")
            f.flush()
            print(f"[{i + 1}/{len(batches)}] {b.cls():7s} T={b.T:5d} seqs={b.np + b.nd:4d} K={b.total_k:7d} "
                  f"{med:9.3f} ms (min {ms[0]:.3f} max {ms[-1]:.3f}) [{time.time() - tb:.1f} s]", flush=True)
            del g
            torch.cuda.empty_cache()
    print(f"{a.model}: {len(batches)} batches in {time.time() - t0:.1f} s -> {outp}", flush=True)


def kv_region_bytes(m, b):
    """Bytes of one layer's packed K and V for batch b (what kvpolicy.plan needs)."""
    return 2 * b.total_k * m.KVH * m.hd * 2


def bind_shared_kv(m, b, regions):
    """Points the model's KV at kvpolicy regions: layer l uses region l % len(regions), each
    holding this batch's packed [total_k, KVH, hd] K then V."""
    n = b.total_k * m.KVH * m.hd
    m.kc = [r[:n].view(b.total_k, m.KVH, m.hd) for r in regions]
    m.vc = [r[n:2 * n].view(b.total_k, m.KVH, m.hd) for r in regions]
    m.kv_distinct = len(regions)


def run_shared(a, cfg, specs):
    """The measurement loop of main() with the shared KV policy (--kv-policy shared)."""
    sys.path.insert(0, os.path.join(HERE, "..", "engines"))
    import kvpolicy
    L = a.layers or cfg["num_layers"]
    dev_slug = K.device_slug()
    t0 = time.time()
    m = Llama(cfg, 16, layers=L)
    torch.cuda.synchronize()
    arena = kvpolicy.Arena()
    l2 = torch.cuda.get_device_properties(0).L2_cache_size
    print(f"model {a.model}: {L} layers, KV arena {arena.nbytes / 2**30:.1f} GiB (kvpolicy)", flush=True)
    os.makedirs(a.out, exist_ok=True)
    prov = K.provenance("reference/llama_ref.py", {"attention_kernel": K.ATTENTION_KERNEL})
    prov["model_layers"] = L
    prov["kv_policy"] = "engines/kvpolicy.py: per batch, per-layer regions or rotation (kv_policy per line)"
    prov["timing"] = f"CUDA graph of one forward; 3 warm-up replays, then >= {a.reps} replays each timed with CUDA events"
    outp = os.path.join(a.out, f"ref_{a.model}.jsonl")
    with open(outp, "w") as f:
        f.write(json.dumps({"provenance": prov}) + "\n")
        for i, spec in enumerate(specs):
            b = Batch(spec, cfg["vocab_size"], seed=i)
            rb = kv_region_bytes(m, b)
            p = kvpolicy.plan(L, rb, rb, arena.nbytes, l2)
            rec = {"model": a.model, "device": dev_slug, "class": b.cls(), "batch": b.spec,
                   "kv_policy": kvpolicy.describe(p)}
            if p["policy"] == "none":
                rec["skipped"] = p["why"]
                f.write(json.dumps(rec) + "\n")
                continue
            bind_shared_kv(m, b, arena.regions(p))
            m.forward(b)
            torch.cuda.synchronize()
            g = K._capture(lambda: m.forward(b))
            for _ in range(3):
                g.replay()
            torch.cuda.synchronize()
            ms = sorted(t / 1000.0 for t in K._time_replays(g, a.reps))
            med = ms[len(ms) // 2] if len(ms) % 2 else 0.5 * (ms[len(ms) // 2 - 1] + ms[len(ms) // 2])
            rec.update(ms=round(med, 4), ms_min=round(ms[0], 4), ms_max=round(ms[-1], 4), reps=len(ms))
            f.write(json.dumps(rec) + "\n")
            f.flush()
            print(f"[{i + 1}/{len(specs)}] {b.cls():7s} T={b.T:5d} K={b.total_k:7d} {med:9.3f} ms "
                  f"kv {p['policy']}/{p['regions']}", flush=True)
            del g
            torch.cuda.empty_cache()
    print(f"{a.model}: {len(specs)} batches in {time.time() - t0:.1f} s -> {outp}", flush=True)


if __name__ == "__main__":
    main()
