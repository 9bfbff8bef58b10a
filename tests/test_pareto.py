"""``python -m benchmarks.pareto`` end to end on a tiny run, and its comparison helpers."""

import numpy as np
import numpy.testing as npt

from benchmarks import pareto, pareto_report, pareto_tasks
from benchmarks.common import read_csv
from formulations.result import BOUND_RTOL


def test_pareto_tiny_run(tmp_path, capsys):
    """--quick with 3 levels: every method present, the front proven optimal at every level
    (under "none" also at the supported points, each with a proven bound at most its delay), no
    heuristic below the front, acc_greedy reaching its level, the outputs written and no
    staging folder left."""
    out = tmp_path / "p"
    assert pareto.main(["--quick", "--levels", "3", "--jobs", "1", "--out", str(out)]) == 0
    rows = read_csv(out / "pareto.csv")
    assert list(rows[0]) == pareto.COLUMNS
    methods = {r["method"] for r in rows}
    assert set(pareto_report.METHOD_STYLE) <= methods
    fronts = [r for r in rows if r["method"] in ("front", "front_supported")]
    assert all(r["status"] == "optimal" for r in fronts)
    levels = [r for r in rows if r["method"] == "front"]
    assert len([r for r in levels if r["interference"] == "full"]) == 3
    assert len([r for r in levels if r["interference"] == "none"]) >= 3  # + GOA's accuracies
    supported = [r for r in rows if r["method"] == "front_supported"]
    assert supported and all(r["interference"] == "none" for r in supported)
    # the bounds as the solves proved them (nothing lowers them to the plan's delay), against
    # the plan: above it by more than HiGHS's tolerance would be a wrong bound
    for r in supported + levels:
        if r["interference"] == "none":
            assert float(r["bound_ms"]) <= float(r["objective_ms"]) * (1 + BOUND_RTOL["highs"])
    for r in rows:
        if r["method"] in ("front", "acc_greedy"):
            assert float(r["expected_accuracy_pct"]) >= float(r["min_accuracy"]) - 1e-9, r
    assert len([r for r in rows if r["method"] == "goa"]) == 2 * len(pareto_tasks.TAUS)
    taus = read_csv(out / "tau_table.csv")
    assert len(taus) == 2 * len(pareto_tasks.TAUS)
    # unclamped: the front, solved exactly at GOA's own accuracies, is never above GOA
    assert all(float(t["saved_ms"]) >= -1e-9 and float(t["gained_pp"]) >= -1e-9 for t in taus)
    for name in ("summary.txt", "pareto.png", "reliability.png", "calibration.csv"):
        assert (out / name).stat().st_size > 0
    text = capsys.readouterr().out
    assert "heuristic plans below the exact front: 0" in text
    assert not any(p.name.startswith(".staging") for p in out.iterdir())


def test_bad_option_is_one_line_exit_2(tmp_path, capsys):
    """A bad option prints one line on stderr and exits with code 2, writing nothing."""
    try:
        pareto.main(["--levels", "0", "--out", str(tmp_path / "x")])
    except SystemExit as exit_:
        assert exit_.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--levels" in err
    assert not (tmp_path / "x").exists()


def test_front_readers_by_hand():
    """delay_at / accuracy_at on a hand staircase, and the grid floor used for the check."""
    levels = np.array([50.0, 52.0, 54.0])
    delays = np.array([100.0, 120.0, 150.0])
    npt.assert_equal(pareto_report.delay_at(levels, delays, 51.0), 120.0)
    npt.assert_equal(pareto_report.delay_at(levels, delays, 49.0), 100.0)
    assert np.isnan(pareto_report.delay_at(levels, delays, 55.0))
    npt.assert_equal(pareto_report.accuracy_at(levels, delays, 130.0), 52.0)
    assert np.isnan(pareto_report.accuracy_at(levels, delays, 90.0))
    npt.assert_equal(pareto_report._grid_floor(levels, delays, 53.0), 120.0)
