"""A target for Nsight Compute: three routed-experts forwards of one model shape, config and token count (random weights, GPU).

    PYTHONPATH=. ncu --clock-control none --section WarpStateStats --section SourceCounters --print-details all \
        -k regex:"gate_up_kernel|down_kernel" -s 2 -c 2 python bench/ncu_target.py qwen15 w4g128 1

profiles the gate_up and down launches of the second forward (the first compiles). A fourth argument DIR also
writes each generated kernel's SASS and its registers / spills / shared memory there. The stall breakdowns of the
Gluon decode kernels at 1 and 64 tokens (H100) are in `results/ncu_decode_h100.json`.
"""
import sys, torch
sys.path.insert(0, '.')
from bench.bench_grouped import allocation, MODELS, random_experts
from mxmoe.codegen import quantize_layer, moe_experts_forward
model, config, T = sys.argv[1], sys.argv[2], int(sys.argv[3])
E, H, I, k = MODELS[model]
wgu, wdn = random_experts(E, H, I)
layer = quantize_layer(wgu.float(), wdn.float(), allocation(config, E, T * k / E, H, I))
g = torch.Generator(device='cuda').manual_seed(T)
w, idx = torch.topk(torch.randn(T, E, device='cuda', generator=g).softmax(-1), k)
x = torch.randn(T, H, device='cuda').bfloat16()
for _ in range(3): moe_experts_forward(x, idx, w, layer)
torch.cuda.synchronize()
if len(sys.argv) > 4:  # dump SASS and metadata of the generated kernels
    import pathlib
    out = pathlib.Path(sys.argv[4]); out.mkdir(parents=True, exist_ok=True)
    mod = layer.kernels
    for name in ('gate_up_kernel', 'down_kernel'):
        kern = getattr(mod, name)
        for dev_cache in kern.device_caches.values():
            for key, ck in dev_cache[0].items():
                (out / f"{config}_{T}_{name}.sass").write_text(ck.asm.get('sass', ''))
                (out / f"{config}_{T}_{name}.meta").write_text(f"regs {ck.n_regs} spills {ck.n_spills} shared {ck.metadata.shared}\n")
print('done')
