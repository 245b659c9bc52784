"""Probe (issue #6, prefill): the int8 / fp8 activation prologue (`mxmoe.kernels.quantize_activations`) at real K (GPU; ~1 min).

The perf table's prologue points run near HBM bandwidth at K = 2048 (2.3-2.9 TB/s) but at 0.65-0.97 TB/s at K = 1408,
and Mixtral-8x7B's down launch quantizes rows of K = 14336, whose next power of two (16384) leaves one row a program.
This times, for K in 1408 / 2048 / 4096 / 14336 and 16-16384 rows, the shipped one-pass kernel (whole rows padded to a
power of two) against other rows and warps a program for it (`onepass_*`) and a two-pass kernel (`chunked`: the row's
absolute maximum over chunks of CH columns, then each chunk quantized and stored; the second pass reads from L2),
each checked to give the shipped codes and scales exactly, and
prints GB/s (bf16 read + 1-byte write) and the speed-up over the shipped kernel in the same run.

    PYTHONPATH=. python bench/prologue_probe.py OUT.json
"""
import argparse, json
import torch
import triton
import triton.language as tl
from mxmoe.kernels import ACT_FP8, ACT_INT8, _quant_rows_kernel, _row_codes, _row_scale, quantize_activations
from bench.bench_grouped import graph_time


@triton.jit
def _quant_rows_chunked(x_ptr, q_ptr, s_ptr, R, K, MODE: tl.constexpr, BR: tl.constexpr, CH: tl.constexpr):
    "Rows of x [R, K] quantized per row (MODE 1 int8, 2 fp8) in two passes over chunks of CH columns."
    r = tl.program_id(0) * BR + tl.arange(0, BR)
    rmask = r < R
    rrow = r.to(tl.int64) * K
    kk = tl.arange(0, CH)
    amax = tl.zeros((BR,), tl.float32)
    for k0 in range(0, K, CH):
        m2 = rmask[:, None] & ((k0 + kk) < K)[None, :]
        x = tl.load(x_ptr + rrow[:, None] + (k0 + kk)[None, :], mask=m2, other=0.).to(tl.float32)
        amax = tl.maximum(amax, tl.max(tl.abs(x), 1))
    s = _row_scale(amax, MODE)
    tl.store(s_ptr + r, s, mask=rmask)
    for k0 in range(0, K, CH):
        m2 = rmask[:, None] & ((k0 + kk) < K)[None, :]
        x = tl.load(x_ptr + rrow[:, None] + (k0 + kk)[None, :], mask=m2, other=0.).to(tl.float32)
        tl.store(q_ptr + rrow[:, None] + (k0 + kk)[None, :], _row_codes(x, s, MODE), mask=m2)


def chunked(x, mode, BR, CH, warps):
    R, K = x.shape
    q = torch.empty(R, K, dtype=torch.float8_e4m3fn if mode == ACT_FP8 else torch.int8, device=x.device)
    s = torch.empty(R, 1, dtype=torch.float32, device=x.device)
    _quant_rows_chunked[(triton.cdiv(R, BR),)](x, q, s, R, K, MODE=mode, BR=BR, CH=CH, num_warps=warps)
    return q, s


def one_pass(x, mode, BR, warps):
    "The shipped kernel (whole rows padded to a power of two) with `BR` rows and `warps` warps a program."
    R, K = x.shape
    q = torch.empty(R, K, dtype=torch.float8_e4m3fn if mode == ACT_FP8 else torch.int8, device=x.device)
    s = torch.empty(R, 1, dtype=torch.float32, device=x.device)
    _quant_rows_kernel[(triton.cdiv(R, BR),)](x, q, s, R, K, MODE=mode, BR=BR, BK=triton.next_power_of_2(K), num_warps=warps)
    return q, s


VARIANTS = {'chunked_r4_c1024': lambda x, m: chunked(x, m, 4, 1024, 4), 'chunked_r8_c512': lambda x, m: chunked(x, m, 8, 512, 4),
            'chunked_r16_c512': lambda x, m: chunked(x, m, 16, 512, 8), 'chunked_r2_c2048': lambda x, m: chunked(x, m, 2, 2048, 8),
            'onepass_r2_w8': lambda x, m: one_pass(x, m, 2, 8), 'onepass_r1_w8': lambda x, m: one_pass(x, m, 1, 8),
            'onepass_r1_w4': lambda x, m: one_pass(x, m, 1, 4)}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('out')
    args = ap.parse_args()
    rows_out = []
    print(torch.cuda.get_device_name())
    for K in (1408, 2048, 4096, 14336):
        for R in (16, 1024, 16384):
            x = [torch.randn(R, K, device='cuda').bfloat16() for _ in range(4)]
            for mode in (ACT_INT8, ACT_FP8):
                ref = [quantize_activations(xi, mode) for xi in x]
                base = graph_time([lambda xi=xi: quantize_activations(xi, mode) for xi in x]) * 1e3
                gb = lambda us: R * K * 3 / us / 1e3
                rows_out.append(dict(K=K, rows=R, mode=mode, variant='shipped', us=base, gbps=gb(base), speedup=1.0, exact=True))
                print(f"K={K:6d} R={R:6d} mode={mode} shipped          {base:8.2f} us {gb(base):6.0f} GB/s", flush=True)
                for name, run in VARIANTS.items():
                    got = [run(xi, mode) for xi in x]
                    exact = all(torch.equal(g[0].view(torch.int8), r[0].view(torch.int8)) and torch.equal(g[1], r[1])
                                for g, r in zip(got, ref))
                    us = graph_time([lambda xi=xi, run=run: run(xi, mode) for xi in x]) * 1e3
                    rows_out.append(dict(K=K, rows=R, mode=mode, variant=name, us=us, gbps=gb(us), speedup=base / us, exact=exact))
                    print(f"K={K:6d} R={R:6d} mode={mode} {name:16s} {us:8.2f} us {gb(us):6.0f} GB/s {base / us:5.2f}x "
                          f"{'exact' if exact else 'DIFFERENT'}", flush=True)
    json.dump(dict(device=torch.cuda.get_device_name(), torch=torch.__version__, triton=triton.__version__, rows=rows_out),
              open(args.out, 'w'), indent=1)


if __name__ == '__main__':
    main()
