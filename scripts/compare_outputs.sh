#!/usr/bin/env bash
# scripts/compare_outputs.sh: runs a fixed list of short scenarios and
# commands with a base binary (built from a git ref: by default where this
# branch left main, git merge-base main HEAD) and with this tree's
# build/llmsim, and compares everything each wrote:
#   - runs (`llmsim run ... --format vllm`): stdout (the printed summary),
#     stderr, summary.json and vllm.json byte for byte, and results.sqlite
#     table by table (sqlite3 .dump of every table, the runs table's
#     start_time masked: it is the wall clock; the iterations rows as
#     `SELECT * FROM iterations` prints them, so a table and a view over
#     another storage compare equal when they hold the same rows, issue 24);
#   - commands (validate, validate-engines, validate-e2e, sweep, plan,
#     plot, memory, step, trace, disagg-search): stdout, stderr and every
#     file the command wrote under its output folder (SQLite files dumped,
#     wall-clock columns and per-point timings masked; PNG files skipped).
# Both binaries run from the repository root with LLMSIM_ROOT set to it
# (the same catalogs and tables, and the same paths in messages), each
# into the same scratch folder in turn, so paths in outputs agree.
#
#   scripts/compare_outputs.sh [--base-ref REF] [--base-bin BIN]
#                              [--new-bin BIN] [--keep DIR] [--only N,...]
#
# The base is built once per commit in ${TMPDIR:-/tmp}/llmsim-base-<sha>
# (git archive + make; a minute on two cores).  Run it from the
# repository root before a commit that could change outputs.  Prints one
# line per case (same / DIFFERS and which file) and the first lines of
# each difference; exits 1 if any case differs or fails.  Needs sqlite3
# and cmp.
set -u

base_ref=
base_bin=
new_bin=./build/llmsim
keep=
only=
while [ $# -gt 0 ]; do
    case "$1" in
    --base-ref) base_ref=$2; shift 2 ;;
    --base-bin) base_bin=$2; shift 2 ;;
    --new-bin) new_bin=$2; shift 2 ;;
    --keep) keep=$2; shift 2 ;;
    --only) only=",$2,"; shift 2 ;;
    *) echo "usage: $0 [--base-ref REF] [--base-bin BIN] [--new-bin BIN]" \
            "[--keep DIR] [--only N,...]" >&2; exit 2 ;;
    esac
done

# Short scenarios (each under a second), with the overrides that make
# them exercise more of the output: iteration rows, several replicas,
# other schedulers, rejected requests, tiers, pools, engine profiles
# (vLLM's decode launch model), power capping, speculative decoding.
scenarios=(
    "configs/default.json"
    "configs/default.json --set scheduler.name=sarathi"
    "configs/default.json --set scheduler.name=vllm-v0 --set workload.limit=5000"
    "configs/default.json --set output.iterations=false"
    "configs/default.json --set workload.limit=3000 --set hardware.num_gpus=2 --set router.name=least_tokens"
    "configs/default.json --set workload.limit=2000 --set hardware.kv_blocks=1500"
    "configs/default.json --set workload.limit=2000 --set hardware.kv_blocks=2000 --set scheduler.name=vllm-v0 --set scheduler.preemption=swap"
    "configs/default.json --set workload.limit=1000 --sensitivity"
    "configs/bench.json --set workload.num_requests=20000"
    "configs/papers/fastgen_llama2_70b_a100.json --set output.iterations=true"
    "configs/papers/fastgen_llama2_70b_a100_azure.json"
    "configs/papers/fastgen_llama2_70b_a100_clients.json"
    "configs/papers/fair_two_tenants.json"
    "configs/papers/sarathi_mistral7b_a100.json --set output.iterations=true"
    "configs/papers/devices/flightllm_u280.json"
    "configs/papers/disagg/distserve_llama2_13b_a100.json --set output.iterations=true"
    "configs/papers/disagg/distserve_llama2_13b_a100_colocated.json"
    "configs/papers/disagg/distserve_opt13b_a100.json"
    "configs/papers/disagg/semipd_llama2_13b_a100.json"
    "configs/papers/disagg/semipd_llama3_8b_a100.json"
    "configs/papers/disagg/splitwise_llama2_70b_a100_baseline.json"
    "configs/papers/disagg/splitwise_llama2_70b_h100_a100.json"
    "configs/papers/kv/mooncake_conv_prefix.json --set cost_model.shared_prefix_attention=true"
    "configs/papers/kv/mooncake_conv_prefix.json"
    "configs/papers/kv/mooncake_conv_tiered.json"
    "configs/papers/kv/streaming_llm_8b.json"
    "configs/papers/cacheblend/blend.json"
    "configs/papers/cacheblend/prefix.json"
    "configs/papers/offload/a6000_13b_gpu.json"
    "configs/papers/offload/flash_7b_aware.json"
    "configs/papers/offload/flexgen_13b_ssd.json"
    "configs/papers/offload/instinfer_13b_csd.json"
    "configs/papers/offload/lamina_13b_h100_a100.json"
    "configs/e2e/code_sarathi.json"
    "configs/e2e/code_vllm.json"
    "configs/e2e/conv_vllm.json"
    "configs/default.json --engine vllm-triton --set workload.limit=5000"
    "configs/default.json --engine flashdecoding-pp --set workload.limit=5000"
    "configs/papers/polca/row.json"
    "configs/papers/spec/eagle_llama31_8b_h100.json"
    "configs/papers/spec/draft_llama31_8b_h100.json"
    "configs/papers/spec/rsd_qwen25_14b_h100.json"
    "configs/papers/spec/mirror_qwen25_14b_h100_910b.json"
    "configs/papers/flexllm/coserve.json"
)

# Commands other than run; @OUT@ is the scratch output folder, @TMP@ the
# folder of the small sweep, plan, trace and batch files below, @WORK@ the
# work folder (base-run/: the first scenario's outputs, base binary's).
commands=(
    "validate"
    "validate --cost roofline"
    "validate-engines"
    "validate-e2e hw/calib/data/e2e --plots @OUT@"
    "sweep @TMP@/sweep.json --out @OUT@"
    "sweep @TMP@/sweep.json --out @OUT@ -j 2"
    "plan @TMP@/plan.json --out @OUT@"
    "plot @WORK@/base-run/results.sqlite --out @OUT@"
    "memory --model llama-3-8b --hw h100-sxm-80gb"
    "memory --model llama-2-13b --hw a100-sxm-80gb --tp 2 --context-sweep 4096,50000 --json"
    "step --model llama-3-8b --hw h100-sxm-80gb < @TMP@/batches.jsonl"
    "step --model llama-3-8b --hw h100-sxm-80gb --engine vllm-triton < @TMP@/batches.jsonl"
    "trace stats tests/data/traces/azure2024.csv"
    "trace gen @TMP@/gen.json --out @OUT@/t.csv"
    "disagg-search configs/papers/disagg/distserve_opt13b_a100.json --max-gpus 4 --tp 1,2"
    "run configs/nosuch.json"
    "run configs/default.json --set scheduler.name=orca2"
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
case "$base_bin" in /*) ;; *) base_bin=$PWD/$base_bin ;; esac
case "$new_bin" in /*) ;; *) new_bin=$PWD/$new_bin ;; esac
export LLMSIM_ROOT=$PWD

work=${keep:-$(mktemp -d)}
mkdir -p "$work"
tmp=$work/inputs
mkdir -p "$tmp"
cat >"$tmp/sweep.json" <<'EOF'
{
  "name": "arch-sweep",
  "base": "configs/default.json",
  "set": { "workload.limit": 400, "output.iterations": false },
  "params": { "scheduler.name": ["vllm", "sarathi"],
              "workload.rate_scale": [1, 4] },
  "seeds": [1, 2],
  "jobs": 1
}
EOF
cat >"$tmp/plan.json" <<'EOF'
{
  "name": "arch-plan",
  "base": "configs/default.json",
  "set": {
    "workload": { "type": "poisson", "rate": 1, "num_requests": 150,
                  "prompt": { "dist": "uniform", "min": 64, "max": 1024 },
                  "output": { "dist": "uniform", "min": 8, "max": 256 } },
    "output.iterations": false
  },
  "candidates": { "hardware.device": ["h100-sxm-80gb", "a100-sxm-80gb"] },
  "seeds": [1, 2],
  "slo": { "ttft_ms": 500, "tpot_ms": 50, "percentile": 90,
           "attainment": 0.99 },
  "target_req_s": 10,
  "search": { "start": 4, "rel_tol": 0.1 },
  "jobs": 1
}
EOF
cat >"$tmp/gen.json" <<'EOF'
{ "name": "arch-gen", "seed": 3,
  "workload": { "type": "poisson", "rate": 3, "num_requests": 500,
                "prompt": { "dist": "empirical", "type": "azure",
                            "column": "prompt",
                            "path": "traces/data/AzureLLMInferenceTrace_conv.csv.gz" },
                "output": { "dist": "uniform", "min": 1, "max": 400 } } }
EOF
cat >"$tmp/batches.jsonl" <<'EOF'
{"prefill": [[512, 0]], "decode": [[32, 2000]]}
{"prefill": [[8000, 0]]}
{"decode": [[256, 1024]]}
{"prefill": [[128, 4096]], "decode_ctx": [100, 2000, 30000]}
{"bad": 1}
EOF

# Every table's rows (.dump), the iterations as a query shows them, the
# wall clock masked (a run's start time; a sweep point's finish and wall
# seconds).
normalize() {
    local db=$1 t
    for t in $(sqlite3 "$db" "SELECT name FROM sqlite_master WHERE type =
                 'table' AND name NOT LIKE 'iteration%' ORDER BY name"); do
        # with -j, rows in content order: points are recorded as they
        # finish
        if [ "${parallel:-0}" = 1 ]; then
            sqlite3 "$db" ".dump $t" | LC_ALL=C sort
        else
            sqlite3 "$db" ".dump $t"
        fi
    done | sed -E -e "s/'[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z',[0-9.e-]+,/'<finished>',<wall_s>,/g" \
                  -e "s/'[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z'/'<start_time>'/"
    if sqlite3 "$db" "SELECT 1 FROM sqlite_master WHERE name = 'iterations'" |
       grep -q 1; then
        echo "-- iterations"
        sqlite3 -quote "$db" "SELECT * FROM iterations" 2>&1
    fi
}

# Per-point wall times in a sweep's or plan's progress lines; with -j
# (points finish in any order) the progress counters too, and the lines
# sorted.
mask_log() {
    if [ "$parallel" = 1 ]; then
        sed -E -e 's/(seed [0-9]+): [0-9.]+ s$/\1: <wall> s/' \
            -e 's/^\[[0-9]+\//[#\//' "$1" | LC_ALL=C sort
    else
        sed -E -e 's/(seed [0-9]+): [0-9.]+ s$/\1: <wall> s/' "$1"
    fi
}

# Compares folder $1 (base) with $2 (new): SQLite files by their
# normalized dump, PNG files not at all, every other file byte for byte.
# Prints the differing names.
compare_dirs() {
    local a=$1 b=$2 f rel
    (cd "$a" && find . -type f | sort) >"$work/files.a"
    (cd "$b" && find . -type f | sort) >"$work/files.b"
    cmp -s "$work/files.a" "$work/files.b" || echo " file-list"
    while read -r rel; do
        f=${rel#./}
        [ -f "$b/$f" ] || continue
        case "$f" in
        *.png) ;;
        *.sqlite)
            normalize "$a/$f" >"$work/a.sql"
            normalize "$b/$f" >"$work/b.sql"
            cmp -s "$work/a.sql" "$work/b.sql" || echo " $f" ;;
        *) cmp -s "$a/$f" "$b/$f" || echo " $f" ;;
        esac
    done <"$work/files.a"
}

# Runs one command line ($2: its words, placeholders substituted) with
# binary $1 into $work/out; leaves stdout, stderr and the status in
# $work/out.{stdout,stderr,rc}.  (@OUT@, @TMP@, @WORK@: see commands.)
run_one() {
    local bin=$1 line=$2
    rm -rf "$work/out" && mkdir -p "$work/out"
    line=${line//@OUT@/$work/out}
    line=${line//@TMP@/$tmp}
    line=${line//@WORK@/$work}
    # shellcheck disable=SC2086  # the case line is words on purpose
    eval "\"$bin\" $line" >"$work/out.stdout" 2>"$work/out.stderr"
    echo $? >"$work/out.rc"
}

# Runs case $2 (label $1) with both binaries and compares what they left.
compare_case() {
    local label=$1 line=$2 d=$work/$1 what v
    parallel=0
    case " $line " in *" -j "*) parallel=1 ;; esac
    rm -rf "$d" && mkdir -p "$d"
    for v in base new; do
        if [ $v = base ]; then run_one "$base_bin" "$line"
        else run_one "$new_bin" "$line"; fi
        mv "$work/out" "$d/$v"
        mv "$work/out.rc" "$d/$v.rc"
        mask_log "$work/out.stdout" >"$d/$v.stdout"
        mask_log "$work/out.stderr" >"$d/$v.stderr"
    done
    what=
    cmp -s "$d/base.rc" "$d/new.rc" || what="$what exit-status"
    cmp -s "$d/base.stdout" "$d/new.stdout" || what="$what stdout"
    cmp -s "$d/base.stderr" "$d/new.stderr" || what="$what stderr"
    what="$what$(compare_dirs "$d/base" "$d/new" | tr -d '\n')"
    if [ -z "$what" ]; then
        echo "$label same (exit $(cat "$d/new.rc")): $line"
    else
        echo "$label DIFFERS ($what ): $line"
        diff "$d/base.stdout" "$d/new.stdout" | head -6
        diff "$d/base.stderr" "$d/new.stderr" | head -6
        status=1
    fi
}

status=0
i=0
# The plot case reads the first scenario's database: kept as base-run.
for s in "${scenarios[@]}"; do
    i=$((i + 1))
    case "$only" in ""|*",s$i,"*) ;; *) continue ;; esac
    compare_case "s$i" "run $s --out @OUT@ --format vllm"
    [ "$i" = 1 ] && { rm -rf "$work/base-run"; cp -r "$work/s1/base" \
                      "$work/base-run"; }
done
i=0
for c in "${commands[@]}"; do
    i=$((i + 1))
    case "$only" in ""|*",c$i,"*) ;; *) continue ;; esac
    compare_case "c$i" "$c"
done
[ -z "$keep" ] && rm -rf "$work"
exit $status
