"""A target for Nsight Compute: three routed-experts forwards of one model shape, config and token count (random weights, GPU).

    PYTHONPATH=. ncu --clock-control none --section WarpStateStats --section SourceCounters --print-details all \
        -k regex:"gate_up_kernel|down_kernel" -s 2 -c 2 python bench/ncu_target.py qwen15 w4g128 1

profiles the gate_up and down launches of the second forward (the first compiles). A fourth argument DIR also
writes each generated kernel's SASS and its registers / spills / shared memory there. The stall breakdowns of the
Gluon decode kernels at 1 and 64 tokens (H100) are in `results/ncu_decode_h100.json`.
"""
import pathlib, sys
import torch
from bench.bench_grouped import allocation, MODELS, random_experts, routings
from mxmoe.codegen import quantize_layer, moe_experts_forward

model, config, T = sys.argv[1], sys.argv[2], int(sys.argv[3])
E, H, I, k = MODELS[model]
wgu, wdn = random_experts(E, H, I)
layer = quantize_layer(wgu.float(), wdn.float(), allocation(config, E, T * k / E, H, I))
x, idx, w = routings(T, E, k, H)[0]
for _ in range(3): moe_experts_forward(x, idx, w, layer)
torch.cuda.synchronize()
if len(sys.argv) > 4:  # each compiled variant's SASS and its registers / spills / shared memory
    out = pathlib.Path(sys.argv[4]); out.mkdir(parents=True, exist_ok=True)
    for name in ('gate_up_kernel', 'down_kernel'):
        compiled = [ck for cache in getattr(layer.kernels, name).device_caches.values() for ck in cache[0].values()]
        for i, ck in enumerate(compiled):
            stem = out / f"{config}_{T}_{name}_{i}"
            stem.with_suffix('.sass').write_text(ck.asm.get('sass', ''))
            stem.with_suffix('.meta').write_text(f"regs {ck.n_regs} spills {ck.n_spills} shared {ck.metadata.shared}\n")
print('done')
