#!/usr/bin/env python3
"""sched.py: llmsim's vLLM V0 and Sarathi schedulers in plain Python (issue 8).

The same rules, step for step, as policies/sched_vllm.c (recompute preemption, no swap),
policies/sched_sarathi.c ("order": "decodes_first"), policies/common.c (admission, the
passes over the running set, eviction of the newest running request), policies/kv_paged.c
(16-token blocks counted against a capacity) and sim/replica.c (tokens appear at the end of
an iteration; a prefill's last chunk produces the first token; a preempted request keeps its
generated tokens and re-prefills prompt + generated).  No torch: serve.py drives an Engine
with the wall clock and real forwards, the unit test drives it with a fixed cost through
replay(), and `sched.py crosscheck` compares replay() with `llmsim run` request by request.

Times are integer nanoseconds, as in llmsim.  Engine methods:
  arrive(req)            a request joins the back of the waiting queue (or is rejected /
                         truncated at max_model_len as sim/sim.c does)
  schedule(now) -> plan  plans one iteration; [] when there is nothing to run
  batch(plan)            the plan in the step batch format {"prefill": [[tokens, prior]],
                         "decode": [[count, ctx]]} (decodes run-length encoded in plan order)
  end(now)               the iteration ends at now: tokens, first tokens, finishes

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


class Limits:
    """Scheduler parameters, with llmsim's defaults (docs/config.md)."""

    def __init__(self, name, params, max_model_len):
        known = {"vllm": {"name", "max_num_seqs", "max_num_batched_tokens", "watermark",
                          "preemption"},
                 "sarathi": {"name", "max_num_seqs", "max_num_batched_tokens", "watermark",
                             "order"}}
        if name not in known:
            raise ConfigError(f"scheduler.name: expected \"vllm\" or \"sarathi\", got \"{name}\"")
        for k in params:
            if k not in known[name]:
                raise ConfigError(f"scheduler.{k}: not supported by sched.py")
        if params.get("preemption", "recompute") != "recompute":
            raise ConfigError("scheduler.preemption: sched.py has recompute only")
        if params.get("order", "decodes_first") != "decodes_first":
            raise ConfigError("scheduler.order: sched.py has decodes_first only")
        self.name = name
        self.max_seqs = int(params.get("max_num_seqs", 256))
        self.watermark = float(params.get("watermark", 0.01))
        mt = int(params.get("max_num_batched_tokens", 0 if name == "vllm" else 2048))
        # pol_token_budget: vLLM V0's max(max_model_len, 2048) when unset
        self.budget = mt if mt > 0 else max(max_model_len, 2048)


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

    def release(self, q):
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
        self.release(q)
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
            if self.reject_never(q, p["budget"], wm, not chunk):
                continue
            left = p["budget"] - self.plan_tokens()
            n = q.target() - q.computed
            if chunk and n > left:
                n = left
            if n <= 0 or n > left or len(self.running) + 1 > self.lim.max_seqs:
                break
            if (self.cap - self.used) - self.needed(q, q.computed + n) < wm:
                break
            self.waiting.pop(0)
            if not self.grow(q, q.computed + n):
                raise AssertionError("KV checked above")
            self.admit_running(q)
            self.add(q, n, True)

    # --- one iteration
    def schedule(self, now_ns):
        """Plans one iteration (policies/sched_vllm.c, sched_sarathi.c); returns the plan
        items [req, tokens, prefill] (req None: preempted after planning)."""
        self.plan, self.plan_prefill, self.plan_decodes = [], 0, 0
        before = self.preemptions
        p = {"budget": self.lim.budget, "evictions": 0}
        if self.lim.name == "vllm":
            self.admit(p, chunk=False)
            if not self.plan:
                p["budget"] = INF    # V0 does not hold decodes to the token budget
                self.plan_running(p, True, False)
        else:
            self.plan_running(p, True, False)
            self.plan_running(p, False, True)
            if p["evictions"] == 0:
                self.admit(p, chunk=True)
        self.iter_preemptions = self.preemptions - before
        return [it for it in self.plan if it[0] is not None]

    @staticmethod
    def batch(plan):
        """The plan as the cost model (and the reference engine) sees it."""
        pre, dec = [], []
        for q, n, prefill in plan:
            if prefill:
                pre.append([n, q.computed])
            elif dec and dec[-1][1] == q.computed:
                dec[-1][0] += 1
            else:
                dec.append([1, q.computed])
        return {"prefill": pre, "decode": dec}

    def end(self, now_ns):
        """Ends the planned iteration at now_ns (replica_end / advance)."""
        for it in self.plan:
            q, n, prefill = it
            if q is None:
                continue
            q.planned = False
            q.computed += n
            if prefill and q.computed < q.target():
                continue
            q.generated += 1
            if q.first_token_ns < 0:
                q.first_token_ns = now_ns
            q.state = "decode"
            if q.generated >= q.output:
                q.state = "done"
                q.finish_ns = now_ns
                self.release(q)
        self.running = [q for q in self.running if q.state != "done"]
        for it in self.plan:
            if it[0] is not None and it[0].state == "done":
                self.done.append(it[0])
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
                      "preemptions": engine.iter_preemptions})
        now += dur
        engine.end(now)
    return iters


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
        lim = Limits(sc.get("name", "vllm"), sc, mml)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}")
    return lim, int(hw["kv_blocks"]), int(kvc.get("block_tokens", 16)), mml


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
    return lambda b: it + tok * batch_tokens(b)


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
    iters = replay(reqs, eng, cost)
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
    iters = replay(reqs, Engine(lim, kv, bt, mml),
                   lambda b: int(round(base(b) * a.stretch)))
    with open(a.out, "w") as f:
        f.write(json.dumps({"type": "run", "config": a.config, "set": a.set,
                            "scheduler": lim.name, "mode": "sched.py replay"}) + "\n")
        for it in iters:
            f.write(json.dumps({"type": "iteration", "start_ns": it["start_ns"],
                                "end_ns": it["end_ns"], "preemptions": it["preemptions"],
                                "batch": it["batch"]}) + "\n")
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
