"""Exact search over assignments for either interference model: enumeration and branch-and-bound.

Both drive the numba kernels of :mod:`formulations.kernels` in slices and watch the wall clock
between slices, so a time limit is honoured to within about one slice (~0.2 s).
"""

from __future__ import annotations

import math

import numpy as np

from instances.result import Status
from instances import Instance

from instances.arrays import kernel_arrays, law_args

from . import kernels
from .outcome import Clock, Outcome

# Enumeration refuses instances with more assignments than this (about 20 min on 2 cores).
MAX_ENUMERATION = 10**10
# Each kernel call should take about this long, so that the clock is read often enough.
_SLICE_S = 0.2


_PROBLEM = ("forced", "local_s", "prompt_bits", "work_flop", "signal_w", "noise_w",
            "bandwidth_hz", "cap_flops", "flops")
_DELAYS = _PROBLEM[1:]


def _problem(arrays: dict, names=_PROBLEM) -> list:
    """The kernels' arguments ``names``, then the law (``instances.arrays.law_args``: None
    under "ps", else a tuple of arrays), which they all take last."""
    return [arrays[k] for k in names] + [law_args(arrays)]


def total_delay_s(arrays: dict, assignment) -> float:
    """T(a) in seconds by the kernel (agrees with ``instances.evaluate`` to rounding)."""
    a = np.ascontiguousarray(assignment, dtype=np.int64)
    return float(kernels.total_delay(a, *_problem(arrays, _DELAYS), arrays["full"]))


def improve(arrays: dict, assignment, clock: Clock | None = None) -> tuple[np.ndarray, float]:
    """Sweeps of single-user moves from ``assignment`` until none improves (or the clock runs
    out; it is read between sweeps). Returns (assignment, T in seconds); deterministic."""
    a = np.array(assignment, dtype=np.int64)
    problem = _problem(arrays)
    while True:
        moved, value = kernels.local_search_sweep(a, *problem, arrays["full"])
        if not moved or (clock is not None and clock.remaining() <= 0.0):
            return a, float(value)


def trivial_bound_s(arrays: dict) -> float:
    """sum_i min(t^L_i if free, min_j d_i(j, n_j = 1, I_j = 0)): valid since delays only grow."""
    best = np.where(arrays["forced"], np.inf, arrays["local_s"])
    return float(np.minimum(best, arrays["alone_s"].min(axis=1)).sum())


def enumeration_size(instance: Instance, tau: float) -> int:
    """The number of assignments that respect the accuracy guard: M^|F| (M + 1)^(N - |F|)."""
    n_forced = int(np.count_nonzero(instance.alpha > tau))
    m = instance.n_servers
    return m ** n_forced * (m + 1) ** (instance.n_users - n_forced)


def solve_enumeration(instance: Instance, tau: float, clock: Clock, incumbent, *,
                      max_assignments: int = MAX_ENUMERATION,
                      max_chunks: int | None = None) -> Outcome:
    """Evaluate every assignment that respects the accuracy guard (numba, parallel over chunks).

    Deterministic whatever the thread count: chunks are fixed blocks of the lexicographic order
    and are merged in that order, each keeping its first minimum, so ties go to the
    lexicographically lowest assignment (local = -1 before server 0, user 0 most significant).
    On a time limit (TIME_LIMIT) or after ``max_chunks`` chunks of the fixed order (the work
    budget, WORK_LIMIT: the same on every machine) the best of the chunks done (or the
    incumbent) is returned with the trivial bound; ``info["chunks"]`` is the number of chunks.
    """
    size = enumeration_size(instance, tau)
    if size > max_assignments:
        raise ValueError(
            f"instance: too large for enumeration ({size:.3g} assignments > max_assignments = "
            f"{max_assignments:.3g}); use backend='bnb'")
    arrays = kernel_arrays(instance, tau)
    forced = arrays["forced"]
    m = instance.n_servers
    radix = np.where(forced, m, m + 1)
    # the prefix: as many leading users as keep each chunk at most ~2e5 assignments
    n_prefix = 0
    while n_prefix < instance.n_users and math.prod(radix[n_prefix:].tolist()) > 200_000:
        n_prefix += 1
    n_chunks = math.prod(radix[:n_prefix].tolist())
    chunk_size = size // n_chunks
    best_val, best_chunk, best_code = math.inf, -1, -1
    done, batch = 0, 2
    chunk_limit = n_chunks if max_chunks is None else min(int(max_chunks), n_chunks)
    while done < chunk_limit:
        if clock.remaining() <= 0.0:
            break
        count = min(batch, chunk_limit - done)
        out_val = np.empty(count)
        out_code = np.empty(count, dtype=np.int64)
        started = clock.elapsed()
        kernels.enumerate_chunks(done, count, n_prefix, *_problem(arrays),
                                 arrays["full"], out_val, out_code)
        took = clock.elapsed() - started
        for c in range(count):
            if out_val[c] < best_val:
                best_val, best_chunk, best_code = float(out_val[c]), done + c, int(out_code[c])
        done += count
        # grow the batch towards one slice of wall time
        if took < _SLICE_S / 2:
            batch *= 2
        elif took > _SLICE_S * 2 and batch > 1:
            batch //= 2
    info = {"assignments": size, "chunks_done": done, "chunks": n_chunks,
            "evaluated": done * chunk_size}
    if best_chunk >= 0:
        assignment = _decode(best_chunk * chunk_size + best_code, radix, forced)
    else:
        assignment = None
    if done == n_chunks:
        return Outcome(assignment, Status.OPTIMAL, objective_ms=best_val * 1e3,
                       bound_ms=best_val * 1e3, info=info)
    # stopped early: fall back on the incumbent if it is better than the chunks done
    if incumbent is not None:
        inc_val = total_delay_s(arrays, incumbent)
        if assignment is None or inc_val < best_val:
            assignment, best_val = np.asarray(incumbent, dtype=np.int64), inc_val
    bound = min(trivial_bound_s(arrays), best_val)
    status = Status.WORK_LIMIT if done >= chunk_limit else Status.TIME_LIMIT
    return Outcome(assignment, status,
                   objective_ms=None if assignment is None else best_val * 1e3,
                   bound_ms=bound * 1e3, info=info)


def _decode(number: int, radix: np.ndarray, forced: np.ndarray) -> np.ndarray:
    """The assignment with this mixed-radix number (user 0 most significant)."""
    a = np.empty(radix.size, dtype=np.int64)
    for i in range(radix.size - 1, -1, -1):
        number, digit = divmod(number, int(radix[i]))
        a[i] = digit if forced[i] else digit - 1
    return a


def solve_bnb(instance: Instance, tau: float, clock: Clock, incumbent, *,
              max_nodes: int | None = None, pair: int = 2, reverse: bool = False) -> Outcome:
    """Depth-first branch-and-bound (see :mod:`formulations.kernels` for the bound).

    The incumbent (a feasible assignment, required) seeds the search after a local search.
    Users are branched on in index order (``reverse``: the opposite order; on M = 4, N = 8..14
    neither forced-first nor largest-W^E-first orders beat index order clearly). Stops at the
    clock's limit (TIME_LIMIT) or after ``max_nodes`` nodes (WORK_LIMIT) with the best assignment
    and the smallest bound of the open subtrees. ``pair`` selects the node bound's growth among
    forced newcomers (2, or the weaker 1: see :func:`formulations.kernels._node_bound`).
    Deterministic: the node order does not depend on timing (only where it stops).
    """
    arrays = kernel_arrays(instance, tau)
    n, m = instance.n_users, instance.n_servers
    problem = _problem(arrays)
    start, start_val = improve(arrays, incumbent, clock)
    order = np.arange(n, dtype=np.int64)
    if reverse:
        order = order[::-1].copy()
    pair = float(pair)
    assign = np.full(n, -1, dtype=np.int64)
    loads = np.zeros((n + 1, m))
    interference = np.zeros((n + 1, m))
    opts = np.zeros((n, m + 1), dtype=np.int64)
    n_opts = np.zeros(n, dtype=np.int64)
    ptr = np.zeros(n, dtype=np.int64)
    best_val = np.array([start_val])
    best_assign = start.copy()
    root_bound = kernels.bnb_root(order, assign, loads, interference, opts, n_opts, ptr, *problem,
                                  pair)
    state = np.zeros(2, dtype=np.int64)
    budget, done = 20_000, False
    node_limit = math.inf if max_nodes is None else max_nodes
    while not done and clock.remaining() > 0.0 and state[1] < node_limit:
        started = clock.elapsed()
        if state[1] + budget > node_limit:
            budget = max(int(node_limit - state[1]), 1)
        done = kernels.bnb_run(state, budget, order, assign, loads, interference, opts, n_opts,
                               ptr, best_val, best_assign, *problem, arrays["full"], pair)
        took = max(clock.elapsed() - started, 1e-6)
        # aim the next slice at _SLICE_S or the time left, whichever is shorter
        target = min(_SLICE_S, max(clock.remaining(), 0.01))
        budget = int(min(max(budget * target / took, 1_000), 50_000_000))
    info = {"nodes": int(state[1]), "root_bound_ms": root_bound * 1e3,
            "start_ms": start_val * 1e3}
    value = float(best_val[0])
    if done:
        # every pruned subtree was within PRUNE_RTOL of the incumbent
        return Outcome(best_assign, Status.OPTIMAL, objective_ms=value * 1e3,
                       bound_ms=value * (1.0 - kernels.PRUNE_RTOL) * 1e3, info=info)
    bound = kernels.bnb_open_bound(state, order, assign, loads, interference, opts, n_opts, ptr,
                                   best_val, *problem, arrays["full"], pair)
    status = Status.WORK_LIMIT if state[1] >= node_limit else Status.TIME_LIMIT
    return Outcome(best_assign, status, objective_ms=value * 1e3, bound_ms=float(bound) * 1e3,
                   info=info)
