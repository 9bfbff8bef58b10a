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

#: Our trained tiny pair (profiler/train.py ``SIZES``, ``tie_word_embeddings=True``) over the
#: word-level bAbI tokenizer of profiler/vocab.py: 240 words and punctuation marks plus 4 special
#: tokens = 244. ``tests/test_calibration.py`` rebuilds both LlamaConfigs through ``profiler``
#: and checks that ``model_spec`` of them equals these presets.
_BABI_VOCAB = 244
_BABI = {
    "babi-small": {"hidden_size": 64, "intermediate_size": 256, "num_hidden_layers": 2,
                   "num_attention_heads": 4, "num_key_value_heads": 4},
    "babi-large": {"hidden_size": 96, "intermediate_size": 384, "num_hidden_layers": 4,
                   "num_attention_heads": 6, "num_key_value_heads": 6},
}


def _named(config: dict, dtype: str, name: str, repo: str) -> ModelSpec:
    spec = model_spec(config, dtype=dtype, name=name)
    return ModelSpec(**{**spec.as_dict(), "source": f"{_CONFIG_SOURCE.format(repo)}; {spec.source}"})


def _babi(name: str) -> ModelSpec:
    spec = model_spec({"model_type": "llama", "vocab_size": _BABI_VOCAB,
                       "tie_word_embeddings": True, **_BABI[name]}, dtype="fp32", name=name)
    return ModelSpec(**{**spec.as_dict(), "source": f"profiler/train.py SIZES[{name[5:]!r}] "
                        f"over profiler/vocab.py's {_BABI_VOCAB} tokens, trained in fp32; "
                        f"{spec.source}"})


def _spinquant_1b() -> ModelSpec:
    """Llama-3.2-1B as Meta's quantised release runs it on phones (ExecuTorch, SpinQuant or
    QLoRA): the layers' linear weights 4-bit in groups of 32 (4.5 bits with one 16-bit scale
    each), the classification head 8-bit per channel, activations 8-bit per token (so the
    products run in int8). ``bytes_per_weight`` is the average over the streamed weights."""
    spec = model_spec(_LLAMA_32_1B, dtype="int8", name="llama-3.2-1b-spinquant")
    head = _LLAMA_32_1B["vocab_size"] * _LLAMA_32_1B["hidden_size"]
    streamed = (spec.params - head) * 4.5 / 8.0 + head * 1.0
    return ModelSpec(**{**spec.as_dict(), "bytes_per_weight": streamed / spec.params,
                        "source": "meta-llama/Llama-3.2-1B-Instruct config.json and model card "
                                  "(quantisation scheme: 4-bit groupwise weights, group 32, in "
                                  "the layers; 8-bit per-channel head; 8-bit dynamic "
                                  "activations); int8 products, fp16 KV cache"})


#: Model specs by name (docs/serving.md, "Models").
MODELS: dict[str, ModelSpec] = {
    spec.name: spec for spec in (
        _named(_LLAMA_32_1B, "bf16", "llama-3.2-1b", "Llama-3.2-1B-Instruct"),
        _named(_LLAMA_32_1B, "q4", "llama-3.2-1b-q4", "Llama-3.2-1B-Instruct"),
        _named(_LLAMA_31_8B, "bf16", "llama-3.1-8b", "Llama-3.1-8B-Instruct"),
        _named(_LLAMA_31_8B, "q4", "llama-3.1-8b-q4", "Llama-3.1-8B-Instruct"),
        _spinquant_1b(),
        _babi("babi-small"),
        _babi("babi-large"),
    )
}

_GB = 1e9
_VIDUR_FIT = ("fitted: python -m benchmarks.serving --calibrate --vidur PATH, on Vidur's "
              "measured per-layer kernel medians (data/profiling/compute, mlp.csv, "
              "tensor-parallel 1) of {series}, github.com/microsoft/vidur commit 7d47513363ec, "
              "least squares on log time, every third token count held out: held-out error "
              "median {held}, worst {worst} ({count} passes). eta_bw sits at its bound: every "
              "pass streams the same weights, so only P b_w / (eta_bw BW) + overhead_s is "
              "determined and the fit puts the rest in the overhead")

#: This machine (2 Xeon cores with AMX, shared), fitted by ``python -m inference calibrate``
#: with one thread: docs/serving.md, "Calibration", gives the date, the commit, the load.
_HOST_CPU = HardwareSpec(**{
    "name": "host-cpu",
    "peak_flops": {"bf16": 2662400000000.0, "fp32": 166400000000.0},
    "mem_bw_bytes_s": 21980192763.0, "mem_bytes": 25276182528.0,
    "eta_flops": 0.1772, "eta_bw": 0.3811, "overhead_s": 0.013444,
    "source": "peaks: Intel Xeon (Sapphire Rapids class, AMX) 1 core (one thread) x 2.60 GHz; "
              "fp32 2 FMA x 16 lanes (AVX-512); bf16 AMX 1,024 FLOP/cycle/core; bandwidth: "
              "measured copy of a 256 MiB array (one thread); memory: the machine's RAM",
    "notes": {"fit": "fitted: python -m inference calibrate --threads 1 (bf16, 24 passes of "
                     "llama-half-width, llama-1b-4layers, llama-3.2-1b, least squares on log "
                     "time), 2026-12-06 21:45, commit be11fb2, quiet machine (load average "
                     "0.8 before, 1.6 after); held-out error median 24.4 %, worst 41.2 % (6 "
                     "passes): the goal (15 % / 40 %) is not met, docs/serving.md says why"},
})
#: Hardware specs by name (docs/serving.md, "Hardware"): dense peaks (no sparsity).
HARDWARE: dict[str, HardwareSpec] = {
    spec.name: spec for spec in (
        HardwareSpec(
            name="a100-80gb",
            peak_flops={"bf16": 312e12, "fp16": 312e12, "fp32": 19.5e12, "int8": 624e12},
            mem_bw_bytes_s=2039 * _GB, mem_bytes=80 * _GB,
            eta_flops=0.6515, eta_bw=1.0, overhead_s=0.003383,
            source="NVIDIA A100 Tensor Core GPU datasheet (2021), SXM 80 GB: 312 TFLOP/s dense "
                   "bf16/fp16, 624 TOPS int8, 19.5 TFLOP/s fp32, HBM2e 2,039 GB/s",
            notes={"fit": _VIDUR_FIT.format(series="Meta-Llama-3-8B and Llama-2-7b-hf on a100",
                                            held="2.7 %", worst="31.5 %", count=239)}),
        HardwareSpec(
            name="h100-sxm",
            peak_flops={"bf16": 989.4e12, "fp16": 989.4e12, "fp32": 66.9e12, "int8": 1978.9e12},
            mem_bw_bytes_s=3350 * _GB, mem_bytes=80 * _GB,
            source="NVIDIA H100 Tensor Core GPU datasheet (2023), SXM5: 989.4 TFLOP/s dense "
                   "bf16/fp16 (1,979 with sparsity), 1,979 TOPS int8, 66.9 TFLOP/s fp32, HBM3 "
                   "3.35 TB/s, 80 GB",
            eta_flops=0.6049, eta_bw=1.0, overhead_s=0.002104,
            notes={"fit": _VIDUR_FIT.format(series="Llama-2-7b-hf on h100", held="5.9 %",
                                            worst="29.6 %", count=87)}),
        HardwareSpec(
            name="l4",
            peak_flops={"bf16": 121e12, "fp16": 121e12, "fp32": 30.3e12, "int8": 242.5e12},
            mem_bw_bytes_s=300 * _GB, mem_bytes=24 * _GB,
            source="NVIDIA L4 Tensor Core GPU datasheet (2023): 242 TFLOP/s bf16/fp16 and 485 "
                   "TOPS int8 with sparsity (half dense), 30.3 TFLOP/s fp32, GDDR6 300 GB/s, 24 GB",
            notes={"fit": "not fitted"}),
        HardwareSpec(
            name="phone-sd8gen3",
            # the Arm CPU cluster that runs Meta's quantised Llama-3.2-1B (ExecuTorch/XNNPACK):
            # 1 Cortex-X4 at 3.3 GHz with 4 128-bit SIMD pipes, 5 Cortex-A720 (3 at 3.2 GHz,
            # 2 at 3.0 GHz) with 2 each; per pipe and cycle 16 fp16 FLOP (8-lane FMA) and 32
            # int8 OP (SDOT), i.e. 4*16*3.3 + 2*16*(3*3.2 + 2*3.0) GFLOP/s
            peak_flops={"fp16": 710.4e9, "int8": 1420.8e9},
            # LPDDR5X at 4800 MHz (9,600 MT/s) on a 64-bit bus: 9.6e9 * 8 bytes
            mem_bw_bytes_s=76.8 * _GB,
            # assumed: what Android leaves one foreground app on a 12 GB phone (no datasheet
            # figure exists; Meta measured 1.9 GB resident for Llama-3.2-1B SpinQuant)
            mem_bytes=4 * _GB,
            eta_flops=0.4539, eta_bw=0.5323, overhead_s=0.0,
            source="Qualcomm Snapdragon 8 Gen 3 product brief (2023): CPU 1x Cortex-X4 3.3 GHz, "
                   "3x A720 3.2 GHz, 2x A720 3.0 GHz, 2x A520 2.3 GHz; LPDDR5X up to 4800 MHz. "
                   "SIMD pipes: 4 x 128-bit on the X-series (since Cortex-X1), 2 on the "
                   "A7xx cores, as Arm describes them (not checked against Arm's optimization "
                   "guides here; eta_flops is fitted, so an error in this peak cancels in "
                   "the predictions). Bus width 64 bits (4 x 16-bit LPDDR5X channels) and the "
                   "app's 4 GB are assumptions",
            notes={"fit": "fitted: python -m benchmarks.serving --calibrate (phone part), on "
                          "meta-llama/Llama-3.2-1B-Instruct's model card, OnePlus 12 "
                          "(Snapdragon 8 Gen 3), ExecuTorch on the Arm CPU, 1B SpinQuant: "
                          "decode 50.2 tokens/s (eta_bw, KV context 128 assumed), prefill 260.5 "
                          "tokens/s at a 64-token prompt (eta_flops, int8); overhead_s not "
                          "derivable from two figures, set to 0"}),
        HardwareSpec(
            name="jetson-agx-orin-64gb",
            # GPU: 2,048 CUDA cores (5.3 TFLOP/s fp32), 64 tensor cores: 170 TOPS int8 with
            # sparsity = 85 dense; fp16/bf16 tensor rate half the int8 one (Ampere)
            peak_flops={"fp32": 5.3e12, "fp16": 42.5e12, "bf16": 42.5e12, "int8": 85e12},
            mem_bw_bytes_s=204.8 * _GB, mem_bytes=64 * _GB,
            source="NVIDIA Jetson AGX Orin Series technical brief v1.2 (2022), 64 GB module: "
                   "Ampere GPU 2,048 CUDA cores, 64 tensor cores, 170 sparse INT8 TOPS (GPU; "
                   "275 with the DLAs), 5.3 FP32 TFLOP/s; 64 GB 256-bit LPDDR5 at 204.8 GB/s "
                   "(shared with the CPU: the whole memory is counted, the OS's share is not "
                   "taken off)",
            notes={"fit": "not fitted: no public per-kernel measurements read for Orin; "
                          "eta = 1 and no overhead (the physical limit, not a prediction)"}),
        _HOST_CPU,
    )
}

#: The defaults of a realistic instance: the paper's pair, the small model 4-bit on a phone (as
#: Meta's quantised release runs it, the layout the phone preset's fractions come from), the
#: large one in bf16 on A100 edge servers.
DEFAULT_SLM = "llama-3.2-1b-spinquant"
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
