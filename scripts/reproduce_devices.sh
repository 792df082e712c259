#!/usr/bin/env bash
# scripts/reproduce_devices.sh: the "Beyond GPUs (issue 11)" table of
# docs/validation.md, from configs/papers/devices/cases.tsv.
#
#   scripts/reproduce_devices.sh [--write-predicted]
#
# Each case is priced with `llmsim step --cost accel` (one JSON batch per
# line on stdin, the iteration time and joules on stdout): a decode step,
# a sequence decoding token by token, or a prompt prefilled in chunks.
# Prints a Markdown table (case, setting, reported, llmsim, error, role).
# --write-predicted rewrites the file's predicted column with this run's
# figures (through a temporary file), for tests/check_devices.c to hold
# the model to.  Needs build/llmsim (make) and awk; deterministic, a few
# seconds.
set -euo pipefail

cd "$(dirname "$0")/.."
BIN=${LLMSIM:-./build/llmsim}
CASES=configs/papers/devices/cases.tsv
WRITE=0
[ "${1:-}" = "--write-predicted" ] && WRITE=1

# One JSON batch per line for a case.
batches() {
    local kind=$1 a=$2 b=$3 i n
    case $kind in
    decode_step) echo "{\"decode\":[[$a,$b]]}" ;;
    decode_avg)
        for ((i = 0; i < b; i++)); do echo "{\"decode\":[[1,$((a + i))]]}"; done ;;
    prefill)
        if [ "$b" -eq 0 ]; then echo "{\"prefill\":[[$a,0]]}"; return; fi
        for ((i = 0; i < a; i += b)); do
            n=$((a - i < b ? a - i : b))
            echo "{\"prefill\":[[$n,$i]]}"
        done ;;
    esac
}

# Seconds and joules summed over a case's iterations: "S J".
run_case() {
    local kind=$1 dev=$2 model=$3 a=$4 b=$5
    batches "$kind" "$a" "$b" |
        "$BIN" step --hw "$dev" --model "$model" --cost accel |
        awk '{ if (match($0, /"ms":[0-9.eE+-]+/)) ms += substr($0, RSTART + 5, RLENGTH - 5) + 0;
               if (match($0, /"joules":[0-9.eE+-]+/)) j += substr($0, RSTART + 9, RLENGTH - 9) + 0 }
             END { printf "%.9g %.9g\n", ms / 1000, j }'
}

# The case's figure in its unit.
metric() {
    local kind=$1 unit=$2 a=$3 b=$4 s=$5 j=$6 tokens
    case $kind in
    decode_step) tokens=$a ;;
    decode_avg) tokens=$b ;;
    prefill) tokens=$a ;;
    esac
    case $unit in
    s) awk -v s="$s" 'BEGIN { printf "%.6g", s }' ;;
    tok/s) awk -v t="$tokens" -v s="$s" 'BEGIN { printf "%.6g", t / s }' ;;
    tok/J) awk -v t="$tokens" -v j="$j" 'BEGIN { printf "%.6g", (j > 0 ? t / j : 0) }' ;;
    esac
}

declare -A VALUE
TMP=$(mktemp "${CASES}.XXXXXX")
trap 'rm -f "$TMP"' EXIT
echo "| case | device | model | setting | reported | llmsim | error | role |"
echo "|---|---|---|---|---|---|---|---|"
while IFS= read -r line; do
    if [ -z "$line" ] || [ "${line:0:1}" = "#" ]; then
        echo "$line" >> "$TMP"
        continue
    fi
    IFS=$'\t' read -r id kind dev model a b unit reported role pred tol src <<< "$line"
    if [ "$kind" = ratio ]; then
        val=$(awk -v x="${VALUE[$dev]}" -v y="${VALUE[$model]}" 'BEGIN { printf "%.6g", x / y }')
        setting="$dev / $model"
    else
        read -r s j < <(run_case "$kind" "$dev" "$model" "$a" "$b")
        val=$(metric "$kind" "$unit" "$a" "$b" "$s" "$j")
        setting="$kind $a $b"
    fi
    VALUE[$id]=$val
    err=$(awk -v v="$val" -v r="$reported" 'BEGIN { if (r > 0) printf "%+.1f%%", (v / r - 1) * 100; else printf "n/a" }')
    echo "| $id | $dev | $model | $setting | $reported $unit | $val $unit | $err | $role |"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$id" "$kind" "$dev" \
        "$model" "$a" "$b" "$unit" "$reported" "$role" "$val" "$tol" "$src" >> "$TMP"
done < "$CASES"
if [ "$WRITE" = 1 ]; then
    mv "$TMP" "$CASES"
    trap - EXIT
fi
