"""Warm starts for the exact methods, looked up by problem, and planners for the online
policies, looked up by method name: the seams between the heuristics and the packages that use
them without importing them.

``formulations`` never imports ``goa`` (dependencies flow one way, docs/architecture.md): a
package of heuristics registers a start function here (``goa`` does on import: goa_ls for (P),
acc_greedy for (P_A)), and :func:`formulations.solve` asks for the one registered for its
problem when told ``warm_start="auto"``. A caller may also pass any assignment directly.
Likewise ``online`` never imports ``goa``: ``goa`` registers ``goa.solve`` as the planner of its
(P) methods, and ``online.Solve("goa_ls")`` finds it by name.
"""

from __future__ import annotations

from typing import Callable

#: The problems a start can be registered for: (P) takes ``(instance, tau)``, (P_A) takes
#: ``(instance, tau, min_accuracy)``; both return an assignment (int64, -1 local).
PROBLEMS = ("P", "P_A")

_STARTS: dict[str, tuple[str, Callable]] = {}


def register_start(problem: str, name: str, function: Callable) -> None:
    """Register ``function`` (called ``name`` in results' ``params["warm_start"]``) as the
    warm start of ``problem``; a later registration for the same problem replaces it.

    Raises
    ------
    ValueError
        If ``problem`` is not one of :data:`PROBLEMS` or ``function`` is not callable.
    """
    if problem not in PROBLEMS:
        raise ValueError(f"problem: must be one of {PROBLEMS}, got {problem!r}")
    if not callable(function):
        raise ValueError(f"function: must be callable, got {function!r}")
    _STARTS[problem] = (str(name), function)


def registered_start(problem: str) -> tuple[str, Callable] | None:
    """``(name, function)`` registered for ``problem``, or ``None`` if none is."""
    if problem not in PROBLEMS:
        raise ValueError(f"problem: must be one of {PROBLEMS}, got {problem!r}")
    return _STARTS.get(problem)


# Planners: packages of heuristics for (P) registered by name, for consumers that must not import
# them (``online``'s solver policies). ``goa`` registers ``goa.solve`` with its (P) methods.
_PLANNERS: dict[str, tuple[Callable, Callable]] = {}


def register_planner(package: str, solve: Callable, names: Callable) -> None:
    """Register ``solve(instance, tau=..., method=..., seed=..., **options)`` (returning a
    result with an ``assignment``, or an assignment) as the planner of the methods ``names()``
    returns (called at each look-up, so methods registered later are found too); a later
    registration under the same ``package`` replaces it.

    Raises
    ------
    ValueError
        If ``solve`` or ``names`` is not callable.
    """
    if not callable(solve):
        raise ValueError(f"solve: must be callable, got {solve!r}")
    if not callable(names):
        raise ValueError(f"names: must be callable, got {names!r}")
    _PLANNERS[str(package)] = (solve, names)


def registered_planner(method: str) -> Callable | None:
    """The registered function that plans ``method``: ``f(instance, tau, seed, **options)``
    returning an int64 assignment (-1 local); ``None`` if no registered package knows it."""
    for solve, names in _PLANNERS.values():
        if method in names():
            def plan(instance, tau, seed=0, _solve=solve, **options):
                result = _solve(instance, tau=tau, method=method, seed=seed, **options)
                return getattr(result, "assignment", result)
            return plan
    return None


def planner_methods() -> tuple[str, ...]:
    """Every method name a registered planner knows, in registration order."""
    return tuple(m for _, names in _PLANNERS.values() for m in names())
