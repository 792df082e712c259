#!/bin/sh
# scripts/sensitivity_scan.sh: where small iteration-time errors explode
# (issue 20; docs/validation.md, "Saturation").  Runs the e2e scenarios
# (configs/e2e/v1, vLLM V1 on one H100, calibrated cost model) on the 30 s
# and 60 s Azure slices over a range of loads, each with --sensitivity, and
# prints utilization against the elasticity of TTFT p90 (its relative change
# for iteration times +3%, divided by 3%).  It is how RUN_UTILIZATION_WARN
# (run/run.h) was chosen.  About a minute on one core; needs python3.
#
#   scripts/sensitivity_scan.sh [OUTDIR]        (default out/sensitivity_scan)
set -e
cd "$(dirname "$0")/.."
out=${1:-out/sensitivity_scan}
mkdir -p "$out"
echo "slice scheduler rate_scale utilization busy ttft_p90_ms elasticity"
for len in 30 60; do
    for sl in conv code; do
        path=configs/e2e/v1/${sl}_slice.csv
        [ "$len" = 60 ] && path=configs/e2e/${sl}_slice.csv
        for s in vllm sarathi; do
            for x in 0.5 1 1.5 2 2.5 3 4 6; do
                d="$out/${sl}${len}_${s}_x$x"
                ./build/llmsim run configs/e2e/v1/${sl}_$s.json --quiet \
                    --sensitivity --out "$d" --set workload.path="$path" \
                    --set workload.rate_scale="$x"
                python3 -c "import json; s = json.load(open('$d/summary.json'))
print('${sl}${len} $s $x %.3f %.3f %.0f %.2f' % (s['utilization'],
      s['busy_fraction'], s['ttft_ms']['p90'],
      s['sensitivity']['ttft_p90_change'] / 0.03))"
            done
        done
    done
done
