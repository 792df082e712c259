#!/usr/bin/env python3
"""eager_bench.py: the host (CPU) side of an EAGER serving iteration, for llmsim's eager mode.

A serving loop that runs its forward eagerly (serve.py; vLLM with enforce_eager) pays CPU time
that a CUDA-graph replay does not: every PyTorch op and Triton kernel is dispatched from Python,
and each iteration builds its input tensors and copies them to the GPU.  While the CPU dispatches
faster than the GPU drains, that time hides behind the GPU; when it is slower (small batches), the
GPU idles and the iteration takes the CPU's time.  This program measures the two host costs that
llmsim's eager mode needs (hw/calib.h, eager.csv), on the reference engine itself (llama_ref.py):

  dispatch: wall time for forward() to RETURN (before torch.cuda.synchronize), with the GPU idle
            at the start, for small batches of each class (decode, prefill, mixed) at two layer
            counts (the model's and 4): per-layer and per-forward dispatch by a straight-line fit.
            The batches are small, so the GPU never holds the CPU back (checked: fwd - dispatch is
            the last kernels' tail, printed).
  prep:     wall time of llama_ref.Batch(spec) (the host lists, the tensors, their pageable
            host-to-device copies), against sequences and tokens: a least-squares line.
  fwd:      for the issue-3 batches (batches.json), the eager forward until synchronize: what
            llmsim's eager mode predicts, compared in `llmsim validate` style by docs/validation.md.

Output, OUT/eager_raw.jsonl (every measurement, provenance first); hw/calib/fit_eager.py turns
the committed runs into eager.csv (earlier versions also wrote a per-run fit here).  usage: eager_bench.py --model llama-3-8b --out OUT [--reps 40]
"""
import argparse
import json
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import torch  # noqa: E402

import kernels as K  # noqa: E402
import llama_ref as L  # noqa: E402

DISPATCH_SPECS = {
    "decode": [{"decode": [[1, 128]]}, {"decode": [[8, 512]]}, {"decode": [[32, 256]]}],
    "prefill": [{"prefill": [[16, 0]]}, {"prefill": [[64, 0]]}, {"prefill": [[32, 0], [32, 0]]}],
    "mixed": [{"prefill": [[16, 0]], "decode": [[1, 128]]},
              {"prefill": [[32, 64]], "decode": [[8, 256]]},
              {"prefill": [[16, 0], [16, 0]], "decode": [[16, 128]]}],
}
PREP_SPECS = ([{"decode": [[n, 512]]} for n in (1, 4, 16, 64, 128, 256)] +
              [{"prefill": [[t, 0]]} for t in (64, 512, 2048, 8192)] +
              [{"prefill": [[256, 0]] * n} for n in (2, 8)] +
              [{"prefill": [[512, 0]], "decode": [[n, 1024]]} for n in (16, 128)])


def timed(m, b, reps):
    """(dispatch, forward) seconds of each of reps eager forwards, GPU idle at each start."""
    ts = [L.eager_times(m, b) for _ in range(reps)]
    return [d for d, _ in ts], [f for _, f in ts]


def build(cfg, layers, kv_tokens):
    m = L.Llama(cfg, kv_tokens, layers=layers, kv_distinct=1)
    for spec in ({"prefill": [[512, 0]]}, {"prefill": [[37, 100]], "decode": [[3, 50]]},
                 {"decode": [[64, 1000]]}):
        m.forward(L.Batch(spec, cfg["vocab_size"]))
    torch.cuda.synchronize()
    return m


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="llama-3-8b")
    ap.add_argument("--catalog", default=os.path.join(HERE, "..", "..", "..", "models", "catalog"))
    ap.add_argument("--batches", default=os.path.join(HERE, "batches.json"))
    ap.add_argument("--out", required=True)
    ap.add_argument("--reps", type=int, default=40)
    ap.add_argument("--small-layers", type=int, default=4)
    a = ap.parse_args()
    K.setup_torch()
    with open(os.path.join(a.catalog, a.model + ".json")) as f:
        cfg = json.load(f)
    with open(a.batches) as f:
        specs = json.load(f)[a.model]
    V, NL = cfg["vocab_size"], cfg["num_layers"]
    kv_tokens = max(L.Batch(s, V).total_k for s in specs) + 16
    os.makedirs(a.out, exist_ok=True)
    raw = open(os.path.join(a.out, "eager_raw.jsonl.tmp"), "w")
    prov = K.provenance("reference/eager_bench.py", {"model": a.model, "mode": "eager",
                                                     "reps": a.reps})
    raw.write(json.dumps({"provenance": prov}) + "\n")
    for layers in (a.small_layers, NL):
        m = build(cfg, layers, kv_tokens)
        for cls, ss in DISPATCH_SPECS.items():
            for s in ss:
                ds, fs = timed(m, L.Batch(s, V), a.reps)
                # the mean: a request's TPOT averages many iterations, jitter included
                d, f = statistics.mean(ds), statistics.mean(fs)
                raw.write(json.dumps({"kind": "dispatch", "class": cls, "layers": layers,
                                      "batch": s, "dispatch_us": d * 1e6, "fwd_us": f * 1e6,
                                      "dispatch_us_all": [round(x * 1e6, 1) for x in ds],
                                      "fwd_us_all": [round(x * 1e6, 1) for x in fs]}) + "\n")
                print(f"dispatch {cls:7s} L={layers:2d} {json.dumps(s):45s} {d * 1e6:9.1f} us "
                      f"(fwd {f * 1e6:9.1f} us)", flush=True)
        if layers == NL:
            for s in specs:
                b = L.Batch(s, V)
                ds, fs = timed(m, b, max(5, a.reps // 4))
                d, f = statistics.mean(ds), statistics.mean(fs)
                raw.write(json.dumps({"kind": "fwd", "class": b.cls(), "layers": layers,
                                      "batch": s, "dispatch_us": d * 1e6, "fwd_us": f * 1e6,
                                      "fwd_us_all": [round(x * 1e6, 1) for x in fs]}) + "\n")
                print(f"fwd {b.cls():7s} {json.dumps(s)[:60]:60s} {f * 1e3:8.3f} ms "
                      f"(dispatch {d * 1e3:8.3f})", flush=True)
        del m
        torch.cuda.empty_cache()
    prep = []
    for s in PREP_SPECS:
        ts = []
        for i in range(a.reps):
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            b = L.Batch(s, V, seed=i)
            ts.append(time.perf_counter() - t0)
            del b
        t = statistics.mean(ts)
        b = L.Batch(s, V)
        prep.append((b.np + b.nd, b.T, t))
        raw.write(json.dumps({"kind": "prep", "batch": s, "seqs": b.np + b.nd, "tokens": b.T,
                              "prep_us": t * 1e6}) + "\n")
        print(f"prep seqs={b.np + b.nd:4d} tokens={b.T:5d} {t * 1e6:8.1f} us", flush=True)
    raw.close()
    os.replace(os.path.join(a.out, "eager_raw.jsonl.tmp"), os.path.join(a.out, "eager_raw.jsonl"))
    print(f"raw points -> {os.path.join(a.out, 'eager_raw.jsonl')}; fit with hw/calib/fit_eager.py")
    return 0


if __name__ == "__main__":
    sys.exit(main())
