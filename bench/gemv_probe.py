"""Issue #6 scratch probe (recorded in one commit, removed in the next): CUDA-core loops for 1-4 rows per expert.

Kernels: `gemv_kernel` (v1: fp32 FMAs on the unpacked [BN, U*128] tile, one accumulator per weight),
`gemv2_kernel` (v2: the same in the unpacking's natural code order, no permute), `gemv3_kernel` (v3: sums per packed
word in registers, BM rows), `splitk_kernel` (no K loop: one program per n-block and S groups, fp32 atomics).
`main` times the last one against the tensor-core launches (tile (16, 64, 128)); earlier versions of `main` timed the
others. Results: `results/decode_probes_h100.json`. None beat the tensor-core loop by more than 1.35x at one row per
expert, and all were slower at 4 rows.

    PYTHONPATH=. python bench/gemv_probe.py      (H100, about 6 min)
"""
import sys, os, json, itertools
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import torch, triton
import triton.language as tl
from mxmoe.kernels import _asym_words, _asym_values, _pair_split, _halves, route
from mxmoe.codegen import quantize_layer, load_kernels, launch_linear, uniform_allocation, linear_reference
from bench.bench_grouped import graph_time


@triton.jit
def _gv_step(x_ptr, xrow, q0_ptr, q1_ptr, s_ptr, z_ptr, wrow, n_mask, k0, K, G,
             W_BITS: tl.constexpr, BN: tl.constexpr, U: tl.constexpr):
    BK: tl.constexpr = U * 128
    w0, w1 = _asym_words(q0_ptr, q1_ptr, wrow, n_mask, k0, K, W_BITS, BN, BK)
    kk = k0 + tl.arange(0, BK)
    x = tl.load(x_ptr + xrow + kk, mask=kk < K, other=0.)
    gi = k0 // 128 + tl.arange(0, U)
    ok = n_mask[:, None] & (gi < G)[None, :]
    s = tl.load(s_ptr + wrow[:, None] * G + gi[None, :], mask=ok, other=0.)
    z = tl.load(z_ptr + wrow[:, None] * G + gi[None, :], mask=ok, other=0.)
    return w0, w1, x, s, z


@triton.jit
def _gv_fma(acc, w0, w1, x, s, z, W_BITS: tl.constexpr, BN: tl.constexpr, U: tl.constexpr):
    v = tl.reshape(_asym_values(w0, w1, W_BITS, BN, U * 128).to(tl.float32), (BN, U, 128))
    sf = s.to(tl.float32)
    m = -(z.to(tl.float32) + 128.0) * sf
    w = v * sf[:, :, None] + m[:, :, None]
    return acc + w * tl.reshape(x.to(tl.float32), (1, U, 128))


@triton.jit
def gemv_kernel(x_ptr, q0_ptr, q1_ptr, s_ptr, z_ptr, out_ptr, N, K, FUSED: tl.constexpr,
                W_BITS: tl.constexpr, BN: tl.constexpr, U: tl.constexpr):
    "Expert e = program // n-tiles times token row e: out[e, n] (fused: silu(gate) * up)."
    pid = tl.program_id(0)
    nt = tl.cdiv(N, BN)
    e = pid // nt
    n = (pid % nt) * BN + tl.arange(0, BN)
    n_mask = n < N
    G = tl.cdiv(K, 128)
    xrow = e.to(tl.int64) * K
    if FUSED:
        wa = e * (2 * N) + n
    else:
        wa = e * N + n
    wb = wa + N
    acc_a = tl.zeros((BN, U, 128), tl.float32)
    acc_b = tl.zeros((BN, U, 128), tl.float32)
    a0, a1, x, sa, za = _gv_step(x_ptr, xrow, q0_ptr, q1_ptr, s_ptr, z_ptr, wa, n_mask, 0, K, G, W_BITS, BN, U)
    b0, b1, sb, zb = a0, a1, sa, za
    if FUSED:
        b0, b1, _, sb, zb = _gv_step(x_ptr, xrow, q0_ptr, q1_ptr, s_ptr, z_ptr, wb, n_mask, 0, K, G, W_BITS, BN, U)
    for k0 in range(0, K, U * 128):
        na0, na1, nx, nsa, nza = _gv_step(x_ptr, xrow, q0_ptr, q1_ptr, s_ptr, z_ptr, wa, n_mask, k0 + U * 128, K, G, W_BITS, BN, U)
        nb0, nb1, nsb, nzb = na0, na1, nsa, nza
        if FUSED:
            nb0, nb1, _, nsb, nzb = _gv_step(x_ptr, xrow, q0_ptr, q1_ptr, s_ptr, z_ptr, wb, n_mask, k0 + U * 128, K, G, W_BITS, BN, U)
        acc_a = _gv_fma(acc_a, a0, a1, x, sa, za, W_BITS, BN, U)
        if FUSED:
            acc_b = _gv_fma(acc_b, b0, b1, x, sb, zb, W_BITS, BN, U)
        a0, a1, x, sa, za, b0, b1, sb, zb = na0, na1, nx, nsa, nza, nb0, nb1, nsb, nzb
    ya = tl.sum(tl.sum(acc_a, 2), 1)
    if FUSED:
        yb = tl.sum(tl.sum(acc_b, 2), 1)
        ya = ya * tl.sigmoid(ya) * yb
    tl.store(out_ptr + e * N + n, ya.to(tl.bfloat16), mask=n_mask)


@triton.jit
def _nat_codes(x, BITS: tl.constexpr):
    "bf16 128 + q of the codes in words x [..] as [.., 2, .., 2] (split levels, then the half): no permute, no reshape."
    x = _pair_split(x, 16, BITS)
    lo, hi = _halves(x | 0x43004300)
    return tl.join(lo, hi)


@triton.jit
def _nat_k(U: tl.constexpr, BITS: tl.constexpr):
    "K offset of each element of `_nat_codes` of words [1, U, 4 * BITS]."
    P: tl.constexpr = 32 // BITS
    w = tl.arange(0, U)[:, None] * 128 + tl.arange(0, 4 * BITS)[None, :] * P  # [U, W]
    a = tl.arange(0, 2)
    if BITS == 4:
        k = w[:, :, None, None, None] + 2 * a[:, None, None] + a[None, :, None] + (P // 2) * a[None, None, :]
    else:
        k = w[:, :, None, None, None, None] + 4 * a[:, None, None, None] + 2 * a[None, :, None, None] + a[None, None, :, None] + (P // 2) * a[None, None, None, :]
    return k[None]


@triton.jit
def _nv_step(x_ptr, xrow, q_ptr, s_ptr, z_ptr, wrow, n_mask, k0, K, G,
             W_BITS: tl.constexpr, BN: tl.constexpr, U: tl.constexpr):
    W: tl.constexpr = 4 * W_BITS
    Kw = G * W
    gi = k0 // 128 + tl.arange(0, U)
    widx = (k0 // 128 + tl.arange(0, U))[:, None] * W + tl.arange(0, W)[None, :]  # [U, W]
    ok = n_mask[:, None] & (gi < G)[None, :]
    words = tl.load(q_ptr + wrow[:, None, None] * Kw + widx[None], mask=ok[:, :, None], other=0)
    kk = k0 + _nat_k(U, W_BITS)
    x = tl.load(x_ptr + xrow + kk, mask=kk < K, other=0.)
    s = tl.load(s_ptr + wrow[:, None] * G + gi[None, :], mask=ok, other=0.)
    z = tl.load(z_ptr + wrow[:, None] * G + gi[None, :], mask=ok, other=0.)
    return words, x, s, z


@triton.jit
def _nv_fma(acc, words, x, s, z, W_BITS: tl.constexpr):
    v = _nat_codes(words, W_BITS).to(tl.float32)
    sf = s.to(tl.float32)
    m = -(z.to(tl.float32) + 128.0) * sf
    if W_BITS == 4:
        w = v * sf[:, :, None, None, None, None] + m[:, :, None, None, None, None]
    else:
        w = v * sf[:, :, None, None, None, None, None] + m[:, :, None, None, None, None, None]
    return acc + w * x.to(tl.float32)


@triton.jit
def _nv_sum(acc, W_BITS: tl.constexpr):
    y = tl.sum(tl.sum(tl.sum(tl.sum(tl.sum(acc, 5), 4), 3), 2), 1)
    if W_BITS == 2:
        y = tl.sum(y, 1)
    return y


@triton.jit
def gemv2_kernel(x_ptr, q0_ptr, s_ptr, z_ptr, out_ptr, N, K, FUSED: tl.constexpr,
                 W_BITS: tl.constexpr, BN: tl.constexpr, U: tl.constexpr):
    pid = tl.program_id(0)
    nt = tl.cdiv(N, BN)
    e = pid // nt
    n = (pid % nt) * BN + tl.arange(0, BN)
    n_mask = n < N
    G = tl.cdiv(K, 128)
    xrow = e.to(tl.int64) * K
    if FUSED:
        wa = e * (2 * N) + n
    else:
        wa = e * N + n
    wb = wa + N
    if W_BITS == 4:
        acc_a = tl.zeros((BN, U, 16, 2, 2, 2), tl.float32)
    else:
        acc_a = tl.zeros((BN, U, 8, 2, 2, 2, 2), tl.float32)
    acc_b = acc_a
    qa, x, sa, za = _nv_step(x_ptr, xrow, q0_ptr, s_ptr, z_ptr, wa, n_mask, 0, K, G, W_BITS, BN, U)
    qb, sb, zb = qa, sa, za
    if FUSED:
        qb, _, sb, zb = _nv_step(x_ptr, xrow, q0_ptr, s_ptr, z_ptr, wb, n_mask, 0, K, G, W_BITS, BN, U)
    for k0 in range(0, K, U * 128):
        nqa, nx, nsa, nza = _nv_step(x_ptr, xrow, q0_ptr, s_ptr, z_ptr, wa, n_mask, k0 + U * 128, K, G, W_BITS, BN, U)
        nqb, nsb, nzb = nqa, nsa, nza
        if FUSED:
            nqb, _, nsb, nzb = _nv_step(x_ptr, xrow, q0_ptr, s_ptr, z_ptr, wb, n_mask, k0 + U * 128, K, G, W_BITS, BN, U)
        acc_a = _nv_fma(acc_a, qa, x, sa, za, W_BITS)
        if FUSED:
            acc_b = _nv_fma(acc_b, qb, x, sb, zb, W_BITS)
        qa, x, sa, za, qb, sb, zb = nqa, nx, nsa, nza, nqb, nsb, nzb
    ya = _nv_sum(acc_a, W_BITS)
    if FUSED:
        yb = _nv_sum(acc_b, W_BITS)
        ya = ya * tl.sigmoid(ya) * yb
    tl.store(out_ptr + e * N + n, ya.to(tl.bfloat16), mask=n_mask)



@triton.jit
def _nv3_step(x_ptr, q_ptr, s_ptr, z_ptr, xrows, m_mask, wrow, n_mask, k0, K, G,
              W_BITS: tl.constexpr, BN: tl.constexpr, U: tl.constexpr):
    "Words [BN, U, W], activations [BM, 1, U, W, 2, ..] (natural code order), scales and zeros [BN, U] of one step."
    W: tl.constexpr = 4 * W_BITS
    Kw = G * W
    gi = k0 // 128 + tl.arange(0, U)
    widx = gi[:, None] * W + tl.arange(0, W)[None, :]  # [U, W]
    ok = n_mask[:, None] & (gi < G)[None, :]
    words = tl.load(q_ptr + wrow[:, None, None] * Kw + widx[None], mask=ok[:, :, None], other=0)
    kk = k0 + _nat_k(U, W_BITS)  # [1, U, W, 2, ..]
    if W_BITS == 4:
        xp = x_ptr + xrows[:, None, None, None, None, None] + kk[None]
        x = tl.load(xp, mask=m_mask[:, None, None, None, None, None] & (kk < K)[None], other=0.)
    else:
        xp = x_ptr + xrows[:, None, None, None, None, None, None] + kk[None]
        x = tl.load(xp, mask=m_mask[:, None, None, None, None, None, None] & (kk < K)[None], other=0.)
    s = tl.load(s_ptr + wrow[:, None] * G + gi[None, :], mask=ok, other=0.)
    z = tl.load(z_ptr + wrow[:, None] * G + gi[None, :], mask=ok, other=0.)
    return words, x, s, z


@triton.jit
def _inner(t, W_BITS: tl.constexpr):
    "Sum [BM, BN|1, U, W, 2, ..] over the in-thread code axes (the last 3 for 4 bits, 4 for 2 bits)."
    if W_BITS == 4:
        t = tl.sum(tl.sum(tl.sum(t, 6), 5), 4)
    else:
        t = tl.sum(tl.sum(tl.sum(tl.sum(t, 7), 6), 5), 4)
    return t


@triton.jit
def _nv3_fma(acc, words, x, s, z, W_BITS: tl.constexpr):
    "acc [BM, BN, U, W] += s * sum_j (128 + q_j) x_j + m * sum_j x_j over each word's codes."
    v = _nat_codes(words, W_BITS).to(tl.float32)  # [BN, U, W, 2, ..]
    xf = x.to(tl.float32)  # [BM, 1, U, W, 2, ..]
    p = _inner(v[None] * xf, W_BITS)  # [BM, BN, U, W]
    xs = _inner(xf, W_BITS)  # [BM, 1, U, W]
    sf = s.to(tl.float32)
    m = -(z.to(tl.float32) + 128.0) * sf
    return acc + p * sf[None, :, :, None] + xs * m[None, :, :, None]


@triton.jit
def gemv3_kernel(x_ptr, q0_ptr, s_ptr, z_ptr, out_ptr, N, K, FUSED: tl.constexpr,
                 W_BITS: tl.constexpr, BM: tl.constexpr, BN: tl.constexpr, U: tl.constexpr):
    "Expert e = program // n-tiles times its BM token rows e*BM..: out[rows, n] (fused: silu(gate) * up)."
    pid = tl.program_id(0)
    nt = tl.cdiv(N, BN)
    e = pid // nt
    n = (pid % nt) * BN + tl.arange(0, BN)
    n_mask = n < N
    G = tl.cdiv(K, 128)
    rows = e * BM + tl.arange(0, BM)
    m_mask = rows >= 0
    xrows = rows.to(tl.int64) * K
    if FUSED:
        wa = e * (2 * N) + n
    else:
        wa = e * N + n
    wb = wa + N
    acc_a = tl.zeros((BM, BN, U, 4 * W_BITS), tl.float32)
    acc_b = acc_a
    qa, x, sa, za = _nv3_step(x_ptr, q0_ptr, s_ptr, z_ptr, xrows, m_mask, wa, n_mask, 0, K, G, W_BITS, BN, U)
    qb, sb, zb = qa, sa, za
    if FUSED:
        qb, _, sb, zb = _nv3_step(x_ptr, q0_ptr, s_ptr, z_ptr, xrows, m_mask, wb, n_mask, 0, K, G, W_BITS, BN, U)
    for k0 in range(0, K, U * 128):
        nqa, nx, nsa, nza = _nv3_step(x_ptr, q0_ptr, s_ptr, z_ptr, xrows, m_mask, wa, n_mask, k0 + U * 128, K, G, W_BITS, BN, U)
        nqb, nsb, nzb = nqa, nsa, nza
        if FUSED:
            nqb, _, nsb, nzb = _nv3_step(x_ptr, q0_ptr, s_ptr, z_ptr, xrows, m_mask, wb, n_mask, k0 + U * 128, K, G, W_BITS, BN, U)
        acc_a = _nv3_fma(acc_a, qa, x, sa, za, W_BITS)
        if FUSED:
            acc_b = _nv3_fma(acc_b, qb, x, sb, zb, W_BITS)
        qa, x, sa, za, qb, sb, zb = nqa, nx, nsa, nza, nqb, nsb, nzb
    ya = tl.sum(tl.sum(acc_a, 3), 2)  # [BM, BN]
    if FUSED:
        yb = tl.sum(tl.sum(acc_b, 3), 2)
        ya = ya * tl.sigmoid(ya) * yb
    tl.store(out_ptr + rows[:, None] * N + n[None, :], ya.to(tl.bfloat16), mask=n_mask[None, :])



@triton.jit
def _nat_k1(BITS: tl.constexpr):
    "K offset inside a group of each element of `_nat_codes` of words [W]: [W, 2, .., 2]."
    P: tl.constexpr = 32 // BITS
    w = tl.arange(0, 4 * BITS) * P
    a = tl.arange(0, 2)
    if BITS == 4:
        k = w[:, None, None, None] + 2 * a[:, None, None] + a[None, :, None] + (P // 2) * a[None, None, :]
    else:
        k = w[:, None, None, None, None] + 4 * a[:, None, None, None] + 2 * a[None, :, None, None] + a[None, None, :, None] + (P // 2) * a[None, None, None, :]
    return k


@triton.jit
def _sum_codes(t, BITS: tl.constexpr):
    "Sum [A, B, W, 2, ..] over its last 4 (4 bits) or 5 (2 bits) axes: [A, B]."
    if BITS == 4:
        t = tl.sum(tl.sum(tl.sum(tl.sum(t, 5), 4), 3), 2)
    else:
        t = tl.sum(tl.sum(tl.sum(tl.sum(tl.sum(t, 6), 5), 4), 3), 2)
    return t


@triton.jit
def splitk_kernel(x_ptr, q_ptr, s_ptr, z_ptr, out_ptr, NW, K,
                  W_BITS: tl.constexpr, BM: tl.constexpr, BN: tl.constexpr, S: tl.constexpr):
    "out[rows of expert e, n] += x[rows] . w[e, n, groups pid_k*S..] (fp32 atomics): expert e's rows are e*BM.."
    nt = tl.cdiv(NW, BN)
    pid_n = tl.program_id(0)
    e = pid_n // nt
    n = (pid_n % nt) * BN + tl.arange(0, BN)
    n_mask = n < NW
    wrow = e * NW + n
    rows = e * BM + tl.arange(0, BM)
    G = tl.cdiv(K, 128)
    W: tl.constexpr = 4 * W_BITS
    kin = _nat_k1(W_BITS)
    acc = tl.zeros((BM, BN), tl.float32)
    for j in tl.static_range(S):
        g = tl.program_id(1) * S + j
        words = tl.load(q_ptr + wrow[:, None] * (G * W) + g * W + tl.arange(0, W)[None, :], mask=n_mask[:, None] & (g < G), other=0)
        kk = g * 128 + kin
        if W_BITS == 4:
            x = tl.load(x_ptr + rows[:, None, None, None, None] * K + kk[None], mask=(kk < K)[None], other=0.).to(tl.float32)
        else:
            x = tl.load(x_ptr + rows[:, None, None, None, None, None] * K + kk[None], mask=(kk < K)[None], other=0.).to(tl.float32)
        sc = tl.load(s_ptr + wrow * G + g, mask=n_mask & (g < G), other=0.).to(tl.float32)
        zc = tl.load(z_ptr + wrow * G + g, mask=n_mask & (g < G), other=0.).to(tl.float32)
        v = _nat_codes(words, W_BITS).to(tl.float32)
        p = _sum_codes(v[None] * x[:, None], W_BITS)  # [BM, BN]
        xs = _sum_codes(x[:, None], W_BITS)  # [BM, 1]
        acc += p * sc[None, :] + xs * (-(zc + 128.0) * sc)[None, :]
    tl.atomic_add(out_ptr + rows[:, None] * NW + n[None, :], acc, mask=n_mask[None, :], sem='relaxed')


def main():
    dev = 'cuda'
    rows = []
    for (E, H, I), cfg, BM in itertools.product([(4, 2048, 1408), (8, 4096, 14336 // 4)], ['w4g128', 'w2g128'], [1, 4]):
        torch.manual_seed(0)
        alloc = uniform_allocation(E, cfg, tokens_per_expert=1)
        layer = quantize_layer(torch.randn(E, 2 * I, H, device=dev) * .02, torch.randn(E, H, I, device=dev) * .02, alloc)
        mod = load_kernels(alloc)
        A = E * BM
        idx = (torch.arange(A, device=dev) // BM)[:, None]  # rows e*BM.. -> expert e
        counts, order = route(idx, E)
        xg = torch.randn(A, H, device=dev, dtype=torch.bfloat16)
        xd = torch.randn(A, I, device=dev, dtype=torch.bfloat16)
        og = torch.empty(A, I, device=dev, dtype=torch.bfloat16)
        od = torch.empty(A, H, device=dev, dtype=torch.bfloat16)
        rw = torch.ones(A, device=dev)
        t_tc_g = graph_time([lambda: launch_linear(mod, layer.gate_up, xg, order, counts, A, og, 1)]) * 1e3
        t_tc_d = graph_time([lambda: launch_linear(mod, layer.down, xd, order, counts, A, od, rw)]) * 1e3
        ref_g = torch.cat([linear_reference(xg[e * BM:(e + 1) * BM].float(), layer.gate_up.expert(e)) for e in range(E)])
        ref_d = torch.cat([linear_reference(xd[e * BM:(e + 1) * BM].float(), layer.down.expert(e)) for e in range(E)])
        pg, pd = layer.gate_up.packed[0], layer.down.packed[0]
        nbytes = pg.nbytes + pd.nbytes
        print(f"E={E} H={H} I={I} {cfg} rows/expert {BM}: tensor-core gate_up {t_tc_g:.1f} us, down {t_tc_d:.1f} us, "
              f"{nbytes / (t_tc_g + t_tc_d) / 1e3:.0f} GB/s", flush=True)
        fg = torch.empty(A, 2 * I, device=dev)
        fd = torch.empty(A, H, device=dev)
        for BN, S, nw in [(32, 1, 1), (64, 1, 1), (64, 2, 1), (64, 1, 2), (128, 1, 2), (128, 2, 2), (128, 2, 4), (256, 1, 4), (256, 2, 4), (64, 4, 2), (32, 2, 1)]:
            def g():
                fg.zero_()
                splitk_kernel[(E * triton.cdiv(2 * I, BN), triton.cdiv(triton.cdiv(H, 128), S))](
                    xg, pg.data[0], pg.scale, pg.zero, fg, 2 * I, H, W_BITS=pg.cfg.w_bits, BM=BM, BN=BN, S=S, num_warps=nw)
            def d():
                fd.zero_()
                splitk_kernel[(E * triton.cdiv(H, BN), triton.cdiv(triton.cdiv(I, 128), S))](
                    xd, pd.data[0], pd.scale, pd.zero, fd, H, I, W_BITS=pd.cfg.w_bits, BM=BM, BN=BN, S=S, num_warps=nw)
            try:
                g(); d(); torch.cuda.synchronize()
            except Exception as ex:
                print('  failed', BN, S, nw, str(ex)[-300:]); continue
            eg = float((fg - ref_g).norm() / ref_g.norm())
            ed = float((fd - ref_d).norm() / ref_d.norm())
            tg, td = graph_time([g]) * 1e3, graph_time([d]) * 1e3
            r = dict(E=E, H=H, I=I, cfg=cfg, BM=BM, BN=BN, S=S, warps=nw, tc_gate_up_us=t_tc_g, tc_down_us=t_tc_d,
                     splitk_gate_up_us=tg, splitk_down_us=td, err_g=eg, err_d=ed,
                     speedup=(t_tc_g + t_tc_d) / (tg + td), gbps=nbytes / (tg + td) / 1e3)
            rows.append(r)
            print(f"  BN={BN:3d} S={S} warps={nw}: gate_up {tg:6.1f} us down {td:6.1f} us err {eg:.1e}/{ed:.1e} "
                  f"{r['speedup']:.2f}x  {r['gbps']:.0f} GB/s", flush=True)
    out = os.environ.get('OUT', '/tmp')
    json.dump(dict(device=torch.cuda.get_device_name(), rows=rows), open(f"{out}/gemv_probe.json", 'w'), indent=1)


if __name__ == '__main__':
    main()
