"""Exact (P_A): minimise T(a) subject to an expected accuracy of at least A_min (docs/model.md
section 8.2).

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
- ``"subsets"`` (either model, N <= :data:`formulations.subsets.MAX_SUBSET_USERS`): the search
  over offload sets of :mod:`formulations.subsets`.

``"auto"``: "highs" under "none", "subsets" under "full". The accuracy-delay front built on
these solves is :mod:`formulations.front`.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from instances import Instance, evaluate
from instances.calibration import ACCURACY_TOL_PCT, check_min_accuracy
from instances.result import Result
from instances.starts import registered_start

from .outcome import Clock, Outcome
from .result import checked_result
from .subsets import MAX_SUBSET_USERS, solve_subsets

#: The backends of (P_A).
ACCURACY_BACKENDS = ("auto", "highs", "subsets")
#: Options each backend accepts.
ACCURACY_OPTIONS = {"highs": ("threads", "mip_gap", "seed"), "subsets": ()}
# HiGHS's sub-MIP heuristics (RINS, RENS, root reduced cost) took most of the time at N = 50
# (measured: about a third less time without them); the warm start already gives a plan within
# about 1 % of the optimum, and the proof of optimality does not depend on them.
HIGHS_OPTIONS = {"mip_heuristic_effort": 0.0, "mip_heuristic_run_rins": False,
                 "mip_heuristic_run_rens": False, "mip_heuristic_run_root_reduced_cost": False}


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
        outcome = solve_subsets(instance, guard, target, clock, warm)
    assignment = outcome.assignment if outcome.assignment is not None else warm
    if outcome.assignment is None:
        outcome.info["fallback"] = "warm start"
    runtime = clock.elapsed()
    params = {"backend": backend, "time_limit": time_limit, "warm_start": source,
              "min_accuracy": target, "tau": tau, **options}
    return checked_result(instance, guard, backend, outcome, assignment, runtime, params,
                          min_accuracy=target)


# --- warm start ----------------------------------------------------------------------------------

def _warm(instance, tau, target, warm_start):
    """(a feasible plan, its source): the given one if feasible; else the start registered for
    (P_A) in :mod:`instances.starts` (goa's acc_greedy once goa is imported); else, with none
    registered, every user on its more accurate side (forced users on the edge), each offloaded
    user on the ES where it is fastest alone. The source is reported in ``params``."""
    if warm_start is not None and not isinstance(warm_start, str):
        a = np.asarray(warm_start, dtype=np.int64)
        if feasible_plan(instance, tau, target, a):
            return a, "given"
        raise ValueError("warm_start: does not satisfy the accuracy constraint and the guard")
    if isinstance(warm_start, str) and warm_start != "auto":
        raise ValueError(f"warm_start: must be None, 'auto' or an assignment, got {warm_start!r}")
    registered = registered_start("P_A")
    if registered is not None:
        name, start = registered
        a = np.asarray(start(instance, tau, target), dtype=np.int64)
        if not feasible_plan(instance, tau, target, a):
            raise RuntimeError(f"the registered (P_A) start {name!r} returned a plan that "
                               f"misses the accuracy constraint or the guard")
        return a, name
    p_slm, p_llm = instance.correct_probabilities()
    edge = (p_llm > p_slm) | (np.zeros(instance.n_users, bool) if tau is None
                              else instance.forced(tau))
    return (np.where(edge, np.argmin(instance.alone_delay_s, axis=1), -1).astype(np.int64),
            "better_side")


def feasible_plan(instance: Instance, tau: float | None, target: float, a) -> bool:
    """Whether plan ``a`` keeps the guard (``tau`` None: no guard) and reaches the expected
    accuracy ``target`` (percent, to ``ACCURACY_TOL_PCT``)."""
    ev = evaluate(instance, a, 1.0 if tau is None else tau)
    return bool(ev.feasible) and ev.expected_accuracy_pct >= target - ACCURACY_TOL_PCT


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


def accuracy_model(instance: Instance, tau: float, target: float, incumbent_s: float):
    """The count-indexed model of (P) without the free-user reductions, one accuracy row
    added, loads capped by :func:`_limits` (every plan no worse than ``incumbent_s`` fits).
    Returns (model, the load limits L (M,))."""
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
    model, limits = accuracy_model(instance, tau, target, incumbent_s)
    check_fits(model, warm)
    outcome = milp.solve_highs(model, max(clock.remaining(), 1e-3), warm,
                               highs_options=HIGHS_OPTIONS, **options)
    outcome.info["load_limits"] = limits.tolist()
    return outcome



def check_fits(model, plan) -> None:
    """Raise if ``plan`` (the warm start, or any plan as good) lies outside ``model``: the load
    limits keep every plan as good as the incumbent, so a miss is a bug, never a case to skip."""
    if not model.fits(plan):
        raise RuntimeError("(P_A) model: the warm start does not fit the load limits built "
                           "from its own delay (a bug in _limits or CountModel)")
