#!/usr/bin/env python3
"""smoke: every code path of hw/calib/engines on tiny shapes, with numerical checks (GPU, < 60 s).

  1. reference/kernels.py self-test; host formulas (backends.check_math, kvpolicy.plan cases)
  2. each vendored kernel against a naive fp32 attention: vLLM unified_attention (2D prefill
     + decode in one launch, 2D decode-only, 3D decode + reduce, fp8 KV) with
     reshape_and_cache_flash; SGLang decode (GQA grouped and MHA normal kernels) and extend
     (prefix + new tokens), both eager and replayed from a CUDA graph; fused_add_rmsnorm
  3. a 2-layer tiny model (GQA 8/2 and MHA 4/4 heads) through each engine (ref, unfused
     eager and graph, prod-vllm, prod-sglang): logits against a plain fp32 forward that reads
     the same cached K/V, graph replay against eager; a 4-layer model whose KV rotates over 2
     regions (kvpolicy rotate)
  4. the programs themselves on a tiny catalog: run_engines.py (all phases, resume),
     attn_bench.py, elem_bench.py and w4a16_bench.py (--quick; W4A16 numerics checked inside)
Writes --out/smoke.json; exit 1 when a numerical check fails (the campaign goes on).

usage: smoke.py --out DIR
"""
import argparse
import json
import os
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import common  # noqa: E402
import kernels as K  # noqa: E402
import kvpolicy  # noqa: E402
import backends  # noqa: E402

BF = torch.bfloat16
HD = 128
TOL = 3e-2
RES = {}
FAIL = []


def record(name, err, tol=TOL):
    RES[name] = err
    ok = isinstance(err, float) and err < tol
    if not ok:
        FAIL.append(name)
    print(f"smoke {name}: {err if not isinstance(err, float) else f'{err:.3e}'} {'ok' if ok else 'FAIL'}", flush=True)


def guarded(name, fn):
    t0 = time.time()
    try:
        fn()
    except SystemExit:
        raise
    except Exception as e:
        traceback.print_exc()
        RES[name] = f"error: {type(e).__name__}: {e}"
        FAIL.append(name)
        print(f"smoke {name}: ERROR {e}", flush=True)
        if common.cuda_fatal(e):
            raise
    print(f"smoke section {name}: {time.time() - t0:.1f} s", flush=True)


# ----------------------------------------------------------------------------- 1
def host_checks():
    backends.check_math()
    gib = 2**30
    p = kvpolicy.plan(32, 1 * gib, 1 * gib, 40 * gib, 50 << 20)
    assert p["policy"] == "per-layer" and p["regions"] == 32, p
    p = kvpolicy.plan(40, 5 * gib, 5 * gib, 45 * gib, 50 << 20)
    assert p["policy"] == "rotate" and p["regions"] == 9, p
    p = kvpolicy.plan(40, 30 * gib, 1 * gib, 45 * gib, 50 << 20)
    assert p["policy"] == "none", p
    p = kvpolicy.plan(40, 10 << 20, 10 << 20, 25 << 20, 50 << 20)
    assert p["policy"] == "rotate" and "warm_risk" in p, p
    assert common.RepPolicy(20, 3, 500).plan(250) == (1, 5)
    assert common.RepPolicy(20, 3, 500).plan(10) == (3, 20)
    assert common.RepPolicy(20, 3, 0).plan(250) == (3, 20)
    RES["host_checks"] = "ok"


# ----------------------------------------------------------------------------- 2
def fp8_region(nbytes):
    n = nbytes
    u = (torch.randn(n, device="cuda") * 0.5).to(torch.float8_e4m3fn).view(torch.uint8)
    if n % 2:
        u = torch.cat([u, torch.zeros(1, dtype=torch.uint8, device="cuda")])
    return u.view(BF)


def backend_case(be, H, KVH, seqs, tag):
    T = sum(q for q, _ in seqs)
    meta = be.plan(seqs)
    rb = be.region_bytes(seqs)
    fp8 = getattr(be, "cache_dtype", BF) != BF
    region = fp8_region(rb + 64) if fp8 else torch.randn(rb // 2 + 64, device="cuda", dtype=BF)
    kc, vc = be.views(region, meta)
    qkv = torch.randn(T, (H + 2 * KVH) * HD, device="cuda", dtype=BF)
    q = qkv[:, :H * HD].view(T, H, HD)
    k = qkv[:, H * HD:(H + KVH) * HD].view(T, KVH, HD)
    v = qkv[:, (H + KVH) * HD:].view(T, KVH, HD)
    out = torch.empty(T, H, HD, device="cuda", dtype=BF)
    be.write_kv(k, v, kc, vc, meta)
    be.attend(q, k, v, kc, vc, out, meta)
    torch.cuda.synchronize()
    keys, vals, t = [], [], 0
    werr = 0.0
    for i, (ql, kv) in enumerate(seqs):
        kk, vv = be.gather(kc, vc, meta, i, kv, seqs)
        werr = max(werr, K.rel_err(kk[kv - ql:], k[t:t + ql]), K.rel_err(vv[kv - ql:], v[t:t + ql]))
        keys.append(kk)
        vals.append(vv)
        t += ql
    ref = backends.naive_attention_seqs(q, keys, vals, seqs, be.scale)
    record(f"{be.name}{'_fp8' if fp8 else ''}_{tag}_H{H}_KV{KVH}_kvwrite", werr, 7e-2 if fp8 else 1e-6)
    record(f"{be.name}{'_fp8' if fp8 else ''}_{tag}_H{H}_KV{KVH}", K.rel_err(out, ref))
    out2 = torch.empty_like(out)
    g = K._capture(lambda: be.attend(q, k, v, kc, vc, out2, meta))
    g.replay()
    torch.cuda.synchronize()
    record(f"{be.name}{'_fp8' if fp8 else ''}_{tag}_H{H}_KV{KVH}_graph_vs_eager", K.rel_err(out2, out), 1e-6)
    if hasattr(be, "kernel_path"):
        RES[f"{be.name}_{tag}_H{H}_KV{KVH}_path"] = be.kernel_path(meta)


def vendored_checks():
    sm = common.sm_count()
    for H, KVH in [(8, 2), (4, 4)]:
        thr = 128 // KVH
        vb = backends.VllmTriton(H, KVH, HD)
        backend_case(vb, H, KVH, [(1, 10), (1, 131), (1, 2)], "decode3d")
        backend_case(vb, H, KVH, [(1, 9 + i % 5) for i in range(thr + 3)], "decode2d")
        backend_case(vb, H, KVH, [(1, 51), (1, 8), (37, 37), (20, 95)], "mixed")
        backend_case(vb, H, KVH, [(64, 64)], "prefill")
        v8 = backends.VllmTriton(H, KVH, HD, kv_dtype="fp8_e4m3")
        backend_case(v8, H, KVH, [(1, 10), (1, 131), (1, 2)], "decode3d")
        backend_case(v8, H, KVH, [(1, 9 + i % 5) for i in range(thr + 3)], "decode2d")
        sb = backends.SglangTriton(H, KVH, HD, sm)
        backend_case(sb, H, KVH, [(1, 10), (1, 131), (1, 2), (1, 700)], "decode")
        backend_case(sb, H, KVH, [(37, 37), (20, 95)], "extend")
        backend_case(sb, H, KVH, [(1, 51), (1, 8), (37, 37), (20, 95)], "mixed")
    # fused add + rmsnorm
    x = torch.randn(37, 512, device="cuda", dtype=BF)
    r = torch.randn(37, 512, device="cuda", dtype=BF)
    w = (1 + 0.1 * torch.randn(512, device="cuda")).to(BF)
    z = (x.float() + r.float())
    ref = z * torch.rsqrt(z.pow(2).mean(-1, keepdim=True) + 1e-5) * w.float()
    x2, r2 = x.clone(), r.clone()
    backends.fused_add_rmsnorm(x2, r2, w, 1e-5)
    record("fused_add_rmsnorm", K.rel_err(x2, ref))
    record("fused_add_rmsnorm_residual", K.rel_err(r2, z), 1e-2)


# ----------------------------------------------------------------------------- 3
TINY = dict(num_layers=2, hidden_size=512, num_heads=8, num_kv_heads=2, head_dim=128, ffn_size=1024,
            vocab_size=1000, max_context=4096, rope_theta=10000.0, rms_norm_eps=1e-5)
SPECS = [{"prefill": [[37, 0], [20, 75]], "decode": [[2, 50]], "decode_ctx": [7, 300, 1, 50]},
         {"decode_ctx": [5, 40, 40, 90]}, {"prefill": [[64, 0]]}]


def naive_forward(W, spec, seed, gather):
    """fp32 Llama forward of one batch; prior K/V per (layer, canonical sequence) from gather."""
    import llama_ref
    b = llama_ref.Batch(spec, W.V, seed=seed)
    pre, dec = common.expand(spec)
    H, KVH, hd = W.H, W.KVH, W.hd
    T = b.T

    def rms(x, w):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + W.eps) * w.float()

    pos = torch.tensor([p + i for t, p in pre for i in range(t)] + dec, device="cuda", dtype=torch.int64)
    c, s = W.cos[pos][:, None, :], W.sin[pos][:, None, :]

    def rope(x):
        x1, x2 = x[..., :hd // 2], x[..., hd // 2:]
        return torch.cat([x1 * c - x2 * s, x2 * c + x1 * s], -1)
    spans, t0 = [], 0
    for t, p in pre:
        spans.append((t0, t, p))
        t0 += t
    for x in dec:
        spans.append((t0, 1, x))
        t0 += 1
    h = W.embed.float()[b.ids]
    for l in range(W.L):
        x = rms(h, W.n_in[l])
        qkv = x @ W.w_qkv[l].float().t()
        q = rope(qkv[:, :H * hd].view(T, H, hd))
        k = rope(qkv[:, H * hd:(H + KVH) * hd].view(T, KVH, hd))
        v = qkv[:, (H + KVH) * hd:].view(T, KVH, hd)
        outs = []
        for i, (a, t, p) in enumerate(spans):
            pk, pv = gather(l, i, p)
            kk = torch.cat([pk.float(), k[a:a + t]], 0).repeat_interleave(H // KVH, dim=1)
            vv = torch.cat([pv.float(), v[a:a + t]], 0).repeat_interleave(H // KVH, dim=1)
            sc = torch.einsum("qhd,khd->hqk", q[a:a + t], kk) * W.scale
            r_ = torch.arange(t, device="cuda")[:, None]
            c_ = torch.arange(p + t, device="cuda")[None, :]
            sc = sc.masked_fill(c_ > p + r_, float("-inf"))
            outs.append(torch.einsum("hqk,khd->qhd", torch.softmax(sc, -1), vv))
        h = h + torch.cat(outs, 0).reshape(T, H * hd) @ W.w_o[l].float().t()
        x = rms(h, W.n_post[l])
        gu = x @ W.w_gu[l].float().t()
        h = h + (F.silu(gu[:, :W.F]) * gu[:, W.F:]) @ W.w_d[l].float().t()
    x = rms(h, W.n_final)
    last = [a + t - 1 for a, t, _ in spans]
    return x[last] @ W.lm.float().t()


def engine_checks():
    import llama_ref
    import run_engines
    l2 = common.l2_bytes()
    arena = kvpolicy.Arena(nbytes=256 << 20)
    pol = common.RepPolicy(reps=3, warm=1)
    for tag, cfg in [("gqa", TINY), ("mha", dict(TINY, num_heads=4, num_kv_heads=4))]:
        W = llama_ref.Llama(cfg, 16, layers=cfg["num_layers"])
        for name in ("ref", "unfused", "prod-vllm", "prod-sglang"):
            eng = run_engines.make_engine(name, W)
            if name == "unfused":
                RES[f"unfused_{tag}_sdpa"] = {k: v["chosen"] for k, v in eng.report.items()}
            for i, spec in enumerate(SPECS):
                pb = eng.prepare(spec, i)
                rb, tb = eng.kv_need(pb)
                p = kvpolicy.plan(W.L, rb, tb, arena.nbytes, l2)
                eng.bind(pb, arena.regions(p))
                tok, lg = eng.forward(pb, return_logits=True)
                ref = naive_forward(W, spec, i, lambda l, c, n: eng.gather_prior(pb, l, c, n))
                record(f"engine_{name}_{tag}_b{i}_logits", K.rel_err(lg, ref))
                RES[f"engine_{name}_{tag}_b{i}_argmax_agree"] = float((tok == ref.argmax(-1)).float().mean())
                holder = {}
                g = K._capture(lambda: holder.update(o=eng.forward(pb, return_logits=True)))
                g.replay()
                torch.cuda.synchronize()
                record(f"engine_{name}_{tag}_b{i}_graph_vs_eager", K.rel_err(holder["o"][1], lg), 1e-3)
                del g
                if i == 0:
                    fwd = lambda: eng.forward(pb)  # noqa: E731
                    rg = common.time_graph(fwd, pol, 1.0)
                    re_ = common.time_eager(fwd, pol, 1.0)
                    RES[f"engine_{name}_{tag}_timing"] = {"graph_ms": rg["ms"], "eager_ms": re_["ms"],
                                                          "host_ms": re_["host_ms"]}
                eng.unbind(pb)
        del W
    # rotation: 4 layers, room for 2 regions only
    W = llama_ref.Llama(dict(TINY, num_layers=4), 16, layers=4)
    for name in ("prod-vllm", "unfused"):
        eng = run_engines.make_engine(name, W)
        spec = SPECS[0]
        pb = eng.prepare(spec, 0)
        rb, tb = eng.kv_need(pb)
        p = kvpolicy.plan(W.L, rb, tb, int(2.5 * kvpolicy.round_up(rb, kvpolicy.ALIGN_BYTES)), l2)
        assert p["policy"] == "rotate" and p["regions"] == 2, p
        eng.bind(pb, arena.regions(p))
        tok, lg = eng.forward(pb, return_logits=True)
        ref = naive_forward(W, spec, 0, lambda l, c, n: eng.gather_prior(pb, l, c, n))
        record(f"engine_{name}_rotate2_logits", K.rel_err(lg, ref))
        eng.unbind(pb)
    arena.release()


# ----------------------------------------------------------------------------- 4
def program_checks(out):
    import run_engines
    import attn_bench
    import elem_bench
    import w4a16_bench
    cat = os.path.join(out, "catalog")
    os.makedirs(cat, exist_ok=True)
    for name, cfg in [("tiny-gqa", TINY), ("tiny-mha", dict(TINY, num_heads=4, num_kv_heads=4))]:
        with open(os.path.join(cat, name + ".json"), "w") as f:
            json.dump(dict(cfg, id=name), f)
    bl = [dict(s, calib=(i == 0), tier=0 if i == 0 else 1, est_ms=2.0) for i, s in enumerate(SPECS)]
    bl.append({"decode": [[2, 30]], "tier": 2, "est_ms": 2.0})
    bpath = os.path.join(out, "batches_tiny.json")
    with open(bpath, "w") as f:
        json.dump({"tiny-gqa": bl, "tiny-mha": bl}, f)
    eo = os.path.join(out, "engines")
    base = ["--out", eo, "--models", "tiny-gqa", "--batches", bpath, "--catalog", cat,
            "--cap-ms", "20", "--reps", "3", "--warm", "1"]
    os.environ["LLMSIM_ARENA_GIB"] = "0.25"
    try:
        run_engines.main(argv=base + ["--phase", "all"])
        run_engines.main(argv=base + ["--phase", "extra"])
        run_engines.main(argv=base + ["--phase", "calib"])      # resume: nothing left to do
    finally:
        del os.environ["LLMSIM_ARENA_GIB"]
    rows = 0
    for fn in sorted(os.listdir(eo)):
        if fn.startswith("engine_"):
            with open(os.path.join(eo, fn)) as f:
                lines = [json.loads(x) for x in f][1:]
            bad = [r for r in lines if "ms" not in r]
            rows += len(lines)
            if bad or len(lines) != len(bl):
                FAIL.append(f"run_engines {fn}")
                print(f"smoke run_engines {fn}: {len(lines)} rows, {len(bad)} without ms: {bad[:2]}", flush=True)
    RES["run_engines_rows"] = rows
    attn_bench.main(["--outdir", os.path.join(out, "attn"), "--quick", "--heads", "8:2"])
    elem_bench.main(["--outdir", os.path.join(out, "elem"), "--quick"])
    w4a16_bench.main(["--outdir", os.path.join(out, "w4a16"), "--quick"])
    with open(os.path.join(out, "w4a16", "gemm_w4a16.csv")) as f:
        for line in f:
            c = line.strip().split(",")
            if len(c) == 8 and c[7] and c[0] != "m":
                record(f"w4a16_{c[5]}_m{c[0]}", float(c[7]), 5e-2 if c[5].startswith("awq") else 2e-2)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    t0 = time.time()
    K.setup_torch()
    print(json.dumps(K.env_report()), flush=True)
    import vendored
    for local, want, got in vendored.check_files():
        RES[f"kern_{local}"] = f"{got} chars (SOURCES.txt: {want})"
        if str(got) != str(want):
            FAIL.append(f"kern {local}")
    guarded("kernels_selftest", lambda: RES.update({"kernels_selftest": K.selftest(verbose=False)}))
    guarded("host_checks", host_checks)
    guarded("vendored", vendored_checks)
    guarded("engines", engine_checks)
    guarded("programs", lambda: program_checks(a.out))
    RES["failed"] = FAIL
    RES["seconds"] = round(time.time() - t0, 1)
    with open(os.path.join(a.out, "smoke.json"), "w") as f:
        json.dump(RES, f, indent=1, default=str)
    print(f"smoke: {len(FAIL)} failed {FAIL} in {time.time() - t0:.1f} s", flush=True)
    sys.exit(1 if FAIL else 0)


if __name__ == "__main__":
    main()
