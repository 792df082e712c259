#!/bin/sh
# Table-lookup low-bit matmul (issue 21; hw/lut.h; docs/devices.md "Table
# lookup"): one engine model for TeLLMe's FPGA design, T-MAC's CPU
# kernels, LUT Tensor Core and SAIL.
#   1. T-MAC's measured decode on one CPU core (microsoft/T-MAC
#      docs/profiling_data.md: llama-bench, 128 tokens generated from an
#      empty context, Llama-2-7B at 2 and 4 bits): the lookup rate is
#      derived from the W2 figure of each device, the W4 figure checks the
#      bit-serial cost (one lookup per weight bit).
#   2. TeLLMe's KV260 figures through the same engine: unchanged from
#      before the engine was generalised (docs/validation.md, issue 11).
#   3. Table reuse: the share of an engine's cycles spent building tables
#      as the outputs sharing them (n) grow, the reason for LUT Tensor
#      Core's elongated tiles and SAIL's batched LUT-GEMV.
# Run from the repository root after `make` (a few seconds).
set -e
BIN=${LLMSIM:-./build/llmsim}
tps() {   # device dtype -> tokens/s over 128 decode steps from context 1
    i=1
    while [ $i -le 128 ]; do echo "{\"decode\":[[1,$i]]}"; i=$((i + 1)); done |
        "$BIN" step --hw "$1" --model llama-2-7b --cost accel --dtype "$2" |
        awk '{ if (match($0, /"ms":[0-9.eE+-]+/))
                   ms += substr($0, RSTART + 5, RLENGTH - 5) + 0 }
             END { printf "%.2f", 128000 / ms }'
}
echo "T-MAC, Llama-2-7B decode, one thread (tokens/s): paper / llmsim"
for d in "rpi5-a76-1t 4.40 2.42" "m2-ultra-pcore-1t 16.68 8.97"; do
    set -- $d
    w2=$(tps "$1" int2)
    w4=$(tps "$1" int4)
    echo "  $1: W2 $2 / $w2 (derive)   W4 $3 / $w4 (validate, $(awk -v a="$w4" -v b="$3" 'BEGIN { printf "%+.1f%%", 100 * (a / b - 1) }'))   W4/W2 $(awk -v a="$3" -v b="$2" 'BEGIN { printf "%.3f", a / b }') / $(awk -v a="$w4" -v b="$w2" 'BEGIN { printf "%.3f", a / b }')"
done
echo "TeLLMe on the KV260 through the generalised engine (docs/validation.md):"
scripts/reproduce_devices.sh | grep kv260_
echo "Table build share of a LUT GEMV's cycles vs outputs per table (k = 4096):"
python3 - <<'PY'
import math
# hw/lut.h: step = group x tables activations; build = g T / rate cycles;
# lookups = ceil(n / lanes) x planes cycles
engines = [("TeLLMe KV260 (g3 T28 L16, direct)", 3, 28, 16, 1, 1),
           ("T-MAC A76 (g4 T1 L6.46, 2 planes)", 4, 1, 6.46, 2, 1)]
for name, g, t, l, p, b in engines:
    row = []
    for n in (256, 1024, 4096, 16384):
        build = g * t / b
        look = math.ceil(n / l) * p
        row.append(f"n={n}: {100 * build / (build + look):4.1f}%")
    print(f"  {name}: " + ", ".join(row))
PY
