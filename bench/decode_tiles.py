"""Issue #6: which decode tile runs a whole MoE block fastest at few tokens, against torch bf16 `torch._grouped_mm` (GPU).

`tile_sweep.py` times each tile with every expert active; at decode only the few experts the router picks run, the grid
is small and the K loop's latency, not the bytes, sets the time. So this script gives one tile to every expert linear
and times the routed-experts forward for Qwen1.5-MoE, DeepSeek-V2-Lite and Qwen3-30B-A3B shapes at 1, 16 and 64
tokens, for uniform w4g128, uniform w2g128 and the mixed 2.25-bit allocation (`mxmoe.codegen.cycle_allocation` over
`MIXED_225`, as `bench_grouped.py`'s 'mixed225'). Tiles: every `mxmoe.kernels.TILES` tile with BLOCK_M = 16 (or --tiles).
Each variant's output is checked against the fp32 torch reference on the first routing (`forward_error` <=
`forward_tolerance`, the run stops otherwise), then timed as CUDA-graph replays rotating over 4 routings
(`bench_grouped.graph_time`):
  block: the whole routed-experts forward (`moe_experts_forward`), against transformers' bf16 `grouped_mm` pipeline;
  gemm:  the gate_up and down launches alone (activation prologues included, none for weight-only configs).
frac_hbm is the block's bytes (weights of the experts hit, scales and zeros included, and activations) per second
over the measured copy bandwidth.

    PYTHONPATH=. python bench/decode_tiles.py --out decode_tiles.json [--quick] [--tiles 16,64,256 ...] [--tokens 1 16]

Expected time on one H100: about 2 min (compiling in 12 processes, then ~0.8 s per variant); --quick (Qwen1.5 shape,
1 and 16 tokens, w4g128 and mixed, 2 tiles) about 1 min, mostly compiling.
Without CUDA, --quick builds every case's allocation and generated kernel source and stops (a CPU smoke test).
Generated sources go to a temporary MXMOE_KERNEL_DIR unless one is set.
The FMA loop for 1-8 rows tried in commit e1f6704 was measured with this script's first version
(`results/decode_tiles_fma_h100.json`).
"""
import argparse, json, os, sys, tempfile, time
import multiprocessing as mp
import torch
import triton

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the repository root
from bench.bench_grouped import (MODELS, ROT, bf16_times, kernel_times, peaks, quantize_configs, random_experts,
                                 routings)

SHAPES = ['qwen15', 'dsv2lite', 'qwen3']
TOKENS = [1, 16, 64]
CONFIGS = ['w4g128', 'w2g128', 'mixed225']
TC_TILE = (16, 64, 128)  # the decode tile of `default_tile`: every config is quantized once, for it


def decode_tiles():
    "The tensor-core tiles for few rows per expert: BLOCK_M = 16."
    from mxmoe.kernels import TILES
    return [t for t in TILES if t[0] == 16]


def allocation(config, E, tile):
    "Every expert linear of `config` (a name or 'mixed225') on `tile`."
    from mxmoe.codegen import MIXED_225, cycle_allocation, normalize_allocation
    a = cycle_allocation(E, MIXED_225 if config == 'mixed225' else [config])
    return normalize_allocation({e: {l: (c, tile) for l, (c, _) in v.items()} for e, v in a.items()}, E)


def _precompile(task):
    "Compile one (config, tile)'s kernels by running small forwards (Triton caches them on disk)."
    from mxmoe.codegen import quantize_layer, moe_experts_forward
    config, tile = task
    E, H, I, k = 8, 2048, 1408, 4
    layer = quantize_layer(torch.randn(E, 2 * I, H, device='cuda') * .02, torch.randn(E, H, I, device='cuda') * .02,
                           allocation(config, E, tile))
    for T in (1, 64):
        idx = torch.randint(0, E, (T, k), device='cuda')
        moe_experts_forward(torch.randn(T, H, device='cuda').bfloat16(), idx, torch.rand(T, k, device='cuda'), layer)
    torch.cuda.synchronize()
    return task


def bench_shape(name, tokens, configs, tiles, bw, rows):
    from mxmoe.codegen import forward_error, forward_tolerance, pack_layer
    E, H, I, k = MODELS[name]
    wgu, wdn = random_experts(E, H, I)
    bf16_bytes = (wgu[0].numel() + wdn[0].numel()) * 2
    qts = quantize_configs(configs, lambda c: allocation(c, E, TC_TILE), wgu, wdn)
    for T in tokens:
        A = T * k
        sets = routings(T, E, k, H)
        hit = sum(int(torch.unique(s[1]).numel()) for s in sets) / ROT
        act_bytes = A * (H * 2 + I * 2 * 2) + T * H * 2 * 2
        base, base_gemm = (t * 1e3 for t in bf16_times(sets, wgu, wdn))
        row0 = dict(shape=name, T=T, E=E, H=H, I=I, k=k, experts_hit=hit)
        rows.append({**row0, 'config': 'bf16_grouped_mm', 'tile': None, 'block_us': base, 'gemm_us': base_gemm,
                     'frac_hbm': (hit * bf16_bytes + act_bytes) / (base * 1e-6) / bw})
        print(f"{name:8s} T={T:3d} bf16 grouped_mm        block {base:7.1f} us  gemm {base_gemm:7.1f} us", flush=True)
        for c in configs:
            for tile in tiles:
                layer = pack_layer(allocation(c, E, tile), *qts[c])
                err = forward_error(*sets[0], layer)  # the first routing (NaN-poisoned memory, fp32 reference)
                tol = forward_tolerance(layer)
                if not err <= tol:
                    raise SystemExit(f"{name} T={T} {c} tile {tile}: relative error {err:.3g} > {tol} against the reference")
                t_block, t_gemm, _ = (t * 1e3 for t in kernel_times(layer, sets))
                wbytes = (layer.gate_up.nbytes + layer.down.nbytes) / E
                rows.append({**row0, 'config': c, 'tile': list(tile), 'block_us': t_block, 'gemm_us': t_gemm,
                             'error': err, 'speedup_block': base / t_block, 'speedup_gemm': base_gemm / t_gemm,
                             'frac_hbm': (hit * wbytes + act_bytes) / (t_block * 1e-6) / bw})
                r = rows[-1]
                print(f"{name:8s} T={T:3d} {c:9s} {str(tile):15s} block {t_block:7.1f} us ({r['speedup_block']:.2f}x) "
                      f"gemm {t_gemm:7.1f} us ({r['speedup_gemm']:.2f}x) hbm {r['frac_hbm']:.2f} err {err:.1e}", flush=True)
                del layer
        torch.cuda.empty_cache()


def summary(rows, shapes, tokens, configs, tiles):
    "The table: per shape, tokens and config, each tile's block time and ratio to bf16, and the best tile."
    print(f"\n{'shape':8s} {'T':>3s} {'config':9s} {'tile':15s} {'block us':>9s} {'x bf16':>7s} {'frac HBM':>8s} {'gemm us':>8s}")
    for s in shapes:
        for T in tokens:
            rs = [r for r in rows if r['shape'] == s and r['T'] == T]
            b = next(r for r in rs if r['config'] == 'bf16_grouped_mm')
            print(f"{s:8s} {T:3d} {'bf16':9s} {'grouped_mm':15s} {b['block_us']:9.1f} {1:7.2f} {b['frac_hbm']:8.2f} {b['gemm_us']:8.1f}")
            for c in configs:
                cr = [r for r in rs if r['config'] == c]
                best = min(cr, key=lambda r: r['block_us'])
                for r in cr:
                    mark = ' <- best' if r is best else ''
                    print(f"{s:8s} {T:3d} {c:9s} {str(tuple(r['tile'])):15s} {r['block_us']:9.1f} {r['speedup_block']:7.2f} "
                          f"{r['frac_hbm']:8.2f} {r['gemm_us']:8.1f}{mark}")


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--out', default='decode_tiles.json')
    p.add_argument('--quick', action='store_true', help='Qwen1.5 shape, 1 and 16 tokens, w4g128 and mixed, 2 tiles')
    p.add_argument('--tiles', nargs='*', default=None, help='tiles as BM,BN,BK (default: every TILES tile with BLOCK_M 16)')
    p.add_argument('--tokens', type=int, nargs='*', default=TOKENS)
    p.add_argument('--workers', type=int, default=12)
    a = p.parse_args()
    os.environ.setdefault('MXMOE_KERNEL_DIR', tempfile.mkdtemp(prefix='mxmoe_kernels_'))
    shapes, tokens, configs = SHAPES, a.tokens, CONFIGS
    tiles = [tuple(int(v) for v in t.split(',')) for t in a.tiles] if a.tiles else decode_tiles()
    if a.quick: shapes, tokens, configs, tiles = ['qwen15'], [1, 16], ['w4g128', 'mixed225'], [TC_TILE, tiles[-1]]
    t0 = time.time()
    if not torch.cuda.is_available():  # CPU smoke test: every case's allocation and kernel source
        from mxmoe.codegen import generate_source, kernel_hash
        allocs = [allocation(c, MODELS[s][0], t) for s in shapes for c in configs for t in tiles]
        mods = {kernel_hash(al): generate_source(al) for al in allocs}
        print(f"no CUDA: built {len(allocs)} allocations ({len(mods)} kernel modules) for "
              f"{len(shapes)} shapes x {len(tokens)} token counts; run on a GPU to time them")
        return
    tasks = [(c, t) for c in configs for t in tiles]
    with mp.get_context('spawn').Pool(min(a.workers, len(tasks))) as pool:
        for t in pool.imap_unordered(_precompile, tasks): print('compiled', t, f'{time.time() - t0:.0f}s', flush=True)
    bw, tc = peaks()
    print(f"{torch.cuda.get_device_name()}: measured HBM {bw / 1e12:.2f} TB/s", flush=True)
    rows = []
    for s in shapes: bench_shape(s, tokens, configs, tiles, bw, rows)
    res = {'device': torch.cuda.get_device_name(), 'torch': torch.__version__, 'triton': triton.__version__,
           'cuda': torch.version.cuda, 'date': time.strftime('%Y-%m-%d %H:%M:%S'), 'hbm_bytes_per_s': bw,
           'rotations': ROT, 'tiles': [list(t) for t in tiles], 'seconds': time.time() - t0, 'rows': rows}
    with open(a.out, 'w') as f: json.dump(res, f, indent=1)
    summary(rows, shapes, tokens, configs, tiles)
    print(f"\n{time.time() - t0:.0f}s; wrote {a.out}")


if __name__ == '__main__': main()
