#!/usr/bin/env bash
# tests/fuzz/run.sh BUILD SECONDS [NAME...]: seeds, regressions, fuzzing.
#
# For each harness BUILD/fuzz_NAME (all of them when no NAME is given):
#  1. writes the seed corpus BUILD/seeds/NAME/ from the shipped configs and
#     traces plus tests/fuzz/corpus/NAME/ (the hand-picked seeds);
#  2. replays every file of tests/fuzz/regress/NAME/ (inputs that once
#     crashed) and every seed once;
#  3. fuzzes SECONDS seconds (libFuzzer -max_total_time), new inputs kept
#     in BUILD/corpus/NAME/, crashes in BUILD/artifacts/.
# Exits 1 on any crash, leak or timeout (libFuzzer exits non-zero), after
# printing one line per harness: executions, corpus size, verdict.
set -u
build=${1:?build dir}
secs=${2:?seconds}
shift 2
cd "$(dirname "$0")/../.."
names=("$@")
if [ ${#names[@]} -eq 0 ]; then
    for f in tests/fuzz/fuzz_*.c; do
        n=${f#tests/fuzz/fuzz_}; names+=("${n%.c}")
    done
fi

# One seed per file: first 40 lines of a trace, gzip'd or not (the shipped
# Azure file is 700 kB of text: its head shows the format, the fuzzer
# makes the rest).
# A seed file that is missing or empty fails the run (a moved data file
# once left the Azure harnesses without their shipped seed, silently).
head_seed() {
    zcat -f "$1" 2>/dev/null | head -n 40 > "$2"
    [ -s "$2" ] || { echo "fuzz: no seed from $1"; return 1; }
}

seed() {
    local n=$1 d=$build/seeds/$1 f i=0
    rm -rf "$d"; mkdir -p "$d"
    [ -d tests/fuzz/corpus/$n ] && cp tests/fuzz/corpus/$n/* "$d"/ 2>/dev/null
    case $n in
    config)
        for f in configs/*.json configs/*/*.json configs/*/*/*.json; do
            [ -f "$f" ] && cp "$f" "$d/$(echo "$f" | tr / _)"
        done ;;
    trace_azure2023)
        head_seed traces/data/AzureLLMInferenceTrace_conv.csv.gz \
            "$d/conv.csv" || return 1
        cp tests/data/traces/azure2023_crlf.csv "$d"/
        for f in configs/e2e/*_slice.csv; do
            head_seed "$f" "$d/${f##*/}" || return 1
        done ;;
    trace_azure2024) cp tests/data/traces/azure2024.csv "$d"/ ;;
    trace_burstgpt)  cp tests/data/traces/burstgpt.csv "$d"/ ;;
    trace_mooncake)  cp tests/data/traces/mooncake.jsonl "$d"/ ;;
    trace_csv)       cp tests/data/traces/generic.csv "$d"/ ;;
    trace_jsonl)     cp tests/data/traces/generic.jsonl "$d"/ ;;
    trace_gzip)
        for f in tests/data/traces/azure202*.csv; do
            gzip -9nc "$f" > "$d/${f##*/}.gz"
        done
        head_seed traces/data/AzureLLMInferenceTrace_conv.csv.gz \
            "$d/conv.csv" || return 1
        gzip -9n "$d/conv.csv" ;;
    step)
        for f in hw/calib/data/*/ref_*.jsonl; do
            grep -h '"batch"' "$f" | head -n 5 | while read -r line; do
                i=$((i + 1))
                # the batch object alone is a step line
                printf '%s\n' "$line" | sed 's/^{"batch": *//; s/, *"ms".*$//' \
                    > "$d/${f##*/}.$i"
            done
        done ;;
    calibrate)
        for f in hw/calib/data/*/ref_*.jsonl; do head -n 6 "$f" > "$d/${f##*/}"; done ;;
    sweep)  for f in configs/sweeps/*.json; do cp "$f" "$d"/; done ;;
    plan)   for f in configs/plans/*.json; do cp "$f" "$d"/; done ;;
    engine) for f in hw/engines/*.json; do cp "$f" "$d"/; done ;;
    esac
    return 0
}

# scratch files on tmpfs when there is one: the plot harness makes two
# SQLite files per input
if [ -z "${TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then
    export TMPDIR=/dev/shm
fi
fail=0
mkdir -p "$build/artifacts"
for n in "${names[@]}"; do
    bin=$build/fuzz_$n
    log=$build/fuzz_$n.log
    if [ ! -x "$bin" ]; then
        echo "fuzz $n: FAILED: $bin not built"; fail=1; continue
    fi
    if ! seed "$n"; then
        echo "fuzz $n: FAILED: seeds"; fail=1; continue
    fi
    mkdir -p "$build/corpus/$n"
    regress=()
    if [ -d tests/fuzz/regress/$n ]; then
        for f in tests/fuzz/regress/$n/*; do [ -f "$f" ] && regress+=("$f"); done
    fi
    if [ ${#regress[@]} -gt 0 ] &&
       ! "$bin" -timeout=10 -rss_limit_mb=2048 "${regress[@]}" > "$log" 2>&1; then
        echo "fuzz $n: FAILED replaying tests/fuzz/regress/$n (see $log)"
        tail -n 30 "$log"; fail=1; continue
    fi
    if "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
          -print_final_stats=1 -artifact_prefix="$build/artifacts/$n-" \
          "$build/corpus/$n" "$build/seeds/$n" >> "$log" 2>&1; then
        verdict=ok
    else
        verdict=FAILED; fail=1
    fi
    execs=$(grep -a 'stat::number_of_executed_units' "$log" | tail -n 1 |
            awk '{print $2}')
    echo "fuzz $n: $verdict: ${execs:-?} executions in ${secs} s," \
         "$(ls "$build/corpus/$n" | wc -l) corpus files," \
         "${#regress[@]} regressions replayed"
    if [ $verdict = FAILED ]; then
        grep -a -m 3 -E 'ERROR|SUMMARY|invariant|Test unit written' "$log"
    fi
done
exit $fail
