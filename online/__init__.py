"""Queries over time: a discrete-event simulator of the edge system (docs/online.md).

``online.simulate(instance, policy, rate_per_user_hz, duration_s, seed, ...) -> Simulation``
with one record per query; policies are objects with one method,
``decide(state, arrivals) -> places``.
"""

from .batched import SERVERS as SERVERS
from .batched import BatchedServer as BatchedServer
from .engine import Arrivals as Arrivals
from .engine import State as State
from .policies import POLICIES as POLICIES
from .policies import EdgeAll as EdgeAll
from .policies import LocalAll as LocalAll
from .policies import Policy as Policy
from .policies import Solve as Solve
from .policies import StaticPlan as StaticPlan
from .policies import Threshold as Threshold
from .queries import QueryStream as QueryStream
from .queries import draw_queries as draw_queries
from .records import BATCHED_COLUMNS as BATCHED_COLUMNS
from .records import COLUMNS as COLUMNS
from .records import Records as Records
from .records import summarize as summarize
from .simulate import Simulation as Simulation
from .simulate import run_queries as run_queries
from .simulate import simulate as simulate
from .snapshot import snapshot as snapshot

__all__ = ["simulate", "run_queries", "Simulation", "Records", "COLUMNS", "summarize",
           "QueryStream", "draw_queries", "Policy", "LocalAll", "EdgeAll", "Threshold", "Solve",
           "StaticPlan", "POLICIES", "State", "Arrivals", "snapshot", "BatchedServer", "SERVERS",
           "BATCHED_COLUMNS"]
