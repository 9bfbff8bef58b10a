"""Heuristics that plug into ``goa.solve`` and the benchmarks: every module of this folder whose
name does not start with ``_`` is imported with ``goa`` and registers its method
(:func:`goa.registry.register_method`). ``_template.py`` is the file to copy.

Heuristics of other installed packages plug in the same way through their package metadata:
every entry point of the group :data:`METHODS_GROUP` (``llm_offloading.methods``) names a
module that registers its method when imported (a copy of ``_template.py`` in that package),
or a function of no arguments that does when called; ``import goa`` loads them after this
folder's (docs/architecture.md, "A heuristic in another package").

The sweeps' task versions (``benchmarks.codehash``) follow both ways: this package's computed
imports count as imports of every module of this folder, and the group's name as the import
of every module its entry points name.
"""

from __future__ import annotations

import importlib
import pkgutil

from instances.starts import load_entry_points

#: The entry point group of the heuristics of other packages.
METHODS_GROUP = "llm_offloading.methods"


def load_all() -> tuple[str, ...]:
    """Import every public module of this package (each registers its method), then load the
    entry points of :data:`METHODS_GROUP`; returns the modules' names, sorted (so that the
    registration order is the same in every process), then the entry points'."""
    names = sorted(info.name for info in pkgutil.iter_modules(__path__)
                   if not info.name.startswith("_"))
    for name in names:
        importlib.import_module(f"{__name__}.{name}")
    return tuple(names) + load_entry_points(METHODS_GROUP)
