"""Expected accuracy from alpha alone: calibrated probabilities of a correct answer
(docs/model.md section 8.1).

Each query i gets ``p_slm_correct_i`` and ``p_llm_correct_i``, the probability that the SLM / the
LLM answers it correctly, predicted from its uncertainty ``alpha_i`` by a monotone map. The map
is an isotonic (here: antitonic, non-increasing in alpha) regression of the realized correctness
on alpha, fitted on a calibration sample that never contains query i itself:

- synthetic profile: 20,000 queries drawn from the same profile parameters with a fixed
  calibration seed stream (:data:`CALIBRATION_SEED`, a stream no integer instance seed can
  reach); fitted once per parameter set and cached, so generation stays fast;
- trace profile: two-fold cross-fitting over the trace's records: a record with an even index
  gets the map fitted on the odd-indexed records, and vice versa. Every query of an instance is
  drawn from some record, so its probabilities come from a map that never saw that record's
  correctness (a trace of a single record has no held-out fold: its instances carry no
  probabilities).

Non-increasing because alpha measures the SLM's doubt, which in both profiles tracks a query's
difficulty for both models (a wrong direction would show in the reliability diagram). Between
calibration points the map interpolates linearly, outside their range it is constant.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

#: Entropy of the calibration seed stream: ``SeedSequence(CALIBRATION_SEED, spawn_key=(1,))``,
#: distinct from ``default_rng(seed)`` for every integer instance seed.
CALIBRATION_SEED = 20_260_801
#: Size of the synthetic calibration sample.
CALIBRATION_SAMPLES = 20_000


@dataclass(frozen=True, eq=False)
class MonotoneMap:
    """A non-increasing map alpha -> probability: linear between ``knots_alpha`` (sorted),
    constant beyond them. ``n_samples`` is the size of the sample it was fitted on."""

    knots_alpha: np.ndarray
    values: np.ndarray
    n_samples: int

    def __call__(self, alpha) -> np.ndarray:
        """The predicted probabilities for an array of alpha values."""
        return np.interp(np.asarray(alpha, dtype=np.float64), self.knots_alpha, self.values)


@dataclass(frozen=True, eq=False)
class Calibration:
    """The two maps of one profile: ``slm`` and ``llm`` (alpha -> P(correct))."""

    slm: MonotoneMap
    llm: MonotoneMap

    def predict(self, alpha) -> tuple[np.ndarray, np.ndarray]:
        """(p_slm_correct, p_llm_correct) for an array of alpha values."""
        return self.slm(alpha), self.llm(alpha)


def fit_monotone(alpha, outcome) -> MonotoneMap:
    """Fit a non-increasing map alpha -> P(outcome) by isotonic regression (pool adjacent
    violators, ``scipy.optimize.isotonic_regression``) with one weighted point per distinct alpha.

    Parameters
    ----------
    alpha
        Uncertainties of the calibration sample (length R >= 1).
    outcome
        Realized correctness in [0, 1] of the same queries.

    Raises
    ------
    ValueError
        If the arrays are empty, of different lengths, or hold values outside [0, 1].
    """
    from scipy.optimize import isotonic_regression  # scipy loads only when a map is fitted

    alpha = np.asarray(alpha, dtype=np.float64).ravel()
    outcome = np.asarray(outcome, dtype=np.float64).ravel()
    if alpha.size == 0 or alpha.size != outcome.size:
        raise ValueError(f"alpha, outcome: need equal non-zero lengths, got {alpha.size} and "
                         f"{outcome.size}")
    for name, value in (("alpha", alpha), ("outcome", outcome)):
        if not np.all((value >= 0) & (value <= 1)):
            raise ValueError(f"{name}: values must lie in [0, 1]")
    knots, inverse, counts = np.unique(alpha, return_inverse=True, return_counts=True)
    means = np.bincount(inverse, weights=outcome) / counts
    fitted = isotonic_regression(means, weights=counts, increasing=False)
    values = np.clip(fitted.x, 0.0, 1.0)
    # keep the first and last knot of each constant block: the same piecewise-linear map
    starts = np.asarray(fitted.blocks[:-1])
    ends = np.asarray(fitted.blocks[1:]) - 1
    keep = np.unique(np.concatenate([starts, ends]))
    return MonotoneMap(knots_alpha=knots[keep], values=values[keep], n_samples=int(alpha.size))


@functools.lru_cache(maxsize=32)
def _synthetic(key: tuple, signal: str) -> Calibration:
    from .profiles import synthetic_queries
    from .uncertainty import uncertainty

    params = dict(key)
    rng = np.random.default_rng(np.random.SeedSequence(CALIBRATION_SEED, spawn_key=(1,)))
    queries = synthetic_queries(CALIBRATION_SAMPLES, rng, params)
    alpha = uncertainty(queries.topk_probs, signal)
    return Calibration(slm=fit_monotone(alpha, queries.slm_correct),
                       llm=fit_monotone(alpha, queries.llm_correct))


def synthetic_calibration(params: dict, signal: str = "margin") -> Calibration:
    """The calibration of the synthetic profile with these parameters (cached per parameter set
    and signal): maps from the uncertainty ``signal`` (:mod:`instances.uncertainty`) to P(correct).

    Fitted on :data:`CALIBRATION_SAMPLES` queries drawn with the calibration seed stream.
    """
    from .profiles import SYNTHETIC_DEFAULTS

    key = tuple((name, float(params[name])) for name in sorted(SYNTHETIC_DEFAULTS))
    return _synthetic(key, signal)


def trace_probabilities(alpha, slm_correct, llm_correct) -> tuple[np.ndarray, np.ndarray] | None:
    """Cross-fitted (p_slm_correct, p_llm_correct) of every record of a trace.

    Records with an even index are predicted by the maps fitted on the odd-indexed records and
    vice versa, so no record's probability uses its own correctness. ``None`` for a trace of one
    record (nothing to hold out).
    """
    alpha = np.asarray(alpha, dtype=np.float64)
    if alpha.size < 2:
        return None
    p_slm = np.empty(alpha.size)
    p_llm = np.empty(alpha.size)
    index = np.arange(alpha.size)
    for fold in (0, 1):
        target, train = index % 2 == fold, index % 2 != fold
        p_slm[target] = fit_monotone(alpha[train], np.asarray(slm_correct)[train])(alpha[target])
        p_llm[target] = fit_monotone(alpha[train], np.asarray(llm_correct)[train])(alpha[target])
    return p_slm, p_llm


#: Tolerance of the accuracy constraint of (P_A), in percentage points: a plan whose expected
#: accuracy is at least ``min_accuracy - ACCURACY_TOL_PCT`` satisfies it (float sums of p differ
#: in the last bits with the order of summation).
ACCURACY_TOL_PCT = 1e-9


def max_expected_accuracy_pct(instance, tau: float | None = None) -> float:
    """The largest expected accuracy any plan reaches, in percent: each user on the side with the
    larger p (a user with alpha > tau, when a tau is given, on the LLM side).

    Raises
    ------
    InstanceError
        If the instance has no calibrated probabilities.
    """
    p_slm, p_llm = instance.correct_probabilities()
    best = np.maximum(p_slm, p_llm)
    if tau is not None:
        best = np.where(instance.forced(tau), p_llm, best)
    return float(best.mean() * 100.0)


def check_min_accuracy(instance, min_accuracy, tau: float | None = None) -> float:
    """Return ``min_accuracy`` (A, percent) as a float after checking it for problem (P_A).

    Raises
    ------
    ValueError
        If A is not a number in [0, 100], the instance has no calibrated probabilities, or A is
        unreachable: above :func:`max_expected_accuracy_pct` (with the guard of ``tau``).
    """
    if isinstance(min_accuracy, (bool, np.bool_)):
        raise ValueError(f"min_accuracy: must be a number in [0, 100] (percent), "
                         f"got {min_accuracy!r}")
    try:
        value = float(min_accuracy)
    except (TypeError, ValueError):
        raise ValueError(f"min_accuracy: must be a number in [0, 100] (percent), "
                         f"got {min_accuracy!r}") from None
    if not 0.0 <= value <= 100.0:
        raise ValueError(f"min_accuracy: must lie in [0, 100] (percent), got {min_accuracy!r}")
    best = max_expected_accuracy_pct(instance, tau)
    if value > best + ACCURACY_TOL_PCT:
        guard = "" if tau is None else f" with the guard tau = {tau:g}"
        raise ValueError(f"min_accuracy: {value:g} % is unreachable: the best expected accuracy "
                         f"of this instance{guard} is {best:.6g} % (every user on the side with "
                         f"the larger p)")
    return value


def reliability(p, outcome, bins: int = 10
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The reliability diagram of predicted probabilities against realized outcomes.

    Parameters
    ----------
    p
        Predicted probabilities in [0, 1].
    outcome
        Realized outcomes (0/1, or frequencies in [0, 1]) of the same events.
    bins
        Number of equal-width bins over [0, 1] (the last one closed).

    Returns
    -------
    edges : (bins + 1,) bin edges
    mean_predicted : (bins,) mean of p per bin (NaN for an empty bin)
    observed : (bins,) mean outcome per bin (NaN for an empty bin)
    counts : (bins,) number of events per bin

    Raises
    ------
    ValueError
        If ``bins`` is not a positive integer, the arrays differ in length or are empty, or a
        value lies outside [0, 1].
    """
    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or bins < 1:
        raise ValueError(f"bins: must be a positive integer, got {bins!r}")
    p = np.asarray(p, dtype=np.float64).ravel()
    outcome = np.asarray(outcome, dtype=np.float64).ravel()
    if p.size == 0 or p.size != outcome.size:
        raise ValueError(f"p, outcome: need equal non-zero lengths, got {p.size} and {outcome.size}")
    for name, value in (("p", p), ("outcome", outcome)):
        if not np.all((value >= 0) & (value <= 1)):
            raise ValueError(f"{name}: values must lie in [0, 1]")
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    counts = np.bincount(index, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_predicted = np.bincount(index, weights=p, minlength=bins) / counts
        observed = np.bincount(index, weights=outcome, minlength=bins) / counts
    return edges, mean_predicted, observed, counts


def expected_calibration_error(p, outcome, bins: int = 10) -> float:
    """ECE = sum over bins of (count / total) |mean predicted - observed frequency|, in [0, 1].

    Equal-width bins as in :func:`reliability` (same arguments and errors).
    """
    _, mean_predicted, observed, counts = reliability(p, outcome, bins)
    used = counts > 0
    return float(np.sum(counts[used] * np.abs(mean_predicted[used] - observed[used]))
                 / counts.sum())
