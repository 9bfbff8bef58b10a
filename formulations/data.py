"""What every exact method reads from an instance: the delay constants of docs/model.md sections 3-4.

Under interference ``"none"`` an offloaded user's delay depends only on its server's load n:

    f_ij(n) = D_i n / (B_j log2(1 + P_i g_ij / sigma_j^2)) + W^E_i max(1 / C^max_j, n / C_j),

under the paper's law "ps", or ``D_i n / (B_j log2(1 + SNR_ij)) + a_ij + b_i h_j(n)`` under a
table law (h_j nondecreasing): in both, strictly increasing in n (the upload term is). Two
facts about every optimal assignment shrink the models
(both are proved by an improving move, so no optimum is cut off):

- a user that is not forced (alpha_i <= tau) and sits on ES j has ``f_ij(n_j) <= t^L_i``:
  otherwise sending it home lowers its own delay and nobody else's rises (the others on j only
  get faster); so ``z_ijn`` exists only for ``n <= nmax_ij``, the largest such n;
- hence ES j holds at most ``Nmax_j`` users, the largest n for which at least n users may sit
  on j with n users.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from instances import Instance


@dataclass(frozen=True, eq=False)
class InterferenceFreeDelays:
    """Delay constants of one instance under interference ``"none"`` for one tau (seconds).

    ``local_s`` t^L_i; ``forced`` alpha_i > tau; ``comm_s`` (N, M) the communication delay per
    user on the server, D_i / (B_j log2(1 + SNR_ij)), so that comm = n * comm_s; ``work_flop``
    W^E_i; ``inv_cap`` 1 / C^max_j; ``inv_flops`` 1 / C_j; ``nmax`` (N, M) the largest load at
    which user i may sit on ES j in an optimum (N for forced users, 0: never); ``load_max`` (M,)
    Nmax_j. Under a table law: ``law_a`` (N, M), ``law_b`` (N,), ``law_h`` (M, N) (``None``
    under "ps", whose closed form is kept).
    """

    local_s: np.ndarray
    forced: np.ndarray
    comm_s: np.ndarray
    work_flop: np.ndarray
    inv_cap: np.ndarray
    inv_flops: np.ndarray
    nmax: np.ndarray
    load_max: np.ndarray
    law_a: np.ndarray | None = None
    law_b: np.ndarray | None = None
    law_h: np.ndarray | None = None

    @property
    def n_users(self) -> int:
        """N."""
        return int(self.local_s.size)

    @property
    def n_servers(self) -> int:
        """M."""
        return int(self.inv_cap.size)

    def delay(self, users, servers, loads) -> np.ndarray:
        """f_ij(n) for matching arrays of users i, servers j and loads n (broadcast), seconds."""
        users = np.asarray(users)
        servers = np.asarray(servers)
        n = np.asarray(loads, dtype=np.float64)
        if self.law_h is not None:
            counts = np.asarray(loads).astype(np.int64)
            return (n * self.comm_s[users, servers] + self.law_a[users, servers]
                    + self.law_b[users] * self.law_h[servers, counts - 1])
        return (n * self.comm_s[users, servers]
                + self.work_flop[users] * np.maximum(self.inv_cap[servers],
                                                     n * self.inv_flops[servers]))

    def table(self, n_max: int | None = None) -> np.ndarray:
        """f[i, j, n] for n = 0..n_max, seconds (the n = 0 column is +inf: no load, no user)."""
        n_max = self.n_users if n_max is None else int(n_max)
        n = np.arange(n_max + 1, dtype=np.float64)[None, None, :]
        if self.law_h is not None:
            h = np.zeros((self.n_servers, n_max + 1))
            width = min(n_max, self.law_h.shape[1])
            h[:, 1:width + 1] = self.law_h[:, :width]
            h[:, width + 1:] = np.inf  # more users than the law's table holds: never
            f = (n * self.comm_s[:, :, None] + self.law_a[:, :, None]
                 + self.law_b[:, None, None] * h[None, :, :])
            f[:, :, 0] = np.inf
            return f
        f = (n * self.comm_s[:, :, None]
             + self.work_flop[:, None, None] * np.maximum(self.inv_cap[None, :, None],
                                                          n * self.inv_flops[None, :, None]))
        f[:, :, 0] = np.inf
        return f

    def cost(self, assignment) -> float:
        """T(a) in seconds under interference "none", from the constants (the model's own view)."""
        a = np.asarray(assignment, dtype=np.int64)
        off = a >= 0
        loads = np.bincount(a[off], minlength=self.n_servers)
        users = np.flatnonzero(off)
        return float(self.local_s[~off].sum()
                     + self.delay(users, a[off], loads[a[off]]).sum())

    def trivial_bound(self) -> float:
        """sum_i min(t^L_i if free, min_j f_ij(1)) in seconds: valid, as f_ij grows with n."""
        alone = self.delay(np.arange(self.n_users)[:, None], np.arange(self.n_servers)[None, :], 1)
        home = np.where(self.forced, np.inf, self.local_s)
        return float(np.minimum(home, alone.min(axis=1)).sum())

    def repair(self, assignment) -> np.ndarray:
        """Send home, one at a time, every free user whose edge delay exceeds its local delay.

        Each move strictly lowers T, so the result is at least as good and lies inside the
        reduced models (every z_ijn it uses exists).
        """
        a = np.array(assignment, dtype=np.int64)
        loads = np.bincount(a[a >= 0], minlength=self.n_servers)
        while True:
            off = np.flatnonzero((a >= 0) & ~self.forced)
            if off.size == 0:
                return a
            excess = self.delay(off, a[off], loads[a[off]]) - self.local_s[off]
            worst = int(np.argmax(excess))
            if excess[worst] <= 0.0:
                return a
            i = int(off[worst])
            loads[a[i]] -= 1
            a[i] = -1


def interference_free_delays(instance: Instance, tau: float) -> InterferenceFreeDelays:
    """The constants of (P) under interference "none" for this tau (see the module docstring)."""
    n = instance.n_users
    fields = dict(
        local_s=instance.local_delay_s, forced=instance.alpha > tau,
        comm_s=instance.comm_per_load_s,
        work_flop=instance.edge_workload_flop, inv_cap=1.0 / instance.server_cap_flops,
        inv_flops=1.0 / instance.server_flops)
    if instance.law.is_table:
        fields.update(law_a=instance.law.a, law_b=instance.law.b, law_h=instance.law.h)
    unreduced = InterferenceFreeDelays(**fields, nmax=np.full((n, instance.n_servers), n),
                                       load_max=np.full(instance.n_servers, n))
    nmax, load_max = cap_loads(user_loads(unreduced.table(n), fields["local_s"],
                                          fields["forced"]))
    for array in (nmax, load_max):
        array.setflags(write=False)
    return InterferenceFreeDelays(**fields, nmax=nmax, load_max=load_max)


def user_loads(table: np.ndarray, local_s: np.ndarray, forced: np.ndarray) -> np.ndarray:
    """nmax_ij before the server cap: N for forced users, else the largest n with
    f_ij(n) <= the user's local cost (f grows with n, so count the n that qualify). ``table``
    is :meth:`InterferenceFreeDelays.table` (N, M, N + 1)."""
    n = table.shape[2] - 1
    return np.where(forced[:, None], n, (table[:, :, 1:] <= local_s[:, None, None]).sum(axis=2))


def cap_loads(nmax: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(nmax_ij capped by Nmax_j, Nmax_j) for the users (rows) of ``nmax``: Nmax_j is the
    largest n such that at least n users have nmax_ij >= n (the condition holds for
    n = 1..Nmax_j)."""
    counts = np.arange(1, nmax.shape[0] + 1)
    eligible = (nmax[:, :, None] >= counts[None, None, :]).sum(axis=0)  # (M, users)
    load_max = (eligible >= counts[None, :]).sum(axis=1).astype(np.int64)
    return np.minimum(nmax, load_max[None, :]).astype(np.int64), load_max
