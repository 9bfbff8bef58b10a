"""``python -m benchmarks.exact``: time to proven optimality of every exact backend.

Protocol (the defaults): the paper's preset, tau = 0.8, seeds 0..4, one solve at a time on
this machine (the timings are wall-clock, so nothing else should run), a per-solve time limit of
60 s, no warm start (each backend's own start only). Interference "none": N = 20, 40, 60, 100,
200 with M = 4, and N = 100 with M = 16, for "loadvec", "highs", "cbc", "scip" and "cpsat";
interference "full": N = 8, 10, 12, 14, 16 (and 20, 25, 30 to see how far it reaches) with
M = 4, for "bnb" and "enumerate". Once a backend fails to prove optimality on one seed of a size,
the remaining seeds of that size and every larger size of the series are skipped (counted as
unsolved). Each backend is first run once on a tiny drop (compilation, imports: not timed).
The models and backends are described in docs/model.md section 4.

Writes ``bench.csv`` (one row per solve; columns in docs/csv.md), ``bench.md`` (the summary
table) and ``bench.png`` (mean time against N) to ``--out``, only when the run completes: an
interrupted or failed run leaves no files, and removes the folder if the run created it. The
summary's ``agree`` column is the largest relative difference between a proven optimum and the
best objective any backend found on that drop (it should be below 1e-6).
"""

from __future__ import annotations

import datetime
import math
import sys
import time
from pathlib import Path

from benchmarks.common import (
    BenchmarkError, Parser, machine_line, matplotlib_pyplot, positive_float, positive_int, run_cli,
    staged_output, unit_float, write_csv)

PROG = "python -m benchmarks.exact"
NONE_SERIES = [(4, (20, 40, 60, 100, 200)), (16, (100,))]
FULL_SERIES = [(4, (8, 10, 12, 14, 16, 20, 25, 30))]
NONE_METHODS = ("loadvec", "highs", "cbc", "scip", "cpsat")
FULL_METHODS = ("bnb", "enumerate")
QUICK_SEEDS = 2
QUICK_TIME_LIMIT_S = 10.0
COLUMNS = ["interference", "n_users", "n_servers", "seed", "tau", "backend", "status",
           "objective_ms", "bound_ms", "gap_pct", "runtime_s", "nodes"]


def build_parser() -> Parser:
    parser = Parser(prog=PROG, description="Time to proven optimality of every exact backend "
                                           "(docs/model.md section 4).")
    parser.add_argument("--seeds", type=positive_int, default=5, help="seeds 0..S-1 (5)")
    parser.add_argument("--tau", type=unit_float, default=0.8, help="tau (0.8)")
    parser.add_argument("--time-limit", type=positive_float, default=60.0, metavar="SECONDS",
                        help="time limit of each solve (60)")
    parser.add_argument("--methods", nargs="+", choices=NONE_METHODS + FULL_METHODS,
                        metavar="BACKEND",
                        help=f"backends to run (default: all; {', '.join(NONE_METHODS)} on "
                             f"interference none, {', '.join(FULL_METHODS)} on full)")
    parser.add_argument("--models", nargs="+", default=["none", "full"],
                        choices=["none", "full"], help="interference models (none full)")
    parser.add_argument("--quick", action="store_true",
                        help=f"a smoke test: {QUICK_SEEDS} seeds, the two smallest sizes of the "
                             f"M = 4 series, {QUICK_TIME_LIMIT_S:g} s limit")
    parser.add_argument("--out", default="results/exact", help="output folder (results/exact)")
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG plot")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; returns the exit code (0 done, 2 bad input, 130 interrupted)."""
    args = build_parser().parse_args(argv)
    return run_cli(PROG, lambda: _run(args))


def plan_series(args) -> list[tuple[str, int, tuple, str]]:
    """[(interference, M, sizes, backend)] in the order they run."""
    plan = []
    for model in args.models:
        series, methods = (NONE_SERIES, NONE_METHODS) if model == "none" else \
            (FULL_SERIES, FULL_METHODS)
        for method in methods:
            if args.methods and method not in args.methods:
                continue
            for m, sizes in series:
                if args.quick:
                    if m != 4:
                        continue
                    sizes = sizes[:2]
                plan.append((model, m, sizes, method))
    return plan


def _warm_up(plan, tau) -> None:
    import formulations
    import instances

    for model, _, _, method in plan:
        formulations.solve(instances.generate(6, 2, seed=0, interference=model), tau=tau,
                           backend=method, time_limit=30)


def run(plan, seeds: int, tau: float, limit: float) -> list[dict]:
    """Every solve of the plan, as CSV rows, with a progress bar; one line per solve."""
    import formulations
    import instances
    from instances.result import Status
    from tqdm import tqdm

    _warm_up(plan, tau)
    rows = []
    total = sum(len(sizes) for _, _, sizes, _ in plan) * seeds
    with tqdm(total=total, desc="solves", unit="solve", file=sys.stderr) as bar:
        for model, m, sizes, method in plan:
            timed_out = False
            for n in sizes:
                for seed in range(seeds):
                    row = {"interference": model, "n_users": n, "n_servers": m, "seed": seed,
                           "tau": tau, "backend": method}
                    bar.update(1)
                    if timed_out:
                        rows.append({**row, "status": "skipped"})
                        continue
                    bar.set_postfix_str(f"{model} N={n} M={m} {method} seed {seed}")
                    inst = instances.generate(n, m, seed=seed, interference=model)
                    result = formulations.solve(inst, tau=tau, backend=method, time_limit=limit)
                    row.update(status=str(result.status), objective_ms=result.objective_ms,
                               bound_ms=result.bound_ms, gap_pct=result.gap_pct,
                               runtime_s=result.runtime_s,
                               nodes=result.info.get("nodes", result.info.get("load_vectors")))
                    rows.append(row)
                    bar.write(f"{model:4s} N={n:3d} M={m:2d} seed={seed} {method:9s} "
                              f"{row['status']:10s} T={result.objective_ms:12.4f} ms "
                              f"time={result.runtime_s:7.2f} s", file=sys.stdout)
                    if result.status != Status.OPTIMAL:
                        timed_out = True
    return rows


def summarise(rows: list[dict]) -> list[dict]:
    """One line per (interference, N, M, backend): solved count, mean/max time, agreement."""
    best: dict[tuple, float] = {}
    for r in rows:
        if r.get("objective_ms") is not None:
            key = (r["interference"], r["n_users"], r["n_servers"], r["seed"])
            best[key] = min(best.get(key, math.inf), r["objective_ms"])
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["interference"], r["n_users"], r["n_servers"], r["backend"]),
                          []).append(r)
    lines = []
    for (model, n, m, method), group in groups.items():
        solved = [r for r in group if r["status"] == "optimal"]
        times = [r["runtime_s"] for r in solved]
        gaps = [r["gap_pct"] for r in group if r.get("gap_pct") is not None
                and r["status"] != "optimal"]
        agree = max((abs(r["objective_ms"] - best[(model, n, m, r["seed"])])
                     / best[(model, n, m, r["seed"])] for r in solved), default=None)
        lines.append({
            "interference": model, "N": n, "M": m, "backend": method,
            "solved": f"{len(solved)}/{len(group)}",
            "mean_s": sum(times) / len(times) if times else None,
            "max_s": max(times) if times else None,
            "open_gap_pct": max(gaps) if gaps else None,
            "agree": agree,
        })
    return lines


def _fmt(value, spec):
    return "-" if value is None else format(value, spec)


def table(lines: list[dict]) -> str:
    """The summary as a fixed-width (Markdown-compatible) table."""
    head = "| model | N | M | backend | solved | mean s | max s | open gap % | agree |"
    out = [head, "|---|---:|---:|---|---:|---:|---:|---:|---:|"]
    for x in lines:
        out.append(f"| {x['interference']} | {x['N']} | {x['M']} | {x['backend']} | "
                   f"{x['solved']} | {_fmt(x['mean_s'], '.2f')} | {_fmt(x['max_s'], '.2f')} | "
                   f"{_fmt(x['open_gap_pct'], '.3f')} | {_fmt(x['agree'], '.1e')} |")
    return "\n".join(out)


def plot(lines: list[dict], path: Path) -> None:
    """Mean time to optimality against N, one line per (model, M, backend), log scale."""
    plt = matplotlib_pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, model in zip(axes, ("none", "full")):
        series: dict[tuple, list] = {}
        for x in lines:
            if x["interference"] == model and x["mean_s"] is not None:
                series.setdefault((x["backend"], x["M"]), []).append((x["N"], x["mean_s"]))
        for (method, m), points in sorted(series.items()):
            points.sort()
            ax.plot([p[0] for p in points], [p[1] for p in points], marker="o",
                    label=f"{method} (M={m})")
        ax.set_yscale("log")
        ax.set_xlabel("N users")
        ax.set_ylabel("mean time to optimality [s]")
        ax.set_title(f'interference "{model}"')
        if series:
            ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _run(args) -> int:
    plan = plan_series(args)
    if not plan:
        raise BenchmarkError("--methods: none of the chosen backends runs on the chosen --models")
    seeds = QUICK_SEEDS if args.quick else args.seeds
    limit = QUICK_TIME_LIMIT_S if args.quick else args.time_limit
    instances_count = sum(len(sizes) for _, _, sizes, _ in plan) * seeds
    backends = sorted({method for *_, method in plan})
    print(f"{PROG}: {instances_count} solves ({len(plan)} series of sizes x {seeds} seeds, "
          f"backends {', '.join(backends)}), time limit {limit:g} s each: at most about "
          f"{instances_count * limit / 60:.0f} min if every solve ran to its limit (a series "
          f"stops at its first unproven size, and most solves take far less); "
          f"{machine_line()}", file=sys.stderr)
    started = time.time()
    with staged_output(args.out) as stage:
        rows = run(plan, seeds, args.tau, limit)
        write_csv(stage / "bench.csv", rows, COLUMNS)
        lines = summarise(rows)
        text = table(lines)
        header = (f"Measured {datetime.date.today()} ({machine_line()}), tau = {args.tau:g}, "
                  f"time limit {limit:g} s per solve, total {time.time() - started:.0f} s.")
        (stage / "bench.md").write_text(header + "\n\n" + text + "\n", encoding="utf-8")
        if not args.no_plots:
            plot(lines, stage / "bench.png")
    print()
    print(header)
    print(text)
    print(f"\nwrote {Path(args.out)}/bench.csv, bench.md" + ("" if args.no_plots else ", bench.png"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
