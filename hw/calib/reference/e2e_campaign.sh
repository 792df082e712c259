#!/bin/sh
# hw/calib/reference/e2e_campaign.sh: the issue-8 end-to-end runs on the GPU machine
# (serve.py's eager loop; issue 20's vLLM V1 loop is e2e_campaign_v1.sh).
#
# usage (one GPU machine per call, each call < 10 min):
#   hw/calib/reference/e2e_campaign.sh conv  [OUT]   # conversation slice, both schedulers
#   hw/calib/reference/e2e_campaign.sh code  [OUT]   # code slice, both schedulers
#   hw/calib/reference/e2e_campaign.sh smoke [OUT]   # 2 layers, 10 s: checks the loop only
# OUT defaults to hw/calib/data/e2e/<device>/ (device from the GPU's name).  Each serve.py
# process loads Llama-3-8B once (random bf16 weights, ~30 s with warm-up) and serves its
# slice at three loads (rate_scale), writing one JSON-lines file per load.
#
# Budget, from llmsim's calibrated H100 prediction of each run's span (configs/e2e):
#   conv: x1 63 s, x2 35 s, x3 31 s = 129 s per scheduler  -> ~5 min with both + start-up
#   code: x1 38 s, x2 20 s, x4 13 s =  71 s per scheduler  -> ~3 min with both + start-up
# per GPU ~8 min; H100 + H200 ~16 GPU-minutes.  Loads: light, near saturation, overloaded
# (queues grow; preemptions with the 4096-block KV pool) as llmsim predicts them on H100.
# --time-limit stops a run that overruns its prediction by far (its file says how many
# requests never arrived; validate-e2e then reports them).
set -e
cd "$(dirname "$0")/../../.."
what=${1:-smoke}
dev=$(python3 -c "import torch,sys; sys.path.insert(0,'hw/calib/reference'); import kernels; print(kernels.device_slug())")
out=${2:-hw/calib/data/e2e/$dev}
mkdir -p "$out"
case $what in
conv)
    for s in vllm sarathi; do
        python3 hw/calib/reference/serve.py --engine-mode eager \
            --config configs/e2e/conv_$s.json \
            --rate-scale 1 2 3 --time-limit 150 --out "$out"
    done ;;
code)
    for s in vllm sarathi; do
        python3 hw/calib/reference/serve.py --engine-mode eager \
            --config configs/e2e/code_$s.json \
            --rate-scale 1 2 4 --time-limit 100 --out "$out"
    done ;;
smoke)
    python3 hw/calib/reference/serve.py --engine-mode eager \
        --config configs/e2e/conv_sarathi.json \
        --layers 2 --rate-scale 4 --time-limit 10 --out "${2:-/tmp/e2e_smoke}" ;;
*)
    echo "usage: $0 conv|code|smoke [OUT]" >&2; exit 2 ;;
esac
