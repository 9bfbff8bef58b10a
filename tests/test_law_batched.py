"""The "batched" congestion law (docs/model.md, "Congestion laws"): h_j(n) is when n queries of
the instance's mean prompt, reaching the idle ES j together, have all finished under
``inference.BatchScheduler``; checked against the scheduler and the roofline themselves."""

from __future__ import annotations

import itertools
import json

import numpy as np
import numpy.testing as npt
import pytest

import inference
import instances
from instances import InstanceError, Law
from instances.law import batched_h, batched_law, mean_prompt_tokens


def _roofline(n=6, m=2, seed=0, **kwargs):
    return instances.generate(n, m, seed=seed, costs="roofline", **kwargs)


def _edge(inst):
    specs = inst.provenance["inference"]["specs"]
    return inference.Cost(inference.ModelSpec(**specs["llm"]),
                          inference.HardwareSpec(**specs["edge"]))


def test_batched_law_is_the_schedulers_makespan_of_the_mean_prompt():
    """generate(costs="roofline", law="batched") holds a = 0, b = 1 and, for every ES, h(n) =
    batch_makespan_s of the ES's default scheduler at the mean prompt and T; h is
    nondecreasing and h(1) is the ES's query_s of the mean prompt; the drop is the paper's."""
    inst = _roofline(12, 3, seed=2, law="batched")
    plain = _roofline(12, 3, seed=2)
    record = inst.provenance["inference"]
    p = mean_prompt_tokens(record["prompt_tokens"])
    assert p == max(1, round(float(np.mean(record["prompt_tokens"]))))
    t = record["output_tokens"]
    edge = _edge(inst)
    want = [inference.batch_makespan_s(inference.BatchScheduler(edge), n, p, t)
            for n in range(1, 13)]
    assert inst.law.kind == "batched" and inst.law.h.shape == (3, 12)
    for j in range(3):
        npt.assert_array_equal(inst.law.h[j], want)
    npt.assert_array_equal(inst.law.a, 0.0)
    npt.assert_array_equal(inst.law.b, 1.0)
    assert np.all(np.diff(inst.law.h, axis=1) >= 0)
    npt.assert_allclose(inst.law.h[:, 0], edge.query_s(p, t), rtol=1e-12)
    npt.assert_array_equal(inst.gain, plain.gain)
    assert inst.provenance["law"] == "batched"
    assert plain.with_law(Law("batched")).fingerprint == inst.fingerprint


def test_batched_h_with_max_batch_one_is_n_queries_one_after_the_other():
    """With max_batch 1 the server runs one query at a time: h(n) = n query_s."""
    edge = _edge(_roofline())
    h = batched_h(inference.BatchScheduler(edge, max_batch=1), 40, 5, 6)
    npt.assert_allclose(h, np.arange(1, 7) * edge.query_s(40, 5), rtol=1e-12)


def test_evaluator_under_batched_equals_the_table_law_built_by_hand():
    """instances.evaluate under "batched" prices every assignment as the table law (a = 0,
    b = 1, h of batch_makespan_s) built by hand, and a query on ES j with n_j users computes
    for h_j(n_j)."""
    inst = _roofline(4, 2, seed=5, law="batched")
    record = inst.provenance["inference"]
    p, t = mean_prompt_tokens(record["prompt_tokens"]), record["output_tokens"]
    row = [inference.batch_makespan_s(inference.BatchScheduler(_edge(inst)), n, p, t)
           for n in range(1, 5)]
    by_hand = inst.with_law(Law("table", a=np.zeros((4, 2)), b=np.ones(4), h=[row, row]))
    for a in itertools.product(range(-1, 2), repeat=4):
        got, want = instances.evaluate(inst, a), instances.evaluate(by_hand, a)
        npt.assert_array_equal(got.delay_s, want.delay_s)
    got = instances.evaluate(inst, [0, 0, 0, 1])
    assert got.delay_s[0] > row[2]  # upload plus h_0(3)


def test_batched_needs_roofline_costs():
    """On an instance without roofline costs "batched" is an InstanceError saying to generate
    with costs="roofline" (generate, with_law, and a Law("batched") placed in an Instance)."""
    with pytest.raises(InstanceError, match="costs='roofline'"):
        instances.generate(4, 2, law="batched")
    paper = instances.generate(4, 2)
    with pytest.raises(InstanceError, match="costs='roofline'"):
        paper.with_law(Law("batched"))
    with pytest.raises(InstanceError, match="costs='roofline'"):
        batched_law(paper)
    with pytest.raises(InstanceError, match="law.a"):
        Law("batched", a=np.zeros((4, 2)))


def test_batched_law_file_is_self_contained_and_cli_takes_it(tmp_path):
    """save()/load() keep the batched table (kind "batched") bit for bit, with no recomputation;
    ``instances generate --costs roofline --law batched`` writes the same instance; without
    --costs roofline it is one line naming costs, exit 2, and no file."""
    from instances import cli

    inst = _roofline(5, 2, seed=1, law="batched")
    doc = json.loads(instances.save(inst, tmp_path / "b.json").read_text())
    assert doc["law"]["kind"] == "batched" and len(doc["law"]["h"]) == 2
    doc["provenance"].pop("inference")  # the table is in the file: nothing to recompute
    back = instances.io.from_dict(doc)
    assert back.law.kind == "batched" and back.fingerprint == inst.fingerprint
    out = tmp_path / "c.json"
    assert cli.main(["generate", "--users", "5", "--servers", "2", "--seed", "1", "--costs",
                     "roofline", "--law", "batched", "--out", str(out)]) == 0
    assert instances.load(out).fingerprint == inst.fingerprint
    assert cli.main(["generate", "--users", "5", "--servers", "2", "--law", "batched",
                     "--out", str(tmp_path / "d.json")]) == 2
    assert not (tmp_path / "d.json").exists()


def test_gap_and_certified_generate_roofline_sets_under_the_batched_law(capsys):
    """``--costs roofline --law batched``: benchmarks.gap's generated tasks carry "roofline"
    (the default tasks stay as they were: 6-tuples, no costs) and load roofline drops under the
    batched law; benchmarks.certified's exact row equals brute force under that law; without
    --costs roofline it is one line naming --law, exit 2, before anything runs."""
    from benchmarks import certified, gap

    plain = gap.make_tasks(gap.build_parser().parse_args(["--quick"]))
    assert all(len(task[0]) == 6 for task in plain)
    args = gap.build_parser().parse_args(["--quick", "--costs", "roofline", "--law", "batched"])
    tasks = gap.make_tasks(args)
    assert [task[0][:6] for task in tasks] == [task[0] for task in plain]
    assert all(task[0][6] == "roofline" for task in tasks)
    inst, name, _, _ = gap._load(tasks[-1][0], tasks[-1][-1])
    assert inst.law.kind == "batched" and inst.provenance["costs"] == "roofline"
    assert "roofline" in name
    args = certified.build_parser().parse_args(["--costs", "roofline", "--law", "batched",
                                                "--sizes", "6", "--servers", "2", "--seeds",
                                                "1", "--tau", "0.8"])
    (task,) = certified.make_tasks(args)
    rows = certified.solve_task(task)
    exact = [r for r in rows if r["method"] == "exact"][0]
    want = instances.generate(6, 2, seed=1, interference="full", costs="roofline",
                              law="batched")
    forced = want.forced(0.8)
    options = [range(2) if f else range(-1, 2) for f in forced]
    best = min(instances.evaluate(want, a).total_delay_ms for a in itertools.product(*options))
    npt.assert_allclose(exact["objective_ms"], best, rtol=1e-9)
    capsys.readouterr()
    for main in (gap.main, certified.main):
        assert main(["--quick", "--law", "batched", "--out", "/nonexistent/x"]) == 2
        err = capsys.readouterr().err
        assert "--law: 'batched' needs --costs roofline" in err and "Traceback" not in err
