"""``python -m benchmarks.patience``: tune goa_ls's default patience on hold-out seeds.

Defaults are tuned on instance seeds >= 1000 and reported on the published seeds 0, 1, ...
(never the same). This CLI measures, for every patience of ``--grid``, what the rule that
picks the default looks at, and applies the rule:

- **"full"** (the paper's preset, M = 4, N = 50, 60, ..., 120, tau 0.6, 0.8, 1.0): goa_ls at each
  patience against the GA with the paper's settings (seed = instance seed). At each N, p*(N) is
  the smallest patience with which goa_ls is no worse than the GA (1e-9 relative) on at least
  ``--share`` (90 %) of the (instance, tau) pairs; the default is ``max(3, ceil(c / N))`` with c
  the smallest multiple of 10 that gives at least p*(N) at every N measured.
- **"none"** (the gap benchmark's default set under "none": M = 4, N = 10, 20, 40, 60, the same
  taus): goa_ls at each patience against the proven optimum (``formulations.solve``); the
  default is the smallest patience whose mean gap is at most ``--none-goal`` (0.05 %) at every
  N.

Outputs in ``--out`` (default ``results/patience``): ``patience.csv`` (one row per instance,
tau and patience, plus the GA's or the optimum's row) and ``summary.txt``. Runs on the executor
layer (``--jobs``, Dask, ``--resume``); every figure but the runtimes is independent of where it
runs.
"""

from __future__ import annotations

import math
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from benchmarks.common import (
    BenchmarkError, Parser, machine_line, non_negative_int, positive_float, positive_int,
    run_cli, staged_output, table, warm_up, write_csv)
from benchmarks.executor import add_executor_arguments, describe_executor, run_tasks

PROG = "python -m benchmarks.patience"
HOLD_OUT_SEEDS = tuple(range(1000, 1010))
FULL_SIZES = tuple(range(50, 121, 10))
NONE_SIZES = (10, 20, 40, 60)
TAUS = (0.6, 0.8, 1.0)
GRID = (2, 3, 4, 5, 6, 8, 10, 20, 30, 50, 80)
SERVERS = 4
COLUMNS = ["interference", "n_users", "seed", "tau", "method", "patience", "objective_ms",
           "runtime_s", "reference_ms", "gap_pct", "no_worse"]


def build_parser() -> Parser:
    parser = Parser(prog=PROG, description="Tune goa_ls's default patience on hold-out seeds.")
    parser.add_argument("--seeds", nargs="+", type=non_negative_int, metavar="S",
                        default=list(HOLD_OUT_SEEDS),
                        help="instance seeds (default 1000 to 1009: hold-out; the published "
                             "seeds 0.. are for reporting, never for tuning)")
    parser.add_argument("--grid", nargs="+", type=positive_int, default=list(GRID),
                        metavar="P", help="patiences tried (default "
                        + " ".join(map(str, GRID)) + ")")
    parser.add_argument("--models", nargs="+", choices=("full", "none"),
                        default=["full", "none"], help="interference models (both)")
    parser.add_argument("--share", type=positive_float, default=90.0,
                        help='"full": share of pairs (%%) on which goa_ls must be no worse '
                             "than the GA (90)")
    parser.add_argument("--none-goal", type=positive_float, default=0.05, metavar="PCT",
                        help='"none": the largest mean gap to the optimum, in %% (0.05)')
    parser.add_argument("--time-limit", type=positive_float, default=60.0, metavar="SECONDS",
                        help='"none": time limit of each exact solve (60)')
    parser.add_argument("--out", default="results/patience",
                        help="output folder (results/patience)")
    add_executor_arguments(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code (2 for a bad option, with one line on stderr)."""
    return run_cli(PROG, lambda: _run(build_parser().parse_args(argv)))


def patience_task(task: tuple) -> list[dict]:
    """One (model, N, seed, tau, grid, exact time limit): the reference (the GA under "full",
    the proven optimum under "none") and goa_ls at every patience of the grid, as CSV rows."""
    import formulations
    import goa
    import instances

    interference, n, seed, tau, grid, time_limit = task
    warm_up(exact=interference == "none")
    inst = instances.generate(n, SERVERS, seed=seed, interference=interference)
    base = {"interference": interference, "n_users": n, "seed": seed, "tau": tau}
    if interference == "full":
        reference = goa.solve(inst, tau=tau, method="ga", seed=seed)
        name = "ga"
    else:
        reference = formulations.solve(inst, tau=tau, time_limit=time_limit)
        if reference.status != instances.Status.OPTIMAL:
            raise RuntimeError(f"{interference} N={n} seed={seed} tau={tau}: the exact solve "
                               f"ended {reference.status}, no optimum to tune against")
        name = "exact"
    ref_ms = reference.objective_ms
    rows = [{**base, "method": name, "patience": None, "objective_ms": ref_ms,
             "runtime_s": reference.runtime_s, "reference_ms": ref_ms, "gap_pct": 0.0,
             "no_worse": True}]
    for patience in grid:
        result = goa.solve(inst, tau=tau, method="goa_ls", seed=seed, patience=patience)
        rows.append({**base, "method": "goa_ls", "patience": patience,
                     "objective_ms": result.objective_ms, "runtime_s": result.runtime_s,
                     "reference_ms": ref_ms, "gap_pct": result.gap_to(ref_ms),
                     "no_worse": bool(result.objective_ms <= ref_ms * (1 + 1e-9))})
    return rows


def full_rule(rows: list[dict], share_pct: float) -> tuple[dict, int | None]:
    """({N: p*(N) or None}, c): see the module docstring."""
    need = {}
    for n in sorted({r["n_users"] for r in rows}):
        need[n] = None
        for p in sorted({r["patience"] for r in rows if r["patience"] is not None}):
            cell = [r for r in rows if r["n_users"] == n and r["patience"] == p]
            if 100.0 * np.mean([r["no_worse"] for r in cell]) >= share_pct:
                need[n] = p
                break
    if not need or any(p is None for p in need.values()):
        return need, None
    c = 10
    while any(max(3, math.ceil(c / n)) < p for n, p in need.items()):
        c += 10
    return need, c


def none_rule(rows: list[dict], goal_pct: float) -> int | None:
    """The smallest patience whose mean gap is at most ``goal_pct`` at every N."""
    for p in sorted({r["patience"] for r in rows if r["patience"] is not None}):
        means = [np.mean([r["gap_pct"] for r in rows if r["n_users"] == n and r["patience"] == p])
                 for n in sorted({r["n_users"] for r in rows})]
        if max(means) <= goal_pct:
            return p
    return None


def summarise(rows: list[dict], share_pct: float, goal_pct: float) -> str:
    """Tables per model, N and patience, and the rule's choice."""
    blocks = []
    for model in ("full", "none"):
        mine = [r for r in rows if r["interference"] == model and r["method"] == "goa_ls"]
        if not mine:
            continue
        cells = defaultdict(list)
        for r in mine:
            cells[(r["n_users"], r["patience"])].append(r)
            cells[("all", r["patience"])].append(r)
        lines = []
        for (n, p), rs in sorted(cells.items(), key=lambda item: (item[0][0] == "all",
                                                                   str(item[0][0]).zfill(6),
                                                                   item[0][1])):
            gaps = np.array([r["gap_pct"] for r in rs])
            lines.append([n, p, len(rs), 100.0 * np.mean([r["no_worse"] for r in rs]),
                          gaps.mean(), gaps.max(), 1e3 * np.mean([r["runtime_s"] for r in rs]),
                          1e3 * np.max([r["runtime_s"] for r in rs])])
        ref = "GA" if model == "full" else "optimum"
        blocks.append(table(["N", "patience", "pairs", f"<= {ref} %", f"mean gap to {ref} %",
                             "worst %", "mean ms", "max ms"], lines,
                            title=f'interference "{model}": goa_ls against the {ref}'))
        if model == "full":
            need, c = full_rule(mine, share_pct)  # per N (the "all" rows are a summary)
            text = ", ".join(f"N={n}: {p}" for n, p in need.items())
            blocks.append(f'"full" rule: smallest patience with goa_ls <= GA on >= '
                          f"{share_pct:g} % of the pairs: {text}; default max(3, ceil(c / N)) "
                          f"with c = {c}" + ("" if c is not None else " (no patience of the "
                                             "grid meets the share at some N)"))
        else:
            p = none_rule(mine, goal_pct)
            blocks.append(f'"none" rule: smallest patience with mean gap <= {goal_pct:g} % at '
                          f"every N: {p}")
    return "\n\n".join(blocks)


def _run(args) -> int:
    if len(set(args.grid)) != len(args.grid):
        raise BenchmarkError("--grid: a patience is given twice")
    grid = sorted(args.grid)
    tasks = []
    for model in args.models:
        sizes = FULL_SIZES if model == "full" else NONE_SIZES
        tasks += [(model, n, seed, tau, grid, args.time_limit) for n in sizes
                  for seed in args.seeds for tau in TAUS]
    started = time.perf_counter()
    print(f"{PROG}: {len(tasks)} (instance, tau) tasks, seeds {args.seeds[0]}..{args.seeds[-1]}"
          f", patiences {grid}, {describe_executor(args)}; {machine_line()}", file=sys.stderr)
    with staged_output(args.out) as stage:
        rows = [row for rows in run_tasks(patience_task, tasks, out=args.out, args=args,
                                          desc="patience") for row in rows]
        text = summarise(rows, args.share, args.none_goal)
        text += f"\n\nwall time {time.perf_counter() - started:.1f} s; {machine_line()}"
        write_csv(stage / "patience.csv", rows, COLUMNS)
        (stage / "summary.txt").write_text(text + "\n", encoding="utf-8")
    print(text)
    print(f"\nwrote {Path(args.out) / 'patience.csv'}, summary.txt")
    return 0


if __name__ == "__main__":
    sys.exit(main())
