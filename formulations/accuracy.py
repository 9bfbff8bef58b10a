"""Exact (P_A): minimise T(a) subject to an expected accuracy of at least A_min (docs/model.md
section 8.2), and the accuracy-delay Pareto front.

(P_A): ``min T(a)`` s.t. ``sum_i (p_llm_correct_i if offloaded else p_slm_correct_i) >=
N A_min / 100`` and, when a tau is given, alpha_i > tau => offloaded.

Two exact backends:

- ``"highs"`` (interference "none"): the count-indexed MILP of (P)
  (:class:`formulations.model.CountModel`) plus one accuracy row
  ``sum_{i, j} (p_llm_i - p_slm_i) x[i, j] >= N A_min / 100 - sum_i p_slm_i``, solved by HiGHS
  (:func:`formulations.milp.solve_highs`). The reductions of :mod:`formulations.data` (a free user
  never sits where it is slower than at home) are NOT valid here: a user may be offloaded to gain
  accuracy although it is slower there. So the model is built on the unreduced constants (every
  load 0..N, every z[i, j, n]), and only one reduction that an accuracy row cannot break is
  applied: a load of ES j (or user i at a load on j) whose cost, with every other user at its
  cheapest, already exceeds a known feasible plan (the warm start) is left out (see
  :func:`_limits`).
- ``"subsets"`` (either model, N <= :data:`MAX_SUBSET_USERS`): the expected accuracy depends only
  on WHO is offloaded, so the search runs over the 2^N offload sets (those containing the guard's
  users), each placed optimally by a branch-and-bound (:mod:`formulations.accuracy_kernels`),
  pruned by a running cutoff. Processing the sets in decreasing order of accuracy, every set that
  beats all sets of higher accuracy is a corner of the exact front: one pass gives the whole
  staircase ``F(A) = min {T*(S) : A(S) >= A}`` for every A at once (:func:`exact_front`). It is
  exact for any N it finishes; it refuses N > 16 (2^16 sets, and M^|S| placements per set in the
  worst case: at N = 12, M = 4 a front takes seconds).

``"auto"``: "highs" under "none", "subsets" under "full".
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from instances import Instance, evaluate
from instances.calibration import ACCURACY_TOL_PCT, check_min_accuracy
from instances.result import Result, Status

from .outcome import Clock, Outcome

#: The backends of (P_A).
ACCURACY_BACKENDS = ("auto", "highs", "subsets")
#: The subset search refuses more users than this.
MAX_SUBSET_USERS = 16
#: Options each backend accepts.
ACCURACY_OPTIONS = {"highs": ("threads", "mip_gap", "seed"), "subsets": ()}
# Relative tolerance of the solver's objective against the evaluator's.
_OBJECTIVE_RTOL = 1e-6
# HiGHS's sub-MIP heuristics (RINS, RENS, root reduced cost) took most of the time at N = 50
# (measured: about a third less time without them); the warm start already gives a plan within
# about 1 % of the optimum, and the proof of optimality does not depend on them.
_HIGHS_OPTIONS = {"mip_heuristic_effort": 0.0, "mip_heuristic_run_rins": False,
                  "mip_heuristic_run_rens": False, "mip_heuristic_run_root_reduced_cost": False}
# Sets are handed to the kernel in slices of about this many seconds (time-limit checks).
_SLICE_S = 0.2


def accuracy_backend(instance: Instance, backend: str) -> str:
    """The backend used for (P_A): "auto" is "highs" under "none", "subsets" under "full"."""
    if not isinstance(backend, str) or backend not in ACCURACY_BACKENDS:
        raise ValueError(f"backend: with min_accuracy it must be one of {ACCURACY_BACKENDS}, "
                         f"got {backend!r}")
    if backend == "auto":
        return "highs" if instance.interference == "none" else "subsets"
    if backend == "highs" and instance.interference != "none":
        raise ValueError(f"backend: 'highs' needs interference 'none'; this instance has "
                         f"{instance.interference!r}: use 'subsets'")
    if backend == "subsets" and instance.n_users > MAX_SUBSET_USERS:
        raise ValueError(f"instance: too large for backend 'subsets' (N = {instance.n_users} > "
                         f"{MAX_SUBSET_USERS}: 2^N offload sets)")
    return backend


def solve_accuracy(instance: Instance, tau: float | None, min_accuracy, backend: str,
                   time_limit: float, warm_start, options: dict) -> Result:
    """(P_A) exactly; called by :func:`formulations.solve` with ``min_accuracy`` (its docstring
    describes the arguments). ``tau`` None: no guard (reported as tau = 1, which forces nobody).

    Returns a Result: ``method="exact"``, status OPTIMAL (proven), TIME_LIMIT (best plan found
    and a valid bound) or ERROR (a failed check; ``info["error"]``); ``info["min_accuracy"]``.
    """
    target = check_min_accuracy(instance, min_accuracy, tau)
    backend = accuracy_backend(instance, backend)
    for name in options:
        if name not in ACCURACY_OPTIONS[backend]:
            raise ValueError(f"{name}: not an option of backend {backend!r} with min_accuracy; "
                             f"its options: {ACCURACY_OPTIONS[backend] or 'none'}")
    guard = 1.0 if tau is None else tau
    clock = Clock(time_limit)
    warm, source = _warm(instance, tau, target, warm_start)
    if backend == "highs":
        outcome = _solve_highs(instance, guard, target, clock, warm, options)
    else:
        outcome = _solve_subsets(instance, guard, target, clock, warm)
    assignment = outcome.assignment if outcome.assignment is not None else warm
    if outcome.assignment is None:
        outcome.info["fallback"] = "warm start"
    runtime = clock.elapsed()
    params = {"backend": backend, "time_limit": time_limit, "warm_start": source,
              "min_accuracy": target, "tau": tau, **options}
    return _result(instance, guard, target, backend, outcome, assignment, runtime, params)


# --- warm start ----------------------------------------------------------------------------------

def _warm(instance, tau, target, warm_start):
    """(a feasible plan, its source): the given one if feasible, else goa's acc_greedy (lazy
    import: formulations does not depend on goa), else a plan of users on their better side."""
    if warm_start is not None and not isinstance(warm_start, str):
        a = np.asarray(warm_start, dtype=np.int64)
        if _feasible(instance, tau, target, a):
            return a, "given"
        raise ValueError("warm_start: does not satisfy the accuracy constraint and the guard")
    if isinstance(warm_start, str) and warm_start != "auto":
        raise ValueError(f"warm_start: must be None, 'auto' or an assignment, got {warm_start!r}")
    try:
        from goa.accuracy import acc_greedy

        return acc_greedy(instance, tau, target)[0], "acc_greedy"
    except ImportError:
        p_slm, p_llm = instance.correct_probabilities()
        alone = _alone_s(instance)
        edge = (p_llm > p_slm) | (np.zeros(instance.n_users, bool) if tau is None
                                  else instance.forced(tau))
        return np.where(edge, np.argmin(alone, axis=1), -1).astype(np.int64), "better_side"


def _feasible(instance, tau, target, a) -> bool:
    ev = evaluate(instance, a, 1.0 if tau is None else tau)
    return bool(ev.feasible) and ev.expected_accuracy_pct >= target - ACCURACY_TOL_PCT


def _alone_s(instance: Instance) -> np.ndarray:
    """d_i on ES j alone (n_j = 1, no interference): the least delay i can have there (N, M)."""
    return (instance.comm_per_load_s
            + instance.edge_workload_flop[:, None] / instance.server_cap_flops[None, :])


# --- HiGHS on the count-indexed model ------------------------------------------------------------

def _limits(data, incumbent_s: float) -> tuple[np.ndarray, np.ndarray]:
    """(nmax (N, M), L (M,)): the loads at which user i may sit on ES j, and ES j may hold, in a
    plan no worse than the incumbent (a feasible plan), whatever the accuracy row demands.

    With n users on j, those n pay f_kj(n) each and every other user at least its cheapest
    option ``lo_k`` (home if free, else alone at its best ES), so the plan costs at least
    ``sum_k lo_k + (sum over the n users on j of f_kj(n) - lo_k)``; with i among them, at least
    ``sum_k lo_k + f_ij(n) - lo_i + (the n - 1 smallest f_kj(n) - lo_k, k != i)``. A load (or a
    user at a load) whose bound exceeds the incumbent cannot be in an optimal plan. Every term
    f_kj(n) - lo_k is >= 0 (lo_k <= f_kj(1)) and grows with n, so both bounds grow with n: the
    allowed loads are 1..L_j and 1..nmax_ij.
    """
    n_users, n_servers = data.comm_s.shape
    users = np.arange(n_users)
    alone = data.delay(users[:, None], np.arange(n_servers)[None, :], 1)
    lo = np.minimum(np.where(data.forced, np.inf, data.local_s), alone.min(axis=1))
    room = incumbent_s * (1.0 + 1e-9) - lo.sum()
    nmax = np.zeros((n_users, n_servers), dtype=np.int64)
    for j in range(n_servers):
        for n in range(1, n_users + 1):
            excess = data.delay(users, j, n) - lo
            order = np.argsort(excess, kind="stable")
            prefix = np.concatenate([[0.0], np.cumsum(excess[order])])
            rank = np.empty(n_users, dtype=np.int64)
            rank[order] = users
            # with i on j: i's own excess plus the n - 1 smallest of the others
            others = np.where(rank < n, prefix[n] - excess, prefix[n - 1])
            ok = excess + others <= room
            if not np.any(ok):
                break
            nmax[ok, j] = n
    return nmax, nmax.max(axis=0)


def _accuracy_model(instance: Instance, tau: float, target: float, incumbent_s: float):
    """The count-indexed model of (P) without the free-user reductions, one accuracy row
    added, loads capped by :func:`_limits`."""
    from .data import interference_free_delays
    from .model import Column, CountModel

    reduced = interference_free_delays(instance, tau)
    n, m = instance.n_users, instance.n_servers
    unreduced = dataclasses.replace(reduced, nmax=np.full((n, m), n, dtype=np.int64),
                                    load_max=np.full(m, n, dtype=np.int64))
    nmax, limits = _limits(unreduced, incumbent_s)
    data = dataclasses.replace(unreduced, nmax=nmax, load_max=limits)
    model = CountModel(data)
    p_slm, p_llm = instance.correct_probabilities()
    # sum_{i, j} (p_llm_i - p_slm_i) x[i, j] >= N A / 100 - sum_i p_slm_i
    x = np.flatnonzero(model.kind == Column.X)
    gain = (p_llm - p_slm)[model.user[x]]
    need = n * (target - ACCURACY_TOL_PCT) / 100.0 - p_slm.sum()
    model.add_row("accuracy", x, gain, need, np.inf)
    return model, limits


def _solve_highs(instance, tau, target, clock, warm, options) -> Outcome:
    from . import milp

    incumbent_s = evaluate(instance, warm).total_delay_ms / 1e3
    model, limits = _accuracy_model(instance, tau, target, incumbent_s)
    if not model.fits(warm):  # cannot happen: the limits keep every plan as good as warm
        warm_in = None
    else:
        warm_in = warm
    try:
        outcome = milp.solve_highs(model, max(clock.remaining(), 1e-3), warm_in,
                                   highs_options=_HIGHS_OPTIONS, **options)
    except Exception as error:  # noqa: BLE001 - a solver crash is reported, not raised
        outcome = Outcome(None, Status.ERROR, info={"error": f"highs: {error!r}"})
    outcome.info["load_limits"] = limits.tolist()
    return outcome


# --- the subset search ---------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class _Sets:
    """The offload sets containing the guard's users: masks, accuracy (percent), local delay of
    the users outside (s) and the set-level bound lb0 (s)."""

    masks: np.ndarray
    accuracy_pct: np.ndarray
    fixed_s: np.ndarray
    lb0_s: np.ndarray


def _offload_sets(instance: Instance, tau: float) -> _Sets:
    n = instance.n_users
    if n > MAX_SUBSET_USERS:
        raise ValueError(f"instance: too large for the subset search (N = {n} > "
                         f"{MAX_SUBSET_USERS})")
    forced = instance.forced(tau)
    masks = np.arange(2 ** n, dtype=np.int64)
    member = ((masks[:, None] >> np.arange(n)[None, :]) & 1).astype(bool)  # (2^N, N)
    keep = np.all(member[:, forced], axis=1)
    masks, member = masks[keep], member[keep]
    p_slm, p_llm = instance.correct_probabilities()
    accuracy = np.where(member, p_llm[None, :], p_slm[None, :]).mean(axis=1) * 100.0
    local = instance.local_delay_s
    fixed = np.where(member, 0.0, local[None, :]).sum(axis=1)
    lb0 = fixed + np.where(member, _alone_s(instance).min(axis=1)[None, :], 0.0).sum(axis=1)
    return _Sets(masks, accuracy, fixed, lb0)


def _kernel_arrays(instance: Instance) -> tuple:
    return (np.ascontiguousarray(instance.tx_power_w[:, None] * instance.gain),
            np.ascontiguousarray(instance.prompt_bits),
            np.ascontiguousarray(instance.edge_workload_flop),
            np.ascontiguousarray(instance.noise_w), np.ascontiguousarray(instance.bandwidth_hz),
            np.ascontiguousarray(instance.server_cap_flops),
            np.ascontiguousarray(instance.server_flops), instance.interference == "full")


def _search(instance: Instance, sets: _Sets, order: np.ndarray, cutoff: float, clock: Clock):
    """Run the kernel over ``order`` (indices into ``sets``) in slices while the clock allows.
    Returns (improved, values, assignments, number of sets done), all in ``order``'s order."""
    from . import accuracy_kernels

    size = order.size
    n = instance.n_users
    masks = np.ascontiguousarray(sets.masks[order])
    lb0 = np.ascontiguousarray(sets.lb0_s[order])
    fixed = np.ascontiguousarray(sets.fixed_s[order])
    improved = np.zeros(size, dtype=bool)
    values = np.full(size, np.inf)
    assignments = np.full((size, n), -1, dtype=np.int64)
    arrays = _kernel_arrays(instance)
    done, batch = 0, 64
    while done < size and clock.remaining() > 0.0:
        last = min(size, done + batch)
        started = clock.elapsed()
        cutoff = accuracy_kernels.search_sets(masks, lb0, fixed, done, last, cutoff, *arrays,
                                              improved, values, assignments)
        took = clock.elapsed() - started
        done = last
        if took < _SLICE_S / 2:
            batch *= 2
        elif took > 2 * _SLICE_S and batch > 1:
            batch //= 2
    return improved, values, assignments, done


def _solve_subsets(instance, tau, target, clock, warm) -> Outcome:
    """min T over the sets reaching the target, sets in increasing order of lb0 (a good plan
    early prunes the rest), the warm start's T as the first cutoff."""
    sets = _offload_sets(instance, tau)
    eligible = np.flatnonzero(sets.accuracy_pct >= target - ACCURACY_TOL_PCT)
    order = eligible[np.argsort(sets.lb0_s[eligible], kind="stable")]
    warm_s = evaluate(instance, warm).total_delay_ms / 1e3
    # the warm start is an incumbent only by a hair: the search must still find its optimum,
    # so the first cutoff is a little above it
    cutoff = warm_s * (1.0 + 1e-9)
    improved, values, assignments, done = _search(instance, sets, order, cutoff, clock)
    info = {"sets": int(order.size), "sets_done": int(done)}
    found = np.flatnonzero(improved)
    if found.size:
        best = found[-1]  # each improvement lowers the cutoff: the last one is the best
        assignment, value = assignments[best], float(values[best])
    else:
        assignment, value = warm, warm_s
    if done == order.size:
        return Outcome(assignment, Status.OPTIMAL, objective_ms=value * 1e3,
                       bound_ms=value * 1e3 * (1.0 - 1e-9), info=info)
    bound = min(value, float(sets.lb0_s[order[done:]].min()))
    return Outcome(assignment, Status.TIME_LIMIT, objective_ms=value * 1e3, bound_ms=bound * 1e3,
                   info=info)


# --- the front -----------------------------------------------------------------------------------

def _staircase_delay(accuracy_pct: np.ndarray, objective_ms: np.ndarray, levels) -> np.ndarray:
    """On a staircase of plans sorted by accuracy and delay: the least delay of a plan whose
    expected accuracy reaches each level (to ``ACCURACY_TOL_PCT``), NaN where none does."""
    a = np.atleast_1d(np.asarray(levels, dtype=np.float64))
    index = np.searchsorted(accuracy_pct, a - ACCURACY_TOL_PCT, side="left")
    out = np.full(a.shape, np.nan)
    ok = index < accuracy_pct.size
    out[ok] = objective_ms[index[ok]]
    return out


def _staircase_accuracy(accuracy_pct: np.ndarray, objective_ms: np.ndarray, delays) -> np.ndarray:
    """On the same staircase: the largest accuracy of a plan within each total delay (to a
    relative 1e-12), NaN below the first plan's delay."""
    t = np.atleast_1d(np.asarray(delays, dtype=np.float64))
    index = np.searchsorted(objective_ms, t * (1.0 + 1e-12), side="right") - 1
    out = np.full(t.shape, np.nan)
    ok = index >= 0
    out[ok] = accuracy_pct[index[ok]]
    return out


@dataclass(frozen=True, eq=False)
class Front:
    """The exact accuracy-delay front of one instance: its corners, in increasing accuracy.

    ``accuracy_pct[k]`` and ``objective_ms[k]``: the k-th corner, the least total delay of any
    plan with expected accuracy >= ``accuracy_pct[k]`` (strictly increasing in both arrays);
    ``assignments[k]`` a plan attaining it. ``complete``: whether the search finished (else the
    corners are plans found, not proven). ``runtime_s``: the whole search.
    """

    accuracy_pct: np.ndarray
    objective_ms: np.ndarray
    assignments: np.ndarray
    complete: bool
    runtime_s: float

    def delay_at(self, accuracy_pct) -> np.ndarray:
        """F(A): the least total delay (ms) of a plan with expected accuracy >= A (NaN beyond
        the last corner, where no plan reaches A)."""
        return _staircase_delay(self.accuracy_pct, self.objective_ms, accuracy_pct)

    def accuracy_at(self, delay_ms) -> np.ndarray:
        """The largest expected accuracy (%) of a plan with total delay <= T (NaN below the
        first corner's delay)."""
        return _staircase_accuracy(self.accuracy_pct, self.objective_ms, delay_ms)


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
    guard = 1.0 if tau is None else tau
    instance.correct_probabilities()
    clock = Clock(time_limit)
    sets = _offload_sets(instance, guard)
    order = np.lexsort((sets.masks, -sets.accuracy_pct))
    improved, values, assignments, done = _search(instance, sets, order, np.inf, clock)
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
                 complete=done == order.size, runtime_s=clock.elapsed())


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
    ``solves``: weighted solves run. ``runtime_s``: the whole search.
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
        return _staircase_delay(self.accuracy_pct, self.objective_ms, accuracy_pct)

    def bound_at(self, accuracy_pct) -> np.ndarray:
        """A proven lower bound on F(A) (ms): the largest cut at A (at A less the accuracy
        tolerance, so that it holds for every plan the constraint accepts)."""
        a = np.atleast_1d(np.asarray(accuracy_pct, dtype=np.float64)) - ACCURACY_TOL_PCT
        cuts = self.intercept_ms[:, None] + self.slope_ms_per_pct[:, None] * a[None, :]
        return cuts.max(axis=0)

    def accuracy_at(self, delay_ms) -> np.ndarray:
        """A lower bound on the best expected accuracy (%) within a total delay T: the largest
        accuracy of a supported point with delay <= T (NaN below the first point's delay)."""
        return _staircase_accuracy(self.accuracy_pct, self.objective_ms, delay_ms)


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
    from instances import check_tau

    from .data import interference_free_delays
    from .solve import solve

    if instance.interference != "none":
        raise ValueError(f"instance: supported_front needs interference 'none', this instance "
                         f"has {instance.interference!r}: use exact_front (N <= "
                         f"{MAX_SUBSET_USERS})")
    guard = 1.0 if tau is None else check_tau(tau)
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
        complete=bool(complete), solves=solves, runtime_s=clock.elapsed())


def front_at(instance: Instance, front: SupportedFront, min_accuracy, tau: float | None = None,
             time_limit: float = 60.0) -> Result:
    """F(A) exactly, from a :func:`supported_front` of the same instance and tau: (P_A) by
    HiGHS as :func:`formulations.solve` does, warm-started from the supported point reaching A
    (a good incumbent: its delay caps the loads the model considers), the best cut at A a
    proven bound besides HiGHS's own. No solve at all when that point's delay meets the best
    cut at A (to the MIP gap): it is then the optimum.

    Returns a Result as :func:`formulations.solve` with ``min_accuracy`` (backend "highs"),
    ``info["solved"]`` False when no solve was needed.

    Raises
    ------
    ValueError
        If ``min_accuracy`` is bad or unreachable, or the interference is not "none".
    """
    from . import milp

    target = check_min_accuracy(instance, min_accuracy, tau)
    accuracy_backend(instance, "highs")
    guard = 1.0 if tau is None else tau
    clock = Clock(time_limit)
    k = int(np.searchsorted(front.accuracy_pct, target - ACCURACY_TOL_PCT, side="left"))
    k = min(k, front.accuracy_pct.size - 1)
    warm = front.assignments[k]
    if not _feasible(instance, tau, target, warm):
        raise ValueError("front: its point reaching min_accuracy is not a feasible plan of this "
                         "instance and tau (a front of another instance?)")
    upper_ms = evaluate(instance, warm).total_delay_ms
    cuts = front.intercept_ms + front.slope_ms_per_pct * (target - ACCURACY_TOL_PCT)
    bound_ms = float(cuts.max())
    if upper_ms <= bound_ms * (1.0 + milp.DEFAULT_MIP_GAP):
        outcome = Outcome(warm, Status.OPTIMAL, objective_ms=upper_ms,
                          bound_ms=min(bound_ms, upper_ms), info={"solved": False})
    else:
        # the cuts as rows of the model were measured no faster (N = 50, seed 0, 4 levels:
        # 103 s with them, 97 s without): they only serve as the bound
        model, limits = _accuracy_model(instance, guard, target, upper_ms / 1e3)
        warm_in = warm if model.fits(warm) else None
        try:
            outcome = milp.solve_highs(model, max(clock.remaining(), 1e-3), warm_in,
                                       highs_options=_HIGHS_OPTIONS)
        except Exception as error:  # noqa: BLE001 - a solver crash is reported, not raised
            outcome = Outcome(None, Status.ERROR, info={"error": f"highs: {error!r}"})
        if outcome.bound_ms is not None:
            outcome.bound_ms = max(outcome.bound_ms, bound_ms)
        outcome.info.update(solved=True, load_limits=limits.tolist())
    assignment = outcome.assignment if outcome.assignment is not None else warm
    params = {"backend": "highs", "time_limit": time_limit, "warm_start": "supported front",
              "min_accuracy": target, "tau": tau}
    return _result(instance, guard, target, "highs", outcome, assignment, clock.elapsed(),
                   params)


def _weighted_data(base, table, local_s, forced, home):
    """The "none" data of (P) with these local costs and this forced set, users in ``home``
    (or never worth offloading) left out. Returns (data, kept users).

    The reductions of :func:`formulations.data.interference_free_delays`, recomputed for the new local costs:
    a free user sits on ES j at load n only if f_ij(n) <= its local cost (else sending it home
    improves the plan whatever that cost is), and ES j holds at most the largest n for which n
    users may sit there. A free user that may sit nowhere is home in every optimum: it is left
    out, which also keeps every remaining local cost positive (it is at least min_j f_ij(1)).
    """
    n = base.n_users
    nmax = np.where(forced[:, None], n, (table[:, :, 1:] <= local_s[:, None, None]).sum(axis=2))
    keep = ~home & (forced | np.any(nmax > 0, axis=1))
    nmax = nmax[keep]
    counts = np.arange(1, int(keep.sum()) + 1)
    eligible = (nmax[:, :, None] >= counts[None, None, :]).sum(axis=0)  # (M, kept)
    load_max = (eligible >= counts[None, :]).sum(axis=1).astype(np.int64)
    nmax = np.minimum(nmax, load_max[None, :]).astype(np.int64)
    data = dataclasses.replace(base, local_s=local_s[keep], forced=forced[keep],
                               comm_s=base.comm_s[keep], work_flop=base.work_flop[keep],
                               nmax=nmax, load_max=load_max)
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


# --- the result ----------------------------------------------------------------------------------

def _result(instance, tau, target, backend, outcome: Outcome, assignment, runtime, params
            ) -> Result:
    """The Result with the checks: guard and accuracy kept, solver's objective = evaluator's,
    bound <= T."""
    info = dict(outcome.info)
    info["min_accuracy"] = target
    status = outcome.status
    evaluation = evaluate(instance, np.asarray(assignment, dtype=np.int64), tau)
    objective = evaluation.total_delay_ms
    info["solver_objective_ms"] = outcome.objective_ms
    problems = []
    if not evaluation.feasible:
        problems.append(f"the plan violates the guard (users {evaluation.violators.tolist()})")
    if evaluation.expected_accuracy_pct < target - ACCURACY_TOL_PCT:
        problems.append(f"the plan's expected accuracy {evaluation.expected_accuracy_pct!r} % is "
                        f"below {target!r} %")
    if outcome.objective_ms is not None and outcome.assignment is not None:
        gap = abs(outcome.objective_ms - objective) / max(abs(objective), 1e-300)
        if gap > _OBJECTIVE_RTOL:
            problems.append(f"the solver's objective {outcome.objective_ms!r} ms disagrees with "
                            f"the evaluator's {objective!r} ms")
    bound = outcome.bound_ms
    if bound is not None and bound > objective * (1.0 + _OBJECTIVE_RTOL):
        problems.append(f"the bound {bound!r} ms exceeds the objective {objective!r} ms")
    if problems and status not in (Status.ERROR, Status.MODEL_INFEASIBLE):
        status = Status.ERROR
        info["error"] = f"{backend}: " + "; ".join(problems)
    if bound is not None:
        bound = min(bound, objective)
    return Result(method="exact", assignment=evaluation.assignment, evaluation=evaluation,
                  runtime_s=runtime, tau=tau, params=params, status=status, bound_ms=bound,
                  backend=backend, info=info)
