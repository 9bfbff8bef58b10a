"""The fast greedy kernels take exactly the reference's decisions (docs/model.md sections 5 and 6).

Over a thousand random small instances, both interference models, several tau, and instances
built to tie: duplicated users, equal alphas, alpha = 0 and alpha = 1, servers identical and
users that see every server alike.
"""

import math

import numpy as np
import pytest
from numpy.testing import assert_array_equal

import goa
import instances
from goa import reference
from instances.arrays import kernel_arrays, law_args

TAUS = (0.0, 0.3, 0.6, 0.8, 0.9, 1.0)
USER_ARRAYS = ("user_xy_m", "prompt_bits", "tx_power_w", "local_flops", "local_workload_flop",
               "edge_workload_flop", "topk_probs", "alpha", "slm_correct", "llm_correct", "gain")


def tied(inst, rng):
    """A copy of ``inst`` rebuilt to be full of exact ties (each trick applied at random)."""
    n, m, k = inst.n_users, inst.n_servers, inst.top_k
    fields = {name: np.array(getattr(inst, name)) for name in USER_ARRAYS}
    servers = {}
    if rng.random() < 0.5:  # duplicated users: identical rows, ties across users
        rows = rng.integers(0, max(1, (n + 2) // 3), n)
        fields = {name: value[rows] for name, value in fields.items()}
    probs = fields["topk_probs"]
    special = rng.random(n)
    zero = np.zeros(k)
    zero[0] = 1.0                       # p1 - p2 = 1: alpha = 0
    one = np.zeros(k)
    one[:2] = 0.5                       # p1 = p2: alpha = 1
    probs[special < 0.15] = zero
    probs[(special >= 0.15) & (special < 0.3)] = one
    if rng.random() < 0.5:              # equal alphas: one shared top-k row
        probs[(special >= 0.3) & (special < 0.6)] = probs[int(rng.integers(n))]
    fields["alpha"] = 1.0 - (probs[:, 0] - probs[:, 1])
    if rng.random() < 0.5:              # identical servers, users that see them all alike
        servers["server_flops"] = np.full(m, inst.server_flops[0])
        alike = rng.random(n) < 0.5
        fields["gain"][alike] = fields["gain"][alike, :1]
    if rng.random() < 0.3:              # identical users' workloads: near-ties of e_ij
        fields["edge_workload_flop"][:] = fields["edge_workload_flop"][0]
    return inst.replace(**fields, **servers)


def random_instance(seed):
    """A random instance with N <= 40, M <= 6, either interference model, tied half the time."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 41))
    m = int(rng.integers(1, 7))
    interference = ("full", "none")[seed % 2]
    area = float(rng.choice([100.0, 500.0, 2000.0]))
    inst = instances.generate(n, m, seed=seed, interference=interference, area_m=area)
    if rng.random() < 0.5:
        inst = tied(inst, rng)
    return inst, float(rng.choice(TAUS))


def kernel_greedy(inst, weight, forced, optional, lazy):
    """The numba greedy called directly (no evaluation), as ``goa.solve`` calls it."""
    from goa import _kernels

    a = kernel_arrays(inst)
    return _kernels.greedy(forced, optional, lazy, a["signal_w"], a["prompt_bits"], a["work_flop"], a["local_s"],
                           np.array(weight, dtype=np.float64), a["bandwidth_hz"], a["flops"],
                           a["cap_flops"], a["noise_w"], law_args(a), a["full"])


def test_tied_instances_have_ties():
    """The tie builder really produces duplicate users, alpha = 0 and alpha = 1."""
    found = {"duplicate": False, "alpha0": False, "alpha1": False}
    for seed in range(40):
        inst = tied(instances.generate(30, 3, seed=seed), np.random.default_rng(seed))
        found["duplicate"] |= np.unique(inst.gain, axis=0).shape[0] < inst.n_users
        found["alpha0"] |= bool(np.any(inst.alpha == 0.0))
        found["alpha1"] |= bool(np.any(inst.alpha == 1.0))
    assert all(found.values()), found


@pytest.mark.parametrize("block", range(4))
def test_goa_kernels_equal_reference(block):
    """Lazy and scan GOA give the reference's assignment on 1,200 instances (300 per block)."""
    for seed in range(block * 300, (block + 1) * 300):
        inst, tau = random_instance(seed)
        expected = goa.reference_goa(inst, tau)
        forced = inst.forced(tau)
        everyone = np.ones(inst.n_users, bool)
        for lazy in (True, False):
            got = kernel_greedy(inst, inst.alpha, forced, everyone, lazy)
            assert_array_equal(got, expected, err_msg=f"seed {seed}, tau {tau}, lazy {lazy}")


@pytest.mark.parametrize("method", ["edge_all", "random", "dmin"])
def test_baseline_kernels_equal_reference(method):
    """goa.solve's edge_all, random and d-min equal their references on 300 instances each."""
    for seed in range(10_000, 10_300):
        inst, tau = random_instance(seed)
        if method == "edge_all":
            expected = reference.reference_edge_all(inst)
        elif method == "random":
            expected = reference.reference_random(inst, tau, seed=seed)
        else:
            expected = reference.reference_dmin(inst)
        for kernel in ("lazy", "scan"):
            got = goa.solve(inst, tau, method, seed=seed, kernel=kernel).assignment
            assert_array_equal(got, expected, err_msg=f"{method} seed {seed} {kernel}")


def test_solve_reference_kernel_is_the_reference():
    """kernel="reference" runs the plain-Python greedy and gives the fast kernel's answer."""
    inst = instances.generate(30, 4, seed=5)
    for method in ("goa", "edge_all", "random", "dmin"):
        slow = goa.solve(inst, 0.7, method, seed=3, kernel="reference")
        fast = goa.solve(inst, 0.7, method, seed=3)
        assert_array_equal(slow.assignment, fast.assignment)
        assert slow.params["kernel"] == "reference"


def test_larger_instances_equal_reference():
    """At N = 150..300, M up to 12, lazy and scan still equal the reference (both models)."""
    for seed, (n, m) in enumerate([(150, 12), (300, 4), (200, 8)]):
        for interference in ("full", "none"):
            inst = instances.generate(n, m, seed=seed, interference=interference,
                                      area_m=500.0 * math.sqrt(m / 4))
            expected = goa.reference_goa(inst, 0.8)
            for kernel in ("lazy", "scan"):
                assert_array_equal(goa.solve(inst, 0.8, kernel=kernel).assignment, expected)


def test_delta_never_decreases():
    """The lazy heap's premise: every delta_ij only grows as users are placed (both models)."""
    from goa import _kernels

    for seed in range(20):
        inst = instances.generate(25, 4, seed=seed, interference=("full", "none")[seed % 2])
        a = kernel_arrays(inst)
        data = (a["signal_w"], a["prompt_bits"], a["work_flop"], a["local_s"], np.array(inst.alpha),
                a["bandwidth_hz"], a["flops"], a["cap_flops"], a["noise_w"], law_args(a))
        assignment = np.full(inst.n_users, -1, np.int64)
        loads = np.zeros(inst.n_servers, np.int64)
        interf = np.zeros(inst.n_servers)
        rng = np.random.default_rng(seed)
        order = rng.permutation(inst.n_users)

        def deltas():
            return np.array([[_kernels._delta(i, j, *data, loads, interf)
                              for j in range(inst.n_servers)] for i in range(inst.n_users)])

        before = deltas()
        for i in order:
            _kernels._place(i, int(rng.integers(inst.n_servers)), a["signal_w"], a["full"],
                            assignment, loads, interf)
            after = deltas()
            assert np.all(after >= before)
            before = after
