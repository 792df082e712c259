#!/usr/bin/env python3
"""fit_eager.py: eager.csv (llmsim's eager-mode host costs) from eager_bench.py's raw runs.

usage: python3 hw/calib/fit_eager.py hw/calib/data/<device>/eager   (writes ../eager.csv)

Pools every eager_raw_run*.jsonl in the folder (runs minutes apart).  The lent machines' host
speed drifts: the same host-bound forward took 9.9 ms in one minute and 15-23 ms in another.  So
the dispatch time is taken from the issue-3 batches' eager forwards that are small enough to be
certainly HOST-BOUND (decode: at most 8 sequences; prefill: at most 256 tokens; their GPU time is
half the dispatch or less), each at the MINIMUM over its repetitions in every run (the uncontended host:
contention by other tenants is not the engine's cost), the median over those batches,
divided by the layer count: dispatch_layer_<class>.  dispatch_forward_<class> = 0: with one
layer count the per-forward part is not separable, so the per-layer time carries it.  A mixed
batch (two attention calls and a concatenation) has no small host-bound example among those
batches; its dispatch is the decode one scaled by the mixed / decode ratio that
reference/eager_classes.py measured with the classes INTERLEAVED (one forward of each in turn,
so drift cancels): each batch at its fastest repetition, the median per class, pooled over
eager_classes_run*.json (measured on H100; the H200 host uses the H100 ratio when its folder has
none).  (torch.profiler's op-level host time, eager_probe.json, said 1.05: it misses the Python
between the ops.)  Prep: a least-squares a + b x seqs +
c x tokens through every run's points (mean of repetitions).  Stdlib only: it runs on the machine that commits the tables.
"""
import glob
import json
import os
import statistics
import sys


def lstsq(rows, y):
    n = len(rows[0])
    a = [[sum(r[i] * r[j] for r in rows) for j in range(n)] for i in range(n)]
    b = [sum(r[i] * v for r, v in zip(rows, y)) for i in range(n)]
    for i in range(n):
        p = max(range(i, n), key=lambda k: abs(a[k][i]))
        a[i], a[p], b[i], b[p] = a[p], a[i], b[p], b[i]
        for k in range(i + 1, n):
            f = a[k][i] / a[i][i]
            a[k] = [x - f * z for x, z in zip(a[k], a[i])]
            b[k] -= f * b[i]
    x = [0.0] * n
    for i in reversed(range(n)):
        x[i] = (b[i] - sum(a[i][j] * x[j] for j in range(i + 1, n))) / a[i][i]
    return x


def small(o):
    """Certainly host-bound: a tiny decode or prefill (see the docstring)."""
    b = o["batch"]
    seqs = sum(c for c, _ in b.get("decode", [])) + len(b.get("decode_ctx", []))
    tokens = sum(t for t, _ in b.get("prefill", []))
    if o["class"] == "decode":
        return seqs <= 8
    return o["class"] == "prefill" and tokens <= 256


def main():
    folder = sys.argv[1]
    files = sorted(glob.glob(os.path.join(folder, "eager_raw_run*.jsonl")))
    if not files:
        print(f"fit_eager.py: no eager_raw_run*.jsonl in {folder}", file=sys.stderr)
        return 2
    disp, prep, provs, layers = {}, [], [], None
    for fn in files:
        for line in open(fn):
            o = json.loads(line)
            if "provenance" in o:
                provs.append((os.path.basename(fn), o["provenance"]))
            elif o["kind"] == "fwd" and "fwd_us_all" in o and small(o):
                per = disp.setdefault(o["class"], {})
                key = json.dumps(o["batch"], sort_keys=True)
                per[key] = min(per.get(key, float("inf")), min(o["fwd_us_all"]))
                layers = o["layers"]
            elif o["kind"] == "prep":
                prep.append((o["seqs"], o["tokens"], o["prep_us"]))
    inter = sorted(glob.glob(os.path.join(folder, "eager_classes_run*.json")))
    if not inter:
        inter = sorted(glob.glob(os.path.join(folder, "..", "..", "h100-sxm-80gb", "eager",
                                              "eager_classes_run*.json")))
    best = {}
    for fn in inter:
        with open(fn) as f:
            for r in json.load(f)["batches"]:
                k = (r["class"], json.dumps(r["batch"], sort_keys=True))
                best[k] = min(best.get(k, float("inf")), min(r["dispatch_us_all"]))
    by_cls = {c: statistics.median(v for (cc, _), v in best.items() if cc == c)
              for c in ("decode", "mixed")}
    ratio = by_cls["mixed"] / by_cls["decode"]
    rows = []
    for cls in ("decode", "prefill"):
        v = statistics.median(disp[cls].values())
        rows += [(f"dispatch_forward_{cls}", 0.0), (f"dispatch_layer_{cls}", v / layers)]
        print(f"{cls}: {len(disp[cls])} small host-bound batches, median {v:.0f} us over {layers} layers")
    rows += [("dispatch_forward_mixed", 0.0), ("dispatch_layer_mixed", rows[1][1] * ratio)]
    print(f"mixed: decode x {ratio:.3f} (interleaved classes, {len(inter)} runs)")
    p0, ps, pt = lstsq([[1.0, float(s), float(t)] for s, t, _ in prep], [v for _, _, v in prep])
    rows += [("prep_base", p0), ("prep_per_seq", ps), ("prep_per_token", pt)]
    p = provs[0][1]
    out = os.path.join(folder, "..", "eager.csv")
    with open(out + ".tmp", "w") as f:
        for k in ("gpu", "driver", "cuda", "torch"):
            f.write(f"# {k}: {p[k]}\n")
        f.write("# source: fitted by hw/calib/fit_eager.py from eager/eager_raw_run*.jsonl, measured by "
                "hw/calib/reference/eager_bench.py (llama-3-8b reference engine, eager) on the llmsim GPU machine\n")
        for name, pv in provs:
            f.write(f"# run: {name} {pv['date']} {pv['command']} (reps {pv.get('reps')})\n")
        f.write("# command: python3 hw/calib/fit_eager.py " + folder + "\n")
        f.write("# note: host (CPU) time of an eager iteration (hw/cost_calib.c, cost_model.execution "
                "eager): dispatch per batch class from small host-bound forwards (min over repetitions and runs, "
                "median over batches; mixed = decode x the interleaved mixed/decode ratio), prep = a + b x seqs + c x tokens (fit_eager.py says why)\n")
        f.write("what,time_us\n")
        for w, v in rows:
            f.write(f"{w},{v:.3f}\n")
    os.replace(out + ".tmp", out)
    for r in rows:
        print("%-24s %10.3f us" % r)
    return 0


if __name__ == "__main__":
    sys.exit(main())
