"""The count-indexed MILP of (P) under interference "none" (docs/model.md section 4), solver-neutral.

Variables (all binary), over the pairs the reductions of :mod:`formulations.data` keep:

- ``x[i, j]`` = 1 if user i offloads to ES j (user i runs locally when no x[i, .] is 1);
- ``y[j, n]`` = 1 if ES j holds exactly n users, n = 0..Nmax_j;
- ``z[i, j, n]`` = x[i, j] AND y[j, n], for n = 1..nmax_ij: user i on ES j, which holds n users.

Objective (milliseconds, the unit every backend sees):

    min  sum_{i free} t^L_i (1 - sum_j x[i, j])  +  sum_{i, j, n} f_ij(n) z[i, j, n]

Constraints, one method each below: every user at most once (forced users exactly once); each
ES one load; the load counts its users; z picks x's load; and the tightening
``sum_i z[i, j, n] = n y[j, n]``, which makes the LP relaxation of each server's block the convex
hull of its integer points (a disjunction over n of cardinality polytopes).

The model is a plain sparse matrix so that every backend (CBC, HiGHS, SCIP, CP-SAT) reads the same
rows. Two optional extras serve :mod:`formulations.loadvec`: a :class:`Fixing` that drops variables a
Lagrangian bound rules out, and ``vub`` rows ``z[i, j, n] <= y[j, n]`` (which make each server's
LP block the convex hull of its integer points, at one row per z; off by default).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

import numpy as np

from .data import InterferenceFreeDelays

MS_PER_S = 1e3


class Column(enum.IntEnum):
    """What a column of the count-indexed model stands for (``CountModel.kind``)."""

    X = 0  # x[i, j]: user i offloads to ES j
    Y = 1  # y[j, n]: ES j holds exactly n users
    Z = 2  # z[i, j, n]: user i on ES j, which holds n users


@dataclass
class Fixing:
    """Variables a bound has ruled out (see :mod:`formulations.loadvec`): ``keep_y[j, n]`` and
    ``keep_z[i, j, n]`` (False: fixed to 0) and ``offload[i]`` (True: user i may not stay home)."""

    keep_y: np.ndarray
    keep_z: np.ndarray
    offload: np.ndarray


@dataclass
class CountModel:
    """The count-indexed model: columns (binary), rows ``lo <= A x <= hi``, objective in ms.

    ``kind[c]`` is a :class:`Column` code (X, Y or Z); ``user``, ``server``, ``load`` give each column's
    indices (-1 where not applicable). ``offset_ms`` is the objective's constant. ``fixing``
    optionally removes variables (a smaller model with the same optimum when the fixing is
    valid).
    """

    data: InterferenceFreeDelays
    fixing: Fixing | None = None
    vub: bool = False
    kind: np.ndarray = field(init=False)
    user: np.ndarray = field(init=False)
    server: np.ndarray = field(init=False)
    load: np.ndarray = field(init=False)
    cost_ms: np.ndarray = field(init=False)
    offset_ms: float = field(init=False)
    row_cols: list = field(default_factory=list, init=False)
    row_coefs: list = field(default_factory=list, init=False)
    row_lo: list = field(default_factory=list, init=False)
    row_hi: list = field(default_factory=list, init=False)
    row_names: list = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        self._variables()
        self._objective()
        self._assign_once()
        self._one_load()
        self._load_counts_users()
        self._z_picks_load()
        self._tightening()
        if self.vub:
            self._z_below_y()

    # --- variables and objective ----------------------------------------------------------------
    def _variables(self) -> None:
        d = self.data
        n_users, n_servers = d.nmax.shape
        top = int(d.load_max.max(initial=0))
        loads = np.arange(top + 1)
        # y[j, n] = 1 if ES j holds exactly n users, n = 0..Nmax_j
        y_ok = loads[None, :] <= d.load_max[:, None]
        # z[i, j, n] = x[i, j] AND y[j, n], n = 1..nmax_ij
        z_ok = (loads[None, None, :] >= 1) & (loads[None, None, :] <= d.nmax[:, :, None])
        self.offload = d.forced.copy()
        if self.fixing is not None:
            y_ok &= self.fixing.keep_y
            z_ok &= self.fixing.keep_z
            self.offload |= self.fixing.offload
        z_ok &= y_ok[None, :, :]
        # x[i, j] = 1 if user i offloads to ES j (wherever some z[i, j, .] exists)
        xi, xj = np.nonzero(z_ok.any(axis=2))
        yj, yn = np.nonzero(y_ok)
        zi, zj, zn = np.nonzero(z_ok)
        self.kind = np.concatenate([np.full(xi.size, Column.X), np.full(yj.size, Column.Y),
                                    np.full(zi.size, Column.Z)]).astype(np.int64)
        self.user = np.concatenate([xi, np.full(yj.size, -1), zi]).astype(np.int64)
        self.server = np.concatenate([xj, yj, zj]).astype(np.int64)
        self.load = np.concatenate([np.full(xi.size, -1), yn, zn]).astype(np.int64)
        # x at [i, j, -1], y at [-1, j, n] (user -1 is the last row), z at [i, j, n]
        index = np.full((n_users + 1, n_servers, top + 2), -1)
        index[self.user, self.server, self.load] = np.arange(self.kind.size)
        self._index = index

    def _objective(self) -> None:
        d = self.data
        free = ~d.forced
        cost = np.zeros(self.kind.size)
        x = self.kind == Column.X
        # t^L_i (1 - sum_j x_ij) for free users: a constant and -t^L_i on each x_ij
        cost[x] = np.where(free[self.user[x]], -d.local_s[self.user[x]], 0.0)
        z = self.kind == Column.Z
        cost[z] = d.delay(self.user[z], self.server[z], self.load[z])
        self.cost_ms = cost * MS_PER_S
        self.offset_ms = float(d.local_s[free].sum() * MS_PER_S)

    def x(self, i: int, j: int) -> int:
        """Column of x[i, j] (-1 if absent)."""
        return int(self._index[i, j, -1])

    def y(self, j: int, n: int) -> int:
        """Column of y[j, n] (-1 if absent)."""
        return int(self._index[-1, j, n]) if 0 <= n < self._index.shape[2] - 1 else -1

    def z(self, i: int, j: int, n: int) -> int:
        """Column of z[i, j, n] (-1 if absent)."""
        return int(self._index[i, j, n]) if 1 <= n < self._index.shape[2] - 1 else -1

    # --- constraints -----------------------------------------------------------------------------
    def add_row(self, name, cols, coefs, lo, hi) -> None:
        """Add the row ``lo <= sum_k coefs[k] x[cols[k]] <= hi`` named ``name``."""
        self.row_cols.append(np.asarray(cols, dtype=np.int64))
        self.row_coefs.append(np.asarray(coefs, dtype=np.float64))
        self.row_lo.append(float(lo))
        self.row_hi.append(float(hi))
        self.row_names.append(name)

    def _groups(self, kind: Column, *keys: str) -> dict:
        """Columns of one kind grouped by the values of some index arrays."""
        cols = np.flatnonzero(self.kind == kind)
        groups: dict = {}
        if cols.size == 0:
            return groups
        key = np.stack([getattr(self, k)[cols] for k in keys], axis=1)
        order = np.lexsort(key.T[::-1])
        cols, key = cols[order], key[order]
        cuts = np.flatnonzero(np.any(np.diff(key, axis=0) != 0, axis=1)) + 1
        for start, group in zip(np.concatenate([[0], cuts]), np.split(cols, cuts)):
            groups[tuple(int(v) for v in key[start])] = group
        return groups

    def _assign_once(self) -> None:
        """sum_j x[i, j] <= 1, and = 1 for a forced user (alpha_i > tau) or one a fixing sends
        to the edge."""
        x = self._groups(Column.X, "user")
        for i in range(self.data.n_users):
            cols = x.get((i,), np.zeros(0, np.int64))
            self.add_row(f"once_{i}", cols, np.ones(cols.size), 1.0 if self.offload[i] else 0.0,
                      1.0)

    def _one_load(self) -> None:
        """sum_n y[j, n] = 1: each ES holds exactly one number of users."""
        y = self._groups(Column.Y, "server")
        for j in range(self.data.n_servers):
            cols = y.get((j,), np.zeros(0, np.int64))
            self.add_row(f"load_{j}", cols, np.ones(cols.size), 1.0, 1.0)

    def _load_counts_users(self) -> None:
        """sum_i x[i, j] = sum_n n y[j, n]: the load is the number of users on j."""
        x, y = self._groups(Column.X, "server"), self._groups(Column.Y, "server")
        for j in range(self.data.n_servers):
            xs = x.get((j,), np.zeros(0, np.int64))
            ys = y.get((j,), np.zeros(0, np.int64))
            self.add_row(f"count_{j}", np.concatenate([xs, ys]),
                      np.concatenate([np.ones(xs.size), -self.load[ys].astype(float)]), 0.0, 0.0)

    def _z_picks_load(self) -> None:
        """sum_n z[i, j, n] = x[i, j]: an offloaded user sees exactly one load."""
        for (i, j), group in self._groups(Column.Z, "user", "server").items():
            self.add_row(f"pick_{i}_{j}", np.append(group, self.x(i, j)),
                      np.append(np.ones(group.size), -1.0), 0.0, 0.0)

    def _tightening(self) -> None:
        """sum_i z[i, j, n] = n y[j, n]: with n users on j, exactly n of them see load n.

        For n = 0 this reads 0 = 0 and is skipped. A y[j, n] with fewer than n candidate users is
        fixed to 0 by its own row.
        """
        z = self._groups(Column.Z, "server", "load")
        for c in np.flatnonzero((self.kind == Column.Y) & (self.load >= 1)):
            j, n = int(self.server[c]), int(self.load[c])
            cols = z.get((j, n), np.zeros(0, np.int64))
            self.add_row(f"tight_{j}_{n}", np.append(cols, c),
                      np.append(np.ones(cols.size), -float(n)), 0.0, 0.0)

    def _z_below_y(self) -> None:
        """z[i, j, n] <= y[j, n] (optional): with the tightening, each server's LP block becomes
        the convex hull of its integer points (the Lagrangian bound of formulations.loadvec), at
        the price of one row per z."""
        for c in np.flatnonzero(self.kind == Column.Z):
            j, n = int(self.server[c]), int(self.load[c])
            self.add_row(f"vub_{c}", [c, self.y(j, n)], [1.0, -1.0], -np.inf, 0.0)

    # --- views for the backends ------------------------------------------------------------------
    @property
    def n_cols(self) -> int:
        """Number of variables."""
        return int(self.kind.size)

    @property
    def n_rows(self) -> int:
        """Number of constraints."""
        return len(self.row_names)

    def csr(self):
        """(starts, cols, coefs, lo, hi) of the constraint matrix in compressed-row form."""
        lengths = np.array([c.size for c in self.row_cols], dtype=np.int64)
        starts = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        cols = np.concatenate(self.row_cols) if self.row_cols else np.zeros(0, np.int64)
        coefs = np.concatenate(self.row_coefs) if self.row_coefs else np.zeros(0)
        return starts, cols, coefs, np.array(self.row_lo), np.array(self.row_hi)

    def values(self, assignment) -> np.ndarray:
        """The 0/1 column values encoding an assignment.

        Raises
        ------
        ValueError
            If the assignment needs a column the (reduced) model does not have.
        """
        a = np.asarray(assignment, dtype=np.int64)
        loads = np.bincount(a[a >= 0], minlength=self.data.n_servers)
        v = np.zeros(self.n_cols)

        def put(column: int, what: str) -> None:
            if column < 0:
                raise ValueError(f"assignment: outside the model (no column for {what})")
            v[column] = 1.0

        for j in range(self.data.n_servers):
            put(self.y(j, int(loads[j])), f"y[{j}, {int(loads[j])}]")
        for i in np.flatnonzero(a >= 0):
            j = int(a[i])
            put(self.x(i, j), f"x[{i}, {j}]")
            put(self.z(i, j, int(loads[j])), f"z[{i}, {j}, {int(loads[j])}]")
        return v

    def assignment(self, values) -> np.ndarray:
        """The assignment encoded by (near-0/1) column values: a_i = j where x[i, j] > 0.5."""
        a = np.full(self.data.n_users, -1, dtype=np.int64)
        x = np.flatnonzero(self.kind == Column.X)
        on = x[np.asarray(values)[x] > 0.5]
        a[self.user[on]] = self.server[on]
        return a

    def fits(self, assignment) -> bool:
        """Whether an assignment's columns all exist (i.e. it lies inside the reduced model)."""
        a = np.asarray(assignment, dtype=np.int64)
        if np.any(self.offload & (a < 0)):
            return False
        loads = np.bincount(a[a >= 0], minlength=self.data.n_servers)
        if any(self.y(j, int(loads[j])) < 0 for j in range(self.data.n_servers)):
            return False
        off = np.flatnonzero(a >= 0)
        return all(self.z(int(i), int(a[i]), int(loads[a[i]])) >= 0 for i in off)
