"""``python -m benchmarks.serving``: a quick run (columns, conservation of queries, the map
computed from the runs), resume, the map's and goodput's rules, bad options, ``--calibrate``."""


import numpy as np
import pytest

import inference
from benchmarks import serving as bench
from benchmarks.common import read_csv


@pytest.fixture(scope="module")
def phone(tmp_path_factory):
    """A phone-class device spec file (Snapdragon 8 Gen 3 class: 76.8 GB/s LPDDR5X, an Arm
    CPU cluster's int8 and fp16 peaks), so the runs do not depend on a shipped phone preset."""
    path = tmp_path_factory.mktemp("spec") / "phone.json"
    inference.save_hardware(inference.HardwareSpec(
        name="test-phone", peak_flops={"fp16": 710.4e9, "int8": 1420.8e9},
        mem_bw_bytes_s=76.8e9, mem_bytes=4e9, eta_flops=0.45, eta_bw=0.53,
        source="test: a phone-class device"), path)
    return str(path)


def _floats(row, keys):
    return [float(row[k]) for k in keys]


def test_serving_quick_run(tmp_path, capsys, phone):
    """A quick run writes every CSV with its columns, the plots and the summary; every query
    of every online run finishes (conservation after the drain), local-all offloads nothing
    and edge-all everything; the static drops offload between 0 and N; the map's cells are
    those that :func:`benchmarks.serving.map_cells` computes from the runs' CSV rows, and
    --resume recomputes nothing and gives the same CSVs."""
    out = tmp_path / "run"
    argv = ["--quick", "--device", phone, "--out", str(out)]
    assert bench.main(argv) == 0
    text = capsys.readouterr().out
    assert "what offloading buys" in text and "goodput" in text and "map:" in text
    for name, columns in (("serving_static_drops.csv", bench.STATIC_DROP_COLUMNS),
                          ("serving_static.csv", bench.STATIC_COLUMNS),
                          ("serving_runs.csv", bench.RUN_COLUMNS),
                          ("serving_online.csv", bench.ONLINE_COLUMNS),
                          ("serving_goodput.csv", bench.GOODPUT_COLUMNS),
                          ("serving_map.csv", bench.MAP_COLUMNS)):
        rows = read_csv(out / name)
        assert rows and list(rows[0]) == list(columns), name
    for name in ("static.png", "online_tails.png", "map.png", "summary.txt"):
        assert (out / name).exists(), name

    runs = read_csv(out / "serving_runs.csv")
    assert {r["policy"] for r in runs} == set(bench.POLICIES)
    for r in runs:
        assert int(r["queries"]) > 0 and r["finished"] == r["queries"], r
    local = [r for r in runs if r["policy"] == "local_all"]
    edge = [r for r in runs if r["policy"] == "edge_all"]
    assert all(float(r["offloaded_frac"]) == 0.0 and r["sent_accuracy_pct"] == "" for r in local)
    assert all(float(r["offloaded_frac"]) == 1.0 for r in edge)
    # the per-slot planners stop at --plan-max-qps (20 queries/s in --quick)
    slot = {(int(r["n_users"]), float(r["rate_hz"])) for r in runs if r["policy"] == "goa"}
    assert slot and all(n * rate <= 20.0 for n, rate in slot)
    # the static plans stop at --plan-max-users (50 in --quick)
    assert {int(r["n_users"]) for r in runs if r["policy"] == "static_goa_ls"} == {20}
    for r in read_csv(out / "serving_static_drops.csv"):
        assert 0 <= float(r["n_offloaded"]) <= int(r["n_users"])
        if r["method"] == "edge_all":
            assert float(r["n_offloaded"]) == int(r["n_users"])

    parsed = [{**r, **{k: float(r[k]) for k in ("n_users", "rate_hz", "bandwidth_hz", "seed",
                                                "mean_ms", "p95_ms", "accuracy_pct",
                                                "offloaded_frac", "collapsed")},
               "sent_accuracy_pct": float(r["sent_accuracy_pct"]) if r["sent_accuracy_pct"]
               else None} for r in runs]
    cells = read_csv(out / "serving_map.csv")
    again = bench.map_cells(parsed)
    assert len(cells) == len(again) == 2 * 2 * 2  # N x periods x bandwidths of --quick
    for cell, mine in zip(cells, again):
        assert cell["verdict"] == mine["verdict"] in bench.VERDICTS
        np.testing.assert_allclose(_floats(cell, ("delta_mean_ms", "delay_ratio")),
                                   [mine["delta_mean_ms"], mine["delay_ratio"]], rtol=1e-12)

    first = {name: (out / name).read_text() for name in ("serving_map.csv", "serving_static.csv")}
    assert bench.main(argv + ["--resume", "--no-plots"]) == 0
    assert "tasks" in capsys.readouterr().err
    for name, text in first.items():
        assert (out / name).read_text() == text, name


def _run_row(policy, seed, mean_ms, accuracy, n=100, rate=0.1, bw=1e8):
    return {"policy": policy, "n_users": n, "rate_hz": rate, "bandwidth_hz": bw, "seed": seed,
            "mean_ms": mean_ms, "p95_ms": 2 * mean_ms, "accuracy_pct": accuracy,
            "sent_accuracy_pct": 50.0, "offloaded_frac": 0.5, "collapsed": 0.0}


@pytest.mark.parametrize("threshold_ms, threshold_acc, verdict", [
    ((100.0, 110.0, 105.0), 50.0, "local pays"),       # faster on every seed
    ((900.0, 1000.0, 950.0), 50.0, "edge dominates"),  # slower and less accurate
    ((900.0, 1000.0, 950.0), 70.0, "tie"),             # slower but more accurate
    ((100.0, 1000.0, 500.0), 50.0, "tie"),             # the CI straddles 0
])
def test_map_verdict_from_paired_runs(threshold_ms, threshold_acc, verdict):
    """A map cell's verdict follows the paired delay difference's 95 % CI over seeds (and the
    accuracy for "edge dominates"), computed from the run rows given."""
    rows = []
    for seed, t_ms in enumerate(threshold_ms):
        rows.append(_run_row("threshold", seed, t_ms, threshold_acc))
        rows.append(_run_row("edge_all", seed, 500.0 + seed, 56.0))
    rows.append(_run_row("goa", 0, 1.0, 99.0))  # other policies are not in the map
    (cell,) = bench.map_cells(rows)
    assert cell["verdict"] == verdict and cell["seeds"] == 3
    np.testing.assert_allclose(cell["delta_mean_ms"],
                               np.mean(threshold_ms) - np.mean([500.0, 501.0, 502.0]))


def test_goodput_over_users():
    """Goodput is the largest swept N up to which every N meets the 90 % attainment, per seed;
    a sweep that stops at an N that was not run is counted as censored."""
    rows = [{"policy": p, "rate_hz": 0.5, "seed": 0, "bandwidth_hz": 1e8, "n_users": n,
             "attainment": a} for p, n, a in (("a", 50, 0.95), ("a", 200, 0.91),
                                               ("a", 500, 0.5), ("b", 50, 0.95))]
    good = {g["policy"]: g for g in bench.goodput(rows, (50, 200, 500), 1e8)}
    assert good["a"]["goodput_users"] == 200 and good["a"]["goodput_qps"] == 100.0
    assert good["a"]["censored"] == 0
    assert good["b"]["goodput_users"] == 50 and good["b"]["censored"] == 1


@pytest.mark.parametrize("argv, message", [
    (["--device", "no-such-phone"], "--device"),
    (["--llm", "nope"], "--llm"),
    (["--min-duration", "9", "--max-duration", "2"], "--min-duration"),
    (["--periods", "0"], "--periods"),
])
def test_serving_bad_options(tmp_path, capsys, phone, argv, message):
    """Bad options: one line on stderr naming the option, exit code 2, no output folder."""
    out = tmp_path / "never"
    full = ["--quick", "--device", phone, "--out", str(out)] + argv
    with pytest.raises(SystemExit) as caught:
        raise SystemExit(bench.main(full))
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not out.exists()


def test_calibrate_hands_over(monkeypatch, capsys):
    """--calibrate hands every argument to benchmarks.serving_calibration.main (its own parser:
    --vidur, --excerpt, ...), whose one-line errors come back with exit 2."""
    from benchmarks import serving_calibration

    seen = []
    monkeypatch.setattr(serving_calibration, "main", lambda argv: seen.append(argv) or 0)
    assert bench.main(["--calibrate", "--quick"]) == 0 and seen == [["--calibrate", "--quick"]]
    monkeypatch.undo()
    assert bench.main(["--calibrate", "--vidur", "/nowhere/at/all"]) == 2
    assert "--vidur" in capsys.readouterr().err
