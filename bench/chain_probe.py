"""Where the Gluon decode loop's time goes, by leaving one stage of it out (issue #6; GPU; timings only, the variants compute wrong results).

Each variant is `mxmoe/gluon.py` with one text patch, loaded in its own process in place of `mxmoe.gluon` before the
generated kernels import it; the routed-experts block is then timed as in `bench_grouped.py` (CUDA-graph replays over
four routings, bf16 `grouped_mm` in the same process) at 1 and 64 tokens on the Qwen1.5-MoE shape (or `--models`):
  base        the kernel as shipped
  no_unpack   constant operands instead of unpacking the words (the words are still copied, not read back)
  no_sync     no proxy fence and no barrier after each stage's copies
  no_scale    each group's product added unscaled (no scale / zero loads from shared memory, no FMAs)
  no_ones     no token sums (the wgmma with the tile of ones left out); no_ones_down / no_ones_up: in one linear only
  copies      the copies, waits, fences and barriers alone: nothing read back, no tensor-core work
  copies5, copies8  the copies alone with a ring of 5 or 8 stages
  copies_mma  the copies and the gate / up wgmmas on a constant operand (no unpacking, no sums, no scaling)
  ones_regs   the tile of ones for the token sums in registers (a constant A operand) instead of shared memory
  pipelined   (a candidate, computes right results) one-group stages unpack the next group's gate codes while this
              group's up product is on the tensor cores (down: into a second register set while its product is), the
              next group's copies waited for halfway through a group; STAGES 3
  pipelined4  the same with a 4-stage ring
  no_copies   the loop's copies left out (the ring's first stages copied, then reread): the arithmetic and the
              synchronization alone, what a loop whose copies another warp issued could take at best
  stages4, stages5  (candidates, compute right results) the shipped loop with a ring of 4 or 5 stages
  lean        (a candidate; right results where a two-group tile has whole stages) the copies unmasked: groups past
              the last one clamped to it (copied again into a slot nobody reads), down's activation rows past the
              last one clamped to it (results of rows past row1 are never stored); the loop waits and syncs before
              it issues the next stage (so no warp overwrites a slot another still reads: the shipped loop issues first)
  placed      (timing only: the token sums are not corrected) `_codes` reading 1-3-bit fields where they lie in the
              bf16 mantissa, three a shift, each ORed into 2^(7 - J) for a field at bit J: what fewer shifts could give
  w3_serial   (a candidate) 3-bit tiles unpack their up codes after the gate product is done, as 32-row tiles do
              (a 3-bit gate_up alone: 128 registers instead of 158)
  w3_serial_cap  the same, and every gate_up launch without a 32-row tile capped at 128 registers (the mixed
              allocation's: 157 uncapped, none spilled at 128): four programs a multiprocessor instead of three
  l2_prefetch (a candidate, computes right results) every program first asks L2 for its tile's whole weight stream
              (`cp.async.bulk.prefetch.L2` of each row block's code planes, a slice a thread; `prefetch.global.L2` of
              each group's scale and zero lines), so that the ring's copies find the codes in L2
  mma_v2      (a candidate: its largest error over the routings is recorded) the group loop on mma.sync: each warp
              its 16 rows, the fragment-ordered codes (the wgmma register operand is the mma.sync one), the
              activations, scales, zeros and token sums loaded straight into registers, the next group's loads
              issued before this group's arithmetic; no shared memory, no barrier, no register caps
  unrolled    (a candidate, computes right results) the gate_up loop unrolled by the ring depth, every ring slot index a
              constant: 8-15% fewer instructions a group (`kernel_regs.py --loops`), no faster
  prescaled32 (a candidate, computes right results) 32-row gate_up tiles scale and shift their codes into bf16 weights
              (q - z) s before the tensor cores (two bf16x2 instructions a pair: the zero's integer part subtracted
              exactly, its fraction and the scale in one FMA), so the wgmmas accumulate across groups: no fp32
              product a group to scale, no token sums, one wait a group for both rows; other tiles as shipped: 64
              more instructions a group (`kernel_regs.py --loops`: 364 -> 437 for w4g128), 1.00-1.06x the time
  Configs (--configs): w4g128, mixed225 and any other `bench_grouped.py` names, each also as NAME_blocked: the same
  allocation with its experts in config order (a launch's tiles of one config adjacent, instead of cycling).
About 1 minute per variant on an H100. The patches were written against `mxmoe/gluon.py` of commit d574772, before the
token sums were precomputed (`XSW`): check that commit out to run them as measured (`results/chain_probe_h100.json`:
the first four variants; `results/chain_probe_variants.json`: the others, H100 and H200). On later kernels the
variants that name the ones (`no_ones*`, `ones_regs`, `pipelined*`) change only launches that still take them, and
`pipelined*` compiles only there. The variants from `no_copies` on, and `--configs`, were written against the kernel
of commit d19a8c3 and measured on it (`results/chain_probe_bounds_h100.json`); `mma_v2` against the kernel of 2026-11-27
(main 2d7250f: H200, `results/mma_v2_probe_h200.json`); `l2_prefetch` against main 5f03982 (H200,
`results/l2_prefetch_h200.json`, the same patch run through `bench_grouped.py`); `unrolled` against main 441cdef
(H100, `results/unrolled_ring_h100.json`, run the same way); `prescaled32` against main dbc98f5 (H100,
`results/prescaled32_h100.json`).

    PYTHONPATH=. python bench/chain_probe.py OUT.json [--variants base no_ones ...] [--models qwen15 mixtral] [--tokens 1 16 64] [--configs mixed225]
"""
import importlib.util, json, subprocess, sys
from pathlib import Path

L2_PREFETCH_FNS = '''@gluon.jit
def _prefetch_block(base, words):
    "Ask L2 for `words` int32 words (a multiple of 256) from `base` on: each of the warpgroup's 128 threads one bulk prefetch of its slice."
    l: gl.constexpr = gl.BlockedLayout([1], [32], [4], [0])
    t = gl.arange(0, 128, layout=l)
    chunk = gl.cdiv(gl.cdiv(words, 128), 4) * 4  # words a thread, whole 16-byte units
    start = gl.minimum(t * chunk, words - chunk)  # the last slices overlap instead of running past the end
    gl.inline_asm_elementwise("cp.async.bulk.prefetch.L2.global [$1], $2;\\n mov.u32 $0, 0;", "=r,l,r",
                              [base + start, chunk * 4 + t * 0], dtype=gl.int32, is_pure=False, pack=1)

@gluon.jit
def _prefetch_lines(base, G, stride):
    "Ask L2 for the 128-byte lines base + g stride (g < G, at most 128 of them)."
    l: gl.constexpr = gl.BlockedLayout([1], [32], [4], [0])
    g = gl.minimum(gl.arange(0, 128, layout=l), G - 1)
    gl.inline_asm_elementwise("prefetch.global.L2 [$1];\\n mov.u32 $0, 0;", "=r,l", [base + g * stride],
                              dtype=gl.int32, is_pure=False, pack=1)

'''
L2_PREFETCH_CALLS = '''    _prefetch_block(q0_ptr + first_row.to(gl.int64) * (G * WPG0), G * BN * WPG0)
    if FUSED:
        _prefetch_block(q0_ptr + (first_row + HALF).to(gl.int64) * (G * WPG0), G * BN * WPG0)
    if W_BITS == 3:
        _prefetch_block(q1_ptr + first_row.to(gl.int64) * (G * WPG1), G * BN * WPG1)
        if FUSED:
            _prefetch_block(q1_ptr + (first_row + HALF).to(gl.int64) * (G * WPG1), G * BN * WPG1)
    if GROUP != -1:
        sz0 = slot.to(gl.int64) * GS * NW + n_blk * BN
        _prefetch_lines(s_ptr + sz0, G, NW)
        _prefetch_lines(z_ptr + sz0, G, NW)
        if FUSED:
            _prefetch_lines(s_ptr + sz0 + HALF, G, NW)
            _prefetch_lines(z_ptr + sz0 + HALF, G, NW)
'''
W3_SERIAL = ("if FUSED and BM >= 32:", "if FUSED and (BM >= 32 or W_BITS == 3):")  # 3-bit codes: one operand at a time
PATCHES = {
    'base': [],
    'no_unpack': [("va = _codes(wa0.index(slot_j).load(w_l0), wa1.index(slot_j).load(w_l1), W_BITS, BN, a_l)",
                   "va = gl.full([BN, 128], 1.0, gl.bfloat16, layout=a_l)"),
                  ("vb = _codes(wb0.index(slot_j).load(w_l0), wb1.index(slot_j).load(w_l1), W_BITS, BN, a_l)",
                   "vb = gl.full([BN, 128], 1.0, gl.bfloat16, layout=a_l)")],
    'no_sync': [("        fence_async_shared()  # the activations, copied by other threads, are read by the tensor cores\n", ""),
                ("        _barrier()\n", "")],
    'no_scale': [("acc_b = _scaled(acc_b, pb, s_b, z_b, xsum)", "acc_b = acc_b + pb"),
                 ("acc_a = _scaled(acc_a, pa, s_a, z_a, xsum)", "acc_a = acc_a + pa")],
    'no_ones': [("xsum = warpgroup_mma(ones, xg, acc_a, use_acc=False, is_async=True)", "xsum = acc_a * 0.0")],
    'no_ones_down': [("xsum = warpgroup_mma(ones, xg, acc_a, use_acc=False, is_async=True)",
                      "xsum = warpgroup_mma(ones, xg, acc_a, use_acc=False, is_async=True) if FUSED else acc_a * 0.0")],
    'no_ones_up': [("xsum = warpgroup_mma(ones, xg, acc_a, use_acc=False, is_async=True)",
                    "xsum = acc_a * 0.0 if FUSED else warpgroup_mma(ones, xg, acc_a, use_acc=False, is_async=True)")],
    'w3_serial': [W3_SERIAL],
    'w3_serial_cap': [W3_SERIAL, ("else dict(num_warps=4)\n", "else dict(num_warps=4, maxnreg=128)\n")],
    'l2_prefetch': [("@gluon.jit\ndef _mainloop(", L2_PREFETCH_FNS + "@gluon.jit\ndef _mainloop("),
                    ("    z_ptrs = z_ptr + slot.to(gl.int64) * GS * NW + ns\n", "    z_ptrs = z_ptr + slot.to(gl.int64) * GS * NW + ns\n" + L2_PREFETCH_CALLS)],
    'ones_regs': [("xsum = warpgroup_mma(ones, xg, acc_a, use_acc=False, is_async=True)",
                   "xsum = warpgroup_mma(gl.full([BN, 128], 1.0, gl.bfloat16, layout=a_l), xg, acc_a, use_acc=False, is_async=True)")],
}
LOOP_START = "    for st in range(gl.cdiv(G, GPS)):\n"
BODY_START = "            xg = x_smem.index(slot_j).permute((1, 0))\n"
LOOP_END = "            acc_a = _scaled(acc_a, pa, s_a, z_a, xsum)\n"
CONST_MMA = """            xg = x_smem.index(slot_j).permute((1, 0))
            va = gl.full([BN, 128], 1.0, gl.bfloat16, layout=a_l)
            pa = warpgroup_mma(va, xg, acc_a, is_async=True)
            if FUSED:
                pb = warpgroup_mma(va, xg, acc_b, is_async=True)
                pa, pb, va = warpgroup_mma_wait(num_outstanding=0, deps=(pa, pb, va))
                acc_b = pb
            else:
                pa, va = warpgroup_mma_wait(num_outstanding=0, deps=(pa, va))
            acc_a = pa
"""
PIPELINED = """    if GPS == 1:
        async_copy.wait_group(STAGES - 2)
        fence_async_shared()
        _barrier()
        va = _codes(wa0.index(0).load(w_l0), wa1.index(0).load(w_l1), W_BITS, BN, a_l)
        for st in range(G):
            slot_j = st % STAGES
            slot_n = (st + 1) % STAGES
            _issue_stage(st + STAGES - 1, G, NW, x_ptrs, x_smem, xmask, wa0, wa1, wb0, wb1, pa0, pa1, pb0, pb1, wmask0, wmask1,
                         sa, za, sb, zb, s_ptrs, z_ptrs, smask, HALF, W_BITS, GROUP, FUSED, BN * WPG0, BN * WPG1, GPS, STAGES)
            xg = x_smem.index(slot_j).permute((1, 0))
            xsum = warpgroup_mma(ones, xg, acc_a, use_acc=False, is_async=True)
            pa = warpgroup_mma(va, xg, acc_a, use_acc=False, is_async=True)
            if GROUP != -1:
                s_a = sa.index(slot_j).load(r_l).to(gl.float32)
                z_a = za.index(slot_j).load(r_l).to(gl.float32)
            if FUSED:
                vb = _codes(wb0.index(slot_j).load(w_l0), wb1.index(slot_j).load(w_l1), W_BITS, BN, a_l)
                pb = warpgroup_mma(vb, xg, acc_b, use_acc=False, is_async=True)
                xsum, pa, va = warpgroup_mma_wait(num_outstanding=1, deps=(xsum, pa, va))
                acc_a = _scaled(acc_a, pa, s_a, z_a, xsum)
                async_copy.wait_group(STAGES - 2)
                fence_async_shared()
                _barrier()
                va = _codes(wa0.index(slot_n).load(w_l0), wa1.index(slot_n).load(w_l1), W_BITS, BN, a_l)
                pb, vb = warpgroup_mma_wait(num_outstanding=0, deps=(pb, vb))
                if GROUP != -1:
                    s_b = sb.index(slot_j).load(r_l).to(gl.float32)
                    z_b = zb.index(slot_j).load(r_l).to(gl.float32)
                acc_b = _scaled(acc_b, pb, s_b, z_b, xsum)
            else:
                async_copy.wait_group(STAGES - 2)
                fence_async_shared()
                _barrier()
                vn = _codes(wa0.index(slot_n).load(w_l0), wa1.index(slot_n).load(w_l1), W_BITS, BN, a_l)
                xsum, pa, va = warpgroup_mma_wait(num_outstanding=0, deps=(xsum, pa, va))
                acc_a = _scaled(acc_a, pa, s_a, z_a, xsum)
                va = vn
    else:
"""


def _region(src: str, start: str, end: str) -> tuple[int, int]:
    "Start and end offsets of the one piece of `src` from `start` through `end`."
    assert src.count(start) == 1 and src.count(end) == 1, (start, end)
    a = src.index(start)
    return a, src.index(end, a) + len(end)


def _replace_body(src: str, body: str) -> str:
    "The group loop's body (from reading the activations through the gate rows' scaling) replaced by `body`."
    a, b = _region(src, BODY_START, LOOP_END)
    return src[:a] + body + src[b:]


def _pipelined(src: str, stages: int) -> str:
    "The loop of one-group stages replaced by `PIPELINED`, the old loop kept for two-group stages; a ring of `stages`."
    a, b = _region(src, LOOP_START, LOOP_END)
    old = ''.join('    ' + line if line.strip() else line for line in src[a:b].splitlines(keepends=True))
    return _stages(src[:a] + PIPELINED + old + src[b:], stages)


def _stages(src: str, stages: int) -> str:
    "A ring of `stages` stages."
    return src.replace("STAGES = gl.constexpr(3)", f"STAGES = gl.constexpr({stages})")


LOOP_COPIES = "        _issue_stage(st + STAGES - 1,"
LOOP_COPIES_END = "GPS, STAGES, XSW)\n"


def _no_copies(src: str) -> str:
    "The group loop without its copies: each stage rereads what the ring's first copies left."
    assert src.count(LOOP_COPIES) == 1, LOOP_COPIES
    a = src.index(LOOP_COPIES)
    return src[:a] + src[src.index(LOOP_COPIES_END, a) + len(LOOP_COPIES_END):]


LEAN = [  # (old, new, occurrences)
    ("_async_load(w_smem.index(slot), w_ptrs + g * GSTRIDE, mask=wmask[:, None])", "_async_load(w_smem.index(slot), w_ptrs + g * GSTRIDE)", 1),
    ("        g = st * GPS + j\n", "        g = gl.minimum(st * GPS + j, G - 1)\n", 1),
    (", mask=xmask[:, None] & live)", ")", 1), (", mask=smask & live)", ")", 4), (", mask=xmask & live)", ")", 1),
    (", mask=xmask & live & (g * 2 + 1 < NXS))", ")", 1),
    ("y, y2 = _mainloop(x_ptr, rows, m_mask,", "y, y2 = _mainloop(x_ptr, gl.minimum(rows, A - 1), m_mask,", 2),
    ("""        _issue_stage(st + STAGES - 1, G, NW, x_ptrs, x_smem, xmask, wa0, wa1, wb0, wb1, pa0, pa1, pb0, pb1, wmask0, wmask1,
                     sa, za, sb, zb, s_ptrs, z_ptrs, smask, HALF, xs0, xs1, xs_ptrs, NXS,
                     W_BITS, GROUP, FUSED, BN * WPG0, BN * WPG1, GPS, STAGES, XSW)
        async_copy.wait_group(STAGES - 1)
        fence_async_shared()  # the activations, copied by other threads, are read by the tensor cores
        _barrier()
""", """        async_copy.wait_group(STAGES - 2)
        fence_async_shared()  # the activations, copied by other threads, are read by the tensor cores
        _barrier()
        _issue_stage(st + STAGES - 1, G, NW, x_ptrs, x_smem, xmask, wa0, wa1, wb0, wb1, pa0, pa1, pb0, pb1, wmask0, wmask1,
                     sa, za, sb, zb, s_ptrs, z_ptrs, smask, HALF, xs0, xs1, xs_ptrs, NXS,
                     W_BITS, GROUP, FUSED, BN * WPG0, BN * WPG1, GPS, STAGES, XSW)
""", 1)]


def _lean(src: str) -> str:
    "Copies without masks (groups past the last one clamped to it, down's rows past the last one to it) and a stage's copies issued after the barrier."
    for old, new, n in LEAN:
        assert src.count(old) == n, old
        src = src.replace(old, new)
    return src


MAINLOOP_START = "@gluon.jit\ndef _mainloop("
MAINLOOP_END = "    async_copy.wait_group(0)\n    return acc_a, acc_b\n"
ACC_V3 = "    return gl.NVMMADistributedLayout(version=[3, 0], warps_per_cta=[4, 1], instr_shape=[16, BM, 16])\n"
ACC_V2 = "    return gl.NVMMADistributedLayout(version=[2, 0], warps_per_cta=[4, 1], instr_shape=[16, 8])\n"
UNCAPPED = [("    if linear == 'down': return dict(num_warps=4, maxnreg=128)\n", "    if linear == 'down': return dict(num_warps=4)\n"),
            ("dict(num_warps=4, maxnreg=GATE_UP_REGS) if any(", "dict(num_warps=4) if any(")]  # the caps were set for the wgmma loop
MMA_V2 = """@gluon.jit
def _v2_loads(g, G, NW, HALF, x_ptr, xr, xm, xmc, kk, K, xs_ptrs, NXS, pa0, pa1, pb0, pb1, wmask0, wmask1, s_ptrs, rmask, z_ptrs,
              W_BITS: gl.constexpr, GROUP: gl.constexpr, FUSED: gl.constexpr, GS0: gl.constexpr, GS1: gl.constexpr,
              XSW: gl.constexpr):
    "Everything group g reads, straight from global memory into registers (zeros past the last group)."
    live = g < G
    xg = gl.load(x_ptr + xr.to(gl.int64)[None, :] * K + (g * 128 + kk)[:, None], mask=xm[None, :] & live, other=0.)
    wa0 = gl.load(pa0 + g * GS0, mask=wmask0[:, None] & live, other=0)
    wa1, wb0, wb1 = wa0, wa0, wa0
    if W_BITS == 3:
        wa1 = gl.load(pa1 + g * GS1, mask=wmask1[:, None] & live, other=0)
    if FUSED:
        wb0 = gl.load(pb0 + g * GS0, mask=wmask0[:, None] & live, other=0)
        if W_BITS == 3:
            wb1 = gl.load(pb1 + g * GS1, mask=wmask1[:, None] & live, other=0)
    sa = gl.load(s_ptrs + g * NW, mask=rmask & live & (GROUP != -1), other=0.)
    za = gl.load(z_ptrs + g * NW, mask=rmask & live & (GROUP != -1), other=0.)
    sb = gl.load(s_ptrs + g * NW + HALF, mask=rmask & live & (GROUP != -1) & FUSED, other=0.)
    zb = gl.load(z_ptrs + g * NW + HALF, mask=rmask & live & (GROUP != -1) & FUSED, other=0.)
    xs = gl.load(xs_ptrs + g * XSW, mask=xmc & live & (XSW > 0), other=0.)
    if XSW == 2:
        xs += gl.load(xs_ptrs + g * 2 + 1, mask=xmc & live & (g * 2 + 1 < NXS), other=0.)
    return xg, wa0, wa1, wb0, wb1, sa, za, sb, zb, xs

@gluon.jit
def _mainloop(x_ptr, x_rows, xmask, xs_ptr, q0_ptr, q1_ptr, s_ptr, z_ptr, slot, n_blk, NOUT, NW, HALF, K,
              FUSED: gl.constexpr, W_BITS: gl.constexpr, GROUP: gl.constexpr,
              BM: gl.constexpr, BN: gl.constexpr, BK: gl.constexpr, XSW: gl.constexpr):
    "`_mainloop` on mma.sync (mma_v2): each warp its 16 rows, codes and activations loaded straight into registers, the next group's loads issued before this group's arithmetic; no shared memory, no barrier."
    gl.static_assert(BN == BLOCK_ROWS, "a tile's weight rows are one block of the fragment layout")
    B0: gl.constexpr = 2 if W_BITS == 3 else W_BITS
    WPG0: gl.constexpr = 4 * B0
    WPG1: gl.constexpr = 4
    acc_l: gl.constexpr = acc_layout(BM)
    a_l: gl.constexpr = gl.DotOperandLayout(operand_index=0, parent=acc_l, k_width=2)
    b_l: gl.constexpr = gl.DotOperandLayout(operand_index=1, parent=acc_l, k_width=2)
    r_l: gl.constexpr = gl.SliceLayout(1, acc_l)
    c_l: gl.constexpr = gl.SliceLayout(0, acc_l)
    w_l0: gl.constexpr = word_layout(BN, B0)
    w_l1: gl.constexpr = word_layout(BN, 1)
    G = gl.cdiv(K, 128)
    GS = G
    if GROUP == -1:
        GS = 1
    xr = gl.convert_layout(x_rows, gl.SliceLayout(0, b_l))
    xm = gl.convert_layout(xmask, gl.SliceLayout(0, b_l))
    kk = gl.arange(0, 128, layout=gl.SliceLayout(1, b_l))
    xrc = gl.convert_layout(x_rows, c_l)
    xmc = gl.convert_layout(xmask, c_l)
    NXS = 1
    if XSW > 0:
        NXS = gl.cdiv(K, 128 // XSW)
    xs_ptrs = xs_ptr + xrc.to(gl.int64) * NXS
    first_row = slot * NW + n_blk * BN
    _, wmask0 = _rows(n_blk, NOUT, BN, gl.SliceLayout(1, w_l0))
    pa0 = _block_words(q0_ptr, first_row, G, WPG0, BN, w_l0)
    pb0 = pa0 + HALF * (G * WPG0)
    pa1, pb1, wmask1 = pa0, pa0, wmask0
    if W_BITS == 3:
        _, wmask1 = _rows(n_blk, NOUT, BN, gl.SliceLayout(1, w_l1))
        pa1 = _block_words(q1_ptr, first_row, G, WPG1, BN, w_l1)
        pb1 = pa1 + HALF * (G * WPG1)
    nr, rmask = _rows(n_blk, NOUT, BN, r_l)
    s_ptrs = s_ptr + slot.to(gl.int64) * GS * NW + nr
    z_ptrs = z_ptr + slot.to(gl.int64) * GS * NW + nr
    s_a = gl.load(s_ptr + slot * NW + nr, mask=rmask & (GROUP == -1), other=0.).to(gl.float32)
    z_a = gl.load(z_ptr + slot * NW + nr, mask=rmask & (GROUP == -1), other=0.).to(gl.float32)
    s_b = gl.load(s_ptr + slot * NW + nr + HALF, mask=rmask & (GROUP == -1) & FUSED, other=0.).to(gl.float32)
    z_b = gl.load(z_ptr + slot * NW + nr + HALF, mask=rmask & (GROUP == -1) & FUSED, other=0.).to(gl.float32)
    acc_a = gl.zeros([BN, BM], gl.float32, layout=acc_l)
    acc_b = gl.zeros([BN, BM], gl.float32, layout=acc_l)
    zero = gl.zeros([BN, BM], gl.float32, layout=acc_l)
    ones = gl.full([BN, 128], 1.0, gl.bfloat16, layout=a_l)
    xg, wa0, wa1, wb0, wb1, sa, za, sb, zb, xs = _v2_loads(0, G, NW, HALF, x_ptr, xr, xm, xmc, kk, K, xs_ptrs, NXS, pa0, pa1, pb0, pb1,
                                                           wmask0, wmask1, s_ptrs, rmask, z_ptrs, W_BITS, GROUP, FUSED,
                                                           BN * WPG0, BN * WPG1, XSW)
    for g in range(G):
        nxg, nwa0, nwa1, nwb0, nwb1, nsa, nza, nsb, nzb, nxs = _v2_loads(g + 1, G, NW, HALF, x_ptr, xr, xm, xmc, kk, K, xs_ptrs, NXS,
                                                                         pa0, pa1, pb0, pb1, wmask0, wmask1, s_ptrs, rmask, z_ptrs,
                                                                         W_BITS, GROUP, FUSED, BN * WPG0, BN * WPG1, XSW)
        xb = xg.to(gl.bfloat16)
        if XSW == 0:
            xsum = mma_v2(ones, xb, zero)
        else:
            xsum = xs[None, :]
        if GROUP != -1:
            s_a = sa.to(gl.float32)
            z_a = za.to(gl.float32)
            s_b = sb.to(gl.float32)
            z_b = zb.to(gl.float32)
        pa = mma_v2(_codes(wa0, wa1, W_BITS, BN, a_l), xb, zero)
        acc_a = _scaled(acc_a, pa, s_a, z_a, xsum)
        if FUSED:
            pb = mma_v2(_codes(wb0, wb1, W_BITS, BN, a_l), xb, zero)
            acc_b = _scaled(acc_b, pb, s_b, z_b, xsum)
        xg, wa0, wa1, wb0, wb1, sa, za, sb, zb, xs = nxg, nwa0, nwa1, nwb0, nwb1, nsa, nza, nsb, nzb, nxs
    return acc_a, acc_b
"""


def _mma_v2(src: str) -> str:
    "The group loop on mma.sync (`MMA_V2`) in place of the wgmma ring; the accumulators in the mma.sync layout."
    a, b = _region(src, MAINLOOP_START, MAINLOOP_END)
    src = src[:a] + MMA_V2 + src[b:]
    for old, new in ((ACC_V3, ACC_V2), *UNCAPPED):
        assert src.count(old) == 1, old
        src = src.replace(old, new)
    return src.replace("from triton.experimental.gluon.language.nvidia.ampere import async_copy\n",
                       "from triton.experimental.gluon.language.nvidia.ampere import async_copy, mma_v2\n")


CODES_START = "@gluon.jit\ndef _codes("
CODES_END = "    return _operand(x, BN, A_LAYOUT)\n"
PLACED = """@gluon.jit
def _placed(words, BITS: gl.constexpr, M0: gl.constexpr, STEP: gl.constexpr, LEVELS: gl.constexpr):
    "[..., 2 x LEVELS] int32 bf16 pairs 2^(7 - J) + q of code position M0 + STEP i of each half: one shift per run of positions the mantissa holds at once (J their offset), one LOP3 a pair."
    if LEVELS == 0:
        FIT: gl.constexpr = (7 // BITS) * BITS
        S: gl.constexpr = (BITS * M0) // FIT * FIT
        J: gl.constexpr = BITS * M0 - S
        MASK: gl.constexpr = (((1 << BITS) - 1) << J) * 0x00010001
        MAGIC: gl.constexpr = ((134 - J) << 7) * 0x00010001
        if S == 0:
            return _and_or(words, MASK, MAGIC)
        else:
            return _and_or(words >> S, MASK, MAGIC)
    else:
        return gl.join(_placed(words, BITS, M0, 2 * STEP, LEVELS - 1), _placed(words, BITS, M0 + STEP, 2 * STEP, LEVELS - 1))

@gluon.jit
def _high_bits(words, M0: gl.constexpr, STEP: gl.constexpr, LEVELS: gl.constexpr):
    "[..., 2 x 4] the high-bit word of 3-bit codes shifted so that the bit of position (t, m) (stored at 2 m + t) lands at bit J + 2 of the 2-bit field `_placed` put at J."
    if LEVELS == 0:
        T: gl.constexpr = M0 // 8
        M: gl.constexpr = M0 % 8
        S_LO: gl.constexpr = (2 * M) // 6 * 6
        SH: gl.constexpr = T + S_LO - 2
        if SH > 0:
            return words >> SH
        elif SH < 0:
            return words << (-SH)
        else:
            return words
    else:
        return gl.join(_high_bits(words, M0, 2 * STEP, LEVELS - 1), _high_bits(words, M0 + STEP, 2 * STEP, LEVELS - 1))

@gluon.jit
def _high_masks(words, M0: gl.constexpr, STEP: gl.constexpr, LEVELS: gl.constexpr):
    "[..., 2 x 4] constants: bit J + 2 of each half, J the offset `_placed` gives the 2-bit field of position (t, m)."
    if LEVELS == 0:
        M: gl.constexpr = M0 % 8
        J: gl.constexpr = 2 * M - (2 * M) // 6 * 6
        return gl.full_like(words, (1 << (J + 2)) * 0x00010001)
    else:
        return gl.join(_high_masks(words, M0, 2 * STEP, LEVELS - 1), _high_masks(words, M0 + STEP, 2 * STEP, LEVELS - 1))

@gluon.jit
def _codes(w0, w1, W_BITS: gl.constexpr, BN: gl.constexpr, A_LAYOUT: gl.constexpr):
    "TIMING PROBE: bf16 2^(7 - J) + q (not 128 + q: the sums are not corrected, results wrong)."
    if W_BITS == 3:
        lo = gl.reshape(_placed(w0.to(gl.uint32, bitcast=True), 2, 0, 1, 3), [BN, 4, 2, 2, 2, 2])
        u1 = w1.to(gl.uint32, bitcast=True)
        hi = gl.convert_layout(gl.reshape(_high_bits(u1, 0, 1, 4), [BN, 4, 2, 2, 2, 2]), lo.type.layout, assert_trivial=True)
        mk = gl.convert_layout(gl.reshape(_high_masks(u1, 0, 1, 4), [BN, 4, 2, 2, 2, 2]), lo.type.layout, assert_trivial=True)
        x = _and_or(hi, mk, lo)
    else:
        x = gl.reshape(_placed(w0.to(gl.uint32, bitcast=True), W_BITS, 0, 1, (16 // W_BITS).bit_length() - 1), [BN, 4, 2, 2, 2, 2])
    return _operand(x, BN, A_LAYOUT)
"""


def _placed_codes(src: str) -> str:
    "`_codes` unpacking with `PLACED`: fields that fit the mantissa where they are read in place, bases 2^(7 - J)."
    a, b = _region(src, CODES_START, CODES_END)
    return src[:a] + PLACED + src[b:]


UNROLLED_LOOP = """    n_st = gl.cdiv(G, GPS)
    UNR: gl.constexpr = STAGES if UNROLL else 1
    for s0 in range(0, n_st, UNR):  # unrolled by the ring depth: every slot index a constant
        for u in gl.static_range(UNR):
            st = s0 + u
            if st < n_st:
                if UNR == STAGES:
                    issue_ring = (u + STAGES - 1) % STAGES
                    now_ring = u
                else:
                    issue_ring = (st + STAGES - 1) % STAGES
                    now_ring = st % STAGES
"""


def _unrolled(src: str) -> str:
    "The gate_up loop unrolled by the ring depth (`UNROLL`), so that every ring slot index is a constant; down's as shipped."
    for old, new in [("GPS: gl.constexpr, STAGES: gl.constexpr, XSW: gl.constexpr):", "GPS: gl.constexpr, ring, XSW: gl.constexpr):"),
                     ("        slot = (st % STAGES) * GPS + j\n", "        slot = ring * GPS + j\n"),
                     ("GPS, STAGES, XSW)\n    acc_a = gl.zeros", "GPS, i, XSW)\n    acc_a = gl.zeros"),
                     ("BM: gl.constexpr, BN: gl.constexpr, BK: gl.constexpr, XSW: gl.constexpr):\n    \"\"\"fp32 accumulators",
                      "BM: gl.constexpr, BN: gl.constexpr, BK: gl.constexpr, XSW: gl.constexpr, UNROLL: gl.constexpr = False):\n    \"\"\"fp32 accumulators"),
                     ("True, W_BITS, GROUP, BM, BN, BK, XSW)\n    h", "True, W_BITS, GROUP, BM, BN, BK, XSW, UNROLL=True)\n    h")]:
        assert src.count(old) == 1, old
        src = src.replace(old, new)
    a, b = _region(src, LOOP_START, MAINLOOP_END)
    body = src[a + len(LOOP_START):b - len(MAINLOOP_END)].replace("GPS, STAGES, XSW)", "GPS, issue_ring, XSW)").replace(
        "slot_j = (st % STAGES) * GPS + j", "slot_j = now_ring * GPS + j")
    body = ''.join('        ' + l if l.strip() else l for l in body.splitlines(True))
    return src[:a] + UNROLLED_LOOP + body + MAINLOOP_END + src[b:]


PRESCALED_FN = """@gluon.jit
def _prescaled(v, s, z):
    "bf16 weights (q - z) s [BN, 128] from v = 128 + q (`_codes`) and the rows' fp16 scale s and zero z [BN]: v minus the zero's integer part (exact), times s, plus its fraction's share, on bf16 pairs."
    zi = gl.floor(z.to(gl.float32) + 128.5)
    m = (zi - z.to(gl.float32) - 128.0) * s.to(gl.float32)
    v, zi2 = gl.broadcast(v, zi.to(gl.bfloat16)[:, None])
    _, s2 = gl.broadcast(v, s.to(gl.bfloat16)[:, None])
    _, m2 = gl.broadcast(v, m.to(gl.bfloat16)[:, None])
    return gl.inline_asm_elementwise("{ .reg .b32 t; sub.rn.bf16x2 t, $1, $2; fma.rn.bf16x2 $0, t, $3, $4; }",
                                     "=r,r,r,r,r", [v, zi2, s2, m2], dtype=gl.bfloat16, is_pure=True, pack=2)

"""
PRESCALED_BODY = """            xg = x_smem.index(slot_j).permute((1, 0))
            if FUSED and BM >= 32 and GROUP != -1:  # weights scaled before the tensor cores: sums across groups in the wgmma
                a_r: gl.constexpr = gl.SliceLayout(1, a_l)
                va = _prescaled(_codes(wa0.index(slot_j).load(w_l0), wa1.index(slot_j).load(w_l1), W_BITS, BN, a_l),
                                sa.index(slot_j).load(a_r), za.index(slot_j).load(a_r))
                acc_a = warpgroup_mma(va, xg, acc_a, is_async=True)
                vb = _prescaled(_codes(wb0.index(slot_j).load(w_l0), wb1.index(slot_j).load(w_l1), W_BITS, BN, a_l),
                                sb.index(slot_j).load(a_r), zb.index(slot_j).load(a_r))
                acc_b = warpgroup_mma(vb, xg, acc_b, is_async=True)
                acc_a, acc_b, va, vb = warpgroup_mma_wait(num_outstanding=0, deps=(acc_a, acc_b, va, vb))
            else:
"""


def _prescaled32(src: str) -> str:
    "32-row gate_up tiles with weights scaled before the wgmmas (`PRESCALED_BODY`), every other tile's loop as shipped."
    a, b = _region(src, BODY_START, LOOP_END)
    old = ''.join('    ' + l if l.strip() else l for l in src[a + len(BODY_START):b].splitlines(True))
    src = src[:a] + PRESCALED_BODY + old + src[b:]
    return src.replace(MAINLOOP_START, PRESCALED_FN + MAINLOOP_START)


REWRITES = {'prescaled32': _prescaled32, 'copies': lambda src: _replace_body(src, "            acc_a = acc_a + 1.0\n"),
            'copies_mma': lambda src: _replace_body(src, CONST_MMA),
            'copies5': lambda src: _stages(_replace_body(src, "            acc_a = acc_a + 1.0\n"), 5),
            'copies8': lambda src: _stages(_replace_body(src, "            acc_a = acc_a + 1.0\n"), 8),
            'pipelined': lambda src: _pipelined(src, 3), 'pipelined4': lambda src: _pipelined(src, 4),
            'no_copies': _no_copies, 'lean': _lean, 'mma_v2': _mma_v2, 'placed': _placed_codes, 'stages4': lambda src: _stages(src, 4), 'stages5': lambda src: _stages(src, 5),
            'unrolled': _unrolled}


def patched_gluon(variant: str):
    "Install `mxmoe.gluon` with the variant's patches applied (before anything imports the generated kernels)."
    import mxmoe
    src = (Path(mxmoe.__file__).parent / 'gluon.py').read_text()
    for old, new in PATCHES.get(variant, []):
        assert src.count(old) == 1, (variant, old)
        src = src.replace(old, new)
    if variant in REWRITES: src = REWRITES[variant](src)
    path = Path(f'/tmp/mxmoe_gluon_{variant}.py'); path.write_text(src)  # Triton reads kernel sources from files
    spec = importlib.util.spec_from_file_location('mxmoe.gluon', path, submodule_search_locations=None)
    mod = importlib.util.module_from_spec(spec); mod.__package__ = 'mxmoe'
    sys.modules['mxmoe.gluon'] = mod
    spec.loader.exec_module(mod)


def blocked(allocation: dict) -> dict:
    "The same configs and tiles per linear, given to the experts in config order: one config's tiles adjacent in the launch."
    by_linear = {l: sorted(v[l] for v in allocation.values()) for l in ('gate_up', 'down')}
    return {e: {l: by_linear[l][i] for l in by_linear} for i, e in enumerate(sorted(allocation))}


def run_variant(variant: str, models: list[str], tokens: list[int]|None = None, configs: list[str]|None = None) -> list[dict]:
    patched_gluon(variant)
    import os, tempfile
    os.environ['MXMOE_KERNEL_DIR'] = tempfile.mkdtemp(prefix=f'mxmoe_{variant}_')
    from bench.bench_grouped import allocation, bf16_times, kernel_times, random_experts, routings, MODELS
    from mxmoe.codegen import forward_error, quantize_layer
    rows = []
    for model in models:
        E, H, I, k = MODELS[model]
        wgu, wdn = random_experts(E, H, I)
        for config in configs or ('w4g128', 'mixed225'):
            for T in tokens or TOKENS[model]:
                sets = routings(T, E, k, H)
                a = allocation(config.removesuffix('_blocked'), E, T * k / E, H, I)
                layer = quantize_layer(wgu.float(), wdn.float(), blocked(a) if config.endswith('_blocked') else a)
                base, _ = bf16_times(sets, wgu, wdn)
                block, gemm, _ = kernel_times(layer, sets)
                rows.append(dict(variant=variant, model=model, config=config, T=T, block_us=block * 1e3, gemm_us=gemm * 1e3,
                                 bf16_block_us=base * 1e3))
                if variant in CANDIDATES: rows[-1]['error'] = max(forward_error(*s, layer) for s in sets)
                print(rows[-1], flush=True)
        del wgu, wdn
    return rows


CANDIDATES = ('mma_v2', 'prescaled32')  # variants that compute right results: their largest relative error over the routings is recorded
TOKENS = {'qwen15': (1, 64), 'dsv2lite': (1, 64), 'qwen3': (1, 64), 'mixtral': (1, 64)}
VARIANTS = ['base', 'no_unpack', 'no_sync', 'no_scale']  # the default run (the committed result)


def _write(out: str, rows: list[dict]):
    "The rows so far, each with its block time over the base variant's (base runs first), as JSON."
    import torch
    base = {(r['model'], r['config'], r['T']): r for r in rows if r['variant'] == 'base'}
    for r in rows: r['block_over_base'] = r['block_us'] / base[r['model'], r['config'], r['T']]['block_us']
    json.dump(dict(device=torch.cuda.get_device_name(), rows=rows), open(out, 'w'), indent=1)


def main(out: str, variants: list[str], models: list[str], tokens: list[int]|None = None, configs: list[str]|None = None):
    rows = []
    for v in variants:
        r = subprocess.run([sys.executable, __file__, '--variant', v, ','.join(map(str, tokens or [])), ','.join(configs or []), *models],
                           capture_output=True, text=True)
        if r.returncode: print(r.stderr[-3000:]); sys.exit(1)
        rows += json.loads(r.stdout.strip().splitlines()[-1])
        _write(out, rows)  # after every variant: a run cut short keeps what it measured
    import torch
    print(torch.cuda.get_device_name(), '(block times; x = over the shipped kernel in the same run)')
    for r in rows:
        print(f"{r['variant']:10s} {r['model']:8s} {r['config']:9s} T={r['T']:3d} block {r['block_us']:7.1f} us  "
              f"gemm {r['gemm_us']:7.1f} us  x{r['block_over_base']:.3f} of base  {r['bf16_block_us'] / r['block_us']:.2f}x bf16")


if __name__ == '__main__':
    if sys.argv[1] == '--variant':
        print(json.dumps(run_variant(sys.argv[2], sys.argv[5:], [int(t) for t in sys.argv[3].split(',') if t],
                                     [c for c in sys.argv[4].split(',') if c])))
    else:
        import argparse
        ap = argparse.ArgumentParser()
        ap.add_argument('out'); ap.add_argument('--variants', nargs='+', default=VARIANTS)
        ap.add_argument('--models', nargs='+', default=['qwen15'])
        ap.add_argument('--tokens', nargs='+', type=int, help='token counts (default: 1 and 64)')
        ap.add_argument('--configs', nargs='+', help='bench_grouped.py configs, or NAME_blocked (default: w4g128 mixed225)')
        a = ap.parse_args()
        assert a.variants[0] == 'base', 'the ratios are over the base variant: name it first'
        main(a.out, a.variants, a.models, a.tokens, a.configs)
