#!/usr/bin/env python3
"""engine_prod: a vLLM-V1-like Llama forward built on production kernels (issue 16, item 1).

The same random bf16 weights as reference/llama_ref.py (it owns them), one iteration:

  embedding            F.embedding of the batch's token ids (decodes first, then prefill chunks)
  per layer (x L):
    input norm         layer 0: RMSNorm (kernels.py, residual = embedding);
                       later layers: fused residual add + RMSNorm (backends.fused_add_rmsnorm,
                       our Triton kernel with vLLM's fused_add_rms_norm semantics)
    qkv                torch.mm, fused QKV (kernels.linear, cuBLASLt)
    rope               kernels.py Triton rope_, in place (NeoX layout, as vLLM's Llama)
    kv write + attn    --attn vllm:   vLLM's triton_reshape_and_cache_flash into the paged
                                      cache (block 16), ONE unified_attention call for the
                                      whole batch (prefill chunks and decodes together)
                       --attn sglang: SGLang's set_kv_buffer (index assignment), decode_attention
                                      for the decodes (dynamic num_kv_splits), extend_attention
                                      for the prefill chunks
    o                  torch.mm
    post norm          fused residual add + RMSNorm
    gate_up            torch.mm, fused
    silu_mul           kernels.py Triton silu_mul
    down               torch.mm
  final norm           fused residual add + RMSNorm
  logits               gather each sequence's last token, torch.mm LM head, cast to fp32
                       (vLLM's sampler works in fp32), argmax (greedy)

The whole forward is one CUDA graph per batch, timed as llama_ref.py times it (run_engines.py).
Standalone: engine_prod.py --model llama-3-8b --attn vllm --out DIR [run_engines.py options].
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
import backends  # noqa: E402

BF = torch.bfloat16


class PB:
    """A prepared batch: static tensors and metadata of one batch shape."""

    def __init__(self, **kw):
        self.__dict__.update(kw)


class ProdEngine:
    def __init__(self, W, attn="vllm", sm=None):
        self.W = W
        self.attn = attn
        self.name = "prod-" + attn
        self.be = backends.make(attn, W.H, W.KVH, W.hd, sm or common.sm_count())
        self.attn_label = self.be.name

    def prepare(self, spec, seed=0):
        W = self.W
        b = llama_ref.Batch(spec, W.V, seed=seed)
        pre, dec = common.expand(spec)
        nd, Tp = len(dec), b.Tp
        seqs = [(1, c + 1) for c in dec] + [(t, p + t) for t, p in pre]
        dev = b.ids.device
        ids = torch.cat([b.ids[Tp:], b.ids[:Tp]])
        pos = [c for c in dec]
        last_pre, o = [], nd
        for t, p in pre:
            pos += range(p, p + t)
            o += t
            last_pre.append(o - 1)
        last = last_pre + list(range(nd))
        bseq = list(range(nd, nd + len(pre))) + list(range(nd))
        return PB(spec=spec, seqs=seqs, T=b.T, ids=ids,
                  pos=torch.tensor(pos, dtype=torch.int32, device=dev),
                  last=torch.tensor(last, dtype=torch.int64, device=dev),
                  bseq=bseq, meta=self.be.plan(seqs), kv=None)

    def kv_need(self, pb):
        return self.be.region_bytes(pb.seqs), self.be.touched_bytes(pb.seqs)

    def bind(self, pb, regions):
        pb.kv = [self.be.views(r, pb.meta) for r in regions]

    def unbind(self, pb):
        pb.kv = None

    def info(self, pb):
        return {"attn": self.attn_label, "kernel_path": self.be.kernel_path(pb.meta)}

    def forward(self, pb, return_logits=False):
        W = self.W
        H, KVH, hd, T = W.H, W.KVH, W.hd, pb.T
        h = F.embedding(pb.ids, W.embed)
        residual = None
        x = None
        for l in range(W.L):
            if residual is None:
                residual = h
                x = K.rmsnorm(h, W.n_in[l], W.eps)
            else:
                backends.fused_add_rmsnorm(x, residual, W.n_in[l], W.eps)
            qkv = K.linear(x, W.w_qkv[l])
            K.rope_(qkv, pb.pos, W.cos, W.sin, H + KVH, hd)
            q = qkv[:, :H * hd].view(T, H, hd)
            k = qkv[:, H * hd:(H + KVH) * hd].view(T, KVH, hd)
            v = qkv[:, (H + KVH) * hd:].view(T, KVH, hd)
            kc, vc = pb.kv[l % len(pb.kv)]
            self.be.write_kv(k, v, kc, vc, pb.meta)
            attn = torch.empty(T, H, hd, dtype=BF, device=qkv.device)
            self.be.attend(q, k, v, kc, vc, attn, pb.meta)
            o = K.linear(attn.view(T, H * hd), W.w_o[l])
            backends.fused_add_rmsnorm(o, residual, W.n_post[l], W.eps)
            gu = K.linear(o, W.w_gu[l])
            x = K.linear(K.silu_mul(gu), W.w_d[l])
        backends.fused_add_rmsnorm(x, residual, W.n_final, W.eps)
        logits = K.linear(torch.index_select(x, 0, pb.last), W.lm).float()
        tok = torch.argmax(logits, dim=-1)
        return (tok, logits) if return_logits else tok

    def gather_prior(self, pb, l, canon, n):
        """The first n cached keys/values of canonical sequence `canon` in layer l."""
        kc, vc = pb.kv[l % len(pb.kv)]
        return self.be.gather(kc, vc, pb.meta, pb.bseq[canon], n, pb.seqs)


if __name__ == "__main__":
    import run_engines
    run_engines.main(default_engines="prod-vllm")
