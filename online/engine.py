"""The event loop: queries over time on the system of one instance (docs/online.md).

The whole state is explicit in :class:`State`: the clock, the uploads in progress (remaining bits
and current rate), the queries in compute at each server (processor sharing, kept in virtual
time), when each device's local queue empties, and the arrivals waiting for a decision. Between
two events every rate is constant, so the next event is the earliest of: the next arrival, the
next decision slot, the first upload to end at its current rate, the first compute to end at its
server's current share. Rates follow docs/model.md section 3 applied to the queries present at
that moment, and are recomputed whenever an upload or a compute starts or ends:

- upload of user i to ES j: ``(B_j / u_j) log2(1 + P_i g_ij / (sigma_j^2 + I_ij))``, ``u_j`` the
  uploads to j in progress, ``I_ij`` the sum of ``P_k g_kj`` over uploads in progress to other
  ESs (interference "full"; 0 under "none");
- compute at ES j: ``min(C^max_j, C_j / n_j)`` for each of the ``n_j`` queries there;
- local: each device serves its own queries first come, first served, ``W^L / C^L`` each.
"""

from __future__ import annotations

import heapq
import math
import time
from dataclasses import dataclass

import numpy as np

from instances import Instance

from .queries import QueryStream

INF = math.inf


@dataclass(frozen=True, eq=False)
class Arrivals:
    """The queries of one decision (arrays of length k): their index in the run (``query``),
    ``user``, ``alpha``, ``prompt_bits``, ``local_workload_flop``, ``edge_workload_flop``."""

    query: np.ndarray
    user: np.ndarray
    alpha: np.ndarray
    prompt_bits: np.ndarray
    local_workload_flop: np.ndarray
    edge_workload_flop: np.ndarray

    @classmethod
    def of(cls, queries: QueryStream, ids) -> "Arrivals":
        """The arrivals ``ids`` (indices into ``queries``)."""
        q = np.asarray(ids, dtype=np.int64)
        return cls(q, queries.user[q], queries.alpha[q], queries.prompt_bits[q],
                   queries.local_workload_flop[q], queries.edge_workload_flop[q])

    def __len__(self) -> int:
        return int(self.query.size)


class State:
    """The live state of the system. Policies read it (never change it) through the public
    attributes and methods; the event loop (:func:`run`) changes it.

    Attributes
    ----------
    instance, queries, tau
        The system, the run's queries and the accuracy-guard threshold.
    time_s
        The clock.
    uploading, computing
        Per ES (length M): the uploads in progress to it, and the queries in compute there.
    busy_until_s
        Per user (length N): when the device's local queue empties.
    """

    def __init__(self, instance: Instance, queries: QueryStream, tau: float):
        self.instance = instance
        self.queries = queries
        self.tau = tau
        self.time_s = 0.0
        m = instance.n_servers
        self.uploading = np.zeros(m, dtype=np.int64)
        self.computing = np.zeros(m, dtype=np.int64)
        self.busy_until_s = np.zeros(instance.n_users)
        # uploads in progress, packed in slots 0..n-1 (the last one moves into a freed slot):
        # query, server, own received power P_i g_ij, remaining bits, current rate
        self._n_up = 0
        self._uq = np.zeros(64, dtype=np.int64)
        self._uj = np.zeros(64, dtype=np.int64)
        self._usig = np.zeros(64)
        self._urem = np.zeros(64)
        self._urate = np.zeros(64)
        self._slot: dict[int, int] = {}
        # received[j', j]: the power reaching ES j from the uploads to ES j' != j (diagonal 0)
        self._received = np.zeros((m, m))
        self._off_diagonal = 1.0 - np.eye(m)
        # compute at ES j: virtual time v_j (service each query there has received since the
        # server was last empty), its share per query, a heap of (virtual finish, query)
        self._v = [0.0] * m
        self._share = [0.0] * m
        self._heap: list[list[tuple[float, int]]] = [[] for _ in range(m)]
        self._finish_v: dict[int, float] = {}
        self._server: dict[int, int] = {}
        # the system's constants as Python floats (scalar access in the loop)
        self._pg = instance.tx_power_w[:, None] * instance.gain
        self._noise = instance.noise_w
        self._band = instance.bandwidth_hz
        self._cap = instance.server_cap_flops.tolist()
        self._flops = instance.server_flops.tolist()
        self._full = instance.interference == "full"
        self._bits = queries.prompt_bits.tolist()
        self._work = queries.edge_workload_flop.tolist()

    # What a policy reads --------------------------------------------------------------------
    @property
    def backlog_s(self) -> np.ndarray:
        """Per user: the seconds of local work queued on the device (0 when idle)."""
        return np.maximum(self.busy_until_s - self.time_s, 0.0)

    def in_flight(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The offloaded queries not yet finished: (query, server, remaining edge work in FLOP).
        A query still uploading has its whole edge workload remaining."""
        n = self._n_up
        computing = [q for heap in self._heap for _, q in heap]
        q = np.concatenate([self._uq[:n], np.array(computing, dtype=np.int64)])
        server = np.concatenate([self._uj[:n], np.array(
            [self._server[i] for i in computing], dtype=np.int64)])
        remaining = np.array([self._work[i] for i in self._uq[:n].tolist()] + [
            self._finish_v[i] - self._v[self._server[i]] for i in computing], dtype=np.float64)
        return q, server, remaining

    # Uploads -----------------------------------------------------------------------------------
    def start_uploads(self, ids: list[int], servers: list[int]) -> None:
        """Start the uploads of these queries (to these servers) now."""
        users = self.queries.user
        for q, j in zip(ids, servers):
            if self._n_up == self._uq.size:
                for name in ("_uq", "_uj", "_usig", "_urem", "_urate"):
                    setattr(self, name, np.concatenate([getattr(self, name),
                                                        np.zeros_like(getattr(self, name))]))
            i, k = int(users[q]), self._n_up
            self._uq[k], self._uj[k] = q, j
            self._usig[k], self._urem[k] = self._pg[i, j], self._bits[q]
            self._slot[q] = k
            self._n_up += 1
            self._server[q] = j
            self.uploading[j] += 1
            if self._full:
                self._received[j] += self._pg[i] * self._off_diagonal[j]
        self._upload_rates()

    def _upload_rates(self) -> None:
        n = self._n_up
        if n == 0:
            return
        noise = self._noise
        if self._full:
            noise = noise + self._received.sum(axis=0)
        j = self._uj[:n]
        sinr = self._usig[:n] / noise[j]
        self._urate[:n] = self._band[j] / self.uploading[j] * np.log2(1.0 + sinr)

    def next_upload(self) -> tuple[float, int]:
        """(time, query) of the first upload to end at the current rates, or (inf, -1)."""
        n = self._n_up
        if n == 0:
            return INF, -1
        if n == 1:
            return self.time_s + float(self._urem[0] / self._urate[0]), int(self._uq[0])
        left = self._urem[:n] / self._urate[:n]
        k = int(np.argmin(left))
        return self.time_s + float(left[k]), int(self._uq[k])

    def end_upload(self, q: int) -> int:
        """The upload of ``q`` ends now: it starts computing at its server (returned)."""
        k = self._slot.pop(q)
        j = int(self._uj[k])
        last = self._n_up - 1
        if k != last:
            for name in ("_uq", "_uj", "_usig", "_urem", "_urate"):
                array = getattr(self, name)
                array[k] = array[last]
            self._slot[int(self._uq[k])] = k
        self._n_up = last
        self.uploading[j] -= 1
        if self._full:
            if self.uploading[j] == 0:
                self._received[j] = 0.0  # exactly: no drift left by the subtractions
            else:
                self._received[j] -= self._pg[int(self.queries.user[q])] * self._off_diagonal[j]
        self._upload_rates()
        self._start_compute(q, j)
        return j

    # Edge compute ------------------------------------------------------------------------------
    def _start_compute(self, q: int, j: int) -> None:
        if not self._heap[j]:
            self._v[j] = 0.0
        finish_v = self._v[j] + self._work[q]
        self._finish_v[q] = finish_v
        heapq.heappush(self._heap[j], (finish_v, q))
        self.computing[j] += 1
        self._share[j] = min(self._cap[j], self._flops[j] / int(self.computing[j]))

    def next_compute(self) -> tuple[float, int]:
        """(time, server) of the first compute to end at the current shares, or (inf, -1)."""
        best, server = INF, -1
        for j, heap in enumerate(self._heap):
            if heap:
                end = (heap[0][0] - self._v[j]) / self._share[j]
                if end < best:
                    best, server = end, j
        return self.time_s + best, server

    def finish_computes(self, j: int) -> list[int]:
        """The queries that finish at server ``j`` now (here: the first one; a batched server
        may finish several at once, :mod:`online.batched`)."""
        return [self.end_compute(j)]

    def local_service_s(self) -> list[float]:
        """Per query of the run: its seconds on its device, ``W^L / C^L``."""
        return (self.queries.local_workload_flop
                / self.instance.local_flops[self.queries.user]).tolist()

    def end_compute(self, j: int) -> int:
        """The first query at server ``j`` finishes now; returns it."""
        _, q = heapq.heappop(self._heap[j])
        del self._finish_v[q]
        self.computing[j] -= 1
        n = int(self.computing[j])
        self._share[j] = min(self._cap[j], self._flops[j] / n) if n else 0.0
        return q

    # The clock ---------------------------------------------------------------------------------
    def advance(self, t: float) -> None:
        """Move the clock to ``t``, every upload and compute progressing at its current rate."""
        dt = t - self.time_s
        if dt > 0.0:
            if self._n_up:
                self._urem[:self._n_up] -= self._urate[:self._n_up] * dt
            for j, heap in enumerate(self._heap):
                if heap:
                    self._v[j] += self._share[j] * dt
        self.time_s = t


def run(state: State, policy, slot_s: float | None, end_s: float, on_decision=None) -> dict:
    """Run the event loop until ``end_s`` (``inf``: until every query has finished).

    ``policy.decide(state, arrivals)`` is called at each arrival (``slot_s`` None) or at each
    multiple of ``slot_s`` on the queries that arrived since the previous one. ``on_decision``
    (optional) is called as ``on_decision(state, arrivals, places)`` before the decision takes
    effect. Returns the per-query columns (NaN where a stage has not happened by ``end_s``).
    """
    queries = state.queries
    n_q = len(queries)
    m = state.instance.n_servers
    cols = {name: np.full(n_q, np.nan) for name in (
        "decided_s", "upload_start_s", "upload_end_s", "compute_start_s", "compute_end_s",
        "decide_wall_s")}
    place = np.full(n_q, -2, dtype=np.int64)  # -2: not decided yet
    batch = np.full(n_q, -1, dtype=np.int64)
    arrival = queries.arrival_s.tolist()
    local_s = state.local_service_s()
    users = queries.user.tolist()
    busy = state.busy_until_s
    n_batches = 0

    def decide(ids: list[int]) -> None:
        nonlocal n_batches
        arrivals = Arrivals.of(queries, ids)
        started = time.perf_counter()
        chosen = policy.decide(state, arrivals)
        wall = time.perf_counter() - started
        chosen = check_places(chosen, len(ids), m)
        if on_decision is not None:
            on_decision(state, arrivals, chosen)
        t = state.time_s
        up_ids, up_servers = [], []
        for q, j in zip(ids, chosen.tolist()):
            place[q] = j
            batch[q] = n_batches
            cols["decided_s"][q] = t
            cols["decide_wall_s"][q] = wall
            if j < 0:
                i = users[q]
                start = max(t, float(busy[i]))
                busy[i] = start + local_s[q]
                cols["compute_start_s"][q] = start
                cols["compute_end_s"][q] = start + local_s[q]
            else:
                cols["upload_start_s"][q] = t
                up_ids.append(q)
                up_servers.append(j)
        if up_ids:
            state.start_uploads(up_ids, up_servers)
        n_batches += 1

    nxt = 0
    pending: list[int] = []
    slot_k = 0
    while True:
        t_arrival = arrival[nxt] if nxt < n_q else INF
        t_slot = slot_k * slot_s if (slot_s is not None and pending) else INF
        t_up, q_up = state.next_upload()
        t_comp, j_comp = state.next_compute()
        t = min(t_arrival, t_slot, t_up, t_comp)
        if t == INF or t > end_s:
            break
        state.advance(t)
        # ties: completions first, then arrivals, then the slot's decision (so that a query
        # arriving exactly at a slot boundary is decided there)
        if t == t_up:
            cols["upload_end_s"][q_up] = t
            cols["compute_start_s"][q_up] = t
            state.end_upload(q_up)
        elif t == t_comp:
            for q in state.finish_computes(j_comp):
                cols["compute_end_s"][q] = t
        elif t == t_arrival:
            if slot_s is None:
                decide([nxt])
            else:
                if not pending:
                    slot_k = math.ceil(t / slot_s)
                    if slot_k * slot_s < t:  # rounding
                        slot_k += 1
                pending.append(nxt)
            nxt += 1
        else:
            decide(pending)
            pending = []
            slot_k += 1
    if end_s != INF:
        state.advance(end_s)
        # local runs planned past the end have not happened by then
        for name in ("compute_start_s", "compute_end_s"):
            cols[name][cols[name] > end_s] = np.nan
    cols["place"] = place
    cols["batch"] = batch
    return cols


def check_places(places, k: int, m: int) -> np.ndarray:
    """A policy's answer as an int vector of length k in -1..m-1, or a ``ValueError``."""
    try:
        raw = np.asarray(places)
    except Exception:  # noqa: BLE001
        raise ValueError("places: a policy must return a vector of integers") from None
    if raw.shape != (k,):
        raise ValueError(f"places: a policy must return one place per arrival ({k}), got shape "
                         f"{raw.shape}")
    if raw.dtype.kind == "f" and np.all(np.isfinite(raw)) and np.all(raw == np.round(raw)):
        raw = raw.astype(np.int64)
    if raw.dtype.kind not in "iu":
        raise ValueError(f"places: entries must be integers (-1 local, else a server), got "
                         f"dtype {raw.dtype}")
    if k and (min(raw.tolist()) < -1 or max(raw.tolist()) >= m):
        raise ValueError(f"places: entries must lie in -1..{m - 1} (-1 local, else a server)")
    return raw.astype(np.int64)
