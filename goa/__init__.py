"""GOA, the paper's greedy offloading algorithm, its baselines (docs/model.md sections 5 and 6)
and ``goa_ls``, a local search on the exact total delay (section 8.4, docs/local_search.md).

``goa.solve(instance, tau, method, seed, **options) -> Result``. The numba kernels compile on
first use (and are cached on disk), so ``import goa`` stays light.

Importing the package registers goa_ls as the warm start of (P) and acc_greedy as that of (P_A)
in :mod:`instances.starts`, where the exact methods (``formulations``, which never imports goa)
find them for ``warm_start="auto"``.
"""

from instances.result import Result as Result  # re-exported: the shared result shape
from instances.result import Status as Status
from instances.starts import register_start

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


_plugins.load_all()  # every heuristic of goa/plugins registers itself
register_start("P", "goa_ls", _goa_ls_start)
register_start("P_A", "acc_greedy", _acc_greedy_start)

__all__ = ["solve", "METHODS", "ACCURACY_METHODS", "Result", "Status", "reference_goa",
           "methods", "register_method", "registered_methods"]
