#!/usr/bin/env python3
"""serve.py: a real serving loop on the GPU for end-to-end fidelity (issues 8 and 20).

Stable command line (held-back trace slices and loads are run with it):

    serve.py --config CONFIG --out DIR

CONFIG is an llmsim scenario (configs/e2e/v1/*.json: a generic CSV slice, a scheduler, a KV
pool in blocks, the load in workload.rate_scale); DIR receives one JSON-lines file per run,
DIR/<config name>_x<rate_scale>_<device>.jsonl.  --config may be repeated (one model load for
all: they must name the same model).  Options: --rate-scale X [Y...] (loads to run; default the
config's own), --set key.path=value (as llmsim), --time-limit S (per run), --engine-mode
v1|eager (default v1), --engine ref|PATH (v1: the forward; default the reference engine),
--layers N and --smoke (below).

--engine-mode v1 (serve_v1.py): the loop runs like vLLM V1 -- CUDA graphs at vLLM's capture
sizes (a full graph for decode-only batches, piecewise graphs with attention run eagerly between
them for the rest, batches padded to their capture size), LM head and sampling eager, and async
scheduling (the next step planned and launched while the current one runs).  Every rule, with
the vLLM file and function it comes from, is in serve_v1.py's docstring.

--engine-mode eager (issue 8's loop, kept as it was): each iteration plans, builds the batch's
inputs and runs the forward eagerly from Python (no CUDA graphs), then waits for the GPU:

  * requests are admitted at their trace arrival times by the wall clock
    (time.perf_counter_ns from the run's start); an idle loop sleeps until 1 ms before the
    next arrival and spins the rest, so it never sleeps past one;
  * each iteration: the arrivals up to now join the waiting queue, sched.Engine plans the
    batch (llmsim's rules, sched.py), the batch is built (llama_ref.Batch) and run, and the
    loop waits for the GPU (torch.cuda.synchronize); sched_ns (planning), prep_ns (building
    the inputs) and fwd_ns (launch + GPU until synchronize) are recorded apart, and `llmsim
    validate-e2e` prices every measured batch with the cost model alone, so the eager
    launch overhead shows up as cost-model error, not as scheduling error.

Both modes: the KV cache is llama_ref's packed buffer (each batch's sequences laid out one
after the other, cached part random): the KV capacity in blocks is the scheduler's
bookkeeping, the buffer holds every token it admits (kv_blocks x block_tokens).

--smoke: checks the loop on a GPU in seconds: 2 layers, the first 5 s of each config's trace,
a 20 s limit, and the graph paths checked against the eager forward (v1).

Output (JSON lines, integer ns from the run's start):
  {"type": "run", "config", "set": [...], "rate_scale", "scheduler", "model", "device",
   "mode": "v1" or "eager", "gpu", "driver", "torch", "cuda", "date", "command", "layers", ...}
  {"type": "request", "id", "arrival_ns", "first_token_ns", "finish_ns", "prompt_tokens",
   "output_tokens", "preemptions", "status"}            (ok, rejected or unfinished; -1: never)
  {"type": "iteration", "start_ns", "end_ns", "preemptions", "waiting", "batch", ...}
     eager: "sched_ns", "prep_ns", "fwd_ns"; v1: "plan_ns", "sched_ns", "prep_ns",
     "launch_ns", "gpu_ns", "overlap" (serve_v1.py), and "batch" carries "pad" and "graph"
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
        waiting = len(eng.waiting)
        b = L.Batch(spec, vocab, seed=n_iter)
        t_prep = time.perf_counter_ns() - t0
        m.forward(b)
        sync()
        end = time.perf_counter_ns() - t0
        eng.end(end)
        out.write(json.dumps({"type": "iteration", "start_ns": now, "end_ns": end,
                              "sched_ns": t_sched - now, "prep_ns": t_prep - t_sched,
                              "fwd_ns": end - t_prep, "preemptions": eng.iter_preemptions,
                              "waiting": waiting, "batch": spec}) + "\n")
        n_iter += 1
    for q in sorted(reqs, key=lambda r: r.id):
        out.write(json.dumps({"type": "request", "id": q.id, "arrival_ns": q.arrival_ns,
                              "first_token_ns": q.first_token_ns, "finish_ns": q.finish_ns,
                              "prompt_tokens": q.prompt, "output_tokens": q.generated,
                              "preemptions": q.preemptions,
                              "status": "rejected" if q.rejected else
                              ("ok" if q.finish_ns >= 0 else "unfinished")}) + "\n")
    return n_iter


def log(msg):
    print(msg, flush=True)


def load_configs(a):
    """(path, cfg, Limits, kv_blocks, block_tokens, max_model_len, model id) per --config."""
    out = []
    for path in a.config:
        cfg = S.load_scenario(path, a.set)
        lim, kv_blocks, bt, mml = S.scenario_params(cfg, path)
        out.append((path, cfg, lim, kv_blocks, bt, mml, cfg["model"]["id"]))
    if len({c[6] for c in out}) != 1:
        raise S.ConfigError("--config: every config must name the same model.id")
    return out


def runs_of(a, path, cfg, device):
    """(rate_scale, sets, name) of each run of one config."""
    base = os.path.splitext(os.path.basename(path))[0]
    scales = a.rate_scale or [float(cfg.get("workload", {}).get("rate_scale", 1))]
    for rs in scales:
        sets = a.set + [f"workload.rate_scale={rs:g}", f"hardware.device={device}"]
        yield rs, sets, f"{base}_x{rs:g}_{device}"


def build_model(a, K, L, mcfg, nl, kv_tokens, configs):
    """eager: llama_ref.Llama; v1: serve_v1's runner (forward + graphs)."""
    import torch
    if a.engine_mode == "v1":
        import serve_v1 as V
        limits = [c[2] for c in configs]
        mml = max(c[5] for c in configs)
        runner, kv_distinct = V.build_runner(a.engine, mcfg, nl, kv_tokens, limits, mml,
                                             a.mem_margin_gib, log)
        if a.smoke:
            V.graph_check(runner, log)
        return runner, kv_distinct
    H, KVH, hd = mcfg["num_heads"], mcfg["num_kv_heads"], mcfg["head_dim"]
    hid, F, V_ = mcfg["hidden_size"], mcfg["ffn_size"], mcfg["vocab_size"]
    wbytes = 2 * (2 * V_ * hid + nl * (((H + 2 * KVH) * hd + H * hd) * hid + 3 * F * hid))
    kv_layer = 2 * kv_tokens * KVH * hd * 2
    free, _ = torch.cuda.mem_get_info()
    kv_distinct = max(1, min(nl, int((free - wbytes - a.mem_margin_gib * 2 ** 30) // kv_layer)))
    if kv_distinct < nl:
        print(f"warning: only {kv_distinct}/{nl} distinct KV layers fit", file=sys.stderr)
    m = L.Llama(mcfg, kv_tokens, layers=nl, kv_distinct=kv_distinct)
    warm_up(m, L, V_)
    return m, kv_distinct


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", required=True, action="append",
                    help="llmsim scenario (configs/e2e/v1/*.json); repeatable")
    ap.add_argument("--out", required=True)
    ap.add_argument("--set", action="append", default=[], help="key.path=value, as llmsim")
    ap.add_argument("--rate-scale", type=float, nargs="+", default=None,
                    help="loads to run (default: the config's workload.rate_scale)")
    ap.add_argument("--engine-mode", choices=["v1", "eager"], default="v1")
    ap.add_argument("--engine", default="ref",
                    help="v1 forward: ref (reference engine) or a module path with build()")
    ap.add_argument("--catalog", default=os.path.join(HERE, "..", "..", "..", "models", "catalog"))
    ap.add_argument("--layers", type=int, default=0, help="override num_layers (smoke tests only)")
    ap.add_argument("--time-limit", type=float, default=0, help="seconds per run (0: none)")
    ap.add_argument("--smoke", action="store_true",
                    help="2 layers, first 5 s of each trace, 20 s limit, graph check")
    ap.add_argument("--mem-margin-gib", type=float, default=6.0)
    a = ap.parse_args()
    if a.smoke:
        a.layers = a.layers or 2
        a.time_limit = a.time_limit or 20
    try:
        configs = load_configs(a)
        if a.engine_mode == "eager" and any(c[2].async_sched for c in configs):
            raise S.ConfigError("scheduler.async_scheduling: the eager loop is synchronous; "
                                "use --engine-mode v1 or async_scheduling false")
    except S.ConfigError as e:
        print(f"serve.py: {e}", file=sys.stderr)
        return 2
    import torch
    import kernels as K
    import llama_ref as L
    K.setup_torch()
    with open(os.path.join(a.catalog, configs[0][6] + ".json")) as f:
        mcfg = json.load(f)
    nl = a.layers or mcfg["num_layers"]
    # every admitted token has a block: the packed buffer never needs more
    kv_tokens = max(c[3] * c[4] for c in configs) + 16
    model, kv_distinct = build_model(a, K, L, mcfg, nl, kv_tokens, configs)
    prov = K.provenance("reference/serve.py", {"mode": a.engine_mode, "layers": nl,
                                               "kv_distinct_layers": kv_distinct})
    if a.engine_mode == "v1":
        prov.update({"engine": a.engine, "capture_sizes": model.sizes,
                     "full_graphs": sorted(model.full_graphs)})
    os.makedirs(a.out, exist_ok=True)
    dev = K.device_slug()
    for path, cfg, lim, kv_blocks, bt, mml, model_id in configs:
        for rs, sets, name in runs_of(a, path, cfg, dev):
            run_cfg = S.load_scenario(path, sets)
            reqs = S.load_requests(run_cfg, path)
            if a.smoke:
                reqs = [q for q in reqs if q.arrival_ns < 5_000_000_000]
            eng = S.Engine(lim, kv_blocks, bt, mml)
            out_path = os.path.join(a.out, name + ".jsonl")
            head = {"type": "run", "config": path, "set": sets, "rate_scale": rs,
                    "scheduler": lim.name, "model": model_id, "device": dev,
                    "async_scheduling": bool(getattr(lim, "async_sched", False))}
            head.update(prov)
            t = time.time()
            with open(out_path + ".tmp", "w") as out:
                out.write(json.dumps(head) + "\n")
                if a.engine_mode == "v1":
                    import serve_v1 as V
                    n = V.serve_one(model, eng, reqs, out, a.time_limit, S)
                else:
                    n = serve_one(model, L, mcfg["vocab_size"], eng, reqs, out, a.time_limit,
                                  torch.cuda.synchronize)
            os.replace(out_path + ".tmp", out_path)
            log(f"{name}: {len(reqs)} requests, {n} iterations, {eng.preemptions} "
                f"preemptions, {time.time() - t:.1f} s -> {out_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
