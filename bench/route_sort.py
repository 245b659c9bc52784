"""The routing launch's sort of the token->expert assignments (issue #6; GPU; ~30 s).

For four layer shapes (experts, top-k) and 1-16384 tokens, times `mxmoe.kernels.route` (CUDA-graph replays over four
random routings) and checks its counts and order against torch's `bincount` and stable `sort`, printing its speed-up
over torch's path (`ROUTE_SMALL` = 0) measured in the same run; with `--small N`
the routing kernel takes batches of up to N assignments (`ROUTE_SMALL`). Run it from two checkouts in one session to compare kernels, e.g. the previous commit's
package first on the path:

    PYTHONPATH=.devout/old:. python bench/route_sort.py OUT_old.json --label old
    PYTHONPATH=. python bench/route_sort.py OUT_new.json --label new --small 16384
"""
import argparse, json
import torch
import mxmoe.kernels as K
from bench.bench_grouped import graph_time

SHAPES = {'qwen15': (60, 4), 'dsv2lite': (64, 6), 'mixtral': (8, 2), 'qwen3': (128, 8)}
TOKENS = (1, 16, 64, 256, 1024, 2048, 4096, 16384)


def check(ids: torch.Tensor, E: int) -> bool:
    "Whether `route` gives torch's counts and stable expert-sorted order."
    counts, order = K.route(ids, E)
    flat = ids.flatten()
    return (torch.equal(counts.long(), torch.bincount(flat, minlength=E)) and
            torch.equal(order.long(), torch.sort(flat, stable=True).indices))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('out')
    p.add_argument('--label', default='')
    p.add_argument('--small', type=int, help='ROUTE_SMALL for this run (default: the package\'s)')
    args = p.parse_args()
    small = K.ROUTE_SMALL if args.small is None else args.small
    rows = []
    print(torch.cuda.get_device_name(), args.label, 'ROUTE_SMALL', small)
    for name, (E, k) in SHAPES.items():
        for T in TOKENS:
            ids = [torch.randint(0, E, (T, k), device='cuda') for _ in range(4)]
            times = {}
            for path, limit in (('torch', 0), ('kernel', small)):  # torch's path first: the baseline of the ratio
                if path == 'kernel' and T * k > limit: continue
                K.ROUTE_SMALL = limit
                ok = all(check(i, E) for i in ids)
                times[path] = us = graph_time([lambda i=i: K.route(i, E) for i in ids]) * 1e3
                rows.append(dict(model=name, experts=E, top_k=k, tokens=T, assignments=T * k, path=path, us=us, correct=ok,
                                 torch_over_this=times['torch'] / us))
                print(f"{name:9s} T={T:6d} A={T * k:7d} {path:6s} {us:8.2f} us ({times['torch'] / us:5.2f}x torch's) "
                      f"{'ok' if ok else 'WRONG'}", flush=True)
    json.dump(dict(device=torch.cuda.get_device_name(), torch=torch.__version__, label=args.label, route_small=small,
                   rows=rows), open(args.out, 'w'), indent=1)


if __name__ == '__main__':
    main()
