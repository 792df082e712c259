#!/usr/bin/env python3
"""sched.py: llmsim's vLLM V1, vLLM V0 and Sarathi schedulers in plain Python (issues 8, 20).

The same rules, step for step, as policies/sched_vllm.c ("vllm": vLLM V1, its device
defaults, CUDA-graph padding and async scheduling), policies/sched_vllm_v0.c ("vllm-v0":
recompute preemption, no swap), policies/sched_sarathi.c ("order": "decodes_first"),
policies/common.c (admission, the passes over the running set, eviction of the newest
running request), policies/kv_paged.c (16-token blocks counted against a capacity) and
sim/replica.c (tokens appear at the end of an iteration; a prefill's last chunk produces the
first token; a preempted request keeps its generated tokens and re-prefills prompt +
generated; async scheduling: sim/replica.h async_lag).  No torch: serve.py drives an Engine
with the wall clock and real forwards, the unit test drives it with a fixed cost through
replay(), and `sched.py crosscheck` compares replay() with `llmsim run` request by request.

Async scheduling is replayed here the way vLLM runs it (vllm/v1/engine/core.py
step_with_batch_queue): step k+1 is planned when step k is launched, with step k already
counted as computed (Scheduler._update_after_schedule) and the requests step k finishes still
holding their KV and slots; it runs when step k ends; if it plans nothing, the engine waits
for step k's output and plans again.  llmsim's replica formulates the same thing from the end
of step k (admission cutoff at step k's start); the crosscheck holds the two to the same
nanoseconds.

Times are integer nanoseconds, as in llmsim.  Engine methods:
  arrive(req)            a request joins the back of the waiting queue (or is rejected /
                         truncated at max_model_len as sim/sim.c does)
  schedule(now) -> plan  plans one iteration; [] when there is nothing to run
  batch(plan)            the plan in the step batch format {"prefill": [[tokens, prior]],
                         "decode": [[count, ctx]]} (decodes run-length encoded in plan
                         order), with "pad" and "graph" for "vllm" (CUDA-graph launch);
                         call it right after schedule(), before advance()
  end(now)               the iteration ends at now: tokens, first tokens, finishes
  advance(plan) -> held  async: counts the plan as computed when it is launched; returns
                         the requests it finishes (their KV held)
  stamp(plan, now)       async: the plan's tokens appear at now
  release(held)          async: the engine has processed the output: KV and slots freed

usage: sched.py measure CONFIG --out FILE [--set key.path=value]... [--stretch F]
       (a synthetic measured run in serve.py's format, for validate-e2e's tests)
usage: sched.py crosscheck CONFIG [--set key.path=value]... [--llmsim BIN]
       (CONFIG's cost_model must be {"name": "fixed", ...}; exit 0 when every request's
       first-token and finish times and preemptions agree with llmsim, 1 otherwise, 2 on
       bad input)
"""
import argparse
import csv
import json
import os
import sqlite3
import subprocess
import sys
import tempfile

INF = 1 << 62


class ConfigError(Exception):
    """Bad input: the message names the file and key."""


class Request:
    __slots__ = ("id", "arrival_ns", "prompt", "output", "generated", "computed",
                 "kv_blocks", "preemptions", "first_token_ns", "finish_ns", "state",
                 "planned", "rejected")

    def __init__(self, rid, arrival_ns, prompt, output):
        self.id, self.arrival_ns = rid, arrival_ns
        self.prompt, self.output = prompt, output
        self.generated = self.computed = self.kv_blocks = self.preemptions = 0
        self.first_token_ns = self.finish_ns = -1
        self.state = "waiting"       # waiting, prefill, decode, done
        self.planned = False
        self.rejected = False

    def target(self):
        """Tokens to compute before the next token (replica_prefill_target)."""
        return self.prompt + self.generated


# policies/sched_vllm.c's cudagraph_mode values
GRAPH_MODES = ("full_and_piecewise", "piecewise", "full_decode_only", "none")
HERE = os.path.dirname(os.path.abspath(__file__))
CATALOG = os.path.join(HERE, "..", "..", "catalog", "devices")


def v1_default_limits(device_mem_bytes, device_name):
    """vLLM V1's defaults for the OpenAI API server (vllm/engine/arg_utils.py
    EngineArgs._set_default_args; policies/common.c pol_v1_default_tokens/_seqs):
    (max_num_batched_tokens, max_num_seqs)."""
    big = device_mem_bytes >= 70 * 2 ** 30 and "a100" not in (device_name or "").lower()
    return (8192, 1024) if big else (2048, 256)


def v1_capture_sizes(max_seqs, max_tokens):
    """VllmConfig._set_cudagraph_sizes (vllm/config/vllm.py) without speculative decoding,
    on a GPU that is not a data-centre Blackwell (policies/sched_vllm.c default_sizes)."""
    cap = min(2 * max_seqs, 512, max_tokens)
    sizes = [s for s in (1, 2, 4) if s <= cap]
    sizes += list(range(8, min(cap + 1, 256), 8))
    sizes += list(range(256, cap + 1, 16))
    if max_tokens <= cap and max_tokens not in sizes:
        sizes.append(max_tokens)
    return sorted(set(sizes))


class Limits:
    """Scheduler parameters, with llmsim's defaults (docs/config.md)."""

    KNOWN = {"vllm": {"name", "max_num_seqs", "max_num_batched_tokens", "async_scheduling",
                      "cudagraph_mode", "cudagraph_capture_sizes"},
             "vllm-v0": {"name", "max_num_seqs", "max_num_batched_tokens", "watermark",
                         "preemption"},
             "sarathi": {"name", "max_num_seqs", "max_num_batched_tokens", "watermark",
                         "order", "async_scheduling", "cudagraph_mode",
                         "cudagraph_capture_sizes"}}

    def __init__(self, name, params, max_model_len, device=None):
        """device: (memory_bytes, name) of one GPU, for "vllm"'s defaults."""
        if name not in self.KNOWN:
            raise ConfigError(f"scheduler.name: expected \"vllm\", \"vllm-v0\" or "
                              f"\"sarathi\", got \"{name}\"")
        for k in params:
            if k not in self.KNOWN[name]:
                raise ConfigError(f"scheduler.{k}: not supported by sched.py")
        if params.get("preemption", "recompute") != "recompute":
            raise ConfigError("scheduler.preemption: sched.py has recompute only")
        if params.get("order", "decodes_first") != "decodes_first":
            raise ConfigError("scheduler.order: sched.py has decodes_first only")
        self.name = name
        self.graphs_on = False        # pol_graphs.on: launch() sets pad and graph
        self.sizes = []
        if name == "vllm":
            self._v1(params, device)
            return
        self.max_seqs = int(params.get("max_num_seqs", 256))
        self.watermark = float(params.get("watermark", 0.01))
        mt = int(params.get("max_num_batched_tokens", 0 if name == "vllm-v0" else 2048))
        # pol_token_budget: vLLM V0's max(max_model_len, 2048) when unset
        self.budget = mt if mt > 0 else max(max_model_len, 2048)
        # Sarathi on a V1 engine: the engine keys, off unless given (sched_sarathi.c)
        self.async_sched = bool(params.get("async_scheduling", False))
        if "cudagraph_mode" in params or "cudagraph_capture_sizes" in params:
            self._graphs(params, "none")

    def _v1(self, params, device):
        mem, dev_name = device if device else (0, None)
        tokens, seqs = v1_default_limits(mem, dev_name)
        self.budget = int(params.get("max_num_batched_tokens", tokens))
        self.max_seqs = int(params.get("max_num_seqs", min(seqs, self.budget)))
        self.watermark = 0.0                  # V1's allocate_slots keeps none
        self.async_sched = bool(params.get("async_scheduling", True))
        self._graphs(params, "full_and_piecewise")

    def _graphs(self, params, default):
        """policies/common.c pol_read_graphs + pol_attach_graphs."""
        self.graphs_on = True
        self.graphs = params.get("cudagraph_mode", default)
        if self.graphs not in GRAPH_MODES:
            raise ConfigError(f"scheduler.cudagraph_mode: expected one of {GRAPH_MODES}")
        if self.graphs == "none":
            self.sizes = []
        elif "cudagraph_capture_sizes" in params:
            self.sizes = sorted({int(x) for x in params["cudagraph_capture_sizes"]
                                 if int(x) <= self.budget})
        else:
            self.sizes = v1_capture_sizes(self.max_seqs, self.budget)
        if self.graphs != "none" and not self.sizes:
            raise ConfigError("scheduler.cudagraph_capture_sizes: every size exceeds "
                              "max_num_batched_tokens")

    def launch(self, tokens, decode_only):
        """(pad, graph) of a batch of tokens (policies/common.c pol_launch; vLLM's
        CudagraphDispatcher.dispatch): the next capture size, full graph for a decode-only
        batch whose size is at most max_num_seqs, else piecewise; eager over the largest."""
        if not self.graphs_on or tokens == 0:
            return 0, None
        size = next((s for s in self.sizes if s >= tokens), 0)
        if (size == 0 or self.graphs == "none" or
                (self.graphs == "full_decode_only" and not decode_only)):
            return 0, "none"
        full = decode_only and self.graphs != "piecewise" and size <= self.max_seqs
        return size - tokens, "full" if full else "piecewise"


class Engine:
    """One replica: waiting queue, running set (id order), paged KV, one scheduler."""

    def __init__(self, limits, kv_blocks, block_tokens=16, max_model_len=8192):
        self.lim = limits
        self.cap, self.bt, self.max_len = kv_blocks, block_tokens, max_model_len
        self.used = 0
        self.waiting = []            # front = index 0
        self.running = []            # sorted by id
        self.plan = []               # [req or None, tokens, prefill]
        self.plan_prefill = self.plan_decodes = 0
        self.done = []               # finished or rejected, in completion order
        self.preemptions = 0
        self.iter_preemptions = 0
        self.holding = []            # async: finished, KV and slots not yet released
        self.cutoff = None           # async: arrivals after this are not admitted
        self.pad, self.graph = 0, None   # CUDA-graph launch of the last plan ("vllm")

    # --- KV (policies/kv_paged.c)
    def needed(self, q, tokens):
        want = (tokens + self.bt - 1) // self.bt
        return want - q.kv_blocks if want > q.kv_blocks else 0

    def grow(self, q, tokens):
        need = self.needed(q, tokens)
        if need > self.cap - self.used:
            return False
        self.used += need
        q.kv_blocks += need
        return True

    def release_kv(self, q):
        self.used -= q.kv_blocks
        q.kv_blocks = 0

    def wm_blocks(self):
        return int(self.lim.watermark * self.cap)

    # --- arrivals (sim/sim.c on_arrival)
    def arrive(self, q):
        if q.prompt >= self.max_len:
            q.rejected, q.state = True, "done"
            self.done.append(q)
            return
        if q.prompt + q.output > self.max_len:
            q.output = self.max_len - q.prompt
        self.waiting.append(q)

    # --- plan helpers (sim/replica.c)
    def plan_tokens(self):
        return self.plan_prefill + self.plan_decodes

    def add(self, q, tokens, prefill):
        q.planned = True
        self.plan.append([q, tokens, prefill])
        if prefill:
            self.plan_prefill += tokens
        else:
            self.plan_decodes += 1

    def unplan(self, q):
        if not q.planned:
            return
        for it in self.plan:
            if it[0] is q:
                if it[2]:
                    self.plan_prefill -= it[1]
                else:
                    self.plan_decodes -= 1
                it[0] = None
        q.planned = False

    def admit_running(self, q):
        i = len(self.running)
        while i > 0 and self.running[i - 1].id > q.id:
            i -= 1
        self.running.insert(i, q)
        q.state = "prefill" if q.computed < q.target() else "decode"

    def preempt(self, q):
        """Recompute preemption (replica_preempt): back to the waiting queue's front."""
        self.unplan(q)
        self.running.remove(q)
        self.release_kv(q)
        q.computed = 0
        q.state = "waiting"
        q.preemptions += 1
        self.preemptions += 1
        self.waiting.insert(0, q)

    # --- policies/common.c
    def make_room(self, q, tokens, p):
        while q.kv_blocks * self.bt < tokens and not self.grow(q, tokens):
            v = self.running[-1] if self.running else q
            self.preempt(v)
            p["evictions"] += 1
            if v is q:
                return True
        return False

    def plan_running(self, p, decodes, prefills):
        i = 0
        while i < len(self.running) and p["budget"] - self.plan_tokens() > 0:
            q = self.running[i]
            dec = q.state == "decode"
            if q.planned or not (decodes if dec else prefills):
                i += 1
                continue
            n = 1 if dec else q.target() - q.computed
            n = min(n, p["budget"] - self.plan_tokens())
            if q.kv_blocks * self.bt < q.computed + n:
                self_evicted = self.make_room(q, q.computed + n, p)
                i = next((j for j, r in enumerate(self.running) if r.id >= q.id),
                         len(self.running))
                if self_evicted:
                    continue
            self.add(q, n, not dec)
            i += 1

    def reject_never(self, q, budget, wm, whole_prompt):
        n = q.target() - q.computed
        need = self.needed(q, q.target())
        whole = self.needed(q, q.prompt + q.output - 1)
        gone = (whole_prompt and n > budget) or need > self.cap - wm or whole > self.cap
        if gone:
            self.waiting.remove(q)
            q.rejected, q.state = True, "done"
            self.done.append(q)
        return gone

    def admit(self, p, chunk):
        wm = self.wm_blocks()
        while self.waiting:
            q = self.waiting[0]
            if self.cutoff is not None and q.arrival_ns > self.cutoff:
                break                # async: the engine has not seen it yet
            if self.reject_never(q, p["budget"], wm, not chunk):
                continue
            left = p["budget"] - self.plan_tokens()
            n = q.target() - q.computed
            if chunk and n > left:
                n = left
            if (n <= 0 or n > left or
                    len(self.running) + len(self.holding) + 1 > self.lim.max_seqs):
                break
            if (self.cap - self.used) - self.needed(q, q.computed + n) < wm:
                break
            self.waiting.pop(0)
            if not self.grow(q, q.computed + n):
                raise AssertionError("KV checked above")
            self.admit_running(q)
            self.add(q, n, True)

    # --- one iteration
    def schedule(self, now_ns, cutoff=None):
        """Plans one iteration (policies/sched_vllm.c, sched_vllm_v0.c, sched_sarathi.c);
        returns the plan items [req, tokens, prefill] (req None: preempted after planning).
        cutoff: async scheduling's admission cutoff (arrivals after it are invisible)."""
        self.plan, self.plan_prefill, self.plan_decodes = [], 0, 0
        self.cutoff = cutoff
        before = self.preemptions
        p = {"budget": self.lim.budget, "evictions": 0}
        if self.lim.name == "vllm-v0":
            self.admit(p, chunk=False)
            if not self.plan:
                p["budget"] = INF    # V0 does not hold decodes to the token budget
                self.plan_running(p, True, False)
        elif self.lim.name == "vllm":
            self.plan_running(p, True, True)      # V1: the running set in order
            if p["evictions"] == 0:
                self.admit(p, chunk=True)
        else:
            self.plan_running(p, True, False)
            self.plan_running(p, False, True)
            if p["evictions"] == 0:
                self.admit(p, chunk=True)
        self.cutoff = None
        self.iter_preemptions = self.preemptions - before
        self.pad, self.graph = self.lim.launch(self.plan_tokens(), self.plan_prefill == 0)
        return [it for it in self.plan if it[0] is not None]

    def batch(self, plan):
        """The plan as the cost model (and the reference engine) sees it, with the
        last schedule()'s CUDA-graph launch for "vllm"."""
        pre, dec = [], []
        for q, n, prefill in plan:
            if prefill:
                pre.append([n, q.computed])
            elif dec and dec[-1][1] == q.computed:
                dec[-1][0] += 1
            else:
                dec.append([1, q.computed])
        b = {"prefill": pre, "decode": dec}
        if self.graph is not None:
            b["pad"], b["graph"] = self.pad, self.graph
        return b

    def advance(self, plan):
        """Counts the plan as computed (advance in sim/replica.c, without times); returns
        the requests it finishes, which keep their KV until release().  Call it after
        batch(plan)."""
        finished = []
        for it in plan:
            q, n, prefill = it[0], it[1], it[2]
            it[3:] = [False, False]          # produced a token, finished
            if q is None:
                continue
            q.planned = False
            q.computed += n
            if prefill and q.computed < q.target():
                continue
            q.generated += 1
            q.state = "decode"
            it[3] = True
            if q.generated >= q.output:
                q.state = "done"
                it[4] = True
                finished.append(q)
        self.running = [q for q in self.running if q.state != "done"]
        self.holding += finished
        return finished

    def stamp(self, plan, now_ns):
        """The tokens of an advanced plan appear at now_ns."""
        for it in plan:
            q = it[0]
            if q is None or not it[3]:
                continue
            if q.first_token_ns < 0:
                q.first_token_ns = now_ns
            if it[4]:
                q.finish_ns = now_ns
                self.done.append(q)

    def release(self, held):
        """The engine has processed the output that finished held: KV and slots free."""
        for q in held:
            self.release_kv(q)
        self.holding = [q for q in self.holding if q not in held]

    def end(self, now_ns):
        """Ends the planned iteration at now_ns (replica_end / advance)."""
        plan = [it for it in self.plan if it[0] is not None]
        self.release(self.advance(plan))
        self.stamp(plan, now_ns)
        self.plan = []

    def idle(self):
        return not self.waiting and not self.running


def batch_tokens(b):
    return sum(t for t, _ in b["prefill"]) + sum(c for c, _ in b["decode"])


def replay(reqs, engine, cost_ns):
    """Discrete-event replay on one replica (sim/sim.c): an idle engine starts at an
    arrival; a busy one looks again when its iteration ends, after the arrivals up to
    then.  cost_ns(batch) -> int ns.  Returns the iteration records."""
    reqs = sorted(reqs, key=lambda q: (q.arrival_ns, q.id))
    i, now, iters = 0, 0, []
    while i < len(reqs) or not engine.idle():
        if engine.idle() and i < len(reqs) and reqs[i].arrival_ns > now:
            now = reqs[i].arrival_ns
        while i < len(reqs) and reqs[i].arrival_ns <= now:
            engine.arrive(reqs[i])
            i += 1
        plan = engine.schedule(now)
        b = engine.batch(plan)
        if batch_tokens(b) == 0:
            if i >= len(reqs):
                if not engine.idle():
                    raise RuntimeError("engine stalled with work left")
                break
            now = max(now, reqs[i].arrival_ns)
            continue
        dur = cost_ns(b)
        iters.append({"start_ns": now, "end_ns": now + dur, "batch": b,
                      "preemptions": engine.iter_preemptions,
                      "waiting": len(engine.waiting)})
        now += dur
        engine.end(now)
    return iters


def replay_async(reqs, engine, cost_ns):
    """replay() with vLLM V1's async scheduling (vllm/v1/engine/core.py
    step_with_batch_queue, batch queue of 2): step k+1 is planned when step k starts, with
    the arrivals up to then, step k counted as computed (Scheduler._update_after_schedule)
    and the requests step k finishes still holding their KV and slots; the GPU runs it
    when step k ends; step k's output (tokens, finishes, freed KV) is processed at its end,
    after step k+1 was planned.  If step k+1 plans nothing the engine waits for step k's
    output and plans again at its end.  This is how serve.py runs; llmsim formulates the
    same from the end of each step (sim/replica.h async_lag)."""
    reqs = sorted(reqs, key=lambda q: (q.arrival_ns, q.id))
    st = {"i": 0}
    iters = []

    def arrive_until(t):
        while st["i"] < len(reqs) and reqs[st["i"]].arrival_ns <= t:
            engine.arrive(reqs[st["i"]])
            st["i"] += 1

    def launch(plan, b, start):
        waiting = len(engine.waiting)
        held = engine.advance(plan)
        end = start + cost_ns(b)
        iters.append({"start_ns": start, "end_ns": end, "batch": b,
                      "preemptions": engine.iter_preemptions, "waiting": waiting})
        return plan, start, end, held

    now, cur = 0, None
    while True:
        if cur is None:
            i = st["i"]
            if engine.idle() and i < len(reqs) and reqs[i].arrival_ns > now:
                now = reqs[i].arrival_ns
            arrive_until(now)
            plan = engine.schedule(now)
            b = engine.batch(plan)
            if batch_tokens(b) == 0:
                if st["i"] >= len(reqs):
                    if not engine.idle():
                        raise RuntimeError("engine stalled with work left")
                    break
                now = max(now, reqs[st["i"]].arrival_ns)
                continue
            cur = launch(plan, b, now)
        plan, start, end, held = cur
        arrive_until(start)
        nxt = engine.schedule(start)
        b = engine.batch(nxt)
        cur = launch(nxt, b, end) if batch_tokens(b) else None
        now = end
        engine.stamp(plan, end)
        engine.release(held)
    return iters


def run_replay(reqs, engine, cost_ns):
    """replay_async when the scheduler schedules asynchronously, else replay."""
    if engine.lim.async_sched:
        return replay_async(reqs, engine, cost_ns)
    return replay(reqs, engine, cost_ns)


# --- inputs shared with serve.py: llmsim scenario configs and generic CSV slices

def set_key(root, assignment):
    """--set a.b.c=value, as llmsim's jcfg_set: JSON when it parses, else a string."""
    if "=" not in assignment:
        raise ConfigError(f"--set {assignment}: expected key.path=value")
    path, val = assignment.split("=", 1)
    try:
        v = json.loads(val)
    except ValueError:
        v = val
    keys = path.split(".")
    o = root
    for k in keys[:-1]:
        o = o.setdefault(k, {})
    o[keys[-1]] = v


def seconds_to_ns(text, where):
    """A decimal string of seconds to integer ns exactly (digits below 1 ns rounded half
    up, as traces/generic.c)."""
    s = text.strip()
    if not s or s.startswith("-"):
        raise ConfigError(f"{where}: expected a non-negative time, got \"{text}\"")
    whole, _, frac = s.partition(".")
    if not whole.isdigit() and whole != "" or (frac and not frac.isdigit()):
        raise ConfigError(f"{where}: expected a non-negative time, got \"{text}\"")
    frac = (frac + "0" * 10)[:10]
    ns = int(whole or "0") * 10 ** 9 + int(frac[:9])
    return ns + (1 if frac[9] >= "5" else 0)


def scale_ns(ns, rate_scale):
    """traces/source.c: llround((double)ns / rate_scale)."""
    if rate_scale == 1:
        return ns
    x = float(ns) / rate_scale
    w = int(x)
    return w + (1 if x - w >= 0.5 else 0)


def load_scenario(path, sets=()):
    try:
        with open(path) as f:
            cfg = json.load(f)
    except (OSError, ValueError) as e:
        raise ConfigError(f"{path}: {e}")
    for s in sets:
        set_key(cfg, s)
    return cfg


def scenario_params(cfg, path):
    """(Limits, kv_blocks, block_tokens, max_model_len) of an llmsim scenario."""
    model = cfg.get("model")
    if not isinstance(model, dict) or "max_model_len" not in model:
        raise ConfigError(f"{path}: model.max_model_len: required by sched.py")
    hw = cfg.get("hardware", {})
    if "kv_blocks" not in hw:
        raise ConfigError(f"{path}: hardware.kv_blocks: required by sched.py")
    kvc = cfg.get("kv_cache", {"name": "paged"})
    if kvc.get("name", "paged") != "paged":
        raise ConfigError(f"{path}: kv_cache.name: sched.py has \"paged\" only")
    sc = cfg.get("scheduler", {"name": "vllm"})
    mml = int(model["max_model_len"])
    try:
        lim = Limits(sc.get("name", "vllm"), sc, mml, device_of(hw.get("device")))
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}")
    return lim, int(hw["kv_blocks"]), int(kvc.get("block_tokens", 16)), mml


def device_of(dev_id):
    """(memory_bytes, name) of a catalog device (hw/catalog/devices/ID.json), or
    None when no id is given."""
    if dev_id is None:
        return None
    path = os.path.join(CATALOG, f"{dev_id}.json")
    try:
        with open(path) as f:
            d = json.load(f)
        return float(d["memory_bytes"]), str(d["name"])
    except (OSError, ValueError, KeyError) as e:
        raise ConfigError(f"hardware.device: {dev_id}: {e}")


def load_requests(cfg, path):
    """The scenario's workload: a generic CSV (arrival_s,prompt_tokens,output_tokens)
    with optional rate_scale, ids in row order as llmsim numbers them."""
    w = cfg.get("workload", {})
    extra = set(w) - {"type", "path", "rate_scale", "format"}
    if w.get("type") != "generic" or extra:
        raise ConfigError(f"{path}: workload: sched.py reads generic CSV slices with "
                          f"rate_scale only")
    scale = float(w.get("rate_scale", 1))
    reqs = []
    try:
        with open(w["path"], newline="") as f:
            for lineno, row in enumerate(csv.DictReader(f), start=2):
                where = f"{w['path']}: line {lineno}"
                try:
                    p, o = int(row["prompt_tokens"]), int(row["output_tokens"])
                    t = seconds_to_ns(row["arrival_s"], where + ": arrival_s")
                except (KeyError, TypeError, ValueError):
                    raise ConfigError(f"{where}: expected arrival_s,prompt_tokens,"
                                      f"output_tokens")
                if p < 1:
                    raise ConfigError(f"{where}: prompt_tokens: expected >= 1, got {p}")
                reqs.append(Request(len(reqs), scale_ns(t, scale), p, max(o, 1)))
    except OSError as e:
        raise ConfigError(f"{w['path']}: {e}")
    return reqs


def fixed_cost(cfg, path):
    c = cfg.get("cost_model", {})
    if c.get("name") != "fixed":
        raise ConfigError(f"{path}: cost_model.name: crosscheck needs \"fixed\"")
    it = int(round(float(c.get("iteration_us", 0)) * 1000))
    tok = int(round(float(c.get("per_token_us", 0)) * 1000))
    # hw/cost_fixed.c: every token row the engine runs, CUDA-graph padding included
    return lambda b: it + tok * (batch_tokens(b) + b.get("pad", 0))


def llmsim_requests(binary, cfg_path, sets, out_dir):
    cmd = [binary, "run", cfg_path, "--out", out_dir, "--quiet"]
    for s in sets:
        cmd += ["--set", s]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"llmsim run failed ({r.returncode}): {r.stderr.strip()}")
    db = sqlite3.connect(os.path.join(out_dir, "results.sqlite"))
    rows = db.execute("SELECT id, first_token_ns, finish_ns, preemptions, status "
                      "FROM requests ORDER BY id").fetchall()
    db.close()
    return rows


def crosscheck(argv):
    ap = argparse.ArgumentParser(prog="sched.py crosscheck")
    ap.add_argument("config")
    ap.add_argument("--set", action="append", default=[])
    ap.add_argument("--llmsim", default=os.environ.get("LLMSIM_BIN", "build/llmsim"))
    a = ap.parse_args(argv)
    try:
        cfg = load_scenario(a.config, a.set)
        lim, kv, bt, mml = scenario_params(cfg, a.config)
        reqs = load_requests(cfg, a.config)
        cost = fixed_cost(cfg, a.config)
    except ConfigError as e:
        print(f"sched.py: {e}", file=sys.stderr)
        return 2
    eng = Engine(lim, kv, bt, mml)
    iters = run_replay(reqs, eng, cost)
    # results.sqlite has NULL for a time that never came (a rejected request's)
    mine = sorted((q.id, q.first_token_ns if q.first_token_ns >= 0 else None,
                   q.finish_ns if q.finish_ns >= 0 else None, q.preemptions,
                   "rejected" if q.rejected else "ok") for q in reqs)
    with tempfile.TemporaryDirectory() as d:
        theirs = llmsim_requests(a.llmsim, a.config, a.set, d)
    diff = [(m, t) for m, t in zip(mine, theirs) if tuple(m) != tuple(t)]
    if len(mine) != len(theirs):
        diff.append((f"{len(mine)} requests", f"{len(theirs)} requests"))
    print(f"sched.py crosscheck {a.config}: {len(mine)} requests, {len(iters)} iterations, "
          f"{eng.preemptions} preemptions, {len(diff)} differences")
    for m, t in diff[:5]:
        print(f"  sched.py {m} llmsim {t}")
    return 1 if diff else 0


def measure(argv):
    """Writes what serve.py would, from replay() with the fixed cost: a synthetic
    "measured" run for validate-e2e's tests.  --stretch F multiplies every time after the
    arrivals (each iteration lasts F times as long), to make a run llmsim must miss."""
    ap = argparse.ArgumentParser(prog="sched.py measure")
    ap.add_argument("config")
    ap.add_argument("--set", action="append", default=[])
    ap.add_argument("--out", required=True)
    ap.add_argument("--stretch", type=float, default=1.0)
    a = ap.parse_args(argv)
    try:
        cfg = load_scenario(a.config, a.set)
        lim, kv, bt, mml = scenario_params(cfg, a.config)
        reqs = load_requests(cfg, a.config)
        base = fixed_cost(cfg, a.config)
    except ConfigError as e:
        print(f"sched.py: {e}", file=sys.stderr)
        return 2
    iters = run_replay(reqs, Engine(lim, kv, bt, mml),
                       lambda b: int(round(base(b) * a.stretch)))
    with open(a.out, "w") as f:
        f.write(json.dumps({"type": "run", "config": a.config, "set": a.set,
                            "scheduler": lim.name, "mode": "sched.py replay"}) + "\n")
        for it in iters:
            f.write(json.dumps({"type": "iteration", "start_ns": it["start_ns"],
                                "end_ns": it["end_ns"], "preemptions": it["preemptions"],
                                "waiting": it["waiting"], "batch": it["batch"]}) + "\n")
        for q in reqs:
            f.write(json.dumps({"type": "request", "id": q.id, "arrival_ns": q.arrival_ns,
                                "first_token_ns": q.first_token_ns, "finish_ns": q.finish_ns,
                                "prompt_tokens": q.prompt, "output_tokens": q.generated,
                                "preemptions": q.preemptions,
                                "status": "rejected" if q.rejected else "ok"}) + "\n")
    return 0


def main(argv):
    if len(argv) >= 1 and argv[0] == "crosscheck":
        return crosscheck(argv[1:])
    if len(argv) >= 1 and argv[0] == "measure":
        return measure(argv[1:])
    print("usage: sched.py crosscheck|measure CONFIG ... (see the docstring)", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
