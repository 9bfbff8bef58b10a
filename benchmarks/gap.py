"""``python -m benchmarks.gap``: GOA, goa_ls and every baseline against the exact optimum of (P).

For every instance and tau: every (P) method of ``goa.methods()`` (the built-in ones and those
registered in ``goa/plugins``) and the exact solver
(``formulations.solve``, warm-started from the best feasible heuristic). A heuristic's gap is
``(T - T*) / T* x 100`` against the proven optimum T*; where the exact method stopped at its work
budget (or, flagged, at the wall-clock safety cap) the gap is taken against its lower bound
instead (an upper bound on the true gap) and the row says so (``reference = bound``). Nothing is
dropped. The exact solves run on work budgets (``--max-boxes``, ``--max-nodes``), so every CSV
column but the runtimes is the same on every machine, with any ``--jobs``, executor or
``--resume``; ``--time-limit`` is only a safety cap.

Two generated sets: ``default`` (the paper's preset, M = 4: interference "none" at N = 10..60,
"full" at N = 6..12) and ``congested`` (M = 2 servers with a quarter of the preset's compute
``server_flops``, "full" at N = 8, 12, 16 and "none" at N = 12, 20, 30): there the servers are
scarce, so that the optimum keeps a real share of the users local (17-45 %; the
tables report the mean number offloaded by the optimum and by each method).

Outputs in ``--out`` (default ``results/gap``, ``results/gap-quick`` with ``--quick``,
``results/gap-instances`` with ``--instances``, so that a run on your files never replaces the
main job's): ``gap.csv`` (one row per instance and method), ``gap.png`` (mean gap per method and
N), ``runtime.png`` (mean runtime per method and N, log scale) and ``summary.txt`` (the tables
printed to the terminal, with the legend of their columns); with ``--plot-plans``, ``plans/``:
one picture per (instance, tau) of the exact method's plan (``instances.plot``).
"""

from __future__ import annotations

import json
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from benchmarks.common import (
    BenchmarkError, Parser, add_budget_arguments, budget_options, cap_note,
    check_instance_memory, machine_line, matplotlib_pyplot, non_negative_int, positive_int,
    run_cli, staged_output, table, unit_float, warm_up, write_csv)
from benchmarks.executor import add_executor_arguments, describe_executor, run_tasks
from benchmarks.style import legend_below, plot_style
from instances.law import COSTS_HELP, LAW_HELP, law_option

PROG = "python -m benchmarks.gap"
DEFAULT_SIZES = {"none": (10, 20, 40, 60), "full": (6, 8, 10, 12)}
DEFAULT_TAUS = (0.6, 0.8, 1.0)
DEFAULT_SEEDS = tuple(range(10))
DEFAULT_SERVERS = 4
QUICK_SIZES = {"none": (10, 20), "full": (6, 8)}
QUICK_TAUS = (0.8,)
QUICK_SEEDS = (0, 1)
OPTIMAL_RTOL = 1e-7  # a heuristic within this relative distance of T* counts as optimal

# The congested set: two servers with a quarter of the preset's compute each (the paper's
# C_j = 10 x 1513e12 x U(0.6, 1.4) FLOP/s becomes 2.5 x 1513e12 x U(0.6, 1.4)), so that past
# a few users per server the compute share C_j / n_j falls below the per-user cap and every
# extra user slows all the others; the optimum then keeps 17-45 % of the users local
# (measured: 17 % at "full" N = 8 up to 45 % at "none" N = 30, mean over seeds 0-9 and tau).
CONGESTED_SERVERS = 2
CONGESTED_OVERRIDES = {"server_flops": 10 * 1513e12 / 4}
CONGESTED_SIZES = {"none": (12, 20, 30), "full": (8, 12, 16)}
QUICK_CONGESTED_SIZES = {"none": (12,), "full": (8,)}
SETS = ("default", "congested")

COLUMNS = [
    "set", "instance", "interference", "n_users", "n_servers", "seed", "tau", "method",
    "status", "feasible", "objective_ms", "accuracy_pct", "n_offloaded", "runtime_s",
    "reference", "reference_ms", "gap_pct", "is_optimal", "exact_status", "exact_backend",
    "exact_bound_ms", "optimum_offloaded",
]


def _plain(values) -> str:
    """A default for --help as a plain list: ``0.6 0.8 1.0``."""
    return " ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in values)


def build_parser() -> Parser:
    parser = Parser(prog=PROG, description=__doc__.split("\n\n")[0].split(": ", 1)[1])
    parser.add_argument("--instances", nargs="+", metavar="PATH",
                        help="saved instance files to use instead of the generated default set")
    parser.add_argument("--seeds", nargs="+", type=non_negative_int, metavar="S",
                        help=f"instance seeds of the generated sets (default "
                             f"{_plain(DEFAULT_SEEDS)}; --quick {_plain(QUICK_SEEDS)})")
    parser.add_argument("--tau", nargs="+", type=unit_float, metavar="T",
                        help=f"accuracy-guard thresholds (default {_plain(DEFAULT_TAUS)}; "
                             f"--quick {_plain(QUICK_TAUS)})")
    parser.add_argument("--sets", nargs="+", choices=SETS, default=list(SETS), metavar="SET",
                        help=f"generated sets to run: {' or '.join(SETS)} (default "
                             f"{_plain(SETS)})")
    parser.add_argument("--servers", type=positive_int, default=DEFAULT_SERVERS,
                        help=f"M for the default set ({DEFAULT_SERVERS}; the congested set "
                             f"has {CONGESTED_SERVERS})")
    add_budget_arguments(parser)
    parser.add_argument("--out", default=None,
                        help="output folder (results/gap; with --quick results/gap-quick; with "
                             "--instances results/gap-instances)")
    parser.add_argument("--quick", action="store_true",
                        help="a small run: default set none N 10 20, full N 6 8; congested "
                             "none N 12, full N 8; tau 0.8; seeds 0 1")
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    parser.add_argument("--law", default=None, metavar="LAW",
                        help=LAW_HELP + "; with --instances, the files' own laws by default")
    parser.add_argument("--costs", default="paper", choices=("paper", "roofline"),
                        help=COSTS_HELP)
    parser.add_argument("--plot-plans", action="store_true",
                        help="also draw the exact method's plan of every (instance, tau) into "
                             "OUT/plans/ (users, ESs, who offloads where)")
    add_executor_arguments(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    args = build_parser().parse_args(argv)
    if args.out is None:
        args.out = default_out(args)
    return run_cli(PROG, lambda: _run(args))


def default_out(args) -> str:
    """The output folder when ``--out`` is not given: one per kind of run, so that a run on
    saved files or a quick run never replaces the main job's results."""
    if args.instances:
        return "results/gap-instances"
    return "results/gap-quick" if args.quick else "results/gap"


def make_tasks(args) -> list[tuple]:
    """The (source, tau, time limit, max boxes, max nodes, dual rounds, methods, law) tasks of
    a run, in a fixed order. ``methods`` are the heuristics of (P) registered here and now (the
    built-in ones and goa/plugins'): part of every task, so that a plugin added or removed
    makes other tasks (and other keys in the task store). The law is plain data
    (:func:`instances.law.law_doc`: None for the instances' own law, "ps" for the generated
    ones) that a worker on another machine can read."""
    import goa

    methods = tuple(m for m in goa.methods() if m not in goa.ACCURACY_METHODS)
    taus = tuple(args.tau) if args.tau else (QUICK_TAUS if args.quick else DEFAULT_TAUS)
    if args.instances:
        if args.seeds:
            raise BenchmarkError("--seeds: applies to the generated set, not to --instances")
        import instances

        sources, shapes = [], []
        for path in args.instances:
            inst = instances.load(path)  # fail fast, naming the file and field
            shapes.append((inst.n_users, inst.n_servers))
            # the file's contents, not its path: a worker on another machine runs the task
            sources.append(("file", Path(path).name, Path(path).read_text(encoding="utf-8")))
    else:
        seeds = tuple(args.seeds) if args.seeds else (QUICK_SEEDS if args.quick else DEFAULT_SEEDS)
        if "default" in args.sets:
            check_instance_memory(max(DEFAULT_SIZES["none"]), args.servers,
                                  f"--servers {args.servers}", args.jobs)
        sources = []
        for name in SETS:
            if name not in args.sets:
                continue
            if name == "default":
                sizes, servers = (QUICK_SIZES if args.quick else DEFAULT_SIZES), args.servers
            else:
                sizes = QUICK_CONGESTED_SIZES if args.quick else CONGESTED_SIZES
                servers = CONGESTED_SERVERS
            # costs "paper" adds nothing to the source: the default tasks keep their keys
            costs = ("roofline",) if args.costs == "roofline" else ()
            sources += [("gen", name, interference, n, servers, seed) + costs
                        for interference in ("none", "full") for n in sizes[interference]
                        for seed in seeds]
        shapes = sorted({(source[3], source[4]) for source in sources})
    # None: each instance's own law ("ps" for the generated sets); "ps" or a table: forced
    if args.instances and args.costs != "paper":
        raise BenchmarkError("--costs: applies to the generated sets, not to --instances")
    law = None if args.law is None else (
        law_option(args.law, shapes, None if args.instances else args.costs) or "ps")
    return [(source, tau, args.time_limit, args.max_boxes, args.max_nodes, args.dual_rounds,
             methods, law) for source in sources for tau in taus]


def _load(source: tuple, law=None):
    """(instance, name, seed, set name) of a task's source, under ``law`` (plain data of
    :func:`instances.law.law_doc`; None keeps the instance's own)."""
    import instances
    from instances.law import law_from_doc

    if source[0] == "file":
        from instances.io import from_dict

        inst = from_dict(json.loads(source[2]), source=source[1])
        if law is not None:  # --law given: it replaces the file's own law
            inst = inst.with_law(law_from_doc(law, inst.n_users, inst.n_servers))
        seed = inst.provenance.get("seed")
        return inst, source[1], int(seed) if isinstance(seed, int) else 0, "file"
    _, name, interference, n, m, seed, *costs = source
    overrides = CONGESTED_OVERRIDES if name == "congested" else {}
    costs = costs[0] if costs else "paper"
    if costs == "roofline":  # the roofline sets the ES compute the congested set overrides
        overrides = {}
    inst = instances.generate(n, m, seed=seed, interference=interference, costs=costs,
                              law=law_from_doc(law, n, m), **overrides)
    prefix = ("" if name == "default" else f"{name}_") + ("" if costs == "paper" else f"{costs}_")
    return inst, f"{prefix}{interference}_N{n}_M{m}_seed{seed}", seed, name


def solve_task(task: tuple) -> list[dict]:
    """Solve one instance at one tau with every heuristic and the exact method: CSV rows."""
    import formulations
    import goa
    from instances import Status

    source, tau, time_limit, max_boxes, max_nodes, dual_rounds, methods, law = task
    warm_up(exact=True)
    inst, name, seed, set_name = _load(source, law)
    # the task's (P) methods, the registered ones (goa.plugins) included; (P_A): benchmarks.pareto
    heuristics = [goa.solve(inst, tau=tau, method=method, seed=seed) for method in methods]
    feasible = [r for r in heuristics if r.is_feasible()]
    warm = min(feasible, key=lambda r: r.objective_ms).assignment if feasible else None
    exact = formulations.solve(inst, tau=tau, time_limit=time_limit, warm_start=warm,
                               **budget_options(inst, max_boxes, max_nodes, dual_rounds))
    proven = exact.status == Status.OPTIMAL
    if proven:
        reference, reference_ms = "optimum", exact.objective_ms
    elif exact.bound_ms is not None and exact.status in (
            Status.TIME_LIMIT, Status.WORK_LIMIT, Status.UNKNOWN):
        reference, reference_ms = "bound", exact.bound_ms
    else:
        reference, reference_ms = "none", None
    optimum_offloaded = exact.n_offloaded if proven else None
    rows = []
    for result in heuristics + [exact]:
        gap = None
        if reference_ms is not None and reference_ms > 0:
            gap = result.gap_to(reference_ms)
        rows.append({
            "set": set_name, "instance": name, "interference": inst.interference,
            "n_users": inst.n_users,
            "n_servers": inst.n_servers, "seed": seed, "tau": tau, "method": result.method,
            "status": str(result.status), "feasible": result.is_feasible(),
            "objective_ms": result.objective_ms, "accuracy_pct": result.accuracy_pct,
            "n_offloaded": result.n_offloaded, "runtime_s": result.runtime_s,
            "reference": reference, "reference_ms": reference_ms, "gap_pct": gap,
            "is_optimal": bool(proven and result.is_feasible() and result.objective_ms
                               <= exact.objective_ms * (1 + OPTIMAL_RTOL)),
            "exact_status": str(exact.status), "exact_backend": exact.backend,
            "exact_bound_ms": exact.bound_ms, "optimum_offloaded": optimum_offloaded,
        })
    # not a CSV column: the exact method's plan, for --plot-plans
    rows[-1]["plan"] = None if exact.assignment is None else [int(a) for a in exact.assignment]
    return rows


def _run(args) -> int:
    tasks = make_tasks(args)
    started = time.perf_counter()
    print(f"{PROG}: {len(tasks)} (instance, tau) tasks, budget {args.max_boxes} boxes "
          f"(loadbox{', dual ' + str(args.dual_rounds) + ' rounds' if args.dual_rounds else ''}) / {args.max_nodes} nodes (bnb) per exact solve, safety cap "
          f"{args.time_limit:g} s, {describe_executor(args)}, law {args.law or 'of each instance'}, "
          f"costs {args.costs}; "
          f"{machine_line()}", file=sys.stderr)
    with staged_output(args.out) as stage:
        results = run_tasks(solve_task, tasks, out=args.out, args=args, desc="gap",
                            task_seconds=args.time_limit)
        rows = [row for rows in results for row in rows]
        report = summarise(rows)
        note = cap_note(r["exact_status"] for r in rows if r["method"] == "exact")
        if note:
            report += "\n\n" + note
        report += f"\n\nwall time {time.perf_counter() - started:.1f} s"
        write_csv(stage / "gap.csv", rows, COLUMNS)
        (stage / "summary.txt").write_text(report + "\n", encoding="utf-8")
        if not args.no_plots:
            plot(rows, stage)
        drawn = plot_plans(tasks, results, stage / "plans") if args.plot_plans else 0
    print(report)
    print(f"\nwrote {Path(args.out) / 'gap.csv'}, summary.txt"
          + ("" if args.no_plots else ", gap.png, runtime.png")
          + (f", plans/ ({drawn} pictures)" if args.plot_plans else ""))
    return 0


def plot_plans(tasks: list[tuple], results: list[list[dict]], folder: Path) -> int:
    """One picture per (instance, tau) task: the exact method's plan on the drop
    (:func:`instances.plot.plot_plan`), named ``INSTANCE_tauT.png``; returns how many (a task
    whose exact method returned no plan has none)."""
    from instances.plot import plot_plan

    folder.mkdir()
    drawn = 0
    for task, rows in zip(tasks, results):
        exact = rows[-1]
        if exact.get("plan") is None:
            continue
        inst, name, _, _ = _load(task[0])
        stem = Path(name).stem if name.endswith(".json") else name
        label = f"{name}: exact ({exact['exact_status']})"
        plot_plan(inst, exact["plan"], folder / f"{stem}_tau{task[1]:g}.png", tau=task[1],
                  label=label)
        drawn += 1
    return drawn


def _stats(rows: list[dict]) -> list:
    """[feasible n, mean, median, worst gap, % optimal, mean offloaded, mean ms, max ms] of one
    method's rows (gaps over its feasible rows with a reference)."""
    gaps = np.array([r["gap_pct"] for r in rows if r["feasible"] and r["gap_pct"] is not None])
    times = np.array([r["runtime_s"] for r in rows]) * 1e3
    offloaded = float(np.mean([r["n_offloaded"] for r in rows]))
    n_opt = sum(r["is_optimal"] for r in rows)
    feasible = sum(bool(r["feasible"]) for r in rows)
    if gaps.size == 0:
        return [f"{feasible}/{len(rows)}", None, None, None, None, offloaded, times.mean(),
                times.max()]
    return [f"{feasible}/{len(rows)}", gaps.mean(), float(np.median(gaps)), gaps.max(),
            100.0 * n_opt / len(rows), offloaded, times.mean(), times.max()]


HEADERS = ["method", "feasible", "mean gap %", "median %", "worst %", "optimal %", "offloaded",
           "mean ms", "max ms"]

LEGEND = """Columns: feasible = results that keep the accuracy guard / all results; mean gap %,
median %, worst % = (T - T*) / T* x 100 over the feasible results, T* the proven optimum (or
the exact method's lower bound where it hit its time limit: then an upper bound on the gap);
optimal % = share of all results within 1e-7 (relative) of a proven optimum; offloaded = mean
number of users offloaded (on the exact row: by the exact solution, the optimum when proven);
mean ms, max ms = runtime of the algorithm alone (numba loading excluded). "-" = no value: no
feasible result, or no reference to measure a gap against. local-all is infeasible whenever a
user is forced (alpha > tau). Rows are grouped by set, interference model, N, M and tau; the
SUMMARY pools every N and tau of a set and model."""


def summarise(rows: list[dict]) -> str:
    """The per-(set, interference, N, tau) tables, the summary and the legend, as text."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for row in rows:
        groups[(row["set"], row["interference"], row["n_users"], row["tau"])].append(row)
    blocks = []
    for (set_name, interference, n, tau), members in sorted(groups.items()):
        by_method: dict[str, list[dict]] = defaultdict(list)
        for row in members:
            by_method[row["method"]].append(row)
        exact = by_method.pop("exact")
        proven = sum(r["exact_status"] == "optimal" for r in exact)
        optimum = [r["optimum_offloaded"] for r in exact if r["optimum_offloaded"] is not None]
        local_share = (f"  optimum keeps {100 * (1 - np.mean(optimum) / n):.0f} % local"
                       if optimum else "")
        title = (f"set={set_name}  interference={interference}  N={n}  "
                 f"M={members[0]['n_servers']}  tau={tau:g}  instances={len(exact)}  "
                 f"exact proven optimal {proven}/{len(exact)}" + local_share
                 + ("" if proven == len(exact) else "  (others: gap to the exact bound)"))
        lines = [[method] + _stats(rs) for method, rs in by_method.items()]
        exact_stats = _stats(exact)
        lines.append(["exact"] + exact_stats[:1] + [None] * 4 + exact_stats[5:])
        blocks.append(table(HEADERS, lines, title=title))

    summary_lines = []
    for set_name, interference in sorted({(r["set"], r["interference"]) for r in rows}):
        by_method = defaultdict(list)
        for row in rows:
            if (row["set"], row["interference"]) == (set_name, interference):
                by_method[row["method"]].append(row)
        exact = by_method.pop("exact")
        for method, rs in by_method.items():
            summary_lines.append([set_name, interference, method] + _stats(rs))
        exact_stats = _stats(exact)
        summary_lines.append([set_name, interference, "exact"] + exact_stats[:1] + [None] * 4
                             + exact_stats[5:])
    exact_rows = [r for r in rows if r["method"] == "exact"]
    not_proven = [r for r in exact_rows if r["exact_status"] != "optimal"]
    title = (f"SUMMARY over {len(exact_rows)} (instance, tau) pairs; exact not proven optimal: "
             f"{len(not_proven)}" + "".join(f"\n  {r['instance']} tau={r['tau']:g}: "
                                           f"{r['exact_status']}" for r in not_proven))
    blocks.append(table(["set", "interference"] + HEADERS, summary_lines, title=title))
    blocks.append(LEGEND)
    return "\n\n".join(blocks)


def plot(rows: list[dict], folder: Path) -> None:
    """gap.png (mean gap per method and N over seeds and tau, feasible runs, local-all left
    out) and runtime.png (mean runtime per method and N, log scale); one panel per set and
    interference model, each method in its project-wide style (benchmarks.style)."""
    plt = matplotlib_pyplot()
    panels = sorted({(r["set"], r["interference"]) for r in rows})
    methods = list(dict.fromkeys(r["method"] for r in rows))
    for name, key, ylabel, log in (
            ("gap.png", "gap_pct", "gap to the optimum [%]\n(mean over seeds and tau, "
             "feasible results)", False),
            ("runtime.png", "runtime_s", "runtime [s]\n(mean over seeds and tau)", True)):
        cols = min(2, len(panels))
        rows_n = -(-len(panels) // cols)
        fig, axes = plt.subplots(rows_n, cols, figsize=(6.0 * cols, 4.4 * rows_n),
                                 squeeze=False)
        for ax in axes.flat[len(panels):]:
            ax.set_visible(False)
        for ax, (set_name, interference) in zip(axes.flat, panels):
            for method in methods:
                if key == "gap_pct" and method in ("exact", "local_all"):
                    continue  # local-all's gap (~100-200 %) would flatten every other line
                points = defaultdict(list)
                for r in rows:
                    if (r["set"], r["interference"], r["method"]) == (set_name, interference,
                                                                       method) \
                            and r[key] is not None and (key != "gap_pct" or r["feasible"]):
                        points[r["n_users"]].append(r[key])
                if points:
                    ns = sorted(points)
                    ax.plot(ns, [np.mean(points[n]) for n in ns], ms=6, alpha=0.9,
                            **plot_style(method))
            servers = sorted({r["n_servers"] for r in rows
                              if (r["set"], r["interference"]) == (set_name, interference)})
            ax.set_title(f'{set_name} set, interference "{interference}", '
                         f'M = {", ".join(map(str, servers))}', fontsize=9)
            ax.set_xlabel("users N")
            ax.set_ylabel(ylabel, fontsize=8)
            if log:
                ax.set_yscale("log")
            else:  # linear below 0.01 %, logarithmic above: 0.01 % and 30 % both readable
                ax.set_yscale("symlog", linthresh=0.01)
                ax.set_ylim(bottom=0.0, top=max(1.0, ax.get_ylim()[1]))
            ax.grid(True, alpha=0.3)
        legend_below(fig, axes.flat[:len(panels)])
        fig.savefig(folder / name, dpi=120)
        plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
