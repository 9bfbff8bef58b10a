"""What a backend hands back to :func:`formulations.solve` before evaluation."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from instances.result import Status


@dataclass
class Outcome:
    """A backend's answer: its assignment (``None`` if it found none), status, its own objective
    and its best bound (milliseconds), and extra facts (``info``)."""

    assignment: np.ndarray | None
    status: Status
    objective_ms: float | None = None
    bound_ms: float | None = None
    info: dict[str, Any] = field(default_factory=dict)


class Clock:
    """Wall-clock budget of one solve: ``remaining()`` seconds left of ``limit_s``."""

    def __init__(self, limit_s: float) -> None:
        import time
        self._time = time.perf_counter
        self.start = self._time()
        self.limit_s = float(limit_s)

    def elapsed(self) -> float:
        """Seconds since the solve started."""
        return self._time() - self.start

    def remaining(self) -> float:
        """Seconds left (never negative)."""
        return max(0.0, self.limit_s - self.elapsed())
