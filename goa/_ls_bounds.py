"""The bounds and floors of ``goa_ls``'s kernel (:mod:`goa._ls_kernel`): cheap lower bounds of
a move's exact change of T (``_bound``, with the credits ``_credit`` and ``_pair_credit``) and
the log-free floors of swaps and exchanges (``_swap_floor``, ``_exchange_floor``), so that most
moves are rejected without an exact evaluation (docs/local_search.md, "Bounds").
"""

from __future__ import annotations

import math

from numba import njit

from ._ls_cells import (
    HIGH_LOG, HIGH_SINR, LOW_LOG, LOW_STRONG_LOG, LN2, WEAK_PART, _cell_cost, _compute, _fixed,
    _local_change, _log_sinr, _new_interference, _table, _unit)


@njit(cache=True, error_model="numpy", _nrt=False)
def _shrunk(k, strong, weak_part, i_new, i_old, weak, noise):
    """A lower bound of the sum of u_ik at interference i_new over some users of k, given that
    sum at i_old split into the users with log2(1 + SINR) >= 1 (``strong``) and the others.

    When the interference rises, r = (sigma^2 + i_new) / (sigma^2 + i_old) > 1 and
    log2(1 + SINR) / log2(1 + SINR / r) falls with the SINR: every u_ik grows at least by that
    ratio at the cell's largest SINR (strong users), at SINR 1 (weak users). When it falls, with r = (sigma^2 + i_old) /
    (sigma^2 + i_new) > 1, log2(1 + SINR r) <= log2(1 + SINR) + log2 r, so u_ik falls at most
    by the factor 1 / (1 + log2(r) / log2(1 + SINR)): at most 1 / (1 + log2(r) / weak[k, LOW_STRONG_LOG])
    for a strong user, 1 / (1 + log2(r) / weak[k, LOW_LOG]) for a weak one; and, log2(1 + x) being
    concave and 0 at 0, log2(1 + SINR r) <= r log2(1 + SINR): u_ik falls at most by 1 / r
    (the better bound for the weakest users, whose rate grows almost linearly with the SINR).
    """
    if i_new == i_old:
        return strong + weak_part
    if i_new > i_old:
        # SINR s becomes s / r with r > 1; log2(1 + s) / log2(1 + s / r) falls with s, so
        # u_ik grows at least by its value at the cell's largest SINR (weak[k, HIGH_SINR]; weak[k, HIGH_LOG]
        # = its log2(1 + s)) for the strong users and at s = 1 for the weak ones
        r = (noise[k] + i_new) / (noise[k] + i_old)
        grow = weak[k, HIGH_LOG] / math.log2(1.0 + weak[k, HIGH_SINR] / r) if weak[k, HIGH_SINR] > 0.0 else 1.0
        return strong * grow + weak_part / math.log2(1.0 + 1.0 / r)
    r = (noise[k] + i_old) / (noise[k] + i_new)
    ell = math.log2(r)
    return max(strong / r, strong / (1.0 + ell / weak[k, LOW_STRONG_LOG])) \
        + max(weak_part / r, weak_part / (1.0 + ell / weak[k, LOW_LOG]))


# -- state --------------------------------------------------------------------------------------


@njit(cache=True, error_model="numpy", _nrt=False)
def _cell_bound(k, u, p, v, q, a, full, n, f, w, interf, weak, cost, pg, bits, work,
                bandwidth, flops, cap, noise):
    """Lower bound of the change of cell k's delay (exact under "none"): the users staying keep
    their u_kj at the current I_k if it does not fall, else fall at most as ``_shrunk`` says;
    the users arriving are evaluated at the new I_k."""
    i_new = _new_interference(k, u, p, v, q, a, full, interf, pg)
    count = n[k]
    strong = f[k] - weak[k, WEAK_PART] if full else f[k]
    weak_part = weak[k, WEAK_PART] if full else 0.0
    load = w[k]
    for x in (u, v):
        if x >= 0 and a[x] == k:
            lg = _log_sinr(x, k, interf[k], pg, noise)
            if full and lg < 1.0:
                weak_part -= bits[x] / (bandwidth[k] * lg)
            else:
                strong -= bits[x] / (bandwidth[k] * lg)
            load -= work[x]
            count -= 1
    if full:
        stay = _shrunk(k, strong, weak_part, i_new, interf[k], weak, noise)
    else:
        stay = strong
    if p == k:
        stay += _unit(u, k, i_new, pg, bits, bandwidth, noise)
        load += work[u]
        count += 1
    if v >= 0 and q == k:
        stay += _unit(v, k, i_new, pg, bits, bandwidth, noise)
        load += work[v]
        count += 1
    return _cell_cost(count, stay, load, flops[k], cap[k]) - cost[k]


@njit(cache=True, error_model="numpy", _nrt=False)
def _bound(u, p, v, q, credit, a, full, n, f, w, interf, weak, cost, pg, bits, work, t_local,
           bandwidth, flops, cap, noise):
    """Lower bound of the move's change of T (exact under "none"): the cells whose users change
    (in the order u's old ES, p, v's old ES, q, each once), the local users, and, when u leaves
    an ES for local (drop, exchange), minus ``credit`` (what u's interference costs the other
    cells at most; see ``_credit``). Every other cell hears no less interference than before."""
    d = _local_change(u, p, v, q, a, t_local, cap)
    c1 = a[u]
    c2 = p
    c3 = a[v] if v >= 0 else -1
    c4 = q if v >= 0 else -1
    if c1 >= 0:
        d += _cell_bound(c1, u, p, v, q, a, full, n, f, w, interf, weak, cost, pg, bits, work,
                         bandwidth, flops, cap, noise)
    if c2 >= 0 and c2 != c1:
        d += _cell_bound(c2, u, p, v, q, a, full, n, f, w, interf, weak, cost, pg, bits, work,
                         bandwidth, flops, cap, noise)
    if c3 >= 0 and c3 != c1 and c3 != c2:
        d += _cell_bound(c3, u, p, v, q, a, full, n, f, w, interf, weak, cost, pg, bits, work,
                         bandwidth, flops, cap, noise)
    if c4 >= 0 and c4 != c1 and c4 != c2 and c4 != c3:
        d += _cell_bound(c4, u, p, v, q, a, full, n, f, w, interf, weak, cost, pg, bits, work,
                         bandwidth, flops, cap, noise)
    if full and c1 >= 0 and p < 0:
        d -= credit
    return d


@njit(cache=True, error_model="numpy", _nrt=False)
def _credit(u, a, n, f, interf, weak, pg, noise):
    """Model "full": an upper bound of how much the other cells' delays fall if u's
    interference disappears: sum over k != a_u of n_k (F_k - its ``_shrunk`` bound)."""
    total = 0.0
    for k in range(pg.shape[1]):
        if k != a[u] and n[k] > 0:
            total += n[k] * (f[k] - _shrunk(k, f[k] - weak[k, WEAK_PART], weak[k, WEAK_PART],
                                            interf[k] - pg[u, k], interf[k], weak, noise))
    return total


@njit(cache=True, error_model="numpy", _nrt=False)
def _pair_credit(u, v, a, n, f, interf, weak, pg, noise):
    """Model "full", an exchange (u: o -> local, v: local -> o): an upper bound of how much
    the other cells' delays fall, sum over k != o of n_k (F_k - its ``_shrunk`` bound at the
    new I_k = I_k - P_u g_uk + P_v g_vk). Tighter than ``_credit`` (which ignores v's
    interference), it is computed only for the exchanges that pass ``_credit``'s bound."""
    total = 0.0
    o = a[u]
    for k in range(pg.shape[1]):
        if k != o and n[k] > 0:
            i_new = _new_interference(k, u, -1, v, o, a, True, interf, pg)
            total += n[k] * (f[k] - _shrunk(k, f[k] - weak[k, WEAK_PART], weak[k, WEAK_PART], i_new,
                                            interf[k], weak, noise))
    return total


@njit(cache=True, error_model="numpy", _nrt=False)
def _swap_floor(u, p, v, cu, cv, a, full, unit_now, n, f, w, interf, cost, pg, bits, work,
                bandwidth, flops, cap, noise, lg0):
    """A lower bound of the swap's change (u: o -> p, v: p -> o) computed without a logarithm,
    never above ``_bound``'s (a filter in front of it: it changes no decision). In each of the
    two cells the staying users fall at most by 1 / r (see ``_shrunk``) and the arriving user's
    log2(1 + SINR) is at most both its value without interference (``lg0``, by target slot:
    ``cu`` the slot of p among u's targets, ``cv`` that of o among v's) and SINR / ln 2."""
    o = a[u]
    i_o = interf[o]
    i_p = interf[p]
    if full:  # u becomes audible at o, v at p; v stops being heard at o, u at p
        i_o += pg[u, o] - pg[v, o]
        i_p += pg[v, p] - pg[u, p]
    s_o = noise[o] + i_o
    s_p = noise[p] + i_p
    stay_o = f[o] - unit_now[u]
    if i_o < interf[o]:
        stay_o *= s_o / (noise[o] + interf[o])
    stay_p = f[p] - unit_now[v]
    if i_p < interf[p]:
        stay_p *= s_p / (noise[p] + interf[p])
    lg_v = lg0[v, cv]
    lg_u = lg0[u, cu]
    if full:
        lg_v = min(lg_v, pg[v, o] / s_o / LN2)
        lg_u = min(lg_u, pg[u, p] / s_p / LN2)
    d = n[o] * (stay_o + bits[v] / (bandwidth[o] * lg_v)) \
        + _compute(w[o] - work[u] + work[v], n[o], flops[o], cap[o]) - cost[o]
    d += n[p] * (stay_p + bits[u] / (bandwidth[p] * lg_u)) \
        + _compute(w[p] - work[v] + work[u], n[p], flops[p], cap[p]) - cost[p]
    if _table(cap):  # the a_ij of u and v change with their ESs
        d += _fixed(cap, u, p) - _fixed(cap, u, o) + _fixed(cap, v, o) - _fixed(cap, v, p)
    return d


@njit(cache=True, error_model="numpy", _nrt=False)
def _exchange_floor(u, v, cv, credit, a, full, unit_now, n, f, w, interf, cost, pg, bits,
                    work, t_local, bandwidth, flops, cap, noise, lg0):
    """A lower bound of the exchange's change (u: o -> local, v: local -> o) computed without
    a logarithm, never above ``_bound``'s (a filter in front of it): I_o does not change, the
    users staying on o keep their u_io, v's log2(1 + SINR) on o is at most its value without
    interference (``lg0[v, cv]``, cv the slot of o among v's targets) and SINR / ln 2; the
    other cells gain at most ``credit``."""
    o = a[u]
    lg = lg0[v, cv]
    if full:
        linear = pg[v, o] / (noise[o] + interf[o]) / LN2
        if linear < lg:
            lg = linear
    d = t_local[u] - t_local[v] - cost[o] + _cell_cost(
        n[o], f[o] - unit_now[u] + bits[v] / (bandwidth[o] * lg), w[o] - work[u] + work[v],
        flops[o], cap[o])
    if _table(cap):
        d += _fixed(cap, v, o) - _fixed(cap, u, o)
    return d - credit if full else d


# -- the search ---------------------------------------------------------------------------------
