"""The file to copy for a new heuristic (docs/architecture.md, "A new heuristic").

Copy it to ``goa/plugins/<your_method>.py`` (a name without a leading underscore), rename
``NAME`` and rewrite ``run``: ``import goa`` then registers it, ``goa.solve(instance, tau,
method=NAME)`` runs it and evaluates its plan with the one evaluator, and the benchmarks that
take every registered method (``python -m benchmarks.gap``, ``python -m benchmarks.certified``)
run it next to GOA and the exact optimum.

The example is a real, if simple, baseline, "best alone": every user goes to the ES where it
would be fastest alone (:attr:`instances.Instance.alone_delay_s`) when the guard forces it or
when that is faster than answering locally; it ignores congestion and interference, so it
overloads good servers. It is not registered (this file's name starts with ``_``); the tests
load it under another name to prove that the recipe works.
"""

from __future__ import annotations

import numpy as np

from goa.registry import register_method

NAME = "best_alone"
#: The method's options and their defaults; goa.solve refuses any other option.
DEFAULTS = {"margin": 1.0}


def check(params: dict) -> dict:
    """Validate the options (a ValueError names the bad one)."""
    margin = params["margin"]
    if isinstance(margin, bool) or not isinstance(margin, (int, float)) or not margin > 0:
        raise ValueError(f"margin: must be a positive number, got {margin!r}")
    return {**params, "margin": float(margin)}


def run(instance, tau: float, seed: int, params: dict) -> tuple[np.ndarray, dict]:
    """The plan (int64, -1 local) and extra facts for ``Result.info``. ``seed`` is for
    methods that draw random numbers (use ``numpy.random.default_rng(seed)``)."""
    alone = instance.alone_delay_s  # (N, M): user i alone on ES j
    best = np.argmin(alone, axis=1)
    faster = alone[np.arange(instance.n_users), best] * params["margin"] \
        < instance.local_delay_s
    offload = instance.forced(tau) | faster
    return np.where(offload, best, -1).astype(np.int64), {"offloaded": int(offload.sum())}


register_method(NAME, run, defaults=DEFAULTS, seeded=False, check=check)
