"""Probe for issue #6: a w4g128 decode tile in Gluon, the dequantized weights fed to wgmma from registers.

The Triton decode loop sends every unpacked weight tile through shared memory into the wgmma operand layout
(bench/README.md, loop versions 6-10). Gluon lets a kernel state its layouts. Here the codes are packed in the
fragment order of `mxmoe.kernels.pack_fragments`, so that the int32 words one thread loads unpack, with no data
movement, into that thread's part of the wgmma A operand (`mxmoe.gluon`'s unpacking). Two kernels:
  register: words, scales and zeros prefetched one group ahead in registers, all of the tile's activations staged
            in shared memory first, the K loop unrolled (each group's A operand in registers of its own: in a rolled
            loop the next group's unpacking overwrote registers an in-flight wgmma was still reading);
  ring:     words, (scale, zero) pairs and optionally the activations (X_RING) streamed by cp.async through a
            STAGES-deep shared-memory ring, each thread reading back the words it copied itself.
One linear, no fusion: the work of one `gate_up` (as 2I output rows) or `down` launch without the epilogue; timed as
CUDA-graph replays over several routings, against our Triton launch and torch bf16 `_grouped_mm` in the same run,
Qwen1.5-MoE shapes; every variant is checked against an fp32 reference from the same codes first.

    PYTHONPATH=. python bench/gluon_probe.py [--out bench/results/gluon_probe_h100.json]   # on the GPU
    PYTHONPATH=. python bench/gluon_probe.py --compile-only   # no GPU needed: the ring kernel's TTGIR for sm_90a
"""
import argparse, json, sys
import torch, triton
from triton.experimental import gluon
from triton.experimental.gluon import language as gl
from triton.experimental.gluon.language.nvidia.hopper import warpgroup_mma, warpgroup_mma_wait, fence_async_shared
from triton.experimental.gluon.language.nvidia.ampere import async_copy
from mxmoe.kernels import pack_fragments
from mxmoe.gluon import _async_load, _barrier, _codes, word_layout

BM, BN, GROUP = 16, 64, 128  # tokens per tile (wgmma N), weight rows per tile (wgmma M), K per step (one scale group)


@gluon.jit
def _fragment_values(words, BITS: gl.constexpr, BN: gl.constexpr, A_LAYOUT: gl.constexpr):
    "bf16 128 + q [BN, 128] in the wgmma A layout from one group's words [BN, 4 BITS] (`mxmoe.gluon`'s unpacking)."
    return _codes(words, words, BITS, BN, A_LAYOUT)  # 1, 2 or 4 bits: one plane


@gluon.jit
def _dequant_bf16x2(v, zi, s, m):
    "(v - zi) * s + m on pairs of bf16 (two instructions per two weights); v - zi is exact for integer zi."
    return gl.inline_asm_elementwise("{ .reg .b32 t; sub.rn.bf16x2 t, $1, $2; fma.rn.bf16x2 $0, t, $3, $4; }",
                                     "=r,r,r,r,r", [v, zi, s, m], dtype=gl.bfloat16, is_pure=True, pack=2)


@gluon.jit
def _dequantized(v, s, z, DEQ: gl.constexpr):
    "bf16 weights (q - z) * s from bf16 values v = 128 + q [BN, 128] and fp32 scale s, zero z [BN]: in fp32 (DEQ 0) or bf16x2 (DEQ 1)."
    if DEQ == 0:
        return (v.to(gl.float32) * s[:, None] - (z + 128.0)[:, None] * s[:, None]).to(gl.bfloat16)
    else:  # the zero point's integer part subtracted exactly, its fraction folded into the offset
        zi = gl.floor(z + 128.5)
        m = (zi - z - 128.0) * s
        v, zi2 = gl.broadcast(v, zi.to(gl.bfloat16)[:, None])
        _, s2 = gl.broadcast(v, s.to(gl.bfloat16)[:, None])
        _, m2 = gl.broadcast(v, m.to(gl.bfloat16)[:, None])
        return _dequant_bf16x2(v, zi2, s2, m2)


@gluon.jit
def _add(a, b):
    return a + b


@triton.constexpr_function
def _per_thread(n, threads):
    return max(1, n // threads)


@gluon.jit
def _find_tile(pid, counts_ptr, E, NT, BM: gl.constexpr, EP2: gl.constexpr, NW: gl.constexpr):
    "(expert, n-block, first row, end row) of tile `pid` when every expert has `NT` n-tiles of BM rows (`find_tile`)."
    l: gl.constexpr = gl.BlockedLayout([_per_thread(EP2, 32 * NW)], [32], [NW], [0])
    ei = gl.arange(0, EP2, layout=l)
    cnt = gl.load(counts_ptr + ei, mask=ei < E, other=0)
    mb = (cnt + BM - 1) // BM
    tiles = mb * NT
    tile_end = gl.associative_scan(tiles, 0, _add)
    row_end = gl.associative_scan(cnt, 0, _add)
    e = gl.sum((tile_end <= pid).to(gl.int32), 0)
    sel = ei == e
    local = pid - gl.sum(gl.where(sel, tile_end - tiles, 0), 0)
    mb_e = gl.maximum(gl.sum(gl.where(sel, mb, 0), 0), 1)
    r1 = gl.sum(gl.where(sel, row_end, 0), 0)
    r0 = r1 - gl.sum(gl.where(sel, cnt, 0), 0) + (local % mb_e) * BM
    return e, local // mb_e, r0, r1


@gluon.jit
def w4_decode_kernel(x_ptr, rows_ptr, counts_ptr, q_ptr, s_ptr, z_ptr, out_ptr, N, E,
                     K: gl.constexpr, BM: gl.constexpr, BN: gl.constexpr, EP2: gl.constexpr, PENDING: gl.constexpr,
                     num_warps: gl.constexpr):
    "One tile: out[rows, n-block] of an expert's rows of x times its w4g128 weights; PENDING wgmmas left in flight."
    G: gl.constexpr = K // 128
    e, n_blk, r0, r1 = _find_tile(gl.program_id(0), counts_ptr, E, gl.cdiv(N, BN), BM, EP2, num_warps)
    if e < E:
        acc_l: gl.constexpr = gl.NVMMADistributedLayout(version=[3, 0], warps_per_cta=[4, 1], instr_shape=[16, BM, 16])
        a_l: gl.constexpr = gl.DotOperandLayout(operand_index=0, parent=acc_l, k_width=2)
        # words [BN, 16]: lane = 4g + c holds rows g, g + 8 of its warp's 16 and words 4c..4c+3 (16 contiguous bytes)
        w_l: gl.constexpr = word_layout(BN, 4)
        x_l: gl.constexpr = gl.BlockedLayout([1, 8], [2, 16], [4, 1], [1, 0])
        xs_l: gl.constexpr = gl.NVMMASharedLayout.get_default_for([BM, 128], gl.bfloat16)

        # the tile's activation rows, all of K, into shared memory once
        xr = r0 + gl.arange(0, BM, layout=gl.SliceLayout(1, x_l))
        xrow = gl.load(rows_ptr + xr, mask=xr < r1, other=0).to(gl.int64) * K
        kk = gl.arange(0, 128, layout=gl.SliceLayout(0, x_l))
        x_smem = gl.allocate_shared_memory(gl.bfloat16, [G, BM, 128], xs_l)
        for g in gl.static_range(G):
            xt = gl.load(x_ptr + xrow[:, None] + (g * 128 + kk)[None, :], mask=(xr < r1)[:, None], other=0.)
            x_smem.index(g).store(xt)
        fence_async_shared()
        _barrier()

        wrow = e * N + n_blk * BN + gl.arange(0, BN, layout=gl.SliceLayout(1, w_l))
        wmask = (n_blk * BN + gl.arange(0, BN, layout=gl.SliceLayout(1, w_l))) < N
        jj = gl.arange(0, 16, layout=gl.SliceLayout(0, w_l))
        w_ptrs = q_ptr + wrow.to(gl.int64)[:, None] * (K // 8) + jj[None, :]
        srow = e * N + n_blk * BN + gl.arange(0, BN, layout=gl.SliceLayout(1, a_l))
        smask = (n_blk * BN + gl.arange(0, BN, layout=gl.SliceLayout(1, a_l))) < N
        s_ptrs = s_ptr + srow.to(gl.int64) * G
        z_ptrs = z_ptr + srow.to(gl.int64) * G

        acc = gl.zeros([BN, BM], gl.float32, layout=acc_l)
        a_prev = gl.zeros([BN, 128], gl.bfloat16, layout=a_l)
        words = gl.load(w_ptrs, mask=wmask[:, None], other=0)
        s = gl.load(s_ptrs, mask=smask, other=0.).to(gl.float32)
        z = gl.load(z_ptrs, mask=smask, other=0.).to(gl.float32)
        for g in gl.static_range(G):  # unrolled: each group's A operand lives in registers of its own
            if g + 1 < G:
                n_words = gl.load(w_ptrs + (g + 1) * 16, mask=wmask[:, None], other=0)
                n_s = gl.load(s_ptrs + g + 1, mask=smask, other=0.).to(gl.float32)
                n_z = gl.load(z_ptrs + g + 1, mask=smask, other=0.).to(gl.float32)
            v = _fragment_values(words, 4, BN, a_l).to(gl.float32)
            a = (v * s[:, None] - (z + 128.0)[:, None] * s[:, None]).to(gl.bfloat16)
            acc = warpgroup_mma(a, x_smem.index(g).permute((1, 0)), acc, is_async=True)
            # retire the previous group's wgmma; its A registers (a_prev) must stay untouched until then
            acc, a_prev = warpgroup_mma_wait(num_outstanding=PENDING, deps=(acc, a_prev))
            a_prev = a
            if g + 1 < G:
                words, s, z = n_words, n_s, n_z
        acc, a_prev = warpgroup_mma_wait(num_outstanding=0, deps=(acc, a_prev))

        orow = r0 + gl.arange(0, BM, layout=gl.SliceLayout(0, acc_l))
        n = n_blk * BN + gl.arange(0, BN, layout=gl.SliceLayout(1, acc_l))
        gl.store(out_ptr + orow.to(gl.int64)[None, :] * N + n[:, None], acc.to(gl.bfloat16),
                 mask=(orow < r1)[None, :] & (n < N)[:, None])


@gluon.jit
def _issue_stage(w_smem, sz_smem, x_smem, w_ptrs, sz_ptrs, x_ptrs, wmask, smask, xmask, st, G: gl.constexpr,
                 STAGES: gl.constexpr, GPS: gl.constexpr, X_RING: gl.constexpr, WPG: gl.constexpr):
    "Start copying stage st (groups st GPS ..) of words and (scale, zero) pairs (and activations if X_RING) into its ring slots; empty groups past the end."
    for j in gl.static_range(GPS):
        g = st * GPS + j
        slot = (st % STAGES) * GPS + j
        live = g < G
        _async_load(w_smem.index(slot), w_ptrs + g * WPG, mask=wmask[:, None] & live)
        _async_load(sz_smem.index(slot), sz_ptrs + g, mask=smask & live)
        if X_RING:
            _async_load(x_smem.index(slot), x_ptrs + g * 128, mask=xmask[:, None] & live)
    async_copy.commit_group()


@gluon.jit
def decode_ring_kernel(x_ptr, rows_ptr, counts_ptr, q_ptr, sz_ptr, out_ptr, N, E,
                       K: gl.constexpr, BM: gl.constexpr, BN: gl.constexpr, EP2: gl.constexpr,
                       STAGES: gl.constexpr, GPS: gl.constexpr, X_RING: gl.constexpr, DEQ: gl.constexpr,
                       BITS: gl.constexpr, num_warps: gl.constexpr):
    "`w4_decode_kernel` for BITS-bit codes, the weights streamed through a STAGES-deep cp.async ring of GPS groups a stage (each thread reads back only the words it copied)."
    G: gl.constexpr = K // 128
    NS: gl.constexpr = (G + GPS - 1) // GPS  # stages of the K loop
    WPG: gl.constexpr = 4 * BITS  # words per row and group
    e, n_blk, r0, r1 = _find_tile(gl.program_id(0), counts_ptr, E, gl.cdiv(N, BN), BM, EP2, num_warps)
    if e < E:
        acc_l: gl.constexpr = gl.NVMMADistributedLayout(version=[3, 0], warps_per_cta=[num_warps, 1], instr_shape=[16, BM, 16])
        a_l: gl.constexpr = gl.DotOperandLayout(operand_index=0, parent=acc_l, k_width=2)
        w_l: gl.constexpr = word_layout(BN, BITS)
        r_l: gl.constexpr = gl.SliceLayout(1, a_l)
        x_l: gl.constexpr = gl.BlockedLayout([1, 8], [2, 16], [num_warps, 1], [1, 0])
        xs_l: gl.constexpr = gl.NVMMASharedLayout.get_default_for([BM, 128], gl.bfloat16)
        ring_l: gl.constexpr = gl.SwizzledSharedLayout(1, 1, 1, [1, 0])
        ring1_l: gl.constexpr = gl.SwizzledSharedLayout(1, 1, 1, [0])
        w_smem = gl.allocate_shared_memory(gl.int32, [STAGES * GPS, BN, WPG], ring_l)
        sz_smem = gl.allocate_shared_memory(gl.int32, [STAGES * GPS, BN], ring1_l)

        nn = n_blk * BN + gl.arange(0, BN, layout=gl.SliceLayout(1, w_l))
        w_ptrs = q_ptr + (e * N + nn).to(gl.int64)[:, None] * (G * WPG) + gl.arange(0, WPG, layout=gl.SliceLayout(0, w_l))[None, :]
        wmask = nn < N
        ns = n_blk * BN + gl.arange(0, BN, layout=r_l)
        sz_ptrs = sz_ptr + (e * N + ns).to(gl.int64) * G
        smask = ns < N
        xr = r0 + gl.arange(0, BM, layout=gl.SliceLayout(1, x_l))
        xmask = xr < r1
        xrow = gl.load(rows_ptr + xr, mask=xmask, other=0).to(gl.int64) * K
        kk = gl.arange(0, 128, layout=gl.SliceLayout(0, x_l))
        x_ptrs = x_ptr + xrow[:, None] + kk[None, :]
        if X_RING:  # activations travel with the weights, one group per ring slot
            x_smem = gl.allocate_shared_memory(gl.bfloat16, [STAGES * GPS, BM, 128], xs_l)
        else:  # the tile's activation rows, all of K, staged once
            x_smem = gl.allocate_shared_memory(gl.bfloat16, [NS * GPS, BM, 128], xs_l)
        for i in gl.static_range(STAGES - 1):  # the weight stream starts before the activations are staged
            _issue_stage(w_smem, sz_smem, x_smem, w_ptrs, sz_ptrs, x_ptrs, wmask, smask, xmask, i, G, STAGES, GPS, X_RING, WPG)
        if not X_RING:
            for g in gl.static_range(NS * GPS):
                x_smem.index(g).store(gl.load(x_ptrs + g * 128, mask=xmask[:, None] & (g < G), other=0.))
            fence_async_shared()
            _barrier()

        acc = gl.zeros([BN, BM], gl.float32, layout=acc_l)
        ones = gl.full([BN, 128], 1.0, gl.bfloat16, layout=a_l)
        for st in range(NS):
            _issue_stage(w_smem, sz_smem, x_smem, w_ptrs, sz_ptrs, x_ptrs, wmask, smask, xmask, st + STAGES - 1, G, STAGES, GPS,
                         X_RING, WPG)
            async_copy.wait_group(STAGES - 1)
            if X_RING:  # other threads' activation copies, read by the tensor cores (async proxy)
                fence_async_shared()
                _barrier()
            for j in gl.static_range(GPS):
                slot = (st % STAGES) * GPS + j
                if X_RING:
                    xg = x_smem.index(slot)
                else:
                    xg = x_smem.index(st * GPS + j)
                words = w_smem.index(slot).load(w_l)
                sz = sz_smem.index(slot).load(r_l)
                s = (sz & 0xFFFF).to(gl.int16).to(gl.float16, bitcast=True).to(gl.float32)
                z = (sz >> 16).to(gl.int16).to(gl.float16, bitcast=True).to(gl.float32)
                if DEQ == 2:  # unscaled codes into the tensor cores; the group's scale and zero applied to the [BN, BM] product
                    v = _fragment_values(words, BITS, BN, a_l)
                    p = warpgroup_mma(v, xg.permute((1, 0)), acc, use_acc=False, is_async=True)
                    xs = warpgroup_mma(ones, xg.permute((1, 0)), acc, use_acc=False, is_async=True)  # sum of x over the group
                    p, xs, v = warpgroup_mma_wait(num_outstanding=0, deps=(p, xs, v))
                    s = gl.convert_layout(s, gl.SliceLayout(1, acc_l))
                    z = gl.convert_layout(z, gl.SliceLayout(1, acc_l))
                    acc += s[:, None] * (p - (z + 128.0)[:, None] * xs)
                else:
                    a = _dequantized(_fragment_values(words, BITS, BN, a_l), s, z, DEQ)
                    acc = warpgroup_mma(a, xg.permute((1, 0)), acc, is_async=True)
                    acc, a = warpgroup_mma_wait(num_outstanding=0, deps=(acc, a))
        async_copy.wait_group(0)

        orow = r0 + gl.arange(0, BM, layout=gl.SliceLayout(0, acc_l))
        n = n_blk * BN + gl.arange(0, BN, layout=gl.SliceLayout(1, acc_l))
        gl.store(out_ptr + orow.to(gl.int64)[None, :] * N + n[:, None], acc.to(gl.bfloat16),
                 mask=(orow < r1)[None, :] & (n < N)[:, None])


def pack_scale_zero(scale: torch.Tensor, zero: torch.Tensor) -> torch.Tensor:
    "int32 [..., N, G]: each group's fp16 scale in the low half, its fp16 zero in the high half (one 4-byte copy)."
    lo = scale.contiguous().view(torch.int16).to(torch.int32) & 0xFFFF
    return lo | (zero.contiguous().view(torch.int16).to(torch.int32) << 16)


def _grid(n_rows: int, n_experts: int, N: int, bm: int, bn: int) -> int:
    "Programs for a launch: an upper bound on the tiles (`grid_bound`); programs past the last tile return at once."
    return (triton.cdiv(n_rows, bm) + n_experts) * triton.cdiv(N, bn)


def decode_ring(x, rows, counts, words, sz, N, K, stages=3, bm=8, bn=BN, x_ring=0, deq=0, ep2=256, gps=1, bits=4):
    "`w4_decode` for `bits`-bit codes through the cp.async ring kernel; `sz` from `pack_scale_zero`."
    out = torch.empty(rows.numel(), N, dtype=torch.bfloat16, device=x.device)
    decode_ring_kernel[(_grid(rows.numel(), len(counts), N, bm, bn),)](
        x, rows, counts, words, sz, out, N, len(counts), K=K, BM=bm, BN=bn, EP2=ep2, STAGES=stages, GPS=gps,
        X_RING=x_ring, DEQ=deq, BITS=bits, num_warps=bn // 16)
    return out


def compile_sm90(kernel, types: dict, constexprs: dict):
    "Compile a Gluon kernel for the H100 (sm_90a) on a machine without a GPU: TTGIR in `.asm['ttgir']`, cubin in `.asm['cubin']`."
    from triton.backends.compiler import GPUTarget
    from triton.experimental.gluon._runtime import GluonASTSource
    aligned = {(i,): [['tt.divisibility', 16]] for i, t in enumerate(types.values()) if t.startswith('*')}
    src = GluonASTSource(kernel, {**types, **{k: 'constexpr' for k in constexprs}}, constexprs=constexprs, attrs=aligned)
    return triton.compile(src, target=GPUTarget('cuda', 90, 32), options=dict(num_warps=constexprs['num_warps']))


RING_TYPES = dict(x_ptr='*bf16', rows_ptr='*i32', counts_ptr='*i32', q_ptr='*i32', sz_ptr='*i32', out_ptr='*bf16',
                  N='i32', E='i32')


def w4_decode(x, rows, counts, words, scale, zero, N, K, pending=1):
    "out [A, N] bf16: each expert's rows of x (bf16 [*, K], row ids `rows`) times its dequantized weights."
    out = torch.empty(rows.numel(), N, dtype=torch.bfloat16, device=x.device)
    w4_decode_kernel[(_grid(rows.numel(), len(counts), N, BM, BN),)](
        x, rows, counts, words, scale, zero, out, N, len(counts), K=K, BM=BM, BN=BN, EP2=256, PENDING=pending, num_warps=4)
    return out


def routings(E, tokens, k, n_sets, seed=0):
    "Per-expert counts of `n_sets` routings of `tokens` tokens to top-`k` of E experts (1 token: disjoint expert sets)."
    g = torch.Generator().manual_seed(seed)
    sets = []
    for r in range(n_sets):
        if tokens == 1: ids = torch.arange(r * k, r * k + k) % E
        else: ids = torch.stack([torch.randperm(E, generator=g)[:k] for _ in range(tokens)]).reshape(-1)
        sets.append(torch.bincount(ids, minlength=E).to(torch.int32))
    return sets


def max_error(fn, cases, w_ref) -> float:
    "Largest relative error (Frobenius) of fn(case) against the fp32 reference over `cases`."
    err = 0.
    for c in cases:
        eid = torch.repeat_interleave(torch.arange(len(c['counts']), device=w_ref.device), c['counts'].long())
        ref = torch.einsum('ak,ank->an', c['x'].float(), w_ref[eid])
        err = max(err, ((fn(c).float() - ref).norm() / ref.norm()).item())
    return err


def make_cases(E, K, tokens, k, dev):
    "Activations and routing tensors of the timed routings (15 disjoint expert sets for 1 token: all experts from HBM)."
    cases = []
    for counts in routings(E, tokens, k, 15 if tokens == 1 else 4):
        A = int(counts.sum())
        rows = torch.arange(A, device=dev, dtype=torch.int32)
        cnt = counts.to(dev)
        cases.append(dict(x=torch.randn(A, K, device=dev).bfloat16(), rows=rows, counts=cnt, A=A,
                          offs=torch.cumsum(cnt, 0, dtype=torch.int32)))
    return cases


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--out', default='bench/results/gluon_probe_h100.json')
    ap.add_argument('--tokens', type=int, nargs='+', default=[1, 16, 64])
    ap.add_argument('--configs', nargs='+', default=['w4g128', 'w2g128', 'w1g128'])
    ap.add_argument('--variants', type=lambda v: tuple(map(int, v.split(','))), nargs='+',
                    default=[(2, 8, 64, 0, 0, 256, 1), (3, 8, 64, 1, 0, 256, 1), (3, 8, 64, 1, 1, 256, 1),
                             (3, 8, 64, 1, 2, 256, 1), (3, 8, 64, 1, 1, 64, 1), (3, 8, 64, 1, 1, 256, 2),
                             (3, 8, 64, 1, 2, 256, 2), (2, 8, 64, 1, 1, 256, 4), (3, 16, 64, 1, 1, 256, 2)],
                    help='ring kernel variants: STAGES,BM,BN,X_RING,DEQ,EP2,GPS (EP2: experts the tile search scans, '
                         'GPS: groups a ring stage holds)')
    args = ap.parse_args()
    sys.path.insert(0, 'bench')
    from bench_grouped import graph_time
    from mxmoe.codegen import quantize_layer, launch_linear
    from mxmoe.kernels import unpack_codes
    from mxmoe.quant import get_config
    dev, E, H, I, k = 'cuda', 60, 2048, 1408, 4
    torch.manual_seed(0)
    wgu, wdn = torch.randn(E, 2 * I, H, device=dev) * .02, torch.randn(E, H, I, device=dev) * .02
    res = dict(device=torch.cuda.get_device_name(), torch=torch.__version__, triton=triton.__version__,
               shape='Qwen1.5-MoE (60 experts, H 2048, I 1408, top-4), random weights', rows=[])
    print(res['device'], res['torch'], 'triton', res['triton'], flush=True)
    for cfg in args.configs:
        bits = get_config(cfg).w_bits
        alloc = {e: {'gate_up': (cfg, (16, 64, 128)), 'down': (cfg, (16, 64, 128))} for e in range(E)}
        layer = quantize_layer(wgu, wdn, alloc, gluon=False)  # the Triton decode loop, for comparison
        mod = layer.kernels
        for name, lin, wbf in (('down', layer.down, wdn.bfloat16()), ('gate_up', layer.gate_up, wgu.bfloat16())):
            pw = lin.packed[0]
            N, K = pw.shape[-2:]
            q = unpack_codes(pw.data[0], bits, K)
            words, sz = pack_fragments(q, bits).transpose(-3, -2).flatten(-4, -3).flatten(-2), pack_scale_zero(pw.scale, pw.zero)  # row-major words [E, N, G*W], as the probe's kernels read them
            per_col = lambda t: t.float().repeat_interleave(GROUP, -1)[..., :K]
            w_ref = (q.float() - per_col(pw.zero)) * per_col(pw.scale)
            for T in args.tokens:
                cases = make_cases(E, K, T, k, dev)
                kernels = {}
                if bits == 4:
                    kernels['register_us'] = lambda c: w4_decode(c['x'], c['rows'], c['counts'], words, pw.scale, pw.zero, N, K)
                    kernels['register_wait0_us'] = lambda c: w4_decode(c['x'], c['rows'], c['counts'], words, pw.scale, pw.zero, N, K, 0)
                for st, bm, bn, xr, dq, ep2, gps in args.variants:
                    name_ = f'ring{st}x{gps}_bm{bm}_bn{bn}' + ('_xring' if xr else '') + ('', '_bf16x2', '_scaleafter')[dq]
                    kernels[name_ + ('' if ep2 == 256 else f'_ep{ep2}') + '_us'] = (
                        lambda c, v=(st, bm, bn, xr, dq, ep2, gps, bits): decode_ring(c['x'], c['rows'], c['counts'], words, sz, N, K, *v))
                errs = {n[:-3] + '_err': max_error(f, cases, w_ref) for n, f in kernels.items()}
                times = {n: 1e3 * graph_time([lambda c=c, f=f: f(c) for c in cases]) for n, f in kernels.items()}
                outs = [torch.empty(c['A'], lin.n_out, device=dev, dtype=torch.bfloat16) for c in cases]
                extra = [torch.ones(c['A'], device=dev) if name == 'down' else 1 for c in cases]
                t_triton = 1e3 * graph_time([lambda c=c, o=o, x=x: launch_linear(mod, lin, c['x'], c['rows'], c['counts'], c['A'], o, x)
                                             for c, o, x in zip(cases, outs, extra)])
                t_bf16 = 1e3 * graph_time([lambda c=c: torch._grouped_mm(c['x'], wbf.transpose(-2, -1), offs=c['offs']) for c in cases])
                best = min((t, n) for n, t in times.items() if n.startswith('ring'))
                experts_hit = sum(int((c['counts'] > 0).sum()) for c in cases) / len(cases)
                row = dict(config=cfg, linear=name, tokens=T, N=N, K=K, **errs, **times, triton_us=t_triton, bf16_us=t_bf16,
                           best_ring=best[1], best_ring_vs_triton=t_triton / best[0], best_ring_vs_bf16=t_bf16 / best[0],
                           triton_vs_bf16=t_bf16 / t_triton,
                           best_ring_weight_TBps=experts_hit * N * K * (bits / 8 + 4 / GROUP) / (best[0] * 1e-6) / 1e12,
                           bf16_weight_TBps=experts_hit * N * K * 2 / (t_bf16 * 1e-6) / 1e12)
                res['rows'].append(row)
                print(' '.join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()), flush=True)
    with open(args.out, 'w') as f: json.dump(res, f, indent=1)


if __name__ == '__main__' and len(sys.argv) > 1 and sys.argv[1] == '--compile-only':  # no GPU needed
    print(compile_sm90(decode_ring_kernel, RING_TYPES,
                       dict(K=2048, BM=8, BN=64, EP2=256, STAGES=3, GPS=2, X_RING=1, DEQ=1, BITS=4, num_warps=4)).asm['ttgir'])
elif __name__ == '__main__':
    main()
