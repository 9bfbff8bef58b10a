"""A combinatorial exact method for interference "none": Lagrangian bounds over load vectors.

For a fixed vector of loads (n_1, ..., n_M), (P) is an assignment problem with constant costs
``f_ij(n_j)`` (n_j slots on ES j, local delay t^L_i on a "home" slot, forced users never home),
solved exactly by ``scipy.optimize.linear_sum_assignment`` on float costs (no scaling). The
optimum is the best of these over all load vectors; almost all of them are ruled out by a
Lagrangian bound:

relaxing "each user exactly once" with multipliers lambda_i splits (P) by server,

    L(lambda) = sum_i lambda_i + sum_{i free} min(0, t^L_i - lambda_i) + sum_j min_n V_j(n),
    V_j(n) = the sum of the n smallest f_ij(n) - lambda_i over the users that may sit on j at n
            (V_j(0) = 0),

and for a load vector n, ``L_n(lambda) = sum_i lambda_i + sum_free min(0, ...) + sum_j V_j(n_j)``
is a lower bound on every assignment with those loads, for any lambda. So:

1. lambda from column generation on the configuration LP (a column = one server with one set of
   users; the pricing problem is exactly V_j(n)), stabilised by smoothing the duals towards the
   best lambda seen (Wentges); the master LP is solved by HiGHS (primal simplex, warm). Its
   bound is the LP bound of the count-indexed model with z[i, j, n] <= y[j, n] added (each
   server's block is then the convex hull of its integer points).
2. Primal guesses on the way: the loads the Lagrangian prefers (every 10 rounds) and, at the
   end, each server's heaviest LP column; each solved as an assignment problem.
3. Load vectors in nondecreasing order of L_n (best-first over the per-server lists), each solved
   as an assignment problem, until L_n reaches the incumbent: it is then optimal, to the
   relative tolerance ``gap_tol``.

Any lambda gives a valid bound: an inexact LP solution only costs time, never correctness.
The method shines when few load vectors come near the optimum (M = 4 here); with many servers
(M = 16) near-ties between load vectors make step 3 long, and the MILP is faster.
"""

from __future__ import annotations

import heapq
import math

import numpy as np
from scipy.optimize import linear_sum_assignment

from instances.result import Status

from ._highs import new_highs
from .data import InterferenceFreeDelays
from .model import CountModel, Fixing
from .outcome import Clock, Outcome

DEFAULT_GAP_TOL = 1e-9
DEFAULT_MAX_LOAD_VECTORS = 5000
_VUB = True  # z <= y rows in the reduced MILP (measured faster at M = 16: 8.6 vs 13.2 s)
_SMOOTHING = 0.8  # weight of the best lambda in the smoothed duals
_COLUMNS_PER_SERVER = 5  # columns added per server and round (the loads of lowest V_j)


def assignment_for_loads(data: InterferenceFreeDelays, f: np.ndarray, loads) -> tuple[float, np.ndarray | None]:
    """The best assignment with exactly these loads, and its T (seconds); (inf, None) if none.

    A square assignment problem: rows are users; columns are n_j slots of each ES j (cost
    f_ij(n_j)) and N - sum_j n_j home slots (cost t^L_i, forbidden to forced users).
    """
    n_users = data.n_users
    loads = np.asarray(loads, dtype=np.int64)
    total = int(loads.sum())
    n_home = n_users - total
    if n_home < 0 or n_home > int(np.count_nonzero(~data.forced)):
        return math.inf, None
    home = np.where(data.forced, np.inf, data.local_s)
    owner = np.repeat(np.append(np.arange(loads.size), -1), np.append(loads, n_home))
    cost = np.empty((n_users, n_users))
    cost[:, :total] = f[:, owner[:total], loads[owner[:total]]]
    cost[:, total:] = home[:, None]
    rows, cols = linear_sum_assignment(cost)
    assignment = np.empty(n_users, dtype=np.int64)
    assignment[rows] = owner[cols]
    return float(cost[rows, cols].sum()), assignment


class _Pricing:
    """V_j(n) for all j and n at a given lambda, with the user sets that reach them."""

    def __init__(self, data: InterferenceFreeDelays, f: np.ndarray) -> None:
        self.data = data
        self.blocks = []
        for j in range(data.n_servers):
            k = int(data.load_max[j])
            loads = np.arange(1, k + 1)
            allowed = data.nmax[:, j][:, None] >= loads[None, :]
            self.blocks.append((f[:, j, 1:k + 1], allowed))

    def __call__(self, lam: np.ndarray):
        """(values, orders): values[j][n] = V_j(n); orders[j][:n, n-1] the users reaching it."""
        values, orders = [], []
        for cost, allowed in self.blocks:
            reduced = np.where(allowed, cost - lam[:, None], np.inf)
            order = np.argsort(reduced, axis=0, kind="stable")
            sums = np.cumsum(np.take_along_axis(reduced, order, axis=0), axis=0)
            k = cost.shape[1]
            values.append(np.concatenate([[0.0], sums[np.arange(k), np.arange(k)]]))
            orders.append(order)
        return values, orders

    def base(self, lam: np.ndarray) -> float:
        """sum_i lambda_i + sum_{i free} min(0, t^L_i - lambda_i)."""
        d = self.data
        return float(lam.sum() + np.minimum(0.0, d.local_s - lam)[~d.forced].sum())

    def fixing(self, lam: np.ndarray, threshold: float) -> Fixing:
        """The variables of the count-indexed model whose Lagrangian bound (with that variable
        set to 1) reaches ``threshold`` (reduced-cost fixing): no assignment using one of them
        costs less than ``threshold``.

        With y[j, n] = 1 the bound is L(lambda) with V_j(n) in place of min_n V_j. With
        z[i, j, n] = 1, user i must also be in j's set (swap it for the n-th cheapest one if it
        is not) and cannot stay home (its min(0, t^L_i - lambda_i) term drops). Keeping a free
        user home gives t^L_i - lambda_i for that term instead.
        """
        d = self.data
        values, _ = self(lam)
        mins = np.array([v.min() for v in values])
        base = self.base(lam)
        home = np.where(d.forced, 0.0, np.minimum(0.0, d.local_s - lam))
        top = int(d.load_max.max(initial=0))
        keep_y = np.zeros((d.n_servers, top + 1), dtype=bool)
        keep_z = np.zeros((d.n_users, d.n_servers, top + 1), dtype=bool)
        for j, (cost, allowed) in enumerate(self.blocks):
            k = cost.shape[1]
            others = base + mins.sum() - mins[j]
            keep_y[j, :k + 1] = others + values[j] < threshold
            reduced = np.where(allowed, cost - lam[:, None], np.inf)
            # the n-th smallest reduced cost of column n (the last user in V_j(n)'s set)
            nth = np.sort(reduced, axis=0)[np.arange(k), np.arange(k)] if k else np.zeros(0)
            with_i = values[j][1:][None, :] + np.maximum(0.0, reduced - nth[None, :])
            keep_z[:, j, 1:k + 1] = allowed & (others - home[:, None] + with_i < threshold)
        stay = base - home + (d.local_s - lam) + mins.sum()
        offload = ~d.forced & (stay >= threshold)
        return Fixing(keep_y=keep_y, keep_z=keep_z, offload=offload)


class _Master:
    """The configuration LP in HiGHS: rows = users (= 1) and servers (= 1)."""

    def __init__(self, data: InterferenceFreeDelays) -> None:
        import highspy

        self.highspy = highspy
        n, m = data.n_users, data.n_servers
        self.n, self.m = n, m
        h = new_highs()
        # primal simplex: new columns keep the basis primal feasible
        h.setOptionValue("simplex_strategy", 4)
        h.setOptionValue("threads", 1)
        ones = np.ones(n + m)
        h.addRows(n + m, ones, ones, 0, np.zeros(1, np.int32), np.zeros(0, np.int32), np.zeros(0))
        self.h = h
        self.columns: list[tuple[np.ndarray, int | None]] = []
        self.known: set = set()
        free = np.flatnonzero(~data.forced)
        for i in free:  # run locally
            self.add(data.local_s[i], np.array([i], dtype=np.int64))
        for j in range(m):  # an empty server
            self.add(0.0, np.zeros(0, np.int64), j)

    def add(self, cost_s: float, users: np.ndarray, server: int | None = None) -> bool:
        """Add a column: these users (and the server's row when given) at this cost (seconds).
        Returns False (and adds nothing) if the master has it already."""
        key = (server, users.tobytes())
        if key in self.known:
            return False
        self.known.add(key)
        self.columns.append((users, server))
        rows = users if server is None else np.append(users, self.n + server)
        self.h.addCol(float(cost_s) * 1e3, 0.0, self.highspy.kHighsInf, rows.size,
                      rows.astype(np.int32), np.ones(rows.size))
        return True

    def rounded_loads(self) -> tuple[int, ...]:
        """For each server, the load of its heaviest column in the last LP solution."""
        values = np.asarray(self.h.getSolution().col_value)
        loads, weight = [0] * self.m, [-1.0] * self.m
        for c, (users, server) in enumerate(self.columns):
            if server is not None and values[c] > weight[server]:
                loads[server], weight[server] = int(users.size), float(values[c])
        return tuple(loads)

    def solve(self, time_limit: float):
        """(value, lambda, mu) in seconds, or None if HiGHS stopped without an optimal LP.

        The LP is solved in milliseconds (costs of order 1 to 1e4) for HiGHS's tolerances.
        """
        self.h.setOptionValue("time_limit", max(time_limit, 1e-3))
        self.h.run()
        if self.h.getModelStatus() != self.highspy.HighsModelStatus.kOptimal:
            return None
        dual = np.asarray(self.h.getSolution().row_dual) / 1e3
        return self.h.getInfo().objective_function_value / 1e3, dual[:self.n], dual[self.n:]


def solve_loadvec(data: InterferenceFreeDelays, clock: Clock, incumbent, *, gap_tol: float = DEFAULT_GAP_TOL,
                max_load_vectors: int = DEFAULT_MAX_LOAD_VECTORS) -> Outcome:
    """Exact optimum under interference "none" by Lagrangian-bounded load vectors (module doc).

    ``incumbent`` is a feasible assignment inside the reduced model (see ``InterferenceFreeDelays.repair``).
    If more than ``max_load_vectors`` load vectors have a bound below the incumbent, they are
    left to HiGHS on the count-indexed MILP reduced by the same bound instead.
    """
    f = data.table(int(data.load_max.max(initial=0)))
    best_a = np.asarray(incumbent, dtype=np.int64)
    best = data.cost(best_a)
    loads0 = np.bincount(best_a[best_a >= 0], minlength=data.n_servers)
    value, a = assignment_for_loads(data, f, loads0)
    if a is not None and value < best:
        best, best_a = value, a
    solved = {tuple(loads0.tolist())}
    pricing = _Pricing(data, f)

    # 1. lambda by stabilised column generation ------------------------------------------------
    master = _Master(data)
    for j in range(data.n_servers):
        users = np.flatnonzero(best_a == j)
        if users.size:
            master.add(f[users, j, users.size].sum(), users, j)
    trivial = data.trivial_bound()
    lam_best, lag_best = None, -math.inf  # the best multipliers and their bound L(lambda)
    rounds = 0
    while clock.remaining() > 0.0:
        rounds += 1
        lp = master.solve(clock.remaining())
        if lp is None:
            break
        lp_value, lam_out, mu_out = lp
        tiny = 1e-9 * abs(lp_value)  # reduced costs this small cannot move the bound
        smoothing = _SMOOTHING if lam_best is not None else 0.0
        while True:
            lam = lam_out if smoothing == 0.0 else smoothing * lam_best + (1 - smoothing) * lam_out
            values, orders = pricing(lam)
            bound = pricing.base(lam) + sum(min(0.0, v.min()) for v in values)
            if bound > lag_best:
                lag_best, lam_best = bound, lam
            added = 0
            for j in range(data.n_servers):
                for n in np.argsort(values[j][1:], kind="stable")[:_COLUMNS_PER_SERVER] + 1:
                    if not math.isfinite(values[j][n]):
                        continue
                    users = np.sort(orders[j][:n, n - 1])
                    cost = f[users, j, n].sum()
                    if cost - lam_out[users].sum() - mu_out[j] < -tiny \
                            and master.add(cost, users, j):
                        added += 1
            if added or smoothing == 0.0:
                break
            smoothing = 0.0  # mispricing: price at the LP's own duals
        if rounds % 10 == 1:  # the loads the Lagrangian prefers are a good guess for the optimum
            guess = tuple(int(np.argmin(v)) for v in pricing(lam_best)[0])
            if guess not in solved:
                solved.add(guess)
                value, a = assignment_for_loads(data, f, guess)
                if value < best:
                    best, best_a = value, a
        # stop when the LP is solved (no new column at its own duals, or the bound meets it) or
        # the bound already proves the incumbent optimal
        if added == 0 or lp_value - lag_best <= tiny or lag_best >= best * (1.0 - gap_tol):
            break
    info = {"cg_rounds": rounds, "lp_bound_ms": lag_best * 1e3, "columns": len(master.columns),
            "cg_s": clock.elapsed()}
    if lam_best is None:
        # no multipliers: the master LP never ended optimal, by the clock or otherwise
        status = Status.TIME_LIMIT if clock.remaining() <= 0.0 else Status.UNKNOWN
        return Outcome(best_a, status, objective_ms=best * 1e3, bound_ms=trivial * 1e3,
                       info=info)

    # 2. a primal guess from the LP (each server's heaviest column decides its load), then
    # moves of one user between servers or home while the assignment problem improves --------
    guess = master.rounded_loads()
    if guess not in solved:
        solved.add(guess)
        value, a = assignment_for_loads(data, f, guess)
        if value < best:
            best, best_a = value, a
    best, best_a = _improve_loads(data, f, best, best_a, solved, clock)

    # 3. load vectors in increasing order of their bound, until it reaches the incumbent; if
    # more than max_load_vectors lie below it (near-ties, many servers), a reduced MILP instead
    values, _ = pricing(lam_best)
    base = pricing.base(lam_best)
    pending = []
    for bound, loads in _load_vectors(values, base):
        if bound >= best * (1.0 - gap_tol) or len(pending) > max_load_vectors:
            break
        pending.append((bound, loads))
    if len(pending) > max_load_vectors:
        info.update(load_vectors=0)
        return _finish_by_milp(data, pricing, lam_best, best, best_a, pending[0][0], clock,
                               gap_tol, info)
    info["finish"] = "load vectors"
    examined = 0
    for bound, loads in pending:
        if bound >= best * (1.0 - gap_tol):
            break
        if clock.remaining() <= 0.0:
            info.update(load_vectors=examined)
            # every load vector with a smaller bound has been solved
            return Outcome(best_a, Status.TIME_LIMIT, objective_ms=best * 1e3,
                           bound_ms=min(max(bound, trivial), best) * 1e3, info=info)
        if loads in solved:
            continue
        solved.add(loads)
        examined += 1
        value, a = assignment_for_loads(data, f, loads)
        if value < best:
            best, best_a = value, a
    info.update(load_vectors=examined)
    # every load vector whose bound is below best (1 - gap_tol) was solved exactly
    return Outcome(best_a, Status.OPTIMAL, objective_ms=best * 1e3,
                   bound_ms=best * (1.0 - gap_tol) * 1e3, info=info)


def _improve_loads(data: InterferenceFreeDelays, f: np.ndarray, best: float, best_a: np.ndarray, solved: set,
                   clock: Clock) -> tuple[float, np.ndarray]:
    """Best-improvement local search over load vectors: one user more or fewer on a server, or
    one moved between two servers; each neighbour solved as an assignment problem."""
    m = data.n_servers
    eye = np.eye(m, dtype=np.int64)
    moves = [eye[a] for a in range(m)] + [-eye[a] for a in range(m)]
    moves += [eye[b] - eye[a] for a in range(m) for b in range(m) if a != b]
    while clock.remaining() > 0.0:
        loads = np.bincount(best_a[best_a >= 0], minlength=m)
        step, step_a = best, None
        for move in moves:
            trial = loads + move
            if np.any(trial < 0) or np.any(trial > data.load_max):
                continue
            key = tuple(trial.tolist())
            if key in solved:
                continue
            solved.add(key)
            value, a = assignment_for_loads(data, f, key)
            if value < step:
                step, step_a = value, a
        if step_a is None:
            return best, best_a
        best, best_a = step, step_a
    return best, best_a


def _finish_by_milp(data: InterferenceFreeDelays, pricing: _Pricing, lam: np.ndarray, best: float,
                    best_a: np.ndarray, open_bound: float, clock: Clock, gap_tol: float,
                    info: dict) -> Outcome:
    """Solve the count-indexed MILP without the variables the Lagrangian bound rules out.

    Every assignment left out costs at least ``best (1 - gap_tol)``, so the optimum is the
    better of the incumbent and the reduced MILP's optimum.
    """
    from .milp import DEFAULT_MIP_GAP, solve_highs

    threshold = best * (1.0 - gap_tol)
    model = CountModel(data, pricing.fixing(lam, threshold), vub=_VUB)
    info.update(finish="reduced milp", milp_cols=model.n_cols)
    warm = best_a if model.fits(best_a) else None
    milp = solve_highs(model, clock.remaining(), warm, mip_gap=max(gap_tol, DEFAULT_MIP_GAP))
    info["milp_status"] = str(milp.status)
    assignment, objective = best_a, best * 1e3
    if milp.assignment is not None and milp.objective_ms < objective:
        assignment, objective = milp.assignment, milp.objective_ms
    if milp.status == Status.MODEL_INFEASIBLE:  # nothing below the threshold: the incumbent wins
        return Outcome(assignment, Status.OPTIMAL, objective_ms=objective,
                       bound_ms=threshold * 1e3, info=info)
    # OPT >= min(best, open_bound): load vectors below open_bound were all solved exactly;
    # OPT >= min(threshold, the MILP's bound): the MILP covers all that the fixing kept
    bound = min(best, open_bound)
    if milp.bound_ms is not None:
        bound = max(bound, min(threshold, milp.bound_ms / 1e3))
    status = milp.status  # OPTIMAL, TIME_LIMIT, UNKNOWN or ERROR, as HiGHS ended
    if status == Status.ERROR:
        info["error"] = milp.info.get("error")
    return Outcome(assignment, status, objective_ms=objective, bound_ms=min(bound * 1e3, objective),
                   info=info)


def _load_vectors(values, base: float):
    """Yield (bound, loads) for every load vector, in nondecreasing order of the bound
    ``base + sum_j values[j][n_j]`` (infinite values skipped).

    Best-first over the per-server lists sorted by value: a vector of ranks r has the parent
    r - e_p (p its last nonzero rank), so each is pushed exactly once, by its parent, and the
    heap pops them in order.
    """
    m = len(values)
    order = [np.argsort(v, kind="stable") for v in values]
    sorted_values = [v[o] for v, o in zip(values, order)]
    ranks = (0,) * m
    heap = [(base + sum(float(v[0]) for v in sorted_values), ranks, 0)]
    while heap:
        bound, ranks, last = heapq.heappop(heap)
        yield bound, tuple(int(order[j][r]) for j, r in enumerate(ranks))
        for q in range(last, m):
            r = ranks[q] + 1
            if r < sorted_values[q].size and math.isfinite(sorted_values[q][r]):
                child = ranks[:q] + (r,) + ranks[q + 1:]
                heapq.heappush(heap, (bound + float(sorted_values[q][r] - sorted_values[q][r - 1]),
                                      child, q))
