"""GPTQ time on one Qwen1.5-MoE-sized MoE layer (issue #5, "Performance"): 60 experts, hidden 2048, expert
intermediate 1408, so gate_up weights [60, 2816, 2048] and down weights [60, 2048, 1408].

`mxmoe.quant.quantize_weight` (GPTQ batched over the experts: one call per linear) with the default GPTQ settings
(act_order, static groups, block 128, damp 0.01, clipping search), for w4g128 and w2g128, by 'gptq', 'gptq_had' (Hadamard-rotated
first) and 'rtn' for comparison; each timed with torch.cuda.synchronize around it after a warm-up call on one expert.
Weights are random; the Hessians H = XᵀX come from random correlated inputs X = (Z A) diag(s): Z Gaussian
[tokens, K] per expert, A = I + a Gaussian mixing / sqrt(K) shared by the experts, s log-normal column scales, so
H has the off-diagonal structure and uneven diagonal that GPTQ and act_order exploit. Each row also gives the
relative output error tr(ΔW H ΔWᵀ) / tr(W H Wᵀ), which GPTQ must keep below RTN's.

    PYTHONPATH=. python bench/gptq_time.py [--out bench/results/gptq_time_h100.json]
    PYTHONPATH=. python bench/gptq_time.py --quick --out /tmp/gptq_quick.json   # CPU, 2 experts

Expected on one H100: under a minute (Hessians and quantization of both linears, 2 configs x 3 methods).
"""
import argparse, datetime, json, os, time
import torch

E, HIDDEN, INTER = 60, 2048, 1408



def sync(device):
    if device != 'cpu': torch.cuda.synchronize()


def hessians(n_experts:int, K:int, tokens:int, device, seed:int=0) -> torch.Tensor:
    "Gram matrices XᵀX [E, K, K] of random correlated inputs X = (Z A) diag(s), `tokens` rows per expert."
    g = torch.Generator(device=device).manual_seed(seed)
    A = torch.eye(K, device=device) + torch.randn(K, K, device=device, generator=g) / K ** 0.5
    s = torch.exp(0.5 * torch.randn(K, device=device, generator=g))
    H = torch.empty(n_experts, K, K, device=device)
    for e in range(n_experts):
        X = (torch.randn(tokens, K, device=device, generator=g) @ A) * s
        torch.matmul(X.T, X, out=H[e])
    return H


def output_error(w:torch.Tensor, wq:torch.Tensor, H:torch.Tensor) -> float:
    "tr(ΔW H ΔWᵀ) / tr(W H Wᵀ) summed over the experts: the relative error of the outputs on the calibration inputs."
    quad = lambda d: torch.einsum('enk,ekj,enj->', d, H, d)
    return float(quad(w - wq) / quad(w))


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--out', default='bench/results/gptq_time_h100.json')
    p.add_argument('--experts', type=int, default=None, help=f'experts (default {E}; 2 with --quick)')
    p.add_argument('--tokens', type=int, default=None, help='calibration tokens per expert (default 4096; 256 with --quick)')
    p.add_argument('--configs', nargs='*', default=['w4g128', 'w2g128'])
    p.add_argument('--methods', nargs='*', default=['gptq', 'gptq_had', 'rtn'])
    p.add_argument('--quick', action='store_true', help='CPU, 2 experts: a smoke test')
    a = p.parse_args()
    from mxmoe.quant import gptq_defaults, quantize_weight, weight_of
    t_start = time.time()
    device = 'cpu' if a.quick else 'cuda'
    n_exp = a.experts or (2 if a.quick else E)
    tokens = a.tokens or (256 if a.quick else 4096)
    torch.backends.cuda.matmul.allow_tf32 = False  # the quantizer's fp32 algebra as written
    g = torch.Generator(device=device).manual_seed(1)
    linears = {'gate_up': (2 * INTER, HIDDEN), 'down': (HIDDEN, INTER)}
    W = {n: torch.randn(n_exp, N, K, device=device, generator=g) * 0.02 for n, (N, K) in linears.items()}
    sync(device); t = time.perf_counter()
    Hs = {n: hessians(n_exp, K, tokens, device, seed=i) for i, (n, (N, K)) in enumerate(linears.items())}
    sync(device); t_hess = time.perf_counter() - t
    for n in linears:  # warm-up: kernels, cuSOLVER and the Hadamard matrices of both sizes
        for m in a.methods: quantize_weight(W[n][:1], a.configs[0], m, Hs[n][:1])
    rows = []
    for cfg in a.configs:
        for m in a.methods:
            row = dict(config=cfg, method=m)
            for n in linears:
                sync(device); t = time.perf_counter()
                qt = quantize_weight(W[n], cfg, m, Hs[n])
                sync(device); row[f'{n}_s'] = time.perf_counter() - t
                row[f'{n}_rel_output_err'] = output_error(W[n], weight_of(qt), Hs[n])
                del qt
            row['layer_s'] = row['gate_up_s'] + row['down_s']
            row['per_expert_s'] = row['layer_s'] / n_exp
            rows.append(row)
            print(f"{cfg:7s} {m:8s} layer {row['layer_s']:7.3f}s (gate_up {row['gate_up_s']:.3f}s, down {row['down_s']:.3f}s), "
                  f"{row['per_expert_s'] * 1e3:7.2f} ms/expert; output error gate_up {row['gate_up_rel_output_err']:.2e} "
                  f"down {row['down_rel_output_err']:.2e}", flush=True)
    import triton
    res = dict(device=torch.cuda.get_device_name() if device != 'cpu' else 'cpu', torch=torch.__version__,
               triton=triton.__version__, cuda=torch.version.cuda, date=datetime.datetime.now().isoformat(timespec='seconds'),
               quick=a.quick, experts=n_exp, hidden=HIDDEN, intermediate=INTER, tokens_per_expert=tokens,
               shapes={n: [n_exp, N, K] for n, (N, K) in linears.items()},
               gptq_settings='mxmoe.quant.gptq_quantize defaults: ' + ', '.join(f'{k}={v}' for k, v in gptq_defaults().items()) + ' (act_order with static groups); fp32, TF32 off',
               hessian_s=t_hess, hessians='X = (Z A) diag(s): Z ~ N(0,1) [tokens, K] per expert, A = I + N(0,1)/sqrt(K), s = exp(N(0, 0.25))',
               seconds=time.time() - t_start, rows=rows)
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out + '.tmp', 'w') as f: json.dump(res, f, indent=1)
    os.replace(a.out + '.tmp', a.out)
    print(f"wrote {a.out} ({res['seconds']:.0f}s, Hessians {t_hess:.1f}s)")


if __name__ == '__main__': main()
