"""GOA, the paper's greedy offloading algorithm, its baselines (docs/model.md sections 5 and 6)
and ``goa_ls``, a local search on the exact total delay (section 8.4, docs/local_search.md).

``goa.solve(instance, tau, method, seed, **options) -> Result``. The numba kernels compile on
first use (and are cached on disk), so ``import goa`` stays light.

``goa`` provides goa_ls as the warm start of (P) and acc_greedy as that of (P_A) to
:mod:`instances.starts`, where the exact methods (``formulations``, which never imports goa)
find them for ``warm_start="auto"``, and ``goa.solve`` as the planner of its (P) methods, which
``online``'s solver policies (which never import goa either) find by name. Importing the
package registers them (:func:`provide_starts`, :func:`provide_planners`); so do the entry
points of setup.cfg (groups ``llm_offloading.starts`` and ``llm_offloading.planners``), which
``instances.starts`` loads on the first look-up, so that nobody has to import ``goa`` first.
"""

from instances.result import Result as Result  # re-exported: the shared result shape
from instances.result import Status as Status
from instances.starts import register_planner, register_start

from .reference import reference_goa as reference_goa
from .solve import ACCURACY_METHODS as ACCURACY_METHODS
from .solve import METHODS as METHODS
from .solve import methods as methods
from .solve import solve as solve
from .registry import register_method as register_method
from .registry import registered_methods as registered_methods
from . import plugins as _plugins


def _goa_ls_start(instance, tau):
    """goa_ls's plan for (P): the warm start ``formulations.solve(warm_start="auto")`` uses."""
    return solve(instance, tau=tau, method="goa_ls").assignment


def _acc_greedy_start(instance, tau, min_accuracy):
    """acc_greedy's plan for (P_A): the warm start of the exact (P_A) solves."""
    from .accuracy import acc_greedy

    return acc_greedy(instance, tau, min_accuracy)[0]


def _planned_methods() -> tuple[str, ...]:
    """Every method of (P) goa.solve runs, the registered ones included."""
    return tuple(m for m in methods() if m not in ACCURACY_METHODS)


def provide_starts() -> None:
    """Register goa's warm starts in :mod:`instances.starts` (the entry point
    ``llm_offloading.starts: goa``)."""
    register_start("P", "goa_ls", _goa_ls_start)
    register_start("P_A", "acc_greedy", _acc_greedy_start)


def provide_planners() -> None:
    """Register ``goa.solve`` as the planner of every method of (P) in :mod:`instances.starts`,
    for consumers that must not import goa, online's policies (the entry point
    ``llm_offloading.planners: goa``)."""
    register_planner("goa", solve, _planned_methods)


_plugins.load_all()  # every heuristic of goa/plugins (and of the entry points) registers itself
provide_starts()
provide_planners()

__all__ = ["solve", "METHODS", "ACCURACY_METHODS", "Result", "Status", "reference_goa",
           "methods", "register_method", "registered_methods", "provide_starts",
           "provide_planners"]
