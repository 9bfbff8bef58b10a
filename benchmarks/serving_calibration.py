"""``python -m benchmarks.serving --calibrate [--vidur PATH]``: derive the phone preset's
fractions from published on-device rates and fit the GPU presets' achievable fractions and
per-pass overhead on Vidur's published kernel measurements (docs/serving.md, "Calibration").

Vidur (``microsoft/vidur``) ships per-layer GPU kernel times measured with its profiler:
``data/profiling/compute/<gpu>/<model>/mlp.csv``, one row per token count and tensor-parallel
degree, each operation's time in milliseconds (min, max, mean, median, std) for ONE transformer
layer over ``num_tokens`` tokens. The attention kernels (``attention.csv``) are not read: the
operations below are every other kernel of a layer. A forward pass of the whole model over
``n`` tokens (prefill: batch x prompt tokens; decode: one token per sequence, so a batch of
``b`` is ``n = b``) then takes, as Vidur's own ``model_time`` sums it,

    ``L x sum(median time of input_layernorm, attn_pre_proj, attn_rope, attn_post_proj,
    post_attention_layernorm, mlp_up_proj, mlp_act, mlp_down_proj, add)``

(L = 32 layers for both Llama-3-8B and Llama-2-7B; embedding and lm_head are left out, as in
Vidur). The roofline of that pass: FLOPs ``2 P_L n`` and bytes ``P_L b_w`` (the layers' weights
``P_L``, fp16, read once), with no attention term. Tensor-parallel degree 1 only.

The fit (``inference.calibrate.fit_roofline``, least squares on log time) runs per GPU on two
thirds of the token counts (every third one, in increasing order, is held out) and the
held-out error is reported. Nothing of Vidur's is copied here; the figures shipped in
``inference/presets.py`` name the command, the data and the commit, and ``tests/data/``
holds a small excerpt of the measurements for the tests.
"""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks.common import BenchmarkError, Parser, positive_int, run_cli, table
from inference import HARDWARE, model_spec
from inference.calibrate import (error_summary, fit_roofline, holdout_mask, octave_weights,
                                 relative_errors, roofline_s)

PROG = "python -m benchmarks.serving"

#: The kernels of one layer that a pass sums (Vidur's mlp.csv columns ``time_stats.<op>.median``).
OPERATIONS = ("input_layernorm", "attn_pre_proj", "attn_rope", "attn_post_proj",
              "post_attention_layernorm", "mlp_up_proj", "mlp_act", "mlp_down_proj", "add")

#: The Vidur series we read: (our GPU preset, Vidur's SKU folder, model, layers). The layer
#: counts are the models' published configs (Meta-Llama-3-8B and Llama-2-7b-hf: 32).
SERIES = (("a100-80gb", "a100", "meta-llama/Meta-Llama-3-8B", 32),
          ("a100-80gb", "a100", "meta-llama/Llama-2-7b-hf", 32),
          ("h100-sxm", "h100", "meta-llama/Llama-2-7b-hf", 32))

#: The columns of the excerpt under tests/data/ (and of :func:`read_rows`' rows).
EXCERPT_COLUMNS = ("gpu", "model", "layers", "num_tokens", "n_head", "n_kv_head", "n_embd",
                   "n_expanded_embd", "vocab_size") + tuple(f"{op}_ms" for op in OPERATIONS)


@dataclass(frozen=True)
class VidurPass:
    """One forward pass rebuilt from Vidur's per-layer kernel medians."""

    hardware: str
    model: str
    tokens: int
    flops: float
    nbytes: float
    seconds: float


def layer_spec(row: dict):
    """The :class:`inference.ModelSpec` of a Vidur row's model with ``params`` the layers'
    weights only (what the measured kernels multiply with), fp16."""
    spec = model_spec({"model_type": "llama", "hidden_size": int(row["n_embd"]),
                       "intermediate_size": int(row["n_expanded_embd"]),
                       "num_hidden_layers": int(row["layers"]),
                       "num_attention_heads": int(row["n_head"]),
                       "num_key_value_heads": int(row["n_kv_head"]),
                       "vocab_size": int(row["vocab_size"]), "tie_word_embeddings": True},
                      dtype="fp16", name=row["model"])
    hidden = int(row["n_embd"])
    return spec, spec.params - hidden - int(row["vocab_size"]) * hidden  # no final norm, head


def to_pass(row: dict) -> VidurPass:
    """A whole-model pass from one excerpt-shaped row (per-layer medians in ms)."""
    spec, layer_params = layer_spec(row)
    n = int(row["num_tokens"])
    layer_ms = sum(float(row[f"{op}_ms"]) for op in OPERATIONS)
    return VidurPass(row["gpu"], row["model"], n, 2.0 * layer_params * n,
                     layer_params * spec.bytes_per_weight, int(row["layers"]) * layer_ms * 1e-3)


def read_rows(path: str | Path) -> list[dict]:
    """Excerpt-shaped rows from a CSV (lines starting with ``#`` are comments)."""
    with open(path, encoding="utf-8") as handle:
        lines = [line for line in handle if not line.startswith("#")]
    return list(csv.DictReader(lines))


def _vidur_reader(path: str) -> tuple:
    """A function reading a file of Vidur's repository (a checkout or a git directory) and
    the commit read."""
    path = os.fspath(path)
    if not os.path.isdir(path):
        raise BenchmarkError(f"--vidur: {path} is not a folder (a checkout or a git directory "
                             f"of microsoft/vidur)")
    try:
        commit = subprocess.run(["git", "-C", path, "rev-parse", "HEAD"], check=True,
                                capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown (not a git repository)"
    if os.path.isdir(os.path.join(path, "data", "profiling")):
        def read(name):
            with open(os.path.join(path, name), encoding="utf-8") as handle:
                return handle.read()
    else:
        def read(name):
            done = subprocess.run(["git", "-C", path, "show", f"HEAD:{name}"],
                                  capture_output=True, text=True)
            if done.returncode:
                raise BenchmarkError(f"--vidur: {name} not found in {path} "
                                     f"({' '.join(done.stderr.split())[:120]})")
            return done.stdout
    return read, commit


def vidur_rows(path: str) -> tuple[list[dict], str]:
    """Every tensor-parallel-1 row of the :data:`SERIES` from Vidur's repository at ``path``,
    in excerpt shape, sorted by series and token count; and the commit read."""
    read, commit = _vidur_reader(path)
    out = []
    for hardware, sku, model, layers in SERIES:
        name = f"data/profiling/compute/{sku}/{model}/mlp.csv"
        try:
            text = read(name)
        except OSError as exc:
            raise BenchmarkError(f"--vidur: cannot read {name}: {exc.strerror or exc}") from None
        rows = []
        for raw in csv.DictReader(io.StringIO(text)):
            if int(raw["num_tensor_parallel_workers"]) != 1:
                continue
            row = {"gpu": hardware, "model": model, "layers": layers}
            for key in ("num_tokens", "n_head", "n_kv_head", "n_embd", "n_expanded_embd",
                        "vocab_size"):
                row[key] = int(raw[key])
            for op in OPERATIONS:
                row[f"{op}_ms"] = float(raw[f"time_stats.{op}.median"])
            rows.append(row)
        if not rows:
            raise BenchmarkError(f"--vidur: {name} holds no tensor-parallel-1 row")
        out.extend(sorted(rows, key=lambda r: r["num_tokens"]))
    return out, commit


def fit_gpus(passes: list[VidurPass], every: int = 3, above: int | None = None) -> dict:
    """Per GPU: the fit on the passes not held out and the errors. Held out: every
    ``every``-th token count of each series, in increasing order; or, with ``above``, every
    pass of more than ``above`` tokens (the fit then extrapolates). Returns ``{gpu: {"fit":
    ..., "heldout": summary, "fitted": summary, "passes": [(pass, predicted, held_out)]}}``."""
    out = {}
    for gpu in dict.fromkeys(p.hardware for p in passes):
        mine = [p for p in passes if p.hardware == gpu]
        if above is not None:
            held = np.array([p.tokens > above for p in mine])
        else:
            held = np.concatenate([holdout_mask(sum(p.model == m for p in mine), every)
                                   for m in dict.fromkeys(p.model for p in mine)])
        if held.all() or held.sum() == 0:
            raise BenchmarkError(f"--holdout-above: {above} leaves no pass of {gpu} on one side")
        hw = HARDWARE[gpu]
        f, b, t = (np.array([getattr(p, k) for p in mine]) for k in ("flops", "nbytes", "seconds"))
        peak, bw = hw.flops("fp16"), hw.mem_bw_bytes_s
        w = octave_weights([p.tokens for p in mine])
        fit = fit_roofline(f[~held], b[~held], t[~held], peak, bw, weights=w[~held])
        predicted = roofline_s(f, b, fit["eta_flops"] * peak, fit["eta_bw"] * bw,
                               fit["overhead_s"])
        errors = relative_errors(predicted, t)
        out[gpu] = {"fit": fit, "heldout": error_summary(errors[held]),
                    "fitted": error_summary(errors[~held]),
                    "passes": list(zip(mine, predicted, held))}
    return out


def predict_with_preset(passes: list[VidurPass]) -> np.ndarray:
    """Each pass's roofline time under the shipped preset of its GPU."""
    out = []
    for p in passes:
        hw = HARDWARE[p.hardware]
        out.append(float(roofline_s(p.flops, p.nbytes, hw.eta_flops * hw.flops("fp16"),
                                    hw.eta_bw * hw.mem_bw_bytes_s, hw.overhead_s)))
    return np.array(out)


#: Published on-device rates of Llama-3.2-1B on a Snapdragon 8 Gen 3 phone: the model card of
#: meta-llama/Llama-3.2-1B-Instruct ("Inference time": ExecuTorch on the Arm CPU of an Android
#: OnePlus 12; prefill = prompt of 64 tokens / time to first token). (label, model spec,
#: decode tokens/s, prefill tokens/s).
#: The last row is a lower bound from a second source: Arm and Meta's PyTorch blog post
#: "Unleashing the Power of AI on Mobile" (2024-10-28): quantised 1B on a Samsung S24+, 6 of 8
#: CPUs, KleidiAI kernels (i8mm), prompt 64: "over 350" tokens/s prefill, "over 40" decode.
PHONE_MEASUREMENTS = (
    ("1B SpinQuant", "llama-3.2-1b-spinquant", 50.2, 260.5),
    ("1B QLoRA", "llama-3.2-1b-spinquant", 45.8, 252.0),
    ("1B BF16", "llama-3.2-1b-fp16", 19.2, 60.3),
    ("S24+ KleidiAI (>=)", "llama-3.2-1b-spinquant", 40.0, 350.0),
)
PHONE_PROMPT = 64
#: The context a decode step is priced at (the card does not say; the KV cache of 128 tokens is
#: 4 MB against 810 MB of weights, so any short context gives the same figure).
PHONE_CONTEXT = 128


def _phone_model(name: str):
    from inference import MODELS, model_spec
    from inference.presets import _LLAMA_32_1B

    if name == "llama-3.2-1b-fp16":  # the card's BF16 baseline: 2 bytes per weight
        return model_spec(_LLAMA_32_1B, dtype="fp16", name=name)
    return MODELS[name]


def phone_fractions(peaks: dict, mem_bw: float) -> dict:
    """The phone preset's ``eta_bw`` and ``eta_flops`` from the first row of
    :data:`PHONE_MEASUREMENTS` (1B SpinQuant), with no overhead (two figures cannot fix three
    parameters): ``eta_bw`` = bytes of a decode step / (its time x BW), ``eta_flops`` = FLOPs of
    the 64-token prefill / (its time x the int8 peak)."""
    from inference import Cost, HardwareSpec

    _, name, decode, prefill = PHONE_MEASUREMENTS[0]
    probe = HardwareSpec("probe", {k: 1.0 for k in ("fp16", "int8", "bf16", "fp32")}, 1.0, 1e15)
    cost = Cost(_phone_model(name), probe)
    step = [(1, PHONE_CONTEXT)]
    first = [(PHONE_PROMPT, 0)]
    return {"eta_bw": cost.pass_bytes(step) * decode / mem_bw,
            "eta_flops": cost.pass_flops(first) * prefill / PHONE_PROMPT
            / peaks[cost.model.compute]}


def phone_table() -> list[list]:
    """Each published phone rate beside the ``phone-sd8gen3`` preset's prediction, and that of
    the default 4-bit spec ``llama-3.2-1b-q4`` (llama.cpp's Q4_0 layout, fp16 products)."""
    from inference import Cost

    rows = []
    for label, name, decode, prefill in PHONE_MEASUREMENTS + (
            ("(default q4 spec)", "llama-3.2-1b-q4", None, None),):
        cost = Cost(_phone_model(name), "phone-sd8gen3")
        pred_decode = 1.0 / cost.decode_step_s([PHONE_CONTEXT])
        pred_prefill = PHONE_PROMPT / cost.prefill_s(PHONE_PROMPT)
        rows.append([label, name, decode, pred_decode, prefill, pred_prefill])
    return rows


def goal_rows() -> list[list]:
    """Llama-3.1-8B bf16 on the fitted GPU presets: a decode step over the weight-streaming
    limit (contexts 1 and 2,000) and a 1,000-token prefill over the compute limit."""
    from inference import Cost

    rows = []
    for gpu in ("a100-80gb", "h100-sxm"):
        cost = Cost("llama-3.1-8b", gpu)
        limits = cost.limits(1000)
        rows.append(["llama-3.1-8b", gpu, cost.decode_step_s([1]) / limits["decode_s"],
                     cost.decode_step_s([2000]) / limits["decode_s"],
                     cost.prefill_s(1000) / limits["prefill_s"]])
    return rows


def build_parser() -> Parser:
    parser = Parser(prog=PROG, description="Serving costs: calibrate the GPU presets on Vidur's "
                                           "kernel measurements.")
    parser.add_argument("--calibrate", action="store_true",
                        help="fit eta_flops, eta_bw and overhead_s of the GPU presets")
    parser.add_argument("--vidur", metavar="PATH",
                        help="a checkout or git directory of github.com/microsoft/vidur")
    parser.add_argument("--excerpt", metavar="CSV",
                        help="also write a small excerpt of the measurements here")
    parser.add_argument("--holdout-above", metavar="TOKENS", type=positive_int,
                        help="hold out every pass of more than TOKENS tokens (the fit "
                             "extrapolates) instead of every third token count; the figures "
                             "printed are then not the shipped ones")
    return parser


#: The token counts the excerpt keeps from each series.
EXCERPT_TOKENS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096)


def _run(args) -> int:
    if not args.calibrate:
        raise BenchmarkError("only --calibrate is available (with --vidur PATH)")
    hw = HARDWARE["phone-sd8gen3"]
    fractions = phone_fractions(hw.peak_flops, hw.mem_bw_bytes_s)
    print(f"phone-sd8gen3 (from {PHONE_MEASUREMENTS[0][0]} on the Llama-3.2-1B-Instruct model "
          f"card): eta_bw={fractions['eta_bw']:.4f}, eta_flops={fractions['eta_flops']:.4f}, "
          f"overhead_s=0 (not derivable)\n")
    print(table(["published", "spec", "decode tok/s", "predicted", "prefill tok/s (64)",
                 "predicted"], phone_table(), title="phone-sd8gen3 against published rates:"))
    print()
    print(table(["model", "gpu", "decode / limit (c=1)", "(c=2000)", "prefill 1000 / limit"],
                goal_rows(), title="the shipped GPU presets against the physical limits "
                                   "(goals: decode 1.0-1.5x, prefill 1.0-2.5x):"))
    print()
    if not args.vidur:
        return 0
    rows, commit = vidur_rows(args.vidur)
    passes = [to_pass(r) for r in rows]
    results = fit_gpus(passes, above=args.holdout_above)
    held = (f"passes of more than {args.holdout_above} tokens held out" if args.holdout_above
            else "every third token count held out")
    lines = [f"Vidur commit {commit}; {len(passes)} passes (tensor-parallel 1); fit: least "
             f"squares on log time, {held}"]
    body = []
    for gpu, res in results.items():
        fit = res["fit"]
        body.append([gpu, fit["eta_flops"], fit["eta_bw"], 1e6 * fit["overhead_s"],
                     100 * res["heldout"]["median"], 100 * res["heldout"]["worst"],
                     res["heldout"]["count"], 100 * res["fitted"]["median"],
                     100 * res["fitted"]["worst"], res["fitted"]["count"]])
    lines.append(table(["gpu", "eta_flops", "eta_bw", "overhead_us", "held med %",
                        "held worst %", "held n", "fit med %", "fit worst %", "fit n"], body))
    for gpu, res in results.items():
        fit = res["fit"]
        worst = max(((abs(pred - p.seconds) / p.seconds, p) for p, pred, held in res["passes"]
                     if held), key=lambda x: x[0])
        lines.append(f"{gpu}: eta_flops={fit['eta_flops']:.4f}, eta_bw={fit['eta_bw']:.4f}, "
                     f"overhead_s={fit['overhead_s']:.6f}; worst held-out pass: "
                     f"{worst[1].model.split('/')[-1]}, {worst[1].tokens} tokens")
    detail = []
    for gpu, res in results.items():
        for p, pred, held in res["passes"]:
            if p.tokens in EXCERPT_TOKENS:
                detail.append([gpu, p.model.split("/")[-1], p.tokens, 1e3 * p.seconds,
                               1e3 * pred, 100 * abs(pred - p.seconds) / p.seconds,
                               "held out" if held else "fit"])
    lines.append(table(["gpu", "model", "tokens", "measured ms", "predicted ms", "error %",
                        "set"], detail, title="some passes:"))
    print("\n\n".join(lines))
    if args.excerpt:
        seen, keep = set(), []
        for r in rows:  # the first row of each token count (a few counts were measured twice)
            key = (r["gpu"], r["model"], r["num_tokens"])
            if r["num_tokens"] in EXCERPT_TOKENS and key not in seen:
                seen.add(key)
                keep.append(r)
        header = (f"# An excerpt of Vidur's measured per-layer kernel medians (ms), tensor-"
                  f"parallel 1: github.com/microsoft/vidur commit {commit}, files "
                  f"data/profiling/compute/<a100|h100>/<model>/mlp.csv, columns "
                  f"time_stats.<op>.median (MIT licence). Written by {PROG} --calibrate "
                  f"--excerpt; 'gpu' names our preset, 'layers' the model's published depth.\n")
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=EXCERPT_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows({k: r[k] for k in EXCERPT_COLUMNS} for r in keep)
        tmp = f"{args.excerpt}.tmp{os.getpid()}"
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(header + buffer.getvalue())
        os.replace(tmp, args.excerpt)
        print(f"wrote {args.excerpt} ({len(keep)} rows)")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code (2 for a bad option, with one line on stderr)."""
    return run_cli(PROG, lambda: _run(build_parser().parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
