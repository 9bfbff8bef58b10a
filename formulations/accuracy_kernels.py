"""Numba kernel of the exact (P_A) search by offload sets (:mod:`formulations.subsets`).

The expected accuracy depends only on WHO is offloaded, not where. So the search runs over
offload sets S (bit masks, user i in S when bit i is set) in a given order, keeping a running
cutoff (the best total delay found so far), and for each S computes

    T*(S) = sum_{i not in S} t^L_i + min over placements of S on the ESs of sum_{i in S} d_i

only where it can beat the cutoff: first a set-level bound (``lb0``, each user of S alone at its
best ES), then a depth-first branch-and-bound over the placements of S. At a node the users
``S[0..d-1]`` are placed; loads n_j and the power each ES hears from placed users only grow
deeper down, and a user's delay grows with both (docs/model.md section 3), so

- each placed user pays at least its delay at the node's n_j and interference, and
- each unplaced user u pays at least min_j d_u(j, n_j + 1, I_j) (I_j: the power at j from the
  placed users of the other cells; 0 under interference "none"),

and their sum is a valid lower bound; at a leaf it is the exact T of the placement. Delays come
from the one jitted formula ``instances.delay_kernel.edge_delay_s``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from instances.delay_kernel import edge_delay_s


@njit(cache=True, error_model="numpy")
def _node_value(users, depth, size, choice, pg, bits, work, noise, bandwidth, cap, flops, law, full,
                loads, heard, own):
    """The bound at a node (the exact edge delay of S at a leaf): see the module docstring."""
    m = pg.shape[1]
    total = 0.0
    for k in range(depth):
        u = users[k]
        j = choice[k]
        interference = heard[j] - own[j] if full else 0.0
        total += edge_delay_s(bits[u], work[u], pg[u, j], noise[j], interference, bandwidth[j],
                              cap[j], flops[j], loads[j], law, u, j)
    for k in range(depth, size):
        u = users[k]
        best = np.inf
        for j in range(m):
            interference = heard[j] - own[j] if full else 0.0
            d = edge_delay_s(bits[u], work[u], pg[u, j], noise[j], interference, bandwidth[j],
                             cap[j], flops[j], loads[j] + 1.0, law, u, j)
            if d < best:
                best = d
        total += best
    return total


@njit(cache=True, error_model="numpy")
def _best_placement(users, size, cutoff, pg, bits, work, noise, bandwidth, cap, flops, law, full,
                    out):
    """Depth-first B&B over the placements of ``users[:size]``: the least edge delay below
    ``cutoff`` (written to ``out[users]``) or ``inf`` when no placement beats the cutoff.
    Servers are tried in index order and only strict improvements count, so ties keep the
    lexicographically first placement."""
    m = pg.shape[1]
    loads = np.zeros(m)
    heard = np.zeros(m)
    own = np.zeros(m)
    choice = np.full(size, -1, np.int64)
    best = cutoff
    found = False
    if size == 0:
        return 0.0 if 0.0 < cutoff else np.inf
    depth = 0
    while depth >= 0:
        u = users[depth]
        j = choice[depth]
        if j >= 0:  # undo the previous choice at this depth
            loads[j] -= 1.0
            own[j] -= pg[u, j]
            for k in range(m):
                heard[k] -= pg[u, k]
        j += 1
        if j == m:
            choice[depth] = -1
            depth -= 1
            continue
        choice[depth] = j
        loads[j] += 1.0
        own[j] += pg[u, j]
        for k in range(m):
            heard[k] += pg[u, k]
        value = _node_value(users, depth + 1, size, choice, pg, bits, work, noise, bandwidth,
                            cap, flops, law, full, loads, heard, own)
        if value >= best:
            continue
        if depth + 1 == size:
            best = value
            found = True
            for k in range(size):
                out[users[k]] = choice[k]
            continue
        depth += 1
    return best if found else np.inf


@njit(cache=True, error_model="numpy")
def search_sets(masks, lb0, fixed, first, last, cutoff, pg, bits, work, noise, bandwidth, cap,
                flops, law, full, improved, values, assignments):
    """Process the offload sets ``masks[first:last]`` in order with a running cutoff.

    For set k: skipped when ``lb0[k] >= cutoff``; else its best placement is searched below
    ``cutoff - fixed[k]``. When T*(S) < cutoff: ``improved[k] = True``, ``values[k] = T*(S)``,
    ``assignments[k]`` the plan (-1 local), and the cutoff drops to it. Returns the cutoff.
    ``fixed[k]`` is the local delay of the users outside the set.
    """
    n, m = pg.shape
    users = np.empty(n, np.int64)
    plan = np.empty(n, np.int64)
    for k in range(first, last):
        if lb0[k] >= cutoff:
            continue
        size = 0
        for i in range(n):
            plan[i] = -1
            if (masks[k] >> i) & 1:
                users[size] = i
                size += 1
        edge = _best_placement(users, size, cutoff - fixed[k], pg, bits, work, noise,
                               bandwidth, cap, flops, law, full, plan)
        if edge < np.inf and fixed[k] + edge < cutoff:
            cutoff = fixed[k] + edge
            improved[k] = True
            values[k] = cutoff
            assignments[k] = plan
    return cutoff
