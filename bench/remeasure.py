"""Re-measure part of a perf table after a kernel change, robustly: every re-measured entry and case the median of
several runs (GPU for the runs).

    PYTHONPATH=. python bench/remeasure.py run WHAT OUT [--runs 3]   # GPU: all of it, in one device call
    python bench/remeasure.py prepare WHAT data/perf OUT/resume        # CPU: the table without WHAT
    PYTHONPATH=. python bench/profile_perf.py --out OUT/runN --resume OUT/resume   # GPU: one run
    python bench/remeasure.py merge OUT/run1 OUT/run2 OUT/run3 data/perf          # CPU: median of the runs
    python bench/remeasure.py merge-heldout H1 H2 H3 data/perf   # CPU: median of three `profile_perf.py --heldout` runs

WHAT is a comma-separated list of what the change touches:
  gluon    what the Gluon decode kernel times: linear points profiled in it (`kernel == 'gluon'`), calibration blocks
           whose config and tile it runs, and validation cases with a Gluon launch
  blocks   every calibration block and validation case: a change outside the GEMM loops that only whole forwards
           see (the fused top-k sum, priced by the glue that the blocks calibrate)
  routing  the routing launches' points (`route`, `route_sums`: launches of 2-3 µs that a single run times with
           outliers of ~1 µs, a tenth of a small block)
  prologue the activation prologues' points (`prologue`; take `act8` and `blocks` with it: the linear points,
           blocks and cases with a weight-activation config run them)
  act8     linear points (and mixed launches, blocks, validation cases) with an int8 / fp8-activation config
           (`w8a8`, `w8a8fp8`): their times include the int8 / fp8 prologue
  narrow   the same for the one-warpgroup `(128, 64, 128)` tile (its launch options changed 2026-11-27)
  shortrow the int8 / fp8 prologue points and `act8` linear points whose rows are shorter than
           `mxmoe.kernels.ONE_ROW_K` (the embedded shape's), whose prologue programs take 16 rows (take `blocks` with it)
`prepare` copies the table and validation file without those, so that `profile_perf.py --resume` measures exactly
them again; `merge` writes, for every entry and case whose time differs between the runs (the re-measured ones), the
median of the runs. One run alone had outliers of up to 4x on the embedded shape's 5 µs launches (2026-11-26, H100);
the median of three had none. A run that compiles its kernels while it measures times few-token blocks up to 20%
slow, so `run` first makes one run to fill Triton's cache, then `--runs` runs in a temporary folder, merges them into
OUT/perf and `data/perf`, and measures the held-out cases against the merged table `--runs` times
(`profile_perf.py --heldout`; median of each case, as one run had a 41 µs outlier among 23-25 µs, 2026-11-27):
OUT gets the three files of the table (`.json`, `.validation.json`, `.heldout.json`) and `remeasure.log`, few
enough for the device machine to send back.
"""
import argparse, json, shutil, subprocess, sys, tempfile
import triton
from pathlib import Path
from mxmoe.core import save_json
from mxmoe.gluon import gluon_branch
from mxmoe.perf import LINEARS, kernel_kind, perf_dir
from mxmoe.kernels import ACT_FP8, ACT_INT8, ONE_ROW_K
from mxmoe.quant import get_config

MEASURED = ('us', 'regs', 'spills', 'smem', 'copies', 'warps')  # fields a measurement sets; the rest identify an entry


def _files(folder: Path) -> tuple[Path, Path]:
    "The (table, validation) files of the one device profiled in `folder`."
    table = next(p for p in sorted(folder.glob('*.json')) if p.name.count('.') == 1)
    return table, table.with_suffix('.validation.json')


def gluon_entry(e: dict) -> bool:
    "Whether a table entry times the Gluon kernel: a linear point profiled in it, or a calibration block it runs."
    if e['kind'] == 'linear': return e.get('kernel') == 'gluon'
    return e['kind'] == 'block' and gluon_branch(e['config'], tuple(e['tile']))


def gluon_case(c: dict) -> bool:
    "Whether a validation case has a launch on the Gluon kernel."
    alloc = c['allocation'].values()
    return any(kernel_kind(sorted({(a[l][0], tuple(a[l][1])) for a in alloc}), l, c['hidden'], c['intermediate']) == 'gluon'
               for l in LINEARS)


def timed_pairs(e: dict) -> list[tuple[str, tuple]]:
    "The (config, tile) branches a table entry or validation case times."
    if 'branches' in e: return [(c, tuple(t)) for c, t in e['branches']]
    return [(e['config'], tuple(e['tile']))] if e['kind'] in ('linear', 'block') else []


def act8(e: dict) -> bool: return any(get_config(c).a_bits == 8 for c, _ in timed_pairs(e))
def narrow(e: dict) -> bool: return any(t == (128, 64, 128) for _, t in timed_pairs(e))


def short_rows(e: dict) -> bool:
    "An int8 / fp8 prologue point, or a linear point of an int8 / fp8-activation config, whose rows are shorter than `ONE_ROW_K`."
    if e['kind'] == 'prologue': return e['mode'] in (ACT_INT8, ACT_FP8) and triton.next_power_of_2(e['K']) < ONE_ROW_K
    if e['kind'] not in ('linear', 'mixed') or not act8(e): return False
    return triton.next_power_of_2(e['hidden'] if e['linear'] == 'gate_up' else e['intermediate']) < ONE_ROW_K


DROP_ENTRY = {'gluon': gluon_entry, 'blocks': lambda e: e['kind'] == 'block', 'routing': lambda e: e['kind'] in ('route', 'route_sums'),
              'prologue': lambda e: e['kind'] == 'prologue', 'act8': act8, 'narrow': narrow, 'shortrow': short_rows}
DROP_CASE = {'gluon': gluon_case, 'blocks': lambda c: True, 'routing': lambda c: False, 'prologue': lambda c: False,
             'act8': act8, 'narrow': narrow, 'shortrow': lambda c: False}


def parts(what: str) -> list[str]:
    "The parts named in a comma-separated WHAT, checked."
    names = what.split(',')
    if bad := [n for n in names if n not in DROP_ENTRY]: sys.exit(f"unknown part(s) {bad}: use a comma-separated list of {list(DROP_ENTRY)}")
    return names


def prepare(what: str, src: Path, out: Path):
    "Copy the table and validation file of `src` to `out` without the entries and validation cases of the parts in `what`."
    names = parts(what)
    out.mkdir(parents=True, exist_ok=True)
    table_p, val_p = _files(src)
    table, val = json.loads(table_p.read_text()), json.loads(val_p.read_text())
    n_entries, n_cases = len(table['entries']), len(val['cases'])
    table['entries'] = [e for e in table['entries'] if not any(DROP_ENTRY[n](e) for n in names)]
    val['cases'] = [c for c in val['cases'] if not any(DROP_CASE[n](c) for n in names)]
    save_json(table, out / table_p.name, compact=True)
    save_json(val, out / val_p.name, compact=True)
    print(f"left out {n_entries - len(table['entries'])} entries and {n_cases - len(val['cases'])} validation cases")


def _median_of(items: list[dict], fields: tuple) -> dict:
    "The item of median `us` (its measured `fields`) among runs of one measurement."
    return {f: v for f, v in sorted(items, key=lambda x: x['us'])[len(items) // 2].items() if f in fields}


def merge(runs: list[Path], out: Path):
    "The median of `runs` (folders of one device's table and validation file) into `out`."
    out.mkdir(parents=True, exist_ok=True)
    files = [_files(r) for r in runs]
    tables = [json.loads(t.read_text()) for t, _ in files]
    vals = [json.loads(v.read_text()) for _, v in files]
    key = lambda e: json.dumps({k: v for k, v in e.items() if k not in MEASURED}, sort_keys=True)
    by_key = [{key(e): e for e in t['entries'] if 'us' in e} for t in tables]
    merged, n = tables[0], 0
    for e in merged['entries']:
        runs_of = [d[key(e)] for d in by_key if key(e) in d]
        if len(runs_of) == len(runs) and len({x['us'] for x in runs_of}) > 1: e.update(_median_of(runs_of, MEASURED)); n += 1
    note = f'; re-measured {len(runs)} times, median kept (bench/remeasure.py)'
    if note not in merged['method']: merged['method'] += note
    m = _median_cases(vals)
    save_json(merged, out / files[0][0].name, compact=True)
    save_json(vals[0], out / files[0][1].name, compact=True)
    print(f"median of {len(runs)} runs: {n} entries, {m} validation cases")


def _median_cases(docs: list[dict]) -> int:
    "Each case of docs[0] (a validation or held-out file) set to the median of its runs in `docs`, the cases sorted; how many differed."
    by_case = [{c['case']: c for c in d['cases']} for d in docs]
    m = 0
    for c in docs[0]['cases']:
        runs_of = [d[c['case']] for d in by_case]
        if len({x['us'] for x in runs_of}) > 1: c.update(_median_of(runs_of, ('us', 'gate_up_us', 'down_us'))); m += 1
    docs[0]['cases'].sort(key=lambda c: c['case'])  # a resumed run appends the cases it measured
    return m


def merge_heldout(runs: list[Path], out: Path):
    "The median of held-out files (folders from `profile_perf.py --heldout`, one device each) into `out`."
    paths = [next(r.glob('*.heldout.json')) for r in runs]
    docs = [json.loads(p.read_text()) for p in paths]
    m = _median_cases(docs)
    docs[0]['measured'] = f"{len(runs)} runs, median of each case kept (bench/remeasure.py merge-heldout)"
    out.mkdir(parents=True, exist_ok=True)
    save_json(docs[0], out / paths[0].name, compact=True)
    print(f"median of {len(runs)} held-out runs: {m} cases")


def profile(*args, log):
    "One `profile_perf.py` run with `args`, its output appended to `log`; stops on failure."
    with open(log, 'a') as f:
        f.write(f"$ profile_perf.py {' '.join(map(str, args))}\n"); f.flush()
        r = subprocess.run([sys.executable, str(Path(__file__).with_name('profile_perf.py')), *map(str, args)], stdout=f, stderr=subprocess.STDOUT)
    if r.returncode: sys.exit(f"profile_perf.py {' '.join(map(str, args))} failed; see {log}")


def run(what: str, out: Path, runs: int = 3, heldout_s: float = 190):
    "On the GPU: prepare, a warm-up run, `runs` runs, their median into OUT/perf and `data/perf`, then `runs` runs of the held-out cases, their median into OUT/perf."
    out.mkdir(parents=True, exist_ok=True)
    log, tmp, data = out / 'remeasure.log', Path(tempfile.mkdtemp(prefix='remeasure_')), perf_dir()
    prepare(what, data, tmp / 'resume')
    for i in range(runs + 1):  # run 0 fills Triton's cache
        profile('--out', tmp / f'run{i}', '--resume', tmp / 'resume', '--budget-s', 900, log=log)
    merge([tmp / f'run{i}' for i in range(1, runs + 1)], out / 'perf')
    for f in (out / 'perf').iterdir(): shutil.copy(f, data / f.name)
    for i in range(1, runs + 1): profile('--heldout', '--out', tmp / f'heldout{i}', '--budget-s', heldout_s, log=log)
    merge_heldout([tmp / f'heldout{i}' for i in range(1, runs + 1)], out / 'perf')
    print(f"merged table, validation and held-out cases in {out / 'perf'} (copied into {data}); log {log}")


if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest='cmd', required=True)
    p = sub.add_parser('prepare'); p.add_argument('what'); p.add_argument('src', type=Path); p.add_argument('out', type=Path)
    p = sub.add_parser('merge'); p.add_argument('runs', type=Path, nargs='+'); p.add_argument('out', type=Path)
    p = sub.add_parser('merge-heldout'); p.add_argument('runs', type=Path, nargs='+'); p.add_argument('out', type=Path)
    p = sub.add_parser('run'); p.add_argument('what'); p.add_argument('out', type=Path)
    p.add_argument('--runs', type=int, default=3); p.add_argument('--heldout-s', type=float, default=190)
    a = ap.parse_args()
    if a.cmd == 'prepare': prepare(a.what, a.src, a.out)
    elif a.cmd == 'merge': merge(a.runs, a.out)
    elif a.cmd == 'merge-heldout': merge_heldout(a.runs, a.out)
    else: parts(a.what); run(a.what, a.out, a.runs, a.heldout_s)
