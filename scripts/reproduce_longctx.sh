#!/bin/sh
# Long-context peak analysis (PAPERS.md 18, arXiv 2405.08944; docs/validation.md):
# Yi-34B on one A100-80GB at 4K and 50K tokens of context, paper vs llmsim.
# The paper's figures are a theoretical peak analysis: prefill at the
# datasheet's 312 TFLOPS, concurrency = (HBM - weights) / one user's KV.
# llmsim prints both its roofline (the paper's method) and the device's
# default cost model, and both concurrency counts (HBM - weights, and
# vLLM's memory plan at gpu_memory_utilization 0.9).  Run after `make`.
# Usage: scripts/reproduce_longctx.sh [MODEL DEVICE]
set -e
model=${1:-yi-34b}
hw=${2:-a100-sxm-80gb}
./build/llmsim memory --model "$model" --hw "$hw" --context-sweep 4096,50000
json=$(./build/llmsim memory --model "$model" --hw "$hw" --json \
       --context-sweep 4096,50000)
python3 - "$json" <<'PY'
import json, sys
r = {o["context"]: o for o in map(json.loads, sys.argv[1].splitlines())}
a, b = r[4096], r[50000]
w = "%-22s %8s %24s %24s"
print()
print(w % ("figure (" + a["model"] + ")", "paper", "llmsim, paper's method",
           "llmsim, as served"))
print(w % ("", "", "(roofline; HBM-weights)",
           "(%s; vLLM plan 0.9)" % a["cost_model"]))
for what, p, x, y in (
        ("prefill at 4K (s)", "0.89", a["prefill_s_roofline"], a["prefill_s"]),
        ("prefill at 50K (s)", "14.1", b["prefill_s_roofline"], b["prefill_s"]),
        ("users at 4K", "~20", a["users_hbm"], a["users_vllm"]),
        ("users at 50K", "1", b["users_hbm"], b["users_vllm"])):
    f = lambda v: "%.2f" % v if isinstance(v, float) else str(v)
    print(w % (what, p, f(x), f(y)))
PY
