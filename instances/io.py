"""Instance files: JSON, versioned, floats round-tripping exactly, written atomically.

Layout (format version 3)::

    {"format": "llm-offloading-instance", "version": 3,
     "interference": "full", "provenance": {...},
     "scalars": {"noise_psd_w_hz": ..., "carrier_hz": ..., "area_m": ...},
     "users":   {"user_xy_m": [[x, y], ...], "prompt_bits": [...], ...,
                 "p_slm_correct": [...], "p_llm_correct": [...]},
     "servers": {"server_xy_m": [[x, y], ...], "bandwidth_hz": [...], ...},
     "channel": {"gain": [[g_00, g_01, ...], ...]},
     "law": {"kind": "ps"}}

Version 3 adds the congestion law (``"law"``: ``{"kind": "ps"}``, or ``{"kind": "table", "a":
[[...]] (N x M), "b": [...] (N), "h": [[...]] (M x N, h[j][n-1] at n users)}``); files of
versions 1 and 2 load with the law "ps". Version 2 adds the optional ``users.p_slm_correct`` /
``users.p_llm_correct`` (both or neither).
Version-1 files (without them) still load; the two fields are then ``None``.

Python writes each float as its shortest repr, which reads back to the same double.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path

import numpy as np

from .instance import (
    CHANNEL_FIELDS, FORMAT_VERSION, OPTIONAL_USER_FIELDS, SCALAR_FIELDS, SERVER_FIELDS,
    USER_FIELDS, Instance, InstanceError)
from .law import Law

FORMAT_NAME = "llm-offloading-instance"
_GROUPS = {"users": USER_FIELDS, "servers": SERVER_FIELDS, "channel": CHANNEL_FIELDS}
#: Format versions this code reads.
READABLE_VERSIONS = (1, 2, 3)


def to_dict(instance: Instance) -> dict:
    """The JSON-ready dictionary of an instance."""
    doc = {"format": FORMAT_NAME, "version": FORMAT_VERSION,
           "interference": instance.interference, "provenance": instance.provenance,
           "scalars": {name: getattr(instance, name) for name in SCALAR_FIELDS}}
    for group, fields in _GROUPS.items():
        doc[group] = {name: getattr(instance, name).tolist() for name in fields}
    for name in OPTIONAL_USER_FIELDS:
        if getattr(instance, name) is not None:
            doc["users"][name] = getattr(instance, name).tolist()
    doc["law"] = instance.law.to_dict()
    return doc


def from_dict(doc: dict, source: str = "instance") -> Instance:
    """Build an instance from :func:`to_dict`'s layout, checking every field.

    Raises
    ------
    InstanceError
        Naming the field: missing, of the wrong type or shape, NaN, negative capacity,
        unknown format or version.
    """
    if not isinstance(doc, dict):
        raise InstanceError(f"{source}: the top level must be a JSON object")
    if doc.get("format") != FORMAT_NAME:
        raise InstanceError(f"{source}: format: expected {FORMAT_NAME!r}, got "
                            f"{short_repr(doc.get('format'))}")
    version = doc.get("version")
    if isinstance(version, bool) or version not in READABLE_VERSIONS:
        raise InstanceError(f"{source}: version: unknown format version {short_repr(version)} "
                            f"(this code reads versions {READABLE_VERSIONS})")
    kwargs = {}
    for group, fields in (("scalars", SCALAR_FIELDS), *_GROUPS.items()):
        section = doc.get(group)
        if not isinstance(section, dict):
            raise InstanceError(f"{source}: {group}: missing section")
        for name in fields:
            if name not in section:
                raise InstanceError(f"{source}: {group}.{name}: missing field")
            kwargs[name] = _numbers(section[name], f"{group}.{name}", source)
    if version >= 2:
        for name in OPTIONAL_USER_FIELDS:
            if name in doc["users"]:
                kwargs[name] = _numbers(doc["users"][name], f"users.{name}", source)
    for key in ("interference", "provenance"):
        if key not in doc:
            raise InstanceError(f"{source}: {key}: missing field")
    try:
        law = _law(doc, version, source)
        return Instance(interference=doc["interference"], provenance=doc["provenance"],
                        law=law, **kwargs)
    except InstanceError as exc:
        raise InstanceError(f"{source}: {exc}") from None


def _law(doc: dict, version: int, source: str) -> Law:
    """The law of a document: its ``"law"`` section (version 3), else "ps"."""
    if version < 3:
        return Law()
    section = doc.get("law")
    if not isinstance(section, dict):
        raise InstanceError(f"{source}: law: missing section")
    unknown = sorted(set(section) - {"kind", "a", "b", "h"})
    if unknown:
        raise InstanceError(f"{source}: law.{unknown[0]}: unknown field")
    arrays = {name: _numbers(section[name], f"law.{name}", source)
              for name in ("a", "b", "h") if name in section}
    return Law(section.get("kind"), **arrays)


def save(instance: Instance, path: str | Path) -> Path:
    """Write an instance to a JSON file atomically (temporary file in the same folder, renamed).

    Returns the path written.
    """
    path = Path(path)
    text = json.dumps(to_dict(instance), separators=(",", ":"), allow_nan=False)
    atomic_write_text(path, text + "\n")
    return path


def load(path: str | Path) -> Instance:
    """Read an instance written by :func:`save`.

    Raises
    ------
    InstanceError
        If the file cannot be read, is not JSON, or any field is missing or invalid (the
        message names the file and the field).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InstanceError(f"{path}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise InstanceError(f"{path}: not a UTF-8 text file") from None
    try:
        doc = json.loads(text)  # NaN / Infinity literals parse, and from_dict rejects them by name
    except json.JSONDecodeError as exc:
        raise InstanceError(f"{path}: not valid JSON ({exc.msg}, line {exc.lineno})") from None
    except ValueError:  # an integer of more digits than Python converts
        raise InstanceError(f"{path}: not an instance file (a number too long to read)") from None
    except RecursionError:
        raise InstanceError(f"{path}: not an instance file (JSON nested too deeply)") from None
    return from_dict(doc, source=str(path))


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write text to ``path`` via a temporary file in the same folder and an atomic rename, so
    that a failed write never leaves a half-written file behind."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """:func:`atomic_write_text` for bytes (an image)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent or ".")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def short_repr(value, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters, for an error message on one line."""
    try:
        text = repr(value)
    except ValueError:  # an integer of more digits than Python converts to text
        return f"an integer of {value.bit_length()} bits"
    if len(text) > 4 * limit:  # a huge int's repr is slow: keep its head only
        text = text[:4 * limit]
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


_LARGEST_INT = int(np.finfo(np.float64).max)


def _numbers(value, field: str, source: str):
    """Check a nested list of numbers (no bools, no strings) and return it as an array."""
    try:
        array = np.array(value, dtype=object)
    except (ValueError, RecursionError):
        raise InstanceError(f"{source}: {field}: ragged array (rows of different lengths)") \
            from None
    flat = array.reshape(-1) if array.ndim else [array.item()]
    for item in flat:
        if isinstance(item, bool) or not isinstance(item, (int, float)):
            raise InstanceError(f"{source}: {field}: must hold only numbers, found "
                                f"{short_repr(item)}")
        if isinstance(item, int) and abs(item) > _LARGEST_INT:
            raise InstanceError(f"{source}: {field}: {short_repr(item)} is too large for a "
                                f"floating-point number")
        if isinstance(item, float) and not math.isfinite(item):
            raise InstanceError(f"{source}: {field}: contains a NaN or infinite value")
    if array.ndim == 0:
        return float(array.item())
    return array.astype(np.float64)
