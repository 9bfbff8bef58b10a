"""The cell-level formulas of ``goa_ls``'s kernel (:mod:`goa._ls_kernel`): a user's unit
communication time, a cell's total delay, how a move changes the interference and the local
delays, and the names of the columns of the kernel's per-cell and scalar state.

State per ES j (see :mod:`goa._ls_kernel`): ``weak[j, LOW_LOG]`` the smallest
``log2(1 + SINR)`` among its users, ``weak[j, WEAK_PART]`` the part of F_j from its *weak*
users (``log2(1 + SINR) < 1``), ``weak[j, LOW_STRONG_LOG]`` the smallest ``log2(1 + SINR)``
among the others (the *strong* users), ``weak[j, HIGH_LOG]`` the largest ``log2(1 + SINR)`` and
``weak[j, HIGH_SINR]`` that user's SINR (model "full"; for the bounds). Scalars:
``acc[LOCAL_S]`` the local users' total t^L (under a table law plus the offloaded users'
a_ij), ``acc[SIDE_SUM]`` the side-constraint sum of q_i over the offloaded users.

The congestion law reaches the kernel through ``cap``, with no argument of its own: under "ps"
``cap`` is C^max (M,); under a table law it is (M, 2N), row j holding ``h_j(1..N)`` and then
``a_0j..a_(N-1)j`` (:func:`law_cap`), and ``work`` holds b. The helpers :func:`_compute`,
:func:`_table` and :func:`_fixed` are chosen by numba from ``cap``'s type when the kernel is
compiled, so the "ps" code is the closed form's alone, operation for operation.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, types
from numba.extending import overload

# the columns of ``weak``
LOW_LOG, WEAK_PART, LOW_STRONG_LOG, HIGH_LOG, HIGH_SINR = 0, 1, 2, 3, 4
WEAK_COLUMNS = 5
# the entries of ``acc``
LOCAL_S, SIDE_SUM = 0, 1
LN2 = math.log(2.0)


@njit(cache=True, error_model="numpy", _nrt=False)
def _log_sinr(i, j, interference, pg, noise):
    """log2(1 + P_i g_ij / (sigma_j^2 + I))."""
    return math.log2(1.0 + pg[i, j] / (noise[j] + interference))


@njit(cache=True, error_model="numpy", _nrt=False)
def _unit(i, j, interference, pg, bits, bandwidth, noise):
    """u_ij = D_i / (B_j log2(1 + SINR)): i's communication time on j divided by n_j."""
    return bits[i] / (bandwidth[j] * _log_sinr(i, j, interference, pg, noise))


def law_cap(law_a: np.ndarray, law_h: np.ndarray) -> np.ndarray:
    """A table law as the kernel's ``cap``: (M, 2N), row j = h_j(1..N), then a_0j..a_(N-1)j."""
    return np.ascontiguousarray(np.hstack([law_h, np.asarray(law_a).T]), dtype=np.float64)


def _compute(w, n, flops_j, cap_j):
    """The compute time of users of total weight w on a cell of n >= 1 users (numba only)."""


def _table(cap):
    """Whether ``cap`` carries a table law (numba only)."""


def _fixed(cap, i, j):
    """a_ij under a table law, else 0 (numba only)."""


@overload(_compute, inline="always")
def _compute_impl(w, n, flops_j, cap_j):
    if isinstance(cap_j, types.Array):  # a table law: cap_j is row j of law_cap
        return lambda w, n, flops_j, cap_j: w * cap_j[n - 1]
    return lambda w, n, flops_j, cap_j: w / min(cap_j, flops_j / n)


@overload(_table, inline="always")
def _table_impl(cap):
    if cap.ndim == 2:
        return lambda cap: True
    return lambda cap: False


@overload(_fixed, inline="always")
def _fixed_impl(cap, i, j):
    if cap.ndim == 2:
        return lambda cap, i, j: cap[j, cap.shape[1] // 2 + i]
    return lambda cap, i, j: 0.0


@njit(cache=True, error_model="numpy", _nrt=False)
def _cell_cost(n, f, w, flops_j, cap_j):
    """The total delay of a cell with n users: n F + W / min(C^max, C / n) under "ps", n F + W
    h_j(n) under a table law (``cap_j`` its row of :func:`law_cap`) (0 when empty)."""
    if n == 0:
        return 0.0
    return n * f + _compute(w, n, flops_j, cap_j)


@njit(cache=True, error_model="numpy", _nrt=False)
def _heard(x, old, new, k, pg):
    """The change of I_k when user x moves from ``old`` to ``new`` (-1 local): x is heard at k
    when it is offloaded to another ES than k."""
    before = old >= 0 and old != k
    after = new >= 0 and new != k
    if before and not after:
        return -pg[x, k]
    if after and not before:
        return pg[x, k]
    return 0.0


@njit(cache=True, error_model="numpy", _nrt=False)
def _local_change(u, p, v, q, a, t_local, cap):
    """The change of the fixed part of T: the local users' t^L and, under a table law, the
    offloaded users' a_ij."""
    d = 0.0
    if a[u] < 0:
        d -= t_local[u]
    elif _table(cap):
        d -= _fixed(cap, u, a[u])
    if p < 0:
        d += t_local[u]
    elif _table(cap):
        d += _fixed(cap, u, p)
    if v >= 0:
        if a[v] < 0:
            d -= t_local[v]
        elif _table(cap):
            d -= _fixed(cap, v, a[v])
        if q < 0:
            d += t_local[v]
        elif _table(cap):
            d += _fixed(cap, v, q)
    return d


@njit(cache=True, error_model="numpy", _nrt=False)
def _new_interference(k, u, p, v, q, a, full, interf, pg):
    """I_k after the move."""
    value = interf[k]
    if full:
        value += _heard(u, a[u], p, k, pg)
        if v >= 0:
            value += _heard(v, a[v], q, k, pg)
    return value
