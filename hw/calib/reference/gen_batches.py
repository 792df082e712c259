#!/usr/bin/env python3
"""Writes reference/batches.json: the batches llama_ref.py times, per model.

Each model's list holds single prefills, several prefills together, chunked prefills over
prior context, uniform and ragged (seeded lognormal) decode batches, and mixed batches
(a prefill chunk plus decodes). Contexts stay within the model's max_context, and a batch's
KV cache (every layer distinct) must fit next to the weights on an 80 GB H100:
  llama-3-8b  (128 KiB of KV per token) <= 400k tokens
  llama-2-13b (800 KiB of KV per token) <=  56k tokens
usage: gen_batches.py [--out reference/batches.json]
"""
import argparse
import json
import math
import os
import random

HERE = os.path.dirname(os.path.abspath(__file__))
CAP = {"llama-3-8b": 400_000, "llama-2-13b": 56_000}
MAXCTX = {"llama-3-8b": 8192, "llama-2-13b": 4096}


def kv_tokens(b):
    return (sum(t + p for t, p in b.get("prefill", [])) + sum(c * (x + 1) for c, x in b.get("decode", []))
            + sum(x + 1 for x in b.get("decode_ctx", [])))


def ragged(rng, n, median, maxctx):
    mu = math.log(median)
    return [int(min(maxctx - 1, max(16, round(rng.lognormvariate(mu, 0.9))))) for _ in range(n)]


def model_batches(model):
    mc = MAXCTX[model]
    cap = CAP[model]
    rng = random.Random(f"llmsim-{model}")
    out = []
    # single prefills
    for t in [64, 128, 256, 512, 768, 1024, 1536, 2048, 3072, 4096, 6144, 8192]:
        if t <= mc:
            out.append({"prefill": [[t, 0]]})
    # several prefills together
    for pre in [[[128, 0]] * 8, [[512, 0]] * 4, [[1024, 0]] * 2, [[64, 0]] * 16, [[256, 0], [1024, 0], [64, 0]],
                [[1000, 0], [300, 0], [2500, 0]], [[2048, 0]] * 4, [[4096, 0], [4096, 0]]]:
        out.append({"prefill": pre})
    # chunked prefills over prior context (no decodes)
    for t, p in [(512, 1024), (512, 3072), (2048, 2048), (1024, 7168), (256, 7936), (128, 512)]:
        if t + p <= mc:
            out.append({"prefill": [[t, p]]})
        else:
            out.append({"prefill": [[t, max(0, mc - t)]]})
    # uniform decode
    for c in [1, 2, 4, 8, 16, 32, 64, 128, 256, 384]:
        for ctx in [128, 512, 2048, 8192]:
            ctx = min(ctx, mc - 1)
            b = {"decode": [[c, ctx]]}
            if kv_tokens(b) <= cap:
                out.append(b)
    for c, ctx in [(48, 1024), (96, 1024), (160, 300), (24, 4000)]:
        b = {"decode": [[c, min(ctx, mc - 1)]]}
        if kv_tokens(b) <= cap:
            out.append(b)
    # ragged decode
    for n, med in [(8, 1024), (16, 2048), (32, 512), (64, 1024), (128, 256), (128, 1024), (256, 512),
                   (384, 256), (32, 4096), (192, 700)]:
        ctx = ragged(rng, n, med, mc)
        while kv_tokens({"decode_ctx": ctx}) > cap:
            ctx = ctx[:-1]
        out.append({"decode_ctx": ctx})
    # mixed: a prefill chunk (with or without prior context) plus decodes
    mixed = [
        {"prefill": [[512, 0]], "decode": [[64, 1024]]},
        {"prefill": [[512, 2048]], "decode": [[64, 1024]]},
        {"prefill": [[2048, 0]], "decode": [[128, 512]]},
        {"prefill": [[256, 4096]], "decode": [[32, 2048]]},
        {"prefill": [[1024, 0]], "decode": [[16, 2048]]},
        {"prefill": [[128, 0]], "decode": [[256, 256]]},
        {"prefill": [[4096, 0]], "decode": [[8, 1024]]},
        {"prefill": [[512, 1536]], "decode": [[128, 1024]]},
        {"prefill": [[64, 0]], "decode": [[384, 128]]},
        {"prefill": [[512, 0], [512, 512]], "decode": [[32, 512]]},
        {"prefill": [[2048, 6000]], "decode": [[4, 4096]]},
        {"prefill": [[8000, 0]], "decode": [[1, 128]]},
    ]
    for b in mixed:
        b = json.loads(json.dumps(b))
        b["prefill"] = [[t, min(p, mc - t)] if t + p > mc else [t, p] for t, p in b["prefill"]
                        if t <= mc]
        if not b["prefill"]:
            continue
        b["decode"] = [[c, min(x, mc - 1)] for c, x in b["decode"]]
        while kv_tokens(b) > cap and b["decode"][0][0] > 1:
            b["decode"][0][0] //= 2
        out.append(b)
    for n, med in [(64, 1024), (128, 512)]:
        ctx = ragged(rng, n, med, mc)
        b = {"prefill": [[512, 0]], "decode_ctx": ctx}
        while kv_tokens(b) > cap:
            b["decode_ctx"] = b["decode_ctx"][:-1]
        out.append(b)
    # dedupe, keep order
    seen, res = set(), []
    for b in out:
        k = json.dumps(b, sort_keys=True)
        if k not in seen and kv_tokens(b) <= cap:
            seen.add(k)
            res.append(b)
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(HERE, "batches.json"))
    a = ap.parse_args()
    allb = {m: model_batches(m) for m in CAP}
    with open(a.out, "w") as f:
        f.write("{\n")
        for i, (m, bs) in enumerate(allb.items()):
            f.write(f' "{m}": [\n')
            f.write(",\n".join("  " + json.dumps(b) for b in bs))
            f.write("\n ]" + (",\n" if i + 1 < len(allb) else "\n"))
        f.write("}\n")
    for m, bs in allb.items():
        cls = {}
        for b in bs:
            c = ("mixed" if b.get("prefill") and (b.get("decode") or b.get("decode_ctx"))
                 else "prefill" if b.get("prefill") else "decode")
            cls[c] = cls.get(c, 0) + 1
        print(f"{m}: {len(bs)} batches {cls}, max KV tokens {max(kv_tokens(b) for b in bs)}")


if __name__ == "__main__":
    main()
