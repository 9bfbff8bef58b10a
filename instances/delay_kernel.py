"""The delay of one offloaded user (docs/model.md section 3), jitted: the one copy of the formula that
every numba kernel uses (``goa._kernels``, ``formulations.kernels``).

:func:`instances.evaluate` computes the same formula vectorised, with the same operations in the
same order, and remains the only scorer of what the project reports; the kernels' tests prove
that their totals agree with it. ``import instances`` does not import this module, so numba is
loaded only by the packages that run kernels.
"""

from __future__ import annotations

import math

from numba import njit


@njit(cache=True, inline="always", error_model="numpy")
def edge_delay_s(prompt_bits, work_flop, signal_w, noise_w, interference_w, bandwidth_hz,
                 cap_flops, flops, load, law, i, j):
    """d_i = t^comm + t^comp of user i on server j, in seconds.

    ``prompt_bits`` D_i; ``work_flop`` W^E_i; ``signal_w`` P_i g_ij; ``noise_w`` sigma_j^2;
    ``interference_w`` I_ij; ``bandwidth_hz`` B_j; ``cap_flops`` C^max_j; ``flops`` C_j;
    ``load`` n_j (the users on j, this one included; a float or an int). The rate is
    ``B_j / n_j log2(1 + SINR)``. The compute time follows the law ``law`` of
    ``instances.arrays.law_args`` at the user and server indices ``i``, ``j``: "ps" (``None``)
    divides by the share ``min(C^max_j, C_j / n_j)``; a table law, the tuple ``(law_a (N, M),
    law_b (N,), law_h (M, N))``, adds ``a_ij + b_i h_j(n_j)``.
    ``error_model="numpy"``: a zero rate gives inf, never an exception (and lets LLVM inline).
    """
    sinr = signal_w / (noise_w + interference_w)
    rate = bandwidth_hz / load * math.log2(1.0 + sinr)
    if law is not None:  # pruned when compiled for "ps" (law None)
        return prompt_bits / rate + (law[0][i, j] + law[1][i] * law[2][j, int(load) - 1])
    share = min(cap_flops, flops / load)
    return prompt_bits / rate + work_flop / share
