#!/usr/bin/env bash
# scripts/soak.sh [OUT]: the long soak of issue 19 (docs/reliability.md#soak).
#
#  1. configs/bench.json (Poisson arrivals, four H100 replicas) at 1 M and
#     10 M requests: wall time and peak RSS of each; memory should be flat
#     (the same order at 10 M as at 1 M).
#  2. A week-long Azure-2024-style trace (TIMESTAMP with "+00:00",
#     ContextTokens, GeneratedTokens; 7 days at 8 requests/s, about
#     4.8 M rows, made here with awk) gzip-compressed, and its first day
#     alone: `llmsim trace stats` and `llmsim run` over each, streamed from
#     the .gz; the week's peak RSS against the day's shows whether the
#     trace is held in memory.
# Prints one line per measurement: what, rows, seconds, peak RSS in MB.
# Peak RSS is GNU time's "Maximum resident set size" (/usr/bin/time -v),
# else the last VmHWM read from /proc while the process ran.  Takes about
# 5 minutes on one core; needs 2 GB of memory and 200 MB of disk in OUT
# (default out/soak).  Run it alone: timings share the machine.
# SOAK_SIZES (default "1000000 10000000") and SOAK_RATE (requests/s of the
# week, default 8) shrink it for a quick check of the script itself.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-out/soak}
bin=./build/llmsim
mkdir -p "$out"
[ -x "$bin" ] || make build/llmsim >/dev/null

# peak CMD...: runs CMD, prints "SECONDS PEAK_MB"; fails if CMD fails.
peak() {
    local t0 t1 kb
    t0=$(date +%s.%N)
    if [ -x /usr/bin/time ]; then
        /usr/bin/time -v "$@" > "$out/cmd.out" 2> "$out/time.err" || {
            tail -n 30 "$out/time.err" >&2; return 1; }
        kb=$(awk -F': ' '/Maximum resident set size/ {print $2}' \
             "$out/time.err")
    else
        "$@" > "$out/cmd.out" 2> "$out/time.err" &
        local pid=$! hwm
        kb=0
        while kill -0 "$pid" 2>/dev/null; do
            hwm=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status" 2>/dev/null \
                  || true)
            [ -n "$hwm" ] && kb=$hwm
            sleep 0.1
        done
        wait "$pid" || { tail -n 30 "$out/time.err" >&2; return 1; }
    fi
    t1=$(date +%s.%N)
    awk -v a="$t0" -v b="$t1" -v k="$kb" \
        'BEGIN { printf "%.1f %.1f\n", b - a, k / 1024 }'
}

report() {  # report WHAT ROWS "SECONDS MB"
    set -- "$1" "$2" $3
    printf '%-44s %10s rows %8s s %8s MB peak RSS\n' "$1" "$2" "$3" "$4"
}

for n in ${SOAK_SIZES:-1000000 10000000}; do
    r=$(peak "$bin" run configs/bench.json --out "$out/bench-$n" \
        --set workload.num_requests=$n)
    report "run configs/bench.json (4 replicas)" $n "$r"
done

# An Azure 2024 week: $rate req/s with a daily swing (x0.5 .. x1.5), lengths
# from a fixed LCG, so the file is the same on every machine.
rate=${SOAK_RATE:-8}
week=$out/azure2024_week_$rate.csv.gz
day=$out/azure2024_day_$rate.csv.gz
if [ ! -f "$week" ]; then
    awk -v r="$rate" 'BEGIN {
        print "TIMESTAMP,ContextTokens,GeneratedTokens";
        s = 12345; t = 0; start = 1715558400;   # 2024-05-13 00:00:00 UTC
        while (t < 7 * 86400) {
            rate = r * (1 + 0.5 * sin(2 * 3.14159265 * t / 86400));
            s = (s * 1103515245 + 12345) % 2147483648;
            t += -log((s + 1) / 2147483649) / rate;
            s = (s * 1103515245 + 12345) % 2147483648; ctx = 20 + s % 4000;
            s = (s * 1103515245 + 12345) % 2147483648; gen = 1 + s % 600;
            sec = int(t); us = int((t - sec) * 1e6);
            printf "%s.%06d+00:00,%d,%d\n",
                strftime("%Y-%m-%d %H:%M:%S", start + sec, 1), us, ctx, gen;
        }
    }' | gzip -1 > "$week"
fi
[ -f "$day" ] || zcat "$week" | awk -F, 'NR == 1 || $1 < "2024-05-14"' |
    gzip -1 > "$day"
rows_week=$(($(zcat "$week" | wc -l) - 1))
rows_day=$(($(zcat "$day" | wc -l) - 1))
printf 'trace: %s (%d rows, %s), %s (%d rows)\n' "$week" "$rows_week" \
    "$(du -h "$week" | cut -f1)" "$day" "$rows_day"

for f in "$day" "$week"; do
    rows=$rows_day; [ "$f" = "$week" ] && rows=$rows_week
    r=$(peak "$bin" trace stats "$f" --type azure)
    report "trace stats $(basename "$f")" "$rows" "$r"
    r=$(peak "$bin" run configs/bench.json --out "$out/run-$(basename "$f")" \
        --set 'workload={"type": "azure", "path": "'"$f"'"}' \
        --set hardware.num_gpus=8)
    report "run $(basename "$f") (8 replicas)" "$rows" "$r"
done
