#!/usr/bin/env python3
"""precompile: fills Triton's kernel cache for the engines and attn_bench.py runs, in parallel.

Triton compiles a kernel once per specialization (constexprs, and integer arguments equal to
1 or divisible by 16, pointer alignment). The vendored attention kernels have many such
variants per head shape and batch structure; compiled one after the other inside the timed
stages they would cost minutes of a GPU call. This program runs, in --jobs parallel processes,
the same calls with tiny contexts (same specializations, untimed; GPU work of microseconds):

  engine jobs   (model, backend): a 1-layer engine_prod.py forward of every distinct batch
                structure of engines/batches_engines.json (number of prefill chunks and of
                decodes: what selects the kernels and their specializations), plus one
                reference-engine forward
  attn jobs     (backend, head shape): attn_bench.py --precompile

Each job logs to --logdir; a job that fails only costs compile time later. campaign.sh starts
this in the background before the smoke stage and waits for it (bounded) before timing.

usage: precompile.py --logdir DIR [--jobs 8] [--timeout 150] [--models ...] [--skip-attn]
       precompile.py --engine-job MODEL:BACKEND      (one engine job, in this process)
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import common  # noqa: E402

ATTN_HEADS = ["32:8", "16:4", "8:2", "40:40", "20:20", "10:10"]


def cat(x):
    return "1" if x == 1 else ("16" if x % 16 == 0 else "x") if x else "0"


def structures(specs):
    """One shrunken spec per distinct (prefill chunks, decodes) specialization class."""
    seen, out = set(), []
    for s in specs:
        pre, dec = common.expand(s)
        np_, nd = len(pre), len(dec)
        sig = (cat(np_), cat(nd), cat(np_ + nd), nd)
        sig = sig[:3] + (min(nd, 200),)
        if sig in seen:
            continue
        seen.add(sig)
        sp = {}
        if pre:
            sp["prefill"] = [[min(t, 32), min(p, 40)] for t, p in pre]
        if dec:
            sp["decode_ctx"] = [min(c, 40 + (i % 7)) for i, c in enumerate(dec)]
        out.append(sp)
    return out


def engine_job(model, backend, batches):
    import torch
    import kernels as K
    import llama_ref
    import kvpolicy
    import engine_prod
    K.setup_torch()
    cfg = common.load_cfg(model)
    W = llama_ref.Llama(cfg, 16, layers=1)
    arena = kvpolicy.Arena(nbytes=1 << 30)
    l2 = common.l2_bytes()
    with open(batches) as f:
        specs = json.load(f)[model]
    if backend == "ref":
        import run_engines
        eng = run_engines.RefEngine(W)
    else:
        eng = engine_prod.ProdEngine(W, backend)
    t0, n = time.time(), 0
    for sp in structures(specs):
        try:
            pb = eng.prepare(sp, 0)
            rb, tb = eng.kv_need(pb)
            eng.bind(pb, arena.regions(kvpolicy.plan(1, rb, tb, arena.nbytes, l2)))
            eng.forward(pb)
            torch.cuda.synchronize()
            n += 1
        except Exception as ex:
            print(f"{model} {backend} {json.dumps(sp)[:80]}: {type(ex).__name__}: {ex}", flush=True)
            if common.cuda_fatal(ex):
                sys.exit(3)
    print(f"engine job {model}:{backend}: {n} structures in {time.time() - t0:.1f} s", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--logdir", default="/tmp/llmsim-precompile")
    ap.add_argument("--jobs", type=int, default=8)
    ap.add_argument("--timeout", type=float, default=150.0)
    ap.add_argument("--models", default="llama-3-8b,llama-2-13b")
    ap.add_argument("--batches", default=os.path.join(HERE, "batches_engines.json"))
    ap.add_argument("--skip-attn", action="store_true")
    ap.add_argument("--engine-job", default="")
    a = ap.parse_args()
    if a.engine_job:
        model, backend = a.engine_job.split(":")
        engine_job(model, backend, a.batches)
        return
    os.makedirs(a.logdir, exist_ok=True)
    py = sys.executable
    jobs = []
    for m in a.models.split(","):
        for b in ("vllm", "sglang", "ref"):
            jobs.append((f"engine_{m}_{b}", [py, os.path.join(HERE, "precompile.py"), "--engine-job", f"{m}:{b}",
                                              "--batches", a.batches]))
    if not a.skip_attn:
        for b in ("vllm", "sglang"):
            for h in ATTN_HEADS:
                jobs.append((f"attn_{b}_{h.replace(':', '-')}",
                             [py, os.path.join(HERE, "attn_bench.py"), "--precompile", "--backends", b,
                              "--heads", h, "--outdir", os.path.join(a.logdir, "attn")]))
    t0 = time.time()
    running, done = [], []
    env = dict(os.environ, LLMSIM_DEADLINE_S="100000")

    def stop(signum, frame):
        for _, p, _, _ in running:
            p.kill()
        print(f"precompile: stopped by signal {signum}, {len(jobs)} jobs not started", flush=True)
        sys.exit(143)
    signal.signal(signal.SIGTERM, stop)
    while jobs or running:
        while jobs and len(running) < a.jobs:
            name, cmd = jobs.pop(0)
            f = open(os.path.join(a.logdir, name + ".log"), "w")
            running.append((name, subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, env=env), f, time.time()))
        time.sleep(0.2)
        for r in list(running):
            name, p, f, ts = r
            rc = p.poll()
            if rc is None and time.time() - ts > a.timeout:
                p.kill()
                rc = "timeout"
            if rc is not None:
                p.wait()
                f.close()
                running.remove(r)
                done.append((name, rc, time.time() - ts))
    for name, rc, dt in done:
        print(f"precompile {name}: rc={rc} in {dt:.1f} s", flush=True)
    print(f"precompile: {len(done)} jobs in {time.time() - t0:.1f} s", flush=True)


if __name__ == "__main__":
    main()
