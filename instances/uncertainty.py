"""Uncertainty signals of the SLM, computed from its renormalised top-k distribution alone.

Each signal maps a row ``p(1) >= p(2) >= ... >= p(k)`` (summing to 1) to a number in [0, 1],
1 = most uncertain; the chosen one becomes ``alpha_i`` (docs/uncertainty.md):

=========== ============================== ==================================================
name        formula                        source
=========== ============================== ==================================================
``margin``  ``1 - (p(1) - p(2))``          margin sampling (Scheffer et al. 2001); the paper's
                                           alpha and the default
``maxprob`` ``1 - p(1)``                   least confidence (Culotta and McCallum 2005)
``entropy`` ``-sum p log p / log k``       normalised Shannon entropy (Settles 2009)
``ratio``   ``p(2) / p(1)``                ratio of confidence, best-versus-second-best
                                           (Joshi et al. 2009)
``gini``    ``(1 - sum p^2) / (1 - 1/k)``  Gini impurity (DeepGini, Feng et al. 2020),
                                           divided by its maximum
=========== ============================== ==================================================

``k`` is the number of columns (the top-k size); rows shorter than k are padded with zeros,
which add nothing to any signal. Rows are taken as given (instances and traces hold the top-k
renormalised to sum 1), only sorted in decreasing order, so the margin of a stored top-k is bit
for bit ``1 - (p(1) - p(2))``.
"""

from __future__ import annotations

import math

import numpy as np

from .errors import InstanceError

DEFAULT_SIGNAL = "margin"


def margin(topk_probs) -> np.ndarray:
    """``1 - (p(1) - p(2))``: near 1 when the two best tokens tie (the paper's alpha)."""
    p = _rows(topk_probs)
    return _unit(1.0 - (p[:, 0] - p[:, 1]))


def maxprob(topk_probs) -> np.ndarray:
    """``1 - p(1)``: the probability mass not on the best token (least confidence)."""
    p = _rows(topk_probs)
    return _unit(1.0 - p[:, 0])


def entropy(topk_probs) -> np.ndarray:
    """Shannon entropy of the top-k divided by ``log k``: 1 for a uniform top-k."""
    p = _rows(topk_probs)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, -p * np.log(np.where(p > 0, p, 1.0)), 0.0)
    return _unit(terms.sum(axis=1) / math.log(p.shape[1]))


def ratio(topk_probs) -> np.ndarray:
    """``p(2) / p(1)``: how close the runner-up comes to the best token (1 = a tie)."""
    p = _rows(topk_probs)
    # an all-zero row (no information at all) counts as a tie
    return _unit(np.divide(p[:, 1], p[:, 0], out=np.ones(len(p)), where=p[:, 0] > 0))


def gini(topk_probs) -> np.ndarray:
    """Gini impurity ``1 - sum p^2`` divided by its maximum ``1 - 1/k`` (1 for a uniform top-k)."""
    p = _rows(topk_probs)
    k = p.shape[1]
    return _unit((1.0 - np.sum(p * p, axis=1)) / (1.0 - 1.0 / k))


#: The signals by name, in the order tables list them.
SIGNALS = {"margin": margin, "maxprob": maxprob, "entropy": entropy, "ratio": ratio,
           "gini": gini}


def check_signal(name, field: str = "uncertainty") -> str:
    """Return ``name`` if it names a signal of :data:`SIGNALS`.

    Raises
    ------
    InstanceError
        Naming ``field`` and the known signals otherwise.
    """
    if not isinstance(name, str) or name not in SIGNALS:
        raise InstanceError(f"{field}: unknown uncertainty signal {name!r}; "
                            f"known: {', '.join(SIGNALS)}")
    return name


def uncertainty(topk_probs, signal: str = DEFAULT_SIGNAL) -> np.ndarray:
    """The uncertainty of every row of ``topk_probs`` by the named signal.

    Parameters
    ----------
    topk_probs : array_like, shape (N, k) or (k,)
        The SLM's top-k probabilities per query, k >= 2, each row renormalised to sum 1 (as
        instances and traces hold them); rows are sorted in decreasing order first.
    signal : str
        A name of :data:`SIGNALS` (``"margin"``, the default, is the paper's alpha).

    Returns
    -------
    numpy.ndarray
        Shape (N,) (a float array of shape (1,) for one row), each value in [0, 1], 1 = most
        uncertain.

    Raises
    ------
    InstanceError
        For an unknown signal, fewer than 2 columns, a negative or non-finite value.
    """
    return SIGNALS[check_signal(signal)](topk_probs)


def _rows(topk_probs) -> np.ndarray:
    p = np.array(topk_probs, dtype=np.float64, ndmin=2)
    if p.ndim != 2 or p.shape[1] < 2:
        raise InstanceError(f"topk_probs: need rows of at least 2 probabilities, got shape "
                            f"{np.shape(topk_probs)}")
    if not np.all(np.isfinite(p)) or np.any(p < 0):
        raise InstanceError("topk_probs: values must be finite and non-negative")
    return -np.sort(-p, axis=1)


def _unit(values: np.ndarray) -> np.ndarray:
    """Clip float round-off (e.g. 1 - p1 + p2 = 1 + 1e-17) into [0, 1]."""
    return np.clip(values, 0.0, 1.0)
