"""A Lagrangian dual bound of a load box (:mod:`formulations.loadbox`): stronger per box than
the McCormick bound, dearer per unit of work.

The box bound of :func:`formulations.loadbox.box_bound` relaxes the product
``n_j (sum_{i on j} rho_ij) (I_j - Ilb_j)`` of point 3 by its lower McCormick plane
``theta_j (I_j - Ilb_j)``. This module keeps the interference I_j of every server as it is and
dualises its definition instead. For an assignment a in the box with server sets S_j and
interference I_j(a) in [Ilb_j, Iub_j], server j's delay
``H_j(S_j, I) = sum_{i in S_j} [n_j c_ij(I) + W_i g_j(n_j)]`` is concave in I (point 2), so
for any multipliers mu (one per server, any sign)

    T(a) = home + sum_j [H_j(S_j, I_j(a)) - mu_j I_j(a)] + sum_j mu_j I_j(a)
         >= home + sum_j min_{e_j in {Ilb_j, Iub_j}} [H_j(S_j, e_j) - mu_j e_j] + sum_j mu_j I_j(a)

(a concave function minus a linear one is at least its smaller end value on an interval). For
the vector e of the smaller ends, the right side is at least the box's assignment problem with
the comm delays c_ij(e_j) (points 3-5 of loadbox hold at any fixed interference) and polluter
payments mu (``sum_j mu_j I_j(a) = sum_k on p sum_{j != p} mu_j s_kj``, exactly), minus
``mu . e``. So, with AP_e(mu) that problem's value,

    L(mu) = min over e in {Ilb, Iub}^M of [AP_e(mu) - mu . e]  <=  T(a)

for every assignment in the box that an optimum may be (point 4), and every mu. L is concave
(for a fixed assignment and e the value is affine in mu), and each problem solved gives an
affine function above L everywhere: its value plus ``(I(a_e) - e) . (mu' - mu)``. Kelley's
cutting planes maximise L: the next mu maximises the smallest of these cuts over
``0 <= mu_j <= U_j`` (a linear program of M + 1 variables, HiGHS), with
``U_j = max(theta_j, hi_j x (the hi_j largest rho_ij))``, above which a larger mu_j cannot raise
L (the victims' slope sum never exceeds it). The first round is at mu = theta. One round costs
2^M assignment problems (all e, always: none is skipped on a dominance argument); the dual is
limited to M <= ``MAX_SERVERS``.

Measured (docs/bounds.md, "The Lagrangian dual"): at the load vector of goa_ls's plan the dual
closes about a third of the box bound's gap in a handful of rounds, but a round costs 16
assignment problems at M = 4, and the search spends them better on splitting: it is off by
default (``formulations.solve(..., backend="loadbox", dual_rounds=0)``).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linprog

from .loadbox import BoxBoundConstants, BoxCells, box_problem

#: 2^M assignment problems per round: beyond this many servers the dual refuses.
MAX_SERVERS = 6
#: Kelley stops when the cutting-plane model exceeds the best L by at most this (relative).
MODEL_RTOL = 1e-6


@dataclass(frozen=True)
class DualBound:
    """The dual's outcome: ``bound`` (seconds) the best L found, never below the box's own
    McCormick bound (the larger of the two is valid); ``problems`` the assignment problems
    solved; ``rounds`` the multipliers tried; ``mu`` the best multipliers; ``assignment`` a
    minimiser of the best round (a feasible plan)."""

    bound: float
    problems: int
    rounds: int
    mu: np.ndarray
    assignment: np.ndarray | None


def dual_bound(data: BoxBoundConstants, cells: BoxCells, *, rounds: int,
               max_problems: int | None = None, mccormick: float = -math.inf) -> DualBound:
    """Maximise L(mu) (module docstring) over at most ``rounds`` multiplier vectors and
    ``max_problems`` assignment problems; ``mccormick`` is the box's own bound, returned if L
    stays below it.

    Raises
    ------
    ValueError
        If the instance has more than ``MAX_SERVERS`` servers or ``rounds`` < 1.
    RuntimeError
        If the cutting-plane linear program fails (it is always feasible and bounded).
    """
    m = data.n_servers
    if m > MAX_SERVERS:
        raise ValueError(f"dual_rounds: the Lagrangian dual takes at most {MAX_SERVERS} "
                         f"servers (2^M assignment problems per round); this instance has {m}")
    if rounds < 1:
        raise ValueError(f"dual_rounds: must be at least 1, got {rounds}")
    ends = np.vstack([cells.i_low, cells.i_high])  # (2, M)
    comm = [cells.c_low, np.column_stack([data.comm_per_load(j, cells.i_high[j])
                                          for j in range(m)])]
    top = np.array([int(cells.hi[j]) * np.sort(cells.rho[:, j])[::-1][:int(cells.hi[j])].sum()
                    for j in range(m)])
    top = np.maximum(top, cells.theta)
    scale = np.where(top > 0.0, top, 1.0)  # LP variables nu_j = mu_j / scale_j in [0, 1]
    cap = np.where(top > 0.0, 1.0, 0.0)
    mu = cells.theta.copy()
    cut_rhs, cut_grad = [], []
    best, best_mu, best_a = -math.inf, mu.copy(), None
    problems = done = 0
    combos = list(itertools.product((0, 1), repeat=m))
    while done < rounds and (max_problems is None or problems + len(combos) <= max_problems):
        value, argmin = math.inf, None
        for combo in combos:
            pick = np.asarray(combo)
            comm_e = np.where(pick[None, :] == 1, comm[1], comm[0])
            e = ends[pick, np.arange(m)]
            ap, a = box_problem(data, cells, mu, comm_e)
            problems += 1
            if a is None:  # no assignment at this end (an infinite cost): it bounds nothing
                continue
            v = ap - float(mu @ e)
            g = data.interference_of(a) - e
            cut_rhs.append(v - float(g @ mu))
            cut_grad.append(g)
            if v < value:
                value, argmin = v, a
        done += 1
        if argmin is None:
            break
        if value > best:
            best, best_mu, best_a = value, mu.copy(), argmin
        grads = np.asarray(cut_grad) * scale[None, :]
        lp = linprog(np.r_[-1.0, np.zeros(m)],
                     A_ub=np.column_stack([np.ones(len(cut_rhs)), -grads]),
                     b_ub=np.asarray(cut_rhs), bounds=[(None, None)] + [(0.0, c) for c in cap],
                     method="highs")
        if lp.status != 0:
            raise RuntimeError(f"loaddual: the cutting-plane LP failed ({lp.message})")
        if -lp.fun - best <= MODEL_RTOL * abs(best):
            break
        mu = lp.x[1:] * scale
    return DualBound(max(best, mccormick), problems, done, best_mu, best_a)
