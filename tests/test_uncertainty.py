"""Uncertainty signals (instances.uncertainty), their use as alpha, named traces, and the metrics
of benchmarks.uncertainty, each against a hand-worked example."""

import math

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import instances
from benchmarks import paper
from benchmarks import uncertainty as bu
from benchmarks.common import read_csv
from instances.cli import main as instances_main
from instances.uncertainty import SIGNALS, uncertainty

ROWS = np.array([[0.5, 0.3, 0.2], [1.0, 0.0, 0.0], [1 / 3, 1 / 3, 1 / 3]])


def test_signals_by_hand():
    """Each signal on three rows computed by hand: a mixed row, a one-hot row (certain) and a
    uniform row (as uncertain as a top-3 gets)."""
    h = -(0.5 * math.log(0.5) + 0.3 * math.log(0.3) + 0.2 * math.log(0.2)) / math.log(3)
    expected = {
        "margin": [1 - (0.5 - 0.3), 0.0, 1.0],
        "maxprob": [0.5, 0.0, 2 / 3],
        "entropy": [h, 0.0, 1.0],
        "ratio": [0.3 / 0.5, 0.0, 1.0],
        "gini": [(1 - 0.25 - 0.09 - 0.04) / (2 / 3), 0.0, 1.0],
    }
    assert set(expected) == set(SIGNALS)
    for name, values in expected.items():
        assert_allclose(uncertainty(ROWS, name), values, atol=1e-12, err_msg=name)


def test_signals_sort_rows_pad_and_reject():
    """Rows are sorted first; zero padding changes nothing but k; a bad signal name, a single
    column or a negative value is a ValueError naming the field."""
    assert_allclose(uncertainty([[0.2, 0.5, 0.3]], "margin"), [0.8])
    assert_allclose(uncertainty([[0.6, 0.4, 0.0, 0.0]], "ratio"), [0.4 / 0.6])
    assert_allclose(uncertainty([[0.5, 0.5, 0.0, 0.0]], "entropy"), [math.log(2) / math.log(4)])
    with pytest.raises(ValueError, match="uncertainty: unknown uncertainty signal 'nope'"):
        uncertainty(ROWS, "nope")
    with pytest.raises(ValueError, match="topk_probs"):
        uncertainty([[1.0]], "margin")
    with pytest.raises(ValueError, match="topk_probs"):
        uncertainty([[0.5, -0.1]], "maxprob")


def test_margin_is_the_one_alpha():
    """The default instance's alpha is the margin signal, bit for bit, and naming the default
    changes nothing."""
    inst = instances.generate(30, seed=3)
    assert_array_equal(inst.alpha, uncertainty(inst.topk_probs, "margin"))
    same = instances.generate(30, seed=3, uncertainty="margin")
    assert_array_equal(same.alpha, inst.alpha)
    assert_array_equal(same.p_slm_correct, inst.p_slm_correct)
    assert inst.provenance["uncertainty"] == "margin"


@pytest.mark.parametrize("profile", ["synthetic", "example"])
@pytest.mark.parametrize("signal", ["maxprob", "entropy", "gini"])
def test_generate_with_a_signal(tmp_path, profile, signal):
    """generate(uncertainty=...) sets alpha to that signal of the same queries (the drop is
    otherwise the margin drop), records it, keeps calibrated probabilities non-increasing in
    alpha (synthetic: one map; a trace's are cross-fitted, two maps), and survives a save and a
    load."""
    base = instances.generate(25, seed=4, profile=profile)
    inst = instances.generate(25, seed=4, profile=profile, uncertainty=signal)
    assert_array_equal(inst.topk_probs, base.topk_probs)
    assert_array_equal(inst.slm_correct, base.slm_correct)
    assert_allclose(inst.alpha, uncertainty(inst.topk_probs, signal), rtol=0, atol=0)
    assert inst.provenance["uncertainty"] == signal
    if profile == "synthetic":
        order = np.argsort(inst.alpha, kind="stable")
        assert np.all(np.diff(inst.p_slm_correct[order]) <= 1e-12)
    path = tmp_path / "inst.json"
    instances.save(inst, path)
    back = instances.load(path)
    assert_array_equal(back.alpha, inst.alpha)
    with pytest.raises(ValueError, match=f"alpha: must equal the '{signal}' signal"):
        inst.replace(alpha=uncertainty(inst.topk_probs, "margin"))


def test_generate_bad_signal_and_named_trace(capsys):
    """A bad signal is an InstanceError naming 'uncertainty' (API) and exit code 2 (CLI); a
    shipped trace by name is the same trace as by path."""
    with pytest.raises(instances.InstanceError, match="^uncertainty: unknown"):
        instances.generate(5, uncertainty="bogus")
    assert instances_main(["generate", "--users", "5", "--uncertainty", "bogus",
                           "--out", "never.json"]) == 2
    assert "uncertainty" in capsys.readouterr().err
    by_name = instances.generate(12, seed=7, profile="example")
    by_path = instances.generate(12, seed=7, profile=instances.EXAMPLE_TRACE)
    assert_array_equal(by_name.topk_probs, by_path.topk_probs)
    assert by_name.provenance["profile"] == "trace:example_trace.jsonl"
    assert len(instances.load_trace("example")) == len(instances.load_trace(
        instances.EXAMPLE_TRACE))


# Worked example of the metrics: 5 queries, an SLM error is the positive class.
SCORE = np.array([0.9, 0.8, 0.8, 0.3, 0.1])
SLM = np.array([0.0, 0.0, 1.0, 1.0, 0.0])
LLM = np.ones(5)


def test_auroc_roc_and_auprc_by_hand():
    """Errors score {0.9, 0.8, 0.1}, correct answers {0.8, 0.3}: 3.5 of 6 pairs ordered (the
    tie counts one half); the ROC steps through the tie group at once; the average precision is
    (1 + 2/3 + 3/5) / 3 = 34/45."""
    error = 1 - SLM
    assert instances.auroc(SCORE, error) == pytest.approx(3.5 / 6)
    fpr, tpr = bu.roc_curve(SCORE, error)
    assert_allclose(fpr, [0, 0, 0.5, 1, 1])
    assert_allclose(tpr, [0, 1 / 3, 2 / 3, 2 / 3, 1])
    assert bu.auprc(SCORE, error) == pytest.approx(34 / 45)
    assert np.trapezoid(tpr, fpr) == pytest.approx(3.5 / 6)  # the ROC's area is the AUROC


def test_risk_coverage_and_aurc_by_hand():
    """Most certain first: 0.1 (wrong), 0.3 (right), the tie at 0.8 (one of each: half an error
    each by expectation), 0.9 (wrong): risk 1, 1/2, 1/2, 1/2, 3/5; AURC = 3.1 / 5."""
    coverage, risk = bu.risk_coverage(SCORE, SLM)
    assert_allclose(coverage, [0.2, 0.4, 0.6, 0.8, 1.0])
    assert_allclose(risk, [1, 0.5, 0.5, 0.5, 0.6])
    assert bu.aurc(SCORE, SLM) == pytest.approx(0.62)


def test_deciles_by_hand():
    """Five bins of one query each, least uncertain first; the tie at 0.8 (one wrong, one right)
    straddles bins 3 and 4, each of which gets half of each by expectation, as the docs say of
    every figure (it used to follow the record order: 0, 1 or 1, 0)."""
    rows = bu.deciles(SCORE, SLM, bins=5)
    assert [r["slm_accuracy"] for r in rows] == [0.0, 1.0, 0.5, 0.5, 0.0]
    assert [r["signal_lo"] for r in rows] == [0.1, 0.3, 0.8, 0.8, 0.9]
    swapped = [0, 2, 1, 3, 4]
    assert bu.deciles(SCORE[swapped], SLM[swapped], bins=5) == rows


def test_deciles_never_depend_on_the_record_order():
    """On scores with many ties, every permutation of the records gives the same deciles (bins
    of 7 or 6 queries cutting through tie groups); the bins' correct counts add up to the
    total."""
    rng = np.random.default_rng(3)
    score = rng.integers(0, 6, 64) / 5.0
    correct = (rng.random(64) < 0.5).astype(float)
    rows = bu.deciles(score, correct)
    assert [r["queries"] for r in rows] == [7, 7, 7, 7, 6, 6, 6, 6, 6, 6]
    for _ in range(5):
        order = rng.permutation(64)
        other = bu.deciles(score[order], correct[order])
        for a, b in zip(rows, other):
            assert a["slm_accuracy"] == pytest.approx(b["slm_accuracy"], abs=1e-12)
            assert (a["signal_lo"], a["signal_hi"]) == (b["signal_lo"], b["signal_hi"])
    assert sum(r["queries"] * r["slm_accuracy"] for r in rows) == pytest.approx(correct.sum())


# Fractional correctness, worked by hand: three queries, SLM correctness 0.25, 1 and 0.5, so
# error weights 0.75, 0 and 0.5 (total 1.25) and right-answer weights 0.25, 1, 0.5 (total 1.75).
FRACTION_SCORE = np.array([0.9, 0.5, 0.1])
FRACTION_SLM = np.array([0.25, 1.0, 0.5])


def test_fractional_correctness_one_definition_of_an_error():
    """An error weighs 1 - correctness in every metric. AUROC: of the 1.25 x 1.75 weighted
    (error, right) pairs, 0.75 x (1 + 0.5) above, 0.75 x 0.25 and 0.5 x 0.5 tied with
    themselves (half each): 43/70, the area of the weighted ROC; average precision
    0.6 x 0.75 + 0.4 x (1.25 / 3) = 37/60; deciles and risk use the same weights. (The AUROC
    used to threshold the error at 0.5 while the error rate took its mean: only query 1 an
    error, AUROC 1.)"""
    error = 1 - FRACTION_SLM
    fpr, tpr = bu.roc_curve(FRACTION_SCORE, error)
    assert_allclose(fpr, [0, 1 / 7, 5 / 7, 1])
    assert_allclose(tpr, [0, 0.6, 0.6, 1])
    assert bu.auroc(FRACTION_SCORE, error) == pytest.approx(43 / 70)
    assert bu.auprc(FRACTION_SCORE, error) == pytest.approx(37 / 60)
    assert [r["slm_accuracy"] for r in bu.deciles(FRACTION_SCORE, FRACTION_SLM, bins=3)] == [
        0.5, 1.0, 0.25]
    assert_allclose(bu.risk_coverage(FRACTION_SCORE, FRACTION_SLM)[1], [0.5, 0.25, 1.25 / 3])
    rows = bu.analyse([[0.5, 0.5]] * 3, FRACTION_SLM, np.ones(3), ["margin"], resamples=20)[0]
    assert rows[0]["error_rate"] == pytest.approx(1.25 / 3)
    assert rows[0]["auroc"] == pytest.approx(0.5)       # one tie group: no information


def test_plain_classes_agree_with_instances_auroc():
    """For true/false correctness the weighted AUROC is the usual one: equal to
    instances.auroc (ranks, ties one half) on random scores with many ties."""
    rng = np.random.default_rng(1)
    for _ in range(20):
        score = rng.integers(0, 8, 50) / 7.0
        error = (rng.random(50) < 0.4).astype(float)
        if 0 < error.sum() < 50:
            assert bu.auroc(score, error) == pytest.approx(instances.auroc(score, error),
                                                           abs=1e-12)


def test_trace_with_fractional_correctness_runs(tmp_path, capsys):
    """A valid trace whose correctness values are numbers in [0, 1] runs: every query half
    right (it used to stop with an internal "positive: needs at least one positive" error
    dressed as bad input), and mixed fractions whose AUROC is the weighted one."""
    import json

    records = [{"prompt_bytes": 100, "topk_probs": probs, "slm_correct": c, "llm_correct": 1.0,
                "slm_latency_s": 0.01, "llm_latency_s": 0.1}
               for probs, c in zip([[0.9, 0.1], [0.6, 0.4], [0.5, 0.5]] * 4,
                                   [0.5] * 6 + [0.25, 1.0, 0.5] * 2)]
    for name, rows in (("half", records[:6]), ("mixed", records)):
        trace = tmp_path / f"{name}.jsonl"
        trace.write_text("".join(json.dumps(r) + "\n" for r in rows))
        out = tmp_path / name
        assert bu.main(["--trace", str(trace), "--out", str(out), "--resamples", "30",
                        "--no-plots"]) == 0, capsys.readouterr().err
        summary = {r["signal"]: r for r in read_csv(out / "uncertainty.csv")
                   if r["scope"] == "all"}
        loaded = instances.load_trace(trace)
        margin = uncertainty(loaded.topk_probs, "margin")
        assert float(summary["margin"]["auroc"]) == pytest.approx(
            bu.auroc(margin, 1 - loaded.slm_correct))
        assert float(summary["margin"]["error_rate"]) == pytest.approx(
            1 - loaded.slm_correct.mean())


def test_offload_oracle_random_by_hand():
    """The LLM is always right: gains (1, 1, 0, 0, 1) in score order 0.9, {0.8, 0.8}, 0.3, 0.1;
    by the signal 2/5 -> 3/5 -> 3.5/5 (half the tie) -> 4/5 -> 4/5 -> 5/5; the oracle takes the
    three errors first; random gains 0.6/5 per query."""
    assert_allclose(bu.offload_accuracy(SCORE, SLM, LLM), [0.4, 0.6, 0.7, 0.8, 0.8, 1.0])
    assert_allclose(bu.oracle_accuracy(SLM, LLM), [0.4, 0.6, 0.8, 1.0, 1.0, 1.0])
    assert_allclose(bu.random_accuracy(SLM, LLM), [0.4, 0.52, 0.64, 0.76, 0.88, 1.0])


def test_bootstrap_seeded_and_paired():
    """The bootstrap is seeded (same seed, same values), its CI holds the point estimate, and a
    signal compared with itself differs by exactly 0 on every resample (paired resamples)."""
    rng = np.random.default_rng(0)
    score = rng.random(200)
    error = (rng.random(200) < score).astype(float)
    a = bu.bootstrap_auroc({"s": score, "t": score.copy()}, error, 300,
                           np.random.default_rng(5))
    b = bu.bootstrap_auroc({"s": score, "t": score.copy()}, error, 300,
                           np.random.default_rng(5))
    assert_array_equal(a["s"], b["s"])
    assert_array_equal(a["s"] - a["t"], 0.0)
    lo, hi = np.percentile(a["s"], [2.5, 97.5])
    assert lo < instances.auroc(score, error) < hi


def test_benchmark_cli(tmp_path, capsys):
    """The CLI on the example trace writes every file, one summary row per signal, offload rows
    from the all-local accuracy up to the all-edge one; bad input is one line, exit code 2."""
    out = tmp_path / "unc"
    assert bu.main(["--trace", "example", "--out", str(out), "--resamples", "200"]) == 0
    rows = read_csv(out / "uncertainty.csv")
    assert [r["signal"] for r in rows] == list(SIGNALS)
    trace = instances.load_trace("example")
    offload = [r for r in read_csv(out / "offload.csv") if r["policy"] == "margin"]
    assert float(offload[0]["accuracy"]) == pytest.approx(trace.slm_correct.mean())
    assert float(offload[-1]["accuracy"]) == pytest.approx(trace.llm_correct.mean())
    for name in ("roc.png", "risk_coverage.png", "offload.png", "deciles.png", "summary.txt"):
        assert (out / name).stat().st_size > 0
    assert "ranked by AUROC" in capsys.readouterr().out
    assert bu.main(["--trace", "missing.jsonl", "--out", str(tmp_path / "x")]) == 2
    assert bu.main(["--trace", "example", "--signals", "nope", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "--trace" in err and "--signals" in err
    assert not (tmp_path / "x").exists()


def test_paper_with_profile_and_signal(tmp_path, capsys):
    """benchmarks.paper runs on a trace by name with another signal; bad names exit 2."""
    out = tmp_path / "p"
    assert paper.main(["--users", "8", "--tau", "0.8", "--drops", "2", "--profile", "example",
                       "--uncertainty", "maxprob", "--no-plots", "--out", str(out)]) == 0
    assert "profile example, uncertainty maxprob" in (out / "summary.txt").read_text()
    assert paper.main(["--profile", "nothere", "--out", str(tmp_path / "q")]) == 2
    assert paper.main(["--uncertainty", "nope", "--out", str(tmp_path / "q")]) == 2
    err = capsys.readouterr().err
    assert "--profile" in err and "--uncertainty" in err


def test_paper_on_a_trace_where_the_slm_is_never_plainly_wrong(tmp_path):
    """benchmarks.paper on a valid trace whose SLM correctness is 0.5 everywhere runs and
    reports no AUROC (nan) instead of failing inside instances.auroc (which used to surface
    as a one-line "auroc: needs at least one positive" error, as if the input were bad)."""
    import json

    trace = tmp_path / "half.jsonl"
    trace.write_text("".join(json.dumps(
        {"prompt_bytes": 100 + i, "topk_probs": [0.6, 0.4], "slm_correct": 0.5,
         "llm_correct": 1.0, "slm_latency_s": 0.01, "llm_latency_s": 0.1}) + "\n"
        for i in range(12)))
    out = tmp_path / "p"
    assert paper.main(["--users", "4", "--tau", "0.8", "--drops", "1", "--profile", str(trace),
                       "--no-plots", "--out", str(out)]) == 0
    assert "AUROC of alpha for an SLM error = nan" in (out / "summary.txt").read_text()
