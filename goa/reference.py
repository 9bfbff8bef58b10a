"""Readable references of GOA and the greedy baselines (docs/model.md sections 5 and 6).

Plain Python, one step of the greedy at a time, every (user, ES) pair rescanned each step:
O(N^2 M) in all. These are the oracles of the fast kernels in :mod:`goa._kernels`, which must
take exactly the same decisions; so the arithmetic of ``_delta`` and of the interference
bookkeeping is written in the order the kernels use (same values, bit for bit).

All four greedy methods are :func:`reference_greedy` with different weights and user sets:

==========  ===========  ===================  ======================
method      weight w_i   placed whatever      placed while delta < 0
==========  ===========  ===================  ======================
GOA         alpha_i      alpha_i > tau        every other user
edge-all    alpha_i      every user           --
random      1            a random set         --
d-min       1            --                   every user
==========  ===========  ===================  ======================
"""

from __future__ import annotations

import math

import numpy as np

from instances import Instance


def reference_greedy(instance: Instance, weight, forced, optional,
                     trace: list | None = None) -> np.ndarray:
    """The greedy of docs/model.md section 5 with weights and user sets as parameters.

    For a user i not yet placed and an ES j, ``delta_ij = w_i * (e_ij - t^L_i)``, where e_ij is
    i's delay on j if it joined j now: n_j + 1 users on j, and (model "full") the interference
    ``I_j`` from the users already offloaded to other ESs.

    1. While a user of ``forced`` is unplaced: place the pair (i in forced, j) with the smallest
       delta_ij, whatever its sign.
    2. Then, over the unplaced users of ``optional``: take the pair with the smallest delta_ij;
       if it is >= 0 stop, else place it and repeat.

    Ties go to the lowest user index, then the lowest ES index.

    Parameters
    ----------
    instance
        The instance.
    weight
        w_i >= 0 per user (length N).
    forced, optional
        Boolean masks (length N) of the users of step 1 and step 2 (forced users are not
        considered again in step 2). Users in neither run locally.
    trace
        If a list is given, ``(step, i, j, delta_ij)`` of every placement is appended to it, in
        order (step 1 or 2).

    Returns
    -------
    numpy.ndarray
        The assignment, int64, ``-1`` local, else the ES index.
    """
    n, m = instance.n_users, instance.n_servers
    weight = np.asarray(weight, dtype=np.float64).tolist()
    forced = np.asarray(forced, dtype=bool)
    optional = np.asarray(optional, dtype=bool)
    full = instance.interference == "full"
    # Plain Python floats: the same IEEE doubles, and the C library's log2 as in the kernels.
    power = instance.tx_power_w.tolist()
    gain = instance.gain.tolist()
    bits = instance.prompt_bits.tolist()
    work = instance.edge_workload_flop.tolist()
    t_local = instance.local_delay_s.tolist()
    bandwidth = instance.bandwidth_hz.tolist()
    flops = instance.server_flops.tolist()
    cap = instance.server_cap_flops.tolist()
    noise = instance.noise_w.tolist()
    law = instance.law
    if law.is_table:
        law_a, law_b, law_h = law.a.tolist(), law.b.tolist(), law.h.tolist()

    assignment = np.full(n, -1, dtype=np.int64)
    loads = [0] * m          # n_j: users on ES j
    # I_j = sum of P_k g_kj over the users k offloaded to an ES other than j, kept as a running
    # sum in placement order (the kernels add the same terms in the same order: same bits).
    interf = [0.0] * m

    def delta(i: int, j: int) -> float:
        users_on_j = loads[j] + 1
        sinr = power[i] * gain[i][j] / (noise[j] + interf[j])
        rate = bandwidth[j] / users_on_j * math.log2(1.0 + sinr)
        if law.is_table:  # t^comp = a_ij + b_i h_j(n_j)
            e_ij = bits[i] / rate + (law_a[i][j] + law_b[i] * law_h[j][users_on_j - 1])
        else:
            compute = min(cap[j], flops[j] / users_on_j)
            e_ij = bits[i] / rate + work[i] / compute
        return weight[i] * (e_ij - t_local[i])

    def smallest(candidates: list[int]) -> tuple[float, int, int]:
        best = None
        for i in candidates:               # increasing user index
            for j in range(m):             # increasing ES index
                d = delta(i, j)
                if best is None or d < best[0]:
                    best = (d, i, j)
        return best

    def place(step: int, i: int, j: int, d: float) -> None:
        if trace is not None:
            trace.append((step, i, j, d))
        assignment[i] = j
        loads[j] += 1
        if full:
            for k in range(m):
                if k != j:
                    interf[k] += power[i] * gain[i][k]

    # Step 1: the forced users, whatever the sign of delta.
    pending = np.flatnonzero(forced).tolist()
    while pending:
        d, i, j = smallest(pending)
        place(1, i, j, d)
        pending.remove(i)

    # Step 2: the other users while some delta is negative.
    pending = np.flatnonzero(optional & ~forced).tolist()
    while pending:
        d, i, j = smallest(pending)
        if d >= 0:
            break
        place(2, i, j, d)
        pending.remove(i)
    return assignment


def reference_goa(instance: Instance, tau: float = 0.8) -> np.ndarray:
    """GOA (docs/model.md section 5): weights alpha_i, forced set alpha_i > tau, then the rest."""
    forced = instance.forced(tau)
    return reference_greedy(instance, instance.alpha, forced, np.ones(instance.n_users, bool))


def reference_edge_all(instance: Instance) -> np.ndarray:
    """Edge-all: every user offloaded, placed one at a time by the smallest alpha-weighted delta."""
    everyone = np.ones(instance.n_users, bool)
    return reference_greedy(instance, instance.alpha, everyone, ~everyone)


def random_offload_set(instance: Instance, tau: float, n_offload: int, seed: int) -> np.ndarray:
    """The users the random baseline offloads: a boolean mask with ``n_offload`` users.

    The users forced by the accuracy guard (alpha_i > tau) are always in it (so the result
    stays feasible, as GOA's, which offloads at least those); the other ``n_offload - |F|`` are
    drawn uniformly without replacement from the remaining users with
    ``numpy.random.default_rng(seed)``.
    """
    forced = instance.forced(tau)
    others = np.flatnonzero(~forced)
    extra = n_offload - int(forced.sum())
    if not 0 <= extra <= others.size:
        raise ValueError(f"n_offload: must lie in {int(forced.sum())}..{instance.n_users}, "
                         f"got {n_offload}")
    rng = np.random.default_rng(seed)
    chosen = forced.copy()
    chosen[rng.choice(others, size=extra, replace=False)] = True
    return chosen


def reference_random(instance: Instance, tau: float = 0.8, seed: int = 0) -> np.ndarray:
    """Random: as many users as GOA offloads (see :func:`random_offload_set`), placed like
    edge-all but ranked by the unweighted e_ij - t^L_i."""
    n_offload = int(np.count_nonzero(reference_goa(instance, tau) >= 0))
    chosen = random_offload_set(instance, tau, n_offload, seed)
    return reference_greedy(instance, np.ones(instance.n_users), chosen,
                            np.zeros(instance.n_users, bool))


def reference_dmin(instance: Instance) -> np.ndarray:
    """D-min: GOA's step 2 on every user with the unweighted e_ij - t^L_i and no forced set."""
    everyone = np.ones(instance.n_users, bool)
    return reference_greedy(instance, np.ones(instance.n_users), ~everyone, everyone)


__all__ = ["reference_greedy", "reference_goa", "reference_edge_all", "reference_random",
           "reference_dmin", "random_offload_set"]
