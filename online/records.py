"""Per-query records of a run and the figures computed from them (never from side counters)."""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

#: The columns of :class:`Records`, in CSV order, with units in the names.
COLUMNS = (
    "query", "user", "arrival_s", "batch", "decided_s", "place", "upload_start_s",
    "upload_end_s", "compute_start_s", "compute_end_s", "finish_s", "delay_s", "decision_wait_s",
    "queue_s", "upload_s", "compute_s", "predicted_s", "correct", "expected_correct", "alpha",
    "prompt_bits", "local_workload_flop", "edge_workload_flop", "decide_wall_s")
#: The columns a run with batched ESs adds (docs/online.md, "The batched ES"), after COLUMNS.
BATCHED_COLUMNS = ("prompt_tokens", "output_tokens", "admitted_s", "first_token_s",
                   "largest_batch")


@dataclass(frozen=True, eq=False)
class Records:
    """One entry per query (arrays of length Q, in arrival order); NaN where a stage had not
    happened when the run ended.

    ``place`` is -1 (device), j (ES j) or -2 (not decided by the end). Times are absolute
    seconds: ``decided_s``, ``upload_start_s``/``upload_end_s`` (offloaded only),
    ``compute_start_s``/``compute_end_s`` (the device's run for local queries, the ES's for
    offloaded ones), ``finish_s``. The delay ``delay_s = finish_s - arrival_s`` is the sum of
    its parts: ``decision_wait_s`` (arrival to decision: the slot), ``queue_s`` (waiting in the
    device's queue; 0 for offloaded queries, which are served at once under processor sharing),
    ``upload_s`` and ``compute_s``. ``predicted_s`` is the static model's delay of the query in
    the snapshot of its decision (NaN unless the run asked for predictions). ``correct`` is the
    realised correctness of the chosen model's answer, ``expected_correct`` its calibrated
    probability (NaN when unknown). ``batch`` numbers the decisions; ``decide_wall_s`` is the
    wall time of the policy call that placed the query.

    A run with batched ESs (``server="batched"``) also fills :data:`BATCHED_COLUMNS` (None
    otherwise): ``prompt_tokens``, ``output_tokens``, ``admitted_s`` (its prefill pass starts;
    on a device, its run starts), ``first_token_s`` (its first token exists) and
    ``largest_batch`` (the most sequences of a pass it ran in; 1 on a device).
    """

    query: np.ndarray
    user: np.ndarray
    arrival_s: np.ndarray
    batch: np.ndarray
    decided_s: np.ndarray
    place: np.ndarray
    upload_start_s: np.ndarray
    upload_end_s: np.ndarray
    compute_start_s: np.ndarray
    compute_end_s: np.ndarray
    finish_s: np.ndarray
    delay_s: np.ndarray
    decision_wait_s: np.ndarray
    queue_s: np.ndarray
    upload_s: np.ndarray
    compute_s: np.ndarray
    predicted_s: np.ndarray
    correct: np.ndarray
    expected_correct: np.ndarray
    alpha: np.ndarray
    prompt_bits: np.ndarray
    local_workload_flop: np.ndarray
    edge_workload_flop: np.ndarray
    decide_wall_s: np.ndarray
    prompt_tokens: np.ndarray | None = None
    output_tokens: np.ndarray | None = None
    admitted_s: np.ndarray | None = None
    first_token_s: np.ndarray | None = None
    largest_batch: np.ndarray | None = None

    def __post_init__(self) -> None:
        for item in fields(self):
            if getattr(self, item.name) is not None:
                getattr(self, item.name).setflags(write=False)

    def __len__(self) -> int:
        return int(self.query.size)

    @property
    def finished(self) -> np.ndarray:
        """Mask of the queries that finished within the run."""
        return np.isfinite(self.finish_s)

    def rows(self) -> list[dict]:
        """The records as a list of dicts (one per query), for a CSV."""
        names = COLUMNS + tuple(name for name in BATCHED_COLUMNS
                                if getattr(self, name) is not None)
        columns = [getattr(self, name).tolist() for name in names]
        return [dict(zip(names, values)) for values in zip(*columns)]


def summarize(records: Records, instance, start_s: float, stop_s: float,
              deadline_s: float | None = None, *, tau: float) -> dict:
    """Figures over the queries that arrived in ``[start_s, stop_s)`` (after the warm-up).

    Returns a dict: ``queries``, ``finished``, ``guard_violations`` (the queries placed on
    their device although alpha > ``tau``, the run's guard threshold: 0 for every policy that
    keeps the guard), ``mean_ms``, ``p50_ms``, ``p95_ms``,
    ``p99_ms`` (over finished queries), ``accuracy_pct`` (realised), ``expected_accuracy_pct``,
    ``offloaded_frac``, the mean parts ``decision_wait_ms``, ``queue_ms``, ``upload_ms``,
    ``compute_ms``, ``attainment`` (share of the queries finished within ``deadline_s``; a
    query unfinished at the end misses it), ``utilisation`` (edge work of the window's queries
    over the ES capacity in the window, mean over ESs), ``decide_ms_per_call`` (mean over
    decisions) and, when predictions were made, ``predicted_mean_ms`` (the static model's
    delay in the snapshot of each decision), ``realised_after_decision_ms`` (finish minus
    decision, the part the prediction covers) and ``realised_over_predicted`` (their ratio).
    """
    window = (records.arrival_s >= start_s) & (records.arrival_s < stop_s)
    done = window & records.finished
    delay_ms = records.delay_s[done] * 1e3
    out: dict = {"queries": int(window.sum()), "finished": int(done.sum()),
                 "guard_violations": int(np.count_nonzero(
                     window & (records.place == -1) & (records.alpha > tau)))}
    if delay_ms.size:
        p50, p95, p99 = np.percentile(delay_ms, [50, 95, 99])
        out.update(mean_ms=float(delay_ms.mean()), p50_ms=float(p50), p95_ms=float(p95),
                   p99_ms=float(p99))
        for part in ("decision_wait", "queue", "upload", "compute"):
            out[f"{part}_ms"] = float(np.nanmean(getattr(records, f"{part}_s")[done]) * 1e3)
    else:
        out.update(mean_ms=np.nan, p50_ms=np.nan, p95_ms=np.nan, p99_ms=np.nan,
                   decision_wait_ms=np.nan, queue_ms=np.nan, upload_ms=np.nan,
                   compute_ms=np.nan)
    decided = window & (records.place >= -1)
    out["accuracy_pct"] = float(records.correct[decided].mean() * 100) if decided.any() else np.nan
    expected = records.expected_correct[decided]
    out["expected_accuracy_pct"] = (float(expected.mean() * 100)
                                    if decided.any() and np.all(np.isfinite(expected)) else np.nan)
    out["offloaded_frac"] = float((records.place[decided] >= 0).mean()) if decided.any() else np.nan
    if deadline_s is not None:
        met = done & (records.delay_s <= deadline_s)
        out["attainment"] = float(met.sum() / max(1, window.sum()))
    span = stop_s - start_s
    edge = window & (records.place >= 0)
    work = np.bincount(records.place[edge], weights=records.edge_workload_flop[edge],
                       minlength=instance.n_servers)
    out["utilisation"] = float(np.mean(work / (instance.server_flops * span)))
    batches = records.batch[decided]
    if batches.size:
        _, first = np.unique(batches, return_index=True)
        out["decide_ms_per_call"] = float(records.decide_wall_s[decided][first].mean() * 1e3)
    else:
        out["decide_ms_per_call"] = np.nan
    predicted = records.predicted_s[done]
    if predicted.size and np.all(np.isfinite(predicted)):
        out["predicted_mean_ms"] = float(predicted.mean() * 1e3)
        after = records.finish_s[done] - records.decided_s[done]
        out["realised_after_decision_ms"] = float(after.mean() * 1e3)
        out["realised_over_predicted"] = float(after.mean() / predicted.mean())
    return out
