#!/usr/bin/env bash
# campaign.sh: runs the llmsim calibration campaign on the GPU machine.
#
# usage: hw/calib/campaign.sh STAGE...      (from the repository root or anywhere)
#   micro   build + gemm_bench (bf16, fp8) + membw + hostcopy + launch   (~2-3 min)
#   ops     ops_bench.py: elementwise + attention prefill/decode/ragged  (~2-3 min)
#   ref     reference/llama_ref.py for llama-3-8b and llama-2-13b         (~3-4 min)
#   smoke   a tiny subset of everything, with the numerical checks        (~1-2 min)
#   linear  torch.mm cross-check tables (cuBLASLt 32 MiB, and torch's default cuBLAS)
#   fillcheck  gemm_bench and torch.mm with uniform and normal operands (llama-3-8b shapes)
#   sustain    gemm_bench in ~1.5 ms bursts vs ~100 ms sustained replays (llama-3-8b shapes)
#   catalog    torch.mm and attention shapes of EVERY catalog model at tp 1,2,4,8 on a coarse M
#              grid, into $data/catalog/ (~8 min on one GPU; prints an estimate; each step is cut
#              at LLMSIM_CATALOG_S seconds, default 230, so the stage ends inside 8 minutes).
#              Collectives at 8 ranks need an 8-GPU machine: not part of this stage.
# LLMSIM_MODELS (default llama-3-8b,llama-2-13b) picks the catalog models the tables cover.
# Each stage finishes well inside 10 minutes. The tables land in
# $WORK/data/<device>/ (device = h100-sxm-80gb, h200-sxm-141gb, ...) and are packed into
# $OUT/calib-<device>.tar.gz (the only thing written to $OUT besides campaign.log).
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
OUT="${OUT:-/tmp/calib-out}"
WORK="${WORK:-/tmp/calib-work}"
mkdir -p "$OUT" "$WORK"
export PYTHONUNBUFFERED=1
export LLMSIM_DRIVER="$(nvidia-smi --query-gpu=driver_version --format=csv,noheader 2>/dev/null | head -1)"
dev="$(python3 -c 'import torch
n = torch.cuda.get_device_name().upper()
print("h200-sxm-141gb" if "H200" in n else "h100-sxm-80gb" if ("H100" in n and "PCIE" not in n) else "".join(c if c.isalnum() else "-" for c in n.lower()).strip("-"))')"
data="$WORK/data/$dev"
logs="$data/logs"
mkdir -p "$data" "$logs"
bin="$WORK/build"
log="$OUT/campaign.log"
cd "$repo"
declare -A RC
# the models the committed data covers (the catalog has grown since; set LLMSIM_MODELS to widen)
MODELS="${LLMSIM_MODELS:-llama-3-8b,llama-2-13b}"

snap() {  # clocks / power / temperature snapshot
  { echo "## $(date -u +%Y-%m-%dT%H:%M:%SZ) $*"
    nvidia-smi --query-gpu=name,driver_version,pstate,clocks.sm,clocks.max.sm,clocks.mem,power.draw,power.limit,temperature.gpu,clocks_throttle_reasons.active --format=csv 2>&1
  } >> "$data/env.txt"
}
step() {  # step NAME CMD...   (runs, logs, records the exit code, never aborts the campaign)
  local name="$1"; shift
  snap "before $name"
  local t0=$SECONDS
  echo "=== $name: $*" | tee -a "$log"
  # clocks, power and throttle reasons every 500 ms while the step runs
  nvidia-smi --query-gpu=timestamp,clocks.sm,clocks.mem,power.draw,temperature.gpu,clocks_throttle_reasons.active \
    --format=csv,noheader -lms 500 > "$logs/clocks_$name.csv" 2>/dev/null &
  local smi=$!
  "$@" > "$logs/$name.log" 2>&1
  local rc=$?
  kill "$smi" 2>/dev/null; wait "$smi" 2>/dev/null
  RC[$name]=$rc
  tail -n 12 "$logs/$name.log" | tee -a "$log"
  echo "=== $name: rc=$rc in $((SECONDS - t0)) s" | tee -a "$log"
  snap "after $name"
}

if [ ! -f "$data/env.txt" ]; then
  { echo "# environment of the calibration campaign on $dev"
    echo "# host: $(uname -r)"
    nvidia-smi 2>&1
    nvcc --version 2>&1 | tail -2
    python3 -c 'import torch, triton; print("torch", torch.__version__, "cuda", torch.version.cuda, "triton", triton.__version__)' 2>&1
  } > "$data/env.txt"
fi

build() {
  if [ ! -x "$bin/gemm_bench" ]; then step build bash "$here/build.sh" "$bin"; fi
}

for stage in "$@"; do
  case "$stage" in
    micro)
      build
      python3 "$here/gen_shapes.py" --models "$MODELS" --out "$data/gemm_shapes.txt" 2>&1 | tee -a "$log"
      step gemm_bf16 "$bin/gemm_bench" --dtype bf16 --shapes "$data/gemm_shapes.txt" --out "$data/gemm_bf16.csv"
      step gemm_fp8 "$bin/gemm_bench" --dtype fp8 --shapes "$data/gemm_shapes.txt" --out "$data/gemm_fp8.csv"
      step membw "$bin/membw" --out "$data/membw.csv"
      step hostcopy "$bin/hostcopy" --out "$data/hostcopy.csv"
      step launch "$bin/launch" --out "$data/launch.csv"
      ;;
    ops)
      step ops_bench python3 "$here/ops_bench.py" --outdir "$data" --models "$MODELS"
      step linear_torch_cublas env LLMSIM_BLAS=cublas python3 "$here/ops_bench.py" --outdir "$data" --only linear --models "$MODELS"
      ;;
    ref)
      step ref_llama-3-8b python3 "$here/reference/llama_ref.py" --model llama-3-8b --out "$data" --check --profile
      step ref_llama-2-13b python3 "$here/reference/llama_ref.py" --model llama-2-13b --out "$data" --profile
      ;;
    linear) # torch.mm as the engine calls it (cuBLASLt, 32 MiB) and with torch's default cuBLAS
      step linear_torch python3 "$here/ops_bench.py" --outdir "$data" --only linear --models "$MODELS"
      step linear_torch_cublas env LLMSIM_BLAS=cublas python3 "$here/ops_bench.py" --outdir "$data" --only linear --models "$MODELS"
      ;;
    lineardense) # the engine's own GEMMs (torch.mm, cuBLASLt) on the dense M grid, tp 1 and 2
      step linear_dense env LLMSIM_LINEAR_M=dense LLMSIM_LINEAR_TPS=1,2 python3 "$here/ops_bench.py" --outdir "$data" --only linear --models "$MODELS"
      ;;
    fillcheck) # does operand data (uniform vs normal) explain torch.mm vs gemm_bench? llama-3-8b tp1 shapes
      build
      d="$data/fillcheck"; mkdir -p "$d"
      for m in 1 64 256 512 1024 2048 4096 8192; do printf '%s 6144 4096\n%s 4096 4096\n%s 28672 4096\n%s 4096 14336\n' $m $m $m $m; done > "$d/shapes.txt"
      step fill_gemm_uniform "$bin/gemm_bench" --dtype bf16 --fill uniform --shapes "$d/shapes.txt" --out "$d/gemm_bf16_uniform.csv"
      step fill_gemm_normal "$bin/gemm_bench" --dtype bf16 --fill normal --shapes "$d/shapes.txt" --out "$d/gemm_bf16_normal.csv"
      step fill_linear_normal python3 "$here/ops_bench.py" --outdir "$d" --only linear --models llama-3-8b
      step fill_linear_uniform env LLMSIM_FILL=uniform python3 "$here/ops_bench.py" --outdir "$d" --only linear --models llama-3-8b
      ;;
    sustain) # burst vs sustained: the same GEMMs timed in ~1.5 ms and in ~100 ms graph replays
      build
      d="$data/sustain"; mkdir -p "$d"
      for m in 256 512 1024 2048 4096 8192; do printf '%s 6144 4096\n%s 4096 4096\n%s 28672 4096\n%s 4096 14336\n' $m $m $m $m; done > "$d/shapes.txt"
      step sustain_burst1 "$bin/gemm_bench" --dtype bf16 --shapes "$d/shapes.txt" --out "$d/gemm_bf16_burst1.csv"
      step sustain_long "$bin/gemm_bench" --dtype bf16 --target-us 100000 --shapes "$d/shapes.txt" --out "$d/gemm_bf16_sustained.csv"
      step sustain_burst2 "$bin/gemm_bench" --dtype bf16 --shapes "$d/shapes.txt" --out "$d/gemm_bf16_burst2.csv"
      ;;
    steady) # tables timed at the clock the GPU sustains under load (tens-of-ms graph replays):
            # short bursts run compute-bound kernels at boost clock, faster than a serving loop
      build
      d="$data/steady"; mkdir -p "$d"
      python3 "$here/gen_shapes.py" --models "$MODELS" --out "$d/gemm_shapes.txt" 2>&1 | tee -a "$log"
      step steady_gemm_bf16 "$bin/gemm_bench" --dtype bf16 --target-us 20000 --trials 5 --shapes "$d/gemm_shapes.txt" --out "$d/gemm_bf16.csv"
      step steady_attn env LLMSIM_TARGET_US=20000 LLMSIM_TPS="${LLMSIM_TPS:-1,2}" python3 "$here/ops_bench.py" --outdir "$d" --only prefill,decode --models "$MODELS"
      ;;
    catalog) # issue 17: the shapes the catalog produces that the tables lack (one GPU)
      d="$data/catalog"; mkdir -p "$d"
      all="$(ls "$repo/models/catalog" | sed -n 's/\.json$//p' | paste -sd, -)"
      cap="${LLMSIM_CATALOG_S:-230}"
      grid="1,8,16,32,64,128,256,512,1024,2048,4096,8192"
      python3 - "$repo/models/catalog" "$grid" "$cap" <<'PY' | tee -a "$log"
import json, os, sys
# estimate: 5 linear shapes per model and tp, ~25 ms per (shape, M) point (7 trials of ~1.5 ms
# plus set-up); attention ~4 s per head configuration and tp with --quick
cat, grid, cap = sys.argv[1], sys.argv[2].split(","), sys.argv[3]
pts = heads = 0
for f in sorted(os.listdir(cat)):
    m = json.load(open(os.path.join(cat, f)))
    for tp in (1, 2, 4, 8):
        if m["num_heads"] % tp or m["num_kv_heads"] % tp or m["ffn_size"] % tp:
            continue
        pts += 5 * len(grid)
        heads += 1
print(f"catalog: about {pts} linear points (~{pts * 0.025:.0f} s) and {heads} head shapes "
      f"(~{heads * 4:.0f} s) expected; each step capped at {cap} s")
PY
      step catalog_linear env LLMSIM_LINEAR_M="$grid" LLMSIM_LINEAR_TPS=1,2,4,8 LLMSIM_TPS=1,2,4,8 \
        timeout "$cap" python3 "$here/ops_bench.py" --outdir "$d" --only linear --models "$all"
      step catalog_attn env LLMSIM_TPS=1,2,4,8 \
        timeout "$cap" python3 "$here/ops_bench.py" --outdir "$d" --only prefill,decode --quick --models "$all"
      ;;
    smoke)
      build
      s="$WORK/smoke"; mkdir -p "$s"
      printf '1 6144 4096\n7 6144 4096\n128 28672 4096\n512 4096 14336\n4096 5120 5120\n16 128256 4096\n' > "$s/shapes.txt"
      step smoke_gemm_bf16 "$bin/gemm_bench" --dtype bf16 --shapes "$s/shapes.txt" --out "$s/gemm_bf16.csv"
      step smoke_gemm_fp8 "$bin/gemm_bench" --dtype fp8 --shapes "$s/shapes.txt" --out "$s/gemm_fp8.csv"
      step smoke_membw "$bin/membw" --max 67108864 --out "$s/membw.csv"
      step smoke_hostcopy "$bin/hostcopy" --max 16777216 --out "$s/hostcopy.csv"
      step smoke_launch "$bin/launch" --out "$s/launch.csv"
      step smoke_ops python3 "$here/ops_bench.py" --outdir "$s" --quick --models "$MODELS"
      cat > "$s/batches.json" <<'JSON'
[{"prefill": [[64, 0]]}, {"prefill": [[2048, 0]]}, {"prefill": [[512, 1024]]},
 {"prefill": [[128, 0], [1000, 0], [256, 300]]}, {"decode": [[1, 128]]}, {"decode": [[64, 2048]]},
 {"decode_ctx": [100, 2000, 17, 4000, 900]}, {"prefill": [[512, 2048]], "decode": [[64, 1024]]},
 {"prefill": [[256, 0]], "decode": [[3, 50]], "decode_ctx": [7, 300]}]
JSON
      step smoke_ref python3 "$here/reference/llama_ref.py" --model llama-3-8b --batches "$s/batches.json" --out "$s" --check --profile --layers 2 --reps 5
      step smoke_ref13 python3 "$here/reference/llama_ref.py" --model llama-2-13b --batches "$s/batches.json" --out "$s" --layers 2 --limit 4 --reps 5
      for f in "$s"/*.csv "$s"/*.jsonl "$s"/*.txt; do [ -f "$f" ] && { echo "--- $f"; head -c 1500 "$f"; echo; } >> "$logs/smoke_outputs.log"; done
      cp "$s"/kernels_*.txt "$logs/" 2>/dev/null
      ;;
    *) echo "unknown stage $stage (micro ops ref smoke)"; exit 1 ;;
  esac
done

tar -C "$WORK/data" -czf "$OUT/calib-$dev.tar.gz" "$dev"
echo "=== summary ($dev):" | tee -a "$log"
for k in "${!RC[@]}"; do echo "  $k rc=${RC[$k]}"; done | sort | tee -a "$log"
ls -la "$OUT" | tee -a "$log"
fail=0; for k in "${!RC[@]}"; do [ "${RC[$k]}" = 0 ] || fail=1; done
exit $fail
