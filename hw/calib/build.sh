#!/usr/bin/env bash
# Build the calibration microbenchmarks into OUTDIR (default hw/calib/build).
# Exits 0 with a message when nvcc is absent (e.g. on CI machines without CUDA).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
outdir="${1:-$here/build}"
NVCC="${NVCC:-}"
if [ -z "$NVCC" ]; then
  if command -v nvcc >/dev/null 2>&1; then NVCC=nvcc
  elif [ -x /usr/local/cuda/bin/nvcc ]; then NVCC=/usr/local/cuda/bin/nvcc
  else echo "build.sh: nvcc not found; skipping the CUDA calibration benchmarks"; exit 0; fi
fi
mkdir -p "$outdir"
# -gencode form: sm_90a machine code (Hopper); see the device notes on -arch=sm_90a.
FLAGS=(-O3 -std=c++17 -gencode=arch=compute_90a,code=sm_90a -lineinfo)
pids=()
for prog in gemm_bench membw hostcopy launch; do
  libs=()
  [ "$prog" = gemm_bench ] && libs=(-lcublasLt -lcublas)
  echo "+ $NVCC ${FLAGS[*]} -o $outdir/$prog $here/$prog.cu ${libs[*]}"
  "$NVCC" "${FLAGS[@]}" -o "$outdir/$prog" "$here/$prog.cu" "${libs[@]}" &
  pids+=($!)
done
rc=0
for p in "${pids[@]}"; do wait "$p" || rc=1; done
[ $rc = 0 ] && echo "build.sh: built gemm_bench membw hostcopy launch into $outdir"
exit $rc
