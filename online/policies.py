"""Policies: where each arriving query runs. A policy is an object with one method,
``decide(state, arrivals) -> places`` (-1 local, j the ES), so users add their own by
subclassing :class:`Policy`.

Every policy here is deterministic: the same state and arrivals give the same places.
"""

from __future__ import annotations

import numpy as np

from instances import check_tau
from instances.starts import planner_methods, registered_planner

from .snapshot import check_planning_law, planning_law, snapshot


class Policy:
    """Decide where arriving queries run.

    Subclass it and implement :meth:`decide`; ``name`` labels the policy in records and tables.
    """

    name = "policy"

    def decide(self, state, arrivals) -> np.ndarray:
        """Places of the arrivals: an integer vector of length ``len(arrivals)``, ``-1`` to
        answer on the device, ``j`` to offload to ES j.

        Parameters
        ----------
        state : online.State
            The live system (read only): ``time_s``, ``instance``, ``tau``, ``uploading`` and
            ``computing`` per ES, ``backlog_s`` per device, ``in_flight()``.
        arrivals : online.Arrivals
            The queries to place: ``query``, ``user``, ``alpha``, ``prompt_bits``,
            ``local_workload_flop``, ``edge_workload_flop``.
        """
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


class LocalAll(Policy):
    """Every query on its device."""

    name = "local_all"

    def decide(self, state, arrivals) -> np.ndarray:
        return np.full(len(arrivals), -1, dtype=np.int64)


def least_loaded(state, arrivals, mask) -> np.ndarray:
    """For the arrivals where ``mask`` holds: the ES with the least estimated delay at the live
    load (upload alone at ``u_j + 1`` uploads, compute at ``n_j + 1`` queries), counting the
    batch's earlier choices; -1 elsewhere. A placement rule, not a reported delay."""
    inst = state.instance
    places = np.full(len(arrivals), -1, dtype=np.int64)
    rows = [r for r, offload in enumerate(np.asarray(mask).tolist()) if offload]
    if not rows:
        return places
    # plain floats: M is small, and this runs at every arrival
    uploading = state.uploading.tolist()
    computing = state.computing.tolist()
    cap, flops = inst.server_cap_flops.tolist(), inst.server_flops.tolist()
    servers = range(len(cap))
    for r in rows:
        user = int(arrivals.user[r])
        # interference-free upload seconds per bit at load 1 (Instance.comm_per_load_s)
        per_bit = (inst.comm_per_load_s[user] / inst.prompt_bits[user]).tolist()
        bits, work = float(arrivals.prompt_bits[r]), float(arrivals.edge_workload_flop[r])
        estimate = [bits * per_bit[j] * (uploading[j] + 1)
                    + work / min(cap[j], flops[j] / (computing[j] + 1)) for j in servers]
        j = min(servers, key=estimate.__getitem__)  # the first of equal estimates, as argmin
        places[r] = j
        uploading[j] += 1
        computing[j] += 1
    return places


class EdgeAll(Policy):
    """Every query offloaded, each to the ES of least estimated delay at the live load."""

    name = "edge_all"

    def decide(self, state, arrivals) -> np.ndarray:
        return least_loaded(state, arrivals, np.ones(len(arrivals), dtype=bool))


class Threshold(Policy):
    """Queries with alpha > tau offloaded (to the ES of least estimated delay at the live
    load), the others on their device. ``tau`` None: the run's tau."""

    name = "threshold"

    def __init__(self, tau: float | None = None):
        self.tau = None if tau is None else check_tau(tau)

    def decide(self, state, arrivals) -> np.ndarray:
        tau = state.tau if self.tau is None else self.tau
        return least_loaded(state, arrivals, arrivals.alpha > tau)


def _planner(method: str, solver):
    """The planning function of a solver policy: ``solver`` if given, else the one registered
    for ``method`` in :mod:`instances.starts` (``import goa`` registers goa's methods)."""
    if solver is not None:
        if not callable(solver):
            raise ValueError(f"solver: must be callable, got {solver!r}")
        return solver
    if not isinstance(method, str):
        raise ValueError(f"method: must be a method name, got {method!r}")
    plan = registered_planner(method)
    if plan is None:
        known = planner_methods()
        hint = (f"one of {', '.join(known)}" if known
                else "a registered method: `import goa` registers goa's methods")
        raise ValueError(f"method: no planner for {method!r}; must be {hint} (or pass "
                         f"solver=)")
    return plan


class Solve(Policy):
    """A heuristic of (P) at every decision, on the snapshot of the live state
    (:func:`online.snapshot.snapshot`: the arrivals plus the offloaded queries in flight,
    pinned to their ES), at the run's tau; the arrivals' part of the plan is applied.

    Parameters
    ----------
    method
        The method's name, looked up among the planners registered in :mod:`instances.starts`:
        ``import goa`` registers ``"goa"``, ``"goa_ls"`` and every other method of
        ``goa.solve`` for (P) (``online`` itself never imports ``goa``).
    seed
        The solver's seed (goa_ls).
    solver
        Instead of a registered method: any ``solver(instance, tau, seed, **options)`` returning
        an assignment (int, -1 local) over the snapshot's users.
    law
        The congestion law of the snapshot (:func:`online.snapshot.planning_law`): None (the
        default) the server's, "batched" on a batched run and "ps" otherwise; "ps" forces the
        paper's law (to compare, on a batched run; the name gets ``_pslaw``).
    **options
        Passed to the solver.
    """

    def __init__(self, method: str = "goa", seed: int = 0, solver=None, law: str | None = None,
                 **options):
        self._plan = _planner(method, solver)
        self.method, self.seed, self.options = method, seed, options
        self.law = check_planning_law(law)
        self.name = method + ("" if law is None else f"_{law}law")

    def decide(self, state, arrivals) -> np.ndarray:
        inst, _ = snapshot(state, arrivals, self.law)
        plan = self._plan(inst, tau=state.tau, seed=self.seed, **self.options)
        return np.asarray(plan[:len(arrivals)], dtype=np.int64)


class StaticPlan(Policy):
    """The static plan: a heuristic of (P) once on the instance (all N users, each with its
    query of the instance, as in the static problem), then every query of user i goes where
    the plan put user i; but the accuracy guard holds per query: a query with alpha > tau of a
    user the plan keeps local goes to the edge, placed as edge-all places it (the ES of least
    estimated delay at the live load).

    Parameters
    ----------
    method
        The solver of the snapshot, a registered method as in :class:`Solve` (``"goa_ls"`` by
        default, the best static plan we have; ``"goa"`` gives the paper's).
    seed
        The solver's seed.
    solver
        Instead of a registered method: any ``solver(instance, tau, seed)`` returning an
        assignment.
    guard
        ``True`` (default): the per-query guard above. ``False``: the plan's place for every
        query whatever its alpha (its summary then counts the ``guard_violations``).
    law
        The congestion law of the plan, as in :class:`Solve` (None: the server's).
    """

    def __init__(self, method: str = "goa_ls", seed: int = 0, solver=None, guard: bool = True,
                 law: str | None = None):
        self._plan = _planner(method, solver)
        self.method, self.seed, self.guard = method, seed, bool(guard)
        self.law = check_planning_law(law)
        self.name = (f"static_{method}" + ("" if self.guard else "_unguarded")
                     + ("" if law is None else f"_{law}law"))
        self._plans: dict = {}
        self._planned: dict = {}  # id(instance) -> (instance, that instance under the plan's law)

    def plan(self, instance, tau: float) -> np.ndarray:
        """The static plan of ``instance`` at ``tau`` (solved once, then cached)."""
        key = (id(instance), tau)
        if key not in self._plans:
            plan = self._plan(instance, tau=tau, seed=self.seed)
            self._plans[key] = (instance, np.asarray(plan, dtype=np.int64))
        return self._plans[key][1]

    def planning_instance(self, state):
        """The run's instance under the plan's law (:func:`online.snapshot.planning_law` for its
        N users; the instance itself under "ps"), built once per instance."""
        key = id(state.instance)
        if key not in self._planned:
            law = planning_law(state, state.instance.n_users, self.law)
            same = not law.is_table and not state.instance.law.is_table
            inst = state.instance if same else state.instance.with_law(law)
            self._planned[key] = (state.instance, inst)
        return self._planned[key][1]

    def decide(self, state, arrivals) -> np.ndarray:
        places = self.plan(self.planning_instance(state), state.tau)[arrivals.user]
        if self.guard:
            uncertain = (places < 0) & (arrivals.alpha > state.tau)
            if uncertain.any():
                places = np.where(uncertain, least_loaded(state, arrivals, uncertain), places)
        return places


#: The built-in policies by name (a factory each; ``"goa"``/``"goa_ls"`` re-solve per decision).
POLICIES = {
    "local_all": LocalAll,
    "edge_all": EdgeAll,
    "threshold": Threshold,
    "goa": lambda: Solve("goa"),
    "goa_ls": lambda: Solve("goa_ls"),
    "static_goa": lambda: StaticPlan("goa"),
    "static_goa_ls": lambda: StaticPlan("goa_ls"),
}


def make_policy(policy) -> Policy:
    """A policy object from a name of :data:`POLICIES` or a :class:`Policy` (returned as is)."""
    if isinstance(policy, Policy):
        return policy
    if isinstance(policy, str) and policy in POLICIES:
        return POLICIES[policy]()
    if hasattr(policy, "decide") and callable(policy.decide):
        return policy
    raise ValueError(f"policy: must be a Policy or one of {', '.join(POLICIES)}, got {policy!r}")
