"""Heuristics that plug into ``goa.solve`` and the benchmarks: every module of this folder whose
name does not start with ``_`` is imported with ``goa`` and registers its method
(:func:`goa.registry.register_method`). ``_template.py`` is the file to copy."""

from __future__ import annotations

import importlib
import pkgutil


def load_all() -> tuple[str, ...]:
    """Import every public module of this package (each registers its method); returns their
    names, sorted (so that the registration order is the same in every process)."""
    names = sorted(info.name for info in pkgutil.iter_modules(__path__)
                   if not info.name.startswith("_"))
    for name in names:
        importlib.import_module(f"{__name__}.{name}")
    return tuple(names)
