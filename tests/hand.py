"""Hand-built tiny instances whose delays are worked out by hand in the tests."""

from instances import Instance


def hand_instance(interference="full", **changes):
    """2 users, 2 servers, numbers chosen so every delay is easy to compute by hand.

    P = 1 W, B = 1 MHz, N0 = 1e-15 W/Hz (noise 1e-9 W per band). Gains: user 0 sees 9e-9 at
    ES 0 and 1e-9 at ES 1; user 1 sees 2e-9 at ES 0 and 14e-9 at ES 1. Prompts 1000 B and
    1500 B (8000 and 12000 bits). W^E = 1e12 and 2e12 FLOP; C_j = 1e14, C^max_j = 5e13 FLOP/s.
    W^L = 1e12 FLOP and C^L = 5e13 FLOP/s (20 ms local) for both.
    """
    fields = dict(
        user_xy_m=[[0.0, 0.0], [10.0, 0.0]],
        prompt_bits=[8000.0, 12000.0],
        tx_power_w=[1.0, 1.0],
        local_flops=[5e13, 5e13],
        local_workload_flop=[1e12, 1e12],
        edge_workload_flop=[1e12, 2e12],
        topk_probs=[[0.6, 0.3, 0.1], [0.5, 0.45, 0.05]],
        alpha=[0.7, 0.95],
        slm_correct=[1.0, 0.0],
        llm_correct=[0.0, 1.0],
        server_xy_m=[[0.0, 5.0], [10.0, 5.0]],
        bandwidth_hz=[1e6, 1e6],
        server_flops=[1e14, 1e14],
        server_cap_flops=[5e13, 5e13],
        gain=[[9e-9, 1e-9], [2e-9, 14e-9]],
        noise_psd_w_hz=1e-15,
        interference=interference,
        provenance={"preset": "hand", "seed": None, "profile": "hand"},
    )
    fields.update(changes)
    return Instance(**fields)
