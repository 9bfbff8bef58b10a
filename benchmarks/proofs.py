"""``python -m benchmarks.proofs``: time to a proven optimum under full interference at the
paper's sizes (the load-vector boxes, ``backend="loadbox"``), on one or both cores.

Protocol (the defaults): the paper's preset, interference "full", M = 4, N = 80, tau = 0.8,
seeds 0..4; each drop is solved by ``formulations.solve(..., backend="loadbox",
warm_start=<goa_ls's plan>, max_boxes=--max-boxes, time_limit=--time-limit, batch=--batch,
workers=--workers)``, one drop at a time (the time is what is measured, so nothing else should
run). The time limit is the goal's (300 s): a solve it stops is reported as not proven, with
the gap left. ``--batch`` boxes are split per step and ``--workers`` processes bound their
children; the boxes bounded and the plans depend on ``--batch`` only, the seconds on the
workers and the machine.

Writes ``proofs.csv`` (one row per drop: status, objective, bound, certified gap, boxes,
seconds) and ``summary.txt`` to ``--out``, only when the run completes.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from benchmarks.common import (
    Parser, machine_line, non_negative_int, positive_float, positive_int, run_cli,
    staged_output, table, unit_float, warm_up, write_csv)
from benchmarks.common import check_instance_memory

PROG = "python -m benchmarks.proofs"
COLUMNS = ["n_users", "n_servers", "seed", "tau", "batch", "workers", "status", "objective_ms",
           "bound_ms", "gap_pct", "boxes", "runtime_s"]


def build_parser() -> Parser:
    parser = Parser(prog=PROG, description="Time to a proven optimum under full interference "
                                           "(load-vector boxes), on one or both cores.")
    parser.add_argument("--sizes", nargs="+", type=positive_int, default=[80], metavar="N",
                        help="numbers of users (80)")
    parser.add_argument("--seeds", nargs="+", type=non_negative_int, default=list(range(5)),
                        metavar="S", help="instance seeds (0 1 2 3 4)")
    parser.add_argument("--tau", type=unit_float, default=0.8, help="tau (0.8)")
    parser.add_argument("--servers", type=positive_int, default=4, help="M (4)")
    parser.add_argument("--time-limit", type=positive_float, default=300.0, metavar="SECONDS",
                        help="time limit of each solve: the goal being measured (300)")
    parser.add_argument("--max-boxes", type=positive_int, default=None, metavar="K",
                        help="work budget of each solve in boxes (default: none, the time "
                             "limit alone)")
    parser.add_argument("--batch", type=positive_int, default=64,
                        help="boxes split per step (64, formulations.solve's default)")
    parser.add_argument("--workers", type=positive_int, default=2,
                        help="processes bounding each step's children (2)")
    parser.add_argument("--out", default="results/proofs", help="output folder (results/proofs)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code (2 for a bad option, with one line on stderr)."""
    return run_cli(PROG, lambda: _run(build_parser().parse_args(argv)))


def _run(args) -> int:
    import formulations
    import goa
    import instances
    from tqdm import tqdm

    check_instance_memory(max(args.sizes), args.servers, f"--sizes {max(args.sizes)}, "
                          f"--servers {args.servers}")
    warm_up(exact=True)
    pairs = [(n, seed) for n in args.sizes for seed in args.seeds]
    print(f"{PROG}: {len(pairs)} drops, tau {args.tau:g}, M = {args.servers}, batch "
          f"{args.batch}, {args.workers} worker(s), limit {args.time_limit:g} s; "
          f"{machine_line()}", file=sys.stderr)
    started = time.perf_counter()
    rows = []
    with staged_output(args.out) as stage:
        for n, seed in tqdm(pairs, desc="proofs", unit="drop", file=sys.stderr):
            inst = instances.generate(n, args.servers, seed=seed, interference="full")
            warm = goa.solve(inst, tau=args.tau, method="goa_ls").assignment
            options = {"batch": args.batch, "workers": args.workers}
            if args.max_boxes is not None:
                options["max_boxes"] = args.max_boxes
            result = formulations.solve(inst, tau=args.tau, backend="loadbox",
                                        time_limit=args.time_limit, warm_start=warm, **options)
            rows.append({"n_users": n, "n_servers": args.servers, "seed": seed,
                         "tau": args.tau, "batch": args.batch, "workers": args.workers,
                         "status": result.status.value, "objective_ms": result.objective_ms,
                         "bound_ms": result.bound_ms, "gap_pct": result.gap_pct,
                         "boxes": result.info.get("boxes"), "runtime_s": result.runtime_s})
        lines = [[r["n_users"], r["seed"], r["status"], r["gap_pct"], r["boxes"],
                  r["runtime_s"]] for r in rows]
        text = table(["N", "seed", "status", "gap left %", "boxes", "seconds"], lines,
                     title=f"time to a proven optimum (loadbox, tau {args.tau:g}, batch "
                           f"{args.batch}, {args.workers} worker(s), limit "
                           f"{args.time_limit:g} s)")
        proven = sum(r["status"] == "optimal" for r in rows)
        text += (f"\n\nproven {proven} of {len(rows)} within {args.time_limit:g} s; wall time "
                 f"{time.perf_counter() - started:.1f} s; {machine_line()}")
        write_csv(stage / "proofs.csv", rows, COLUMNS)
        (stage / "summary.txt").write_text(text + "\n", encoding="utf-8")
    print(text)
    print(f"\nwrote {Path(args.out) / 'proofs.csv'}, summary.txt")
    return 0


if __name__ == "__main__":
    sys.exit(main())
