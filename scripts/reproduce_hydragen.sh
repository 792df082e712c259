#!/bin/sh
# Shared-prefix attention (Hydragen, PAPERS.md 15; docs/validation.md):
# throughput of N sequences (default 1024) sharing a 1K..16K-token prefix,
# CodeLlama-13b's shape (llama-2-13b) on 8 H100s with TP 8 (the paper's
# setup), with cost_model.shared_prefix_attention off (vLLM's kernels)
# and on.  One request computes the prefix at t = 0; the N (prefix + 64
# own tokens, 128 generated) arrive at t = 20 s and find it cached, so
# throughput is their output tokens over (makespan - 20 s), their suffix
# prefill included.  Run from the repository root after `make`.
# Usage: scripts/reproduce_hydragen.sh [OUT_DIR [N]]
set -e
out=${1:-out/hydragen}
n=${2:-1024}
cfg=configs/papers/kv/hydragen_shared_prefix.json
mkdir -p "$out"
python3 - "$out" "$n" <<'PY'
import json, sys
out, n = sys.argv[1], int(sys.argv[2])
for p in (1024, 2048, 4096, 8192, 16384):
    nb = p // 512          # 512-token hash blocks, as Mooncake's traces
    with open(f"{out}/p{p}.jsonl", "w") as f:
        f.write(json.dumps({"timestamp": 0, "input_length": p,
                            "output_length": 1,
                            "hash_ids": list(range(1, nb + 1))}) + "\n")
        for i in range(n):
            f.write(json.dumps({"timestamp": 20000, "input_length": p + 64,
                                "output_length": 128,
                                "hash_ids": list(range(1, nb + 1)) +
                                [100000 + i]}) + "\n")
PY
for on in false true; do
    for p in 1024 2048 4096 8192 16384; do
        ./build/llmsim run "$cfg" --out "$out/$on-$p" --quiet \
            --set "workload.path=$out/p$p.jsonl" \
            --set "cost_model.shared_prefix_attention=$on"
    done
done
python3 - "$out" <<'PY'
import json, sqlite3, sys
o = sys.argv[1]
# decode phase: iterations after t = 20 s with no prefill (tokens each
# decode produces over their time)
Q = ("select sum(decode_seqs), sum(end_ns - start_ns) from iterations "
     "where start_ns >= 20e9 and prefill_seqs = 0")
def line(what, v):
    return (f"  {what}: " + " ".join(f"{t:.0f}" for t in v) +
            f" out tok/s at prefix 1K 2K 4K 8K 16K; drop 1K->16K "
            f"{100 * (1 - v[-1] / v[0]):.1f}%")
for on in ("false", "true"):
    e2e, dec = [], []
    for p in (1024, 2048, 4096, 8192, 16384):
        d = f"{o}/{on}-{p}"
        s = json.load(open(f"{d}/summary.json"))
        assert s["requests_rejected"] == 0 and s["preemptions"] == 0
        e2e.append((s["output_tokens"] - 1) / (s["duration_s"] - 20.0))
        toks, ns = sqlite3.connect(f"{d}/results.sqlite").execute(Q).fetchone()
        dec.append(toks / (ns * 1e-9))
    print(f"shared_prefix_attention={on}")
    print(line("end to end", e2e))
    print(line("decode phase", dec))
PY
