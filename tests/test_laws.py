"""Congestion laws (docs/model.md, "Congestion laws"): the law in the instance and its file, and
every consumer (evaluator, heuristics, exact backends, bounds) against independent ground truth.

Ground truth is brute force: every guard-feasible assignment of a tiny instance scored by
``instances.evaluate``, which prices a table law as ``a_ij + b_i h_j(n_j)`` directly.
"""

from __future__ import annotations

import itertools
import json

import numpy as np
import numpy.testing as npt
import pytest

import formulations
import goa
import instances
from instances import InstanceError, Law

NONE_BACKENDS = ("enumerate", "bnb", "loadvec", "highs")
NONE_MILPS = ("cbc", "scip", "cpsat")  # slower to start: every fourth case
FULL_BACKENDS = ("enumerate", "bnb", "loadbox")
SHAPES = ("constant", "steep", "flat_then_steep", "ties")


def random_law(inst, rng, shape: str) -> Law:
    """A random nondecreasing table law of one of the shapes, scaled to the instance's local
    delays so that offloading decisions are contested."""
    n, m = inst.n_users, inst.n_servers
    scale = float(np.median(inst.local_delay_s))
    counts = np.arange(1, n + 1, dtype=np.float64)
    if shape == "constant":
        h = np.repeat(rng.uniform(0.05, 0.6, (m, 1)) * scale, n, axis=1)
    elif shape == "steep":
        h = rng.uniform(0.02, 0.2, (m, 1)) * scale * counts[None, :] ** rng.uniform(2, 4, (m, 1))
    elif shape == "flat_then_steep":
        knee = rng.integers(1, n + 1, m)
        h = np.where(counts[None, :] <= knee[:, None], 0.1, 0.1 + 0.5 * (counts - knee[:, None]))
        h = h * scale * rng.uniform(0.5, 1.5, (m, 1))
    else:  # ties: equal rows, equal b, a = 0, steps that repeat
        row = np.repeat(rng.uniform(0.05, 0.4, (n + 1) // 2), 2)[:n] * scale
        h = np.tile(np.maximum.accumulate(row), (m, 1))
        return Law("table", a=np.zeros((n, m)), b=np.ones(n), h=h)
    a = np.where(rng.random((n, m)) < 0.5, 0.0, rng.uniform(0, 0.1, (n, m)) * scale)
    return Law("table", a=a, b=rng.uniform(0.3, 1.5, n), h=h)


def brute_force(inst, tau):
    """(min T in ms, its assignments' values) over every assignment that keeps the guard."""
    forced = inst.forced(tau)
    options = [range(inst.n_servers) if f else range(-1, inst.n_servers) for f in forced]
    return min(instances.evaluate(inst, a).total_delay_ms for a in itertools.product(*options))


def cases(interference: str, count: int, seed: int):
    """``count`` tiny instances (N 3-5, M 2-3) under random table laws of every shape."""
    rng = np.random.default_rng(seed)
    for k in range(count):
        n, m = int(rng.integers(3, 6)), int(rng.integers(2, 4))
        inst = instances.generate(n, m, seed=seed + k, interference=interference,
                                  area_m=float(rng.choice([300.0, 1500.0])))
        law = random_law(inst, rng, SHAPES[k % len(SHAPES)])
        yield k, inst.with_law(law), float(rng.choice([0.5, 0.8, 1.0]))


@pytest.mark.parametrize("interference,count,seed", [("none", 110, 100), ("full", 100, 500)])
def test_exact_backends_equal_brute_force_under_table_laws(interference, count, seed):
    """Every exact backend's optimum equals brute force under 210 random nondecreasing table
    laws in all (constant, steep, flat-then-steep h, ties; both interference models), and its
    bound is never above it."""
    checked = 0
    for k, inst, tau in cases(interference, count, seed):
        best = brute_force(inst, tau)
        backends = FULL_BACKENDS if interference == "full" else (
            NONE_BACKENDS + (NONE_MILPS if k % 4 == 0 else ()))
        for backend in backends:
            result = formulations.solve(inst, tau, backend=backend)
            assert result.status == instances.Status.OPTIMAL, (backend, k)
            npt.assert_allclose(result.objective_ms, best, rtol=1e-9, err_msg=f"{backend} {k}")
            if result.bound_ms is not None:  # cbc reports no bound
                assert result.bound_ms <= best * (1 + 1e-9), (backend, k)
            checked += 1
    assert checked >= 3 * count


def test_early_stopped_bounds_never_above_brute_force():
    """Stopped after a tiny work budget, bnb, enumerate, loadbox and loadvec report bounds that
    are never above the brute-force optimum under table laws (the bounds that use only h's
    monotonicity)."""
    stops = {"bnb": {"max_nodes": 3}, "enumerate": {"max_chunks": 1},
             "loadbox": {"max_boxes": 2}, "loadvec": {"max_load_vectors": 1}}
    for interference, seed, own in (("full", 900, "loadbox"), ("none", 950, "loadvec")):
        for k, inst, tau in cases(interference, 12, seed):
            best = brute_force(inst, tau)
            for backend in ("bnb", "enumerate", own):
                result = formulations.solve(inst, tau, backend=backend, **stops[backend])
                assert result.bound_ms <= best * (1 + 1e-9), (backend, k, interference)


def test_table_law_of_the_ps_formula_prices_as_ps():
    """The evaluator under Law("table") built from the ps formula (a = 0, b = W^E, h =
    max(1/C^max, n/C)) equals the "ps" evaluator to 1e-12 on random assignments, and GOA and
    the exact optimum agree."""
    rng = np.random.default_rng(3)
    for seed in range(6):
        inst = instances.generate(12, 3, seed=seed, interference=("full", "none")[seed % 2])
        table = inst.with_law(Law("table", *inst.law_tables()))
        for _ in range(20):
            a = rng.integers(-1, 3, 12)
            npt.assert_allclose(instances.evaluate(table, a).delay_s,
                                instances.evaluate(inst, a).delay_s, rtol=1e-12)
        npt.assert_allclose(table.alone_delay_s, inst.alone_delay_s, rtol=1e-12)
        npt.assert_array_equal(goa.solve(table, 0.8).assignment, goa.solve(inst, 0.8).assignment)


def test_goa_kernels_and_goa_ls_twin_agree_under_table_laws():
    """Under random table laws (a = 0 and a != 0), GOA's three greedy kernels take the same
    decisions, and goa_ls gives the same plan and total, bit for bit, as its plain-Python
    twin."""
    rng = np.random.default_rng(11)
    for k in range(12):
        inst = instances.generate(14, 3, seed=40 + k, interference=("full", "none")[k % 2])
        law = random_law(inst, rng, SHAPES[k % len(SHAPES)])
        if k % 3 == 0:
            law = Law("table", b=law.b, h=law.h)
        inst = inst.with_law(law)
        plans = [goa.solve(inst, 0.8, "goa", kernel=kern).assignment
                 for kern in ("lazy", "scan", "reference")]
        npt.assert_array_equal(plans[0], plans[1])
        npt.assert_array_equal(plans[0], plans[2])
        fast = goa.solve(inst, 0.8, "goa_ls", seed=k)
        twin = goa.solve(inst, 0.8, "goa_ls", seed=k, kernel="reference")
        npt.assert_array_equal(fast.assignment, twin.assignment)
        assert fast.objective_ms == twin.objective_ms


def test_goa_ls_caches_match_a_rebuild_under_a_table_law():
    """Under a table law with a != 0, every move and kick of goa_ls's twin keeps its caches
    (the fixed part with the a_ij, the cell costs) equal to a rebuild from scratch and its
    tracked total equal to the evaluator's T."""
    from goa import reference_ls
    from goa._ls_cells import law_cap
    from goa.solve import ls_targets
    from instances.arrays import kernel_arrays

    rng = np.random.default_rng(5)
    for k in range(4):
        inst = instances.generate(10, 3, seed=70 + k, interference=("full", "none")[k % 2])
        inst = inst.with_law(random_law(inst, rng, SHAPES[k % 3]))
        a = kernel_arrays(inst)
        cap = law_cap(a["law_a"], a["law_h"])  # the law as goa_ls's kernel and twin take it
        targets, is_target = ls_targets(inst, 8)
        start = goa.solve(inst, 0.8, "goa").assignment
        calls = []

        def check(state):
            fresh = reference_ls.State(state.a, state.full, state.side_q, a["signal_w"],
                                       a["prompt_bits"], a["law_b"], a["local_s"],
                                       a["bandwidth_hz"], a["flops"], cap, a["noise_w"])
            npt.assert_allclose(state.local, fresh.local, rtol=1e-9)
            npt.assert_allclose(state.cost, fresh.cost, rtol=1e-9, atol=1e-15)
            npt.assert_allclose(state.total(), instances.evaluate(inst, state.a).delay_s.sum(),
                                rtol=1e-9)
            calls.append(1)

        reference_ls.reference_local_search(
            start, inst.forced(0.8), targets, is_target, False, np.zeros(10), 0.0, 5, 3, 2, k,
            -1.0, np.zeros((0, 5), np.int64), np.zeros(0), a["signal_w"], a["prompt_bits"],
            a["law_b"], a["local_s"], a["bandwidth_hz"], a["flops"], cap, a["noise_w"], a["full"],
            on_move=check)
        assert calls


@pytest.mark.parametrize("change,field", [
    (dict(h=[[1.0, 2.0, 1.5]]), "law.h: row 0 decreases at n = 3"),
    (dict(h=[[1.0, np.nan, 2.0]]), "law.h: contains a NaN"),
    (dict(h=[[1.0, 2.0, 3.0]], b=[1.0, -1.0, 1.0]), "law.b: every value must be non-negative"),
    (dict(h=[[1.0, 2.0, 3.0]], a=[[0.0], [0.0]]), r"law.a: shape \(2, 1\)"),
    (dict(h=[1.0, 2.0]), "law.h: must be a 2-D array"),
    (dict(), "law.h: a table law needs h"),
])
def test_bad_table_laws_are_rejected_by_field(change, field):
    """A table law that is not finite, non-negative, nondecreasing or of the right shape is
    rejected with an error naming the field."""
    with pytest.raises(InstanceError, match=field):
        Law("table", **change)


def test_law_must_fit_the_instance_and_kind_is_checked():
    """A law of the wrong size for the instance, or an unknown kind, is rejected by name."""
    inst = instances.generate(4, 2, seed=0)
    with pytest.raises(InstanceError, match=r"law.h: shape \(2, 3\)"):
        inst.with_law(Law("table", h=np.ones((2, 3))))
    with pytest.raises(InstanceError, match="law.kind"):
        Law("mm1")
    with pytest.raises(InstanceError, match="law.a: the law 'ps' takes no arrays"):
        Law("ps", a=np.zeros((4, 2)))


def test_law_round_trips_through_the_file_and_the_fingerprint(tmp_path):
    """save()/load() keep a table law bit for bit (format version 3); the fingerprint covers the
    law; a version-2 file loads with the law "ps"."""
    inst = instances.generate(5, 2, seed=4)
    rng = np.random.default_rng(0)
    table = inst.with_law(random_law(inst, rng, "steep"))
    back = instances.load(instances.save(table, tmp_path / "t.json"))
    assert back.law.kind == "table" and back.fingerprint == table.fingerprint
    for name in ("a", "b", "h"):
        npt.assert_array_equal(getattr(back.law, name), getattr(table.law, name))
    assert table.fingerprint != inst.fingerprint
    doc = json.loads((tmp_path / "t.json").read_text())
    assert doc["version"] == 3 and doc["law"]["kind"] == "table"
    doc["version"] = 2
    del doc["law"]
    old = instances.io.from_dict(doc)
    assert old.law.kind == "ps" and old.fingerprint == inst.fingerprint


def test_generate_and_cli_take_a_law_file(tmp_path):
    """generate(law="table:PATH") and ``--law table:PATH`` read h (M rows, >= N columns), a and
    b optional; the drop is the same as under "ps"; a bad file is one line, exit 2."""
    from instances import cli

    path = tmp_path / "law.json"
    path.write_text(json.dumps({"h": [[0.01 * n for n in range(1, 9)]] * 2}))
    inst = instances.generate(5, 2, seed=7, law=f"table:{path}")
    assert inst.law.h.shape == (2, 5) and inst.provenance["law"] == f"table:{path}"
    npt.assert_array_equal(inst.gain, instances.generate(5, 2, seed=7).gain)
    out = tmp_path / "i.json"
    assert cli.main(["generate", "--users", "5", "--servers", "2", "--seed", "7", "--law",
                     f"table:{path}", "--out", str(out)]) == 0
    assert instances.load(out).fingerprint == inst.fingerprint
    path.write_text(json.dumps({"h": [[1.0, 0.5, 2.0, 3.0, 4.0]] * 2}))
    assert cli.main(["generate", "--users", "5", "--servers", "2", "--law", f"table:{path}",
                     "--out", str(tmp_path / "j.json")]) == 2
    assert not (tmp_path / "j.json").exists()


def test_accuracy_problem_backends_equal_brute_force_under_table_laws():
    """(P_A) under table laws: the exact backends (highs under "none", subsets) equal brute
    force over the plans that reach the expected accuracy, with a bound below it, and
    acc_greedy is never below it."""
    rng = np.random.default_rng(21)
    for k in range(8):
        inst = instances.generate(5, 2, seed=k, interference=("none", "full")[k % 2])
        inst = inst.with_law(random_law(inst, rng, SHAPES[k % len(SHAPES)]))
        target = float(np.mean([inst.p_slm_correct.mean(), inst.p_llm_correct.mean()])) * 100
        plans = [instances.evaluate(inst, a) for a in itertools.product(range(-1, 2), repeat=5)]
        best = min(e.total_delay_ms for e in plans if e.expected_accuracy_pct >= target - 1e-9)
        for backend in ("highs", "subsets") if k % 2 == 0 else ("subsets",):
            result = formulations.solve(inst, None, backend=backend, min_accuracy=target)
            npt.assert_allclose(result.objective_ms, best, rtol=1e-9, err_msg=f"{backend} {k}")
            assert result.bound_ms <= best * (1 + 1e-9)
        greedy = goa.solve(inst, None, "acc_greedy", min_accuracy=target)
        assert greedy.objective_ms >= best * (1 - 1e-12)


def test_gap_and_certified_take_a_law(tmp_path, capsys):
    """``benchmarks.gap --law table:PATH`` solves its instances under the file's law (the exact
    optimum in the CSV is the brute-force one under that law); a law file that decreases or is
    too short for the set's N is one line naming --law before anything runs, exit 2, in both
    ``benchmarks.gap`` and ``benchmarks.certified``."""
    from benchmarks import certified, gap
    from benchmarks.common import read_csv

    inst = instances.generate(5, 2, seed=3, interference="none")
    instances.save(inst, tmp_path / "i.json")
    law_file = tmp_path / "law.json"
    h = (np.arange(1, 6) ** 2 * 0.02 * float(np.median(inst.local_delay_s))).tolist()
    law_file.write_text(json.dumps({"h": [h, h]}))
    out = tmp_path / "gap"
    assert gap.main(["--instances", str(tmp_path / "i.json"), "--tau", "0.8", "--law",
                     f"table:{law_file}", "--no-plots", "--out", str(out)]) == 0
    exact = [r for r in read_csv(out / "gap.csv") if r["method"] == "exact"]
    best = brute_force(inst.with_law(Law("table", h=[h, h])), 0.8)
    npt.assert_allclose(float(exact[0]["objective_ms"]), best, rtol=1e-9)
    assert abs(float(exact[0]["objective_ms"]) - brute_force(inst, 0.8)) > 1e-6 * best
    capsys.readouterr()
    for h, message in (([[1.0, 0.5]], "--law: law.h: row 0 decreases at n = 2"),
                       ([[1.0, 2.0]] * 4, "--law: law.h: 2 columns, fewer than the N = ")):
        law_file.write_text(json.dumps({"h": h}))
        for main in (gap.main, certified.main):
            assert main(["--quick", "--law", f"table:{law_file}", "--out",
                         str(tmp_path / "x")]) == 2
            err = capsys.readouterr().err
            assert message in err and "Traceback" not in err and "tasks" not in err
    assert not (tmp_path / "x").exists()
