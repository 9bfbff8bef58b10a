"""``python -m benchmarks.library``: the benchmark library (``library/`` at the repository root),
its loader, a checker of anyone's plans, and its builder.

The library is data: instance files (``library/instances/*.json``) and one table
(``library/library.csv``), one row per (instance, tau), with the best-known plan, its total
delay recomputed by ``instances.evaluate``, the best certified lower bound with the method and
the work budget that gave it, a status (``optimal`` where an exact search proved it, else
``open``), the date and the commit (docs/library.md). Three subcommands:

- ``check SOLUTIONS.csv``: reads plans (columns ``id`` and ``assignment``, a string of integers:
  -1 local, else the ES 0..M-1), checks the accuracy guard, recomputes each total delay with the
  one evaluator and prints, per instance and in total, the gap to the best-known value and to
  the bound; flags new best-knowns and any feasible plan below a certified bound (an error in
  the bound, reported as such). Exit 0 when every plan is feasible and no bound is broken, 1
  otherwise; a malformed file gets one line naming the row and field, exit 2.
- ``run --method M``: runs one of ``goa.methods()`` (the built-in heuristics and every plugin of
  ``goa/plugins``) over the library and writes such a CSV.
- ``build --max-boxes B --jobs J``: (re)computes the library on the executor layer (resumable
  with ``--resume``, its task store in ``--work``), merging with the table already there: a row
  keeps the better plan and the higher bound. CI never rebuilds it; tests only check it.
"""

from __future__ import annotations

import csv
import datetime
import math
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from benchmarks.common import (
    BenchmarkError, Parser, add_budget_arguments, budget_options, machine_line, positive_int,
    run_cli, staged_output, table, write_csv)
from benchmarks.executor import add_executor_arguments, describe_executor, run_tasks

PROG = "python -m benchmarks.library"
#: The library shipped with the repository.
LIBRARY_DIR = Path(__file__).resolve().parent.parent / "library"
TABLE_NAME = "library.csv"
INSTANCE_FOLDER = "instances"
#: The library's instance seeds, chosen once (the published seeds; tuning uses seeds >= 1000).
SEEDS = (0, 1, 2, 3, 4)
#: The paper's grid: interference "full", M = 4, N = 50..120, tau 0.6..1.0 (40 points).
PAPER_SERVERS = 4
# A few large interference-"none" drops (M = 4), beyond the paper's N.
NONE_SIZES = (200, 300, 500)
NONE_SEEDS = (0,)
NONE_TAUS = (0.8,)
SETS = ("paper", "congested", "none")
#: A plan this far (relative) below the best-known value is a new best-known one; a feasible
#: plan this far below a certified bound proves the bound wrong (the bounds carry a relative
#: safety margin of 1e-9 at most).
RTOL = 1e-9

COLUMNS = ("id", "instance_file", "set", "interference", "n_users", "n_servers", "seed", "tau",
           "best_ms", "best_plan", "best_method", "bound_ms", "bound_method", "bound_budget",
           "bound_work", "gap_pct", "status", "exact_status", "date", "commit")
SOLUTION_COLUMNS = ("id", "assignment", "objective_ms", "runtime_s", "method")


# --- the table and its rows ----------------------------------------------------------------------

@dataclass(frozen=True)
class Entry:
    """One row of the library: an (instance, tau) with its best-known plan and bound.

    ``best_plan`` is the assignment (-1 local, else the ES); ``best_ms`` its total delay by
    ``instances.evaluate``; ``bound_ms`` a certified lower bound on the optimum, given by
    ``bound_method`` within ``bound_budget`` (``bound_work``: the boxes or nodes it used);
    ``status`` ``"optimal"`` when an exact search proved ``best_ms`` optimal, else ``"open"``.
    """

    id: str
    instance_file: str
    set: str
    interference: str
    n_users: int
    n_servers: int
    seed: int
    tau: float
    best_ms: float
    best_plan: np.ndarray
    best_method: str
    bound_ms: float
    bound_method: str
    bound_budget: str
    bound_work: str
    status: str
    exact_status: str
    date: str
    commit: str
    folder: Path = field(default=LIBRARY_DIR, compare=False, repr=False)

    @cached_property
    def instance(self):
        """The instance, loaded from its file (once)."""
        import instances

        return instances.load(self.folder / self.instance_file)

    @property
    def gap_pct(self) -> float:
        """Certified gap of the best-known plan, ``(best - bound) / bound x 100``."""
        from instances.result import relative_gap_pct

        return relative_gap_pct(self.best_ms, self.bound_ms)

    def row(self) -> dict:
        """The table row (CSV cells)."""
        values = {name: getattr(self, name) for name in COLUMNS if name != "gap_pct"}
        values["best_plan"] = format_plan(self.best_plan)
        values["gap_pct"] = self.gap_pct
        return values


def format_plan(plan) -> str:
    """An assignment as a string of integers separated by spaces."""
    return " ".join(str(int(v)) for v in plan)


_SEPARATORS = re.compile(r"[\s,;]+")
_LARGEST = 2 ** 62


def parse_plan(text: str) -> np.ndarray:
    """A string of integers (separated by spaces, commas or semicolons; brackets allowed) as an
    int64 vector.

    Raises
    ------
    ValueError
        If an item is not an integer.
    """
    items = [t for t in _SEPARATORS.split(text.strip().strip("[]()")) if t]
    if not items:
        raise ValueError("empty")
    values = []
    for item in items:
        try:
            value = int(item)
        except ValueError:
            raise ValueError(f"not an integer: {item[:20]!r}") from None
        if abs(value) > _LARGEST:  # no ES has such an index; int64 would overflow
            raise ValueError(f"out of range: {item[:20]!r}")
        values.append(value)
    return np.array(values, dtype=np.int64)


def _float(text: str, name: str) -> float:
    """``text`` as a finite float (ValueError otherwise)."""
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"not a number: {text[:20]!r}") from None
    if not math.isfinite(value):
        raise ValueError(f"not finite: {text!r}")
    return value


_CONVERT = {"n_users": int, "n_servers": int, "seed": int, "tau": _float, "best_ms": _float,
            "bound_ms": _float}


def load_library(folder: str | Path | None = None) -> dict[str, Entry]:
    """The library's rows by id (in table order).

    Raises
    ------
    BenchmarkError
        If the table is missing or malformed (naming the row and field).
    """
    folder = LIBRARY_DIR if folder is None else Path(folder)
    path = folder / TABLE_NAME
    rows = _read_rows(path, required=[c for c in COLUMNS if c != "gap_pct"])
    entries: dict[str, Entry] = {}
    for number, row in rows:
        values = {}
        for name in COLUMNS:
            if name == "gap_pct":
                continue
            text = row[name]
            try:
                if name in _CONVERT:
                    convert = _CONVERT[name]
                    values[name] = convert(text, name) if convert is _float else int(text)
                elif name == "best_plan":
                    values[name] = parse_plan(text)
                else:
                    values[name] = text
            except ValueError as exc:
                raise BenchmarkError(f"{path}: row {number}, field {name}: {exc}") from None
        if values["id"] in entries:
            raise BenchmarkError(f"{path}: row {number}, field id: {values['id']!r} repeats")
        entries[values["id"]] = Entry(**values, folder=folder)
    return entries


def _read_rows(path: Path, required) -> list[tuple[int, dict]]:
    """(row number, row) of a CSV file, rows counted from 1 after the header; every ``required``
    column present and every cell of them filled in.

    Raises
    ------
    BenchmarkError
        Naming the file, row and field.
    """
    try:
        # utf-8-sig: a byte-order mark (spreadsheets write one) is not part of the header
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            header = reader.fieldnames or []
            missing = [c for c in required if c not in header]
            if missing:
                raise BenchmarkError(f"{path}: header: missing column(s) {', '.join(missing)} "
                                     f"(found {', '.join(header) or 'none'})")
            rows = []
            for number, row in enumerate(reader, start=1):
                if None in row:
                    raise BenchmarkError(f"{path}: row {number}: more cells than columns")
                for name in required:
                    if row[name] is None or not row[name].strip():
                        raise BenchmarkError(f"{path}: row {number}, field {name}: empty")
                rows.append((number, row))
    except UnicodeDecodeError:
        raise BenchmarkError(f"{path}: not a UTF-8 text file") from None
    except csv.Error as exc:
        raise BenchmarkError(f"{path}: not a CSV file ({exc})") from None
    return rows


# --- check -----------------------------------------------------------------------------------------

@dataclass
class Checked:
    """One checked plan: the library entry, its total delay and what it shows."""

    entry: Entry
    objective_ms: float
    feasible: bool
    gap_best_pct: float
    gap_bound_pct: float
    new_best: bool
    below_bound: bool


def read_solutions(path: str | Path, library: dict[str, Entry]) -> list[tuple[Entry, np.ndarray]]:
    """The (entry, assignment) pairs of a solutions file (columns ``id``, ``assignment``; any
    others ignored).

    Raises
    ------
    BenchmarkError
        One line naming the file, the row and the field: an unknown or repeated id, an
        assignment that is not a string of integers, of the wrong length or with an ES index
        out of range.
    """
    path = Path(path)
    pairs, seen = [], set()
    for number, row in _read_rows(path, required=("id", "assignment")):
        name = row["id"].strip()
        if name not in library:
            raise BenchmarkError(f"{path}: row {number}, field id: {name[:60]!r} is not in the "
                                 f"library")
        if name in seen:
            raise BenchmarkError(f"{path}: row {number}, field id: {name!r} repeats")
        seen.add(name)
        entry = library[name]
        try:
            plan = parse_plan(row["assignment"])
        except ValueError as exc:
            raise BenchmarkError(f"{path}: row {number}, field assignment: {exc}") from None
        if plan.size != entry.n_users:
            raise BenchmarkError(f"{path}: row {number}, field assignment: {plan.size} entries, "
                                 f"instance {name} has {entry.n_users} users")
        bad = np.flatnonzero((plan < -1) | (plan >= entry.n_servers))
        if bad.size:
            raise BenchmarkError(f"{path}: row {number}, field assignment: entry {int(bad[0])} "
                                 f"is {int(plan[bad[0]])}, must be -1 (local) or an ES index "
                                 f"0..{entry.n_servers - 1}")
        pairs.append((entry, plan))
    if not pairs:
        raise BenchmarkError(f"{path}: no rows")
    return pairs


def check_plan(entry: Entry, plan) -> Checked:
    """Evaluate one plan against its library entry (the guard, T by ``instances.evaluate``)."""
    import instances
    from instances.result import relative_gap_pct

    evaluation = instances.evaluate(entry.instance, plan, tau=entry.tau)
    objective = evaluation.total_delay_ms
    feasible = bool(evaluation.feasible)
    return Checked(entry, objective, feasible, relative_gap_pct(objective, entry.best_ms),
                   relative_gap_pct(objective, entry.bound_ms),
                   new_best=feasible and objective < entry.best_ms * (1 - RTOL),
                   below_bound=feasible and objective < entry.bound_ms * (1 - RTOL))


CHECK_HEADERS = ["id", "N", "tau", "T ms", "best ms", "vs best %", "bound ms", "vs bound %",
                 "status", "note"]


def check_report(checked: list[Checked]) -> str:
    """The per-instance table and the totals."""
    lines = []
    for c in checked:
        note = ("INFEASIBLE (guard)" if not c.feasible
                else "BOUND ERROR: below the certified bound" if c.below_bound
                else "new best-known" if c.new_best else "")
        lines.append([c.entry.id, c.entry.n_users, f"{c.entry.tau:g}", c.objective_ms,
                      c.entry.best_ms, c.gap_best_pct, c.entry.bound_ms, c.gap_bound_pct,
                      c.entry.status, note])
    feasible = [c for c in checked if c.feasible]
    text = table(CHECK_HEADERS, lines)
    totals = [["plans", len(checked)], ["feasible", len(feasible)],
              ["infeasible (guard)", len(checked) - len(feasible)],
              ["new best-known", sum(c.new_best for c in feasible)],
              ["below a certified bound (bound errors)", sum(c.below_bound for c in feasible)]]
    if feasible:
        totals += [["mean gap to best-known % (feasible)",
                    float(np.mean([c.gap_best_pct for c in feasible]))],
                   ["worst gap to best-known %", float(np.max([c.gap_best_pct for c in feasible]))],
                   ["mean gap to bound % (feasible)",
                    float(np.mean([c.gap_bound_pct for c in feasible]))],
                   ["worst gap to bound %", float(np.max([c.gap_bound_pct for c in feasible]))],
                   ["at a proven optimum (to 1e-9)",
                    sum(c.entry.status == "optimal" and c.gap_best_pct <= 100 * RTOL
                        for c in feasible)]]
    text += "\n\n" + table(["total", "value"], totals)
    if any(c.below_bound for c in feasible):
        text += ("\n\nBOUND ERROR: a feasible plan lies below a certified lower bound: the bound "
                 "(or the evaluator) is wrong; please report the plan and the instance id.")
    return text


def _check(args) -> int:
    library = load_library(args.library)
    checked = [check_plan(entry, plan) for entry, plan in read_solutions(args.solutions, library)]
    print(check_report(checked))
    bad = any(not c.feasible or c.below_bound for c in checked)
    return 1 if bad else 0


# --- run -------------------------------------------------------------------------------------------

def _select(library: dict[str, Entry], sets, max_users) -> list[Entry]:
    return [e for e in library.values() if (not sets or e.set in sets)
            and (max_users is None or e.n_users <= max_users)]


def _run_method(args) -> int:
    import goa

    methods = [m for m in goa.methods() if m not in goa.ACCURACY_METHODS]
    if args.method not in methods:
        raise BenchmarkError(f"--method: {args.method!r} is not a method of (P); known: "
                             f"{', '.join(methods)}")
    out = Path(args.out or f"results/library-{args.method}.csv")
    if out.is_dir():
        raise BenchmarkError(f"--out: {out} is a folder, not a file; give a file name")
    _check_folder("--out", out.parent)
    entries = _select(load_library(args.library), args.sets, args.max_users)
    if not entries:
        raise BenchmarkError("--sets, --max-users: no library instance selected")
    rows = []
    for entry in entries:
        result = goa.solve(entry.instance, tau=entry.tau, method=args.method, seed=entry.seed)
        rows.append({"id": entry.id, "assignment": format_plan(result.assignment),
                     "objective_ms": result.objective_ms, "runtime_s": result.runtime_s,
                     "method": args.method})
    with staged_output(out.parent) as stage:
        write_csv(stage / out.name, rows, SOLUTION_COLUMNS)
    print(f"{args.method}: {len(rows)} plans written to {out}; check them with "
          f"{PROG} check {out}")
    return 0


# --- build -----------------------------------------------------------------------------------------

def instance_name(set_name: str, interference: str, n: int, seed: int) -> str:
    """The file stem of a library instance: ``paper_N50_seed0``, ``congested_full_N8_seed0``,
    ``none_N200_seed0``."""
    if set_name == "congested":
        return f"congested_{interference}_N{n}_seed{seed}"
    return f"{set_name}_N{n}_seed{seed}"


def entry_id(stem: str, tau: float) -> str:
    """The id of an (instance, tau): ``paper_N50_seed0_tau0.8``."""
    return f"{stem}_tau{tau:g}"


def make_sources(sets, sizes=None) -> list[tuple]:
    """The (set, interference, N, M, seed, taus) drops of the library, in a fixed order.
    ``sizes`` keeps only those N."""
    from benchmarks.certified import PAPER_SIZES, PAPER_TAUS
    from benchmarks.gap import CONGESTED_SERVERS, CONGESTED_SIZES, DEFAULT_TAUS

    sources = []
    if "paper" in sets:
        sources += [("paper", "full", n, PAPER_SERVERS, seed, PAPER_TAUS)
                    for n in PAPER_SIZES for seed in SEEDS]
    if "congested" in sets:
        sources += [("congested", interference, n, CONGESTED_SERVERS, seed, DEFAULT_TAUS)
                    for interference in ("full", "none") for n in CONGESTED_SIZES[interference]
                    for seed in SEEDS]
    if "none" in sets:
        sources += [("none", "none", n, PAPER_SERVERS, seed, NONE_TAUS)
                    for n in NONE_SIZES for seed in NONE_SEEDS]
    return [s for s in sources if not sizes or s[2] in sizes]


def make_instance(set_name: str, interference: str, n: int, m: int, seed: int):
    """A library drop, generated: the paper's preset (the congested set with the quarter of the
    compute of ``benchmarks.gap``)."""
    import instances
    from benchmarks.gap import CONGESTED_OVERRIDES

    overrides = CONGESTED_OVERRIDES if set_name == "congested" else {}
    return instances.generate(n, m, seed=seed, interference=interference, **overrides)


def build_task(task: tuple) -> dict:
    """One (instance, tau): goa_ls's plan, then ``formulations.solve`` ("auto") warm-started from
    it on the work budget; the better plan (re-evaluated) and the exact bound, as a row without
    date and commit."""
    import formulations
    import goa
    import instances
    from benchmarks.common import warm_up

    (set_name, interference, n, m, seed, tau, max_boxes, max_nodes, dual_rounds, time_limit,
     target_gap) = task
    warm_up(exact=True)
    inst = make_instance(set_name, interference, n, m, seed)
    heuristic = goa.solve(inst, tau=tau, method="goa_ls", seed=seed)
    options = budget_options(inst, max_boxes, max_nodes, dual_rounds)
    if target_gap and formulations.auto_backend(inst) == "loadbox":
        options["target_gap"] = target_gap / 100.0
    exact = formulations.solve(inst, tau=tau, time_limit=time_limit,
                               warm_start=heuristic.assignment, **options)
    if exact.bound_ms is None:
        raise RuntimeError(f"{entry_id(instance_name(set_name, interference, n, seed), tau)}: "
                           f"the exact solve gave no bound ({exact.status}: "
                           f"{exact.info.get('error')})")
    best, method = heuristic, "goa_ls"
    if exact.is_feasible() and exact.objective_ms < heuristic.objective_ms:
        best, method = exact, f"exact ({exact.backend})"
    evaluation = instances.evaluate(inst, best.assignment, tau=tau)
    budget = ", ".join(f"{k}={v}" for k, v in options.items()) or "none (runs to its end)"
    work = {"loadbox": "boxes", "bnb": "nodes", "loadvec": "load_vectors"}.get(exact.backend)
    finish = exact.info.get("finish")  # loadvec: "load vectors", or "reduced milp" (then 0 of them)
    stem = instance_name(set_name, interference, n, seed)
    return {"id": entry_id(stem, tau), "instance_file": f"{INSTANCE_FOLDER}/{stem}.json",
            "set": set_name, "interference": interference, "n_users": n, "n_servers": m,
            "seed": seed, "tau": float(tau), "best_ms": evaluation.total_delay_ms,
            "best_plan": format_plan(best.assignment), "best_method": method,
            "bound_ms": float(exact.bound_ms), "bound_method": exact.backend,
            "bound_budget": f"{budget}; cap {time_limit:g} s",
            "bound_work": (f"{exact.info.get(work)} {work}" + (f", then the {finish}" if
                                                                 finish == "reduced milp" else "")
                           if work else ""),
            "status": "optimal" if exact.status == instances.Status.OPTIMAL else "open",
            "exact_status": str(exact.status), "runtime_s": exact.runtime_s}


def merge(old: Entry | None, new: dict, date: str, commit: str) -> dict:
    """The library row after a new result: the better plan and the higher bound (each with
    where it came from); the row's date and commit are those of the run that last improved it.
    """
    from instances.result import relative_gap_pct

    row = {k: new[k] for k in COLUMNS if k in new}
    row.update(date=date, commit=commit)
    if old is None:
        row["gap_pct"] = relative_gap_pct(row["best_ms"], row["bound_ms"])
        return row
    kept = old.row()
    better_plan = new["best_ms"] < old.best_ms * (1 - RTOL)
    better_bound = new["bound_ms"] > old.bound_ms * (1 + RTOL)
    proven = new["status"] == "optimal" and old.status != "optimal"
    if not (better_plan or better_bound or proven):
        return kept
    if not better_plan:
        for key in ("best_ms", "best_plan", "best_method"):
            row[key] = kept[key]
    if not better_bound and not proven:
        for key in ("bound_ms", "bound_method", "bound_budget", "bound_work", "exact_status"):
            row[key] = kept[key]
    row["status"] = "optimal" if "optimal" in (new["status"], old.status) else "open"
    if float(row["bound_ms"]) > float(row["best_ms"]) * (1 + RTOL):
        raise RuntimeError(f"{row['id']}: the new bound ({row['bound_ms']!r} ms) lies above the "
                           f"stored plan ({row['best_ms']!r} ms): one of them is wrong")
    row["gap_pct"] = relative_gap_pct(float(row["best_ms"]), float(row["bound_ms"]))
    return row


def git_commit() -> str:
    """The repository's commit (short hash; ``+dirty`` when the packages have uncommitted
    changes), or ``unknown`` outside a git checkout."""
    root = LIBRARY_DIR.parent
    try:
        head = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=root, text=True,
                              capture_output=True, timeout=30)
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "instances", "goa",
                                "formulations", "benchmarks"], cwd=root, text=True,
                               capture_output=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    if head.returncode != 0:
        return "unknown"
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def _check_folder(option: str, folder: Path) -> None:
    """Before any work: ``folder`` (to be created if missing) is not a file, nor under one."""
    for path in (folder, *folder.parents):
        if path.exists():
            if not path.is_dir():
                raise BenchmarkError(f"{option}: {path} exists and is not a folder")
            return


def _build(args) -> int:
    import instances

    _check_folder("--out", Path(args.out))
    _check_folder("--work", Path(args.work))
    sets = tuple(args.sets or SETS)
    sources = make_sources(sets, args.sizes)
    if not sources:
        raise BenchmarkError("--sizes: no library instance has these sizes")
    if args.target_gap is not None and not (math.isfinite(args.target_gap)
                                            and 0 < args.target_gap < 100):
        raise BenchmarkError(f"--target-gap: must be a number in (0, 100) (a gap in %), got "
                             f"{args.target_gap!r}")
    tasks = [(s, interference, n, m, seed, float(tau), args.max_boxes, args.max_nodes,
              args.dual_rounds, args.time_limit, args.target_gap)
             for s, interference, n, m, seed, taus in sources for tau in taus]
    out = Path(args.out)
    if args.open_only and args.fresh:
        raise BenchmarkError("--open-only: needs the table's statuses; --fresh replaces it")
    if args.min_gap is not None and not args.open_only:
        raise BenchmarkError("--min-gap: selects among the open rows; add --open-only")
    if args.min_gap is not None and not (math.isfinite(args.min_gap) and args.min_gap >= 0):
        raise BenchmarkError(f"--min-gap: must be a finite number >= 0 (a gap in %), got "
                             f"{args.min_gap!r}")
    def task_id(t):
        return entry_id(instance_name(*t[:3], t[4]), t[5])

    if args.ids:  # just these rows
        known = {task_id(t) for t in tasks}
        unknown = [i for i in args.ids if i not in known]
        if unknown:
            raise BenchmarkError(f"--ids: {unknown[0]!r} is not a row of the selected sets and "
                                 f"sizes (an id such as paper_N90_seed2_tau1)")
        tasks = [t for t in tasks if task_id(t) in args.ids]
    old = _table(out, args.fresh)  # read now too, so that a broken table fails before the run
    if args.open_only:  # a longer budget for the rows not yet proven (above --min-gap)
        def wanted(t):
            entry = old.get(task_id(t))
            if entry is None:
                return True
            return entry.status != "optimal" and (args.min_gap is None
                                                  or entry.gap_pct > args.min_gap)
        tasks = [t for t in tasks if wanted(t)]
        if not tasks:
            within = "" if args.min_gap is None else f" or within {args.min_gap:g} %"
            print(f"{PROG} build: every selected row is proven optimal already{within}; "
                  f"nothing to do", file=sys.stderr)
            return 0
    sources = [src for src in sources if any(t[:5] == src[:5] for t in tasks)]
    started = time.perf_counter()
    date = datetime.datetime.now(datetime.timezone.utc).date().isoformat()
    commit = git_commit()  # the code that computes the rows
    print(f"{PROG} build: {len(sources)} drops, {len(tasks)} (instance, tau) tasks, budget "
          f"{args.max_boxes} boxes (loadbox) / {args.max_nodes} nodes (bnb), safety cap "
          f"{args.time_limit:g} s, {describe_executor(args)}; {machine_line()}", file=sys.stderr)
    results = run_tasks(build_task, tasks, out=args.work, args=args, desc="library",
                        task_seconds=args.time_limit)
    (out / INSTANCE_FOLDER).mkdir(parents=True, exist_ok=True)
    for s, interference, n, m, seed, _ in sources:
        path = out / INSTANCE_FOLDER / f"{instance_name(s, interference, n, seed)}.json"
        instances.save(make_instance(s, interference, n, m, seed), path)
    # the table as it is now, not as it was at the start: another build into the same folder
    # may have written its rows meanwhile (long builds run side by side, one per N)
    current = _table(out, args.fresh)
    merged = {entry.id: entry.row() for entry in current.values()}
    for result in results:
        merged[result["id"]] = merge(current.get(result["id"]), result, date, commit)
    rows = [merged[k] for k in _ordered(merged)]
    with staged_output(out) as stage:
        write_csv(stage / TABLE_NAME, rows, COLUMNS)
    elapsed = time.perf_counter() - started
    summary = build_summary(rows)
    print(summary)
    print(f"\nwrote {out / TABLE_NAME} ({len(rows)} rows) and {len(sources)} instance files; "
          f"wall time {elapsed:.1f} s (task time {sum(r['runtime_s'] for r in results):.1f} s "
          f"of exact solves); commit {commit}")
    return 0


def _table(out: Path, fresh: bool) -> dict[str, Entry]:
    """The library's table in ``out`` as it is now (empty without one, or with --fresh)."""
    return load_library(out) if (out / TABLE_NAME).exists() and not fresh else {}


def _ordered(rows: dict) -> list[str]:
    """Ids in the library's order: set (paper, congested, none), interference, N, seed, tau."""
    def key(name):
        r = rows[name]
        return (SETS.index(r["set"]) if r["set"] in SETS else len(SETS), r["interference"],
                int(r["n_users"]), int(r["seed"]), float(r["tau"]))
    return sorted(rows, key=key)


def build_summary(rows: list[dict]) -> str:
    """Per set and N: rows, proven optima, mean and worst certified gap."""
    groups: dict = {}
    for r in rows:
        groups.setdefault((r["set"], r["interference"], int(r["n_users"])), []).append(r)
    lines = []
    for (s, interference, n), members in groups.items():
        gaps = [(float(r["best_ms"]) - float(r["bound_ms"])) / float(r["bound_ms"]) * 100
                for r in members]
        lines.append([s, interference, n, len(members),
                      sum(r["status"] == "optimal" for r in members),
                      float(np.mean(gaps)), float(np.max(gaps))])
    return table(["set", "interference", "N", "rows", "optimal", "mean gap %", "worst gap %"],
                 lines, title="library: certified gap of the best-known plans")


# --- command line ----------------------------------------------------------------------------------

def build_parser() -> Parser:
    parser = Parser(prog=PROG, description="The benchmark library: check plans against it, run "
                                           "a method over it, build it.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    check = sub.add_parser("check", help="check a CSV of plans against the library",
                           description="Check plans (columns id, assignment) against the "
                                       "library: the guard, T by instances.evaluate, the gap to "
                                       "the best-known value and to the certified bound.")
    check.add_argument("solutions", metavar="SOLUTIONS.csv")
    check.add_argument("--library", default=None, metavar="DIR",
                       help="the library folder (default: the repository's library/)")
    run = sub.add_parser("run", help="run a method over the library and write its plans",
                         description="Run one of goa.methods() (a plugin too) on every library "
                                     "instance; write a CSV that 'check' reads.")
    run.add_argument("--method", required=True, help="a method of goa.methods(), e.g. goa_ls")
    run.add_argument("--library", default=None, metavar="DIR",
                     help="the library folder (default: the repository's library/)")
    run.add_argument("--sets", nargs="+", choices=SETS, metavar="SET",
                     help=f"only these sets ({', '.join(SETS)}; default all)")
    run.add_argument("--max-users", type=positive_int, default=None, metavar="N",
                     help="only instances of at most N users")
    run.add_argument("--out", default=None, metavar="FILE",
                     help="the CSV to write (results/library-METHOD.csv)")
    build = sub.add_parser("build", help="compute the library (long: hours at long budgets)",
                           description="Compute best-known plans (goa_ls, the exact search) "
                                       "and certified bounds on the work budget; merge them "
                                       "into the library's table.")
    build.add_argument("--out", default=str(LIBRARY_DIR), metavar="DIR",
                       help="the library folder (the repository's library/)")
    build.add_argument("--work", default="results/library-build", metavar="DIR",
                       help="the task store, for --resume (results/library-build)")
    build.add_argument("--sets", nargs="+", choices=SETS, metavar="SET",
                       help=f"only these sets ({', '.join(SETS)}; default all)")
    build.add_argument("--sizes", nargs="+", type=positive_int, metavar="N",
                       help="only drops of these N")
    build.add_argument("--ids", nargs="+", metavar="ID",
                       help="only these rows (library ids, e.g. paper_N110_seed3_tau1)")
    build.add_argument("--open-only", action="store_true",
                       help="only the rows of the table not yet proven optimal (to give them a "
                            "longer budget)")
    build.add_argument("--min-gap", type=float, metavar="PCT",
                       help="with --open-only: only the open rows whose certified gap is above "
                            "PCT %% (to spend a budget where the gap is largest)")
    build.add_argument("--target-gap", type=float, metavar="PCT",
                       help="'loadbox': stop each search once its certified gap is at most PCT "
                            "%% (a target, not a proof: the row stays open; to bring many rows "
                            "within a gap on one budget)")
    build.add_argument("--fresh", action="store_true",
                       help="replace the table instead of keeping, per row, the better plan "
                            "and the higher bound")
    add_budget_arguments(build)
    add_executor_arguments(build)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code (0 fine, 1 a plan infeasible or below a bound, 2 bad
    input)."""
    args = build_parser().parse_args(argv)
    body = {"check": _check, "run": _run_method, "build": _build}[args.command]
    return run_cli(PROG, lambda: body(args))


if __name__ == "__main__":
    sys.exit(main())
