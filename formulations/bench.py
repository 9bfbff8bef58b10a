"""Time to proven optimality of every exact backend: ``python -m formulations.bench``.

Protocol (the defaults): the paper's preset, tau = 0.8, seeds 0..4, one solve at a time on
this machine (the timings are wall-clock, so nothing else should run), a per-solve time limit of
60 s, no warm start (each backend's own start only). Interference "none": N = 20, 40, 60, 100,
200 with M = 4, and N = 100 with M = 16, for "loads", "highs", "cbc", "scip" and "cpsat";
interference "full": N = 8, 10, 12, 14, 16 (and 20, 25, 30 to see how far it reaches) with
M = 4, for "bnb" and "enumerate". Once a backend hits the limit on one seed of a size, the
remaining seeds of that size and every larger size of the series are skipped (counted as
unsolved). Each backend is first run once on a tiny drop (compilation, imports: not timed).

Writes ``bench.csv`` (one row per solve) and ``bench.md`` (the summary table) to ``--out``,
and ``bench.png`` (mean time against N). The summary's ``agree`` column is the largest relative
difference between a proven optimum and the best objective any backend found on that drop
(it should be below 1e-6).
"""

from __future__ import annotations

import argparse
import csv
import datetime
import math
import platform
import sys
import time
from pathlib import Path

import instances

NONE_SERIES = [(4, (20, 40, 60, 100, 200)), (16, (100,))]
FULL_SERIES = [(4, (8, 10, 12, 14, 16, 20, 25, 30))]
NONE_METHODS = ("loads", "highs", "cbc", "scip", "cpsat")
FULL_METHODS = ("bnb", "enumerate")
COLUMNS = ["interference", "n_users", "n_servers", "seed", "tau", "backend", "status",
           "objective_ms", "bound_ms", "gap_pct", "runtime_s", "nodes"]


def _parse(argv):
    parser = argparse.ArgumentParser(prog="python -m formulations.bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=5, help="seeds 0..S-1 (default 5)")
    parser.add_argument("--tau", type=float, default=0.8)
    parser.add_argument("--time-limit", type=float, default=60.0, help="seconds per solve")
    parser.add_argument("--methods", nargs="+", default=None,
                        help="backends to run (default: all of both models)")
    parser.add_argument("--models", nargs="+", default=["none", "full"],
                        choices=["none", "full"])
    parser.add_argument("--quick", action="store_true",
                        help="a smoke test: 2 seeds, the two smallest sizes, 10 s limit")
    parser.add_argument("--out", type=Path, default=Path("results/formulations_bench"))
    return parser.parse_args(argv)


def _series(args):
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


def _warm_up(plan, tau):
    import formulations

    for model, _, _, method in plan:
        formulations.solve(instances.generate(6, 2, seed=0, interference=model), tau=tau,
                           backend=method, time_limit=30)


def run(args) -> list[dict]:
    """Every solve of the plan, as CSV rows; prints one line per solve."""
    import formulations
    from instances.result import Status

    plan = _series(args)
    seeds = range(2 if args.quick else args.seeds)
    limit = 10.0 if args.quick else args.time_limit
    _warm_up(plan, args.tau)
    rows = []
    for model, m, sizes, method in plan:
        timed_out = False
        for n in sizes:
            for seed in seeds:
                row = {"interference": model, "n_users": n, "n_servers": m, "seed": seed,
                       "tau": args.tau, "backend": method}
                if timed_out:
                    rows.append({**row, "status": "skipped"})
                    continue
                inst = instances.generate(n, m, seed=seed, interference=model)
                result = formulations.solve(inst, tau=args.tau, backend=method,
                                            time_limit=limit)
                row.update(status=str(result.status), objective_ms=result.objective_ms,
                           bound_ms=result.bound_ms, gap_pct=result.gap_pct,
                           runtime_s=result.runtime_s,
                           nodes=result.info.get("nodes", result.info.get("load_vectors")))
                rows.append(row)
                print(f"{model:4s} N={n:3d} M={m:2d} seed={seed} {method:9s} "
                      f"{row['status']:10s} T={result.objective_ms:12.4f} ms "
                      f"time={result.runtime_s:7.2f} s", flush=True)
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
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

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
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None) -> int:
    """Run the benchmark and write bench.csv, bench.md and bench.png to ``--out``."""
    args = _parse(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.time()
    rows = run(args)
    with open(args.out / "bench.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        for r in rows:
            writer.writerow({k: r.get(k, "") for k in COLUMNS})
    lines = summarise(rows)
    text = table(lines)
    machine = platform.processor() or platform.machine()
    header = (f"Measured {datetime.date.today()} on {platform.node()} ({machine}, "
              f"Python {platform.python_version()}), tau = {args.tau}, "
              f"time limit {10.0 if args.quick else args.time_limit:g} s per solve, "
              f"total {time.time() - started:.0f} s.")
    (args.out / "bench.md").write_text(header + "\n\n" + text + "\n")
    print()
    print(header)
    print(text)
    try:
        plot(lines, args.out / "bench.png")
    except ImportError:  # matplotlib is optional for the numbers
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
