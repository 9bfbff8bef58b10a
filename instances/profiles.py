"""Query profiles: each query's prompt size, workloads, the SLM's top-k distribution and whether
the SLM's and the LLM's answers are correct.

Two profiles:

* ``synthetic`` (the embedded default): a small generative model of query difficulty shared by the
  SLM and the LLM, calibrated to the paper's measurements (docs/model.md section 7).
* a measured trace: a JSONL file, one record per query (format below); the generator draws an
  instance's queries from it i.i.d. with replacement.

Trace format (one JSON object per line; blank lines and lines starting with ``#`` are skipped):

================== ======== =========================================================================
key                required meaning
================== ======== =========================================================================
``prompt_bytes``   yes      UTF-8 bytes of the prompt (D_i = 8 x this, in bits)
``topk_probs``     yes      the SLM's top-k probabilities of the first answer token (k >= 2; any
                            order, renormalised over the top k and sorted on load)
``slm_correct``    yes      the SLM's answer is correct: true/false or a number in [0, 1]
``llm_correct``    yes      the LLM's answer is correct: true/false or a number in [0, 1]
``slm_workload_flop`` one+  W^L [FLOP]; and/or ``slm_latency_s``, the measured SLM latency,
   / ``slm_latency_s``      converted with the preset's nominal device compute ``local_flops``
``llm_workload_flop`` one+  W^E [FLOP]; and/or ``llm_latency_s``, the measured LLM latency,
   / ``llm_latency_s``      converted with the preset's per-user edge compute ``server_cap_flops``
``prompt_tokens``  no       the prompt's length in tokens (or the profiler's ``llm_prompt_tokens``,
                            else ``slm_prompt_tokens``): read by ``costs="roofline"`` instances
``id``, ``prompt``, no      kept for the reader; ignored by the generator (so is any other key, e.g.
``slm_answer``,             the profiler's ``llm_topk_probs``, ``gold``, ``task``, token counts)
``llm_answer``
================== ======== =========================================================================

A record may give both a workload and a latency for a model (``python -m profiler run`` writes
both). The generator then uses the workload; ``trace.using("latency")`` (or ``"workload"``) keeps
only one kind, which every record must then give (``instances generate --trace-cost``).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from .instance import InstanceError
from .io import short_repr
from .uncertainty import margin as margin_uncertainty  # the one implementation of alpha

DATA = Path(__file__).with_name("data")
EXAMPLE_TRACE = DATA / "example_trace.jsonl"

#: Traces shipped with the package, usable by name wherever a trace path is accepted
#: (``generate(..., profile="babi-tiny")``, ``--profile babi-tiny``).
NAMED_TRACES = {
    # illustrative: bAbI-style prompts, numbers drawn from the synthetic profile
    "example": EXAMPLE_TRACE,
    # measured: a small and a large Llama trained here on bAbI (docs/uncertainty.md)
    "babi-tiny": DATA / "babi_tiny_trace.jsonl",
}


def resolve_trace(name_or_path: str | Path) -> Path:
    """The file of a trace given by name (a key of :data:`NAMED_TRACES`) or by path.

    A name wins over a relative path of the same spelling; anything else is taken as a path
    (checked when the trace is read).
    """
    if isinstance(name_or_path, str) and name_or_path in NAMED_TRACES:
        return NAMED_TRACES[name_or_path]
    return Path(name_or_path)

# Parameters of the synthetic profile and their defaults; all overridable through generate().
# Calibrated over 10,000 queries (see tests/test_profiles.py and the README) to the paper's
# figures: SLM accuracy ~45 %, LLM accuracy ~56 %, mean local delay ~36 ms, AUROC of alpha for an
# SLM error ~0.75.
SYNTHETIC_DEFAULTS = {
    "top_k": 10,
    # prompt size: log-normal bytes, clipped (bAbI prompts: a few hundred bytes to a few KB)
    "prompt_bytes_median": 700.0,
    "prompt_bytes_sigma": 0.6,
    "prompt_bytes_min": 150.0,
    "prompt_bytes_max": 6000.0,
    # SLM workload W^L = fixed + per_byte * bytes; LLM workload W^E = ratio * W^L
    "slm_flop_fixed": 1.17e12,
    "slm_flop_per_byte": 2.15e9,
    "llm_workload_ratio": 6.0,
    # difficulty z ~ N(0, 1); P(model correct) = sigmoid(skill - slope * z + noise)
    "slm_skill": -0.31,
    "slm_slope": 1.5,
    "llm_skill": 0.33,
    "llm_slope": 1.5,
    "answer_noise": 1.0,
    # the SLM's confidence: top-token logit lead = softplus(sharpness * (slm logit + noise))
    "confidence_noise": 1.3,
    "confidence_sharpness": 1.0,
    "confidence_offset": 0.0,
    "distractor_spread": 1.0,
}


@dataclass(frozen=True)
class QueryData:
    """The data of n queries drawn from a profile, without users or times (arrays of length n;
    ``topk_probs`` is (n, K)); sizes in bytes. ``alpha`` is the margin from
    :func:`synthetic_queries` and :meth:`Trace.queries`, the requested signal from
    :func:`instances.generator.draw_profile_queries`, which also sets the calibrated
    ``p_slm_correct`` / ``p_llm_correct`` (``None`` where the profile gives none)."""

    prompt_bytes: np.ndarray
    local_workload_flop: np.ndarray
    edge_workload_flop: np.ndarray
    topk_probs: np.ndarray
    alpha: np.ndarray
    slm_correct: np.ndarray
    llm_correct: np.ndarray
    p_slm_correct: np.ndarray | None = None
    p_llm_correct: np.ndarray | None = None
    #: prompt tokens as the trace records them (NaN where a record gives none); None for a
    #: synthetic profile or a trace without the column
    prompt_tokens: np.ndarray | None = None


def synthetic_queries(n: int, rng: np.random.Generator, params: dict) -> QueryData:
    """Draw n queries from the synthetic difficulty model.

    A query has a latent difficulty z ~ N(0, 1) shared by both models. Model m answers correctly
    with probability sigmoid(skill_m - slope_m z + e_m), e_m ~ N(0, answer_noise^2) drawn
    independently per model (so some queries only the SLM gets right). The SLM's first-token
    logits: k - 1 distractors ~ N(0, distractor_spread^2) and a top token that leads the best
    distractor by softplus(sharpness * (SLM logit + offset + e_c)), e_c ~ N(0, confidence_noise^2):
    a confident SLM is more often right, but the noise keeps alpha from being an oracle.
    """
    k = int(params["top_k"])
    if k < 2:
        raise InstanceError(f"top_k: must be at least 2, got {k}")
    log_bytes = rng.normal(math.log(params["prompt_bytes_median"]), params["prompt_bytes_sigma"], n)
    prompt_bytes = np.round(np.clip(np.exp(log_bytes), params["prompt_bytes_min"],
                                    params["prompt_bytes_max"]))
    difficulty = rng.normal(0.0, 1.0, n)
    slm_logit = (params["slm_skill"] - params["slm_slope"] * difficulty
                 + rng.normal(0.0, params["answer_noise"], n))
    llm_logit = (params["llm_skill"] - params["llm_slope"] * difficulty
                 + rng.normal(0.0, params["answer_noise"], n))
    slm_correct = (rng.random(n) < _sigmoid(slm_logit)).astype(np.float64)
    llm_correct = (rng.random(n) < _sigmoid(llm_logit)).astype(np.float64)

    confidence = slm_logit + params["confidence_offset"] + rng.normal(
        0.0, params["confidence_noise"], n)
    lead = np.logaddexp(0.0, params["confidence_sharpness"] * confidence)  # softplus
    logits = rng.normal(0.0, params["distractor_spread"], (n, k))
    logits[:, 0] = logits[:, 1:].max(axis=1) + lead
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs = -np.sort(-(probs / probs.sum(axis=1, keepdims=True)), axis=1)

    local_workload = params["slm_flop_fixed"] + params["slm_flop_per_byte"] * prompt_bytes
    return QueryData(
        prompt_bytes=prompt_bytes,
        local_workload_flop=local_workload,
        edge_workload_flop=params["llm_workload_ratio"] * local_workload,
        topk_probs=probs,
        alpha=margin_uncertainty(probs),
        slm_correct=slm_correct,
        llm_correct=llm_correct,
    )


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


@dataclass(frozen=True)
class Trace:
    """A measured query trace loaded from JSONL. Workloads are known in FLOP, or latencies in s."""

    path: str
    prompt_bytes: np.ndarray
    topk_probs: np.ndarray
    slm_correct: np.ndarray
    llm_correct: np.ndarray
    slm_workload_flop: np.ndarray  # NaN where only a latency was given
    llm_workload_flop: np.ndarray
    slm_latency_s: np.ndarray  # NaN where a workload was given
    llm_latency_s: np.ndarray
    #: the cost kind :meth:`using` kept ("auto": as loaded); an instance drawn from a trace
    #: of another kind records it in its provenance (``trace_cost``)
    cost: str = "auto"
    prompt_tokens: np.ndarray | None = None  # NaN where a record gives no token count

    def __len__(self) -> int:
        return int(self.prompt_bytes.size)

    def queries(self, rows: np.ndarray, local_flops_nominal: float,
                edge_flops_nominal: float) -> QueryData:
        """The queries of the given trace rows; latencies become workloads at nominal compute."""
        slm = np.where(np.isnan(self.slm_workload_flop[rows]),
                       self.slm_latency_s[rows] * local_flops_nominal, self.slm_workload_flop[rows])
        llm = np.where(np.isnan(self.llm_workload_flop[rows]),
                       self.llm_latency_s[rows] * edge_flops_nominal, self.llm_workload_flop[rows])
        probs = self.topk_probs[rows]
        return QueryData(
            prompt_bytes=self.prompt_bytes[rows],
            local_workload_flop=slm,
            edge_workload_flop=llm,
            topk_probs=probs,
            alpha=margin_uncertainty(probs),
            slm_correct=self.slm_correct[rows],
            llm_correct=self.llm_correct[rows],
            prompt_tokens=None if self.prompt_tokens is None else self.prompt_tokens[rows],
        )

    def using(self, cost: str) -> Trace:
        """The trace with one kind of per-model cost: ``"workload"`` (the FLOP columns) or
        ``"latency"`` (the measured seconds), each required in every record; ``"auto"`` is the
        trace as it is (the workload where given, else the latency). The result's ``cost``
        says which.

        Raises
        ------
        InstanceError
            For an unknown cost, or a record without that cost (naming its row).
        """
        if cost not in TRACE_COSTS:
            raise InstanceError(f"cost: must be one of {', '.join(TRACE_COSTS)}, got {cost!r}")
        if cost == "auto":
            return self
        changes = {}
        for model in ("slm", "llm"):
            keep, drop = ((f"{model}_workload_flop", f"{model}_latency_s") if cost == "workload"
                          else (f"{model}_latency_s", f"{model}_workload_flop"))
            missing = np.flatnonzero(np.isnan(getattr(self, keep)))
            if missing.size:
                raise InstanceError(f"cost: record {missing[0] + 1} of {Path(self.path).name} "
                                    f"has no {keep!r} (cost={cost!r})")
            changes[drop] = np.full(len(self), np.nan)
        return replace(self, cost=cost, **changes)


TRACE_COSTS = ("auto", "workload", "latency")
"""The per-model costs :meth:`Trace.using` keeps."""


def load_trace(path: str | Path) -> Trace:
    """Read a JSONL query trace (format in this module's docstring), by path or by the name of a
    shipped trace (:data:`NAMED_TRACES`).

    Raises
    ------
    InstanceError
        Naming the line and the field, for a missing file, bad JSON, a missing or bad field.
    """
    path = resolve_trace(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InstanceError(f"profile: cannot read trace {str(path)!r}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise InstanceError(f"profile: trace {str(path)!r} is not UTF-8 text (byte "
                            f"{exc.start})") from None
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        where = f"{path.name} line {number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InstanceError(f"{where}: not valid JSON ({exc.msg})") from None
        except RecursionError:
            raise InstanceError(f"{where}: not a record (JSON nested too deeply)") from None
        except ValueError:  # an integer of more digits than Python converts
            raise InstanceError(f"{where}: not a record (a number too long to read)") from None
        if not isinstance(record, dict):
            raise InstanceError(f"{where}: a record must be a JSON object")
        rows.append(_parse_record(record, where))
    if not rows:
        raise InstanceError(f"profile: trace {str(path)!r} holds no records")
    k = max(len(r["topk_probs"]) for r in rows)
    probs = np.zeros((len(rows), k))
    for i, r in enumerate(rows):
        probs[i, :len(r["topk_probs"])] = r["topk_probs"]
    column = lambda key: np.array([r[key] for r in rows], dtype=np.float64)  # noqa: E731
    return Trace(
        path=str(path), prompt_bytes=column("prompt_bytes"), topk_probs=probs,
        slm_correct=column("slm_correct"), llm_correct=column("llm_correct"),
        slm_workload_flop=column("slm_workload_flop"), llm_workload_flop=column("llm_workload_flop"),
        slm_latency_s=column("slm_latency_s"), llm_latency_s=column("llm_latency_s"),
        prompt_tokens=column("prompt_tokens"))


def _parse_record(record: dict, where: str) -> dict:
    out: dict = {}
    out["prompt_bytes"] = _positive(record, "prompt_bytes", where)
    raw = record.get("topk_probs")
    if not isinstance(raw, list) or len(raw) < 2:
        raise InstanceError(f"{where}: topk_probs must be a list of at least 2 probabilities")
    probs = np.array([_number(v, "topk_probs", where) for v in raw])
    if np.any(probs < 0) or not 0 < probs.sum() < math.inf:
        raise InstanceError(f"{where}: topk_probs must be non-negative with a positive sum")
    out["topk_probs"] = -np.sort(-(probs / probs.sum()))
    for key in ("slm_correct", "llm_correct"):
        if key not in record:
            raise InstanceError(f"{where}: missing field {key!r}")
        value = _number(record[key], key, where)
        if not 0.0 <= value <= 1.0:
            raise InstanceError(f"{where}: {key} must be true/false or in [0, 1], got "
                                f"{short_repr(value)}")
        out[key] = value
    for model in ("slm", "llm"):
        workload, latency = f"{model}_workload_flop", f"{model}_latency_s"
        if workload not in record and latency not in record:
            raise InstanceError(f"{where}: give {workload!r} or {latency!r} (or both)")
        out[workload] = _positive(record, workload, where) if workload in record else math.nan
        out[latency] = _positive(record, latency, where) if latency in record else math.nan
    # the prompt's token count, when the trace gives one (the profiler counts each model's)
    out["prompt_tokens"] = next((_positive(record, key, where) for key in (
        "prompt_tokens", "llm_prompt_tokens", "slm_prompt_tokens")
        if key in record and record[key] not in (0, None)), math.nan)
    return out


def _number(value, key: str, where: str) -> float:
    if isinstance(value, bool):
        return float(value)
    try:
        number = float(value) if isinstance(value, (int, float)) else math.nan
    except OverflowError:  # an integer beyond the largest float
        number = math.inf
    if not math.isfinite(number):
        raise InstanceError(f"{where}: {key} must be a finite number, got {short_repr(value)}")
    return number


def _positive(record: dict, key: str, where: str) -> float:
    if key not in record:
        raise InstanceError(f"{where}: missing field {key!r}")
    value = _number(record[key], key, where)
    if value <= 0:
        raise InstanceError(f"{where}: {key} must be positive, got {short_repr(value)}")
    return value


def auroc(score: np.ndarray, positive: np.ndarray) -> float:
    """Area under the ROC curve of ``score`` for predicting ``positive`` (ties count one half).

    Equals P(score of a random positive > score of a random negative); 0.5 is no information.
    Used as: ``auroc(alpha, 1 - slm_correct)``, how well the uncertainty predicts an SLM error.
    """
    score = np.asarray(score, dtype=np.float64)
    positive = np.asarray(positive) > 0.5
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError("auroc: needs at least one positive and one negative example")
    _, inverse, counts = np.unique(score, return_inverse=True, return_counts=True)
    # average rank (1-based) of each distinct value, then of each sample
    ends = np.cumsum(counts)
    ranks = (ends - (counts - 1) / 2.0)[inverse]
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def accuracy_by_alpha(alpha: np.ndarray, correct: np.ndarray, bins: int = 5
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean correctness per equal-width alpha bin over [0, 1].

    Returns (bin edges (bins + 1,), accuracy per bin in [0, 1] (NaN for an empty bin), counts).
    """
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.digitize(alpha, edges[1:-1]), 0, bins - 1)
    counts = np.bincount(index, minlength=bins)
    sums = np.bincount(index, weights=np.asarray(correct, dtype=np.float64), minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        accuracy = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    return edges, accuracy, counts
