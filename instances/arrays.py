"""The instance as the numba kernels read it: the one builder of their arrays.

Every jitted kernel (goa's greedy, GA and local search; formulations' search, bounds and
subset search) takes plain arrays, never an :class:`~instances.Instance`. They all get them
from :func:`kernel_arrays`, so that the names, units and dtypes are the same everywhere.
"""

from __future__ import annotations

import numpy as np

from .instance import Instance, check_tau


def kernel_arrays(instance: Instance, tau: float | None = None) -> dict:
    """The instance's arrays for the kernels: fresh, writable, C-contiguous float64 copies
    (one numba signature whatever the caller holds), SI units.

    Keys: ``signal_w`` (N, M) P_i g_ij; ``prompt_bits`` D_i; ``work_flop`` W^E_i; ``local_s``
    t^L_i; ``bandwidth_hz`` B_j; ``flops`` C_j; ``cap_flops`` C^max_j; ``noise_w`` sigma^2_j;
    ``comm_per_load_s`` (N, M) (:attr:`Instance.comm_per_load_s`); ``alone_s`` (N, M)
    (:attr:`Instance.alone_delay_s`); ``full`` (bool) whether
    interference is "full"; the congestion law: ``law_table`` (bool) whether it is a table (else
    "ps", whose closed form the kernels keep), ``law_a`` (N, M), ``law_b`` (N,), ``law_h``
    (M, N) (:meth:`Instance.law_tables`: for "ps" its values, which the kernels do not read);
    and, given ``tau``, ``forced`` (bool, N) alpha_i > tau.

    Raises
    ------
    ValueError
        If ``tau`` is given and is not a number in [0, 1].
    """
    arrays = {
        "signal_w": np.array(instance.tx_power_w[:, None] * instance.gain, dtype=np.float64),
        "prompt_bits": np.array(instance.prompt_bits, dtype=np.float64),
        "work_flop": np.array(instance.edge_workload_flop, dtype=np.float64),
        "local_s": np.array(instance.local_delay_s, dtype=np.float64),
        "bandwidth_hz": np.array(instance.bandwidth_hz, dtype=np.float64),
        "flops": np.array(instance.server_flops, dtype=np.float64),
        "cap_flops": np.array(instance.server_cap_flops, dtype=np.float64),
        "noise_w": np.array(instance.noise_w, dtype=np.float64),
        "comm_per_load_s": np.array(instance.comm_per_load_s, dtype=np.float64),
        "alone_s": np.array(instance.alone_delay_s, dtype=np.float64),
        "full": instance.interference == "full",
        "law_table": instance.law.is_table,
    }
    for name, value in zip(("law_a", "law_b", "law_h"), instance.law_tables()):
        arrays[name] = np.array(value, dtype=np.float64)
    if tau is not None:
        arrays["forced"] = np.array(instance.alpha > check_tau(tau), dtype=bool)
    return arrays


def law_args(arrays: dict) -> tuple | None:
    """The law as the kernels pass it down to ``instances.delay_kernel.edge_delay_s``, from
    :func:`kernel_arrays`' dict: ``None`` under "ps", the tuple ``(law_a, law_b, law_h)`` under
    a table. ``None`` is a type of its own to numba: a kernel is compiled once per law kind, and
    its ``if law is not None`` branches are pruned from the "ps" code, which is then the closed
    form's alone (a tuple with a runtime flag made goa_ls's search about 4x slower)."""
    if not arrays["law_table"]:
        return None
    return arrays["law_a"], arrays["law_b"], arrays["law_h"]
