#!/usr/bin/env python3
"""Fit the decode-attention scheduling model of hw/cost_calib.c to attn_decode.csv.

usage: fit_decode_sched.py DEVICE_DIR   (writes DEVICE_DIR/attn_decode_sched.csv)

The model (docs/cost-model.md, "Ragged decode attention") prices one FlashAttention-2 varlen
decode call (torch.ops.aten._flash_attention_forward, max_seqlen_q = 1) as the kernel's thread
blocks (CTAs) list-scheduled onto 2 per SM, each streaming its share of K and V: alone at most
1/key_alone_us keys per us, all together at most 1/key_bw_us keys per us; cta_us of fixed work
per CTA, launch_us per call, combine_us more when the split-KV kernel runs.  The five constants
are fitted here, by Nelder-Mead on the mean |log error| over the UNIFORM table only (every head
configuration and batch); the ragged measurements (attn_decode_ragged.jsonl) are the check, not
the fit.  Stdlib only; the schedule below must stay the same as decode_sched_s() in the C.
"""
import math
import os
import sys

N_SM = 132          # H100 SXM and H200: 132 SMs (hw/calib/README.md)
SLOTS = 2 * N_SM    # PyTorch's FA2 assumes 2 CTAs per SM (128 threads): num_SMs * 2


def num_splits(bhm, n_sm2, n_blocks, max_splits=128):
    """num_splits_heuristic of pytorch aten/.../flash_attn/flash_api.cpp."""
    if bhm >= 0.8 * n_sm2:
        return 1
    max_splits = min(max_splits, n_sm2, n_blocks)
    cd = lambda a, b: (a + b - 1) // b
    elig = lambda s: s == 1 or cd(n_blocks, s) != cd(n_blocks, s - 1)
    eff, best = [], 0.0
    for s in range(1, max_splits + 1):
        if not elig(s):
            eff.append(0.0)
            continue
        w = bhm * s / n_sm2
        e = w / math.ceil(w)
        best = max(best, e)
        eff.append(e)
    for s in range(1, max_splits + 1):
        if elig(s) and eff[s - 1] >= 0.85 * best:
            return s
    return 1


def uniform_s(p, qh, kvh, b, ctx):
    """The model's time (us) of a uniform batch: b sequences attending ctx + 1 keys."""
    key_alone, key_bw, cta, launch, comb = p
    k = ctx + 1
    split = 1
    if qh > kvh:
        heads = kvh
        split = num_splits(b * kvh, SLOTS, (k + 127) // 128)
    else:
        heads = qh
    if split > 1:
        per = ((k + 127) // 128 + split - 1) // split
        w = per * 128.0
    else:
        w = (k + 63) // 64 * 64.0
    n = b * heads * split
    # all CTAs equal: the busy phase and the last wave, max(alone, shared) per key
    w1 = w + cta / key_alone
    t = n * w1 / SLOTS * max(key_alone, SLOTS * key_bw) if n > SLOTS else \
        w1 * max(key_alone, n * key_bw)
    return launch + t + (comb if split > 1 else 0)


def nelder_mead(f, x0, steps=800):
    n = len(x0)
    pts = [list(x0)] + [[v * 1.3 if j == i else v for j, v in enumerate(x0)] for i in range(n)]
    vals = [f(x) for x in pts]
    for _ in range(steps):
        o = sorted(range(n + 1), key=lambda i: vals[i])
        pts, vals = [pts[i] for i in o], [vals[i] for i in o]
        c = [sum(p[j] for p in pts[:-1]) / n for j in range(n)]
        xr = [c[j] + (c[j] - pts[-1][j]) for j in range(n)]
        fr = f(xr)
        if fr < vals[0]:
            xe = [c[j] + 2 * (c[j] - pts[-1][j]) for j in range(n)]
            fe = f(xe)
            pts[-1], vals[-1] = (xe, fe) if fe < fr else (xr, fr)
        elif fr < vals[-2]:
            pts[-1], vals[-1] = xr, fr
        else:
            xc = [c[j] + 0.5 * (pts[-1][j] - c[j]) for j in range(n)]
            fc = f(xc)
            if fc < vals[-1]:
                pts[-1], vals[-1] = xc, fc
            else:
                for i in range(1, n + 1):
                    pts[i] = [pts[0][j] + 0.5 * (pts[i][j] - pts[0][j]) for j in range(n)]
                    vals[i] = f(pts[i])
    i = min(range(n + 1), key=lambda i: vals[i])
    return pts[i], vals[i]


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    d = sys.argv[1]
    rows = []
    for line in open(os.path.join(d, "attn_decode.csv")):
        if line.startswith("#") or line.startswith("num_q_heads"):
            continue
        qh, kvh, _hd, b, c, t = line.strip().split(",")
        rows.append((int(qh), int(kvh), int(b), int(c), float(t)))

    def loss(p):
        if min(p) <= 0:
            return 1e9
        return sum(abs(math.log(uniform_s(p, q, k, b, c) / t)) for q, k, b, c, t in rows) / len(rows)

    p, v = nelder_mead(loss, [1 / 36.0, 1 / 5000.0, 1.2, 4.5, 7.0])
    names = ["key_alone_us", "key_bw_us", "cta_us", "launch_us", "combine_us"]
    out = os.path.join(d, "attn_decode_sched.csv")
    with open(out, "w") as f:
        f.write("# fitted by hw/calib/fit_decode_sched.py from attn_decode.csv (uniform batches only)\n")
        f.write(f"# mean |log error| over {len(rows)} uniform rows: {v:.4f}\n")
        f.write("# model: docs/cost-model.md, ragged decode attention\n")
        f.write("what,time_us\n")
        for n, x in zip(names, p):
            f.write(f"{n},{x:.6g}\n")
    print(out, dict(zip(names, (round(x, 6) for x in p))), "loss", round(v, 4))


if __name__ == "__main__":
    main()
