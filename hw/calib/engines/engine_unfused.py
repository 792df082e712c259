#!/usr/bin/env python3
"""engine_unfused: a plain Hugging-Face-style Llama forward in torch.nn.functional (issue 16,
items 1 and 4: "the unfused eager-PyTorch engine").

The same random bf16 weights as reference/llama_ref.py (views into its fused matrices, so the
GEMM shapes are the separate ones). One iteration, op by op as transformers' LlamaModel with
the sdpa attention implementation and a static cache runs it:

  embedding        F.embedding
  rotary tables    once per forward, LlamaRotaryEmbedding: inv_freq @ positions (fp32), cat,
                   cos/sin, x attention_scaling (1.0), cast to bf16
  per layer (x L):
    input norm     LlamaRMSNorm as plain ops: to(fp32), pow(2), mean(-1), + eps, rsqrt, mul,
                   to(bf16), weight mul
    q, k, v        three F.linear
    rope           q * cos + rotate_half(q) * sin, same for k (rotate_half: neg, cat)
    kv write       slice assignment into a static per-layer cache [seq, kv_heads, max_len,
                   head_dim] (HF StaticCache layout): one copy per prefill chunk, one per group
                   of decodes with equal context, for K and for V
    attention      F.scaled_dot_product_attention, one call per prefill chunk (causal; with
                   prior context bottom-right aligned: torch.nn.attention.bias.causal_lower_right,
                   else an explicit boolean mask) and one call per group of equal-context
                   decodes (the group's sequences are contiguous cache rows, so K/V are views);
                   GQA by enable_gqa=True when it works, else repeat_kv (HF's expand + reshape)
    attn output    each call's output copied into a [tokens, heads, head_dim] buffer
    o              F.linear; residual add (out of place)
    post norm      as above
    mlp            F.linear gate, F.linear up, F.silu, mul, F.linear down; residual add
  final norm, last-token gather (index_select), LM head F.linear, argmax.

Which SDPA backend serves each call kind is decided at start (probe(): the default dispatch
unless it fails or falls back to the math kernel for GQA, then flash, efficient, math in turn,
each checked against fp32) and recorded; run_engines.py --phase profile lists the kernels
that actually ran. Two execution modes (run_engines.py): eager (forward() from Python, timed
call to GPU done, plus the host time to return) and graph (one CUDA graph per batch).
Standalone: engine_unfused.py --model llama-3-8b --out DIR [run_engines.py options].
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import common  # noqa: E402,F401  (puts reference/ on sys.path)
import kernels as K  # noqa: E402
import llama_ref  # noqa: E402

BF = torch.bfloat16

try:  # torch >= 2.3
    from torch.nn.attention import SDPBackend, sdpa_kernel
except Exception:  # pragma: no cover
    SDPBackend, sdpa_kernel = None, None
try:
    from torch.nn.attention.bias import causal_lower_right
except Exception:  # pragma: no cover
    causal_lower_right = None


def rmsnorm_hf(x, w, eps):
    dt = x.dtype
    x = x.to(torch.float32)
    var = x.pow(2).mean(-1, keepdim=True)
    x = x * torch.rsqrt(var + eps)
    return w * x.to(dt)


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def repeat_kv(x, n_rep):
    """transformers' repeat_kv: [b, kvh, s, d] -> [b, kvh * n_rep, s, d] (materialized)."""
    if n_rep == 1:
        return x
    b, kvh, s, d = x.shape
    return x[:, :, None, :, :].expand(b, kvh, n_rep, s, d).reshape(b, kvh * n_rep, s, d)


def backend_names():
    out = {}
    if SDPBackend is None:
        return out
    for name, b in SDPBackend.__members__.items():
        try:
            out[int(b.value)] = name
        except Exception:
            try:
                out[int(b)] = name
            except Exception:
                pass
    return out


def dispatch_choice(q, k, v, **kw):
    """The backend PyTorch's default SDPA dispatch picks for these arguments (by name)."""
    try:
        c = torch._fused_sdp_choice(q, k, v, **kw)
        return backend_names().get(int(c), str(c))
    except Exception as e:
        return f"unknown ({type(e).__name__})"


class PB:
    def __init__(self, **kw):
        self.__dict__.update(kw)


KINDS = ("prefill", "prefill_prior", "decode")


class UnfusedEngine:
    name = "unfused"
    attn_label = "sdpa"

    def __init__(self, W, probe=True):
        self.W = W
        H, KVH, hd, F_ = W.H, W.KVH, W.hd, W.F
        self.rep = H // KVH
        self.scale = hd ** -0.5
        qw, kw = H * hd, KVH * hd
        self.wq = [w[:qw] for w in W.w_qkv]
        self.wk = [w[qw:qw + kw] for w in W.w_qkv]
        self.wv = [w[qw + kw:] for w in W.w_qkv]
        self.wg = [w[:F_] for w in W.w_gu]
        self.wu = [w[F_:] for w in W.w_gu]
        theta = float(W.cfg.get("rope_theta", 10000.0))
        self.inv_freq = (1.0 / (theta ** (torch.arange(0, hd, 2, dtype=torch.int64).float() / hd))).to("cuda")
        self.cfgs = {k: {"gqa": "mha" if H == KVH else "enable_gqa", "mask": "causal_lower_right",
                         "force": None} for k in KINDS}
        self.report = {}
        if probe:
            self.probe()

    # ------------------------------------------------------------------ SDPA
    def _args(self, kind, k, v, mask=None, causal=False):
        """(k, v, keyword arguments) of one SDPA call of this kind, as configured."""
        c = self.cfgs[kind]
        kw = {"scale": self.scale}
        if c["gqa"] == "repeat_kv":
            k, v = repeat_kv(k, self.rep), repeat_kv(v, self.rep)
        elif c["gqa"] == "enable_gqa":
            kw["enable_gqa"] = True
        if mask is not None:
            kw["attn_mask"] = mask
        elif causal:
            kw["is_causal"] = True
        return k, v, kw

    def _sdpa(self, kind, q, k, v, mask=None, causal=False):
        k, v, kw = self._args(kind, k, v, mask, causal)
        force = self.cfgs[kind]["force"]
        if force is None:
            return F.scaled_dot_product_attention(q, k, v, **kw)
        with sdpa_kernel([getattr(SDPBackend, force)]):
            return F.scaled_dot_product_attention(q, k, v, **kw)

    def _choice(self, kind, q, k, v, mask=None, causal=False):
        """What the default dispatch picks for this call (a CausalBias mask dispatches itself:
        flash when it can, else memory-efficient; the profile phase shows which ran)."""
        if mask is not None and type(mask) is not torch.Tensor:
            return "CausalBias (own dispatch)"
        k, v, kw = self._args(kind, k, v, mask, causal)
        return dispatch_choice(q, k, v, **kw)

    def _prior_mask(self, t, kv, dev):
        if self.cfgs["prefill_prior"]["mask"] == "causal_lower_right" and causal_lower_right is not None:
            return causal_lower_right(t, kv)
        r = torch.arange(t, device=dev)[:, None]
        c = torch.arange(kv, device=dev)[None, :]
        return c <= r + (kv - t)

    def probe(self):
        """Chooses per call kind the SDPA configuration (gqa mode, mask mode, forced backend)
        that runs and matches fp32; records what the default dispatch would pick."""
        W = self.W
        H, KVH, hd = W.H, W.KVH, W.hd
        g = torch.Generator(device="cuda").manual_seed(5)
        rows, max_len = 4, 160

        def rnd(*s):
            return torch.randn(*s, device="cuda", dtype=BF, generator=g)
        Kc, Vc = rnd(rows, KVH, max_len, hd), rnd(rows, KVH, max_len, hd)
        qt = rnd(64, H, hd)
        cases = {"prefill": (40, 0, 1), "prefill_prior": (24, 70, 1), "decode": (1, 33, 3)}
        gqas = ["mha"] if H == KVH else ["enable_gqa", "repeat_kv"]
        masks = ["causal_lower_right", "mask"] if causal_lower_right is not None else ["mask"]
        forces = [None, "FLASH_ATTENTION", "EFFICIENT_ATTENTION", "MATH"] if SDPBackend else [None]
        for kind, (t, p, n) in cases.items():
            tried, chosen, fallback = [], None, None
            for force in forces:
                for mask in (masks if kind == "prefill_prior" else ["-"]):
                    for gqa in gqas:
                        self.cfgs[kind] = {"gqa": gqa, "mask": mask if mask != "-" else None, "force": force}
                        rec = {"gqa": gqa, "mask": mask, "force": force}
                        try:
                            err, choice = self._probe_one(kind, qt, Kc, Vc, t, p, n)
                            rec.update(rel_err=err, dispatch=choice)
                            ok = err < 2e-2
                        except Exception as e:
                            rec["error"] = f"{type(e).__name__}: {str(e)[:160]}"
                            ok = False
                        tried.append(rec)
                        if not ok:
                            continue
                        if fallback is None:
                            fallback = dict(self.cfgs[kind])
                        if force is None and "MATH" in str(rec.get("dispatch", "")) and H != KVH:
                            continue  # default dispatch went to the math kernel: try the next mode
                        chosen = dict(self.cfgs[kind])
                        break
                    if chosen:
                        break
                if chosen:
                    break
            self.cfgs[kind] = chosen or fallback or {"gqa": gqas[-1], "mask": "mask", "force": "MATH"}
            self.report[kind] = {"chosen": self.cfgs[kind], "tried": tried}
        return self.report

    def _probe_one(self, kind, qt, Kc, Vc, t, p, n):
        kv = p + t
        if kind == "decode":
            q = qt[:n].unsqueeze(2)
            k, v = Kc[:n, :, :kv], Vc[:n, :, :kv]
            o = self._sdpa(kind, q, k, v)
            choice = self._choice(kind, q, k, v)
            ref = _naive(q, k, v, self.scale, 0)
        else:
            q = qt[:t].transpose(0, 1).unsqueeze(0)
            k, v = Kc[:1, :, :kv], Vc[:1, :, :kv]
            if p == 0:
                o = self._sdpa(kind, q, k, v, causal=True)
                choice = self._choice(kind, q, k, v, causal=True)
            else:
                m = self._prior_mask(t, kv, q.device)
                o = self._sdpa(kind, q, k, v, mask=m)
                choice = self._choice(kind, q, k, v, mask=m)
            ref = _naive(q, k, v, self.scale, p, causal=True)
        torch.cuda.synchronize()
        return K.rel_err(o, ref), choice

    # ------------------------------------------------------------------ batch
    def prepare(self, spec, seed=0):
        W = self.W
        b = llama_ref.Batch(spec, W.V, seed=seed)
        pre, dec = common.expand(spec)
        np_, nd, Tp = len(pre), len(dec), b.Tp
        order = sorted(range(nd), key=lambda j: dec[j])      # decodes by context (stable)
        rank = [0] * nd
        for r, j in enumerate(order):
            rank[j] = r
        dev = b.ids.device
        ids = torch.cat([b.ids[:Tp], b.ids[Tp:][torch.tensor(order, dtype=torch.int64, device=dev)]]) \
            if nd else b.ids
        pos, chunks, last, t0 = [], [], [], 0
        masks = []
        for i, (t, p) in enumerate(pre):
            pos += range(p, p + t)
            chunks.append((i, t0, t0 + t, p, t))
            masks.append(self._prior_mask(t, p + t, dev) if p > 0 else None)
            t0 += t
            last.append(t0 - 1)
        groups, r = [], 0
        while r < nd:
            c = dec[order[r]]
            e = r
            while e < nd and dec[order[e]] == c:
                e += 1
            groups.append((np_ + r, np_ + e, c, Tp + r, Tp + e))
            r = e
        pos += [dec[j] for j in order]
        last += [Tp + rank[j] for j in range(nd)]
        lens = [p + t for t, p in pre] + [c + 1 for c in dec]
        return PB(spec=spec, T=b.T, ids=ids, pos=torch.tensor(pos, dtype=torch.int64, device=dev),
                  last=torch.tensor(last, dtype=torch.int64, device=dev), chunks=chunks, masks=masks,
                  groups=groups, rank=rank, np=np_, nseq=np_ + nd, max_len=max(lens), lens=lens, kv=None)

    def kv_need(self, pb):
        W = self.W
        per = W.KVH * W.hd * 2
        return 2 * pb.nseq * pb.max_len * per, 2 * sum(pb.lens) * per

    def bind(self, pb, regions):
        W = self.W
        n = pb.nseq * W.KVH * pb.max_len * W.hd
        shape = (pb.nseq, W.KVH, pb.max_len, W.hd)
        pb.kv = [(r[:n].view(shape), r[n:2 * n].view(shape)) for r in regions]

    def unbind(self, pb):
        pb.kv = None

    def info(self, pb):
        return {"attn": self.attn_label, "sdpa_calls_per_layer": len(pb.chunks) + len(pb.groups),
                "sdpa": {k: self.cfgs[k] for k in KINDS}}

    # ------------------------------------------------------------------ forward
    def rotary(self, pos):
        inv = self.inv_freq[None, :, None].float().expand(1, -1, 1)
        p = pos[None, None, :].float()
        freqs = (inv @ p).transpose(1, 2)
        emb = torch.cat((freqs, freqs), dim=-1)
        cos = emb.cos() * 1.0
        sin = emb.sin() * 1.0
        return cos.to(BF)[0], sin.to(BF)[0]

    def forward(self, pb, return_logits=False):
        W = self.W
        H, KVH, hd, T, eps = W.H, W.KVH, W.hd, pb.T, W.eps
        h = F.embedding(pb.ids, W.embed)
        cos, sin = self.rotary(pb.pos)
        cos, sin = cos[:, None, :], sin[:, None, :]
        for l in range(W.L):
            residual = h
            x = rmsnorm_hf(h, W.n_in[l], eps)
            q = F.linear(x, self.wq[l]).view(T, H, hd)
            k = F.linear(x, self.wk[l]).view(T, KVH, hd)
            v = F.linear(x, self.wv[l]).view(T, KVH, hd)
            q = q * cos + rotate_half(q) * sin
            k = k * cos + rotate_half(k) * sin
            Kc, Vc = pb.kv[l % len(pb.kv)]
            for row, a, b, p, t in pb.chunks:
                Kc[row, :, p:p + t] = k[a:b].transpose(0, 1)
                Vc[row, :, p:p + t] = v[a:b].transpose(0, 1)
            for r0, r1, c, a, b in pb.groups:
                Kc[r0:r1, :, c] = k[a:b]
                Vc[r0:r1, :, c] = v[a:b]
            attn = torch.empty(T, H, hd, dtype=BF, device=h.device)
            for (row, a, b, p, t), mask in zip(pb.chunks, pb.masks):
                qi = q[a:b].transpose(0, 1).unsqueeze(0)
                ki, vi = Kc[row:row + 1, :, :p + t], Vc[row:row + 1, :, :p + t]
                if p == 0:
                    o = self._sdpa("prefill", qi, ki, vi, causal=True)
                else:
                    o = self._sdpa("prefill_prior", qi, ki, vi, mask=mask)
                attn[a:b] = o[0].transpose(0, 1)
            for r0, r1, c, a, b in pb.groups:
                o = self._sdpa("decode", q[a:b].unsqueeze(2), Kc[r0:r1, :, :c + 1], Vc[r0:r1, :, :c + 1])
                attn[a:b] = o[:, :, 0]
            h = residual + F.linear(attn.view(T, H * hd), W.w_o[l])
            residual = h
            x = rmsnorm_hf(h, W.n_post[l], eps)
            h = residual + F.linear(F.silu(F.linear(x, self.wg[l])) * F.linear(x, self.wu[l]), W.w_d[l])
        x = rmsnorm_hf(h, W.n_final, eps)
        logits = F.linear(torch.index_select(x, 0, pb.last), W.lm)
        tok = torch.argmax(logits, dim=-1)
        return (tok, logits) if return_logits else tok

    def gather_prior(self, pb, l, canon, n):
        Kc, Vc = pb.kv[l % len(pb.kv)]
        row = canon if canon < pb.np else pb.np + pb.rank[canon - pb.np]
        return Kc[row, :, :n].transpose(0, 1).clone(), Vc[row, :, :n].transpose(0, 1).clone()


def _naive(q, k, v, scale, prior, causal=False):
    """fp32 attention for [b, H, q, d] x [b, KVH, kv, d], bottom-right causal when asked."""
    rep = q.shape[1] // k.shape[1]
    kf = k.float().repeat_interleave(rep, dim=1)
    vf = v.float().repeat_interleave(rep, dim=1)
    s = torch.einsum("bhqd,bhkd->bhqk", q.float(), kf) * scale
    if causal:
        nq, nk = q.shape[2], k.shape[2]
        r = torch.arange(nq, device=q.device)[:, None]
        c = torch.arange(nk, device=q.device)[None, :]
        s = s.masked_fill(c > (nk - nq) + r, float("-inf"))
    return torch.einsum("bhqk,bhkd->bhqd", torch.softmax(s, -1), vf)


if __name__ == "__main__":
    import run_engines
    run_engines.main(default_engines="unfused")
