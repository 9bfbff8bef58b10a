"""The accuracy-aware greedy for problem (P_A) (docs/model.md section 8.2).

(P_A): minimise T(a) subject to the expected accuracy
``A(a) = 100/N sum_i (p_slm_correct_i if a_i = -1 else p_llm_correct_i) >= A_min`` and, when a
tau is given, the guard alpha_i > tau => offloaded.

``acc_greedy`` in three steps:

1. start from the delay-minimising greedy: the guard's users placed first, then every user while
   it lowers the delay (d-min's rule, unweighted e_ij - t^L_i; d-min itself without a guard);
2. while the expected accuracy is short of A_min: among the single-user moves that raise it
   (a user to the side with the larger p: local -> an ES, or an ES -> local) and keep the guard,
   make the one with the smallest exact change of T (all users' delays, the congestion and the
   interference it causes included) per percentage point gained; a move that lowers T has a
   negative ratio and goes first. Ties: the lowest user, then the lowest target (local first);
3. cleanup: while some single-user move (to local or to any ES) lowers T and keeps the accuracy
   and the guard, make the one that lowers T most.

Every candidate move is scored by :func:`batch_total_delay_s`, a vectorised copy of the
evaluator's formulas over many assignments at once (a test proves it agrees with
``instances.evaluate``); what the result reports comes from the evaluator itself.
"""

from __future__ import annotations

import numpy as np

from instances import Instance
from instances.calibration import ACCURACY_TOL_PCT, check_min_accuracy

from .greedy import dmin_assignment

# A move must lower T by more than this relative amount to count as an improvement (so that
# rounding noise never cycles the cleanup).
_IMPROVE_RTOL = 1e-12


def batch_total_delay_s(instance: Instance, assignments: np.ndarray) -> np.ndarray:
    """T(a) in seconds for each row of ``assignments`` (K, N), by the formulas of
    ``instances.evaluate`` (docs/model.md section 3), vectorised over the rows.

    The interference at ES j is summed as (all offloaded users' power at j) minus (j's own
    users' power at j), so it may differ from the evaluator's in the last bits.
    """
    a = np.asarray(assignments, dtype=np.int64)
    m = instance.n_servers
    off = a >= 0
    server = np.where(off, a, 0)
    onehot = (a[:, :, None] == np.arange(m)[None, None, :]).astype(np.float64)  # (K, N, M)
    loads = onehot.sum(axis=1)  # (K, M)
    pg = instance.tx_power_w[:, None] * instance.gain  # (N, M)
    rows = np.arange(a.shape[0])[:, None]
    users = np.arange(a.shape[1])[None, :]
    if instance.interference == "full":
        # heard[k, j] = power at ES j from every offloaded user; own[k, j] from j's own users
        heard = np.einsum("knm,nj->kj", off[:, :, None] * 1.0, pg)
        own = np.einsum("knj,nj->kj", onehot, pg)
        interference = (heard - own)[rows, server]
    else:
        interference = 0.0
    sinr = pg[users, server] / (instance.noise_w[server] + interference)
    n_j = np.maximum(loads[rows, server], 1.0)
    rate = instance.bandwidth_hz[server] / n_j * np.log2(1.0 + sinr)
    edge = instance.prompt_bits[None, :] / rate + instance.compute_s(users, server, n_j)
    return np.where(off, edge, instance.local_delay_s[None, :]).sum(axis=1)


def _moves(assignment: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every single-user move: (users, targets, candidate assignments), ordered by user then
    target (-1 first)."""
    n = assignment.size
    users = np.repeat(np.arange(n), m + 1)
    targets = np.tile(np.arange(-1, m), n)
    keep = targets != assignment[users]
    users, targets = users[keep], targets[keep]
    candidates = np.repeat(assignment[None, :], users.size, axis=0)
    candidates[np.arange(users.size), users] = targets
    return users, targets, candidates


def _accuracy_sum(p_slm, p_llm, assignment) -> float:
    return float(np.where(assignment >= 0, p_llm, p_slm).sum())


def _delay_min_start(instance: Instance, forced: np.ndarray) -> np.ndarray:
    """Step 1: the guard's users placed first, then d-min's rule on everyone (numba greedy)."""
    return dmin_assignment(instance, forced, "lazy")


def accuracy_start(instance: Instance, tau: float | None, min_accuracy: float) -> np.ndarray:
    """A plan satisfying (P_A): steps 1 and 2 of the module docstring (no cleanup).

    Parameters
    ----------
    instance
        An instance with calibrated probabilities.
    tau
        The guard threshold in [0, 1], or ``None`` for no guard.
    min_accuracy
        A_min, the expected accuracy to reach, in percent.

    Returns
    -------
    numpy.ndarray
        The assignment (int64, -1 local), with expected accuracy >= A_min (to
        ``ACCURACY_TOL_PCT``) and the guard kept.

    Raises
    ------
    ValueError
        If A_min is outside [0, 100] or unreachable, tau is outside [0, 1], or the instance has
        no calibrated probabilities.
    """
    forced = np.zeros(instance.n_users, dtype=bool) if tau is None else instance.forced(tau)
    target = check_min_accuracy(instance, min_accuracy, tau)
    p_slm, p_llm = instance.correct_probabilities()
    need = instance.n_users * (target - ACCURACY_TOL_PCT) / 100.0
    a = _delay_min_start(instance, forced)
    total = float(batch_total_delay_s(instance, a[None, :])[0])
    while _accuracy_sum(p_slm, p_llm, a) < need:
        users, targets, candidates = _moves(a, instance.n_servers)
        here = np.where(a[users] >= 0, p_llm[users], p_slm[users])
        there = np.where(targets >= 0, p_llm[users], p_slm[users])
        gain = there - here
        ok = (gain > 0.0) & ~(forced[users] & (targets < 0))
        if not np.any(ok):  # cannot happen for a reachable A_min; a guard against a silent loop
            raise RuntimeError("acc_greedy: no move raises the accuracy although A_min is "
                               "reachable")
        idx = np.flatnonzero(ok)
        change = batch_total_delay_s(instance, candidates[idx]) - total
        k = int(np.argmin(change / gain[idx]))  # the first minimum: lowest user, then target
        a = candidates[idx[k]]
        total = float(total + change[k])
    return a


def cleanup(instance: Instance, assignment, tau: float | None, min_accuracy: float
            ) -> tuple[np.ndarray, int]:
    """Step 3: best-improvement single-user moves that keep the accuracy and the guard.

    Returns (assignment, number of moves made).
    """
    forced = np.zeros(instance.n_users, dtype=bool) if tau is None else instance.forced(tau)
    p_slm, p_llm = instance.correct_probabilities()
    need = instance.n_users * (min_accuracy - ACCURACY_TOL_PCT) / 100.0
    a = np.array(assignment, dtype=np.int64)
    total = float(batch_total_delay_s(instance, a[None, :])[0])
    moves = 0
    while True:
        users, targets, candidates = _moves(a, instance.n_servers)
        accuracy = np.where(candidates >= 0, p_llm[None, :], p_slm[None, :]).sum(axis=1)
        ok = (accuracy >= need) & ~(forced[users] & (targets < 0))
        idx = np.flatnonzero(ok)
        if idx.size == 0:
            return a, moves
        values = batch_total_delay_s(instance, candidates[idx])
        k = int(np.argmin(values))
        if not values[k] < total * (1.0 - _IMPROVE_RTOL):
            return a, moves
        a, total = candidates[idx[k]], float(values[k])
        moves += 1


def acc_greedy(instance: Instance, tau: float | None, min_accuracy: float
               ) -> tuple[np.ndarray, dict]:
    """The accuracy-aware greedy (module docstring): (assignment, info)."""
    start = accuracy_start(instance, tau, min_accuracy)
    a, moves = cleanup(instance, start, tau, float(min_accuracy))
    return a, {"cleanup_moves": moves}
