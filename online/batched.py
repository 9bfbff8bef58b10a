"""The batched edge server (docs/online.md, "The batched ES"): ``simulate(..., server="batched")``.

Each ES runs forward passes one after the other; :class:`inference.BatchScheduler` decides
which queries form the next pass (prefill-first continuous batching) and
:meth:`inference.Cost.pass_s` how long it lasts. The event loop (:func:`online.engine.run`)
stays the same: :class:`BatchedState` replaces the processor-sharing compute of
:class:`online.engine.State` by passes, and the devices serve their queries first come, first
served, each in the device's :meth:`inference.Cost.query_s`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace

import numpy as np

import inference
from instances import Instance
from instances.law import mean_prompt_tokens

from .engine import INF, State
from .queries import QueryStream, _preset_params

#: The servers of :func:`online.simulate`: the paper's processor sharing, or batched passes.
SERVERS = ("ps", "batched")


@dataclass(frozen=True, eq=False)
class BatchedServer:
    """How the ESs (and devices) of a batched run compute.

    Parameters
    ----------
    edge
        The roofline of the large model on the ES hardware (every ES alike).
    device
        The roofline of the small model on the users' hardware; ``None``: a local query takes
        ``W^L / C^L`` of its own figures, as under ``"ps"``.
    output_tokens
        T, the tokens of every answer.
    max_batch, max_batched_tokens, kv_bytes
        The scheduler's limits (:class:`inference.BatchScheduler`).

    Raises
    ------
    ValueError
        Naming a bad field.
    """

    edge: inference.Cost
    device: inference.Cost | None = None
    output_tokens: int = 5
    max_batch: int = 256
    max_batched_tokens: int = 8192
    kv_bytes: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.edge, inference.Cost):
            raise ValueError(f"server.edge: must be an inference.Cost, got "
                             f"{type(self.edge).__name__}")
        if self.device is not None and not isinstance(self.device, inference.Cost):
            raise ValueError(f"server.device: must be an inference.Cost or None, got "
                             f"{type(self.device).__name__}")
        t = self.output_tokens
        if isinstance(t, bool) or not isinstance(t, (int, np.integer)) or t < 1:
            raise ValueError(f"server.output_tokens: must be an integer >= 1, got {t!r}")
        object.__setattr__(self, "output_tokens", int(t))
        self.scheduler()  # checks max_batch, max_batched_tokens and kv_bytes

    def scheduler(self) -> inference.BatchScheduler:
        """A fresh scheduler of one ES."""
        return inference.BatchScheduler(self.edge, max_batch=self.max_batch,
                                        max_batched_tokens=self.max_batched_tokens,
                                        kv_bytes=self.kv_bytes)

    @classmethod
    def of(cls, instance: Instance, **options) -> "BatchedServer":
        """The server of an instance generated with ``costs="roofline"``: its specs and T from
        the provenance; ``options`` set the scheduler's limits.

        Raises
        ------
        ValueError
            If the instance carries no inference costs (saying what to pass instead).
        """
        record = roofline_record(instance)
        if record is None:
            raise ValueError(
                "server: 'batched' needs inference costs: an instance generated with "
                "instances.generate(..., costs='roofline') (or --costs roofline), or pass "
                "server=online.BatchedServer(edge=inference.Cost(llm, hardware), ...)")
        specs = record["specs"]
        edge = inference.Cost(inference.ModelSpec(**specs["llm"]),
                              inference.HardwareSpec(**specs["edge"]))
        device = inference.Cost(inference.ModelSpec(**specs["slm"]),
                                inference.HardwareSpec(**specs["device"]))
        return cls(edge=edge, device=device, output_tokens=record["output_tokens"], **options)


def roofline_record(instance: Instance) -> dict | None:
    """The ``inference`` section of a ``costs="roofline"`` instance's provenance, or None."""
    if instance.provenance.get("costs") != "roofline":
        return None
    return instance.provenance.get("inference")


def make_server(server, instance: Instance):
    """``"ps"`` (None), or the :class:`BatchedServer` that ``server`` names.

    Raises
    ------
    ValueError
        For an unknown server, or ``"batched"`` on an instance without inference costs.
    """
    if isinstance(server, BatchedServer):
        return server
    if isinstance(server, str) and server == "ps":
        return None
    if isinstance(server, str) and server == "batched":
        return BatchedServer.of(instance)
    raise ValueError(f"server: must be one of {', '.join(SERVERS)} or an "
                     f"online.BatchedServer, got {server!r}")


def prompt_tokens(instance: Instance, queries: QueryStream, from_instance: bool) -> np.ndarray:
    """Each query's prompt tokens: its user's count recorded by a roofline instance when the
    queries are the instance's own (``profile="instance"``), else prompt bytes / 4 (rounded,
    at least 1; bytes = bits / the preset's bits per byte)."""
    record = roofline_record(instance)
    if from_instance and record is not None:
        return np.asarray(record["prompt_tokens"], dtype=np.int64)[queries.user]
    prompt_bytes = queries.prompt_bits / _preset_params(instance)["bits_per_byte"]
    return np.maximum(np.round(prompt_bytes / 4.0), 1).astype(np.int64)


def check_tokens(tokens, n: int) -> np.ndarray:
    """``tokens`` as an int vector of length n, each >= 1, or a ``ValueError``."""
    array = np.asarray(tokens)
    if array.shape != (n,) or (n and (array.dtype.kind not in "iu" or array.min() < 1)):
        raise ValueError(f"prompt_tokens: must be {n} integers >= 1 (one per query)")
    return array.astype(np.int64)


def reprice(instance: Instance, queries: QueryStream, tokens: np.ndarray) -> QueryStream:
    """The queries of a run on a roofline instance, with the instance's figures: W^L = the
    device's ``query_s`` x C^L of the user, W^E = the ES's ``query_s`` x the ES compute (so
    that policies and summaries read the same delays the static model prices)."""
    server = BatchedServer.of(instance)
    t = server.output_tokens
    local_s = _query_seconds(server.device, tokens, t)
    edge_s = _query_seconds(server.edge, tokens, t)
    edge_rate = float(instance.server_flops.max())
    return replace(queries, local_workload_flop=local_s * instance.local_flops[queries.user],
                   edge_workload_flop=edge_s * edge_rate)


def _query_seconds(cost: inference.Cost, tokens: np.ndarray, t: int) -> np.ndarray:
    """``cost.query_s(p, t)`` for every p of ``tokens`` (each distinct length once)."""
    return _per_length(lambda p: cost.query_s(p, t), tokens)


def _per_length(seconds, tokens: np.ndarray) -> np.ndarray:
    """``seconds(p)`` for every p of ``tokens``, computed once per distinct p."""
    if tokens.size == 0:
        return np.zeros(0)
    unique, inverse = np.unique(tokens, return_inverse=True)
    return np.array([seconds(int(p)) for p in unique])[inverse]


class BatchedState(State):
    """The live state of a run whose ESs run batched passes (:class:`State` otherwise).

    Per ES j: the FIFO waiting queue and the running set of :class:`inference.Job` (key =
    the query), the pass in progress and its end. ``computing[j]`` counts the queries at ES j
    (waiting or running). Per query, ``admitted_s`` (its prefill pass starts),
    ``first_token_s`` (that pass ends) and ``largest_batch`` (the most sequences of a pass it
    ran in).
    """

    def __init__(self, instance: Instance, queries: QueryStream, tau: float, server: BatchedServer,
                 tokens: np.ndarray):
        super().__init__(instance, queries, tau)
        m = instance.n_servers
        self.server = server
        self.prompt_tokens = tokens
        self._tokens = tokens.tolist()
        self._schedulers = [server.scheduler() for _ in range(m)]
        self._waiting: list[list] = [[] for _ in range(m)]
        self._running: list[list] = [[] for _ in range(m)]
        self._pass: list = [None] * m
        self._pass_end = [INF] * m
        n = len(queries)
        self.admitted_s = np.full(n, np.nan)
        self.first_token_s = np.full(n, np.nan)
        self.largest_batch = np.zeros(n, dtype=np.int64)
        # a query too long for the KV memory could never run: say so before the run
        if n:
            longest = inference.Job(int(tokens.max()), server.output_tokens)
            self._schedulers[0].check(longest)

    @functools.cached_property
    def planning_prompt_tokens(self) -> int:
        """The prompt length of the batched law a planner uses (:func:`online.snapshot.
        planning_law`): the mean of the run's queries', rounded; a constant of the workload."""
        return mean_prompt_tokens(self.prompt_tokens)

    def local_service_s(self) -> list[float]:
        """Per query: the device's ``query_s`` of its prompt (``W^L / C^L`` without a device)."""
        if self.server.device is None:
            return super().local_service_s()
        return _query_seconds(self.server.device, self.prompt_tokens,
                              self.server.output_tokens).tolist()

    def in_flight(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The offloaded queries not yet finished: (query, server, remaining edge work): the
        edge workload times the share of its T tokens still to come (all while uploading or
        waiting)."""
        n = self._n_up
        ids = self._uq[:n].tolist()
        servers = self._uj[:n].tolist()
        remaining = [self._work[q] for q in ids]
        t = self.server.output_tokens
        for j in range(len(self._waiting)):
            for job in self._waiting[j] + self._running[j]:
                ids.append(job.key)
                servers.append(j)
                remaining.append(self._work[job.key] * (t - job.generated) / t)
        return (np.array(ids, dtype=np.int64), np.array(servers, dtype=np.int64),
                np.array(remaining, dtype=np.float64))

    def _start_compute(self, q: int, j: int) -> None:
        self._waiting[j].append(inference.Job(self._tokens[q], self.server.output_tokens, key=q))
        self.computing[j] += 1
        if self._pass[j] is None:
            # an idle ES wakes up now, after every other arrival of this instant (the event
            # loop ends uploads before passes): queries that reach it together share a prefill
            self._pass_end[j] = self.time_s

    def _next_pass(self, j: int) -> None:
        step = self._schedulers[j].next_pass(self._waiting[j], self._running[j])
        self._pass[j] = step
        if step is None:
            self._pass_end[j] = INF
            return
        self._pass_end[j] = self.time_s + step.duration_s
        size = len(step.seqs)
        largest = self.largest_batch
        for job in step.jobs:
            if largest[job.key] < size:
                largest[job.key] = size
        if step.kind == "prefill":
            for job in step.jobs:
                self.admitted_s[job.key] = self.time_s

    def next_compute(self) -> tuple[float, int]:
        """(time, server) of the first pass to end (or idle ES to wake up), or (inf, -1)."""
        best, server = INF, -1
        for j, end in enumerate(self._pass_end):
            if end < best:
                best, server = end, j
        return best, server

    def end_compute(self, j: int) -> int:
        """Not for a batched ES, where a pass may finish several queries: see
        :meth:`finish_computes`."""
        raise NotImplementedError("a batched ES ends passes: use finish_computes")

    def finish_computes(self, j: int) -> list[int]:
        """The pass at ES j ends now: its queries gain a token; returns those that finished
        (in the order of the pass), and starts the next pass (or, at an idle ES that a query
        just reached, the first one)."""
        step = self._pass[j]
        if step is None:  # the wake-up of an idle ES (_start_compute)
            self._next_pass(j)
            return []
        if step.kind == "prefill":
            del self._waiting[j][:len(step.jobs)]
            self._running[j].extend(step.jobs)
            for job in step.jobs:
                self.first_token_s[job.key] = self.time_s
        done = inference.finish(step)
        if done:
            self._running[j] = [job for job in self._running[j] if not job.done]
            self.computing[j] -= len(done)
        self._next_pass(j)
        return [job.key for job in done]


def batched_columns(state: BatchedState, cols: dict, end_s: float) -> dict:
    """The record columns of a batched run: ``prompt_tokens``, ``output_tokens``,
    ``admitted_s`` and ``first_token_s`` (a local query: its start on the device, and that
    plus the device's prefill), ``largest_batch`` (1 on the device; 0 when it never ran)."""
    n = len(state.queries)
    server = state.server
    local = cols["place"] == -1
    admitted = state.admitted_s.copy()
    first = state.first_token_s.copy()
    largest = state.largest_batch.copy()
    start = cols["compute_start_s"]
    admitted[local] = start[local]
    if server.device is not None:
        prefill = _per_length(server.device.prefill_s, state.prompt_tokens[local])
        first[local] = start[local] + prefill
    else:  # without a device roofline, the first token counts as the answer
        first[local] = cols["compute_end_s"][local]
    largest[local & np.isfinite(start)] = 1
    for column in (admitted, first):
        column[column > end_s] = np.nan
    return {"prompt_tokens": state.prompt_tokens.copy(),
            "output_tokens": np.full(n, server.output_tokens, dtype=np.int64),
            "admitted_s": admitted, "first_token_s": first, "largest_batch": largest}


