"""The roofline cost of a forward pass (docs/serving.md, "The roofline").

A pass runs over sequences k = 1..s, sequence k adding ``n_k`` new tokens to ``c_k`` cached ones:

- FLOPs ``= sum_k [2 P n_k + 4 L h d_h (n_k c_k + n_k (n_k + 1) / 2)]``;
- bytes ``= P b_w + sum_k 2 L h_kv d_h b_kv (c_k + n_k)``;
- time ``= max(FLOPs / (eta_F F), bytes / (eta_B BW)) + o``.
"""

from __future__ import annotations

import math
from typing import Iterable, Sequence

from .specs import HardwareSpec, ModelSpec


def _tokens(name: str, value, minimum: int) -> int:
    if isinstance(value, bool):
        raise ValueError(f"{name}: must be an integer, got {value!r}")
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: must be an integer, got {value!r}") from None
    if number != value or number < minimum:
        raise ValueError(f"{name}: must be an integer >= {minimum}, got {value!r}")
    return number


class Cost:
    """What forward passes of ``model`` cost on ``hardware``.

    Parameters
    ----------
    model, hardware
        Specs, or names of :data:`inference.MODELS` / :data:`inference.HARDWARE` (a hardware
        name may also be the path of a spec file written by ``python -m inference calibrate``).

    Raises
    ------
    ValueError
        If a name is unknown, the hardware lists no peak rate at the model's compute
        precision, or the model's weights do not fit in the hardware's memory.
    """

    def __init__(self, model: ModelSpec | str, hardware: HardwareSpec | str) -> None:
        from .presets import get_hardware, get_model

        self.model = get_model(model)
        self.hardware = get_hardware(hardware)
        m, hw = self.model, self.hardware
        if m.weight_bytes > hw.mem_bytes:
            raise ValueError(
                f"model: {m.name} needs {m.weight_bytes / 1e9:.2f} GB of weights, more than the "
                f"{hw.mem_bytes / 1e9:.2f} GB of {hw.name}")
        self._flop_rate = hw.eta_flops * hw.flops(m.compute)
        self._byte_rate = hw.eta_bw * hw.mem_bw_bytes_s
        self._attn = 4.0 * m.layers * m.heads * m.head_dim
        self._kv = m.kv_bytes_per_token

    def __repr__(self) -> str:
        return f"Cost({self.model.name!r}, {self.hardware.name!r})"

    @property
    def kv_bytes_free(self) -> float:
        """The memory left for the KV cache once the weights are loaded, in bytes."""
        return self.hardware.mem_bytes - self.model.weight_bytes

    def _checked(self, seqs: Iterable[Sequence[int]]) -> list[tuple[int, int]]:
        out = []
        for k, seq in enumerate(seqs):
            try:
                new, cached = seq
            except (TypeError, ValueError):
                raise ValueError(f"seqs[{k}]: must be a pair (new_tokens, cached_tokens), "
                                 f"got {seq!r}") from None
            out.append((_tokens(f"seqs[{k}].new_tokens", new, 1),
                        _tokens(f"seqs[{k}].cached_tokens", cached, 0)))
        if not out:
            raise ValueError("seqs: a pass needs at least one sequence")
        return out

    def pass_flops(self, seqs: Iterable[Sequence[int]]) -> float:
        """FLOPs of one pass over ``seqs`` (pairs ``(new_tokens, cached_tokens)``)."""
        two_p = 2.0 * self.model.params
        return sum(two_p * n + self._attn * (n * c + n * (n + 1) / 2.0)
                   for n, c in self._checked(seqs))

    def pass_bytes(self, seqs: Iterable[Sequence[int]]) -> float:
        """Bytes one pass over ``seqs`` moves: the weights once, every cached and new key/value."""
        return self.model.streamed_bytes + sum(self._kv * (c + n) for n, c in self._checked(seqs))

    def pass_s(self, seqs: Iterable[Sequence[int]]) -> float:
        """Seconds of one forward pass over ``seqs``: the roofline plus the per-pass overhead.

        Raises
        ------
        ValueError
            If ``seqs`` is empty, or a count is not an integer (new tokens >= 1, cached >= 0).
        """
        seqs = self._checked(seqs)
        return max(self.pass_flops(seqs) / self._flop_rate,
                   self.pass_bytes(seqs) / self._byte_rate) + self.hardware.overhead_s

    def prefill_s(self, prompt_tokens: int) -> float:
        """One prefill pass of a prompt of ``prompt_tokens`` tokens, alone (it yields token 1)."""
        return self.pass_s([(_tokens("prompt_tokens", prompt_tokens, 1), 0)])

    def decode_step_s(self, contexts: Iterable[int]) -> float:
        """One decode pass: each sequence adds one token to its ``contexts[k]`` cached ones."""
        return self.pass_s([(1, _tokens(f"contexts[{k}]", c, 0)) for k, c in enumerate(contexts)])

    def query_s(self, prompt_tokens: int, output_tokens: int) -> float:
        """A query alone: one prefill of the prompt, then ``output_tokens - 1`` decode steps.

        Raises
        ------
        ValueError
            If ``prompt_tokens`` or ``output_tokens`` is not an integer >= 1.
        """
        p = _tokens("prompt_tokens", prompt_tokens, 1)
        t = _tokens("output_tokens", output_tokens, 1)
        return self.prefill_s(p) + sum(self.pass_s([(1, p + step - 1)]) for step in range(1, t))

    def max_batch(self, tokens_per_sequence: int, kv_bytes_free: float | None = None) -> int:
        """How many sequences of ``tokens_per_sequence`` tokens the KV cache holds at once.

        ``kv_bytes_free`` defaults to :attr:`kv_bytes_free` (the memory after the weights).

        Raises
        ------
        ValueError
            If ``tokens_per_sequence`` is not an integer >= 1 or ``kv_bytes_free`` is negative.
        """
        tokens = _tokens("tokens_per_sequence", tokens_per_sequence, 1)
        free = self.kv_bytes_free if kv_bytes_free is None else float(kv_bytes_free)
        if not math.isfinite(free) or free < 0:
            raise ValueError(f"kv_bytes_free: must be a finite number >= 0, got {kv_bytes_free!r}")
        return int(free // (tokens * self._kv))

    def limits(self, prompt_tokens: int) -> dict:
        """The physical limits no preset may beat: ``decode_s`` = P b_w / BW (weights streamed
        once at full bandwidth) and ``prefill_s`` = 2 P p / F (the weights' FLOPs at peak)."""
        p = _tokens("prompt_tokens", prompt_tokens, 1)
        return {"decode_s": self.model.streamed_bytes / self.hardware.mem_bw_bytes_s,
                "prefill_s": 2.0 * self.model.params * p / self.hardware.flops(self.model.compute)}
