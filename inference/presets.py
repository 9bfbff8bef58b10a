"""Named specs: models from their published configurations, hardware from datasheets.

Every number names its source beside it. The achievable fractions and per-pass overheads of
the hardware presets are fitted on measurements (docs/serving.md, "Calibration"); a preset
whose ``notes["fit"]`` says "not fitted" uses the datasheet peaks as they are (eta = 1, no
overhead), which is the physical limit, not a prediction.
"""

from __future__ import annotations

import json
import os

from .specs import HardwareSpec, ModelSpec, model_spec

_LLAMA_32_1B = {  # meta-llama/Llama-3.2-1B(-Instruct) config.json, as published
    "model_type": "llama", "hidden_size": 2048, "intermediate_size": 8192,
    "num_hidden_layers": 16, "num_attention_heads": 32, "num_key_value_heads": 8,
    "head_dim": 64, "vocab_size": 128256, "tie_word_embeddings": True,
}
_LLAMA_31_8B = {  # meta-llama/Llama-3.1-8B(-Instruct) config.json, as published
    "model_type": "llama", "hidden_size": 4096, "intermediate_size": 14336,
    "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8,
    "head_dim": 128, "vocab_size": 128256, "tie_word_embeddings": False,
}
_CONFIG_SOURCE = "the model's published config.json (Hugging Face meta-llama/{})"


def _named(config: dict, dtype: str, name: str, repo: str) -> ModelSpec:
    spec = model_spec(config, dtype=dtype, name=name)
    return ModelSpec(**{**spec.as_dict(), "source": f"{_CONFIG_SOURCE.format(repo)}; {spec.source}"})


#: Model specs by name (docs/serving.md, "Models").
MODELS: dict[str, ModelSpec] = {
    spec.name: spec for spec in (
        _named(_LLAMA_32_1B, "bf16", "llama-3.2-1b", "Llama-3.2-1B-Instruct"),
        _named(_LLAMA_32_1B, "q4", "llama-3.2-1b-q4", "Llama-3.2-1B-Instruct"),
        _named(_LLAMA_31_8B, "bf16", "llama-3.1-8b", "Llama-3.1-8B-Instruct"),
        _named(_LLAMA_31_8B, "q4", "llama-3.1-8b-q4", "Llama-3.1-8B-Instruct"),
    )
}

_GB = 1e9
#: Hardware specs by name (docs/serving.md, "Hardware"): dense peaks (no sparsity).
HARDWARE: dict[str, HardwareSpec] = {
    spec.name: spec for spec in (
        HardwareSpec(
            name="a100-80gb",
            peak_flops={"bf16": 312e12, "fp16": 312e12, "fp32": 19.5e12, "int8": 624e12},
            mem_bw_bytes_s=2039 * _GB, mem_bytes=80 * _GB,
            source="NVIDIA A100 Tensor Core GPU datasheet (2021), SXM 80 GB: 312 TFLOP/s dense "
                   "bf16/fp16, 624 TOPS int8, 19.5 TFLOP/s fp32, HBM2e 2,039 GB/s",
            notes={"fit": "not fitted"}),
        HardwareSpec(
            name="h100-sxm",
            peak_flops={"bf16": 989.4e12, "fp16": 989.4e12, "fp32": 66.9e12, "int8": 1978.9e12},
            mem_bw_bytes_s=3350 * _GB, mem_bytes=80 * _GB,
            source="NVIDIA H100 Tensor Core GPU datasheet (2023), SXM5: 989.4 TFLOP/s dense "
                   "bf16/fp16 (1,979 with sparsity), 1,979 TOPS int8, 66.9 TFLOP/s fp32, HBM3 "
                   "3.35 TB/s, 80 GB",
            notes={"fit": "not fitted"}),
        HardwareSpec(
            name="l4",
            peak_flops={"bf16": 121e12, "fp16": 121e12, "fp32": 30.3e12, "int8": 242.5e12},
            mem_bw_bytes_s=300 * _GB, mem_bytes=24 * _GB,
            source="NVIDIA L4 Tensor Core GPU datasheet (2023): 242 TFLOP/s bf16/fp16 and 485 "
                   "TOPS int8 with sparsity (half dense), 30.3 TFLOP/s fp32, GDDR6 300 GB/s, 24 GB",
            notes={"fit": "not fitted"}),
    )
}

#: The defaults of a realistic instance: the paper's pair, the small model 4-bit on a phone,
#: the large one in bf16 on A100 edge servers.
DEFAULT_SLM = "llama-3.2-1b-q4"
DEFAULT_LLM = "llama-3.1-8b"
DEFAULT_DEVICE = "phone-sd8gen3"
DEFAULT_EDGE = "a100-80gb"


def get_model(model: ModelSpec | str) -> ModelSpec:
    """A model spec: given, or by name from :data:`MODELS`.

    Raises
    ------
    ValueError
        If the name is unknown.
    """
    if isinstance(model, ModelSpec):
        return model
    if isinstance(model, str) and model in MODELS:
        return MODELS[model]
    raise ValueError(f"model: unknown model {model!r} (known: {', '.join(sorted(MODELS))}; or "
                     f"build one with inference.model_spec(config.json, dtype))")


def get_hardware(hardware: HardwareSpec | str) -> HardwareSpec:
    """A hardware spec: given, by name from :data:`HARDWARE`, or read from a JSON spec file
    (as written by ``python -m inference calibrate --out FILE``).

    Raises
    ------
    ValueError
        If the name is unknown and no such file exists, or the file is not a valid spec.
    """
    if isinstance(hardware, HardwareSpec):
        return hardware
    if isinstance(hardware, str) and hardware in HARDWARE:
        return HARDWARE[hardware]
    if isinstance(hardware, (str, os.PathLike)) and os.path.isfile(hardware):
        return load_hardware(hardware)
    raise ValueError(f"hardware: unknown hardware {hardware!r} (known: "
                     f"{', '.join(sorted(HARDWARE))}; or the path of a spec file)")


def load_hardware(path: str | os.PathLike) -> HardwareSpec:
    """Read a hardware spec file (JSON, the fields of :class:`HardwareSpec`).

    Raises
    ------
    ValueError
        If the file cannot be read or parsed, or a field is missing, unknown or invalid.
    """
    path = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except OSError as exc:
        raise ValueError(f"hardware: cannot read {path}: {exc.strerror or exc}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"hardware: {path} is not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ValueError(f"hardware: {path} must hold a JSON object")
    known = set(HardwareSpec.__dataclass_fields__)
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"hardware.{unknown[0]}: unknown field in {path}")
    missing = sorted({"name", "peak_flops", "mem_bw_bytes_s", "mem_bytes"} - set(data))
    if missing:
        raise ValueError(f"hardware.{missing[0]}: missing in {path}")
    return HardwareSpec(**data)


def save_hardware(spec: HardwareSpec, path: str | os.PathLike) -> None:
    """Write ``spec`` as JSON to ``path`` atomically (a temporary file moved into place)."""
    path = os.fspath(path)
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(spec.as_dict(), handle, indent=2, sort_keys=True)
        handle.write("\n")
    os.replace(tmp, path)
