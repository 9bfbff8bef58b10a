"""Work budgets of the exact backends (a stop that does not depend on the machine, status
WORK_LIMIT, with a valid bound), the solvers' own stop reasons, CBC's bound taken only from
what CBC prints, and the load-vector boxes' guards against silent pruning."""

import math

import numpy as np
import pytest

import formulations
import instances
from formulations import loadbox, milp
from formulations.data import interference_free_delays
from formulations.model import CountModel
from instances import Status

SLACK = 1e-9


@pytest.fixture(scope="module")
def congested():
    """A 30-user drop on two servers with a quarter of the compute (interference "none"), its
    count model and its optimum (load vectors)."""
    inst = instances.generate(30, 2, seed=2, interference="none", server_flops=10 * 1513e12 / 4)
    optimum = formulations.solve(inst, tau=1.0, backend="loadvec")
    assert optimum.status == Status.OPTIMAL
    return CountModel(interference_free_delays(inst, 1.0)), optimum.objective_ms


@pytest.mark.parametrize("backend, budget", [
    ("highs", {"max_nodes": 0}), ("cbc", {"max_nodes": 0}), ("scip", {"max_nodes": 0}),
    ("cpsat", {"max_deterministic_time": 1e-4})])
def test_milp_work_budget_is_a_work_limit(congested, backend, budget):
    """Each MILP solver stopped by its own work limit (no node past the root; CP-SAT after
    1e-4 deterministic seconds) says so (WORK_LIMIT, from the solver's own status), with a
    bound at most the optimum and a solution, if any, at least it; the same answer twice."""
    model, optimum = congested
    solver = {"highs": milp.solve_highs, "cbc": milp.solve_cbc, "scip": milp.solve_scip,
              "cpsat": milp.solve_cpsat}[backend]
    runs = [solver(model, 60.0, None, **budget) for _ in range(2)]
    for outcome in runs:
        assert outcome.status == Status.WORK_LIMIT, outcome.info
        if outcome.bound_ms is not None:
            assert outcome.bound_ms <= optimum * (1 + SLACK)
        if outcome.objective_ms is not None:
            assert outcome.objective_ms >= optimum * (1 - 1e-7)
    assert runs[0].objective_ms == runs[1].objective_ms
    assert runs[0].bound_ms == runs[1].bound_ms


def test_cbc_reports_no_bound_it_did_not_print(congested):
    """CBC prints no bound with a proven optimum: the result has none (the old code made one
    up as objective - gap |objective|); stopped at its node limit, the bound is the one CBC
    printed, rounded down by its printed precision, and at most the optimum."""
    model, optimum = congested
    proven = milp.solve_cbc(model, 60.0, None)
    assert proven.status == Status.OPTIMAL
    assert proven.bound_ms is None and proven.info["mip_gap"] == milp.DEFAULT_MIP_GAP
    assert proven.objective_ms == pytest.approx(optimum, rel=1e-7)
    stopped = milp.solve_cbc(model, 60.0, None, max_nodes=0)
    assert stopped.info["cbc_result"] == "Stopped on node limit"
    assert stopped.bound_ms is not None and stopped.bound_ms <= optimum * (1 + SLACK)


def test_cbc_bound_is_rounded_down_by_its_printed_precision():
    """The six significant digits CBC prints are rounded down by half a unit of the last one,
    so that a printed value rounded up never exceeds CBC's true bound."""
    assert milp._cbc_bound("Lower bound:                    -362.797\n") == \
        pytest.approx(-362.7975, abs=1e-12)
    assert milp._cbc_bound("Lower bound:   1.23457e+06\n") == pytest.approx(1234565.0)
    assert milp._cbc_bound("Result - Optimal solution found\n") is None


def test_cbc_bound_through_solve_is_never_invented(congested):
    """formulations.solve with CBC: a proven optimum carries no bound; a node budget gives
    WORK_LIMIT."""
    inst = instances.generate(30, 2, seed=2, interference="none", server_flops=10 * 1513e12 / 4)
    result = formulations.solve(inst, tau=1.0, backend="cbc")
    assert result.status == Status.OPTIMAL and result.bound_ms is None


def _search(inst, tau, **options):
    """The load-vector search run directly (no warm start)."""
    from formulations import search
    from formulations.outcome import Clock

    arrays = search.kernel_arrays(inst, tau)
    data = loadbox.BoxBoundConstants(arrays, interference_free_delays(inst, tau))
    clock = Clock(600.0)
    start = formulations.solve(inst, tau=tau, backend="bnb", max_nodes=1).assignment
    return data, lambda: loadbox.solve_loadbox(
        data, clock, start, lambda a: search.total_delay_s(arrays, a),
        lambda a: search.improve(arrays, a, clock), **options)


def test_loadbox_refuses_an_infinite_root_bound(monkeypatch):
    """A root box whose bound is not finite is a bug and raises (the old search took the
    infinite bound as reaching the incumbent and claimed OPTIMAL)."""
    inst = instances.generate(12, 2, seed=0, interference="full")
    _, run = _search(inst, 0.8, max_boxes=5)
    monkeypatch.setattr(loadbox, "box_bound", lambda *args, **kw: (math.inf, None))
    with pytest.raises(FloatingPointError, match="root box"):
        run()


def test_loadbox_nan_cost_raises(monkeypatch):
    """A NaN in a box's assignment problem raises instead of being pruned silently."""
    inst = instances.generate(12, 2, seed=0, interference="full")
    data, _ = _search(inst, 0.8)
    data.local_s = data.local_s.copy()
    data.local_s[0] = math.nan
    data.forced[0] = False
    data.home = np.where(data.forced, math.inf, data.local_s)
    with pytest.raises(FloatingPointError, match="NaN"):
        loadbox.box_bound(data, *data.root())


def test_loadbox_solves_one_assignment_problem_per_box(monkeypatch):
    """Every assignment problem the search solves bounds a box: as many solves as boxes (the
    old split solved the popped box's problem a second time, only to read its slopes)."""
    inst = instances.generate(25, 4, seed=1, interference="full")
    _, run = _search(inst, 0.8, max_boxes=300)
    calls = []
    original = loadbox.linear_sum_assignment
    monkeypatch.setattr(loadbox, "linear_sum_assignment",
                        lambda cost: calls.append(1) or original(cost))
    outcome = run()
    assert outcome.info["boxes"] > 50
    assert 0 < len(calls) <= outcome.info["boxes"]  # a box proved empty needs no solve


def test_loadbox_box_budget_is_deterministic_and_valid():
    """The box budget stops the search at the same place every time (WORK_LIMIT, the same
    plan, bound and open boxes), below the optimum a complete search proves."""
    inst = instances.generate(16, 4, seed=1, interference="full")
    proof = formulations.solve(inst, tau=0.8, backend="loadbox")
    assert proof.status == Status.OPTIMAL
    runs = [formulations.solve(inst, tau=0.8, backend="loadbox", max_boxes=30)
            for _ in range(2)]
    for result in runs:
        assert result.status == Status.WORK_LIMIT
        assert result.bound_ms <= proof.objective_ms * (1 + SLACK)
    np.testing.assert_array_equal(runs[0].assignment, runs[1].assignment)
    assert runs[0].bound_ms == runs[1].bound_ms
    assert runs[0].info["open_boxes"] == runs[1].info["open_boxes"]
