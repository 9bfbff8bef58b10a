"""``python -m benchmarks.online`` and ``benchmarks.online_engines``: tiny runs, resume, errors."""

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
