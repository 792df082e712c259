#!/usr/bin/env python3
"""serve_v1_check.py: serve_v1.py's serving loop without a GPU (issue 20).

Runs serve_v1.serve_one -- the loop the GPU campaign runs, async scheduling included -- against
a fake GPU and a virtual clock: each launched step occupies the fake GPU for the scenario's
"fixed" cost after the step before it, host work takes no time, and the loop's waits advance
the clock.  With host time zero, the loop must give every request the same first-token and
finish times as sched.py's replay (and so as llmsim, which `sched.py crosscheck` compares with
replay): this checks the loop's ordering of planning, launching, waiting and output processing,
which cannot otherwise be run off the GPU.  No torch needed (fake modules stand in).

usage: serve_v1_check.py CONFIG [--set key.path=value]...
       exit 0 when every request agrees, 1 otherwise, 2 on bad input
"""
import argparse
import importlib.util
import io
import json
import os
import sys
import types

HERE = os.path.dirname(os.path.abspath(__file__))


def load_sched():
    spec = importlib.util.spec_from_file_location("llmsim_sched", os.path.join(HERE, "sched.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


class Clock:
    """Virtual time in ns: sleeping moves it; nothing else does unless the fake GPU is
    waited for."""

    def __init__(self):
        self.t = 0

    def perf_counter_ns(self):
        return self.t

    def sleep(self, s):
        self.t += max(1, int(round(s * 1e9)))


class FakeEvent:
    def __init__(self, clock, t):
        self.clock, self.t = clock, t

    def synchronize(self):
        self.clock.t = max(self.clock.t, self.t)

    def elapsed_time(self, other):
        return (other.t - self.t) / 1e6


class FakeRunner:
    """launch(): the step runs on the fake GPU after the one before it, for cost(batch)."""

    def __init__(self, clock, cost):
        self.clock, self.cost, self.gpu_free = clock, cost, 0

    def launch(self, st, seed):
        now = self.clock.t
        st.t_prep = st.t_launch = now
        begin = max(now, self.gpu_free)
        self.gpu_free = begin + self.cost(st.spec)
        st.ev0 = FakeEvent(self.clock, begin)
        st.ev1 = FakeEvent(self.clock, self.gpu_free)


def import_loop(clock):
    """serve_v1 with fake torch, kernels and llama_ref, and the virtual clock."""
    for name in ("torch", "kernels", "llama_ref"):
        sys.modules.setdefault(name, types.ModuleType(name))
    spec = importlib.util.spec_from_file_location("serve_v1_loop",
                                                  os.path.join(HERE, "serve_v1.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    mod.time = clock

    def wait_until(t0, t_ns):       # the real one spins the last millisecond
        clock.t = max(clock.t, t0 + t_ns)
    mod.wait_until = wait_until
    return mod


def main(argv):
    ap = argparse.ArgumentParser(prog="serve_v1_check.py")
    ap.add_argument("config")
    ap.add_argument("--set", action="append", default=[])
    a = ap.parse_args(argv)
    S = load_sched()
    try:
        cfg = S.load_scenario(a.config, a.set)
        lim, kv, bt, mml = S.scenario_params(cfg, a.config)
        cost = S.fixed_cost(cfg, a.config)
        ref = S.load_requests(cfg, a.config)
        mine = S.load_requests(cfg, a.config)
    except S.ConfigError as e:
        print(f"serve_v1_check.py: {e}", file=sys.stderr)
        return 2
    S.run_replay(ref, S.Engine(lim, kv, bt, mml), cost)
    clock = Clock()
    V = import_loop(clock)
    out = io.StringIO()
    eng = S.Engine(lim, kv, bt, mml)
    n = V.serve_one(FakeRunner(clock, cost), eng, mine, out, 0, S)
    key = lambda q: (q.id, q.first_token_ns, q.finish_ns, q.preemptions,  # noqa: E731
                     q.rejected)
    diff = [(key(x), key(y)) for x, y in zip(sorted(ref, key=lambda q: q.id),
                                             sorted(mine, key=lambda q: q.id))
            if key(x) != key(y)]
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    iters = [x for x in lines if x["type"] == "iteration"]
    bad = [x for x in iters if not x["end_ns"] > x["start_ns"]]
    print(f"serve_v1_check {a.config}: {len(mine)} requests, {n} iterations "
          f"({sum(1 for x in iters if x['overlap'])} planned while another ran), "
          f"{eng.preemptions} preemptions, {len(diff)} differences, "
          f"{len(bad)} bad iteration spans")
    for x, y in diff[:5]:
        print(f"  replay {x} loop {y}")
    return 1 if diff or bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
