"""Retrain the embedded model with several load-balancing weights and keep the least-constrained one that stays a real MoE.

Each `--coefs` value trains `mxmoe.embedded.build_embedded` (same data, seed, schedule) in its own process, all at
once on one GPU. The kept model is the one with the smallest coefficient whose least-used expert still receives at
least `--min-share` of its uniform share of the test tokens (issue #4's bar); it is copied to `--out/embedded`, and
every run's log (routing shares, perplexities) goes to `--out/balance_sweep.json`.

Run from the repo root on the GPU machine: `PYTHONPATH=. python bench/balance_sweep.py --ids .devdata --out OUT`
(`.devdata` holds train/valid/test .npy made by the committed tokenizer); ~4 min on an H100.
"""
import argparse, json, shutil, subprocess, sys, time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path


def train_one(coef: float, ids: str, out: Path) -> int:
    "Exit status of `build_embedded` with load-balancing weight `coef`, run in its own process (log beside `out`)."
    code = ("from mxmoe.embedded import build_embedded; "
            f"build_embedded({ids!r}, 'data/embedded', {str(out)!r}, epochs=6, balance_coef={coef})")
    with open(out.parent/f'{out.name}.log', 'w') as log:
        return subprocess.run([sys.executable, '-c', code], stdout=log, stderr=subprocess.STDOUT).returncode


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--ids', default='.devdata')
    ap.add_argument('--out', required=True)
    ap.add_argument('--coefs', type=float, nargs='+', default=[0.01, 0.003, 0.001])
    ap.add_argument('--min-share', type=float, default=0.2)
    a = ap.parse_args()
    out = Path(a.out); out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    runs = {c: out/'runs'/f'coef_{c:g}' for c in a.coefs}
    for d in runs.values(): d.parent.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(len(runs)) as pool:  # all at once on the one GPU
        rcs = dict(zip(runs, pool.map(lambda c: train_one(c, a.ids, runs[c]), runs)))
    res = {}
    for c, rc in rcs.items():
        log = json.loads((runs[c]/'train_log.json').read_text()) if rc == 0 else None
        ev = log['eval'] if log else {}
        res[c] = dict(rc=rc, **{k: v for k, v in ev.items() if k != 'routing_shares'})
        print(f"coef {c:g}: rc {rc}", {k: v for k, v in res[c].items() if k != 'rc'}, flush=True)
    ok = [c for c in a.coefs if res[c]['rc'] == 0 and res[c]['min_share_over_uniform'] >= a.min_share]
    kept = min(ok) if ok else None
    if kept is not None: shutil.copytree(runs[kept], out/'embedded')
    json.dump(dict(coefs=a.coefs, min_share=a.min_share, kept=kept, seconds=time.time() - t0, runs=res),
              open(out/'balance_sweep.json', 'w'), indent=1)
    print('kept', kept, f'{time.time() - t0:.0f} s')


if __name__ == '__main__':
    main()
