#!/bin/sh
# scripts/reproduce_disagg.sh: per-GPU goodput of DistServe-style
# disaggregation against colocated vLLM (docs/validation.md,
# "Disaggregation (issue 10)").  For each config, raises the Poisson rate
# until fewer than 90% of requests meet both SLOs (DistServe's goodput
# definition) and prints the highest passing rate per GPU.
set -eu
BIN=${LLMSIM_BIN:-./build/llmsim}
OUT=${OUT:-out/disagg}
for cfg in distserve_llama2_13b_a100_colocated:1 distserve_llama2_13b_a100:3; do
    name=${cfg%%:*}; gpus=${cfg##*:}; best=0
    for rate in 0.5 1 1.5 2 2.5 3 3.5 4 4.5 5 5.5 6 7 8 9 10 11 12 14 16; do
        "$BIN" run "configs/papers/disagg/$name.json" --quiet \
            --set "workload.rate=$rate" --out "$OUT/$name-$rate"
        att=$(sed -n 's/.*"slo_attainment":[[:space:]]*\([0-9.e-]*\).*/\1/p' \
              "$OUT/$name-$rate/summary.json" | head -1)
        if awk "BEGIN { exit !($att >= 0.9) }"; then best=$rate; fi
    done
    awk -v n="$name" -v b="$best" -v g="$gpus" \
        'BEGIN { printf "%s: %.2f req/s at >= 90%% SLO, %.3f req/s per GPU\n", n, b, b / g }'
done
