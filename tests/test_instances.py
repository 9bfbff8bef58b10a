"""The instance data model, the generator and the one evaluator (docs/model.md sections 1-3, 7)."""

import math

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import instances
from instances import InstanceError, evaluate, generate
from instances.generator import server_positions

from .hand import hand_instance


# --- the evaluator, by hand ------------------------------------------------------------------

def test_one_user_one_server_by_hand():
    """1 user, 1 ES: SNR 3 -> rate 2 Mb/s; 1000 B = 8000 bits -> 4 ms; 1e12/5e13 -> 20 ms."""
    inst = hand_instance(
        "full", user_xy_m=[[0.0, 0.0]], prompt_bits=[8000.0], tx_power_w=[1.0],
        local_flops=[5e13], local_workload_flop=[1e12], edge_workload_flop=[1e12],
        topk_probs=[[0.6, 0.3, 0.1]], alpha=[0.7], slm_correct=[1.0], llm_correct=[0.0],
        server_xy_m=[[0.0, 5.0]], bandwidth_hz=[1e6], server_flops=[1e14],
        server_cap_flops=[5e13], gain=[[3e-9]])
    edge = evaluate(inst, [0])
    assert_allclose(edge.rate_bps, [2e6], rtol=1e-12)
    assert_allclose(edge.comm_s, [0.004], rtol=1e-12)
    assert_allclose(edge.comp_s, [0.020], rtol=1e-12)  # capped at C^max = 5e13, not C = 1e14
    assert_allclose(edge.delay_s, [0.024], rtol=1e-12)
    assert edge.total_delay_ms == pytest.approx(24.0, rel=1e-12)
    assert edge.accuracy_pct == 0.0 and edge.n_offloaded == 1
    local = evaluate(inst, [-1])
    assert_allclose(local.delay_s, [0.020], rtol=1e-12)
    assert local.accuracy_pct == 100.0 and local.n_offloaded == 0
    assert_array_equal(local.comm_s, [0.0])


def test_two_users_two_servers_full_interference_by_hand(hand):
    """User 0 on ES 0, user 1 on ES 1: each sees the other's power at its own ES.

    User 0: SINR = 9e-9 / (1e-9 + 1 * 2e-9) = 3 -> rate 1e6 * log2 4 = 2e6 -> 8000 / 2e6 = 4 ms.
    User 1: SINR = 14e-9 / (1e-9 + 1 * 1e-9) = 7 -> rate 3e6 -> 12000 / 3e6 = 4 ms.
    Compute: 1e12 / 5e13 = 20 ms, 2e12 / 5e13 = 40 ms. Total 68 ms.
    """
    ev = evaluate(hand, [0, 1], tau=0.8)
    assert_allclose(ev.rate_bps, [2e6, 3e6], rtol=1e-12)
    assert_allclose(ev.comm_s, [0.004, 0.004], rtol=1e-12)
    assert_allclose(ev.comp_s, [0.020, 0.040], rtol=1e-12)
    assert ev.total_delay_ms == pytest.approx(68.0, rel=1e-12)
    assert ev.mean_delay_ms == pytest.approx(34.0, rel=1e-12)
    assert_array_equal(ev.loads, [1, 1])
    assert ev.accuracy_pct == 50.0  # LLM: user 0 wrong, user 1 right
    assert ev.feasible is True and ev.violators.size == 0


def test_two_users_two_servers_no_interference_by_hand(hand_none):
    """Model "none": user 0 SNR 9 -> 1e6 log2 10; user 1 SNR 14 -> 1e6 log2 15."""
    ev = evaluate(hand_none, [0, 1])
    assert_allclose(ev.rate_bps, [1e6 * math.log2(10.0), 1e6 * math.log2(15.0)], rtol=1e-12)
    assert_allclose(ev.comm_s, [8000 / (1e6 * math.log2(10.0)), 12000 / (1e6 * math.log2(15.0))],
                    rtol=1e-12)
    assert ev.feasible is None and ev.violators is None


def test_shared_cell_splits_bandwidth_and_sees_no_own_cell_interference(hand):
    """Both users on ES 0: each gets B/2, no interference (same cell), compute C/2 = 5e13."""
    ev = evaluate(hand, [0, 0])
    assert_allclose(ev.rate_bps, [0.5e6 * math.log2(10.0), 0.5e6 * math.log2(3.0)], rtol=1e-12)
    assert_allclose(ev.comp_s, [1e12 / 5e13, 2e12 / 5e13], rtol=1e-12)
    assert_array_equal(ev.loads, [2, 0])


def test_compute_cap_and_equal_split():
    """C_j / n_j below the cap wins: C = 6e13 with 2 users gives 3e13 each; 1 user is capped."""
    inst = hand_instance("full", server_flops=[6e13, 6e13])
    two = evaluate(inst, [0, 0])
    assert_allclose(two.comp_s, [1e12 / 3e13, 2e12 / 3e13], rtol=1e-12)
    one = evaluate(inst, [0, -1])
    assert_allclose(one.comp_s, [1e12 / 5e13, 0.0], rtol=1e-12)


def test_mixed_local_and_edge(hand):
    """User 0 local (20 ms), user 1 alone on ES 1 with no interference: SINR 14."""
    ev = evaluate(hand, [-1, 1], tau=0.8)
    expected_1 = 12000 / (1e6 * math.log2(15.0)) + 0.040
    assert_allclose(ev.delay_s, [0.020, expected_1], rtol=1e-12)
    assert_allclose(ev.local_s, [0.020, 0.0])
    assert ev.total_local_ms == pytest.approx(20.0)
    assert ev.accuracy_pct == 100.0  # SLM right on user 0, LLM right on user 1


def test_accuracy_guard_reports_violators(hand):
    """alpha = (0.7, 0.95): with tau = 0.8 user 1 must be offloaded; tau = 1 frees everyone."""
    ev = evaluate(hand, [0, -1], tau=0.8)
    assert ev.feasible is False
    assert_array_equal(ev.violators, [1])
    assert evaluate(hand, [-1, -1], tau=1.0).feasible is True
    assert_array_equal(evaluate(hand, [-1, -1], tau=0.5).violators, [0, 1])


def test_evaluator_on_generated_instance_matches_direct_loops():
    """A slow per-user loop of docs/model.md section 3 agrees with the vectorised evaluator."""
    inst = generate(30, 3, seed=5)
    rng = np.random.default_rng(0)
    for interference in ("full", "none"):
        inst_i = inst.replace(interference=interference)
        a = rng.integers(-1, 3, 30)
        ev = evaluate(inst_i, a)
        for i in range(30):
            if a[i] < 0:
                assert ev.delay_s[i] == pytest.approx(inst.local_workload_flop[i] / inst.local_flops[i])
                continue
            j = a[i]
            n_j = int(np.sum(a == j))
            interf = 0.0
            if interference == "full":
                interf = sum(inst.tx_power_w[k] * inst.gain[k, j] for k in range(30)
                             if k != i and a[k] >= 0 and a[k] != j)
            sinr = inst.tx_power_w[i] * inst.gain[i, j] / (
                inst.noise_psd_w_hz * inst.bandwidth_hz[j] + interf)
            rate = inst.bandwidth_hz[j] / n_j * math.log2(1 + sinr)
            comp = inst.edge_workload_flop[i] / min(inst.server_cap_flops[j],
                                                    inst.server_flops[j] / n_j)
            assert ev.delay_s[i] == pytest.approx(inst.prompt_bits[i] / rate + comp, rel=1e-12)


@pytest.mark.parametrize("bad, message", [
    ([0], "length"),
    ([0, 0, 0], "length"),
    ([0, 2], "outside -1..1"),
    ([-2, 0], "outside -1..1"),
    ([0.5, 0], "integers"),
    (["a", 0], "integers"),
    ([[0, 1]], "length"),
])
def test_malformed_assignment_is_a_clear_error(hand, bad, message):
    """Wrong length, out-of-range index, non-integers: a ValueError naming the assignment."""
    with pytest.raises(ValueError, match=f"assignment.*{message}"):
        evaluate(hand, bad)


def test_bad_tau_is_a_clear_error(hand):
    """tau outside [0, 1] or not a number is rejected by name."""
    for tau in (-0.1, 1.5, "x"):
        with pytest.raises(ValueError, match="tau"):
            evaluate(hand, [0, 1], tau=tau)


# --- the data model ----------------------------------------------------------------------------

@pytest.mark.parametrize("field, value, message", [
    ("prompt_bits", [8000.0], "shape"),
    ("gain", [[1e-9, 1e-9]], "shape"),
    ("prompt_bits", [8000.0, float("nan")], "NaN"),
    ("server_flops", [1e14, -1.0], "positive"),
    ("bandwidth_hz", [1e6, 0.0], "positive"),
    ("slm_correct", [1.5, 0.0], r"\[0, 1\]"),
    ("topk_probs", [[0.3, 0.6, 0.1], [0.5, 0.45, 0.05]], "sorted"),
    ("alpha", [0.7, 0.9], "1 - \\(p1 - p2\\)"),
    ("noise_psd_w_hz", float("inf"), "finite"),
    ("interference", "partial", "must be one of"),
    ("tx_power_w", "abc", "array of numbers"),
])
def test_invalid_instance_names_the_field(field, value, message):
    """Each validation failure raises InstanceError (a ValueError) naming the field."""
    with pytest.raises(InstanceError, match=f"{field}.*{message}|{message}.*{field}"):
        hand_instance(**{field: value})


def test_instance_is_immutable(hand):
    """Arrays are read-only and fields cannot be reassigned."""
    with pytest.raises(ValueError):
        hand.gain[0, 0] = 1.0
    with pytest.raises(AttributeError):
        hand.interference = "none"


# --- the generator ---------------------------------------------------------------------------

def test_same_seed_same_instance_bit_for_bit():
    """Every array of two generations with the same seed is identical; another seed differs."""
    a, b, c = generate(40, 3, seed=7), generate(40, 3, seed=7), generate(40, 3, seed=8)
    for name in instances.instance.ARRAY_FIELDS:
        assert getattr(a, name).tobytes() == getattr(b, name).tobytes(), name
    assert a.gain.tobytes() != c.gain.tobytes()


def test_paper_preset_values():
    """docs/model.md section 7: ES positions, B, P, N0, compute ranges, free-space gain scale."""
    inst = generate(2000, 4, seed=3)
    assert_array_equal(inst.server_xy_m, [[125, 125], [125, 375], [375, 125], [375, 375]])
    assert_array_equal(inst.bandwidth_hz, 100e6)
    assert_array_equal(inst.tx_power_w, 0.2)
    assert inst.noise_psd_w_hz == 4e-21 and inst.carrier_hz == 3.5e9
    assert_array_equal(inst.server_cap_flops, 1513e12)
    assert np.all((inst.local_flops >= 0.5 * 91.06e12) & (inst.local_flops <= 1.5 * 91.06e12))
    assert np.all((inst.server_flops >= 0.6 * 15130e12) & (inst.server_flops <= 1.4 * 15130e12))
    assert np.all((inst.user_xy_m >= 0) & (inst.user_xy_m <= 500))
    # gain / path loss is |z|^2 ~ Exp(1): mean 1
    d = np.maximum(np.linalg.norm(inst.user_xy_m[:, None] - inst.server_xy_m[None], axis=2), 1)
    fading = inst.gain / (299_792_458.0 / (4 * math.pi * 3.5e9 * d)) ** 2
    assert fading.mean() == pytest.approx(1.0, abs=0.05)
    # bits, not bytes: whole bytes times 8
    assert_array_equal(inst.prompt_bits % 8, 0)
    assert_allclose(inst.edge_workload_flop / inst.local_workload_flop, 6.0)


def test_server_grid_for_any_m():
    """M servers on a regular grid inside the area, distinct; M = 1 sits at the centre."""
    assert_array_equal(server_positions(1, 500.0), [[250.0, 250.0]])
    for m in (2, 3, 5, 9, 16, 64, 100):
        xy = server_positions(m, 1000.0)
        assert xy.shape == (m, 2)
        assert len({tuple(p) for p in xy}) == m
        assert np.all((xy > 0) & (xy < 1000.0))


def test_overrides_by_name_and_recorded():
    """Any preset value can be overridden by name; the override is kept in provenance."""
    inst = generate(10, 2, seed=1, area_m=2000.0, bandwidth_hz=20e6, interference="none")
    assert inst.area_m == 2000.0 and np.all(inst.bandwidth_hz == 20e6)
    assert inst.interference == "none"
    assert inst.provenance["overrides"] == {"area_m": 2000.0, "bandwidth_hz": 20e6}
    assert inst.provenance["seed"] == 1 and inst.provenance["preset"] == "paper"
    assert inst.provenance["format_version"] == instances.FORMAT_VERSION


@pytest.mark.parametrize("kwargs, field", [
    (dict(n_users=0), "n_users"),
    (dict(n_users=5, n_servers=0), "n_servers"),
    (dict(n_users=5, seed=-1), "seed"),
    (dict(n_users=5, preset="nope"), "preset"),
    (dict(n_users=5, interference="half"), "interference"),
    (dict(n_users=5, bandwith_hz=1.0), "bandwith_hz"),
    (dict(n_users=5, area_m=-1.0), "area_m"),
    (dict(n_users=5, top_k=1.0), "top_k"),
    (dict(n_users=5, profile="/no/such/trace.jsonl"), "profile"),
])
def test_generator_rejects_bad_arguments_by_name(kwargs, field):
    """A bad generator argument is an InstanceError naming it."""
    with pytest.raises(InstanceError, match=field):
        generate(**kwargs)
