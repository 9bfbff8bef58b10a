"""What every benchmark CLI shares: one-line errors, argument types, atomic output (CSV, PNG),
fixed-width tables, confidence intervals and kernel warm-up. Running tasks in parallel, on Dask
and resumably is :mod:`benchmarks.executor`."""

from __future__ import annotations

import argparse
import csv
import io
import math
import os
import platform
import shutil
import socket
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np

from instances.cli import OneLineParser
from instances.errors import InstanceError

try:
    import fcntl
except ImportError:  # not POSIX
    fcntl = None


class BenchmarkError(ValueError):
    """A bad option or input: printed as one line, exit code 2."""


class Parser(OneLineParser):
    """argparse with one-line errors and exit code 2 (:class:`instances.cli.OneLineParser`)."""


USER_ERRORS = (BenchmarkError, InstanceError, OSError)
"""What :func:`run_cli` reports as bad input: the project's own input errors (a bad option or
input file, :class:`BenchmarkError`; an invalid instance, trace or argument describing one,
:class:`instances.InstanceError`) and files that cannot be read or written (``OSError``). Any
other exception, a plain ``ValueError`` from numpy included, is a bug: it propagates with its
traceback."""


def run_cli(prog: str, body: Callable[[], int]) -> int:
    """Run a CLI body; a user error (:data:`USER_ERRORS`) becomes one line on stderr and exit
    code 2, any other exception propagates with its traceback.

    Notes added to the exception (``add_note``, e.g. where the finished tasks of an interrupted
    sweep are kept) are appended to that line.
    """
    try:
        return body()
    except USER_ERRORS as exc:
        text = str(exc)
        if isinstance(exc, OSError) and exc.strerror:
            text = f"{exc.filename}: {exc.strerror}" if exc.filename else exc.strerror
        text = "; ".join([text] + getattr(exc, "__notes__", []))
        print(f"{prog}: error: {' '.join(text.split())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        text = "; ".join(["interrupted; no output written"] + getattr(exc, "__notes__", []))
        print(f"{prog}: {text}", file=sys.stderr)
        return 130


def _argument_type(convert: Callable, accept: Callable, requirement: str) -> Callable:
    """An argparse ``type``: ``convert`` the text, then check it with ``accept``."""
    def parse(text: str):
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not {'an integer' if convert is int else 'a number'}"
                                             f": {text!r}") from None
        if not accept(value):
            raise argparse.ArgumentTypeError(f"must be {requirement}, got {text}")
        return value
    return parse


#: Memory one simulated query takes in a run of ``online.simulate`` (its records, the event
#: heap, the policy's state): tracemalloc's peak measured 0.50-0.55 KB per query (N = 50,
#: M = 4, 5 s at 20 and 80 Hz per user, edge-all and threshold); counted twice.
BYTES_PER_QUERY = 1024


def check_simulation_memory(users: int, rates: dict[str, float], duration_s: float,
                            jobs: int = 1) -> None:
    """Refuse, before any run, arrival rates that would make one simulation (``jobs`` at a
    time) need more memory than this machine has; ``rates`` maps each rate option as the user
    gave it (``"--rates"``, ``"--tau-rate"``) to its largest value.

    Raises
    ------
    BenchmarkError
        One line naming the rate option, with the users and duration that make it too much.
    """
    from instances.cli import check_memory

    option, rate = max(rates.items(), key=lambda item: item[1])
    queries = users * rate * duration_s
    try:
        check_memory(queries * BYTES_PER_QUERY * max(jobs, 1),
                     f"{option} {rate:g} (about {queries:.3g} queries per run with --users "
                     f"{users}, --duration {duration_s:g} s"
                     + (f", {jobs} runs at a time" if jobs > 1 else "") + ")")
    except ValueError as exc:
        raise BenchmarkError(str(exc)) from None


def check_instance_memory(users: int, servers: int, arguments: str, jobs: int = 1) -> None:
    """Refuse, before any run, instance sizes (``jobs`` instances held at once) that would need
    more memory than this machine has: ``arguments`` names the options that set them, as the
    user gave them (``"--users 1000000000, --servers 4"``).

    Raises
    ------
    BenchmarkError
        One line naming ``arguments``, the estimate and the memory available.
    """
    from instances.cli import check_memory, instance_bytes

    try:
        check_memory(instance_bytes(users, servers) * max(jobs, 1), arguments,
                     "an instance" if jobs <= 1 else f"{jobs} instances at a time")
    except ValueError as exc:
        raise BenchmarkError(str(exc)) from None


positive_int = _argument_type(int, lambda v: v >= 1, "at least 1")
non_negative_int = _argument_type(int, lambda v: v >= 0, "at least 0")
unit_float = _argument_type(float, lambda v: 0.0 <= v <= 1.0, "in [0, 1]")
positive_float = _argument_type(float, lambda v: math.isfinite(v) and v > 0, "a positive number")


STAGE_PREFIX = ".staging-"
LOCK_NAME = ".lock"
_HELD: dict[Path, list] = {}  # the output folders this process holds: [lock fd, depth]


@contextmanager
def output_lock(out_dir: str | Path) -> Iterator[Path | None]:
    """Hold the output folder ``out_dir`` for this run: a second run (any process on this
    machine, or on another one sharing the folder over a file system with locks) that asks for
    it fails at once, naming the folder and the holder's pid. Re-entrant in one process.

    The folder (and missing parents) is created; yields the topmost folder created, or None.
    On leaving, the lock file is removed, and so are the folders created here if they are
    empty. The kernel releases the lock of a killed process; its lock file is reused.

    Raises
    ------
    BenchmarkError
        Naming ``--out``: another run holds it, or it cannot be created or written.
    """
    out = Path(out_dir)
    created = make_output_folder(out)
    key = out.resolve()
    if key in _HELD:
        _HELD[key][1] += 1
        try:
            yield created
        finally:
            _HELD[key][1] -= 1
        return
    try:
        fd = _lock(out)
    except BaseException:
        remove_empty_folders(out, created)
        raise
    _HELD[key] = [fd, 1]
    try:
        yield created
    finally:
        del _HELD[key]
        try:
            os.unlink(out / LOCK_NAME)  # while holding it: a waiter then sees another file
        except OSError:
            pass
        os.close(fd)
        remove_empty_folders(out, created)


def _lock(out: Path) -> int:
    """The descriptor of ``out``'s lock file, locked."""
    path = out / LOCK_NAME
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise BenchmarkError(f"--out {out}: cannot write there ({exc.strerror})") from None
        if fcntl is None:  # no advisory locks on this platform: the lock file only
            break
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.read(fd, 200).decode(errors="replace").strip()
            os.close(fd)
            raise BenchmarkError(
                f"--out {out}: another run ({holder or 'its pid not yet written'}) is writing "
                f"there; wait for it to end, or choose another --out") from None
        try:  # its last holder may have removed the file between our open and our lock
            if os.path.samestat(os.fstat(fd), os.stat(path)):
                break
        except FileNotFoundError:
            pass
        os.close(fd)
    os.ftruncate(fd, 0)
    os.write(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode())
    return fd


@contextmanager
def staged_output(out_dir: str | Path) -> Iterator[Path]:
    """Write a run's files into a hidden staging folder; move them into ``out_dir`` only when
    the run succeeds, so a failed run never leaves half-written files behind.

    The folder is locked for the run (:func:`output_lock`): two runs never write one folder.
    Errors name ``out_dir`` (the path the user gave), never the staging folder. A failed run
    removes the staging folder and the folders it created, if they are empty. A staging folder
    left by a killed run on this machine (its process is gone) is removed on the next run.
    """
    out = Path(out_dir)
    with output_lock(out):
        _remove_stale_stages(out)
        try:
            stage = Path(tempfile.mkdtemp(prefix=f"{STAGE_PREFIX}{socket.gethostname()}-"
                                                 f"{os.getpid()}-", dir=out))
        except OSError as exc:
            raise BenchmarkError(f"--out {out}: cannot write there ({exc.strerror})") from None
        try:
            yield stage
            for item in sorted(stage.iterdir()):
                os.replace(item, out / item.name)
        except OSError as exc:
            if exc.filename and Path(exc.filename).parent == stage:  # name the target
                raise OSError(exc.errno, exc.strerror, str(out / Path(exc.filename).name)) \
                    from None
            raise
        finally:
            shutil.rmtree(stage, ignore_errors=True)


def _remove_stale_stages(out: Path) -> None:
    host = socket.gethostname()
    for stage in out.glob(f"{STAGE_PREFIX}{host}-*"):
        pid = stage.name[len(STAGE_PREFIX) + len(host) + 1:].split("-", 1)[0]
        if pid.isdigit() and not pid_alive(int(pid)):
            shutil.rmtree(stage, ignore_errors=True)


def pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` runs on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def make_output_folder(out: Path) -> Path | None:
    """Create the output folder ``out`` (and missing parents); the topmost folder created, or
    None if it existed.

    Raises
    ------
    BenchmarkError
        Naming ``--out`` when it is a file or cannot be created.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise BenchmarkError(f"--out: {out} exists and is not a folder")
    top = None
    for folder in [out, *out.parents]:
        if folder.exists():
            break
        top = folder
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BenchmarkError(f"--out {out}: cannot create the folder ({exc.strerror})") from None
    return top


def remove_empty_folders(out: Path, top: Path | None) -> None:
    """Remove the folders :func:`make_output_folder` created (``out`` up to ``top``) while they
    are empty."""
    if top is None:
        return
    for folder in [Path(out), *Path(out).parents]:
        try:
            folder.rmdir()
        except OSError:
            return
        if folder == top:
            return


def write_csv(path: Path, rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> Path:
    """Write rows (dicts) with the given column order; floats as their repr."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), extrasaction="raise",
                            lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(row.get(k)) for k in columns})
    path.write_text(buffer.getvalue(), encoding="utf-8")
    return path


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, (bool, np.bool_)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return repr(float(value))
    if isinstance(value, np.integer):
        return int(value)
    return value


def read_csv(path: str | Path) -> list[dict[str, str]]:
    """Read a CSV written by :func:`write_csv` (values as strings)."""
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], title: str | None = None) -> str:
    """A fixed-width text table; numbers right-aligned."""
    text_rows = [[_fmt(v) for v in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in text_rows]) for i, h in enumerate(headers)]
    lines = [] if title is None else [title]
    lines.append("  ".join(h.rjust(w) for h, w in zip(headers, widths)))
    lines.append("  ".join("-" * w for w in widths))
    for row in text_rows:
        lines.append("  ".join(v.rjust(w) for v, w in zip(row, widths)))
    return "\n".join(lines)


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, (float, np.floating)):
        if math.isnan(value):
            return "-"
        if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e6):
            return f"{value:.3g}"
        return f"{value:.3f}" if abs(value) < 100 else f"{value:.1f}"
    return str(value)


def mean_ci95(values: Sequence[float]) -> tuple[float, float]:
    """Mean and the half-width of its 95 % confidence interval (Student t; 0 for one value)."""
    x = np.asarray(values, dtype=np.float64)
    if x.size == 0:
        return math.nan, math.nan
    if x.size == 1:
        return float(x[0]), 0.0
    from scipy.stats import t

    half = t.ppf(0.975, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size)
    return float(x.mean()), float(half)


def group_mean_ci95(rows: Sequence[dict], keys: Sequence[str], metrics: Sequence[str],
                    count: str) -> list[dict]:
    """Per distinct value of ``keys``: the key fields, the row count (named ``count``), and
    each metric's mean and 95 % CI half-width (``metric_ci95``) over the rows where it is a
    finite number (None, None when it never is)."""
    from collections import defaultdict

    groups = defaultdict(list)
    for row in rows:
        groups[tuple(row[k] for k in keys)].append(row)
    out = []
    for key, members in groups.items():
        record = dict(zip(keys, key), **{count: len(members)})
        for metric in metrics:
            values = [r[metric] for r in members if r.get(metric) is not None
                      and np.isfinite(r[metric])]
            record[metric], record[f"{metric}_ci95"] = mean_ci95(values) if values else (
                None, None)
        out.append(record)
    return out


def machine_line() -> str:
    """A short description of the machine, for the record."""
    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
            f"Python {platform.python_version()}, {platform.system()}")


def matplotlib_pyplot():
    """pyplot on the non-interactive Agg backend (no screen needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


_WARM = False


def warm_up(exact: bool = False) -> None:
    """Load every numba kernel once in this process (compiled or from the on-disk cache), so
    that no timed run pays for it. Idempotent."""
    global _WARM
    if _WARM:
        return
    import goa
    import instances

    for interference in ("full", "none"):
        inst = instances.generate(6, 2, seed=0, interference=interference)
        for method in [m for m in goa.methods() if m not in goa.ACCURACY_METHODS]:
            goa.solve(inst, tau=0.8, method=method, seed=0, **(
                {"generations": 3} if method == "ga" else {}))
        if exact:
            import formulations

            formulations.solve(inst, tau=0.8, time_limit=10.0)
    _WARM = True


# --- work budgets of the exact solves ------------------------------------------------------------

#: Default work budgets of the exact solves the benchmark CLIs publish: boxes for "loadbox",
#: nodes for "bnb". A budget stops a search at the same place on every machine; the wall-clock
#: limit is only a safety cap (DEFAULT_SAFETY_CAP_S), reported when it fires.
DEFAULT_MAX_BOXES = 8000
DEFAULT_MAX_NODES = 20_000_000
DEFAULT_SAFETY_CAP_S = 900.0


def add_budget_arguments(parser: argparse.ArgumentParser,
                         max_boxes: int = DEFAULT_MAX_BOXES) -> None:
    """``--max-boxes``, ``--max-nodes`` and ``--time-limit`` (the safety cap)."""
    parser.add_argument("--max-boxes", type=positive_int, default=max_boxes, metavar="K",
                        help=f"work budget of each 'loadbox' solve: boxes bounded, i.e. "
                             f"assignment problems solved ({max_boxes})")
    parser.add_argument("--dual-rounds", type=non_negative_int, default=0, metavar="R",
                        help="'loadbox': rounds of the Lagrangian dual on each single load "
                             "vector (0: off, the default; docs/bounds.md)")
    parser.add_argument("--max-nodes", type=positive_int, default=DEFAULT_MAX_NODES,
                        metavar="K", help="work budget of each 'bnb' solve: nodes "
                                          f"({DEFAULT_MAX_NODES})")
    parser.add_argument("--time-limit", type=positive_float, default=DEFAULT_SAFETY_CAP_S,
                        metavar="SECONDS",
                        help="wall-clock safety cap of each exact solve; results stopped by it "
                             "(status time_limit) depend on the machine and are flagged "
                             f"({DEFAULT_SAFETY_CAP_S:g})")


def budget_options(instance, max_boxes: int | None, max_nodes: int | None,
                   dual_rounds: int = 0) -> dict:
    """The work-budget option of ``formulations.solve(..., backend="auto")`` for the backend
    "auto" picks on this instance ("loadvec" has none: it runs to its end, the cap aside), and
    ``dual_rounds`` for "loadbox" when it is not 0."""
    import formulations

    backend = formulations.auto_backend(instance)
    if backend == "loadbox":
        options = {} if max_boxes is None else {"max_boxes": int(max_boxes)}
        if dual_rounds:
            options["dual_rounds"] = int(dual_rounds)
        return options
    if backend == "bnb" and max_nodes is not None:
        return {"max_nodes": int(max_nodes)}
    return {}


def cap_note(statuses: Iterable[str]) -> str | None:
    """A warning line when the safety cap stopped some exact solves (status ``time_limit``),
    else None."""
    statuses = list(statuses)
    capped = sum(s == "time_limit" for s in statuses)
    if not capped:
        return None
    return (f"WARNING: the wall-clock safety cap stopped {capped} of {len(statuses)} exact "
            f"solves before their work budget (status time_limit): those bounds depend on the "
            f"machine's speed")
