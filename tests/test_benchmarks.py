"""The benchmark CLIs end to end in tiny configurations: outputs, columns, plausible values."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import instances
from benchmarks import exact, gap, paper
from benchmarks.common import read_csv


def _floats(rows, key):
    return [float(r[key]) for r in rows if r[key] != ""]


def test_gap_tiny_run(tmp_path, capsys):
    """gap on 2 tiny instances per model: CSV columns, gaps >= 0 against a proven optimum."""
    out = tmp_path / "gap"
    code = gap.main(["--quick", "--seeds", "0", "--tau", "0.8", "1.0", "--out", str(out),
                     "--time-limit", "30"])
    assert code == 0
    rows = read_csv(out / "gap.csv")
    assert list(rows[0]) == gap.COLUMNS
    assert {(r["set"], r["interference"], r["n_users"]) for r in rows} == {
        ("default", "none", "10"), ("default", "none", "20"), ("default", "full", "6"),
        ("default", "full", "8"), ("congested", "none", "12"), ("congested", "full", "8")}
    methods = {r["method"] for r in rows}
    assert {"goa", "goa_ls", "edge_all", "random", "dmin", "ga", "local_all", "exact"} <= methods
    for r in rows:
        if r["reference"] == "optimum":
            assert r["optimum_offloaded"] != ""
        if r["set"] == "congested":
            assert r["n_servers"] == "2"
    for r in rows:
        if r["reference"] == "optimum" and r["feasible"] == "1":
            assert float(r["gap_pct"]) >= -1e-7, r
        if r["method"] == "exact":
            assert r["exact_status"] == "optimal" and r["is_optimal"] == "1"
        if r["method"] == "edge_all":
            assert r["n_offloaded"] == r["n_users"]
    for name in ("gap.png", "runtime.png", "summary.txt"):
        assert (out / name).stat().st_size > 0
    text = capsys.readouterr().out
    assert "SUMMARY" in text and "mean gap %" in text and "offloaded" in text
    assert "Columns:" in (out / "summary.txt").read_text()
    assert not any(p.name.startswith(".staging") for p in out.iterdir())


def test_gap_quick_default_folder_and_plain_help(tmp_path, monkeypatch, capsys):
    """--quick writes to results/gap-quick by default; --help shows defaults as plain lists."""
    monkeypatch.chdir(tmp_path)
    assert gap.main(["--quick", "--seeds", "0", "--sets", "congested", "--no-plots"]) == 0
    assert (tmp_path / "results" / "gap-quick" / "gap.csv").exists()
    assert not (tmp_path / "results" / "gap").exists()
    capsys.readouterr()
    with pytest.raises(SystemExit):
        gap.main(["--help"])
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    assert "default 0 1 2 3 4 5 6 7 8 9" in text and "(0, 1" not in text
    assert "default 0.6 0.8 1;" in text


def test_gap_results_do_not_depend_on_jobs(tmp_path):
    """--jobs 2 gives the same objectives as --jobs 1 (runtimes aside)."""
    keys = ("instance", "tau", "method", "objective_ms", "status", "gap_pct")
    runs = []
    for jobs in (1, 2):
        out = tmp_path / f"j{jobs}"
        assert gap.main(["--quick", "--seeds", "3", "--jobs", str(jobs), "--no-plots",
                         "--out", str(out)]) == 0
        runs.append([tuple(r[k] for k in keys) for r in read_csv(out / "gap.csv")])
    assert runs[0] == runs[1]


def test_gap_on_saved_instances(tmp_path):
    """--instances takes saved files (here the shipped test instance)."""
    from pathlib import Path

    data = Path(__file__).parent / "data" / "paper_N6_M2_none_seed11.json"
    out = tmp_path / "files"
    assert gap.main(["--instances", str(data), "--tau", "1.0", "--no-plots", "--out",
                     str(out)]) == 0
    rows = read_csv(out / "gap.csv")
    assert {r["instance"] for r in rows} == {data.name}


@pytest.mark.parametrize("argv, message", [
    (["--tau", "1.5"], "--tau"),
    (["--jobs", "0"], "--jobs"),
    (["--time-limit", "-1"], "--time-limit"),
    (["--instances", "missing.json"], "missing.json"),
    (["--seeds", "x"], "--seeds"),
])
def test_gap_bad_options(tmp_path, monkeypatch, capsys, argv, message):
    """Bad options: one line on stderr, exit code 2, no output folder content."""
    monkeypatch.chdir(tmp_path)
    try:
        code = gap.main(argv + ["--out", "o"])
    except SystemExit as stop:
        code = stop.code
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "o" / "gap.csv").exists()


def test_paper_tiny_run(tmp_path, capsys):
    """paper with 2 sizes, 2 taus, 3 drops: paired drops, accuracy between local-all and edge-all."""
    out = tmp_path / "paper"
    assert paper.main(["--users", "20", "30", "--tau", "0.8", "1.0", "--drops", "3",
                       "--out", str(out)]) == 0
    drops = read_csv(out / "paper_drops.csv")
    assert len(drops) == 2 * 2 * 3 * len(paper.METHODS)
    local_by_drop = {}
    for r in drops:
        if r["method"] == "local_all":  # the same drop under every tau: paired
            local_by_drop.setdefault((r["n_users"], r["drop"]), set()).add(r["total_delay_ms"])
    assert all(len(v) == 1 for v in local_by_drop.values()) and len(local_by_drop) == 6
    summary = read_csv(out / "paper.csv")
    index = {(r["n_users"], r["tau"], r["method"]): r for r in summary}
    for n in ("20", "30"):
        for tau in ("0.8", "1.0"):
            local = float(index[(n, tau, "local_all")]["accuracy_pct"])
            edge = float(index[(n, tau, "edge_all")]["accuracy_pct"])
            goa_acc = float(index[(n, tau, "goa")]["accuracy_pct"])
            assert float(index[(n, tau, "edge_all")]["n_offloaded"]) == float(n)
            assert float(index[(n, tau, "local_all")]["n_offloaded"]) == 0
            assert local <= goa_acc and local <= edge
    for name in ("accuracy_vs_n.png", "delay_vs_n.png", "accuracy_vs_tau.png", "uncertainty.png",
                 "summary.txt"):
        assert (out / name).stat().st_size > 0
    out = capsys.readouterr().out
    assert "AUROC" in out and "ECE SLM" in out


def test_paper_bad_option(capsys):
    """--drops 0 is a one-line error with exit code 2."""
    with pytest.raises(SystemExit) as stop:
        paper.main(["--drops", "0"])
    assert stop.value.code == 2
    assert "--drops" in capsys.readouterr().err


def test_scale_tiny_run(tmp_path, capsys):
    """scale with a few small N: CSV rows per method and N (min <= median <= max, the status
    each method can end with), a slope for GOA."""
    from benchmarks import scale

    out = tmp_path / "scale"
    assert scale.main(["--methods", "goa", "goa_reference", "dmin", "exact_none",
                       "--users", "10", "20", "40", "--repeats", "1", "--fit-from", "10",
                       "--out", str(out)]) == 0
    rows = read_csv(out / "scale.csv")
    assert list(rows[0]) == scale.COLUMNS
    assert {(r["method"], r["n_users"]) for r in rows} == {
        (m, n) for m in ("goa", "goa_reference", "dmin", "exact_none") for n in ("10", "20", "40")}
    for r in rows:
        assert r["repeats"] == "1"
        assert r["min_s"] == r["median_s"] == r["max_s"], r  # one timed run: one figure
        expected = {"exact_none": {"optimal"}, "dmin": {"feasible", "guard_violated"}}.get(
            r["method"], {"feasible"})  # d-min ignores the guard
        assert r["status"] in expected, r
    assert (out / "scale.png").stat().st_size > 0
    assert "slope" in capsys.readouterr().out


def test_scale_reports_the_median_minimum_and_maximum_of_the_repeats(monkeypatch):
    """With runs timed 3 s, 1 s, 2 s, 9 s and 5 s, a point reports median 3, min 1, max 9 over
    5 repeats (after one untimed warm-up run), and stops at the first N slower than
    --max-seconds."""
    from types import SimpleNamespace

    from benchmarks import scale

    times = iter([0.0, 3.0, 1.0, 2.0, 9.0, 5.0,  # N = 6: warm-up, then 5 timed runs
                  0.0, 30.0, 1.0, 1.0, 1.0, 1.0,  # N = 8: too slow, the last point
                  0.0, 1.0, 1.0, 1.0, 1.0, 1.0])  # N = 10: never timed
    monkeypatch.setattr(scale, "_runner", lambda method, args: lambda inst: (next(times),
                                                                             "feasible"))
    args = SimpleNamespace(servers=2, seed=0, tau=0.8, repeats=5, max_seconds=20.0)
    progress = SimpleNamespace(update=lambda k: None)
    rows = scale.measure("goa", (6, 8, 10), args, progress)
    assert [r["n_users"] for r in rows] == [6, 8]
    assert_allclose([rows[0][k] for k in ("median_s", "min_s", "max_s", "repeats")],
                    [3.0, 1.0, 9.0, 5])
    assert_allclose([rows[1][k] for k in ("median_s", "min_s", "max_s")], [1.0, 1.0, 30.0])


def test_paper_as_published_plans_on_the_estimate_and_scores_with_the_evaluator(tmp_path,
                                                                               monkeypatch):
    """--as-published: drops are generated with bytes as bits, every method plans on the derived
    instance (edge workload 8 x W^L, all else equal), and every reported delay and accuracy in
    paper_drops.csv equals instances.evaluate of that assignment on the real drop (true W^E)."""
    import goa
    from benchmarks.common import warm_up

    warm_up()  # its own solves are not the paper's plans: load the kernels before the spy
    planned = []
    real_solve = goa.solve

    def spy(instance, tau, method, seed=0, **options):
        result = real_solve(instance, tau=tau, method=method, seed=seed, **options)
        planned.append((instance, tau, method, result.assignment))
        return result

    monkeypatch.setattr(goa, "solve", spy)
    out = tmp_path / "pub"
    assert paper.main(["--users", "30", "--tau", "0.8", "--drops", "2", "--as-published",
                       "--no-plots", "--out", str(out)]) == 0
    rows = read_csv(out / "paper_drops.csv")
    assert len(rows) == len(planned) == 2 * len(paper.METHODS)
    differs = 0
    for row, (plan_inst, tau, method, assignment) in zip(rows, planned):
        real = instances.generate(30, 4, seed=int(row["seed"]), bits_per_byte=1.0)
        assert row["method"] == method
        assert_array_equal(plan_inst.edge_workload_flop, 8.0 * real.local_workload_flop)
        assert_array_equal(plan_inst.prompt_bits, real.prompt_bits)
        assert_array_equal(plan_inst.gain, real.gain)
        ev = instances.evaluate(real, assignment, tau)
        assert_allclose(float(row["total_delay_ms"]), ev.total_delay_ms, rtol=1e-15)
        assert_allclose(float(row["comp_ms"]), ev.total_comp_ms, rtol=1e-15)
        assert_allclose(float(row["accuracy_pct"]), ev.accuracy_pct, rtol=1e-15)
        assert int(row["n_offloaded"]) == ev.n_offloaded
        planned_ms = instances.evaluate(plan_inst, assignment).total_delay_ms
        differs += not np.isclose(planned_ms, ev.total_delay_ms, rtol=1e-9)
    assert differs > 0  # the planner's view and the score really differ for offloading methods


def test_paper_as_published_refuses_other_bits_per_byte(tmp_path, capsys):
    """--as-published with --bits-per-byte 8 is a one-line error (exit 2) and writes nothing."""
    out = tmp_path / "never"
    assert paper.main(["--as-published", "--bits-per-byte", "8", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "--bits-per-byte" in err and len(err.splitlines()) == 1
    assert not out.exists()


def test_paper_report_puts_offloads_in_their_own_column():
    """The comparison table has its offload columns after the delay columns, and the paper's
    GOA offload count appears there, not under an accuracy column; every cell has a CI."""
    summary = []
    for method, (acc, delay) in paper.PAPER[(50, 0.8)].items():
        record = {"n_users": 50, "tau": 0.8, "method": method, "drops": 2}
        for metric in paper.METRICS:
            record[metric], record[f"{metric}_ci95"] = 1.0, 0.5
        record.update(accuracy_pct=acc, total_delay_ms=float(delay), n_offloaded=48.0)
        summary.append(record)
    calibration = paper._calibration(np.array([0.2, 0.9]), np.array([0.0, 1.0]),
                                     np.array([0.6, 0.7]), np.array([1.0, 0.0]))
    text = paper._report(summary, (50,), (0.8,), tuple(paper.PAPER[(50, 0.8)]), 0.7,
                         np.linspace(0, 1, 3), np.array([0.5, 0.5]), np.array([1, 1]),
                         calibration)
    header = next(line for line in text.splitlines() if line.strip().startswith("point"))
    assert header.index("offloaded (paper)") > header.index("delay ms (paper)")
    goa_line = next(line for line in text.splitlines() if "N=50 tau=0.8" in line and " goa " in line)
    assert goa_line.rstrip().endswith("49.2")
    assert "48.0 +- 0.5" in goa_line and "56.1 +- 0.5" in goa_line
    # ECE by hand: SLM bins (0.2 -> 0) and (0.9 -> 1): (0.2 + 0.1) / 2; LLM (0.6 -> 1), (0.7 -> 0)
    assert "ECE SLM 0.1500, LLM 0.5500" in text


def test_exact_bench_quick_run(tmp_path, capsys):
    """benchmarks.exact --quick on one backend per model: CSV rows, every solve optimal, the
    summary table, and the size estimate on stderr before the run."""
    out = tmp_path / "exact"
    assert exact.main(["--quick", "--methods", "loadvec", "bnb", "--no-plots", "--out",
                       str(out)]) == 0
    rows = read_csv(out / "bench.csv")
    assert list(rows[0]) == exact.COLUMNS
    assert len(rows) == 2 * 2 * 2  # two backends, two sizes, two seeds
    assert {r["status"] for r in rows} == {"optimal"}
    captured = capsys.readouterr()
    assert "8 solves" in captured.err and "min" in captured.err
    assert "| none | 20 | 4 | loadvec | 2/2 |" in captured.out
    assert sorted(p.name for p in out.iterdir()) == ["bench.csv", "bench.md"]


def test_exact_bench_interrupt_leaves_no_folder(tmp_path, monkeypatch, capsys):
    """An interrupted run exits 130, writes nothing, and removes the folders it created."""
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(exact, "run", interrupted)
    existing = tmp_path / "kept"
    existing.mkdir()
    assert exact.main(["--quick", "--out", str(tmp_path / "new" / "deep")]) == 130
    assert exact.main(["--quick", "--out", str(existing)]) == 130
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept"]
    assert list(existing.iterdir()) == []
    assert "interrupted" in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["--seeds", "0"], "--seeds"),
    (["--time-limit", "-1"], "--time-limit"),
    (["--methods", "gurobi"], "--methods"),
    (["--models", "full", "--methods", "loadvec"], "--methods"),
])
def test_exact_bench_bad_options(tmp_path, capsys, argv, message):
    """Bad options: one line on stderr naming the option, exit code 2, no output folder."""
    out = tmp_path / "o"
    try:
        code = exact.main(argv + ["--out", str(out)])
    except SystemExit as stop:
        code = stop.code
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not out.exists()
