"""``goa.solve``: GOA and the paper's baselines behind one entry point (docs/model.md sections 5, 6)."""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from instances import Instance, check_tau, evaluate, generate
from instances.calibration import ACCURACY_TOL_PCT

from instances.arrays import kernel_arrays, law_args
from instances.result import Result, Status

from .registry import BUILT_IN, get_method, registered_methods
from .greedy import KERNELS, dmin_assignment, edge_all_assignment, goa_assignment, greedy
from .reference import random_offload_set

#: The built-in methods; :func:`methods` adds the registered ones (:mod:`goa.registry`).
METHODS = BUILT_IN
LS_KERNELS = ("numba", "reference")

_GREEDY_DEFAULTS = {"kernel": "lazy"}
GA_DEFAULTS = {"population": 100, "generations": 5000, "mutation": 0.01, "elites": 6,
               "patience": 200, "tournament": 2, "include_goa": False}
# kick None: max(2, ceil(N / 20)) users per perturbation; patience None: ls_patience (see
# docs/local_search.md)
LS_DEFAULTS = {"patience": None, "max_rounds": 1000, "kick": None, "targets": 8,
               "kernel": "numba"}
_DEFAULTS: dict[str, dict[str, Any]] = {
    "goa": _GREEDY_DEFAULTS, "local_all": {}, "edge_all": _GREEDY_DEFAULTS,
    "random": _GREEDY_DEFAULTS, "dmin": _GREEDY_DEFAULTS, "ga": GA_DEFAULTS,
    "goa_ls": LS_DEFAULTS, "acc_greedy": {},
}
#: Methods of problem (P_A) (docs/model.md section 8.2): they need ``min_accuracy``. goa_ls
#: solves (P), or (P_A) when given ``min_accuracy``; the others solve (P) and refuse it.
ACCURACY_METHODS = ("acc_greedy",)
_SEEDED = ("random", "ga", "goa_ls")


def methods() -> tuple[str, ...]:
    """Every method ``solve`` knows: the built-in :data:`METHODS`, then the registered ones
    (:mod:`goa.registry`, :mod:`goa.plugins`) in registration order."""
    return METHODS + registered_methods()


def solve(instance: Instance, tau: float | None = 0.8, method: str = "goa", seed: int = 0,
          time_limit: float | None = None, min_accuracy: float | None = None,
          **options: Any) -> Result:
    """Solve one instance with GOA, its local-search refinement or one of the paper's baselines.

    Parameters
    ----------
    instance
        The instance.
    tau
        Accuracy-guard threshold in [0, 1]: users with alpha_i > tau must be offloaded.
        ``None`` (no guard, the same as tau = 1) only with ``min_accuracy``.
    method
        One of :func:`methods`: a registered method (:mod:`goa.registry`) takes its own
        options and no time limit, and its status is ``FEASIBLE`` or ``GUARD_VIOLATED`` as
        below; or one of the built-in :data:`METHODS`:

        - ``"goa"``: the greedy offloading algorithm (docs/model.md section 5);
        - ``"local_all"``: every user local (violates the guard when someone is forced);
        - ``"edge_all"``: every user offloaded, placed by the smallest alpha-weighted delta;
        - ``"random"``: as many users as GOA offloads (GOA is run first, same tau), the forced
          ones plus a uniform draw without replacement of the others
          (``numpy.random.default_rng(seed)``), placed by the smallest unweighted
          e_ij - t^L_i; so it keeps the guard;
        - ``"dmin"``: GOA's step 2 on every user, unweighted, no forced set (ignores tau, so it
          may violate the guard);
        - ``"ga"``: a genetic algorithm over assignments, fitness T(a), forced users never local
          (``seed``): elitism, parents by tournament selection, uniform crossover, per-gene
          mutation to a uniform allowed value; it returns the best individual ever seen;
        - ``"goa_ls"``: iterated local search on the exact T(a) (docs/model.md section 8.4,
          docs/local_search.md) from the best guard-feasible of GOA, d-min, edge-all and
          everyone on one ES: add, relocate, drop, swap, exchange and merge moves, then random
          kicks and descents (``seed``). Never worse than its start; keeps the guard.
    seed
        Non-negative integer seed of the random choices of ``"random"``, ``"ga"`` and
        ``"goa_ls"`` (the same seed gives the same result); ignored by the other methods.
    time_limit
        ``"goa_ls"`` only: seconds (counted from the start of the algorithm, the starting
        heuristics included) after which the search stops at its next check and returns its
        best; ``None`` (default): no limit. Other methods take no time limit.
    min_accuracy
        A_min in percent, the expected accuracy that problem (P_A) demands (docs/model.md
        section 8.2); ``tau=None`` then means no guard. ``"acc_greedy"`` needs it;
        ``"goa_ls"`` takes it (it then starts from acc_greedy's plan and never lets the expected
        accuracy fall below A_min); the GOA family and the other baselines solve (P) and refuse it.
    **options
        Greedy methods (goa, edge_all, random, dmin): ``kernel`` = ``"lazy"`` (default, the
        numba kernel with a lazily re-evaluated heap), ``"scan"`` (the numba kernel rescanning
        every pair each step) or ``"reference"`` (the plain-Python reference); all three take
        the same decisions.
        GA: ``population`` (100), ``generations`` (5000, the maximum), ``mutation`` (0.01, per
        gene), ``elites`` (6), ``patience`` (200 generations without improvement),
        ``tournament`` (2, the tournament size of parent selection) and ``include_goa``
        (default False: the initial population is all random, so the GA is a baseline
        independent of GOA, as in the paper; True: GOA's solution is one of its individuals,
        and then the GA is never worse than GOA).
        goa_ls: ``patience`` (rounds in a row without a new best that end the search;
        ``None``: :func:`ls_patience`, max(3, ceil(210 / N)) under interference "full", 30
        under "none", tuned on hold-out seeds),
        ``max_rounds`` (1000 perturbation rounds at most; 0: one descent, no perturbation),
        ``kick`` (users moved per perturbation; ``None``: max(2, ceil(N / 20))),
        ``targets`` (8: each user is tried on its ``targets`` fastest ESs only, by its delay
        alone on an empty ES) and ``kernel`` (``"numba"``, default, or ``"reference"``, the
        plain-Python twin: the same decisions, much slower).

    Returns
    -------
    Result
        The assignment, its evaluation by ``instances.evaluate`` (with ``tau``), the method,
        ``params`` (the options as used, and ``seed`` for the seeded methods), ``runtime_s``
        (the algorithm alone: no validation, no evaluation, no numba compilation or loading;
        for ``"random"`` it includes the GOA run that fixes the count, for ``"ga"`` with
        ``include_goa`` the GOA run, for ``"goa_ls"`` its starting heuristics) and the
        status: ``FEASIBLE`` if the guard holds, else ``GUARD_VIOLATED``. ``info``:
        ``n_offload`` for random; ``generations`` (run), ``fitness_ms`` (the best's T by the
        GA's own evaluator) and ``best_initial_ms`` for the GA; for goa_ls ``start`` (the
        heuristic it started from), ``start_ms``, ``rounds``, ``moves`` (improving moves
        applied), ``stop`` (``"converged"``: patience rounds without a new best,
        ``"max_rounds"`` or ``"time_limit"``), ``kick`` and ``patience`` (as used);
        ``cleanup_moves`` for acc_greedy. A (P_A) result's status is ``FEASIBLE`` only when the
        guard holds and the expected accuracy reaches ``min_accuracy``. The first call in a
        process that needs the numba kernels loads (or compiles) them before its clock starts
        and reports the time in ``info["kernel_load_s"]``.

    Raises
    ------
    ValueError
        If ``instance`` is not an Instance, ``method`` is unknown, ``tau`` is outside [0, 1],
        ``seed`` is not a non-negative integer, ``time_limit`` is not a positive number (or is
        given to another method than goa_ls), or an option is unknown or has a bad value;
        ``min_accuracy`` given to a method other than acc_greedy and goa_ls, missing for
        acc_greedy, outside [0, 100] or unreachable (above the best expected accuracy of the
        instance), or the instance has no calibrated probabilities.
    """
    if not isinstance(instance, Instance):
        raise ValueError(f"instance: must be an instances.Instance, got {type(instance).__name__}")
    if method not in METHODS and get_method(method) is None:
        raise ValueError(f"method: unknown method {method!r}; known: {', '.join(methods())}")
    if method in ACCURACY_METHODS or (method == "goa_ls" and min_accuracy is not None):
        return _solve_accuracy(instance, tau, method, min_accuracy, seed, time_limit, options)
    if min_accuracy is not None:
        raise ValueError(f"min_accuracy: method {method!r} solves (P) and takes no accuracy "
                         f"constraint; use method 'acc_greedy' or 'goa_ls' (or formulations.solve)")
    if tau is None:
        raise ValueError(f"tau: None (no guard) is only allowed with min_accuracy; method "
                         f"{method!r} needs a number in [0, 1] (1 leaves every user free)")
    tau = check_tau(tau)
    seed = _check_seed(seed)
    if method not in METHODS:
        return _solve_registered(instance, tau, get_method(method), seed, time_limit, options)
    params = _check_options(method, options)
    time_limit = _check_time_limit(method, time_limit)

    info: dict[str, Any] = {}
    if method != "local_all" and params.get("kernel") != "reference":
        load_s = load_kernels()
        if load_s is not None:
            info["kernel_load_s"] = load_s
    started = time.perf_counter()
    if method == "goa_ls":
        deadline = None if time_limit is None else started + time_limit
        assignment, run_info = _run_goa_ls(instance, tau, seed, params, deadline)
    else:
        assignment, run_info = _RUNNERS[method](instance, tau, seed, params)
    runtime_s = time.perf_counter() - started

    evaluation = evaluate(instance, assignment, tau)
    if method in _SEEDED:
        params = {"seed": seed, **params}
    if time_limit is not None:
        params["time_limit"] = time_limit
    return Result(method=method, assignment=evaluation.assignment, evaluation=evaluation,
                  runtime_s=runtime_s, tau=tau, params=params,
                  status=Status.FEASIBLE if evaluation.feasible else Status.GUARD_VIOLATED,
                  info={**run_info, **info})


def _solve_registered(instance, tau, method, seed, time_limit, options) -> Result:
    """A registered method: options checked against its defaults (and its ``check``), run,
    evaluated by the one evaluator."""
    if time_limit is not None:
        raise ValueError(f"time_limit: only method 'goa_ls' takes a time limit, not "
                         f"{method.name!r}")
    for name in options:
        if name not in method.defaults:
            known = ", ".join(method.defaults) if method.defaults else "none"
            raise ValueError(f"{name}: not an option of method {method.name!r}; known: {known}")
    params = {**method.defaults, **options}
    if method.check is not None:
        params = method.check(params)
    started = time.perf_counter()
    assignment, info = method.run(instance, tau, seed, dict(params))
    runtime_s = time.perf_counter() - started
    evaluation = evaluate(instance, assignment, tau)
    if method.seeded:
        params = {"seed": seed, **params}
    return Result(method=method.name, assignment=evaluation.assignment, evaluation=evaluation,
                  runtime_s=runtime_s, tau=tau, params=params,
                  status=Status.FEASIBLE if evaluation.feasible else Status.GUARD_VIOLATED,
                  info=dict(info))


_LOAD_DONE = False


def load_kernels() -> float | None:
    """Load (or compile) every numba kernel of the package once per process, by running each
    on a tiny instance; returns the seconds it took on the call that did it, else ``None``.
    ``solve`` calls it before starting its clock, so no ``runtime_s`` includes it."""
    global _LOAD_DONE
    if _LOAD_DONE:
        return None
    started = time.perf_counter()
    tiny = generate(3, 2, seed=0)
    forced = np.zeros(3, dtype=bool)
    _run_ga(tiny, 1.0, 0, {**GA_DEFAULTS, "population": 4, "elites": 1, "generations": 1})
    _local_search(tiny, 1.0, greedy(tiny, np.array(tiny.alpha), forced, ~forced, "lazy"), 0,
                  {**LS_DEFAULTS, "max_rounds": 1}, deadline=started + 3600.0, trace_cap=1)
    total_delay_ms(tiny, np.zeros(3, dtype=np.int64))
    _LOAD_DONE = True
    return time.perf_counter() - started


def _solve_accuracy(instance, tau, method, min_accuracy, seed, time_limit, options) -> Result:
    """(P_A) by an accuracy-aware method; tau None means no guard (evaluated as tau = 1).

    goa_ls starts from acc_greedy's plan and runs its local search with the side constraint
    sum over offloaded i of (p_llm_i - p_slm_i) >= N A_min / 100 - sum_i p_slm_i, which is
    expected accuracy >= A_min (docs/model.md section 8.2)."""
    from .accuracy import acc_greedy

    if min_accuracy is None:
        raise ValueError(f"min_accuracy: method {method!r} needs it (the expected accuracy to "
                         f"reach, in percent)")
    guard = None if tau is None else check_tau(tau)
    guard_tau = 1.0 if guard is None else guard
    params = _check_options(method, options)
    info: dict[str, Any] = {}
    if method == "goa_ls":
        seed = _check_seed(seed)
        time_limit = _check_time_limit(method, time_limit)
        if params.get("kernel") != "reference":
            load_s = load_kernels()
            if load_s is not None:
                info["kernel_load_s"] = load_s
    elif time_limit is not None:
        _check_time_limit(method, time_limit)
    started = time.perf_counter()
    assignment, run_info = acc_greedy(instance, guard, min_accuracy)
    if method == "goa_ls":
        p_slm, p_llm = instance.correct_probabilities()
        # the side constraint in "accuracy points x N / 100", with the tolerance of the check
        need = instance.n_users * (float(min_accuracy) - ACCURACY_TOL_PCT) / 100.0 \
            - float(p_slm.sum())
        deadline = None if time_limit is None else started + time_limit
        assignment, ls_info, _ = _local_search(
            instance, guard_tau, assignment, seed, params, side_q=np.array(p_llm - p_slm),
            side_min=need, deadline=deadline)
        run_info = {"start": "acc_greedy", **ls_info}
        params = {"seed": seed, **params}
        if time_limit is not None:
            params["time_limit"] = time_limit
    runtime_s = time.perf_counter() - started
    target = float(min_accuracy)
    evaluation = evaluate(instance, assignment, guard_tau)
    ok = evaluation.feasible and evaluation.expected_accuracy_pct >= target - ACCURACY_TOL_PCT
    return Result(method=method, assignment=evaluation.assignment, evaluation=evaluation,
                  runtime_s=runtime_s, tau=guard_tau,
                  params={"min_accuracy": target, "tau": guard, **params},
                  status=Status.FEASIBLE if ok else Status.GUARD_VIOLATED,
                  info={**run_info, **info})


# -- argument checks ----------------------------------------------------------------------------


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _check_seed(seed: Any) -> int:
    if not _is_int(seed) or seed < 0:
        raise ValueError(f"seed: must be a non-negative integer, got {seed!r}")
    return int(seed)


def _check_int(name: str, value: Any, low: int) -> int:
    if not _is_int(value) or value < low:
        raise ValueError(f"{name}: must be an integer >= {low}, got {value!r}")
    return int(value)


def _check_options(method: str, options: dict[str, Any]) -> dict[str, Any]:
    """The method's options with defaults filled in, each checked; ValueError names the bad one."""
    defaults = _DEFAULTS[method]
    for name in options:
        if name not in defaults:
            known = ", ".join(defaults) if defaults else "none"
            raise ValueError(f"{name}: not an option of method {method!r}; known: {known}")
    params = {**defaults, **options}
    if method == "goa_ls":
        if params["kernel"] not in LS_KERNELS:
            raise ValueError(f"kernel: must be one of {LS_KERNELS}, got {params['kernel']!r}")
        if params["patience"] is not None:
            params["patience"] = _check_int("patience", params["patience"], 1)
        params["max_rounds"] = _check_int("max_rounds", params["max_rounds"], 0)
        params["targets"] = _check_int("targets", params["targets"], 1)
        if params["kick"] is not None:
            params["kick"] = _check_int("kick", params["kick"], 1)
        return params
    if "kernel" in params and params["kernel"] not in KERNELS:
        raise ValueError(f"kernel: must be one of {KERNELS}, got {params['kernel']!r}")
    if method == "ga":
        params["population"] = _check_int("population", params["population"], 2)
        params["generations"] = _check_int("generations", params["generations"], 0)
        params["patience"] = _check_int("patience", params["patience"], 1)
        params["tournament"] = _check_int("tournament", params["tournament"], 1)
        params["elites"] = _check_int("elites", params["elites"], 0)
        if params["elites"] >= params["population"]:
            raise ValueError(f"elites: must be smaller than the population "
                             f"({params['population']}), got {params['elites']!r}")
        mutation = params["mutation"]
        if isinstance(mutation, (bool, np.bool_)) or not isinstance(
                mutation, (int, float, np.integer, np.floating)) \
                or not (math.isfinite(mutation) and 0.0 <= mutation <= 1.0):
            raise ValueError(f"mutation: must be a number in [0, 1], got {mutation!r}")
        params["mutation"] = float(mutation)
        if not isinstance(params["include_goa"], (bool, np.bool_)):
            raise ValueError(f"include_goa: must be True or False, got {params['include_goa']!r}")
        params["include_goa"] = bool(params["include_goa"])
    return params


def _check_time_limit(method: str, time_limit: Any) -> float | None:
    if time_limit is None:
        return None
    if method != "goa_ls":
        raise ValueError(f"time_limit: only method 'goa_ls' takes a time limit, not {method!r}")
    if isinstance(time_limit, (bool, np.bool_)) or not isinstance(
            time_limit, (int, float, np.integer, np.floating)) \
            or not (math.isfinite(time_limit) and time_limit > 0):
        raise ValueError(f"time_limit: must be a positive number of seconds, got {time_limit!r}")
    return float(time_limit)


# -- the methods --------------------------------------------------------------------------------


def _run_goa(instance, tau, seed, params):
    return goa_assignment(instance, tau, params["kernel"]), {}


def _run_local_all(instance, tau, seed, params):
    return np.full(instance.n_users, -1, dtype=np.int64), {}


def _run_edge_all(instance, tau, seed, params):
    return edge_all_assignment(instance, params["kernel"]), {}


def _run_random(instance, tau, seed, params):
    n_offload = int(np.count_nonzero(goa_assignment(instance, tau, params["kernel"]) >= 0))
    chosen = random_offload_set(instance, tau, n_offload, seed)
    assignment = greedy(instance, np.ones(instance.n_users), chosen,
                         np.zeros(instance.n_users, dtype=bool), params["kernel"])
    return assignment, {"n_offload": n_offload}


def _run_dmin(instance, tau, seed, params):
    nobody = np.zeros(instance.n_users, dtype=bool)
    return dmin_assignment(instance, nobody, params["kernel"]), {}


def _run_ga(instance, tau, seed, params):
    from . import _kernels

    a = kernel_arrays(instance)
    if params["include_goa"]:
        initial = goa_assignment(instance, tau, "lazy").reshape(1, -1)
    else:
        initial = np.empty((0, instance.n_users), dtype=np.int64)
    numba_seed = int(np.random.default_rng(seed).integers(0, 2**32))
    best, best_s, initial_s, generations = _kernels.ga(
        instance.forced(tau), initial, params["population"], params["generations"],
        params["mutation"], params["elites"], params["patience"], params["tournament"],
        numba_seed, *_delay_args(a), a["full"])
    info = {"generations": int(generations), "fitness_ms": float(best_s * 1e3),
            "best_initial_ms": float(initial_s * 1e3)}
    return best, info


LS_STOPS = ("converged", "max_rounds", "time_limit")  # the kernel's stop codes 0, 1, 2


def _run_goa_ls(instance, tau, seed, params, deadline):
    """goa_ls: the best guard-feasible start (by T; ties: GOA, d-min, edge-all, everyone on
    one ES), then the local search."""
    greedy_kernel = "reference" if params["kernel"] == "reference" else "lazy"
    nobody = np.zeros(instance.n_users, dtype=bool)
    starts = (("goa", goa_assignment(instance, tau, greedy_kernel)),
              ("dmin", dmin_assignment(instance, nobody, greedy_kernel)),
              ("edge_all", edge_all_assignment(instance, greedy_kernel)),
              ("one_es", np.full(instance.n_users, _one_es(instance), dtype=np.int64)))
    name, start, start_s = None, None, math.inf
    for candidate, assignment in starts:
        evaluation = evaluate(instance, assignment, tau)
        total_s = float(evaluation.delay_s.sum())
        if evaluation.feasible and total_s < start_s:
            name, start, start_s = candidate, assignment, total_s
    assignment, info, _ = _local_search(instance, tau, start, seed, params, deadline=deadline)
    return assignment, {"start": name, **info}


def _one_es(instance: Instance) -> int:
    """The ES j that minimises T when every user is on j (then nobody hears interference:
    T_j = N sum_i D_i / (B_j log2(1 + P_i g_ij / sigma_j^2)) + sum_i W^E_i / min(C^max_j,
    C_j / N)). Under "full" at small N this concentration is often optimal, and the local
    search's moves cannot reach it from a spread-out start (each step towards it costs)."""
    n = instance.n_users
    comm = instance.comm_per_load_s.sum(0)
    if instance.law.is_table:
        law = instance.law
        total = n * comm + law.a.sum(0) + law.b.sum() * law.h[:, n - 1]
    else:
        total = n * comm + instance.edge_workload_flop.sum() / np.minimum(
            instance.server_cap_flops, instance.server_flops / n)
    return int(np.argmin(total))


#: goa_ls's default patience, ``max(3, ceil(FULL_PATIENCE_ROUNDS / N))`` under "full" and
#: ``NONE_PATIENCE`` under "none": tuned by ``python -m benchmarks.patience`` on the hold-out
#: seeds 1000-1009 (docs/local_search.md, "Stopping rule"), never on the published ones.
FULL_PATIENCE_ROUNDS = 210
NONE_PATIENCE = 30


def ls_patience(n_users: int, interference: str) -> int:
    """goa_ls's default patience (rounds in a row without a new best before it stops).

    Under "full" a round costs O(N) exact evaluations per add/drop and the search needs few
    rounds at the paper's scale: max(3, ceil(210 / N)) (3 at N >= 70, 5 at N = 50, 21 at
    N = 10). Under "none" rounds are cheap and the default "none" set needs more: 30. Both
    tuned on hold-out seeds by ``python -m benchmarks.patience``; the rule and the measured
    trade-off are in docs/local_search.md ("Stopping rule").
    """
    if interference == "full":
        return max(3, math.ceil(FULL_PATIENCE_ROUNDS / n_users))
    return NONE_PATIENCE


def ls_targets(instance: Instance, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Each user's ``count`` candidate ESs: ``targets`` (N, min(count, M)) int64, the ESs on
    which the user alone would be fastest (its delay on an empty ES without interference, ties
    by the lower index), and ``is_target`` (M, N) bool: ``is_target[j, i]`` if j is among
    user i's targets (server-major: the search reads it along users)."""
    count = min(count, instance.n_servers)
    targets = np.ascontiguousarray(np.argsort(instance.alone_delay_s, axis=1, kind="stable")[:, :count],
                                   dtype=np.int64)
    is_target = np.zeros((instance.n_users, instance.n_servers), dtype=bool)
    np.put_along_axis(is_target, targets, True, axis=1)
    return targets, np.ascontiguousarray(is_target.T)


def _local_search(instance: Instance, tau: float, start, seed: int = 0,
                  params: dict[str, Any] | None = None, side_q=None, side_min=None,
                  deadline: float | None = None, trace_cap: int = 0):
    """The local search of goa_ls from a given start, with an optional side constraint.

    ``side_q`` (length N, real) and ``side_min`` (real), both or neither: every assignment the
    search visits keeps ``sum over offloaded i of q_i >= side_min`` (the start must satisfy
    it). ``params``: the goa_ls options (defaults: ``LS_DEFAULTS``); ``deadline``: a
    ``time.perf_counter()`` value; ``trace_cap``: how many trace entries to keep.

    Returns (assignment, info, trace) with trace = (int64 (k, 5) rows kind, u, p, v, q;
    float64 (k,) deltas in s), k = min(entries, trace_cap); see ``_ls_kernel.local_search``.
    """
    params = {**LS_DEFAULTS, **(params or {})}
    n = instance.n_users
    start = np.array(start, dtype=np.int64)
    if start.shape != (n,) or np.any(start < -1) or np.any(start >= instance.n_servers):
        raise ValueError(f"start: must be an assignment of length {n} with entries "
                         f"-1..{instance.n_servers - 1}")
    forced = instance.forced(tau)
    stranded = np.flatnonzero(forced & (start < 0))
    if stranded.size:
        raise ValueError(f"start: user {int(stranded[0])} has alpha > tau but is local")
    if (side_q is None) != (side_min is None):
        raise ValueError("side_q: side_q and side_min must be given together")
    use_side = side_q is not None
    if use_side:
        side_q = np.array(side_q, dtype=np.float64)
        if side_q.shape != (n,) or not np.all(np.isfinite(side_q)):
            raise ValueError(f"side_q: must be {n} finite numbers")
        side_min = float(side_min)
        if not math.isfinite(side_min):
            raise ValueError(f"side_min: must be a finite number, got {side_min!r}")
        if float(side_q[start >= 0].sum()) < side_min:
            raise ValueError("side_min: the start does not satisfy the side constraint")
    else:
        side_q, side_min = np.zeros(n), 0.0
    kick = params["kick"] if params["kick"] is not None else max(2, math.ceil(n / 20))
    patience = params["patience"] if params["patience"] is not None \
        else ls_patience(n, instance.interference)
    targets, is_target = ls_targets(instance, params["targets"])
    rng_seed = int(np.random.default_rng(seed).integers(0, 2**63))
    trace_int = np.zeros((trace_cap, 5), dtype=np.int64)
    trace_delta = np.zeros(trace_cap)
    a = kernel_arrays(instance)
    if a["law_table"]:
        # the search's cells sum the users' b_i in place of W^E_i: cost n F + (sum b) h(n);
        # the users' a_ij join the fixed part with the local users' t^L; the law travels in
        # ``cap`` (goa._ls_cells.law_cap), so that the "ps" kernel is the closed form's alone
        from ._ls_cells import law_cap

        a["work_flop"] = a["law_b"]
        a["cap_flops"] = law_cap(a["law_a"], a["law_h"])
    args = (start, forced, targets, is_target, use_side, side_q, side_min, params["max_rounds"],
            patience, kick, np.uint64(rng_seed),
            -1.0 if deadline is None else float(deadline), trace_int, trace_delta,
            *_delay_args(a)[:-1], a["full"])
    if params["kernel"] == "reference":
        from .reference_ls import reference_local_search as search
    else:
        from ._ls_kernel import local_search as search
    best, best_s, start_s, rounds, moves, traced, stop = search(*args)
    info = {"start_ms": float(start_s * 1e3), "rounds": int(rounds), "moves": int(moves),
            "stop": LS_STOPS[int(stop)], "kick": int(kick), "patience": int(patience)}
    kept = min(int(traced), trace_cap)
    return np.asarray(best, dtype=np.int64), info, (trace_int[:kept], trace_delta[:kept])


_RUNNERS = {"goa": _run_goa, "local_all": _run_local_all, "edge_all": _run_edge_all,
            "random": _run_random, "dmin": _run_dmin, "ga": _run_ga}


def total_delay_ms(instance: Instance, assignment) -> float:
    """T(a) in ms by the GA's jitted fitness (agrees with ``instances.evaluate``)."""
    from . import _kernels

    a = kernel_arrays(instance)
    vector = np.array(assignment, dtype=np.int64)  # a fresh writable copy: one signature
    return float(_kernels.total_delay_s(vector, *_delay_args(a), a["full"]) * 1e3)


def _delay_args(a: dict) -> tuple:
    """The arrays in the order goa's kernels take them (P_i g_ij, D, W^E, t^L, B, C, C^max,
    sigma^2, the law of ``instances.arrays.law_args``)."""
    return (a["signal_w"], a["prompt_bits"], a["work_flop"], a["local_s"], a["bandwidth_hz"],
            a["flops"], a["cap_flops"], a["noise_w"], law_args(a))
