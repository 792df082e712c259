#!/usr/bin/env python3
"""Emit the GEMM shapes (m n k) a Llama layer produces, for gemm_bench.

Reads every models/catalog/*.json (num_layers, hidden_size, num_heads, num_kv_heads,
head_dim, ffn_size, vocab_size; "moe"/"mla" objects are ignored for now) and, for each
tensor-parallel degree tp in {1,2,4,8} that divides both head counts, the (N, K) of the
sharded projections (PyTorch's y = x @ W.T, W is N x K):
  qkv    N = (H + 2*KVH) * hd / tp   K = hidden
  o      N = hidden                  K = H * hd / tp
  gateup N = 2 * ffn / tp            K = hidden
  down   N = hidden                  K = ffn / tp
  lm     N = vocab / tp              K = hidden      (M capped at --lm-max-m: the LM head
                                                      only sees each sequence's last token)
crossed with an M grid (tokens in the batch).  Output: one "m n k" line per shape,
sorted and deduplicated, with '#' comment lines saying where each (N, K) came from.

usage: gen_shapes.py [--catalog DIR] [--out FILE] [--mgrid 1,2,4,...] [--lm-max-m 4096] [--models a,b]
"""
import argparse
import glob
import json
import os
import sys

MGRID = [1, 2, 4, 8, 16, 24, 32, 48, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384, 448,
         512, 640, 768, 896, 1024, 1280, 1536, 2048, 2560, 3072, 4096, 6144, 8192, 12288, 16384]
# LLMSIM_TPS (e.g. "1,2") narrows the tensor-parallel degrees covered
TPS = [int(t) for t in os.environ.get("LLMSIM_TPS", "1,2,4,8").split(",")]


def load_models(catalog):
    models = []
    for path in sorted(glob.glob(os.path.join(catalog, "*.json"))):
        with open(path) as f:
            m = json.load(f)
        need = ["hidden_size", "num_heads", "num_kv_heads", "head_dim", "ffn_size", "vocab_size"]
        if not all(k in m for k in need):
            print(f"# skip {path}: missing one of {need}", file=sys.stderr)
            continue
        m.setdefault("id", os.path.splitext(os.path.basename(path))[0])
        models.append(m)
    return models


def nk_pairs(m):
    """(name, tp, N, K) for each sharded projection of model m."""
    H, KVH, hd = m["num_heads"], m["num_kv_heads"], m["head_dim"]
    hid, ffn, vocab = m["hidden_size"], m["ffn_size"], m["vocab_size"]
    out = []
    for tp in TPS:
        if H % tp or KVH % tp or ffn % tp:
            continue
        out.append(("qkv", tp, (H + 2 * KVH) * hd // tp, hid))
        out.append(("o", tp, hid, H * hd // tp))
        out.append(("gateup", tp, 2 * ffn // tp, hid))
        out.append(("down", tp, hid, ffn // tp))
        out.append(("lm", tp, -(-vocab // tp), hid))
    return out


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser()
    ap.add_argument("--catalog", default=os.path.join(here, "..", "..", "models", "catalog"))
    ap.add_argument("--out", default="-")
    ap.add_argument("--mgrid", default=",".join(map(str, MGRID)))
    ap.add_argument("--lm-max-m", type=int, default=4096)
    ap.add_argument("--models", default="", help="comma-separated catalog ids (default: all)")
    a = ap.parse_args()
    mgrid = sorted({int(x) for x in a.mgrid.split(",") if x})
    models = load_models(a.catalog)
    if a.models:
        keep = set(a.models.split(","))
        models = [m for m in models if m["id"] in keep]
    origin = {}
    shapes = set()
    for m in models:
        for name, tp, n, k in nk_pairs(m):
            origin.setdefault((n, k), []).append(f"{m['id']}:{name}:tp{tp}")
            for mm in mgrid:
                if name == "lm" and mm > a.lm_max_m:
                    continue
                shapes.add((mm, n, k))
    lines = [f"# gen_shapes.py: {len(shapes)} shapes from {len(models)} models, M grid {mgrid}"]
    for (n, k), who in sorted(origin.items()):
        lines.append(f"# N={n} K={k}: {' '.join(who)}")
    lines += [f"{mm} {n} {k}" for (mm, n, k) in sorted(shapes, key=lambda s: (s[1], s[2], s[0]))]
    text = "\n".join(lines) + "\n"
    if a.out == "-":
        sys.stdout.write(text)
    else:
        with open(a.out, "w") as f:
            f.write(text)
    flops = sum(2.0 * mm * n * k for mm, n, k in shapes)
    print(f"gen_shapes: {len(shapes)} shapes, {flops / 1e12:.1f} TFLOP per pass", file=sys.stderr)


if __name__ == "__main__":
    main()
