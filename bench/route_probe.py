"""The routing launch with and without the Gluon kernels' token sums (issue #6; GPU; ~20 s).

`mxmoe.kernels.route` sorts the assignments in one program; `route_and_sum` runs the same launch with more programs,
each summing rows of the hidden states over groups of 128 columns. Prints both times (CUDA-graph replays over four
routings) and their ratio for three layer shapes at 1-256 tokens, then the registers, spills and shared memory of the generated
kernels of Mixtral-8x7B- and Qwen1.5-MoE-shaped layers at 64 tokens (w4g128 and the mixed 2.25-bit allocation).

    PYTHONPATH=. python bench/route_probe.py
"""
import torch
from bench.bench_grouped import MODELS, allocation, graph_time, random_experts, routings
from mxmoe.codegen import moe_experts_forward, quantize_layer
from mxmoe.kernels import route, route_and_sum
from mxmoe.perf import kernel_meta

print(torch.cuda.get_device_name(), '- the routing launch alone and with the token sums, same run')
for E, H, k in ((60, 2048, 4), (8, 4096, 2), (128, 2048, 8)):
    for T in (1, 16, 64, 256):
        ids = [torch.randint(0, E, (T, k), device='cuda') for _ in range(4)]
        xs = [torch.randn(T, H, device='cuda').bfloat16() for _ in range(4)]
        plain = graph_time([lambda i=i: route(i, E) for i in ids]) * 1e3
        summed = graph_time([lambda i=i, x=x: route_and_sum(i, E, x, 128) for i, x in zip(ids, xs)]) * 1e3
        print(f"E={E} H={H} k={k} T={T}: route {plain:.2f} us, route_and_sum {summed:.2f} us ({summed / plain:.2f}x)", flush=True)
for model, T in (('mixtral', 64), ('qwen15', 64)):
    E, H, I, k = MODELS[model]
    wgu, wdn = random_experts(E, H, I)
    for config in ('w4g128', 'mixed225'):
        layer = quantize_layer(wgu.float(), wdn.float(), allocation(config, E, T * k / E, H, I))
        s = routings(T, E, k, H)[0]
        moe_experts_forward(s[0], s[1], s[2], layer); torch.cuda.synchronize()
        print(model, T, config, 'gate_up', kernel_meta(layer, 'gate_up'), 'down', kernel_meta(layer, 'down'), flush=True)
    del wgu, wdn
