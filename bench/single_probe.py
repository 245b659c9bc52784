"""issue #6, one token: the whole routed-expert block as one launch with no routing launch, its K loops split (a probe; GPU).

At one token the shipped block is three dependent launches (routing with the token sums, gate_up, down), each paying
its start and its first copies' latency. With one token the k assignments are k distinct experts, so no sort is
needed: the first programs run gate_up's tiles of each assignment (its expert read from the top-k), the rest down's;
a down tile waits until its assignment's gate_up tiles have counted themselves in (release / acquire at GPU scope),
the last down program of an assignment resets its counters. gate_up takes its tokens' sums with the wgmma on ones
(there is no routing launch to make them); down reads gate_up's and sums the k slots itself (`sum_topk`).

Variants: `single` as said (the shipped tile functions); `pf` down tiles first ask L2 for their whole weight stream,
then wait; `*_cap` a 128-register cap on the whole kernel. `splitP`: gate_up's K loop cut into P parts (each part's
weights packed as a virtual expert of K / P features, `split_gate_up`), each part's fp32 products into a workspace,
the last part of a tile to arrive adds them in part order and writes SiLU(gate) * up; `*_d2`: down's K loop cut in
two the same way (`split_down`, the first part taking the odd group). The split paths keep the token sums in rows of
whole 128-byte lines: the down tiles copy them 4 bytes at a time, through L1, and a line shared with a row still
being written gave stale sums (wrong outputs in 2 of 30 checks before). `single` keeps the shipped functions' rows
(I / 64 floats), which share lines: no wrong output was seen there, but the same hazard stands. Timing only (wrong results): `*_gu` and `*_dn`
run one of the two parts alone (down without its wait).

Output: per shape and config, the bf16 block, the shipped block and each variant (CUDA-graph replays over
`bench_grouped.ROT` routings, as `bench_grouped.py`), and each variant's largest error relative to the shipped
output's largest value over 32 calls.

    PYTHONPATH=. python bench/single_probe.py OUT.json [--models qwen15 ...] [--configs mixed225 w4g128] [--variants single split4 ...]
"""
import argparse, importlib.util, json, sys, tempfile, time
from pathlib import Path
import torch
import triton

sys.path.insert(0, str(Path(__file__).parent))
from bench_grouped import MODELS, allocation, bf16_times, graph_time, quantize_configs, random_experts, routings  # noqa: E402
from chain_probe import L2_PREFETCH_FNS  # noqa: E402

VARIANTS = {'single': dict(pf=False, cap=None, p=1), 'single_cap': dict(pf=False, cap=128, p=1),
            'pf': dict(pf=True, cap=None, p=1), 'pf_cap': dict(pf=True, cap=128, p=1),
            'split2': dict(pf=False, cap=None, p=2), 'split4': dict(pf=False, cap=None, p=4),
            'split2_d2': dict(pf=False, cap=None, p=2, dp=2), 'split4_d2': dict(pf=False, cap=None, p=4, dp=2),
            # timing only (wrong results): one part of the kernel alone, down without its wait
            'single_gu': dict(pf=False, cap=None, p=1, role=1), 'single_dn': dict(pf=False, cap=None, p=1, role=2),
            'split4_gu': dict(pf=False, cap=None, p=4, role=1), 'split4_dn': dict(pf=False, cap=None, p=4, role=2)}

HEAD = '''from triton.experimental import gluon
from triton.experimental.gluon import language as gl
from mxmoe.gluon import gate_up_tile as gl_gate_up_tile, down_tile as gl_down_tile, _barrier, _mainloop, _store_rows, sum_topk, X_LAYOUT, acc_layout


''' + L2_PREFETCH_FNS + '''@gluon.jit
def _prefetch_tile(q0_ptr, q1_ptr, s_ptr, z_ptr, slot, n_blk, NW, K, W_BITS: gl.constexpr, BN: gl.constexpr):
    "Ask L2 for one down tile's whole weight stream: its row blocks' code planes (contiguous, `pack_fragments`), each group's scale and zero lines."
    G = K // 128
    first_row = slot * NW + n_blk * BN
    B0: gl.constexpr = 2 if W_BITS == 3 else W_BITS
    _prefetch_block(q0_ptr + first_row.to(gl.int64) * (G * 4 * B0), G * BN * 4 * B0)
    if W_BITS == 3:
        _prefetch_block(q1_ptr + first_row.to(gl.int64) * (G * 4), G * BN * 4)
    sz0 = slot.to(gl.int64) * G * NW + n_blk * BN
    for h in gl.static_range(BN // 64):
        _prefetch_lines(s_ptr + sz0 + 64 * h, G, NW)
        _prefetch_lines(z_ptr + sz0 + 64 * h, G, NW)


@gluon.jit
def _gate_up_split(x_ptr, hsum_ptr, inter_ptr, ws_ptr, tk_ptr, ready_ptr, I, HSS, KP, tile, a, n_blk, p, slot,
                   q0_ptr, q1_ptr, s_ptr, z_ptr, W_BITS: gl.constexpr, GROUP: gl.constexpr, BM: gl.constexpr,
                   BN: gl.constexpr, BK: gl.constexpr, P: gl.constexpr):
    """Part p of P of one token's gate_up tile (input features p KP ..; the part's weights are a virtual expert of KP
    features): its fp32 products go to the workspace; the last part to arrive adds the P parts in part order, writes
    SiLU(gate) * up and its sums (rows HSS floats apart: whole 128-byte lines, so that no down program's L1 holds a
    line of a row still being written; the 4-byte copies of the sums go through L1), and counts the tile into ready[a]."""
    x_l: gl.constexpr = X_LAYOUT
    rows = a + gl.arange(0, BM, layout=gl.SliceLayout(1, x_l))
    g, u = _mainloop(x_ptr + p * KP, rows * 0, rows < a + 1, x_ptr, q0_ptr, q1_ptr, s_ptr, z_ptr, slot, n_blk, I, 2 * I, I, KP,
                     True, W_BITS, GROUP, BM, BN, BK, 0)
    acc_l: gl.constexpr = acc_layout(BM)
    n = gl.arange(0, BN, layout=gl.SliceLayout(1, acc_l))
    m = gl.arange(0, BM, layout=gl.SliceLayout(0, acc_l))
    off = n[:, None] * BM + m[None, :]
    gl.store(ws_ptr + (tile * P + p).to(gl.int64) * (2 * BN * BM) + off, g)
    gl.store(ws_ptr + (tile * P + p).to(gl.int64) * (2 * BN * BM) + BN * BM + off, u)
    _barrier()  # every thread's stores precede the ticket (a release)
    done = gl.atomic_add(tk_ptr + tile, 1, sem='acq_rel', scope='gpu') + 1
    if done == P:
        gs = gl.zeros([BN, BM], gl.float32, layout=acc_l)
        us = gl.zeros([BN, BM], gl.float32, layout=acc_l)
        for q in gl.static_range(P):
            gs += gl.load(ws_ptr + (tile * P + q).to(gl.int64) * (2 * BN * BM) + off, cache_modifier='.cg')
            us += gl.load(ws_ptr + (tile * P + q).to(gl.int64) * (2 * BN * BM) + BN * BM + off, cache_modifier='.cg')
        h = (gs / (1.0 + gl.exp(-gs)) * us).to(gl.bfloat16)
        orow = a + m
        gl.store(inter_ptr + orow.to(gl.int64)[None, :] * I + (n_blk * BN + n)[:, None], h, mask=(orow < a + 1)[None, :])
        gl.store(hsum_ptr + orow.to(gl.int64) * HSS + n_blk, gl.sum(h.to(gl.float32), axis=0), mask=orow < a + 1)
        gl.store(tk_ptr + tile, 0)  # ready for the next launch
        _barrier()
        gl.atomic_add(ready_ptr + a, 1, sem='release', scope='gpu')


@gluon.jit
def _down_finish(y, rw_ptr, out_ptr, sum_ptr, tickets_ptr, H, A, a, n_blk, BM: gl.constexpr, BN: gl.constexpr, SUM: gl.constexpr):
    "Store one token's down tile y [BN, BM] (row 0 real) times its router weight into its slot, and take part in `sum_topk`."
    acc_l: gl.constexpr = acc_layout(BM)
    orow = a + gl.arange(0, BM, layout=gl.SliceLayout(0, acc_l))
    omask = orow < a + 1
    rw = gl.load(rw_ptr + orow, mask=omask, other=0.).to(gl.float32)
    _store_rows(out_ptr, orow, omask, n_blk * BN + gl.arange(0, BN, layout=gl.SliceLayout(1, acc_l)), y * rw[None, :], H)
    if SUM > 0:
        sum_topk(out_ptr, sum_ptr, tickets_ptr, n_blk * BN, gl.minimum(H - n_blk * BN, BN), A, H, SUM)


@gluon.jit
def _down_split(x_ptr, xsum_ptr, rw_ptr, out_ptr, sum_ptr, tickets_ptr, ws_ptr, tk_ptr, H, I, HSS, A, KP, K0, tile, a, n_blk, part, slot,
                q0_ptr, q1_ptr, s_ptr, z_ptr, W_BITS: gl.constexpr, GROUP: gl.constexpr, BM: gl.constexpr,
                BN: gl.constexpr, BK: gl.constexpr, SUM: gl.constexpr, PARTS: gl.constexpr):
    """Part `part` of PARTS (1 or 2) of one token's down tile (intermediate features K0 .. K0 + KP, token sums in rows
    HSS floats apart; a part's weights are a linear of its own). Two parts: each one's fp32 products go to the
    workspace, the last of the two to arrive adds them in part order and finishes the tile (`_down_finish`)."""
    x_l: gl.constexpr = X_LAYOUT
    rows = a + gl.arange(0, BM, layout=gl.SliceLayout(1, x_l))
    y, y2 = _mainloop(x_ptr + a.to(gl.int64) * I + K0, rows * 0, rows < a + 1, xsum_ptr + a.to(gl.int64) * HSS + K0 // 64,
                      q0_ptr, q1_ptr, s_ptr, z_ptr, slot, n_blk, H, H, 0, KP, False, W_BITS, GROUP, BM, BN, BK, 2)
    if PARTS == 1:
        _down_finish(y, rw_ptr, out_ptr, sum_ptr, tickets_ptr, H, A, a, n_blk, BM, BN, SUM)
    else:
        acc_l: gl.constexpr = acc_layout(BM)
        off = gl.arange(0, BN, layout=gl.SliceLayout(1, acc_l))[:, None] * BM + gl.arange(0, BM, layout=gl.SliceLayout(0, acc_l))[None, :]
        gl.store(ws_ptr + (tile * 2 + part).to(gl.int64) * (BN * BM) + off, y)
        _barrier()  # every thread's stores precede the ticket (a release)
        done = gl.atomic_add(tk_ptr + tile, 1, sem='acq_rel', scope='gpu') + 1
        if done == 2:
            ys = gl.load(ws_ptr + (tile * 2).to(gl.int64) * (BN * BM) + off, cache_modifier='.cg')
            ys += gl.load(ws_ptr + (tile * 2 + 1).to(gl.int64) * (BN * BM) + off, cache_modifier='.cg')
            gl.store(tk_ptr + tile, 0)  # ready for the next launch
            _down_finish(ys, rw_ptr, out_ptr, sum_ptr, tickets_ptr, H, A, a, n_blk, BM, BN, SUM)


@gluon.jit
def _tile_of(q, NT, P: gl.constexpr, topk_ptr, branch_ptr, slot_ptr):
    """(assignment, n-block, branch, slot) of program q of a linear whose assignments have NT tiles of P adjacent K parts
    each: its expert read from the top-k, part p of expert e packed as virtual expert e P + p (`split_gate_up`)."""
    a = q // (NT * P)
    e = gl.load(topk_ptr + a) * P + q % P
    return a, q // P % NT, gl.load(branch_ptr + e), gl.load(slot_ptr + e)


@gluon.jit
def _wait(ready_ptr, a, target):
    "Spin on volatile loads until ready[a] >= target, then one acquire: what the counted tiles stored is visible."
    seen = gl.load(ready_ptr + a, volatile=True)
    while seen < target:
        seen = gl.load(ready_ptr + a, volatile=True)
    gl.atomic_add(ready_ptr + a, 0, sem='acquire', scope='gpu')

'''


def _ptr_names(prefix: str, branches) -> list[list[str]]:
    from mxmoe.codegen import _fields
    return [[f"{prefix}{b}_{f}" for f in _fields(c)] for b, (c, _) in enumerate(branches)]


def _call_ptrs(names: list[str]) -> str:
    have = {n.rsplit('_', 1)[1]: n for n in names}
    return ", ".join(have.get(f, "None") for f in ('q0', 'q1', 's', 'z'))


def single_source(gu_branches, dn_branches) -> str:
    "Source of `single_kernel` for one layer's gate_up and down branches (weight-only Gluon tiles)."
    from mxmoe.kernels import kernel_constants
    gp, dp, fp = _ptr_names('g', gu_branches), _ptr_names('d', dn_branches), _ptr_names('f', dn_branches)
    L = [HEAD, "@gluon.jit(do_not_specialize=['A', 'NTG', 'NTD'])",
         "def single_kernel(x_ptr, inter_ptr, hsum_ptr, sorted_ptr, topk_ptr, rw_ptr, out_ptr, sum_ptr, tickets_ptr,",
         "                  g_branch_ptr, g_slot_ptr, d_branch_ptr, d_slot_ptr, ready_ptr, done_ptr, I, H, TOPK, A, NTG, NTD,",
         f"                  {', '.join(n for b in gp + dp + fp for n in b)},  # f: down's second K part (DP = 2)",
         "                  ws_ptr, tk_ptr, ws2_ptr, tk2_ptr, K0, HSS, PID0,",
         "                  SUM: gl.constexpr, PF: gl.constexpr, P: gl.constexpr, WAIT: gl.constexpr, DP: gl.constexpr):",
         "    pid = gl.program_id(0) + PID0",
         "    if pid < A * NTG * P:",
         "        a, n_blk, branch, slot = _tile_of(pid, NTG, P, topk_ptr, g_branch_ptr, g_slot_ptr)"]
    for b, (c, t) in enumerate(gu_branches):
        k = kernel_constants(c)
        consts = f"W_BITS={k['W_BITS']}, GROUP={k['GROUP']}, BM={t[0]}, BN={t[1]}, BK={t[2]}"
        L += [f"        {'if' if b == 0 else 'elif'} branch == {b}:",
              "            if P == 1:",
              f"                gl_gate_up_tile(x_ptr, x_ptr, hsum_ptr, sorted_ptr, inter_ptr, I, H, TOPK, slot, n_blk, a, a + 1, {_call_ptrs(gp[b])},",
              f"                    XSW=0, HS=True, {consts})",
              "            else:",
              f"                _gate_up_split(x_ptr, hsum_ptr, inter_ptr, ws_ptr, tk_ptr, ready_ptr, I, HSS, H // P, pid // P, a, n_blk, pid % P, slot,",
              f"                               {_call_ptrs(gp[b])}, {consts}, P=P)"]
    L += ["        if P == 1:",
          "            _barrier()  # every thread's stores precede the count (a release)",
          "            gl.atomic_add(ready_ptr + a, 1, sem='release', scope='gpu')",
          "    else:",
          "        q = pid - A * NTG * P",
          "        a, n_blk, branch, slot = _tile_of(q // DP, NTD, 1, topk_ptr, d_branch_ptr, d_slot_ptr)"]
    for b, (c, t) in enumerate(dn_branches):
        k = kernel_constants(c)
        L += [f"        {'if' if b == 0 else 'elif'} branch == {b}:",
              "            if PF:",
              f"                _prefetch_tile({_call_ptrs(dp[b])}, slot, n_blk, H, I, W_BITS={k['W_BITS']}, BN={t[1]})",
              "            if WAIT:",
              "                _wait(ready_ptr, a, NTG)",
              "            if P == 1:",
              f"                gl_down_tile(inter_ptr, hsum_ptr, sorted_ptr, rw_ptr, out_ptr, sum_ptr, tickets_ptr, H, I, A, slot, n_blk, a, a + 1, {_call_ptrs(dp[b])},",
              f"                    W_BITS={k['W_BITS']}, GROUP={k['GROUP']}, BM={t[0]}, BN={t[1]}, BK={t[2]}, SUM=SUM, XSW=2)",
              "            elif DP == 1:",
              f"                _down_split(inter_ptr, hsum_ptr, rw_ptr, out_ptr, sum_ptr, tickets_ptr, ws2_ptr, tk2_ptr, H, I, HSS, A, I, 0, q, a, n_blk, 0, slot,",
              f"                            {_call_ptrs(dp[b])}, W_BITS={k['W_BITS']}, GROUP={k['GROUP']}, BM={t[0]}, BN={t[1]}, BK={t[2]}, SUM=SUM, PARTS=1)",
              "            elif q % 2 == 0:",
              f"                _down_split(inter_ptr, hsum_ptr, rw_ptr, out_ptr, sum_ptr, tickets_ptr, ws2_ptr, tk2_ptr, H, I, HSS, A, K0, 0, q // 2, a, n_blk, 0, slot,",
              f"                            {_call_ptrs(dp[b])}, W_BITS={k['W_BITS']}, GROUP={k['GROUP']}, BM={t[0]}, BN={t[1]}, BK={t[2]}, SUM=SUM, PARTS=2)",
              "            else:",
              f"                _down_split(inter_ptr, hsum_ptr, rw_ptr, out_ptr, sum_ptr, tickets_ptr, ws2_ptr, tk2_ptr, H, I, HSS, A, I - K0, K0, q // 2, a, n_blk, 1, slot,",
              f"                            {_call_ptrs(fp[b])}, W_BITS={k['W_BITS']}, GROUP={k['GROUP']}, BM={t[0]}, BN={t[1]}, BK={t[2]}, SUM=SUM, PARTS=2)"]
    L += ["        if gl.atomic_add(done_ptr + a, 1, sem='acq_rel', scope='gpu') == NTD * DP - 1:  # the last down program: every wait is over",
          "            gl.store(ready_ptr + a, 0)",
          "            gl.store(done_ptr + a, 0)", ""]
    return "\n".join(L)


def load_single(layer):
    "The probe module for a layer's branches (written to a temporary file and imported)."
    path = Path(tempfile.mkdtemp()) / 'single_block.py'
    path.write_text(single_source(layer.gate_up.branches, layer.down.branches))
    spec = importlib.util.spec_from_file_location('single_block', path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def split_gate_up(allocation, wgu, P):
    "gate_up packed with each expert's K features cut into P parts, part p of expert e as virtual expert e P + p."
    from mxmoe.codegen import _pack_linear, quantize_expert
    E, _, K = wgu.shape
    a = {e * P + p: allocation[e] for e in range(E) for p in range(P)}  # may exceed the 255 experts a routed launch takes
    parts = [quantize_expert(wgu[e, :, p * K // P:(p + 1) * K // P].float(), allocation[e]['gate_up'][0]) for e in range(E) for p in range(P)]
    return _pack_linear('gate_up', parts, a, True)


def split_down(allocation, wdn):
    "down packed as two linears, each expert's intermediate features cut in two at a whole group (the first part takes the odd group): (first, second, features of the first)."
    from mxmoe.codegen import _pack_linear, quantize_expert
    E, _, I = wdn.shape
    K0 = (I // 128 + 1) // 2 * 128
    part = lambda lo, hi: _pack_linear('down', [quantize_expert(wdn[e, :, lo:hi].float(), allocation[e]['down'][0]) for e in range(E)], allocation, True)
    return part(0, K0), part(K0, I), K0


class State:
    "Per-layer buffers of the single launch: identity row order, counters, intermediate, sums, output slots, split workspace."
    def __init__(self, layer, T, k, dev='cuda'):
        A, I, H = T * k, layer.intermediate_size, layer.hidden_size
        self.split = {}  # P: gate_up cut into P parts along K (`split_gate_up`)
        self.ws = torch.empty(A * I // 64 * 4 * 2 * 64 * 16, dtype=torch.float32, device=dev)  # up to 4 parts of [2, 64, BM <= 16] a tile
        self.tk = torch.zeros(A * I // 64, dtype=torch.int32, device=dev)
        self.dsplit = None  # down cut in two along K (`split_down`)
        self.ws2 = torch.empty(A * H // 64 * 2 * 64 * 16, dtype=torch.float32, device=dev)  # two parts of [64, BM <= 16] a tile
        self.tk2 = torch.zeros(A * H // 64, dtype=torch.int32, device=dev)
        self.sorted = torch.arange(A, dtype=torch.int32, device=dev)
        self.ready, self.done = (torch.zeros(A, dtype=torch.int32, device=dev) for _ in range(2))
        self.inter = torch.empty(A, I, dtype=torch.bfloat16, device=dev)
        self.hsum = torch.empty(A, I // 64 + 31 & ~31, dtype=torch.float32, device=dev)  # rows of whole 128-byte lines (the split path)
        self.out = torch.empty(A, H, dtype=torch.bfloat16, device=dev)


def single_forward(mod, layer, st, variant, hidden, idx, w):
    "The routed-expert block of one token's hidden states as `single_kernel`."
    from mxmoe.codegen import _storage
    T, H = hidden.shape
    k = idx.shape[1]
    A, I = T * k, layer.intermediate_size
    v = VARIANTS[variant]
    gu, dn = (layer.gate_up if v['p'] == 1 else st.split[v['p']]), layer.down
    (gbn,), (dbn,) = {t[1] for _, t in gu.branches}, {t[1] for _, t in dn.branches}
    ntg, ntd = I // gbn, H // dbn
    total = torch.empty(T, H, dtype=torch.bfloat16, device=hidden.device)
    ptrs = lambda lin: [t for (c, _), p in zip(lin.branches, lin.packed) for t in _storage(c, p)]
    opts = dict(num_warps=4) if v['cap'] is None else dict(num_warps=4, maxnreg=v['cap'])
    role, dp = v.get('role', 3), v.get('dp', 1)
    d0, d1, k0 = (dn, dn, 0) if dp == 1 else st.dsplit
    assert v['p'] > 1 or dp == 1, "the split paths write and read the token sums in rows of their own stride"
    grid = A * (ntg * v['p'] * (role & 1) + ntd * dp * (role >> 1))
    mod.single_kernel[(grid,)](hidden, st.inter, st.hsum, st.sorted, idx.reshape(-1), w.reshape(-1), st.out, total,
                               dn.tickets, gu.branch_of, gu.slot_of, dn.branch_of, dn.slot_of, st.ready, st.done,
                               I, H, k, A, ntg, ntd, *ptrs(gu), *ptrs(d0), *ptrs(d1), st.ws, st.tk, st.ws2, st.tk2, k0, st.hsum.shape[1],
                               0 if role & 1 else A * ntg * v['p'], SUM=k, PF=v['pf'], P=v['p'], WAIT=role == 3, DP=dp, **opts)
    return total


def main():
    p = argparse.ArgumentParser()
    p.add_argument('out')
    p.add_argument('--models', nargs='*', default=list(MODELS))
    p.add_argument('--configs', nargs='*', default=['mixed225', 'w4g128'])
    p.add_argument('--variants', nargs='*', default=list(VARIANTS), choices=list(VARIANTS))
    a = p.parse_args()
    from mxmoe.codegen import moe_experts_forward, normalize_allocation, pack_layer
    rows, t0, T = [], time.time(), 1
    print(f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}, triton {triton.__version__}", flush=True)
    for name in a.models:
        E, H, I, k = MODELS[name]
        wgu, wdn = random_experts(E, H, I)
        qts = quantize_configs(a.configs, lambda c: allocation(c, E, 1, H, I), wgu, wdn)
        sets = routings(T, E, k, H)
        base, _ = bf16_times(sets, wgu, wdn)
        for c in a.configs:
            layer = pack_layer(normalize_allocation(allocation(c, E, T * k / E, H, I)), *qts[c])
            shipped = graph_time([lambda s=s: moe_experts_forward(*s, layer) for s in sets])
            refs = [moe_experts_forward(*s, layer).float() for s in sets]
            mod = load_single(layer)
            st = State(layer, T, k)
            for P in {VARIANTS[v]['p'] for v in a.variants} - {1}:
                st.split[P] = split_gate_up(layer.allocation, wgu, P)
                assert st.split[P].branches == layer.gate_up.branches, (st.split[P].branches, layer.gate_up.branches)
            if any(VARIANTS[v].get('dp', 1) == 2 for v in a.variants):
                st.dsplit = split_down(layer.allocation, wdn)
                assert st.dsplit[0].branches == st.dsplit[1].branches == layer.down.branches
            r = dict(model=name, T=T, config=c, tile_gate_up=layer.gate_up.branches[0][1], tile_down=layer.down.branches[0][1],
                     bf16_us=base * 1e3, shipped_us=shipped * 1e3, shipped_x=base / shipped)
            for v in a.variants:
                whole = VARIANTS[v].get('role', 3) == 3
                err = max(float((single_forward(mod, layer, st, v, *s).float() - ref).abs().max() / ref.abs().max())
                          for s, ref in zip(sets * 8, refs * 8)) if whole else float('nan')  # 32 calls: races show
                torch.cuda.synchronize()
                clean = int(st.ready.abs().sum() + st.done.abs().sum()) == 0
                us = graph_time([lambda s=s: single_forward(mod, layer, st, v, *s) for s in sets]) * 1e3
                st.ready.zero_()  # a gate_up part alone leaves its counts
                r[v] = dict(us=us, x=base * 1e3 / us, over_shipped=shipped * 1e3 / us, rel_err=err, counters_reset=clean)
                print(f"{name:8s} {c:9s} {v:10s} bf16 {base * 1e3:7.1f}us shipped {shipped * 1e3:6.1f}us ({base / shipped:.2f}x) "
                      f"single {us:6.1f}us ({base * 1e3 / us:.2f}x, {shipped * 1e3 / us:.3f}x shipped) err {err:.4f} reset={clean} "
                      f"[{time.time() - t0:.0f}s]", flush=True)
            rows.append(r)
            Path(a.out).write_text(json.dumps(dict(device=torch.cuda.get_device_name(), torch=torch.__version__,
                                                   triton=triton.__version__, rows=rows), indent=1))


if __name__ == '__main__':
    main()
