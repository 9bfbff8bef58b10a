"""Pictures of a drop: ``instances show --plot`` and ``benchmarks.gap --plot-plans``."""

from pathlib import Path

import numpy as np
import pytest

import goa  # noqa: F401  registers goa's methods as planners (instances.starts)
import instances
from benchmarks import gap
from benchmarks.common import read_csv
from instances import plot as plot_module
from instances.cli import main

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def drop(tmp_path):
    """A 12-user, 3-ES drop (interference "full") saved as a file."""
    path = tmp_path / "drop.json"
    instances.save(instances.generate(12, 3, seed=4), path)
    return path


def _titles(monkeypatch) -> list:
    """Record the title of every figure plot_plan saves (and still save it)."""
    seen = []
    original = plot_module.save_figure

    def record(fig, path):
        seen.append(fig.axes[0].get_title())
        return original(fig, path)

    monkeypatch.setattr(plot_module, "save_figure", record)
    return seen


def test_show_plot_draws_the_plan_of_the_method_with_its_delay_and_accuracy(
        drop, tmp_path, monkeypatch, capsys):
    """show --plot plans the drop with the registered method at --tau and writes a PNG whose
    title gives that plan's total delay and accuracy (as instances.evaluate computes them)."""
    titles = _titles(monkeypatch)
    out = tmp_path / "drop.png"
    assert main(["show", str(drop), "--plot", str(out), "--method", "goa_ls",
                 "--tau", "0.6"]) == 0
    assert out.read_bytes()[:8] == PNG
    inst = instances.load(drop)
    ev = goa.solve(inst, tau=0.6, method="goa_ls", seed=0).evaluation
    assert len(titles) == 1
    assert f"total delay {ev.total_delay_ms:.1f} ms" in titles[0]
    assert f"accuracy {ev.accuracy_pct:.1f} %" in titles[0] and "goa_ls" in titles[0]
    assert f"wrote {out}" in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["drop.json", "drop.png"]


def test_show_plot_without_a_registered_planner_says_so_in_one_line(drop, tmp_path,
                                                                    monkeypatch, capsys):
    """No planner registered: one line naming --method, exit 2, no picture."""
    from instances import starts

    monkeypatch.setattr(starts, "registered_planner", lambda method: None)
    monkeypatch.setattr(starts, "planner_methods", lambda: ())
    out = tmp_path / "drop.png"
    assert main(["show", str(drop), "--plot", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--method goa: no planner" in err
    assert not out.exists()


@pytest.mark.parametrize("extra, message", [
    (["--plot", "{folder}"], "--plot: {folder} is a folder"),
    (["--plot", "{folder}/no/x.png"], "--plot: folder {folder}/no does not exist"),
    (["--plot", "{folder}/x.unknown"], "--plot: cannot tell the image format"),
    (["--plot", "{folder}/x.png", "--method", "nope"], "--method: unknown method 'nope'"),
    (["--plot", "{folder}/x.png", "--tau", "1.5"], "--tau: must lie in [0, 1]"),
    (["--tau", "0.5"], "--method, --tau: apply to --plot only"),
])
def test_show_plot_bad_options_are_one_line(drop, tmp_path, capsys, extra, message):
    """Each bad --plot, --method or --tau: one line naming it, exit 2, nothing written."""
    folder = tmp_path / "pictures"
    folder.mkdir()
    argv = ["show", str(drop)] + [a.format(folder=folder) for a in extra]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message.format(folder=folder) in err, err
    assert list(folder.iterdir()) == []


def test_plot_plan_marks_place_and_forced_users(monkeypatch, tmp_path):
    """Every user is drawn once, grey when local and in its ES's colour when offloaded, with a
    black edge exactly when alpha > tau."""
    inst = instances.generate(10, 2, seed=1)
    plan = np.array([-1, 0, 1, 0, -1, 1, 1, 0, -1, 0])
    forced = inst.forced(0.6)
    plan[forced] = 0  # keep the guard
    drawn = []
    monkeypatch.setattr(plot_module, "save_figure",
                        lambda fig, path: drawn.extend(fig.axes[0].collections) or path)
    plot_module.plot_plan(inst, plan, tmp_path / "p.png", tau=0.6)
    from matplotlib.colors import to_rgba

    colours = plot_module.server_colours(2)
    users = [c for c in drawn if c.get_sizes()[0] == 36]
    assert len(users) == inst.n_users
    for collection in users:
        (x, y), = collection.get_offsets()
        i = int(np.flatnonzero((inst.user_xy_m[:, 0] == x) & (inst.user_xy_m[:, 1] == y))[0])
        want = to_rgba(plot_module.LOCAL_COLOUR) if plan[i] < 0 else colours[plan[i]]
        np.testing.assert_allclose(collection.get_facecolor()[0], want)
        assert (collection.get_linewidths()[0] > 0 and len(collection.get_edgecolor())
                and tuple(collection.get_edgecolor()[0]) == (0, 0, 0, 1)) == bool(forced[i])


def test_gap_plot_plans_draws_one_picture_per_instance_and_tau(tmp_path):
    """--plot-plans: one PNG per (instance, tau) solved, named after both, in OUT/plans; the CSV
    is the one of a run without it."""
    out = tmp_path / "g"
    assert gap.main(["--quick", "--seeds", "0", "--sets", "congested", "--tau", "0.6", "1.0",
                     "--no-plots", "--plot-plans", "--out", str(out)]) == 0
    pictures = sorted(p.name for p in (out / "plans").iterdir())
    assert pictures == ["congested_full_N8_M2_seed0_tau0.6.png",
                        "congested_full_N8_M2_seed0_tau1.png",
                        "congested_none_N12_M2_seed0_tau0.6.png",
                        "congested_none_N12_M2_seed0_tau1.png"]
    assert all((out / "plans" / p).read_bytes()[:8] == PNG for p in pictures)
    plain = tmp_path / "plain"
    assert gap.main(["--quick", "--seeds", "0", "--sets", "congested", "--tau", "0.6", "1.0",
                     "--no-plots", "--out", str(plain)]) == 0
    keys = ("instance", "tau", "method", "objective_ms")
    assert [tuple(r[k] for k in keys) for r in read_csv(out / "gap.csv")] == \
        [tuple(r[k] for k in keys) for r in read_csv(plain / "gap.csv")]
    assert not (plain / "plans").exists()


def test_gap_on_instance_files_does_not_replace_the_main_job(tmp_path, monkeypatch):
    """benchmarks.gap --instances without --out writes results/gap-instances, never the main
    job's results/gap."""
    data = Path(__file__).parent / "data" / "paper_N6_M2_none_seed11.json"
    monkeypatch.chdir(tmp_path)
    main_job = tmp_path / "results" / "gap"
    main_job.mkdir(parents=True)
    (main_job / "gap.csv").write_text("the main job's\n")
    assert gap.main(["--instances", str(data), "--tau", "1.0", "--no-plots"]) == 0
    assert (main_job / "gap.csv").read_text() == "the main job's\n"
    assert read_csv(tmp_path / "results" / "gap-instances" / "gap.csv")


@pytest.fixture
def saved_figures(monkeypatch):
    """What every matplotlib figure saved during the test shows, as (file name, panels,
    legends): each visible panel's (y label, has its own legend, extent) and the extents of
    the figure-level legends, measured once the figure is drawn."""
    from matplotlib.figure import Figure

    saved = []
    original = Figure.savefig

    def record(fig, fname, *args, **kwargs):
        original(fig, fname, *args, **kwargs)  # draws it: the extents below are final
        renderer = fig.canvas.get_renderer()
        panels = [(ax.get_ylabel(), ax.get_legend() is not None, ax.get_window_extent(renderer))
                  for ax in fig.axes if ax.get_visible()]
        legends = [legend.get_window_extent(renderer) for legend in fig.legends]
        saved.append((Path(str(fname)).name, panels, legends))

    monkeypatch.setattr(Figure, "savefig", record)
    return saved


def _check_panels(name, panels, legends):
    """Every visible panel has a y-axis label, with a unit in brackets where the quantity has
    one, and no figure legend lies over a panel."""
    for label, _, _ in panels:
        assert label, name
        if any(word in label for word in ("delay", "runtime", "gap", "accuracy")):
            assert "[" in label and "]" in label, (name, label)
    for extent in legends:
        assert not any(extent.overlaps(box) for _, _, box in panels), name


def test_gap_pictures_label_every_panel_and_keep_legends_off_the_data(tmp_path, saved_figures):
    """gap.png and runtime.png: a y label with its unit on every panel, and the legend below
    the panels (it used to sit inside a panel, over runtime.png's lines)."""
    assert gap.main(["--quick", "--seeds", "0", "--sets", "default", "--out",
                     str(tmp_path / "g")]) == 0
    assert [name for name, _, _ in saved_figures] == ["gap.png", "runtime.png"]
    for name, panels, legends in saved_figures:
        assert not any(own for _, own, _ in panels) and len(legends) == 1
        _check_panels(name, panels, legends)


def test_paper_pictures_label_every_panel(tmp_path, saved_figures):
    """The paper's pictures: every panel of the N and tau sweeps has its own y label with its
    unit (the shared axis used to be labelled on the first panel only); legends below."""
    from benchmarks import paper

    assert paper.main(["--users", "20", "30", "--tau", "0.8", "1.0", "--drops", "2",
                       "--out", str(tmp_path / "p")]) == 0
    assert {n for n, _, _ in saved_figures} >= {"accuracy_vs_n.png", "delay_vs_n.png",
                                                "accuracy_vs_tau.png"}
    for name, panels, legends in saved_figures:
        _check_panels(name, panels, legends)


def _pareto_rows():
    """One "none" scenario by hand: a three-step front, GOA's sweep over 5 taus with two
    distinct plans (the first the same as edge-all's), and local-all far off the front."""
    base = {"interference": "none", "n_users": 10, "seed": 0, "status": "optimal",
            "bound_ms": None, "tau": None, "min_accuracy": None}
    rows = [dict(base, method="front_corner", min_accuracy=a, expected_accuracy_pct=a,
                 realized_accuracy_pct=a + 1, objective_ms=t)
            for a, t in ((52.0, 180.0), (52.5, 190.0), (53.0, 210.0))]
    for tau in (0.0, 0.25, 0.5, 0.75, 1.0):
        plan = (52.0, 180.0) if tau < 0.6 else (52.2, 186.0)
        rows.append(dict(base, method="goa", tau=tau, expected_accuracy_pct=plan[0],
                         realized_accuracy_pct=plan[0] + 1, objective_ms=plan[1]))
    rows.append(dict(base, method="edge_all", expected_accuracy_pct=52.0,
                     realized_accuracy_pct=53.0, objective_ms=180.0))
    rows.append(dict(base, method="local_all", expected_accuracy_pct=41.0,
                     realized_accuracy_pct=40.0, objective_ms=520.0))
    return rows


def test_pareto_picture_shows_goas_tau_sweep(tmp_path, monkeypatch, saved_figures):
    """pareto.png: GOA's tau sweep is drawn above what it coincides with (edge-all), hollow,
    inside axes that span the front and the heuristics (local-all, far off, is named in the
    title instead of squeezing them), each distinct plan labelled with its taus; every panel
    has its y label with a unit and the legend lies below the panels."""
    import matplotlib.pyplot as plt

    from benchmarks.pareto_report import plot

    calibration = [{"sample": s, "model": m, "mean_predicted": 0.5, "observed": 0.5,
                    "count": 1} for s in ("fresh_20000", "instances") for m in ("slm", "llm")]
    ece = {(c["sample"], c["model"]): 0.0 for c in calibration}
    figures = []
    monkeypatch.setattr(plt, "close", lambda fig=None: figures.append(fig))
    plot(_pareto_rows(), calibration, ece, tmp_path)
    name, panels, legends = saved_figures[0]
    assert name == "pareto.png"
    _check_panels(name, panels, legends)
    fig = figures[0]
    for ax in fig.axes:
        lines = {line.get_label(): line for line in ax.get_lines()}
        goa = lines.pop("GOA, tau-sweep")
        assert goa.get_zorder() > max(line.get_zorder() for line in lines.values())
        assert goa.get_markerfacecolor() == "none"
        x_lo, x_hi = ax.get_xlim()
        assert all(x_lo <= x <= x_hi for x in goa.get_xdata())
        assert x_lo > 45  # local-all's 41 % / 40 % does not stretch the axes
        assert "off the axes: local-all" in ax.get_title()
        labels = sorted(t.get_text() for t in ax.texts)
        assert labels == ["tau 0-0.5", "tau 0.75-1"]


def test_a_failed_picture_leaves_no_file(tmp_path, monkeypatch):
    """A picture whose writing fails (here the final rename) leaves neither the picture nor a
    temporary file in the folder."""
    import os

    inst = instances.generate(6, 2, seed=0)

    def failing_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError):
        plot_module.plot_plan(inst, np.full(6, 0), tmp_path / "p.png", tau=1.0)
    assert list(tmp_path.iterdir()) == []
