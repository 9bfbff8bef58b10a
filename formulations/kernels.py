"""Numba kernels for exact search over assignments under either interference model.

A user's delay is docs/model.md section 3 by the one jitted formula
``instances.delay_kernel.edge_delay_s`` (rate = B_j / n_j * log2(1 + SINR), comm = D_i / rate,
comp = W^E_i / min(C^max_j, C_j / n_j)), written the way :func:`instances.evaluate` writes it, so
the kernels' totals agree with the evaluator to rounding; the tests prove it. A user is
"-1" (local) or a server index, as in an assignment vector.

The kernels:

- :func:`total_delay`, T(a) of one assignment (the readable twin is ``instances.evaluate``),
  and :func:`local_search_sweep`, single-user moves;
- :func:`enumerate_chunks`, exhaustive enumeration of a block of assignments, in parallel over
  chunks, each chunk in lexicographic order; ties keep the first (lowest) assignment;
- :func:`bnb_run`, a depth-first branch-and-bound with an explicit stack, resumable: it stops after
  a node budget and continues from the same state on the next call, so that the caller can watch
  the clock between calls.

The B&B bound at a node where the users ``order[0..d-1]`` are fixed rests on two monotonicity
facts: an offloaded user's delay grows with its server's load n_j and with the interference I_j
it sees, and both only grow as more users are fixed. With n_j, I_j the load and interference
from the fixed users alone:

- a fixed user k on j pays at least ``D_k n / (B_j log2(1 + s_kj / (sigma_j + I_j))) +
  W_k max(1/C^max_j, n / C_j)`` at the final load n >= n_j; summed over j's fixed users this is
  ``G_j(n) = n A_j + Wsum_j max(1/C^max_j, n/C_j)``, convex in n, so every further user that
  joins j raises it by at least ``dG_j = G_j(n_j + 1) - G_j(n_j)``;
- an unfixed user u pays at least ``min(t^L_u if free, min_j d_u(j, n_j + 1, I_j) + dG_j)``
  (its own delay and the growth it causes, bound 1);
- or, separately (bound 2): each unfixed user pays at least its own best delay
  ``min(t^L_u, min_j d_u(j, n_j + 1, I_j))``, and the F unfixed forced users must join some
  servers: if k of them join j, the fixed users there pay G_j(n_j + k) - G_j(n_j) more and the
  newcomers slow each other down, by at least ``c_min_j`` (their smallest comm per load on j) and
  ``w_min`` (their smallest W^E) per step; these increments grow with k, so the F cheapest of
  them across servers (taken greedily) bound the extra cost from below.

The bound is the fixed part plus the larger of bounds 1 and 2; each adds lower bounds of
disjoint parts of T.

Under a table law (``law``, the tuple (a, b, h) of ``instances.arrays.law_args``; None under
"ps": t^comp = a_ij + b_i h_j(n), h_j only nondecreasing) the same bound holds with what
monotonicity alone gives:
a fixed user pays at least ``a_kj + b_k h_j(n_j)``, a newcomer at least ``a_uj + b_u h_j(n_j +
1)``, and the compute part of every increment (``dG_j``, and ``dg`` in bound 2) is taken as 0,
leaving the communication growth, which is linear in n.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from instances.delay_kernel import edge_delay_s

# Nodes are pruned when their bound is within this relative margin of the incumbent: the optimum
# is proven to this relative tolerance (rounding in the bound is far below it).
PRUNE_RTOL = 1e-12


@nb.njit(cache=True)
def total_delay(a, local_s, prompt_bits, work_flop, signal_w, noise_w, bandwidth_hz, cap_flops,
                flops, law, full):
    """T(a) in seconds. ``signal_w[i, j]`` = P_i g_ij; ``full`` selects interference "full"."""
    n_users, n_servers = signal_w.shape
    loads = np.zeros(n_servers)
    received = np.zeros((n_servers, n_servers))  # [cell j', server j] as in the evaluator
    for i in range(n_users):
        if a[i] >= 0:
            loads[a[i]] += 1.0
            if full:
                for j in range(n_servers):
                    received[a[i], j] += signal_w[i, j]
    interference = np.zeros(n_servers)
    if full:
        for jp in range(n_servers):
            for j in range(n_servers):
                if jp != j:
                    interference[j] += received[jp, j]
    total = 0.0
    for i in range(n_users):
        j = a[i]
        if j < 0:
            total += local_s[i]
        else:
            total += edge_delay_s(prompt_bits[i], work_flop[i], signal_w[i, j], noise_w[j],
                                  interference[j], bandwidth_hz[j], cap_flops[j], flops[j],
                                  loads[j], law, i, j)
    return total


@nb.njit(cache=True)
def local_search_sweep(a, forced, local_s, prompt_bits, work_flop, signal_w, noise_w,
                       bandwidth_hz, cap_flops, flops, law, full):
    """One sweep of single-user moves over users 0..N-1, in place: each user takes its best
    option (forced users never local) if that lowers T. Returns (moved, T after the sweep)."""
    n_users, n_servers = signal_w.shape
    best = total_delay(a, local_s, prompt_bits, work_flop, signal_w, noise_w, bandwidth_hz,
                       cap_flops, flops, law, full)
    moved = False
    for i in range(n_users):
        old = a[i]
        choice, value = old, best
        first = 0 if forced[i] else -1
        for o in range(first, n_servers):
            if o == old:
                continue
            a[i] = o
            val = total_delay(a, local_s, prompt_bits, work_flop, signal_w, noise_w,
                              bandwidth_hz, cap_flops, flops, law, full)
            if val < value:
                choice, value = o, val
        a[i] = choice
        if choice != old:
            best = value
            moved = True
    return moved, best


# --- exhaustive enumeration ------------------------------------------------------------------

@nb.njit(cache=True, parallel=True)
def enumerate_chunks(first_chunk, n_chunks, n_prefix, forced, local_s, prompt_bits, work_flop,
                     signal_w, noise_w, bandwidth_hz, cap_flops, flops, law, full, out_val,
                     out_code):
    """Evaluate every assignment of chunks ``first_chunk .. first_chunk + n_chunks - 1``.

    User i has ``k_i`` options (M if forced, else M + 1 with local first); an assignment is a
    mixed-radix number, user 0 most significant, digit t meaning option ``t`` (forced) or
    ``t - 1`` (free), so numeric order is lexicographic order of the assignment vector. A chunk
    fixes the first ``n_prefix`` digits. For each chunk c, ``out_val[c]`` gets its minimum T and
    ``out_code[c]`` the suffix number of the first assignment reaching it.
    """
    n_users, n_servers = signal_w.shape
    for c in nb.prange(n_chunks):
        chunk = first_chunk + c
        a = np.empty(n_users, np.int64)
        radix = np.empty(n_users, np.int64)
        for i in range(n_users):
            radix[i] = n_servers if forced[i] else n_servers + 1
        # decode the prefix digits of this chunk (user n_prefix - 1 least significant)
        rest = chunk
        for i in range(n_prefix - 1, -1, -1):
            digit = rest % radix[i]
            rest //= radix[i]
            a[i] = digit if forced[i] else digit - 1
        suffix_size = 1
        for i in range(n_prefix, n_users):
            suffix_size *= radix[i]
            a[i] = 0 if forced[i] else -1
        best = np.inf
        best_code = -1
        digits = np.zeros(n_users, np.int64)
        for code in range(suffix_size):
            val = total_delay(a, local_s, prompt_bits, work_flop, signal_w, noise_w,
                              bandwidth_hz, cap_flops, flops, law, full)
            if val < best:
                best = val
                best_code = code
            # increment the suffix counter, last user fastest
            i = n_users - 1
            while i >= n_prefix:
                digits[i] += 1
                if digits[i] < radix[i]:
                    a[i] = digits[i] if forced[i] else digits[i] - 1
                    break
                digits[i] = 0
                a[i] = 0 if forced[i] else -1
                i -= 1
        out_val[c] = best
        out_code[c] = best_code


# --- branch-and-bound --------------------------------------------------------------------------

@nb.njit(cache=True)
def _node_bound(d, order, assign, loads, interference, forced, local_s, prompt_bits, work_flop,
                signal_w, noise_w, bandwidth_hz, cap_flops, flops, law, scores, first_user, pair):
    """Lower bound on T below a node (see the module docstring).

    ``loads`` and ``interference`` are the node's n_j and I_j (from the users order[0..d-1]).
    Fills ``scores[0..M]`` (option -1 at index 0) with the lower-bound cost of each option of
    user ``order[first_user]`` when ``first_user >= 0``. ``pair`` (1 or 2) is the number of
    newcomers whose comm grows with each pair of forced newcomers on one server (2 is valid and
    tighter; 1, the weaker bound, serves as an independent check in the tests).
    """
    n_users, n_servers = signal_w.shape
    fixed_lb = 0.0
    comm_per_load = np.zeros(n_servers)  # A_j
    work_sum = np.zeros(n_servers)  # Wsum_j
    for k in range(d):
        u = order[k]
        j = assign[u]
        if j < 0:
            fixed_lb += local_s[u]
        else:
            sinr = signal_w[u, j] / (noise_w[j] + interference[j])
            comm_per_load[j] += prompt_bits[u] / (bandwidth_hz[j] * np.log2(1.0 + sinr))
            if law is not None:
                work_sum[j] += law[1][u]
                fixed_lb += law[0][u, j]
            else:
                work_sum[j] += work_flop[u]
    growth = np.zeros(n_servers)  # dG_j
    for j in range(n_servers):
        n = loads[j]
        if law is not None:
            # a table's h_j is only nondecreasing: the fixed users' compute is at least its
            # value at today's load, and a newcomer is charged only the comm growth A_j
            if n > 0.0:
                fixed_lb += n * comm_per_load[j] + work_sum[j] * law[2][j, int(n) - 1]
            growth[j] = comm_per_load[j]
            continue
        comp_now = max(1.0 / cap_flops[j], n / flops[j])
        comp_next = max(1.0 / cap_flops[j], (n + 1.0) / flops[j])
        fixed_lb += n * comm_per_load[j] + work_sum[j] * comp_now
        growth[j] = comm_per_load[j] + work_sum[j] * (comp_next - comp_now)
    # bound 1: each unfixed user alone, with the growth it causes to the fixed users on j
    # bound 2: each unfixed user's own delay alone, plus the cheapest way to absorb the unfixed
    # forced users (they must go somewhere): increments of the fixed users' convex G_j and of
    # the forced newcomers' own delays, at least c_min_j and w_min per step of load
    own_sum = 0.0
    coupled_sum = 0.0
    n_forced = 0
    w_min = np.inf
    c_min = np.full(n_servers, np.inf)
    for k in range(d, n_users):
        u = order[k]
        best_own = np.inf if forced[u] else local_s[u]
        best = best_own
        if k == first_user:
            scores[0] = best
        if forced[u]:
            n_forced += 1
            w_min = min(w_min, work_flop[u])
        for j in range(n_servers):
            sinr = signal_w[u, j] / (noise_w[j] + interference[j])
            per_load = prompt_bits[u] / (bandwidth_hz[j] * np.log2(1.0 + sinr))
            n1 = loads[j] + 1.0
            if law is not None:
                own = n1 * per_load + (law[0][u, j] + law[1][u] * law[2][j, int(n1) - 1])
            else:
                own = n1 * per_load + work_flop[u] * max(1.0 / cap_flops[j], n1 / flops[j])
            if forced[u] and per_load < c_min[j]:
                c_min[j] = per_load
            if own < best_own:
                best_own = own
            if k == first_user:
                scores[j + 1] = own + growth[j]
            if own + growth[j] < best:
                best = own + growth[j]
        own_sum += best_own
        coupled_sum += best
    queue = 0.0
    if n_forced > 0:
        steps = np.zeros(n_servers)  # newcomers placed on j so far
        for _ in range(n_forced):
            pick, pick_inc = -1, np.inf
            for j in range(n_servers):
                k = steps[j]
                n_old = loads[j] + k
                if law is not None:  # h_j nondecreasing: its increments are known only >= 0
                    dg = 0.0
                else:
                    dg = max(1.0 / cap_flops[j], (n_old + 1.0) / flops[j]) \
                        - max(1.0 / cap_flops[j], n_old / flops[j])
                # k newcomers already on j: the one added now raises each of their comm delays
                # by at least c_min_j, and its own comm exceeds its own_sum estimate (counted at
                # load n_j + 1) by at least k c_min_j, as its load is at least n_j + 1 + k: so
                # 2 k c_min_j per step is valid (summed over k = 0..K-1: K (K - 1) c_min_j, the
                # growth of K newcomers' comm from load n_j + 1 to n_j + K)
                inc = comm_per_load[j] + pair * c_min[j] * k + (work_sum[j] + w_min * k) * dg
                if inc < pick_inc:
                    pick, pick_inc = j, inc
            steps[pick] += 1.0
            queue += pick_inc
    return fixed_lb + max(coupled_sum, own_sum + queue)


@nb.njit(cache=True)
def _child_state(d, u, o, loads, interference, signal_w, full):
    """Rows d + 1 of ``loads``/``interference``: row d with user u put on option o."""
    n_servers = signal_w.shape[1]
    for j in range(n_servers):
        loads[d + 1, j] = loads[d, j]
        interference[d + 1, j] = interference[d, j]
    if o >= 0:
        loads[d + 1, o] += 1.0
        if full:
            for j in range(n_servers):
                if j != o:
                    interference[d + 1, j] += signal_w[u, j]


@nb.njit(cache=True)
def _order_options(d, u, scores, forced, opts, n_opts, ptr):
    """Options of user u at depth d, cheapest lower-bound score first (ties: -1, 0, 1, ...)."""
    count = 0
    for t in range(scores.size):
        if t == 0 and forced[u]:
            continue
        pos = count
        while pos > 0 and scores[opts[d, pos - 1] + 1] > scores[t]:
            opts[d, pos] = opts[d, pos - 1]
            pos -= 1
        opts[d, pos] = t - 1
        count += 1
    n_opts[d] = count
    ptr[d] = 0


@nb.njit(cache=True)
def bnb_root(order, assign, loads, interference, opts, n_opts, ptr, forced, local_s,
             prompt_bits, work_flop, signal_w, noise_w, bandwidth_hz, cap_flops, flops, law, pair):
    """Open the root (nothing fixed); returns its bound."""
    scores = np.empty(signal_w.shape[1] + 1)
    lb = _node_bound(0, order, assign, loads[0], interference[0], forced, local_s, prompt_bits,
                     work_flop, signal_w, noise_w, bandwidth_hz, cap_flops, flops, law,
                     scores, 0, pair)
    _order_options(0, order[0], scores, forced, opts, n_opts, ptr)
    return lb


@nb.njit(cache=True)
def bnb_run(state, budget, order, assign, loads, interference, opts, n_opts, ptr, best_val,
            best_assign, forced, local_s, prompt_bits, work_flop, signal_w, noise_w,
            bandwidth_hz, cap_flops, flops, law, full, pair):
    """Run the depth-first search for at most ``budget`` nodes; resumable.

    ``state[0]`` is the current depth d (the node whose options are being tried; -1 when the
    search is over), ``state[1]`` counts nodes. Returns True when the tree is exhausted (the
    incumbent ``best_val[0]``/``best_assign`` is then optimal to ``PRUNE_RTOL``).
    """
    n_users = order.size
    scores = np.empty(signal_w.shape[1] + 1)
    d = state[0]
    steps = 0
    while steps < budget:
        if d < 0:
            break
        if ptr[d] >= n_opts[d]:
            d -= 1
            continue
        o = opts[d, ptr[d]]
        ptr[d] += 1
        u = order[d]
        assign[u] = o
        _child_state(d, u, o, loads, interference, signal_w, full)
        steps += 1
        if d + 1 == n_users:
            val = total_delay(assign, local_s, prompt_bits, work_flop, signal_w, noise_w,
                              bandwidth_hz, cap_flops, flops, law, full)
            if val < best_val[0]:
                best_val[0] = val
                best_assign[:] = assign
            continue
        lb = _node_bound(d + 1, order, assign, loads[d + 1], interference[d + 1], forced,
                         local_s, prompt_bits, work_flop, signal_w, noise_w, bandwidth_hz,
                         cap_flops, flops, law, scores, d + 1, pair)
        if lb >= best_val[0] * (1.0 - PRUNE_RTOL):
            continue
        d += 1
        _order_options(d, order[d], scores, forced, opts, n_opts, ptr)
    state[0] = d
    state[1] += steps
    return d < 0


@nb.njit(cache=True)
def bnb_open_bound(state, order, assign, loads, interference, opts, n_opts, ptr, best_val,
                   forced, local_s, prompt_bits, work_flop, signal_w, noise_w, bandwidth_hz,
                   cap_flops, flops, law, full, pair):
    """A valid lower bound on the optimum when the search stopped early: the smallest bound of
    the subtrees still open on the stack, or the incumbent if smaller."""
    n_users = order.size
    a = assign.copy()
    lds = loads.copy()
    itf = interference.copy()
    scratch = np.empty(signal_w.shape[1] + 1)
    bound = best_val[0]
    for d in range(min(state[0], n_users - 1) + 1):
        for p in range(ptr[d], n_opts[d]):
            o = opts[d, p]
            u = order[d]
            a[u] = o
            _child_state(d, u, o, lds, itf, signal_w, full)
            if d + 1 == n_users:
                lb = total_delay(a, local_s, prompt_bits, work_flop, signal_w, noise_w,
                                 bandwidth_hz, cap_flops, flops, law, full)
            else:
                lb = _node_bound(d + 1, order, a, lds[d + 1], itf[d + 1], forced, local_s,
                                 prompt_bits, work_flop, signal_w, noise_w, bandwidth_hz,
                                 cap_flops, flops, law, scratch, -1, pair)
            if lb < bound:
                bound = lb
        # restore the path's choice at this depth for the deeper levels
        a[order[d]] = assign[order[d]]
        _child_state(d, order[d], assign[order[d]], lds, itf, signal_w, full)
    return bound
