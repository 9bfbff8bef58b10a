"""``online.simulate``: queries over time on the system of one instance (docs/online.md)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from instances import Instance, Trace, check_tau, evaluate

from .batched import BatchedState, batched_columns, check_tokens, make_server, reprice, \
    roofline_record
from .batched import prompt_tokens as _prompt_tokens
from .engine import INF, State, run
from .policies import Policy, make_policy
from .queries import QueryStream, _positive, draw_queries
from .records import Records, summarize
from .snapshot import snapshot


@dataclass(frozen=True, eq=False)
class Simulation:
    """The outcome of a run: the per-query ``records`` and how the run was set up.

    ``end_s`` is when the run stopped (the last event when drained); ``in_flight`` counts, from
    the simulator's state at the end, the queries then undecided, queued or running on devices,
    uploading and computing (all 0 after a drained run); ``wall_s`` is the run's wall time.
    """

    records: Records
    instance: Instance
    policy: str
    tau: float
    slot_s: float | None
    rate_per_user_hz: float | None
    duration_s: float
    warmup_s: float
    seed: int | None
    end_s: float
    wall_s: float
    in_flight: dict = field(default_factory=dict)
    server: str = "ps"

    def summary(self, deadline_s: float | None = None) -> dict:
        """Figures over the queries that arrived after the warm-up (:func:`online.summarize`),
        guard violations counted at the run's tau."""
        return summarize(self.records, self.instance, self.warmup_s, self.duration_s, deadline_s,
                         tau=self.tau)


def simulate(instance: Instance, policy: Policy | str, rate_per_user_hz: float,
             duration_s: float, seed: int, tau: float = 0.8, slot_s: float | None = None,
             profile: str | Path | Trace | None = None, warmup_s: float = 0.0,
             predict: bool = False, drain: bool = True, server="ps") -> Simulation:
    """Simulate queries arriving over time at the users of ``instance``.

    Parameters
    ----------
    instance
        Users (positions, powers, device compute), servers and channel gains.
    policy
        A :class:`online.Policy` (``decide(state, arrivals) -> places``) or the name of a
        built-in one (``online.POLICIES``).
    rate_per_user_hz
        lambda: each user's queries arrive as a Poisson process of this rate.
    duration_s
        Queries arrive in [0, duration_s).
    seed
        Seed of every random draw (arrivals and queries): the same seed gives the same records,
        bit for bit.
    tau
        The accuracy-guard threshold the policies use (threshold, GOA, goa_ls, static plan).
    slot_s
        ``None``: decide at each arrival; else decide every ``slot_s`` seconds on the queries
        that arrived since the previous decision.
    profile
        Where queries come from: ``None``/``"synthetic"``, ``"instance"`` (each user repeats
        its query of the instance) or a JSONL trace (path or :class:`instances.Trace`).
    warmup_s
        Queries arriving before this are simulated but left out of :meth:`Simulation.summary`.
    predict
        Record, for every query, the static model's delay of it in the snapshot of its decision
        (``instances.evaluate`` on :func:`online.snapshot.snapshot`; costs about 0.3 ms per
        decision).
    drain
        ``True``: run until every query has finished; ``False``: stop at ``duration_s`` and
        leave the rest in flight (NaN in the records).
    server
        ``"ps"`` (the paper's processor sharing, the default), ``"batched"`` (each ES runs
        forward passes under prefill-first continuous batching, devices answer in their
        ``query_s``; the instance must come from ``instances.generate(..., costs="roofline")``)
        or an :class:`online.BatchedServer` (any models, hardware and scheduler limits).
        On a roofline instance, each query's workloads are its own roofline figures, its
        prompt tokens its user's (``profile="instance"``) or prompt bytes / 4.

    Returns
    -------
    Simulation

    Raises
    ------
    ValueError
        Naming the bad argument.
    """
    if not isinstance(instance, Instance):
        raise ValueError(f"instance: must be an instances.Instance, got {type(instance).__name__}")
    queries = draw_queries(instance, rate_per_user_hz, duration_s, seed, profile)
    tokens = None
    if server != "ps" or roofline_record(instance) is not None:
        tokens = _prompt_tokens(instance, queries, isinstance(profile, str)
                               and profile == "instance")
    return run_queries(instance, policy, queries, tau=tau, slot_s=slot_s, warmup_s=warmup_s,
                       predict=predict, drain=drain, duration_s=float(duration_s),
                       rate_per_user_hz=float(rate_per_user_hz), seed=int(seed),
                       server=server, prompt_tokens=tokens)


def run_queries(instance: Instance, policy: Policy | str, queries: QueryStream, tau: float = 0.8,
                slot_s: float | None = None, warmup_s: float = 0.0, predict: bool = False,
                drain: bool = True, duration_s: float | None = None,
                rate_per_user_hz: float | None = None, seed: int | None = None,
                server="ps", prompt_tokens=None) -> Simulation:
    """Simulate a given stream of queries (:class:`online.QueryStream`, e.g. your own arrivals or
    workloads); the other arguments as in :func:`simulate`. ``duration_s`` (default: just
    after the last arrival) ends the summary window and, with ``drain=False``, the run.
    ``prompt_tokens`` (one integer per query) serves a batched server and a roofline
    instance; default: prompt bytes / 4."""
    if not isinstance(instance, Instance):
        raise ValueError(f"instance: must be an instances.Instance, got {type(instance).__name__}")
    if not isinstance(queries, QueryStream):
        raise ValueError(f"queries: must be an online.QueryStream, got {type(queries).__name__}")
    queries.check_users(instance)
    tau = check_tau(tau)
    policy = make_policy(policy)
    if slot_s is not None:
        slot_s = _positive("slot_s", slot_s)
    last = float(queries.arrival_s[-1]) if len(queries) else 0.0
    duration = math.nextafter(last, INF) if duration_s is None else _positive("duration_s",
                                                                                duration_s)
    warmup = float(warmup_s)
    if not math.isfinite(warmup) or warmup < 0 or warmup >= duration:
        raise ValueError(f"warmup_s: must lie in [0, duration_s), got {warmup_s!r}")

    batched = make_server(server, instance)
    if batched is not None or roofline_record(instance) is not None:
        tokens = (_prompt_tokens(instance, queries, False) if prompt_tokens is None
                  else check_tokens(prompt_tokens, len(queries)))
        if roofline_record(instance) is not None:
            queries = reprice(instance, queries, tokens)
    state = (State(instance, queries, tau) if batched is None
             else BatchedState(instance, queries, tau, batched, tokens))
    predicted = np.full(len(queries), np.nan)

    def on_decision(state, arrivals, places):
        snap, pinned = snapshot(state, arrivals, getattr(policy, "law", None))
        delays = evaluate(snap, np.concatenate([places, pinned])).delay_s
        predicted[arrivals.query] = delays[:len(arrivals)]

    started = time.perf_counter()
    cols = run(state, policy, slot_s, INF if drain else duration,
               on_decision if predict else None)
    wall = time.perf_counter() - started
    records = _records(queries, cols, predicted)
    if batched is not None:
        records = replace(records, **batched_columns(state, cols, INF if drain else duration))
    undecided = int(np.count_nonzero(records.place == -2))
    local_open = int(np.count_nonzero((records.place == -1) & ~records.finished))
    in_flight = {"undecided": undecided, "local": local_open,
                 "uploading": int(state.uploading.sum()), "computing": int(state.computing.sum())}
    return Simulation(records=records, instance=instance, policy=getattr(policy, "name", "policy"),
                      tau=tau, slot_s=slot_s, rate_per_user_hz=rate_per_user_hz,
                      duration_s=duration, warmup_s=warmup, seed=seed, end_s=state.time_s,
                      wall_s=wall, in_flight=in_flight,
                      server="ps" if batched is None else "batched")


def _records(queries: QueryStream, cols: dict, predicted: np.ndarray) -> Records:
    place = cols["place"]
    local = place == -1
    edge = place >= 0
    finish = cols["compute_end_s"]
    arrival = queries.arrival_s
    upload = np.where(edge, cols["upload_end_s"] - cols["upload_start_s"], 0.0)
    upload[place == -2] = np.nan
    queue = np.where(local, cols["compute_start_s"] - cols["decided_s"], 0.0)
    queue[place == -2] = np.nan
    if queries.p_slm_correct is None:
        expected = np.full(len(queries), np.nan)
    else:
        expected = np.where(edge, queries.p_llm_correct, queries.p_slm_correct)
    correct = np.where(edge, queries.llm_correct, queries.slm_correct)
    undecided = place == -2
    correct[undecided] = np.nan
    expected[undecided] = np.nan
    return Records(
        query=np.arange(len(queries), dtype=np.int64), user=queries.user.copy(),
        arrival_s=arrival.copy(), batch=cols["batch"], decided_s=cols["decided_s"], place=place,
        upload_start_s=cols["upload_start_s"], upload_end_s=cols["upload_end_s"],
        compute_start_s=cols["compute_start_s"], compute_end_s=cols["compute_end_s"],
        finish_s=finish.copy(), delay_s=finish - arrival,
        decision_wait_s=cols["decided_s"] - arrival, queue_s=queue, upload_s=upload,
        compute_s=cols["compute_end_s"] - cols["compute_start_s"], predicted_s=predicted,
        correct=correct, expected_correct=expected, alpha=queries.alpha.copy(),
        prompt_bits=queries.prompt_bits.copy(),
        local_workload_flop=queries.local_workload_flop.copy(),
        edge_workload_flop=queries.edge_workload_flop.copy(), decide_wall_s=cols["decide_wall_s"])
