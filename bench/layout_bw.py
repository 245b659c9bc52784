"Does streaming a block of rows group by group (64B/32B/16B chunks at a row stride) reach HBM bandwidth, vs the same bytes stored block-contiguously?"
import torch, triton, triton.language as tl, json, sys

@triton.jit
def stream(q_ptr, out_ptr, G, BLOCKED: tl.constexpr, BN: tl.constexpr, WPG: tl.constexpr, STAGES: tl.constexpr):
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

res = []
dev = torch.cuda.get_device_name()
for WPG in (4, 8, 16, 32):
    for G in (11, 16, 32):
        for BN in (64, 128):
            n_words = 1 << 28 // 1  # 1 GiB of int32
            NB = n_words // (BN * G * WPG)
            q = torch.randint(0, 1 << 30, (NB * BN * G * WPG,), device='cuda', dtype=torch.int32)
            out = torch.empty(NB * BN * WPG, device='cuda', dtype=torch.int32)
            row = {}
            for blocked in (0, 1):
                for stages in (3, 5):
                    f = lambda: stream[(NB,)](q, out, G, BLOCKED=blocked, BN=BN, WPG=WPG, STAGES=stages, num_warps=4)
                    ms = triton.testing.do_bench(f, rep=100, return_mode='median')
                    row[f"{'blocked' if blocked else 'rows'}_s{stages}"] = q.numel() * 4 / ms / 1e9
            res.append(dict(WPG=WPG, chunk_bytes=WPG * 4, G=G, BN=BN, **row))
            print(res[-1], flush=True)
            del q, out
json.dump(dict(device=dev, rows=res), open(sys.argv[1], 'w'), indent=1)
