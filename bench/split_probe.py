"""Issue #6: how a Gluon decode launch's time at 1 token depends on its K loop's length, and what splitting the loop
into K parts (`mxmoe.codegen.gluon_split`, forced here) buys: gate_up alone (K = H = 1024, 2048, 4096: 8, 16, 32
groups) and down alone (K = I = 1408: 11 groups) of a Qwen1.5-MoE-sized layer (60 experts, I 1408, top-4), w4g128,
CUDA-graph replays rotating over 4 routings (weights mostly from HBM) or one routing repeated (weights in L2).

    PYTHONPATH=.:bench python bench/split_probe.py OUT.json   (~10 s)
    ncu ... python bench/split_probe.py --ncu H SPLIT   (gate_up at K = H run 6 times eagerly, for Nsight Compute)
"""
import json, sys, time
import torch, triton
import mxmoe.codegen as cg
from mxmoe.kernels import route
from bench_grouped import graph_time, random_experts, routings

E, I, K_TOP = 60, 1408, 4


def build(H, T):
    "A w4g128 layer with H hidden features, its kernels, and launchers of gate_up and down for each of 4 routings."
    wgu, wdn = random_experts(E, H, I)
    layer = cg.quantize_layer(wgu.float(), wdn.float(), cg.uniform_allocation(E, 'w4g128', tokens_per_expert=T * K_TOP / E))
    mod = layer.kernels
    A = T * K_TOP
    inter = torch.randn(A, I, device='cuda').bfloat16()
    o1 = torch.empty(A, I, device='cuda', dtype=torch.bfloat16); o2 = torch.empty(A, H, device='cuda', dtype=torch.bfloat16)
    routed = [route(s[1], E) + (s,) for s in routings(T, E, K_TOP, H)]
    calls = {'gate_up': lambda r: cg.launch_linear(mod, layer.gate_up, r[2][0], r[1], r[0], A, o1, K_TOP),
             'down': lambda r: cg.launch_linear(mod, layer.down, inter, r[1], r[0], A, o2, r[2][2].reshape(-1))}
    return calls, routed


def force_split(S):
    "Every Gluon launch from now on splits its K loop into S parts."
    cg.gluon_split = lambda programs, sm, groups: S


def launch_times(H, T, splits):
    "{(linear, split, 'cold'|'hot'): µs per launch}."
    cg.SPLIT_FILL = 2 * max(splits)  # a workspace large enough for every forced split (made at the first launch)
    calls, routed = build(H, T)
    out = {}
    for S in splits:
        force_split(S)
        for lin, f in calls.items():
            out[(lin, S, 'cold')] = 1e3 * graph_time([lambda r=r, f=f: f(r) for r in routed])
            out[(lin, S, 'hot')] = 1e3 * graph_time([lambda f=f: f(routed[0])] * 4)
    return out


def main():
    if sys.argv[1] == '--ncu':
        H, S = int(sys.argv[2]), int(sys.argv[3])
        cg.SPLIT_FILL = 2 * S
        force_split(S)
        calls, routed = build(H, 1)
        for _ in range(6): calls['gate_up'](routed[0])
        torch.cuda.synchronize()
        return
    t0 = time.time()
    rows = []
    for H in (1024, 2048, 4096):
        for (lin, S, state), us in launch_times(H, 1, (1, 2, 4)).items():
            if lin == 'down' and H != 2048: continue
            K = H if lin == 'gate_up' else I
            rows.append(dict(linear=lin, H=H, K=K, groups=-(-K // 128), split=S, state=state, us=us))
            print(f"{lin:8s} K {K:5d} groups {-(-K // 128):3d} split {S} {state:4s} {us:7.2f} us", flush=True)
    json.dump({'device': torch.cuda.get_device_name(), 'torch': torch.__version__, 'triton': triton.__version__,
               'what': __doc__.split('\n\n')[0], 'seconds': time.time() - t0, 'rows': rows}, open(sys.argv[1], 'w'), indent=1)


if __name__ == '__main__': main()
