"""Readable twin of the ``goa_ls`` kernel (:mod:`goa._ls_kernel`), in plain Python.

It states the iterated local search of docs/local_search.md one step at a time and is the
oracle of the numba kernel: same state, same move order, same tie-breaking (the first of equal
moves wins), same floating-point operations in the same order, the same splitmix64 generator.
A test proves that both return the same assignment and the same trace on many instances.

:class:`State` holds the per-ES caches and can rebuild them from scratch (the tests compare the
incrementally kept caches with a rebuild after every move).
"""

from __future__ import annotations

import math
import time

import numpy as np

REL_TOL = 1e-10   # a move must lower the tracked T by more than REL_TOL T
CHECK_EVERY = 16  # users scanned between two clock reads when a deadline is set
MOVE, KICK, ROUND, MERGE = 0, 1, 2, 3
_MASK = (1 << 64) - 1


class Random:
    """splitmix64, as the kernel's ``_next_random``: 64-bit state, 64-bit outputs."""

    def __init__(self, seed: int) -> None:
        self.state = int(seed) & _MASK

    def below(self, count: int) -> int:
        """A number in 0..count-1 (the 64-bit draw modulo count)."""
        self.state = (self.state + 0x9E3779B97F4A7C15) & _MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
        return (z ^ (z >> 31)) % count


class State:
    """An assignment with the per-ES caches of the local search.

    Per ES j: ``mem[j]`` its users (appended at the end, removed by moving the last into the
    hole; ``mem[M]`` lists the local users the same way), ``w[j]`` = sum of W^E_i,
    ``interf[j]`` = I_j (model "full"), ``f[j]`` = sum of u_ij = D_i / (B_j log2(1 + SINR_ij)),
    ``lmin[j]`` = the smallest log2(1 + SINR_ij) of its users, ``lstrong[j]`` the smallest
    of those >= 1, ``lmax[j]`` the largest and ``smax[j]`` that user's SINR, ``fweak[j]`` =
    the part of F_j from its users with log2(1 + SINR_ij) < 1 ("full"),
    ``cost[j] = n_j F_j + W_j / min(C^max_j, C_j / n_j)`` (under a table law, passed in
    ``cap`` as the kernel reads it (:func:`goa._ls_cells.law_cap`), W_j sums the users' b_i
    (passed as ``work``), ``cost[j] = n_j F_j + W_j h_j(n_j)``, and ``local`` adds the
    offloaded users' a_ij). ``local`` is the local users' total t^L, ``side`` the sum of q_i
    over the offloaded users.
    T(a) = local + sum_j cost[j].
    """

    def __init__(self, a, full, side_q, pg, bits, work, t_local, bandwidth, flops, cap, noise):
        self.full = bool(full)
        self.side_q = [float(x) for x in side_q]
        self.pg = np.asarray(pg).tolist()
        self.bits, self.work, self.t_local = list(bits), list(work), list(t_local)
        self.bandwidth, self.flops = list(bandwidth), list(flops)
        self.noise = list(noise)
        self.law_h = self.law_a = None
        cap = np.asarray(cap)
        if cap.ndim == 2:  # a table law, packed as the kernel reads it (goa._ls_cells.law_cap)
            half = cap.shape[1] // 2
            self.law_h, self.law_a = cap[:, :half].tolist(), cap[:, half:].T.tolist()
        else:
            self.cap = list(cap)
        self.n_users, self.n_servers = len(self.bits), len(self.bandwidth)
        self.a = [int(x) for x in a]
        self.rebuild()

    # -- arithmetic (the kernel's order) --------------------------------------------------------

    def log_sinr(self, i, j, interference):
        return math.log2(1.0 + self.pg[i][j] / (self.noise[j] + interference))

    def unit(self, i, j, interference):
        return self.bits[i] / (self.bandwidth[j] * self.log_sinr(i, j, interference))

    def cell_cost(self, n, f, w, j):
        if n == 0:
            return 0.0
        if self.law_h is not None:
            return n * f + w * self.law_h[j][n - 1]
        return n * f + w / min(self.cap[j], self.flops[j] / n)

    def heard(self, x, old, new, k):
        """The change of I_k when x moves from old to new (x is heard at k when offloaded to
        another ES than k)."""
        before = old >= 0 and old != k
        after = new >= 0 and new != k
        if before and not after:
            return -self.pg[x][k]
        if after and not before:
            return self.pg[x][k]
        return 0.0

    def shrunk(self, k, strong, weak, i_new, i_old):
        """Lower bound of the sum of u_ik at i_new of some users of k, given that sum at i_old
        split by log2(1 + SINR) >= 1 (strong) and < 1 (weak); see docs/local_search.md."""
        if i_new == i_old:
            return strong + weak
        if i_new > i_old:  # every u_ik grows at least by log2(1 + s) / log2(1 + s / r) at the
            # cell's largest SINR s (strong users), at s = 1 (weak users): the ratio falls with s
            r = (self.noise[k] + i_new) / (self.noise[k] + i_old)
            grow = self.lmax[k] / math.log2(1.0 + self.smax[k] / r) if self.smax[k] > 0.0 \
                else 1.0
            return strong * grow + weak / math.log2(1.0 + 1.0 / r)
        r = (self.noise[k] + i_old) / (self.noise[k] + i_new)
        ell = math.log2(r)
        return max(strong / r, strong / (1.0 + ell / self.lstrong[k])) \
            + max(weak / r, weak / (1.0 + ell / self.lmin[k]))

    # -- caches -----------------------------------------------------------------------------------

    def refresh(self, k):
        if self.full:
            total, low, low_strong, part = 0.0, math.inf, math.inf, 0.0
            high = top = 0.0
            for x in self.mem[k]:
                lg = self.log_sinr(x, k, self.interf[k])
                unit = self.bits[x] / (self.bandwidth[k] * lg)
                total += unit
                if lg < 1.0:
                    part += unit
                elif lg < low_strong:
                    low_strong = lg
                if lg < low:
                    low = lg
                if lg > high:
                    high = lg
                    top = self.pg[x][k] / (self.noise[k] + self.interf[k])
            self.f[k], self.lmin[k], self.fweak[k] = total, low, part
            self.lmax[k], self.smax[k] = high, top
            self.lstrong[k] = low_strong
        self.cost[k] = self.cell_cost(len(self.mem[k]), self.f[k], self.w[k], k)

    def rebuild(self):
        """Every cache from scratch, users in index order; returns T."""
        m = self.n_servers
        self.mem = [[] for _ in range(m + 1)]
        self.w, self.f, self.interf = [0.0] * m, [0.0] * m, [0.0] * m
        self.lmin, self.fweak, self.cost = [math.inf] * m, [0.0] * m, [0.0] * m
        self.lstrong = [math.inf] * m
        self.lmax, self.smax = [0.0] * m, [0.0] * m
        self.local = self.side = 0.0
        for i, j in enumerate(self.a):
            self.mem[j if j >= 0 else m].append(i)
            if j < 0:
                self.local += self.t_local[i]
            else:
                if self.law_a is not None:
                    self.local += self.law_a[i][j]
                self.w[j] += self.work[i]
                self.side += self.side_q[i]
                if self.full:
                    for k in range(m):
                        if k != j:
                            self.interf[k] += self.pg[i][k]
        for k in range(m):
            if not self.full:
                for x in self.mem[k]:
                    self.f[k] += self.unit(x, k, 0.0)
            self.refresh(k)
        return self.total()

    def total(self):
        total = self.local
        for c in self.cost:
            total += c
        return total

    def move_user(self, x, p):
        o = self.a[x]
        m = self.n_servers
        members = self.mem[o if o >= 0 else m]
        last = members.pop()
        if last != x:
            members[members.index(x)] = last
        self.mem[p if p >= 0 else m].append(x)
        if o >= 0:
            self.w[o] -= self.work[x]
            if not self.full:
                self.f[o] -= self.unit(x, o, 0.0)
            if not members:
                self.w[o] = self.f[o] = 0.0
            self.side -= self.side_q[x]
            if self.law_a is not None:
                self.local -= self.law_a[x][o]
        else:
            self.local -= self.t_local[x]
        if p >= 0:
            self.w[p] += self.work[x]
            if self.law_a is not None:
                self.local += self.law_a[x][p]
            if not self.full:
                self.f[p] += self.unit(x, p, 0.0)
            self.side += self.side_q[x]
        else:
            self.local += self.t_local[x]
        if self.full:
            for k in range(self.n_servers):
                self.interf[k] += self.heard(x, o, p, k)
        self.a[x] = p

    def apply(self, u, p, v=-1, q=-1):
        """Apply u -> p (then v -> q), refresh the changed cells; returns the tracked T."""
        ou = self.a[u]
        ov = self.a[v] if v >= 0 else -1
        self.move_user(u, p)
        if v >= 0:
            self.move_user(v, q)
        local_involved = ou < 0 or p < 0 or (v >= 0 and (ov < 0 or q < 0))
        for k in range(self.n_servers):
            if (self.full and local_involved) or k in (ou, p) or (v >= 0 and k in (ov, q)):
                self.refresh(k)
        return self.total()

    # -- move evaluation --------------------------------------------------------------------------

    def local_change(self, u, p, v, q):
        """The change of the fixed part: local t^L and, under a table law, the a_ij."""
        table = self.law_a is not None
        d = 0.0
        if self.a[u] < 0:
            d -= self.t_local[u]
        elif table:
            d -= self.law_a[u][self.a[u]]
        if p < 0:
            d += self.t_local[u]
        elif table:
            d += self.law_a[u][p]
        if v >= 0:
            if self.a[v] < 0:
                d -= self.t_local[v]
            elif table:
                d -= self.law_a[v][self.a[v]]
            if q < 0:
                d += self.t_local[v]
            elif table:
                d += self.law_a[v][q]
        return d

    def new_interference(self, k, u, p, v, q):
        value = self.interf[k]
        if self.full:
            value += self.heard(u, self.a[u], p, k)
            if v >= 0:
                value += self.heard(v, self.a[v], q, k)
        return value

    def cell_bound(self, k, u, p, v, q):
        """Lower bound of cell k's change (exact under "none")."""
        i_new = self.new_interference(k, u, p, v, q)
        count, load = len(self.mem[k]), self.w[k]
        strong = self.f[k] - self.fweak[k] if self.full else self.f[k]
        weak = self.fweak[k] if self.full else 0.0
        for x in (u, v):
            if x >= 0 and self.a[x] == k:  # a staying user's sum loses x's term
                lg = self.log_sinr(x, k, self.interf[k])
                if self.full and lg < 1.0:
                    weak -= self.bits[x] / (self.bandwidth[k] * lg)
                else:
                    strong -= self.bits[x] / (self.bandwidth[k] * lg)
                load -= self.work[x]
                count -= 1
        stay = self.shrunk(k, strong, weak, i_new, self.interf[k]) if self.full else strong
        if p == k:
            stay += self.unit(u, k, i_new)
            load += self.work[u]
            count += 1
        if v >= 0 and q == k:
            stay += self.unit(v, k, i_new)
            load += self.work[v]
            count += 1
        return self.cell_cost(count, stay, load, k) - self.cost[k]

    def bound(self, u, p, v, q, credit):
        """Lower bound of the move's change of T (exact under "none")."""
        d = self.local_change(u, p, v, q)
        cells = []
        for c in (self.a[u], p, self.a[v] if v >= 0 else -1, q if v >= 0 else -1):
            if c >= 0 and c not in cells:
                cells.append(c)
        for c in cells:
            d += self.cell_bound(c, u, p, v, q)
        if self.full and self.a[u] >= 0 and p < 0:
            d -= credit
        return d

    def credit(self, u):
        """"full": bound of how much the other cells gain if u's interference vanishes."""
        total = 0.0
        for k in range(self.n_servers):
            if k != self.a[u] and self.mem[k]:
                total += len(self.mem[k]) * (self.f[k] - self.shrunk(
                    k, self.f[k] - self.fweak[k], self.fweak[k],
                    self.interf[k] - self.pg[u][k], self.interf[k]))
        return total

    def pair_credit(self, u, v):
        """"full", exchange u: o -> local, v: local -> o: bound of how much the other cells
        gain (their I_k falls by P_u g_uk and rises by P_v g_vk); tighter than credit(u)."""
        total = 0.0
        o = self.a[u]
        for k in range(self.n_servers):
            if k != o and self.mem[k]:
                i_new = self.new_interference(k, u, -1, v, o)
                total += len(self.mem[k]) * (self.f[k] - self.shrunk(
                    k, self.f[k] - self.fweak[k], self.fweak[k], i_new, self.interf[k]))
        return total

    def exact_full(self, u, p, v, q):
        """"full": the exact change of T, changed cells recomputed from their users."""
        d = self.local_change(u, p, v, q)
        ou = self.a[u]
        ov = self.a[v] if v >= 0 else -1
        for k in range(self.n_servers):
            i_new = self.new_interference(k, u, p, v, q)
            members = k in (ou, p) or (v >= 0 and k in (ov, q))
            if not members and i_new == self.interf[k]:
                continue
            total, count = 0.0, 0
            for x in self.mem[k]:
                if x != u and x != v:
                    total += self.unit(x, k, i_new)
                    count += 1
            load = self.w[k]
            if ou == k:
                load -= self.work[u]
            if v >= 0 and ov == k:
                load -= self.work[v]
            if p == k:
                total += self.unit(u, k, i_new)
                load += self.work[u]
                count += 1
            if v >= 0 and q == k:
                total += self.unit(v, k, i_new)
                load += self.work[v]
                count += 1
            d += self.cell_cost(count, total, load, k) - self.cost[k]
        return d


def merge_delta(s: State, src, dst):
    """The exact change of T if every user of ES src moves to ES dst (no other cell changes:
    a user of src is heard at every k other than src and dst before and after)."""
    i_new = s.interf[dst]
    if s.full:
        for x in s.mem[src]:
            i_new -= s.pg[x][dst]
        total = 0.0
        for x in s.mem[dst]:
            total += s.unit(x, dst, i_new)
    else:
        total = s.f[dst]
    for x in s.mem[src]:
        total += s.unit(x, dst, i_new)
    d = s.cell_cost(len(s.mem[dst]) + len(s.mem[src]), total, s.w[dst] + s.w[src], dst) \
        - s.cost[dst] - s.cost[src]
    if s.law_a is not None:  # the users' a_ij: from src's to dst's
        for x in s.mem[src]:
            d += s.law_a[x][dst] - s.law_a[x][src]
    return d


def merge(s: State, src, dst):
    """Move every user of src to dst (the last of src's list first); returns the tracked T."""
    while s.mem[src]:
        s.move_user(s.mem[src][-1], dst)
    for k in (src, dst):
        s.refresh(k)
    return s.total()


def scan_merges(s: State, total):
    """The best improving merge (src, dst) in index order (None if none) and its change."""
    best, move = -REL_TOL * total, None
    for src in range(s.n_servers):
        if not s.mem[src]:
            continue
        for dst in range(s.n_servers):
            if dst != src:
                d = merge_delta(s, src, dst)
                if d < best:
                    best, move = d, (src, dst)
    return move, (best if move is not None else 0.0)


def scan_user(s: State, u, total, forced, targets, is_target, use_side, side_min):
    """User u's best improving move (None if none) and its change, in the kernel's order:
    single moves (u to each target ES, then to local), swaps (each other target ES p in
    target order, its users in list order, those having u's ES among their targets),
    exchanges (local users in list order having u's ES among their targets).
    ``is_target[j][i]``: j is among user i's targets."""
    best, move = -REL_TOL * total, None
    o = s.a[u]
    credit = s.credit(u) if s.full and o >= 0 and not forced[u] else 0.0

    def consider(p, v, q):
        nonlocal best, move
        d = s.bound(u, p, v, q, credit)
        if d < best and s.full and v >= 0 and p < 0:  # an exchange: the tighter credit
            d = s.bound(u, p, v, q, s.pair_credit(u, v))
        if d < best and s.full:
            d = s.exact_full(u, p, v, q)
        if d < best:
            best, move = d, (u, p, v, q)

    singles = list(targets[u]) + ([-1] if o >= 0 and not forced[u] else [])
    for p in singles:
        if p == o:
            continue
        if use_side and o < 0 and s.side + s.side_q[u] < side_min:
            continue
        if use_side and p < 0 and s.side - s.side_q[u] < side_min:
            continue
        consider(p, -1, -1)
    if o >= 0:
        for p in targets[u]:
            if p != o:
                for v in list(s.mem[p]):
                    if is_target[o][v]:
                        consider(p, v, o)
    if o >= 0 and not forced[u]:
        for v in list(s.mem[s.n_servers]):  # the local users, in list order
            if not is_target[o][v]:
                continue
            if use_side and s.side - s.side_q[u] + s.side_q[v] < side_min:
                continue
            consider(-1, v, o)
    return move, (best if move is not None else 0.0)


def reference_local_search(start, forced, targets, is_target, use_side, side_q, side_min,
                           max_rounds, patience, kick, seed, deadline, trace_int, trace_delta,
                           pg, bits, work, t_local, bandwidth, flops, cap, noise, full,
                           on_move=None):
    """The twin of ``goa._ls_kernel.local_search``: same arguments, same return value.

    ``on_move``, if given, is called as ``on_move(state)`` after every applied move and kick
    (the tests rebuild the caches from scratch there and compare).
    """
    forced = [bool(x) for x in forced]
    targets = np.asarray(targets).tolist()
    is_target = np.asarray(is_target).tolist()
    side_min = float(side_min)
    rng = Random(int(seed))
    s = State(start, full, side_q, pg, bits, work, t_local, bandwidth, flops, cap, noise)
    timed = deadline > 0.0
    stop = moves = traced = 0

    def record(kind, u, p, v, q, delta):
        nonlocal traced
        if traced < trace_int.shape[0]:
            trace_int[traced] = (kind, u, p, v, q)
            trace_delta[traced] = delta
        traced += 1

    start_total = s.total()
    best, best_total = list(s.a), start_total
    rounds, stall = -1, 0
    while True:
        if rounds >= 0:  # the perturbation: kick users to random places
            for _ in range(kick * (1 + stall // 10)):
                x = rng.below(s.n_users)
                choices = len(targets[x]) + (0 if forced[x] else 1)
                c = rng.below(choices)
                p = targets[x][c] if c < len(targets[x]) else -1
                if p == s.a[x]:
                    continue
                if use_side and s.side - (s.side_q[x] if s.a[x] >= 0 else 0.0) \
                        + (s.side_q[x] if p >= 0 else 0.0) < side_min:
                    continue
                s.apply(x, p)
                record(KICK, x, p, -1, -1, 0.0)
                if on_move is not None:
                    on_move(s)
        total = s.total()
        improved = True
        while improved and stop == 0:  # the descent: sweeps until one applies no move
            improved = False
            for u in range(s.n_users):
                if timed and u % CHECK_EVERY == 0 and time.perf_counter() >= deadline:
                    stop = 2
                    break
                move, d = scan_user(s, u, total, forced, targets, is_target, use_side,
                                    side_min)
                if move is not None:
                    total = s.apply(*move)
                    record(MOVE, *move, d)
                    moves += 1
                    improved = True
                    if on_move is not None:
                        on_move(s)
            if stop == 0:  # then the best merge of one ES's users into another
                move, d = scan_merges(s, total)
                if move is not None:
                    total = merge(s, *move)
                    record(MERGE, *move, -1, -1, d)
                    moves += 1
                    improved = True
                    if on_move is not None:
                        on_move(s)
        total = s.rebuild()
        if total < best_total:
            best, best_total, stall = list(s.a), total, 0
            record(ROUND, 1, -1, -1, -1, 0.0)
        else:
            if rounds >= 0:  # the first descent is no round: it cannot stall
                stall += 1
            s.a = list(best)
            s.rebuild()
            record(ROUND, 0, -1, -1, -1, 0.0)
        rounds += 1
        if stop == 0 and timed and time.perf_counter() >= deadline:
            stop = 2
        if stop != 0 or stall >= patience:
            break
        if rounds >= max_rounds:
            stop = 1
            break
    return np.array(best, dtype=np.int64), best_total, start_total, rounds, moves, traced, stop
