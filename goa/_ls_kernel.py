"""Numba kernel of ``goa_ls``: iterated local search on the exact total delay T(a) of (P).

The readable twin is :mod:`goa.reference_ls`; it keeps the same state, enumerates the same moves
in the same order and does the same floating-point operations in the same order, so the two
take identical decisions (a test proves it). The algorithm, the incremental formulas and the
bounds are described in ``docs/local_search.md``; in short:

State (per ES j): ``mem[j, :n[j]]`` its users (in list order: appended at the end, removed by
moving the last one into the hole), ``n[j]``; row M of ``mem`` and ``n`` lists the local
users the same way; ``W[j]`` = sum of W^E_i, ``I[j]`` = interference
power heard at j (model "full"; 0 under "none"), ``F[j]`` = sum over its users of the
unit communication time ``u_ij = D_i / (B_j log2(1 + P_i g_ij / (sigma_j^2 + I_j)))``,
``weak[j, :]`` the extremes of log2(1 + SINR) in the cell that the bounds read (its named
columns: :mod:`goa._ls_cells`), ``cost[j] = n_j F_j + W_j / min(C^max_j, C_j / n_j)``, the
cell's total delay. Scalars in ``acc``: ``acc[LOCAL_S]`` the local users' total t^L,
``acc[SIDE_SUM]`` the side-constraint sum of q_i over the offloaded users. T(a) =
acc[LOCAL_S] + sum_j cost[j]. ``unit_now[i]`` = u_ij of an offloaded user i on its ES j at the
current I_j, and ``lg0[i, c]`` = log2(1 + SINR) of user i on its c-th target ES without
interference (both for the log-free floors).

The cell formulas and the column names are :mod:`goa._ls_cells`; the bounds and floors that
reject most moves without an exact evaluation are :mod:`goa._ls_bounds`; this module keeps the
state, evaluates moves exactly, and drives the search.

A move changes at most two users: ``u -> p`` and (if ``v >= 0``) ``v -> q``; -1 is local.

Array arguments as in :mod:`goa._kernels`: ``pg`` (N, M), ``bits``, ``work``, ``t_local``,
``bandwidth``, ``flops``, ``cap``, ``noise``, ``full``.
"""

from __future__ import annotations

import time

import numpy as np
from numba import njit, objmode

from ._ls_bounds import _bound, _credit, _exchange_floor, _pair_credit, _swap_floor
from ._ls_cells import (
    HIGH_LOG, HIGH_SINR, LOCAL_S, LOW_LOG, LOW_STRONG_LOG, SIDE_SUM, WEAK_COLUMNS, WEAK_PART,
    _cell_cost, _fixed, _heard, _local_change, _log_sinr, _new_interference, _table, _unit)

# A move is applied only if it lowers the tracked T by more than this fraction of T: it keeps
# float noise in the incremental sums from ever making the descent cycle.
REL_TOL = 1e-10
CHECK_EVERY = 16  # users scanned between two clock reads when a deadline is set
# A log-free floor (``_swap_floor``) skips a swap only if it is above the best change so far by
# more than this fraction of T: far more than the floor's and the bound's rounding errors, so
# the skipped swaps are exactly those ``_bound`` would reject.
FLOOR_SLACK = 1e-12

# The helpers allocate nothing and are compiled without numba's reference counting
# (``_nrt=False``): with it, every call that passes arrays pays atomic increments and
# decrements of each array's count, which made a move evaluation 20-50x slower. Only
# ``local_search`` allocates (its work arrays), and it keeps reference counting.

# trace kinds
MOVE, KICK, ROUND, MERGE = 0, 1, 2, 3

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


@njit(cache=True, _nrt=False)
def _next_random(rng):
    """splitmix64: the next 64-bit number of the generator whose state is ``rng[0]``."""
    z = rng[0] + _GOLDEN
    rng[0] = z
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> np.uint64(31))


@njit(cache=True, _nrt=False)
def _random_below(rng, count):
    """A number in 0..count-1 (the 64-bit draw modulo count)."""
    return np.int64(_next_random(rng) % np.uint64(count))


@njit(cache=True)
def _now():
    with objmode(now="float64"):
        now = time.perf_counter()
    return now


# -- per-cell arithmetic ------------------------------------------------------------------------


@njit(cache=True, error_model="numpy", _nrt=False)
def _refresh(k, full, mem, unit_now, n, f, w, interf, weak, cost, pg, bits, bandwidth, flops, cap,
             noise):
    """Recompute cell k's F and weak (model "full": from its users, in list order) and cost."""
    if full:
        total = 0.0
        low = np.inf
        low_strong = np.inf
        high = 0.0
        top = 0.0
        part = 0.0
        for idx in range(n[k]):
            x = mem[k, idx]
            lg = _log_sinr(x, k, interf[k], pg, noise)
            unit = bits[x] / (bandwidth[k] * lg)
            unit_now[x] = unit
            total += unit
            if lg < 1.0:
                part += unit
            elif lg < low_strong:
                low_strong = lg
            if lg < low:
                low = lg
            if lg > high:
                high = lg
                top = pg[x, k] / (noise[k] + interf[k])
        f[k] = total
        weak[k, LOW_LOG] = low
        weak[k, WEAK_PART] = part
        weak[k, LOW_STRONG_LOG] = low_strong
        weak[k, HIGH_LOG] = high
        weak[k, HIGH_SINR] = top
    cost[k] = _cell_cost(n[k], f[k], w[k], flops[k], cap[k])


@njit(cache=True, error_model="numpy", _nrt=False)
def _rebuild(a, full, side_q, mem, pos, unit_now, n, f, w, interf, weak, cost, acc, pg, bits, work,
             t_local, bandwidth, flops, cap, noise):
    """Every cache from scratch (users in index order); returns T(a)."""
    nu, m = pg.shape
    n[:] = 0  # the M servers and the local row M
    w[:] = 0.0
    f[:] = 0.0
    interf[:] = 0.0
    acc[LOCAL_S] = 0.0
    acc[SIDE_SUM] = 0.0
    for i in range(nu):
        j = a[i]
        row = j if j >= 0 else m
        mem[row, n[row]] = i
        pos[i] = n[row]
        n[row] += 1
        if j < 0:
            acc[LOCAL_S] += t_local[i]
        else:
            if _table(cap):
                acc[LOCAL_S] += _fixed(cap, i, j)
            w[j] += work[i]
            acc[SIDE_SUM] += side_q[i]
            if full:
                for k in range(m):
                    if k != j:
                        interf[k] += pg[i, k]
    for k in range(m):
        if not full:
            for idx in range(n[k]):
                x = mem[k, idx]
                unit_now[x] = _unit(x, k, 0.0, pg, bits, bandwidth, noise)
                f[k] += unit_now[x]
        _refresh(k, full, mem, unit_now, n, f, w, interf, weak, cost, pg, bits, bandwidth, flops,
                 cap, noise)
    return _total(acc, cost)


@njit(cache=True, error_model="numpy", _nrt=False)
def _total(acc, cost):
    total = acc[LOCAL_S]
    for k in range(cost.size):
        total += cost[k]
    return total


@njit(cache=True, error_model="numpy", _nrt=False)
def _move_user(x, p, a, full, side_q, mem, pos, unit_now, n, f, w, interf, acc, pg, bits, work,
               t_local, bandwidth, noise, cap):
    """Move user x to p (-1 local): membership, n, W, I, the local total and the side sum;
    under "none" F is updated incrementally (under "full" the caller refreshes F)."""
    o = a[x]
    m = pg.shape[1]
    row = o if o >= 0 else m
    last = mem[row, n[row] - 1]
    mem[row, pos[x]] = last
    pos[last] = pos[x]
    n[row] -= 1
    row = p if p >= 0 else m
    mem[row, n[row]] = x
    pos[x] = n[row]
    n[row] += 1
    if o >= 0:
        w[o] -= work[x]
        if not full:
            f[o] -= _unit(x, o, 0.0, pg, bits, bandwidth, noise)
        if n[o] == 0:
            w[o] = 0.0
            f[o] = 0.0
        acc[SIDE_SUM] -= side_q[x]
        if _table(cap):
            acc[LOCAL_S] -= _fixed(cap, x, o)
    else:
        acc[LOCAL_S] -= t_local[x]
    if p >= 0:
        w[p] += work[x]
        if _table(cap):
            acc[LOCAL_S] += _fixed(cap, x, p)
        if not full:
            unit_now[x] = _unit(x, p, 0.0, pg, bits, bandwidth, noise)
            f[p] += unit_now[x]
        acc[SIDE_SUM] += side_q[x]
    else:
        acc[LOCAL_S] += t_local[x]
    if full:
        for k in range(pg.shape[1]):
            interf[k] += _heard(x, o, p, k, pg)
    a[x] = p


@njit(cache=True, error_model="numpy", _nrt=False)
def _apply(u, p, v, q, a, full, side_q, mem, pos, unit_now, n, f, w, interf, weak, cost, acc, pg,
           bits, work, t_local, bandwidth, flops, cap, noise):
    """Apply the move (u -> p, then v -> q if v >= 0) and refresh the cells it changed (every
    cell under "full" when a user enters or leaves local); returns the new tracked T."""
    m = pg.shape[1]
    ou = a[u]
    ov = a[v] if v >= 0 else -1
    _move_user(u, p, a, full, side_q, mem, pos, unit_now, n, f, w, interf, acc, pg, bits, work,
               t_local, bandwidth, noise, cap)
    if v >= 0:
        _move_user(v, q, a, full, side_q, mem, pos, unit_now, n, f, w, interf, acc, pg, bits, work,
                   t_local, bandwidth, noise, cap)
    local_involved = ou < 0 or p < 0 or (v >= 0 and (ov < 0 or q < 0))
    for k in range(m):
        if (full and local_involved) or k == ou or k == p or (v >= 0 and (k == ov or k == q)):
            _refresh(k, full, mem, unit_now, n, f, w, interf, weak, cost, pg, bits, bandwidth,
                     flops, cap, noise)
    return _total(acc, cost)


# -- move evaluation ----------------------------------------------------------------------------


@njit(cache=True, error_model="numpy", _nrt=False)
def _exact_full(u, p, v, q, a, mem, n, w, interf, cost, pg, bits, work, t_local, bandwidth,
                flops, cap, noise):
    """Model "full": the exact change of T, every cell whose users or interference change
    recomputed from its users (list order, then the arriving u, then v)."""
    d = _local_change(u, p, v, q, a, t_local, cap)
    ou = a[u]
    ov = a[v] if v >= 0 else -1
    for k in range(pg.shape[1]):
        i_new = _new_interference(k, u, p, v, q, a, True, interf, pg)
        members = k == ou or k == p or (v >= 0 and (k == ov or k == q))
        if not members and i_new == interf[k]:
            continue
        total = 0.0
        count = 0
        for idx in range(n[k]):
            x = mem[k, idx]
            if x != u and x != v:
                total += _unit(x, k, i_new, pg, bits, bandwidth, noise)
                count += 1
        load = w[k]
        if ou == k:
            load -= work[u]
        if v >= 0 and ov == k:
            load -= work[v]
        if p == k:
            total += _unit(u, k, i_new, pg, bits, bandwidth, noise)
            load += work[u]
            count += 1
        if v >= 0 and q == k:
            total += _unit(v, k, i_new, pg, bits, bandwidth, noise)
            load += work[v]
            count += 1
        d += _cell_cost(count, total, load, flops[k], cap[k]) - cost[k]
    return d


@njit(cache=True, error_model="numpy", _nrt=False)
def _merge_delta(src, dst, full, mem, n, f, w, interf, cost, pg, bits, bandwidth, flops, cap,
                 noise):
    """The exact change of T if every user of ES ``src`` moves to ES ``dst``. No other cell
    changes: a user of src is heard at every k other than src and dst before and after."""
    i_new = interf[dst]
    if full:
        for idx in range(n[src]):
            i_new -= pg[mem[src, idx], dst]
        total = 0.0
        for idx in range(n[dst]):
            total += _unit(mem[dst, idx], dst, i_new, pg, bits, bandwidth, noise)
    else:
        total = f[dst]
    for idx in range(n[src]):
        total += _unit(mem[src, idx], dst, i_new, pg, bits, bandwidth, noise)
    d = _cell_cost(n[dst] + n[src], total, w[dst] + w[src], flops[dst], cap[dst]) \
        - cost[dst] - cost[src]
    if _table(cap):  # the users' a_ij: from src's to dst's
        for idx in range(n[src]):
            x = mem[src, idx]
            d += _fixed(cap, x, dst) - _fixed(cap, x, src)
    return d


@njit(cache=True, error_model="numpy", _nrt=False)
def _merge(src, dst, a, full, side_q, mem, pos, unit_now, n, f, w, interf, weak, cost, acc, pg,
           bits, work, t_local, bandwidth, flops, cap, noise):
    """Move every user of src to dst (the last of src's list first); returns the tracked T."""
    while n[src] > 0:
        _move_user(mem[src, n[src] - 1], dst, a, full, side_q, mem, pos, unit_now, n, f, w, interf,
                   acc, pg, bits, work, t_local, bandwidth, noise, cap)
    for k in (src, dst):
        _refresh(k, full, mem, unit_now, n, f, w, interf, weak, cost, pg, bits, bandwidth, flops,
                 cap, noise)
    return _total(acc, cost)


@njit(cache=True, error_model="numpy", _nrt=False)
def _scan_merges(total, full, mem, n, f, w, interf, cost, pg, bits, bandwidth, flops, cap,
                 noise, best_move):
    """The best improving merge (src, dst), src and dst in index order, src non-empty; the
    same acceptance rule as for user moves. Returns its change (0.0 if none)."""
    m = pg.shape[1]
    best = -REL_TOL * total
    found = False
    for src in range(m):
        if n[src] == 0:
            continue
        for dst in range(m):
            if dst == src:
                continue
            d = _merge_delta(src, dst, full, mem, n, f, w, interf, cost, pg, bits, bandwidth,
                             flops, cap, noise)
            if d < best:
                best = d
                best_move[0], best_move[1] = src, dst
                found = True
    return best if found else 0.0


@njit(cache=True, error_model="numpy", _nrt=False)
def _scan_user(u, total, a, forced, targets, is_target, lg0, use_side, side_q, side_min, full, mem,
               pos, unit_now, n, f, w, interf, weak, cost, acc, pg, bits, work, t_local, bandwidth,
               flops, cap, noise, best_move):
    """Find user u's best improving move, in this order: u local: add to each target ES; u on
    ES o: relocate to each other target ES, drop to local (if not forced), swap with every user
    v of each other target ES that has o among its targets (list order), exchange with every
    local user v (local list order) that has o among its targets (u local, v to o; u not
    forced). ``is_target[j, i]``: j is among user i's targets.
    A candidate must lower T by more than REL_TOL T and beat the best so far strictly (so the
    first of equal moves wins); its bound is checked first, the exact change only if the bound
    passes (under "none" the bound is exact). Swaps and exchanges first pass a log-free floor
    (``_swap_floor``, ``_exchange_floor``), exchanges then ``_bound`` with ``_credit`` and with
    ``_pair_credit``: filters that change no decision, only how many logarithms are taken.
    Returns the best change (0.0 if none) and writes (u, p, v, q) into ``best_move``."""
    m = pg.shape[1]
    best = -REL_TOL * total
    found = False
    o = a[u]
    credit = 0.0
    if full and o >= 0 and not forced[u]:
        credit = _credit(u, a, n, f, interf, weak, pg, noise)
    # the candidates: kind 0 single moves (u -> p), kind 1 swaps, kind 2 exchanges
    for kind in range(3):
        if kind == 0:
            count = targets.shape[1] + (1 if o >= 0 and not forced[u] else 0)
        elif kind == 1:
            count = targets.shape[1] if o >= 0 else 0
        else:
            count = n[m] if o >= 0 and not forced[u] else 0
        for c in range(count):
            if kind == 2:
                v = mem[m, c]
                if not is_target[o, v]:
                    continue
                if use_side and acc[SIDE_SUM] - side_q[u] + side_q[v] < side_min:
                    continue
                cv = 0
                while targets[v, cv] != o:
                    cv += 1
                if _exchange_floor(u, v, cv, credit, a, full, unit_now, n, f, w, interf, cost,
                                   pg, bits, work, t_local, bandwidth, flops, cap, noise, lg0) \
                        >= best + FLOOR_SLACK * total:
                    continue
                d = _bound(u, -1, v, o, credit, a, full, n, f, w, interf, weak, cost, pg, bits,
                           work, t_local, bandwidth, flops, cap, noise)
                if d < best and full:
                    d = _bound(u, -1, v, o, _pair_credit(u, v, a, n, f, interf, weak, pg, noise),
                               a, full, n, f, w, interf, weak, cost, pg, bits, work, t_local,
                               bandwidth, flops, cap, noise)
                if d < best and full:
                    d = _exact_full(u, -1, v, o, a, mem, n, w, interf, cost, pg, bits, work,
                                    t_local, bandwidth, flops, cap, noise)
                if d < best:
                    best = d
                    best_move[0], best_move[1], best_move[2], best_move[3] = u, -1, v, o
                    found = True
                continue
            if kind == 0:
                p = targets[u, c] if c < targets.shape[1] else -1
                if p == o:
                    continue
                if use_side and o < 0 and acc[SIDE_SUM] + side_q[u] < side_min:
                    continue
                if use_side and p < 0 and acc[SIDE_SUM] - side_q[u] < side_min:
                    continue
                d = _bound(u, p, -1, -1, credit, a, full, n, f, w, interf, weak, cost, pg,
                           bits, work, t_local, bandwidth, flops, cap, noise)
                if d < best and full:
                    d = _exact_full(u, p, -1, -1, a, mem, n, w, interf, cost, pg, bits, work,
                                    t_local, bandwidth, flops, cap, noise)
                if d < best:
                    best = d
                    best_move[0], best_move[1], best_move[2], best_move[3] = u, p, -1, -1
                    found = True
                continue
            p = targets[u, c]
            if p == o:
                continue
            for idx in range(n[p]):
                v = mem[p, idx]
                if not is_target[o, v]:
                    continue
                cv = 0
                while targets[v, cv] != o:
                    cv += 1
                if _swap_floor(u, p, v, c, cv, a, full, unit_now, n, f, w, interf, cost, pg,
                               bits, work, bandwidth, flops, cap, noise, lg0) \
                        >= best + FLOOR_SLACK * total:
                    continue
                d = _bound(u, p, v, o, credit, a, full, n, f, w, interf, weak, cost, pg, bits,
                           work, t_local, bandwidth, flops, cap, noise)
                if d < best and full:
                    d = _exact_full(u, p, v, o, a, mem, n, w, interf, cost, pg, bits, work,
                                    t_local, bandwidth, flops, cap, noise)
                if d < best:
                    best = d
                    best_move[0], best_move[1], best_move[2], best_move[3] = u, p, v, o
                    found = True
    return best if found else 0.0


@njit(cache=True, error_model="numpy", _nrt=False)
def _record(trace_int, trace_delta, count, kind, u, p, v, q, delta):
    """Append one trace entry if there is room; returns the new count."""
    if count < trace_int.shape[0]:
        trace_int[count, 0] = kind
        trace_int[count, 1] = u
        trace_int[count, 2] = p
        trace_int[count, 3] = v
        trace_int[count, 4] = q
        trace_delta[count] = delta
    return count + 1


@njit(cache=True, error_model="numpy")
def local_search(start, forced, targets, is_target, use_side, side_q, side_min, max_rounds,
                 patience, kick, seed, deadline, trace_int, trace_delta, pg, bits, work,
                 t_local, bandwidth, flops, cap, noise, full):
    """Iterated local search from ``start``; see the module docstring and docs/local_search.md.

    1. Descent: sweep the users in index order; for each, apply its best improving move
       (``_scan_user``); repeat sweeps until one applies no move.
    2. Up to ``max_rounds`` rounds, stopping after ``patience`` rounds in a row without a new
       best: kick ``kick`` users (each: a uniform user; a uniform choice among its target ESs
       and, if not forced, local; skipped if it is its current place or breaks the side
       constraint), descend, rebuild the caches; a strictly better T becomes the best, else the
       search returns to the best.
    3. ``deadline`` (a ``time.perf_counter()`` value, <= 0 for none) stops the search at the next
       check (every CHECK_EVERY users of a sweep, and between rounds).

    Returns (best assignment, its T in s, start T in s, rounds, moves, trace length, stop) with
    stop 0 = converged / patience, 1 = max_rounds, 2 = deadline. ``trace_int`` rows
    (kind, u, p, v, q) and ``trace_delta`` record every applied move with its change of the
    tracked T (kind MOVE), every kick move (KICK, delta 0) and every round's end (ROUND, u = 1
    if it gave a new best, else 0: back to the best).
    """
    nu, m = pg.shape
    a = start.copy()
    mem = np.empty((m + 1, nu), np.int64)
    pos = np.empty(nu, np.int64)
    n = np.zeros(m + 1, np.int64)
    f = np.zeros(m)
    w = np.zeros(m)
    interf = np.zeros(m)
    weak = np.zeros((m, WEAK_COLUMNS))
    weak[:, 0] = np.inf
    weak[:, 2] = np.inf
    cost = np.zeros(m)
    acc = np.zeros(2)
    rng = np.array([seed], np.uint64)
    move = np.empty(4, np.int64)
    timed = deadline > 0.0
    stop = 0
    moves = 0
    traced = 0

    unit_now = np.zeros(nu)  # each offloaded user's u_ij on its ES (for _swap_floor)
    lg0 = np.empty(targets.shape)  # log2(1 + SINR) without interference, per target slot
    for i in range(nu):
        for c in range(targets.shape[1]):
            lg0[i, c] = _log_sinr(i, targets[i, c], 0.0, pg, noise)
    start_total = _rebuild(a, full, side_q, mem, pos, unit_now, n, f, w, interf, weak, cost, acc,
                           pg, bits, work, t_local, bandwidth, flops, cap, noise)
    best = a.copy()
    best_total = start_total
    rounds = -1  # round -1 is the first descent, from the start
    stall = 0
    while True:
        if rounds >= 0:
            for _ in range(kick * (1 + stall // 10)):
                x = _random_below(rng, nu)
                choices = targets.shape[1] + (0 if forced[x] else 1)
                c = _random_below(rng, choices)
                p = targets[x, c] if c < targets.shape[1] else -1
                if p == a[x]:
                    continue
                if use_side and acc[SIDE_SUM] - (side_q[x] if a[x] >= 0 else 0.0) \
                        + (side_q[x] if p >= 0 else 0.0) < side_min:
                    continue
                _apply(x, p, -1, -1, a, full, side_q, mem, pos, unit_now, n, f, w, interf, weak,
                       cost, acc, pg, bits, work, t_local, bandwidth, flops, cap, noise)
                traced = _record(trace_int, trace_delta, traced, KICK, x, p, -1, -1, 0.0)
        total = _total(acc, cost)
        improved = True
        while improved and stop == 0:
            improved = False
            for u in range(nu):
                if timed and u % CHECK_EVERY == 0 and _now() >= deadline:
                    stop = 2
                    break
                d = _scan_user(u, total, a, forced, targets, is_target, lg0, use_side, side_q,
                               side_min, full, mem, pos, unit_now, n, f, w, interf, weak, cost,
                               acc, pg, bits, work, t_local, bandwidth, flops, cap, noise, move)
                if d < 0.0:
                    total = _apply(move[0], move[1], move[2], move[3], a, full, side_q, mem,
                                   pos, unit_now, n, f, w, interf, weak, cost, acc, pg, bits, work,
                                   t_local, bandwidth, flops, cap, noise)
                    traced = _record(trace_int, trace_delta, traced, MOVE, move[0], move[1],
                                     move[2], move[3], d)
                    moves += 1
                    improved = True
            if stop == 0:
                d = _scan_merges(total, full, mem, n, f, w, interf, cost, pg, bits, bandwidth,
                                 flops, cap, noise, move)
                if d < 0.0:
                    total = _merge(move[0], move[1], a, full, side_q, mem, pos, unit_now, n, f, w,
                                   interf, weak, cost, acc, pg, bits, work, t_local, bandwidth,
                                   flops, cap, noise)
                    traced = _record(trace_int, trace_delta, traced, MERGE, move[0], move[1],
                                     -1, -1, d)
                    moves += 1
                    improved = True
        total = _rebuild(a, full, side_q, mem, pos, unit_now, n, f, w, interf, weak, cost, acc, pg,
                         bits, work, t_local, bandwidth, flops, cap, noise)
        if total < best_total:
            best[:] = a
            best_total = total
            stall = 0
            traced = _record(trace_int, trace_delta, traced, ROUND, 1, -1, -1, -1, 0.0)
        else:
            if rounds >= 0:  # the first descent is no round: it cannot stall
                stall += 1
            a[:] = best
            _rebuild(a, full, side_q, mem, pos, unit_now, n, f, w, interf, weak, cost, acc, pg,
                     bits, work, t_local, bandwidth, flops, cap, noise)
            traced = _record(trace_int, trace_delta, traced, ROUND, 0, -1, -1, -1, 0.0)
        rounds += 1
        if stop == 0 and timed and _now() >= deadline:
            stop = 2
        if stop != 0 or stall >= patience:
            break
        if rounds >= max_rounds:
            stop = 1
            break
    return best, best_total, start_total, rounds, moves, traced, stop
