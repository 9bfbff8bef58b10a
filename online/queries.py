"""The query stream of a simulation: who asks what, and when.

Each user's queries arrive as a Poisson process; each query's prompt size, workloads, top-k
probabilities and correctness come from a profile: the synthetic one of the instance's preset,
a measured trace, or ``"instance"`` (every query of user i is user i's own query of the
instance, which makes a run comparable with the static model query by query).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from instances import Instance, PRESETS, Trace, load_trace
from instances.generator import draw_profile_queries
from instances.uncertainty import DEFAULT_SIGNAL


@dataclass(frozen=True, eq=False)
class QueryStream:
    """Every query of a run, in arrival order (arrays of length Q; ``topk_probs`` is (Q, K)).

    ``user`` is the index of the asking user in the instance, ``arrival_s`` the arrival time
    (non-decreasing). The other columns are the query's own data, in the units of
    :class:`instances.Instance`: ``prompt_bits`` (D), ``local_workload_flop`` (W^L),
    ``edge_workload_flop`` (W^E), ``topk_probs`` and ``alpha``, the realised correctness
    ``slm_correct`` / ``llm_correct`` and, when known, the calibrated ``p_slm_correct`` /
    ``p_llm_correct``.

    Raises
    ------
    ValueError
        If a column has the wrong length, a value is not finite or out of range, or the
        arrival times decrease.
    """

    user: np.ndarray
    arrival_s: np.ndarray
    prompt_bits: np.ndarray
    local_workload_flop: np.ndarray
    edge_workload_flop: np.ndarray
    topk_probs: np.ndarray
    alpha: np.ndarray
    slm_correct: np.ndarray
    llm_correct: np.ndarray
    p_slm_correct: np.ndarray | None = None
    p_llm_correct: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = np.asarray(self.user).size
        for item in fields(self):
            value = getattr(self, item.name)
            if value is None:
                continue
            array = np.array(value, dtype=np.int64 if item.name == "user" else np.float64)
            if array.shape[:1] != (n,):
                raise ValueError(f"{item.name}: must have one entry per query ({n}), got shape "
                                 f"{array.shape}")
            if not np.all(np.isfinite(array)):
                raise ValueError(f"{item.name}: contains a NaN or infinite value")
            array.setflags(write=False)
            object.__setattr__(self, item.name, array)
        if (self.p_slm_correct is None) != (self.p_llm_correct is None):
            raise ValueError("p_slm_correct, p_llm_correct: give both or neither")
        if np.any(np.diff(self.arrival_s) < 0) or np.any(self.arrival_s < 0):
            raise ValueError("arrival_s: must be non-negative and non-decreasing")
        for name in ("prompt_bits", "local_workload_flop", "edge_workload_flop"):
            if np.any(getattr(self, name) <= 0):
                raise ValueError(f"{name}: every value must be positive")

    def __len__(self) -> int:
        return int(self.user.size)

    def check_users(self, instance: Instance) -> None:
        """Raise ``ValueError`` if a query names a user the instance lacks."""
        if self.user.size and (self.user.min() < 0 or self.user.max() >= instance.n_users):
            raise ValueError(f"user: query users must lie in 0..{instance.n_users - 1}")


def poisson_arrivals(n_users: int, rate_per_user_hz: float, duration_s: float,
                     rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(user, arrival_s) of independent Poisson processes of one rate per user on
    [0, duration_s), merged in time order (ties by user index)."""
    counts = rng.poisson(rate_per_user_hz * duration_s, n_users)
    user = np.repeat(np.arange(n_users, dtype=np.int64), counts)
    # given its count, a Poisson process's points are i.i.d. uniform on the interval
    times = rng.uniform(0.0, duration_s, user.size)
    order = np.lexsort((user, times))
    return user[order], times[order]


def draw_queries(instance: Instance, rate_per_user_hz: float, duration_s: float, seed: int,
                 profile: str | Path | Trace | None = None) -> QueryStream:
    """Draw a run's queries: Poisson arrivals per user, each query from ``profile``.

    Parameters
    ----------
    instance
        Users (and the preset in its provenance, for the synthetic profile's parameters).
    rate_per_user_hz, duration_s
        Arrival rate lambda of each user's Poisson process, and the arrival window [0, T).
    seed
        Seed of the one generator behind every draw.
    profile
        ``None`` or ``"synthetic"``: the synthetic profile with the instance's preset and
        overrides; ``"instance"``: each query repeats its user's query of the instance; a path
        to a JSONL trace or a loaded :class:`instances.Trace`: queries drawn from it with
        replacement, with the cost kind (workload or latency) the instance's provenance records
        (``trace_cost``, from ``instances generate --trace-cost``).

    Raises
    ------
    ValueError
        For a bad rate, duration, seed or profile.
    """
    rate = _positive("rate_per_user_hz", rate_per_user_hz)
    duration = _positive("duration_s", duration_s)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed: must be a non-negative integer, got {seed!r}")
    rng = np.random.default_rng(int(seed))
    user, arrival = poisson_arrivals(instance.n_users, rate, duration, rng)
    q = user.size
    params = _preset_params(instance)
    if profile == "instance":
        return QueryStream(
            user=user, arrival_s=arrival, prompt_bits=instance.prompt_bits[user],
            local_workload_flop=instance.local_workload_flop[user],
            edge_workload_flop=instance.edge_workload_flop[user],
            topk_probs=instance.topk_probs[user], alpha=instance.alpha[user],
            slm_correct=instance.slm_correct[user], llm_correct=instance.llm_correct[user],
            p_slm_correct=None if instance.p_slm_correct is None else instance.p_slm_correct[user],
            p_llm_correct=None if instance.p_llm_correct is None else instance.p_llm_correct[user])
    signal = instance.provenance.get("uncertainty", DEFAULT_SIGNAL)  # alpha as the instance's
    if profile is None or (isinstance(profile, str) and profile == "synthetic"):
        trace = None
    elif isinstance(profile, (str, Path, Trace)):
        trace = _trace_of(instance, profile)
    else:
        raise ValueError(f"profile: must be None, 'synthetic', 'instance', a trace path or an "
                         f"instances.Trace, got {type(profile).__name__}")
    drawn = draw_profile_queries(q, rng, params, trace, signal)
    return QueryStream(
        user=user, arrival_s=arrival, prompt_bits=drawn.prompt_bytes * params["bits_per_byte"],
        local_workload_flop=drawn.local_workload_flop,
        edge_workload_flop=drawn.edge_workload_flop, topk_probs=drawn.topk_probs,
        alpha=drawn.alpha, slm_correct=drawn.slm_correct, llm_correct=drawn.llm_correct,
        p_slm_correct=drawn.p_slm_correct, p_llm_correct=drawn.p_llm_correct)


def _trace_of(instance: Instance, profile: str | Path | Trace) -> Trace:
    """The trace to draw from, with the cost kind the instance was generated with (its
    provenance's ``trace_cost``: ``instances generate --trace-cost latency`` makes every query
    of the run cost its measured latencies too)."""
    trace = profile if isinstance(profile, Trace) else load_trace(profile)
    cost = instance.provenance.get("trace_cost", "auto")
    if cost == "auto" or trace.cost == cost:
        return trace
    if trace.cost != "auto":
        raise ValueError(f"profile: the trace keeps cost {trace.cost!r}, the instance was "
                         f"generated with trace_cost {cost!r}")
    return trace.using(cost)


def _preset_params(instance: Instance) -> dict:
    """The preset (and overrides) the instance was generated with; the paper's otherwise."""
    preset = instance.provenance.get("preset", "paper")
    params = dict(PRESETS.get(preset, PRESETS["paper"]))
    for key, value in (instance.provenance.get("overrides") or {}).items():
        if key in params:
            params[key] = float(value)
    return params


def _positive(name: str, value) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: must be a positive number, got {value!r}") from None
    if isinstance(value, bool) or not math.isfinite(number) or number <= 0:
        raise ValueError(f"{name}: must be a positive finite number, got {value!r}")
    return number
