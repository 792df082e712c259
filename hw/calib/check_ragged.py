#!/usr/bin/env python3
"""check_ragged.py: llmsim's decode attention against the measured ragged decode kernels.

attn_decode_ragged.jsonl (hw/calib/data/<device>/) holds single varlen decode launches over ragged
contexts for eight head shapes; none of them is used to fit the model (fit_decode_sched.py fits
the uniform table only).  Each shape is a Llama layer sharded by tensor parallelism, so each
launch is priced with `llmsim step --model M --tp N` as a decode_ctx batch: attention_ms / layers.
Prints MAPE, median and worst errors per device.  Stdlib only.

With --backend NAME (vllm_triton, sglang_triton) it checks that backend's measured launches
(attn_decode_ragged_NAME.jsonl, hw/calib/engines/attn_bench.py) against its launch model
(hw/attn_sched.c), priced through a profile whose decode attention is that backend.

usage: python3 hw/calib/check_ragged.py [--llmsim build/llmsim] [--backend NAME]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
# (q heads, kv heads) per GPU -> (model, layers, tp)
SHAPES = {(40, 40): ("llama-2-13b", 40, 1), (20, 20): ("llama-2-13b", 40, 2),
          (10, 10): ("llama-2-13b", 40, 4), (5, 5): ("llama-2-13b", 40, 8),
          (32, 8): ("llama-3-8b", 32, 1), (16, 4): ("llama-3-8b", 32, 2),
          (8, 2): ("llama-3-8b", 32, 4), (4, 1): ("llama-3-8b", 32, 8)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--llmsim", default=os.path.join(ROOT, "build", "llmsim"))
    ap.add_argument("--backend", default="")
    a = ap.parse_args()
    engine = "reference"
    if a.backend:
        prof = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False)
        json.dump({"id": "check-" + a.backend,
                   "structure": {"decode_attention": a.backend}}, prof)
        prof.close()
        engine = prof.name
    for dev in ("h100-sxm-80gb", "h200-sxm-141gb"):
        suffix = "_" + a.backend if a.backend else ""
        path = os.path.join(ROOT, "hw/calib/data", dev, f"attn_decode_ragged{suffix}.jsonl")
        if not os.path.exists(path):
            print(f"{dev}: no {os.path.basename(path)}")
            continue
        by_shape = {}
        for line in open(path):
            o = json.loads(line)
            if "provenance" in o:
                continue
            if (o["num_q_heads"], o["num_kv_heads"]) in SHAPES:
                by_shape.setdefault((o["num_q_heads"], o["num_kv_heads"]), []).append(o)
        errs = []
        for shape, rows in sorted(by_shape.items()):
            model, layers, tp = SHAPES[shape]
            inp = "".join(json.dumps({"decode_ctx": r["ctx"]}) + "\n" for r in rows)
            out = subprocess.run([a.llmsim, "step", "--model", model, "--hw", dev, "--tp", str(tp), "--engine", engine],
                                 input=inp, capture_output=True, text=True, check=True)
            for r, line in zip(rows, out.stdout.splitlines()):
                us = json.loads(line)["attention_ms"] * 1e3 / layers
                errs.append((100 * (us / r["time_us"] - 1), shape, len(r["ctx"])))
        e = [x[0] for x in errs]
        errs.sort()
        print(f"{dev}: {len(e)} ragged decode kernels, MAPE {statistics.mean(abs(x) for x in e):.1f}%, "
              f"median {statistics.median(e):+.1f}%, worst {errs[0][0]:+.1f}% ({errs[0][1]} heads, "
              f"{errs[0][2]} seqs) / {errs[-1][0]:+.1f}% ({errs[-1][1]} heads, {errs[-1][2]} seqs)")
    if a.backend:
        os.unlink(engine)
    return 0


if __name__ == "__main__":
    sys.exit(main())
