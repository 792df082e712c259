#!/bin/sh
# Attention offloading (issue 9): InstInfer vs FlexGen-style SSD
# offloading and Lamina's per-dollar comparison (docs/validation.md).
# Prints output tokens/s and, for Lamina, per dollar-hour of the catalog's
# illustrative prices.  Run from the repository root after `make`.
set -e
out=${1:-out/offload}
run() { ./build/llmsim run "configs/papers/offload/$1.json" --out "$out/$1" \
        > "$out/$1.log"; }
tps() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))\
['throughput_out_tok_s'])" "$out/$1/summary.json"; }
mkdir -p "$out"
for c in instinfer_13b_csd flexgen_13b_ssd a6000_13b_gpu \
         lamina_13b_h100_only lamina_13b_h100_a100 lamina_13b_h100_h200; do
    run $c
done
i=$(tps instinfer_13b_csd); f=$(tps flexgen_13b_ssd); g=$(tps a6000_13b_gpu)
h=$(tps lamina_13b_h100_only); a=$(tps lamina_13b_h100_a100)
x=$(tps lamina_13b_h100_h200)
python3 - "$i" "$f" "$g" "$h" "$a" "$x" <<'PY'
import sys
i, f, g, h, a, x = map(float, sys.argv[1:])
print(f"InstInfer {i:.2f} vs FlexGen {f:.2f} out tok/s: {i / f:.2f}x "
      f"(A6000 alone {g:.1f})")
# catalog price_per_hour_usd: h100 2.99, a100 1.79, h200 3.79
for name, t, usd in (("H100 alone", h, 2.99), ("H100 + A100", a, 4.78),
                     ("H100 + H200", x, 6.78)):
    print(f"{name}: {t:.1f} out tok/s, {t / usd:.1f} per $/h, "
          f"{(t / usd) / (h / 2.99):.2f}x the H100 alone")
PY
