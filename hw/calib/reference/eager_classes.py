#!/usr/bin/env python3
"""eager_classes.py: host dispatch of an eager forward by batch class, measured interleaved.

The lent hosts' speed drifts by up to 2x within minutes, so comparing classes measured at
different times (eager_bench.py) mixes drift into the class difference.  Here small, host-bound
batches of the three classes (decode; prefill; mixed = a prefill chunk plus decodes, as Sarathi
and chunked prefill build them) are timed in rounds, one forward of each in turn, so every class
sees the same host.  Per batch: every dispatch time (forward() returning, GPU idle at start) and
forward time.  Output: OUT/eager_classes.json.  usage: eager_classes.py --out OUT [--rounds 60]
"""
import argparse
import json
import os
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import torch  # noqa: E402

import kernels as K  # noqa: E402
import llama_ref as L  # noqa: E402

SPECS = [
    ("decode", {"decode": [[4, 512]]}), ("decode", {"decode": [[16, 1000]]}),
    ("decode", {"decode": [[32, 700]]}),
    ("prefill", {"prefill": [[32, 0]]}), ("prefill", {"prefill": [[128, 512]]}),
    ("prefill", {"prefill": [[64, 0], [64, 0]]}),
    ("mixed", {"prefill": [[16, 600]], "decode": [[4, 512]]}),
    ("mixed", {"prefill": [[64, 0]], "decode": [[16, 1000]]}),
    ("mixed", {"prefill": [[128, 300]], "decode": [[32, 700]]}),
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--rounds", type=int, default=60)
    ap.add_argument("--catalog", default=os.path.join(HERE, "..", "..", "..", "models", "catalog"))
    a = ap.parse_args()
    K.setup_torch()
    with open(os.path.join(a.catalog, "llama-3-8b.json")) as f:
        cfg = json.load(f)
    V = cfg["vocab_size"]
    m = L.Llama(cfg, 60000, kv_distinct=1)
    bs = [L.Batch(s, V) for _, s in SPECS]
    for _ in range(3):
        for b in bs:
            m.forward(b)
    torch.cuda.synchronize()
    d = [[] for _ in SPECS]
    f = [[] for _ in SPECS]
    for _ in range(a.rounds):
        for i, b in enumerate(bs):
            di, fi = L.eager_times(m, b)
            d[i].append(round(di * 1e6, 1))
            f[i].append(round(fi * 1e6, 1))
    res = {"provenance": K.provenance("reference/eager_classes.py", {"model": "llama-3-8b",
                                                                     "rounds": a.rounds}),
           "batches": []}
    for (cls, s), di, fi in zip(SPECS, d, f):
        res["batches"].append({"class": cls, "batch": s, "dispatch_us_all": di, "fwd_us_all": fi})
        print(f"{cls:7s} {json.dumps(s):50s} dispatch min {min(di):8.0f} med "
              f"{statistics.median(di):8.0f}  fwd med {statistics.median(fi):8.0f} us", flush=True)
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "eager_classes.json"), "w") as fh:
        json.dump(res, fh)
    return 0


if __name__ == "__main__":
    sys.exit(main())
