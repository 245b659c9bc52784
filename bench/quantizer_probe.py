"""Issue #12: do GPTQ's clipping search and expert pruning give the accuracy-only allocation more room? The embedded model (GPU).

Two levers the candidate probe did not try:
- `mse`: GPTQ with the clipping search for group ranges (`mxmoe.quant.mse_group_params`) instead of min-max, for the
  allocation's candidates *and* for the uniform baseline it is compared with;
- `w0`: dropping an expert (0 bits), priced by the KL of the model with only that expert's output removed.
For each quantizer, one 'model'-loss table (GPTQ, 128 calibration windows, KL on 16) over the shipped weight-only
candidates, the KL of dropping each expert, the global accuracy-only allocation at 2.25 and 3.25 bits with and
without `w0` (a Lagrangian search here: gate/up and down of a dropped expert go together), and WikiText-2 test
perplexity of every plan. ~3.5 min on an H100. `--quick` uses a few windows on a CPU but still measures every candidate's
'model' loss twice (more than 20 minutes on 2 cores).

    PYTHONPATH=. MXMOE_DATA=... python bench/quantizer_probe.py --out bench/results/quantizer_probe_h100.json
"""
import argparse, collections, copy, datetime, json, time
import pandas as pd, torch
from mxmoe.quant import get_config
from mxmoe.allocation import CANDIDATE_SETS, model_shape
from mxmoe.core import calibration_windows, eval_windows, perplexity, write_atomic, moe_layers, override_experts, reference_experts_forward
from mxmoe.embedded import load_embedded
from mxmoe.stats import collect_stats
from mxmoe.sensitivity import sensitivity_table, calibrated_quantizer, ModelReplay
from mxmoe.validation import loss_allocation, loss_lookup, plan_loss, plan_bits, caching_quantizer
from mxmoe.evaluate import apply_plan_, uniform_plan

CANDIDATES = list(CANDIDATE_SETS['weight-only'])
BASELINES = {2.25: 'w2g128', 3.25: 'w3g128'}

def drop_losses(model, replay:ModelReplay) -> pd.Series:
    "KL to the full-precision model when only expert e of layer l contributes nothing, indexed by (layer, expert)."
    out = {}
    for layer in moe_layers(model):
        for e in range(layer.n_experts):
            def without_e(l, h, idx, w, e=e): return reference_experts_forward(l, h, idx, torch.where(idx == e, 0, w))
            with torch.no_grad(), override_experts(layer, without_e): out[layer.index, e] = replay.kl(replay.logits_from(layer.index)).item()
    return pd.Series(out)

def pruning_allocation(lookup:pd.Series, drops:pd.Series, model, budget:float) -> tuple[dict, list]:
    """Global accuracy-only allocation over the candidates and dropping whole experts: (plan of the kept linears, dropped experts).
    Lagrangian: for a price λ per bit each expert takes its cheapest option (drop it, or the best config per linear at loss + λ·bits);
    bisection finds the least λ within the budget (a vertex of the convex hull, a hair under the budget)."""
    shape = model_shape(model)
    t = lookup.reset_index()
    t = t[t.config.isin(CANDIDATES)].copy()
    t['mem'] = [get_config(c).bits(shape.nk(lin)[1]) * shape.n_params(lin) for c, lin in zip(t.config, t.linear)]
    cap = budget * len(drops) * sum(shape.n_params(lin) for lin in ('gate_up', 'down'))
    def solve(lam):
        best = t.assign(cost=t.loss + lam * t.mem).sort_values('cost').groupby(['layer', 'expert', 'linear']).head(1)
        per_expert = best.groupby(['layer', 'expert'])[['cost', 'mem', 'loss']].sum()
        dropped = per_expert.index[drops[per_expert.index].values < per_expert.cost.values]
        kept = best[~best.set_index(['layer', 'expert']).index.isin(dropped)]
        return kept, list(dropped), kept.mem.sum()
    lo, hi = 0.0, 1.0
    while solve(hi)[2] > cap: hi *= 2
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if solve(mid)[2] > cap else (lo, mid)
    kept, dropped, _ = solve(hi)
    return {(r.layer, r.expert, r.linear): r.config for r in kept.itertuples()}, [tuple(map(int, k)) for k in dropped]

def bits_with_drops(model, plan:dict, dropped:list) -> float:
    "Average stored bits per expert weight of `plan` with the `dropped` experts' linears at 0 bits."
    if not dropped: return plan_bits(model, plan)
    shape = model_shape(model)
    kept = sum(shape.n_params(k[2]) for k in plan)
    return plan_bits(model, plan) * kept / (kept + len(dropped) * sum(shape.n_params(lin) for lin in ('gate_up', 'down')))

def drop_experts_(model, dropped:list):
    "Zero the weights of the dropped experts: their output is zero (SiLU(0)·0), as `drop_losses` measured."
    layers = {l.index: l for l in moe_layers(model)}
    with torch.no_grad():
        for li, e in dropped:
            for n in ('gate', 'up', 'down'): layers[li].weight(e, n).zero_()

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--out', default='bench/results/quantizer_probe_h100.json')
    p.add_argument('--quick', action='store_true', help='a few windows, CPU: a smoke test')
    a = p.parse_args()
    n_calib, n_kl, n_test = (8, 1, 2) if a.quick else (128, 16, None)
    t0 = time.time()
    dev = 'cuda' if torch.cuda.is_available() else 'cpu'
    model, tok = load_embedded(device=dev)
    calib = calibration_windows(tok, n_calib, 512, seed=0)
    test = eval_windows(tok, 512)[:n_test]
    stats = collect_stats(model, calib, seed=0)
    drops = drop_losses(model, ModelReplay(model, calib[:n_kl]))
    print('drop KL', drops.describe().round(2).to_dict(), flush=True)
    rows = []
    def measure(name, plan, lookup, quantizer, dropped=(), **kw):
        m = copy.deepcopy(model); apply_plan_(m, plan, quantizer); drop_experts_(m, dropped)
        full = {**plan, **{(l, e, lin): 'w0' for l, e in dropped for lin in ('gate_up', 'down')}}
        r = dict(name=name, bits=bits_with_drops(model, plan, dropped) if plan else 16.0, pred=(plan_loss(lookup, plan) + sum(drops[k] for k in dropped)) if plan else 0.0,
                 ppl=perplexity(m, test, batch_size=32, progress=False), configs=dict(collections.Counter(full.values())), dropped=[list(k) for k in dropped], **kw)
        rows.append(r); print({k: v for k, v in r.items() if k != 'dropped'}, flush=True)
    measure('bf16', {}, None, None)
    for mse in (False, True):
        q = 'mse' if mse else 'minmax'
        table = sensitivity_table(model, stats, loss=['model'], configs=CANDIDATES, methods=['gptq'], windows=calib[:n_kl], variants_per_pass=4, mse=mse)
        lookup, quantizer = loss_lookup(table, 'model', 'gptq'), caching_quantizer(calibrated_quantizer(stats, 'gptq', mse=mse))
        for b, c in BASELINES.items(): measure(f'{q} uniform {c}', uniform_plan(model, c), lookup, quantizer, quantizer_kind=q, budget=b)
        for b in BASELINES:
            measure(f'{q} {b} global', loss_allocation(table, model, 'model', 'gptq', CANDIDATES, b, 'global'), lookup, quantizer, quantizer_kind=q, budget=b, w0=False)
            plan, dropped = pruning_allocation(lookup, drops, model, b)
            measure(f'{q} {b} global +w0', plan, lookup, quantizer, dropped, quantizer_kind=q, budget=b, w0=True)
    write_atomic(a.out, json.dumps(dict(device=torch.cuda.get_device_name() if dev == 'cuda' else 'cpu', torch=torch.__version__,
                                        date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds'),
                                        candidates=CANDIDATES, drop_kl=[dict(layer=l, expert=e, kl=v) for (l, e), v in drops.items()],
                                        rows=rows, seconds=time.time() - t0), indent=1))
    print('total', time.time() - t0)

if __name__ == '__main__': main()
