"""Realistic static instances (``instances.generate(..., costs="roofline")``): each query's
local delay is the device's ``query_s``, a query alone on an ES takes the ES's ``query_s``
under the paper's sharing law, the names are recorded and read back; the paper's default is
untouched."""

import json

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import inference
import instances
import online
from instances.cli import main as cli_main

#: A phone-class device built here (the presets are fitted elsewhere): 4 TFLOP/s fp16,
#: 60 GB/s, 8 GB, with fractions and an overhead so that every term of the roofline counts.
PHONE = inference.HardwareSpec(
    name="test-phone", peak_flops={"fp16": 4e12, "fp32": 1e12}, mem_bw_bytes_s=60e9,
    mem_bytes=8e9, eta_flops=0.5, eta_bw=0.7, overhead_s=2e-3, source="made up for a test")
OPTIONS = dict(costs="roofline", device=PHONE, edge="a100-80gb", slm="llama-3.2-1b-q4",
               llm="llama-3.1-8b")


def test_local_delay_and_alone_on_an_es_are_the_roofline_query_times():
    """t^L_i = W^L_i / C^L_i is the device's query_s(p_i, T), and user i alone on ES j
    (everyone else local: no interference) takes its upload plus the ES's query_s(p_i, T)
    under the paper's law W^E / min(C^max, C / 1), to 1e-12 relative, for T = 5 and 3."""
    for t in (5, 3):
        inst = instances.generate(12, 3, seed=4, output_tokens=t, **OPTIONS)
        tokens = inst.provenance["inference"]["prompt_tokens"]
        device = inference.Cost("llama-3.2-1b-q4", PHONE)
        edge = inference.Cost("llama-3.1-8b", "a100-80gb")
        assert_allclose(inst.local_delay_s, [device.query_s(p, t) for p in tokens], rtol=1e-12)
        for i in range(inst.n_users):
            for j in range(inst.n_servers):
                places = np.full(inst.n_users, -1)
                places[i] = j
                delay = instances.evaluate(inst, places).delay_s[i]
                assert_allclose(delay - inst.comm_per_load_s[i, j], edge.query_s(tokens[i], t),
                                rtol=1e-12)


def test_roofline_keeps_the_paper_drop_but_its_costs():
    """Positions, channels, prompts, probabilities and answers are those of the paper's drop
    with the same seed; C_j = C^max_j = the ES's achievable FLOP/s at the LLM's precision; the
    paper's default (no ``costs``, or ``costs="paper"``) is the same instance bit for bit, with
    no ``costs`` in its provenance."""
    paper = instances.generate(20, 4, seed=7)
    same = instances.generate(20, 4, seed=7, costs="paper")
    assert json.dumps(instances.io.to_dict(paper)) == json.dumps(instances.io.to_dict(same))
    assert "costs" not in paper.provenance and "inference" not in paper.provenance
    real = instances.generate(20, 4, seed=7, **OPTIONS)
    for name in ("user_xy_m", "gain", "prompt_bits", "topk_probs", "alpha", "slm_correct",
                 "llm_correct", "p_slm_correct", "p_llm_correct", "bandwidth_hz"):
        assert_array_equal(getattr(real, name), getattr(paper, name), err_msg=name)
    a100 = inference.HARDWARE["a100-80gb"]
    rate = a100.eta_flops * a100.flops("bf16")
    assert_array_equal(real.server_flops, np.full(4, rate))
    assert_array_equal(real.server_cap_flops, real.server_flops)
    assert_array_equal(real.local_flops, np.full(20, PHONE.eta_flops * PHONE.flops("fp16")))


def test_prompt_tokens_from_bytes_or_from_the_trace(tmp_path):
    """Without token counts, a query has round(prompt bytes / 4) tokens ("prompt_bytes/4");
    from a trace whose records all give one (``prompt_tokens``, or the profiler's
    ``llm_prompt_tokens``), each query has its record's count ("trace"); a trace where one
    record lacks it falls back to bytes / 4."""
    inst = instances.generate(30, 2, seed=1, **OPTIONS)
    record = inst.provenance["inference"]
    assert record["prompt_tokens_from"] == "prompt_bytes/4"
    assert_array_equal(record["prompt_tokens"], np.round(inst.prompt_bits / 8 / 4))
    lines = []
    for k in range(6):  # distinct sizes, token counts far from bytes / 4
        key = "prompt_tokens" if k % 2 else "llm_prompt_tokens"
        lines.append({"prompt_bytes": 100 + 10 * k, key: 7 + k, "topk_probs": [0.6, 0.4],
                      "slm_correct": True, "llm_correct": False, "slm_workload_flop": 1e9,
                      "llm_workload_flop": 8e9})
    trace = tmp_path / "t.jsonl"
    trace.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    inst = instances.generate(25, 2, seed=2, profile=str(trace), **OPTIONS)
    record = inst.provenance["inference"]
    assert record["prompt_tokens_from"] == "trace"
    k = (inst.prompt_bits / 8 - 100) / 10
    assert_array_equal(record["prompt_tokens"], 7 + k)
    lines[3].pop("prompt_tokens")
    trace.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    inst = instances.generate(25, 2, seed=2, profile=str(trace), **OPTIONS)
    assert inst.provenance["inference"]["prompt_tokens_from"] == "prompt_bytes/4"


def test_names_are_recorded_saved_and_read_back_by_online(tmp_path):
    """The provenance names costs, device, edge, slm, llm and T; a saved and reloaded
    instance gives online the same costs (its batched server's query_s on either side)."""
    inst = instances.generate(6, 2, seed=3, output_tokens=4, **OPTIONS)
    prov = inst.provenance
    assert prov["costs"] == "roofline"
    assert {k: prov["inference"][k] for k in ("device", "edge", "slm", "llm", "output_tokens")} \
        == {"device": "test-phone", "edge": "a100-80gb", "slm": "llama-3.2-1b-q4",
            "llm": "llama-3.1-8b", "output_tokens": 4}
    path = instances.save(inst, tmp_path / "r.json")
    back = instances.load(path)
    server = online.BatchedServer.of(back)
    assert server.output_tokens == 4
    device = inference.Cost("llama-3.2-1b-q4", PHONE)
    edge = inference.Cost("llama-3.1-8b", "a100-80gb")
    assert server.device.query_s(123, 4) == device.query_s(123, 4)
    assert server.edge.query_s(123, 4) == edge.query_s(123, 4)


def test_default_names_are_the_inference_defaults():
    """Without names, the instance uses inference's defaults (the paper's pair, the small model
    4-bit on a phone, the large one on A100 ESs)."""
    if inference.DEFAULT_DEVICE not in inference.HARDWARE:
        pytest.skip(f"the preset {inference.DEFAULT_DEVICE} is not in this branch yet")
    prov = instances.generate(4, 2, seed=0, costs="roofline").provenance["inference"]
    assert (prov["device"], prov["edge"], prov["slm"], prov["llm"]) == (
        inference.DEFAULT_DEVICE, inference.DEFAULT_EDGE, inference.DEFAULT_SLM,
        inference.DEFAULT_LLM)


@pytest.mark.parametrize("kwargs, message", [
    (dict(costs="flops"), "costs: must be one of paper, roofline"),
    (dict(device="l4"), "device: only used with costs='roofline'"),
    (dict(llm="llama-3.1-8b"), "llm: only used with costs='roofline'"),
    (dict(output_tokens=3), "output_tokens: only used with costs='roofline'"),
    (dict(OPTIONS, device="no-such-phone"), "device: hardware: unknown hardware"),
    (dict(OPTIONS, slm="no-such-model"), "slm: model: unknown model"),
    (dict(OPTIONS, output_tokens=0), "output_tokens: must be an integer >= 1"),
    (dict(OPTIONS, llm="llama-3.1-8b", edge=inference.HardwareSpec(
        name="small-gpu", peak_flops={"bf16": 1e14}, mem_bw_bytes_s=1e11, mem_bytes=4e9)),
     "edge: model: llama-3.1-8b needs"),
    (dict(OPTIONS, output_tokens=10**10), "device: a query of"),
    (dict(OPTIONS, server_flops=1e15), "server_flops: not used with costs='roofline'"),
])
def test_bad_arguments_name_the_field(kwargs, message):
    """Each bad argument raises InstanceError naming it and the problem (a name given without
    costs="roofline" too; a model or a query that does not fit names the hardware side; a
    preset value the roofline replaces is refused rather than silently ignored)."""
    with pytest.raises(instances.InstanceError) as info:
        instances.generate(3, 1, seed=0, **kwargs)
    assert str(info.value).startswith(message), str(info.value)


def test_cli_flags(tmp_path, capsys):
    """``generate --costs roofline --device ... --output-tokens 3`` writes the instance the API
    makes; a bad name exits 2 with one line naming it, and writes nothing."""
    out = tmp_path / "r.json"
    code = cli_main(["generate", "--users", "5", "--servers", "2", "--seed", "3", "--costs",
                     "roofline", "--device", "l4", "--slm", "llama-3.2-1b", "--edge", "h100-sxm",
                     "--output-tokens", "3", "--out", str(out)])
    assert code == 0
    made = instances.generate(5, 2, seed=3, costs="roofline", device="l4", slm="llama-3.2-1b",
                              edge="h100-sxm", output_tokens=3)
    assert instances.io.to_dict(instances.load(out)) == json.loads(json.dumps(
        instances.io.to_dict(made)))
    capsys.readouterr()
    bad = tmp_path / "bad.json"
    code = cli_main(["generate", "--users", "5", "--costs", "roofline", "--device", "nope",
                     "--out", str(bad)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "device:" in err
    assert not bad.exists()
