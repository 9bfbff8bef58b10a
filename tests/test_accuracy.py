"""Expected accuracy (calibration, files, evaluator) and problem (P_A) (docs/model.md 8.1-8.2)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import numpy.testing as npt
import pytest

import instances
from instances import InstanceError, calibration
from instances.instance import ARRAY_FIELDS
from instances.profiles import SYNTHETIC_DEFAULTS, synthetic_queries

DATA = Path(__file__).parent / "data"


# --- calibration and files -----------------------------------------------------------------------


def test_generated_fields_unchanged_by_version_2():
    """A version-1 file written by the older generator (N = 6, M = 2, seed 11, "none") equals a
    fresh generate() in every field, bit for bit; only the two probabilities are new."""
    old = instances.load(DATA / "paper_N6_M2_none_seed11.json")
    new = instances.generate(6, 2, seed=11, interference="none")
    for name in ARRAY_FIELDS:
        npt.assert_array_equal(getattr(new, name), getattr(old, name), err_msg=name)
    assert old.p_slm_correct is None and old.p_llm_correct is None
    assert new.p_slm_correct.shape == (6,) and new.p_llm_correct.shape == (6,)


def test_same_seed_same_probabilities():
    """The same seed gives the same probabilities bit for bit (the calibration is cached or not)."""
    a = instances.generate(20, seed=5)
    calibration._synthetic.cache_clear()
    b = instances.generate(20, seed=5)
    npt.assert_array_equal(a.p_slm_correct, b.p_slm_correct)
    npt.assert_array_equal(a.p_llm_correct, b.p_llm_correct)


def test_version_1_file_loads_and_expected_accuracy_needs_version_2():
    """A version-1 file loads with both fields None; evaluate reports no expected accuracy, and
    asking for the probabilities names the version and how to regenerate."""
    old = instances.load(DATA / "paper_N6_M2_none_seed11.json")
    assert instances.evaluate(old, np.full(6, -1)).expected_accuracy_pct is None
    with pytest.raises(InstanceError, match="format-version-1.*regenerate"):
        old.correct_probabilities()


def test_version_2_round_trip(tmp_path):
    """save() writes the current version (2 or later) with both fields; load() gives them back
    bit for bit."""
    inst = instances.generate(7, 3, seed=2)
    path = instances.save(inst, tmp_path / "x.json")
    doc = json.loads(path.read_text())
    assert doc["version"] == instances.FORMAT_VERSION >= 2 and "p_llm_correct" in doc["users"]
    back = instances.load(path)
    npt.assert_array_equal(back.p_slm_correct, inst.p_slm_correct)
    npt.assert_array_equal(back.p_llm_correct, inst.p_llm_correct)


@pytest.mark.parametrize("change, message", [
    (lambda d: d["users"].pop("p_llm_correct"), "p_llm_correct: missing"),
    (lambda d: d["users"]["p_slm_correct"].__setitem__(0, 1.5), "p_slm_correct.*\\[0, 1\\]"),
    (lambda d: d["users"]["p_slm_correct"].pop(), "p_slm_correct: shape"),
])
def test_bad_probabilities_rejected(change, message):
    """A version-2 document with one field missing, out of [0, 1] or of the wrong length is
    rejected with the field named."""
    doc = instances.io.to_dict(instances.generate(4, 2, seed=1))
    change(doc)
    with pytest.raises(InstanceError, match=message):
        instances.io.from_dict(doc)


def test_calibration_out_of_sample():
    """On 20,000 fresh queries (not the calibration sample) the maps are calibrated: ECE below
    0.02 for both models; a map shifted by 0.15 fails the same check (the test can fail)."""
    params = dict(SYNTHETIC_DEFAULTS)
    cal = calibration.synthetic_calibration(params)
    fresh = synthetic_queries(20_000, np.random.default_rng(123), params)
    p_slm, p_llm = cal.predict(fresh.alpha)
    assert calibration.expected_calibration_error(p_slm, fresh.slm_correct) < 0.02
    assert calibration.expected_calibration_error(p_llm, fresh.llm_correct) < 0.02
    shifted = np.clip(p_slm + 0.15, 0.0, 1.0)
    assert calibration.expected_calibration_error(shifted, fresh.slm_correct) > 0.1
    # the maps are non-increasing in alpha and informative (not a constant)
    grid = np.linspace(0.0, 1.0, 101)
    for model in (cal.slm, cal.llm):
        assert np.all(np.diff(model(grid)) <= 0.0)
        assert model(grid)[0] - model(grid)[-1] > 0.2


def test_trace_cross_fitting_never_uses_own_outcome():
    """A trace record's probability does not change when its own correctness is flipped (it is
    predicted by the map fitted on the other fold), but does when a record of the other fold is."""
    trace = instances.load_trace(instances.EXAMPLE_TRACE)
    alpha = 1.0 - (trace.topk_probs[:, 0] - trace.topk_probs[:, 1])
    base, _ = calibration.trace_probabilities(alpha, trace.slm_correct, trace.llm_correct)
    moved = 0
    for r in range(len(trace)):
        flipped = trace.slm_correct.copy()
        flipped[r] = 1.0 - flipped[r]
        p, _ = calibration.trace_probabilities(alpha, flipped, trace.llm_correct)
        assert p[r] == base[r]
        moved += int(np.any(p != base))
    assert moved > 0
    inst = instances.generate(30, seed=3, profile=instances.EXAMPLE_TRACE)
    assert inst.has_expected_accuracy


def test_reliability_by_hand():
    """Three events in 10 bins: counts, mean predictions, frequencies and ECE by hand."""
    p = np.array([0.05, 0.15, 0.95, 1.0])
    outcome = np.array([0.0, 1.0, 1.0, 0.0])
    edges, mean_p, observed, counts = calibration.reliability(p, outcome, bins=10)
    npt.assert_allclose(edges, np.linspace(0, 1, 11))
    npt.assert_array_equal(counts, [1, 1, 0, 0, 0, 0, 0, 0, 0, 2])
    npt.assert_allclose(mean_p[[0, 1, 9]], [0.05, 0.15, 0.975])
    npt.assert_allclose(observed[[0, 1, 9]], [0.0, 1.0, 0.5])
    assert np.isnan(mean_p[2]) and np.isnan(observed[2])
    ece = calibration.expected_calibration_error(p, outcome, bins=10)
    npt.assert_allclose(ece, (0.05 + 0.85 + 2 * 0.475) / 4)
    with pytest.raises(ValueError, match="bins"):
        calibration.reliability(p, outcome, bins=0)
    with pytest.raises(ValueError, match="p: values"):
        calibration.reliability(p + 0.5, outcome)


def test_evaluate_expected_accuracy():
    """evaluate's expected accuracy is the mean of p_llm over offloaded and p_slm over local
    users, in percent, next to the realized accuracy."""
    inst = instances.generate(9, 3, seed=4)
    a = np.array([-1, 0, 1, -1, 2, -1, -1, 0, 2])
    ev = instances.evaluate(inst, a)
    want = np.where(a >= 0, inst.p_llm_correct, inst.p_slm_correct).mean() * 100
    npt.assert_allclose(ev.expected_accuracy_pct, want, rtol=1e-15)
    npt.assert_allclose(ev.accuracy_pct,
                        np.where(a >= 0, inst.llm_correct, inst.slm_correct).mean() * 100)


# --- problem (P_A): the accuracy-aware greedy ---------------------------------------------------

import goa  # noqa: E402
from goa.accuracy import accuracy_start, batch_total_delay_s  # noqa: E402
from instances.calibration import max_expected_accuracy_pct  # noqa: E402


@pytest.mark.parametrize("interference", ["full", "none"])
def test_batch_total_delay_agrees_with_evaluate(interference):
    """The greedy's vectorised T(a) equals the evaluator's on 50 random assignments (N = 30)."""
    inst = instances.generate(30, 4, seed=8, interference=interference)
    rows = np.random.default_rng(1).integers(-1, 4, (50, 30))
    want = [instances.evaluate(inst, a).total_delay_ms / 1e3 for a in rows]
    npt.assert_allclose(batch_total_delay_s(inst, rows), want, rtol=1e-13)


@pytest.mark.parametrize("interference", ["full", "none"])
@pytest.mark.parametrize("tau", [None, 0.8])
def test_acc_greedy_feasible_and_deterministic(interference, tau):
    """acc_greedy reaches every A_min from 0 % to the best reachable one, keeps the guard, and a
    second run gives the same plan; its start (accuracy_start) is feasible too."""
    inst = instances.generate(25, 4, seed=3, interference=interference)
    top = max_expected_accuracy_pct(inst, tau)
    for target in np.linspace(0.0, top, 7):
        result = goa.solve(inst, tau=tau, method="acc_greedy", min_accuracy=target)
        assert result.status == goa.Status.FEASIBLE
        assert result.evaluation.expected_accuracy_pct >= target - 1e-9
        assert result.is_feasible()
        again = goa.solve(inst, tau=tau, method="acc_greedy", min_accuracy=target)
        npt.assert_array_equal(result.assignment, again.assignment)
        start = instances.evaluate(inst, accuracy_start(inst, tau, target), tau=tau or 1.0)
        assert start.feasible and start.expected_accuracy_pct >= target - 1e-9
        assert result.objective_ms <= start.total_delay_ms * (1 + 1e-12)


@pytest.mark.parametrize("interference", ["full", "none"])
@pytest.mark.parametrize("tau", [None, 0.8])
def test_goa_ls_with_min_accuracy(interference, tau):
    """goa_ls with min_accuracy keeps the guard and the expected accuracy, is never worse than
    acc_greedy (its start), reports its start, and a second run (same seed) gives the same plan;
    a slow edge (C^max = 3e14 FLOP/s) makes accuracy cost delay."""
    inst = instances.generate(25, 4, seed=5, interference=interference, server_cap_flops=3e14)
    top = max_expected_accuracy_pct(inst, tau)
    for target in np.linspace(0.0, top, 5):
        start = goa.solve(inst, tau=tau, method="acc_greedy", min_accuracy=target)
        result = goa.solve(inst, tau=tau, method="goa_ls", min_accuracy=target, seed=1)
        assert result.status == goa.Status.FEASIBLE
        assert result.is_feasible()
        assert result.evaluation.expected_accuracy_pct >= target - 1e-9
        assert result.objective_ms <= start.objective_ms * (1 + 1e-12)
        assert result.info["start"] == "acc_greedy"
        again = goa.solve(inst, tau=tau, method="goa_ls", min_accuracy=target, seed=1)
        npt.assert_array_equal(result.assignment, again.assignment)


def test_min_accuracy_errors():
    """Unreachable or out-of-range A_min, min_accuracy for a (P) method, acc_greedy without it,
    tau=None for GOA, and a version-1 instance each raise a ValueError naming the field."""
    inst = instances.generate(10, 2, seed=1)
    top = max_expected_accuracy_pct(inst)
    with pytest.raises(ValueError, match="min_accuracy.*unreachable"):
        goa.solve(inst, tau=None, method="acc_greedy", min_accuracy=top + 0.01)
    with pytest.raises(ValueError, match="min_accuracy.*unreachable.*guard"):
        goa.solve(inst, tau=0.0, method="acc_greedy",
                  min_accuracy=max_expected_accuracy_pct(inst, 0.0) + 0.01)
    for bad in (-1, 100.5, "x", True):
        with pytest.raises(ValueError, match="min_accuracy"):
            goa.solve(inst, tau=None, method="acc_greedy", min_accuracy=bad)
    with pytest.raises(ValueError, match="min_accuracy.*'goa'"):
        goa.solve(inst, tau=0.8, method="goa", min_accuracy=50)
    with pytest.raises(ValueError, match="min_accuracy.*needs"):
        goa.solve(inst, tau=0.8, method="acc_greedy")
    with pytest.raises(ValueError, match="tau"):
        goa.solve(inst, tau=None, method="dmin")
    old = instances.load(DATA / "paper_N6_M2_none_seed11.json")
    with pytest.raises(ValueError, match="format-version-1"):
        goa.solve(old, tau=None, method="acc_greedy", min_accuracy=40)


# --- problem (P_A): exact methods against brute force ----------------------------------------------

import itertools  # noqa: E402

import formulations  # noqa: E402
from formulations.front import exact_front  # noqa: E402
from formulations.result import BOUND_RTOL, BOUND_RTOL_DEFAULT  # noqa: E402
from formulations.subsets import MAX_SUBSET_USERS  # noqa: E402


def _brute_force(inst, tau):
    """(expected accuracy %, T ms) of every assignment that keeps the guard (tau None: none)."""
    rows = []
    for a in itertools.product(range(-1, inst.n_servers), repeat=inst.n_users):
        ev = instances.evaluate(inst, np.array(a), tau=1.0 if tau is None else tau)
        if ev.feasible:
            rows.append((ev.expected_accuracy_pct, ev.total_delay_ms))
    return np.array(rows)


def _staircase(points):
    """The exact front's corners from brute-force points: (accuracy, least T at >= accuracy)."""
    order = np.lexsort((points[:, 1], -points[:, 0]))
    corners, best = [], np.inf
    for acc, t in points[order]:
        if t < best:
            if corners and corners[-1][0] <= acc + 1e-9:  # equal accuracy up to rounding
                corners.pop()
            corners.append((acc, t))
            best = t
    return np.array(corners[::-1])


@pytest.mark.parametrize("interference", ["full", "none"])
@pytest.mark.parametrize("tau", [None, 0.5])
def test_exact_accuracy_equals_brute_force(interference, tau):
    """On N = 6, M = 2 drops with a slow edge (C^max = 3e14 FLOP/s, so that the front has many
    corners), every exact backend's (P_A) optimum equals brute force at every corner of the front
    and between corners, and exact_front gives exactly the brute-force staircase (both
    interference models, with and without the guard)."""
    backends = ["subsets"] + (["highs"] if interference == "none" else [])
    checked = 0
    for seed in (3, 4):
        inst = instances.generate(6, 2, seed=seed, interference=interference,
                                  server_cap_flops=3e14)
        points = _brute_force(inst, tau)
        corners = _staircase(points)
        front = exact_front(inst, tau=tau)
        assert front.complete
        npt.assert_allclose(front.accuracy_pct, corners[:, 0], rtol=1e-12)
        npt.assert_allclose(front.objective_ms, corners[:, 1], rtol=1e-12)
        levels = np.concatenate([corners[:, 0], (corners[1:, 0] + corners[:-1, 0]) / 2, [0.0]])
        for level in levels:
            feasible = points[points[:, 0] >= level - 1e-9]
            want = feasible[:, 1].min()
            for backend in backends:
                result = formulations.solve(inst, tau=tau, min_accuracy=level, backend=backend)
                assert result.status == instances.Status.OPTIMAL, result.info
                npt.assert_allclose(result.objective_ms, want, rtol=1e-9)
                assert result.evaluation.expected_accuracy_pct >= level - 1e-9
                # the bound against the brute-force optimum (no clamp makes this true)
                slack = BOUND_RTOL.get(backend, BOUND_RTOL_DEFAULT)
                assert result.bound_ms <= want * (1 + slack), (backend, level)
                checked += 1
            npt.assert_allclose(front.delay_at(level), want, rtol=1e-12)
    assert checked >= 8


@pytest.mark.parametrize("interference", ["full", "none"])
def test_no_heuristic_below_the_exact_front(interference):
    """Every plan of acc_greedy and goa_ls (at several A_min) and of GOA's tau-sweep lies on or above the
    exact front: its T is at least F(its expected accuracy); acc_greedy is never below the
    exact (P_A) optimum at its own A_min (N = 10, a slow edge: C^max = 3e14 FLOP/s)."""
    inst = instances.generate(10, 4, seed=6, interference=interference, server_cap_flops=3e14)
    front = exact_front(inst)
    top = max_expected_accuracy_pct(inst)
    plans = [goa.solve(inst, tau=tau, method="goa") for tau in np.linspace(0, 1, 11)]
    for level in np.linspace(front.accuracy_pct[0] - 2, top, 6):
        greedy = goa.solve(inst, tau=None, method="acc_greedy", min_accuracy=level)
        local = goa.solve(inst, tau=None, method="goa_ls", min_accuracy=level)
        plans += [greedy, local]
        exact = formulations.solve(inst, tau=None, min_accuracy=level)
        assert exact.status == instances.Status.OPTIMAL
        assert greedy.objective_ms >= exact.objective_ms * (1 - 1e-12)
        assert local.objective_ms >= exact.objective_ms * (1 - 1e-12)
    for plan in plans:
        floor = front.delay_at(plan.evaluation.expected_accuracy_pct)[0]
        assert plan.objective_ms >= floor * (1 - 1e-12)


def test_exact_accuracy_errors():
    """tau=None without min_accuracy, a (P) backend with min_accuracy, 'highs' under "full",
    the subset search beyond its size, and an unreachable A_min each raise a ValueError."""
    inst = instances.generate(8, 2, seed=1)
    with pytest.raises(ValueError, match="tau.*min_accuracy"):
        formulations.solve(inst, tau=None)
    with pytest.raises(ValueError, match="backend.*min_accuracy"):
        formulations.solve(inst, tau=None, min_accuracy=40, backend="bnb")
    with pytest.raises(ValueError, match="backend.*'none'"):
        formulations.solve(inst, tau=None, min_accuracy=40, backend="highs")
    with pytest.raises(ValueError, match="min_accuracy.*unreachable"):
        formulations.solve(inst, tau=None, min_accuracy=max_expected_accuracy_pct(inst) + 0.1)
    big = instances.generate(MAX_SUBSET_USERS + 1, 2, seed=1)
    with pytest.raises(ValueError, match="too large"):
        formulations.solve(big, tau=None, min_accuracy=40, backend="subsets")
    with pytest.raises(ValueError, match="too large"):
        exact_front(big)


# --- the supported front (interference "none") ---------------------------------------------------

from formulations.front import front_at, supported_front  # noqa: E402


def _lower_hull(corners):
    """The vertices of the lower convex hull of the staircase corners (increasing accuracy),
    collinear points dropped: the points a weighted sum T - mu A (mu >= 0) can single out."""
    hull = []
    for p in corners:
        while len(hull) >= 2:
            (x1, y1), (x2, y2) = hull[-2], hull[-1]
            # drop the middle point unless it lies strictly below the chord
            if (x2 - x1) * (p[1] - y1) - (y2 - y1) * (p[0] - x1) <= 1e-9 * abs(y1) * (p[0] - x1):
                hull.pop()
            else:
                break
        hull.append(p)
    return np.array(hull)


@pytest.mark.parametrize("tau", [None, 0.9])
def test_supported_front_equals_brute_force(tau):
    """On N = 6, M = 2 "none" drops with a slow edge (several front corners): every supported
    point lies on the brute-force staircase (F at its accuracy equals its delay, up to solver
    tolerance), every vertex of the staircase's lower convex hull is found, every proven cut
    lies on or below the staircase at every corner and between corners, and the best cut meets
    the staircase at the hull vertices (the bound is tight there); a second call gives the same
    front."""
    for seed in (3, 4, 5):
        inst = instances.generate(6, 2, seed=seed, interference="none", server_cap_flops=3e14)
        corners = _staircase(_brute_force(inst, tau))
        front = supported_front(inst, tau=tau)
        assert front.complete and front.proven.all()
        again = supported_front(inst, tau=tau)  # deterministic: the same points and cuts
        npt.assert_array_equal(again.assignments, front.assignments)
        npt.assert_array_equal(again.intercept_ms, front.intercept_ms)
        assert np.all(np.diff(front.accuracy_pct) > 0)
        for acc, t in zip(front.accuracy_pct, front.objective_ms):
            want = corners[corners[:, 0] >= acc - 1e-9, 1].min()
            npt.assert_allclose(t, want, rtol=1e-8)
        hull = _lower_hull(corners)
        for acc, t in hull:
            k = np.flatnonzero(np.abs(front.accuracy_pct - acc) < 1e-9)
            assert k.size == 1, (seed, acc, front.accuracy_pct)
            npt.assert_allclose(front.objective_ms[k[0]], t, rtol=1e-8)
            npt.assert_allclose(front.bound_at(acc)[0], t, rtol=1e-7)
        levels = np.concatenate([corners[:, 0], (corners[1:, 0] + corners[:-1, 0]) / 2])
        truth = np.array([corners[corners[:, 0] >= a - 1e-9, 1].min() for a in levels])
        assert np.all(front.bound_at(levels) <= truth * (1 + 1e-8))
        upper = front.delay_at(levels)
        assert np.all(upper >= truth * (1 - 1e-8))


@pytest.mark.parametrize("tau", [None, 0.9])
def test_front_at_equals_brute_force(tau):
    """front_at (HiGHS warm-started from the supported front, its cuts a bound) gives the brute-force
    F(A) at every corner of the staircase and between corners, proven optimal with a bound at
    most the delay; at least one level needs no solve (the bracket is closed at a supported
    point) and at least one needs one (an unsupported corner) over the drops."""
    solved = set()
    for seed in (3, 4):
        inst = instances.generate(6, 2, seed=seed, interference="none", server_cap_flops=3e14)
        points = _brute_force(inst, tau)
        corners = _staircase(points)
        front = supported_front(inst, tau=tau)
        levels = np.concatenate([corners[:, 0], (corners[1:, 0] + corners[:-1, 0]) / 2])
        for level in levels:
            want = points[points[:, 0] >= level - 1e-9, 1].min()
            result = front_at(inst, front, level, tau=tau)
            assert result.status == instances.Status.OPTIMAL, result.info
            npt.assert_allclose(result.objective_ms, want, rtol=1e-8)
            assert result.evaluation.expected_accuracy_pct >= level - 1e-9
            # the bound against the brute-force optimum (no clamp makes this true)
            assert result.bound_ms <= want * (1 + BOUND_RTOL["highs"]), level
            solved.add(result.info["solved"])
    assert solved == {True, False}


def test_supported_front_errors_and_time_limit():
    """Under "full" supported_front raises a ValueError naming the instance; a tiny time limit
    returns an incomplete front whose points are still feasible plans and whose cuts are still
    below those plans."""
    with pytest.raises(ValueError, match="instance.*'none'"):
        supported_front(instances.generate(6, 2, seed=1, interference="full"))
    inst = instances.generate(30, 4, seed=2, interference="none")
    supported_front(inst, time_limit=5.0)  # compile the kernels outside the measured call
    front = supported_front(inst, time_limit=1e-6)
    assert not front.complete
    for a, t in zip(front.assignments, front.objective_ms):
        npt.assert_allclose(instances.evaluate(inst, a).total_delay_ms, t, rtol=1e-12)
    assert np.all(front.bound_at(front.accuracy_pct) <= front.objective_ms * (1 + 1e-9))


def test_supported_front_plain_data_round_trip():
    """A supported front written as plain data (JSON, as a sweep task carries it) and read back
    is the same front, bit for bit."""
    import json

    from formulations.front import SupportedFront, supported_front

    inst = instances.generate(8, 2, seed=3, interference="none", server_cap_flops=3e14)
    front = supported_front(inst)
    back = SupportedFront.from_dict(json.loads(json.dumps(front.to_dict())))
    for name in ("accuracy_pct", "objective_ms", "assignments", "proven", "slope_ms_per_pct",
                 "intercept_ms"):
        npt.assert_array_equal(getattr(back, name), getattr(front, name))
        assert getattr(back, name).dtype == getattr(front, name).dtype
    assert (back.complete, back.solves) == (front.complete, front.solves)
