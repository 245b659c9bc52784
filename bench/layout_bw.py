"""HBM read bandwidth of streaming packed weight words group by group, stored row-major or in row blocks (issue #6, GPU).

A Triton kernel reads 1 GiB of int32 words the way a decode tile does: each program owns BN rows and walks their
G groups of WPG words (16-128-byte pieces per row and group), XOR-ing them so nothing is optimized away, with a 3-
and a 5-deep software pipeline. `rows`: a row's groups consecutive (the fragment layout before its row blocks), so
one step reads BN pieces a whole row apart; `blocked`: a block's rows of one group consecutive (`pack_fragments`
now), so one step reads one contiguous piece. Prints GB/s of both and their ratio, measured in the same run; < 1 min.

    PYTHONPATH=. python bench/layout_bw.py bench/results/layout_bw_h100.json
"""
import json, sys
import torch, triton, triton.language as tl


@triton.jit
def stream(q_ptr, out_ptr, G, BLOCKED: tl.constexpr, BN: tl.constexpr, WPG: tl.constexpr, STAGES: tl.constexpr):
    "XOR of the WPG-word pieces of G groups of one program's BN rows, stored row-major or row-blocked."
    b = tl.program_id(0)
    r = tl.arange(0, BN)
    w = tl.arange(0, WPG)
    acc = tl.zeros((BN, WPG), tl.int32)
    for g in tl.range(0, G, num_stages=STAGES):
        if BLOCKED:
            off = ((b * G + g) * BN + r[:, None]) * WPG + w[None, :]
        else:
            off = (b * BN + r[:, None]) * (G * WPG) + g * WPG + w[None, :]
        acc ^= tl.load(q_ptr + off)
    tl.store(out_ptr + b * BN * WPG + r[:, None] * WPG + w[None, :], acc)


def main(out: str):
    dev, rows = torch.cuda.get_device_name(), []
    print(dev, 'torch', torch.__version__, 'triton', triton.__version__, flush=True)
    for WPG in (4, 8, 16, 32):
        for G in (11, 16, 32):
            for BN in (64, 128):
                NB = (1 << 28) // (BN * G * WPG)  # programs reading ~1 GiB of int32 words
                q = torch.randint(0, 1 << 30, (NB * BN * G * WPG,), device='cuda', dtype=torch.int32)
                res = torch.empty(NB * BN * WPG, device='cuda', dtype=torch.int32)
                row = dict(WPG=WPG, chunk_bytes=WPG * 4, G=G, BN=BN)
                for blocked in (0, 1):
                    for stages in (3, 5):
                        f = lambda: stream[(NB,)](q, res, G, BLOCKED=blocked, BN=BN, WPG=WPG, STAGES=stages, num_warps=4)
                        ms = triton.testing.do_bench(f, rep=100, return_mode='median')
                        row[f"{'blocked' if blocked else 'rows'}_s{stages}"] = q.numel() * 4 / ms / 1e9
                row['blocked_over_rows'] = max(row['blocked_s3'], row['blocked_s5']) / max(row['rows_s3'], row['rows_s5'])
                rows.append(row)
                print({k: round(v, 2) if isinstance(v, float) else v for k, v in row.items()}, flush=True)
    json.dump(dict(device=dev, torch=torch.__version__, triton=triton.__version__, unit='GB/s read', rows=rows), open(out, 'w'), indent=1)


if __name__ == '__main__': main(sys.argv[1])
