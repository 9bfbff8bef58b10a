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
"""

from __future__ import annotations

import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from benchmarks.common import (
    Parser, machine_line, matplotlib_pyplot, mean_ci95, non_negative_int, positive_float,
    positive_int, run_cli, staged_output, table, write_csv)
from benchmarks.executor import add_executor_arguments, describe_executor, run_tasks
from benchmarks.style import plot_style

PROG = "python -m benchmarks.pareto"
# The methods drawn, with the project's one style per method (benchmarks.style); the labels say
# how each is used here.
METHOD_STYLE = {
    "front": plot_style("exact", marker="", label="exact front (P_A)"),
    "goa": plot_style("goa", linestyle="--", label="GOA, tau-sweep"),
    "acc_greedy": plot_style("acc_greedy", linestyle=""),
    "dmin": plot_style("dmin", linestyle=""),
    "random": plot_style("random", linestyle="", label="random (tau 0.8)"),
    "local_all": plot_style("local_all", linestyle=""),
    "edge_all": plot_style("edge_all", linestyle=""),
    "oracle": plot_style("oracle", linestyle="",
                         label="oracle (knows correctness; not deployable)"),
}
SCENARIOS = (("none", 50), ("full", 12))
QUICK_SCENARIOS = (("none", 16), ("full", 8))
DEFAULT_SEEDS = (0, 1, 2)
QUICK_SEEDS = (0,)
SERVERS = 4
TAUS = tuple(np.round(np.linspace(0.0, 1.0, 21), 2))
RANDOM_TAU = 0.8
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
    parser.add_argument("--time-limit", type=positive_float, default=60.0, metavar="SECONDS",
                        help="time limit of each exact solve (60)")
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


# --- the work ------------------------------------------------------------------------------------

def _instance(interference: str, n: int, seed: int):
    import instances

    return instances.generate(n, SERVERS, seed=seed, interference=interference)


def _row(inst, seed, method, result=None, evaluation=None, tau=None, min_accuracy=None,
         status="feasible", runtime=None, bound=None) -> dict:
    ev = result.evaluation if result is not None else evaluation
    return {"interference": inst.interference, "n_users": inst.n_users,
            "n_servers": inst.n_servers, "seed": seed, "method": method, "tau": tau,
            "min_accuracy": min_accuracy,
            "status": str(result.status) if result is not None else status,
            "objective_ms": ev.total_delay_ms,
            "bound_ms": result.bound_ms if result is not None else bound,
            "expected_accuracy_pct": ev.expected_accuracy_pct,
            "realized_accuracy_pct": ev.accuracy_pct, "n_offloaded": ev.n_offloaded,
            "runtime_s": result.runtime_s if result is not None else runtime}


def oracle_assignment(inst):
    """Offload exactly the queries the LLM answers right and the SLM wrong; place them by the
    unweighted greedy (the pair with the least e_ij - t^L_i first), everyone else local."""
    from goa.reference import reference_greedy

    chosen = (inst.llm_correct > 0.5) & (inst.slm_correct < 0.5)
    return reference_greedy(inst, np.ones(inst.n_users), chosen,
                            np.zeros(inst.n_users, dtype=bool))


def levels_of(lo: float, hi: float, count: int) -> np.ndarray:
    """The front grid: ``count`` values from ``lo`` to ``hi`` (the last one exactly ``hi``)."""
    return np.linspace(lo, hi, count) if count > 1 else np.array([hi])


def heuristics_task(task: tuple) -> dict:
    """One instance: every heuristic plan and the exact front's first part: under "full" the
    whole staircase (subset search), under "none" the supported points.

    Returns {"rows": [...], "levels": [...], "probes": [...], "queries": (p_slm, p_llm, slm,
    llm)}; ``probes`` ("none" only): what :func:`front_task` still has to do, see
    :func:`_probes`.
    """
    import goa
    import instances
    from formulations.front import exact_front, supported_front
    from instances.calibration import max_expected_accuracy_pct

    interference, n, seed, n_levels, time_limit, exact_points = task
    inst = _instance(interference, n, seed)
    rows = []
    for tau in TAUS:
        rows.append(_row(inst, seed, "goa", goa.solve(inst, tau=float(tau), method="goa"),
                         tau=float(tau)))
    rows.append(_row(inst, seed, "dmin", goa.solve(inst, tau=1.0, method="dmin")))
    rows.append(_row(inst, seed, "random",
                     goa.solve(inst, tau=RANDOM_TAU, method="random", seed=seed), tau=RANDOM_TAU))
    rows.append(_row(inst, seed, "local_all", goa.solve(inst, tau=1.0, method="local_all")))
    rows.append(_row(inst, seed, "edge_all", goa.solve(inst, tau=1.0, method="edge_all")))
    started = time.perf_counter()
    oracle = oracle_assignment(inst)
    rows.append(_row(inst, seed, "oracle", evaluation=instances.evaluate(inst, oracle),
                     runtime=time.perf_counter() - started, status="oracle"))

    hi = max_expected_accuracy_pct(inst)
    probes = []
    if interference == "full":
        front = exact_front(inst, time_limit=time_limit)
        lo = float(front.accuracy_pct[0])
        levels = levels_of(lo, hi, n_levels)
        status = "optimal" if front.complete else "time_limit"
        for level in levels:
            k = int(np.searchsorted(front.accuracy_pct, level - 1e-9))
            row = _row(inst, seed, "front", evaluation=instances.evaluate(
                inst, front.assignments[k]), min_accuracy=float(level), status=status,
                runtime=front.runtime_s)
            rows.append(row)
        for k in range(front.accuracy_pct.size):  # the corners themselves
            rows.append(_row(inst, seed, "front_corner", evaluation=instances.evaluate(
                inst, front.assignments[k]), min_accuracy=float(front.accuracy_pct[k]),
                status=status, runtime=front.runtime_s))
    else:
        front = supported_front(inst, time_limit=time_limit)
        lo = float(front.accuracy_pct[0])
        levels = levels_of(lo, hi, n_levels)
        for k in range(front.accuracy_pct.size):
            accuracy = float(front.accuracy_pct[k])
            rows.append(_row(inst, seed, "front_supported", evaluation=instances.evaluate(
                inst, front.assignments[k]), min_accuracy=accuracy,
                status="optimal" if front.proven[k] else "feasible", runtime=front.runtime_s,
                bound=float(front.bound_at(accuracy)[0])))
        probes = _probes(inst, seed, front, levels, rows, exact_points)
    for level in levels:
        rows.append(_row(inst, seed, "acc_greedy",
                         goa.solve(inst, tau=None, method="acc_greedy", min_accuracy=level),
                         min_accuracy=float(level)))
    queries = (inst.p_slm_correct, inst.p_llm_correct, inst.slm_correct, inst.llm_correct)
    return {"rows": rows, "levels": [float(v) for v in levels], "probes": probes,
            "queries": queries}


def _probes(inst, seed, front, levels, rows, exact_points) -> list:
    """The work left for :func:`front_task` ("none"); rows for the closed levels are appended
    to ``rows``. Returns [] or one task tail: (the supported front, GOA's levels, the open grid
    levels widest bracket first, the open levels' proven bounds, exact points still wanted).

    A grid level whose bracket is closed (the supported point reaching it meets the best cut
    there, to the MIP gap) is an optimum without a solve.
    """
    import instances
    from formulations.milp import DEFAULT_MIP_GAP

    lo, hi = float(front.accuracy_pct[0]), float(front.accuracy_pct[-1])
    goa_levels = sorted({r["expected_accuracy_pct"] for r in rows if r["method"] == "goa"
                         and lo < r["expected_accuracy_pct"] <= hi})
    upper, bound = front.delay_at(levels), front.bound_at(levels)
    closed = upper <= bound * (1.0 + DEFAULT_MIP_GAP)
    for k in np.flatnonzero(closed):
        j = int(np.searchsorted(front.accuracy_pct, levels[k] - 1e-9))
        rows.append(_row(inst, seed, "front", evaluation=instances.evaluate(
            inst, front.assignments[j]), min_accuracy=float(levels[k]), status="optimal",
            runtime=0.0, bound=float(min(bound[k], upper[k]))))
    open_levels = np.flatnonzero(~closed)
    # widest bracket first (ties: the lower level), deterministic
    open_levels = open_levels[np.lexsort((open_levels, -(upper - bound)[open_levels]))]
    wanted = exact_points - front.accuracy_pct.size - int(closed.sum())
    if not goa_levels and open_levels.size == 0:
        return []
    # plain data (the front as lists), so that the task can run in another process or machine
    return [(front.to_dict(), [float(level) for level in goa_levels],
             [float(level) for level in levels[open_levels]], int(wanted))]


def front_task(task: tuple) -> list[dict]:
    """The rest of one instance's front ("none"), by (P_A) solves in order
    (:func:`formulations.front.front_at`: warm start from the supported point, the cuts a
    bound): GOA's own accuracies always (then the delay the front saves there is exact); then
    the open grid levels, widest bracket first, while the instance has fewer than the wanted
    exact points; the rest are proven brackets (status "bounded": the supported point's plan,
    the cut as bound).

    An optimal plan at level L with expected accuracy A' gives F exactly on all of [L, A']
    (F is non-decreasing and the plan reaches every level up to A'): levels it covers need no
    solve.
    """
    import instances
    from formulations.front import SupportedFront, front_at

    interference, n, seed, front, goa_levels, grid, wanted, time_limit = task
    front = SupportedFront.from_dict(front)
    inst = _instance(interference, n, seed)
    exact = []  # (level, accuracy, row) of the optimal (P_A) results
    rows = []

    def covered(level):
        for low, high, row in exact:
            if low - 1e-9 <= level <= high + 1e-9:
                out = dict(row, min_accuracy=level, runtime_s=0.0)
                return out
        return None

    def solve(level):
        row = covered(level)
        if row is None:
            result = front_at(inst, front, level, time_limit=time_limit)
            row = _row(inst, seed, "front", result, min_accuracy=level)
            if result.status == instances.Status.OPTIMAL:
                exact.append((level, result.evaluation.expected_accuracy_pct, row))
        return row

    for level in goa_levels:
        rows.append(solve(level))
    for level in grid:
        if wanted > 0 or covered(level) is not None:
            row = solve(level)
            wanted -= row["status"] == "optimal"
        else:
            j = int(np.searchsorted(front.accuracy_pct, level - 1e-9))
            row = _row(inst, seed, "front", evaluation=instances.evaluate(
                inst, front.assignments[j]), min_accuracy=level, status="bounded",
                runtime=0.0, bound=float(min(front.bound_at(level)[0],
                                             front.delay_at(level)[0])))
        rows.append(row)
    return rows


# --- the comparison ------------------------------------------------------------------------------

def front_points(rows: list[dict], bounds: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(levels, F) of one instance's front rows, increasing in the level: "front_corner" rows
    when present (the exact staircase), else the grid rows. F is the best plan's delay, or with
    ``bounds`` the proven lower bound on F at the level (-inf where a search gave none)."""
    corners = [r for r in rows if r["method"] == "front_corner"]
    points = corners or [r for r in rows if r["method"] in ("front", "front_supported")]
    points = sorted(points, key=lambda r: r["min_accuracy"])
    if bounds:
        values = [(r["objective_ms"] if r["status"] == "optimal" else -np.inf)
                  if r["bound_ms"] is None else r["bound_ms"] for r in points]
    else:
        values = [r["objective_ms"] for r in points]
    return np.array([r["min_accuracy"] for r in points]), np.array(values)


def delay_at(levels, delays, accuracy: float) -> float:
    """The least front delay at expected accuracy >= ``accuracy`` (an upper bound on F there
    when the front is a grid; exact on the staircase)."""
    ok = levels >= accuracy - 1e-9
    return float(delays[ok].min()) if np.any(ok) else float("nan")


def accuracy_at(levels, delays, delay_ms: float) -> float:
    """The largest front level reached with delay <= ``delay_ms`` (a lower bound on the true
    value when the front is a grid; exact on the staircase)."""
    ok = delays <= delay_ms * (1 + 1e-12)
    return float(levels[ok].max()) if np.any(ok) else float("nan")


def tau_table(rows: list[dict]) -> list[dict]:
    """Per scenario and tau: what the front saves at GOA's accuracy and gains at GOA's delay."""
    by_instance: dict[tuple, list[dict]] = defaultdict(list)
    for r in rows:
        by_instance[(r["interference"], r["n_users"], r["seed"])].append(r)
    cells: dict[tuple, list[tuple]] = defaultdict(list)
    kinds = {}
    for (interference, n, seed), members in by_instance.items():
        levels, delays = front_points(members)
        kinds[(interference, n)] = ("exact" if any(r["method"] == "front_corner" for r in members)
                                    else "saved exact, gained >=")
        for r in members:
            if r["method"] != "goa":
                continue
            # GOA's own plan reaches its accuracy at its delay, so on a grid (where the front is
            # known at the levels only) neither figure can be negative: clamp to it
            front_delay = min(delay_at(levels, delays, r["expected_accuracy_pct"]),
                              r["objective_ms"])
            reached = max(accuracy_at(levels, delays, r["objective_ms"]),
                          r["expected_accuracy_pct"])
            gained = reached - r["expected_accuracy_pct"]
            saved = r["objective_ms"] - front_delay
            cells[(interference, n, r["tau"])].append(
                (saved, 100.0 * saved / r["objective_ms"], gained, r["objective_ms"],
                 r["expected_accuracy_pct"]))
    out = []
    for (interference, n, tau), values in sorted(cells.items()):
        v = np.array(values)
        saved, saved_ci = mean_ci95(v[:, 0])
        saved_pct, saved_pct_ci = mean_ci95(v[:, 1])
        gained, gained_ci = mean_ci95(v[:, 2])
        out.append({"interference": interference, "n_users": n, "tau": tau, "seeds": len(v),
                    "goa_delay_ms": float(v[:, 3].mean()), "goa_expected_pct": float(v[:, 4].mean()),
                    "saved_ms": saved, "saved_ms_ci95": saved_ci, "saved_pct": saved_pct,
                    "saved_pct_ci95": saved_pct_ci, "gained_pp": gained,
                    "gained_pp_ci95": gained_ci, "front": kinds[(interference, n)]})
    return out


def below_front(rows: list[dict]) -> list[str]:
    """Heuristic plans strictly below their instance's exact front, checked against the proven
    lower bounds (there must be none)."""
    by_instance: dict[tuple, list[dict]] = defaultdict(list)
    for r in rows:
        by_instance[(r["interference"], r["n_users"], r["seed"])].append(r)
    found = []
    for key, members in by_instance.items():
        levels, delays = front_points(members, bounds=True)
        exact = "front_corner" in {r["method"] for r in members}
        for r in members:
            if r["method"] in ("front", "front_corner", "front_supported", "oracle"):
                continue
            # on a grid only points at or below a grid level can be checked exactly
            floor = delay_at(levels, delays, r["expected_accuracy_pct"]) if exact else \
                _grid_floor(levels, delays, r["expected_accuracy_pct"])
            if np.isfinite(floor) and r["objective_ms"] < floor * (1 - 1e-9):
                found.append(f"{key} {r['method']} tau={r['tau']} A={r['min_accuracy']}: "
                             f"{r['objective_ms']:.3f} ms < front {floor:.3f} ms")
    return found


def _grid_floor(levels, delays, accuracy):
    """A valid floor from a grid front: F is non-decreasing, so a plan with accuracy >= level_k
    costs at least F(level_k) for the largest level_k <= its accuracy."""
    ok = levels <= accuracy + 1e-9
    return float(delays[ok].max()) if np.any(ok) else float("nan")


# --- the report ----------------------------------------------------------------------------------

def calibration_rows(queries: list[tuple], bins: int = 10) -> tuple[list[dict], dict]:
    """Reliability of the instances' p against their realized correctness (pooled; every query
    is out of sample: the maps were fitted on the separate calibration stream), and on 20,000
    fresh synthetic queries. Returns (rows per model, sample and bin; ECE per model and sample)."""
    from instances import PRESETS
    from instances.calibration import (
        expected_calibration_error, reliability, synthetic_calibration)
    from instances.profiles import synthetic_queries

    p_slm = np.concatenate([q[0] for q in queries])
    p_llm = np.concatenate([q[1] for q in queries])
    slm = np.concatenate([q[2] for q in queries])
    llm = np.concatenate([q[3] for q in queries])
    fresh = synthetic_queries(20_000, np.random.default_rng(987_654), PRESETS["paper"])
    f_slm, f_llm = synthetic_calibration(PRESETS["paper"]).predict(fresh.alpha)
    samples = {"instances": ((p_slm, slm), (p_llm, llm)),
               "fresh_20000": ((f_slm, fresh.slm_correct), (f_llm, fresh.llm_correct))}
    rows, ece = [], {}
    for sample, pairs in samples.items():
        for model, (p, outcome) in zip(("slm", "llm"), pairs):
            edges, mean_p, observed, counts = reliability(p, outcome, bins)
            ece[(sample, model)] = expected_calibration_error(p, outcome, bins)
            for b in range(bins):
                rows.append({"sample": sample, "model": model, "bin_lo": edges[b],
                             "bin_hi": edges[b + 1], "mean_predicted": mean_p[b],
                             "observed": observed[b], "count": int(counts[b])})
    return rows, ece


def summarise(rows: list[dict], taus: list[dict], ece: dict, problems: list[str]) -> str:
    """The summary tables as text."""
    blocks = []
    scenarios = sorted({(r["interference"], r["n_users"]) for r in rows})
    for interference, n in scenarios:
        mine = [r for r in rows if (r["interference"], r["n_users"]) == (interference, n)]
        seeds = sorted({r["seed"] for r in mine})
        lines = []
        for method in ("local_all", "dmin", "random", "edge_all", "oracle"):
            rs = [r for r in mine if r["method"] == method]
            lines.append([method, len(rs)] + _means(rs))
        for tau in (0.0, 0.5, 0.8, 1.0):
            rs = [r for r in mine if r["method"] == "goa" and abs(r["tau"] - tau) < 1e-9]
            lines.append([f"goa tau={tau:g}", len(rs)] + _means(rs))
        fronts = [r for r in mine if r["method"] in ("front", "front_supported")]
        proven = sum(r["status"] == "optimal" for r in fronts)
        gaps = [100.0 * (r["objective_ms"] - r["bound_ms"]) / r["bound_ms"] for r in fronts
                if r["status"] != "optimal" and r["bound_ms"]]
        stopped = (f"; not proven: {len(fronts) - proven}, certified gap <= "
                   f"{max(gaps):.3f} %" if gaps else "")
        # the exact front's time per instance: one search ("full"), or the supported points'
        # search plus the (P_A) solves at the levels ("none")
        times = []
        for seed in seeds:
            own = [r for r in fronts if r["seed"] == seed]
            first = [r for r in own if r["method"] == "front_supported"] or own[:1]
            times.append(first[0]["runtime_s"] + sum(r["runtime_s"] for r in own
                                                     if r["method"] == "front"
                                                     and interference == "none"))
        supported = sum(r["method"] == "front_supported" for r in fronts)
        kind = (f"{supported} supported + {len(fronts) - supported} at levels"
                if interference == "none" else "levels")
        title = (f"interference={interference}  N={n}  M={SERVERS}  seeds={seeds}  front points "
                 f"{len(fronts)} ({kind}; proven optimal {proven}{stopped}); exact front time "
                 f"per instance: mean {np.mean(times):.2f} s, max {np.max(times):.2f} s")
        blocks.append(table(["method", "plans", "delay ms", "+-95%", "expected %", "+-95%",
                             "realized %", "+-95%"], lines, title=title))
    lines = [[t["interference"], t["n_users"], f"{t['tau']:.2f}", t["goa_delay_ms"],
              t["goa_expected_pct"], t["saved_ms"], t["saved_ms_ci95"], t["saved_pct"],
              t["gained_pp"], t["gained_pp_ci95"], t["front"]] for t in taus]
    blocks.append(table(["model", "N", "tau", "GOA ms", "GOA exp %", "saved ms", "+-95%",
                         "saved %", "gained pp", "+-95%", "front"], lines,
                        title="GOA's tau-sweep against the front: delay the front saves at GOA's "
                              "expected accuracy, expected accuracy it gains at GOA's delay "
                              "(means over seeds, 95 % CI half-widths)"))
    blocks.append(table(["sample", "model", "ECE"],
                        [[s, m, v] for (s, m), v in sorted(ece.items())],
                        title="calibration of p (10 equal-width bins; out of sample)"))
    blocks.append(f"heuristic plans below the exact front: {len(problems)}"
                  + "".join(f"\n  {p}" for p in problems[:20]))
    return "\n\n".join(blocks)


def _means(rs: list[dict]) -> list:
    out = []
    for key in ("objective_ms", "expected_accuracy_pct", "realized_accuracy_pct"):
        out.extend(mean_ci95([r[key] for r in rs]))
    return out


def plot(rows: list[dict], calibration: list[dict], ece: dict, folder: Path) -> None:
    """pareto.png (front vs points for the first seed of each scenario, expected and realized
    accuracy) and reliability.png."""
    plt = matplotlib_pyplot()
    scenarios = sorted({(r["interference"], r["n_users"]) for r in rows})
    fig, axes = plt.subplots(2, len(scenarios), figsize=(6.5 * len(scenarios), 9), squeeze=False)
    for col, (interference, n) in enumerate(scenarios):
        mine = [r for r in rows if (r["interference"], r["n_users"]) == (interference, n)]
        seed = min(r["seed"] for r in mine)
        mine = [r for r in mine if r["seed"] == seed]
        for row_index, key in enumerate(("expected_accuracy_pct", "realized_accuracy_pct")):
            ax = axes[row_index][col]
            for method, style in METHOD_STYLE.items():
                rs = [r for r in mine if r["method"] == method]
                if method == "front":
                    corner_rows = [r for r in mine if r["method"] == "front_corner"] or [
                        r for r in mine if r["method"] in ("front", "front_supported")]
                    corner_rows = sorted(corner_rows, key=lambda r: r["min_accuracy"])
                    if key == "expected_accuracy_pct":
                        # the proven points as a staircase; "bounded" levels ("none") as
                        # intervals from the proven bound to the best plan known
                        exact = [r for r in corner_rows if r["status"] != "bounded"]
                        xs = [r["min_accuracy"] for r in exact]
                        ys = [r["objective_ms"] for r in exact]
                        ax.step(xs, ys, where="pre", color=style["color"], label=style["label"])
                        ax.plot(xs, ys, "k.", markersize=4)
                        brackets = [r for r in corner_rows if r["status"] == "bounded"]
                        if brackets:
                            ax.vlines([r["min_accuracy"] for r in brackets],
                                      [r["bound_ms"] for r in brackets],
                                      [r["objective_ms"] for r in brackets], color="gray",
                                      linewidth=2, label="front bracketed (bound to plan)")
                    else:
                        ax.plot([r[key] for r in corner_rows],
                                [r["objective_ms"] for r in corner_rows], "k.",
                                label="front plans (realized)")
                    continue
                if not rs:
                    continue
                rs = sorted(rs, key=lambda r: (r["tau"] or 0, r["min_accuracy"] or 0))
                # realized accuracy is not monotone along a sweep: markers only there
                line = style["linestyle"] if key == "expected_accuracy_pct" else ""
                ax.plot([r[key] for r in rs], [r["objective_ms"] for r in rs],
                        color=style["color"], marker=style["marker"],
                        linestyle=line or "none", markersize=5, alpha=0.85,
                        label=style["label"])
            ax.set_yscale("log")
            ax.set_xlabel(("expected" if row_index == 0 else "realized") + " accuracy [%]")
            ax.set_ylabel("total delay [ms] (log)")
            ax.set_title(f'"{interference}", N = {n}, M = {SERVERS}, seed {seed}')
            ax.grid(True, alpha=0.3, which="both")
            ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(folder / "pareto.png", dpi=120)
    plt.close(fig)

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.8))
    for ax, sample in zip(axes, ("fresh_20000", "instances")):
        ax.plot([0, 1], [0, 1], color="lightgray", linestyle="--", label="perfect calibration")
        for model, color in (("slm", "tab:brown"), ("llm", "tab:blue")):
            rs = [r for r in calibration if r["sample"] == sample and r["model"] == model
                  and r["count"] > 0]
            ax.plot([r["mean_predicted"] for r in rs], [r["observed"] for r in rs], marker="o",
                    color=color, label=f"{model.upper()} (ECE {ece[(sample, model)]:.3f})")
        ax.set_xlabel("predicted P(correct)")
        ax.set_ylabel("observed frequency")
        count = sum(r["count"] for r in calibration if r["sample"] == sample
                    and r["model"] == "slm")
        ax.set_title(f"{count:,} fresh synthetic queries" if sample == "fresh_20000"
                     else f"the benchmark's instances ({count} queries, pooled)")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(folder / "reliability.png", dpi=120)
    plt.close(fig)


def _run(args) -> int:
    scenarios = QUICK_SCENARIOS if args.quick else SCENARIOS
    seeds = tuple(args.seeds) if args.seeds else (QUICK_SEEDS if args.quick else DEFAULT_SEEDS)
    n_levels = args.levels or (6 if args.quick else 21)
    out = args.out or ("results/pareto-quick" if args.quick else "results/pareto")
    started = time.perf_counter()
    print(f"{PROG}: scenarios {scenarios}, seeds {list(seeds)}, {n_levels} levels, time limit "
          f"{args.time_limit:g} s per exact solve, {describe_executor(args)}; "
          f"{machine_line()}", file=sys.stderr)
    with staged_output(out) as stage:
        tasks = [(interference, n, seed, n_levels, args.time_limit, args.exact_points)
                 for interference, n in scenarios for seed in seeds]
        done = run_tasks(heuristics_task, tasks, out=out, args=args, desc="instances")
        rows = [row for d in done for row in d["rows"]]
        front_tasks = [(*task[:3], *probe, args.time_limit)
                       for task, d in zip(tasks, done) for probe in d["probes"]]
        rows += [row for rs in run_tasks(front_task, front_tasks, out=out, args=args,
                                         desc="front (P_A)", next_phase=True)
                 for row in rs]
        taus = tau_table(rows)
        problems = below_front(rows)
        calibration, ece = calibration_rows([d["queries"] for d in done])
        report = summarise(rows, taus, ece, problems)
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
