#!/usr/bin/env python3
"""serve.py: a real serving loop on the GPU for end-to-end fidelity (issue 8).

Replays an llmsim scenario (configs/e2e/*.json: a generic CSV slice, a scheduler, a KV pool
in blocks) on the reference engine of llama_ref.py (random bf16 weights, the same kernels the
cost model is calibrated on), with llmsim's own scheduling rules (sched.py):

  * requests are admitted at their trace arrival times by the wall clock
    (time.perf_counter_ns from the run's start); an idle loop sleeps until 1 ms before the
    next arrival and spins the rest, so it never sleeps past one;
  * each iteration: the arrivals up to now join the waiting queue, sched.Engine plans the
    batch (FCFS, max_num_seqs, max_num_batched_tokens, 16-token blocks against
    hardware.kv_blocks, watermark, recompute preemption of the newest running request;
    Sarathi: decodes first, then chunks within the token budget), the batch is built
    (llama_ref.Batch) and run, and the loop waits for the GPU (torch.cuda.synchronize);
  * the forward runs EAGERLY (no CUDA graphs): a serving run sees thousands of distinct
    batch shapes.  Eager launches cost CPU time that a graph replay does not, which is
    exactly what the measured iteration records expose: sched_ns (planning), prep_ns
    (building the batch's input tensors and copying them to the GPU) and fwd_ns (launch +
    GPU until synchronize) are recorded apart, and `llmsim validate-e2e` prices every
    measured batch with the cost model alone, so this overhead shows up as cost-model error,
    not as scheduling error.
  * the KV cache is llama_ref's packed buffer (each batch's sequences laid out one after the
    other, cached part random): the KV capacity in blocks is the scheduler's bookkeeping,
    the buffer is sized to hold every token it admits (kv_blocks x block_tokens).

Output: DIR/<name>.jsonl per rate scale, JSON lines with integer ns times from the run's
start:
  {"type": "run", "config", "set": [...], "rate_scale", "scheduler", "model", "device",
   "mode": "eager", "gpu", "driver", "torch", "cuda", "date", "command", "layers"}
  {"type": "request", "id", "arrival_ns", "first_token_ns", "finish_ns", "prompt_tokens",
   "output_tokens", "preemptions", "status"}            (ok or rejected; -1: never)
  {"type": "iteration", "start_ns", "end_ns", "sched_ns", "prep_ns", "fwd_ns",
   "preemptions", "batch": {"prefill": [[tokens, prior]], "decode": [[count, ctx]]}}

usage: serve.py --config configs/e2e/conv_vllm.json --rate-scale 1 2 3 --out DIR
                [--set key.path=value]... [--layers N] [--time-limit S]
"""
import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import importlib.util  # noqa: E402

# by path: the standard library has a module named sched too
_spec = importlib.util.spec_from_file_location("llmsim_sched", os.path.join(HERE, "sched.py"))
S = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(S)


def wait_until(t0, t_ns):
    """Sleeps until 1 ms before t_ns (from t0), then spins: never past the arrival."""
    while True:
        left = t_ns - (time.perf_counter_ns() - t0)
        if left <= 0:
            return
        if left > 1_500_000:
            time.sleep((left - 1_000_000) / 1e9)


def warm_up(m, L, vocab):
    """Eager forwards of a few shapes: Triton compiles, cuBLASLt picks algorithms."""
    import torch
    for spec in ({"prefill": [[512, 0]]}, {"prefill": [[37, 100]], "decode": [[3, 50]]},
                 {"decode": [[64, 1000]]}, {"prefill": [[2048, 0]]}):
        m.forward(L.Batch(spec, vocab))
    torch.cuda.synchronize()


def serve_one(m, L, vocab, eng, reqs, out, time_limit_s, sync):
    """The wall-clock loop of one run; writes iterations as they end, requests at the end.
    sync() waits for the GPU (torch.cuda.synchronize)."""
    t0 = time.perf_counter_ns()
    i, n_iter = 0, 0
    while i < len(reqs) or not eng.idle():
        now = time.perf_counter_ns() - t0
        if time_limit_s and now > time_limit_s * 1e9:
            print(f"time limit: stopped with {len(reqs) - i} requests not yet arrived",
                  file=sys.stderr)
            break
        while i < len(reqs) and reqs[i].arrival_ns <= now:
            eng.arrive(reqs[i])
            i += 1
        plan = eng.schedule(now)
        spec = eng.batch(plan)
        t_sched = time.perf_counter_ns() - t0
        if S.batch_tokens(spec) == 0:
            if i >= len(reqs):
                if not eng.idle():
                    raise RuntimeError("engine stalled with work left")
                break
            wait_until(t0, reqs[i].arrival_ns)
            continue
        b = L.Batch(spec, vocab, seed=n_iter)
        t_prep = time.perf_counter_ns() - t0
        m.forward(b)
        sync()
        end = time.perf_counter_ns() - t0
        eng.end(end)
        out.write(json.dumps({"type": "iteration", "start_ns": now, "end_ns": end,
                              "sched_ns": t_sched - now, "prep_ns": t_prep - t_sched,
                              "fwd_ns": end - t_prep, "preemptions": eng.iter_preemptions,
                              "batch": spec}) + "\n")
        n_iter += 1
    for q in sorted(reqs, key=lambda r: r.id):
        out.write(json.dumps({"type": "request", "id": q.id, "arrival_ns": q.arrival_ns,
                              "first_token_ns": q.first_token_ns, "finish_ns": q.finish_ns,
                              "prompt_tokens": q.prompt, "output_tokens": q.generated,
                              "preemptions": q.preemptions,
                              "status": "rejected" if q.rejected else
                              ("ok" if q.finish_ns >= 0 else "unfinished")}) + "\n")
    return n_iter


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", required=True, help="llmsim scenario (configs/e2e/*.json)")
    ap.add_argument("--set", action="append", default=[], help="key.path=value, as llmsim")
    ap.add_argument("--rate-scale", type=float, nargs="+", default=[1.0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--catalog", default=os.path.join(HERE, "..", "..", "..", "models", "catalog"))
    ap.add_argument("--layers", type=int, default=0, help="override num_layers (smoke tests only)")
    ap.add_argument("--time-limit", type=float, default=0, help="seconds per run (0: none)")
    ap.add_argument("--mem-margin-gib", type=float, default=6.0)
    a = ap.parse_args()
    try:
        cfg = S.load_scenario(a.config, a.set)
        lim, kv_blocks, bt, mml = S.scenario_params(cfg, a.config)
        model_id = cfg["model"]["id"]
    except S.ConfigError as e:
        print(f"serve.py: {e}", file=sys.stderr)
        return 2
    import torch
    import kernels as K
    import llama_ref as L
    K.setup_torch()
    with open(os.path.join(a.catalog, model_id + ".json")) as f:
        mcfg = json.load(f)
    nl = a.layers or mcfg["num_layers"]
    # every admitted token has a block: the packed buffer never needs more
    kv_tokens = kv_blocks * bt + 16
    H, KVH, hd = mcfg["num_heads"], mcfg["num_kv_heads"], mcfg["head_dim"]
    hid, F, V = mcfg["hidden_size"], mcfg["ffn_size"], mcfg["vocab_size"]
    wbytes = 2 * (2 * V * hid + nl * (((H + 2 * KVH) * hd + H * hd) * hid + 3 * F * hid))
    kv_layer = 2 * kv_tokens * KVH * hd * 2
    free, _ = torch.cuda.mem_get_info()
    kv_distinct = max(1, min(nl, int((free - wbytes - a.mem_margin_gib * 2 ** 30) // kv_layer)))
    if kv_distinct < nl:
        print(f"warning: only {kv_distinct}/{nl} distinct KV layers fit", file=sys.stderr)
    m = L.Llama(mcfg, kv_tokens, layers=nl, kv_distinct=kv_distinct)
    warm_up(m, L, V)
    prov = K.provenance("reference/serve.py", {"mode": "eager", "layers": nl,
                                               "kv_distinct_layers": kv_distinct})
    os.makedirs(a.out, exist_ok=True)
    base = os.path.splitext(os.path.basename(a.config))[0]
    for rs in a.rate_scale:
        sets = a.set + [f"workload.rate_scale={rs:g}",
                        f"hardware.device={K.device_slug()}"]
        run_cfg = S.load_scenario(a.config, sets)
        reqs = S.load_requests(run_cfg, a.config)
        eng = S.Engine(lim, kv_blocks, bt, mml)
        name = f"{base}_x{rs:g}_{K.device_slug()}"
        path = os.path.join(a.out, name + ".jsonl")
        head = {"type": "run", "config": a.config, "set": sets, "rate_scale": rs,
                "scheduler": lim.name, "model": model_id, "device": K.device_slug()}
        head.update(prov)
        t = time.time()
        with open(path + ".tmp", "w") as out:
            out.write(json.dumps(head) + "\n")
            n = serve_one(m, L, V, eng, reqs, out, a.time_limit,
                              torch.cuda.synchronize)
        os.replace(path + ".tmp", path)
        print(f"{name}: {len(reqs)} requests, {n} iterations, {eng.preemptions} preemptions, "
              f"{time.time() - t:.1f} s -> {path}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
