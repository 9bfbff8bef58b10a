"""``python -m benchmarks.online``: queries over time (docs/online.md).

Three experiments on the same drops (drop s is ``instances.generate(N, M, seed=s)``; the arrivals
of seed s are the same for every policy, so every comparison is paired):

- **rate**: every policy at tau = ``--tau`` over the arrival rates ``--rates`` (Hz per user, up
  to saturation), synthetic queries: mean, p50/p95/p99 delay after the warm-up, accuracy,
  offloaded share, guard violations (uncertain queries answered on the device), attainment of
  the deadline ``--deadline-ms``, goodput (the highest swept rate up to which >= 90 % of queries
  meet it), ES utilisation, decision time per call, whether the run collapsed (did not drain
  within its measured window's length), and for the per-slot solvers the static model's
  prediction at each decision against the realised delay (``realised_over_predicted``);
- **tau**: the threshold, GOA, goa_ls and the static plan over ``--taus`` at the rate
  ``--tau-rate``: accuracy against p95 delay;
- **static**: the static plans with each user repeating its query of the instance (the static
  problem's own queries): the static model's delay of the plan, ``instances.evaluate``, against
  the realised mean delay as the rate grows (``realised_over_static``), and the rate at which
  the realised delay reaches the prediction.

Outputs in ``--out`` (default ``results/online``; ``results/online-quick`` with ``--quick``):
``online_runs.csv`` (one row per run), ``online.csv`` (mean and 95 % CI over seeds per
experiment, policy, rate and tau), ``goodput.csv``, ``delay_cdf.png``, ``tail_vs_rate.png``,
``accuracy_vs_p95.png``, ``predicted_vs_realised.png`` and ``summary.txt``, written only when the
run completes. Runs go through the executor layer (``--jobs``, Dask, ``--resume``).
"""

from __future__ import annotations

import math
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

import goa  # noqa: F401  registers goa's methods as planners for online's solver policies
import online
from benchmarks.common import (
    BenchmarkError, Parser, group_mean_ci95, machine_line, matplotlib_pyplot, mean_ci95, non_negative_int,
    positive_float, positive_int, run_cli, staged_output, table, unit_float, write_csv)
from benchmarks.common import check_instance_memory, check_simulation_memory
from benchmarks.executor import add_executor_arguments, describe_executor, run_tasks
from benchmarks.style import plot_style

PROG = "python -m benchmarks.online"
POLICIES = ("local_all", "edge_all", "threshold", "goa", "goa_ls", "static_goa", "static_goa_ls")
# not run by default (0.5 ms of snapshot and GOA per query): GOA at every arrival
EXTRA_POLICIES = ("goa_per_arrival",)
SLOT_POLICIES = ("goa", "goa_ls")  # re-solved per slot; the others decide at each arrival
TAU_POLICIES = ("threshold", "goa", "goa_ls", "static_goa_ls")
STATIC_POLICIES = ("static_goa", "static_goa_ls")
DEFAULTS = {"users": 50, "servers": 4,
            "rates": (5.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0),
            "taus": (0.6, 0.8, 1.0), "tau_rate": 20.0, "seeds": 4, "duration": 5.0,
            "warmup": 1.0}
QUICK = {"users": 12, "servers": 2, "rates": (5.0, 40.0), "taus": (0.6, 1.0), "tau_rate": 20.0,
         "seeds": 2, "duration": 1.0, "warmup": 0.2}
GOODPUT_ATTAINMENT = 0.9
CDF_POINTS = 201
METRICS = ("mean_ms", "p50_ms", "p95_ms", "p99_ms", "accuracy_pct", "offloaded_frac",
           "guard_violations", "attainment", "utilisation", "decide_ms_per_call",
           "decision_wait_ms", "queue_ms", "upload_ms", "compute_ms", "realised_over_predicted",
           "static_predicted_ms", "realised_over_static", "collapsed")
RUN_COLUMNS = ["experiment", "policy", "rate_hz", "tau", "seed", "queries", "finished"] + list(
    METRICS) + ["predicted_mean_ms", "realised_after_decision_ms", "wall_s"]
SUMMARY_COLUMNS = ["experiment", "policy", "rate_hz", "tau", "seeds"] + [
    c for metric in METRICS for c in (metric, f"{metric}_ci95")]
GOODPUT_COLUMNS = ["policy", "seeds", "goodput_hz", "goodput_hz_ci95", "goodput_qps",
                   "goodput_qps_ci95"]


def build_parser() -> Parser:
    parser = Parser(prog=PROG, description="Queries over time: policies against the arrival "
                                           "rate and tau, tails and goodput (docs/online.md).")
    parser.add_argument("--users", type=positive_int, help=f"N ({DEFAULTS['users']})")
    parser.add_argument("--servers", type=positive_int, help=f"M ({DEFAULTS['servers']})")
    parser.add_argument("--interference", choices=("full", "none"), default="full",
                        help="interference model (full)")
    parser.add_argument("--policies", nargs="+", choices=POLICIES + EXTRA_POLICIES,
                        metavar="P", help=f"policies (default: {' '.join(POLICIES)}; also "
                                          f"{' '.join(EXTRA_POLICIES)})")
    parser.add_argument("--rates", nargs="+", type=positive_float, metavar="HZ",
                        help="arrival rates per user, Hz (default "
                             f"{' '.join(f'{r:g}' for r in DEFAULTS['rates'])})")
    parser.add_argument("--tau", type=unit_float, default=0.8,
                        help="tau of the rate sweep (0.8)")
    parser.add_argument("--taus", nargs="+", type=unit_float, metavar="T",
                        help="taus of the tau sweep (default 0.6 0.8 1.0)")
    parser.add_argument("--tau-rate", type=positive_float,
                        help=f"rate of the tau sweep, Hz per user ({DEFAULTS['tau_rate']:g})")
    parser.add_argument("--seeds", type=positive_int,
                        help=f"seeds 0..S-1: drops and arrivals ({DEFAULTS['seeds']})")
    parser.add_argument("--first-seed", type=non_negative_int, default=0,
                        help="first seed (0; tune on seeds >= 1000)")
    parser.add_argument("--duration", type=positive_float,
                        help=f"arrival window per run, s ({DEFAULTS['duration']:g})")
    parser.add_argument("--warmup", type=float,
                        help=f"warm-up left out of the figures, s ({DEFAULTS['warmup']:g})")
    parser.add_argument("--slot", type=positive_float, default=0.02,
                        help="decision slot of GOA and goa_ls, s (0.02)")
    parser.add_argument("--deadline-ms", type=positive_float, default=100.0,
                        help="deadline D of attainment and goodput, ms (100)")
    parser.add_argument("--quick", action="store_true",
                        help="a tiny run (N 12, M 2, 2 rates, 2 taus, 2 seeds, 1 s)")
    parser.add_argument("--out", help="output folder (results/online; results/online-quick)")
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    add_executor_arguments(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    args = build_parser().parse_args(argv)
    return run_cli(PROG, lambda: _run(args))


def collapsed(sim) -> bool:
    """Whether a run collapsed: after the last arrival it took longer to drain than the
    measured window lasted, so its queues grew faster than they were served and its delays
    depend on how long the run is, not on the rate alone."""
    last = float(np.nanmax(sim.records.finish_s, initial=sim.duration_s))
    return last - sim.duration_s > sim.duration_s - sim.warmup_s


def run_point(task: dict) -> dict:
    """One simulation: the summary figures, whether it collapsed (:func:`collapsed`), the delay
    quantiles (for the CDF) and, for a static plan, the static model's mean delay of the plan
    (``static_predicted_ms``) and, on the plan's own queries (experiment ``static``), the
    realised mean delay over it (``realised_over_static``)."""
    import instances

    _load_kernels()
    inst = instances.generate(task["users"], task["servers"], seed=task["seed"],
                              interference=task["interference"])
    policy = (online.Solve("goa") if task["policy"] == "goa_per_arrival"
              else online.POLICIES[task["policy"]]())
    slot = task["slot"] if task["policy"] in SLOT_POLICIES else None
    static = task["experiment"] == "static"
    started = time.perf_counter()
    sim = online.simulate(inst, policy, task["rate"], task["duration"], seed=task["seed"],
                          tau=task["tau"], slot_s=slot, warmup_s=task["warmup"],
                          predict=slot is not None or task["policy"] == "goa_per_arrival",
                          profile="instance" if static else None)
    wall = time.perf_counter() - started
    row = {"experiment": task["experiment"], "policy": task["policy"], "rate_hz": task["rate"],
           "tau": task["tau"], "seed": task["seed"], "wall_s": wall,
           **sim.summary(deadline_s=task["deadline_ms"] / 1e3),
           "collapsed": float(collapsed(sim))}
    if task["policy"] in STATIC_POLICIES:
        plan = policy.plan(inst, task["tau"])
        row["static_predicted_ms"] = instances.evaluate(inst, plan).mean_delay_ms
        if static:
            row["realised_over_static"] = row["mean_ms"] / row["static_predicted_ms"]
    rec = sim.records
    keep = (rec.arrival_s >= task["warmup"]) & rec.finished
    quantiles = np.quantile(rec.delay_s[keep] * 1e3, np.linspace(0, 1, CDF_POINTS)) \
        if keep.any() else np.full(CDF_POINTS, np.nan)
    return {"row": row, "cdf_ms": quantiles}


def _load_kernels() -> None:
    """Load goa's numba kernels in this process before any decision is timed."""
    import goa
    import instances

    goa.solve(instances.generate(3, 2, seed=0), tau=0.8, method="goa")


def _tasks(args, cfg, policies) -> list[dict]:
    base = {"users": cfg["users"], "servers": cfg["servers"], "interference": args.interference,
            "duration": cfg["duration"], "warmup": cfg["warmup"], "slot": args.slot,
            "deadline_ms": args.deadline_ms}
    seeds = range(args.first_seed, args.first_seed + cfg["seeds"])
    tasks = []
    for seed in seeds:
        for rate in cfg["rates"]:
            for policy in policies:
                tasks.append({**base, "experiment": "rate", "policy": policy, "rate": rate,
                              "tau": args.tau, "seed": seed})
        for tau in cfg["taus"]:
            for policy in [p for p in TAU_POLICIES if p in policies]:
                tasks.append({**base, "experiment": "tau", "policy": policy,
                              "rate": cfg["tau_rate"], "tau": tau, "seed": seed})
        for rate in cfg["rates"]:
            for policy in [p for p in STATIC_POLICIES if p in policies]:
                tasks.append({**base, "experiment": "static", "policy": policy, "rate": rate,
                              "tau": args.tau, "seed": seed})
    return tasks


def aggregate(rows: list[dict]) -> list[dict]:
    """Mean and 95 % CI half-width over seeds per (experiment, policy, rate, tau)."""
    return group_mean_ci95(rows, ("experiment", "policy", "rate_hz", "tau"), METRICS, "seeds")


def goodput(rows: list[dict], rates, n_users: int) -> list[dict]:
    """Per policy: the highest swept rate up to which (every swept rate at or below it) at
    least 90 % of the queries meet the deadline, per seed; mean and CI over seeds (0 when even
    the lowest rate misses)."""
    per = defaultdict(dict)
    for row in rows:
        if row["experiment"] == "rate":
            per[(row["policy"], row["seed"])][row["rate_hz"]] = row["attainment"]
    by_policy = defaultdict(list)
    for (policy, _), attained in per.items():
        best = 0.0
        for rate in sorted(rates):
            if attained.get(rate, 0.0) < GOODPUT_ATTAINMENT:
                break
            best = rate
        by_policy[policy].append(best)
    out = []
    for policy, values in by_policy.items():
        mean, half = mean_ci95(values)
        out.append({"policy": policy, "seeds": len(values), "goodput_hz": mean,
                    "goodput_hz_ci95": half, "goodput_qps": mean * n_users,
                    "goodput_qps_ci95": half * n_users})
    return out


def crossing_rate(rows: list[dict], policy: str) -> tuple[list[float], int]:
    """Per seed, the rate at which the realised mean delay of the static plan (its own
    queries) first reaches the static model's prediction (``realised_over_static`` >= 1;
    linear interpolation between swept rates); seeds where it never does within the sweep are
    counted apart."""
    per = defaultdict(dict)
    for row in rows:
        if row["experiment"] == "static" and row["policy"] == policy:
            per[row["seed"]][row["rate_hz"]] = row["realised_over_static"]
    found, never = [], 0
    for ratios in per.values():
        rates = sorted(ratios)
        hit = None
        for k, rate in enumerate(rates):
            if ratios[rate] >= 1.0:
                if k == 0:
                    hit = rate
                else:
                    lo, r_lo = rates[k - 1], ratios[rates[k - 1]]
                    hit = lo + (1.0 - r_lo) / (ratios[rate] - r_lo) * (rate - lo)
                break
        if hit is None:
            never += 1
        else:
            found.append(hit)
    return found, never


def _run(args) -> int:
    cfg = dict(QUICK if args.quick else DEFAULTS)
    for key, value in (("users", args.users), ("servers", args.servers),
                       ("rates", args.rates and tuple(sorted(set(args.rates)))),
                       ("taus", args.taus and tuple(args.taus)), ("tau_rate", args.tau_rate),
                       ("seeds", args.seeds), ("duration", args.duration),
                       ("warmup", args.warmup)):
        if value is not None:
            cfg[key] = value
    if not (math.isfinite(cfg["warmup"]) and 0 <= cfg["warmup"] < cfg["duration"]):
        raise BenchmarkError(f"--warmup: must lie in [0, --duration), got {cfg['warmup']:g}")
    check_instance_memory(cfg["users"], cfg["servers"], f"--users {cfg['users']}, --servers "
                          f"{cfg['servers']}", getattr(args, "jobs", 1))
    check_simulation_memory(cfg["users"], {"--rates": max(cfg["rates"]),
                                           "--tau-rate": cfg["tau_rate"]}, cfg["duration"],
                            getattr(args, "jobs", 1))
    policies = tuple(args.policies) if args.policies else POLICIES
    out_dir = Path(args.out or ("results/online-quick" if args.quick else "results/online"))
    tasks = _tasks(args, cfg, policies)
    started = time.perf_counter()
    header = (f"N {cfg['users']}, M {cfg['servers']}, {args.interference}, rates "
              f"{list(cfg['rates'])} Hz per user, tau {args.tau:g}, taus {list(cfg['taus'])} "
              f"at {cfg['tau_rate']:g} Hz, seeds {args.first_seed}..{args.first_seed + cfg['seeds'] - 1}, "
              f"{cfg['duration']:g} s per run (warm-up {cfg['warmup']:g} s), slot "
              f"{args.slot * 1e3:g} ms, D {args.deadline_ms:g} ms")
    print(f"{PROG}: {header}; {len(tasks)} runs; {describe_executor(args)}; {machine_line()}",
          file=sys.stderr)
    with staged_output(out_dir) as stage:
        results = run_tasks(run_point, tasks, out=out_dir, args=args, desc="runs")
        rows = [r["row"] for r in results]
        summary = aggregate(rows)
        good = goodput(rows, cfg["rates"], cfg["users"])
        write_csv(stage / "online_runs.csv", rows, RUN_COLUMNS)
        write_csv(stage / "online.csv", summary, SUMMARY_COLUMNS)
        write_csv(stage / "goodput.csv", good, GOODPUT_COLUMNS)
        report = header + "\n\n" + _report(summary, good, rows, cfg, policies, args)
        report += f"\n\nwall time {time.perf_counter() - started:.1f} s; {machine_line()}"
        (stage / "summary.txt").write_text(report + "\n", encoding="utf-8")
        if not args.no_plots:
            plot(summary, results, tasks, cfg, policies, args, stage)
    print(report)
    print(f"\nwrote {out_dir}/online.csv, online_runs.csv, goodput.csv, summary.txt"
          + ("" if args.no_plots else " and plots"))
    return 0


def _count(record: dict | None, metric: str) -> str:
    """A per-run count's mean over seeds; ``collapsed`` as "k of S" seeds."""
    if record is None or record.get(metric) is None:
        return "-"
    if metric == "collapsed":
        return f"{round(record[metric] * record['seeds'])} of {record['seeds']}"
    return f"{record[metric]:.3g}"


def _pm(record: dict | None, metric: str, digits: int = 1) -> str:
    if record is None or record.get(metric) is None:
        return "-"
    return f"{record[metric]:.{digits}f} +- {record[f'{metric}_ci95']:.{digits}f}"


def _report(summary, good, rows, cfg, policies, args) -> str:
    index = {(r["experiment"], r["policy"], r["rate_hz"], r["tau"]): r for r in summary}
    blocks = []
    for rate in cfg["rates"]:
        lines = []
        for policy in policies:
            r = index.get(("rate", policy, rate, args.tau))
            lines.append([policy, _pm(r, "mean_ms"), _pm(r, "p50_ms"), _pm(r, "p95_ms"),
                          _pm(r, "p99_ms"), _pm(r, "accuracy_pct"), _pm(r, "offloaded_frac", 2),
                          _pm(r, "attainment", 3), _pm(r, "utilisation", 2),
                          _pm(r, "decide_ms_per_call", 2), _pm(r, "realised_over_predicted", 2),
                          _count(r, "guard_violations"), _count(r, "collapsed")])
        blocks.append(table(
            ["policy", "mean ms", "p50 ms", "p95 ms", "p99 ms", "accuracy %", "offloaded",
             f"<= {args.deadline_ms:g} ms", "ES util.", "decide ms/call",
             "realised/predicted", "guard viol.", "collapsed"], lines,
            title=f"rate {rate:g} Hz per user ({rate * cfg['users']:g} queries/s), tau "
                  f"{args.tau:g}: mean +- 95 % CI over seeds"))
    blocks[-1] += ("\n(realised/predicted: decision to finish over the static model on the "
                   "decision's snapshot, per-slot solvers; guard viol.: queries with alpha > tau "
                   "answered on their device, per run; collapsed: seeds whose run took longer "
                   "to drain than its measured window lasted)")
    lines = [[g["policy"], f"{g['goodput_hz']:.1f} +- {g['goodput_hz_ci95']:.1f}",
              f"{g['goodput_qps']:.0f} +- {g['goodput_qps_ci95']:.0f}"]
             for g in sorted(good, key=lambda g: -g["goodput_hz"])]
    blocks.append(table(["policy", "goodput Hz per user", "goodput queries/s"], lines,
                        title=f"Goodput: the highest swept rate up to which >= 90 % of queries "
                              f"finish within {args.deadline_ms:g} ms (mean +- 95 % CI over seeds)"))
    lines = []
    for tau in cfg["taus"]:
        for policy in [p for p in TAU_POLICIES if p in policies]:
            r = index.get(("tau", policy, cfg["tau_rate"], tau))
            lines.append([f"{tau:g}", policy, _pm(r, "accuracy_pct"), _pm(r, "p95_ms"),
                          _pm(r, "mean_ms"), _pm(r, "offloaded_frac", 2)])
    if lines:
        blocks.append(table(["tau", "policy", "accuracy %", "p95 ms", "mean ms", "offloaded"],
                            lines, title=f"tau sweep at {cfg['tau_rate']:g} Hz per user"))
    lines = []
    for policy in [p for p in STATIC_POLICIES if p in policies]:
        for rate in cfg["rates"]:
            r = index.get(("static", policy, rate, args.tau))
            lines.append([policy, f"{rate:g}", _pm(r, "static_predicted_ms"), _pm(r, "mean_ms"),
                          _pm(r, "p95_ms"), _pm(r, "realised_over_static", 3)])
        found, never = crossing_rate(rows, policy)
        if found:
            mean, half = mean_ci95(found)
            lines.append([policy, "crossing", f"{mean:.1f} +- {half:.1f} Hz", f"{len(found)} seeds",
                          f"{never} never", ""])
        else:
            lines.append([policy, "crossing", "none in the sweep", "", f"{never} seeds", ""])
    if lines:
        blocks.append(table(["static plan", "rate Hz", "static model ms", "realised mean ms",
                             "realised p95 ms", "realised/static model"], lines,
                            title="The static model's mean delay of its plan against the "
                                  "realised one (each user repeats its query of the instance)"))
    return "\n\n".join(blocks)


def _style(policy: str, **overrides) -> dict:
    """The project's style of a policy; the per-slot solvers say so in their label."""
    style = plot_style(policy, **overrides)
    if policy in SLOT_POLICIES and "label" not in overrides:
        style["label"] += " per slot"
    return style


def _tail_panel(ax, rows, metric, policies, rates, args) -> None:
    """One tail panel of tail_vs_rate.png: per policy and rate, the mean and 95 % CI over the
    seeds whose run did not collapse (:func:`collapsed`); a point where some seeds collapsed is
    ringed and labelled "k/S", and a rate where every seed collapsed is a triangle on the top
    edge, instead of a mean dominated by a run that never drained."""
    top = ax.get_xaxis_transform()  # x in data, y in axes fraction
    for policy in policies:
        style = _style(policy)
        xs, ys, errs, ringed, lost = [], [], [], [], []
        for rate in rates:
            runs = [r for r in rows if r["experiment"] == "rate" and r["policy"] == policy
                    and r["rate_hz"] == rate and r["tau"] == args.tau]
            if not runs:
                continue
            kept = [r[metric] for r in runs if not r["collapsed"]]
            gone = len(runs) - len(kept)
            if not kept:
                lost.append(rate)
                continue
            mean, half = mean_ci95(kept)
            xs.append(rate), ys.append(mean), errs.append(half)
            if gone:
                ringed.append((rate, mean, f"{gone}/{len(runs)}"))
        ax.errorbar(xs, ys, yerr=errs, ms=3, capsize=2, **style)
        for rate, mean, text in ringed:
            ax.plot([rate], [mean], marker="o", ms=9, mfc="none", color=style["color"],
                    linestyle="none")
            ax.annotate(text, (rate, mean), xytext=(4, -9), textcoords="offset points",
                        fontsize=6, color=style["color"])
        if lost:
            ax.plot(lost, [0.97] * len(lost), marker="^", color=style["color"],
                    linestyle="none", transform=top, clip_on=False)
    ax.axhline(args.deadline_ms, color="0.5", linestyle=":",
               label=f"deadline D = {args.deadline_ms:g} ms")
    ax.plot([], [], marker="o", ms=9, mfc="none", color="0.3", linestyle="none",
            label="k/S seeds collapsed, left out of the mean")
    ax.plot([], [], marker="^", color="0.3", linestyle="none", label="every seed collapsed")
    ax.set_yscale("log")
    ax.set_xlabel("arrival rate per user [Hz]")
    ax.set_ylabel(metric.replace("_ms", " delay [ms]"))
    ax.set_title(f"{metric.replace('_ms', '')} delay over the seeds that did not collapse",
                 fontsize=9)
    ax.grid(True, alpha=0.3)


def plot(summary, results, tasks, cfg, policies, args, folder) -> None:
    """delay_cdf.png, tail_vs_rate.png, accuracy_vs_p95.png, predicted_vs_realised.png."""
    plt = matplotlib_pyplot()
    index = {(r["experiment"], r["policy"], r["rate_hz"], r["tau"]): r for r in summary}
    rates = list(cfg["rates"])
    # CDF at the tau sweep's rate (or the middle swept rate): pooled quantiles over seeds
    cdf_rate = min(rates, key=lambda r: abs(r - cfg["tau_rate"]))
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for policy in policies:
        curves = [res["cdf_ms"] for task, res in zip(tasks, results)
                  if task["experiment"] == "rate" and task["policy"] == policy
                  and task["rate"] == cdf_rate]
        if curves:
            x = np.nanmean(np.array(curves), axis=0)
            ax.plot(x, np.linspace(0, 1, CDF_POINTS), **_style(policy, marker=None))
    ax.axvline(args.deadline_ms, color="0.5", linestyle=":",
               label=f"deadline D = {args.deadline_ms:g} ms")
    ax.set_xscale("log")
    ax.set_xlabel("delay [ms]")
    ax.set_ylabel("fraction of queries")
    ax.set_title(f"Delay CDF at {cdf_rate:g} Hz per user (mean quantiles over seeds)", fontsize=9)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(folder / "delay_cdf.png", dpi=120)
    plt.close(fig)

    rows = [res["row"] for res in results]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    for ax, metric in zip(axes, ("p95_ms", "p99_ms")):
        _tail_panel(ax, rows, metric, policies, rates, args)
        ax.yaxis.set_tick_params(labelleft=True)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=7, loc="upper center", ncol=5)
    fig.tight_layout(rect=(0, 0, 1, 0.86))
    fig.savefig(folder / "tail_vs_rate.png", dpi=120)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for policy in [p for p in TAU_POLICIES if p in policies]:
        pts = [index[("tau", policy, cfg["tau_rate"], tau)] for tau in cfg["taus"]
               if ("tau", policy, cfg["tau_rate"], tau) in index]
        ax.errorbar([p["p95_ms"] for p in pts], [p["accuracy_pct"] for p in pts],
                    xerr=[p["p95_ms_ci95"] for p in pts], yerr=[p["accuracy_pct_ci95"] for p in pts],
                    ms=3, capsize=2, **_style(policy))
        for p in pts:
            ax.annotate(f"{p['tau']:g}", (p["p95_ms"], p["accuracy_pct"]), fontsize=6)
    ax.set_xlabel("p95 delay [ms]")
    ax.set_ylabel("accuracy [%]")
    ax.set_title(f"Accuracy against p95 as tau varies ({cfg['tau_rate']:g} Hz per user)",
                 fontsize=9)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(folder / "accuracy_vs_p95.png", dpi=120)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for policy in [p for p in STATIC_POLICIES if p in policies]:
        pts = [index[("static", policy, rate, args.tau)] for rate in rates
               if ("static", policy, rate, args.tau) in index]
        if not pts:
            continue
        style = _style(policy)
        ax.errorbar(rates[:len(pts)], [p["mean_ms"] for p in pts],
                    yerr=[p["mean_ms_ci95"] for p in pts], ms=3, capsize=2,
                    **{**style, "label": f"{style['label']}: realised mean"})
        ax.plot(rates[:len(pts)], [p["static_predicted_ms"] for p in pts],
                **{**style, "linestyle": ":", "marker": None,
                   "label": f"{style['label']}: static model"})
    ax2 = None
    for policy in [p for p in SLOT_POLICIES if p in policies]:
        pts = [(rate, index[("rate", policy, rate, args.tau)]) for rate in rates
               if ("rate", policy, rate, args.tau) in index
               and index[("rate", policy, rate, args.tau)]["realised_over_predicted"] is not None]
        if pts:
            ax2 = ax.twinx() if ax2 is None else ax2
            ax2.plot([p[0] for p in pts], [p[1]["realised_over_predicted"] for p in pts],
                     **{**_style(policy), "alpha": 0.6,
                        "label": f"{policy} per slot: realised / predicted (right)"})
    ax.set_yscale("log")
    ax.set_xlabel("arrival rate per user [Hz]")
    ax.set_ylabel("mean delay [ms]")
    ax.set_title("The static model's prediction against the realised delay", fontsize=9)
    ax.grid(True, alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    if ax2 is not None:
        ax2.set_ylabel("realised / predicted")
        h2, l2 = ax2.get_legend_handles_labels()
        handles, labels = handles + h2, labels + l2
    ax.legend(handles, labels, fontsize=6)
    fig.tight_layout()
    fig.savefig(folder / "predicted_vs_realised.png", dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
