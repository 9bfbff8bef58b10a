"""The discrete-event simulator (online/): against queueing theory (M/M/1 processor sharing),
Ciw (capacitated processor sharing) and the static evaluator (queries that never overlap);
conservation and determinism; the policies' rules and the accuracy guard; query drawing
(profiles, uncertainty signal, trace cost). The query-by-query check against an event-driven
reference is tests/test_online_reference.py."""

import math

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import goa  # noqa: F401  registers the planners of the solver policies
import instances
import online


def _one_server(capacity_ratio: float, flops: float = 1e15):
    """1 user, 1 ES whose total compute is ``capacity_ratio`` x its per-query cap."""
    inst = instances.generate(1, 1, seed=0)
    return inst.replace(server_cap_flops=np.array([flops]),
                        server_flops=np.array([flops * capacity_ratio]))


def _exponential_stream(inst, rate_hz, mean_work_flop, n, seed):
    """Poisson arrivals at one user, exponential edge work, prompts of 1e-6 bit (uploads of
    ~1e-15 s), so that the ES sees (almost exactly) the arrival process."""
    rng = np.random.default_rng(seed)
    arrival = np.cumsum(rng.exponential(1.0 / rate_hz, n))
    work = rng.exponential(mean_work_flop, n)
    topk = np.tile(inst.topk_probs[0], (n, 1))
    return online.QueryStream(
        user=np.zeros(n, dtype=np.int64), arrival_s=arrival, prompt_bits=np.full(n, 1e-6),
        local_workload_flop=np.full(n, 1e12), edge_workload_flop=work, topk_probs=topk,
        alpha=np.full(n, inst.alpha[0]), slm_correct=np.zeros(n), llm_correct=np.ones(n))


def test_mm1_processor_sharing_mean_sojourn():
    """One ES without a per-query cap (C^max = C) is an M/M/1 processor-sharing queue: the
    mean sojourn time is 1 / (mu - lambda).

    lambda = 50/s, mu = 100/s (rho = 0.5), 10 independent replications of 6,000 queries, the
    first 500 of each dropped (the queue starts empty). The replication means are i.i.d., so
    their Student t interval is a valid one; the test asks the theory to lie within 4 standard
    errors (a false alarm about once in 10^3 with 9 degrees of freedom; the seeds are fixed, so
    the outcome is too), and the standard error to be below 3 % of the mean, so that the
    check has teeth (a 12 % error would fail it)."""
    inst = _one_server(1.0)
    lam, mu, flops = 50.0, 100.0, 1e15
    means = []
    for rep in range(10):
        queries = _exponential_stream(inst, lam, flops / mu, 6000, seed=100 + rep)
        sim = online.run_queries(inst, online.EdgeAll(), queries, tau=1.0)
        sojourn = sim.records.compute_end_s - sim.records.compute_start_s
        means.append(sojourn[500:].mean())
    means = np.array(means)
    se = means.std(ddof=1) / math.sqrt(means.size)
    theory = 1.0 / (mu - lam)
    assert se < 0.03 * theory
    assert abs(means.mean() - theory) < 4 * se, (means.mean(), theory, se)


def test_capacitated_ps_matches_ciw():
    """Capacitated processor sharing, each query at min(C^max, C / n) with C = 3 C^max, is
    Ciw's processor-sharing node with threshold 3 and unlimited capacity (service time
    W / C^max at full speed). Fed the same arrival instants and the same work, the two
    simulators give every query the same sojourn time (to 1e-7 relative: Ciw updates
    remaining times in another order of floating-point operations)."""
    import ciw  # a test dependency (the test extra): never skipped
    flops = 1e15
    inst = _one_server(3.0, flops)
    queries = _exponential_stream(inst, 250.0, flops / 100.0, 1500, seed=7)  # rho = 0.83
    sim = online.run_queries(inst, online.EdgeAll(), queries, tau=1.0)
    rec = sim.records
    start = rec.compute_start_s
    assert np.all(np.diff(start) > 0)
    service = (rec.edge_workload_flop / flops).tolist()
    network = ciw.create_network(
        # after the last arrival, the next one is 1e9 s away (Sequential cycles)
        arrival_distributions=[ciw.dists.Sequential(
            np.diff(start, prepend=0.0).tolist() + [1e9])],
        service_distributions=[ciw.dists.Sequential(service)],
        number_of_servers=[float("inf")], ps_thresholds=[3])
    ciw.seed(0)
    simulation = ciw.Simulation(network, node_class=[ciw.PSNode])
    simulation.simulate_until_max_time(start[-1] + 100.0)
    records = sorted(simulation.get_all_records(), key=lambda r: r.id_number)
    assert len(records) == len(start)
    ciw_sojourn = np.array([r.exit_date - r.arrival_date for r in records])
    ciw_arrival = np.array([r.arrival_date for r in records])
    assert_allclose(ciw_arrival, start, rtol=1e-12)
    ours = rec.compute_end_s - start
    assert_allclose(ours, ciw_sojourn, rtol=1e-7)
    assert ours.max() > 3 * ours.min()  # queries did overlap: the case is not trivial


class Cycle(online.Policy):
    """Query q goes to place (q mod (M + 1)) - 1: every place in turn (a user-defined policy)."""

    name = "cycle"

    def decide(self, state, arrivals):
        return arrivals.query % (state.instance.n_servers + 1) - 1


@pytest.mark.parametrize("interference", ["full", "none"])
def test_low_rate_equals_static_delay_of_user_alone(interference):
    """At a rate so low that queries never overlap, every query's delay equals the static
    model's delay (instances.evaluate) of its user alone on its place, to 1e-9 relative
    (both interference models, every place); and
    the prediction recorded at the decision equals it too."""
    inst = instances.generate(8, 3, seed=4, interference=interference)
    # times stay below 1e4 s: a delay is a difference of two clock readings, exact to
    # ulp(1e4 s) = 1.8e-12 s, i.e. 3e-10 of the shortest delay here
    sim = online.simulate(inst, Cycle(), rate_per_user_hz=1.5e-3, duration_s=1e4, seed=1,
                          profile="instance", predict=True)
    rec = sim.records
    assert len(rec) > 100
    assert np.all(rec.arrival_s[1:] > rec.finish_s[:-1])  # no two queries overlap
    assert set(rec.place.tolist()) == {-1, 0, 1, 2}
    expected = np.empty(len(rec))
    for q, (i, j) in enumerate(zip(rec.user, rec.place)):
        alone = np.full(inst.n_users, -1)
        alone[i] = j
        expected[q] = instances.evaluate(inst, alone).delay_s[i]
    assert_allclose(rec.delay_s, expected, rtol=1e-9)
    assert_allclose(rec.predicted_s, expected, rtol=1e-9)


def test_conservation_and_parts():
    """No query is lost: at the end of an undrained, overloaded run, arrivals = finished + in
    flight, and the records' unfinished stages agree with the simulator's own state; every
    finished query's delay is the sum of its parts; a drained run finishes every query."""
    inst = instances.generate(20, 2, seed=2, server_flops_spread_lo=0.05,
                              server_flops_spread_hi=0.05)
    sim = online.simulate(inst, "goa", 60.0, 2.0, seed=3, tau=0.7, slot_s=0.02, drain=False)
    rec = sim.records
    done = rec.finished
    flight = sim.in_flight
    assert len(rec) == done.sum() + sum(flight.values())
    assert flight["computing"] > 0 and flight["local"] + flight["undecided"] > 0
    assert flight["undecided"] == np.count_nonzero(rec.place == -2)
    assert flight["uploading"] == np.count_nonzero((rec.place >= 0) & np.isnan(rec.upload_end_s))
    assert flight["computing"] == np.count_nonzero(np.isfinite(rec.upload_end_s)
                                                   & np.isnan(rec.compute_end_s))
    parts = rec.decision_wait_s + rec.queue_s + rec.upload_s + rec.compute_s
    assert_allclose(parts[done], rec.delay_s[done], rtol=1e-9, atol=1e-12)
    drained = online.simulate(inst, "goa", 60.0, 2.0, seed=3, tau=0.7, slot_s=0.02)
    assert drained.records.finished.all()
    assert sum(drained.in_flight.values()) == 0
    # the same decisions up to the end of the undrained run's horizon
    both = np.isfinite(rec.finish_s)
    assert_array_equal(drained.records.finish_s[both], rec.finish_s[both])


def test_same_seed_same_records_bit_for_bit():
    """The same seed gives the same records bit for bit (all but the decision's wall time);
    another seed gives other arrivals."""
    inst = instances.generate(15, 4, seed=5)
    runs = [online.simulate(inst, "goa_ls", 8.0, 3.0, seed=s, slot_s=0.05, predict=True)
            for s in (11, 11, 12)]
    for name in online.COLUMNS:
        if name != "decide_wall_s":
            assert_array_equal(getattr(runs[0].records, name), getattr(runs[1].records, name),
                               err_msg=name)
    assert not np.array_equal(runs[0].records.arrival_s[:5], runs[2].records.arrival_s[:5])


def test_snapshot_pins_in_flight_queries():
    """In the snapshot of a busy moment, GOA and goa_ls leave every pinned in-flight query on
    its own ES, and the snapshot's first users are the arrivals."""
    import goa

    inst = instances.generate(30, 4, seed=6)
    seen = []

    class Probe(online.Policy):
        """Offloads everything to ES 0 and checks the snapshot at each decision."""

        def decide(self, state, arrivals):
            snap, pinned = online.snapshot(state, arrivals)
            k = len(arrivals)
            assert_array_equal(snap.alpha[:k], arrivals.alpha)
            if pinned.size:
                for method in ("goa", "goa_ls"):
                    plan = goa.solve(snap, tau=0.8, method=method).assignment
                    assert_array_equal(plan[k:], pinned)
                seen.append(pinned.size)
            return np.zeros(k, dtype=np.int64)

    online.simulate(inst, Probe(), 20.0, 0.3, seed=0, slot_s=0.01)
    assert max(seen) >= 5


def test_policies_respect_their_rules():
    """local-all keeps everything local; edge-all offloads everything; threshold offloads
    exactly the queries with alpha > tau; the static plan holds each user's choice for the
    queries with alpha <= tau (the guard sends the others to the edge)."""
    inst = instances.generate(25, 4, seed=8)
    kw = dict(rate_per_user_hz=5.0, duration_s=2.0, seed=2, tau=0.75)
    rec = online.simulate(inst, "local_all", **kw).records
    assert np.all(rec.place == -1)
    assert np.all(online.simulate(inst, "edge_all", **kw).records.place >= 0)
    rec = online.simulate(inst, "threshold", **kw).records
    assert_array_equal(rec.place >= 0, rec.alpha > 0.75)
    static = online.StaticPlan("goa")
    rec = online.simulate(inst, static, **kw).records
    certain = rec.alpha <= 0.75
    assert_array_equal(rec.place[certain], static.plan(inst, 0.75)[rec.user[certain]])
    assert np.all(rec.place[~certain] >= 0)


@pytest.mark.parametrize("kwargs, field", [
    ({"rate_per_user_hz": -1.0}, "rate_per_user_hz"),
    ({"duration_s": 0.0}, "duration_s"),
    ({"seed": -3}, "seed"),
    ({"slot_s": 0.0}, "slot_s"),
    ({"warmup_s": 5.0}, "warmup_s"),
    ({"tau": 1.5}, "tau"),
    ({"policy": "nope"}, "policy"),
    ({"profile": 3}, "profile"),
])
def test_bad_arguments_name_the_field(kwargs, field):
    """Each bad argument raises a ValueError that names it."""
    inst = instances.generate(3, 2, seed=0)
    args = {"policy": "local_all", "rate_per_user_hz": 1.0, "duration_s": 2.0, "seed": 0, **kwargs}
    with pytest.raises(ValueError, match=field):
        online.simulate(inst, **args)


def test_bad_policy_answer_is_rejected():
    """A policy returning the wrong number of places or an unknown server is refused."""
    inst = instances.generate(3, 2, seed=0)

    class Wrong(online.Policy):
        """Returns server 7 of 2."""

        def decide(self, state, arrivals):
            return np.full(len(arrivals), 7)

    with pytest.raises(ValueError, match="places"):
        online.simulate(inst, Wrong(), 5.0, 1.0, seed=0)


def test_trace_profile_draws_queries_from_the_trace():
    """With a trace profile every query's prompt size and top-k come from a record of the
    trace; the synthetic default gives the preset's bits per byte."""
    inst = instances.generate(5, 2, seed=0)
    trace = instances.load_trace(instances.EXAMPLE_TRACE)
    queries = online.draw_queries(inst, 5.0, 4.0, seed=1, profile=trace)
    assert len(queries) > 20
    assert set(queries.prompt_bits / 8).issubset(set(trace.prompt_bytes.tolist()))
    sim = online.run_queries(inst, "threshold", queries, tau=0.7)
    assert sim.records.finished.all()
    synthetic = online.draw_queries(inst, 5.0, 4.0, seed=1)
    assert np.all(synthetic.prompt_bits % 8 == 0)


def test_solver_policies_find_planners_by_name_or_take_a_callable():
    """A solver policy resolves its method among the planners goa registered (online never
    imports goa); an unknown name is a ValueError naming ``method``; ``solver=`` takes any
    callable, whose plan is applied to the arrivals (here: everything local)."""
    with pytest.raises(ValueError, match="method: no planner for 'nope'"):
        online.Solve("nope")
    with pytest.raises(ValueError, match="solver: must be callable"):
        online.StaticPlan(solver=3)
    inst = instances.generate(6, 2, seed=0)

    def all_local(instance, tau, seed=0):
        return np.full(instance.n_users, -1)

    sim = online.simulate(inst, online.Solve(solver=all_local), rate_per_user_hz=5.0,
                          duration_s=1.0, seed=0, tau=1.0)
    assert len(sim.records.place) > 0
    assert np.all(sim.records.place == -1)


@pytest.mark.parametrize("profile", [None, "instance"])
def test_queries_carry_the_instance_uncertainty_signal(profile):
    """An instance generated with another uncertainty signal (entropy) is simulated with that
    signal: every query's alpha is the entropy of its top-k, and the per-slot solvers' live
    snapshots are valid instances of the same signal (they used to be checked against the
    margin and rejected)."""
    from instances.uncertainty import uncertainty

    inst = instances.generate(12, 2, seed=0, uncertainty="entropy")
    sim = online.simulate(inst, "goa", 20.0, 1.0, seed=0, tau=0.8, slot_s=0.02,
                          profile=profile)
    queries = online.draw_queries(inst, 20.0, 1.0, seed=0, profile=profile)
    assert_allclose(queries.alpha, uncertainty(queries.topk_probs, "entropy"), rtol=0,
                    atol=1e-12)
    assert len(sim.records.place) == queries.user.size


def test_trace_cost_is_recorded_and_honoured_by_online(tmp_path):
    """An instance generated from a trace restricted to its measured latencies
    (``--trace-cost latency``) records ``trace_cost`` in its provenance, through a saved file;
    online then draws its queries from the trace with the same cost (each workload is a
    record's latency at the preset's nominal compute, not the record's analytic FLOP), and a
    trace of the other cost kind is refused, naming ``profile``."""
    from instances.cli import main as instances_main

    out = tmp_path / "lat.json"
    assert instances_main(["generate", "--users", "6", "--servers", "2", "--profile",
                           "babi-tiny", "--trace-cost", "latency", "--out", str(out)]) == 0
    inst = instances.load(out)
    assert inst.provenance["trace_cost"] == "latency"
    trace = instances.load_trace("babi-tiny")
    queries = online.draw_queries(inst, 5.0, 2.0, seed=1, profile="babi-tiny")
    nominal = instances.PRESETS["paper"]
    latencies = set((trace.slm_latency_s * nominal["local_flops"]).tolist())
    assert len(queries) > 20
    assert set(queries.local_workload_flop.tolist()) <= latencies
    assert not set(queries.local_workload_flop.tolist()) & set(trace.slm_workload_flop.tolist())
    # the default (workload) instance keeps the analytic FLOP, and records no trace_cost
    plain = instances.generate(6, 2, seed=0, profile="babi-tiny")
    assert "trace_cost" not in plain.provenance
    drawn = online.draw_queries(plain, 5.0, 2.0, seed=1, profile="babi-tiny")
    assert set(drawn.local_workload_flop.tolist()) <= set(trace.slm_workload_flop.tolist())
    with pytest.raises(ValueError, match="profile: the trace keeps cost 'workload'"):
        online.draw_queries(inst, 5.0, 2.0, seed=1, profile=trace.using("workload"))


def test_one_query_drawing_for_generator_and_simulator():
    """The generator and the simulator draw query data with the one function
    ``instances.generator.draw_profile_queries``: an instance's queries are what it draws after
    the system's draws, and online's queries of a run are what it draws after the arrivals
    (synthetic and trace profiles, another uncertainty signal included)."""
    from instances.generator import draw_profile_queries
    from online.queries import poisson_arrivals

    params = instances.PRESETS["paper"]
    trace = instances.load_trace("babi-tiny").using("latency")
    for profile, source in (("synthetic", None), (trace, trace)):
        inst = instances.generate(9, 3, seed=4, profile=profile, uncertainty="entropy")
        rng = np.random.default_rng(4)
        rng.uniform(size=(9, 2)), rng.uniform(size=9), rng.uniform(size=3)
        rng.exponential(size=(9, 3))
        drawn = draw_profile_queries(9, rng, params, source, "entropy")
        assert_array_equal(inst.alpha, drawn.alpha)
        assert_array_equal(inst.edge_workload_flop, drawn.edge_workload_flop)
        assert_array_equal(inst.p_slm_correct, drawn.p_slm_correct)
        rng = np.random.default_rng(2)
        user, _ = poisson_arrivals(9, 4.0, 3.0, rng)
        again = draw_profile_queries(user.size, rng, params, source, "entropy")
        queries = online.draw_queries(inst, 4.0, 3.0, seed=2, profile=source)
        assert_array_equal(queries.topk_probs, again.topk_probs)
        assert_array_equal(queries.alpha, again.alpha)
        assert_array_equal(queries.local_workload_flop, again.local_workload_flop)


def test_static_plans_keep_the_guard_per_query_and_summaries_count_violations():
    """A static plan keeps the accuracy guard per query: a query with alpha > tau of a user the
    plan keeps local goes to the edge, to the ES edge-all would choose at that moment (the
    static goa_ls plan used to send such queries to the device: 86 of 305 in one run). Every
    summary reports ``guard_violations``: 0 for every built-in policy that keeps the guard, the
    count of uncertain queries for local-all and for an unguarded static plan."""
    from online.policies import least_loaded

    inst = instances.generate(50, 4, seed=0)
    tau = 0.8
    kw = dict(rate_per_user_hz=4.0, duration_s=2.0, seed=0, tau=tau)
    checked = []

    class Checked(online.StaticPlan):
        """goa_ls's static plan, checking each guarded place against edge-all's choice."""

        def decide(self, state, arrivals):
            places = super().decide(state, arrivals)
            planned = self.plan(state.instance, state.tau)[arrivals.user]
            moved = (planned < 0) & (arrivals.alpha > state.tau)
            if moved.any():
                assert_array_equal(places[moved], least_loaded(state, arrivals, moved)[moved])
                checked.append(int(moved.sum()))
            return places

    policy = Checked("goa_ls")
    sim = online.simulate(inst, policy, **kw)
    rec = sim.records
    uncertain = rec.alpha > tau
    planned_local = policy.plan(inst, tau)[rec.user] < 0
    assert np.count_nonzero(uncertain & planned_local) >= 10  # the guard has work to do
    assert sum(checked) == np.count_nonzero(uncertain & planned_local)
    assert np.all(rec.place[uncertain] >= 0)
    assert_array_equal(rec.place[~uncertain], policy.plan(inst, tau)[rec.user[~uncertain]])
    assert sim.summary()["guard_violations"] == 0
    for name in ("edge_all", "threshold", "goa", "goa_ls", "static_goa", "static_goa_ls"):
        slot = 0.02 if name in ("goa", "goa_ls") else None
        assert online.simulate(inst, name, slot_s=slot, **kw).summary()["guard_violations"] \
            == 0, name
    local = online.simulate(inst, "local_all", **kw)
    assert local.summary()["guard_violations"] == np.count_nonzero(
        local.records.alpha > tau)
    unguarded = online.simulate(inst, online.StaticPlan("goa_ls", guard=False), **kw)
    assert unguarded.policy == "static_goa_ls_unguarded"
    assert unguarded.summary()["guard_violations"] == np.count_nonzero(uncertain & planned_local)
