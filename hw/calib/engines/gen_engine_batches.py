#!/usr/bin/env python3
"""Writes engines/batches_engines.json: the batches run_engines.py times, per model (no GPU).

Per model (llama-3-8b, llama-2-13b) the union of
  - the 12 calibration shapes of issue 16 (marked "calib": true, "tier": 0),
  - reference/batches.json's list for that model,
  - ragged decodes with long outliers (one sequence at 16384 tokens among 127 at 256; 4 at
    8192 among 60 at 512; 2 at 16384 among 254 at 128; seeded lognormal lists of 64, 128 and
    256 sequences; mixed batches with a ragged decode part); for llama-2-13b the outliers are
    8192 tokens (beyond its 4096 context: measured anyway, RoPE tables cover 32768),
each batch capped so its KV fits the GPU with the rotation of kvpolicy.py (at least 2 regions
of the engine's layout, the unfused engine's padded static cache included) on an 80 GB H100.

"tier": 1 marks what one campaign call measures (`campaign.sh engines`: the new ragged batches
and a curated subset of the reference list, CURATED below, sized for the time budget of one GPU
call by the estimate printed); "tier": 2 the rest of the union (`campaign.sh extra`). "est_ms" is the estimated reference-engine iteration time on H100 (measured, from
hw/calib/data/h100-sxm-80gb/ref_<model>.jsonl, where the batch was measured; else a least-
squares fit on those measurements), used for the deadline guard and the budget printed here.

usage: gen_engine_batches.py [--out engines/batches_engines.json]
"""
import argparse
import json
import math
import os
import random
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from common import CALIB_SHAPES, key, expand, clean, cls  # noqa: E402

REPO = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
REF_BATCHES = os.path.join(HERE, "..", "reference", "batches.json")
REF_DATA = os.path.join(HERE, "..", "data", "h100-sxm-80gb")
MODELS = {
    # layers, kv_heads, head_dim, weights GiB (bf16), outlier context
    "llama-3-8b": dict(L=32, KVH=8, hd=128, w_gib=15.0, long=16384),
    "llama-2-13b": dict(L=40, KVH=40, hd=128, w_gib=24.2, long=8192),
}
H100_FREE_GIB = 78.2          # free at start on the lent H100 (reference/llama_ref.py log)
FREE_FRACTION = 0.85          # kvpolicy.FREE_FRACTION
SEED = "llmsim-engines-16"


# ----------------------------------------------------------------------------- KV fit
def kv_bytes(m, spec):
    """(packed bytes, unfused padded bytes) of one layer's K and V."""
    pre, dec = expand(spec)
    lens = [t + p for t, p in pre] + [c + 1 for c in dec]
    per = 2 * m["KVH"] * m["hd"] * 2
    return sum(lens) * per, len(lens) * max(lens) * per


def fits(m, spec):
    arena = FREE_FRACTION * (H100_FREE_GIB - m["w_gib"]) * 2**30
    packed, padded = kv_bytes(m, spec)
    return 2 * packed <= arena and 2 * padded <= arena


def cap(m, spec):
    """Drops decode sequences from the end of the lists until the batch fits."""
    s = json.loads(json.dumps(spec))
    while not fits(m, s):
        if s.get("decode_ctx"):
            s["decode_ctx"] = s["decode_ctx"][:-1]
        elif s.get("decode") and s["decode"][-1][0] > 1:
            s["decode"][-1][0] -= 1
        else:
            return None
    return s


# ----------------------------------------------------------------------------- batches
def lognormal(rng, n, median, lo, hi):
    mu = math.log(median)
    return [int(min(hi, max(lo, round(rng.lognormvariate(mu, 1.0))))) for _ in range(n)]


def new_batches(model, m):
    rng = random.Random(f"{SEED}-{model}")
    L = m["long"]
    hi = min(L, 4096) if model == "llama-2-13b" else L - 1
    out = [
        {"decode_ctx": [L] + [256] * 127},
        {"decode_ctx": [8192] * 4 + [512] * 60},
        {"decode_ctx": [L] * 2 + [128] * 254},
        {"decode_ctx": lognormal(rng, 64, 1024, 16, hi)},
        {"decode_ctx": lognormal(rng, 128, 512, 16, hi)},
        {"decode_ctx": lognormal(rng, 256, 256, 16, hi)},
        {"prefill": [[512, 0]], "decode_ctx": lognormal(rng, 64, 1024, 16, hi)},
        {"prefill": [[2048, 1024]], "decode_ctx": lognormal(rng, 32, 2048, 16, hi)},
        {"prefill": [[256, 0]], "decode_ctx": [L] + [512] * 63},
    ]
    return out


# ----------------------------------------------------------------------------- estimate
def features(spec):
    pre, dec = expand(spec)
    T = sum(t for t, _ in pre) + len(dec)
    pairs = sum(t * (p + t / 2.0) for t, p in pre) / 1e6
    kv = sum(c + 1 for c in dec) / 1e3
    return [1.0, max(T - 64, 0) / 1e3, pairs, kv]


def solve(A, b):
    """Least squares by the normal equations (4 unknowns, Gaussian elimination)."""
    n = len(A[0])
    M = [[sum(r[i] * r[j] for r in A) for j in range(n)] + [sum(r[i] * y for r, y in zip(A, b))] for i in range(n)]
    for c in range(n):
        p = max(range(c, n), key=lambda r: abs(M[r][c]))
        M[c], M[p] = M[p], M[c]
        for r in range(n):
            if r != c and M[c][c]:
                f = M[r][c] / M[c][c]
                M[r] = [x - f * y for x, y in zip(M[r], M[c])]
    return [M[i][n] / M[i][i] if M[i][i] else 0.0 for i in range(n)]


def estimator(model):
    path = os.path.join(REF_DATA, f"ref_{model}.jsonl")
    known = {}
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                r = json.loads(line)
                if "batch" in r and "ms" in r:
                    known[key(r["batch"])] = r["ms"]
    coef = solve([features(json.loads(k)) for k in known], list(known.values())) if len(known) > 8 else [8, 30, 1, 0.05]

    def est(spec):
        k = key(spec)
        if k in known:
            return known[k], True
        return max(1.0, sum(c * x for c, x in zip(coef, features(spec)))), False
    return est


def run_cost_s(ms, cap_ms=500.0, reps=20, warm=3, min_reps=5, extra=0.08):
    """Seconds one graph measurement takes (run_engines.py with --cap-ms cap_ms)."""
    r = int(max(min_reps, min(reps, cap_ms // ms))) if cap_ms > 0 else reps
    w = warm if ms <= 50 or cap_ms <= 0 else 1
    pre = 2 if ms > 50 else 1
    return (pre + w + r) * ms / 1000.0 + extra


def engine_cost_s(model, spec, ms):
    """Estimated seconds of every engine variant on one batch (H100)."""
    m = MODELS[model]
    pre, dec = expand(spec)
    groups = len(set(dec))
    calls = len(pre) + groups
    unf_gpu = 1.08 * ms + m["L"] * (0.06 + 0.012 * calls)
    unf_host = m["L"] * (0.45 + 0.07 * calls)
    unf_eager = max(unf_gpu, unf_host)
    cap_s = m["L"] * (40 + 8 * calls) * 12e-6
    return {"ref": run_cost_s(ms), "prod-vllm": run_cost_s(0.95 * ms), "prod-sglang": run_cost_s(0.97 * ms),
            "unfused": run_cost_s(unf_eager) + run_cost_s(unf_gpu) + cap_s}


# ----------------------------------------------------------------------------- assembly
def model_list(model, ref_list):
    m = MODELS[model]
    est = estimator(model)
    out, seen = [], set()

    def add(spec, **marks):
        s = cap(m, clean(spec))
        if s is None or key(s) in seen:
            return
        seen.add(key(s))
        ms, measured = est(s)
        out.append(dict(s, **marks, est_ms=round(ms, 2)))

    for s in CALIB_SHAPES:
        add(s, calib=True, tier=0)
    for s in new_batches(model, m):
        add(s, tier=1)
    for s in ref_list:
        add(s, tier=2)
    # tier 1 from the reference list: the curated subset below (every class and size range)
    want = {key(c) for c in CURATED[model]}
    found = set()
    for b in out:
        if b["tier"] == 2 and key(b) in want:
            b["tier"] = 1
            found.add(key(b))
    for k in sorted(want - found):
        print(f"warning: {model}: curated batch {k} is not in reference/batches.json", file=sys.stderr)
    rag = [b for b in out if b["tier"] == 2 and "decode_ctx" in b and "prefill" not in b]
    for i in CURATED_RAGGED[model]:
        if i < len(rag):
            rag[i]["tier"] = 1
    return out


# Tier-1 picks from reference/batches.json: single prefills short and long, several prefills
# together, chunks over prior context, uniform decodes from 1 to 256 sequences at short and
# long contexts, two of its ragged lists, mixed batches (sized so one campaign call measures
# tiers 0 and 1 of every engine: see the estimate printed).
CURATED = {
    "llama-3-8b": [
        {"prefill": [[64, 0]]}, {"prefill": [[1024, 0]]}, {"prefill": [[512, 0]] * 4},
        {"prefill": [[512, 1024]]}, {"prefill": [[256, 7936]]},
        {"decode": [[1, 128]]}, {"decode": [[1, 8191]]}, {"decode": [[8, 2048]]}, {"decode": [[16, 8191]]},
        {"decode": [[32, 2048]]}, {"decode": [[64, 2048]]}, {"decode": [[128, 512]]}, {"decode": [[256, 512]]},
        {"prefill": [[512, 0]], "decode": [[64, 1024]]}, {"prefill": [[128, 0]], "decode": [[256, 256]]},
        {"prefill": [[512, 1536]], "decode": [[128, 1024]]},
    ],
    "llama-2-13b": [
        {"prefill": [[64, 0]]}, {"prefill": [[1024, 0]]}, {"prefill": [[512, 1024]]},
        {"decode": [[1, 128]]}, {"decode": [[1, 4095]]}, {"decode": [[8, 2048]]}, {"decode": [[16, 2048]]},
        {"decode": [[64, 512]]}, {"decode": [[256, 128]]},
        {"prefill": [[128, 0]], "decode": [[128, 256]]},
    ],
}
# two of the reference list's ragged decode lists join tier 1 (by position among its decode_ctx batches)
CURATED_RAGGED = {"llama-3-8b": [1, 8], "llama-2-13b": [1]}


def summary(model, lst):
    tot = {0: {}, 1: {}, 2: {}}
    n = {0: 0, 1: 0, 2: 0}
    for b in lst:
        t = b["tier"]
        n[t] += 1
        for e, s in engine_cost_s(model, b, b["est_ms"]).items():
            tot[t][e] = tot[t].get(e, 0.0) + s
    for t in (0, 1, 2):
        per = ", ".join(f"{e} {s:.0f} s" for e, s in sorted(tot[t].items()))
        print(f"  {model} tier {t}: {n[t]:3d} batches, est. H100 {sum(tot[t].values()):6.1f} s ({per})")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(HERE, "batches_engines.json"))
    a = ap.parse_args()
    with open(REF_BATCHES) as f:
        ref = json.load(f)
    allb = {mdl: model_list(mdl, ref[mdl]) for mdl in MODELS}
    tmp = a.out + ".tmp"
    with open(tmp, "w") as f:
        f.write("{\n")
        for i, (mdl, bs) in enumerate(allb.items()):
            f.write(f' "{mdl}": [\n')
            f.write(",\n".join("  " + json.dumps(b) for b in bs))
            f.write("\n ]" + (",\n" if i + 1 < len(allb) else "\n"))
        f.write("}\n")
    os.replace(tmp, a.out)
    for mdl, bs in allb.items():
        c = {}
        for b in bs:
            c[cls(b)] = c.get(cls(b), 0) + 1
        print(f"{mdl}: {len(bs)} batches {c}, max KV tokens "
              f"{max(sum(t + p for t, p in expand(b)[0]) + sum(x + 1 for x in expand(b)[1]) for b in bs)}")
        summary(mdl, bs)
    print(f"-> {a.out}")


if __name__ == "__main__":
    main()
