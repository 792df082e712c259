#!/usr/bin/env python3
"""nccl_bench: NCCL collective times vs size on one multi-GPU host, for hw/comm.c.

Times torch.distributed's NCCL all_reduce, all_gather_into_tensor, reduce_scatter_tensor and
all_to_all_single on bf16 tensors from 1 KiB to 1 GiB (powers of two), the sizes tensor-parallel
serving moves (an all-reduce of tokens x hidden x 2 bytes per layer: 8 KiB for one Llama-3-8B
decode token, 64 MiB for an 8192-token prefill). Byte counts follow nccl-tests (and hw/comm.h):
all-reduce: the buffer; all-gather: the gathered output; reduce-scatter: the input; all-to-all:
each rank's send buffer. busbw = bytes / time x factor (all-reduce 2(n-1)/n, the others (n-1)/n),
nccl-tests' bus bandwidth, comparable with the link's bandwidth.

Each size: 5 warm-up calls, then `trials` timed runs of `iters` back-to-back calls (iters sized to
~1 ms per run), CUDA events on every rank; a rank's time is the median run / iters, the reported
time the slowest rank's (the collective ends when the last rank leaves it). Eager NCCL calls, not
CUDA graphs and not vLLM's custom all-reduce kernel (which vLLM uses for small TP all-reduces on
NVLink): this is the NCCL floor hw/comm.c's alpha-beta model is fitted to.

NVLink SHARP (NVLS) and multicast objects are disabled in this process's environment before torch
loads (NCCL_NVLS_ENABLE=0, TORCH_SYMM_MEM_DISABLE_MULTICAST=1, NVSHMEM_DISABLE_NVLS=1): the lent
machines do not allow multicast, and NVLS would change the algorithm being measured.

Output, rank 0 only: OUT/nccl_<op>.csv, columns ranks,bytes,time_us,busbw_gb_s, after the
provenance header the other hw/calib tables carry ("# key: value" lines). A file that exists is
appended to (rows only), so runs on 2 and on 4 GPUs fill one table per op.

usage: torchrun --nproc_per_node=N hw/calib/nccl_bench.py --out DIR
           [--ops allreduce,allgather,reducescatter,alltoall] [--min-bytes 1024]
           [--max-bytes 1073741824] [--trials 5] [--quick]
"""
import os

# Before torch (and NCCL) load: the environment NCCL reads at communicator creation.
os.environ["NCCL_NVLS_ENABLE"] = "0"
os.environ["TORCH_SYMM_MEM_DISABLE_MULTICAST"] = "1"
os.environ["NVSHMEM_DISABLE_NVLS"] = "1"

import argparse  # noqa: E402
import datetime  # noqa: E402
import math  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
OPS = ("allreduce", "allgather", "reducescatter", "alltoall")
BF = torch.bfloat16


def busbw_factor(op, n):
    if n < 2:
        return 1.0
    return 2.0 * (n - 1) / n if op == "allreduce" else (n - 1) / n


def make_call(op, nbytes, world, dev):
    """A closure running one collective of nbytes (nccl-tests' size convention)."""
    elems = max(world, nbytes // 2)
    elems -= elems % world
    if op == "allreduce":
        x = torch.randn(elems, device=dev, dtype=BF)
        return lambda: dist.all_reduce(x), elems * 2
    if op == "allgather":
        out = torch.empty(elems, device=dev, dtype=BF)
        inp = torch.randn(elems // world, device=dev, dtype=BF)
        return lambda: dist.all_gather_into_tensor(out, inp), elems * 2
    if op == "reducescatter":
        inp = torch.randn(elems, device=dev, dtype=BF)
        out = torch.empty(elems // world, device=dev, dtype=BF)
        return lambda: dist.reduce_scatter_tensor(out, inp), elems * 2
    inp = torch.randn(elems, device=dev, dtype=BF)
    out = torch.empty(elems, device=dev, dtype=BF)
    return lambda: dist.all_to_all_single(out, inp), elems * 2


def time_calls(fn, iters, trials):
    ts = []
    for _ in range(trials):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        dist.barrier()
        a.record()
        for _ in range(iters):
            fn()
        b.record()
        torch.cuda.synchronize()
        ts.append(a.elapsed_time(b) * 1000.0 / iters)
    ts.sort()
    return ts[len(ts) // 2]


def time_graph(fn, iters, trials):
    """The calls captured in one CUDA graph, as a graphed serving engine runs them: no host
    launch per call (eager timing of small messages is bound by Python's ~35 us launch)."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):
            fn()
    torch.cuda.current_stream().wait_stream(side)
    torch.cuda.synchronize()
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        for _ in range(iters):
            fn()
    g.replay()
    torch.cuda.synchronize()
    ts = []
    for _ in range(trials):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        dist.barrier()
        torch.cuda.synchronize()
        a.record()
        g.replay()
        b.record()
        torch.cuda.synchronize()
        ts.append(a.elapsed_time(b) * 1000.0 / iters)
    ts.sort()
    del g
    return ts[len(ts) // 2]


GRAPH = os.environ.get("LLMSIM_NCCL_GRAPH") == "1"


def measure(op, nbytes, world, dev, trials):
    fn, actual = make_call(op, nbytes, world, dev)
    for _ in range(5):
        fn()
    torch.cuda.synchronize()
    est = time_calls(fn, 2, 1)
    iters = int(min(200, max(1, math.ceil(1000.0 / max(est, 1.0)))))
    # every rank must run the same number of calls: take rank 0's choice
    t = torch.tensor([iters], device=dev, dtype=torch.int64)
    dist.broadcast(t, 0)
    us = (time_graph if GRAPH else time_calls)(fn, int(t.item()), trials)
    slowest = torch.tensor([us], device=dev, dtype=torch.float64)
    dist.all_reduce(slowest, op=dist.ReduceOp.MAX)
    del fn
    return actual, slowest.item()


def provenance(world):
    sys.path.insert(0, os.path.join(HERE, "reference"))
    try:
        import kernels as K  # the other calib tables' header
        p = K.provenance("nccl_bench.py")
    except Exception as e:  # pragma: no cover - header still written
        p = {"gpu": torch.cuda.get_device_name(), "torch": torch.__version__,
             "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
             "command": " ".join(["python3"] + sys.argv),
             "source": "measured by hw/calib/nccl_bench.py on the llmsim GPU machine",
             "provenance_note": f"kernels.provenance unavailable: {e!r}"}
    p["nccl"] = ".".join(str(v) for v in torch.cuda.nccl.version())
    p["ranks"] = world
    p["env"] = ("NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1 "
                f"NCCL_ALGO={os.environ.get('NCCL_ALGO', 'default')} "
                f"NCCL_PROTO={os.environ.get('NCCL_PROTO', 'default')}")
    p["timing"] = (("CUDA-graph-captured" if GRAPH else "eager") +
                   " NCCL calls, bf16; 5 warm-ups, median of trials of back-to-back calls "
                   "(~1 ms per trial) timed with CUDA events; the slowest rank's time")
    p["bytes"] = ("nccl-tests convention: all-reduce buffer, all-gather output, reduce-scatter "
                  "input, all-to-all send buffer per rank")
    return p


def open_table(path, header):
    fresh = not os.path.exists(path)
    f = open(path, "a")
    if fresh:
        f.write(header)
        f.write("ranks,bytes,time_us,busbw_gb_s\n")
    f.flush()
    return f


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--ops", default=",".join(OPS))
    ap.add_argument("--min-bytes", type=int, default=1024)
    ap.add_argument("--max-bytes", type=int, default=1 << 30)
    ap.add_argument("--trials", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="every 4th size, 3 trials (smoke test)")
    a = ap.parse_args()
    ops = [o for o in a.ops.split(",") if o]
    bad = [o for o in ops if o not in OPS]
    if bad:
        sys.exit(f"nccl_bench: --ops: unknown {bad} (known: {', '.join(OPS)})")
    local = int(os.environ.get("LOCAL_RANK", "0"))
    torch.cuda.set_device(local)
    dist.init_process_group("nccl", device_id=torch.device("cuda", local))
    rank, world = dist.get_rank(), dist.get_world_size()
    dev = torch.device("cuda", local)
    sizes, s = [], a.min_bytes
    while s <= a.max_bytes:
        sizes.append(s)
        s *= 2
    if a.quick:
        sizes, a.trials = sizes[::4], 3
    header = "".join(f"# {k}: {v}\n" for k, v in provenance(world).items()) if rank == 0 else ""
    if rank == 0:
        os.makedirs(a.out, exist_ok=True)
    t0 = time.time()
    for op in ops:
        f = open_table(os.path.join(a.out, f"nccl_{op}.csv"), header) if rank == 0 else None
        for nbytes in sizes:
            actual, us = measure(op, nbytes, world, dev, a.trials)
            if rank == 0:
                bw = actual / (us * 1e-6) / 1e9 * busbw_factor(op, world)
                f.write(f"{world},{actual},{us:.3f},{bw:.3f}\n")
                f.flush()
                print(f"{op:13s} ranks={world} {actual:>11d} B {us:11.2f} us {bw:8.2f} GB/s busbw",
                      flush=True)
            torch.cuda.empty_cache()
        if f:
            f.close()
    if rank == 0:
        print(f"nccl_bench: {len(ops)} ops x {len(sizes)} sizes on {world} GPUs in "
              f"{time.time() - t0:.1f} s -> {a.out}", flush=True)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
