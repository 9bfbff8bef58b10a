"""The one evaluator: delay and accuracy of an assignment (docs/model.md sections 2 and 3).

Every delay and accuracy that the project reports comes from :func:`evaluate`. Fast kernels
elsewhere may specialise these formulas, and their tests prove that they agree with this one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .instance import Instance, check_tau


@dataclass(frozen=True, eq=False)
class Evaluation:
    """Delays and accuracy of one assignment of one instance.

    Per-user arrays (length N, seconds): ``delay_s`` (d_i), ``local_s`` (t^L_i for local users,
    else 0), ``comm_s`` and ``comp_s`` (0 for local users), ``rate_bps`` (0 for local users).
    ``loads`` holds n_j, the users on each server. ``accuracy_pct`` is the realized accuracy
    (mean of slm_correct / llm_correct over the chosen side), ``expected_accuracy_pct`` the
    expected one (mean of p_slm_correct / p_llm_correct, docs/model.md section 8.1; ``None``
    when the instance lacks the probabilities). ``feasible`` and ``violators`` (users with
    alpha_i > tau left local) are ``None`` unless a ``tau`` was given.
    """

    assignment: np.ndarray
    delay_s: np.ndarray
    local_s: np.ndarray
    comm_s: np.ndarray
    comp_s: np.ndarray
    rate_bps: np.ndarray
    loads: np.ndarray
    accuracy_pct: float
    tau: float | None = None
    feasible: bool | None = None
    violators: np.ndarray | None = None
    expected_accuracy_pct: float | None = None

    @property
    def total_delay_ms(self) -> float:
        """T(a) = sum_i d_i, in milliseconds."""
        return float(self.delay_s.sum() * 1e3)

    @property
    def mean_delay_ms(self) -> float:
        """T(a) / N, in milliseconds."""
        return float(self.delay_s.mean() * 1e3)

    @property
    def total_local_ms(self) -> float:
        """Sum of the local delays of the users that run locally, in milliseconds."""
        return float(self.local_s.sum() * 1e3)

    @property
    def total_comm_ms(self) -> float:
        """Sum of the communication delays of the offloaded users, in milliseconds."""
        return float(self.comm_s.sum() * 1e3)

    @property
    def total_comp_ms(self) -> float:
        """Sum of the edge computation delays of the offloaded users, in milliseconds."""
        return float(self.comp_s.sum() * 1e3)

    @property
    def n_offloaded(self) -> int:
        """The number of users offloaded to some server."""
        return int(np.count_nonzero(self.assignment >= 0))


def check_assignment(instance: Instance, assignment) -> np.ndarray:
    """Return ``assignment`` as a read-only int64 vector, or raise a ``ValueError`` naming it."""
    try:
        raw = np.asarray(assignment)
    except Exception:  # noqa: BLE001 - anything numpy cannot read is a bad assignment
        raise ValueError("assignment: must be a vector of integers") from None
    if raw.ndim != 1 or raw.size != instance.n_users:
        raise ValueError(
            f"assignment: must be a vector of length N = {instance.n_users}, got shape {raw.shape}")
    if raw.dtype.kind == "f":
        if not np.all(np.isfinite(raw)) or np.any(raw != np.round(raw)):
            raise ValueError("assignment: entries must be integers (-1 local, else a server index)")
    elif raw.dtype.kind not in "iu":
        raise ValueError(f"assignment: entries must be integers, got dtype {raw.dtype}")
    vector = raw.astype(np.int64)
    bad = np.flatnonzero((vector < -1) | (vector >= instance.n_servers))
    if bad.size:
        i = int(bad[0])
        raise ValueError(
            f"assignment: entry {i} is {vector[i]}, outside -1..{instance.n_servers - 1} "
            f"(-1 local, else a server index)")
    vector.setflags(write=False)
    return vector


def evaluate(instance: Instance, assignment, tau: float | None = None) -> Evaluation:
    """Evaluate an assignment under the instance's interference model and congestion law
    (docs/model.md section 3 and "Congestion laws").

    Parameters
    ----------
    instance
        The instance.
    assignment
        Integer vector of length N: ``-1`` runs user i locally, ``j`` offloads it to server j.
    tau
        If given, the accuracy guard alpha_i > tau => offloaded is checked (``feasible``,
        ``violators``).

    Returns
    -------
    Evaluation

    Raises
    ------
    ValueError
        If the assignment has the wrong length, a non-integer entry or an out-of-range index,
        or tau is outside [0, 1].
    """
    a = check_assignment(instance, assignment)
    tau = None if tau is None else check_tau(tau)
    n, m = instance.n_users, instance.n_servers
    off = a >= 0
    users = np.flatnonzero(off)
    servers = a[off]
    loads = np.bincount(servers, minlength=m).astype(np.int64)

    p_own = instance.tx_power_w[users] * instance.gain[users, servers]
    if instance.interference == "full":
        # received[j', j] = power received at server j from the users of cell j'
        received = np.zeros((m, m))
        np.add.at(received, servers, instance.tx_power_w[users, None] * instance.gain[users])
        np.fill_diagonal(received, 0.0)
        interference = received.sum(axis=0)[servers]
    else:
        interference = np.zeros(users.size)
    sinr = p_own / (instance.noise_w[servers] + interference)
    n_j = loads[servers].astype(np.float64)
    rate = instance.bandwidth_hz[servers] / n_j * np.log2(1.0 + sinr)

    local_s = np.where(off, 0.0, instance.local_delay_s)
    comm_s = np.zeros(n)
    comp_s = np.zeros(n)
    rate_bps = np.zeros(n)
    comm_s[users] = instance.prompt_bits[users] / rate
    comp_s[users] = instance.compute_s(users, servers, loads[servers])  # the instance's law
    rate_bps[users] = rate
    delay_s = local_s + comm_s + comp_s
    accuracy = np.where(off, instance.llm_correct, instance.slm_correct)
    expected = None
    if instance.has_expected_accuracy:
        expected = float(np.where(off, instance.p_llm_correct, instance.p_slm_correct).mean()
                         * 100.0)

    feasible = violators = None
    if tau is not None:
        violators = np.flatnonzero((instance.alpha > tau) & ~off)
        feasible = violators.size == 0
    for array in (delay_s, local_s, comm_s, comp_s, rate_bps, loads):
        array.setflags(write=False)
    return Evaluation(
        assignment=a, delay_s=delay_s, local_s=local_s, comm_s=comm_s, comp_s=comp_s,
        rate_bps=rate_bps, loads=loads, accuracy_pct=float(accuracy.mean() * 100.0),
        tau=tau, feasible=feasible, violators=violators, expected_accuracy_pct=expected)
