"""``python -m benchmarks.serving``: what realistic LLM costs change (docs/serving.md, "What it
changes").

Instances are ``instances.generate(N, M, seed=s, costs="roofline", device=, edge=, slm=, llm=,
output_tokens=)``: the small model on each phone, the large one on M edge servers (ESs), each
query priced by the roofline of ``inference``. Three experiments, paired over seeds (drop and
arrivals of seed s are the same for every method and policy):

- **static**: the paper's experiment (N = 50..120, the tau sweep) with GOA, goa_ls and the
  baselines of ``benchmarks.paper.METHODS``; every delay and accuracy is ``instances.evaluate``;
  what offloading buys against local-all and edge-all, per drop;
- **online**: queries over time on the batched ES (``online.simulate(..., server="batched")``)
  at rates a person produces (``--periods``: a query every 2 to 60 s per user) and N from 50 up
  to past the ESs' saturation: p50/p95/p99, accuracy, attainment of the deadline ``--deadline-s``
  and goodput (the most users, and queries/s, up to which >= 90 % of queries meet it) per policy:
  those that plan with the paper's law (GOA and goa_ls per slot on the live snapshot, the static
  plans) beside those that do not plan (local-all, edge-all, threshold);
- **map**: over (N, per-user rate, the ESs' bandwidth), the threshold policy at ``--tau`` (it
  keeps the queries with alpha <= tau on the phone and sends the others) against edge-all:
  the paired difference of mean delay with its 95 % CI over seeds (Student t), the accuracy
  of both and the accuracy of the queries the threshold sends. A cell says "local pays" when
  the threshold is faster (CI below 0), "edge dominates" when edge-all is both faster (CI above
  0) and at least as accurate, "tie" otherwise.

The runs of the map at the first bandwidth are the online experiment's threshold and edge-all
runs (one task each). Outputs in ``--out`` (default ``results/serving``;
``results/serving-quick`` with ``--quick``): ``serving_static_drops.csv``,
``serving_static.csv``, ``serving_runs.csv``, ``serving_online.csv``, ``serving_goodput.csv``,
``serving_map.csv``, ``static.png``, ``online_tails.png``, ``map.png`` and ``summary.txt``,
written only when the run completes. Runs go through the executor layer (``--jobs``, Dask,
``--resume``). ``--calibrate`` hands over to ``benchmarks.serving_calibration``.
"""

from __future__ import annotations

import math
import os
import resource
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

import goa  # noqa: F401  registers goa's methods as planners for online's solver policies
import inference
import online
from benchmarks.common import (
    BenchmarkError, Parser, group_mean_ci95, machine_line, matplotlib_pyplot, mean_ci95,
    non_negative_int,
    positive_float, positive_int, run_cli, staged_output, table, unit_float, warm_up, write_csv)
from benchmarks.executor import add_executor_arguments, describe_executor, run_tasks
from benchmarks.online import collapsed
from benchmarks.paper import METHODS
from benchmarks.style import plot_style

PROG = "python -m benchmarks.serving"
POLICIES = tuple(online.POLICIES)
SLOT_POLICIES = ("goa", "goa_ls")
STATIC_POLICIES = ("static_goa", "static_goa_ls")
MAP_POLICIES = ("threshold", "edge_all")
GOODPUT_ATTAINMENT = 0.9
DEFAULTS = {"static_users": tuple(range(50, 121, 10)), "taus": (0.6, 0.7, 0.8, 0.9, 1.0),
            "drops": 20, "users": (50, 200, 500, 2000, 5000, 20000), "periods": (60.0, 10.0, 2.0),
            "bandwidths": (100e6, 1e6, 3e5), "seeds": 3, "queries": 2000,
            "min_duration": 10.0, "max_duration": 600.0, "max_qps": 1500.0,
            "plan_max_qps": 400.0, "plan_max_users": 5000}
QUICK = {"static_users": (50,), "taus": (0.8, 1.0), "drops": 2, "users": (20, 60),
         "periods": (10.0, 2.0), "bandwidths": (100e6, 3e5), "seeds": 2, "queries": 100,
         "min_duration": 5.0, "max_duration": 60.0, "max_qps": 3000.0, "plan_max_qps": 20.0,
         "plan_max_users": 50}
STATIC_METRICS = ("accuracy_pct", "total_delay_ms", "mean_delay_ms", "n_offloaded",
                  "delay_vs_local_pct", "delay_vs_edge_pct", "acc_vs_local_pts",
                  "acc_vs_edge_pts", "runtime_s")
STATIC_DROP_COLUMNS = ["n_users", "tau", "drop", "seed", "method", "feasible"] + list(
    STATIC_METRICS)
STATIC_COLUMNS = ["n_users", "tau", "method", "drops"] + [
    c for m in STATIC_METRICS for c in (m, f"{m}_ci95")]
RUN_METRICS = ("mean_ms", "p50_ms", "p95_ms", "p99_ms", "accuracy_pct", "sent_accuracy_pct",
               "offloaded_frac", "attainment", "upload_ms", "compute_ms", "largest_batch",
               "collapsed")
RUN_COLUMNS = ["policy", "n_users", "rate_hz", "bandwidth_hz", "tau", "seed", "duration_s",
               "queries", "finished"] + list(RUN_METRICS) + ["wall_s", "cpu_s"]
ONLINE_COLUMNS = ["policy", "n_users", "rate_hz", "bandwidth_hz", "seeds"] + [
    c for m in RUN_METRICS for c in (m, f"{m}_ci95")]
GOODPUT_COLUMNS = ["policy", "rate_hz", "seeds", "goodput_users", "goodput_users_ci95",
                   "goodput_qps", "goodput_qps_ci95", "censored"]
MAP_COLUMNS = ["n_users", "rate_hz", "bandwidth_hz", "seeds", "delta_mean_ms",
               "delta_mean_ms_ci95", "delay_ratio", "delta_p95_ms", "delta_p95_ms_ci95",
               "threshold_mean_ms", "edge_all_mean_ms", "threshold_accuracy_pct",
               "edge_all_accuracy_pct", "delta_accuracy_pts", "delta_accuracy_pts_ci95",
               "sent_accuracy_pct", "offloaded_frac", "collapsed_runs", "verdict"]
VERDICTS = ("local pays", "tie", "edge dominates")


def build_parser() -> Parser:
    parser = Parser(prog=PROG, description="What realistic LLM costs change: the paper's "
                                           "experiment, queries over time on batched ESs, and "
                                           "the map of where keeping queries local pays "
                                           "(docs/serving.md).")
    parser.add_argument("--calibrate", action="store_true",
                        help="fit the hardware presets instead (benchmarks.serving_calibration)")
    parser.add_argument("--device", default=inference.DEFAULT_DEVICE,
                        help=f"the phones' hardware: a name or a spec file "
                             f"({inference.DEFAULT_DEVICE})")
    parser.add_argument("--edge", default=inference.DEFAULT_EDGE,
                        help=f"the ESs' hardware: a name or a spec file ({inference.DEFAULT_EDGE})")
    parser.add_argument("--slm", default=inference.DEFAULT_SLM,
                        help=f"the phones' model ({inference.DEFAULT_SLM})")
    parser.add_argument("--llm", default=inference.DEFAULT_LLM,
                        help=f"the ESs' model ({inference.DEFAULT_LLM})")
    parser.add_argument("--output-tokens", type=positive_int, default=5,
                        help="T, tokens of each answer (5)")
    parser.add_argument("--servers", type=positive_int, default=4, help="M (4)")
    parser.add_argument("--experiments", nargs="+", choices=("static", "online", "map"),
                        default=("static", "online", "map"), help="which to run (all)")
    parser.add_argument("--static-users", nargs="+", type=positive_int, metavar="N",
                        help="N of the static experiment (50 60 ... 120)")
    parser.add_argument("--taus", nargs="+", type=unit_float, metavar="T",
                        help="taus of the static experiment (0.6 0.7 0.8 0.9 1.0)")
    parser.add_argument("--drops", type=positive_int, help="drops per N, static (20)")
    parser.add_argument("--users", nargs="+", type=positive_int, metavar="N",
                        help="N of the online runs and the map (50 200 500 2000 5000 20000)")
    parser.add_argument("--periods", nargs="+", type=positive_float, metavar="S",
                        help="mean seconds between one user's queries (60 10 2)")
    parser.add_argument("--bandwidths", nargs="+", type=positive_float, metavar="HZ",
                        help="ES bandwidths of the map; the first is the online runs' "
                             "(1e8 1e6 3e5)")
    parser.add_argument("--policies", nargs="+", choices=POLICIES, metavar="P",
                        help=f"online policies (default: {' '.join(POLICIES)})")
    parser.add_argument("--tau", type=unit_float, default=0.8,
                        help="tau of the online runs and the map (0.8)")
    parser.add_argument("--seeds", type=positive_int, help="seeds of the online runs and map (3)")
    parser.add_argument("--first-seed", type=non_negative_int, default=0,
                        help="first seed of every experiment (0; tune on seeds >= 1000)")
    parser.add_argument("--queries", type=positive_int,
                        help="about this many arrivals per online run (2000): the window is "
                             "queries / (N rate), within [--min-duration, --max-duration]")
    parser.add_argument("--min-duration", type=positive_float, help="shortest window, s (20)")
    parser.add_argument("--max-duration", type=positive_float, help="longest window, s (600)")
    parser.add_argument("--max-qps", type=positive_float,
                        help="skip the (N, rate) points whose N x rate exceeds this, queries/s "
                             "(1500: about five times the ESs' saturation under edge-all)")
    parser.add_argument("--plan-max-qps", type=positive_float,
                        help="run GOA and goa_ls per slot only up to this N x rate, queries/s "
                             "(400: past it their snapshots hold the ESs' growing backlog and "
                             "a run takes minutes)")
    parser.add_argument("--plan-max-users", type=positive_int,
                        help="run the static plans only up to this N (5000: goa_ls takes "
                             "minutes on 20,000 users)")
    parser.add_argument("--slot", type=positive_float, default=0.02,
                        help="decision slot of GOA and goa_ls per slot, s (0.02)")
    parser.add_argument("--deadline-s", type=positive_float, default=2.0,
                        help="deadline D of attainment and goodput, s (2; docs/serving.md)")
    parser.add_argument("--quick", action="store_true", help="a tiny run (for tests)")
    parser.add_argument("--out", help="output folder (results/serving; results/serving-quick)")
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    add_executor_arguments(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--calibrate" in argv:  # its own options (--vidur, --excerpt, ...): its own parser
        from benchmarks import serving_calibration

        return serving_calibration.main(argv)
    args = build_parser().parse_args(argv)
    return run_cli(PROG, lambda: _run(args))


def _generate(task: dict, n_users: int, seed: int, **overrides):
    import instances

    return instances.generate(n_users, task["servers"], seed=seed, costs="roofline",
                              device=task["device"], edge=task["edge"], slm=task["slm"],
                              llm=task["llm"], output_tokens=task["output_tokens"], **overrides)


def run_task(task: dict) -> dict:
    """One task: a static drop (all taus and methods) or one online run; its ``result`` and
    the CPU seconds the task took in its worker (``cpu_s``: building the instance, loading
    kernels and solving included)."""
    cpu = time.process_time()
    result = run_static_drop(task) if task["kind"] == "static" else run_online(task)
    return {"result": result, "cpu_s": time.process_time() - cpu}


def run_static_drop(task: dict) -> list[dict]:
    """Every method and tau on one roofline drop, scored by ``instances.evaluate``; with each
    row, what it buys against local-all and edge-all on the same drop (delay change in %,
    accuracy change in points)."""
    import instances

    warm_up()
    inst = _generate(task, task["n_users"], task["seed"])
    rows = []
    for tau in task["taus"]:
        found = {}
        for method in task["methods"]:
            result = goa.solve(inst, tau=tau, method=method, seed=task["seed"])
            ev = instances.evaluate(inst, result.assignment, tau)
            found[method] = {
                "n_users": task["n_users"], "tau": tau, "drop": task["drop"],
                "seed": task["seed"], "method": method, "feasible": bool(ev.feasible),
                "accuracy_pct": ev.accuracy_pct, "total_delay_ms": ev.total_delay_ms,
                "mean_delay_ms": ev.mean_delay_ms, "n_offloaded": ev.n_offloaded,
                "runtime_s": result.runtime_s}
        for row in found.values():
            for ref, key in (("local_all", "local"), ("edge_all", "edge")):
                base = found.get(ref)
                row[f"delay_vs_{key}_pct"] = None if base is None else (
                    (row["total_delay_ms"] - base["total_delay_ms"]) / base["total_delay_ms"]
                    * 100.0)
                row[f"acc_vs_{key}_pts"] = None if base is None else (
                    row["accuracy_pct"] - base["accuracy_pct"])
        rows.extend(found.values())
    return rows


def window_s(n_users: int, rate_hz: float, cfg: dict) -> float:
    """The arrival window of an online run: about ``cfg["queries"]`` arrivals, within
    [``min_duration``, ``max_duration``] seconds."""
    return float(min(max(cfg["queries"] / (n_users * rate_hz), cfg["min_duration"]),
                     cfg["max_duration"]))


def run_online(task: dict) -> dict:
    """One online run on the batched ES: the summary figures after the warm-up (the first
    fifth of the window), the accuracy of the queries sent to an ES, the largest batch, and
    whether the run collapsed (``benchmarks.online.collapsed``)."""
    import instances

    if task["policy"] in SLOT_POLICIES + STATIC_POLICIES:
        goa.solve(instances.generate(3, 2, seed=0), tau=0.8, method="goa")  # load the kernels
    overrides = {} if task["bandwidth_hz"] is None else {"bandwidth_hz": task["bandwidth_hz"]}
    inst = _generate(task, task["n_users"], task["seed"], **overrides)
    duration = task["duration_s"]
    cpu = time.process_time()
    started = time.perf_counter()
    sim = online.simulate(inst, online.POLICIES[task["policy"]](), task["rate_hz"], duration,
                          seed=task["seed"], tau=task["tau"],
                          slot_s=task["slot"] if task["policy"] in SLOT_POLICIES else None,
                          warmup_s=0.2 * duration, server="batched")
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    summary = sim.summary(deadline_s=task["deadline_s"])
    rec = sim.records
    keep = (rec.arrival_s >= sim.warmup_s) & rec.finished
    sent = keep & (rec.place >= 0)
    return {"policy": task["policy"], "n_users": task["n_users"], "rate_hz": task["rate_hz"],
            "bandwidth_hz": float(inst.bandwidth_hz[0]), "tau": task["tau"],
            "seed": task["seed"], "duration_s": duration, **summary,
            "sent_accuracy_pct": float(rec.correct[sent].mean() * 100.0) if sent.any() else None,
            "largest_batch": float(np.max(rec.largest_batch[keep], initial=0)),
            "collapsed": float(collapsed(sim)), "wall_s": wall, "cpu_s": cpu}


def _tasks(args, cfg, policies) -> list[dict]:
    """The static drops, then the online runs (the policies at the first bandwidth, and the
    map's two policies at the others), each run once."""
    base = {"servers": args.servers, "device": args.device, "edge": args.edge, "slm": args.slm,
            "llm": args.llm, "output_tokens": args.output_tokens}
    tasks = []
    if "static" in args.experiments:
        for n in cfg["static_users"]:
            for d in range(cfg["drops"]):
                tasks.append({**base, "kind": "static", "n_users": n, "drop": d,
                              "seed": args.first_seed + d, "taus": list(cfg["taus"]),
                              "methods": list(METHODS)})
    runs = {}
    for seed in range(args.first_seed, args.first_seed + cfg["seeds"]):
        for period in cfg["periods"]:
            for n in cfg["users"]:
                qps = n / period
                if qps > cfg["max_qps"]:
                    continue
                combos = []
                if "online" in args.experiments:
                    combos += [(p, cfg["bandwidths"][0]) for p in policies
                               if (p not in SLOT_POLICIES or qps <= cfg["plan_max_qps"])
                               and (p not in STATIC_POLICIES or n <= cfg["plan_max_users"])]
                if "map" in args.experiments:
                    combos += [(p, bw) for bw in cfg["bandwidths"] for p in MAP_POLICIES]
                for policy, bw in combos:
                    task = {**base, "kind": "online", "policy": policy, "n_users": n,
                            "rate_hz": 1.0 / period, "bandwidth_hz": bw, "tau": args.tau,
                            "seed": seed, "slot": args.slot, "deadline_s": args.deadline_s,
                            "duration_s": window_s(n, 1.0 / period, cfg)}
                    runs.setdefault((policy, n, period, bw, seed), task)
    return tasks + list(runs.values())


def goodput(rows: list[dict], users, bandwidth_hz: float) -> list[dict]:
    """Per policy and rate: per seed, the largest swept N up to which (every swept N at or
    below it) at least 90 % of queries meet the deadline (0 when even the smallest misses),
    and its queries/s N x rate; mean and 95 % CI over seeds. ``censored`` counts the seeds
    whose sweep stopped at an N that was not run (``--max-qps``, ``--plan-max-qps``,
    ``--plan-max-users``): there the goodput is a lower bound."""
    per = defaultdict(dict)
    for row in rows:
        if row["bandwidth_hz"] == bandwidth_hz:
            per[(row["policy"], row["rate_hz"], row["seed"])][row["n_users"]] = row["attainment"]
    by, censored = defaultdict(list), defaultdict(int)
    for (policy, rate, _), attained in per.items():
        best = 0
        for n in sorted(users):
            if attained.get(n, 0.0) < GOODPUT_ATTAINMENT:
                censored[(policy, rate)] += n not in attained
                break
            best = n
        by[(policy, rate)].append(best)
    out = []
    for (policy, rate), values in by.items():
        mean, half = mean_ci95(values)
        out.append({"policy": policy, "rate_hz": rate, "seeds": len(values),
                    "goodput_users": mean, "goodput_users_ci95": half,
                    "goodput_qps": mean * rate, "goodput_qps_ci95": half * rate,
                    "censored": censored[(policy, rate)]})
    return out


def map_cells(rows: list[dict]) -> list[dict]:
    """The map: per (N, rate, bandwidth), the threshold's runs paired with edge-all's of the
    same seed; the mean delay difference (threshold - edge-all) with its 95 % CI over seeds
    decides the verdict: "local pays" (CI below 0), "edge dominates" (CI above 0 and edge-all
    at least as accurate on the mean), else "tie"."""
    runs = {(r["policy"], r["n_users"], r["rate_hz"], r["bandwidth_hz"], r["seed"]): r
            for r in rows if r["policy"] in MAP_POLICIES}
    cells = defaultdict(list)
    for (policy, n, rate, bw, seed), row in runs.items():
        other = runs.get(("edge_all", n, rate, bw, seed))
        if policy == "threshold" and other is not None:
            cells[(n, rate, bw)].append((row, other))
    out = []
    for (n, rate, bw), pairs in sorted(cells.items()):
        d_mean = mean_ci95([t["mean_ms"] - e["mean_ms"] for t, e in pairs])
        d_p95 = mean_ci95([t["p95_ms"] - e["p95_ms"] for t, e in pairs])
        d_acc = mean_ci95([t["accuracy_pct"] - e["accuracy_pct"] for t, e in pairs])
        t_mean = float(np.mean([t["mean_ms"] for t, _ in pairs]))
        e_mean = float(np.mean([e["mean_ms"] for _, e in pairs]))
        sent = [t["sent_accuracy_pct"] for t, _ in pairs if t["sent_accuracy_pct"] is not None]
        if d_mean[0] + d_mean[1] < 0:
            verdict = "local pays"
        elif d_mean[0] - d_mean[1] > 0 and d_acc[0] <= 0:
            verdict = "edge dominates"
        else:
            verdict = "tie"
        out.append({
            "n_users": n, "rate_hz": rate, "bandwidth_hz": bw, "seeds": len(pairs),
            "delta_mean_ms": d_mean[0], "delta_mean_ms_ci95": d_mean[1],
            "delay_ratio": t_mean / e_mean, "delta_p95_ms": d_p95[0],
            "delta_p95_ms_ci95": d_p95[1], "threshold_mean_ms": t_mean,
            "edge_all_mean_ms": e_mean,
            "threshold_accuracy_pct": float(np.mean([t["accuracy_pct"] for t, _ in pairs])),
            "edge_all_accuracy_pct": float(np.mean([e["accuracy_pct"] for _, e in pairs])),
            "delta_accuracy_pts": d_acc[0], "delta_accuracy_pts_ci95": d_acc[1],
            "sent_accuracy_pct": float(np.mean(sent)) if sent else None,
            "offloaded_frac": float(np.mean([t["offloaded_frac"] for t, _ in pairs])),
            "collapsed_runs": int(sum(t["collapsed"] + e["collapsed"] for t, e in pairs)),
            "verdict": verdict})
    return out


def _config(args) -> dict:
    cfg = dict(QUICK if args.quick else DEFAULTS)
    for key in ("static_users", "taus", "users", "periods", "bandwidths"):
        value = getattr(args, key)
        if value:
            cfg[key] = tuple(value) if key == "bandwidths" else tuple(sorted(set(value)))
    for key in ("drops", "seeds", "queries", "min_duration", "max_duration", "max_qps",
                "plan_max_qps", "plan_max_users"):
        if getattr(args, key) is not None:
            cfg[key] = getattr(args, key)
    if cfg["min_duration"] > cfg["max_duration"]:
        raise BenchmarkError(f"--min-duration: must be <= --max-duration "
                             f"({cfg['max_duration']:g}), got {cfg['min_duration']:g}")
    return cfg


def _check_specs(args) -> None:
    """Build every spec once, so that a bad name is one line before any task runs."""
    for field, value, get in (("--device", args.device, inference.get_hardware),
                              ("--edge", args.edge, inference.get_hardware),
                              ("--slm", args.slm, inference.get_model),
                              ("--llm", args.llm, inference.get_model)):
        try:
            get(value)
        except ValueError as exc:
            raise BenchmarkError(f"{field}: {exc}") from None
    for field, value in (("--device", args.device), ("--edge", args.edge)):
        if os.path.isfile(value):  # workers read the same file, wherever they run from
            setattr(args, field[2:], os.path.abspath(value))
    try:
        _generate(vars(args) | {"output_tokens": args.output_tokens}, 1, 0)
    except ValueError as exc:
        raise BenchmarkError(str(exc)) from None


def _run(args) -> int:
    cfg = _config(args)
    _check_specs(args)
    policies = tuple(args.policies) if args.policies else POLICIES
    out_dir = Path(args.out or ("results/serving-quick" if args.quick else "results/serving"))
    tasks = _tasks(args, cfg, policies)
    started, cpu0 = time.perf_counter(), _cpu_s()
    load0 = os.getloadavg()[0]
    header = (f"device {args.device} ({args.slm}), edge {args.edge} ({args.llm}) x "
              f"{args.servers}, T {args.output_tokens}; static N {list(cfg['static_users'])}, "
              f"taus {list(cfg['taus'])}, {cfg['drops']} drops; online N {list(cfg['users'])}, "
              f"a query every {list(cfg['periods'])} s per user, tau {args.tau:g}, bandwidths "
              f"{[f'{b:g}' for b in cfg['bandwidths']]} Hz, seeds {args.first_seed}.."
              f"{args.first_seed + cfg['seeds'] - 1}, about {cfg['queries']} queries per run "
              f"(window {cfg['min_duration']:g}-{cfg['max_duration']:g} s, warm-up a fifth), "
              f"slot {args.slot * 1e3:g} ms, D {args.deadline_s:g} s")
    print(f"{PROG}: {header}; {len(tasks)} tasks; {describe_executor(args)}; {machine_line()}",
          file=sys.stderr)
    with staged_output(out_dir) as stage:
        done = run_tasks(run_task, tasks, out=out_dir, args=args, desc="tasks")
        results = [d["result"] for d in done]
        task_cpu = sum(d["cpu_s"] for d in done)
        drops = [row for task, res in zip(tasks, results) if task["kind"] == "static"
                 for row in res]
        runs = [res for task, res in zip(tasks, results) if task["kind"] == "online"]
        static = group_mean_ci95(drops, ("n_users", "tau", "method"), STATIC_METRICS, "drops")
        first_bw = float(cfg["bandwidths"][0])
        online_rows = [r for r in runs if r["bandwidth_hz"] == first_bw
                       and r["policy"] in policies and "online" in args.experiments]
        summary = group_mean_ci95(online_rows, ("policy", "n_users", "rate_hz", "bandwidth_hz"),
                           RUN_METRICS, "seeds")
        good = goodput(online_rows, cfg["users"], first_bw)
        cells = map_cells(runs) if "map" in args.experiments else []
        write_csv(stage / "serving_static_drops.csv", drops, STATIC_DROP_COLUMNS)
        write_csv(stage / "serving_static.csv", static, STATIC_COLUMNS)
        write_csv(stage / "serving_runs.csv", runs, RUN_COLUMNS)
        write_csv(stage / "serving_online.csv", summary, ONLINE_COLUMNS)
        write_csv(stage / "serving_goodput.csv", good, GOODPUT_COLUMNS)
        write_csv(stage / "serving_map.csv", cells, MAP_COLUMNS)
        report = header + "\n\n" + _report(static, summary, good, cells, cfg, policies, args)
        report += (f"\n\nwall time {time.perf_counter() - started:.1f} s; CPU time "
                   f"{task_cpu:.1f} s in the tasks (summed over workers; of the stored "
                   f"results with --resume), {_cpu_s() - cpu0:.1f} s in this process; load "
                   f"average {load0:.1f} at the start, {os.getloadavg()[0]:.1f} at the end; "
                   f"{machine_line()}")
        (stage / "summary.txt").write_text(report + "\n", encoding="utf-8")
        if not args.no_plots:
            plot(static, summary, cells, cfg, policies, args, stage)
    print(report)
    print(f"\nwrote {out_dir}/serving_*.csv, summary.txt" + ("" if args.no_plots else
                                                               " and plots"))
    return 0


def _cpu_s() -> float:
    """CPU seconds of this process."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _pm(record: dict | None, metric: str, digits: int = 1) -> str:
    if record is None or record.get(metric) is None:
        return "-"
    return f"{record[metric]:.{digits}f} +- {record[f'{metric}_ci95']:.{digits}f}"


def _report(static, summary, good, cells, cfg, policies, args) -> str:
    blocks = []
    index = {(r["n_users"], r["tau"], r["method"]): r for r in static}
    for tau in cfg["taus"] if static else ():
        lines = []
        for n in cfg["static_users"]:
            line = [n]
            for method in METHODS:
                r = index.get((n, tau, method))
                line += [_pm(r, "accuracy_pct"), _pm(r, "mean_delay_ms", 0)]
            lines.append(line)
        blocks.append(table(["N"] + [h for m in METHODS for h in (f"{m} acc %", f"{m} ms")],
                            lines, title=f"static, tau {tau:g}: accuracy % and mean delay per "
                                         f"user ms, mean +- 95 % CI over drops"))
    lines = []
    for tau in cfg["taus"] if static else ():
        for n in cfg["static_users"]:
            for method in ("goa", "goa_ls"):
                r = index.get((n, tau, method))
                lines.append([f"{tau:g}", n, method, _pm(r, "n_offloaded"),
                              _pm(r, "delay_vs_local_pct"), _pm(r, "acc_vs_local_pts"),
                              _pm(r, "delay_vs_edge_pct"), _pm(r, "acc_vs_edge_pts")])
    if lines:
        blocks.append(table(["tau", "N", "method", "offloaded", "delay vs local-all %",
                             "acc vs local-all pts", "delay vs edge-all %",
                             "acc vs edge-all pts"], lines,
                            title="static: what offloading buys (paired per drop; mean +- 95 % "
                                  "CI)"))
    index = {(r["policy"], r["n_users"], r["rate_hz"]): r for r in summary}
    for period in cfg["periods"] if summary else ():
        lines = []
        for policy in policies:
            for n in cfg["users"]:
                r = index.get((policy, n, 1.0 / period))
                lines.append([policy, n, _pm(r, "p50_ms", 0), _pm(r, "p95_ms", 0),
                              _pm(r, "p99_ms", 0), _pm(r, "accuracy_pct"),
                              _pm(r, "offloaded_frac", 2), _pm(r, "attainment", 3),
                              "-" if r is None else f"{r['largest_batch']:.0f}",
                              "-" if r is None else
                              f"{round(r['collapsed'] * r['seeds'])} of {r['seeds']}"])
        blocks.append(table(["policy", "N", "p50 ms", "p95 ms", "p99 ms", "accuracy %",
                             "offloaded", f"<= {args.deadline_s:g} s", "largest batch",
                             "collapsed"], lines,
                            title=f"online, batched ESs, a query every {period:g} s per user, "
                                  f"tau {args.tau:g}: mean +- 95 % CI over seeds"))
    if good:
        lines = [[g["policy"], f"{1.0 / g['rate_hz']:g}", _pm(g, "goodput_users", 0),
                  _pm(g, "goodput_qps"), "at least" if g["censored"] else ""] for g in sorted(
                      good, key=lambda g: (g["rate_hz"], -g["goodput_users"]))]
        blocks.append(table(["policy", "period s", "users", "queries/s", "(sweep cut)"], lines,
                            title=f"goodput: the most users (swept) up to which >= 90 % of "
                                  f"queries finish within {args.deadline_s:g} s"))
    if cells:
        lines = [[c["n_users"], f"{1.0 / c['rate_hz']:g}", f"{c['bandwidth_hz']:g}",
                  _pm(c, "delta_mean_ms", 0), f"{c['delay_ratio']:.2f}",
                  _pm(c, "delta_accuracy_pts"),
                  "-" if c["sent_accuracy_pct"] is None else f"{c['sent_accuracy_pct']:.1f}",
                  f"{c['offloaded_frac']:.2f}", c["collapsed_runs"], c["verdict"]]
                 for c in cells]
        counts = {v: sum(c["verdict"] == v for c in cells) for v in VERDICTS}
        blocks.append(table(["N", "period s", "bandwidth Hz", "threshold - edge-all ms",
                             "delay ratio", "acc diff pts", "sent acc %", "sent", "collapsed",
                             "verdict"], lines,
                            title=f"map: threshold (tau {args.tau:g}) against edge-all, mean "
                                  f"delay difference +- 95 % CI over seeds (paired)")
                      + "\n" + ", ".join(f"{v}: {k} cells" for v, k in counts.items()))
    return "\n\n".join(blocks)


def plot(static, summary, cells, cfg, policies, args, folder) -> None:
    """static.png, online_tails.png and map.png (whichever experiments ran)."""
    plt = matplotlib_pyplot()
    if static:
        tau = args.tau if args.tau in cfg["taus"] else cfg["taus"][len(cfg["taus"]) // 2]
        index = {(r["n_users"], r["tau"], r["method"]): r for r in static}
        users = list(cfg["static_users"])
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
        for ax, metric, label in ((axes[0], "mean_delay_ms", "mean delay per user [ms]"),
                                  (axes[1], "accuracy_pct", "accuracy [%]")):
            for method in METHODS:
                pts = [index[(n, tau, method)] for n in users]
                ax.errorbar(users, [p[metric] for p in pts],
                            yerr=[p[f"{metric}_ci95"] for p in pts], ms=3, capsize=2,
                            **plot_style(method))
            ax.set_xlabel("users N")
            ax.set_ylabel(label)
            ax.grid(True, alpha=0.3)
        axes[0].set_yscale("log")
        axes[1].legend(fontsize=7)
        fig.suptitle(f"static, roofline costs, tau {tau:g} ({args.slm} on "
                     f"{Path(args.device).stem}, {args.llm} on {Path(args.edge).stem})",
                     fontsize=9)
        fig.tight_layout()
        fig.savefig(folder / "static.png", dpi=120)
        plt.close(fig)
    if summary:
        index = {(r["policy"], r["n_users"], r["rate_hz"]): r for r in summary}
        periods = list(cfg["periods"])
        fig, axes = plt.subplots(1, len(periods), figsize=(4.2 * len(periods), 3.8),
                                 squeeze=False, sharey=True)
        for ax, period in zip(axes[0], periods):
            for policy in policies:
                pts = [(n, index[(policy, n, 1.0 / period)]) for n in cfg["users"]
                       if (policy, n, 1.0 / period) in index]
                style = plot_style(policy)
                if policy in SLOT_POLICIES:
                    style["label"] += " per slot"
                ax.errorbar([n for n, _ in pts], [p["p95_ms"] for _, p in pts],
                            yerr=[p["p95_ms_ci95"] for _, p in pts], ms=3, capsize=2, **style)
            ax.axhline(args.deadline_s * 1e3, color="0.5", linestyle=":",
                       label=f"D = {args.deadline_s:g} s")
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel("users N")
            ax.set_title(f"a query every {period:g} s per user", fontsize=9)
            ax.grid(True, alpha=0.3)
        axes[0][0].set_ylabel("p95 delay [ms]")
        axes[0][-1].legend(fontsize=6)
        fig.tight_layout()
        fig.savefig(folder / "online_tails.png", dpi=120)
        plt.close(fig)
    if cells:
        plot_map(plt, cells, cfg, args, folder)


def plot_map(plt, cells, cfg, args, folder) -> None:
    """map.png: one panel per bandwidth, users across, per-user period down; the colour is
    log10 of the threshold's mean delay over edge-all's, the text the verdict."""
    bws = list(cfg["bandwidths"])
    users, periods = list(cfg["users"]), sorted(cfg["periods"])
    index = {(c["n_users"], c["rate_hz"], c["bandwidth_hz"]): c for c in cells}
    fig, axes = plt.subplots(1, len(bws), figsize=(4.4 * len(bws), 3.6), squeeze=False)
    mark = {"local pays": "L", "tie": "~", "edge dominates": "E"}
    image = None
    for ax, bw in zip(axes[0], bws):
        grid = np.full((len(periods), len(users)), np.nan)
        for i, period in enumerate(periods):
            for k, n in enumerate(users):
                c = index.get((n, 1.0 / period, float(bw)))
                if c is None:
                    continue
                grid[i, k] = math.log10(c["delay_ratio"])
                ax.text(k, i, f"{mark[c['verdict']]}\n{c['delay_ratio']:.2g}", ha="center",
                        va="center", fontsize=7)
        image = ax.imshow(grid, cmap="coolwarm", vmin=-2, vmax=2, aspect="auto")
        ax.set_xticks(range(len(users)), [str(n) for n in users], fontsize=7)
        ax.set_yticks(range(len(periods)), [f"{p:g}" for p in periods], fontsize=7)
        ax.set_xlabel("users N")
        ax.set_title(f"ES bandwidth {bw:g} Hz", fontsize=9)
    axes[0][0].set_ylabel("seconds between a user's queries")
    fig.colorbar(image, ax=axes[0].tolist(), label="log10 mean delay, threshold / edge-all")
    fig.suptitle(f"L: threshold (tau {args.tau:g}) faster, CI over seeds below 0; E: edge-all "
                 f"faster and as accurate; ~: tie", fontsize=8)
    fig.savefig(folder / "map.png", dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
