"""online's event loop against an independent reference: a short event-driven model of the same
system written here from docs/model.md (section 9, "Queries over time"), query by query.

The reference shares no code with online/engine.py: at every step it recomputes every rate from
scratch (band shares, "full" interference summed over the uploads in progress, capacitated
processor-sharing shares) from the instance's raw fields, moves every job by rate x time, and
handles the one earliest event (completions before arrivals, as the engine). The engine instead
keeps received powers incrementally, compute in virtual time with a heap, and uploads in packed
arrays; both must give every query the same delay.
"""

import math

import numpy as np
import pytest
from numpy.testing import assert_allclose

import instances
import online


def reference_finish(inst, queries, places) -> np.ndarray:
    """Finish time of each query at the given places (-1: its device), by a plain event loop.

    Device: first come, first served, ``W^L / C^L`` per query. Upload of query q (user i) to
    ES j: ``(B_j / u_j) log2(1 + P_i g_ij / (N0 B_j + I))``, ``u_j`` the uploads to j in
    progress, ``I`` the sum of ``P_k g_kj`` over the uploads in progress to other ESs ("full";
    0 under "none"). Then compute at ES j: ``min(C^max_j, C_j / n_j)`` each, ``n_j`` the
    queries in compute there.
    """
    user, arrival = queries.user.tolist(), queries.arrival_s.tolist()
    place = [int(p) for p in places]
    finish = [math.nan] * len(user)
    free = [0.0] * inst.n_users
    for q, j in enumerate(place):
        if j < 0:
            i = user[q]
            start = max(arrival[q], free[i])
            free[i] = start + queries.local_workload_flop[q] / inst.local_flops[i]
            finish[q] = free[i]
    power = inst.tx_power_w.tolist()
    gain = inst.gain.tolist()
    band = inst.bandwidth_hz.tolist()
    noise = [inst.noise_psd_w_hz * b for b in band]
    cap, flops = inst.server_cap_flops.tolist(), inst.server_flops.tolist()
    full = inst.interference == "full"
    edge = [q for q, j in enumerate(place) if j >= 0]  # in arrival order
    uploading: dict[int, float] = {}  # query -> bits left
    computing: dict[int, float] = {}  # query -> FLOP left
    t, k = 0.0, 0
    while k < len(edge) or uploading or computing:
        rate = {}
        for q in uploading:
            i, j = user[q], place[q]
            sharing = sum(1 for r in uploading if place[r] == j)
            interference = sum(power[user[r]] * gain[user[r]][j] for r in uploading
                               if place[r] != j) if full else 0.0
            rate[q] = band[j] / sharing * math.log2(
                1.0 + power[i] * gain[i][j] / (noise[j] + interference))
        share = {}
        for q in computing:
            j = place[q]
            share[q] = min(cap[j], flops[j] / sum(1 for r in computing if place[r] == j))
        events = [(t + left / rate[q], 0, q) for q, left in uploading.items()]
        events += [(t + left / share[q], 0, q) for q, left in computing.items()]
        if k < len(edge):
            events.append((arrival[edge[k]], 1, edge[k]))
        when, kind, q = min(events)  # completions (0) before arrivals (1) at equal times
        dt = when - t
        for r in uploading:
            uploading[r] -= rate[r] * dt
        for r in computing:
            computing[r] -= share[r] * dt
        t = when
        if kind == 1:
            uploading[q] = float(queries.prompt_bits[q])
            k += 1
        elif q in uploading:
            del uploading[q]
            computing[q] = float(queries.edge_workload_flop[q])
        else:
            del computing[q]
            finish[q] = t
    return np.array(finish)


class Replay(online.Policy):
    """Places given in advance, one per query (so that both models see the same decisions)."""

    name = "replay"

    def __init__(self, places):
        self.places = np.asarray(places, dtype=np.int64)

    def decide(self, state, arrivals):
        return self.places[arrivals.query]


def _busy_instance(interference: str):
    """10 users, 3 ESs with a narrow band (uploads of 0.1-15 ms, so that some overlap across
    cells) and total compute of 1.2-1.8 per-query caps (so that processor sharing binds)."""
    return instances.generate(10, 3, seed=5, interference=interference, bandwidth_hz=2e6,
                              server_flops_spread_lo=0.12, server_flops_spread_hi=0.18)


@pytest.mark.parametrize("interference", ["full", "none"])
def test_engine_matches_the_event_driven_reference_query_by_query(interference):
    """Several ESs, overlapping uploads to different cells (so "full" interference changes the
    rates while they run), shared compute and device queues: every query's delay in
    ``online.run_queries`` equals the reference's to 1e-9 relative. The case is checked not to
    be trivial: uploads to different ESs overlap, and some compute runs below its cap."""
    inst = _busy_instance(interference)
    queries = online.draw_queries(inst, 40.0, 1.0, seed=3)
    places = np.random.default_rng(0).integers(-1, inst.n_servers, len(queries))
    sim = online.run_queries(inst, Replay(places), queries, tau=1.0)
    rec = sim.records
    assert rec.finished.all()
    expected = reference_finish(inst, queries, places)
    assert_allclose(rec.delay_s, expected - queries.arrival_s, rtol=1e-9)

    edge = np.flatnonzero(places >= 0)
    start, end = rec.upload_start_s[edge], rec.upload_end_s[edge]
    cross = sum(np.count_nonzero((start < e) & (end > s) & (places[edge] != j))
                for s, e, j in zip(start, end, places[edge]))
    assert cross >= 10, cross  # pairs of uploads to different ESs in flight together
    alone = rec.edge_workload_flop[edge] / inst.server_cap_flops[places[edge]]
    assert np.count_nonzero(rec.compute_s[edge] > 1.5 * alone) >= 20  # shared below the cap
    assert len(edge) >= 200


def test_reference_sees_interference():
    """The reference is not blind to the interference model: on the same queries and places,
    "full" and "none" give different delays (so the agreement above checks the coupling)."""
    full, none = _busy_instance("full"), _busy_instance("none")
    queries = online.draw_queries(full, 40.0, 0.3, seed=3)
    places = np.random.default_rng(0).integers(0, full.n_servers, len(queries))
    a = reference_finish(full, queries, places)
    b = reference_finish(none, queries, places)
    assert np.max(np.abs(a - b) / (b - queries.arrival_s)) > 0.05
