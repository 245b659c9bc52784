"""One launch per config instead of one launch per linear (issue #6, a probe; GPU): do several launches pay?

The shipped block runs each linear of a mixed allocation as one launch whose tiles dispatch to their config's loop.
Such a kernel holds every config's loop: more registers and code than any one config's kernel, and the mixed
2.25-bit allocation's block is slower than its configs' weighted mean (`chain_probe.py`). Here each linear runs
instead as one launch per branch (config, tile): the branch's experts keep their tiles and rows, the others get no
tiles (their n-tile count set to 0, so the rows stay where the routing put them), and the down launches share the
fused top-k sum's tickets (the tile that completes a column chunk, in whichever launch, sums it). Variants:
  same_serial / same_concurrent   the shipped multi-config kernel, launched once per branch, in a row or on
                                  parallel streams (fork and join inside the timed CUDA graph)
  own_serial / own_concurrent     each branch's own one-config kernel (generated for that branch alone)
Output: for each model shape and token count, the block time of the shipped forward and of each variant, the bf16
`grouped_mm` block of `bench_grouped.py` (same routings), and whether each variant's output equals the shipped one.
H200 (2026-11-27, `results/config_launches_h200.json`): every output equal, every variant slower than the shipped
block (0.40-0.78x in a row, 0.68-0.93x concurrent), the one-config kernels no faster than the shipped one (0.98-1.01x).

    PYTHONPATH=. python bench/config_launches.py OUT.json [--models qwen15 ...] [--tokens 1 16 64] [--configs mixed225]
"""
import argparse, json, multiprocessing as mp, sys, time
from pathlib import Path
import torch
import triton

sys.path.insert(0, str(Path(__file__).parent))
from bench_grouped import MODELS, allocation, bf16_times, graph_time, quantize_configs, random_experts, routings  # noqa: E402

VARIANTS = ('same_serial', 'same_concurrent', 'own_serial', 'own_concurrent')


def branch_linear(lin, b: int, alone: bool):
    "Branch b of linear `lin` as a launch of its own: its experts' tiles only (the others' n-tiles 0), rows and tickets shared; `alone`: for a kernel of that branch alone (else the shipped kernel, which takes every branch's weights)."
    from mxmoe.codegen import ExpertLinear
    nt = torch.where(lin.branch_of == b, lin.nt, torch.zeros_like(lin.nt))
    if not alone: return ExpertLinear(lin.name, lin.shape, lin.branches, lin.packed, lin.branch_of, lin.slot_of, lin.bm, nt, lin.tickets, lin.prefill)
    return ExpertLinear(lin.name, lin.shape, [lin.branches[b]], [lin.packed[b]], torch.zeros_like(lin.branch_of), lin.slot_of,
                        lin.bm, nt, lin.tickets, lin.prefill)


def own_module(layer, linear: str, b: int):
    "The generated kernels of an allocation whose `linear` has branch b alone (the other linear: its first branch)."
    from mxmoe.codegen import load_kernels
    pick = {l: getattr(layer, l).branches[b if l == linear else 0] for l in ('gate_up', 'down')}
    return load_kernels({e: dict(pick) for e in range(layer.n_experts)}, (layer.gate_up.gluon, layer.down.gluon))


def launches(layer, variant: str) -> dict:
    "{linear: [(kernel module, branch linear)]} of a variant."
    own = variant.startswith('own')
    return {l: [(own_module(layer, l, b) if own else layer.kernels, branch_linear(getattr(layer, l), b, own))
                for b in range(len(getattr(layer, l).branches))] for l in ('gate_up', 'down')}


def split_forward(hidden, idx, w, layer, parts: dict, streams):
    "The routed-experts block with each linear's branches launched apart: in a row (streams None) or on `streams`, forked from and joined to the current one."
    from mxmoe.codegen import fused_sum, launch_linear, output_sums
    from mxmoe.kernels import route_and_sum, route
    mod = layer.kernels
    T, H = hidden.shape
    k = idx.shape[1]
    A, dev = T * k, hidden.device
    x = hidden.to(torch.bfloat16).contiguous()
    if mod.GATE_UP_SUMS: counts, order, x_sums = route_and_sum(idx, layer.n_experts, x, mod.GATE_UP_SUMS)
    else: (counts, order), x_sums = route(idx, layer.n_experts), None
    inter = torch.empty(A, layer.intermediate_size, dtype=torch.bfloat16, device=dev)
    inter_sums = output_sums(mod, layer.gate_up, A, dev)
    out = torch.empty(A, H, dtype=torch.bfloat16, device=dev)
    total = torch.empty(T, H, dtype=torch.bfloat16, device=dev) if fused_sum(T, k) else None
    rw = w.reshape(-1).float()

    def fan(fns):
        if streams is None:
            for f in fns: f()
            return
        main = torch.cuda.current_stream()
        for s in streams[:len(fns)]: s.wait_stream(main)
        for f, s in zip(fns, streams):
            with torch.cuda.stream(s): f()
        for s in streams[:len(fns)]: main.wait_stream(s)

    fan([lambda m=m, l=l: launch_linear(m, l, x, order, counts, A, inter, k, sums=x_sums, out_sums=inter_sums) for m, l in parts['gate_up']])
    fan([lambda m=m, l=l: launch_linear(m, l, inter, order, counts, A, out, rw, total, sums=inter_sums) for m, l in parts['down']])
    if total is None: total = out.view(T, k, H).sum(1) if k > 1 else out
    return total.to(hidden.dtype)


def _precompile(task):
    "Worker: compile one (model, tokens, config)'s shipped and per-branch kernels on a small layer with the same branches (Triton caches them on disk)."
    from mxmoe.codegen import normalize_allocation, quantize_layer
    model, T, config = task
    E, H, I, k = MODELS[model]
    alloc = normalize_allocation(allocation(config, E, T * k / E, H, I))
    small = 8
    mini = {e: alloc[e % E] for e in range(small)}  # the cycle's first experts: every branch of the mixed allocations
    layer = quantize_layer(torch.randn(small, 2 * I, H, device='cuda') * .02, torch.randn(small, H, I, device='cuda') * .02, mini)
    rows = max(T, small)  # every branch gets rows; the same fused-sum constant SUM as T tokens (both at most 256 assignments or not)
    idx = (torch.arange(rows * k, device='cuda') % small).view(rows, k)
    hs, w = torch.randn(rows, H, device='cuda').bfloat16(), torch.rand(rows, k, device='cuda')
    for v in VARIANTS: split_forward(hs, idx, w, layer, launches(layer, v), None)
    torch.cuda.synchronize()
    return task


def bench(model: str, tokens: list, configs: list, rows: list, streams):
    from mxmoe.codegen import moe_experts_forward, normalize_allocation, pack_layer
    E, H, I, k = MODELS[model]
    wgu, wdn = random_experts(E, H, I)
    qts = quantize_configs(configs, lambda c: allocation(c, E, 1, H, I), wgu, wdn)  # codes do not depend on the tiles
    for T in tokens:
        sets = routings(T, E, k, H)
        base, _ = bf16_times(sets, wgu, wdn)
        for c in configs:
            alloc = normalize_allocation(allocation(c, E, T * k / E, H, I))
            layer = pack_layer(alloc, *qts[c])
            ref = [moe_experts_forward(s[0], s[1], s[2], layer) for s in sets]
            shipped = graph_time([lambda s=s: moe_experts_forward(s[0], s[1], s[2], layer) for s in sets])
            row = dict(model=model, T=T, config=c, bf16_us=base * 1e3, shipped_us=shipped * 1e3, shipped_x=base / shipped,
                       branches={l: [list(b) for b in getattr(layer, l).branches] for l in ('gate_up', 'down')})
            for v in VARIANTS:
                parts, st = launches(layer, v), streams if v.endswith('concurrent') else None
                outs = [split_forward(s[0], s[1], s[2], layer, parts, st) for s in sets]
                torch.cuda.synchronize()
                row[f'{v}_same_output'] = all(torch.equal(o, r) for o, r in zip(outs, ref))
                row[f'{v}_max_rel'] = max(float((o.float() - r.float()).norm() / r.float().norm().clamp_min(1e-30)) for o, r in zip(outs, ref))
                t = graph_time([lambda s=s: split_forward(s[0], s[1], s[2], layer, parts, st) for s in sets])
                row[f'{v}_us'], row[f'{v}_x'], row[f'{v}_over_shipped'] = t * 1e3, base / t, shipped / t
            rows.append(row)
            print(f"{model:8s} T={T:3d} {c:9s} bf16 {base * 1e3:7.1f}us shipped {shipped * 1e3:6.1f}us ({base / shipped:.2f}x)  "
                  + '  '.join(f"{v} {row[f'{v}_us']:6.1f}us ({row[f'{v}_x']:.2f}x, {row[f'{v}_over_shipped']:.3f}"
                              f"{'' if row[f'{v}_same_output'] else ' DIFF %.1e' % row[f'{v}_max_rel']})" for v in VARIANTS), flush=True)
        torch.cuda.empty_cache()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('out')
    ap.add_argument('--models', nargs='*', default=['qwen15', 'dsv2lite', 'qwen3', 'mixtral'])
    ap.add_argument('--tokens', nargs='*', type=int, default=[1, 16, 64])
    ap.add_argument('--configs', nargs='*', default=['mixed225'])
    ap.add_argument('--workers', type=int, default=12)
    a = ap.parse_args()
    t0 = time.time()
    tasks = [(m, T, c) for m in a.models for T in a.tokens for c in a.configs]
    with mp.get_context('spawn').Pool(min(a.workers, len(tasks))) as pool:
        for t in pool.imap_unordered(_precompile, tasks): print('compiled', t, f'{time.time() - t0:.0f}s', flush=True)
    streams = [torch.cuda.Stream() for _ in range(8)]
    rows = []
    for m in a.models: bench(m, a.tokens, a.configs, rows, streams)
    res = dict(device=torch.cuda.get_device_name(), torch=torch.__version__, triton=triton.__version__, cuda=torch.version.cuda,
               seconds=time.time() - t0, rows=rows)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(res, indent=1))
    print(f"{res['device']}, torch {res['torch']}, triton {res['triton']}: {len(rows)} rows in {res['seconds']:.0f} s -> {a.out}")


if __name__ == '__main__':
    main()
