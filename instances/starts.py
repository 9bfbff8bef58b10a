"""Warm starts for the exact methods, looked up by problem, and planners for the online
policies, looked up by method name: the seams between the heuristics and the packages that use
them without importing them.

``formulations`` never imports ``goa`` (dependencies flow one way, docs/architecture.md): a
package of heuristics registers a start function here (``goa`` does: goa_ls for (P),
acc_greedy for (P_A)), and :func:`formulations.solve` asks for the one registered for its
problem when told ``warm_start="auto"``. A caller may also pass any assignment directly.
Likewise ``online`` never imports ``goa``: ``goa`` registers ``goa.solve`` as the planner of its
(P) methods, and ``online.Solve("goa_ls")`` finds it by name.

Nobody has to import ``goa`` first: the providers are declared in the installed package
metadata as entry points (the standard Python plugin mechanism, :mod:`importlib.metadata`),
in the groups :data:`STARTS_GROUP` and :data:`PLANNERS_GROUP`; a look-up that finds nothing
registered loads the providers of its group (:func:`load_entry_points`) and looks again. This
project declares ``goa``'s in setup.cfg; any installed package can declare its own the same way
(docs/architecture.md). An entry point is a string in the metadata, not an import: the
packages that look up (``formulations``, ``online``) still never import ``goa``.
"""

from __future__ import annotations

import importlib.metadata
import types
from typing import Callable

#: Entry point group of the providers of warm starts: each entry point names a function of no
#: arguments that calls :func:`register_start` (or a module whose import does).
STARTS_GROUP = "llm_offloading.starts"
#: Entry point group of the providers of planners: each names a function of no arguments that
#: calls :func:`register_planner` (or a module whose import does).
PLANNERS_GROUP = "llm_offloading.planners"

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
    """``(name, function)`` registered for ``problem``, or ``None`` if none is, even after
    loading the providers of :data:`STARTS_GROUP`."""
    if problem not in PROBLEMS:
        raise ValueError(f"problem: must be one of {PROBLEMS}, got {problem!r}")
    if problem not in _STARTS:
        load_entry_points(STARTS_GROUP)
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
    returning an int64 assignment (-1 local); ``None`` if no registered package knows it, even
    after loading the providers of :data:`PLANNERS_GROUP`."""
    solve = _planner_of(method)
    if solve is None:
        load_entry_points(PLANNERS_GROUP)
        solve = _planner_of(method)
    if solve is None:
        return None

    def plan(instance, tau, seed=0, **options):
        result = solve(instance, tau=tau, method=method, seed=seed, **options)
        return getattr(result, "assignment", result)
    return plan


def _planner_of(method: str) -> Callable | None:
    for solve, names in _PLANNERS.values():
        if method in names():
            return solve
    return None


def planner_methods() -> tuple[str, ...]:
    """Every method name a registered planner knows (the providers of :data:`PLANNERS_GROUP`
    loaded first), in registration order."""
    load_entry_points(PLANNERS_GROUP)
    return tuple(m for _, names in _PLANNERS.values() for m in names())


# --- providers declared as entry points ----------------------------------------------------------

_LOADED: set[tuple[str, str, str]] = set()


class ProviderError(RuntimeError):
    """An entry point of the installed metadata names a provider that cannot be loaded."""


def load_entry_points(group: str) -> tuple[str, ...]:
    """Load every provider of the entry point ``group`` not loaded yet in this process, in the
    order of their names: import what the entry point names and, if that is a function, call
    it (with no arguments). Returns the names of the entry points loaded by this call.

    A provider is loaded once per process, and only when a look-up finds nothing registered:
    a look-up that finds a registration made by hand (:func:`register_start`) loads nothing.

    Raises
    ------
    ProviderError
        If a provider cannot be imported or fails, naming the entry point and the
        distribution that declares it.
    """
    loaded = []
    for entry in sorted(_entry_points(group), key=lambda e: (e.name, e.value)):
        key = (entry.group, entry.name, entry.value)
        if key in _LOADED:
            continue
        _LOADED.add(key)  # first: a provider that looks up in turn does not load itself again
        try:
            provider = entry.load()
            if callable(provider) and not isinstance(provider, types.ModuleType):
                provider()
        except Exception as exc:
            _LOADED.discard(key)
            dist = getattr(getattr(entry, "dist", None), "name", None)
            raise ProviderError(
                f"entry point {entry.name} = {entry.value} (group {group}"
                f"{', declared by ' + dist if dist else ''}): cannot load it: "
                f"{type(exc).__name__}: {exc}") from exc
        loaded.append(entry.name)
    return tuple(loaded)


def _entry_points(group: str):
    """The entry points of ``group`` in the installed metadata (a seam for tests)."""
    return importlib.metadata.entry_points(group=group)
