"""Prefill-first continuous batching, the rule of vLLM's default scheduler (docs/serving.md,
"The batched ES"): which queries form an edge server's next pass.

:class:`BatchScheduler` only decides; the clock and the events belong to whoever runs it
(``online``'s simulator, or :func:`batch_makespan_s` below for queries that arrive together).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from .cost import Cost, _tokens


@dataclass(eq=False)
class Job:
    """One query at an edge server: its prompt and answer lengths and the tokens made so far
    (``generated``: 0 while it waits, 1 after its prefill, ``output_tokens`` when done)."""

    prompt_tokens: int
    output_tokens: int
    key: object = None
    generated: int = 0

    @property
    def final_tokens(self) -> int:
        """p + T: its length when it finishes (what the KV admission rule reserves)."""
        return self.prompt_tokens + self.output_tokens

    @property
    def done(self) -> bool:
        """Whether it holds all its tokens."""
        return self.generated >= self.output_tokens


@dataclass(frozen=True, eq=False)
class Pass:
    """One forward pass: ``kind`` "prefill" or "decode", the jobs in it, its ``seqs`` (the
    ``(new_tokens, cached_tokens)`` pairs of :meth:`Cost.pass_s`) and its duration."""

    kind: str
    jobs: tuple
    seqs: tuple
    duration_s: float


@dataclass(eq=False)
class BatchScheduler:
    """The batching rule of one edge server.

    Parameters
    ----------
    cost
        The roofline of the ES's model on its hardware.
    max_batch
        Most queries running at once (admitted and not finished).
    max_batched_tokens
        Most prompt tokens in one prefill pass (the first admitted query always fits).
    kv_bytes
        Memory for the KV cache; default: what the weights leave (:attr:`Cost.kv_bytes_free`).

    Raises
    ------
    ValueError
        If ``max_batch`` or ``max_batched_tokens`` is not an integer >= 1 or ``kv_bytes`` is
        negative.
    """

    cost: Cost
    max_batch: int = 256
    max_batched_tokens: int = 8192
    kv_bytes: float | None = None
    _kv_per_token: float = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.max_batch = _tokens("max_batch", self.max_batch, 1)
        self.max_batched_tokens = _tokens("max_batched_tokens", self.max_batched_tokens, 1)
        if self.kv_bytes is None:
            self.kv_bytes = self.cost.kv_bytes_free
        if not float(self.kv_bytes) >= 0:
            raise ValueError(f"kv_bytes: must be a number >= 0, got {self.kv_bytes!r}")
        self.kv_bytes = float(self.kv_bytes)
        self._kv_per_token = self.cost.model.kv_bytes_per_token

    def check(self, job: Job) -> None:
        """Raise ``ValueError`` if ``job`` could never run here (its KV cache alone too big)."""
        if job.final_tokens * self._kv_per_token > self.kv_bytes:
            raise ValueError(
                f"prompt_tokens: a query of {job.prompt_tokens} + {job.output_tokens} tokens "
                f"needs more KV memory than the {self.kv_bytes / 1e9:.3g} GB this ES has")

    def next_pass(self, waiting: Sequence[Job], running: Sequence[Job]) -> Pass | None:
        """The pass to run now, or ``None`` (idle).

        Step 1: admit waiting jobs in FIFO order while the running-plus-admitted count stays
        <= ``max_batch``, the admitted prompt tokens <= ``max_batched_tokens`` and the KV
        memory of all of them at their final length fits; admitted jobs get one prefill pass.
        Step 2, when none is admitted: one decode pass over every running job. The caller
        moves the admitted jobs from ``waiting`` to ``running`` and advances ``generated``
        when the pass ends (:func:`finish`).
        """
        if waiting:
            used = sum(job.final_tokens for job in running) * self._kv_per_token
            admitted: list[Job] = []
            tokens = 0
            for job in waiting:
                if len(running) + len(admitted) + 1 > self.max_batch:
                    break
                if admitted and tokens + job.prompt_tokens > self.max_batched_tokens:
                    break
                if used + job.final_tokens * self._kv_per_token > self.kv_bytes:
                    break
                admitted.append(job)
                tokens += job.prompt_tokens
                used += job.final_tokens * self._kv_per_token
            if admitted:
                seqs = tuple((job.prompt_tokens, 0) for job in admitted)
                return Pass("prefill", tuple(admitted), seqs, self.cost.pass_s(seqs))
        if running:
            seqs = tuple((1, job.prompt_tokens + job.generated - 1) for job in running)
            return Pass("decode", tuple(running), seqs, self.cost.pass_s(seqs))
        return None


def finish(pass_: Pass) -> list[Job]:
    """Advance every job of a finished pass by one token; return those now complete."""
    for job in pass_.jobs:
        job.generated += 1
    return [job for job in pass_.jobs if job.done]


def batch_makespan_s(scheduler: BatchScheduler, n: int, prompt_tokens: int,
                     output_tokens: int) -> float:
    """When ``n`` identical queries that reach an idle ES together have all finished.

    The "batched" congestion law's h_j(n) (docs/model.md, congestion laws).

    Raises
    ------
    ValueError
        If a count is not an integer >= 1, or one query cannot fit in the KV memory.
    """
    n = _tokens("n", n, 1)
    waiting = [Job(_tokens("prompt_tokens", prompt_tokens, 1),
                   _tokens("output_tokens", output_tokens, 1)) for _ in range(n)]
    scheduler.check(waiting[0])
    running: list[Job] = []
    clock = 0.0
    while waiting or running:
        step = scheduler.next_pass(waiting, running)
        clock += step.duration_s
        if step.kind == "prefill":
            del waiting[:len(step.jobs)]
            running.extend(step.jobs)
        done = finish(step)
        running = [job for job in running if not job.done] if done else running
    return clock
