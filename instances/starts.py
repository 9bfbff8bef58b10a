"""Warm starts for the exact methods, looked up by problem: the one seam between the heuristics
and the exact solvers.

``formulations`` never imports ``goa`` (dependencies flow one way, docs/architecture.md): a
package of heuristics registers a start function here (``goa`` does on import: goa_ls for (P),
acc_greedy for (P_A)), and :func:`formulations.solve` asks for the one registered for its
problem when told ``warm_start="auto"``. A caller may also pass any assignment directly.
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
