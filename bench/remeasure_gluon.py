"""Re-measure the Gluon decode kernel's part of a perf table after the kernel changes, robustly (GPU for the runs).

    python bench/remeasure_gluon.py prepare data/perf OUT/resume        # CPU: the table without the Gluon part
    python bench/remeasure_gluon.py prepare-blocks data/perf OUT/resume # or without the blocks and validation cases
    python bench/remeasure_gluon.py prepare-routing data/perf OUT/resume # or without the routing launches' points
    PYTHONPATH=. python bench/profile_perf.py --out OUT/runN --resume OUT/resume   # on the GPU, three times
    python bench/remeasure_gluon.py merge OUT/run1 OUT/run2 OUT/run3 data/perf      # CPU: median of the runs

`prepare` copies the table and validation file of `DIR` without what the Gluon kernel times: linear points profiled in
it (`kernel == 'gluon'`), calibration blocks whose config and tile it runs, and validation cases with a Gluon launch,
so `profile_perf.py --resume` measures exactly those again. `prepare-blocks` leaves out the calibration blocks and
every validation case instead, for a change outside the GEMM loops that only whole forwards see (the fused top-k
sum, priced by the glue that the blocks calibrate). `prepare-routing` leaves out the routing launches' points (`route`,
`route_sums`: one-program launches of 2-3 µs that a single run times with outliers of ~1 µs, a tenth of a small
block). `merge` writes, for every entry and case whose time
differs between the runs (the re-measured ones), the median of the runs. One run alone had outliers of up to 4x on
the embedded shape's 5 µs launches (2026-11-26, H100); the median of three had none.
"""
import json, sys
from pathlib import Path
from mxmoe.core import save_json
from mxmoe.gluon import gluon_branch
from mxmoe.perf import LINEARS, kernel_kind

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


DROP = {'prepare': gluon_entry, 'prepare-blocks': lambda e: e['kind'] == 'block', 'prepare-routing': lambda e: e['kind'] in ('route', 'route_sums')}


def prepare(src: Path, out: Path, cmd: str = 'prepare'):
    "Copy the table and validation file of `src` to `out` without the entries (and validation cases) that `cmd` re-measures."
    out.mkdir(parents=True, exist_ok=True)
    table_p, val_p = _files(src)
    table, val = json.loads(table_p.read_text()), json.loads(val_p.read_text())
    n_entries, n_cases = len(table['entries']), len(val['cases'])
    table['entries'] = [e for e in table['entries'] if not DROP[cmd](e)]
    if cmd != 'prepare-routing': val['cases'] = [] if cmd == 'prepare-blocks' else [c for c in val['cases'] if not gluon_case(c)]
    save_json(table, out / table_p.name, compact=True)
    save_json(val, out / val_p.name, compact=True)
    print(f"left out {n_entries - len(table['entries'])} entries and {n_cases - len(val['cases'])} validation cases")


def _median_of(items: list[dict], fields: tuple) -> dict:
    "The item of median `us` (its measured `fields`) among runs of one measurement."
    return {f: v for f, v in sorted(items, key=lambda x: x['us'])[len(items) // 2].items() if f in fields}


def merge(runs: list[Path], out: Path):
    out.mkdir(parents=True, exist_ok=True)
    files = [_files(r) for r in runs]
    tables = [json.loads(t.read_text()) for t, _ in files]
    vals = [json.loads(v.read_text()) for _, v in files]
    key = lambda e: json.dumps({k: v for k, v in e.items() if k not in MEASURED}, sort_keys=True)
    by_key = [{key(e): e for e in t['entries'] if 'us' in e} for t in tables]
    by_case = [{c['case']: c for c in v['cases']} for v in vals]
    merged, n = tables[0], 0
    for e in merged['entries']:
        runs_of = [d[key(e)] for d in by_key if key(e) in d]
        if len(runs_of) == len(runs) and len({x['us'] for x in runs_of}) > 1: e.update(_median_of(runs_of, MEASURED)); n += 1
    note = f'; re-measured {len(runs)} times, median kept (bench/remeasure_gluon.py)'
    if note not in merged['method']: merged['method'] += note
    m = 0
    for c in vals[0]['cases']:
        runs_of = [d[c['case']] for d in by_case]
        if len({x['us'] for x in runs_of}) > 1: c.update(_median_of(runs_of, ('us', 'gate_up_us', 'down_us'))); m += 1
    save_json(merged, out / files[0][0].name, compact=True)
    vals[0]['cases'].sort(key=lambda c: c['case'])  # a resumed run appends the cases it measured
    save_json(vals[0], out / files[0][1].name, compact=True)
    print(f"median of {len(runs)} runs: {n} entries, {m} validation cases")


if __name__ == '__main__':
    cmd, *paths = sys.argv[1:]
    if cmd in DROP: prepare(Path(paths[0]), Path(paths[1]), cmd)
    elif cmd == 'merge': merge([Path(p) for p in paths[:-1]], Path(paths[-1]))
    else: sys.exit(f"unknown command {cmd!r}: use 'prepare SRC OUT', 'prepare-blocks SRC OUT', 'prepare-routing SRC OUT' or 'merge RUN... OUT'")
