"""Numba kernels: the greedy of docs/model.md section 5 (two ways) and the GA of section 6.

The readable twins are in :mod:`goa.reference`; the tests prove that the greedy kernels take
exactly the same decisions. Floating point: ``_delta`` evaluates delta_ij with the shared
``instances.delay_kernel.edge_delay_s``, whose operations and order are those of ``delta`` in
``reference.reference_greedy`` and of ``instances.evaluate`` (numba does not
reassociate or fuse without ``fastmath``, and ``math.log2`` is the C library's in both), so the
values are bit-identical, and ties are broken the same way (lowest user index, then lowest ES
index). Were numba to use Intel SVML (``numba.config.USING_SVML``), a vectorised ``log2`` could
differ in the last bit: set ``NUMBA_DISABLE_INTEL_SVML=1`` then (the equivalence tests would
catch it).

``error_model="numpy"``: a float division by zero gives inf instead of raising. It changes no
value, and without it the exception checks keep LLVM from inlining ``_delta`` (12x slower).

Array arguments, by name (all float64 unless said otherwise):

- ``pg`` (N, M): received power P_i g_ij; ``bits``: D_i; ``work``: W^E_i; ``t_local``: t^L_i;
  ``weight``: the weight w_i of delta_ij = w_i (e_ij - t^L_i) (alpha_i for GOA, 1 unweighted);
- ``bandwidth``: B_j; ``flops``: C_j; ``cap``: C^max_j; ``noise``: sigma^2_j = N0 B_j;
- ``law``: the congestion law of ``instances.arrays.law_args`` (``None`` under "ps", else the
  tuple ``(law_a, law_b, law_h)``), read only by ``edge_delay_s``;
- ``full``: whether interference model "full" applies (else "none");
- state: ``assignment`` (int64, -1 local), ``loads`` (int64, n_j) and ``interf`` (I_j, the power
  received at ES j from the users already offloaded to other ESs).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from instances.delay_kernel import edge_delay_s

# -- the greedy ---------------------------------------------------------------------------------


@njit(cache=True, error_model="numpy")
def _delta(i, j, pg, bits, work, t_local, weight, bandwidth, flops, cap, noise, law, loads, interf):
    """delta_ij = w_i (e_ij - t^L_i), e_ij with n_j + 1 users on j (same order as the reference)."""
    e = edge_delay_s(bits[i], work[i], pg[i, j], noise[j], interf[j], bandwidth[j], cap[j],
                     flops[j], loads[j] + 1, law, i, j)
    return weight[i] * (e - t_local[i])


@njit(cache=True, error_model="numpy")
def _row_min(i, pg, bits, work, t_local, weight, bandwidth, flops, cap, noise, law, loads, interf):
    """(min_j delta_ij, the lowest j attaining it)."""
    best = _delta(i, 0, pg, bits, work, t_local, weight, bandwidth, flops, cap, noise, law, loads,
                  interf)
    best_j = 0
    for j in range(1, pg.shape[1]):
        d = _delta(i, j, pg, bits, work, t_local, weight, bandwidth, flops, cap, noise, law, loads,
                   interf)
        if d < best:
            best = d
            best_j = j
    return best, best_j


@njit(cache=True, error_model="numpy")
def _place(i, j, pg, full, assignment, loads, interf):
    """Offload user i to ES j: its load grows, and (model "full") every other ES hears i."""
    assignment[i] = j
    loads[j] += 1
    if full:
        for k in range(pg.shape[1]):
            if k != j:
                interf[k] += pg[i, k]


@njit(cache=True, error_model="numpy")
def _before(key_a, user_a, key_b, user_b):
    """Heap order: smaller delta first, then the lower user index."""
    return key_a < key_b or (key_a == key_b and user_a < user_b)


@njit(cache=True, error_model="numpy")
def _sift_down(keys, users, size, pos):
    while True:
        left = 2 * pos + 1
        if left >= size:
            return
        child = left
        right = left + 1
        if right < size and _before(keys[right], users[right], keys[left], users[left]):
            child = right
        if not _before(keys[child], users[child], keys[pos], users[pos]):
            return
        keys[pos], keys[child] = keys[child], keys[pos]
        users[pos], users[child] = users[child], users[pos]
        pos = child


@njit(cache=True, error_model="numpy")
def _lazy_phase(users, stop_at_nonneg, pg, bits, work, t_local, weight, bandwidth, flops, cap,
                noise, law, full, assignment, loads, interf):
    """One greedy phase with a lazily re-evaluated heap of per-user row minima.

    Every delta_ij only grows as users are placed (loads and interference only grow, w_i >= 0;
    in floating point too, as every step of ``_delta`` is monotone under round-to-nearest, the
    C library's log2 included in practice; a test checks it), so a user's stored row minimum is
    a lower bound of its current one. The heap is ordered by
    (stored key, user). When the top's key is current, (key, user) is below every other user's
    (stored key, user) and so below its current one: the top is the pair a full scan would pick,
    ties included (the row minimum already takes the lowest ES). A stale top is recomputed and
    sifted down. A row is current while its best ES is unchanged since it was computed: a change
    elsewhere only raises the other entries of the row (under "none" that is most rows; under
    "full" every placement changes every ES).
    """
    n, m = pg.shape
    size = users.size
    heap_keys = np.empty(size)
    heap_users = users.copy()
    row_j = np.zeros(n, np.int64)
    computed = np.zeros(n, np.int64)  # version at which the row minimum was computed
    changed = np.zeros(m, np.int64)   # version at which ES j's state last changed
    version = 0
    for k in range(size):
        i = heap_users[k]
        heap_keys[k], row_j[i] = _row_min(i, pg, bits, work, t_local, weight, bandwidth, flops,
                                          cap, noise, law, loads, interf)
    for pos in range(size // 2 - 1, -1, -1):
        _sift_down(heap_keys, heap_users, size, pos)
    while size > 0:
        i = heap_users[0]
        if computed[i] < changed[row_j[i]]:
            heap_keys[0], row_j[i] = _row_min(i, pg, bits, work, t_local, weight, bandwidth,
                                              flops, cap, noise, law, loads, interf)
            computed[i] = version
            _sift_down(heap_keys, heap_users, size, 0)
            continue
        if stop_at_nonneg and heap_keys[0] >= 0.0:
            return
        j = row_j[i]
        _place(i, j, pg, full, assignment, loads, interf)
        version += 1
        if full:
            changed[:] = version
        else:
            changed[j] = version
        size -= 1
        heap_keys[0] = heap_keys[size]
        heap_users[0] = heap_users[size]
        _sift_down(heap_keys, heap_users, size, 0)


@njit(cache=True, error_model="numpy")
def _scan_phase(users, stop_at_nonneg, pg, bits, work, t_local, weight, bandwidth, flops, cap,
                noise, law, full, assignment, loads, interf):
    """One greedy phase by a full scan of every (user, ES) pair per step: O(|users| M) a step."""
    active = users.copy()
    size = active.size
    while size > 0:
        best = 0.0
        best_i = -1
        best_j = -1
        best_k = -1
        for k in range(size):
            i = active[k]
            d, j = _row_min(i, pg, bits, work, t_local, weight, bandwidth, flops, cap, noise, law,
                            loads, interf)
            if best_k < 0 or _before(d, i, best, best_i):
                best, best_i, best_j, best_k = d, i, j, k
        if stop_at_nonneg and best >= 0.0:
            return
        _place(best_i, best_j, pg, full, assignment, loads, interf)
        size -= 1
        active[best_k] = active[size]


@njit(cache=True, error_model="numpy")
def greedy(forced, optional, lazy, pg, bits, work, t_local, weight, bandwidth, flops, cap,
           noise, law, full):
    """The two-phase greedy of docs/model.md section 5; returns the assignment (int64, -1 local).

    Phase 1 places every user of ``forced`` (bool, N) whatever the sign of its delta; phase 2
    places users of ``optional & ~forced`` while the smallest delta is negative. ``lazy`` selects
    the heap (True) or the full scan (False); both take the same decisions.
    """
    n, m = pg.shape
    assignment = np.full(n, -1, np.int64)
    loads = np.zeros(m, np.int64)
    interf = np.zeros(m)
    phases = (np.flatnonzero(forced), np.flatnonzero(optional & ~forced))
    for phase in range(2):
        users = phases[phase]
        stop = phase == 1
        if lazy:
            _lazy_phase(users, stop, pg, bits, work, t_local, weight, bandwidth, flops, cap,
                        noise, law, full, assignment, loads, interf)
        else:
            _scan_phase(users, stop, pg, bits, work, t_local, weight, bandwidth, flops, cap,
                        noise, law, full, assignment, loads, interf)
    return assignment


# -- the GA -------------------------------------------------------------------------------------


@njit(cache=True, error_model="numpy")
def _total_delay_s(a, pg, bits, work, t_local, bandwidth, flops, cap, noise, law, full, loads, recv,
                   interf):
    """T(a) in seconds, as ``instances.evaluate`` computes it (buffers passed in, reused)."""
    n, m = pg.shape
    loads[:] = 0
    recv[:, :] = 0.0
    for i in range(n):
        j = a[i]
        if j >= 0:
            loads[j] += 1
            if full:
                for k in range(m):
                    recv[j, k] += pg[i, k]
    for k in range(m):
        total = 0.0
        if full:
            for j in range(m):
                if j != k:
                    total += recv[j, k]
        interf[k] = total
    total = 0.0
    for i in range(n):
        j = a[i]
        if j < 0:
            total += t_local[i]
        else:
            total += edge_delay_s(bits[i], work[i], pg[i, j], noise[j], interf[j],
                                  bandwidth[j], cap[j], flops[j], loads[j], law, i, j)
    return total


@njit(cache=True, error_model="numpy")
def total_delay_s(a, pg, bits, work, t_local, bandwidth, flops, cap, noise, law, full):
    """T(a) in seconds for one assignment (the GA's fitness)."""
    m = pg.shape[1]
    return _total_delay_s(a, pg, bits, work, t_local, bandwidth, flops, cap, noise, law, full,
                          np.zeros(m, np.int64), np.zeros((m, m)), np.zeros(m))


@njit(cache=True, error_model="numpy")
def _random_gene(forced, m):
    """A uniform allowed value: an ES for a forced user, else local or an ES."""
    if forced:
        return np.random.randint(0, m)
    return np.random.randint(-1, m)


@njit(cache=True, error_model="numpy")
def _tournament(fitness, size):
    """Index of the fittest of ``size`` individuals drawn with replacement (first drawn on ties)."""
    best = np.random.randint(0, fitness.size)
    for _ in range(size - 1):
        other = np.random.randint(0, fitness.size)
        if fitness[other] < fitness[best]:
            best = other
    return best


@njit(cache=True, error_model="numpy")
def ga(forced, initial, population, generations, mutation, elites, patience, tournament, seed,
       pg, bits, work, t_local, bandwidth, flops, cap, noise, law, full):
    """The GA; returns (best assignment, its T in s, best initial T in s, generations run).

    Initial population: the rows of ``initial`` (int64, (k, N), k <= population), then uniform
    random individuals (forced users on a uniform ES, others uniform over local and the ESs).
    Each generation keeps the ``elites`` fittest unchanged and fills the rest with children:
    two parents by tournament selection, uniform crossover (each gene from either parent with
    probability 1/2), then each gene is redrawn uniformly with probability ``mutation``. Forced
    users are never local. Stops after ``generations`` generations or ``patience`` generations
    without a strict improvement of the best. The best individual ever seen is returned, so it
    is never worse than the best initial one. ``seed`` seeds numba's generator (same seed, same
    result).
    """
    np.random.seed(seed)
    n, m = pg.shape
    loads = np.zeros(m, np.int64)
    recv = np.zeros((m, m))
    interf = np.zeros(m)
    pop = np.empty((population, n), np.int64)
    nxt = np.empty((population, n), np.int64)
    fit = np.empty(population)
    nxt_fit = np.empty(population)
    for p in range(population):
        if p < initial.shape[0]:
            pop[p] = initial[p]
        else:
            for i in range(n):
                pop[p, i] = _random_gene(forced[i], m)
        fit[p] = _total_delay_s(pop[p], pg, bits, work, t_local, bandwidth, flops, cap, noise, law,
                                full, loads, recv, interf)
    order = np.argsort(fit, kind="mergesort")
    best = pop[order[0]].copy()
    best_fit = fit[order[0]]
    initial_best = best_fit
    stall = 0
    generation = 0
    while generation < generations and stall < patience:
        for e in range(elites):
            nxt[e] = pop[order[e]]
            nxt_fit[e] = fit[order[e]]
        for c in range(elites, population):
            mother = _tournament(fit, tournament)
            father = _tournament(fit, tournament)
            for i in range(n):
                gene = pop[mother, i] if np.random.random() < 0.5 else pop[father, i]
                if np.random.random() < mutation:
                    gene = _random_gene(forced[i], m)
                nxt[c, i] = gene
            nxt_fit[c] = _total_delay_s(nxt[c], pg, bits, work, t_local, bandwidth, flops, cap,
                                        noise, law, full, loads, recv, interf)
        pop, nxt = nxt, pop
        fit, nxt_fit = nxt_fit, fit
        order = np.argsort(fit, kind="mergesort")
        generation += 1
        if fit[order[0]] < best_fit:
            best[:] = pop[order[0]]
            best_fit = fit[order[0]]
            stall = 0
        else:
            stall += 1
    return best, best_fit, initial_best, generation
