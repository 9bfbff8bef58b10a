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
