"""goa.solve: the API, hand-worked GOA decisions, and the properties of every method."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal

import goa
import instances
from goa import Result, Status, reference

from .hand import hand_instance

GREEDY = ("goa", "edge_all", "random", "dmin")


@pytest.fixture(scope="module")
def inst40():
    """40 users, 4 servers, the paper's preset (interference "full"): a typical small drop."""
    return instances.generate(40, 4, seed=11)


# -- the API ------------------------------------------------------------------------------------


def test_public_api():
    """goa exports solve, METHODS, ACCURACY_METHODS, Result, Status, reference_goa, the
    registry's methods, register_method and registered_methods, and the entry points'
    providers provide_starts and provide_planners; METHODS is a tuple."""
    assert set(goa.__all__) == {"solve", "METHODS", "ACCURACY_METHODS", "Result", "Status",
                                "methods", "register_method", "registered_methods",
                                "reference_goa", "provide_starts", "provide_planners"}
    assert goa.METHODS == ("goa", "local_all", "edge_all", "random", "dmin", "ga", "goa_ls",
                           "acc_greedy")
    assert goa.ACCURACY_METHODS == ("acc_greedy",)


def test_import_is_light():
    """Importing goa does not import numba (kernels compile on first use)."""
    import subprocess
    import sys
    from pathlib import Path

    code = "import sys, goa; print('numba' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).resolve().parents[1])
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("method", [m for m in goa.METHODS if m not in goa.ACCURACY_METHODS])
def test_result_shape(inst40, method):
    """Every method returns a Result: the assignment, its objective (which a second, jitted
    implementation of T(a) confirms to 1e-12; for the GA also its own fitness), the guard's
    verdict matching the forced users, the method, tau, params, a runtime inside the call's
    wall time, and the status."""
    import time

    from goa.solve import total_delay_ms

    options = {"generations": 20} if method == "ga" else {}
    started = time.perf_counter()
    result = goa.solve(inst40, tau=0.8, method=method, seed=4, **options)
    wall_s = time.perf_counter() - started
    assert isinstance(result, Result)
    assert result.method == method
    assert result.tau == 0.8
    assert result.assignment.dtype == np.int64
    assert result.assignment.shape == (40,)
    assert_allclose(result.objective_ms, total_delay_ms(inst40, result.assignment), rtol=1e-12)
    if method == "ga":
        assert_allclose(result.objective_ms, result.info["fitness_ms"], rtol=1e-12)
    guard_holds = bool(np.all(result.assignment[inst40.forced(0.8)] >= 0))
    assert result.is_feasible() == guard_holds
    assert result.status == (Status.FEASIBLE if guard_holds else Status.GUARD_VIOLATED)
    assert 0.0 <= result.runtime_s <= wall_s
    if method in ("random", "ga"):
        assert result.params["seed"] == 4
    if method == "ga":
        assert result.params["generations"] == 20
        assert result.params["population"] == 100
    if method in GREEDY:
        assert result.params["kernel"] == "lazy"


# -- hand-worked GOA (tests/hand.py: 2 users, 2 servers) ----------------------------------------


def test_goa_by_hand_tau_08():
    """tau = 0.8: user 1 (alpha 0.95) is forced to ES 1 (43.1 ms beats 47.6 ms at ES 0);
    then user 0 gains nothing: 24 ms at ES 0 (sinr 3 under interference) and 36 ms at ES 1
    exceed its 20 ms local delay, so it stays local."""
    for model in ("full", "none"):
        assert_array_equal(goa.solve(hand_instance(model), 0.8).assignment, [-1, 1])


def test_goa_by_hand_tau_06():
    """tau = 0.6: both forced; user 0 goes first (delta 0.7 x 2.4 ms at ES 0), then user 1 picks
    ES 1 (44 ms, sinr 14/2 = 7 with user 0's interference) over ES 0 shared (55 ms)."""
    assert_array_equal(goa.solve(hand_instance("full"), 0.6).assignment, [0, 1])
    trace = []
    inst = hand_instance("full")
    reference.reference_greedy(inst, inst.alpha, inst.forced(0.6), np.ones(2, bool), trace)
    assert [(step, i, j) for step, i, j, _ in trace] == [(1, 0, 0), (1, 1, 1)]
    t_comm = 8000 / (1e6 * math.log2(10.0))
    assert_allclose(trace[0][3], 0.7 * (t_comm + 0.02 - 0.02), rtol=1e-12)
    assert_allclose(trace[1][3], 0.95 * (12000 / 3e6 + 0.04 - 0.02), rtol=1e-12)


def test_dmin_by_hand():
    """d-min on the hand instance: no user gains from offloading, so all stay local
    (which violates the guard for user 1 at tau = 0.8: status guard_violated)."""
    result = goa.solve(hand_instance("full"), 0.8, "dmin")
    assert_array_equal(result.assignment, [-1, -1])
    assert result.status == Status.GUARD_VIOLATED


def test_alpha_zero_stops_step_two():
    """With every alpha = 0, every delta of step 2 is 0 (>= 0): GOA offloads nobody at tau = 1,
    and edge-all still places everyone (ties: lowest user, then lowest ES)."""
    inst = instances.generate(12, 3, seed=2)
    probs = np.zeros_like(inst.topk_probs)
    probs[:, 0] = 1.0
    inst = inst.replace(topk_probs=probs, alpha=np.zeros(12))
    assert_array_equal(goa.solve(inst, 1.0).assignment, np.full(12, -1))
    edge = goa.solve(inst, 1.0, "edge_all")
    assert edge.n_offloaded == 12
    assert_array_equal(edge.assignment, reference.reference_edge_all(inst))


# -- properties of the methods ------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 30), m=st.integers(1, 5), seed=st.integers(0, 10_000),
       tau=st.sampled_from([0.0, 0.5, 0.8, 0.95, 1.0]), model=st.sampled_from(["full", "none"]))
def test_guard_holds(n, m, seed, tau, model):
    """goa, edge_all, random and ga satisfy the accuracy guard; edge_all offloads everyone;
    local_all offloads nobody and is infeasible exactly when someone is forced."""
    inst = instances.generate(n, m, seed=seed, interference=model)
    for method in ("goa", "edge_all", "random", "ga"):
        options = {"generations": 5, "population": 10} if method == "ga" else {}
        result = goa.solve(inst, tau, method, seed=seed, **options)
        assert result.is_feasible() and result.status == Status.FEASIBLE, method
    assert goa.solve(inst, tau, "edge_all").n_offloaded == n
    local = goa.solve(inst, tau, "local_all")
    assert local.n_offloaded == 0
    assert local.is_feasible() == (not np.any(inst.alpha > tau))


def test_goa_forced_then_negative_deltas():
    """GOA places every forced user in step 1, and every step-2 placement has delta < 0."""
    for seed in range(30):
        inst = instances.generate(30, 3, seed=seed, interference=("full", "none")[seed % 2])
        trace = []
        reference.reference_greedy(inst, inst.alpha, inst.forced(0.8),
                                   np.ones(inst.n_users, bool), trace)
        steps = [step for step, *_ in trace]
        assert steps == sorted(steps)
        assert {i for step, i, *_ in trace if step == 1} == set(np.flatnonzero(inst.forced(0.8)))
        assert all(d < 0 for step, _, _, d in trace if step == 2)


def test_dmin_never_offloads_a_user_that_loses():
    """Every d-min placement had e_ij - t^L_i < 0 at assignment time; d-min ignores tau."""
    for seed in range(30):
        inst = instances.generate(30, 3, seed=seed, interference=("full", "none")[seed % 2])
        trace = []
        everyone = np.ones(inst.n_users, bool)
        assignment = reference.reference_greedy(inst, np.ones(inst.n_users), ~everyone,
                                                everyone, trace)
        assert all(step == 2 and d < 0 for step, _, _, d in trace)
        assert_array_equal(goa.solve(inst, 0.8, "dmin").assignment, assignment)
        assert_array_equal(goa.solve(inst, 0.3, "dmin").assignment, assignment)


def test_random_offloads_as_many_as_goa(inst40):
    """random offloads exactly as many users as GOA, forced users included."""
    for tau in (0.6, 0.8, 0.95):
        n_goa = goa.solve(inst40, tau).n_offloaded
        result = goa.solve(inst40, tau, "random", seed=1)
        assert result.n_offloaded == n_goa == result.info["n_offload"]
        assert np.all(result.assignment[inst40.forced(tau)] >= 0)


def test_random_seeded():
    """random: the same seed gives the same result; different seeds usually differ."""
    inst = instances.generate(60, 4, seed=3, area_m=2000.0)
    first = goa.solve(inst, 0.9, "random", seed=7)
    assert 0 < first.n_offloaded - int(inst.forced(0.9).sum()) < int((~inst.forced(0.9)).sum())
    assert_array_equal(goa.solve(inst, 0.9, "random", seed=7).assignment, first.assignment)
    others = {tuple(goa.solve(inst, 0.9, "random", seed=s).assignment) for s in range(8)}
    assert len(others) >= 6


def test_goa_is_deterministic(inst40):
    """GOA (and every greedy baseline) gives the same assignment on every call."""
    for method in GREEDY:
        first = goa.solve(inst40, 0.8, method)
        assert_array_equal(goa.solve(inst40, 0.8, method).assignment, first.assignment)


# -- bad arguments ------------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs, name", [
    ({"method": "greedy"}, "method"),
    ({"tau": -0.1}, "tau"),
    ({"tau": 1.5}, "tau"),
    ({"tau": "high"}, "tau"),
    ({"seed": -1}, "seed"),
    ({"seed": 1.5}, "seed"),
    ({"seed": True}, "seed"),
    ({"method": "goa", "population": 10}, "population"),
    ({"method": "local_all", "kernel": "lazy"}, "kernel"),
    ({"method": "goa", "kernel": "fast"}, "kernel"),
    ({"method": "ga", "population": 0}, "population"),
    ({"method": "ga", "population": 2.5}, "population"),
    ({"method": "ga", "generations": -1}, "generations"),
    ({"method": "ga", "mutation": 1.5}, "mutation"),
    ({"method": "ga", "mutation": float("nan")}, "mutation"),
    ({"method": "ga", "elites": 100}, "elites"),
    ({"method": "ga", "elites": -1}, "elites"),
    ({"method": "ga", "patience": 0}, "patience"),
    ({"method": "ga", "tournament": 0}, "tournament"),
    ({"method": "ga", "include_goa": "yes"}, "include_goa"),
    ({"method": "ga", "crossover": "uniform"}, "crossover"),
])
def test_bad_arguments(inst40, kwargs, name):
    """Each invalid argument raises a ValueError whose message starts with its name."""
    with pytest.raises(ValueError, match=f"^{name}:"):
        goa.solve(inst40, **kwargs)


def test_bad_instance():
    """An instance that is not an instances.Instance is rejected by name."""
    with pytest.raises(ValueError, match="^instance:"):
        goa.solve({"users": 3})
