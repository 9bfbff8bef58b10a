"""``python -m benchmarks.compare``: goa_ls against the GA and GOA at the paper's scale.

Protocol: the paper's preset, interference "full", M = 4, N = 50, 60, ..., 120, tau in
{0.6, 0.8, 1.0}, instance seeds 0-9 (``--seeds``); on each (instance, tau): GOA, the GA with the
paper's settings (seed = instance seed) and goa_ls with its defaults (seed = instance seed), or
``--patience``. Every objective is ``instances.evaluate``'s T; runtimes are the algorithm alone,
after the kernels are loaded. Prints a fixed-width table per (N, tau) and overall: the share of
instances where goa_ls <= GA (to 1e-9 relative), where it is strictly better, the mean
difference (goa_ls - GA) in ms and in %, and mean runtimes.

Outputs in ``--out`` (default ``results/compare``): ``compare.csv`` (one row per instance, tau
and method) and ``summary.txt``. The tasks run on the executor layer
(:mod:`benchmarks.executor`: ``--jobs``, Dask, ``--resume``); results do not depend on where
they run, runtimes aside.
"""

from __future__ import annotations

import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from benchmarks.common import (
    Parser, machine_line, non_negative_int, positive_int, run_cli, staged_output, table,
    unit_float, warm_up, write_csv)
from benchmarks.common import check_instance_memory
from benchmarks.executor import add_executor_arguments, describe_executor, run_tasks

PROG = "python -m benchmarks.compare"
METHODS = ("goa", "ga", "goa_ls")
SIZES = tuple(range(50, 121, 10))
TAUS = (0.6, 0.8, 1.0)
SEEDS = tuple(range(10))
SERVERS = 4
COLUMNS = ("n_users", "seed", "tau", "method", "objective_ms", "n_offloaded", "runtime_s",
           "feasible")


def build_parser() -> Parser:
    parser = Parser(prog=PROG, description="goa_ls against the GA and GOA at the paper's scale.")
    parser.add_argument("--sizes", nargs="+", type=positive_int, default=list(SIZES),
                        metavar="N", help="numbers of users (default "
                        + " ".join(map(str, SIZES)) + ")")
    parser.add_argument("--tau", nargs="+", type=unit_float, default=list(TAUS), metavar="T",
                        help="thresholds (default " + " ".join(f"{t:g}" for t in TAUS) + ")")
    parser.add_argument("--seeds", nargs="+", type=non_negative_int, default=list(SEEDS),
                        metavar="S", help="instance seeds (default 0 to 9)")
    parser.add_argument("--patience", type=positive_int, default=None,
                        help="goa_ls patience (default: goa.solve's, goa.solve.ls_patience)")
    parser.add_argument("--out", default="results/compare",
                        help="output folder (results/compare)")
    add_executor_arguments(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code (2 for a bad option, with one line on stderr)."""
    return run_cli(PROG, lambda: _run(build_parser().parse_args(argv)))


def compare_task(task: tuple) -> list[dict]:
    """One (N, seed, tau, goa_ls patience or None): GOA, the GA and goa_ls, as CSV rows."""
    import goa
    import instances

    n, seed, tau, patience = task
    warm_up()
    inst = instances.generate(n, SERVERS, seed=seed, interference="full")
    rows = []
    for method in METHODS:
        options = {"patience": patience} if method == "goa_ls" and patience else {}
        result = goa.solve(inst, tau=tau, method=method, seed=seed, **options)
        rows.append({"n_users": n, "seed": seed, "tau": tau, "method": method,
                     "objective_ms": result.objective_ms, "n_offloaded": result.n_offloaded,
                     "runtime_s": result.runtime_s, "feasible": int(result.is_feasible())})
    return rows


def _line(label: str, members: list[dict]) -> list:
    by = defaultdict(dict)
    for r in members:
        by[(r["n_users"], r["seed"], r["tau"])][r["method"]] = r
    ls = np.array([v["goa_ls"]["objective_ms"] for v in by.values()])
    ga = np.array([v["ga"]["objective_ms"] for v in by.values()])
    base = np.array([v["goa"]["objective_ms"] for v in by.values()])
    time_ms = {m: 1e3 * np.mean([v[m]["runtime_s"] for v in by.values()]) for m in METHODS}
    return [label, len(ls), 100.0 * np.mean(ls <= ga * (1 + 1e-9)),
            100.0 * np.mean(ls < ga * (1 - 1e-9)), float(np.mean(ls - ga)),
            100.0 * float(np.mean((ls - ga) / ga)), 100.0 * float(np.mean((base - ls) / base)),
            time_ms["goa"], time_ms["ga"], time_ms["goa_ls"]]


HEADERS = ["N, tau", "inst", "ls<=GA %", "ls<GA %", "ls-GA ms", "ls-GA %", "vs GOA %",
           "GOA ms", "GA ms", "ls ms"]
LEGEND = ("ls<=GA %: share of instances where goa_ls's T is at most the GA's (1e-9 relative); "
          "ls<GA %: strictly lower;\nls-GA: mean T difference (negative: goa_ls better); vs GOA "
          "%: mean T reduction of goa_ls from GOA's; runtimes: mean algorithm time.")


def report(rows: list[dict]) -> str:
    """The table: per (N, tau), then all instances, and the legend."""
    groups = defaultdict(list)
    for r in rows:
        groups[(r["n_users"], r["tau"])].append(r)
    lines = [_line(f"{n}, {tau:g}", members) for (n, tau), members in sorted(groups.items())]
    lines.append(_line("all", rows))
    return table(HEADERS, lines) + "\n" + LEGEND


def _run(args) -> int:
    check_instance_memory(max(args.sizes), SERVERS, f"--sizes {max(args.sizes)}",
                          getattr(args, "jobs", 1))
    tasks = [(n, seed, float(tau), args.patience) for n in args.sizes for seed in args.seeds
             for tau in args.tau]
    started = time.perf_counter()
    print(f"{PROG}: {len(tasks)} (instance, tau) tasks, {describe_executor(args)}; "
          f"{machine_line()}", file=sys.stderr)
    with staged_output(args.out) as stage:
        rows = [row for rows in run_tasks(compare_task, tasks, out=args.out, args=args,
                                          desc="compare") for row in rows]
        text = ("benchmarks.compare: interference 'full', M = 4, the paper's preset; GA with the "
                "paper's settings; goa_ls " + (f"patience {args.patience}" if args.patience
                                               else "defaults") + "\n" + report(rows))
        text += f"\n\nwall time {time.perf_counter() - started:.1f} s; {machine_line()}"
        write_csv(stage / "compare.csv", rows, COLUMNS)
        (stage / "summary.txt").write_text(text + "\n", encoding="utf-8")
    print(text)
    print(f"\nwrote {Path(args.out) / 'compare.csv'}, summary.txt")
    return 0


if __name__ == "__main__":
    sys.exit(main())
