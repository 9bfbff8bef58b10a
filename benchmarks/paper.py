"""``python -m benchmarks.paper``: the paper's experiment (docs/model.md section 7).

N = 50, 60, ..., 120 users, M = 4 servers, tau in {0.6, 0.7, 0.8, 0.9, 1.0}; the methods of
:data:`METHODS` (local-all, GOA, random, edge-all, d-min; the GA with ``--ga``). Drop d at size N
is ``instances.generate(N, 4, seed=seed + d, interference=...)``; every method and every tau sees
the same drops (paired). Every reported delay and accuracy is ``instances.evaluate`` on the drop.

``--as-published`` reproduces the authors' published figures on purpose (docs/model.md
section 9): prompt bytes are counted as bits (``bits_per_byte = 1``), and every method plans on a
derived instance whose edge workload is the authors' estimate ``8 x W^L`` (their decision rule),
while every reported delay is evaluated with the true ``W^E`` on the real drop.

Outputs in ``--out`` (default ``results/paper``, or ``results/paper_as_published``):
``paper_drops.csv`` (one row per drop, tau and method), ``paper.csv`` (mean and 95 % confidence
half-width of every metric per N, tau and method; columns in docs/csv.md),
``accuracy_vs_n.png``, ``delay_vs_n.png``, ``accuracy_vs_tau.png``, ``uncertainty.png`` (the
SLM's accuracy per alpha bin, with the AUROC of alpha for an SLM error, and the reliability
diagram of the expected-accuracy probabilities with their ECE) and ``summary.txt``,
written only when the run completes (an interrupted run leaves no files, and no folder it
created).
"""

from __future__ import annotations

import math
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from benchmarks.common import (
    BenchmarkError, Parser, machine_line, matplotlib_pyplot, mean_ci95, non_negative_int,
    positive_float, positive_int, run_cli, staged_output, table, unit_float, warm_up, write_csv)
from benchmarks.common import check_instance_memory
from benchmarks.style import legend_below, plot_style
from benchmarks.executor import add_executor_arguments, describe_executor, run_tasks

PROG = "python -m benchmarks.paper"
DEFAULT_USERS = tuple(range(50, 121, 10))
DEFAULT_TAUS = (0.6, 0.7, 0.8, 0.9, 1.0)
# The methods every run compares, in table order (a name of goa.METHODS each). "ga" is added
# by --ga; another method is one more entry here.
METHODS = ("local_all", "goa", "goa_ls", "random", "edge_all", "dmin")
METRICS = ("accuracy_pct", "total_delay_ms", "local_ms", "comm_ms", "comp_ms", "n_offloaded",
           "runtime_s")
DROP_COLUMNS = ["n_users", "tau", "drop", "seed", "method", "feasible"] + list(METRICS)
SUMMARY_COLUMNS = ["n_users", "tau", "method", "drops"] + [
    c for metric in METRICS for c in (metric, f"{metric}_ci95")]
# The authors' decision rule estimates the LLM's workload as 8 x the SLM's (the parameter ratio
# of Llama-3.1-8B to Llama-3.2-1B), docs/model.md section 9.
PUBLISHED_EDGE_RATIO = 8.0
# The authors' table (docs/model.md section 7): (N, tau) -> method -> (accuracy %, total delay ms)
PAPER = {
    (50, 0.8): {"local_all": (44.7, 1790), "goa": (56.1, 937), "edge_all": (56.2, 940),
                "dmin": (55.9, 947)},
    (100, 0.8): {"local_all": (45.2, 3586), "goa": (53.5, 2530), "edge_all": (56.2, 3629),
                 "dmin": (52.2, 2405)},
    (120, 1.0): {"local_all": (45.2, 4302), "goa": (51.6, 3059), "edge_all": (56.2, 5237),
                 "dmin": (51.4, 3071)},
}
PAPER_GOA_OFFLOADS = {(50, 0.8): 49.2, (100, 0.8): 73.2, (120, 1.0): 73.1}


def build_parser() -> Parser:
    parser = Parser(prog=PROG, description="The paper's experiment: accuracy and delay versus "
                                           "N and tau, paired random drops (docs/model.md "
                                           "section 7).")
    parser.add_argument("--users", nargs="+", type=positive_int, metavar="N",
                        help="user counts (default 50 60 ... 120)")
    parser.add_argument("--tau", nargs="+", type=unit_float, metavar="T",
                        help="accuracy-guard thresholds (default 0.6 0.7 0.8 0.9 1.0)")
    parser.add_argument("--drops", type=positive_int, default=20,
                        help="random drops per N (20; the paper used 500)")
    parser.add_argument("--seed", type=non_negative_int, default=0,
                        help="seed of the first drop (drop d uses seed + d; 0)")
    parser.add_argument("--servers", type=positive_int, default=4, help="M (4)")
    parser.add_argument("--interference", choices=("full", "none"), default="full",
                        help="interference model (full, the paper's)")
    parser.add_argument("--bits-per-byte", type=positive_float, default=None,
                        help="prompt bits per byte (8; 1 counts bytes as bits, as the authors' "
                             "code does)")
    parser.add_argument("--as-published", action="store_true",
                        help="reproduce the authors' published figures: bytes counted as bits, "
                             "and every method plans with their edge estimate 8 x W^L while "
                             "delays are evaluated with the true W^E (docs/model.md section 9)")
    parser.add_argument("--profile", default="synthetic",
                        help="query profile: 'synthetic' (default), a shipped trace by name "
                             "(babi-tiny: our trained bAbI pair, docs/uncertainty.md) or a "
                             "JSONL trace path")
    parser.add_argument("--uncertainty", default="margin", metavar="SIGNAL",
                        help="the uncertainty signal that becomes alpha (margin, the paper's; "
                             "maxprob, entropy, ratio, gini: docs/uncertainty.md)")
    parser.add_argument("--ga", action="store_true", help="also run the genetic algorithm (slow)")
    parser.add_argument("--out", default=None,
                        help="output folder (results/paper; results/paper_as_published with "
                             "--as-published)")
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    add_executor_arguments(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    args = build_parser().parse_args(argv)
    return run_cli(PROG, lambda: _run(args))


def published_view(instance):
    """The instance the authors' decision rule sees: the same drop with the edge workload
    estimated as ``PUBLISHED_EDGE_RATIO x W^L`` (docs/model.md section 9). Methods plan on it;
    reported delays are evaluated on the real instance."""
    return instance.replace(
        edge_workload_flop=PUBLISHED_EDGE_RATIO * instance.local_workload_flop,
        provenance={**instance.provenance, "edge_workload": "published estimate 8 x W^L"})


def run_drop(task: tuple) -> tuple[list[dict], np.ndarray, np.ndarray, np.ndarray, np.ndarray,
                                   np.ndarray]:
    """All methods and taus on one drop: (rows, alpha, SLM correctness, LLM correctness,
    calibrated p_slm_correct, calibrated p_llm_correct) of the drop.

    Each method plans on ``published_view(drop)`` when ``as_published`` is set, else on the drop
    itself; its assignment is always scored by ``instances.evaluate`` on the drop.
    """
    import goa
    import instances

    (n, m, seed, drop, taus, methods, interference, bits_per_byte, as_published, profile,
     signal) = task
    warm_up()
    inst = instances.generate(n, m, seed=seed, interference=interference, profile=profile,
                              uncertainty=signal, bits_per_byte=bits_per_byte)
    plan_on = published_view(inst) if as_published else inst
    rows = []
    for tau in taus:
        for method in methods:
            result = goa.solve(plan_on, tau=tau, method=method, seed=seed)
            ev = instances.evaluate(inst, result.assignment, tau)
            rows.append({
                "n_users": n, "tau": tau, "drop": drop, "seed": seed, "method": method,
                "feasible": bool(ev.feasible), "accuracy_pct": ev.accuracy_pct,
                "total_delay_ms": ev.total_delay_ms, "local_ms": ev.total_local_ms,
                "comm_ms": ev.total_comm_ms, "comp_ms": ev.total_comp_ms,
                "n_offloaded": ev.n_offloaded, "runtime_s": result.runtime_s})
    p_slm, p_llm = inst.correct_probabilities()
    return rows, inst.alpha, inst.slm_correct, inst.llm_correct, p_slm, p_llm


def aggregate(rows: list[dict]) -> list[dict]:
    """Mean and 95 % CI half-width of every metric per (N, tau, method)."""
    groups = defaultdict(list)
    for row in rows:
        groups[(row["n_users"], row["tau"], row["method"])].append(row)
    out = []
    for (n, tau, method), members in groups.items():
        record = {"n_users": n, "tau": tau, "method": method, "drops": len(members)}
        for metric in METRICS:
            mean, half = mean_ci95([r[metric] for r in members])
            record[metric] = mean
            record[f"{metric}_ci95"] = half
        out.append(record)
    return out


def _run(args) -> int:
    import instances

    if args.as_published and args.bits_per_byte not in (None, 1.0):
        raise BenchmarkError("--bits-per-byte: --as-published counts prompt bytes as bits (1); "
                             "leave it out")
    bits_per_byte = args.bits_per_byte or (1.0 if args.as_published else 8.0)
    profile = _check_profile(args.profile, args.uncertainty)
    out_dir = Path(args.out or ("results/paper_as_published" if args.as_published
                                else "results/paper"))
    users = tuple(args.users) if args.users else DEFAULT_USERS
    check_instance_memory(max(users), args.servers, f"--users {max(users)}, --servers "
                          f"{args.servers}", getattr(args, "jobs", 1))
    taus = tuple(args.tau) if args.tau else DEFAULT_TAUS
    methods = METHODS + (("ga",) if args.ga else ())
    tasks = [(n, args.servers, args.seed + d, d, taus, methods, args.interference,
              bits_per_byte, args.as_published, profile, args.uncertainty)
             for n in users for d in range(args.drops)]
    started = time.perf_counter()
    mode = ("as published (bytes as bits, plans with 8 x W^L, scored with W^E)"
            if args.as_published else f"model as written, {bits_per_byte:g} bits per prompt byte")
    mode += f"; profile {args.profile}, uncertainty {args.uncertainty}"
    print(f"{PROG}: N {list(users)}, tau {list(taus)}, {args.drops} drops, methods "
          f"{list(methods)}, {mode}, {describe_executor(args)}; {machine_line()}",
          file=sys.stderr)
    with staged_output(out_dir) as stage:
        results = run_tasks(run_drop, tasks, out=out_dir, args=args, desc="drops")
        rows = [row for drop_rows, *_ in results for row in drop_rows]
        alpha, slm, llm, p_slm, p_llm = (np.concatenate([r[k] for r in results])
                                         for k in range(1, 6))
        calibration = _calibration(p_slm, slm, p_llm, llm)
        summary = aggregate(rows)
        write_csv(stage / "paper_drops.csv", rows, DROP_COLUMNS)
        write_csv(stage / "paper.csv", summary, SUMMARY_COLUMNS)
        wrong = 1.0 - slm > 0.5   # no AUROC (nan) when the SLM is always or never wrong
        auc = instances.auroc(alpha, 1.0 - slm) if 0 < wrong.sum() < wrong.size else math.nan
        edges, acc, counts = instances.accuracy_by_alpha(alpha, slm, bins=10)
        report = f"mode: {mode}\n\n" + _report(summary, users, taus, methods, auc, edges, acc,
                                                 counts, calibration)
        report += f"\n\nwall time {time.perf_counter() - started:.1f} s"
        (stage / "summary.txt").write_text(report + "\n", encoding="utf-8")
        if not args.no_plots:
            plot(summary, users, taus, methods, stage, edges, acc, counts, auc, calibration)
    print(report)
    print(f"\nwrote {out_dir}/paper.csv, paper_drops.csv, summary.txt"
          + ("" if args.no_plots else " and plots"))
    return 0


def _check_profile(profile: str, signal: str) -> str:
    """The profile as the drops receive it (a trace's absolute path, so that every worker reads
    the same file), after checking it and the signal once, before any drop runs."""
    import instances
    from instances.profiles import resolve_trace
    from instances.uncertainty import SIGNALS

    if signal not in SIGNALS:
        raise BenchmarkError(f"--uncertainty: unknown signal {signal!r}; known: "
                             f"{', '.join(SIGNALS)}")
    if profile == "synthetic":
        return profile
    path = resolve_trace(profile)
    try:
        instances.load_trace(path)
    except instances.InstanceError as exc:
        raise BenchmarkError(f"--profile: {exc}") from None
    return str(path.resolve())


def _pm(record: dict, metric: str, digits: int) -> str:
    """'mean +- half-width' of one metric of a summary record."""
    return f"{record[metric]:.{digits}f} +- {record[f'{metric}_ci95']:.{digits}f}"


def _calibration(p_slm, slm, p_llm, llm, bins: int = 10) -> dict:
    """Out-of-sample calibration of the expected-accuracy probabilities on the drops' queries
    (the maps were fitted on a separate calibration sample, docs/model.md section 8.1): per
    model, the reliability diagram and the expected calibration error."""
    from instances.calibration import expected_calibration_error, reliability

    out = {}
    for name, p, outcome in (("SLM", p_slm, slm), ("LLM", p_llm, llm)):
        edges, predicted, observed, counts = reliability(p, outcome, bins)
        out[name] = {"edges": edges, "predicted": predicted, "observed": observed,
                     "counts": counts, "ece": expected_calibration_error(p, outcome, bins)}
    return out


def _report(summary, users, taus, methods, auc, edges, acc, counts, calibration) -> str:
    index = {(r["n_users"], r["tau"], r["method"]): r for r in summary}
    blocks = []
    for tau in taus:
        lines = []
        for n in users:
            line = [n]
            for method in methods:
                r = index[(n, tau, method)]
                line += [_pm(r, "accuracy_pct", 1), _pm(r, "total_delay_ms", 0)]
            line.append(_pm(index[(n, tau, "goa")], "n_offloaded", 1)
                        if (n, tau, "goa") in index else None)
            lines.append(line)
        headers = ["N"] + [h for m in methods for h in (f"{m} acc %", f"{m} ms")] + [
            "GOA offloads"]
        blocks.append(table(headers, lines,
                            title=f"tau = {tau:g}: accuracy % and total delay ms, mean +- 95 % "
                                  f"CI over drops"))
    compare = []
    for (n, tau), paper in PAPER.items():
        for method, (p_acc, p_delay) in paper.items():
            r = index.get((n, tau, method))
            if r is None:
                continue
            p_off = {"local_all": 0.0, "edge_all": float(n)}.get(
                method, PAPER_GOA_OFFLOADS[(n, tau)] if method == "goa" else None)
            compare.append([
                f"N={n} tau={tau:g}", method, _pm(r, "accuracy_pct", 1), f"{p_acc:.1f}",
                f"{r['accuracy_pct'] - p_acc:+.1f}", _pm(r, "total_delay_ms", 0), f"{p_delay}",
                f"{(r['total_delay_ms'] - p_delay) / p_delay * 100.0:+.1f}",
                _pm(r, "n_offloaded", 1), None if p_off is None else f"{p_off:.1f}"])
    if compare:
        blocks.append(table(["point", "method", "acc % (ours)", "acc % (paper)", "diff pts",
                             "delay ms (ours)", "delay ms (paper)", "diff %",
                             "offloaded (ours)", "offloaded (paper)"], compare,
                            title="Beside the paper's table (docs/model.md section 7); ours: "
                                  "mean +- 95 % CI"))
    bins = [[f"{lo:.1f}-{hi:.1f}", int(c), None if c == 0 else a * 100]
            for lo, hi, a, c in zip(edges[:-1], edges[1:], acc, counts)]
    blocks.append(table(["alpha bin", "queries", "SLM accuracy %"], bins,
                        title=f"Uncertainty check: AUROC of alpha for an SLM error = {auc:.3f}"))
    slm_c, llm_c = calibration["SLM"], calibration["LLM"]
    lines = [[f"{lo:.1f}-{hi:.1f}", int(c_s), _pct(ps), _pct(os_), int(c_l), _pct(pl), _pct(ol)]
             for lo, hi, c_s, ps, os_, c_l, pl, ol in zip(
                 slm_c["edges"][:-1], slm_c["edges"][1:], slm_c["counts"], slm_c["predicted"],
                 slm_c["observed"], llm_c["counts"], llm_c["predicted"], llm_c["observed"])]
    blocks.append(table(["p bin", "SLM n", "SLM predicted %", "SLM observed %", "LLM n",
                         "LLM predicted %", "LLM observed %"], lines,
                        title=f"Calibration of the expected accuracy on these drops (out of "
                              f"sample): ECE SLM {slm_c['ece']:.4f}, LLM {llm_c['ece']:.4f}"))
    return "\n\n".join(blocks)


def _pct(value) -> float | None:
    """A probability as a percentage, or None (shown as '-') for an empty bin."""
    return None if not np.isfinite(value) else float(value) * 100.0


def plot(summary, users, taus, methods, folder, edges, acc, counts, auc, calibration) -> None:
    """accuracy_vs_n.png, delay_vs_n.png, accuracy_vs_tau.png and uncertainty.png (the SLM's
    accuracy per alpha bin, and the reliability diagram of the expected-accuracy probabilities
    with their ECE)."""
    plt = matplotlib_pyplot()
    index = {(r["n_users"], r["tau"], r["method"]): r for r in summary}
    for name, metric, ylabel in (("accuracy_vs_n.png", "accuracy_pct", "accuracy [%]"),
                                 ("delay_vs_n.png", "total_delay_ms", "total delay [ms]")):
        fig, axes = plt.subplots(1, len(taus), figsize=(3.6 * len(taus), 3.6), squeeze=False,
                                 sharey=True)
        for ax, tau in zip(axes[0], taus):
            for method in methods:
                mean = [index[(n, tau, method)][metric] for n in users]
                half = [index[(n, tau, method)][f"{metric}_ci95"] for n in users]
                ax.errorbar(users, mean, yerr=half, ms=3, capsize=2, **plot_style(method))
            ax.set_title(f"tau = {tau:g}")
            ax.set_xlabel("users N")
            ax.set_ylabel(ylabel)
            ax.grid(True, alpha=0.3)
        legend_below(fig, axes[0], ncol=4)
        fig.savefig(folder / name, dpi=120)
        plt.close(fig)

    fig, axes = plt.subplots(1, len(users), figsize=(3.0 * len(users), 3.4), squeeze=False,
                             sharey=True)
    for ax, n in zip(axes[0], users):
        for method in methods:
            ax.errorbar(taus, [index[(n, t, method)]["accuracy_pct"] for t in taus],
                        yerr=[index[(n, t, method)]["accuracy_pct_ci95"] for t in taus],
                        ms=3, capsize=2, **plot_style(method))
        ax.set_title(f"N = {n}")
        ax.set_xlabel("tau")
        ax.set_ylabel("accuracy [%]")
        ax.grid(True, alpha=0.3)
    legend_below(fig, axes[0], ncol=4)
    fig.savefig(folder / "accuracy_vs_tau.png", dpi=120)
    plt.close(fig)

    fig, (ax, ax_rel) = plt.subplots(1, 2, figsize=(10.5, 3.9))
    centres = (edges[:-1] + edges[1:]) / 2
    ax.bar(centres, np.nan_to_num(acc) * 100, width=np.diff(edges) * 0.9)
    for x, c in zip(centres, counts):
        ax.annotate(str(int(c)), (x, 1), ha="center", fontsize=7)
    ax.set_xlabel("SLM uncertainty alpha")
    ax.set_ylabel("SLM accuracy [%]")
    ax.set_title(f"SLM accuracy per alpha bin (AUROC of alpha for an error = {auc:.3f})",
                 fontsize=9)
    ax_rel.plot([0, 1], [0, 1], color="0.6", linestyle=":", label="perfect calibration")
    for (name, data), marker in zip(calibration.items(), ("o", "s")):
        used = data["counts"] > 0
        ax_rel.plot(data["predicted"][used], data["observed"][used], marker=marker, ms=4,
                    label=f"{name}: ECE {data['ece']:.3f}")
    ax_rel.set_xlabel("predicted P(correct), mean per bin")
    ax_rel.set_ylabel("observed frequency of a correct answer")
    ax_rel.set_title("Reliability of p_slm_correct / p_llm_correct (out of sample)", fontsize=9)
    ax_rel.set_xlim(0, 1)
    ax_rel.set_ylim(0, 1)
    ax_rel.grid(True, alpha=0.3)
    ax_rel.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(folder / "uncertainty.png", dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
