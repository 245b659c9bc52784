"""Prefill tiles and launch options of the w8a8 int8 / fp8 launches (issue #6: w8a8 >= 1.6x bf16 at 8192 tokens, GPU).

The shipped prefill tile of the weight-activation configs, `(128, 128, 128)` with 8 warps, runs one program per
multiprocessor: the fused gate_up takes 255 registers, down 174-178 (Nsight Compute on Mixtral-8x7B's fp8 launches,
`results/ncu_prefill_mixtral_fp8_h100.txt`: latency-bound inside that one program, 53-58% of the fp8 peak). Each
variant below (compiled for sm_90a with the device's Triton: registers and spills in its comment) gives a
multiprocessor two programs, or a wider down tile. For every model shape and token count it times, as
`bench_grouped.py` does and against the same bf16 `torch._grouped_mm` pipeline measured in the same run, the whole
block and the two GEMM launches alone (activation prologues included) of each variant.

    PYTHONPATH=. python bench/prefill_probe.py OUT.json [--models mixtral qwen15] [--tokens 8192] [--variants ...]
"""
import argparse, json, time
import multiprocessing as mp
import torch
import triton

from bench.bench_grouped import MODELS, ROT, bf16_times, kernel_times, peaks, quantize_configs, random_experts, routings

VARIANTS = {  # name: (gate_up tile, its launch options, down tile, its launch options); registers gate_up / down (fp8, int8)
    'shipped': ((128, 128, 128), {}, (128, 128, 128), {}),  # 255 / 174-178: one program a multiprocessor
    'n64_cap128': ((128, 64, 128), dict(maxnreg=128), (128, 64, 128), {}),  # 128 / 100-110, no spills: two programs
    'm64_cap128': ((64, 128, 128), dict(maxnreg=128), (64, 128, 128), {}),  # 128 / 102, no spills: two programs
    'down_cap128': ((128, 128, 128), {}, (128, 128, 128), dict(maxnreg=128)),  # down 128 (104-296 bytes spilled)
    'n64_4warps': ((128, 64, 128), dict(num_warps=4), (128, 64, 128), dict(num_warps=4)),  # 241 / 126: two programs
    'down_n256': ((128, 128, 128), {}, (128, 256, 128), {}),  # down 255 (60 bytes spilled)
}
EXTRA_TILES = [(128, 256, 128)]  # not in mxmoe.kernels.TILES: added for this run


def allocation(config, E, variant):
    gu, _, dn, _ = VARIANTS[variant]
    return {e: {'gate_up': (config, gu), 'down': (config, dn)} for e in range(E)}


def set_launches(mod, variant):
    "The generated module's launch options: `launch_params` of its tile with the variant's options on top."
    from mxmoe.kernels import launch_params
    gu, gu_opts, dn, dn_opts = VARIANTS[variant]
    mod.GATE_UP_LAUNCH, mod.DOWN_LAUNCH = dict(launch_params([gu]), **gu_opts), dict(launch_params([dn]), **dn_opts)


def _setup():
    import mxmoe.kernels
    for t in EXTRA_TILES:
        if t not in mxmoe.kernels.TILES: mxmoe.kernels.TILES.append(t)


def _precompile(task):
    "Compile one (config, variant)'s kernels by running a small forward (Triton caches them on disk)."
    from mxmoe.codegen import moe_experts_forward, quantize_layer
    _setup()
    config, variant = task
    E, H, I = 8, 1024, 1024
    layer = quantize_layer(torch.randn(E, 2 * I, H, device='cuda') * .02, torch.randn(E, H, I, device='cuda') * .02,
                           allocation(config, E, variant))
    set_launches(layer.kernels, variant)
    idx = torch.randint(0, E, (512, 2), device='cuda')
    moe_experts_forward(torch.randn(512, H, device='cuda').bfloat16(), idx, torch.rand(512, 2, device='cuda'), layer)
    torch.cuda.synchronize()
    return task


def probe_model(name, tokens, configs, variants, tc, rows):
    from mxmoe.codegen import normalize_allocation, pack_layer
    E, H, I, k = MODELS[name]
    wgu, wdn = random_experts(E, H, I)
    qts = quantize_configs(configs, lambda c: allocation(c, E, 'shipped'), wgu, wdn)
    for T in tokens:
        sets = routings(T, E, k, H)
        base, base_gemm = bf16_times(sets, wgu, wdn)
        flops = 2 * T * k * 3 * H * I
        print(f"{name} T={T}: bf16 block {base * 1e3:.0f} us, GEMMs {base_gemm * 1e3:.0f} us", flush=True)
        for c in configs:
            ref = None
            for v in variants:
                layer = pack_layer(normalize_allocation(allocation(c, E, v)), *qts[c])
                set_launches(layer.kernels, v)
                t_block, t_gemm, _ = kernel_times(layer, sets)
                ref = ref or (t_block, t_gemm)
                rows.append(dict(model=name, T=T, config=c, variant=v, block_us=t_block * 1e3, gemm_us=t_gemm * 1e3,
                                 bf16_block_us=base * 1e3, bf16_gemm_us=base_gemm * 1e3, speedup_block=base / t_block,
                                 speedup_gemm=base_gemm / t_gemm, vs_shipped_block=ref[0] / t_block,
                                 vs_shipped_gemm=ref[1] / t_gemm, frac_fp8_peak_gemm=flops / (t_gemm * 1e-3) / (2 * tc)))
                r = rows[-1]
                print(f"  {c:8s} {v:12s} block {r['block_us']:8.1f} us ({r['speedup_block']:.2f}x bf16, "
                      f"{r['vs_shipped_block']:.3f}x shipped)  GEMMs {r['gemm_us']:8.1f} us ({r['speedup_gemm']:.2f}x bf16, "
                      f"{r['vs_shipped_gemm']:.3f}x shipped, {r['frac_fp8_peak_gemm']:.2f} of 2x bf16 peak)", flush=True)
                del layer
        torch.cuda.empty_cache()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('out')
    p.add_argument('--models', nargs='*', default=['mixtral', 'qwen15'])
    p.add_argument('--tokens', nargs='*', type=int, default=[8192])
    p.add_argument('--configs', nargs='*', default=['w8a8fp8', 'w8a8'])
    p.add_argument('--variants', nargs='*', default=list(VARIANTS), choices=list(VARIANTS))
    a = p.parse_args()
    if a.variants[0] != 'shipped': a.variants = ['shipped'] + [v for v in a.variants if v != 'shipped']
    _setup()
    t0 = time.time()
    tasks = [(c, v) for c in a.configs for v in a.variants]
    with mp.get_context('spawn').Pool(min(8, len(tasks))) as pool:
        for t in pool.imap_unordered(_precompile, tasks): print('compiled', t, f'{time.time() - t0:.0f}s', flush=True)
    bw, tc = peaks()
    dev = torch.cuda.get_device_name()
    print(f"{dev}: HBM {bw / 1e12:.2f} TB/s, bf16 matmul {tc / 1e12:.0f} TFLOP/s", flush=True)
    rows = []
    for m in a.models: probe_model(m, a.tokens, a.configs, a.variants, tc, rows)
    json.dump({'device': dev, 'torch': torch.__version__, 'triton': triton.__version__, 'cuda': torch.version.cuda,
               'hbm_bytes_per_s': bw, 'bf16_flops': tc, 'rotations': ROT, 'variants': {k: [list(v[0]), v[1], list(v[2]), v[3]]
               for k, v in VARIANTS.items() if k in a.variants}, 'seconds': time.time() - t0, 'rows': rows},
              open(a.out, 'w'), indent=1)


if __name__ == '__main__': main()
