"""The cell-level formulas of ``goa_ls``'s kernel (:mod:`goa._ls_kernel`): a user's unit
communication time, a cell's total delay, how a move changes the interference and the local
delays, and the names of the columns of the kernel's per-cell and scalar state.

State per ES j (see :mod:`goa._ls_kernel`): ``weak[j, LOW_LOG]`` the smallest
``log2(1 + SINR)`` among its users, ``weak[j, WEAK_PART]`` the part of F_j from its *weak*
users (``log2(1 + SINR) < 1``), ``weak[j, LOW_STRONG_LOG]`` the smallest ``log2(1 + SINR)``
among the others (the *strong* users), ``weak[j, HIGH_LOG]`` the largest ``log2(1 + SINR)`` and
``weak[j, HIGH_SINR]`` that user's SINR (model "full"; for the bounds). Scalars:
``acc[LOCAL_S]`` the local users' total t^L, ``acc[SIDE_SUM]`` the side-constraint sum of q_i
over the offloaded users.
"""

from __future__ import annotations

import math

from numba import njit

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


@njit(cache=True, error_model="numpy", _nrt=False)
def _cell_cost(n, f, w, flops_j, cap_j, law_a, law_h, k):
    """The total delay of cell k with n users: n F + W / min(C^max, C / n) under "ps", n F + W
    h_k(n) under a table law (W then sums the users' b_i; their a_ij are in the fixed part,
    ``acc[LOCAL_S]``) (0 when empty)."""
    if n == 0:
        return 0.0
    if law_h is not None:
        return n * f + w * law_h[k, n - 1]
    return n * f + w / min(cap_j, flops_j / n)


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
def _local_change(u, p, v, q, a, t_local, law_a, law_h):
    """The change of the fixed part of T: the local users' t^L and, under a table law_a, law_h, the
    offloaded users' a_ij."""
    d = 0.0
    if a[u] < 0:
        d -= t_local[u]
    elif law_a is not None:
        d -= law_a[u, a[u]]
    if p < 0:
        d += t_local[u]
    elif law_a is not None:
        d += law_a[u, p]
    if v >= 0:
        if a[v] < 0:
            d -= t_local[v]
        elif law_a is not None:
            d -= law_a[v, a[v]]
        if q < 0:
            d += t_local[v]
        elif law_a is not None:
            d += law_a[v, q]
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
