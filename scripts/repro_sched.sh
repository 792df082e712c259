#!/usr/bin/env bash
# scripts/repro_sched.sh: regenerates the numbers of docs/validation.md,
# section "Scheduling policies (issue 6)".
#
#   scripts/repro_sched.sh [OUTDIR]        (default out/repro_sched)
#
# Needs build/llmsim (make), jq and sqlite3.  Every run is deterministic
# (config + seed), so the report is the same on every machine; it takes a
# few minutes on one core.  Writes OUTDIR/report.md and one directory per
# run (results.sqlite, summary.json).
#
# "vllm" in the report is vLLM V0 (scheduler vllm-v0): the papers compared
# against V0, and these numbers were made with it before issue 20 made
# "vllm" vLLM V1.
#
# Experiments (configs in configs/papers/):
#  A. Sarathi-Serve capacity (PAPERS.md section 1): Mistral-7B on one A100,
#     the Azure conversation trace (first 2048 requests), arrival rate
#     scaled by workload.rate_scale.  Capacity = the highest rate whose
#     P99 time between tokens (ITL) is within the SLO and whose median
#     scheduling delay (first scheduled - arrival) is at most 2 s, the
#     criterion of sarathi-serve's capacity search
#     (sarathi/benchmark/capacity_search: P50 scheduling delay <= 2 s, P99
#     TBT <= SLO), found by bisection.  SLOs 0.1 s (strict) and 0.5 s
#     (relaxed); Sarathi's token budget 512 and 2048; vLLM and Sarathi
#     with at most 128 sequences, Orca 16 (the artifact's settings).
#  B. The tail of time between tokens at one load (2x the trace's rate).
#  C. FastGen vs vLLM (PAPERS.md section 5): Llama-2-70B, TP4 on four
#     A100s, FastGen's synthetic workload (prompt 2600, output 60, 30%
#     variation: lognormal cv 0.3), 512 Poisson requests per rate:
#     throughput, mean end-to-end latency, and effective throughput under
#     FastGen's SLA (prompt at >= 512 tok/s, i.e. TTFT <= prompt / 512 s,
#     and generation at >= 4 tok/s, here TPOT <= 250 ms).
#  D. The same two schedulers on the Azure conversation trace.
# A2 repeats A on one H100, whose cost model is calibrated on measured
# kernels (the A100 has roofline times H100 efficiencies).
set -euo pipefail

cd "$(dirname "$0")/.."
OUT=${1:-out/repro_sched}
BIN=${LLMSIM:-./build/llmsim}
mkdir -p "$OUT"
REPORT="$OUT/report.md"
: > "$REPORT"

say() { printf '%s\n' "$*" | tee -a "$REPORT"; }

# run CONFIG NAME [--set k=v]...: one quiet run into $OUT/NAME.
run() {
    local cfg=$1 name=$2
    shift 2
    "$BIN" run "$cfg" --out "$OUT/$name" --quiet "$@"
}

q() { sqlite3 "$OUT/$1/results.sqlite" "$2"; }

# Offered rate (req/s) over the arrivals of the run.
qps() {
    q "$1" "SELECT printf('%.3f', (COUNT(*) - 1) * 1e9 /
            (MAX(arrival_ns) - MIN(arrival_ns))) FROM requests"
}

# Median scheduling delay (s) of the served requests.
sched_p50() {
    q "$1" "SELECT printf('%.3f', (first_sched_ns - arrival_ns) / 1e9)
            FROM requests WHERE status = 'ok' ORDER BY 1
            LIMIT 1 OFFSET (SELECT COUNT(*) / 2 FROM requests
                            WHERE status = 'ok')"
}

js() { jq -r "$2" "$OUT/$1/summary.json"; }

# FastGen's effective throughput: requests meeting both SLAs per second.
eff_tput() {
    q "$1" "SELECT printf('%.3f', SUM(CASE WHEN
              (first_token_ns - arrival_ns) / 1e9 <= prompt_tokens / 512.0
              AND (output_tokens <= 1 OR (finish_ns - first_token_ns) / 1e9
                   / (output_tokens - 1) <= 0.25) THEN 1 ELSE 0 END)
              * 1e9 / (MAX(finish_ns) - MIN(arrival_ns)))
            FROM requests WHERE status = 'ok'"
}

# ok NAME SLO_MS: 0 when the run meets the capacity criterion.
ok() {
    local itl sched
    itl=$(js "$1" '.itl_ms.p99')
    sched=$(sched_p50 "$1")
    awk -v i="$itl" -v s="$sched" -v slo="$2" \
        'BEGIN { exit !(i <= slo && s <= 2.0) }'
}

# capacity CONFIG NAME SLO_MS [--set ...]: bisection on rate_scale, 9 steps
# after bracketing; prints "scale qps itl_p99 sched_p50".
capacity() {
    local cfg=$1 name=$2 slo=$3 lo=0 hi=1 mid i
    shift 3
    while :; do
        run "$cfg" "$name" --set workload.rate_scale="$hi" "$@"
        ok "$name" "$slo" || break
        lo=$hi
        hi=$(awk -v h="$hi" 'BEGIN { print h * 2 }')
        [ "$(awk -v h="$hi" 'BEGIN { print (h > 64) }')" = 1 ] && break
    done
    for i in 1 2 3 4 5 6 7 8 9; do
        mid=$(awk -v a="$lo" -v b="$hi" 'BEGIN { printf "%.5f", (a + b) / 2 }')
        run "$cfg" "$name" --set workload.rate_scale="$mid" "$@"
        if ok "$name" "$slo"; then lo=$mid; else hi=$mid; fi
    done
    if [ "$(awk -v l="$lo" 'BEGIN { print (l == 0) }')" = 1 ]; then
        echo "0 0 - -"
        return
    fi
    run "$cfg" "$name" --set workload.rate_scale="$lo" "$@"
    echo "$lo $(qps "$name") $(js "$name" '.itl_ms.p99') $(sched_p50 "$name")"
}

SAR=configs/papers/sarathi_mistral7b_a100.json

# capacities DEVICE: experiment A's table on one device.
capacities() {
    local dev=$1 slo budget sched label
    say "| SLO | scheduler | rate_scale | capacity (req/s) | P99 TBT (ms) | P50 sched. delay (s) |"
    say "|---|---|---|---|---|---|"
    for slo in 100 500; do
        budget=$([ "$slo" = 100 ] && echo 512 || echo 2048)
        for sched in vllm sarathi orca; do
            case $sched in
            vllm)    sets=(--set scheduler.name=vllm-v0) ;;
            sarathi) sets=(--set scheduler.name=sarathi
                           --set scheduler.max_num_batched_tokens="$budget") ;;
            orca)    sets=(--set scheduler.name=orca
                           --set scheduler.max_num_seqs=16
                           --set scheduler.reserve=oracle) ;;
            esac
            read -r scale cap itl sd < <(capacity "$SAR" \
                "cap_${dev}_${sched}_$slo" "$slo" \
                --set hardware.device="$dev" "${sets[@]}")
            label=$sched
            [ "$sched" = sarathi ] && label="sarathi (budget $budget)"
            [ "$sched" = orca ] && label="orca (16 seqs, oracle reserve)"
            say "| ${slo} ms | $label | $scale | $cap | $itl | $sd |"
        done
    done
}

say "# Scheduling policies: reproduction report"
say ""
say "## A. Capacity under a P99 TBT SLO (Mistral-7B, 1 x A100, Azure conv)"
say ""
capacities a100-sxm-80gb
say ""
say "## A2. The same on one H100 (calibrated cost model)"
say ""
capacities h100-sxm-80gb

say ""
say "## B. Time between tokens at 2x the trace's rate (same setup)"
say ""
say "| scheduler | req/s | TBT p50 (ms) | TBT p99 (ms) | TTFT p50 (ms) | TTFT p99 (ms) | P50 sched. delay (s) |"
say "|---|---|---|---|---|---|---|"
for s in vllm sarathi512 sarathi2048 sarathi2048_v1 fastgen; do
    case $s in
    vllm)        sets=(--set scheduler.name=vllm-v0) ;;
    sarathi2048_v1) sets=(--set scheduler.name=sarathi
                       --set scheduler.max_num_batched_tokens=2048
                       --set scheduler.order=arrival) ;;
    sarathi512)  sets=(--set scheduler.name=sarathi
                       --set scheduler.max_num_batched_tokens=512) ;;
    sarathi2048) sets=(--set scheduler.name=sarathi
                       --set scheduler.max_num_batched_tokens=2048) ;;
    fastgen)     sets=(--set scheduler.name=fastgen --set scheduler.max_num_seqs=128) ;;
    esac
    run "$SAR" "tbt_$s" --set workload.rate_scale=2 "${sets[@]}"
    say "| $s | $(qps "tbt_$s") | $(js "tbt_$s" '.itl_ms.p50*10|round/10') |" \
        "$(js "tbt_$s" '.itl_ms.p99*10|round/10') |" \
        "$(js "tbt_$s" '.ttft_ms.p50|round') |" \
        "$(js "tbt_$s" '.ttft_ms.p99|round') | $(sched_p50 "tbt_$s") |"
done

# curve CONFIG PREFIX KEY VALUES...: throughput-latency points.
curve() {
    local cfg=$1 prefix=$2 key=$3 v s name
    shift 3
    say "| scheduler | $key | req/s | mean E2E (s) | P50 E2E (s) | TPOT p95 (ms) | TBT p95 (ms) | effective req/s |"
    say "|---|---|---|---|---|---|---|---|"
    for s in vllm fastgen; do
        for v in "$@"; do
            name="${prefix}_${s}_$v"
            run "$cfg" "$name" --set scheduler.name="$([ "$s" = vllm ] &&
                echo vllm-v0 || echo "$s")" --set "$key=$v"
            say "| $s | $v | $(js "$name" '.throughput_req_s*1000|round/1000') |" \
                "$(js "$name" '.e2e_ms.mean/10|round/100') |" \
                "$(js "$name" '.e2e_ms.p50/10|round/100') |" \
                "$(js "$name" '.tpot_ms.p95*10|round/10') |" \
                "$(js "$name" '.itl_ms.p95*10|round/10') | $(eff_tput "$name") |"
        done
    done
}

say ""
say "## C. FastGen vs vLLM, Llama-2-70B TP4 on 4 x A100, prompt 2600 / output 60"
say ""
curve configs/papers/fastgen_llama2_70b_a100.json fg workload.rate \
      0.5 1.0 1.5 2.0 2.5 3.0 3.5 4.0

# clients CONFIG PREFIX SETS...: FastGen's benchmark (DeepSpeedExamples
# benchmarks/inference/mii): 1-32 closed-loop clients, 512 requests,
# effective throughput = goodput under the config's SLA; the figure of a
# scheduler is its best client count.
clients() {
    local cfg=$1 prefix=$2 u s name best
    shift 2
    say "| scheduler | clients | req/s | effective req/s | SLA met | mean E2E (s) |"
    say "|---|---|---|---|---|---|"
    for s in vllm fastgen; do
        best=0
        for u in 1 2 4 8 16 24 32; do
            name="${prefix}_${s}_$u"
            run "$cfg" "$name" --set scheduler.name="$([ "$s" = vllm ] &&
                echo vllm-v0 || echo "$s")" \
                --set workload.users="$u" "$@" 2>/dev/null
            say "| $s | $u | $(js "$name" '.throughput_req_s*100|round/100') |" \
                "$(js "$name" '.goodput_req_s*100|round/100') |" \
                "$(js "$name" '.slo_attainment*1000|round/10')% |" \
                "$(js "$name" '.e2e_ms.mean/10|round/100') |"
            best=$(awk -v b="$best" -v g="$(js "$name" .goodput_req_s)" \
                   'BEGIN { print (g > b ? g : b) }')
        done
        eval "best_$s=$best"
    done
    say ""
    say "Best effective throughput: FastGen $(printf %.2f "$best_fastgen")," \
        "vLLM $(printf %.2f "$best_vllm") req/s:" \
        "$(awk -v f="$best_fastgen" -v v="$best_vllm" 'BEGIN { printf "%.2fx", f / v }')" \
        "(paper, Fig. 4: 1.42 vs 0.63, 2.3x)"
}

say ""
say "## C2. FastGen's own benchmark: closed-loop clients, SLA on the EMA of the gaps"
say ""
clients configs/papers/fastgen_llama2_70b_a100_clients.json fgc
say ""
say "### The same clients, generation SLA on the mean TPOT (<= 250 ms) instead"
say ""
clients configs/papers/fastgen_llama2_70b_a100_clients.json fgcm \
    --set slo.tbt_ema_ms=0 --set slo.tpot_ms=250

say ""
say "## D. FastGen vs vLLM on the Azure conversation trace (same hardware)"
say ""
curve configs/papers/fastgen_llama2_70b_a100_azure.json fgaz \
      workload.rate_scale 0.5 0.6 0.7 0.8 0.9 1.0 1.2
echo "report: $REPORT"
