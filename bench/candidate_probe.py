"""Issue #12: which weight-only candidates let an accuracy-only allocation beat uniform GPTQ most? The embedded model (GPU).

Builds one 'model'-loss sensitivity table (GPTQ, 128 calibration windows for the statistics, KL on 16 of them) over
the shipped weight-only configs plus w1 with groups of 64 and 32 (probe-only, added here) and the Hadamard-rotated
twin of every config (name + 'h', `mxmoe.quant.rotated_config`). Then measures the WikiText-2
test perplexity of uniform plans and of the global-budget accuracy-only allocation at 2.25 and 3.25 bits for each
candidate set. ~3.5 min on an H100.

    PYTHONPATH=. MXMOE_DATA=... python bench/candidate_probe.py --out bench/results/candidate_probe_h100.json
"""
import argparse, collections, copy, datetime, json, time
import torch
from mxmoe.quant import CONFIGS, QuantConfig, rotated_config
from mxmoe.core import calibration_windows, eval_windows, perplexity, write_atomic
from mxmoe.embedded import load_embedded
from mxmoe.stats import collect_stats
from mxmoe.sensitivity import sensitivity_table, calibrated_quantizer
from mxmoe.validation import loss_allocation, loss_lookup, plan_loss, plan_bits, caching_quantizer
from mxmoe.evaluate import apply_plan_, uniform_plan

BASE = ['w1g128', 'w2g128', 'w2g64', 'w2g32', 'w3g128', 'w3g64', 'w4g128', 'w4', 'w8']  # the candidates before w2 / w3
PER_CHANNEL = ['w2', 'w3']
W1_FINE = [QuantConfig('w1g64', 1, 64), QuantConfig('w1g32', 1, 32)]
ROTATED = [rotated_config(n) for n in BASE + PER_CHANNEL]
SETS = {'base': BASE, 'perchan': BASE + PER_CHANNEL, 'w1fine': BASE + [c.name for c in W1_FINE],
        'rot': BASE + [c.name for c in ROTATED], 'rot_only': [c.name for c in ROTATED],
        'all': BASE + PER_CHANNEL + [c.name for c in W1_FINE + ROTATED]}
UNIFORM = ['w2g128', 'w3g128', 'w2g128h', 'w3g128h', 'w2', 'w2h', 'w3', 'w3h']

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--out', default='bench/results/candidate_probe_h100.json')
    a = p.parse_args()
    for c in W1_FINE: CONFIGS.setdefault(c.name, c)  # probe-only configs, this process only
    t0 = time.time()
    model, tok = load_embedded(device='cuda')
    calib = calibration_windows(tok, 128, 512, seed=0)
    test = eval_windows(tok, 512)
    stats = collect_stats(model, calib, seed=0)
    table = sensitivity_table(model, stats, loss=['model'], configs=SETS['all'], methods=['gptq'], windows=calib[:16], variants_per_pass=4)
    lookup, quantizer = loss_lookup(table, 'model', 'gptq'), caching_quantizer(calibrated_quantizer(stats, 'gptq'))
    rows = []
    def measure(name, plan, **kw):
        m = copy.deepcopy(model); apply_plan_(m, plan, quantizer)
        r = dict(name=name, bits=plan_bits(model, plan) if plan else 16.0, pred=plan_loss(lookup, plan) if plan else 0.0,
                 ppl=perplexity(m, test, batch_size=32, progress=False), configs=dict(collections.Counter(plan.values())), **kw)
        rows.append(r); print(r, flush=True)
    measure('bf16', {})
    for c in UNIFORM: measure('uniform ' + c, uniform_plan(model, c))
    for s, cands in SETS.items():
        for b in (2.25, 3.25): measure(f'{s} {b} global', loss_allocation(table, model, 'model', 'gptq', cands, b, 'global'), set=s, budget=b, scope='global')
    write_atomic(a.out, json.dumps(dict(device=torch.cuda.get_device_name(), torch=torch.__version__,
                                        date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds'),
                                        sets=SETS, rows=rows, seconds=time.time() - t0), indent=1))
    print('total', time.time() - t0)

if __name__ == '__main__': main()
