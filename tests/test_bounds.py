"""Lower bounds never exceed a true optimum: the load-vector boxes under "full" (every box, every
leaf, the search stopped anywhere), B&B and the MILP backends stopped early, and golden optima of
20-22-user "full" drops proven by two differently bounded B&B runs."""

import functools
import itertools
import json
import math
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_less

import formulations
import instances
from formulations import loadbox, loaddual, search
from formulations.data import interference_free_delays
from formulations.outcome import Clock
from instances.io import from_dict
from instances.result import Status

DATA = Path(__file__).parent / "data"
GOLDEN = sorted(DATA.glob("golden_full_*.json"))
SLACK = 1e-12  # rounding allowed between a bound and the optimum

# Families of tiny "full" drops that stress the interference bounds: the paper's preset (users
# pile on one server), servers without spare compute (users spread over cells), strong
# interference (tiny noise), high transmit power, comm-bound (narrow bands), a small area.
FAMILIES = {
    "paper": {},
    "spread": {"server_flops": 1.6e15},
    "strong_interference": {"server_flops": 1.6e15, "noise_psd_w_hz": 4e-25,
                            "bandwidth_hz": 2e6},
    "loud": {"server_flops": 1.6e15, "tx_power_w": 20.0},
    "narrow": {"server_flops": 2e15, "bandwidth_hz": 1e6},
    "small_area": {"server_flops": 1.6e15, "area_m": 60.0, "bandwidth_hz": 3e6},
}
# (N, M): brute force over at most 5^6 assignments
SIZES = [(6, 1), (7, 2), (6, 3), (6, 4)]
TAUS = [0.0, 0.6, 1.0]  # every user forced, some, none


@functools.lru_cache(maxsize=None)
def drop(family, n, m, seed):
    """A tiny "full" drop of one family."""
    return instances.generate(n, m, seed=seed, interference="full", **FAMILIES[family])


@functools.lru_cache(maxsize=None)
def optimum_ms(family, n, m, seed, tau):
    """The optimum by exhaustive enumeration (checked against the evaluator's brute force in
    test_formulations.py)."""
    result = formulations.solve(drop(family, n, m, seed), tau=tau, backend="enumerate")
    assert result.status == Status.OPTIMAL
    return result.objective_ms


def boxes(inst, tau):
    """The box-bound constants of a drop."""
    return loadbox.BoxBoundConstants(search.kernel_arrays(inst, tau), interference_free_delays(inst, tau))


def candidates(inst, tau):
    """Every assignment an optimum may be (forced users offloaded, no free user slower on its
    server than at home), with T in seconds."""
    arrays = search.kernel_arrays(inst, tau)
    out = []
    for a in itertools.product(range(-1, inst.n_servers), repeat=inst.n_users):
        a = np.array(a)
        if np.any(arrays["forced"] & (a < 0)):
            continue
        delays = instances.evaluate(inst, a).delay_s
        free_off = (a >= 0) & ~arrays["forced"]
        if np.all(delays[free_off] <= inst.local_delay_s[free_off]):
            out.append((search.total_delay_s(arrays, a), a))
    return out


CASES = [(family, n, m, seed, tau) for family in FAMILIES for (n, m), seed in
         zip(SIZES, range(len(SIZES))) for tau in TAUS]


@pytest.mark.parametrize("case", CASES, ids=lambda c: "{}_N{}_M{}_s{}_tau{}".format(*c))
def test_every_box_bound_is_below_the_optimum(case):
    """The root box and every single load vector (leaf) bound the brute-force optimum from
    below; the bound of a leaf (and of a box around it) is also below the best assignment with
    exactly those loads among the assignments where no free user is slower on its server than
    at home (every optimum is one of them: sending such a user home lowers T)."""
    family, n, m, seed, tau = case
    inst = drop(family, n, m, seed)
    optimum = optimum_ms(family, n, m, seed, tau)
    data = boxes(inst, tau)
    lo, hi = data.root()
    root, _ = loadbox.box_bound(data, lo, hi)
    assert root * 1e3 <= optimum * (1 + SLACK)
    # the best T per load vector, by brute force
    arrays = search.kernel_arrays(inst, tau)
    by_loads = {}
    for a in itertools.product(range(-1, m), repeat=n):
        a = np.array(a)
        if np.any(arrays["forced"] & (a < 0)):
            continue
        key = tuple(np.bincount(a[a >= 0], minlength=m).tolist())
        by_loads.setdefault(key, []).append((search.total_delay_s(arrays, a), tuple(a)))
    best_per_loads = {}
    for key, members in by_loads.items():
        for value, a in sorted(members):  # the best one no single move home improves
            delays = instances.evaluate(inst, a).delay_s
            a = np.array(a)
            free_off = (a >= 0) & ~arrays["forced"]
            if np.all(delays[free_off] <= inst.local_delay_s[free_off]):
                best_per_loads[key] = value
                break
    for key, best in best_per_loads.items():
        loads = np.array(key)
        if np.any(loads > hi):
            continue  # no optimum has these loads (the reductions of formulations.data)
        leaf, _ = loadbox.box_bound(data, loads, loads)
        assert leaf <= best * (1 + SLACK), key
        # a box around it holds it too
        wide, _ = loadbox.box_bound(data, np.maximum(loads - 1, 0), np.minimum(loads + 1, hi))
        assert wide <= best * (1 + SLACK), key
    assert min(best_per_loads.values()) * 1e3 == pytest.approx(optimum, rel=1e-12)


@pytest.mark.parametrize("case", CASES[1::3], ids=lambda c: "{}_N{}_M{}_s{}_tau{}".format(*c))
def test_bounds_with_fixed_users_are_below_the_best_consistent_assignment(case):
    """With some users fixed (home, or on a server) at a single load vector, the box bound is
    at most T of every assignment with those loads that agrees with the fixings and that no
    move of one free user home improves; with every user fixed it is T itself (to 1e-9)."""
    family, n, m, seed, tau = case
    inst = drop(family, n, m, seed)
    data = boxes(inst, tau)
    rng = np.random.default_rng(seed)
    pool = candidates(inst, tau)
    for _ in range(12):
        value, a = pool[int(rng.integers(len(pool)))]
        loads = np.bincount(a[a >= 0], minlength=m)
        if np.any(loads > data.root()[1]):
            continue
        fix = np.where(rng.random(n) < 0.5, a, -2)
        bound, _ = loadbox.box_bound(data, loads, loads, fix)
        consistent = [v for v, b in pool if np.array_equal(
            np.bincount(b[b >= 0], minlength=m), loads) and np.all((fix == -2) | (fix == b))]
        assert bound <= min(consistent) * (1 + SLACK)
        exact, _ = loadbox.box_bound(data, loads, loads, a.copy())
        assert exact == pytest.approx(value, rel=1e-9)


def _in_box(b, lo, hi, m):
    """Whether assignment b has its loads within [lo, hi]."""
    loads = np.bincount(b[b >= 0], minlength=m)
    return bool(np.all(loads >= lo) and np.all(loads <= hi))


def _vector_and_box_around(loads, hi_root):
    """A single load vector and the box one unit around it (within the root)."""
    return ((loads, loads), (np.maximum(loads - 1, 0), np.minimum(loads + 1, hi_root)))


def _consistent(fix, b, m):
    """Whether assignment b agrees with a branch's ``fix`` (fixed users, and bans)."""
    fixed = fix >= -1
    if np.any(b[fixed] != fix[fixed]):
        return False
    free = loadbox.is_free(fix)
    return not any(np.any(free & loadbox.banned(fix, o, m) & (b == o)) for o in range(-1, m))


@pytest.mark.parametrize("case", CASES[2::5], ids=lambda c: "{}_N{}_M{}_s{}_tau{}".format(*c))
def test_bounds_with_banned_options_are_below_the_best_consistent_assignment(case):
    """Binary branching bans a free user from some options (home or servers): with random
    fixings and random bans, at a single load vector and on a box around it, the bound is at
    most T of every consistent assignment where no free user is slower on its server than at
    home; a box whose bans leave no consistent assignment may have any bound, but a box with
    one is never called empty."""
    family, n, m, seed, tau = case
    inst = drop(family, n, m, seed)
    data = boxes(inst, tau)
    rng = np.random.default_rng(100 + seed)
    pool = candidates(inst, tau)
    hi_root = data.root()[1]
    checked = 0
    for _ in range(16):
        value, a = pool[int(rng.integers(len(pool)))]
        loads = np.bincount(a[a >= 0], minlength=m)
        if np.any(loads > hi_root):
            continue
        fix = np.where(rng.random(n) < 0.3, a, loadbox.FREE)
        for i in np.flatnonzero(fix == loadbox.FREE):
            options = [o for o in range(-1, m) if o != a[i] and rng.random() < 0.5]
            mask = sum(1 << (m if o < 0 else o) for o in options)
            fix[i] = loadbox.FREE - mask
        assert _consistent(fix, a, m)
        for lo, hi in _vector_and_box_around(loads, hi_root):
            bound, _ = loadbox.box_bound(data, lo, hi, fix)
            inside = [v for v, b in pool if _consistent(fix, b, m) and _in_box(b, lo, hi, m)]
            assert math.isfinite(bound)
            assert bound <= min(inside) * (1 + SLACK)
        checked += 1
    assert checked >= 4


@pytest.mark.parametrize("case", CASES[1::6], ids=lambda c: "{}_N{}_M{}_s{}_tau{}".format(*c))
def test_boxes_as_transportation_problems_equal_the_assignment_problem(case):
    """A box's assignment problem solved as a transportation problem (a sink per server's
    mandatory slots, per optional slot and two for home) has the value of the N' x N'
    assignment problem (the readable reference path: ``use_transport = False``,
    ``compiled_cells = False``) to 1e-12, at single
    load vectors, boxes around them and the root, with random fixings and bans; its assignment
    has loads in the box and keeps the fixed users."""
    family, n, m, seed, tau = case
    inst = drop(family, n, m, seed)
    data = boxes(inst, tau)
    reference = boxes(inst, tau)
    reference.use_transport = False
    reference.compiled_cells = False
    rng = np.random.default_rng(200 + seed)
    checked = 0
    pool = candidates(inst, tau)
    for pick in rng.permutation(len(pool))[:40]:
        a = pool[pick][1]
        loads = np.bincount(a[a >= 0], minlength=m)
        if np.any(loads > data.root()[1]):
            continue
        fix = np.where(rng.random(n) < 0.3, a, loadbox.FREE)
        for i in np.flatnonzero(fix == loadbox.FREE):
            if rng.random() < 0.3:
                fix[i] = loadbox.FREE - (1 << int(rng.integers(m + 1)))
        around = (np.maximum(loads - 1, 0), np.minimum(loads + 1, data.root()[1]))
        for (lo, hi), f in itertools.product(((loads, loads), around, data.root()), (None, fix)):
            fast, fast_a = loadbox.box_bound(data, lo, hi, f)
            slow, slow_a = loadbox.box_bound(reference, lo, hi, f)
            assert (fast_a is None) == (slow_a is None)
            if slow_a is None:
                continue
            assert fast == pytest.approx(slow, rel=1e-12, abs=1e-15)
            got = np.bincount(fast_a[fast_a >= 0], minlength=m)
            assert np.all(got >= lo) and np.all(got <= hi)
            if f is not None:
                assert np.all(fast_a[fix >= -1] == fix[fix >= -1])
            checked += 1
    assert checked >= 2


@pytest.mark.parametrize("case", CASES[3::7], ids=lambda c: "{}_N{}_M{}_s{}_tau{}".format(*c))
def test_reduced_cost_bans_keep_every_assignment_below_the_cutoff(case):
    """Reduced-cost fixing (``box_bound(..., cutoff=c)``): at single load vectors and boxes
    around them, with random fixings and bans, every assignment of the box below the cutoff
    (among those where no free user is slower on its server than at home) agrees with the fix
    it returns, which keeps every fixing and ban of the box's own; and the bans do bite (some
    option is banned over the cases)."""
    family, n, m, seed, tau = case
    inst = drop(family, n, m, seed)
    data = boxes(inst, tau)
    rng = np.random.default_rng(300 + seed)
    pool = candidates(inst, tau)
    hi_root = data.root()[1]
    new_bans = 0
    for pick in rng.permutation(len(pool))[:6]:
        a = pool[pick][1]
        loads = np.bincount(a[a >= 0], minlength=m)
        if np.any(loads > hi_root):
            continue
        fix = np.where(rng.random(n) < 0.2, a, loadbox.FREE)
        for i in np.flatnonzero(fix == loadbox.FREE):
            if rng.random() < 0.2:
                fix[i] = loadbox.FREE - (1 << int(rng.integers(m + 1)))
        for lo, hi in _vector_and_box_around(loads, hi_root):
            inside = sorted(v for v, b in pool if _consistent(fix, b, m) and _in_box(b, lo, hi, m))
            if not inside:
                continue
            for cutoff in (inside[0] * 1.0001, inside[len(inside) // 3], inside[-1]):
                details: dict = {}
                bound, _ = loadbox.box_bound(data, lo, hi, fix, details, cutoff=cutoff)
                if bound >= cutoff or "fix" not in details:
                    continue
                new = details["fix"]
                kept = [b for v, b in pool if _consistent(fix, b, m) and v < cutoff]
                assert all(_consistent(new, b, m) for b in kept if _in_box(b, lo, hi, m))
                assert np.all(new[fix >= -1] == fix[fix >= -1])
                for o in range(-1, m):
                    was = loadbox.banned(fix, o, m) | ((fix >= -1) & (fix != o))
                    now = loadbox.banned(new, o, m) | ((new >= -1) & (new != o))
                    assert np.all(now[was])
                    new_bans += int(np.count_nonzero(now & ~was))
    assert new_bans > 0


@pytest.mark.parametrize("family", list(FAMILIES))
def test_compiled_interference_ranges_equal_the_reference(family):
    """The compiled ranges of a branched box (``_fixed_ranges``) equal the readable
    ``interference_range`` of every server to 1e-12, with random fixings, bans (home and
    servers, some users banned from both) and random load boxes, on 30-user drops of every
    family at three taus; infeasible ranges are infinite in both."""
    n, m = 30, 4
    rng = np.random.default_rng(7)
    checked = 0
    for seed, tau in ((0, 0.0), (1, 0.6), (2, 1.0)):
        data = boxes(instances.generate(n, m, seed=seed, interference="full",
                                        **FAMILIES[family]), tau)
        for _ in range(20):
            lo = rng.integers(0, 8, m)
            hi = lo + rng.integers(0, 4, m)
            fix = rng.integers(-1, m, n)
            free = rng.random(n) < 0.6
            fix[free] = loadbox.FREE - rng.integers(0, 1 << (m + 1), int(free.sum())) \
                * (rng.random(int(free.sum())) < 0.5)
            fix[data.forced & (fix == -1)] = loadbox.FREE
            fixed_on = np.bincount(fix[fix >= 0], minlength=m)
            lows, highs = loadbox._fixed_ranges(data.signal_w, data.forced, fix, lo, hi,
                                                fixed_on)
            for j in range(m):
                low, high = data.interference_range(
                    j, int(lo.sum() - lo[j]), int(hi.sum() - hi[j]),
                    int(hi[j] - fixed_on[j]), fix)
                if math.isinf(low):
                    assert math.isinf(lows[j])
                    continue
                assert lows[j] == pytest.approx(low, rel=1e-12, abs=1e-30)
                assert highs[j] == pytest.approx(high, rel=1e-12, abs=1e-30)
                checked += 1
    assert checked >= 100


@pytest.mark.parametrize("family", list(FAMILIES))
@pytest.mark.parametrize("law", ["ps", "table"])
def test_compiled_cells_equal_the_readable_loop(family, law):
    """``box_cells`` compiled (``_cells_kernel``) equals its readable loop (``compiled_cells =
    False``) on random boxes with random fixings and bans: the same boxes proved empty, and
    interference ranges, c_ij(Ilb_j), chord slopes and theta to 1e-12, the allowed slots
    exactly; under "ps" and a random nondecreasing table law (a_ij > 0)."""
    n, m = 30, 4
    rng = np.random.default_rng(11)
    checked = empty = 0
    for seed, tau in ((0, 0.0), (1, 0.6), (2, 1.0)):
        inst = instances.generate(n, m, seed=seed, interference="full", **FAMILIES[family])
        if law == "table":
            h = np.cumsum(rng.uniform(0.0, 0.02, (m, n)), axis=1) + 0.01
            inst = inst.with_law(instances.Law("table", a=rng.uniform(0.0, 0.05, (n, m)),
                                               b=rng.uniform(0.5, 2.0, n), h=h))
        fast = boxes(inst, tau)
        slow = boxes(inst, tau)
        slow.compiled_cells = False
        hi_root = fast.root()[1]
        for k in range(25):
            lo = np.minimum(rng.integers(0, 8, m), hi_root)
            hi = np.minimum(lo + rng.integers(0, 4, m), hi_root)
            fix = None
            if k % 3:
                fix = rng.integers(-1, m, n)
                free = rng.random(n) < 0.6
                fix[free] = loadbox.FREE - rng.integers(0, 1 << (m + 1), int(free.sum())) \
                    * (rng.random(int(free.sum())) < 0.5)
                fix[fast.forced & (fix == -1)] = loadbox.FREE
            a, b = loadbox.box_cells(fast, lo, hi, fix), loadbox.box_cells(slow, lo, hi, fix)
            assert (a is None) == (b is None)
            if a is None:
                empty += 1
                continue
            for name in ("i_low", "i_high", "c_low", "rho", "theta"):
                assert_allclose(getattr(a, name), getattr(b, name), rtol=1e-12, atol=0,
                                err_msg=name)
            for j in range(m):
                assert np.array_equal(a.allowed[j], b.allowed[j])
            checked += 1
    assert checked >= 8 and empty >= 1


@pytest.mark.parametrize("case", CASES[::7], ids=lambda c: "{}_N{}_M{}_s{}_tau{}".format(*c))
def test_binary_and_all_option_branching_prove_the_same_optimum(case):
    """The search's two user branchings (binary: on the option the box's own assignment
    gives the user, or banned there; all: one child per option) both reach the brute-force
    optimum and prove it."""
    family, n, m, seed, tau = case
    inst = drop(family, n, m, seed)
    arrays = search.kernel_arrays(inst, tau)
    data = loadbox.BoxBoundConstants(arrays, interference_free_delays(inst, tau))
    optimum = optimum_ms(family, n, m, seed, tau)
    start = np.where(arrays["forced"], 0, -1)
    for rule in ("binary", "all"):
        clock = Clock(60)
        out = loadbox.solve_loadbox(data, clock, start,
                                    lambda b: search.total_delay_s(arrays, b),
                                    lambda b: search.improve(arrays, b, clock),
                                    user_branch=rule)
        assert out.status == Status.OPTIMAL, rule
        assert out.objective_ms == pytest.approx(optimum, rel=1e-9), rule
        assert out.bound_ms <= optimum * (1 + SLACK), rule


@pytest.mark.parametrize("case", CASES[::3], ids=lambda c: "{}_N{}_M{}_s{}_tau{}".format(*c))
def test_stopped_searches_bound_the_optimum(case):
    """loadbox stopped after 1, 3 or 30 boxes or run to its end (a proof: it reaches the
    brute-force optimum), and B&B (either node bound) stopped after 1, 10 or 100 nodes: the
    bound is at most the optimum, the objective at least, and the status says why the search
    stopped."""
    family, n, m, seed, tau = case
    inst = drop(family, n, m, seed)
    optimum = optimum_ms(family, n, m, seed, tau)
    runs = [formulations.solve(inst, tau=tau, backend="loadbox", max_boxes=k)
            for k in (1, 3, 30)]
    proof = formulations.solve(inst, tau=tau, backend="loadbox")
    assert proof.status == Status.OPTIMAL  # the search over users is complete
    assert_allclose(proof.objective_ms, optimum, rtol=1e-9)
    runs.append(proof)
    for k in (1, 10, 100):
        runs.append(formulations.solve(inst, tau=tau, backend="bnb", max_nodes=k))
    arrays = search.kernel_arrays(inst, tau)
    start = np.where(arrays["forced"], 0, -1)
    weak = search.solve_bnb(inst, tau, Clock(60), start, pair=1, reverse=True, max_nodes=10)
    for result in runs:
        assert result.status in (Status.OPTIMAL, Status.WORK_LIMIT), result.info.get("error")
        assert result.bound_ms <= optimum * (1 + SLACK), result.backend
        assert result.objective_ms >= optimum * (1 - SLACK)
    assert weak.bound_ms <= optimum * (1 + SLACK)


def test_loadbox_certifies_a_small_gap_at_the_papers_scale():
    """On a 50-user paper drop (tau = 0.8) the load-vector boxes stopped after 300 boxes (a
    work budget: the same on every machine) leave a certified gap under 10 % (7.8 % measured;
    docs/bounds.md has the figures at larger budgets)."""
    inst = instances.generate(50, 4, seed=0, interference="full")
    result = formulations.solve(inst, tau=0.8, backend="loadbox", max_boxes=300)
    assert result.status == Status.WORK_LIMIT
    assert result.info["boxes"] >= 300
    assert 0.0 < result.gap_pct < 10.0


def test_loadbox_target_gap_stops_at_the_first_step_within_it():
    """``target_gap``: the search stops (WORK_LIMIT, info["stop"] "target_gap") at the first
    step whose certified gap is within the target: the same plan and bound as a search given
    exactly that many boxes, while a search stopped a step earlier leaves a gap above it."""
    inst = instances.generate(50, 4, seed=0, interference="full")
    target = formulations.solve(inst, tau=0.8, backend="loadbox", max_boxes=5000,
                                target_gap=0.09)
    assert target.status == Status.WORK_LIMIT and target.info["stop"] == "target_gap"
    boxes = target.info["boxes"]
    assert 1 < boxes < 5000 and target.gap_pct <= 9.0
    same = formulations.solve(inst, tau=0.8, backend="loadbox", max_boxes=boxes)
    assert same.info["stop"] is None
    assert (same.bound_ms, same.objective_ms) == (target.bound_ms, target.objective_ms)
    fewer = boxes - 1  # the largest budget that stops a step earlier (a step bounds 2+ boxes)
    while (before := formulations.solve(inst, tau=0.8, backend="loadbox",
                                        max_boxes=fewer)).info["boxes"] >= boxes:
        fewer -= 1
    assert before.gap_pct > 9.0


@pytest.mark.parametrize("path", GOLDEN, ids=lambda p: p.stem)
def test_golden_optimum_is_reproduced(path):
    """The stored optimum of a 20-22-user "full" drop (proven by B&B with two different node
    bounds and branching orders when the file was written) is reproduced by the B&B and,
    independently, proven by the load-vector boxes."""
    doc = json.loads(path.read_text())
    inst = from_dict(doc["instance"])
    tau = doc["tau"]
    stored = np.array(doc["assignment"])
    assert_allclose(instances.evaluate(inst, stored, tau).total_delay_ms, doc["optimum_ms"],
                    rtol=1e-12)
    result = formulations.solve(inst, tau=tau, backend="bnb", time_limit=60)
    assert result.status == Status.OPTIMAL
    assert_allclose(result.objective_ms, doc["optimum_ms"], rtol=1e-9)
    boxes_result = formulations.solve(inst, tau=tau, backend="loadbox", time_limit=30)
    assert boxes_result.bound_ms <= doc["optimum_ms"] * (1 + SLACK)
    assert boxes_result.status == Status.OPTIMAL
    assert_allclose(boxes_result.objective_ms, doc["optimum_ms"], rtol=1e-9)


@pytest.fixture(scope="module")
def none60():
    """60 users, 4 servers, interference "none", and its optimum by the load vectors (and the
    same by HiGHS)."""
    inst = instances.generate(60, 4, seed=0, interference="none")
    optimum = formulations.solve(inst, tau=0.8, backend="loadvec")
    assert optimum.status == Status.OPTIMAL
    return inst, optimum.objective_ms


@pytest.mark.parametrize("backend", ["highs", "cbc", "scip", "cpsat", "loadvec", "bnb"])
def test_early_stopped_none_backends_bound_the_optimum(none60, backend):
    """Every backend that returns a bound, stopped early on a 60-user "none" drop (0.2 and
    0.4 s; B&B after 1000 nodes), returns a bound at most the optimum and an objective at least
    it. (CBC cut short in its preprocessing may claim infeasibility: that is an ERROR without
    a bound, never a bound.)"""
    inst, optimum = none60
    options = {"max_nodes": 1000} if backend == "bnb" else {}
    for limit in (0.2, 0.4):
        result = formulations.solve(inst, tau=0.8, backend=backend, time_limit=limit, **options)
        check_stopped(result, optimum, backend)


def check_stopped(result, optimum, backend):
    """A stopped solve: feasible, objective >= optimum, and bound <= optimum when given; an
    error (CBC only) carries no bound."""
    if result.status == Status.ERROR:
        assert backend == "cbc" and "infeasible" in result.info["error"], result.info["error"]
        assert result.bound_ms is None
    assert result.is_feasible()
    if result.bound_ms is not None:
        assert result.bound_ms <= optimum * (1 + 1e-9)
    assert result.objective_ms >= optimum * (1 - 1e-9)


def test_cbc_without_an_integer_solution_returns_its_bound_only(none60):
    """CBC stopped before any integer solution writes its LP solution: it is not taken for an
    assignment (the warm start is returned), and its LP bound is valid."""
    inst, optimum = none60
    result = formulations.solve(inst, tau=0.8, backend="cbc", time_limit=0.25)
    check_stopped(result, optimum, "cbc")
    if result.status != Status.ERROR:
        assert result.status == Status.TIME_LIMIT


def test_interference_range_brackets_every_assignment():
    """The interference of every assignment in a box lies within the box's range at every
    server (point 1 of formulations.loadbox), on random assignments of a 30-user drop."""
    rng = np.random.default_rng(3)
    inst = instances.generate(30, 4, seed=5, interference="full")
    tau = 0.7
    data = boxes(inst, tau)
    forced = inst.alpha > tau
    s = data.signal_w
    for _ in range(200):
        a = rng.integers(-1, 4, 30)
        a[forced & (a < 0)] = rng.integers(0, 4, int(np.count_nonzero(forced & (a < 0))))
        loads = np.bincount(a[a >= 0], minlength=4)
        lo = np.maximum(loads - rng.integers(0, 3, 4), 0)
        hi = loads + rng.integers(0, 3, 4)
        for j in range(4):
            actual = s[(a >= 0) & (a != j), j].sum()
            others_lo = int(lo.sum() - lo[j])
            forced_others = max(0, data.n_forced - int(hi[j]))
            low = data.interference_low(j, max(others_lo, forced_others), forced_others)
            high = data.interference_high(j, int(hi.sum() - hi[j]))
            assert_array_less(low, actual * (1 + SLACK) + 1e-300)
            assert actual <= high * (1 + SLACK)


def test_comm_delay_is_concave_in_the_interference():
    """The chord argument of formulations.loadbox: c_ij(I) lies above every chord on random
    intervals, for SINR from 1e-3 to 1e6."""
    rng = np.random.default_rng(4)
    inst = instances.generate(40, 4, seed=1, interference="full")
    data = boxes(inst, 1.0)
    for _ in range(50):
        j = int(rng.integers(4))
        low, high = np.sort(10 ** rng.uniform(-16, -6, 2))
        middle = rng.uniform(low, high)
        c_low, c_high, c_mid = (data.comm_per_load(j, v) for v in (low, high, middle))
        chord = c_low + (c_high - c_low) * (middle - low) / (high - low)
        assert np.all(c_mid >= chord * (1 - 1e-12))


def test_certified_benchmark_tiny_run(tmp_path, capsys):
    """python -m benchmarks.certified on two tiny drops: CSV columns, every bound below every
    feasible plan of its drop and each gap computed from them,
    the B&B's proven optimum (N = 8) makes the exact plan's gap 0, outputs in place."""
    from benchmarks import certified
    from benchmarks.common import read_csv

    out = tmp_path / "certified"
    code = certified.main(["--sizes", "8", "30", "--seeds", "0", "--tau", "0.8",
                           "--max-boxes", "100", "--out", str(out)])
    assert code == 0
    rows = read_csv(out / "certified.csv")
    assert list(rows[0]) == certified.COLUMNS
    assert {"goa", "edge_all", "dmin", "ga", "exact"} <= {r["method"] for r in rows}
    for r in rows:
        if r["feasible"] == "1":  # the bound lies below every feasible plan; the gap is its own
            objective, bound = float(r["objective_ms"]), float(r["bound_ms"])
            assert bound <= objective * (1 + 1e-12), r
            assert_allclose(float(r["gap_upper_pct"]), (objective - bound) / bound * 100,
                            rtol=1e-9, atol=1e-9)
        if r["n_users"] == "8":
            assert r["bound_status"] == "optimal" and r["bound_backend"] == "bnb"
        else:
            assert r["bound_backend"] == "loadbox"
    exact8 = [r for r in rows if r["n_users"] == "8" and r["method"] == "exact"]
    assert float(exact8[0]["gap_upper_pct"]) < 1e-6
    for name in ("certified.png", "certified_by_n.png", "summary.txt"):
        assert (out / name).stat().st_size > 0
    assert "SUMMARY" in capsys.readouterr().out
    assert not any(p.name.startswith(".staging") for p in out.iterdir())


def test_certified_benchmark_bad_option():
    """A bad option is one line on stderr and exit code 2."""
    from benchmarks import certified

    with pytest.raises(SystemExit) as stop:
        certified.main(["--sizes", "0"])
    assert stop.value.code == 2


def test_loadbox_is_deterministic():
    """The same drop solved twice with a box limit (not a time limit) gives the same
    assignment, bound and box count."""
    inst = instances.generate(30, 4, seed=4, interference="full")
    first, second = (formulations.solve(inst, tau=0.8, backend="loadbox", max_boxes=300)
                     for _ in range(2))
    np.testing.assert_array_equal(first.assignment, second.assignment)
    assert first.bound_ms == second.bound_ms
    assert first.info["boxes"] == second.info["boxes"]


# --- the Lagrangian dual of a load box (formulations.loaddual) -----------------------------------

def dual(data, lo, hi, fix=None, rounds=4):
    """The dual's own L (no McCormick floor), or None for an empty box."""
    cells = loadbox.box_cells(data, lo, hi, fix)
    if cells is None:
        return None
    return loaddual.dual_bound(data, cells, rounds=rounds)


@pytest.mark.parametrize("case", CASES[::5], ids=lambda c: "{}_N{}_M{}_s{}_tau{}".format(*c))
def test_dual_bound_is_below_every_assignment_in_its_box(case):
    """The root box, up to six load vectors (random), a box around each and a box with random
    users fixed: the dual's L (4 rounds) is at most the best assignment (that an optimum may be)
    in the box."""
    family, n, m, seed, tau = case
    inst = drop(family, n, m, seed)
    data = boxes(inst, tau)
    pool = candidates(inst, tau)
    lo, hi = data.root()
    root = dual(data, lo, hi)
    assert root.bound * 1e3 <= optimum_ms(family, n, m, seed, tau) * (1 + SLACK)
    loads_of = [np.bincount(a[a >= 0], minlength=m) for _, a in pool]
    rng = np.random.default_rng(seed)
    checked = 0
    keys = sorted({tuple(x) for x in loads_of})
    for pick in rng.permutation(len(keys))[:6]:
        key = keys[pick]
        loads = np.array(key)
        if np.any(loads > hi):
            continue
        inside = [v for (v, _), x in zip(pool, loads_of) if np.array_equal(x, loads)]
        result = dual(data, loads, loads)
        assert result.bound <= min(inside) * (1 + SLACK), key
        wide_lo, wide_hi = np.maximum(loads - 1, 0), np.minimum(loads + 1, hi)
        around = [v for (v, _), x in zip(pool, loads_of)
                  if np.all(x >= wide_lo) and np.all(x <= wide_hi)]
        assert dual(data, wide_lo, wide_hi).bound <= min(around) * (1 + SLACK), key
        # users fixed as one assignment with these loads has them
        value, a = next((v, b) for (v, b), x in zip(pool, loads_of) if np.array_equal(x, loads))
        fix = np.where(rng.random(n) < 0.5, a, -2)
        consistent = [v for (v, b), x in zip(pool, loads_of) if np.array_equal(x, loads)
                      and np.all((fix == -2) | (fix == b))]
        assert dual(data, loads, loads, fix).bound <= min(consistent) * (1 + SLACK), key
        checked += 1
    assert checked >= 1


def test_dual_beats_the_mccormick_bound_at_a_papers_load_vector():
    """At the load vector of goa_ls's plan on a 40-user paper drop (tau = 0.8), the dual's own
    L (without the McCormick floor) lies strictly above the box's McCormick bound, and both lie
    below the plan: the dual does what it is for."""
    import goa

    inst = instances.generate(40, 4, seed=3)
    data = boxes(inst, 0.8)
    plan = np.asarray(goa.solve(inst, tau=0.8, method="goa_ls").assignment)
    loads = np.bincount(plan[plan >= 0], minlength=4)
    mccormick, _ = loadbox.box_bound(data, loads, loads)
    result = dual(data, loads, loads, rounds=12)
    value = search.total_delay_s(search.kernel_arrays(inst, 0.8), plan)
    assert mccormick < result.bound <= value
    # at least a tenth of the McCormick gap at this vector is closed
    assert result.bound - mccormick >= 0.1 * (value - mccormick)
    assert result.problems == 16 * result.rounds
    assert result.assignment is not None


def test_search_with_the_dual_proves_the_golden_optimum():
    """loadbox with dual rounds on single load vectors proves the stored optimum of a golden
    20-user drop, and counts the dual's assignment problems in its box budget."""
    doc = json.loads(GOLDEN[0].read_text())
    inst = from_dict(doc["instance"])
    result = formulations.solve(inst, tau=doc["tau"], backend="loadbox", dual_rounds=4,
                                time_limit=120)
    assert result.status == Status.OPTIMAL
    assert_allclose(result.objective_ms, doc["optimum_ms"], rtol=1e-9)
    stopped = formulations.solve(inst, tau=doc["tau"], backend="loadbox", dual_rounds=4,
                                 max_boxes=200)
    assert stopped.status in (Status.WORK_LIMIT, Status.OPTIMAL)
    assert stopped.bound_ms <= doc["optimum_ms"] * (1 + SLACK)
    assert stopped.info["boxes"] <= 200 + inst.n_servers  # the last split's children


def test_bad_dual_options_are_named():
    inst = instances.generate(24, 4, seed=0)
    for bad in (-1, 1.5, "2", True):
        with pytest.raises(ValueError, match="dual_rounds"):
            formulations.solve(inst, tau=0.8, backend="loadbox", dual_rounds=bad)
    big = instances.generate(8, 7, seed=0)
    data = boxes(big, 0.8)
    cells = loadbox.box_cells(data, *data.root())
    with pytest.raises(ValueError, match="dual_rounds: .* at most 6 servers"):
        loaddual.dual_bound(data, cells, rounds=2)
    with pytest.raises(ValueError, match="dual_rounds: must be at least 1"):
        loaddual.dual_bound(boxes(inst, 0.8), loadbox.box_cells(boxes(inst, 0.8), *boxes(inst, 0.8).root()), rounds=0)


# --- batches of boxes, bounded by one or several processes ----------------------------------------

def test_batched_search_gives_the_same_results_on_one_or_two_workers(monkeypatch):
    """With batch = 8 the search bounds the same boxes in the same order whether one process or
    two bound them (the worker process started after 100 boxes): status, plan, bound and box
    count are identical."""
    monkeypatch.setattr(loadbox, "WORKER_START_BOXES", 100)
    inst = instances.generate(40, 4, seed=1, interference="full")
    runs = [formulations.solve(inst, tau=0.8, backend="loadbox", max_boxes=400, batch=8,
                               workers=workers) for workers in (1, 2)]
    one, two = runs
    assert one.status == two.status == Status.WORK_LIMIT
    assert one.bound_ms == two.bound_ms and one.objective_ms == two.objective_ms
    assert np.array_equal(one.assignment, two.assignment)
    assert one.info["boxes"] == two.info["boxes"] >= 400
    assert one.info["open_boxes"] == two.info["open_boxes"]
    # batches take other boxes than strict best-first: the runs are not the default's
    default = formulations.solve(inst, tau=0.8, backend="loadbox", max_boxes=400)
    assert default.info["boxes"] != one.info["boxes"] or default.bound_ms != one.bound_ms


@pytest.mark.parametrize("case", CASES[2::7], ids=lambda c: "{}_N{}_M{}_s{}_tau{}".format(*c))
def test_batched_search_bounds_and_proves_the_optimum(case):
    """Batches of 4 boxes: stopped after 5 boxes the bound is at most the brute-force optimum,
    and run to its end the search proves it."""
    family, n, m, seed, tau = case
    inst = drop(family, n, m, seed)
    optimum = optimum_ms(family, n, m, seed, tau)
    stopped = formulations.solve(inst, tau=tau, backend="loadbox", max_boxes=5, batch=4)
    assert stopped.bound_ms <= optimum * (1 + SLACK)
    proof = formulations.solve(inst, tau=tau, backend="loadbox", batch=4)
    assert proof.status == Status.OPTIMAL
    assert_allclose(proof.objective_ms, optimum, rtol=1e-9)


def test_default_search_splits_64_boxes_a_step_on_the_cores_it_may_use(monkeypatch):
    """formulations.solve's "loadbox" defaults to batch 64 and to the workers of
    LLM_OFFLOADING_SOLVER_WORKERS (else the cores): its result equals an explicit batch of 64
    on one worker and on two (batches and workers start after 100 boxes here, 20000 by
    default); a bad value of the variable is named."""
    monkeypatch.setattr(loadbox, "WORKER_START_BOXES", 100)
    inst = instances.generate(40, 4, seed=2, interference="full")
    explicit = formulations.solve(inst, tau=0.8, backend="loadbox", max_boxes=300, batch=64,
                                  workers=1)
    for workers in ("2", None):
        if workers is None:
            monkeypatch.delenv(loadbox.WORKERS_ENV, raising=False)
            assert loadbox.default_workers() >= 1
        else:
            monkeypatch.setenv(loadbox.WORKERS_ENV, workers)
            assert loadbox.default_workers() == 2
        default = formulations.solve(inst, tau=0.8, backend="loadbox", max_boxes=300)
        assert default.bound_ms == explicit.bound_ms
        assert default.info["boxes"] == explicit.info["boxes"]
        assert np.array_equal(default.assignment, explicit.assignment)
    single = formulations.solve(inst, tau=0.8, backend="loadbox", max_boxes=300, batch=1)
    assert single.info["boxes"] != explicit.info["boxes"] or single.bound_ms != explicit.bound_ms
    for bad in ("0", "two", "-1"):
        monkeypatch.setenv(loadbox.WORKERS_ENV, bad)
        with pytest.raises(ValueError, match=loadbox.WORKERS_ENV):
            formulations.solve(inst, tau=0.8, backend="loadbox", max_boxes=10)


def test_bad_batch_options_are_named():
    inst = instances.generate(24, 4, seed=0)
    for name in ("batch", "workers"):
        for bad in (0, -2, 1.5, "2", True):
            with pytest.raises(ValueError, match=name):
                formulations.solve(inst, tau=0.8, backend="loadbox", **{name: bad})


def test_proofs_benchmark_tiny_run(tmp_path, capsys):
    """python -m benchmarks.proofs on two small drops with two workers: each is proven, its
    objective is the optimum the default search proves, and a budget of 1 box stops it."""
    from benchmarks import proofs
    from benchmarks.common import read_csv

    out = tmp_path / "proofs"
    assert proofs.main(["--sizes", "14", "--seeds", "0", "1", "--batch", "4", "--workers", "2",
                        "--out", str(out)]) == 0
    rows = read_csv(out / "proofs.csv")
    assert list(rows[0]) == proofs.COLUMNS and len(rows) == 2
    for r in rows:
        assert r["status"] == "optimal", r
        inst = instances.generate(14, 4, seed=int(r["seed"]), interference="full")
        reference = formulations.solve(inst, tau=0.8, backend="bnb")
        assert_allclose(float(r["objective_ms"]), reference.objective_ms, rtol=1e-9)
    assert "proven 2 of 2" in capsys.readouterr().out
    assert proofs.main(["--sizes", "30", "--seeds", "0", "--max-boxes", "1",
                        "--out", str(tmp_path / "stopped")]) == 0
    assert read_csv(tmp_path / "stopped" / "proofs.csv")[0]["status"] == "work_limit"
    with pytest.raises(SystemExit) as stop:
        proofs.main(["--workers", "0", "--out", str(tmp_path / "bad")])
    assert stop.value.code == 2
    assert "--workers" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()
