"""issue #6, one token: the whole routed-expert block as one launch with no routing launch (a probe; GPU).

At one token the shipped block is three dependent launches (routing with the token sums, gate_up, down), each paying
its start and its first copies' latency. With one token the k assignments are k distinct experts, so no sort is
needed: program p < k NTG runs gate_up tile p % NTG of assignment p // NTG (its expert read from the top-k), the rest
run down's tiles; a down tile waits until its assignment's NTG gate_up tiles have counted themselves in (release /
acquire at GPU scope), the last down tile of an assignment resets its counters. gate_up takes its tokens' sums with
the wgmma on ones (XSW = 0: there is no routing launch to make them); down reads gate_up's (XSW = 2) and sums the k
slots itself (`sum_topk`). Variants: `single` as said; `pf` down tiles first ask L2 for their whole weight stream
(codes, scales, zeros), then wait, so that their copies hit L2 once gate_up is done; `cap`: a 128-register cap on
the whole kernel (down's own cap).

Output: per shape and config, the bf16 block, the shipped block and each variant (CUDA-graph replays over
`bench_grouped.ROT` routings, as `bench_grouped.py`), and each variant's largest error relative to the shipped
output's largest value.

    PYTHONPATH=. python bench/single_probe.py OUT.json [--models qwen15 ...] [--configs mixed225 w4g128] [--variants single pf ...]
"""
import argparse, importlib.util, json, sys, tempfile, time
from pathlib import Path
import torch
import triton

sys.path.insert(0, str(Path(__file__).parent))
from bench_grouped import MODELS, allocation, bf16_times, graph_time, quantize_configs, random_experts, routings  # noqa: E402
from chain_probe import L2_PREFETCH_FNS  # noqa: E402

VARIANTS = {'single': dict(pf=False, cap=None), 'single_cap': dict(pf=False, cap=128),
            'pf': dict(pf=True, cap=None), 'pf_cap': dict(pf=True, cap=128)}

HEAD = '''from triton.experimental import gluon
from triton.experimental.gluon import language as gl
from mxmoe.gluon import gate_up_tile as gl_gate_up_tile, down_tile as gl_down_tile, _barrier


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
def _tile_of(q, NT, topk_ptr, branch_ptr, slot_ptr):
    "(assignment, n-block, branch, slot) of a linear's tile q when each assignment has NT tiles: its expert read from the top-k."
    a = q // NT
    e = gl.load(topk_ptr + a)
    return a, q % NT, gl.load(branch_ptr + e), gl.load(slot_ptr + e)


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
    gp, dp = _ptr_names('g', gu_branches), _ptr_names('d', dn_branches)
    L = [HEAD, "@gluon.jit(do_not_specialize=['A', 'NTG', 'NTD'])",
         "def single_kernel(x_ptr, inter_ptr, hsum_ptr, sorted_ptr, topk_ptr, rw_ptr, out_ptr, sum_ptr, tickets_ptr,",
         "                  g_branch_ptr, g_slot_ptr, d_branch_ptr, d_slot_ptr, ready_ptr, done_ptr, I, H, TOPK, A, NTG, NTD,",
         f"                  {', '.join(n for b in gp + dp for n in b)},",
         "                  SUM: gl.constexpr, PF: gl.constexpr):",
         "    pid = gl.program_id(0)",
         "    if pid < A * NTG:",
         "        a, n_blk, branch, slot = _tile_of(pid, NTG, topk_ptr, g_branch_ptr, g_slot_ptr)"]
    for b, (c, t) in enumerate(gu_branches):
        k = kernel_constants(c)
        L += [f"        {'if' if b == 0 else 'elif'} branch == {b}:",
              f"            gl_gate_up_tile(x_ptr, x_ptr, hsum_ptr, sorted_ptr, inter_ptr, I, H, TOPK, slot, n_blk, a, a + 1, {_call_ptrs(gp[b])},",
              f"                W_BITS={k['W_BITS']}, GROUP={k['GROUP']}, XSW=0, HS=True, BM={t[0]}, BN={t[1]}, BK={t[2]})"]
    L += ["        _barrier()  # every thread's stores precede the count (a release)",
          "        gl.atomic_add(ready_ptr + a, 1, sem='release', scope='gpu')",
          "    else:",
          "        a, n_blk, branch, slot = _tile_of(pid - A * NTG, NTD, topk_ptr, d_branch_ptr, d_slot_ptr)"]
    for b, (c, t) in enumerate(dn_branches):
        k = kernel_constants(c)
        L += [f"        {'if' if b == 0 else 'elif'} branch == {b}:",
              "            if PF:",
              f"                _prefetch_tile({_call_ptrs(dp[b])}, slot, n_blk, H, I, W_BITS={k['W_BITS']}, BN={t[1]})",
              "            _wait(ready_ptr, a, NTG)",
              f"            gl_down_tile(inter_ptr, hsum_ptr, sorted_ptr, rw_ptr, out_ptr, sum_ptr, tickets_ptr, H, I, A, slot, n_blk, a, a + 1, {_call_ptrs(dp[b])},",
              f"                W_BITS={k['W_BITS']}, GROUP={k['GROUP']}, BM={t[0]}, BN={t[1]}, BK={t[2]}, SUM=SUM, XSW=2)"]
    L += ["        if gl.atomic_add(done_ptr + a, 1, sem='acq_rel', scope='gpu') == NTD - 1:  # the last down tile: every wait is over",
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


class State:
    "Per-layer buffers of the single launch: identity row order, counters, intermediate, sums, output slots."
    def __init__(self, layer, T, k, dev='cuda'):
        A, I, H = T * k, layer.intermediate_size, layer.hidden_size
        self.sorted = torch.arange(A, dtype=torch.int32, device=dev)
        self.ready, self.done = (torch.zeros(A, dtype=torch.int32, device=dev) for _ in range(2))
        self.inter = torch.empty(A, I, dtype=torch.bfloat16, device=dev)
        self.hsum = torch.empty(A, I // 64, dtype=torch.float32, device=dev)
        self.out = torch.empty(A, H, dtype=torch.bfloat16, device=dev)


def single_forward(mod, layer, st, variant, hidden, idx, w):
    "The routed-expert block of one token's hidden states as `single_kernel`."
    from mxmoe.codegen import _storage
    T, H = hidden.shape
    k = idx.shape[1]
    A, I = T * k, layer.intermediate_size
    gu, dn = layer.gate_up, layer.down
    (gbn,), (dbn,) = {t[1] for _, t in gu.branches}, {t[1] for _, t in dn.branches}
    ntg, ntd = I // gbn, H // dbn
    total = torch.empty(T, H, dtype=torch.bfloat16, device=hidden.device)
    ptrs = lambda lin: [t for (c, _), p in zip(lin.branches, lin.packed) for t in _storage(c, p)]
    v = VARIANTS[variant]
    opts = dict(num_warps=4) if v['cap'] is None else dict(num_warps=4, maxnreg=v['cap'])
    mod.single_kernel[(A * (ntg + ntd),)](hidden, st.inter, st.hsum, st.sorted, idx.reshape(-1), w.reshape(-1), st.out, total,
                                         dn.tickets, gu.branch_of, gu.slot_of, dn.branch_of, dn.slot_of, st.ready, st.done,
                                         I, H, k, A, ntg, ntd, *ptrs(gu), *ptrs(dn), SUM=k, PF=v['pf'], **opts)
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
            mod = load_single(layer)
            st = State(layer, T, k)
            r = dict(model=name, T=T, config=c, tile_gate_up=layer.gate_up.branches[0][1], tile_down=layer.down.branches[0][1],
                     bf16_us=base * 1e3, shipped_us=shipped * 1e3, shipped_x=base / shipped)
            for v in a.variants:
                err = max(float((single_forward(mod, layer, st, v, *s).float() - moe_experts_forward(*s, layer).float()).abs().max()
                                / moe_experts_forward(*s, layer).float().abs().max()) for s in sets)
                torch.cuda.synchronize()
                clean = int(st.ready.abs().sum() + st.done.abs().sum()) == 0
                us = graph_time([lambda s=s: single_forward(mod, layer, st, v, *s) for s in sets]) * 1e3
                r[v] = dict(us=us, x=base * 1e3 / us, over_shipped=shipped * 1e3 / us, rel_err=err, counters_reset=clean)
                print(f"{name:8s} {c:9s} {v:10s} bf16 {base * 1e3:7.1f}us shipped {shipped * 1e3:6.1f}us ({base / shipped:.2f}x) "
                      f"single {us:6.1f}us ({base * 1e3 / us:.2f}x, {shipped * 1e3 / us:.3f}x shipped) err {err:.4f} reset={clean} "
                      f"[{time.time() - t0:.0f}s]", flush=True)
            rows.append(r)
            Path(a.out).write_text(json.dumps(dict(device=torch.cuda.get_device_name(), torch=torch.__version__,
                                                   triton=triton.__version__, rows=rows), indent=1))


if __name__ == '__main__':
    main()
