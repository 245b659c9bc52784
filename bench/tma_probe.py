"""How fast the Gluon decode kernel's copies can stream at decode parallelism: cp.async against TMA (issue #6; GPU; ~1 min).

The decode kernel (`mxmoe.gluon`) copies, per program and 128-group, a gate and an up piece of row-blocked codes
(64 rows x WPG int32 words each: WPG = 16 for 4 bits, 8 for 2), their scales and zeros (here one [4, 64] fp16
piece) and the group's activations ([16, 128] bf16, R rows of them real) into a ring of STAGES slots, one CTA barrier
a group. `chain_probe.py --variants copies` found that chain alone to take 78-81% of a w4g128 block at 1 token, and
more programs per multiprocessor not to help: a multiprocessor seems to keep too few bytes in flight with cp.async.
This probe streams exactly those bytes with nothing but a cheap read of each slot, in two ways:
  cpasync  every piece by cp.async (16-byte copies by every thread; 4-byte for the scales), as the kernel does
  tma      the code and scale pieces by TMA (one bulk copy each, completing an mbarrier per slot), the activations
           (gathered rows in the real kernel, which Hopper's TMA cannot gather) still by cp.async
  tma2     as tma, with a group's gate and up pieces adjacent in memory (a layout the packing could adopt), one bulk
           copy for both: Triton puts a CTA barrier before every TMA copy that signals the stage's mbarrier
  ws       warp-specialized: one producer warp issues every copy by TMA (the activations too, R rows a box, as from a
           gathered copy of the hidden states) into slots it takes back through an `empty` mbarrier each; the four
           consumer warps wait on `ready`, read, synchronize among themselves and release the slot
for P programs (88: Qwen1.5-MoE's gate_up at 1 token, 4 experts x 22 row blocks; 176, 264: two, three a
multiprocessor), G = 16 groups, 2- and 4-bit pieces and several ring depths. Each variant is checked first (the
per-program sums of what it read against torch's); then timed by CUDA-graph replays. Prints µs and GB/s per launch and
the speed-up over the kernel's own path (cp.async, 3 stages) in the same run.

    PYTHONPATH=. python bench/tma_probe.py OUT.json
    PYTHONPATH=. python bench/tma_probe.py --compile-only   # no GPU: compile every variant for sm_90a, print registers
                                                           # and CTA barriers (ptxas from Triton's wheel)
"""
import argparse, itertools, json, os, re, subprocess, tempfile
import torch
import triton
from triton.experimental import gluon
from triton.experimental.gluon import language as gl
from triton.experimental.gluon.language.nvidia.ampere import async_copy
from triton.experimental.gluon.language.nvidia.hopper import fence_async_shared, mbarrier, tma
from triton.experimental.gluon.nvidia.hopper import TensorDescriptor
from bench.bench_grouped import graph_time

_async_load = getattr(async_copy, 'async_load', None) or async_copy.async_copy_global_to_shared
_tma_load = getattr(tma, 'async_load', None) or tma.async_copy_global_to_shared
_barrier = getattr(gl, 'thread_barrier', None) or gl.barrier
BN, BM, SROWS = 64, 16, 4  # code rows a piece, activation rows a group, scale rows (gate / up scale and zero)
PLAIN = gl.constexpr(gl.SwizzledSharedLayout(1, 1, 1, [1, 0]))
TMA_I32 = gl.constexpr(gl.NVMMASharedLayout(swizzle_byte_width=0, element_bitwidth=32, rank=2))  # unswizzled TMA targets
TMA_F16 = gl.constexpr(gl.NVMMASharedLayout(swizzle_byte_width=0, element_bitwidth=16, rank=2))


@triton.constexpr_function
def words_layout(WPG):
    "[BN, WPG] int32 words, 16 bytes a thread and row."
    return gl.BlockedLayout([1, 4], [32 * 4 // WPG, WPG // 4], [4, 1], [1, 0])


S_LAYOUT = gl.constexpr(gl.BlockedLayout([1, 2], [1, 32], [4, 1], [1, 0]))  # [4, 64] fp16, 4 bytes a thread
X_LAYOUT = gl.constexpr(gl.BlockedLayout([1, 8], [2, 16], [4, 1], [1, 0]))  # [16, 128] bf16, 16 bytes a thread


@gluon.jit
def _consume(wa, wb, ss, xs, acc_w, acc_s, acc_x, WPG: gl.constexpr):
    "Add one ring slot's pieces to the running sums (a read of every word, as the kernel's unpacking does)."
    acc_w += wa.load(words_layout(WPG)) + wb.load(words_layout(WPG))
    acc_s += ss.load(S_LAYOUT).to(gl.float32)
    acc_x += xs.load(X_LAYOUT).to(gl.float32)
    return acc_w, acc_s, acc_x


@gluon.jit
def _store(out_w, out_s, out_x, acc_w, acc_s, acc_x, pid, WPG: gl.constexpr, XR: gl.constexpr, X_L: gl.constexpr):
    "Program `pid`'s sums into out_w [P, BN, WPG], out_s [P, 4, 64] and the first XR rows of out_x [P, BM, 128] (`acc_x` in X_L)."
    w_l: gl.constexpr = words_layout(WPG)
    i, w = gl.arange(0, 64, layout=gl.SliceLayout(1, w_l)), gl.arange(0, WPG, layout=gl.SliceLayout(0, w_l))
    gl.store(out_w + pid * 64 * WPG + i[:, None] * WPG + w[None, :], acc_w)
    r, c = gl.arange(0, 4, layout=gl.SliceLayout(1, S_LAYOUT)), gl.arange(0, 64, layout=gl.SliceLayout(0, S_LAYOUT))
    gl.store(out_s + pid * 256 + r[:, None] * 64 + c[None, :], acc_s)
    r, c = gl.arange(0, XR, layout=gl.SliceLayout(1, X_L)), gl.arange(0, 128, layout=gl.SliceLayout(0, X_L))
    gl.store(out_x + pid * 2048 + r[:, None] * 128 + c[None, :], acc_x)


@gluon.jit
def _x_copy(xs, x_ptr, pid, g, G, R, slot):
    "cp.async of group g's activations, rows pid BM .. (R of them real), into slot `slot`."
    r, c = gl.arange(0, 16, layout=gl.SliceLayout(1, X_LAYOUT)), gl.arange(0, 128, layout=gl.SliceLayout(0, X_LAYOUT))
    ptrs = x_ptr + (pid * 16 + r)[:, None].to(gl.int64) * (G * 128) + g * 128 + c[None, :]
    _async_load(xs.index(slot), ptrs, mask=((r < R) & (g < G))[:, None])


@gluon.jit
def stream_cpasync(qa_ptr, qb_ptr, s_ptr, x_ptr, out_w, out_s, out_x, G, R, WPG: gl.constexpr, STAGES: gl.constexpr):
    "Every piece by cp.async; one wait, one barrier a group."
    pid = gl.program_id(0)
    w_l: gl.constexpr = words_layout(WPG)
    wa = gl.allocate_shared_memory(gl.int32, [STAGES, 64, WPG], PLAIN)
    wb = gl.allocate_shared_memory(gl.int32, [STAGES, 64, WPG], PLAIN)
    ss = gl.allocate_shared_memory(gl.float16, [STAGES, 4, 64], PLAIN)
    xs = gl.allocate_shared_memory(gl.bfloat16, [STAGES, 16, 128], PLAIN)
    i, w = gl.arange(0, 64, layout=gl.SliceLayout(1, w_l)), gl.arange(0, WPG, layout=gl.SliceLayout(0, w_l))
    piece = i[:, None] * WPG + w[None, :]
    r, c = gl.arange(0, 4, layout=gl.SliceLayout(1, S_LAYOUT)), gl.arange(0, 64, layout=gl.SliceLayout(0, S_LAYOUT))
    spiece = r[:, None] * 64 + c[None, :]
    acc_w = gl.zeros([64, WPG], gl.int32, layout=w_l)
    acc_s = gl.zeros([4, 64], gl.float32, layout=S_LAYOUT)
    acc_x = gl.zeros([16, 128], gl.float32, layout=X_LAYOUT)
    for g in gl.static_range(STAGES - 1):
        base = (pid * G + g).to(gl.int64)
        _async_load(wa.index(g), qa_ptr + base * 64 * WPG + piece)
        _async_load(wb.index(g), qb_ptr + base * 64 * WPG + piece)
        _async_load(ss.index(g), s_ptr + base * 256 + spiece)
        _x_copy(xs, x_ptr, pid, g, G, R, g)
        async_copy.commit_group()
    for g in range(G):
        slot = g % STAGES
        async_copy.wait_group(STAGES - 2)
        _barrier()  # every thread's copies of group g landed; every thread is done with group g - 1's slot
        n = g + STAGES - 1
        nslot = n % STAGES
        live = n < G
        base = (pid * G + n).to(gl.int64)
        _async_load(wa.index(nslot), qa_ptr + base * 64 * WPG + piece, mask=(piece >= 0) & live)
        _async_load(wb.index(nslot), qb_ptr + base * 64 * WPG + piece, mask=(piece >= 0) & live)
        _async_load(ss.index(nslot), s_ptr + base * 256 + spiece, mask=(spiece >= 0) & live)
        _x_copy(xs, x_ptr, pid, n, G, R, nslot)
        async_copy.commit_group()
        acc_w, acc_s, acc_x = _consume(wa.index(slot), wb.index(slot), ss.index(slot), xs.index(slot), acc_w, acc_s, acc_x, WPG)
    async_copy.wait_group(0)
    _store(out_w, out_s, out_x, acc_w, acc_s, acc_x, pid, WPG, 16, X_LAYOUT)


@gluon.jit
def _tma_stage(qa_desc, qb_desc, s_desc, wa, wb, ss, bars, pid, n, G, STAGES: gl.constexpr, BYTES: gl.constexpr):
    "Start the TMA copies of group n's code and scale pieces into its slot (nothing past the last group)."
    slot = n % STAGES
    live = n < G
    bar = bars.index(slot)
    mbarrier.expect(bar, BYTES, pred=live)
    _tma_load(qa_desc, [(pid * G + n) * 64, 0], bar, wa.index(slot), pred=live)
    _tma_load(qb_desc, [(pid * G + n) * 64, 0], bar, wb.index(slot), pred=live)
    _tma_load(s_desc, [(pid * G + n) * 4, 0], bar, ss.index(slot), pred=live)


@gluon.jit
def _tma2_stage(qab_desc, s_desc, wab, ss, bars, pid, n, G, STAGES: gl.constexpr, BYTES: gl.constexpr):
    "Start the TMA copies of group n's adjacent gate and up pieces (one copy) and its scale piece into its slot."
    slot = n % STAGES
    live = n < G
    bar = bars.index(slot)
    mbarrier.expect(bar, BYTES, pred=live)
    _tma_load(qab_desc, [(pid * G + n) * 128, 0], bar, wab.index(slot), pred=live)
    _tma_load(s_desc, [(pid * G + n) * 4, 0], bar, ss.index(slot), pred=live)


@gluon.jit
def stream_tma(qa_desc, qb_desc, s_desc, x_ptr, out_w, out_s, out_x, G, R, WPG: gl.constexpr, STAGES: gl.constexpr,
               ADJACENT: gl.constexpr):
    """Code and scale pieces by TMA into slots completing an mbarrier each, activations by cp.async; one barrier a group
    of ours. If ADJACENT, qa_desc spans a group's gate and up pieces together ([128, WPG] boxes; qb_desc unused)."""
    pid = gl.program_id(0)
    BYTES: gl.constexpr = 2 * 64 * WPG * 4 + 4 * 64 * 2
    if ADJACENT:  # a slot holds a group's gate and up pieces together
        wab = gl.allocate_shared_memory(gl.int32, [STAGES, 128, WPG], TMA_I32)
        wa, wb = wab, wab
    else:
        wa = gl.allocate_shared_memory(gl.int32, [STAGES, 64, WPG], TMA_I32)
        wb = gl.allocate_shared_memory(gl.int32, [STAGES, 64, WPG], TMA_I32)
        wab = wa
    ss = gl.allocate_shared_memory(gl.float16, [STAGES, 4, 64], TMA_F16)
    xs = gl.allocate_shared_memory(gl.bfloat16, [STAGES, 16, 128], PLAIN)
    bars = gl.allocate_shared_memory(gl.int64, [STAGES, 1], mbarrier.MBarrierLayout())
    for s in gl.static_range(STAGES):
        mbarrier.init(bars.index(s), count=1)
    fence_async_shared()  # the initialized barriers, before the async proxy uses them
    acc_w = gl.zeros([64, WPG], gl.int32, layout=words_layout(WPG))
    acc_s = gl.zeros([4, 64], gl.float32, layout=S_LAYOUT)
    acc_x = gl.zeros([16, 128], gl.float32, layout=X_LAYOUT)
    for g in gl.static_range(STAGES - 1):
        if ADJACENT:
            _tma2_stage(qa_desc, s_desc, wab, ss, bars, pid, g, G, STAGES, BYTES)
        else:
            _tma_stage(qa_desc, qb_desc, s_desc, wa, wb, ss, bars, pid, g, G, STAGES, BYTES)
        _x_copy(xs, x_ptr, pid, g, G, R, g)
        async_copy.commit_group()
    for g in range(G):
        slot = g % STAGES
        mbarrier.wait(bars.index(slot), (g // STAGES) & 1)
        async_copy.wait_group(STAGES - 2)
        _barrier()  # the activations every thread copied landed; every thread is done with group g - 1's slot
        n = g + STAGES - 1
        if ADJACENT:
            _tma2_stage(qa_desc, s_desc, wab, ss, bars, pid, n, G, STAGES, BYTES)
        else:
            _tma_stage(qa_desc, qb_desc, s_desc, wa, wb, ss, bars, pid, n, G, STAGES, BYTES)
        _x_copy(xs, x_ptr, pid, n, G, R, n % STAGES)
        async_copy.commit_group()
        if ADJACENT:
            acc_w, acc_s, acc_x = _consume(wab.index(slot).slice(0, 64), wab.index(slot).slice(64, 64), ss.index(slot),
                                           xs.index(slot), acc_w, acc_s, acc_x, WPG)
        else:
            acc_w, acc_s, acc_x = _consume(wa.index(slot), wb.index(slot), ss.index(slot), xs.index(slot), acc_w, acc_s, acc_x, WPG)
    async_copy.wait_group(0)
    for s in gl.static_range(STAGES):
        mbarrier.invalidate(bars.index(s))
    _store(out_w, out_s, out_x, acc_w, acc_s, acc_x, pid, WPG, 16, X_LAYOUT)


XR_LAYOUT = gl.constexpr(gl.BlockedLayout([1, 1], [1, 32], [1, 4], [1, 0]))  # [XR, 128] activations (any XR rows)


@gluon.jit
def _ws_producer(qab_desc, s_desc, x_desc, wab, ss, xs, ready, empty, G, STAGES: gl.constexpr, XR: gl.constexpr,
                 BYTES: gl.constexpr):
    "The producer warp: each group's adjacent gate / up piece, scale piece and activations by TMA into a free slot."
    pid = gl.program_id(0)
    for n in range(G):
        slot = n % STAGES
        mbarrier.wait(empty.index(slot), ((n // STAGES) & 1) ^ 1, pred=n >= STAGES)  # the consumers released it
        bar = ready.index(slot)
        mbarrier.expect(bar, BYTES)
        _tma_load(qab_desc, [(pid * G + n) * 128, 0], bar, wab.index(slot))
        _tma_load(s_desc, [(pid * G + n) * 4, 0], bar, ss.index(slot))
        _tma_load(x_desc, [pid * 16, n * 128], bar, xs.index(slot))


@gluon.jit
def _ws_consumer(wab, ss, xs, ready, empty, G, WPG: gl.constexpr, STAGES: gl.constexpr, XR: gl.constexpr):
    "The four consumer warps: wait for a slot, read it, release it; returns the sums."
    acc_w = gl.zeros([64, WPG], gl.int32, layout=words_layout(WPG))
    acc_s = gl.zeros([4, 64], gl.float32, layout=S_LAYOUT)
    acc_x = gl.zeros([XR, 128], gl.float32, layout=XR_LAYOUT)
    for g in range(G):
        slot = g % STAGES
        mbarrier.wait(ready.index(slot), (g // STAGES) & 1)
        w = wab.index(slot)
        acc_w += w.slice(0, 64).load(words_layout(WPG)) + w.slice(64, 64).load(words_layout(WPG))
        acc_s += ss.index(slot).load(S_LAYOUT).to(gl.float32)
        acc_x += xs.index(slot).load(XR_LAYOUT).to(gl.float32)
        _barrier()  # every consumer warp has read the slot
        mbarrier.arrive(empty.index(slot), count=1)
    return acc_w, acc_s, acc_x


@gluon.jit
def stream_ws(qab_desc, s_desc, x_desc, out_w, out_s, out_x, G, WPG: gl.constexpr, STAGES: gl.constexpr,
              XR: gl.constexpr):
    "Warp-specialized: a one-warp TMA producer and four consumer warps, `ready` and `empty` mbarriers per slot."
    pid = gl.program_id(0)
    BYTES: gl.constexpr = 2 * 64 * WPG * 4 + 4 * 64 * 2 + XR * 128 * 2
    wab = gl.allocate_shared_memory(gl.int32, [STAGES, 128, WPG], TMA_I32)
    ss = gl.allocate_shared_memory(gl.float16, [STAGES, 4, 64], TMA_F16)
    xs = gl.allocate_shared_memory(gl.bfloat16, [STAGES, XR, 128], TMA_F16)
    ready = gl.allocate_shared_memory(gl.int64, [STAGES, 1], mbarrier.MBarrierLayout())
    empty = gl.allocate_shared_memory(gl.int64, [STAGES, 1], mbarrier.MBarrierLayout())
    for s in gl.static_range(STAGES):
        mbarrier.init(ready.index(s), count=1)
        mbarrier.init(empty.index(s), count=1)
    fence_async_shared()
    acc_w, acc_s, acc_x = gl.warp_specialize([(_ws_consumer, (wab, ss, xs, ready, empty, G, WPG, STAGES, XR)),
                                              (_ws_producer, (qab_desc, s_desc, x_desc, wab, ss, xs, ready, empty, G,
                                                              STAGES, XR, BYTES))], [1], [40])
    _store(out_w, out_s, out_x, acc_w, acc_s, acc_x, pid, WPG, XR, XR_LAYOUT)


def buffers(P: int, G: int, WPG: int, R: int, seed: int = 0) -> dict:
    "Random pieces for P programs of G groups, and the sums each program must read."
    g = torch.Generator(device='cuda').manual_seed(seed)
    qa, qb = (torch.randint(-1000, 1000, (P * G * BN, WPG), device='cuda', dtype=torch.int32, generator=g) for _ in range(2))
    s = torch.randn(P * G * SROWS, 64, device='cuda', generator=g).half()
    x = torch.randn(P * BM, G * 128, device='cuda', generator=g).bfloat16()
    want_x = x.float().view(P, BM, G, 128).sum(2)
    want_x[:, R:] = 0
    qab = torch.stack([qa.view(P * G, BN, WPG), qb.view(P * G, BN, WPG)], 1).reshape(P * G * 2 * BN, WPG)  # gate, up adjacent
    return dict(qa=qa, qb=qb, qab=qab, s=s, x=x, want_w=(qa + qb).view(P, G, BN, WPG).sum(1, dtype=torch.int32), want_s=s.float().view(P, G, SROWS, 64).sum(1),
                want_x=want_x)


def launcher(mode: str, b: dict, P: int, G: int, WPG: int, R: int, stages: int):
    "A closure launching one variant on buffers `b`, and its outputs."
    out = dict(w=torch.empty(P, BN, WPG, device='cuda', dtype=torch.int32), s=torch.empty(P, SROWS, 64, device='cuda'),
               x=torch.empty(P, BM, 128, device='cuda'))
    tail = (b['x'], out['w'], out['s'], out['x'], G, R)
    if mode == 'cpasync':
        return (lambda: stream_cpasync[(P,)](b['qa'], b['qb'], b['s'], *tail, WPG=WPG, STAGES=stages, num_warps=4)), out
    if mode == 'ws':  # out['x'] rows past R stay zero, as the other variants' masked copies leave them
        out['x'].zero_()
        dab = TensorDescriptor.from_tensor(b['qab'], [2 * BN, WPG], TMA_I32.value)
        ds = TensorDescriptor.from_tensor(b['s'], [SROWS, 64], TMA_F16.value)
        dx = TensorDescriptor.from_tensor(b['x'], [R, 128], TMA_F16.value)
        return (lambda: stream_ws[(P,)](dab, ds, dx, out['w'], out['s'], out['x'], G, WPG=WPG, STAGES=stages, XR=R,
                                        num_warps=4, maxnreg=128)), out  # 128: three programs a multiprocessor
    adjacent = mode == 'tma2'
    da = TensorDescriptor.from_tensor(b['qab'], [2 * BN, WPG], TMA_I32.value) if adjacent else TensorDescriptor.from_tensor(b['qa'], [BN, WPG], TMA_I32.value)
    db = TensorDescriptor.from_tensor(b['qb'], [BN, WPG], TMA_I32.value)
    ds = TensorDescriptor.from_tensor(b['s'], [SROWS, 64], TMA_F16.value)
    return (lambda: stream_tma[(P,)](da, db, ds, *tail, WPG=WPG, STAGES=stages, ADJACENT=adjacent, num_warps=4)), out


def compile_only():
    "Compile every variant for sm_90a on this machine (no GPU): ptxas's register count and the PTX's CTA barriers."
    from triton.backends.compiler import GPUTarget
    from triton.experimental.gluon._runtime import GluonASTSource
    from triton.runtime.jit import mangle_type
    bin_dir = os.path.join(os.path.dirname(triton.__file__), 'backends', 'nvidia', 'bin')
    ptxas = next(p for p in (os.path.join(bin_dir, n) for n in ('ptxas-blackwell', 'ptxas')) if os.path.exists(p))  # the newer reads newer PTX
    desc = lambda rows, cols, dtype, lay: mangle_type(TensorDescriptor.from_tensor(torch.zeros(256, 256, dtype=dtype)[:, :cols], [rows, cols], lay.value))
    out = dict(out_w='*i32', out_s='*fp32', out_x='*fp32', G='i32')
    for WPG, stages in itertools.product((16, 8), (3, 6)):
        words = lambda rows: desc(rows, WPG, torch.int32, TMA_I32)
        cases = {'cpasync': (stream_cpasync, dict(qa_ptr='*i32', qb_ptr='*i32', s_ptr='*fp16', x_ptr='*bf16', **out, R='i32'), {}),
                 'tma': (stream_tma, dict(qa_desc=words(64), qb_desc=words(64), s_desc=desc(4, 64, torch.float16, TMA_F16), x_ptr='*bf16',
                                          **out, R='i32'), dict(ADJACENT=False)),
                 'tma2': (stream_tma, dict(qa_desc=words(128), qb_desc=words(64), s_desc=desc(4, 64, torch.float16, TMA_F16), x_ptr='*bf16',
                                           **out, R='i32'), dict(ADJACENT=True)),
                 'ws': (stream_ws, dict(qab_desc=words(128), s_desc=desc(4, 64, torch.float16, TMA_F16),
                                        x_desc=desc(1, 128, torch.bfloat16, TMA_F16), **out), dict(XR=1))}
        for mode, (fn, sig, extra) in cases.items():
            consts = dict(WPG=WPG, STAGES=stages, **extra)
            sig = {**sig, **{k: 'constexpr' for k in consts}}
            attrs = {(i,): [['tt.divisibility', 16]] for i, v in enumerate(sig.values()) if v.startswith('*')}
            ck = triton.compile(GluonASTSource(fn=fn, signature=sig, constexprs=consts, attrs=attrs), target=GPUTarget('cuda', 90, 32),
                                options=dict(num_warps=4, **(dict(maxnreg=128) if mode == 'ws' else {})))
            with tempfile.NamedTemporaryFile('w', suffix='.ptx', delete=False) as f: f.write(ck.asm['ptx'])
            log = subprocess.run([ptxas, '-arch=sm_90a', '-v', f.name, '-o', os.devnull], capture_output=True, text=True).stderr
            regs = re.search(r'Used (\d+) registers', log)
            barriers = len(re.findall(r'bar\.sync|barrier\.sync', ck.asm['ptx']))
            print(f"WPG={WPG:2d} stages={stages} {mode:8s} registers {regs.group(1) if regs else log[-300:]}, "
                  f"CTA barriers in the PTX {barriers}", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('out', nargs='?')
    ap.add_argument('--compile-only', action='store_true')
    ap.add_argument('--groups', type=int, default=16)
    ap.add_argument('--rows', type=int, default=1, help='real activation rows a group (1: one token)')
    args = ap.parse_args()
    if args.compile_only: return compile_only()
    if not args.out: ap.error('OUT.json is required (or --compile-only)')
    G, R, rows = args.groups, args.rows, []
    print(torch.cuda.get_device_name(), f'G={G} R={R}')
    for P, WPG in itertools.product((88, 176, 264), (16, 8)):
        b = buffers(P, G, WPG, R)
        nbytes = P * G * (2 * BN * WPG * 4 + SROWS * 64 * 2 + R * 256)  # what the kernel needs (masked rows not read)
        base = None
        for mode, stages in [('cpasync', 3), ('cpasync', 4), ('tma', 3), ('tma', 6), ('tma2', 3), ('tma2', 6),
                             ('ws', 3), ('ws', 4), ('ws', 6), ('ws', 8)]:
            fn, out = launcher(mode, b, P, G, WPG, R, stages)
            fn(); torch.cuda.synchronize()
            ok = (torch.equal(out['w'], b['want_w']) and torch.allclose(out['s'], b['want_s'], atol=1e-2)
                  and torch.allclose(out['x'], b['want_x'], atol=1e-2))
            us = graph_time([fn]) * 1e3
            if (mode, stages) == ('cpasync', 3): base = us  # the kernel's own copy path (the first variant): the baseline
            rows.append(dict(mode=mode, stages=stages, programs=P, words_per_group=WPG, groups=G, rows=R, us=us,
                             gbps=nbytes / us / 1e3, speedup=base / us, correct=ok))
            print(f"P={P:4d} WPG={WPG:2d} {mode:8s} stages={stages} {us:7.2f} us {nbytes / us / 1e3:7.1f} GB/s "
                  f"{base / us:5.2f}x cp.async's 3 stages {'ok' if ok else 'WRONG'}", flush=True)
    json.dump(dict(device=torch.cuda.get_device_name(), torch=torch.__version__, rows=rows), open(args.out, 'w'), indent=1)


if __name__ == '__main__':
    main()
