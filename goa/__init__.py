"""GOA, the paper's greedy offloading algorithm, its baselines (docs/model.md sections 5 and 6)
and ``goa_ls``, a local search on the exact total delay (section 8.4, docs/local_search.md).

``goa.solve(instance, tau, method, seed, **options) -> Result``. The numba kernels compile on
first use (and are cached on disk), so ``import goa`` stays light.
"""

from .reference import reference_goa as reference_goa
from instances.result import Result as Result  # re-exported: the shared result shape
from instances.result import Status as Status
from .solve import ACCURACY_METHODS as ACCURACY_METHODS
from .solve import METHODS as METHODS
from .solve import solve as solve

__all__ = ["solve", "METHODS", "ACCURACY_METHODS", "Result", "Status", "reference_goa"]
