"""Where the Gluon decode loop's time goes, by leaving one stage of it out (issue #6; GPU; timings only, the variants compute wrong results).

Each variant is `mxmoe/gluon.py` with one text patch, loaded in its own process in place of `mxmoe.gluon` before the
generated kernels import it; the routed-experts block is then timed as in `bench_grouped.py` (CUDA-graph replays over
four routings, bf16 `grouped_mm` in the same process) on the Qwen1.5-MoE shape at 1 and 64 tokens:
  base        the kernel as shipped
  no_unpack   constant operands instead of unpacking the words (the words are still copied, not read back)
  no_sync     no proxy fence and no barrier after each stage's copies
  no_scale    each group's product added unscaled (no scale / zero loads from shared memory, no FMAs)
About 2 minutes on an H100.

    PYTHONPATH=. python bench/chain_probe.py OUT.json
"""
import importlib.util, json, subprocess, sys
from pathlib import Path

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
}


def patched_gluon(variant: str):
    "Install `mxmoe.gluon` with the variant's patches applied (before anything imports the generated kernels)."
    import mxmoe
    src = (Path(mxmoe.__file__).parent / 'gluon.py').read_text()
    for old, new in PATCHES[variant]:
        assert src.count(old) == 1, (variant, old)
        src = src.replace(old, new)
    path = Path(f'/tmp/mxmoe_gluon_{variant}.py'); path.write_text(src)  # Triton reads kernel sources from files
    spec = importlib.util.spec_from_file_location('mxmoe.gluon', path, submodule_search_locations=None)
    mod = importlib.util.module_from_spec(spec); mod.__package__ = 'mxmoe'
    sys.modules['mxmoe.gluon'] = mod
    spec.loader.exec_module(mod)


def run_variant(variant: str) -> list[dict]:
    patched_gluon(variant)
    import os, tempfile
    os.environ['MXMOE_KERNEL_DIR'] = tempfile.mkdtemp(prefix=f'mxmoe_{variant}_')
    from bench.bench_grouped import allocation, bf16_times, kernel_times, random_experts, routings, MODELS
    from mxmoe.codegen import quantize_layer
    E, H, I, k = MODELS['qwen15']
    wgu, wdn = random_experts(E, H, I)
    rows = []
    for config in ('w4g128', 'mixed225'):
        for T in (1, 64):
            sets = routings(T, E, k, H)
            layer = quantize_layer(wgu.float(), wdn.float(), allocation(config, E, T * k / E, H, I))
            base, _ = bf16_times(sets, wgu, wdn)
            block, gemm = kernel_times(layer, sets)
            rows.append(dict(variant=variant, config=config, T=T, block_us=block * 1e3, gemm_us=gemm * 1e3, bf16_block_us=base * 1e3))
            print(rows[-1], flush=True)
    return rows


def main(out: str):
    rows = []
    for v in PATCHES:
        r = subprocess.run([sys.executable, __file__, '--variant', v], capture_output=True, text=True)
        if r.returncode: print(r.stderr[-3000:]); sys.exit(1)
        rows += json.loads(r.stdout.strip().splitlines()[-1])
    import torch
    base = {(r['config'], r['T']): r for r in rows if r['variant'] == 'base'}
    for r in rows: r['block_over_base'] = r['block_us'] / base[r['config'], r['T']]['block_us']
    json.dump(dict(device=torch.cuda.get_device_name(), rows=rows), open(out, 'w'), indent=1)
    print(torch.cuda.get_device_name(), '(block times; x = over the shipped kernel in the same run)')
    for r in rows: print(f"{r['variant']:10s} {r['config']:9s} T={r['T']:3d} block {r['block_us']:7.1f} us  gemm {r['gemm_us']:7.1f} us  x{r['block_over_base']:.3f} of base")


if __name__ == '__main__':
    if sys.argv[1] == '--variant': print(json.dumps(run_variant(sys.argv[2])))
    else: main(sys.argv[1])
