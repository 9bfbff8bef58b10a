"""``python -m benchmarks.online_law``: planning the batched ES with the right congestion law
(docs/online.md, "Planning with the batched law").

On roofline drops (``instances.generate(N, M, seed=s, costs="roofline")``) served by the batched
ES (``online.simulate(..., server="batched")``), the per-slot planner (``--method``, goa_ls by
default) plans each slot's snapshot under the law "batched" (the server's: h_j(n) of its
scheduler) and under the paper's "ps" (``online.Solve(method, law="ps")``), at rates that are
fractions (``--fractions``) of the ESs' saturation rate, on the same arrivals per seed (paired).
Per run: the static model's predicted delay at each decision against the realised one
(``realised_over_predicted``), mean and tail delays, deadline attainment; over seeds: means
with Student-t 95 % CIs, the goodput (the highest swept rate up to which >= 90 % of the
queries meet ``--deadline-ms``) per law and the paired difference batched - ps.

The saturation rate, per user: ``M max_n n / h(n) / N``, n = 1..max_batch, h the batched law
of the drop: the most queries per second an ES finishes when they come in batches that reach
it together. Outputs in ``--out`` (default ``results/online-law``): ``online_law_runs.csv``,
``online_law.csv``, ``goodput.csv`` and ``summary.txt``, written only when the run completes.
"""

from __future__ import annotations

import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from benchmarks.common import (
    BenchmarkError, Parser, machine_line, mean_ci95, non_negative_int, positive_float,
    positive_int, run_cli, staged_output, table, write_csv)
from benchmarks.executor import add_executor_arguments, describe_executor, run_tasks
from benchmarks.online import GOODPUT_ATTAINMENT, goodput

PROG = "python -m benchmarks.online_law"
LAWS = ("batched", "ps")
DEFAULTS = {"users": 20, "servers": 4, "seeds": 4,
            "fractions": (0.1, 0.2, 0.4, 0.6, 0.8, 0.9, 1.0), "duration": 4.0, "warmup": 0.5}
QUICK = {"users": 8, "servers": 2, "seeds": 2, "fractions": (0.2, 0.8), "duration": 1.0,
         "warmup": 0.2}
METRICS = ("mean_ms", "p95_ms", "p99_ms", "attainment", "realised_over_predicted",
           "predicted_mean_ms", "realised_after_decision_ms", "offloaded_frac")
RUN_COLUMNS = ["law", "seed", "fraction", "rate_hz", "saturation_hz", *METRICS, "queries",
               "finished", "wall_s"]
SUMMARY_COLUMNS = ["law", "fraction", "rate_hz", "seeds"] + [
    name for metric in METRICS for name in (metric, f"{metric}_ci95")]
GOODPUT_COLUMNS = ["law", "seeds", "goodput_hz", "goodput_hz_ci95", "goodput_qps",
                   "goodput_qps_ci95"]


def build_parser() -> Parser:
    parser = Parser(prog=PROG, description=__doc__.split("\n\n")[0].split(": ", 1)[1])
    parser.add_argument("--users", type=positive_int, help=f"N ({DEFAULTS['users']})")
    parser.add_argument("--servers", type=positive_int, help=f"M ({DEFAULTS['servers']})")
    parser.add_argument("--seeds", type=positive_int,
                        help=f"number of seeds, from --first-seed ({DEFAULTS['seeds']})")
    parser.add_argument("--first-seed", type=non_negative_int, default=0, help="(0)")
    parser.add_argument("--fractions", nargs="+", type=positive_float, metavar="F",
                        help="rates as fractions of the saturation rate (default "
                             f"{' '.join(f'{f:g}' for f in DEFAULTS['fractions'])})")
    parser.add_argument("--method", default="goa_ls", help="the per-slot planner (goa_ls)")
    parser.add_argument("--tau", type=float, default=0.8, help="the guard threshold (0.8)")
    parser.add_argument("--slot", type=positive_float, default=0.05,
                        help="the decision slot in seconds (0.05)")
    parser.add_argument("--deadline-ms", type=positive_float, default=300.0,
                        help="the deadline of the attainment and goodput, ms (300)")
    parser.add_argument("--duration", type=positive_float,
                        help=f"seconds of arrivals per run ({DEFAULTS['duration']:g})")
    parser.add_argument("--warmup", type=float, help=f"warm-up seconds ({DEFAULTS['warmup']:g})")
    parser.add_argument("--out", default=None,
                        help="output folder (results/online-law; --quick results/online-law-quick)")
    parser.add_argument("--quick", action="store_true",
                        help="N 8, M 2, fractions 0.2 0.8, 2 seeds, 1 s")
    add_executor_arguments(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    args = build_parser().parse_args(argv)
    return run_cli(PROG, lambda: _run(args))


def saturation_hz(instance, server) -> float:
    """The ESs' saturation rate per user: ``M max_n n / h(n) / N`` over n = 1..max_batch, h the
    batched law of ``server`` at the drop's mean prompt."""
    from instances.law import batched_h, mean_prompt_tokens

    record = instance.provenance["inference"]
    h = batched_h(server.scheduler(), mean_prompt_tokens(record["prompt_tokens"]),
                  server.output_tokens, server.max_batch)
    counts = np.arange(1, h.size + 1)
    return float(instance.n_servers * np.max(counts / h) / instance.n_users)


def run_point(task: tuple) -> dict:
    """One run: (law, seed, fraction, N, M, method, tau, slot, deadline, duration, warm-up)."""
    import goa  # noqa: F401  registers goa's methods as planners
    import instances
    import online

    law, seed, fraction, n, m, method, tau, slot, deadline_ms, duration, warmup = task
    inst = instances.generate(n, m, seed=seed, costs="roofline")
    server = online.BatchedServer.of(inst)
    saturation = saturation_hz(inst, server)
    rate = fraction * saturation
    policy = online.Solve(method, seed=seed, law=None if law == "batched" else law)
    started = time.perf_counter()
    sim = online.simulate(inst, policy, rate, duration_s=duration, seed=seed, tau=tau,
                          slot_s=slot, warmup_s=warmup, predict=True, server=server)
    summary = sim.summary(deadline_s=deadline_ms / 1e3)
    row = {"law": law, "seed": seed, "fraction": fraction, "rate_hz": rate,
           "saturation_hz": saturation, "wall_s": time.perf_counter() - started,
           "queries": summary["queries"], "finished": summary["finished"]}
    row.update({metric: summary.get(metric, np.nan) for metric in METRICS})
    return row


def aggregate(rows: list[dict]) -> list[dict]:
    """Mean and Student-t CI over seeds per (law, fraction)."""
    groups = defaultdict(list)
    for row in rows:
        groups[(row["law"], row["fraction"])].append(row)
    out = []
    for (law, fraction), members in sorted(groups.items()):
        record = {"law": law, "fraction": fraction, "seeds": len(members),
                  "rate_hz": float(np.mean([r["rate_hz"] for r in members]))}
        for metric in METRICS:
            values = [r[metric] for r in members if np.isfinite(r[metric])]
            record[metric], record[f"{metric}_ci95"] = mean_ci95(values)
        out.append(record)
    return out


def law_goodput(rows: list[dict]) -> tuple[list[dict], dict]:
    """Goodput per law (:func:`benchmarks.online.goodput` over the fractions, in Hz per user
    of each seed's own saturation) and the paired per-seed difference batched - ps."""
    as_rate = [{"experiment": "rate", "policy": r["law"], "seed": r["seed"],
                "rate_hz": r["fraction"], "attainment": r["attainment"]} for r in rows]
    fractions = sorted({r["fraction"] for r in rows})
    per_law = goodput(as_rate, fractions, 1)
    per_seed = defaultdict(dict)
    for law in LAWS:
        for seed in sorted({r["seed"] for r in rows}):
            one = goodput([r for r in as_rate if r["policy"] == law and r["seed"] == seed],
                          fractions, 1)
            per_seed[seed][law] = one[0]["goodput_hz"] if one else 0.0
    diff = [v["batched"] - v["ps"] for v in per_seed.values()]
    mean, half = mean_ci95(diff)
    out = [{"law": g["policy"], "seeds": g["seeds"], "goodput_hz": g["goodput_hz"],
            "goodput_hz_ci95": g["goodput_hz_ci95"]} for g in per_law]
    return out, {"diff": mean, "diff_ci95": half, "seeds": len(diff)}


def _run(args) -> int:
    cfg = dict(QUICK if args.quick else DEFAULTS)
    for key in ("users", "servers", "seeds", "fractions", "duration", "warmup"):
        if getattr(args, key) is not None:
            cfg[key] = tuple(getattr(args, key)) if key == "fractions" else getattr(args, key)
    if not 0 <= cfg["warmup"] < cfg["duration"]:
        raise BenchmarkError(f"--warmup: must lie in [0, --duration), got {cfg['warmup']:g}")
    if not 0 <= args.tau <= 1:
        raise BenchmarkError(f"--tau: must lie in [0, 1], got {args.tau:g}")
    import goa

    if args.method not in goa.methods():
        raise BenchmarkError(f"--method: unknown method {args.method!r}")
    out_dir = Path(args.out or ("results/online-law-quick" if args.quick else "results/online-law"))
    seeds = range(args.first_seed, args.first_seed + cfg["seeds"])
    tasks = [(law, seed, fraction, cfg["users"], cfg["servers"], args.method, args.tau,
              args.slot, args.deadline_ms, cfg["duration"], cfg["warmup"])
             for fraction in cfg["fractions"] for seed in seeds for law in LAWS]
    header = (f"N {cfg['users']}, M {cfg['servers']}, roofline drops, batched ES, {args.method} "
              f"per {args.slot * 1e3:g} ms slot, tau {args.tau:g}, rates "
              f"{list(cfg['fractions'])} x saturation, seeds {seeds.start}..{seeds.stop - 1}, "
              f"{cfg['duration']:g} s per run (warm-up {cfg['warmup']:g} s), "
              f"D {args.deadline_ms:g} ms")
    print(f"{PROG}: {header}; {len(tasks)} runs; {describe_executor(args)}; {machine_line()}",
          file=sys.stderr)
    started = time.perf_counter()
    with staged_output(out_dir) as stage:
        rows = run_tasks(run_point, tasks, out=out_dir, args=args, desc="runs")
        summary = aggregate(rows)
        good, diff = law_goodput(rows)
        write_csv(stage / "online_law_runs.csv", rows, RUN_COLUMNS)
        write_csv(stage / "online_law.csv", summary, SUMMARY_COLUMNS)
        write_csv(stage / "goodput.csv", good, GOODPUT_COLUMNS[:4])
        report = header + "\n\n" + _report(summary, good, diff, rows)
        report += f"\n\nwall time {time.perf_counter() - started:.1f} s; {machine_line()}"
        (stage / "summary.txt").write_text(report + "\n", encoding="utf-8")
    print(report)
    print(f"\nwrote {out_dir}/online_law.csv, online_law_runs.csv, goodput.csv, summary.txt")
    return 0


def _ci(record: dict, metric: str, scale: float = 1.0) -> str:
    value, half = record[metric], record[f"{metric}_ci95"]
    if value is None or not np.isfinite(value):
        return "-"
    return f"{value * scale:.3g} ± {half * scale:.2g}"


def _report(summary: list[dict], good: list[dict], diff: dict, rows: list[dict]) -> str:
    saturation = float(np.mean([r["saturation_hz"] for r in rows]))
    lines = [[r["law"], r["fraction"], r["rate_hz"], _ci(r, "realised_over_predicted"),
              _ci(r, "mean_ms"), _ci(r, "p95_ms"), _ci(r, "p99_ms"), _ci(r, "attainment", 100)]
             for r in summary]
    blocks = [table(["plans with", "x sat.", "Hz/user", "realised/predicted", "mean ms",
                     "p95 ms", "p99 ms", "attain %"], lines,
                    f"Per law and rate (mean ± 95 % CI over seeds; saturation "
                    f"{saturation:.3g} Hz per user on average)")]
    blocks.append(table(
        ["plans with", "goodput (x saturation)"],
        [[g["law"], f"{g['goodput_hz']:.3g} ± {g['goodput_hz_ci95']:.2g}"] for g in good],
        f"Goodput: the highest swept rate up to which >= {GOODPUT_ATTAINMENT:.0%} of the queries "
        f"meet the deadline, per seed"))
    blocks.append(f"goodput batched - ps (paired over {diff['seeds']} seeds): "
                  f"{diff['diff']:.3g} ± {diff['diff_ci95']:.2g} x saturation")
    return "\n\n".join(blocks)


if __name__ == "__main__":
    sys.exit(main())
