"""A balanced transportation problem with few sinks, solved exactly by successive shortest paths.

N rows (users) each go to exactly one of S sinks (servers and home); sink b takes exactly
``capacity[b]`` rows, ``sum(capacity) == N``; row i on sink b costs ``cost[i, b]``, +inf where it
is forbidden. This is the assignment problem of a load-vector box whose load vector is fixed
(lo == hi): every slot of a sink has the same cost column, so the N x N assignment collapses to
N x S.

The algorithm (successive shortest paths on the sink graph): rows are inserted one at a time, in
row order, into a placement that is optimal for the rows already placed. The cheapest way to
insert row i is a shortest path over sinks: row i enters sink b0 at ``cost[i, b0]``, then a user
k already on some sink b on the path moves to the next sink b' at ``cost[k, b'] - cost[k, b]``,
and the path ends at a sink with spare capacity. Between two sinks only the cheapest such move
matters, ``w[b, b'] = min over users k on b of (cost[k, b'] - cost[k, b])``; ``w`` is kept up to
date as users move: a sink that only gained a user takes the minimum with the newcomer's moves
(O(S)), a sink that lost one is rescanned over its users. A user on the path is always on a
finite cell, so a move's cost is finite or +inf, never inf - inf.

The move costs can be negative; instead of Bellman-Ford, each shortest path is found by
Dijkstra on reduced costs ``w[b, b'] + pi[b] - pi[b']``, nonnegative under the node potentials
``pi`` that the previous searches leave (Johnson's technique, the usual refinement of successive
shortest paths): O(S^2) per row, and the tree of predecessors is a tree even when rounding leaves
a reduced cost at -1e-17, so the path read back is simple (Bellman-Ford's could close a cycle
there). After a search, ``pi[v]`` grows by v's distance capped at T's, so a potential stays near
the last insertion's cost and a huge cell the optimum avoids does not swamp small costs in
rounding. A super-sink T (node S) ends every
path: an edge b -> T of cost 0 for every sink with spare capacity. If T cannot be reached when
row i is inserted, rows 0..i have no assignment that avoids every +inf cell, so neither have all
rows.

Ties are broken the same way every time: the search stops as soon as T is as close as any
sink left, sinks at equal distance are finalised lowest index first, and ``w`` keeps the
lowest-indexed user among equal moves; so the same input gives the same assignment. The value
is ``cost[i, sink[i]]`` summed in row order.

Cost: O(N S^2) for the searches plus the rescans of sinks that lost a user, at most O(N^2 S)
in all and far less when most rows go straight to a sink with room.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

__all__ = ["solve_transport"]


@nb.njit(cache=True)
def _rescan(cost, members, count, w, warg, b):
    """Recompute row b of ``w``/``warg`` from the users now on sink b (ties: lowest user)."""
    s = cost.shape[1]
    for v in range(s):
        w[b, v] = np.inf
        warg[b, v] = -1
    for t in range(count[b]):
        _offer(cost, w, warg, b, members[b, t])


@nb.njit(cache=True)
def _offer(cost, w, warg, b, k):
    """Take user k (on sink b) into row b of ``w``/``warg``: its moves to every other sink."""
    s = cost.shape[1]
    here = cost[k, b]
    for v in range(s):
        if v == b:
            continue
        delta = cost[k, v] - here  # here is finite: k sits on an allowed cell
        if delta < w[b, v] or (delta == w[b, v] and delta < np.inf and k < warg[b, v]):
            w[b, v] = delta
            warg[b, v] = k


@nb.njit(cache=True)
def _place(members, pos, count, sink, k, b):
    """Put user k on sink b (appended to b's member list)."""
    members[b, count[b]] = k
    pos[k] = count[b]
    count[b] += 1
    sink[k] = b


@nb.njit(cache=True)
def _remove(members, pos, count, k, b):
    """Take user k off sink b (the last member fills its place)."""
    last = members[b, count[b] - 1]
    members[b, pos[k]] = last
    pos[last] = pos[k]
    count[b] -= 1


@nb.njit(cache=True)
def transport_kernel(cost, capacity):
    """Successive shortest paths (module docstring). ``cost`` (N, S) float64 without NaN or
    -inf, ``capacity`` (S,) int64 >= 0 summing to N. Returns (feasible, value, sink, pi): ``pi``
    (S,) the sinks' final potentials, an optimal dual of the sinks' constraints (with the rows'
    duals ``u_i = min_b cost[i, b] - pi[b]``, ``sum u + capacity . pi`` equals the value, and
    ``cost[i, b] - u_i - pi[b] >= 0`` is the reduced cost of row i on sink b)."""
    n, s = cost.shape
    top = s  # the super-sink T
    sink = np.full(n, -1, dtype=np.int64)
    count = np.zeros(s, dtype=np.int64)
    members = np.empty((s, max(n, 1)), dtype=np.int64)
    pos = np.empty(n, dtype=np.int64)
    w = np.full((s, s), np.inf)  # w[b, v]: cheapest move of a user on b to v
    warg = np.full((s, s), -1, dtype=np.int64)  # ... and that user
    pi = np.zeros(s + 1)  # node potentials: reduced costs >= 0
    dist = np.empty(s + 1)
    pred = np.empty(s + 1, dtype=np.int64)  # previous sink on the path, -1: row i enters here
    done = np.empty(s + 1, dtype=np.bool_)
    path = np.empty(s + 1, dtype=np.int64)
    movers = np.empty(s + 1, dtype=np.int64)
    lost = np.zeros(s, dtype=np.bool_)
    for i in range(n):
        # Dijkstra from row i over the sinks and T, on reduced costs
        for b in range(s):
            dist[b] = cost[i, b] - pi[b]
            pred[b] = -1
            done[b] = False
        dist[top] = np.inf
        pred[top] = -1
        done[top] = False
        while True:
            # T first on a tie (a path ends as soon as it can), then the lowest sink
            u = top if dist[top] < np.inf else -1
            best = dist[top]
            for v in range(s):
                if not done[v] and dist[v] < best:
                    best = dist[v]
                    u = v
            if u < 0 or u == top:
                break
            done[u] = True
            if count[u] < capacity[u]:
                alt = dist[u] + pi[u] - pi[top]
                if alt < dist[top]:
                    dist[top] = alt
                    pred[top] = u
            if count[u] > 0:
                for v in range(s):
                    if not done[v] and w[u, v] < np.inf:
                        alt = dist[u] + w[u, v] + pi[u] - pi[v]
                        if alt < dist[v]:
                            dist[v] = alt
                            pred[v] = u
        if dist[top] == np.inf:
            return False, np.inf, sink, pi[:s]
        # potentials: finalised nodes by their distance, the rest by T's (>= T's distance)
        reach = dist[top]
        for v in range(s):
            pi[v] += dist[v] if done[v] else reach
        pi[top] += reach
        # read the path back (end sink first) with its movers, before anything moves
        length = 0
        v = pred[top]
        while v >= 0:
            path[length] = v
            movers[length] = warg[pred[v], v] if pred[v] >= 0 else i
            length += 1
            v = pred[v]
        # movers[t] leaves pred[path[t]] (if any) for path[t]; row i enters path[length - 1]
        for t in range(length):
            b = path[t]
            k = movers[t]
            if pred[b] >= 0:
                _remove(members, pos, count, k, pred[b])
                lost[pred[b]] = True
            _place(members, pos, count, sink, k, b)
        for t in range(length):
            b = path[t]
            if lost[b]:
                _rescan(cost, members, count, w, warg, b)
                lost[b] = False
            else:  # gained its mover only
                _offer(cost, w, warg, b, movers[t])
    value = 0.0
    for i in range(n):
        value += cost[i, sink[i]]
    return True, value, sink, pi[:s]


def solve_transport(cost: np.ndarray, capacity: np.ndarray) -> tuple[float, np.ndarray | None]:
    """Minimum-cost assignment of N rows to S sinks that take exactly ``capacity`` rows each.

    Parameters
    ----------
    cost : numpy.ndarray, shape (N, S), float
        ``cost[i, b]``: row i on sink b; +inf forbids the cell.
    capacity : numpy.ndarray, shape (S,), integer
        The exact number of rows each sink takes.

    Returns
    -------
    value : float
        The minimum total cost, ``cost[i, sink[i]]`` summed in row order; ``math.inf`` when no
        assignment avoids every +inf cell or ``capacity`` does not sum to N.
    sink : numpy.ndarray of int64, shape (N,), or None
        The sink (0..S-1) of every row in an optimal assignment (ties broken by the lowest
        index); None when ``value`` is inf.

    Raises
    ------
    ValueError
        ``cost`` not a 2-D real array or holding NaN or -inf; ``capacity`` not a 1-D integer
        array of length S or holding a negative entry.
    """
    cost = np.asarray(cost)
    if cost.ndim != 2:
        raise ValueError(f"cost: must be a 2-D array (rows x sinks), got {cost.ndim} dimensions")
    if not (np.issubdtype(cost.dtype, np.floating) or np.issubdtype(cost.dtype, np.integer)):
        raise ValueError(f"cost: must be real numbers, got dtype {cost.dtype}")
    cost = np.ascontiguousarray(cost, dtype=np.float64)
    if not (cost > -math.inf).all():  # one pass catches both NaN and -inf
        if np.isnan(cost).any():
            raise ValueError("cost: contains NaN")
        raise ValueError("cost: contains -inf (only +inf, a forbidden cell, is allowed)")
    capacity = np.asarray(capacity)
    if capacity.ndim != 1:
        raise ValueError(f"capacity: must be a 1-D array, got {capacity.ndim} dimensions")
    if capacity.size and not np.issubdtype(capacity.dtype, np.integer):
        raise ValueError(f"capacity: must be integers, got dtype {capacity.dtype}")
    if capacity.shape[0] != cost.shape[1]:
        raise ValueError(f"capacity: has {capacity.shape[0]} entries, cost has "
                         f"{cost.shape[1]} sinks (columns)")
    capacity = np.ascontiguousarray(capacity, dtype=np.int64)
    if (capacity < 0).any():
        raise ValueError("capacity: contains a negative entry")
    if int(capacity.sum()) != cost.shape[0]:
        return math.inf, None
    feasible, value, sink, _ = transport_kernel(cost, capacity)
    if not feasible:
        return math.inf, None
    return float(value), sink
