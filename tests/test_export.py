"""``python -m formulations export``: the count-indexed MILP as MPS / LP files that another
solver, reading only the file, solves to the optimum of ``formulations.solve``."""

from __future__ import annotations

import numpy as np
import pytest

import formulations
import instances
from formulations.__main__ import main
from formulations.export import export_model, solve_file

# (N, M, seed, tau, overrides): small "none" drops, a congested one (M = 2, a quarter of the
# compute, where the optimum keeps users local) and tau = 1 (every user free)
CASES = [(8, 2, 0, 0.8, {}), (12, 3, 1, 0.6, {}), (12, 2, 2, 1.0,
                                                  {"server_flops": 10 * 1513e12 / 4}),
         (10, 4, 3, 0.8, {})]


@pytest.mark.parametrize("file_format", ["mps", "lp"])
@pytest.mark.parametrize("n, m, seed, tau, overrides", CASES)
def test_exported_file_solves_to_the_optimum(tmp_path, file_format, n, m, seed, tau, overrides):
    """HiGHS reading the exported file finds the optimum that enumeration proves (objective with its
    constant, in ms) and a plan the evaluator scores the same."""
    inst = instances.generate(n, m, seed=seed, interference="none", **overrides)
    path = tmp_path / f"model.{file_format}"
    export_model(inst, tau, path)
    objective_ms, plan = solve_file(path, n)
    exact = formulations.solve(inst, tau, backend="enumerate")
    assert exact.status == instances.Status.OPTIMAL
    np.testing.assert_allclose(objective_ms, exact.objective_ms, rtol=1e-9)
    evaluation = instances.evaluate(inst, plan, tau=tau)
    assert evaluation.feasible
    np.testing.assert_allclose(evaluation.total_delay_ms, exact.objective_ms, rtol=1e-9)


def test_columns_are_named_after_what_they_stand_for(tmp_path):
    """The file names columns x_i_j, y_j_n, z_i_j_n and rows once_i, tight_j_n, so that a
    reader of another solver's solution can decode it."""
    inst = instances.generate(6, 2, seed=0, interference="none")
    path = tmp_path / "model.lp"
    export_model(inst, 0.8, path)
    text = path.read_text()
    for name in ("x_0_", "y_1_", "z_5_", "once_0", "tight_0_1"):
        assert name in text


def test_full_instance_is_refused_in_one_line(tmp_path, capsys):
    """A "full" instance has no linear model: exit 2, one line naming the instance, no file."""
    source = tmp_path / "full.json"
    instances.save(instances.generate(6, 2, seed=0, interference="full"), source)
    out = tmp_path / "model.mps"
    assert main(["export", str(source), "--tau", "0.8", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "interference 'full'" in err
    assert not out.exists()
    with pytest.raises(ValueError, match="interference"):
        export_model(instances.load(source), 0.8, out)


@pytest.mark.parametrize("args, field", [
    (["--tau", "1.5", "--out", "m.mps"], "tau"),
    (["--tau", "0.8", "--out", "m.txt"], "--format"),
    (["--tau", "0.8", "--out", "missing/m.mps"], "missing/m.mps"),
])
def test_bad_arguments_get_one_line(tmp_path, capsys, monkeypatch, args, field):
    """A bad tau, an unknown format or an unwritable --out: exit 2, one line naming it, and
    nothing written."""
    monkeypatch.chdir(tmp_path)
    instances.save(instances.generate(6, 2, seed=0, interference="none"), "none.json")
    assert main(["export", "none.json", *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and field in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["none.json"]


def test_cli_writes_the_file(tmp_path, capsys):
    """The CLI writes the file in the format asked for, whatever its extension."""
    source = tmp_path / "none.json"
    inst = instances.generate(8, 2, seed=4, interference="none")
    instances.save(inst, source)
    out = tmp_path / "model.txt"
    assert main(["export", str(source), "--tau", "0.7", "--format", "mps", "--out",
                 str(out)]) == 0
    assert out.read_text().startswith("NAME")
    exact = formulations.solve(inst, 0.7, backend="enumerate")
    mps = tmp_path / "same.mps"
    out.rename(mps)
    np.testing.assert_allclose(solve_file(mps, 8)[0], exact.objective_ms, rtol=1e-9)
