"""The two task phases of ``python -m benchmarks.pareto`` (run on the executor layer): every
heuristic plan and the first part of the exact front per instance (:func:`heuristics_task`),
then the rest of the front under "none" by (P_A) solves (:func:`front_task`).

A task is plain data (scenario, seed, options; the supported front as lists), so that any
worker runs it; what it returns are CSV rows.
"""

from __future__ import annotations

import time

import numpy as np

SERVERS = 4
TAUS = tuple(np.round(np.linspace(0.0, 1.0, 21), 2))
RANDOM_TAU = 0.8


def _instance(interference: str, n: int, seed: int):
    import instances

    return instances.generate(n, SERVERS, seed=seed, interference=interference)


def _row(inst, seed, method, result=None, evaluation=None, tau=None, min_accuracy=None,
         status="feasible", runtime=None, bound=None) -> dict:
    ev = result.evaluation if result is not None else evaluation
    return {"interference": inst.interference, "n_users": inst.n_users,
            "n_servers": inst.n_servers, "seed": seed, "method": method, "tau": tau,
            "min_accuracy": min_accuracy,
            "status": str(result.status) if result is not None else status,
            "objective_ms": ev.total_delay_ms,
            "bound_ms": result.bound_ms if result is not None else bound,
            "expected_accuracy_pct": ev.expected_accuracy_pct,
            "realized_accuracy_pct": ev.accuracy_pct, "n_offloaded": ev.n_offloaded,
            "runtime_s": result.runtime_s if result is not None else runtime}


def oracle_assignment(inst):
    """Offload exactly the queries the LLM answers right and the SLM wrong; place them by the
    unweighted greedy (the pair with the least e_ij - t^L_i first), everyone else local."""
    from goa.reference import reference_greedy

    chosen = (inst.llm_correct > 0.5) & (inst.slm_correct < 0.5)
    return reference_greedy(inst, np.ones(inst.n_users), chosen,
                            np.zeros(inst.n_users, dtype=bool))


def levels_of(lo: float, hi: float, count: int) -> np.ndarray:
    """The front grid: ``count`` values from ``lo`` to ``hi`` (the last one exactly ``hi``)."""
    return np.linspace(lo, hi, count) if count > 1 else np.array([hi])


def heuristics_task(task: tuple) -> dict:
    """One instance: every heuristic plan and the exact front's first part: under "full" the
    whole staircase (subset search), under "none" the supported points.

    Returns {"rows": [...], "levels": [...], "probes": [...], "queries": (p_slm, p_llm, slm,
    llm)}; ``probes`` ("none" only): what :func:`front_task` still has to do, see
    :func:`_probes`.
    """
    import goa
    import instances
    from formulations.front import exact_front, supported_front
    from instances.calibration import max_expected_accuracy_pct

    interference, n, seed, n_levels, time_limit, exact_points = task
    inst = _instance(interference, n, seed)
    rows = []
    for tau in TAUS:
        rows.append(_row(inst, seed, "goa", goa.solve(inst, tau=float(tau), method="goa"),
                         tau=float(tau)))
    rows.append(_row(inst, seed, "dmin", goa.solve(inst, tau=1.0, method="dmin")))
    rows.append(_row(inst, seed, "random",
                     goa.solve(inst, tau=RANDOM_TAU, method="random", seed=seed), tau=RANDOM_TAU))
    rows.append(_row(inst, seed, "local_all", goa.solve(inst, tau=1.0, method="local_all")))
    rows.append(_row(inst, seed, "edge_all", goa.solve(inst, tau=1.0, method="edge_all")))
    started = time.perf_counter()
    oracle = oracle_assignment(inst)
    rows.append(_row(inst, seed, "oracle", evaluation=instances.evaluate(inst, oracle),
                     runtime=time.perf_counter() - started, status="oracle"))

    hi = max_expected_accuracy_pct(inst)
    probes = []
    if interference == "full":
        front = exact_front(inst, time_limit=time_limit)
        lo = float(front.accuracy_pct[0])
        levels = levels_of(lo, hi, n_levels)
        status = "optimal" if front.complete else "time_limit"
        for level in levels:
            k = int(np.searchsorted(front.accuracy_pct, level - 1e-9))
            row = _row(inst, seed, "front", evaluation=instances.evaluate(
                inst, front.assignments[k]), min_accuracy=float(level), status=status,
                runtime=front.runtime_s)
            rows.append(row)
        for k in range(front.accuracy_pct.size):  # the corners themselves
            rows.append(_row(inst, seed, "front_corner", evaluation=instances.evaluate(
                inst, front.assignments[k]), min_accuracy=float(front.accuracy_pct[k]),
                status=status, runtime=front.runtime_s))
    else:
        front = supported_front(inst, time_limit=time_limit)
        lo = float(front.accuracy_pct[0])
        levels = levels_of(lo, hi, n_levels)
        for k in range(front.accuracy_pct.size):
            accuracy = float(front.accuracy_pct[k])
            rows.append(_row(inst, seed, "front_supported", evaluation=instances.evaluate(
                inst, front.assignments[k]), min_accuracy=accuracy,
                status="optimal" if front.proven[k] else "feasible", runtime=front.runtime_s,
                bound=float(front.bound_at(accuracy)[0])))
        probes = _probes(inst, seed, front, levels, rows, exact_points)
    for level in levels:
        rows.append(_row(inst, seed, "acc_greedy",
                         goa.solve(inst, tau=None, method="acc_greedy", min_accuracy=level),
                         min_accuracy=float(level)))
    queries = (inst.p_slm_correct, inst.p_llm_correct, inst.slm_correct, inst.llm_correct)
    return {"rows": rows, "levels": [float(v) for v in levels], "probes": probes,
            "queries": queries}


def _probes(inst, seed, front, levels, rows, exact_points) -> list:
    """The work left for :func:`front_task` ("none"); rows for the closed levels are appended
    to ``rows``. Returns [] or one task tail: (the supported front, GOA's levels, the open grid
    levels widest bracket first, the open levels' proven bounds, exact points still wanted).

    A grid level whose bracket is closed (the supported point reaching it meets the best cut
    there, to the MIP gap) is an optimum without a solve.
    """
    import instances
    from formulations.milp import DEFAULT_MIP_GAP

    lo, hi = float(front.accuracy_pct[0]), float(front.accuracy_pct[-1])
    goa_levels = sorted({r["expected_accuracy_pct"] for r in rows if r["method"] == "goa"
                         and lo < r["expected_accuracy_pct"] <= hi})
    upper, bound = front.delay_at(levels), front.bound_at(levels)
    closed = upper <= bound * (1.0 + DEFAULT_MIP_GAP)
    for k in np.flatnonzero(closed):
        j = int(np.searchsorted(front.accuracy_pct, levels[k] - 1e-9))
        rows.append(_row(inst, seed, "front", evaluation=instances.evaluate(
            inst, front.assignments[j]), min_accuracy=float(levels[k]), status="optimal",
            runtime=0.0, bound=float(bound[k])))
    open_levels = np.flatnonzero(~closed)
    # widest bracket first (ties: the lower level), deterministic
    open_levels = open_levels[np.lexsort((open_levels, -(upper - bound)[open_levels]))]
    wanted = exact_points - front.accuracy_pct.size - int(closed.sum())
    if not goa_levels and open_levels.size == 0:
        return []
    # plain data (the front as lists), so that the task can run in another process or machine
    return [(front.to_dict(), [float(level) for level in goa_levels],
             [float(level) for level in levels[open_levels]], int(wanted))]


def front_task(task: tuple) -> list[dict]:
    """The rest of one instance's front ("none"), by (P_A) solves in order
    (:func:`formulations.front.front_at`: warm start from the supported point, the cuts a
    bound): GOA's own accuracies always (then the delay the front saves there is exact); then
    the open grid levels, widest bracket first, while the instance has fewer than the wanted
    exact points; the rest are proven brackets (status "bounded": the supported point's plan,
    the cut as bound).

    An optimal plan at level L with expected accuracy A' gives F exactly on all of [L, A']
    (F is non-decreasing and the plan reaches every level up to A'): levels it covers need no
    solve.
    """
    import instances
    from formulations.front import SupportedFront, front_at

    interference, n, seed, front, goa_levels, grid, wanted, time_limit, max_nodes = task
    front = SupportedFront.from_dict(front)
    inst = _instance(interference, n, seed)
    exact = []  # (level, accuracy, row) of the optimal (P_A) results
    rows = []

    def covered(level):
        for low, high, row in exact:
            if low - 1e-9 <= level <= high + 1e-9:
                out = dict(row, min_accuracy=level, runtime_s=0.0)
                return out
        return None

    def solve(level):
        row = covered(level)
        if row is None:
            result = front_at(inst, front, level, time_limit=time_limit, max_nodes=max_nodes)
            row = _row(inst, seed, "front", result, min_accuracy=level)
            if result.status == instances.Status.OPTIMAL:
                exact.append((level, result.evaluation.expected_accuracy_pct, row))
        return row

    for level in goa_levels:
        rows.append(solve(level))
    for level in grid:
        if wanted > 0 or covered(level) is not None:
            row = solve(level)
            wanted -= row["status"] == "optimal"
        else:
            j = int(np.searchsorted(front.accuracy_pct, level - 1e-9))
            row = _row(inst, seed, "front", evaluation=instances.evaluate(
                inst, front.assignments[j]), min_accuracy=level, status="bounded",
                runtime=0.0, bound=float(front.bound_at(level)[0]))
        rows.append(row)
    return rows

