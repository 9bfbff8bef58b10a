"""Fit a hardware spec's achievable fractions and per-pass overhead on measured passes.

Two halves (docs/serving.md, "Calibration"):

- :func:`fit_roofline` and :func:`relative_errors`: the fit itself, plain numpy/scipy, shared by
  ``python -m inference calibrate`` (this machine) and ``python -m benchmarks.serving
  --calibrate`` (Vidur's GPU kernel measurements). Given each measured pass's FLOPs, bytes and
  seconds, it finds ``eta_flops``, ``eta_bw`` and ``overhead_s`` minimising the squared error
  of **log time** (every pass weighs the same, whether it takes 1 ms or 10 s).
- :func:`measure_cpu` and :func:`calibrate_cpu`: time transformers' ``LlamaForCausalLM`` with
  random weights (no download) on this machine's CPU, prefill passes and KV-cached decode steps
  over a grid, and fit a :class:`HardwareSpec`. torch and transformers are the optional extra
  ``[llm]``; they are imported inside the functions, so ``inference`` imports without them.
"""

from __future__ import annotations

import math
import os
import platform
import statistics
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from .cost import Cost
from .specs import HardwareSpec, ModelSpec, model_spec

#: What to install when torch or transformers is missing.
LLM_EXTRA = "install the optional extra: pip install -e '.[llm]' (torch and transformers)"


# ---------------------------------------------------------------------------------------------
# The fit
# ---------------------------------------------------------------------------------------------

def roofline_s(flops, nbytes, flop_rate: float, byte_rate: float, overhead_s: float) -> np.ndarray:
    """``max(flops / flop_rate, nbytes / byte_rate) + overhead_s``, elementwise."""
    return np.maximum(np.asarray(flops, float) / flop_rate,
                      np.asarray(nbytes, float) / byte_rate) + overhead_s


def relative_errors(predicted, measured) -> np.ndarray:
    """``|predicted - measured| / measured``, elementwise."""
    measured = np.asarray(measured, float)
    return np.abs(np.asarray(predicted, float) - measured) / measured


def fit_roofline(flops, nbytes, seconds, peak_flops: float, mem_bw_bytes_s: float,
                 weights=None) -> dict:
    """The roofline's ``eta_flops``, ``eta_bw`` and ``overhead_s`` that best fit measured passes.

    Minimises ``sum_i w_i (log t_hat_i - log t_i)^2`` over ``eta_flops``, ``eta_bw`` in (0, 1] and
    ``overhead_s >= 0``, where ``t_hat = max(F_i / (eta_flops peak), B_i / (eta_bw bw)) + o``
    (scipy's bounded least squares from a fixed grid of starts: deterministic).

    Parameters
    ----------
    flops, nbytes, seconds
        Per measured pass: its FLOPs, its bytes (the roofline's counts) and its time.
    peak_flops, mem_bw_bytes_s
        The datasheet peak F and bandwidth BW the fractions are relative to.
    weights
        Per pass, w_i > 0 (default 1): e.g. to let a sparsely sampled range count as much as
        a densely sampled one.

    Returns
    -------
    dict
        ``eta_flops``, ``eta_bw``, ``overhead_s`` and ``rms_log`` (the weighted root mean
        square of the log residuals at the optimum).

    Raises
    ------
    ValueError
        If the arrays differ in length, hold fewer than 3 passes, or hold a value that is not
        positive and finite.
    """
    from scipy.optimize import least_squares

    f, b, t = (np.asarray(x, float) for x in (flops, nbytes, seconds))
    if not (f.shape == b.shape == t.shape) or f.ndim != 1:
        raise ValueError("seconds: flops, nbytes and seconds must be 1-d arrays of one length")
    if f.size < 3:
        raise ValueError(f"seconds: a fit of 3 parameters needs at least 3 passes, got {f.size}")
    for name, x in (("flops", f), ("nbytes", b), ("seconds", t)):
        if not np.all(np.isfinite(x)) or np.any(x <= 0):
            raise ValueError(f"{name}: every value must be positive and finite")
    w = np.ones_like(t) if weights is None else np.asarray(weights, float)
    if w.shape != t.shape or not np.all(np.isfinite(w)) or np.any(w <= 0):
        raise ValueError("weights: one positive finite weight per pass")
    root_w = np.sqrt(w / w.mean())
    log_t = np.log(t)
    scale_o = float(np.min(t))

    def residuals(x):
        eta_f, eta_b, o = x
        return root_w * (np.log(roofline_s(f, b, eta_f * peak_flops, eta_b * mem_bw_bytes_s,
                                           o * scale_o)) - log_t)

    best = None
    for eta_f0 in (0.05, 0.3, 0.8):
        for eta_b0 in (0.05, 0.3, 0.8):
            for o0 in (0.0, 0.5):
                sol = least_squares(residuals, x0=[eta_f0, eta_b0, o0],
                                    bounds=([1e-6, 1e-6, 0.0], [1.0, 1.0, np.inf]),
                                    method="trf", x_scale=[0.1, 0.1, 0.1])
                if best is None or sol.cost < best.cost:
                    best = sol
    eta_f, eta_b, o = (float(v) for v in best.x)
    return {"eta_flops": eta_f, "eta_bw": eta_b, "overhead_s": o * scale_o,
            "rms_log": float(math.sqrt(2.0 * best.cost / f.size))}


def octave_weights(tokens) -> np.ndarray:
    """Weights that make every doubling of the token count weigh the same in a fit: a pass's
    weight is one over the number of passes in its octave ``floor(log2 tokens)``."""
    octave = np.floor(np.log2(np.asarray(tokens, float))).astype(int)
    _, index, counts = np.unique(octave, return_inverse=True, return_counts=True)
    return 1.0 / counts[index]


def holdout_mask(n: int, every: int = 3) -> np.ndarray:
    """Which of ``n`` points (in the caller's order) are held out of the fit: every
    ``every``-th one, starting with the second (so the first and last points are fitted)."""
    mask = np.zeros(n, bool)
    mask[1::every] = True
    if n:
        mask[-1] = False
    return mask


def error_summary(errors) -> dict:
    """Median and worst of relative errors (fractions), and how many."""
    errors = np.asarray(errors, float)
    return {"median": float(np.median(errors)), "worst": float(np.max(errors)),
            "count": int(errors.size)}


# ---------------------------------------------------------------------------------------------
# This machine: timing transformers' LlamaForCausalLM
# ---------------------------------------------------------------------------------------------

#: Llama-3.2-1B's published architecture (meta-llama/Llama-3.2-1B config.json) and two smaller
#: models of the same family, timed by :func:`measure_cpu`.
CPU_MODELS = {
    "llama-3.2-1b": {"hidden_size": 2048, "intermediate_size": 8192, "num_hidden_layers": 16,
                     "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 64,
                     "vocab_size": 128256, "tie_word_embeddings": True},
    "llama-1b-4layers": {"hidden_size": 2048, "intermediate_size": 8192, "num_hidden_layers": 4,
                         "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 64,
                         "vocab_size": 128256, "tie_word_embeddings": True},
    "llama-half-width": {"hidden_size": 1024, "intermediate_size": 4096, "num_hidden_layers": 8,
                         "num_attention_heads": 16, "num_key_value_heads": 4, "head_dim": 64,
                         "vocab_size": 32000, "tie_word_embeddings": True},
}


@dataclass(frozen=True)
class CpuGrid:
    """What :func:`measure_cpu` times: for each model, prefill passes of ``batch x prompt``
    tokens and decode steps of ``batch`` sequences holding ``context`` tokens each."""

    models: tuple = ("llama-half-width", "llama-1b-4layers", "llama-3.2-1b")
    prefill: tuple = ((1, 16), (1, 64), (1, 256), (4, 64))           # (batch, prompt)
    decode: tuple = ((1, 32), (1, 256), (4, 64), (16, 32))             # (batch, context)
    repeats: int = 3

    def __post_init__(self) -> None:
        unknown = [m for m in self.models if m not in CPU_MODELS]
        if unknown:
            raise ValueError(f"models: unknown model {unknown[0]!r} (known: "
                             f"{', '.join(CPU_MODELS)})")
        for name in ("prefill", "decode"):
            for pair in getattr(self, name):
                if len(pair) != 2 or any(int(v) != v or v < 1 for v in pair):
                    raise ValueError(f"{name}: each point must be (batch, tokens) with integers "
                                     f">= 1, got {pair!r}")
        if int(self.repeats) != self.repeats or self.repeats < 1:
            raise ValueError(f"repeats: must be an integer >= 1, got {self.repeats!r}")


#: The grids ``python -m inference calibrate --grid`` offers. "default" takes about 3 minutes on
#: a quiet 2-core machine; "big" adds longer prompts, larger batches and more repeats.
GRIDS = {
    "quick": CpuGrid(models=("llama-half-width",), prefill=((1, 16), (1, 64), (2, 64), (1, 128)),
                     decode=((1, 16), (2, 16), (4, 32), (8, 16)), repeats=2),
    "default": CpuGrid(),
    "big": CpuGrid(prefill=((1, 16), (1, 64), (1, 256), (4, 64), (1, 512), (4, 256), (8, 128)),
                   decode=((1, 32), (1, 256), (4, 64), (16, 32), (1, 1024), (8, 256), (32, 64)),
                   repeats=5),
}


@dataclass
class Measurement:
    """One timed pass: the model, its kind, the batch, the prompt (prefill) or the context
    (decode) per sequence, the roofline's FLOPs and bytes of the pass, the median seconds and
    every repeat's seconds."""

    model: str
    kind: str
    batch: int
    tokens: int
    flops: float
    nbytes: float
    seconds: float
    times: list = field(default_factory=list)


def _import_llm():
    try:
        import torch
        from transformers import LlamaConfig, LlamaForCausalLM
    except ImportError:
        raise ValueError(f"calibrate: torch/transformers not found; {LLM_EXTRA}") from None
    return torch, LlamaConfig, LlamaForCausalLM


def _random_llama(fields: dict, dtype, seed: int):
    """A LlamaForCausalLM with random uniform weights, built without transformers' (slow)
    initialisation."""
    torch, LlamaConfig, LlamaForCausalLM = _import_llm()
    try:
        from transformers.initialization import no_init_weights
    except ImportError:  # transformers < 5
        from transformers.modeling_utils import no_init_weights

    config = LlamaConfig(**fields, max_position_embeddings=8192)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with no_init_weights():
            model = LlamaForCausalLM(config)
    finally:
        torch.set_default_dtype(previous)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in model.parameters():
            param.uniform_(-0.02, 0.02, generator=generator)
    return model.eval()


def measure_cpu(grid: CpuGrid = GRIDS["default"], dtype: str = "bf16", seed: int = 0,
                progress: Callable[[str], None] | None = None,
                threads: int | None = None) -> list[Measurement]:
    """Time prefill passes and KV-cached decode steps of random Llama models on this CPU.

    Each model is built with random weights (seeded), warmed up with one small prefill and a
    decode step, then each grid point is timed ``grid.repeats`` times after one untimed run;
    the median is kept. A decode point prefills ``context`` tokens once, then times
    consecutive one-token steps (the context grows by one per step; the FLOPs and bytes are
    those of the median step). ``threads`` sets torch's intra-op threads for the measurement
    (default: torch's own choice, one per core); on a machine shared with other jobs one
    thread is steadier, since two threads wait on each other whenever either is descheduled.

    Raises
    ------
    ValueError
        If torch or transformers is missing (naming the extra), or ``dtype`` is not one of
        fp32, bf16.
    """
    torch, _, _ = _import_llm()
    dtypes = {"fp32": torch.float32, "bf16": torch.bfloat16}
    if dtype not in dtypes:
        raise ValueError(f"dtype: must be one of {sorted(dtypes)}, got {dtype!r}")
    if threads is not None and (isinstance(threads, bool) or int(threads) != threads
                                or threads < 1):
        raise ValueError(f"threads: must be an integer >= 1, got {threads!r}")
    say = progress or (lambda text: None)
    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(int(threads))
    try:
        return _measure(torch, grid, dtypes[dtype], dtype, seed, say)
    finally:
        torch.set_num_threads(previous)


def _forward(model, ids, cache=None, use_cache=True):
    """One forward pass; returns the KV cache (``cache=`` in transformers >= 5.25, before that
    ``past_key_values=``)."""
    import inspect

    keyword = "cache" if "cache" in inspect.signature(model.forward).parameters \
        else "past_key_values"
    out = model(ids, use_cache=use_cache, **({keyword: cache} if cache is not None else {}))
    return getattr(out, keyword, None)


def _measure(torch, grid, torch_dtype, dtype, seed, say) -> list[Measurement]:
    out = []
    generator = torch.Generator().manual_seed(seed)
    for name in grid.models:
        fields = CPU_MODELS[name]
        spec = model_spec(fields, dtype=dtype, name=name)
        cost = Cost(spec, _PROBE)
        model = _random_llama(fields, torch_dtype, seed)
        vocab = fields["vocab_size"]

        def ids(batch, tokens):
            return torch.randint(0, vocab, (batch, tokens), generator=generator)

        with torch.inference_mode():
            _forward(model, ids(1, 1), _forward(model, ids(1, 8)))  # warm up
            for batch, prompt in grid.prefill:
                x = ids(batch, prompt)
                _forward(model, x, use_cache=False)  # untimed: allocations, kernel choice
                times = []
                for _ in range(grid.repeats):
                    start = time.perf_counter()
                    _forward(model, x, use_cache=False)
                    times.append(time.perf_counter() - start)
                seqs = [(prompt, 0)] * batch
                out.append(Measurement(name, "prefill", batch, prompt, cost.pass_flops(seqs),
                                       cost.pass_bytes(seqs), statistics.median(times), times))
                say(f"{name} prefill batch {batch} prompt {prompt}: {out[-1].seconds:.3f} s")
            for batch, context in grid.decode:
                cache = _forward(model, ids(batch, context))
                times = []
                for step in range(grid.repeats + 1):
                    start = time.perf_counter()
                    cache = _forward(model, ids(batch, 1), cache)
                    times.append(time.perf_counter() - start)
                times = times[1:]  # the first step is untimed
                middle = context + 1 + (grid.repeats - 1) // 2
                seqs = [(1, middle)] * batch
                out.append(Measurement(name, "decode", batch, middle, cost.pass_flops(seqs),
                                       cost.pass_bytes(seqs), statistics.median(times), times))
                say(f"{name} decode batch {batch} context {middle}: {out[-1].seconds:.3f} s")
        del model
    return out


#: A spec that only lets :class:`Cost` count FLOPs and bytes (its rates are never used).
_PROBE = HardwareSpec(name="probe", peak_flops={p: 1.0 for p in ("fp32", "bf16", "fp16", "int8")},
                      mem_bw_bytes_s=1.0, mem_bytes=1e15)


def cpu_peaks(cores: int | None = None) -> dict:
    """This CPU's nominal peak FLOP/s per precision, from its core count, base clock and vector
    units (Linux ``/proc/cpuinfo``): fp32 = cores x clock x 2 FMA ports x 2 x lanes (16 with
    AVX-512, 8 with AVX2); bf16 = cores x clock x 1024 with AMX (Intel: 1,024 bf16 FLOP per
    cycle per core), else the fp32 figure. The clock is the one in the model name, else the
    kernel's ``cpu MHz``. ``cores`` defaults to every core (pass the threads a measurement
    used). Returns ``{"peak_flops": {...}, "how": text}``."""
    cores = cores or os.cpu_count() or 1
    flags, mhz, model = set(), None, platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "flags" and not flags:
                    flags = set(value.split())
                elif key == "cpu MHz" and mhz is None:
                    mhz = float(value)
                elif key == "model name":
                    model = value.strip()
    except OSError:
        pass
    if "@" in model and "GHz" in model:
        mhz = float(model.split("@")[1].split("GHz")[0]) * 1000.0
    clock = (mhz or 2000.0) * 1e6
    lanes = 16 if "avx512f" in flags else 8 if "avx2" in flags else 4
    fp32 = cores * clock * 2 * 2 * lanes
    bf16 = cores * clock * 1024 if "amx_bf16" in flags else fp32
    how = (f"{model}: {cores} cores x {clock / 1e9:.2f} GHz; fp32 2 FMA x {lanes} lanes "
           f"({'AVX-512' if lanes == 16 else 'AVX2' if lanes == 8 else 'SSE'}); bf16 "
           f"{'AMX 1,024 FLOP/cycle/core' if 'amx_bf16' in flags else 'as fp32 (no AMX)'}")
    return {"peak_flops": {"fp32": fp32, "bf16": bf16}, "how": how}


def memory_bandwidth(size_bytes: int = 1 << 28, repeats: int = 5) -> float:
    """This machine's memory bandwidth in bytes/s, measured: the best of ``repeats`` copies
    of a ``size_bytes`` array (numpy; a copy reads and writes each byte once). A virtual
    machine's share of its socket has no datasheet figure; this is the BW the CPU preset's
    ``eta_bw`` is relative to."""
    src = np.ones(size_bytes // 8)
    dst = np.empty_like(src)
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        np.copyto(dst, src)
        best = min(best, time.perf_counter() - start)
    return 2.0 * src.nbytes / best


def _memory_bytes() -> float:
    try:
        return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 8e9


def calibrate_cpu(grid: CpuGrid = GRIDS["default"], dtype: str = "bf16", seed: int = 0,
                  name: str = "host-cpu", progress: Callable[[str], None] | None = None,
                  threads: int | None = None) -> tuple[HardwareSpec, dict]:
    """Measure this machine (:func:`measure_cpu`) and fit a :class:`HardwareSpec` on it.

    Every third point (in the grid's order, per model) is held out of the fit; the report
    gives the relative errors of the fitted spec on the held-out points and on the fitted ones.

    Returns
    -------
    spec, report
        The fitted spec (peaks from :func:`cpu_peaks`, bandwidth from
        :func:`memory_bandwidth`, memory the machine's RAM) and a dict: the measurements, the
        fit, the errors (``heldout`` and ``fitted``: median, worst, count), the load average
        before and after, and the seconds the measurement took.
    """
    load_before = _load()
    started = time.perf_counter()
    bandwidth = memory_bandwidth()
    peaks = cpu_peaks(threads)
    rows = measure_cpu(grid, dtype, seed, progress, threads)
    wall = time.perf_counter() - started
    heldout = np.concatenate([holdout_mask(sum(r.model == m for r in rows))
                              for m in grid.models])
    flops = np.array([r.flops for r in rows])
    nbytes = np.array([r.nbytes for r in rows])
    seconds = np.array([r.seconds for r in rows])
    compute = model_spec(CPU_MODELS[grid.models[0]], dtype=dtype).compute
    peak = peaks["peak_flops"][compute]
    fit = fit_roofline(flops[~heldout], nbytes[~heldout], seconds[~heldout], peak, bandwidth)
    predicted = roofline_s(flops, nbytes, fit["eta_flops"] * peak, fit["eta_bw"] * bandwidth,
                           fit["overhead_s"])
    errors = relative_errors(predicted, seconds)
    spec = HardwareSpec(
        name=name, peak_flops=peaks["peak_flops"], mem_bw_bytes_s=bandwidth,
        mem_bytes=_memory_bytes(), eta_flops=fit["eta_flops"], eta_bw=fit["eta_bw"],
        overhead_s=fit["overhead_s"],
        source=f"peaks: {peaks['how']}; bandwidth: measured copy of a 256 MiB array",
        notes={"fit": f"fitted: python -m inference calibrate ({dtype}, "
                      f"{threads or 'default'} threads, {len(rows)} passes of "
                      f"{', '.join(grid.models)}, least squares on log time), "
                      f"{time.strftime('%Y-%m-%d %H:%M')}; held-out error median "
                      f"{100 * float(np.median(errors[heldout])):.1f} %, worst "
                      f"{100 * float(np.max(errors[heldout])):.1f} %"})
    report = {
        "measurements": [{**r.__dict__, "heldout": bool(h), "predicted_s": float(p)}
                         for r, h, p in zip(rows, heldout, predicted)],
        "fit": fit, "heldout": error_summary(errors[heldout]),
        "fitted": error_summary(errors[~heldout]), "load_before": load_before,
        "load_after": _load(), "wall_s": wall, "dtype": dtype,
    }
    return spec, report


def _load() -> list:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def format_report(report: dict) -> str:
    """The measurements and errors of :func:`calibrate_cpu` as a fixed-width table."""
    lines = [f"{'model':<18} {'kind':<8} {'batch':>5} {'tokens':>6} {'measured s':>11} "
             f"{'predicted s':>11} {'error %':>8}  set"]
    for m in report["measurements"]:
        err = 100 * abs(m["predicted_s"] - m["seconds"]) / m["seconds"]
        lines.append(f"{m['model']:<18} {m['kind']:<8} {m['batch']:>5} {m['tokens']:>6} "
                     f"{m['seconds']:>11.4f} {m['predicted_s']:>11.4f} {err:>8.1f}  "
                     f"{'held out' if m['heldout'] else 'fit'}")
    fit = report["fit"]
    lines.append(f"fit: eta_flops {fit['eta_flops']:.4f}, eta_bw {fit['eta_bw']:.4f}, overhead "
                 f"{1e3 * fit['overhead_s']:.2f} ms (least squares on log time)")
    for key in ("heldout", "fitted"):
        s = report[key]
        lines.append(f"{key} error: median {100 * s['median']:.1f} %, worst "
                     f"{100 * s['worst']:.1f} % ({s['count']} passes)")
    lines.append(f"load average before {report['load_before']}, after {report['load_after']}; "
                 f"{report['wall_s']:.0f} s")
    return "\n".join(lines)


def check_report(report: dict, hardware) -> dict:
    """How well ``hardware`` (a spec, a name or a spec file) predicts the passes of a saved
    :func:`calibrate_cpu` report: the relative errors' median, worst and count over every pass.

    Raises
    ------
    ValueError
        If the report holds no measurements or the hardware is unknown.
    """
    from .presets import get_hardware

    hw = get_hardware(hardware)
    rows = report.get("measurements") if isinstance(report, dict) else None
    if not rows:
        raise ValueError("report.measurements: missing or empty")
    compute = "bf16" if report.get("dtype", "bf16") == "bf16" else "fp32"
    predicted = roofline_s([r["flops"] for r in rows], [r["nbytes"] for r in rows],
                           hw.eta_flops * hw.flops(compute), hw.eta_bw * hw.mem_bw_bytes_s,
                           hw.overhead_s)
    return error_summary(relative_errors(predicted, [r["seconds"] for r in rows]))

