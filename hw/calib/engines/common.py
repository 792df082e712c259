"""Shared helpers of the hw/calib/engines programs: batch specs, the deadline guard, timing
(reference/kernels.py's CUDA-graph capture and replay timing, reused), provenance, resumable
JSON-lines output.

Batch spec (as reference/batches.json): {"prefill": [[tokens, prior], ...],
"decode": [[count, context], ...], "decode_ctx": [c1, ...]}; engines/batches_engines.json adds
"calib" (one of the 12 calibration shapes of issue 16) and "tier" (0 calib, 1 the budgeted run,
2 the rest of the union, measured only by the extra stage).

Canonical sequence order (every engine returns logits in it): the prefill chunks in spec order,
then the decoding sequences in spec order (the "decode" groups expanded, then "decode_ctx").
"""
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REF_DIR = os.path.join(HERE, "..", "reference")
REPO = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
CATALOG = os.path.join(REPO, "models", "catalog")
if REF_DIR not in sys.path:
    sys.path.insert(0, REF_DIR)

# The 12 calibration shapes of issue 16, item 4 (verbatim).
CALIB_SHAPES = [
    {"prefill": [[128, 0]]}, {"prefill": [[512, 0]]}, {"prefill": [[2048, 0]]}, {"prefill": [[8192, 0]]},
    {"prefill": [[1024, 0], [1024, 0], [1024, 0], [1024, 0]]},
    {"decode": [[1, 1024]]}, {"decode": [[32, 512]]}, {"decode": [[128, 2048]]}, {"decode": [[256, 1024]]},
    {"prefill": [[512, 0]], "decode": [[64, 512]]},
    {"prefill": [[256, 3840]], "decode": [[64, 1024]]},
    {"prefill": [[2048, 0]], "decode": [[128, 512]]},
]
SPEC_KEYS = ("prefill", "decode", "decode_ctx")


def clean(spec):
    """The batch part of a spec (no calib/tier marks), keys in canonical order."""
    return {k: spec[k] for k in SPEC_KEYS if spec.get(k)}


def key(spec):
    return json.dumps(clean(spec), sort_keys=True)


def expand(spec):
    """(prefill [(tokens, prior)], decode contexts [ctx] in canonical order)."""
    pre = [(int(t), int(p)) for t, p in spec.get("prefill", [])]
    dec = []
    for c, x in spec.get("decode", []):
        dec += [int(x)] * int(c)
    dec += [int(x) for x in spec.get("decode_ctx", [])]
    return pre, dec


def cls(spec):
    pre, dec = expand(spec)
    if pre and dec:
        return "mixed"
    return "prefill" if pre else "decode"


def load_cfg(model, catalog=CATALOG):
    with open(os.path.join(catalog, model + ".json")) as f:
        return json.load(f)


def cdiv(a, b):
    return -(-a // b)


# ----------------------------------------------------------------------------- deadline
class Deadline:
    """Wall-clock guard shared by every program of one campaign run: LLMSIM_T0 (epoch seconds,
    set once by campaign.sh) + LLMSIM_DEADLINE_S (default 530). ok(est_s) says whether work
    of about est_s seconds can still start, keeping `reserve` seconds for packing."""

    def __init__(self, reserve=12.0):
        self.t0 = float(os.environ.get("LLMSIM_T0", time.time()))
        self.limit = float(os.environ.get("LLMSIM_DEADLINE_S", "530"))
        self.reserve = reserve

    def left(self):
        return self.t0 + self.limit - time.time()

    def ok(self, est_s=0.0):
        return self.left() - self.reserve > est_s


# ----------------------------------------------------------------------------- timing
def median(xs):
    s = sorted(xs)
    n = len(s)
    return s[n // 2] if n % 2 else 0.5 * (s[n // 2 - 1] + s[n // 2])


class RepPolicy:
    """How many replays a batch gets. cap_ms 0: exactly llama_ref.py (warm warm-up replays,
    reps timed). cap_ms > 0: a batch whose estimate est_ms makes reps x est_ms exceed cap_ms
    gets max(min_reps, cap_ms / est_ms) timed replays, and 1 warm-up replay when est_ms > 50
    (the budget of one GPU call; long forwards vary by 1-3% between replays)."""

    def __init__(self, reps=20, warm=3, cap_ms=0.0, min_reps=5):
        self.reps, self.warm, self.cap_ms, self.min_reps = reps, warm, cap_ms, min_reps

    def plan(self, est_ms):
        if self.cap_ms <= 0 or est_ms <= 0:
            return self.warm, self.reps
        reps = int(max(self.min_reps, min(self.reps, self.cap_ms // est_ms)))
        warm = self.warm if est_ms <= 50.0 else 1
        return warm, reps


def sync_wall_ms(fn):
    """Run fn once from an idle GPU; wall ms until the GPU is done."""
    import torch
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    fn()
    torch.cuda.synchronize()
    return (time.perf_counter() - t0) * 1e3


def time_graph(fn, policy, est_ms):
    """llama_ref.py's protocol on one forward fn: CUDA graph capture (kernels.py _capture),
    warm-up replays, timed replays each between two CUDA events (kernels.py _time_replays).
    The caller has run fn eagerly once (compiles, cuBLAS heuristics). Returns a dict."""
    import torch
    import kernels as K
    warm, reps = policy.plan(est_ms)
    t0 = time.perf_counter()
    g = K._capture(fn)
    cap_s = time.perf_counter() - t0
    for _ in range(warm):
        g.replay()
    torch.cuda.synchronize()
    ts = [t / 1000.0 for t in K._time_replays(g, reps)]
    del g
    return {"ms": round(median(ts), 4), "ms_min": round(min(ts), 4), "ms_max": round(max(ts), 4),
            "reps": len(ts), "warmup": warm, "capture_s": round(cap_s, 3)}


def time_eager(fn, policy, est_ms):
    """An eager forward from an idle GPU, repeated: ms = CUDA event before the call to CUDA
    event after it returns (so: call to GPU done); host_ms = until fn() returns. Median of
    reps (llama_ref.eager_times measures the same two instants)."""
    import torch
    warm, reps = policy.plan(est_ms)
    for _ in range(max(warm - 1, 0)):
        fn()
    gpu, host, wall = [], [], []
    for _ in range(reps):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        a.record()
        fn()
        t1 = time.perf_counter()
        b.record()
        torch.cuda.synchronize()
        t2 = time.perf_counter()
        gpu.append(a.elapsed_time(b))
        host.append((t1 - t0) * 1e3)
        wall.append((t2 - t0) * 1e3)
    return {"ms": round(median(gpu), 4), "ms_min": round(min(gpu), 4), "ms_max": round(max(gpu), 4),
            "host_ms": round(median(host), 4), "host_ms_min": round(min(host), 4),
            "wall_ms": round(median(wall), 4), "reps": reps, "warmup": warm}


# ----------------------------------------------------------------------------- device facts
def l2_bytes():
    import torch
    return int(torch.cuda.get_device_properties(0).L2_cache_size)


def sm_count():
    import torch
    return int(torch.cuda.get_device_properties(0).multi_processor_count)


FATAL_MARKERS = ("illegal memory access", "illegal instruction", "misaligned address",
                 "unspecified launch failure", "device-side assert", "CUDA error: an illegal",
                 "uncorrectable ECC", "cudaErrorLaunchFailure", "CUBLAS_STATUS_EXECUTION_FAILED")


def cuda_fatal(exc):
    """True when exc means the CUDA context is unusable (the process must restart)."""
    s = repr(exc)
    if any(m in s for m in FATAL_MARKERS):
        return True
    try:
        import torch
        torch.cuda.synchronize()
    except Exception:
        return True
    return False


# ----------------------------------------------------------------------------- provenance
def provenance(program, extra=None):
    import kernels as K
    import triton
    p = K.provenance(program, extra)
    p["source"] = f"measured by hw/calib/engines/{program} on the llmsim GPU machine"
    p["triton"] = triton.__version__
    try:
        import vendored
        p["vendored"] = vendored.commits_line()
    except Exception as e:  # pragma: no cover
        p["vendored"] = f"unavailable: {e}"
    return p


class JsonlOut:
    """Append-only JSON lines with a provenance first line; done() lists the keys already
    measured (a resumed run skips them)."""

    def __init__(self, path, prov):
        self.path = path
        self.done_keys = {}
        if os.path.exists(path):
            with open(path) as f:
                for line in f:
                    try:
                        r = json.loads(line)
                    except ValueError:
                        continue
                    if "batch" in r:
                        self.done_keys[key(r["batch"])] = r
            self.f = open(path, "a")
        else:
            self.f = open(path, "w")
            self.f.write(json.dumps({"provenance": prov}) + "\n")
            self.f.flush()

    def done(self, spec):
        return key(spec) in self.done_keys

    def write(self, rec):
        self.f.write(json.dumps(rec) + "\n")
        self.f.flush()
        if "batch" in rec:
            self.done_keys[key(rec["batch"])] = rec

    def close(self):
        self.f.close()


def log(*a):
    print(*a, flush=True)


