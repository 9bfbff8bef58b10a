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
"""

from __future__ import annotations

import numpy as np

from instances import Instance
from instances.uncertainty import DEFAULT_SIGNAL, uncertainty

PIN_LOCAL_S = 1e6
PIN_SNR = 1e-10
PIN_PROMPT_BITS = 1.0


def snapshot(state, arrivals) -> tuple[Instance, np.ndarray]:
    """(instance, pinned servers): the live state plus ``arrivals`` as a static instance.

    The first ``len(arrivals)`` users are the arrivals; the rest are the pinned in-flight
    queries, whose servers are returned (so a full assignment is the arrivals' places followed
    by these).
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
    return inst.replace(**fields), f_server
