"""Model and hardware specifications: the numbers a roofline needs, each with its source.

A :class:`ModelSpec` holds the architecture of a decoder-only transformer (docs/serving.md,
"The roofline"); a :class:`HardwareSpec` holds a device's peak rates, its memory and the
fitted efficiency of running a forward pass on it. Both are frozen and checked on
construction; ``source`` says where every number came from (a published configuration, a
datasheet, or the command that fitted it).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from typing import Any, Mapping

#: The compute precisions a hardware spec may list peak rates for.
PRECISIONS = ("fp32", "bf16", "fp16", "int8")


def _positive(name: str, value: Any, integer: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name}: must be a number, got {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name}: must be a positive finite number, got {value!r}")
    if integer and int(value) != value:
        raise ValueError(f"{name}: must be an integer, got {value!r}")
    return int(value) if integer else float(value)


@dataclass(frozen=True)
class ModelSpec:
    """A decoder-only transformer as the roofline sees it.

    ``params`` is P, the weights one forward pass streams and multiplies with: every layer,
    the final norm and the output head (lm_head), but not an untied input-embedding table, of
    which a pass reads only the rows of its tokens. ``total_params`` counts every weight (what
    must fit in memory). ``bytes_per_weight`` is b_w (2 for bf16, 0.5625 for 4-bit weights
    with one fp16 scale per 32), ``kv_bytes`` b_kv the bytes of one cached key or value
    element, ``compute`` the precision the matrix products run in (a key of
    :attr:`HardwareSpec.peak_flops`).

    Raises
    ------
    ValueError
        If a size is not a positive number (integers where counts are meant), the head
        figures disagree (``heads`` not a multiple of ``kv_heads``), ``params`` exceeds
        ``total_params``, or ``compute`` is not one of :data:`PRECISIONS`.
    """

    name: str
    params: int
    total_params: int
    layers: int
    hidden: int
    heads: int
    kv_heads: int
    head_dim: int
    bytes_per_weight: float
    kv_bytes: float
    compute: str
    source: str = ""

    def __post_init__(self) -> None:
        for name in ("params", "total_params", "layers", "hidden", "heads", "kv_heads", "head_dim"):
            object.__setattr__(self, name, _positive(f"model.{name}", getattr(self, name), True))
        for name in ("bytes_per_weight", "kv_bytes"):
            object.__setattr__(self, name, _positive(f"model.{name}", getattr(self, name)))
        if self.heads % self.kv_heads:
            raise ValueError(f"model.kv_heads: {self.kv_heads} does not divide heads = {self.heads}")
        if self.params > self.total_params:
            raise ValueError(f"model.params: {self.params} exceeds total_params = {self.total_params}")
        if self.compute not in PRECISIONS:
            raise ValueError(f"model.compute: must be one of {PRECISIONS}, got {self.compute!r}")

    @property
    def weight_bytes(self) -> float:
        """Bytes of every weight held in memory (``total_params * bytes_per_weight``)."""
        return self.total_params * self.bytes_per_weight

    @property
    def streamed_bytes(self) -> float:
        """P b_w: the weight bytes one forward pass reads."""
        return self.params * self.bytes_per_weight

    @property
    def kv_bytes_per_token(self) -> float:
        """2 L h_kv d_h b_kv: the key and value bytes one token adds to the cache."""
        return 2.0 * self.layers * self.kv_heads * self.head_dim * self.kv_bytes

    def as_dict(self) -> dict:
        """The spec as plain data (JSON-ready)."""
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass(frozen=True)
class HardwareSpec:
    """A device that runs forward passes: datasheet peaks and fitted efficiencies.

    ``peak_flops`` maps a precision of :data:`PRECISIONS` to the dense peak FLOP/s (F);
    ``mem_bw_bytes_s`` is the memory bandwidth BW, ``mem_bytes`` the memory a model may use.
    ``eta_flops`` and ``eta_bw`` are the achievable fractions of F and BW (in (0, 1]),
    ``overhead_s`` the fixed cost of one pass (kernel launches, framework), fitted on
    measurements (docs/serving.md says how, for each preset).

    Raises
    ------
    ValueError
        If a rate or size is not positive and finite, a fraction lies outside (0, 1], the
        overhead is negative, or a precision is unknown.
    """

    name: str
    peak_flops: Mapping[str, float]
    mem_bw_bytes_s: float
    mem_bytes: float
    eta_flops: float = 1.0
    eta_bw: float = 1.0
    overhead_s: float = 0.0
    source: str = ""
    notes: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.peak_flops, Mapping) or not self.peak_flops:
            raise ValueError("hardware.peak_flops: must map a precision to FLOP/s")
        peaks = {}
        for key, value in self.peak_flops.items():
            if key not in PRECISIONS:
                raise ValueError(f"hardware.peak_flops: unknown precision {key!r} "
                                 f"(one of {PRECISIONS})")
            peaks[key] = _positive(f"hardware.peak_flops[{key}]", value)
        object.__setattr__(self, "peak_flops", dict(peaks))
        for name in ("mem_bw_bytes_s", "mem_bytes"):
            object.__setattr__(self, name, _positive(f"hardware.{name}", getattr(self, name)))
        for name in ("eta_flops", "eta_bw"):
            value = _positive(f"hardware.{name}", getattr(self, name))
            if value > 1.0:
                raise ValueError(f"hardware.{name}: must lie in (0, 1], got {value!r}")
            object.__setattr__(self, name, value)
        overhead = getattr(self, "overhead_s")
        if isinstance(overhead, bool) or not isinstance(overhead, (int, float)) \
                or not math.isfinite(overhead) or overhead < 0:
            raise ValueError(f"hardware.overhead_s: must be a finite number >= 0, got {overhead!r}")
        object.__setattr__(self, "overhead_s", float(overhead))
        object.__setattr__(self, "notes", dict(self.notes))

    def flops(self, precision: str) -> float:
        """F, the dense peak FLOP/s at ``precision``.

        Raises
        ------
        ValueError
            If this hardware lists no peak for ``precision``.
        """
        if precision not in self.peak_flops:
            raise ValueError(f"hardware.peak_flops: {self.name} lists no {precision!r} rate "
                             f"(it has {sorted(self.peak_flops)})")
        return self.peak_flops[precision]

    def as_dict(self) -> dict:
        """The spec as plain data (JSON-ready): what :func:`hardware_spec` reads back."""
        out = {k: getattr(self, k) for k in self.__dataclass_fields__}
        out["peak_flops"] = dict(self.peak_flops)
        out["notes"] = dict(self.notes)
        return out


# ---------------------------------------------------------------------------------------------
# Specs from a transformers config.json
# ---------------------------------------------------------------------------------------------

#: Bytes per weight of the precisions :func:`model_spec` accepts, and the precision the
#: products run in. "q4" is 4-bit weights in groups of 32 with one fp16 scale each (4.5 bits,
#: llama.cpp's Q4_0 layout), dequantised to fp16 for the products.
DTYPES = {
    "fp32": (4.0, "fp32"),
    "bf16": (2.0, "bf16"),
    "fp16": (2.0, "fp16"),
    "int8": (1.0, "int8"),
    "q4": (4.5 / 8.0, "fp16"),
}
_LLAMA_LIKE = ("llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "phi3")


def model_spec(config: Any, dtype: str = "bf16", name: str | None = None,
               kv_dtype: str = "fp16") -> ModelSpec:
    """A :class:`ModelSpec` from a transformers configuration of a Llama-like model.

    Parameters
    ----------
    config
        A path to a ``config.json`` (or to the folder holding it), a dict of its fields, or a
        transformers ``PretrainedConfig`` (anything with ``to_dict()``).
    dtype
        The weights' precision, a key of :data:`DTYPES`.
    name
        The spec's name (default: the config's ``_name_or_path`` or its model type).
    kv_dtype
        The KV cache's precision (``"fp16"``/``"bf16"`` 2 bytes, ``"fp32"`` 4, ``"int8"`` 1).

    Returns
    -------
    ModelSpec
        Parameters counted from the sizes: per layer the attention projections (q, k, v, o),
        the gated MLP (gate, up, down) and two norms; the final norm; the output head (the
        embedding table when tied) and, untied, the input embedding (in ``total_params`` only).

    Raises
    ------
    ValueError
        If the file cannot be read, a required field is missing or not a positive integer, the
        model type is not Llama-like, or a dtype is unknown.
    """
    fields = _config_fields(config)
    model_type = fields.get("model_type", "llama")
    if model_type not in _LLAMA_LIKE:
        raise ValueError(f"config.model_type: {model_type!r} is not a Llama-like decoder "
                         f"(supported: {', '.join(_LLAMA_LIKE)})")
    if dtype not in DTYPES:
        raise ValueError(f"dtype: must be one of {sorted(DTYPES)}, got {dtype!r}")
    kv = {"fp32": 4.0, "bf16": 2.0, "fp16": 2.0, "int8": 1.0}
    if kv_dtype not in kv:
        raise ValueError(f"kv_dtype: must be one of {sorted(kv)}, got {kv_dtype!r}")

    def need(key: str, default: Any = None) -> int:
        value = fields.get(key, default)
        if value is None:
            raise ValueError(f"config.{key}: missing")
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ValueError(f"config.{key}: must be a positive integer, got {value!r}")
        return value

    hidden = need("hidden_size")
    layers = need("num_hidden_layers")
    heads = need("num_attention_heads")
    kv_heads = need("num_key_value_heads", heads)
    head_dim = need("head_dim", hidden // heads if hidden % heads == 0 else None)
    inter = need("intermediate_size")
    vocab = need("vocab_size")
    tied = bool(fields.get("tie_word_embeddings", False))
    per_layer = (hidden * heads * head_dim * 2            # q and o
                 + 2 * hidden * kv_heads * head_dim       # k and v
                 + 3 * hidden * inter                     # gate, up, down
                 + 2 * hidden)                            # two RMS norms
    head = vocab * hidden
    params = layers * per_layer + hidden + head
    total = params + (0 if tied else head)
    bytes_per_weight, compute = DTYPES[dtype]
    label = name or str(fields.get("_name_or_path") or model_type)
    return ModelSpec(
        name=label, params=params, total_params=total, layers=layers, hidden=hidden,
        heads=heads, kv_heads=kv_heads, head_dim=head_dim, bytes_per_weight=bytes_per_weight,
        kv_bytes=kv[kv_dtype], compute=compute,
        source=f"counted from a transformers config ({model_type}, {dtype} weights, "
               f"{kv_dtype} KV cache)")


def _config_fields(config: Any) -> dict:
    if isinstance(config, Mapping):
        return dict(config)
    if hasattr(config, "to_dict"):
        return dict(config.to_dict())
    if isinstance(config, (str, os.PathLike)):
        path = os.fspath(config)
        if os.path.isdir(path):
            path = os.path.join(path, "config.json")
        try:
            with open(path, encoding="utf-8") as handle:
                data = json.load(handle)
        except OSError as exc:
            raise ValueError(f"config: cannot read {path}: {exc.strerror or exc}") from None
        except json.JSONDecodeError as exc:
            raise ValueError(f"config: {path} is not valid JSON ({exc.msg}, line {exc.lineno})") \
                from None
        if not isinstance(data, dict):
            raise ValueError(f"config: {path} must hold a JSON object")
        return data
    raise ValueError(f"config: must be a path, a dict or a transformers config, got "
                     f"{type(config).__name__}")
