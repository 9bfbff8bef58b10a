"""The count-indexed MILP of (P) under interference "none" as a standard MPS or LP file.

``export_model(instance, tau, path, file_format)`` writes the model that the MILP backends solve
(:class:`formulations.model.CountModel`, docs/model.md section 4) through HiGHS's own writer, so
that any MILP code (Gurobi, CPLEX, SCIP, CBC, HiGHS) can be run on it. The file's objective is
the total delay in milliseconds, its constant (the local delays of the free users) included as
the objective's offset; its columns are named after what they stand for:

- ``x_i_j`` = 1 if user i offloads to ES j (user i runs locally when no ``x_i_.`` is 1);
- ``y_j_n`` = 1 if ES j holds exactly n users;
- ``z_i_j_n`` = 1 if user i is on ES j and ES j holds n users;

and its rows after their family (``once_i``, ``load_j``, ``count_j``, ``pick_i_j``,
``tight_j_n``; :mod:`formulations.model`). Users and ESs count from 0. The model is the reduced
one of :mod:`formulations.data` (pairs that no optimum uses are left out), so its optimum is the
optimum of (P).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from instances import Instance, check_tau
from instances.io import atomic_write_text

from ._highs import new_highs
from .data import interference_free_delays
from .milp import highs_lp
from .model import Column, CountModel

#: File formats and the extension HiGHS's writer takes each from.
FORMATS = {"mps": ".mps", "lp": ".lp"}


def column_names(model: CountModel) -> list[str]:
    """``x_i_j``, ``y_j_n``, ``z_i_j_n`` for the model's columns, in column order."""
    names = []
    for kind, i, j, n in zip(model.kind, model.user, model.server, model.load):
        if kind == Column.X:
            names.append(f"x_{i}_{j}")
        elif kind == Column.Y:
            names.append(f"y_{j}_{n}")
        else:
            names.append(f"z_{i}_{j}_{n}")
    return names


def count_model(instance: Instance, tau: float) -> CountModel:
    """The count-indexed model of (P) for an interference-"none" instance.

    Raises
    ------
    ValueError
        For a bad ``instance`` or ``tau``, or an instance under interference "full" (no linear
        model of it exists: each user's rate depends on the whole assignment).
    """
    if not isinstance(instance, Instance):
        raise ValueError(f"instance: must be an instances.Instance, got {type(instance).__name__}")
    tau = check_tau(tau)
    if instance.interference != "none":
        raise ValueError(f"instance: interference {instance.interference!r} has no linear model "
                         f"(the rates depend on the whole assignment); only interference 'none' "
                         f"instances can be exported")
    return CountModel(interference_free_delays(instance, tau))


def export_model(instance: Instance, tau: float, path: str | Path,
                 file_format: str | None = None) -> CountModel:
    """Write the count-indexed MILP of (P) at ``tau`` to ``path`` (MPS or LP).

    Parameters
    ----------
    instance
        An instance under interference "none".
    tau
        The accuracy-guard threshold in [0, 1].
    path
        The file to write; written whole or not at all (a temporary file renamed).
    file_format
        ``"mps"`` or ``"lp"``; default from the extension of ``path``.

    Returns
    -------
    CountModel
        The model written (its ``n_cols``, ``n_rows``, ``offset_ms``).

    Raises
    ------
    ValueError
        For a bad instance, tau or format (see :func:`count_model`).
    OSError
        If ``path`` cannot be written (naming it).
    """
    path = Path(path)
    if file_format is None:
        file_format = path.suffix.lower().lstrip(".")
    if file_format not in FORMATS:
        raise ValueError(f"format: must be one of {', '.join(FORMATS)}, got {file_format!r}")
    model = count_model(instance, tau)
    lp = highs_lp(model)
    lp.col_names_ = column_names(model)
    lp.row_names_ = list(model.row_names)
    lp.model_name_ = "offloading_P_count_model"
    h = new_highs()
    h.passModel(lp)
    # HiGHS takes the format from the extension: write a scratch file, then the target whole
    with tempfile.TemporaryDirectory(prefix="export_") as tmp:
        scratch = Path(tmp) / f"model{FORMATS[file_format]}"
        status = h.writeModel(str(scratch))
        if not _ok(status) or not scratch.exists():
            raise ValueError(f"out: HiGHS could not write the model ({status})")
        text = scratch.read_text(encoding="utf-8")
    try:
        atomic_write_text(path, text)
    except OSError as exc:  # name the target, not the temporary file beside it
        raise OSError(exc.errno, exc.strerror, str(path)) from None
    return model


def _ok(status) -> bool:
    """Whether a ``highspy.HighsStatus`` is ``kOk``."""
    import highspy

    return status == highspy.HighsStatus.kOk


def solve_file(path: str | Path, n_users: int,
               time_limit: float = 60.0) -> tuple[float, np.ndarray]:
    """Solve an exported file with HiGHS, read from the file: (its optimum in ms, the assignment
    of its ``n_users`` users decoded from the ``x_i_j`` columns by name). A check of an export
    by a solver that sees only the file."""
    h = new_highs()
    for name, value in (("time_limit", float(time_limit)), ("mip_rel_gap", 1e-9),
                        ("mip_abs_gap", 0.0)):
        h.setOptionValue(name, value)
    status = h.readModel(str(path))
    if not _ok(status):
        raise ValueError(f"{path}: HiGHS could not read it ({status})")
    h.run()
    assignment = np.full(int(n_users), -1, dtype=np.int64)
    values = h.getSolution().col_value
    for name, value in zip(h.getLp().col_names_, values):
        if name.startswith("x_") and value > 0.5:
            _, i, j = name.split("_")
            assignment[int(i)] = int(j)
    return float(h.getInfo().objective_function_value), assignment
