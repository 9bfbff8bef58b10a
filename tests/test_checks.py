"""Wrong answers are reported, never hidden: a plan below its own bound is an error, a gap is
never clipped, a front is only read for the instance and tau it was built for, a branch that
cannot happen raises, and a crash inside a solver or a warm start reaches the caller."""

import numpy as np
import numpy.testing as npt
import pytest

import formulations
import goa  # noqa: F401 (registers goa's warm starts)
import instances
from formulations.outcome import Outcome
from instances import Status


@pytest.fixture(scope="module")
def small_none():
    """6 users, 2 servers, interference "none", a scarce per-user cap: (P_A) has a real
    front, and HiGHS solves it in milliseconds."""
    return instances.generate(6, 2, seed=3, interference="none", server_cap_flops=3e14)


def test_gap_is_not_clipped():
    """A bound above the objective (within a backend's rounding) shows as a negative gap, not
    as 0."""
    inst = instances.generate(4, 2, seed=0)
    ev = instances.evaluate(inst, np.zeros(4, dtype=np.int64), 1.0)
    result = instances.Result(method="exact", assignment=ev.assignment, evaluation=ev,
                              runtime_s=0.0, tau=1.0, bound_ms=ev.total_delay_ms * (1 + 1e-10))
    assert result.gap_pct < 0.0
    npt.assert_allclose(result.gap_pct, -1e-8, rtol=1e-3)


def test_bound_is_reported_as_given_within_tolerance(monkeypatch, small_none):
    """A backend's bound a hair (1e-13 relative) above its plan's delay is kept as the backend
    gave it, not lowered to the objective."""
    from formulations import accuracy

    def fake(instance, tau, target, clock, warm):
        value = instances.evaluate(instance, warm).total_delay_ms
        return Outcome(warm, Status.OPTIMAL, objective_ms=value, bound_ms=value * (1 + 1e-13))

    monkeypatch.setattr(accuracy, "solve_subsets", fake)
    result = formulations.solve(small_none, tau=None, min_accuracy=50.0, backend="subsets")
    assert result.status == Status.OPTIMAL
    assert result.bound_ms > result.objective_ms


def test_plan_below_its_bound_is_an_error(monkeypatch, small_none):
    """(P_A): a bound 1e-8 above the plan's delay (beyond HiGHS's 1e-9 tolerance) makes the
    result an ERROR with no bound, saying why."""
    from formulations import milp

    real = milp.solve_highs

    def inflated(*args, **kwargs):
        outcome = real(*args, **kwargs)
        outcome.bound_ms = outcome.objective_ms * (1 + 1e-8)
        return outcome

    monkeypatch.setattr(milp, "solve_highs", inflated)
    result = formulations.solve(small_none, tau=None, min_accuracy=55.0, backend="highs")
    assert result.status == Status.ERROR
    assert result.bound_ms is None
    assert "exceeds the objective" in result.info["error"]


def test_solver_crash_is_raised(monkeypatch, small_none):
    """An exception inside a MILP solver's library reaches the caller (no catch-all turns it
    into a status)."""
    from formulations import milp

    def crash(*args, **kwargs):
        raise ZeroDivisionError("inside the solver")

    monkeypatch.setattr(milp, "solve_highs", crash)
    with pytest.raises(ZeroDivisionError):
        formulations.solve(small_none, tau=0.8, backend="highs")
    with pytest.raises(ZeroDivisionError):
        formulations.solve(small_none, tau=None, min_accuracy=55.0, backend="highs")


def test_warm_start_import_error_is_raised(monkeypatch, small_none):
    """A broken heuristic behind the (P_A) warm start (here an ImportError inside it) is
    raised, not replaced by a quiet fallback plan."""
    import goa.accuracy

    def broken(*args, **kwargs):
        raise ImportError("a broken module inside the heuristic")

    monkeypatch.setattr(goa.accuracy, "acc_greedy", broken)
    with pytest.raises(ImportError, match="broken module"):
        formulations.solve(small_none, tau=None, min_accuracy=55.0)


def test_without_registered_start_the_fallback_is_named(monkeypatch, small_none):
    """With no (P_A) start registered, the exact (P_A) still solves from its own plan (users on
    their more accurate side) and says so in ``params``; "auto" for (P) is a ValueError that
    says how to register one."""
    from instances import starts

    monkeypatch.setattr(starts, "_STARTS", {})
    monkeypatch.setattr(starts, "_entry_points", lambda group: [])  # and no provider installed
    result = formulations.solve(small_none, tau=None, min_accuracy=55.0)
    assert result.status == Status.OPTIMAL
    assert result.params["warm_start"] == "better_side"
    with pytest.raises(ValueError, match="warm_start.*import goa"):
        formulations.solve(small_none, tau=0.8, warm_start="auto")


def test_plan_outside_its_own_model_raises(monkeypatch, small_none):
    """The (P_A) model's load limits keep every plan as good as the warm start; a warm start
    outside them is a bug and raises (it used to be dropped silently)."""
    from formulations.model import CountModel

    monkeypatch.setattr(CountModel, "fits", lambda self, a: False)
    with pytest.raises(RuntimeError, match="does not fit"):
        formulations.solve(small_none, tau=None, min_accuracy=55.0, backend="highs")


def test_front_at_refuses_another_instance_or_tau(small_none):
    """A supported front records its instance's fingerprint and its tau: front_at refuses a
    front built for another instance (even one whose plans are feasible there) or another
    tau, and reads it for its own."""
    from formulations.front import front_at, supported_front

    front = supported_front(small_none, tau=None)
    assert front.fingerprint == small_none.fingerprint and front.tau is None
    level = float(front.accuracy_pct[-1])
    assert front_at(small_none, front, level).status == Status.OPTIMAL
    other = small_none.replace(server_cap_flops=small_none.server_cap_flops * 1.01)
    with pytest.raises(ValueError, match="another instance"):
        front_at(other, front, level)
    with pytest.raises(ValueError, match="tau"):
        front_at(small_none, front, level, tau=1.0)
    # the front travels as plain data with both
    again = type(front).from_dict(front.to_dict())
    assert again.fingerprint == front.fingerprint and again.tau is None


def test_certified_refuses_a_plan_below_the_bound(monkeypatch):
    """benchmarks.certified: a feasible heuristic plan below the exact lower bound stops the
    task with an error naming the method (its gap used to be clipped to 0)."""
    from benchmarks import certified

    real = formulations.solve

    def high_bound(inst, **kwargs):
        result = real(inst, **kwargs)
        return instances.Result(**{**result.__dict__, "bound_ms": result.objective_ms * 2})

    monkeypatch.setattr(formulations, "solve", high_bound)
    with pytest.raises(RuntimeError, match="below the exact lower bound"):
        certified.solve_task((8, 2, 0, 0.8, 5.0, 100, 1000, 0, certified.HEURISTICS))
