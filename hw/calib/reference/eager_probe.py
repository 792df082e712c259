#!/usr/bin/env python3
"""eager_probe.py: where an eager forward of the reference engine spends host time.

(1) torch.cuda.set_sync_debug_mode("warn") over one forward of each batch class: does any op
    synchronise the host with the GPU (which would serialise dispatch and GPU work)?
(2) torch.profiler over host-bound forwards: host (CPU) time per op name, per forward, so the
    pipeline model (hw/eager.h) can give each kernel its own dispatch cost.
(3) dispatch and forward time of decode batches of 8-64 sequences at ~1250 context (the e2e
    runs' typical decode), repeated, to see where the GPU starts to matter.
usage: eager_probe.py --out OUT
"""
import argparse
import json
import os
import statistics
import sys
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import torch  # noqa: E402

import kernels as K  # noqa: E402
import llama_ref as L  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--catalog", default=os.path.join(HERE, "..", "..", "..", "models", "catalog"))
    a = ap.parse_args()
    K.setup_torch()
    with open(os.path.join(a.catalog, "llama-3-8b.json")) as f:
        cfg = json.load(f)
    V = cfg["vocab_size"]
    m = L.Llama(cfg, 140000, kv_distinct=1)
    specs = {"decode": {"decode": [[48, 1250]]}, "prefill": {"prefill": [[512, 0]]},
             "mixed": {"prefill": [[256, 0]], "decode": [[32, 1000]]}}
    for s in list(specs.values()) * 2:
        m.forward(L.Batch(s, V))
    torch.cuda.synchronize()
    os.makedirs(a.out, exist_ok=True)
    res = {"provenance": K.provenance("reference/eager_probe.py")}
    # (1)
    sync = {}
    for cls, s in specs.items():
        b = L.Batch(s, V)
        torch.cuda.synchronize()
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            torch.cuda.set_sync_debug_mode("warn")
            m.forward(b)
            torch.cuda.set_sync_debug_mode(0)
        torch.cuda.synchronize()
        sync[cls] = [str(x.message)[:200] for x in w]
        print(f"sync {cls}: {len(w)} synchronising calls", sync[cls][:3], flush=True)
    res["sync"] = sync
    # (2)
    from torch.profiler import profile, ProfilerActivity
    prof_rows = {}
    for cls, s in specs.items():
        b = L.Batch(s, V)
        torch.cuda.synchronize()
        with profile(activities=[ProfilerActivity.CPU]) as p:
            for _ in range(5):
                m.forward(b)
                torch.cuda.synchronize()
        rows = []
        for e in p.key_averages():
            rows.append({"name": e.key, "count": e.count,
                         "self_cpu_us_per_fwd": e.self_cpu_time_total / 5,
                         "cpu_us_per_fwd": e.cpu_time_total / 5})
        rows.sort(key=lambda r: -r["self_cpu_us_per_fwd"])
        prof_rows[cls] = rows[:40]
        print(f"profile {cls}:", flush=True)
        for r in rows[:15]:
            print(f"   {r['name'][:50]:50s} n={r['count']:5d} self {r['self_cpu_us_per_fwd']:9.1f} us/fwd", flush=True)
    res["profile"] = prof_rows
    # (3)
    sweep = []
    for rep in range(3):
        for n in (1, 8, 16, 24, 32, 40, 48, 64, 96):
            b = L.Batch({"decode": [[n, 1250]]}, V)
            ts = [L.eager_times(m, b) for _ in range(15)]
            d, f = [x for x, _ in ts], [y for _, y in ts]
            sweep.append({"rep": rep, "seqs": n, "ctx": 1250, "dispatch_ms_min": min(d) * 1e3,
                          "dispatch_ms_med": statistics.median(d) * 1e3,
                          "fwd_ms_min": min(f) * 1e3, "fwd_ms_med": statistics.median(f) * 1e3})
            print(f"sweep rep {rep} seqs {n:3d}: dispatch min {min(d) * 1e3:6.2f} med "
                  f"{statistics.median(d) * 1e3:6.2f}  fwd min {min(f) * 1e3:6.2f} med "
                  f"{statistics.median(f) * 1e3:6.2f} ms", flush=True)
    res["sweep"] = sweep
    with open(os.path.join(a.out, "eager_probe.json"), "w") as f:
        json.dump(res, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
