"""Run every notebook in nbs/ as a test, the way `nbdev_test` does, so that pytest reports one result per notebook.

Cells flagged with one of settings.ini's `tst_flags` (gpu, slow) are skipped unless MXMOE_TEST_FLAGS names them,
e.g. `MXMOE_TEST_FLAGS="gpu slow" pytest tests` on a GPU machine.
"""
import os
from pathlib import Path
import pytest
from nbdev.config import get_config
from nbdev.test import test_nb as run_notebook

ROOT = Path(__file__).resolve().parents[1]
# notebooks run with nbs/ as their working directory: a relative MXMOE_DATA means relative to where pytest started
if os.environ.get('MXMOE_DATA'): os.environ['MXMOE_DATA'] = str(Path(os.environ['MXMOE_DATA']).resolve())
NOTEBOOKS = sorted(p for p in (ROOT/'nbs').glob('*.ipynb') if not p.name.startswith('_'))

@pytest.mark.parametrize('nb', NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook(nb: Path):
    flags = get_config(path=ROOT).tst_flags.split()
    force = os.environ.get('MXMOE_TEST_FLAGS', '').split()
    ok, _ = run_notebook(nb, skip_flags=[f for f in flags if f not in force], force_flags=force, basepath=ROOT, do_print=False)
    assert ok, f"{nb.name} failed (its traceback is printed above)"
