"""``python -m goa.compare``: goa_ls against the GA and GOA at the paper's scale.

Protocol: the paper's preset, interference "full", M = 4, N = 50, 60, ..., 120, tau in
{0.6, 0.8, 1.0}, instance seeds 0-9 (``--seeds``); on each (instance, tau): GOA, the GA with the
paper's settings (seed = instance seed) and goa_ls with its defaults (seed = instance seed).
Every objective is ``instances.evaluate``'s T; runtimes are the algorithm alone, after the
kernels are loaded. Prints a fixed-width table per (N, tau) and overall: the share of instances
where goa_ls <= GA (to 1e-9 relative), where it is strictly better, the mean difference
(goa_ls - GA) in ms and in %, and mean runtimes; writes one CSV row per (instance, tau, method)
to ``--out`` (atomically: a failed run leaves no file).
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

import instances

from . import solve

METHODS = ("goa", "ga", "goa_ls")
SIZES = tuple(range(50, 121, 10))
TAUS = (0.6, 0.8, 1.0)
SEEDS = tuple(range(10))
COLUMNS = ("n_users", "seed", "tau", "method", "objective_ms", "n_offloaded", "runtime_s",
           "feasible")


def _run(sizes, taus, seeds, ls_options) -> list[dict]:
    from tqdm import tqdm

    rows = []
    tasks = [(n, seed, tau) for n in sizes for seed in seeds for tau in taus]
    for n, seed, tau in tqdm(tasks, desc="compare", unit="task", file=sys.stderr):
        inst = instances.generate(n, 4, seed=seed, interference="full")
        for method in METHODS:
            options = ls_options if method == "goa_ls" else {}
            result = solve(inst, tau=tau, method=method, seed=seed, **options)
            rows.append({"n_users": n, "seed": seed, "tau": tau, "method": method,
                         "objective_ms": result.objective_ms,
                         "n_offloaded": result.n_offloaded, "runtime_s": result.runtime_s,
                         "feasible": int(result.is_feasible())})
    return rows


def _line(label: str, members: list[dict]) -> str:
    by = defaultdict(dict)
    for r in members:
        by[(r["n_users"], r["seed"], r["tau"])][r["method"]] = r
    ls = np.array([v["goa_ls"]["objective_ms"] for v in by.values()])
    ga = np.array([v["ga"]["objective_ms"] for v in by.values()])
    base = np.array([v["goa"]["objective_ms"] for v in by.values()])
    time_ms = {m: 1e3 * np.mean([v[m]["runtime_s"] for v in by.values()]) for m in METHODS}
    no_worse = 100.0 * np.mean(ls <= ga * (1 + 1e-9))
    better = 100.0 * np.mean(ls < ga * (1 - 1e-9))
    diff = np.mean(ls - ga)
    diff_pct = 100.0 * np.mean((ls - ga) / ga)
    gain_goa = 100.0 * np.mean((base - ls) / base)
    return (f"{label:<14} {len(ls):>5} {no_worse:>9.1f} {better:>9.1f} {diff:>11.2f} "
            f"{diff_pct:>9.3f} {gain_goa:>10.2f} {time_ms['goa']:>8.3f} {time_ms['ga']:>8.1f} "
            f"{time_ms['goa_ls']:>9.2f}")


def report(rows: list[dict]) -> str:
    """The table: per (N, tau), then all instances."""
    header = (f"{'N, tau':<14} {'inst':>5} {'ls<=GA %':>9} {'ls<GA %':>9} {'ls-GA ms':>11} "
              f"{'ls-GA %':>9} {'vs GOA %':>10} {'GOA ms':>8} {'GA ms':>8} {'ls ms':>9}")
    lines = [header, "-" * len(header)]
    groups = defaultdict(list)
    for r in rows:
        groups[(r["n_users"], r["tau"])].append(r)
    for (n, tau), members in sorted(groups.items()):
        lines.append(_line(f"{n}, {tau:g}", members))
    lines.append("-" * len(header))
    lines.append(_line("all", rows))
    lines.append("ls<=GA %: share of instances where goa_ls's T is at most the GA's (1e-9 "
                 "relative); ls<GA %: strictly lower;\nls-GA: mean T difference (negative: "
                 "goa_ls better); vs GOA %: mean T reduction of goa_ls from GOA's; runtimes: "
                 "mean algorithm time.")
    return "\n".join(lines)


def _write_csv(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix=".compare-", dir=path.parent)
    try:
        with os.fdopen(handle, "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=COLUMNS, lineterminator="\n")
            writer.writeheader()
            for r in rows:
                writer.writerow({k: repr(v) if isinstance(v, float) else v for k, v in r.items()})
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def main(argv: list[str] | None = None) -> int:
    """Run the comparison, print the table, write the CSV; returns the exit code."""
    parser = argparse.ArgumentParser(prog="python -m goa.compare",
                                     description=__doc__.split("\n\n")[0].split(": ", 1)[1])
    parser.add_argument("--sizes", nargs="+", type=int, default=list(SIZES), metavar="N",
                        help="numbers of users (default " + " ".join(map(str, SIZES)) + ")")
    parser.add_argument("--tau", nargs="+", type=float, default=list(TAUS), metavar="T",
                        help="thresholds (default " + " ".join(f"{t:g}" for t in TAUS) + ")")
    parser.add_argument("--seeds", nargs="+", type=int, default=list(SEEDS), metavar="S",
                        help="instance seeds (default 0 to 9)")
    parser.add_argument("--patience", type=int, default=None,
                        help="goa_ls patience (default: goa.solve's, "
                        "max(3, ceil(360 / N)) under 'full')")
    parser.add_argument("--out", default="results/goa-compare.csv",
                        help="CSV path (results/goa-compare.csv)")
    args = parser.parse_args(argv)
    try:
        if any(n < 1 for n in args.sizes) or any(s < 0 for s in args.seeds):
            raise ValueError("--sizes must be >= 1 and --seeds >= 0")
        started = time.perf_counter()
        ls_options = {} if args.patience is None else {"patience": args.patience}
        rows = _run(args.sizes, args.tau, args.seeds, ls_options)
        text = report(rows)
        _write_csv(Path(args.out), rows)
    except (ValueError, OSError) as exc:
        print(f"python -m goa.compare: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("python -m goa.compare: interrupted; no output written", file=sys.stderr)
        return 130
    print("goa.compare: interference 'full', M = 4, the paper's preset; GA with the paper's "
          "settings; goa_ls " + (f"patience {args.patience}" if args.patience else "defaults"))
    print(text)
    print(f"\nwall time {time.perf_counter() - started:.1f} s; wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
