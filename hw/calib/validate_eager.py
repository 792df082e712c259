#!/usr/bin/env python3
"""validate_eager.py: llmsim's eager execution model against measured eager forwards.

Prices every issue-3 batch that reference/eager_bench.py ran eagerly (hw/calib/data/<device>/
eager/eager_raw_run*.jsonl, llama-3-8b) with `llmsim step --eager` and compares it with the
measured forward (the fastest repetition over every run: the uncontended host, as eager.csv is
fitted).  Prints MAPE, median and max error per device and the worst batches.  Stdlib only.

usage: python3 hw/calib/validate_eager.py [--llmsim build/llmsim]
"""
import argparse
import glob
import json
import os
import statistics
import subprocess
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--llmsim", default=os.path.join(ROOT, "build", "llmsim"))
    a = ap.parse_args()
    for dev in ("h100-sxm-80gb", "h200-sxm-141gb"):
        meas = {}
        for fn in sorted(glob.glob(os.path.join(ROOT, "hw/calib/data", dev, "eager",
                                                "eager_raw_run*.jsonl"))):
            for line in open(fn):
                o = json.loads(line)
                if o.get("kind") == "fwd" and "fwd_us_all" in o:
                    k = json.dumps(o["batch"])
                    meas[k] = min(meas.get(k, float("inf")), min(o["fwd_us_all"]) / 1e3)
        if not meas:
            continue
        keys = list(meas)
        out = subprocess.run([a.llmsim, "step", "--model", "llama-3-8b", "--hw", dev, "--eager", "--engine", "reference"],
                             input="\n".join(keys) + "\n", capture_output=True, text=True,
                             check=True).stdout.splitlines()
        rows = []
        for k, line in zip(keys, out):
            p = json.loads(line)["ms"]
            rows.append((100 * (p / meas[k] - 1), meas[k], p, k))
        errs = [r[0] for r in rows]
        print(f"{dev} llama-3-8b eager: {len(rows)} batches, MAPE "
              f"{statistics.mean(abs(e) for e in errs):.1f}%, median {statistics.median(errs):+.1f}%, "
              f"max |error| {max(abs(e) for e in errs):.1f}%")
        rows.sort()
        for e, m, p, k in rows[:3] + rows[-3:]:
            print(f"   {e:+6.1f}%  measured {m:7.2f} ms  predicted {p:7.2f} ms  {k[:70]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
