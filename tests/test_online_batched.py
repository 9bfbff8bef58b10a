"""The batched ES of the simulator (``online.simulate(..., server="batched")``) against ground
truth: a query alone, a schedule worked by hand, a FIFO queue (Ciw), an independent reference
scheduler; conservation and determinism."""

import math

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import goa  # noqa: F401  registers the planners of the solver policies
import inference
import instances
import online

PHONE = inference.HardwareSpec(
    name="test-phone", peak_flops={"fp16": 4e12}, mem_bw_bytes_s=60e9, mem_bytes=8e9,
    eta_flops=0.5, eta_bw=0.7, overhead_s=2e-3, source="made up for a test")
ROOFLINE = dict(costs="roofline", device=PHONE, edge="a100-80gb", slm="llama-3.2-1b-q4",
                llm="llama-3.1-8b")
EDGE = inference.Cost("llama-3.1-8b", "a100-80gb")


class Cycle(online.Policy):
    """Query q goes to place (q mod (M + 1)) - 1: every place in turn."""

    name = "cycle"

    def decide(self, state, arrivals):
        return arrivals.query % (state.instance.n_servers + 1) - 1


def _stream(n_users, user, arrival_s, prompt_bits=1e-6):
    """Queries of the given users at the given instants; prompts of 1e-6 bit (uploads of
    ~1e-15 s), so that each ES sees (almost exactly) the arrival process."""
    n = len(arrival_s)
    topk = np.tile([0.6, 0.4], (n, 1))
    return online.QueryStream(
        user=np.asarray(user, dtype=np.int64), arrival_s=np.asarray(arrival_s, dtype=float),
        prompt_bits=np.full(n, prompt_bits), local_workload_flop=np.full(n, 1e12),
        edge_workload_flop=np.full(n, 1e13), topk_probs=topk, alpha=np.full(n, 0.8),
        slm_correct=np.zeros(n), llm_correct=np.ones(n))


def test_query_alone_is_query_s_plus_its_upload():
    """At a rate so low that queries never overlap, an offloaded query's delay is its upload
    plus the ES's query_s of its prompt, and a local one's the device's query_s, to 1e-9
    relative; each answer's first token comes after the prefill, alone in its batch."""
    inst = instances.generate(6, 2, seed=4, output_tokens=4, **ROOFLINE)
    tokens = np.array(inst.provenance["inference"]["prompt_tokens"])
    device = inference.Cost("llama-3.2-1b-q4", PHONE)
    sim = online.simulate(inst, Cycle(), rate_per_user_hz=1e-2, duration_s=3e3, seed=1,
                          profile="instance", server="batched")
    rec = sim.records
    assert len(rec) > 100 and set(rec.place.tolist()) == {-1, 0, 1}
    assert np.all(rec.arrival_s[1:] > rec.finish_s[:-1])  # no two queries overlap
    p = tokens[rec.user]
    assert_array_equal(rec.prompt_tokens, p)
    assert_array_equal(rec.output_tokens, 4)
    edge = rec.place >= 0
    alone = np.where(edge, [EDGE.query_s(k, 4) for k in p], [device.query_s(k, 4) for k in p])
    assert_allclose(rec.delay_s, alone + rec.upload_s, rtol=1e-9)
    prefill = np.where(edge, [EDGE.prefill_s(k) for k in p], [device.prefill_s(k) for k in p])
    start = np.where(edge, rec.upload_end_s, rec.arrival_s)
    assert_allclose(rec.admitted_s, start, rtol=1e-12)
    assert_allclose(rec.first_token_s - rec.admitted_s, prefill, rtol=1e-9)
    assert_array_equal(rec.largest_batch, 1)


def test_three_overlapping_queries_by_hand():
    """Three queries (prompts of 100, 50, 20 tokens, T = 3) on one ES, worked by hand under
    prefill-first batching. q0 arrives at an idle ES: prefill P1 = [(100, 0)]. q1 arrives
    during P1 and waits; at P1's end it is admitted: prefill P2 = [(50, 0)] (q0 waits). Nothing
    waits at P2's end: decode D1 = [(1, 100), (1, 50)]. q2 arrives during D1; at its end it is
    admitted: prefill P3 = [(20, 0)]. Then decode D2 = [(1, 101), (1, 51), (1, 20)]: q0 and q1
    have their 3 tokens and leave; decode D3 = [(1, 21)]: q2 leaves."""
    inst = instances.generate(3, 1, seed=0)
    server = online.BatchedServer(edge=EDGE, output_tokens=3)
    dur = {name: EDGE.pass_s(seqs) for name, seqs in {
        "P1": [(100, 0)], "P2": [(50, 0)], "D1": [(1, 100), (1, 50)], "P3": [(20, 0)],
        "D2": [(1, 101), (1, 51), (1, 20)], "D3": [(1, 21)]}.items()}
    a0 = 1.0
    e1 = a0 + dur["P1"]
    e2 = e1 + dur["P2"]
    e3 = e2 + dur["D1"]
    e4 = e3 + dur["P3"]
    e5 = e4 + dur["D2"]
    e6 = e5 + dur["D3"]
    arrivals = [a0, a0 + dur["P1"] / 2, e2 + dur["D1"] / 2]
    queries = _stream(3, [0, 1, 2], arrivals)
    sim = online.run_queries(inst, online.EdgeAll(), queries, tau=1.0, server=server,
                             prompt_tokens=[100, 50, 20])
    rec = sim.records
    assert_allclose(rec.upload_end_s, arrivals, rtol=1e-12)
    assert_allclose(rec.admitted_s, [a0, e1, e3], rtol=1e-12)
    assert_allclose(rec.first_token_s, [e1, e2, e4], rtol=1e-12)
    assert_allclose(rec.finish_s, [e5, e5, e6], rtol=1e-12)
    assert_array_equal(rec.largest_batch, [3, 3, 3])


def test_queries_reaching_an_idle_es_together_share_a_prefill():
    """Two queries that reach an idle ES at the same instant (decided in the same slot at
    0.5 s, uploads of 1e-300 bit that end when they start) are admitted together: one
    prefill [(100, 0), (60, 0)], then one decode of both; with max_batch = 1 the second waits
    for the first's whole answer."""
    inst = instances.generate(2, 1, seed=0)
    queries = _stream(2, [0, 1], [0.45, 0.46], prompt_bits=1e-300)
    options = dict(tau=1.0, slot_s=0.25, prompt_tokens=[100, 60])
    together = online.run_queries(inst, online.EdgeAll(), queries,
                                  server=online.BatchedServer(edge=EDGE, output_tokens=2),
                                  **options)
    rec = together.records
    assert_array_equal(rec.upload_end_s, [0.5, 0.5])
    prefill = 0.5 + EDGE.pass_s([(100, 0), (60, 0)])
    assert_array_equal(rec.admitted_s, [0.5, 0.5])
    assert_allclose(rec.first_token_s, [prefill, prefill], rtol=1e-15)
    assert_allclose(rec.finish_s, prefill + EDGE.pass_s([(1, 100), (1, 60)]), rtol=1e-15)
    one = online.run_queries(inst, online.EdgeAll(), queries,
                             server=online.BatchedServer(edge=EDGE, output_tokens=2,
                                                         max_batch=1), **options)
    assert_allclose(one.records.finish_s[1], 0.5 + EDGE.query_s(100, 2) + EDGE.query_s(60, 2),
                    rtol=1e-12)


def test_max_batch_one_is_a_fifo_queue_as_ciw():
    """With max_batch = 1 an ES is a FIFO queue serving each query in query_s(p, T): fed the
    same arrival instants, Ciw's deterministic single-server queue gives every query the same
    exit time (to 1e-9 relative); the load (rho = 0.9) makes queries wait."""
    import ciw  # a test dependency (the test extra): never skipped

    inst = instances.generate(1, 1, seed=0)
    service = EDGE.query_s(200, 5)
    rng = np.random.default_rng(3)
    arrival = np.cumsum(rng.exponential(service / 0.9, 800))
    server = online.BatchedServer(edge=EDGE, output_tokens=5, max_batch=1)
    sim = online.run_queries(inst, online.EdgeAll(), _stream(1, np.zeros(800), arrival),
                             tau=1.0, server=server, prompt_tokens=np.full(800, 200))
    rec = sim.records
    start = rec.upload_end_s
    network = ciw.create_network(
        arrival_distributions=[ciw.dists.Sequential(
            np.diff(start, prepend=0.0).tolist() + [1e9])],
        service_distributions=[ciw.dists.Deterministic(service)],
        number_of_servers=[1])
    ciw.seed(0)
    simulation = ciw.Simulation(network)
    simulation.simulate_until_max_time(start[-1] + 1e3)
    records = sorted(simulation.get_all_records(), key=lambda r: r.id_number)
    assert len(records) == len(start)
    assert_allclose([r.arrival_date for r in records], start, rtol=1e-12)
    assert_allclose(rec.finish_s, [r.exit_date for r in records], rtol=1e-9)
    assert_array_equal(rec.largest_batch, 1)
    assert np.mean(rec.admitted_s > rec.upload_end_s) > 0.5  # queries did wait


def reference_schedule(arrival_s, tokens, output_tokens, cost, max_batch, max_tokens, kv_bytes):
    """An independent reference: one ES under prefill-first batching, as docs/online.md states
    it, in its own short loop (no inference.BatchScheduler). Returns per query (admitted,
    first token, finish) times and the largest batch it ran in."""
    n = len(arrival_s)
    kv = cost.model.kv_bytes_per_token
    admitted, first, finish = np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan)
    largest = np.zeros(n, dtype=int)
    made = [0] * n
    order = sorted(range(n), key=lambda q: (arrival_s[q], q))
    queue, running, clock, nxt = [], [], 0.0, 0
    while nxt < n or queue or running:
        if not queue and not running:  # idle: jump to the next arrival
            clock = max(clock, arrival_s[order[nxt]])
        while nxt < n and arrival_s[order[nxt]] <= clock:
            queue.append(order[nxt])
            nxt += 1
        batch = []
        memory = sum(tokens[q] + output_tokens for q in running) * kv
        for q in queue:
            new_memory = memory + (tokens[q] + output_tokens) * kv
            if (len(running) + len(batch) + 1 > max_batch or new_memory > kv_bytes
                    or (batch and sum(tokens[b] for b in batch) + tokens[q] > max_tokens)):
                break
            batch.append(q)
            memory = new_memory
        if batch:
            seqs = [(tokens[q], 0) for q in batch]
            for q in batch:
                admitted[q] = clock
            queue = queue[len(batch):]
        else:
            batch = list(running)
            seqs = [(1, tokens[q] + made[q] - 1) for q in batch]
        clock += cost.pass_s(seqs)
        for q in batch:
            largest[q] = max(largest[q], len(batch))
            made[q] += 1
            if made[q] == 1:
                first[q] = clock
                running.append(q)
            if made[q] == output_tokens:
                finish[q] = clock
                running.remove(q)
    return admitted, first, finish, largest


@pytest.mark.parametrize("limits", [
    dict(max_batch=256, max_batched_tokens=8192, kv_bytes=None),
    dict(max_batch=5, max_batched_tokens=600, kv_bytes=None),
    dict(max_batch=64, max_batched_tokens=8192, kv_bytes=8 * 900 * 131072.0),
])
def test_matches_an_independent_reference_scheduler(limits):
    """On random arrivals at 3 ESs (prompts of 20..800 tokens, T = 5, a load that builds
    queues), every query's admission, first token, finish and largest batch equal those of
    the reference scheduler above run on the query's arrival at its ES, to 1e-12 relative:
    with the default limits, a small batch and token budget, and a KV memory of about 8
    queries (131072 bytes per token for Llama-3.1-8B)."""
    n_users, n = 30, 600
    inst = instances.generate(n_users, 3, seed=8)
    rng = np.random.default_rng(5)
    arrival = np.sort(rng.uniform(0.0, 4.0, n))
    user = rng.integers(0, n_users, n)
    tokens = rng.integers(20, 801, n)
    kv = limits["kv_bytes"]
    server = online.BatchedServer(edge=EDGE, output_tokens=5, **limits)
    queries = _stream(n_users, user, arrival, prompt_bits=2000.0)
    sim = online.run_queries(inst, Cycle(), queries, tau=1.0, server=server,
                             prompt_tokens=tokens)
    rec = sim.records
    assert rec.finished.all() and (rec.place >= 0).sum() > 400
    assert rec.largest_batch.max() > 1
    for j in range(3):
        at = np.flatnonzero(rec.place == j)
        ref = reference_schedule(rec.upload_end_s[at].tolist(), tokens[at].tolist(), 5, EDGE,
                                 limits["max_batch"], limits["max_batched_tokens"],
                                 EDGE.kv_bytes_free if kv is None else kv)
        assert_allclose(rec.admitted_s[at], ref[0], rtol=1e-12)
        assert_allclose(rec.first_token_s[at], ref[1], rtol=1e-12)
        assert_allclose(rec.finish_s[at], ref[2], rtol=1e-12)
        assert_array_equal(rec.largest_batch[at], ref[3])


def test_conservation_and_parts():
    """No query is lost: at the end of an undrained, overloaded batched run, arrivals =
    finished + in flight, and the records' unfinished stages agree with the simulator's
    state; every finished query's delay is the sum of its parts, and arrival at the ES <=
    admission < first token <= finish; a drained run finishes every query, and agrees with
    the undrained one on what finished."""
    inst = instances.generate(40, 2, seed=2, **ROOFLINE)
    server = online.BatchedServer.of(inst, max_batch=8)
    kwargs = dict(rate_per_user_hz=20.0, duration_s=1.0, seed=3, tau=0.7, slot_s=0.02,
                  server=server)
    sim = online.simulate(inst, "edge_all", drain=False, **kwargs)
    rec = sim.records
    done = rec.finished
    flight = sim.in_flight
    assert len(rec) == done.sum() + sum(flight.values())
    assert flight["computing"] > 0
    assert flight["uploading"] == np.count_nonzero((rec.place >= 0) & np.isnan(rec.upload_end_s))
    assert flight["computing"] == np.count_nonzero(np.isfinite(rec.upload_end_s)
                                                   & np.isnan(rec.compute_end_s))
    parts = rec.decision_wait_s + rec.queue_s + rec.upload_s + rec.compute_s
    assert_allclose(parts[done], rec.delay_s[done], rtol=1e-9, atol=1e-12)
    edge = done & (rec.place >= 0)
    assert np.all(rec.upload_end_s[edge] <= rec.admitted_s[edge])
    assert np.all(rec.admitted_s[edge] < rec.first_token_s[edge])
    assert np.all(rec.first_token_s[edge] < rec.finish_s[edge])
    assert np.all((rec.largest_batch[edge] >= 1) & (rec.largest_batch[edge] <= 8))
    drained = online.simulate(inst, "edge_all", **kwargs)
    assert drained.records.finished.all() and sum(drained.in_flight.values()) == 0
    assert_array_equal(drained.records.finish_s[done], rec.finish_s[done])


def test_same_seed_same_records_bit_for_bit():
    """The same seed gives the same records bit for bit (all but the decision's wall time),
    GOA deciding on live snapshots with predictions; another seed gives other arrivals."""
    inst = instances.generate(15, 4, seed=5, **ROOFLINE)
    runs = [online.simulate(inst, "goa", 6.0, 2.0, seed=s, slot_s=0.05, predict=True,
                            server="batched") for s in (11, 11, 12)]
    for name in online.COLUMNS + online.BATCHED_COLUMNS:
        if name != "decide_wall_s":
            assert_array_equal(getattr(runs[0].records, name), getattr(runs[1].records, name),
                               err_msg=name)
    assert runs[0].server == "batched"
    assert not np.array_equal(runs[0].records.arrival_s[:5], runs[2].records.arrival_s[:5])
    assert "prompt_tokens" in runs[0].records.rows()[0]


def test_ps_on_a_roofline_instance_prices_queries_by_the_roofline():
    """Under ``server="ps"`` a roofline instance's queries (drawn from the synthetic profile)
    take the device's query_s of round(bytes / 4) tokens locally, and alone on an ES the ES's
    query_s; the ps records carry no batched columns."""
    inst = instances.generate(4, 1, seed=1, output_tokens=5, **ROOFLINE)
    device = inference.Cost("llama-3.2-1b-q4", PHONE)
    sim = online.simulate(inst, Cycle(), rate_per_user_hz=1e-2, duration_s=2e3, seed=2)
    rec = sim.records
    assert rec.prompt_tokens is None and "prompt_tokens" not in rec.rows()[0]
    p = np.maximum(np.round(rec.prompt_bits / 8 / 4), 1).astype(int)
    alone = np.where(rec.place >= 0, [EDGE.query_s(k, 5) for k in p],
                     [device.query_s(k, 5) for k in p])
    assert np.all(rec.arrival_s[1:] > rec.finish_s[:-1])
    assert_allclose(rec.compute_s, alone, rtol=1e-9)


def test_bad_server_arguments_say_what_to_pass():
    """``server="batched"`` on an instance without inference costs says what to pass; an
    unknown server, prompt tokens of the wrong length and a prompt too long for the KV memory
    raise ValueError naming the field."""
    paper = instances.generate(3, 1, seed=0)
    with pytest.raises(ValueError, match="costs='roofline'.*BatchedServer"):
        online.simulate(paper, "threshold", 1.0, 2.0, seed=0, server="batched")
    with pytest.raises(ValueError, match="^server:"):
        online.simulate(paper, "threshold", 1.0, 2.0, seed=0, server="vllm")
    queries = _stream(3, [0, 1], [0.1, 0.2])
    server = online.BatchedServer(edge=EDGE)
    with pytest.raises(ValueError, match="^prompt_tokens:"):
        online.run_queries(paper, "edge_all", queries, server=server, prompt_tokens=[5])
    small = online.BatchedServer(edge=EDGE, kv_bytes=131072.0 * 100)
    with pytest.raises(ValueError, match="^prompt_tokens:"):
        online.run_queries(paper, "edge_all", queries, server=small, prompt_tokens=[50, 96])
    with pytest.raises(ValueError, match="^server.output_tokens:"):
        online.BatchedServer(edge=EDGE, output_tokens=0)
    with pytest.raises(ValueError, match="^max_batch:"):
        online.BatchedServer(edge=EDGE, max_batch=0)
    assert math.isfinite(EDGE.query_s(50, 5))
