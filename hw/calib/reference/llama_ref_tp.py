#!/usr/bin/env python3
"""llama_ref_tp: the llmsim reference engine sharded tensor-parallel over N GPUs.

The forward of llama_ref.py (same kernels, same batch format, same timing by CUDA-graph replay),
split the way vLLM splits a Llama model (vllm/model_executor/layers/linear.py and
vocab_parallel_embedding.py), per GPU r of tp:

  embedding     vocabulary-parallel: rows [r V/tp, (r+1) V/tp) of the table (V padded to a multiple
                of 64); ids outside the shard are masked to row 0 and their output zeroed, then an
                all-reduce of tokens x hidden
  qkv           column-parallel: H/tp query heads and KVH/tp KV heads (one replicated KV head when
                tp > KVH), N = (H/tp + 2 KVH/tp) hd
  attention     over this GPU's heads; its KV cache holds only its KV heads
  o             row-parallel: K = H/tp hd, then an all-reduce (tokens x hidden, bf16)
  gate_up       column-parallel: N = 2 F/tp
  down          row-parallel: K = F/tp, then an all-reduce
  lm_head       vocabulary-parallel: N = V/tp, then an all-gather of the logits (rows x V) and
                greedy sampling over the whole vocabulary on every rank

All-reduce and all-gather are torch.distributed NCCL calls, captured in the CUDA graph with the
rest. NVLink SHARP / multicast are disabled in this process's environment (NCCL_NVLS_ENABLE=0,
TORCH_SYMM_MEM_DISABLE_MULTICAST=1, NVSHMEM_DISABLE_NVLS=1) before torch loads.

Every rank times its own replays; the reported time of a batch is the slowest rank's median (an
iteration ends when the last GPU does). --check first runs a 2-layer model whose weights are cut
from one full model, and compares the TP forward's logits with llama_ref.Llama's on the same
weights (what `llmsim step --tp N` must then reproduce in time, not in values).

Output (rank 0): OUT/ref_<model>_tp<N>.jsonl; first line {"provenance": {...}}, then one line
per batch {"model","device","tp","class","batch","ms","ms_min","ms_max","reps"} -- llama_ref's
format plus "tp".

usage: torchrun --nproc_per_node=N hw/calib/reference/llama_ref_tp.py --model llama-3-8b --out DIR
           [--batches reference/batches.json] [--reps 20] [--check] [--layers N] [--limit N]
"""
import os

os.environ["NCCL_NVLS_ENABLE"] = "0"
os.environ["TORCH_SYMM_MEM_DISABLE_MULTICAST"] = "1"
os.environ["NVSHMEM_DISABLE_NVLS"] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402
import kernels as K  # noqa: E402
from llama_ref import Batch, Llama  # noqa: E402

BF = torch.bfloat16


def pad64(v):
    return (v + 63) // 64 * 64


class Shard:
    """Per-GPU sizes of a tp-way split (vLLM's rules)."""

    def __init__(self, cfg, tp, rank):
        H, KVH = cfg["num_heads"], cfg["num_kv_heads"]
        if H % tp or cfg["ffn_size"] % tp or pad64(cfg["vocab_size"]) % tp:
            raise SystemExit(f"tp {tp} does not divide heads {H}, ffn {cfg['ffn_size']} "
                             f"and padded vocab {pad64(cfg['vocab_size'])}")
        if KVH % tp and tp % KVH:
            raise SystemExit(f"tp {tp} and {KVH} KV heads do not divide one another")
        self.tp, self.rank = tp, rank
        self.H = H // tp
        self.KVH = KVH // tp if KVH >= tp else 1
        self.kv0 = rank * self.KVH if KVH >= tp else rank * KVH // tp
        self.F = cfg["ffn_size"] // tp
        self.V = pad64(cfg["vocab_size"]) // tp
        self.v0 = rank * self.V


class LlamaTP:
    def __init__(self, cfg, kv_tokens, tp, rank, layers=None, dev="cuda", kv_distinct=None,
                 full=None):
        self.cfg, self.s = cfg, Shard(cfg, tp, rank)
        s = self.s
        self.L = layers or cfg["num_layers"]
        self.hd, self.hid = cfg["head_dim"], cfg["hidden_size"]
        self.Vorg = cfg["vocab_size"]
        self.eps = float(cfg.get("rms_norm_eps", 1e-5))
        self.scale = self.hd ** -0.5
        hd, hid = self.hd, self.hid
        if full is not None:
            self._cut(full)
        else:
            def rnd(*shape, fan_in):
                return (torch.randn(*shape, device=dev, dtype=BF) * (fan_in ** -0.5)).to(BF)
            self.embed = torch.randn(s.V, hid, device=dev, dtype=BF)
            self.w_qkv = [rnd((s.H + 2 * s.KVH) * hd, hid, fan_in=hid) for _ in range(self.L)]
            self.w_o = [rnd(hid, s.H * hd, fan_in=cfg["num_heads"] * hd) for _ in range(self.L)]
            self.w_gu = [rnd(2 * s.F, hid, fan_in=hid) for _ in range(self.L)]
            self.w_d = [rnd(hid, s.F, fan_in=cfg["ffn_size"]) for _ in range(self.L)]
            self.n_in = [(1 + 0.1 * torch.randn(hid, device=dev)).to(BF) for _ in range(self.L)]
            self.n_post = [(1 + 0.1 * torch.randn(hid, device=dev)).to(BF) for _ in range(self.L)]
            self.n_final = (1 + 0.1 * torch.randn(hid, device=dev)).to(BF)
            self.lm = rnd(s.V, hid, fan_in=hid)
        max_pos = max(int(cfg.get("max_context", 8192)), 32768) + 1
        self.cos, self.sin = K.rope_tables(max_pos, hd, float(cfg.get("rope_theta", 10000.0)))
        self.kv_tokens = kv_tokens
        self.kv_distinct = kv_distinct or self.L
        self.kc = [torch.randn(kv_tokens, s.KVH, hd, device=dev, dtype=BF) for _ in range(self.kv_distinct)]
        self.vc = [torch.randn(kv_tokens, s.KVH, hd, device=dev, dtype=BF) for _ in range(self.kv_distinct)]
        self.gathered = None

    def _cut(self, f):
        """This rank's slices of a full llama_ref.Llama (for --check)."""
        s, hd, H, KVH = self.s, self.hd, f.H, f.KVH
        q = slice(s.rank * s.H * hd, (s.rank + 1) * s.H * hd)
        k = slice((H + s.kv0) * hd, (H + s.kv0 + s.KVH) * hd)
        v = slice((H + KVH + s.kv0) * hd, (H + KVH + s.kv0 + s.KVH) * hd)
        fs = slice(s.rank * s.F, (s.rank + 1) * s.F)
        F = f.F

        def vocab(t):
            out = torch.zeros(s.V, t.shape[1], device=t.device, dtype=t.dtype)
            hi = min(s.v0 + s.V, t.shape[0])
            if hi > s.v0:
                out[:hi - s.v0] = t[s.v0:hi]
            return out
        self.embed, self.lm = vocab(f.embed), vocab(f.lm)
        self.w_qkv = [torch.cat([w[q], w[k], w[v]], 0).contiguous() for w in f.w_qkv]
        self.w_o = [w[:, q].contiguous() for w in f.w_o]
        self.w_gu = [torch.cat([w[fs], w[F + fs.start:F + fs.stop]], 0).contiguous() for w in f.w_gu]
        self.w_d = [w[:, fs].contiguous() for w in f.w_d]
        self.n_in, self.n_post, self.n_final = f.n_in, f.n_post, f.n_final

    def embedding(self, ids):
        s = self.s
        local = ids - s.v0
        mask = (local < 0) | (local >= s.V)
        h = K.embedding(local.masked_fill(mask, 0), self.embed)
        h.masked_fill_(mask.unsqueeze(1), 0)
        dist.all_reduce(h)
        return h

    def forward(self, b, return_logits=False):
        s, hd = self.s, self.hd
        H, KVH, T = s.H, s.KVH, b.T
        h = self.embedding(b.ids)
        for l in range(self.L):
            kc, vc = self.kc[l % self.kv_distinct], self.vc[l % self.kv_distinct]
            x = K.rmsnorm(h, self.n_in[l], self.eps)
            qkv = K.linear(x, self.w_qkv[l])
            K.rope_(qkv, b.pos, self.cos, self.sin, H + KVH, hd)
            K.kv_write(qkv, b.slots, kc, vc, H, KVH, hd)
            q = qkv[:, :H * hd].view(T, H, hd)
            parts = []
            if b.np:
                parts.append(K.flash_varlen(q[:b.Tp], kc[:b.Kp], vc[:b.Kp], b.cu_qp, b.cu_kp,
                                            b.max_qp, b.max_kp, True, self.scale))
            if b.nd:
                parts.append(K.flash_varlen(q[b.Tp:], kc[b.Kp:b.Kp + b.Kd], vc[b.Kp:b.Kp + b.Kd],
                                            b.cu_qd, b.cu_kd, 1, b.max_kd, False, self.scale))
            a = parts[0] if len(parts) == 1 else torch.cat(parts, 0)
            o = K.linear(a.reshape(T, H * hd), self.w_o[l])
            dist.all_reduce(o)
            K.residual_add(h, o)
            x = K.rmsnorm(h, self.n_post[l], self.eps)
            gu = K.linear(x, self.w_gu[l])
            m = K.silu_mul(gu)
            d = K.linear(m, self.w_d[l])
            dist.all_reduce(d)
            K.residual_add(h, d)
        x = K.rmsnorm(h, self.n_final, self.eps)
        last = torch.index_select(x, 0, b.last)
        local = K.linear(last, self.lm)
        full = torch.empty(s.tp, *local.shape, device=local.device, dtype=local.dtype)
        dist.all_gather_into_tensor(full, local.contiguous())
        logits = full.permute(1, 0, 2).reshape(local.shape[0], -1)[:, :self.Vorg]
        tok = K.sampling(logits)
        return (tok, logits) if return_logits else tok


def tp_check(tp, rank):
    """TP logits on weights cut from one full model vs that model's own forward."""
    cfg = dict(num_layers=2, hidden_size=512, num_heads=8, num_kv_heads=2, head_dim=64,
               ffn_size=1024, vocab_size=1000, max_context=4096)
    res = {}
    for name, c in [("gqa", cfg), ("mha", dict(cfg, num_kv_heads=8))]:
        b = Batch({"prefill": [[37, 0], [20, 75]], "decode": [[2, 50]], "decode_ctx": [7, 300, 1]},
                  c["vocab_size"])
        torch.manual_seed(1234)  # identical full weights and caches on every rank
        full = Llama(c, kv_tokens=b.total_k + 16)
        m = LlamaTP(c, b.total_k + 16, tp, rank, full=full)
        for i in range(len(full.kc)):
            m.kc[i].copy_(full.kc[i][:, m.s.kv0:m.s.kv0 + m.s.KVH])
            m.vc[i].copy_(full.vc[i][:, m.s.kv0:m.s.kv0 + m.s.KVH])
        _, ref = full.forward(b, return_logits=True)
        _, lg = m.forward(b, return_logits=True)
        holder = {}
        g = K._capture(lambda: holder.update(out=m.forward(b, return_logits=True)))
        g.replay()
        torch.cuda.synchronize()
        res[f"{name}_eager_vs_single_gpu"] = K.rel_err(lg, ref)
        res[f"{name}_graph_vs_single_gpu"] = K.rel_err(holder["out"][1], ref)
        del g, m, full
    if rank == 0:
        for k_, v_ in res.items():
            print(f"tp check {k_}: {v_:.3e}", flush=True)
    bad = {k_: v_ for k_, v_ in res.items() if not v_ < 3e-2}
    assert not bad, f"tp check failed: {bad}"
    return res


def slowest(x, dev):
    t = torch.tensor([x], device=dev, dtype=torch.float64)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return t.item()


def time_batch(m, b, reps, dev):
    m.forward(b)
    torch.cuda.synchronize()
    dist.barrier()
    g = K._capture(lambda: m.forward(b))
    for _ in range(3):
        g.replay()
    torch.cuda.synchronize()
    dist.barrier()
    ms = sorted(t / 1000.0 for t in K._time_replays(g, reps))
    med = ms[len(ms) // 2] if len(ms) % 2 else 0.5 * (ms[len(ms) // 2 - 1] + ms[len(ms) // 2])
    del g
    return slowest(med, dev), slowest(ms[0], dev), slowest(ms[-1], dev), len(ms)


def plan_kv(cfg, shard, L, kv_tokens, margin_gib):
    hd, hid = cfg["head_dim"], cfg["hidden_size"]
    wbytes = 2 * (2 * shard.V * hid + L * (((shard.H + 2 * shard.KVH) * hd + shard.H * hd) * hid
                                             + 3 * shard.F * hid))
    kv_layer = 2 * kv_tokens * shard.KVH * hd * 2
    free, _ = torch.cuda.mem_get_info()
    avail = free - wbytes - margin_gib * 2 ** 30
    return wbytes, kv_layer, max(1, min(L, int(avail // kv_layer)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--catalog", default=os.path.join(HERE, "..", "..", "..", "models", "catalog"))
    ap.add_argument("--batches", default=os.path.join(HERE, "batches.json"))
    ap.add_argument("--out", required=True)
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--layers", type=int, default=0, help="override num_layers (smoke tests only)")
    ap.add_argument("--limit", type=int, default=0, help="only the first N batches (smoke tests)")
    ap.add_argument("--check", action="store_true", help="TP vs single-GPU logits first")
    ap.add_argument("--mem-margin-gib", type=float, default=6.0)
    a = ap.parse_args()
    local = int(os.environ.get("LOCAL_RANK", "0"))
    torch.cuda.set_device(local)
    dev = torch.device("cuda", local)
    dist.init_process_group("nccl", device_id=dev)
    rank, tp = dist.get_rank(), dist.get_world_size()
    K.setup_torch()
    torch.manual_seed(rank)
    if rank == 0:
        print(json.dumps(K.env_report()), flush=True)
    if a.check:
        tp_check(tp, rank)
    with open(os.path.join(a.catalog, a.model + ".json")) as f:
        cfg = json.load(f)
    if "mla" in cfg or "moe" in cfg:
        raise SystemExit(f"{a.model}: the reference engine runs dense GQA/MHA models only")
    with open(a.batches) as f:
        allb = json.load(f)
    specs = allb[a.model] if isinstance(allb, dict) else allb
    if a.limit:
        specs = specs[:a.limit]
    batches = [Batch(s, cfg["vocab_size"], seed=i) for i, s in enumerate(specs)]
    L = a.layers or cfg["num_layers"]
    kv_tokens = max(b.total_k for b in batches) + 16
    shard = Shard(cfg, tp, rank)
    wbytes, kv_layer, kv_distinct = plan_kv(cfg, shard, L, kv_tokens, a.mem_margin_gib)
    kv_distinct = int(-slowest(-kv_distinct, dev))  # the same on every rank: the minimum
    if rank == 0:
        print(f"model {a.model} tp {tp}: {L} layers, weights {wbytes / 2**30:.1f} GiB/GPU, KV "
              f"{kv_tokens} tokens/layer ({kv_layer / 2**30:.2f} GiB/layer/GPU), distinct KV layers "
              f"{kv_distinct}/{L}", flush=True)
    t0 = time.time()
    m = LlamaTP(cfg, kv_tokens, tp, rank, layers=L, kv_distinct=kv_distinct)
    torch.cuda.synchronize()
    prov = K.provenance("reference/llama_ref_tp.py", {"attention_kernel": K.ATTENTION_KERNEL})
    prov.update({"model_layers": L, "kv_distinct_layers": kv_distinct, "tp": tp,
                 "nccl": ".".join(str(v) for v in torch.cuda.nccl.version()),
                 "env": "NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1",
                 "timing": f"CUDA graph of one forward incl. NCCL all-reduce/all-gather; 3 warm-up "
                           f"replays, then >= {a.reps} replays timed with CUDA events; the slowest "
                           f"rank's median"})
    f = None
    if rank == 0:
        os.makedirs(a.out, exist_ok=True)
        outp = os.path.join(a.out, f"ref_{a.model}_tp{tp}.jsonl")
        f = open(outp, "w")
        f.write(json.dumps({"provenance": prov}) + "\n")
    dev_slug = K.device_slug()
    for i, b in enumerate(batches):
        tb = time.time()
        med, lo, hi, n = time_batch(m, b, a.reps, dev)
        if rank == 0:
            rec = {"model": a.model, "device": dev_slug, "tp": tp, "class": b.cls(),
                   "batch": b.spec, "ms": round(med, 4), "ms_min": round(lo, 4),
                   "ms_max": round(hi, 4), "reps": n}
            f.write(json.dumps(rec) + "\n")
            f.flush()
            print(f"[{i + 1}/{len(batches)}] tp{tp} {b.cls():7s} T={b.T:5d} seqs={b.np + b.nd:4d} "
                  f"K={b.total_k:7d} {med:9.3f} ms [{time.time() - tb:.1f} s]", flush=True)
        torch.cuda.empty_cache()
    if f:
        f.close()
        print(f"{a.model} tp{tp}: {len(batches)} batches in {time.time() - t0:.1f} s -> {outp}",
              flush=True)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
