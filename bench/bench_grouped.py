"""Benchmark of the generated MoE kernels against torch bf16 `torch._grouped_mm`, measured in the same run (GPU).

For each model shape and token count it times, as CUDA-graph replays rotating over 4 routings (so the few
experts of a decode step are not always the same ones sitting in L2):
  block: the whole routed-experts forward (routing, gate_up, SiLU*up, down, router weights, un-permute, sum),
         ours (`moe_experts_forward`) against the bf16 pipeline transformers' `grouped_mm` experts implementation
         runs (sort, gather, `torch._grouped_mm`, SiLU*up, `torch._grouped_mm`, weights, un-permute, sum);
  gemm:  the two grouped GEMMs alone given the sorted tokens: our gate_up and down launches (activation
         prologues included) against the two `torch._grouped_mm` calls.
It also reports the fraction of the measured HBM bandwidth (bytes: weights of the experts hit, activations)
and of the tensor-core peak (measured bf16 matmul rate; x2 for int8/fp8).

    PYTHONPATH=. python bench/bench_grouped.py --out bench.json [--models qwen15] [--tokens 1 16] [--configs w4g128]
"""
import argparse, json, time
import multiprocessing as mp
import torch
import torch.nn.functional as F
import triton

MODELS = {  # name: (experts, hidden, expert intermediate, top-k)
    'qwen15': (60, 2048, 1408, 4), 'dsv2lite': (64, 2048, 1408, 6),
    'mixtral': (8, 4096, 14336, 2), 'qwen3': (128, 2048, 768, 8)}
TOKENS = [1, 16, 64, 256, 1024, 4096, 8192]
CONFIGS = ['w4g128', 'mixed225', 'w8a8', 'w8a8fp8']
ROT = 4  # routings rotated inside one timed graph


DECODE_TILE = None  # --decode-tile: overrides default_tile for weight-only configs at <= 16 tokens per expert
GATE_UP_MAXNREG = None  # --gate-up-maxnreg: register cap added to the generated gate_up launches
STAGES = None  # --stages: num_stages of the generated Triton launches (a probe)


def allocation(config, E, tokens_per_expert, H=None, I=None):
    from mxmoe.codegen import MIXED_225, cycle_allocation, uniform_allocation
    if config == 'mixed225': a = cycle_allocation(E, MIXED_225, tokens_per_expert, hidden=H, intermediate=I)
    else: a = uniform_allocation(E, config, tokens_per_expert=tokens_per_expert, hidden=H, intermediate=I)
    if DECODE_TILE and tokens_per_expert <= 16 and config != 'w8a8' and not config.startswith('w8a8'):
        a = {e: {l: (c, DECODE_TILE) for l, (c, _) in v.items()} for e, v in a.items()}
    return a


def _precompile(task):
    "Compile one allocation's kernels by running a small forward (Triton caches them on disk)."
    from mxmoe.codegen import quantize_layer, moe_experts_forward
    global DECODE_TILE
    config, tpe, DECODE_TILE = task
    E, H, I, k = MODELS['qwen15']
    E = 8
    alloc = allocation(config, E, tpe)
    layer = quantize_layer(torch.randn(E, 2 * I, H, device='cuda') * .02, torch.randn(E, H, I, device='cuda') * .02, alloc)
    for T in (1, 64):
        idx = torch.randint(0, E, (T, 4), device='cuda')
        moe_experts_forward(torch.randn(T, H, device='cuda').bfloat16(), idx, torch.rand(T, 4, device='cuda'), layer)
    torch.cuda.synchronize()
    return task


def bf16_block(hidden, idx, w, wgu, wdn):
    "transformers' grouped_mm experts forward, in bf16."
    T, k = idx.shape
    E = wgu.shape[0]
    flat = idx.reshape(-1)
    eg, perm = torch.sort(flat)
    xg = hidden[perm // k]
    offs = torch.cumsum(torch.histc(eg.int(), bins=E, min=0, max=E - 1), 0, dtype=torch.int32)
    g, u = torch._grouped_mm(xg, wgu.transpose(-2, -1), offs=offs).chunk(2, -1)
    y = torch._grouped_mm(F.silu(g) * u, wdn.transpose(-2, -1), offs=offs) * w.reshape(-1)[perm, None]
    inv = torch.empty_like(perm)
    inv[perm] = torch.arange(perm.numel(), device=perm.device)
    return y[inv].view(T, k, -1).sum(1)


def graph_time(fns):
    "Median ms of one call, from CUDA-graph replays of all `fns` in a row."
    for f in fns: f()
    torch.cuda.synchronize()
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        for f in fns: f()
    ms = triton.testing.do_bench(g.replay, warmup=10, rep=60, return_mode='median')
    del g
    return ms / len(fns)


def peaks():
    "Measured HBM bandwidth (bytes/s, read + write) and bf16 matmul rate (flop/s)."
    x = torch.empty(1 << 30, dtype=torch.uint8, device='cuda'); y = torch.empty_like(x)
    bw = 2 * x.numel() / (triton.testing.do_bench(lambda: y.copy_(x), rep=100, return_mode='median') * 1e-3)
    del x, y
    a = torch.randn(8192, 8192, device='cuda', dtype=torch.bfloat16); b = torch.randn_like(a)
    tc = 2 * 8192 ** 3 / (triton.testing.do_bench(lambda: a @ b, rep=200, return_mode='median') * 1e-3)
    return bw, tc


def random_experts(E, H, I, dev='cuda'):
    "Random bf16 expert weights, seed 0: gate_up [E, 2I, H] and down [E, H, I]."
    torch.manual_seed(0)
    return (torch.randn(E, 2 * I, H, device=dev) * 0.02).bfloat16(), (torch.randn(E, H, I, device=dev) * 0.02).bfloat16()


def quantize_configs(configs, alloc_of, wgu, wdn):
    "{config: (gate_up codes, down codes) of every expert}: each config quantized once, whatever tiles pack it later."
    from mxmoe.codegen import quantize_expert
    qts = {}
    for c in configs:
        a = alloc_of(c)
        qts[c] = ([quantize_expert(wgu[e].float(), a[e]['gate_up'][0]) for e in range(len(wgu))],
                  [quantize_expert(wdn[e].float(), a[e]['down'][0]) for e in range(len(wdn))])
    return qts


def routings(T, E, k, H, dev='cuda'):
    "ROT random (hidden, top-k index, router weights) triples of T tokens, seeded by T."
    gen = torch.Generator(device=dev).manual_seed(T)
    sets = []
    for _ in range(ROT):
        w, idx = torch.topk(torch.randn(T, E, device=dev, generator=gen).softmax(-1), k)
        sets.append((torch.randn(T, H, device=dev, generator=gen).bfloat16(), idx, w.float()))
    return sets


def bf16_times(sets, wgu, wdn):
    "ms per call of transformers' bf16 block and of its two grouped GEMMs alone (on pre-sorted inputs), over `sets`."
    E, I = wgu.shape[0], wdn.shape[2]
    T, k = sets[0][1].shape
    base = graph_time([lambda s=s: bf16_block(s[0], s[1], s[2], wgu, wdn) for s in sets])
    pre = []
    for hs, idx, w in sets:
        eg, perm = torch.sort(idx.reshape(-1))
        offs = torch.cumsum(torch.histc(eg.int(), bins=E, min=0, max=E - 1), 0, dtype=torch.int32)
        pre.append((hs[perm // k].contiguous(), torch.randn(T * k, I, device=wgu.device).bfloat16(), offs))
    base_gemm = graph_time([lambda p=p: (torch._grouped_mm(p[0], wgu.transpose(-2, -1), offs=p[2]),
                                         torch._grouped_mm(p[1], wdn.transpose(-2, -1), offs=p[2])) for p in pre])
    return base, base_gemm


def kernel_times(layer, sets):
    "ms per call of our routed-experts forward, of its gate_up + down launches alone and of its routing launch (with the token sums where the kernels read them), over `sets`."
    from mxmoe.codegen import input_sums, launch_linear, moe_experts_forward
    from mxmoe.kernels import route, route_and_sum
    T, k = sets[0][1].shape
    A, H, I, dev = T * k, layer.hidden_size, layer.intermediate_size, sets[0][0].device
    if GATE_UP_MAXNREG: layer.kernels.GATE_UP_LAUNCH = dict(layer.kernels.GATE_UP_LAUNCH, maxnreg=GATE_UP_MAXNREG)
    for name in ('GATE_UP_LAUNCH', 'DOWN_LAUNCH'):  # Triton launches only: a Gluon launch has no num_stages
        if STAGES and 'num_stages' in getattr(layer.kernels, name): setattr(layer.kernels, name, dict(getattr(layer.kernels, name), num_stages=STAGES))
    t_block = graph_time([lambda s=s: moe_experts_forward(s[0], s[1], s[2], layer) for s in sets])
    mod = layer.kernels
    routed = [route(s[1], layer.n_experts) + (s, input_sums(mod, layer.gate_up, s[0])) for s in sets]
    inter = torch.randn(A, I, device=dev).bfloat16(); o1 = torch.empty(A, I, device=dev, dtype=torch.bfloat16)
    o2 = torch.empty(A, H, device=dev, dtype=torch.bfloat16)
    inter_sums = input_sums(mod, layer.down, inter)  # the gate_up launch writes them (into the same buffer) where down reads them
    t_gemm = graph_time([lambda r=r: (launch_linear(mod, layer.gate_up, r[2][0], r[1], r[0], A, o1, k, sums=r[3], out_sums=inter_sums),
                                      launch_linear(mod, layer.down, inter, r[1], r[0], A, o2, r[2][2].reshape(-1), sums=inter_sums))
                         for r in routed])
    width = mod.GATE_UP_SUMS
    t_route = graph_time([lambda s=s: route_and_sum(s[1], layer.n_experts, s[0], width) if width else route(s[1], layer.n_experts)
                          for s in sets])
    return t_block, t_gemm, t_route


def bench_model(name, tokens, configs, bw, tc, rows):
    from mxmoe.codegen import pack_layer, normalize_allocation
    E, H, I, k = MODELS[name]
    wgu, wdn = random_experts(E, H, I)
    expert_bytes_bf16 = (wgu[0].numel() + wdn[0].numel()) * 2
    qts = quantize_configs(configs, lambda c: allocation(c, E, 1, H, I), wgu, wdn)
    for T in tokens:
        A = T * k
        sets = routings(T, E, k, H)
        hit = sum(int(torch.unique(s[1]).numel()) for s in sets) / ROT
        act_bytes = A * (H * 2 + I * 2 * 2) + T * H * 2 * 2
        flops = 2 * A * 3 * H * I
        base, base_gemm = bf16_times(sets, wgu, wdn)
        row0 = dict(model=name, T=T, E=E, H=H, I=I, k=k, experts_hit=hit)
        rows.append({**row0, 'config': 'bf16_grouped_mm', 'block_us': base * 1e3, 'gemm_us': base_gemm * 1e3,
                     'frac_hbm': (hit * expert_bytes_bf16 + act_bytes) / (base * 1e-3) / bw,
                     'frac_tc': flops / (base * 1e-3) / tc})
        for c in configs:
            alloc = normalize_allocation(allocation(c, E, A / E, H, I))
            layer = pack_layer(alloc, *qts[c])
            t_block, t_gemm, t_route = kernel_times(layer, sets)
            wbytes = (layer.gate_up.nbytes + layer.down.nbytes) / E
            peak = tc * (2 if c.startswith('w8a8') else 1)
            rows.append({**row0, 'config': c, 'block_us': t_block * 1e3, 'gemm_us': t_gemm * 1e3, 'route_us': t_route * 1e3,
                         'speedup_block': base / t_block, 'speedup_gemm': base_gemm / t_gemm,
                         'bits': 8 * wbytes / (expert_bytes_bf16 / 2),
                         'frac_hbm': (hit * wbytes + act_bytes) / (t_block * 1e-3) / bw,
                         'frac_tc': flops / (t_block * 1e-3) / peak,
                         'tile_gate_up': list(alloc[0]['gate_up'][1]), 'tile_down': list(alloc[0]['down'][1])})
            r = rows[-1]
            print(f"{name:8s} T={T:5d} {c:9s} block {r['block_us']:8.1f}us ({r['speedup_block']:.2f}x of {base*1e3:8.1f}) "
                  f"gemm {r['gemm_us']:8.1f}us ({r['speedup_gemm']:.2f}x of {base_gemm*1e3:8.1f}) "
                  f"hbm {r['frac_hbm']:.2f} tc {r['frac_tc']:.2f}", flush=True)
            del layer
        torch.cuda.empty_cache()


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--out', default='bench_grouped.json')
    p.add_argument('--models', nargs='*', default=list(MODELS))
    p.add_argument('--tokens', nargs='*', type=int, default=TOKENS)
    p.add_argument('--configs', nargs='*', default=CONFIGS)
    p.add_argument('--workers', type=int, default=8)
    p.add_argument('--decode-tile', nargs=3, type=int)
    p.add_argument('--gate-up-maxnreg', type=int, help='register cap of the gate_up launches (a probe: 168 allows 3 Gluon programs per SM)')
    p.add_argument('--stages', type=int, help='num_stages of the generated Triton launches for this run (a probe; shipped: 3)')
    p.add_argument('--fused-sum-max', type=int, help='mxmoe.codegen.FUSED_SUM_MAX for this run (0: every top-k sum by torch)')
    a = p.parse_args()
    import mxmoe.codegen
    if a.fused_sum_max is not None: mxmoe.codegen.FUSED_SUM_MAX = a.fused_sum_max
    global DECODE_TILE, GATE_UP_MAXNREG, STAGES
    DECODE_TILE = tuple(a.decode_tile) if a.decode_tile else None
    GATE_UP_MAXNREG, STAGES = a.gate_up_maxnreg, a.stages
    from mxmoe.codegen import default_tile
    t0 = time.time()
    regimes = sorted({(c, default_tile(c if c != 'mixed225' else 'w2g128', T * MODELS[m][3] / MODELS[m][0]))
                      for c in a.configs for m in a.models for T in a.tokens})
    tasks = sorted({(c, {8: 1, 16: 1, 32: 32, 64: 64, 128: 512}[tile[0]], DECODE_TILE) for c, tile in regimes})
    with mp.get_context('spawn').Pool(min(a.workers, len(tasks))) as pool:
        for t in pool.imap_unordered(_precompile, tasks): print('compiled', t, f'{time.time() - t0:.0f}s', flush=True)
    bw, tc = peaks()
    print(f"measured: HBM {bw / 1e12:.2f} TB/s, bf16 matmul {tc / 1e12:.0f} TFLOP/s", flush=True)
    rows = []
    for m in a.models: bench_model(m, a.tokens, a.configs, bw, tc, rows)
    res = {'device': torch.cuda.get_device_name(), 'torch': torch.__version__, 'triton': triton.__version__,
           'cuda': torch.version.cuda, 'gate_up_maxnreg': GATE_UP_MAXNREG, 'stages': STAGES, 'fused_sum_max': mxmoe.codegen.FUSED_SUM_MAX, 'hbm_bytes_per_s': bw, 'bf16_flops': tc, 'rotations': ROT,
           'seconds': time.time() - t0, 'rows': rows}
    json.dump(res, open(a.out, 'w'), indent=1)
    print(f"\n{'model':8s} {'T':>5s} " + ' '.join(f"{c:>17s}" for c in a.configs) + "   (block / gemm speedup vs bf16)")
    for m in a.models:
        for T in a.tokens:
            rs = {r['config']: r for r in rows if r['model'] == m and r['T'] == T}
            print(f"{m:8s} {T:5d} " + ' '.join(f"{rs[c]['speedup_block']:7.2f} / {rs[c]['speedup_gemm']:5.2f}  " for c in a.configs))


if __name__ == '__main__': main()
