"""Peak GPU memory of layer-by-layer calibration (`collect_stats(offload=True)`) on a Qwen1.5-MoE-shaped model.

The model (Qwen2MoeConfig with Qwen1.5-MoE-A2.7B's shapes, /work/shared/model-shapes.md: 24 layers, hidden 2048,
60 experts of 1408, top-4, a gated shared expert of 5632, vocab 151936, bf16; 14.3 B parameters, 28.6 GB) is built
on the CPU with random weights: on the meta device first, then allocated and filled by copying slices of one
random pool (so no slow per-tensor init), norms set to 1. The calibration set is 16 windows of 512 random token
ids (seeded; random ids, not WikiText: memory and time do not depend on the text). Statistics are collected with
only one decoder layer on the GPU at a time; the script reports `torch.cuda.max_memory_allocated()` against the
model's full size, the wall time and the time of each layer (from the first forward of one layer to the first of
the next: moving the layer in, tracing all batches, finishing its statistics and moving it back).

    PYTHONPATH=. python bench/layerwise_memory.py --out bench/results/layerwise_memory_h100.json
    PYTHONPATH=. python bench/layerwise_memory.py --quick --out /tmp/lw.json   # tiny model on the CPU, seconds

Expected time on one H100 with 16 CPU cores: about 1.5 min (building the 28.6 GB model on the CPU ~20-40 s,
24 layers ~1-2 s each). Add `--check` to also compare two layers against the whole-model pass on the GPU
(moves the whole model to the GPU: ~+30 s).
"""
import argparse, datetime, json, math, platform, sys, time
from pathlib import Path
import torch

QWEN15 = dict(vocab_size=151936, hidden_size=2048, intermediate_size=5632, num_hidden_layers=24, num_attention_heads=16,
              num_key_value_heads=16, num_experts=60, num_experts_per_tok=4, moe_intermediate_size=1408,
              shared_expert_intermediate_size=5632, norm_topk_prob=False, max_position_embeddings=8192,
              tie_word_embeddings=False)
QUICK = dict(QWEN15, vocab_size=1000, hidden_size=128, intermediate_size=256, num_hidden_layers=3, num_attention_heads=4,
             num_key_value_heads=4, num_experts=8, num_experts_per_tok=2, moe_intermediate_size=96,
             shared_expert_intermediate_size=256)


@torch.no_grad()
def random_model(shape:dict, n_layers:int|None, dtype=torch.bfloat16, std:float=0.02, seed:int=0):
    "A Qwen2-MoE causal LM with `shape` on the CPU, random weights filled fast from one random pool."
    from transformers import AutoModelForCausalLM, Qwen2MoeConfig
    cfg = Qwen2MoeConfig(**{**shape, **({} if n_layers is None else dict(num_hidden_layers=n_layers))})
    with torch.device('meta'): model = AutoModelForCausalLM.from_config(cfg, dtype=dtype)
    model.to_empty(device='cpu')
    g = torch.Generator().manual_seed(seed)
    pool = (torch.randn(1 << 24, generator=g) * std).to(dtype)
    off = 0
    for name, p in model.named_parameters():
        if 'norm' in name: p.fill_(1.0); continue
        flat = p.view(-1)
        for i in range(0, flat.numel(), len(pool)):
            n = min(len(pool), flat.numel() - i)
            off = (off + 7919 * 131) % (len(pool) - n + 1)  # a different slice of the pool each time
            flat[i:i + n].copy_(pool[off:off + n])
    model.model.rotary_emb = type(model.model.rotary_emb)(model.config)  # its buffers were left empty by to_empty
    return model.eval()


def layer_timer(model, sync):
    "Forward pre-hooks stamping the first call of each decoder layer; returns (stamps dict, hook handles)."
    stamps, handles = {}, []
    for j, layer in enumerate(model.model.layers):
        def hook(mod, args, kwargs, j=j):
            if j not in stamps: sync(); stamps[j] = time.perf_counter()
        handles.append(layer.register_forward_pre_hook(hook, with_kwargs=True))
    return stamps, handles


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--layers', type=int, default=None, help='decoder layers to build (default: all 24)')
    p.add_argument('--windows', type=int, default=16)
    p.add_argument('--seqlen', type=int, default=512)
    p.add_argument('--batch-size', type=int, default=8)
    p.add_argument('--device', default=None, help="default 'cuda' (the CPU with --quick)")
    p.add_argument('--quick', action='store_true', help='tiny model and data, CPU: a smoke test')
    p.add_argument('--check', action='store_true', help='also compare two layers with the whole-model pass')
    p.add_argument('--out', type=Path, default=Path('bench/results/layerwise_memory_h100.json'))
    a = p.parse_args()
    from mxmoe.stats import collect_stats
    from mxmoe.core import write_atomic
    if a.quick: a.windows, a.seqlen = min(a.windows, 4), min(a.seqlen, 64)
    device = torch.device(a.device or ('cpu' if a.quick else 'cuda'))
    cuda = device.type == 'cuda'
    sync = torch.cuda.synchronize if cuda else (lambda: None)

    t0 = time.perf_counter()
    model = random_model(QUICK if a.quick else QWEN15, a.layers)
    build_s = time.perf_counter() - t0
    model_bytes = sum(t.numel() * t.element_size() for t in model.parameters())
    layer_bytes = sum(t.numel() * t.element_size() for t in model.model.layers[0].parameters())
    cfg = model.config
    print(f"model: {sum(t.numel() for t in model.parameters()) / 1e9:.2f} B parameters, {model_bytes / 1e9:.2f} GB "
          f"({cfg.num_hidden_layers} layers, one decoder layer {layer_bytes / 1e9:.2f} GB), built in {build_s:.0f} s")
    ids = torch.randint(0, cfg.vocab_size, (a.windows, a.seqlen), generator=torch.Generator().manual_seed(0))

    if cuda: torch.cuda.reset_peak_memory_stats(device); base_alloc = torch.cuda.memory_allocated(device)
    stamps, handles = layer_timer(model, sync)
    t0 = time.perf_counter()
    stats = collect_stats(model, ids, batch_size=a.batch_size, offload=True, device=device, progress=False)
    sync(); t_end = time.perf_counter()
    for h in handles: h.remove()
    wall = t_end - t0
    peak = torch.cuda.max_memory_allocated(device) - base_alloc if cuda else None
    js = sorted(stamps)
    per_layer = [(stamps[js[i + 1]] if i + 1 < len(js) else t_end) - stamps[j] for i, j in enumerate(js)]
    first_layer_inputs_s = stamps[js[0]] - t0
    rep = stats.summary()
    if not all(torch.isfinite(l.gram[k]).all() for l in stats.layers.values() for k in l.gram): sys.exit('non-finite statistics')
    assert all(p.device.type == 'cpu' for p in model.parameters()), 'a layer was left on the device'

    check = None
    if a.check:
        layers = sorted(stats.layers)[:2]
        model.to(device)
        whole = collect_stats(model, ids, batch_size=a.batch_size, layers=layers, progress=False)
        model.to('cpu')
        rel = max(float((whole[i].gram[k].cpu() - stats[i].gram[k]).norm() / stats[i].gram[k].norm()) for i in layers for k in ('gate_up', 'down'))
        check = dict(layers=layers, tokens_equal=all(torch.equal(whole[i].tokens.cpu(), stats[i].tokens) for i in layers),
                     gram_max_rel_diff=rel)
        print(f"check against the whole-model pass, layers {layers}: {check}")

    res = dict(device=torch.cuda.get_device_name(device) if cuda else platform.processor() or 'cpu',
               torch=torch.__version__, transformers=__import__('transformers').__version__,
               triton=getattr(sys.modules.get('triton'), '__version__', None),
               date=datetime.datetime.now().isoformat(timespec='seconds'), quick=a.quick,
               shape=dict(QUICK if a.quick else QWEN15, num_hidden_layers=cfg.num_hidden_layers, dtype='bfloat16'),
               data=f"{a.windows} windows x {a.seqlen} random token ids (seed 0), batch {a.batch_size}",
               model_bytes=model_bytes, decoder_layer_bytes=layer_bytes, peak_device_bytes=peak,
               peak_over_model=None if peak is None else peak / model_bytes, build_s=build_s, wall_s=wall,
               first_layer_inputs_s=first_layer_inputs_s, layer_s=per_layer,
               experts_balanced=int((rep.added > 0).sum()), experts=len(rep), methods=rep.method.value_counts().to_dict(),
               check=check)
    write_atomic(a.out, json.dumps(res, indent=1))
    pk = 'n/a (CPU)' if peak is None else f"{peak / 1e9:.2f} GB = {100 * peak / model_bytes:.1f}% of the model"
    print(f"layer-by-layer statistics of {cfg.num_hidden_layers} layers on {res['device']}: peak device memory {pk}; "
          f"wall {wall:.1f} s (first-layer inputs {first_layer_inputs_s:.1f} s, per layer {min(per_layer):.2f}-{max(per_layer):.2f} s, "
          f"mean {sum(per_layer) / len(per_layer):.2f} s) -> {a.out}")


if __name__ == '__main__':
    main()
