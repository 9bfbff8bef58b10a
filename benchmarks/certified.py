"""``python -m benchmarks.certified``: certified gaps of the heuristics under "full" interference.

For every instance and tau: each heuristic (goa, edge_all, dmin, ga, goa_ls) and then ``formulations.solve`` with backend "auto" (the load-vector
boxes above 20 users, the user-level B&B up to 20), warm-started from the best heuristic plan. A
heuristic's certified gap is ``(T - LB) / LB x 100`` with LB the exact solver's lower bound: an
upper bound on how far the plan is from the optimum ("<= x %"), exact when the solver proved its
optimum. The exact solver's own plan is listed too (method ``exact``).

Every exact solve runs on a work budget (``--max-boxes`` for the load-vector boxes,
``--max-nodes`` for the B&B), so the bounds and statuses are the same on every machine, with
any ``--jobs``, executor or ``--resume``; the wall clock (``--time-limit``) is only a safety cap,
and a solve it stops (status ``time_limit``) is flagged in the summary.

``--set paper``: the paper's grid, N = 50, 60, ..., 120 and tau = 0.6, 0.7, 0.8, 0.9, 1.0
(40 points), seeds 0, 1, 2.

Outputs in ``--out`` (default ``results/certified``): ``certified.csv`` (one row per instance,
tau and method), ``certified.png`` (mean certified gap per method and N, one panel per tau),
``certified_by_n.png`` (certified gap against N per method, mean and worst over every tau and
seed) and ``summary.txt`` (the tables printed to the terminal).
"""

from __future__ import annotations

import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from benchmarks.common import (
    Parser, add_budget_arguments, budget_options, cap_note, machine_line, matplotlib_pyplot,
    non_negative_int, positive_int, run_cli, staged_output, table, unit_float, warm_up,
    write_csv)
from benchmarks.common import check_instance_memory
from benchmarks.style import plot_style
from instances.law import COSTS_HELP, LAW_HELP, law_option
from benchmarks.executor import add_executor_arguments, describe_executor, run_tasks

PROG = "python -m benchmarks.certified"
DEFAULT_SIZES = (50, 80, 120)
DEFAULT_TAUS = (0.6, 0.8, 1.0)
DEFAULT_SEEDS = (0, 1, 2)
DEFAULT_SERVERS = 4
QUICK_SIZES = (20, 30)
QUICK_TAUS = (0.8,)
QUICK_SEEDS = (0,)
PAPER_SIZES = tuple(range(50, 121, 10))
PAPER_TAUS = (0.6, 0.7, 0.8, 0.9, 1.0)
PAPER_SEEDS = (0, 1, 2)
HEURISTICS = ("goa", "edge_all", "dmin", "ga", "goa_ls")
# A feasible plan more than this far (percent) below the exact lower bound is a bug, not
# rounding: the bounds carry a relative safety margin of 1e-9 at most.
BELOW_BOUND_PCT = 1e-7

COLUMNS = [
    "instance", "n_users", "n_servers", "seed", "tau", "method", "status", "feasible",
    "objective_ms", "runtime_s", "bound_ms", "gap_upper_pct", "bound_status", "bound_backend",
    "bound_time_s", "boxes", "open_boxes", "nodes",
]


def build_parser() -> Parser:
    parser = Parser(prog=PROG, description=__doc__.split("\n\n")[0].split(": ", 1)[1])
    parser.add_argument("--sizes", nargs="+", type=positive_int, metavar="N",
                        help=f"numbers of users (default {' '.join(map(str, DEFAULT_SIZES))})")
    parser.add_argument("--seeds", nargs="+", type=non_negative_int, metavar="S",
                        help=f"instance seeds (default {' '.join(map(str, DEFAULT_SEEDS))})")
    parser.add_argument("--tau", nargs="+", type=unit_float, metavar="T",
                        help=f"accuracy-guard thresholds (default {' '.join(map(str, DEFAULT_TAUS))})")
    parser.add_argument("--servers", type=positive_int, default=DEFAULT_SERVERS,
                        help="M (4)")
    add_budget_arguments(parser)
    parser.add_argument("--out", default=None,
                        help="output folder (results/certified; with --quick "
                             "results/certified-quick)")
    parser.add_argument("--quick", action="store_true",
                        help="a small set: N 20, 30; tau 0.8; seed 0")
    parser.add_argument("--set", choices=("default", "paper"), default="default",
                        help="default: N 50 80 120, tau 0.6 0.8 1.0, seeds 0-2; paper: the "
                             "paper's 40 points, N 50, 60, ..., 120 x tau 0.6, 0.7, 0.8, 0.9, "
                             "1.0, seeds 0-2 (--sizes, --tau, --seeds override either)")
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG plot")
    parser.add_argument("--law", default="ps", metavar="LAW", help=LAW_HELP)
    parser.add_argument("--costs", default="paper", choices=("paper", "roofline"),
                        help=COSTS_HELP)
    add_executor_arguments(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    args = build_parser().parse_args(argv)
    return run_cli(PROG, lambda: _run(args))


def make_tasks(args) -> list[tuple]:
    """The (N, M, seed, tau, time cap, max boxes, max nodes, dual rounds, methods, law) tasks of
    a run, in a fixed order; the law is plain data (:func:`instances.law.law_doc`, None for
    "ps")."""
    if args.quick:
        sizes, seeds, taus = QUICK_SIZES, QUICK_SEEDS, QUICK_TAUS
    elif args.set == "paper":
        sizes, seeds, taus = PAPER_SIZES, PAPER_SEEDS, PAPER_TAUS
    else:
        sizes, seeds, taus = DEFAULT_SIZES, DEFAULT_SEEDS, DEFAULT_TAUS
    sizes = tuple(args.sizes) if args.sizes else sizes
    seeds = tuple(args.seeds) if args.seeds else seeds
    taus = tuple(args.tau) if args.tau else taus
    import goa

    # the fixed set, then every method registered in goa/plugins: part of every task, so that
    # a plugin added or removed makes other tasks (and other keys in the task store)
    methods = HEURISTICS + goa.registered_methods()
    law = law_option(args.law, [(n, args.servers) for n in sizes], args.costs)
    # costs "paper" adds nothing to a task: the default tasks keep their keys in the store
    costs = ("roofline",) if args.costs == "roofline" else ()
    return [(n, args.servers, seed, tau, args.time_limit, args.max_boxes, args.max_nodes,
             args.dual_rounds, methods, law) + costs
            for n in sizes for tau in taus for seed in seeds]


def solve_task(task: tuple) -> list[dict]:
    """Every heuristic and the bound on one instance at one tau: CSV rows."""
    import formulations
    import goa
    import instances

    from instances.law import law_from_doc

    n, m, seed, tau, time_limit, max_boxes, max_nodes, dual_rounds, methods, *rest = task
    law, costs = (list(rest) + [None, "paper"][len(rest):])[:2]
    warm_up(exact=True)
    inst = instances.generate(n, m, seed=seed, interference="full", costs=costs,
                              law=law_from_doc(law, n, m))
    name = ("" if costs == "paper" else f"{costs}_") + f"full_N{n}_M{m}_seed{seed}"
    heuristics = [goa.solve(inst, tau=tau, method=method, seed=seed) for method in methods]
    feasible = [r for r in heuristics if r.is_feasible()]
    warm = min(feasible, key=lambda r: r.objective_ms).assignment if feasible else None
    exact = formulations.solve(inst, tau=tau, time_limit=time_limit, warm_start=warm,
                               **budget_options(inst, max_boxes, max_nodes, dual_rounds))
    bound = exact.bound_ms
    rows = []
    for result in heuristics + [exact]:
        gap = result.gap_to(bound) if bound is not None and bound > 0 else None
        if gap is not None and result.is_feasible() and gap < -BELOW_BOUND_PCT:
            # a plan that keeps the guard below a proven lower bound: one of them is wrong
            raise RuntimeError(f"{name} tau={tau}: {result.method}'s feasible plan "
                               f"({result.objective_ms!r} ms) is below the exact lower bound "
                               f"({bound!r} ms, {exact.backend}): a bug in the bound or the "
                               f"evaluator")
        rows.append({
            "instance": name, "n_users": n, "n_servers": m, "seed": seed, "tau": tau,
            "method": result.method, "status": str(result.status),
            "feasible": result.is_feasible(), "objective_ms": result.objective_ms,
            "runtime_s": result.runtime_s, "bound_ms": bound,
            "gap_upper_pct": gap,
            "bound_status": str(exact.status), "bound_backend": exact.backend,
            "bound_time_s": exact.runtime_s, "boxes": exact.info.get("boxes"),
            "open_boxes": exact.info.get("open_boxes"), "nodes": exact.info.get("nodes"),
        })
    return rows


def _run(args) -> int:
    if args.out is None:
        args.out = "results/certified-quick" if args.quick else "results/certified"
    tasks = make_tasks(args)
    largest = max(task[0] for task in tasks)
    check_instance_memory(largest, args.servers, f"--sizes {largest}, --servers {args.servers}",
                          args.jobs)
    started = time.perf_counter()
    print(f"{PROG}: {len(tasks)} (instance, tau) tasks, budget {args.max_boxes} boxes "
          f"(loadbox{', dual ' + str(args.dual_rounds) + ' rounds' if args.dual_rounds else ''}) / {args.max_nodes} nodes (bnb) per bound, safety cap "
          f"{args.time_limit:g} s, {describe_executor(args)}, law {args.law}, "
          f"costs {args.costs}; {machine_line()}",
          file=sys.stderr)
    with staged_output(args.out) as stage:
        rows = [row for rows in run_tasks(solve_task, tasks, out=args.out, args=args,
                                          desc="certified", task_seconds=args.time_limit)
                for row in rows]
        report = summarise(rows)
        note = cap_note(r["bound_status"] for r in rows if r["method"] == "exact")
        if note:
            report += "\n\n" + note
        report += f"\n\nwall time {time.perf_counter() - started:.1f} s; {machine_line()}"
        write_csv(stage / "certified.csv", rows, COLUMNS)
        (stage / "summary.txt").write_text(report + "\n", encoding="utf-8")
        if not args.no_plots:
            plot(rows, stage)
            plot_by_n(rows, stage)
    print(report)
    print(f"\nwrote {Path(args.out) / 'certified.csv'}, summary.txt"
          + ("" if args.no_plots else ", certified.png, certified_by_n.png"))
    return 0


HEADERS = ["method", "feasible", "mean T ms", "mean gap <= %", "worst gap <= %", "mean s"]


def _stats(rows: list[dict]) -> list:
    """[feasible n, mean T, mean and worst certified gap of the feasible runs, mean runtime]."""
    feasible = [r for r in rows if r["feasible"]]
    gaps = np.array([r["gap_upper_pct"] for r in feasible if r["gap_upper_pct"] is not None])
    objective = np.mean([r["objective_ms"] for r in rows])
    runtime = np.mean([r["runtime_s"] for r in rows])
    if gaps.size == 0:
        return [f"{len(feasible)}/{len(rows)}", objective, None, None, runtime]
    return [f"{len(feasible)}/{len(rows)}", objective, gaps.mean(), gaps.max(), runtime]


def summarise(rows: list[dict]) -> str:
    """One table per (N, tau) and a summary per N, as text."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for row in rows:
        groups[(row["n_users"], row["tau"])].append(row)
    blocks = []
    for (n, tau), members in sorted(groups.items()):
        by_method: dict[str, list[dict]] = defaultdict(list)
        for row in members:
            by_method[row["method"]].append(row)
        exact = by_method["exact"]
        statuses = defaultdict(int)
        for r in exact:
            statuses[r["bound_status"]] += 1
        title = (f"N={n}  M={members[0]['n_servers']}  tau={tau:g}  instances={len(exact)}  "
                 f"bound by {exact[0]['bound_backend']}: "
                 + ", ".join(f"{k} {v}" for k, v in sorted(statuses.items()))
                 + f"  mean bound time {np.mean([r['bound_time_s'] for r in exact]):.1f} s")
        lines = [[method] + _stats(rs) for method, rs in by_method.items()]
        blocks.append(table(HEADERS, lines, title=title))
    best_lines = []
    for n in sorted({r["n_users"] for r in rows}):
        per_instance = defaultdict(list)
        for r in rows:
            if r["n_users"] == n and r["feasible"] and r["gap_upper_pct"] is not None \
                    and r["method"] != "exact":
                per_instance[(r["instance"], r["tau"])].append(r["gap_upper_pct"])
        best = np.array([min(v) for v in per_instance.values()])
        exact = [r for r in rows if r["n_users"] == n and r["method"] == "exact"]
        exact_gaps = np.array([r["gap_upper_pct"] for r in exact])
        best_lines.append([n, len(exact), best.mean() if best.size else None,
                           best.max() if best.size else None, exact_gaps.mean(),
                           exact_gaps.max(), np.mean([r["bound_time_s"] for r in exact])])
    blocks.append(table(["N", "pairs", "best heuristic mean <= %", "worst <= %",
                         "exact plan mean <= %", "worst <= %", "bound s"], best_lines,
                        title="SUMMARY: certified gap of the best heuristic plan and of the "
                              "exact solver's plan, per N"))
    return "\n\n".join(blocks)


def plot(rows: list[dict], folder: Path) -> None:
    """certified.png: mean certified gap (upper bound) per method and N, one panel per tau."""
    plt = matplotlib_pyplot()
    taus = sorted({r["tau"] for r in rows})
    methods = list(dict.fromkeys(r["method"] for r in rows))
    fig, axes = plt.subplots(1, len(taus), figsize=(5 * len(taus), 4.2), squeeze=False)
    for ax, tau in zip(axes[0], taus):
        for method in methods:
            points = defaultdict(list)
            for r in rows:
                if r["tau"] == tau and r["method"] == method and r["feasible"] \
                        and r["gap_upper_pct"] is not None:
                    points[r["n_users"]].append(r["gap_upper_pct"])
            if points:
                ns = sorted(points)
                ax.plot(ns, [np.mean(points[n]) for n in ns], **plot_style(method))
        ax.set_title(f"tau = {tau:g}")
        ax.set_xlabel("users N")
        ax.set_ylabel("certified gap <= [%]")
        ax.set_yscale("symlog", linthresh=1.0)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(folder / "certified.png", dpi=120)
    plt.close(fig)


def plot_by_n(rows: list[dict], folder: Path) -> None:
    """certified_by_n.png: certified gap (upper bound, %) against N per method, the mean over
    every (tau, seed) as a line and the worst as a marker above it; plus the number of proven
    optima per N."""
    plt = matplotlib_pyplot()
    methods = [m for m in dict.fromkeys(r["method"] for r in rows)]
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4.4),
                                 gridspec_kw={"width_ratios": [2.2, 1]})
    for method in methods:
        points = defaultdict(list)
        for r in rows:
            if r["method"] == method and r["feasible"] and r["gap_upper_pct"] is not None:
                points[r["n_users"]].append(r["gap_upper_pct"])
        if not points:
            continue
        ns = sorted(points)
        style = plot_style(method)
        ax.plot(ns, [np.mean(points[n]) for n in ns], **style)
        ax.scatter(ns, [np.max(points[n]) for n in ns], marker="^", s=14,
                   color=style.get("color"), alpha=0.6)
    ax.set_xlabel("users N")
    ax.set_ylabel("certified gap <= [%]  (line: mean, ^: worst)")
    ax.set_yscale("symlog", linthresh=1.0)
    ax.axhline(1.0, color="grey", lw=0.8, ls=":")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    exact = [r for r in rows if r["method"] == "exact"]
    ns = sorted({r["n_users"] for r in exact})
    proven = [sum(r["bound_status"] == "optimal" for r in exact if r["n_users"] == n) for n in ns]
    total = [sum(1 for r in exact if r["n_users"] == n) for n in ns]
    bx.bar([str(n) for n in ns], total, color="#dddddd", label="(instance, tau) pairs")
    bx.bar([str(n) for n in ns], proven, color="#2c7fb8", label="proven optimal")
    bx.set_xlabel("users N")
    bx.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(folder / "certified_by_n.png", dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
