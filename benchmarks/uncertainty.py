"""``python -m benchmarks.uncertainty``: which uncertainty signal of the SLM best predicts its
errors, and which buys the most accuracy per offloaded query (docs/uncertainty.md).

For every signal of :mod:`instances.uncertainty` on a trace (a path or a shipped trace's name),
overall and per bAbI task (the records' optional ``task`` key):

- AUROC of the signal for an SLM error (:func:`auroc`), with a percentile bootstrap
  95 % CI (queries resampled with replacement, seeded; the same resamples for every signal, so
  the CI of each signal's AUROC minus the margin's is paired);
- AUPRC (average precision of the signal for an SLM error; the base rate is the error rate);
- the risk-coverage curve (the SLM answers the c most certain queries; risk = its error rate
  among them) and its area AURC (lower is better);
- the SLM's accuracy per signal decile (equal-count bins, least uncertain first);
- the decision-level comparison: offload the u most uncertain queries to the LLM (u swept over
  the fractions 0, 1/20, ..., 1) and score SLM answers on the rest and LLM answers on them; with
  the oracle (offload the u queries where the LLM gains most: the SLM's errors the LLM fixes
  first) as ceiling and random offloading (its exact expectation) as floor.

One definition of an SLM error everywhere: a query whose SLM correctness is c (true = 1, false
= 0, or any number in [0, 1], as a trace may give) counts as an error with weight ``1 - c`` and
as a right answer with weight ``c``. The error rate, the AUROC (an error and a right answer drawn
by these weights), the ROC, the AUPRC, the risk, the deciles' accuracies and the offloading
accuracies all use it; for true/false correctness it is the usual count.

Ties of a signal are broken neither way: every curve and every decile counts a tied group by
its expectation under a random order within the group, so no record order leaks into a figure.

Outputs in ``--out``: ``uncertainty.csv`` (one row per scope and signal), ``deciles.csv``,
``offload.csv``, ``roc.png``, ``risk_coverage.png``, ``offload.png``, ``deciles.png`` and
``summary.txt``, written only when the run completes.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks.common import (
    BenchmarkError, Parser, matplotlib_pyplot, non_negative_int, positive_int, run_cli,
    staged_output, table, write_csv)

PROG = "python -m benchmarks.uncertainty"
ALL = "all"
#: Offloaded fractions of the decision-level comparison (0, 5 %, ..., 100 %).
FRACTIONS = tuple(np.round(np.linspace(0.0, 1.0, 21), 4))
#: The fraction the goal is stated at: offloading the most uncertain third.
THIRD = 1.0 / 3.0
SUMMARY_COLUMNS = ["scope", "signal", "queries", "slm_accuracy", "llm_accuracy", "auroc",
                   "auroc_lo", "auroc_hi", "auroc_minus_margin_lo", "auroc_minus_margin_hi",
                   "auprc", "error_rate", "aurc", "accuracy_third", "oracle_third",
                   "random_third", "recovered_third"]
DECILE_COLUMNS = ["scope", "signal", "decile", "queries", "signal_lo", "signal_hi",
                  "slm_accuracy"]
OFFLOAD_COLUMNS = ["scope", "policy", "fraction", "offloaded", "accuracy"]


# ---------------------------------------------------------------------------------------------
# metrics (plain functions of arrays; each is tested against a worked example)

def _scores(score, name: str = "score") -> np.ndarray:
    score = np.asarray(score, dtype=np.float64).ravel()
    if score.size == 0 or not np.all(np.isfinite(score)):
        raise ValueError(f"{name}: need a non-empty array of finite numbers")
    return score


def _unit(values, n: int, name: str) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64).ravel()
    if values.size != n:
        raise ValueError(f"{name}: length {values.size} differs from the scores' {n}")
    if not np.all((values >= 0) & (values <= 1)):
        raise ValueError(f"{name}: values must lie in [0, 1]")
    return values


def _tie_groups(score: np.ndarray, descending: bool) -> tuple[np.ndarray, np.ndarray]:
    """The order that sorts ``score`` (stable) and the end index (exclusive) of each tie group."""
    order = np.argsort(-score if descending else score, kind="stable")
    s = score[order]
    ends = np.append(np.flatnonzero(np.diff(s) != 0) + 1, s.size)
    return order, ends


def _expected_cumsum(values: np.ndarray, score: np.ndarray, descending: bool) -> np.ndarray:
    """``c[u]`` (u = 0..n) = the expected sum of ``values`` over the u first queries in order of
    ``score``, ties in a random order (within a tie group the sum grows linearly)."""
    order, ends = _tie_groups(score, descending)
    at_ends = np.concatenate([[0.0], np.cumsum(values[order])[ends - 1]])
    positions = np.concatenate([[0], ends])
    return np.interp(np.arange(score.size + 1), positions, at_ends)


def roc_curve(score, positive) -> tuple[np.ndarray, np.ndarray]:
    """(false-positive rates, true-positive rates) when every query with ``score >= t`` is
    flagged, t running down through the distinct scores; starts at (0, 0), ends at (1, 1).

    ``positive`` holds weights in [0, 1]: a query counts as a positive with weight w and as a
    negative with weight 1 - w (0/1 for a plain class).
    """
    score = _scores(score)
    positive = _unit(positive, score.size, "positive")
    n_pos, n_neg = float(positive.sum()), float((1.0 - positive).sum())
    if not (n_pos > 0 and n_neg > 0):
        raise ValueError("positive: needs some positive and some negative weight")
    order, ends = _tie_groups(score, descending=True)
    tp = np.concatenate([[0.0], np.cumsum(positive[order])[ends - 1]])
    fp = np.concatenate([[0], ends]) - tp
    return fp / n_neg, tp / n_pos


def auroc(score, positive) -> float:
    """Area under :func:`roc_curve` (trapezoids): the probability that a random positive scores
    above a random negative, ties counting one half, positives and negatives drawn by their
    weights (a query of weight w in (0, 1) is half a tie with itself). For a plain 0/1 class it
    equals :func:`instances.auroc`."""
    fpr, tpr = roc_curve(score, positive)
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1])) / 2.0)


def auprc(score, positive) -> float:
    """Average precision of ``score`` for ``positive`` (weights in [0, 1], as
    :func:`roc_curve`): the sum over the distinct thresholds t (high to low) of
    (recall(t) - recall(previous t)) x precision(t), flagging ``score >= t``; precision is the
    positive weight among the flagged queries over their count.

    The area under the precision-recall curve in its step form (no interpolation); a
    random score gives about the positive rate, a perfect one 1.
    """
    score = _scores(score)
    positive = _unit(positive, score.size, "positive")
    n_pos = float(positive.sum())
    if not n_pos > 0:
        raise ValueError("positive: needs some positive weight")
    order, ends = _tie_groups(score, descending=True)
    tp = np.cumsum(positive[order])[ends - 1]
    precision = tp / ends
    recall_gain = np.diff(np.concatenate([[0.0], tp])) / n_pos
    return float(np.sum(recall_gain * precision))


def risk_coverage(score, correct) -> tuple[np.ndarray, np.ndarray]:
    """The risk-coverage curve of selective prediction: the SLM answers the c most certain
    queries (lowest ``score``), c = 1..n; risk = the expected error rate among them.

    Returns (coverage c / n, risk), both of length n.
    """
    score = _scores(score)
    correct = _unit(correct, score.size, "correct")
    errors = _expected_cumsum(1.0 - correct, score, descending=False)[1:]
    counts = np.arange(1, score.size + 1)
    return counts / score.size, errors / counts


def aurc(score, correct) -> float:
    """Area under the risk-coverage curve: the mean of the risk over c = 1..n (Geifman et al.
    2019); lower is better, its floor is set by the SLM's error rate."""
    return float(np.mean(risk_coverage(score, correct)[1]))


def deciles(score, correct, bins: int = 10) -> list[dict]:
    """The SLM's accuracy per equal-count bin of ``score`` (least uncertain first).

    The queries' positions in score order are split into ``bins`` near-equal parts (sizes as
    ``numpy.array_split``); each bin reports its size, score range and the expected mean
    correctness of the queries at its positions, a tie group that straddles a bin boundary
    counted by its expectation under a random order within the group (so the record order
    never changes a bin's accuracy).
    """
    score = _scores(score)
    correct = _unit(correct, score.size, "correct")
    ranked = np.sort(score)
    cumulative = _expected_cumsum(correct, score, descending=False)
    out, lo = [], 0
    for number, size in enumerate(len(part) for part in np.array_split(ranked, bins)):
        if size == 0:
            continue
        hi = lo + size
        out.append({"decile": number + 1, "queries": int(size),
                    "signal_lo": float(ranked[lo]), "signal_hi": float(ranked[hi - 1]),
                    "slm_accuracy": float((cumulative[hi] - cumulative[lo]) / size)})
        lo = hi
    return out


def offload_accuracy(score, slm_correct, llm_correct) -> np.ndarray:
    """``a[u]`` (u = 0..n): the expected accuracy when the u queries of highest ``score`` (most
    uncertain) are answered by the LLM and the rest by the SLM (ties in a random order)."""
    score = _scores(score)
    slm = _unit(slm_correct, score.size, "slm_correct")
    llm = _unit(llm_correct, score.size, "llm_correct")
    gain = _expected_cumsum(llm - slm, score, descending=True)
    return (slm.sum() + gain) / score.size


def oracle_accuracy(slm_correct, llm_correct) -> np.ndarray:
    """``a[u]``: the best accuracy any choice of u offloaded queries reaches (the u largest
    gains ``llm - slm``: first the SLM's errors that the LLM answers right)."""
    slm = np.asarray(slm_correct, dtype=np.float64).ravel()
    gain = np.asarray(llm_correct, dtype=np.float64).ravel() - slm
    return (slm.sum() + np.concatenate([[0.0], np.cumsum(-np.sort(-gain))])) / slm.size


def random_accuracy(slm_correct, llm_correct) -> np.ndarray:
    """``a[u]``: the expected accuracy of offloading u queries drawn uniformly at random."""
    slm = np.asarray(slm_correct, dtype=np.float64).ravel()
    llm = np.asarray(llm_correct, dtype=np.float64).ravel()
    u = np.arange(slm.size + 1)
    return slm.mean() + u / slm.size * (llm.mean() - slm.mean())


def bootstrap_auroc(scores: dict[str, np.ndarray], positive, resamples: int,
                    rng: np.random.Generator) -> dict[str, np.ndarray]:
    """:func:`auroc` of every score on the same ``resamples`` bootstrap resamples of the queries
    (``positive``: weights in [0, 1], as :func:`roc_curve`).

    A resample without both some positive and some negative weight is drawn again (it has no
    AUROC). Returns per score name an array of ``resamples`` values; the 2.5 and 97.5
    percentiles give a 95 % CI.
    """
    positive = np.asarray(positive, dtype=np.float64).ravel()
    n = positive.size
    if np.all(positive == 1.0) or np.all(positive == 0.0):
        raise ValueError("positive: needs some positive and some negative weight")
    out = {name: np.empty(resamples) for name in scores}
    done = 0
    while done < resamples:
        rows = rng.integers(0, n, n)
        if np.all(positive[rows] == 1.0) or np.all(positive[rows] == 0.0):
            continue
        for name, score in scores.items():
            out[name][done] = auroc(score[rows], positive[rows])
        done += 1
    return out


# ---------------------------------------------------------------------------------------------
# the benchmark

def read_tasks(path: Path) -> np.ndarray:
    """The ``task`` of every record of a trace, in the order :func:`instances.load_trace` reads
    them (``"-"`` for a record without one)."""
    tasks = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            task = json.loads(line).get("task")
            tasks.append("-" if task is None else str(task))
    return np.array(tasks, dtype=object)


def analyse(topk_probs, slm_correct, llm_correct, signals, resamples: int = 1000,
            seed: int = 0) -> tuple[list[dict], list[dict], list[dict], dict]:
    """Every metric of every signal on one set of queries (one scope).

    Returns (summary rows, decile rows, offload rows, curves for the plots); rows carry no
    ``scope`` yet. An SLM error weighs ``1 - slm_correct`` (the module's one definition). The
    AUROC's CI and the paired CI of (AUROC - the margin's AUROC) come from ``resamples``
    bootstrap resamples seeded with ``seed``; the AUROC-based figures are NaN when every query is
    right or every query wrong (nothing to predict).
    """
    from instances.uncertainty import uncertainty

    slm = np.asarray(slm_correct, dtype=np.float64)
    llm = np.asarray(llm_correct, dtype=np.float64)
    values = {name: uncertainty(topk_probs, name) for name in signals}
    error = 1.0 - slm
    n = slm.size
    informative = bool(np.any(error > 0) and np.any(error < 1))
    boot = (bootstrap_auroc({**values, "margin": uncertainty(topk_probs, "margin")}, error,
                            resamples, np.random.default_rng(seed)) if informative else None)
    oracle = oracle_accuracy(slm, llm)
    rand = random_accuracy(slm, llm)
    third = int(round(THIRD * n))
    rows, decile_rows, curves = [], [], {"roc": {}, "risk": {}, "offload": {}, "oracle": oracle,
                                         "random": rand}
    for name, score in values.items():
        offload = offload_accuracy(score, slm, llm)
        row = {"signal": name, "queries": n, "slm_accuracy": slm.mean(),
               "llm_accuracy": llm.mean(), "error_rate": error.mean(), "aurc": aurc(score, slm),
               "accuracy_third": offload[third], "oracle_third": oracle[third],
               "random_third": rand[third]}
        headroom = oracle[third] - oracle[0]
        row["recovered_third"] = ((offload[third] - offload[0]) / headroom if headroom > 0
                                  else np.nan)
        if informative:
            row["auroc"] = auroc(score, error)
            row["auroc_lo"], row["auroc_hi"] = np.percentile(boot[name], [2.5, 97.5])
            diff = boot[name] - boot["margin"]
            row["auroc_minus_margin_lo"], row["auroc_minus_margin_hi"] = np.percentile(
                diff, [2.5, 97.5])
            row["auprc"] = auprc(score, error)
            curves["roc"][name] = roc_curve(score, error)
        else:
            for key in ("auroc", "auroc_lo", "auroc_hi", "auroc_minus_margin_lo",
                        "auroc_minus_margin_hi", "auprc"):
                row[key] = np.nan
        rows.append(row)
        decile_rows += [{"signal": name, **d} for d in deciles(score, slm)]
        curves["risk"][name] = risk_coverage(score, slm)
        curves["offload"][name] = offload
    offload_rows = []
    for fraction in FRACTIONS:
        u = int(round(fraction * n))
        for policy, curve in [*curves["offload"].items(), ("oracle", oracle), ("random", rand)]:
            offload_rows.append({"policy": policy, "fraction": float(fraction), "offloaded": u,
                                 "accuracy": float(curve[u])})
    return rows, decile_rows, offload_rows, curves


def build_parser() -> Parser:
    from instances.profiles import NAMED_TRACES
    from instances.uncertainty import SIGNALS

    parser = Parser(prog=PROG, description="Compare the SLM's uncertainty signals on a measured "
                                           "trace: error prediction and offloading.")
    parser.add_argument("--trace", required=True,
                        help=f"a JSONL trace: a path or a shipped name ({', '.join(NAMED_TRACES)})")
    parser.add_argument("--out", default="results/uncertainty",
                        help="output folder (results/uncertainty)")
    parser.add_argument("--signals", nargs="+", default=list(SIGNALS), metavar="SIGNAL",
                        help=f"signals to compare (all: {' '.join(SIGNALS)})")
    parser.add_argument("--resamples", type=positive_int, default=1000,
                        help="bootstrap resamples of the AUROC's CI (1000)")
    parser.add_argument("--seed", type=non_negative_int, default=0,
                        help="seed of the bootstrap (0)")
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    args = build_parser().parse_args(argv)
    return run_cli(PROG, lambda: _run(args))


def _run(args) -> int:
    import instances
    from instances.profiles import resolve_trace
    from instances.uncertainty import SIGNALS

    for name in args.signals:
        if name not in SIGNALS:
            raise BenchmarkError(f"--signals: unknown signal {name!r}; known: "
                                 f"{', '.join(SIGNALS)}")
    signals = list(dict.fromkeys(args.signals))
    started = time.perf_counter()
    path = resolve_trace(args.trace)
    try:
        trace = instances.load_trace(path)
    except instances.InstanceError as exc:
        raise BenchmarkError(f"--trace: {exc}") from None
    tasks = read_tasks(path)
    scopes = [ALL] + sorted(set(tasks) - {"-"}, key=_task_key)
    summary, decile_rows, offload_rows, curves = [], [], [], None
    for number, scope in enumerate(scopes):
        rows = np.ones(len(trace), bool) if scope == ALL else tasks == scope
        # one bootstrap stream per scope, derived from the seed
        result = analyse(trace.topk_probs[rows], trace.slm_correct[rows],
                         trace.llm_correct[rows], signals, args.resamples,
                         seed=int(np.random.SeedSequence([args.seed, number]).generate_state(1)[0]))
        summary += [{"scope": scope, **r} for r in result[0]]
        decile_rows += [{"scope": scope, **r} for r in result[1]]
        offload_rows += [{"scope": scope, **r} for r in result[2]]
        if scope == ALL:
            curves = result[3]
    report = _report(summary, decile_rows, signals, path, len(trace), args)
    report += f"\n\nwall time {time.perf_counter() - started:.1f} s"
    with staged_output(args.out) as stage:
        write_csv(stage / "uncertainty.csv", summary, SUMMARY_COLUMNS)
        write_csv(stage / "deciles.csv", decile_rows, DECILE_COLUMNS)
        write_csv(stage / "offload.csv", offload_rows, OFFLOAD_COLUMNS)
        (stage / "summary.txt").write_text(report + "\n", encoding="utf-8")
        if not args.no_plots:
            plot(curves, summary, decile_rows, signals, stage)
    print(report)
    print(f"\nwrote {args.out}/uncertainty.csv, deciles.csv, offload.csv, summary.txt"
          + ("" if args.no_plots else " and plots"))
    return 0


def _task_key(task: str):
    return (0, int(task), "") if task.isdigit() else (1, 0, task)


def _report(summary, decile_rows, signals, path, n, args) -> str:
    overall = sorted((r for r in summary if r["scope"] == ALL),
                     key=lambda r: -np.nan_to_num(r["auroc"], nan=-1.0))
    first = overall[0]
    head = (f"trace {path} ({n} queries): SLM accuracy {first['slm_accuracy'] * 100:.1f} %, "
            f"LLM accuracy {first['llm_accuracy'] * 100:.1f} %; bootstrap {args.resamples} "
            f"resamples, seed {args.seed}")
    lines = [[r["signal"], r["auroc"], f"[{r['auroc_lo']:.3f}, {r['auroc_hi']:.3f}]",
              f"[{r['auroc_minus_margin_lo']:+.3f}, {r['auroc_minus_margin_hi']:+.3f}]",
              r["auprc"], r["aurc"], r["accuracy_third"] * 100, r["recovered_third"] * 100]
             for r in overall]
    blocks = [head, table(
        ["signal", "AUROC", "95 % CI", "minus margin, 95 % CI", "AUPRC", "AURC",
         "acc % at 1/3", "oracle gain recovered %"], lines,
        title=f"All queries, ranked by AUROC for an SLM error (error rate "
              f"{first['error_rate'] * 100:.1f} %; at 1/3 offloaded: oracle "
              f"{first['oracle_third'] * 100:.1f} %, random {first['random_third'] * 100:.1f} %)")]
    scopes = [s for s in dict.fromkeys(r["scope"] for r in summary) if s != ALL]
    if scopes:
        index = {(r["scope"], r["signal"]): r for r in summary}
        per_task = []
        for scope in scopes:
            base = index[(scope, signals[0])]
            per_task.append([scope, base["queries"], base["slm_accuracy"] * 100,
                             base["llm_accuracy"] * 100]
                            + [index[(scope, s)]["auroc"] for s in signals])
        blocks.append(table(["task", "queries", "SLM acc %", "LLM acc %"]
                            + [f"AUROC {s}" for s in signals], per_task,
                            title="Per task (AUROC '-' where the SLM is always right or always "
                                  "wrong)"))
    index = {(r["signal"], r["decile"]): r for r in decile_rows if r["scope"] == ALL}
    count = max(r["decile"] for r in decile_rows)
    blocks.append(table(["decile"] + [f"{s} acc %" for s in signals],
                        [[d] + [index[(s, d)]["slm_accuracy"] * 100 if (s, d) in index else None
                                for s in signals] for d in range(1, count + 1)],
                        title="SLM accuracy per signal decile (all queries; 1 = least uncertain)"))
    return "\n\n".join(blocks)


def plot(curves, summary, decile_rows, signals, folder: Path) -> None:
    """roc.png, risk_coverage.png, offload.png and deciles.png (all queries)."""
    plt = matplotlib_pyplot()
    auc = {r["signal"]: r["auroc"] for r in summary if r["scope"] == ALL}
    aurc_ = {r["signal"]: r["aurc"] for r in summary if r["scope"] == ALL}

    fig, ax = plt.subplots(figsize=(4.8, 4.4))
    ax.plot([0, 1], [0, 1], color="0.6", linestyle=":", label="no information")
    for name, (fpr, tpr) in curves["roc"].items():
        ax.plot(fpr, tpr, label=f"{name} (AUROC {auc[name]:.3f})")
    ax.set_xlabel("false-positive rate")
    ax.set_ylabel("true-positive rate (SLM errors flagged)")
    ax.set_title("ROC of each signal for an SLM error", fontsize=9)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(folder / "roc.png", dpi=120)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(4.8, 4.4))
    for name, (coverage, risk) in curves["risk"].items():
        ax.plot(coverage, risk * 100, label=f"{name} (AURC {aurc_[name]:.3f})")
    ax.set_xlabel("coverage (fraction answered by the SLM, most certain first)")
    ax.set_ylabel("SLM error rate on the covered queries [%]")
    ax.set_title("Risk-coverage", fontsize=9)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(folder / "risk_coverage.png", dpi=120)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(5.2, 4.4))
    n = curves["oracle"].size - 1
    fraction = np.arange(n + 1) / n
    ax.plot(fraction, curves["oracle"] * 100, color="k", label="oracle")
    ax.plot(fraction, curves["random"] * 100, color="0.5", linestyle="--", label="random")
    for name, curve in curves["offload"].items():
        ax.plot(fraction, curve * 100, label=name)
    ax.axvline(THIRD, color="0.7", linestyle=":")
    ax.set_xlabel("fraction of queries offloaded to the LLM (most uncertain first)")
    ax.set_ylabel("accuracy [%]")
    ax.set_title("Accuracy versus offloaded fraction", fontsize=9)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(folder / "offload.png", dpi=120)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(5.2, 4.0))
    width = 0.8 / len(signals)
    for number, name in enumerate(signals):
        rows = [r for r in decile_rows if r["scope"] == ALL and r["signal"] == name]
        ax.bar(np.array([r["decile"] for r in rows]) + (number - (len(signals) - 1) / 2) * width,
               [r["slm_accuracy"] * 100 for r in rows], width=width, label=name)
    ax.set_xlabel("signal decile (1 = least uncertain)")
    ax.set_ylabel("SLM accuracy [%]")
    ax.set_title("SLM accuracy per signal decile", fontsize=9)
    ax.grid(True, alpha=0.3, axis="y")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(folder / "deciles.png", dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
