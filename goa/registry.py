"""The registry of heuristics beyond the built-in ones: a new method plugs in here, and
``goa.solve`` and the benchmarks find it by name.

A method is a function ``run(instance, tau, seed, params) -> (assignment, info)``: the
assignment an int64 vector (-1 local, else the ES), ``info`` a dict of extra facts. Register it
with :func:`register_method`; the modules of :mod:`goa.plugins` do so when ``goa`` is imported
(copy ``goa/plugins/_template.py`` to start one, docs/architecture.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable


@dataclass(frozen=True)
class Method:
    """A registered heuristic: its ``name``, its ``run`` function, its options with their
    defaults (``defaults``; ``goa.solve`` refuses any other), whether it draws random numbers
    (``seeded``: then ``params["seed"]`` is recorded) and an optional ``check`` that validates
    the options (``check(params) -> params``, raising ``ValueError`` naming the bad one)."""

    name: str
    run: Callable[..., tuple[Any, dict]]
    defaults: dict = field(default_factory=dict)
    seeded: bool = False
    check: Callable[[dict], dict] | None = None


_REGISTERED: dict[str, Method] = {}
#: The built-in methods of ``goa.solve`` (``goa.METHODS``): names that cannot be registered.
BUILT_IN = ("goa", "local_all", "edge_all", "random", "dmin", "ga", "goa_ls", "acc_greedy")


def register_method(name: str, run: Callable, defaults: dict | None = None,
                    seeded: bool = False, check: Callable | None = None) -> Method:
    """Register a heuristic for (P) under ``name`` (see the module docstring).

    Registering the same name again with the same function replaces it (a module imported
    twice); with another function it is an error.

    Raises
    ------
    ValueError
        If ``name`` is not an identifier, is a built-in method, or is taken by another
        function; or ``run`` is not callable.
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"name: must be an identifier, got {name!r}")
    if name in BUILT_IN:
        raise ValueError(f"name: {name!r} is a built-in method of goa.solve")
    if not callable(run):
        raise ValueError(f"run: must be callable, got {run!r}")
    old = _REGISTERED.get(name)
    if old is not None and _origin(old.run) != _origin(run):
        raise ValueError(f"name: {name!r} is already registered by {old.run!r}")
    method = Method(name, run, dict(defaults or {}), bool(seeded), check)
    _REGISTERED[name] = method
    return method


def _origin(function) -> tuple:
    return getattr(function, "__module__", None), getattr(function, "__qualname__", None)


def unregister_method(name: str) -> None:
    """Remove a registered method (``KeyError`` if none has that name)."""
    del _REGISTERED[name]


def registered_methods() -> tuple[str, ...]:
    """The names of the registered methods, in registration order."""
    return tuple(_REGISTERED)


def get_method(name: str) -> Method | None:
    """The registered method called ``name``, or ``None``."""
    return _REGISTERED.get(name)
