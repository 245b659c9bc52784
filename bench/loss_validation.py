"""Issue #12: which sensitivity loss predicts perplexity? The embedded model, end to end (GPU; `--quick` runs on CPU).

For each quantization method (GPTQ, Hadamard-rotated GPTQ): builds one sensitivity table with every loss kind
('linear', 'block', 'model'), then measures the WikiText-2 test
perplexity of uniform GPTQ baselines, of each loss kind's accuracy-only allocation at 2.25 and 3.25 bits (per-layer
and global budget) and of random allocations, with `mxmoe.validation.validate_losses`. Writes the results as JSON and
the sensitivity table as CSV. Run from the repository root: PYTHONPATH=. MXMOE_DATA=... python bench/loss_validation.py
"""
import argparse, datetime, json, time
import pandas as pd
import torch
import mxmoe
from mxmoe.core import calibration_windows, eval_windows, write_atomic
from mxmoe.embedded import load_embedded
from mxmoe.stats import collect_stats
from mxmoe.sensitivity import sensitivity_table, calibrated_quantizer, save_table
from mxmoe.allocation import candidate_configs
from mxmoe.validation import validate_losses, degradation_ratios, rank_correlations

CANDIDATES = ['w1g128', 'w2g128', 'w2g64', 'w3g128', 'w3g64', 'w4g128']
BASELINES = {2.25: 'w2g128', 3.25: 'w3g128'}
RANDOM_BITS = (2.0, 3.5)  # average bits of the random plans

def parse():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--out', default='bench/results/loss_validation_h100.json')
    p.add_argument('--table-out', default='bench/results/loss_validation_sensitivity.csv')
    p.add_argument('--n-calib', type=int, default=128, help='calibration windows for the statistics')
    p.add_argument('--model-windows', type=int, default=16, help="calibration windows the 'model' loss (KL) is measured on")
    p.add_argument('--seqlen', type=int, default=512)
    p.add_argument('--n-random', type=int, default=24)
    p.add_argument('--eval-windows', type=int, default=0, help='test windows for perplexity, 0: the whole test set')
    p.add_argument('--methods', nargs='+', default=['gptq', 'gptq_had'])
    p.add_argument('--candidates', nargs='+', default=CANDIDATES, help="config names, or one candidate set name such as 'weight-only'")
    p.add_argument('--quick', action='store_true', help='a few windows and plans, CPU: a smoke test')
    a = p.parse_args()
    a.candidates = ['w2g128', 'w3g128'] if a.quick else list(candidate_configs(a.candidates[0] if len(a.candidates) == 1 else a.candidates))
    if a.quick: a.n_calib, a.model_windows, a.n_random, a.eval_windows = 8, 1, 3, 2
    return a

def validate(model, test, stats, calib, a, method):
    "Sensitivity table and validation results of one quantization method."
    t0 = time.time()
    table = sensitivity_table(model, stats, loss=['linear', 'block', 'model'], configs=a.candidates, methods=[method],
                              windows=calib[:a.model_windows], variants_per_pass=4 if model.device.type == 'cuda' else 2)
    t1 = time.time()
    res = validate_losses(model, table, test, calibrated_quantizer(stats, method), method, a.candidates, budgets=tuple(BASELINES),
                          uniform=[c for c in ('w1g128', 'w2g128', 'w3g128', 'w4g128') if c in a.candidates],
                          n_random=a.n_random, random_bits=RANDOM_BITS, seed=0, batch_size=32)
    ratios, rho = degradation_ratios(res, BASELINES), rank_correlations(res)
    print(f"== {method}"); print(ratios.round(3).to_string()); print(rho.round(3).to_string())
    return table, dict(n_random=a.n_random, random_seed=0, random_bits=list(RANDOM_BITS),
                       seconds=dict(sensitivity=table.attrs['seconds'], sensitivity_total=t1 - t0, validation=time.time() - t1),
                       results=res.to_dict('records'), ratios=ratios.to_dict('records'), spearman=rho.to_dict())

def main():
    a = parse()
    dev = 'cuda' if torch.cuda.is_available() else 'cpu'
    t0 = time.time()
    model, tok = load_embedded(device=dev)
    calib = calibration_windows(tok, a.n_calib, a.seqlen, seed=0)
    test = eval_windows(tok, a.seqlen)
    if a.eval_windows: test = test[:a.eval_windows]
    stats = collect_stats(model, calib, seed=0)
    out = dict(device=torch.cuda.get_device_name() if dev == 'cuda' else 'cpu', torch=torch.__version__, mxmoe=mxmoe.__version__,
               date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds'), model='embedded',
               candidates=a.candidates, n_calib=a.n_calib, model_windows=a.model_windows, seqlen=a.seqlen,
               test_windows=len(test), stats_seconds=time.time() - t0, methods={})
    tables = []
    for method in a.methods:
        table, out['methods'][method] = validate(model, test, stats, calib, a, method)
        tables.append(table)
    out['total_seconds'] = time.time() - t0
    save_table(pd.concat(tables, ignore_index=True), a.table_out)
    write_atomic(a.out, json.dumps(out, indent=1))
    print(f"total {out['total_seconds']:.0f} s")

if __name__ == '__main__': main()
