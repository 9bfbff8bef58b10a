"""A new heuristic by copying one file: goa/plugins/_template.py, copied under another name,
registers a method that goa.solve runs and the gap benchmark reports next to the others."""

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import numpy.testing as npt
import pytest

import goa
import instances
from benchmarks import gap
from benchmarks.common import read_csv
from goa import registry

TEMPLATE = registry.__file__.replace("registry.py", "plugins/_template.py")


@pytest.fixture
def copied_method(tmp_path):
    """The template copied to a new file with its name changed to "my_heuristic", imported as
    goa's plugin loader would import it; unregistered afterwards."""
    text = open(TEMPLATE, encoding="utf-8").read()
    assert 'NAME = "best_alone"' in text
    path = tmp_path / "my_heuristic.py"
    path.write_text(text.replace('NAME = "best_alone"', 'NAME = "my_heuristic"'),
                    encoding="utf-8")
    spec = importlib.util.spec_from_file_location("goa.plugins.my_heuristic", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    yield "my_heuristic"
    registry.unregister_method("my_heuristic")


def test_copied_template_is_a_method(copied_method):
    """The copy registers itself: goa.methods() lists it after the built-in ones, goa.solve
    runs it, evaluates its plan with the one evaluator and checks its options."""
    assert goa.methods() == goa.METHODS + (copied_method,)
    inst = instances.generate(12, 3, seed=5)
    result = goa.solve(inst, tau=0.6, method=copied_method)
    alone = inst.alone_delay_s
    best = alone.argmin(axis=1)
    want = np.where(inst.forced(0.6) | (alone.min(axis=1) < inst.local_delay_s), best, -1)
    npt.assert_array_equal(result.assignment, want)
    assert result.status == instances.Status.FEASIBLE and result.params == {"margin": 1.0}
    npt.assert_allclose(result.objective_ms,
                        instances.evaluate(inst, want).total_delay_ms, rtol=0, atol=0)
    with pytest.raises(ValueError, match="margin"):
        goa.solve(inst, tau=0.6, method=copied_method, margin=-1.0)
    with pytest.raises(ValueError, match="speed: not an option"):
        goa.solve(inst, tau=0.6, method=copied_method, speed=2)
    with pytest.raises(ValueError, match="time_limit"):
        goa.solve(inst, tau=0.6, method=copied_method, time_limit=1.0)


def test_gap_benchmark_runs_a_copied_method(copied_method, tmp_path):
    """benchmarks.gap picks the registered method up: its rows sit in gap.csv with a gap to
    the proven optimum that is never negative (it is a feasible plan)."""
    path = tmp_path / "inst.json"
    instances.save(instances.generate(6, 2, seed=1), path)
    out = tmp_path / "gap"
    assert gap.main(["--instances", str(path), "--tau", "0.8", "--out", str(out),
                     "--no-plots"]) == 0
    rows = read_csv(out / "gap.csv")
    mine = [r for r in rows if r["method"] == copied_method]
    assert len(mine) == 1 and mine[0]["reference"] == "optimum"
    assert float(mine[0]["gap_pct"]) >= -1e-7
    assert {r["method"] for r in rows} >= set(goa.METHODS) - set(goa.ACCURACY_METHODS)


def test_registry_refuses_bad_names():
    """A built-in name, a non-identifier or a name taken by another function is refused."""
    def run(instance, tau, seed, params):
        return np.full(instance.n_users, -1), {}

    with pytest.raises(ValueError, match="built-in"):
        registry.register_method("goa", run)
    with pytest.raises(ValueError, match="identifier"):
        registry.register_method("my heuristic", run)
    registry.register_method("tmp_method", run)
    try:
        with pytest.raises(ValueError, match="already registered"):
            registry.register_method("tmp_method", lambda *a: None)
    finally:
        registry.unregister_method("tmp_method")
    assert "tmp_method" not in goa.methods()
    json.dumps(goa.methods())  # plain names, as the benchmarks' CSVs hold them


def _gap_quick(out: Path, env: dict, cwd: Path, *extra: str) -> str:
    """``python -m benchmarks.gap --quick`` in a new process, as a user runs it; its stderr."""
    run = subprocess.run([sys.executable, "-m", "benchmarks.gap", "--quick", "--no-plots",
                          "--out", str(out), *extra], cwd=cwd, env=env, capture_output=True,
                         text=True, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    return run.stderr


def _rows(out: Path) -> list[dict]:
    """gap.csv's rows without the runtimes (they belong to the run that measured them)."""
    return [{k: v for k, v in row.items() if k != "runtime_s"} for row in read_csv(out / "gap.csv")]


def test_resume_after_a_plugin_is_added_edited_and_removed(tmp_path):
    """A copy of goa/plugins/_template.py added to goa/plugins, then edited, then removed,
    with ``benchmarks.gap --quick --resume`` after each step: every resumed run writes the CSV
    of a fresh run (runtimes aside): the new method's rows appear, change with its code and go
    with it; after the removal the first run's stored results are found again. Each run is a
    new process on a copy of the goa package (the installed tree is never touched)."""
    src = tmp_path / "src"
    # with its __pycache__ and modification times, so that numba's cache of the kernels is valid
    shutil.copytree(Path(goa.__file__).parent, src / "goa")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(src)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])}
    where = subprocess.run([sys.executable, "-c", "import goa; print(goa.__file__)"],
                           cwd=tmp_path, env=env, capture_output=True, text=True,
                           check=True).stdout.strip()
    assert Path(where).parent == src / "goa", where  # the runs below use the copy
    plugin = src / "goa" / "plugins" / "my_heuristic.py"
    resumed = tmp_path / "resumed"

    first = _gap_quick(resumed, env, tmp_path)
    before = _rows(resumed)
    assert "my_heuristic" not in {r["method"] for r in before}
    n_tasks = len({(r["instance"], r["tau"]) for r in before})
    assert f"{n_tasks} (instance, tau) tasks" in first

    text = Path(TEMPLATE).read_text(encoding="utf-8")
    plugin.write_text(text.replace('NAME = "best_alone"', 'NAME = "my_heuristic"'),
                      encoding="utf-8")
    assert f"--resume: 0 of {n_tasks} tasks found" in _gap_quick(resumed, env, tmp_path,
                                                                   "--resume")
    _gap_quick(tmp_path / "fresh-added", env, tmp_path)
    added = _rows(tmp_path / "fresh-added")
    assert _rows(resumed) == added
    assert sum(r["method"] == "my_heuristic" for r in added) == n_tasks

    # another default margin (4.25: offload only where an ES is that much faster), so other
    # plans; the file changes size, so no stale bytecode can be reused
    plugin.write_text(plugin.read_text().replace('{"margin": 1.0}', '{"margin": 4.25}'))
    assert f"--resume: 0 of {n_tasks} tasks found" in _gap_quick(resumed, env, tmp_path,
                                                                   "--resume")
    _gap_quick(tmp_path / "fresh-edited", env, tmp_path)
    edited = _rows(tmp_path / "fresh-edited")
    assert _rows(resumed) == edited

    def mine(rows):
        return [r for r in rows if r["method"] == "my_heuristic"]

    assert mine(edited) != mine(added)

    plugin.unlink()
    assert f"--resume: {n_tasks} of {n_tasks} tasks found" in _gap_quick(
        resumed, env, tmp_path, "--resume")
    assert _rows(resumed) == before
