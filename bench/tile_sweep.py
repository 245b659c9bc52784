"""Decode tile sweep for weight-only configs with `mxmoe.codegen.time_linear` (GPU): each tile's gate_up + down
time on a Qwen1.5-MoE layer with 40 experts hit, at 1 and 4 tokens per expert. Kernels are compiled first in
parallel worker processes (2 experts each, to save memory); timing is serial. `bench_grouped.py --decode-tile`
reruns the benchmark's decode rows with a chosen tile.

    PYTHONPATH=. python bench/tile_sweep.py --out tiles.json
"""
import argparse, json, os, time
import multiprocessing as mp
import torch

from mxmoe.kernels import TILES as ALL_TILES
TILES = [t for t in ALL_TILES if t[0] == 16]  # the decode tiles (the committed run also timed (16,16,128), (16,32,256))
CONFIGS = ['w4g128', 'w2g128']
H, I, E = 2048, 1408, 40  # Qwen1.5-MoE layer, 40 experts hit (a 16-token decode step)


def _time(task, rep=1):
    from mxmoe.codegen import time_linear
    c, t, lin, tpe = task
    return task, time_linear(c, t, lin, H, I, tpe, n_experts=E if rep > 1 else 2, rep_ms=rep)  # compile: 2 experts


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--out', default='tiles.json')
    a = p.parse_args()
    t0 = time.time()
    tasks = [(c, t, lin, tpe) for c in CONFIGS for t in TILES for lin in ('gate_up', 'down') for tpe in (1, 4)]
    with mp.get_context('spawn').Pool(12) as pool:
        list(pool.imap_unordered(_time, [x for x in tasks if x[3] == 1]))
    print(f'compiled in {time.time() - t0:.0f}s', flush=True)
    res = [dict(config=c, tile=list(t), linear=lin, tokens_per_expert=tpe, ms=_time((c, t, lin, tpe), 50)[1])
           for c, t, lin, tpe in tasks]
    best = {}
    for c in CONFIGS:
        tot = {tuple(t): sum(r['ms'] for r in res if r['config'] == c and tuple(r['tile']) == t) for t in TILES}
        best[c] = min(tot, key=tot.get)
        print(c, {str(k): round(v * 1e3, 1) for k, v in tot.items()}, 'best', best[c], flush=True)
    json.dump({'device': torch.cuda.get_device_name(), 'H': H, 'I': I, 'n_experts': E, 'rows': res,
               'best': {c: list(t) for c, t in best.items()}}, open(a.out, 'w'), indent=1)


if __name__ == '__main__': main()
