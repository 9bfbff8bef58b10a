"""The congestion law of the static problem (docs/model.md, "Congestion laws").

Offloaded to ES j holding n = n_j users, user i computes for ``t^comp_ij(n) = a_ij + b_i h_j(n)``
with ``h_j`` nondecreasing in n. A law is data held by the instance (``instance.law``):

- ``Law("ps")``, the paper's processor sharing and the default: ``a = 0``, ``b_i = W^E_i``,
  ``h_j(n) = max(1 / C^max_j, n / C_j)``; every consumer keeps its closed form, so results
  under "ps" are those of the code before laws, bit for bit;
- ``Law("table", a=..., b=..., h=...)``: given per user and ES, ``a`` (N, M), ``b`` (N,), ``h``
  (M, N) with ``h[j][n - 1]`` the value at n users; ``a`` defaults to zeros, ``b`` to ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import InstanceError

#: The laws this code knows.
KINDS = ("ps", "table")
#: The help of a ``--law`` option (the instance CLI, ``benchmarks.gap``, ``benchmarks.certified``).
LAW_HELP = ("the ESs' congestion law: 'ps' (the paper's processor sharing, default) or "
            "'table:PATH', a JSON file {\"h\": [[h_j(1), h_j(2), ...] per ES, N or more values], "
            "\"a\": N x M, \"b\": N (optional: 0 and 1)}: t^comp_ij(n) = a_ij + b_i h_j(n)")


@dataclass(frozen=True, eq=False)
class Law:
    """A congestion law: ``kind`` ("ps" or "table") and, for a table, its arrays.

    The arrays are read-only float64 copies, checked here (finite, non-negative, each row of
    ``h`` nondecreasing) and against an instance's sizes by :meth:`check_sizes`.

    Raises
    ------
    InstanceError
        Naming the field (``law.kind``, ``law.a``, ``law.b``, ``law.h``) and the problem.
    """

    kind: str = "ps"
    a: Any = None
    b: Any = None
    h: Any = None

    def __post_init__(self) -> None:
        if not isinstance(self.kind, str) or self.kind not in KINDS:
            raise InstanceError(f"law.kind: must be one of {KINDS}, got {self.kind!r}")
        if self.kind == "ps":
            for name in ("a", "b", "h"):
                if getattr(self, name) is not None:
                    raise InstanceError(f"law.{name}: the law 'ps' takes no arrays")
            return
        if self.h is None:
            raise InstanceError("law.h: a table law needs h (M x N, h[j][n-1] at n users)")
        h = _checked("h", self.h, 2)
        if h.shape[1] == 0 or h.shape[0] == 0:
            raise InstanceError("law.h: must have at least one row and one column")
        steps = np.diff(h, axis=1)
        if np.any(steps < 0):
            j, k = np.argwhere(steps < 0)[0]
            raise InstanceError(f"law.h: row {j} decreases at n = {k + 2}")
        n_users, n_servers = h.shape[1], h.shape[0]
        a = np.zeros((n_users, n_servers)) if self.a is None else _checked("a", self.a, 2)
        b = np.ones(n_users) if self.b is None else _checked("b", self.b, 1)
        a.setflags(write=False)
        b.setflags(write=False)
        for name, value in (("a", a), ("b", b), ("h", h)):
            object.__setattr__(self, name, value)
        self.check_sizes(n_users, n_servers)

    @property
    def is_table(self) -> bool:
        """Whether the law is given by arrays (every kind but the closed form "ps")."""
        return self.kind != "ps"

    def check_sizes(self, n_users: int, n_servers: int) -> None:
        """Raise ``InstanceError`` naming the array whose shape is not a (N, M), b (N), h (M, N)."""
        if not self.is_table:
            return
        for name, want in (("h", (n_servers, n_users)), ("a", (n_users, n_servers)),
                           ("b", (n_users,))):
            got = getattr(self, name).shape
            if got != want:
                raise InstanceError(f"law.{name}: shape {got} does not match the expected {want}")

    def to_dict(self) -> dict:
        """The JSON-ready ``"law"`` section of an instance file."""
        if not self.is_table:
            return {"kind": self.kind}
        return {"kind": self.kind, "a": self.a.tolist(), "b": self.b.tolist(),
                "h": self.h.tolist()}

    def digest_parts(self):
        """(name, bytes) pairs that identify the law, for an instance's fingerprint."""
        yield "law.kind", self.kind.encode()
        if self.is_table:
            for name in ("a", "b", "h"):
                value = getattr(self, name)
                yield f"law.{name}", repr(value.shape).encode() + value.tobytes()

    def __repr__(self) -> str:
        if not self.is_table:
            return f"Law({self.kind!r})"
        return f"Law({self.kind!r}, h={self.h.shape[0]}x{self.h.shape[1]})"


def ps_tables(server_cap_flops, server_flops, edge_workload_flop, n_users: int):
    """The "ps" law as arrays: a = 0 (N, M), b = W^E (N,), h (M, N) with
    ``h[j, n - 1] = max(1 / C^max_j, n / C_j)``. A table law built from them prices every
    assignment as "ps" does (to rounding: the closed form divides, the table multiplies)."""
    counts = np.arange(1, n_users + 1, dtype=np.float64)
    h = np.maximum(1.0 / np.asarray(server_cap_flops)[:, None],
                   counts[None, :] / np.asarray(server_flops)[:, None])
    a = np.zeros((n_users, np.asarray(server_flops).size))
    return a, np.array(edge_workload_flop, dtype=np.float64), h


def _checked(name: str, value: Any, ndim: int) -> np.ndarray:
    try:
        array = np.array(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise InstanceError(f"law.{name}: must be an array of numbers") from None
    if array.ndim != ndim:
        raise InstanceError(f"law.{name}: must be a {ndim}-D array, got {array.ndim}-D")
    if not np.all(np.isfinite(array)):
        raise InstanceError(f"law.{name}: contains a NaN or infinite value")
    if np.any(array < 0):
        raise InstanceError(f"law.{name}: every value must be non-negative")
    array.setflags(write=False)
    return array


def resolve_law(spec, n_users: int, n_servers: int) -> Law:
    """A law fitting N users and M ESs from a :class:`Law`, ``None`` or ``"ps"`` (the paper's),
    or ``"table:PATH"``: a JSON file ``{"h": [[...]], "a": [[...]], "b": [...]}`` with ``h``
    of M rows and at least N columns (the first N are used, h[j][n-1] at n users), ``a``
    (N x M, default 0) and ``b`` (N, default 1) optional.

    Raises
    ------
    InstanceError
        Naming ``law`` (an unknown spec, an unreadable file) or the field of the file.
    """
    if isinstance(spec, Law):
        spec.check_sizes(n_users, n_servers)
        return spec
    return law_from_doc(law_doc(spec), n_users, n_servers)


def law_doc(spec) -> dict | None:
    """The plain data of a law spec (``None``, ``"ps"`` or ``"table:PATH"``): ``None`` for
    "ps", else the law file's JSON object (checked by name), so that a task can carry it to a
    worker that cannot read the path. :func:`law_from_doc` fits it to an instance's sizes."""
    if spec is None or spec == "ps":
        return None
    if not isinstance(spec, str) or not spec.startswith("table:") or spec == "table:":
        raise InstanceError(f"law: must be 'ps' or 'table:PATH' (a JSON file), got {spec!r}")
    return read_law_file(spec[len("table:"):])


def law_option(spec: str, sizes=()) -> dict | None:
    """:func:`law_doc` for a command line's ``--law``, checked against every (N, M) of
    ``sizes`` before anything runs: an error names the option."""
    try:
        doc = law_doc(spec)
        for n_users, n_servers in sizes:
            law_from_doc(doc, n_users, n_servers)
        return doc
    except InstanceError as exc:
        raise InstanceError(f"--law: {exc}") from None


def law_from_doc(doc: dict | None, n_users: int, n_servers: int) -> Law:
    """The law of :func:`law_doc`'s data for N users and M ESs (the first N columns of h);
    ``None`` or ``"ps"``: the paper's."""
    if doc is None or doc == "ps":
        return Law()
    h = _checked("h", doc["h"], 2)
    if h.shape[1] < n_users:
        raise InstanceError(f"law.h: {h.shape[1]} columns, fewer than the N = {n_users} users "
                            f"(h[j][n-1] is needed for n = 1..N)")
    return Law("table", a=doc.get("a"), b=doc.get("b"), h=h[:, :n_users])


def read_law_file(path) -> dict:
    """The JSON object of a law file (keys ``h`` and optionally ``a``, ``b``), checked by name."""
    import json
    from pathlib import Path

    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise InstanceError(f"law: cannot read {path}: {exc.strerror}") from None
    except (ValueError, RecursionError):
        raise InstanceError(f"law: {path} is not valid JSON") from None
    if not isinstance(doc, dict) or "h" not in doc:
        raise InstanceError(f"law.h: missing in {path} (a JSON object with h, and a, b optional)")
    unknown = sorted(set(doc) - {"kind", "a", "b", "h"})
    if unknown:
        raise InstanceError(f"law.{unknown[0]}: unknown field in {path}")
    if doc.get("kind", "table") != "table":
        raise InstanceError(f"law.kind: a law file holds a table, got {doc['kind']!r}")
    for name in ("a", "b", "h"):
        if name in doc and not isinstance(doc[name], list):
            raise InstanceError(f"law.{name}: must be an array of numbers in {path}")
    Law("table", h=doc["h"])  # h checked here (finite, >= 0, nondecreasing), not in a worker
    return doc
