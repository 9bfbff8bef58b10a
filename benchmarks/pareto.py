"""``python -m benchmarks.pareto``: the accuracy-delay trade-off: the exact front of (P_A) against
GOA's tau-sweep and the baselines (docs/model.md sections 8.1-8.2).

Scenarios (M = 4, paper preset, seeds 0, 1, 2 by default): N = 50 under interference "none" and
N = 12 under "full". Per instance:

- the exact front. "none": the supported points (``formulations.front.supported_front``:
  weighted sums T - mu S solved as (P) with modified local delays, a dichotomic search; each
  point exact, each solve a proven cut, the cuts a lower bound on the front everywhere), then
  ``--levels`` values of A evenly spaced from the (P) optimum's expected accuracy (below it
  the front is flat at T*) to the best reachable one, and GOA's own expected accuracies. At a
  level where the supported point reaching it meets the cuts, it is the optimum; at GOA's
  accuracies and at the widest open grid levels, until the instance has ``--exact-points``
  exact points, (P_A) is solved by HiGHS (``formulations.front.front_at``: warm start from
  the supported point, the cuts a bound; an optimal plan also settles every level up to its
  own accuracy); the other levels are reported as proven brackets (status "bounded": the
  supported point's plan, the cut as bound). "full": the whole exact
  staircase by one subset search (``formulations.front.exact_front``), also read at the
  same levels;
- GOA's tau-sweep (tau = 0, 0.05, ..., 1), acc_greedy at every level, d-min, random
  (tau = 0.8), local-all, edge-all;
- an oracle router that knows the realized correctness: it offloads exactly the queries the LLM
  answers right and the SLM wrong, placed by the unweighted greedy. No deployable policy can
  know this: it is an upper envelope of realized accuracy, not a competitor.

Both accuracies are reported: expected (mean calibrated p, what (P_A) constrains) and realized
(mean 0/1 correctness). The tau table compares GOA with the front at GOA's own point: the delay
the front saves at GOA's expected accuracy and the expected accuracy it gains at GOA's delay
(means over seeds, 95 % CIs). Under "full" both are exact; under "none" the delay saved is exact
(the front is solved at GOA's accuracy) and the accuracy gained a lower bound (the front is
known at its points only).

Outputs in ``--out`` (default ``results/pareto``; ``--quick``: ``results/pareto-quick``):
``pareto.csv`` (one row per plan), ``tau_table.csv``, ``calibration.csv``, ``pareto.png`` (front
versus points, both accuracies, first seed), ``reliability.png`` (reliability diagrams with ECE)
and ``summary.txt``.

This module is the command line; the task phases are :mod:`benchmarks.pareto_tasks`, the
comparison, tables and plots :mod:`benchmarks.pareto_report`.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from benchmarks.common import (
    DEFAULT_SAFETY_CAP_S, Parser, cap_note, machine_line, non_negative_int, positive_float,
    positive_int, run_cli, staged_output, write_csv)
from benchmarks.executor import add_executor_arguments, describe_executor, run_tasks
from benchmarks.pareto_report import below_front, calibration_rows, plot, summarise, tau_table
from benchmarks.pareto_tasks import front_task, heuristics_task

PROG = "python -m benchmarks.pareto"
SCENARIOS = (("none", 50), ("full", 12))
QUICK_SCENARIOS = (("none", 16), ("full", 8))
DEFAULT_SEEDS = (0, 1, 2)
QUICK_SEEDS = (0,)
#: Default work budget of each (P_A) solve at a front level (HiGHS nodes).
DEFAULT_FRONT_NODES = 20_000

COLUMNS = ["interference", "n_users", "n_servers", "seed", "method", "tau", "min_accuracy",
           "status", "objective_ms", "bound_ms", "expected_accuracy_pct",
           "realized_accuracy_pct", "n_offloaded", "runtime_s"]
TAU_COLUMNS = ["interference", "n_users", "tau", "seeds", "goa_delay_ms", "goa_expected_pct",
               "saved_ms", "saved_ms_ci95", "saved_pct", "saved_pct_ci95", "gained_pp",
               "gained_pp_ci95", "front"]


def build_parser() -> Parser:
    parser = Parser(prog=PROG, description="The accuracy-delay trade-off: the exact front of "
                                           "(P_A) against GOA's tau-sweep and the baselines.")
    parser.add_argument("--seeds", nargs="+", type=non_negative_int, metavar="S",
                        help=f"instance seeds (default {' '.join(map(str, DEFAULT_SEEDS))})")
    parser.add_argument("--levels", type=positive_int, default=None,
                        help="values of A on the front grid (21; --quick 6)")
    parser.add_argument("--max-nodes", type=positive_int, default=DEFAULT_FRONT_NODES,
                        metavar="K",
                        help="work budget of each (P_A) solve at a front level: HiGHS "
                             f"branch-and-bound nodes ({DEFAULT_FRONT_NODES}); a solve it "
                             "stops is reported as work_limit with its bound")
    parser.add_argument("--time-limit", type=positive_float, default=DEFAULT_SAFETY_CAP_S,
                        metavar="SECONDS",
                        help="wall-clock safety cap of each exact solve; results it stops "
                             "(status time_limit) depend on the machine and are flagged "
                             f"({DEFAULT_SAFETY_CAP_S:g})")
    parser.add_argument("--exact-points", type=non_negative_int, default=20, metavar="K",
                        help='"none": solve (P_A) at the widest open grid levels until an '
                             'instance has K exact front points, supported points included; '
                             'the other levels are reported as proven brackets (20)')
    parser.add_argument("--out", default=None,
                        help="output folder (results/pareto; --quick: results/pareto-quick)")
    parser.add_argument("--quick", action="store_true",
                        help="a small run: none N 16, full N 8, seed 0, 6 levels")
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    add_executor_arguments(parser)
    parser.set_defaults(jobs=2)  # the default run takes about 1.5 min on 2 processes
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    args = build_parser().parse_args(argv)
    return run_cli(PROG, lambda: _run(args))


def _run(args) -> int:
    scenarios = QUICK_SCENARIOS if args.quick else SCENARIOS
    seeds = tuple(args.seeds) if args.seeds else (QUICK_SEEDS if args.quick else DEFAULT_SEEDS)
    n_levels = args.levels or (6 if args.quick else 21)
    out = args.out or ("results/pareto-quick" if args.quick else "results/pareto")
    started = time.perf_counter()
    print(f"{PROG}: scenarios {scenarios}, seeds {list(seeds)}, {n_levels} levels, "
          f"budget {args.max_nodes} HiGHS nodes per (P_A) solve, safety cap "
          f"{args.time_limit:g} s per exact solve, {describe_executor(args)}; "
          f"{machine_line()}", file=sys.stderr)
    with staged_output(out) as stage:
        tasks = [(interference, n, seed, n_levels, args.time_limit, args.exact_points)
                 for interference, n in scenarios for seed in seeds]
        done = run_tasks(heuristics_task, tasks, out=out, args=args, desc="instances")
        rows = [row for d in done for row in d["rows"]]
        front_tasks = [(*task[:3], *probe, args.time_limit, args.max_nodes)
                       for task, d in zip(tasks, done) for probe in d["probes"]]
        rows += [row for rs in run_tasks(front_task, front_tasks, out=out, args=args,
                                         desc="front (P_A)", next_phase=True)
                 for row in rs]
        taus = tau_table(rows)
        problems = below_front(rows)
        calibration, ece = calibration_rows([d["queries"] for d in done])
        report = summarise(rows, taus, ece, problems)
        note = cap_note(r["status"] for r in rows
                        if r["method"] in ("front", "front_corner", "front_supported"))
        if note:
            report += "\n\n" + note
        report += f"\n\nwall time {time.perf_counter() - started:.1f} s; {machine_line()}"
        write_csv(stage / "pareto.csv", rows, COLUMNS)
        write_csv(stage / "tau_table.csv", taus, TAU_COLUMNS)
        write_csv(stage / "calibration.csv", calibration,
                  ["sample", "model", "bin_lo", "bin_hi", "mean_predicted", "observed", "count"])
        (stage / "summary.txt").write_text(report + "\n", encoding="utf-8")
        if not args.no_plots:
            plot(rows, calibration, ece, stage)
    print(report)
    print(f"\nwrote {Path(out) / 'pareto.csv'}, tau_table.csv, calibration.csv, summary.txt"
          + ("" if args.no_plots else ", pareto.png, reliability.png"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
