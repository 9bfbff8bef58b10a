"""The live state as a static instance: what a per-slot solver plans on, and what the static
model predicts for a decision.

The new queries are the first k users of the snapshot. Every offloaded query still in the
system is a further, *pinned* user: its remaining edge work is its workload, and it is made
immovable without changing any solver: its local delay is 10^6 s, its prompt is one bit, and
its channel to every ES but its own is so weak (SNR 1e-10) that an upload there would take
minutes; so any sensible plan keeps it where it is, and its presence takes its share of that
ES's compute. It transmits nothing to the other cells (its interference on them is 1e-10 of
the noise). Approximations, stated in docs/online.md: a pinned query also counts in its ES's
bandwidth split ``B_j / n_j`` (the static model splits band and compute over the same users);
an upload in progress is pinned with its whole edge work and its remaining upload is ignored;
a new query's local delay is its device's backlog at the decision plus its own run (queries of
one device decided together each see the same backlog).

The snapshot's congestion law is the server's (:func:`planning_law`): "ps" on the paper's
processor-sharing ES, "batched" on the batched ES (docs/online.md, "Planning with the batched
law"), unless the caller forces "ps".
"""

from __future__ import annotations

import numpy as np

from instances import Instance, Law
from instances.law import batched_h
from instances.uncertainty import DEFAULT_SIGNAL, uncertainty

PIN_LOCAL_S = 1e6
PIN_SNR = 1e-10
PIN_PROMPT_BITS = 1.0
#: The laws a planner may plan with: None (the server's), "ps" or "batched".
PLANNING_LAWS = (None, "ps", "batched")


def check_planning_law(law) -> str | None:
    """``law`` if it is one of :data:`PLANNING_LAWS`, else ``ValueError`` naming ``law``."""
    if law not in PLANNING_LAWS:
        raise ValueError(f"law: must be None (the server's), 'ps' or 'batched', got {law!r}")
    return law


def planning_law(state, n_users: int, law: str | None = None) -> Law:
    """The congestion law a planner of ``state`` uses on ``n_users`` users and the instance's ESs.

    ``law`` None: the server's, "batched" on a batched run (``state.server`` set), else "ps".
    "batched": ``a = 0``, ``b = 1`` and every ``h_j(n)`` =
    :func:`instances.law.batched_h` of the run's scheduler (its limits included) at the mean
    prompt tokens of the run's queries and its T, for n = 1..``n_users`` (built for this size:
    a table of another N is not sliced). "ps": the paper's.

    Raises
    ------
    ValueError
        For an unknown ``law``, or "batched" on a run without a batched server.
    """
    server = getattr(state, "server", None)
    law = check_planning_law(law)
    if law is None:
        law = "ps" if server is None else "batched"
    if law == "ps":
        return Law()
    if server is None:
        raise ValueError("law: 'batched' plans for a batched server: simulate with "
                         "server='batched'")
    h = batched_h(server.scheduler(), state.planning_prompt_tokens, server.output_tokens,
                  n_users)
    return Law("batched", h=np.tile(h, (state.instance.n_servers, 1)))


def snapshot(state, arrivals, law: str | None = None) -> tuple[Instance, np.ndarray]:
    """(instance, pinned servers): the live state plus ``arrivals`` as a static instance.

    The first ``len(arrivals)`` users are the arrivals; the rest are the pinned in-flight
    queries, whose servers are returned (so a full assignment is the arrivals' places followed
    by these). The instance's law is :func:`planning_law` of ``law`` (None: the server's).
    """
    inst, queries = state.instance, state.queries
    q = arrivals.query
    k = q.size
    f_query, f_server, f_work = state.in_flight()
    f_user = queries.user[f_query]
    users = np.concatenate([arrivals.user, f_user])
    p = f_query.size
    tx = inst.tx_power_w[users]
    local_flops = inst.local_flops[users]
    gain = inst.gain[users].copy()
    if p:
        own = inst.gain[f_user, f_server]
        gain[k:] = PIN_SNR * inst.noise_w[None, :] / tx[k:, None]
        gain[np.arange(k, k + p), f_server] = own
    width = queries.topk_probs.shape[1]
    pinned_topk = np.full((p, width), 1.0 / width)  # uniform: the most uncertain by any signal
    signal = inst.provenance.get("uncertainty", DEFAULT_SIGNAL)
    fields = dict(
        user_xy_m=inst.user_xy_m[users],
        prompt_bits=np.concatenate([arrivals.prompt_bits, np.full(p, PIN_PROMPT_BITS)]),
        tx_power_w=tx, local_flops=local_flops,
        local_workload_flop=np.concatenate([
            arrivals.local_workload_flop + state.backlog_s[arrivals.user] * local_flops[:k],
            local_flops[k:] * PIN_LOCAL_S]),
        edge_workload_flop=np.concatenate([arrivals.edge_workload_flop,
                                           np.maximum(f_work, 1.0)]),
        topk_probs=np.concatenate([queries.topk_probs[q], pinned_topk]),
        alpha=np.concatenate([arrivals.alpha, uncertainty(pinned_topk, signal)]),
        slm_correct=np.concatenate([queries.slm_correct[q], np.zeros(p)]),
        llm_correct=np.concatenate([queries.llm_correct[q], np.zeros(p)]),
        gain=gain, provenance={"snapshot_s": state.time_s, "arrivals": int(k), "pinned": int(p),
                               "uncertainty": signal})
    if queries.p_slm_correct is not None:
        fields["p_slm_correct"] = np.concatenate([queries.p_slm_correct[q], np.full(p, 0.5)])
        fields["p_llm_correct"] = np.concatenate([queries.p_llm_correct[q], np.full(p, 0.5)])
    else:
        fields["p_slm_correct"] = fields["p_llm_correct"] = None
    fields["law"] = planning_law(state, k + p, law)
    return inst.replace(**fields), f_server
