#!/usr/bin/env bash
# scripts/compare_outputs.sh: runs a fixed list of short scenarios with a
# base binary (built from a git ref: by default where this branch left
# main, git merge-base main HEAD) and with this tree's
# build/llmsim, and compares what each wrote: summary.json byte for byte,
# and results.sqlite table by table (sqlite3 .dump of every table, the
# runs table's start_time masked: it is the wall clock).  The iterations
# rows are compared as `SELECT * FROM iterations` prints them, so a table
# and a view over another storage compare equal when they hold the same
# rows (issue 24).
#
#   scripts/compare_outputs.sh [--base-ref REF] [--base-bin BIN]
#                              [--new-bin BIN] [--keep DIR]
#
# The base is built once per commit in ${TMPDIR:-/tmp}/llmsim-base-<sha>
# (git archive + make; a minute on two cores).  Run it from the
# repository root before a commit that could change outputs.  Prints one
# line per scenario (same / DIFFERS and which file) and the first lines of
# each difference; exits 1 if any scenario differs or fails.  Needs
# sqlite3 and cmp.
set -u

base_ref=
base_bin=
new_bin=./build/llmsim
keep=
while [ $# -gt 0 ]; do
    case "$1" in
    --base-ref) base_ref=$2; shift 2 ;;
    --base-bin) base_bin=$2; shift 2 ;;
    --new-bin) new_bin=$2; shift 2 ;;
    --keep) keep=$2; shift 2 ;;
    *) echo "usage: $0 [--base-ref REF] [--base-bin BIN] [--new-bin BIN]" \
            "[--keep DIR]" >&2; exit 2 ;;
    esac
done

# Short scenarios (each under a second), with the overrides that make
# them exercise more of the output: iteration rows, several replicas,
# other schedulers, rejected requests, tiers, pools, engine profiles
# (vLLM's decode launch model), power capping, speculative decoding.
scenarios=(
    "configs/default.json"
    "configs/default.json --set scheduler.name=sarathi"
    "configs/default.json --set output.iterations=false"
    "configs/default.json --set workload.limit=3000 --set hardware.num_gpus=2 --set router.name=least_tokens"
    "configs/default.json --set workload.limit=2000 --set hardware.kv_blocks=1500"
    "configs/default.json --set workload.limit=2000 --set hardware.kv_blocks=2000 --set scheduler.name=vllm-v0 --set scheduler.preemption=swap"
    "configs/papers/fastgen_llama2_70b_a100.json --set output.iterations=true"
    "configs/papers/fastgen_llama2_70b_a100_azure.json"
    "configs/papers/sarathi_mistral7b_a100.json --set output.iterations=true"
    "configs/papers/devices/flightllm_u280.json"
    "configs/papers/disagg/distserve_llama2_13b_a100.json --set output.iterations=true"
    "configs/papers/disagg/distserve_llama2_13b_a100_colocated.json"
    "configs/papers/disagg/semipd_llama2_13b_a100.json"
    "configs/papers/disagg/splitwise_llama2_70b_a100_baseline.json"
    "configs/papers/disagg/splitwise_llama2_70b_h100_a100.json"
    "configs/papers/kv/mooncake_conv_prefix.json"
    "configs/papers/kv/mooncake_conv_tiered.json"
    "configs/papers/kv/streaming_llm_8b.json"
    "configs/papers/offload/a6000_13b_gpu.json"
    "configs/papers/offload/flash_7b_aware.json"
    "configs/papers/offload/flexgen_13b_ssd.json"
    "configs/papers/offload/instinfer_13b_csd.json"
    "configs/papers/offload/lamina_13b_h100_a100.json"
    "configs/e2e/code_sarathi.json"
    "configs/e2e/conv_vllm.json"
    "configs/default.json --engine vllm-triton --set workload.limit=5000"
    "configs/default.json --engine flashdecoding-pp --set workload.limit=5000"
    "configs/papers/polca/row.json"
    "configs/papers/spec/eagle_llama31_8b_h100.json"
    "configs/papers/flexllm/coserve.json"
)

if [ -z "$base_bin" ]; then
    [ -n "$base_ref" ] || base_ref=$(git merge-base main HEAD) || exit 2
    sha=$(git rev-parse --verify "$base_ref^{commit}") || exit 2
    bdir=${TMPDIR:-/tmp}/llmsim-base-$sha
    if [ ! -x "$bdir/build/llmsim" ]; then
        echo "building $base_ref ($sha) in $bdir"
        rm -rf "$bdir" && mkdir -p "$bdir" &&
            git archive "$sha" | tar -x -C "$bdir" &&
            make -C "$bdir" -j2 build/llmsim >"$bdir.log" 2>&1 ||
            { echo "base build failed: see $bdir.log" >&2; exit 1; }
    fi
    base_bin=$bdir/build/llmsim
fi

work=${keep:-$(mktemp -d)}
mkdir -p "$work"

# Every table's rows (.dump), the iterations as a query shows them, the
# start time masked.
normalize() {
    local db=$1 t
    for t in $(sqlite3 "$db" "SELECT name FROM sqlite_master WHERE type =
                 'table' AND name NOT LIKE 'iteration%' ORDER BY name"); do
        sqlite3 "$db" ".dump $t"
    done | sed -E "s/'[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z'/'<start_time>'/"
    echo "-- iterations"
    sqlite3 -quote "$db" "SELECT * FROM iterations" 2>&1
}

status=0
i=0
for s in "${scenarios[@]}"; do
    i=$((i + 1))
    d="$work/s$i"
    # shellcheck disable=SC2086  # the scenario line is words on purpose
    "$base_bin" run $s --out "$d/base" --quiet >"$d.base.log" 2>&1 ||
        { echo "s$i FAILED (base): $s"; status=1; continue; }
    # shellcheck disable=SC2086
    "$new_bin" run $s --out "$d/new" --quiet >"$d.new.log" 2>&1 ||
        { echo "s$i FAILED (new): $s"; cat "$d.new.log"; status=1; continue; }
    what=
    cmp -s "$d/base/summary.json" "$d/new/summary.json" ||
        what="$what summary.json"
    normalize "$d/base/results.sqlite" >"$d/base.sql"
    normalize "$d/new/results.sqlite" >"$d/new.sql"
    cmp -s "$d/base.sql" "$d/new.sql" || what="$what results.sqlite"
    if [ -z "$what" ]; then
        echo "s$i same: $s"
    else
        echo "s$i DIFFERS ($what ): $s"
        diff "$d/base/summary.json" "$d/new/summary.json" | head -8
        diff "$d/base.sql" "$d/new.sql" | head -8
        status=1
    fi
done
[ -z "$keep" ] && rm -rf "$work"
exit $status
