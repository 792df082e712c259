#!/usr/bin/env bash
# campaign.sh: the issue-16 engine campaign on the GPU machine (hw/calib/engines/README.md).
#
# usage: hw/calib/engines/campaign.sh STAGE...        (from anywhere; stages run in order)
#   smoke    smoke.py: every code path on tiny shapes, numerical checks (< 60 s); starts
#            precompile.py in the background (Triton kernel cache for the later stages)
#   engines  run_engines.py --phase all: the 12 calibration shapes of every engine and model,
#            then the tier-1 batches, then one kernel profile per engine and model
#   attn     attn_bench.py: vLLM and SGLang attention tables (decode, prefill, ragged, fp8 KV)
#   elem     elem_bench.py: the unfused engine's PyTorch elementwise kernels
#   w4a16    w4a16_bench.py: fused W4A16 GEMMs vs torch.mm bf16
#   extra    run_engines.py --phase extra: the tier-2 batches (a second GPU call)
#   all      smoke engines attn elem w4a16
# Deadline guard: every program stops starting new work when LLMSIM_T0 (set here, once) +
# LLMSIM_DEADLINE_S (default 530) is near, and whatever was measured is packed:
#   $OUT/engines-<device>.tar.gz   (the device directory: tables, jsonl, logs, env.txt)
#   $OUT/engines-<device>.log      (this script's log: one summary line per stage)
# Needs .kern/ (vendored kernels, not committed) at the repository root: pass carry [".kern"].
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
OUT="${OUT:-/tmp/engines-out}"
WORK="${WORK:-/tmp/engines-work}"
mkdir -p "$OUT" "$WORK"
export LLMSIM_T0="${LLMSIM_T0:-$(date +%s.%N)}"
export LLMSIM_DEADLINE_S="${LLMSIM_DEADLINE_S:-530}"
export PYTHONUNBUFFERED=1
export TRITON_CACHE_DIR="${TRITON_CACHE_DIR:-$WORK/triton-cache}"
LLMSIM_DRIVER="$(nvidia-smi --query-gpu=driver_version --format=csv,noheader 2>/dev/null | head -1)"
export LLMSIM_DRIVER
dev="$(python3 -c 'import torch
n = torch.cuda.get_device_name().upper()
print("h200-sxm-141gb" if "H200" in n else "h100-sxm-80gb" if ("H100" in n and "PCIE" not in n) else "".join(c if c.isalnum() else "-" for c in n.lower()).strip("-"))' 2>/dev/null || echo unknown-gpu)"
data="$WORK/$dev"
logs="$data/logs"
mkdir -p "$data" "$logs"
log="$OUT/engines-$dev.log"
cd "$repo" || exit 1
declare -A RC
declare -A DUR
PRE=""

left() {  # seconds left before the deadline
  awk -v t0="$LLMSIM_T0" -v lim="$LLMSIM_DEADLINE_S" -v now="$(date +%s.%N)" 'BEGIN { printf "%d", t0 + lim - now }'
}

say() { echo "$*" | tee -a "$log"; }

step() {  # step NAME MAX_SECONDS CMD...   (never aborts the campaign)
  local name="$1" max="$2"; shift 2
  local l; l="$(left)"
  local lim=$(( l - 8 < max ? l - 8 : max ))
  if [ "$lim" -lt 5 ]; then
    say "=== $name: skipped, ${l} s left before the deadline"
    RC[$name]=skipped
    return
  fi
  say "=== $name (limit ${lim} s, ${l} s left): $*"
  local t0=$SECONDS
  # --foreground: the program stays in this process group, so a TERM to the whole campaign
  # (an outer `timeout`) reaches it too and the EXIT trap still packs
  timeout --foreground --signal=TERM --kill-after=5 "$lim" "$@" > "$logs/$name.log" 2>&1
  local rc=$?
  RC[$name]=$rc
  DUR[$name]=$((SECONDS - t0))
  tail -n 8 "$logs/$name.log" | sed 's/^/    /' | tee -a "$log"
  say "=== $name: rc=$rc in ${DUR[$name]} s ($(left) s left)"
  return 0
}

retry() {  # retry NAME MAX CMD...: reruns while the program exits 3 (CUDA context died; it resumes)
  local name="$1" max="$2"; shift 2
  local i
  for i in 1 2 3; do
    step "${name}_$i" "$max" "$@"
    [ "${RC[${name}_$i]}" = "3" ] || break
  done
}

wait_precompile() {  # wait_precompile MAX_SECONDS: then stop it (its jobs only save compile time)
  [ -n "$PRE" ] || return 0
  local t0=$SECONDS
  while kill -0 "$PRE" 2>/dev/null && [ $((SECONDS - t0)) -lt "${1:-40}" ]; do sleep 1; done
  if kill -0 "$PRE" 2>/dev/null; then
    say "precompile still running after $((SECONDS - t0)) s more: stopping it"
    kill "$PRE" 2>/dev/null   # precompile.py kills its own workers on TERM
  fi
  wait "$PRE" 2>/dev/null
  tail -n 20 "$logs/precompile.log" 2>/dev/null | sed 's/^/    /' | tee -a "$log"
  PRE=""
}

packed=0
pack() {
  [ "$packed" = 1 ] && return
  packed=1
  [ -n "$PRE" ] && kill "$PRE" 2>/dev/null
  say "=== summary ($dev, $(awk -v t0="$LLMSIM_T0" -v now="$(date +%s.%N)" 'BEGIN { printf "%d", now - t0 }') s since start):"
  for k in "${!RC[@]}"; do echo "  $k rc=${RC[$k]} ${DUR[$k]:-0} s"; done | sort | tee -a "$log"
  cp "$log" "$data/campaign.log" 2>/dev/null
  tar -C "$WORK" -czf "$OUT/engines-$dev.tar.gz" "$dev" && say "packed $OUT/engines-$dev.tar.gz ($(du -h "$OUT/engines-$dev.tar.gz" | cut -f1))"
}
trap pack EXIT
trap 'say "terminated: packing what was measured"; exit 143' TERM INT

if [ ! -f "$data/env.txt" ]; then
  { echo "# environment of the engine campaign on $dev"
    echo "# host: $(uname -r), $(nproc) cores"
    nvidia-smi 2>&1
    python3 -c 'import torch, triton; print("torch", torch.__version__, "cuda", torch.version.cuda, "triton", triton.__version__)' 2>&1
    echo "# vendored kernels (.kern/SOURCES.txt):"
    cat "$repo/.kern/SOURCES.txt" 2>&1
  } > "$data/env.txt"
fi

stages=("$@")
[ ${#stages[@]} -eq 0 ] && stages=(all)
expanded=()
for s in "${stages[@]}"; do
  if [ "$s" = all ]; then set -- smoke engines attn elem w4a16; else set -- "$s"; fi
  for x in "$@"; do   # each stage once ("smoke all" = all)
    case " ${expanded[*]} " in *" $x "*) ;; *) expanded+=("$x") ;; esac
  done
done

pre_args=(--logdir "$logs/precompile" --jobs 8 --timeout 110)
case " ${expanded[*]} " in *" attn "*) ;; *) pre_args+=(--skip-attn) ;; esac
PRE_STARTED=0
start_precompile() {  # once per campaign, in the background (a fresh machine has no Triton cache)
  [ "$PRE_STARTED" = 1 ] && return 0
  PRE_STARTED=1
  python3 "$here/precompile.py" "${pre_args[@]}" > "$logs/precompile.log" 2>&1 &
  PRE=$!
  say "=== precompile started in the background (pid $PRE)"
}

for stage in "${expanded[@]}"; do
  case "$stage" in
    smoke)
      start_precompile
      step smoke 100 python3 "$here/smoke.py" --out "$data/smoke"
      ;;
    engines)
      start_precompile; wait_precompile 90
      retry engines 480 python3 "$here/run_engines.py" --out "$data" --phase all --cap-ms 500
      ;;
    extra)
      start_precompile; wait_precompile 90
      retry extra 560 python3 "$here/run_engines.py" --out "$data" --phase extra --cap-ms 500
      ;;
    attn)
      start_precompile; wait_precompile 90
      step attn_vllm 200 python3 "$here/attn_bench.py" --outdir "$data" --backends vllm
      step attn_sglang 150 python3 "$here/attn_bench.py" --outdir "$data" --backends sglang
      ;;
    elem)
      step elem 60 python3 "$here/elem_bench.py" --outdir "$data"
      ;;
    w4a16)
      step w4a16 90 python3 "$here/w4a16_bench.py" --outdir "$data"
      ;;
    *) say "unknown stage $stage (smoke engines attn elem w4a16 extra all)"; exit 2 ;;
  esac
done
