"""End-to-end speed of a Qwen1.5-MoE-shaped model with random weights: bf16 against uniform configs and MxMoE mixed
allocations, all measured in one run on one GPU (issue #9, "Speed").

The model is transformers' `Qwen2MoeForCausalLM` with Qwen1.5-MoE-A2.7B's shape (hidden 2048, 60 experts of 1408,
top-4, a gated shared expert of 5632, vocab 151936, 24 layers; `--layers` keeps fewer), created on the meta device
and filled with random bf16 tensors on the GPU. Random weights make accuracy meaningless: every quantized variant is
RTN, and the mixed allocations are `mxmoe.codegen.cycle_allocation`s (configs cycled over the experts, the same in
every layer) with the right average bits, not sensitivity-driven ones; they are for speed only.

Variants
  bf16         transformers' default experts forward (`grouped_mm`: torch `_grouped_mm`), the baseline of every ratio
  bf16_eager   transformers' per-expert loop (`experts_implementation='eager'`)
  w4g128, w3g128, w8a8             uniform configs
  mxmoe_2.25, mxmoe_3.25           mixed allocations averaging 2.25 and 3.25 bits per weight (fp16 scales and zeros of
                                   each 128-group counted, as `QuantConfig.bits` does: w3g128 is 3.25 bits too)
Quantized variants are RTN-quantized by `mxmoe.evaluate.apply_plan_` and run the generated Triton kernels installed by
`mxmoe.evaluate.install_kernels_` (what `apply_plan_(..., kernels=True)` does), packed again with `default_tile` for
the tokens per expert (T x top-k / experts) of each measurement.

Measurements (ratio = bf16 time / variant time, so above 1 is faster)
  block    one MoE block of layer 0 (router, shared expert, routed experts) and its routed experts alone, on T tokens,
           as CUDA-graph replays rotating over 4 random inputs (`bench_grouped.graph_time`)
  prefill  the whole model on batch 1 x 2048 tokens (logits of the last token): the GPU's busy time (`ratio`), and the
           wall time of eager forwards as transformers runs them (`eager_ratio`: the host's launch speed sways these,
           by up to 1.5x between runs; the forward synchronizes, so no CUDA graph can take the host out)
  decode   greedy decoding of 64 tokens at batch 1 and 16 after a 32-token prompt, with a static KV cache and one
           CUDA graph per decode step (the step's inputs, attention mask and positions live in static buffers);
           a variant whose step cannot be captured (bf16_eager synchronizes) is timed eagerly, which its row says
Each quantized variant also checks its kernels: layer 0's routed experts against the fake-quantized reference
(`mxmoe.evaluate.activation_quantized_forward`) on 64 tokens, relative error vs `mxmoe.codegen.forward_tolerance`.

    PYTHONPATH=. python bench/e2e_speed.py [--out bench/results/e2e_speed_h100.json] [--layers 24]
    PYTHONPATH=. python bench/e2e_speed.py --quick --out /tmp/e2e_quick.json   # tiny shapes, CPU, a smoke test

Expected on one H100: about 3 minutes, Triton compilation (parallel workers) included.
"""
import argparse, datetime, inspect, json, os, time, traceback
import multiprocessing as mp
import torch
from mxmoe.codegen import MIXED_225

QWEN15 = dict(hidden_size=2048, num_hidden_layers=24, num_attention_heads=16, num_key_value_heads=16, vocab_size=151936,
              num_experts=60, num_experts_per_tok=4, moe_intermediate_size=1408, shared_expert_intermediate_size=5632,
              intermediate_size=5632, norm_topk_prob=False, max_position_embeddings=8192, tie_word_embeddings=False)
QUICK = dict(QWEN15, hidden_size=256, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=4, vocab_size=512,
             num_experts=8, num_experts_per_tok=2, moe_intermediate_size=128, shared_expert_intermediate_size=256,
             intermediate_size=256, max_position_embeddings=512)
MIXED = {'mxmoe_2.25': MIXED_225,  # w1g128, w2g128, w3g128, w2g128: bits with scales and zeros
         'mxmoe_3.25': ['w2g128', 'w3g128', 'w4g128', 'w3g128']}  # the same, one bit wider
UNIFORM = ['w4g128', 'w3g128', 'w8a8']
BF16 = ['bf16', 'bf16_eager']
VARIANTS = {'bf16': "transformers' grouped_mm experts (torch._grouped_mm), bf16: the baseline",
            'bf16_eager': "transformers' eager per-expert loop, bf16",
            'w4g128': 'uniform 4-bit weights, groups of 128 (RTN), generated kernels',
            'w3g128': 'uniform 3-bit weights, groups of 128 (RTN), generated kernels',
            'w8a8': 'uniform int8 weights and per-token int8 activations (RTN), generated kernels',
            'mxmoe_2.25': f"cycle_allocation of {MIXED['mxmoe_2.25']} (2.25 bits per weight; for speed only), generated kernels",
            'mxmoe_3.25': f"cycle_allocation of {MIXED['mxmoe_3.25']} (3.25 bits per weight; for speed only), generated kernels"}
ROT = 4  # inputs rotated inside one timed block graph, so a few experts are not always the ones in L2


def plan_for(variant, model):
    "The `mxmoe.evaluate` plan of a quantized variant."
    from mxmoe.core import moe_layers
    from mxmoe.evaluate import uniform_plan
    if variant in UNIFORM: return uniform_plan(model, variant)
    from mxmoe.codegen import cycle_allocation
    layers = moe_layers(model)
    a = cycle_allocation(layers[0].n_experts, MIXED[variant])
    return {(l.index, e, lin): a[e][lin][0] for l in layers for e in a for lin in a[e]}


def tokens_per_expert(tokens, cfg):
    return tokens * cfg['num_experts_per_tok'] / cfg['num_experts']


def _precompile(task):
    "Compile one variant's kernels for one tile regime (Triton caches them on disk): a small forward at each T."
    from mxmoe.codegen import cycle_allocation, uniform_allocation, quantize_layer, moe_experts_forward
    variant, tpe, Ts, E, k = task
    alloc = cycle_allocation(E, MIXED[variant], tpe) if variant in MIXED else uniform_allocation(E, variant, tokens_per_expert=tpe)
    # N and K only matter to Triton through divisibility by 16, so a narrow layer compiles the same binaries
    layer = quantize_layer(torch.randn(E, 256, 256, device='cuda') * .02, torch.randn(E, 256, 128, device='cuda') * .02, alloc)
    for T in Ts:
        idx = torch.rand(T, E, device='cuda').topk(k).indices
        moe_experts_forward(torch.randn(T, 256, device='cuda').bfloat16(), idx, torch.rand(T, k, device='cuda'), layer)
    torch.cuda.synchronize()
    return task[:2]


def build_model(cfg, device):
    "transformers' Qwen2-MoE model with random bf16 weights, created on the meta device and filled in place (fast)."
    from transformers import Qwen2MoeConfig, Qwen2MoeForCausalLM
    config = Qwen2MoeConfig(**cfg)
    prev = torch.get_default_dtype()
    torch.set_default_dtype(torch.bfloat16)
    try:
        with torch.device('meta'): model = Qwen2MoeForCausalLM(config)
    finally: torch.set_default_dtype(prev)
    model.to_empty(device=device)
    g = torch.Generator(device=device).manual_seed(0)
    with torch.no_grad():
        for n, p in model.named_parameters():
            if 'norm' in n: p.fill_(1.0)
            elif n.endswith('bias'): p.zero_()
            else: p.normal_(0, 0.02, generator=g)
        rot = model.model.rotary_emb  # non-persistent buffers: to_empty left them uninitialized
        model.model.rotary_emb = type(rot)(config=model.config).to(device)
    model.set_attn_implementation('sdpa')
    return model.eval()


def syncs(fns):
    "Whether running `fns` synchronizes with the host (then a CUDA graph cannot capture them)."
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode('error')
    try:
        for f in fns: f()
        return False
    except RuntimeError: return True
    finally: torch.cuda.set_sync_debug_mode('default')


def time_ms(fns, device):
    "(ms per call of `fns`, method): CUDA-graph replays where the calls allow it, else eager."
    if device == 'cpu':
        for f in fns: f()
        t = time.perf_counter(); n = 0
        while n < 3 or time.perf_counter() - t < 0.2:
            for f in fns: f()
            n += 1
        return (time.perf_counter() - t) * 1e3 / (n * len(fns)), 'eager'
    import triton
    if not syncs(fns):
        from bench.bench_grouped import graph_time
        return graph_time(fns), 'cuda_graph'
    ms = triton.testing.do_bench(lambda: [f() for f in fns], warmup=10, rep=60, return_mode='median')
    return ms / len(fns), 'eager'


def sync(device):
    if device != 'cpu': torch.cuda.synchronize()


def time_block(model, T, device):
    "ms of layer 0's MoE block and of its routed experts alone, on T random tokens (ROT inputs rotated)."
    block = model.model.layers[0].mlp
    H = model.config.hidden_size
    g = torch.Generator(device=device).manual_seed(T)
    xs = [torch.randn(1, T, H, device=device, generator=g, dtype=torch.bfloat16) for _ in range(ROT)]
    with torch.no_grad():
        routed = [(x[0], *reversed(block.gate(x[0])[1:])) for x in xs]  # (hidden, top_k_index, top_k_weights)
        blk, m1 = time_ms([lambda x=x: block(x) for x in xs], device)
        exp, m2 = time_ms([lambda a=a: block.experts(*a) for a in routed], device)
    return dict(block_us=blk * 1e3, experts_us=exp * 1e3, method=m1 if m1 == m2 else f'{m1}/{m2}')


def gpu_busy_ms(fn, device):
    "ms the GPU spends in kernels and copies while `fn` runs (torch.profiler; the idle gaps between them left out); wall ms on the CPU."
    from torch.profiler import ProfilerActivity, profile
    if device == 'cpu':
        t = time.perf_counter(); fn(); return (time.perf_counter() - t) * 1e3
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        fn(); sync(device)
    return sum(e.self_device_time_total for e in prof.key_averages()) / 1e3


def time_prefill(model, tokens, device, reps=5):
    """{ms, eager_ms} of a forward over 1 x `tokens` random tokens (no cache, last token's logits), each the median of
    `reps` after a warm-up: `ms` the GPU's busy time (`gpu_busy_ms`: what the kernels take), `eager_ms` the wall time
    of the eager forward, which also holds the gaps where the GPU waits for the host (transformers' forward synchronizes,
    so no CUDA graph captures it) and which the host's launch speed sways by up to 1.5x between runs."""
    ids = torch.randint(0, model.config.vocab_size, (1, tokens), device=device)
    forward = lambda: model(input_ids=ids, use_cache=False, logits_to_keep=1)
    with torch.no_grad():
        forward()
        eager = []
        for _ in range(reps):
            sync(device); t = time.perf_counter()
            forward()
            sync(device); eager.append((time.perf_counter() - t) * 1e3)
        busy = sorted(gpu_busy_ms(forward, device) for _ in range(reps))
    return dict(ms=busy[reps // 2], eager_ms=sorted(eager)[reps // 2])


def time_decode(model, batch, new_tokens, prompt, device):
    "(ms per decode step, method): greedy decoding with a static KV cache, one CUDA graph per step where possible."
    from transformers import StaticCache
    cache_kw = 'past_key_values' if 'past_key_values' in inspect.signature(type(model.model).forward).parameters else 'cache'
    L = prompt + new_tokens + 16
    cache = StaticCache(config=model.config, max_cache_len=L)
    tok = torch.randint(0, model.config.vocab_size, (batch, prompt), device=device)
    pos = torch.full((1, 1), prompt, dtype=torch.long, device=device)
    ar = torch.arange(L, device=device)
    with torch.no_grad():
        out = model(input_ids=tok, use_cache=True, logits_to_keep=1, **{cache_kw: cache})
        tok = out.logits[:, -1:].argmax(-1)

        def step():  # static buffers only: token, position, the mask derived from it, the cache
            mask = (ar <= pos).view(1, 1, 1, L).expand(batch, 1, 1, L)
            o = model(input_ids=tok, position_ids=pos.expand(batch, 1), use_cache=True, logits_to_keep=1,
                      attention_mask={'full_attention': mask, 'sliding_attention': mask}, **{cache_kw: cache})
            tok.copy_(o.logits[:, -1:].argmax(-1))
            pos.add_(1)

        method = 'eager' if device == 'cpu' or syncs([step]) else 'cuda_graph'  # the check ran one step
        run = step
        if method == 'cuda_graph':
            s = torch.cuda.Stream(); s.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(s): step()
            torch.cuda.current_stream().wait_stream(s)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph): step()
            run = graph.replay
        else: step()
        sync(device); t = time.perf_counter()
        for _ in range(new_tokens): run()
        sync(device)
        ms = (time.perf_counter() - t) * 1e3 / new_tokens
    if int(pos) > L: raise RuntimeError(f"decode ran past the cache: {int(pos)} > {L}")
    return ms, method


def check_kernels(model, qts, packed, device):
    "Relative error of layer 0's kernel experts against the fake-quantized reference on 64 tokens, and its tolerance."
    from mxmoe.core import moe_layers
    from mxmoe.codegen import forward_tolerance
    from mxmoe.evaluate import activation_quantized_forward
    l0 = moe_layers(model)[0]
    g = torch.Generator(device=device).manual_seed(1)
    x = torch.randn(64, model.config.hidden_size, device=device, generator=g, dtype=torch.bfloat16)
    with torch.no_grad():
        _, w, idx = l0.router(x)
        y = l0.experts(x, idx, w).float()
        ref = activation_quantized_forward({(e, lin): qt for (li, e, lin), qt in qts.items() if li == l0.index})(l0, x.float(), idx, w.float())
    return float((y - ref).norm() / ref.norm()), forward_tolerance(packed[l0.index])


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--out', default='bench/results/e2e_speed_h100.json')
    p.add_argument('--layers', type=int, default=None, help='decoder layers to build (default: all 24)')
    p.add_argument('--tokens', nargs='*', type=int, default=None, help='block token counts (default 1 16 64 256 1024 4096)')
    p.add_argument('--variants', nargs='*', default=list(VARIANTS))
    p.add_argument('--prefill', type=int, default=None, help='prefill tokens (default 2048)')
    p.add_argument('--decode-batches', nargs='*', type=int, default=None, help='decode batch sizes (default 1 16)')
    p.add_argument('--new-tokens', type=int, default=None, help='decoded tokens (default 64)')
    p.add_argument('--workers', type=int, default=os.cpu_count() or 8, help='parallel compile workers')
    p.add_argument('--quick', action='store_true', help='tiny shapes on the CPU (or the GPU with --device cuda): a smoke test')
    p.add_argument('--device', default=None)
    a = p.parse_args()
    t0 = time.time()
    device = a.device or ('cpu' if a.quick else 'cuda')
    cfg = dict(QUICK if a.quick else QWEN15)
    full_layers = cfg['num_hidden_layers']
    if a.layers: cfg['num_hidden_layers'] = a.layers
    Ts = a.tokens or ([1, 16, 64] if a.quick else [1, 16, 64, 256, 1024, 4096])
    prefill = a.prefill or (128 if a.quick else 2048)
    batches = a.decode_batches or ([1, 4] if a.quick else [1, 16])
    new_tokens = a.new_tokens or (8 if a.quick else 64)
    prompt = 32
    unknown = set(a.variants) - set(VARIANTS)
    if unknown: p.error(f"unknown variants {sorted(unknown)}; known: {list(VARIANTS)}")
    if 'bf16' not in a.variants: p.error("the bf16 variant is the baseline of every ratio: keep it")
    quantized = [v for v in a.variants if v not in BF16]
    from mxmoe.codegen import default_tile
    # every (variant, tokens per expert) regime that gets its own tiles, and the token counts run in it
    regimes = {}
    for v in quantized:
        for T in Ts + [prefill] + batches:
            tpe = tokens_per_expert(T, cfg)
            regimes.setdefault((v, default_tile('w2g128' if v in MIXED else v, tpe)), (tpe, set()))[1].add(T)
    pool = None
    if device != 'cpu' and regimes:
        tasks = [(v, tpe, sorted(t for t in ts if t <= 4096), cfg['num_experts'], cfg['num_experts_per_tok'])
                 for (v, _), (tpe, ts) in sorted(regimes.items())]
        pool = mp.get_context('spawn').Pool(min(a.workers, len(tasks)))
        pending = pool.map_async(_precompile, tasks)
    model = build_model(cfg, device)
    print(f"model: {cfg['num_hidden_layers']} layers, {sum(p.numel() for p in model.parameters()) / 1e9:.2f}B parameters, "
          f"built in {time.time() - t0:.0f}s", flush=True)
    from mxmoe.evaluate import apply_plan_, install_kernels_
    rows = dict(block=[], prefill=[], decode=[], checks=[], errors=[])

    def attempt(what, fn):
        try: return fn()
        except Exception as e:
            rows['errors'].append(dict(what=what, error=f"{type(e).__name__}: {e}", trace=traceback.format_exc(limit=3)))
            print(f"FAILED {what}: {type(e).__name__}: {e}", flush=True)
            if device != 'cpu': torch.cuda.empty_cache()

    if pool is not None:  # a kernel a worker failed to compile is compiled when first used
        attempt('precompile', pending.get); pool.close(); pool.join()
        print(f"compiled {len(regimes)} kernel regimes by {time.time() - t0:.0f}s", flush=True)

    def measure(v, install=lambda tokens: True):
        for T in Ts:
            if not attempt(f'{v} pack for T={T}', lambda: install(T)): continue
            r = attempt(f'{v} block T={T}', lambda: time_block(model, T, device))
            if r: rows['block'].append(dict(variant=v, T=T, **r)); print(f"{v:11s} block T={T:5d}: {r}", flush=True)
        pre = attempt(f'{v} prefill', lambda: install(prefill) and time_prefill(model, prefill, device))
        if pre: rows['prefill'].append(dict(variant=v, batch=1, tokens=prefill, tokens_per_s=prefill / pre['ms'] * 1e3, **pre))
        for B in batches:
            r = attempt(f'{v} decode B={B}', lambda: install(B) and time_decode(model, B, new_tokens, prompt, device))
            if r: rows['decode'].append(dict(variant=v, batch=B, new_tokens=new_tokens, prompt=prompt, ms_per_step=r[0],
                                             tokens_per_s=B / r[0] * 1e3, method=r[1]))
        print(f"{v:11s} prefill {pre and (round(pre['ms'], 2), round(pre['eager_ms'], 2))} ms (GPU busy, eager); decode {[(d['batch'], round(d['ms_per_step'], 2), d['method']) for d in rows['decode'] if d['variant'] == v]}"
              f"  ({time.time() - t0:.0f}s)", flush=True)

    for v in [b for b in BF16 if b in a.variants]:
        attempt(f'{v} experts implementation', lambda: model.set_experts_implementation('grouped_mm' if v == 'bf16' else 'eager'))
        measure(v)
    bits = {}
    for v in quantized:
        plan = plan_for(v, model)
        qts = attempt(f'{v} quantize', lambda: apply_plan_(model, plan))  # RTN; also writes the dequantized weights back
        if qts is None: continue
        state = {}

        def install(tokens, v=v, plan=plan, qts=qts):
            tile = default_tile('w2g128' if v in MIXED else v, tokens_per_expert(tokens, cfg))
            if state.get('tile') != tile:
                state.pop('packed', None)  # the layers' old packing goes as each layer gets its new one
                state['packed'] = install_kernels_(model, qts, plan, tokens_per_expert=tokens_per_expert(tokens, cfg))
                state['tile'] = tile
            return tile
        if attempt(f'{v} pack', lambda: install(64)) is None: continue
        packed = state['packed']
        n_weights = len(packed) * 3 * cfg['hidden_size'] * cfg['moe_intermediate_size'] * cfg['num_experts']
        bits[v] = 8 * sum(p.gate_up.nbytes + p.down.nbytes for p in packed.values()) / n_weights
        r = attempt(f'{v} kernel check', lambda: check_kernels(model, qts, packed, device))
        if r: rows['checks'].append(dict(variant=v, rel_err=r[0], tol=r[1], ok=r[0] <= r[1])); print(f"{v:11s} check {r}", flush=True)
        del packed
        measure(v, install)
        del qts, state
        for l in model.model.layers: l.mlp.experts.__dict__.pop('forward', None)  # what ExpertsOverride.restore does: frees the packed weights
        if device != 'cpu': torch.cuda.empty_cache()

    def add_ratio(table, by, key, name, faster_is_higher):
        "Add `name` = speed-up over the bf16 row with the same `by` to each row of `table`."
        base = {r[by]: r[key] for r in table if r['variant'] == 'bf16'}
        for r in table:
            if r[by] in base: r[name] = r[key] / base[r[by]] if faster_is_higher else base[r[by]] / r[key]
    add_ratio(rows['block'], 'T', 'block_us', 'block_ratio', False)
    add_ratio(rows['block'], 'T', 'experts_us', 'experts_ratio', False)
    add_ratio(rows['prefill'], 'tokens', 'tokens_per_s', 'ratio', True)
    add_ratio(rows['prefill'], 'tokens', 'eager_ms', 'eager_ratio', False)
    add_ratio(rows['decode'], 'batch', 'tokens_per_s', 'ratio', True)
    import triton, transformers
    res = dict(device=torch.cuda.get_device_name() if device != 'cpu' else 'cpu', torch=torch.__version__,
               triton=triton.__version__, transformers=transformers.__version__, cuda=torch.version.cuda,
               date=datetime.datetime.now().isoformat(timespec='seconds'), quick=a.quick,
               model=dict(name='Qwen1.5-MoE-A2.7B shape, random bf16 weights' if not a.quick else 'tiny Qwen2-MoE, random bf16 weights',
                          layers=cfg['num_hidden_layers'], full_layers=full_layers, **{k: cfg[k] for k in (
                              'hidden_size', 'num_experts', 'num_experts_per_tok', 'moe_intermediate_size',
                              'shared_expert_intermediate_size', 'vocab_size')}),
               variants={v: VARIANTS[v] for v in a.variants}, stored_bits=bits, baseline='bf16',
               ratio='bf16 time / variant time (above 1: faster than bf16)',
               allocation_note='mixed allocations are cycle_allocation (configs cycled over experts, the same in every '
                               'layer), RTN weights: for speed only, random weights make accuracy meaningless',
               tiles='default_tile for the tokens per expert of each measurement (T x top-k / experts)',
               block_method=f'CUDA-graph replays over {ROT} random inputs where capturable (eager otherwise, see method)',
               prefill_method='forward, batch 1, no cache, logits of the last token, after a warm-up: ms (ratio) the median '
                              'of 5 GPU busy times (torch.profiler: kernels and copies, idle gaps left out), eager_ms '
                              '(eager_ratio) the median of 5 wall times, which the host\'s launch speed sways',
               decode_method=f'greedy, {prompt}-token prompt, static KV cache, one CUDA graph per decode step where '
                             'capturable (eager otherwise, see method); mean time of the new_tokens steps after warm-up steps',
               seconds=time.time() - t0, **rows)
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    tmp = a.out + '.tmp'
    with open(tmp, 'w') as f: json.dump(res, f, indent=1)
    os.replace(tmp, a.out)
    print_table(res)
    print(f"wrote {a.out} in {res['seconds']:.0f}s; {len(rows['errors'])} errors")


def print_table(res):
    "Speed-ups over bf16, a row per variant."
    cols = [f"T={T}" for T in sorted({r['T'] for r in res['block']})] + ['prefill', 'pre eag'] + \
           [f"dec B={b}" for b in sorted({r['batch'] for r in res['decode']})]
    get = {}
    for r in res['block']: get[(r['variant'], f"T={r['T']}")] = r.get('block_ratio')
    for r in res['prefill']: get[(r['variant'], 'prefill')], get[(r['variant'], 'pre eag')] = r.get('ratio'), r.get('eager_ratio')
    for r in res['decode']: get[(r['variant'], f"dec B={r['batch']}")] = r.get('ratio')
    print(f"\nspeed-up over bf16 (MoE block of layer 0 at T tokens; whole model: prefill 1x{res['prefill'][0]['tokens'] if res['prefill'] else '?'}, decode)")
    print(f"{'variant':12s} {'bits':>5s} " + ' '.join(f"{c:>8s}" for c in cols))
    for v in res['variants']:
        b = res['stored_bits'].get(v)
        print(f"{v:12s} {b if b is None else round(b, 2)!s:>5s} " +
              ' '.join(f"{get[(v, c)]:8.2f}" if get.get((v, c)) is not None else f"{'-':>8s}" for c in cols))


if __name__ == '__main__': main()
