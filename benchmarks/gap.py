"""``python -m benchmarks.gap``: GOA and every baseline against the exact optimum of (P).

For every instance and tau: every method of ``goa.METHODS`` and the exact solver
(``formulations.solve``, warm-started from the best feasible heuristic). A heuristic's gap is
``(T - T*) / T* x 100`` against the proven optimum T*; where the exact method stopped at its time
limit the gap is taken against its lower bound instead (an upper bound on the true gap) and the
row says so (``reference = bound``). Nothing is dropped.

Outputs in ``--out`` (default ``results/gap``): ``gap.csv`` (one row per instance and method),
``gap.png`` (mean gap per method and N), ``runtime.png`` (mean runtime per method and N, log
scale) and ``summary.txt`` (the tables printed to the terminal).
"""

from __future__ import annotations

import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from benchmarks.common import (
    BenchmarkError, Parser, machine_line, matplotlib_pyplot, non_negative_int, parallel_map,
    positive_float, positive_int, run_cli, staged_output, table, unit_float, warm_up, write_csv)

PROG = "python -m benchmarks.gap"
DEFAULT_SIZES = {"none": (10, 20, 40, 60), "full": (6, 8, 10, 12)}
DEFAULT_TAUS = (0.6, 0.8, 1.0)
DEFAULT_SEEDS = tuple(range(10))
DEFAULT_SERVERS = 4
QUICK_SIZES = {"none": (10, 20), "full": (6, 8)}
QUICK_TAUS = (0.8,)
QUICK_SEEDS = (0, 1)
OPTIMAL_RTOL = 1e-7  # a heuristic within this relative distance of T* counts as optimal

COLUMNS = [
    "instance", "interference", "n_users", "n_servers", "seed", "tau", "method", "status",
    "feasible", "objective_ms", "accuracy_pct", "n_offloaded", "runtime_s", "reference",
    "reference_ms", "gap_pct", "is_optimal", "exact_status", "exact_backend", "exact_bound_ms",
]


def build_parser() -> Parser:
    parser = Parser(prog=PROG, description=__doc__.split("\n\n")[0].split(": ", 1)[1])
    parser.add_argument("--instances", nargs="+", metavar="PATH",
                        help="saved instance files to use instead of the generated default set")
    parser.add_argument("--seeds", nargs="+", type=non_negative_int, metavar="S",
                        help=f"instance seeds of the generated set (default {DEFAULT_SEEDS})")
    parser.add_argument("--tau", nargs="+", type=unit_float, metavar="T",
                        help=f"accuracy-guard thresholds (default {DEFAULT_TAUS})")
    parser.add_argument("--servers", type=positive_int, default=DEFAULT_SERVERS,
                        help="M for the generated set (4)")
    parser.add_argument("--time-limit", type=positive_float, default=60.0, metavar="SECONDS",
                        help="time limit of each exact solve (60)")
    parser.add_argument("--jobs", type=positive_int, default=1,
                        help="parallel processes (results do not depend on it; 1)")
    parser.add_argument("--out", default="results/gap", help="output folder (results/gap)")
    parser.add_argument("--quick", action="store_true",
                        help="a small set: none N 10, 20; full N 6, 8; tau 0.8; seeds 0, 1")
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    args = build_parser().parse_args(argv)
    return run_cli(PROG, lambda: _run(args))


def make_tasks(args) -> list[tuple]:
    """The (source, tau, time limit) tasks of a run, in a fixed order."""
    taus = tuple(args.tau) if args.tau else (QUICK_TAUS if args.quick else DEFAULT_TAUS)
    if args.instances:
        if args.seeds:
            raise BenchmarkError("--seeds: applies to the generated set, not to --instances")
        import instances

        sources = []
        for path in args.instances:
            instances.load(path)  # fail fast, naming the file and field
            sources.append(("file", str(path)))
    else:
        sizes = QUICK_SIZES if args.quick else DEFAULT_SIZES
        seeds = tuple(args.seeds) if args.seeds else (QUICK_SEEDS if args.quick else DEFAULT_SEEDS)
        sources = [("gen", interference, n, args.servers, seed)
                   for interference in ("none", "full") for n in sizes[interference]
                   for seed in seeds]
    return [(source, tau, args.time_limit) for source in sources for tau in taus]


def _load(source: tuple):
    import instances

    if source[0] == "file":
        inst = instances.load(source[1])
        seed = inst.provenance.get("seed")
        return inst, Path(source[1]).name, int(seed) if isinstance(seed, int) else 0
    _, interference, n, m, seed = source
    inst = instances.generate(n, m, seed=seed, interference=interference)
    return inst, f"{interference}_N{n}_M{m}_seed{seed}", seed


def solve_task(task: tuple) -> list[dict]:
    """Solve one instance at one tau with every heuristic and the exact method: CSV rows."""
    import formulations
    import goa
    from instances import Status

    source, tau, time_limit = task
    warm_up(exact=True)
    inst, name, seed = _load(source)
    heuristics = [goa.solve(inst, tau=tau, method=method, seed=seed) for method in goa.METHODS]
    feasible = [r for r in heuristics if r.is_feasible()]
    warm = min(feasible, key=lambda r: r.objective_ms).assignment if feasible else None
    exact = formulations.solve(inst, tau=tau, time_limit=time_limit, warm_start=warm)
    proven = exact.status == Status.OPTIMAL
    if proven:
        reference, reference_ms = "optimum", exact.objective_ms
    elif exact.bound_ms is not None and exact.status in (Status.TIME_LIMIT, Status.UNKNOWN):
        reference, reference_ms = "bound", exact.bound_ms
    else:
        reference, reference_ms = "none", None
    rows = []
    for result in heuristics + [exact]:
        gap = None
        if reference_ms is not None and reference_ms > 0:
            gap = result.gap_to(reference_ms)
        rows.append({
            "instance": name, "interference": inst.interference, "n_users": inst.n_users,
            "n_servers": inst.n_servers, "seed": seed, "tau": tau, "method": result.method,
            "status": str(result.status), "feasible": result.is_feasible(),
            "objective_ms": result.objective_ms, "accuracy_pct": result.accuracy_pct,
            "n_offloaded": result.n_offloaded, "runtime_s": result.runtime_s,
            "reference": reference, "reference_ms": reference_ms, "gap_pct": gap,
            "is_optimal": bool(proven and result.is_feasible() and result.objective_ms
                               <= exact.objective_ms * (1 + OPTIMAL_RTOL)),
            "exact_status": str(exact.status), "exact_backend": exact.backend,
            "exact_bound_ms": exact.bound_ms,
        })
    return rows


def _run(args) -> int:
    tasks = make_tasks(args)
    started = time.perf_counter()
    print(f"{PROG}: {len(tasks)} (instance, tau) tasks, time limit {args.time_limit:g} s per "
          f"exact solve, {args.jobs} job(s); {machine_line()}", file=sys.stderr)
    with staged_output(args.out) as stage:
        rows = [row for rows in parallel_map(solve_task, tasks, args.jobs, "gap") for row in rows]
        report = summarise(rows)
        report += f"\n\nwall time {time.perf_counter() - started:.1f} s"
        write_csv(stage / "gap.csv", rows, COLUMNS)
        (stage / "summary.txt").write_text(report + "\n", encoding="utf-8")
        if not args.no_plots:
            plot(rows, stage)
    print(report)
    print(f"\nwrote {Path(args.out) / 'gap.csv'}, summary.txt"
          + ("" if args.no_plots else ", gap.png, runtime.png"))
    return 0


def _stats(rows: list[dict]) -> list:
    """[feasible n, mean, median, worst gap, % optimal, mean ms, max ms] of one method's rows."""
    gaps = np.array([r["gap_pct"] for r in rows if r["feasible"] and r["gap_pct"] is not None])
    times = np.array([r["runtime_s"] for r in rows]) * 1e3
    n_opt = sum(r["is_optimal"] for r in rows)
    feasible = sum(bool(r["feasible"]) for r in rows)
    if gaps.size == 0:
        return [f"{feasible}/{len(rows)}", None, None, None, None, times.mean(), times.max()]
    return [f"{feasible}/{len(rows)}", gaps.mean(), float(np.median(gaps)), gaps.max(),
            100.0 * n_opt / len(rows), times.mean(), times.max()]


HEADERS = ["method", "feasible", "mean gap %", "median %", "worst %", "optimal %",
           "mean ms", "max ms"]


def summarise(rows: list[dict]) -> str:
    """The per-(interference, N, tau) tables and the summary, as text."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for row in rows:
        groups[(row["interference"], row["n_users"], row["tau"])].append(row)
    blocks = []
    for (interference, n, tau), members in sorted(groups.items()):
        by_method: dict[str, list[dict]] = defaultdict(list)
        for row in members:
            by_method[row["method"]].append(row)
        exact = by_method.pop("exact")
        proven = sum(r["exact_status"] == "optimal" for r in exact)
        title = (f"interference={interference}  N={n}  M={members[0]['n_servers']}  tau={tau:g}  "
                 f"instances={len(exact)}  exact proven optimal {proven}/{len(exact)}"
                 + ("" if proven == len(exact) else "  (others: gap to the exact bound)"))
        lines = [[method] + _stats(rs) for method, rs in by_method.items()]
        lines.append(["exact"] + _stats(exact)[:1] + [None] * 4 + _stats(exact)[5:])
        blocks.append(table(HEADERS, lines, title=title))

    summary_lines = []
    for interference in sorted({r["interference"] for r in rows}):
        by_method = defaultdict(list)
        for row in rows:
            if row["interference"] == interference and row["method"] != "exact":
                by_method[row["method"]].append(row)
        for method, rs in by_method.items():
            summary_lines.append([interference, method] + _stats(rs))
    exact_rows = [r for r in rows if r["method"] == "exact"]
    not_proven = [r for r in exact_rows if r["exact_status"] != "optimal"]
    title = (f"SUMMARY over {len(exact_rows)} (instance, tau) pairs; exact not proven optimal: "
             f"{len(not_proven)}" + "".join(f"\n  {r['instance']} tau={r['tau']:g}: "
                                           f"{r['exact_status']}" for r in not_proven))
    blocks.append(table(["interference"] + HEADERS, summary_lines, title=title))
    return "\n\n".join(blocks)


def plot(rows: list[dict], folder: Path) -> None:
    """gap.png (mean gap per method and N, feasible runs, local-all left out) and runtime.png
    (mean runtime per method and N, log scale)."""
    plt = matplotlib_pyplot()
    interferences = sorted({r["interference"] for r in rows})
    methods = list(dict.fromkeys(r["method"] for r in rows))
    for name, key, ylabel, log in (("gap.png", "gap_pct", "mean gap to optimum [%]", False),
                                   ("runtime.png", "runtime_s", "mean runtime [s]", True)):
        fig, axes = plt.subplots(1, len(interferences), figsize=(6 * len(interferences), 4.2),
                                 squeeze=False)
        for ax, interference in zip(axes[0], interferences):
            for method in methods:
                if key == "gap_pct" and method in ("exact", "local_all"):
                    continue  # local-all's gap (~100-200 %) would flatten every other line
                points = defaultdict(list)
                for r in rows:
                    if r["interference"] == interference and r["method"] == method \
                            and r[key] is not None and (key != "gap_pct" or r["feasible"]):
                        points[r["n_users"]].append(r[key])
                if points:
                    ns = sorted(points)
                    ax.plot(ns, [np.mean(points[n]) for n in ns], marker="o", label=method)
            ax.set_title(f'interference "{interference}"')
            ax.set_xlabel("users N")
            ax.set_ylabel(ylabel)
            if log:
                ax.set_yscale("log")
            ax.grid(True, alpha=0.3)
            ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(folder / name, dpi=120)
        plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
