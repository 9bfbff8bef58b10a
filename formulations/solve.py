"""``formulations.solve``: the exact optimum of (P) (docs/model.md section 4), by several backends."""

from __future__ import annotations

import functools
import math
import time
import numbers

import numpy as np

from instances.result import Result
from instances import Instance, check_tau
from instances.arrays import kernel_arrays
from instances.evaluate import check_assignment
from instances.starts import registered_start

from .outcome import Clock, Outcome
from .result import checked_result

# The backends' modules are imported when used, so that ``import formulations`` loads neither
# numba nor scipy nor the MILP solvers.

#: Backend names. "auto" picks by interference model and size (see :func:`auto_backend`).
BACKENDS = ("auto", "loadvec", "highs", "cbc", "scip", "cpsat", "bnb", "loadbox", "enumerate")
#: Backends that need interference "none" (a MILP, or assignment problems per load vector).
NONE_ONLY = ("loadvec", "highs", "cbc", "scip", "cpsat")
#: Backends that need interference "full" (bounds on the interference).
FULL_ONLY = ("loadbox",)
#: Options each backend accepts (``**options`` of :func:`solve`).
OPTIONS = {
    "loadvec": ("gap_tol", "max_load_vectors"),
    "highs": ("threads", "mip_gap", "seed", "vub", "max_nodes"),
    "cbc": ("threads", "mip_gap", "vub", "max_nodes"),
    "scip": ("threads", "mip_gap", "vub", "max_nodes"),
    "cpsat": ("threads", "resolution_s", "seed", "vub", "max_deterministic_time"),
    "bnb": ("max_nodes",),
    "loadbox": ("max_boxes", "dual_rounds", "batch", "workers", "target_gap"),
    "enumerate": ("max_assignments", "max_chunks"),
}
#: Under "full", "auto" takes the user-level B&B up to this many users (it proves the optimum
#: there within seconds) and the load-vector boxes above (a certified bound at any N).
AUTO_BNB_MAX_USERS = 20
# Time limits beyond this are treated as "no limit" by the solvers.
_FOREVER_S = 1e7


def auto_backend(instance: Instance) -> str:
    """The backend "auto" uses: "loadvec" for interference "none" (the fastest by our
    measurements, formulations/BENCHMARKS.md); for "full", "bnb" up to ``AUTO_BNB_MAX_USERS``
    users and "loadbox" above (docs/bounds.md)."""
    if instance.interference == "none":
        return "loadvec"
    return "bnb" if instance.n_users <= AUTO_BNB_MAX_USERS else "loadbox"


def solve(instance: Instance, tau: float | None = 0.8, backend: str = "auto",
          time_limit: float = 60.0, warm_start=None, min_accuracy: float | None = None,
          **options) -> Result:
    """Solve (P) exactly: minimise the total delay T(a) subject to alpha_i > tau => offloaded.

    Parameters
    ----------
    instance
        The instance (either interference model).
    tau
        The accuracy-guard threshold in [0, 1].
    backend
        One of ``BACKENDS``:

        - ``"loadvec"`` (interference "none"): Lagrangian bounds over load vectors, each solved as
          an assignment problem (:mod:`formulations.loadvec`); HiGHS solves the LP (and, when many
          load vectors tie, a MILP reduced by the bound).
        - ``"highs"``, ``"cbc"`` (PuLP's bundled CBC binary), ``"scip"`` (OR-Tools),
          ``"cpsat"`` (OR-Tools; costs floored to integer multiples of ``resolution_s``, so the
          bound stays valid): the count-indexed MILP (:mod:`formulations.model`), interference
          "none" only.
        - ``"bnb"``: depth-first branch-and-bound over users in numba, either interference
          model; proves optima under "full" up to N of about 25 (M = 4).
        - ``"loadbox"`` (interference "full"): best-first search over boxes of load vectors
          and then over users, each box bounded by an assignment problem with interference
          bounds (:mod:`formulations.loadbox`): exact, and a certified lower bound at any N
          when stopped; the assignment problems' solutions serve as incumbents.
        - ``"enumerate"``: every assignment, in numba, either model; refuses more than
          ``max_assignments`` (default 1e10).
        - ``"auto"``: :func:`auto_backend`.
    time_limit
        Wall-clock limit in seconds (> 0; ``math.inf`` for none), counted from the call and
        covering model building and any warm start.
    warm_start
        ``None``, an assignment vector satisfying the guard, or ``"auto"``: the start
        registered for (P) in :mod:`instances.starts` (goa_ls where goa is installed: its entry
        point registers it on first use; without a registered start, "auto" is a ValueError). MILP backends use it as a MIP start /
        hint; "loadvec", "bnb" and "loadbox" always start from a local-search incumbent and
        take the warm start if it is better; "enumerate" ignores it unless stopped by the time
        limit.
    min_accuracy
        If given: solve problem (P_A) instead (docs/model.md section 8.2), minimise T(a) subject
        to an expected accuracy >= ``min_accuracy`` percent (and the guard, unless ``tau`` is
        None); backends "auto", "highs" ("none") and "subsets" (either model, N <= 16), see
        :mod:`formulations.accuracy`. ValueError if it is outside [0, 100] or unreachable.
        A feasible warm start is always used (the given one, else the start registered for
        (P_A) in :mod:`instances.starts`, acc_greedy where goa is installed, else a plan of
        users on their more accurate side; ``params["warm_start"]`` names it): its delay
        caps the loads the model has to consider.
    **options
        Backend options (``OPTIONS``): ``threads`` (default 1; CP-SAT with more than one
        worker interleaves them deterministically, and is slower), ``mip_gap`` (relative,
        default 1e-7), ``seed``, ``resolution_s`` (CP-SAT, default 1e-9), ``gap_tol`` ("loadvec",
        default 1e-9), ``max_load_vectors`` ("loadvec", default 5000: assignment problems before
        the rest goes to HiGHS on the MILP reduced by the Lagrangian bound),
        ``max_assignments`` ("enumerate"), and the work budgets, whose stop (status
        WORK_LIMIT) does not depend on the machine: ``max_nodes`` ("bnb": nodes; "highs",
        "cbc", "scip": the solver's branch-and-bound nodes), ``max_boxes`` ("loadbox": boxes
        bounded, i.e. assignment problems solved), ``max_chunks`` ("enumerate": blocks of its fixed order of assignments),
        ``max_deterministic_time`` ("cpsat": CP-SAT's deterministic seconds, > 0);
        ``dual_rounds`` ("loadbox", default 0: off; rounds of the Lagrangian dual of
        :mod:`formulations.loaddual` on each single-load-vector box, M <= 6), ``batch``
        ("loadbox", default 64: the open boxes split per step after the first 20000 boxes, one a
        step before) and ``workers`` ("loadbox",
        default: the environment variable ``LLM_OFFLOADING_SOLVER_WORKERS`` if set, else the
        cores this process may use; processes that bound a step's children, started once
        20000 boxes are bounded; results depend on ``batch`` only, never on ``workers``);
        ``target_gap`` ("loadbox", default 0: off; stop, status WORK_LIMIT and
        ``info["stop"] = "target_gap"``, once the certified gap (objective - bound) / bound is at
        most this fraction, e.g. 0.01 for 1 %: a target, not a proof; as deterministic as
        ``max_boxes``);
        ``vub`` (MILPs, default False: add the rows
        z[i, j, n] <= y[j, n]; measured faster at N = 60, M = 4, much slower at M = 16).

    Returns
    -------
    Result
        ``method="exact"``, ``backend`` the backend used, ``status`` OPTIMAL (proven, to the
        backend's tolerance), TIME_LIMIT (the best assignment found and the best bound),
        WORK_LIMIT (the same, stopped by a work budget), UNKNOWN (stopped without a proof
        for another reason: an LP that ended non-optimal, a solver that gave no reason; the
        best assignment and a valid bound) or ERROR
        (solver failure, a claim that the model is infeasible - (P) always has a solution -,
        its objective disagreeing with the evaluator or its bound above the objective beyond
        ``formulations.result.BOUND_RTOL``: a plan below its own lower bound proves a bug;
        ``info["error"]`` says why, and ``bound_ms`` is None). A solver library that raises is
        not caught: its exception reaches the caller. A backend that ends without any solution
        returns the warm start, else a local-search assignment (``info["fallback"]``).
        ``bound_ms`` is a valid lower bound on the optimum. ``runtime_s`` is the wall time of
        the whole solve, model building and warm start included, final evaluation and the
        one-time loading of numba kernels excluded (the first call in a process that needs
        them loads them before its clock starts and reports ``info["kernel_load_s"]``).
        ``info["solver_objective_ms"]`` is the backend's own objective, checked against the
        evaluator to ``formulations.result.OBJECTIVE_RTOL``.

    Raises
    ------
    ValueError
        For a bad ``instance``, ``tau``, ``backend`` (unknown, or not applicable to the
        interference model), ``time_limit``, ``warm_start`` or option, or an instance too large
        for ``"enumerate"``.
    """
    if not isinstance(instance, Instance):
        raise ValueError(
            f"instance: must be an instances.Instance, got {type(instance).__name__}")
    if min_accuracy is not None:
        from .accuracy import solve_accuracy

        return solve_accuracy(instance, None if tau is None else check_tau(tau), min_accuracy,
                              backend, _check_time_limit(time_limit), warm_start, options)
    if tau is None:
        raise ValueError("tau: None (no guard) is only allowed with min_accuracy; give a number "
                         "in [0, 1] (1 leaves every user free)")
    tau = check_tau(tau)
    backend = _check_backend(instance, backend)
    time_limit = _check_time_limit(time_limit)
    options = _check_options(backend, options)
    warm = _check_warm_start(instance, tau, warm_start)
    if backend == "enumerate":
        from . import search

        size = search.enumeration_size(instance, tau)
        limit = options.get("max_assignments", search.MAX_ENUMERATION)
        if size > limit:
            raise ValueError(
                f"instance: too large for backend 'enumerate' ({size:.3g} assignments > "
                f"max_assignments = {limit:.3g}); use backend='bnb'")

    kernel_load_s = load_kernels(backend)
    clock = Clock(time_limit)
    warm_a, warm_source = _warm_assignment(instance, tau, warm, clock)
    outcome = _run(instance, tau, backend, clock, warm_a, options)
    if kernel_load_s is not None:
        outcome.info["kernel_load_s"] = kernel_load_s
    assignment = outcome.assignment
    if assignment is None:
        # no solution from the backend: the best we know, never a violation of the guard
        assignment = warm_a if warm_a is not None else _heuristic(instance, tau, Clock(1.0))
        outcome.info.setdefault("fallback",
                                "warm start" if warm_a is not None else "local search")
    runtime = clock.elapsed()
    params = {"backend": backend, "time_limit": time_limit, "warm_start": warm_source, **options}
    return checked_result(instance, tau, backend, outcome, assignment, runtime, params)


# --- numba kernels, loaded before the clock starts -------------------------------------------------

_LOADED: set = set()


def load_kernels(backend: str) -> float | None:
    """Compile (or load from numba's on-disk cache) the search kernels a backend runs, once per
    process, before its clock starts: a first call must not spend its time limit compiling
    (seconds in a fresh clone). Returns the seconds it took, or ``None`` if nothing was left to
    load. The MILP backends use no numba kernel; "loadvec" and "loadbox" use the local search."""
    if backend not in ("bnb", "enumerate", "loadvec", "loadbox"):
        return None
    group = "enumerate" if backend == "enumerate" else "search"
    if group in _LOADED:
        return None
    import instances

    from . import search

    started = time.perf_counter()
    tiny = instances.generate(4, 2, seed=0)  # "full": the kernels take the model as a flag
    clock = Clock(math.inf)
    start = _heuristic(tiny, 1.0, clock)
    if group == "enumerate":
        search.solve_enumeration(tiny, 1.0, clock, start)
    else:
        # one node, so that the search stops early and also loads the open-node bound
        search.solve_bnb(tiny, 1.0, clock, start, max_nodes=1)
    _LOADED.add(group)
    return time.perf_counter() - started


# --- dispatch ------------------------------------------------------------------------------------

def _run(instance, tau, backend, clock, warm_a, options) -> Outcome:
    from . import search

    options = dict(options)
    if backend == "enumerate":
        incumbent = warm_a if warm_a is not None else _heuristic(instance, tau, clock)
        return search.solve_enumeration(instance, tau, clock, incumbent, **options)
    if backend == "bnb":
        return search.solve_bnb(instance, tau, clock, _best_start(instance, tau, warm_a, clock),
                                **options)
    from .data import interference_free_delays

    data = interference_free_delays(instance, tau)
    if backend == "loadbox":
        from . import loadbox

        rounds = options.pop("dual_rounds", 0)
        if rounds:
            from .loaddual import dual_bound

            options["dual"] = functools.partial(dual_bound, rounds=rounds)
        arrays = kernel_arrays(instance, tau)
        options.setdefault("batch", loadbox.DEFAULT_BATCH)
        if "workers" not in options:
            options["workers"] = loadbox.default_workers()
        return loadbox.solve_loadbox(
            loadbox.BoxBoundConstants(arrays, data), clock,
            _best_start(instance, tau, warm_a, clock),
            lambda a: search.total_delay_s(arrays, a),
            lambda a: search.improve(arrays, a, clock), **options)
    if backend == "loadvec":
        from . import loadvec

        start = data.repair(_best_start(instance, tau, warm_a, clock))
        return loadvec.solve_loadvec(data, clock, start, **options)
    from . import milp
    from .model import CountModel

    vub = options.pop("vub", False)
    model = CountModel(data, vub=vub)
    warm_in = None if warm_a is None else data.repair(warm_a)
    solver = {"highs": milp.solve_highs, "cbc": milp.solve_cbc, "scip": milp.solve_scip,
              "cpsat": milp.solve_cpsat}[backend]
    # a crash of the solver's library is raised, not turned into a quiet status
    outcome = solver(model, min(clock.remaining(), _FOREVER_S), warm_in, **options)
    outcome.info.setdefault("n_cols", model.n_cols)
    return outcome


def _heuristic(instance: Instance, tau: float, clock: Clock | None = None) -> np.ndarray:
    """A feasible start: forced users on their best server alone, free users home, then
    sweeps of single-user moves while they improve and the clock allows (deterministic)."""
    from . import search

    arrays = kernel_arrays(instance, tau)
    start = np.where(arrays["forced"], np.argmin(arrays["alone_s"], axis=1), -1).astype(np.int64)
    improved, _ = search.improve(arrays, start, clock)
    return improved


def _best_start(instance: Instance, tau: float, warm_a, clock: Clock) -> np.ndarray:
    """The better (by T) of the greedy local search and the warm start."""
    from . import search

    start = _heuristic(instance, tau, clock)
    if warm_a is None:
        return start
    arrays = kernel_arrays(instance, tau)
    warm_better = search.total_delay_s(arrays, warm_a) < search.total_delay_s(arrays, start)
    return np.asarray(warm_a, dtype=np.int64) if warm_better else start


def _warm_assignment(instance, tau, warm, clock):
    """(assignment or None, a description for ``params``)."""
    if warm is None:
        return None, None
    if isinstance(warm, str):  # "auto": the start registered for (P) (instances.starts)
        name, start = _registered_start("P")
        a = _check_warm_start(instance, tau, start(instance, tau))
        return a, name
    return warm, "given"


def _registered_start(problem: str):
    """The (name, function) registered for ``problem``, or a ValueError saying how to get one."""
    registered = registered_start(problem)
    if registered is None:
        raise ValueError(f"warm_start: 'auto' needs a start registered for ({problem}) in "
                         f"instances.starts (import goa, which registers its heuristics), or "
                         f"pass an assignment")
    return registered


# --- argument checks ------------------------------------------------------------------------------

def _check_backend(instance: Instance, backend) -> str:
    if not isinstance(backend, str) or backend not in BACKENDS:
        raise ValueError(f"backend: must be one of {BACKENDS}, got {backend!r}")
    if backend == "auto":
        return auto_backend(instance)
    if backend in NONE_ONLY and instance.interference != "none":
        raise ValueError(
            f"backend: {backend!r} needs interference 'none' (its delays are constants given the "
            f"loads); this instance has interference {instance.interference!r}: use 'bnb', "
            f"'loadbox' or 'enumerate'")
    if backend in FULL_ONLY and instance.interference != "full":
        raise ValueError(
            f"backend: {backend!r} needs interference 'full' (it bounds the interference); this "
            f"instance has interference {instance.interference!r}: use 'loadvec'")
    return backend


def _check_time_limit(time_limit) -> float:
    if isinstance(time_limit, bool) or not isinstance(time_limit, numbers.Real):
        raise ValueError(f"time_limit: must be a positive number of seconds, got {time_limit!r}")
    value = float(time_limit)
    if math.isnan(value) or value <= 0.0:
        raise ValueError(f"time_limit: must be a positive number of seconds, got {time_limit!r}")
    return value


def _check_options(backend: str, options: dict) -> dict:
    allowed = OPTIONS[backend]
    checked = {}
    for name, value in options.items():
        if name not in allowed:
            raise ValueError(f"{name}: not an option of backend {backend!r}; "
                             f"its options: {allowed or 'none'}")
        if name == "vub":
            if not isinstance(value, (bool, np.bool_)):
                raise ValueError(f"vub: must be True or False, got {value!r}")
            checked[name] = bool(value)
        elif name in ("threads", "max_assignments", "seed", "max_load_vectors", "max_nodes",
                      "max_chunks", "max_boxes", "dual_rounds", "batch", "workers"):
            low = 0 if name in ("seed", "max_load_vectors", "dual_rounds") else 1
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
                raise ValueError(f"{name}: must be an integer >= {low}, got {value!r}")
            checked[name] = int(value)
        elif name == "max_deterministic_time":
            if isinstance(value, bool) or not isinstance(value, numbers.Real) \
                    or not 0.0 < float(value) < math.inf:
                raise ValueError(f"{name}: must be a positive number, got {value!r}")
            checked[name] = float(value)
        else:  # mip_gap, gap_tol, resolution_s, target_gap
            if isinstance(value, bool) or not isinstance(value, numbers.Real) \
                    or not 0.0 <= float(value) < 1.0 or (name == "resolution_s" and value <= 0):
                raise ValueError(f"{name}: must be a number in [0, 1), got {value!r}")
            checked[name] = float(value)
    return checked


def _check_warm_start(instance: Instance, tau: float, warm_start):
    if warm_start is None:
        return None
    if isinstance(warm_start, str):
        if warm_start != "auto":
            raise ValueError(f"warm_start: must be None, 'auto' or an assignment vector, "
                             f"got {warm_start!r}")
        _registered_start("P")  # fail before any work if nothing is registered
        return "auto"
    try:
        a = check_assignment(instance, warm_start)
    except ValueError as error:
        raise ValueError(f"warm_start: {error}") from None
    violators = np.flatnonzero((instance.alpha > tau) & (a < 0))
    if violators.size:
        raise ValueError(f"warm_start: violates the accuracy guard (users with alpha > tau left "
                         f"local: {violators.tolist()})")
    return np.array(a, dtype=np.int64)
