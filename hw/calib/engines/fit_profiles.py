#!/usr/bin/env python3
"""fit_profiles.py: the shipped engine profiles' per-device parameters, from the campaign.

usage: python3 hw/calib/engines/fit_profiles.py [--llmsim build/llmsim] [--write]

For each shipped profile with measurements (hw/calib/data/<device>/engines/<profile>/llama-3-8b.jsonl),
runs `llmsim calibrate --model llama-3-8b --hw <device> --engine <profile> --fixed-structure` on
every measured batch of that engine (the structure is the engine's own, known from its source) and
prints the fitted parameters.  --write stores them as the profile's
"devices": {"<device>": {"params": ..., "calibration": ...}}.  Stdlib only.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..")
PROFILES = ("reference", "pytorch-unfused", "pytorch-unfused-eager", "vllm-triton", "sglang-triton")


def fit(llmsim, dev, prof, data):
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "fit.json")
        with open(data) as f:
            r = subprocess.run([llmsim, "calibrate", "--model", "llama-3-8b", "--hw", dev,
                                "--engine", prof, "--fixed-structure", "--out", out,
                                "--quiet"],
                               stdin=f, capture_output=True, text=True)
        if r.returncode != 0:
            return None, r.stderr.strip()
        return json.load(open(out)), r.stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--llmsim", default=os.path.join(ROOT, "build", "llmsim"))
    ap.add_argument("--write", action="store_true")
    a = ap.parse_args()
    data_root = os.path.join(ROOT, "hw/calib/data")
    for prof in PROFILES:
        path = os.path.join(ROOT, "hw/engines", prof + ".json")
        doc = json.load(open(path))
        changed = False
        for dev in sorted(os.listdir(data_root)):
            data = os.path.join(data_root, dev, "engines", prof, "llama-3-8b.jsonl")
            if not os.path.exists(data):
                continue
            got, text = fit(a.llmsim, dev, prof, data)
            print(f"== {prof} on {dev}")
            print(text)
            if got is None:
                continue
            if prof == "reference" or not a.write:
                continue
            doc.setdefault("devices", {})[dev] = {"params": got["params"],
                                                 "calibration": got["calibration"]}
            changed = True
        if changed:
            tmp = path + ".tmp"
            with open(tmp, "w") as f:
                json.dump(doc, f, indent=2)
                f.write("\n")
            os.replace(tmp, path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
