"""The greedy of docs/model.md section 5, behind which GOA, edge-all, random, d-min and the
accuracy-aware greedy all run (each with its own weights, forced and optional users)."""

from __future__ import annotations

import numpy as np

from instances import Instance
from instances.arrays import kernel_arrays, law_args

from .reference import reference_greedy

#: The greedy's kernels: "lazy" (numba, lazily re-evaluated heap), "scan" (numba, every pair
#: rescanned each step) and "reference" (plain Python); all three take the same decisions.
KERNELS = ("lazy", "scan", "reference")


def greedy(instance: Instance, weight: np.ndarray, forced: np.ndarray, optional: np.ndarray,
           kernel: str = "lazy") -> np.ndarray:
    """The greedy placement (see :func:`goa.reference.reference_greedy`): ``forced`` users are
    placed first, then ``optional`` users while it lowers their weighted delay; the others stay
    local. Returns the assignment (int64, -1 local)."""
    if kernel == "reference":
        return reference_greedy(instance, weight, forced, optional)
    from . import _kernels  # numba is imported on first use, not with the package

    a = kernel_arrays(instance)
    return _kernels.greedy(forced, optional, kernel == "lazy", a["signal_w"], a["prompt_bits"],
                           a["work_flop"], a["local_s"], np.asarray(weight, dtype=np.float64),
                           a["bandwidth_hz"], a["flops"], a["cap_flops"], a["noise_w"],
                           law_args(a), a["full"])


def goa_assignment(instance: Instance, tau: float, kernel: str = "lazy") -> np.ndarray:
    """GOA: the guard's users first, every user optional, weights alpha."""
    return greedy(instance, np.array(instance.alpha), instance.forced(tau),
                  np.ones(instance.n_users, dtype=bool), kernel)


def dmin_assignment(instance: Instance, forced: np.ndarray, kernel: str = "lazy") -> np.ndarray:
    """d-min's rule (unweighted e_ij - t^L_i) on every user, ``forced`` ones placed first."""
    everyone = np.ones(instance.n_users, dtype=bool)
    return greedy(instance, np.ones(instance.n_users), forced, everyone, kernel)


def edge_all_assignment(instance: Instance, kernel: str = "lazy") -> np.ndarray:
    """Every user offloaded, placed by the smallest alpha-weighted delta."""
    everyone = np.ones(instance.n_users, dtype=bool)
    return greedy(instance, np.array(instance.alpha), everyone, ~everyone, kernel)
