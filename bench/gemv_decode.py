"""issue #6, 1-token decode: a two-launch CUDA-core GEMV path on the fragment-packed weights (a probe, not kept; GPU).

At one token the shipped block is three launches (routing with the token sums, gate_up, down) of 88-132 one-group-
at-a-time tensor-core programs; the copies alone bound it near 4-4.7x bf16 (`chain_probe.py`). This probe reads the same
packed weights (`mxmoe.kernels.pack_fragments`: rows in blocks of 64, each row's 128-group of codes in
`fragment_order`) with no routing launch, no tensor cores and no shared memory:
  gemv_gate_up  a program per (assignment, BR gate rows and the matching up rows); its expert from top_k_index;
                each warp takes U 128-groups at a time (the next ones loaded before these are computed), each thread
                one packed word column of BR / RT rows; codes become fp32 1 + q 2^-b by one shift and one LOP3 and
                meet the activations they multiply (fragment order: code m of half h of word (c, t) is column
                8 (t P/2 + m) + 2c + h) in one FMA each; scale and zero applied per thread and group, the warps' and
                threads' partial sums added once at the end
  gemv_down     a program per (token, BR output rows) taking the token's k experts one after the other (`s`), or
  gemv_down_atomic  a program per (assignment, BR rows) adding router weight x output into an fp32 [T, H] that
                gate_up cleared (`a`; the bf16 copy is one more torch op)
Mixed allocations: a runtime branch per program (per slot in `gemv_down`) on the expert's config branch, 3 at most.
For each model shape, config and token count it checks the result against `moe_experts_reference` and times the
two launches against the shipped `moe_experts_forward` and the bf16 block, CUDA-graph replays over 4 routings as
`bench_grouped.py`; it also times an empty launch and torch reading the bytes of Qwen1.5-MoE's 2-bit linears.
GEMV_MODE=1 times the loads alone, GEMV_MODE=2 the arithmetic alone (both compute wrong results).
`--compile-only` compiles the kernels for sm_90a without a GPU and prints their registers. ~1 min.

H200 (2026-11-27, `results/gemv_decode_h200.json`): right (relative error 0.0023-0.0025 against the fp32 reference,
every shape and config) but 0.92-1.41x the shipped block's time (Qwen1.5-MoE w2g128 / w4g128 0.92-0.95x, the mixed
2.25-bit allocation 1.07-1.36x on every shape). Why: on Qwen1.5-MoE's shape the loads alone take gate_up 8.0-9.9 µs
and down 6.9-7.9 µs (the two launches 15.3-17.5 µs: 4.96-5.66x bf16; torch's max over the same 6.5 MB 8.6 µs, an
empty launch 1.9 µs), the arithmetic alone gate_up 10.4-12.6 µs: about three instructions a code (shift, LOP3, FMA)
on the CUDA cores cost as much as streaming the codes, where the tensor-core loop spends about one per code pair.
"""
import argparse, json, os, sys, time
import torch, triton
from triton.experimental import gluon
from triton.experimental.gluon import language as gl

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

NG = 4  # warps of a program: each takes U 128-groups at a time
MODE = gl.constexpr(int(os.environ.get('GEMV_MODE', '0')))  # timing probes: 1 the loads alone (codes summed as integers), 2 the arithmetic alone (no weight loads)
MAX_BRANCHES = 3


@triton.constexpr_function
def code_layout(BR, B4, NG, U):
    "[NG U, BR, W, H2]: each warp U 128-groups at a time; each thread one word column (4-bit words for 3-bit codes) of BR / RT rows and the H2 codes of a 16-bit half."
    W, RT = 4 * B4, 32 // (4 * B4)
    return gl.BlockedLayout([U, BR // RT, 1, 16 // B4], [1, RT, W, 1], [NG, 1, 1, 1], [3, 2, 1, 0])


@gluon.jit
def _select(a, b, c):
    "Bits of a where c has ones, of b elsewhere, as one LOP3."
    return gl.inline_asm_elementwise("lop3.b32 $0, $1, $2, $3, 0xe4;", "=r,r,r,r", [a, b, c], dtype=gl.int32, is_pure=True, pack=1)


@gluon.jit
def _and_or(a, b, c):
    "(a & b) | c as one LOP3."
    return gl.inline_asm_elementwise("lop3.b32 $0, $1, $2, $3, 0xea;", "=r,r,r,r", [a, b, c], dtype=gl.int32, is_pure=True, pack=1)


@gluon.jit
def _words(q0, q1, base0, base1, jw, live, BITS: gl.constexpr):
    "One group's words [NG, BR, W] at word offsets base0 (+ base1 for the high plane): BITS-bit words, or 3-bit codes' 4-bit words rebuilt from their two planes (`mxmoe.kernels.join_nibbles`)."
    if MODE == 2:
        return (base0 + jw).to(gl.int32) * 0x01010101
    if BITS == 3:
        lo = gl.load(q0 + base0 + jw // 2, mask=live, other=0).to(gl.uint32, bitcast=True)
        hi = gl.load(q1 + base1 + jw // 4, mask=live, other=0).to(gl.uint32, bitcast=True)
        r = jw % 4  # word 4c + 2t + u: low word 2c + t shifted by 2u, high word shifted as join_nibbles does
        hs = (hi << gl.where(r == 3, 0, r).to(gl.uint32)) >> (r == 3).to(gl.uint32)
        w = _select((lo >> (2 * (r % 2)).to(gl.uint32)).to(gl.int32, bitcast=True), hs.to(gl.int32, bitcast=True), 0x33333333)
    else:
        w = gl.load(q0 + base0 + jw, mask=live, other=0)
    return w


@gluon.jit
def _partial(w, xl, xh, SH, B4: gl.constexpr, MASK: gl.constexpr):
    "Sum over a thread's codes of (1 + q 2^-B4) x [NG, BR, W] for words w [NG, BR, W] and their columns' activations xl, xh [NG, 1, W, H2] (halves 0 and 1)."
    ONE: gl.constexpr = 0x3F800000
    M: gl.constexpr = MASK << (23 - B4)
    w4 = w[:, :, :, None]
    fl = _and_or(w4 << SH, M, ONE).to(gl.float32, bitcast=True)
    fh = _and_or(((w4.to(gl.uint32, bitcast=True) >> 16).to(gl.int32, bitcast=True)) << SH, M, ONE).to(gl.float32, bitcast=True)
    return gl.sum(fl * xl + fh * xh, axis=3)


@gluon.jit
def _group_loads(x_ptr, q0, q1, s_ptr, z_ptr, rb0, rb1, UP0, UP1, sbase, it, G, NW, HALF, gi, jw, gx, kcol,
                 BITS: gl.constexpr, WP0: gl.constexpr, GG: gl.constexpr, FUSED: gl.constexpr):
    "Everything iteration `it` reads (groups it GG ..): words, activations (both halves), scales and zeros."
    g = it * GG + gi
    gxx = it * GG + gx
    live = g < G
    lx = gxx < G
    wa = _words(q0, q1, rb0 + g * (64 * WP0), rb1 + g * 256, jw, live, BITS)
    xl = gl.load(x_ptr + gxx * 128 + kcol, mask=lx, other=0.)
    xh = gl.load(x_ptr + gxx * 128 + kcol + 1, mask=lx, other=0.)
    sa = gl.load(s_ptr + sbase + g * NW, mask=live, other=0.)
    za = gl.load(z_ptr + sbase + g * NW, mask=live, other=0.)
    wb, sb, zb = wa, sa, za
    if FUSED:
        wb = _words(q0, q1, rb0 + UP0 + g * (64 * WP0), rb1 + UP1 + g * 256, jw, live, BITS)
        sb = gl.load(s_ptr + sbase + HALF + g * NW, mask=live, other=0.)
        zb = gl.load(z_ptr + sbase + HALF + g * NW, mask=live, other=0.)
    return wa, wb, xl, xh, sa, za, sb, zb


@gluon.jit
def _gemv(x_ptr, q0, q1, s_ptr, z_ptr, slot, NW, row0, HALF, K,
          BITS: gl.constexpr, BR: gl.constexpr, NG: gl.constexpr, U: gl.constexpr, FUSED: gl.constexpr, OUT_L: gl.constexpr):
    """Rows row0 .. row0 + BR of expert `slot`'s weight (a stack of NW rows an expert, group-128 asymmetric BITS-bit
    codes in the fragment layout) times x [K] (bf16): two fp32 [BR] in OUT_L, the second for rows HALF later if FUSED.
    Each iteration's loads are issued before the previous iteration's codes are computed."""
    B4: gl.constexpr = 4 if BITS == 3 else BITS
    W: gl.constexpr = 4 * B4
    H2: gl.constexpr = 16 // B4
    GG: gl.constexpr = NG * U
    MASK: gl.constexpr = 7 if BITS == 3 else (1 << BITS) - 1
    WP0: gl.constexpr = 8 if BITS == 3 else W  # words a row and group of the (low) plane
    L4: gl.constexpr = code_layout(BR, B4, NG, U)
    LW: gl.constexpr = gl.SliceLayout(3, L4)  # [GG, BR, W]
    LX: gl.constexpr = gl.SliceLayout(1, L4)  # [GG, W, H2]
    G = K // 128
    NB = NW // 64
    gi = gl.arange(0, GG, layout=gl.SliceLayout(1, gl.SliceLayout(2, LW)))[:, None, None]
    ri = gl.arange(0, BR, layout=gl.SliceLayout(0, gl.SliceLayout(2, LW)))[None, :, None]
    jw = gl.arange(0, W, layout=gl.SliceLayout(0, gl.SliceLayout(1, LW)))[None, None, :]
    gx = gl.arange(0, GG, layout=gl.SliceLayout(1, gl.SliceLayout(2, LX)))[:, None, None]
    jx = gl.arange(0, W, layout=gl.SliceLayout(0, gl.SliceLayout(2, LX)))[None, :, None]
    mx = gl.arange(0, H2, layout=gl.SliceLayout(0, gl.SliceLayout(1, LX)))[None, None, :]
    SH = (23 - B4 - B4 * mx)[:, None]  # [1, 1, 1, H2] in L4: code m of a half to the top of the fp32 mantissa
    kcol = 8 * ((jx % B4) * H2 + mx) + 2 * (jx // B4)  # column of code m of half 0 of word j; half 1: the next one
    r = row0 + ri
    blk = slot.to(gl.int64) * NB + r // 64
    rb0 = (blk * G) * (64 * WP0) + (r % 64) * WP0  # group 0 of each row, low plane
    rb1 = (blk * G) * 256 + (r % 64) * 4  # high plane (3 bits): 4 words a row and group
    UP0 = (HALF // 64) * G * (64 * WP0)
    UP1 = (HALF // 64) * G * 256
    sbase = slot.to(gl.int64) * G * NW + r
    acc_a = gl.zeros([GG, BR, W], gl.float32, LW)
    acc_b = gl.zeros([GG, BR, W], gl.float32, LW)
    wa, wb, xl, xh, sa, za, sb, zb = _group_loads(x_ptr, q0, q1, s_ptr, z_ptr, rb0, rb1, UP0, UP1, sbase, 0, G, NW, HALF,
                                                  gi, jw, gx, kcol, BITS, WP0, GG, FUSED)
    for it in range(gl.cdiv(G, GG)):
        nwa, nwb, nxl, nxh, nsa, nza, nsb, nzb = _group_loads(x_ptr, q0, q1, s_ptr, z_ptr, rb0, rb1, UP0, UP1, sbase, it + 1,
                                                              G, NW, HALF, gi, jw, gx, kcol, BITS, WP0, GG, FUSED)
        xlf = xl.to(gl.float32)[:, None]
        xhf = xh.to(gl.float32)[:, None]
        xs = gl.sum(xlf + xhf, axis=3)  # [GG, 1, W]: the thread's share of each group's activation sum
        if MODE == 1:
            acc_a += (wa + wb).to(gl.float32) + sa.to(gl.float32) + za.to(gl.float32) + sb.to(gl.float32) + zb.to(gl.float32) + xs
        else:
            acc_a += sa.to(gl.float32) * ((1 << B4) * _partial(wa, xlf, xhf, SH, B4, MASK) - ((1 << B4) + za.to(gl.float32)) * xs)
        if FUSED and MODE != 1:
            acc_b += sb.to(gl.float32) * ((1 << B4) * _partial(wb, xlf, xhf, SH, B4, MASK) - ((1 << B4) + zb.to(gl.float32)) * xs)
        wa, wb, xl, xh, sa, za, sb, zb = nwa, nwb, nxl, nxh, nsa, nza, nsb, nzb
    ya = gl.convert_layout(gl.sum(gl.sum(acc_a, axis=2), axis=0), OUT_L)
    yb = gl.convert_layout(gl.sum(gl.sum(acc_b, axis=2), axis=0), OUT_L)
    return ya, yb


@gluon.jit
def _branch_gemv(x_ptr, br, slot, NW, row0, HALF, K, q00, q01, s0, z0, q10, q11, s1, z1, q20, q21, s2, z2,
                 B0: gl.constexpr, B1: gl.constexpr, B2: gl.constexpr, BR: gl.constexpr, NG: gl.constexpr, U: gl.constexpr,
                 FUSED: gl.constexpr, OUT_L: gl.constexpr):
    "`_gemv` on config branch `br` of the launch (B1, B2 = 0: no such branch)."
    ya = gl.zeros([BR], gl.float32, OUT_L)
    yb = gl.zeros([BR], gl.float32, OUT_L)
    if br == 0:
        ya, yb = _gemv(x_ptr, q00, q01, s0, z0, slot, NW, row0, HALF, K, B0, BR, NG, U, FUSED, OUT_L)
    if B1 > 0:
        if br == 1:
            ya, yb = _gemv(x_ptr, q10, q11, s1, z1, slot, NW, row0, HALF, K, B1, BR, NG, U, FUSED, OUT_L)
    if B2 > 0:
        if br == 2:
            ya, yb = _gemv(x_ptr, q20, q21, s2, z2, slot, NW, row0, HALF, K, B2, BR, NG, U, FUSED, OUT_L)
    return ya, yb


@gluon.jit
def gemv_gate_up(x_ptr, topk_ptr, out_ptr, zero_ptr, NZERO, I, K, TOPK, branch_ptr, slot_ptr,
                 q00, q01, s0, z0, q10, q11, s1, z1, q20, q21, s2, z2,
                 B0: gl.constexpr, B1: gl.constexpr, B2: gl.constexpr, BR: gl.constexpr, NG: gl.constexpr, U: gl.constexpr):
    """SiLU(gate) * up (bf16) of rows program_id(1) BR .. of assignment program_id(0) (token a // TOPK, expert
    top_k_index[a]); the first programs also clear zero_ptr [NZERO] (fp32), which the atomic down launch adds into."""
    OUT_L: gl.constexpr = gl.BlockedLayout([1], [32], [NG], [0])
    a = gl.program_id(0)
    row0 = gl.program_id(1) * BR
    zl: gl.constexpr = gl.BlockedLayout([4], [32], [NG], [0])
    zi = (a * gl.num_programs(1) + gl.program_id(1)) * (128 * NG) + gl.arange(0, 128 * NG, layout=zl)
    gl.store(zero_ptr + zi, gl.zeros([128 * NG], gl.float32, zl), mask=zi < NZERO)
    e = gl.load(topk_ptr + a)
    g, u = _branch_gemv(x_ptr + (a // TOPK).to(gl.int64) * K, gl.load(branch_ptr + e), gl.load(slot_ptr + e), 2 * I, row0, I, K,
                        q00, q01, s0, z0, q10, q11, s1, z1, q20, q21, s2, z2, B0, B1, B2, BR, NG, U, True, OUT_L)
    h = g / (1.0 + gl.exp(-g)) * u
    n = row0 + gl.arange(0, BR, layout=OUT_L)
    gl.store(out_ptr + a.to(gl.int64) * I + n, h.to(gl.bfloat16), mask=n < I)


@gluon.jit
def _down_rows(h_ptr, topk_ptr, branch_ptr, slot_ptr, a, row0, H, K, q00, q01, s0, z0, q10, q11, s1, z1, q20, q21, s2, z2,
               B0: gl.constexpr, B1: gl.constexpr, B2: gl.constexpr, BR: gl.constexpr, NG: gl.constexpr, U: gl.constexpr,
               OUT_L: gl.constexpr):
    "fp32 [BR]: down's rows row0 .. of assignment a (its expert from top_k_index) times its gate_up output."
    e = gl.load(topk_ptr + a)
    d, _ = _branch_gemv(h_ptr + a.to(gl.int64) * K, gl.load(branch_ptr + e), gl.load(slot_ptr + e), H, row0, 0, K,
                        q00, q01, s0, z0, q10, q11, s1, z1, q20, q21, s2, z2, B0, B1, B2, BR, NG, U, False, OUT_L)
    return d


@gluon.jit
def gemv_down(h_ptr, topk_ptr, rw_ptr, out_ptr, H, K, TOPK, branch_ptr, slot_ptr,
              q00, q01, s0, z0, q10, q11, s1, z1, q20, q21, s2, z2,
              B0: gl.constexpr, B1: gl.constexpr, B2: gl.constexpr, BR: gl.constexpr, NG: gl.constexpr, U: gl.constexpr):
    "Token program_id(0)'s output rows program_id(1) BR ..: the sum over its TOPK slots, one after the other, of router weight x down(h of the slot), bf16."
    OUT_L: gl.constexpr = gl.BlockedLayout([1], [32], [NG], [0])
    t = gl.program_id(0)
    row0 = gl.program_id(1) * BR
    y = gl.zeros([BR], gl.float32, OUT_L)
    for j in range(TOPK):
        a = t * TOPK + j
        y += gl.load(rw_ptr + a) * _down_rows(h_ptr, topk_ptr, branch_ptr, slot_ptr, a, row0, H, K, q00, q01, s0, z0, q10, q11,
                                              s1, z1, q20, q21, s2, z2, B0, B1, B2, BR, NG, U, OUT_L)
    n = row0 + gl.arange(0, BR, layout=OUT_L)
    gl.store(out_ptr + t.to(gl.int64) * H + n, y.to(gl.bfloat16), mask=n < H)


@gluon.jit
def gemv_down_atomic(h_ptr, topk_ptr, rw_ptr, out_ptr, H, K, TOPK, branch_ptr, slot_ptr,
                     q00, q01, s0, z0, q10, q11, s1, z1, q20, q21, s2, z2,
                     B0: gl.constexpr, B1: gl.constexpr, B2: gl.constexpr, BR: gl.constexpr, NG: gl.constexpr, U: gl.constexpr):
    "Assignment program_id(0)'s router weight x down(h) rows program_id(1) BR .., added (fp32 atomics) into its token's row of out [T, H]."
    OUT_L: gl.constexpr = gl.BlockedLayout([1], [32], [NG], [0])
    a = gl.program_id(0)
    row0 = gl.program_id(1) * BR
    d = _down_rows(h_ptr, topk_ptr, branch_ptr, slot_ptr, a, row0, H, K, q00, q01, s0, z0, q10, q11, s1, z1, q20, q21, s2, z2,
                   B0, B1, B2, BR, NG, U, OUT_L)
    n = row0 + gl.arange(0, BR, layout=OUT_L)
    gl.atomic_add(out_ptr + (a // TOPK).to(gl.int64) * H + n, gl.load(rw_ptr + a) * d, mask=n < H)


def branch_args(lin):
    "Pointer arguments (q0, q1, scale, zero per branch, MAX_BRANCHES of them) and bits per branch of one linear."
    from mxmoe.quant import get_config
    ptrs, bits = [], []
    for (c, _), p in zip(lin.branches, lin.packed):
        cfg = get_config(c)
        if p.layout != 'fragment' or cfg.group_size != 128 or cfg.sym:
            raise ValueError(f"gemv_decode reads group-128 asymmetric fragment-packed weights; branch {c} is not")
        ptrs += [p.data[0], p.data[-1], p.scale, p.zero]
        bits.append(cfg.w_bits)
    while len(bits) < MAX_BRANCHES:
        ptrs += ptrs[:4]
        bits.append(0)
    return ptrs, bits


def gemv_launches(hidden, top_k_index, top_k_weights, layer, inter, out, out32, br_gu, br_dn, u, atomic):
    "The two launches, as closures: gate_up into inter [A, I]; down into out [T, H] (bf16) or, atomic, into out32 (fp32, cleared by gate_up)."
    T, k = top_k_index.shape
    H, I = layer.hidden_size, layer.intermediate_size
    gu, gub = branch_args(layer.gate_up)
    dn, dnb = branch_args(layer.down)
    idx, rw = top_k_index.reshape(-1), top_k_weights.reshape(-1)
    def gate_up():
        gemv_gate_up[(T * k, triton.cdiv(I, br_gu))](hidden, idx, inter, out32, out32.numel() if atomic else 0, I, H, k,
                                                     layer.gate_up.branch_of, layer.gate_up.slot_of, *gu, *gub, br_gu, NG, u, num_warps=NG)
    def down():
        if atomic:
            gemv_down_atomic[(T * k, triton.cdiv(H, br_dn))](inter, idx, rw, out32, H, I, k, layer.down.branch_of,
                                                             layer.down.slot_of, *dn, *dnb, br_dn, NG, u, num_warps=NG)
        else:
            gemv_down[(T, triton.cdiv(H, br_dn))](inter, idx, rw, out, H, I, k, layer.down.branch_of,
                                                  layer.down.slot_of, *dn, *dnb, br_dn, NG, u, num_warps=NG)
    return gate_up, down


def gemv_forward(*args):
    "Both launches; [T, H] bf16."
    gate_up, down = gemv_launches(*args)
    gate_up(); down()
    atomic, out, out32 = args[-1], args[5], args[6]
    return out32.to(torch.bfloat16) if atomic else out


def floors():
    "Per-call graph times of an empty launch and of torch reading 6.5 / 3.2 MB (the Qwen1.5-MoE 2-bit gate_up / down bytes at one token)."
    from bench_grouped import graph_time
    x = torch.zeros(1, device='cuda')
    a = torch.randint(0, 1 << 30, (6_500_000 // 4,), device='cuda', dtype=torch.int32)
    b = torch.randint(0, 1 << 30, (3_200_000 // 4,), device='cuda', dtype=torch.int32)
    out = {'add_1_element_us': graph_time([lambda: x.add_(1)] * 4) * 1e3,
           'sum_6.5MB_us': graph_time([lambda: a.sum()] * 4) * 1e3, 'sum_3.2MB_us': graph_time([lambda: b.sum()] * 4) * 1e3,
           'max_6.5MB_us': graph_time([lambda: a.max()] * 4) * 1e3}
    print(out, flush=True)
    return out


def compile_only():
    "Compile both kernels for sm_90a for every bit width (Triton of the device's version), print registers."
    from triton.backends.compiler import GPUTarget
    from triton.experimental.gluon._runtime import GluonASTSource
    from mxmoe.codegen import ptxas_usage
    for fn in (gemv_gate_up, gemv_down, gemv_down_atomic):
        for bits in ([2, 0, 0], [4, 0, 0], [1, 2, 3]):
            for br, u in ((8, 1), (8, 2), (8, 4), (16, 2), (4, 4)):
                sig = {a: ('*i64' if a == 'topk_ptr' else '*i32' if a.startswith('q') or a in ('branch_ptr', 'slot_ptr') else
                           '*fp16' if a[0] in 'sz' and a[1:].isdigit() else '*bf16' if a in ('x_ptr', 'h_ptr', 'out_ptr') else
                           '*fp32' if a in ('rw_ptr', 'zero_ptr') else 'i32') for a in fn.arg_names}
                consts = dict(B0=bits[0], B1=bits[1], B2=bits[2], BR=br, NG=NG, U=u)
                for c in consts: sig[c] = 'constexpr'
                if fn is gemv_down_atomic: sig['out_ptr'] = '*fp32'
                if br < 32 // (4 * (1 if 1 in bits else 2)): continue
                src = GluonASTSource(fn, sig, constexprs=consts)
                kern = triton.compile(src, target=GPUTarget('cuda', 90, 32), options=dict(num_warps=NG))
                print(fn.__name__, bits, br, u, ptxas_usage(kern), flush=True)


def check_and_time(model, configs, tokens, rows, variants):
    from bench_grouped import MODELS, allocation, bf16_times, graph_time, quantize_configs, random_experts, routings
    from mxmoe.codegen import moe_experts_forward, moe_experts_reference, normalize_allocation, pack_layer
    E, H, I, k = MODELS[model]
    wgu, wdn = random_experts(E, H, I)
    qts = quantize_configs(configs, lambda c: allocation(c, E, 1, H, I), wgu, wdn)
    for T in tokens:
        sets = routings(T, E, k, H)
        base, _ = bf16_times(sets, wgu, wdn)
        for c in configs:
            layer = pack_layer(normalize_allocation(allocation(c, E, T * k / E, H, I)), *qts[c])
            if not (layer.gate_up.gluon and layer.down.gluon): raise SystemExit(f"{c} at {T} tokens is not fragment-packed")
            t_ship = graph_time([lambda s=s: moe_experts_forward(s[0], s[1], s[2], layer) for s in sets])
            inter = torch.empty(T * k, I, device='cuda', dtype=torch.bfloat16)
            out = torch.empty(T, H, device='cuda', dtype=torch.bfloat16)
            out32 = torch.empty(T, H, device='cuda', dtype=torch.float32)
            for bg, bd, u, mode in variants:
                atomic = mode == 'a'
                errs = []
                for s in sets:
                    ref = moe_experts_reference(s[0], s[1], s[2], layer)
                    got = gemv_forward(s[0], s[1], s[2], layer, inter, out, out32, bg, bd, u, atomic).float()
                    errs.append(((got - ref).norm() / ref.norm()).item())
                launches = [gemv_launches(s[0], s[1], s[2], layer, inter, out, out32, bg, bd, u, atomic) for s in sets]
                t_gemv = graph_time([lambda s=s: gemv_forward(s[0], s[1], s[2], layer, inter, out, out32, bg, bd, u, atomic) for s in sets])
                t_gu = graph_time([l[0] for l in launches])
                t_dn = graph_time([l[1] for l in launches])
                row = dict(model=model, T=T, config=c, br_gate_up=bg, br_down=bd, groups_a_thread=u, down='atomic' if atomic else 'slots',
                           max_rel_err=max(errs), bf16_block_us=base * 1e3, shipped_block_us=t_ship * 1e3, gemv_block_us=t_gemv * 1e3,
                           gemv_gate_up_us=t_gu * 1e3, gemv_down_us=t_dn * 1e3,
                           shipped_speedup=base / t_ship, gemv_speedup=base / t_gemv, gemv_over_shipped=t_gemv / t_ship)
                rows.append(row)
                print(f"{model:8s} T={T:3d} {c:9s} {bg:2d}/{bd:2d}/{u}/{mode} err {row['max_rel_err']:.4f} bf16 {base*1e3:7.1f}us "
                      f"shipped {t_ship*1e3:6.1f}us ({row['shipped_speedup']:.2f}x) gemv {t_gemv*1e3:6.1f}us "
                      f"({row['gemv_speedup']:.2f}x; gate_up {t_gu*1e3:5.1f} down {t_dn*1e3:5.1f}) ratio {row['gemv_over_shipped']:.3f}", flush=True)
        torch.cuda.empty_cache()


def main():
    p = argparse.ArgumentParser()
    p.add_argument('out', nargs='?', default='gemv_decode.json')
    p.add_argument('--models', nargs='*', default=['qwen15', 'dsv2lite', 'qwen3', 'mixtral'])
    p.add_argument('--tokens', nargs='*', type=int, default=[1])
    p.add_argument('--configs', nargs='*', default=['mixed225', 'w4g128', 'w2g128'])
    p.add_argument('--variants', nargs='*', default=['8/8/4/a'],
                   help='BR gate_up / BR down / groups a thread / down mode (a: one program an assignment, fp32 atomics; s: the slots in one program)')
    p.add_argument('--compile-only', action='store_true')
    a = p.parse_args()
    if a.compile_only: return compile_only()
    t0, rows = time.time(), []
    fl = floors()
    variants = [tuple(int(v) if v.isdigit() else v for v in s.split('/')) for s in a.variants]
    for m in a.models: check_and_time(m, a.configs, a.tokens, rows, variants)
    res = dict(device=torch.cuda.get_device_name(), torch=torch.__version__, triton=triton.__version__,
               mode=int(MODE), floors=fl, seconds=time.time() - t0, rows=rows)
    json.dump(res, open(a.out, 'w'), indent=1)


if __name__ == '__main__':
    main()
