"""profiler.train: a miniature configuration trained for a few steps (the real pair is a
benchmark, not a test): determinism, save and load through HFRunner, the schedule, the
curriculum and the loss mask."""

import json
from dataclasses import replace

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from profiler import babi
from profiler.train import SIZES, TrainConfig, _batch, _Encoded, _lr_factor, _story_limit, \
    save, size_config, train

MINI = TrainConfig(model={"hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1,
                          "num_attention_heads": 2, "num_key_value_heads": 2},
                   steps=6, batch_size=4, warmup_steps=2, tasks=(1, 6), pool_per_task=12,
                   eval_per_task=4, eval_every=3, max_position_embeddings=256)


@pytest.fixture(scope="module")
def mini_pair():
    """The miniature model trained twice with seed 0 and once with seed 1."""
    import torch

    torch.set_num_threads(1)
    return train(MINI, seed=0, progress=False), train(MINI, seed=0, progress=False), \
        train(MINI, seed=1, progress=False)


def _weights(result):
    return {k: v.detach().numpy().copy() for k, v in result.model.state_dict().items()}


def test_same_seed_same_weights(mini_pair):
    """Two runs with the same seed give the same weights bit for bit and the same history; a
    different seed gives different weights."""
    a, b, c = mini_pair
    wa, wb, wc = _weights(a), _weights(b), _weights(c)
    for key in wa:
        assert_array_equal(wa[key], wb[key], err_msg=key)
    timing = ("elapsed_s", "cpu_s")
    assert [{k: v for k, v in h.items() if k not in timing} for h in a.history] == \
        [{k: v for k, v in h.items() if k not in timing} for h in b.history]
    assert any(not np.array_equal(wa[k], wc[k]) for k in wa)
    assert [h["step"] for h in a.history] == [3, 6]
    assert 0.0 <= a.heldout_accuracy <= 1.0


def test_saved_model_loads_in_hfrunner(mini_pair, tmp_path):
    """save() writes a save_pretrained folder with training.json; HFRunner loads it by path and
    its first-token distribution equals the in-memory model's."""
    import torch

    from profiler import HFRunner

    result = mini_pair[0]
    out = save(result, tmp_path / "slm")
    record = json.loads((out / "training.json").read_text())
    assert record["seed"] == 0 and record["config"]["steps"] == 6
    runner = HFRunner(out)
    assert runner.parameters == result.parameters
    question = babi.generate_questions((1,), 1, seed=3)[0]
    from profiler.recipe import build_prompt

    prompt = build_prompt(question)
    ids = result.tokenizer(prompt, return_tensors="pt")
    with torch.inference_mode():
        expected = torch.softmax(result.model(**ids).logits[0, -1], -1).numpy()
    np.testing.assert_allclose(runner.first_token_distribution(prompt).numpy(), expected,
                               rtol=0, atol=1e-6)
    rec = runner.answer(question)
    assert len(rec.topk_probs) == runner.top_k
    assert not list(tmp_path.glob(".slm-*"))  # no staging folder left


def test_schedule_and_curriculum():
    """Warm-up rises linearly to the peak, the cosine ends at min_lr_ratio; the story limit
    grows from curriculum_start to the longest story over the curriculum's steps."""
    cfg = replace(MINI, steps=110, warmup_steps=10, min_lr_ratio=0.1, curriculum=0.5,
                  curriculum_start=2)
    assert _lr_factor(0, cfg) == pytest.approx(0.1)
    assert _lr_factor(9, cfg) == pytest.approx(1.0)
    assert _lr_factor(10, cfg) == pytest.approx(1.0)
    assert _lr_factor(60, cfg) == pytest.approx(0.1 + 0.9 * 0.5)
    assert _lr_factor(110, cfg) == pytest.approx(0.1)
    assert _story_limit(0, cfg, 12) == 2
    assert _story_limit(55 // 2, cfg, 12) == 2 + int(10 * 27 / 55)
    assert _story_limit(55, cfg, 12) == 12
    assert _story_limit(0, replace(cfg, curriculum=0.0), 12) == 12


def test_loss_mask():
    """Loss 'answer' labels only the answer and the </s> after it; loss 'all' labels every
    token after <s>; padding is never labelled."""
    from profiler.vocab import build_tokenizer

    tok = build_tokenizer()
    data = _Encoded(babi.generate_questions((1, 15), 1, seed=0), tok)
    ids, mask, labels = _batch(data, [0, 1], tok.pad_token_id, tok.eos_token_id, "answer")
    for i in range(2):
        n = int(mask[i].sum())
        assert ids[i, n - 2] == data.answers[i] and ids[i, n - 1] == tok.eos_token_id
        assert_array_equal(np.flatnonzero(labels[i].numpy() != -100), [n - 2, n - 1])
    _, mask, labels = _batch(data, [0, 1], tok.pad_token_id, tok.eos_token_id, "all")
    for i in range(2):
        n = int(mask[i].sum())
        assert_array_equal(np.flatnonzero(labels[i].numpy() != -100), np.arange(1, n))


def test_bad_configuration(capsys):
    """A bad size, field or value is a ValueError naming it; the CLI answers with one line and
    exit code 2."""
    from profiler.cli import main

    with pytest.raises(ValueError, match="size: must be one of small, large"):
        size_config("huge")
    with pytest.raises(ValueError, match="stepz: not a training option"):
        size_config("small", stepz=3)
    with pytest.raises(ValueError, match="eval_seed: must differ"):
        replace(MINI, eval_seed=MINI.train_seed).check()
    with pytest.raises(ValueError, match="loss"):
        replace(MINI, loss="some").check()
    with pytest.raises(ValueError, match="seed"):
        train(MINI, seed=-1, progress=False)
    assert main(["train", "--size", "small", "--steps", "0", "--out", "never"]) == 2
    assert "--steps: must be at least 1" in capsys.readouterr().err
    assert set(SIZES) == {"small", "large"}
