"""The GA baseline (docs/model.md section 6) and its jitted fitness."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import goa
import instances
from goa.solve import GA_DEFAULTS, total_delay_ms


@pytest.fixture(scope="module")
def inst30():
    """30 users, 3 servers, interference "full", in a 1 km area: room for the GA to improve."""
    return instances.generate(30, 3, seed=21, area_m=1000.0)


def test_paper_settings():
    """The defaults are the paper's: population 100, 5,000 generations, mutation 0.01, 6 elites,
    patience 200."""
    assert {k: GA_DEFAULTS[k] for k in ("population", "generations", "mutation", "elites",
                                        "patience")} == {
        "population": 100, "generations": 5000, "mutation": 0.01, "elites": 6, "patience": 200}


@pytest.mark.parametrize("model", ["full", "none"])
def test_fitness_equals_evaluate(model):
    """The jitted fitness equals instances.evaluate's total delay to 1e-12 relative."""
    rng = np.random.default_rng(0)
    for seed in range(40):
        n, m = int(rng.integers(1, 60)), int(rng.integers(1, 8))
        inst = instances.generate(n, m, seed=seed, interference=model)
        for _ in range(5):
            a = rng.integers(-1, m, n)
            assert_allclose(total_delay_ms(inst, a), instances.evaluate(inst, a).total_delay_ms,
                            rtol=1e-12)


def test_same_seed_same_result(inst30):
    """The same seed gives the same GA result, bit for bit."""
    first = goa.solve(inst30, 0.8, "ga", seed=5, generations=50)
    again = goa.solve(inst30, 0.8, "ga", seed=5, generations=50)
    assert_array_equal(first.assignment, again.assignment)
    assert first.info == again.info


def test_different_seeds_differ(inst30):
    """Different seeds start from different populations and (early on) end elsewhere."""
    results = [goa.solve(inst30, 0.8, "ga", seed=s, generations=3) for s in range(6)]
    assert len({r.info["best_initial_ms"] for r in results}) == 6
    assert len({tuple(r.assignment) for r in results}) >= 5


@pytest.mark.parametrize("model", ["full", "none"])
def test_never_worse_than_initial(model):
    """The GA's best is never worse than its best initial individual; with include_goa it is
    never worse than GOA; forced users are never local; its fitness is the evaluator's T."""
    for seed in range(6):
        inst = instances.generate(25, 3, seed=seed, interference=model)
        result = goa.solve(inst, 0.7, "ga", seed=seed, generations=60, patience=20)
        assert result.info["fitness_ms"] <= result.info["best_initial_ms"]
        assert result.is_feasible()
        assert_allclose(result.info["fitness_ms"], result.objective_ms, rtol=1e-12)
        seeded = goa.solve(inst, 0.7, "ga", seed=seed, generations=30, include_goa=True)
        goa_ms = total_delay_ms(inst, goa.solve(inst, 0.7).assignment)
        assert seeded.info["best_initial_ms"] <= goa_ms
        assert seeded.info["fitness_ms"] <= goa_ms


def test_stops_on_patience(inst30):
    """The GA stops after `patience` generations without improvement, else at `generations`."""
    short = goa.solve(inst30, 0.8, "ga", seed=1, generations=10_000, patience=5)
    assert short.info["generations"] < 10_000
    capped = goa.solve(inst30, 0.8, "ga", seed=1, generations=7, patience=1000)
    assert capped.info["generations"] == 7
    none = goa.solve(inst30, 0.8, "ga", seed=1, generations=0)
    assert none.info["generations"] == 0
    assert none.info["fitness_ms"] == none.info["best_initial_ms"]


def test_ga_improves_on_random_start(inst30):
    """With the paper's settings the GA improves a lot on its random initial population and
    gets within a few percent of GOA (or beats it)."""
    result = goa.solve(inst30, 0.8, "ga", seed=0)
    assert result.info["fitness_ms"] < 0.8 * result.info["best_initial_ms"]
    assert result.objective_ms <= 1.05 * goa.solve(inst30, 0.8).objective_ms
