"""The data model of one problem instance (docs/model.md section 1), validated on construction."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import InstanceError as InstanceError  # re-exported: raised by every check
from .law import Law, ps_tables
from .uncertainty import DEFAULT_SIGNAL, check_signal, uncertainty

# Version 2 adds the calibrated probabilities p_slm_correct / p_llm_correct (optional fields);
# version-1 files still load, with both set to None. Version 3 adds the congestion law (section
# "law"); files of versions 1 and 2 load with the default law "ps".
FORMAT_VERSION = 3
INTERFERENCE_MODELS = ("full", "none")

# Tolerance for alpha == 1 - (p1 - p2): loose enough for a value computed in another tool,
# tight enough that a wrong column is caught.
_ALPHA_ATOL = 1e-9
_SORT_ATOL = 1e-12


# (field name, dimension) for every per-user and per-server array; "N", "M", "K" are the sizes.
USER_FIELDS = {
    "user_xy_m": ("N", 2),
    "prompt_bits": ("N",),
    "tx_power_w": ("N",),
    "local_flops": ("N",),
    "local_workload_flop": ("N",),
    "edge_workload_flop": ("N",),
    "topk_probs": ("N", "K"),
    "alpha": ("N",),
    "slm_correct": ("N",),
    "llm_correct": ("N",),
}
SERVER_FIELDS = {
    "server_xy_m": ("M", 2),
    "bandwidth_hz": ("M",),
    "server_flops": ("M",),
    "server_cap_flops": ("M",),
}
CHANNEL_FIELDS = {"gain": ("N", "M")}
# Per-user arrays that may be absent (None): both or neither (format version 2).
OPTIONAL_USER_FIELDS = {"p_slm_correct": ("N",), "p_llm_correct": ("N",)}
ARRAY_FIELDS = {**USER_FIELDS, **SERVER_FIELDS, **CHANNEL_FIELDS}
SCALAR_FIELDS = ("noise_psd_w_hz", "carrier_hz", "area_m")
_POSITIVE = (
    "prompt_bits", "tx_power_w", "local_flops", "local_workload_flop", "edge_workload_flop",
    "bandwidth_hz", "server_flops", "server_cap_flops", "gain",
    "noise_psd_w_hz", "carrier_hz", "area_m",
)
_UNIT_INTERVAL = ("topk_probs", "alpha", "slm_correct", "llm_correct")


@dataclass(frozen=True, eq=False)
class Instance:
    """One drop of N users and M edge servers, in SI units (docs/model.md section 1).

    Every array is a read-only float64 numpy array. Per user (length N): position ``user_xy_m`` (N,
    2), query size ``prompt_bits`` (bits, not bytes), ``tx_power_w``, device compute
    ``local_flops`` (C^L), SLM workload ``local_workload_flop`` (W^L), LLM workload
    ``edge_workload_flop`` (W^E), the SLM's sorted top-k probabilities ``topk_probs`` (N, K), the
    uncertainty ``alpha`` (the signal named by ``provenance["uncertainty"]`` of
    :mod:`instances.uncertainty`; by default the margin 1 - (p1 - p2)), and the correctness of the
    SLM's and the LLM's answer ``slm_correct`` / ``llm_correct`` (in [0, 1]). Per server (length
    M): ``server_xy_m`` (M, 2), ``bandwidth_hz`` (B_j), ``server_flops`` (C_j),
    ``server_cap_flops`` (C^max_j). Channel power gains ``gain`` (N, M). Scalars: noise PSD
    ``noise_psd_w_hz`` (N0), ``carrier_hz``, ``area_m``. ``interference`` is ``"full"`` or
    ``"none"``; ``provenance`` records preset, seed, profile, signal and overrides. Optional (both or
    neither; ``None`` for an instance read from a format-version-1 file): ``p_slm_correct`` and
    ``p_llm_correct`` (length N, in [0, 1]), the calibrated probabilities that the SLM / the LLM
    answers each query correctly, predicted from alpha alone
    (:mod:`instances.calibration`; docs/model.md section 8.1). ``law``: the congestion law of
    the ESs (:class:`instances.Law`; ``None`` means the paper's ``Law("ps")``, which is what
    the attribute then holds); :meth:`with_law` gives a copy under another law.

    Raises
    ------
    InstanceError
        If a shape disagrees, a value is not finite, a capacity or size is not positive, a
        probability lies outside [0, 1], top-k probabilities are not sorted, or alpha differs
        from the recorded uncertainty signal of the top-k (by default 1 - (p1 - p2)).
    """

    user_xy_m: np.ndarray
    prompt_bits: np.ndarray
    tx_power_w: np.ndarray
    local_flops: np.ndarray
    local_workload_flop: np.ndarray
    edge_workload_flop: np.ndarray
    topk_probs: np.ndarray
    alpha: np.ndarray
    slm_correct: np.ndarray
    llm_correct: np.ndarray
    server_xy_m: np.ndarray
    bandwidth_hz: np.ndarray
    server_flops: np.ndarray
    server_cap_flops: np.ndarray
    gain: np.ndarray
    noise_psd_w_hz: float
    carrier_hz: float = 3.5e9
    area_m: float = 500.0
    interference: str = "full"
    provenance: dict[str, Any] = field(default_factory=dict)
    p_slm_correct: np.ndarray | None = None
    p_llm_correct: np.ndarray | None = None
    law: Law | None = None

    def __post_init__(self) -> None:
        for name in ARRAY_FIELDS:
            object.__setattr__(self, name, _as_array(name, getattr(self, name)))
        for name in OPTIONAL_USER_FIELDS:
            if getattr(self, name) is not None:
                object.__setattr__(self, name, _as_array(name, getattr(self, name)))
        for name in SCALAR_FIELDS:
            object.__setattr__(self, name, _as_scalar(name, getattr(self, name)))
        if self.interference not in INTERFERENCE_MODELS:
            raise InstanceError(
                f"interference: must be one of {INTERFERENCE_MODELS}, got {self.interference!r}")
        if not isinstance(self.provenance, dict):
            raise InstanceError("provenance: must be a dict")
        object.__setattr__(self, "provenance", dict(self.provenance))
        self._check_shapes()
        self._check_values()
        self._check_probabilities()
        law = Law() if self.law is None else self.law
        if not isinstance(law, Law):
            raise InstanceError(f"law: must be an instances.Law, got {type(law).__name__}")
        law.check_sizes(self.n_users, self.n_servers)
        object.__setattr__(self, "law", law)

    def _check_shapes(self) -> None:
        sizes: dict[str, int] = {}
        for name in USER_FIELDS:
            if getattr(self, name).ndim == 0 or getattr(self, name).shape[0] == 0:
                raise InstanceError(f"{name}: must be a non-empty array with one row per user")
        for name in SERVER_FIELDS:
            if getattr(self, name).ndim == 0 or getattr(self, name).shape[0] == 0:
                raise InstanceError(f"{name}: must be a non-empty array with one row per server")
        if self.topk_probs.ndim != 2 or self.topk_probs.shape[1] < 2:
            raise InstanceError("topk_probs: must be a 2-D array (N, K) with K >= 2")
        # N and M are the sizes most fields agree on, so that the odd field out is the one named
        sizes["N"] = _most_common(getattr(self, name).shape[:1] for name in USER_FIELDS)
        sizes["M"] = _most_common(getattr(self, name).shape[:1] for name in SERVER_FIELDS)
        sizes["K"] = self.topk_probs.shape[1]
        for name, dims in ARRAY_FIELDS.items():
            want = tuple(sizes[d] if isinstance(d, str) else d for d in dims)
            got = getattr(self, name).shape
            if got != want:
                raise InstanceError(f"{name}: shape {got} does not match the expected {want}")

    def _check_values(self) -> None:
        for name in ARRAY_FIELDS:
            if not np.all(np.isfinite(getattr(self, name))):
                raise InstanceError(f"{name}: contains a NaN or infinite value")
        for name in _POSITIVE:
            value = getattr(self, name)
            if np.any(np.asarray(value) <= 0):
                raise InstanceError(f"{name}: every value must be positive")
        for name in _UNIT_INTERVAL:
            value = getattr(self, name)
            if np.any((value < 0) | (value > 1)):
                raise InstanceError(f"{name}: values must lie in [0, 1]")
        if np.any(np.diff(self.topk_probs, axis=1) > _SORT_ATOL):
            raise InstanceError("topk_probs: each row must be sorted in decreasing order")

        signal = check_signal(self.provenance.get("uncertainty", DEFAULT_SIGNAL),
                              field="provenance.uncertainty")
        expected = uncertainty(self.topk_probs, signal)
        if not np.allclose(self.alpha, expected, rtol=0.0, atol=_ALPHA_ATOL):
            bad = int(np.argmax(np.abs(self.alpha - expected)))
            what = "1 - (p1 - p2)" if signal == "margin" else f"the {signal!r} signal"
            raise InstanceError(
                f"alpha: must equal {what} of topk_probs (user {bad}: "
                f"{self.alpha[bad]!r} vs {expected[bad]!r})")

    def _check_probabilities(self) -> None:
        present = [name for name in OPTIONAL_USER_FIELDS if getattr(self, name) is not None]
        if not present:
            return
        if len(present) != len(OPTIONAL_USER_FIELDS):
            missing = next(name for name in OPTIONAL_USER_FIELDS if name not in present)
            raise InstanceError(f"{missing}: missing while {present[0]} is given (both or neither)")
        for name in present:
            value = getattr(self, name)
            if value.shape != (self.n_users,):
                raise InstanceError(
                    f"{name}: shape {value.shape} does not match the expected ({self.n_users},)")
            if not np.all(np.isfinite(value)):
                raise InstanceError(f"{name}: contains a NaN or infinite value")
            if np.any((value < 0) | (value > 1)):
                raise InstanceError(f"{name}: values must lie in [0, 1]")

    @property
    def has_expected_accuracy(self) -> bool:
        """Whether the calibrated probabilities ``p_slm_correct`` / ``p_llm_correct`` are present."""
        return self.p_slm_correct is not None

    def correct_probabilities(self) -> tuple[np.ndarray, np.ndarray]:
        """(p_slm_correct, p_llm_correct), or a clear error if the instance lacks them.

        Raises
        ------
        InstanceError
            If the instance has no calibrated probabilities (read from a format-version-1 file,
            or built by hand without them).
        """
        if self.p_slm_correct is None:
            raise InstanceError(
                "p_slm_correct, p_llm_correct: this instance has no calibrated probabilities "
                "(it comes from a format-version-1 file, or was built without them): regenerate "
                "it with the same arguments (instances.generate(...) or `python -m instances "
                "generate ...`), which gives the same instance plus the two fields")
        return self.p_slm_correct, self.p_llm_correct

    # Sizes and derived quantities -------------------------------------------------------------
    @property
    def n_users(self) -> int:
        """N, the number of users."""
        return int(self.prompt_bits.size)

    @property
    def n_servers(self) -> int:
        """M, the number of edge servers."""
        return int(self.bandwidth_hz.size)

    @property
    def top_k(self) -> int:
        """K, the number of top-k probabilities kept per query."""
        return int(self.topk_probs.shape[1])

    @property
    def local_delay_s(self) -> np.ndarray:
        """t^L_i = W^L_i / C^L_i, the delay of answering on the device."""
        return self.local_workload_flop / self.local_flops

    @property
    def noise_w(self) -> np.ndarray:
        """sigma^2_j = N0 * B_j, the noise power over each server's whole band."""
        return self.noise_psd_w_hz * self.bandwidth_hz

    @functools.cached_property
    def comm_per_load_s(self) -> np.ndarray:
        """(N, M) upload time of user i on ES j per unit of load without interference,
        D_i / (B_j log2(1 + P_i g_ij / sigma_j^2)): the upload time is ``n_j`` times this when
        ``n_j`` users share j and nobody interferes (docs/model.md section 3). The one place the
        heuristics' and exact methods' interference-free rates are computed; computed on first
        use and kept (read-only), as the instance is frozen."""
        snr = self.tx_power_w[:, None] * self.gain / self.noise_w[None, :]
        out = self.prompt_bits[:, None] / (self.bandwidth_hz[None, :] * np.log2(1.0 + snr))
        out.setflags(write=False)
        return out

    @functools.cached_property
    def alone_delay_s(self) -> np.ndarray:
        """(N, M) the delay of user i alone on ES j: n_j = 1 and nobody interferes, so
        ``comm_per_load_s + W^E_i / min(C^max_j, C_j)`` under "ps" (the evaluator's formulas
        at n_j = 1), ``comm_per_load_s + a_ij + b_i h_j(1)`` under a table law.
        The least delay user i can have on j, since delays only grow with load and
        interference: every bound, start and target that needs it reads it here."""
        if self.law.is_table:
            law = self.law
            out = self.comm_per_load_s + (law.a + law.b[:, None] * law.h[:, 0][None, :])
        else:
            out = self.comm_per_load_s + self.edge_workload_flop[:, None] / np.minimum(
                self.server_cap_flops, self.server_flops)[None, :]
        out.setflags(write=False)
        return out

    def compute_s(self, users: np.ndarray, servers: np.ndarray, loads: np.ndarray) -> np.ndarray:
        """t^comp of each ``users[k]`` on ``servers[k]`` holding ``loads[k]`` users (>= 1), in
        seconds, under the instance's law: ``W^E_i / min(C^max_j, C_j / n)`` for "ps" (the
        evaluator's operations), ``a_ij + b_i h_j(n)`` for a table."""
        users = np.asarray(users)
        servers = np.asarray(servers)
        if self.law.is_table:
            counts = np.asarray(loads).astype(np.int64)
            return self.law.a[users, servers] + self.law.b[users] * self.law.h[servers, counts - 1]
        n_j = np.asarray(loads, dtype=np.float64)
        share = np.minimum(self.server_cap_flops[servers], self.server_flops[servers] / n_j)
        return self.edge_workload_flop[users] / share

    def law_tables(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The law as arrays (a (N, M), b (N,), h (M, N) with h[j, n - 1] at n users), for
        every law: a table's own, or "ps"'s values (a = 0, b = W^E, h = max(1/C^max, n/C))."""
        if self.law.is_table:
            return self.law.a, self.law.b, self.law.h
        return ps_tables(self.server_cap_flops, self.server_flops, self.edge_workload_flop,
                         self.n_users)

    def with_law(self, law: Law) -> "Instance":
        """A copy of this instance under another congestion law (checked against its sizes).

        Raises
        ------
        InstanceError
            If ``law`` is not an :class:`instances.Law` or its arrays do not fit N and M, or
            ``Law("batched")`` on an instance without roofline costs.
        """
        if isinstance(law, Law):
            law = law.for_instance(self)  # Law("batched"): computed for this instance
        return dataclasses.replace(self, law=law)

    @functools.cached_property
    def fingerprint(self) -> str:
        """A SHA-256 hex digest of the problem data: every array (shape and bytes), scalar,
        the interference model and the congestion law, not the provenance. Two instances with
        the same fingerprint pose the same problem; anything computed for one (a front, a
        bound) is checked against it before it is reused for another."""
        digest = hashlib.sha256(self.interference.encode())
        for name in (*ARRAY_FIELDS, *OPTIONAL_USER_FIELDS):
            value = getattr(self, name)
            digest.update(name.encode())
            if value is not None:
                digest.update(repr(value.shape).encode())
                digest.update(np.ascontiguousarray(value, dtype=np.float64).tobytes())
        for name in SCALAR_FIELDS:
            digest.update(f"{name}={getattr(self, name)!r}".encode())
        if self.law.is_table:  # "ps" adds nothing: fingerprints from before laws stay valid
            for name, data in self.law.digest_parts():
                digest.update(name.encode())
                digest.update(data)
        return digest.hexdigest()

    def forced(self, tau: float) -> np.ndarray:
        """Boolean mask of the users the accuracy guard forces to the edge (alpha_i > tau)."""
        return self.alpha > check_tau(tau)

    def replace(self, **changes: Any) -> "Instance":
        """A validated copy with some fields changed (e.g. ``interference="none"``)."""
        return dataclasses.replace(self, **changes)

    def __repr__(self) -> str:
        return (f"Instance(N={self.n_users}, M={self.n_servers}, K={self.top_k}, "
                f"interference={self.interference!r}, law={self.law!r}, "
                f"provenance={self.provenance!r})")


def check_tau(tau: float) -> float:
    """Return tau as a float, or raise ``ValueError`` if it is not a number in [0, 1]."""
    try:
        value = float(tau)
    except (TypeError, ValueError):
        raise ValueError(f"tau: must be a number in [0, 1], got {tau!r}") from None
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"tau: must lie in [0, 1], got {tau!r}")
    return value


def _most_common(shapes) -> int:
    counts: dict[int, int] = {}
    for shape in shapes:
        if shape:
            counts[shape[0]] = counts.get(shape[0], 0) + 1
    return max(counts, key=lambda size: (counts[size], -size))


def _as_array(name: str, value: Any) -> np.ndarray:
    try:
        array = np.array(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise InstanceError(f"{name}: must be an array of numbers") from None
    array.setflags(write=False)
    return array


def _as_scalar(name: str, value: Any) -> float:
    if isinstance(value, bool):
        raise InstanceError(f"{name}: must be a number, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InstanceError(f"{name}: must be a number, got {value!r}") from None
    if not np.isfinite(number):
        raise InstanceError(f"{name}: must be finite, got {value!r}")
    return number
