"""Planning with the batched law online (docs/online.md, "Planning with the batched law"): the
snapshot of a batched run carries the law "batched" built for its own users, the planners
plan with it (or with "ps" when asked), and its prediction of queries that reach an idle ES
together is the realised delay."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import goa  # noqa: F401  registers the planners of the solver policies
import inference
import instances
import online
from instances.law import batched_h
from online.snapshot import planning_law

EDGE = inference.Cost("llama-3.1-8b", "a100-80gb")


def _stream(user, arrival_s, prompt_bits=1e-300):
    n = len(arrival_s)
    return online.QueryStream(
        user=np.asarray(user, dtype=np.int64), arrival_s=np.asarray(arrival_s, dtype=float),
        prompt_bits=np.full(n, prompt_bits), local_workload_flop=np.full(n, 1e12),
        edge_workload_flop=np.full(n, 1e13), topk_probs=np.tile([0.6, 0.4], (n, 1)),
        alpha=np.full(n, 0.8), slm_correct=np.zeros(n), llm_correct=np.ones(n))


def test_prediction_of_queries_reaching_an_idle_es_together_is_the_realised_delay():
    """Three queries of 80 prompt tokens decided in one slot and sent to one idle ES (uploads
    of 1e-300 bit) all finish h(3) after the decision: the static model's prediction under the
    batched ES's own law is that, to 1e-12 (under "ps" it was W^E n / C, unrelated)."""
    inst = instances.generate(3, 1, seed=0)
    server = online.BatchedServer(edge=EDGE, output_tokens=3)
    sim = online.run_queries(inst, online.EdgeAll(), _stream([0, 1, 2], [0.41, 0.42, 0.43]),
                             tau=1.0, slot_s=0.25, server=server, prompt_tokens=[80, 80, 80],
                             predict=True)
    rec = sim.records
    h3 = inference.batch_makespan_s(server.scheduler(), 3, 80, 3)
    assert_allclose(rec.finish_s - rec.decided_s, h3, rtol=1e-12)
    assert_allclose(rec.predicted_s, h3, rtol=1e-12)


class Spy:
    """A solver that records the instances it plans on and offloads everyone to ES 0."""

    def __init__(self):
        self.seen = []

    def __call__(self, instance, tau, seed, **options):
        self.seen.append(instance)
        return np.zeros(instance.n_users, dtype=np.int64)


@pytest.mark.parametrize("policy_law", [None, "ps"])
def test_solvers_plan_with_the_servers_law_or_ps_when_asked(policy_law):
    """On a batched run, Solve and StaticPlan plan on instances under "batched" (a = 0, b = 1,
    h = batched_h of the run's scheduler at its mean prompt, built for each snapshot's own user
    count) unless given law="ps"; on a processor-sharing run, under "ps"."""
    inst = instances.generate(6, 2, seed=3, costs="roofline")
    server = online.BatchedServer.of(inst, max_batch=4)
    for make in (lambda s: online.Solve("goa", solver=s, law=policy_law),
                 lambda s: online.StaticPlan("goa", solver=s, law=policy_law)):
        spy = Spy()
        sim = online.simulate(inst, make(spy), 4.0, duration_s=1.0, seed=2, slot_s=0.05,
                              server=server, profile="instance")
        tokens = sim.records.prompt_tokens
        prompt = max(1, round(float(np.mean(tokens))))
        assert spy.seen
        for seen in spy.seen:
            if policy_law == "ps":
                assert seen.law.kind == "ps"
                continue
            h = batched_h(server.scheduler(), prompt, server.output_tokens, seen.n_users)
            assert seen.law.kind == "batched" and seen.law.h.shape == (2, seen.n_users)
            assert_array_equal(seen.law.h, np.tile(h, (2, 1)))
            assert_array_equal(seen.law.b, 1.0)
        assert sim.policy.endswith("" if policy_law is None else "_pslaw")
        spy = Spy()
        online.simulate(inst, make(spy), 4.0, duration_s=0.5, seed=2, slot_s=0.05)
        assert all(seen.law.kind == "ps" for seen in spy.seen)


def test_planning_law_checks_its_argument():
    """An unknown planning law, or "batched" on a run without a batched server, is a
    ValueError naming law."""
    with pytest.raises(ValueError, match="law: must be None"):
        online.Solve("goa", law="mm1")
    inst = instances.generate(3, 1, seed=0)
    state = online.State(inst, _stream([0], [0.1]), 0.8)
    with pytest.raises(ValueError, match="law: 'batched' plans for a batched server"):
        planning_law(state, 3, "batched")
    assert planning_law(state, 3).kind == "ps"


def test_online_law_benchmark_goodput_is_paired_per_seed(tmp_path, capsys):
    """benchmarks.online_law: the goodput per law is the highest fraction up to which every
    swept fraction meets the deadline for >= 90 % of the queries, per seed, and the paired
    difference batched - ps is taken seed by seed; a bad --warmup is one line, exit 2, and no
    folder."""
    from benchmarks import online_law

    att = {("batched", 0): [1.0, 0.95, 0.5], ("ps", 0): [1.0, 0.5, 0.95],
           ("batched", 1): [0.95, 0.95, 0.95], ("ps", 1): [0.95, 0.95, 0.2]}
    rows = [{"law": law, "seed": seed, "fraction": f, "attainment": a}
            for (law, seed), values in att.items() for f, a in zip((0.2, 0.5, 0.8), values)]
    good, diff = online_law.law_goodput(rows)
    by_law = {g["law"]: g["goodput_hz"] for g in good}
    assert by_law == {"batched": (0.5 + 0.8) / 2, "ps": (0.2 + 0.5) / 2}
    assert diff["diff"] == pytest.approx(((0.5 - 0.2) + (0.8 - 0.5)) / 2)
    assert diff["seeds"] == 2
    out = tmp_path / "o"
    assert online_law.main(["--quick", "--warmup", "5", "--out", str(out)]) == 2
    assert "--warmup" in capsys.readouterr().err and not out.exists()
