"""Solving the count-indexed model (:mod:`formulations.model`) with CBC, HiGHS, SCIP or CP-SAT.

Each backend reads the same :class:`~formulations.model.CountModel`, takes an optional warm start
(an assignment inside the model), and returns an :class:`~formulations.outcome.Outcome` with its
own objective and its best bound, in milliseconds. The MILP backends stop at a relative gap of
``mip_gap`` (default 1e-7: every backend's optimum agrees to far better than 1e-6).
"""

from __future__ import annotations

import math
import os
import re
import tempfile

import numpy as np

from instances.result import Status

from ._highs import new_highs
from .model import MS_PER_S, CountModel
from .outcome import Outcome

DEFAULT_MIP_GAP = 1e-7
# CP-SAT works on integers: costs are floored to multiples of this (1 ns, in seconds).
DEFAULT_RESOLUTION_S = 1e-9
# CBC is killed this long after its time limit (it reads its clock only between phases).
_GRACE_S = 0.4


def highs_lp(model: CountModel):
    """The count model as a ``highspy.HighsLp`` (binary columns, rows passed row-wise, the
    objective's constant as its offset): what :func:`solve_highs` solves and what
    :mod:`formulations.export` writes."""
    import highspy

    lp = highspy.HighsLp()
    starts, cols, coefs, lo, hi = model.csr()
    lp.num_col_ = model.n_cols
    lp.num_row_ = model.n_rows
    lp.col_cost_ = model.cost_ms
    lp.col_lower_ = np.zeros(model.n_cols)
    lp.col_upper_ = np.ones(model.n_cols)
    lp.row_lower_ = lo
    lp.row_upper_ = hi
    lp.offset_ = model.offset_ms
    lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    lp.a_matrix_.start_ = starts
    lp.a_matrix_.index_ = cols.astype(np.int32)
    lp.a_matrix_.value_ = coefs
    lp.a_matrix_.num_col_ = model.n_cols
    lp.a_matrix_.num_row_ = model.n_rows
    lp.integrality_ = [highspy.HighsVarType.kInteger] * model.n_cols
    return lp


def solve_highs(model: CountModel, time_limit: float, warm, *, threads: int = 1,
                mip_gap: float = DEFAULT_MIP_GAP, seed: int = 0, max_nodes: int | None = None,
                highs_options: dict | None = None) -> Outcome:
    """HiGHS (highspy): the model passed row-wise in one call; ``setSolution`` for a warm start.
    ``max_nodes``: HiGHS's branch-and-bound node limit (``mip_max_nodes``), a work budget that
    does not depend on the machine. The status is HiGHS's own: its time limit TIME_LIMIT, its
    node limit (HiGHS reports it as "solution limit") WORK_LIMIT, any other stop UNKNOWN.
    ``highs_options``: further HiGHS options by name (e.g. heuristics off)."""
    import time

    import highspy

    entered = time.perf_counter()  # building the model counts against the limit
    h = new_highs()
    h.passModel(highs_lp(model))
    time_limit = max(time_limit - (time.perf_counter() - entered), 1e-3)
    for name, value in (("time_limit", time_limit), ("mip_rel_gap", mip_gap),
                        ("threads", int(threads)), ("random_seed", int(seed)),
                        ("mip_abs_gap", 0.0),
                        *((("mip_max_nodes", int(max_nodes)),) if max_nodes is not None else ()),
                        *(highs_options or {}).items()):
        h.setOptionValue(name, value)
    if warm is not None:
        solution = highspy.HighsSolution()
        solution.col_value = list(model.values(warm))
        solution.value_valid = True
        h.setSolution(solution)
    h.run()
    status = h.getModelStatus()
    info = h.getInfo()
    facts = {"nodes": int(info.mip_node_count), "n_cols": model.n_cols, "n_rows": model.n_rows}
    has_solution = info.primal_solution_status == 2  # kSolutionStatusFeasible
    bound = float(info.mip_dual_bound) if math.isfinite(info.mip_dual_bound) else None
    if status == highspy.HighsModelStatus.kInfeasible:
        return Outcome(None, Status.MODEL_INFEASIBLE, info=facts)
    stopped = {highspy.HighsModelStatus.kTimeLimit: Status.TIME_LIMIT,
               highspy.HighsModelStatus.kSolutionLimit: Status.WORK_LIMIT}.get(status,
                                                                                Status.UNKNOWN)
    if not has_solution:
        return Outcome(None, stopped, bound_ms=bound,
                       info={**facts, "error": f"HiGHS: {h.modelStatusToString(status)}"})
    values = np.asarray(h.getSolution().col_value)
    optimal = status == highspy.HighsModelStatus.kOptimal
    return Outcome(model.assignment(values), Status.OPTIMAL if optimal else stopped,
                   objective_ms=float(info.objective_function_value), bound_ms=bound, info=facts)


def solve_cbc(model: CountModel, time_limit: float, warm, *, threads: int = 1,
              mip_gap: float = DEFAULT_MIP_GAP, max_nodes: int | None = None) -> Outcome:
    """CBC, the binary bundled with PuLP, on the model written as an MPS file.

    PuLP's own modelling layer is bypassed: building 1e5 PuLP variables and writing them takes
    seconds, and PuLP waits for CBC without a timeout, while CBC reads its clock only between
    phases (its root LP on a large model can overrun ``-sec`` by many seconds). So the MPS file
    is written from the sparse matrix and CBC runs under a watchdog (killed at the time limit
    plus a grace of 0.4 s; the result is then TIME_LIMIT without a solution).

    ``max_nodes``: CBC's node limit (``-maxNodes``), a work budget that does not depend on the
    machine. The status is CBC's own final word (its log's ``Result -`` line): "Optimal
    solution found" OPTIMAL, "Stopped on time limit" TIME_LIMIT, "Stopped on node limit"
    WORK_LIMIT, any other stop UNKNOWN. The bound is the ``Lower bound:`` CBC prints when it
    stops early, rounded down by the precision it is printed with (six significant digits);
    CBC prints no bound with a proven optimum, so an OPTIMAL result has ``bound_ms`` None
    (``info["mip_gap"]`` says to what gap it is optimal): no bound is reported that CBC did not
    give.
    """
    import subprocess
    import time
    import warnings

    import pulp

    entered = time.perf_counter()  # writing the MPS file counts against the limit

    with warnings.catch_warnings():  # PuLP 3 deprecates PULP_CBC_CMD, still the bundled binary
        warnings.simplefilter("ignore", DeprecationWarning)
        binary = pulp.PULP_CBC_CMD().path
    facts = {"n_cols": model.n_cols, "n_rows": model.n_rows}
    with tempfile.TemporaryDirectory(prefix="cbc_") as tmp:
        mps, sol, mst = (os.path.join(tmp, name) for name in ("model.mps", "model.sol", "warm.sol"))
        _write_mps(model, mps)
        args = [binary, mps]
        if warm is not None:
            _write_cbc_solution(model.values(warm), mst)
            args += ["-mips", mst]
        limit = max(time_limit - (time.perf_counter() - entered), 0.01)
        args += ["-sec", f"{limit:.3f}", "-timeMode", "elapsed", "-ratio", f"{mip_gap:g}",
                 "-allow", "0", "-threads", str(int(threads))]
        if max_nodes is not None:
            args += ["-maxNodes", str(int(max_nodes))]
        args += ["-solve", "-printingOptions", "all", "-solution", sol]
        try:
            run = subprocess.run(args, capture_output=True, text=True, timeout=limit + _GRACE_S,
                                 stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            return Outcome(None, Status.TIME_LIMIT,
                           info={**facts, "error": "CBC: killed at the time limit"})
        log = run.stdout
        if run.returncode != 0 or not os.path.exists(sol):
            return Outcome(None, Status.ERROR,
                           info={**facts, "error": f"CBC: exit code {run.returncode}"})
        with open(sol) as f:
            header = f.readline()
            values = np.zeros(model.n_cols)
            for line in f:
                parts = line.replace("**", " ").split()
                if len(parts) >= 3 and parts[1].startswith("C"):
                    values[int(parts[1][1:])] = float(parts[2])
    nodes = re.search(r"Enumerated nodes:\s+(\d+)", log)
    if nodes:
        facts["nodes"] = int(nodes.group(1))
    result = re.search(r"^Result - (.*)$", log, re.MULTILINE)
    said = result.group(1).strip() if result else ""
    facts["cbc_result"] = said
    bound = _cbc_bound(log)
    if bound is not None:
        bound += model.offset_ms
    word = header.split()[0] if header.split() else ""
    if word in ("Infeasible", "Integer"):
        # measured: CBC 2.10 says "Integer infeasible" when its time limit cuts preprocessing
        # short, on models with a feasible point; the caller turns a claim of infeasibility of
        # (P), which always has a solution, into an error
        return Outcome(None, Status.MODEL_INFEASIBLE, info={**facts, "cbc_header": header.strip()})
    # "Stopped on time (no integer solution - continuous used)": the file holds the LP solution
    has_solution = (word == "Optimal" or "objective value" in header) \
        and "no integer solution" not in header
    optimal = said.startswith("Optimal solution found") and word == "Optimal"
    stopped = (Status.TIME_LIMIT if said.startswith("Stopped on time")
               else Status.WORK_LIMIT if said.startswith("Stopped on node") else Status.UNKNOWN)
    if not has_solution:
        status = stopped if word == "Stopped" else Status.ERROR
        return Outcome(None, status, bound_ms=bound,
                       info={**facts, "error": f"CBC: {header.strip()}"})
    objective = float(model.cost_ms @ values + model.offset_ms)
    if optimal:
        facts["mip_gap"] = mip_gap
    return Outcome(model.assignment(values), Status.OPTIMAL if optimal else stopped,
                   objective_ms=objective, bound_ms=bound, info=facts)


def _cbc_bound(log: str) -> float | None:
    """CBC's ``Lower bound:`` (without the objective's constant), rounded down by half a unit
    of its last printed digit, or None if CBC printed none."""
    found = re.search(r"^Lower bound:\s+([-+0-9.eE]+)\s*$", log, re.MULTILINE)
    if not found:
        return None
    text = found.group(1)
    value = float(text)
    mantissa = text.lower().split("e")[0]
    decimals = len(mantissa.split(".")[1]) if "." in mantissa else 0
    exponent = int(text.lower().split("e")[1]) if "e" in text.lower() else 0
    return value - 0.5 * 10.0 ** (exponent - decimals)


def _write_mps(model: CountModel, path: str) -> None:
    """The model in fixed MPS: columns C0000000.., rows R0000000..; every column binary. The
    objective's constant stays outside (CBC reports the objective without it)."""
    starts, cols, coefs, lo, hi = model.csr()
    kinds = np.where(lo == hi, "E", np.where(np.isfinite(hi), "L", "G"))
    rhs = np.where(kinds == "L", hi, lo)
    out = ["NAME          COUNTMODEL", "ROWS", " N  OBJ"]
    out += [f" {k}  R{r:07d}" for r, k in enumerate(kinds)]
    out.append("COLUMNS")
    out.append("    MARKER                 'MARKER'                 'INTORG'")
    order = np.argsort(cols, kind="stable")
    rows_of = np.repeat(np.arange(model.n_rows), np.diff(starts))[order]
    sorted_cols, sorted_coefs = cols[order], coefs[order]
    ends = np.searchsorted(sorted_cols, np.arange(model.n_cols + 1))
    for c in range(model.n_cols):
        name = f"C{c:07d}"
        if model.cost_ms[c] != 0.0:
            out.append(f"    {name}  OBJ       {model.cost_ms[c]:.17g}")
        out += [f"    {name}  R{rows_of[k]:07d}  {sorted_coefs[k]:.17g}"
                for k in range(ends[c], ends[c + 1])]
    out.append("    MARKER                 'MARKER'                 'INTEND'")
    out.append("RHS")
    out += [f"    RHS       R{r:07d}  {rhs[r]:.17g}" for r in np.flatnonzero(rhs != 0.0)]
    ranged = np.flatnonzero((kinds == "L") & np.isfinite(lo))
    if ranged.size:
        out.append("RANGES")
        out += [f"    RNG       R{r:07d}  {hi[r] - lo[r]:.17g}" for r in ranged]
    out.append("BOUNDS")
    out += [f" BV BND       C{c:07d}" for c in range(model.n_cols)]
    out.append("ENDATA")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def _write_cbc_solution(values: np.ndarray, path: str) -> None:
    """A MIP start in CBC's solution-file format (as PuLP writes it)."""
    lines = ["Stopped on time - objective value 0"]
    lines += [f"{c:>7} C{c:07d} {int(round(v)):>15} {0:>23}" for c, v in enumerate(values)]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def solve_scip(model: CountModel, time_limit: float, warm, *, threads: int = 1,
               mip_gap: float = DEFAULT_MIP_GAP, max_nodes: int | None = None) -> Outcome:
    """SCIP through OR-Tools' MathOpt (solver GSCIP); a solution hint for a warm start.

    ``max_nodes``: SCIP's node limit, a work budget that does not depend on the machine. The
    status is SCIP's own termination as MathOpt reports it: a proven optimum OPTIMAL; a stop
    at a limit TIME_LIMIT (the time limit) or WORK_LIMIT (the node limit); any other UNKNOWN.
    """
    import datetime
    import time

    from ortools.math_opt.python import mathopt

    entered = time.perf_counter()  # building the model counts against the limit
    mo = mathopt.Model.from_model_proto(_model_proto(model))
    variables = list(mo.variables())  # in column order (ids 0..n_cols-1)
    hints = None
    if warm is not None:
        hint = mathopt.SolutionHint(variable_values=dict(zip(
            variables, (float(v) for v in model.values(warm)))))
        hints = mathopt.ModelSolveParameters(solution_hints=[hint])
    limit_s = max(time_limit - (time.perf_counter() - entered), 0.01)
    params = mathopt.SolveParameters(
        time_limit=datetime.timedelta(seconds=limit_s), threads=int(threads), random_seed=0,
        relative_gap_tolerance=mip_gap, absolute_gap_tolerance=0.0,
        node_limit=None if max_nodes is None else int(max_nodes))
    result = mathopt.solve(mo, mathopt.SolverType.GSCIP, params=params,
                           model_params=hints)
    reason = result.termination.reason
    facts = {"nodes": int(result.solve_stats.node_count), "n_cols": model.n_cols,
             "n_rows": model.n_rows, "scip_termination": reason.name}
    if reason == mathopt.TerminationReason.INFEASIBLE:
        return Outcome(None, Status.MODEL_INFEASIBLE, info=facts)
    dual = result.termination.objective_bounds.dual_bound
    bound = float(dual) if math.isfinite(dual) else None
    if reason == mathopt.TerminationReason.OPTIMAL:
        status = Status.OPTIMAL
    elif reason in (mathopt.TerminationReason.FEASIBLE,
                    mathopt.TerminationReason.NO_SOLUTION_FOUND):
        limit = result.termination.limit
        facts["scip_limit"] = None if limit is None else limit.name
        status = {mathopt.Limit.TIME: Status.TIME_LIMIT,
                  mathopt.Limit.NODE: Status.WORK_LIMIT}.get(limit, Status.UNKNOWN)
    else:
        return Outcome(None, Status.ERROR,
                       info={**facts, "error": f"SCIP: {reason.name} "
                                               f"{result.termination.detail}".strip()})
    if not result.has_primal_feasible_solution():
        return Outcome(None, status, bound_ms=bound,
                       info={**facts, "error": f"SCIP: {reason.name}, no solution"})
    found = result.variable_values()
    values = np.array([found[v] for v in variables])
    return Outcome(model.assignment(values), status,
                   objective_ms=float(result.objective_value()), bound_ms=bound, info=facts)


def _model_proto(model: CountModel):
    """The count model as a MathOpt ModelProto, filled from its sparse rows in bulk (building it
    variable by variable through MathOpt's Python layer takes seconds at 5e4 columns)."""
    from ortools.math_opt import model_pb2

    proto = model_pb2.ModelProto(name="count_model")
    n = model.n_cols
    proto.variables.ids.extend(range(n))
    proto.variables.lower_bounds.extend([0.0] * n)
    proto.variables.upper_bounds.extend([1.0] * n)
    proto.variables.integers.extend([True] * n)
    nonzero = np.flatnonzero(model.cost_ms)
    proto.objective.offset = float(model.offset_ms)
    proto.objective.linear_coefficients.ids.extend(nonzero.tolist())
    proto.objective.linear_coefficients.values.extend(model.cost_ms[nonzero].tolist())
    starts, cols, coefs, lo, hi = model.csr()
    proto.linear_constraints.ids.extend(range(model.n_rows))
    proto.linear_constraints.lower_bounds.extend(np.asarray(lo, dtype=float).tolist())
    proto.linear_constraints.upper_bounds.extend(np.asarray(hi, dtype=float).tolist())
    rows = np.repeat(np.arange(model.n_rows), np.diff(starts))
    order = np.lexsort((cols, rows))  # MathOpt wants the entries sorted by row, then column
    matrix = proto.linear_constraint_matrix
    matrix.row_ids.extend(rows[order].tolist())
    matrix.column_ids.extend(np.asarray(cols)[order].tolist())
    matrix.coefficients.extend(np.asarray(coefs, dtype=float)[order].tolist())
    return proto


def solve_cpsat(model: CountModel, time_limit: float, warm, *, threads: int = 1,
                resolution_s: float = DEFAULT_RESOLUTION_S, seed: int = 0,
                max_deterministic_time: float | None = None) -> Outcome:
    """OR-Tools CP-SAT on integer costs: each cost (and the constant) floored to a multiple of
    ``resolution_s`` (default 1 ns).

    Flooring makes the scaled objective a lower estimate of the true one on every solution, so
    CP-SAT's bound divided back is a valid bound on the true optimum; the proven "optimum" is
    optimal up to (2N + 1) x resolution (each of its at most 2N + 1 costed terms lost less than
    one unit). The objective reported is re-evaluated exactly by the evaluator.
    """
    import time

    from ortools.sat.python import cp_model

    entered = time.perf_counter()  # building the model counts against the limit
    scale = 1.0 / (resolution_s * MS_PER_S)  # integer units per millisecond
    costs = np.floor(model.cost_ms * scale).astype(np.int64)
    offset = int(math.floor(model.offset_ms * scale))
    cp = cp_model.CpModel()
    variables = [cp.NewBoolVar(f"v{c}") for c in range(model.n_cols)]
    for cols, coefs, lo, hi in zip(model.row_cols, model.row_coefs, model.row_lo, model.row_hi):
        ints = np.round(coefs).astype(np.int64)  # the rows' coefficients are small integers
        expr = cp_model.LinearExpr.WeightedSum([variables[c] for c in cols], ints.tolist())
        if lo == hi:
            cp.Add(expr == int(lo))
        else:
            if math.isfinite(lo):
                cp.Add(expr >= int(lo))
            if math.isfinite(hi):
                cp.Add(expr <= int(hi))
    nonzero = np.flatnonzero(costs)
    cp.Minimize(cp_model.LinearExpr.WeightedSum([variables[c] for c in nonzero],
                                                costs[nonzero].tolist()) + offset)
    if warm is not None:
        for var, value in zip(variables, model.values(warm)):
            cp.AddHint(var, int(value))
    solver = cp_model.CpSolver()
    time_limit = max(time_limit - (time.perf_counter() - entered), 0.01)
    solver.parameters.max_time_in_seconds = time_limit
    if max_deterministic_time is not None:
        solver.parameters.max_deterministic_time = float(max_deterministic_time)
    solver.parameters.num_workers = int(threads)
    solver.parameters.random_seed = int(seed)
    # several workers interleaved in one deterministic schedule: the same answer on every run
    # (up to where the time limit stops it)
    solver.parameters.interleave_search = int(threads) > 1
    code = solver.Solve(cp)
    facts = {"nodes": int(solver.NumBranches()), "n_cols": model.n_cols, "n_rows": model.n_rows,
             "resolution_s": resolution_s}
    if code == cp_model.INFEASIBLE:
        return Outcome(None, Status.MODEL_INFEASIBLE, info=facts)
    bound = float(solver.BestObjectiveBound()) / scale
    response = solver.ResponseProto()
    facts["deterministic_time"] = float(response.deterministic_time)
    if max_deterministic_time is not None \
            and response.deterministic_time >= max_deterministic_time:
        stopped = Status.WORK_LIMIT
    elif response.wall_time >= time_limit:
        stopped = Status.TIME_LIMIT
    else:
        stopped = Status.UNKNOWN
    if code not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        status = stopped if code == cp_model.UNKNOWN else Status.ERROR
        return Outcome(None, status, bound_ms=bound,
                       info={**facts, "error": f"CP-SAT: {solver.StatusName(code)}"})
    values = np.array([solver.Value(v) for v in variables], dtype=float)
    return Outcome(model.assignment(values),
                   Status.OPTIMAL if code == cp_model.OPTIMAL else stopped,
                   objective_ms=float(solver.ObjectiveValue()) / scale, bound_ms=bound,
                   info=facts)
