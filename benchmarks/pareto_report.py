"""The comparison maths, tables and plots of ``python -m benchmarks.pareto``: the front read at
a level or a delay, GOA's tau-sweep against the front, the check that no heuristic lies below
the front, calibration, the summary and the figures."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np

from benchmarks.common import matplotlib_pyplot, mean_ci95, table
from benchmarks.pareto_tasks import SERVERS
from benchmarks.style import legend_below, plot_style

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
            # not clamped: GOA's own accuracies are solved exactly (front_task), so on a front
            # that is right neither figure can be negative, and a negative one shows a fault
            front_delay = delay_at(levels, delays, r["expected_accuracy_pct"])
            reached = accuracy_at(levels, delays, r["objective_ms"])
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


# Methods whose points set a panel's axes; the others (local-all, the oracle) lie far off the
# front: drawn only when inside, and named in the panel's title when not.
FOCUS = ("front", "goa", "acc_greedy", "edge_all", "dmin", "random")


def plot(rows: list[dict], calibration: list[dict], ece: dict, folder: Path) -> None:
    """pareto.png (front vs points for the first seed of each scenario, expected and realized
    accuracy; GOA's tau sweep drawn last, each of its distinct plans labelled with its taus;
    the axes span the front and the heuristics, points far off them named in the title; one
    legend below the panels) and reliability.png."""
    plt = matplotlib_pyplot()
    scenarios = sorted({(r["interference"], r["n_users"]) for r in rows})
    fig, axes = plt.subplots(2, len(scenarios), figsize=(6.5 * len(scenarios), 10),
                             squeeze=False)
    for col, (interference, n) in enumerate(scenarios):
        mine = [r for r in rows if (r["interference"], r["n_users"]) == (interference, n)]
        seed = min(r["seed"] for r in mine)
        mine = [r for r in mine if r["seed"] == seed]
        for row_index, key in enumerate(("expected_accuracy_pct", "realized_accuracy_pct")):
            ax = axes[row_index][col]
            drawn = {}  # method -> [(x, y)], for the axes' limits
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
                        xs = [r[key] for r in corner_rows]
                        ys = [r["objective_ms"] for r in corner_rows]
                        ax.plot(xs, ys, "k.", label="front plans (realized)")
                    drawn[method] = list(zip(xs, ys))
                    continue
                if not rs:
                    continue
                rs = sorted(rs, key=lambda r: (r["tau"] or 0, r["min_accuracy"] or 0))
                points = [(r[key], r["objective_ms"]) for r in rs]
                drawn[method] = points
                # realized accuracy is not monotone along a sweep: markers only there
                line = style["linestyle"] if key == "expected_accuracy_pct" else ""
                # GOA's sweep on top of what it coincides with, hollow so that those show
                on_top = method == "goa"
                ax.plot(*zip(*points), color=style["color"], marker=style["marker"],
                        linestyle=line or "none", markersize=9 if on_top else 5,
                        alpha=1.0 if on_top else 0.85, zorder=6 if on_top else 2,
                        markerfacecolor="none" if on_top else style["color"],
                        markeredgewidth=1.6 if on_top else 1.0, label=style["label"])
            off = _focus_axes(ax, drawn)
            ax.set_yscale("log")
            _label_taus(ax, [r for r in mine if r["method"] == "goa"], key)
            ax.set_xlabel(("expected" if row_index == 0 else "realized") + " accuracy [%]")
            ax.set_ylabel("total delay [ms] (log)")
            ax.set_title(f'"{interference}", N = {n}, M = {SERVERS}, seed {seed}'
                         + (f"\noff the axes: {off}" if off else ""), fontsize=9)
            ax.grid(True, alpha=0.3, which="both")
    legend_below(fig, axes.flat, ncol=3)
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


def _label_taus(ax, goa_rows: list[dict], key: str) -> None:
    """Write beside GOA's plans the taus of the sweep that give them; plans less than 12 pixels
    apart share one label (call once the axes' limits and scales are set)."""
    plans: dict[tuple, list[float]] = {}
    for r in goa_rows:
        plans.setdefault((r[key], r["objective_ms"]), []).append(r["tau"])
    all_taus = sorted({r["tau"] for r in goa_rows})
    groups: list[tuple[np.ndarray, tuple, list[float]]] = []
    for point, taus in sorted(plans.items(), key=lambda item: min(item[1])):
        pixel = ax.transData.transform(point)
        for near, _, members in groups:
            if np.hypot(*(pixel - near)) < 12:
                members.extend(taus)
                break
        else:
            groups.append((pixel, point, list(taus)))
    right = ax.get_window_extent().x1
    for pixel, point, taus in groups:
        left = pixel[0] > right - 70  # near the right edge: write to the left of the point
        ax.annotate("tau " + _runs(sorted(taus), all_taus), point, textcoords="offset points",
                    xytext=(-7 if left else 7, -11), ha="right" if left else "left",
                    fontsize=7, color=METHOD_STYLE["goa"]["color"], zorder=7)


def _runs(taus: list[float], grid: list[float]) -> str:
    """``taus`` (a subset of the sorted ``grid``) as runs of consecutive grid values:
    "0-0.6, 1"."""
    index = [grid.index(t) for t in taus]
    runs, start = [], 0
    for k in range(1, len(index) + 1):
        if k == len(index) or index[k] != index[k - 1] + 1:
            lo, hi = taus[start], taus[k - 1]
            runs.append(f"{lo:g}" if lo == hi else f"{lo:g}-{hi:g}")
            start = k
    return ", ".join(runs)


def _focus_axes(ax, drawn: dict[str, list[tuple]]) -> str:
    """Set the limits to the points of the :data:`FOCUS` methods (with a margin); return the
    other methods' points that fall outside, as text ("" when none)."""
    inside = [(x, y) for method, points in drawn.items() if method in FOCUS
              for x, y in points if np.isfinite(x) and np.isfinite(y) and y > 0]
    if not inside:
        return ""
    xs, ys = np.array(inside).T
    width = max(xs.max() - xs.min(), 0.5)
    x_lo, x_hi = xs.min() - 0.08 * width, xs.max() + 0.08 * width
    y_lo, y_hi = ys.min() / 1.06, ys.max() * 1.06
    ax.set_xlim(x_lo, x_hi)
    ax.set_ylim(y_lo, y_hi)
    off = [f"{METHOD_STYLE[m]['label'].split(' (')[0]} ({x:.1f} %, {y:.0f} ms)"
           for m, points in drawn.items() if m not in FOCUS for x, y in points
           if not (x_lo <= x <= x_hi and y_lo <= y <= y_hi)]
    return ", ".join(off)

