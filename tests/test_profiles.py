"""Query profiles: the synthetic model's calibration (docs/model.md section 7) and measured traces."""

import json

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import instances
from instances import InstanceError, accuracy_by_alpha, auroc, generate, load_trace


@pytest.fixture(scope="module")
def large_drop():
    """10,000 synthetic queries from the paper preset (seed 2026): the calibration sample."""
    return generate(10_000, 4, seed=2026)


def test_calibration_to_the_paper(large_drop):
    """SLM 45 +/- 2 %, LLM 56 +/- 2 %, local delay 36 +/- 3 ms, AUROC of alpha in [0.65, 0.85]."""
    inst = large_drop
    assert 43.0 <= inst.slm_correct.mean() * 100 <= 47.0
    assert 54.0 <= inst.llm_correct.mean() * 100 <= 58.0
    assert 33.0 <= inst.local_delay_s.mean() * 1e3 <= 39.0
    assert 0.65 <= auroc(inst.alpha, 1.0 - inst.slm_correct) <= 0.85


def test_slm_accuracy_falls_as_alpha_grows(large_drop):
    """Per alpha quintile bin, the SLM's accuracy strictly decreases."""
    _, accuracy, counts = accuracy_by_alpha(large_drop.alpha, large_drop.slm_correct, bins=5)
    assert np.all(counts > 100)
    assert np.all(np.diff(accuracy) < 0)


def test_llm_is_not_right_on_a_superset(large_drop):
    """Some queries only the SLM gets right (and more only the LLM gets right)."""
    slm, llm = large_drop.slm_correct == 1, large_drop.llm_correct == 1
    assert np.sum(slm & ~llm) > 0.05 * slm.size
    assert np.sum(llm & ~slm) > np.sum(slm & ~llm)


def test_alpha_is_a_real_margin(large_drop):
    """alpha = 1 - (p1 - p2) of the renormalised, sorted top-10 distribution."""
    p = large_drop.topk_probs
    assert p.shape[1] == 10
    assert_allclose(p.sum(axis=1), 1.0, atol=1e-12)
    assert np.all(np.diff(p, axis=1) <= 0)
    assert_array_equal(large_drop.alpha, 1.0 - (p[:, 0] - p[:, 1]))


def test_auroc_by_hand():
    """Positives {0.1, 0.9} vs negatives {0.1, 0.5}: (0.5 + 0 + 1 + 1) / 4 = 0.625."""
    assert auroc([0.1, 0.1, 0.5, 0.9], [0, 1, 0, 1]) == pytest.approx(0.625)
    assert auroc([1, 2, 3, 4], [0, 0, 1, 1]) == 1.0
    with pytest.raises(ValueError):
        auroc([1, 2], [1, 1])


def test_example_trace_loads_and_drives_the_generator():
    """The shipped trace: 60 records, latencies become workloads; instances are deterministic."""
    trace = load_trace(instances.EXAMPLE_TRACE)
    assert len(trace) == 60
    a = generate(40, 4, seed=3, profile=instances.EXAMPLE_TRACE)
    b = generate(40, 4, seed=3, profile=trace)
    assert a.topk_probs.tobytes() == b.topk_probs.tobytes()
    assert a.provenance["profile"] == "trace:example_trace.jsonl"
    # every query of the instance is a trace record: bits = 8 x the record's bytes
    assert set((a.prompt_bits / 8).tolist()) <= set(trace.prompt_bytes.tolist())
    rows = np.arange(len(trace))
    q = trace.queries(rows, 91.06e12, 1513e12)
    with_latency = ~np.isnan(trace.slm_latency_s)
    assert with_latency.any() and (~with_latency).any()
    assert_allclose(q.local_workload_flop[with_latency],
                    trace.slm_latency_s[with_latency] * 91.06e12)
    assert_array_equal(q.edge_workload_flop[~with_latency], trace.llm_workload_flop[~with_latency])


GOOD = {"prompt_bytes": 300, "topk_probs": [0.2, 0.6, 0.2], "slm_correct": True,
        "llm_correct": 0, "slm_latency_s": 0.03, "llm_workload_flop": 1e13}


def test_trace_record_is_renormalised_and_sorted(tmp_path):
    """Top-k probabilities in any order are sorted; padded with zeros to the longest k."""
    path = tmp_path / "t.jsonl"
    other = dict(GOOD, topk_probs=[1.0, 1.0, 1.0, 1.0])
    path.write_text(json.dumps(GOOD) + "\n\n# comment\n" + json.dumps(other) + "\n")
    trace = load_trace(path)
    assert_allclose(trace.topk_probs, [[0.6, 0.2, 0.2, 0.0], [0.25, 0.25, 0.25, 0.25]])


@pytest.mark.parametrize("change, message", [
    ({"prompt_bytes": None}, "prompt_bytes"),
    ({"prompt_bytes": -3}, "prompt_bytes must be positive"),
    ({"topk_probs": [1.0]}, "topk_probs"),
    ({"topk_probs": [0.5, -0.1]}, "topk_probs"),
    ({"slm_correct": 2}, "slm_correct"),
    ({"llm_correct": "yes"}, "llm_correct"),
    ({"slm_latency_s": None}, "slm_workload_flop' or 'slm_latency_s"),
    ({"llm_workload_flop": None}, "llm_workload_flop"),
])
def test_bad_trace_record_names_line_and_field(tmp_path, change, message):
    """A bad record raises InstanceError naming the line and the field."""
    record = {k: v for k, v in {**GOOD, **change}.items() if v is not None}
    path = tmp_path / "t.jsonl"
    path.write_text(json.dumps(GOOD) + "\n" + json.dumps(record) + "\n")
    with pytest.raises(InstanceError, match=f"t.jsonl line 2: .*{message}|line 2.*{message}"):
        load_trace(path)


def test_trace_with_both_costs(tmp_path):
    """A record may give a workload and a latency; the generator takes the workload unless
    trace.using("latency") keeps only latencies; a cost missing from a record is named."""
    path = tmp_path / "t.jsonl"
    both = dict(GOOD, slm_workload_flop=2e12, llm_latency_s=0.5, llm_topk_probs=[0.9, 0.1])
    path.write_text(json.dumps(both) + "\n")
    rows = np.array([0])
    trace = load_trace(path)
    auto = trace.queries(rows, 1e14, 1e15)
    assert_array_equal([auto.local_workload_flop[0], auto.edge_workload_flop[0]], [2e12, 1e13])
    lat = trace.using("latency").queries(rows, 1e14, 1e15)
    assert_allclose([lat.local_workload_flop[0], lat.edge_workload_flop[0]], [3e12, 5e14])
    work = trace.using("workload").queries(rows, 1e14, 1e15)
    assert_array_equal([work.local_workload_flop[0], work.edge_workload_flop[0]], [2e12, 1e13])
    assert trace.using("auto") is trace
    path.write_text(json.dumps(GOOD) + "\n")
    with pytest.raises(InstanceError, match="record 1 of t.jsonl has no 'slm_workload_flop'"):
        load_trace(path).using("workload")
    with pytest.raises(InstanceError, match="cost: must be one of"):
        load_trace(path).using("time")


def test_bad_trace_file(tmp_path):
    """Not JSON, not an object, empty: each a clear InstanceError."""
    for text, message in (("{oops\n", "not valid JSON"), ("[1, 2]\n", "JSON object"),
                          ("# nothing\n", "no records")):
        path = tmp_path / "t.jsonl"
        path.write_text(text)
        with pytest.raises(InstanceError, match=message):
            load_trace(path)
