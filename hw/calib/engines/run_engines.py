#!/usr/bin/env python3
"""run_engines: whole-model iteration times of the three engines of issue 16 (GPU).

Engines (all share one set of random bf16 weights, reference/llama_ref.py's, and the KV policy
of kvpolicy.py):
  ref          reference/llama_ref.py's engine (fused Triton norms/RoPE, FA2 varlen)  graph
  unfused      engine_unfused.py (HF-style torch.nn.functional, SDPA per chunk/group)  eager, graph
  prod-vllm    engine_prod.py with vLLM's Triton unified attention                      graph
  prod-sglang  engine_prod.py with SGLang's Triton decode/extend attention              graph

Phases (--phase): calib (the 12 calibration shapes: model outer, engine inner), rest (tier-1
batches: engine outer in priority order, model inner), extra (tier 2: the rest of the union),
profile (one profiled eager forward per engine and model -> kernels_<engine>_<model>.txt),
all (calib, rest, profile). Work stops being started when the campaign deadline
(common.Deadline: LLMSIM_T0 + LLMSIM_DEADLINE_S) is near.

Timing: graph = llama_ref.py's protocol (eager warm-up forward, capture, warm-up replays, timed
replays between CUDA events, median/min/max); eager = forward() from Python on an idle GPU, CUDA
events around the call (call to GPU done) and the host time to return, median. --cap-ms > 0
shortens long batches (common.RepPolicy); each line records reps and warmup.

Outputs in --out: engine_<engine>[-<exec>]_<model>.jsonl, first line {"provenance": ...}, then
one line per batch: model, device, engine, exec, attn, class, calib, tier, batch, ms, ms_min,
ms_max, reps, warmup, kv_policy, (graph) capture_s, (eager) host_ms, host_ms_min, wall_ms, and
engine details (prod: kernel_path; unfused: sdpa_calls_per_layer, sdpa); or "error"/"skipped".
sdpa_<model>.json: the unfused engine's SDPA probe. progress.log: crash bookkeeping: a batch
that kills the CUDA context ends the process with exit code 3; rerunning the same command
records it as an error and resumes after it.

usage: run_engines.py --out DIR [--models llama-3-8b,llama-2-13b] [--engines ...] [--phase all]
                      [--batches engines/batches_engines.json] [--cap-ms 0] [--reps 20]
"""
import argparse
import json
import os
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import common  # noqa: E402
from common import log  # noqa: E402
import kvpolicy  # noqa: E402

ENGINE_ORDER = ["prod-vllm", "unfused", "prod-sglang", "ref"]
VARIANTS = {"ref": ["graph"], "unfused": ["eager", "graph"], "prod-vllm": ["graph"], "prod-sglang": ["graph"]}
# rough cost of one (variant-set) measurement relative to the reference engine's forward count
COST = {"ref": 1.0, "unfused": 2.4, "prod-vllm": 1.0, "prod-sglang": 1.0}
PROFILE_BATCH = {"prefill": [[256, 512]], "decode": [[16, 1024]], "decode_ctx": [100, 3000]}


class RefEngine:
    """reference/llama_ref.py's engine behind the interface the other engines have."""
    name = "ref"
    attn_label = "fa2_varlen"

    def __init__(self, W):
        self.W = W

    def prepare(self, spec, seed=0):
        import llama_ref
        b = llama_ref.Batch(spec, self.W.V, seed=seed)
        pre, dec = common.expand(spec)
        off, o = [], 0
        for n in [t + p for t, p in pre] + [c + 1 for c in dec]:
            off.append(o)
            o += n
        return type("PB", (), {"b": b, "off": off, "kv": None, "spec": spec})()

    def kv_need(self, pb):
        import llama_ref
        rb = llama_ref.kv_region_bytes(self.W, pb.b)
        return rb, rb

    def bind(self, pb, regions):
        import llama_ref
        llama_ref.bind_shared_kv(self.W, pb.b, regions)
        pb.kv = regions

    def unbind(self, pb):
        pb.kv = None

    def info(self, pb):
        return {"attn": self.attn_label}

    def forward(self, pb, return_logits=False):
        return self.W.forward(pb.b, return_logits=return_logits)

    def gather_prior(self, pb, l, canon, n):
        r = l % self.W.kv_distinct
        o = pb.off[canon]
        return self.W.kc[r][o:o + n].clone(), self.W.vc[r][o:o + n].clone()


def make_engine(name, W):
    if name == "ref":
        return RefEngine(W)
    if name == "unfused":
        import engine_unfused
        return engine_unfused.UnfusedEngine(W)
    if name in ("prod-vllm", "prod-sglang"):
        import engine_prod
        return engine_prod.ProdEngine(W, name.split("-", 1)[1])
    raise ValueError(f"unknown engine {name!r} (known: {', '.join(ENGINE_ORDER)})")


class ModelCtx:
    """One model's weights, KV arena and engines (built on demand)."""

    def __init__(self, model, cfg, layers=0, out=None):
        import torch
        import llama_ref
        self.model, self.cfg, self.out = model, cfg, out
        self.L = layers or cfg["num_layers"]
        t0 = time.time()
        self.W = llama_ref.Llama(cfg, 16, layers=self.L)
        torch.cuda.synchronize()
        self.arena = kvpolicy.Arena()
        self.l2 = common.l2_bytes()
        self.engines, self.failed = {}, {}
        log(f"model {model}: {self.L} layers, KV arena {self.arena.nbytes / 2**30:.1f} GiB, "
            f"set up in {time.time() - t0:.1f} s")

    def engine(self, name):
        if name in self.failed:
            return None
        if name not in self.engines:
            try:
                self.engines[name] = make_engine(name, self.W)
                if name == "unfused" and self.out:
                    with open(os.path.join(self.out, f"sdpa_{self.model}.json"), "w") as f:
                        json.dump({"model": self.model, "layers": self.L,
                                   "probe": self.engines[name].report}, f, indent=1)
            except Exception as e:
                self.failed[name] = f"{type(e).__name__}: {e}"
                log(f"engine {name} unavailable for {self.model}: {self.failed[name]}")
                traceback.print_exc()
                return None
        return self.engines[name]

    def close(self):
        import torch
        self.engines.clear()
        self.arena.release()
        self.W = None
        torch.cuda.synchronize()
        torch.cuda.empty_cache()


def out_name(eng, ex, model):
    suf = eng if len(VARIANTS[eng]) == 1 else f"{eng}-{ex}"
    return f"engine_{suf}_{model}.jsonl"


class Runner:
    def __init__(self, a):
        import kernels as K
        self.a = a
        self.dev = K.device_slug()
        self.dl = common.Deadline()
        self.policy = common.RepPolicy(a.reps, a.warm, a.cap_ms)
        self.outs = {}
        self.ctx = None
        self.prov = common.provenance("run_engines.py", {
            "timing": (f"graph: llama_ref.py protocol (eager warm-up, CUDA graph, {a.warm} warm-up and {a.reps} "
                       f"timed replays, fewer above {a.cap_ms} ms of timed work: see reps/warmup); eager: CUDA "
                       f"events around forward() on an idle GPU, median of reps"),
            "kv": "engines/kvpolicy.py (kv_policy per line)"})
        self.progress = open(os.path.join(a.out, "progress.log"), "a")
        self.crashed, self.fatal_count = self._read_progress()
        self.errors = {}

    # ------------------------------------------------------------ bookkeeping
    def _read_progress(self):
        p = os.path.join(self.a.out, "progress.log")
        started, crashed, fatal = {}, set(), {}
        if os.path.exists(p):
            with open(p) as f:
                for line in f:
                    c = line.rstrip("\n").split("\t")
                    if len(c) < 4:
                        continue
                    k = (c[1], c[2], c[3])
                    if c[0] == "start":
                        started[k] = True
                    elif c[0] in ("end", "crash"):
                        started.pop(k, None)
                        if c[0] == "crash":
                            crashed.add(k)
            for k in started:           # started, never ended: that batch killed the process
                crashed.add(k)
                self.progress.write(f"crash\t{k[0]}\t{k[1]}\t{k[2]}\n")
            for k in crashed:
                fatal[(k[0], k[1])] = fatal.get((k[0], k[1]), 0) + 1
            self.progress.flush()
        return crashed, fatal

    def out(self, eng, ex, model):
        n = out_name(eng, ex, model)
        if n not in self.outs:
            self.outs[n] = common.JsonlOut(os.path.join(self.a.out, n), self.prov)
        return self.outs[n]

    def model_ctx(self, model):
        if self.ctx is not None and self.ctx.model == model:
            return self.ctx
        if self.ctx is not None:
            self.ctx.close()
            self.ctx = None
        cfg = common.load_cfg(model, self.a.catalog)
        self.ctx = ModelCtx(model, cfg, self.a.layers, self.a.out)
        return self.ctx

    # ------------------------------------------------------------ one batch
    def measure(self, model, eng_name, spec, seed):
        """Measures every exec variant of engine eng_name on spec. Returns False when the
        deadline stopped it, True otherwise (measured, skipped or failed)."""
        variants = VARIANTS[eng_name]
        outs = [self.out(eng_name, ex, model) for ex in variants]
        if all(o.done(spec) for o in outs):
            return True
        k = (eng_name, model, common.key(spec))
        base = {"model": model, "device": self.dev, "engine": eng_name, "class": common.cls(spec),
                "calib": bool(spec.get("calib")), "tier": spec.get("tier", 1), "batch": common.clean(spec)}
        if k in self.crashed:
            for ex, o in zip(variants, outs):
                if not o.done(spec):
                    o.write(dict(base, exec=ex, error="the CUDA context died while this batch ran (earlier process)"))
            return True
        if self.fatal_count.get((eng_name, model), 0) >= 2 or self.errors.get((eng_name, model), 0) >= 3:
            for ex, o in zip(variants, outs):
                o.write(dict(base, exec=ex, error="engine disabled for this model after repeated failures"))
            return True
        est_s = COST[eng_name] * 24 * float(spec.get("est_ms", 30.0)) / 1000.0
        if self.policy.cap_ms > 0:
            est_s = min(est_s, COST[eng_name] * (self.policy.cap_ms + 4 * float(spec.get("est_ms", 30.0))) / 1000.0)
        if not self.dl.ok(est_s + 1.0):
            return False
        ctx = self.model_ctx(model)
        eng = ctx.engine(eng_name)
        if eng is None:
            for ex, o in zip(variants, outs):
                o.write(dict(base, exec=ex, error=f"engine unavailable: {ctx.failed.get(eng_name)}"))
            return True
        self.progress.write(f"start\t{k[0]}\t{k[1]}\t{k[2]}\n")
        self.progress.flush()
        os.fsync(self.progress.fileno())
        t0 = time.time()
        try:
            recs = self._measure(ctx, eng, variants, spec, seed, base)
            self.errors[(eng_name, model)] = 0
        except Exception as e:
            if common.cuda_fatal(e):
                log(f"FATAL CUDA error in {eng_name} {model} {k[2]}: {e!r}")
                traceback.print_exc()
                self.progress.write(f"crash\t{k[0]}\t{k[1]}\t{k[2]}\n")
                self.progress.flush()
                for ex, o in zip(variants, outs):
                    o.write(dict(base, exec=ex, error=f"fatal CUDA error: {str(e)[:300]}"))
                sys.exit(3)
            log(f"error in {eng_name} {model} {k[2]}: {type(e).__name__}: {e}")
            traceback.print_exc()
            self.errors[(eng_name, model)] = self.errors.get((eng_name, model), 0) + 1
            recs = [dict(base, exec=ex, error=f"{type(e).__name__}: {str(e)[:300]}") for ex in variants]
        for r, o in zip(recs, outs):
            o.write(r)
        self.progress.write(f"end\t{k[0]}\t{k[1]}\t{k[2]}\n")
        self.progress.flush()
        ms = " ".join(f"{r.get('exec')}={r.get('ms', r.get('error', r.get('skipped', '?')))}" for r in recs)
        log(f"  {eng_name:11s} {model:11s} {common.cls(spec):7s} {common.key(spec)[:70]:70s} {ms} "
            f"[{time.time() - t0:.1f} s, {self.dl.left():.0f} s left]")
        return True

    def _measure(self, ctx, eng, variants, spec, seed, base):
        import torch
        pb = eng.prepare(common.clean(spec), seed)
        rb, tb = eng.kv_need(pb)
        p = kvpolicy.plan(ctx.L, rb, tb, ctx.arena.nbytes, ctx.l2)
        kvd = kvpolicy.describe(p)
        if p["policy"] == "none":
            return [dict(base, exec=ex, kv_policy=kvd, skipped=p["why"]) for ex in variants]
        eng.bind(pb, ctx.arena.regions(p))
        info = eng.info(pb)
        try:
            fwd = lambda: eng.forward(pb)  # noqa: E731
            est = common.sync_wall_ms(fwd)          # eager warm-up: compiles, cuBLAS heuristics
            if est > 50.0:                          # a compile may hide in it: time a second one
                est = common.sync_wall_ms(fwd)
            recs = []
            for ex in variants:
                if ex == "eager":
                    r = common.time_eager(fwd, self.policy, est)
                else:
                    r = common.time_graph(fwd, self.policy, est)
                recs.append(dict(base, exec=ex, kv_policy=kvd, **info, **r))
            return recs
        finally:
            eng.unbind(pb)
            torch.cuda.empty_cache()

    # ------------------------------------------------------------ phases
    def specs(self, model, phase):
        with open(self.a.batches) as f:
            allb = json.load(f)
        lst = allb[model] if isinstance(allb, dict) else allb
        seeded = [(i, s) for i, s in enumerate(lst)]
        if self.a.limit:
            seeded = seeded[:self.a.limit]
        if phase == "calib":
            return [x for x in seeded if x[1].get("calib")]
        if phase == "rest":
            return [x for x in seeded if not x[1].get("calib") and x[1].get("tier", 1) == 1]
        if phase == "extra":
            return [x for x in seeded if not x[1].get("calib") and x[1].get("tier", 1) == 2]
        if phase == "every":
            return seeded
        raise ValueError(phase)

    def run_calib(self):
        for model in self.a.models:
            for eng in self.a.engines:
                for seed, s in self.specs(model, "calib"):
                    if not self.measure(model, eng, s, seed):
                        return False
        return True

    def run_list(self, phase):
        for eng in self.a.engines:
            for model in self.a.models:
                for seed, s in self.specs(model, phase):
                    if not self.measure(model, eng, s, seed):
                        return False
        return True

    def run_profile(self):
        for model in self.a.models:
            for name in self.a.engines:
                if not self.dl.ok(8.0):
                    return False
                ctx = self.model_ctx(model)
                eng = ctx.engine(name)
                if eng is None:
                    continue
                try:
                    profile(ctx, eng, model, self.a.out)
                except Exception as e:
                    if common.cuda_fatal(e):
                        sys.exit(3)
                    log(f"profile {name} {model}: {type(e).__name__}: {e}")
        return True

    def close(self):
        for o in self.outs.values():
            o.close()
        self.progress.close()
        if self.ctx is not None:
            try:
                self.ctx.close()
            except Exception as e:    # a dead CUDA context: keep the exit code of the caller
                log(f"closing the model context: {type(e).__name__}: {e}")


def profile(ctx, eng, model, out):
    """Kernel list of one eager forward of PROFILE_BATCH -> kernels_<engine>_<model>.txt."""
    import torch
    from torch.profiler import profile as tprof, ProfilerActivity
    pb = eng.prepare(PROFILE_BATCH, 0)
    rb, tb = eng.kv_need(pb)
    p = kvpolicy.plan(ctx.L, rb, tb, ctx.arena.nbytes, ctx.l2)
    eng.bind(pb, ctx.arena.regions(p))
    try:
        eng.forward(pb)
        torch.cuda.synchronize()
        with tprof(activities=[ProfilerActivity.CUDA]) as prof:
            eng.forward(pb)
            torch.cuda.synchronize()
        evs = [e for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA]
        evs.sort(key=lambda e: e.time_range.start)
        counts = {}
        for e in evs:
            counts[e.name] = counts.get(e.name, 0) + 1
        path = os.path.join(out, f"kernels_{eng.name}_{model}.txt")
        with open(path, "w") as f:
            f.write(f"# kernels of one eager forward of {eng.name}, model {model}, layers={ctx.L}, "
                    f"batch={json.dumps(PROFILE_BATCH)}\n")
            f.write(f"# {len(evs)} kernels, {len(evs) / max(ctx.L, 1):.1f} per layer incl. head/tail\n")
            f.write("# counts by name:\n")
            for n, c in sorted(counts.items(), key=lambda x: -x[1]):
                f.write(f"#  {c:6d}  {n}\n")
            for e in evs:
                f.write(f"{e.time_range.elapsed_us():10.1f} us  {e.name}\n")
        log(f"profile {eng.name} {model}: {len(evs)} kernels -> {path}")
    finally:
        eng.unbind(pb)
        torch.cuda.empty_cache()


def parse(default_engines=None, argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--models", default="llama-3-8b,llama-2-13b")
    ap.add_argument("--engines", default=default_engines or ",".join(ENGINE_ORDER))
    ap.add_argument("--phase", default="all", choices=["calib", "rest", "extra", "profile", "all", "every"])
    ap.add_argument("--batches", default=os.path.join(HERE, "batches_engines.json"))
    ap.add_argument("--catalog", default=common.CATALOG)
    ap.add_argument("--cap-ms", type=float, default=0.0, help="timed-work cap per batch (0: llama_ref's reps)")
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--warm", type=int, default=3)
    ap.add_argument("--layers", type=int, default=0, help="override num_layers (smoke tests)")
    ap.add_argument("--limit", type=int, default=0, help="only the first N batches of each model list")
    a = ap.parse_args(argv)
    a.models = [m for m in a.models.split(",") if m]
    a.engines = [e for e in a.engines.split(",") if e]
    for e in a.engines:
        if e not in VARIANTS:
            ap.error(f"--engines: unknown {e!r} (known: {', '.join(ENGINE_ORDER)})")
    return a


def main(default_engines=None, argv=None):
    a = parse(default_engines, argv)
    import kernels as K
    K.setup_torch()
    os.makedirs(a.out, exist_ok=True)
    log(json.dumps(K.env_report()))
    r = Runner(a)
    t0 = time.time()
    try:
        if a.phase in ("calib", "all"):
            r.run_calib()
        if a.phase in ("rest", "all"):
            r.run_list("rest")
        if a.phase == "extra":
            r.run_list("extra")
        if a.phase == "every":
            r.run_list("every")
        if a.phase in ("profile", "all"):
            r.run_profile()
    finally:
        r.close()
    log(f"run_engines {a.phase}: done in {time.time() - t0:.1f} s ({r.dl.left():.0f} s left before the deadline)")


if __name__ == "__main__":
    main()
