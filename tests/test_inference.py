"""The roofline cost of a forward pass and the batching rule (``inference``; docs/serving.md)."""

from __future__ import annotations

import json

import numpy as np
import pytest

import inference
from inference import BatchScheduler, Cost, HardwareSpec, ModelSpec, batch_makespan_s

#: A toy model and device whose pass costs are worked out by hand in the tests below.
TOY = ModelSpec(name="toy", params=1000, total_params=1200, layers=2, hidden=8, heads=2,
                kv_heads=1, head_dim=4, bytes_per_weight=2.0, kv_bytes=2.0, compute="bf16")
TOY_HW = HardwareSpec(name="toy-hw", peak_flops={"bf16": 1e6}, mem_bw_bytes_s=1e5, mem_bytes=1e6,
                      eta_flops=0.5, eta_bw=0.8, overhead_s=1e-3)


def test_published_parameter_counts():
    """The presets' parameter counts equal the published totals: Llama-3.2-1B has 1,235,814,400
    weights (tied head) and Llama-3.1-8B 8,030,261,248 (untied), as their checkpoints hold."""
    assert inference.MODELS["llama-3.2-1b"].total_params == 1_235_814_400
    assert inference.MODELS["llama-3.1-8b"].total_params == 8_030_261_248
    # the untied input embedding (128256 x 4096) is held but not streamed by a pass
    assert (inference.MODELS["llama-3.1-8b"].total_params
            - inference.MODELS["llama-3.1-8b"].params) == 128256 * 4096


def test_pass_by_hand():
    """One pass over two sequences, FLOPs, bytes and time worked out by hand."""
    cost = Cost(TOY, TOY_HW)
    seqs = [(3, 2), (1, 5)]
    # FLOPs: 2 P n + 4 L h d_h (n c + n (n + 1) / 2), 4 L h d_h = 4*2*2*4 = 64
    flops = (2000 * 3 + 64 * (3 * 2 + 6)) + (2000 * 1 + 64 * (5 + 1))
    # bytes: P b_w + 2 L h_kv d_h b_kv (c + n) = 2000 + 32 * (5 + 6)
    nbytes = 2000 + 32 * (5 + 6)
    assert cost.pass_flops(seqs) == flops
    assert cost.pass_bytes(seqs) == nbytes
    assert cost.pass_s(seqs) == pytest.approx(max(flops / 5e5, nbytes / 8e4) + 1e-3, rel=1e-12)


def test_query_is_prefill_then_decodes():
    """A query alone is one prefill pass then T - 1 decode passes with growing contexts."""
    cost = Cost(TOY, TOY_HW)
    expected = cost.pass_s([(7, 0)]) + sum(cost.pass_s([(1, 7 + t - 1)]) for t in range(1, 5))
    assert cost.query_s(7, 5) == pytest.approx(expected, rel=1e-12)
    assert cost.query_s(7, 1) == cost.prefill_s(7)


@pytest.mark.parametrize("model, hardware", [("llama-3.1-8b", "a100-80gb"),
                                             ("llama-3.1-8b", "h100-sxm"),
                                             ("llama-3.2-1b", "l4")])
def test_no_preset_beats_physics(model, hardware):
    """A decode step takes at least the weights over the bandwidth, a prefill of p tokens at
    least 2 P p over the peak FLOP/s, whatever the fitted fractions."""
    cost = Cost(model, hardware)
    for p in (1, 100, 1000, 4000):
        limits = cost.limits(p)
        assert cost.decode_step_s([p]) >= limits["decode_s"]
        assert cost.prefill_s(p) >= limits["prefill_s"]


def test_decode_memory_bound_prefill_compute_bound():
    """Llama-3.1-8B on an A100: a decode step of one sequence is memory-bound (more bytes per
    FLOP than the machine balance) and a 1,000-token prefill is compute-bound."""
    cost = Cost("llama-3.1-8b", "a100-80gb")
    hw = cost.hardware
    decode = [(1, 500)]
    assert cost.pass_bytes(decode) / (hw.eta_bw * hw.mem_bw_bytes_s) > \
        cost.pass_flops(decode) / (hw.eta_flops * hw.flops("bf16"))
    prefill = [(1000, 0)]
    assert cost.pass_flops(prefill) / (hw.eta_flops * hw.flops("bf16")) > \
        cost.pass_bytes(prefill) / (hw.eta_bw * hw.mem_bw_bytes_s)


def test_model_spec_from_config_file(tmp_path):
    """``model_spec`` reads a config.json (file or folder) and counts the same parameters as
    the preset built from the same published figures."""
    config = {"model_type": "llama", "hidden_size": 2048, "intermediate_size": 8192,
              "num_hidden_layers": 16, "num_attention_heads": 32, "num_key_value_heads": 8,
              "head_dim": 64, "vocab_size": 128256, "tie_word_embeddings": True}
    (tmp_path / "config.json").write_text(json.dumps(config))
    spec = inference.model_spec(tmp_path, dtype="bf16")
    assert spec.params == inference.MODELS["llama-3.2-1b"].params
    assert inference.model_spec(tmp_path / "config.json", "q4").bytes_per_weight == 4.5 / 8


@pytest.mark.parametrize("call, field", [
    (lambda: Cost("llama-9b", "a100-80gb"), "model"),
    (lambda: Cost("llama-3.1-8b", "tpu"), "hardware"),
    (lambda: Cost("llama-3.1-8b", HardwareSpec("small", {"bf16": 1e12}, 1e9, 4e9)), "model"),
    (lambda: Cost(TOY, TOY_HW).prefill_s(-3), "prompt_tokens"),
    (lambda: Cost(TOY, TOY_HW).query_s(10, 0), "output_tokens"),
    (lambda: Cost(TOY, TOY_HW).pass_s([(0, 3)]), "seqs[0].new_tokens"),
    (lambda: Cost(TOY, TOY_HW).pass_s([(1, -1)]), "seqs[0].cached_tokens"),
    (lambda: Cost(TOY, TOY_HW).pass_s([]), "seqs"),
    (lambda: HardwareSpec("x", {"bf16": 1e12}, 1e9, 1e9, eta_bw=1.5), "hardware.eta_bw"),
    (lambda: HardwareSpec("x", {"tf32": 1e12}, 1e9, 1e9), "hardware.peak_flops"),
    (lambda: inference.model_spec({"hidden_size": 8}), "config.num_hidden_layers"),
    (lambda: inference.model_spec({"model_type": "gpt2"}), "config.model_type"),
    (lambda: BatchScheduler(Cost(TOY, TOY_HW), max_batch=0), "max_batch"),
])
def test_errors_name_the_field(call, field):
    """Unknown names, negative counts and a model too big for the memory raise a ValueError
    that starts with the field's name."""
    with pytest.raises(ValueError, match=f"^{field.replace('[', '.').replace(']', '.')}"):
        call()


def test_hardware_file_round_trip(tmp_path):
    """A spec file written by ``save_hardware`` is accepted wherever a hardware name is."""
    path = tmp_path / "mine.json"
    inference.save_hardware(TOY_HW, path)
    assert Cost(TOY, str(path)).pass_s([(2, 0)]) == Cost(TOY, TOY_HW).pass_s([(2, 0)])
    path.write_text(json.dumps({**TOY_HW.as_dict(), "colour": "red"}))
    with pytest.raises(ValueError, match="^hardware.colour: unknown field"):
        inference.get_hardware(str(path))


def test_makespan_batch_one_is_a_queue():
    """With ``max_batch = 1`` the ES serves one query after the other: n queries take n times
    a query alone."""
    cost = Cost("llama-3.1-8b", "a100-80gb")
    scheduler = BatchScheduler(cost, max_batch=1)
    for n in (1, 2, 7):
        assert batch_makespan_s(scheduler, n, 300, 5) == pytest.approx(
            n * cost.query_s(300, 5), rel=1e-12)


def test_makespan_by_hand():
    """Three queries arriving together, max_batched_tokens 20, prompts of 8: the first prefill
    takes two (16 tokens), they decode once, then the third is prefilled alone (prefill first),
    then decodes run with the three (the first two finish after their third token) and the
    third finishes alone."""
    cost = Cost(TOY, TOY_HW)
    scheduler = BatchScheduler(cost, max_batch=8, max_batched_tokens=20)
    expected = (cost.pass_s([(8, 0), (8, 0)])            # A, B prefilled: 1 token each
                + cost.pass_s([(8, 0)])                  # C prefilled (prefill first)
                + cost.pass_s([(1, 8), (1, 8), (1, 8)])  # A, B 2 tokens; C 2
                + cost.pass_s([(1, 9), (1, 9), (1, 9)])) # all 3 tokens: done
    assert batch_makespan_s(scheduler, 3, 8, 3) == pytest.approx(expected, rel=1e-12)


def test_makespan_grows_slowly_while_memory_bound():
    """Batching: 32 short queries on an A100 finish in far less than 32 times one, and the
    makespan never decreases with n (the law the static problem needs)."""
    scheduler = BatchScheduler(Cost("llama-3.1-8b", "a100-80gb"))
    spans = np.array([batch_makespan_s(scheduler, n, 200, 5) for n in range(1, 65)])
    assert np.all(np.diff(spans) >= 0)
    assert spans[31] < 32 * spans[0] / 3
    cost = scheduler.cost
    assert cost.decode_step_s([205] * 32) < 1.1 * cost.decode_step_s([205])


def test_kv_admission_limits_the_batch():
    """Admission stops when the KV cache of the running and admitted queries at their final
    length would exceed the memory: a cache for exactly two queries runs them two by two."""
    cost = Cost(TOY, TOY_HW)
    per_query = 10 * TOY.kv_bytes_per_token
    two = BatchScheduler(cost, kv_bytes=2 * per_query)
    queue = BatchScheduler(cost, max_batch=2)
    assert batch_makespan_s(two, 4, 8, 2) == pytest.approx(batch_makespan_s(queue, 4, 8, 2))
    with pytest.raises(ValueError, match="^prompt_tokens"):
        batch_makespan_s(BatchScheduler(cost, kv_bytes=per_query / 2), 1, 8, 2)
