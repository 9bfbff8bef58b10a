"""The one place an exact backend's answer becomes a :class:`~instances.Result`, with its checks.

Every exact entry point (:func:`formulations.solve` for (P) and (P_A), and
:func:`formulations.front.front_at`) hands its backend's :class:`~formulations.outcome.Outcome`
to :func:`checked_result`, so that the checks and the reported figures are the same everywhere.
"""

from __future__ import annotations

import numpy as np

from instances import Instance, evaluate
from instances.calibration import ACCURACY_TOL_PCT
from instances.result import Result, Status

from .outcome import Outcome

#: Relative tolerance for the solver's own objective against the evaluator's.
OBJECTIVE_RTOL = 1e-6
#: How far (relative) a backend's bound may exceed the objective before it is an error rather
#: than rounding: the MILP solvers' bounds carry their feasibility tolerances (1e-9 relative on
#: objectives of order 1e3 ms); every other backend builds its bound below its incumbent.
BOUND_RTOL = {"highs": 1e-9, "cbc": 1e-9, "scip": 1e-9, "cpsat": 1e-9}
BOUND_RTOL_DEFAULT = 1e-12


def checked_result(instance: Instance, tau: float, backend: str, outcome: Outcome, assignment,
                   runtime_s: float, params: dict, min_accuracy: float | None = None,
                   objective_rtol: float = OBJECTIVE_RTOL) -> Result:
    """The Result of an exact solve, after the checks.

    Checks: the plan keeps the guard (and, with ``min_accuracy``, reaches that expected
    accuracy to ``ACCURACY_TOL_PCT``); the solver's own objective equals the evaluator's (to
    ``objective_rtol``, or to CP-SAT's flooring, ``info["resolution_s"]``); the bound is not
    above the objective by more than the backend's ``BOUND_RTOL``; the solver did not declare
    its model infeasible ((P) always has a solution, and so has (P_A) for a reachable target,
    the warm start). Any failed check makes the status ``ERROR`` with ``info["error"]`` saying
    why, and the bound ``None`` (a failed solver's bound is not trusted). A bound is never
    lowered to the objective: within the tolerance it is reported as the backend gave it.
    """
    info = dict(outcome.info)
    if min_accuracy is not None:
        info["min_accuracy"] = min_accuracy
    status = outcome.status
    evaluation = evaluate(instance, np.asarray(assignment, dtype=np.int64), tau)
    objective = evaluation.total_delay_ms
    info["solver_objective_ms"] = outcome.objective_ms
    problems = []
    if not evaluation.feasible:
        problems.append(f"the assignment violates the accuracy guard (users "
                        f"{evaluation.violators.tolist()} left local)")
    if min_accuracy is not None \
            and evaluation.expected_accuracy_pct < min_accuracy - ACCURACY_TOL_PCT:
        problems.append(f"the plan's expected accuracy {evaluation.expected_accuracy_pct!r} % "
                        f"is below {min_accuracy!r} %")
    if outcome.objective_ms is not None and outcome.assignment is not None:
        gap = abs(outcome.objective_ms - objective) / max(abs(objective), 1e-300)
        # CP-SAT's objective is on floored costs: each of at most 2N + 1 terms lost less than
        # one resolution unit
        floor_ms = (2 * instance.n_users + 1) * info.get("resolution_s", 0.0) * 1e3
        if gap > objective_rtol and abs(outcome.objective_ms - objective) > floor_ms:
            problems.append(f"the solver's objective {outcome.objective_ms!r} ms disagrees with "
                            f"the evaluator's {objective!r} ms (relative {gap:.3g} > "
                            f"{objective_rtol:g})")
    bound = outcome.bound_ms
    slack = BOUND_RTOL.get(backend, BOUND_RTOL_DEFAULT)
    if bound is not None and bound > objective * (1.0 + slack):
        problems.append(f"the bound {bound!r} ms exceeds the objective {objective!r} ms by more "
                        f"than the backend's tolerance ({slack:g} relative): a feasible plan "
                        f"below a lower bound proves a bug")
    if status == Status.MODEL_INFEASIBLE:
        problems.append("the solver declared the model infeasible")
    if problems and status != Status.ERROR:
        status = Status.ERROR
        info["error"] = f"{backend}: " + "; ".join(problems)
    if status == Status.ERROR:
        bound = None
    return Result(method="exact", assignment=evaluation.assignment, evaluation=evaluation,
                  runtime_s=runtime_s, tau=tau, params=params, status=status, bound_ms=bound,
                  backend=backend, info=info)
