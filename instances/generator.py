"""The instance generator: the paper's preset (docs/model.md section 7), seeded and overridable."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np

import inference

from .calibration import synthetic_calibration, trace_probabilities
from .instance import FORMAT_VERSION, INTERFERENCE_MODELS, Instance, InstanceError
from .law import Law, resolve_law
from .profiles import (SYNTHETIC_DEFAULTS, QueryData, Trace, load_trace, resolve_trace,
                       synthetic_queries)
from .uncertainty import DEFAULT_SIGNAL, check_signal, uncertainty as uncertainty_signal

SPEED_OF_LIGHT_M_S = 299_792_458.0

# The system part of a preset. A "spread" (lo, hi) multiplies the value by U(lo, hi) per entity.
_PAPER_SYSTEM = {
    "area_m": 500.0,
    "carrier_hz": 3.5e9,
    "bandwidth_hz": 100e6,
    "tx_power_w": 0.2,
    "noise_psd_w_hz": 4e-21,
    "local_flops": 91.06e12,
    "local_flops_spread_lo": 0.5,
    "local_flops_spread_hi": 1.5,
    "server_flops": 10 * 1513e12,
    "server_flops_spread_lo": 0.6,
    "server_flops_spread_hi": 1.4,
    "server_cap_flops": 1513e12,
    # D_i = bits_per_byte x prompt bytes. 8 is right (docs/model.md section 1); 1 reproduces
    # the authors' code, which counts prompt bytes as bits (docs/model.md section 9).
    "bits_per_byte": 8.0,
}

PRESETS: dict[str, dict[str, float]] = {
    "paper": {**_PAPER_SYSTEM, **SYNTHETIC_DEFAULTS},
}


def server_positions(n_servers: int, area_m: float) -> np.ndarray:
    """ES positions on a regular grid over the square area (the paper's four when M = 4).

    The grid has ceil(sqrt(M)) columns and ceil(M / columns) rows, servers at cell centres,
    listed column by column (x outer, y inner); for M = 4 this gives (125, 125), (125, 375),
    (375, 125), (375, 375) in a 500 m area. When M does not fill the grid, the last column is
    partly empty.
    """
    cols = math.ceil(math.sqrt(n_servers))
    rows = math.ceil(n_servers / cols)
    xs = (np.arange(cols) + 0.5) * area_m / cols
    ys = (np.arange(rows) + 0.5) * area_m / rows
    grid = np.array([(x, y) for x in xs for y in ys])
    return grid[:n_servers]


def path_loss(distance_m: np.ndarray, carrier_hz: float) -> np.ndarray:
    """Free-space path loss (c / (4 pi f d))^2, with d clamped to at least 1 m."""
    d = np.maximum(distance_m, 1.0)
    return (SPEED_OF_LIGHT_M_S / (4.0 * math.pi * carrier_hz * d)) ** 2


def generate(n_users: int, n_servers: int = 4, seed: int = 0, preset: str = "paper",
             interference: str = "full", profile: str | Path | Trace = "synthetic",
             uncertainty: str = DEFAULT_SIGNAL, costs: str = "paper", device=None, edge=None,
             slm=None, llm=None, output_tokens: int = 5, law: Law | str | None = None,
             **overrides: float) -> Instance:
    """Generate one random instance (a "drop").

    Parameters
    ----------
    n_users, n_servers
        N >= 1 users and M >= 1 edge servers.
    seed
        Seed of the single ``numpy.random.Generator`` behind every random draw: the same seed
        (and arguments) gives the same instance, bit for bit.
    preset
        Name of a preset in ``PRESETS`` (``"paper"``, docs/model.md section 7).
    interference
        ``"full"`` (the paper's, full spectrum reuse) or ``"none"`` (orthogonal cells).
    profile
        ``"synthetic"`` (the embedded difficulty model), the name of a shipped trace (a key of
        :data:`~instances.profiles.NAMED_TRACES`, e.g. ``"babi-tiny"``) or a JSONL trace (path
        or loaded :class:`~instances.profiles.Trace`) from which the queries are drawn with
        replacement. A trace restricted to one cost kind (``trace.using("latency")``,
        ``--trace-cost latency``) records it in the provenance as ``trace_cost``, and
        ``online`` draws its queries from a trace with the same kind.
    uncertainty
        The signal of :mod:`instances.uncertainty` that becomes ``alpha`` (``"margin"``, the
        paper's ``1 - (p1 - p2)``, by default; ``"maxprob"``, ``"entropy"``, ...). The drop is
        otherwise identical; the calibrated probabilities are fitted on the same signal, and the
        provenance records it.
    costs
        ``"paper"`` (the default: workloads and compute from the preset, docs/model.md section
        7) or ``"roofline"``: the delays of LLM inference as it runs (docs/model.md,
        "Realistic instances"): each query's local delay is the device's
        :meth:`inference.Cost.query_s` of its prompt, and a query alone on an ES takes that
        ES's ``query_s``. Positions, channels and answers are those of the paper's drop with
        the same seed.
    device, edge, slm, llm
        With ``costs="roofline"``: the phone's and the ES's hardware (names of
        :data:`inference.HARDWARE`, spec files or :class:`inference.HardwareSpec`) and the
        small and large models (names of :data:`inference.MODELS` or
        :class:`inference.ModelSpec`); ``None`` takes :data:`inference.DEFAULT_DEVICE`,
        ``DEFAULT_EDGE``, ``DEFAULT_SLM``, ``DEFAULT_LLM``.
    output_tokens
        T, the tokens of each answer (``costs="roofline"``; the recipe's 5).
    law
        The ESs' congestion law (:func:`instances.law.resolve_law`): ``None`` or ``"ps"`` (the
        paper's, the default), a :class:`~instances.Law` of these sizes, ``"table:PATH"`` (a
        JSON file) or ``"batched"`` (with ``costs="roofline"``: the batched LLM server,
        :func:`instances.law.batched_law`). It draws no random number: the drop is the same
        under every law, and the provenance records a law other than "ps".
    **overrides
        Any preset value by name, e.g. ``area_m=2000.0`` or ``slm_skill=0.0``.

    The instance carries ``p_slm_correct`` / ``p_llm_correct``, predicted from alpha by the
    profile's calibration (:mod:`instances.calibration`: a separate synthetic sample, or the
    held-out fold of the trace), never from the query's own realized correctness.

    Raises
    ------
    InstanceError
        For a bad size, seed, preset, interference model, profile, uncertainty signal or
        override (naming it).
    """
    n_users = _count("n_users", n_users)
    n_servers = _count("n_servers", n_servers)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InstanceError(f"seed: must be a non-negative integer, got {seed!r}")
    if preset not in PRESETS:
        raise InstanceError(f"preset: unknown preset {preset!r}; known: {sorted(PRESETS)}")
    if interference not in INTERFERENCE_MODELS:
        raise InstanceError(
            f"interference: must be one of {INTERFERENCE_MODELS}, got {interference!r}")
    params = dict(PRESETS[preset])
    for key, value in overrides.items():
        if key not in params:
            raise InstanceError(f"{key}: not a parameter of preset {preset!r}; "
                                f"known: {', '.join(sorted(params))}")
        if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) \
                or not math.isfinite(value):
            raise InstanceError(f"{key}: must be a finite number, got {value!r}")
        params[key] = float(value)
    _check_params(params)
    check_signal(uncertainty)
    serving = _serving(costs, device, edge, slm, llm, output_tokens)
    if serving is not None:
        for key in sorted(set(overrides) & _ROOFLINE_SETS):
            raise InstanceError(f"{key}: not used with costs='roofline' (the roofline of the "
                                f"named models and hardware sets the workloads and compute)")
    law_spec = law
    law = resolve_law(law, n_users, n_servers)
    if law.is_request and serving is None:
        raise InstanceError("law: 'batched' needs costs='roofline' (the batched server's "
                            "completion times come from the roofline of its model)")

    trace, profile_name = _resolve_profile(profile)
    rng = np.random.default_rng(int(seed))
    area = params["area_m"]
    user_xy = rng.uniform(0.0, area, (n_users, 2))
    server_xy = server_positions(n_servers, area)
    local_flops = params["local_flops"] * rng.uniform(
        params["local_flops_spread_lo"], params["local_flops_spread_hi"], n_users)
    server_flops = params["server_flops"] * rng.uniform(
        params["server_flops_spread_lo"], params["server_flops_spread_hi"], n_servers)
    distance = np.linalg.norm(user_xy[:, None, :] - server_xy[None, :, :], axis=2)
    fading = rng.exponential(1.0, (n_users, n_servers))  # |z|^2 of Rayleigh fading z ~ CN(0, 1)
    gain = path_loss(distance, params["carrier_hz"]) * fading
    # The calibrated probabilities use no draw of ``rng``: the other fields do not depend on them.
    queries = draw_profile_queries(n_users, rng, params, trace, uncertainty)

    provenance = {"format_version": FORMAT_VERSION, "preset": preset, "seed": int(seed),
                  "profile": profile_name,
                  "uncertainty": uncertainty,
                  "overrides": {k: float(v) for k, v in sorted(overrides.items())}}
    if trace is not None and trace.cost != "auto":
        provenance["trace_cost"] = trace.cost  # online draws its queries with the same cost
    if serving is not None:
        tokens, source = _prompt_tokens(queries.prompt_bytes, queries.prompt_tokens)
        local_flops, local_work, server_flops, edge_work = _roofline_costs(serving, tokens)
        server_flops = np.full(n_servers, server_flops)
        queries = replace(queries, local_workload_flop=local_work, edge_workload_flop=edge_work)
        provenance["costs"] = "roofline"
        provenance["inference"] = _serving_record(serving, tokens, source)
    cap_flops = (server_flops if serving is not None
                 else np.full(n_servers, params["server_cap_flops"]))
    if law.is_table:
        provenance["law"] = law_spec if isinstance(law_spec, str) else law.kind
    instance = Instance(
        user_xy_m=user_xy,
        prompt_bits=queries.prompt_bytes * params["bits_per_byte"],
        tx_power_w=np.full(n_users, params["tx_power_w"]),
        local_flops=local_flops,
        local_workload_flop=queries.local_workload_flop,
        edge_workload_flop=queries.edge_workload_flop,
        topk_probs=queries.topk_probs,
        alpha=queries.alpha,
        slm_correct=queries.slm_correct,
        llm_correct=queries.llm_correct,
        server_xy_m=server_xy,
        bandwidth_hz=np.full(n_servers, params["bandwidth_hz"]),
        server_flops=server_flops,
        server_cap_flops=cap_flops,
        gain=gain,
        noise_psd_w_hz=params["noise_psd_w_hz"],
        carrier_hz=params["carrier_hz"],
        area_m=area,
        interference=interference,
        provenance=provenance,
        p_slm_correct=queries.p_slm_correct,
        p_llm_correct=queries.p_llm_correct,
        law=Law() if law.is_request else law,
    )
    return instance.with_law(law) if law.is_request else instance


def draw_profile_queries(n: int, rng: np.random.Generator, params: dict,
                         trace: Trace | None = None, signal: str = DEFAULT_SIGNAL) -> QueryData:
    """Draw n queries: the one drawing of query data, shared by ``instances.generate`` (an
    instance's N queries) and ``online`` (a run's queries).

    ``trace`` None: the synthetic profile with the preset values ``params``; else n records of
    the trace drawn with replacement (``rng.integers``), latencies converted at the preset's
    nominal ``local_flops`` / ``server_cap_flops`` (the trace's :meth:`Trace.using` cost kind
    decides which cost is read). ``alpha`` is ``signal`` of the top-k, and the calibrated
    probabilities come from the profile's calibration on the same signal (a separate synthetic
    sample, or the trace's held-out fold), never from a query's own correctness.
    """
    if trace is None:
        drawn = synthetic_queries(n, rng, params)
        alpha = uncertainty_signal(drawn.topk_probs, signal)
        p_slm, p_llm = synthetic_calibration(params, signal).predict(alpha)
    else:
        rows = rng.integers(0, len(trace), n)
        drawn = trace.queries(rows, params["local_flops"], params["server_cap_flops"])
        alpha = uncertainty_signal(drawn.topk_probs, signal)
        per_record = trace_probabilities(uncertainty_signal(trace.topk_probs, signal),
                                         trace.slm_correct, trace.llm_correct)
        p_slm, p_llm = (None, None) if per_record is None else (per_record[0][rows],
                                                                per_record[1][rows])
    return replace(drawn, alpha=alpha, p_slm_correct=p_slm, p_llm_correct=p_llm)


#: How static instances price a query: the paper's FLOPs over FLOP/s, or the roofline.
COSTS = ("paper", "roofline")
# the preset values a roofline instance replaces (so overriding them would change nothing)
_ROOFLINE_SETS = {"local_flops", "local_flops_spread_lo", "local_flops_spread_hi", "server_flops",
                  "server_flops_spread_lo", "server_flops_spread_hi", "server_cap_flops",
                  "slm_flop_fixed", "slm_flop_per_byte", "llm_workload_ratio"}


def _serving(costs, device, edge, slm, llm, output_tokens) -> dict | None:
    """The roofline's two :class:`inference.Cost` and T, or None for the paper's costs."""
    if costs not in COSTS:
        raise InstanceError(f"costs: must be one of {', '.join(COSTS)}, got {costs!r}")
    given = {"device": device, "edge": edge, "slm": slm, "llm": llm}
    if costs == "paper":
        for name, value in given.items():
            if value is not None:
                raise InstanceError(f"{name}: only used with costs='roofline', got {value!r}")
        if output_tokens != 5:
            raise InstanceError(f"output_tokens: only used with costs='roofline', got "
                                f"{output_tokens!r}")
        return None
    if isinstance(output_tokens, bool) or not isinstance(output_tokens, (int, np.integer)) \
            or output_tokens < 1:
        raise InstanceError(f"output_tokens: must be an integer >= 1, got {output_tokens!r}")
    pairs = {}
    for side, hardware, model, defaults in (
            ("device", device, slm, (inference.DEFAULT_DEVICE, inference.DEFAULT_SLM)),
            ("edge", edge, llm, (inference.DEFAULT_EDGE, inference.DEFAULT_LLM))):
        model_field = "slm" if side == "device" else "llm"
        try:
            hw = inference.get_hardware(defaults[0] if hardware is None else hardware)
        except ValueError as exc:
            raise InstanceError(f"{side}: {exc}") from None
        try:
            spec = inference.get_model(defaults[1] if model is None else model)
        except ValueError as exc:
            raise InstanceError(f"{model_field}: {exc}") from None
        try:
            pairs[side] = inference.Cost(spec, hw)
        except ValueError as exc:
            raise InstanceError(f"{side}: {exc}") from None
    return {**pairs, "output_tokens": int(output_tokens)}


def _prompt_tokens(prompt_bytes: np.ndarray, counts) -> tuple[np.ndarray, str]:
    """Each query's prompt tokens: the trace's ``counts`` when every drawn record gives one,
    else the prompt's UTF-8 bytes / 4 (rounded, at least 1); and which of the two it is."""
    if counts is not None:
        if np.all(np.isfinite(counts)):
            return np.maximum(np.round(counts), 1).astype(np.int64), "trace"
    return np.maximum(np.round(np.asarray(prompt_bytes) / 4.0), 1).astype(np.int64), \
        "prompt_bytes/4"


def _roofline_costs(serving: dict, tokens: np.ndarray):
    """(C^L, W^L, C_j, W^E) such that W^L / C^L is the device's ``query_s`` and a query alone
    on an ES, W^E / min(C^max, C), is the ES's ``query_s`` (C^max = C: one GPU per ES,
    shared by its queries under the paper's law). Compute figures are the hardware's
    achievable FLOP/s at the model's precision, so the workloads stay FLOP-equivalents."""
    device, edge, t = serving["device"], serving["edge"], serving["output_tokens"]
    longest = int(tokens.max()) + t
    for side, cost in (("device", device), ("edge", edge)):
        if cost.max_batch(longest) < 1:  # the query could never run there
            raise InstanceError(
                f"{side}: a query of {longest - t} + {t} tokens needs more KV-cache memory than "
                f"the {cost.kv_bytes_free / 1e9:.3g} GB that {cost.model.name} leaves on "
                f"{cost.hardware.name} (output_tokens or the prompts are too long)")
    rates = []
    for cost in (device, edge):
        hw, model = cost.hardware, cost.model
        rates.append(hw.eta_flops * hw.flops(model.compute))
    unique, inverse = np.unique(tokens, return_inverse=True)
    local_s = np.array([device.query_s(int(p), t) for p in unique])[inverse]
    edge_s = np.array([edge.query_s(int(p), t) for p in unique])[inverse]
    return (np.full(tokens.size, rates[0]), local_s * rates[0], rates[1], edge_s * rates[1])


def _serving_record(serving: dict, tokens: np.ndarray, source: str) -> dict:
    """The provenance of a roofline instance: names, T, the per-user prompt tokens and the
    specs themselves (so that a saved instance is read back with the figures it was made of)."""
    device, edge = serving["device"], serving["edge"]
    return {"device": device.hardware.name, "edge": edge.hardware.name,
            "slm": device.model.name, "llm": edge.model.name,
            "output_tokens": serving["output_tokens"], "prompt_tokens_from": source,
            "prompt_tokens": tokens.tolist(),
            "specs": {"device": device.hardware.as_dict(), "edge": edge.hardware.as_dict(),
                      "slm": device.model.as_dict(), "llm": edge.model.as_dict()}}


def _count(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise InstanceError(f"{name}: must be a positive integer, got {value!r}")
    return int(value)


def _check_params(params: dict) -> None:
    positive = ("area_m", "carrier_hz", "bandwidth_hz", "tx_power_w", "noise_psd_w_hz",
                "local_flops", "server_flops", "server_cap_flops", "local_flops_spread_lo",
                "bits_per_byte",
                "server_flops_spread_lo", "prompt_bytes_median", "prompt_bytes_min",
                "slm_flop_per_byte", "llm_workload_ratio", "top_k")
    for key in positive:
        if params[key] <= 0:
            raise InstanceError(f"{key}: must be positive, got {params[key]!r}")
    for key in ("prompt_bytes_sigma", "slm_flop_fixed", "answer_noise", "confidence_noise",
                "distractor_spread"):
        if params[key] < 0:
            raise InstanceError(f"{key}: must not be negative, got {params[key]!r}")
    for name in ("local_flops_spread", "server_flops_spread"):
        if params[f"{name}_lo"] > params[f"{name}_hi"]:
            raise InstanceError(f"{name}_lo: must not exceed {name}_hi")
    if params["prompt_bytes_min"] > params["prompt_bytes_max"]:
        raise InstanceError("prompt_bytes_min: must not exceed prompt_bytes_max")
    if params["top_k"] < 2 or params["top_k"] != int(params["top_k"]):
        raise InstanceError(f"top_k: must be an integer >= 2, got {params['top_k']!r}")


def _resolve_profile(profile) -> tuple[Trace | None, str]:
    if isinstance(profile, Trace):
        return profile, f"trace:{Path(profile.path).name}"
    if isinstance(profile, (str, Path)):
        if str(profile) == "synthetic":
            return None, "synthetic"
        path = resolve_trace(profile)
        return load_trace(path), f"trace:{path.name}"
    raise InstanceError(f"profile: must be 'synthetic', a trace name or a trace path, "
                        f"got {profile!r}")
