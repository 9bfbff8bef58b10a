"""The balanced transportation solver (formulations.transport) against scipy's assignment solver
on the expanded N x N matrix (sink b's column repeated capacity[b] times): the same optimum on
many random instances (ties, integer costs, negative costs, forbidden cells, infeasible ones), a
feasible assignment whose cost is the value, (inf, None) when infeasible, determinism, and each
invalid argument's ValueError."""

import math

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from scipy.optimize import linear_sum_assignment

from formulations.transport import solve_transport, transport_kernel

RTOL = 1e-12


def _costs(rng, n, s, kind):
    """An (n, s) cost matrix of one family: uniform, small integers (many ties), all equal,
    heavy-tailed, negative and positive, alike rows, small values beside huge ones, or huge
    values with tiny differences."""
    if kind == "uniform":
        return rng.random((n, s))
    if kind == "ties":
        return rng.integers(0, 3, size=(n, s)).astype(float)
    if kind == "integer":
        return rng.integers(-50, 50, size=(n, s)).astype(float)
    if kind == "equal":
        return np.full((n, s), 2.5)
    if kind == "lognormal":
        return rng.lognormal(0.0, 2.0, size=(n, s))
    if kind == "columns":  # rows alike but for a column offset: many equal move costs
        return rng.integers(0, 4, size=(1, s)) + rng.integers(0, 2, size=(n, 1)) * 0.5
    if kind == "bigm":  # small costs with a few huge cells (1e6..1e12) the optimum avoids
        cost = rng.random((n, s))
        big = rng.random((n, s)) < 0.2
        cost[big] = 10.0 ** rng.integers(6, 13, size=big.sum()) * (1 + rng.random(big.sum()))
        return cost
    return 1e6 + rng.random((n, s)) * 1e-3  # "offset"


KINDS = ["uniform", "ties", "integer", "equal", "lognormal", "columns", "bigm", "offset"]


def _instance(rng, kind):
    """A random instance: N in 1..60, S in 1..8, capacities summing to N (some zero), and +inf
    cells with a random density (often enough to make it infeasible)."""
    n = int(rng.integers(1, 61))
    s = int(rng.integers(1, 9))
    capacity = rng.multinomial(n, rng.dirichlet(np.full(s, 0.7))).astype(np.int64)
    cost = _costs(rng, n, s, kind)
    density = rng.choice([0.0, 0.0, 0.05, 0.1, 0.3, 0.6])
    cost[rng.random((n, s)) < density] = math.inf
    return cost, capacity


def _scipy_value(cost, capacity):
    """The optimum by scipy on the expanded N x N matrix; inf when infeasible."""
    expanded = np.repeat(cost, capacity, axis=1)
    try:
        rows, cols = linear_sum_assignment(expanded)
    except ValueError:  # "cost matrix is infeasible"
        return math.inf
    return float(expanded[rows, cols].sum())


def _check(cost, capacity, value, sink):
    """The assignment is feasible, exact on every capacity, and its cost (row order) is value."""
    n, s = cost.shape
    assert sink.dtype == np.int64 and sink.shape == (n,)
    assert ((sink >= 0) & (sink < s)).all()
    assert_array_equal(np.bincount(sink, minlength=s), capacity)
    picked = cost[np.arange(n), sink]
    assert np.isfinite(picked).all()
    total = 0.0
    for c in picked:
        total += c
    assert value == total


@pytest.mark.parametrize("kind", KINDS)
def test_optimum_equals_scipy_on_the_expanded_matrix(kind):
    """On 1000 random instances per cost family the value equals scipy's optimum (1e-12
    relative, 1e-12 absolute near 0), the assignment is feasible with exactly capacity[b] rows
    on sink b, no row on a +inf cell, and its cost summed in row order is the value; an
    infeasible instance (scipy refuses it) gives (inf, None)."""
    rng = np.random.default_rng([2026, KINDS.index(kind)])
    infeasible = 0
    for _ in range(1000):
        cost, capacity = _instance(rng, kind)
        expected = _scipy_value(cost, capacity)
        value, sink = solve_transport(cost, capacity)
        if expected == math.inf:
            infeasible += 1
            assert value == math.inf and sink is None
            continue
        assert abs(value - expected) <= RTOL * max(1.0, abs(expected)), (cost, capacity)
        _check(cost, capacity, value, sink)
    assert 50 <= infeasible <= 700  # both outcomes are exercised


def test_larger_instances_with_few_sinks_equal_scipy():
    """N = 150..250 rows on 3..12 sinks (the sizes of a real box), with forbidden cells: the
    same optimum as scipy and a feasible assignment."""
    rng = np.random.default_rng(7)
    for _ in range(6):
        n = int(rng.integers(150, 251))
        s = int(rng.integers(3, 13))
        capacity = rng.multinomial(n, rng.dirichlet(np.ones(s))).astype(np.int64)
        cost = rng.random((n, s)) * rng.random(s) * 10
        cost[rng.random((n, s)) < 0.2] = math.inf
        cost[:, -1] = rng.random(n)  # home: always allowed, so most are feasible
        expected = _scipy_value(cost, capacity)
        value, sink = solve_transport(cost, capacity)
        if expected == math.inf:
            assert value == math.inf and sink is None
            continue
        assert abs(value - expected) <= RTOL * max(1.0, abs(expected))
        _check(cost, capacity, value, sink)


def test_jitted_kernel_agrees_with_its_python_run():
    """The kernel run as plain Python (``py_func``) gives the same value and assignment, bit
    for bit, as the compiled kernel on random instances with ties and forbidden cells."""
    rng = np.random.default_rng(11)
    for t in range(40):
        cost, capacity = _instance(rng, KINDS[t % len(KINDS)])
        if capacity.sum() != cost.shape[0]:
            continue
        fast = transport_kernel(cost, capacity)
        slow = transport_kernel.py_func(cost, capacity)
        assert fast[0] == slow[0]
        if fast[0]:
            assert fast[1] == slow[1]
            assert_array_equal(fast[2], slow[2])


def test_the_sinks_potentials_are_an_optimal_dual():
    """The potentials the kernel returns, with each row's dual ``u_i = min_b cost[i, b] -
    pi[b]``, give the dual value ``sum u + capacity . pi`` equal to the optimum (to rounding):
    reduced-cost fixing (formulations.loadbox) is as strong as the LP duals allow."""
    rng = np.random.default_rng(12)
    checked = 0
    for t in range(200):
        cost, capacity = _instance(rng, KINDS[t % len(KINDS)])
        if capacity.sum() != cost.shape[0]:
            continue
        feasible, value, sink, pi = transport_kernel(cost, capacity)
        if not feasible:
            continue
        shifted = np.where(np.isfinite(cost), cost - pi[None, :], math.inf)
        dual = shifted.min(axis=1).sum() + float(capacity @ pi)
        scale = np.abs(cost[np.arange(cost.shape[0]), sink]).sum() + 1.0
        assert dual == pytest.approx(value, rel=1e-9, abs=1e-9 * scale)
        checked += 1
    assert checked >= 50


def test_infeasible_cases_return_inf_and_none():
    """A row with every cell forbidden, too many rows allowed only on a small sink (Hall's
    condition fails), and capacities that do not sum to N: (inf, None)."""
    inf = math.inf
    assert solve_transport(np.array([[0.0, 1.0], [inf, inf]]), np.array([1, 1])) == (inf, None)
    cost = np.array([[0.0, inf], [1.0, inf], [2.0, 0.0]])
    assert solve_transport(cost, np.array([1, 2])) == (inf, None)
    assert solve_transport(np.zeros((3, 2)), np.array([1, 1])) == (inf, None)
    assert solve_transport(np.zeros((3, 2)), np.array([2, 2])) == (inf, None)
    # the same forbidden pattern with room where it is needed is feasible
    value, sink = solve_transport(cost, np.array([2, 1]))
    assert value == 1.0
    assert_array_equal(sink, [0, 0, 1])


def test_a_move_chain_is_found():
    """Row 2 can only go to sink 0 (full); the optimum moves row 0 from 0 to 1 and row 1 from 1
    to 2: a shortest path through two moves, value 1 + 1 + 0 = 2 (row order)."""
    inf = math.inf
    cost = np.array([[0.0, 1.0, inf], [inf, 0.0, 1.0], [0.0, inf, inf]])
    value, sink = solve_transport(cost, np.array([1, 1, 1]))
    assert_array_equal(sink, [1, 2, 0])
    assert value == 2.0


def test_empty_and_single_sink():
    """No rows: value 0 and an empty assignment; one sink: every row on it, value the column
    sum."""
    value, sink = solve_transport(np.zeros((0, 3)), np.zeros(3, dtype=np.int64))
    assert value == 0.0 and sink.shape == (0,)
    cost = np.array([[1.5], [2.0], [0.25]])
    value, sink = solve_transport(cost, np.array([3]))
    assert value == 3.75
    assert_array_equal(sink, [0, 0, 0])


def test_deterministic_with_ties_broken_by_lowest_index():
    """Same input, same arrays; with all costs equal, rows fill the sinks in index order (the
    lowest sink first, no row ever moved), and the input arrays are not modified."""
    rng = np.random.default_rng(3)
    cost, capacity = _instance(rng, "ties")
    cost[np.isinf(cost)] = 1.0
    kept = cost.copy(), capacity.copy()
    first = solve_transport(cost, capacity)
    second = solve_transport(cost.copy(), capacity.copy())
    assert first[0] == second[0]
    assert_array_equal(first[1], second[1])
    assert_array_equal(cost, kept[0])
    assert_array_equal(capacity, kept[1])
    value, sink = solve_transport(np.zeros((6, 3)), np.array([2, 1, 3]))
    assert value == 0.0
    assert_array_equal(sink, [0, 0, 1, 2, 2, 2])


def test_the_lowest_user_moves_among_equal_moves():
    """Rows 0 and 1 sit on sink 0 and both move to sink 1 at cost 1; row 2 fits only on sink 0,
    so one of them must move: the lower-indexed row 0 does."""
    cost = np.array([[0.0, 1.0], [0.0, 1.0], [0.0, math.inf]])
    value, sink = solve_transport(cost, np.array([2, 1]))
    assert value == 1.0
    assert_array_equal(sink, [1, 0, 0])


@pytest.mark.parametrize("cost, capacity, field", [
    (np.array([[0.0, math.nan]]), np.array([1, 0]), "cost: contains NaN"),
    (np.array([[0.0, -math.inf]]), np.array([1, 0]), "cost: contains -inf"),
    (np.zeros(3), np.array([3]), "cost: must be a 2-D"),
    (np.array([["a"]]), np.array([1]), "cost: must be real"),
    (np.zeros((2, 2)), np.array([1, 1, 0]), "capacity: has 3 entries"),
    (np.zeros((2, 2)), np.array([[1, 1]]), "capacity: must be a 1-D"),
    (np.zeros((2, 2)), np.array([1.0, 1.0]), "capacity: must be integers"),
    (np.zeros((2, 2)), np.array([3, -1]), "capacity: contains a negative"),
])
def test_invalid_arguments_raise_a_value_error_naming_them(cost, capacity, field):
    """Each invalid argument raises ValueError whose message starts with its name."""
    with pytest.raises(ValueError, match=field):
        solve_transport(cost, capacity)
