"""The accuracy-delay front of (P_A): the exact staircase by the subset search (either
interference model, small N), the supported points and their cuts under interference "none"
(any N), and F(A) at one level from a supported front (docs/expected_accuracy.md).

Every front records the instance it was built for (:meth:`instances.Instance.fingerprint`) and
its tau; :func:`front_at` refuses a front of another instance or tau.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from instances import Instance, check_tau, evaluate
from instances.calibration import ACCURACY_TOL_PCT, check_min_accuracy
from instances.result import Result, Status

from .accuracy import HIGHS_OPTIONS, accuracy_backend, accuracy_model, check_fits, feasible_plan
from .data import cap_loads, interference_free_delays, user_loads
from .outcome import Clock, Outcome
from .result import checked_result
from .solve import solve
from .subsets import MAX_SUBSET_USERS, offload_sets, search_sets


def staircase_delay(accuracy_pct: np.ndarray, objective_ms: np.ndarray, levels) -> np.ndarray:
    """On a staircase of plans sorted by accuracy and delay: the least delay of a plan whose
    expected accuracy reaches each level (to ``ACCURACY_TOL_PCT``), NaN where none does."""
    a = np.atleast_1d(np.asarray(levels, dtype=np.float64))
    index = np.searchsorted(accuracy_pct, a - ACCURACY_TOL_PCT, side="left")
    out = np.full(a.shape, np.nan)
    ok = index < accuracy_pct.size
    out[ok] = objective_ms[index[ok]]
    return out


@dataclass(frozen=True, eq=False)
class Front:
    """The exact accuracy-delay front of one instance: its corners, in increasing accuracy.

    ``accuracy_pct[k]`` and ``objective_ms[k]``: the k-th corner, the least total delay of any
    plan with expected accuracy >= ``accuracy_pct[k]`` (strictly increasing in both arrays);
    ``assignments[k]`` a plan attaining it. ``complete``: whether the search finished (else the
    corners are plans found, not proven). ``runtime_s``: the whole search. ``fingerprint`` and
    ``tau``: the instance (:attr:`instances.Instance.fingerprint`) and guard (None: no guard)
    it was built for.
    """

    accuracy_pct: np.ndarray
    objective_ms: np.ndarray
    assignments: np.ndarray
    complete: bool
    runtime_s: float
    fingerprint: str
    tau: float | None

    def delay_at(self, accuracy_pct) -> np.ndarray:
        """F(A): the least total delay (ms) of a plan with expected accuracy >= A (NaN beyond
        the last corner, where no plan reaches A)."""
        return staircase_delay(self.accuracy_pct, self.objective_ms, accuracy_pct)


def exact_front(instance: Instance, tau: float | None = None, time_limit: float = math.inf
                ) -> Front:
    """The whole exact front by one subset search (N <= :data:`MAX_SUBSET_USERS`, either
    interference model): the sets in decreasing order of accuracy, the cutoff the least T of
    all sets seen so far; a set that beats it is a corner.

    Raises
    ------
    ValueError
        If N > :data:`MAX_SUBSET_USERS`, tau is bad, or the instance has no probabilities.
    """
    tau = None if tau is None else check_tau(tau)
    guard = 1.0 if tau is None else tau
    instance.correct_probabilities()
    clock = Clock(time_limit)
    sets = offload_sets(instance, guard)
    order = np.lexsort((sets.masks, -sets.accuracy_pct))
    improved, values, assignments, done = search_sets(instance, sets, order, np.inf, clock)
    corners = np.flatnonzero(improved)[::-1]  # increasing accuracy, increasing delay
    plans = assignments[corners]
    # the corners' figures from the one evaluator
    evaluations = [evaluate(instance, a) for a in plans]
    accuracy = np.array([e.expected_accuracy_pct for e in evaluations])
    objective = np.array([e.total_delay_ms for e in evaluations])
    # sets of equal accuracy (users with equal p) give corners a rounding error apart: the one
    # with the least T (the first, in increasing accuracy) dominates the others
    keep = np.ones(accuracy.size, dtype=bool)
    for k in range(1, accuracy.size):
        last = np.flatnonzero(keep[:k])[-1]
        keep[k] = accuracy[k] > accuracy[last] + ACCURACY_TOL_PCT
    accuracy, objective, plans = accuracy[keep], objective[keep], plans[keep]
    return Front(accuracy_pct=accuracy, objective_ms=objective, assignments=plans,
                 complete=done == order.size, runtime_s=clock.elapsed(),
                 fingerprint=instance.fingerprint, tau=tau)


# --- the supported front (interference "none") ---------------------------------------------------

@dataclass(frozen=True, eq=False)
class SupportedFront:
    """The supported points of the accuracy-delay front under interference "none", and the
    lower bound their weighted solves prove (:func:`supported_front`).

    ``accuracy_pct[k]``, ``objective_ms[k]``, ``assignments[k]``: the k-th supported point, in
    increasing accuracy and delay; where ``proven[k]``, F(accuracy_pct[k]) = objective_ms[k]
    exactly. ``slope_ms_per_pct``, ``intercept_ms``: one cut per weighted solve, each a proven
    bound ``F(A) >= intercept + slope A`` for every A (their maximum is the lower convex hull of
    the front when ``complete``). ``complete``: every weighted solve proven optimal and the
    dichotomic search finished (else the points are plans found, the cuts still valid).
    ``solves``: weighted solves run. ``runtime_s``: the whole search. ``fingerprint`` and
    ``tau``: the instance (:attr:`instances.Instance.fingerprint`) and guard (None: no guard)
    it was built for; :func:`front_at` refuses any other.
    """

    accuracy_pct: np.ndarray
    objective_ms: np.ndarray
    assignments: np.ndarray
    proven: np.ndarray
    slope_ms_per_pct: np.ndarray
    intercept_ms: np.ndarray
    complete: bool
    solves: int
    runtime_s: float
    fingerprint: str
    tau: float | None

    _DTYPES = {"accuracy_pct": np.float64, "objective_ms": np.float64,
               "assignments": np.int64, "proven": bool, "slope_ms_per_pct": np.float64,
               "intercept_ms": np.float64}

    def to_dict(self) -> dict:
        """The front as plain data (lists and numbers), e.g. a task for another process or
        machine; :meth:`from_dict` restores it bit for bit (floats go through their repr)."""
        out = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            out[field.name] = value.tolist() if isinstance(value, np.ndarray) else value
        return out

    @classmethod
    def from_dict(cls, data: dict) -> "SupportedFront":
        """The front that :meth:`to_dict` wrote."""
        values = dict(data)
        for name, dtype in cls._DTYPES.items():
            values[name] = np.asarray(values[name], dtype=dtype)
        return cls(**values)

    def delay_at(self, accuracy_pct) -> np.ndarray:
        """An upper bound on F(A) (ms): the least delay of a supported point reaching A (NaN
        beyond the last point, the best reachable accuracy). Exact at the points, and at every
        A up to the first point's accuracy (F is non-decreasing and flat there at T*)."""
        return staircase_delay(self.accuracy_pct, self.objective_ms, accuracy_pct)

    def bound_at(self, accuracy_pct) -> np.ndarray:
        """A proven lower bound on F(A) (ms): the largest cut at A (at A less the accuracy
        tolerance, so that it holds for every plan the constraint accepts)."""
        a = np.atleast_1d(np.asarray(accuracy_pct, dtype=np.float64)) - ACCURACY_TOL_PCT
        cuts = self.intercept_ms[:, None] + self.slope_ms_per_pct[:, None] * a[None, :]
        return cuts.max(axis=0)


def supported_front(instance: Instance, tau: float | None = None,
                    time_limit: float = math.inf) -> SupportedFront:
    """The supported points of the accuracy-delay front under interference "none", each by an
    exact solve of (P) with modified local delays (docs/expected_accuracy.md).

    For a weight mu >= 0 (seconds per unit of ``S(a) = sum_i p_i(a)``, N A / 100), a plan
    minimising ``T(a) - mu S(a)`` is an exact point of the front: any plan with S >= S(a*) has
    ``T >= T(a*) + mu (S - S(a*)) >= T(a*)``. Up to the constant ``mu sum_i p_llm_i`` this is
    (P) with each free user's local delay ``t^L_i + mu (p_llm_i - p_slm_i)`` and the edge delays
    unchanged, solved by the load-vector method of :mod:`formulations.loadvec` (its reductions
    hold for any local cost, by the same improving move). The ends are the (P) optimum (mu = 0)
    and the least delay at the best reachable accuracy (users with p_llm > p_slm forced to the
    edge, those with p_llm < p_slm home); between two known points L, R the weight of the line
    through them, ``mu = (T_R - T_L) / (S_R - S_L)``, finds a point strictly below that line
    if one exists (then both halves are searched), else L-R is an edge of the hull (Aneja and
    Nair's dichotomic search). Every solve's proven bound B is a cut
    ``T(a) >= B - mu sum_i p_llm_i + mu S(a)`` valid for every plan.

    Parameters
    ----------
    instance
        An instance with interference "none" and calibrated probabilities.
    tau
        The guard (alpha_i > tau offloaded), or None for no guard.
    time_limit
        Wall-clock seconds for the whole search (> 0): each solve gets what is left; when it
        runs out, the points found so far are returned with ``complete=False``.

    Raises
    ------
    ValueError
        If the interference model is not "none", tau is bad, or the instance has no
        probabilities.
    """
    if instance.interference != "none":
        raise ValueError(f"instance: supported_front needs interference 'none', this instance "
                         f"has {instance.interference!r}: use exact_front (N <= "
                         f"{MAX_SUBSET_USERS})")
    tau = None if tau is None else check_tau(tau)
    guard = 1.0 if tau is None else tau
    p_slm, p_llm = instance.correct_probabilities()
    gain = p_llm - p_slm
    clock = Clock(time_limit)
    base = interference_free_delays(instance, guard)
    table = base.table(instance.n_users)
    scale = 100.0 / instance.n_users  # S -> percent
    points, cuts = {}, []  # S -> (T s, plan, proven); cuts (mu, B) in s and s per unit S

    def add_point(plan, proven):
        ev = evaluate(instance, plan)
        s = ev.expected_accuracy_pct / scale
        points[s] = (ev.total_delay_ms / 1e3, plan, proven)
        return s

    # the left end: (P), mu = 0
    optimum = solve(instance, tau=guard, time_limit=max(clock.remaining(), 1e-3))
    if optimum.status == Status.ERROR:
        raise RuntimeError(f"supported_front: the (P) solve failed: {optimum.info['error']}")
    cuts.append((0.0, optimum.bound_ms / 1e3))
    left = add_point(optimum.assignment, optimum.status == Status.OPTIMAL)
    complete = optimum.status == Status.OPTIMAL
    solves = 1
    # the right end: the best reachable accuracy (users on their better side, the guard kept)
    home = ~base.forced & (gain < 0.0)
    forced = base.forced | (gain > 0.0)
    plan, value, bound, proven = _weighted_solve(base, table, base.local_s, forced, home, clock,
                                                 [optimum.assignment])
    solves += 1
    complete &= proven
    right = add_point(plan, proven)
    stack = [(left, right)]
    while stack:
        lo, hi = stack.pop()
        (t_lo, plan_lo, _), (t_hi, plan_hi, _) = points[lo], points[hi]
        if hi - lo <= 1e-12 * hi or t_hi <= t_lo:
            continue  # no room between them, or hi dominates lo: the front is flat up to hi
        if clock.remaining() <= 0.0:
            complete = False
            break
        mu = (t_hi - t_lo) / (hi - lo)
        plan, value, bound, proven = _weighted_solve(
            base, table, base.local_s + mu * gain, base.forced, np.zeros_like(home), clock,
            [plan_lo, plan_hi])
        solves += 1
        complete &= proven
        constant = mu * p_llm.sum()
        cuts.append((mu, bound - constant))
        line = t_lo - mu * lo + constant  # the weighted value of both lo and hi
        ev = evaluate(instance, plan)
        s = ev.expected_accuracy_pct / scale
        if value < line - 1e-9 * line and lo < s < hi:
            add_point(plan, proven)
            stack += [(s, hi), (lo, s)]  # the lower half first (popped first)
    order = sorted(points)
    return SupportedFront(
        accuracy_pct=np.array(order) * scale,
        objective_ms=np.array([points[s][0] for s in order]) * 1e3,
        assignments=np.array([points[s][1] for s in order], dtype=np.int64),
        proven=np.array([points[s][2] for s in order], dtype=bool),
        slope_ms_per_pct=np.array([mu for mu, _ in cuts]) * 1e3 / scale,
        intercept_ms=np.array([b for _, b in cuts]) * 1e3,
        complete=bool(complete), solves=solves, runtime_s=clock.elapsed(),
        fingerprint=instance.fingerprint, tau=tau)


def front_at(instance: Instance, front: SupportedFront, min_accuracy, tau: float | None = None,
             time_limit: float = 60.0, max_nodes: int | None = None) -> Result:
    """F(A) exactly, from a :func:`supported_front` of the same instance and tau: (P_A) by
    HiGHS as :func:`formulations.solve` does, warm-started from the supported point reaching A
    (a good incumbent: its delay caps the loads the model considers), the best cut at A a
    proven bound besides HiGHS's own. No solve at all when that point's delay meets the best
    cut at A (to the MIP gap): it is then the optimum.

    ``max_nodes``: HiGHS's node limit, a work budget that stops the solve at the same place
    on every machine (status WORK_LIMIT); ``time_limit`` then serves as a safety cap.

    Returns a Result as :func:`formulations.solve` with ``min_accuracy`` (backend "highs"),
    ``info["solved"]`` False when no solve was needed.

    Raises
    ------
    ValueError
        If ``min_accuracy`` is bad or unreachable, the interference is not "none", or
        ``front`` was built for another instance (its fingerprint differs) or another tau.
    RuntimeError
        If the front's point reaching ``min_accuracy`` misses it (a front that contradicts
        its own instance: a bug).
    """
    from . import milp

    tau = None if tau is None else check_tau(tau)
    if front.fingerprint != instance.fingerprint:
        raise ValueError("front: built for another instance (its fingerprint differs from this "
                         "instance's); build it with supported_front(instance, tau)")
    if front.tau != tau:
        raise ValueError(f"front: built for tau = {front.tau!r}, asked for tau = {tau!r}")
    target = check_min_accuracy(instance, min_accuracy, tau)
    accuracy_backend(instance, "highs")
    guard = 1.0 if tau is None else tau
    clock = Clock(time_limit)
    k = int(np.searchsorted(front.accuracy_pct, target - ACCURACY_TOL_PCT, side="left"))
    k = min(k, front.accuracy_pct.size - 1)
    warm = front.assignments[k]
    if not feasible_plan(instance, tau, target, warm):
        raise RuntimeError("front: its point reaching min_accuracy is not a feasible plan of "
                           "its own instance and tau")
    upper_ms = evaluate(instance, warm).total_delay_ms
    cuts = front.intercept_ms + front.slope_ms_per_pct * (target - ACCURACY_TOL_PCT)
    bound_ms = float(cuts.max())
    if upper_ms <= bound_ms * (1.0 + milp.DEFAULT_MIP_GAP):
        outcome = Outcome(warm, Status.OPTIMAL, objective_ms=upper_ms, bound_ms=bound_ms,
                          info={"solved": False})
    else:
        # the cuts as rows of the model were measured no faster (N = 50, seed 0, 4 levels:
        # 103 s with them, 97 s without): they only serve as the bound
        model, limits = accuracy_model(instance, guard, target, upper_ms / 1e3)
        check_fits(model, warm)
        outcome = milp.solve_highs(model, max(clock.remaining(), 1e-3), warm,
                                   max_nodes=max_nodes, highs_options=HIGHS_OPTIONS)
        if outcome.bound_ms is not None:
            outcome.bound_ms = max(outcome.bound_ms, bound_ms)
        outcome.info.update(solved=True, load_limits=limits.tolist())
    assignment = outcome.assignment if outcome.assignment is not None else warm
    params = {"backend": "highs", "time_limit": time_limit, "warm_start": "supported front",
              "min_accuracy": target, "tau": tau}
    if max_nodes is not None:
        params["max_nodes"] = int(max_nodes)
    return checked_result(instance, guard, "highs", outcome, assignment, clock.elapsed(), params,
                          min_accuracy=target)


def _weighted_data(base, table, local_s, forced, home):
    """The "none" data of (P) with these local costs and this forced set, users in ``home``
    (or never worth offloading) left out. Returns (data, kept users).

    The reductions of :func:`formulations.data.interference_free_delays`, recomputed for the new
    local costs:
    a free user sits on ES j at load n only if f_ij(n) <= its local cost (else sending it home
    improves the plan whatever that cost is), and ES j holds at most the largest n for which n
    users may sit there. A free user that may sit nowhere is home in every optimum: it is left
    out, which also keeps every remaining local cost positive (it is at least min_j f_ij(1)).
    """
    nmax = user_loads(table, local_s, forced)
    keep = ~home & (forced | np.any(nmax > 0, axis=1))
    nmax, load_max = cap_loads(nmax[keep])
    law = {} if base.law_h is None else {"law_a": base.law_a[keep], "law_b": base.law_b[keep]}
    data = dataclasses.replace(base, local_s=local_s[keep], forced=forced[keep],
                               comm_s=base.comm_s[keep], work_flop=base.work_flop[keep],
                               nmax=nmax, load_max=load_max, **law)
    return data, np.flatnonzero(keep)


def _weighted_solve(base, table, local_s, forced, home, clock, starts):
    """min over plans (forced users on the edge, ``home`` users home) of sum of local_s over
    the local users plus the edge delays, by :func:`formulations.loadvec.solve_loadvec` on the
    reduced data. Returns (plan, its value s, a proven lower bound s, proven optimal)."""
    from .loadvec import solve_loadvec

    data, kept = _weighted_data(base, table, local_s, forced, home)
    plan = np.full(base.n_users, -1, dtype=np.int64)
    constant = float(local_s[~np.isin(np.arange(base.n_users), kept)].sum())
    if kept.size == 0:
        return plan, constant, constant, True
    best = None
    for start in starts:
        a = _place_forced(data, np.asarray(start, dtype=np.int64)[kept])
        a = data.repair(a)
        if best is None or data.cost(a) < data.cost(best):
            best = a
    outcome = solve_loadvec(data, clock, best)
    plan[kept] = outcome.assignment
    return (plan, outcome.objective_ms / 1e3 + constant, outcome.bound_ms / 1e3 + constant,
            outcome.status == Status.OPTIMAL)


def _place_forced(data, a):
    """Forced users that a start leaves home, each onto the ES where it is fastest at the load
    it would make (in user order)."""
    a = a.copy()
    loads = np.bincount(a[a >= 0], minlength=data.n_servers)
    servers = np.arange(data.n_servers)
    for i in np.flatnonzero(data.forced & (a < 0)):
        j = int(np.argmin(data.delay(i, servers, loads + 1)))
        a[i] = j
        loads[j] += 1
    return a

