#!/bin/sh
# hw/calib/reference/e2e_campaign_v1.sh: issue 20's end-to-end runs on one GPU.
#
# usage, from anywhere, on a GPU machine (one call, under 10 minutes):
#   hw/calib/reference/e2e_campaign_v1.sh all     # the 12 runs (about 5 min predicted)
#   hw/calib/reference/e2e_campaign_v1.sh smoke   # 2 layers, 5 s of trace: the loop works
# OUT (environment; default out/) receives OUT/e2e-v1/<device>/*.jsonl.gz, one per run, and
# OUT/e2e_v1_<device>.tar.gz of them.  Commit the runs as hw/calib/data/e2e/<device>-v1/
# (llmsim validate-e2e holds each such folder to the targets).
#
# The runs: Llama-3-8B (random bf16 weights, the reference engine) served by serve.py's vLLM V1
# loop (CUDA graphs, padding, async scheduling; serve_v1.py) with the scenarios of
# configs/e2e/v1: the Azure conversation and code slices, each at three loads
# (rate_scale 1, 2, 3: light, moderate, near saturation as llmsim predicts it on H100:
# utilization 3%, 8%, 28% for conversation, 12%, 23%, 40% for code), with the vllm (V1)
# scheduler and with Sarathi's policy on the same engine.
#
# Budget: the slices are the first 30 s of issue 8's 60 s slices (cut with `llmsim trace gen
# configs/e2e/v1/slice_*.json`; 160 and 93 requests), so that all 12 runs fit one call:
# llmsim's prediction of the runs' spans is conversation 33 + 19 + 15 s and code 23 + 12 + 9 s
# per scheduler, 220 s in all, plus model load and graph capture (once: one process serves
# every config).  --time-limit 60 stops a run that overruns its prediction far (its file says
# how many requests never arrived); timeout stops the whole at 9 minutes, keeping the runs
# already written (each file is renamed into place only when complete).
set -e
cd "$(dirname "$0")/../../.."
what=${1:-all}
out=${OUT:-out}
dev=$(python3 -c "import sys; sys.path.insert(0, 'hw/calib/reference'); import kernels; print(kernels.device_slug())")
dir=$out/e2e-v1/$dev
mkdir -p "$dir"
case $what in
all)
    timeout --signal=INT 540 python3 hw/calib/reference/serve.py \
        --config configs/e2e/v1/conv_vllm.json --config configs/e2e/v1/code_vllm.json \
        --config configs/e2e/v1/conv_sarathi.json --config configs/e2e/v1/code_sarathi.json \
        --rate-scale 1 2 3 --time-limit 60 --out "$dir" ||
        echo "e2e_campaign_v1: serve.py stopped early ($?): the runs written are kept" >&2 ;;
smoke)
    python3 hw/calib/reference/serve.py --config configs/e2e/v1/conv_vllm.json \
        --config configs/e2e/v1/conv_sarathi.json --smoke --out "$dir-smoke"
    exit 0 ;;
*)
    echo "usage: $0 all|smoke (OUT=dir)" >&2; exit 2 ;;
esac
rm -f "$dir"/*.tmp
gzip -f "$dir"/*.jsonl 2>/dev/null || true
tar -czf "$out/e2e_v1_$dev.tar.gz" -C "$out/e2e-v1" "$dev"
ls -l "$dir" "$out/e2e_v1_$dev.tar.gz"
