"""backends: the production attention backends the engines and attn_bench.py drive, and the
production engine's own fused residual-add RMSNorm.

Both backends take a batch as a list of sequences in token order, DECODES FIRST (vLLM V1
reorders a batch that way), each (q_len, kv_len): q_len new tokens, kv_len keys (cached
context + the new tokens, as the kernels count them). Every sequence's KV is contiguous in
its layout (a fresh server's allocation); the region a layout lives in comes from kvpolicy.

VllmTriton   vLLM V1's Triton backend (vendored vllm/v1/attention/ops/triton_unified_attention.py,
             vllm/attention/ops/triton_reshape_and_cache_flash.py): paged KV, block size 16,
             kv_cache [num_blocks, 2, 16, kv_heads, head_dim] unbound into K and V as
             TritonAttentionBackend does; the new tokens' K/V written by
             triton_reshape_and_cache_flash, then ONE unified_attention call for the whole batch.
             Host metadata as the backend's metadata builder makes it: seq_threshold_3D =
             MIN_LAUNCH_GRID_SIZE_2D (128) // kv_heads, 16 parallel softmax segments and their
             buffers, split_launch False (the file's own default), block tables of a fixed
             width (a server sizes them for max_model_len: here 33280 tokens).
             kv_dtype "fp8": e4m3 cache, scales 1.0 (vLLM's fp8 KV path).
SglangTriton SGLang's Triton backend (vendored triton_ops/decode_attention.py and
             extend_attention.py): token pool (page size 1) k_buffer/v_buffer
             [tokens, kv_heads, head_dim]; new K/V stored by index assignment (SGLang's
             set_kv_buffer); decodes through decode_attention_fwd with the per-sequence
             num_kv_splits that triton_backend.py computes (get_num_kv_splits_triton in
             triton_ops/metadata.py, reproduced on the host below, max 8 splits = SGLang's
             --triton-attention-num-kv-splits default); prefill chunks through
             extend_attention_fwd (prefix from the pool through req_to_tokens, the new tokens
             from contiguous copies of k and v, as the backend's forward_extend passes them).
"""
import math

import torch
import triton
import triton.language as tl

import vendored

BF = torch.bfloat16


def cdiv(a, b):
    return -(-a // b)


# ----------------------------------------------------------------------------- fused add+norm
@triton.jit
def _fused_add_rmsnorm_kernel(x_ptr, r_ptr, w_ptr, x_stride, r_stride, eps,
                              N: tl.constexpr, BLOCK: tl.constexpr):
    row = tl.program_id(0).to(tl.int64)
    offs = tl.arange(0, BLOCK)
    mask = offs < N
    x = tl.load(x_ptr + row * x_stride + offs, mask=mask, other=0.0).to(tl.float32)
    r = tl.load(r_ptr + row * r_stride + offs, mask=mask, other=0.0).to(tl.float32)
    z = (x + r).to(tl.bfloat16)
    tl.store(r_ptr + row * r_stride + offs, z, mask=mask)
    zf = z.to(tl.float32)
    var = tl.sum(zf * zf, axis=0) / N
    y = (zf * (1.0 / tl.sqrt(var + eps))).to(tl.bfloat16).to(tl.float32)
    w = tl.load(w_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    tl.store(x_ptr + row * x_stride + offs, (y * w).to(tl.bfloat16), mask=mask)


def fused_add_rmsnorm(x, residual, w, eps):
    """vLLM's fused_add_rms_norm semantics, in place: residual <- x + residual (rounded to
    bf16), x <- bf16(residual * rsqrt(mean(residual^2) + eps)) * w. One kernel."""
    T, N = x.shape
    if T == 0:
        return x, residual
    BLOCK = triton.next_power_of_2(N)
    _fused_add_rmsnorm_kernel[(T,)](x, residual, w, x.stride(0), residual.stride(0), eps,
                                    N=N, BLOCK=BLOCK, num_warps=8 if BLOCK <= 4096 else 16)
    return x, residual


# ----------------------------------------------------------------------------- vLLM
class Meta:
    """Static per-batch metadata (plain attributes)."""

    def __init__(self, **kw):
        self.__dict__.update(kw)


MIN_LAUNCH_GRID_SIZE_2D = 128   # vllm/v1/attention/backends/triton_attn.py
NUM_PAR_SOFTMAX_SEGMENTS = 16   # idem
MAX_MODEL_LEN = 33280           # fixed block-table / req_to_token width (tokens)


class VllmTriton:
    name = "vllm_triton"
    BLOCK = 16

    def __init__(self, H, KVH, hd, kv_dtype="auto", device="cuda"):
        self.H, self.KVH, self.hd, self.kv_dtype, self.dev = H, KVH, hd, kv_dtype, device
        self.scale = hd ** -0.5
        self.thr = max(1, MIN_LAUNCH_GRID_SIZE_2D // KVH)
        hdp = triton.next_power_of_2(hd)
        rows = self.thr
        self.segm_out = torch.empty(rows, H, NUM_PAR_SOFTMAX_SEGMENTS, hdp, dtype=torch.float32, device=device)
        self.segm_max = torch.empty(rows, H, NUM_PAR_SOFTMAX_SEGMENTS, dtype=torch.float32, device=device)
        self.segm_sum = torch.empty(rows, H, NUM_PAR_SOFTMAX_SEGMENTS, dtype=torch.float32, device=device)
        self.k_scale = torch.ones(1, dtype=torch.float32, device=device)
        self.v_scale = torch.ones(1, dtype=torch.float32, device=device)
        self.ua = vendored.load("vllm_unified_attention").unified_attention
        self.rc = vendored.load("vllm_reshape_and_cache").triton_reshape_and_cache_flash
        self.cache_dtype = torch.float8_e4m3fn if kv_dtype.startswith("fp8") else BF
        self.maxb = MAX_MODEL_LEN // self.BLOCK

    def elem(self):
        return 1 if self.cache_dtype != BF else 2

    def region_bytes(self, seqs):
        nb = sum(cdiv(kv, self.BLOCK) for _, kv in seqs)
        return 2 * nb * self.BLOCK * self.KVH * self.hd * self.elem()

    def touched_bytes(self, seqs):
        return 2 * sum(kv for _, kv in seqs) * self.KVH * self.hd * self.elem()

    def plan(self, seqs):
        dev = self.dev
        S = len(seqs)
        assert all(kv <= MAX_MODEL_LEN for _, kv in seqs), "sequence longer than the block table"
        bt = torch.zeros(S, self.maxb, dtype=torch.int32)
        slots, cu, lens, nb = [], [0], [], 0
        for i, (q, kv) in enumerate(seqs):
            n = cdiv(kv, self.BLOCK)
            bt[i, :n] = torch.arange(nb, nb + n, dtype=torch.int32)
            for pos in range(kv - q, kv):
                slots.append((nb + pos // self.BLOCK) * self.BLOCK + pos % self.BLOCK)
            nb += n
            cu.append(cu[-1] + q)
            lens.append(kv)
        nd = sum(1 for q, _ in seqs if q == 1)
        return Meta(S=S, nblocks=nb, T=cu[-1],
                    block_table=bt.to(dev),
                    slot_mapping=torch.tensor(slots, dtype=torch.int64, device=dev),
                    cu_q=torch.tensor(cu, dtype=torch.int32, device=dev),
                    seq_lens=torch.tensor(lens, dtype=torch.int32, device=dev),
                    max_q=max(q for q, _ in seqs), max_k=max(lens),
                    num_decodes=nd, num_prefills=S - nd)

    def views(self, region, meta):
        """region: flat bf16 tensor of at least region_bytes. -> (key_cache, value_cache)."""
        n = meta.nblocks * 2 * self.BLOCK * self.KVH * self.hd
        flat = region.view(torch.uint8)[:n * self.elem()].view(self.cache_dtype)
        kv = flat.view(meta.nblocks, 2, self.BLOCK, self.KVH, self.hd)
        k, v = kv.unbind(1)
        return k, v

    def kernel_path(self, meta):
        if meta.num_prefills > 0:
            return "2d-unified"
        return "2d-decode" if meta.num_decodes > self.thr else "3d-decode+reduce"

    def write_kv(self, k, v, kc, vc, meta):
        self.rc(k, v, kc, vc, meta.slot_mapping, self.kv_dtype, self.k_scale, self.v_scale)

    def attend(self, q, k, v, kc, vc, out, meta):
        ds = (meta.S, self.KVH)
        self.ua(q=q, k=kc, v=vc, out=out, cu_seqlens_q=meta.cu_q, max_seqlen_q=meta.max_q,
                seqused_k=meta.seq_lens, max_seqlen_k=meta.max_k, softmax_scale=self.scale,
                causal=True, window_size=(-1, -1), block_table=meta.block_table, softcap=0,
                q_descale=None, k_descale=self.k_scale.expand(ds), v_descale=self.v_scale.expand(ds),
                num_prefills=meta.num_prefills, num_decodes=meta.num_decodes,
                seq_threshold_3D=self.thr, split_launch=False,
                num_par_softmax_segments=NUM_PAR_SOFTMAX_SEGMENTS,
                softmax_segm_output=self.segm_out, softmax_segm_max=self.segm_max,
                softmax_segm_expsum=self.segm_sum)

    def gather(self, kc, vc, meta, seq, n, seqs=None):
        """The first n keys/values of sequence seq (batch order) as [n, KVH, hd] bf16."""
        bt = meta.block_table[seq].long()
        pos = torch.arange(n, device=kc.device)
        blk = bt[pos // self.BLOCK]
        off = pos % self.BLOCK
        if kc.dtype == BF:
            return kc[blk, off].clone(), vc[blk, off].clone()
        # fp8: gather the bytes (index kernels need not cover float8), then convert
        kb, vb = kc.view(torch.uint8)[blk, off], vc.view(torch.uint8)[blk, off]
        return kb.view(kc.dtype).to(BF), vb.view(vc.dtype).to(BF)


# ----------------------------------------------------------------------------- SGLang
SGLANG_MAX_KV_SPLITS = 8   # server_args.triton_attention_num_kv_splits default


def sglang_num_kv_splits(seq_lens, num_head, num_kv_head, max_kv_splits, device_core_count):
    """SGLang's get_num_kv_splits_triton (triton_ops/metadata.py), decode batch (num_group 1),
    on the host: the same integer arithmetic, the log2 in float32 like the kernel."""
    num_seq = len(seq_lens)
    max_len = max(seq_lens)
    min_len = min(seq_lens)
    if max_len * 8 < min_len * 10:
        min_len = max_len
    splits1 = min(cdiv(max_len, min_len), max_kv_splits)
    chunk1 = cdiv(max_len, splits1)
    ext = torch.tensor(float(max_len), dtype=torch.float32) / 64.0
    lg = torch.log2(ext)
    fac = torch.maximum(lg, torch.tensor(1.0, dtype=torch.float32))
    ext_cores = int((torch.tensor(float(device_core_count), dtype=torch.float32) * fac).item())
    num_kv_group = num_head // num_kv_head
    if num_kv_group == 1:
        token_grid = num_seq * num_head
    else:
        block_h = min(16, num_kv_group)
        token_grid = num_seq * cdiv(num_head, block_h)
    splits2 = min(cdiv(ext_cores, token_grid), max_kv_splits)
    chunk2 = cdiv(max_len, splits2)
    return [max(cdiv(s, chunk1), cdiv(s, chunk2)) for s in seq_lens]


class SglangTriton:
    name = "sglang_triton"

    def __init__(self, H, KVH, hd, sm_count, device="cuda"):
        self.H, self.KVH, self.hd, self.dev = H, KVH, hd, device
        self.sm = sm_count
        self.scale = hd ** -0.5
        self.dec = vendored.load("sglang_decode").decode_attention_fwd
        self.ext = vendored.load("sglang_extend").extend_attention_fwd

    def region_bytes(self, seqs):
        return 2 * (sum(kv for _, kv in seqs) + 16) * self.KVH * self.hd * 2

    def touched_bytes(self, seqs):
        return 2 * sum(kv for _, kv in seqs) * self.KVH * self.hd * 2

    def plan(self, seqs):
        dev = self.dev
        base, loc, dec, ext = 0, [], [], []
        for q, kv in seqs:
            loc += range(base + kv - q, base + kv)
            (dec if q == 1 else ext).append((q, kv, base))
            base += kv
        P = base + 16
        # extend_attention reads the prefix through int32 req_to_tokens: offsets must fit int32
        assert not ext or P * self.KVH * self.hd < 2 ** 31, "pool too large for int32 req_to_tokens"
        m = Meta(P=P, T=len(loc), nd=len(dec), np=len(ext),
                 out_cache_loc=torch.tensor(loc, dtype=torch.int64, device=dev))
        if dec:
            lens = [kv for _, kv, _ in dec]
            ind = torch.cat([torch.arange(b, b + kv, dtype=torch.int64) for _, kv, b in dec])
            splits = sglang_num_kv_splits(lens, self.H, self.KVH, SGLANG_MAX_KV_SPLITS, self.sm)
            m.num_kv_splits_host = splits
            m.kv_indptr = torch.tensor([0] + list(_cumsum(lens)), dtype=torch.int32, device=dev)
            m.kv_indices = ind.to(dev)
            m.num_kv_splits = torch.tensor(splits, dtype=torch.int32, device=dev)
            m.attn_logits = torch.empty(len(dec), self.H, SGLANG_MAX_KV_SPLITS, self.hd,
                                        dtype=torch.float32, device=dev)
            m.attn_lse = torch.empty(len(dec), self.H, SGLANG_MAX_KV_SPLITS, dtype=torch.float32, device=dev)
        if ext:
            r2t = torch.zeros(len(ext), MAX_MODEL_LEN, dtype=torch.int32)
            for i, (q, kv, b) in enumerate(ext):
                r2t[i, :kv] = torch.arange(b, b + kv, dtype=torch.int32)
            qs = [q for q, _, _ in ext]
            m.req_to_tokens = r2t.to(dev)
            m.b_req_idx = torch.arange(len(ext), dtype=torch.int64, device=dev)
            m.b_seq_len = torch.tensor([kv for _, kv, _ in ext], dtype=torch.int32, device=dev)
            m.b_seq_len_extend = torch.tensor(qs, dtype=torch.int32, device=dev)
            m.b_start_loc_extend = torch.tensor([0] + list(_cumsum(qs))[:-1], dtype=torch.int32, device=dev)
            m.max_len_extend = max(qs)
        return m

    def views(self, region, meta):
        n = meta.P * self.KVH * self.hd
        kb = region[:n].view(meta.P, self.KVH, self.hd)
        vb = region[n:2 * n].view(meta.P, self.KVH, self.hd)
        return kb, vb

    def kernel_path(self, meta):
        parts = []
        if meta.nd:
            parts.append("decode-" + ("normal" if self.H == self.KVH else "grouped"))
        if meta.np:
            parts.append("extend")
        return "+".join(parts)

    def write_kv(self, k, v, kb, vb, meta):
        kb[meta.out_cache_loc] = k
        vb[meta.out_cache_loc] = v

    def attend(self, q, k, v, kb, vb, out, meta):
        nd = meta.nd
        if nd:
            self.dec(q[:nd], kb, vb, out[:nd], meta.kv_indptr, meta.kv_indices, meta.attn_logits,
                     meta.attn_lse, meta.num_kv_splits, SGLANG_MAX_KV_SPLITS, self.scale, 1.0, 1.0)
        if meta.np:
            self.ext(q[nd:], k[nd:].contiguous(), v[nd:].contiguous(), out[nd:], kb, vb,
                     meta.req_to_tokens, meta.b_req_idx, meta.b_seq_len, meta.b_seq_len_extend,
                     meta.b_start_loc_extend, meta.max_len_extend, self.scale)

    def gather(self, kb, vb, meta, seq, n, seqs=None):
        base = sum(kv for _, kv in seqs[:seq])
        return kb[base:base + n].clone(), vb[base:base + n].clone()


def _cumsum(xs):
    s = 0
    for x in xs:
        s += x
        yield s


def make(name, H, KVH, hd, sm_count, kv_dtype="auto"):
    if name in ("vllm", "vllm_triton"):
        return VllmTriton(H, KVH, hd, kv_dtype=kv_dtype)
    if name in ("sglang", "sglang_triton"):
        return SglangTriton(H, KVH, hd, sm_count)
    raise ValueError(f"unknown attention backend {name!r} (known: vllm, sglang)")


def naive_attention_seqs(q, keys, vals, seqs, scale):
    """fp32 reference for a batch in backend order: q [T, H, hd]; keys[i]/vals[i] [kv_i, KVH, hd]
    (the whole sequence: cached part and new tokens). Causal, bottom-right aligned."""
    H = q.shape[1]
    out = []
    t = 0
    for (ql, kv), k, v in zip(seqs, keys, vals):
        qi = q[t:t + ql].float()
        rep = H // k.shape[1]
        ki = k.float().repeat_interleave(rep, dim=1)
        vi = v.float().repeat_interleave(rep, dim=1)
        s = torch.einsum("qhd,khd->hqk", qi, ki) * scale
        r = torch.arange(ql, device=q.device)[:, None]
        c = torch.arange(kv, device=q.device)[None, :]
        s = s.masked_fill(c > (kv - ql) + r, float("-inf"))
        out.append(torch.einsum("hqk,khd->qhd", torch.softmax(s, dim=-1), vi))
        t += ql
    return torch.cat(out, 0)


def check_math():
    """Pure-python checks of the host-side formulas (no GPU)."""
    # uniform lengths: one chunk size, splits grow with the sequence (H=32, KVH=8, 132 SMs)
    s = sglang_num_kv_splits([1025] * 4, 32, 8, 8, 132)
    assert all(x == s[0] for x in s) and 1 <= s[0] <= 8, s
    # one long outlier among short ones: the long one gets more splits
    s = sglang_num_kv_splits([16385] + [257] * 127, 32, 8, 8, 132)
    assert s[0] >= s[1], s
    assert math.isfinite(float(s[0]))
    return True
