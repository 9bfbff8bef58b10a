"""The benchmark CLIs that publish bounds (certified, gap, pareto) run their exact solves on
work budgets: every CSV
column but the runtimes is the same with --jobs 1 or 2, on a Dask cluster, after an interrupted
run is resumed, and while another process keeps a core busy."""

import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from benchmarks import certified, gap, pareto
from benchmarks.common import read_csv
from benchmarks.store import STORE_NAME

ROOT = Path(__file__).resolve().parents[1]

# small settings that still stop exact solves on their budget: N = 8 (the B&B, proven), N = 30
# (the load-vector boxes, stopped after 40 boxes)
CERTIFIED = ["--sizes", "8", "30", "--seeds", "0", "--tau", "0.8", "--max-boxes", "40",
             "--no-plots"]
# the congested set: "none" N = 12 (loadvec, proven) and "full" N = 8 (the B&B stopped after
# 20 nodes)
GAP = ["--quick", "--sets", "congested", "--seeds", "0", "--max-nodes", "20", "--no-plots"]
# the accuracy-delay front on its quick scenarios, two levels, one exact (P_A) point
PARETO = ["--quick", "--levels", "2", "--exact-points", "1", "--no-plots"]
CASES = {"certified": (certified, CERTIFIED, "certified.csv"), "gap": (gap, GAP, "gap.csv"),
         "pareto": (pareto, PARETO, "pareto.csv")}
STATUS = {"certified": "bound_status", "gap": "exact_status", "pareto": "status"}


def _rows(path: Path) -> list[dict]:
    """A CSV's rows without the runtime columns (the time each run measured)."""
    return [{k: v for k, v in row.items() if "runtime" not in k and k != "bound_time_s"}
            for row in read_csv(path)]


def _interrupt(store: Path, keep: int) -> None:
    """Make a finished run's store look like one stopped after ``keep`` tasks."""
    with sqlite3.connect(store) as db:
        keys = [k for (k,) in db.execute("SELECT key FROM results ORDER BY key")]
        db.executemany("DELETE FROM results WHERE key = ?", [(k,) for k in keys[keep:]])
        db.execute("UPDATE meta SET value = 'running' WHERE name = 'state'")


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """Each CLI's CSV from one process (--jobs 1)."""
    out = {}
    for name, (module, argv, csv) in CASES.items():
        folder = tmp_path_factory.mktemp(name)
        assert module.main(argv + ["--jobs", "1", "--out", str(folder)]) == 0
        out[name] = folder / csv
    return out


@pytest.mark.parametrize("name", CASES)
def test_identical_across_jobs_load_and_resume(tmp_path, reference, name):
    """--jobs 2 on a machine with a core kept busy by another process, and a run stopped
    after one task then resumed, write the same CSV as --jobs 1 (runtimes aside); the exact
    solves stopped on their work budget say so (status work_limit), none on the wall clock
    (pareto's tiny front is proven everywhere)."""
    module, argv, csv = CASES[name]
    rows = _rows(reference[name])
    statuses = {r[STATUS[name]] for r in rows}
    assert "time_limit" not in statuses, statuses
    assert ("work_limit" in statuses) == (name != "pareto"), statuses
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        busy = tmp_path / "busy"
        assert module.main(argv + ["--jobs", "2", "--out", str(busy)]) == 0
    finally:
        hog.kill()
        hog.wait()
    assert _rows(busy / csv) == rows
    resumed = tmp_path / "resumed"
    assert module.main(argv + ["--jobs", "1", "--out", str(resumed)]) == 0
    _interrupt(resumed / STORE_NAME, keep=1)
    (resumed / csv).unlink()
    assert module.main(argv + ["--jobs", "1", "--out", str(resumed), "--resume"]) == 0
    assert _rows(resumed / csv) == rows


def test_identical_on_dask(tmp_path, reference):
    """The certified gaps computed by a 2-worker Dask cluster equal the local ones."""
    out = tmp_path / "dask"
    code = textwrap.dedent(f"""
        import sys
        from benchmarks import certified
        sys.exit(certified.main({CERTIFIED + ['--executor', 'dask', '--workers', '2',
                                              '--out', str(out)]!r}))
    """)
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert _rows(out / "certified.csv") == _rows(reference["certified"])
