"""``goa.solve``: GOA and the paper's baselines behind one entry point (MODEL.md sections 5, 6)."""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from instances import Instance, check_tau, evaluate
from instances.calibration import ACCURACY_TOL_PCT

from .reference import random_offload_set, reference_greedy
from instances.result import Result, Status

METHODS = ("goa", "local_all", "edge_all", "random", "dmin", "ga", "acc_greedy")
KERNELS = ("lazy", "scan", "reference")

_GREEDY_DEFAULTS = {"kernel": "lazy"}
GA_DEFAULTS = {"population": 100, "generations": 5000, "mutation": 0.01, "elites": 6,
               "patience": 200, "tournament": 2, "include_goa": False}
_DEFAULTS: dict[str, dict[str, Any]] = {
    "goa": _GREEDY_DEFAULTS, "local_all": {}, "edge_all": _GREEDY_DEFAULTS,
    "random": _GREEDY_DEFAULTS, "dmin": _GREEDY_DEFAULTS, "ga": GA_DEFAULTS, "acc_greedy": {},
}
#: Methods of problem (P_A) (docs/model.md section 8.2): they need ``min_accuracy``; the others
#: solve (P) and refuse it.
ACCURACY_METHODS = ("acc_greedy",)
_SEEDED = ("random", "ga")


def solve(instance: Instance, tau: float | None = 0.8, method: str = "goa", seed: int = 0,
          min_accuracy: float | None = None, **options: Any) -> Result:
    """Solve one instance with GOA or one of the paper's baselines.

    Parameters
    ----------
    instance
        The instance.
    tau
        Accuracy-guard threshold in [0, 1]: users with alpha_i > tau must be offloaded.
        ``None`` (no guard, the same as tau = 1) only with ``min_accuracy``.
    method
        One of :data:`METHODS`:

        - ``"goa"``: the greedy offloading algorithm (MODEL.md section 5);
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
          mutation to a uniform allowed value; it returns the best individual ever seen.
    seed
        Non-negative integer seed of the random choices of ``"random"`` and ``"ga"`` (the same
        seed gives the same result); ignored by the other methods.
    min_accuracy
        A_min in percent, the expected accuracy (P_A) demands: only ``"acc_greedy"`` takes it
        (the GOA family and its baselines solve (P) and have no accuracy constraint).
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

    Returns
    -------
    Result
        The assignment, its evaluation by ``instances.evaluate`` (with ``tau``), the method,
        ``params`` (the options as used, and ``seed`` for the seeded methods), ``runtime_s``
        (the algorithm alone: no validation, no evaluation; for ``"random"`` it includes the
        GOA run that fixes the count, for ``"ga"`` with ``include_goa`` the GOA run; the first
        call of a numba kernel in a process also includes its compilation or loading from the
        cache) and the status: ``FEASIBLE`` if the guard holds, else ``INFEASIBLE``. ``info``:
        ``n_offload`` for random; ``generations`` (run), ``fitness_ms`` (the best's T by the
        GA's own evaluator) and ``best_initial_ms`` for the GA; ``cleanup_moves`` for
        acc_greedy, whose status is ``FEASIBLE`` only when the guard holds and the expected
        accuracy reaches ``min_accuracy``.

    Raises
    ------
    ValueError
        If ``instance`` is not an Instance, ``method`` is unknown, ``tau`` is outside [0, 1],
        ``seed`` is not a non-negative integer, or an option is unknown or has a bad value;
        ``min_accuracy`` given to a method other than acc_greedy, missing for acc_greedy,
        outside [0, 100] or unreachable (above the best expected accuracy of the instance), or
        the instance has no calibrated probabilities.
    """
    if not isinstance(instance, Instance):
        raise ValueError(f"instance: must be an instances.Instance, got {type(instance).__name__}")
    if method not in METHODS:
        raise ValueError(f"method: unknown method {method!r}; known: {', '.join(METHODS)}")
    if method in ACCURACY_METHODS:
        return _solve_accuracy(instance, tau, method, min_accuracy, options)
    if min_accuracy is not None:
        raise ValueError(f"min_accuracy: method {method!r} solves (P) and takes no accuracy "
                         f"constraint; use method 'acc_greedy' (or formulations.solve)")
    if tau is None:
        raise ValueError(f"tau: None (no guard) is only allowed with min_accuracy; method "
                         f"{method!r} needs a number in [0, 1] (1 leaves every user free)")
    tau = check_tau(tau)
    seed = _check_seed(seed)
    params = _check_options(method, options)

    started = time.perf_counter()
    assignment, info = _RUNNERS[method](instance, tau, seed, params)
    runtime_s = time.perf_counter() - started

    evaluation = evaluate(instance, assignment, tau)
    if method in _SEEDED:
        params = {"seed": seed, **params}
    return Result(method=method, assignment=evaluation.assignment, evaluation=evaluation,
                  runtime_s=runtime_s, tau=tau, params=params,
                  status=Status.FEASIBLE if evaluation.feasible else Status.INFEASIBLE,
                  info=info)


def _solve_accuracy(instance, tau, method, min_accuracy, options) -> Result:
    """(P_A) by an accuracy-aware method; tau None means no guard (evaluated as tau = 1)."""
    from .accuracy import acc_greedy

    if min_accuracy is None:
        raise ValueError(f"min_accuracy: method {method!r} needs it (the expected accuracy to "
                         f"reach, in percent)")
    guard = None if tau is None else check_tau(tau)
    _check_options(method, options)
    started = time.perf_counter()
    assignment, info = acc_greedy(instance, guard, min_accuracy)
    runtime_s = time.perf_counter() - started
    target = float(min_accuracy)
    evaluation = evaluate(instance, assignment, 1.0 if guard is None else guard)
    ok = evaluation.feasible and evaluation.expected_accuracy_pct >= target - ACCURACY_TOL_PCT
    return Result(method=method, assignment=evaluation.assignment, evaluation=evaluation,
                  runtime_s=runtime_s, tau=1.0 if guard is None else guard,
                  params={"min_accuracy": target, "tau": guard},
                  status=Status.FEASIBLE if ok else Status.INFEASIBLE, info=info)


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


# -- the methods --------------------------------------------------------------------------------


def _arrays(instance: Instance) -> dict[str, Any]:
    """The instance as the kernels read it (fresh writable float64 arrays: one numba signature)."""
    return {
        "pg": instance.tx_power_w[:, None] * instance.gain,  # P_i g_ij, as the reference computes
        "bits": np.array(instance.prompt_bits),
        "work": np.array(instance.edge_workload_flop),
        "t_local": instance.local_delay_s,
        "bandwidth": np.array(instance.bandwidth_hz),
        "flops": np.array(instance.server_flops),
        "cap": np.array(instance.server_cap_flops),
        "noise": instance.noise_w,
        "full": instance.interference == "full",
    }


def _greedy(instance: Instance, weight: np.ndarray, forced: np.ndarray, optional: np.ndarray,
            kernel: str) -> np.ndarray:
    """The greedy of MODEL.md section 5 (see ``reference_greedy``) with the chosen kernel."""
    if kernel == "reference":
        return reference_greedy(instance, weight, forced, optional)
    from . import _kernels  # numba is imported on first use, not with the package

    a = _arrays(instance)
    return _kernels.greedy(forced, optional, kernel == "lazy", a["pg"], a["bits"], a["work"],
                           a["t_local"], weight, a["bandwidth"], a["flops"], a["cap"],
                           a["noise"], a["full"])


def _goa(instance: Instance, tau: float, kernel: str) -> np.ndarray:
    return _greedy(instance, np.array(instance.alpha), instance.forced(tau),
                   np.ones(instance.n_users, dtype=bool), kernel)


def _run_goa(instance, tau, seed, params):
    return _goa(instance, tau, params["kernel"]), {}


def _run_local_all(instance, tau, seed, params):
    return np.full(instance.n_users, -1, dtype=np.int64), {}


def _run_edge_all(instance, tau, seed, params):
    everyone = np.ones(instance.n_users, dtype=bool)
    return _greedy(instance, np.array(instance.alpha), everyone, ~everyone, params["kernel"]), {}


def _run_random(instance, tau, seed, params):
    n_offload = int(np.count_nonzero(_goa(instance, tau, params["kernel"]) >= 0))
    chosen = random_offload_set(instance, tau, n_offload, seed)
    assignment = _greedy(instance, np.ones(instance.n_users), chosen,
                         np.zeros(instance.n_users, dtype=bool), params["kernel"])
    return assignment, {"n_offload": n_offload}


def _run_dmin(instance, tau, seed, params):
    everyone = np.ones(instance.n_users, dtype=bool)
    return _greedy(instance, np.ones(instance.n_users), ~everyone, everyone, params["kernel"]), {}


def _run_ga(instance, tau, seed, params):
    from . import _kernels

    a = _arrays(instance)
    if params["include_goa"]:
        initial = _goa(instance, tau, "lazy").reshape(1, -1)
    else:
        initial = np.empty((0, instance.n_users), dtype=np.int64)
    numba_seed = int(np.random.default_rng(seed).integers(0, 2**32))
    best, best_s, initial_s, generations = _kernels.ga(
        instance.forced(tau), initial, params["population"], params["generations"],
        params["mutation"], params["elites"], params["patience"], params["tournament"],
        numba_seed, a["pg"], a["bits"], a["work"], a["t_local"], a["bandwidth"], a["flops"],
        a["cap"], a["noise"], a["full"])
    info = {"generations": int(generations), "fitness_ms": float(best_s * 1e3),
            "best_initial_ms": float(initial_s * 1e3)}
    return best, info


_RUNNERS = {"goa": _run_goa, "local_all": _run_local_all, "edge_all": _run_edge_all,
            "random": _run_random, "dmin": _run_dmin, "ga": _run_ga}


def total_delay_ms(instance: Instance, assignment) -> float:
    """T(a) in ms by the GA's jitted fitness (agrees with ``instances.evaluate``)."""
    from . import _kernels

    a = _arrays(instance)
    vector = np.array(assignment, dtype=np.int64)  # a fresh writable copy: one signature
    return float(_kernels.total_delay_s(vector, a["pg"], a["bits"], a["work"], a["t_local"],
                                        a["bandwidth"], a["flops"], a["cap"], a["noise"],
                                        a["full"]) * 1e3)
