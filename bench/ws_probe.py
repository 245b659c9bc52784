"""The Gluon prefill kernel (`mxmoe.gluon.prefill_kernel`) against the Triton launches it replaces (issue #6, GPU).

For each model shape and token count it packs one int8 or fp8 layer twice with the same quantized weights: on the
Triton tiles generator version 7 gave such launches (`(128, 64, 128)` for K <= `NARROW_K`, else `(128, 128, 128)`;
`pack_layer(gluon=False)`), and on `PREFILL_TILE` (the prefill kernel), then times each gate_up and down launch
(`launch_linear`, activation prologues included: the ratio of both launches), the prologues alone (the same on both
sides: both gate_up kernels gather their rows from the tokens' codes) and so the kernels alone, and checks the prefill
kernel's outputs against the Triton launches'. Committed results: `results/ws_probe_h100.json` from the first
version of this script, which carried its own copy of the kernel (2026-11-27, before it was moved into
`mxmoe.gluon`) and compared on the same rows; `results/ws_probe_library_h100.json` from the library kernel whose
gate_up prologue still gathered (quantized k rows a token into a sorted copy for TMA); `results/ws_probe_gather_h100.json`
from the kernel that gathers in its producer warp.

    PYTHONPATH=. python bench/ws_probe.py OUT.json [--models mixtral qwen15] [--tokens 8192]
"""
import argparse, json, time
import torch
import triton
from bench.bench_grouped import MODELS, graph_time, quantize_configs, random_experts, routings
from mxmoe.codegen import NARROW_K, launch_linear, normalize_allocation, pack_layer
from mxmoe.gluon import PREFILL_TILE
from mxmoe.kernels import ACT_FP8, ACT_INT8, quantize_activations, route


def allocation(config, E, H, I, prefill):
    "Every expert on `config`: the prefill kernel's tile, or the Triton tiles of generator version 7."
    tile = lambda K: PREFILL_TILE if prefill else (128, 64, 128) if K <= NARROW_K else (128, 128, 128)
    return {e: {'gate_up': (config, tile(H)), 'down': (config, tile(I))} for e in range(E)}


def probe(name, T, config, rows):
    "Time both layers' gate_up and down launches on one routing of T tokens; check the prefill kernel's outputs."
    E, H, I, k = MODELS[name]
    A = T * k
    wgu, wdn = random_experts(E, H, I)
    qts = quantize_configs([config], lambda c: allocation(c, E, H, I, True), wgu, wdn)[config]
    del wgu, wdn
    mode = ACT_INT8 if config == 'w8a8' else ACT_FP8
    x, idx, w = routings(T, E, k, H)[0]
    counts, order = route(idx, E)
    rw = w.reshape(-1).float()
    res, t = {}, {}
    for kind, gluon in (('triton', False), ('prefill', True)):
        layer = pack_layer(normalize_allocation(allocation(config, E, H, I, gluon)), *qts, gluon)
        assert layer.gate_up.prefill == gluon and layer.down.prefill == gluon
        mod = layer.kernels
        inter, out = torch.empty(A, I, device='cuda', dtype=torch.bfloat16), torch.empty(A, H, device='cuda', dtype=torch.bfloat16)
        gu = lambda: launch_linear(mod, layer.gate_up, x, order, counts, A, inter, k)
        dn = lambda: launch_linear(mod, layer.down, inter, order, counts, A, out, rw)
        gu(); dn(); torch.cuda.synchronize()
        res[kind] = (inter.clone(), out.clone())
        t[kind] = (graph_time([gu]), graph_time([dn]))
    inter = res['triton'][0]
    pro = dict(gate_up=graph_time([lambda: quantize_activations(x, mode)]),  # both gate_up kernels gather the tokens' rows
               down=graph_time([lambda: quantize_activations(inter, mode)]))
    err = lambda got, want: ((got.float() - want.float()).abs().max() / want.float().abs().max()).item()
    (g0, d0), (g1, d1) = t['triton'], t['prefill']
    kg0, kd0, kg1, kd1 = g0 - pro['gate_up'], d0 - pro['down'], g1 - pro['gate_up'], d1 - pro['down']
    rows.append(dict(model=name, T=T, config=config, triton_gate_up_us=g0 * 1e3, triton_down_us=d0 * 1e3,
                     prefill_gate_up_us=g1 * 1e3, prefill_down_us=d1 * 1e3, prologue_us={n: v * 1e3 for n, v in pro.items()},
                     speedup_launches=(g0 + d0) / (g1 + d1), speedup_gate_up_kernel=kg0 / kg1, speedup_down_kernel=kd0 / kd1,
                     speedup_kernels=(kg0 + kd0) / (kg1 + kd1), rel_err_gate_up=err(res['prefill'][0], inter),
                     rel_err_down=err(res['prefill'][1], res['triton'][1]), tflops=2 * A * 3 * H * I / ((kg1 + kd1) * 1e-3) / 1e12))
    r = rows[-1]
    print(f"{name:8s} T={T:5d} {config:8s}: both launches with prologues {(g0 + d0) * 1e3:8.1f} -> {(g1 + d1) * 1e3:8.1f} us "
          f"({r['speedup_launches']:.3f}x); kernels alone gate_up {r['speedup_gate_up_kernel']:.3f}x, down "
          f"{r['speedup_down_kernel']:.3f}x, both {r['speedup_kernels']:.3f}x ({r['tflops']:.0f} TFLOP/s); prologues "
          f"{pro['gate_up'] * 1e3:.1f} / down {pro['down'] * 1e3:.1f} us; "
          f"error {r['rel_err_gate_up']:.4f} / {r['rel_err_down']:.4f}", flush=True)
    torch.cuda.empty_cache()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('out')
    ap.add_argument('--models', nargs='*', default=list(MODELS))
    ap.add_argument('--tokens', nargs='*', type=int, default=[1024, 4096, 8192])
    ap.add_argument('--configs', nargs='*', default=['w8a8fp8', 'w8a8'])
    args = ap.parse_args()
    t0, rows, dev = time.time(), [], torch.cuda.get_device_name()
    print(dev, flush=True)
    for m in args.models:
        for T in args.tokens:
            for c in args.configs: probe(m, T, c, rows)
    json.dump(dict(device=dev, torch=torch.__version__, triton=triton.__version__, cuda=torch.version.cuda,
                   seconds=time.time() - t0, rows=rows), open(args.out, 'w'), indent=1)


if __name__ == '__main__':
    main()
