"""The one result shape shared by the heuristics (``goa.solve``) and the exact solvers
(``formulations.solve``), so that a gap is computed one way everywhere.

It lives here, beside the data model and the evaluator, because it belongs to no algorithm:
``goa`` and ``formulations`` both import it, and neither depends on the other.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .evaluate import Evaluation


class Status(str, enum.Enum):
    """How a solve ended.

    ``OPTIMAL``: proven optimal (to the backend's stated tolerance). ``FEASIBLE``: a solution
    satisfying the accuracy guard, not proven optimal (every heuristic's normal outcome).
    ``TIME_LIMIT``: an exact method stopped at its time limit; the best solution found and a
    valid bound are returned. ``WORK_LIMIT``: an exact method used up its work budget (nodes,
    boxes, assignment problems, a solver's deterministic work units) or reached the target
    gap it was given ("loadbox"'s ``target_gap``), a stop that does not depend on the machine;
    the best solution found and a valid bound are returned.
    ``UNKNOWN``: an exact method stopped without a proof for another reason (an LP relaxation
    that ended non-optimal, a solver that gave no reason); the best solution found and a valid
    bound are returned. ``GUARD_VIOLATED``: the returned plan
    breaks the accuracy guard (users with alpha > tau left local, e.g. local-all) or, for
    (P_A), falls short of the accuracy it was asked for. ``MODEL_INFEASIBLE``: a solver
    declared its model infeasible (a backend's own answer; :func:`formulations.solve` turns it
    into ``ERROR``, since (P) always has a solution). ``ERROR``: the solver failed or its
    answer failed a check; ``info["error"]`` says why, and the returned assignment is a
    fallback.
    """

    OPTIMAL = "optimal"
    FEASIBLE = "feasible"
    TIME_LIMIT = "time_limit"
    WORK_LIMIT = "work_limit"
    UNKNOWN = "unknown"
    GUARD_VIOLATED = "guard_violated"
    MODEL_INFEASIBLE = "model_infeasible"
    ERROR = "error"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, eq=False)
class Result:
    """The outcome of one solve.

    Attributes
    ----------
    method
        ``"goa"``, ``"edge_all"``, ... for heuristics; ``"exact"`` for exact solvers.
    assignment
        Integer vector of length N: ``-1`` local, else the server index.
    evaluation
        ``instances.evaluate(instance, assignment, tau)``: every delay and accuracy reported.
    runtime_s
        Wall time of the algorithm alone (no evaluation, no model building unless stated).
    tau
        The accuracy-guard threshold the solve used.
    params
        The method's parameters (seed, options) as used.
    status
        See :class:`Status`.
    bound_ms
        A valid lower bound on the optimal total delay in ms (exact solvers), else ``None``.
    backend
        The exact backend used (``None`` for heuristics).
    info
        Extra solver facts (node counts, solver's own objective, ...).
    """

    method: str
    assignment: np.ndarray
    evaluation: Evaluation
    runtime_s: float
    tau: float
    params: dict[str, Any] = field(default_factory=dict)
    status: Status = Status.FEASIBLE
    bound_ms: float | None = None
    backend: str | None = None
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def objective_ms(self) -> float:
        """Total delay T(a) of the returned assignment, in ms (from the one evaluator)."""
        return self.evaluation.total_delay_ms

    @property
    def accuracy_pct(self) -> float:
        """Accuracy A(a) of the returned assignment, in percent."""
        return self.evaluation.accuracy_pct

    @property
    def n_offloaded(self) -> int:
        """Users offloaded to some server."""
        return self.evaluation.n_offloaded

    def is_feasible(self) -> bool:
        """Whether the assignment satisfies the accuracy guard for ``tau``."""
        return bool(self.evaluation.feasible)

    @property
    def gap_pct(self) -> float | None:
        """Certified gap ``(objective - bound) / bound x 100`` (docs/model.md section 8.3: an upper
        bound on how far the objective is above the optimum), or ``None`` without a bound.
        Never clipped: a bound above the objective within the backend's rounding tolerance
        shows as a tiny negative gap (beyond it, ``formulations.solve`` reports ``ERROR``)."""
        if self.bound_ms is None:
            return None
        if self.bound_ms <= 0:
            return 0.0 if self.objective_ms <= 0 else float("inf")
        return relative_gap_pct(self.objective_ms, self.bound_ms)

    def gap_to(self, reference_ms: float) -> float:
        """Gap of this result's objective above a reference (optimum or lower bound), in percent:
        ``(T - reference) / reference x 100``. Against a lower bound it is an upper bound on the
        true gap. The one place a gap to a reference is computed (the benchmarks use it)."""
        return relative_gap_pct(self.objective_ms, reference_ms)

    def summary(self) -> str:
        """A one-line human-readable summary."""
        parts = [f"{self.method}", f"status={self.status}", f"T={self.objective_ms:.3f} ms",
                 f"acc={self.accuracy_pct:.1f} %", f"offloaded={self.n_offloaded}",
                 f"time={self.runtime_s:.4f} s"]
        if self.bound_ms is not None:
            parts.insert(3, f"bound={self.bound_ms:.3f} ms (gap {self.gap_pct:.3f} %)")
        if self.backend:
            parts.insert(1, f"backend={self.backend}")
        return "  ".join(parts)


def relative_gap_pct(objective_ms: float, reference_ms: float) -> float:
    """``(objective - reference) / reference x 100``: the gap of a total delay above a reference
    (an optimum, or a lower bound, when it is an upper bound on the true gap)."""
    if not reference_ms > 0:
        raise ValueError(f"reference_ms: must be positive, got {reference_ms!r}")
    return (objective_ms - reference_ms) / reference_ms * 100.0
