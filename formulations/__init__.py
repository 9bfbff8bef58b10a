"""Exact optima and certified bounds of problem (P) (docs/model.md section 4): MILPs, Lagrangian
load vectors, load-vector boxes, B&B, enumeration.

``solve(instance, tau, backend, time_limit, warm_start, **options) -> instances.Result``.
"""

from .solve import BACKENDS as BACKENDS
from .solve import auto_backend as auto_backend
from .solve import solve as solve

__all__ = ["BACKENDS", "auto_backend", "solve"]
