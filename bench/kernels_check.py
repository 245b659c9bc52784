"""Randomized correctness sweep of the generated grouped-GEMM kernels against the torch fp32 reference (GPU).

Each case draws a layer (5-64 experts, every branch of two of `mxmoe.codegen.TEST_GROUPS`, so every config and
mixed tiles inside one launch), shapes (K and N multiples of 16 or not), top-k 1-8, 1-700 tokens and a routing
(uniform, skewed onto one expert, half the experts empty, all tokens on one expert), then compares
`moe_experts_forward` with `moe_experts_reference` built from the same packed weights, after poisoning free GPU
memory with NaN. Kernels are compiled first in parallel worker processes (Triton's disk cache keeps them).

    PYTHONPATH=. python bench/kernels_check.py --cases 520 --workers 6 --out results.json
"""
import argparse, json, os, sys, time
import multiprocessing as mp
import torch


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
    from mxmoe.codegen import TEST_GROUPS, forward_error, forward_tolerance, random_case
    out = []
    for s in seeds:
        h, i, w, layer, desc = random_case(s, TEST_GROUPS)
        err, tol = forward_error(h, i, w, layer), forward_tolerance(layer)
        out.append({**desc, 'gluon': [layer.gate_up.gluon, layer.down.gluon], 'err': err, 'tol': tol, 'ok': err < tol})
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--cases', type=int, default=520)
    p.add_argument('--workers', type=int, default=6)
    p.add_argument('--out', default='kernels_check.json')
    a = p.parse_args()
    from mxmoe.codegen import TEST_GROUPS
    ctx = mp.get_context('spawn')
    t0 = time.time()
    tasks = [(g, shape, k) for g in range(len(TEST_GROUPS)) for shape in [(256, 384), (200, 136)] for k in (1, 2)]
    with ctx.Pool(min(len(tasks), os.cpu_count())) as pool:
        for t in pool.imap_unordered(_precompile, tasks): print('compiled', t, f'{time.time() - t0:.0f}s', flush=True)
    t1 = time.time()
    chunks = [list(range(w, a.cases, a.workers)) for w in range(a.workers)]
    with ctx.Pool(a.workers) as pool: recs = sorted((r for rs in pool.map(_run, chunks) for r in rs), key=lambda r: r['seed'])
    bad = [r for r in recs if not r['ok']]
    by = {}
    for r in recs: by.setdefault(r['tol'], []).append(r['err'])
    summary = {'cases': len(recs), 'failed': len(bad), 'compile_s': t1 - t0, 'check_s': time.time() - t1,
               'max_err_by_tol': {str(t): max(e) for t, e in by.items()}, 'cases_by_tol': {str(t): len(e) for t, e in by.items()},
               'cases_with_gluon_launch': sum(any(r['gluon']) for r in recs),
               'max_err_gluon': max([r['err'] for r in recs if any(r['gluon'])], default=None)}
    json.dump({'summary': summary, 'device': torch.cuda.get_device_name(), 'torch': torch.__version__,
               'triton': __import__('triton').__version__, 'cases': recs}, open(a.out, 'w'), indent=1)
    print(json.dumps(summary, indent=1))
    for r in bad[:20]: print('FAILED', r)
    sys.exit(1 if bad else 0)


if __name__ == '__main__': main()
