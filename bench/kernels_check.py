"""Randomized correctness sweep of the generated grouped-GEMM kernels against the torch fp32 reference (GPU).

Each case draws a layer (5-64 experts, every branch of two of `mxmoe.codegen.TEST_GROUPS`, so every config and
mixed tiles inside one launch), shapes (K and N multiples of 16 or not), top-k 1-8, 1-700 tokens and a routing
(uniform, skewed onto one expert, half the experts empty, all tokens on one expert), then compares
`moe_experts_forward` with `moe_experts_reference` built from the same packed weights, after poisoning free GPU
memory with NaN (batches of at most `FUSED_SUM_MAX` assignments with top-k > 1 sum inside the down launch). Kernels are compiled first in parallel worker processes (Triton's disk cache keeps them).
Before the cases, the Gluon unpacking (`mxmoe.gluon._codes`) of random fragment-packed codes of 1-4 bits must give
every code exactly.

    PYTHONPATH=. python bench/kernels_check.py --cases 520 --workers 6 --out results.json
"""
import argparse, json, os, sys, time
import multiprocessing as mp
import torch
from triton.experimental import gluon
from triton.experimental.gluon import language as gl
from mxmoe.gluon import _codes, acc_layout, word_layout
from mxmoe.kernels import gluon_only, pack_planes


def _precompile(task):
    "Compile the kernels one case shape needs, by running it once."
    from mxmoe.codegen import TEST_GROUPS, make_case, moe_experts_forward
    gi, (H, I), k = task
    h, i, w, layer = make_case(5, H, I, k, 3, TEST_GROUPS[gi], TEST_GROUPS[gi], 'uniform', 0)
    moe_experts_forward(h, i, w, layer)
    torch.cuda.synchronize()
    return task


def _run(seeds):
    "Check the cases of `seeds`; returns one record per case."
    from mxmoe.codegen import TEST_GROUPS, forward_error, forward_tolerance, fused_sum, random_case
    out = []
    for s in seeds:
        h, i, w, layer, desc = random_case(s, TEST_GROUPS)
        err, tol = forward_error(h, i, w, layer), forward_tolerance(layer)
        out.append({**desc, 'gluon': [layer.gate_up.gluon, layer.down.gluon], 'prefill': [layer.gate_up.prefill, layer.down.prefill],
                    'eight_rows': any(gluon_only(t) for l in (layer.gate_up, layer.down) for _, t in l.branches), 'fused_sum': fused_sum(desc['T'], desc['k']),
                    'err': err, 'tol': tol, 'ok': err < tol})
    return out


@gluon.jit
def unpack_kernel(w0_ptr, w1_ptr, out_ptr, W_BITS: gl.constexpr):
    "`_codes` of one group's words [64, 4 b] (two planes for 3 bits), written as bf16 [64, 128]."
    B0: gl.constexpr = 2 if W_BITS == 3 else W_BITS
    w_l0: gl.constexpr = word_layout(64, B0)
    w_l1: gl.constexpr = word_layout(64, 1)
    a_l: gl.constexpr = gl.DotOperandLayout(operand_index=0, parent=acc_layout(16), k_width=2)
    o_l: gl.constexpr = gl.BlockedLayout([1, 8], [4, 8], [4, 1], [1, 0])
    r0, c0 = gl.arange(0, 64, layout=gl.SliceLayout(1, w_l0)), gl.arange(0, 4 * B0, layout=gl.SliceLayout(0, w_l0))
    r1, c1 = gl.arange(0, 64, layout=gl.SliceLayout(1, w_l1)), gl.arange(0, 4, layout=gl.SliceLayout(0, w_l1))
    v = _codes(gl.load(w0_ptr + r0[:, None] * (4 * B0) + c0[None, :]), gl.load(w1_ptr + r1[:, None] * 4 + c1[None, :]),
               W_BITS, 64, a_l)
    ro, co = gl.arange(0, 64, layout=gl.SliceLayout(1, o_l)), gl.arange(0, 128, layout=gl.SliceLayout(0, o_l))
    gl.store(out_ptr + ro[:, None] * 128 + co[None, :], gl.convert_layout(v, o_l))


def check_unpack() -> dict:
    "{bits: codes the Gluon unpacking got wrong} for random 64 x 128 codes of 1-4 bits (3 bits as the 2-bit and 1-bit planes of `split_nibbles`)."
    wrong = {}
    for bits in (1, 2, 3, 4):
        q = torch.randint(0, 2 ** bits, (64, 128), dtype=torch.int32, generator=torch.Generator().manual_seed(bits))
        planes = pack_planes(q, bits, 'fragment')
        planes = [p[0, 0] for p in planes] + [torch.zeros(64, 4, dtype=torch.int32)] * (2 - len(planes))  # [64, 4 b] words of block 0, group 0
        out = torch.empty(64, 128, dtype=torch.bfloat16, device='cuda')
        unpack_kernel[(1,)](*(w.cuda().contiguous() for w in planes), out, bits, num_warps=4)
        wrong[bits] = int((out.float().cpu() - 128 != q.float()).sum())
    return wrong


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--cases', type=int, default=520)
    p.add_argument('--workers', type=int, default=6)
    p.add_argument('--out', default='kernels_check.json')
    a = p.parse_args()
    from mxmoe.codegen import FUSED_SUM_MAX, TEST_GROUPS
    ctx = mp.get_context('spawn')
    t0 = time.time()
    unpack_wrong = check_unpack()
    print('Gluon unpacking, wrong codes by bits:', unpack_wrong, flush=True)
    tasks = [(g, shape, k) for g in range(len(TEST_GROUPS)) for shape in [(256, 384), (200, 136)] for k in (1, 2)]
    with ctx.Pool(min(len(tasks), os.cpu_count())) as pool:
        for t in pool.imap_unordered(_precompile, tasks): print('compiled', t, f'{time.time() - t0:.0f}s', flush=True)
    t1 = time.time()
    chunks = [list(range(w, a.cases, a.workers)) for w in range(a.workers)]
    with ctx.Pool(a.workers) as pool: recs = sorted((r for rs in pool.map(_run, chunks) for r in rs), key=lambda r: r['seed'])
    bad = [r for r in recs if not r['ok']]
    by = {}
    for r in recs: by.setdefault(r['tol'], []).append(r['err'])
    summary = {'cases': len(recs), 'failed': len(bad), 'unpack_wrong_codes': unpack_wrong, 'compile_s': t1 - t0, 'check_s': time.time() - t1,
               'max_err_by_tol': {str(t): max(e) for t, e in by.items()}, 'cases_by_tol': {str(t): len(e) for t, e in by.items()},
               'cases_with_gluon_launch': sum(any(r['gluon']) for r in recs),
               'max_err_gluon': max([r['err'] for r in recs if any(r['gluon'])], default=None),
               'cases_with_prefill_launch': sum(any(r['prefill']) for r in recs),
               'max_err_prefill': max([r['err'] for r in recs if any(r['prefill'])], default=None),
               'cases_with_8_row_tile': sum(r['eight_rows'] for r in recs),
               'max_err_8_row_tile': max([r['err'] for r in recs if r['eight_rows']], default=None),
               'fused_sum_max': FUSED_SUM_MAX, 'cases_with_fused_sum': sum(r['fused_sum'] for r in recs),
               'max_err_fused_sum': max([r['err'] for r in recs if r['fused_sum']], default=None)}
    json.dump({'summary': summary, 'device': torch.cuda.get_device_name(), 'torch': torch.__version__,
               'triton': __import__('triton').__version__, 'cases': recs}, open(a.out, 'w'), indent=1)
    print(json.dumps(summary, indent=1))
    for r in bad[:20]: print('FAILED', r)
    sys.exit(1 if bad or any(unpack_wrong.values()) else 0)


if __name__ == '__main__': main()
