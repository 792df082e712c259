#!/bin/sh
# hw/calib/reference/tp4_campaign.sh: the 4-GPU runs of issue 4 (one call on a 4-GPU machine).
#
# usage: hw/calib/reference/tp4_campaign.sh OUT
# Writes OUT/<device>/: ref_<model>_tp4.jsonl (the tensor-parallel reference engine at tp 4,
# CUDA-graphed, NCCL inside the graph), nccl_<op>.csv for 2 and 4 ranks (graph-captured),
# linear_torch.csv with the tp-4 GEMM shapes on the dense M grid, and the logs.  ~6 min.
# NVLink multicast stays off (the lent machines share GPUs): the variables below are exported
# for every child, and nccl_bench.py sets them again before torch loads.
set -e
cd "$(dirname "$0")/../../.."
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
export PYTHONUNBUFFERED=1
dev=$(python3 -c "import sys; sys.path.insert(0,'hw/calib/reference'); import kernels; print(kernels.device_slug())")
out=${1:?usage: $0 OUT}/$dev
mkdir -p "$out"
nvidia-smi > "$out/nvidia-smi.txt"; nvidia-smi topo -m > "$out/topo.txt" || true
torchrun --nproc_per_node=4 hw/calib/reference/llama_ref_tp.py --model llama-3-8b --out "$out" --check
torchrun --nproc_per_node=4 hw/calib/reference/llama_ref_tp.py --model llama-2-13b --out "$out"
LLMSIM_NCCL_GRAPH=1 torchrun --nproc_per_node=4 hw/calib/nccl_bench.py --ops allreduce,allgather --out "$out"
CUDA_VISIBLE_DEVICES=0,1 LLMSIM_NCCL_GRAPH=1 torchrun --nproc_per_node=2 hw/calib/nccl_bench.py \
    --ops allreduce,allgather --out "$out"
CUDA_VISIBLE_DEVICES=0 LLMSIM_TPS=4 LLMSIM_LINEAR_TPS=4 LLMSIM_LINEAR_M=dense \
    python3 hw/calib/ops_bench.py --outdir "$out" --only linear --models llama-3-8b,llama-2-13b
