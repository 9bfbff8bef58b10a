"""``python -m benchmarks.scale``: runtime versus N (log-log) and the fitted slope per method.

Methods: the fast GOA (``goa``), the readable reference GOA (``goa_reference``), d-min, the GA, and
the exact solvers (``exact_none`` on interference "none", ``exact_full`` on "full") while they
prove optimality within ``--time-limit``. Each point is the median of ``--repeats`` timed runs
after one warm-up run (numba compilation excluded) on the instance of seed ``--seed``; a method
stops at the first N where one run takes longer than ``--max-seconds`` (or an exact solve is not
proven optimal). The slope is a least-squares fit of log(time) on log(N) over the points with
N >= ``--fit-from`` (over all points for a method that stops below it). Outputs in ``--out``
(default ``results/scale``): ``scale.csv``,
``scale.png`` and ``summary.txt``. Runs in one process, one point at a time, so that timings do
not compete for the two cores.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from benchmarks.style import plot_style
from benchmarks.common import (
    Parser, machine_line, matplotlib_pyplot, non_negative_int, positive_float, positive_int,
    run_cli, staged_output, table, unit_float, write_csv)
from benchmarks.common import check_instance_memory

PROG = "python -m benchmarks.scale"
METHODS = ("goa", "goa_reference", "goa_ls", "dmin", "ga", "exact_none", "exact_full")
DEFAULT_SIZES = {
    "goa": (50, 100, 200, 500, 1000, 2000, 5000, 10000),
    "goa_reference": (50, 100, 200, 500, 1000, 2000),
    "goa_ls": (50, 100, 200, 500, 1000, 2000, 5000),
    "dmin": (50, 100, 200, 500, 1000, 2000, 5000, 10000),
    "ga": (25, 50, 100, 200, 500),
    "exact_none": (10, 20, 40, 60, 100, 200, 300),
    "exact_full": (6, 8, 10, 12, 14, 16, 20, 24, 30),
}
COLUMNS = ["method", "n_users", "n_servers", "tau", "repeats", "median_s", "min_s", "max_s",
           "status"]


def build_parser() -> Parser:
    parser = Parser(prog=PROG, description="Runtime versus N for GOA, its reference, d-min, "
                                           "the GA and the exact methods.")
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS),
                        help="methods to time (all)")
    parser.add_argument("--users", nargs="+", type=positive_int, metavar="N",
                        help="user counts for every method (default: a ladder per method)")
    parser.add_argument("--servers", type=positive_int, default=4, help="M (4)")
    parser.add_argument("--tau", type=unit_float, default=0.8, help="tau (0.8)")
    parser.add_argument("--seed", type=non_negative_int, default=0, help="instance seed (0)")
    parser.add_argument("--repeats", type=positive_int, default=3,
                        help="timed runs per point, median reported (3)")
    parser.add_argument("--max-seconds", type=positive_float, default=20.0,
                        help="stop a method after a run slower than this (20)")
    parser.add_argument("--time-limit", type=positive_float, default=60.0,
                        help="time limit of each exact solve (60)")
    parser.add_argument("--fit-from", type=positive_int, default=100,
                        help="fit the slope over N >= this (100)")
    parser.add_argument("--out", default="results/scale", help="output folder (results/scale)")
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG plot")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    args = build_parser().parse_args(argv)
    return run_cli(PROG, lambda: _run(args))


def _runner(method: str, args):
    """A function instance -> (seconds, status) for one timed run of ``method``."""
    import formulations
    import goa

    if method == "goa_reference":
        def run(inst):
            started = time.perf_counter()
            goa.reference_goa(inst, args.tau)
            return time.perf_counter() - started, "feasible"
        return run
    if method.startswith("exact"):
        def run(inst):
            result = formulations.solve(inst, tau=args.tau, time_limit=args.time_limit)
            return result.runtime_s, str(result.status)
        return run
    name = method

    def run(inst):
        result = goa.solve(inst, tau=args.tau, method=name, seed=args.seed)
        return result.runtime_s, str(result.status)
    return run


def measure(method: str, sizes, args, progress) -> list[dict]:
    """Time ``method`` at increasing N until it gets too slow."""
    import instances

    interference = "none" if method == "exact_none" else "full"
    run = _runner(method, args)
    rows = []
    for n in sizes:
        inst = instances.generate(n, args.servers, seed=args.seed, interference=interference)
        run(inst)  # warm-up: numba compilation, solver start-up
        times, statuses = [], []
        for _ in range(1 if method.startswith("exact") else args.repeats):
            seconds, status = run(inst)
            times.append(seconds)
            statuses.append(status)
        progress.update(1)
        rows.append({"method": method, "n_users": n, "n_servers": args.servers, "tau": args.tau,
                     "repeats": len(times), "median_s": float(np.median(times)),
                     "min_s": min(times), "max_s": max(times), "status": statuses[-1]})
        if max(times) > args.max_seconds or (method.startswith("exact")
                                             and statuses[-1] != "optimal"):
            break
    return rows


def fitted_slope(rows: list[dict], fit_from: int) -> float | None:
    """Least-squares slope of log(median time) on log(N) over N >= fit_from, or over every point
    when fewer than two reach fit_from (None with fewer than two points)."""
    points = [(r["n_users"], r["median_s"]) for r in rows
              if r["median_s"] > 0 and r["status"] != "time_limit"]
    if sum(n >= fit_from for n, _ in points) >= 2:
        points = [(n, t) for n, t in points if n >= fit_from]
    if len(points) < 2:
        return None
    x, y = np.log([p[0] for p in points]), np.log([p[1] for p in points])
    return float(np.polyfit(x, y, 1)[0])


def _run(args) -> int:
    from tqdm import tqdm

    plan = {m: (tuple(args.users) if args.users else DEFAULT_SIZES[m]) for m in args.methods}
    largest = max(n for sizes in plan.values() for n in sizes)
    check_instance_memory(largest, args.servers, f"--users {largest}, --servers {args.servers}")
    print(f"{PROG}: methods {list(plan)}, M = {args.servers}, tau = {args.tau:g}; "
          f"{machine_line()}", file=sys.stderr)
    started = time.perf_counter()
    with staged_output(args.out) as stage:
        rows = []
        with tqdm(total=sum(len(s) for s in plan.values()), desc="scale", unit="point",
                  file=sys.stderr) as progress:
            for method, sizes in plan.items():
                rows += measure(method, sizes, args, progress)
        slopes = {m: fitted_slope([r for r in rows if r["method"] == m], args.fit_from)
                  for m in plan}
        lines = [[r["method"], r["n_users"], r["median_s"], r["min_s"], r["max_s"], r["status"]]
                 for r in rows]
        report = table(["method", "N", "median s", "min s", "max s", "status"], lines,
                       title=f"Runtime versus N (M = {args.servers}, tau = {args.tau:g})")
        report += "\n\n" + table(
            ["method", f"slope (N >= {args.fit_from})", "largest N timed"],
            [[m, slopes[m], max((r["n_users"] for r in rows if r["method"] == m), default=None)]
             for m in plan], title="Fitted log-log slope: time ~ N^slope")
        report += f"\n\nwall time {time.perf_counter() - started:.1f} s"
        write_csv(stage / "scale.csv", rows, COLUMNS)
        (stage / "summary.txt").write_text(report + "\n", encoding="utf-8")
        if not args.no_plots:
            plot(rows, plan, slopes, stage)
    print(report)
    print(f"\nwrote {Path(args.out)}/scale.csv, summary.txt" + ("" if args.no_plots else ", scale.png"))
    return 0


def plot(rows, plan, slopes, folder: Path) -> None:
    """scale.png: median runtime versus N, log-log, one line per method."""
    plt = matplotlib_pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for method in plan:
        points = [(r["n_users"], r["median_s"]) for r in rows if r["method"] == method]
        if points:
            slope = slopes[method]
            label = method + ("" if slope is None else f" (slope {slope:.2f})")
            ax.plot(*zip(*points), **plot_style(method, label=label))
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("users N")
    ax.set_ylabel("runtime [s]")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(folder / "scale.png", dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
