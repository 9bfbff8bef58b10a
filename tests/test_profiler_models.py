"""profiler.vocab and profiler.tiny: the word-level bAbI tokenizer and the tiny seeded Llama
checkpoints that the tests (and users without weights) load by path."""

import numpy as np
import pytest

from profiler import babi
from profiler.recipe import build_prompt
from profiler.vocab import babi_vocabulary, build_tokenizer


@pytest.fixture(scope="module")
def tokenizer():
    """The default bAbI word-level tokenizer."""
    return build_tokenizer()


def test_prompt_tokenizes_into_vocabulary_words(tokenizer):
    """Every generated prompt of every task tokenizes with no unknown word; the prompt's
    punctuation and newlines are tokens of their own and <s> comes first."""
    for q in babi.generate_questions(tasks=sorted(babi.TASK_NAMES), per_task=40, seed=1):
        ids = tokenizer(build_prompt(q))["input_ids"]
        assert ids[0] == tokenizer.bos_token_id
        assert tokenizer.unk_token_id not in ids, build_prompt(q)
    tail = tokenizer.convert_ids_to_tokens(tokenizer("Where is Mary?\nAnswer(only one word):")
                                           ["input_ids"])
    assert tail == ["<s>", "Where", "is", "Mary", "?", "\n", "Answer", "(", "only", "one", "word",
                    ")", ":"]
    assert tokenizer.convert_ids_to_tokens(tokenizer("Fred went to Mars.")["input_ids"]) == [
        "<s>", "Fred", "went", "to", "<unk>", "."]


def test_special_tokens_and_vocabulary(tokenizer):
    """The four special tokens take ids 0-3; answers exist lower-case and capitalised; a bad
    vocabulary is refused."""
    assert [tokenizer.unk_token_id, tokenizer.bos_token_id, tokenizer.eos_token_id,
            tokenizer.pad_token_id] == [0, 1, 2, 3]
    vocab = babi_vocabulary()
    assert {"kitchen", "Kitchen", "yes", "wolf", "gray", "\n", "("} <= set(vocab)
    assert len(tokenizer) == len(vocab) + 4
    with pytest.raises(ValueError, match="repeated word 'a'"):
        build_tokenizer(["a", "b", "a"])
    with pytest.raises(ValueError, match="bad word 'a b'"):
        build_tokenizer(["a b"])


def test_tiny_model_saved_and_loaded_by_path(tiny_models):
    """The saved tiny checkpoints load with the Auto classes, give the logits of a fresh build
    from the same seed, have a few thousand parameters, and differ between seeds."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from profiler.tiny import build_tiny_llama

    model = AutoModelForCausalLM.from_pretrained(tiny_models["slm"])
    tok = AutoTokenizer.from_pretrained(tiny_models["slm"])
    fresh, _ = build_tiny_llama(seed=0)
    ids = tok("Where is Mary?", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        a, b = model(ids).logits.numpy(), fresh(ids).logits.numpy()
    np.testing.assert_array_equal(a, b)
    assert 1_000 < sum(p.numel() for p in model.parameters()) < 20_000
    other, _ = build_tiny_llama(seed=1)
    with torch.no_grad():
        assert not np.allclose(other(ids).logits.numpy(), a)
    with pytest.raises(ValueError, match="seed"):
        build_tiny_llama(seed=-1)


def test_cli_tiny_writes_a_loadable_checkpoint(tmp_path, capsys):
    """``python -m profiler tiny`` saves a checkpoint the Auto classes load (the "llm" size is
    wider than the "slm" one) and refuses a folder that is not empty."""
    from transformers import AutoConfig

    from profiler.cli import main as cli_main

    out = tmp_path / "llm"
    assert cli_main(["tiny", "--out", str(out), "--seed", "3", "--size", "llm"]) == 0
    assert AutoConfig.from_pretrained(out).hidden_size == 24
    assert cli_main(["tiny", "--out", str(out)]) == 2
    assert "--out: " in capsys.readouterr().err
