"""Exact (P_A) and the exact accuracy-delay front by a search over offload sets (either
interference model, N <= :data:`MAX_SUBSET_USERS`).

The expected accuracy depends only on WHO is offloaded, so the search runs over the 2^N offload
sets (those containing the guard's users), each placed optimally by a branch-and-bound
(:mod:`formulations.accuracy_kernels`), pruned by a running cutoff. Processing the sets in
decreasing order of accuracy, every set that beats all sets of higher accuracy is a corner of
the exact front: one pass gives the whole staircase (:func:`formulations.front.exact_front`).
It is exact for any N it finishes; it refuses N > 16 (2^16 sets, and M^|S| placements per set
in the worst case: at N = 12, M = 4 a front takes seconds).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from instances import Instance, evaluate
from instances.arrays import kernel_arrays, law_args
from instances.calibration import ACCURACY_TOL_PCT
from instances.result import Status

from .outcome import Clock, Outcome

#: The subset search refuses more users than this.
MAX_SUBSET_USERS = 16
# Sets are handed to the kernel in slices of about this many seconds (time-limit checks).
_SLICE_S = 0.2


@dataclass(frozen=True, eq=False)
class OffloadSets:
    """The offload sets containing the guard's users: masks, accuracy (percent), local delay of
    the users outside (s) and the set-level bound lb0 (s)."""

    masks: np.ndarray
    accuracy_pct: np.ndarray
    fixed_s: np.ndarray
    lb0_s: np.ndarray


def offload_sets(instance: Instance, tau: float) -> OffloadSets:
    n = instance.n_users
    if n > MAX_SUBSET_USERS:
        raise ValueError(f"instance: too large for the subset search (N = {n} > "
                         f"{MAX_SUBSET_USERS})")
    forced = instance.forced(tau)
    masks = np.arange(2 ** n, dtype=np.int64)
    member = ((masks[:, None] >> np.arange(n)[None, :]) & 1).astype(bool)  # (2^N, N)
    keep = np.all(member[:, forced], axis=1)
    masks, member = masks[keep], member[keep]
    p_slm, p_llm = instance.correct_probabilities()
    accuracy = np.where(member, p_llm[None, :], p_slm[None, :]).mean(axis=1) * 100.0
    local = instance.local_delay_s
    fixed = np.where(member, 0.0, local[None, :]).sum(axis=1)
    lb0 = fixed + np.where(member, instance.alone_delay_s.min(axis=1)[None, :], 0.0).sum(axis=1)
    return OffloadSets(masks, accuracy, fixed, lb0)


def search_sets(instance: Instance, sets: OffloadSets, order: np.ndarray, cutoff: float,
                clock: Clock):
    """Run the kernel over ``order`` (indices into ``sets``) in slices while the clock allows.
    Returns (improved, values, assignments, number of sets done), all in ``order``'s order."""
    from . import accuracy_kernels

    size = order.size
    n = instance.n_users
    masks = np.ascontiguousarray(sets.masks[order])
    lb0 = np.ascontiguousarray(sets.lb0_s[order])
    fixed = np.ascontiguousarray(sets.fixed_s[order])
    improved = np.zeros(size, dtype=bool)
    values = np.full(size, np.inf)
    assignments = np.full((size, n), -1, dtype=np.int64)
    a = kernel_arrays(instance)
    arrays = (a["signal_w"], a["prompt_bits"], a["work_flop"], a["noise_w"],
              a["bandwidth_hz"], a["cap_flops"], a["flops"], law_args(a), a["full"])
    done, batch = 0, 64
    while done < size and clock.remaining() > 0.0:
        last = min(size, done + batch)
        started = clock.elapsed()
        cutoff = accuracy_kernels.search_sets(masks, lb0, fixed, done, last, cutoff, *arrays,
                                              improved, values, assignments)
        took = clock.elapsed() - started
        done = last
        if took < _SLICE_S / 2:
            batch *= 2
        elif took > 2 * _SLICE_S and batch > 1:
            batch //= 2
    return improved, values, assignments, done


def solve_subsets(instance, tau, target, clock, warm) -> Outcome:
    """min T over the sets reaching the target, sets in increasing order of lb0 (a good plan
    early prunes the rest), the warm start's T as the first cutoff."""
    sets = offload_sets(instance, tau)
    eligible = np.flatnonzero(sets.accuracy_pct >= target - ACCURACY_TOL_PCT)
    order = eligible[np.argsort(sets.lb0_s[eligible], kind="stable")]
    warm_s = evaluate(instance, warm).total_delay_ms / 1e3
    # the warm start is an incumbent only by a hair: the search must still find its optimum,
    # so the first cutoff is a little above it
    cutoff = warm_s * (1.0 + 1e-9)
    improved, values, assignments, done = search_sets(instance, sets, order, cutoff, clock)
    info = {"sets": int(order.size), "sets_done": int(done)}
    found = np.flatnonzero(improved)
    if found.size:
        best = found[-1]  # each improvement lowers the cutoff: the last one is the best
        assignment, value = assignments[best], float(values[best])
    else:
        assignment, value = warm, warm_s
    if done == order.size:
        return Outcome(assignment, Status.OPTIMAL, objective_ms=value * 1e3,
                       bound_ms=value * 1e3 * (1.0 - 1e-9), info=info)
    bound = min(value, float(sets.lb0_s[order[done:]].min()))
    return Outcome(assignment, Status.TIME_LIMIT, objective_ms=value * 1e3, bound_ms=bound * 1e3,
                   info=info)

