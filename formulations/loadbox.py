"""Exact search and lower bounds under interference "full" at any N: best-first search over
boxes of load vectors, then over users.

A box fixes a range ``lo_j <= n_j <= hi_j`` for the load of every ES j, and possibly the option
of some users (home or a server). For every assignment in the box, the total delay is bounded
below by the value of one assignment problem (rows: users; columns: slots on the servers and at
home) plus a constant, both computed from the box alone (:func:`box_bound`). The search takes
the box with the smallest bound and splits the widest load range; once the loads are a single
vector, it branches on one user: on the option the box's own assignment problem gives it, or
banned from that option (point 5). The smallest bound over the open
boxes is a valid lower bound on the optimum at every moment; when it reaches the incumbent, the
incumbent is optimal. Every assignment problem's own solution is a feasible assignment:
evaluated exactly, it feeds the incumbent.

The bound of a box (docs/model.md sections 3, 4 and 8.3), for an assignment with server sets
S_j, loads n_j = |S_j| in the box, K = sum_j n_j offloaded users and interference
I_j = sum over offloaded users k not on j of s_kj (s_kj = P_k g_kj):

1. *Interference range.* |O \\ S_j| = K - n_j = sum_{j' != j} n_j' >= sum_{j' != j} lo_j', and
   at least |F| - hi_j of those users are forced (every forced user is offloaded and at most n_j
   of them sit on j). So I_j >= Ilb_j, the smallest sum of that many received powers at j with
   that many forced ones; and I_j <= Iub_j, the sum of the sum_{j' != j} hi_j' largest.
2. *Chord.* The comm delay per unit of load, c_ij(I) = D_i / (B_j log2(1 + s_ij / (sigma_j + I))),
   is increasing and concave in I: with u = sigma_j + I and x = s_ij / u, d/du [1/ln(1 + s/u)] =
   1 / (u (u + s) ln^2(1 + s/u)), whose denominator grows with u because its derivative has
   the sign of (2u + s) ln(1 + s/u) - 2s >= 0 (ln(1 + x) >= 2x / (2 + x) for x >= 0). A
   concave function lies above its chord: c_ij(I) >= c_ij(Ilb_j) + rho_ij (I - Ilb_j) on
   [Ilb_j, Iub_j], rho_ij >= 0 the chord's slope.
3. *Server j's delay.* sum_{i in S_j} [n_j c_ij(I_j) + W_i g_j(n_j)] (g_j(n) = max(1/C^max_j,
   n/C_j); under a table law, a_ij + b_i h_j(n_j): b_i plays W_i's part, h_j g_j's, and a_ij
   joins the per-user term) is at least, with L_j = max(lo_j, 1):
   - per user: L_j c_ij(Ilb_j) + W_i g_j(L_j) (n_j >= L_j whenever S_j is not empty);
   - per server: E_j(n_j) = (n_j - L_j) Csm_j(n_j) + (g_j(n_j) - g_j(L_j)) Wsm_j(n_j), where
     Csm_j(n) and Wsm_j(n) are the sums of the n smallest c_ij(Ilb_j) and W_i over the users that
     may sit on j at load n: the load's growth above L_j, charged to the slots beyond lo_j
     (increments made nondecreasing by a running minimum from the right, so the assignment
     problem fills them in order and their sum never exceeds E_j);
   - interference: n_j (sum_{i in S_j} rho_ij) (I_j - Ilb_j) >= theta_j (I_j - Ilb_j) with
     theta_j = lo_j x (the sum of the lo_j smallest rho_ij) (0 when lo_j = 0: then S_j may be
     empty and I_j need not exceed Ilb_j). Since I_j is a sum over the other servers' users,
     theta_j I_j is paid by the polluters: a user k on server p pays sum_{j != p} theta_j s_kj,
     and the constant -sum_j theta_j Ilb_j is added once.
4. *Who may sit where.* A free user whose delay exceeds its local delay would go home, which
   lowers T (its own delay falls; the load and the interference of everyone else fall too); so
   in an optimum a free user sits on j only at loads n with f_ij(n) <= t^L_i, f_ij the delay
   without interference (the "none" reductions of :mod:`formulations.data` hold under "full"),
   and, in a box, only where n c_ij(Ilb_j) + W_i g_j(n) <= t^L_i. Both conditions only get
   harder as n grows, so the slots of a server can be filled in order.

5. *Fixed users.* In a box where some users are fixed, a user fixed on another server always
   interferes at j (its s_kj joins Ilb_j and Iub_j as a known part), a user fixed on j or at
   home never does, and the unfixed forced users beyond hi_j minus the users fixed on j
   interfere; theta_j = max(lo_j, f_j) x (the slopes of the f_j users fixed on j + the
   lo_j - f_j smallest of the others), and a fixed user takes only its own columns. With every
   user fixed, Ilb_j is the true interference and the bound is T of that assignment.
   A free user *banned* from some options (binary branching) may not take their columns (nor
   count among the slopes theta_j draws from); banned from home it is offloaded, so it counts
   with the forced users in point 1, and banned from home and from j it always interferes at j.
6. *Reduced-cost fixing.* The transportation problem below is a linear program with integral
   optima; its dual (the sinks' potentials pi, the rows' u_i = min_b cost_ib - pi_b) gives every
   plan of the box the value D + sum of its cells' reduced costs cost_ib - u_i - pi_b >= 0, with
   D = sum u + capacity . pi <= the optimum. So every assignment of the box putting user i on
   option o has T >= D + (i's smallest reduced cost on o's sinks) + const; where that reaches
   the incumbent's T, no better assignment has i on o, and the search bans i from o in the
   box's children (a user left with one option is fixed on it). The box's own bound does not
   change; its children's do, through points 1, 3 and 5. Only boxes solved on the
   transportation path are fixed (``reduced_cost_fixing``; scipy gives no duals).

*Solving the assignment problem.* The mandatory slots of a server all cost the same, and so do
home's: the assignment problem is a balanced transportation problem with a sink per server's
mandatory slots, one per optional slot and two for home (M + 1 sinks at a single load vector),
which :func:`formulations.transport.transport_kernel` solves in microseconds; boxes wider than
``transport_max_width`` in all go to scipy's ``linear_sum_assignment`` on the slots. The loop of
:func:`box_cells` and the narrow boxes' costs are compiled (``_cells_kernel``,
``_box_transport_kernel``); the readable loops stay (``compiled_cells = False``,
``use_transport = False``) as the reference the tests compare them with.

So T(a) >= AP(box) + const for every assignment a in the box, and min over the open boxes is a
lower bound on the optimum; the tree is finite and its leaves are exact, so the search is
complete. The bound is multiplied by ``1 - 1e-9`` against rounding.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import heapq
import math
import multiprocessing
import os

import numba
import numpy as np
from scipy.optimize import linear_sum_assignment

from instances.result import Status

from .data import InterferenceFreeDelays
from .outcome import Clock, Outcome
from .transport import transport_kernel

# Relative safety margin on every bound (rounding in the chord and the assignment sums).
BOUND_SAFETY = 1e-9
# A box whose bound is within this relative margin of the incumbent is closed.
PRUNE_RTOL = 1e-9
# formulations.solve's defaults: boxes split per step once WORKER_START_BOXES boxes are
# bounded (one a step before), and the environment variable that sets the worker processes
# (default: the cores; they start then too)
DEFAULT_BATCH = 64
WORKERS_ENV = "LLM_OFFLOADING_SOLVER_WORKERS"
WORKER_START_BOXES = 20000
# ``fix[i]``: FREE (-2) a free user, -1 home, j >= 0 server j; below FREE, a free user banned
# from some options: bit j of ``FREE - fix[i]`` bans server j, bit M (the number of servers)
# bans home (binary branching on a user, :func:`_split`).
FREE = -2


def is_free(fix: np.ndarray) -> np.ndarray:
    """Users not fixed by a branch (possibly banned from some options)."""
    return fix <= FREE


def banned(fix: np.ndarray, option: int, n_servers: int) -> np.ndarray:
    """Users a branch banned from ``option`` (a server, or -1 for home)."""
    bit = n_servers if option < 0 else option
    return (fix < FREE) & (((FREE - fix) >> bit) & 1).astype(bool)


class BoxBoundConstants:
    """The constants of (P) under "full" that the box bounds read (seconds, watts): the users'
    data, the received powers and their sorted cumulative sums per server.

    ``signal_w`` (N, M) s_ij; ``delays`` the orthogonal-cell constants (their ``nmax`` and
    ``load_max`` are the reductions of point 4 of the module docstring).
    """

    def __init__(self, arrays: dict, delays: InterferenceFreeDelays) -> None:
        self.forced = np.asarray(arrays["forced"], dtype=bool)
        self.local_s = arrays["local_s"]
        self.prompt_bits = arrays["prompt_bits"]
        # under a table law t^comp = a_ij + b_i h_j(n): b plays W's part, h_j g_j's, and a_ij
        # is added to every per-user cost (``law_a``; None under "ps")
        self.law_h = arrays["law_h"] if arrays["law_table"] else None
        self.law_a = arrays["law_a"] if arrays["law_table"] else None
        self.work_flop = arrays["law_b"] if arrays["law_table"] else arrays["work_flop"]
        self.signal_w = arrays["signal_w"]
        self.noise_w = arrays["noise_w"]
        self.bandwidth_hz = arrays["bandwidth_hz"]
        self.inv_cap = 1.0 / arrays["cap_flops"]
        self.inv_flops = 1.0 / arrays["flops"]
        self.nmax = delays.nmax
        self.load_max = np.asarray(delays.load_max, dtype=np.int64)
        n, m = self.signal_w.shape
        self.n_users, self.n_servers = n, m
        self.n_forced = int(self.forced.sum())
        self.n_free = n - self.n_forced
        # cumulative sums of the received powers at each server, ascending, forced and free apart
        s = self.signal_w
        self._cum_forced = np.vstack([np.zeros(m), np.cumsum(np.sort(s[self.forced], axis=0),
                                                             axis=0)])
        self._cum_free = np.vstack([np.zeros(m), np.cumsum(np.sort(s[~self.forced], axis=0),
                                                           axis=0)])
        self._cum_desc = np.vstack([np.zeros(m), np.cumsum(-np.sort(-s, axis=0), axis=0)])
        # a forced user never sits at home: an infinite cost, a cell the assignment problem
        # cannot take (scipy's linear_sum_assignment treats inf as forbidden)
        self.home = np.where(self.forced, math.inf, self.local_s)
        # single load vectors solved as transportation problems (False: the N x N assignment
        # problem of every box, the reference the tests compare with)
        self.use_transport = True
        # ... and boxes whose load ranges are at most this wide in all (a sink per optional
        # slot: wider boxes go to scipy on the slots; 16 was chosen, not tuned)
        self.transport_max_width = 16
        # reduced-cost fixing (point 6) in the search's boxes on the transportation path
        self.reduced_cost_fixing = True
        # box_cells' loop compiled (False: the readable loop, the reference the tests compare
        # with); the compute time per FLOP at every load 1..N, and a_ij (0 under "ps")
        self.compiled_cells = True
        self.g_table = np.empty((m, n + 1))
        for j in range(m):
            self.g_table[j, 1:] = self.g(j, np.arange(1, n + 1))
        self.g_table[:, 0] = self.g_table[:, 1]
        self.law_a_or_zero = np.zeros((n, m)) if self.law_a is None \
            else np.ascontiguousarray(self.law_a, dtype=np.float64)

    def g(self, j: int, n) -> np.ndarray:
        """Compute time per FLOP of one user at load n on server j: max(1/C^max_j, n/C_j);
        under a table law, h_j(n) (n >= 1)."""
        if self.law_h is not None:
            return self.law_h[j, np.asarray(n, dtype=np.int64) - 1]
        return np.maximum(self.inv_cap[j], np.asarray(n, dtype=np.float64) * self.inv_flops[j])

    def comm_per_load(self, j: int, interference_w: float) -> np.ndarray:
        """c_ij(I) for every user i: the comm delay per unit of load on j under interference I."""
        sinr = self.signal_w[:, j] / (self.noise_w[j] + interference_w)
        return self.prompt_bits / (self.bandwidth_hz[j] * np.log2(1.0 + sinr))

    def interference_of(self, assignment: np.ndarray) -> np.ndarray:
        """I_j (M,) of an assignment: the received power at j of the offloaded users not on j."""
        served = assignment >= 0
        total = self.signal_w[served].sum(axis=0)
        own = np.bincount(assignment[served], weights=self.signal_w[served, assignment[served]],
                          minlength=self.n_servers)
        return total - own

    def interference_low(self, j: int, others: int, forced_others: int) -> float:
        """The smallest sum of ``others`` received powers at j among users of which at least
        ``forced_others`` are forced (point 1)."""
        t = np.arange(max(forced_others, 0), min(self.n_forced, others) + 1)
        t = t[others - t <= self.n_free]
        if t.size == 0:
            return math.inf
        return float(np.min(self._cum_forced[t, j] + self._cum_free[others - t, j]))

    def interference_high(self, j: int, others: int) -> float:
        """The largest sum of ``others`` received powers at j."""
        return float(self._cum_desc[min(others, self.n_users), j])

    def interference_range(self, j: int, others_lo: int, others_hi: int, forced_max_on_j: int,
                           fix: np.ndarray | None) -> tuple[float, float]:
        """(Ilb_j, Iub_j) of point 1, with users fixed by a branch (``fix[i]``: -2 free, -1
        home, else the server): users fixed on another server always interfere at j, users
        fixed on j or at home never do; ``forced_max_on_j`` bounds the unfixed forced users on
        j. ``(inf, inf)`` if no assignment fits."""
        if fix is None or np.all(fix == FREE):
            forced_others = max(0, self.n_forced - forced_max_on_j)
            low = self.interference_low(j, max(others_lo, forced_others), forced_others)
            return low, max(self.interference_high(j, others_hi), low)
        s = self.signal_w[:, j]
        # a free user banned from home is offloaded (as if forced); banned from j too, it
        # always interferes at j, as a user fixed on another server does
        must = self.forced | banned(fix, -1, self.n_servers)
        unfixed = is_free(fix)
        elsewhere = unfixed & must & banned(fix, j, self.n_servers)
        fixed_other = ((fix >= 0) & (fix != j)) | elsewhere
        unfixed &= ~elsewhere
        known = float(s[fixed_other].sum())
        n_other = int(fixed_other.sum())
        need = max(others_lo - n_other, 0)
        forced_need = max(0, int((unfixed & must).sum()) - forced_max_on_j)
        need = max(need, forced_need)
        small_forced = np.concatenate([[0.0], np.cumsum(np.sort(s[unfixed & must]))])
        small_free = np.concatenate([[0.0], np.cumsum(np.sort(s[unfixed & ~must]))])
        t = np.arange(forced_need, min(small_forced.size - 1, need) + 1)
        t = t[need - t <= small_free.size - 1]
        if t.size == 0:
            return math.inf, math.inf
        low = known + float(np.min(small_forced[t] + small_free[need - t]))
        top = np.sort(s[unfixed])[::-1][:max(others_hi - n_other, 0)].sum()
        return low, max(known + float(top), low)

    def root(self) -> tuple[np.ndarray, np.ndarray]:
        """The box of every load vector an optimum may have."""
        return np.zeros(self.n_servers, dtype=np.int64), self.load_max.copy()

    def home_range(self, lo: np.ndarray, hi: np.ndarray) -> tuple[int, int]:
        """Users at home: N - K with K in [sum lo, sum hi], K >= |F| (forced never home)."""
        return (max(0, self.n_users - int(hi.sum())),
                min(self.n_free, self.n_users - int(lo.sum())))


@numba.njit(cache=True)
def _fixed_ranges(signal_w, forced, fix, lo, hi, fixed_on):
    """(Ilb_j, Iub_j) of every server j in a box with users fixed or banned by a branch: the
    compiled twin of :meth:`BoxBoundConstants.interference_range` (same rules; sums taken in
    row order, so equal to it to rounding: ``tests/test_bounds.py`` compares them)."""
    n, m = signal_w.shape
    lows = np.empty(m)
    highs = np.empty(m)
    sum_lo, sum_hi = lo.sum(), hi.sum()
    must_s = np.empty(n)
    free_s = np.empty(n)
    for j in range(m):
        known = 0.0
        n_other = 0
        n_must = 0
        n_free = 0
        for i in range(n):
            f = fix[i]
            if f >= 0:
                if f != j:
                    known += signal_w[i, j]
                    n_other += 1
                continue
            if f == -1:
                continue
            mask = FREE - f  # a free user; bit j bans server j, bit m bans home
            must = forced[i] or ((mask >> m) & 1) == 1
            if must and ((mask >> j) & 1) == 1:  # offloaded, and not on j: interferes
                known += signal_w[i, j]
                n_other += 1
            elif must:
                must_s[n_must] = signal_w[i, j]
                n_must += 1
            else:
                free_s[n_free] = signal_w[i, j]
                n_free += 1
        forced_need = max(0, n_must - (hi[j] - fixed_on[j]))
        need = max(max(sum_lo - lo[j] - n_other, 0), forced_need)
        small_must = np.zeros(n_must + 1)
        small_must[1:] = np.cumsum(np.sort(must_s[:n_must]))
        small_free = np.zeros(n_free + 1)
        small_free[1:] = np.cumsum(np.sort(free_s[:n_free]))
        low = math.inf
        for t in range(forced_need, min(n_must, need) + 1):
            if need - t <= n_free:
                low = min(low, small_must[t] + small_free[need - t])
        if low == math.inf:
            lows[j] = math.inf
            highs[j] = math.inf
            continue
        low += known
        both = np.sort(np.concatenate((must_s[:n_must], free_s[:n_free])))[::-1]
        take = min(max(sum_hi - hi[j] - n_other, 0), both.size)
        top = 0.0
        for k in range(take):
            top += both[k]
        lows[j] = low
        highs[j] = max(known + top, low)
    return lows, highs


class BoxCells:
    """What a box's assignment problems read, per server j (module docstring, points 1-5):
    ``i_low``/``i_high`` (M,) the interference range [Ilb_j, Iub_j]; ``c_low`` (N, M) c_ij(Ilb_j);
    ``rho`` (N, M) the chord slopes; ``theta`` (M,) the McCormick coefficients of point 3;
    ``allowed[j]`` (N, hi_j - lo_j + 1) who may sit on j at each load of the box; ``h_lo``,
    ``h_hi`` the range of users at home."""

    def __init__(self, lo, hi, fix, h_lo, h_hi, n, m) -> None:
        self.lo, self.hi, self.fix, self.h_lo, self.h_hi = lo, hi, fix, h_lo, h_hi
        self.rho = np.zeros((n, m))
        self.c_low = np.zeros((n, m))
        self.i_low = np.zeros(m)
        self.i_high = np.zeros(m)
        self.theta = np.zeros(m)
        self.allowed: list[np.ndarray] = []
        self.allowed3: np.ndarray | None = None  # (N, M, widest + 1) when compiled


def box_cells(data: BoxBoundConstants, lo: np.ndarray, hi: np.ndarray,
              fix: np.ndarray | None = None) -> BoxCells | None:
    """The interference ranges, chords, allowed slots and McCormick coefficients of a box
    (``fix``: -2 free, -1 home, else the server); ``None`` when they prove it empty."""
    n, m = data.n_users, data.n_servers
    h_lo, h_hi = data.home_range(lo, hi)
    if h_lo > h_hi or int(lo.sum()) + h_lo > n:
        return None
    fixed_on = np.zeros(m, dtype=np.int64)
    if fix is not None:
        fixed_on = np.bincount(fix[fix >= 0], minlength=m)
        if np.any(fixed_on > hi) or int(np.count_nonzero(fix == -1)) > h_hi:
            return None
    cells = BoxCells(lo, hi, fix, h_lo, h_hi, n, m)
    branched = fix is not None and not np.all(fix == FREE)
    if data.compiled_cells:
        return _compiled_cells(data, cells, branched)
    if branched:  # every server's range in one compiled pass (interference_range's twin)
        lows, highs = _fixed_ranges(data.signal_w, data.forced, fix, lo.astype(np.int64),
                                    hi.astype(np.int64), fixed_on.astype(np.int64))
    for j in range(m):
        others_lo = int(lo.sum() - lo[j])
        others_hi = int(hi.sum() - hi[j])
        if branched:
            low, high = float(lows[j]), float(highs[j])
        else:
            low, high = data.interference_range(j, others_lo, others_hi, int(hi[j]), None)
        if not math.isfinite(low):
            return None
        c_low = data.comm_per_load(j, low)
        if high > low:
            rho = (data.comm_per_load(j, high) - c_low) / (high - low)
            rho = np.maximum(rho, 0.0)
        else:
            rho = np.zeros(n)
        loads = np.arange(int(lo[j]), int(hi[j]) + 1)
        # allowed[i, t]: user i may sit on j at load lo_j + t (point 4, with the interference
        # at least Ilb_j: a free user slower there than at home is never on j in an optimum)
        loads1 = np.maximum(loads, 1)
        own = loads1[None, :] * c_low[:, None] \
            + data.work_flop[:, None] * data.g(j, loads1)[None, :]
        if data.law_a is not None:
            own += data.law_a[:, j][:, None]
        allowed = (data.nmax[:, j][:, None] >= loads1[None, :]) \
            & (data.forced[:, None] | (own <= data.local_s[:, None]))
        if fix is not None:  # users fixed or banned elsewhere never sit on j; fixed on j do
            allowed &= ((is_free(fix) & ~banned(fix, j, m)) | (fix == j))[:, None]
            allowed[fix == j, :] = True
        cells.rho[:, j] = rho
        cells.c_low[:, j] = c_low
        cells.i_low[j] = low
        cells.i_high[j] = high
        if lo[j] >= 1 or fixed_on[j] >= 1:
            # sum over S_j of rho >= the fixed users' slopes + the smallest of the others
            ok = allowed[:, 0]
            mine = np.zeros(n, dtype=bool) if fix is None else fix == j
            rest = max(int(lo[j]) - int(fixed_on[j]), 0)
            pool = np.sort(rho[ok & ~mine])
            if pool.size < rest:
                return None
            cells.theta[j] = max(int(lo[j]), int(fixed_on[j])) * (rho[mine].sum()
                                                                   + pool[:rest].sum())
        cells.allowed.append(allowed)
    return cells


def _compiled_cells(data: BoxBoundConstants, cells: BoxCells, branched: bool) -> BoxCells | None:
    """:func:`box_cells`'s loop over the servers in one call of :func:`_cells_kernel`."""
    n, m = data.n_users, data.n_servers
    lo, hi = cells.lo.astype(np.int64), cells.hi.astype(np.int64)
    fix = cells.fix if branched else np.full(n, FREE, dtype=np.int64)
    ok, i_low, i_high, c_low, rho, allowed, theta = _cells_kernel(
        data.signal_w, data.noise_w, data.bandwidth_hz, data.prompt_bits, data.work_flop,
        data.local_s, data.forced, data.nmax, data.g_table, data.law_a_or_zero,
        data._cum_forced, data._cum_free, data._cum_desc, data.n_forced, data.n_free, lo, hi,
        fix.astype(np.int64), branched)
    if not ok:
        return None
    cells.i_low, cells.i_high, cells.c_low, cells.rho, cells.theta = i_low, i_high, c_low, rho, \
        theta
    cells.allowed = [allowed[:, j, :hi[j] - lo[j] + 1] for j in range(m)]
    cells.allowed3 = allowed
    return cells


def _compiled_transport_problem(data: BoxBoundConstants, cells: BoxCells, comm: np.ndarray,
                                mu: np.ndarray, ap_cutoff: float = math.inf, out: dict | None = None):
    """:func:`box_problem` of a narrow box whose cells are compiled, as a balanced
    transportation problem (a sink per server's mandatory slots, one per optional slot, two
    for home; dummy rows take optional slots at no cost): the same problem as the assignment
    problem on the slots, built and solved in one call of :func:`_box_transport_kernel`."""
    n_slots = int(cells.hi.sum()) + cells.h_hi
    n_optional = int((cells.hi - cells.lo).sum()) + cells.h_hi - cells.h_lo
    if n_slots < data.n_users or n_slots - data.n_users > n_optional:
        return math.inf, None
    fix = cells.fix if cells.fix is not None else np.full(data.n_users, FREE, dtype=np.int64)
    feasible, value, assignment, new_fix = _box_transport_kernel(
        np.ascontiguousarray(comm, dtype=np.float64), data.work_flop, data.g_table,
        data.law_a_or_zero, cells.allowed3, cells.lo.astype(np.int64),
        cells.hi.astype(np.int64), np.ascontiguousarray(mu, dtype=np.float64), data.signal_w,
        data.home, fix.astype(np.int64), cells.h_lo, cells.h_hi, data.forced,
        float(ap_cutoff))
    if not feasible:
        return math.inf, None
    if not math.isfinite(value):
        raise FloatingPointError(f"box_bound: assignment problem value {value!r}")
    if out is not None and ap_cutoff < math.inf:
        out["fix"] = new_fix
    return float(value), assignment


@numba.njit(cache=True)
def _box_transport_kernel(c, work, g_table, law_a, allowed, lo, hi, mu, signal_w, home, fix,
                          h_lo, h_hi, forced, ap_cutoff):
    """The compiled twin of :func:`box_problem` on the transportation path: the per-user cost
    at load L_j, the load's growth E_j (point 3: the increments to the optional slots, made
    nondecreasing by a running minimum from the right), the pollution paid at mu, the sinks of
    :func:`_compiled_transport_problem`; solved by the transport kernel. Returns (feasible, value,
    assignment, fix with the bans of :func:`_reduced_cost_bans` when ``ap_cutoff`` is finite)."""
    n, m = c.shape
    pollution = signal_w @ mu
    n_sinks = 2
    for j in range(m):
        n_sinks += 1 + hi[j] - lo[j]
    n_slots = hi.sum() + h_hi
    rows = n_slots
    cost = np.full((rows, n_sinks), math.inf)
    capacity = np.zeros(n_sinks, dtype=np.int64)
    column = np.empty(n_sinks, dtype=np.int64)
    optional = np.zeros(n_sinks, dtype=np.bool_)
    sink = 0
    for j in range(m):
        ell = max(lo[j], 1)
        width = hi[j] - lo[j]
        energy = np.zeros(width + 1)
        pick = np.empty(n)
        pick_w = np.empty(n)
        for t in range(1, width + 1):
            load = lo[j] + t
            if load <= ell:
                continue
            size = 0
            for i in range(n):
                if allowed[i, j, t]:
                    pick[size] = c[i, j]
                    pick_w[size] = work[i]
                    size += 1
            if size < load:  # no assignment has this load: the growth stops here
                for r in range(t, width + 1):
                    energy[r] = energy[t - 1]
                break
            c_sorted = np.sort(pick[:size])
            w_sorted = np.sort(pick_w[:size])
            c_small = 0.0
            w_small = 0.0
            for k in range(load):
                c_small += c_sorted[k]
                w_small += w_sorted[k]
            energy[t] = (load - ell) * c_small + (g_table[j, load] - g_table[j, ell]) * w_small
        steps = np.empty(width)
        for t in range(width):
            steps[t] = energy[t + 1] - energy[t]
        for t in range(width - 2, -1, -1):
            steps[t] = min(steps[t], steps[t + 1])
        column[sink] = j
        capacity[sink] = lo[j]
        for i in range(n):
            if allowed[i, j, 0]:
                cost[i, sink] = ell * c[i, j] + work[i] * g_table[j, ell] + law_a[i, j] \
                    + pollution[i] - signal_w[i, j] * mu[j]
        for t in range(1, width + 1):
            column[sink + t] = j
            capacity[sink + t] = 1
            optional[sink + t] = True
            for i in range(n):
                if allowed[i, j, t]:
                    cost[i, sink + t] = ell * c[i, j] + work[i] * g_table[j, ell] \
                        + law_a[i, j] + pollution[i] - signal_w[i, j] * mu[j] + steps[t - 1]
        sink += 1 + width
    column[sink] = -1
    capacity[sink] = h_lo
    column[sink + 1] = -1
    capacity[sink + 1] = h_hi - h_lo
    optional[sink + 1] = True
    for i in range(n):
        cost[i, sink] = home[i]
        cost[i, sink + 1] = home[i]
    for i in range(n, rows):  # dummies take optional slots at no cost
        for b in range(n_sinks):
            if optional[b]:
                cost[i, b] = 0.0
    for i in range(n):
        f = fix[i]
        if f >= -1:  # a fixed user takes only its own sinks
            for b in range(n_sinks):
                if column[b] != f:
                    cost[i, b] = math.inf
        elif f < FREE and ((FREE - f) >> m) & 1 == 1:  # banned from home
            cost[i, sink] = math.inf
            cost[i, sink + 1] = math.inf
    for i in range(rows):
        for b in range(n_sinks):
            if math.isnan(cost[i, b]):
                raise FloatingPointError("box_bound: NaN in the assignment problem's costs")
    feasible, value, placed, pi = transport_kernel(cost, capacity)
    assignment = np.full(n, -1, dtype=np.int64)
    new_fix = fix.copy()
    if feasible:
        for i in range(n):
            assignment[i] = column[placed[i]]
        if ap_cutoff < math.inf:
            _reduced_cost_bans(cost, capacity, column, pi, n, m, fix, forced, ap_cutoff, new_fix)
    return feasible, value, assignment, new_fix


@numba.njit(cache=True)
def _reduced_cost_bans(cost, capacity, column, pi, n, m, fix, forced, ap_cutoff, new_fix):
    """Reduced-cost fixing (module docstring, point 6) on a solved transportation problem: with
    the sinks' duals ``pi`` and the rows' ``u_i = min_b cost[i, b] - pi[b]`` (dual feasible by
    construction, whatever ``pi`` is), ``D = sum u + capacity . pi`` is at most the value of
    every transportation plan, and a plan putting user i on option o costs at least ``D`` plus
    i's smallest reduced cost ``cost[i, b] - u_i - pi[b]`` over o's sinks. Where that reaches
    ``ap_cutoff``, ``new_fix`` bans i from o; a user left with one option is fixed on it."""
    rows, n_sinks = cost.shape
    u = np.empty(rows)
    dual = 0.0
    for b in range(n_sinks):
        dual += capacity[b] * pi[b]
    for i in range(rows):
        best = math.inf
        for b in range(n_sinks):
            if cost[i, b] < math.inf and cost[i, b] - pi[b] < best:
                best = cost[i, b] - pi[b]
        u[i] = best
        dual += best
    if not dual < math.inf:
        return
    # a margin for rounding in the sums: a ban needs the cutoff cleared by it
    margin = 1e-9 * (abs(dual) + abs(ap_cutoff))
    rc = np.empty(m + 1)  # per option: servers 0..m-1, home at m
    for i in range(n):
        f = fix[i]
        if f > FREE:  # fixed by a branch
            continue
        for o in range(m + 1):
            rc[o] = math.inf
        for b in range(n_sinks):
            o = column[b] if column[b] >= 0 else m
            r = cost[i, b] - u[i] - pi[b]
            if r < rc[o]:
                rc[o] = r
        mask = FREE - f
        for o in range(m + 1):
            if o == m and forced[i]:
                continue
            if dual + rc[o] - margin >= ap_cutoff:
                mask |= 1 << o
        left = -3
        count = 0
        for o in range(m + 1):
            if not (o == m and forced[i]) and (mask >> o) & 1 == 0:
                count += 1
                left = o
        if count == 1:
            new_fix[i] = -1 if left == m else left
        elif count > 1:
            new_fix[i] = FREE - mask


@numba.njit(cache=True)
def _cells_kernel(signal_w, noise_w, bandwidth_hz, prompt_bits, work, local_s, forced, nmax,
                  g_table, law_a, cum_forced, cum_free, cum_desc, n_forced, n_free, lo, hi, fix,
                  branched):
    """The compiled twin of :func:`box_cells`'s loop (points 1-5 of the module docstring, the
    same rules; sums taken in row order, so equal to it to rounding: ``tests/test_bounds.py``
    compares them): (ok, Ilb, Iub, c_ij(Ilb_j), rho, allowed (N, M, widest range + 1),
    theta); ok is False when a range or theta proves the box empty."""
    n, m = signal_w.shape
    fixed_on = np.zeros(m, dtype=np.int64)
    for i in range(n):
        if fix[i] >= 0:
            fixed_on[fix[i]] += 1
    sum_lo, sum_hi = lo.sum(), hi.sum()
    if branched:
        lows, highs = _fixed_ranges(signal_w, forced, fix, lo, hi, fixed_on)
    else:
        lows = np.empty(m)
        highs = np.empty(m)
        for j in range(m):
            forced_others = max(0, n_forced - hi[j])
            others = max(sum_lo - lo[j], forced_others)
            low = math.inf
            for t in range(forced_others, min(n_forced, others) + 1):
                if others - t <= n_free:
                    low = min(low, cum_forced[t, j] + cum_free[others - t, j])
            lows[j] = low
            highs[j] = max(cum_desc[min(sum_hi - hi[j], n), j], low)
    width = 1
    for j in range(m):
        width = max(width, hi[j] - lo[j] + 1)
    c_low = np.zeros((n, m))
    rho = np.zeros((n, m))
    allowed = np.zeros((n, m, width), dtype=np.bool_)
    theta = np.zeros(m)
    for j in range(m):
        low, high = lows[j], highs[j]
        if not math.isfinite(low):
            return False, lows, highs, c_low, rho, allowed, theta
        for i in range(n):
            c_low[i, j] = prompt_bits[i] / (bandwidth_hz[j] * math.log2(
                1.0 + signal_w[i, j] / (noise_w[j] + low)))
            if high > low:
                c_high = prompt_bits[i] / (bandwidth_hz[j] * math.log2(
                    1.0 + signal_w[i, j] / (noise_w[j] + high)))
                rho[i, j] = max((c_high - c_low[i, j]) / (high - low), 0.0)
            f = fix[i]
            if f == j:
                for t in range(hi[j] - lo[j] + 1):
                    allowed[i, j, t] = True
                continue
            if f >= -1 or (f < FREE and ((FREE - f) >> j) & 1 == 1):
                continue  # fixed elsewhere (or at home), or banned from j
            for t in range(hi[j] - lo[j] + 1):
                load = max(lo[j] + t, 1)
                own = load * c_low[i, j] + work[i] * g_table[j, load] + law_a[i, j]
                allowed[i, j, t] = nmax[i, j] >= load and (forced[i] or own <= local_s[i])
        if lo[j] >= 1 or fixed_on[j] >= 1:
            mine = 0.0
            pool = np.empty(n)
            size = 0
            for i in range(n):
                if fix[i] == j:
                    mine += rho[i, j]
                elif allowed[i, j, 0]:
                    pool[size] = rho[i, j]
                    size += 1
            rest = max(lo[j] - fixed_on[j], 0)
            if size < rest:
                return False, lows, highs, c_low, rho, allowed, theta
            smallest = np.sort(pool[:size])
            total = mine
            for k in range(rest):
                total += smallest[k]
            theta[j] = max(lo[j], fixed_on[j]) * total
    return True, lows, highs, c_low, rho, allowed, theta


def box_problem(data: BoxBoundConstants, cells: BoxCells, mu: np.ndarray,
                comm: np.ndarray | None = None, ap_cutoff: float = math.inf,
                out: dict | None = None):
    """Solve one assignment problem of a box: a user on j pays its delay there with the comm
    delay per unit of load ``comm[:, j]`` (c_ij(Ilb_j) of point 3 when ``None``; c_ij at
    another point of [Ilb_j, Iub_j] for :mod:`formulations.loaddual`) plus the load's growth,
    and a user on p pays ``sum_{j != p} mu_j s_kj`` as a polluter; home costs t^L_i. Returns
    (its value, the assignment), or ``(inf, None)`` if no assignment avoids every forbidden
    cell. The caller subtracts the constant ``sum_j mu_j I_j`` at the interference it chose
    (with ``mu = theta`` and Ilb_j: :func:`box_bound`).

    ``ap_cutoff`` finite (on the transportation path only): ``out["fix"]`` receives the box's
    fix with the bans of reduced-cost fixing against that value of the problem (point 6)."""
    n, m = data.n_users, data.n_servers
    lo, hi, fix = cells.lo, cells.hi, cells.fix
    c_all = cells.c_low if comm is None else comm
    if cells.allowed3 is not None and data.use_transport \
            and int((hi - lo).sum()) <= data.transport_max_width:
        return _compiled_transport_problem(data, cells, c_all, mu, ap_cutoff, out)
    base = np.empty((n, m))
    extras = []
    for j in range(m):
        c = c_all[:, j]
        allowed = cells.allowed[j]
        ell = max(int(lo[j]), 1)
        loads = np.arange(int(lo[j]), int(hi[j]) + 1)
        alone = ell * c + data.work_flop * data.g(j, ell)
        if data.law_a is not None:
            alone = alone + data.law_a[:, j]
        base[:, j] = np.where(allowed[:, 0], alone, math.inf)
        # E_j(n) for n = lo..hi, increments to the optional slots (point 3)
        energy = np.zeros(loads.size)
        for t, load in enumerate(loads):
            if load <= ell:
                continue
            ok = allowed[:, t]
            if ok.sum() < load:  # no assignment has this load (hi <= load_max prevents it)
                energy[t:] = energy[t - 1]
                break
            c_small = np.sort(c[ok])[:load].sum()
            w_small = np.sort(data.work_flop[ok])[:load].sum()
            energy[t] = (load - ell) * c_small + (data.g(j, load) - data.g(j, ell)) * w_small
        steps = np.diff(energy)
        steps = np.minimum.accumulate(steps[::-1])[::-1] if steps.size else steps
        extras.append(steps)
    # pollution: a user on p pays sum_{j != p} mu_j s_kj
    pollution = data.signal_w @ mu
    cost_on = base + pollution[:, None] - data.signal_w * mu[None, :]

    # columns: per server lo_j mandatory + (hi_j - lo_j) optional slots, then home slots
    columns, mandatory, slot_extra = [], [], []
    for j in range(m):
        k_lo, k_hi = int(lo[j]), int(hi[j])
        columns += [j] * k_hi
        mandatory += [True] * k_lo + [False] * (k_hi - k_lo)
        slot_extra += [0.0] * k_lo + list(extras[j])
    columns += [-1] * cells.h_hi
    mandatory += [True] * cells.h_lo + [False] * (cells.h_hi - cells.h_lo)
    slot_extra += [0.0] * cells.h_hi
    columns = np.asarray(columns, dtype=np.int64)
    mandatory = np.asarray(mandatory, dtype=bool)
    slot_extra = np.asarray(slot_extra)
    n_cols = columns.size
    n_dummies = n_cols - n
    if n_dummies < 0 or n_dummies > int((~mandatory).sum()):
        return math.inf, None
    cost = np.empty((n + n_dummies, n_cols))
    on_server = columns >= 0
    cost[:n, on_server] = cost_on[:, columns[on_server]] + slot_extra[on_server][None, :]
    cost[:n, ~on_server] = data.home[:, None]
    # slot loads: user i may fill the t-th slot of j only if allowed at that load
    start = 0
    for j in range(m):
        k_hi = int(hi[j])
        if k_hi:
            allowed = cells.allowed[j]
            # slot q (0-based) of j carries load max(lo_j, q + 1)
            q = np.arange(k_hi)
            t = np.maximum(q + 1 - int(lo[j]), 0)
            cost[:n, start:start + k_hi][~allowed[:, t]] = math.inf
        start += k_hi
    if fix is not None:  # a fixed user takes only its own columns
        for i in np.flatnonzero(fix >= -1):
            cost[i, columns != fix[i]] = math.inf
        # a user banned from home (servers: its cells are not allowed above)
        cost[np.ix_(np.flatnonzero(banned(fix, -1, m)), np.flatnonzero(columns < 0))] = math.inf
    cost[n:] = np.where(mandatory, math.inf, 0.0)[None, :]
    if np.isnan(cost).any():
        raise FloatingPointError("box_bound: NaN in the assignment problem's costs")
    try:
        rows, cols = linear_sum_assignment(cost)
    except ValueError as error:  # no assignment avoids every forbidden cell: the box is empty
        if "infeasible" not in str(error):
            raise
        return math.inf, None
    value = float(cost[rows, cols].sum())
    if not math.isfinite(value):
        raise FloatingPointError(f"box_bound: assignment problem value {value!r}")
    assignment = np.full(n, -1, dtype=np.int64)
    users = rows < n
    assignment[rows[users]] = columns[cols[users]]
    return value, assignment


def box_bound(data: BoxBoundConstants, lo: np.ndarray, hi: np.ndarray, fix: np.ndarray | None = None,
              details: dict | None = None, cutoff: float = math.inf):
    """A lower bound (seconds) on T over all assignments with loads in the box (and, if given,
    the users fixed as ``fix`` says: -2 free, -1 home, else the server), and the assignment
    solving the box's assignment problem; ``(inf, None)`` only when the box holds no
    assignment (its loads, fixed users or allowed cells admit none). ``details``, if given,
    receives the chord slopes ``rho`` (N, M), the interference floors ``i_low`` (M,) and the
    box's :class:`BoxCells` (``cells``). Forbidden cells of the assignment problem are
    infinite (scipy's own marker of a cell that may not be used), never a large finite
    stand-in: a box is empty only when scipy finds no assignment avoiding them, not when a
    value crosses a threshold that real costs could reach. Raises FloatingPointError on a NaN
    cost or a non-finite value (a bug, never pruned silently).

    ``cutoff`` finite (seconds; the search passes its incumbent's T): reduced-cost fixing
    (point 6) on boxes solved on the transportation path; ``details["fix"]`` then receives
    ``fix`` with the users banned from the options where no assignment of the box gets below
    the cutoff (the box's own bound is unchanged: its children are bounded with the bans).

    See the module docstring for the argument.
    """
    cells = box_cells(data, lo, hi, fix)
    if cells is None:
        return math.inf, None
    constant = float(cells.theta @ cells.i_low)
    out: dict = {}
    value, assignment = box_problem(data, cells, cells.theta,
                                    ap_cutoff=cutoff + constant if cutoff < math.inf else math.inf,
                                    out=out)
    if assignment is None:
        return math.inf, None
    if details is not None:
        details["rho"] = cells.rho
        details["i_low"] = cells.i_low
        details["cells"] = cells
        if "fix" in out:
            details["fix"] = out["fix"]
    return value - constant, assignment


def solve_loadbox(data: BoxBoundConstants, clock: Clock, incumbent: np.ndarray,
                  evaluate_s, improve, *, max_boxes: int | None = None,
                  dual=None, batch: int = 1, workers: int = 1,
                  user_branch: str = "binary", target_gap: float = 0.0) -> Outcome:
    """Best-first search over load-vector boxes (module docstring) from a feasible incumbent.

    ``evaluate_s(assignment)`` is T in seconds; ``improve(assignment)`` a local search returning
    (assignment, T). Returns OPTIMAL when every open box's bound reaches the incumbent (to
    ``PRUNE_RTOL``), WORK_LIMIT once ``max_boxes`` boxes are bounded (the work budget: one
    assignment problem per box), else TIME_LIMIT at the clock's limit; the bound is the
    smallest over the open boxes either way. Deterministic up to where the clock stops it: with
    a box budget that stops it first, the same on every machine.

    ``dual``, if given (``formulations.solve(..., dual_rounds=R)`` passes
    :func:`formulations.loaddual.dual_bound` with R rounds): a box with a single load vector,
    when it is first taken, is bounded again by ``dual(data, cells, mccormick=bound,
    max_problems=...)`` (a ``DualBound``) and put back with the larger bound; every assignment
    problem the dual solves counts against ``max_boxes``. Off by default: it measured worse per
    unit of work (docs/bounds.md).

    ``batch`` > 1: once ``WORKER_START_BOXES`` boxes are bounded, each step takes the
    ``batch`` best open boxes (instead of the best one) and bounds all their children, which
    ``workers`` > 1 processes share (contiguous parts, results merged in order; the worker
    processes start then). Before, one box a step: a short search stays best-first, which
    small budgets need (N = 50, seed 0, 300 boxes: 7.8 % left one box a step, 14.0 % 64 at a
    time). Results depend on ``batch`` only, never on ``workers``: the same boxes
    are bounded in the same order and the incumbent is updated in that order.

    ``user_branch``: how a single load vector branches on a user (:func:`_split`): "binary"
    (the default) or "all" (one child per option, the rule before 2026-12-06).

    ``target_gap`` > 0: stop as soon as the certified gap, (incumbent - bound) / bound, is at
    most ``target_gap`` (a fraction: 0.01 is 1 %), with status WORK_LIMIT and
    ``info["stop"] = "target_gap"`` (a target reached, not a proof). It depends only on the
    boxes bounded, so it is as deterministic as ``max_boxes``. 0 (the default): off.

    Raises
    ------
    FloatingPointError
        If the root box's bound is not finite (the root holds every assignment, so a finite
        (P) has a finite bound there: anything else is a bug), or a box's assignment problem
        has a NaN cost or a non-finite value.
    """
    if user_branch not in ("binary", "all"):
        raise ValueError(f"user_branch: must be 'binary' or 'all', got {user_branch!r}")
    if not 0.0 <= target_gap < 1.0:
        raise ValueError(f"target_gap: must be a number in [0, 1), got {target_gap!r}")
    with _children_bounder(data, workers) as bound_children:
        return _search(data, clock, incumbent, evaluate_s, improve, max_boxes, dual, batch,
                       bound_children, user_branch, target_gap)


def _bound_child(data: BoxBoundConstants, child: tuple, cutoff: float = math.inf):
    """(bound, assignment, the user it will branch on, its fix) of one child box: the fix with
    the bans of reduced-cost fixing against ``cutoff`` (:func:`box_bound`) where it applies, else
    the child's own."""
    details: dict = {}
    bound, a = box_bound(data, *child, details, cutoff=cutoff if data.reduced_cost_fixing
                         else math.inf)
    lo, hi, fix = child
    if a is None:
        return bound, a, None, fix
    if bound < cutoff and "fix" in details:
        fix = details["fix"]
    return bound, a, _branch_user(data, lo, hi, fix, a, details), fix


_WORKER_DATA: BoxBoundConstants | None = None


def _worker_init(data: BoxBoundConstants) -> None:
    global _WORKER_DATA
    _WORKER_DATA = data


def _worker_bound(children: list, cutoff: float) -> list:
    return [_bound_child(_WORKER_DATA, child, cutoff) for child in children]


def default_workers() -> int:
    """The processes a search uses when ``formulations.solve`` is not told: the environment
    variable ``LLM_OFFLOADING_SOLVER_WORKERS`` if set (the benchmarks' executor sets it to the
    cores each task may use), else the cores this process may run on."""
    value = os.environ.get(WORKERS_ENV)
    if value is not None:
        try:
            workers = int(value)
        except ValueError:
            workers = 0
        if workers < 1:
            raise ValueError(f"{WORKERS_ENV}: must be an integer >= 1, got {value!r}")
        return workers
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # no affinity on this platform
        return os.cpu_count() or 1


@contextlib.contextmanager
def _children_bounder(data: BoxBoundConstants, workers: int):
    """A function ``bound(children, boxes)`` bounding a list of child boxes, in order: in this
    process, or split into ``workers`` contiguous parts, this process bounding the first and
    ``workers - 1`` worker processes the others (the same results). The worker processes start
    once the search has bounded ``WORKER_START_BOXES`` boxes, so a short search never pays for
    starting them."""
    if workers <= 1:
        yield lambda children, boxes, cutoff: [_bound_child(data, child, cutoff)
                                               for child in children]
        return
    context = multiprocessing.get_context(
        "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn")
    with contextlib.ExitStack() as stack:
        pools = []

        def bound_children(children, boxes, cutoff):
            if len(children) < 2 * workers or boxes < WORKER_START_BOXES:
                return [_bound_child(data, child, cutoff) for child in children]
            if not pools:
                pools.append(stack.enter_context(concurrent.futures.ProcessPoolExecutor(
                    workers - 1, mp_context=context, initializer=_worker_init,
                    initargs=(data,))))
            parts = np.array_split(np.arange(len(children)), workers)
            futures = [pools[0].submit(_worker_bound, [children[i] for i in part], cutoff)
                       for part in parts[1:]]
            mine = [_bound_child(data, children[i], cutoff) for i in parts[0]]
            return mine + [result for future in futures for result in future.result()]

        yield bound_children


def _search(data, clock, incumbent, evaluate_s, improve, max_boxes, dual, batch,
            bound_children, user_branch="binary", target_gap=0.0) -> Outcome:
    best_a = np.asarray(incumbent, dtype=np.int64)
    best = evaluate_s(best_a)
    lo, hi = data.root()
    free = np.full(data.n_users, -2, dtype=np.int64)
    details: dict = {}
    bound, a = box_bound(data, lo, hi, None, details)
    if not math.isfinite(bound) or a is None:
        raise FloatingPointError(f"loadbox: the root box's bound is {bound!r}; the root holds "
                                 f"every assignment, so its bound must be finite")
    heap = [(bound, 0, lo, hi, free, a, _branch_user(data, lo, hi, free, a, details), False)]
    counter, boxes = 1, 1
    tried = set()

    def offer(assignment):
        nonlocal best, best_a
        if assignment is None:
            return
        key = assignment.tobytes()
        if key in tried:
            return
        tried.add(key)
        value = evaluate_s(assignment)
        if value < best * (1.0 - 1e-3):  # clearly better: polish it
            assignment, value = improve(assignment)
        if value < best:
            best, best_a = value, np.asarray(assignment, dtype=np.int64)

    offer(a)
    status, stop = Status.TIME_LIMIT, None
    while heap:
        bound, _, lo, hi, fix, a, user, tightened = heap[0]
        if bound >= best * (1.0 - PRUNE_RTOL):
            status = Status.OPTIMAL
            break
        # the gap the returned bound certifies (the same safety margin as below)
        if target_gap > 0.0 and best <= bound * (1.0 - BOUND_SAFETY) * (1.0 + target_gap):
            status, stop = Status.WORK_LIMIT, "target_gap"
            break
        if clock.remaining() <= 0.0:
            break
        if max_boxes is not None and boxes >= max_boxes:
            status = Status.WORK_LIMIT
            break
        heapq.heappop(heap)
        if dual is not None and not tightened and np.array_equal(lo, hi):
            tight = dual(data, box_cells(data, lo, hi, fix), mccormick=bound,
                         max_problems=None if max_boxes is None else max_boxes - boxes)
            boxes += tight.problems
            offer(tight.assignment)
            heapq.heappush(heap, (max(bound, tight.bound), counter, lo, hi, fix, a, user, True))
            counter += 1
            continue
        # the box taken and, with batch > 1, the next best ones still worth splitting (the
        # same boxes whatever the number of workers)
        taken = [(bound, lo, hi, fix, a, user)]
        while len(taken) < (batch if boxes >= WORKER_START_BOXES else 1) and heap and heap[0][0] < best * (1.0 - PRUNE_RTOL) \
                and (dual is None or heap[0][7] or not np.array_equal(heap[0][2], heap[0][3])):
            top = heapq.heappop(heap)
            taken.append((top[0], *top[2:7]))
        jobs, parents = [], []
        for parent, lo, hi, fix, a, user in taken:
            children = _split(data, lo, hi, fix, a, user, user_branch)
            if not children:  # every user fixed: the bound is T of that one assignment
                offer(fix.copy())
            jobs += children
            parents += [parent] * len(children)
        # the cutoff of reduced-cost fixing: the incumbent when the batch starts (the same
        # whatever the number of workers)
        results = bound_children(jobs, boxes, best * (1.0 - PRUNE_RTOL))
        for parent, child, (child_bound, child_a, child_user, child_fix) in zip(parents, jobs,
                                                                                results):
            boxes += 1
            if child_a is None:  # box_bound proved the child empty (its bound is inf)
                continue
            offer(child_a)
            if child_bound < best * (1.0 - PRUNE_RTOL):
                heapq.heappush(heap, (max(child_bound, parent), counter, child[0], child[1],
                                      child_fix, child_a, child_user, False))
                counter += 1
    if not heap and status == Status.TIME_LIMIT:
        status = Status.OPTIMAL
    open_bound = heap[0][0] if heap else best
    lower = min(open_bound, best) * (1.0 - BOUND_SAFETY)
    vectors = {box[2].tobytes() for box in heap if np.array_equal(box[2], box[3])}
    info = {"boxes": boxes, "open_boxes": len(heap),
            "stop": stop,  # "target_gap" where that stopped it
            "fixed_users": int(np.count_nonzero(heap[0][4] >= -1)) if heap else None,
            # where the search stands: open boxes still spanning several load vectors, and
            # the distinct single load vectors among the others
            "open_load_boxes": sum(not np.array_equal(box[2], box[3]) for box in heap),
            "open_vectors": len(vectors)}
    if status == Status.OPTIMAL:
        lower = best * (1.0 - max(PRUNE_RTOL, BOUND_SAFETY))
    return Outcome(best_a, status, objective_ms=best * 1e3, bound_ms=lower * 1e3, info=info)


def _branch_user(data: BoxBoundConstants, lo, hi, fix, a, details) -> int | None:
    """The user a box with a single load vector branches on (``None`` while some load range is
    open, or when every user is fixed), computed when the box is bounded from its own
    assignment problem's solution ``a`` and chord slopes: among the unfixed users ``a`` puts on
    a server j, the one with the largest estimate of the slack that fixing it removes from the
    McCormick step 3, ``hi_j (rho_ij - min rho on j) (I_j(a) - Ilb_j)``: theta_j counts the
    smallest slopes, a user fixed on j counts its own, and the product is paid on the
    interference above the floor, here as ``a`` itself places the polluters. Else the first
    unfixed user.

    Measured on tuning drops (N = 50, M = 4, tau = 0.8, seeds 1000-1002, 6000 boxes each) the
    mean certified gap left was 0.84 % with this rule, 1.17 % with the slope alone
    (``hi_j rho_ij``) and 2.5 % (seed 1000) with the user nearest the cell edge (the smallest
    ratio of its own signal to its strongest other one).
    """
    if not np.array_equal(lo, hi):
        return None
    unfixed = np.flatnonzero(is_free(fix))
    if unfixed.size == 0:
        return None
    rho = details.get("rho")
    on = unfixed[a[unfixed] >= 0]
    if not on.size or rho is None:
        return int(unfixed[0])
    excess = np.maximum(data.interference_of(a) - details["i_low"], 0.0)  # I_j(a) - Ilb_j
    slope = rho[on, a[on]]
    floor = np.full(data.n_servers, np.inf)
    np.minimum.at(floor, a[on], slope)
    weight = (slope - floor[a[on]]) * hi[a[on]] * excess[a[on]]
    if not np.any(weight > 0.0):  # every slope at its server's floor: the slope alone
        weight = slope * hi[a[on]]
    return int(on[np.argmax(weight)])


def _split(data: BoxBoundConstants, lo, hi, fix, a, user, user_branch: str = "binary"):
    """The children of a box: while some load range is open, its widest range in two (next to
    the assignment problem's own load when the range is short); then ``user`` (chosen by
    :func:`_branch_user` when the box was bounded): ``user_branch="binary"`` (the default) on
    the option ``a`` gives it and banned from that option, or fixed at once when at most two
    options are left; ``"all"`` (the former rule) fixed to each option it has left (home if free
    and not banned, each server). No children when every user is fixed.

    Binary measured better at equal work on the tuning drops (docs/bounds.md): a user's
    children other than its own option are mostly pruned at once, and one banned child is
    pruned about as often as the M it replaces (90 % of the time where all M were, N = 80,
    seed 3)."""
    if not np.array_equal(lo, hi):
        j = int(np.argmax(hi - lo))
        if a is not None and hi[j] - lo[j] <= 8:
            mid = min(max(int(np.count_nonzero(a == j)), int(lo[j])), int(hi[j]) - 1)
        else:
            mid = (int(lo[j]) + int(hi[j])) // 2
        children = []
        for c_lo, c_hi in ((lo[j], mid), (mid + 1, hi[j])):
            child_lo, child_hi = lo.copy(), hi.copy()
            child_lo[j], child_hi[j] = c_lo, c_hi
            children.append((child_lo, child_hi, fix))
        return children
    if user is None:
        return []
    m = data.n_servers
    options = [o for o in range(0 if data.forced[user] else -1, m)
               if not banned(fix[user:user + 1], o, m)[0]]
    own = int(a[user]) if a is not None else options[0]
    if user_branch == "all" or len(options) <= 2 or own not in options:
        chosen = options
    else:  # binary: the user on the option the box's own assignment gives it, or banned there
        chosen = [own, None]
    children = []
    for option in chosen:
        child = fix.copy()
        if option is None:
            child[user] = FREE - ((FREE - fix[user]) | (1 << (m if own < 0 else own)))
        else:
            child[user] = option
        children.append((lo, hi, child))
    return children
