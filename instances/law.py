"""The congestion law of the static problem (docs/model.md, "Congestion laws").

Offloaded to ES j holding n = n_j users, user i computes for ``t^comp_ij(n) = a_ij + b_i h_j(n)``
with ``h_j`` nondecreasing in n. A law is data held by the instance (``instance.law``):

- ``Law("ps")``, the paper's processor sharing and the default: ``a = 0``, ``b_i = W^E_i``,
  ``h_j(n) = max(1 / C^max_j, n / C_j)``; every consumer keeps its closed form, so results
  under "ps" are those of the code before laws, bit for bit;
- ``Law("table", a=..., b=..., h=...)``: given per user and ES, ``a`` (N, M), ``b`` (N,), ``h``
  (M, N) with ``h[j][n - 1]`` the value at n users; ``a`` defaults to zeros, ``b`` to ones;
- ``Law("batched")``: the batched LLM server of an instance made with ``costs="roofline"``,
  ``a = 0``, ``b = 1`` and ``h_j(n)`` the time at which n queries of the instance's mean prompt
  length, reaching the idle ES j together, have all finished (:func:`batched_h`). Without
  arrays it is a request that :meth:`Law.for_instance` (``instance.with_law``,
  ``instances.generate(..., law="batched")``) turns into the table of an instance; the table
  is then held like any other, so a saved file is self-contained.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import InstanceError

#: The laws this code knows.
KINDS = ("ps", "table", "batched")
#: The help of a ``--costs`` option of the benchmarks that generate their instances.
COSTS_HELP = ("how the generated instances price a query: 'paper' (default) or 'roofline' (the "
              "delays of LLM inference on the default phone and edge GPU, docs/model.md, "
              "realistic instances; needed by --law batched)")
#: The help of a ``--law`` option (the instance CLI, ``benchmarks.gap``, ``benchmarks.certified``).
LAW_HELP = ("the ESs' congestion law: 'ps' (the paper's processor sharing, default), 'batched' "
            "(the batched LLM server of a roofline instance, made with --costs roofline: h_j(n) "
            "= when n queries of the mean prompt reaching ES j together all finish) or "
            "'table:PATH', a JSON file {\"h\": [[h_j(1), h_j(2), ...] per ES, N or more values], "
            "\"a\": N x M, \"b\": N (optional: 0 and 1)}: t^comp_ij(n) = a_ij + b_i h_j(n)")


@dataclass(frozen=True, eq=False)
class Law:
    """A congestion law: ``kind`` ("ps", "table" or "batched") and, for a table, its arrays
    ("batched" without arrays: the request :meth:`for_instance` resolves).

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
        if self.kind == "batched" and self.h is None:
            for name in ("a", "b"):
                if getattr(self, name) is not None:
                    raise InstanceError(f"law.{name}: the law 'batched' takes h with it, or "
                                        f"no array (then computed for an instance)")
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

    @property
    def is_request(self) -> bool:
        """Whether this is ``Law("batched")`` without its table (not yet fitted to an instance)."""
        return self.kind == "batched" and self.h is None

    def for_instance(self, instance) -> "Law":
        """This law fitted to ``instance``: the table of :func:`batched_law` for the request
        ``Law("batched")``, else the law itself."""
        return batched_law(instance) if self.is_request else self

    def check_sizes(self, n_users: int, n_servers: int) -> None:
        """Raise ``InstanceError`` naming the array whose shape is not a (N, M), b (N), h (M, N)."""
        if self.is_request:
            raise InstanceError(_REQUEST)
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
        if not self.is_table or self.is_request:
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
        if not spec.is_request:  # a request is fitted to the instance once it exists
            spec.check_sizes(n_users, n_servers)
        return spec
    return law_from_doc(law_doc(spec), n_users, n_servers)


def law_doc(spec) -> dict | None:
    """The plain data of a law spec (``None``, ``"ps"`` or ``"table:PATH"``): ``None`` for
    "ps", else the law file's JSON object (checked by name), so that a task can carry it to a
    worker that cannot read the path. :func:`law_from_doc` fits it to an instance's sizes."""
    if spec is None or spec == "ps":
        return None
    if spec == "batched":
        return "batched"
    if not isinstance(spec, str) or not spec.startswith("table:") or spec == "table:":
        raise InstanceError(f"law: must be 'ps', 'batched' or 'table:PATH' (a JSON file), "
                            f"got {spec!r}")
    return read_law_file(spec[len("table:"):])


def law_option(spec: str, sizes=(), costs: str | None = None) -> dict | str | None:
    """:func:`law_doc` for a command line's ``--law``, checked against every (N, M) of
    ``sizes`` before anything runs: an error names the option. ``costs``: the generated
    instances' costs ("batched" needs "roofline"; None: not checked, e.g. saved files)."""
    if spec == "batched" and costs not in (None, "roofline"):
        raise InstanceError("--law: 'batched' needs --costs roofline (the batched server's "
                            "completion times come from the roofline of its model)")
    try:
        doc = law_doc(spec)
        for n_users, n_servers in sizes:
            law_from_doc(doc, n_users, n_servers)
        return doc
    except InstanceError as exc:
        raise InstanceError(f"--law: {exc}") from None


def law_from_doc(doc: dict | None, n_users: int, n_servers: int) -> Law:
    """The law of :func:`law_doc`'s data for N users and M ESs (the first N columns of h);
    ``None`` or ``"ps"``: the paper's; ``"batched"``: the request ``Law("batched")``."""
    if doc is None or doc == "ps":
        return Law()
    if doc == "batched":
        return Law("batched")
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


_REQUEST = ("law: 'batched' is computed from an instance generated with costs='roofline': use "
            "instances.generate(..., costs='roofline', law='batched') or "
            "instance.with_law(Law('batched'))")
# h_j(n) already computed, per (model, hardware, limits, prompt, T): a list over n = 1, 2, ...
_MAKESPANS: dict = {}


def batched_h(scheduler, prompt_tokens: int, output_tokens: int, n_users: int) -> np.ndarray:
    """``h(n) = inference.batch_makespan_s(scheduler, n, prompt_tokens, output_tokens)`` for
    n = 1..``n_users``: when n queries of ``prompt_tokens`` tokens and answers of
    ``output_tokens``, reaching the idle ES together, have all finished. Nondecreasing (a
    further query never shortens the schedule of the others). Values are cached per model,
    hardware, limits and lengths.

    Raises
    ------
    ValueError
        If a count is not an integer >= 1 or one query does not fit in the KV memory.
    """
    import inference

    cost = scheduler.cost
    key = (repr(cost.model), repr(cost.hardware), scheduler.max_batch, scheduler.max_batched_tokens,
           scheduler.kv_bytes, int(prompt_tokens), int(output_tokens))
    done = _MAKESPANS.setdefault(key, [])
    for n in range(len(done) + 1, int(n_users) + 1):
        done.append(inference.batch_makespan_s(scheduler, n, prompt_tokens, output_tokens))
    # nondecreasing by construction: a running maximum guards against rounding in the passes
    return np.maximum.accumulate(np.array(done[:int(n_users)], dtype=np.float64))


def mean_prompt_tokens(tokens) -> int:
    """The mean prompt length of the batched law: the mean of ``tokens``, rounded half to even,
    at least 1."""
    return max(1, int(round(float(np.mean(np.asarray(tokens, dtype=np.float64))))))


def batched_law(instance) -> Law:
    """The "batched" law of an instance generated with ``costs="roofline"``: ``a = 0``,
    ``b = 1``, every ``h_j`` = :func:`batched_h` of the ES's large model on its hardware
    (``inference.BatchScheduler`` with its default limits), the instance's mean prompt tokens
    (:func:`mean_prompt_tokens`) and its ``output_tokens``, for n = 1..N.

    Raises
    ------
    InstanceError
        If the instance carries no roofline costs (saying to generate it with
        ``costs="roofline"``).
    """
    import inference

    record = (instance.provenance.get("inference")
              if instance.provenance.get("costs") == "roofline" else None)
    if not isinstance(record, dict) or "specs" not in record:
        raise InstanceError("law: 'batched' needs an instance generated with costs='roofline' "
                            "(instances.generate(..., costs='roofline') or --costs roofline)")
    specs = record["specs"]
    try:
        edge = inference.Cost(inference.ModelSpec(**specs["llm"]),
                              inference.HardwareSpec(**specs["edge"]))
        h = batched_h(inference.BatchScheduler(edge), mean_prompt_tokens(record["prompt_tokens"]),
                      record["output_tokens"], instance.n_users)
    except (TypeError, ValueError, KeyError) as exc:
        raise InstanceError(f"law: 'batched': the instance's inference record: {exc}") from None
    return Law("batched", h=np.tile(h, (instance.n_servers, 1)))
