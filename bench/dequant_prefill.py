"""Issue #6, many tokens: weight-only launches as one dequantization into bf16 and torch's grouped GEMM (GPU, a probe).

From about a thousand tokens the weight-only Triton launches (`(128, 128, 64)` tiles, weights dequantized in every
tile's K loop, once per 128-row block) run at 0.56-0.96x of torch bf16 `torch._grouped_mm` (`bench_grouped.py`).
This probe times the other way, which pays when the GEMMs are bound by the tensor cores: one Triton launch per
branch writes every expert's bf16 weights `(q - z) s` from the same packed codes, then the bf16 block runs on
them (the pipeline `bench_grouped.bf16_block` times, with our routing launch). Per model shape, token count and
config, in one run: the shipped block (`moe_experts_forward`), this block, the dequantization alone and the bf16
block, each as CUDA-graph replays over `bench_grouped.ROT` routings; each dequantized weight is checked against
`mxmoe.kernels.unpack_weight` (exact up to one bf16 rounding) and each block's output against the shipped one.

    PYTHONPATH=.:bench python bench/dequant_prefill.py OUT.json [--models ...] [--tokens ...] [--configs ...]
"""
import argparse, json, time
import torch
import torch.nn.functional as F
import triton
import triton.language as tl
from bench_grouped import MODELS, ROT, allocation, bf16_block, graph_time, quantize_configs, random_experts, routings
from mxmoe.codegen import moe_experts_forward, normalize_allocation, pack_layer
from mxmoe.quant import dequantize
from mxmoe.kernels import _asym_words, _dequantized, _group_offset, kernel_constants, route, unpack_weight

BN, BK = 64, 128  # rows and columns one program dequantizes (BK is cut to the group for groups under 128)


@triton.jit
def dequant_kernel(q0_ptr, q1_ptr, s_ptr, z_ptr, expert_ptr, out_ptr, N, K,
                   W_BITS: tl.constexpr, GROUP: tl.constexpr, BN: tl.constexpr, BK: tl.constexpr):
    "bf16 weights (q - z) s of rows n-block x columns k-block of stack slot `program_id(2)`, into expert[slot]'s [N, K] of out."
    slot = tl.program_id(2)
    n = tl.program_id(0) * BN + tl.arange(0, BN)
    n_mask = n < N
    k0 = tl.program_id(1) * BK
    wrow = slot * N + n
    w0, w1 = _asym_words(q0_ptr, q1_ptr, wrow, n_mask, k0, K, W_BITS, BN, BK)
    if GROUP == -1:
        s, m = _group_offset(s_ptr, z_ptr, wrow, n_mask, 0, 1, W_BITS)
    else:
        s, m = _group_offset(s_ptr, z_ptr, wrow, n_mask, k0 // GROUP, tl.cdiv(K, GROUP), W_BITS)
    w = _dequantized(w0, w1, s, m, W_BITS, BN, BK)
    e = tl.load(expert_ptr + slot).to(tl.int64)
    kk = k0 + tl.arange(0, BK)
    tl.store(out_ptr + e * N * K + n.to(tl.int64)[:, None] * K + kk[None, :], w, mask=n_mask[:, None] & (kk < K)[None, :])


def dequant_plan(lin):
    "Per branch of one packed linear (the 'k' layout, weight-only asymmetric codes): its packed weight, constants, BK and experts (made once, outside the graphs)."
    plan = []
    for b, ((cfg, _), pw) in enumerate(zip(lin.branches, lin.packed)):
        c = kernel_constants(cfg)
        if c['W_KIND'] != 1 or pw.layout != 'k': return None
        members = (lin.branch_of == b).nonzero().flatten().to(torch.int32)
        plan.append((pw, c, BK if c['GROUP'] == -1 else min(BK, c['GROUP']), members))
    return plan


def dequantize_linear(plan, out):
    "Every expert's bf16 weight [E, N, K] of one linear, by its `dequant_plan`, into `out`."
    N, K = out.shape[1:]
    for pw, c, bk, members in plan:
        dequant_kernel[(triton.cdiv(N, BN), triton.cdiv(K, bk), len(members))](
            pw.data[0], pw.data[-1], pw.scale, pw.zero, members, out, N, K, W_BITS=c['W_BITS'], GROUP=c['GROUP'], BN=BN, BK=bk)
    return out


def dequant_block(hidden, idx, w, n_experts, plans, wgu, wdn):
    "The routed-experts block on weights dequantized by this launch: our routing, then the bf16 grouped GEMMs and glue."
    T, k = idx.shape
    counts, order = route(idx, n_experts)
    dequantize_linear(plans[0], wgu); dequantize_linear(plans[1], wdn)
    order = order.long()
    offs = torch.cumsum(counts, 0, dtype=torch.int32)
    g, u = torch._grouped_mm(hidden[order // k], wgu.transpose(-2, -1), offs=offs).chunk(2, -1)
    y = torch._grouped_mm(F.silu(g) * u, wdn.transpose(-2, -1), offs=offs) * w.reshape(-1)[order, None]
    out = torch.empty_like(y)
    out[order] = y
    return out.view(T, k, -1).sum(1)


def check_weights(lin, out):
    "Largest |dequantized - reference| over max |reference| for the first expert of each branch."
    worst = 0.0
    for b in range(len(lin.branches)):
        e = int((lin.branch_of == b).nonzero()[0])
        ref = dequantize(unpack_weight(lin.expert(e))).float()
        worst = max(worst, float((out[e].float() - ref).abs().max() / ref.abs().max()))
    return worst


def main():
    p = argparse.ArgumentParser()
    p.add_argument('out')
    p.add_argument('--models', nargs='+', default=list(MODELS))
    p.add_argument('--tokens', nargs='+', type=int, default=[512, 1024, 2048, 4096, 8192])
    p.add_argument('--configs', nargs='+', default=['w4g128', 'mixed225'])
    a = p.parse_args()
    rows, t0 = [], time.time()
    print(f"device {torch.cuda.get_device_name()}, torch {torch.__version__}, triton {triton.__version__}", flush=True)
    for name in a.models:
        E, H, I, k = MODELS[name]
        bgu, bdn = random_experts(E, H, I)
        qts = quantize_configs(a.configs, lambda c: allocation(c, E, 1, H, I), bgu, bdn)
        wgu, wdn = torch.empty_like(bgu), torch.empty_like(bdn)
        for T in a.tokens:
            sets = routings(T, E, k, H)
            base = graph_time([lambda s=s: bf16_block(s[0], s[1], s[2], bgu, bdn) for s in sets])
            for c in a.configs:
                layer = pack_layer(normalize_allocation(allocation(c, E, T * k / E, H, I)), *qts[c])
                plans = [dequant_plan(layer.gate_up), dequant_plan(layer.down)]
                if None in plans:
                    print(f"{name:8s} T={T:5d} {c:9s} skipped: a launch runs the Gluon decode kernel (fragment layout)", flush=True)
                    continue
                dequantize_linear(plans[0], wgu); dequantize_linear(plans[1], wdn)
                werr = max(check_weights(layer.gate_up, wgu), check_weights(layer.down, wdn))
                s = sets[0]
                ref = moe_experts_forward(s[0], s[1], s[2], layer).float()
                err = float((dequant_block(s[0], s[1], s[2], E, plans, wgu, wdn).float() - ref).abs().max() / ref.abs().max())
                shipped = graph_time([lambda s=s: moe_experts_forward(s[0], s[1], s[2], layer) for s in sets])
                ours = graph_time([lambda s=s: dequant_block(s[0], s[1], s[2], E, plans, wgu, wdn) for s in sets])
                deq = graph_time([lambda: (dequantize_linear(plans[0], wgu), dequantize_linear(plans[1], wdn))] * ROT)
                r = dict(model=name, T=T, config=c, tile=list(layer.gate_up.branches[0][1]), bf16_block_us=base * 1e3,
                         shipped_block_us=shipped * 1e3, dequant_block_us=ours * 1e3, dequant_us=deq * 1e3,
                         dequant_tb_s=(wgu.numel() + wdn.numel()) * 2 / (deq * 1e-3) / 1e12,
                         shipped_speedup=base / shipped, dequant_speedup=base / ours, dequant_over_shipped=shipped / ours,
                         weight_rel_err=werr, block_rel_err=err)
                rows.append(r)
                print(f"{name:8s} T={T:5d} {c:9s} bf16 {base*1e3:8.1f}us  shipped {shipped*1e3:8.1f}us ({base/shipped:.2f}x)  "
                      f"dequant {ours*1e3:8.1f}us ({base/ours:.2f}x; dequantizing {deq*1e3:7.1f}us, {r['dequant_tb_s']:.2f} TB/s)  "
                      f"err w {werr:.1e} block {err:.1e}", flush=True)
                del layer
        del bgu, bdn, wgu, wdn, qts
        torch.cuda.empty_cache()
    doc = dict(what=__doc__.splitlines()[0], device=torch.cuda.get_device_name(), torch=torch.__version__, triton=triton.__version__,
               seconds=time.time() - t0, rows=rows)
    with open(a.out, 'w') as f: json.dump(doc, f, indent=1)


if __name__ == '__main__':
    main()
