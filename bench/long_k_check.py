"""The two-group decode tiles that `default_tile` gives one-config weight-only launches with K >= 4096, on the GPU.

Every weight-only config and the rotated twins w2g128h / w4g128h on their tile at one row an expert ((8, 64, 256) for
1-3-bit fragment configs, (16, 64, 256) for the others) for a layer with H = I = 4096
(4 experts, top-4), and w4g128 and w3g128 on Mixtral's shape (8 experts of 4096 x 14336, top-2), at 1 and 16 tokens with
uniform and skewed routing, against the fp32 reference of the same packed weights (`mxmoe.codegen.forward_error`, tolerance `forward_tolerance`). < 1 min with warm caches, 2-4 min cold.

    PYTHONPATH=. python bench/long_k_check.py bench/results/long_k_check_h200.json
"""
import json, sys, torch
from mxmoe.codegen import make_case, forward_error, forward_tolerance, default_tile
from mxmoe.quant import CONFIGS, get_config

def main(out:str):
    "Check every case against the reference; write the rows and the number that failed to `out`."
    rows, bad = [], 0
    plain = [c for c in CONFIGS if get_config(c).weight_only and get_config(c).quantized]
    cases = [(c, 4, 4096, 4096, 4) for c in plain + ['w2g128h', 'w4g128h']] + [(c, 8, 4096, 14336, 2) for c in ('w4g128', 'w3g128')]  # with two rotated twins; Mixtral's shape on both tiles
    for c, E, H, I, k in cases:
        t = default_tile(c, 1, H); assert t in ((16, 64, 256), (8, 64, 256)), (c, t)
        for T in (1, 16):
            for routing in ('uniform', 'skewed'):
                hid, idx, w, layer = make_case(E, H, I, k, T, [(c, t)], [(c, default_tile(c, 1, I))], routing=routing, seed=T)
                err, tol = forward_error(hid, idx, w, layer), forward_tolerance(layer)
                rows.append(dict(config=c, tile=t, E=E, H=H, I=I, k=k, T=T, routing=routing, gluon=[layer.gate_up.gluon, layer.down.gluon], err=err, tol=tol))
                bad += not err <= tol
                print(rows[-1], flush=True)
    json.dump(dict(device=torch.cuda.get_device_name(), rows=rows, failed=bad), open(out, 'w'), indent=1)
    print('failed', bad)

if __name__ == '__main__': main(sys.argv[1])
