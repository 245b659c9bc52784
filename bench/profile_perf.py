"""Profile the generated MoE kernels for `mxmoe.perf` and validate the block-time model on held-out cases (GPU).

One run, resumable: it writes OUT/<device>.json (the profile table) and OUT/<device>.validation.json (measured
validation cases) as it goes, and with --resume DIR it skips every entry and case already in DIR's files.
Order of work: routing / activation-prologue / top-k-sum grids, the (config, tile) pairs of the priority tiles
(those the validation groups use; a pair the Gluon decode kernel runs is profiled in it and in the Triton kernel),
the mixed-config calibration kernels (`perf.MIXED_CALIBRATION`), calibration blocks, the validation cases, then
the remaining tiles and the host probes (a small tile inside a kernel with a large-tile branch) while --budget-s
lasts. Triton kernels compile in worker processes ahead of their use.
The shipped H100 table took two runs: the full grid (134 s), then --tiles 16,64,128 64,128,128 128,128,128
with --resume for the points added later (76 s).

    PYTHONPATH=. python bench/profile_perf.py --out OUT [--resume DIR] [--budget-s 420] [--workers 14]

--heldout: measure only the held-out cases (`perf.heldout_cases`: fresh groups and seed, drawn after the model was
frozen) against the shipped table, into OUT/<device>.heldout.json with each case's predicted µs; about 3-4 minutes
on an H100 (12 group kernels compiled in parallel, 72 cases). --quick draws and predicts them on CPU, measuring nothing.
--shapes profiles other layer shapes, e.g. Qwen3-30B-A3B: --shapes qwen3moe:128,2048,768,8.
"""
import argparse, json, os, tempfile, time, traceback
import multiprocessing as mp
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
import numpy as np
import pandas as pd
import torch

PRIORITY_TILES = [(16, 64, 128), (64, 128, 128), (128, 128, 128)]
HOST_PROBES = [  # (config, small tile) timed inside a kernel that also holds a large-tile branch
    (c, (16, 64, 128), ('w4g128', (64, 128, 128))) for c in ('w4g128', 'w2g128', 'w8a8', 'bf16')]


def _warm(task):
    "Worker: compile the kernels of one task; returns (task, seconds, error)."
    from mxmoe.perf import warm_kernels, warm_route
    t = time.time()
    try:
        warm_kernels(*task[1]) if task[0] == 'alloc' else warm_route(*task[1])
        return task, time.time() - t, None
    except Exception as e:
        return task, time.time() - t, repr(e)[:400]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--out', required=True)
    ap.add_argument('--resume', default=None, help='folder holding a partial <device>.json / .validation.json')
    ap.add_argument('--budget-s', type=float, default=420)
    ap.add_argument('--validation-s', type=float, default=110, help='time kept for the validation cases')
    ap.add_argument('--workers', type=int, default=max(1, min(14, (os.cpu_count() or 2) - 2)))
    ap.add_argument('--configs', nargs='*', default=None)
    ap.add_argument('--tiles', nargs='*', default=None, help='tiles as BM,BN,BK')
    ap.add_argument('--per-group', type=int, default=8)
    ap.add_argument('--shapes', nargs='*', default=None, help="layer shapes as NAME:E,H,I,k (default: the embedded model's and qwen15)")
    ap.add_argument('--heldout', action='store_true', help='measure the held-out cases only')
    ap.add_argument('--quick', action='store_true', help='with --heldout: draw and predict the cases on CPU, measure nothing')
    args = ap.parse_args()
    args.heldout = args.heldout or args.quick
    t0 = time.time()
    end = t0 + args.budget_s
    os.environ.setdefault('MXMOE_KERNEL_DIR', tempfile.mkdtemp(prefix='mxmoe_kernels_'))
    from mxmoe.quant import CONFIGS
    from mxmoe.kernels import TILES, ROUTE_SMALL, check_tile, gluon_only, TileError
    from mxmoe.codegen import LINEARS, pack_layer, quantize_expert
    from mxmoe import perf as P
    from mxmoe.gluon import gluon_branch, prefill_linear
    from mxmoe.core import save_json
    log = lambda *a: print(f"[{time.time() - t0:6.1f}s]", *a, flush=True)
    shapes = ([P.LayerShape(n, *map(int, v.split(','))) for n, v in (s.split(':') for s in args.shapes)] if args.shapes
              else [P.embedded_shape(), P.QWEN15])
    by_name = {s.name: s for s in shapes}
    real_file = P.perf_dir() / 'embedded_routing.npy'
    real = np.load(real_file) if real_file.is_file() and shapes[0].name == 'embedded' else None
    if args.heldout:
        model = P.load_perf_model(P.table_path(P.DEFAULT_DEVICE if args.quick else torch.cuda.get_device_name()))
        cases = P.heldout_cases(model, shapes, real is not None)
        groups = {tuple((c, tuple(t)) for c, t in case['branches']) for case in cases}
        log(f"{len(cases)} held-out cases, {len(groups)} groups (= compiled kernels per linear), table {model.table['device']}")
    if args.quick:
        for case in cases:
            s = by_name[case['shape']]
            case['predicted_us'] = float(np.mean([model.block_us(s, np.bincount(r.ravel(), minlength=s.n_experts), P.case_allocation(case, s), case['tokens'])
                                                  for r in P.case_routings(case, s, 2, real)]))
        log('predicted µs by regime:', {k: round(v, 1) for k, v in pd.DataFrame(cases).groupby('regime').predicted_us.median().items()},
            '(median); --quick measures nothing')
        return

    out = Path(args.out); out.mkdir(parents=True, exist_ok=True)
    dev = torch.cuda.get_device_name()
    slug = P.device_slug(dev)
    tpath, vpath = out / f"{slug}.json", out / f"{slug}.{'heldout' if args.heldout else 'validation'}.json"
    table = P.new_table()
    val = dict(device=dev, torch=table['torch'], triton=table['triton'], date=table['date'], cases=[])
    if args.heldout: val.update(table=P.table_path(dev).name, seed=P.HELDOUT_SEED, table_date=model.table['date'])
    if args.resume:
        r = Path(args.resume)
        if (r / tpath.name).is_file(): table = P.read_table(r / tpath.name)
        if (r / vpath.name).is_file(): val = json.loads((r / vpath.name).read_text())
    table['errors'] = []  # this run's
    done = {P.entry_key(e) for e in table['entries']}
    done_cases = {c['case'] for c in val['cases']}
    log(f"{dev}: torch {torch.__version__}, triton {table['triton']}; resumed {len(done)} entries, {len(done_cases)} cases")
    last_save = [0.0]
    def save(force=False):
        if force or time.time() - last_save[0] > 10:
            if not args.heldout: save_json(table, tpath, compact=True)
            save_json(val, vpath, compact=True); last_save[0] = time.time()

    configs = args.configs or list(CONFIGS)
    tiles = [tuple(int(v) for v in t.split(',')) for t in args.tiles] if args.tiles else TILES
    def ok(c, t):
        try: check_tile(c, t); return True
        except TileError: return False
    first = [(c, t) for t in PRIORITY_TILES if t in tiles for c in configs if ok(c, t)]
    rest = [(c, t) for t in tiles if t not in PRIORITY_TILES for c in configs if ok(c, t)]
    if not args.heldout: cases = P.validation_cases(shapes, args.per_group, real is not None)
    log(f"{len(first)} priority pairs, {len(rest)} other pairs, {len(cases)} validation cases, real routing: {real is not None}")

    # compile ahead, in the order of use
    if args.heldout:  # the cases' group kernels and routing block sizes only
        tasks = [('alloc', (g, g)) for g in [[(c, tuple(t)) for c, t in case['branches']] for case in cases]]
        tasks += [('route', (case['tokens'] * by_name[case['shape']].top_k, by_name[case['shape']].n_experts)) for case in cases
                  if case['tokens'] * by_name[case['shape']].top_k <= ROUTE_SMALL]
    else:
        tasks = [('route', (a, s.n_experts)) for s in shapes + [P.DSV2LITE] for a in P.ROUTE_GRID if a <= ROUTE_SMALL]
        tasks += [('alloc', ([p], [p])) for p in first]
        tasks += [('alloc', (g, g)) for g in P.MIXED_CALIBRATION + P.VALIDATION_GROUPS]
        tasks += [('alloc', ([p], [p])) for p in rest]
        tasks += [('alloc', ([(c, t), h], [(c, t), h])) for c, t, h in HOST_PROBES]
    tasks = list(dict.fromkeys((k, tuple(tuple(x) if isinstance(x, list) else x for x in a)) for k, a in tasks))
    pool = ProcessPoolExecutor(max_workers=args.workers, mp_context=mp.get_context('spawn'))
    futs = {t: pool.submit(_warm, t) for t in tasks}
    def ready(task):
        f = futs.get(task)
        if f is None: return
        try: t, sec, err = f.result()
        except Exception as e: err = repr(e)[:400]  # a broken pool: the main process compiles what it needs itself
        if err:
            log('compile error', task, err); table['errors'].append(dict(task=str(task), error=err))
            gu, dn = task[1] if task[0] == 'alloc' else ((), ())
            if len(gu) == 1 and gu == dn and 'OutOfResources' in err:  # this (config, tile) cannot run here at all
                P.add_entries(table, [dict(kind='unsupported', config=gu[0][0], tile=list(gu[0][1]), error=err)])

    # weights, quantized once per (shape, config)
    W, Q = {}, {}
    def weights(s):
        if s.name not in W:
            g = torch.Generator(device='cuda').manual_seed(0)
            W[s.name] = (torch.randn(s.n_experts, 2 * s.intermediate, s.hidden, device='cuda', generator=g) * .02,
                         torch.randn(s.n_experts, s.hidden, s.intermediate, device='cuda', generator=g) * .02)
        return W[s.name]
    def quantized(s, c):
        if (s.name, c) not in Q:
            gu, dn = weights(s)
            Q[s.name, c] = ([quantize_expert(gu[e], c) for e in range(s.n_experts)], [quantize_expert(dn[e], c) for e in range(s.n_experts)])
        return Q[s.name, c]
    def layer_of(s, alloc, gluon=True):
        return pack_layer(alloc, [quantized(s, alloc[e]['gate_up'][0])[0][e] for e in range(s.n_experts)],
                          [quantized(s, alloc[e]['down'][0])[1][e] for e in range(s.n_experts)], gluon)

    # 1. fixed costs
    for t in [t for t in tasks if t[0] == 'route']: ready(t)
    for s in [] if args.heldout else shapes + [P.DSV2LITE]:
        try:
            ents = P.profile_fixed(s, done)
            P.add_entries(table, ents); done.update(P.entry_key(e) for e in ents)
        except Exception: log('fixed failed', s.name, traceback.format_exc()[-600:])
    save(True); log('fixed costs done')

    def also_triton(c, t):
        "Whether a Gluon kernel runs (c, t) alone, so that the Triton kernel's profile (inside launches it cannot take) is measured too (tiles of 16 rows or more: the Triton kernel's)."
        return (gluon_branch(c, t) and not gluon_only(t)) or prefill_linear([(c, t)], 128)

    def profile_pair(c, t, host=None, gluon=True):
        "Profile (c, t) in the kernel a layer packs it into (gluon=False: the Triton kernel even where the Gluon one could run)."
        task = ('alloc', ((c, t), host) if host else ((c, t),))
        ready(('alloc', (task[1], task[1])))
        for s in shapes:
            kind = lambda l: P.kernel_kind([(c, t)] + ([host] if host else []), l, s.hidden, s.intermediate) if gluon else None
            keys = [P.entry_key(dict(kind='linear', config=c, tile=list(t), linear=l, hidden=s.hidden, intermediate=s.intermediate,
                                     host=None if host is None else [host[0], list(host[1])], kernel=kind(l), point=p['point']))
                    for l in LINEARS for p in P.linear_points(s.n_experts - (host is not None), t, P.linear_dims(l, s.hidden, s.intermediate)[1])]
            if all(k in done for k in keys): continue
            E = s.n_experts
            alloc = {e: {l: (host if host and e == E - 1 else (c, t)) for l in LINEARS} for e in range(E)}
            try:
                layer = layer_of(s, alloc, gluon)
                for l in LINEARS:
                    ents = P.profile_linear(layer, s, l, c, t, host, done)
                    P.add_entries(table, ents); done.update(P.entry_key(e) for e in ents)
                del layer
            except Exception:
                msg = traceback.format_exc()[-800:]
                log('profile failed', c, t, host, s.name, msg); table['errors'].append(dict(task=str((c, t, host, s.name)), error=msg))
        save()

    # 2. priority pairs
    for i, (c, t) in enumerate([] if args.heldout else first):
        if time.time() > end - args.validation_s: log('budget: stopping priority pairs at', i); break
        profile_pair(c, t)
        if also_triton(c, t): profile_pair(c, t, gluon=False)
        if i % 6 == 5: log(f'priority pairs {i + 1}/{len(first)}')
    save(True)

    # 2b. mixed-config calibration kernels
    for g in [] if args.heldout else P.MIXED_CALIBRATION:
        ready(('alloc', (tuple(g),) * 2))
        for s in shapes:
            try:
                layer = layer_of(s, {e: {l: g[e % len(g)] for l in LINEARS} for e in range(s.n_experts)})
                for l in LINEARS:
                    ents = P.profile_mixed(layer, s, l, g, done)
                    P.add_entries(table, ents); done.update(P.entry_key(e) for e in ents)
                del layer
            except Exception: log('mixed failed', g, s.name, traceback.format_exc()[-600:])
    save(True); log('mixed calibration done')

    # 3. calibration blocks
    for s in [] if args.heldout else shapes:
        for c, t in P.CALIBRATION:
            todo = [T for T in P.CALIBRATION_TOKENS if ('block', s.name, c, t, T) not in done]
            if not todo: continue
            layer = layer_of(s, {e: {l: (c, t) for l in LINEARS} for e in range(s.n_experts)})
            for T in todo:
                try:
                    e = P.measure_block_entry(s, layer, c, t, T)
                    P.add_entries(table, [e]); done.add(P.entry_key(e))
                except Exception: log('block failed', s.name, c, T, traceback.format_exc()[-600:])
            del layer
    save(True); log('calibration blocks done')

    # 4. validation
    for case in cases:
        if case['case'] in done_cases: continue
        if time.time() > end - 5: log('budget: stopping validation'); break
        ready(('alloc', (tuple((c, tuple(t)) for c, t in case['branches']),) * 2))
        s = by_name[case['shape']]
        try:
            layer = layer_of(s, P.case_allocation(case, s))
            m = P.measure_case(case, s, layer, real)
            if args.heldout: m['predicted_us'] = float(np.mean([model.block_us(s, n, layer.allocation, case['tokens']) for n in m['counts']]))
            val['cases'].append(m); done_cases.add(case['case'])
            del layer
        except Exception: log('case failed', case, traceback.format_exc()[-800:])
        save()
    save(True); log(f'validation: {len(val["cases"])} cases')

    # 5. remaining tiles, then the mixed-kernel probes
    for i, (c, t) in enumerate([] if args.heldout else rest):
        if time.time() > end - 15: log('budget: stopping other pairs at', i, 'of', len(rest)); break
        profile_pair(c, t)
        if also_triton(c, t): profile_pair(c, t, gluon=False)
    for c, t, h in [] if args.heldout else HOST_PROBES:
        if time.time() > end - 10: log('budget: stopping host probes'); break
        profile_pair(c, t, h)
    save(True)
    pool.shutdown(wait=False, cancel_futures=True)

    # summary
    n_lin = sum(e['kind'] == 'linear' for e in table['entries'])
    log(f"table: {len(table['entries'])} entries ({n_lin} linear points), {len(table['errors'])} errors; {len(val['cases'])} cases")
    try:
        if not args.heldout: model = P.PerfModel(table)
        df = P.validation_frame(model, val)
        log('MAPE block model:', P.mape(df).round(2).to_dict(), ' additive:', P.mape(df, 'ape_additive').round(2).to_dict())
    except Exception: log('summary failed', traceback.format_exc()[-800:])


if __name__ == '__main__':
    main()
