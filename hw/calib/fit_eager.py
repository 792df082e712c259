#!/usr/bin/env python3
"""fit_eager.py: eager.csv (llmsim's eager-mode host costs) from eager_bench.py's raw runs.

usage: python3 hw/calib/fit_eager.py hw/calib/data/<device>/eager   (writes ../eager.csv)

Pools every eager_raw_run*.jsonl in the folder (runs minutes apart).  The lent machines' host
speed drifts: the same host-bound forward took 9.9 ms in one minute and 15-23 ms in another, and
the dispatch points eager_bench.py times first after building a model ran slow in every run.  So
the dispatch time is taken from the issue-3 batches' eager forwards that are HOST-BOUND (dispatch
>= 90% of the forward: the GPU finished right after the CPU), each as the MINIMUM over its
repetitions (the uncontended host: contention by other tenants is not the engine's cost), the
median over those batches and runs per class, divided by the layer count: dispatch_layer_<class>
(dispatch_forward_<class> = 0: with one layer count the per-forward part is not separable; it is
folded into the per-layer time).  Prep: a least-squares a + b x seqs + c x tokens through every
run's points (mean of repetitions).  Stdlib only: it runs on the machine that commits the tables.
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
            elif o["kind"] == "fwd" and "fwd_us_all" in o and o["dispatch_us"] >= 0.9 * o["fwd_us"]:
                disp.setdefault(o["class"], []).append(min(o["fwd_us_all"]))
                layers = o["layers"]
            elif o["kind"] == "prep":
                prep.append((o["seqs"], o["tokens"], o["prep_us"]))
    rows = []
    for cls in ("decode", "prefill", "mixed"):
        v = statistics.median(disp[cls])
        rows += [(f"dispatch_forward_{cls}", 0.0), (f"dispatch_layer_{cls}", v / layers)]
        print(f"{cls}: {len(disp[cls])} host-bound forwards, median {v:.0f} us over {layers} layers")
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
                "eager): dispatch per batch class from host-bound forwards (min over repetitions, median over "
                "batches and runs), prep = a + b x seqs + c x tokens (fit_eager.py says why)\n")
        f.write("what,time_us\n")
        for w, v in rows:
            f.write(f"{w},{v:.3f}\n")
    os.replace(out + ".tmp", out)
    for r in rows:
        print("%-24s %10.3f us" % r)
    return 0


if __name__ == "__main__":
    sys.exit(main())
