#!/usr/bin/env python3
"""import_results.py: put one engine campaign's tarball where llmsim reads it.

usage: python3 hw/calib/engines/import_results.py engines-<device>.tar.gz [...]

campaign.sh packs <device>/ with the engines' whole-model times and the production backends'
kernel tables.  This places:
  engine_<engine>[-<exec>]_<model>.jsonl -> hw/calib/data/<device>/engines/<profile>/<model>.jsonl
      (only the measured lines; a line with "error" or "skipped" goes to <model>.errors.jsonl,
       the provenance header stays first)
  attn_*_{vllm_triton,sglang_triton}.*, attn_decode_vllm_triton_fp8kv.csv,
  elementwise_torch.csv, gemm_w4a16.csv          -> hw/calib/data/<device>/
  everything else (env.txt, logs/, kernels_*, sdpa_*, smoke/, campaign.log)
                                                 -> hw/calib/data/<device>/engines/raw/
Files of a later tarball replace an earlier one's; engine lines are merged by batch (the later
measurement of a batch wins), so a second call (`campaign.sh extra`) adds to the first.
Stdlib only.
"""
import json
import os
import shutil
import sys
import tarfile
import tempfile

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..")
PROFILE = {"ref": "reference", "unfused-graph": "pytorch-unfused",
           "unfused-eager": "pytorch-unfused-eager", "prod-vllm": "vllm-triton",
           "prod-sglang": "sglang-triton"}
TABLES = ("attn_decode_vllm_triton.csv", "attn_prefill_vllm_triton.csv",
          "attn_decode_ragged_vllm_triton.jsonl", "attn_decode_vllm_triton_fp8kv.csv",
          "attn_decode_sglang_triton.csv", "attn_prefill_sglang_triton.csv",
          "attn_decode_ragged_sglang_triton.jsonl", "elementwise_torch.csv", "gemm_w4a16.csv")


def engine_of(name):
    """(profile, model) of engine_<engine>[-<exec>]_<model>.jsonl, or None."""
    if not (name.startswith("engine_") and name.endswith(".jsonl")):
        return None
    stem = name[len("engine_"):-len(".jsonl")]
    for key in sorted(PROFILE, key=len, reverse=True):
        if stem.startswith(key + "_"):
            return PROFILE[key], stem[len(key) + 1:]
    return None


def key_of(o):
    return json.dumps(o.get("batch"), sort_keys=True)


def merge_engine(src, dst):
    rows, order, prov = {}, [], None
    errs = []
    for path in (dst, src):
        if not os.path.exists(path):
            continue
        for line in open(path):
            if not line.strip():
                continue
            o = json.loads(line)
            if "provenance" in o and len(o) == 1:
                prov = o if path == src or prov is None else prov
                continue
            if "error" in o or "skipped" in o or "ms" not in o:
                errs.append(o)
                continue
            k = key_of(o)
            if k not in rows:
                order.append(k)
            rows[k] = o
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    tmp = dst + ".tmp"
    with open(tmp, "w") as f:
        if prov is not None:
            f.write(json.dumps(prov) + "\n")
        for k in order:
            f.write(json.dumps(rows[k]) + "\n")
    os.replace(tmp, dst)
    if errs:
        with open(dst[:-len(".jsonl")] + ".errors.jsonl", "a") as f:
            for o in errs:
                f.write(json.dumps(o) + "\n")
    return len(order), len(errs)


def place(tarball):
    with tempfile.TemporaryDirectory() as tmp:
        with tarfile.open(tarball) as t:
            t.extractall(tmp, filter="data")
        for dev in os.listdir(tmp):
            src = os.path.join(tmp, dev)
            dst = os.path.join(ROOT, "hw/calib/data", dev)
            raw = os.path.join(dst, "engines", "raw")
            os.makedirs(raw, exist_ok=True)
            for name in sorted(os.listdir(src)):
                p = os.path.join(src, name)
                e = engine_of(name)
                if e is not None:
                    n, bad = merge_engine(p, os.path.join(dst, "engines", e[0], e[1] + ".jsonl"))
                    print(f"{dev}: {e[0]}/{e[1]}: {n} batches, {bad} errors")
                elif name in TABLES:
                    shutil.copy(p, os.path.join(dst, name))
                    print(f"{dev}: {name}")
                elif os.path.isdir(p):
                    shutil.copytree(p, os.path.join(raw, name), dirs_exist_ok=True)
                else:
                    shutil.copy(p, os.path.join(raw, name))


def main():
    if len(sys.argv) < 2:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    for t in sys.argv[1:]:
        place(t)
    return 0


if __name__ == "__main__":
    sys.exit(main())
