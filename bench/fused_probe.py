"""gate_up and down in one launch (issue #6, a probe; GPU): does dropping the kernel boundary between them pay?

The shipped block is three launches: routing (`route_and_sum`), gate_up, down. Here the generated gate_up and down
kernels of an allocation are turned into device functions of one Gluon kernel whose first programs run the gate_up
tiles and the rest the down tiles (a grid of both launches' bounds). Each gate_up tile, after its stores, adds one to
its expert's counter (a CTA barrier, then a release atomic at GPU scope); a down tile of expert e first waits until
e's counter reaches e's number of gate_up tiles, so it may start while other experts' gate_up tiles still run; the
last down tile of an expert sets the counters back to zero for the next launch. The down programs, having higher
ids, are dispatched after every gate_up program (CTAs go out in order), so the waits cannot hold multiprocessors
that a gate_up tile still needs. A down tile starts its copies (weights included) only after its wait.
Variants (--variants): the wait spinning on acquire atomics (`atomic`), on volatile loads and one acquire after them
(`loads`), the same with a `nanosleep` between loads (`naps`); `*_cap128` put down's 128-register cap on the whole
kernel where the gate_up launch has no cap of its own. Configs: `bench_grouped.py`'s names, each also as NAME_blocked
(the experts in config order, `chain_probe.py`).

Output: for each model shape, token count and config, the block time of the shipped three launches and of the fused
two, the bf16 `grouped_mm` block of `bench_grouped.py` (same graphs, four routings), and whether the fused block's
output equals the shipped one bit for bit (same tiles, same arithmetic).

    PYTHONPATH=. python bench/fused_probe.py OUT.json [--models qwen15 ...] [--tokens 1 16 64] [--configs mixed225 w4g128] [--variants loads_cap128]
"""
import argparse, importlib.util, json, re, sys, tempfile, time
from pathlib import Path
import torch
import triton

sys.path.insert(0, str(Path(__file__).parent))
from bench_grouped import MODELS, allocation, bf16_times, graph_time, quantize_configs, random_experts, routings  # noqa: E402
from chain_probe import blocked  # noqa: E402

TARGET = """        cnt = gl.load(counts_ptr + e)
        gbm = gl.load(gbm_ptr + e)
        target = (cnt + gbm - 1) // gbm * gl.load(gnt_ptr + e)  # e's gate_up tiles
"""
WAIT = TARGET + """        seen = gl.atomic_add(ready_ptr + e, 0, sem='acquire', scope='gpu')
        while seen < target:
            seen = gl.atomic_add(ready_ptr + e, 0, sem='acquire', scope='gpu')
"""
WAIT_LOADS = TARGET + """        seen = gl.load(ready_ptr + e, volatile=True)
        while seen < target:
            seen = gl.load(ready_ptr + e, volatile=True)
        gl.atomic_add(ready_ptr + e, 0, sem='acquire', scope='gpu')  # what the counted tiles stored is visible from here on
"""
WAIT_NAPS = WAIT_LOADS.replace("        while seen < target:\n", "        while seen < target:\n            _nap(200)\n")
NAP = """@gluon.jit
def _nap(ns: gl.constexpr):
    "Sleep about `ns` nanoseconds (a spinning warp leaves the issue slots to the tiles that run)."
    l: gl.constexpr = gl.BlockedLayout([1], [32], [4], [0])
    gl.inline_asm_elementwise(f"nanosleep.u32 {ns};\\n mov.u32 $0, 0;", "=r,r", [gl.arange(0, 128, layout=l)],
                              dtype=gl.int32, is_pure=False, pack=1)
"""
VARIANTS = {'atomic': dict(wait=WAIT), 'loads': dict(wait=WAIT_LOADS), 'loads_cap128': dict(wait=WAIT_LOADS, maxnreg=128),
            'naps': dict(wait=WAIT_NAPS), 'naps_cap128': dict(wait=WAIT_NAPS, maxnreg=128)}
SIGNAL = """        _barrier()  # every thread's stores precede the count (a release)
        gl.atomic_add(ready_ptr + e, 1, sem='release', scope='gpu')
"""
RESET = """        own = (cnt + gl.load(bm_ptr + e) - 1) // gl.load(bm_ptr + e) * gl.load(nt_ptr + e)  # e's down tiles
        if gl.atomic_add(done_ptr + e, 1, sem='acq_rel', scope='gpu') == own - 1:  # the last one: every wait is over
            gl.store(ready_ptr + e, 0)
            gl.store(done_ptr + e, 0)
"""


def _params(src: str, name: str) -> list[str]:
    "Parameter names of the generated kernel `name` (comments and constexpr parameters left out)."
    head = src[src.index(f"def {name}("):]
    head = head[head.index('(') + 1:head.index('):\n')]
    names = [p.split(':')[0].strip() for p in re.sub(r'#[^\n]*', '', head).split(',')]
    return [n for n in names if n and n not in ('EP2', 'SUM')]


def _part(src: str, name: str, extra: str, first: str, last: str) -> str:
    "The body of generated kernel `name` as a device function taking its program id and `extra`, with `first` after its `if e < E:` and `last` at its end."
    start = src.index(f"def {name}(")
    end = src.find("\n\n\n", start)
    body = src[start:end if end > 0 else len(src)].rstrip('\n') + '\n'
    body = body.replace(f"def {name}(", f"def {name.replace('_kernel', '_part')}(pid, {extra}", 1)
    body = body.replace("gl_find_tile(gl.program_id(0),", "gl_find_tile(pid,")
    body = body.replace("    if e < E:\n", "    if e < E:\n" + first, 1)
    return "@gluon.jit\n" + body + last


def fused_source(src: str, wait: str = WAIT) -> str:
    "The generated module `src` plus `block_kernel`: gate_up and down in one launch, down tiles waiting with `wait`."
    gu, dn = _params(src, 'gate_up_kernel'), _params(src, 'down_kernel')
    out = [src, "from mxmoe.gluon import _barrier", "", NAP,
           _part(src, 'gate_up_kernel', "ready_ptr, ", "", SIGNAL),
           _part(src, 'down_kernel', "ready_ptr, done_ptr, gbm_ptr, gnt_ptr, ", wait, RESET),
           "@gluon.jit(do_not_specialize=['g_E', 'g_TOPK', 'd_E', 'd_A', 'G_GU'])",
           f"def block_kernel({', '.join('g_' + p for p in gu)}, {', '.join('d_' + p for p in dn)}, G_GU, ready_ptr, done_ptr,",
           "        EP2: gl.constexpr, SUM: gl.constexpr):",
           "    pid = gl.program_id(0)",
           "    if pid < G_GU:",
           f"        gate_up_part(pid, ready_ptr, {', '.join('g_' + p for p in gu)}, EP2=EP2)",
           "    else:",
           f"        down_part(pid - G_GU, ready_ptr, done_ptr, g_bm_ptr, g_nt_ptr, {', '.join('d_' + p for p in dn)}, EP2=EP2, SUM=SUM)", ""]
    return "\n".join(out)


def load_fused(layer, variant: str):
    "The fused module of a layer's generated kernels in `variant` (written to a temporary file and imported)."
    from mxmoe.codegen import generate_source, normalize_allocation
    src = fused_source(generate_source(normalize_allocation(layer.allocation)), VARIANTS[variant]['wait'])
    path = Path(tempfile.mkdtemp()) / 'fused_block.py'
    path.write_text(src)
    spec = importlib.util.spec_from_file_location('fused_block', path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    if 'maxnreg' in VARIANTS[variant] and 'maxnreg' not in mod.GATE_UP_LAUNCH: mod.GATE_UP_LAUNCH = dict(mod.GATE_UP_LAUNCH, maxnreg=VARIANTS[variant]['maxnreg'])
    return mod


def fused_forward(fmod, layer, counters, hidden, idx, w):
    "`moe_experts_forward` with gate_up and down in `block_kernel` (weight-only Gluon launches, fused top-k sum)."
    from mxmoe.codegen import _storage, fused_sum, output_sums
    from mxmoe.kernels import EP2, route_and_sum
    T, H = hidden.shape
    k = idx.shape[1]
    A = T * k
    assert fmod.GATE_UP_SUMS, "the probe covers Gluon launches that read the token sums"
    gu, dn = layer.gate_up, layer.down
    counts, order, x_sums = route_and_sum(idx, layer.n_experts, hidden, fmod.GATE_UP_SUMS)
    inter = torch.empty(A, layer.intermediate_size, dtype=torch.bfloat16, device=hidden.device)
    inter_sums = output_sums(fmod, gu, A, hidden.device)
    out = torch.empty(A, H, dtype=torch.bfloat16, device=hidden.device)
    summed = fused_sum(T, k)
    total = torch.empty(T, H, dtype=torch.bfloat16, device=hidden.device) if summed else out
    ptrs = lambda lin: [t for (c, _), p in zip(lin.branches, lin.packed) for t in _storage(c, p)]
    g_args = [hidden, x_sums, inter_sums, order, inter, counts, gu.branch_of, gu.slot_of, gu.bm, gu.nt, gu.n_out, H, len(gu.bm), k, *ptrs(gu)]
    d_args = [inter, inter_sums, order, w.reshape(-1), out, total, dn.tickets, counts, dn.branch_of, dn.slot_of, dn.bm, dn.nt,
              dn.n_out, layer.intermediate_size, len(dn.bm), A, *ptrs(dn)]
    G = gu.grid(A)
    opts = dict(fmod.GATE_UP_LAUNCH)
    fmod.block_kernel[(G + dn.grid(A),)](*g_args, *d_args, G, *counters, EP2=EP2, SUM=k if summed else 0, **opts)
    return total if summed else out.view(T, k, H).sum(1)


def probe_allocation(config: str, E: int, tokens_per_expert: float, H: int, I: int) -> dict:
    "`bench_grouped.py`'s allocation of `config`; NAME_blocked: the same with its experts in config order (`chain_probe.blocked`)."
    a = allocation(config.removesuffix('_blocked'), E, tokens_per_expert, H, I)
    return blocked(a) if config.endswith('_blocked') else a


def main():
    p = argparse.ArgumentParser()
    p.add_argument('out')
    p.add_argument('--models', nargs='*', default=list(MODELS))
    p.add_argument('--tokens', nargs='*', type=int, default=[1, 16, 64])
    p.add_argument('--configs', nargs='*', default=['mixed225', 'w4g128'])
    p.add_argument('--variants', nargs='*', default=['loads'], choices=list(VARIANTS))
    a = p.parse_args()
    from mxmoe.codegen import moe_experts_forward, normalize_allocation, pack_layer
    rows, t0 = [], time.time()
    print(f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}, triton {triton.__version__}", flush=True)
    for name in a.models:
        E, H, I, k = MODELS[name]
        wgu, wdn = random_experts(E, H, I)
        qts = quantize_configs(a.configs, lambda c: probe_allocation(c, E, 1, H, I), wgu, wdn)
        for T in a.tokens:
            sets = routings(T, E, k, H)
            base, _ = bf16_times(sets, wgu, wdn)
            for c in a.configs:
                layer = pack_layer(normalize_allocation(probe_allocation(c, E, T * k / E, H, I)), *qts[c])
                shipped = graph_time([lambda s=s: moe_experts_forward(*s, layer) for s in sets])
                for v in a.variants:
                    fmod = load_fused(layer, v)
                    counters = [torch.zeros(E, dtype=torch.int32, device='cuda') for _ in range(2)]
                    same = all(torch.equal(fused_forward(fmod, layer, counters, *s), moe_experts_forward(*s, layer)) for s in sets)
                    torch.cuda.synchronize()
                    clean = int(counters[0].abs().sum() + counters[1].abs().sum()) == 0
                    fused = graph_time([lambda s=s: fused_forward(fmod, layer, counters, *s) for s in sets])
                    r = dict(model=name, T=T, config=c, variant=v, bf16_us=base * 1e3, shipped_us=shipped * 1e3, fused_us=fused * 1e3,
                             shipped_x=base / shipped, fused_x=base / fused, same_output=same, counters_reset=clean)
                    rows.append(r)
                    print(f"{name:8s} T={T:4d} {c:9s} {v:12s} bf16 {r['bf16_us']:7.1f}us shipped {r['shipped_us']:7.1f}us ({r['shipped_x']:.2f}x) "
                          f"fused {r['fused_us']:7.1f}us ({r['fused_x']:.2f}x, {shipped / fused:.3f}x) same={same} reset={clean} "
                          f"[{time.time() - t0:.0f}s]", flush=True)
                    Path(a.out).write_text(json.dumps(dict(device=torch.cuda.get_device_name(), torch=torch.__version__,
                                                           triton=triton.__version__, rows=rows), indent=1))


if __name__ == '__main__':
    main()
