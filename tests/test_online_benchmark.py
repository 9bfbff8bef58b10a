"""``python -m benchmarks.online``: a tiny run, resume, goodput and crossing rules, the tail
plot's handling of collapsed runs, bad options. (``benchmarks.online_engines`` needs SimPy and
is not run here; the engine's own check is tests/test_online_reference.py.)"""

import numpy as np
import pytest

from benchmarks import online as bench
from benchmarks.common import read_csv


def test_online_quick_run_and_resume(tmp_path, capsys):
    """A quick run writes the CSVs, the plots and the summary; --resume recomputes nothing and
    writes the same CSV; goodput and the static model's comparison are in the report."""
    out = tmp_path / "run"
    argv = ["--quick", "--seeds", "1", "--policies", "local_all", "edge_all", "goa",
            "static_goa", "--out", str(out)]
    assert bench.main(argv) == 0
    text = capsys.readouterr().out
    assert "Goodput" in text and "static model" in text
    for name in ("online.csv", "online_runs.csv", "goodput.csv", "summary.txt", "delay_cdf.png",
                 "tail_vs_rate.png", "accuracy_vs_p95.png", "predicted_vs_realised.png"):
        assert (out / name).exists(), name
    runs = read_csv(out / "online_runs.csv")
    assert {r["experiment"] for r in runs} == {"rate", "tau", "static"}
    local = [r for r in runs if r["policy"] == "local_all"]
    assert all(float(r["offloaded_frac"]) == 0.0 for r in local)
    # guard violations: only local-all answers uncertain queries on the device
    assert sum(float(r["guard_violations"]) for r in local) > 0
    assert all(float(r["guard_violations"]) == 0 for r in runs if r["policy"] != "local_all")
    assert {r["collapsed"] for r in runs} <= {"0.0", "1.0"}
    static = [r for r in runs if r["experiment"] == "static"]
    assert all(r["realised_over_static"] and not r["realised_over_predicted"] for r in static)
    first = (out / "online_runs.csv").read_text()
    assert bench.main(argv + ["--resume", "--no-plots"]) == 0
    assert "--resume: 12 of 12 tasks" in capsys.readouterr().err
    # the same records give the same figures; only the wall-time column may differ
    again = read_csv(out / "online_runs.csv")
    for a, b in zip(read_csv_text(first), again):
        assert {k: v for k, v in a.items() if k != "wall_s"} == \
            {k: v for k, v in b.items() if k != "wall_s"}


def read_csv_text(text):
    """Rows of a CSV given as text."""
    import csv
    import io

    return list(csv.DictReader(io.StringIO(text)))


def test_goodput_and_crossing_from_rows():
    """Goodput is the highest rate up to which every swept rate meets 90 %; the crossing rate
    interpolates where realised / predicted reaches 1."""
    rows = [{"experiment": "rate", "policy": "p", "seed": 0, "rate_hz": r, "attainment": a}
            for r, a in ((1.0, 0.99), (2.0, 0.95), (3.0, 0.5), (4.0, 0.95))]
    (good,) = bench.goodput(rows, (1.0, 2.0, 3.0, 4.0), n_users=10)
    assert good["goodput_hz"] == 2.0 and good["goodput_qps"] == 20.0
    rows = [{"experiment": "static", "policy": "s", "seed": 0, "rate_hz": r,
             "realised_over_static": x} for r, x in ((1.0, 0.5), (3.0, 1.5))]
    found, never = bench.crossing_rate(rows, "s")
    np.testing.assert_allclose(found, [2.0])
    assert never == 0


@pytest.mark.parametrize("argv, message", [
    (["--rates", "0"], "--rates"),
    (["--warmup", "9", "--duration", "2"], "--warmup"),
    (["--policies", "nope"], "--policies"),
])
def test_online_bad_options(tmp_path, capsys, argv, message):
    """Bad options: one line on stderr, exit code 2, no output folder."""
    out = tmp_path / "never"
    with pytest.raises(SystemExit) as caught:
        code = bench.main(argv + ["--quick", "--out", str(out)])
        raise SystemExit(code)
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not out.exists()


def test_tail_panel_leaves_collapsed_runs_out_of_the_mean():
    """In tail_vs_rate.png a seed whose run collapsed is left out of the mean and the point is
    marked "k/S" (one seed of two at 70 Hz used to draw a 100x spike); a rate where every seed
    collapsed draws no point of the line; the panel has a y label with its unit and the
    deadline in its legend."""
    from argparse import Namespace

    from benchmarks.common import matplotlib_pyplot

    rows = [{"experiment": "rate", "policy": "goa", "rate_hz": rate, "tau": 0.8, "seed": seed,
             "p95_ms": value, "collapsed": float(gone)}
            for rate, seed, value, gone in ((60.0, 0, 50.0, 0), (60.0, 1, 60.0, 0),
                                            (70.0, 0, 70.0, 0), (70.0, 1, 12600.0, 1),
                                            (80.0, 0, 9000.0, 1), (80.0, 1, 9500.0, 1))]
    plt = matplotlib_pyplot()
    fig, ax = plt.subplots()
    bench._tail_panel(ax, rows, "p95_ms", ("goa",), [60.0, 70.0, 80.0],
                      Namespace(tau=0.8, deadline_ms=100.0))
    (bars,) = ax.containers  # the policy's errorbar: its data line first
    assert bars.get_label().startswith("GOA")
    line = bars.lines[0]
    np.testing.assert_allclose(np.asarray(line.get_xdata(), dtype=float), [60.0, 70.0])
    np.testing.assert_allclose(np.asarray(line.get_ydata(), dtype=float), [55.0, 70.0])
    assert [t.get_text() for t in ax.texts] == ["1/2"]
    assert ax.get_ylabel() == "p95 delay [ms]"
    assert "deadline D = 100 ms" in [h.get_label() for h in ax.get_legend_handles_labels()[0]]
    plt.close(fig)
