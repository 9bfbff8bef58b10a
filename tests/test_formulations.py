"""formulations.solve: every exact backend against brute force, each other, the heuristics and
the clock; the numba kernels against the evaluator; argument checks."""

import functools
import itertools
import math
import resource
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal

import formulations
import instances
from formulations import search
from instances.result import Result, Status

NONE_BACKENDS = ("loadvec", "highs", "cbc", "scip", "cpsat", "bnb", "enumerate", "auto")
FULL_BACKENDS = ("bnb", "enumerate", "auto")  # loadbox proves no optimum: see test_bounds.py
MILP_BACKENDS = ("highs", "cbc", "scip", "cpsat")
RTOL = 1e-6

# (N, M, seed, tau): tiny drops, small enough for brute force over all (M + 1)^N assignments
TINY = [(4, 1, 0, 0.5), (5, 2, 1, 0.8), (6, 2, 2, 1.0), (6, 3, 3, 0.8), (7, 2, 4, 0.5),
        (7, 3, 5, 1.0)]


@functools.lru_cache(maxsize=None)
def tiny(n, m, seed, interference):
    """A tiny paper-preset drop (cached: brute force and every backend share it)."""
    return instances.generate(n, m, seed=seed, interference=interference)


@functools.lru_cache(maxsize=None)
def brute_force(n, m, seed, interference, tau):
    """The optimum by trying every assignment with the evaluator: (T in ms, assignments)."""
    inst = tiny(n, m, seed, interference)
    best, winners = math.inf, []
    for a in itertools.product(range(-1, m), repeat=n):
        ev = instances.evaluate(inst, a, tau)
        if not ev.feasible:
            continue
        if ev.total_delay_ms < best * (1 - 1e-12):
            best, winners = ev.total_delay_ms, [a]
        elif ev.total_delay_ms <= best * (1 + 1e-12):
            winners.append(a)
    return best, winners


def check_result(inst, result, tau):
    """The invariants of every exact Result: shape, feasibility, a status without error, and the
    backend's own objective equal to the evaluator's on the returned assignment."""
    assert isinstance(result, Result)
    assert result.method == "exact"
    assert result.tau == tau
    assert result.backend in formulations.BACKENDS and result.backend != "auto"
    assert result.is_feasible()
    assert result.status in (Status.OPTIMAL, Status.TIME_LIMIT, Status.WORK_LIMIT,
                             Status.UNKNOWN), \
        result.info.get("error")
    solver = result.info["solver_objective_ms"]
    assert solver is not None
    assert solver == pytest.approx(instances.evaluate(inst, result.assignment).total_delay_ms,
                                   rel=RTOL)
    if result.backend == "cbc" and result.status == Status.OPTIMAL:
        assert result.bound_ms is None  # CBC prints no bound with a proven optimum
    else:
        assert result.bound_ms is not None


# -- exact == brute force ------------------------------------------------------------------------


@pytest.mark.parametrize("case", TINY, ids=lambda c: "N{}_M{}_s{}_tau{}".format(*c))
@pytest.mark.parametrize("backend", NONE_BACKENDS)
def test_none_equals_brute_force(backend, case):
    """Interference "none": each backend's optimum equals brute force (and bound <= optimum)."""
    n, m, seed, tau = case
    inst = tiny(n, m, seed, "none")
    optimum, _ = brute_force(n, m, seed, "none", tau)
    result = formulations.solve(inst, tau=tau, backend=backend, time_limit=60)
    check_result(inst, result, tau)
    assert result.status == Status.OPTIMAL
    assert result.objective_ms == pytest.approx(optimum, rel=RTOL)
    if backend != "cbc":  # CBC prints no bound with a proven optimum (check_result)
        assert result.bound_ms <= optimum * (1 + 1e-12)


@pytest.mark.parametrize("case", TINY, ids=lambda c: "N{}_M{}_s{}_tau{}".format(*c))
def test_loads_milp_finish_equals_brute_force(case):
    """"loadvec" made to finish with the reduced MILP at once (max_load_vectors=0) still finds
    the brute-force optimum."""
    n, m, seed, tau = case
    inst = tiny(n, m, seed, "none")
    optimum, _ = brute_force(n, m, seed, "none", tau)
    result = formulations.solve(inst, tau=tau, backend="loadvec", max_load_vectors=0)
    check_result(inst, result, tau)
    assert result.status == Status.OPTIMAL
    assert result.objective_ms == pytest.approx(optimum, rel=RTOL)


@pytest.mark.parametrize("case", TINY, ids=lambda c: "N{}_M{}_s{}_tau{}".format(*c))
def test_lagrangian_fixing_keeps_every_optimum(case):
    """Reduced-cost fixing is valid for any multipliers: with random lambda and the threshold
    just above the optimum, every optimal assignment still fits the reduced model."""
    from formulations.data import interference_free_delays
    from formulations.loadvec import _Pricing
    from formulations.model import CountModel

    n, m, seed, tau = case
    inst = tiny(n, m, seed, "none")
    optimum, winners = brute_force(n, m, seed, "none", tau)
    data = interference_free_delays(inst, tau)
    pricing = _Pricing(data, data.table(int(data.load_max.max())))
    rng = np.random.default_rng(seed)
    for scale in (0.0, 0.5, 1.0, 2.0):
        lam = scale * data.local_s * rng.uniform(0.5, 1.5, n)
        model = CountModel(data, pricing.fixing(lam, optimum * 1e-3 * (1 + 1e-9)))
        for a in winners:
            assert model.fits(a)


@pytest.mark.parametrize("case", TINY, ids=lambda c: "N{}_M{}_s{}_tau{}".format(*c))
@pytest.mark.parametrize("backend", FULL_BACKENDS)
def test_full_equals_brute_force(backend, case):
    """Interference "full": B&B and enumeration find the brute-force optimum."""
    n, m, seed, tau = case
    inst = tiny(n, m, seed, "full")
    optimum, winners = brute_force(n, m, seed, "full", tau)
    result = formulations.solve(inst, tau=tau, backend=backend, time_limit=60)
    check_result(inst, result, tau)
    assert result.status == Status.OPTIMAL
    assert result.objective_ms == pytest.approx(optimum, rel=1e-12)
    assert tuple(result.assignment.tolist()) in winners


@pytest.mark.parametrize("case", TINY, ids=lambda c: "N{}_M{}_s{}_tau{}".format(*c))
def test_enumeration_picks_the_lexicographically_first_optimum(case):
    """Enumeration returns the first optimal assignment in lexicographic order (local first)."""
    n, m, seed, tau = case
    for model in ("none", "full"):
        inst = tiny(n, m, seed, model)
        _, winners = brute_force(n, m, seed, model, tau)
        result = formulations.solve(inst, tau=tau, backend="enumerate")
        assert tuple(result.assignment.tolist()) == min(winners)


# -- the backends agree ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def none20():
    """20 users, 4 servers, interference "none": too big for brute force, quick for every MILP."""
    return instances.generate(20, 4, seed=7, interference="none")


@pytest.fixture(scope="module")
def none20_optimum(none20):
    """The optimum of none20 at tau = 0.8 by the default backend (load vectors)."""
    return formulations.solve(none20, tau=0.8)


@pytest.fixture(scope="module")
def none20_milp_optimum(none20):
    """The optimum of none20 at tau = 0.8 by HiGHS on the MILP: an independent reference for
    the load-vector backend."""
    return formulations.solve(none20, tau=0.8, backend="highs")


@pytest.mark.parametrize("backend", ["loadvec", "highs", "cbc", "scip", "cpsat"])
def test_backends_agree_none(none20, none20_optimum, none20_milp_optimum, backend):
    """Every "none" backend proves the same optimum on a 20-user drop (to 1e-6 relative) as a
    different method: the MILP on HiGHS for "loadvec", the load vectors for the MILPs.
    (B&B is left out: under "none" many assignments lie within 0.1 % of each other and its
    bound cannot separate them beyond about 16 users.)"""
    reference = none20_milp_optimum if backend == "loadvec" else none20_optimum
    assert reference.status == Status.OPTIMAL
    result = formulations.solve(none20, tau=0.8, backend=backend, time_limit=60)
    check_result(none20, result, 0.8)
    assert result.status == Status.OPTIMAL
    assert result.objective_ms == pytest.approx(reference.objective_ms, rel=RTOL)
    if backend != "cbc":  # CBC prints no bound with a proven optimum (check_result)
        assert result.bound_ms <= reference.objective_ms * (1 + RTOL)


@pytest.mark.parametrize("tau", [0.5, 1.0])
def test_backends_agree_full(tau):
    """B&B and enumeration agree on a 9-user "full" drop (4^9 assignments)."""
    inst = instances.generate(9, 3, seed=3, interference="full")
    bnb = formulations.solve(inst, tau=tau, backend="bnb")
    enum = formulations.solve(inst, tau=tau, backend="enumerate")
    assert bnb.status == enum.status == Status.OPTIMAL
    assert bnb.objective_ms == pytest.approx(enum.objective_ms, rel=1e-12)


@pytest.mark.parametrize("backend", MILP_BACKENDS)
def test_vub_rows_keep_the_optimum(backend):
    """The optional rows z <= y (vub=True) leave the optimum unchanged."""
    inst = instances.generate(12, 3, seed=7, interference="none")
    plain = formulations.solve(inst, tau=0.8, backend=backend)
    tight = formulations.solve(inst, tau=0.8, backend=backend, vub=True)
    assert tight.status == Status.OPTIMAL and tight.params["vub"] is True
    assert tight.objective_ms == pytest.approx(plain.objective_ms, rel=RTOL)


def test_cpsat_bound_is_valid_after_scaling(none20, none20_optimum):
    """CP-SAT works on floored integer costs: its bound stays below the true optimum, and a
    coarse resolution (1 us) still gives an optimum within (2N + 1) units of the true one."""
    result = formulations.solve(none20, tau=0.8, backend="cpsat", resolution_s=1e-6)
    assert result.bound_ms <= none20_optimum.objective_ms
    assert result.objective_ms <= none20_optimum.objective_ms + (2 * 20 + 1) * 1e-3


# -- exact <= heuristics --------------------------------------------------------------------------


@pytest.mark.parametrize("model", ["none", "full"])
@pytest.mark.parametrize("tau", [0.5, 0.8, 1.0])
def test_exact_not_worse_than_any_heuristic(model, tau):
    """The optimum is at most every heuristic's total delay when the heuristic keeps the guard
    (local-all and d-min may break it and are then not comparable)."""
    import goa

    inst = instances.generate(12, 3, seed=21, interference=model)
    exact = formulations.solve(inst, tau=tau)
    assert exact.status == Status.OPTIMAL
    compared = 0
    for method in [m for m in goa.METHODS if m not in goa.ACCURACY_METHODS]:
        heuristic = goa.solve(inst, tau=tau, method=method, seed=0)
        if heuristic.is_feasible():
            assert exact.objective_ms <= heuristic.objective_ms * (1 + 1e-12), method
            compared += 1
    assert compared >= 3


@settings(max_examples=15, deadline=None)
@given(n=st.integers(1, 6), m=st.integers(1, 3), seed=st.integers(0, 10_000),
       tau=st.sampled_from([0.0, 0.5, 0.8, 1.0]), model=st.sampled_from(["none", "full"]))
def test_property_auto_is_optimal(n, m, seed, tau, model):
    """On random tiny drops, "auto" proves the brute-force optimum and keeps the guard."""
    inst = tiny(n, m, seed, model)
    optimum, _ = brute_force(n, m, seed, model, tau)
    result = formulations.solve(inst, tau=tau)
    assert result.status == Status.OPTIMAL and result.is_feasible()
    assert result.objective_ms == pytest.approx(optimum, rel=RTOL)


# -- warm starts -----------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["loadvec", "highs", "cbc", "scip", "cpsat", "bnb"])
def test_warm_start_vector_and_auto(none20, none20_milp_optimum, backend):
    """A given warm start (everyone on server 0) and "auto" both reach the optimum (from HiGHS;
    for B&B, from enumeration of a 9-user "full" drop); params record the warm start's
    source."""
    inst, optimum = none20, none20_milp_optimum.objective_ms
    if backend == "bnb":
        inst = instances.generate(9, 4, seed=1, interference="full")
        optimum = formulations.solve(inst, tau=0.8, backend="enumerate").objective_ms
    for warm, source in ((np.zeros(inst.n_users, dtype=np.int64), "given"), ("auto", None)):
        result = formulations.solve(inst, tau=0.8, backend=backend, warm_start=warm)
        assert result.status == Status.OPTIMAL
        assert result.objective_ms == pytest.approx(optimum, rel=RTOL)
        if source:
            assert result.params["warm_start"] == source
        else:
            assert result.params["warm_start"] in ("goa", "goa_ls")


# -- the clock -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def none200():
    """200 users, 4 servers, interference "none": no backend proves it within 1 s."""
    return instances.generate(200, 4, seed=1, interference="none")


def _cpu_s() -> float:
    """CPU seconds of this process and its waited-for children (CBC runs as one): unlike the
    wall clock, it does not grow when other jobs share the machine."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


@pytest.mark.parametrize("backend", ["loadvec", "highs", "cbc", "scip", "cpsat", "bnb"])
def test_time_limit_none(none200, backend):
    """A 1 s limit on a 200-user drop: TIME_LIMIT and a feasible assignment, and the solve
    (model building included; a first warm-up solve loads the solver) spends less than 2 s of
    CPU. A backend that ignored its limit would spend more; CPU time rather than wall time, so
    that a busy machine cannot fail the test (a limit hit on a busy machine costs less CPU)."""
    formulations.solve(tiny(5, 2, 1, "none"), tau=0.8, backend=backend, time_limit=1.0)
    started = _cpu_s()
    result = formulations.solve(none200, tau=0.8, backend=backend, time_limit=1.0)
    assert _cpu_s() - started < 2.0
    assert result.status == Status.TIME_LIMIT
    assert result.is_feasible()


def test_time_limit_full_bnb():
    """B&B on a 60-user "full" drop stops at 1 s with its incumbent and an open-node bound,
    having spent less than 1.5 s of CPU (CPU time: see test_time_limit_none)."""
    inst = instances.generate(60, 4, seed=0, interference="full")
    formulations.solve(tiny(5, 2, 1, "full"), tau=0.8, backend="bnb")  # compile / load kernels
    started = _cpu_s()
    result = formulations.solve(inst, tau=0.8, backend="bnb", time_limit=1.0)
    assert _cpu_s() - started < 1.5
    check_result(inst, result, 0.8)
    assert result.status == Status.TIME_LIMIT
    assert result.info["nodes"] > 0


def test_work_limit_enumeration():
    """Enumeration of 5^13 assignments stopped after 3 chunks of its fixed order: WORK_LIMIT,
    a feasible plan no better than the complete search's optimum would allow, and the same plan
    and bound every time (the budget, not the clock, stops it)."""
    inst = instances.generate(13, 4, seed=0, interference="full")
    runs = [formulations.solve(inst, tau=1.0, backend="enumerate", max_chunks=3)
            for _ in range(2)]
    for result in runs:
        check_result(inst, result, 1.0)
        assert result.status == Status.WORK_LIMIT
        assert result.info["chunks_done"] == 3 < result.info["chunks"]
    np.testing.assert_array_equal(runs[0].assignment, runs[1].assignment)
    assert runs[0].bound_ms == runs[1].bound_ms


@pytest.mark.parametrize("model,backend", [("full", "bnb"), ("none", "loadvec")])
def test_bound_at_time_limit_is_valid(model, backend):
    """Stopped early, the bound returned is at most the optimum proven by a full run."""
    inst = instances.generate(24, 4, seed=2, interference=model)
    optimum = formulations.solve(inst, tau=0.8, backend=backend, time_limit=60)
    assert optimum.status == Status.OPTIMAL
    for limit in (0.002, 0.02):
        early = formulations.solve(inst, tau=0.8, backend=backend, time_limit=limit)
        assert early.is_feasible()
        assert early.bound_ms <= optimum.objective_ms * (1 + 1e-12)
        assert early.objective_ms >= optimum.objective_ms * (1 - 1e-12)


# -- determinism -----------------------------------------------------------------------------------


def test_enumeration_is_independent_of_threads():
    """Enumeration gives the same assignment on 1 thread as on all threads (fixed chunks,
    merged in order)."""
    import numba

    inst = instances.generate(8, 3, seed=9, interference="full")
    threads = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = formulations.solve(inst, tau=1.0, backend="enumerate")
    finally:
        numba.set_num_threads(threads)
    many = formulations.solve(inst, tau=1.0, backend="enumerate")
    assert_array_equal(one.assignment, many.assignment)
    assert one.objective_ms == many.objective_ms


@pytest.mark.parametrize("backend", ["bnb", "loadvec", "highs", "cpsat"])
def test_same_instance_same_answer(none20, backend):
    """Solving twice gives the same assignment (B&B on a 16-user "full" drop)."""
    inst = instances.generate(16, 4, seed=3, interference="full") if backend == "bnb" else none20
    first = formulations.solve(inst, tau=0.8, backend=backend)
    second = formulations.solve(inst, tau=0.8, backend=backend)
    assert_array_equal(first.assignment, second.assignment)


# -- the kernels and their readable twin, the evaluator ------------------------------------------


@pytest.mark.parametrize("model", ["none", "full"])
def test_kernel_total_delay_matches_evaluator(model):
    """kernels.total_delay agrees with instances.evaluate on random assignments."""
    rng = np.random.default_rng(5)
    for seed in range(5):
        inst = instances.generate(int(rng.integers(1, 30)), int(rng.integers(1, 6)), seed=seed,
                                  interference=model)
        arrays = search.kernel_arrays(inst, 1.0)
        for _ in range(20):
            a = rng.integers(-1, inst.n_servers, inst.n_users)
            assert search.total_delay_s(arrays, a) * 1e3 == pytest.approx(
                instances.evaluate(inst, a).total_delay_ms, rel=1e-12)


def test_interference_free_delays_matches_evaluator():
    """The MILP's delay constants f_ij(n) reproduce the evaluator on random assignments."""
    from formulations.data import interference_free_delays

    rng = np.random.default_rng(6)
    inst = instances.generate(25, 3, seed=4, interference="none")
    data = interference_free_delays(inst, 1.0)
    for _ in range(20):
        a = rng.integers(-1, 3, 25)
        assert data.cost(a) * 1e3 == pytest.approx(instances.evaluate(inst, a).total_delay_ms,
                                                   rel=1e-12)


def test_none_reductions_keep_the_optimum():
    """In the optimum, no free user sits on a server where it is slower than at home and no
    server exceeds Nmax_j: the reductions of formulations.data cut off no optimum."""
    from formulations.data import interference_free_delays

    for n, m, seed, tau in TINY:
        inst = tiny(n, m, seed, "none")
        data = interference_free_delays(inst, tau)
        for a in brute_force(n, m, seed, "none", tau)[1]:
            a = np.array(a)
            loads = np.bincount(a[a >= 0], minlength=m)
            assert np.all(loads <= data.load_max)
            off = np.flatnonzero(a >= 0)
            assert np.all(data.nmax[off, a[off]] >= loads[a[off]])


def test_model_encodes_assignments():
    """The count-indexed model's column values round-trip an assignment, satisfy every row,
    and its objective equals the delay."""
    from formulations.data import interference_free_delays
    from formulations.model import CountModel

    inst = instances.generate(10, 3, seed=8, interference="none")
    data = interference_free_delays(inst, 1.0)
    model = CountModel(data)
    a = data.repair(np.array([0, 0, 1, -1, 2, 2, 2, -1, 1, 0]))
    assert model.fits(a)
    values = model.values(a)
    assert_array_equal(model.assignment(values), a)
    starts, cols, coefs, lo, hi = model.csr()
    rows = np.add.reduceat(coefs * values[cols], starts[:-1])
    assert np.all(rows >= lo - 1e-9) and np.all(rows <= hi + 1e-9)
    assert_allclose(model.cost_ms @ values + model.offset_ms,
                    instances.evaluate(inst, a).total_delay_ms, rtol=1e-12)


# -- the API and its argument checks -------------------------------------------------------------


def test_public_api():
    """formulations exports solve, BACKENDS (a tuple with "auto") and auto_backend."""
    assert isinstance(formulations.BACKENDS, tuple) and "auto" in formulations.BACKENDS
    assert set(formulations.__all__) == {"solve", "BACKENDS", "auto_backend"}
    assert formulations.auto_backend(tiny(4, 1, 0, "full")) == "bnb"
    assert formulations.auto_backend(instances.generate(30, 4, seed=0)) == "loadbox"
    assert formulations.auto_backend(tiny(4, 1, 0, "none")) == "loadvec"


@pytest.mark.parametrize("kwargs,name", [
    ({"tau": -0.1}, "tau"), ({"tau": 1.5}, "tau"), ({"tau": "x"}, "tau"),
    ({"time_limit": -1.0}, "time_limit"), ({"time_limit": 0}, "time_limit"),
    ({"time_limit": "10"}, "time_limit"), ({"time_limit": True}, "time_limit"),
    ({"time_limit": math.nan}, "time_limit"),
    ({"backend": "gurobi"}, "backend"), ({"backend": 3}, "backend"),
    ({"warm_start": [0, 0]}, "warm_start"), ({"warm_start": "goa"}, "warm_start"),
    ({"warm_start": [-1, -1, -1, -1, -1, -1]}, "warm_start"),
    ({"warm_start": [0, 0, 0, 0, 0, 7]}, "warm_start"),
    ({"backend": "highs", "gap_tol": 0.1}, "gap_tol"),
    ({"backend": "highs", "threads": 0}, "threads"),
    ({"backend": "cbc", "mip_gap": 2.0}, "mip_gap"),
    ({"backend": "cpsat", "resolution_s": 0.0}, "resolution_s"),
    ({"backend": "enumerate", "max_assignments": -5}, "max_assignments"),
    ({"backend": "loadvec", "max_load_vectors": 1.5}, "max_load_vectors"),
    ({"backend": "highs", "vub": 1}, "vub"),
    ({"backend": "bnb", "threads": 2}, "threads"),
    ({"backend": "bnb", "max_nodes": 0}, "max_nodes"),
    ({"backend": "loadbox", "max_boxes": -1}, "max_boxes"),
    ({"backend": "loadbox", "target_gap": 1.5}, "target_gap"),
    ({"backend": "highs", "target_gap": 0.01}, "target_gap"),
])
def test_bad_arguments(kwargs, name):
    """Each bad argument raises a ValueError that names it."""
    model = "full" if kwargs.get("backend") == "loadbox" else "none"
    inst = instances.generate(6, 2, seed=0, interference=model)
    assert inst.forced(0.8).any()  # so that the all-local warm start breaks the guard
    with pytest.raises(ValueError, match=name):
        formulations.solve(inst, **kwargs)


def test_bad_instance():
    """A non-instance raises a ValueError naming "instance"."""
    with pytest.raises(ValueError, match="instance"):
        formulations.solve({"n_users": 3})


@pytest.mark.parametrize("backend", MILP_BACKENDS + ("loadvec",))
def test_none_only_backends_refuse_full_interference(backend):
    """MILP and load-vector backends need interference "none": a clear error otherwise."""
    with pytest.raises(ValueError, match="backend.*interference 'none'"):
        formulations.solve(tiny(4, 1, 0, "full"), backend=backend)


def test_loadbox_refuses_no_interference():
    """The load-vector boxes bound the interference: they refuse interference "none"."""
    with pytest.raises(ValueError, match="backend.*interference 'full'"):
        formulations.solve(tiny(4, 1, 0, "none"), backend="loadbox")


def test_model_values_refuse_a_missing_column():
    """CountModel.values raises (naming the assignment) for an assignment the reduced model
    cannot encode, instead of writing another column."""
    from formulations.data import interference_free_delays
    from formulations.model import CountModel

    inst = instances.generate(40, 1, seed=8, interference="none")
    data = interference_free_delays(inst, 1.0)
    model = CountModel(data)
    # all 40 users on the one server, which may hold at most Nmax_0 < 40 in an optimum
    assert data.load_max[0] < 40
    slow = np.zeros(40, dtype=np.int64)
    assert not model.fits(slow)
    with pytest.raises(ValueError, match="assignment: outside the model"):
        model.values(slow)


def test_import_is_light():
    """``import formulations`` loads neither numba, scipy nor a MILP solver."""
    import subprocess
    import sys

    code = ("import sys, formulations; heavy = [m for m in ('numba', 'scipy', 'highspy', "
            "'ortools', 'pulp') if m in sys.modules]; print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == ""


def test_enumeration_refuses_a_huge_instance():
    """Enumeration refuses more than max_assignments assignments, naming the instance."""
    inst = instances.generate(40, 4, seed=0, interference="full")
    with pytest.raises(ValueError, match="instance: too large"):
        formulations.solve(inst, backend="enumerate")
    with pytest.raises(ValueError, match="instance: too large"):
        formulations.solve(tiny(7, 3, 5, "full"), backend="enumerate", max_assignments=100)
