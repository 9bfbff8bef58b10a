"""Exact optima and certified bounds of problem (P) (docs/model.md section 4): MILPs, Lagrangian
load vectors, load-vector boxes, B&B, enumeration.

``solve(instance, tau, backend, time_limit, warm_start, **options) -> instances.Result``; with
``min_accuracy``, problem (P_A) (:mod:`formulations.accuracy`, :mod:`formulations.subsets`); the
accuracy-delay front: :mod:`formulations.front`. Every result is checked in one place,
:mod:`formulations.result`. This package never imports ``goa``: ``warm_start="auto"`` takes the
start a heuristic package registered in :mod:`instances.starts`.
"""

from .solve import BACKENDS as BACKENDS
from .solve import auto_backend as auto_backend
from .solve import solve as solve

__all__ = ["BACKENDS", "auto_backend", "solve"]
